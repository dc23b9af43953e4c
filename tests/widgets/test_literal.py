"""Remote text becomes an inert Text: markup stays characters, controls become escapes."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from console.literal import printable
from widgets.literal import ESCAPE_STYLE, literal


def test_markup_is_not_parsed() -> None:
    text = literal("[bold red]x[/] [link=https://evil.example]click[/link]")
    assert text.plain == "[bold red]x[/] [link=https://evil.example]click[/link]"
    assert not text.spans


def test_escape_sequences_become_visible_and_marked() -> None:
    text = literal("a\x1b[31mred\x1b]0;title\x07b\x9b\u202e")
    assert text.plain == "a\\x1b[31mred\\x1b]0;title\\x07b\\x9b\\u202e"
    marked = [text.plain[span.start : span.end] for span in text.spans]
    assert marked == ["\\x1b", "\\x1b", "\\x07", "\\x9b\\u202e"]
    assert all(span.style == ESCAPE_STYLE for span in text.spans)


def test_newlines_are_escaped_unless_kept() -> None:
    assert literal("one\ntwo").plain == "one\\ntwo"
    kept = literal("one\n\x1btwo\nthree", keep_newlines=True)
    assert kept.plain == "one\n\\x1btwo\nthree"


def test_non_strings_and_style() -> None:
    text = literal(42, style="bold", no_wrap=True)
    assert text.plain == "42"
    assert text.no_wrap
    assert str(text.style) == "bold"


@given(st.text())
def test_plain_text_is_exactly_printable(value: str) -> None:
    text = literal(value)
    assert text.plain == printable(value)
    assert not any(ord(ch) < 0x20 and ch != "\t" for ch in text.plain)
    assert not any(0x7F <= ord(ch) <= 0x9F for ch in text.plain)


@given(st.text())
def test_kept_newlines_match_printable_too(value: str) -> None:
    assert literal(value, keep_newlines=True).plain == printable(value, keep_newlines=True)


def test_bidi_marks_and_unicode_line_separators_are_escaped_in_both_helpers() -> None:
    from console.literal import printable

    hostile = "a\u061cb\u2028c\u2029d"
    assert printable(hostile) == "a\\u061cb\\u2028c\\u2029d"
    assert literal(hostile).plain == printable(hostile)
