"""One finding: its severity, code, what is wrong and why, and the exact fix."""

from __future__ import annotations

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
        if finding.fix:
            yield Static("Fix:", classes="finding-fix-label")
            yield Static(literal(finding.fix, keep_newlines=True), classes="finding-fix")
