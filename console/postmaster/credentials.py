"""Postmaster credentials the way admins over SSH really have them.

- A service-account JSON key, optionally acting for a Workspace user (`subject`,
  domain-wide delegation): no browser at all.
- An authorized-user file (google-auth's own format, as `gcloud` or our OAuth flow
  writes it): a refresh token, and possibly an access token with its expiry, used
  until it expires and then refreshed; the refreshed token is written back (0600).
- The OAuth installed-app flow, imported only when used (google-auth-oauthlib):
  either a loopback redirect the admin forwards over SSH (`ssh -L PORT:127.0.0.1:PORT`)
  or pasting back the URL the browser was redirected to.

Tokens are never logged or printed; errors name the file, never its contents.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from google.auth.exceptions import RefreshError
from google.oauth2.credentials import Credentials

from console.files import UnreadableFile, read_regular_file
from console.postmaster.client import LOGIN_HINT, PostmasterError

SCOPES: tuple[str, ...] = (
    "https://www.googleapis.com/auth/postmaster.traffic.readonly",
    "https://www.googleapis.com/auth/postmaster.domain",
)
"""traffic.readonly covers domainStats and getComplianceStatus; listing the account's
domains (`domains.list`) needs postmaster.domain, per the v2 discovery document."""

TOKEN_FILE = "postmaster-token.json"

EXCHANGE_TIMEOUT = 30.0
"""Seconds the code-for-token exchange may take."""

LOOPBACK_WAIT = 600
"""Seconds the loopback flow waits for the browser's redirect."""

LAB_TOKEN = "lab-access-token"
"""The bearer token the lab emulator accepts without a token exchange."""


def default_token_path() -> Path:
    """`postmaster-token.json` in the platform's config directory."""
    import platformdirs

    return platformdirs.user_config_path("mailscope", appauthor=False) / TOKEN_FILE


CREDENTIALS_FILE_LIMIT = 256 * 1024
"""A service-account or authorized-user file is a few KB."""


def load_credentials(
    path: Path,
    *,
    subject: str | None = None,
    scopes: Sequence[str] = SCOPES,
    token_uri: str | None = None,
) -> Any:
    """Credentials from a service-account or authorized-user JSON file.

    Args:
        path: the JSON file.
        subject: for a service account, the Workspace user to act as.
        scopes: the OAuth scopes asked for.
        token_uri: the token endpoint to use instead of Google's (the lab, a proxy).

    Returns:
        google-auth credentials. An authorized-user file's refreshed tokens are saved
        back to it (mode 0600) after each refresh.

    Raises:
        PostmasterError: the file is unreadable or not a known credential type.
    """
    try:
        info = json.loads(read_regular_file(path, CREDENTIALS_FILE_LIMIT).decode("utf-8"))
    except UnreadableFile as exc:
        reason = "too large for a key file" if exc.size is not None else exc.reason
        raise PostmasterError("config", f"cannot read credentials {path}: {reason}") from None
    except (ValueError, RecursionError):
        raise PostmasterError("config", f"credentials {path} are not valid JSON") from None
    if not isinstance(info, dict):
        raise PostmasterError("config", f"credentials {path} are not a JSON object")
    if token_uri:
        info["token_uri"] = token_uri
    kind = info.get("type")
    try:
        if kind == "service_account":
            from google.oauth2 import service_account

            creds = service_account.Credentials.from_service_account_info(info, scopes=scopes)
            return creds.with_subject(subject) if subject else creds
        if kind == "authorized_user" or (kind is None and "refresh_token" in info):
            return _SavingCredentials.from_file_info(info, path, scopes, token_uri)
    except (ValueError, KeyError) as exc:
        # google-auth names the missing field, never a secret value.
        raise PostmasterError("config", f"credentials {path}: {exc}") from None
    raise PostmasterError(
        "config",
        f"credentials {path}: expected a service_account or authorized_user JSON file, "
        f"found type {kind!r}",
    )


def lab_credentials(token: str = LAB_TOKEN) -> Any:
    """A fixed bearer token for the lab emulator (no refresh, no expiry)."""
    return Credentials(token=token)


class _SavingCredentials(Credentials):
    """Authorized-user credentials that write themselves back (0600) after a refresh."""

    _save_path: Path | None = None

    @classmethod
    def from_file_info(
        cls,
        info: dict[str, Any],
        path: Path,
        scopes: Sequence[str],
        token_uri: str | None = None,
    ) -> _SavingCredentials:
        base = Credentials.from_authorized_user_info(info, scopes=info.get("scopes") or scopes)
        creds = cls(
            token=base.token,
            refresh_token=base.refresh_token,
            # google-auth ignores a token_uri in the file (a refresh token must only go
            # to Google); only an explicit override (the lab, a proxy) replaces it.
            token_uri=token_uri or base.token_uri,
            client_id=base.client_id,
            client_secret=base.client_secret,
            scopes=base.scopes,
            expiry=base.expiry,
        )
        creds._save_path = path
        return creds

    def refresh(self, request: Any) -> None:
        if not self.refresh_token:
            raise RefreshError("the access token expired and there is no refresh token")
        super().refresh(request)
        if self._save_path is not None:
            # A read-only file still leaves a working token; the next run refreshes again.
            with contextlib.suppress(OSError):
                write_token_file(self._save_path, self.to_json())


def refresh_credentials(
    credentials: Any, *, timeout: float = EXCHANGE_TIMEOUT, cafile: Path | str | None = None
) -> None:
    """Refresh `credentials` now, through the hardened Http (console.google_http).

    For callers that need the access token itself (XOAUTH2 over SMTP or IMAP) rather
    than a service: the token endpoint's answer is bounded, a redirect is not followed,
    the exchange ends within `timeout` seconds, and secrets stay out of the logs.

    Raises:
        PostmasterError: one line (kind `auth` for a refused refresh, else `timeout`,
            `network`, `malformed`), scrubbed of every secret.
    """
    from console.google_http import redact, scrubbed_logs, secrets_of, token_request
    from console.literal import printable
    from console.postmaster.client import translate

    request = token_request(timeout, credentials=credentials, cafile=cafile)
    before = secrets_of(credentials)

    def secrets() -> list[str]:
        return [*before, *secrets_of(credentials)]

    with scrubbed_logs(secrets):
        try:
            credentials.refresh(request)
        except Exception as exc:
            error = translate(exc, "token refresh")
            raise PostmasterError(error.kind, printable(redact(error.msg, secrets()))) from None


def write_token_file(path: Path, text: str) -> None:
    """Write `text` to `path` atomically, readable by the owner only (0600)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, temp = tempfile.mkstemp(prefix=".token-", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    path.chmod(0o600)


def oauth_login(
    client_secrets: Path,
    *,
    token_path: Path | None = None,
    scopes: Sequence[str] = SCOPES,
    mode: str = "paste",
    port: int = 8085,
    prompt: Callable[[str], str] = input,
    show: Callable[[str], None] = print,
) -> Any:
    """Run the OAuth installed-app flow and save the token file (0600).

    Args:
        client_secrets: the OAuth client JSON downloaded from Google Cloud ("Desktop app").
        token_path: where to save the authorized-user token; default_token_path() if None.
        scopes: scopes asked for.
        mode: `loopback` listens on 127.0.0.1:`port` (forward it: `ssh -L
            PORT:127.0.0.1:PORT host`); `paste` prints the URL and asks for the address
            the browser was redirected to (it fails to load; copy it from the address bar).
        port: the loopback port.
        prompt: reads the pasted URL (paste mode).
        show: prints instructions (never a token).

    Returns:
        The new credentials.

    Raises:
        PostmasterError: google-auth-oauthlib is missing, or the exchange failed.
    """
    try:
        from google_auth_oauthlib.flow import InstalledAppFlow
    except ImportError:
        raise PostmasterError(
            "config", "the OAuth flow needs google-auth-oauthlib: pip install google-auth-oauthlib"
        ) from None
    target = token_path or default_token_path()
    try:
        flow = InstalledAppFlow.from_client_secrets_file(str(client_secrets), scopes=list(scopes))
    except (OSError, ValueError) as exc:
        raise PostmasterError(
            "config", f"cannot use client secrets {client_secrets}: {exc}"
        ) from None
    try:
        if mode == "loopback":
            show(f"Forward the port first: ssh -L {port}:127.0.0.1:{port} <this host>")
            creds = flow.run_local_server(
                host="127.0.0.1",
                bind_addr="127.0.0.1",
                port=port,
                open_browser=False,
                timeout_seconds=LOOPBACK_WAIT,
            )
        else:
            flow.redirect_uri = f"http://127.0.0.1:{port}/"
            url, _state = flow.authorization_url(access_type="offline", prompt="consent")
            show("Open this URL in a browser, sign in, then paste the address it redirects to:")
            show(url)
            answer = prompt("Redirected URL: ").strip()
            # oauthlib insists on https; the loopback redirect is http by design (RFC 8252).
            flow.fetch_token(
                authorization_response=answer.replace("http://", "https://", 1),
                timeout=EXCHANGE_TIMEOUT,
            )
            creds = flow.credentials
    except Exception as exc:
        raise PostmasterError(
            "auth", f"sign-in failed: {type(exc).__name__}; {LOGIN_HINT}"
        ) from None
    write_token_file(target, creds.to_json())
    return creds
