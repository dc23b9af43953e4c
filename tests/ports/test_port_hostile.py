"""Misbehaving lab servers: each becomes a finding within the timeout, never a hang or a crash.

All hostile hosts are probed once, concurrently, with a 1 s step timeout (the slow-greeting
host with 5 s, since it greets after 3.5 s): the module costs about the slowest probe.
Lab data: console/lab/smtp.py BAD_HOSTS; ports-egress.test's port 25 drops connections.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from console.lab import Lab
from console.lab.smtp import BAD_HOSTS
from console.model import Status
from console.ports.model import PortProbe, PortState, ProbeReport, Role
from console.ports.runner import ProbeRequest, probe_targets, run_probe
from console.ports.targets import PortSpec, host_targets

TIMEOUT = 1.0
ROLES = {25: Role.RELAY, 465: Role.SUBMISSIONS, 587: Role.SUBMISSION}


@pytest.fixture(scope="module")
def hostile(lab: Lab) -> dict[str, PortProbe]:
    async def run() -> tuple[ProbeReport, ProbeReport]:
        ctx = lab.resolver(timeout=2.0)
        targets = []
        for bad in BAD_HOSTS:
            spec = PortSpec(bad.port, ROLES[bad.port])
            targets += await host_targets(ctx, [bad.host], [spec], explicit_ports=True)
        fast = [t for t in targets if t.host != "mx.ports-slow.test"]
        slow = [t for t in targets if t.host == "mx.ports-slow.test"]
        return await asyncio.gather(
            probe_targets(ctx, fast, timeout=TIMEOUT), probe_targets(ctx, slow, timeout=5.0)
        )

    fast, slow = asyncio.run(run())
    return {probe.host.split(".", 1)[1]: probe for probe in [*fast.probes, *slow.probes]}


def codes(probe: PortProbe) -> dict[str, Status]:
    return {finding.code: finding.severity for finding in probe.findings}


@pytest.mark.parametrize(
    ("domain", "code", "severity"),
    [
        ("ports-nostarttls.test", "ports.no-starttls", Status.FAIL),
        ("ports-authplain.test", "ports.auth-before-tls", Status.FAIL),
        ("ports-expired.test", "ports.cert-expired", Status.FAIL),
        ("ports-expiring.test", "ports.cert-expiring", Status.WARN),
        ("ports-wrongname.test", "ports.cert-name-mismatch", Status.WARN),
        ("ports-selfsigned.test", "ports.cert-self-signed", Status.WARN),
        ("ports-tarpit.test", "ports.greeting-timeout", Status.FAIL),
        ("ports-hugebanner.test", "ports.reply-too-long", Status.FAIL),
        ("ports-escape.test", "ports.banner-control-characters", Status.WARN),
        ("ports-hangup.test", "ports.starttls-failed", Status.FAIL),
        ("ports-garbage.test", "ports.tls-failed", Status.FAIL),
        ("ports-plain465.test", "ports.plaintext-on-465", Status.FAIL),
        ("ports-multiline.test", "ports.reply-too-long", Status.FAIL),
        ("ports-slow.test", "ports.slow-greeting", Status.WARN),
        ("ports-banner.test", "ports.banner-mismatch", Status.WARN),
        ("ports-danebad.test", "ports.dane-mismatch", Status.WARN),
    ],
)
def test_each_mistake_is_its_finding(
    hostile: dict[str, PortProbe], domain: str, code: str, severity: Status
) -> None:
    probe = hostile[domain]
    assert codes(probe).get(code) == severity, probe.findings
    assert probe.status is Status.worst([Status.PASS, severity, *codes(probe).values()])
    finding = next(f for f in probe.findings if f.code == code)
    assert finding.fix, "every finding carries its fix"


def test_hostile_probes_end_within_the_timeout(hostile: dict[str, PortProbe]) -> None:
    for domain, probe in hostile.items():
        budget = 5.0 if domain == "ports-slow.test" else TIMEOUT
        # connect + greeting + (diagnostic peek) + EHLO + TLS: each step is capped; a hostile
        # step ends the probe, so one timeout (plus the hard-deadline margin) bounds it.
        assert probe.timings_ms["total"] < (budget + 3.0) * 1000, (domain, probe.timings_ms)
        assert probe.state is PortState.OPEN


def test_tarpit_costs_the_timeout_and_no_more(hostile: dict[str, PortProbe]) -> None:
    probe = hostile["ports-tarpit.test"]
    assert TIMEOUT * 1000 <= probe.timings_ms["banner"] < (TIMEOUT + 3.0) * 1000
    assert probe.banner is None
    assert probe.transcript[-1].text == f"no greeting within {TIMEOUT:g} s"


def test_huge_banner_is_cut_and_nothing_huge_is_kept(hostile: dict[str, PortProbe]) -> None:
    probe = hostile["ports-hugebanner.test"]
    assert len(json.dumps(probe.to_dict())) < 20_000


def test_escape_banner_is_kept_literally_for_safe_display(hostile: dict[str, PortProbe]) -> None:
    probe = hostile["ports-escape.test"]
    assert probe.banner is not None
    assert "\x1b[2J" in probe.banner
    assert "[bold red]" in probe.banner
    assert probe.banner_host == "mx.ports-escape.test"


def test_dane_in_an_unsigned_zone_is_reported_as_ignored(hostile: dict[str, PortProbe]) -> None:
    probe = hostile["ports-danebad.test"]
    assert probe.dane is not None
    assert probe.dane["dnssec"] == "insecure"
    assert probe.dane["match"] is False
    assert "ports.dane-insecure" in codes(probe)
    mismatch = next(f for f in probe.findings if f.code == "ports.dane-mismatch")
    assert "_25._tcp.mx.ports-danebad.test. 3600 IN TLSA 3 1 1 " in mismatch.fix


def test_plaintext_465_and_garbage_are_told_apart(hostile: dict[str, PortProbe]) -> None:
    plain = hostile["ports-plain465.test"]
    garbage = hostile["ports-garbage.test"]
    assert "ports.tls-failed" not in codes(plain)
    assert "ports.plaintext-on-465" not in codes(garbage)
    assert garbage.tls is not None
    assert garbage.tls.error


async def test_egress_block_is_diagnosed_on_the_lab_domain(lab: Lab) -> None:
    ctx = lab.resolver(timeout=2.0)
    report = await run_probe(ctx, ProbeRequest(mx_domain="ports-egress.test"), timeout=TIMEOUT)
    assert [f.code for f in report.findings] == ["ports.egress-25-blocked"]
    relay = [p for p in report.probes if p.role is Role.RELAY]
    assert len(relay) == 2
    assert all(p.state is PortState.FILTERED and p.status is Status.ERROR for p in relay)
    assert all([f.code for f in p.findings] == ["ports.filtered-egress"] for p in relay)
    submission = [p for p in report.probes if p.role is not Role.RELAY]
    assert submission
    assert all(p.status is Status.PASS for p in submission)
    assert report.elapsed_ms < (TIMEOUT + 1.0) * 1000


async def test_filtered_alone_is_the_remote_hosts_problem(lab: Lab) -> None:
    ctx = lab.resolver(timeout=2.0)
    targets = await host_targets(ctx, ["mx1.ports-egress.test"], [PortSpec(25, Role.RELAY)])
    report = await probe_targets(ctx, targets, timeout=0.5)
    (probe,) = report.probes
    assert report.findings == []
    assert probe.state is PortState.FILTERED
    assert [f.code for f in probe.findings] == ["ports.filtered"]
    # A default port (not asked for, not an MX's 25) that does not answer is noted only.
    assert probe.status is Status.SKIP
