"""Asking a domain's authoritative nameservers directly, bypassing every cache.

Right after an admin edits DNS, recursive resolvers keep serving the old records
until their TTL runs out. Asking the servers named in the zone's NS records shows
what is published *now*. The zone cut is found by walking up from the domain (a
subdomain's NS records live at its zone's apex), and each server's address comes
from the resolver the caller already uses.

Only names in the zone go to those servers: an audit also follows SPF includes at
other domains, DKIM CNAMEs into a provider's zone, external DMARC report
destinations, the DNSSEC chain above the zone, PTRs and blocklists, and an
authoritative server refuses (or cannot answer) every one of those. They keep going
to the caller's resolver (`SplitResolverContext`).
"""

from __future__ import annotations

import asyncio
import ipaddress
from dataclasses import dataclass
from typing import Self

from console.auth.resolver import Lookup, Nameserver, ResolverContext

DNS_PORT = 53


class NoAuthoritativeServers(Exception):
    """The domain's authoritative servers could not be found; the message says why."""


@dataclass(frozen=True, slots=True)
class AuthoritativeServers:
    """Where a domain's zone is served from, and a context that asks those servers.

    Attributes:
        zone: the zone apex the NS records were found at.
        hosts: the NS host names, as published.
        nameservers: every address (with the port to use) of those hosts.
        context: a resolver context asking those servers for names in `zone` and the
            caller's resolver for every other name.
    """

    zone: str
    hosts: tuple[str, ...]
    nameservers: tuple[Nameserver, ...]
    context: SplitResolverContext

    @property
    def label(self) -> str:
        """`authoritative ns1.example.com (192.0.2.53) for example.com`, for messages."""
        hosts = ", ".join(self.hosts[:2]) + (" …" if len(self.hosts) > 2 else "")
        return f"authoritative {hosts} ({self.context.server_label}) for {self.zone}"

    @property
    def short_label(self) -> str:
        """`auth ns1.example.com (+1)`: short enough for the header of an 80-column terminal."""
        more = f" (+{len(self.hosts) - 1})" if len(self.hosts) > 1 else ""
        return f"auth {self.hosts[0]}{more}" if self.hosts else "auth"


def in_zone(zone: str, name: str, rdtype: str) -> bool:
    """Whether the servers of `zone` are the ones to ask for `name`/`rdtype`.

    Names at or below the apex are in the zone, except the apex's DS record: it is
    published by the parent zone (RFC 4035 3.1.4.1), and the child's servers do not
    have it. A zone delegated further down (a subdomain with NS records of its own)
    is not detected: its names still go to these servers, whose referral reads as
    "no data"; rare for the names an audit asks, and the resolver mode shows them.
    """
    apex = zone.lower().rstrip(".")
    wanted = name.lower().rstrip(".")
    if wanted == apex:
        return rdtype.upper() != "DS"
    return bool(apex) and wanted.endswith("." + apex)


@dataclass(slots=True)
class SplitResolverContext(ResolverContext):
    """A context asking a zone's own servers for its names and `base` for the rest.

    One cache and one `stats` for both sides: identical questions still cost one
    packet, and the audit's cost counts every query wherever it went. Its own
    `nameservers` are the zone's servers (so `server_label` names them); `base`
    keeps its servers, timeout and concurrency limit for every other name.

    Attributes:
        zone: the zone apex (`example.com`).
        base: the context asked for names outside `zone`; None asks the zone's servers
            for everything.
    """

    zone: str = ""
    base: ResolverContext | None = None

    def for_audit(self) -> Self:
        """A context for one more audit: same servers and routing, fresh cache and stats."""
        fresh = ResolverContext.for_audit(self)
        if self.base is not None:
            fresh.base = self.base.for_audit()
            fresh.stats = fresh.base.stats
        return fresh

    async def _ask(self, name: str, rdtype: str, *, dnssec: bool) -> Lookup:
        # Routed below the cache: `query` (inherited) still merges identical questions
        # and tracks the dependency depth for both sides alike. Explicit base-class
        # calls: zero-argument super() is unreliable in slots dataclasses before 3.14.
        base = self.base
        if base is None or in_zone(self.zone, name, rdtype):
            return await ResolverContext._ask(self, name, rdtype, dnssec=dnssec)
        return await base._ask(name, rdtype, dnssec=dnssec)


async def find_zone(ctx: ResolverContext, domain: str) -> tuple[str, tuple[str, ...]]:
    """The zone apex holding `domain` and its NS hosts, walking up one label at a time.

    Raises:
        NoAuthoritativeServers: no NS set found below the top-level domain, or DNS failed.
    """
    labels = domain.strip().rstrip(".").lower().split(".")
    for start in range(len(labels) - 1):  # never ask the TLD's servers for our zone
        name = ".".join(labels[start:])
        lookup = await ctx.query(name, "NS")
        if lookup.failed:
            raise NoAuthoritativeServers(f"cannot find the nameservers: {lookup.describe()}")
        hosts = tuple(sorted(str(record.target).rstrip(".").lower() for record in lookup.records))
        # A CNAME answer for NS means `name` is an alias, not a zone apex.
        if hosts and not lookup.cnames:
            return name, hosts
    raise NoAuthoritativeServers(f"no NS records found for {domain} or its parent zones")


async def _addresses(ctx: ResolverContext, host: str) -> list[str]:
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    v4, v6 = await asyncio.gather(ctx.query(host, "A"), ctx.query(host, "AAAA"))
    # IPv4 first: many hosts have no IPv6 route, and a dead address costs a timeout.
    return [*v4.addresses(), *v6.addresses()]


async def authoritative_servers(ctx: ResolverContext, domain: str) -> AuthoritativeServers:
    """Find `domain`'s authoritative servers and build a context that asks only them.

    Args:
        ctx: the resolver used to find the NS records and their addresses; its
            timeout, retries, service map and trust anchors carry over.
        domain: the domain being audited.

    Returns:
        The servers and a fresh context (no cache of its own) asking them for names in
        the zone and `ctx` for every other name, counting both in `ctx.stats`; the port
        of each server is `ctx.services.port_for(host, 53)`, which is 53 outside the lab.

    Raises:
        NoAuthoritativeServers: when no server or no address could be found.
    """
    zone, hosts = await find_zone(ctx, domain)
    found = await asyncio.gather(*(_addresses(ctx, host) for host in hosts))
    servers: list[Nameserver] = []
    for host, addresses in zip(hosts, found, strict=True):
        port = ctx.services.port_for(host, DNS_PORT)
        for address in addresses:
            server = Nameserver(address, port)
            if server not in servers:
                servers.append(server)
    if not servers:
        raise NoAuthoritativeServers(
            f"the nameservers of {zone} ({', '.join(hosts)}) have no addresses"
        )
    context = SplitResolverContext(
        nameservers=tuple(servers),
        timeout=ctx.timeout,
        retries=ctx.retries,
        concurrency=ctx.concurrency,
        services=ctx.services,
        trust_anchors=ctx.trust_anchors,
        stats=ctx.stats,
        zone=zone,
        base=ctx,
    )
    return AuthoritativeServers(zone, hosts, tuple(servers), context)
