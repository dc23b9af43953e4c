"""Building a test message: the headers Gmail and Yahoo expect of a well-formed bulk message.

The message is a stdlib `EmailMessage` under the SMTP policy (CRLF line ends, RFC 5322
folding), multipart/alternative when it has both a text and an HTML part, with a
Message-ID in the From domain, a Date, RFC 8058 one-click unsubscribe headers and an
`X-Mailscope-Test` id that readback searches for to find this very copy.
"""

from __future__ import annotations

import email.policy
import email.utils
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import ClassVar

from console.errors import MailscopeError

TEST_ID_HEADER = "X-Mailscope-Test"
"""Carries the test's uuid, so readback finds this message among the seed mailbox's."""

ONE_CLICK_VALUE = "List-Unsubscribe=One-Click"
"""The only value RFC 8058 section 3.1 allows in List-Unsubscribe-Post."""

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class TestMessage:
    """What the admin fills in on the compose form (or passes to `mailscope send`).

    Attributes:
        from_addr: the From header, `Name <user@domain>` or a bare address.
        to: one address or several, for the To header.
        subject: the Subject header.
        text: the text/plain part, or None for none.
        html: the text/html part, or None for none.
        list_unsubscribe_mailto: address (with or without `mailto:`) for List-Unsubscribe.
        list_unsubscribe_https: https URL receivers POST to for one-click unsubscribe.
        one_click: add `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058);
            only meaningful with an https URL.
        message_id_domain: right-hand side of the Message-ID; default the From domain.
        test_id: the value of X-Mailscope-Test; a fresh uuid4 by default.
        extra_headers: further headers, added in order after the standard ones.
    """

    __test__: ClassVar[bool] = False  # not a pytest test class, despite the name

    from_addr: str
    to: str | Sequence[str]
    subject: str = "mailscope test message"
    text: str | None = "This is a mailscope test message.\n"
    html: str | None = None
    list_unsubscribe_mailto: str | None = None
    list_unsubscribe_https: str | None = None
    one_click: bool = True
    message_id_domain: str | None = None
    test_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    extra_headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def recipients(self) -> list[str]:
        """The To addresses as a list."""
        return [self.to] if isinstance(self.to, str) else list(self.to)


def address_domain(value: str) -> str | None:
    """The domain of the (first) address in `value`, lower-cased, or None if it has none."""
    _, addr = email.utils.parseaddr(value)
    if "@" not in addr:
        return None
    domain = addr.rpartition("@")[2].strip().rstrip(".").lower()
    return domain or None


def list_unsubscribe_value(mailto: str | None, https: str | None) -> str | None:
    """The List-Unsubscribe value (RFC 2369): `<mailto:...>, <https://...>`, or None."""
    parts: list[str] = []
    if mailto:
        target = mailto.strip()
        if not target.lower().startswith("mailto:"):
            target = f"mailto:{target}"
        parts.append(f"<{target}>")
    if https:
        parts.append(f"<{https.strip()}>")
    return ", ".join(parts) or None


def build_message(spec: TestMessage, *, clock: Clock = _utc_now) -> EmailMessage:
    """Build the test message described by `spec`.

    Args:
        spec: the compose form's values.
        clock: returns the time for the Date header (injectable for tests).

    Returns:
        The message under `email.policy.SMTP`; `bytes(message)` is what goes on the wire.

    Raises:
        MailscopeError: a header value cannot be put in a message at all (a line break
            in it, say). Merely odd addresses are left for `lint_message` to explain.
    """
    message = EmailMessage(policy=email.policy.SMTP)
    domain = spec.message_id_domain or address_domain(spec.from_addr) or "localhost"
    unsubscribe = list_unsubscribe_value(spec.list_unsubscribe_mailto, spec.list_unsubscribe_https)
    headers: list[tuple[str, str]] = [
        ("From", spec.from_addr),
        ("To", ", ".join(spec.recipients)),
        # Leading and trailing blanks do not survive header unfolding (RFC 5322 2.2.3).
        ("Subject", spec.subject.strip()),
        ("Date", email.utils.format_datetime(clock())),
        ("Message-ID", email.utils.make_msgid(domain=domain)),
    ]
    if unsubscribe:
        headers.append(("List-Unsubscribe", unsubscribe))
        if spec.one_click and spec.list_unsubscribe_https:
            headers.append(("List-Unsubscribe-Post", ONE_CLICK_VALUE))
    headers.append((TEST_ID_HEADER, spec.test_id))
    headers.extend(spec.extra_headers.items())
    for name, value in headers:
        try:
            message[name] = value
        except (ValueError, TypeError) as exc:
            raise MailscopeError(f"Cannot use the {name} header", str(exc)) from None
    if spec.text is not None:
        message.set_content(spec.text)
        if spec.html is not None:
            message.add_alternative(spec.html, subtype="html")
    elif spec.html is not None:
        message.set_content(spec.html, subtype="html")
    else:
        message.set_content("")
    return message


def message_bytes(message: EmailMessage) -> bytes:
    """The message as it goes on the wire: CRLF line ends, RFC 5322 folding."""
    return message.as_bytes(policy=email.policy.SMTP)
