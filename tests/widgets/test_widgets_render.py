"""The presentational widgets, each fed plain data in a tiny host app."""

from __future__ import annotations

from typing import Any

from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Input

from console.model import CheckResult, Finding, Status
from widgets.audit_progress import AuditProgress
from widgets.check_table import CheckTable
from widgets.data_view import DataView, value_text
from widgets.dkim_selectors import DkimSelectors
from widgets.dmarc_tags import DmarcTags
from widgets.domain_chooser import DomainChooser
from widgets.finding_card import FindingCard
from widgets.findings_view import FindingsView
from widgets.mx_records import MxRecords
from widgets.spf_tree import SpfTree
from widgets.status_badge import NOT_RUN, PENDING, StatusBadge, badge


class Host(App[None]):
    """Mounts the given widgets and records the messages they post."""

    def __init__(self, *widgets: Widget) -> None:
        super().__init__()
        self._widgets = widgets
        self.messages: list[Message] = []

    def compose(self) -> ComposeResult:
        yield from self._widgets

    def on_check_table_check_highlighted(self, message: CheckTable.CheckHighlighted) -> None:
        self.messages.append(message)

    def on_domain_chooser_chosen(self, message: DomainChooser.Chosen) -> None:
        self.messages.append(message)


def _text(widget: Widget) -> str:
    width, height = widget.size
    strips = widget.render_lines(Region(0, 0, width, height))
    return "\n".join(strip.text for strip in strips)


def test_badges_pair_a_symbol_with_a_theme_colour() -> None:
    assert badge(Status.FAIL).plain == "✖ FAIL"
    assert badge(Status.PASS).plain == "✔ PASS"
    assert badge(Status.ERROR).plain.startswith("?")
    assert badge(PENDING).plain.startswith("…")
    assert badge(NOT_RUN).plain.startswith("–")
    assert "$text-error" in str(badge(Status.FAIL).spans[0].style)


async def test_status_badge_widget_has_help_tooltip() -> None:
    widget = StatusBadge(Status.WARN)
    async with Host(widget).run_test() as pilot:
        await pilot.pause()
        assert "WARN" in _text(widget)
        assert "warning" in str(widget.tooltip)


async def test_check_table_rows_fill_in_any_order_and_cancel_marks_the_rest() -> None:
    table = CheckTable()
    app = Host(table)
    async with app.run_test() as pilot:
        table.set_checks([("spf", "SPF"), ("dmarc", "DMARC"), ("mx", "MX")])
        await pilot.pause()
        assert [table.status_of(c) for c in ("spf", "dmarc", "mx")] == [PENDING] * 3
        table.show_result(CheckResult("dmarc", Status.FAIL, "x"))
        table.show_result(CheckResult("blocklists", Status.PASS, "x"))  # not listed: added
        table.mark_unfinished()
        assert table.status_of("dmarc") == "fail"
        assert table.status_of("spf") == NOT_RUN
        assert table.status_of("blocklists") == "pass"
        assert table.row_count == 4
        table.mark_changed({"dmarc"})
        assert str(table.get_cell("dmarc", "changed")) == "Δ"
        table.focus()
        await pilot.press("down")
        await pilot.pause()
        assert table.current_check == "dmarc"
        assert app.messages[-1].check_id == "dmarc"
        # Starting over keeps the cursor on the same check.
        table.set_checks([("spf", "SPF"), ("dmarc", "DMARC")])
        await pilot.pause()
        assert table.current_check == "dmarc"


TREE: dict[str, Any] = {
    "domain": "example.test",
    "record": "v=spf1 a include:a.test include:b.test -all",
    "lookups": 3,
    "children": [
        {
            "domain": "a.test",
            "via": "include:a.test",
            "lookups": 4,
            "provider": "Google Workspace",
            "children": [],
        },
        {
            "domain": "b.test",
            "lookups": 5,
            "children": [{"domain": "gone.test", "error": "NXDOMAIN", "lookups": 0}, "junk"],
        },
    ],
}


async def test_spf_tree_counts_look_ups_in_evaluation_order() -> None:
    tree = SpfTree()
    async with Host(tree).run_test(size=(100, 20)) as pilot:
        tree.show_tree(TREE)
        await pilot.pause()
        root = tree.root.children[0]
        a, b = root.children
        (gone,) = b.children  # the non-dict child is ignored
        # a (1), include:a.test (2) and its 4 terms (6), include:b.test (7), b's own
        # terms before its include (11), the include of gone.test (12).
        assert [n.data["running_total"] for n in (a, b, gone)] == [2, 7, 12]
        assert root.data["running_total"] == 12
        assert tree.over_limit
        assert [n.data["over_limit"] for n in (root, a, b, gone)] == [True, False, False, True]
        assert str(root.label).startswith("example.test  12/10 look-ups in all")
        # A cost is the include itself plus everything below it, as in the spf findings.
        assert str(a.label).startswith("include:a.test  at 2/10, costs 5")
        assert "Google Workspace" in str(a.label)
        assert str(b.label).startswith("b.test  at 7/10, costs 6")
        assert [n.data["cost"] for n in (a, b, gone)] == [5, 6, 1]
        assert "NXDOMAIN" in str(gone.label)
        text = _text(tree)
        assert "example.test" in text
        assert "gone.test" in text
        tree.show_tree(None)
        await pilot.pause()
        assert not tree.root.children
        assert not tree.over_limit


async def test_spf_tree_puts_a_redirect_after_every_mechanism() -> None:
    tree = SpfTree()
    async with Host(tree).run_test(size=(100, 20)) as pilot:
        tree.show_tree(
            {
                "domain": "r.test",
                "record": "v=spf1 redirect=_spf.r.test include:x.test mx",
                "lookups": 3,
                "children": [
                    {"domain": "x.test", "lookups": 0},
                    {"domain": "_spf.r.test", "lookups": 1},
                ],
            }
        )
        await pilot.pause()
        x, redirect = tree.root.children[0].children
        assert x.data["running_total"] == 1
        assert redirect.data["running_total"] == 3  # after include:x.test and mx
        assert not tree.over_limit


async def test_findings_worst_first_and_the_fix_to_copy_follows_focus() -> None:
    view = FindingsView()
    findings = [
        Finding("x.fine", Status.PASS, "all good"),
        Finding("x.warn", Status.WARN, "meh", "fix warn"),
        Finding("x.fail", Status.FAIL, "bad [b]x[/b]", "fix fail"),
    ]
    async with Host(view).run_test(size=(80, 40)) as pilot:
        await view.show(findings)
        await pilot.pause()
        assert [f.code for f in view.findings] == ["x.fail", "x.warn", "x.fine"]
        assert view.fix_to_copy().code == "x.fail"
        cards = list(view.query(FindingCard))
        cards[1].focus()
        await pilot.pause()
        assert view.fix_to_copy().code == "x.warn"
        assert "bad [b]x[/b]" in _text(cards[0].query_one(".finding-message"))
        await view.show([], empty_text="Nothing to fix.")
        await pilot.pause()
        assert view.fix_to_copy() is None
        assert "Nothing to fix." in _text(view.query_one(".findings-empty"))


async def test_tables_show_their_rows_and_hide_when_empty() -> None:
    tags, dkim, mx, data = DmarcTags(), DkimSelectors(), MxRecords(), DataView()
    async with Host(tags, dkim, mx, data).run_test(size=(120, 50)) as pilot:
        tags.show_tags([{"tag": "p", "value": "reject", "meaning": "Refuse failing mail."}])
        dkim.show_selectors(
            [{"selector": "s1", "key_type": "rsa", "key_bits": 1024, "testing": True}]
        )
        mx.show_records(
            [
                {"preference": 20, "host": "mx2.test", "addresses": []},
                {"preference": 10, "host": "mx1.test", "addresses": ["127.0.1.1"], "cname": "c"},
            ]
        )
        data.show_data({"record": "v=x", "lookups": 3, "ok": True, "hosts": ["a", "b"]}, {"record"})
        await pilot.pause()
        assert "Refuse failing mail." in _text(tags)
        dkim_text = _text(dkim)
        assert "rsa 1024" in dkim_text
        assert "testing (t=y)" in dkim_text
        mx_text = _text(mx)
        assert mx_text.index("mx1.test") < mx_text.index("mx2.test")
        assert "no address" in mx_text
        assert "mx1.test → c" in mx_text
        data_text = _text(data)
        assert "lookups" in data_text
        assert "yes" in data_text
        assert "v=x" not in data_text
        tags.show_tags([])
        dkim.show_selectors(None)
        mx.show_records([])
        data.show_data({"record": "v=x"}, {"record"})
        assert not any(w.display for w in (tags, dkim, mx, data))


def test_value_text_is_literal_for_every_shape() -> None:
    assert value_text(None).plain == "—"
    assert value_text(["[b]", 2]).plain == "[b]\n2"
    nested = value_text({"k": "\x1b"}).plain
    assert "\x1b" not in nested
    assert nested == '{"k": "\\u001b"}'
    assert value_text([]).plain == "(none)"


async def test_domain_chooser_validates_and_posts_the_normalised_domain() -> None:
    def validate(text: str) -> str:
        if " " in text:
            raise ValueError("not a domain")
        return text.lower()

    chooser = DomainChooser([("good.test", "all right")], validate=validate, cursor_blink=False)
    app = Host(chooser)
    async with app.run_test() as pilot:
        field = chooser.query_one(Input)
        field.focus()
        field.value = "bad name"
        await pilot.press("enter")
        await pilot.pause()
        assert chooser.query_one("#chooser-error").has_class("-shown")
        assert not app.messages
        field.value = "Fine.TEST"
        await pilot.press("enter")
        await pilot.pause()
        assert app.messages[-1].domain == "fine.test"
        chooser.query_one("#chooser-list").focus()
        await pilot.press("enter")
        await pilot.pause()
        assert app.messages[-1].domain == "good.test"


async def test_audit_progress_counts_and_finishes() -> None:
    progress = AuditProgress()
    async with Host(progress).run_test() as pilot:
        progress.start(10, "good.test")
        progress.advance()
        progress.advance()
        await pilot.pause()
        assert "2/10 checks" in _text(progress.query_one("#progress-text"))
        progress.finish("done")
        await pilot.pause()
        assert _text(progress.query_one("#progress-text")).startswith("done")


async def test_spf_tree_and_the_spf_finding_agree_on_what_an_include_costs(ctx) -> None:
    # Imported here: the other widget tests need no DNS.
    from console.auth.options import AuditOptions
    from console.auth.spf import check_spf

    result = await check_spf(ctx, "spf-lookups.test", AuditOptions())
    (too_many,) = [f for f in result.findings if f.code == "spf.too-many-lookups"]
    tree = SpfTree()
    async with Host(tree).run_test(size=(120, 30)) as pilot:
        tree.show_tree(result.data["tree"])
        await pilot.pause()
        for node in tree.root.children[0].children:
            via = node.data["via"]
            if f"{via} costs" in too_many.message:
                assert f"{via} costs {node.data['cost']}" in too_many.message
                assert f", costs {node.data['cost']}" in str(node.label)
        google = next(
            n for n in tree.root.children[0].children if n.data["via"] == "include:_spf.google.com"
        )
        assert google.data["cost"] == 4  # the include plus its three nested includes
