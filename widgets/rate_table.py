"""Postmaster rates over a range: authentication, TLS, delivery errors, feedback loops.

Fed a `PostmasterReport` limited to the range shown. Rates are averaged over the days
that have them (a day without data is left out, never counted as zero), and the
newest value is shown beside. Feedback-loop ids and error reasons come from Google's
answer, so they are shown literally.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from textual.content import Content
from textual.widgets import Static

from console.postmaster.model import (
    AUTH_TYPES,
    SPAM_RATE_LIMIT,
    SPAM_RATE_TARGET,
    VERDICT_REASONS,
    DayStats,
    PostmasterReport,
)
from widgets.literal import literal

LABEL_WIDTH = 16


def percent(value: float | None, digits: int = 1) -> str:
    """`99.4%` for 0.994; `—` for no data."""
    if value is None:
        return "—"
    return f"{value * 100:.{digits}f}%"


def _mean(values: Iterable[float]) -> float | None:
    items = list(values)
    return sum(items) / len(items) if items else None


def _series(days: list[DayStats], pick: Callable[[DayStats], float | None]) -> list[float]:
    return [value for day in days if (value := pick(day)) is not None]


def _pair(days: list[DayStats], pick: Callable[[DayStats], float | None], digits: int) -> str:
    values = _series(days, pick)
    if not values:
        return "—"
    return f"{percent(_mean(values), digits)} (newest {percent(values[-1], digits)})"


def _label(text: str) -> tuple[str, str]:
    return (f"{text:<{LABEL_WIDTH}}", "bold")


def rate_lines(report: PostmasterReport, *, fbl_limit: int = 5) -> list[Content]:
    """The rates of `report` (already limited to the range) as lines."""
    lines = verdict_lines(report)
    days = report.days
    if not days:
        return [*lines, Content.styled("No days with data in this range.", "$text-muted")]
    for mechanism in AUTH_TYPES:
        title = "Authentication" if mechanism == AUTH_TYPES[0] else ""
        value = _pair(days, lambda d, m=mechanism: d.auth.get(m), 1)
        lines.append(Content.assemble(_label(title), f"{mechanism.upper():<6}{value}"))
    for direction in ("inbound", "outbound"):
        title = "TLS" if direction == "inbound" else ""
        key = f"tls_rate.{direction}"
        value = _pair(days, lambda d, k=key: d.metrics.get(k), 1)
        lines.append(Content.assemble(_label(title), f"{direction:<9}{value}"))
    lines.append(
        Content.assemble(
            _label("Delivery errors"),
            f"{'all':<12}{_pair(days, lambda d: d.delivery_errors.get('all'), 2)}",
        )
    )
    lines += _error_types(days)
    worst = report.worst_feedback_loops(fbl_limit)
    if not worst:
        lines.append(Content.assemble(_label("Feedback loops"), ("none reported", "$text-muted")))
    for index, (fbl, rate) in enumerate(worst):
        style = (
            "bold $text-error"
            if rate >= SPAM_RATE_LIMIT
            else "$text-warning"
            if rate >= SPAM_RATE_TARGET
            else ""
        )
        lines.append(
            Content.assemble(
                _label("Feedback loops" if index == 0 else ""),
                (f"{percent(rate, 2):>7} ", style),
                Content.from_rich_text(literal(fbl, no_wrap=True)),
                ("  worst day", "$text-muted") if index == 0 else "",
            )
        )
    return lines


def verdict_lines(report: PostmasterReport) -> list[Content]:
    """Gmail's unsubscribe and deliverability verdicts that are not COMPLIANT."""
    lines: list[Content] = []
    for verdict in report.verdicts:
        if verdict.status == "COMPLIANT":
            continue
        title = "Verdicts" if not lines else ""
        name = verdict.name.replace("_", " ")
        if verdict.scope != "domain":
            name += f" ({verdict.scope})"
        reason = VERDICT_REASONS.get(verdict.reason or "") or verdict.reason or ""
        lines.append(
            Content.assemble(
                _label(title),
                (name, "bold"),
                " ",
                Content.from_rich_text(literal(verdict.status, style="bold")).stylize(
                    "$text-error"
                ),
                " ",
                Content.from_rich_text(literal(reason)),
            )
        )
    return lines


def _error_types(days: list[DayStats]) -> list[Content]:
    """Per error type, then its reasons by average rate (highest first)."""
    kinds: dict[str, list[float]] = {}
    reasons: dict[str, dict[str, list[float]]] = {}
    for day in days:
        for key, value in day.delivery_errors.items():
            if key == "all":
                continue
            kind, _, reason = key.partition(".")
            if reason:
                reasons.setdefault(kind, {}).setdefault(reason, []).append(value)
            else:
                kinds.setdefault(kind, []).append(value)
    lines: list[Content] = []
    for kind in sorted(set(kinds) | set(reasons)):
        average = _mean(kinds.get(kind, []))
        lines.append(
            Content.assemble(
                _label(""),
                Content.from_rich_text(literal(f"{kind:<12}", no_wrap=True)),
                f"{percent(average, 2)} average",
            )
        )
        by_reason = sorted(
            ((reason, _mean(values) or 0.0) for reason, values in reasons.get(kind, {}).items()),
            key=lambda item: (-item[1], item[0]),
        )
        for reason, rate in by_reason:
            lines.append(
                Content.assemble(
                    _label(""),
                    f"  {percent(rate, 2):>6} ",
                    Content.from_rich_text(literal(reason, no_wrap=True)),
                )
            )
    return lines


class RateTable(Static):
    """Authentication and TLS rates, delivery errors by type, the worst feedback loops."""

    DEFAULT_CSS = """
    RateTable {
        height: auto;
    }
    """

    def show_report(self, report: PostmasterReport | None) -> None:
        """Show the rates of `report` (limited to the range shown)."""
        if report is None:
            self.update(Content.styled("No data yet.", "$text-muted"))
            return
        self.update(Content("\n").join(rate_lines(report)))
