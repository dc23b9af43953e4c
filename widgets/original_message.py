"""An original bounce message shown literally: the parsed fields on top, then every
header and body line exactly as received (escape sequences and markup made visible,
never run). Long messages are cut at `MAX_SHOWN` characters with a note.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.widgets import Static

from console.bounce.model import BounceResult, RecipientResult
from widgets.literal import literal

MAX_SHOWN = 200_000
"""Characters of the raw message drawn (a 1 MiB message would make scrolling sluggish)."""

_LABEL_WIDTH = 15

Field = tuple[str, str] | None
"""One parsed field (name, remote value), or None for the gap between recipients."""


def recipient_rows(recipient: RecipientResult) -> list[Field]:
    """The parsed fields of one recipient (empty fields left out)."""
    severity = "hard" if recipient.hard else "soft"
    if not recipient.failed:
        severity = recipient.action
    rows: list[Field] = [("Recipient", recipient.recipient or "(no address)")]
    code = " ".join(
        part for part in (recipient.status or "", str(recipient.reply_code or "")) if part
    )
    if code:
        rows.append(("Status", code))
    rows.append(("Reason", f"{recipient.reason} ({severity}) · {recipient.provider}"))
    for name, value in (
        ("Remote MTA", recipient.remote_mta),
        ("Reporting MTA", recipient.reporting_mta),
        ("Last attempt", recipient.last_attempt),
        ("Diagnostic", recipient.diagnostic),
    ):
        if value:
            rows.append((name, str(value)))
    return rows


def field_rows(label: str, results: Sequence[BounceResult]) -> list[Field]:
    """What the reader made of the message at `label`: its kind and every recipient."""
    rows: list[Field] = [("File", label)]
    first = results[0] if results else None
    if first is not None:
        rows.append(("Kind", first.kind))
        if first.subject:
            rows.append(("Subject", first.subject))
        if first.original_subject or first.original_message_id:
            original = " ".join(
                part
                for part in (first.original_subject or "", first.original_message_id or "")
                if part
            )
            rows.append(("Original", original))
        if first.problem:
            rows.append(("Problem", first.problem))
    for result in results:
        for recipient in result.recipients:
            rows.append(None)
            rows += recipient_rows(recipient)
    return rows


def message_fields(label: str, results: Sequence[BounceResult]) -> Content:
    """The fields as one Content, a line each (for plain-text views and tests)."""
    lines = [
        Content("")
        if row is None
        else Content.assemble(
            (f"{row[0]:<{_LABEL_WIDTH}}", "$text-muted"), Content.from_rich_text(literal(row[1]))
        )
        for row in field_rows(label, results)
    ]
    return Content("\n").join(lines)


def fields_table(label: str, results: Sequence[BounceResult]) -> Table:
    """The fields as a two-column grid: a long value (a diagnostic, a subject and its
    Message-ID) wraps under itself instead of under the labels. Values are `literal`."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True, style="dim", width=_LABEL_WIDTH - 1)
    grid.add_column(overflow="fold")
    for row in field_rows(label, results):
        if row is None:
            grid.add_row("", "")
        else:
            grid.add_row(Text(row[0]), literal(row[1]))
    return grid


class OriginalMessage(Vertical):
    """Parsed fields (scrolling with the message), then the raw message, literally."""

    DEFAULT_CSS = """
    OriginalMessage {
        height: 1fr;
    }
    OriginalMessage #original-scroll {
        height: 1fr;
        scrollbar-size-vertical: 1;
    }
    OriginalMessage #original-fields {
        background: $boost;
        padding: 0 1;
        margin-bottom: 1;
    }
    OriginalMessage #original-raw {
        padding: 0 1;
    }
    """

    def __init__(
        self, label: str, results: Sequence[BounceResult], raw: str, **kwargs: object
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._label = label
        self._results = list(results)
        self._raw = raw

    def compose(self) -> ComposeResult:
        raw = self._raw
        note = ""
        if len(raw) > MAX_SHOWN:
            note = f"\n… {len(raw) - MAX_SHOWN} more characters not shown"
            raw = raw[:MAX_SHOWN]
        # Tabs expanded: a folded header's continuation keeps its indent on screen.
        text = literal(raw.replace("\r\n", "\n").expandtabs(8), keep_newlines=True)
        if note:
            text.append(note, style="dim")
        with VerticalScroll(id="original-scroll"):
            yield Static(fields_table(self._label, self._results), id="original-fields")
            yield Static(text, id="original-raw")

    @property
    def fields_text(self) -> str:
        """The parsed fields as plain text, one per line (for tests)."""
        return message_fields(self._label, self._results).plain

    @property
    def raw_text(self) -> str:
        """The raw message as given (for tests)."""
        return self._raw
