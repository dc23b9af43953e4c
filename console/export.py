"""A report as a file: Markdown for people (a ticket, a handover), JSON for scripts.

The JSON is exactly `mailscope check --json`'s object for the domain, indented. The
Markdown shows remote text inside code spans and blocks, with control characters
escaped (`console.literal.printable`), so `cat report.md` in a terminal is safe too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from console.literal import printable
from console.model import Report, Status

FORMATS = ("markdown", "json")
SUFFIXES = {"markdown": ".md", "json": ".json"}

_STATUS_WORDS = {
    Status.PASS: "pass",
    Status.WARN: "warning",
    Status.FAIL: "FAIL",
    Status.ERROR: "could not check",
    Status.SKIP: "skipped",
}


def format_for(path: Path) -> str:
    """`json` for a `.json` file, else `markdown`."""
    return "json" if path.suffix.lower() == ".json" else "markdown"


def report_to_json(report: Report) -> str:
    """The report as indented JSON, the same object `mailscope check --json` prints."""
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n"


def report_to_markdown(report: Report) -> str:
    """The report as a Markdown document: a summary table, then each check's findings."""
    data = report.to_dict()
    lines = [
        f"# Mail authentication audit: {_inline(report.domain)}",
        "",
        f"Checked {data['checked_at']} by mailscope. Overall: **{_word(report.status)}**.",
        "",
    ]
    if report.error:
        lines += [f"The domain could not be audited: {_inline(report.error)}", ""]
    if report.checks:
        lines += ["| Check | Status | Summary |", "| --- | --- | --- |"]
        for check in report.checks:
            summary = printable(check.summary).replace("|", "\\|")
            lines.append(f"| {check.id} | {_word(check.status)} | {summary} |")
        lines.append("")
    for check in report.checks:
        lines += [f"## {check.id}: {_word(check.status)}", "", printable(check.summary), ""]
        record = check.data.get("record")
        if isinstance(record, str) and record:
            lines += ["Published record:", "", *_block(record), ""]
        for finding in check.findings:
            lines.append(
                f"- **{_word(finding.severity)}** `{finding.code}`: {printable(finding.message)}"
            )
            record = finding.record
            if finding.fix and (not record or finding.fix.strip() != record.strip()):
                lines += ["", "  Fix:", "", *("  " + line for line in _block(finding.fix))]
            if record:
                # Its own block, so it can be pasted into a DNS console or a file as is.
                lines += ["", "  Record to publish:", "", *("  " + line for line in _block(record))]
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def render(report: Report, fmt: str) -> str:
    """The report in `fmt` (`markdown` or `json`)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; choose from {', '.join(FORMATS)}")
    return report_to_json(report) if fmt == "json" else report_to_markdown(report)


def export_report(report: Report, path: Path, fmt: str | None = None) -> Path:
    """Write `report` to `path` (format from `fmt`, else from the suffix); returns the path.

    The file is written next to its final name and renamed into place, so an export
    interrupted half-way never leaves a truncated report behind.
    """
    target = Path(path).expanduser()
    text = render(report, fmt or format_for(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(target)
    return target


def default_export_name(report: Report, fmt: str = "markdown") -> str:
    """`good.test-20261126-1200.md`: the domain and the time of the audit."""
    stamp = report.checked_at.strftime("%Y%m%d-%H%M")
    return f"{report.domain or 'report'}-{stamp}{SUFFIXES.get(fmt, '.md')}"


def _word(status: Status) -> str:
    return _STATUS_WORDS.get(status, str(status))


def _inline(text: Any) -> str:
    value = printable(str(text)).replace("`", "'")
    return f"`{value}`"


def _block(text: str) -> list[str]:
    """A fenced block longer than any backtick run inside, so the record stays intact."""
    body = printable(text, keep_newlines=True)
    longest = 0
    run = 0
    for char in body:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    fence = "`" * max(3, longest + 1)
    return [fence, *body.splitlines(), fence]
