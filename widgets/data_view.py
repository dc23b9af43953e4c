"""A check's `data` as key and value lines: whatever a check publishes, shown literally.

Keys a dedicated widget shows (the SPF tree, DMARC tags, ...) are left out by the
caller through `skip`.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import Any

from rich import box
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from widgets.literal import literal


def value_text(value: Any) -> Text:
    """One data value as literal text: scalars as they are, lists one item a line."""
    if value is None:
        return Text("—", style="dim")
    if isinstance(value, bool):
        return Text("yes" if value else "no")
    if isinstance(value, int | float):
        return Text(str(value))
    if isinstance(value, str):
        return literal(value) if value else Text("(empty)", style="dim")
    if isinstance(value, list | tuple) and all(
        isinstance(item, str | int | float) for item in value
    ):
        if not value:
            return Text("(none)", style="dim")
        text = Text()
        for index, item in enumerate(value):
            if index:
                text.append("\n")
            text.append_text(literal(item))
        return text
    return literal(json.dumps(value, ensure_ascii=False, default=str))


class DataView(Static):
    """Key and value rows of a check's data, in the order the check gave them."""

    DEFAULT_CSS = """
    DataView {
        height: auto;
    }
    """

    def show_data(self, data: Mapping[str, Any] | None, skip: Collection[str] = ()) -> None:
        """Show every key of `data` except those in `skip`; nothing when none is left."""
        items = [(key, value) for key, value in (data or {}).items() if key not in skip]
        self.display = bool(items)
        table = Table(box=box.SIMPLE, show_header=False, expand=True, pad_edge=False)
        table.add_column("key", no_wrap=True, style="bold", max_width=24)
        table.add_column("value", overflow="fold", ratio=1)
        for key, value in items:
            table.add_row(literal(str(key).replace("_", " ")), value_text(value))
        self.update(table)
