"""Snapshots of the Ports pane on the lab's SMTP servers at 80x24 and 120x40.

The probes are real, but the lab binds free ports and issues its certificates at
start-up, and every probe takes its own time: `steady_prober` rewrites those values
(25→10025, fixed timings, certificate dates from the fixed clock) so the pictures are
the same on every run. Each snapshot waits for the probes and the workers to finish.
When the wording changes on purpose, review `snapshot_report.html` and run
`pytest tests/console/test_ports_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import pytest
from textual.pilot import Pilot

from console.config import Config, Profile, SubmissionServer
from console.panes.ports import PortsPane, steady_prober
from console.ports.runner import probe_targets

SIZES = [(80, 24), (120, 40)]
FIXED_NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)  # the clock conftest.make_app injects

SUBMISSION_PROFILE = Config(
    profiles={
        "lab": Profile(
            "lab", domain="good.test", submission=SubmissionServer("smtp.good.test", 587)
        )
    }
)


@pytest.fixture(autouse=True)
def _steady_lab_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(PortsPane, "prober", steady_prober(probe_targets, FIXED_NOW))


def _after_probes(*keys: str) -> Callable[[Pilot], Awaitable[None]]:
    async def run_before(pilot: Pilot) -> None:
        await pilot.pause()
        await pilot.press("2")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        pane = pilot.app.screen.query_one(PortsPane)
        while pane.report is None or pane.running:
            assert loop.time() < deadline, "the probes did not finish in time"
            await pilot.pause(0.05)
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        if keys:
            await pilot.press(*keys)
            await pilot.pause()
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()

    return run_before


@pytest.mark.parametrize("size", SIZES)
def test_ports_of_a_domain_and_its_submission_server(snap_compare, make_app, size) -> None:
    app = make_app("good.test", config=SUBMISSION_PROFILE)
    assert snap_compare(app, terminal_size=size, run_before=_after_probes())


def test_ports_transcript_replaces_the_detail_when_narrow(snap_compare, make_app) -> None:
    app = make_app("good.test", config=SUBMISSION_PROFILE)
    assert snap_compare(app, terminal_size=(80, 24), run_before=_after_probes("t"))


@pytest.mark.parametrize("size", SIZES)
def test_ports_of_an_mx_without_starttls(snap_compare, make_app, size) -> None:
    app = make_app("ports-nostarttls.test")
    assert snap_compare(app, terminal_size=size, run_before=_after_probes())


def test_ports_submission_port_selected(snap_compare, make_app) -> None:
    app = make_app("good.test", config=SUBMISSION_PROFILE)
    assert snap_compare(
        app,
        terminal_size=(120, 40),
        run_before=_after_probes("down", "down", "down", "right", "right"),
    )
