"""An SMTP conversation as a scrolling log: who said what, when, exactly as sent.

Fed `TranscriptLine`s (direction `C` client, `S` server, `*` an event such as
"connected" or "TLS established"). Server text comes from a stranger, so every line
is shown literally (control characters as visible escapes, markup as characters).
The direction column is coloured from theme variables, with a letter so it reads on
a monochrome terminal too.
"""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.content import Content
from textual.reactive import reactive
from textual.widgets import Static

from console.ports.model import TranscriptLine
from widgets.literal import literal

DIRECTIONS: dict[str, tuple[str, str]] = {
    "C": ("C", "bold $text-accent"),
    "S": ("S", "bold $text-success"),
    "*": ("*", "$text-muted"),
}
"""Direction -> (the letter shown, its style); an unknown direction shows as `?`."""

MAX_LINES = 2000
"""Lines shown at most; a runaway reply beyond this is summarised in one line."""


def transcript_content(
    lines: Sequence[TranscriptLine], *, times: bool = True, width: int | None = None
) -> Content:
    """The transcript as styled Content: `   12ms C EHLO ...`, one line per line.

    With `width`, long lines wrap under their text, not under the time and direction.
    """
    rows: list[Content] = []
    for line in lines[:MAX_LINES]:
        letter, style = DIRECTIONS.get(line.direction, ("?", "$text-warning"))
        prefix = Content.assemble(
            (f"{line.at_ms:>6.0f}ms ", "$text-muted") if times else "", (letter, style), " "
        )
        text = Content.from_rich_text(literal(line.text))
        if line.direction == "*":
            text = text.stylize("$text-muted")
        room = (width or 0) - prefix.cell_length
        if width is None or room < 10 or text.cell_length <= room:
            rows.append(prefix + text)
            continue
        indent = " " * prefix.cell_length
        for index, part in enumerate(text.wrap(room)):
            rows.append((prefix if index == 0 else Content(indent)) + part)
    if len(lines) > MAX_LINES:
        rows.append(
            Content.styled(f"… {len(lines) - MAX_LINES} more lines not shown", "$text-warning")
        )
    return Content("\n").join(rows)


class TranscriptLog(VerticalScroll):
    """The transcript of one probe; focus it to scroll with the keys."""

    DEFAULT_CSS = """
    TranscriptLog {
        height: 1fr;
        scrollbar-size-vertical: 1;
    }
    TranscriptLog > #transcript-lines {
        width: 1fr;
        height: auto;
    }
    TranscriptLog > #transcript-empty {
        color: $text-muted;
    }
    """

    show_times: reactive[bool] = reactive(True)
    """Whether each line starts with the milliseconds since the connection began."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._lines: list[TranscriptLine] = []

    def compose(self) -> ComposeResult:
        yield Static(id="transcript-lines")
        yield Static(id="transcript-empty")

    def show(self, lines: Sequence[TranscriptLine], *, empty_text: str = "No transcript.") -> None:
        """Show `lines` from the top (or `empty_text` when there are none)."""
        self._lines = list(lines)
        self.query_one("#transcript-empty", Static).update(empty_text)
        self._render_lines()
        self.scroll_home(animate=False)

    @property
    def lines(self) -> list[TranscriptLine]:
        return list(self._lines)

    @property
    def plain(self) -> str:
        """The transcript as shown, without styles (for copying and tests)."""
        return transcript_content(self._lines, times=self.show_times).plain

    def watch_show_times(self) -> None:
        if self.is_mounted:
            self._render_lines()

    def on_resize(self) -> None:
        self._render_lines()

    def _render_lines(self) -> None:
        body = self.query_one("#transcript-lines", Static)
        empty = self.query_one("#transcript-empty", Static)
        body.display = bool(self._lines)
        empty.display = not self._lines
        width = self.scrollable_content_region.width - 1  # the scroll bar may appear
        body.update(transcript_content(self._lines, times=self.show_times, width=max(width, 20)))
