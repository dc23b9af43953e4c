"""A modal to switch domains from anywhere: type one, or pick a recent or demo one."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from console.panes.base import session_of
from console.panes.domains import suggestions, validate_domain
from widgets.domain_chooser import DomainChooser


class DomainPickerScreen(ModalScreen[str | None]):
    """Returns the chosen domain (normalised), or None when dismissed."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "escape", "dismiss_picker", "Cancel", id="picker.cancel", tooltip="Keep the domain"
        ),
    ]

    def __init__(self, current: str = "") -> None:
        """Args:
        current: the domain open now: prefilled (selected, so typing replaces it) and
            highlighted in the list when it is there.
        """
        super().__init__()
        self._current = current

    def compose(self) -> ComposeResult:
        session = session_of(self)
        pairs, heading, load = suggestions(session)
        with Vertical(id="picker-box"):
            yield Static("Audit another domain", classes="modal-title")
            yield DomainChooser(
                pairs,
                validate=validate_domain,
                suggestions_label=heading,
                value=self._current,
                highlight=self._current,
                load=load,  # recent domains: read from SQLite in a thread
                cursor_blink=session.cursor_blink,
                id="picker-chooser",
            )
        yield Footer()

    def on_mount(self) -> None:
        chooser = self.query_one(DomainChooser)
        # In the demo, picking another lab domain is the usual move: start on the list.
        if not (session_of(self).demo_domains and chooser.focus_list()):
            chooser.focus_input()

    def action_dismiss_picker(self) -> None:
        self.dismiss(None)

    @on(DomainChooser.Chosen)
    def _chosen(self, event: DomainChooser.Chosen) -> None:
        event.stop()
        self.dismiss(event.domain)
