"""The lab's Gmail API v1 emulator: `users.messages.send`, `list`, `get` and `getProfile`.

Spoken to by the real google-api-python-client (built from its bundled gmail v1
discovery document, root URL overridden), on the Postmaster emulator's listener: same
root URL, same `/token` endpoint, same access tokens (`PostmasterEmulator.grant`).
Routes, answers and errors follow Google's JSON shapes:

- POST `/gmail/v1/users/{userId}/messages/send` with `{"raw": base64url}` (what the
  client sends for `body={"raw": ...}`), and the media forms
  `/upload/gmail/v1/users/{userId}/messages/send?uploadType=media|multipart`.
- GET `/gmail/v1/users/{userId}/messages` with `q`, `labelIds`, `includeSpamTrash`,
  `maxResults`, `pageToken`.
- GET `/gmail/v1/users/{userId}/messages/{id}?format=minimal|metadata|full|raw`.
- GET `/gmail/v1/users/{userId}/profile`.

Who is asking. A token's `TokenGrant` names its mailbox: the lab token, refresh-token
and authorization-code tokens speak for the seed account `seed@good.test`
(`GMAIL_SEED_ADDRESS`); a service account speaks for the user it acts as (its `sub`,
domain-wide delegation) and, acting as itself, has no mailbox (400 failedPrecondition, as
at Google). `userId` is `me` or that address; another is 403 "Delegation denied".
Scopes as Google checks them: send needs gmail.send (or compose, modify, mail.google.com);
list and get need gmail.readonly (or modify, mail.google.com; gmail.metadata allows
neither `q` nor the raw and full formats); otherwise 403 insufficient scope.

Sending behaves like Gmail's outbound: Bcc removed, From (the account), Date,
Message-ID and MIME-Version added when missing, an API-submission Received header
(`by gmailapi.google.com with HTTPREST`), a DKIM signature d=good.test s=google (key
`keys/generic-2048.pem`, published at google._domainkey.good.test), and a Return-Path of
the account's address (the envelope sender). The message then goes to the lab's mailbox
(`LabMailbox.deliver`) as if from a Google outbound host, `mail-sor-f41.google.com`
[198.51.100.41] (inside the lab's `_spf.google.com`), over TLS 1.3, not submitted: the
mailbox judges it by SPF, DKIM and DMARC for real. Every recipient (To, Cc, Bcc) gets a
copy in the lab mailbox, the lab's only receiver.

Lab simplifications: any From is accepted as a send-as alias (Gmail would replace an
unverified one with the account's address); so a From in a domain that neither
good.test's SPF nor its DKIM aligns with fails DMARC, and lands in Spam under
p=quarantine or p=reject, as it would at a real receiver.

Readback: list and get serve the lab mailbox's stored copies for the account's address
(labels INBOX with the Primary tab's CATEGORY_PERSONAL, or SPAM, with UNREAD) plus what
the account sent (label SENT), newest first.
`q` understands `in:inbox|spam|sent|anywhere`, `is:spam`, `label:`, `rfc822msgid:`,
`from:`, `to:`, `subject:`, `newer_than:`, `-` negation and free text (matched against
the whole message, headers included, so a test id in `X-Mailscope-Test` is found;
Gmail's own search does not index custom headers). A per-user quota of 15,000 units a
minute (send 100, list and get 5) answers 429 rateLimitExceeded when spent.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import contextlib
import email.parser
import email.policy
import email.utils
import itertools
import json
import logging
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from console.lab.mailbox import INBOX, SPAM, LabMailbox
from console.lab.postmaster_api import LAB_USER_ADDRESS, ApiError, TokenGrant
from console.send.dkim_sign import sign

log = logging.getLogger(__name__)

GMAIL_SEED_ADDRESS = LAB_USER_ADDRESS
"""The lab's Gmail account: what the lab token (and refresh tokens) read and send as."""

GOOGLE_OUTBOUND_IP = "198.51.100.41"
"""Where the emulator's mail comes from: inside `_netblocks.google.com` in the lab DNS."""

GOOGLE_OUTBOUND_HELO = "mail-sor-f41.google.com"
"""The HELO of Gmail's outbound host for API-sent mail (Google's "sor" relays)."""

GOOGLE_TLS = {"cipher": ("TLS_AES_128_GCM_SHA256", "TLSv1.3", 128)}
"""The TLS the hop to the mailbox claims (aiosmtpd's `session.ssl` shape)."""

DKIM_DOMAIN = "good.test"
DKIM_SELECTOR = "google"
DKIM_KEY_FILE = Path(__file__).parent / "keys" / "generic-2048.pem"
"""The private half of `google._domainkey.good.test` (a 2048-bit RSA key)."""

MAX_MESSAGE = 36_700_160
"""Bytes of message the API takes (35 MiB, the discovery document's maxSize)."""

MAX_BODY = 50 * 1024 * 1024
"""Bytes of request body read: a MAX_MESSAGE message as base64url inside JSON."""

QUOTA_PER_MINUTE = 15_000
"""Per-user quota units a minute (Google's published per-user limit)."""

UNITS = {"send": 100, "list": 5, "get": 5, "profile": 1}
"""Quota units of each method, as Google's quota table prices them."""

_G = "https://www.googleapis.com/auth/"
FULL_SCOPE = "https://mail.google.com/"
SEND_SCOPES = (
    FULL_SCOPE,
    _G + "gmail.modify",
    _G + "gmail.compose",
    _G + "gmail.send",
    _G + "gmail.addons.current.action.compose",
)
READ_SCOPES = (FULL_SCOPE, _G + "gmail.modify", _G + "gmail.readonly")
METADATA_SCOPE = _G + "gmail.metadata"
PROFILE_SCOPES = (*READ_SCOPES, METADATA_SCOPE, _G + "gmail.compose")
"""Each method's accepted scopes, as the bundled discovery document lists them."""

_FORMATS = ("minimal", "metadata", "full", "raw")
_TERM = re.compile(r'(-?)(?:([A-Za-z][A-Za-z0-9_]*):)?("([^"]*)"|\S+)')
_AGE = re.compile(r"(\d{1,6})([dmyh])")
_AGE_SECONDS = {"h": 3600, "d": 86400, "m": 30 * 86400, "y": 365 * 86400}
_SENT_BASE = 0x80000
"""Sent copies number from here, so their ids never meet the mailbox copies'."""


class GmailError(ApiError):
    """A Gmail-shaped error: Google's status plus the legacy `errors[].reason`."""

    def __init__(self, code: int, status: str, reason: str, message: str) -> None:
        super().__init__(code, status, message)
        self.reason = reason


def _bad(message: str) -> GmailError:
    return GmailError(400, "INVALID_ARGUMENT", "invalidArgument", message)


def _not_found() -> GmailError:
    return GmailError(404, "NOT_FOUND", "notFound", "Requested entity was not found.")


def _insufficient_scope() -> GmailError:
    return GmailError(
        403,
        "PERMISSION_DENIED",
        "insufficientPermissions",
        "Request had insufficient authentication scopes.",
    )


def error_body(exc: ApiError) -> dict[str, Any]:
    """Google's JSON error body for `exc` (with `errors[]` as Gmail v1 still sends)."""
    reason = getattr(exc, "reason", None) or {
        401: "authError",
        403: "forbidden",
        404: "notFound",
        429: "rateLimitExceeded",
    }.get(exc.code, "backendError")
    error: dict[str, Any] = {
        "code": exc.code,
        "message": exc.message,
        "errors": [{"message": exc.message, "domain": "global", "reason": reason}],
        "status": exc.status,
    }
    if reason == "insufficientPermissions":
        error["details"] = [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
                "domain": "googleapis.com",
                "metadata": {"service": "gmail.googleapis.com"},
            }
        ]
    return {"error": error}


@dataclass(frozen=True, slots=True)
class _Entry:
    """One message as a user's mailbox shows it."""

    id: str
    labels: tuple[str, ...]
    data: bytes
    internal_ms: int
    history: int


@dataclass(slots=True)
class _Sent:
    data: bytes
    at: datetime


@dataclass(slots=True)
class GmailEmulator:
    """The Gmail API's users.messages send, list, get and users.getProfile, in the lab.

    Args:
        mailbox: the lab's receiving mailbox (the good MX's); None while it has none,
            then send answers 503.
        clock: the time for Date, Received and internalDate (injectable for tests).
        quota_per_minute: per-user quota units a minute before 429.
    """

    mailbox: LabMailbox | None
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    quota_per_minute: int = QUOTA_PER_MINUTE
    max_body: int = MAX_BODY
    requests: list[tuple[str, str]] = field(default_factory=list)
    """(method, path) of every request, for tests (never a header or body)."""
    _sent: dict[str, list[_Sent]] = field(default_factory=dict)
    _spent: dict[str, collections.deque[tuple[float, int]]] = field(default_factory=dict)
    _queue: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _key: bytes | None = None

    # -- HTTP entry point (called by the Postmaster emulator's server) -----------------

    async def handle(
        self,
        method: str,
        path: str,
        query_string: str,
        headers: dict[str, str],
        body: bytes,
        grant_of: Callable[[dict[str, str]], TokenGrant],
    ) -> tuple[int, str, bytes]:
        """Answer one request: (status, content type, body). Never raises ApiError."""
        self.requests.append((method, path))
        query = parse_qs(query_string, keep_blank_values=True)
        try:
            grant = grant_of(headers)
            answer = await self._dispatch(method, path, query, headers, body, grant)
        except ApiError as exc:
            return exc.code, "application/json; charset=UTF-8", json.dumps(error_body(exc)).encode()
        except Exception as exc:  # a lab bug still answers, as Google's backendError
            log.exception("lab gmail: %s %s failed", method, path)
            failure = GmailError(
                500, "INTERNAL", "backendError", f"Backend Error ({type(exc).__name__})"
            )
            return 500, "application/json; charset=UTF-8", json.dumps(error_body(failure)).encode()
        return 200, "application/json; charset=UTF-8", json.dumps(answer).encode()

    async def _dispatch(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: bytes,
        grant: TokenGrant,
    ) -> dict[str, Any]:
        match = re.fullmatch(r"/(upload/)?gmail/v1/users/([^/]+)/(.+)", path)
        if not match:
            raise _not_found()
        upload, user_id, rest = match[1] is not None, match[2], match[3]
        if upload and rest != "messages/send":
            raise _not_found()
        if rest == "messages/send":
            if method != "POST":
                raise _not_found()
            user = self._user(grant, user_id, SEND_SCOPES)
            self._charge(user, "send")
            raw = self._upload(query, headers, body) if upload else _raw_field(body)
            return await self.send(user, raw)
        if method != "GET":
            raise _not_found()
        if rest == "profile":
            user = self._user(grant, user_id, PROFILE_SCOPES)
            self._charge(user, "profile")
            entries = self._entries(user)
            return {
                "emailAddress": user,
                "messagesTotal": len(entries),
                "threadsTotal": len(entries),
                "historyId": str(max((e.history for e in entries), default=1)),
            }
        metadata_only = not grant.allows(*READ_SCOPES)
        user = self._user(grant, user_id, (*READ_SCOPES, METADATA_SCOPE))
        if rest == "messages":
            self._charge(user, "list")
            if metadata_only and _one(query, "q"):
                raise GmailError(
                    403,
                    "PERMISSION_DENIED",
                    "forbidden",
                    "Metadata scope does not support 'q' parameter",
                )
            return self.list(user, query)
        id_match = re.fullmatch(r"messages/([0-9a-fA-F]{1,32})", rest)
        if not id_match:
            if rest.startswith("messages/"):
                raise _bad("Invalid id value")
            raise _not_found()
        self._charge(user, "get")
        fmt = (_one(query, "format") or "full").lower()
        if fmt not in _FORMATS:
            raise _bad(f"Invalid value at 'format' ({fmt[:40]})")
        if metadata_only and fmt in ("full", "raw"):
            raise GmailError(
                403,
                "PERMISSION_DENIED",
                "forbidden",
                f"Metadata scope doesn't allow format {fmt.upper()}",
            )
        return self.get(user, id_match[1].lower(), fmt, query.get("metadataHeaders", []))

    def _user(self, grant: TokenGrant, user_id: str, scopes: tuple[str, ...]) -> str:
        if not grant.allows(*scopes):
            raise _insufficient_scope()
        if grant.user is None:  # a service account acting as itself has no mailbox
            raise GmailError(
                400, "FAILED_PRECONDITION", "failedPrecondition", "Precondition check failed."
            )
        if user_id.lower() not in ("me", grant.user.lower()):
            raise GmailError(
                403, "PERMISSION_DENIED", "forbidden", f"Delegation denied for {grant.user}"
            )
        return grant.user.lower()

    def _charge(self, user: str, method: str) -> None:
        now = time.monotonic()
        spent = self._spent.setdefault(user, collections.deque())
        while spent and spent[0][0] < now - 60:
            spent.popleft()
        units = UNITS[method]
        if sum(u for _, u in spent) + units > self.quota_per_minute:
            raise GmailError(
                429,
                "RESOURCE_EXHAUSTED",
                "rateLimitExceeded",
                "User-rate limit exceeded.  Retry after "
                f"{datetime.fromtimestamp(time.time() + 60, UTC):%Y-%m-%dT%H:%M:%S.000Z}",
            )
        spent.append((now, units))

    @staticmethod
    def _upload(query: dict[str, list[str]], headers: dict[str, str], body: bytes) -> bytes:
        kind = (_one(query, "uploadType") or "media").lower()
        content_type = headers.get("content-type", "")
        if kind == "media":
            return body
        if kind == "multipart":
            # Cut the parts out of the bytes: a parser would re-serialise message/rfc822.
            match = re.search(r'boundary="?([^";]+)"?', content_type)
            parts = body.split(b"--" + match[1].encode("latin-1")) if match else []
            # ['', metadata, media, '--...']: the media part's body, CRLF before the delimiter.
            if len(parts) < 4:
                raise _bad("multipart upload needs metadata and media parts")
            _head, sep, media = parts[2].partition(b"\r\n\r\n")
            if not sep:
                _head, sep, media = parts[2].partition(b"\n\n")
            return media.removesuffix(b"\r\n").removesuffix(b"\n")
        raise _bad(f"uploadType {kind[:20]} is not supported by the lab")

    # -- the methods --------------------------------------------------------------------

    async def send(self, user: str, raw: bytes) -> dict[str, Any]:
        """users.messages.send for `user`: stamp, sign, hand to the mailbox, keep as SENT."""
        if self.mailbox is None:
            raise GmailError(503, "UNAVAILABLE", "backendError", "The service is unavailable.")
        if len(raw) > MAX_MESSAGE:
            raise _bad(f"Request payload size exceeds the limit: {MAX_MESSAGE} bytes.")
        message = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        head, sep, body = message.partition(b"\r\n\r\n")
        if not sep:
            head, body = message.removesuffix(b"\r\n"), b""
        parsed = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(
            head + b"\r\n\r\n"
        )
        recipients = _recipients(parsed)
        now = self.clock()
        added: list[str] = []
        if parsed.get("From") is None:
            added.append(f"From: {user}")
        if parsed.get("Date") is None:
            added.append(f"Date: {email.utils.format_datetime(now)}")
        if parsed.get("Message-ID") is None:
            added.append(f"Message-ID: <CA{secrets.token_hex(16)}@mail.gmail.com>")
        if parsed.get("MIME-Version") is None:
            added.append("MIME-Version: 1.0")
        head = _without_header(head, "bcc")
        prefix = "".join(f"{line}\r\n" for line in added).encode()
        submission = (
            f"Received: from {secrets.randbelow(10**12)} named unknown by gmailapi.google.com "
            f"with HTTPREST; {email.utils.format_datetime(now)}\r\n"
        ).encode()
        outgoing = submission + prefix + head + b"\r\n\r\n" + body
        signed = await asyncio.to_thread(self._sign, outgoing)
        sent = self._sent.setdefault(user, [])
        sent.append(_Sent(signed, now))
        sent_id = _message_id(now, _SENT_BASE + len(sent) - 1)
        with_path = f"Return-Path: <{user}>\r\n".encode() + signed
        await self.mailbox.deliver(
            with_path,
            peer=(GOOGLE_OUTBOUND_IP, 25),
            mail_from=user,
            rcpt_tos=recipients,
            helo=GOOGLE_OUTBOUND_HELO,
            by_host=self.mailbox.authserv_id,
            tls=GOOGLE_TLS,
            submitted=False,
            queue_id=f"GAPI{next(self._queue):06d}",
        )
        return {"id": sent_id, "threadId": sent_id, "labelIds": ["SENT"]}

    def _sign(self, message: bytes) -> bytes:
        if self._key is None:
            self._key = DKIM_KEY_FILE.read_bytes()
        try:
            return sign(message, selector=DKIM_SELECTOR, domain=DKIM_DOMAIN, key_pem=self._key)
        except Exception as exc:  # Gmail would send it anyway; the receiver sees dkim=none
            log.debug("lab gmail: cannot sign: %r", exc)
            return message

    def list(self, user: str, query: dict[str, list[str]]) -> dict[str, Any]:
        """users.messages.list: ids newest first, filtered by q and labelIds, paged."""
        try:
            limit = int(_one(query, "maxResults") or 100)
        except ValueError:
            raise _bad("Invalid value for maxResults") from None
        if limit < 1:
            raise _bad("Invalid value for maxResults")
        limit = min(limit, 500)
        offset = 0
        if token := _one(query, "pageToken"):
            if not token.isdigit():
                raise _bad("Invalid pageToken")
            offset = int(token)
        wanted = {label.upper() for label in query.get("labelIds", []) if label}
        include_spam = (_one(query, "includeSpamTrash") or "").lower() == "true" or "SPAM" in wanted
        matcher = _Query(_one(query, "q") or "", self.clock())
        include_spam = include_spam or matcher.includes_spam
        found = [
            entry
            for entry in self._entries(user)
            if wanted <= set(entry.labels)
            and (include_spam or "SPAM" not in entry.labels)
            and matcher.matches(entry)
        ]
        page = found[offset : offset + limit]
        answer: dict[str, Any] = {"resultSizeEstimate": len(found)}
        if page:
            answer["messages"] = [{"id": e.id, "threadId": e.id} for e in page]
        if offset + limit < len(found):
            answer["nextPageToken"] = str(offset + limit)
        return answer

    def get(self, user: str, message_id: str, fmt: str, names: list[str]) -> dict[str, Any]:
        """users.messages.get in `fmt` (minimal, metadata, full or raw)."""
        entry = next((e for e in self._entries(user) if e.id == message_id), None)
        if entry is None:
            raise _not_found()
        parsed = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(entry.data)
        answer: dict[str, Any] = {
            "id": entry.id,
            "threadId": entry.id,
            "labelIds": list(entry.labels),
            "snippet": _snippet(parsed),
            "sizeEstimate": len(entry.data),
            "historyId": str(entry.history),
            "internalDate": str(entry.internal_ms),
        }
        if fmt == "raw":
            answer["raw"] = base64.urlsafe_b64encode(entry.data).decode("ascii")
        elif fmt == "metadata":
            wanted = {name.lower() for name in names}
            answer["payload"] = {
                "partId": "",
                "mimeType": parsed.get_content_type(),
                "filename": "",
                "headers": [
                    h for h in _headers(parsed) if not wanted or h["name"].lower() in wanted
                ],
            }
        elif fmt == "full":
            answer["payload"] = _part(parsed, "")
        return answer

    def _entries(self, user: str) -> list[_Entry]:
        entries = []
        stored = self.mailbox.messages(user) if self.mailbox is not None else []
        for index, copy in enumerate(stored):
            label = "SPAM" if copy.folder == SPAM else "INBOX"
            if copy.folder not in (SPAM, INBOX):
                label = copy.folder.upper()
            # Gmail files every inbox message under a tab; the lab's test mail is Primary.
            labels = (
                (label, "UNREAD", "CATEGORY_PERSONAL") if label == "INBOX" else (label, "UNREAD")
            )
            entries.append(
                _Entry(
                    _message_id(copy.received_at, index),
                    labels,
                    copy.data,
                    _ms(copy.received_at),
                    1000 + index,
                )
            )
        for index, sent in enumerate(self._sent.get(user, ())):
            entries.append(
                _Entry(
                    _message_id(sent.at, _SENT_BASE + index),
                    ("SENT",),
                    sent.data,
                    _ms(sent.at),
                    1000 + _SENT_BASE + index,
                )
            )
        entries.sort(key=lambda e: (e.internal_ms, e.history), reverse=True)
        return entries


# -- helpers -----------------------------------------------------------------------------


def _one(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[-1] if values else None


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def _message_id(when: datetime, index: int) -> str:
    """A 16-hex id like Gmail's: milliseconds, then the copy's index in its mailbox."""
    return f"{_ms(when) & 0xFFFFFFFFFFF:011x}{index & 0xFFFFF:05x}"


def _raw_field(body: bytes) -> bytes:
    """The decoded `raw` of a send request's JSON body; 400s as Google words them."""
    try:
        request = json.loads(body or b"{}")
    except ValueError:
        raise _bad("Invalid JSON payload received.") from None
    raw = request.get("raw") if isinstance(request, dict) else None
    if not raw:
        raise _bad(
            "'raw' RFC822 payload message string or uploading message via /upload/* URL required"
        )
    if not isinstance(raw, str):
        raise _bad("Invalid value for ByteString")
    # Google takes both base64 alphabets, padded or not.
    text = raw.strip().replace("-", "+").replace("_", "/").rstrip("=")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise _bad(f"Invalid value for ByteString: {raw[:40]}") from None


def _recipients(parsed: Any) -> list[str]:
    """Addresses of To, Cc and Bcc; 400 for a malformed one or none at all."""
    found: list[str] = []
    for name in ("To", "Cc", "Bcc"):
        values = [str(v) for v in parsed.get_all(name) or []]
        for display, address in email.utils.getaddresses(values):
            if not address and not display:
                continue
            local, at, domain = address.partition("@")
            if not (local and at and domain) or any(c.isspace() for c in address):
                raise _bad(f"Invalid {name} header")
            if address.lower() not in (a.lower() for a in found):
                found.append(address)
    if not found:
        raise _bad("Recipient address required")
    return found


def _without_header(head: bytes, name: str) -> bytes:
    """The header block without every `name` field (continuation lines included)."""
    kept: list[bytes] = []
    dropping = False
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t"):
            if not dropping:
                kept.append(line)
            continue
        field_name = line.split(b":", 1)[0].strip().lower()
        dropping = field_name == name.encode()
        if not dropping:
            kept.append(line)
    return b"\r\n".join(kept)


def _headers(parsed: Any) -> list[dict[str, str]]:
    return [{"name": str(k), "value": " ".join(str(v).split())} for k, v in parsed.items()]


def _part(part: Any, part_id: str) -> dict[str, Any]:
    """A MessagePart in the `full` format: headers, body data base64url, parts."""
    answer: dict[str, Any] = {
        "partId": part_id,
        "mimeType": part.get_content_type(),
        "filename": part.get_filename() or "",
        "headers": _headers(part),
    }
    if part.is_multipart():
        answer["body"] = {"size": 0}
        children = part.get_payload() or []
        answer["parts"] = [
            _part(child, f"{part_id}.{i}" if part_id else str(i))
            for i, child in enumerate(children)
        ]
        return answer
    data = b""
    with contextlib.suppress(Exception):
        decoded = part.get_payload(decode=True)
        data = decoded if isinstance(decoded, bytes) else b""
    answer["body"] = {"size": len(data)}
    if data:
        answer["body"]["data"] = base64.urlsafe_b64encode(data).decode("ascii")
    return answer


def _snippet(parsed: Any) -> str:
    for part in parsed.walk():
        if part.get_content_type() == "text/plain":
            with contextlib.suppress(Exception):
                data = part.get_payload(decode=True)
                if isinstance(data, bytes):
                    charset = part.get_content_charset() or "utf-8"
                    return " ".join(data.decode(charset, "replace").split())[:200]
    return ""


class _Query:
    """A Gmail search (`q`) over one mailbox's entries, the subset the lab needs."""

    def __init__(self, text: str, now: datetime) -> None:
        self.includes_spam = False
        self.tests: list[tuple[bool, Callable[[_Entry, Any], bool]]] = []
        for negated, operator, whole, quoted in _TERM.findall(text):
            value = quoted if whole.startswith('"') else whole
            test = self._test(operator.lower(), value, now)
            if test is not None:
                self.tests.append((bool(negated), test))

    def _test(
        self, operator: str, value: str, now: datetime
    ) -> Callable[[_Entry, Any], bool] | None:
        lowered = value.lower()
        if operator in ("in", "label", "is"):
            if lowered == "anywhere":
                self.includes_spam = True
                return None
            label = {"spam": "SPAM", "inbox": "INBOX", "sent": "SENT", "unread": "UNREAD"}.get(
                lowered, value.upper()
            )
            if label == "SPAM":
                self.includes_spam = True
            return lambda entry, _h: label in entry.labels
        if operator == "rfc822msgid":
            target = value.strip().strip("<>")
            return lambda _e, h: (h.get("Message-ID") or "").strip().strip("<>") == target
        if operator in ("from", "to", "subject", "cc"):
            header = {"from": "From", "to": "To", "subject": "Subject", "cc": "Cc"}[operator]
            return lambda _e, h: (
                lowered in " ".join(str(v) for v in h.get_all(header) or []).lower()
            )
        if operator == "newer_than":
            age = _AGE.fullmatch(lowered)
            if age is None:
                return lambda _e, _h: False
            since = _ms(now) - int(age[1]) * _AGE_SECONDS[age[2]] * 1000
            return lambda entry, _h: entry.internal_ms >= since
        needle = f"{operator}:{value}" if operator else value
        needle_bytes = needle.lower().encode("utf-8", "replace")
        return lambda entry, _h: needle_bytes in entry.data.lower()

    def matches(self, entry: _Entry) -> bool:
        if not self.tests:
            return True
        headers = _LazyHeaders(entry.data)
        return all(test(entry, headers) != negated for negated, test in self.tests)


class _LazyHeaders:
    """The entry's headers, parsed on first use: a free-text search never parses them."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._parsed: Any = None

    def _headers(self) -> Any:
        if self._parsed is None:
            self._parsed = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(
                self._data
            )
        return self._parsed

    def get(self, name: str) -> Any:
        return self._headers().get(name)

    def get_all(self, name: str) -> Any:
        return self._headers().get_all(name)
