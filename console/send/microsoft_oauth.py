"""Access tokens for Exchange Online SMTP AUTH XOAUTH2 (Microsoft 365 submission).

Microsoft is retiring Basic authentication for SMTP AUTH in Exchange Online; the way
left is XOAUTH2 with a token from the Microsoft identity platform. Two kinds of
credentials file are read (JSON, `"type": "microsoft"`):

- an app registration's client secret (client credentials grant, scope
  `https://outlook.office365.com/.default`): the app sends as any mailbox the tenant
  admin gave it (`Add-MailboxPermission` for its service principal);
- a user's refresh token from an earlier sign-in (scope
  `https://outlook.office.com/SMTP.Send offline_access`): the token sends as that user.

One form POST to `{authority}/{tenant}/oauth2/v2.0/token` (RFC 6749 4.4 and 6). It
goes through the audit's HTTPS fetcher rather than MSAL: the login host is resolved
through the same resolver context as everything else (`--nameserver`, the lab), with
one deadline, no redirects and a capped answer. Errors become one line that names the
AADSTS code and what to do; the secret and the tokens never appear in them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from console.errors import MailscopeError
from console.files import UnreadableFile, read_regular_file

if TYPE_CHECKING:
    from console.auth.resolver import ResolverContext

DEFAULT_AUTHORITY = "https://login.microsoftonline.com"
APP_SMTP_SCOPE = "https://outlook.office365.com/.default"
USER_SMTP_SCOPES = "https://outlook.office.com/SMTP.Send offline_access"

CREDENTIALS_FILE_LIMIT = 64 * 1024
TOKEN_ANSWER_LIMIT = 64 * 1024
"""A token answer is a few KB; more is not a token endpoint."""

_AADSTS_ADVICE: dict[int, str] = {
    90002: "the tenant does not exist: check `tenant` (the directory ID or a verified "
    "domain) and the cloud of `authority`",
    700016: "the app is not registered in this tenant: check `client_id`, and that the "
    "app was consented to in this directory",
    7000215: "the client secret is wrong: give the secret's Value, not its Secret ID",
    7000222: "the client secret has expired: create a new one under the app's "
    "Certificates & secrets",
    1002012: "the scope is wrong for an app token: it must end in /.default",
    70011: "the scope was refused: the app needs the SMTP.Send (delegated) or "
    "SMTP.SendAsApp (application) permission",
    70008: "the refresh token has expired or was revoked: sign in again for a new one",
    70018: "the sign-in was declined",
    70020: "the sign-in code expired before anyone used it: start again",
    700082: "the refresh token has expired from inactivity: sign in again for a new one",
    50076: "the account needs multi-factor sign-in: sign in again interactively",
    65001: "the app has no consent for SMTP in this tenant: an admin must grant it",
    7000218: "this app is confidential: the file needs its client_secret",
}


@dataclass(frozen=True, slots=True)
class MicrosoftCredentials:
    """An app registration, with either its client secret or a user's refresh token."""

    tenant: str
    client_id: str
    client_secret: str | None = field(default=None, repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    authority: str = DEFAULT_AUTHORITY

    @property
    def token_url(self) -> str:
        return f"{self.authority.rstrip('/')}/{quote(self.tenant, safe='')}/oauth2/v2.0/token"

    def form(self) -> dict[str, str]:
        """The token request's fields."""
        if self.client_secret is not None and self.refresh_token is None:
            return {
                "grant_type": "client_credentials",
                "client_id": self.client_id,
                "client_secret": self.client_secret,
                "scope": APP_SMTP_SCOPE,
            }
        fields = {
            "grant_type": "refresh_token",
            "client_id": self.client_id,
            "refresh_token": self.refresh_token or "",
            "scope": USER_SMTP_SCOPES,
        }
        if self.client_secret is not None:
            fields["client_secret"] = self.client_secret
        return fields

    def secrets(self) -> list[str]:
        return [value for value in (self.client_secret, self.refresh_token) if value]

    @property
    def needs_sign_in(self) -> bool:
        """Neither an app secret nor a user's refresh token: a user must sign in."""
        return self.client_secret is None and self.refresh_token is None

    @property
    def device_code_url(self) -> str:
        return self.token_url.removesuffix("/token") + "/devicecode"


def read_json(path: Path) -> Any:
    """A small JSON file, read only if it is a regular file (a FIFO never opens)."""
    try:
        data = read_regular_file(path, CREDENTIALS_FILE_LIMIT)
    except UnreadableFile as exc:
        reason = "too large for a credentials file" if exc.size is not None else exc.reason
        raise MailscopeError(f"Cannot read {path}", reason) from None
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise MailscopeError(f"Cannot read {path}", "not a JSON credentials file") from None


def is_microsoft_document(document: Any) -> bool:
    """Is this parsed credentials file Microsoft's (as opposed to Google's)?"""
    return isinstance(document, dict) and document.get("type") == "microsoft"


def load_microsoft_credentials(path: Path | str, document: Any = None) -> MicrosoftCredentials:
    """Read a `"type": "microsoft"` credentials file (or its already parsed `document`).

    Raises:
        MailscopeError: the file cannot be read, or lacks what a token request needs.
    """
    path = Path(path).expanduser()
    if document is None:
        document = read_json(path)
    if not is_microsoft_document(document):
        raise MailscopeError(f"Cannot use {path}", 'not a "type": "microsoft" credentials file')

    def text(key: str) -> str | None:
        value = document.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise MailscopeError(f"Cannot use {path}", f"{key} must be a non-empty string")
        return value.strip()

    tenant, client_id = text("tenant"), text("client_id")
    if tenant is None or client_id is None:
        raise MailscopeError(f"Cannot use {path}", "it needs tenant and client_id")
    secret, refresh = text("client_secret"), text("refresh_token")
    # Neither: a user signs in once (device code) and the file keeps the refresh token.
    if (
        secret is not None
        and refresh is None
        and tenant.lower()
        in (
            "common",
            "organizations",
            "consumers",
        )
    ):
        # The client credentials grant needs the tenant itself (Microsoft refuses the
        # shared endpoints for app tokens).
        raise MailscopeError(
            f"Cannot use {path}", f"tenant {tenant!r}: an app token needs the tenant's ID or domain"
        )
    authority = text("authority") or DEFAULT_AUTHORITY
    parts = urlsplit(authority)
    if parts.scheme != "https" or not parts.hostname or parts.query or parts.fragment:
        raise MailscopeError(f"Cannot use {path}", "authority must be an https:// URL")
    return MicrosoftCredentials(tenant, client_id, secret, refresh, authority)


def _scrub(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "[redacted]")
    return text


def explain_token_error(status: int | None, body: bytes) -> str:
    """One line from a token endpoint's error answer: the AADSTS code and what to do."""
    from console.literal import printable

    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        document = None
    if not isinstance(document, dict):
        return f"HTTP {status} from the token endpoint, not a token answer"
    error = str(document.get("error") or "error")
    description = str(document.get("error_description") or "")
    codes = document.get("error_codes")
    code = codes[0] if isinstance(codes, list) and codes and isinstance(codes[0], int) else None
    if code is None and description.startswith("AADSTS"):
        digits = description[6:].partition(":")[0]
        code = int(digits) if digits.isdigit() else None
    advice = _AADSTS_ADVICE.get(code) if code is not None else None
    # Microsoft's description is long (trace and correlation ids): its first sentence
    # is what matters when there is no advice of ours.
    first = description.partition(" Trace ID:")[0].strip()
    said = advice or first or "no description"
    prefix = f"AADSTS{code}" if code is not None else error
    # Remote words: whitespace folded, control characters and escapes shown literally.
    return printable(" ".join(f"{prefix} ({error}): {said}".split()))


@dataclass(frozen=True, slots=True)
class MicrosoftToken:
    """A token answer: the access token, and the refresh token that replaces the one
    used (the identity platform rotates them; the old one keeps its own expiry)."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(default=None, repr=False)


async def microsoft_token(
    ctx: ResolverContext,
    credentials: MicrosoftCredentials,
    *,
    timeout: float = 30.0,  # noqa: ASYNC109 - one deadline over DNS, TLS and the answer
) -> MicrosoftToken:
    """An access token for Exchange Online SMTP from the Microsoft identity platform.

    Raises:
        MailscopeError: one line saying why there is no token (never the secret).
    """
    if credentials.needs_sign_in:
        raise MailscopeError(
            "No Microsoft token",
            "the file has no refresh_token yet: run `mailscope send --xoauth2 --credentials "
            "FILE` at a terminal once to sign in",
        )
    secrets = credentials.secrets()
    status, document, body = await _post_json(
        ctx, credentials.token_url, credentials.form(), secrets, timeout
    )
    if status != 200:
        raise MailscopeError(
            "No Microsoft token", _scrub(explain_token_error(status, body), secrets)
        )
    token = document.get("access_token")
    if not isinstance(token, str) or not token or not token.isprintable() or " " in token:
        raise MailscopeError("No Microsoft token", "the token endpoint answered without a token")
    refresh = document.get("refresh_token")
    if (
        not isinstance(refresh, str)
        or not refresh.isprintable()
        or refresh == credentials.refresh_token
    ):
        refresh = None
    return MicrosoftToken(token, refresh if credentials.refresh_token else None)


DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
SIGN_IN_LIMIT = 900.0
"""Seconds a device sign-in may take at most (Microsoft's codes live 15 minutes)."""


async def _post_json(
    ctx: ResolverContext, url: str, form: dict[str, str], secrets: list[str], seconds: float
) -> tuple[int, dict[str, Any], bytes]:
    """POST a form to the identity platform: (status, the JSON object or {}, the body)."""
    from console.auth.https import fetch

    result = await fetch(ctx, url, max_bytes=TOKEN_ANSWER_LIMIT, timeout=seconds, form=form)
    if not result.ok or result.status is None:
        raise MailscopeError(
            "No Microsoft token",
            _scrub(result.error or "no answer from the token endpoint", secrets),
        )
    try:
        document = json.loads(result.body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        document = None
    return result.status, document if isinstance(document, dict) else {}, result.body


async def device_sign_in(
    ctx: ResolverContext,
    credentials: MicrosoftCredentials,
    *,
    tell: Callable[[str], None],
    timeout: float = 30.0,  # noqa: ASYNC109 - per request; the sign-in has its own limit
    limit: float = SIGN_IN_LIMIT,
) -> MicrosoftToken:
    """A user's sign-in by device code (RFC 8628): `tell` shows where to go and the code,
    then the token endpoint is polled until the user has signed in, declined, or the
    code expired. Returns the access token and the refresh token to keep.

    Raises:
        MailscopeError: one line; the sign-in was declined, expired or failed.
    """
    from console.literal import printable

    status, answer, body = await _post_json(
        ctx,
        credentials.device_code_url,
        {"client_id": credentials.client_id, "scope": USER_SMTP_SCOPES},
        [],
        timeout,
    )
    device_code = answer.get("device_code")
    if status != 200 or not isinstance(device_code, str) or not device_code:
        raise MailscopeError("No Microsoft sign-in", explain_token_error(status, body))
    message = answer.get("message")
    if not isinstance(message, str) or not message:
        message = (
            f"Open {answer.get('verification_uri')} and enter the code {answer.get('user_code')}."
        )
    tell(printable(" ".join(message.split())))
    interval = answer.get("interval")
    wait = float(interval) if isinstance(interval, int) and 0 < interval <= 60 else 5.0
    expires = answer.get("expires_in")
    deadline = min(limit, float(expires) if isinstance(expires, int) and expires > 0 else limit)
    loop = asyncio.get_running_loop()
    ends = loop.time() + deadline
    form = {
        "grant_type": DEVICE_CODE_GRANT,
        "client_id": credentials.client_id,
        "device_code": device_code,
    }
    while loop.time() < ends:
        await asyncio.sleep(min(wait, max(0.0, ends - loop.time())))
        status, answer, body = await _post_json(
            ctx, credentials.token_url, form, [device_code], timeout
        )
        if status == 200:
            token = answer.get("access_token")
            refresh = answer.get("refresh_token")
            if not isinstance(token, str) or not token.isprintable() or " " in token:
                raise MailscopeError("No Microsoft token", "the sign-in answered without a token")
            return MicrosoftToken(token, refresh if isinstance(refresh, str) else None)
        error = answer.get("error")
        if error == "authorization_pending":
            continue
        if error == "slow_down":
            wait += 5.0  # RFC 8628 3.5
            continue
        raise MailscopeError(
            "No Microsoft sign-in", _scrub(explain_token_error(status, body), [device_code])
        )
    raise MailscopeError("No Microsoft sign-in", f"nobody signed in within {deadline:g} s")
