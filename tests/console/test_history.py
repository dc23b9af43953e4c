"""The audit history: stored per audit, WAL, crash-safe, and the diff between two audits."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

from console.history import Change, History, default_history_path, diff
from console.model import CheckResult, Finding, Report, Status


def _report(domain: str = "good.test", **overrides: CheckResult) -> Report:
    checks = {
        "spf": CheckResult("spf", Status.PASS, "ok", data={"record": "v=spf1 mx -all"}),
        "dkim": CheckResult(
            "dkim",
            Status.PASS,
            "ok",
            data={"selectors": [{"selector": "s1", "record": "v=DKIM1; p=AAA"}]},
        ),
        "mx": CheckResult(
            "mx",
            Status.PASS,
            "ok",
            data={"records": [{"preference": 10, "host": "mx1.good.test"}]},
        ),
    }
    checks.update(overrides)
    return Report(
        domain=domain,
        checks=list(checks.values()),
        checked_at=datetime(2026, 11, 26, 12, 0, tzinfo=UTC),
    )


def test_every_audit_is_stored_and_the_latest_comes_back(tmp_path: Path) -> None:
    history = History(tmp_path / "h.sqlite3")
    assert history.previous("good.test") is None
    first = history.record(_report())
    second = history.record(_report(spf=CheckResult("spf", Status.FAIL, "bad")))
    assert second > first
    latest = history.previous("GOOD.test.")
    assert latest is not None
    assert latest["checks"][0]["status"] == "fail"
    assert [a.status for a in history.audits("good.test")] == ["fail", "pass"]
    assert history.count() == 2


def test_recent_domains_are_most_recent_first_and_unique(tmp_path: Path) -> None:
    history = History(tmp_path / "h.sqlite3")
    for name in ("a.test", "b.test", "a.test", "c.test"):
        history.record(_report(name))
    assert history.recent_domains() == ["c.test", "a.test", "b.test"]
    assert history.recent_domains(limit=1) == ["c.test"]
    latest = history.recent()
    assert [row[0] for row in latest] == ["c.test", "a.test", "b.test"]
    assert latest[0][1:] == ("2026-11-26T12:00:00Z", "pass")


def test_the_database_is_in_wal_mode_in_the_data_dir(tmp_path: Path) -> None:
    path = default_history_path()
    assert path.parent.name == "mailscope"
    assert str(path).startswith(os.environ["XDG_DATA_HOME"])
    history = History()
    history.record(_report())
    with sqlite3.connect(history.path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_crash_in_the_middle_of_a_write_loses_nothing_stored(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite3"
    # A child process stores audits as fast as it can, reporting each commit; it is
    # killed with SIGKILL while writing. Every audit it reported must still be there.
    child = textwrap.dedent(
        f"""
        import sys
        from console.history import History
        from console.model import Report
        history = History({str(db)!r})
        big = "v=spf1 " + "ip4:192.0.2.1 " * 2000
        n = 0
        while True:
            n += 1
            check = {{"id": "spf", "data": {{"record": big}}}}
            history.record({{"domain": "d{{}}.test".format(n), "checked_at": "x",
                             "status": "pass", "checks": [check]}})
            print(n, flush=True)
        """
    )
    process = subprocess.Popen(
        [sys.executable, "-c", child], stdout=subprocess.PIPE, text=True, cwd=os.getcwd()
    )
    assert process.stdout is not None
    committed = 0
    deadline = time.monotonic() + 20
    while committed < 25 and time.monotonic() < deadline:
        line = process.stdout.readline()
        if line.strip():
            committed = int(line)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    assert committed >= 25

    with sqlite3.connect(db) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    history = History(db)
    assert history.count() >= committed
    for n in (1, committed):
        assert history.previous(f"d{n}.test") is not None


def test_an_interrupted_transaction_is_rolled_back_whole(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite3"
    History(db).record(_report("kept.test"))
    child = textwrap.dedent(
        f"""
        import os, sqlite3
        connection = sqlite3.connect({str(db)!r})
        connection.execute("BEGIN")
        connection.execute(
            "INSERT INTO audits (domain, checked_at, status, report) "
            "VALUES ('lost.test', '', '', '{{}}')"
        )
        os._exit(1)  # dies before COMMIT
        """
    )
    subprocess.run([sys.executable, "-c", child], check=False, timeout=30)
    history = History(db)
    assert history.recent_domains() == ["kept.test"]


def test_diff_names_status_record_and_finding_changes() -> None:
    old = _report(
        spf=CheckResult(
            "spf",
            Status.FAIL,
            "bad",
            [Finding("spf.plus-all", Status.FAIL, "+all", "fix")],
            {"record": "v=spf1 +all"},
        )
    ).to_dict()
    new = _report(
        dkim=CheckResult(
            "dkim",
            Status.WARN,
            "testing",
            [Finding("dkim.testing", Status.WARN, "t=y", "fix")],
            {"selectors": [{"selector": "s2", "record": "v=DKIM1; t=y; p=BBB"}]},
        ),
        mx=CheckResult(
            "mx", Status.PASS, "ok", data={"records": [{"preference": 20, "host": "mx2.good.test"}]}
        ),
    )
    changes = diff(old, new)
    assert Change("spf", "status", "status", "fail", "pass") in changes
    assert Change("spf", "record", "record", "v=spf1 +all", "v=spf1 mx -all") in changes
    assert Change("spf", "finding-gone", "spf.plus-all", "+all", None) in changes
    assert Change("dkim", "status", "status", "pass", "warn") in changes
    assert Change("dkim", "record", "selector s1", "v=DKIM1; p=AAA", None) in changes
    assert Change("dkim", "record", "selector s2", None, "v=DKIM1; t=y; p=BBB") in changes
    assert Change("dkim", "finding-new", "dkim.testing", None, "t=y") in changes
    assert Change("mx", "record", "MX", "10 mx1.good.test", "20 mx2.good.test") in changes
    descriptions = [change.describe() for change in changes]
    assert "spf: fail → pass" in descriptions
    assert "dkim: selector s1 removed" in descriptions
    assert "dkim: selector s2 published" in descriptions
    assert "fixed spf.plus-all" in descriptions
    assert "new dkim.testing" in descriptions


def test_diff_of_identical_or_first_audits_is_empty() -> None:
    report = _report()
    assert diff(None, report) == []
    assert diff(report.to_dict(), report) == []


def test_diff_tolerates_damaged_or_foreign_history_rows() -> None:
    new = _report()
    assert diff({"checks": "garbage"}, new)[0].kind == "check-new"
    odd = {"checks": [{"id": "spf", "status": "pass", "data": "x", "findings": None}, 5]}
    changes = diff(odd, new)
    assert Change("spf", "record", "record", None, "v=spf1 mx -all") in changes
    assert diff(new.to_dict(), {"checks": []}) == [
        Change("spf", "check-gone", "check", None, None),
        Change("dkim", "check-gone", "check", None, None),
        Change("mx", "check-gone", "check", None, None),
    ]
