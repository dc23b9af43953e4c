"""One finding: its severity, code, what is wrong and why, and the exact fix.

When the finding carries a `record` (the exact zone-file line or file body to publish)
it is shown on its own under the fix, literally and unwrapped by prose, so what the
admin reads is byte for byte what `c` copies and what the mouse can select.
"""

from __future__ import annotations

import re

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import Static

from console.model import Finding
from widgets.literal import literal
from widgets.status_badge import badge


class FindingCard(Vertical, can_focus=True):
    """A finding, focusable so the fix to copy is the one the admin is looking at."""

    DEFAULT_CSS = """
    FindingCard {
        height: auto;
        padding: 0 1 0 1;
        border-left: blank;
        margin-bottom: 1;
    }
    FindingCard:focus {
        border-left: thick $accent;
        background: $boost;
    }
    FindingCard .finding-code {
        color: $text-muted;
    }
    FindingCard .finding-fix-label {
        margin-top: 1;
        text-style: bold;
    }
    FindingCard .finding-fix {
        background: $surface;
        padding: 0 1;
    }
    FindingCard .finding-record-label {
        color: $text-muted;
    }
    FindingCard .finding-record {
        background: $panel;
        color: $text;
        padding: 0 1;
    }
    """

    def __init__(self, finding: Finding, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.finding = finding

    def compose(self) -> ComposeResult:
        finding = self.finding
        yield Static(
            Content.assemble(badge(finding.severity), "  ", (finding.code, "$text-muted")),
            classes="finding-head",
        )
        yield Static(literal(finding.message, keep_newlines=True), classes="finding-message")
        record = finding.record
        if finding.fix or record:
            yield Static("Fix:", classes="finding-fix-label")
        # A fix that is nothing but the record is shown once, as the record, right under
        # "Fix:"; prose around a record gets the record in a labelled block of its own.
        prose = bool(finding.fix) and (not record or finding.fix.strip() != record.strip())
        if prose:
            yield Static(literal(finding.fix, keep_newlines=True), classes="finding-fix")
        if record:
            if prose:
                yield Static(_record_label(record), classes="finding-record-label")
            yield Static(literal(record, keep_newlines=True), classes="finding-record")


_ZONE_LINE = re.compile(r"^\S+\.\s+\d+\s+IN\s+[A-Z0-9]+\s")


def describe_record(record: str) -> str:
    """`the record`, `the 3 records` or `the file body`: what a finding's record is."""
    lines = record.splitlines() or [record]
    if all(_ZONE_LINE.match(line) for line in lines):
        return "the record" if len(lines) == 1 else f"the {len(lines)} records"
    return "the file body"


def _record_label(record: str) -> str:
    """What the block under the fix holds: one record, several, or a file body."""
    what = describe_record(record)
    if what == "the file body":
        return "File to publish:"
    if what == "the record":
        return "Record to publish:"
    return f"Records to publish ({len(record.splitlines())}):"
