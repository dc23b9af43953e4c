"""The lab DNS server answers like a real authoritative server, over the wire."""

from __future__ import annotations

import asyncio
import time

import dns.asyncquery
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import pytest

from console.auth.resolver import Nameserver, Outcome
from console.lab import Lab


async def ask(lab: Lab, name: str, rdtype: str, *, tcp: bool = False, dnssec: bool = False):
    query = dns.message.make_query(name, rdtype, want_dnssec=dnssec)
    send = dns.asyncquery.tcp if tcp else dns.asyncquery.udp
    assert lab.dns is not None
    return await send(query, "127.0.0.1", port=lab.dns.port, timeout=2)


async def test_answer_is_authoritative_over_udp_and_tcp(lab: Lab) -> None:
    for tcp in (False, True):
        response = await ask(lab, "good.test", "MX", tcp=tcp)
        assert response.rcode() == dns.rcode.NOERROR
        assert response.flags & dns.flags.AA
        assert sorted(r.preference for r in response.answer[0]) == [10, 20]


async def test_nxdomain_and_nodata_differ_and_carry_the_soa(lab: Lab) -> None:
    missing = await ask(lab, "no-such-name.good.test", "A")
    assert missing.rcode() == dns.rcode.NXDOMAIN
    assert missing.authority[0].rdtype == dns.rdatatype.SOA
    empty = await ask(lab, "good.test", "AAAA")
    assert empty.rcode() == dns.rcode.NOERROR
    assert not empty.answer
    assert empty.authority[0].rdtype == dns.rdatatype.SOA


async def test_empty_non_terminal_is_nodata(lab: Lab) -> None:
    response = await ask(lab, "_domainkey.good.test", "TXT")
    assert response.rcode() == dns.rcode.NOERROR
    assert not response.answer


async def test_txt_keeps_its_character_strings(ctx) -> None:
    lookup = await ctx.query("s2026._domainkey.good.test", "TXT")
    (strings,) = lookup.txt_strings()
    assert len(strings) > 1
    assert all(len(s) <= 255 for s in strings)
    assert lookup.texts()[0].startswith("v=DKIM1; k=rsa; p=MII")


async def test_wildcard_is_synthesised(lab: Lab) -> None:
    response = await ask(lab, "anything.test._report._dmarc.dmarc-reports.test", "TXT")
    assert response.rcode() == dns.rcode.NOERROR
    assert response.answer[0].name.to_text() == "anything.test._report._dmarc.dmarc-reports.test."


async def test_unknown_zone_is_refused(lab: Lab) -> None:
    response = await ask(lab, "example.invalid", "A")
    assert response.rcode() == dns.rcode.REFUSED


async def test_ds_comes_from_the_parent_and_rrsigs_only_with_do(lab: Lab) -> None:
    ds = await ask(lab, "good.test", "DS", dnssec=True)
    assert ds.answer[0].rdtype == dns.rdatatype.DS
    assert any(r.rdtype == dns.rdatatype.RRSIG for r in ds.answer)
    plain = await ask(lab, "good.test", "TXT")
    assert all(r.rdtype != dns.rdatatype.RRSIG for r in plain.answer)


async def test_large_answer_truncates_over_udp(lab: Lab) -> None:
    query = dns.message.make_query("huge-txt.test", "TXT", use_edns=False)
    assert lab.dns is not None
    response = await dns.asyncquery.udp(query, "127.0.0.1", port=lab.dns.port, timeout=2)
    assert response.flags & dns.flags.TC
    assert not response.answer


async def test_resolver_retries_a_truncated_answer_over_tcp(ctx) -> None:
    lookup = await ctx.query("huge-txt.test", "TXT")
    assert lookup.ok
    assert len(lookup.texts()[0]) > 60_000


async def test_silent_names_time_out_and_servfail_names_fail(lab: Lab) -> None:
    ctx = lab.resolver(timeout=0.5, retries=0)
    started = time.monotonic()
    silent, failing = await asyncio.gather(
        ctx.query("silent.test", "TXT"), ctx.query("servfail.test", "TXT")
    )
    assert silent.outcome is Outcome.ERROR
    assert "within" in (silent.error or "")
    assert time.monotonic() - started < 5  # bounded (a loaded machine may be slow)
    assert failing.outcome is Outcome.ERROR
    assert failing.error is not None
    assert failing.error.startswith("SERVFAIL from 127.0.0.1:")


def test_delay_is_applied_to_every_answer() -> None:
    with Lab(dns_delay=0.2) as slow:
        ctx = slow.resolver(timeout=2.0)
        started = time.monotonic()
        lookup = asyncio.run(ctx.query("good.test", "TXT"))
        assert lookup.ok
        assert time.monotonic() - started >= 0.2


@pytest.mark.parametrize(
    ("spec", "address", "port"),
    [
        ("127.0.0.1:5353", "127.0.0.1", 5353),
        ("[::1]:5353", "::1", 5353),
        ("192.0.2.1", "192.0.2.1", 53),
        ("[::1]", "::1", 53),
        ("::1", "::1", 53),
    ],
)
def test_nameserver_spec_parses(spec: str, address: str, port: int) -> None:
    parsed = Nameserver.parse(spec)
    assert (parsed.address, parsed.port) == (address, port)


@pytest.mark.parametrize("spec", ["127.0.0.1:0", "127.0.0.1:99999", "[::1", "[::1]x", ":53"])
def test_bad_nameserver_spec_is_a_clear_error(spec: str) -> None:
    with pytest.raises(ValueError, match="nameserver"):
        Nameserver.parse(spec)
