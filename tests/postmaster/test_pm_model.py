"""The report's counts and JSON shape (design.md postmaster object)."""

from __future__ import annotations

import datetime as dt
import json

from console.postmaster.model import ComplianceRow, DayStats, PostmasterReport, Verdict

D = dt.date(2026, 11, 20)


def _day(offset: int, rate: float | None, **extra: float) -> DayStats:
    metrics = dict(extra)
    if rate is not None:
        metrics["spam_rate"] = rate
    return DayStats(D + dt.timedelta(days=offset), metrics)


def test_streak_counts_back_from_the_newest_measured_day() -> None:
    report = PostmasterReport(
        "good.test",
        days=[_day(0, 0.004), _day(1, 0.001), _day(2, 0.0029), _day(3, None, **{"auth.spf": 1.0})],
    )
    # Day 3 has no spam rate: the streak starts at day 2.
    assert report.consecutive_days_below_0_3 == 2
    assert report.days_above_0_3 == 1
    assert report.days_above_0_1 == 3


def test_a_missing_day_ends_the_streak() -> None:
    report = PostmasterReport("good.test", days=[_day(0, 0.001), _day(1, 0.001), _day(3, 0.001)])
    assert report.consecutive_days_below_0_3 == 1


def test_exactly_0_3_percent_is_not_below() -> None:
    report = PostmasterReport("good.test", days=[_day(0, 0.003)])
    assert report.days_above_0_3 == 1
    assert report.consecutive_days_below_0_3 == 0


def test_to_dict_has_the_design_shape() -> None:
    report = PostmasterReport(
        "good.test",
        fetched_at=dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC),
        days=[
            _day(
                0,
                0.0021,
                **{"auth.spf": 0.99, "auth.dkim": 1.0, "auth.dmarc": 0.98, "tls_rate.inbound": 1.0},
                **{"error_rate.reject": 0.01, "error_count.reject": 12, "fbl.promo": 0.004},
            )
        ],
        compliance=[ComplianceRow("DMARC_POLICY", "COMPLIANT")],
        verdicts=[Verdict("honor_unsubscribe", "NEEDS_WORK", "NOT_HONORING")],
    )
    data = json.loads(json.dumps(report.to_dict()))
    assert data["domain"] == "good.test"
    assert data["fetched_at"] == "2026-11-26T12:00:00Z"
    [day] = data["days"]
    assert day["date"] == "2026-11-20"
    assert day["spam_rate"] == 0.0021
    assert day["auth"] == {"spf": 0.99, "dkim": 1.0, "dmarc": 0.98}
    assert day["tls_inbound"] == 1.0
    assert day["delivery_errors"] == {"reject": 0.01}
    assert day["delivery_error_counts"] == {"reject": 12}
    assert day["feedback_loops"] == {"promo": 0.004}
    assert data["days_above_0_3"] == 0
    assert data["consecutive_days_below_0_3"] == 1
    assert data["compliance"][0] | {"meaning": None} == {
        "requirement": "DMARC_POLICY",
        "status": "COMPLIANT",
        "check": "dmarc",
        "scope": "domain",
        "meaning": None,
    }
    assert data["verdicts"][0]["meaning"] == "Unsubscribed users keep receiving mail."
    assert data["feedback_loops_worst"] == [{"id": "promo", "max_spam_rate": 0.004}]


def test_within_limits_the_window() -> None:
    report = PostmasterReport("good.test", days=[_day(-10, 0.001), _day(0, 0.002)])
    assert [d.date for d in report.within(7, D).days] == [D]


def test_the_engine_imports_neither_textual_nor_rich() -> None:
    import subprocess
    import sys

    modules = ["model", "stats", "client", "history", "credentials", "snds", "command"]
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module('console.postmaster.' + name)\n"
        "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('textual', 'widgets', 'rich'))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == ""
