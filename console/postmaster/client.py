"""Building the Postmaster Tools v2 client and running its requests.

The service is built from the discovery document bundled with google-api-python-client
(`static_discovery=True`), so building it needs no network. `--endpoint` replaces the
root URL (the lab's emulator, or a proxy). Every request goes through one httplib2
connection with a timeout, wrapped by google-auth so tokens refresh themselves.

Failures become `PostmasterError` with a one-line message that says what to do:
sign in again for a dead token, verify the domain for PERMISSION_DENIED, wait for a
rate limit. 429 and 5xx answers are retried with exponential backoff first.
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

API_NAME = "gmailpostmastertools"
API_VERSION = "v2"
DEFAULT_TIMEOUT = 30.0
"""Seconds one HTTP request may take (connect and read)."""

RETRIES = 3
"""Extra attempts after a 429 or 5xx answer or a dropped connection."""

BACKOFF = 1.0
"""First retry delay in seconds; each later one doubles."""

LOGIN_HINT = "sign in again: mailscope postmaster --login"

T = TypeVar("T")


class PostmasterError(MailscopeError):
    """A Postmaster request failed; `kind` is a stable category.

    Kinds: `auth` (token expired or revoked), `permission` (domain not verified for
    this account), `rate-limit`, `server`, `timeout`, `network`, `malformed`,
    `not-found`, `bad-request`, `config`.
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
        timeout: seconds for each HTTP request.
        cafile: an extra CA bundle to trust (the lab CA for an https endpoint).
        api_name, api_version: another bundled Google API (the Gmail API: gmail, v1).
        http: the httplib2.Http to authorize instead of a new one (it carries its own
            timeout and CA bundle then; a recording one keeps a transcript).

    Raises:
        PostmasterError: the endpoint is not an http(s) URL.
    """
    import google_auth_httplib2
    import httplib2
    from googleapiclient.discovery import build

    options: dict[str, Any] = {}
    if endpoint:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise PostmasterError("config", f"--endpoint must be an http(s) URL, not {endpoint!r}")
        options["api_endpoint"] = endpoint if endpoint.endswith("/") else endpoint + "/"
    if http is None:
        http = httplib2.Http(timeout=timeout, ca_certs=str(cafile) if cafile else None)
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
    delay = backoff
    for attempt in range(retries + 1):
        try:
            answer = request.execute(num_retries=0)
        except Exception as exc:
            error = translate(exc, what)
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


def translate(exc: BaseException, what: str) -> PostmasterError:
    """Turn whatever the Google client raised into a one-line PostmasterError."""
    from google.auth.exceptions import RefreshError, TransportError
    from googleapiclient.errors import HttpError

    if isinstance(exc, PostmasterError):
        return exc
    if isinstance(exc, RefreshError):
        return PostmasterError(
            "auth",
            f"{what}: the credentials could not be refreshed ({_first_line(exc)}); {LOGIN_HINT}",
        )
    if isinstance(exc, HttpError):
        return _from_http_error(exc, what)
    if isinstance(exc, TimeoutError | socket.timeout):
        return PostmasterError("timeout", f"{what}: no answer within the timeout")
    if isinstance(exc, json.JSONDecodeError | ValueError | UnicodeDecodeError):
        return PostmasterError("malformed", f"{what}: the answer is not valid JSON")
    import httplib2

    if isinstance(exc, httplib2.ServerNotFoundError):
        return PostmasterError(
            "network", f"{what}: cannot resolve the API host: {_first_line(exc)}"
        )
    if isinstance(exc, httplib2.HttpLib2Error):
        return PostmasterError("network", f"{what}: HTTP failed: {_first_line(exc)}")
    if isinstance(exc, ssl.SSLError):
        return PostmasterError("network", f"{what}: TLS failed: {_first_line(exc)}")
    if isinstance(exc, TransportError | OSError | ConnectionError):
        if "timed out" in str(exc):
            return PostmasterError("timeout", f"{what}: no answer within the timeout")
        return PostmasterError("network", f"{what}: cannot reach the API: {_first_line(exc)}")
    return PostmasterError("malformed", f"{what}: unexpected answer: {_first_line(exc)}")


def _from_http_error(exc: Any, what: str) -> PostmasterError:
    status = int(getattr(exc.resp, "status", 0) or 0)
    reason, message = _google_error(exc.content)
    detail = f" ({message})" if message else ""
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
        _first_line(message) if isinstance(message, str) else None,
    )


def _first_line(value: object, limit: int = 200) -> str:
    if isinstance(value, BaseException) and value.args and isinstance(value.args[0], str):
        value = value.args[0]  # google-auth packs (message, response body) into args
    text = str(value).strip().splitlines()[0] if str(value).strip() else type(value).__name__
    return text[:limit]
