"""Snapshots of the Bounces pane on the demo campaign at 80x24 and 120x40: the groups
with the selected group's detail (and its messages when wide), the original message
view, and the DMARC reports view.

The campaign is the lab's demo folder (console/lab/bounces/), read by the real reader;
file names are shown relative to that folder, so the pictures do not depend on where
the repository is checked out. When the wording changes on purpose, review
`snapshot_report.html` and run
`pytest tests/console/test_bounces_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from textual.pilot import Pilot

from console.panes.bounces import BouncesPane, OriginalMessageScreen

SIZES = [(80, 24), (120, 40)]


async def _settle(pilot: Pilot, pane: BouncesPane) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while pane.running:
        assert loop.time() < deadline, "the load did not finish in time"
        await pilot.pause(0.05)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def _steps(*keys: str) -> Callable[[Pilot], Awaitable[None]]:
    async def run_before(pilot: Pilot) -> None:
        await pilot.pause()
        await pilot.press("5")
        await pilot.pause()
        pane = pilot.app.screen.query_one(BouncesPane)
        await _settle(pilot, pane)
        for key in keys:
            await pilot.press(key)
            await pilot.pause()
            await _settle(pilot, pane)
        if keys and keys[-1] == "enter":
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 10
            while not isinstance(pilot.app.screen, OriginalMessageScreen):
                assert loop.time() < deadline, "the original message did not open"
                await pilot.pause(0.05)
        await pilot.wait_for_scheduled_animations()
        await pilot.pause()

    return run_before


@pytest.mark.parametrize("size", SIZES)
def test_bounces_groups_and_detail(snap_compare, make_app, size) -> None:
    app = make_app("good.test", demo=True)
    assert snap_compare(app, terminal_size=size, run_before=_steps())


@pytest.mark.parametrize("size", SIZES)
def test_bounces_microsoft_group(snap_compare, make_app, size) -> None:
    app = make_app("good.test", demo=True)
    assert snap_compare(app, terminal_size=size, run_before=_steps("down"))


@pytest.mark.parametrize("size", SIZES)
def test_bounces_original_message(snap_compare, make_app, size) -> None:
    app = make_app("good.test", demo=True)
    # Narrow, m puts the messages in the detail's place; wide, they are beside it.
    keys = ("m", "enter") if size[0] < 110 else ("tab", "tab", "enter")
    assert snap_compare(app, terminal_size=size, run_before=_steps(*keys))


def test_bounces_dmarc_reports(snap_compare, make_app) -> None:
    app = make_app("good.test", demo=True)
    assert snap_compare(app, terminal_size=(80, 24), run_before=_steps("d", "down"))
