"""The table of an audit's checks: one row per check, its status badge, a change mark.

Fed check ids and titles up front (rows show `pending`), then results as they arrive
in any order. Moving the cursor posts `CheckTable.CheckHighlighted` with the check id;
the table never runs anything itself.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence

from rich.text import Text
from textual.content import Content
from textual.message import Message
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, RowDoesNotExist

from console.model import CheckResult, Status
from widgets.literal import literal
from widgets.status_badge import NOT_RUN, PENDING, badge

CHANGED_MARK = "Δ"


class CheckTable(DataTable[object]):
    """Checks with status badges; the cursor selects the check shown in detail."""

    DEFAULT_CSS = """
    CheckTable {
        height: auto;
        max-height: 100%;
    }
    """

    class CheckHighlighted(Message):
        """The cursor moved to the check `check_id`."""

        def __init__(self, table: CheckTable, check_id: str) -> None:
            super().__init__()
            self.table = table
            self.check_id = check_id

        @property
        def control(self) -> CheckTable:
            return self.table

    def __init__(self, **kwargs: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)  # type: ignore[arg-type]
        self._titles: dict[str, str] = {}
        self._statuses: dict[str, str] = {}

    def on_mount(self) -> None:
        self.add_column("Status", key="status", width=6)
        self.add_column("Check", key="check")
        self.add_column(Text(CHANGED_MARK), key="changed", width=1)

    def set_checks(self, checks: Sequence[tuple[str, str]]) -> None:
        """Start over with `checks` as (id, title) pairs, every one pending."""
        keep = self.current_check
        self.clear()
        self._titles = dict(checks)
        self._statuses = {}
        for check_id, title in checks:
            self._statuses[check_id] = PENDING
            self.add_row(badge(PENDING), literal(title, no_wrap=True), "", key=check_id)
        if keep in self._titles:
            self.move_cursor(row=self.get_row_index(keep), animate=False)

    def show_result(self, result: CheckResult, *, changed: bool = False) -> None:
        """Show a finished check's status (adding a row for an id not yet listed)."""
        self.set_status(result.id, result.status, changed=changed)

    def set_status(self, check_id: str, status: Status | str, *, changed: bool = False) -> None:
        """Set the badge of `check_id` (a Status, `pending` or `not-run`)."""
        mark = Content.styled(CHANGED_MARK, "bold $text-warning") if changed else ""
        if check_id not in self._titles:
            self._titles[check_id] = check_id
            self.add_row(badge(status), literal(check_id, no_wrap=True), mark, key=check_id)
        else:
            self.update_cell(check_id, "status", badge(status))
            self.update_cell(check_id, "changed", mark)
        self._statuses[check_id] = str(status)

    def mark_changed(self, changed: Iterable[str]) -> None:
        """Put the change mark on exactly the checks in `changed`."""
        wanted = set(changed)
        for check_id in self._titles:
            mark = Content.styled(CHANGED_MARK, "bold $text-warning") if check_id in wanted else ""
            self.update_cell(check_id, "changed", mark)

    def mark_unfinished(self) -> None:
        """After a cancel: every check still pending becomes `not run`."""
        for check_id, status in list(self._statuses.items()):
            if status == PENDING:
                self.set_status(check_id, NOT_RUN)

    def status_of(self, check_id: str) -> str | None:
        return self._statuses.get(check_id)

    @property
    def current_check(self) -> str | None:
        """The check id under the cursor."""
        if not self.row_count:
            return None
        try:
            row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        except CellDoesNotExist:  # a just-cleared table
            return None
        return row_key.value

    def select_check(self, check_id: str) -> None:
        """Move the cursor to `check_id`."""
        with contextlib.suppress(RowDoesNotExist):
            self.move_cursor(row=self.get_row_index(check_id), animate=False)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.post_message(self.CheckHighlighted(self, event.row_key.value))
