"""Sending a test message through the Gmail API, and reading the delivered copy back.

The same google-api-python-client as Postmaster, built offline from its bundled gmail
v1 discovery document (`console.postmaster.client.build_service`), root URL overridden
for the lab or a proxy, with the credential kinds of Postmaster
(`console.postmaster.credentials.load_credentials(..., scopes=SEND_SCOPES)`, a token file,
or `lab_credentials()`).

- `send_gmail_api`: `users.messages.send` with the raw message. Returns a SendResult
  (`via="gmail-api"`): the message id and labels as the reply, the request's time, and a
  transcript of the HTTP exchanges (method, URL, status; never a header, body or token).
- `fetch_delivery_gmail`: `users.messages.list` (`rfc822msgid:` or the test id) and
  `get(format=raw)`, polled until the copy arrives; analysed by
  `console.send.readback.analyse_delivery` with the folder its labels say.

googleapiclient blocks: each call runs in a thread under `asyncio.timeout`. Every
failure becomes one line that says what to do (sign in again, grant the missing scope,
wait for the quota); `send_gmail_api` never raises, `fetch_delivery_gmail` raises only
`GmailApiError`. A send is never retried: a lost answer may hide a sent message.
"""

from __future__ import annotations

import asyncio
import base64
import email.parser
import email.policy
import email.utils
import json
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from console.errors import MailscopeError
from console.ports.model import TranscriptLine
from console.send.guard import SendGuard
from console.send.readback import Delivery, analyse_delivery
from console.send.result import SendResult
from console.send.smtp import message_id_of

GMAIL_ROOT = "https://gmail.googleapis.com/"
"""Google's root URL (used when no endpoint override is given)."""

SEND_SCOPE = "https://www.googleapis.com/auth/gmail.send"
READONLY_SCOPE = "https://www.googleapis.com/auth/gmail.readonly"
SEND_SCOPES: tuple[str, ...] = (SEND_SCOPE,)
"""What `load_credentials(..., scopes=SEND_SCOPES)` asks for to send."""
READ_SCOPES: tuple[str, ...] = (READONLY_SCOPE,)
"""What readback asks for (list and get with format=raw)."""

MAX_MESSAGE = 36_700_160
"""Bytes of message the API takes (35 MiB, the discovery document's maxSize)."""

DEFAULT_TIMEOUT = 30.0
POLL_FIRST = 0.2
POLL_MAX = 2.0
"""Readback polls start fast (the lab files at once) and back off to spare the quota."""

LIST_PAGE = 10
REDACTED = "[redacted]"
LOGIN_HINT = "sign in again (the token expired or was revoked)"

_REASON_PHRASES = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    413: "Payload Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class GmailApiError(MailscopeError):
    """A Gmail API call failed; `kind` is a stable category, the message one line.

    Kinds: `auth`, `scope`, `permission`, `precondition`, `rate-limit`, `bad-request`,
    `not-found`, `server`, `timeout`, `network`, `malformed`, `config`.
    """

    def __init__(self, kind: str, msg: str) -> None:
        super().__init__("gmail api", msg)
        self.kind = kind


# -- the recorded HTTP exchange ----------------------------------------------------------


def _safe_url(uri: str) -> str:
    """The URL without query parameters that could carry a secret."""
    try:
        parts = urlsplit(uri)
        query = [
            (k, v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
            if k.lower() not in ("key", "access_token", "token", "assertion", "refresh_token")
        ]
        return urlunsplit(parts._replace(query=urlencode(query)))
    except ValueError:
        return "(unreadable URL)"


class _Exchange:
    """The transcript of one call: every HTTP request's method, URL and status line."""

    def __init__(self, secrets: list[str]) -> None:
        self.started = time.perf_counter()
        self.lines: list[TranscriptLine] = []
        self.secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)
        self._lock = threading.Lock()

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            for form in (secret, base64.b64encode(secret.encode()).decode()):
                text = text.replace(form, REDACTED)
        return text

    def add(self, direction: str, text: str) -> None:
        line = TranscriptLine(
            direction, self.scrub(text), (time.perf_counter() - self.started) * 1000
        )
        with self._lock:
            self.lines.append(line)

    def snapshot(self) -> list[TranscriptLine]:
        with self._lock:
            return list(self.lines)


def _recording_http(exchange: _Exchange, timeout: float, cafile: str | None) -> Any:
    """An httplib2.Http that writes each request and answer's first line to `exchange`."""
    import httplib2

    class RecordingHttp(httplib2.Http):
        def request(
            self, uri: str, method: str = "GET", body: Any = None, *args: Any, **kw: Any
        ) -> tuple[Any, bytes]:
            size = len(body) if isinstance(body, bytes | str) else 0
            exchange.add("C", f"{method} {_safe_url(uri)}" + (f" ({size} bytes)" if size else ""))
            try:
                response, content = super().request(uri, method, body, *args, **kw)
            except Exception as exc:
                exchange.add("*", f"no answer: {_first_line(exc)}")
                raise
            status = int(getattr(response, "status", 0) or 0)
            reason = _REASON_PHRASES.get(status, "")
            _, message = _google_error(content) if status >= 400 else (None, None)
            text = f"{status} {reason}".strip() + (f": {message}" if message else "")
            exchange.add("S", text)
            return response, content

    return RecordingHttp(timeout=timeout, ca_certs=cafile)


def _service(credentials: Any, endpoint: str | None, timeout: float, http: Any) -> Any:
    from console.postmaster.client import PostmasterError, build_service

    try:
        return build_service(
            credentials,
            endpoint=endpoint,
            timeout=timeout,
            api_name="gmail",
            api_version="v1",
            http=http,
        )
    except PostmasterError as exc:
        raise GmailApiError(
            "config", exc.msg.replace("--endpoint", "the Gmail API endpoint")
        ) from None


# -- errors ---------------------------------------------------------------------------------


def _first_line(value: object, limit: int = 200) -> str:
    if isinstance(value, BaseException) and value.args and isinstance(value.args[0], str):
        value = value.args[0]
    text = str(value).strip()
    return (text.splitlines()[0] if text else type(value).__name__)[:limit]


def _google_error(content: bytes | None) -> tuple[str | None, str | None]:
    """(reason or status, message) from a Google JSON error body; None when absent."""
    try:
        error = json.loads(content or b"")["error"]
        errors = error.get("errors") or [{}]
        reason = errors[0].get("reason") or error.get("status")
        message = error.get("message")
    except (ValueError, TypeError, KeyError, AttributeError, IndexError):
        return None, None
    return (
        reason if isinstance(reason, str) else None,
        _first_line(message) if isinstance(message, str) else None,
    )


def translate(exc: BaseException, what: str, scope: str) -> GmailApiError:
    """Whatever the Google client raised, as one line that says what to do.

    Args:
        exc: the exception.
        what: the call, for the message ("send", "readback").
        scope: the scope the call needs, named when the token lacks it.
    """
    from googleapiclient.errors import HttpError

    from console.postmaster.client import translate as translate_postmaster

    if isinstance(exc, GmailApiError):
        return exc
    if isinstance(exc, HttpError):
        return _from_http_error(exc, what, scope)
    translated = translate_postmaster(exc, what)
    message = translated.msg.replace("mailscope postmaster --login", "sign in again")
    if translated.kind == "auth":
        message = f"{what}: the credentials could not be refreshed; {LOGIN_HINT}"
    return GmailApiError(translated.kind, message)


def _from_http_error(exc: Any, what: str, scope: str) -> GmailApiError:
    status = int(getattr(exc.resp, "status", 0) or 0)
    reason, message = _google_error(exc.content)
    detail = f" ({message})" if message else ""
    short = scope.rsplit("/", 1)[-1]
    if status == 401:
        return GmailApiError("auth", f"{what}: the token was refused{detail}; {LOGIN_HINT}")
    if status == 403 and reason in ("insufficientPermissions", "ACCESS_TOKEN_SCOPE_INSUFFICIENT"):
        return GmailApiError(
            "scope",
            f"{what}: the token lacks the {short} scope ({scope}); sign in again granting it",
        )
    if status == 429 or reason in ("rateLimitExceeded", "userRateLimitExceeded"):
        return GmailApiError(
            "rate-limit", f"{what}: Gmail API quota exceeded (429){detail}; wait a minute"
        )
    if status == 403:
        return GmailApiError("permission", f"{what}: permission denied{detail}")
    if status == 400 and reason in ("failedPrecondition", "FAILED_PRECONDITION"):
        return GmailApiError(
            "precondition",
            f"{what}: Gmail refused{detail}; a service account needs domain-wide delegation "
            "and a subject (the Workspace user to act as)",
        )
    if status == 404:
        return GmailApiError("not-found", f"{what}: not found{detail}")
    if status >= 500:
        return GmailApiError("server", f"{what}: the Gmail API failed with HTTP {status}{detail}")
    if status == 400:
        return GmailApiError(
            "bad-request", f"{what}: the Gmail API refused the request (400){detail}"
        )
    return GmailApiError("bad-request", f"{what}: HTTP {status}{detail}")


# -- send ---------------------------------------------------------------------------------


def _recipient_count(message: bytes) -> int:
    try:
        headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(
            message[: 256 * 1024]
        )
        values = [str(v) for name in ("To", "Cc", "Bcc") for v in headers.get_all(name) or []]
    except Exception:
        return 1
    return max(1, len([a for _, a in email.utils.getaddresses(values) if a]))


def _endpoint_parts(endpoint: str | None) -> tuple[str | None, int | None, str]:
    parts = urlsplit(endpoint or GMAIL_ROOT)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        port = None
    return parts.hostname, port, "tls" if parts.scheme == "https" else "none"


async def send_gmail_api(
    message: bytes,
    *,
    credentials: Any,
    endpoint: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109 - also each HTTP request's timeout
    user_id: str = "me",
    cafile: str | None = None,
    guard: SendGuard | None = None,
    confirmed: bool = False,
) -> SendResult:
    """Send `message` with `users.messages.send`. Never raises (cancellation aside).

    Args:
        message: the whole message (headers and body), as it would go over SMTP.
        credentials: google-auth credentials with the gmail.send scope (or a wider one).
        endpoint: a root URL instead of https://gmail.googleapis.com/ (the lab's
            `Lab.gmail_endpoint`, a proxy).
        timeout: seconds the whole call may take (also each HTTP request's timeout).
        user_id: `me` (the credentials' account) or that account's address.
        cafile: an extra CA bundle for an https endpoint.
        guard: the session's send cap; when given, `guard.admit(confirmed=...)` decides
            first and a refusal sends nothing (the caller confirms otherwise).
        confirmed: the user confirmed this send (only read with a guard).

    Returns:
        SendResult(via="gmail-api"): `reply` "id ... labelIds SENT", `queue_id` the
        Gmail message id, `message_id` the message's Message-ID header, timings_ms
        {"request", "total"}, the transcript, or a one-line `error`.
    """
    host, port, security = _endpoint_parts(endpoint)
    result = SendResult(
        via="gmail-api",
        message_id=message_id_of(message) if isinstance(message, bytes) else None,
        host=host,
        address=host,
        port=port,
        well_known_port=443,
        security=security,
    )
    if not isinstance(message, bytes) or not message.strip():
        result.error = "not sent: the message is empty"
        return result
    if len(message) > MAX_MESSAGE:
        result.error = (
            f"not sent: the message is {len(message) / 1_048_576:.1f} MiB; the Gmail API "
            f"takes at most {MAX_MESSAGE // 1_048_576} MiB"
        )
        return result
    if guard is not None:
        refusal = guard.admit(confirmed=confirmed, recipients=_recipient_count(message))
        if refusal:
            result.error = refusal
            return result
    exchange = _Exchange(_secrets_of(credentials))
    started = time.perf_counter()
    raw = base64.urlsafe_b64encode(message).decode("ascii")

    def call() -> tuple[dict[str, Any], float]:
        http = _recording_http(exchange, timeout, cafile)
        service = _service(credentials, endpoint, timeout, http)
        request = service.users().messages().send(userId=user_id, body={"raw": raw})
        sent = time.perf_counter()
        answer = request.execute(num_retries=0)
        return answer, (time.perf_counter() - sent) * 1000

    try:
        async with asyncio.timeout(timeout):
            answer, request_ms = await asyncio.to_thread(call)
    except TimeoutError:
        exchange.add("*", f"no answer within {timeout:g} s")
        result.error = f"send: no answer from the Gmail API within {timeout:g} s"
    except Exception as exc:
        result.error = exchange.scrub(translate(exc, "send", SEND_SCOPE).msg)
    else:
        result.timings_ms["request"] = request_ms
        if not isinstance(answer, dict) or not isinstance(answer.get("id"), str):
            result.error = "send: the Gmail API answered without a message id"
        else:
            labels = answer.get("labelIds") or []
            label_text = ",".join(str(label) for label in labels) if labels else "none"
            result.accepted = True
            result.queue_id = answer["id"][:128]
            result.reply = exchange.scrub(f"id {answer['id'][:128]} labelIds {label_text}")
    result.timings_ms["total"] = (time.perf_counter() - started) * 1000
    result.transcript = exchange.snapshot()
    if result.error is not None:
        result.reply = result.reply or result.error
    return result


def _secrets_of(credentials: Any) -> list[str]:
    found = []
    for name in ("token", "refresh_token", "client_secret", "_refresh_token", "_client_secret"):
        value = getattr(credentials, name, None)
        if isinstance(value, str):
            found.append(value)
    return found


# -- readback -------------------------------------------------------------------------------


def _folder(labels: list[str]) -> str | None:
    if "SPAM" in labels:
        return "Spam"
    if "INBOX" in labels:
        return "INBOX"
    if "TRASH" in labels:
        return "Trash"
    return None


def _header(data: bytes, name: str) -> str | None:
    try:
        value = (
            email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(data).get(name)
        )
    except Exception:
        return None
    return "".join(str(value).split()) if value is not None else None


def _query(test_id: str | None, message_id: str | None) -> str:
    if message_id:
        target = "".join(message_id.split()).strip("<>").replace('"', "")
        return f"rfc822msgid:{target} in:anywhere"
    assert test_id is not None
    return f'"{test_id.replace(chr(34), "")}" in:anywhere'


async def fetch_delivery_gmail(
    *,
    credentials: Any,
    test_id: str | None = None,
    message_id: str | None = None,
    endpoint: str | None = None,
    wait: float = 10.0,
    timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109 - per API call, `wait` bounds polling
    sent_at: datetime | None = None,
    user_id: str = "me",
    cafile: str | None = None,
    sleep: Callable[[float], Any] = asyncio.sleep,
) -> Delivery | None:
    """Find the delivered copy in the Gmail account of `credentials` and analyse it.

    Searches `rfc822msgid:<message_id>` (what Gmail's search reliably finds) or, without
    a Message-ID, the test id as text (the lab matches its X-Mailscope-Test header; real
    Gmail only indexes the subject and body), in every folder. The account's own SENT
    copy is skipped: only a received copy (INBOX, Spam) has the receiver's verdicts.
    With both ids, a copy must carry `X-Mailscope-Test: test_id` too.

    Args:
        credentials: google-auth credentials with gmail.readonly (or a wider scope).
        test_id: the X-Mailscope-Test value.
        message_id: the Message-ID header of the sent message.
        endpoint: a root URL instead of Google's (the lab's `Lab.gmail_endpoint`).
        wait: seconds to keep polling for the copy to arrive.
        timeout: seconds each API call may take.
        sent_at: when it was sent (the delay of the first hop and the total).
        user_id: `me` or the account's address.
        cafile: an extra CA bundle for an https endpoint.
        sleep: the pause between polls (tests may pass a no-op).

    Returns:
        The Delivery (folder INBOX or Spam from the labels), or None when nothing
        arrived within `wait`.

    Raises:
        GmailApiError: one line: neither id given, the token refused, a missing scope,
            the quota spent, no answer within `timeout`.
    """
    if not (test_id or message_id):
        raise GmailApiError("config", "readback needs the test id or the Message-ID to look for")
    query = _query(test_id, message_id)
    exchange = _Exchange(_secrets_of(credentials))
    holder: dict[str, Any] = {}
    seen: set[str] = set()

    def service() -> Any:
        if "service" not in holder:
            http = _recording_http(exchange, timeout, cafile)
            holder["service"] = _service(credentials, endpoint, timeout, http)
        return holder["service"]

    def look() -> tuple[bytes, list[str]] | None:
        messages = service().users().messages()
        answer = messages.list(userId=user_id, q=query, maxResults=LIST_PAGE).execute(num_retries=1)
        for item in (answer or {}).get("messages") or []:
            ident = item.get("id") if isinstance(item, dict) else None
            if not isinstance(ident, str) or ident in seen:
                continue
            got = messages.get(userId=user_id, id=ident, format="raw").execute(num_retries=1)
            labels = [str(label) for label in got.get("labelIds") or []]
            raw = got.get("raw")
            if not isinstance(raw, str):
                raise GmailApiError("malformed", "readback: a message came without its raw form")
            if _folder(labels) is None:  # the SENT copy, a draft: not a received copy
                seen.add(ident)
                continue
            data = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
            if (
                test_id
                and message_id
                and _header(data, "X-Mailscope-Test") != "".join(test_id.split())
            ):
                seen.add(ident)
                continue
            return data, labels
        return None

    deadline = time.monotonic() + max(0.0, wait)
    pause = POLL_FIRST
    while True:
        try:
            async with asyncio.timeout(timeout):
                found = await asyncio.to_thread(look)
        except TimeoutError:
            raise GmailApiError(
                "timeout", f"readback: no answer from the Gmail API within {timeout:g} s"
            ) from None
        except GmailApiError:
            raise
        except Exception as exc:
            error = translate(exc, "readback", READONLY_SCOPE)
            raise GmailApiError(error.kind, exchange.scrub(error.msg)) from None
        if found is not None:
            data, labels = found
            return analyse_delivery(data, sent_at=sent_at, folder=_folder(labels))
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        await sleep(min(pause, remaining))
        pause = min(pause * 2, POLL_MAX)
