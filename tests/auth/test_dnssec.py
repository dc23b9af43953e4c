"""The dnssec check validates the chain of trust itself, over the wire.

The shared lab covers the demo cases (good.test valid, dnssec-bogus.test with a DS
matching no key, everything else unsigned). Failure modes the lab does not sign for
(expired and tampered signatures, a DS without keys, a resolver that strips RRSIGs)
are served by a private lab DNS server built per test from the same classes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import dns.dnssec
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.zone
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from console.auth.dnssec import (
    ROOT_KSK_DS_SHA256,
    ROOT_KSKS,
    check_dnssec,
    root_trust_anchor,
    trust_anchors_for,
)
from console.auth.options import AuditOptions
from console.auth.resolver import ResolverContext
from console.lab import Lab
from console.lab.dnsserver import Authority, LabDnsServer, ZoneSet
from console.model import Status

OPTIONS = AuditOptions()


def codes(result) -> list[str]:
    return [finding.code for finding in result.findings]


# -- the shared lab -------------------------------------------------------------------


async def test_signed_domain_validates_from_the_anchor_to_the_mx(ctx: ResolverContext) -> None:
    result = await check_dnssec(ctx, "good.test", OPTIONS)
    assert result.status is Status.PASS
    assert result.findings == []
    assert result.data["signed"] is True
    assert result.data["valid"] is True
    chain = result.data["chain"]
    assert [step["zone"] for step in chain] == ["test", "good.test"]
    assert all(step["status"] == "secure" for step in chain)
    # The DS at the parent names the key the child really uses.
    ds_tag = int(chain[1]["ds"][0].split()[0])
    assert ds_tag in chain[1]["dnskey_tags"]
    assert result.data["answer"] == {"name": "good.test", "type": "MX", "signed": True}


async def test_all_levels_are_asked_at_once(ctx: ResolverContext) -> None:
    await check_dnssec(ctx, "good.test", OPTIONS)
    assert ctx.stats.max_depth == 1


async def test_ds_matching_no_key_is_bogus_and_the_fix_is_the_right_ds(
    ctx: ResolverContext,
) -> None:
    result = await check_dnssec(ctx, "dnssec-bogus.test", OPTIONS)
    assert result.status is Status.FAIL
    assert codes(result) == ["dnssec.bogus"]
    assert result.data["signed"] is True
    assert result.data["valid"] is False
    last = result.data["chain"][-1]
    assert last["zone"] == "dnssec-bogus.test"
    assert last["status"] == "bogus"
    ds_tag = int(last["ds"][0].split()[0])
    assert ds_tag not in last["dnskey_tags"]
    finding = result.findings[0]
    assert "SERVFAIL" in finding.message
    # The fix is a DS computed from the key that really signs the zone.
    (real_tag,) = last["dnskey_tags"]
    assert f"dnssec-bogus.test. 3600 IN DS {real_tag} 15 2 " in finding.fix


@pytest.mark.parametrize("domain", ["noptr.test", "nomx.test", "listed.test"])
async def test_zone_without_ds_is_unsigned(ctx: ResolverContext, domain: str) -> None:
    result = await check_dnssec(ctx, domain, OPTIONS)
    assert result.status is Status.WARN
    assert codes(result) == ["dnssec.unsigned"]
    assert result.data["signed"] is False
    assert result.data["chain"][-1] == {
        "zone": domain,
        "ds": [],
        "dnskey_tags": [],
        "status": "insecure",
        "reason": f"there is no DS record for {domain} in its parent zone",
    }
    assert "DANE" in result.findings[0].message


async def test_name_inside_a_signed_zone_uses_that_zones_keys(ctx: ResolverContext) -> None:
    # mx1.good.test is no zone cut: no DS, no SOA of its own, so good.test's keys apply.
    result = await check_dnssec(ctx, "mx1.good.test", OPTIONS)
    assert result.status is Status.PASS
    assert [step["zone"] for step in result.data["chain"]] == ["test", "good.test"]


async def test_servfail_is_an_error_not_unsigned(ctx: ResolverContext) -> None:
    result = await check_dnssec(ctx, "servfail.test", OPTIONS)
    assert result.status is Status.ERROR
    assert codes(result) == ["dnssec.dns-error"]
    assert "SERVFAIL" in result.findings[0].message
    assert result.data["signed"] is None


async def test_timeout_is_an_error(lab: Lab) -> None:
    ctx = lab.resolver(timeout=0.3, retries=0)
    result = await check_dnssec(ctx, "silent.test", OPTIONS)
    assert result.status is Status.ERROR
    assert codes(result) == ["dnssec.dns-error"]


async def test_lab_expired_zone(lab: Lab, ctx: ResolverContext) -> None:
    assert lab.zones is not None
    if not lab.zones.signed.get(dns.name.from_text("dnssec-expired.test")):
        pytest.skip("console/lab/zones.py does not sign dnssec-expired.test yet")
    result = await check_dnssec(ctx, "dnssec-expired.test", OPTIONS)
    assert result.status is Status.FAIL
    assert codes(result) == ["dnssec.expired-signature"]


# -- trust anchors --------------------------------------------------------------------


def test_root_anchors_hash_to_ianas_published_ds() -> None:
    for key in root_trust_anchor():
        tag = dns.dnssec.key_id(key)
        ds = dns.dnssec.make_ds(dns.name.root, key, "SHA256")
        assert ds.digest.hex().upper() == ROOT_KSK_DS_SHA256[tag]
    assert set(ROOT_KSKS) == {20326, 38696}


def test_context_anchors_override_the_root(lab: Lab) -> None:
    with_lab = lab.resolver()
    assert [a.name.to_text() for a in trust_anchors_for(with_lab)] == ["test."]
    plain = ResolverContext.from_options([lab.nameserver])
    (anchor,) = trust_anchors_for(plain)
    assert anchor.name == dns.name.root
    assert {dns.dnssec.key_id(key) for key in anchor} == {20326, 38696}


async def test_without_lab_anchor_the_walk_starts_at_the_root(lab: Lab) -> None:
    # The lab serves no root zone: the walk asks for ". DNSKEY" and reports that it failed.
    ctx = ResolverContext.from_options([lab.nameserver], timeout=1)
    result = await check_dnssec(ctx, "good.test", OPTIONS)
    assert result.status is Status.ERROR
    assert codes(result) == ["dnssec.dns-error"]
    assert result.data["trust_anchor"]["key_tags"] == [20326, 38696]
    assert result.data["chain"][0]["zone"] == "."


async def test_a_wrong_anchor_makes_the_chain_bogus(lab: Lab) -> None:
    _, stranger = _key()
    anchor = dns.rrset.RRset(dns.name.from_text("test"), dns.rdataclass.IN, dns.rdatatype.DNSKEY)
    anchor.add(stranger, 300)
    ctx = ResolverContext.from_options([lab.nameserver], trust_anchors=(anchor,))
    result = await check_dnssec(ctx, "good.test", OPTIONS)
    assert result.status is Status.FAIL
    assert codes(result) == ["dnssec.bogus"]
    assert "trust anchor" in result.data["reason"]


async def test_no_anchor_covering_the_domain(lab: Lab) -> None:
    _, key = _key()
    anchor = dns.rrset.RRset(dns.name.from_text("example"), dns.rdataclass.IN, dns.rdatatype.DNSKEY)
    anchor.add(key, 300)
    ctx = ResolverContext.from_options([lab.nameserver], trust_anchors=(anchor,))
    result = await check_dnssec(ctx, "good.test", OPTIONS)
    assert result.status is Status.ERROR
    assert codes(result) == ["dnssec.no-trust-anchor"]
    assert ctx.stats.queries == 0


# -- a private signed hierarchy for the failure modes ---------------------------------

NOW = dt.datetime.now(dt.UTC)
CHILD = """
@   IN SOA ns1.lab.test. hostmaster.lab.test. 1 3600 600 604800 300
@   IN NS  ns1.lab.test.
@   IN MX  10 mx
mx  IN A   127.0.1.99
"""
PARENT = """
@   IN SOA ns1.lab.test. hostmaster.lab.test. 1 3600 600 604800 300
@   IN NS  ns1.lab.test.
"""


def _key() -> tuple[ed25519.Ed25519PrivateKey, dns.dnssec.DNSKEY]:
    private = ed25519.Ed25519PrivateKey.generate()
    public = dns.dnssec.make_dnskey(private.public_key(), dns.dnssec.Algorithm.ED25519, flags=257)
    return private, public


def _sign(zone: dns.zone.Zone, start: dt.datetime, end: dt.datetime) -> dns.dnssec.DNSKEY:
    private, public = _key()
    dns.dnssec.sign_zone(
        zone, keys=[(private, public)], inception=start, expiration=end, dnskey_ttl=300
    )
    return public


Tamper = Callable[[dns.zone.Zone], None]


@asynccontextmanager
async def hierarchy(
    child: str,
    *,
    start: dt.datetime = NOW - dt.timedelta(days=1),
    end: dt.datetime = NOW + dt.timedelta(days=30),
    sign_child: bool = True,
    tamper: Tamper | None = None,
    serve_signatures: bool = True,
) -> AsyncIterator[ResolverContext]:
    """`test.` (signed, the anchor) with one child zone signed as asked, on loopback."""
    parent = dns.zone.from_text(PARENT, origin="test.", relativize=False)
    kid = dns.zone.from_text(CHILD, origin=f"{child}.", relativize=False)
    origin = kid.origin
    assert origin is not None
    if sign_child:
        child_key = _sign(kid, start, end)
    else:
        _, child_key = _key()  # a DS for a key the zone never publishes
    if tamper is not None:
        tamper(kid)
    with parent.writer() as txn:
        txn.add(origin, 300, dns.dnssec.make_ds(origin, child_key, "SHA256"))
    anchor_key = _sign(parent, NOW - dt.timedelta(days=1), NOW + dt.timedelta(days=30))
    zones = ZoneSet()
    zones.add(parent)
    zones.add(kid)
    signed = {parent.origin: True, origin: sign_child} if serve_signatures else {}
    server = LabDnsServer(Authority(zones, signed))
    await server.start()
    anchor = dns.rrset.RRset(parent.origin, dns.rdataclass.IN, dns.rdatatype.DNSKEY)
    anchor.add(anchor_key, 300)
    try:
        yield ResolverContext.from_options([server.address], timeout=2, trust_anchors=(anchor,))
    finally:
        await server.stop()


async def test_private_hierarchy_validates_when_all_is_well() -> None:
    async with hierarchy("fine.test") as ctx:
        result = await check_dnssec(ctx, "fine.test", OPTIONS)
    assert result.status is Status.PASS, result.data["reason"]


async def test_expired_signatures_fail_with_their_own_code() -> None:
    start, end = NOW - dt.timedelta(days=40), NOW - dt.timedelta(days=10)
    async with hierarchy("dnssec-expired.test", start=start, end=end) as ctx:
        result = await check_dnssec(ctx, "dnssec-expired.test", OPTIONS)
    assert result.status is Status.FAIL
    assert codes(result) == ["dnssec.expired-signature"]
    assert result.data["valid"] is False
    assert "expired on" in result.data["reason"]
    assert "Re-sign" in result.findings[0].fix


async def test_signature_from_the_future_is_bogus() -> None:
    start, end = NOW + dt.timedelta(days=5), NOW + dt.timedelta(days=40)
    async with hierarchy("dnssec-future.test", start=start, end=end) as ctx:
        result = await check_dnssec(ctx, "dnssec-future.test", OPTIONS)
    assert codes(result) == ["dnssec.bogus"]
    assert "not valid before" in result.data["reason"]


def _change_mx(zone: dns.zone.Zone) -> None:
    # The record changes after signing, as when a zone is edited without re-signing.
    with zone.writer() as txn:
        name = zone.origin
        txn.delete(name, dns.rdatatype.MX)
        txn.add(name, 300, dns.rdata.from_text("IN", "MX", f"20 mx.{name}"))


async def test_edited_record_with_a_stale_signature_is_bogus() -> None:
    async with hierarchy("dnssec-edited.test", tamper=_change_mx) as ctx:
        result = await check_dnssec(ctx, "dnssec-edited.test", OPTIONS)
    assert result.status is Status.FAIL
    assert codes(result) == ["dnssec.bogus"]
    assert result.data["reason"].startswith("the MX answer for dnssec-edited.test")
    assert "does not verify" in result.data["reason"]


def _drop_mx_signature(zone: dns.zone.Zone) -> None:
    with zone.writer() as txn:
        txn.delete(zone.origin, dns.rdatatype.RRSIG, dns.rdatatype.MX)


async def test_unsigned_answer_in_a_signed_zone_is_bogus() -> None:
    async with hierarchy("dnssec-nosig.test", tamper=_drop_mx_signature) as ctx:
        result = await check_dnssec(ctx, "dnssec-nosig.test", OPTIONS)
    assert codes(result) == ["dnssec.bogus"]
    assert "no RRSIG" in result.data["reason"]


async def test_ds_without_any_dnskey_is_bogus() -> None:
    async with hierarchy("dnssec-nokeys.test", sign_child=False) as ctx:
        result = await check_dnssec(ctx, "dnssec-nokeys.test", OPTIONS)
    assert codes(result) == ["dnssec.bogus"]
    assert "publishes no DNSKEY" in result.data["reason"]


async def test_resolver_that_strips_signatures_is_an_error_not_bogus() -> None:
    async with hierarchy("fine.test", serve_signatures=False) as ctx:
        result = await check_dnssec(ctx, "fine.test", OPTIONS)
    assert result.status is Status.ERROR
    assert codes(result) == ["dnssec.dns-error"]
    assert "without signatures" in result.data["reason"]


@pytest.mark.online
async def test_a_signed_internet_domain_validates_from_the_root() -> None:
    # Deselected by default (no network in CI): the system resolver, the root KSKs.
    ctx = ResolverContext.from_options([], timeout=5)
    result = await check_dnssec(ctx, "ietf.org", OPTIONS)
    assert result.status is Status.PASS, result.data["reason"]
    assert [step["zone"] for step in result.data["chain"]] == [".", "org", "ietf.org"]
