"""The resolver context: one object carrying how to ask DNS, passed once to every check.

Checks never build resolvers or caches of their own. A context holds the nameservers,
the timeout and retries, the per-audit cache (which also merges identical queries in
flight, so the SPF tree and the MX check asking for the same name cost one packet), a
concurrency limit shared by every audit it spawns, and the service map that tells
connectors which port to use for a well-known one.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import enum
import ipaddress
import socket
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass, field
from typing import Any, Self, TypeVar

import dns.asyncquery
import dns.entropy
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
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
        """Each TXT record as its character-strings, exactly as published.

        Sorted by content: an RRset has no order and servers hand it out in any, so a
        finding that names one of several records must not change from run to run.
        """
        found = [tuple(record.strings) for record in self.records if hasattr(record, "strings")]
        # Ties (the same text split differently) are broken by the strings themselves.
        return sorted(found, key=lambda strings: (b"".join(strings), strings))

    def texts(self) -> list[str]:
        """Each TXT record's strings concatenated without separators (RFC 7208 3.3), in
        the order of txt_strings(), so the two lists pair up."""
        return [b"".join(strings).decode("utf-8", "replace") for strings in self.txt_strings()]

    def mx_hosts(self) -> list[str]:
        """The MX host names, most preferred first (ties by name), without a null MX's
        root. Sorted: an RRset comes in any order, and SPF's `mx` keeps only the first
        ten, which must be the same ten on every run."""
        records = sorted(
            (r for r in self.records if hasattr(r, "exchange") and len(r.exchange.labels) > 1),
            key=lambda r: (r.preference, r.exchange.to_text().lower()),
        )
        return [r.exchange.to_text(omit_final_dot=True).lower() for r in records]

    def addresses(self) -> list[str]:
        return [record.address for record in self.records if hasattr(record, "address")]

    def describe(self) -> str:
        """A one-line account for findings: what was asked and what came back."""
        # Only failures name the server: an NXDOMAIN is the zone's answer, the same from
        # any server, and findings (and the console's snapshots) stay stable without it.
        if self.outcome is Outcome.ERROR:
            return f"{self.name}/{self.rdtype}: {self.error}"
        if self.outcome is Outcome.NXDOMAIN:
            return f"{self.name} does not exist (NXDOMAIN)"
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


class _UdpChannel(asyncio.DatagramProtocol):
    """One UDP socket for every question of a context, answers matched by id and peer.

    A socket per question (dnspython's way) costs a bind, an epoll register and an
    unregister each: measured here, that was a third of an audit's CPU, and CPU is
    what an audit's critical path and a bulk run's throughput are made of.
    """

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.waiting: dict[tuple[int, str, int], asyncio.Future[bytes]] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        if len(data) < 12:
            return  # not even a DNS header: ignore, as a stub resolver does
        key = (int.from_bytes(data[:2], "big"), str(addr[0]), int(addr[1]))
        future = self.waiting.get(key)
        if future is not None and not future.done():
            future.set_result(data)

    def error_received(self, exc: Exception) -> None:
        # ICMP unreachable and the like: the question times out and the next server
        # is tried, exactly as when a packet is lost.
        pass

    def connection_lost(self, exc: Exception | None) -> None:
        for future in self.waiting.values():
            if not future.done():
                future.set_exception(ConnectionError("resolver socket closed"))

    async def exchange(
        self, query: dns.message.Message, server: Nameserver, seconds: float
    ) -> dns.message.Message:
        """Send `query` to `server`; the matching response within `seconds`, or Timeout."""
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        key = (query.id, server.address, server.port)
        while key in self.waiting:  # ids are random; a clash with one in flight is rare
            query.id = dns.entropy.random_16()
            key = (query.id, server.address, server.port)
        future: asyncio.Future[bytes] = loop.create_future()
        self.waiting[key] = future
        try:
            self.transport.sendto(query.to_wire(), (server.address, server.port))
            async with asyncio.timeout(seconds):
                while True:
                    data = await future
                    try:
                        response = dns.message.from_wire(data)
                    except dns.exception.DNSException:
                        response = None
                    if response is not None and query.is_response(response):
                        return response
                    # A forged or garbled datagram with our id: keep waiting.
                    future = loop.create_future()
                    self.waiting[key] = future
        except TimeoutError:
            raise dns.exception.Timeout(timeout=seconds) from None
        finally:
            self.waiting.pop(key, None)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


@dataclass(slots=True)
class _Shared:
    """State every audit from one context shares: servers, sockets, concurrency limit."""

    servers: tuple[Nameserver, ...]
    limit: asyncio.Semaphore | None = None
    limit_size: int = DEFAULT_CONCURRENCY
    channels: dict[int, _UdpChannel] = field(default_factory=dict)
    loop: asyncio.AbstractEventLoop | None = None

    def _bind_to_running_loop(self) -> None:
        # The semaphore and sockets belong to one event loop; a context reused under a
        # new loop (two asyncio.run calls) starts afresh rather than hang.
        loop = asyncio.get_running_loop()
        if self.loop is not loop:
            for channel in self.channels.values():
                with contextlib.suppress(RuntimeError):  # its loop may be closed already
                    channel.close()
            self.channels = {}
            self.limit = None
            self.loop = loop

    def semaphore(self) -> asyncio.Semaphore:
        self._bind_to_running_loop()
        if self.limit is None:
            self.limit = asyncio.Semaphore(self.limit_size)
        return self.limit

    async def channel(self, server: Nameserver) -> _UdpChannel:
        self._bind_to_running_loop()
        family = socket.AF_INET6 if ":" in server.address else socket.AF_INET
        channel = self.channels.get(family)
        if channel is None or channel.transport is None or channel.transport.is_closing():
            assert self.loop is not None
            local = ("::", 0) if family == socket.AF_INET6 else ("0.0.0.0", 0)
            _, channel = await self.loop.create_datagram_endpoint(
                _UdpChannel, local_addr=local, family=family
            )
            self.channels[family] = channel
        return channel

    def close(self) -> None:
        for channel in self.channels.values():
            channel.close()
        self.channels = {}


def _system_servers() -> tuple[Nameserver, ...]:
    """The resolvers of /etc/resolv.conf (or the platform's equivalent)."""
    try:
        system = dns.resolver.Resolver()
    except dns.resolver.NoResolverConfiguration:
        return (Nameserver("127.0.0.1"),)
    servers = tuple(
        Nameserver(str(address), system.port)
        for address in system.nameservers
        if isinstance(address, str)
    )
    return servers or (Nameserver("127.0.0.1"),)


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
                servers=self.nameservers or _system_servers(),
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

    def for_audit(self) -> Self:
        """A context for one more audit: same servers and limit, its own cache and stats."""
        return dataclasses.replace(self, stats=QueryStats(), _cache={}, _depths={})

    @property
    def server_label(self) -> str:
        """The servers asked, for messages: `127.0.0.1:5353` or `system resolver`."""
        if self.nameservers:
            return ", ".join(str(ns) for ns in self.nameservers)
        assert self._shared is not None
        return ", ".join(str(ns) for ns in self._shared.servers) or "system resolver"

    async def _exchange(
        self, query: dns.message.Message, server: Nameserver, seconds: float
    ) -> dns.message.Message:
        """UDP on the shared socket; TCP when the answer comes back truncated."""
        assert self._shared is not None
        loop = asyncio.get_running_loop()
        started = loop.time()
        channel = await self._shared.channel(server)
        response = await channel.exchange(query, server, seconds)
        if response.flags & dns.flags.TC:
            remaining = max(0.1, seconds - (loop.time() - started))
            response = await _exchange_tcp(query, server, remaining)
        return response

    def close(self) -> None:
        """Close the context's sockets (they reopen if it is used again)."""
        assert self._shared is not None
        self._shared.close()

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
        """One question on the wire: each server in turn, retried within the timeout.

        dnspython's message and query layers are used directly rather than its stub
        Resolver: the context already caches, merges and limits, and the Resolver's
        own bookkeeping was a third of the client's CPU per query, which in a bulk
        audit is the bottleneck (bench/throughput.py).
        """
        assert self._shared is not None
        try:
            qname = dns.name.from_text(name or ".")
            qtype = dns.rdatatype.from_text(rdtype)
        except (dns.exception.DNSException, ValueError) as exc:
            return Lookup(name, rdtype, Outcome.ERROR, error=f"invalid name: {exc}")
        loop = asyncio.get_running_loop()
        async with self._shared.semaphore():
            self.stats.queries += 1
            started = loop.time()
            deadline = started + self.timeout
            per_try = self.timeout / (self.retries + 1)
            servers = list(self._shared.servers)
            problems: dict[str, str] = {}
            for _attempt in range(self.retries + 1):
                for server in list(servers):
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        break
                    query = dns.message.make_query(
                        qname, qtype, use_edns=0, payload=1232, want_dnssec=dnssec
                    )
                    if dnssec:
                        # CD: a validating upstream must hand over bogus data instead of
                        # SERVFAIL, so the DNSSEC check can say *why* a chain is broken.
                        query.flags |= dns.flags.CD
                    try:
                        response = await self._exchange(query, server, min(per_try, remaining))
                    except dns.exception.Timeout:
                        problems.setdefault(str(server), "timeout")
                        continue
                    except (OSError, EOFError, dns.exception.DNSException) as exc:
                        problems[str(server)] = f"{type(exc).__name__}: {exc}"
                        servers.remove(server)  # broken, not slow: do not ask again
                        continue
                    rcode = response.rcode()
                    if rcode == dns.rcode.NXDOMAIN:
                        return Lookup(name, rdtype, Outcome.NXDOMAIN, server=str(server))
                    if rcode != dns.rcode.NOERROR:
                        problems[str(server)] = dns.rcode.to_text(rcode)
                        servers.remove(server)
                        continue
                    return _lookup_from(name, rdtype, qname, qtype, response, str(server))
                if not servers:
                    break
        if problems and all(problem == "timeout" for problem in problems.values()):
            elapsed = loop.time() - started
            return Lookup(
                name,
                rdtype,
                Outcome.ERROR,
                error=f"no answer from {self.server_label} within {elapsed:.1f} s",
                server=self.server_label,
            )
        text = "; ".join(f"{problem} from {server}" for server, problem in problems.items())
        return Lookup(
            name,
            rdtype,
            Outcome.ERROR,
            error=text or "no server to ask",
            server=self.server_label,
        )


async def _exchange_tcp(
    query: dns.message.Message, server: Nameserver, seconds: float
) -> dns.message.Message:
    return await dns.asyncquery.tcp(query, server.address, timeout=seconds, port=server.port)


def _lookup_from(
    name: str,
    rdtype: str,
    qname: dns.name.Name,
    qtype: dns.rdatatype.RdataType,
    response: dns.message.Message,
    server: str,
) -> Lookup:
    """A NOERROR response as a Lookup: the answer after any CNAME chain, or NODATA."""
    authenticated = bool(response.flags & dns.flags.AD)
    try:
        chaining = response.resolve_chaining()
    except dns.exception.DNSException as exc:
        return Lookup(name, rdtype, Outcome.ERROR, error=f"bad answer: {exc}", server=server)
    chain = _cname_chain(response, qname)
    answer = chaining.answer
    if answer is None:
        return Lookup(
            name, rdtype, Outcome.NODATA, cnames=chain, server=server, authenticated=authenticated
        )
    signatures = next(
        (
            rrset
            for rrset in response.answer
            if rrset.rdtype == dns.rdatatype.RRSIG
            and rrset.covers == qtype
            and rrset.name == answer.name
        ),
        None,
    )
    return Lookup(
        name,
        rdtype,
        Outcome.ANSWER,
        records=tuple(answer),
        cnames=chain,
        server=server,
        rrset=answer,
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
