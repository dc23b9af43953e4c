"""Gmail's compliance table: each requirement COMPLIANT or NEEDS_WORK, and the console
check that explains and fixes it.

Rows that need work come first (an 80x24 terminal shows only a few), then the rest in
the API's order. Enter on a row posts `ComplianceTable.OpenCheck` with the check id
(`dmarc`, `fcrdns`, `ports`, ...); the pane decides where that leads.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence

from textual.content import Content
from textual.message import Message
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, RowDoesNotExist

from console.postmaster.model import CHECK_FOR_REQUIREMENT, REQUIREMENT_MEANING, ComplianceRow
from widgets.literal import literal

_STATUS: dict[str, tuple[str, str]] = {
    "COMPLIANT": ("✔ COMPLIANT", "bold $text-success"),
    "NEEDS_WORK": ("✖ NEEDS_WORK", "bold $text-error"),
}


def status_content(status: str) -> Content:
    """`✔ COMPLIANT`, `✖ NEEDS_WORK`, or an unknown state shown literally with `?`."""
    label, style = _STATUS.get(status, ("", ""))
    if label:
        return Content.styled(label, style)
    return Content.assemble(("? ", "$text-accent"), Content.from_rich_text(literal(status)))


CHECK_WIDTH = max(len(f"→ {check}") for check in CHECK_FOR_REQUIREMENT.values())


def row_key(row: ComplianceRow) -> str:
    return f"{row.scope}:{row.requirement}"


def ordered(rows: Iterable[ComplianceRow]) -> list[ComplianceRow]:
    """Rows needing work first, each group in the API's order."""
    rows = list(rows)
    return [r for r in rows if not r.compliant] + [r for r in rows if r.compliant]


REQUIREMENT_TITLE = "Requirement"


class ComplianceTable(DataTable[object]):
    """Status, requirement (its scope when not the domain) and the linked check."""

    DEFAULT_CSS = """
    ComplianceTable {
        height: auto;
        max-height: 100%;
    }
    """

    class OpenCheck(Message):
        """Open the console check `check` (`spf+dkim` means both) for `requirement`."""

        def __init__(self, table: ComplianceTable, requirement: str, check: str | None) -> None:
            super().__init__()
            self.table = table
            self.requirement = requirement
            self.check = check

        @property
        def control(self) -> ComplianceTable:
            return self.table

    class RowChosen(Message):
        """The cursor moved to `row` (the pane shows what the requirement means)."""

        def __init__(self, table: ComplianceTable, row: ComplianceRow) -> None:
            super().__init__()
            self.table = table
            self.row = row

        @property
        def control(self) -> ComplianceTable:
            return self.table

    def __init__(self, **kwargs: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)  # type: ignore[arg-type]
        self._rows: dict[str, ComplianceRow] = {}

    def on_mount(self) -> None:
        self._add_columns(len(REQUIREMENT_TITLE))

    def _add_columns(self, requirement_width: int) -> None:
        self.add_column("Status", key="status", width=12)
        # Every width is fixed, the requirement's from the rows themselves: an auto width
        # is settled on a later refresh, and a screenshot taken before it (a busy machine)
        # would show the names cut to the header's width.
        self.add_column(REQUIREMENT_TITLE, key="requirement", width=requirement_width)
        self.add_column("Check", key="check", width=CHECK_WIDTH)

    def show_rows(self, rows: Sequence[ComplianceRow]) -> None:
        """Replace the table with `rows` (needing work first), keeping the cursor's row."""
        keep = self.current_key
        self._rows = {}
        cells = []
        for row in ordered(rows):
            key = row_key(row)
            if key in self._rows:
                continue  # the API repeating a row must not break the table
            self._rows[key] = row
            check = Content.styled(f"→ {row.check}", "$text-accent") if row.check else "—"
            name = literal(row.requirement, no_wrap=True)
            if row.scope != "domain":
                name.append(f" · {row.scope}", style="dim")
            cells.append((status_content(row.status), name, check, key))
        widest = max((name.cell_len for _, name, _, _ in cells), default=0)
        self.clear(columns=True)
        self._add_columns(max(len(REQUIREMENT_TITLE), widest))
        for status, name, check, key in cells:
            self.add_row(status, name, check, key=key)
        if keep in self._rows:
            self.move_cursor(row=self.get_row_index(keep), animate=False)

    @property
    def current_key(self) -> str | None:
        if not self.row_count:
            return None
        try:
            key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        except CellDoesNotExist:
            return None
        return key.value

    @property
    def current_row(self) -> ComplianceRow | None:
        key = self.current_key
        return self._rows.get(key) if key else None

    def select_requirement(self, requirement: str, scope: str = "domain") -> None:
        with contextlib.suppress(RowDoesNotExist):
            self.move_cursor(row=self.get_row_index(f"{scope}:{requirement}"), animate=False)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        row = self._rows.get(event.row_key.value or "")
        if row is not None:
            self.post_message(self.RowChosen(self, row))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        row = self._rows.get(event.row_key.value or "")
        if row is not None:
            self.post_message(self.OpenCheck(self, row.requirement, row.check))


def meaning(row: ComplianceRow) -> str:
    """What the requirement asks, in plain words (the API's name when unknown)."""
    return REQUIREMENT_MEANING.get(row.requirement, row.requirement)
