"""Probing the lab's well-behaved SMTP servers with real aiosmtplib over loopback.

Lab data: good.test's MX (mx1 on 127.0.1.1 and ::1, mx2 on 127.0.1.2) speaks STARTTLS with
a certificate whose key the signed zone pins in TLSA `3 1 1`; its MTA-STS policy (enforce)
lists mx1.good.test and *.good.test. smtp.good.test (127.0.1.3) runs 465 and 587 with
AUTH only over TLS for demo@good.test / lab-password. ports-openrelay.test's MX relays.
"""

from __future__ import annotations

import json

from console.auth.resolver import ResolverContext
from console.lab.smtp import LAB_PASSWORD, LAB_USER
from console.model import Status
from console.ports.model import PortProbe, PortState, Role
from console.ports.probe import AuthTest
from console.ports.runner import ProbeRequest, exit_status, probe_targets, run_probe
from console.ports.targets import PortSpec, host_targets, parse_ports


def one(report, host: str, port: int, address: str | None = None) -> PortProbe:
    (probe,) = [
        p
        for p in report.probes
        if p.host == host
        and p.well_known_port == port
        and (address is None or p.address == address)
    ]
    return probe


def codes(probe: PortProbe) -> set[str]:
    return {finding.code for finding in probe.findings}


async def test_good_mx_passes_with_starttls_dane_and_mta_sts(ctx: ResolverContext) -> None:
    seen: list[PortProbe] = []
    report = await run_probe(
        ctx, ProbeRequest(mx_domain="good.test"), timeout=2, on_probe=seen.append
    )
    assert len(seen) == len(report.probes) == 9  # 3 addresses x 3 ports
    assert report.status is Status.PASS
    assert exit_status(report) == 0
    for address in ("127.0.1.1", "::1"):
        probe = one(report, "mx1.good.test", 25, address)
        assert (probe.state, probe.status, probe.findings) == (PortState.OPEN, Status.PASS, [])
        assert probe.family == ("ipv6" if address == "::1" else "ipv4")
        assert probe.banner_host == "mx1.good.test"
        assert probe.ptr == ["mx1.good.test"]
        assert probe.starttls is True
        assert probe.extensions_before_tls.get("STARTTLS") == ""
        assert "STARTTLS" not in probe.extensions  # after TLS, it is no longer offered
        assert probe.tls is not None
        assert probe.tls.version in ("TLSv1.2", "TLSv1.3")
        cert = probe.tls.certificate
        assert cert is not None
        assert cert.trusted
        assert cert.hostname_match
        assert probe.dane is not None
        assert probe.dane["dnssec"] == "secure"
        assert probe.dane["match"] is True
        assert probe.mta_sts == {
            "mode": "enforce",
            "patterns": ["mx1.good.test", "*.good.test"],
            "matches": True,
            "policy_url": "https://mta-sts.good.test/.well-known/mta-sts.txt",
        }
        assert {"connect", "banner", "ehlo", "starttls", "ehlo_tls", "total"} <= set(
            probe.timings_ms
        )
    # MX hosts need not run submission: a refused default 465/587 is noted, not failed.
    refused = one(report, "mx2.good.test", 465)
    assert (refused.state, refused.status) == (PortState.REFUSED, Status.SKIP)


async def test_transcript_records_the_conversation_in_order(ctx: ResolverContext) -> None:
    targets = await host_targets(ctx, ["mx2.good.test"], [PortSpec(25, Role.RELAY)])
    report = await probe_targets(ctx, targets, timeout=2)
    lines = [(line.direction, line.text) for line in report.probes[0].transcript]
    clients = [text for direction, text in lines if direction == "C"]
    assert clients == ["EHLO mailscope.invalid", "STARTTLS", "EHLO mailscope.invalid", "QUIT"]
    assert lines[2][0] == "S"
    assert lines[2][1].startswith("220 mx2.good.test")
    assert any(d == "*" and text.startswith("TLS established: TLSv1") for d, text in lines)
    stamps = [line.at_ms for line in report.probes[0].transcript]
    assert stamps == sorted(stamps)


async def test_submission_ports_offer_auth_only_over_tls(ctx: ResolverContext) -> None:
    report = await run_probe(
        ctx,
        ProbeRequest(hosts=["smtp.good.test"], ports=parse_ports("465,587"), explicit_ports=True),
        timeout=2,
    )
    assert report.status is Status.PASS
    starttls = one(report, "smtp.good.test", 587)
    assert starttls.auth_before_tls == []
    assert starttls.auth_after_tls == ["LOGIN", "PLAIN", "XOAUTH2"]
    implicit = one(report, "smtp.good.test", 465)
    assert implicit.starttls is None  # not applicable with implicit TLS
    assert implicit.tls is not None
    assert implicit.tls.certificate is not None
    assert implicit.tls.certificate.hostname_match is True
    assert implicit.auth_after_tls == ["LOGIN", "PLAIN", "XOAUTH2"]
    assert implicit.to_dict()["auth"] == ["LOGIN", "PLAIN", "XOAUTH2"]


async def test_auth_test_logs_in_and_never_records_the_password(ctx: ResolverContext) -> None:
    targets = await host_targets(
        ctx, ["smtp.good.test"], parse_ports("587,465"), explicit_ports=True
    )
    good = await probe_targets(ctx, targets, timeout=2, auth_test=AuthTest(LAB_USER, LAB_PASSWORD))
    for probe in good.probes:
        assert probe.auth_test == {
            "attempted": True,
            "mechanism": "PLAIN",
            "success": True,
            "reply": "235 2.7.0 Authentication successful",
        }
        dumped = json.dumps(probe.to_dict())
        assert LAB_PASSWORD not in dumped
        assert "AUTH PLAIN [credentials redacted]" in dumped
    bad = await probe_targets(ctx, targets[:1], timeout=2, auth_test=AuthTest(LAB_USER, "wrong-pw"))
    (probe,) = bad.probes
    assert probe.auth_test is not None
    assert probe.auth_test["success"] is False
    assert "ports.auth-failed" in codes(probe)
    assert "wrong-pw" not in json.dumps(probe.to_dict())
    assert "wrong-pw" not in repr(AuthTest(LAB_USER, "wrong-pw"))


async def test_no_credentials_and_no_relay_attempt_unless_asked(ctx: ResolverContext) -> None:
    targets = await host_targets(ctx, ["smtp.good.test"], parse_ports("587"))
    report = await probe_targets(ctx, targets, timeout=2)
    sent = [line.text for line in report.probes[0].transcript if line.direction == "C"]
    assert not any(text.startswith(("AUTH", "MAIL", "RCPT")) for text in sent)
    assert report.probes[0].auth_test is None
    assert report.probes[0].relay is None


async def test_relay_test_refused_by_good_mx_and_found_on_open_relay(ctx: ResolverContext) -> None:
    hosts = ["mx2.good.test", "mx.ports-openrelay.test"]
    targets = await host_targets(ctx, hosts, [PortSpec(25, Role.RELAY)], explicit_ports=True)
    report = await probe_targets(ctx, targets, timeout=2, relay_test=True)
    good = one(report, "mx2.good.test", 25)
    assert good.relay is not None
    assert good.relay["accepted"] is False
    assert good.relay["reply"].startswith("554 5.7.1")
    assert good.status is Status.PASS
    relay = one(report, "mx.ports-openrelay.test", 25)
    assert relay.relay is not None
    assert relay.relay["accepted"] is True
    assert "ports.open-relay" in codes(relay)
    assert relay.status is Status.FAIL
    sent = [line.text for line in relay.transcript if line.direction == "C"]
    assert "DATA" not in sent
    assert "RSET" in sent


async def test_json_has_the_design_shape(ctx: ResolverContext) -> None:
    targets = await host_targets(ctx, ["mx2.good.test"], [PortSpec(25, Role.RELAY)])
    report = await probe_targets(ctx, targets, timeout=2)
    out = report.probes[0].to_dict()
    assert json.loads(json.dumps(out)) == out
    assert {
        "host",
        "port",
        "role",
        "status",
        "findings",
        "banner",
        "tls",
        "auth",
        "timings_ms",
    } <= set(out)
    assert out["role"] == "25"
    assert out["well_known_port"] == 25
    assert out["port"] != 25
    assert set(out["tls"]["certificate"]) >= {
        "subject",
        "sans",
        "days_left",
        "trusted",
        "hostname_match",
    }
