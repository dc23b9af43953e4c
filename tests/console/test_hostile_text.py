"""A TXT record with Rich markup and terminal escapes is shown as text, never obeyed.

hostile.test (a lab zone) publishes an SPF record containing `[bold red]x[/]`, an SGR
colour sequence and an OSC window-title sequence, and a DMARC record with a `[link=...]`
tag. Every place the console shows them must show the characters, with each control
character as a visible `\\x1b`-style escape.
"""

from __future__ import annotations

from rich.segment import Segment
from textual.geometry import Region
from textual.widget import Widget

from console.export import report_to_markdown
from widgets.finding_card import FindingCard

ESC = "\x1b"
BEL = "\x07"


def _segments(widget: Widget) -> list[Segment]:
    width, height = widget.size
    assert width, f"{widget!r} is not shown"
    assert height, f"{widget!r} is not shown"
    strips = widget.render_lines(Region(0, 0, width, height))
    return [segment for strip in strips for segment in strip]


def _screen_text(widget: Widget) -> str:
    return "".join(segment.text for segment in _segments(widget))


def _assert_inert(widget: Widget) -> str:
    """No control character reaches the terminal and no markup became a style."""
    segments = _segments(widget)
    text = "".join(segment.text for segment in segments)
    assert ESC not in text
    assert BEL not in text
    for segment in segments:
        style = segment.style
        if style is not None:
            assert not style.link, f"a link was made from remote text: {segment!r}"
    return text


async def test_hostile_spf_record_is_shown_literally(make_app, wait_for_audit):
    app = make_app("hostile.test")
    async with app.run_test(size=(160, 60)) as pilot:
        pane = await wait_for_audit(pilot)
        spf = pane.report.check("spf")
        assert spf is not None
        assert ESC in spf.data["record"]  # the engine keeps the record exactly as published
        assert pane.shown_check == "spf"

        record = app.screen.query_one("#detail-record")
        text = _assert_inert(record)
        assert "[bold red]x[/]" in text
        assert "\\x1b[31mred\\x1b[0m" in text
        assert "\\x1b]0;pwned\\x07" in text
        # The markup did not turn into a style: `x` is neither bold nor red.
        for segment in _segments(record):
            if "x[/]" in segment.text and segment.style is not None:
                assert not (segment.style.bold and segment.style.color)

        cards = list(app.screen.query(FindingCard))
        assert cards
        parts = [part for card in cards for part in card.query(".finding-message, .finding-fix")]
        shown = "".join(_assert_inert(part) for part in parts)
        assert "'[bold'" in shown
        assert "\\x1b[31mred" in shown or "\x1b[31mred" in shown


async def test_hostile_dmarc_tags_are_shown_literally(make_app, wait_for_audit):
    app = make_app("hostile.test")
    async with app.run_test(size=(160, 60)) as pilot:
        pane = await wait_for_audit(pilot)
        pane.select_check("dmarc")
        await pilot.pause()
        assert pane.shown_check == "dmarc"
        record_text = _assert_inert(app.screen.query_one("#detail-record"))
        assert "[link=https://evil.example]click[/link]" in record_text
        assert "\\x1b[2J" in record_text
        assert pane.report.check("dmarc").data.get("tags")
        tag_text = _assert_inert(app.screen.query_one("#dmarc-tags"))
        # The value column may fold the long value over two lines; both halves are literal.
        assert "[link=https://evil.example]" in tag_text
        assert "[/link]" in tag_text


async def test_hostile_report_exports_without_escape_sequences(make_app, wait_for_audit):
    app = make_app("hostile.test")
    async with app.run_test() as pilot:
        pane = await wait_for_audit(pilot)
        markdown = report_to_markdown(pane.report)
    assert ESC not in markdown
    assert BEL not in markdown
    assert "\\x1b[31mred" in markdown
