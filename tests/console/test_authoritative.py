"""Finding a domain's authoritative servers in the lab and asking them directly."""

from __future__ import annotations

from collections.abc import AsyncIterator

import dns.name
import pytest

from console.app import lab_resolver_factory
from console.auth.audit import audit_domain
from console.auth.authoritative import (
    NoAuthoritativeServers,
    SplitResolverContext,
    authoritative_servers,
    find_zone,
    in_zone,
)
from console.auth.resolver import Outcome, ResolverContext
from console.lab import Lab
from console.lab.dnsserver import Authority, LabDnsServer, ZoneSet
from console.services import ServiceMap


@pytest.fixture
def lab_ctx(lab: Lab):
    # The console's lab factory publishes the lab DNS port as the port for 53.
    return lab_resolver_factory(lab, timeout=2.0)(())


async def test_zone_and_servers_of_a_lab_domain(lab_ctx, lab: Lab) -> None:
    servers = await authoritative_servers(lab_ctx, "good.test")
    assert servers.zone == "good.test"
    assert servers.hosts == ("ns1.lab.test",)
    assert [str(ns) for ns in servers.nameservers] == [lab.nameserver]
    assert servers.label == f"authoritative ns1.lab.test ({lab.nameserver}) for good.test"
    assert servers.short_label == "auth ns1.lab.test"
    lookup = await servers.context.query("good.test", "TXT")
    assert any(text.startswith("v=spf1") for text in lookup.texts())
    # A fresh context: nothing cached from the discovery queries.
    assert servers.context.stats.cache_hits == 0


async def test_a_name_below_the_apex_walks_up_to_its_zone(lab_ctx) -> None:
    zone, hosts = await find_zone(lab_ctx, "mx1.good.test")
    assert zone == "good.test"
    assert hosts == ("ns1.lab.test",)


async def test_no_zone_found_is_an_error_saying_so(lab_ctx) -> None:
    with pytest.raises(NoAuthoritativeServers, match="no NS records"):
        await find_zone(lab_ctx, "nothing-here.test")


async def test_dns_failure_is_reported_not_mistaken_for_absence(lab_ctx) -> None:
    with pytest.raises(NoAuthoritativeServers, match="SERVFAIL"):
        await find_zone(lab_ctx, "servfail.test")


# -- routing: the zone's servers for the zone, the resolver for everything else ----------


@pytest.fixture
async def good_test_only(lab: Lab) -> AsyncIterator[LabDnsServer]:
    """A second authoritative server that serves good.test and nothing else (like a real
    one: every other name is REFUSED)."""
    assert lab.zones is not None
    origin = dns.name.from_text("good.test")
    zones = ZoneSet()
    zones.add(lab.zones.zones.zones[origin])
    server = LabDnsServer(Authority(zones, {origin: lab.zones.signed.get(origin, False)}))
    await server.start()
    yield server
    await server.stop()


def _routed_to(lab: Lab, server: LabDnsServer) -> ResolverContext:
    """A lab resolver context whose ns1.lab.test (good.test's NS) is `server`."""
    services = lab.services
    host_ports = {**services.host_ports, ("ns1.lab.test", 53): server.port}
    base = lab.resolver(timeout=2.0)
    base.services = ServiceMap(services.ports, host_ports, services.cafile)
    return base


def test_names_in_the_zone_go_to_its_servers_except_the_apex_ds() -> None:
    assert in_zone("good.test", "good.test", "TXT")
    assert in_zone("good.test", "_dmarc.GOOD.test.", "TXT")
    assert in_zone("good.test", "good.test", "DNSKEY")
    assert not in_zone("good.test", "good.test", "DS")  # published by the parent
    assert in_zone("good.test", "sub.good.test", "DS")
    assert not in_zone("good.test", "notgood.test", "TXT")
    assert not in_zone("good.test", "test", "DNSKEY")
    assert not in_zone("good.test", "_spf.google.com", "TXT")


async def test_names_outside_the_zone_still_resolve(lab: Lab, good_test_only) -> None:
    ctx = _routed_to(lab, good_test_only)
    servers = await authoritative_servers(ctx, "good.test")
    auth = servers.context
    assert isinstance(auth, SplitResolverContext)
    assert [str(ns) for ns in servers.nameservers] == [good_test_only.address]

    # Asked alone, the zone's server refuses what is not its own: the failure seen in
    # real use before the split (SPF includes, DKIM CNAME targets, PTRs, DNSBLs...).
    alone = ResolverContext(nameservers=auth.nameservers, timeout=2.0, retries=0)
    refused = await alone.query("_spf.google.com", "TXT")
    assert refused.failed
    assert "REFUSED" in (refused.error or "")

    spf, include, ds, dnskey, parent, ptr = await auth.gather(
        auth.query("good.test", "TXT"),
        auth.query("_spf.google.com", "TXT"),
        auth.query("good.test", "DS", dnssec=True),
        auth.query("good.test", "DNSKEY", dnssec=True),
        auth.query("test", "DNSKEY", dnssec=True),
        auth.query("1.1.0.127.in-addr.arpa", "PTR"),
    )
    for lookup in (spf, dnskey):
        assert lookup.outcome is Outcome.ANSWER, lookup.describe()
        assert lookup.server == good_test_only.address
    for lookup in (include, ds, parent, ptr):
        assert lookup.outcome is Outcome.ANSWER, lookup.describe()
        assert lookup.server == lab.nameserver
    assert any(text.startswith("v=spf1") for text in include.texts())
    # One account of the cost, wherever each question went.
    assert auth.stats is ctx.stats
    assert ctx.stats.queries >= 6 + 3  # plus NS, A and AAAA of the discovery


async def test_an_authoritative_audit_matches_the_resolver_audit(lab: Lab, good_test_only) -> None:
    ctx = _routed_to(lab, good_test_only)
    servers = await authoritative_servers(ctx.for_audit(), "good.test")
    before = good_test_only.queries
    direct = await audit_domain(servers.context, "good.test")
    assert good_test_only.queries > before  # the zone's own names went to its server
    usual = await audit_domain(ctx.for_audit(), "good.test")
    assert {c.id: c.status for c in direct.checks} == {c.id: c.status for c in usual.checks}
    errors = [(c.id, c.summary) for c in direct.checks if c.status.value == "error"]
    assert not errors


async def test_for_audit_keeps_the_routing_with_a_fresh_cache(lab: Lab) -> None:
    base = lab.resolver(timeout=2.0)
    # The zone's "servers" are a dead port: only names outside the zone can answer.
    split = SplitResolverContext(
        nameservers=ResolverContext.from_options(["127.0.0.1:9"]).nameservers,
        timeout=0.3,
        retries=0,
        zone="good.test",
        base=base,
    )
    again = split.for_audit()
    assert isinstance(again, SplitResolverContext)
    assert (again.zone, again.nameservers) == (split.zone, split.nameservers)
    outside, inside = await again.gather(
        again.query("nomx.test", "TXT"), again.query("good.test", "TXT")
    )
    assert outside.outcome is not Outcome.ERROR
    assert inside.failed
    assert "127.0.0.1:9" in (inside.error or "")
    assert again.stats.queries == 2
    assert split.stats.queries == 0
