"""The lab's receiving mailbox: the good MX judges what it accepts, stamps it, files it.

When the good MX-role server (mx1.good.test) accepts a message it does what a real
receiver does before filing it: SPF for the connecting IP and MAIL FROM (the console's
own `check_host`), DKIM for the first signature (`dkim_sign.verify`, key fetched from the
lab DNS) and DMARC for the From domain (policy discovery and alignment from
`console.auth.dmarc`). It prepends a Received header (time, TLS of the hop) and an
Authentication-Results header (RFC 8601), then files one copy per recipient in INBOX,
or in Spam when DMARC fails under p=quarantine or p=reject. A real receiver would
reject p=reject failures at DATA; the lab keeps them in Spam so readback can show why.

On disk. With `maildir_root` set, every filed copy is also written to a Maildir
(`<root>/<recipient>/Maildir/`, Spam as the Maildir++ folder `.Spam/`), tmp/ then a
rename into new/, so a reader never sees half a message. That is what the lab's IMAP
server (console/lab/imap.py, Dovecot) serves: IMAP readback reads the very copy filed here.

The sending IP. Every lab client connects from 127.x, which no demo domain authorises.
A message sent straight to the MX is judged by its real peer address (so a direct send
gets spf=fail, as it would from an unlisted host). A message that arrived over an
authenticated session (the submission role relaying to the MX) is judged as coming from
`relay_ip`, 192.0.2.10 by default: the lab's outbound relay address, which good.test's
SPF record lists (`ip4:192.0.2.10`), with HELO smtp.good.test. That one mapping is the
whole pretence; the stored copy then carries two Received hops (submission, then MX).
"""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import email.utils
import hashlib
import itertools
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from console.auth.dmarc import discover_policy, is_aligned
from console.auth.resolver import ResolverContext
from console.auth.spf_eval import SpfResult, check_host, identity
from console.send.compose import TEST_ID_HEADER, address_domain
from console.send.dkim_sign import signature_tags, verify

log = logging.getLogger(__name__)

INBOX = "INBOX"
SPAM = "Spam"

AUTHSERV_ID = "mx1.good.test"
"""The authserv-id of the lab's Authentication-Results headers."""

RELAY_IP = "192.0.2.10"
"""The lab's outbound relay address: authenticated (submitted) mail is judged as from it."""

RELAY_HOST = "smtp.good.test"
"""The lab's submission host, named as the relay in the MX's Received header."""

EVALUATION_TIMEOUT = 10.0
"""Seconds the whole SPF/DKIM/DMARC evaluation may take before it counts as temperror."""

_TOKEN = re.compile(r"[!#-'*-:<-\[\]-~]{1,255}")
"""Printable ASCII without space, `;`, `(`, `)`, `"`, `\\`: safe as a header property value."""

MAILDIR_FOLDERS: dict[str, str] = {INBOX: "", SPAM: ".Spam"}
"""Folder -> its directory under `Maildir/` (Maildir++: INBOX is the top, others `.Name`)."""

_SAFE_USER = re.compile(r"[a-z0-9][a-z0-9._+-]{0,63}@[a-z0-9][a-z0-9.-]{0,252}")
_maildir_counter = itertools.count(1)

_RELAY_TLS: dict[str, Any] = {"cipher": ("TLS_AES_256_GCM_SHA384", "TLSv1.3", 256)}
"""What the relay-to-MX hop states: the lab's stand-in outbound relay speaks TLS 1.3."""

ResolverFactory = Callable[[], ResolverContext]
Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _token(value: str | None) -> str | None:
    """`value` if it can sit in a header as is, else None (remote text never splits headers)."""
    if value and _TOKEN.fullmatch(value):
        return value
    return None


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The receiver's verdicts on one message.

    Attributes:
        spf: pass/fail/softfail/neutral/none/permerror/temperror.
        spf_domain: the MAIL FROM domain (or HELO for the null sender) checked.
        mailfrom: the MAIL FROM address checked (postmaster@HELO for the null sender).
        sending_ip: the address SPF was evaluated for.
        dkim: pass/fail/none (none: no signature).
        dkim_domain, dkim_selector: d= and s= of the first signature.
        dmarc: pass/fail/none/temperror/permerror.
        from_domain: the From header's domain.
        policy: the DMARC policy applied (none/quarantine/reject) or None.
        folder: INBOX or Spam.
    """

    spf: str
    spf_domain: str
    mailfrom: str
    sending_ip: str
    dkim: str
    dkim_domain: str | None
    dkim_selector: str | None
    dmarc: str
    from_domain: str | None
    policy: str | None
    folder: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "spf": self.spf,
            "spf_domain": self.spf_domain,
            "mailfrom": self.mailfrom,
            "sending_ip": self.sending_ip,
            "dkim": self.dkim,
            "dkim_domain": self.dkim_domain,
            "dkim_selector": self.dkim_selector,
            "dmarc": self.dmarc,
            "from_domain": self.from_domain,
            "policy": self.policy,
            "folder": self.folder,
        }

    def header_value(self, authserv_id: str = AUTHSERV_ID) -> str:
        """The Authentication-Results value (RFC 8601), folded one method per line."""
        spf = f"spf={self.spf}"
        if mailfrom := _token(self.mailfrom):
            spf += f" smtp.mailfrom={mailfrom}"
        dkim = f"dkim={self.dkim}"
        if self.dkim != "none":
            if domain := _token(self.dkim_domain):
                dkim += f" header.d={domain}"
            if selector := _token(self.dkim_selector):
                dkim += f" header.s={selector}"
        dmarc = f"dmarc={self.dmarc}"
        if self.policy:
            dmarc += f" (p={self.policy})"
        if from_domain := _token(self.from_domain):
            dmarc += f" header.from={from_domain}"
        return ";\r\n\t".join([authserv_id, spf, dkim, dmarc])


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """One recipient's copy, as filed.

    Attributes:
        recipient: the RCPT TO address (lower case).
        folder: INBOX or Spam.
        data: the message with the lab's Received and Authentication-Results prepended.
        test_id: the X-Mailscope-Test value, or None.
        received_at: when the MX accepted it.
        evaluation: the verdicts that chose the folder.
    """

    recipient: str
    folder: str
    data: bytes
    test_id: str | None
    received_at: datetime
    evaluation: Evaluation


@dataclass(slots=True)
class LabMailbox:
    """The good MX's mailboxes: recipient -> stored copies (any folder), in arrival order.

    Args:
        resolver_factory: makes a fresh ResolverContext on the lab DNS (one per message,
            so no answer is cached across messages); `Lab.resolver` fits.
        authserv_id: the name in Authentication-Results.
        relay_ip: the sending IP assumed for mail that came over an authenticated session.
        relay_host: the relay's name for that mail (its HELO and Received `from`).
        clock: the time for Received headers (injectable for tests).
        maildir_root: when set, each filed copy is also written to a Maildir under it
            (`maildir_path`); the in-memory copies are kept either way.
    """

    resolver_factory: ResolverFactory
    authserv_id: str = AUTHSERV_ID
    relay_ip: str = RELAY_IP
    relay_host: str = RELAY_HOST
    clock: Clock = _utc_now
    maildir_root: Path | None = None
    _boxes: dict[str, list[StoredMessage]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- reading (any thread) ----------------------------------------------------------

    def messages(self, recipient: str, folder: str | None = None) -> list[StoredMessage]:
        """The copies filed for `recipient`, oldest first; only `folder` when given."""
        with self._lock:
            stored = list(self._boxes.get(recipient.strip().lower(), ()))
        return [m for m in stored if folder is None or m.folder == folder]

    def find(self, recipient: str, test_id: str) -> StoredMessage | None:
        """The newest copy for `recipient` whose X-Mailscope-Test is `test_id`."""
        for message in reversed(self.messages(recipient)):
            if message.test_id == test_id:
                return message
        return None

    # -- receiving (the lab's loop) ----------------------------------------------------

    async def evaluate(
        self, data: bytes, *, peer_ip: str, mail_from: str, helo: str, submitted: bool
    ) -> Evaluation:
        """SPF, DKIM and DMARC for one message, as the MX sees it. Never raises."""
        sending_ip = self.relay_ip if submitted else peer_ip
        sender, spf_domain = identity(mail_from, helo or "unknown")
        tags = signature_tags(data)
        from_domain = _from_domain(data)
        ctx = self.resolver_factory()
        try:
            async with asyncio.timeout(EVALUATION_TIMEOUT):
                return await self._evaluate(
                    ctx, data, sending_ip, sender, spf_domain, helo, tags, from_domain
                )
        except Exception as exc:  # a receiver never loses mail to its own checks
            log.debug("lab mailbox evaluation failed: %r", exc)
            return Evaluation(
                "temperror",
                spf_domain,
                sender,
                sending_ip,
                "temperror" if tags else "none",
                tags.get("d"),
                tags.get("s"),
                "temperror",
                from_domain,
                None,
                INBOX,
            )
        finally:
            ctx.close()

    async def _evaluate(
        self,
        ctx: ResolverContext,
        data: bytes,
        sending_ip: str,
        sender: str,
        spf_domain: str,
        helo: str,
        tags: dict[str, str],
        from_domain: str | None,
    ) -> Evaluation:
        async def spf() -> str:
            try:
                verdict = await check_host(ctx, sending_ip, spf_domain, sender, helo)
            except ValueError:  # the peer is not an IP address (a Unix socket, say)
                return SpfResult.NONE.value
            return verdict.result.value

        async def dkim() -> str:
            if not tags:
                return "none"
            # dkimpy hashes the whole body synchronously: in a thread with its own loop and
            # resolver, so a 10 MB message does not stall the lab's servers meanwhile.
            return "pass" if await asyncio.to_thread(self._verify_in_thread, data) else "fail"

        spf_result, dkim_result = await ctx.gather(spf(), dkim())
        dkim_domain, selector = tags.get("d"), tags.get("s")
        dmarc, policy = "none", None
        if from_domain is None:
            dmarc = "permerror"  # no single From domain: DMARC cannot be evaluated
        else:
            discovery = await discover_policy(ctx, from_domain)
            if discovery.error is not None and discovery.parsed is None:
                dmarc = "temperror"
            elif discovery.parsed is not None and (policy := discovery.applied_policy()):
                parsed = discovery.parsed
                checks = []
                if dkim_result == "pass" and dkim_domain:
                    checks.append(is_aligned(ctx, from_domain, dkim_domain, parsed.adkim))
                if spf_result == "pass":
                    checks.append(is_aligned(ctx, from_domain, spf_domain, parsed.aspf))
                results = await ctx.gather(*checks) if checks else []
                if any(r is True for r in results):
                    dmarc = "pass"
                elif any(r is None for r in results):  # an Organizational Domain unknown
                    dmarc = "temperror"
                else:
                    dmarc = "fail"
        folder = SPAM if dmarc == "fail" and policy in ("quarantine", "reject") else INBOX
        return Evaluation(
            spf_result,
            spf_domain,
            sender,
            sending_ip,
            dkim_result,
            dkim_domain,
            selector,
            dmarc,
            from_domain,
            policy,
            folder,
        )

    def _verify_in_thread(self, data: bytes) -> bool:
        async def run() -> bool:
            ctx = self.resolver_factory()
            try:
                return await verify(data, ctx)
            finally:
                ctx.close()

        return asyncio.run(run())

    async def deliver(
        self,
        data: bytes,
        *,
        peer: Any,
        mail_from: str,
        rcpt_tos: list[str],
        helo: str | None,
        by_host: str,
        tls: dict[str, Any] | None,
        submitted: bool,
        queue_id: str,
    ) -> list[StoredMessage]:
        """Judge, stamp and file one accepted message; one copy per recipient. Never raises.

        Args:
            data: the message as received (after dot-unstuffing).
            peer: aiosmtpd's `session.peer`: (host, port) or a string.
            mail_from: the MAIL FROM address ("" for the null sender).
            rcpt_tos: the accepted recipients.
            helo: the client's HELO/EHLO name.
            by_host: the name this server greeted with (the Received `by`).
            tls: aiosmtpd's `session.ssl` (the TLS transport's extra info), None in clear.
            submitted: the session authenticated (mail relayed from the submission role).
            queue_id: the id the 250 reply gives.
        """
        peer_ip = str(peer[0]) if isinstance(peer, tuple) and peer else str(peer)
        helo_name = helo or "unknown"
        evaluation = await self.evaluate(
            data,
            peer_ip=peer_ip,
            mail_from=mail_from,
            # Relayed mail reaches the MX from the relay, which greets with its own name.
            helo=self.relay_host if submitted else helo_name,
            submitted=submitted,
        )
        now = self.clock()
        stamped: list[StoredMessage] = []
        test_id = _header(data, TEST_ID_HEADER)
        results = evaluation.header_value(self.authserv_id)
        for rcpt in rcpt_tos:
            recipient = rcpt.strip().strip("<>").lower()
            # Newest first, as each server prepends its own: the MX hop, then (for relayed
            # mail) the submission hop. The relay's hand-over to the MX happens in process;
            # it stands for an outbound relay, which uses STARTTLS as every large provider
            # does, so that hop states TLS 1.3 (a clear hop would be a lab artefact that the
            # side-by-side comparison would hold against the SMTP path).
            hops = [
                _received(helo_name, peer_ip, by_host, tls, submitted, queue_id, recipient, now)
            ]
            if submitted:
                hops.insert(
                    0,
                    _received(
                        self.relay_host,
                        evaluation.sending_ip,
                        self.authserv_id,
                        _RELAY_TLS,
                        False,
                        f"{queue_id}R",
                        recipient,
                        now,
                    ),
                )
            received = "".join(f"Received: {hop}\r\n" for hop in hops)
            # Final delivery records the envelope sender on top (RFC 5321 4.4).
            return_path = f"<{mail_from}>" if _token(mail_from) else "<>"
            head = f"Return-Path: {return_path}\r\nAuthentication-Results: {results}\r\n{received}"
            message = StoredMessage(
                recipient, evaluation.folder, head.encode() + data, test_id, now, evaluation
            )
            stamped.append(message)
        with self._lock:
            for message in stamped:
                self._boxes.setdefault(message.recipient, []).append(message)
        root = self.maildir_root
        if root is not None:
            # Off the lab's loop: a 30 MB message must not stall the other servers. Awaited,
            # so the copy is on disk before the 250 reply, as it is in memory.
            await asyncio.to_thread(_write_all, Path(root), stamped)
        return stamped

    # -- on disk -----------------------------------------------------------------------

    def maildir_path(self, recipient: str, folder: str = INBOX) -> Path | None:
        """Where `recipient`'s `folder` lives on disk, or None without a maildir root."""
        if self.maildir_root is None:
            return None
        return maildir_path(Path(self.maildir_root), recipient, folder)

    def ensure_maildir(self, recipient: str) -> Path | None:
        """Create `recipient`'s Maildir (every folder) before any mail; its path, or None.

        An IMAP server can then open the mailbox, empty, before the first delivery.
        """
        if self.maildir_root is None:
            return None
        return create_maildir(Path(self.maildir_root), recipient)


def create_maildir(root: Path, recipient: str) -> Path:
    """Create `recipient`'s Maildir under `root` with every folder; its path.

    As root, what is created is owned by `root`'s owner (see `_owner`).
    """
    for folder in MAILDIR_FOLDERS:
        _make_folder(root, maildir_path(root, recipient, folder))
    return maildir_path(root, recipient)


def maildir_user(recipient: str) -> str:
    """The directory name of `recipient`'s mailbox under a maildir root.

    The address itself (lower case) when it is a plain local@domain, which is also the
    IMAP login name, so a server can find it as `<root>/%u`; anything else (`..`, `/`,
    odd bytes) gets a hashed name and can never escape the root.
    """
    address = recipient.strip().strip("<>").lower()
    if _SAFE_USER.fullmatch(address) and ".." not in address:
        return address
    return "_" + hashlib.sha256(address.encode("utf-8", "surrogateescape")).hexdigest()[:32]


def maildir_path(root: Path, recipient: str, folder: str = INBOX) -> Path:
    """`<root>/<maildir_user>/Maildir/` for INBOX, `.../Maildir/.Spam/` for Spam."""
    base = root / maildir_user(recipient) / "Maildir"
    sub = MAILDIR_FOLDERS.get(folder)
    if sub is None:
        raise ValueError(f"unknown folder {folder!r} ({', '.join(MAILDIR_FOLDERS)})")
    return base / sub if sub else base


def _owner(root: Path) -> tuple[int, int] | None:
    """(uid, gid) new files take when we run as root: the root directory's owner.

    As root the lab acts as a delivery agent running as the mailbox's owner, so the IMAP
    server (which never reads mail as root) can read and index what was filed.
    """
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None
    stat = root.stat()
    if stat.st_uid == 0:
        return None
    return stat.st_uid, stat.st_gid


def _make_folder(root: Path, folder: Path) -> None:
    owner = _owner(root)
    # Parents first, each owned like the root: user dir, Maildir, then the folder.
    relative = folder.relative_to(root)
    current = root
    for part in relative.parts:
        current = current / part
        _mkdir(current, owner)
    for sub in ("tmp", "new", "cur"):
        _mkdir(folder / sub, owner)


def _mkdir(path: Path, owner: tuple[int, int] | None) -> None:
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        return
    if owner is not None:
        os.chown(path, *owner)


def _write_all(root: Path, messages: list[StoredMessage]) -> None:
    for message in messages:
        try:
            write_maildir_message(root, message)
        except (OSError, ValueError) as exc:  # the in-memory copy is still filed
            log.warning("lab mailbox: cannot write to the maildir: %s", exc)


def write_maildir_message(root: Path, message: StoredMessage) -> Path:
    """Write one filed copy into its Maildir folder: tmp/ first, then renamed into new/.

    Returns:
        The path in new/.
    """
    folder = maildir_path(root, message.recipient, message.folder)
    _make_folder(root, folder)
    now = time.time()
    seconds = int(now)
    unique = (
        f"{seconds}.M{int((now - seconds) * 1_000_000)}P{os.getpid()}"
        f"Q{next(_maildir_counter)}.mailscope-lab,S={len(message.data)}"
    )
    temporary = folder / "tmp" / unique
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(message.data)
        if (owner := _owner(root)) is not None:
            os.chown(temporary, *owner)
        final = folder / "new" / unique
        os.rename(temporary, final)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return final


def _parse_headers(data: bytes) -> Any:
    return email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(data)


def _header(data: bytes, name: str) -> str | None:
    try:
        value = _parse_headers(data).get(name)
    except Exception:  # hostile headers: no id rather than no delivery
        return None
    return "".join(str(value).split()) if value is not None else None


def _from_domain(data: bytes) -> str | None:
    """The single From header's domain (RFC 7489 6.6.1: several Froms cannot be judged)."""
    try:
        values = _parse_headers(data).get_all("From") or []
    except Exception:
        return None
    if len(values) != 1:
        return None
    addresses = email.utils.getaddresses([str(values[0])])
    if len(addresses) != 1:
        return None
    return address_domain(addresses[0][1])


def _received(
    helo: str,
    ip: str,
    by_host: str,
    tls: dict[str, Any] | None,
    submitted: bool,
    queue_id: str,
    recipient: str,
    when: datetime,
) -> str:
    """A Received value (RFC 5321 4.4) with the RFC 3848 protocol and the TLS in use."""
    with_ = "ESMTP" + ("S" if tls else "") + ("A" if submitted else "")
    detail = ""
    if tls:
        cipher = tls.get("cipher")
        ssl_object = tls.get("ssl_object")
        version = ssl_object.version() if ssl_object is not None else None
        if isinstance(cipher, tuple) and cipher:
            version = version or (cipher[1] if len(cipher) > 1 else None)
            bits = f" bits={cipher[2]}" if len(cipher) > 2 else ""
            detail = f" (version={_tls_name(version)} cipher={cipher[0]}{bits})"
    rcpt = f"\r\n\tfor <{recipient}>" if _token(recipient) else ""
    return (
        f"from {_token(helo) or 'unknown'} ([{ip}])\r\n\tby {by_host} (mailscope lab) "
        f"with {with_}{detail}\r\n\tid {queue_id}{rcpt};\r\n\t"
        f"{email.utils.format_datetime(when)}"
    )


def _tls_name(version: str | None) -> str:
    """`TLSv1.3` as `TLS1_3`, the form sendmail and Postfix write in Received headers."""
    return (version or "TLS").replace("v", "").replace(".", "_")
