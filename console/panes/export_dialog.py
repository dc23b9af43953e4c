"""A modal asking where to save the report, and as Markdown or JSON."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, RadioButton, RadioSet, Static

from console.export import SUFFIXES, format_for
from console.panes.base import session_of
from widgets.literal import literal


@dataclass(frozen=True, slots=True)
class ExportRequest:
    """Where to write the report and in which format (`markdown` or `json`)."""

    path: Path
    fmt: str


def export_target(text: str, warned: Path | None) -> tuple[Path | None, str, Path | None]:
    """Where an export dialog may write: (path, "", None), or (None, what to say, warned).

    An existing file is replaced only when the same name is saved twice in a row:
    `warned` is the name the dialog last warned about, and the third item is the name to
    remember for the next save (None when nothing needs confirming).
    """
    text = text.strip()
    if not text:
        return None, "Give a file name.", None
    path = Path(text).expanduser()
    if path.is_dir():
        return None, f"{path} is a directory; give a file name.", None
    if not path.parent.is_dir():
        return None, f"{path.parent} is not a folder.", None
    if path.exists() and warned != path:
        return None, f"{path.name} exists: save again to replace it.", path
    return path, "", None


class ExportScreen(ModalScreen[ExportRequest | None]):
    """Path input (default in the current directory), format choice, save or cancel.

    An existing file is only replaced after a second Enter, so a typo cannot
    silently overwrite something.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="export.cancel", tooltip="Do not export"),
    ]

    def __init__(self, default_path: Path) -> None:
        super().__init__()
        self._default = default_path
        self._confirmed: Path | None = None

    def compose(self) -> ComposeResult:
        fmt = format_for(self._default)
        with Vertical(id="export-box"):
            yield Static("Export the report", classes="modal-title")
            yield Static("File", classes="field-label")
            field = Input(value=str(self._default), id="export-path")
            field.cursor_blink = session_of(self).cursor_blink
            yield field
            with RadioSet(id="export-format"):
                yield RadioButton("Markdown", value=fmt == "markdown", id="fmt-markdown")
                yield RadioButton("JSON", value=fmt == "json", id="fmt-json")
            yield Static(id="export-note")
            with Horizontal(id="export-buttons"):
                yield Button("Save", variant="primary", id="export-save")
                yield Button("Cancel", id="export-cancel")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#export-path", Input).focus()

    def _format(self) -> str:
        return "json" if self.query_one("#fmt-json", RadioButton).value else "markdown"

    @on(RadioSet.Changed, "#export-format")
    def _format_changed(self) -> None:
        # Keep the suffix in step with the format, so the file says what it holds.
        field = self.query_one("#export-path", Input)
        path = Path(field.value or self._default.name)
        wanted = SUFFIXES[self._format()]
        if path.suffix.lower() in (*SUFFIXES.values(), ".markdown", ""):
            field.value = str(path.with_suffix(wanted))

    @on(Input.Submitted, "#export-path")
    @on(Button.Pressed, "#export-save")
    def _save(self) -> None:
        text = self.query_one("#export-path", Input).value
        path, problem, self._confirmed = export_target(text, self._confirmed)
        if path is None:
            self.query_one("#export-note", Static).update(literal(problem))
            return
        self.dismiss(ExportRequest(path, self._format()))

    @on(Button.Pressed, "#export-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
