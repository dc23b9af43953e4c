"""The grid of probed ports: one row per host (and address family), one column per port.

Each cell shows the port's status badge and the port number, with the port actually
connected to when it differs from the well-known one (in the lab, `25→38211`), or why
nothing answered (`refused`, `filtered`). Fed `GridCell`s up front (cells show
`pending`), then `PortProbe`s as they arrive, in any order. Moving the cursor posts
`PortGrid.ProbeHighlighted` with the cell's key; the grid never probes anything itself.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.content import Content
from textual.message import Message
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, ColumnDoesNotExist, RowDoesNotExist

from console.model import Status
from console.ports.model import PortProbe, PortState, Role
from widgets.literal import literal
from widgets.status_badge import NOT_RUN, PENDING, badge

ROLE_TITLES: dict[Role, str] = {
    Role.RELAY: "STARTTLS",
    Role.SUBMISSIONS: "TLS",
    Role.SUBMISSION: "submit",
}
"""How a column header names the role a port was probed in."""

_ROLE_ORDER = {Role.RELAY: 0, Role.SUBMISSIONS: 1, Role.SUBMISSION: 2}

STATE_WORDS: dict[PortState, str] = {
    PortState.REFUSED: "refused",
    PortState.FILTERED: "filtered",
    PortState.ERROR: "error",
}
"""A cell names the state instead of the port when nothing talked SMTP there."""


@dataclass(frozen=True, slots=True)
class GridCell:
    """A port the grid expects a probe for: the host, its address family, what is probed.

    Attributes:
        host: the host name as probed (from DNS: shown literally).
        port: the port actually connected to.
        role: what the port is probed as.
        well_known_port: the port it stands for (25, 465, 587); None when it is `port`.
        family: `ipv4` or `ipv6`.
        address: the address connected to (a host may have several of one family).
    """

    host: str
    port: int
    role: Role
    well_known_port: int | None = None
    family: str = "ipv4"
    address: str | None = None

    @classmethod
    def of(cls, probe: PortProbe) -> GridCell:
        return cls(
            probe.host, probe.port, probe.role, probe.well_known_port, probe.family, probe.address
        )

    @property
    def nominal_port(self) -> int:
        """The port the admin knows it by (25, not the lab's 38211)."""
        return self.well_known_port or self.port

    @property
    def row_key(self) -> str:
        return f"{self.host.lower()}|{self.family}|{self.address or ''}"

    @property
    def column_key(self) -> str:
        return f"{self.nominal_port}/{self.role.value}"

    @property
    def key(self) -> str:
        """`host|family|address|port/role`: names the cell (and its probe) in messages."""
        return f"{self.row_key}|{self.column_key}"


def port_label(cell: GridCell | PortProbe) -> str:
    """`25`, or `25→38211` when the port connected to is not the well-known one."""
    nominal = cell.well_known_port or cell.port
    return str(nominal) if nominal == cell.port else f"{nominal}→{cell.port}"


def column_title(nominal_port: int, role: Role) -> str:
    """The column header: `25 STARTTLS`, `465 TLS`, `2525 STARTTLS`."""
    return f"{nominal_port} {ROLE_TITLES.get(role, role.value)}"


def row_label(host: str, family: str, address: str | None = None) -> Text:
    """The host, literally, with ` v6` when the row is its IPv6 address, and the
    address itself when given (a host with several addresses of one family)."""
    text = literal(host, no_wrap=True)
    if family == "ipv6":
        text.append(" v6", style="dim")
    if address:
        text.append(" ")
        text.append_text(literal(address, style="dim"))
    return text


def cell_content(cell: GridCell, probe: PortProbe | None, state: str) -> Content:
    """The cell: a badge and the port (or the reason nothing answered)."""
    if probe is None:
        return Content.assemble(badge(state), " ", (port_label(cell), "$text-muted"))
    what = STATE_WORDS.get(probe.state) if probe.state is not PortState.OPEN else None
    return Content.assemble(badge(probe.status), " ", what or port_label(probe))


class PortGrid(DataTable[object]):
    """Hosts x ports with status badges; the cursor picks the probe shown in detail."""

    DEFAULT_CSS = """
    PortGrid {
        height: auto;
        max-height: 100%;
    }
    """

    class ProbeHighlighted(Message):
        """The cursor moved to the cell `key` (see `GridCell.key`)."""

        def __init__(self, grid: PortGrid, key: str) -> None:
            super().__init__()
            self.grid = grid
            self.key = key

        @property
        def control(self) -> PortGrid:
            return self.grid

    def __init__(self, **kwargs: object) -> None:
        super().__init__(cursor_type="cell", zebra_stripes=False, **kwargs)  # type: ignore[arg-type]
        self._cells: dict[str, GridCell] = {}
        self._probes: dict[str, PortProbe] = {}
        self._states: dict[str, str] = {}
        self._rows: list[str] = []
        self._columns: list[str] = []
        self._widths: dict[str, int] = {}

    # -- feeding -----------------------------------------------------------------------

    def set_cells(self, cells: Iterable[GridCell]) -> None:
        """Start over with `cells`, every one pending; the cursor stays on the same cell.

        Rows come in the order given (MX preference first); columns in role order
        (25, 465, 587, then other ports).
        """
        keep = self.current_key
        self._cells, self._probes, self._states = {}, {}, {}
        self._rows, self._columns = [], []
        for cell in cells:
            self._add(cell, PENDING)
        self._rebuild(keep)

    def show_probe(self, probe: PortProbe) -> None:
        """Show a finished probe (adding its row or column when it was not expected)."""
        cell = GridCell.of(probe)
        known = cell.key in self._cells
        self._add(cell, str(probe.status))
        self._probes[cell.key] = probe
        content = cell_content(cell, probe, str(probe.status))
        if not known or content.cell_length > self._widths.get(cell.column_key, 0):
            self._rebuild(self.current_key)
        else:
            self.update_cell(cell.row_key, cell.column_key, content)
        if cell.key == self.current_key:
            self.post_message(self.ProbeHighlighted(self, cell.key))

    def mark_unfinished(self) -> None:
        """After a cancel: every cell still pending becomes `not run`."""
        for key, state in list(self._states.items()):
            if state == PENDING:
                cell = self._cells[key]
                self._states[key] = NOT_RUN
                self.update_cell(cell.row_key, cell.column_key, cell_content(cell, None, NOT_RUN))
        current = self.current_key
        if current is not None:
            self.post_message(self.ProbeHighlighted(self, current))

    # -- reading -----------------------------------------------------------------------

    def probe(self, key: str | None) -> PortProbe | None:
        """The finished probe of cell `key`, if any."""
        return self._probes.get(key) if key else None

    def cell(self, key: str | None) -> GridCell | None:
        return self._cells.get(key) if key else None

    def state_of(self, key: str) -> str | None:
        """A Status value, `pending` or `not-run`; None for an empty cell."""
        return self._states.get(key)

    @property
    def probes(self) -> list[PortProbe]:
        """Finished probes in grid order (rows, then columns)."""
        return [self._probes[key] for key in self.cell_keys() if key in self._probes]

    @property
    def current_key(self) -> str | None:
        """The key of the cell under the cursor (None on an empty cell)."""
        if not self.row_count or not self._columns:
            return None
        try:
            row_key, column_key = self.coordinate_to_cell_key(self.cursor_coordinate)
        except CellDoesNotExist:
            return None
        key = f"{row_key.value}|{column_key.value}"
        return key if key in self._cells else None

    def select_key(self, key: str) -> None:
        """Move the cursor to cell `key`."""
        cell = self._cells.get(key)
        if cell is None:
            return
        with contextlib.suppress(RowDoesNotExist, ColumnDoesNotExist):
            row = self.get_row_index(cell.row_key)
            column = self.get_column_index(cell.column_key)
            self.move_cursor(row=row, column=column, animate=False)

    def cell_keys(self) -> list[str]:
        """Every cell's key, in grid order (rows, then columns)."""
        return [
            f"{row}|{column}"
            for row in self._rows
            for column in self._columns
            if f"{row}|{column}" in self._cells
        ]

    def first_key(self) -> str | None:
        keys = self.cell_keys()
        return keys[0] if keys else None

    # -- internals ---------------------------------------------------------------------

    def _add(self, cell: GridCell, state: str) -> None:
        # A probe may report another port than announced: what it says wins.
        self._cells[cell.key] = cell
        self._states[cell.key] = state
        if cell.row_key not in self._rows:
            self._rows.append(cell.row_key)
        if cell.column_key not in self._columns:
            self._columns.append(cell.column_key)

    def _rebuild(self, keep: str | None) -> None:
        """Lay the table out again: columns sized to fit every cell (Content cells are
        not measured by DataTable itself, so widths are computed here)."""
        by_column: dict[str, list[GridCell]] = {}
        for cell in self._cells.values():
            by_column.setdefault(cell.column_key, []).append(cell)
        self._columns.sort(
            key=lambda c: (_ROLE_ORDER.get(by_column[c][0].role, 3), by_column[c][0].nominal_port)
        )
        self.clear(columns=True)
        self._widths = {}
        for column in self._columns:
            first = by_column[column][0]
            title = column_title(first.nominal_port, first.role)
            # Room for a state word (`filtered`) so a result rarely needs a new layout.
            widest = max(
                [len(title), len(badge(PENDING).plain) + 1 + len("filtered")]
                + [self._content(cell).cell_length for cell in by_column[column]]
            )
            self._widths[column] = widest
            self.add_column(title, key=column, width=widest)
        firsts = {
            row: next(c for c in self._cells.values() if c.row_key == row) for row in self._rows
        }
        families = [(cell.host.lower(), cell.family) for cell in firsts.values()]
        for row, first in firsts.items():
            cells = [self._cells.get(f"{row}|{column}") for column in self._columns]
            # Only a host with several addresses of one family needs them on its rows.
            several = families.count((first.host.lower(), first.family)) > 1
            self.add_row(
                *(self._content(cell) if cell else "" for cell in cells),
                key=row,
                label=row_label(first.host, first.family, first.address if several else None),
            )
        if keep is not None:
            self.select_key(keep)

    def _content(self, cell: GridCell) -> Content:
        return cell_content(cell, self._probes.get(cell.key), self._states[cell.key])

    def on_data_table_cell_highlighted(self, event: DataTable.CellHighlighted) -> None:
        event.stop()
        row, column = event.cell_key.row_key.value, event.cell_key.column_key.value
        key = f"{row}|{column}"
        if key in self._cells:
            self.post_message(self.ProbeHighlighted(self, key))

    def on_data_table_cell_selected(self, event: DataTable.CellSelected) -> None:
        event.stop()


def status_counts(probes: Sequence[PortProbe]) -> dict[Status, int]:
    """How many probes ended in each status (for a one-line summary)."""
    counts: dict[Status, int] = {}
    for probe in probes:
        counts[probe.status] = counts.get(probe.status, 0) + 1
    return counts
