"""The Postmaster pane driven by Pilot on the lab's Postmaster Tools v2 emulator.

Every fetch is real: the pane's thread worker runs google-api-python-client against
the emulator on loopback and stores the days in a temporary SQLite history. The
emulator's "today" is pinned to the session clock's date, so the data (which ends two
days before today) is the same on every run.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Static, TabbedContent

from console.app import MailscopeApp, lab_resolver_factory
from console.commands import ScreenActionsProvider
from console.config import Config
from console.history import History
from console.lab import Lab
from console.panes.auth import AuthPane
from console.panes.base import ConsoleSession
from console.panes.postmaster import (
    SETUP_HINT,
    PostmasterAccess,
    PostmasterPane,
    lab_access,
)
from console.postmaster.history import PostmasterHistory
from console.postmaster.model import DayStats
from widgets.compliance_table import ComplianceTable
from widgets.postmaster_domains import PostmasterDomains
from widgets.spam_chart import SpamChart

FIXED_NOW = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)
TODAY = FIXED_NOW.date()

MakePmApp = Callable[..., MailscopeApp]


@pytest.fixture
def pinned_emulator(lab: Lab) -> Iterator[None]:
    """The emulator's today is the session clock's date (restored afterwards)."""
    assert lab.postmaster is not None
    before = lab.postmaster.today
    lab.postmaster.today = lambda: TODAY
    yield
    lab.postmaster.today = before


@pytest.fixture
def pm_history_path(tmp_path: Path) -> Path:
    return tmp_path / "postmaster.sqlite3"


@pytest.fixture
def make_pm_app(
    lab: Lab, tmp_path: Path, pm_history_path: Path, pinned_emulator: None
) -> MakePmApp:
    """A console on the lab whose Postmaster pane talks to the emulator."""

    def make(domain: str | None = None, *, access: PostmasterAccess | None = None) -> MailscopeApp:
        session = ConsoleSession(
            config=Config(),
            resolver_factory=lab_resolver_factory(lab, timeout=2.0),
            resolver_label="lab",
            history=History(tmp_path / "history.sqlite3"),
            clock=lambda: FIXED_NOW,
            cursor_blink=False,
            postmaster=access or lab_access(lab, pm_history_path, timeout=5.0),
        )
        return MailscopeApp(session, domain=domain)

    return make


async def wait_for_fetch(pilot: Pilot, limit: float = 30.0) -> PostmasterPane:
    """Wait until the Postmaster pane has finished a fetch; return the pane."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    pane = pilot.app.screen.query_one(PostmasterPane)
    while not pane.fetched or pane.running:
        if loop.time() > deadline:
            raise AssertionError("the fetch did not finish in time")
        await pilot.pause(0.05)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    return pane


async def show_postmaster(pilot: Pilot) -> PostmasterPane:
    await pilot.pause()
    await pilot.press("3")
    return await wait_for_fetch(pilot)


def _text(widget: Any) -> str:
    return str(widget.render())


def _old_day(days_ago: int, rate: float) -> DayStats:
    return DayStats(TODAY - dt.timedelta(days=days_ago), {"spam_rate": rate, "auth.spf": 0.99})


async def test_fetch_stores_the_days_and_charts_the_spike(
    make_pm_app: MakePmApp, pm_history_path: Path
) -> None:
    app = make_pm_app("spike.test")
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await show_postmaster(pilot)
        report = pane.report
        assert report is not None
        assert report.error is None
        # The emulator's spike: six days at or above 0.3%, 20 to 25 days ago.
        spike = {TODAY - dt.timedelta(days=n) for n in range(20, 26)}
        assert {d.date for d in report.spam_days if d.spam_rate >= 0.003} == spike
        assert report.consecutive_days_below_0_3 == 18
        assert report.last_data_date == TODAY - dt.timedelta(days=2)  # Google's delay
        assert report.fetched_at == FIXED_NOW
        chart = pane.query_one(SpamChart)
        assert spike <= set(chart.rates)
        assert TODAY not in chart.rates  # a day without data is a gap, not a zero
        notes = _text(pane.query_one("#pm-notes", Static))
        assert "Google is ~2 days late" in notes
        assert "28/30 days with data" in notes
        box = pane.query_one("#pm-chart-box")
        assert "18 days in a row below 0.3% (Gmail asks 7)" in str(box.border_subtitle)
        assert "last fetch 2026-11-26 12:00 UTC" in _text(pane.query_one("#progress-text"))
    assert PostmasterHistory(pm_history_path).count("spike.test") > 100


async def test_stored_history_is_shown_before_the_fetch_finishes(
    make_pm_app: MakePmApp, lab: Lab, pm_history_path: Path
) -> None:
    # Older than Google keeps: only the local history knows this day.
    PostmasterHistory(pm_history_path).store("good.test", [_old_day(400, 0.0042)])
    real = lab_access(lab, pm_history_path, timeout=5.0)
    gate = threading.Event()

    def slow_connect() -> Any:
        gate.wait(10)  # holds the fetch until the stored days have been looked at
        assert real.connect is not None
        return real.connect()

    access = PostmasterAccess(slow_connect, pm_history_path, "lab emulator")
    app = make_pm_app("good.test", access=access)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("3")
        pane = pilot.app.screen.query_one(PostmasterPane)
        for _ in range(100):
            if pane.report is not None:
                break
            await pilot.pause(0.05)
        assert pane.running
        assert not pane.fetched
        assert pane.report is not None
        assert [d.date for d in pane.report.days] == [TODAY - dt.timedelta(days=400)]
        gate.set()
        pane = await wait_for_fetch(pilot)
        assert pane.report is not None
        assert len(pane.report.days) > 100
        # The old day survived the fetch and is charted over all history.
        pane.set_range(None)
        await pilot.pause()
        start, _ = pane.window()
        assert start == TODAY - dt.timedelta(days=400)
        assert TODAY - dt.timedelta(days=400) in pane.query_one(SpamChart).rates


async def test_range_keys_cycle_7_30_90_and_all_history(make_pm_app: MakePmApp) -> None:
    app = make_pm_app("spike.test")
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await show_postmaster(pilot)
        box = pane.query_one("#pm-chart-box")
        assert pane.range_days == 30
        await pilot.press("d")
        assert pane.range_days == 90
        assert "90 days" in str(box.border_title)
        assert "0 days ≥0.3%" not in str(box.border_subtitle)  # the spike is inside
        await pilot.press("d")
        assert pane.range_days is None
        assert "all history" in str(box.border_title)
        await pilot.press("d")
        assert pane.range_days == 7
        assert "0 days ≥0.3%" in str(box.border_subtitle)  # the spike is older
        start, end = pane.window()
        assert (end - start).days == 6
        assert set(pane.query_one(SpamChart).rates) <= {start + dt.timedelta(n) for n in range(7)}


async def test_enter_on_a_compliance_row_opens_the_check(make_pm_app: MakePmApp) -> None:
    app = make_pm_app("noncompliant.test")
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await show_postmaster(pilot)
        table = pane.query_one(ComplianceTable)
        assert table.has_focus
        row = table.current_row
        # Rows that need work come first.
        assert row is not None
        assert row.requirement == "DMARC_POLICY"
        assert row.status == "NEEDS_WORK"
        await pilot.press("enter")
        await pilot.pause()
        assert pilot.app.screen.query_one(TabbedContent).active == "auth"
        auth = pilot.app.screen.query_one(AuthPane)
        assert auth.query_one("#auth-checks").current_check == "dmarc"  # type: ignore[attr-defined]

        await pilot.press("3")
        await pilot.pause()
        table.select_requirement("ENCRYPTION")
        await pilot.pause()
        await pilot.press("g")
        await pilot.pause()
        assert pilot.app.screen.query_one(TabbedContent).active == "ports"


async def test_one_click_unsubscribe_opens_the_send_pane(make_pm_app: MakePmApp) -> None:
    app = make_pm_app("noncompliant.test")
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await show_postmaster(pilot)
        pane.query_one(ComplianceTable).select_requirement("ONE_CLICK_UNSUBSCRIBE")
        await pilot.pause()
        await pilot.press("g")
        await pilot.pause()
        assert pilot.app.screen.query_one(TabbedContent).active == "send"


async def test_batch_view_lists_every_domain_worst_first(make_pm_app: MakePmApp) -> None:
    app = make_pm_app("good.test")
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await show_postmaster(pilot)
        await pilot.press("b")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while pane.batch_running or pane.batch is None:
            assert loop.time() < deadline, "the batch fetch did not finish"
            await pilot.pause(0.05)
        await pilot.pause()
        table = pane.query_one(PostmasterDomains)
        assert table.has_focus
        rows = {row.domain: row for row in table.domain_rows}
        assert set(rows) == {"good.test", "spike.test", "gaps.test", "noncompliant.test"}
        assert rows["spike.test"].days_above == 6
        assert rows["noncompliant.test"].needs_work == 6
        assert rows["good.test"].needs_work == 0
        order = [key.value for key in table.rows]
        assert order[:2] == ["spike.test", "noncompliant.test"]  # the worst first
        table.select_domain("gaps.test")
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert pilot.app.domain == "gaps.test"  # type: ignore[attr-defined]
        assert pane.view == "compliance"


async def test_permission_denied_keeps_the_stored_days(
    make_pm_app: MakePmApp, pm_history_path: Path
) -> None:
    PostmasterHistory(pm_history_path).store(
        "pm-forbidden.test", [_old_day(5, 0.0011), _old_day(4, 0.0009)]
    )
    app = make_pm_app("pm-forbidden.test")
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await show_postmaster(pilot)
        report = pane.report
        assert report is not None
        assert report.error is not None
        assert "permission denied" in report.error
        assert [d.spam_rate for d in report.days] == [0.0011, 0.0009]
        assert set(pane.query_one(SpamChart).rates) == {d.date for d in report.days}
        notes = _text(pane.query_one("#pm-notes", Static))
        assert "permission denied" in notes
        assert "Fetch failed" in _text(pane.query_one("#progress-text"))
        messages = [n.message for n in pilot.app._notifications]
        assert any("permission denied" in m for m in messages)
    assert PostmasterHistory(pm_history_path).count("pm-forbidden.test") == 4


async def test_without_credentials_the_pane_says_how_to_set_them_up(
    make_pm_app: MakePmApp, pm_history_path: Path
) -> None:
    access = PostmasterAccess(None, pm_history_path, setup_hint=SETUP_HINT)
    app = make_pm_app("good.test", access=access)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await show_postmaster(pilot)
        notes = _text(pane.query_one("#pm-notes", Static))
        assert "postmaster_credentials" in notes
        assert "mailscope postmaster --login" in notes


async def test_cancel_stops_waiting_and_keeps_the_stored_days(
    make_pm_app: MakePmApp, lab: Lab, pm_history_path: Path
) -> None:
    PostmasterHistory(pm_history_path).store("good.test", [_old_day(3, 0.0004)])
    real = lab_access(lab, pm_history_path, timeout=5.0)
    gate = threading.Event()

    def slow_connect() -> Any:
        gate.wait(10)
        assert real.connect is not None
        return real.connect()

    app = make_pm_app("good.test", access=PostmasterAccess(slow_connect, pm_history_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("3")
        pane = pilot.app.screen.query_one(PostmasterPane)
        for _ in range(100):
            if pane.report is not None:
                break
            await pilot.pause(0.05)
        assert pane.running
        await pilot.press("x")
        await pilot.pause()
        assert not pane.running
        assert "Cancelled" in _text(pane.query_one("#progress-text"))
        assert pane.report is not None
        assert len(pane.report.days) == 1
        gate.set()
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        # The cancelled run's late answer does not replace what is shown.
        assert not pane.fetched
        assert len(pane.report.days) == 1


async def test_palette_lists_the_pane_actions(make_pm_app: MakePmApp) -> None:
    app = make_pm_app("spike.test")
    async with app.run_test(size=(80, 24)) as pilot:
        await show_postmaster(pilot)
        provider = ScreenActionsProvider(pilot.app.screen)
        names = {name for name, _key, _active in provider._actions()}
        assert {"Fetch", "Range", "View", "Go to check", "Rates", "All domains"} <= names


async def test_cancel_ends_a_request_blocked_on_a_silent_server(
    make_pm_app: MakePmApp, pm_history_path: Path
) -> None:
    """The worker is a thread: cancel must shut its socket, not wait out the timeout."""
    accepted: list[asyncio.StreamWriter] = []
    hung_up = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)
        while await reader.read(65536):  # takes the request, never answers
            pass
        hung_up.set()  # the client closed its end

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]

    def connect() -> Any:
        from console.postmaster.client import build_service
        from console.postmaster.credentials import lab_credentials

        return build_service(lab_credentials(), endpoint=f"http://127.0.0.1:{port}/", timeout=60)

    app = make_pm_app("good.test", access=PostmasterAccess(connect, pm_history_path))
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            await pilot.press("3")
            pane = pilot.app.screen.query_one(PostmasterPane)
            for _ in range(200):
                if accepted:
                    break
                await pilot.pause(0.05)
            assert accepted, "the fetch never reached the silent server"
            await pilot.press("x")
            assert not pane.running
            # The client hangs up at once, not when its 60 s request timeout runs out.
            await asyncio.wait_for(hung_up.wait(), 4)
    finally:
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()
