"""What a Postmaster fetch yields: per-day statistics, compliance rows, the report.

Rates are fractions exactly as the API returns them (0.003 is 0.3%). A day Google has
no data for is absent, never a row of zeros: low-volume domains get no spam rate at
all, and a zero would read as a perfect day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

SPAM_RATE_LIMIT = 0.003
"""Gmail's line: bulk senders must stay below 0.3% user-reported spam."""

SPAM_RATE_TARGET = 0.001
"""Gmail's advice: aim below 0.1%."""

MITIGATION_STREAK = 7
"""Consecutive days below 0.3% Gmail asks for before a sender may request mitigation."""

DATA_DELAY_DAYS = 2
"""Postmaster data arrives about two days late; the newest days are missing, not clean."""

DELAY_NOTE = (
    "Google publishes Postmaster data about two days late, and not at all for days when "
    "a domain sent too little mail to Gmail users."
)

CHECK_FOR_REQUIREMENT: Mapping[str, str] = {
    "SPF": "spf",
    "DKIM": "dkim",
    "SPF_AND_DKIM": "spf+dkim",
    "DMARC_POLICY": "dmarc",
    "DMARC_ALIGNMENT": "dmarc",
    "DNS_RECORDS": "fcrdns",
    "ENCRYPTION": "ports",
    "MESSAGE_FORMATTING": "send",
    "USER_REPORTED_SPAM_RATE": "postmaster",
    "ONE_CLICK_UNSUBSCRIBE": "send",
    "HONOR_UNSUBSCRIBE": "send",
}
"""Compliance requirement -> the console check that explains and fixes it.

`spf+dkim` means both checks; `ports` is the SMTP port probes; `send` is the test-send
lint (headers, one-click unsubscribe); `postmaster` is this view's spam-rate chart.
"""

REQUIREMENT_MEANING: Mapping[str, str] = {
    "SPF": "Mail passes SPF for the sending domain.",
    "DKIM": "Mail carries a valid DKIM signature.",
    "SPF_AND_DKIM": "Bulk mail passes both SPF and DKIM.",
    "DMARC_POLICY": "The domain publishes a DMARC record with at least p=none.",
    "DMARC_ALIGNMENT": "The From: domain aligns with the SPF or DKIM domain.",
    "MESSAGE_FORMATTING": "Messages follow RFC 5322 formatting.",
    "DNS_RECORDS": "Sending IPs have forward and reverse DNS that match.",
    "ENCRYPTION": "Mail is sent to Gmail over TLS.",
    "USER_REPORTED_SPAM_RATE": "User-reported spam stays below 0.3% (aim below 0.1%).",
    "ONE_CLICK_UNSUBSCRIBE": "Marketing mail offers RFC 8058 one-click unsubscribe.",
    "HONOR_UNSUBSCRIBE": "Unsubscribe requests are honoured within two days.",
}
"""Plain-words meaning of each requirement, for the compliance table."""

VERDICT_REASONS: Mapping[str, str] = {
    "NO_UNSUB_GENERAL": "Messages lack a working one-click unsubscribe.",
    "NO_UNSUB_SPAM_REPORTS": "Users report spam on mail that lacks one-click unsubscribe.",
    "NO_UNSUB_PROMO_SPAM_REPORTS": (
        "Promotional mail without one-click unsubscribe draws spam reports."
    ),
    "NOT_HONORING": "Unsubscribed users keep receiving mail.",
    "NOT_HONORING_TOO_FEW_CAMPAIGNS": "Too few campaigns to judge unsubscribe honouring.",
    "NOT_HONORING_TOO_MANY_CAMPAIGNS": "Mail continues after unsubscribe across many campaigns.",
    "MESSAGE_VOLUME_LOW": "Too little mail to judge deliverability.",
    "SMTP_ERRORS_HIGH": "Many SMTP errors.",
    "SENDER_NOT_COMPLIANT": "The sender misses a requirement above.",
    "SPAM_RATE_HIGH": "The spam rate is high.",
    "USER_FEEDBACK_NEGATIVE": "Users react negatively.",
    "USER_FEEDBACK_LOW": "Little user feedback.",
    "USER_FEEDBACK_POSITIVE": "Users react positively.",
}
"""Verdict reason codes of getComplianceStatus in plain words."""

AUTH_TYPES = ("spf", "dkim", "dmarc")
DIRECTIONS = ("inbound", "outbound")
ERROR_TYPES = ("reject", "temp_fail")


@dataclass(frozen=True, slots=True)
class DayStats:
    """One day of one domain's statistics; every field None or empty when not reported.

    The flat `metrics` mapping is the storage form (history rows keyed by metric name):
    `spam_rate`, `auth.spf|dkim|dmarc`, `tls_rate.inbound|outbound`,
    `tls_count.inbound|outbound`, `error_rate[.type[.reason]]`,
    `error_count[.type[.reason]]`, `fbl.<feedback-loop id>` (that id's spam rate).
    """

    date: dt.date
    metrics: Mapping[str, float] = field(default_factory=dict)

    @property
    def spam_rate(self) -> float | None:
        return self.metrics.get("spam_rate")

    @property
    def has_data(self) -> bool:
        return bool(self.metrics)

    def _prefixed(self, prefix: str) -> dict[str, float]:
        start = prefix + "."
        return {k[len(start) :]: v for k, v in self.metrics.items() if k.startswith(start)}

    @property
    def auth(self) -> dict[str, float]:
        """Authentication success rate per mechanism (spf, dkim, dmarc)."""
        return self._prefixed("auth")

    @property
    def delivery_errors(self) -> dict[str, float]:
        """Delivery error rate: `all`, per type (`reject`) and per `type.reason`."""
        rates = self._prefixed("error_rate")
        if "error_rate" in self.metrics:
            rates["all"] = self.metrics["error_rate"]
        return rates

    @property
    def delivery_error_counts(self) -> dict[str, int]:
        counts = {k: int(v) for k, v in self._prefixed("error_count").items()}
        if "error_count" in self.metrics:
            counts["all"] = int(self.metrics["error_count"])
        return counts

    @property
    def feedback_loops(self) -> dict[str, float]:
        """Feedback-loop id -> its spam rate that day."""
        return self._prefixed("fbl")

    def to_dict(self) -> dict[str, Any]:
        """The design.md `days[]` entry, with the extra detail the pane uses."""
        tls = self._prefixed("tls_rate")
        return {
            "date": self.date.isoformat(),
            "spam_rate": self.spam_rate,
            "auth": self.auth,
            "tls_inbound": tls.get("inbound"),
            "tls_outbound": tls.get("outbound"),
            "tls_messages": {k: int(v) for k, v in self._prefixed("tls_count").items()},
            "delivery_errors": self.delivery_errors,
            "delivery_error_counts": self.delivery_error_counts,
            "feedback_loops": self.feedback_loops,
        }


@dataclass(frozen=True, slots=True)
class ComplianceRow:
    """One row of Gmail's compliance table.

    Attributes:
        requirement: SPF, DKIM, DMARC_POLICY, ... as the API names it.
        status: COMPLIANT, NEEDS_WORK or STATE_UNSPECIFIED.
        scope: `domain` (the registrable domain) or `subdomains`.
    """

    requirement: str
    status: str
    scope: str = "domain"

    @property
    def check(self) -> str | None:
        return CHECK_FOR_REQUIREMENT.get(self.requirement)

    @property
    def compliant(self) -> bool:
        return self.status == "COMPLIANT"

    def to_dict(self) -> dict[str, Any]:
        return {
            "requirement": self.requirement,
            "status": self.status,
            "check": self.check,
            "scope": self.scope,
            "meaning": REQUIREMENT_MEANING.get(self.requirement),
        }


@dataclass(frozen=True, slots=True)
class Verdict:
    """A one-click-unsubscribe, honor-unsubscribe or deliverability verdict."""

    name: str
    status: str
    reason: str | None = None
    scope: str = "domain"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "reason": self.reason,
            "meaning": VERDICT_REASONS.get(self.reason or ""),
            "scope": self.scope,
        }


@dataclass(slots=True)
class PostmasterReport:
    """One domain's view: stored and fetched days, compliance, and what is known about gaps.

    Attributes:
        domain: the domain as registered in Postmaster Tools.
        fetched_at: when the API was last asked (None when only history was read).
        days: days with data, oldest first; days without data are absent.
        compliance: the compliance table rows (domain, then subdomains).
        verdicts: one-click unsubscribe, honor unsubscribe and deliverability verdicts.
        notes: plain-words remarks (no data, history only, fetch failed...).
        error: a one-line account of a failed fetch (the stored days are still shown).
    """

    domain: str
    fetched_at: dt.datetime | None = None
    days: list[DayStats] = field(default_factory=list)
    compliance: list[ComplianceRow] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def spam_days(self) -> list[DayStats]:
        return [day for day in self.days if day.spam_rate is not None]

    @property
    def days_above_0_3(self) -> int:
        """Days whose spam rate was not below 0.3% (Gmail's line is "below 0.3%")."""
        return sum(1 for day in self.spam_days if day.spam_rate >= SPAM_RATE_LIMIT)  # type: ignore[operator]

    @property
    def days_above_0_1(self) -> int:
        return sum(1 for day in self.spam_days if day.spam_rate >= SPAM_RATE_TARGET)  # type: ignore[operator]

    @property
    def consecutive_days_below_0_3(self) -> int:
        """Calendar days in a row, back from the newest day with a spam rate, below 0.3%.

        A day without a spam rate ends the streak: Gmail counts days it measured, and
        an unmeasured day cannot show the rate stayed down.
        """
        streak = 0
        expected: dt.date | None = None
        for day in reversed(self.spam_days):
            if expected is not None and day.date != expected:
                break
            if day.spam_rate >= SPAM_RATE_LIMIT:  # type: ignore[operator]
                break
            streak += 1
            expected = day.date - dt.timedelta(days=1)
        return streak

    @property
    def last_data_date(self) -> dt.date | None:
        return self.days[-1].date if self.days else None

    def within(self, days: int, today: dt.date) -> PostmasterReport:
        """A copy limited to the `days` days before `today` (inclusive of today)."""
        first = today - dt.timedelta(days=days - 1)
        return PostmasterReport(
            domain=self.domain,
            fetched_at=self.fetched_at,
            days=[day for day in self.days if first <= day.date <= today],
            compliance=list(self.compliance),
            verdicts=list(self.verdicts),
            notes=list(self.notes),
            error=self.error,
        )

    def worst_feedback_loops(self, limit: int = 5) -> list[tuple[str, float]]:
        """Feedback-loop ids by their highest daily spam rate, worst first."""
        worst: dict[str, float] = {}
        for day in self.days:
            for fbl, rate in day.feedback_loops.items():
                worst[fbl] = max(rate, worst.get(fbl, 0.0))
        return sorted(worst.items(), key=lambda item: (-item[1], item[0]))[:limit]

    def to_dict(self) -> dict[str, Any]:
        """The design.md postmaster JSON object (plus the detail the pane needs)."""
        last = self.last_data_date
        return {
            "domain": self.domain,
            "fetched_at": _utc(self.fetched_at),
            "days": [day.to_dict() for day in self.days],
            "days_above_0_3": self.days_above_0_3,
            "days_above_0_1": self.days_above_0_1,
            "consecutive_days_below_0_3": self.consecutive_days_below_0_3,
            "last_data_date": last.isoformat() if last else None,
            "compliance": [row.to_dict() for row in self.compliance],
            "verdicts": [verdict.to_dict() for verdict in self.verdicts],
            "feedback_loops_worst": [
                {"id": fbl, "max_spam_rate": rate} for fbl, rate in self.worst_feedback_loops()
            ],
            "notes": list(self.notes),
            "error": self.error,
        }


def _utc(moment: dt.datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def days_from_metrics(rows: Iterable[tuple[dt.date, str, float]]) -> list[DayStats]:
    """Group (date, metric, value) rows into DayStats, oldest first."""
    by_day: dict[dt.date, dict[str, float]] = {}
    for date, metric, value in rows:
        by_day.setdefault(date, {})[metric] = value
    return [DayStats(date, metrics) for date, metrics in sorted(by_day.items())]
