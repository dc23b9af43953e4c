"""Local Postmaster history: idempotent upserts, nothing lost to an empty answer, CSV import."""

from __future__ import annotations

import datetime as dt
import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from console.postmaster.history import PostmasterHistory, parse_csv
from console.postmaster.model import DayStats
from console.postmaster.stats import fetch_reports

D1 = dt.date(2026, 11, 1)
D2 = dt.date(2026, 11, 2)


@pytest.fixture
def history(tmp_path) -> PostmasterHistory:
    return PostmasterHistory(tmp_path / "pm.sqlite3")


def test_upserts_are_idempotent(history) -> None:
    days = [
        DayStats(D1, {"spam_rate": 0.001, "auth.spf": 0.99}),
        DayStats(D2, {"spam_rate": 0.002}),
    ]
    assert history.store("Good.Test.", days) == 3
    assert history.store("good.test", days) == 0
    assert history.count("good.test") == 3
    assert [d.metrics for d in history.days("good.test")] == [
        {"spam_rate": 0.001, "auth.spf": 0.99},
        {"spam_rate": 0.002},
    ]


def test_a_stored_day_survives_empty_and_partial_answers(history) -> None:
    history.store("good.test", [DayStats(D1, {"spam_rate": 0.001, "auth.spf": 0.99})])
    history.store("good.test", [], fetched_at=dt.datetime(2026, 11, 5, tzinfo=dt.UTC))
    history.store("good.test", [DayStats(D1, {"auth.spf": 0.98})])
    [day] = history.days("good.test")
    assert day.metrics == {"spam_rate": 0.001, "auth.spf": 0.98}
    assert history.last_fetch("good.test") == dt.datetime(2026, 11, 5, tzinfo=dt.UTC)


def test_range_and_wal(history) -> None:
    history.store(
        "good.test", [DayStats(D1, {"spam_rate": 0.001}), DayStats(D2, {"spam_rate": 0.002})]
    )
    assert [d.date for d in history.days("good.test", start=D2)] == [D2]
    assert [d.date for d in history.days("good.test", end=D1)] == [D1]
    with sqlite3.connect(history.path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_a_failed_fetch_leaves_history_untouched(history, make_client, today) -> None:
    client = make_client(retries=0)
    [first] = await fetch_reports(client, ["spike.test"], 30, history=history, today=today)
    assert first.error is None
    assert len(first.days) == 28
    stored = history.count("spike.test")
    fetched_at = history.last_fetch("spike.test")
    # Same history, a domain answering 500: the stored days of another domain are kept
    # and the failed one reports an error with no invented days.
    [failed] = await fetch_reports(client, ["pm-error.test"], 30, history=history, today=today)
    assert failed.error
    assert "HTTP 500" in failed.error
    assert failed.days == []
    assert history.count("spike.test") == stored
    assert history.last_fetch("spike.test") == fetched_at
    # Fetching again stores nothing new.
    [again] = await fetch_reports(client, ["spike.test"], 30, history=history, today=today)
    assert history.count("spike.test") == stored
    assert again.to_dict()["days"] == first.to_dict()["days"]


async def test_history_reaches_further_back_than_the_fetch(history, make_client, today) -> None:
    old = today - dt.timedelta(days=400)
    history.store("good.test", [DayStats(old, {"spam_rate": 0.0042})])
    [report] = await fetch_reports(make_client(), ["good.test"], 500, history=history, today=today)
    assert report.days[0].date == old
    assert report.days_above_0_3 == 1


async def test_empty_answer_notes_low_volume(history, make_client, today) -> None:
    [report] = await fetch_reports(
        make_client(), ["pm-empty.test"], 10, history=history, today=today
    )
    assert report.error is None
    assert report.days == []
    assert any("too little" in note for note in report.notes)
    assert report.to_dict()["days"] == []


# -- CSV import -----------------------------------------------------------------------------


def test_csv_columns_in_any_order_with_aliases(tmp_path, history) -> None:
    path = tmp_path / "export.csv"
    path.write_text(
        "DKIM success rate,Date,User-reported spam rate,Unknown column,"
        "Inbound TLS encryption rate\n"
        "99.5%,2026-11-01,0.21%,x,100%\n"
        "0.99,11/02/2026,0.0008,,\n"
        "\n"
        "0.98,2026/11/03,,,\n"
    )
    result = history.import_csv(path, "good.test")
    assert result.messages == []
    days = {d.date: d.metrics for d in history.days("good.test")}
    assert days[D1] == pytest.approx(
        {"auth.dkim": 0.995, "spam_rate": 0.0021, "tls_rate.inbound": 1.0}
    )
    assert days[D2] == pytest.approx({"auth.dkim": 0.99, "spam_rate": 0.0008})
    assert days[dt.date(2026, 11, 3)] == {"auth.dkim": 0.98}  # empty cells: absent, not zero
    assert result.stored == 6


def test_csv_malformed_rows_are_skipped_with_file_and_line(tmp_path, history) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        "date,spam rate,domain\n"
        "2026-11-01,0.001,\n"
        "yesterday,0.001,\n"
        "2026-11-03,lots,\n"
        "2026-13-40,0.001,\n"
        "2026-11-05,250%,\n"
        "2026-11-06,0.002,other.test\n"
        "2026-11-07\n"
    )
    result = history.import_csv(path, "good.test")
    lines = sorted(int(m.split(":")[1]) for m in result.messages)
    assert lines == [3, 4, 5, 6]
    assert all(m.startswith(f"{path}:") for m in result.messages)
    assert "'lots' is not a rate" in " ".join(result.messages)
    assert [d.date for d in history.days("good.test")] == [D1]
    assert [d.date for d in history.days("other.test")] == [dt.date(2026, 11, 6)]


def test_csv_without_usable_header(tmp_path, history) -> None:
    for text in ("", "spam rate\n0.1\n", "date,foo\n2026-11-01,1\n"):
        path = tmp_path / "h.csv"
        path.write_text(text)
        result = history.import_csv(path, "good.test")
        assert result.day_count == 0
        assert len(result.messages) == 1
        assert ":1:" in result.messages[0]
    result = history.import_csv(tmp_path / "missing.csv", "good.test")
    assert "cannot read" in result.messages[0]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list('date,spamr_ 0.1%2-/"\n\r\x00é')), max_size=300))
def test_csv_parser_never_raises(text) -> None:
    result = parse_csv(text, "fuzz.csv", "good.test")
    for days in result.days.values():
        for day in days:
            assert day.has_data
            assert all(0 <= v <= 1 for v in day.metrics.values())
    assert all(m.startswith("fuzz.csv:") for m in result.messages)


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(
        st.dates(min_value=dt.date(2020, 1, 1), max_value=dt.date(2030, 1, 1)),
        st.floats(min_value=0, max_value=1, allow_nan=False),
        min_size=1,
        max_size=20,
    ),
    st.booleans(),
)
def test_csv_round_trip(rates, swap) -> None:
    header = "spam_rate,date" if swap else "date,spam_rate"
    rows = [f"{r!r},{d}" if swap else f"{d},{r!r}" for d, r in rates.items()]
    result = parse_csv("\n".join([header, *rows]), "rt.csv", "good.test")
    assert result.messages == []
    assert {d.date: d.spam_rate for d in result.days["good.test"]} == rates
