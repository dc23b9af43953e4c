"""MX: the reusable mx_hosts helper and the check, over the wire against the lab."""

from __future__ import annotations

import pytest

from console.auth.mx import check_mx, is_null_mx, mx_hosts, mx_line
from console.auth.options import AuditOptions
from console.lab import Lab
from console.model import Status


def codes(result) -> set[str]:
    return {finding.code for finding in result.findings}


def finding(result, code: str):
    return next(f for f in result.findings if f.code == code)


async def test_mx_hosts_resolves_every_target_in_preference_order(ctx) -> None:
    result = await mx_hosts(ctx, "good.test")
    assert [(h.preference, h.host) for h in result.hosts] == [
        (10, "mx1.good.test"),
        (20, "mx2.good.test"),
    ]
    assert sorted(result.hosts[0].addresses) == ["127.0.1.1", "::1"]
    assert result.hosts[1].addresses == ["127.0.1.2"]
    assert result.accepts_mail
    assert not result.null_mx
    assert not result.implicit
    assert not result.failed


async def test_host_addresses_are_asked_concurrently(ctx) -> None:
    await mx_hosts(ctx, "good.test")
    # The MX answer, then every host's A and AAAA in one round.
    assert ctx.stats.max_depth == 2
    assert ctx.stats.queries == 5


async def test_second_call_is_answered_from_the_audit_cache(ctx) -> None:
    await mx_hosts(ctx, "good.test")
    asked = ctx.stats.queries
    again = await mx_hosts(ctx, "good.test")
    assert ctx.stats.queries == asked
    assert again.hosts[0].host == "mx1.good.test"


async def test_good_domain_passes(ctx) -> None:
    result = await check_mx(ctx, "good.test", AuditOptions())
    assert result.status is Status.PASS
    assert result.findings == []
    assert result.data["null_mx"] is False
    assert result.data["implicit"] is False
    first = result.data["records"][0]
    assert (first["preference"], first["host"], first["cname"]) == (10, "mx1.good.test", None)


async def test_null_mx_passes_with_an_explanation(ctx) -> None:
    hosts = await mx_hosts(ctx, "nullmx.test")
    assert hosts.null_mx
    assert hosts.hosts == []
    assert not hosts.accepts_mail
    assert is_null_mx(hosts.lookup)
    result = await check_mx(ctx, "nullmx.test", AuditOptions())
    assert result.status is Status.PASS
    assert codes(result) == {"mx.null"}
    assert result.data["null_mx"] is True
    assert result.data["records"][0]["host"] == "."


async def test_null_mx_beside_real_mx_fails(ctx) -> None:
    hosts = await mx_hosts(ctx, "mx-nullmixed.test")
    assert not hosts.null_mx
    assert [h.host for h in hosts.hosts] == ["mx.mx-nullmixed.test"]
    assert hosts.null_preferences == [0]
    result = await check_mx(ctx, "mx-nullmixed.test", AuditOptions())
    assert result.status is Status.FAIL
    assert codes(result) == {"mx.null-mixed"}
    assert "mx-nullmixed.test. 3600 IN MX 0 ." in finding(result, "mx.null-mixed").fix


async def test_null_mx_with_non_zero_preference_is_malformed(ctx) -> None:
    result = await check_mx(ctx, "mx-nullbad.test", AuditOptions())
    assert result.status is Status.FAIL
    assert codes(result) == {"mx.null-malformed"}
    assert result.data["null_mx"] is False


async def test_no_mx_with_an_address_is_an_implicit_mx(ctx) -> None:
    hosts = await mx_hosts(ctx, "nomx.test")
    assert hosts.implicit
    assert [(h.preference, h.host, h.addresses) for h in hosts.hosts] == [
        (0, "nomx.test", ["127.0.1.16"])
    ]
    result = await check_mx(ctx, "nomx.test", AuditOptions())
    assert result.status is Status.WARN
    assert codes(result) == {"mx.implicit"}
    assert result.data["implicit"] is True


async def test_no_mx_and_no_address_cannot_receive_mail(ctx) -> None:
    result = await check_mx(ctx, "mx-none.test", AuditOptions())
    assert result.status is Status.FAIL
    missing = finding(result, "mx.missing")
    assert "DMARC reports" in missing.message
    assert "bounces" in missing.message
    assert "mx-none.test. 3600 IN MX 0 ." in missing.fix
    assert result.data["records"] == []


async def test_nonexistent_domain_is_missing(ctx) -> None:
    result = await check_mx(ctx, "no-such-domain.test", AuditOptions())
    assert codes(result) == {"mx.missing"}
    assert "NXDOMAIN" in result.findings[0].message


async def test_cname_target_warns_and_names_the_canonical_host(ctx) -> None:
    hosts = await mx_hosts(ctx, "mx-cname.test")
    (host,) = hosts.hosts
    assert (host.host, host.cname, host.addresses) == (
        "mail.mx-cname.test",
        "host.mx-cname.test",
        ["127.0.4.16"],
    )
    result = await check_mx(ctx, "mx-cname.test", AuditOptions())
    assert result.status is Status.WARN
    assert finding(result, "mx.cname").fix.endswith("IN MX 10 host.mx-cname.test.")
    assert result.data["records"][0]["cname"] == "host.mx-cname.test"


async def test_ip_literal_target_fails_without_being_looked_up(ctx) -> None:
    hosts = await mx_hosts(ctx, "mx-ipliteral.test")
    (host,) = hosts.hosts
    assert host.ip_literal
    assert host.addresses == []
    assert not host.usable
    assert ctx.stats.queries == 1
    result = await check_mx(ctx, "mx-ipliteral.test", AuditOptions())
    assert result.status is Status.FAIL
    assert codes(result) == {"mx.ip-literal"}


async def test_only_target_unresolvable_fails(ctx) -> None:
    result = await check_mx(ctx, "mx-unresolvable.test", AuditOptions())
    assert result.status is Status.FAIL
    assert codes(result) == {"mx.unresolvable"}
    assert result.data["records"][0]["error"]


async def test_dead_backup_target_only_warns(ctx) -> None:
    result = await check_mx(ctx, "mx-partial.test", AuditOptions())
    assert result.status is Status.WARN
    unresolvable = finding(result, "mx.unresolvable")
    assert "mx2.mx-partial.test" in unresolvable.message
    assert unresolvable.fix.endswith("`mx-partial.test. 3600 IN MX 20 mx2.mx-partial.test.`.")
    # DNS alone cannot tell a host is reachable: the summary says only what was checked.
    assert result.summary == (
        "2 MX host(s), 1 with addresses: 10 mx1.mx-partial.test, 20 mx2.mx-partial.test"
    )
    assert "reachable" not in result.summary


async def test_more_than_ten_mx_is_noted_for_spf(ctx) -> None:
    result = await check_mx(ctx, "mx-many.test", AuditOptions())
    assert result.status is Status.WARN
    assert codes(result) == {"mx.too-many"}
    assert len(result.data["records"]) == 11


async def test_servfail_is_an_error_not_missing(ctx) -> None:
    result = await check_mx(ctx, "servfail.test", AuditOptions())
    assert result.status is Status.ERROR
    assert codes(result) == {"mx.dns-error"}
    assert "SERVFAIL" in result.findings[0].message
    assert (await mx_hosts(ctx, "servfail.test")).failed


async def test_timeout_is_an_error(lab: Lab) -> None:
    ctx = lab.resolver(timeout=0.3, retries=0)
    result = await check_mx(ctx, "silent.test", AuditOptions())
    assert result.status is Status.ERROR
    assert "no answer" in result.findings[0].message


@pytest.mark.parametrize(
    ("preference", "host", "line"),
    [
        (10, "mail.example.com", "example.com. 3600 IN MX 10 mail.example.com."),
        (0, ".", "example.com. 3600 IN MX 0 ."),
    ],
)
def test_mx_line_is_a_zone_file_line(preference: int, host: str, line: str) -> None:
    assert mx_line("example.com", preference, host) == line
