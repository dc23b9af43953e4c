"""Snapshots of the Postmaster pane on the lab's emulator at 80x24 and 120x40.

The fetch is real. The emulator's "today" is pinned to the session clock's date and
its history is generated per (domain, date), and the fetch is stamped with the same
clock, so the pictures are the same on every run. Each snapshot waits for the fetch
and the workers; the Authentication pane's toasts (the .test Postmaster domains have no
DNS zones) are cleared first. When the wording changes on purpose, review
`snapshot_report.html` and run
`pytest tests/console/test_postmaster_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from textual.pilot import Pilot

from console.app import MailscopeApp, lab_resolver_factory
from console.config import Config
from console.history import History
from console.lab import Lab
from console.panes.base import ConsoleSession
from console.panes.postmaster import PostmasterPane, lab_access

SIZES = [(80, 24), (120, 40)]
FIXED_NOW = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _pinned_emulator(lab: Lab) -> Iterator[None]:
    assert lab.postmaster is not None
    before = lab.postmaster.today
    lab.postmaster.today = lambda: FIXED_NOW.date()
    yield
    lab.postmaster.today = before


@pytest.fixture
def make_pm_app(lab: Lab, tmp_path: Path) -> Callable[[str], MailscopeApp]:
    def make(domain: str) -> MailscopeApp:
        session = ConsoleSession(
            config=Config(),
            resolver_factory=lab_resolver_factory(lab, timeout=2.0),
            resolver_label="lab",
            history=History(tmp_path / "history.sqlite3"),
            clock=lambda: FIXED_NOW,
            cursor_blink=False,
            postmaster=lab_access(lab, tmp_path / "postmaster.sqlite3", timeout=5.0),
        )
        return MailscopeApp(session, domain=domain)

    return make


def _after_fetch(*keys: str, batch: bool = False) -> Callable[[Pilot], Awaitable[None]]:
    async def run_before(pilot: Pilot) -> None:
        await pilot.pause()
        await pilot.press("3")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        pane = pilot.app.screen.query_one(PostmasterPane)
        while not pane.fetched or pane.running:
            assert loop.time() < deadline, "the fetch did not finish in time"
            await pilot.pause(0.05)
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        if keys:
            await pilot.press(*keys)
            await pilot.pause()
        while batch and (pane.batch_running or pane.batch is None):
            assert loop.time() < deadline, "the batch fetch did not finish in time"
            await pilot.pause(0.05)
        await pilot.app.workers.wait_for_complete()
        pilot.app.clear_notifications()
        await pilot.pause()

    return run_before


@pytest.mark.parametrize("size", SIZES)
def test_postmaster_spike_above_the_line(snap_compare, make_pm_app, size) -> None:
    assert snap_compare(make_pm_app("spike.test"), terminal_size=size, run_before=_after_fetch())


@pytest.mark.parametrize("size", SIZES)
def test_postmaster_compliance_needing_work(snap_compare, make_pm_app, size) -> None:
    app = make_pm_app("noncompliant.test")
    assert snap_compare(app, terminal_size=size, run_before=_after_fetch())


def test_postmaster_gaps_over_90_days(snap_compare, make_pm_app) -> None:
    app = make_pm_app("gaps.test")
    assert snap_compare(app, terminal_size=(120, 40), run_before=_after_fetch("d"))


def test_postmaster_rates_at_80_columns(snap_compare, make_pm_app) -> None:
    app = make_pm_app("spike.test")
    assert snap_compare(app, terminal_size=(80, 24), run_before=_after_fetch("s"))


def test_postmaster_all_domains(snap_compare, make_pm_app) -> None:
    app = make_pm_app("good.test")
    assert snap_compare(app, terminal_size=(80, 24), run_before=_after_fetch("b", batch=True))
