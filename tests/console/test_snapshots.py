"""Snapshots of the console on lab domains at 80x24 and 120x40.

Fixed clock, no cursor blink, the dark theme and the resolver label `lab` keep the
pictures deterministic; each waits for the audit to finish. When a check's wording
changes on purpose, review `snapshot_report.html` and run
`pytest tests/console/test_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from textual.pilot import Pilot

from console.auth.audit import audit_domain
from console.history import History
from console.lab import Lab
from console.model import Report

SIZES = [(80, 24), (120, 40)]
FIXED_NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)  # the clock conftest.make_app injects


def _after_audit(wait_for_audit, *keys: str):
    async def run_before(pilot: Pilot) -> None:
        await wait_for_audit(pilot)
        if keys:
            await pilot.press(*keys)
            await pilot.pause()
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()

    return run_before


@pytest.mark.parametrize("size", SIZES)
def test_welcome_in_demo_mode(snap_compare, make_app, size) -> None:
    assert snap_compare(make_app(demo=True), terminal_size=size)


def test_welcome_with_recent_domains(snap_compare, make_app, history: History) -> None:
    for name in ("nomx.test", "dkim1024.test", "good.test"):
        history.record(Report(domain=name, checked_at=FIXED_NOW))

    async def run_before(pilot: Pilot) -> None:
        await pilot.app.workers.wait_for_complete()  # the recent domains load in a thread
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_auth_pane_on_a_domain_that_does_everything_right(
    snap_compare, make_app, wait_for_audit, size
) -> None:
    app = make_app("good.test")
    assert snap_compare(app, terminal_size=size, run_before=_after_audit(wait_for_audit))


@pytest.mark.parametrize("size", SIZES)
def test_auth_pane_with_spf_over_ten_lookups(snap_compare, make_app, wait_for_audit, size) -> None:
    app = make_app("spf-lookups.test")
    assert snap_compare(app, terminal_size=size, run_before=_after_audit(wait_for_audit))


def test_header_at_80_columns_asking_authoritative_servers(
    snap_compare, make_app, wait_for_audit
) -> None:
    # The domain and the servers asked both fit; no "mailscope —", no "profile default".
    app = make_app("spf-lookups.test")

    async def run_before(pilot: Pilot) -> None:
        await wait_for_audit(pilot)
        await pilot.press("a")
        await _after_audit(wait_for_audit)(pilot)
        pilot.app.clear_notifications()  # the "Authoritative on" toast would hide the detail
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_auth_pane_spf_tree_focused(snap_compare, make_app, wait_for_audit) -> None:
    app = make_app("spf-lookups.test")

    async def run_before(pilot: Pilot) -> None:
        await wait_for_audit(pilot)
        pilot.app.screen.query_one("#spf-tree").focus()
        await pilot.pause()

    assert snap_compare(app, terminal_size=(120, 40), run_before=run_before)


def test_auth_pane_dmarc_tags_explained(snap_compare, make_app, wait_for_audit) -> None:
    app = make_app("rua-unauth.test")
    assert snap_compare(
        app, terminal_size=(120, 40), run_before=_after_audit(wait_for_audit, "down")
    )


def test_auth_pane_changes_since_last_audit(
    snap_compare, make_app, wait_for_audit, history: History, lab: Lab
) -> None:
    before = asyncio.run(audit_domain(lab.resolver(), "good.test")).to_dict()
    before["checked_at"] = "2026-11-20T08:00:00Z"
    for check in before["checks"]:
        if check["id"] == "spf":
            check["status"] = "fail"
            check["data"]["record"] = "v=spf1 include:_spf.google.com +all"
    history.record(before)
    app = make_app("good.test")
    assert snap_compare(app, terminal_size=(80, 24), run_before=_after_audit(wait_for_audit))
