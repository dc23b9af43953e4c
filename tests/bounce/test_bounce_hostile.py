"""Bad input: each file is skipped or reported with a one-line problem naming it, the rest
goes on, nothing crashes, and nothing huge is held in memory."""

from __future__ import annotations

import base64
import io
import os
import tracemalloc
from pathlib import Path

from console.bounce import analyse_bytes, analyse_paths
from console.bounce.reader import MAX_MESSAGE_BYTES

CORPUS = Path(__file__).parent / "corpus"
SMALL = (CORPUS / "postfix-user-unknown.eml").read_bytes()


def _bounce_with_attachment(size: int) -> bytes:
    """A Postfix-like DSN whose returned message carries a `size`-byte base64 attachment."""
    head = SMALL.split(b"--4F2A81C0D2.1795140598/mail.shop.example.com--")[0]
    chunk = base64.encodebytes(os.urandom(57 * 1000))  # 1000 lines of 76 characters
    parts = [
        head,
        b"--4F2A81C0D2.1795140598/mail.shop.example.com\n",
        b"Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n",
    ]
    written = 0
    while written < size:
        parts.append(chunk)
        written += len(chunk)
    parts.append(b"\n--4F2A81C0D2.1795140598/mail.shop.example.com--\n")
    return b"".join(parts)


def test_a_50_mb_attachment_is_not_read_whole(tmp_path: Path) -> None:
    big = tmp_path / "big.eml"
    big.write_bytes(_bounce_with_attachment(50 * 1024 * 1024))
    normal = tmp_path / "normal.eml"
    normal.write_bytes(SMALL)
    tracemalloc.start()
    try:
        results = list(analyse_paths([big, normal]))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * MAX_MESSAGE_BYTES  # a cap of 1 MiB, parsed: never the 50 MB
    first, second = results
    assert first.recipients[0].reason == "user-unknown"  # the DSN comes before the attachment
    assert first.problem is not None
    assert str(big) in first.problem
    assert "MiB" in first.problem
    assert second.recipients[0].recipient == "bob@example.org"
    assert second.problem is None


def test_a_huge_mbox_entry_does_not_hide_the_next_one(tmp_path: Path) -> None:
    mbox = tmp_path / "big.mbox"
    with mbox.open("wb") as handle:
        handle.write(b"From MAILER-DAEMON Fri Nov 27 02:09:58 2026\n")
        handle.write(_bounce_with_attachment(5 * 1024 * 1024))
        handle.write(b"\nFrom MAILER-DAEMON Fri Nov 27 02:09:59 2026\n")
        # One 3 MB line without a newline: read in pieces, never as one line.
        handle.write(b"X-Junk: " + b"A" * (3 * 1024 * 1024) + b"\n")
        handle.write(b"\nFrom MAILER-DAEMON Fri Nov 27 02:10:00 2026\n")
        handle.write(SMALL)
    results = list(analyse_paths([mbox]))
    assert [r.file.rpartition("#")[2] for r in results] == ["1", "2", "3"]
    assert results[0].recipients[0].reason == "user-unknown"
    assert results[0].problem is not None
    assert results[2].recipients[0].recipient == "bob@example.org"


def test_unreadable_and_empty_inputs_are_named_and_the_rest_goes_on(tmp_path: Path) -> None:
    empty = tmp_path / "empty.eml"
    empty.write_bytes(b"")
    junk = tmp_path / "junk.bin"
    junk.write_bytes(os.urandom(4096))
    empty_dir = tmp_path / "nothing"
    empty_dir.mkdir()
    missing = tmp_path / "missing.eml"
    results = list(
        analyse_paths([missing, empty, junk, empty_dir, CORPUS / "qmail-user-unknown.eml"])
    )
    problems = [r.problem or "" for r in results]
    assert str(missing) in problems[0]
    assert results[0].kind == "error"
    assert str(empty) in problems[1]
    assert results[1].kind == "error"
    assert results[2].kind == "unknown"
    assert str(junk) in problems[2]
    assert str(empty_dir) in problems[3]
    assert results[4].recipients[0].reason == "user-unknown"
    assert all("\n" not in p for p in problems)


def test_non_utf8_bytes_become_text_not_errors() -> None:
    (result,) = analyse_bytes((CORPUS / "hostile-non-utf8.eml").read_bytes())
    recipient = result.recipients[0]
    # Not UTF-8: read as Latin-1 (the usual legacy charset), never as surrogates.
    assert recipient.diagnostic == "550 5.1.1 Benutzer unbekannt äöü ÿ"
    assert result.subject is not None
    result.subject.encode("utf-8")  # no lone surrogates left anywhere


def test_truncated_mime_still_yields_what_was_there() -> None:
    data = (CORPUS / "postfix-gmail-5.7.26-dmarc.eml").read_bytes()
    for cut in (200, 900, 1400, 1900, 2400, len(data) - 50):
        for result in analyse_bytes(data[:cut]):
            assert result.kind != "error"
    (late,) = analyse_bytes(data[:1900])
    assert late.recipients
    assert late.recipients[0].recipient == "alice@gmail-recipients.test"


def test_markup_and_escape_sequences_stay_literal_in_results_and_are_escaped_on_screen() -> None:
    import argparse

    from console.bounce import command

    (result,) = analyse_bytes((CORPUS / "hostile-markup.eml").read_bytes())
    diagnostic = result.recipients[0].diagnostic
    assert "[bold red]" in diagnostic
    assert "\x1b[31m" in diagnostic
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    out = io.StringIO()
    command.run(parser.parse_args([str(CORPUS / "hostile-markup.eml")]), out)
    text = out.getvalue()
    assert "\x1b" not in text
    assert "\u202e" not in text
    assert "\x07" not in text
    assert "\\x1b[" in text
    assert "\\x07" in text
    assert "\\u202e" in text
    assert "[bold red]blocked[/]" in text  # shown as typed, not interpreted as markup


def test_raw_message_reads_back_what_a_label_names() -> None:
    from console.bounce.reader import raw_message

    mbox = CORPUS / "campaign.mbox"
    second = raw_message(f"{mbox}#2")
    assert second is not None
    assert b"karl@example.net" in second
    assert not second.startswith(b"From ")
    assert raw_message(f"{mbox}#9") is None
    assert (
        raw_message(str(CORPUS / "qmail-user-unknown.eml"))
        == (CORPUS / "qmail-user-unknown.eml").read_bytes()
    )
    assert raw_message("-") is None
    assert raw_message(str(CORPUS / "missing.eml")) is None
