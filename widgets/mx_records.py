"""A domain's MX records: preference, host, addresses, any CNAME in the way.

Fed `mx.data.records`: a list of {preference, host, addresses, cname}.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich import box
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from widgets.literal import literal


class MxRecords(Static):
    """One row per MX host, lowest preference (tried first) at the top."""

    DEFAULT_CSS = """
    MxRecords {
        height: auto;
    }
    """

    def show_records(self, records: Sequence[Mapping[str, Any]] | None) -> None:
        """Show `records`; nothing when None or empty."""
        rows = [item for item in records or () if isinstance(item, Mapping)]
        self.display = bool(rows)

        def preference(item: Mapping[str, Any]) -> int:
            value = item.get("preference")
            return value if isinstance(value, int) else 65536

        table = Table(box=box.SIMPLE_HEAD, expand=True, pad_edge=False, show_edge=False)
        table.add_column("Pref", no_wrap=True, justify="right")
        table.add_column("Host", overflow="fold")
        table.add_column("Addresses", overflow="fold")
        for item in sorted(rows, key=preference):
            addresses = item.get("addresses") or []
            host = literal(item.get("host", "?"), style="bold")
            if item.get("cname"):
                host.append(" → ")
                host.append_text(literal(item["cname"]))
            table.add_row(
                Text(str(item.get("preference", "?"))),
                host,
                literal(", ".join(str(a) for a in addresses) if addresses else "no address"),
            )
        self.update(table)
