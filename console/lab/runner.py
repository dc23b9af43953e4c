"""Starting and stopping the lab's servers in a thread of their own."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import Future
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Self, TypeVar

from console.auth.resolver import ResolverContext
from console.lab.ca import LabCA
from console.lab.dnsserver import Authority, LabDnsServer, Misbehaviour
from console.lab.gmail_api import GMAIL_SEED_ADDRESS, GmailEmulator
from console.lab.https_server import LabHttpsServer
from console.lab.microsoft_identity import (
    LAB_MS_CREDENTIALS,
    MS_LAB_HOST,
    MicrosoftIdentityEmulator,
)
from console.lab.postmaster_api import LAB_DOMAINS as POSTMASTER_DOMAINS
from console.lab.postmaster_api import LAB_TOKEN, SNDS_HOST, PostmasterEmulator, TokenGrant
from console.lab.smtp import PROBE_DEMO_DOMAINS, LabSmtp
from console.lab.zones import LabZones, load_lab_zones
from console.send.oauth import GMAIL_SMTP_SCOPE
from console.services import ServiceMap

if TYPE_CHECKING:
    from console.lab.imap import LabImap

T = TypeVar("T")

DEMO_DOMAINS: tuple[str, ...] = (
    "good.test",
    "spf-lookups.test",
    "spf-dup.test",
    "plusall.test",
    "rua-unauth.test",
    "dkim1024.test",
    "dkim-testing.test",
    "nomx.test",
    "nullmx.test",
    "sts-nopolicy.test",
    "noptr.test",
    "listed.test",
    "dnssec-bogus.test",
    "dnssec-expired.test",
    "fcrdns-generic.test",
    "fcrdns-mismatch.test",
)
"""One domain that does everything right, then one per mistake admins really make."""

GMAIL_USER = GMAIL_SEED_ADDRESS
"""The lab's Gmail API account (what the lab token sends and reads as): seed@good.test."""

SILENT_NAMES = ("silent.test",)
"""Never answered: exercises timeouts."""

SERVFAIL_NAMES = ("servfail.test",)
"""Always SERVFAIL: exercises "could not check" as distinct from "missing"."""


class Lab:
    """The lab's servers, running on loopback until `stop()`.

    Args:
        dns_delay: seconds the DNS server waits before every answer.
        extra_zones: (origin, zone file text) pairs served besides the shipped zones
            (the benchmarks generate a thousand domains this way).
        silent: names the DNS server never answers.
        servfail: names the DNS server answers with SERVFAIL.
        imap: also run Dovecot (where installed) over the good MX's mailboxes on
            imap.good.test, for IMAP readback; off by default, so the demo and the
            benchmarks pay for no extra process and no disk writes.
    """

    def __init__(
        self,
        *,
        dns_delay: float = 0.0,
        extra_zones: Iterable[tuple[str, str]] = (),
        silent: Iterable[str] = SILENT_NAMES,
        servfail: Iterable[str] = SERVFAIL_NAMES,
        imap: bool = False,
    ) -> None:
        self._dns_delay = dns_delay
        self._want_imap = imap
        self.imap: LabImap | None = None
        self._extra_zones = tuple(extra_zones)
        self._silent = tuple(silent)
        self._servfail = tuple(servfail)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stoppers: list[Callable[[], Awaitable[None]]] = []
        self.zones: LabZones | None = None
        self.dns: LabDnsServer | None = None
        self.ports: dict[int, int] = {}
        self.host_ports: dict[tuple[str, int], int] = {}
        self.cafile: Path | None = None
        self.ca: LabCA | None = None
        self.https: LabHttpsServer | None = None
        self.postmaster: PostmasterEmulator | None = None
        self.microsoft: MicrosoftIdentityEmulator | None = None
        self.smtp: LabSmtp | None = None
        self.gmail: GmailEmulator | None = None

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> Self:
        if self._thread is not None:
            return self
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._run_loop, args=(ready,), name="mailscope-lab", daemon=True
        )
        self._thread.start()
        ready.wait()
        self.call(self._start_servers())
        return self

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        try:
            self.call(self._stop_servers(), timeout=5)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
            self._loop = None
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _run_loop(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        loop.call_soon(ready.set)
        loop.run_forever()
        loop.close()

    def call(self, coroutine: Awaitable[T], timeout: float = 30) -> T:
        """Run `coroutine` on the lab's loop from another thread and wait for it."""
        assert self._loop is not None, "the lab is not running"
        future: Future[T] = asyncio.run_coroutine_threadsafe(coroutine, self._loop)  # type: ignore[arg-type]
        return future.result(timeout)

    async def _start_servers(self) -> None:
        # Signing generates keys and RRSIGs: done here, off the caller's thread.
        self.zones = load_lab_zones(self._extra_zones)
        authority = Authority(self.zones.zones, self.zones.signed)
        behaviour = Misbehaviour.build(self._dns_delay, self._silent, self._servfail)
        self.dns = LabDnsServer(authority, behaviour=behaviour)
        await self.dns.start()
        self._stoppers.append(self.dns.stop)
        self.ports[53] = self.dns.port  # asking the lab's nameservers "directly" lands here

        # The lab CA signs every lab certificate; clients trust it through ServiceMap.cafile.
        ca = LabCA()
        self.ca = ca
        self.cafile = ca.cafile

        async def remove_ca() -> None:
            ca.cleanup()

        self.register(remove_ca)  # stoppers run in reverse: the CA goes after its servers
        self.https = LabHttpsServer(ca)
        await self.https.start()
        self.register(self.https.stop)
        self.ports[443] = self.https.port

        # SMTP: the good servers share one port per role (25/465/587) across the
        # addresses their hosts resolve to; each misbehaving host has its own.
        self.smtp = LabSmtp(ca)
        self.register(self.smtp.stop)
        await self.smtp.start()
        self.ports.update(self.smtp.ports)
        self.host_ports.update(self.smtp.host_ports)
        # The good MX files what it accepts, judged against the lab DNS (issue 6 readback).
        self.smtp.use_resolver(self.resolver)
        if self._want_imap:
            await self._start_imap(ca)

        # -- postmaster (issue 5): the Postmaster Tools v2 emulator, plain HTTP on loopback
        # (clients take `postmaster_endpoint`), and the SNDS host over TLS on its own port.
        self.postmaster = PostmasterEmulator(ca)
        self.microsoft = MicrosoftIdentityEmulator()
        self.postmaster.attach_microsoft(self.microsoft)
        await self.postmaster.start()
        self.register(self.postmaster.stop)
        self.host_ports[(SNDS_HOST, 443)] = self.postmaster.tls_port
        self.host_ports[(MS_LAB_HOST, 443)] = self.postmaster.tls_port
        self.smtp.submission_handler.token_check = self._token_may_send
        # -- end postmaster

        # -- gmail api (issue 6): on the Postmaster listener (same root URL and tokens),
        # delivering into the good MX's mailbox as if from Google's outbound hosts.
        self.gmail = GmailEmulator(self.smtp.mx_handler.mailbox)
        self.postmaster.attach_gmail(self.gmail)
        # -- end gmail api

    async def _stop_servers(self) -> None:
        for stopper in reversed(self._stoppers):
            await stopper()
        self._stoppers.clear()

    def register(self, stopper: Callable[[], Awaitable[None]]) -> None:
        """Have `stopper` awaited on the lab's loop when the lab stops."""
        self._stoppers.append(stopper)

    def _token_may_send(self, user: str, token: str) -> bool:
        """XOAUTH2 on the lab's submission: a Microsoft token for one of the lab app's
        mailboxes, or a Google token with the https://mail.google.com/ scope whose
        account is `user` (as smtp.gmail.com checks)."""
        if self.microsoft is not None and self.microsoft.token_user(user, token):
            return True
        if self.postmaster is None:
            return False
        if token == LAB_TOKEN:  # the lab's fixed token: every scope, the seed account
            grant = TokenGrant()
        else:
            expiry = self.postmaster.tokens.get(token)
            grant = self.postmaster.grants.get(token, TokenGrant())
            if expiry is None or expiry < time.time():
                return False
        return grant.allows(GMAIL_SMTP_SCOPE) and grant.user == user.lower()

    # -- what the console needs to reach it -------------------------------------------

    @property
    def nameserver(self) -> str:
        """`127.0.0.1:PORT`: what `--nameserver` takes."""
        assert self.dns is not None, "the lab is not running"
        return self.dns.address

    @property
    def services(self) -> ServiceMap:
        return ServiceMap(
            ports=MappingProxyType(dict(self.ports)),
            host_ports=MappingProxyType(dict(self.host_ports)),
            cafile=self.cafile,
        )

    def resolver(self, **options: Any) -> ResolverContext:
        """A resolver context that asks the lab's DNS and knows the lab's services."""
        options.setdefault("timeout", 2.0)
        anchors = (self.zones.trust_anchor,) if self.zones and self.zones.trust_anchor else ()
        return ResolverContext.from_options(
            [self.nameserver], services=self.services, trust_anchors=anchors, **options
        )

    @property
    def postmaster_endpoint(self) -> str:
        """The Postmaster API emulator's root URL, for the client's endpoint override."""
        assert self.postmaster is not None, "the lab is not running"
        return self.postmaster.endpoint

    @property
    def gmail_endpoint(self) -> str:
        """The Gmail API emulator's root URL (the Postmaster emulator's listener)."""
        assert self.postmaster is not None, "the lab is not running"
        assert self.gmail is not None, "the lab is not running"
        return self.postmaster.endpoint

    async def _start_imap(self, ca: LabCA) -> None:
        """Dovecot over the good MX's Maildirs, where it is installed (else `imap` stays None)."""
        from console.lab.imap import LabImap

        imap = LabImap(ca)
        if not imap.available:
            return
        await imap.start_async()
        self.imap = imap
        self.register(imap.stop_async)
        assert self.smtp is not None
        mailbox = self.smtp.mx_handler.mailbox
        assert mailbox is not None
        mailbox.maildir_root = imap.maildir_root
        self.host_ports.update(imap.service_ports)  # imap.good.test 993/143 -> real ports

    def describe(self) -> dict[str, Any]:
        """The lab's addresses, as `mailscope lab` prints them."""
        return {
            "dns": self.nameserver,
            "ports": {str(k): v for k, v in sorted(self.ports.items())},
            "cafile": str(self.cafile) if self.cafile else None,
            "domains": list(DEMO_DOMAINS),
            "probe_domains": list(PROBE_DEMO_DOMAINS),
            # postmaster (issue 5): `mailscope postmaster --endpoint URL` reaches the emulator.
            "postmaster": {
                "endpoint": self.postmaster.endpoint if self.postmaster else None,
                "domains": list(POSTMASTER_DOMAINS),
            },
            # gmail api (issue 6): `--readback gmail` / `--via gmail-api` with the lab token.
            "gmail": {
                "endpoint": self.postmaster.endpoint if self.gmail and self.postmaster else None,
                "user": GMAIL_SEED_ADDRESS,
            },
            "imap": {"url": self.imap.url() if self.imap else None},
            # Microsoft 365 XOAUTH2: `send --xoauth2 --credentials <this file>`.
            "microsoft": {
                "token_host": MS_LAB_HOST if self.microsoft else None,
                "credentials": str(LAB_MS_CREDENTIALS),
            },
        }
