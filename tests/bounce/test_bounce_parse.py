"""The parsers on their own: status and reply-code extraction, unfolding, DSN fields,
pasted replies; and property tests (arbitrary bytes never raise, codes round-trip)."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console.bounce import analyse_bytes
from console.bounce.classify import classify, detect_provider, provider_for_host
from console.bounce.parse import (
    extract_reply_code,
    extract_status,
    looks_like_message,
    parse_dsn_text,
    parse_message,
    parse_pasted,
    unfold_reply,
)

# -- status and reply codes --------------------------------------------------------------------


def test_status_is_not_taken_from_an_ip_or_a_version() -> None:
    assert extract_status("host [10.4.5.6] said: nothing") is None
    assert extract_status("Postfix 3.5.2 here") is None
    assert extract_status("relay 198.51.100.4 said 550 5.1.1 no") == "5.1.1"
    assert extract_status("#5.1.1 smtp;550") == "5.1.1"


def test_paired_status_wins_over_a_lone_triple() -> None:
    assert extract_status("code 2.0.0 seen; 550 5.7.26 blocked") == "5.7.26"


def test_reply_code_positions() -> None:
    assert extract_reply_code("550 5.1.1 <a@example.org>: no") == 550
    assert extract_reply_code("host mx[192.0.2.1] said: 554 Service unavailable") == 554
    assert extract_reply_code("Remote Server returned '550 5.1.10 RESOLVER'") == 550
    assert extract_reply_code("order 5505 in 2026") is None
    assert extract_reply_code("at [192.0.2.250] nothing") is None


def test_unfold_multi_line_reply() -> None:
    text = "421-4.7.28 Gmail has detected\n421-4.7.28 an unusual rate\n421 4.7.28 of mail - gsmtp"
    assert unfold_reply(text) == "421 4.7.28 Gmail has detected an unusual rate of mail - gsmtp"


def test_unfold_drops_repeated_marks_in_a_joined_reply() -> None:
    text = "550-5.7.26 first part 550-5.7.26 second part 550 5.7.26 end"
    assert unfold_reply(text) == "550 5.7.26 first part second part end"


def test_dsn_text_blocks_and_continuations() -> None:
    blocks = parse_dsn_text(
        "Reporting-MTA: dns; mx.example.com\n\nFinal-Recipient: rfc822; a@example.org\n"
        "Action: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1\n  user unknown\n"
    )
    assert blocks[0] == {"reporting-mta": "dns; mx.example.com"}
    assert blocks[1]["diagnostic-code"] == "smtp; 550 5.1.1 user unknown"


def test_global_delivery_status_is_read_as_text() -> None:
    message = (
        b"From: MAILER-DAEMON@example.com\r\nSubject: Undeliverable\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=global-delivery-status; boundary="b"\r\n'
        b"\r\n--b\r\nContent-Type: text/plain\r\n\r\nfailed\r\n"
        b"--b\r\nContent-Type: message/global-delivery-status\r\n\r\n"
        b"Reporting-MTA: dns; mx.example.com\r\n\r\n"
        b"Final-Recipient: utf-8; j\xc3\xb6rg@example.de\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        b"Diagnostic-Code: smtp; 550 5.1.1 unknown\r\n\r\n--b--\r\n"
    )
    parsed = parse_message(message)
    assert [e.recipient for e in parsed.entries] == ["jörg@example.de"]
    assert parsed.entries[0].status == "5.1.1"


def test_pasted_log_line_takes_recipient_host_and_deferral() -> None:
    line = (
        "postfix/smtp[1]: 4F: to=<a@example.org>, relay=mx.example.org[192.0.2.1]:25, "
        "status=deferred (host mx.example.org[192.0.2.1] said: 450 4.2.0 try later)"
    )
    (reply,) = parse_pasted(line)
    assert reply.entry.recipient == "a@example.org"
    assert reply.entry.remote_mta == "mx.example.org"
    assert reply.entry.action == "delayed"
    assert reply.entry.diagnostic.startswith("450 4.2.0")


def test_pasted_rcpt_to_line_names_the_next_reply() -> None:
    replies = parse_pasted(">>> RCPT TO:<z@example.net>\n<<< 550 5.1.1 unknown user\n")
    assert [r.entry.recipient for r in replies] == ["z@example.net"]


def test_looks_like_message() -> None:
    assert looks_like_message(b"Return-Path: <>\r\nFrom: x\r\n\r\nbody")
    assert looks_like_message(b"From MAILER-DAEMON Fri Nov 27\n")
    assert not looks_like_message(b"550-5.7.26 blocked\n550 5.7.26 end\n")
    assert not looks_like_message(b"Nov 27 02:09:58 mail postfix/smtp[1]: to=<a@b>")


# -- classification --------------------------------------------------------------------------


def test_same_code_means_different_things_at_different_providers() -> None:
    gmail = classify(
        status="5.7.27",
        reply_code=550,
        diagnostic="550 5.7.27 SPF authentication didn't pass - gsmtp",
        recipient="a@example.com",
        remote_mta="gmail-smtp-in.l.google.com",
    )
    null_mx = classify(
        status="5.7.27",
        reply_code=550,
        diagnostic="550 5.7.27 Sender address has null MX",
        recipient="a@example.org",
    )
    assert (gmail.reason, gmail.check) == ("auth-failure", "spf")
    assert (null_mx.reason, null_mx.check) == ("rejected", "mx")
    ms = classify(
        status="5.1.10",
        reply_code=550,
        diagnostic="550 5.1.10 RESOLVER.ADR.RecipientNotFound; not found",
    )
    assert (ms.reason, ms.provider) == ("user-unknown", "microsoft")


def test_generic_fallbacks_follow_rfc_3463() -> None:
    assert classify(status="5.2.2", reply_code=None, diagnostic="").reason == "mailbox-full"
    assert classify(status="5.2.2", reply_code=None, diagnostic="").hard is False
    assert classify(status="5.1.1", reply_code=None, diagnostic="").hard is True
    assert classify(status="4.4.7", reply_code=None, diagnostic="").reason == "expired"
    assert classify(status="5.9.99", reply_code=None, diagnostic="").reason == "other"
    assert classify(status="5.6.99", reply_code=None, diagnostic="").reason == "content-error"
    assert classify(status=None, reply_code=552, diagnostic="").reason == "mailbox-full"
    assert classify(status=None, reply_code=None, diagnostic="").reason == "other"


def test_provider_detection_order() -> None:
    # The answering server first, then the text, then the recipient's domain.
    assert detect_provider("mta5.am0.yahoodns.net", "", "a@example.org", None) == "yahoo"
    assert detect_provider(None, "blah - gsmtp", "a@example.org", None) == "gmail"
    assert detect_provider(None, "", "a@hotmail.com.invalid", None) == "other"
    assert provider_for_host("hotmail.com") == "microsoft"
    # A Gmail-sent bounce about someone else's server is not Gmail's answer.
    assert detect_provider("mx.example.org", "", "a@example.org", "googlemail.com") == "other"
    assert detect_provider(None, "", "a@example.org", "a8-12.smtp-out.amazonses.com") == (
        "amazon-ses"
    )


# -- properties ------------------------------------------------------------------------------

_SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_SETTINGS
@given(st.binary(max_size=3000))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    for result in analyse_bytes(data, "fuzz"):
        json.dumps(result.to_dict(), ensure_ascii=False).encode("utf-8")
        assert result.kind != "error", result.problem  # nothing fell back to the catch-all


_HEADERS = st.sampled_from(
    [
        b"From: MAILER-DAEMON@example.com\r\n",
        b"Subject: Undelivered Mail\r\n",
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n",
        b"Content-Type: message/delivery-status\r\n",
        b"MIME-Version: 1.0\r\n",
        b"X-Failed-Recipients: a@example.org\r\n",
        b"--b\r\n",
        b"--b--\r\n",
        b"\r\n",
        b"Final-Recipient: rfc822; a@example.org\r\n",
        b"Action: failed\r\n",
        b"Status: 5.1.1\r\n",
        b"Diagnostic-Code: smtp; 550 5.1.1 nope\r\n",
        b"Content-Transfer-Encoding: base64\r\n",
    ]
)


@_SETTINGS
@given(st.lists(st.one_of(_HEADERS, st.binary(max_size=40)), max_size=40))
def test_bounce_shaped_garbage_never_raises(chunks: list[bytes]) -> None:
    for result in analyse_bytes(b"".join(chunks), "fuzz"):
        json.dumps(result.to_dict(), ensure_ascii=False).encode("utf-8")
        assert result.kind != "error", result.problem


@_SETTINGS
@given(st.text(max_size=2000))
def test_arbitrary_pasted_text_never_raises(text: str) -> None:
    for reply in parse_pasted(text):
        assert isinstance(reply.entry.diagnostic, str)


_PLAIN = st.text(alphabet=st.characters(whitelist_categories=("L", "Zs")), max_size=60)


@_SETTINGS
@given(
    st.sampled_from("245"),
    st.integers(0, 999),
    st.integers(0, 999),
    st.integers(0, 59),
    _PLAIN,
    _PLAIN,
)
def test_status_and_reply_code_round_trip(
    klass: str, subject: int, detail: int, tail: int, before: str, after: str
) -> None:
    status = f"{klass}.{subject}.{detail}"
    code = int(klass) * 100 + 50 + tail % 6  # 2x0-5x5: a valid reply of the same class
    text = f"{before} said: {code} {status} {after}"
    assert extract_status(text) == status
    assert extract_reply_code(text) == code
    folded = f"{code}-{status} {before}\n{code} {status} {after}"
    assert extract_status(unfold_reply(folded)) == status


def test_every_table_names_a_design_reason() -> None:
    from console.bounce.classify import FIXES, PROVIDER_RULES, STATUS_REASONS, TEXT_RULES
    from console.bounce.model import REASONS

    assert set(FIXES) == set(REASONS)
    assert {rule.reason for rule in PROVIDER_RULES + TEXT_RULES} <= set(REASONS)
    assert {reason for reason, _ in STATUS_REASONS.values()} <= set(REASONS)
    # Every provider fact says where it is documented.
    assert all(rule.source for rule in PROVIDER_RULES)


def test_one_dsn_with_a_failed_and_a_delayed_recipient() -> None:
    message = (
        b"From: MAILER-DAEMON@mail.example.com\r\nSubject: Undelivered Mail\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nsee below\r\n"
        b"--b\r\nContent-Type: message/delivery-status\r\n\r\n"
        b"Reporting-MTA: dns; mail.example.com\r\n\r\n"
        b"Final-Recipient: rfc822; gone@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        b"Diagnostic-Code: smtp; 550 5.1.1 <gone@example.org>: User unknown\r\n\r\n"
        b"Final-Recipient: rfc822; slow@example.net\r\nAction: delayed\r\nStatus: 4.4.1\r\n"
        b"Diagnostic-Code: X-Postfix; connect to mx.example.net[192.0.2.9]:25: Connection "
        b"timed out\r\n\r\n--b--\r\n"
    )
    (result,) = analyse_bytes(message)
    assert result.kind == "bounce"
    gone, slow = result.recipients
    assert (gone.action, gone.reason, gone.hard) == ("failed", "user-unknown", True)
    assert (slow.action, slow.reason, slow.hard) == ("delayed", "network-error", False)
    assert result.failures == [gone]


def test_pasted_text_without_any_reply_is_named() -> None:
    (result,) = analyse_bytes(b"hello, this is not an SMTP answer\n", "notes.txt")
    assert result.kind == "unknown"
    assert result.problem is not None
    assert result.problem.startswith("notes.txt:")


def test_text_bounce_with_two_recipients_and_a_returned_copy() -> None:
    message = (
        b"From: MAILER-DAEMON@mail.example.com\nSubject: failure notice\n\n"
        b"Hi. This is the qmail-send program at mail.example.com.\n"
        b"I'm afraid I wasn't able to deliver your message to the following addresses.\n\n"
        b"<one@example.org>:\n192.0.2.1 does not like recipient.\n"
        b"Remote host said: 550 5.1.1 no such user\n\n"
        b"<two@example.net>:\n198.51.100.2 does not like recipient.\n"
        b"Remote host said: 552 5.2.2 mailbox full\n\n"
        b"--- Below this line is a copy of the message.\n\n"
        b"<three@example.com>:\nRemote host said: 550 5.7.1 this is quoted text\n"
    )
    (result,) = analyse_bytes(message)
    assert [(r.recipient, r.reason, r.remote_mta) for r in result.recipients] == [
        ("one@example.org", "user-unknown", "192.0.2.1"),
        ("two@example.net", "mailbox-full", "198.51.100.2"),
    ]


def test_a_provider_only_code_names_the_provider_when_pasted_bare() -> None:
    (ms,) = analyse_bytes(
        b"550 5.7.515 Access denied, sending domain example.com does not "
        b"meet the required authentication level.\n"
    )
    (yahoo,) = analyse_bytes(
        b"421 4.7.0 [TSS04] Messages from 203.0.113.5 temporarily "
        b"deferred due to unexpected volume or user complaints\n"
    )
    assert (ms.recipients[0].provider, ms.recipients[0].reason) == ("microsoft", "auth-failure")
    # The reply names the sending domain: the fix uses it instead of a placeholder.
    assert "mailscope check example.com --checks spf,dkim,dmarc" in ms.recipients[0].fix
    assert (yahoo.recipients[0].provider, yahoo.kind) == ("yahoo", "delayed")
