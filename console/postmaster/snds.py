"""Microsoft SNDS (Smart Network Data Services) automated-access data, per sending IP.

SNDS publishes, for the IPs an admin registered, a daily CSV at a URL carrying the
admin's access key. The key is a secret: it is never printed, and errors show the
URL with the key replaced by `***`.

Data file columns, no header row (the order SNDS uses): IP address, activity start,
activity end, RCPT commands, DATA commands, message recipients, filter result
(GREEN/YELLOW/RED), complaint rate (`< 0.1%` or `0.4%`), trap period start, trap period
end, trap hits, sample HELO, sample MAIL FROM, comments. Trailing columns may be
missing; malformed lines are skipped with a message naming the line.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

SNDS_URL = "https://sendersupport.olc.protection.outlook.com/snds/data.aspx"
FILTER_RESULTS = ("GREEN", "YELLOW", "RED")
FILTER_MEANING = {
    "GREEN": "Spam filtering judged at most 10% of this IP's mail spam.",
    "YELLOW": "Between 10% and 90% of this IP's mail was judged spam.",
    "RED": "More than 90% of this IP's mail was judged spam.",
}
MAX_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class SndsRow:
    """One IP's activity period."""

    ip: str
    start: dt.datetime | None
    end: dt.datetime | None
    rcpt_commands: int
    data_commands: int
    recipients: int
    filter_result: str
    complaint_rate: float | None
    complaint_below: bool
    trap_hits: int
    sample_helo: str = ""
    sample_mail_from: str = ""
    comments: str = ""

    @property
    def date(self) -> dt.date | None:
        return self.start.date() if self.start else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ip": self.ip,
            "date": self.date.isoformat() if self.date else None,
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
            "rcpt_commands": self.rcpt_commands,
            "data_commands": self.data_commands,
            "recipients": self.recipients,
            "filter_result": self.filter_result,
            "complaint_rate": self.complaint_rate,
            "complaint_below": self.complaint_below,
            "trap_hits": self.trap_hits,
            "sample_helo": self.sample_helo,
            "sample_mail_from": self.sample_mail_from,
            "comments": self.comments,
        }


@dataclass(slots=True)
class SndsData:
    """Parsed SNDS rows and messages for skipped lines, or the fetch error."""

    rows: list[SndsRow] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": [row.to_dict() for row in self.rows],
            "messages": list(self.messages),
            "error": self.error,
        }


def _moment(text: str) -> dt.datetime | None:
    for pattern in ("%m/%d/%Y %I:%M %p", "%m/%d/%Y %H:%M", "%m/%d/%Y"):
        try:
            return dt.datetime.strptime(text.strip(), pattern)
        except ValueError:
            continue
    return None


def _complaint(text: str) -> tuple[float | None, bool]:
    cell = text.strip()
    below = cell.startswith("<")
    match = re.fullmatch(r"<?\s*(\d+(?:\.\d+)?)\s*%", cell)
    if not match:
        if cell in ("", "-", "N/A"):
            return None, False
        raise ValueError(cell)
    return float(match[1]) / 100, below


def _count(text: str) -> int:
    cell = text.strip().replace(",", "")
    if not cell:
        return 0
    value = int(cell)
    if value < 0:
        raise ValueError(cell)
    return value


def parse_snds(text: str, name: str = "snds") -> SndsData:
    """Parse an SNDS data file; never raises (bad lines become `name:LINE: why` messages)."""
    out = SndsData()
    reader = csv.reader(io.StringIO(text.replace("\x00", "")))
    line = 0
    try:
        for record in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in record):
                continue
            if line == 1 and record[0].strip().lower().startswith("ip"):
                continue  # a header some exports add
            try:
                out.rows.append(_row(record))
            except (ValueError, IndexError) as exc:
                out.messages.append(f"{name}:{line}: skipped: {_why(exc)}")
    except csv.Error as exc:
        out.messages.append(f"{name}:{line + 1}: not CSV ({exc}); the rest is skipped")
    return out


def _why(exc: Exception) -> str:
    if isinstance(exc, IndexError):
        return "too few columns (11 needed)"
    return f"unreadable value {str(exc)[:40]!r}"


def _row(record: list[str]) -> SndsRow:
    if len(record) < 11:
        raise IndexError
    ip = str(ipaddress.ip_address(record[0].strip()))
    colour = record[6].strip().upper()
    if colour not in FILTER_RESULTS:
        raise ValueError(record[6])
    rate, below = _complaint(record[7])
    extra = [*record[11:14], "", "", ""]
    return SndsRow(
        ip=ip,
        start=_moment(record[1]),
        end=_moment(record[2]),
        rcpt_commands=_count(record[3]),
        data_commands=_count(record[4]),
        recipients=_count(record[5]),
        filter_result=colour,
        complaint_rate=rate,
        complaint_below=below,
        trap_hits=_count(record[10]),
        sample_helo=extra[0].strip()[:255],
        sample_mail_from=extra[1].strip()[:255],
        comments=extra[2].strip()[:500],
    )


def redact(text: str, key: str) -> str:
    """`text` with the key (raw or URL-encoded) replaced by ***."""
    if not key:
        return text
    for form in {key, urlencode({"k": key})[2:]}:
        text = text.replace(form, "***")
    return text


async def fetch_snds(ctx: Any, key: str, *, url: str = SNDS_URL, timeout: float = 30.0) -> SndsData:  # noqa: ASYNC109
    """Fetch and parse the SNDS data file for `key`.

    Args:
        ctx: a ResolverContext (the host is resolved through it; the lab's CA trusted).
        key: the SNDS automated-access key (never printed).
        url: the data URL without the key.
        timeout: seconds for the whole fetch.
    """
    from console.auth.https import fetch

    full = f"{url}?{urlencode({'key': key})}"
    result = await fetch(ctx, full, max_bytes=MAX_BYTES, timeout=timeout)
    if not result.ok:
        return SndsData(error=redact(f"SNDS: {result.error}", key))
    if result.status != 200:
        return SndsData(error=redact(f"SNDS answered HTTP {result.status} for {full}", key))
    return parse_snds(result.text())
