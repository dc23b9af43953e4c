"""Building test messages: the headers bulk-sender rules expect, and a clean round trip."""

from __future__ import annotations

import email.parser
import email.policy
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from console.errors import MailscopeError
from console.send.compose import (
    MAX_ATTACHMENT_BYTES,
    ONE_CLICK_VALUE,
    TEST_ID_HEADER,
    Attachment,
    DkimKey,
    TestMessage,
    address_domain,
    build_copies,
    build_message,
    dkim_key_for,
    list_unsubscribe_value,
    message_bytes,
    read_attachment,
)

FIXED = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)


def parse(raw: bytes):
    return email.parser.BytesParser(policy=email.policy.default).parsebytes(raw)


def lines(text: str) -> list[str]:
    """Lines without the line ends (the wire uses CRLF) or trailing blank lines."""
    out = text.splitlines()
    while out and not out[-1]:
        out.pop()
    return out


def spec(**overrides) -> TestMessage:
    values = {
        "from_addr": "Ann Example <ann@good.test>",
        "to": ["seed@good.test", "other@good.test"],
        "subject": "Welcome",
        "text": "Hello in text.\n",
        "html": "<p>Hello in <b>HTML</b>.</p>\n",
        "list_unsubscribe_mailto": "unsubscribe@good.test",
        "list_unsubscribe_https": "https://good.test/unsubscribe?id=42",
        "test_id": "2f7c9d3e-0000-4000-8000-000000000001",
    }
    values.update(overrides)
    return TestMessage(**values)


def test_headers_bulk_senders_need():
    message = parse(message_bytes(build_message(spec(), clock=lambda: FIXED)))
    assert message["From"] == "Ann Example <ann@good.test>"
    assert [a.addr_spec for a in message["To"].addresses] == ["seed@good.test", "other@good.test"]
    assert message["Date"] == "Fri, 27 Nov 2026 09:30:00 +0000"
    assert message["Message-ID"].endswith("@good.test>")
    # Folded after the colon when long (RFC 5322 FWS); readers strip the space.
    assert message["List-Unsubscribe"].strip() == (
        "<mailto:unsubscribe@good.test>, <https://good.test/unsubscribe?id=42>"
    )
    assert message["List-Unsubscribe-Post"] == ONE_CLICK_VALUE
    assert message[TEST_ID_HEADER] == "2f7c9d3e-0000-4000-8000-000000000001"


def test_multipart_alternative_text_then_html():
    message = parse(message_bytes(build_message(spec())))
    assert message.get_content_type() == "multipart/alternative"
    parts = [part.get_content_type() for part in message.iter_parts()]
    assert parts == ["text/plain", "text/html"]  # the preferred (richer) part goes last
    assert lines(message.get_body(("plain",)).get_content()) == ["Hello in text."]
    assert "<b>HTML</b>" in message.get_body(("html",)).get_content()


def test_wire_form_uses_crlf():
    raw = message_bytes(build_message(spec()))
    assert b"\r\n" in raw
    assert b"\n" not in raw.replace(b"\r\n", b"")


def test_one_click_needs_https_url():
    no_https = build_message(spec(list_unsubscribe_https=None))
    assert no_https["List-Unsubscribe"] == "<mailto:unsubscribe@good.test>"
    assert no_https["List-Unsubscribe-Post"] is None
    turned_off = build_message(spec(one_click=False))
    assert turned_off["List-Unsubscribe-Post"] is None
    neither = build_message(spec(list_unsubscribe_https=None, list_unsubscribe_mailto=None))
    assert neither["List-Unsubscribe"] is None


def test_single_part_messages():
    html_only = build_message(spec(text=None))
    assert html_only.get_content_type() == "text/html"
    text_only = build_message(spec(html=None))
    assert text_only.get_content_type() == "text/plain"


def test_each_build_gets_its_own_ids():
    first, second = TestMessage("a@good.test", "b@good.test"), TestMessage("a@good.test", "b")
    assert first.test_id != second.test_id
    assert build_message(first)["Message-ID"] != build_message(first)["Message-ID"]


def test_message_id_domain_override_and_extra_headers():
    message = build_message(
        spec(message_id_domain="mail.good.test", extra_headers={"X-Campaign": "nov"})
    )
    assert message["Message-ID"].endswith("@mail.good.test>")
    assert message["X-Campaign"] == "nov"


def test_header_injection_is_refused_with_one_line():
    with pytest.raises(MailscopeError) as caught:
        build_message(spec(subject="hi\r\nBcc: victim@example.com"))
    assert caught.value.title == "Cannot use the Subject header"
    assert "\n" not in str(caught.value)


def test_helpers():
    assert address_domain("Ann <Ann@Good.Test.>") == "good.test"
    assert address_domain("not an address") is None
    assert list_unsubscribe_value("mailto:u@x.test?subject=stop", None) == (
        "<mailto:u@x.test?subject=stop>"
    )
    assert list_unsubscribe_value(None, None) is None


_line = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\u2028\u2029\x85"),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(
    subject=_line,
    local=st.from_regex(r"[a-z0-9][a-z0-9._+-]{0,20}", fullmatch=True),
    text=st.text(st.characters(blacklist_categories=("Cs",)), max_size=300),
    html=st.text(st.characters(blacklist_categories=("Cs",)), max_size=300),
    test_id=st.uuids().map(str),
)
def test_round_trip_keeps_headers(subject, local, text, html, test_id):
    built = build_message(
        spec(from_addr=f"{local}@good.test", subject=subject, text=text, html=html, test_id=test_id)
    )
    back = parse(message_bytes(built))
    assert back["From"].addresses[0].addr_spec == f"{local}@good.test"
    assert back["Subject"] == subject.strip()
    assert back[TEST_ID_HEADER] == test_id
    assert back["Message-ID"] == built["Message-ID"]
    assert back["List-Unsubscribe-Post"] == ONE_CLICK_VALUE
    # set_content normalises line ends; the lines themselves must survive.
    assert lines(back.get_body(("plain",)).get_content()) == lines(text)
    assert lines(back.get_body(("html",)).get_content()) == lines(html)


# -- attachments and copies ----------------------------------------------------------------


def test_attachments_go_after_the_bodies_in_multipart_mixed():
    report = Attachment('résumé "2026".csv', "text/csv", b"name,score\nann,1\n")
    message = parse(message_bytes(build_message(spec(attachments=[report]), clock=lambda: FIXED)))
    assert message.get_content_type() == "multipart/mixed"
    body, attached = message.iter_parts()
    assert body.get_content_type() == "multipart/alternative"
    assert attached.get_filename() == 'résumé "2026".csv'
    assert attached.get_content_type() == "text/csv"
    assert attached.get_content() == "name,score\nann,1\n"


def test_an_attachment_name_with_a_line_break_is_refused_with_one_line():
    bad = Attachment("a.txt\r\nBcc: victim@example.org", "text/plain", b"x")
    with pytest.raises(MailscopeError, match="Cannot attach"):
        build_message(spec(attachments=[bad]))


def test_read_attachment_guesses_the_type_and_keeps_the_bytes(tmp_path):
    (tmp_path / "report.pdf").write_bytes(b"%PDF-1.7\n")
    (tmp_path / "logs.tar.gz").write_bytes(b"\x1f\x8b")
    (tmp_path / "notes").write_bytes(b"plain")
    assert read_attachment(tmp_path / "report.pdf") == Attachment(
        "report.pdf", "application/pdf", b"%PDF-1.7\n"
    )
    assert read_attachment(tmp_path / "logs.tar.gz").content_type == "application/gzip"
    assert read_attachment(tmp_path / "notes").content_type == "application/octet-stream"
    # message/rfc822 may not be base64 (RFC 2046 5.2.1): a forwarded .eml goes as bytes.
    (tmp_path / "fwd.eml").write_bytes(b"Subject: hi\r\n\r\nbody\r\n")
    forwarded = read_attachment(tmp_path / "fwd.eml")
    assert forwarded.content_type == "application/octet-stream"
    message = parse(message_bytes(build_message(spec(attachments=[forwarded]))))
    (part,) = message.iter_attachments()
    assert part.get_content_type() == "application/octet-stream"
    assert part.get_filename() == "fwd.eml"


def test_read_attachment_refuses_what_it_must_not_read(tmp_path):
    with pytest.raises(MailscopeError, match="not a regular file"):
        read_attachment(tmp_path)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(MailscopeError, match="not a regular file"):
        read_attachment(fifo)  # opening it would block for ever
    huge = tmp_path / "huge.bin"
    with huge.open("wb") as file:
        file.truncate(MAX_ATTACHMENT_BYTES + 1)  # sparse: costs no disk
    with pytest.raises(MailscopeError, match="MiB"):
        read_attachment(huge)
    with pytest.raises(MailscopeError, match="Cannot attach"):
        read_attachment(tmp_path / "missing.pdf")


def test_each_copy_has_its_own_test_id_and_is_signed_when_asked():
    key = Path("console/lab/keys/good-s2026.pem").read_bytes()
    message, copies = build_copies(
        spec(from_addr="ann@good.test"),
        ["smtp", "gmail-api"],
        dkim=DkimKey("s2026", "good.test", key),
        clock=lambda: FIXED,
    )
    assert list(copies) == ["smtp", "gmail-api"]
    base = message[TEST_ID_HEADER].removesuffix(".smtp")
    for via, copy in copies.items():
        parsed = parse(copy.data)
        assert copy.test_id == f"{base}.{via}" == parsed[TEST_ID_HEADER]
        assert "d=good.test" in parsed["DKIM-Signature"]
        assert "s=s2026" in parsed["DKIM-Signature"]
    assert "PRIVATE KEY" not in repr(DkimKey("s", "d.test", key))  # never in a log line


def test_dkim_key_for_says_what_is_missing(tmp_path):
    with pytest.raises(MailscopeError, match="selector"):
        dkim_key_for("ann@good.test", "console/lab/keys/good-s2026.pem", None)
    with pytest.raises(MailscopeError, match="no domain"):
        dkim_key_for("ann", "console/lab/keys/good-s2026.pem", "s1")
    with pytest.raises(MailscopeError, match="DKIM key"):
        dkim_key_for("ann@good.test", tmp_path / "none.pem", "s1")
