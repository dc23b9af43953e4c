"""The welcome screen: what mailscope is, a domain input and the recent (or demo) domains."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Center, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Static

from console.panes.base import console_app, session_of
from console.panes.domains import suggestions, validate_domain
from widgets.domain_chooser import DomainChooser

PITCH = (
    "Will mail from your domain reach the inbox? mailscope checks SPF, DKIM, DMARC, "
    "MX, MTA-STS, TLS-RPT, BIMI, DNSSEC, reverse DNS and blocklists, with the exact "
    "fix for each problem."
)


class WelcomeScreen(Screen[None]):
    """First screen of `mailscope` without a domain, and of `mailscope demo`."""

    BINDINGS: ClassVar[list[BindingType]] = [
        # ctrl+q rather than q: the domain input has the focus and takes letters.
        # Priority, as Textual's own (hidden) ctrl+q is: else that one hides this one
        # from the footer.
        Binding(
            "ctrl+q",
            "quit",
            "Quit",
            id="welcome.quit",
            tooltip="Leave mailscope",
            priority=True,
        ),
    ]

    def compose(self) -> ComposeResult:
        session = session_of(self)
        pairs, heading, load = suggestions(session)
        yield Header()
        with Center(), Vertical(id="welcome-box"):
            yield Static("mailscope", id="welcome-title")
            yield Static(PITCH, id="welcome-pitch")
            yield DomainChooser(
                pairs,
                validate=validate_domain,
                suggestions_label=heading,
                load=load,  # recent domains: read from SQLite in a thread
                cursor_blink=session.cursor_blink,
                id="welcome-chooser",
            )
        yield Footer()

    def on_mount(self) -> None:
        chooser = self.query_one(DomainChooser)
        # In the demo the list is the point: start on it, Enter opens a domain.
        if not (session_of(self).demo_domains and chooser.focus_list()):
            chooser.focus_input()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "quit":
            # Only while typing: elsewhere plain `q` quits, and two Quits crowd the footer.
            return isinstance(self.focused, Input)
        return True

    def action_quit(self) -> None:
        self.app.exit()

    @on(DomainChooser.Chosen)
    def _chosen(self, event: DomainChooser.Chosen) -> None:
        event.stop()
        console_app(self).open_domain(event.domain)
