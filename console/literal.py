"""Making remote text safe to show: what a server sent, exactly, and nothing more.

TXT records, banners and bounce diagnostics come from strangers. Shown raw, an ESC
byte could move the cursor or retitle the terminal, and in Rich or Textual a `[bold]`
could restyle the screen. Every remote string passes through `printable` and is then
handed to Rich or Textual as a `Text` (never parsed as markup).
"""

from __future__ import annotations

import re

_CONTROL = re.compile(
    r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str, *, keep_newlines: bool = False) -> str:
    """`text` with control characters (C0, DEL, C1, bidi marks, line separators) as escapes.

    Tabs survive; newlines survive only with `keep_newlines` (transcripts), otherwise
    they are escaped so one record stays one line.

    >>> printable("ok\\x1b[31m red")
    'ok\\\\x1b[31m red'
    """
    escaped = _CONTROL.sub(_escape, text)
    return escaped if keep_newlines else escaped.replace("\n", "\\n")
