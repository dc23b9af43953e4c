"""The HTTP under Mailscope's Google API clients (the Gmail API and Postmaster Tools).

google-api-python-client talks through httplib2, whose defaults suit a trusted peer:
it follows redirects (carrying the bearer token along for the same host and the body
of a POST for a 307/308), re-sends a request once when the connection drops, reads a
whole answer into memory and inflates gzip without a bound, and prints headers
(tokens among them) at `httplib2.debuglevel`. `hardened_http` builds an httplib2.Http
that does none of this:

- redirects are never followed (a token must not travel to another host, a message
  must not be posted twice); the 3xx answer is returned and becomes an error;
- an answer is read up to a limit (`MAX_RESPONSE` unless told), Content-Length is
  checked before reading, and gzip or deflate is inflated here within the same limit;
- a request that is not a read is never re-sent after a dropped connection (a lost
  answer may hide a sent message), unless the API only ever reads (`resend=True`);
- with a `deadline`, each request ends by then even against a server that drips a byte
  at a time: a watchdog shuts the request's sockets down (`RequestTimeout`);
- `Exchange.abort` shuts every socket of the call down, so a worker thread blocked in
  a read returns at once after an asyncio timeout or a cancel;
- debug printing is off, whatever `httplib2.debuglevel` says.

Secrets (access and refresh tokens, client secrets, private keys, JWT assertions,
bearer values) are scrubbed from text shown to people by `redact`, and from the
records of the Google client's and httplib2's loggers by `scrubbed_logs`.

Import-light: the Google libraries load only when an Http is built (`load_client`).
"""

from __future__ import annotations

import base64
import contextlib
import functools
import http.client
import json
import logging
import re
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from console.literal import printable

if TYPE_CHECKING:
    from console.ports.model import TranscriptLine

MAX_RESPONSE = 50 * 1024 * 1024
"""Bytes of one HTTP answer read, after decompression, unless a caller says otherwise."""

REDACTED = "[redacted]"

LOGGERS: tuple[str, ...] = ("googleapiclient", "google", "google_auth_httplib2", "httplib2")
"""Loggers (and their children) whose records are scrubbed while a call runs."""

REASON_PHRASES: dict[int, str] = {
    200: "OK",
    301: "Moved Permanently",
    302: "Found",
    303: "See Other",
    307: "Temporary Redirect",
    308: "Permanent Redirect",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    413: "Payload Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}

_SECRET_PARAMETERS = ("key", "access_token", "token", "assertion", "refresh_token")


class ResponseTooLarge(Exception):
    """The endpoint's answer exceeded the limit (as sent, or decompressed).

    Attributes:
        limit: the limit in bytes, for the message shown.
    """

    def __init__(self, msg: str, limit: int = MAX_RESPONSE) -> None:
        super().__init__(msg)
        self.limit = limit


class NotResent(Exception):
    """A connection dropped after a non-idempotent request went out: not sent again."""


class RequestTimeout(TimeoutError):
    """A request outlived its deadline (or its call was aborted); its sockets are shut.

    A TimeoutError, so code that already treats socket timeouts as "no answer" does so.

    Attributes:
        seconds: the deadline, or None when the call was aborted from outside.
    """

    def __init__(self, seconds: float | None) -> None:
        text = f"no answer within {seconds:g} s" if seconds is not None else "the call was aborted"
        super().__init__(text)
        self.seconds = seconds


# -- text that may be shown or logged ----------------------------------------------------


def safe_url(uri: str) -> str:
    """The URL without query parameters that could carry a secret."""
    try:
        parts = urlsplit(uri)
        query = [
            (k, v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
            if k.lower() not in _SECRET_PARAMETERS
        ]
        return urlunsplit(parts._replace(query=urlencode(query)))
    except ValueError:
        return "(unreadable URL)"


_PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(
        r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)", re.S
    ),
    re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"),
    re.compile(r"(?i)(\bBearer\s+)[^\s\"',;]+"),
    re.compile(
        r"(?i)((?:access_token|refresh_token|id_token|client_secret|assertion|private_key|"
        r"token)[\"']?\s*[:=]\s*[\"']?)[^\"'&\s,}]+"
    ),
    re.compile(r"\bya29\.[A-Za-z0-9_.-]+"),
)
"""Secret shapes scrubbed wherever they appear: PEM private keys, JWTs (service-account
assertions), bearer tokens, token fields in JSON or forms, Google access tokens."""


def redact(text: str, secrets: Sequence[str] = ()) -> str:
    """`text` without `secrets` (as sent, and base64-encoded) or any secret-shaped token."""
    for secret in sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True):
        for form in (secret, base64.b64encode(secret.encode()).decode(), json.dumps(secret)[1:-1]):
            text = text.replace(form, REDACTED)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + REDACTED, text)
    return text


def secrets_of(credentials: Any) -> list[str]:
    """The credentials' secrets as they are now (a refresh replaces the access token)."""
    found = []
    for name in (
        "token",
        "refresh_token",
        "client_secret",
        "_refresh_token",
        "_client_secret",
        "_private_key",
        "_private_key_pkcs8_pem",
    ):
        value = getattr(credentials, name, None)
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if isinstance(value, str):
            found.append(value)
    return found


def first_line(value: object, limit: int = 200) -> str:
    """The first line of an exception's message (or any value), at most `limit` characters."""
    if isinstance(value, BaseException) and value.args and isinstance(value.args[0], str):
        value = value.args[0]  # google-auth packs (message, response body) into args
    text = str(value).strip()
    return (text.splitlines()[0] if text else type(value).__name__)[:limit]


def google_error(content: bytes | None) -> tuple[str | None, str | None]:
    """(reason, else status; message) from a Google JSON error body; None when absent."""
    try:
        error = json.loads(content or b"")["error"]
        errors = error.get("errors") or [{}]
        reason = errors[0].get("reason") or error.get("status")
        message = error.get("message")
    except (ValueError, TypeError, KeyError, AttributeError, IndexError):
        return None, None
    return (
        reason if isinstance(reason, str) else None,
        first_line(message) if isinstance(message, str) else None,
    )


def location_host(response: Any) -> str:
    """The host a redirect points at, printable, for the message that it was not followed."""
    try:
        location = str(response.get("location") or "")
        host = urlsplit(location).hostname
    except (ValueError, AttributeError):
        host = None
    return printable(host[:100]) if host else "nowhere stated"


# -- logs ------------------------------------------------------------------------------------


def load_client() -> None:
    """Import the Google client now: its loggers must exist when the filters go on."""
    import google.oauth2._client  # noqa: F401
    import google_auth_httplib2  # noqa: F401
    import googleapiclient.discovery
    import googleapiclient.http
    import googleapiclient.model  # noqa: F401
    import httplib2  # noqa: F401


class _ScrubFilter(logging.Filter):
    """Rewrites a log record's message (and traceback) without the call's secrets."""

    def __init__(self, secrets: Callable[[], list[str]]) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            message = str(record.msg)
        record.msg, record.args = redact(message, self.secrets()), None
        if record.exc_info:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text, record.exc_info = redact(text, self.secrets()), None
        return True


@contextlib.contextmanager
def scrubbed_logs(
    secrets: Callable[[], list[str]], names: Sequence[str] = LOGGERS
) -> Iterator[None]:
    """While inside, records of the `names` loggers and their children lose every secret.

    A filter on a logger sees only the records made on that very logger, so it goes on
    each existing one under those names (the Google client creates its loggers at import:
    call `load_client` first).
    """
    scrub = _ScrubFilter(secrets)
    loggers = [logging.getLogger(name) for name in names]
    for name, existing in list(logging.root.manager.loggerDict.items()):
        if isinstance(existing, logging.Logger) and any(
            name == prefix or name.startswith(prefix + ".") for prefix in names
        ):
            loggers.append(existing)
    for logger in loggers:
        logger.addFilter(scrub)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(scrub)


# -- the exchange: transcript, sockets, secrets ---------------------------------------------


class Exchange:
    """One client's calls: their transcript, the sockets they opened, their secrets.

    Args:
        credentials: the google-auth credentials whose secrets are scrubbed (read again
            at each use: a refresh replaces the access token).
        record: keep a transcript (method, URL without secret parameters, status; never
            a header, body or token). A long-lived client keeps none.
    """

    def __init__(self, credentials: Any, *, record: bool = True) -> None:
        self.started = time.perf_counter()
        self.lines: list[TranscriptLine] = []
        self.record = record
        self.credentials = credentials
        self.initial = secrets_of(credentials)
        self.connections: list[http.client.HTTPConnection] = []
        self.aborted = False
        """Set by `abort`: no request of this exchange connects or sends again."""
        self.expired = threading.Event()
        """Set by a request's watchdog: its sockets are shut, it raises RequestTimeout."""
        self._lock = threading.Lock()

    def secrets(self) -> list[str]:
        """The secrets as first seen and as they are now."""
        return [*self.initial, *secrets_of(self.credentials)]

    def scrub(self, text: str) -> str:
        return redact(text, self.secrets())

    def add(self, direction: str, text: str) -> None:
        """One transcript line (scrubbed), when recording."""
        if not self.record:
            return
        from console.ports.model import TranscriptLine

        line = TranscriptLine(
            direction, self.scrub(text), (time.perf_counter() - self.started) * 1000
        )
        with self._lock:
            self.lines.append(line)

    def snapshot(self) -> list[TranscriptLine]:
        with self._lock:
            return list(self.lines)

    def opened(self, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            # Connections closed since (sock None) need no shutdown any more.
            self.connections = [c for c in self.connections if c.sock is not None]
            self.connections.append(connection)

    def shutdown(self) -> None:
        """Shut down every open socket: a thread blocked reading one returns."""
        with self._lock:
            connections = list(self.connections)
        for connection in connections:
            sock = getattr(connection, "sock", None)
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def abort(self) -> None:
        """End the exchange: shut its sockets down; later requests fail at once."""
        self.aborted = True
        self.shutdown()

    def check(self, deadline: float | None) -> None:
        """Raise RequestTimeout when the exchange was aborted or the request expired."""
        if self.aborted:
            raise RequestTimeout(None)
        if self.expired.is_set():
            raise RequestTimeout(deadline)


# -- bounded answers -------------------------------------------------------------------------


class CappedResponse(http.client.HTTPResponse):
    """An HTTP answer read in bounded pieces, decompressed here within the same bound.

    httplib2 reads the whole body with `read()` and would inflate gzip or deflate itself;
    this does both up to `limit` and drops Content-Encoding, so it never does.
    """

    limit = MAX_RESPONSE

    def read(self, amt: int | None = None) -> bytes:
        if amt is not None:
            return super().read(amt)
        try:
            return self._read_all(self.limit)
        except ResponseTooLarge:
            self.close()  # the rest is never read: let go of the socket's file at once
            raise

    def _read_all(self, limit: int) -> bytes:
        declared = self.getheader("content-length")
        if declared and declared.strip().isdigit() and int(declared) > limit:
            raise ResponseTooLarge(f"the answer announces {int(declared)} bytes", limit)
        pieces: list[bytes] = []
        size = 0
        while True:
            piece = super().read(64 * 1024)
            if not piece:
                break
            size += len(piece)
            if size > limit:
                raise ResponseTooLarge(f"the answer is over {limit} bytes", limit)
            pieces.append(piece)
        data = b"".join(pieces)
        encoding = (self.getheader("content-encoding") or "").strip().lower()
        if encoding in ("gzip", "x-gzip", "deflate", "zlib"):
            data = inflate(data, limit)
            del self.msg["content-encoding"]
        return data


def inflate(data: bytes, limit: int) -> bytes:
    """gzip, zlib or raw deflate `data`, refused (ResponseTooLarge) past `limit` bytes."""
    for wbits in (47, -15):  # gzip or zlib (auto), then raw deflate
        inflater = zlib.decompressobj(wbits)
        try:
            out = inflater.decompress(data, limit + 1)
        except zlib.error:
            continue
        if len(out) > limit or inflater.unconsumed_tail:
            raise ResponseTooLarge(f"the answer inflates to over {limit} bytes", limit)
        return out
    raise ResponseTooLarge("the answer claims compression but does not decompress", limit)


# -- httplib2 ----------------------------------------------------------------------------------


def connection_types(
    exchange: Exchange,
    *,
    limit: int = MAX_RESPONSE,
    resend: bool = False,
    deadline: float | None = None,
) -> dict[str, type]:
    """httplib2 connection classes that cap answers at `limit`, never print, register
    their sockets with `exchange`, and (unless `resend`) never re-send a request that is
    not a read after the connection dropped."""
    import httplib2

    class Response(CappedResponse):
        pass

    Response.limit = limit

    def mixin(base: type) -> type:
        class Connection(base):  # type: ignore[misc, valid-type]
            response_class = Response
            _unanswered = False

            def connect(self) -> None:
                exchange.check(deadline)
                super().connect()
                exchange.opened(self)

            def set_debuglevel(self, level: int) -> None:
                """httplib2.debuglevel would print headers, the bearer token with them."""

            def request(self, method: str, url: str, *args: Any, **kw: Any) -> None:
                exchange.check(deadline)
                if self._unanswered:
                    raise NotResent("the connection dropped before the answer")
                self._unanswered = not resend and method.upper() not in ("GET", "HEAD", "OPTIONS")
                super().request(method, url, *args, **kw)

            def getresponse(self) -> http.client.HTTPResponse:
                response = super().getresponse()
                self._unanswered = False
                return response

        return Connection

    return {
        "http": mixin(httplib2.HTTPConnectionWithTimeout),
        "https": mixin(httplib2.HTTPSConnectionWithTimeout),
    }


@functools.cache
def _http_class() -> type:
    import httplib2

    class HardenedHttp(httplib2.Http):
        """An httplib2.Http that follows no redirect, reads through capped connections,
        keeps each request within its deadline and writes its first lines to the
        exchange's transcript."""

        exchange: Exchange
        deadline: float | None
        types: dict[str, type]

        def request(
            self,
            uri: str,
            method: str = "GET",
            body: Any = None,
            headers: Any = None,
            redirections: int = 0,
            connection_type: Any = None,
        ) -> tuple[Any, bytes]:
            exchange = self.exchange
            size = len(body) if isinstance(body, bytes | str) else 0
            exchange.add("C", f"{method} {safe_url(uri)}" + (f" ({size} bytes)" if size else ""))
            scheme = urlsplit(uri).scheme.lower()
            exchange.expired.clear()
            watchdog = None
            if self.deadline is not None:

                def expire() -> None:
                    exchange.expired.set()
                    exchange.shutdown()

                watchdog = threading.Timer(self.deadline, expire)
                watchdog.daemon = True
                watchdog.start()
            try:
                exchange.check(self.deadline)
                response, content = super().request(
                    uri,
                    method,
                    body,
                    headers,
                    redirections=0,
                    connection_type=self.types.get(scheme, connection_type),
                )
                exchange.check(self.deadline)  # a late answer after the deadline is void
            except Exception as exc:
                self.drop_connections()  # a shut or half-read socket is never reused
                if exchange.aborted or exchange.expired.is_set():
                    timeout = RequestTimeout(None if exchange.aborted else self.deadline)
                    exchange.add("*", f"no answer: {timeout}")
                    raise timeout from None
                exchange.add("*", f"no answer: {first_line(exc)}")
                raise
            finally:
                if watchdog is not None:
                    watchdog.cancel()
            status = int(getattr(response, "status", 0) or 0)
            reason = REASON_PHRASES.get(status, "")
            _, message = google_error(content) if status >= 400 else (None, None)
            text = f"{status} {reason}".strip() + (f": {message}" if message else "")
            if 300 <= status < 400:
                text += f" (redirect to {location_host(response)}: not followed)"
            exchange.add("S", printable(text))
            return response, content

        def drop_connections(self) -> None:
            """Close every kept connection; shut down first, so the peer sees it even
            while an exception's traceback still holds the answer's socket file."""
            for key in list(self.connections):
                connection = self.connections.pop(key, None)
                sock = getattr(connection, "sock", None)
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(Exception):
                    connection.close()

    return HardenedHttp


def hardened_http(
    exchange: Exchange,
    *,
    timeout: float,
    cafile: Path | str | None = None,
    limit: int = MAX_RESPONSE,
    deadline: float | None = None,
    resend: bool = False,
) -> Any:
    """An httplib2.Http for a Google client that trusts the endpoint no further than it must.

    Args:
        exchange: records the transcript and the sockets (see `Exchange.abort`).
        timeout: seconds each socket operation may take (httplib2's own timeout).
        cafile: an extra CA bundle for an https endpoint.
        limit: bytes of one answer read, after decompression.
        deadline: seconds one request may take in all (a slow drip cannot stretch it);
            None leaves the bound to the caller (an asyncio timeout and `abort`).
        resend: the API only reads, so httplib2 may re-send any request once after a
            stale connection dropped; False re-sends only GET, HEAD and OPTIONS.

    Returns:
        The httplib2.Http; `.exchange` is `exchange`. Token refreshes through
        google_auth_httplib2 (AuthorizedHttp, Request) over it get the same treatment.
    """
    load_client()
    http = _http_class()(timeout=timeout, ca_certs=str(cafile) if cafile else None)
    http.exchange = exchange
    http.deadline = deadline
    http.types = connection_types(exchange, limit=limit, resend=resend, deadline=deadline)
    http.follow_redirects = False  # never carry a token or a message to another host
    http.follow_all_redirects = False
    http.forward_authorization_headers = False
    return http


def exchange_of(http: Any) -> Exchange | None:
    """The Exchange of a hardened Http, through google-auth's AuthorizedHttp if wrapped."""
    for candidate in (http, getattr(http, "http", None)):
        exchange = getattr(candidate, "exchange", None)
        if isinstance(exchange, Exchange):
            return exchange
    return None


def token_request(
    timeout: float, *, credentials: Any = None, cafile: Path | str | None = None
) -> Any:
    """A google-auth transport Request over a hardened Http, for `credentials.refresh`.

    The token endpoint gets the same treatment as the API: no redirect followed, a
    bounded answer, `timeout` as the whole request's deadline.
    """
    import google_auth_httplib2

    exchange = Exchange(credentials, record=False)
    http = hardened_http(exchange, timeout=timeout, cafile=cafile, deadline=timeout, resend=True)
    return google_auth_httplib2.Request(http)
