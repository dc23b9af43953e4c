"""The resolver context: one object carrying how to ask DNS, passed once to every check.

Checks never build resolvers or caches of their own. A context holds the nameservers,
the timeout and retries, the per-audit cache (which also merges identical queries in
flight, so the SPF tree and the MX check asking for the same name cost one packet), a
concurrency limit shared by every audit it spawns, and the service map that tells
connectors which port to use for a well-known one.
"""

from __future__ import annotations

import asyncio
import contextvars
import enum
import ipaddress
import socket
import time
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import dns.asyncresolver
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.nameserver
import dns.rcode
import dns.rdata
import dns.rdatatype
import dns.resolver
import dns.rrset

from console.services import ServiceMap

T = TypeVar("T")

DEFAULT_TIMEOUT = 5.0
DEFAULT_RETRIES = 1
DEFAULT_CONCURRENCY = 64


class Outcome(enum.StrEnum):
    """How a DNS question ended. NXDOMAIN and NODATA are answers; ERROR is not."""

    ANSWER = "answer"
    NXDOMAIN = "nxdomain"
    NODATA = "nodata"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Nameserver:
    """A server to ask, parsed from `HOST[:PORT]` (`[v6]:PORT` for IPv6 with a port)."""

    address: str
    port: int = 53

    @classmethod
    def parse(cls, text: str) -> Nameserver:
        """Parse `HOST[:PORT]`; a host name is resolved once, here, by the system."""
        spec = text.strip()
        host, port = spec, 53
        if spec.startswith("["):
            host, sep, rest = spec[1:].partition("]")
            if not sep:
                raise ValueError(f"nameserver {text!r}: missing ']'")
            if rest:
                if not rest.startswith(":"):
                    raise ValueError(f"nameserver {text!r}: expected ':PORT' after ']'")
                port = _parse_port(text, rest[1:])
        elif spec.count(":") == 1:
            host, _, port_text = spec.partition(":")
            port = _parse_port(text, port_text)
        if not host:
            raise ValueError(f"nameserver {text!r}: empty host")
        try:
            ipaddress.ip_address(host)
        except ValueError:
            try:
                infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
            except (OSError, UnicodeError) as exc:
                raise ValueError(f"nameserver {text!r}: cannot resolve {host!r} ({exc})") from None
            host = str(infos[0][4][0])
        return cls(host, port)

    def __str__(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return host if self.port == 53 else f"{host}:{self.port}"


def _parse_port(text: str, port_text: str) -> int:
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"nameserver {text!r}: port must be 1-65535")
    return int(port_text)


@dataclass(frozen=True, slots=True)
class Lookup:
    """The answer to one question, with enough context to explain a failure.

    `records` holds dnspython rdata for the asked type after any CNAME chain;
    `cnames` is that chain; `signatures` the RRSIGs covering the answer when
    DNSSEC records were requested.
    """

    name: str
    rdtype: str
    outcome: Outcome
    records: tuple[Any, ...] = ()
    cnames: tuple[str, ...] = ()
    error: str | None = None
    server: str | None = None
    rrset: dns.rrset.RRset | None = None
    signatures: dns.rrset.RRset | None = None
    authenticated: bool = False

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.ANSWER

    @property
    def is_void(self) -> bool:
        """NXDOMAIN or NODATA: a "void lookup" in RFC 7208 terms."""
        return self.outcome in (Outcome.NXDOMAIN, Outcome.NODATA)

    @property
    def failed(self) -> bool:
        return self.outcome is Outcome.ERROR

    def txt_strings(self) -> list[tuple[bytes, ...]]:
        """Each TXT record as its character-strings, exactly as published."""
        return [tuple(record.strings) for record in self.records if hasattr(record, "strings")]

    def texts(self) -> list[str]:
        """Each TXT record's strings concatenated without separators (RFC 7208 3.3)."""
        return [b"".join(strings).decode("utf-8", "replace") for strings in self.txt_strings()]

    def addresses(self) -> list[str]:
        return [record.address for record in self.records if hasattr(record, "address")]

    def describe(self) -> str:
        """A one-line account for findings: what was asked and what came back."""
        where = f" from {self.server}" if self.server else ""
        if self.outcome is Outcome.ERROR:
            return f"{self.name}/{self.rdtype}: {self.error}"
        if self.outcome is Outcome.NXDOMAIN:
            return f"{self.name} does not exist (NXDOMAIN{where})"
        if self.outcome is Outcome.NODATA:
            return f"{self.name} has no {self.rdtype} record"
        return f"{self.name}/{self.rdtype}: {len(self.records)} record(s)"


@dataclass(slots=True)
class QueryStats:
    """What an audit cost on the wire: for `bench/` and for the console's status line."""

    queries: int = 0
    cache_hits: int = 0
    max_depth: int = 0
    """Longest chain of dependent queries seen (a query made after another one returned
    in the same task is one deeper)."""


_depth: contextvars.ContextVar[int] = contextvars.ContextVar("mailscope_dns_depth", default=0)


@dataclass(slots=True)
class _Shared:
    """State every audit from one context shares: resolvers and the concurrency limit."""

    plain: dns.asyncresolver.Resolver
    signed: dns.asyncresolver.Resolver
    limit: asyncio.Semaphore | None = None
    limit_size: int = DEFAULT_CONCURRENCY

    def semaphore(self) -> asyncio.Semaphore:
        # Created lazily: a Semaphore binds to the running loop on first use.
        if self.limit is None:
            self.limit = asyncio.Semaphore(self.limit_size)
        return self.limit


@dataclass(slots=True)
class ResolverContext:
    """How to ask DNS, for one audit (or, through `for_audit`, for many).

    Args:
        nameservers: servers to ask instead of the system resolver.
        timeout: seconds one question may take in all, retries included.
        retries: extra tries within that time after a server failed to answer.
        concurrency: questions in flight at once, across every audit of this context.
        services: where connectors reach well-known ports (the lab's map, or none).
        trust_anchors: DNSKEY RRsets the DNSSEC check validates chains against.
    """

    nameservers: tuple[Nameserver, ...] = ()
    timeout: float = DEFAULT_TIMEOUT
    retries: int = DEFAULT_RETRIES
    concurrency: int = DEFAULT_CONCURRENCY
    services: ServiceMap = field(default_factory=ServiceMap)
    trust_anchors: tuple[dns.rrset.RRset, ...] = ()
    stats: QueryStats = field(default_factory=QueryStats)
    _cache: dict[tuple[str, str, bool], asyncio.Future[Lookup]] = field(
        default_factory=dict, repr=False
    )
    _depths: dict[tuple[str, str, bool], int] = field(default_factory=dict, repr=False)
    _shared: _Shared | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.timeout <= 0:
            raise ValueError("timeout must be positive")
        if self.retries < 0:
            raise ValueError("retries must be zero or more")
        if self._shared is None:
            self._shared = _Shared(
                plain=self._make_resolver(dnssec=False),
                signed=self._make_resolver(dnssec=True),
                limit_size=max(1, self.concurrency),
            )

    @classmethod
    def from_options(
        cls,
        nameservers: Iterable[str] = (),
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        **kwargs: Any,
    ) -> ResolverContext:
        return cls(
            nameservers=tuple(Nameserver.parse(ns) for ns in nameservers),
            timeout=timeout,
            retries=retries,
            **kwargs,
        )

    def for_audit(self) -> ResolverContext:
        """A context for one more audit: same servers and limit, its own cache and stats."""
        return ResolverContext(
            nameservers=self.nameservers,
            timeout=self.timeout,
            retries=self.retries,
            concurrency=self.concurrency,
            services=self.services,
            trust_anchors=self.trust_anchors,
            _shared=self._shared,
        )

    @property
    def server_label(self) -> str:
        """The servers asked, for messages: `127.0.0.1:5353` or `system resolver`."""
        if self.nameservers:
            return ", ".join(str(ns) for ns in self.nameservers)
        assert self._shared is not None
        servers = [str(ns) for ns in self._shared.plain.nameservers]
        return ", ".join(servers) if servers else "system resolver"

    def _make_resolver(self, *, dnssec: bool) -> dns.asyncresolver.Resolver:
        if self.nameservers:
            resolver = dns.asyncresolver.Resolver(configure=False)
            resolver.nameservers = [
                dns.nameserver.Do53Nameserver(ns.address, ns.port) for ns in self.nameservers
            ]
        else:
            try:
                resolver = dns.asyncresolver.Resolver()
            except dns.resolver.NoResolverConfiguration:
                resolver = dns.asyncresolver.Resolver(configure=False)
                resolver.nameservers = ["127.0.0.1"]
        resolver.cache = None  # the context's own cache is per audit, by design
        resolver.lifetime = self.timeout
        resolver.timeout = self.timeout / (self.retries + 1)
        resolver.retry_servfail = False
        if dnssec:
            resolver.use_edns(0, dns.flags.DO, 1232)
            # CD: a validating upstream must hand over bogus data instead of SERVFAIL,
            # so the DNSSEC check can say *why* a chain is broken.
            resolver.flags = dns.flags.RD | dns.flags.CD
        else:
            resolver.use_edns(0, 0, 1232)
        return resolver

    async def gather(self, *awaitables: Awaitable[T]) -> list[T]:
        """`asyncio.gather` that keeps the dependency depth: after it, the caller is as
        deep as its deepest child, so a query that depends on their results counts one
        more. (Plain gather runs children in copied contexts and forgets their depth.)
        """

        async def tracked(awaitable: Awaitable[T]) -> tuple[T, int]:
            result = await awaitable
            return result, _depth.get()

        pairs = await asyncio.gather(*(tracked(awaitable) for awaitable in awaitables))
        _depth.set(max([_depth.get(), *(depth for _, depth in pairs)]))
        return [result for result, _ in pairs]

    async def query(self, name: str, rdtype: str, *, dnssec: bool = False) -> Lookup:
        """Ask for `name`/`rdtype`; never raises for DNS trouble, returns an ERROR Lookup.

        Identical questions within one audit share one answer and one packet.
        """
        key = (name.lower().rstrip("."), rdtype.upper(), dnssec)
        pending = self._cache.get(key)
        if pending is not None:
            self.stats.cache_hits += 1
            # Asked before (maybe by another check): this costs no round trip of its own,
            # only waiting for the one already made, so the chain is as deep as that one.
            depth = max(_depth.get(), self._depths.get(key, 0))
        else:
            depth = _depth.get() + 1
            self._depths[key] = depth
            # The question runs as a task of its own, shielded from whoever asked first:
            # one check cancelling (MTA-STS dropping its speculative fetch, say) must not
            # cancel the answer other checks are waiting for. It ends within the timeout.
            pending = asyncio.ensure_future(self._ask(key[0], key[1], dnssec=dnssec))
            self._cache[key] = pending
        result = await asyncio.shield(pending)
        _depth.set(depth)
        self.stats.max_depth = max(self.stats.max_depth, depth)
        return result

    async def _ask(self, name: str, rdtype: str, *, dnssec: bool) -> Lookup:
        assert self._shared is not None
        resolver = self._shared.signed if dnssec else self._shared.plain
        try:
            qname = dns.name.from_text(name or ".")
            dns.rdatatype.from_text(rdtype)
        except (dns.exception.DNSException, ValueError) as exc:
            return Lookup(name, rdtype, Outcome.ERROR, error=f"invalid name: {exc}")
        async with self._shared.semaphore():
            self.stats.queries += 1
            started = time.monotonic()
            try:
                answer = await resolver.resolve(
                    qname, rdtype, search=False, raise_on_no_answer=False
                )
            except dns.resolver.NXDOMAIN as exc:
                return Lookup(name, rdtype, Outcome.NXDOMAIN, server=_nx_server(exc))
            except dns.resolver.LifetimeTimeout:
                elapsed = time.monotonic() - started
                return Lookup(
                    name,
                    rdtype,
                    Outcome.ERROR,
                    error=f"no answer from {self.server_label} within {elapsed:.1f} s",
                    server=self.server_label,
                )
            except dns.resolver.NoNameservers as exc:
                return Lookup(
                    name,
                    rdtype,
                    Outcome.ERROR,
                    error=_failure_text(exc),
                    server=self.server_label,
                )
            except dns.resolver.YXDOMAIN:
                return Lookup(
                    name, rdtype, Outcome.ERROR, error="name too long after DNAME substitution"
                )
            except (dns.exception.DNSException, OSError, ValueError) as exc:
                return Lookup(
                    name,
                    rdtype,
                    Outcome.ERROR,
                    error=f"{type(exc).__name__}: {exc}",
                    server=self.server_label,
                )
        server = f"{answer.nameserver}:{answer.port}" if answer.nameserver else None
        chain = _cname_chain(answer.response, qname)
        authenticated = bool(answer.response.flags & dns.flags.AD)
        if answer.rrset is None:
            return Lookup(
                name,
                rdtype,
                Outcome.NODATA,
                cnames=chain,
                server=server,
                authenticated=authenticated,
            )
        signatures = None
        if dnssec:
            try:
                signatures = answer.response.find_rrset(
                    answer.response.answer,
                    answer.rrset.name,
                    answer.rrset.rdclass,
                    dns.rdatatype.RRSIG,
                    answer.rrset.rdtype,
                )
            except KeyError:
                signatures = None
        return Lookup(
            name,
            rdtype,
            Outcome.ANSWER,
            records=tuple(answer.rrset),
            cnames=chain,
            server=server,
            rrset=answer.rrset,
            signatures=signatures,
            authenticated=authenticated,
        )


def _cname_chain(response: dns.message.Message, qname: dns.name.Name) -> tuple[str, ...]:
    chain: list[str] = []
    current = qname
    for _ in range(16):
        step = next(
            (
                rrset
                for rrset in response.answer
                if rrset.name == current and rrset.rdtype == dns.rdatatype.CNAME
            ),
            None,
        )
        if step is None:
            break
        current = next(iter(step)).target
        chain.append(current.to_text(omit_final_dot=True))
    return tuple(chain)


def _nx_server(exc: dns.resolver.NXDOMAIN) -> str | None:
    responses = exc.kwargs.get("responses") or {}
    for response in responses.values():
        return getattr(response, "nameserver", None)
    return None


def _failure_text(exc: dns.resolver.NoNameservers) -> str:
    """`SERVFAIL from 127.0.0.1:5353`, naming each server that failed and how."""
    parts: list[str] = []
    for error in exc.kwargs.get("errors", []):
        server, port, problem = _server_text(str(error[0])), error[2], error[3]
        what = str(problem)
        response = error[4] if len(error) > 4 else None
        if response is not None:
            what = dns.rcode.to_text(response.rcode())
        parts.append(f"{what} from {server}:{port}")
    return "; ".join(dict.fromkeys(parts)) or "all nameservers failed"


def _server_text(server: str) -> str:
    """dnspython names servers `Do53:ADDRESS@PORT`; messages want the address alone."""
    return server.removeprefix("Do53:").split("@", 1)[0]
