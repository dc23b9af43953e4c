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

googleapiclient blocks: each call runs in a thread under `asyncio.timeout`; when the
time is up, the call's sockets are shut down so the thread ends too (a slow-drip
server cannot keep it, or the program's exit, waiting). Every failure becomes one line
that says what to do (sign in again, grant the missing scope, wait for the quota);
`send_gmail_api` never raises, `fetch_delivery_gmail` raises only `GmailApiError`.

The endpoint is not trusted further than it must be: redirects are never followed (a
token must not travel to another host, a message must not be posted twice), an answer
is read up to `MAX_RESPONSE` bytes (compressed or not), and a send is never retried,
not even by httplib2 on a dropped connection: a lost answer may hide a sent message.
Secrets (access and refresh tokens, client secrets, service-account keys and the JWT
assertions made from them) are scrubbed from every line shown and, while a call runs,
from the records of the Google client's and httplib2's loggers. The hardened httplib2
pieces are shared with Postmaster: see console.google_http.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import email.parser
import email.policy
import email.utils
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from console.errors import MailscopeError
from console.google_http import (
    LOGGERS,
    REDACTED,
    Exchange,
    NotResent,
    ResponseTooLarge,
    connection_types,
    first_line,
    google_error,
    hardened_http,
    load_client,
    location_host,
    redact,
    safe_url,
    scrubbed_logs,
    secrets_of,
)
from console.literal import printable
from console.send.guard import SendGuard
from console.send.oauth import GMAIL_READ_SCOPE, GMAIL_SEND_SCOPE
from console.send.readback import Delivery, analyse_delivery
from console.send.result import SendResult
from console.send.smtp import message_id_of

__all__ = [
    "CATEGORIES",
    "GMAIL_ROOT",
    "LOGGERS",
    "MAX_MESSAGE",
    "MAX_RESPONSE",
    "READONLY_SCOPE",
    "READ_SCOPES",
    "REDACTED",
    "SEND_SCOPE",
    "SEND_SCOPES",
    "GmailApiError",
    "NotResent",
    "ResponseTooLarge",
    "fetch_delivery_gmail",
    "placement",
    "redact",
    "scrubbed_logs",
    "send_gmail_api",
    "translate",
]
"""The names others use; LOGGERS, REDACTED, redact, scrubbed_logs and the exceptions
live in console.google_http and stay importable from here."""

GMAIL_ROOT = "https://gmail.googleapis.com/"
"""Google's root URL (used when no endpoint override is given)."""

SEND_SCOPE = GMAIL_SEND_SCOPE
READONLY_SCOPE = GMAIL_READ_SCOPE
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

MAX_RESPONSE = 50 * 1024 * 1024
"""Bytes of one HTTP answer read, after decompression: a MAX_MESSAGE message as
base64url inside JSON (`get(format=raw)`) fits; a larger or endless answer is cut off."""

LIST_PAGE = 10

CATEGORIES: dict[str, str] = {
    "CATEGORY_PERSONAL": "Primary",
    "CATEGORY_PROMOTIONS": "Promotions",
    "CATEGORY_SOCIAL": "Social",
    "CATEGORY_UPDATES": "Updates",
    "CATEGORY_FORUMS": "Forums",
}
"""Gmail's inbox tabs by system label. A tab is a content category, never spam."""

LOGIN_HINT = "sign in again (the token expired or was revoked)"


class GmailApiError(MailscopeError):
    """A Gmail API call failed; `kind` is a stable category, the message one line.

    Kinds: `auth`, `scope`, `permission`, `precondition`, `rate-limit`, `bad-request`,
    `not-found`, `server`, `timeout`, `network`, `malformed`, `config`, `redirect`.
    """

    def __init__(self, kind: str, msg: str) -> None:
        super().__init__("gmail api", msg)
        self.kind = kind


# -- the recorded HTTP exchange (console.google_http) ---------------------------------------

_Exchange = Exchange
_safe_url = safe_url
_secrets_of = secrets_of
_load_client = load_client
_location_host = location_host
_first_line = first_line
_google_error = google_error


def _connection_types(exchange: Exchange) -> dict[str, type]:
    """httplib2 connection classes that cap answers, never re-send a POST, never print."""
    return connection_types(exchange, limit=MAX_RESPONSE)


def _recording_http(exchange: Exchange, timeout: float, cafile: str | None) -> Any:
    """An httplib2.Http that writes each request and answer's first line to `exchange`,
    follows no redirect and reads answers up to MAX_RESPONSE (`hardened_http`). The
    call's own asyncio timeout bounds it, so no per-request deadline of its own."""
    return hardened_http(exchange, timeout=timeout, cafile=cafile, limit=MAX_RESPONSE)


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
    if isinstance(exc, ResponseTooLarge):
        return GmailApiError(
            "malformed",
            f"{what}: the endpoint's answer is larger than {exc.limit // 1_048_576} MiB "
            "(or inflates past it); it was cut off",
        )
    if isinstance(exc, NotResent):
        if what == "send":
            return GmailApiError(
                "network",
                "send: the connection dropped after the message went out and before Gmail "
                "answered; it may have been sent: check the Sent folder before sending again",
            )
        return GmailApiError("network", f"{what}: the connection dropped before the answer")
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
    if 300 <= status < 400:
        return GmailApiError(
            "redirect",
            f"{what}: the endpoint redirected (HTTP {status}) to {_location_host(exc.resp)}; "
            "redirects are never followed: point the endpoint at the API itself",
        )
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
    await asyncio.to_thread(_load_client)
    exchange = _Exchange(credentials)
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
        with scrubbed_logs(exchange.secrets):
            async with asyncio.timeout(timeout):
                answer, request_ms = await asyncio.to_thread(call)
    except TimeoutError:
        exchange.abort()
        exchange.add("*", f"no answer within {timeout:g} s")
        result.error = (
            f"send: no answer from the Gmail API within {timeout:g} s; it may "
            "have been sent: check the Sent folder before sending again"
        )
    except asyncio.CancelledError:
        exchange.abort()
        raise
    except Exception as exc:
        result.error = printable(exchange.scrub(translate(exc, "send", SEND_SCOPE).msg))
    else:
        result.timings_ms["request"] = request_ms
        if not isinstance(answer, dict):
            result.error = (
                "send: the answer is not the Gmail API's (not a JSON object); the message "
                "may have been sent: check the Sent folder"
            )
        elif not isinstance(answer.get("id"), str):
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


# -- readback -------------------------------------------------------------------------------


def placement(labels: Sequence[str]) -> tuple[str | None, str | None]:
    """(folder, category) of a copy by its Gmail labels; (None, None) when it is not a
    received copy: a draft, or the account's own SENT copy.

    SPAM is Spam, TRASH Trash, INBOX the inbox with its tab (CATEGORY_PROMOTIONS is the
    Promotions tab: the inbox, not spam). A received copy in neither (a filter archived
    it) is `Archived`, with its category. A message sent to the account itself carries
    SENT and INBOX: it counts as received.
    """
    present = {str(label).upper() for label in labels}
    if "DRAFT" in present:
        return None, None
    category = next((name for label, name in CATEGORIES.items() if label in present), None)
    if "SPAM" in present:
        return "Spam", None
    if "TRASH" in present:
        return "Trash", None
    if "INBOX" in present:
        return "INBOX", category
    if "SENT" in present:
        return None, None
    return "Archived", category


def _header(data: bytes, name: str) -> str | None:
    try:
        value = (
            email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(data).get(name)
        )
    except Exception:
        return None
    return "".join(str(value).split()) if value is not None else None


def _bare_id(message_id: str) -> str:
    return "".join(message_id.split()).strip("<>").replace('"', "")


def _query(test_id: str | None, message_id: str | None) -> str:
    if message_id:
        return f"rfc822msgid:{_bare_id(message_id)} in:anywhere"
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
    authserv_ids: Sequence[str] = (),
) -> Delivery | None:
    """Find the delivered copy in the Gmail account of `credentials` and analyse it.

    Searches `rfc822msgid:<message_id>` first: Gmail's search does not index custom
    headers, so the Message-ID is what finds the copy at Google. Without a Message-ID,
    the test id is searched as text (the lab matches its X-Mailscope-Test header; real
    Gmail finds it only if the subject or body holds it). Spam and Trash are searched
    too (`in:anywhere`, `includeSpamTrash`). The account's own SENT copy and drafts are
    skipped: only a received copy has the receiver's verdicts. A copy must carry the
    Message-ID searched for and, with both ids, `X-Mailscope-Test: test_id` too.

    Args:
        credentials: google-auth credentials with gmail.readonly (or a wider scope).
        test_id: the X-Mailscope-Test value.
        message_id: the Message-ID header of the sent message (preferred).
        endpoint: a root URL instead of Google's (the lab's `Lab.gmail_endpoint`).
        wait: seconds to keep polling for the copy to arrive.
        timeout: seconds each API call may take.
        sent_at: when it was sent (the delay of the first hop and the total).
        user_id: `me` or the account's address.
        cafile: an extra CA bundle for an https endpoint.
        sleep: the pause between polls (tests may pass a no-op).
        authserv_ids: the receiver's authserv-ids (`mx.google.com`): when given, only
            their Authentication-Results are believed (`analyse_delivery`).

    Returns:
        The Delivery (folder INBOX, Spam, Trash or Archived, and the inbox tab as its
        category, from the labels), or None when nothing arrived within `wait`.

    Raises:
        GmailApiError: one line: neither id given, the token refused, a missing scope,
            the quota spent, no answer within `timeout`, an answer that is not Gmail's.
    """
    if not (test_id or message_id):
        raise GmailApiError("config", "readback needs the test id or the Message-ID to look for")
    query = _query(test_id, message_id)
    wanted_id = _bare_id(message_id) if message_id else None
    await asyncio.to_thread(_load_client)
    exchange = _Exchange(credentials)
    holder: dict[str, Any] = {}
    seen: set[str] = set()

    def service() -> Any:
        if "service" not in holder:
            http = _recording_http(exchange, timeout, cafile)
            holder["service"] = _service(credentials, endpoint, timeout, http)
        return holder["service"]

    def malformed(what: str) -> GmailApiError:
        return GmailApiError("malformed", f"readback: the Gmail API answered {what}")

    def look() -> tuple[bytes, str, str | None] | None:
        messages = service().users().messages()
        answer = messages.list(
            userId=user_id, q=query, maxResults=LIST_PAGE, includeSpamTrash=True
        ).execute(num_retries=1)
        if not isinstance(answer, dict):
            raise malformed("a list that is not a JSON object")
        items = answer.get("messages") or []
        if not isinstance(items, list):
            raise malformed("a list without a list of messages")
        for item in items[:LIST_PAGE]:
            ident = item.get("id") if isinstance(item, dict) else None
            if not isinstance(ident, str) or ident in seen:
                continue
            got = messages.get(userId=user_id, id=ident, format="raw").execute(num_retries=1)
            if not isinstance(got, dict):
                raise malformed("a message that is not a JSON object")
            labels = got.get("labelIds") or []
            labels = [str(label) for label in labels] if isinstance(labels, list) else []
            raw = got.get("raw")
            if not isinstance(raw, str):
                raise malformed("a message without its raw form")
            folder, category = placement(labels)
            if folder is None:  # the SENT copy, a draft: not a received copy
                seen.add(ident)
                continue
            try:
                data = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
            except (binascii.Error, ValueError):
                raise malformed("a raw form that is not base64url") from None
            found_id = _header(data, "Message-ID")
            if wanted_id is not None and (found_id or "").strip("<>") != wanted_id:
                seen.add(ident)  # search matched loosely: not the message sent
                continue
            if (
                test_id
                and message_id
                and _header(data, "X-Mailscope-Test") != "".join(test_id.split())
            ):
                seen.add(ident)
                continue
            return data, folder, category
        return None

    deadline = time.monotonic() + max(0.0, wait)
    pause = POLL_FIRST
    try:
        with scrubbed_logs(exchange.secrets):
            while True:
                try:
                    async with asyncio.timeout(timeout):
                        found = await asyncio.to_thread(look)
                except TimeoutError:
                    raise GmailApiError(
                        "timeout", f"readback: no answer from the Gmail API within {timeout:g} s"
                    ) from None
                except GmailApiError as exc:
                    raise GmailApiError(exc.kind, printable(exchange.scrub(exc.msg))) from None
                except Exception as exc:
                    error = translate(exc, "readback", READONLY_SCOPE)
                    raise GmailApiError(error.kind, printable(exchange.scrub(error.msg))) from None
                if found is not None:
                    data, folder, category = found
                    return analyse_delivery(
                        data,
                        sent_at=sent_at,
                        folder=folder,
                        category=category,
                        authserv_ids=authserv_ids,
                    )
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                await sleep(min(pause, remaining))
                pause = min(pause * 2, POLL_MAX)
    finally:
        exchange.abort()  # a thread still reading after a timeout or a cancel ends now
