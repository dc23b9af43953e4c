"""What `mailscope probe` prints: JSON Lines per host and port, and a readable table whose
remote text can never inject terminal escapes or Rich markup."""

from __future__ import annotations

import io
import json

from console.auth.resolver import ResolverContext
from console.ports.model import Role
from console.ports.render import print_json_lines, print_report
from console.ports.runner import ProbeRequest, probe_targets, run_probe
from console.ports.targets import PortSpec, host_targets


async def test_json_lines_one_object_per_host_and_port_plus_run_findings(
    ctx: ResolverContext,
) -> None:
    report = await run_probe(ctx, ProbeRequest(mx_domain="ports-egress.test"), timeout=0.5)
    out = io.StringIO()
    print_json_lines(report, out)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(lines) == len(report.probes) + 1
    assert {(line["host"], line["well_known_port"]) for line in lines[:-1]} == {
        (host, port)
        for host in ("mx1.ports-egress.test", "mx2.ports-egress.test")
        for port in (25, 465, 587)
    }
    assert lines[-1]["findings"][0]["code"] == "ports.egress-25-blocked"


async def test_readable_output_escapes_hostile_banners(ctx: ResolverContext) -> None:
    targets = await host_targets(
        ctx, ["mx.ports-escape.test", "mx2.good.test"], [PortSpec(25, Role.RELAY)]
    )
    report = await probe_targets(ctx, targets, timeout=2)
    out = io.StringIO()
    print_report(report, out, width=240)
    text = out.getvalue()
    assert "\x1b" not in text
    assert "\x07" not in text
    assert "\x9b" not in text
    assert "\\x1b[2J" in text
    assert "[bold red]ALERT[/bold red]" in text
    assert "mx2.good.test" in text
    assert "ports.banner-control-characters" in text
    assert "fix " in text
