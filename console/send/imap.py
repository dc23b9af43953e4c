"""Readback over IMAP: find the delivered test message in a seed mailbox, inbox or spam.

The seed mailbox is named by a URL, `imaps://user@host[:port]` (implicit TLS, 993) or
`imap://user@host[:port]` (STARTTLS, 143: the login never crosses in clear, and a server
without STARTTLS is refused). The password never sits in the URL: it comes from
MAILSCOPE_IMAP_PASSWORD (or a prompt, for the caller to arrange).

The conversation, with aioimaplib over a socket this module connected itself (so the
host is resolved through the console's ResolverContext, and the lab's names and ports
work as any other): TLS with the certificate verified (system store plus `cafiles` and
the lab CA), LOGIN, LIST to find the Junk folder by its special-use flag (RFC 6154; else
by the usual names), then, in INBOX and Junk, EXAMINE (read-only: readback never marks
anything seen), UID SEARCH HEADER X-Mailscope-Test <id> (or Message-ID) and UID FETCH
BODY.PEEK[] of the newest match, again until found or `wait` runs out; LOGOUT.

Every step has a deadline. Anything that goes wrong (a wrong password, an untrusted
certificate, a refused or silent server) is a MailscopeError with a one-line message,
from which the password is scrubbed; the password is never logged (aioimaplib's debug
log of LOGIN is given the exact form to mask, and while a readback runs a filter on
aioimaplib's logger scrubs it from every record, should a server echo it back).

The server is not trusted: an answer to one command is read up to `MAX_RESPONSE` bytes
and a line up to `MAX_LINE`; a greeting other than OK or PREAUTH ends the session; a
connection closed mid-answer ends the step at once, not at its deadline; and a FETCH
that answers for another UID, or with a message that lacks the header searched for, is
refused rather than analysed as the test message.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.parser
import email.policy
import ipaddress
import logging
import os
import re
import socket
import ssl
import time
import urllib.parse
from collections.abc import Awaitable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, TypeVar

import aioimaplib
from aioimaplib.aioimaplib import AUTH, NONAUTH, SELECTED, Command, quoted

from console.auth.resolver import ResolverContext
from console.errors import MailscopeError
from console.literal import printable
from console.ports.targets import _addresses
from console.send.compose import TEST_ID_HEADER
from console.send.readback import Delivery, analyse_delivery
from console.send.smtp import tls_context

T = TypeVar("T")

IMAP_PASSWORD_ENV = "MAILSCOPE_IMAP_PASSWORD"
"""Where the seed mailbox's IMAP password comes from."""

DEFAULT_TIMEOUT = 10.0
"""Seconds each IMAP step may take."""

INBOX = "INBOX"
SPAM = "Spam"
"""The folder names a Delivery reports, whatever the server calls its junk folder."""

JUNK_NAMES: tuple[str, ...] = (
    "Spam",
    "Junk",
    "Junk E-mail",
    "Junk Email",
    "Bulk Mail",
    "[Gmail]/Spam",
    "INBOX.Spam",
    "INBOX.Junk",
    "INBOX/Spam",
    "INBOX/Junk",
)
"""Junk folder names tried (case-insensitively) when no folder carries \\Junk."""

DEFAULT_PORTS: dict[str, int] = {"tls": 993, "starttls": 143}

TITLE = "IMAP readback"

ImapSecurity = Literal["tls", "starttls"]

_HOST = re.compile(r"[a-z0-9_]([a-z0-9_-]{0,62})(\.[a-z0-9_]([a-z0-9_-]{0,62}))*\.?")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SEARCH_VALUE = re.compile(r"[\x20-\x7e]{1,998}")
_LIST_LINE = re.compile(rb'^\((?P<flags>[^)]*)\)\s+(?:"(?:[^"\\]|\\.)*"|NIL)\s+(?P<name>.+)$')
_LITERAL = re.compile(rb"\{(\d+)\}$")
_POLL_SECONDS = 0.25
_MAX_LINE = 8192
"""Bytes of one line read by hand before TLS (greeting, STARTTLS reply)."""

MAX_LINE = 1024 * 1024
"""Bytes of one response line (outside a literal) aioimaplib may buffer."""

MAX_RESPONSE = 50 * 1024 * 1024
"""Bytes a server may send in answer to one command (a FETCH holds the whole message)."""

_UID = re.compile(rb"\bUID\s+(\d+)", re.IGNORECASE)
_LINES_PER_FEED = 64


@dataclass(frozen=True, slots=True)
class ImapTarget:
    """Where the seed mailbox is, and how to reach it.

    Attributes:
        host: the server name (also the name its certificate must carry) or an IP address.
        port: the port asked for (993 or 143 by default; the lab's service map maps them).
        username: the login name.
        tls: `tls` (implicit TLS) or `starttls` (TLS required before LOGIN).
        inbox: the inbox's name.
        junk: the spam folder's name when known (`?junk=` in the URL); else found by LIST.
    """

    host: str
    port: int
    username: str
    tls: ImapSecurity = "tls"
    inbox: str = INBOX
    junk: str | None = None

    @property
    def url(self) -> str:
        """The target as a URL (never holding a password)."""
        scheme = "imaps" if self.tls == "tls" else "imap"
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = "" if self.port == DEFAULT_PORTS[self.tls] else f":{self.port}"
        query = f"?junk={urllib.parse.quote(self.junk)}" if self.junk else ""
        return f"{scheme}://{urllib.parse.quote(self.username, safe='')}@{host}{port}{query}"

    def __str__(self) -> str:
        return self.url


def _bad_url(why: str) -> MailscopeError:
    return MailscopeError("bad IMAP URL", why)


def parse_imap_url(url: str) -> ImapTarget:
    """Parse `imaps://user@host[:port]` or `imap://user@host[:port]` (STARTTLS).

    `?junk=NAME` names the spam folder when the server does not flag it \\Junk. The user
    may be written `user%40example.com` or plainly `user@example.com`.

    Raises:
        MailscopeError: a malformed URL, another scheme, no user or host, a bad port, or a
            password in the URL (it belongs in MAILSCOPE_IMAP_PASSWORD; the message never
            repeats the URL, which would repeat the password).
    """
    text = url.strip() if isinstance(url, str) else ""
    if not text:
        raise _bad_url("empty (expected imaps://user@host[:port] or imap://user@host[:port])")
    if _CONTROL.search(text):
        raise _bad_url("control characters in the URL")
    try:
        parts = urllib.parse.urlsplit(text)
        password = parts.password
        port = parts.port
        raw_user = parts.username
        hostname = parts.hostname
    except ValueError as exc:
        reason = "port out of range" if "port" in str(exc).lower() else "not a valid URL"
        raise _bad_url(reason) from None
    scheme = parts.scheme.lower()
    if scheme not in ("imaps", "imap"):
        raise _bad_url(
            f"scheme {printable(parts.scheme or '(none)')!r}: use imaps:// (TLS) "
            "or imap:// (STARTTLS)"
        )
    if password is not None:
        raise _bad_url(
            f"it holds a password: remove it and set {IMAP_PASSWORD_ENV} instead "
            "(a URL ends up in shell history and process lists)"
        )
    if not raw_user:
        raise _bad_url("no user name (imaps://USER@host)")
    username = urllib.parse.unquote(raw_user)
    if not username or _CONTROL.search(username) or len(username) > 320:
        raise _bad_url("the user name is empty, too long or holds control characters")
    if not hostname:
        raise _bad_url("no host name (imaps://user@HOST)")
    host = hostname.lower()
    try:
        host = str(ipaddress.ip_address(host))
    except ValueError:
        if len(host) > 253 or not _HOST.fullmatch(host):
            raise _bad_url(f"host {printable(hostname)!r} is not a host name") from None
        host = host.rstrip(".")
    if port == 0:
        raise _bad_url("port 0")
    if parts.path not in ("", "/"):
        raise _bad_url("no path expected (name the spam folder with ?junk=NAME)")
    if parts.fragment:
        raise _bad_url("no #fragment expected")
    junk = None
    if parts.query:
        try:
            query = urllib.parse.parse_qs(
                parts.query, keep_blank_values=True, strict_parsing=True, max_num_fields=4
            )
        except ValueError:
            raise _bad_url("unreadable query (only ?junk=NAME)") from None
        unknown = sorted(set(query) - {"junk"})
        if unknown or len(query.get("junk", [])) != 1:
            raise _bad_url("only one ?junk=NAME is understood in the query")
        junk = query["junk"][0]
        if not junk or _CONTROL.search(junk) or len(junk) > 255:
            raise _bad_url("the junk folder name is empty, too long or holds control characters")
    tls: ImapSecurity = "tls" if scheme == "imaps" else "starttls"
    return ImapTarget(
        host=host,
        port=port if port is not None else DEFAULT_PORTS[tls],
        username=username,
        tls=tls,
        junk=junk,
    )


def imap_password_from_env(var: str = IMAP_PASSWORD_ENV) -> str | None:
    """The IMAP password from the environment variable `var`, or None when unset or empty."""
    return os.environ.get(var) or None


class _Scrubber:
    """Removes the password, in the forms it is sent or logged, from any text shown."""

    def __init__(self, password: str) -> None:
        forms = {password, quoted(password)} - {""}
        # aioimaplib logs bytes with %s: repr() escapes a backslash, a quote, non-ASCII.
        forms |= {repr(form.encode("utf-8", "replace"))[2:-1] for form in set(forms)}
        self.forms = sorted(forms, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for form in self.forms:
            if len(form) >= 3:
                text = text.replace(form, "[redacted]")
        return text


class _LogScrubber(logging.Filter):
    """Scrubs the password from aioimaplib's records (it logs what servers send)."""

    def __init__(self, scrub: _Scrubber) -> None:
        super().__init__()
        self.scrub = scrub

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            message = str(record.msg)
        record.msg, record.args = self.scrub(message), None
        if record.exc_info:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text, record.exc_info = self.scrub(text), None
        return True


@contextlib.contextmanager
def _scrubbed_logs(scrub: _Scrubber) -> Iterator[None]:
    loggers = [logging.getLogger(name) for name in ("aioimaplib", "aioimaplib.aioimaplib")]
    log_filter = _LogScrubber(scrub)
    for logger in loggers:
        logger.addFilter(log_filter)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(log_filter)


def _fail(scrub: _Scrubber, message: str) -> MailscopeError:
    return MailscopeError(TITLE, scrub(printable(" ".join(message.split()))))


async def _step(what: str, host: str, seconds: float, work: Awaitable[T]) -> T:
    """`work` within `seconds`; a timeout becomes a one-line reason (an _Step error)."""
    try:
        async with asyncio.timeout(seconds):
            return await work
    except TimeoutError:
        raise _StepError(f"{what}: no answer from {host} within {seconds:g} s") from None


class _StepError(Exception):
    """A step failed; the message is the one-liner to show."""


def _text(value: bytes | bytearray | str) -> str:
    if isinstance(value, str):
        return value
    return bytes(value).decode("utf-8", "replace")


def _server_text(lines: list[bytes]) -> str:
    """The server's words in a tagged reply (its last line), cut to one short line."""
    for line in reversed(lines):
        if isinstance(line, bytes | bytearray):
            return " ".join(_text(line).split())[:200]
    return ""


async def fetch_message_imap(
    target: ImapTarget,
    password: str,
    *,
    test_id: str | None = None,
    message_id: str | None = None,
    wait: float = 10.0,
    timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109 - per step, not one deadline
    cafiles: tuple[str, ...] = (),
    resolver: ResolverContext | None = None,
) -> tuple[str, bytes] | None:
    """The delivered copy and where it was: (INBOX or Spam, message bytes), or None.

    Args:
        target: the seed mailbox (`parse_imap_url`).
        password: the login password; never logged, shown or returned.
        test_id: the X-Mailscope-Test value to look for (preferred).
        message_id: the Message-ID to look for, when there is no test id.
        wait: seconds to keep looking while the message has not arrived.
        timeout: seconds each step (resolve, connect, TLS, each command) may take.
        cafiles: extra trusted CA bundles (PEM), besides the system store and the lab's.
        resolver: resolves the host (lab names exist only in the lab DNS) and maps the
            port (the lab's service map); None uses the system resolver.

    Raises:
        MailscopeError: bad input, no connection, TLS or login refused, a step timed out.
    """
    scrub = _Scrubber(password or "")
    header, value = _criterion(test_id, message_id)
    if not password:
        raise MailscopeError(TITLE, f"no IMAP password (set {IMAP_PASSWORD_ENV})")
    if _CONTROL.search(password):
        raise MailscopeError(TITLE, "the IMAP password holds control characters")
    if timeout <= 0:
        raise MailscopeError(TITLE, "the timeout must be positive")
    try:
        with _scrubbed_logs(scrub):
            return await _fetch(target, password, header, value, wait, timeout, cafiles, resolver)
    except _StepError as exc:
        raise _fail(scrub, str(exc)) from None
    except MailscopeError as exc:
        raise MailscopeError(exc.title, scrub(exc.msg)) from None
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # a bug or an odd server must still end as one line
        raise _fail(scrub, f"{target.host}: {type(exc).__name__}: {exc}") from None


async def fetch_delivery_imap(
    target: ImapTarget,
    password: str,
    *,
    test_id: str | None = None,
    message_id: str | None = None,
    wait: float = 10.0,
    timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109 - per step, not one deadline
    cafiles: tuple[str, ...] = (),
    resolver: ResolverContext | None = None,
    sent_at: datetime | None = None,
    authserv_ids: Sequence[str] = (),
) -> Delivery | None:
    """`fetch_message_imap`, analysed (`analyse_delivery`), with its folder; None if absent.

    Args:
        sent_at: when the message was sent, for the total time to mailbox.
        authserv_ids: the seed mailbox's authserv-ids: when given, only their
            Authentication-Results are believed.
        (the others as `fetch_message_imap`)

    Raises:
        MailscopeError: as `fetch_message_imap`.
    """
    found = await fetch_message_imap(
        target,
        password,
        test_id=test_id,
        message_id=message_id,
        wait=wait,
        timeout=timeout,
        cafiles=cafiles,
        resolver=resolver,
    )
    if found is None:
        return None
    folder, data = found
    return analyse_delivery(data, sent_at=sent_at, folder=folder, authserv_ids=authserv_ids)


def _criterion(test_id: str | None, message_id: str | None) -> tuple[str, str]:
    """(header, value) to SEARCH for; the value is printable ASCII (SEARCH without CHARSET)."""
    if test_id:
        header, value = TEST_ID_HEADER, test_id.strip()
    elif message_id:
        header, value = "Message-ID", message_id.strip()
    else:
        raise MailscopeError(TITLE, "nothing to look for: give the test id or the Message-ID")
    if not _SEARCH_VALUE.fullmatch(value):
        raise MailscopeError(
            TITLE, f"the {header} to look for must be printable ASCII, at most 998 characters"
        )
    return header, value


async def _fetch(
    target: ImapTarget,
    password: str,
    header: str,
    value: str,
    wait: float,
    seconds: float,
    cafiles: tuple[str, ...],
    resolver: ResolverContext | None,
) -> tuple[str, bytes] | None:
    extra = list(cafiles)
    if resolver is not None and resolver.services.cafile is not None:
        extra.append(str(resolver.services.cafile))
    try:
        context = tls_context(verify=True, cafiles=tuple(extra))
    except (OSError, ssl.SSLError) as exc:
        raise MailscopeError(TITLE, f"cannot load the CA file ({exc})") from None
    sock, port = await _open(target, seconds, resolver)
    session = _Session(target, sock, port, seconds)
    try:
        await session.secure(context)
        await session.login(password)
        junk = await session.junk_folder()
        folders = [(target.inbox, INBOX)] + ([(junk, SPAM)] if junk else [])
        deadline = time.monotonic() + max(0.0, wait)
        while True:
            for name, label in folders:
                data = await session.find(name, header, value)
                if data is not None:
                    return label, data
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            await asyncio.sleep(min(_POLL_SECONDS, remaining))
    finally:
        await session.close()


async def _open(
    target: ImapTarget, seconds: float, resolver: ResolverContext | None
) -> tuple[socket.socket, int]:
    """Resolve the host (through `resolver` when given) and connect to the first address."""
    host = target.host
    if resolver is not None:
        port = resolver.services.port_for(host, target.port)
        addresses, error, _ = await _step("resolve", host, seconds, _addresses(resolver, host))
        if not addresses:
            raise _StepError(f"cannot resolve {host}: {error}")
    else:
        port = target.port
        loop = asyncio.get_running_loop()
        try:
            infos = await _step(
                "resolve", host, seconds, loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            )
        except socket.gaierror as exc:
            raise _StepError(f"cannot resolve {host}: {exc.strerror or exc}") from None
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    problems: list[str] = []
    loop = asyncio.get_running_loop()
    for address in addresses[:4]:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            async with asyncio.timeout(seconds):
                await loop.sock_connect(sock, (address, port))
        except TimeoutError:
            sock.close()
            problems.append(f"{address}: no answer within {seconds:g} s")
            continue
        except OSError as exc:
            sock.close()
            problems.append(f"{address}: {exc.strerror or exc}")
            continue
        return sock, port
    where = f"port {target.port}" + (f" (lab port {port})" if port != target.port else "")
    raise _StepError(f"cannot connect to {host} {where}: {'; '.join(problems) or 'no address'}")


class _Protocol(aioimaplib.IMAP4ClientProtocol):
    """aioimaplib's protocol, bounded: what a server sends cannot grow without limit.

    `failure` says what went wrong (in words for "<host> ..."), and `dead` resolves the
    moment it does: a closed connection, an answer over `MAX_RESPONSE`, a line over
    `MAX_LINE`, a greeting other than OK or PREAUTH, a response aioimaplib cannot read.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop, conn_lost_cb=self._lost)
        self.received = 0
        self.failure: str | None = None
        self.dead: asyncio.Future[None] = loop.create_future()

    def fail(self, reason: str) -> None:
        if self.failure is None:
            self.failure = reason
        if not self.dead.done():
            self.dead.set_result(None)
        if self.transport is not None:
            self.transport.abort()

    def _lost(self, exc: Exception | None) -> None:
        self.fail("closed the connection")

    def data_received(self, d: bytes) -> None:
        if self.failure is not None:
            return
        self.received += len(d)
        if self.received > MAX_RESPONSE:
            self.fail(f"sent over {MAX_RESPONSE // 1_048_576} MiB in one answer: cut off")
            return
        # aioimaplib recurses once per line of a chunk: a chunk of a thousand short lines
        # (a big LIST, or a server's chatter) would overflow the stack. Feed it a few
        # lines at a time; a literal spans calls as it does across network reads.
        start = 0
        while start < len(d) and self.failure is None:
            end = start
            for _ in range(_LINES_PER_FEED):
                found = d.find(b"\r\n", end)
                if found < 0:
                    end = len(d)
                    break
                end = found + 2
            piece, start = d[start:end], end
            try:
                super().data_received(piece)
            except Exception as exc:  # aioimaplib raises on tagged answers it did not expect
                self.fail(f"sent an answer that cannot be read ({type(exc).__name__})")
                return
            if len(self.incomplete_line) > MAX_LINE:
                self.fail(f"sent a line over {MAX_LINE // 1024} KiB: cut off")

    def send(self, line: str, scrub: str | None = None) -> None:
        self.received = 0  # each command gets the whole budget for its answer
        super().send(line, scrub=scrub)

    async def welcome(self, command: bytes) -> None:
        if command.startswith((b"* OK", b"* PREAUTH")):
            await super().welcome(command)
            return
        shown = " ".join(_text(command[:200]).split())
        self.fail(f"refused service at the greeting: {shown}")


class _Session:
    """One IMAP connection: aioimaplib's protocol over our socket, each step on a deadline."""

    def __init__(self, target: ImapTarget, sock: socket.socket, port: int, seconds: float):
        self.target = target
        self.host = target.host
        self.sock: socket.socket | None = sock
        self.port = port
        self.seconds = seconds
        self.protocol: _Protocol | None = None
        self.transport: asyncio.BaseTransport | None = None
        self.selected: str | None = None
        self.broken = False

    # -- TLS -------------------------------------------------------------------------

    async def secure(self, context: ssl.SSLContext) -> None:
        """TLS from the first byte (imaps), or after STARTTLS (imap), before anything else."""
        assert self.sock is not None
        if self.target.tls == "starttls":
            await self._starttls_preamble()
        loop = asyncio.get_running_loop()
        protocol = _Protocol(loop)
        server_hostname = self.host
        sock, self.sock = self.sock, None  # the transport takes it (else closed below)
        try:
            self.transport, _ = await _step(
                "TLS handshake",
                self.host,
                self.seconds,
                loop.create_connection(
                    lambda: protocol,
                    sock=sock,
                    ssl=context,
                    server_hostname=server_hostname,
                    ssl_handshake_timeout=self.seconds,
                ),
            )
        except ssl.SSLCertVerificationError as exc:
            why = exc.verify_message or exc.reason or str(exc)
            raise _StepError(
                f"TLS certificate of {self.host} not trusted ({why}); nothing was read. Fix "
                "the server's certificate or add its CA with --cafile"
            ) from None
        except (ssl.SSLError, OSError) as exc:
            reason = getattr(exc, "reason", None) or exc.strerror or str(exc) or type(exc).__name__
            raise _StepError(f"TLS with {self.host} failed ({reason})") from None
        finally:
            if self.transport is None:
                sock.close()  # no transport took it over
        self.protocol = protocol
        if self.target.tls == "starttls":
            protocol.state = NONAUTH  # no new greeting after STARTTLS (RFC 3501 6.2.1)
            await self._command("CAPABILITY", protocol.capability())
        else:
            await self._command("greeting", protocol.wait("AUTH|NONAUTH"))

    async def _starttls_preamble(self) -> None:
        """Greeting and STARTTLS in clear; any other answer ends the session before LOGIN."""
        assert self.sock is not None
        buffer = bytearray()
        greeting = await self._read_line(buffer, "greeting")
        if not greeting.startswith(b"* OK"):
            shown = _text(greeting[:200])
            if greeting.startswith(b"* PREAUTH"):
                raise _StepError(f"{self.host} logs in before TLS (PREAUTH): refused, use imaps://")
            raise _StepError(f"{self.host} refused service at the greeting: {shown}")
        loop = asyncio.get_running_loop()
        await _step(
            "STARTTLS", self.host, self.seconds, loop.sock_sendall(self.sock, b"M0 STARTTLS\r\n")
        )
        while True:
            line = await self._read_line(buffer, "STARTTLS")
            if line.startswith(b"* "):
                continue
            if line.startswith(b"M0 OK"):
                break
            raise _StepError(
                f"{self.host} offers no STARTTLS ({_text(line[:200])}); the password would "
                "cross in clear text, so nothing was sent (use imaps:// if it has port 993)"
            )
        if buffer:  # bytes sent before TLS and read as if after it: STARTTLS injection
            raise _StepError(f"{self.host} sent data after its STARTTLS reply: refused")

    async def _read_line(self, buffer: bytearray, what: str) -> bytes:
        assert self.sock is not None
        loop = asyncio.get_running_loop()
        while b"\r\n" not in buffer:
            if len(buffer) > _MAX_LINE:
                raise _StepError(f"{what}: {self.host} sent an over-long line")
            chunk = await _step(what, self.host, self.seconds, loop.sock_recv(self.sock, 4096))
            if not chunk:
                raise _StepError(f"{what}: {self.host} closed the connection")
            buffer.extend(chunk)
        line, _, rest = bytes(buffer).partition(b"\r\n")
        buffer[:] = rest
        return line

    # -- commands ----------------------------------------------------------------------

    async def _command(self, what: str, work: Awaitable[T]) -> T:
        """`work` within the step's deadline, ended at once if the connection fails."""
        protocol = self.protocol
        assert protocol is not None
        task = asyncio.ensure_future(work)
        try:
            try:
                async with asyncio.timeout(self.seconds):
                    await asyncio.wait({task, protocol.dead}, return_when=asyncio.FIRST_COMPLETED)
            except TimeoutError:
                self.broken = True
                raise _StepError(
                    f"{what}: no answer from {self.host} within {self.seconds:g} s"
                ) from None
            if not task.done():
                self.broken = True
                raise _StepError(f"{what}: {self.host} {protocol.failure}")
            try:
                return task.result()
            except aioimaplib.AioImapException as exc:
                self.broken = True
                raise _StepError(f"{what}: {self.host}: {exc}") from None
            except ValueError as exc:  # aioimaplib refuses CR/LF/NUL in arguments
                raise _StepError(f"{what}: {exc}") from None
        finally:
            if not task.done():
                task.cancel()

    async def login(self, password: str) -> None:
        protocol = self.protocol
        assert protocol is not None
        if protocol.state == AUTH:  # PREAUTH over TLS: already logged in
            return
        if "LOGINDISABLED" in protocol.capabilities:
            raise _StepError(f"{self.host} does not accept LOGIN (LOGINDISABLED)")
        secret = quoted(password)
        command = Command("LOGIN", protocol.new_tag(), quoted(self.target.username), secret)
        # `scrub` is the exact form sent: aioimaplib's debug log masks it.
        response = await self._command("login", protocol.execute(command, scrub=secret))
        if response.result != "OK":
            said = _server_text(response.lines)
            raise _StepError(
                f"{self.host} refused the login for {self.target.username}"
                + (f": {said}" if said else "")
                + f" (check the user and {IMAP_PASSWORD_ENV})"
            )
        protocol.state = AUTH

    async def junk_folder(self) -> str | None:
        """The spam folder: the URL's hint, else \\Junk (RFC 6154), else a usual name."""
        if self.target.junk:
            return self.target.junk
        protocol = self.protocol
        assert protocol is not None
        response = await self._command("LIST", protocol.simple_command("LIST", '""', '"*"'))
        names: list[str] = []
        for line in response.lines[:-1]:
            if not isinstance(line, bytes | bytearray):
                continue
            match = _LIST_LINE.match(bytes(line).strip())
            if match is None:
                continue
            name = _mailbox_name(match.group("name"))
            if name is None:
                continue
            if b"\\junk" in match.group("flags").lower():
                return name
            names.append(name)
        by_lower = {name.lower(): name for name in names}
        for candidate in JUNK_NAMES:
            if candidate.lower() in by_lower:
                return by_lower[candidate.lower()]
        return None

    async def find(self, folder: str, header: str, value: str) -> bytes | None:
        """The newest message in `folder` whose `header` contains `value`, read-only."""
        protocol = self.protocol
        assert protocol is not None
        # EXAMINE every round: it is read-only, and re-opening picks up new arrivals.
        response = await self._command(
            "EXAMINE", protocol.simple_command("EXAMINE", quoted(folder))
        )
        if response.result != "OK":
            if folder.upper() == INBOX:
                raise _StepError(f"cannot open INBOX: {_server_text(response.lines)}")
            return None  # a named junk folder that does not exist holds nothing
        protocol.state = SELECTED
        response = await self._command(
            "SEARCH",
            protocol.search("HEADER", header, quoted(value), charset=None, by_uid=True),
        )
        if response.result != "OK":
            raise _StepError(f"SEARCH in {folder} failed: {_server_text(response.lines)}")
        uids = [
            int(token)
            for line in response.lines[:-1]
            if isinstance(line, bytes | bytearray)
            for token in bytes(line).split()
            if token.isdigit()
        ]
        if not uids:
            return None
        uid = max(uids)
        response = await self._command(
            "FETCH", protocol.fetch(str(uid), "BODY.PEEK[]", by_uid=True, timeout=self.seconds)
        )
        if response.result != "OK":
            raise _StepError(f"FETCH in {folder} failed: {_server_text(response.lines)}")
        found = _literal(response.lines)
        if found is None:
            return None
        data, answered_uid = found
        if answered_uid is not None and answered_uid != uid:
            raise _StepError(
                f"FETCH in {folder}: {self.host} answered for UID {answered_uid}, not the "
                f"UID {uid} asked for; refused"
            )
        if not _carries(data, header, value):
            raise _StepError(
                f"FETCH in {folder}: the message {self.host} returned does not carry the "
                f"{header} searched for; refused (it answered for another message)"
            )
        return data

    async def close(self) -> None:
        """LOGOUT (best effort, briefly), then close the connection."""
        with contextlib.suppress(Exception):
            protocol = self.protocol
            usable = protocol is not None and protocol.failure is None and not self.broken
            if usable and self.transport is not None:
                assert protocol is not None
                async with asyncio.timeout(min(self.seconds, 2.0)):
                    await protocol.logout()
        if self.transport is not None:
            self.transport.close()
        if self.sock is not None:
            self.sock.close()


def _mailbox_name(raw: bytes) -> str | None:
    """A LIST name: quoted (unescaped) or an atom; a literal ({n}) is not handled."""
    raw = raw.strip()
    if raw.startswith(b'"') and raw.endswith(b'"') and len(raw) >= 2:
        return re.sub(rb"\\(.)", rb"\1", raw[1:-1]).decode("utf-8", "replace")
    if raw.startswith(b"{"):
        return None
    return raw.decode("utf-8", "replace")


def _literal(lines: list[bytes]) -> tuple[bytes, int | None] | None:
    """(the message, the UID the server stated) in a FETCH response: the literal
    announced as `{n}`; the UID may stand before the literal or after it."""
    for index, line in enumerate(lines[:-1]):
        if isinstance(line, bytearray):
            continue
        match = _LITERAL.search(bytes(line).rstrip())
        if match and index + 1 < len(lines):
            data = lines[index + 1]
            if isinstance(data, bytes | bytearray) and len(data) == int(match.group(1)):
                after = lines[index + 2] if index + 2 < len(lines) else b""
                uid = _UID.search(bytes(line)) or (
                    _UID.search(bytes(after)) if isinstance(after, bytes) else None
                )
                return bytes(data), int(uid.group(1)) if uid else None
    return None


def _carries(data: bytes, header: str, value: str) -> bool:
    """Whether the message's `header` contains `value` (SEARCH HEADER's substring match)."""
    try:
        headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(
            data[: 1024 * 1024]
        )
        values = [" ".join(str(v).split()) for v in headers.get_all(header) or []]
    except Exception:
        return False
    wanted = " ".join(value.split()).lower()
    return any(wanted in found.lower() for found in values)
