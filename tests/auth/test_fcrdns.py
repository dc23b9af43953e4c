"""Forward-confirmed reverse DNS of MX hosts and sending addresses, against the lab.

Lab data: every demo MX has a PTR naming it, except noptr.test's; fcrdns-generic.test's
MX has a provider-style name, fcrdns-mismatch.test's a PTR pointing elsewhere. The
sending addresses in 192.0.2.0/24 are described in 2.0.192.in-addr.arpa.zone.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from console.auth.fcrdns import check_fcrdns, looks_generic, reverse_dns
from console.auth.options import AuditOptions
from console.auth.resolver import ResolverContext
from console.lab import Lab
from console.model import Status


def by_code(result) -> dict[str, list]:
    out: dict[str, list] = {}
    for finding in result.findings:
        out.setdefault(finding.code, []).append(finding)
    return out


def host(result, address: str, role: str) -> dict:
    (entry,) = [h for h in result.data["hosts"] if h["address"] == address and h["role"] == role]
    return entry


async def test_good_domain_and_sending_ip_are_forward_confirmed(ctx: ResolverContext) -> None:
    result = await check_fcrdns(ctx, "good.test", AuditOptions(ips=("192.0.2.10",)))
    assert result.status is Status.PASS
    assert result.findings == []
    mx1 = host(result, "127.0.1.1", "mx")
    assert mx1 == {
        "address": "127.0.1.1",
        "role": "mx",
        "host": "mx1.good.test",
        "ptr": ["mx1.good.test"],
        "forward_confirmed": True,
        "confirmed_names": ["mx1.good.test"],
        "generic": False,
        "matches_host": True,
        "error": None,
    }
    assert host(result, "::1", "mx")["forward_confirmed"] is True  # AAAA checked too
    sending = host(result, "192.0.2.10", "sending")
    assert sending["ptr"] == ["mail.good.test"]
    assert sending["host"] is None
    assert sending["forward_confirmed"] is True


async def test_mx_without_ptr_warns(ctx: ResolverContext) -> None:
    result = await check_fcrdns(ctx, "noptr.test", AuditOptions())
    assert result.status is Status.WARN
    (finding,) = by_code(result)["fcrdns.no-ptr"]
    assert finding.severity is Status.WARN
    assert "1.2.0.127.in-addr.arpa. 3600 IN PTR mx.noptr.test." in finding.fix
    assert host(result, "127.0.2.1", "mx")["ptr"] == []


async def test_sending_address_without_ptr_fails(ctx: ResolverContext) -> None:
    result = await check_fcrdns(ctx, "good.test", AuditOptions(ips=("192.0.2.99",)))
    assert result.status is Status.FAIL
    (finding,) = by_code(result)["fcrdns.no-ptr"]
    assert finding.severity is Status.FAIL
    assert "Gmail" in finding.message


async def test_sending_ptr_name_that_does_not_resolve_back_fails(ctx: ResolverContext) -> None:
    # .20 names a host that does not exist; .50 one that resolves to other addresses.
    result = await check_fcrdns(ctx, "good.test", AuditOptions(ips=("192.0.2.20", "192.0.2.50")))
    assert result.status is Status.FAIL
    findings = by_code(result)["fcrdns.not-confirmed"]
    assert len(findings) == 2
    assert all(f.severity is Status.FAIL for f in findings)
    assert "Gmail" in findings[0].message
    assert "`mail.fcrdns-mismatch.test. 3600 IN A 192.0.2.50`" in findings[1].fix
    assert host(result, "192.0.2.50", "sending")["ptr"] == ["mail.fcrdns-mismatch.test"]


async def test_mx_only_ptr_that_does_not_resolve_back_warns(ctx: ResolverContext) -> None:
    # The same role rule as a missing PTR: Gmail's FCrDNS rule is about sending IPs,
    # so an unconfirmed PTR cannot be worse than no PTR at all for an MX-only address.
    result = await check_fcrdns(ctx, "fcrdns-mismatch.test", AuditOptions())
    assert result.status is Status.WARN
    (finding,) = by_code(result)["fcrdns.not-confirmed"]
    assert finding.severity is Status.WARN
    assert "PTR mx.fcrdns-mismatch.test." in finding.fix
    # Named as a sending address too, the same address fails.
    sending = await check_fcrdns(ctx, "fcrdns-mismatch.test", AuditOptions(ips=("127.0.4.2",)))
    assert sending.status is Status.FAIL
    severities = {f.severity for f in by_code(sending)["fcrdns.not-confirmed"]}
    assert severities == {Status.WARN, Status.FAIL}


async def test_generic_provider_ptr_warns_even_when_confirmed(ctx: ResolverContext) -> None:
    result = await check_fcrdns(ctx, "fcrdns-generic.test", AuditOptions(ips=("192.0.2.30",)))
    assert result.status is Status.WARN
    assert len(by_code(result)["fcrdns.generic-ptr"]) == 2
    entry = host(result, "192.0.2.30", "sending")
    assert entry["forward_confirmed"] is True
    assert entry["generic"] is True


async def test_implicit_mx_is_checked_and_matches_its_name(ctx: ResolverContext) -> None:
    result = await check_fcrdns(ctx, "nomx.test", AuditOptions())
    assert result.status is Status.PASS
    assert host(result, "127.0.1.16", "mx")["matches_host"] is True


async def test_null_mx_without_ip_is_skipped(ctx: ResolverContext) -> None:
    result = await check_fcrdns(ctx, "nullmx.test", AuditOptions())
    assert result.status is Status.SKIP
    assert result.data == {"hosts": []}


async def test_null_mx_with_ip_checks_the_ip_only(ctx: ResolverContext) -> None:
    result = await check_fcrdns(ctx, "nullmx.test", AuditOptions(ips=("192.0.2.10",)))
    assert result.status is Status.PASS
    assert [h["role"] for h in result.data["hosts"]] == ["sending"]


async def test_ipv6_sending_address(ctx: ResolverContext) -> None:
    result = await check_fcrdns(ctx, "nullmx.test", AuditOptions(ips=("::1", "2001:db8::25")))
    assert host(result, "::1", "sending")["forward_confirmed"] is True
    assert host(result, "2001:db8::25", "sending")["ptr"] == []
    assert [f.code for f in result.findings] == ["fcrdns.no-ptr"]


async def test_dns_failures_are_errors_not_missing_ptrs(lab: Lab) -> None:
    ctx = lab.resolver(timeout=0.5, retries=0)
    # .40's PTR name never answers, .70's answers SERVFAIL; 198.51.100.0/24 has no
    # reverse zone in the lab, which REFUSES the question.
    ips = ("192.0.2.40", "192.0.2.70", "198.51.100.1")
    result = await check_fcrdns(ctx, "nullmx.test", AuditOptions(ips=ips))
    assert result.status is Status.ERROR
    errors = by_code(result)["fcrdns.dns-error"]
    assert len(errors) == 3
    assert all(f.severity is Status.ERROR for f in errors)
    assert "no answer" in host(result, "192.0.2.40", "sending")["error"]
    assert "SERVFAIL" in host(result, "192.0.2.70", "sending")["error"]
    assert "REFUSED" in host(result, "198.51.100.1", "sending")["error"]
    assert "fcrdns.no-ptr" not in by_code(result)
    # Nothing was checked: not "0 of 0 address(es) have forward-confirmed reverse DNS".
    assert result.summary == "reverse DNS could not be checked"


async def test_summary_leaves_failed_lookups_out_of_the_count(lab: Lab) -> None:
    ctx = lab.resolver(timeout=1.5, retries=0)
    result = await check_fcrdns(ctx, "nullmx.test", AuditOptions(ips=("192.0.2.10", "192.0.2.70")))
    assert result.summary == "1 address(es), all forward-confirmed; 1 could not be checked"
    failed = await check_fcrdns(ctx, "nullmx.test", AuditOptions(ips=("192.0.2.99", "192.0.2.70")))
    assert failed.summary == (
        "0 of 1 address(es) have forward-confirmed reverse DNS; 1 could not be checked"
    )


async def test_mx_lookup_failure_summary_says_nothing_was_checked(ctx: ResolverContext) -> None:
    result = await check_fcrdns(ctx, "servfail.test", AuditOptions())
    assert result.summary == "reverse DNS could not be checked"


async def test_mx_lookup_failure_is_an_error(ctx: ResolverContext) -> None:
    result = await check_fcrdns(ctx, "servfail.test", AuditOptions())
    assert result.status is Status.ERROR
    assert [f.code for f in result.findings] == ["fcrdns.dns-error"]


async def test_invalid_ip_is_reported_not_raised(ctx: ResolverContext) -> None:
    result = await check_fcrdns(ctx, "nullmx.test", AuditOptions(ips=("not-an-ip",)))
    assert [f.code for f in result.findings] == ["fcrdns.invalid-address"]
    assert result.status is Status.ERROR


async def test_reverse_dns_alone(ctx: ResolverContext) -> None:
    entry = await reverse_dns(ctx, "127.0.1.2", "mx", "mx2.good.test")
    assert entry.forward_confirmed
    assert entry.matches_host


@pytest.mark.parametrize(
    ("name", "address"),
    [
        ("192-0-2-10.dyn.example.net", "192.0.2.10"),
        ("10.2.0.192.static.example.net", "192.0.2.10"),
        ("host192000002010.example.net", "192.0.2.10"),
        ("c000020a.pool.example.net", "192.0.2.10"),
        ("dsl-2-10.example.net", "192.0.2.10"),
        ("2001-db8-0-0-0-0-0-25.ip6.example.net", "2001:db8::25"),
    ],
)
def test_generic_names(name: str, address: str) -> None:
    assert looks_generic(name, address)


@pytest.mark.parametrize(
    ("name", "address"),
    [
        ("mail.example.net", "192.0.2.10"),
        ("mx1.good.test", "127.0.1.1"),
        ("smtp-out-10.example.net", "192.0.2.10"),
        ("mail.example.net", "2001:db8::25"),
    ],
)
def test_specific_names(name: str, address: str) -> None:
    assert not looks_generic(name, address)


@given(st.text(max_size=80), st.one_of(st.ip_addresses().map(str), st.text(max_size=40)))
def test_looks_generic_never_raises(name: str, address: str) -> None:
    assert looks_generic(name, address) in (True, False)
