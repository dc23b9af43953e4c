"""Printing a probe run for `mailscope probe`: a table per host, then findings and fixes.

For scripts, `--json` prints one object per host and port (`PortProbe.to_dict()`), then
one object for the run when it has findings of its own (the egress diagnosis, an MX
lookup that failed). Remote text (banners, replies) always goes through `literal`.
"""

from __future__ import annotations

import json
import sys
from itertools import groupby
from typing import Any, TextIO

from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from console.model import Finding, Status
from console.output import STATUS_MARK, STATUS_STYLE, badge, literal
from console.ports.model import PortProbe, PortState, ProbeReport


def run_record(report: ProbeReport) -> dict[str, Any]:
    """The run-level JSON line: target, status, run findings, elapsed time."""
    return {
        "target": report.target,
        "status": report.status.value,
        "findings": [finding.to_dict() for finding in report.findings],
        "elapsed_ms": round(report.elapsed_ms, 1),
    }


def print_json_lines(report: ProbeReport, stream: TextIO | None = None) -> None:
    out = stream or sys.stdout
    for probe in report.probes:
        out.write(json.dumps(probe.to_dict(), ensure_ascii=False) + "\n")
    if report.findings or not report.probes:
        out.write(json.dumps(run_record(report), ensure_ascii=False) + "\n")
    out.flush()


def _port_cell(probe: PortProbe) -> Text:
    text = Text(str(probe.well_known_port or probe.port))
    if probe.well_known_port and probe.well_known_port != probe.port:
        text.append(f" ({probe.port})", style="dim")
    return text


def _tls_cell(probe: PortProbe) -> Text:
    if probe.tls is None:
        return Text("no STARTTLS" if probe.starttls is False else "-", style="dim")
    if probe.tls.version is None:
        return Text("failed", style="red")
    return Text(probe.tls.version.replace("TLSv", "TLS "))


def _cert_cell(probe: PortProbe) -> Text:
    cert = probe.tls.certificate if probe.tls else None
    if cert is None:
        return Text("-", style="dim")
    if cert.trust_error == "expired":
        return Text("expired", style="red")
    problems = []
    if cert.self_signed and not cert.trusted:
        problems.append("self-signed")
    elif not cert.trusted:
        problems.append("untrusted")
    if cert.hostname_match is False:
        problems.append("wrong name")
    days = f"{cert.days_left}d" if cert.days_left is not None else ""
    if problems:
        return Text(", ".join(problems) + f" {days}".rstrip(), style="yellow")
    return Text(f"ok {days}".rstrip())


def _auth_cell(probe: PortProbe) -> Text:
    if probe.auth_before_tls:
        return Text("before TLS: " + " ".join(probe.auth_before_tls), style="red")
    return Text(" ".join(probe.auth_after_tls) or "-")


def _state_cell(probe: PortProbe) -> Text:
    if probe.state is PortState.OPEN:
        return badge(probe.status)
    # Not open: the state says more than the status ("refused" rather than "skip").
    mark = STATUS_MARK[probe.status]
    return Text(f"{mark} {probe.state.value}", style=STATUS_STYLE[probe.status])


def _finding_rows(findings: list[Finding], console: Console, indent: int = 2) -> None:
    for finding in findings:
        if finding.severity in (Status.PASS, Status.SKIP):
            continue
        grid = Table.grid(padding=(0, 1))
        grid.add_column(no_wrap=True)
        grid.add_column()
        grid.add_row(
            Text(STATUS_MARK[finding.severity], style=STATUS_STYLE[finding.severity]),
            Text.assemble((finding.code, "bold"), "  ", literal(finding.message)),
        )
        if finding.fix:
            fix = Text("\n").join(literal(line) for line in finding.fix.splitlines())
            grid.add_row("", Text.assemble(("fix ", "bold cyan"), fix))
        console.print(Padding(grid, (0, 0, 0, indent)))


def print_report(
    report: ProbeReport, stream: TextIO | None = None, *, width: int | None = None
) -> None:
    """A table per host (one row per address and port), then its findings with fixes."""
    console = Console(file=stream or sys.stdout, highlight=False, soft_wrap=False, width=width)
    console.print(
        Text.assemble(
            ("probe ", "bold"),
            literal(report.target),
            "  ",
            badge(report.status),
            (f"  ({report.elapsed_ms / 1000:.1f} s)", "dim"),
        )
    )
    console.print()
    for host, group in groupby(report.probes, key=lambda probe: probe.host):
        probes = list(group)
        table = Table(title=literal(host), title_justify="left", show_edge=False, pad_edge=False)
        for column in ("port", "address", "status", "TLS", "certificate", "AUTH", "ms"):
            table.add_column(column, no_wrap=column != "certificate")
        for probe in probes:
            table.add_row(
                _port_cell(probe),
                literal(probe.address or "-"),
                _state_cell(probe),
                _tls_cell(probe),
                _cert_cell(probe),
                _auth_cell(probe),
                f"{probe.timings_ms.get('total', 0):.0f}",
            )
        console.print(table)
        banners = dict.fromkeys(p.banner.split("\n")[0] for p in probes if p.banner)
        for banner in banners:
            console.print(Text.assemble(("  banner ", "dim"), literal(banner[:200])))
        seen: set[tuple[str, str]] = set()
        unique: list[Finding] = []
        for probe in probes:
            for finding in probe.findings:
                key = (finding.code, finding.message)
                if key not in seen:
                    seen.add(key)
                    unique.append(finding)
        if any(f.severity not in (Status.PASS, Status.SKIP) for f in unique):
            console.print()
        _finding_rows(unique, console)
        console.print()
    if report.findings:
        _finding_rows(report.findings, console, indent=0)
        console.print()
