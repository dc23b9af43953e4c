"""Targets: `--ports` parsing with role suffixes, and hosts/MX hosts to (address, port) pairs.

Lab data: mx1.good.test has 127.0.1.1 and ::1, mx2.good.test 127.0.1.2; the lab's 25/465/587
are free high ports published in the service map; nullmx.test publishes `MX 0 .`.
"""

from __future__ import annotations

import pytest

from console.auth.resolver import ResolverContext
from console.lab import Lab
from console.model import Status
from console.ports.model import Role
from console.ports.targets import (
    DEFAULT_PORTS,
    PortSpec,
    host_targets,
    mx_targets,
    parse_ports,
    submission_ports,
)


def test_parse_ports_maps_roles_by_number_and_suffix() -> None:
    specs = parse_ports("25, 465,587,2525/starttls,2465/tls,2587/submission,26")
    assert specs == [
        PortSpec(25, Role.RELAY),
        PortSpec(465, Role.SUBMISSIONS),
        PortSpec(587, Role.SUBMISSION),
        PortSpec(2525, Role.RELAY),
        PortSpec(2465, Role.SUBMISSIONS),
        PortSpec(2587, Role.SUBMISSION),
        PortSpec(26, Role.RELAY),  # a bare unknown number is probed as STARTTLS relay
    ]
    assert [str(spec) for spec in specs][3:5] == ["2525/starttls", "2465/tls"]


def test_parse_ports_can_map_a_role_onto_a_well_known_number() -> None:
    assert parse_ports("587/tls,25,25") == [
        PortSpec(587, Role.SUBMISSIONS),
        PortSpec(25, Role.RELAY),
    ]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "no port"),
        (" , ", "no port"),
        ("0", "1 to 65535"),
        ("65536", "1 to 65535"),
        ("25x", "1 to 65535"),
        ("2525/quic", "unknown role"),
        (",".join(str(p) for p in range(1000, 1040)), "at most"),
    ],
)
def test_parse_ports_rejects_bad_input_with_a_reason(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_ports(text)


def test_submission_ports_follow_the_profile_port() -> None:
    assert submission_ports(465) == [PortSpec(465, Role.SUBMISSIONS)]
    assert submission_ports(587) == [PortSpec(587, Role.SUBMISSION)]


async def test_host_with_ipv4_and_ipv6_gives_one_target_per_address_and_port(
    ctx: ResolverContext, lab: Lab
) -> None:
    targets = await host_targets(ctx, ["MX1.good.test."], DEFAULT_PORTS)
    assert [(t.address, t.family, t.well_known_port) for t in targets] == [
        ("127.0.1.1", "ipv4", 25),
        ("::1", "ipv6", 25),
        ("127.0.1.1", "ipv4", 465),
        ("::1", "ipv6", 465),
        ("127.0.1.1", "ipv4", 587),
        ("::1", "ipv6", 587),
    ]
    assert {t.host for t in targets} == {"mx1.good.test"}
    # The lab's real ports, from the service map; none of them is expected (defaults).
    assert {t.port for t in targets if t.well_known_port == 25} == {lab.ports[25]}
    assert not any(t.expected for t in targets)


async def test_explicit_ports_are_expected_and_ip_literals_skip_dns(ctx: ResolverContext) -> None:
    targets = await host_targets(
        ctx, ["127.0.0.1"], parse_ports("2525/starttls"), explicit_ports=True
    )
    assert len(targets) == 1
    (target,) = targets
    assert (target.address, target.port, target.role, target.expected) == (
        "127.0.0.1",
        2525,
        Role.RELAY,
        True,
    )


async def test_host_without_address_gives_an_error_target(ctx: ResolverContext) -> None:
    targets = await host_targets(ctx, ["nothing-here.good.test"], [PortSpec(25, Role.RELAY)])
    (target,) = targets
    assert target.address is None
    assert "no A or AAAA" in (target.error or "")
    assert not target.lookup_failed


async def test_mx_targets_cover_every_mx_host_and_expect_port_25(
    ctx: ResolverContext,
) -> None:
    result = await mx_targets(ctx, "good.test")
    assert result.findings == []
    relay = [t for t in result.targets if t.role is Role.RELAY]
    assert [(t.host, t.address) for t in relay] == [
        ("mx1.good.test", "127.0.1.1"),
        ("mx1.good.test", "::1"),
        ("mx2.good.test", "127.0.1.2"),
    ]
    assert all(t.expected and t.mx_domain == "good.test" for t in relay)
    assert not any(t.expected for t in result.targets if t.role is not Role.RELAY)


async def test_mx_targets_report_null_mx_and_dns_failure(lab: Lab) -> None:
    ctx = lab.resolver(timeout=1.5, retries=0)
    null = await mx_targets(ctx, "nullmx.test")
    assert null.targets == []
    assert [(f.code, f.severity) for f in null.findings] == [("ports.null-mx", Status.SKIP)]
    failed = await mx_targets(ctx, "servfail.test")
    assert [(f.code, f.severity) for f in failed.findings] == [
        ("ports.mx-lookup-failed", Status.ERROR)
    ]
    bad = await mx_targets(ctx, "not a domain")
    assert bad.findings[0].code == "ports.bad-domain"
