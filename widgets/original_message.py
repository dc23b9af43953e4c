"""An original bounce message shown literally: the parsed fields on top, then every
header and body line exactly as received (escape sequences and markup made visible,
never run). Long messages are cut at `MAX_SHOWN` characters with a note.
"""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.widgets import Static

from console.bounce.model import BounceResult, RecipientResult
from widgets.literal import literal

MAX_SHOWN = 200_000
"""Characters of the raw message drawn (a 1 MiB message would make scrolling sluggish)."""

_LABEL_WIDTH = 15


def _row(name: str, value: object) -> Content:
    return Content.assemble(
        (f"{name:<{_LABEL_WIDTH}}", "$text-muted"), Content.from_rich_text(literal(value))
    )


def recipient_fields(recipient: RecipientResult) -> list[Content]:
    """The parsed fields of one recipient, one line each (empty fields left out)."""
    severity = "hard" if recipient.hard else "soft"
    if not recipient.failed:
        severity = recipient.action
    rows = [_row("Recipient", recipient.recipient or "(no address)")]
    code = " ".join(
        part for part in (recipient.status or "", str(recipient.reply_code or "")) if part
    )
    if code:
        rows.append(_row("Status", code))
    rows.append(_row("Reason", f"{recipient.reason} ({severity}) · {recipient.provider}"))
    for name, value in (
        ("Remote MTA", recipient.remote_mta),
        ("Reporting MTA", recipient.reporting_mta),
        ("Last attempt", recipient.last_attempt),
        ("Diagnostic", recipient.diagnostic),
    ):
        if value:
            rows.append(_row(name, value))
    return rows


def message_fields(label: str, results: Sequence[BounceResult]) -> Content:
    """What the reader made of the message at `label`: its kind and every recipient."""
    lines: list[Content] = [_row("File", label)]
    first = results[0] if results else None
    if first is not None:
        lines.append(_row("Kind", first.kind))
        if first.subject:
            lines.append(_row("Subject", first.subject))
        if first.original_subject or first.original_message_id:
            original = " ".join(
                part
                for part in (first.original_subject or "", first.original_message_id or "")
                if part
            )
            lines.append(_row("Original", original))
        if first.problem:
            lines.append(_row("Problem", first.problem))
    for result in results:
        for recipient in result.recipients:
            lines.append(Content(""))
            lines += recipient_fields(recipient)
    return Content("\n").join(lines)


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
            yield Static(message_fields(self._label, self._results), id="original-fields")
            yield Static(text, id="original-raw")

    @property
    def raw_text(self) -> str:
        """The raw message as given (for tests)."""
        return self._raw
