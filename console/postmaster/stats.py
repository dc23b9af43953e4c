"""Asking Postmaster Tools v2 for a domain's days, compliance and the account's domains.

All functions here are blocking (google-api-python-client): run them in a thread.
`fetch_reports` is the async entry point that does so and stores what arrives.

Metric names in requests are our storage keys (see model.DayStats), so answers map
back without guessing: `spam_rate`, `auth.spf`, `tls_rate.inbound`, `error_rate.reject`,
`fbl.<id>` ...
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from console.postmaster.client import PostmasterError, execute
from console.postmaster.model import (
    AUTH_TYPES,
    DIRECTIONS,
    ERROR_TYPES,
    ComplianceRow,
    DayStats,
    PostmasterReport,
    Verdict,
    days_from_metrics,
)

PAGE_SIZE = 200
"""The API's maximum page size for domains.list and domainStats.query."""

BATCH_LIMIT = 100
"""domainStats.batchQuery takes at most this many requests."""

MAX_FEEDBACK_LOOPS = 20
"""Feedback-loop ids whose spam rate is asked for (the most frequent first)."""

MAX_PAGES = 1000
"""A server that keeps handing out page tokens is cut off here."""


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One metric asked for: our storage key, the API's StandardMetric and its filter."""

    key: str
    metric: str
    filter: str = ""

    def definition(self) -> dict[str, Any]:
        body: dict[str, Any] = {"name": self.key, "baseMetric": {"standardMetric": self.metric}}
        if self.filter:
            body["filter"] = self.filter
        return body


def _specs() -> tuple[MetricSpec, ...]:
    specs = [MetricSpec("spam_rate", "SPAM_RATE")]
    specs += [
        MetricSpec(f"auth.{a}", "AUTH_SUCCESS_RATE", f'auth_type = "{a}"') for a in AUTH_TYPES
    ]
    for direction in DIRECTIONS:
        f = f'traffic_direction = "{direction}"'
        specs.append(MetricSpec(f"tls_rate.{direction}", "TLS_ENCRYPTION_RATE", f))
        specs.append(MetricSpec(f"tls_count.{direction}", "TLS_ENCRYPTION_MESSAGE_COUNT", f))
    specs.append(MetricSpec("error_rate", "DELIVERY_ERROR_RATE"))
    specs.append(MetricSpec("error_count", "DELIVERY_ERROR_COUNT"))
    for kind in ERROR_TYPES:
        f = f'error_type = "{kind}"'
        specs.append(MetricSpec(f"error_rate.{kind}", "DELIVERY_ERROR_RATE", f))
        specs.append(MetricSpec(f"error_count.{kind}", "DELIVERY_ERROR_COUNT", f))
    specs.append(MetricSpec("fbl_ids", "FEEDBACK_LOOP_ID"))
    return tuple(specs)


METRICS: tuple[MetricSpec, ...] = _specs()
"""The daily metrics the view asks for in its first query."""

LIST_METRICS = frozenset({"fbl_ids"})
"""Metrics whose value is a string list, kept apart from the numeric days."""


def feedback_loop_spec(fbl_id: str) -> MetricSpec:
    """The spam rate of one feedback-loop id."""
    escaped = fbl_id.replace("\\", "\\\\").replace('"', '\\"')
    return MetricSpec(f"fbl.{fbl_id}", "FEEDBACK_LOOP_SPAM_RATE", f'feedback_loop_id = "{escaped}"')


def _date(day: dt.date) -> dict[str, int]:
    return {"year": day.year, "month": day.month, "day": day.day}


def query_body(
    domain: str,
    start: dt.date,
    end: dt.date,
    metrics: Sequence[MetricSpec] = METRICS,
    page_token: str | None = None,
    page_size: int = PAGE_SIZE,
) -> dict[str, Any]:
    """A QueryDomainStatsRequest for daily values of `metrics` from `start` to `end`."""
    body: dict[str, Any] = {
        "parent": f"domains/{domain}",
        "metricDefinitions": [spec.definition() for spec in metrics],
        "timeQuery": {"dateRanges": {"dateRanges": [{"start": _date(start), "end": _date(end)}]}},
        "aggregationGranularity": "DAILY",
        "pageSize": page_size,
    }
    if page_token:
        body["pageToken"] = page_token
    return body


@dataclass(slots=True)
class StatRows:
    """Parsed DomainStat entries: numeric (date, key, value) rows and string lists."""

    rows: list[tuple[dt.date, str, float]] = field(default_factory=list)
    lists: dict[str, dict[dt.date, list[str]]] = field(default_factory=dict)
    skipped: int = 0


def parse_stats(entries: Any, into: StatRows | None = None) -> StatRows:
    """Parse a page's `domainStats`; entries without a usable date or value are skipped.

    Raises:
        PostmasterError: `domainStats` is not a list at all (a malformed answer).
    """
    out = into if into is not None else StatRows()
    if entries is None:
        return out
    if not isinstance(entries, list):
        raise PostmasterError("malformed", "domainStats is not a list")
    for entry in entries:
        parsed = _parse_entry(entry)
        if parsed is None:
            out.skipped += 1
            continue
        day, key, value = parsed
        if isinstance(value, list):
            out.lists.setdefault(key, {})[day] = value
        else:
            out.rows.append((day, key, value))
    return out


def _parse_entry(entry: Any) -> tuple[dt.date, str, float | list[str]] | None:
    if not isinstance(entry, dict):
        return None
    key, date, value = entry.get("metric"), entry.get("date"), entry.get("value")
    if not isinstance(key, str) or not isinstance(date, dict) or not isinstance(value, dict):
        return None
    try:
        day = dt.date(int(date["year"]), int(date["month"]), int(date["day"]))
    except (KeyError, TypeError, ValueError):
        return None
    if "stringList" in value:
        values = (
            value["stringList"].get("values") if isinstance(value["stringList"], dict) else None
        )
        if not isinstance(values, list):
            return None
        return day, key, [str(v) for v in values]
    for name in ("doubleValue", "floatValue", "intValue"):
        if name in value:
            try:
                number = float(value[name])
            except (TypeError, ValueError):
                return None
            if number != number or number < 0:  # NaN or negative: not a rate or count
                return None
            return day, key, number
    return None


class PostmasterClient:
    """The v2 calls the view needs, over a built service (see client.build_service).

    Args:
        service: the googleapiclient resource.
        retries: extra attempts after a 429/5xx.
        backoff: first retry delay in seconds.
    """

    def __init__(
        self, service: Any, *, retries: int = 3, backoff: float = 1.0, page_size: int = PAGE_SIZE
    ) -> None:
        self.service = service
        self.page_size = page_size
        self.retries = retries
        self.backoff = backoff

    def _run(self, request: Any, what: str) -> dict[str, Any]:
        return execute(request, what=what, retries=self.retries, backoff=self.backoff)

    def list_domains(self) -> list[str]:
        """Every domain the account has in Postmaster Tools (all pages)."""
        names: list[str] = []
        token: str | None = None
        for _ in range(MAX_PAGES):
            kwargs: dict[str, Any] = {"pageSize": self.page_size}
            if token:
                kwargs["pageToken"] = token
            answer = self._run(self.service.domains().list(**kwargs), "listing domains")
            for item in answer.get("domains") or []:
                name = item.get("name") if isinstance(item, dict) else None
                if isinstance(name, str) and name.startswith("domains/"):
                    names.append(name.removeprefix("domains/"))
            token = answer.get("nextPageToken") or None
            if not token:
                break
        return names

    def query(
        self,
        domain: str,
        start: dt.date,
        end: dt.date,
        metrics: Sequence[MetricSpec] = METRICS,
        page_token: str | None = None,
        into: StatRows | None = None,
    ) -> StatRows:
        """Daily stats for one domain, following every page."""
        out = into if into is not None else StatRows()
        token = page_token
        for _ in range(MAX_PAGES):
            body = query_body(domain, start, end, metrics, token, self.page_size)
            request = (
                self.service.domains().domainStats().query(parent=f"domains/{domain}", body=body)
            )
            answer = self._run(request, f"stats for {domain}")
            parse_stats(answer.get("domainStats"), out)
            token = answer.get("nextPageToken") or None
            if not token:
                break
        return out

    def batch_query(
        self,
        domains: Sequence[str],
        start: dt.date,
        end: dt.date,
        metrics: Sequence[MetricSpec] = METRICS,
    ) -> dict[str, StatRows | PostmasterError]:
        """Daily stats for several domains with domainStats.batchQuery (≤100 per call).

        A domain whose own query failed maps to its PostmasterError; the others still
        arrive. Further pages of one domain are fetched with single queries.
        """
        results: dict[str, StatRows | PostmasterError] = {}
        for first in range(0, len(domains), BATCH_LIMIT):
            chunk = list(domains[first : first + BATCH_LIMIT])
            body = {
                "requests": [
                    query_body(d, start, end, metrics, page_size=self.page_size) for d in chunk
                ]
            }
            answer = self._run(
                self.service.domainStats().batchQuery(body=body), f"stats for {len(chunk)} domains"
            )
            items = answer.get("results")
            if not isinstance(items, list) or len(items) != len(chunk):
                raise PostmasterError(
                    "malformed",
                    f"batchQuery returned {len(items) if isinstance(items, list) else 'no'} "
                    f"results for {len(chunk)} requests",
                )
            for domain, item in zip(chunk, items, strict=True):
                results[domain] = self._batch_item(domain, item, start, end, metrics)
        return results

    def _batch_item(
        self, domain: str, item: Any, start: dt.date, end: dt.date, metrics: Sequence[MetricSpec]
    ) -> StatRows | PostmasterError:
        if not isinstance(item, dict):
            return PostmasterError("malformed", f"stats for {domain}: malformed batch result")
        if isinstance(item.get("error"), dict):
            error = item["error"]
            code = error.get("code")
            message = str(error.get("message") or "no message")[:200]
            kind = "permission" if code == 7 else "server"
            return PostmasterError(kind, f"stats for {domain}: {message}")
        response = item.get("response") or {}
        try:
            rows = parse_stats(response.get("domainStats"))
            token = response.get("nextPageToken")
            if token:
                self.query(domain, start, end, metrics, page_token=token, into=rows)
        except PostmasterError as exc:
            return exc
        return rows

    def compliance(self, domain: str) -> tuple[list[ComplianceRow], list[Verdict]]:
        """The compliance table and the unsubscribe and deliverability verdicts."""
        request = self.service.domains().getComplianceStatus(
            name=f"domains/{domain}/complianceStatus"
        )
        answer = self._run(request, f"compliance of {domain}")
        rows: list[ComplianceRow] = []
        verdicts: list[Verdict] = []
        for scope, key in (("domain", "complianceData"), ("subdomains", "subdomainComplianceData")):
            data = answer.get(key)
            if not isinstance(data, dict):
                continue
            for row in data.get("rowData") or []:
                if not isinstance(row, dict) or not isinstance(row.get("requirement"), str):
                    continue
                rows.append(ComplianceRow(row["requirement"], _state(row.get("status")), scope))
            for name, field_name, state_key in (
                ("one_click_unsubscribe", "oneClickUnsubscribeVerdict", "status"),
                ("honor_unsubscribe", "honorUnsubscribeVerdict", "status"),
                ("deliverability", "deliverabilityStatusVerdict", "state"),
            ):
                verdict = data.get(field_name)
                if isinstance(verdict, dict):
                    reason = verdict.get("reason")
                    verdicts.append(
                        Verdict(
                            name,
                            _state(verdict.get(state_key)),
                            reason if isinstance(reason, str) else None,
                            scope,
                        )
                    )
        return rows, verdicts


def _state(value: Any) -> str:
    """A ComplianceStatus object ({"status": ...}) or a bare string, as a string."""
    if isinstance(value, dict):
        value = value.get("status")
    return value if isinstance(value, str) else "STATE_UNSPECIFIED"


def with_feedback_loops(
    client: PostmasterClient, domain: str, start: dt.date, end: dt.date, rows: StatRows
) -> StatRows:
    """Ask for the spam rate of the feedback-loop ids seen in `rows` (most frequent first)."""
    seen: dict[str, int] = {}
    for values in rows.lists.get("fbl_ids", {}).values():
        for fbl in values:
            seen[fbl] = seen.get(fbl, 0) + 1
    ids = sorted(seen, key=lambda k: (-seen[k], k))[:MAX_FEEDBACK_LOOPS]
    if ids:
        client.query(domain, start, end, [feedback_loop_spec(i) for i in ids], into=rows)
    return rows


def date_window(days: int, today: dt.date) -> tuple[dt.date, dt.date]:
    """The inclusive range of the last `days` days up to `today`."""
    return today - dt.timedelta(days=max(days, 1) - 1), today


@dataclass(slots=True)
class FetchOutcome:
    """What one domain's fetch produced before it is merged with history."""

    domain: str
    rows: StatRows | None = None
    compliance: list[ComplianceRow] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    error: PostmasterError | None = None


def fetch_domains(
    client: PostmasterClient,
    domains: Sequence[str],
    days: int,
    today: dt.date,
    *,
    compliance: bool = True,
    progress: Callable[[str], None] | None = None,
) -> list[FetchOutcome]:
    """Blocking: stats (batched when several domains), feedback loops and compliance.

    Never raises for one domain's failure: it lands in that outcome's `error`. A
    failure of the whole batch call is given to each domain.
    """
    start, end = date_window(days, today)
    outcomes = {d: FetchOutcome(d) for d in domains}
    if len(domains) == 1:
        try:
            outcomes[domains[0]].rows = client.query(domains[0], start, end)
        except PostmasterError as exc:
            outcomes[domains[0]].error = exc
    elif domains:
        try:
            batch = client.batch_query(domains, start, end)
        except PostmasterError as exc:
            batch = {d: exc for d in domains}
        for domain, result in batch.items():
            if isinstance(result, PostmasterError):
                outcomes[domain].error = result
            else:
                outcomes[domain].rows = result
    for domain in domains:
        outcome = outcomes[domain]
        if progress:
            progress(domain)
        if outcome.error is not None:
            continue
        try:
            if outcome.rows is not None:
                with_feedback_loops(client, domain, start, end, outcome.rows)
            if compliance:
                outcome.compliance, outcome.verdicts = client.compliance(domain)
        except PostmasterError as exc:
            outcome.error = exc
    return [outcomes[d] for d in domains]


def build_report(
    domain: str,
    stored: Iterable[DayStats],
    outcome: FetchOutcome | None,
    fetched_at: dt.datetime | None,
) -> PostmasterReport:
    """The report from stored days (already merged with the fetch) and the fetch's extras."""
    days = [day for day in stored if day.has_data]
    report = PostmasterReport(domain=domain, fetched_at=fetched_at, days=days)
    if outcome is not None:
        report.compliance = outcome.compliance
        report.verdicts = outcome.verdicts
        if outcome.error is not None:
            report.error = outcome.error.msg
            report.notes.append("The fetch failed; the days shown come from local history.")
        if outcome.rows is not None and outcome.rows.skipped:
            report.notes.append(
                f"{outcome.rows.skipped} malformed entries in Google's answer were ignored."
            )
        if outcome.error is None and outcome.rows is not None and not outcome.rows.rows:
            report.notes.append(
                "Google returned no data for this period: the domain may send too little "
                "mail to Gmail users for Postmaster Tools to report on it."
            )
    if not days:
        report.notes.append("No days with data, fetched or stored.")
    return report


async def fetch_reports(
    client: PostmasterClient,
    domains: Sequence[str],
    days: int,
    *,
    history: Any | None = None,
    today: dt.date | None = None,
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> list[PostmasterReport]:
    """Fetch in a thread, store every day that arrived, and report from the merged history.

    Args:
        client: a PostmasterClient.
        domains: the domains to fetch.
        days: how many days back from `today`.
        history: a PostmasterHistory; None keeps nothing and reports only what arrived.
        today: the last day asked for (UTC today by default).
        now: the clock for `fetched_at`.

    Returns:
        One report per domain, in order; a failed domain still reports its stored days.
    """
    moment = now()
    last = today or moment.date()
    outcomes = await asyncio.to_thread(fetch_domains, client, domains, days, last)
    start, _ = date_window(days, last)
    reports = []
    for outcome in outcomes:
        fetched = days_from_metrics(outcome.rows.rows) if outcome.rows else []
        if history is not None:
            if outcome.rows is not None:
                # Days that arrived are kept even when a later call (compliance) failed.
                await asyncio.to_thread(history.store, outcome.domain, fetched, moment)
            stored = await asyncio.to_thread(history.days, outcome.domain, start, last)
            fetched_at = await asyncio.to_thread(history.last_fetch, outcome.domain)
        else:
            stored, fetched_at = fetched, (moment if outcome.error is None else None)
        reports.append(build_report(outcome.domain, stored, outcome, fetched_at))
    return reports
