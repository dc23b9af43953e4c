"""The console driven by Pilot on the lab: open, run, select, copy, export, diff, cancel."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from textual.widgets import Input, OptionList, RadioButton

from console.app import MailscopeApp, lab_resolver_factory, short_resolver_label
from console.auth.audit import CHECK_IDS, audit_domain
from console.auth.resolver import ResolverContext
from console.commands import ScreenActionsProvider
from console.config import Config, Profile
from console.history import AUTHORITATIVE, RECURSIVE, History
from console.lab import Lab
from console.model import Report, Status
from console.panes import PANES
from console.panes.auth import AuthPane
from console.panes.base import ConsoleSession
from console.panes.domain_picker import DomainPickerScreen
from console.panes.export_dialog import ExportScreen
from console.panes.main import MainScreen
from console.panes.welcome import WelcomeScreen
from widgets.audit_progress import AuditProgress
from widgets.change_list import ChangeList
from widgets.check_table import CheckTable
from widgets.finding_card import FindingCard
from widgets.findings_view import FindingsView
from widgets.spf_tree import SpfTree
from widgets.status_badge import NOT_RUN, PENDING

FIXED_NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)  # the clock conftest.make_app injects


def _walk(node):
    yield node
    for child in node.children:
        yield from _walk(child)


def _static_text(widget) -> str:
    """What a Static shows, as plain text."""
    return str(widget.render())


async def test_opening_a_domain_runs_every_check_and_stores_it(make_app, wait_for_audit, history):
    app = make_app("good.test")
    async with app.run_test() as pilot:
        pane = await wait_for_audit(pilot)
        assert isinstance(app.screen, MainScreen)
        assert pane.report is not None
        assert pane.report.domain == "good.test"
        table = app.screen.query_one(CheckTable)
        assert table.row_count == len(CHECK_IDS)
        for check in pane.report.checks:
            assert table.status_of(check.id) == check.status.value
        assert app.sub_title == "good.test · DNS lab"  # the built-in profile goes unsaid
        # The check table has the focus, so the keyboard works at once.
        assert isinstance(app.focused, CheckTable)
    stored = history.audits("good.test")
    assert len(stored) == 1
    assert stored[0].checked_at == "2026-11-26T12:00:00Z"
    assert {c["id"] for c in stored[0].report["checks"]} == set(CHECK_IDS)


async def test_welcome_lists_recent_domains_and_opens_the_typed_one(
    make_app, wait_for_audit, history
):
    for name in ("nomx.test", "good.test"):
        history.record(Report(domain=name))
    app = make_app()
    async with app.run_test() as pilot:
        await app.workers.wait_for_complete()  # recent domains are read in a thread
        await pilot.pause()
        assert isinstance(app.screen, WelcomeScreen)
        options = app.screen.query_one(OptionList)
        ids = [options.get_option_at_index(i).id for i in range(options.option_count)]
        assert ids == ["good.test", "nomx.test"]  # most recent first
        field = app.screen.query_one(Input)
        assert app.focused is field
        field.value = "DKIM1024.test."
        await pilot.press("enter")
        pane = await wait_for_audit(pilot)
        assert pane.domain == "dkim1024.test"
        assert isinstance(app.screen, MainScreen)


async def test_welcome_rejects_what_is_not_a_domain(make_app):
    app = make_app()
    async with app.run_test() as pilot:
        await pilot.pause()
        app.screen.query_one(Input).value = "not a domain"
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, WelcomeScreen)
        error = app.screen.query_one("#chooser-error")
        assert error.has_class("-shown")
        assert "not a domain name" in _static_text(error)


async def test_demo_mode_offers_the_lab_domains_and_opens_the_picked_one(make_app, wait_for_audit):
    app = make_app(demo=True)
    async with app.run_test() as pilot:
        await pilot.pause()
        options = app.screen.query_one(OptionList)
        assert app.focused is options
        assert options.get_option_at_index(0).id == "good.test"
        # The list takes no letters: plain q quits, and the footer shows one Quit.
        keys = [key.key for key in app.screen.query("FooterKey")]
        assert "q" in keys
        assert "ctrl+q" not in keys
        assert options.get_option_at_index(1).id == "spf-lookups.test"
        await pilot.press("down", "enter")
        pane = await wait_for_audit(pilot)
        assert pane.domain == "spf-lookups.test"


async def test_selecting_checks_shows_findings_tree_and_tags(make_app, wait_for_audit):
    app = make_app("spf-lookups.test")
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await wait_for_audit(pilot)
        assert pane.shown_check == "spf"
        codes = [card.finding.code for card in app.screen.query(FindingCard)]
        assert "spf.too-many-lookups" in codes
        tree = app.screen.query_one(SpfTree)
        assert tree.display
        assert tree.over_limit
        root = tree.root.children[0]
        assert root.data["domain"] == "spf-lookups.test"
        total = pane.report.check("spf").data["lookups"]
        assert root.data["running_total"] == total > 10
        # The first include reached with more than 10 look-ups counted is marked.
        nodes = list(_walk(root))
        first_over = next(node for node in nodes if node.data["over_limit"] and node is not root)
        assert first_over.data["running_total"] == 11

        await pilot.press("down")  # DMARC
        await pilot.pause()
        assert pane.shown_check == "dmarc"
        assert not tree.display
        tags = app.screen.query_one("#dmarc-tags")
        assert tags.display
        dmarc = pane.report.check("dmarc")
        assert dmarc is not None
        assert dmarc.data.get("tags")

        await pilot.press("down")  # DKIM
        await pilot.pause()
        assert pane.shown_check == "dkim"
        assert app.screen.query_one("#dkim-selectors").display


async def test_copy_fix_copies_the_worst_finding_then_the_focused_one(make_app, wait_for_audit):
    app = make_app("spf-lookups.test")
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await wait_for_audit(pilot)
        spf = pane.report.check("spf")
        assert spf is not None
        assert spf.status is Status.FAIL
        await pilot.press("c")
        worst = app.screen.query_one(FindingsView).findings[0]
        assert worst.fix
        assert app.clipboard == (worst.record or worst.fix)
        assert worst.severity is Status.FAIL

        cards = [card for card in app.screen.query(FindingCard) if card.finding.fix]
        if len(cards) > 1:
            cards[-1].focus()
            await pilot.pause()
            await pilot.press("c")
            assert app.clipboard == (cards[-1].finding.record or cards[-1].finding.fix)


async def test_export_writes_markdown_then_json_and_asks_before_replacing(
    make_app, wait_for_audit, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    app = make_app("good.test")
    async with app.run_test(size=(100, 30)) as pilot:
        pane = await wait_for_audit(pilot)
        await pilot.press("e")
        await pilot.pause()
        assert isinstance(app.screen, ExportScreen)
        default = Path(app.screen.query_one("#export-path", Input).value)
        assert default == Path("good.test-20261126-1200.md")  # in the current directory
        await pilot.press("enter")
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert not isinstance(app.screen, ExportScreen)
        text = (tmp_path / default).read_text(encoding="utf-8")
        assert text.startswith("# Mail authentication audit: `good.test`")
        assert "| spf | pass |" in text

        await pilot.press("e")
        await pilot.pause()
        await pilot.click("#fmt-json")
        await pilot.pause()
        path_field = app.screen.query_one("#export-path", Input)
        assert path_field.value.endswith(".json")
        assert app.screen.query_one("#fmt-json", RadioButton).value
        target = tmp_path / path_field.value
        target.write_text("keep me", encoding="utf-8")
        await pilot.click("#export-save")
        await pilot.pause()
        # The file exists: the first Save only warns.
        assert isinstance(app.screen, ExportScreen)
        assert target.read_text(encoding="utf-8") == "keep me"
        await pilot.pause(0.3)  # a Button ignores clicks during its 0.2 s press effect
        await pilot.click("#export-save")
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert not isinstance(app.screen, ExportScreen)
        data = json.loads(target.read_text(encoding="utf-8"))
        assert data == json.loads(json.dumps(pane.report.to_dict()))


async def test_changes_since_the_last_audit_are_shown(
    make_app, wait_for_audit, history, ctx: ResolverContext
):
    before = await audit_domain(ctx, "good.test")
    old = before.to_dict()
    old["checked_at"] = "2026-11-20T08:00:00Z"
    for check in old["checks"]:
        if check["id"] == "spf":
            check["status"] = "fail"
            check["data"]["record"] = "v=spf1 +all"
            check["findings"] = [
                {"code": "spf.plus-all", "severity": "fail", "message": "m", "fix": "f"}
            ]
    history.record(old)

    app = make_app("good.test")
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await wait_for_audit(pilot)
        kinds = {(c.check, c.kind) for c in pane.changes}
        assert ("spf", "status") in kinds
        assert ("spf", "record") in kinds
        assert ("spf", "finding-gone") in kinds
        assert {c.check for c in pane.changes} == {"spf"}
        changes = _static_text(app.screen.query_one(ChangeList))
        assert "Since 2026-11-20 08:00" in changes
        assert "spf: fail → pass" in changes
        detail = _static_text(app.screen.query_one("#detail-changes"))
        assert "was: v=spf1 +all" in detail
        table = app.screen.query_one(CheckTable)
        assert str(table.get_cell("spf", "changed")) == "Δ"
        assert str(table.get_cell("dmarc", "changed")) == ""

        await pilot.press("r")  # nothing changed since the audit just made
        pane = await wait_for_audit(pilot)
        assert pane.changes == []
        assert "Nothing changed." in _static_text(app.screen.query_one(ChangeList))
    assert len(history.audits("good.test")) == 3


async def test_cancel_stops_the_audit_and_marks_what_did_not_run(
    make_app, history: History, wait_for_audit
):
    # console-slow.test's MX lives under silent.test, which the lab never answers.
    app = make_app("console-slow.test", timeout=10.0)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.screen.query_one(AuthPane)
        progress = app.screen.query_one(AuditProgress)
        for _ in range(200):
            if pane.running and progress.done >= 2:
                break
            await pilot.pause(0.05)
        assert pane.running
        assert progress.done >= 2
        # The interface answers while the audit runs.
        await pilot.press("down")
        pane.select_check("mx")  # waits on silent.test: still running when cancelled
        await pilot.pause()
        heading = app.screen.query_one("#detail-heading")
        assert "running…" in _static_text(heading)
        # What does not apply mid-audit is hidden, not greyed out: Quit stays in view.
        footer = {key.key: key for key in app.screen.query("FooterKey")}
        assert "x" in footer
        assert "c" not in footer
        assert "e" not in footer
        assert footer["q"].region.right <= 80
        await pilot.press("x")
        for _ in range(40):
            if not pane.running:
                break
            await pilot.pause(0.05)
        assert not pane.running
        await pilot.pause()
        # The detail no longer claims the check is running.
        assert pane.shown_check == "mx"
        assert "not run (cancelled)" in _static_text(heading)
        assert "running" not in _static_text(heading)
        assert pane.report is None
        table = app.screen.query_one(CheckTable)
        statuses = [table.status_of(check_id) for check_id in CHECK_IDS]
        assert NOT_RUN in statuses
        assert PENDING not in statuses
        assert table.status_of("mx") == NOT_RUN
        assert "Cancelled after" in _static_text(progress.query_one("#progress-text"))
        # Cancel is offered only while an audit runs.
        assert app.screen.query_one(AuthPane).check_action("cancel", ()) is False
    assert history.count() == 0


async def test_authoritative_mode_asks_the_zone_nameservers(make_app, wait_for_audit, history):
    app = make_app("good.test")
    async with app.run_test() as pilot:
        first = await wait_for_audit(pilot)
        statuses = {c.id: c.status for c in first.report.checks}
        await pilot.press("a")
        pane = await wait_for_audit(pilot)
        assert pane.authoritative
        assert app.sub_title == "good.test · DNS auth ns1.lab.test"
        # The lab is its own authority: the same answers, asked directly.
        assert {c.id: c.status for c in pane.report.checks} == statuses
        # Compared with a direct audit only: there was none before, so nothing changed.
        assert pane.previous is None
        assert pane.changes == []
        await pilot.press("a")
        pane = await wait_for_audit(pilot)
        assert pane.previous is not None  # the first audit, made through the resolver
    assert [a.mode for a in history.audits("good.test")] == [
        RECURSIVE,
        AUTHORITATIVE,
        RECURSIVE,
    ]


async def test_picker_switches_domain(make_app, wait_for_audit):
    app = make_app("good.test")
    async with app.run_test() as pilot:
        await wait_for_audit(pilot)
        await pilot.press("o")
        await pilot.pause()
        assert isinstance(app.screen, DomainPickerScreen)
        app.screen.query_one(Input).value = "nullmx.test"
        await pilot.press("enter")
        pane = await wait_for_audit(pilot)
        assert pane.domain == "nullmx.test"
        assert "nullmx.test" in app.sub_title
        await pilot.press("o")
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)


async def test_palette_lists_the_actions_valid_now(make_app, wait_for_audit):
    app = make_app("good.test")
    async with app.run_test() as pilot:
        await wait_for_audit(pilot)
        provider = ScreenActionsProvider(app.screen)
        names = [hit.text async for hit in provider.discover()]
        assert {"Re-run", "Export", "Authoritative", "Domain", "Quit", "Authentication"} <= set(
            names
        )
        assert "Cancel" not in names  # nothing is running
        hits = [hit async for hit in provider.search("expo")]
        assert hits
        assert hits[0].text == "Export"


async def test_keymap_from_the_config_remaps_keys(make_app, wait_for_audit, history):
    config = Config(keymap={"auth.rerun": "f5", "auth.rerunn": "f6"})
    app = make_app("good.test", config=config)
    async with app.run_test(notifications=True) as pilot:
        await wait_for_audit(pilot)
        await pilot.press("r")  # no longer bound
        await pilot.pause()
        assert history.count() == 1
        await pilot.press("f5")
        await wait_for_audit(pilot)
        assert history.count() == 2
        messages = [str(n.message) for n in app._notifications]
        assert any("'auth.rerunn'" in m and "did you mean 'auth.rerun'" in m for m in messages)


async def test_theme_from_config_and_light_dark_toggle(make_app):
    app = make_app(config=Config(theme="textual-dark"))
    async with app.run_test() as pilot:
        await pilot.pause()
        assert app.theme == "textual-dark"
        await pilot.press("ctrl+t")
        assert app.theme == "textual-light"
        await pilot.press("ctrl+t")
        assert app.theme == "textual-dark"


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_nothing_important_is_cut_off(make_app, wait_for_audit, size):
    app = make_app("spf-lookups.test")
    async with app.run_test(size=size) as pilot:
        await wait_for_audit(pilot)
        table = app.screen.query_one(CheckTable)
        # Every check row is visible without scrolling, inside its panel.
        assert table.region.height >= len(CHECK_IDS) + 1
        assert table.scroll_offset.y == 0
        left = app.screen.query_one("#auth-left")
        assert left.region.contains_region(table.region)
        footer_keys = {key.key for key in app.screen.query("FooterKey")}
        assert {"r", "c", "e", "o"} <= footer_keys
        detail = app.screen.query_one("#auth-detail")
        assert detail.region.right <= size[0]


async def test_an_invalid_domain_on_the_command_line_opens_the_welcome(make_app):
    app = make_app("not a domain")
    async with app.run_test(notifications=True) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, WelcomeScreen)
        assert any("not a domain name" in str(n.message) for n in app._notifications)


async def test_number_keys_show_panes(make_app, wait_for_audit):
    app = make_app("good.test")
    async with app.run_test() as pilot:
        await wait_for_audit(pilot)
        await pilot.press("1")
        await pilot.pause()
        assert app.screen.query_one("#panes").active == "auth"
        assert isinstance(app.focused, CheckTable)


async def test_question_mark_toggles_the_keys_panel(make_app, wait_for_audit):
    app = make_app("good.test")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_audit(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert app.screen.query("HelpPanel")
        await pilot.press("question_mark")
        await pilot.pause()
        assert not app.screen.query("HelpPanel")


# -- header, picker, recent domains, failed audits, palette ------------------------------------


def _lab_session(lab: Lab, history: History, **overrides) -> ConsoleSession:
    options = {
        "config": Config(),
        "resolver_factory": lab_resolver_factory(lab, timeout=2.0),
        "resolver_label": "lab",
        "history": history,
        "clock": lambda: FIXED_NOW,
        "cursor_blink": False,
    }
    options.update(overrides)
    return ConsoleSession(**options)


def test_resolver_labels_are_shortened_for_the_header() -> None:
    assert short_resolver_label("8.8.8.8, 8.8.4.4, 1.1.1.1") == "8.8.8.8 (+2)"
    assert short_resolver_label("lab :5353") == "lab :5353"
    assert short_resolver_label("system resolver") == "system resolver"


async def test_the_header_keeps_domain_and_resolver_at_80_columns(
    lab: Lab, history, wait_for_audit
):
    port = lab.nameserver.rpartition(":")[2]
    profile = Profile("acme", domain="spf-lookups.test")
    config = Config(profiles={"acme": profile})
    session = _lab_session(lab, history, config=config, resolver_label=f"lab :{port}")
    app = MailscopeApp(session, domain="spf-lookups.test")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_audit(pilot)
        await pilot.press("a")
        await wait_for_audit(pilot)
        title = app.screen.query_one("HeaderTitle")
        shown = str(title.render()).strip()
        assert shown == "spf-lookups.test · profile acme · DNS auth ns1.lab.test"
        assert len(shown) <= title.content_region.width
        await pilot.press("a")
        await wait_for_audit(pilot)
        shown = str(title.render()).strip()
        assert shown == f"spf-lookups.test · profile acme · DNS lab :{port}"


async def test_picker_in_demo_starts_on_the_list_at_the_current_domain(make_app, wait_for_audit):
    app = make_app("nomx.test", demo=True)
    async with app.run_test() as pilot:
        await wait_for_audit(pilot)
        await pilot.press("o")
        await pilot.pause()
        assert isinstance(app.screen, DomainPickerScreen)
        options = app.screen.query_one(OptionList)
        assert app.focused is options
        assert options.highlighted_option is not None
        assert options.highlighted_option.id == "nomx.test"
        assert app.screen.query_one(Input).value == "nomx.test"
        await pilot.press("down", "enter")
        pane = await wait_for_audit(pilot)
        following = options.get_option_at_index(options.highlighted or 0).id
        assert pane.domain == following != "nomx.test"


async def test_picker_prefills_the_domain_and_down_reaches_the_list(
    make_app, wait_for_audit, history
):
    for name in ("nullmx.test", "nomx.test"):
        history.record(Report(domain=name, checked_at=FIXED_NOW))
    app = make_app("good.test")
    async with app.run_test() as pilot:
        await wait_for_audit(pilot)
        await pilot.press("o")
        await app.workers.wait_for_complete()
        await pilot.pause()
        field = app.screen.query_one(Input)
        assert app.focused is field
        assert field.value == "good.test"  # selected: typing replaces it
        assert sorted(field.selection) == [0, len("good.test")]
        options = app.screen.query_one(OptionList)
        ids = [options.get_option_at_index(i).id for i in range(options.option_count)]
        assert ids == ["good.test", "nomx.test", "nullmx.test"]
        assert options.highlighted_option.id == "good.test"
        await pilot.press("down")
        assert app.focused is options
        await pilot.press("down")
        assert options.highlighted_option.id == "nomx.test"
        # Back in an emptied input, Enter takes the highlighted suggestion.
        field.focus()
        field.value = ""
        await pilot.press("enter")
        pane = await wait_for_audit(pilot)
        assert pane.domain == "nomx.test"
        assert not app.screen.query("#chooser-error.-shown")


async def test_enter_on_an_empty_input_without_suggestions_says_why(make_app):
    app = make_app()
    async with app.run_test() as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("down")  # nothing to move to: the input keeps the focus
        assert isinstance(app.focused, Input)
        # The input takes letters, so Quit is ctrl+q here, and the footer says so.
        assert "ctrl+q" in {key.key for key in app.screen.query("FooterKey")}
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, WelcomeScreen)
        assert app.screen.query_one("#chooser-error").has_class("-shown")
        options = app.screen.query_one(OptionList)
        assert options.option_count == 0
        assert not options.display


class _SlowHistory(History):
    """A history whose `recent` waits until released: a slow disk, a locked file."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.release = threading.Event()
        self.reader: str | None = None

    def recent(self, limit: int = 10) -> list[tuple[str, str, str]]:
        self.reader = threading.current_thread().name
        self.release.wait(10)
        return super().recent(limit)


async def test_recent_domains_are_read_off_the_event_loop(lab: Lab, tmp_path: Path):
    history = _SlowHistory(tmp_path / "h.sqlite3")
    history.record(Report(domain="nomx.test", checked_at=FIXED_NOW))
    app = MailscopeApp(_lab_session(lab, history))
    async with app.run_test() as pilot:
        await pilot.pause()
        # The screen is up and typing works while the history is still being read.
        assert isinstance(app.screen, WelcomeScreen)
        assert isinstance(app.focused, Input)
        options = app.screen.query_one(OptionList)
        assert options.option_count == 0
        assert not options.display
        history.release.set()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert [options.get_option_at_index(i).id for i in range(options.option_count)] == [
            "nomx.test"
        ]
        assert options.display
        assert history.reader != threading.main_thread().name


async def test_a_failed_audit_is_not_reported_as_fixes(
    lab: Lab, history, wait_for_audit, ctx: ResolverContext
):
    good = await audit_domain(ctx, "spf-lookups.test")
    history.record(good)

    def dead(_preferred: tuple[str, ...] = ()) -> ResolverContext:
        # Nothing listens on the discard port: every lookup fails.
        return ResolverContext.from_options(["127.0.0.1:9"], timeout=0.3, retries=0)

    session = _lab_session(lab, history, resolver_factory=dead)
    app = MailscopeApp(session, domain="spf-lookups.test")
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await wait_for_audit(pilot)
        assert all(check.status is Status.ERROR for check in pane.report.checks)
        assert pane.changes
        # Only "could not check": no finding fixed, no record removed.
        assert {change.kind for change in pane.changes} == {"status"}
        text = _static_text(app.screen.query_one(ChangeList))
        assert "spf: could not check (was fail)" in text
        assert "fixed" not in text
        assert "removed" not in text
    # The next audit compares with the last one that got answers.
    previous = history.previous("spf-lookups.test")
    assert previous is not None
    assert previous == json.loads(json.dumps(good.to_dict()))


async def test_palette_offers_each_panes_own_actions(make_app, wait_for_audit):
    app = make_app("good.test")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_audit(pilot)
        provider = ScreenActionsProvider(app.screen)
        auth_ids = {active.binding.id for _, _, active in provider._actions()}
        assert "auth.rerun" in auth_ids
        for number, spec in enumerate(PANES, start=1):
            if spec.id == "auth":
                continue
            await pilot.press(str(number))
            await pilot.pause()
            ids = {active.binding.id for _, _, active in provider._actions()}
            assert any(binding_id.startswith(f"{spec.id}.") for binding_id in ids), ids
            assert "app.quit" in ids
