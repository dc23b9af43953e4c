"""The campaign view: many bounces folded into what to fix first.

Recipients are grouped by (reason, provider). A group counts its failed recipients,
the distinct recipient domains, hard and soft failures, and the delays seen for the
same cause (a delay is not a failure, but 4.7.28 deferrals from Gmail are what an
admin must act on before they turn into bounces). Diagnostics are normalised
(addresses, IPs, ids and long numbers masked) so that "550 5.1.1 <a@x>: unknown" and
"550 5.1.1 <b@y>: unknown" count as one text.

Order: by `model.REASONS` (sender-side problems that hit every recipient of a provider,
like auth-failure, blocked and bad-reputation, before list hygiene such as
user-unknown, before transient trouble), then by failed recipients.

CSV: one row per recipient (not per group): the group columns (reason, provider) are
on every row, so a spreadsheet pivot gives the groups back, and nothing is lost for
the admin who wants to suppress exactly the hard-bounced addresses. Cells that a
spreadsheet would run as a formula (starting with = + - @) are prefixed with a quote.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TextIO

from console.bounce.model import (
    KIND_AUTO_REPLY,
    KIND_BOUNCE,
    KIND_DELAYED,
    KIND_DELIVERED,
    KIND_ERROR,
    KIND_UNKNOWN,
    REASONS,
    BounceResult,
    RecipientResult,
)

_PRIORITY = {reason: index for index, reason in enumerate(REASONS)}
TOP_DIAGNOSTICS = 3

_MASKS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"https?://\S+"), "<url>"),
    (re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w.-]+"), "<address>"),
    (re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b"), "<ip>"),
    (re.compile(r"\b[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}\b"), "<ip>"),
    # ids: tokens mixing letters and digits (queue ids, Gmail's "a1si123"), long numbers.
    (re.compile(r"\b(?!RFC)(?=[\w-]*\d)(?=[\w-]*[A-Za-z])[\w-]{6,}\b"), "<id>"),
    (re.compile(r"\b\d{4,}\b"), "<n>"),
)
_KEEP = re.compile(r"^[245]\d\d[ -][245]\.\d{1,3}\.\d{1,3}")


def normalise_diagnostic(text: str) -> str:
    """`text` with addresses, IPs, URLs, ids and long numbers masked, for counting alike."""
    head = _KEEP.match(text)
    prefix, rest = (head.group(0), text[head.end() :]) if head else ("", text)
    for pattern, mask in _MASKS:
        rest = pattern.sub(mask, rest)
    text = prefix + rest
    if len(text) > 400:
        text = text[:400].rsplit(" ", 1)[0] + " ..."
    return text


@dataclass(slots=True)
class Group:
    """Recipients that failed for the same reason at the same provider."""

    reason: str
    provider: str
    recipients: int = 0  # failed recipients
    delayed: int = 0
    hard: int = 0
    soft: int = 0
    domains: set[str] = field(default_factory=set)
    diagnostics: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    fixes: Counter[str] = field(default_factory=Counter)
    checks: Counter[str] = field(default_factory=Counter)
    members: list[tuple[str, RecipientResult]] = field(default_factory=list)

    @property
    def next_step(self) -> str:
        """The most frequent fix, preferring one that names the real sending domain."""
        if not self.fixes:
            return ""
        ranked = sorted(self.fixes.items(), key=lambda item: ("YOUR-DOMAIN" in item[0], -item[1]))
        return ranked[0][0]

    @property
    def check(self) -> str | None:
        return self.checks.most_common(1)[0][0] if self.checks else None

    def top_diagnostics(self, count: int = TOP_DIAGNOSTICS) -> list[tuple[str, int]]:
        return self.diagnostics.most_common(count)

    def to_dict(self) -> dict[str, Any]:
        return {
            "reason": self.reason,
            "provider": self.provider,
            "recipients": self.recipients,
            "delayed": self.delayed,
            "domains": len(self.domains),
            "hard": self.hard,
            "soft": self.soft,
            "statuses": dict(self.statuses.most_common()),
            "top_diagnostics": [
                {"text": text, "count": count} for text, count in self.top_diagnostics()
            ],
            "next_step": self.next_step,
            "check": self.check,
        }


@dataclass(slots=True)
class Campaign:
    """The whole input, summarised; `groups` in fix-first order."""

    groups: list[Group] = field(default_factory=list)
    kinds: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    @property
    def messages(self) -> int:
        return sum(self.kinds.values())

    @property
    def failed(self) -> int:
        return sum(g.recipients for g in self.groups)

    @property
    def hard(self) -> int:
        return sum(g.hard for g in self.groups)

    def to_dict(self) -> dict[str, Any]:
        return {
            "messages": self.messages,
            "kinds": {kind: self.kinds.get(kind, 0) for kind in _KIND_ORDER},
            "failed_recipients": self.failed,
            "hard": self.hard,
            "groups": [g.to_dict() for g in self.groups],
            "problems": self.problems,
        }


_KIND_ORDER = (KIND_BOUNCE, KIND_DELAYED, KIND_AUTO_REPLY, KIND_DELIVERED, KIND_UNKNOWN, KIND_ERROR)


class CampaignBuilder:
    """Folds results one at a time, so a streamed folder never has to be held whole.

    `keep_members` keeps (file, recipient) pairs per group for the detail view; off for
    huge inputs where only counts matter.
    """

    def __init__(self, *, keep_members: int = 50) -> None:
        self.keep_members = keep_members
        self._groups: dict[tuple[str, str], Group] = {}
        self._kinds: Counter[str] = Counter()
        self._problems: list[str] = []

    def add(self, result: BounceResult) -> None:
        self._kinds[result.kind] += 1
        if result.problem:
            self._problems.append(result.problem)
        if result.kind not in (KIND_BOUNCE, KIND_DELAYED):
            return
        for recipient in result.recipients:
            if recipient.action not in ("failed", "delayed"):
                continue
            key = (recipient.reason, recipient.provider)
            group = self._groups.get(key)
            if group is None:
                group = self._groups[key] = Group(recipient.reason, recipient.provider)
            if recipient.failed:
                group.recipients += 1
                if recipient.hard:
                    group.hard += 1
                else:
                    group.soft += 1
            else:
                group.delayed += 1
            domain = recipient.recipient.rpartition("@")[2].lower()
            if domain:
                group.domains.add(domain)
            if recipient.diagnostic:
                group.diagnostics[normalise_diagnostic(recipient.diagnostic)] += 1
            if recipient.status:
                group.statuses[recipient.status] += 1
            if recipient.fix:
                group.fixes[recipient.fix] += 1
            if recipient.check:
                group.checks[recipient.check] += 1
            if len(group.members) < self.keep_members:
                group.members.append((result.file, recipient))

    def build(self) -> Campaign:
        groups = sorted(
            self._groups.values(),
            key=lambda g: (
                g.recipients == 0,  # groups of delays only after real failures
                _PRIORITY.get(g.reason, len(REASONS)),
                -g.recipients,
                -g.delayed,
                g.provider,
            ),
        )
        return Campaign(groups=groups, kinds=Counter(self._kinds), problems=list(self._problems))


def summarise(results: Iterable[BounceResult], *, keep_members: int = 50) -> Campaign:
    """Group `results` by reason and provider, most urgent first."""
    builder = CampaignBuilder(keep_members=keep_members)
    for result in results:
        builder.add(result)
    return builder.build()


CSV_COLUMNS = (
    "file",
    "recipient",
    "domain",
    "kind",
    "action",
    "status",
    "reply_code",
    "reason",
    "hard",
    "provider",
    "check",
    "remote_mta",
    "diagnostic",
    "fix",
    "original_message_id",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    # Remote text in a spreadsheet must not become a formula (CSV injection).
    return "'" + text if text.startswith(_FORMULA_START) else text


class CsvWriter:
    """One CSV row per recipient of each bounce or delay, header first."""

    def __init__(self, stream: TextIO) -> None:
        self._writer = csv.writer(stream, lineterminator="\n")
        self._writer.writerow(CSV_COLUMNS)

    def write(self, result: BounceResult) -> None:
        for r in result.recipients:
            self._writer.writerow(
                [
                    _cell(v)
                    for v in (
                        result.file,
                        r.recipient,
                        r.recipient.rpartition("@")[2].lower(),
                        result.kind,
                        r.action,
                        r.status,
                        r.reply_code,
                        r.reason,
                        r.hard,
                        r.provider,
                        r.check,
                        r.remote_mta,
                        r.diagnostic,
                        r.fix,
                        result.original_message_id,
                    )
                ]
            )


def write_csv(results: Iterable[BounceResult], stream: TextIO) -> int:
    """Write every recipient of `results` as CSV rows; returns the number of rows."""
    writer = CsvWriter(stream)
    rows = 0
    for result in results:
        writer.write(result)
        rows += len(result.recipients)
    return rows
