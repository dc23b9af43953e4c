"""Blocklist lookups against the lab's stand-in DNSBLs, over the wire.

Stand-ins exist for every default list (zen.spamhaus.org, bl.spamcop.net, ...): each
lists its RFC 5782 test entry 127.0.0.2 and listed.test's MX 127.0.1.66. Broken lists
for the error paths: refused-bl.test answers Spamhaus's "public resolver" code for
everything, parked-bl.test a web server's address, dead-bl.test nothing at all;
bl.silent.test never answers and bl.servfail.test fails. Spamhaus PBL (policy)
entries: sending address 192.0.2.60 and bl-pbl.test's MX 127.0.8.1, on ZEN and on the
pbl.spamhaus.org stand-in.
"""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from console.auth.blocklists import (
    KNOWN_LISTS,
    SPAMHAUS_CODES,
    Blocklist,
    check_blocklists,
    describe_list,
    query_name,
    read_answer,
)
from console.auth.options import DEFAULT_DNSBLS, AuditOptions
from console.auth.resolver import Lookup, Outcome, ResolverContext
from console.lab import Lab
from console.model import Status


def codes(result) -> list[str]:
    return [finding.code for finding in result.findings]


def results_for(result, address: str) -> dict[str, dict]:
    return {r["list"]: r for r in result.data["results"] if r["address"] == address}


async def test_clean_domain_passes_on_every_default_list(ctx: ResolverContext) -> None:
    result = await check_blocklists(ctx, "good.test", AuditOptions(ips=("192.0.2.10",)))
    assert result.status is Status.PASS
    assert result.findings == []
    addresses = {r["address"] for r in result.data["results"]}
    assert addresses == {"127.0.1.1", "::1", "127.0.1.2", "192.0.2.10"}
    assert len(result.data["results"]) == 4 * len(DEFAULT_DNSBLS)
    assert not any(r["listed"] or r["error"] for r in result.data["results"])
    # Every stand-in answers its test entry, so none is reported as broken.
    assert [entry["working"] for entry in result.data["lists"]] == [True] * len(DEFAULT_DNSBLS)


async def test_listed_mx_fails_on_major_lists_and_warns_on_others(ctx: ResolverContext) -> None:
    result = await check_blocklists(ctx, "listed.test", AuditOptions())
    assert result.status is Status.FAIL
    severity = {
        f.message.split(" is listed on ")[1].split(":")[0]: f.severity for f in result.findings
    }
    assert severity["Spamhaus ZEN (zen.spamhaus.org)"] is Status.FAIL
    assert severity["SpamCop (bl.spamcop.net)"] is Status.FAIL
    assert severity["Barracuda Reputation Block List (b.barracudacentral.org)"] is Status.FAIL
    assert severity["Passive Spam Block List (psbl.surriel.com)"] is Status.WARN
    zen = results_for(result, "127.0.1.66")["zen.spamhaus.org"]
    assert zen["listed"] is True
    assert zen["codes"] == ["127.0.0.2"]
    assert zen["meanings"] == [SPAMHAUS_CODES["127.0.0.2"]]
    # The list's own words, exactly as published.
    assert zen["reason"] == "Lab stand-in: 127.0.1.66 listed in the SBL for sending to spam traps"
    assert zen["roles"] == ["mx"]
    assert zen["hosts"] == ["mx.listed.test"]
    finding = next(f for f in result.findings if "zen.spamhaus.org" in f.message)
    assert "https://check.spamhaus.org/results/?query=127.0.1.66" in finding.fix


async def test_the_lab_dnsbl_and_its_test_entry(ctx: ResolverContext) -> None:
    options = AuditOptions(dnsbls=("bl.test",), ips=("127.0.0.2",))
    result = await check_blocklists(ctx, "nullmx.test", options)
    (entry,) = result.data["results"]
    assert entry["listed"] is True
    assert entry["reason"] == "Test entry: always listed"
    assert codes(result) == ["blocklists.listed"]
    assert result.status is Status.WARN  # bl.test is not a major list


async def test_public_resolver_code_is_refused_never_listed(ctx: ResolverContext) -> None:
    options = AuditOptions(dnsbls=("refused-bl.test", "bl.test"))
    result = await check_blocklists(ctx, "listed.test", options)
    assert result.status is Status.ERROR  # worse than the bl.test listing (a warning)
    assert codes(result).count("blocklists.refused") == 1
    refused = results_for(result, "127.0.1.66")["refused-bl.test"]
    assert refused["listed"] is False
    assert refused["codes"] == ["127.255.255.254"]
    assert "public or open resolver" in refused["error"]
    finding = next(f for f in result.findings if f.code == "blocklists.refused")
    assert finding.severity is Status.ERROR
    # It says the resolver, not the domain, is refused, and names the resolver.
    assert "not about the domain or its addresses" in finding.message
    assert f"({ctx.server_label})" in finding.message
    assert "--nameserver" in finding.fix
    assert "Data Query Service (DQS)" in finding.fix
    assert results_for(result, "127.0.1.66")["bl.test"]["listed"] is True


async def test_summary_counts_only_lists_that_answered_and_names_the_others(
    ctx: ResolverContext,
) -> None:
    options = AuditOptions(dnsbls=("refused-bl.test", "bl.test", "dead-bl.test"))
    result = await check_blocklists(ctx, "good.test", options)
    # Three lists asked, one answered: the refused and the dead list are named, never
    # counted among the lists the addresses are "not listed on".
    assert result.summary == (
        "3 address(es) not listed on 1 list(s); could not check refused-bl.test, dead-bl.test"
    )
    nothing = await check_blocklists(ctx, "good.test", AuditOptions(dnsbls=("refused-bl.test",)))
    assert nothing.summary == "no list could be checked: refused-bl.test"
    assert nothing.status is Status.ERROR


async def test_pbl_on_a_sending_address_fails_as_policy_not_abuse(ctx: ResolverContext) -> None:
    options = AuditOptions(dnsbls=("zen.spamhaus.org",), ips=("192.0.2.60",))
    result = await check_blocklists(ctx, "nullmx.test", options)
    assert result.status is Status.FAIL
    (finding,) = result.findings
    assert finding.code == "blocklists.policy-listed"
    assert finding.severity is Status.FAIL
    assert "not a spam or abuse listing" in finding.message
    assert "Find and stop the cause" not in finding.fix  # no abuse clean-up advice
    assert finding.fix.startswith("PBL lists end-user/dynamic ranges: if this is a legitimate")
    assert "https://check.spamhaus.org/results/?query=192.0.2.60" in finding.fix
    assert "smarthost" in finding.fix
    (entry,) = result.data["results"]
    assert (entry["listed"], entry["codes"], entry["policy_codes"]) == (
        True,
        ["127.0.0.10"],
        ["127.0.0.10"],
    )
    assert result.summary == "1 address(es) in a policy (PBL) range"


async def test_pbl_on_an_mx_only_address_warns(ctx: ResolverContext) -> None:
    result = await check_blocklists(ctx, "bl-pbl.test", AuditOptions())
    assert result.status is Status.WARN
    (finding,) = result.findings
    assert (finding.code, finding.severity) == ("blocklists.policy-listed", Status.WARN)
    assert "does not affect receiving mail" in finding.message
    assert results_for(result, "127.0.8.1")["zen.spamhaus.org"]["policy_codes"] == ["127.0.0.11"]
    # The same address given as a sending address too: the sending rule wins.
    both = await check_blocklists(ctx, "bl-pbl.test", AuditOptions(ips=("127.0.8.1",)))
    assert [f.severity for f in both.findings] == [Status.FAIL]


async def test_pbl_zone_is_labelled_once(ctx: ResolverContext) -> None:
    options = AuditOptions(dnsbls=("pbl.spamhaus.org",), ips=("192.0.2.60",))
    result = await check_blocklists(ctx, "nullmx.test", options)
    (finding,) = result.findings
    assert "Spamhaus PBL (pbl.spamhaus.org):" in finding.message
    assert finding.message.count("pbl.spamhaus.org") == 1
    assert result.data["lists"][0]["working"] is True  # its test entry answers 127.0.0.10


async def test_abuse_and_policy_codes_together_give_two_findings(ctx: ResolverContext) -> None:
    # ZEN's test entry answers SBL, XBL and PBL at once.
    options = AuditOptions(dnsbls=("zen.spamhaus.org",), ips=("127.0.0.2",))
    result = await check_blocklists(ctx, "nullmx.test", options)
    listed, policy = result.findings
    assert (listed.code, listed.severity) == ("blocklists.listed", Status.FAIL)
    assert "SBL" in listed.message
    assert "XBL" in listed.message
    assert "PBL" not in listed.message
    assert (policy.code, policy.severity) == ("blocklists.policy-listed", Status.FAIL)
    assert result.summary == (
        "1 address(es) listed on 1 list(s); 1 address(es) in a policy (PBL) range"
    )


async def test_answers_outside_loopback_are_a_broken_list(ctx: ResolverContext) -> None:
    result = await check_blocklists(ctx, "good.test", AuditOptions(dnsbls=("parked-bl.test",)))
    assert result.status is Status.ERROR
    assert codes(result) == ["blocklists.list-error"]
    assert not any(r["listed"] for r in result.data["results"])
    assert all("outside 127.0.0.0/8" in r["error"] for r in result.data["results"])


async def test_list_without_its_test_entry_is_not_trusted(ctx: ResolverContext) -> None:
    result = await check_blocklists(ctx, "good.test", AuditOptions(dnsbls=("dead-bl.test",)))
    assert result.status is Status.ERROR
    assert codes(result) == ["blocklists.list-error"]
    assert result.data["lists"][0]["working"] is False
    assert all("test entry" in r["error"] for r in result.data["results"])


async def test_a_silent_list_is_an_error_for_that_list_only(lab: Lab) -> None:
    ctx = lab.resolver(timeout=1.5, retries=0)
    options = AuditOptions(dnsbls=("bl.silent.test", "bl.servfail.test", "zen.spamhaus.org"))
    result = await check_blocklists(ctx, "listed.test", options)
    assert result.status is Status.FAIL  # the zen listing still counts
    dns_errors = [f for f in result.findings if f.code == "blocklists.dns-error"]
    assert len(dns_errors) == 2
    assert {"bl.silent.test", "bl.servfail.test"} == {
        f.message.split(" could not")[0] for f in dns_errors
    }
    by_list = results_for(result, "127.0.1.66")
    assert "no answer" in by_list["bl.silent.test"]["error"]
    assert "SERVFAIL" in by_list["bl.servfail.test"]["error"]
    assert by_list["zen.spamhaus.org"]["listed"] is True


async def test_ipv6_addresses_are_asked_in_nibble_form(ctx: ResolverContext) -> None:
    options = AuditOptions(dnsbls=("bl.test",), ips=("2001:db8::25",))
    result = await check_blocklists(ctx, "nullmx.test", options)
    (entry,) = result.data["results"]
    assert entry == {
        "address": "2001:db8::25",
        "list": "bl.test",
        "listed": False,
        "codes": [],
        "meanings": [],
        "reason": None,
        "policy_codes": [],
        "error": None,
        "roles": ["sending"],
        "hosts": [],
    }


async def test_address_that_is_both_mx_and_sending_is_asked_once(ctx: ResolverContext) -> None:
    options = AuditOptions(dnsbls=("bl.test",), ips=("127.0.1.1",))
    result = await check_blocklists(ctx, "good.test", options)
    entry = results_for(result, "127.0.1.1")["bl.test"]
    assert entry["roles"] == ["sending", "mx"]
    assert len([r for r in result.data["results"] if r["address"] == "127.0.1.1"]) == 1


async def test_null_mx_without_ip_is_skipped_without_queries(ctx: ResolverContext) -> None:
    result = await check_blocklists(ctx, "nullmx.test", AuditOptions())
    assert result.status is Status.SKIP
    assert ctx.stats.queries == 1  # the MX lookup only: no list is bothered


async def test_no_lists_configured_is_skipped(ctx: ResolverContext) -> None:
    result = await check_blocklists(ctx, "good.test", AuditOptions(dnsbls=()))
    assert result.status is Status.SKIP


async def test_mx_lookup_failure_is_an_error(ctx: ResolverContext) -> None:
    result = await check_blocklists(ctx, "servfail.test", AuditOptions())
    assert result.status is Status.ERROR
    assert codes(result) == ["blocklists.dns-error"]


async def test_invalid_ip_is_reported(ctx: ResolverContext) -> None:
    options = AuditOptions(dnsbls=("bl.test",), ips=("999.1.1.1",))
    result = await check_blocklists(ctx, "nullmx.test", options)
    assert codes(result) == ["blocklists.invalid-address"]


# -- pure parts -----------------------------------------------------------------------


def test_query_names() -> None:
    assert query_name("192.0.2.10", "zen.spamhaus.org") == "10.2.0.192.zen.spamhaus.org"
    name = query_name("2001:db8::25", "zen.spamhaus.org")
    assert name.startswith("5.2.0.0.0.0.0.0")
    assert name.endswith(".8.b.d.0.1.0.0.2.zen.spamhaus.org")
    assert len(name.split(".")) == 32 + 3


def _answer(*codes: str) -> Lookup:
    import dns.rdata

    records = tuple(dns.rdata.from_text("IN", "A", code) for code in codes)
    return Lookup("x.zen.spamhaus.org", "A", Outcome.ANSWER, records=records)


ZEN = KNOWN_LISTS["zen.spamhaus.org"]


@pytest.mark.parametrize(
    ("answer", "kind"),
    [
        (("127.255.255.254",), "refused"),
        (("127.255.255.255",), "refused"),
        (("127.255.255.252",), "list-error"),
        (("127.0.0.1",), "list-error"),
        (("127.0.0.2", "127.255.255.254"), "refused"),
        (("93.184.216.34",), "list-error"),
    ],
)
def test_error_codes_are_never_listings(answer: tuple[str, ...], kind: str) -> None:
    listing = read_answer(_answer(*answer), ZEN)
    assert listing.listed is False
    assert listing.error_kind == kind


def test_zen_codes_are_read_from_the_table() -> None:
    listing = read_answer(_answer("127.0.0.11", "127.0.0.4"), ZEN)
    assert listing.listed
    assert listing.codes == ["127.0.0.4", "127.0.0.11"]
    assert listing.meanings[0].startswith("XBL")
    assert listing.meanings[1].startswith("PBL")


def test_unknown_lists_read_generic_codes_and_dqs_zones_are_spamhaus() -> None:
    generic = describe_list("dnsbl.example.net")
    assert generic == Blocklist("dnsbl.example.net", "dnsbl.example.net")
    assert read_answer(_answer("127.0.0.5"), generic).meanings == ["listed (code 127.0.0.5)"]
    dqs = describe_list("abcdefkey.zen.dq.spamhaus.net")
    assert dqs.major
    assert dqs.codes is SPAMHAUS_CODES
    assert dqs.name == "Spamhaus ZEN via DQS"
    assert dqs.policy_codes == {"127.0.0.10", "127.0.0.11"}
    # The zone is shown beside the name in messages: the name must not repeat it.
    assert describe_list("pbl.spamhaus.org").name == "Spamhaus PBL"
    assert describe_list("sbl-xbl.spamhaus.org").name == "Spamhaus SBL-XBL"
    assert describe_list("other.spamhaus.org").name == "Spamhaus"


def test_pbl_codes_are_policy_codes() -> None:
    listing = read_answer(_answer("127.0.0.11", "127.0.0.4"), ZEN)
    assert listing.policy_codes == ["127.0.0.11"]
    assert read_answer(_answer("127.0.0.2"), ZEN).policy_codes == []


def test_default_lists_all_have_lab_stand_ins(lab: Lab) -> None:
    import dns.name

    assert lab.zones is not None
    for zone in DEFAULT_DNSBLS:
        assert dns.name.from_text(zone) in lab.zones.zones.zones
        assert zone in KNOWN_LISTS


@given(st.lists(st.ip_addresses(v=4).map(str), max_size=4))
def test_any_a_answer_reads_without_raising(answer: list[str]) -> None:
    listing = read_answer(_answer(*answer), ZEN) if answer else None
    if listing is None:
        return
    in_loopback = all(
        ipaddress.ip_address(a) in ipaddress.ip_network("127.0.0.0/8") for a in answer
    )
    if not in_loopback:
        assert listing.error_kind == "list-error"
    assert listing.listed != bool(listing.error)
