"""The console's panes and screens; `PANES` lists the tabs of the main screen, in order.

Adding a pane: write `console/panes/<name>.py` with a `Pane` subclass and add one
`PaneSpec` line below. The shell gives it a tab, a number key (its position) and a
command-palette entry, and calls its `open_domain` when a domain is picked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from console.panes.base import Pane


@dataclass(frozen=True, slots=True)
class PaneSpec:
    """A tab of the main screen: its id, its title and where its class lives."""

    id: str
    title: str
    load: Callable[[], type[Pane]]
    """Imports and returns the pane's class (imported late: keeps app start-up lean)."""

    def build(self) -> Pane:
        return self.load()(id=f"{self.id}-pane")


def _auth() -> type[Pane]:
    from console.panes.auth import AuthPane

    return AuthPane


def _ports() -> type[Pane]:
    from console.panes.ports import PortsPane

    return PortsPane


def _postmaster() -> type[Pane]:
    from console.panes.postmaster import PostmasterPane

    return PostmasterPane


def _send() -> type[Pane]:
    from console.panes.send import SendPane

    return SendPane


def _bounces() -> type[Pane]:
    from console.panes.bounces import BouncesPane

    return BouncesPane


PANES: tuple[PaneSpec, ...] = (
    PaneSpec("auth", "Authentication", _auth),
    PaneSpec("ports", "Ports", _ports),
    PaneSpec("postmaster", "Postmaster", _postmaster),
    PaneSpec("send", "Send", _send),
    PaneSpec("bounces", "Bounces", _bounces),
)
