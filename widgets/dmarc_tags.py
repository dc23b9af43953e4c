"""A DMARC record tag by tag, each explained in plain words.

Fed `dmarc.data.tags`: a list of {tag, value, meaning}; the meanings are written
next to the check (console/auth/dmarc.py), not here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich import box
from rich.table import Table
from textual.widgets import Static

from widgets.literal import literal


class DmarcTags(Static):
    """Tag, value and meaning, one row per tag; wraps to the width it is given."""

    DEFAULT_CSS = """
    DmarcTags {
        height: auto;
    }
    """

    def show_tags(self, tags: Sequence[Mapping[str, Any]] | None) -> None:
        """Show `tags`; nothing when None or empty."""
        rows = [tag for tag in tags or () if isinstance(tag, Mapping)]
        self.display = bool(rows)
        table = Table(box=box.SIMPLE_HEAD, expand=True, pad_edge=False, show_edge=False)
        table.add_column("Tag", no_wrap=True)
        table.add_column("Value", ratio=2, overflow="fold")
        table.add_column("Meaning", ratio=3)
        for row in rows:
            table.add_row(
                literal(row.get("tag", ""), style="bold"),
                literal(row.get("value", "")),
                literal(row.get("meaning", "")),
            )
        self.update(table)
