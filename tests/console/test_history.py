"""The audit history: stored per audit, WAL, crash-safe, and the diff between two audits."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

from console.history import (
    AUTHORITATIVE,
    RECURSIVE,
    SCHEMA_VERSION,
    Change,
    History,
    default_history_path,
    diff,
)
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


# -- failed lookups are not fixes; like is compared with like --------------------------------


def _error(check_id: str) -> CheckResult:
    return CheckResult(
        check_id,
        Status.ERROR,
        "no answer from 127.0.0.1:9 within 2.0 s",
        [Finding(f"{check_id}.lookup-failed", Status.ERROR, "timeout", "")],
        {},
    )


def test_a_failed_lookup_is_a_status_change_not_a_fix() -> None:
    good = _report(
        spf=CheckResult(
            "spf",
            Status.FAIL,
            "bad",
            [Finding("spf.plus-all", Status.FAIL, "+all", "fix")],
            {"record": "v=spf1 +all"},
        )
    )
    failed = _report(spf=_error("spf"), mx=_error("mx"))
    changes = diff(good.to_dict(), failed)
    # Only the status: the record did not vanish and +all was not fixed.
    assert [c for c in changes if c.check == "spf"] == [
        Change("spf", "status", "status", "fail", "error")
    ]
    assert [c for c in changes if c.check == "mx"] == [
        Change("mx", "status", "status", "pass", "error")
    ]
    assert changes[0].describe() == "spf: could not check (was fail)"
    # And back: the record did not just get published.
    back = diff(failed.to_dict(), good)
    assert [c for c in back if c.check == "spf"] == [
        Change("spf", "status", "status", "error", "fail")
    ]
    assert back[0].describe() == "spf: fail (could not check last time)"


def test_previous_skips_audits_where_every_check_failed(tmp_path: Path) -> None:
    history = History(tmp_path / "h.sqlite3")
    history.record(_report(spf=CheckResult("spf", Status.FAIL, "bad")))
    history.record(_report(spf=_error("spf"), dkim=_error("dkim"), mx=_error("mx")))
    history.record(Report(domain="good.test"))  # nothing checked at all
    previous = history.previous("good.test")
    assert previous is not None
    assert previous["checks"][0]["status"] == "fail"
    # Partly failed audits still count: the checks that answered are worth comparing.
    history.record(_report(mx=_error("mx")))
    partly = history.previous("good.test")
    assert partly is not None
    assert partly["checks"][0]["status"] == "pass"


def test_audits_are_compared_with_audits_made_the_same_way(tmp_path: Path) -> None:
    history = History(tmp_path / "h.sqlite3")
    history.record(_report(spf=CheckResult("spf", Status.FAIL, "stale")), mode=RECURSIVE)
    history.record(_report(), mode=AUTHORITATIVE)
    via_resolver = history.previous("good.test")
    assert via_resolver is not None
    assert via_resolver["checks"][0]["summary"] == "stale"
    direct = history.previous("good.test", AUTHORITATIVE)
    assert direct is not None
    assert direct["checks"][0]["status"] == "pass"
    assert [a.mode for a in history.audits("good.test")] == [AUTHORITATIVE, RECURSIVE]


def test_a_version_1_database_is_migrated_without_losing_rows(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite3"
    old = _report(spf=CheckResult("spf", Status.FAIL, "before the upgrade")).to_dict()
    with closing(sqlite3.connect(db)) as connection, connection:
        connection.executescript(
            """
            CREATE TABLE audits (
                id INTEGER PRIMARY KEY, domain TEXT NOT NULL, checked_at TEXT NOT NULL,
                status TEXT NOT NULL, report TEXT NOT NULL
            );
            CREATE INDEX audits_by_domain ON audits (domain, id);
            PRAGMA user_version=1;
            """
        )
        for name in ("good.test", "nomx.test"):
            connection.execute(
                "INSERT INTO audits (domain, checked_at, status, report) VALUES (?, ?, ?, ?)",
                (name, old["checked_at"], "fail", json.dumps({**old, "domain": name})),
            )
    history = History(db)
    assert history.count() == 2
    stored = history.previous("good.test")  # old rows were made through the resolver
    assert stored is not None
    assert stored["checks"][0]["summary"] == "before the upgrade"
    history.record(_report(), mode=AUTHORITATIVE)
    assert history.count() == 3
    assert history.recent_domains() == ["good.test", "nomx.test"]
    with closing(sqlite3.connect(db)) as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    # Opening it again (a second process, a newer start) changes nothing.
    assert History(db).count() == 3
