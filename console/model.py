"""The shared vocabulary of every engine, pane and command: plain data, no I/O."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


class Status(enum.StrEnum):
    """Outcome of a check or a finding.

    `error` means "could not be determined" (timeout, SERVFAIL) and is kept apart
    from `fail` ("determined, and wrong"): a DNS outage is never a missing record.
    """

    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    ERROR = "error"
    SKIP = "skip"

    @property
    def rank(self) -> int:
        """Higher is worse; used to fold findings into one check status."""
        return _RANK[self]

    @classmethod
    def worst(cls, statuses: Iterable[Status], default: Status | None = None) -> Status:
        """The most severe of `statuses`, or `default` (PASS) when there are none."""
        found = list(statuses)
        if not found:
            return default if default is not None else cls.PASS
        return max(found, key=lambda status: status.rank)


_RANK = {Status.SKIP: 0, Status.PASS: 1, Status.WARN: 2, Status.ERROR: 3, Status.FAIL: 4}


@dataclass(frozen=True, slots=True)
class Finding:
    """One observation about a check: what is wrong, why it matters, and the exact fix.

    `code` is stable and namespaced by check (`spf.too-many-lookups`) so scripts and
    tests can rely on it; `message` and `fix` are for people.

    `record` is the exact thing to paste, apart from the prose, so an admin can copy it
    into a DNS console or a file untouched. For DNS it is one zone-file line per record,
    `owner. TTL IN TYPE RDATA` with an absolute owner name, e.g.
    `_dmarc.example.com. 3600 IN TXT "v=DMARC1; p=none"`; TXT data is quoted, with
    values over 255 octets split into several quoted strings (RFC 1035 3.3.14), and
    several records are separate lines. For a setting that is not DNS (an MTA-STS policy
    file) it is the exact file body. `None` when the fix is advice, not a record; `fix`
    still quotes the record too, so readers of `fix` alone lose nothing.
    """

    code: str
    severity: Status
    message: str
    fix: str = ""
    record: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        # `record` is always present (null when there is none) so the shape is stable.
        return {
            "code": self.code,
            "severity": self.severity.value,
            "message": self.message,
            "fix": self.fix,
            "record": self.record,
        }


@dataclass(slots=True)
class CheckResult:
    """The result of one check (`spf`, `dmarc`, ...) for one domain.

    `data` holds the raw material (records as published, even when invalid, counts,
    trees) as JSON-ready values; its keys per check are documented in design.md.
    """

    id: str
    status: Status
    summary: str
    findings: list[Finding] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_findings(
        cls,
        check_id: str,
        summary: str,
        findings: Iterable[Finding],
        data: Mapping[str, Any] | None = None,
        *,
        floor: Status = Status.PASS,
    ) -> CheckResult:
        """Build a result whose status is the worst of its findings (at least `floor`)."""
        listed = list(findings)
        status = Status.worst([floor, *(f.severity for f in listed)])
        return cls(check_id, status, summary, listed, dict(data or {}))

    @classmethod
    def skipped(cls, check_id: str, summary: str, **data: Any) -> CheckResult:
        return cls(check_id, Status.SKIP, summary, [], dict(data))

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status.value,
            "summary": self.summary,
            "findings": [finding.to_dict() for finding in self.findings],
            "data": self.data,
        }


@dataclass(slots=True)
class Report:
    """Every check of one domain's audit, in a stable order."""

    domain: str
    checks: list[CheckResult] = field(default_factory=list)
    checked_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    error: str | None = None
    """Set when the domain could not be audited at all (an invalid name, say)."""

    @property
    def status(self) -> Status:
        if self.error:
            return Status.ERROR
        return Status.worst(check.status for check in self.checks)

    def check(self, check_id: str) -> CheckResult | None:
        return next((check for check in self.checks if check.id == check_id), None)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "domain": self.domain,
            "checked_at": self.checked_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "status": self.status.value,
            "checks": [check.to_dict() for check in self.checks],
        }
        if self.error:
            out["error"] = self.error
        return out
