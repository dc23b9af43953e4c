"""Building a test message: the headers Gmail and Yahoo expect of a well-formed bulk message.

The message is a stdlib `EmailMessage` under the SMTP policy (CRLF line ends, RFC 5322
folding), multipart/alternative when it has both a text and an HTML part (inside
multipart/mixed when files are attached), with a Message-ID in the From domain, a Date,
RFC 8058 one-click unsubscribe headers and an `X-Mailscope-Test` id that readback
searches for to find this very copy. `build_copies` makes one copy per sending path,
each with its own test id and, optionally, DKIM-signed.
"""

from __future__ import annotations

import email.policy
import email.utils
import mimetypes
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import ClassVar

from console.errors import MailscopeError
from console.files import UnreadableFile, read_regular_file

TEST_ID_HEADER = "X-Mailscope-Test"
"""Carries the test's uuid, so readback finds this message among the seed mailbox's."""

ONE_CLICK_VALUE = "List-Unsubscribe=One-Click"
"""The only value RFC 8058 section 3.1 allows in List-Unsubscribe-Post."""

TEXT_BODY = "This is a mailscope test message.\n"
"""The text part of a test message unless the admin writes one."""

MAX_ATTACHMENT_BYTES = 36 * 1024 * 1024
"""Files larger than this are refused before they are read: once base64 has grown them
by a third they are over every provider's default message limit (Gmail 25 MB,
Microsoft 365 35 MB), and a test send never needs more."""

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file to attach: its name as the recipient sees it, its MIME type, its bytes."""

    filename: str
    content_type: str
    data: bytes = field(repr=False)


def read_attachment(path: Path | str) -> Attachment:
    """Read a file to attach, refusing what is not a regular file or is too large.

    Raises:
        MailscopeError: the file cannot be read, is a device or FIFO (never opened: it
            could block for ever), or is over MAX_ATTACHMENT_BYTES.
    """
    path = Path(path).expanduser()
    try:
        data = read_regular_file(path, MAX_ATTACHMENT_BYTES)
    except UnreadableFile as exc:
        reason = exc.reason
        if exc.size is not None:
            reason = (
                f"{exc.size:,} bytes, over the {MAX_ATTACHMENT_BYTES // 2**20} MiB a test "
                "send takes (and over every provider's message limit)"
            )
        raise MailscopeError(f"Cannot attach {path}", reason) from None
    content_type, encoding = mimetypes.guess_type(path.name, strict=False)
    if content_type is None or encoding is not None:
        # A .tar.gz is sent as the gzip it is, not as the tar inside.
        content_type = "application/octet-stream" if encoding is None else _ENCODED[encoding]
    elif content_type.startswith(("message/", "multipart/")):
        # An attached .eml goes as opaque bytes: message/rfc822 may not be base64
        # (RFC 2046 5.2.1), and the file's own MIME is not ours to vouch for.
        content_type = "application/octet-stream"
    return Attachment(path.name, content_type, data)


_ENCODED = {
    "gzip": "application/gzip",
    "bzip2": "application/x-bzip2",
    "xz": "application/x-xz",
    "compress": "application/x-compress",
    "br": "application/x-brotli",
}


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
        attachments: files attached after the body parts.
    """

    __test__: ClassVar[bool] = False  # not a pytest test class, despite the name

    from_addr: str
    to: str | Sequence[str]
    subject: str = "mailscope test message"
    text: str | None = TEXT_BODY
    html: str | None = None
    list_unsubscribe_mailto: str | None = None
    list_unsubscribe_https: str | None = None
    one_click: bool = True
    message_id_domain: str | None = None
    test_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    extra_headers: Mapping[str, str] = field(default_factory=dict)
    attachments: Sequence[Attachment] = ()

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
    for attachment in spec.attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        try:
            message.add_attachment(
                attachment.data,
                maintype=maintype,
                subtype=subtype or "octet-stream",
                filename=attachment.filename,
            )
        except (ValueError, TypeError) as exc:
            raise MailscopeError(f"Cannot attach {attachment.filename!r}", str(exc)) from None
    return message


def message_bytes(message: EmailMessage) -> bytes:
    """The message as it goes on the wire: CRLF line ends, RFC 5322 folding."""
    return message.as_bytes(policy=email.policy.SMTP)


@dataclass(frozen=True, slots=True)
class DkimKey:
    """What signs each copy: the selector, the d= domain and the private key."""

    selector: str
    domain: str
    key_pem: bytes = field(repr=False)


def dkim_key_for(from_addr: str, key_file: Path | str, selector: str | None) -> DkimKey:
    """The key that signs for the From domain (d= is always the From domain here).

    Raises:
        MailscopeError: no selector, no domain in From, or the key file cannot be read.
    """
    from console.send.dkim_sign import read_key

    if not selector:
        raise MailscopeError("Cannot DKIM-sign", "give the selector of the key too")
    domain = address_domain(from_addr)
    if not domain:
        raise MailscopeError("Cannot DKIM-sign", f"no domain in the From address {from_addr!r}")
    return DkimKey(selector, domain, read_key(key_file))


@dataclass(frozen=True, slots=True)
class Copy:
    """One sending path's copy of the message: its own test id, and the bytes as sent."""

    test_id: str
    data: bytes = field(repr=False)


def build_copies(
    spec: TestMessage,
    paths: Sequence[str],
    *,
    dkim: DkimKey | None = None,
    clock: Clock = _utc_now,
) -> tuple[EmailMessage, dict[str, Copy]]:
    """The message (for lint) and each path's copy, signed when `dkim` is given.

    Each copy carries its own test id (`<id>.<path>`): the copies land in the same
    mailbox, and readback must tell them apart.
    """
    copies: dict[str, Copy] = {}
    first: EmailMessage | None = None
    for via in paths:
        test_id = f"{spec.test_id}.{via}"
        message = build_message(replace(spec, test_id=test_id), clock=clock)
        first = first or message
        data = message_bytes(message)
        if dkim is not None:
            from console.send.dkim_sign import sign

            data = sign(data, selector=dkim.selector, domain=dkim.domain, key_pem=dkim.key_pem)
        copies[via] = Copy(test_id, data)
    if first is None:
        raise ValueError("build_copies needs at least one path")
    return first, copies


def compose_and_sign(
    spec: TestMessage,
    paths: Sequence[str],
    *,
    attachment_files: Sequence[Path | str] = (),
    dkim_key_file: Path | str | None = None,
    selector: str | None = None,
    clock: Clock = _utc_now,
) -> tuple[EmailMessage, dict[str, Copy], str | None]:
    """Read the files the admin named, then build (and sign) each path's copy: what the
    command and the Send pane both do. Blocking (files, signing): the pane calls it in a
    thread.

    Returns:
        The message (for lint), each path's copy, and the DKIM d= (None when unsigned).

    Raises:
        MailscopeError: an attachment or the key cannot be read, the key has no selector,
            or a header cannot be put in a message.
    """
    if attachment_files:
        read = [read_attachment(path) for path in attachment_files]
        spec = replace(spec, attachments=[*spec.attachments, *read])
    dkim = dkim_key_for(spec.from_addr, dkim_key_file, selector) if dkim_key_file else None
    message, copies = build_copies(spec, paths, dkim=dkim, clock=clock)
    return message, copies, dkim.domain if dkim else None
