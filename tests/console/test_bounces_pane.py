"""Pilot tests of the Bounces pane: the demo campaign, a group's detail and check, the
original message shown literally, bad paths, cancel, CSV export, pasted replies and
DMARC aggregate reports.

Every message is read from disk by the real reader (console.bounce) in the pane's
thread worker; only the cancel test slows the reader down (a gate it waits on), so
that a load is deterministically still running when Escape is pressed.
"""

from __future__ import annotations

import asyncio
import csv
import io
import threading
import time
from pathlib import Path

import pytest
from rich.console import Console
from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import Input, Static, TabbedContent, TextArea

import console.panes.bounces as bounces_module
from console.bounce.reader import analyse as real_analyse
from console.panes.auth import AuthPane
from console.panes.bounces import (
    BouncesPane,
    CsvExportScreen,
    OriginalMessageScreen,
    PasteScreen,
    demo_campaign_path,
    path_problem,
    read_original,
)
from widgets.bounce_detail import BounceDetail
from widgets.bounce_groups import BounceGroups
from widgets.bounce_messages import BounceMessages
from widgets.check_table import CheckTable
from widgets.dmarc_sources import DmarcSources

HOSTILE = (
    "Return-Path: <>\n"
    "From: MAILER-DAEMON@mail.shop.example.com (Mail Delivery System)\n"
    "To: bounces@shop.example.com\n"
    "Subject: Undelivered Mail [bold red]PWNED[/] \x1b]0;owned\x07\n"
    "Date: Thu, 26 Nov 2026 10:00:00 +0000\n"
    "MIME-Version: 1.0\n"
    'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\n'
    "\n"
    "--B\n"
    "Content-Type: text/plain\n"
    "\n"
    "<mallory@example.com>: host mx.example.com[192.0.2.9] said: 550 5.1.1\n"
    "    [link=https://evil.example]click[/link] \x1b[31mred\x1b[0m no such user\n"
    "\n"
    "--B\n"
    "Content-Type: message/delivery-status\n"
    "\n"
    "Reporting-MTA: dns; mail.shop.example.com\n"
    "\n"
    "Final-Recipient: rfc822; mallory@example.com\n"
    "Action: failed\n"
    "Status: 5.1.1\n"
    "Remote-MTA: dns; mx.example.com\n"
    "Diagnostic-Code: smtp; 550 5.1.1 [bold]user[/bold] \x1b[2Jgone\n"
    "\n"
    "--B--\n"
)


def plain(widget: Static) -> str:
    return str(widget.render())


def rendered(widget: Static, width: int = 200) -> str:
    """What a Static holding a Rich renderable (a grid) draws, as plain text."""
    console = Console(width=width, file=io.StringIO(), color_system=None)
    console.print(widget.content)
    return console.file.getvalue()


async def open_bounces(pilot: Pilot) -> BouncesPane:
    await pilot.pause()
    await pilot.press("5")
    await pilot.pause()
    return pilot.app.screen.query_one(BouncesPane)


async def settle(pilot: Pilot, pane: BouncesPane, limit: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while pane.running:
        assert loop.time() < deadline, "the load did not finish in time"
        await pilot.pause(0.05)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def load_path(pilot: Pilot, pane: BouncesPane, path: Path | str) -> None:
    await pilot.press("l")
    pane.query_one("#bounces-path", Input).value = str(path)
    await pilot.press("enter")
    await pilot.pause()
    await settle(pilot, pane)


async def test_demo_loads_the_campaign_fix_first(make_app) -> None:
    app = make_app("good.test", demo=True)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_bounces(pilot)
        assert pilot.app.screen.query_one(TabbedContent).active == "bounces"
        await settle(pilot, pane)
        assert pane.loaded is not None
        campaign = pane.loaded.campaign
        groups = [(g.reason, g.provider) for g in pane.query_one(BounceGroups).groups]
        # The engine's order: sender-side authentication problems before list hygiene.
        assert groups[0] == ("auth-failure", "gmail")
        assert ("auth-failure", "microsoft") in groups
        assert groups.index(("auth-failure", "microsoft")) < groups.index(("user-unknown", "other"))
        assert campaign.kinds["auto-reply"] == 1
        assert campaign.kinds["delayed"] == 1
        status = pane.status_text
        assert f"{campaign.failed} failed" in status
        assert "1 skipped" in status
        detail = plain(pane.query_one(BounceDetail))
        assert "1 auto-reply" in detail
        assert "1 delay notice" in detail
        # The skipped file is named relative to the folder, with its one-line problem.
        assert "22-newsletter-reply.eml: no bounce" in detail
        assert str(demo_campaign_path()) not in detail


async def test_a_group_shows_its_meaning_fix_and_diagnostics(make_app) -> None:
    app = make_app("good.test", demo=True)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_bounces(pilot)
        await settle(pilot, pane)
        table = pane.query_one(BounceGroups)
        index = [(g.reason, g.provider) for g in table.groups].index(("auth-failure", "microsoft"))
        for _ in range(index):
            await pilot.press("down")
        await pilot.pause()
        group = pane.current_group
        assert group is not None
        assert group.provider == "microsoft"
        detail = plain(pane.query_one(BounceDetail))
        assert "authenticate the sender" in detail  # the reason in words
        assert group.next_step
        assert group.next_step[:40] in detail.replace("\n", " ")
        assert "550 5.7.515 Access denied" in detail  # the frequent diagnostic
        assert "3×" in detail
        assert "g opens it in the Authentication pane" in detail
        messages = pane.query_one(BounceMessages).members
        assert sorted(r.recipient for _, r in messages) == [
            "farid@example.net",
            "greta@example.org",
            "hana@example.com",
        ]
        # g jumps to the Authentication pane, on the group's first check.
        await pilot.press("g")
        await pilot.pause()
        assert pilot.app.screen.query_one(TabbedContent).active == "auth"
        auth = pilot.app.screen.query_one(AuthPane)
        assert auth.query_one(CheckTable).current_check == "spf"
        # A check that is a pane of its own (Yahoo's TSS04: the Postmaster pane).
        await pilot.press("5")
        await pilot.pause()
        assert pane.select_group("bad-reputation", "yahoo")
        assert "g opens it in the Postmaster pane" in plain(pane.query_one(BounceDetail))
        await pilot.press("g")
        await pilot.pause()
        assert pilot.app.screen.query_one(TabbedContent).active == "postmaster"


async def test_the_original_message_is_shown_literally(make_app, tmp_path: Path) -> None:
    folder = tmp_path / "inbox"
    folder.mkdir()
    (folder / "hostile.eml").write_text(HOSTILE, encoding="utf-8")
    app = make_app("good.test")
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_bounces(pilot)
        await load_path(pilot, pane, folder)
        assert pane.current_group is not None
        detail = plain(pane.query_one(BounceDetail))
        assert "[bold]user[/bold]" in detail
        assert "\\x1b" in detail
        assert "\x1b" not in detail
        await pilot.press("m")  # narrow: the messages take the detail's place
        await pilot.pause()
        assert pane.query_one(BounceMessages).has_focus
        await pilot.press("enter")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while not isinstance(pilot.app.screen, OriginalMessageScreen):
            assert loop.time() < deadline, "the original message did not open"
            await pilot.pause(0.05)
        await pilot.pause()
        screen = pilot.app.screen
        raw = screen.query_one("#original-raw", Static)
        assert isinstance(raw.content, Text)  # never parsed as markup
        shown = raw.content.plain
        assert "[bold red]PWNED[/]" in shown
        assert "[link=https://evil.example]click[/link]" in shown
        assert "\\x1b]0;owned\\x07" in shown
        assert "\\x1b[31mred" in shown
        assert "\x1b" not in shown
        assert "\x07" not in shown
        fields = rendered(screen.query_one("#original-fields", Static))
        assert "mallory@example.com" in fields
        assert "5.1.1" in fields
        assert "\x1b" not in fields
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(pilot.app.screen, OriginalMessageScreen)


async def test_a_bad_path_is_a_one_line_message(make_app, tmp_path: Path) -> None:
    app = make_app("good.test")
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_bounces(pilot)
        missing = tmp_path / "no-such-folder"
        await load_path(pilot, pane, missing)
        assert pane.loaded is None
        toasts = [n.message for n in pilot.app._notifications]
        assert any(str(missing) in t and "no such file" in t for t in toasts)
        assert all("\n" not in t for t in toasts)
        # A folder of files that are not bounces: each is skipped with a one-line note.
        folder = tmp_path / "inbox"
        folder.mkdir()
        (folder / "junk.bin").write_bytes(b"\x00\xff\xfe garbage")
        (folder / "empty.eml").write_bytes(b"")
        await load_path(pilot, pane, folder)
        assert pane.loaded is not None
        assert "2 skipped" in pane.status_text
        detail = plain(pane.query_one(BounceDetail))
        assert "empty.eml: empty" in detail
        assert "junk.bin:" in detail


async def test_escape_cancels_a_load(
    make_app, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = threading.Event()
    started = threading.Event()

    def slow_analyse(raw):
        started.set()
        gate.wait(10)
        return real_analyse(raw)

    monkeypatch.setattr(bounces_module, "analyse", slow_analyse)
    demo = demo_campaign_path()
    app = make_app("good.test")
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_bounces(pilot)
        await pilot.press("l")
        pane.query_one("#bounces-path", Input).value = str(demo)
        await pilot.press("enter")
        await asyncio.to_thread(started.wait, 10)
        assert pane.running == "bounces"
        await pilot.press("escape")
        await pilot.pause()
        gate.set()
        await settle(pilot, pane)
        assert pane.running is None
        assert pane.loaded is None  # what a cancelled run read is not shown as a campaign
        assert "Cancelled" in pane.status_text
        # The pane is usable again: a new load runs to the end.
        await load_path(pilot, pane, demo)
        assert pane.loaded is not None
        assert pane.loaded.campaign.failed > 0


async def test_export_writes_one_row_per_recipient(
    make_app, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    app = make_app("good.test", demo=True)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_bounces(pilot)
        await settle(pilot, pane)
        await pilot.press("e")
        await pilot.pause()
        assert isinstance(pilot.app.screen, CsvExportScreen)
        field = pilot.app.screen.query_one("#bounces-export-path", Input)
        assert field.value == "bounces.csv"  # the default, in the current directory
        await pilot.press("enter")
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        target = tmp_path / "bounces.csv"
        assert target.is_file()
        rows = list(csv.DictReader(target.open(encoding="utf-8")))
        assert pane.loaded is not None
        expected = sum(len(r.recipients) for r in pane.loaded.results)
        assert len(rows) == expected
        microsoft = [row for row in rows if row["provider"] == "microsoft"]
        assert {row["status"] for row in microsoft} == {"5.7.515"}
        assert all(row["reason"] == "auth-failure" for row in microsoft)


async def test_pasted_replies_are_classified(make_app) -> None:
    app = make_app("good.test")
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_bounces(pilot)
        await pilot.press("p")
        await pilot.pause()
        await pilot.press("escape")  # nothing pasted: nothing read
        await pilot.pause()
        assert not isinstance(pilot.app.screen, PasteScreen)
        assert pane.loaded is None
        # Escape from the path line goes back to the table (keyboard only).
        await pilot.press("l")
        assert pane.query_one("#bounces-path", Input).has_focus
        await pilot.press("escape")
        assert pane.query_one(BounceGroups).has_focus
        await pilot.press("p")
        await pilot.pause()
        assert isinstance(pilot.app.screen, PasteScreen)
        pilot.app.screen.query_one(TextArea).text = (
            "550-5.7.26 This mail has been blocked because the sender is unauthenticated.\n"
            "550-5.7.26 Gmail requires all senders to authenticate with either SPF or DKIM.\n"
            "550 5.7.26 https://support.google.com/mail/answer/81126 a1si2 - gsmtp\n"
        )
        await pilot.press("ctrl+s")
        await pilot.pause()
        await settle(pilot, pane)
        group = pane.current_group
        assert group is not None
        assert (group.reason, group.provider) == ("auth-failure", "gmail")
        # The pasted text is its own original message.
        assert "Gmail requires all senders" in read_original("pasted", pane._pasted)


async def test_dmarc_reports_show_sources_by_volume(make_app) -> None:
    app = make_app("good.test", demo=True)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_bounces(pilot)
        await settle(pilot, pane)
        await pilot.press("d")
        await pilot.pause()
        await settle(pilot, pane)
        assert pane.mode == "dmarc"
        assert pane.summary is not None
        sources = pane.query_one(DmarcSources).sources
        assert [s.source_ip for s in sources][:2] == ["198.51.100.25", "192.0.2.99"]
        await pilot.press("down")
        await pilot.pause()
        detail = plain(pane.query_one(BounceDetail))
        assert "2460 fail" in detail
        assert "DKIM: no signature" in detail
        assert "no PTR" in detail  # 192.0.2.99 has no PTR in the lab
        # Back to the campaign, still loaded.
        await pilot.press("d")
        await pilot.pause()
        assert pane.mode == "bounces"
        assert pane.loaded is not None
        assert pane.query_one(BounceGroups).groups


async def test_progress_counts_messages_while_reading(
    make_app, monkeypatch: pytest.MonkeyPatch
) -> None:
    def slow_analyse(raw):
        time.sleep(0.03)  # 22 messages: long enough for several progress messages
        return real_analyse(raw)

    monkeypatch.setattr(bounces_module, "analyse", slow_analyse)
    app = make_app("good.test")
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_bounces(pilot)
        await pilot.press("l")
        pane.query_one("#bounces-path", Input).value = str(demo_campaign_path())
        await pilot.press("enter")
        seen: list[str] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        while pane.running:
            assert loop.time() < deadline, "the load did not finish in time"
            if "messages read" in pane.status_text:
                seen.append(pane.status_text)
            await pilot.pause(0.02)
        await settle(pilot, pane)
        assert seen, "no progress was shown while reading"
        assert "escape cancels" in seen[-1]
        assert pane.loaded is not None
        assert pane.loaded.campaign.messages == 22


async def test_an_mbox_entry_opens_as_its_own_message(make_app, tmp_path: Path) -> None:
    folder = tmp_path / "inbox"
    folder.mkdir()
    first = (demo_campaign_path() / "06-outlook-5.7.515.eml").read_text(encoding="utf-8")
    second = (demo_campaign_path() / "11-user-unknown.eml").read_text(encoding="utf-8")
    mbox = folder / "bounces.mbox"
    mbox.write_text(
        f"From MAILER-DAEMON Thu Nov 26 10:00:00 2026\n{first}\n"
        f"From MAILER-DAEMON Thu Nov 26 10:01:00 2026\n{second}\n",
        encoding="utf-8",
    )
    app = make_app("good.test")
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_bounces(pilot)
        await load_path(pilot, pane, mbox)
        assert pane.loaded is not None
        assert pane.select_group("user-unknown")
        await pilot.pause()
        members = pane.query_one(BounceMessages).members
        assert [pane.short(label) for label, _ in members] == ["bounces.mbox#2"]
        assert "kim@example.org" in read_original(members[0][0])
        assert "farid@example.net" not in read_original(members[0][0])


# -- remote text stays literal everywhere the pane shows it --------------------------------

RLO, LRI, CSI8 = "\u202e", "\u2066", "\x9b"
"""A right-to-left override, a left-to-right isolate (bidi controls that reorder what
follows them) and the 8-bit CSI, which some terminals run like ESC [ (XML allows it)."""

HOSTILE_BIDI = HOSTILE.replace(
    "Diagnostic-Code: smtp; 550 5.1.1 [bold]user[/bold] \x1b[2Jgone\n",
    f"Diagnostic-Code: smtp; 550 5.1.1 [bold]user[/bold] \x1b[2Jgone {RLO}txt.exe{LRI}\n",
)

HOSTILE_REPORT = f"""<?xml version="1.0" encoding="utf-8"?>
<feedback>
  <report_metadata>
    <org_name>[bold red]Evil{CSI8}31m Corp{RLO}gpj.exe</org_name>
    <email>dmarc@evil.test</email>
    <report_id>hostile-1</report_id>
    <date_range><begin>1795651200</begin><end>1795737599</end></date_range>
  </report_metadata>
  <policy_published><domain>example.test</domain><p>reject</p></policy_published>
  <record>
    <row><source_ip>192.0.2.10</source_ip><count>4</count>
      <policy_evaluated><disposition>reject</disposition><dkim>fail</dkim><spf>fail</spf>
      </policy_evaluated></row>
    <identifiers><header_from>example.test</header_from></identifiers>
    <auth_results>
      <spf><domain>[link=https://evil.test]x[/link]{RLO}.test</domain><result>fail</result></spf>
    </auth_results>
  </record>
</feedback>
""".encode()


def _assert_literal(text: str, *shown: str) -> None:
    for part in shown:
        assert part in text, part
    for raw in ("\x1b", "\x07", RLO, LRI, CSI8):
        assert raw not in text, repr(raw)


async def test_remote_text_is_escaped_in_groups_detail_and_dmarc_view(
    make_app, tmp_path: Path
) -> None:
    """Markup, ESC/CSI sequences and bidi controls from a bounce, a DMARC report's org
    name and auth results, and a PTR name all reach the screen as visible escapes."""
    from console.bounce.aggregate import Ptr, summarise

    bounces = tmp_path / "bounces"
    bounces.mkdir()
    (bounces / "hostile.eml").write_text(HOSTILE_BIDI, encoding="utf-8")
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "hostile.xml").write_bytes(HOSTILE_REPORT)
    app = make_app("good.test")
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_bounces(pilot)
        await load_path(pilot, pane, bounces)
        assert pane.current_group is not None
        detail = plain(pane.query_one(BounceDetail))
        _assert_literal(detail, "[bold]user[/bold]", "\\x1b", "\\u202etxt.exe\\u2066")
        await pilot.press("m")
        await pilot.pause()
        await pilot.press("enter")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while not isinstance(pilot.app.screen, OriginalMessageScreen):
            assert loop.time() < deadline, "the original message did not open"
            await pilot.pause(0.05)
        await pilot.pause()
        fields = rendered(pilot.app.screen.query_one("#original-fields", Static))
        _assert_literal(fields, "\\u202etxt.exe", "[bold]user[/bold]")
        raw = pilot.app.screen.query_one("#original-raw", Static).content
        assert isinstance(raw, Text)
        _assert_literal(raw.plain, "\\u202etxt.exe\\u2066", "\\x1b]0;owned\\x07")
        await pilot.press("escape")
        await pilot.pause()

        # The DMARC view of a hostile report: org name, SPF domain (in the reason).
        await pilot.press("d")
        await pilot.pause()
        await load_path(pilot, pane, reports)
        assert pane.summary is not None
        assert pane.summary.count == 4
        detail = plain(pane.query_one(BounceDetail))
        _assert_literal(
            detail,
            "[bold red]Evil\\x9b31m Corp\\u202egpj.exe",
            "[link=https://evil.test]x[/link]\\u202e.test",
        )
        # A PTR name comes from a stranger's DNS: the table and the detail escape it too.
        summary = summarise(_results_of(pane), ptrs={"192.0.2.10": Ptr(name=f"[b]mx{RLO}.test")})
        pane.post_message(BouncesPane.ReportsDone(pane._run, summary, str(reports)))
        await pilot.pause()
        await pilot.pause()
        table = pane.query_one(DmarcSources)
        cells = [cell.plain for cell in table.get_row_at(0) if isinstance(cell, Text)]
        _assert_literal(" ".join(cells), "[b]mx\\u202e.test")
        _assert_literal(plain(pane.query_one(BounceDetail)), "[b]mx\\u202e.test")


def _results_of(pane: BouncesPane) -> list:
    """The pane's reports again, as the engine reads them (for a summary with PTRs)."""
    from console.bounce import aggregate

    return [
        aggregate.analyse(item.source, item.report, file=item.file)
        for item in aggregate.load_reports([pane._reports_root])
        if isinstance(item, aggregate.Loaded)
    ]


async def test_enter_on_a_group_opens_its_messages_and_escape_goes_back(make_app) -> None:
    app = make_app("good.test", demo=True)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_bounces(pilot)
        await settle(pilot, pane)
        groups = pane.query_one(BounceGroups)
        assert groups.has_focus
        detail_box = pane.query_one("#bounces-detail-box")
        messages_box = pane.query_one("#bounces-messages-box")
        assert detail_box.display
        assert not messages_box.display  # 80 columns: the detail first
        await pilot.press("down", "enter")
        await pilot.pause()
        messages = pane.query_one(BounceMessages)
        assert messages.has_focus
        assert messages_box.display
        assert not detail_box.display  # narrow: the messages took the detail's place
        assert [r.recipient for _, r in messages.members]
        # Escape gives the detail back and returns to the groups, on the same group.
        await pilot.press("escape")
        await pilot.pause()
        assert groups.has_focus
        assert detail_box.display
        assert not messages_box.display
        assert groups.cursor_row == 1


async def test_wide_enter_on_a_group_focuses_the_messages_beside_the_detail(make_app) -> None:
    app = make_app("good.test", demo=True)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_bounces(pilot)
        await settle(pilot, pane)
        await pilot.press("enter")
        await pilot.pause()
        assert pane.query_one(BounceMessages).has_focus
        assert pane.query_one("#bounces-detail-box").display


async def test_a_fifo_is_refused_with_one_line_instead_of_blocking(
    make_app, tmp_path: Path
) -> None:
    import os

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)  # opening it would wait for a writer forever
    app = make_app("good.test")
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_bounces(pilot)
        await load_path(pilot, pane, fifo)
        assert pane.running is None
        assert pane.loaded is None
        toasts = [n.message for n in pilot.app._notifications]
        assert any(str(fifo) in t and "not a file or folder" in t for t in toasts)
        assert all("\n" not in t for t in toasts)
        # The DMARC view refuses it the same way.
        await pilot.press("escape", "d")
        await pilot.pause()
        assert pane.mode == "dmarc"
        await load_path(pilot, pane, fifo)
        assert pane.summary is None
        assert sum("not a file or folder" in n.message for n in pilot.app._notifications) == 2


async def test_every_bounces_action_is_in_the_palette_and_v_opens(make_app) -> None:
    from console.commands import ScreenActionsProvider

    app = make_app("good.test", demo=True)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_bounces(pilot)
        await settle(pilot, pane)
        names = {name for name, _, _ in ScreenActionsProvider(pilot.app.screen)._actions()}
        assert {"Open", "Messages", "Check", "Copy fix", "Export", "DMARC", "Paste"} <= names
        await pilot.press("v")  # a group: its messages
        await pilot.pause()
        assert pane.query_one(BounceMessages).has_focus
        await pilot.press("v")  # a message: the original
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while not isinstance(pilot.app.screen, OriginalMessageScreen):
            assert loop.time() < deadline, "the original message did not open"
            await pilot.pause(0.05)


async def test_dmarc_reading_shows_progress_and_escape_stops_the_thread(
    make_app, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from console.bounce import aggregate

    folder = tmp_path / "rua"
    folder.mkdir()
    source = next(demo_campaign_path().parent.joinpath("dmarc").glob("google*.xml"))
    for index in range(40):
        data = source.read_bytes().replace(b"4815162342108", b"r%d" % index)
        (folder / f"r{index:02}.xml").write_bytes(data)
    read: list[str] = []
    gate, finished = threading.Event(), threading.Event()
    real_load = aggregate.load_reports

    def gated_load(paths):
        # Each report waits for the gate after the 3rd, so the load is surely running
        # when escape is pressed; `finished` tells when the thread let go of the files.
        try:
            for item in real_load(paths):
                read.append(item.source)
                if len(read) > 3:
                    gate.wait(10)
                time.sleep(0.2)  # long enough for a progress message per report
                yield item
        finally:
            finished.set()

    monkeypatch.setattr(aggregate, "load_reports", gated_load)
    app = make_app("good.test")
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_bounces(pilot)
        await pilot.press("d")
        await pilot.pause()
        await pilot.press("l")
        pane.query_one("#bounces-path", Input).value = str(folder)
        await pilot.press("enter")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        while "reports read" not in pane.status_text:
            assert loop.time() < deadline, "no progress while reading reports"
            await pilot.pause(0.02)
        await pilot.press("escape")
        await pilot.pause()
        assert pane.running is None
        assert "Cancelled" in pane.status_text
        gate.set()
        assert await asyncio.to_thread(finished.wait, 20)
        assert len(read) < 40  # the thread stopped instead of reading every report
        assert pane.summary is None


def test_path_problem_names_what_cannot_be_read(tmp_path: Path) -> None:
    import os

    (tmp_path / "a.eml").write_text("x", encoding="utf-8")
    os.mkfifo(tmp_path / "pipe")
    assert path_problem(tmp_path) is None
    assert path_problem(tmp_path / "a.eml") is None
    assert path_problem(tmp_path / "missing") == "no such file or folder"
    assert "FIFO" in (path_problem(tmp_path / "pipe") or "")
    assert (path_problem(tmp_path / "a\x00b") or "").startswith("cannot read")
    if os.geteuid() != 0:  # root reads everything
        locked = tmp_path / "locked.eml"
        locked.write_text("x", encoding="utf-8")
        locked.chmod(0)
        assert path_problem(locked) == "cannot read: permission denied"
