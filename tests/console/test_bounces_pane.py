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
import threading
import time
from pathlib import Path

import pytest
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
        fields = plain(screen.query_one("#original-fields", Static))
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
