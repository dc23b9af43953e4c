"""The batch view: one row per domain of the Postmaster account, worst first.

Each row: the newest spam rate and its day, days at or above 0.3% in the range, the
streak of days below 0.3% (Gmail asks for 7 before mitigation), and how many
compliance rows need work. Enter posts `PostmasterDomains.OpenDomain`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

from textual.content import Content
from textual.message import Message
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, RowDoesNotExist

from console.postmaster.model import MITIGATION_STREAK, SPAM_RATE_LIMIT, SPAM_RATE_TARGET
from widgets.literal import literal
from widgets.rate_table import percent


@dataclass(frozen=True, slots=True)
class DomainRow:
    """One domain's line of the batch view (plain data; the pane computes it)."""

    domain: str
    latest_rate: float | None
    latest_date: str | None
    days_above: int
    streak: int
    needs_work: int | None
    """NEEDS_WORK rows; None when compliance is unknown (not fetched)."""
    error: str | None = None

    @property
    def worst(self) -> tuple[int, int, int, str]:
        """Sort key: errors and trouble first, then by name."""
        trouble = self.days_above + (self.needs_work or 0)
        return (0 if self.error else 1, -trouble, self.streak, self.domain)


def _rate(rate: float | None) -> Content:
    if rate is None:
        return Content.styled("—", "$text-muted")
    style = (
        "bold $text-error"
        if rate >= SPAM_RATE_LIMIT
        else "$text-warning"
        if rate >= SPAM_RATE_TARGET
        else "$text-success"
    )
    return Content.styled(percent(rate, 2), style)


class PostmasterDomains(DataTable[object]):
    """Every domain in one table; enter opens the domain."""

    DEFAULT_CSS = """
    PostmasterDomains {
        height: auto;
        max-height: 100%;
    }
    """

    class OpenDomain(Message):
        """Look at `domain` in the console."""

        def __init__(self, table: PostmasterDomains, domain: str) -> None:
            super().__init__()
            self.table = table
            self.domain = domain

        @property
        def control(self) -> PostmasterDomains:
            return self.table

    def __init__(self, **kwargs: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)  # type: ignore[arg-type]
        self._rows: dict[str, DomainRow] = {}

    def on_mount(self) -> None:
        self.add_column("Domain", key="domain")
        # Content cells are not measured for auto width: fixed widths keep them whole.
        self.add_column("Spam", key="rate", width=6)
        self.add_column("Day", key="day", width=5)
        self.add_column("≥0.3%", key="above", width=5)
        self.add_column("Streak", key="streak", width=6)
        self.add_column("Needs work", key="work", width=10)

    def show_rows(self, rows: Sequence[DomainRow]) -> None:
        keep = self.current_domain
        self.clear()
        self._rows = {}
        for row in sorted(rows, key=lambda r: r.worst):
            if row.domain in self._rows:
                continue
            self._rows[row.domain] = row
            if row.error:
                self.add_row(
                    literal(row.domain, no_wrap=True),
                    Content.styled("error", "bold $text-error"),
                    "",
                    "",
                    "",
                    Content.from_rich_text(literal(row.error[:60], no_wrap=True)),
                    key=row.domain,
                )
                continue
            streak_style = "$text-success" if row.streak >= MITIGATION_STREAK else "$text-warning"
            self.add_row(
                literal(row.domain, no_wrap=True),
                _rate(row.latest_rate),
                (row.latest_date or "—")[5:] if row.latest_date else "—",
                Content.styled(str(row.days_above), "bold $text-error" if row.days_above else ""),
                Content.styled(f"{row.streak} d", streak_style),
                "?"
                if row.needs_work is None
                else Content.styled(
                    str(row.needs_work), "bold $text-error" if row.needs_work else "$text-success"
                ),
                key=row.domain,
            )
        if keep in self._rows:
            self.move_cursor(row=self.get_row_index(keep), animate=False)

    @property
    def current_domain(self) -> str | None:
        if not self.row_count:
            return None
        try:
            key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        except CellDoesNotExist:
            return None
        return key.value

    def select_domain(self, domain: str) -> None:
        with contextlib.suppress(RowDoesNotExist):
            self.move_cursor(row=self.get_row_index(domain), animate=False)

    @property
    def domain_rows(self) -> list[DomainRow]:
        return list(self._rows.values())

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value:
            self.post_message(self.OpenDomain(self, event.row_key.value))
