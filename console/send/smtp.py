"""Send one test message over SMTP: connect, TLS, AUTH, envelope, DATA, with a transcript.

The conversation reuses the port probe's pieces (connect with refused/filtered told apart,
hard per-step deadlines, reply formatting, EHLO parsing), but unlike a probe a send
verifies the server's certificate by default: credentials and mail go only to the server
the admin meant. Every step has its own deadline, and anything that goes wrong becomes
`SendResult(accepted=False, error=...)`: `send_smtp` never raises (cancellation aside).

Secrets: the password and OAuth token are never recorded. AUTH lines are written to the
transcript with their arguments replaced, and every line, reply and error is scrubbed of
the secrets and of their base64 forms (PLAIN, LOGIN, XOAUTH2), in case a server echoes
them back.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import getpass
import os
import re
import socket
import ssl
import sys
from collections.abc import Awaitable, Callable, Sequence
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Literal

import aiosmtplib
from aiosmtplib import SMTPResponse
from aiosmtplib.auth import auth_login_encode, auth_plain_encode, auth_xoauth2_encode

from console.auth.resolver import ResolverContext
from console.ports.model import PortProbe, PortState, Role
from console.ports.probe import (
    LOCAL_HOSTNAME,
    _connect,
    _describe_error,
    _ehlo,
    _Recorder,
    _root_cause,
    _step,
    auth_mechanisms,
)
from console.ports.targets import Target, _addresses, family_of
from console.send.guard import SendGuard
from console.send.result import SendResult

PASSWORD_ENV = "MAILSCOPE_SMTP_PASSWORD"
"""Where the SMTP password comes from by default (design.md); `--password-env` names another."""

DEFAULT_TIMEOUT = 15.0
"""Seconds each step may take. Generous: a submission server may scan the message
before its final reply."""

DATA_BYTES_PER_SECOND = 256 * 1024
"""The slowest upload the DATA deadline allows for, on top of the step timeout."""

REDACTED = "[redacted]"

Security = Literal["starttls", "tls", "none"]
_ROLE = {"starttls": Role.SUBMISSION, "tls": Role.SUBMISSIONS, "none": Role.SUBMISSION}

_ADDRESS = re.compile(r"[^\s<>()\[\]\\,;:\"@\x00-\x1f\x7f]+@[^\s<>()\\,;:\"@\x00-\x1f\x7f]+")

_QUEUE_ID_PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(r"queued as ([A-Za-z0-9][A-Za-z0-9._-]*)", re.I),  # Postfix, aiosmtpd lab
    re.compile(r"\bid=([A-Za-z0-9][A-Za-z0-9._-]*)"),  # Exim: "OK id=1tXyZa-000Abc-12"
    re.compile(r"(\S+) - gsmtp\b"),  # Gmail: "OK  1732658400 a1b2...123 - gsmtp"
    re.compile(r"InternalId=(\d+)"),  # Microsoft 365 / Exchange
    re.compile(r"\b([A-Za-z0-9]{8,}) Message accepted for delivery", re.I),  # Sendmail
    re.compile(r"^(?:\d\.\d\.\d+\s+)?Ok:? ([0-9a-f]{16,}(?:-[0-9a-f]+)+)\b", re.I),  # Amazon SES
    re.compile(r"\bqueue(?:d| id)?[ :=(]+<?([A-Za-z0-9][A-Za-z0-9._@-]{3,})", re.I),
)


def parse_queue_id(reply: str) -> str | None:
    """The queue id in a server's final reply to DATA, if it names one. Never raises.

    >>> parse_queue_id("250 2.0.0 Ok: queued as 4Zx1Hq6Qk2z9sTp")
    '4Zx1Hq6Qk2z9sTp'
    >>> parse_queue_id("250 OK id=1tXyZa-000Abc-12")
    '1tXyZa-000Abc-12'
    >>> parse_queue_id("250 2.0.0 OK  1732658400 d9443c01a7336-2129f2d3e1esi12 - gsmtp")
    'd9443c01a7336-2129f2d3e1esi12'
    >>> parse_queue_id("250 Ok") is None
    True
    """
    text = reply.strip()
    if text[:3].isdigit():
        text = text[3:].lstrip(" -")
    for pattern in _QUEUE_ID_PATTERNS:
        match = pattern.search(text)
        if match:
            return match.group(1)[:128]
    return None


def password_from_env(var: str = PASSWORD_ENV) -> str | None:
    """The SMTP password from the environment variable `var`, or None when unset or empty."""
    return os.environ.get(var) or None


def prompt_password(username: str, *, stream_is_tty: bool | None = None) -> str | None:
    """Ask for the password with getpass, only when a person is at a terminal.

    Args:
        username: shown in the prompt.
        stream_is_tty: override of the terminal test (tests); None asks stdin.

    Returns:
        The password, or None without a terminal or for an empty answer.
    """
    tty = sys.stdin.isatty() if stream_is_tty is None else stream_is_tty
    if not tty:
        return None
    with contextlib.suppress(EOFError):
        return getpass.getpass(f"SMTP password for {username}: ") or None
    return None


def find_password(username: str, var: str = PASSWORD_ENV) -> str | None:
    """The password from `var`, else from a prompt at a terminal, else None."""
    return password_from_env(var) or prompt_password(username)


def message_id_of(message: bytes) -> str | None:
    """The Message-ID header of raw message bytes, or None. Never raises."""
    try:
        headers = BytesHeaderParser(policy=compat32).parsebytes(message[: 256 * 1024])
        value = headers.get("Message-ID")
    except Exception:
        return None
    if value is None:
        return None
    return " ".join(str(value).split()) or None


def _is_address(address: str, *, allow_empty: bool = False) -> bool:
    if address == "":
        return allow_empty
    return len(address) <= 254 and _ADDRESS.fullmatch(address) is not None


class _Secrets:
    """Everything that must never be recorded, in every form it could take."""

    def __init__(self, username: str | None, password: str | None, token: str | None) -> None:
        forms: set[str] = set()
        for secret in (password, token):
            if not secret:
                continue
            raw = secret.encode()
            forms |= {secret, base64.b64encode(raw).decode()}
        if username is not None and password:
            forms.add(auth_plain_encode(username, password).decode())
            forms.update(form.decode() for form in auth_login_encode(username, password)[1:])
        if username is not None and token:
            forms.add(auth_xoauth2_encode(username, token).decode())
        # Longest first, so a form containing another is replaced whole.
        self.forms = sorted((form for form in forms if len(form) >= 3), key=len, reverse=True)

    def scrub(self, text: str) -> str:
        for form in self.forms:
            if form in text:
                text = text.replace(form, REDACTED)
        return text


class _SendRecorder(_Recorder):
    """The probe's recorder, scrubbing secrets from every line before it is kept."""

    def __init__(self, probe: PortProbe, secrets: _Secrets) -> None:
        super().__init__(probe)
        self.secrets = secrets

    def line(self, direction: str, text: str) -> None:
        super().line(direction, self.secrets.scrub(text))


class _Failed(Exception):
    """A step failed: `reason` is the one-liner, `reply` the server's refusal if any.

    `connection_lost`: the session cannot go on (a timeout, TLS or socket error), as
    opposed to a refusal after which the next transaction may still be tried.
    """

    def __init__(
        self, reason: str, reply: str | None = None, *, connection_lost: bool = False
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.reply = reply
        self.connection_lost = connection_lost


def _reply_text(response: SMTPResponse) -> str:
    return f"{response.code} {' '.join(response.message.split())}".strip()


def tls_context(*, verify: bool = True, cafiles: tuple[str, ...] = ()) -> ssl.SSLContext:
    """The client TLS context of a send.

    Args:
        verify: check the chain (system store plus `cafiles`) and the host name.
        cafiles: extra trusted CA bundles (the lab's CA, `--cafile`).
    """
    if not verify:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    for cafile in cafiles:
        context.load_verify_locations(cafile=cafile)
    return context


def _tls_failure(exc: BaseException, host: str) -> str:
    cause = _root_cause(exc)
    if isinstance(cause, ssl.SSLCertVerificationError):
        why = cause.verify_message or cause.reason or str(cause)
        return (
            f"TLS certificate of {host} not trusted ({why}); nothing was sent. Fix the "
            "server's certificate, add its CA with --cafile, or allow an untrusted "
            "certificate for this one send"
        )
    return f"TLS with {host} failed ({_describe_error(exc)}); nothing was sent"


async def send_smtp(
    ctx: ResolverContext,
    message_bytes: bytes,
    *,
    envelope_from: str,
    recipients: list[str],
    host: str,
    port: int,
    security: Security = "starttls",
    username: str | None = None,
    password: str | None = None,
    oauth_token: str | None = None,
    cafile: str | None = None,
    verify: bool = True,
    timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109 - per step, not one deadline
    helo: str = LOCAL_HOSTNAME,
    confirmed: bool,
    guard: SendGuard,
) -> SendResult:
    """Send `message_bytes` to `recipients` through `host`. Never raises (cancellation aside).

    Args:
        ctx: resolver context: the host's addresses, and the service map (lab ports, CA).
        message_bytes: the whole message, headers and body (CRLF or LF line ends).
        envelope_from: MAIL FROM address; "" is the null reverse-path.
        recipients: RCPT TO addresses.
        host: server name, also the name its certificate must carry; or an IP address.
        port: the well-known port asked for (587, 465, 25); the lab maps it.
        security: `starttls` (required, never skipped), `tls` (implicit, 465) or `none`.
        username: AUTH user; with `password` (PLAIN, else LOGIN) or `oauth_token` (XOAUTH2).
        password: never recorded, logged or returned.
        oauth_token: an OAuth 2.0 access token for XOAUTH2 (Gmail, Microsoft 365).
        cafile: an extra trusted CA bundle (PEM), besides the system store and the lab's.
        verify: check the certificate chain and name; False only when the admin allows an
            untrusted certificate for this send.
        timeout: seconds each step may take (DATA gets more for a large message).
        helo: the EHLO name.
        confirmed: the user confirmed this send; without it nothing is sent.
        guard: the session's send cap.

    Returns:
        A SendResult: `accepted`, the final `reply` and `queue_id`, timings, transcript,
        and a one-line `error` when the message was not accepted.
    """
    (result,) = await send_smtp_batch(
        ctx,
        [message_bytes],
        envelope_from=envelope_from,
        recipients=recipients,
        host=host,
        port=port,
        security=security,
        username=username,
        password=password,
        oauth_token=oauth_token,
        cafile=cafile,
        verify=verify,
        timeout=timeout,
        helo=helo,
        confirmed=confirmed,
        guard=guard,
    )
    return result


async def send_smtp_batch(
    ctx: ResolverContext,
    messages: Sequence[bytes],
    *,
    envelope_from: str,
    recipients: list[str],
    host: str,
    port: int,
    security: Security = "starttls",
    username: str | None = None,
    password: str | None = None,
    oauth_token: str | None = None,
    cafile: str | None = None,
    verify: bool = True,
    timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109 - per step, not one deadline
    helo: str = LOCAL_HOSTNAME,
    confirmed: bool,
    guard: SendGuard,
) -> list[SendResult]:
    """Send several messages over one connection: one TLS handshake and one login.

    Each message is its own mail transaction and counts against the guard on its own;
    a refused transaction is reset and the next one goes ahead, a lost connection ends
    the batch (the rest say so). Arguments as `send_smtp`; one SendResult per message,
    in order. The first result's transcript and timings include the session set-up.
    """
    host = host.strip().rstrip(".").lower()
    results = [
        SendResult(
            via="smtp",
            host=host,
            well_known_port=port,
            security=security,
            message_id=message_id_of(message),
        )
        for message in messages
    ]
    if not results:
        return results
    if problem := _input_problem(
        envelope_from, recipients, security, username, password, oauth_token
    ):
        for result in results:
            result.error = problem
        return results
    admitted: list[SendResult] = []
    for result in results:
        if refusal := guard.admit(confirmed=confirmed, recipients=len(recipients)):
            result.error = refusal
        else:
            admitted.append(result)
    if not admitted:
        return results
    secrets = _Secrets(username, password, oauth_token)
    scratch = PortProbe(host=host, port=port, role=_ROLE[security])
    rec = _SendRecorder(scratch, secrets)
    pending = [(result, message) for result, message in zip(results, messages, strict=True)]
    pending = [(result, message) for result, message in pending if result.error is None]
    try:
        await _converse(
            ctx,
            rec,
            pending,
            envelope_from=envelope_from,
            recipients=recipients,
            host=host,
            port=port,
            security=security,
            username=username,
            password=password,
            oauth_token=oauth_token,
            cafile=cafile,
            verify=verify,
            seconds=timeout,
            helo=helo,
        )
    except _Failed as failure:
        for result, _ in pending:
            if result.error is None and not result.accepted:
                result.error = failure.reason
                result.reply = failure.reply
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # a bug must still end as a one-liner, never a traceback
        for result, _ in pending:
            if not result.accepted:
                result.error = f"internal error: {type(exc).__name__}: {exc}"
    scratch.timings_ms["total"] = rec.now_ms()
    first = pending[0][0]
    if not first.transcript:
        first.transcript = list(scratch.transcript)
    first.timings_ms = {**scratch.timings_ms, **first.timings_ms}
    first.timings_ms["total"] = scratch.timings_ms["total"]
    for result, _ in pending:
        result.address, result.port, result.tls = first.address, first.port, first.tls
        if result.error is not None:
            result.accepted = False
            result.error = secrets.scrub(result.error)
        if result.reply is not None:
            result.reply = secrets.scrub(result.reply)
    return results


def _input_problem(
    envelope_from: str,
    recipients: list[str],
    security: str,
    username: str | None,
    password: str | None,
    oauth_token: str | None,
) -> str | None:
    if security not in _ROLE:
        return f"not sent: unknown security {security!r} (starttls, tls or none)"
    if not recipients:
        return "not sent: no recipient"
    bad = [address for address in recipients if not _is_address(address)]
    if not _is_address(envelope_from, allow_empty=True):
        bad.insert(0, envelope_from)
    if bad:
        shown = ", ".join(repr(address) for address in bad[:3])
        return f"not sent: malformed address {shown} (expected local@domain, no spaces or <>)"
    if (password or oauth_token) and not username:
        return "not sent: a password or token needs a user name (--user)"
    if username and not (password or oauth_token):
        return f"not sent: no password for {username} (set {PASSWORD_ENV} or --password-env)"
    if username and security == "none":
        return (
            "not sent: credentials never go over a connection without TLS (use --starttls or --tls)"
        )
    return None


async def _converse(
    ctx: ResolverContext,
    rec: _SendRecorder,
    pending: list[tuple[SendResult, bytes]],
    *,
    envelope_from: str,
    recipients: list[str],
    host: str,
    port: int,
    security: str,
    username: str | None,
    password: str | None,
    oauth_token: str | None,
    cafile: str | None,
    verify: bool,
    seconds: float,
    helo: str,
) -> None:
    cafiles = tuple(
        str(path) for path in (ctx.services.cafile, cafile) if path is not None and str(path)
    )
    try:
        context = tls_context(verify=verify, cafiles=cafiles)
    except (OSError, ssl.SSLError) as exc:
        raise _Failed(f"not sent: cannot load the CA file ({exc})") from None
    first = pending[0][0]
    sock, target = await _open(ctx, rec, first, host, port, security, seconds)
    implicit = security == "tls"
    smtp = aiosmtplib.SMTP(
        hostname=host,
        sock=sock,
        timeout=seconds,
        use_tls=implicit,
        start_tls=False,
        tls_context=context,
        local_hostname=helo,
    )
    try:
        extensions = await _login(
            smtp, rec, first, target, security, username, password, oauth_token, seconds
        )
        for index, (result, message) in enumerate(pending):
            mark = len(rec.probe.transcript)
            try:
                await _transaction(
                    smtp, rec, result, message, host, extensions, envelope_from, recipients, seconds
                )
            except _Failed as failure:
                result.accepted = False
                result.error, result.reply = failure.reason, failure.reply
                if failure.connection_lost:
                    for later, _ in pending[index + 1 :]:
                        later.error = f"not sent: {failure.reason.removeprefix('not sent: ')}"
                    return
                await _quiet_reset(smtp, rec, seconds)
            finally:
                if index > 0:
                    result.transcript = list(rec.probe.transcript[mark:])
                    result.timings_ms = {
                        step: rec.probe.timings_ms[step]
                        for step in ("mail", "rcpt", "data")
                        if step in rec.probe.timings_ms
                    }
                elif len(pending) > 1:
                    result.transcript = list(rec.probe.transcript)
                    result.timings_ms = dict(rec.probe.timings_ms)
        rec.begin()
        await _quiet_quit(smtp, rec, seconds)
        rec.done("quit")
    finally:
        smtp.close()  # the transport owns the socket now (see the probe's note)


async def _open(
    ctx: ResolverContext,
    rec: _SendRecorder,
    result: SendResult,
    host: str,
    port: int,
    security: str,
    seconds: float,
) -> tuple[socket.socket, Target]:
    """Resolve `host` and connect to its first address that answers."""
    actual = ctx.services.port_for(host, port)
    result.port = actual
    rec.begin()
    addresses, error, _ = await _addresses(ctx, host)
    rec.done("resolve")
    if not addresses:
        raise _Failed(f"not sent: cannot resolve {host}: {error}")
    problems: list[str] = []
    for address in addresses[:4]:
        target = Target(host, address, family_of(address), actual, port, _ROLE[security])
        sock = await _connect(target, seconds, rec)
        if sock is not None:
            result.address = address
            return sock, target
        state = rec.probe.state
        problems.append(
            f"{address}: "
            + (
                "connection refused"
                if state is PortState.REFUSED
                else f"no answer within {seconds:g} s"
                if state is PortState.FILTERED
                else rec.probe.error or "cannot connect"
            )
        )
    where = f"port {port}" + (f" (lab port {actual})" if actual != port else "")
    raise _Failed(f"not sent: cannot connect to {host} {where}: {'; '.join(problems)}")


async def _exchange(
    call: Awaitable[SMTPResponse],
    rec: _SendRecorder,
    step: str,
    seconds: float,
    *,
    refused: Callable[[SMTPResponse], str],
    failed: Callable[[BaseException], str],
    note: bool = False,
) -> SMTPResponse:
    """Run one command: time it, record its reply, turn any failure into `_Failed`.

    `refused` words a server's refusal (the session stays usable); `failed` words a
    timeout, TLS or socket error (the connection is lost). `note` also writes that
    reason into the transcript, where it explains a handshake that never completed.
    """
    rec.begin()
    try:
        response = await _step(call, seconds)
    except aiosmtplib.SMTPResponseException as exc:
        rec.done(step)
        response = SMTPResponse(exc.code, exc.message)
        rec.reply(response)
        raise _Failed(refused(response), _reply_text(response)) from None
    except (aiosmtplib.SMTPException, TimeoutError, OSError, ssl.SSLError) as exc:
        rec.done(step)
        reason = failed(exc)
        if note:
            rec.line("*", reason)
        raise _Failed(reason, connection_lost=True) from None
    rec.done(step)
    rec.reply(response)
    return response


async def _login(
    smtp: aiosmtplib.SMTP,
    rec: _SendRecorder,
    result: SendResult,
    target: Target,
    security: str,
    username: str | None,
    password: str | None,
    oauth_token: str | None,
    seconds: float,
) -> dict[str, str]:
    """Greeting, EHLO, STARTTLS and AUTH: the session every transaction then shares."""
    host = target.host
    implicit = security == "tls"
    if implicit:
        rec.line("*", "TLS handshake (implicit TLS), then greeting")
    await _exchange(
        smtp.connect(),
        rec,
        "greeting",
        seconds,
        refused=lambda reply: f"not sent: {host} refused service at the greeting ({reply.code})",
        failed=lambda exc: (
            _tls_failure(exc, host)
            if implicit
            else f"not sent: no greeting from {host} ({_describe_error(exc)})"
        ),
        note=True,
    )
    if implicit:
        _note_tls(smtp, rec, result)

    extensions = await _ehlo(smtp, rec, "ehlo", seconds)
    if extensions is None:
        raise _Failed(f"not sent: EHLO failed ({rec.probe.error or 'refused'})")
    if security == "starttls":
        if "STARTTLS" not in extensions:
            raise _Failed(
                f"not sent: {host} offers no STARTTLS, and this send requires TLS (the "
                "message and any password would cross the network in clear text)"
            )
        rec.line("C", "STARTTLS")
        await _exchange(
            smtp.starttls(server_hostname=host),
            rec,
            "starttls",
            seconds,
            refused=lambda reply: f"not sent: {host} refused STARTTLS ({reply.code})",
            failed=lambda exc: _tls_failure(exc, host),
            note=True,
        )
        _note_tls(smtp, rec, result)
        extensions = await _ehlo(smtp, rec, "ehlo_tls", seconds)
        if extensions is None:
            raise _Failed(f"not sent: EHLO after STARTTLS failed ({rec.probe.error or 'refused'})")

    if username:
        await _auth(smtp, rec, extensions, username, password, oauth_token, seconds)
    return extensions


async def _transaction(
    smtp: aiosmtplib.SMTP,
    rec: _SendRecorder,
    result: SendResult,
    message: bytes,
    host: str,
    extensions: dict[str, str],
    envelope_from: str,
    recipients: list[str],
    seconds: float,
) -> None:
    """MAIL, RCPT and DATA for one message on an established session."""
    size_limit = _size_limit(extensions)
    if size_limit and len(message) > size_limit:
        raise _Failed(
            f"not sent: the message is {len(message):,} bytes, over {host}'s limit of "
            f"{size_limit:,} bytes (EHLO SIZE); make it smaller (attachments as links)"
        )
    options: list[str] = []
    if "SIZE" in extensions:
        options.append(f"SIZE={len(message)}")
    if "8BITMIME" in extensions and any(byte > 127 for byte in message):
        options.append("BODY=8BITMIME")
    utf8 = not all(address.isascii() for address in [envelope_from, *recipients])
    if utf8:
        if "SMTPUTF8" not in extensions:
            raise _Failed(f"not sent: an address is not ASCII and {host} does not offer SMTPUTF8")
        options.append("SMTPUTF8")
    encoding = "utf-8" if utf8 else "ascii"

    rec.line("C", f"MAIL FROM:<{envelope_from}>" + "".join(f" {option}" for option in options))
    await _exchange(
        smtp.mail(envelope_from, options=options, encoding=encoding),
        rec,
        "mail",
        seconds,
        refused=lambda reply: (
            f"not sent: the server refused the sender <{envelope_from}> ({reply.code})"
        ),
        failed=lambda exc: f"not sent: MAIL FROM failed ({_describe_error(exc)})",
    )

    refused: list[tuple[str, str]] = []
    rec.begin()
    for recipient in recipients:
        rec.line("C", f"RCPT TO:<{recipient}>")
        try:
            response = await _step(smtp.rcpt(recipient, encoding=encoding), seconds)
        except aiosmtplib.SMTPResponseException as exc:
            response = SMTPResponse(exc.code, exc.message)
            rec.reply(response)
            result.recipients[recipient] = _reply_text(response)
            refused.append((recipient, _reply_text(response)))
            continue
        except (aiosmtplib.SMTPException, TimeoutError, OSError) as exc:
            rec.done("rcpt")
            raise _Failed(
                f"not sent: RCPT TO failed ({_describe_error(exc)})", connection_lost=True
            ) from None
        rec.reply(response)
        result.recipients[recipient] = _reply_text(response)
    rec.done("rcpt")
    if len(refused) == len(recipients):
        first, reply = refused[0]
        raise _Failed(
            f"not sent: the server refused the recipient <{first}>"
            + (f" and {len(refused) - 1} more" if len(refused) > 1 else "")
            + f" ({reply}); the reply is the same a bounce would carry (see mailscope bounce)",
            reply,
        )

    rec.line("C", "DATA")
    rec.line("C", f"[message: {len(message):,} bytes]")
    data_seconds = seconds + len(message) / DATA_BYTES_PER_SECOND
    response = await _exchange(
        smtp.data(message, timeout=data_seconds),
        rec,
        "data",
        data_seconds,
        refused=lambda reply: f"not sent: the server refused the message at DATA ({reply.code})",
        failed=lambda exc: (
            f"probably not sent: the connection failed during DATA ({_describe_error(exc)}) "
            "before the server confirmed the message; check the mailbox before resending"
        ),
        note=True,
    )
    result.reply = _reply_text(response)
    result.queue_id = parse_queue_id(result.reply)
    if refused:
        result.accepted = False
        result.error = (
            f"sent to {len(recipients) - len(refused)} of {len(recipients)} recipients; "
            + "; ".join(f"<{address}> refused: {reply}" for address, reply in refused)
        )
    else:
        result.accepted = True


async def _auth(
    smtp: aiosmtplib.SMTP,
    rec: _SendRecorder,
    extensions: dict[str, str],
    username: str,
    password: str | None,
    oauth_token: str | None,
    seconds: float,
) -> None:
    offered = auth_mechanisms(extensions)
    if not offered:
        raise _Failed("not sent: the server offers no AUTH here, so the user cannot log in")
    if oauth_token:
        if "XOAUTH2" not in offered:
            raise _Failed(f"not sent: the server offers no XOAUTH2 (only {', '.join(offered)})")
        mechanism = "XOAUTH2"
        call = smtp.auth_xoauth2(username, oauth_token)
    else:
        assert password is not None
        mechanism = next((m for m in ("PLAIN", "LOGIN") if m in offered), "")
        if not mechanism:
            raise _Failed(
                f"not sent: the server offers neither PLAIN nor LOGIN (only {', '.join(offered)})"
            )
        method = smtp.auth_plain if mechanism == "PLAIN" else smtp.auth_login
        call = method(username, password)
    # The arguments are credentials (base64 is an encoding, not a protection).
    rec.line("C", f"AUTH {mechanism} [credentials redacted]")
    await _exchange(
        call,
        rec,
        "auth",
        seconds,
        refused=lambda reply: (
            f"not sent: login as {username} with {mechanism} failed ({reply.code}); "
            + (
                "the token was refused for this account: the user must be the token's own "
                "(Gmail), or a mailbox the app was given with SMTP AUTH enabled (Microsoft "
                "365)"
                if mechanism == "XOAUTH2"
                else "check the user name and password (or app password)"
            )
        ),
        failed=lambda exc: f"not sent: AUTH interrupted ({_describe_error(exc)})",
    )


def _size_limit(extensions: dict[str, str]) -> int | None:
    value = extensions.get("SIZE", "").split()
    if value and value[0].isdigit() and int(value[0]) > 0:
        return int(value[0])
    return None


def _note_tls(smtp: aiosmtplib.SMTP, rec: _SendRecorder, result: SendResult) -> None:
    with contextlib.suppress(aiosmtplib.SMTPException):
        ssl_object = smtp.get_transport_info("ssl_object")
        if ssl_object is None:
            return
        cipher = ssl_object.cipher()
        result.tls = {
            "version": ssl_object.version(),
            "cipher": cipher[0] if cipher else None,
            "verified": ssl_object.context.verify_mode == ssl.CERT_REQUIRED,
        }
        note = "" if result.tls["verified"] else " (certificate NOT verified, as allowed)"
        rec.line("*", f"TLS established: {result.tls['version']}, {result.tls['cipher']}{note}")


async def _quiet_reset(smtp: aiosmtplib.SMTP, rec: _SendRecorder, limit: float) -> None:
    """RSET after a refused transaction, so the next one starts clean."""
    seconds = min(limit, 2.0)
    with contextlib.suppress(aiosmtplib.SMTPException, TimeoutError, OSError):
        rec.line("C", "RSET")
        rec.reply(await _step(smtp.rset(timeout=seconds), seconds))


async def _quiet_quit(smtp: aiosmtplib.SMTP, rec: _SendRecorder, limit: float) -> None:
    seconds = min(limit, 2.0)
    with contextlib.suppress(aiosmtplib.SMTPException, TimeoutError, OSError):
        rec.line("C", "QUIT")
        rec.reply(await _step(smtp.quit(timeout=seconds), seconds))
