"""Building test messages: the headers bulk-sender rules expect, and a clean round trip."""

from __future__ import annotations

import email.parser
import email.policy
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from console.errors import MailscopeError
from console.send.compose import (
    ONE_CLICK_VALUE,
    TEST_ID_HEADER,
    TestMessage,
    address_domain,
    build_message,
    list_unsubscribe_value,
    message_bytes,
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
