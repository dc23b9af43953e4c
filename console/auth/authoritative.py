"""Asking a domain's authoritative nameservers directly, bypassing every cache.

Right after an admin edits DNS, recursive resolvers keep serving the old records
until their TTL runs out. Asking the servers named in the zone's NS records shows
what is published *now*. The zone cut is found by walking up from the domain (a
subdomain's NS records live at its zone's apex), and each server's address comes
from the resolver the caller already uses.
"""

from __future__ import annotations

import asyncio
import ipaddress
from dataclasses import dataclass

from console.auth.resolver import Nameserver, ResolverContext

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
        context: a resolver context asking only those servers.
    """

    zone: str
    hosts: tuple[str, ...]
    nameservers: tuple[Nameserver, ...]
    context: ResolverContext

    @property
    def label(self) -> str:
        """`authoritative ns1.example.com (192.0.2.53)` for the console's header."""
        hosts = ", ".join(self.hosts[:2]) + (" …" if len(self.hosts) > 2 else "")
        return f"authoritative {hosts} ({self.context.server_label})"


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
        The servers and a fresh context (no cache) asking them; the port of each is
        `ctx.services.port_for(host, 53)`, which is 53 outside the lab.

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
    context = ResolverContext(
        nameservers=tuple(servers),
        timeout=ctx.timeout,
        retries=ctx.retries,
        concurrency=ctx.concurrency,
        services=ctx.services,
        trust_anchors=ctx.trust_anchors,
    )
    return AuthoritativeServers(zone, hosts, tuple(servers), context)
