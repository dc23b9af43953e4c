"""The lab's stand-in for the Microsoft identity platform's token endpoint.

Exchange Online takes SMTP AUTH XOAUTH2 with an access token from
`https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token`: an app's own token
(client credentials, scope `https://outlook.office365.com/.default`) for the mailboxes
the app was given, or a user's token refreshed from a sign-in (scope
`https://outlook.office.com/SMTP.Send`). This emulator answers the same form posts
with the same JSON, including Microsoft's error bodies (`error`, `error_description`
starting with the AADSTS code, `error_codes`), so the console's client and its error
explanations are exercised as they would be against Microsoft.

It is served over TLS (lab CA) on the Postmaster emulator's secure listener as
`login.ms-lab.test`, which the lab DNS resolves to loopback; the lab's credentials
file (`console/lab/keys/microsoft-app.json`) names that authority. The lab's
submission servers accept the tokens it issues (`token_user`).
"""

from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs

MS_LAB_HOST = "login.ms-lab.test"
"""The lab's login host: the authority of the lab's Microsoft credentials."""

LAB_MS_TENANT = "good.test"
"""The lab tenant, by its verified domain (Microsoft accepts a domain or the GUID)."""

LAB_MS_CLIENT_ID = "0d5c2a8e-6b1f-4c3e-9a7d-1abc0de0c0de"
LAB_MS_CLIENT_SECRET = "lab-demo-client-secret"
"""The lab app's public demo secret (the lab's own, like its DKIM keys)."""

LAB_MS_REFRESH_TOKEN = "lab-demo-refresh-token"
"""A user's refresh token from a (pretend) sign-in of demo@good.test."""

LAB_MS_MAILBOXES = frozenset({"demo@good.test", "seed@good.test"})
"""Mailboxes the lab app may send as (Add-MailboxPermission in a real tenant)."""

LAB_MS_CREDENTIALS = Path(__file__).parent / "keys" / "microsoft-app.json"

APP_SCOPE = "https://outlook.office365.com/.default"
USER_SMTP_SCOPE = "https://outlook.office.com/SMTP.Send"

TOKEN_LIFETIME = 3599.0

_TOKEN_PATH = re.compile(r"^/([^/]+)/oauth2/v2\.0/(token|devicecode)$")

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


@dataclass(slots=True)
class DeviceCode:
    """A pending device sign-in: the user signs in elsewhere while the app polls."""

    user_code: str
    polls: int = 0


@dataclass(frozen=True, slots=True)
class MsGrant:
    """What a token speaks for: an app (any of its mailboxes) or one user."""

    user: str | None
    """The signed-in user; None for an app's own token."""
    expires: float


class MicrosoftIdentityEmulator:
    """Token endpoint for the lab tenant, and the check the lab's SMTP makes."""

    def __init__(self) -> None:
        self.tokens: dict[str, MsGrant] = {}
        self.device_codes: dict[str, DeviceCode] = {}
        self.approve_sign_ins = True
        """The lab's pretend user approves a device sign-in; False declines it (as a user
        who clicks "No" does)."""
        self.polls_before_answer = 2
        """The poll at which the pretend user has answered (before it: pending)."""
        self.refresh_tokens: set[str] = {LAB_MS_REFRESH_TOKEN}
        """Refresh tokens that still work: each use hands out a new one, as Microsoft
        does, and (within their lifetime) the old ones keep working too."""
        self.requests = 0

    def handles(self, host: str, path: str) -> bool:
        return host == MS_LAB_HOST and _TOKEN_PATH.match(path) is not None

    def token_user(self, user: str, token: str) -> bool:
        """Does `token` let `user` send (XOAUTH2 `user=`)?"""
        grant = self.tokens.get(token)
        if grant is None or grant.expires < time.time():
            return False
        if grant.user is None:
            return user.lower() in LAB_MS_MAILBOXES
        return user.lower() == grant.user

    def issue(self, user: str | None, lifetime: float = TOKEN_LIFETIME) -> str:
        token = "lab-ms-" + secrets.token_urlsafe(24)
        self.tokens[token] = MsGrant(user, time.time() + lifetime)
        return token

    def token(self, path: str, body: bytes) -> tuple[int, str, bytes]:
        """Answer one POST to /{tenant}/oauth2/v2.0/token."""
        self.requests += 1
        match = _TOKEN_PATH.match(path)
        tenant = match.group(1) if match else ""
        form = {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        shared = tenant.lower() in ("organizations", "common")
        if tenant.lower() != LAB_MS_TENANT and not shared:
            return _error(
                400,
                "invalid_request",
                90002,
                f"Tenant '{tenant}' not found. Check to make sure you have the correct "
                "tenant ID and are signing into the correct cloud.",
            )
        if form.get("client_id") != LAB_MS_CLIENT_ID:
            return _error(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{form.get('client_id', '')}' was not found "
                f"in the directory '{tenant}'.",
            )
        if path.endswith("/devicecode"):
            return self._device_code(form)
        grant_type = form.get("grant_type")
        scopes = form.get("scope", "").split()
        if grant_type == DEVICE_CODE_GRANT:
            return self._poll(form.get("device_code", ""))
        if grant_type == "client_credentials":
            if shared:
                return _error(
                    400,
                    "invalid_request",
                    90009,
                    "Application is requesting a token for itself. This scenario is "
                    "supported only if resource is specified using the GUID based App "
                    "Identifier (use a tenant-specific endpoint).",
                )
            if form.get("client_secret") != LAB_MS_CLIENT_SECRET:
                return _error(
                    401,
                    "invalid_client",
                    7000215,
                    "Invalid client secret provided. Ensure the secret being sent in the "
                    "request is the client secret value, not the client secret ID, for a "
                    f"secret added to app '{LAB_MS_CLIENT_ID}'.",
                )
            if scopes != [APP_SCOPE]:
                return _error(
                    400,
                    "invalid_scope",
                    1002012,
                    f"The provided value for scope {' '.join(scopes)} is not valid. Client "
                    "credential flows must have a scope value with /.default suffixed to "
                    "the resource identifier (application ID URI).",
                )
            return _token_answer(self.issue(None), APP_SCOPE)
        if grant_type == "refresh_token":
            if form.get("refresh_token") not in self.refresh_tokens:
                return _error(
                    400,
                    "invalid_grant",
                    70008,
                    "The provided authorization code or refresh token has expired due to "
                    "inactivity. Send a new interactive authorization request for this "
                    "user and resource.",
                )
            if USER_SMTP_SCOPE not in scopes:
                return _error(
                    400,
                    "invalid_scope",
                    70011,
                    f"The provided request must include a 'scope' input parameter: "
                    f"{USER_SMTP_SCOPE} was not asked for.",
                )
            return _signed_in_answer(self)
        return _error(
            400,
            "unsupported_grant_type",
            70003,
            f"The app requested an unsupported grant type '{grant_type}'.",
        )

    def _device_code(self, form: dict[str, str]) -> tuple[int, str, bytes]:
        if USER_SMTP_SCOPE not in form.get("scope", "").split():
            return _error(400, "invalid_scope", 70011, "The scope SMTP.Send was not asked for.")
        device_code = "lab-ms-dc-" + secrets.token_urlsafe(24)
        user_code = secrets.token_hex(4).upper()
        self.device_codes[device_code] = DeviceCode(user_code)
        answer = {
            "device_code": device_code,
            "user_code": user_code,
            "verification_uri": f"https://{MS_LAB_HOST}/devicelogin",
            "expires_in": 900,
            "interval": 1,  # Microsoft says 5; the lab's user is quick
            "message": f"To sign in, use a web browser to open the page https://{MS_LAB_HOST}"
            f"/devicelogin and enter the code {user_code} to authenticate.",
        }
        return 200, "application/json; charset=utf-8", json.dumps(answer).encode()

    def _poll(self, device_code: str) -> tuple[int, str, bytes]:
        pending = self.device_codes.get(device_code)
        if pending is None:
            return _error(400, "expired_token", 70020, "The device code has expired.")
        pending.polls += 1
        if pending.polls < self.polls_before_answer:
            return _error(
                400,
                "authorization_pending",
                70016,
                "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
            )
        del self.device_codes[device_code]
        if not self.approve_sign_ins:
            return _error(
                400,
                "authorization_declined",
                70018,
                "The user declined the sign-in request.",
            )
        return _signed_in_answer(self)


def _signed_in_answer(emulator: MicrosoftIdentityEmulator) -> tuple[int, str, bytes]:
    rotated = "lab-ms-rt-" + secrets.token_urlsafe(24)
    emulator.refresh_tokens.add(rotated)
    return _token_answer(
        emulator.issue("demo@good.test"), f"{USER_SMTP_SCOPE} offline_access", refresh_token=rotated
    )


def _token_answer(
    token: str, scope: str, *, refresh_token: str | None = None
) -> tuple[int, str, bytes]:
    answer: dict[str, object] = {
        "token_type": "Bearer",
        "scope": scope,
        "expires_in": int(TOKEN_LIFETIME),
        "ext_expires_in": int(TOKEN_LIFETIME),
        "access_token": token,
    }
    if refresh_token is not None:
        answer["refresh_token"] = refresh_token
    return 200, "application/json; charset=utf-8", json.dumps(answer).encode()


def _error(status: int, error: str, code: int, text: str) -> tuple[int, str, bytes]:
    trace = secrets.token_hex(4)
    answer = {
        "error": error,
        "error_description": f"AADSTS{code}: {text} Trace ID: {trace} "
        "Correlation ID: 00000000-0000-0000-0000-000000000000 Timestamp: 2026-11-27 "
        "09:00:00Z",
        "error_codes": [code],
        "timestamp": "2026-11-27 09:00:00Z",
        "trace_id": trace,
        "correlation_id": "00000000-0000-0000-0000-000000000000",
        "error_uri": f"https://{MS_LAB_HOST}/error?code={code}",
    }
    return status, "application/json; charset=utf-8", json.dumps(answer).encode()
