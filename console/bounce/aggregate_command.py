"""`mailscope dmarc-report FILE...`: read DMARC aggregate reports, say what failed and why.

Kept import-light: argparse only at import time; the parser, DNS and Rich load when the
command runs. cli.py adds the common resolver options (`--nameserver`, `--timeout`,
`--lab`, `--json`, `--config`) with its own `_add_resolver_options`; `add_arguments(...,
common=True)` adds equivalent ones for standalone use (tests, other front ends).

Output: with `--json`, one object per report (a zip of two reports gives two), then one
`{"file": ..., "error": ...}` object per file or member skipped, then a last line
`{"summary": {...}}`. Without, a table per report and a summary: sources by volume with
their reverse DNS, the top failing sources with the main reason, and the policy of each
domain.

Exit status: 0 when every message in the reports passed DMARC; 1 when some failed
(whatever the policy: p=none failures are still mail a stricter policy would lose);
2 when no file could be read as a report, or for a usage error. Files skipped next to
readable ones are reported on stderr and do not change the status.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TextIO

if TYPE_CHECKING:
    from console.auth.resolver import ResolverContext
    from console.bounce.aggregate import Ptr, ReportResult, Summary

EXIT_OK, EXIT_FAIL, EXIT_ERROR = 0, 1, 2

ResolverFactory = Callable[[], AbstractContextManager["ResolverContext"]]

MAX_ROWS_SHOWN = 50
"""Rows printed per report in the human view (all of them are in --json)."""


def _top(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 1000:
        raise argparse.ArgumentTypeError("--top takes 1 to 1000")
    return int(text)


def add_arguments(parser: argparse.ArgumentParser, *, common: bool = False) -> None:
    """The `dmarc-report` subcommand's own arguments (`common`: also the resolver options)."""
    parser.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="aggregate report: .xml, .xml.gz, .zip, a folder of them, or - for stdin",
    )
    parser.add_argument(
        "--no-rdns",
        action="store_true",
        help="do not look up the reverse DNS (PTR) of the source addresses",
    )
    parser.add_argument(
        "--tree-walk",
        action="store_true",
        help="find Organizational Domains for relaxed alignment with the RFC 9989 DNS tree "
        "walk (today's records) instead of the offline last-two-labels rule",
    )
    parser.add_argument(
        "--top",
        type=_top,
        default=10,
        metavar="N",
        help="sources listed in the summary's tables (default 10)",
    )
    if not common:
        return
    parser.add_argument("--nameserver", action="append", default=[], metavar="HOST[:PORT]")
    parser.add_argument("--timeout", type=float, default=None, metavar="SECONDS")
    parser.add_argument("--lab", action="store_true", help="ask the embedded lab's DNS")
    parser.add_argument("--json", action="store_true", help="print one JSON object per line")
    parser.add_argument("--config", type=Path, metavar="FILE", help="configuration file")


def run(
    args: argparse.Namespace,
    resolver_factory: ResolverFactory | None,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    stdin: BinaryIO | None = None,
) -> int:
    """Run the command.

    Args:
        args: parsed by a parser that `add_arguments` (and the resolver options) filled.
        resolver_factory: returns a context manager yielding the ResolverContext to ask
            (cli.py: `lambda: _resolver_context(args, _load_config(args))`, which picks
            the lab's, --nameserver's, the profile's or the system's); called only when
            DNS is needed. None when there is no DNS to ask: then --no-rdns is required.
    Raises:
        MailscopeError: a usage error (the CLI prints it and exits 2).
    """
    import asyncio

    from console.bounce.aggregate import (
        analyse,
        attach_ptrs,
        load_reports,
        mark_duplicates,
        org_domain_lookup,
        simple_org_domain,
        summarise,
    )
    from console.bounce.aggregate_input import Problem
    from console.literal import printable

    out = stdout or sys.stdout
    err = stderr or sys.stderr
    loaded = []
    problems: list[Problem] = []
    for item in load_reports(args.files, stdin=stdin):
        if isinstance(item, Problem):
            problems.append(item)
            print(f"mailscope: {printable(str(item))}", file=err)
        else:
            loaded.append(item)
    if not loaded:
        what = "no DMARC aggregate report could be read"
        print(f"mailscope: {what}" + (f" ({len(problems)} skipped)" if problems else ""), file=err)
        if getattr(args, "json", False):
            for problem in problems:
                out.write(json.dumps({"file": problem.source, "error": problem.message}) + "\n")
        return EXIT_ERROR

    ptrs: dict[str, Ptr] = {}
    org = simple_org_domain
    want_dns = not args.no_rdns or args.tree_walk
    if want_dns:
        if resolver_factory is None:
            from console.errors import MailscopeError

            raise MailscopeError("no resolver", "give --no-rdns (and no --tree-walk)")
        with resolver_factory() as ctx:
            known, ptrs = asyncio.run(_ask_dns(ctx, loaded, args))
        if args.tree_walk:
            org = org_domain_lookup(known)
    results = [analyse(item.source, item.report, org, file=item.file) for item in loaded]
    mark_duplicates(results)
    attach_ptrs(results, ptrs)
    summary = summarise(results, problems, ptrs)
    if getattr(args, "json", False):
        for result in results:
            out.write(json.dumps(result.to_dict(), ensure_ascii=False) + "\n")
        for problem in problems:
            out.write(
                json.dumps({"file": problem.source, "error": problem.message}, ensure_ascii=False)
                + "\n"
            )
        out.write(json.dumps({"summary": summary.to_dict(args.top)}, ensure_ascii=False) + "\n")
        out.flush()
    else:
        print_human(results, summary, out, top=args.top, rdns=not args.no_rdns)
    return EXIT_FAIL if summary.failed else EXIT_OK


async def _ask_dns(
    ctx: ResolverContext, loaded: Sequence[Any], args: argparse.Namespace
) -> tuple[dict[str, str], dict[str, Ptr]]:
    """Tree walks and PTR lookups, all at once: one DNS wave, not one per report."""
    from console.bounce.aggregate import reverse_names, walk_org_domains

    async def nothing_walked() -> dict[str, str]:
        return {}

    async def nothing_reversed() -> dict[str, Ptr]:
        return {}

    names: set[str] = set()
    addresses: set[str] = set()
    for item in loaded:
        for record in item.report.records:
            addresses.add(record.source_ip)
            names.add(record.header_from)
            names.update(d.domain for d in record.dkim_results if d.domain)
            names.update(s.domain for s in record.spf_results if s.domain)
    walked = walk_org_domains(ctx, names) if args.tree_walk else nothing_walked()
    reversed_ = reverse_names(ctx, addresses) if not args.no_rdns else nothing_reversed()
    try:
        known, ptrs = await ctx.gather(walked, reversed_)
    finally:
        ctx.close()  # its socket belongs to this event loop
    return known, ptrs  # type: ignore[return-value]


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def print_human(
    results: Sequence[ReportResult],
    summary: Summary,
    stream: TextIO,
    *,
    top: int = 10,
    rdns: bool = True,
) -> None:
    """Each report as a table of rows with their reasons, then the summary."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from console.bounce.aggregate import iso
    from console.output import literal

    console = Console(file=stream, highlight=False, soft_wrap=False)
    good, bad = "bold green", "bold red"

    def verdict(passed: bool) -> Text:
        return Text("✓ pass", style=good) if passed else Text("✗ fail", style=bad)

    def result_text(value: str | None) -> Text:
        if value is None:
            return Text("-", style="dim")
        return Text(value[:12], style=good if value == "pass" else bad)

    for result in results:
        report = result.report
        policy = report.policy
        begin = (iso(report.begin) or "?").replace("T", " ").removesuffix("Z")
        end = (iso(report.end) or "?").replace("T", " ").removesuffix("Z")
        state = (
            Text(f"✓ all {report.total:,} passed", style=good)
            if not result.failed
            else Text(f"✗ {result.failed:,} of {report.total:,} failed", style=bad)
        )
        title = Text.assemble(
            literal(report.org_name or "?"),
            " on ",
            (printable_text(policy.domain), "bold"),
            f"  {begin} – {end} UTC  ",
            state,
        )
        console.print(title)
        tags = [
            f"{name}={value}"
            for name, value in policy.to_dict().items()
            if value is not None and name != "domain"
        ]
        console.print(
            Text.assemble(
                ("  policy ", "dim"),
                literal(" ".join(tags)),
                ("  report ", "dim"),
                literal(report.report_id or "?"),
                (f"  ({report.schema})  ", "dim"),
                literal(result.source),
                (" duplicate, not counted" if result.duplicate else "", "yellow"),
            )
        )
        for note in (*report.errors, *report.warnings):
            console.print(Text("  ! ", style="yellow") + literal(note))
        if report.generator or report.extensions:
            # RFC 9990 metadata: who made the report, and extensions not interpreted here.
            console.print(
                Text.assemble(
                    ("  generator ", "dim") if report.generator else "",
                    literal(report.generator or ""),
                    ("  extensions ", "dim") if report.extensions else "",
                    literal(", ".join(report.extensions)),
                )
            )
        table = Table(show_edge=False, pad_edge=False, box=None, padding=(0, 1))
        table.add_column("source", no_wrap=True)
        if rdns:
            table.add_column("reverse DNS", overflow="fold")
        table.add_column("count", justify="right", no_wrap=True)
        # The From column only when some rows are a subdomain's: it costs a lot of width.
        show_from = any(row.record.header_from != policy.domain for row in result.rows)
        if show_from:
            table.add_column("from", overflow="fold")
        table.add_column("applied", no_wrap=True)
        table.add_column("DKIM", no_wrap=True)
        table.add_column("SPF", no_wrap=True)
        table.add_column("DMARC", no_wrap=True)
        shown = result.rows[:MAX_ROWS_SHOWN]
        for row in shown:
            record = row.record
            cells: list[Any] = [literal(record.source_ip)]
            if rdns:
                if row.ptr:
                    cells.append(literal(row.ptr))
                else:
                    cells.append(Text("unknown" if row.ptr_error else "none", style="dim"))
            cells.append(f"{record.count:,}")
            if show_from:
                cells.append(literal(record.header_from))
            cells += [
                literal(record.disposition or "-"),
                result_text(record.dkim),
                result_text(record.spf),
                verdict(row.passed),
            ]
            table.add_row(*cells)
        console.print(table)
        if len(result.rows) > len(shown):
            console.print(
                Text(f"  … {len(result.rows) - len(shown)} more rows (see --json)", style="dim")
            )
        for row in shown:
            lines = [(line, bad) for line in row.failures] + [
                (line, "yellow") for line in row.notes
            ]
            if not lines:
                continue
            console.print(Text("  ") + literal(row.record.source_ip))
            for line, style in lines:
                mark = "✗" if style == bad else "!"
                console.print(Text(f"    {mark} ", style=style) + literal(line), soft_wrap=True)
        console.print()

    _print_summary(console, summary, top, rdns)


def printable_text(text: str) -> str:
    from console.literal import printable

    return printable(text)


def _print_summary(console: Any, summary: Summary, top: int, rdns: bool) -> None:
    from rich.table import Table
    from rich.text import Text

    from console.output import literal

    head = Text.assemble(
        ("Summary  ", "bold"),
        f"{summary.reports - summary.duplicates} report(s) from {summary.files} file(s), "
        f"{summary.count:,} message(s): ",
        (f"{summary.passed:,} pass ({_percent(summary.passed, summary.count)})", "green"),
        ", ",
        (f"{summary.failed:,} fail", "bold red" if summary.failed else "green"),
    )
    if summary.duplicates:
        head.append(f"; {summary.duplicates} duplicate report(s) not counted", style="yellow")
    if summary.skipped:
        head.append(f"; {len(summary.skipped)} file(s) skipped", style="yellow")
    console.print(head)

    sources = Table(title="Sources by volume", title_justify="left", show_edge=False)
    sources.add_column("source", no_wrap=True)
    if rdns:
        sources.add_column("reverse DNS", overflow="fold")
    sources.add_column("count", justify="right")
    sources.add_column("pass", justify="right")
    sources.add_column("fail", justify="right")
    for source in summary.by_volume()[:top]:
        cells: list[Any] = [literal(source.source_ip)]
        if rdns:
            if source.ptr:
                cells.append(literal(source.ptr))
            elif source.ptr_error:
                cells.append(Text("unknown: ", style="dim") + literal(source.ptr_error))
            else:
                cells.append(Text("none", style="dim"))
        cells += [
            f"{source.count:,}",
            f"{source.passed:,}",
            Text(f"{source.failed:,}", style="bold red" if source.failed else ""),
        ]
        sources.add_row(*cells)
    console.print(sources)
    if len(summary.sources) > top:
        console.print(Text(f"  … {len(summary.sources) - top} more (--top N)", style="dim"))

    failing = summary.top_failing(top)
    if failing:
        console.print(Text("Top failing sources", style="bold red"))
        for source in failing:
            name = f" ({source.ptr})" if source.ptr else ""
            console.print(
                Text.assemble(
                    "  ",
                    literal(source.source_ip + name),
                    f"  {source.failed:,} failed",
                )
            )
            for reason in source.top_reasons():
                console.print(Text("    ") + literal(reason), soft_wrap=True)

    domains = Table(
        title="Policy per domain (latest report)", title_justify="left", show_edge=False
    )
    domains.add_column("domain", overflow="fold")
    domains.add_column("policy", overflow="fold")
    domains.add_column("reports", justify="right", no_wrap=True)
    domains.add_column("fail", justify="right", no_wrap=True)
    for name in sorted(summary.domains):
        domain = summary.domains[name]
        tags = [
            f"{tag}={value}"
            for tag, value in domain.policy.to_dict().items()
            if value is not None and tag not in ("domain", "fo", "discovery_method")
        ]
        domains.add_row(
            literal(name),
            literal(" ".join(tags)),
            str(domain.reports),
            Text(
                f"{domain.failed:,} ({_percent(domain.failed, domain.count)})",
                style="bold red" if domain.failed else "green",
            ),
        )
    console.print(domains)
