"""Local Postmaster history in SQLite, so the view reaches further back than Google keeps.

One row per (domain, date, metric), upserted: fetching the same day twice changes
nothing, a newer value for a day replaces the older one, and a day missing from an
answer (or an empty answer) is simply not written, so a stored day is never lost.
The database sits in the platform's data directory and runs in WAL mode, so the
console can read while a worker writes. Connections are opened per call: the class
is safe to use from worker threads.

CSV import (Postmaster Tools exports, or any spreadsheet in that shape): a header
row, columns in any order, matched case-insensitively ignoring spaces, `_`, `-`, `.`
and `%`. Accepted columns (aliases in brackets):

- `date` (required): YYYY-MM-DD, YYYY/MM/DD or M/D/YYYY.
- `domain`: optional; otherwise the domain given to the import.
- `spam_rate` [user reported spam rate, spam rate]
- `auth.spf` [spf success rate, spf], `auth.dkim` [...dkim...], `auth.dmarc` [...dmarc...]
- `tls_rate.inbound` [inbound tls encryption rate, tls inbound, inbound encryption rate]
- `tls_rate.outbound` [outbound tls encryption rate, tls outbound, outbound encryption rate]
- `error_rate` [delivery error rate, delivery errors], `error_rate.reject` [reject rate],
  `error_rate.temp_fail` [temp fail rate, temporary failure rate]

Rates are fractions (0.0021) or percentages with a `%` sign (0.21%); an empty cell means
no data. Unknown columns are ignored; a malformed row is skipped with a message naming
the file and line.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import re
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from console.postmaster.model import DayStats, days_from_metrics

_SCHEMA = """
CREATE TABLE IF NOT EXISTS postmaster_days (
    domain TEXT NOT NULL,
    date TEXT NOT NULL,
    metric TEXT NOT NULL,
    value REAL NOT NULL,
    source TEXT NOT NULL,
    stored_at TEXT NOT NULL,
    PRIMARY KEY (domain, date, metric)
);
CREATE TABLE IF NOT EXISTS postmaster_fetches (
    domain TEXT PRIMARY KEY,
    fetched_at TEXT NOT NULL
);
"""


def default_postmaster_path() -> Path:
    """`postmaster.sqlite3` in the platform's data directory."""
    import platformdirs

    return platformdirs.user_data_path("mailscope", appauthor=False) / "postmaster.sqlite3"


class PostmasterHistory:
    """Stored Postmaster days per domain.

    Args:
        path: the SQLite file; default_postmaster_path() if None.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_postmaster_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as connection:
            connection.executescript(_SCHEMA)

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        connection = sqlite3.connect(self.path, timeout=10)
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            with connection:
                yield connection
        finally:
            connection.close()

    def store(
        self,
        domain: str,
        days: Iterable[DayStats],
        fetched_at: dt.datetime | None = None,
        source: str = "api",
    ) -> int:
        """Upsert every metric of `days`; returns the rows written (new or changed).

        An empty `days` writes no rows; `fetched_at`, when given, is recorded either way.
        """
        domain = domain.lower().rstrip(".")
        moment = (fetched_at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).isoformat()
        rows = [
            (domain, day.date.isoformat(), metric, float(value), source, moment)
            for day in days
            for metric, value in day.metrics.items()
        ]
        with self._connect() as connection:
            before = connection.total_changes
            connection.executemany(
                "INSERT INTO postmaster_days (domain, date, metric, value, source, stored_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (domain, date, metric) DO UPDATE SET "
                "value = excluded.value, source = excluded.source, stored_at = excluded.stored_at "
                "WHERE value IS NOT excluded.value",
                rows,
            )
            written = connection.total_changes - before
            if fetched_at is not None:
                connection.execute(
                    "INSERT INTO postmaster_fetches (domain, fetched_at) VALUES (?, ?) "
                    "ON CONFLICT (domain) DO UPDATE SET fetched_at = excluded.fetched_at",
                    (domain, moment),
                )
        return written

    def days(
        self, domain: str, start: dt.date | None = None, end: dt.date | None = None
    ) -> list[DayStats]:
        """Stored days of `domain` between `start` and `end` inclusive, oldest first."""
        query = "SELECT date, metric, value FROM postmaster_days WHERE domain = ?"
        args: list[str] = [domain.lower().rstrip(".")]
        if start is not None:
            query += " AND date >= ?"
            args.append(start.isoformat())
        if end is not None:
            query += " AND date <= ?"
            args.append(end.isoformat())
        with self._connect() as connection:
            rows = connection.execute(query, args).fetchall()
        return days_from_metrics((dt.date.fromisoformat(d), m, v) for d, m, v in rows)

    def last_fetch(self, domain: str) -> dt.datetime | None:
        """When the API last answered for `domain`."""
        with self._connect() as connection:
            row = connection.execute(
                "SELECT fetched_at FROM postmaster_fetches WHERE domain = ?",
                (domain.lower().rstrip("."),),
            ).fetchone()
        return dt.datetime.fromisoformat(row[0]) if row else None

    def domains(self) -> list[str]:
        with self._connect() as connection:
            rows = connection.execute(
                "SELECT DISTINCT domain FROM postmaster_days ORDER BY domain"
            ).fetchall()
        return [row[0] for row in rows]

    def count(self, domain: str | None = None) -> int:
        with self._connect() as connection:
            if domain is None:
                return connection.execute("SELECT COUNT(*) FROM postmaster_days").fetchone()[0]
            return connection.execute(
                "SELECT COUNT(*) FROM postmaster_days WHERE domain = ?", (domain.lower(),)
            ).fetchone()[0]

    def import_csv(self, path: Path, domain: str | None = None) -> ImportResult:
        """Read a Postmaster CSV export and store its days (see the module docstring)."""
        try:
            text = path.read_text(encoding="utf-8-sig", errors="replace")
        except OSError as exc:
            return ImportResult(messages=[f"{path}: cannot read: {exc.strerror}"])
        result = parse_csv(text, str(path), domain)
        for name, days in result.days.items():
            result.stored += self.store(name, days, source="csv")
        return result


_ALIASES: dict[str, str] = {}
for _key, _names in {
    "spam_rate": ("spamrate", "userreportedspamrate", "spam", "userreportedspam"),
    "auth.spf": ("authspf", "spfsuccessrate", "spf", "spfrate", "spfauthenticationrate"),
    "auth.dkim": ("authdkim", "dkimsuccessrate", "dkim", "dkimrate", "dkimauthenticationrate"),
    "auth.dmarc": (
        "authdmarc",
        "dmarcsuccessrate",
        "dmarc",
        "dmarcrate",
        "dmarcauthenticationrate",
    ),
    "tls_rate.inbound": (
        "tlsrateinbound",
        "inboundtlsencryptionrate",
        "tlsinbound",
        "inboundencryptionrate",
        "inboundtls",
    ),
    "tls_rate.outbound": (
        "tlsrateoutbound",
        "outboundtlsencryptionrate",
        "tlsoutbound",
        "outboundencryptionrate",
        "outboundtls",
    ),
    "error_rate": ("errorrate", "deliveryerrorrate", "deliveryerrors"),
    "error_rate.reject": ("errorratereject", "rejectrate", "reject"),
    "error_rate.temp_fail": (
        "errorratetempfail",
        "tempfailrate",
        "temporaryfailurerate",
        "tempfail",
    ),
}.items():
    for _name in _names:
        _ALIASES[_name] = _key

_DATE_PATTERNS = (
    (re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$"), (1, 2, 3)),
    (re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})$"), (1, 2, 3)),
    (re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$"), (3, 1, 2)),
)


def _normalize(header: str) -> str:
    return re.sub(r"[\s_\-.%()]", "", header.strip().lower())


def _parse_date(text: str) -> dt.date | None:
    for pattern, (y, m, d) in _DATE_PATTERNS:
        match = pattern.match(text.strip())
        if match:
            try:
                return dt.date(int(match[y]), int(match[m]), int(match[d]))
            except ValueError:
                return None
    return None


def _parse_rate(text: str) -> float | None:
    """A fraction from `0.0021` or `0.21%`; raises ValueError for anything else."""
    cell = text.strip()
    percent = cell.endswith("%")
    number = float(cell.rstrip("%").strip())
    if number != number or number < 0 or number in (float("inf"),):
        raise ValueError(cell)
    rate = number / 100 if percent else number
    if rate > 1:
        raise ValueError(cell)
    return rate


@dataclass(slots=True)
class ImportResult:
    """What a CSV import read: days per domain, rows stored, and a message per skipped line."""

    days: dict[str, list[DayStats]] = field(default_factory=dict)
    stored: int = 0
    messages: list[str] = field(default_factory=list)

    @property
    def day_count(self) -> int:
        return sum(len(days) for days in self.days.values())


def parse_csv(text: str, name: str = "<csv>", domain: str | None = None) -> ImportResult:
    """Parse Postmaster CSV text; never raises: bad lines become messages `name:LINE: why`."""
    result = ImportResult()
    try:
        reader = csv.reader(io.StringIO(text.replace("\x00", "")))
        header = next(reader, None)
    except csv.Error as exc:
        result.messages.append(f"{name}:1: not CSV: {exc}")
        return result
    if not header:
        result.messages.append(f"{name}:1: empty file, no header row")
        return result
    columns: dict[int, str] = {}
    date_col = domain_col = None
    for index, title in enumerate(header):
        key = _normalize(title)
        if key == "date":
            date_col = index
        elif key == "domain":
            domain_col = index
        elif key in _ALIASES and _ALIASES[key] not in columns.values():
            columns[index] = _ALIASES[key]
    if date_col is None or not columns:
        result.messages.append(
            f"{name}:1: the header needs a `date` column and at least one metric column "
            "(spam_rate, auth.spf, ...)"
        )
        return result
    rows: dict[str, list[tuple[dt.date, str, float]]] = {}
    line = 1
    try:
        for record in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in record):
                continue
            problem = _read_row(record, date_col, domain_col, columns, domain, rows)
            if problem:
                result.messages.append(f"{name}:{line}: {problem}")
    except csv.Error as exc:
        result.messages.append(f"{name}:{line + 1}: not CSV: {exc}; the rest is skipped")
    for target, values in rows.items():
        result.days[target] = days_from_metrics(values)
    return result


def _read_row(
    record: list[str],
    date_col: int,
    domain_col: int | None,
    columns: dict[int, str],
    domain: str | None,
    rows: dict[str, list[tuple[dt.date, str, float]]],
) -> str | None:
    if date_col >= len(record):
        return "no date cell; line skipped"
    day = _parse_date(record[date_col])
    if day is None:
        return f"unreadable date {record[date_col][:40]!r}; line skipped"
    target = domain
    if domain_col is not None and domain_col < len(record) and record[domain_col].strip():
        target = record[domain_col].strip().lower().rstrip(".")
    if not target:
        return "no domain (give one, or add a domain column); line skipped"
    values: list[tuple[dt.date, str, float]] = []
    for index, metric in columns.items():
        cell = record[index] if index < len(record) else ""
        if not cell.strip():
            continue  # no data that day: absent, never zero
        try:
            rate = _parse_rate(cell)
        except ValueError:
            return f"{metric}: {cell[:40]!r} is not a rate (0.0021 or 0.21%); line skipped"
        if rate is not None:
            values.append((day, metric, rate))
    rows.setdefault(target, []).extend(values)
    return None
