"""The findings of one check, each a focusable card; knows which fix to copy."""

from __future__ import annotations

from collections.abc import Sequence

from textual.containers import Vertical
from textual.widgets import Static

from console.model import Finding, Status
from widgets.finding_card import FindingCard


class FindingsView(Vertical):
    """A column of FindingCards, worst first, or a line saying there is nothing to fix."""

    DEFAULT_CSS = """
    FindingsView {
        height: auto;
    }
    FindingsView .findings-empty {
        color: $text-muted;
        margin-bottom: 1;
    }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._findings: list[Finding] = []

    async def show(self, findings: Sequence[Finding], *, empty_text: str = "") -> None:
        """Replace the cards with `findings` (shown worst first, stable otherwise)."""
        self._findings = sorted(findings, key=lambda f: -f.severity.rank)
        await self.remove_children()
        if not self._findings:
            if empty_text:
                await self.mount(Static(empty_text, classes="findings-empty"))
            return
        await self.mount_all(FindingCard(finding) for finding in self._findings)

    @property
    def findings(self) -> list[Finding]:
        return list(self._findings)

    def fix_to_copy(self) -> Finding | None:
        """The focused card's finding if it has a fix, else the worst finding with a fix.

        A finding with only a `record` counts as having a fix: the record is the fix.
        """
        focused = self.screen.focused if self.is_mounted else None
        if isinstance(focused, FindingCard) and focused.parent is self and has_fix(focused.finding):
            return focused.finding
        for finding in self._findings:
            if has_fix(finding) and finding.severity is not Status.PASS:
                return finding
        return next((finding for finding in self._findings if has_fix(finding)), None)


def has_fix(finding: Finding) -> bool:
    return bool(finding.fix or finding.record)


def text_to_copy(finding: Finding) -> tuple[str, str]:
    """What `c` puts on the clipboard and what it is: (`record` or `fix`, the text).

    The record when there is one, since that is what goes into a DNS console or a
    file untouched; the prose fix otherwise.
    """
    if finding.record:
        return "record", finding.record
    return "fix", finding.fix
