"""Printing reports for people (Rich tables, colours, fixes) and for scripts (JSON Lines)."""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from console.literal import printable
from console.model import Report, Status

STATUS_STYLE = {
    Status.PASS: "bold green",
    Status.WARN: "bold yellow",
    Status.FAIL: "bold red",
    Status.ERROR: "bold magenta",
    Status.SKIP: "dim",
}

STATUS_MARK = {
    Status.PASS: "✓",
    Status.WARN: "!",
    Status.FAIL: "✗",
    Status.ERROR: "?",
    Status.SKIP: "-",
}


def badge(status: Status) -> Text:
    return Text(f"{STATUS_MARK[status]} {status.value}", style=STATUS_STYLE[status])


def literal(text: str) -> Text:
    """Remote text as a Rich Text: never parsed as markup, controls escaped."""
    return Text(printable(text))


class ReportPrinter:
    """Prints each Report as it arrives: JSON Lines for scripts, a table for people."""

    def __init__(self, *, json_lines: bool, stream: TextIO | None = None) -> None:
        self.json_lines = json_lines
        self.stream = stream or sys.stdout
        self.console = Console(file=self.stream, highlight=False, soft_wrap=False)
        self.errors = Console(file=sys.stderr, highlight=False, soft_wrap=True)

    def print(self, report: Report) -> None:
        if self.json_lines:
            self.stream.write(json.dumps(report.to_dict(), ensure_ascii=False) + "\n")
            self.stream.flush()
            return
        self._print_human(report)

    def _print_human(self, report: Report) -> None:
        console = self.console
        title = Text.assemble(literal(report.domain), "  ", badge(report.status))
        if report.error:
            # Could not audit at all (a typo, a name that does not exist): one line on
            # stderr, like every other error, while other domains' reports go on.
            self.errors.print(Text.assemble("mailscope: ", literal(report.error)))
            return
        table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
        table.add_column("check", no_wrap=True)
        table.add_column("status", no_wrap=True)
        table.add_column("summary")
        for check in report.checks:
            table.add_row(check.id, badge(check.status), literal(check.summary))
        console.print(table)
        problems = [
            finding
            for check in report.checks
            for finding in check.findings
            if finding.severity not in (Status.PASS, Status.SKIP)
        ]
        if problems:
            console.print()
        for finding in problems:
            grid = Table.grid(padding=(0, 1))
            grid.add_column(no_wrap=True)
            grid.add_column(overflow="fold")
            grid.add_row(
                Text(STATUS_MARK[finding.severity], style=STATUS_STYLE[finding.severity]),
                Text.assemble((finding.code, "bold"), "  ", literal(finding.message)),
            )
            console.print(Padding(grid, (0, 0, 0, 2)))
            record = finding.record
            if finding.fix and (not record or finding.fix.strip() != record.strip()):
                # Unwrapped, so a record can be copied from the terminal whole.
                console.print(Text("    fix:", style="bold cyan"))
                for line in finding.fix.splitlines():
                    console.print(Text("    ") + literal(line), soft_wrap=True)
            if record:
                # The exact record (or file body) on its own lines, nothing else on them.
                console.print(Text("    publish:", style="bold cyan"))
                for line in record.splitlines():
                    console.print(Text("    ") + literal(line), soft_wrap=True)
        console.print()


def print_spf_verdict(verdict: Any, *, ip: str, domain: str, stream: TextIO | None = None) -> None:
    console = Console(file=stream or sys.stdout, highlight=False)
    style = "bold green" if verdict.result == "pass" else "bold red"
    console.print(
        Text.assemble(
            (verdict.result, style),
            "  ",
            literal(f"{ip} for {domain}"),
            ("  (", "dim"),
            literal(verdict.mechanism or "no mechanism matched"),
            (f", {verdict.lookups} DNS lookups)", "dim"),
        )
    )
    if verdict.explanation:
        console.print(Text.assemble(("  ", ""), literal(verdict.explanation)))
