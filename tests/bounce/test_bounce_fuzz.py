"""The reader under hostile and mangled input: nothing raises, hangs or grows unbounded.

Corpus files are mutated the ways real mail gets mangled (cut short by a full disk,
bit-flipped, headers duplicated by a broken relay, a runaway header line, CRLF/LF mixed
by an editor), and the pathological shapes are built on purpose: a multipart nested
2,000 deep (the stdlib parser recurses per level), a DSN with 10,000 recipients (larger
than the 1 MiB cap), a pasted line of megabytes without an "@" (a regex that rescans from
every offset is quadratic on it), an mbox with `>From ` quoting, a Dovecot maildir.
"""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console.bounce import REASONS, analyse_bytes, analyse_paths
from console.bounce.parse import DIAG_CAP, MAX_MULTIPARTS, limit_nesting
from console.bounce.reader import MAX_MESSAGE_BYTES, MAX_PASTED_BYTES

CORPUS = Path(__file__).parent / "corpus"
FILES = sorted(
    p for p in CORPUS.rglob("*") if p.is_file() and "tmp" not in p.relative_to(CORPUS).parts
)
SAMPLES = {p.name: p.read_bytes() for p in FILES}

_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _check(data: bytes) -> None:
    """Every result is well formed: no catch-all error, JSON-safe, reasons from design.md."""
    for result in analyse_bytes(data, "fuzz"):
        assert result.kind != "error", result.problem
        json.dumps(result.to_dict(), ensure_ascii=False).encode("utf-8")
        for recipient in result.recipients:
            assert recipient.reason in REASONS
            assert len(recipient.diagnostic) <= DIAG_CAP
            assert "\n" not in recipient.diagnostic


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = draw(st.sampled_from(sorted(SAMPLES)))
    data = SAMPLES[data]
    how = draw(st.sampled_from(["cut", "flip", "dup-headers", "long-header", "crlf", "splice"]))
    at = draw(st.integers(min_value=0, max_value=max(len(data) - 1, 0)))
    if how == "cut":
        return data[:at]
    if how == "flip":
        value = draw(st.integers(min_value=0, max_value=255))
        return data[:at] + bytes([value]) + data[at + 1 :]
    if how == "dup-headers":
        head, sep, body = data.partition(b"\n\n")
        return head + b"\n" + head + sep + body
    if how == "long-header":
        return b"X-Long: " + b"A" * draw(st.integers(1000, 200_000)) + b"\n" + data
    if how == "crlf":
        return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    junk = draw(st.binary(max_size=200))
    return data[:at] + junk + data[at:]


@_SETTINGS
@given(mutated())
def test_mutated_corpus_files_never_break_the_reader(data: bytes) -> None:
    _check(data)


def test_every_corpus_file_reads_the_same_with_crlf_and_lf() -> None:
    for name, data in SAMPLES.items():
        if name.endswith(".mbox"):
            continue
        lf = analyse_bytes(data.replace(b"\r\n", b"\n"), name)
        crlf = analyse_bytes(data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"), name)
        assert [
            (r.kind, [(x.recipient, x.status, x.reason) for x in r.recipients]) for r in lf
        ] == [(r.kind, [(x.recipient, x.status, x.reason) for x in r.recipients]) for r in crlf], (
            name
        )


def _nested(depth: int) -> bytes:
    head = b"From: MAILER-DAEMON@example.com\nSubject: Undelivered Mail Returned to Sender\n"
    opening = b"".join(
        b"Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n" % (i, i) for i in range(depth)
    )
    closing = b"".join(b"--b%d--\n" % i for i in reversed(range(depth)))
    return head + opening + b"Content-Type: text/plain\n\nhello\n" + closing


def test_a_multipart_nested_2000_deep_is_cut_not_a_recursion_error() -> None:
    data = _nested(2000)
    assert len(limit_nesting(data)) < len(data)
    (result,) = analyse_bytes(data)
    assert result.kind != "error", result.problem  # was RecursionError after ~9 s
    shallow = _nested(MAX_MULTIPARTS)
    assert limit_nesting(shallow) == shallow  # ordinary messages are never cut


def _dsn(recipients: int) -> bytes:
    blocks = b"".join(
        b"Final-Recipient: rfc822; user%d@example.org\nAction: failed\nStatus: 5.1.1\n"
        b"Diagnostic-Code: smtp; 550 5.1.1 User unknown\n\n" % i
        for i in range(recipients)
    )
    return (
        b"From: MAILER-DAEMON@mail.shop.example.com\nSubject: Undelivered Mail Returned to "
        b"Sender\nMIME-Version: 1.0\nContent-Type: multipart/report; "
        b"report-type=delivery-status; boundary=x\n\n--x\nContent-Type: text/plain\n\n"
        b"failed\n--x\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; "
        b"mail.shop.example.com\n\n" + blocks + b"--x--\n"
    )


def test_a_dsn_with_10000_recipients_is_read_up_to_the_cap_and_says_so() -> None:
    data = _dsn(10_000)
    assert len(data) > MAX_MESSAGE_BYTES
    (result,) = analyse_bytes(data, "big.eml")
    assert result.kind == "bounce"
    assert 1000 < len(result.recipients) < 10_000  # what fits in 1 MiB, no more
    # All but the last, which the cap may cut mid-block.
    assert all(r.reason == "user-unknown" for r in result.recipients[:-1])
    assert result.problem is not None
    assert "big.eml" in result.problem


def test_a_long_pasted_line_without_an_at_sign_is_linear() -> None:
    # 200,000 characters: the quadratic address regex took minutes on this.
    (result,) = analyse_bytes(b"550 5.1.1 " + b"x" * 200_000, "paste")
    assert result.recipients[0].status == "5.1.1"
    assert result.recipients[0].recipient == ""


def test_the_8_mib_paste_cap_bounds_memory() -> None:
    data = b"550-5.7.26 This mail has been blocked because the sender is unauthenticated.\n" * (
        (MAX_PASTED_BYTES + 4096) // 77
    )
    tracemalloc.start()
    try:
        results = analyse_bytes(data, "paste")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert results[0].problem is not None  # over the cap: said
    assert peak < 4 * MAX_PASTED_BYTES  # was 10x (a list of every line, every line kept)
    assert len(results[0].recipients[0].diagnostic) <= DIAG_CAP


def test_mbox_from_quoting_and_crlf(tmp_path: Path) -> None:
    one = SAMPLES["postfix-user-unknown.eml"].replace(
        b"This is the mail system", b">From here on: this is the mail system", 1
    )
    two = SAMPLES["qmail-over-quota.eml"]
    mbox = tmp_path / "bounces.mbox"
    text = b"From MAILER-DAEMON Fri Nov 27 02:09:58 2026\n" + one + b"\n"
    text += b"From MAILER-DAEMON Fri Nov 27 02:09:59 2026\n" + two + b"\n"
    mbox.write_bytes(text.replace(b"\n", b"\r\n"))
    first, second = analyse_paths([mbox])
    assert first.file.endswith("#1")
    assert second.file.endswith("#2")
    assert first.recipients[0].recipient == "bob@example.org"
    assert second.recipients[0].reason == "mailbox-full"


def test_a_dovecot_maildir_reads_cur_new_and_subfolders_but_not_tmp_or_indexes(
    tmp_path: Path,
) -> None:
    root = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp", ".Bounces/cur", ".Bounces/new", ".Bounces/tmp"):
        (root / sub).mkdir(parents=True)
    (root / "dovecot.index.log").write_bytes(b"\x01\x02 binary index")
    (root / "subscriptions").write_bytes(b"Bounces\n")
    (root / "cur" / "1.M1P1.host:2,S").write_bytes(SAMPLES["postfix-user-unknown.eml"])
    (root / "new" / "2.M2P1.host").write_bytes(SAMPLES["qmail-over-quota.eml"])
    (root / "tmp" / "3.M3P1.host").write_bytes(SAMPLES["exim-user-unknown.eml"])
    (root / ".Bounces" / "cur" / "4.M4P1.host:2,").write_bytes(SAMPLES["postfix-spamhaus.eml"])
    (root / ".Bounces" / "tmp" / "5.M5P1.host").write_bytes(SAMPLES["exim-spamcop.eml"])
    results = list(analyse_paths([root]))
    read = sorted(Path(r.file).relative_to(root).as_posix() for r in results)
    assert read == [".Bounces/cur/4.M4P1.host:2,", "cur/1.M1P1.host:2,S", "new/2.M2P1.host"]
    assert all(r.kind == "bounce" for r in results)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "bounce",
                    "bouncedRecipients",
                    "emailAddress",
                    "diagnosticCode",
                    "status",
                    "bounceSubType",
                    "bounceType",
                    "notificationType",
                    "eventType",
                    "Message",
                    "action",
                    "remoteMtaIp",
                    "reportingMTA",
                    "timestamp",
                ]
            ),
            inner,
            max_size=6,
        )
    ),
    max_leaves=20,
)


@_SETTINGS
@given(_JSON)
def test_ses_shaped_json_never_breaks_the_reader(value: object) -> None:
    import json as _json

    wrapped = {"notificationType": "Bounce", "bounce": value}
    _check(_json.dumps(wrapped).encode())
    _check(_json.dumps({"Message": _json.dumps(wrapped)}).encode())
    _check(_json.dumps([wrapped, value]).encode())
