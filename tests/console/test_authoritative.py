"""Finding a domain's authoritative servers in the lab and asking them directly."""

from __future__ import annotations

import pytest

from console.app import lab_resolver_factory
from console.auth.authoritative import (
    NoAuthoritativeServers,
    authoritative_servers,
    find_zone,
)
from console.lab import Lab


@pytest.fixture
def lab_ctx(lab: Lab):
    # The console's lab factory publishes the lab DNS port as the port for 53.
    return lab_resolver_factory(lab, timeout=2.0)(())


async def test_zone_and_servers_of_a_lab_domain(lab_ctx, lab: Lab) -> None:
    servers = await authoritative_servers(lab_ctx, "good.test")
    assert servers.zone == "good.test"
    assert servers.hosts == ("ns1.lab.test",)
    assert [str(ns) for ns in servers.nameservers] == [lab.nameserver]
    assert servers.label == f"authoritative ns1.lab.test ({lab.nameserver})"
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
