"""The user-reported spam rate per day as a block chart, with Gmail's 0.1% and 0.3% lines.

Drawn with Textual primitives (block characters in styled Content), so it renders the
same on every terminal and in every snapshot. Each column is one day, or, when the
range is wider than the chart, the worst day of a few. A day without data is a gap (no
bar and a break in the axis), never a zero. Days at or above 0.3% are red and marked `▲`
under the axis, days at or above 0.1% yellow and marked `△`; colour is never the only
sign, so the chart reads on a monochrome terminal too.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass

from textual.content import Content
from textual.widget import Widget

LIMIT = 0.003
"""Gmail's line: bulk senders must stay below 0.3%."""
TARGET = 0.001
"""Gmail's advice: aim below 0.1%."""

GUTTER = 6
"""Cells left of the plot for the axis labels (`0.3% ┤`)."""
MAX_CELLS_PER_DAY = 6
_BLOCKS = " ▁▂▃▄▅▆▇█"
_STYLE_LIMIT = "bold $text-error"
_STYLE_TARGET = "$text-warning"
_STYLE_OK = "$text-success"
MARK_LIMIT = "▲"
MARK_TARGET = "△"
LEGEND = "▲ ≥0.3%  △ ≥0.1%  gap = no data"


@dataclass(frozen=True, slots=True)
class Column:
    """One drawn column: the days it covers and the worst spam rate among them."""

    first: dt.date
    last: dt.date
    rate: float | None


def columns(
    rates: Mapping[dt.date, float], start: dt.date, end: dt.date, plot_width: int
) -> tuple[list[Column], int]:
    """The columns for `start`..`end` at `plot_width` cells, and cells per column.

    A column covering several days takes their highest rate: a spike must never be
    averaged away. A column with no day of data has rate None (a gap).
    """
    total = max((end - start).days + 1, 1)
    width = max(plot_width, 1)
    if total <= width:
        per_day, span = max(1, min(width // total, MAX_CELLS_PER_DAY)), 1
    else:
        per_day, span = 1, math.ceil(total / width)
    out: list[Column] = []
    first = start
    while first <= end:
        last = min(first + dt.timedelta(days=span - 1), end)
        values = [
            rates[day]
            for offset in range((last - first).days + 1)
            if (day := first + dt.timedelta(days=offset)) in rates
        ]
        out.append(Column(first, last, max(values) if values else None))
        first = last + dt.timedelta(days=1)
    return out, per_day


def scale_top(values: list[float]) -> float:
    """The chart's top: at least 0.4% so the 0.3% line always shows, rounded up to 0.05%."""
    highest = max(values, default=0.0) * 1.1
    return max(0.004, math.ceil(highest / 0.0005) * 0.0005)


def _percent(value: float) -> str:
    text = f"{value * 100:.2f}".rstrip("0").rstrip(".")
    return f"{text}%"


def _style(rate: float) -> str:
    if rate >= LIMIT:
        return _STYLE_LIMIT
    if rate >= TARGET:
        return _STYLE_TARGET
    return _STYLE_OK


def chart_lines(
    rates: Mapping[dt.date, float],
    start: dt.date,
    end: dt.date,
    width: int,
    rows: int,
) -> list[Content]:
    """The chart as `rows` plot lines, an axis line with marks, and a date line.

    Args:
        rates: spam rate per day with data (days without data are absent).
        start: the first day shown.
        end: the last day shown (inclusive).
        width: cells available, gutter included.
        rows: plot lines (each is eight steps high).
    """
    rows = max(rows, 2)
    plot_width = max(width - GUTTER, 1)
    cols, per_day = columns(rates, start, end, plot_width)
    top = scale_top([c.rate for c in cols if c.rate is not None])
    limit_row = min(rows - 1, int(LIMIT / top * rows))
    target_row = min(rows - 1, int(TARGET / top * rows))
    labels = {
        rows - 1: _percent(top),
        target_row: "0.1%",
        limit_row: "0.3%",  # wins when both lines share a row
    }
    lines: list[Content] = []
    for row in range(rows - 1, -1, -1):
        label = labels.get(row)
        parts: list[tuple[str, str] | str] = [
            (f"{label:>{GUTTER - 1}}┤", "$text-muted")
            if label
            else (" " * (GUTTER - 1) + "│", "$text-muted")
        ]
        for column in cols:
            for cell in range(per_day):
                separator = per_day >= 3 and cell == per_day - 1
                parts.append(_cell(column.rate, row, rows, top, limit_row, target_row, separator))
        lines.append(Content.assemble(*parts))
    axis: list[tuple[str, str] | str] = [(" " * (GUTTER - 1) + "└", "$text-muted")]
    for column in cols:
        for cell in range(per_day):
            if column.rate is None:
                axis.append(" ")
            elif cell == 0 and column.rate >= LIMIT:
                axis.append((MARK_LIMIT, _STYLE_LIMIT))
            elif cell == 0 and column.rate >= TARGET:
                axis.append((MARK_TARGET, _STYLE_TARGET))
            else:
                axis.append(("─", "$text-muted"))
    lines.append(Content.assemble(*axis))
    lines.append(_date_line(start, end, GUTTER + len(cols) * per_day))
    return lines


def _cell(
    rate: float | None,
    row: int,
    rows: int,
    top: float,
    limit_row: int,
    target_row: int,
    separator: bool,
) -> tuple[str, str] | str:
    if rate is not None and not separator:
        # A measured day always gets at least the lowest block: zero is data, a gap is not.
        eighths = max(1, round(min(rate / top, 1.0) * rows * 8))
        fill = eighths - row * 8
        if fill > 0:
            return (_BLOCKS[min(fill, 8)], _style(rate))
    if row == limit_row:
        return ("─", "$text-error")
    if row == target_row:
        return ("╌", "$text-warning")
    return " "


def _date_line(start: dt.date, end: dt.date, width: int) -> Content:
    first, last = start.isoformat(), end.isoformat()
    room = width - GUTTER
    if room < len(first) + len(last) + 1:
        return Content(" " * GUTTER + (last if room >= len(last) else ""))
    gap = room - len(first) - len(last)
    return Content.styled(" " * GUTTER + first + " " * gap + last, "$text-muted")


class SpamChart(Widget):
    """The spam-rate chart of one domain over a date range (fed plain data)."""

    DEFAULT_CSS = """
    SpamChart {
        height: 8;
        width: 1fr;
    }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._rates: dict[dt.date, float] = {}
        self._range: tuple[dt.date, dt.date] | None = None
        self._empty = "No spam-rate data yet."

    def show(
        self,
        rates: Mapping[dt.date, float],
        start: dt.date,
        end: dt.date,
        *,
        empty: str = "No spam-rate data in this range.",
    ) -> None:
        """Chart `rates` (spam rate per day with data) from `start` to `end` inclusive."""
        self._rates = dict(rates)
        self._range = (start, end)
        self._empty = empty
        self.refresh()

    def clear_chart(self, empty: str) -> None:
        """Show `empty` instead of a chart."""
        self._rates = {}
        self._range = None
        self._empty = empty
        self.refresh()

    @property
    def rates(self) -> dict[dt.date, float]:
        return dict(self._rates)

    def render(self) -> Content:
        if self._range is None or not self._rates:
            return Content.styled(self._empty, "$text-muted")
        width, height = self.content_size
        start, end = self._range
        lines = chart_lines(self._rates, start, end, width, max(height - 2, 2))
        return Content("\n").join(lines)
