"""Microsoft 365 XOAUTH2 tokens: the lab's identity endpoint over TLS, and what goes wrong."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from console.auth.resolver import ResolverContext
from console.errors import MailscopeError
from console.lab import Lab
from console.lab.microsoft_identity import (
    LAB_MS_CLIENT_ID,
    LAB_MS_CLIENT_SECRET,
    LAB_MS_CREDENTIALS,
    LAB_MS_REFRESH_TOKEN,
    MS_LAB_HOST,
)
from console.lab.smtp import LAB_USER
from console.send.guard import SendGuard
from console.send.microsoft_oauth import (
    APP_SMTP_SCOPE,
    MicrosoftCredentials,
    _scrub,
    explain_token_error,
    is_microsoft_document,
    load_microsoft_credentials,
    microsoft_token,
    read_json,
)
from console.send.oauth import xoauth2_token
from console.send.result import SendResult
from console.send.smtp import send_smtp

LAB_AUTHORITY = f"https://{MS_LAB_HOST}"


def app(**changes: str) -> MicrosoftCredentials:
    base = MicrosoftCredentials(
        "good.test", LAB_MS_CLIENT_ID, LAB_MS_CLIENT_SECRET, authority=LAB_AUTHORITY
    )
    return dataclasses.replace(base, **changes)


def user(refresh_token: str = LAB_MS_REFRESH_TOKEN) -> MicrosoftCredentials:
    return MicrosoftCredentials(
        "good.test", LAB_MS_CLIENT_ID, refresh_token=refresh_token, authority=LAB_AUTHORITY
    )


async def submit_as(ctx: ResolverContext, account: str, token: str) -> SendResult:
    """One message to the lab's submission server, logged in as `account` by XOAUTH2."""
    message = (
        f"From: {account}\r\nTo: seed@good.test\r\nSubject: m365\r\n"
        "Message-ID: <m365@good.test>\r\n\r\nhi\r\n"
    ).encode()
    return await send_smtp(
        ctx,
        message,
        envelope_from=account,
        recipients=["seed@good.test"],
        host="smtp.good.test",
        port=587,
        security="starttls",
        username=account,
        oauth_token=token,
        confirmed=True,
        guard=SendGuard(),
    )


async def test_an_app_token_comes_over_verified_tls_and_sends_as_its_mailbox(
    ctx: ResolverContext, lab: Lab
) -> None:
    token = (await microsoft_token(ctx, app())).access_token
    assert lab.microsoft is not None
    assert token in lab.microsoft.tokens
    result = await submit_as(ctx, LAB_USER, token)
    assert result.accepted, result.error
    assert "AUTH XOAUTH2 [credentials redacted]" in [line.text for line in result.transcript]
    assert token not in json.dumps(result.to_dict())
    # The app was given demo@ and seed@ only: another mailbox is refused, as in a tenant.
    refused = await submit_as(ctx, "ann@good.test", token)
    assert not refused.accepted
    assert refused.reply is not None
    assert refused.reply.startswith("535 5.7.3")
    assert refused.error is not None
    assert "a mailbox the app was given" in refused.error
    assert "password" not in refused.error  # no password advice for a token login


async def test_a_users_refresh_token_gives_a_token_for_that_user(ctx: ResolverContext) -> None:
    answer = await microsoft_token(ctx, user())
    assert answer.access_token
    assert answer.refresh_token not in (None, LAB_MS_REFRESH_TOKEN)  # rotated
    assert "lab-ms" not in repr(answer)
    with pytest.raises(MailscopeError) as expired:
        await microsoft_token(ctx, user("an-old-refresh-token"))
    assert "AADSTS70008" in str(expired.value)
    assert "sign in again" in str(expired.value)
    assert "an-old-refresh-token" not in str(expired.value)


@pytest.mark.parametrize(
    ("changes", "code", "advice"),
    [
        ({"client_secret": "secret-id-not-value"}, "AADSTS7000215", "Value, not its Secret ID"),
        ({"tenant": "contoso.test"}, "AADSTS90002", "tenant does not exist"),
        ({"client_id": "11111111-2222-3333-4444-555555555555"}, "AADSTS700016", "not registered"),
    ],
)
async def test_token_errors_name_the_aadsts_code_and_the_fix_never_the_secret(
    ctx: ResolverContext, changes: dict[str, str], code: str, advice: str
) -> None:
    with pytest.raises(MailscopeError) as caught:
        await microsoft_token(ctx, app(**changes))
    said = str(caught.value)
    assert code in said
    assert advice in said
    assert "\n" not in said
    assert LAB_MS_CLIENT_SECRET not in said
    assert changes.get("client_secret", LAB_MS_CLIENT_SECRET) not in said


async def test_a_host_that_is_no_token_endpoint_is_said_plainly(ctx: ResolverContext) -> None:
    # The lab's MTA-STS web host answers a POST with 405 text: not a token answer.
    with pytest.raises(MailscopeError, match="HTTP 405 from the token endpoint"):
        await microsoft_token(ctx, app(authority="https://mta-sts.good.test"))


@pytest.fixture
async def silent_port() -> AsyncIterator[int]:
    """A TCP listener that accepts and never says a word (no TLS handshake either)."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    for writer in held:
        writer.close()
    server.close()


async def test_a_silent_token_endpoint_times_out_with_one_line(lab: Lab, silent_port: int) -> None:
    services = dataclasses.replace(
        lab.services, host_ports={**lab.services.host_ports, (MS_LAB_HOST, 443): silent_port}
    )
    ctx = ResolverContext.from_options([lab.nameserver], services=services, timeout=2.0)
    try:
        with pytest.raises(MailscopeError, match=r"within 1\.5 s") as caught:
            await microsoft_token(ctx, app(), timeout=1.5)
    finally:
        ctx.close()
    assert LAB_MS_CLIENT_SECRET not in str(caught.value)


# -- the credentials file -------------------------------------------------------------------


def test_the_labs_credentials_file_is_an_app_with_its_secret() -> None:
    assert is_microsoft_document(read_json(LAB_MS_CREDENTIALS))
    loaded = load_microsoft_credentials(LAB_MS_CREDENTIALS)
    assert loaded == app()
    assert loaded.form()["scope"] == APP_SMTP_SCOPE
    assert LAB_MS_CLIENT_SECRET not in repr(loaded)
    assert loaded.token_url == f"{LAB_AUTHORITY}/good.test/oauth2/v2.0/token"


def test_a_refresh_token_file_asks_for_smtp_send_offline(tmp_path: Path) -> None:
    path = tmp_path / "user.json"
    path.write_text(
        json.dumps({"type": "microsoft", "tenant": "t", "client_id": "c", "refresh_token": "r"})
    )
    form = load_microsoft_credentials(path).form()
    assert form["grant_type"] == "refresh_token"
    assert form["scope"] == "https://outlook.office.com/SMTP.Send offline_access"
    assert "client_secret" not in form


@pytest.mark.parametrize(
    ("content", "said"),
    [
        ("not json", "not a JSON credentials file"),
        ('{"type": "service_account"}', '"type": "microsoft"'),
        ('{"type": "microsoft", "tenant": "t"}', "tenant and client_id"),
        ('{"type": "microsoft", "tenant": 5, "client_id": "c"}', "non-empty string"),
        (
            '{"type": "microsoft", "tenant": "common", "client_id": "c", "client_secret": "s"}',
            "tenant's ID or domain",
        ),
        (
            '{"type": "microsoft", "tenant": "t", "client_id": "c", "client_secret": "s", '
            '"authority": "http://login.example.test"}',
            "https://",
        ),
    ],
)
def test_bad_credentials_files_get_one_line(tmp_path: Path, content: str, said: str) -> None:
    path = tmp_path / "ms.json"
    path.write_text(content)
    with pytest.raises(MailscopeError) as caught:
        load_microsoft_credentials(path)
    assert said in str(caught.value)
    assert "\n" not in str(caught.value)


async def test_a_fifo_is_never_opened(ctx: ResolverContext, tmp_path: Path) -> None:
    fifo = tmp_path / "ms.json"
    os.mkfifo(fifo)
    with pytest.raises(MailscopeError, match="not a regular file"):
        load_microsoft_credentials(fifo)
    # Neither as a Microsoft file nor, after that, as a Google one (which used to block).
    with pytest.raises(MailscopeError, match="not a regular file"):
        await asyncio.wait_for(xoauth2_token(ctx, fifo), 10)


async def test_a_users_file_keeps_the_rotated_refresh_token(
    ctx: ResolverContext, tmp_path: Path
) -> None:
    path = tmp_path / "user.json"
    path.write_text(
        json.dumps(
            {
                "type": "microsoft",
                "authority": LAB_AUTHORITY,
                "tenant": "good.test",
                "client_id": LAB_MS_CLIENT_ID,
                "refresh_token": LAB_MS_REFRESH_TOKEN,
                "note": "kept",
            }
        )
    )
    assert await xoauth2_token(ctx, path)
    saved = json.loads(path.read_text())
    assert saved["refresh_token"] != LAB_MS_REFRESH_TOKEN
    assert saved["note"] == "kept"
    assert path.stat().st_mode & 0o777 == 0o600
    assert await xoauth2_token(ctx, path)  # the rotated token works in its turn
    assert json.loads(path.read_text())["refresh_token"] != saved["refresh_token"]


def test_an_endpoint_that_echoes_the_secret_is_scrubbed() -> None:
    body = json.dumps(
        {"error": "invalid_client", "error_description": f"bad secret {LAB_MS_CLIENT_SECRET}"}
    ).encode()
    said = _scrub(explain_token_error(401, body), [LAB_MS_CLIENT_SECRET])
    assert LAB_MS_CLIENT_SECRET not in said
    assert "[redacted]" in said
    # Nesting deep enough to exhaust the JSON parser's stack is "not a token answer".
    assert "not a token answer" in explain_token_error(400, b"[" * 60_000)


@given(st.binary(max_size=400), st.one_of(st.none(), st.integers(100, 599)))
def test_explaining_any_error_answer_never_raises_and_is_one_line(
    body: bytes, status: int | None
) -> None:
    said = explain_token_error(status, body)
    assert said
    assert said.isprintable()  # remote control characters and escapes shown literally


# -- a user's first sign-in (device code) ---------------------------------------------------


def public_client_file(tmp_path: Path) -> Path:
    path = tmp_path / "me.json"
    path.write_text(
        json.dumps(
            {
                "type": "microsoft",
                "authority": LAB_AUTHORITY,
                "tenant": "good.test",
                "client_id": LAB_MS_CLIENT_ID,
            }
        )
    )
    return path


async def test_a_first_sign_in_shows_the_code_and_keeps_the_refresh_token(
    ctx: ResolverContext, lab: Lab, tmp_path: Path
) -> None:
    path = public_client_file(tmp_path)
    told: list[str] = []
    token = await xoauth2_token(ctx, path, tell=told.append)
    assert lab.microsoft is not None
    assert lab.microsoft.token_user(LAB_USER, token)
    (said,) = told
    assert f"https://{MS_LAB_HOST}/devicelogin" in said
    assert "enter the code" in said
    saved = json.loads(path.read_text())
    assert saved["refresh_token"] in lab.microsoft.refresh_tokens
    assert path.stat().st_mode & 0o777 == 0o600
    # From now on the file refreshes without anyone signing in.
    assert await xoauth2_token(ctx, path)


async def test_a_declined_sign_in_and_a_file_without_a_terminal_say_so(
    ctx: ResolverContext, lab: Lab, tmp_path: Path
) -> None:
    path = public_client_file(tmp_path)
    with pytest.raises(MailscopeError, match="at a terminal once to sign in"):
        await xoauth2_token(ctx, path)  # nobody to tell: no sign-in is started
    assert lab.microsoft is not None
    lab.microsoft.approve_sign_ins = False
    try:
        with pytest.raises(MailscopeError) as declined:
            await xoauth2_token(ctx, path, tell=lambda _: None)
    finally:
        lab.microsoft.approve_sign_ins = True
    assert "AADSTS70018" in str(declined.value)
    assert "declined" in str(declined.value)
    assert "refresh_token" not in json.loads(path.read_text())
