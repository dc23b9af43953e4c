"""FindingCard and FindingsView with a finding's `record`: shown once, literally, copyable."""

from __future__ import annotations

from textual.app import App, ComposeResult

from console.model import Finding, Status
from widgets.finding_card import FindingCard
from widgets.findings_view import FindingsView

RECORD = 'good.test. 3600 IN TXT "v=spf1 mx ~all"'


class Host(App[None]):
    def compose(self) -> ComposeResult:
        yield FindingsView()


def _plain(card: FindingCard, selector: str) -> list[str]:
    return [str(widget.render()) for widget in card.query(selector)]


async def test_a_record_gets_its_own_block_under_the_prose_fix() -> None:
    app = Host()
    async with app.run_test(size=(100, 40)) as pilot:
        view = app.query_one(FindingsView)
        await view.show([Finding("spf.x", Status.FAIL, "bad", "Publish: " + RECORD, RECORD)])
        await pilot.pause()
        card = app.query_one(FindingCard)
        assert _plain(card, ".finding-fix") == ["Publish: " + RECORD]
        assert _plain(card, ".finding-record") == [RECORD]
        assert _plain(card, ".finding-record-label") == ["Record to publish:"]


async def test_a_fix_that_is_only_the_record_is_shown_once_as_the_record() -> None:
    app = Host()
    async with app.run_test(size=(100, 40)) as pilot:
        view = app.query_one(FindingsView)
        await view.show([Finding("spf.x", Status.FAIL, "bad", RECORD, RECORD)])
        await pilot.pause()
        card = app.query_one(FindingCard)
        assert _plain(card, ".finding-fix") == []
        assert _plain(card, ".finding-record") == [RECORD]
        assert _plain(card, ".finding-fix-label") == ["Fix:"]
        assert _plain(card, ".finding-record-label") == []  # "Fix:" says it all


async def test_a_hostile_record_is_shown_literally() -> None:
    hostile = 'x.test. 3600 IN TXT "[bold]x[/bold]\x1b[2J"'
    app = Host()
    async with app.run_test(size=(100, 40)) as pilot:
        view = app.query_one(FindingsView)
        await view.show([Finding("spf.x", Status.FAIL, "bad", "", hostile)])
        await pilot.pause()
        card = app.query_one(FindingCard)
        assert _plain(card, ".finding-record") == ['x.test. 3600 IN TXT "[bold]x[/bold]\\x1b[2J"']
        # A record alone is a fix to copy.
        assert view.fix_to_copy() is card.finding


async def test_several_records_and_a_policy_file_are_labelled_as_such() -> None:
    two = "mail.a.test. 3600 IN A 192.0.2.1\na.test. 3600 IN MX 10 mail.a.test."
    body = "version: STSv1\nmode: enforce\nmx: mx.a.test\nmax_age: 604800"
    app = Host()
    async with app.run_test(size=(100, 40)) as pilot:
        view = app.query_one(FindingsView)
        await view.show(
            [
                Finding("mx.x", Status.FAIL, "bad", "Publish both.", two),
                Finding("mta-sts.x", Status.WARN, "meh", "Serve it.", body),
            ]
        )
        await pilot.pause()
        first, second = app.query(FindingCard)
        assert _plain(first, ".finding-record-label") == ["Records to publish (2):"]
        assert _plain(first, ".finding-record") == [two]
        assert _plain(second, ".finding-record-label") == ["File to publish:"]
        assert _plain(second, ".finding-record") == [body]
