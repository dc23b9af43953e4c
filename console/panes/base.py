"""What every pane shares: the session it works in and the hooks the shell calls.

A pane is one job (Authentication now; Ports, Postmaster, Send, Bounces later). The
shell (MainScreen) puts each pane of `console.panes.PANES` in a tab, binds a number
key to it, and calls `open_domain` on every pane when the admin picks a domain.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, cast

from textual.message import Message
from textual.widget import Widget

from console.config import Config, Profile
from console.literal import printable

if TYPE_CHECKING:
    from console.auth.resolver import ResolverContext
    from console.history import History
    from console.panes.postmaster import PostmasterAccess
    from console.panes.send import SendAccess


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class DemoDomain:
    """A lab domain offered by `mailscope demo`, with the mistake it demonstrates."""

    name: str
    description: str = ""


@dataclass(slots=True)
class ConsoleSession:
    """What the console runs with, injected so tests and the demo can swap any part.

    Attributes:
        config: the configuration file as read.
        resolver_factory: makes a fresh resolver context, given the nameservers of the
            profile in use (which it may ignore: `--nameserver` and the lab win); called
            once per audit, off the event loop (a context binds to the loop it is first
            used on, and parsing a nameserver's host name blocks).
        resolver_label: how the header names the resolver (`lab`); None shows the
            servers the context asks.
        history: where audits are stored; None keeps no history.
        clock: the time an audit is stamped with (fixed in snapshot tests).
        demo_domains: the lab's domains in demo mode, else empty.
        cursor_blink: whether text inputs blink (off for deterministic snapshots).
        postmaster: how the Postmaster pane reaches the API and where it keeps its
            days (the lab's emulator in demo mode); None uses the profile's
            postmaster_credentials.
        sending: how the Send pane reaches the Gmail API and the seed mailbox (the lab's
            in demo mode); None uses the profile's gmail_credentials and readback.
    """

    config: Config
    resolver_factory: Callable[[tuple[str, ...]], ResolverContext]
    resolver_label: str | None = None
    history: History | None = None
    clock: Callable[[], datetime] = utc_now
    demo_domains: tuple[DemoDomain, ...] = ()
    cursor_blink: bool = True
    postmaster: PostmasterAccess | None = None
    sending: SendAccess | None = None


class ConsoleApp(Protocol):
    """The part of the App screens and panes may use (console.app.MailscopeApp)."""

    session: ConsoleSession

    def open_domain(self, domain: str) -> bool: ...


def console_app(widget: Widget) -> ConsoleApp:
    """The app `widget` runs in, as the console's App."""
    return cast(ConsoleApp, widget.app)


def session_of(widget: Widget) -> ConsoleSession:
    """The console session of the app `widget` runs in."""
    return console_app(widget).session


def notify_text(widget: Widget, message: str, **options: Any) -> None:
    """A toast whose message is shown literally (it may quote remote text)."""
    widget.notify(printable(message), markup=False, **options)


class Pane(Widget):
    """Base class of a pane in the console's tabs."""

    DEFAULT_CSS = """
    Pane {
        height: 1fr;
    }
    """

    class ResolverInUse(Message):
        """The pane now asks DNS through `label` (shown in the header)."""

        def __init__(self, label: str) -> None:
            super().__init__()
            self.label = label

    @property
    def session(self) -> ConsoleSession:
        return session_of(self)

    def open_domain(self, domain: str, profile: Profile) -> None:
        """The admin picked `domain` (normalised), with `profile` applying to it."""

    def focus_default(self) -> None:
        """Focus the pane's main widget (called when its tab is shown)."""
        self.focus()
