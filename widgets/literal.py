"""Remote text as a Rich `Text`, shown exactly as sent and unable to do anything else.

A TXT record, a host name or a diagnostic comes from a stranger. As a `Text` it is
never parsed as markup, so `[bold red]x[/]` is shown as those characters; control
characters (C0, DEL, C1, ESC, bidi overrides) become visible escapes such as `\\x1b`,
styled apart so they stand out. The plain text is exactly
`console.literal.printable(text)`.
"""

from __future__ import annotations

import re

from rich.text import Text

from console.literal import printable

# Same set as console.literal.printable; tests/widgets/test_literal.py keeps them equal.
_CONTROL = re.compile(
    r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]+"
)
ESCAPE_STYLE = "reverse"
"""How an escaped control character is marked (a text attribute, not a colour)."""


def literal(
    text: object, style: str = "", *, keep_newlines: bool = False, no_wrap: bool = False
) -> Text:
    """`text` as a Text whose every character is shown literally.

    Args:
        text: the remote string (anything else is passed through `str`).
        style: a Rich style for the whole text (plain styles, not markup).
        keep_newlines: keep line breaks (multi-line diagnostics); otherwise a newline
            is shown as `\\n` so one record stays on one line.
        no_wrap: do not wrap the text (table cells, tree labels).
    """
    value = text if isinstance(text, str) else str(text)
    result = Text(style=style, no_wrap=no_wrap, end="")
    position = 0
    for match in _CONTROL.finditer(value):
        run = match.group()
        if keep_newlines and run == "\n" * len(run):
            continue
        result.append(value[position : match.start()])
        if keep_newlines and "\n" in run:
            # Escape the controls around the line breaks but keep the breaks themselves.
            for part in re.split(r"(\n)", run):
                if part == "\n":
                    result.append("\n")
                elif part:
                    result.append(printable(part), style=ESCAPE_STYLE)
        else:
            result.append(printable(run), style=ESCAPE_STYLE)
        position = match.end()
    result.append(value[position:])
    return result
