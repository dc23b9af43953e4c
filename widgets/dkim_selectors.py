"""DKIM selectors found for a domain: key type and size, testing and revoked flags.

Fed `dkim.data.selectors`: a list of {selector, key_type, key_bits, testing, revoked,
record, provider, found_by}; every key optional.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich import box
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from widgets.literal import literal


def _key_text(selector: Mapping[str, Any]) -> Text:
    key_type = selector.get("key_type") or "?"
    bits = selector.get("key_bits")
    text = literal(key_type)
    if isinstance(bits, int) and not isinstance(bits, bool):
        text.append(f" {bits}")
    return text


def _flags(selector: Mapping[str, Any]) -> Text:
    flags = []
    if selector.get("revoked"):
        flags.append("revoked")
    if selector.get("testing"):
        flags.append("testing (t=y)")
    return Text(", ".join(flags))


class DkimSelectors(Static):
    """One row per selector; the found-by column says how it was discovered."""

    DEFAULT_CSS = """
    DkimSelectors {
        height: auto;
    }
    """

    def show_selectors(self, selectors: Sequence[Mapping[str, Any]] | None) -> None:
        """Show `selectors`; nothing when None or empty."""
        rows = [item for item in selectors or () if isinstance(item, Mapping)]
        self.display = bool(rows)
        table = Table(box=box.SIMPLE_HEAD, expand=True, pad_edge=False, show_edge=False)
        table.add_column("Selector", overflow="fold")
        table.add_column("Key", no_wrap=True)
        table.add_column("Flags")
        table.add_column("Provider", overflow="fold")
        for item in rows:
            table.add_row(
                literal(item.get("selector", "?"), style="bold"),
                _key_text(item),
                _flags(item),
                literal(_provider(item)),
            )
        self.update(table)


def _provider(item: dict) -> str:
    """The provider a CNAME confirmed; a name-based guess gets a question mark."""
    if item.get("provider"):
        return str(item["provider"])
    if item.get("provider_guess"):
        return f"{item['provider_guess']}?"
    return str(item.get("found_by") or "")
