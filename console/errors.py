"""The one error type shown to users: a short title and a one-line message, no traceback."""

from __future__ import annotations


class MailscopeError(Exception):
    """Something the user can act on: a bad argument, an unreadable file, a failed start.

    The CLI prints `mailscope: <title>: <msg>` on stderr and exits 2; the console shows
    it as a notification.
    """

    def __init__(self, title: str, msg: str = "") -> None:
        super().__init__(f"{title}: {msg}" if msg else title)
        self.title = title
        self.msg = msg
