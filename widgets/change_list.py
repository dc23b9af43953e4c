"""What changed since the previous audit of a domain, one line per change."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import Static

from widgets.literal import literal


class ChangeList(Static):
    """A heading (`Since 2026-11-26 12:00`) and the change lines, or why there are none."""

    DEFAULT_CSS = """
    ChangeList {
        height: auto;
    }
    """

    def show_changes(self, heading: str, lines: Sequence[str], *, empty: str = "") -> None:
        """Show `heading` and `lines` (remote text inside them is shown literally)."""
        text = Text(heading, style="bold")
        if lines:
            for line in lines:
                text.append("\n• ")
                text.append_text(literal(line))
        elif empty:
            text.append("\n")
            text.append(empty, style="dim")
        self.update(text)
