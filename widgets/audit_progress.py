"""Progress of a running audit: `7/10 checks` and a bar, or how the last run ended."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.content import Content
from textual.widgets import ProgressBar, Static

from widgets.literal import literal


class AuditProgress(Horizontal):
    """One line: a status text on the left, a progress bar while running."""

    DEFAULT_CSS = """
    AuditProgress {
        height: 1;
    }
    AuditProgress > #progress-text {
        width: 1fr;
        height: 1;
    }
    AuditProgress > ProgressBar {
        width: auto;
        height: 1;
    }
    AuditProgress > ProgressBar > Bar {
        width: 20;
    }
    """

    verb = "Auditing"
    """What the running work is called in the status text."""
    unit = "checks"
    """What is counted: `3/10 checks`."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._done = 0
        self._total = 0
        self._what = ""

    def compose(self) -> ComposeResult:
        yield Static(id="progress-text")
        bar = ProgressBar(total=1, show_eta=False, show_percentage=False)
        bar.display = False
        yield bar

    def start(self, total: int, what: str) -> None:
        """A run of `total` checks began; `what` names it (`good.test via 127.0.0.1`)."""
        self._done, self._total, self._what = 0, total, what
        bar = self.query_one(ProgressBar)
        bar.update(total=max(total, 1), progress=0)
        bar.display = True
        self._show()

    def advance(self) -> None:
        """One more check finished."""
        self._done += 1
        self.query_one(ProgressBar).update(progress=self._done)
        self._show()

    def finish(self, message: Content | str) -> None:
        """The run ended (finished, cancelled or failed): show `message`, hide the bar."""
        self.query_one(ProgressBar).display = False
        text = message if isinstance(message, Content) else Content(message)
        self.query_one("#progress-text", Static).update(text)

    @property
    def done(self) -> int:
        return self._done

    def _show(self) -> None:
        label = Content.assemble(
            (f"{self.verb} ", "bold"),
            Content.from_rich_text(literal(self._what)),
            f"  {self._done}/{self._total} {self.unit}",
        )
        self.query_one("#progress-text", Static).update(label)
