"""The Postmaster pane's widgets, fed plain data in a tiny host app.

The chart, the compliance table, the rates and the batch table are presentational:
these tests give them hand-made days and rows and look at what they draw and which
messages they post.
"""

from __future__ import annotations

import datetime as dt

from textual.app import App, ComposeResult
from textual.content import Content
from textual.message import Message

from console.postmaster.model import ComplianceRow, DayStats, PostmasterReport
from widgets.compliance_table import ComplianceTable, ordered, status_content
from widgets.postmaster_domains import DomainRow, PostmasterDomains
from widgets.rate_table import rate_lines
from widgets.spam_chart import GUTTER, MARK_LIMIT, MARK_TARGET, SpamChart, chart_lines, columns

ESC = "\x1b"
START = dt.date(2026, 11, 1)


def day(n: int) -> dt.date:
    return START + dt.timedelta(days=n)


def plain(lines: list[Content]) -> list[str]:
    return [line.plain for line in lines]


def test_a_day_without_data_is_a_gap_and_zero_is_a_bar() -> None:
    rates = {day(0): 0.0, day(2): 0.0005}
    lines = plain(chart_lines(rates, day(0), day(2), GUTTER + 3, rows=4))
    bottom, axis = lines[3], lines[4]
    plot = [line[GUTTER:] for line in lines[:4]]
    # Day 1 has no data: nothing in any row, and the axis breaks under it.
    assert all(row[1] in " ─╌" for row in plot)
    assert axis[GUTTER + 1] == " "
    # A measured zero is the lowest block, not a blank.
    assert bottom[GUTTER] == "▁"
    assert axis[GUTTER] == "─"
    assert axis[GUTTER + 2] == "─"


def test_days_above_the_lines_are_marked_under_the_axis() -> None:
    rates = {day(0): 0.0004, day(1): 0.0015, day(2): 0.0031}
    lines = plain(chart_lines(rates, day(0), day(2), GUTTER + 3, rows=6))
    axis = lines[-2]
    assert axis[GUTTER:] == f"─{MARK_TARGET}{MARK_LIMIT}"
    labels = "".join(line[:GUTTER] for line in lines)
    assert "0.3%┤" in labels
    assert "0.1%┤" in labels
    limit_line = next(line for line in lines if line.startswith(" 0.3%"))
    assert "─" in limit_line[GUTTER:]


def test_wide_ranges_keep_the_worst_day_of_each_column() -> None:
    rates = {day(n): 0.0002 for n in range(200)}
    rates[day(137)] = 0.006
    cols, per_day = columns(rates, day(0), day(199), 20)
    assert per_day == 1
    assert len(cols) == 20
    assert max(c.rate or 0 for c in cols) == 0.006  # never averaged away
    assert sum(1 for c in cols if c.rate == 0.006) == 1


def test_short_ranges_get_wider_bars_and_both_dates() -> None:
    rates = {day(n): 0.0002 for n in range(7)}
    cols, per_day = columns(rates, day(0), day(6), 60)
    assert len(cols) == 7
    assert per_day == 6
    lines = plain(chart_lines(rates, day(0), day(6), GUTTER + 60, rows=4))
    assert lines[-1].strip().startswith("2026-11-01")
    assert lines[-1].rstrip().endswith("2026-11-07")


async def test_the_chart_widget_renders_at_its_size() -> None:
    class Host(App[None]):
        def compose(self) -> ComposeResult:
            yield SpamChart()

    async with Host().run_test(size=(50, 10)) as pilot:
        chart = pilot.app.query_one(SpamChart)
        assert "No spam-rate data yet" in str(chart.render())
        chart.show({day(0): 0.004}, day(0), day(9))
        await pilot.pause()
        text = str(chart.render())
        assert MARK_LIMIT in text
        assert "2026-11-10" in text


class TableHost(App[None]):
    def __init__(self, table: object) -> None:
        super().__init__()
        self.table = table
        self.seen: list[Message] = []

    def compose(self) -> ComposeResult:
        yield self.table  # type: ignore[misc]

    def on_compliance_table_open_check(self, message: ComplianceTable.OpenCheck) -> None:
        self.seen.append(message)

    def on_postmaster_domains_open_domain(self, message: PostmasterDomains.OpenDomain) -> None:
        self.seen.append(message)


ROWS = [
    ComplianceRow("SPF", "COMPLIANT"),
    ComplianceRow("DMARC_POLICY", "NEEDS_WORK"),
    ComplianceRow("ENCRYPTION", "NEEDS_WORK"),
    ComplianceRow("DKIM", "COMPLIANT", "subdomains"),
]


def test_rows_needing_work_come_first_in_api_order() -> None:
    assert [r.requirement for r in ordered(ROWS)] == ["DMARC_POLICY", "ENCRYPTION", "SPF", "DKIM"]


def test_an_unknown_state_is_shown_literally() -> None:
    assert status_content("COMPLIANT").plain == "✔ COMPLIANT"
    assert status_content("NEEDS_WORK").plain == "✖ NEEDS_WORK"
    assert status_content(f"[red]odd{ESC}").plain == "? [red]odd\\x1b"


async def test_enter_on_a_row_asks_for_its_check() -> None:
    table = ComplianceTable()
    host = TableHost(table)
    async with host.run_test(size=(80, 12)) as pilot:
        table.show_rows(ROWS)
        table.focus()
        await pilot.pause()
        assert table.current_row == ROWS[1]
        await pilot.press("down", "enter")
        await pilot.pause()
        message = host.seen[-1]
        assert isinstance(message, ComplianceTable.OpenCheck)
        assert (message.requirement, message.check) == ("ENCRYPTION", "ports")
        # The subdomain row names its scope.
        assert "DKIM · subdomains" in str(table.get_row("subdomains:DKIM")[1])


async def test_batch_rows_sort_worst_first_and_open_on_enter() -> None:
    table = PostmasterDomains()
    host = TableHost(table)
    rows = [
        DomainRow("good.test", 0.0004, "2026-11-24", 0, 30, 0),
        DomainRow("spike.test", 0.0001, "2026-11-24", 6, 18, 1),
        DomainRow(f"evil{ESC}[2J.test", None, None, 0, 0, None, error="permission denied"),
    ]
    async with host.run_test(size=(80, 12)) as pilot:
        table.show_rows(rows)
        table.focus()
        await pilot.pause()
        assert [key.value for key in table.rows] == [rows[2].domain, "spike.test", "good.test"]
        assert "\\x1b" in str(table.get_row(rows[2].domain)[0])  # remote text, literal
        await pilot.press("down", "enter")
        await pilot.pause()
        assert isinstance(host.seen[-1], PostmasterDomains.OpenDomain)
        assert host.seen[-1].domain == "spike.test"


def test_rates_average_days_with_data_and_show_feedback_loops_literally() -> None:
    days = [
        DayStats(day(0), {"auth.spf": 0.98, "error_rate": 0.002, "error_rate.reject": 0.002}),
        DayStats(day(1), {"auth.spf": 1.0, f"fbl.[bold]x{ESC}": 0.004}),
        DayStats(day(2), {"tls_rate.inbound": 0.5}),
    ]
    text = "\n".join(line.plain for line in rate_lines(PostmasterReport("a.test", days=days)))
    assert "SPF   99.0% (newest 100.0%)" in text  # days without SPF are left out
    assert "DKIM  —" in text
    assert "inbound  50.0%" in text
    assert "reject      0.20% average" in text
    assert "[bold]x\\x1b" in text
    assert "0.40%" in text


def test_rates_of_an_empty_range_say_so() -> None:
    lines = rate_lines(PostmasterReport("a.test"))
    assert lines[0].plain == "No days with data in this range."


def test_verdicts_needing_work_lead_the_rates_in_plain_words() -> None:
    from console.postmaster.model import Verdict

    report = PostmasterReport(
        "a.test",
        verdicts=[
            Verdict("one_click_unsubscribe", "NEEDS_WORK", "NO_UNSUB_PROMO_SPAM_REPORTS"),
            Verdict("honor_unsubscribe", "COMPLIANT"),
        ],
    )
    lines = [line.plain for line in rate_lines(report)]
    assert lines[0].startswith("Verdicts")
    assert "one click unsubscribe NEEDS_WORK Promotional mail" in lines[0]
    assert not any("honor" in line for line in lines)
