"""Audit history: every audit the console runs, kept in SQLite, and what changed since.

The database lives in the platform's data directory (platformdirs). It runs in WAL
mode with `synchronous=FULL`: each audit is one transaction, so a crash (or a kill)
in the middle of writing one loses at most that audit, never one already stored.
Connections are opened per call, which keeps the class safe to use from a worker
thread and from the event loop alike.

Reports hold only what DNS published and what mailscope concluded; no secret ever
reaches this file.

Each audit is stored with how DNS was asked (`mode`: through the resolver, or the
domain's authoritative servers directly), and is compared only with an earlier audit
made the same way: a resolver still serving an old record is not a change.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from console.model import Report

APP_NAME = "mailscope"
SCHEMA_VERSION = 2

RECURSIVE = "resolver"
"""`mode` of an audit asked through the configured (caching) resolver."""
AUTHORITATIVE = "authoritative"
"""`mode` of an audit asked of the domain's authoritative servers directly."""

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS audits (
    id          INTEGER PRIMARY KEY,
    domain      TEXT NOT NULL,
    checked_at  TEXT NOT NULL,
    status      TEXT NOT NULL,
    report      TEXT NOT NULL,
    mode        TEXT NOT NULL DEFAULT '{RECURSIVE}'
);
CREATE INDEX IF NOT EXISTS audits_by_domain ON audits (domain, id);
"""

_PREVIOUS_SCAN = 50
"""How many of a domain's latest audits `previous` reads looking for a usable one."""


def default_history_path(name: str = "history.sqlite3") -> Path:
    """`name` in the platform's data directory for mailscope."""
    import platformdirs

    return platformdirs.user_data_path(APP_NAME, appauthor=False) / name


@dataclass(frozen=True, slots=True)
class StoredAudit:
    """One row of the history: an audit as it was stored."""

    id: int
    domain: str
    checked_at: str
    status: str
    report: dict[str, Any]
    mode: str = RECURSIVE


class History:
    """The audit history in one SQLite file.

    Args:
        path: the database file; created (with its directory) on first use.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_history_path()
        self._ready = False

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        if not self._ready:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with closing(sqlite3.connect(self.path, timeout=5.0)) as connection:
            connection.execute("PRAGMA journal_mode=WAL")
            # FULL: a committed audit survives even a power cut, not only a crash.
            connection.execute("PRAGMA synchronous=FULL")
            if not self._ready:
                with connection:
                    connection.executescript(_SCHEMA)
                    _migrate(connection)
                    connection.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
                self._ready = True
            yield connection

    def record(self, report: Report | Mapping[str, Any], mode: str = RECURSIVE) -> int:
        """Store one audit in its own transaction; returns its row id.

        Args:
            report: the audit (a Report or its dict).
            mode: how DNS was asked, `RECURSIVE` or `AUTHORITATIVE`.
        """
        data = report.to_dict() if isinstance(report, Report) else dict(report)
        text = json.dumps(data, ensure_ascii=False, sort_keys=True)
        with self._connect() as connection, connection:
            cursor = connection.execute(
                "INSERT INTO audits (domain, checked_at, status, report, mode) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    str(data.get("domain", "")).lower(),
                    str(data.get("checked_at", "")),
                    str(data.get("status", "")),
                    text,
                    mode,
                ),
            )
            return int(cursor.lastrowid or 0)

    def previous(self, domain: str, mode: str = RECURSIVE) -> dict[str, Any] | None:
        """The report dict of the latest audit of `domain` made the same way, or None.

        Audits in which no check got an answer (every check an error: the network was
        down, the resolver timed out) are skipped: compared with them, everything the
        domain publishes would look new, and what is broken would look fixed.
        """
        with self._connect() as connection:
            rows = connection.execute(
                "SELECT id, domain, checked_at, status, report, mode FROM audits "
                "WHERE domain = ? AND mode = ? ORDER BY id DESC LIMIT ?",
                (domain.lower().rstrip("."), mode, _PREVIOUS_SCAN),
            ).fetchall()
        for row in rows:
            stored = _stored(row)
            if _comparable(stored.report):
                return stored.report
        return None

    def audits(self, domain: str, limit: int = 20) -> list[StoredAudit]:
        """The most recent stored audits of `domain` (every mode), newest first."""
        with self._connect() as connection:
            rows = connection.execute(
                "SELECT id, domain, checked_at, status, report, mode FROM audits "
                "WHERE domain = ? ORDER BY id DESC LIMIT ?",
                (domain.lower().rstrip("."), max(0, limit)),
            ).fetchall()
        return [_stored(row) for row in rows]

    def recent_domains(self, limit: int = 10) -> list[str]:
        """Domains audited, most recently audited first, each once."""
        with self._connect() as connection:
            rows = connection.execute(
                "SELECT domain FROM audits GROUP BY domain ORDER BY MAX(id) DESC LIMIT ?",
                (max(0, limit),),
            ).fetchall()
        return [row[0] for row in rows]

    def recent(self, limit: int = 10) -> list[tuple[str, str, str]]:
        """(domain, checked_at, status) of the latest audit of each domain, newest first."""
        with self._connect() as connection:
            rows = connection.execute(
                "SELECT domain, checked_at, status FROM audits WHERE id IN "
                "(SELECT MAX(id) FROM audits GROUP BY domain) ORDER BY id DESC LIMIT ?",
                (max(0, limit),),
            ).fetchall()
        return [(row[0], row[1], row[2]) for row in rows]

    def count(self) -> int:
        with self._connect() as connection:
            return int(connection.execute("SELECT COUNT(*) FROM audits").fetchone()[0])


def _migrate(connection: sqlite3.Connection) -> None:
    """Bring a database written by an older mailscope up to date, keeping every row.

    Version 1 had no `mode`: its audits get the default, the resolver (the console
    could ask authoritative servers then too, but did not say so; a wrong guess costs
    one comparison with an unlike audit, and only until the next audit).
    """
    columns = {row[1] for row in connection.execute("PRAGMA table_info(audits)")}
    if "mode" not in columns:
        try:
            connection.execute(
                f"ALTER TABLE audits ADD COLUMN mode TEXT NOT NULL DEFAULT '{RECURSIVE}'"
            )
        except sqlite3.OperationalError as exc:
            # Another process migrated the same file between our look and our change.
            if "duplicate column" not in str(exc):
                raise
    connection.execute(
        "CREATE INDEX IF NOT EXISTS audits_by_domain_mode ON audits (domain, mode, id)"
    )


def _stored(row: Sequence[Any]) -> StoredAudit:
    try:
        report = json.loads(row[4])
    except json.JSONDecodeError:
        report = {}
    return StoredAudit(
        int(row[0]),
        row[1],
        row[2],
        row[3],
        report if isinstance(report, dict) else {},
        str(row[5]) if len(row) > 5 and row[5] else RECURSIVE,
    )


def _comparable(report: Mapping[str, Any]) -> bool:
    """Whether an audit has at least one check that got an answer (not `error`)."""
    return any(check.get("status") != "error" for check in _checks_by_id(report).values())


# -- what changed since the last audit -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Change:
    """One difference between two audits of a domain.

    Attributes:
        check: the check id it belongs to.
        kind: `status`, `record`, `finding-new`, `finding-gone`, `check-new`, `check-gone`.
        subject: what changed within the check: `status`, `record`, a DKIM selector,
            `MX`, or a finding code.
        old: the value before (None when it did not exist).
        new: the value now (None when it is gone).
    """

    check: str
    kind: str
    subject: str
    old: str | None
    new: str | None

    def describe(self) -> str:
        """One line for people: `spf: status pass → fail`."""
        if self.kind == "status":
            # A failed lookup is no verdict on the domain: say so rather than `pass → error`.
            if self.new == "error":
                return f"{self.check}: could not check (was {self.old})"
            if self.old == "error":
                return f"{self.check}: {self.new} (could not check last time)"
            return f"{self.check}: {self.old} → {self.new}"
        if self.kind == "record":
            if self.old is None:
                return f"{self.check}: {self.subject} published"
            if self.new is None:
                return f"{self.check}: {self.subject} removed"
            return f"{self.check}: {self.subject} changed"
        # Finding codes already start with the check id (`spf.plus-all`).
        if self.kind == "finding-new":
            return f"new {self.subject}"
        if self.kind == "finding-gone":
            return f"fixed {self.subject}"
        if self.kind == "check-new":
            return f"{self.check}: now checked ({self.new})"
        if self.kind == "check-gone":
            return f"{self.check}: no longer checked"
        return f"{self.check}: {self.subject}"


def diff(old: Mapping[str, Any] | None, new: Report | Mapping[str, Any]) -> list[Change]:
    """What changed between a stored audit (`old`, a report dict) and a new one.

    Compares, per check: the status, the published records (the `record` of a check,
    each DKIM selector's record, the MX set) and the findings by code. No previous
    audit means no changes. Order follows the new report's checks.

    When a check is `error` on either side (its lookups failed), only its status
    change is reported: what a failed check "saw" is not what the domain publishes,
    so its records and findings would show a fix (or a breakage) that never happened.
    """
    if not old:
        return []
    new_data = new.to_dict() if isinstance(new, Report) else dict(new)
    old_checks = _checks_by_id(old)
    new_checks = _checks_by_id(new_data)
    changes: list[Change] = []
    for check_id, now in new_checks.items():
        before = old_checks.get(check_id)
        if before is None:
            changes.append(Change(check_id, "check-new", "check", None, str(now.get("status"))))
            continue
        if before.get("status") != now.get("status"):
            changes.append(
                Change(
                    check_id, "status", "status", str(before.get("status")), str(now.get("status"))
                )
            )
        if "error" in (before.get("status"), now.get("status")):
            continue
        old_records = _records(check_id, before)
        new_records = _records(check_id, now)
        for subject in dict.fromkeys([*old_records, *new_records]):
            was, is_now = old_records.get(subject), new_records.get(subject)
            if was != is_now:
                changes.append(Change(check_id, "record", subject, was, is_now))
        old_codes = _finding_codes(before)
        new_codes = _finding_codes(now)
        for code in new_codes:
            if code not in old_codes:
                changes.append(Change(check_id, "finding-new", code, None, new_codes[code]))
        for code in old_codes:
            if code not in new_codes:
                changes.append(Change(check_id, "finding-gone", code, old_codes[code], None))
    for check_id in old_checks:
        if check_id not in new_checks:
            changes.append(Change(check_id, "check-gone", "check", None, None))
    return changes


def _checks_by_id(report: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    checks = report.get("checks")
    if not isinstance(checks, list):
        return {}
    return {
        str(check["id"]): check
        for check in checks
        if isinstance(check, Mapping) and isinstance(check.get("id"), str)
    }


def _records(check_id: str, check: Mapping[str, Any]) -> dict[str, str]:
    """The published records of one check, by a name for each."""
    data = check.get("data")
    if not isinstance(data, Mapping):
        return {}
    out: dict[str, str] = {}
    record = data.get("record")
    if isinstance(record, str):
        out["record"] = record
    elif isinstance(record, list):
        out["record"] = "\n".join(str(item) for item in record)
    selectors = data.get("selectors")
    if check_id == "dkim" and isinstance(selectors, list):
        for item in selectors:
            if isinstance(item, Mapping) and item.get("selector"):
                out[f"selector {item['selector']}"] = str(item.get("record") or "")
    records = data.get("records")
    if check_id == "mx" and isinstance(records, list):
        hosts = sorted(
            f"{item.get('preference', '?')} {item.get('host', '?')}"
            for item in records
            if isinstance(item, Mapping)
        )
        out["MX"] = ", ".join(hosts) if hosts else "(none)"
    return out


def _finding_codes(check: Mapping[str, Any]) -> dict[str, str]:
    findings = check.get("findings")
    if not isinstance(findings, list):
        return {}
    return {
        str(item.get("code")): str(item.get("message", ""))
        for item in findings
        if isinstance(item, Mapping) and item.get("code")
    }
