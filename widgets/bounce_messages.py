"""The messages of one bounce group: which file, which recipient, which code.

Fed (label, RecipientResult) pairs; Enter on a row posts `BounceMessages.MessageChosen`
with its index so the pane can open the original message. File labels are shown
relative to the folder that was loaded (`short`), so a row stays readable at 80 columns.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from textual.message import Message
from textual.widgets import DataTable

from console.bounce.model import RecipientResult
from widgets.literal import literal


class BounceMessages(DataTable[object]):
    """One row per failed (or delayed) recipient of a group; Enter opens its message."""

    DEFAULT_CSS = """
    BounceMessages {
        height: auto;
        max-height: 100%;
    }
    """

    class MessageChosen(Message):
        """Enter on the row at `index` (in the order given to `show`)."""

        def __init__(self, table: BounceMessages, index: int) -> None:
            super().__init__()
            self.table = table
            self.index = index

        @property
        def control(self) -> BounceMessages:
            return self.table

    def __init__(self, **kwargs: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)  # type: ignore[arg-type]
        self._members: list[tuple[str, RecipientResult]] = []

    def on_mount(self) -> None:
        self._add_columns(9, 6, 4)

    def _add_columns(self, recipient: int, status: int, file: int) -> None:
        # Every width is given: the table measures cells lazily (on idle), so a picture
        # taken right after `show` would vary.
        self.add_column("Recipient", key="recipient", width=recipient)
        self.add_column("Status", key="status", width=status)
        self.add_column("File", key="file", width=file)

    def show(
        self,
        members: Sequence[tuple[str, RecipientResult]],
        short: Callable[[str], str] = lambda label: label,
    ) -> None:
        """Replace the rows with `members`; `short` shortens a file label for display."""
        self._members = list(members)
        rows = []
        for label, recipient in self._members:
            status = recipient.status or (str(recipient.reply_code) if recipient.reply_code else "")
            mark = "" if recipient.failed else " (delay)"
            rows.append(
                (
                    literal(recipient.recipient or "(no address)", no_wrap=True),
                    literal(status + mark, no_wrap=True),
                    literal(short(label), no_wrap=True),
                )
            )

        def width(column: int, least: int, most: int) -> int:
            return min(max([least, *(row[column].cell_len for row in rows)]), most)

        self.clear(columns=True)
        self._add_columns(width(0, 9, 36), width(1, 6, 16), width(2, 4, 48))
        for index, row in enumerate(rows):
            self.add_row(*row, key=str(index))

    @property
    def members(self) -> list[tuple[str, RecipientResult]]:
        return list(self._members)

    @property
    def current_index(self) -> int | None:
        if not self._members:
            return None
        return min(max(self.cursor_row, 0), len(self._members) - 1)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.post_message(self.MessageChosen(self, int(event.row_key.value)))
