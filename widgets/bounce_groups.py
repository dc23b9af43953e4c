"""The campaign's groups of failed recipients, one row per (reason, provider), fix-first.

Fed `console.bounce.campaign.Group`s in the order the engine sorts them (what to fix
first on top); the table never re-sorts. Moving the cursor posts
`BounceGroups.GroupHighlighted` with the row's index, Enter `BounceGroups.GroupChosen`;
the table runs nothing itself.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.content import Content
from textual.message import Message
from textual.widgets import DataTable

from console.bounce.campaign import Group
from widgets.literal import literal

PROVIDER_NAMES: dict[str, str] = {
    "gmail": "Gmail",
    "microsoft": "Microsoft",
    "yahoo": "Yahoo",
    "aol": "AOL",
    "apple": "Apple",
    "amazon-ses": "Amazon SES",
    "spamhaus": "Spamhaus",
    "other": "other",
}
"""How a provider id reads in a table (unknown ids are shown as they are)."""


def provider_name(provider: str) -> str:
    return PROVIDER_NAMES.get(provider, provider)


def _count(value: int, width: int, style: str = "") -> Content:
    """A count right-aligned in `width` cells; zero as a dim dot, so numbers stand out."""
    if not value:
        return Content.styled(f"{'·':>{width}}", "dim")
    return Content.styled(f"{value:>{width}}", style)


class BounceGroups(DataTable[object]):
    """Groups of a campaign: reason, provider, failed recipients, hard/soft, domains."""

    DEFAULT_CSS = """
    BounceGroups {
        height: auto;
        max-height: 100%;
    }
    """

    class GroupHighlighted(Message):
        """The cursor moved to the group at `index` (in the order given to `show`)."""

        def __init__(self, table: BounceGroups, index: int) -> None:
            super().__init__()
            self.table = table
            self.index = index

        @property
        def control(self) -> BounceGroups:
            return self.table

    class GroupChosen(Message):
        """Enter (or a click) on the group at `index`: the pane shows its messages."""

        def __init__(self, table: BounceGroups, index: int) -> None:
            super().__init__()
            self.table = table
            self.index = index

        @property
        def control(self) -> BounceGroups:
            return self.table

    def __init__(self, **kwargs: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)  # type: ignore[arg-type]
        self._groups: list[Group] = []

    def on_mount(self) -> None:
        self._add_columns(6, 8)

    def _add_columns(self, reason: int, provider: int) -> None:
        # Every width is given: the table measures cells lazily (on idle), and Content
        # cells not at all, so a picture taken right after `show` would vary.
        self.add_column("Reason", key="reason", width=reason)
        self.add_column("Provider", key="provider", width=provider)
        self.add_column(Text("Rcpts", justify="right"), key="recipients", width=5)
        self.add_column(Text("Hard", justify="right"), key="hard", width=4)
        self.add_column(Text("Soft", justify="right"), key="soft", width=4)
        self.add_column(Text("Delay", justify="right"), key="delayed", width=5)
        self.add_column(Text("Dom", justify="right"), key="domains", width=3)

    def show(self, groups: Sequence[Group]) -> None:
        """Replace the rows with `groups`, keeping the cursor on the same row number."""
        row = self.cursor_row
        self._groups = list(groups)
        reason = max((len(g.reason) for g in self._groups), default=6)
        provider = max((len(provider_name(g.provider)) for g in self._groups), default=8)
        self.clear(columns=True)
        self._add_columns(min(max(reason, 6), 20), min(max(provider, 8), 14))
        for index, group in enumerate(self._groups):
            reason_style = "bold" if group.hard else ""
            self.add_row(
                literal(group.reason, reason_style, no_wrap=True),
                literal(provider_name(group.provider), no_wrap=True),
                _count(group.recipients, 5, "bold"),
                _count(group.hard, 4, "$text-error"),
                _count(group.soft, 4, "$text-warning"),
                _count(group.delayed, 5),
                _count(len(group.domains), 3),
                key=str(index),
            )
        if self._groups:
            self.move_cursor(row=min(max(row, 0), len(self._groups) - 1), animate=False)

    @property
    def groups(self) -> list[Group]:
        return list(self._groups)

    @property
    def current_index(self) -> int | None:
        """The index of the group under the cursor, None when there is none."""
        if not self._groups:
            return None
        return min(max(self.cursor_row, 0), len(self._groups) - 1)

    @property
    def current_group(self) -> Group | None:
        index = self.current_index
        return self._groups[index] if index is not None else None

    def select_index(self, index: int) -> None:
        if 0 <= index < len(self._groups):
            self.move_cursor(row=index, animate=False)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.post_message(self.GroupHighlighted(self, int(event.row_key.value)))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.post_message(self.GroupChosen(self, int(event.row_key.value)))
