"""IMAP readback against a real IMAP server: Dovecot over the lab mailbox (tests/send/conftest.py).

Lab data: the good MX (mx1.good.test) files what it accepts for seed@good.test in INBOX,
or in Spam when DMARC fails (good.test publishes p=reject); the lab's Dovecot serves
those Maildirs on imap.good.test (127.0.1.4) with a lab-CA certificate, for
seed@good.test / IMAP_PASSWORD. Mail submitted on 587 is judged as from the relay
192.0.2.10, which good.test's SPF lists (aligned: INBOX); an unsigned message sent
straight to the MX from 127.0.0.1 fails SPF and DKIM, so DMARC (Spam).

The URL parser's tests need no server; the rest skip, saying why, without Dovecot.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from console.auth.resolver import ResolverContext
from console.errors import MailscopeError
from console.lab import Lab
from console.lab.imap import IMAP_HOST, IMAP_PASSWORD, LabImap
from console.lab.smtp import LAB_PASSWORD, LAB_USER
from console.send import imap as imap_module
from console.send.compose import TestMessage, build_message, message_bytes
from console.send.guard import SendGuard
from console.send.imap import (
    IMAP_PASSWORD_ENV,
    ImapTarget,
    fetch_delivery_imap,
    fetch_message_imap,
    imap_password_from_env,
    parse_imap_url,
)
from console.send.smtp import send_smtp
from console.services import ServiceMap

SEED = "seed@good.test"


# -- URLs ----------------------------------------------------------------------------------


def test_imaps_url_means_implicit_tls_on_993() -> None:
    target = parse_imap_url("imaps://seed%40good.test@imap.good.test")
    assert target == ImapTarget("imap.good.test", 993, SEED, "tls")


def test_imap_url_means_starttls_on_143_never_clear_text() -> None:
    target = parse_imap_url("IMAP://Seed@Mail.Example.COM.:10143")
    assert target.tls == "starttls"
    assert target.port == 10143
    assert target.host == "mail.example.com"
    assert target.username == "Seed"  # user names are the server's business


def test_a_plain_at_sign_in_the_user_and_an_ip_literal_are_understood() -> None:
    target = parse_imap_url("imaps://seed@good.test@[::1]:993/?junk=Junk%20E-mail")
    assert (target.username, target.host, target.port) == (SEED, "::1", 993)
    assert target.junk == "Junk E-mail"


def test_a_password_in_the_url_is_refused_and_never_repeated() -> None:
    with pytest.raises(MailscopeError) as caught:
        parse_imap_url("imaps://seed:Hunter2-Secret@imap.good.test")
    assert IMAP_PASSWORD_ENV in str(caught.value)
    assert "Hunter2-Secret" not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("", "empty"),
        ("https://seed@imap.good.test", "scheme"),
        ("imaps://imap.good.test", "no user"),
        ("imaps://seed@", "no host"),
        ("imaps://seed@imap.good.test:99999", "port"),
        ("imaps://seed@imap.good.test:0", "port 0"),
        ("imaps://seed@imap.good.test/INBOX", "no path"),
        ("imaps://seed@imap.good.test/?folder=x", "junk"),
        ("imaps://seed@bad_host!/", "not a host name"),
        ("imaps://se\x1b[31med@imap.good.test", "control"),
    ],
)
def test_bad_urls_get_a_one_line_reason(url: str, why: str) -> None:
    with pytest.raises(MailscopeError) as caught:
        parse_imap_url(url)
    assert why in str(caught.value)
    assert "\n" not in str(caught.value)


_label = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=12).filter(
    lambda s: not s.startswith("-")
)
_hosts = st.lists(_label, min_size=1, max_size=4).map(".".join)
_users = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x2FF, exclude_characters="\x7f"),
    min_size=1,
    max_size=40,
).filter(lambda s: all(not (0x80 <= ord(c) <= 0x9F) for c in s))


@given(
    host=_hosts,
    user=_users,
    port=st.integers(1, 65535),
    tls=st.sampled_from(["tls", "starttls"]),
    junk=st.none() | st.text(alphabet="abcdefXYZ ./[]-", min_size=1, max_size=20),
)
def test_a_target_survives_its_own_url(
    host: str, user: str, port: int, tls: str, junk: str | None
) -> None:
    target = ImapTarget(host, port, user, tls, junk=junk)  # type: ignore[arg-type]
    assert parse_imap_url(target.url) == target
    assert parse_imap_url(str(target)) == target


@given(st.text(max_size=80))
def test_any_text_is_a_target_or_a_mailscope_error(text: str) -> None:
    try:
        target = parse_imap_url(text)
    except MailscopeError as exc:
        error: MailscopeError | None = exc
    else:
        error = None
        assert target.tls in ("tls", "starttls")
        assert 0 < target.port < 65536
        assert target.username
    assert error is None or "\n" not in str(error)


@given(password=st.text(alphabet="abcdefghijKLMNOP0123456789!$&'()*+,;=._~-", min_size=3))
def test_no_url_with_a_password_is_accepted_or_echoed(password: str) -> None:
    with pytest.raises(MailscopeError) as caught:
        parse_imap_url(f"imaps://seed:{password}@imap.good.test:993")
    with pytest.raises(MailscopeError) as reference:
        parse_imap_url("imaps://seed:x@imap.good.test:993")
    # The refusal does not depend on the password at all (a short password such as
    # "bad" may still occur in its fixed wording, so a substring test would mislead).
    assert str(caught.value) == str(reference.value)


def test_the_password_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert imap_password_from_env() is None
    monkeypatch.setenv(IMAP_PASSWORD_ENV, "from-env")
    assert imap_password_from_env() == "from-env"
    monkeypatch.setenv(IMAP_PASSWORD_ENV, "")
    assert imap_password_from_env() is None


# -- reading back from the lab's Dovecot ----------------------------------------------------


def new_message() -> tuple[str, str, bytes]:
    spec = TestMessage(from_addr=LAB_USER, to=SEED, subject="imap readback test")
    message = build_message(spec)
    return spec.test_id, str(message["Message-ID"]), message_bytes(message)


async def submit(ctx: ResolverContext, data: bytes) -> None:
    """Through the submission server (587, STARTTLS, AUTH): relayed, aligned, INBOX."""
    result = await send_smtp(
        ctx,
        data,
        envelope_from=LAB_USER,
        recipients=[SEED],
        host="smtp.good.test",
        port=587,
        security="starttls",
        username=LAB_USER,
        password=LAB_PASSWORD,
        timeout=5.0,
        confirmed=True,
        guard=SendGuard(),
    )
    assert result.accepted, result.error


async def send_direct(ctx: ResolverContext, data: bytes) -> None:
    """Straight to the MX from 127.0.0.1, unsigned: SPF and DKIM fail, so DMARC (Spam)."""
    result = await send_smtp(
        ctx,
        data,
        envelope_from=LAB_USER,
        recipients=[SEED],
        host="mx1.good.test",
        port=25,
        security="starttls",
        timeout=5.0,
        confirmed=True,
        guard=SendGuard(),
    )
    assert result.accepted, result.error


@pytest.fixture
async def imap_ctx(lab: Lab, lab_imap: LabImap) -> AsyncIterator[ResolverContext]:
    """A lab resolver whose service map also holds the IMAP server's ports (993, 143)."""
    services = lab.services
    context = ResolverContext.from_options(
        [lab.nameserver],
        timeout=2.0,
        services=ServiceMap(
            ports=services.ports,
            host_ports={**services.host_ports, **lab_imap.service_ports},
            cafile=services.cafile,
        ),
    )
    yield context
    context.close()


async def test_an_aligned_message_is_read_back_from_the_inbox(
    ctx: ResolverContext, imap_ctx: ResolverContext, lab_imap: LabImap
) -> None:
    test_id, message_id, data = new_message()
    await submit(ctx, data)
    target = parse_imap_url(f"imaps://seed%40good.test@{IMAP_HOST}")  # 993 via the service map
    delivery = await fetch_delivery_imap(
        target, IMAP_PASSWORD, test_id=test_id, resolver=imap_ctx, wait=5.0, timeout=5.0
    )
    assert delivery is not None
    assert delivery.folder == "INBOX"
    assert delivery.test_id == test_id
    assert delivery.message_id == message_id
    assert delivery.authserv_id == "mx1.good.test"
    assert delivery.dmarc is not None
    assert delivery.dmarc.result == "pass"
    assert delivery.spf is not None
    assert delivery.spf.result == "pass"
    assert delivery.alignment["spf"] == "strict"
    assert len(delivery.hops) == 2  # submission, then the MX
    assert delivery.total_seconds is not None


async def test_a_dmarc_failure_is_read_back_from_spam(
    ctx: ResolverContext, imap_ctx: ResolverContext, lab_imap: LabImap
) -> None:
    test_id, _, data = new_message()
    await send_direct(ctx, data)
    target = parse_imap_url(lab_imap.url())
    delivery = await fetch_delivery_imap(
        target, IMAP_PASSWORD, test_id=test_id, resolver=imap_ctx, wait=5.0, timeout=5.0
    )
    assert delivery is not None
    assert delivery.folder == "Spam"
    assert delivery.test_id == test_id
    assert delivery.dmarc is not None
    assert delivery.dmarc.result == "fail"
    assert delivery.dkim is not None
    assert delivery.dkim.result == "none"


async def test_starttls_and_message_id_find_the_same_copy(
    ctx: ResolverContext, imap_ctx: ResolverContext, lab_imap: LabImap
) -> None:
    test_id, message_id, data = new_message()
    await submit(ctx, data)
    target = parse_imap_url(lab_imap.url(tls=False))
    assert target.tls == "starttls"
    found = await fetch_message_imap(
        target, IMAP_PASSWORD, message_id=message_id, resolver=imap_ctx, wait=5.0, timeout=5.0
    )
    assert found is not None
    folder, stored = found
    assert folder == "INBOX"
    assert stored.endswith(data)  # byte for byte below the receiver's stamps
    assert f"X-Mailscope-Test: {test_id}".encode() in stored


async def test_readback_is_read_only(
    ctx: ResolverContext, imap_ctx: ResolverContext, lab_imap: LabImap
) -> None:
    test_id, _, data = new_message()
    await submit(ctx, data)
    target = parse_imap_url(lab_imap.url())
    for _ in range(2):
        assert await fetch_message_imap(
            target, IMAP_PASSWORD, test_id=test_id, resolver=imap_ctx, wait=5.0, timeout=5.0
        )
    # Nothing was marked \Seen: the file is still unread in new/ or cur/ without the S flag.
    inbox = lab_imap.maildir_root / SEED / "Maildir"
    copies = [
        path
        for sub in ("new", "cur")
        for path in (inbox / sub).iterdir()
        if test_id.encode() in path.read_bytes()
    ]
    assert len(copies) == 1
    assert "S" not in copies[0].name.partition(":2,")[2]


async def test_a_message_that_never_arrived_is_none(
    imap_ctx: ResolverContext, lab_imap: LabImap
) -> None:
    target = parse_imap_url(lab_imap.url())
    missing = str(uuid.uuid4())
    assert (
        await fetch_delivery_imap(
            target, IMAP_PASSWORD, test_id=missing, resolver=imap_ctx, wait=0.0, timeout=5.0
        )
        is None
    )


async def test_a_wrong_password_is_one_line_without_the_password(
    imap_ctx: ResolverContext, lab_imap: LabImap, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "Not-The-Lab-Password-42"
    caplog.set_level(logging.DEBUG)
    with pytest.raises(MailscopeError) as caught:
        await fetch_delivery_imap(
            parse_imap_url(lab_imap.url()),
            wrong,
            test_id="x",
            resolver=imap_ctx,
            timeout=5.0,
        )
    message = str(caught.value)
    assert "refused the login for seed@good.test" in message
    assert "\n" not in message
    assert wrong not in message
    assert wrong not in caplog.text  # aioimaplib logs what it sends at DEBUG
    assert "LOGIN" in caplog.text  # ...and the LOGIN line was indeed logged, masked


async def test_an_untrusted_certificate_is_refused_before_login(
    lab: Lab, lab_imap: LabImap
) -> None:
    # The lab DNS, but no lab CA: the certificate chains to nothing the system trusts.
    context = ResolverContext.from_options([lab.nameserver], timeout=2.0)
    try:
        with pytest.raises(MailscopeError) as caught:
            await fetch_delivery_imap(
                parse_imap_url(lab_imap.url()),
                IMAP_PASSWORD,
                test_id="x",
                resolver=context,
                timeout=5.0,
            )
    finally:
        context.close()
    assert f"TLS certificate of {IMAP_HOST} not trusted" in str(caught.value)
    assert "--cafile" in str(caught.value)


# -- servers that misbehave (tiny loopback servers; Dovecot always behaves) -----------------


async def _serve(handler) -> tuple[asyncio.Server, int]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def test_a_silent_server_times_out_with_one_line() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # never greets
        writer.close()

    server, port = await _serve(silent)
    async with server:
        with pytest.raises(MailscopeError) as caught:
            await fetch_message_imap(
                ImapTarget("127.0.0.1", port, SEED, "starttls"),
                "pw-123",
                test_id="x",
                timeout=0.3,
            )
    assert "greeting: no answer from 127.0.0.1 within 0.3 s" in str(caught.value)


async def test_a_server_without_starttls_never_gets_the_password() -> None:
    received: list[bytes] = []

    async def no_tls(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"* OK IMAP4rev1 ready\r\n")
        await writer.drain()
        while line := await reader.readline():
            received.append(line)
            tag = line.split(b" ", 1)[0]
            writer.write(tag + b" BAD STARTTLS not supported\r\n")
            await writer.drain()
        writer.close()

    server, port = await _serve(no_tls)
    async with server:
        with pytest.raises(MailscopeError) as caught:
            await fetch_message_imap(
                ImapTarget("127.0.0.1", port, SEED, "starttls"),
                "pw-never-sent",
                test_id="x",
                timeout=2.0,
            )
    assert "offers no STARTTLS" in str(caught.value)
    assert received == [b"M0 STARTTLS\r\n"]


async def test_a_refused_port_is_one_line() -> None:
    server, port = await _serve(lambda r, w: w.close())
    server.close()
    await server.wait_closed()
    with pytest.raises(MailscopeError) as caught:
        await fetch_message_imap(
            ImapTarget("127.0.0.1", port, SEED), "pw-123", test_id="x", timeout=2.0
        )
    assert f"cannot connect to 127.0.0.1 port {port}" in str(caught.value)


async def test_bad_input_is_refused_before_any_connection() -> None:
    target = ImapTarget("127.0.0.1", 9, SEED)
    with pytest.raises(MailscopeError, match="nothing to look for"):
        await fetch_message_imap(target, "pw-123")
    with pytest.raises(MailscopeError, match="no IMAP password"):
        await fetch_message_imap(target, "", test_id="x")
    with pytest.raises(MailscopeError, match="printable ASCII"):
        await fetch_message_imap(target, "pw-123", test_id='x"\r\nA1 DELETE INBOX')


# -- hostile servers over TLS (tiny loopback servers with a lab-CA certificate) -------------

Reply = Callable[[bytes, bytes, asyncio.StreamWriter], Awaitable[bool | None]]
"""(tag, command line, writer) -> True to stop serving; writes its own answer."""

MESSAGE = b"X-Mailscope-Test: t-1\r\nMessage-ID: <m1@good.test>\r\nSubject: s\r\n\r\nbody\r\n"


async def _ok(tag: bytes, line: bytes, writer: asyncio.StreamWriter) -> None:
    name = line.split(b" ", 1)[0].upper()
    if name == b"CAPABILITY":
        writer.write(b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n")
    elif name == b"EXAMINE":
        writer.write(b"* 1 EXISTS\r\n")
    elif line.upper().startswith(b"UID SEARCH"):
        writer.write(b"* SEARCH 5\r\n")
    elif line.upper().startswith(b"UID FETCH"):
        writer.write(b"* 1 FETCH (UID 5 BODY[] {%d}\r\n%s)\r\n" % (len(MESSAGE), MESSAGE))
    elif name == b"LOGOUT":
        writer.write(b"* BYE\r\n")
    writer.write(tag + b" OK done\r\n")
    await writer.drain()


class Hostile:
    """A TLS IMAP server on 127.0.0.1 that answers like `_ok` except where told."""

    def __init__(self, lab: Lab, greeting: bytes = b"* OK ready\r\n") -> None:
        assert lab.ca is not None
        self.cert = lab.ca.issue(["127.0.0.1"], label="hostile-imap")
        self.cafile = str(lab.ca.cafile)
        self.greeting = greeting
        self.replies: dict[bytes, Reply] = {}
        self.received: list[bytes] = []
        self.closed = asyncio.Event()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            writer.write(self.greeting)
            await writer.drain()
            while line := await reader.readline():
                self.received.append(line)
                tag, _, command = line.rstrip(b"\r\n").partition(b" ")
                words = command.upper().split(b" ")
                key = b" ".join(words[:2]) if words[0] == b"UID" else words[0]
                if await self.replies.get(key, _ok)(tag, command, writer):
                    break
        except (ConnectionError, OSError, asyncio.CancelledError):
            pass  # the client hung up, or the test is over
        finally:
            self.closed.set()
            writer.close()

    async def fetch(self, password: str = "pw-123", **kw: Any) -> tuple[str, bytes] | None:
        server = await asyncio.start_server(
            self._handle, "127.0.0.1", 0, ssl=self.cert.server_context()
        )
        port = server.sockets[0].getsockname()[1]
        async with server:
            return await fetch_message_imap(
                ImapTarget("127.0.0.1", port, SEED, "tls"),
                password,
                test_id="t-1",
                cafiles=(self.cafile,),
                timeout=kw.pop("timeout", 2.0),
                wait=0.0,
                **kw,
            )


async def test_the_hostile_servers_normal_answer_is_read(lab: Lab) -> None:
    found = await Hostile(lab).fetch()
    assert found == ("INBOX", MESSAGE)


async def test_a_greeting_with_escapes_and_markup_is_refused_literally(lab: Lab) -> None:
    server = Hostile(lab, greeting=b"* BYE \x1b[2J\x1b]0;owned\x07[bold red]go away[/] <b>\r\n")
    with pytest.raises(MailscopeError) as caught:
        await server.fetch()
    message = str(caught.value)
    assert "refused service at the greeting" in message
    assert "\x1b" not in message
    assert "\x07" not in message
    assert "\n" not in message
    assert "[bold red]go away[/]" in message  # shown literally; displays use Text
    assert server.received == []  # nothing, least of all LOGIN, was sent


async def test_a_starttls_greeting_with_escapes_is_shown_escaped() -> None:
    async def rude(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"* BYE \x1b[31mred\x1b[0m [link=x]y[/link]\r\n")
        await writer.drain()
        writer.close()

    server, port = await _serve(rude)
    async with server:
        with pytest.raises(MailscopeError) as caught:
            await fetch_message_imap(
                ImapTarget("127.0.0.1", port, SEED, "starttls"), "pw-123", test_id="x", timeout=2
            )
    assert "\x1b" not in str(caught.value)
    assert "refused service at the greeting" in str(caught.value)


async def test_silence_after_login_ends_at_the_step_deadline(lab: Lab) -> None:
    server = Hostile(lab)

    async def silent(tag: bytes, line: bytes, writer: asyncio.StreamWriter) -> None:
        return None  # never answers

    server.replies[b"LOGIN"] = silent
    with pytest.raises(MailscopeError) as caught:
        await server.fetch(timeout=0.5)
    assert str(caught.value).endswith("login: no answer from 127.0.0.1 within 0.5 s")
    assert [line.split()[1] for line in server.received] == [b"CAPABILITY", b"LOGIN"]


async def test_a_1_gb_literal_is_cut_off_at_the_budget(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(imap_module, "MAX_RESPONSE", 1024 * 1024)
    server = Hostile(lab)
    sent = [0]

    async def huge(tag: bytes, line: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"* 1 FETCH (UID 5 BODY[] {1000000000}\r\n")
        chunk = b"x" * 65536
        for _ in range(16_000):  # at most 1 GB, until the client hangs up
            writer.write(chunk)
            await writer.drain()
            sent[0] += len(chunk)
        return True

    server.replies[b"UID FETCH"] = huge
    with pytest.raises(MailscopeError) as caught:
        await server.fetch()
    assert "FETCH: 127.0.0.1 sent over 1 MiB in one answer: cut off" in str(caught.value)
    await asyncio.wait_for(server.closed.wait(), 10)
    assert sent[0] < 64 * 1024 * 1024  # the client hung up long before a gigabyte


async def test_an_endless_line_is_cut_off(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(imap_module, "MAX_LINE", 64 * 1024)
    server = Hostile(lab)

    async def endless(tag: bytes, line: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(b'* LIST () "/" ')
        for _ in range(16_000):
            writer.write(b"a" * 65536)
            await writer.drain()
        return True

    server.replies[b"LIST"] = endless
    with pytest.raises(MailscopeError) as caught:
        await server.fetch()
    assert "LIST: 127.0.0.1 sent a line over 64 KiB: cut off" in str(caught.value)


async def test_endless_untagged_lines_are_cut_off(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(imap_module, "MAX_RESPONSE", 1024 * 1024)
    server = Hostile(lab)

    async def chatter(tag: bytes, line: bytes, writer: asyncio.StreamWriter) -> bool:
        for _ in range(1_000_000):
            writer.write(b"* OK still here\r\n" * 1000)
            await writer.drain()
        return True

    server.replies[b"EXAMINE"] = chatter
    with pytest.raises(MailscopeError) as caught:
        await server.fetch()
    assert "EXAMINE: 127.0.0.1 sent over 1 MiB in one answer" in str(caught.value)


async def test_a_connection_closed_mid_fetch_is_one_line_at_once(lab: Lab) -> None:
    server = Hostile(lab)

    async def cut(tag: bytes, line: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"* 1 FETCH (UID 5 BODY[] {1000}\r\nX-Mailscope-Test: t-1\r\n")
        await writer.drain()
        return True  # and hang up

    server.replies[b"UID FETCH"] = cut
    with pytest.raises(MailscopeError) as caught:
        # A long deadline: the step must end because the connection closed, not time out.
        await server.fetch(timeout=30.0)
    assert str(caught.value).endswith("FETCH: 127.0.0.1 closed the connection")


async def test_a_fetch_for_another_uid_is_refused(lab: Lab) -> None:
    server = Hostile(lab)

    async def other(tag: bytes, line: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(b"* 9 FETCH (UID 77 BODY[] {%d}\r\n%s)\r\n" % (len(MESSAGE), MESSAGE))
        writer.write(tag + b" OK done\r\n")
        await writer.drain()

    server.replies[b"UID FETCH"] = other
    with pytest.raises(MailscopeError) as caught:
        await server.fetch()
    assert "answered for UID 77, not the UID 5 asked for" in str(caught.value)


async def test_a_fetch_of_a_message_without_the_test_id_is_refused(lab: Lab) -> None:
    server = Hostile(lab)
    stranger = b"Subject: someone else's mail\r\n\r\nsecret\r\n"

    async def other(tag: bytes, line: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(b"* 1 FETCH (BODY[] {%d}\r\n%s UID 5)\r\n" % (len(stranger), stranger))
        writer.write(tag + b" OK done\r\n")
        await writer.drain()

    server.replies[b"UID FETCH"] = other
    with pytest.raises(MailscopeError) as caught:
        await server.fetch()
    assert "does not carry the X-Mailscope-Test searched for" in str(caught.value)


async def test_a_password_echoed_by_the_server_is_scrubbed_everywhere(
    lab: Lab, caplog: pytest.LogCaptureFixture
) -> None:
    password = 'Echo\\"Me-Secret-9é'
    server = Hostile(lab)

    async def echo(tag: bytes, line: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(b"* OK you said " + line + b"\r\n")
        writer.write(tag + b" NO [AUTHENTICATIONFAILED] " + line + b"\r\n")
        await writer.drain()

    server.replies[b"LOGIN"] = echo
    caplog.set_level(logging.DEBUG)
    for name in ("aioimaplib", "aioimaplib.aioimaplib", "asyncio"):
        caplog.set_level(logging.DEBUG, logger=name)
    with pytest.raises(MailscopeError) as caught:
        await server.fetch(password)
    message = str(caught.value)
    assert "refused the login" in message
    assert "[redacted]" in message  # the echo was there, and is gone
    assert len(server.received) >= 2
    assert b"Me-Secret" in server.received[1]  # it was sent
    logged = caplog.text
    assert "Received" in logged  # aioimaplib did log the echo at DEBUG ...
    for form in ("Me-Secret", "Me-Secret-9\\xc3\\xa9"):
        assert form not in logged  # ... without the password in any form
        assert form not in message


async def test_a_list_of_thousands_of_folders_in_one_read_is_understood(lab: Lab) -> None:
    # aioimaplib recurses once per line of a network read; 3000 lines would overflow it.
    server = Hostile(lab)

    async def many(tag: bytes, line: bytes, writer: asyncio.StreamWriter) -> None:
        folders = b"".join(b'* LIST () "." "Folder%d"\r\n' % n for n in range(3000))
        writer.write(folders + b'* LIST (\\Junk) "." "Bulk"\r\n' + tag + b" OK done\r\n")
        await writer.drain()

    async def search(tag: bytes, line: bytes, writer: asyncio.StreamWriter) -> None:
        examined = [x.split()[2] for x in server.received if x.split()[1] == b"EXAMINE"]
        if examined[-1] == b'"Bulk"':  # only the junk folder holds it
            writer.write(b"* SEARCH 5\r\n")
        writer.write(tag + b" OK done\r\n")
        await writer.drain()

    server.replies[b"LIST"] = many
    server.replies[b"UID SEARCH"] = search
    assert await server.fetch() == ("Spam", MESSAGE)  # Bulk, flagged \Junk, line 3001
