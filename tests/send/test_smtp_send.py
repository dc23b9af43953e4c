"""Sending through the lab's real SMTP servers (aiosmtpd) with real aiosmtplib over loopback.

Lab data: smtp.good.test (127.0.1.3) runs 587 (STARTTLS, then AUTH) and 465 (implicit TLS)
for demo@good.test / lab-password, certificates from the lab CA. good.test's MX accepts
mail for good.test only (554 for anything else without AUTH). mx.ports-selfsigned.test,
mx.ports-expired.test and mx.ports-wrongname.test (25 role, STARTTLS) accept mail for
their own domains with a certificate no client should trust; mx.ports-nostarttls.test
offers no STARTTLS; mx.ports-tarpit.test never greets. One test runs its own aiosmtpd
offering only LOGIN and XOAUTH2, to exercise those mechanisms and their redaction.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email.message import EmailMessage

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session
from hypothesis import given
from hypothesis import strategies as st

from console.auth.resolver import ResolverContext
from console.lab import Lab
from console.lab.smtp import LAB_PASSWORD, LAB_USER, lab_authenticator
from console.send.guard import SendGuard
from console.send.result import SendResult
from console.send.smtp import (
    message_id_of,
    parse_queue_id,
    password_from_env,
    prompt_password,
    send_smtp,
    send_smtp_batch,
)

SECRET_TOKEN = "ya29.lab-token-never-shown"


def make_message(to: str = "seed@good.test", *, size: int = 0) -> bytes:
    message = EmailMessage()
    message["From"] = LAB_USER
    message["To"] = to
    message["Subject"] = "mailscope test"
    message["Message-ID"] = "<test-1@good.test>"
    message.set_content("Hello from the lab.\n.\nA line with a lone dot above.\n" + "x" * size)
    return message.as_bytes()


def secret_forms(user: str, password: str, token: str | None = None) -> list[str]:
    """Every form of a secret a careless client could leave in a transcript."""
    forms = [
        password,
        base64.b64encode(password.encode()).decode(),  # LOGIN's password line
        base64.b64encode(f"\0{user}\0{password}".encode()).decode(),  # PLAIN
    ]
    if token:
        forms += [
            token,
            base64.b64encode(token.encode()).decode(),
            base64.b64encode(f"user={user}\x01auth=Bearer {token}\x01\x01".encode()).decode(),
        ]
    return forms


def assert_no_secret(result: SendResult, forms: list[str]) -> None:
    dumped = json.dumps(result.to_dict())
    text = "\n".join(line.text for line in result.transcript) + dumped + repr(result)
    for form in forms:
        assert form not in text, f"secret form {form!r} leaked"


async def send(ctx: ResolverContext, **options) -> SendResult:
    defaults = {
        "envelope_from": LAB_USER,
        "recipients": ["seed@good.test"],
        "host": "smtp.good.test",
        "port": 587,
        "security": "starttls",
        "timeout": 3.0,
        "confirmed": True,
        "guard": SendGuard(),
    }
    defaults.update(options)
    message = defaults.pop("message", None) or make_message(defaults["recipients"][0])
    return await send_smtp(ctx, message, **defaults)


# -- the good submission server -----------------------------------------------------------


async def test_submission_587_starttls_auth_is_accepted(ctx: ResolverContext, lab: Lab) -> None:
    result = await send(ctx, username=LAB_USER, password=LAB_PASSWORD)
    assert result.accepted, result.error
    assert result.error is None
    assert result.reply is not None
    assert result.reply.startswith("250 ")
    assert result.queue_id is not None
    assert result.queue_id.startswith("LAB")
    assert result.message_id == "<test-1@good.test>"
    assert result.port == lab.services.port_for("smtp.good.test", 587) != 587
    assert result.address == "127.0.1.3"
    assert result.tls is not None
    assert result.tls["verified"] is True
    assert result.tls["version"] in ("TLSv1.2", "TLSv1.3")
    for step in ("connect", "greeting", "ehlo", "starttls", "ehlo_tls", "auth", "mail"):
        assert step in result.timings_ms
    assert {"rcpt", "data", "total"} <= result.timings_ms.keys()
    texts = [line.text for line in result.transcript]
    assert "STARTTLS" in texts
    assert "AUTH PLAIN [credentials redacted]" in texts
    assert any(text.startswith("235") for text in texts)
    # STARTTLS comes before AUTH: credentials never cross in clear text.
    assert texts.index("STARTTLS") < texts.index("AUTH PLAIN [credentials redacted]")
    assert result.recipients == {"seed@good.test": "250 2.1.5 OK"}
    assert_no_secret(result, secret_forms(LAB_USER, LAB_PASSWORD))
    data = result.to_dict()
    for key in ("via", "accepted", "reply", "queue_id", "message_id", "timings_ms"):
        assert key in data
    assert data["via"] == "smtp"
    assert isinstance(data["transcript"], list)
    assert data["lint"] == []
    json.dumps(data)


async def test_batch_shares_one_session_and_each_message_is_its_own_transaction(
    ctx: ResolverContext,
) -> None:
    guard = SendGuard(limit=10)
    big = make_message(size=33 * 1024 * 1024)  # over the server's SIZE: refused, then RSET
    messages = [make_message(), big, make_message()]
    results = await send_smtp_batch(
        ctx,
        messages,
        envelope_from=LAB_USER,
        recipients=["seed@good.test"],
        host="smtp.good.test",
        port=587,
        username=LAB_USER,
        password=LAB_PASSWORD,
        timeout=3.0,
        confirmed=True,
        guard=guard,
    )
    assert [r.accepted for r in results] == [True, False, True]
    assert guard.used == 3
    assert results[1].error is not None
    assert "limit" in results[1].error
    assert results[0].queue_id
    assert results[2].queue_id
    assert results[0].queue_id != results[2].queue_id
    first = [line.text for line in results[0].transcript]
    later = [line.text for line in results[2].transcript]
    # One handshake and one login for the whole batch; later messages carry only their
    # own transaction.
    assert first.count("STARTTLS") == 1
    assert "AUTH PLAIN [credentials redacted]" in first
    assert "STARTTLS" not in later
    assert not any(text.startswith("AUTH") for text in later)
    assert any(text.startswith("MAIL FROM") for text in later)
    assert "RSET" in [line.text for line in results[1].transcript]
    assert results[2].tls == results[0].tls
    assert results[2].tls is not None
    assert set(results[2].timings_ms) == {"mail", "rcpt", "data"}
    for result in results:
        assert_no_secret(result, secret_forms(LAB_USER, LAB_PASSWORD))


async def test_batch_past_the_cap_sends_only_what_the_guard_admits(ctx: ResolverContext) -> None:
    guard = SendGuard(limit=2)
    results = await send_smtp_batch(
        ctx,
        [make_message(), make_message(), make_message()],
        envelope_from=LAB_USER,
        recipients=["seed@good.test"],
        host="smtp.good.test",
        port=587,
        username=LAB_USER,
        password=LAB_PASSWORD,
        timeout=3.0,
        confirmed=True,
        guard=guard,
    )
    assert [r.accepted for r in results] == [True, True, False]
    assert results[2].error is not None
    assert "cap" in results[2].error
    assert results[2].transcript == []


async def test_submissions_465_implicit_tls_is_accepted(ctx: ResolverContext) -> None:
    result = await send(ctx, port=465, security="tls", username=LAB_USER, password=LAB_PASSWORD)
    assert result.accepted, result.error
    assert result.queue_id is not None
    assert result.queue_id.startswith("LAB")
    assert result.tls is not None
    assert result.tls["verified"]
    assert "starttls" not in result.timings_ms
    assert_no_secret(result, secret_forms(LAB_USER, LAB_PASSWORD))


async def test_wrong_password_fails_cleanly_without_leaking_it(ctx: ResolverContext) -> None:
    wrong = "not-the-lab-password"
    result = await send(ctx, username=LAB_USER, password=wrong)
    assert not result.accepted
    assert result.reply is not None
    assert result.reply.startswith("535")
    assert result.error is not None
    assert "login as demo@good.test" in result.error
    assert "\n" not in result.error
    assert "Traceback" not in result.error
    assert not any(line.text.startswith("MAIL FROM") for line in result.transcript)
    assert_no_secret(result, secret_forms(LAB_USER, wrong))


# -- certificates -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "why"),
    [
        ("mx.ports-selfsigned.test", "self-signed"),
        ("mx.ports-expired.test", "expired"),
        ("mx.ports-wrongname.test", "mismatch"),
    ],
)
async def test_untrusted_certificate_is_refused(
    ctx: ResolverContext, lab: Lab, host: str, why: str
) -> None:
    domain = host.split(".", 1)[1]
    result = await send(ctx, host=host, port=25, recipients=[f"postmaster@{domain}"])
    assert not result.accepted
    assert result.error is not None
    assert "certificate" in result.error
    assert why in result.error.lower()
    assert "nothing was sent" in result.error
    assert not any(line.text.startswith("MAIL FROM") for line in result.transcript)


async def test_untrusted_certificate_allowed_for_one_send(ctx: ResolverContext) -> None:
    result = await send(
        ctx,
        host="mx.ports-selfsigned.test",
        port=25,
        recipients=["postmaster@ports-selfsigned.test"],
        verify=False,
    )
    assert result.accepted, result.error
    assert result.tls is not None
    assert result.tls["verified"] is False
    assert any("NOT verified" in line.text for line in result.transcript)


# -- refusals -----------------------------------------------------------------------------


async def test_recipient_refused_at_rcpt(ctx: ResolverContext) -> None:
    # The good MX is no open relay: without AUTH, only good.test is local.
    result = await send(ctx, host="mx1.good.test", port=25, recipients=["someone@example.org"])
    assert not result.accepted
    assert result.reply is not None
    assert result.reply.startswith("554")
    assert result.error is not None
    assert "<someone@example.org>" in result.error
    assert result.queue_id is None
    texts = [line.text for line in result.transcript]
    assert "DATA" not in texts
    assert "RSET" in texts


async def test_mx_without_auth_delivers_to_its_own_domain(ctx: ResolverContext, lab: Lab) -> None:
    assert lab.smtp is not None
    before = len(lab.smtp.mx_handler.received)
    result = await send(ctx, host="mx1.good.test", port=25, recipients=["seed@good.test"])
    assert result.accepted, result.error
    received = lab.smtp.mx_handler.received[before:]
    assert len(received) == 1
    assert received[0].rcpt_tos == ["seed@good.test"]
    # aiosmtplib dot-stuffed the lone dot line and the server removed the stuffing again.
    lines = received[0].data.splitlines()
    assert b"." in lines
    assert b".." not in lines


async def test_no_starttls_is_never_silently_skipped(ctx: ResolverContext) -> None:
    host, rcpt = "mx.ports-nostarttls.test", ["postmaster@ports-nostarttls.test"]
    result = await send(ctx, host=host, port=25, recipients=rcpt)
    assert not result.accepted
    assert result.error is not None
    assert "offers no STARTTLS" in result.error
    plain = await send(ctx, host=host, port=25, recipients=rcpt, security="none")
    assert plain.accepted, plain.error
    assert plain.tls is None


async def test_credentials_never_go_without_tls(ctx: ResolverContext) -> None:
    guard = SendGuard()
    result = await send(ctx, security="none", username=LAB_USER, password=LAB_PASSWORD, guard=guard)
    assert not result.accepted
    assert result.error is not None
    assert "without TLS" in result.error
    assert result.transcript == []
    assert guard.used == 0


async def test_message_over_the_servers_size_is_refused_before_data(
    ctx: ResolverContext,
) -> None:
    big = make_message(size=33 * 1024 * 1024)  # aiosmtpd advertises SIZE 33554432
    result = await send(ctx, username=LAB_USER, password=LAB_PASSWORD, message=big)
    assert not result.accepted
    assert result.error is not None
    assert "33,554,432" in result.error
    assert not any(line.text.startswith(("MAIL FROM", "DATA")) for line in result.transcript)


async def test_malformed_address_is_refused_before_connecting(ctx: ResolverContext) -> None:
    guard = SendGuard()
    result = await send(
        ctx,
        recipients=["seed@good.test\r\nRCPT TO:<x@evil.test>"],
        message=make_message(),
        guard=guard,
    )
    assert not result.accepted
    assert result.error is not None
    assert "malformed address" in result.error
    assert result.transcript == []
    assert guard.used == 0


# -- the guard ----------------------------------------------------------------------------


async def test_unconfirmed_send_is_refused_without_connecting(ctx: ResolverContext) -> None:
    guard = SendGuard()
    result = await send(ctx, username=LAB_USER, password=LAB_PASSWORD, confirmed=False, guard=guard)
    assert not result.accepted
    assert result.error is not None
    assert "confirmation" in result.error
    assert result.transcript == []
    assert result.address is None
    assert guard.used == 0


async def test_cap_reached_is_refused_without_connecting(ctx: ResolverContext) -> None:
    guard = SendGuard(limit=1)
    first = await send(ctx, username=LAB_USER, password=LAB_PASSWORD, guard=guard)
    assert first.accepted, first.error
    second = await send(ctx, username=LAB_USER, password=LAB_PASSWORD, guard=guard)
    assert not second.accepted
    assert second.error is not None
    assert "cap of 1" in second.error
    assert second.transcript == []
    assert second.address is None


# -- network trouble ----------------------------------------------------------------------


async def test_tarpit_times_out_cleanly(ctx: ResolverContext) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    result = await send(
        ctx,
        host="mx.ports-tarpit.test",
        port=25,
        recipients=["postmaster@ports-tarpit.test"],
        timeout=0.5,
    )
    assert loop.time() - started < 8  # bounded: the tarpit itself never answers
    assert not result.accepted
    assert result.error is not None
    assert "no greeting" in result.error


async def test_refused_port(ctx: ResolverContext) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = await send(ctx, host="127.0.0.1", port=port, recipients=["seed@good.test"])
    assert not result.accepted
    assert result.error is not None
    assert "connection refused" in result.error


async def test_unknown_host(ctx: ResolverContext) -> None:
    result = await send(ctx, host="nohost.good.test")
    assert not result.accepted
    assert result.error is not None
    assert "cannot resolve nohost.good.test" in result.error


# -- LOGIN and XOAUTH2 on a server offering only those -----------------------------------


@dataclass
class OAuthHandler:
    """Accepts the lab account by LOGIN, or XOAUTH2 with SECRET_TOKEN; stores messages."""

    received: list[bytes] = field(default_factory=list)
    xoauth2_seen: list[str] = field(default_factory=list)

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        decoded = base64.b64decode(args[1]).decode() if len(args) > 1 else ""
        self.xoauth2_seen.append(decoded)
        ok = decoded == f"user={LAB_USER}\x01auth=Bearer {SECRET_TOKEN}\x01\x01"
        if ok:
            return AuthResult(success=True, auth_data=LAB_USER)
        return AuthResult(success=False, handled=False)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.received.append(bytes(envelope.content or b""))
        return "250 OK id=1tXyZa-000Abc-12"


@pytest.fixture
async def oauth_server(lab: Lab) -> AsyncIterator[tuple[int, OAuthHandler]]:
    """An implicit-TLS aiosmtpd on 127.0.0.1 offering LOGIN and XOAUTH2 (no PLAIN)."""
    assert lab.ca is not None
    cert = lab.ca.issue(["127.0.0.1"], label="send-oauth-test")
    handler = OAuthHandler()
    loop = asyncio.get_running_loop()

    def factory() -> SMTP:
        return SMTP(
            handler,
            hostname="oauth.lab",
            authenticator=lab_authenticator,
            auth_require_tls=False,  # implicit TLS: aiosmtpd cannot see it
            auth_exclude_mechanism=["PLAIN"],
            loop=loop,
        )

    server = await loop.create_server(factory, "127.0.0.1", 0, ssl=cert.server_context())
    try:
        yield server.sockets[0].getsockname()[1], handler
    finally:
        server.close()


async def test_login_mechanism_when_plain_is_not_offered(
    ctx: ResolverContext, oauth_server: tuple[int, OAuthHandler]
) -> None:
    port, _ = oauth_server
    result = await send(
        ctx, host="127.0.0.1", port=port, security="tls", username=LAB_USER, password=LAB_PASSWORD
    )
    assert result.accepted, result.error
    assert result.queue_id == "1tXyZa-000Abc-12"
    assert "AUTH LOGIN [credentials redacted]" in [line.text for line in result.transcript]
    assert_no_secret(result, secret_forms(LAB_USER, LAB_PASSWORD))


async def test_xoauth2_sends_the_token_and_never_records_it(
    ctx: ResolverContext, oauth_server: tuple[int, OAuthHandler]
) -> None:
    port, handler = oauth_server
    result = await send(
        ctx,
        host="127.0.0.1",
        port=port,
        security="tls",
        username=LAB_USER,
        oauth_token=SECRET_TOKEN,
    )
    assert result.accepted, result.error
    assert handler.xoauth2_seen == [f"user={LAB_USER}\x01auth=Bearer {SECRET_TOKEN}\x01\x01"]
    assert len(handler.received) == 1
    assert "AUTH XOAUTH2 [credentials redacted]" in [line.text for line in result.transcript]
    assert_no_secret(result, secret_forms(LAB_USER, "unused-password", SECRET_TOKEN))

    wrong = "ya29.a-wrong-token"
    failed = await send(
        ctx, host="127.0.0.1", port=port, security="tls", username=LAB_USER, oauth_token=wrong
    )
    assert not failed.accepted
    assert failed.reply is not None
    assert failed.reply.startswith("535")
    assert_no_secret(failed, secret_forms(LAB_USER, "unused-password", wrong))


async def test_xoauth2_not_offered_sends_no_token(ctx: ResolverContext) -> None:
    # The lab MX offers AUTH without XOAUTH2 (the submission servers take it).
    result = await send(
        ctx, host="mx1.good.test", port=25, username=LAB_USER, oauth_token=SECRET_TOKEN
    )
    assert not result.accepted
    assert result.error is not None
    assert "no XOAUTH2" in result.error
    assert_no_secret(result, secret_forms(LAB_USER, "unused-password", SECRET_TOKEN))


# -- pure helpers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "queue_id"),
    [
        ("250 2.0.0 Ok: queued as 4Zx1Hq6Qk2z9sTp", "4Zx1Hq6Qk2z9sTp"),
        ("250 OK id=1tXyZa-000Abc-12", "1tXyZa-000Abc-12"),
        (
            "250 2.0.0 OK  1732658400 d9443c01a7336-2129f2d3e1esi12.123 - gsmtp",
            "d9443c01a7336-2129f2d3e1esi12.123",
        ),
        (
            "250 2.6.0 <a@b> [InternalId=123456789, Hostname=AM0PR.eurprd.prod.outlook.com] "
            "Queued mail for delivery",
            "123456789",
        ),
        ("250 2.0.0 4AQC1xYz012345 Message accepted for delivery", "4AQC1xYz012345"),
        ("250 Ok 0100018c1a2b3c4d-5e6f7a8b-1234-5678-9abc-def012345678-000000", None),
        ("250 2.0.0 Ok", None),
        ("", None),
    ],
)
def test_parse_queue_id(reply: str, queue_id: str | None) -> None:
    found = parse_queue_id(reply)
    if queue_id is None and reply.startswith("250 Ok 0100"):
        assert found is not None
        assert found.startswith("0100018c1a2b3c4d")
    else:
        assert found == queue_id


@given(st.text(max_size=600))
def test_parse_queue_id_never_raises(reply: str) -> None:
    found = parse_queue_id(reply)
    assert found is None or (0 < len(found) <= 128 and found in reply)


@given(st.binary(max_size=2000))
def test_message_id_of_never_raises(data: bytes) -> None:
    found = message_id_of(data)
    assert found is None or isinstance(found, str)


def test_password_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    assert password_from_env() is None
    monkeypatch.setenv("MAILSCOPE_SMTP_PASSWORD", "s3cret")
    monkeypatch.setenv("OTHER_VAR", "other")
    assert password_from_env() == "s3cret"
    assert password_from_env("OTHER_VAR") == "other"
    monkeypatch.setenv("OTHER_VAR", "")
    assert password_from_env("OTHER_VAR") is None


def test_prompt_needs_a_terminal() -> None:
    assert prompt_password(LAB_USER, stream_is_tty=False) is None


@pytest.fixture
async def drops_mid_data() -> AsyncIterator[int]:
    """A raw SMTP server that takes the envelope, says 354, then hangs up mid-message."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            writer.write(b"220 drop.test ESMTP\r\n")
            while line := await reader.readline():
                verb = line[:4].upper()
                if verb == b"EHLO":
                    writer.write(b"250-drop.test\r\n250 8BITMIME\r\n")
                elif verb == b"DATA":
                    writer.write(b"354 go ahead\r\n")
                    await writer.drain()
                    await reader.read(64)  # a little of the message, then the line drops
                    break
                else:
                    writer.write(b"250 OK\r\n")
                await writer.drain()
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


async def test_a_connection_dropped_mid_data_says_the_send_is_in_doubt(
    ctx: ResolverContext, drops_mid_data: int
) -> None:
    result = await send(
        ctx,
        host="127.0.0.1",
        port=drops_mid_data,
        security="none",
        recipients=["seed@drop.test"],
        message=make_message("seed@drop.test", size=256 * 1024),
    )
    assert not result.accepted
    assert result.error is not None
    assert result.error.startswith("probably not sent: the connection failed during DATA")
    assert "check the mailbox before resending" in result.error
    assert result.transcript[-1].text == result.error
