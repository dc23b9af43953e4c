"""Safety rails for live sends: an explicit confirmation, and a per-session cap.

A test tool that sends real mail must never send by accident: not from a default, not
from a loop that retries forever, not to a pasted list of a thousand addresses. Every
send path asks `SendGuard.admit` first; a refusal costs no connection.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

DEFAULT_SEND_LIMIT = 20
"""Sends one session (one console, one command) may make: plenty for side-by-side
tests and retries, far too few for a runaway loop to hurt a sender's reputation."""

DEFAULT_MAX_RECIPIENTS = 10
"""Envelope recipients of one test send: seed mailboxes, not a mailing list."""


@dataclass(slots=True)
class SendGuard:
    """Counts the sends of one session and refuses those past the cap.

    Thread-safe: the console may send from worker threads.

    Attributes:
        limit: sends allowed in this session (every attempt that connects counts, failed
            ones too: a loop retrying a wrong password hammers the server just the same).
        max_recipients: envelope recipients allowed in one send.
        used: sends admitted so far.
    """

    limit: int = DEFAULT_SEND_LIMIT
    max_recipients: int = DEFAULT_MAX_RECIPIENTS
    used: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def remaining(self) -> int:
        """Sends still allowed in this session."""
        return max(0, self.limit - self.used)

    def admit(self, *, confirmed: bool, recipients: int = 1) -> str | None:
        """Take one send from the session's allowance, or say why not.

        Args:
            confirmed: the user confirmed this send (a dialog, or `--yes` headless).
            recipients: envelope recipients of the send.

        Returns:
            None when the send may go ahead (and it is counted); otherwise a one-line
            reason, and nothing is counted.
        """
        if not confirmed:
            return (
                "not sent: a live send needs an explicit confirmation "
                "(confirm the dialog, or pass --yes)"
            )
        if recipients > self.max_recipients:
            return (
                f"not sent: {recipients} recipients, at most {self.max_recipients} per test "
                "send (a test goes to seed mailboxes, not a list)"
            )
        with self._lock:
            if self.used >= self.limit:
                return (
                    f"not sent: this session's cap of {self.limit} sends is reached (it stops "
                    "accidental loops); start a new session to send more"
                )
            self.used += 1
        return None


_PROCESS_GUARD = SendGuard()


def process_guard() -> SendGuard:
    """The guard shared by everything in this process (the CLI and the console use it)."""
    return _PROCESS_GUARD
