"""The console's shell: header, one tab per pane (number keys switch), footer."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, Header, TabbedContent, TabPane

from console.config import Profile
from console.panes import PANES
from console.panes.base import Pane


def _pane_bindings() -> list[Binding]:
    return [
        Binding(
            str(number),
            f"show_pane('{spec.id}')",
            spec.title,
            id=f"pane.{spec.id}",
            tooltip=f"Show the {spec.title} pane",
            show=False,
        )
        for number, spec in enumerate(PANES, start=1)
        if number < 10
    ]


class MainScreen(Screen[None]):
    """Every pane in a tab; tells each pane when the domain changes."""

    BINDINGS: ClassVar[list[BindingType]] = [
        *_pane_bindings(),
        Binding(
            "o",
            "app.pick_domain",
            "Domain",
            id="app.pick-domain",
            tooltip="Audit another domain",
        ),
    ]

    def __init__(self, domain: str | None = None, profile: Profile | None = None) -> None:
        super().__init__()
        self._initial = (domain, profile)

    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(id="panes"):
            for number, spec in enumerate(PANES, start=1):
                with TabPane(Content(f"{number} {spec.title}"), id=spec.id):
                    yield spec.build()
        yield Footer()

    def on_mount(self) -> None:
        domain, profile = self._initial
        if domain and profile is not None:
            # After a refresh: the panes have mounted and are ready for it.
            self.call_after_refresh(self.open_domain, domain, profile)
        self.call_after_refresh(self._focus_active)

    def open_domain(self, domain: str, profile: Profile) -> None:
        """Hand the domain to every pane."""
        for pane in self.query(Pane):
            pane.open_domain(domain, profile)

    def action_show_pane(self, pane_id: str) -> None:
        self.query_one(TabbedContent).active = pane_id
        self._focus_active()

    @on(TabbedContent.TabActivated)
    def _tab_activated(self) -> None:
        self.call_after_refresh(self._focus_active)

    def _focus_active(self) -> None:
        tabs = self.query_one(TabbedContent)
        if not tabs.active:
            return
        pane_container = tabs.get_pane(tabs.active)
        panes = pane_container.query(Pane)
        if panes:
            panes.first().focus_default()
