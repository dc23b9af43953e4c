"""The Ports pane driven by Pilot on the lab: open, run, select, transcript, cancel, copy.

Every probe here is real: the pane's worker runs the probe engine against the lab's
SMTP servers on loopback (good.test's MX hosts, its submission server, and the lab's
misbehaving hosts: a tarpit, a server without STARTTLS, a greeting full of escapes).
"""

from __future__ import annotations

import asyncio

import pytest
from rich.segment import Segment
from textual.geometry import Region
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import Input

from console.commands import ScreenActionsProvider
from console.config import Config, Profile, SubmissionServer
from console.lab import Lab
from console.model import Status
from console.panes.ports import PortsPane, parse_host_request, submission_specs
from console.ports.model import PortState, Role
from console.ports.targets import PortSpec
from widgets.finding_card import FindingCard
from widgets.port_detail import PortDetail
from widgets.port_grid import PortGrid
from widgets.status_badge import NOT_RUN, PENDING
from widgets.transcript_log import TranscriptLog

ESC = "\x1b"

SUBMISSION_PROFILE = Config(
    profiles={
        "lab": Profile(
            "lab", domain="good.test", submission=SubmissionServer("smtp.good.test", 587)
        )
    }
)


async def wait_for_ports(pilot: Pilot, limit: float = 30.0) -> PortsPane:
    """Wait until the Ports pane has finished a run; return the pane."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    pane = pilot.app.screen.query_one(PortsPane)
    while pane.report is None or pane.running:
        if loop.time() > deadline:
            raise AssertionError("the probes did not finish in time")
        await pilot.pause(0.05)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    return pane


async def show_ports(pilot: Pilot) -> PortsPane:
    await pilot.pause()
    await pilot.press("2")
    return await wait_for_ports(pilot)


def _text(widget: Widget) -> str:
    return "".join(segment.text for segment in _segments(widget))


def _segments(widget: Widget) -> list[Segment]:
    width, height = widget.size
    assert width
    assert height, f"{widget!r} is not shown"
    return [seg for strip in widget.render_lines(Region(0, 0, width, height)) for seg in strip]


def _shown_text(container: Widget) -> str:
    """Every shown Static inside `container`, as drawn."""
    parts = [w for w in container.query("Static") if w.size.width and w.size.height]
    return "\n".join(_text(part) for part in parts)


def test_a_typed_host_may_carry_ports() -> None:
    assert parse_host_request("SMTP.Example.com") == ("smtp.example.com", None)
    host, ports = parse_host_request("smtp.example.com 587, 2525/starttls")
    assert host == "smtp.example.com"
    assert [str(spec) for spec in ports or []] == ["587", "2525/starttls"]
    assert parse_host_request("smtp.example.com:465")[1][0].role is Role.SUBMISSIONS
    assert parse_host_request("[::1]")[0] == "::1"
    assert parse_host_request("[::1]:2525") == ("::1", [PortSpec(2525, Role.RELAY)])
    for bad in ("", "not a host!", "smtp.example.com 99999"):
        with pytest.raises(ValueError, match=r".+"):
            parse_host_request(bad)


async def test_probes_wait_until_the_pane_is_shown_then_fill_the_grid(make_app, lab: Lab):
    app = make_app("good.test")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        pane = app.screen.query_one(PortsPane)
        # Opening a domain does not connect to its mail servers until the pane is looked at.
        assert pane.report is None
        assert not pane.running
        await pilot.press("2")
        pane = await wait_for_ports(pilot)
        assert isinstance(app.focused, PortGrid)
        grid = app.screen.query_one(PortGrid)
        lab_port = lab.ports[25]
        assert [(p.host, p.family, p.port) for p in grid.probes] == [
            ("mx1.good.test", "ipv4", lab_port),
            ("mx1.good.test", "ipv6", lab_port),
            ("mx2.good.test", "ipv4", lab_port),
        ]
        assert all(p.status is Status.PASS for p in grid.probes)
        text = _text(grid)
        assert "25 STARTTLS" in text
        assert f"✔ PASS 25→{lab_port}" in text
        assert "mx1.good.test v6" in text
        progress = _shown_text(app.screen.query_one("#ports-progress"))
        assert "✔ PASS 3" in progress
        assert "MX of good.test" in progress


async def test_selecting_a_port_shows_its_detail_and_transcript(make_app, lab: Lab):
    app = make_app("good.test")
    async with app.run_test(size=(120, 40)) as pilot:
        await show_ports(pilot)
        await pilot.press("down")  # mx1.good.test over IPv6
        await pilot.pause()
        detail = app.screen.query_one(PortDetail)
        assert detail.probe is not None
        assert (detail.probe.host, detail.probe.family) == ("mx1.good.test", "ipv6")
        shown = _shown_text(detail)
        assert "mx1.good.test IPv6  port 25→" in shown
        assert "TLSv1.3" in shown
        assert "::1 (IPv6)" in shown
        assert "STARTTLS" in shown
        log = app.screen.query_one(TranscriptLog)
        assert log.display  # wide: beside the detail
        assert "C EHLO" in log.plain
        assert "C STARTTLS" in log.plain
        assert "S 220 mx1.good.test" in log.plain


async def test_the_transcript_takes_the_detail_place_when_narrow(make_app):
    app = make_app("good.test")
    async with app.run_test(size=(80, 24)) as pilot:
        await show_ports(pilot)
        log = app.screen.query_one(TranscriptLog)
        detail_box = app.screen.query_one("#ports-detail-box")
        assert not log.display
        assert detail_box.display
        await pilot.press("t")
        await pilot.pause()
        assert log.display
        assert not detail_box.display
        assert app.focused is log
        assert "C EHLO" in _shown_text(log)
        assert "Transcript · mx1.good.test 25→" in str(log.border_title)
        await pilot.press("t")
        await pilot.pause()
        assert not log.display
        assert detail_box.display
        assert isinstance(app.focused, PortGrid)


async def test_submission_server_of_the_profile_is_probed_on_465_and_587(make_app):
    app = make_app("good.test", config=SUBMISSION_PROFILE)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await show_ports(pilot)
        grid = app.screen.query_one(PortGrid)
        assert [str(column.label) for column in grid.ordered_columns] == [
            "25 STARTTLS",
            "465 TLS",
            "587 submit",
        ]
        submission = [p for p in pane.probes if p.host == "smtp.good.test"]
        assert sorted((p.role, p.state) for p in submission) == [
            (Role.SUBMISSIONS, PortState.OPEN),
            (Role.SUBMISSION, PortState.OPEN),
        ]
        pane.select_probe("smtp.good.test", 587)
        await pilot.pause()
        detail = app.screen.query_one(PortDetail)
        assert detail.probe is not None
        assert detail.probe.role is Role.SUBMISSION
        assert detail.probe.auth_after_tls  # AUTH offered once TLS is up
        assert "AUTH after TLS" in _shown_text(detail)
        assert "no submission server" not in (app.screen.query_one(Input).placeholder or "")


async def test_a_typed_host_is_probed_on_the_default_ports(make_app, lab: Lab):
    app = make_app("good.test")
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        pane = await show_ports(pilot)
        field = app.screen.query_one("#ports-host", Input)
        assert "no submission server" in (field.placeholder or "")
        await pilot.press("h")
        await pilot.pause()
        assert app.focused is field
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.focused, PortGrid)
        await pilot.press("h")
        await pilot.pause()
        field.value = "not a host!"
        await pilot.press("enter")
        await pilot.pause()
        assert any(n.title == "Cannot probe that" for n in app._notifications)
        assert not pane.running
        field.value = "smtp.good.test"
        await pilot.press("enter")
        pane = await wait_for_ports(pilot)
        typed = {(p.well_known_port, p.state) for p in pane.probes if p.host == "smtp.good.test"}
        assert typed == {(25, PortState.OPEN), (465, PortState.OPEN), (587, PortState.OPEN)}
        assert len([p for p in pane.probes if p.host.startswith("mx")]) == 3  # MX kept
        assert isinstance(app.focused, PortGrid)


async def test_cancel_stops_the_probes_and_marks_the_rest_not_run(
    make_app, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(PortsPane, "probe_timeout", 30.0)  # the tarpit would hold us 30 s
    app = make_app("ports-tarpit.test")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("2")
        pane = app.screen.query_one(PortsPane)
        grid = app.screen.query_one(PortGrid)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while not grid.cell_keys():  # the targets are known: the probe is connected
            assert loop.time() < deadline
            await pilot.pause(0.05)
        key = grid.cell_keys()[0]
        assert grid.state_of(key) == PENDING
        assert pane.check_action("cancel", ()) is True
        started = loop.time()
        await pilot.press("x")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert loop.time() - started < 5
        assert not pane.running
        assert grid.state_of(key) == NOT_RUN
        assert "Cancelled after 0/1 probes" in _shown_text(app.screen.query_one("#ports-progress"))
        assert "cancelled" in _shown_text(app.screen.query_one(PortDetail))
        assert pane.check_action("cancel", ()) is False


async def test_copy_fix_copies_the_selected_port_fix_then_the_focused_one(make_app):
    app = make_app("ports-nostarttls.test")
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        pane = await show_ports(pilot)
        probe = pane.probes[0]
        assert probe.status is Status.FAIL
        codes = [f.code for f in probe.findings]
        assert any("starttls" in code for code in codes)
        await pilot.press("c")
        await pilot.pause()
        worst = app.screen.query_one(PortDetail).fix_to_copy()
        assert worst is not None
        assert worst.severity is Status.FAIL
        assert app.clipboard == worst.fix
        assert any(worst.code in str(n.message) for n in app._notifications)
        cards = [card for card in app.screen.query(FindingCard) if card.finding.fix]
        if len(cards) > 1:
            cards[-1].focus()
            await pilot.pause()
            await pilot.press("c")
            await pilot.pause()
            assert app.clipboard == cards[-1].finding.fix


async def test_a_hostile_greeting_is_shown_literally(make_app):
    app = make_app("ports-escape.test")
    async with app.run_test(size=(160, 50)) as pilot:
        pane = await show_ports(pilot)
        probe = pane.probes[0]
        assert probe.banner is not None
        assert ESC in probe.banner  # the engine keeps what the server said
        assert "[bold red]ALERT[/bold red]" in probe.banner
        for widget in (
            app.screen.query_one(PortDetail),
            app.screen.query_one(TranscriptLog),
            app.screen.query_one(PortGrid),
        ):
            parts = [w for w in widget.query("Static") if w.size.width] or [widget]
            for part in parts:
                for segment in _segments(part):
                    assert ESC not in segment.text
                    assert "\x07" not in segment.text
                    assert "\x9b" not in segment.text
                    if segment.style is not None:
                        assert not segment.style.link
                    if "ALERT" in segment.text and segment.style is not None:
                        assert not (segment.style.bold and segment.style.color)
        shown = _shown_text(app.screen.query_one(PortDetail))
        assert "\\x1b[2J\\x1b]0;owned\\x07 [bold" in shown  # the banner wraps here
        assert "red]ALERT[/bold red] \\x9b31m ESMTP" in shown
        log = app.screen.query_one(TranscriptLog)
        assert "red]ALERT[/bold red]" in _shown_text(log)
        assert "\\x1b]0;owned\\x07 [bold red]ALERT[/bold red] \\x9b31m" in log.plain


async def test_palette_offers_the_ports_actions(make_app):
    app = make_app("ports-nostarttls.test")
    async with app.run_test() as pilot:
        await show_ports(pilot)
        provider = ScreenActionsProvider(app.screen)
        names = [hit.text async for hit in provider.discover()]
        assert {"Re-run", "Copy fix", "Transcript", "Probe host", "Domain", "Ports"} <= set(names)
        assert "Cancel" not in names  # nothing is running
        hits = [hit async for hit in provider.search("transcr")]
        assert hits
        assert hits[0].text == "Transcript"


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_nothing_important_is_cut_off(make_app, size):
    app = make_app("good.test", config=SUBMISSION_PROFILE)
    async with app.run_test(size=size) as pilot:
        await show_ports(pilot)
        grid = app.screen.query_one(PortGrid)
        # Every host row and every port column is visible without scrolling.
        assert grid.region.height >= grid.row_count + 1
        assert grid.virtual_size.width <= grid.region.width
        box = app.screen.query_one("#ports-grid-box")
        assert box.region.contains_region(grid.region)
        detail = app.screen.query_one("#ports-detail-box")
        assert detail.region.height >= 6
        assert detail.region.right <= size[0]
        footer_keys = {key.key for key in app.screen.query("FooterKey")}
        assert {"r", "c", "t", "o"} <= footer_keys


def test_the_configured_submission_port_is_expected_the_other_is_looked_at() -> None:
    assert submission_specs(587) == (
        [PortSpec(587, Role.SUBMISSION)],
        [PortSpec(465, Role.SUBMISSIONS)],
    )
    assert submission_specs(465) == (
        [PortSpec(465, Role.SUBMISSIONS)],
        [PortSpec(587, Role.SUBMISSION)],
    )
    assert submission_specs(2587)[1] == [
        PortSpec(465, Role.SUBMISSIONS),
        PortSpec(587, Role.SUBMISSION),
    ]


async def test_another_domain_opened_elsewhere_is_probed_when_the_pane_is_shown_again(make_app):
    app = make_app("good.test")
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await show_ports(pilot)
        assert {p.host for p in pane.probes} == {"mx1.good.test", "mx2.good.test"}
        await pilot.press("1")
        await pilot.pause()
        assert app.open_domain("ports-nostarttls.test")
        await pilot.pause()
        # The old domain's ports are gone, and nothing is probed behind the admin's back.
        assert pane.report is None
        assert not pane.running
        assert app.screen.query_one(PortGrid).cell_keys() == []
        await pilot.press("2")
        pane = await wait_for_ports(pilot)
        assert [p.host for p in pane.probes] == ["mx.ports-nostarttls.test"]


async def test_blocked_outbound_port_25_is_said_once_for_the_run(
    make_app, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(PortsPane, "probe_timeout", 1.0)  # port 25 is dropped: costs this
    app = make_app("ports-egress.test")
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await show_ports(pilot)
        assert {p.state for p in pane.probes} == {PortState.FILTERED}
        assert not app.screen.query_one("#ports-run-findings-box").display
        # With a host whose submission ports answer, the run can tell whose network it is.
        await pilot.press("h")
        app.screen.query_one("#ports-host", Input).value = "mx1.ports-egress.test"
        await pilot.press("enter")
        pane = await wait_for_ports(pilot)
        assert [f.code for f in pane.report.findings] == ["ports.egress-25-blocked"]
        box = app.screen.query_one("#ports-run-findings-box")
        assert box.display
        assert box.region.height >= 3
        assert "ports.egress-25-blocked" in _shown_text(box)
        cards = list(box.query(FindingCard))
        cards[0].focus()
        await pilot.press("c")
        await pilot.pause()
        assert app.clipboard == pane.report.findings[0].fix
        assert "1 about the run" in _shown_text(app.screen.query_one("#ports-progress"))


async def test_the_profiles_helo_name_is_the_greeting(make_app):
    config = Config(
        profiles={
            "lab": Profile(
                "lab",
                domain="good.test",
                submission=SubmissionServer("smtp.good.test", 587),
                helo="mail.good.test",
            )
        }
    )
    app = make_app("good.test", config=config)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await show_ports(pilot)
        greeted = {
            line.text
            for probe in pane.probes
            for line in probe.transcript
            if line.direction == "C" and line.text.startswith("EHLO")
        }
        assert greeted == {"EHLO mail.good.test"}
