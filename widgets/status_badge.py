"""A check's or a finding's status as a short coloured badge: `✔ PASS`, `✖ FAIL`.

Colours are theme variables (`$text-success`, ...), resolved when the badge is drawn,
so the badge follows the light or dark theme. A symbol goes with each colour so the
status reads on a monochrome terminal too.
"""

from __future__ import annotations

from textual.content import Content
from textual.reactive import reactive
from textual.widgets import Static

from console.model import Status

PENDING = "pending"
"""Not a Status: a check still running."""
NOT_RUN = "not-run"
"""Not a Status: a check an audit was cancelled before."""

_BADGES: dict[str, tuple[str, str]] = {
    Status.PASS: ("✔ PASS", "bold $text-success"),
    Status.WARN: ("▲ WARN", "bold $text-warning"),
    Status.FAIL: ("✖ FAIL", "bold $text-error"),
    Status.ERROR: ("? ERR ", "bold $text-accent"),
    Status.SKIP: ("– SKIP", "dim"),
    PENDING: ("… ····", "dim"),
    NOT_RUN: ("– ----", "dim"),
}

BADGE_WIDTH = 6

STATUS_HELP: dict[str, str] = {
    Status.PASS: "pass: set up as receivers expect",
    Status.WARN: "warning: works today, but a receiver may treat it worse",
    Status.FAIL: "fail: mail is likely rejected or sent to spam because of this",
    Status.ERROR: "could not check: DNS timed out or failed, so the result is unknown",
    Status.SKIP: "skipped: does not apply to this domain",
    PENDING: "running",
    NOT_RUN: "not run: the audit was cancelled first",
}


def badge(status: Status | str | None) -> Content:
    """The badge for `status` (a Status, `pending`, or `not-run`) as styled Content."""
    key = str(status) if status is not None else PENDING
    label, style = _BADGES.get(key, _BADGES[PENDING])
    return Content.styled(label, style)


class StatusBadge(Static):
    """A status badge as a widget (one line, six cells)."""

    DEFAULT_CSS = """
    StatusBadge {
        width: 6;
        height: 1;
    }
    """

    status: reactive[str] = reactive(PENDING)
    """A Status value, `pending` or `not-run`."""

    def __init__(self, status: Status | str = PENDING, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.status = str(status)

    def render(self) -> Content:
        return badge(self.status)

    def watch_status(self, status: str) -> None:
        self.tooltip = STATUS_HELP.get(status, status)
