"""Fixtures for console tests: an app on the session lab, with a fixed clock and history."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from textual.pilot import Pilot

from console.app import MailscopeApp, demo_domains, lab_resolver_factory
from console.config import Config
from console.history import History
from console.lab import Lab
from console.panes.auth import AuthPane
from console.panes.base import ConsoleSession
from console.panes.send import lab_send_access

FIXED_NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)

MakeApp = Callable[..., MailscopeApp]


@pytest.fixture
def history(tmp_path: Path) -> History:
    """An empty history of this test's own."""
    return History(tmp_path / "history.sqlite3")


@pytest.fixture
def make_app(lab: Lab, history: History) -> MakeApp:
    """Build a MailscopeApp on the session lab: fixed clock, no blink, label `lab`."""

    def make(
        domain: str | None = None,
        *,
        demo: bool = False,
        config: Config | None = None,
        timeout: float = 2.0,
        history_: History | None = None,
    ) -> MailscopeApp:
        session = ConsoleSession(
            config=config or Config(),
            resolver_factory=lab_resolver_factory(lab, timeout=timeout),
            resolver_label="lab",
            history=history_ or history,
            clock=lambda: FIXED_NOW,
            demo_domains=demo_domains() if demo else (),
            cursor_blink=False,
            sending=lab_send_access(lab) if demo else None,
        )
        return MailscopeApp(session, domain=domain)

    return make


async def _wait_for_audit(pilot: Pilot, limit: float = 30.0) -> AuthPane:
    """Wait until the Authentication pane has finished an audit; return the pane."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while True:
        panes = pilot.app.screen.query(AuthPane)
        if panes and panes.first().report is not None and not panes.first().running:
            break
        if loop.time() > deadline:
            raise AssertionError("the audit did not finish in time")
        await pilot.pause(0.05)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    return panes.first()


@pytest.fixture
def wait_for_audit() -> Callable[[Pilot], Awaitable[AuthPane]]:
    """`await wait_for_audit(pilot)`: until the audit pane has a finished report."""
    return _wait_for_audit
