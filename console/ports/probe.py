"""One port's probe: connect, greeting, EHLO, TLS, certificate, AUTH, and what is wrong.

The SMTP conversation runs over aiosmtplib on a socket connected here, so connect time
and "refused" versus "filtered" are measured before aiosmtplib takes over. The TLS
handshake never verifies (a bad certificate must still be seen to be reported); trust,
names and DANE are judged afterwards in `tlsinfo`. Hostile servers are expected: every
step has its own deadline, aiosmtplib cuts replies at 32 KB, and anything that goes
wrong becomes a finding on the probe. `probe_port` never raises (cancellation aside).

No credentials are sent unless an `AuthTest` is given, and then only after TLS; the
transcript records the AUTH command with its arguments replaced.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import ssl
import time
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiosmtplib
from aiosmtplib import SMTPResponse

from console.auth.fcrdns import ReverseDns, reverse_dns
from console.auth.resolver import ResolverContext
from console.model import Finding, Status
from console.ports import tlsinfo
from console.ports.model import PortProbe, PortState, Role, TlsInfo, TranscriptLine
from console.ports.targets import Target

SLOW_GREETING_S = 3.0
"""A greeting later than this is reported. RFC 5321 4.5.3.2.1 lets clients wait five
minutes for it, but a healthy MTA greets within a second; several seconds mean a greet
pause (postscreen), a tarpit, or the server's own reverse-DNS lookups timing out, and
every delivery pays for it."""

LOCAL_HOSTNAME = "mailscope.invalid"
"""The EHLO name: RFC 2606 `.invalid`, so no server mistakes the probe for a peer."""

RELAY_SENDER = "mailscope-relay-test@example.org"
RELAY_RECIPIENT = "mailscope-relay-test@example.net"
"""RFC 2606 example domains: outside any real domain, and nothing is ever sent (no DATA)."""

PEEK_BYTES = 512
"""What a diagnostic plaintext read takes from a port that failed TLS."""

MAX_TRANSCRIPT_TEXT = 2000
"""Characters of one transcript line kept (a 1 MB banner stays in `banner`, cut)."""

MAX_BANNER = 4096
"""Characters of the greeting kept in `PortProbe.banner`."""

_KNOWN_EXTENSIONS = (
    "SIZE",
    "PIPELINING",
    "8BITMIME",
    "SMTPUTF8",
    "CHUNKING",
    "DSN",
    "STARTTLS",
    "AUTH",
    "REQUIRETLS",
    "ENHANCEDSTATUSCODES",
)
"""EHLO keywords the console explains (any others are kept too)."""

EXTENSIONS_EXPLAINED: dict[str, str] = {
    "SIZE": "The largest message the server accepts, in bytes (RFC 1870).",
    "PIPELINING": "Several commands per round trip (RFC 2920): faster delivery.",
    "8BITMIME": "8-bit message bodies without re-encoding (RFC 6152).",
    "SMTPUTF8": "Internationalised addresses and headers (RFC 6531).",
    "CHUNKING": "BDAT instead of DATA (RFC 3030).",
    "DSN": "Delivery status notifications on request (RFC 3461).",
    "STARTTLS": "Upgrade this connection to TLS (RFC 3207).",
    "AUTH": "Log-in mechanisms (RFC 4954); offered only over TLS on a sound server.",
    "REQUIRETLS": "Messages may demand TLS on every hop (RFC 8689).",
    "ENHANCEDSTATUSCODES": "Replies carry x.y.z status codes (RFC 2034).",
}

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@dataclass(frozen=True, slots=True)
class AuthTest:
    """Credentials for an explicit AUTH test. `repr` never shows the password."""

    username: str
    password: str = field(repr=False)


@dataclass(slots=True)
class StsView:
    """The MX domain's MTA-STS policy as the probe needs it (fetched once per run)."""

    domain: str
    mode: str | None
    patterns: list[str]
    policy_url: str


@dataclass(slots=True)
class ProbeOptions:
    """How one run probes each port (shared by every probe of the run)."""

    timeout: float = 5.0
    cafile: str | None = None
    relay_test: bool = False
    auth_test: AuthTest | None = None
    slow_greeting: float = SLOW_GREETING_S
    sts: Callable[[str], Awaitable[StsView | None]] | None = None
    """Returns the MTA-STS view of an MX domain (the runner caches one fetch per domain)."""
    helo: str = LOCAL_HOSTNAME
    """The name to greet with: strict servers refuse a name that is not a real host."""


# -- parsers (pure, property-tested) ------------------------------------------------------


def parse_banner_host(banner: str) -> str | None:
    """The host name a greeting announces: the first word after `220`, if it looks like one.

    >>> parse_banner_host("220 mx1.example.com ESMTP Postfix")
    'mx1.example.com'
    >>> parse_banner_host("220-mx.example.com ready\\n220 more") is None
    False
    """
    first = banner.split("\n", 1)[0].strip()
    if len(first) < 4 or not first[:3].isdigit():
        return None
    words = first[4:].split()
    if not words:
        return None
    word = words[0].strip("[]").rstrip(".").lower()
    if not re.fullmatch(r"[a-z0-9_]([a-z0-9_.:-]{0,252})", word):
        return None
    return word


def parse_ehlo(message: str) -> tuple[str, dict[str, str]]:
    """Split an EHLO reply's text (lines without codes) into the server name and extensions.

    Keywords are upper-cased; `AUTH=LOGIN` (an old form) is read as AUTH. Never raises.

    >>> parse_ehlo("mx.example.com greets you\\nSIZE 1000\\nSTARTTLS")
    ('mx.example.com', {'SIZE': '1000', 'STARTTLS': ''})
    """
    lines = message.split("\n")
    name = lines[0].split()[0] if lines and lines[0].split() else ""
    extensions: dict[str, str] = {}
    for line in lines[1:200]:
        parts = line.strip().split(None, 1)
        if not parts:
            continue
        keyword = parts[0].upper()
        params = parts[1].strip() if len(parts) > 1 else ""
        if keyword.startswith("AUTH="):
            params = (keyword[5:] + " " + params).strip()
            keyword = "AUTH"
        if not re.fullmatch(r"[A-Z0-9][A-Z0-9-]{0,63}", keyword):
            continue
        if keyword == "AUTH" and keyword in extensions:
            params = (extensions[keyword] + " " + params).strip()
        extensions[keyword] = params
    return name, extensions


def auth_mechanisms(extensions: dict[str, str]) -> list[str]:
    if "AUTH" not in extensions:
        return []
    return list(dict.fromkeys(word.upper() for word in extensions["AUTH"].split()))


def reply_lines(response: SMTPResponse) -> list[str]:
    """A reply as the server sent it: `250-first`, ..., `250 last`."""
    texts = response.message.split("\n") if response.message else [""]
    code = str(response.code)
    return [
        f"{code}{'-' if index < len(texts) - 1 else ' '}{text}".rstrip()
        for index, text in enumerate(texts)
    ]


# -- the probe ----------------------------------------------------------------------------


class _Recorder:
    """The transcript, timings and findings of one probe as it goes."""

    def __init__(self, probe: PortProbe) -> None:
        self.probe = probe
        self.started = time.monotonic()
        self.step_started = self.started

    def now_ms(self) -> float:
        return (time.monotonic() - self.started) * 1000

    def line(self, direction: str, text: str) -> None:
        if len(text) > MAX_TRANSCRIPT_TEXT:
            text = text[:MAX_TRANSCRIPT_TEXT] + f"... ({len(text)} characters)"
        self.probe.transcript.append(TranscriptLine(direction, text, self.now_ms()))

    def reply(self, response: SMTPResponse) -> None:
        for text in reply_lines(response)[:200]:
            self.line("S", text)

    def begin(self) -> None:
        self.step_started = time.monotonic()

    def done(self, step: str) -> None:
        self.probe.timings_ms[step] = (time.monotonic() - self.step_started) * 1000

    def find(self, code: str, severity: Status, message: str, fix: str = "") -> None:
        self.probe.findings.append(Finding(code, severity, message, fix))


def _tls_context() -> ssl.SSLContext:
    """A client context that completes any handshake, to see what the server offers."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    # Old servers must still complete a handshake so "TLS 1.0" can be reported, not
    # mistaken for "no TLS"; the version is judged afterwards.
    with contextlib.suppress(ValueError, ssl.SSLError), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # deliberately allowing TLS 1.0
        context.minimum_version = ssl.TLSVersion.TLSv1
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    return context


def _where(target: Target) -> str:
    address = target.address or "?"
    return f"[{address}]:{target.port}" if ":" in address else f"{address}:{target.port}"


def _port_words(target: Target) -> str:
    if target.port != target.well_known_port:
        return f"port {target.well_known_port} (lab port {target.port})"
    return f"port {target.port}"


async def _connect(target: Target, seconds: float, rec: _Recorder) -> socket.socket | None:
    """TCP connect; sets state and findings; returns the socket when open."""
    assert target.address is not None
    family = socket.AF_INET6 if target.family == "ipv6" else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    rec.line("*", f"connecting to {_where(target)}")
    rec.begin()
    try:
        async with asyncio.timeout(seconds):
            await loop.sock_connect(sock, (target.address, target.port))
    except TimeoutError:
        sock.close()
        rec.done("connect")
        rec.probe.state = PortState.FILTERED
        rec.line("*", f"no answer to the connection within {seconds:g} s")
        return None
    except ConnectionRefusedError:
        sock.close()
        rec.done("connect")
        rec.probe.state = PortState.REFUSED
        rec.line("*", "connection refused")
        return None
    except OSError as exc:
        sock.close()
        rec.done("connect")
        rec.probe.state = PortState.ERROR
        rec.probe.error = f"cannot connect to {_where(target)}: {exc.strerror or exc}"
        rec.line("*", rec.probe.error)
        return None
    rec.done("connect")
    rec.probe.state = PortState.OPEN
    rec.line("*", f"connected in {rec.probe.timings_ms['connect']:.0f} ms")
    return sock


def _closed_findings(target: Target, rec: _Recorder, timeout: float) -> None:
    probe = rec.probe
    severity = Status.FAIL if target.expected else Status.SKIP
    if probe.state is PortState.REFUSED:
        rec.find(
            "ports.refused",
            severity,
            f"Nothing listens on {_port_words(target)} of {target.host} ({target.address}): "
            "the connection was refused."
            + (
                " Senders cannot deliver mail to this MX."
                if target.role is Role.RELAY and target.mx_domain
                else ""
            ),
            f"Start the SMTP service on port {target.well_known_port} (or remove the MX "
            "record pointing here)."
            if target.role is Role.RELAY
            else f"Enable the {_role_words(target.role)} listener on port "
            f"{target.well_known_port}, if clients should use it.",
        )
    elif probe.state is PortState.FILTERED:
        rec.find(
            "ports.filtered",
            severity,
            f"{_port_words(target)} of {target.host} ({target.address}) did not answer "
            f"within {timeout:g} s: a firewall drops the connection, on the server's side "
            "or on your own network's.",
            f"Open TCP port {target.well_known_port} in the server's firewall or security "
            "group; if other hosts' port 25 times out too, probe from another network.",
        )
    else:
        rec.find(
            "ports.connect-error",
            Status.ERROR,
            (probe.error or "could not connect") + ".",
            "Check the address and the network route, then probe again.",
        )


def _role_words(role: Role) -> str:
    return {
        Role.RELAY: "SMTP relay (STARTTLS)",
        Role.SUBMISSIONS: "implicit-TLS submission",
        Role.SUBMISSION: "STARTTLS submission",
    }[role]


async def _peek(target: Target, seconds: float) -> bytes | None:
    """What the port sends first over plain TCP, to explain a failed TLS handshake."""
    assert target.address is not None
    try:
        async with asyncio.timeout(seconds):
            reader, writer = await asyncio.open_connection(target.address, target.port)
            try:
                return await reader.read(PEEK_BYTES)
            finally:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
    except (TimeoutError, OSError):
        return None


def _root_cause(exc: BaseException) -> BaseException:
    seen = 0
    while exc.__cause__ is not None and seen < 8:
        exc = exc.__cause__
        seen += 1
    return exc


def _describe_error(exc: BaseException) -> str:
    cause = _root_cause(exc)
    if isinstance(cause, ssl.SSLError):
        return f"TLS error: {cause.reason or cause}"
    if isinstance(cause, TimeoutError | aiosmtplib.SMTPTimeoutError):
        return "timed out"
    if isinstance(cause, ConnectionResetError | aiosmtplib.SMTPServerDisconnected | EOFError):
        return "the server closed the connection"
    return str(cause) or type(cause).__name__


def _is_too_long(exc: BaseException) -> bool:
    return (
        isinstance(exc, aiosmtplib.SMTPResponseException) and "too long" in str(exc.message).lower()
    )


async def probe_port(
    ctx: ResolverContext, target: Target, options: ProbeOptions | None = None
) -> PortProbe:
    """Probe one port of one address as its role says. Never raises (except cancellation).

    Args:
        ctx: resolver context: reverse DNS of the address, TLSA records, MTA-STS.
        target: where to connect and in which role.
        options: timeouts, trusted CA file, relay and AUTH tests, MTA-STS view.

    Returns:
        A PortProbe with state, status, findings (each with its fix), transcript and
        timings. Each step waits at most `options.timeout` seconds.
    """
    opts = options or ProbeOptions()
    probe = PortProbe(
        host=target.host,
        port=target.port,
        role=target.role,
        address=target.address,
        family=target.family,
        well_known_port=target.well_known_port,
        mx_domain=target.mx_domain,
    )
    rec = _Recorder(probe)
    if target.address is None:
        probe.state = PortState.ERROR
        probe.error = target.error or f"{target.host} has no address"
        rec.find(
            "ports.dns-error" if target.lookup_failed else "ports.no-address",
            Status.ERROR if target.lookup_failed else Status.FAIL,
            f"{target.host}: {probe.error}, so nothing could be probed.",
            "Check the host's A/AAAA records (and that its nameservers answer).",
        )
        probe.status = Status.worst(f.severity for f in probe.findings)
        return probe
    side_tasks: list[asyncio.Task[Any]] = []
    try:
        rdns: asyncio.Task[ReverseDns] | None = None
        dane: asyncio.Task[dict[str, Any]] | None = None
        if target.role is Role.RELAY:
            rdns = asyncio.ensure_future(reverse_dns(ctx, target.address, "mx", target.host))
            side_tasks.append(rdns)
            if target.well_known_port == 25:
                dane = asyncio.ensure_future(_tlsa(ctx, target.host))
                side_tasks.append(dane)
        await _converse(ctx, target, opts, rec)
        if rdns is not None:
            _banner_findings(target, await rdns, rec)
        if dane is not None:
            probe.dane = await dane
            _dane_findings(target, probe.dane, rec)
        if target.mx_domain and target.role is Role.RELAY and opts.sts is not None:
            view = await opts.sts(target.mx_domain)
            if view is not None:
                _sts_findings(target, view, rec)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        probe.error = f"internal error: {type(exc).__name__}: {exc}"
        rec.find(
            "ports.internal-error",
            Status.ERROR,
            f"The probe stopped unexpectedly ({type(exc).__name__}: {exc}).",
            "Please report this with the transcript.",
        )
    finally:
        for task in side_tasks:
            if not task.done():
                task.cancel()
    probe.timings_ms["total"] = rec.now_ms()
    probe.status = _status(probe)
    return probe


def _status(probe: PortProbe) -> Status:
    severities = [finding.severity for finding in probe.findings]
    if probe.state is PortState.OPEN:
        return Status.worst([Status.PASS, *severities])
    return Status.worst(severities, default=Status.ERROR)


async def _converse(
    ctx: ResolverContext, target: Target, opts: ProbeOptions, rec: _Recorder
) -> None:
    timeout = opts.timeout
    sock = await _connect(target, timeout, rec)
    if sock is None:
        _closed_findings(target, rec, timeout)
        return
    implicit = target.role.implicit_tls
    smtp = aiosmtplib.SMTP(
        hostname=target.host,
        sock=sock,
        timeout=timeout,
        use_tls=implicit,
        start_tls=False,
        tls_context=_tls_context(),
        local_hostname=opts.helo,
    )
    try:
        await _session(smtp, target, opts, rec)
    finally:
        # The transport owns the socket now and closes it when it is done (a TLS
        # transport only after its shutdown): closing it here would free the descriptor
        # while the event loop still watches it, and the next socket would collide.
        smtp.close()


async def _step(coroutine: Awaitable[Any], seconds: float) -> Any:
    """aiosmtplib has its own timeouts; this hard deadline is the guarantee."""
    async with asyncio.timeout(seconds + 0.5):
        return await coroutine


async def _session(
    smtp: aiosmtplib.SMTP, target: Target, opts: ProbeOptions, rec: _Recorder
) -> None:
    probe = rec.probe
    timeout = opts.timeout
    implicit = target.role.implicit_tls
    if implicit:
        rec.line("*", "TLS handshake (implicit TLS), then greeting")
    rec.begin()
    try:
        greeting: SMTPResponse = await _step(smtp.connect(), timeout)
    except aiosmtplib.SMTPConnectResponseError as exc:
        rec.done("banner")
        rec.reply(SMTPResponse(exc.code, exc.message))
        probe.banner = reply_lines(SMTPResponse(exc.code, exc.message))[0][:MAX_BANNER]
        rec.find(
            "ports.greeting-refused",
            Status.FAIL,
            f"{target.host} greeted with {exc.code} instead of 220: it refuses service to "
            "this client (often a blocklist or rate limit hitting the probe's address).",
            "Check the server's client restrictions and logs for the probe's address.",
        )
        return
    except (aiosmtplib.SMTPException, TimeoutError, OSError) as exc:
        rec.done("banner")
        await _greeting_failure(target, opts, rec, exc)
        return
    rec.done("banner")
    if implicit:
        _record_tls(smtp, target, opts, rec)
    probe.banner = "\n".join(reply_lines(greeting))[:MAX_BANNER]
    rec.reply(greeting)
    probe.banner_host = parse_banner_host(probe.banner)
    if probe.timings_ms["banner"] > opts.slow_greeting * 1000:
        rec.find(
            "ports.slow-greeting",
            Status.WARN,
            f"The greeting took {probe.timings_ms['banner'] / 1000:.1f} s (over "
            f"{opts.slow_greeting:g} s). Senders wait, but every delivery pays it, and some "
            "give up: it usually means a greet pause, or the server's own reverse-DNS "
            "lookups of clients timing out.",
            "Check the server's resolver (it should answer instantly) and any greet-delay "
            "or tarpit setting (postscreen_greet_wait, smtpd_delay_reject).",
        )
    if _CONTROL.search(greeting.message or ""):
        rec.find(
            "ports.banner-control-characters",
            Status.WARN,
            "The greeting holds control characters (terminal escape sequences?); they are "
            "shown escaped here. Some clients and log viewers choke on them.",
            "Set a plain-text greeting (Postfix smtpd_banner, Exim smtp_banner).",
        )

    extensions = await _ehlo(smtp, rec, "ehlo", timeout)
    if extensions is None:
        return
    if implicit:
        probe.extensions = extensions
        probe.auth_after_tls = auth_mechanisms(extensions)
    else:
        probe.extensions_before_tls = extensions
        probe.extensions = extensions
        probe.auth_before_tls = auth_mechanisms(extensions)
        probe.starttls = "STARTTLS" in extensions
        if probe.auth_before_tls:
            rec.find(
                "ports.auth-before-tls",
                Status.FAIL,
                f"AUTH ({', '.join(probe.auth_before_tls)}) is offered before TLS: a mail "
                "client may send the password in clear text, readable by anyone on the path.",
                "Offer AUTH only after STARTTLS (Postfix smtpd_tls_auth_only = yes; Exim "
                "auth_advertise_hosts = ${if eq{$tls_in_cipher}{}{}{*}}).",
            )
        if not probe.starttls:
            _no_starttls(target, rec)
        else:
            ok = await _starttls(smtp, target, opts, rec)
            if not ok:
                return
            after = await _ehlo(smtp, rec, "ehlo_tls", timeout)
            if after is None:
                return
            probe.extensions = after
            probe.auth_after_tls = auth_mechanisms(after)
    if (
        target.role is not Role.RELAY
        and probe.tls
        and probe.tls.version
        and not probe.auth_after_tls
    ):
        rec.find(
            "ports.no-auth",
            Status.WARN,
            f"The {_role_words(target.role)} port offers no AUTH after TLS, so mail clients "
            "cannot log in to send.",
            "Enable SMTP AUTH on this listener (Postfix smtpd_sasl_auth_enable = yes).",
        )
    if opts.relay_test:
        await _relay_test(smtp, target, rec, timeout)
    if opts.auth_test is not None and target.role is not Role.RELAY:
        await _auth_test(smtp, target, opts.auth_test, rec, timeout)
    with contextlib.suppress(aiosmtplib.SMTPException, TimeoutError, OSError):
        rec.line("C", "QUIT")
        response = await _step(smtp.quit(timeout=min(timeout, 2.0)), min(timeout, 2.0))
        rec.reply(response)


async def _greeting_failure(
    target: Target, opts: ProbeOptions, rec: _Recorder, exc: BaseException
) -> None:
    probe = rec.probe
    timeout = opts.timeout
    cause = _root_cause(exc)
    implicit = target.role.implicit_tls
    if _is_too_long(exc):
        rec.line("*", "the greeting went on past 32 KB; cut off")
        probe.error = "greeting longer than 32 KB"
        rec.find(
            "ports.reply-too-long",
            Status.FAIL,
            "The greeting is longer than 32 KB (a reply line may be at most 512 octets, RFC "
            "5321 4.5.3.1.5): senders drop the connection and the mail is not delivered.",
            "Fix the server's banner setting; a greeting is one short line such as "
            f"`220 {target.host} ESMTP`.",
        )
        return
    timed_out = isinstance(cause, TimeoutError | aiosmtplib.SMTPTimeoutError) or isinstance(
        exc, TimeoutError | aiosmtplib.SMTPTimeoutError
    )
    if implicit:
        await _implicit_tls_failure(target, rec, exc, timed_out, timeout)
        return
    if timed_out:
        rec.line("*", f"no greeting within {timeout:g} s")
        probe.error = f"no greeting within {timeout:g} s"
        rec.find(
            "ports.greeting-timeout",
            Status.FAIL,
            f"{target.host} accepted the connection on {_port_words(target)} but sent no "
            f"greeting within {timeout:g} s: a tarpit, an overloaded server, or a proxy "
            "with nothing behind it. Senders give up and retry later.",
            "Check that the mail server process behind this port is running and not "
            "overloaded, and that no tarpit or greet delay applies to every client.",
        )
        return
    text = _describe_error(exc)
    rec.line("*", f"no valid greeting: {text}")
    probe.error = f"no valid greeting: {text}"
    rec.find(
        "ports.greeting-invalid",
        Status.FAIL,
        f"{target.host} did not send a valid SMTP greeting on {_port_words(target)} ({text}).",
        f"Make sure an SMTP server listens on this port and greets with `220 {target.host} ESMTP`.",
    )


async def _implicit_tls_failure(
    target: Target, rec: _Recorder, exc: BaseException, timed_out: bool, seconds: float
) -> None:
    probe = rec.probe
    text = _describe_error(exc)
    probe.tls = TlsInfo(error=text)
    rec.line("*", f"TLS failed: {text}")
    peek = await _peek(target, min(seconds, 1.0))
    if peek:
        shown = peek[:120].decode("latin-1")
        rec.line("*", f"plain read of the port: {shown!r}")
    if peek and peek[:3] == b"220":
        probe.error = "plaintext SMTP on an implicit-TLS port"
        rec.find(
            "ports.plaintext-on-465",
            Status.FAIL,
            f"{_port_words(target).capitalize()} of {target.host} answers in plain text: "
            "it should start with a TLS handshake (RFC 8314). Clients set to SSL/TLS fail "
            "to connect, and clients that fall back send passwords unencrypted.",
            "Configure this listener for implicit TLS (Postfix: smtpd_tls_wrappermode = yes "
            "on the submissions service in master.cf), or use STARTTLS on 587 instead.",
        )
        return
    if timed_out:
        probe.error = f"no TLS handshake within {seconds:g} s"
        rec.find(
            "ports.tls-timeout",
            Status.FAIL,
            f"{target.host} accepted the connection on {_port_words(target)} but did not "
            f"complete a TLS handshake within {seconds:g} s.",
            "Check that the implicit-TLS listener runs and has its certificate loaded.",
        )
        return
    probe.error = f"TLS handshake failed: {text}"
    garbage = " It sent data that is not TLS." if peek else ""
    rec.find(
        "ports.tls-failed",
        Status.FAIL,
        f"The TLS handshake with {target.host} on {_port_words(target)} failed ({text})."
        + garbage
        + " Clients cannot submit mail here.",
        "Check the listener's TLS configuration (certificate and key loaded, TLS 1.2 or "
        "later enabled) and that nothing else occupies the port.",
    )


async def _ehlo(
    smtp: aiosmtplib.SMTP, rec: _Recorder, step: str, seconds: float
) -> dict[str, str] | None:
    probe = rec.probe
    rec.line("C", f"EHLO {smtp.local_hostname or LOCAL_HOSTNAME}")
    rec.begin()
    try:
        response = await _step(smtp.ehlo(), seconds)
    except aiosmtplib.SMTPHeloError as exc:
        rec.done(step)
        rec.reply(SMTPResponse(exc.code, exc.message))
        rec.find(
            "ports.ehlo-refused",
            Status.FAIL,
            f"The server refused EHLO ({exc.code}): without ESMTP there is no STARTTLS, no "
            "AUTH and no size negotiation.",
            "Enable ESMTP (EHLO) on the server.",
        )
        return None
    except (aiosmtplib.SMTPException, TimeoutError, OSError) as exc:
        rec.done(step)
        if _is_too_long(exc):
            rec.line("*", "the EHLO reply went on past 32 KB; cut off")
            probe.error = "EHLO reply longer than 32 KB"
            rec.find(
                "ports.reply-too-long",
                Status.FAIL,
                "The EHLO reply never ended (over 32 KB of continuation lines): senders "
                "give up on the connection and the mail is not delivered.",
                "Fix the server: a multiline reply must end with a `250 ` line (RFC 5321 4.2.1).",
            )
            return None
        text = _describe_error(exc)
        rec.line("*", f"EHLO failed: {text}")
        probe.error = f"EHLO failed: {text}"
        rec.find(
            "ports.ehlo-failed",
            Status.FAIL,
            f"No usable reply to EHLO ({text}).",
            "Check the server's logs for this connection; it should answer EHLO at once.",
        )
        return None
    rec.done(step)
    rec.reply(response)
    _, extensions = parse_ehlo(response.message)
    return extensions


def _no_starttls(target: Target, rec: _Recorder) -> None:
    if target.role is Role.RELAY:
        message = (
            f"{_port_words(target).capitalize()} of {target.host} offers no STARTTLS: mail "
            "to it travels in clear text, readable and changeable on the path. Gmail marks "
            "such mail as unencrypted, and MTA-STS or DANE senders refuse to deliver."
        )
        fix = (
            "Install a certificate for "
            f"{target.host} and enable STARTTLS (Postfix: smtpd_tls_cert_file, "
            "smtpd_tls_key_file, smtpd_tls_security_level = may)."
        )
    else:
        message = (
            f"The submission port of {target.host} offers no STARTTLS: clients either "
            "refuse to log in or send the password in clear text."
        )
        fix = (
            "Enable STARTTLS with a valid certificate and require it before AUTH (Postfix "
            "submission: smtpd_tls_security_level = encrypt)."
        )
    rec.find("ports.no-starttls", Status.FAIL, message, fix)


async def _starttls(
    smtp: aiosmtplib.SMTP, target: Target, opts: ProbeOptions, rec: _Recorder
) -> bool:
    probe = rec.probe
    rec.line("C", "STARTTLS")
    rec.begin()
    try:
        response = await _step(smtp.starttls(server_hostname=target.host), opts.timeout)
    except aiosmtplib.SMTPResponseException as exc:
        rec.done("starttls")
        rec.reply(SMTPResponse(exc.code, exc.message))
        probe.tls = TlsInfo(error=f"STARTTLS refused: {exc.code} {exc.message}")
        rec.find(
            "ports.starttls-failed",
            Status.FAIL,
            f"STARTTLS is advertised but refused ({exc.code}): the mail goes in clear "
            "text, or not at all for senders that require TLS.",
            "Check the server's TLS certificate and key configuration and its logs.",
        )
        return False
    except (aiosmtplib.SMTPException, TimeoutError, OSError) as exc:
        rec.done("starttls")
        text = _describe_error(exc)
        rec.line("*", f"TLS failed: {text}")
        probe.tls = TlsInfo(error=text)
        probe.error = f"STARTTLS failed: {text}"
        rec.find(
            "ports.starttls-failed",
            Status.FAIL,
            f"The STARTTLS handshake with {target.host} failed ({text}): senders fall back "
            "to clear text or, under MTA-STS or DANE, do not deliver at all.",
            "Check the server's TLS settings (certificate and key loaded, TLS 1.2 or later) "
            "and its logs for this connection.",
        )
        return False
    rec.done("starttls")
    rec.reply(response)
    _record_tls(smtp, target, opts, rec)
    return True


def _peer_chain(ssl_object: Any) -> list[bytes]:
    """DER certificates the server sent, leaf first.

    Python 3.13 has `get_unverified_chain()`; 3.10-3.12 have it on the private `_sslobj`.
    Without either, only the leaf is known.
    """
    for owner in (ssl_object, getattr(ssl_object, "_sslobj", None)):
        method = getattr(owner, "get_unverified_chain", None)
        if method is None:
            continue
        try:
            chain = method() or []
        except (ValueError, ssl.SSLError):
            continue
        out: list[bytes] = []
        for item in chain:
            if isinstance(item, bytes | bytearray):
                out.append(bytes(item))
            elif hasattr(item, "public_bytes"):
                out.append(item.public_bytes(ssl._ssl.ENCODING_DER))  # type: ignore[attr-defined]
        if out:
            return out
    leaf = ssl_object.getpeercert(binary_form=True)
    return [leaf] if leaf else []


def _record_tls(smtp: aiosmtplib.SMTP, target: Target, opts: ProbeOptions, rec: _Recorder) -> None:
    probe = rec.probe
    ssl_object = smtp.get_transport_info("ssl_object")
    info = TlsInfo()
    probe.tls = info
    if ssl_object is None:
        info.error = "no TLS session after the handshake"
        return
    info.version = ssl_object.version()
    cipher = ssl_object.cipher()
    if cipher:
        info.cipher, _, info.bits = cipher[0], cipher[1], cipher[2]
    rec.line("*", f"TLS established: {info.version}, {info.cipher}")
    chain = _peer_chain(ssl_object)
    probe.chain_der = chain
    certificate = tlsinfo.describe_chain(chain, target.host, cafile=opts.cafile)
    info.certificate = certificate
    _tls_findings(target, info, rec)


def _tls_findings(target: Target, info: TlsInfo, rec: _Recorder) -> None:
    if info.version in ("SSLv3", "TLSv1", "TLSv1.1"):
        rec.find(
            "ports.old-tls",
            Status.FAIL,
            f"The server negotiated {info.version}, deprecated since 2021 (RFC 8996): "
            "modern senders and clients refuse it or fall back to clear text.",
            "Enable TLS 1.2 and 1.3 and disable older versions (Postfix: "
            "smtpd_tls_protocols = >=TLSv1.2).",
        )
    cert = info.certificate
    if cert is None:
        rec.find(
            "ports.no-certificate",
            Status.FAIL,
            "The server presented no readable certificate.",
            "Configure a certificate and key for this listener.",
        )
        return
    relay = target.role is Role.RELAY
    # On port 25 most senders encrypt opportunistically and accept any certificate; only
    # MTA-STS and DANE senders (checked separately) refuse. Mail clients always verify.
    soft = Status.WARN if relay else Status.FAIL
    consequence = (
        "Opportunistic senders still deliver, but MTA-STS senders and TLS reports flag it."
        if relay
        else "Mail clients refuse the connection or show a security warning."
    )
    renew = (
        f"Install a certificate from a public CA covering {target.host} (e.g. Let's "
        "Encrypt via certbot) and reload the mail server."
    )
    if cert.trust_error == "expired" or (cert.days_left is not None and cert.days_left < 0):
        ago = f" ({-cert.days_left} days ago)" if cert.days_left else ""
        rec.find(
            "ports.cert-expired",
            Status.FAIL,
            f"The certificate expired on {cert.not_after}{ago}. " + consequence,
            renew,
        )
    elif cert.trust_error == "not yet valid":
        rec.find(
            "ports.cert-not-yet-valid",
            Status.FAIL,
            f"The certificate is valid only from {cert.not_before}. " + consequence,
            "Check the server's clock and the certificate's dates; install a current one.",
        )
    elif cert.days_left is not None and cert.days_left < tlsinfo.EXPIRY_WARN_DAYS:
        rec.find(
            "ports.cert-expiring",
            Status.WARN,
            f"The certificate expires on {cert.not_after}, in {cert.days_left} days.",
            "Renew it now and check that automatic renewal reloads the mail server.",
        )
    if cert.self_signed and not cert.trusted:
        rec.find(
            "ports.cert-self-signed",
            soft,
            "The certificate is self-signed: nobody can verify it. " + consequence,
            renew,
        )
    elif not cert.trusted and cert.trust_error not in ("expired", "not yet valid"):
        rec.find(
            "ports.cert-untrusted",
            soft,
            f"The certificate chain does not verify ({cert.trust_error}). " + consequence,
            "Serve the full chain (leaf then intermediates) from a public CA: "
            "Postfix smtpd_tls_chain_files or a fullchain.pem file.",
        )
    if cert.hostname_match is False:
        names = ", ".join(cert.sans) or cert.subject
        rec.find(
            "ports.cert-name-mismatch",
            soft,
            f"The certificate names {names}, not {target.host}. " + consequence,
            f"Add {target.host} to the certificate's subjectAltName and reload.",
        )


# -- banner and reverse DNS --------------------------------------------------------------


def _banner_findings(target: Target, entry: ReverseDns, rec: _Recorder) -> None:
    probe = rec.probe
    probe.ptr = list(entry.confirmed)
    if probe.state is not PortState.OPEN or probe.banner is None:
        return
    if entry.error and not entry.ptr:
        return  # DNS trouble: the fcrdns check reports it; nothing to compare here
    if not entry.confirmed:
        shown = ", ".join(entry.ptr) if entry.ptr else "no PTR record"
        rec.find(
            "ports.no-fcrdns",
            Status.WARN,
            f"{target.address} has no forward-confirmed reverse DNS ({shown}). Receivers "
            "check it on every sending address, and many MX hosts also send.",
            f"Ask the address's owner (hosting provider) for a PTR {target.address} -> "
            f"{target.host}, and keep {target.host}'s A/AAAA pointing back to it.",
        )
        return
    if probe.banner_host and probe.banner_host not in entry.confirmed:
        rec.find(
            "ports.banner-mismatch",
            Status.WARN,
            f"The greeting announces {probe.banner_host}, but {target.address}'s reverse DNS "
            f"names {', '.join(entry.confirmed)}. Some receivers and spam filters compare "
            "the two when this host sends mail.",
            f"Set the greeting name to {entry.confirmed[0]} (Postfix myhostname, Exim "
            "primary_hostname), or change the PTR to match the greeting.",
        )


# -- DANE ---------------------------------------------------------------------------------


async def _zone_of(ctx: ResolverContext, host: str) -> str | None:
    labels = host.rstrip(".").split(".")
    candidates = [".".join(labels[i:]) for i in range(len(labels) - 1)]
    lookups = await ctx.gather(*(ctx.query(name, "SOA") for name in candidates))
    for name, lookup in zip(candidates, lookups, strict=True):
        if lookup.ok and any(
            rr.name.to_text(omit_final_dot=True).lower() == name.lower()
            for rr in ([lookup.rrset] if lookup.rrset is not None else [])
        ):
            return name
    return None


async def _tlsa(ctx: ResolverContext, host: str) -> dict[str, Any]:
    """TLSA at `_25._tcp.HOST` with the DNSSEC status of its zone."""
    from console.auth.dnssec import check_dnssec

    owner = f"_25._tcp.{host}"
    lookup = await ctx.query(owner, "TLSA", dnssec=True)
    data: dict[str, Any] = {
        "owner": owner,
        "records": [],
        "usable": 0,
        "matched": [],
        "match": None,
        "dnssec": None,
        "error": None,
    }
    if lookup.failed:
        data["error"] = lookup.describe()
        return data
    records = tlsinfo.tlsa_from_rdata(lookup.records) if lookup.ok else []
    data["records"] = [record.text for record in records]
    data["usable"] = sum(1 for record in records if record.usable)
    data["_tlsa"] = records
    if not records:
        return data
    zone = await _zone_of(ctx, host)
    if zone is None:
        data["dnssec"] = "unknown"
        return data
    result = await check_dnssec(ctx, zone)
    if result.status is Status.PASS and lookup.signatures is not None:
        data["dnssec"] = "secure"
    elif result.status is Status.WARN:
        data["dnssec"] = "insecure"
    elif result.status is Status.FAIL:
        data["dnssec"] = "bogus"
    else:
        data["dnssec"] = "unknown"
    return data


def _dane_findings(target: Target, data: dict[str, Any], rec: _Recorder) -> None:
    probe = rec.probe
    records: list[tlsinfo.Tlsa] = data.pop("_tlsa", [])
    if data.get("error"):
        rec.find(
            "ports.dane-lookup-failed",
            Status.ERROR,
            f"The TLSA lookup of {data['owner']} failed ({data['error']}). DANE senders "
            "defer mail while they cannot tell whether TLSA records exist.",
            "Make sure the zone's nameservers answer TLSA (and DNSSEC) queries.",
        )
        return
    if not records or probe.state is not PortState.OPEN:
        return
    secure = data.get("dnssec") == "secure"
    severity = Status.FAIL if secure else Status.WARN
    if not secure:
        rec.find(
            "ports.dane-insecure",
            Status.WARN,
            f"{data['owner']} has TLSA records, but the zone is not DNSSEC-validated "
            f"({data.get('dnssec')}): senders ignore them (RFC 7672 2.2), so they protect "
            "nothing.",
            "Sign the zone with DNSSEC and publish its DS at the parent, or remove the "
            "TLSA records.",
        )
    if not data["usable"]:
        rec.find(
            "ports.dane-unusable",
            Status.WARN,
            f"No TLSA record at {data['owner']} is usable for SMTP: only usages 2 "
            "(DANE-TA) and 3 (DANE-EE) count (RFC 7672 3.1.3).",
            "Publish a `3 1 1` record of the server's key.",
        )
        return
    if probe.starttls is False:
        rec.find(
            "ports.dane-no-starttls",
            severity,
            f"{data['owner']} publishes TLSA records, which oblige senders to use "
            "STARTTLS, but the server offers none: DANE senders will not deliver.",
            "Enable STARTTLS with the certificate the TLSA records describe.",
        )
        return
    chain = probe.chain_der
    if not chain:
        return
    result = tlsinfo.dane_match(records, chain, target.host)
    data.update(matched=result["matched"], match=result["match"])
    if not result["match"]:
        leaf = tlsinfo.parse_der(chain[0])
        fix = (
            "Publish the record for the key the server really uses (keep the old one "
            "until caches expire): " + tlsinfo.tlsa_record_for(target.host, leaf)
            if leaf is not None
            else "Publish a TLSA record for the key the server uses."
        )
        rec.find(
            "ports.dane-mismatch",
            severity,
            f"The certificate {target.host} presents matches none of the TLSA records at "
            f"{data['owner']}: DANE senders (Microsoft, Comcast, many European providers) "
            "refuse to deliver."
            + ("" if secure else " (Ignored today, as the zone is not validated.)"),
            fix,
        )


# -- MTA-STS ------------------------------------------------------------------------------


def _sts_findings(target: Target, view: StsView, rec: _Recorder) -> None:
    from console.auth.mta_sts import mx_matches

    probe = rec.probe
    matched = any(mx_matches(pattern, target.host) for pattern in view.patterns)
    probe.mta_sts = {
        "mode": view.mode,
        "patterns": list(view.patterns),
        "matches": matched,
        "policy_url": view.policy_url,
    }
    if view.mode not in ("enforce", "testing"):
        return
    severity = Status.FAIL if view.mode == "enforce" else Status.WARN
    if not matched:
        rec.find(
            "ports.mta-sts-mx-mismatch",
            severity,
            f"{target.host} is not among the MX patterns of {view.domain}'s MTA-STS policy "
            f"({', '.join(view.patterns) or 'none'}); in {view.mode} mode senders "
            + ("refuse to deliver to it." if view.mode == "enforce" else "report failures."),
            f"Add `mx: {target.host}` to {view.policy_url} and change the id in the "
            f"_mta-sts.{view.domain} TXT record.",
        )
    if probe.state is not PortState.OPEN:
        return
    cert = probe.tls.certificate if probe.tls else None
    if probe.starttls is False or cert is None:
        if probe.starttls is False:
            rec.find(
                "ports.mta-sts-no-tls",
                severity,
                f"{view.domain}'s MTA-STS policy ({view.mode}) requires TLS, but {target.host} "
                "offers no STARTTLS.",
                "Enable STARTTLS with a certificate from a public CA covering the MX name.",
            )
        return
    if not cert.trusted or not cert.hostname_match:
        why = cert.trust_error if not cert.trusted else f"it does not name {target.host}"
        rec.find(
            "ports.mta-sts-cert",
            severity,
            f"Under {view.domain}'s MTA-STS policy ({view.mode}) the MX certificate must be "
            f"valid for {target.host}, and it is not ({why}): senders "
            + ("refuse to deliver." if view.mode == "enforce" else "report a failure."),
            f"Install a publicly trusted certificate covering {target.host}.",
        )


# -- explicit tests -----------------------------------------------------------------------


async def _relay_test(
    smtp: aiosmtplib.SMTP, target: Target, rec: _Recorder, seconds: float
) -> None:
    probe = rec.probe
    probe.relay = {"tested": True, "accepted": None, "reply": None}
    try:
        rec.line("C", f"MAIL FROM:<{RELAY_SENDER}>")
        response = await _step(smtp.mail(RELAY_SENDER), seconds)
        rec.reply(response)
        rec.line("C", f"RCPT TO:<{RELAY_RECIPIENT}>")
        response = await _step(
            smtp.execute_command(b"RCPT", f"TO:<{RELAY_RECIPIENT}>".encode()), seconds
        )
        rec.reply(response)
    except aiosmtplib.SMTPResponseException as exc:
        rec.reply(SMTPResponse(exc.code, exc.message))
        probe.relay.update(accepted=False, reply=f"{exc.code} {exc.message}")
        return
    except (aiosmtplib.SMTPException, TimeoutError, OSError) as exc:
        probe.relay["reply"] = _describe_error(exc)
        rec.line("*", f"relay test interrupted: {_describe_error(exc)}")
        return
    accepted = response.code in (250, 251)
    probe.relay.update(accepted=accepted, reply=f"{response.code} {response.message}")
    if accepted:
        rec.find(
            "ports.open-relay",
            Status.FAIL,
            f"{target.host} accepted a recipient outside its domains ({RELAY_RECIPIENT}) "
            "from a sender outside them, without authentication: an open relay. Spammers "
            "find these within hours, and the host lands on every blocklist.",
            "Accept mail only for your own domains unless the client is authenticated "
            "(Postfix: smtpd_relay_restrictions = permit_mynetworks, "
            "permit_sasl_authenticated, reject_unauth_destination).",
        )
    with contextlib.suppress(aiosmtplib.SMTPException, TimeoutError, OSError):
        rec.line("C", "RSET")
        rec.reply(await _step(smtp.rset(), seconds))


async def _auth_test(
    smtp: aiosmtplib.SMTP, target: Target, auth: AuthTest, rec: _Recorder, seconds: float
) -> None:
    probe = rec.probe
    probe.auth_test = {"attempted": False, "mechanism": None, "success": None, "reply": None}
    if probe.tls is None or probe.tls.version is None:
        probe.auth_test["reply"] = "not attempted: no TLS, and credentials never go in clear"
        rec.line("*", "AUTH test skipped: no TLS")
        return
    offered = probe.auth_after_tls
    mechanism = next((m for m in ("PLAIN", "LOGIN", "CRAM-MD5") if m in offered), None)
    if mechanism is None:
        probe.auth_test["reply"] = "not attempted: no supported mechanism offered"
        rec.line("*", "AUTH test skipped: no PLAIN, LOGIN or CRAM-MD5 offered")
        return
    method = {
        "PLAIN": smtp.auth_plain,
        "LOGIN": smtp.auth_login,
        "CRAM-MD5": smtp.auth_crammd5,
    }[mechanism]
    probe.auth_test.update(attempted=True, mechanism=mechanism)
    rec.line("C", f"AUTH {mechanism} [credentials redacted]")
    try:
        response = await _step(method(auth.username, auth.password), seconds)
    except aiosmtplib.SMTPResponseException as exc:
        rec.reply(SMTPResponse(exc.code, exc.message))
        probe.auth_test.update(success=False, reply=f"{exc.code} {exc.message}")
        rec.find(
            "ports.auth-failed",
            Status.FAIL,
            f"Logging in as {auth.username} with {mechanism} failed ({exc.code} {exc.message}).",
            "Check the user name and password (or app password), and that the account may "
            "send through this server.",
        )
        return
    except (aiosmtplib.SMTPException, TimeoutError, OSError) as exc:
        probe.auth_test["reply"] = _describe_error(exc)
        rec.line("*", f"AUTH interrupted: {_describe_error(exc)}")
        rec.find(
            "ports.auth-failed",
            Status.ERROR,
            f"The AUTH test was interrupted ({_describe_error(exc)}).",
            "Probe again; check the server's logs if it repeats.",
        )
        return
    rec.reply(response)
    probe.auth_test.update(success=True, reply=f"{response.code} {response.message}")
