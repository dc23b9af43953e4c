"""The lab's SMTP servers: the three port roles done right, and the ways servers go wrong.

Each lab host resolves (in the lab's zones) to its own loopback address, and a probe
connects to the address its host resolves to, so every server listens on the addresses
of the hosts it stands for. The good servers share one port per role across their
addresses and publish it as the lab's 25/465/587 (`LabSmtp.ports`); each misbehaving
host has its own address and port, published per host (`LabSmtp.host_ports`).

Well-behaved servers are aiosmtpd. Servers that must break the protocol (a tarpit, a
1 MB banner, a reply that never ends, garbage instead of TLS, a hang-up in the middle
of the TLS handshake, a port that drops connections like a firewall) are small raw
asyncio servers: a real SMTP implementation would refuse to misbehave this way.

The good MX certificate uses a key shipped in `console/lab/keys/smtp-mx-good.pem`, so
the TLSA `3 1 1` records in the signed good.test zone match it at every start-up.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import errno
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from console.auth.resolver import ResolverContext
from console.lab.ca import SERVER_AUTH, IssuedCert, LabCA
from console.lab.mailbox import LabMailbox

LAB_USER = "demo@good.test"
LAB_PASSWORD = "lab-password"
"""The submission servers' one account (lab only): `--auth-user demo@good.test`."""

GOOD_MX_KEY = "smtp-mx-good.pem"
"""The fixed key of the good MX certificate; its SPKI SHA-256 is in good.test's TLSA."""

HUGE_BANNER_BYTES = 1024 * 1024
ENDLESS_REPLY_LIMIT = 16 * 1024 * 1024
"""Bytes the never-ending reply sends at most, so a client that never stops cannot pin the lab."""

SLOW_GREETING_DELAY = 3.5
"""Seconds the slow server waits before its greeting (over the probe's 3 s threshold)."""

HOLD_SECONDS = 300.0
"""How long a tarpit holds a connection (clients time out long before)."""

GOOD_MX_ADDRESSES = {
    "127.0.0.1": "localhost",
    "127.0.1.1": "mx1.good.test",
    "127.0.1.2": "mx2.good.test",
    "127.0.1.3": "smtp.good.test",
    "::1": "mx1.good.test",
}
"""Where the good MX-style server listens, and the name it greets with on each address."""

EGRESS_ADDRESSES = {"127.0.6.1": "mx1.ports-egress.test", "127.0.6.2": "mx2.ports-egress.test"}
"""ports-egress.test: port 25 drops connections (a firewall), 465 and 587 answer."""

SUBMISSION_ADDRESSES = {
    "127.0.0.1": "localhost",
    "127.0.1.3": "smtp.good.test",
    **EGRESS_ADDRESSES,
}
"""Where the good submission servers (465, 587) listen."""

LOCAL_DOMAINS = frozenset({"good.test"})
"""Domains the good MX accepts mail for; anything else needs AUTH (no open relay)."""


@dataclass(frozen=True, slots=True)
class BadHost:
    """One misbehaving lab host: its name, address, the port role it breaks, and how."""

    host: str
    address: str
    port: int
    behaviour: str
    summary: str


BAD_HOSTS: tuple[BadHost, ...] = (
    BadHost("mx.ports-nostarttls.test", "127.0.5.1", 25, "nostarttls", "port 25 without STARTTLS"),
    BadHost("smtp.ports-authplain.test", "127.0.5.2", 587, "authplain", "AUTH before TLS"),
    BadHost("mx.ports-expired.test", "127.0.5.3", 25, "expired", "expired certificate"),
    BadHost(
        "mx.ports-wrongname.test", "127.0.5.4", 25, "wrongname", "certificate for another name"
    ),
    BadHost("mx.ports-selfsigned.test", "127.0.5.5", 25, "selfsigned", "self-signed certificate"),
    BadHost("mx.ports-tarpit.test", "127.0.5.6", 25, "tarpit", "accepts, never greets"),
    BadHost("mx.ports-hugebanner.test", "127.0.5.7", 25, "hugebanner", "1 MB greeting"),
    BadHost("mx.ports-escape.test", "127.0.5.8", 25, "escape", "escapes and markup in greeting"),
    BadHost("mx.ports-hangup.test", "127.0.5.9", 25, "hangup", "closes mid-handshake"),
    BadHost("smtp.ports-garbage.test", "127.0.5.10", 465, "garbage", "garbage instead of TLS"),
    BadHost("smtp.ports-plain465.test", "127.0.5.11", 465, "plain465", "plain text on 465"),
    BadHost("mx.ports-multiline.test", "127.0.5.12", 25, "multiline", "EHLO reply never ends"),
    BadHost("mx.ports-slow.test", "127.0.5.13", 25, "slow", "greeting after 3.5 s"),
    BadHost("mx.ports-openrelay.test", "127.0.5.14", 25, "openrelay", "open relay"),
    BadHost("mx.ports-danebad.test", "127.0.5.15", 25, "danebad", "TLSA matches nothing"),
    BadHost("mx.ports-banner.test", "127.0.5.16", 25, "banner", "greets with another name"),
    BadHost(
        "mx.ports-expiring.test", "127.0.5.17", 25, "expiring", "certificate expires in 5 days"
    ),
)
"""The probe demos: `mailscope probe --lab --mx DOMAIN` (or the host) shows each mistake."""

PROBE_DEMO_DOMAINS: tuple[str, ...] = (
    "good.test",
    "ports-egress.test",
    *(bad.host.split(".", 1)[1] for bad in BAD_HOSTS),
)


# -- certificates -----------------------------------------------------------------------


def good_mx_key() -> ec.EllipticCurvePrivateKey:
    data = (resources.files("console.lab") / "keys" / GOOD_MX_KEY).read_bytes()
    key = serialization.load_pem_private_key(data, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def issue_with_key(
    ca: LabCA, names: Sequence[str], key: ec.EllipticCurvePrivateKey, label: str
) -> IssuedCert:
    """A CA-signed server certificate for `names` on a given key (for a stable DANE record).

    LabCA.issue always makes a new key; a TLSA `3 1 1` record in a static zone file needs
    the same public key at every start-up.
    """
    now = dt.datetime.now(dt.UTC)
    public = key.public_key()
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "mailscope lab"),
            x509.NameAttribute(NameOID.COMMON_NAME, names[0]),
        ]
    )
    general = [_general_name(name) for name in names]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.certificate.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(general), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
            critical=False,
        )
        .sign(ca.key, hashes.SHA256())
    )
    assert ca.directory is not None
    certfile = ca.directory / f"{label}.pem"
    keyfile = ca.directory / f"{label}.key"
    certfile.write_bytes(certificate.public_bytes(serialization.Encoding.PEM) + ca.pem)
    keyfile.touch(mode=0o600)
    keyfile.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return IssuedCert(tuple(names), certificate, key, certfile, keyfile)


def _general_name(name: str) -> x509.GeneralName:
    import ipaddress

    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


# -- aiosmtpd handlers ------------------------------------------------------------------


@dataclass(slots=True)
class Received:
    """A message the lab accepted (the MX role stores what it receives)."""

    peer: str
    mail_from: str
    rcpt_tos: list[str]
    data: bytes


class LabHandler:
    """Accepts mail for local domains (or for anyone, as an open relay); stores it."""

    def __init__(self, local_domains: frozenset[str], *, open_relay: bool = False) -> None:
        self.local_domains = local_domains
        self.open_relay = open_relay
        self.received: list[Received] = []
        self.mailbox: LabMailbox | None = None  # set on the good MX: judge, stamp, file
        self.relay: LabHandler | None = None  # submission: hand accepted mail to the MX

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        domain = address.rpartition("@")[2].lower().rstrip(">")
        if not (self.open_relay or session.authenticated or domain in self.local_domains):
            return "554 5.7.1 <" + address + ">: Relay access denied"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content if isinstance(envelope.content, bytes) else b""
        self.received.append(
            Received(
                str(session.peer),
                str(envelope.mail_from),
                list(envelope.rcpt_tos),
                content[: 10 * 1024 * 1024],
            )
        )
        queue_id = f"LAB{len(self.received):06d}"
        mailbox = self.relay.mailbox if self.relay is not None else self.mailbox
        if mailbox is not None:
            await mailbox.deliver(
                content[: 10 * 1024 * 1024],
                peer=session.peer,
                mail_from=str(envelope.mail_from or ""),
                rcpt_tos=list(envelope.rcpt_tos),
                helo=session.host_name,
                by_host=server.hostname,
                tls=session.ssl,
                submitted=bool(session.authenticated),
                queue_id=queue_id,
            )
        return f"250 2.0.0 Ok: queued as {queue_id}"


TokenCheck = Callable[[str, str], bool]
"""(user, access token) -> may this token send as this user (XOAUTH2)."""


class SubmissionHandler(LabHandler):
    """The submission role: relays authenticated mail to the MX, and takes XOAUTH2 as
    Gmail and Exchange Online do, with tokens the lab's emulators issued."""

    def __init__(self, local_domains: frozenset[str]) -> None:
        super().__init__(local_domains)
        self.token_check: TokenCheck | None = None
        """Set once the token issuers run; until then XOAUTH2 refuses every token."""

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        if len(args) > 1:
            blob = args[1]
        else:
            answer = await server.challenge_auth("")
            if not isinstance(answer, bytes):
                return AuthResult(success=False, handled=True)
            blob = base64.b64encode(answer).decode()
        try:
            fields = base64.b64decode(blob, validate=True).decode("utf-8").split("\x01")
        except (ValueError, UnicodeDecodeError):
            await server.push("501 5.5.2 Cannot decode the XOAUTH2 response")
            return AuthResult(success=False, handled=True)
        values = dict(field.partition("=")[::2] for field in fields if "=" in field)
        user = values.get("user", "")
        scheme, _, token = values.get("auth", "").partition(" ")
        if scheme.lower() == "bearer" and self.token_check and self.token_check(user, token):
            return AuthResult(success=True, auth_data=user)
        # Exchange Online's words for a token that does not fit the mailbox.
        await server.push("535 5.7.3 Authentication unsuccessful")
        return AuthResult(success=False, handled=True)


def lab_authenticator(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    """The lab's one account; anything else fails (535)."""
    if isinstance(auth_data, LoginPassword):
        ok = auth_data.login == LAB_USER.encode() and auth_data.password == LAB_PASSWORD.encode()
        if ok:
            return AuthResult(success=True, auth_data=auth_data.login)
        return AuthResult(success=False, handled=False)  # aiosmtpd then answers 535
    return AuthResult(success=False, handled=False)


class _SlowGreetingSMTP(SMTP):
    """aiosmtpd that waits before its greeting (a greet pause, or slow reverse DNS)."""

    _greeted = False

    async def push(self, status: Any) -> None:
        if not self._greeted:
            self._greeted = True
            await asyncio.sleep(SLOW_GREETING_DELAY)
        await super().push(status)


# -- raw misbehaving servers ------------------------------------------------------------


RawHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _tarpit(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    async with asyncio.timeout(HOLD_SECONDS):
        while await reader.read(4096):
            pass


async def _huge_banner(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    chunk = b"x" * 16384
    writer.write(b"220 ")
    for _ in range(HUGE_BANNER_BYTES // len(chunk)):
        writer.write(chunk)
        await writer.drain()
    writer.write(b" ESMTP\r\n")
    await writer.drain()
    await _tarpit(reader, writer)


async def _garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(bytes(range(256)) + b"\x00\xff NOT TLS \r\n" * 4)
    await writer.drain()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(5):
            await reader.read(4096)


async def _read_command(reader: asyncio.StreamReader) -> str | None:
    async with asyncio.timeout(60):
        line = await reader.readline()
    if not line:
        return None
    return line.decode("latin-1").strip().upper()


def _raw_smtp(host: str, *, on_starttls: str) -> RawHandler:
    """A minimal SMTP responder that breaks in one place.

    on_starttls: `hangup` (220, then close during the client's handshake);
    `endless-ehlo` (EHLO gets a reply that never ends).
    """

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(f"220 {host} ESMTP lab\r\n".encode())
        await writer.drain()
        while (command := await _read_command(reader)) is not None:
            verb = command.split(" ", 1)[0]
            if verb in ("EHLO", "HELO") and on_starttls == "endless-ehlo":
                sent = 0
                line = f"250-{host} says hello, and goes on, and on\r\n".encode()
                while sent < ENDLESS_REPLY_LIMIT:
                    writer.write(line * 64)
                    sent += len(line) * 64
                    await writer.drain()
                    await asyncio.sleep(0.001)
                return
            if verb == "EHLO":
                writer.write(f"250-{host}\r\n250-PIPELINING\r\n250 STARTTLS\r\n".encode())
            elif verb == "STARTTLS" and on_starttls == "hangup":
                writer.write(b"220 2.0.0 Ready to start TLS\r\n")
                await writer.drain()
                async with asyncio.timeout(5):
                    await reader.read(64)  # the first bytes of the ClientHello, then gone
                return
            elif verb == "QUIT":
                writer.write(b"221 2.0.0 Bye\r\n")
                await writer.drain()
                return
            else:
                writer.write(b"250 2.0.0 OK\r\n")
            await writer.drain()

    return serve


# -- binding ----------------------------------------------------------------------------


ServerFactory = Callable[[str], Awaitable[asyncio.Server]]
"""Starts one listener on (address, port) given as `address` and the shared port."""


@dataclass(slots=True)
class LabSmtp:
    """Every lab SMTP server, running on the current loop until `stop()`.

    Attributes:
        ports: well-known port (25, 465, 587) -> the good servers' shared port.
        host_ports: (host, well-known port) -> port of a misbehaving host's server.
        mx_handler: what the good MX received.
    """

    ca: LabCA
    ports: dict[int, int] = field(default_factory=dict)
    host_ports: dict[tuple[str, int], int] = field(default_factory=dict)
    mx_handler: LabHandler = field(default_factory=lambda: LabHandler(LOCAL_DOMAINS))
    submission_handler: SubmissionHandler = field(
        default_factory=lambda: SubmissionHandler(LOCAL_DOMAINS)
    )
    _servers: list[asyncio.Server] = field(default_factory=list)
    _sockets: list[socket.socket] = field(default_factory=list)
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    _protocols: list[SMTP] = field(default_factory=list)

    def use_resolver(self, factory: Callable[[], ResolverContext]) -> None:
        """Give the good MX its mailbox, judging mail with resolvers from `factory`."""
        self.mx_handler.mailbox = LabMailbox(factory)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        # aiosmtpd logs every session (and a deprecation notice per AUTH) at INFO/WARNING:
        # noise on the console of `mailscope probe --lab`.
        logging.getLogger("mail.log").setLevel(logging.CRITICAL)
        mx_cert = issue_with_key(
            self.ca,
            ["mx1.good.test", "mx2.good.test", "smtp.good.test", "localhost", "127.0.0.1"],
            good_mx_key(),
            "smtp-mx-good",
        )
        sub_cert = self.ca.issue(
            ["smtp.good.test", "*.ports-egress.test", "localhost", "127.0.0.1"],
            label="smtp-submission-good",
        )
        mx_tls = mx_cert.server_context()
        sub_tls = sub_cert.server_context()

        def mx_factory(name: str) -> Callable[[], SMTP]:
            return self._aiosmtpd(name, self.mx_handler, tls=mx_tls, loop=loop)

        sub_handler = self.submission_handler
        sub_handler.relay = self.mx_handler  # submission relays to the MX's mailbox

        def submission_factory(name: str) -> Callable[[], SMTP]:
            return self._aiosmtpd(
                name, sub_handler, tls=sub_tls, auth=True, loop=loop, require_tls=True
            )

        def submissions_factory(name: str) -> Callable[[], SMTP]:
            return self._aiosmtpd(name, sub_handler, auth=True, loop=loop, implicit=True)

        self.ports[25] = await self._bind_shared(GOOD_MX_ADDRESSES, mx_factory)
        self.ports[587] = await self._bind_shared(SUBMISSION_ADDRESSES, submission_factory)
        self.ports[465] = await self._bind_shared(
            SUBMISSION_ADDRESSES, submissions_factory, ssl_context=sub_tls
        )
        blackhole = await self._blackhole(list(EGRESS_ADDRESSES))
        for host in EGRESS_ADDRESSES.values():
            self.host_ports[(host, 25)] = blackhole
        for bad in BAD_HOSTS:
            self.host_ports[(bad.host, bad.port)] = await self._start_bad(bad, loop)

    def _aiosmtpd(
        self,
        name: str,
        handler: LabHandler,
        *,
        loop: asyncio.AbstractEventLoop,
        tls: ssl.SSLContext | None = None,
        auth: bool = False,
        implicit: bool = False,
        require_tls: bool = False,
        ident: str = "ESMTP mailscope lab",
        auth_before_tls: bool = False,
        cls: type[SMTP] = SMTP,
    ) -> Callable[[], SMTP]:
        def make() -> SMTP:
            protocol = cls(
                handler,
                hostname=name,
                ident=ident,
                tls_context=tls,
                require_starttls=require_tls,
                # Over implicit TLS aiosmtpd cannot see the TLS layer: AUTH is safe anyway.
                auth_require_tls=not (implicit or auth_before_tls),
                authenticator=lab_authenticator if auth else None,
                enable_SMTPUTF8=True,
                timeout=60,
                loop=loop,
            )
            self._protocols.append(protocol)
            if len(self._protocols) > 256:
                del self._protocols[:128]
            return protocol

        return make

    async def _bind_shared(
        self,
        addresses: dict[str, str],
        factory: Callable[[str], Callable[[], Any]],
        *,
        ssl_context: ssl.SSLContext | None = None,
    ) -> int:
        """Listen on one port, the same on every address (retrying when it is taken)."""
        loop = asyncio.get_running_loop()
        last: OSError | None = None
        for _ in range(32):
            servers: list[asyncio.Server] = []
            port = 0
            try:
                for address, name in addresses.items():
                    try:
                        server = await loop.create_server(
                            factory(name), address, port, ssl=ssl_context
                        )
                    except OSError as exc:
                        if exc.errno == errno.EADDRNOTAVAIL and ":" in address:
                            continue  # no IPv6 loopback here: the IPv4 addresses still serve
                        raise
                    servers.append(server)
                    port = server.sockets[0].getsockname()[1]
            except OSError as exc:
                last = exc
                for server in servers:
                    server.close()
                continue
            self._servers += servers
            return port
        raise OSError(f"no common free port on {', '.join(addresses)}: {last}")

    async def _blackhole(self, addresses: list[str]) -> int:
        """A port that never completes a connection: a full accept queue drops SYNs, which
        is what a firewall's DROP rule looks like from outside ("filtered")."""
        for _ in range(32):
            listeners: list[socket.socket] = []
            port = 0
            try:
                for address in addresses:
                    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    listener.setblocking(False)
                    listeners.append(listener)
                    listener.bind((address, port))
                    listener.listen(0)
                    port = listener.getsockname()[1]
            except OSError:
                for listener in listeners:
                    listener.close()
                continue
            self._sockets += listeners
            for address in addresses:
                for _ in range(2):
                    filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    filler.setblocking(False)
                    with contextlib.suppress(BlockingIOError, OSError):
                        filler.connect((address, port))
                    self._sockets.append(filler)
            await asyncio.sleep(0.05)  # let the fillers' handshakes fill the queues
            return port
        raise OSError("no free port for the lab's filtered port")

    async def _raw(self, address: str, handler: RawHandler) -> int:
        async def tracked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self._writers.add(writer)
            task = asyncio.current_task()
            if task is not None:
                self._tasks.add(task)
            try:
                await handler(reader, writer)
            except (OSError, TimeoutError, asyncio.IncompleteReadError, ssl.SSLError):
                pass
            except asyncio.CancelledError:
                # The lab is stopping: end quietly (asyncio's stream callback would log a
                # cancelled handler as an error).
                pass
            finally:
                self._writers.discard(writer)
                if task is not None:
                    self._tasks.discard(task)
                writer.close()

        server = await asyncio.start_server(tracked, address, 0)
        self._servers.append(server)
        return server.sockets[0].getsockname()[1]

    async def _start_bad(self, bad: BadHost, loop: asyncio.AbstractEventLoop) -> int:
        host = bad.host
        now = dt.datetime.now(dt.UTC)
        handler = LabHandler(frozenset({host.split(".", 1)[1]}))
        raw: dict[str, RawHandler] = {
            "tarpit": _tarpit,
            "hugebanner": _huge_banner,
            "garbage": _garbage,
            "hangup": _raw_smtp(host, on_starttls="hangup"),
            "multiline": _raw_smtp(host, on_starttls="endless-ehlo"),
        }
        if bad.behaviour in raw:
            return await self._raw(bad.address, raw[bad.behaviour])
        cert: IssuedCert | None
        if bad.behaviour == "expired":
            cert = self.ca.issue(
                [host],
                not_before=now - dt.timedelta(days=120),
                not_after=now - dt.timedelta(days=3),
            )
        elif bad.behaviour == "expiring":
            cert = self.ca.issue([host], not_after=now + dt.timedelta(days=5))
        elif bad.behaviour == "wrongname":
            cert = self.ca.issue(["mail.elsewhere.test"])
        elif bad.behaviour == "selfsigned":
            cert = self.ca.issue([host], self_signed=True)
        elif bad.behaviour in ("nostarttls", "plain465"):
            cert = None
        else:
            cert = self.ca.issue([host])
        tls = cert.server_context() if cert is not None else None
        options: dict[str, Any] = {"loop": loop, "tls": tls}
        name = host
        if bad.behaviour == "authplain":
            options.update(auth=True, auth_before_tls=True)
        elif bad.behaviour == "openrelay":
            handler = LabHandler(handler.local_domains, open_relay=True)
        elif bad.behaviour == "escape":
            options["ident"] = "\x1b[2J\x1b]0;owned\x07 [bold red]ALERT[/bold red] \x9b31m ESMTP"
        elif bad.behaviour == "slow":
            options["cls"] = _SlowGreetingSMTP
        elif bad.behaviour == "banner":
            name = "mail.other-name.test"
        elif bad.behaviour == "plain465":
            options["auth"] = True
            options["auth_before_tls"] = True
        server = await loop.create_server(self._aiosmtpd(name, handler, **options), bad.address, 0)
        self._servers.append(server)
        return server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        for server in self._servers:
            server.close()
        for protocol in self._protocols:
            transport = getattr(protocol, "transport", None)
            if transport is not None:
                transport.close()
        for writer in list(self._writers):
            writer.close()
        pending = list(self._tasks)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=2)
        for sock in self._sockets:
            sock.close()
        for server in self._servers:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    await server.wait_closed()
        self._servers.clear()
        self._sockets.clear()
