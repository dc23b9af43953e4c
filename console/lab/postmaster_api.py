"""The lab's Gmail Postmaster Tools v2 emulator, its OAuth token endpoint, and SNDS.

Spoken to by the real google-api-python-client (pointed here with the endpoint
override), so request and response shapes follow the bundled v2 discovery document:
`domains.list`, `domains.get`, `domains.getComplianceStatus`,
`domains.domainStats.query` and `domainStats.batchQuery`, with Google's JSON error
bodies. `/token` performs real OAuth exchanges: a service account's signed JWT
(RS256, verified against the registered public key) and refresh tokens.

History is generated, deterministic per (domain, date), 180 days ending two days
before the emulator's "today" (Postmaster's delay):

- good.test: clean, spam well below 0.1%.
- spike.test: crosses 0.3% for six days (20 to 25 days ago), then recovers.
- gaps.test: days without any data and days too small to have a spam rate.
- noncompliant.test: spam near the line and failing compliance rows.

Fault domains (reachable by name, not listed): pm-forbidden.test (403),
pm-error.test (500), pm-flaky.test (every other request 503), pm-ratelimited.test
(429), pm-garbage.test (not JSON), pm-slow.test (answers after `slow_seconds`),
pm-empty.test (valid, no data), pm-malformed.test (valid JSON, broken entries).
Bulk domains for benchmarks (`pm-bulk-001.test` ..., see `bulk_domains`): clean like
good.test, served by name, listed only when put in `listed_domains`.

One deliberately small HTTP/1.1 responder (one request per connection): plain HTTP on
127.0.0.1 for the API, and the same handler over TLS (lab CA) for the SNDS host.

The same listener serves the Gmail API emulator (`console.lab.gmail_api`, attached with
`attach_gmail`) under /gmail/v1/ and /upload/gmail/v1/. Tokens remember what they were
issued for (`TokenGrant`: scopes, and the user a service account acts as) so the Gmail
emulator can answer 403 for a missing scope; the Postmaster routes ignore scopes.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import hashlib
import json
import random
import re
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from console.lab.ca import LabCA

if TYPE_CHECKING:
    from console.lab.gmail_api import GmailEmulator
    from console.lab.microsoft_identity import MicrosoftIdentityEmulator

LAB_TOKEN = "lab-access-token"
"""Bearer token always accepted (what `--lab` uses)."""

LAB_USER_ADDRESS = "seed@good.test"
"""Whose mailbox a token speaks for when nothing names a user (the Gmail API emulator's
seed account): the lab token, refresh tokens and authorization codes."""

GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
SNDS_HOST = "snds.pm-lab.test"
SNDS_KEY = "lab-snds-key"

HISTORY_DAYS = 180
DELAY_DAYS = 2
READ_TIMEOUT = 10.0
MAX_BODY = 4 * 1024 * 1024

LAB_DOMAINS: tuple[str, ...] = ("good.test", "spike.test", "gaps.test", "noncompliant.test")
FAULT_DOMAINS: tuple[str, ...] = (
    "pm-forbidden.test",
    "pm-error.test",
    "pm-flaky.test",
    "pm-ratelimited.test",
    "pm-garbage.test",
    "pm-slow.test",
    "pm-empty.test",
    "pm-malformed.test",
)

BULK_DOMAIN = re.compile(r"pm-bulk-\d{1,4}\.test")
"""Extra clean domains (`pm-bulk-007.test`) for benchmarks: served by name, like good.test;
listed by domains.list only when put in `PostmasterEmulator.listed_domains`."""


def bulk_domains(count: int) -> tuple[str, ...]:
    """`count` bulk domain names the emulator serves (pm-bulk-001.test ...)."""
    return tuple(f"pm-bulk-{index:03d}.test" for index in range(1, count + 1))


def _served(domain: str) -> bool:
    return domain in LAB_DOMAINS or BULK_DOMAIN.fullmatch(domain) is not None


_METRICS = {
    "FEEDBACK_LOOP_ID": {"aggregation_key_type"},
    "FEEDBACK_LOOP_SPAM_RATE": {"feedback_loop_id", "aggregation_key_type"},
    "SPAM_RATE": set(),
    "AUTH_SUCCESS_RATE": {"auth_type"},
    "TLS_ENCRYPTION_MESSAGE_COUNT": {"traffic_direction"},
    "TLS_ENCRYPTION_RATE": {"traffic_direction"},
    "DELIVERY_ERROR_COUNT": {"error_type", "error_reason"},
    "DELIVERY_ERROR_RATE": {"error_type", "error_reason"},
}
_REQUIRED_FILTER = {
    "AUTH_SUCCESS_RATE": "auth_type",
    "TLS_ENCRYPTION_RATE": "traffic_direction",
    "TLS_ENCRYPTION_MESSAGE_COUNT": "traffic_direction",
    "FEEDBACK_LOOP_SPAM_RATE": "feedback_loop_id",
}
_REASONS = {
    "reject": (
        "bad_attachment",
        "bad_or_missing_ptr_record",
        "ip_in_rbls",
        "low_domain_reputation",
        "low_ip_reputation",
        "spammy_content",
        "stamp_policy_error",
        "other",
    ),
    "temp_fail": ("anomalous_traffic_pattern", "other"),
}
_REQUIREMENTS = (
    "SPF",
    "DKIM",
    "SPF_AND_DKIM",
    "DMARC_POLICY",
    "DMARC_ALIGNMENT",
    "MESSAGE_FORMATTING",
    "DNS_RECORDS",
    "ENCRYPTION",
    "USER_REPORTED_SPAM_RATE",
    "ONE_CLICK_UNSUBSCRIBE",
    "HONOR_UNSUBSCRIBE",
)
_FILTER_TERM = re.compile(r'^\s*([a-z_]+)\s*=\s*"((?:[^"\\]|\\.)*)"\s*$')


class ApiError(Exception):
    """A Google-style error answer."""

    def __init__(self, code: int, status: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class TokenGrant:
    """What an access token was issued for (the Gmail API emulator checks both).

    Attributes:
        scopes: the OAuth scopes granted; None grants every scope (the lab token, and
            refresh exchanges that asked for none).
        user: the mailbox the token speaks for: a service account's `sub` (domain-wide
            delegation), else the lab's seed account; None for a service account acting
            as itself, which has no Gmail mailbox.
    """

    scopes: frozenset[str] | None = None
    user: str | None = LAB_USER_ADDRESS

    def allows(self, *accepted: str) -> bool:
        """Does the token carry any one of `accepted` (Google lists alternatives)?"""
        return self.scopes is None or any(scope in self.scopes for scope in accepted)


# -- generated history ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Day:
    """One generated day: volume, rates, errors and feedback loops."""

    volume: int
    spam_rate: float | None
    auth: dict[str, float]
    tls: dict[str, float]
    errors: dict[str, dict[str, float]]
    fbl: dict[str, float] = field(default_factory=dict)


def generate_day(domain: str, date: dt.date, today: dt.date) -> Day | None:
    """The day's data for a lab domain, or None when Google would have none."""
    days_ago = (today - date).days
    if not _served(domain) or days_ago < DELAY_DAYS or days_ago >= DELAY_DAYS + HISTORY_DAYS:
        return None
    seed = int.from_bytes(hashlib.sha256(f"{domain}|{date.isoformat()}".encode()).digest()[:8])
    rng = random.Random(seed)
    volume = rng.randint(8000, 60000)
    spam: float | None = round(rng.uniform(0.0001, 0.0007), 5)
    auth = {"spf": round(rng.uniform(0.985, 1.0), 4), "dkim": round(rng.uniform(0.99, 1.0), 4)}
    auth["dmarc"] = round(min(auth["spf"], auth["dkim"]) - rng.uniform(0, 0.004), 4)
    tls = {"inbound": 1.0, "outbound": round(rng.uniform(0.97, 1.0), 4)}
    reject = {
        "low_ip_reputation": round(rng.uniform(0, 0.001), 5),
        "other": round(rng.uniform(0, 0.0005), 5),
    }
    temp = {"anomalous_traffic_pattern": round(rng.uniform(0, 0.001), 5)}
    fbl = {
        "campaign-spring": round(rng.uniform(0.0001, 0.0009), 5),
        "newsletter": round(rng.uniform(0.0001, 0.0005), 5),
    }
    if domain == "spike.test" and 20 <= days_ago <= 25:
        spam = round(rng.uniform(0.0035, 0.0075), 5)
        fbl["promo-blast"] = round(rng.uniform(0.006, 0.012), 5)
        reject["spammy_content"] = round(rng.uniform(0.002, 0.01), 5)
    elif domain == "gaps.test":
        roll = rng.random()
        if 60 <= days_ago <= 75 or roll < 0.25:
            return None
        volume = rng.randint(50, 900)
        if roll < 0.45:
            spam = None  # too little volume for Google to report a spam rate
            fbl = {}
    elif domain == "noncompliant.test":
        spam = round(rng.uniform(0.0012, 0.0029), 5)
        auth["dmarc"] = round(rng.uniform(0.6, 0.8), 4)
        tls["inbound"] = round(rng.uniform(0.7, 0.9), 4)
        reject["bad_or_missing_ptr_record"] = round(rng.uniform(0.01, 0.04), 5)
    return Day(volume, spam, auth, tls, {"reject": reject, "temp_fail": temp}, fbl)


def compliance_status(domain: str) -> dict[str, Any]:
    """A DomainComplianceStatus for a lab domain."""
    failing: set[str] = set()
    one_click: dict[str, Any] = {"status": {"status": "COMPLIANT"}}
    honor: dict[str, Any] = {"status": {"status": "COMPLIANT"}}
    deliverability: dict[str, Any] = {"state": {"status": "COMPLIANT"}}
    if domain == "noncompliant.test":
        failing = {
            "DMARC_POLICY",
            "DMARC_ALIGNMENT",
            "DNS_RECORDS",
            "ENCRYPTION",
            "ONE_CLICK_UNSUBSCRIBE",
            "HONOR_UNSUBSCRIBE",
        }
        one_click = {"status": {"status": "NEEDS_WORK"}, "reason": "NO_UNSUB_PROMO_SPAM_REPORTS"}
        honor = {"status": {"status": "NEEDS_WORK"}, "reason": "NOT_HONORING"}
        deliverability = {"state": {"status": "NEEDS_WORK"}, "reason": "SENDER_NOT_COMPLIANT"}
    elif domain == "spike.test":
        failing = {"USER_REPORTED_SPAM_RATE"}
        deliverability = {"state": {"status": "NEEDS_WORK"}, "reason": "SPAM_RATE_HIGH"}
    rows = [
        {"requirement": r, "status": {"status": "NEEDS_WORK" if r in failing else "COMPLIANT"}}
        for r in _REQUIREMENTS
    ]
    data = {
        "domainId": domain,
        "rowData": rows,
        "oneClickUnsubscribeVerdict": one_click,
        "honorUnsubscribeVerdict": honor,
        "deliverabilityStatusVerdict": deliverability,
    }
    sub = {
        "domainId": domain,
        "rowData": [
            {"requirement": r, "status": {"status": "COMPLIANT"}}
            for r in ("SPF", "DKIM", "DMARC_POLICY")
        ],
    }
    return {
        "name": f"domains/{domain}/complianceStatus",
        "complianceData": data,
        "subdomainComplianceData": sub,
    }


def snds_csv(today: dt.date, days: int = 14) -> str:
    """An SNDS automated-access data file (no header) for two lab IPs."""
    lines = []
    for offset in range(days, 0, -1):
        day = today - dt.timedelta(days=offset)
        stamp = f"{day.month}/{day.day}/{day.year}"
        for ip, colour, complaint, traps in (
            ("192.0.2.10", "GREEN", "< 0.1%", 0),
            ("192.0.2.11", "YELLOW" if offset % 3 else "RED", "0.4%", offset % 4),
        ):
            rng = random.Random(f"{ip}{day}")
            rcpt = rng.randint(1000, 9000)
            lines.append(
                f"{ip},{stamp} 12:00 AM,{stamp} 11:59 PM,{rcpt},{rcpt - 20},{rcpt - 5},{colour},"
                f"{complaint},{stamp} 12:00 AM,{stamp} 11:59 PM,{traps},mail.good.test,"
                "bounce@good.test,"
            )
    return "\r\n".join(lines) + "\r\n"


# -- request handling --------------------------------------------------------------------


def _parse_filter(metric: str, text: str) -> dict[str, str]:
    terms: dict[str, str] = {}
    if text.strip():
        for part in re.split(r"\s+AND\s+", text.strip()):
            match = _FILTER_TERM.match(part)
            if not match or match[1] not in _METRICS[metric]:
                raise ApiError(400, "INVALID_ARGUMENT", f"invalid filter for {metric}: {text}")
            terms[match[1]] = match[2].replace('\\"', '"').replace("\\\\", "\\")
    needed = _REQUIRED_FILTER.get(metric)
    if needed and needed not in terms:
        raise ApiError(400, "INVALID_ARGUMENT", f"{metric} requires a {needed} filter")
    if metric == "AUTH_SUCCESS_RATE" and terms["auth_type"] not in ("spf", "dkim", "dmarc"):
        raise ApiError(400, "INVALID_ARGUMENT", f"unknown auth_type {terms['auth_type']}")
    if "traffic_direction" in terms and terms["traffic_direction"] not in ("inbound", "outbound"):
        raise ApiError(400, "INVALID_ARGUMENT", "traffic_direction must be inbound or outbound")
    kind = terms.get("error_type")
    if kind is not None and kind not in _REASONS:
        raise ApiError(400, "INVALID_ARGUMENT", f"unknown error_type {kind}")
    if "error_reason" in terms and (kind is None or terms["error_reason"] not in _REASONS[kind]):
        raise ApiError(400, "INVALID_ARGUMENT", "error_reason needs a matching error_type")
    return terms


def _value(day: Day, metric: str, terms: dict[str, str]) -> dict[str, Any] | None:
    """The StatisticValue of `metric` on `day`, or None when Google would report nothing."""
    if metric == "SPAM_RATE":
        return None if day.spam_rate is None else {"doubleValue": day.spam_rate}
    if metric == "AUTH_SUCCESS_RATE":
        return {"doubleValue": day.auth[terms["auth_type"]]}
    if metric == "TLS_ENCRYPTION_RATE":
        return {"doubleValue": day.tls[terms["traffic_direction"]]}
    if metric == "TLS_ENCRYPTION_MESSAGE_COUNT":
        return {"intValue": str(round(day.volume * day.tls[terms["traffic_direction"]]))}
    if metric in ("DELIVERY_ERROR_RATE", "DELIVERY_ERROR_COUNT"):
        kinds = [terms["error_type"]] if "error_type" in terms else list(day.errors)
        rate = 0.0
        for kind in kinds:
            reasons = day.errors[kind]
            if "error_reason" in terms:
                rate += reasons.get(terms["error_reason"], 0.0)
            else:
                rate += sum(reasons.values())
        if metric == "DELIVERY_ERROR_COUNT":
            return {"intValue": str(round(rate * day.volume))}
        return {"doubleValue": round(rate, 6)}
    if metric == "FEEDBACK_LOOP_ID":
        return {"stringList": {"values": sorted(day.fbl)}} if day.fbl else None
    if metric == "FEEDBACK_LOOP_SPAM_RATE":
        rate = day.fbl.get(terms["feedback_loop_id"])
        return None if rate is None else {"doubleValue": rate}
    return None


def _date(value: Any, what: str) -> dt.date:
    try:
        return dt.date(int(value["year"]), int(value["month"]), int(value["day"]))
    except (KeyError, TypeError, ValueError):
        raise ApiError(400, "INVALID_ARGUMENT", f"invalid {what}") from None


def _dates(time_query: Any) -> list[dt.date]:
    if not isinstance(time_query, dict):
        raise ApiError(400, "INVALID_ARGUMENT", "timeQuery is required")
    dates: set[dt.date] = set()
    ranges = (time_query.get("dateRanges") or {}).get("dateRanges")
    listed = (time_query.get("dateList") or {}).get("dates")
    if not ranges and not listed:
        raise ApiError(400, "INVALID_ARGUMENT", "timeQuery needs dateRanges or dateList")
    for item in ranges or []:
        start, end = _date(item.get("start"), "start date"), _date(item.get("end"), "end date")
        if end < start or (end - start).days > 3660:
            raise ApiError(400, "INVALID_ARGUMENT", "invalid date range")
        dates.update(start + dt.timedelta(days=i) for i in range((end - start).days + 1))
    for item in listed or []:
        dates.add(_date(item, "date"))
    return sorted(dates)


def _page(
    items: list[Any], token: str | None, size: Any, default: int = 10
) -> tuple[list[Any], str | None]:
    try:
        limit = int(size) if size not in (None, "") else default
    except (TypeError, ValueError):
        raise ApiError(400, "INVALID_ARGUMENT", "invalid pageSize") from None
    limit = default if limit <= 0 else min(limit, 200)
    offset = 0
    if token:
        try:
            offset = int(base64.urlsafe_b64decode(token.encode()).decode().removeprefix("o:"))
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "INVALID_ARGUMENT", "invalid pageToken") from None
    chunk = items[offset : offset + limit]
    following = offset + limit
    next_token = (
        base64.urlsafe_b64encode(f"o:{following}".encode()).decode()
        if following < len(items)
        else None
    )
    return chunk, next_token


class PostmasterEmulator:
    """The emulator's HTTP (and TLS, for SNDS) listeners on loopback.

    Args:
        ca: the lab CA; when given, a TLS listener serves the SNDS host too.
        today: the emulator's clock (UTC today by default).
        slow_seconds: how long pm-slow.test takes to answer.
        host: address to listen on (loopback).
    """

    def __init__(
        self,
        ca: LabCA | None = None,
        *,
        today: Callable[[], dt.date] | None = None,
        slow_seconds: float = 5.0,
        host: str = "127.0.0.1",
    ) -> None:
        self.ca = ca
        self.today = today or (lambda: dt.datetime.now(dt.UTC).date())
        self.slow_seconds = slow_seconds
        self.host = host
        self.port = 0
        self.tls_port = 0
        self.token_lifetime = 3600
        self.service_accounts: dict[str, Any] = {}
        self.refresh_tokens: dict[str, str] = {}
        self.revoked: set[str] = set()
        self.auth_codes: dict[str, str] = {}
        self.listed_domains: tuple[str, ...] = LAB_DOMAINS
        """What domains.list answers (benchmarks add bulk_domains())."""
        self.tokens: dict[str, float] = {}
        self.grants: dict[str, TokenGrant] = {}
        """Scopes and user of each issued token (tokens without an entry: every scope)."""
        self.gmail: GmailEmulator | None = None
        """The Gmail API emulator served under /gmail/v1/ and /upload/gmail/v1/, if any."""
        self.microsoft: MicrosoftIdentityEmulator | None = None
        """The Microsoft token endpoint, served over TLS as its own host, if any."""
        self.requests: list[tuple[str, str]] = []
        self.last_claims: dict[str, Any] = {}
        self._flaky = 0
        self._servers: list[asyncio.Server] = []
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def endpoint(self) -> str:
        """The root URL for the Google client's endpoint override."""
        return f"http://{self.host}:{self.port}/"

    @property
    def token_uri(self) -> str:
        return f"http://{self.host}:{self.port}/token"

    @property
    def snds_url(self) -> str:
        """The SNDS data URL, without the key (the lab DNS resolves the host)."""
        return f"https://{SNDS_HOST}/snds/data.aspx"

    # -- registration for tests and the lab ---------------------------------------------

    def register_service_account(self, email: str, public_key: Any) -> None:
        """Accept JWTs from `email` signed by the private half of `public_key` (RSA)."""
        self.service_accounts[email] = public_key

    def register_refresh_token(self, token: str, client_id: str = "lab-client") -> None:
        self.refresh_tokens[token] = client_id

    def register_auth_code(self, code: str, refresh_token: str) -> None:
        """Accept `code` once in an authorization_code grant, handing out `refresh_token`."""
        self.auth_codes[code] = refresh_token

    def issue_token(
        self,
        lifetime: float | None = None,
        *,
        scopes: Iterable[str] | None = None,
        user: str | None = LAB_USER_ADDRESS,
    ) -> str:
        """A new access token; `scopes` None grants every scope, `user` is its mailbox."""
        token = "lab-at-" + secrets.token_urlsafe(16)
        self.tokens[token] = time.time() + (self.token_lifetime if lifetime is None else lifetime)
        self.grants[token] = TokenGrant(
            frozenset(scopes) if scopes is not None else None, user.lower() if user else None
        )
        return token

    def attach_gmail(self, gmail: GmailEmulator) -> None:
        """Serve the Gmail API emulator on this listener (same root URL, same tokens)."""
        self.gmail = gmail

    def attach_microsoft(self, microsoft: MicrosoftIdentityEmulator) -> None:
        """Serve the Microsoft token endpoint on the TLS listener, under its own host name
        (attach before `start`: the certificate names it)."""
        self.microsoft = microsoft

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        plain = await asyncio.start_server(self._accept, self.host, 0)
        self._servers.append(plain)
        self.port = plain.sockets[0].getsockname()[1]
        if self.ca is not None:
            from console.lab.microsoft_identity import MS_LAB_HOST

            names = [SNDS_HOST, MS_LAB_HOST] if self.microsoft is not None else [SNDS_HOST]
            context = self.ca.issue(names).server_context()
            secure = await asyncio.start_server(
                self._accept, self.host, 0, ssl=context, ssl_handshake_timeout=READ_TIMEOUT
            )
            self._servers.append(secure)
            self.tls_port = secure.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        for server in self._servers:
            server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for server in self._servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 2)
        self._servers.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._serve(reader, writer)
        except (
            ConnectionError,
            asyncio.IncompleteReadError,
            TimeoutError,
            asyncio.LimitOverrunError,
        ):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT)
        lines = head.decode("latin-1").split("\r\n")
        method, target, _version = [*lines[0].split(" ", 2), "", ""][:3]
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length") or 0)
        limit = MAX_BODY
        if self.gmail is not None and _is_gmail(target):
            limit = self.gmail.max_body  # a 35 MB message, base64url in JSON
        if length > limit:
            raise ConnectionError("body too large")
        body = await asyncio.wait_for(reader.readexactly(length), READ_TIMEOUT) if length else b""
        status, content_type, payload = await self._route(method, target, headers, body)
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = "Status"
        writer.write(
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode()
            + payload
        )
        await writer.drain()

    async def _route(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, str, bytes]:
        parts = urlsplit(target)
        path = unquote(parts.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        self.requests.append((method, path))
        host = headers.get("host", "").partition(":")[0].lower()
        if self.microsoft is not None and self.microsoft.handles(host, path):
            if method != "POST":
                return 405, "text/plain", b"POST only\n"
            return self.microsoft.token(path, body)
        if path.startswith("/snds/"):
            return self._snds(query)
        if path == "/token" and method == "POST":
            return self._token(body)
        if self.gmail is not None and _is_gmail(path):
            return await self.gmail.handle(method, path, parts.query, headers, body, self.grant)
        try:
            self._authorize(headers)
            answer = await self._api(method, path, query, body)
        except ApiError as exc:
            error = {"error": {"code": exc.code, "message": exc.message, "status": exc.status}}
            return exc.code, "application/json; charset=UTF-8", json.dumps(error).encode()
        if isinstance(answer, bytes):
            return 200, "application/json; charset=UTF-8", answer
        return 200, "application/json; charset=UTF-8", json.dumps(answer).encode()

    def _authorize(self, headers: dict[str, str]) -> None:
        self.grant(headers)

    def grant(self, headers: dict[str, str]) -> TokenGrant:
        """What the request's bearer token grants; ApiError 401 for none or a dead one."""
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise ApiError(
                401, "UNAUTHENTICATED", "Request is missing required authentication credential."
            )
        if token == LAB_TOKEN:
            return TokenGrant()
        expiry = self.tokens.get(token)
        if expiry is None or expiry < time.time():
            raise ApiError(
                401, "UNAUTHENTICATED", "Request had invalid authentication credentials."
            )
        return self.grants.get(token, TokenGrant())

    async def _api(self, method: str, path: str, query: dict[str, str], body: bytes) -> Any:
        if method == "GET" and path == "/v2/domains":
            names = [
                {"name": f"domains/{d}", "permission": "OWNER", "verificationState": "VERIFIED"}
                for d in self.listed_domains
            ]
            items, token = _page(names, query.get("pageToken"), query.get("pageSize"))
            return {"domains": items, **({"nextPageToken": token} if token else {})}
        if method == "POST" and path == "/v2/domainStats:batchQuery":
            request = self._json(body)
            requests = request.get("requests")
            if not isinstance(requests, list) or not requests:
                raise ApiError(400, "INVALID_ARGUMENT", "requests is required")
            if len(requests) > 100:
                raise ApiError(400, "INVALID_ARGUMENT", "at most 100 requests per batch")
            results = []
            for item in requests:
                try:
                    parent = item.get("parent", "") if isinstance(item, dict) else ""
                    domain = await self._domain(parent.removeprefix("domains/"))
                    results.append({"response": self._query(domain, item)})
                except ApiError as exc:
                    code = {403: 7, 404: 5, 400: 3, 429: 8}.get(exc.code, 13)
                    results.append({"error": {"code": code, "message": exc.message}})
            return {"results": results}
        match = re.fullmatch(r"/v2/domains/([^/:]+)(/complianceStatus|/domainStats:query)?", path)
        if not match:
            raise ApiError(404, "NOT_FOUND", f"no such method: {method} {path}")
        domain = await self._domain(match[1])
        if isinstance(domain, bytes):
            return domain
        if match[2] is None and method == "GET":
            return {
                "name": f"domains/{domain}",
                "permission": "OWNER",
                "verificationState": "VERIFIED",
            }
        if match[2] == "/complianceStatus" and method == "GET":
            return compliance_status(domain)
        if match[2] == "/domainStats:query" and method == "POST":
            return self._query(domain, self._json(body))
        raise ApiError(405, "INVALID_ARGUMENT", f"{method} not allowed on {path}")

    async def _domain(self, domain: str) -> Any:
        """Apply the fault domains' behaviour; return the domain (or raw bytes to send)."""
        domain = domain.lower()
        if domain == "pm-forbidden.test":
            raise ApiError(403, "PERMISSION_DENIED", "The caller does not have permission")
        if domain == "pm-error.test":
            raise ApiError(500, "INTERNAL", "Internal error encountered.")
        if domain == "pm-ratelimited.test":
            raise ApiError(429, "RESOURCE_EXHAUSTED", "Quota exceeded.")
        if domain == "pm-flaky.test":
            self._flaky += 1
            if self._flaky % 2:
                raise ApiError(503, "UNAVAILABLE", "The service is currently unavailable.")
            return "good.test"
        if domain == "pm-garbage.test":
            return b"<html>this is not json"
        if domain == "pm-malformed.test":
            # Valid JSON, wrong shapes: one good entry among broken ones.
            good = {
                "metric": "spam_rate",
                "date": {"year": 2026, "month": 11, "day": 1},
                "value": {"doubleValue": 0.001},
            }
            broken = [
                {"metric": "spam_rate", "date": {"year": "x"}, "value": {}},
                "junk",
                {"metric": "auth.spf", "date": good["date"], "value": {"doubleValue": "NaN"}},
            ]
            return json.dumps({"domainStats": [good, *broken]}).encode()
        if domain == "pm-slow.test":
            await asyncio.sleep(self.slow_seconds)
            return "good.test"
        if _served(domain) or domain == "pm-empty.test":
            return domain
        raise ApiError(
            403, "PERMISSION_DENIED", f"Domain {domain} is not registered for this user."
        )

    @staticmethod
    def _json(body: bytes) -> dict[str, Any]:
        try:
            value = json.loads(body or b"{}")
        except ValueError:
            raise ApiError(400, "INVALID_ARGUMENT", "Invalid JSON payload received.") from None
        if not isinstance(value, dict):
            raise ApiError(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        return value

    def _query(self, domain: Any, request: dict[str, Any]) -> Any:
        if isinstance(domain, bytes):
            raise ApiError(500, "INTERNAL", "garbage")
        definitions = request.get("metricDefinitions")
        if not isinstance(definitions, list) or not definitions:
            raise ApiError(400, "INVALID_ARGUMENT", "metricDefinitions is required")
        specs = []
        for item in definitions:
            if not isinstance(item, dict):
                raise ApiError(400, "INVALID_ARGUMENT", "invalid metric definition")
            name = item.get("name")
            metric = (item.get("baseMetric") or {}).get("standardMetric")
            if not isinstance(name, str) or not name or metric not in _METRICS:
                raise ApiError(400, "INVALID_ARGUMENT", f"invalid metric definition {name!r}")
            specs.append((name, metric, _parse_filter(metric, item.get("filter") or "")))
        dates = _dates(request.get("timeQuery"))
        granularity = request.get("aggregationGranularity") or "DAILY"
        today = self.today()
        stats: list[dict[str, Any]] = []
        if granularity == "OVERALL":
            days = [d for d in (generate_day(domain, date, today) for date in dates) if d]
            for name, metric, terms in specs:
                values = [
                    v for v in (_value(d, metric, terms) for d in days) if v and "doubleValue" in v
                ]
                if values:
                    mean = sum(v["doubleValue"] for v in values) / len(values)
                    stats.append(
                        {
                            "name": f"domains/{domain}/domainStats/{name}",
                            "metric": name,
                            "value": {"doubleValue": round(mean, 6)},
                        }
                    )
        else:
            for date in dates:
                day = generate_day(domain, date, today)
                if day is None:
                    continue
                for name, metric, terms in specs:
                    value = _value(day, metric, terms)
                    if value is None:
                        continue
                    stats.append(
                        {
                            "name": f"domains/{domain}/domainStats/{date:%Y%m%d}-{len(stats)}",
                            "metric": name,
                            "date": {"year": date.year, "month": date.month, "day": date.day},
                            "value": value,
                        }
                    )
        items, token = _page(stats, request.get("pageToken"), request.get("pageSize"))
        return {"domainStats": items, **({"nextPageToken": token} if token else {})}

    # -- OAuth token endpoint --------------------------------------------------------------

    def _token(self, body: bytes) -> tuple[int, str, bytes]:
        form = {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        grant = form.get("grant_type")
        scopes: Iterable[str] | None = form["scope"].split() if form.get("scope") else None
        user: str | None = LAB_USER_ADDRESS
        if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            problem = self._check_jwt(form.get("assertion", ""))
            # A service account reads mail only as the user it acts for (its `sub`).
            scopes = str(self.last_claims.get("scope") or "").split()
            subject = self.last_claims.get("sub")
            user = subject if isinstance(subject, str) and subject else None
        elif grant == "authorization_code":
            refresh = self.auth_codes.pop(form.get("code", ""), None)
            if refresh is None:
                problem = "Malformed auth code."
            else:
                self.refresh_tokens[refresh] = form.get("client_id", "")
                answer = {
                    "access_token": self.issue_token(),
                    "expires_in": self.token_lifetime,
                    "refresh_token": refresh,
                    "token_type": "Bearer",
                }
                return 200, "application/json", json.dumps(answer).encode()
        elif grant == "refresh_token":
            token = form.get("refresh_token", "")
            problem = (
                None
                if token in self.refresh_tokens and token not in self.revoked
                else ("Token has been expired or revoked.")
            )
        else:
            problem = f"unsupported grant_type {grant}"
        if problem:
            answer = {"error": "invalid_grant", "error_description": problem}
            return 400, "application/json", json.dumps(answer).encode()
        answer = {
            "access_token": self.issue_token(scopes=scopes, user=user),
            "expires_in": self.token_lifetime,
            "token_type": "Bearer",
        }
        return 200, "application/json", json.dumps(answer).encode()

    def _check_jwt(self, assertion: str) -> str | None:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        try:
            head, payload, signature = assertion.split(".")
            claims = json.loads(_unb64(payload))
            header = json.loads(_unb64(head))
            self.last_claims = claims if isinstance(claims, dict) else {}
            key = self.service_accounts.get(claims.get("iss"))
            if key is None:
                return "Invalid JWT: unknown service account."
            if header.get("alg") != "RS256":
                return "Invalid JWT: algorithm must be RS256."
            key.verify(
                _unb64(signature), f"{head}.{payload}".encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        except InvalidSignature:
            return "Invalid JWT Signature."
        except (ValueError, AttributeError, TypeError):
            return "Invalid JWT."
        # google-auth always names Google's token endpoint as the audience, wherever it posts.
        if claims.get("aud") not in (GOOGLE_TOKEN_AUDIENCE, self.token_uri):
            return "Invalid JWT: Token must be a short-lived token and in a reasonable timeframe"
        if not claims.get("scope"):
            return "Invalid JWT: no scope."
        if not (claims.get("iat", 0) - 300 <= time.time() <= claims.get("exp", 0) + 300):
            return "Invalid JWT: Token must be a short-lived token and in a reasonable timeframe"
        return None

    # -- SNDS -------------------------------------------------------------------------------

    def _snds(self, query: dict[str, str]) -> tuple[int, str, bytes]:
        if query.get("key") != SNDS_KEY:
            return 403, "text/plain", b"Access denied: unknown key\r\n"
        return 200, "text/csv", snds_csv(self.today()).encode()


def _is_gmail(target: str) -> bool:
    return target.startswith(("/gmail/v1/", "/upload/gmail/v1/"))


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
