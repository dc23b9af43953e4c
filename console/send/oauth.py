"""The access token an XOAUTH2 login needs, from whichever provider's credentials file.

A `"type": "microsoft"` file asks the Microsoft identity platform (Exchange Online
submission, `console.send.microsoft_oauth`); any other is a Google file (service
account with `delegate`, or an authorized user) refreshed through the hardened Google
HTTP layer for the https://mail.google.com/ scope that smtp.gmail.com wants. The
command line and the Send pane both come here, so they log in the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from console.errors import MailscopeError

if TYPE_CHECKING:
    from console.auth.resolver import ResolverContext
    from console.send.microsoft_oauth import MicrosoftCredentials

GMAIL_SMTP_SCOPE = "https://mail.google.com/"
"""The scope smtp.gmail.com wants of an XOAUTH2 token."""
GMAIL_SEND_SCOPE = "https://www.googleapis.com/auth/gmail.send"
GMAIL_READ_SCOPE = "https://www.googleapis.com/auth/gmail.readonly"
"""The Gmail API's scopes, here (a light module) so `mailscope send --help` and the
pane can name them without loading the Google client."""

TOKEN_TIMEOUT = 30.0


async def xoauth2_token(
    ctx: ResolverContext,
    credentials_file: Path | str | None,
    *,
    delegate: str | None = None,
    lab: bool = False,
    tell: Callable[[str], None] | None = None,
) -> str:
    """An access token for SMTP XOAUTH2.

    Args:
        ctx: the resolver context (the Microsoft login host is resolved through it).
        credentials_file: the credentials file; None in the lab uses the lab's token.
        delegate: the Workspace user a Google service account acts as.
        lab: whether the lab is running (its fixed Google token stands in for a file).
        tell: shows a person where to sign in; given, a Microsoft file without a refresh
            token starts a device-code sign-in and keeps the refresh token it yields.

    Raises:
        MailscopeError: one line saying why there is no token; never a secret.
    """
    from console.send.microsoft_oauth import device_sign_in, microsoft_token

    if credentials_file is not None:
        microsoft = await asyncio.to_thread(_microsoft_file, credentials_file)
        if microsoft is not None:
            if microsoft.needs_sign_in and tell is not None:
                answer = await device_sign_in(ctx, microsoft, tell=tell, timeout=TOKEN_TIMEOUT)
            else:
                answer = await microsoft_token(ctx, microsoft, timeout=TOKEN_TIMEOUT)
            if answer.refresh_token is not None:
                await asyncio.to_thread(_save_refresh_token, credentials_file, answer.refresh_token)
            return answer.access_token
        return await asyncio.to_thread(_google_token, credentials_file, delegate)
    if lab:
        from console.postmaster.credentials import lab_credentials

        return str(lab_credentials().token)
    raise MailscopeError("--xoauth2", "give --credentials F (the OAuth credentials file)")


def _microsoft_file(credentials_file: Path | str) -> MicrosoftCredentials | None:
    """The Microsoft credentials in the file, or None for a Google file. Read once, and
    only if it is a regular file: a FIFO or device raises instead of blocking."""
    from console.send.microsoft_oauth import (
        is_microsoft_document,
        load_microsoft_credentials,
        read_json,
    )

    path = Path(credentials_file).expanduser()
    document = read_json(path)
    return load_microsoft_credentials(path, document) if is_microsoft_document(document) else None


def _save_refresh_token(credentials_file: Path | str, refresh_token: str) -> None:
    """Keep the rotated refresh token: the one just used still expires on its own date
    (90 days), so a file never updated would need a new sign-in however often it is
    used. Written atomically, readable by the owner only, other keys kept."""
    from console.send.microsoft_oauth import read_json

    path = Path(credentials_file).expanduser()
    try:
        document = read_json(path)
        document["refresh_token"] = refresh_token
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".mailscope-", suffix=".json")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                json.dump(document, file, indent=2)
                file.write("\n")
            os.chmod(temporary, 0o600)
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
    except (OSError, MailscopeError, TypeError):
        # The token just obtained still works; only the next refresh may need a sign-in.
        return


def _google_token(credentials_file: Path | str, delegate: str | None) -> str:
    from console.postmaster.client import PostmasterError
    from console.postmaster.credentials import load_credentials, refresh_credentials

    path = Path(credentials_file).expanduser()
    credentials = load_credentials(path, subject=delegate, scopes=[GMAIL_SMTP_SCOPE])
    if not credentials.valid:
        try:
            refresh_credentials(credentials, timeout=TOKEN_TIMEOUT)
        except PostmasterError as exc:
            raise MailscopeError(
                "--xoauth2", f"cannot get an access token ({exc.kind}); sign in again"
            ) from None
    return str(credentials.token)
