"""Snapshots of the Send pane on the lab at 80x24 and 120x40: lint, the dialog, a send.

The send is real (the lab's submission server), but the lab binds free ports, counts
queue ids over the session and every send takes its own time; `steady_sender` rewrites
those values (587→10587, LAB000001, a fixed Message-ID, fixed timings) so the pictures
are the same on every run. Each snapshot waits for the workers to finish. When the
wording changes on purpose, review `snapshot_report.html` and run
`pytest tests/console/test_send_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from textual.pilot import Pilot

from console.panes.send import SendPane, steady_access, steady_api_sender, steady_sender
from console.send.gmail_api import send_gmail_api
from console.send.guard import SendGuard
from console.send.smtp import send_smtp

SIZES = [(80, 24), (120, 40)]

PIXEL_HTML = '<p>Hello</p><img src="https://track.example.net/o.gif" width="1" height="1">'


@pytest.fixture(autouse=True)
def _steady_lab_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(SendPane, "sender", steady_sender(send_smtp))
    monkeypatch.setattr(SendPane, "api_sender", steady_api_sender(send_gmail_api))
    monkeypatch.setattr(SendPane, "access_wrapper", steady_access)
    monkeypatch.setattr(SendPane, "guard", SendGuard())


async def _settle(pilot: Pilot, pane: SendPane) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while pane.running:
        assert loop.time() < deadline, "the lint or send did not finish in time"
        await pilot.pause(0.05)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def _steps(*keys: str, pixel: bool = True) -> Callable[[Pilot], Awaitable[None]]:
    async def run_before(pilot: Pilot) -> None:
        await pilot.pause()
        await pilot.press("4")
        await pilot.pause()
        pane = pilot.app.screen.query_one(SendPane)
        if pixel:
            pane.form.set_field("html", PIXEL_HTML)
        for key in keys:
            await pilot.press(key)
            await pilot.pause()
            await _settle(pilot, pane)
        await pilot.wait_for_scheduled_animations()
        await pilot.pause()

    return run_before


@pytest.mark.parametrize("size", SIZES)
def test_send_compose_and_lint(snap_compare, make_app, size) -> None:
    app = make_app("good.test", demo=True)
    assert snap_compare(app, terminal_size=size, run_before=_steps("ctrl+l"))


def test_send_confirmation_dialog(snap_compare, make_app) -> None:
    app = make_app("good.test", demo=True)
    assert snap_compare(app, terminal_size=(80, 24), run_before=_steps("ctrl+g"))


@pytest.mark.parametrize("size", SIZES)
def test_send_accepted(snap_compare, make_app, size) -> None:
    app = make_app("good.test", demo=True)
    # Tab from the default Cancel to Send, then Enter: the keyboard-only way to confirm.
    keys = ("ctrl+g", "tab", "enter")
    assert snap_compare(app, terminal_size=size, run_before=_steps(*keys, pixel=False))
