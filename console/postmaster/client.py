"""Building the Postmaster Tools v2 client and running its requests.

The service is built from the discovery document bundled with google-api-python-client
(`static_discovery=True`), so building it needs no network. `--endpoint` replaces the
root URL (the lab's emulator, or a proxy). Every request goes through one hardened
httplib2 Http (console.google_http), wrapped by google-auth so tokens refresh
themselves, the token endpoint's calls going through the same Http:

- redirects are never followed (the bearer token stays with the endpoint given);
- an answer is read up to `MAX_RESPONSE` bytes, compressed or not;
- each request, the token endpoint's included, ends within `timeout` seconds in all,
  even against a server that drips a byte at a time (its sockets are shut down);
- secrets are scrubbed from messages and, while a request runs, from the records of
  the Google client's and httplib2's loggers; httplib2's debug printing is off.

Failures become `PostmasterError` with a one-line message that says what to do:
sign in again for a dead token, verify the domain for PERMISSION_DENIED, wait for a
rate limit. 429 and 5xx answers and dropped connections are retried with exponential
backoff first: every v2 method only reads (domainStats.query and batchQuery are POSTs
that read), so asking again is safe.
"""

from __future__ import annotations

import json
import socket
import ssl
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from console.errors import MailscopeError
from console.google_http import (
    Exchange,
    NotResent,
    RequestTimeout,
    ResponseTooLarge,
    exchange_of,
    first_line,
    hardened_http,
    location_host,
    redact,
    scrubbed_logs,
    secrets_of,
)
from console.literal import printable

API_NAME = "gmailpostmastertools"
API_VERSION = "v2"
DEFAULT_TIMEOUT = 30.0
"""Seconds one HTTP request may take in all (connect, send, read the whole answer)."""

RETRIES = 3
"""Extra attempts after a 429 or 5xx answer or a dropped connection."""

BACKOFF = 1.0
"""First retry delay in seconds; each later one doubles."""

MAX_RESPONSE = 50 * 1024 * 1024
"""Bytes of one answer read, after decompression (a page of 200 domains' days is far
smaller); a larger or endless answer is cut off."""

LOGIN_HINT = "sign in again: mailscope postmaster --login"

T = TypeVar("T")


class PostmasterError(MailscopeError):
    """A Postmaster request failed; `kind` is a stable category.

    Kinds: `auth` (token expired or revoked), `permission` (domain not verified for
    this account), `rate-limit`, `server`, `timeout`, `network`, `malformed`,
    `not-found`, `bad-request`, `config`, `redirect` (the endpoint redirected; never
    followed).
    """

    def __init__(self, kind: str, msg: str) -> None:
        super().__init__("postmaster", msg)
        self.kind = kind


def build_service(
    credentials: Any,
    *,
    endpoint: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    cafile: Path | str | None = None,
    api_name: str = API_NAME,
    api_version: str = API_VERSION,
    http: Any = None,
) -> Any:
    """The gmailpostmastertools v2 resource, offline from the bundled discovery document.

    Args:
        credentials: google-auth credentials (see console.postmaster.credentials).
        endpoint: a root URL replacing https://gmailpostmastertools.googleapis.com/
            (e.g. `http://127.0.0.1:PORT/` for the lab).
        timeout: seconds each HTTP request may take in all (connect, send, the whole
            answer), the token endpoint's too; a server dripping bytes cannot stretch it.
        cafile: an extra CA bundle to trust (the lab CA for an https endpoint).
        api_name, api_version: another bundled Google API (the Gmail API: gmail, v1).
        http: the httplib2.Http to authorize instead of a new hardened one (it carries
            its own timeout and CA bundle then; the Gmail API's records a transcript).

    Raises:
        PostmasterError: the endpoint is not an http(s) URL.
    """
    import google_auth_httplib2
    from googleapiclient.discovery import build

    options: dict[str, Any] = {}
    if endpoint:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise PostmasterError("config", f"--endpoint must be an http(s) URL, not {endpoint!r}")
        options["api_endpoint"] = endpoint if endpoint.endswith("/") else endpoint + "/"
    if http is None:
        http = hardened_http(
            Exchange(credentials, record=False),
            timeout=timeout,
            cafile=cafile,
            limit=MAX_RESPONSE,
            deadline=timeout,
            resend=api_name == API_NAME,  # Postmaster only reads: a stale connection may retry
        )
    # AuthorizedHttp refreshes the token through google_auth_httplib2.Request(http):
    # the token endpoint gets the same hardened Http.
    authorized = google_auth_httplib2.AuthorizedHttp(credentials, http=http)
    return build(
        api_name,
        api_version,
        http=authorized,
        static_discovery=True,
        cache_discovery=False,
        client_options=options or None,
    )


def execute(
    request: Any,
    *,
    what: str,
    retries: int = RETRIES,
    backoff: float = BACKOFF,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Run one googleapiclient request, retrying 429/5xx, and return its JSON object.

    Args:
        request: an HttpRequest from the service (`service.domains().list()`).
        what: what is being asked, for messages ("stats for example.com").
        retries: extra attempts after a retryable failure.
        backoff: the first retry delay; it doubles each time.
        sleep: the delay function (tests pass a no-op).

    Raises:
        PostmasterError: with a one-line message; never another exception type.
    """
    secrets = _secrets_for(request)
    with scrubbed_logs(secrets):
        return _execute(request, what, retries, backoff, sleep, secrets)


def _execute(
    request: Any,
    what: str,
    retries: int,
    backoff: float,
    sleep: Callable[[float], None],
    secrets: Callable[[], list[str]],
) -> dict[str, Any]:
    delay = backoff
    for attempt in range(retries + 1):
        try:
            answer = request.execute(num_retries=0)
        except Exception as exc:
            error = translate(exc, what)
            error = PostmasterError(error.kind, printable(redact(error.msg, secrets())))
            if error.kind in ("rate-limit", "server", "network") and attempt < retries:
                sleep(delay)
                delay *= 2
                continue
            if attempt and error.kind in ("rate-limit", "server", "network"):
                error = PostmasterError(error.kind, f"{error.msg} (after {attempt + 1} attempts)")
            raise error from None
        if not isinstance(answer, dict):
            raise PostmasterError("malformed", f"{what}: the answer is not a JSON object")
        return answer
    raise AssertionError("unreachable")  # pragma: no cover


def _secrets_for(request: Any) -> Callable[[], list[str]]:
    """The secrets a request's credentials hold, read again at each use (a refresh
    brings a new access token)."""
    authorized = getattr(request, "http", None)
    exchange = exchange_of(authorized)
    if exchange is not None:
        return exchange.secrets
    credentials = getattr(authorized, "credentials", None)
    return lambda: secrets_of(credentials)


def abort(service: Any) -> None:
    """Shut down the sockets of a service built by `build_service`, for good.

    For a caller whose worker thread must end now (the user cancelled, the program
    exits): a request blocked reading returns at once, later ones fail with a timeout.
    """
    exchange = exchange_of(getattr(service, "_http", None))
    if exchange is not None:
        exchange.abort()


def translate(exc: BaseException, what: str) -> PostmasterError:
    """Turn whatever the Google client raised into a one-line PostmasterError."""
    from google.auth.exceptions import RefreshError, TransportError
    from googleapiclient.errors import HttpError

    if isinstance(exc, PostmasterError):
        return exc
    if isinstance(exc, RefreshError):
        return PostmasterError(
            "auth",
            f"{what}: the credentials could not be refreshed ({first_line(exc)}); {LOGIN_HINT}",
        )
    if isinstance(exc, HttpError):
        return _from_http_error(exc, what)
    if isinstance(exc, ResponseTooLarge):
        return PostmasterError(
            "malformed",
            f"{what}: the answer is larger than {exc.limit // 1_048_576} MiB "
            "(or inflates past it); it was cut off",
        )
    if isinstance(exc, RequestTimeout):
        if exc.seconds is None:
            return PostmasterError("timeout", f"{what}: stopped before the answer")
        return PostmasterError("timeout", f"{what}: no answer within {exc.seconds:g} s")
    if isinstance(exc, NotResent):
        return PostmasterError("network", f"{what}: the connection dropped before the answer")
    if isinstance(exc, TimeoutError | socket.timeout):
        return PostmasterError("timeout", f"{what}: no answer within the timeout")
    if isinstance(exc, json.JSONDecodeError | ValueError | UnicodeDecodeError):
        return PostmasterError("malformed", f"{what}: the answer is not valid JSON")
    import httplib2

    if isinstance(exc, httplib2.ServerNotFoundError):
        return PostmasterError("network", f"{what}: cannot resolve the API host: {first_line(exc)}")
    if isinstance(exc, httplib2.HttpLib2Error):
        return PostmasterError("network", f"{what}: HTTP failed: {first_line(exc)}")
    if isinstance(exc, ssl.SSLError):
        return PostmasterError("network", f"{what}: TLS failed: {first_line(exc)}")
    if isinstance(exc, TransportError | OSError | ConnectionError):
        if "timed out" in str(exc):
            return PostmasterError("timeout", f"{what}: no answer within the timeout")
        return PostmasterError("network", f"{what}: cannot reach the API: {first_line(exc)}")
    return PostmasterError("malformed", f"{what}: unexpected answer: {first_line(exc)}")


def _from_http_error(exc: Any, what: str) -> PostmasterError:
    status = int(getattr(exc.resp, "status", 0) or 0)
    reason, message = _google_error(exc.content)
    detail = f" ({message})" if message else ""
    if 300 <= status < 400:
        return PostmasterError(
            "redirect",
            f"{what}: the endpoint redirected (HTTP {status}) to {location_host(exc.resp)}; "
            "redirects are never followed: point --endpoint at the API itself",
        )
    if status == 401 or reason == "UNAUTHENTICATED":
        return PostmasterError(
            "auth", f"{what}: the token was refused (expired or revoked); {LOGIN_HINT}"
        )
    if status == 403 or reason == "PERMISSION_DENIED":
        return PostmasterError(
            "permission",
            f"{what}: permission denied{detail}; the domain must be verified in Postmaster "
            "Tools for this account, and the token needs the postmaster.traffic.readonly scope",
        )
    if status == 404:
        return PostmasterError("not-found", f"{what}: not found{detail}")
    if status == 429 or reason == "RESOURCE_EXHAUSTED":
        return PostmasterError(
            "rate-limit", f"{what}: rate limited by Google (429){detail}; try again later"
        )
    if status >= 500:
        return PostmasterError("server", f"{what}: the API failed with HTTP {status}{detail}")
    return PostmasterError("bad-request", f"{what}: HTTP {status}{detail}")


def _google_error(content: bytes | None) -> tuple[str | None, str | None]:
    """(status, message) from Google's JSON error body; None for what is missing."""
    try:
        body = json.loads(content or b"")
        error = body["error"]
        status = error.get("status")
        message = error.get("message")
    except (ValueError, TypeError, KeyError, AttributeError):
        return None, None
    return (
        status if isinstance(status, str) else None,
        first_line(message) if isinstance(message, str) else None,
    )
