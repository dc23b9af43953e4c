"""MTA-STS (RFC 8461): whether senders must use authenticated TLS to deliver to the domain.

Without it, anyone on the path between a sender and the MX can strip STARTTLS and read
or change the mail; with a broken one, senders that honour it refuse to deliver at all.
The check reads the `_mta-sts` TXT record, fetches the policy over HTTPS exactly as a
sending MTA must (no redirects, WebPKI certificate for `mta-sts.DOMAIN`, text/plain, at
most 64 KB), parses it, and matches its `mx` patterns against the domain's real MX hosts.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from console.auth.https import FetchErrorKind, FetchResult, fetch
from console.auth.mx import MxResult, mx_hosts
from console.auth.options import AuditOptions
from console.auth.records import txt_record
from console.auth.resolver import ResolverContext
from console.model import CheckResult, Finding, Status

CHECK_ID = "mta-sts"

MAX_POLICY_BYTES = 64 * 1024
"""RFC 8461 3.3: senders may refuse policies larger than 64 KB."""

MAX_MAX_AGE = 31557600
"""RFC 8461 3.2: max_age is at most 31557600 seconds (about one year)."""

SHORT_MAX_AGE = 86400
"""Below a day, a cached policy lapses between most senders' visits: warn."""

SUGGESTED_MAX_AGE = 604800
"""One week: long enough to outlast a downgrade attack, short enough to change course."""

POLICY_PATH = "/.well-known/mta-sts.txt"

STS_TERMS: dict[str, str] = {
    "v": "Version of the _mta-sts TXT record: must be exactly STSv1 and come first.",
    "id": "1-32 letters or digits naming the current policy; change it every time the "
    "policy file changes, or senders keep their cached copy.",
    "version": "Policy file version: must be STSv1.",
    "mode": "enforce: senders deliver only over TLS to an MX listed in the policy with a "
    "valid certificate. testing: senders deliver anyway but report failures (TLS-RPT). "
    "none: the policy is withdrawn.",
    "mx": "An MX host name senders may deliver to; `*.example.com` matches exactly one "
    "leftmost label (mx1.example.com, not example.com or a.b.example.com).",
    "max_age": "Seconds senders cache the policy (at most 31557600); while cached, a "
    "network attacker cannot remove it.",
}
"""What each MTA-STS tag and policy key means, for the console's help."""

_ID = re.compile(r"[A-Za-z0-9]{1,32}")
_EXT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}")
_EXT_VALUE = re.compile(r"[\x21-\x3a\x3c\x3e-\x7e]+")
_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
_MODES = ("enforce", "testing", "none")
_POLICY_KEYS = ("version", "mode", "max_age", "mx")


def owner_name(domain: str) -> str:
    """Where the MTA-STS TXT record of `domain` lives."""
    return f"_mta-sts.{domain}"


def policy_url(domain: str) -> str:
    """Where senders fetch the policy of `domain` (RFC 8461 3.3)."""
    return f"https://mta-sts.{domain}{POLICY_PATH}"


def new_policy_id(now: dt.datetime | None = None) -> str:
    """A fresh policy id: the UTC time as letters and digits (`20261126T120000`)."""
    return (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%S")


def is_sts_record(text: str) -> bool:
    """Whether a TXT string is an MTA-STS record candidate (RFC 8461 3.1: `v=STSv1` first)."""
    if not text.startswith("v=STSv1"):
        return False
    rest = text[len("v=STSv1") :]
    return not rest or rest[0] in "; \t"


@dataclass(slots=True)
class StsRecord:
    """One parsed `_mta-sts` TXT record.

    Attributes:
        record: the text as published.
        id: the policy id, when present and valid.
        extensions: other `name=value` fields (allowed, ignored by senders).
        errors: why the record is invalid (senders then assume no MTA-STS).
    """

    record: str
    id: str | None = None
    extensions: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def parse_record(text: str) -> StsRecord:
    """Parse an `_mta-sts` TXT record (RFC 8461 3.1); never raises.

    >>> parse_record("v=STSv1; id=20260101T000000").id
    '20260101T000000'
    """
    result = StsRecord(text)
    if not is_sts_record(text):
        result.errors.append("the record must start with exactly `v=STSv1`")
        return result
    fields = text.split(";")
    body = fields[1:]
    # One trailing `;` (and trailing blanks) is allowed; an empty field elsewhere is not.
    if body and not body[-1].strip():
        body = body[:-1]
    if fields[0].strip() != "v=STSv1":
        result.errors.append(f"the version field must be exactly `v=STSv1`, not {fields[0]!r}")
    ids: list[str] = []
    for raw in body:
        item = raw.strip(" \t")
        if not item:
            result.errors.append("an empty field (two `;` in a row)")
            continue
        name, sep, value = item.partition("=")
        if not sep:
            result.errors.append(f"the field {item!r} has no `=`")
        elif name == "id":
            ids.append(value)
            if not _ID.fullmatch(value):
                result.errors.append(
                    f"the id {value!r} must be 1 to 32 letters or digits (no punctuation)"
                )
        elif name == "v":
            result.errors.append("`v=` appears more than once")
        elif not _EXT_NAME.fullmatch(name):
            result.errors.append(f"{name!r} is not a valid field name")
        elif not _EXT_VALUE.fullmatch(value):
            result.errors.append(f"the value of {name!r} is empty or has forbidden characters")
        else:
            result.extensions[name] = value
    if not ids:
        result.errors.append("the required `id=` field is missing")
    elif len(ids) > 1:
        result.errors.append("`id=` appears more than once")
    elif _ID.fullmatch(ids[0]):
        result.id = ids[0]
    return result


@dataclass(slots=True)
class StsPolicy:
    """A parsed policy file (RFC 8461 3.2).

    Attributes:
        version: the `version` value (must be STSv1).
        mode: `enforce`, `testing` or `none` when valid, else None.
        max_age: seconds, when valid.
        mx: the `mx` patterns, lower-case, valid ones only.
        errors: what makes the policy invalid (senders then ignore it).
        extensions: other keys, ignored by senders.
    """

    version: str | None = None
    mode: str | None = None
    max_age: int | None = None
    mx: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    extensions: dict[str, str] = field(default_factory=dict)


def valid_mx_pattern(pattern: str) -> bool:
    """An `mx` value: a host name, optionally with `*.` standing for one leftmost label."""
    name = pattern.lower().removesuffix(".")
    if name.startswith("*."):
        name = name[2:]
    labels = name.split(".")
    return len(labels) >= 2 and len(name) <= 253 and all(_LABEL.fullmatch(x) for x in labels)


def parse_policy(text: str) -> StsPolicy:
    """Parse a policy file; LF or CRLF line ends, unknown keys ignored. Never raises.

    >>> parse_policy("version: STSv1\\nmode: enforce\\nmx: *.example.com\\nmax_age: 86400\\n").mode
    'enforce'
    """
    policy = StsPolicy()
    seen: dict[str, int] = {}
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.removesuffix("\r")
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        value = value.strip(" \t")
        if not sep:
            policy.errors.append(f"line {number} is not `key: value`: {line[:60]!r}")
            continue
        if key != key.strip():
            policy.errors.append(f"line {number}: no blanks are allowed around the key {key!r}")
            key = key.strip()
        if key.lower() in _POLICY_KEYS and key not in _POLICY_KEYS:
            policy.errors.append(f"line {number}: keys are case-sensitive: write {key.lower()!r}")
            key = key.lower()
        seen[key] = seen.get(key, 0) + 1
        if key == "version":
            policy.version = value
            if value != "STSv1":
                policy.errors.append(f"version must be `STSv1`, not {value!r}")
        elif key == "mode":
            if value in _MODES:
                policy.mode = value
            else:
                policy.errors.append(f"mode must be enforce, testing or none, not {value!r}")
        elif key == "max_age":
            if not re.fullmatch(r"[0-9]{1,10}", value):
                policy.errors.append(f"max_age must be a number of seconds, not {value!r}")
            elif int(value) > MAX_MAX_AGE:
                policy.errors.append(
                    f"max_age {value} is over the maximum of {MAX_MAX_AGE} s (one year)"
                )
            else:
                policy.max_age = int(value)
        elif key == "mx":
            if valid_mx_pattern(value):
                policy.mx.append(value.lower().removesuffix("."))
            else:
                policy.errors.append(
                    f"`mx: {value}` is not a host name or `*.` followed by one"
                    + (" (a `*` may only replace the whole leftmost label)" if "*" in value else "")
                )
        else:
            policy.extensions[key] = value
    for key in ("version", "mode", "max_age"):
        if key not in seen:
            policy.errors.append(f"the required `{key}` key is missing")
        elif seen[key] > 1:
            policy.errors.append(f"`{key}` appears {seen[key]} times; senders may use either")
    if policy.mode in ("enforce", "testing") and "mx" not in seen:
        policy.errors.append(f"mode {policy.mode} needs at least one `mx` line")
    return policy


def mx_matches(pattern: str, host: str) -> bool:
    """RFC 8461 4.1: exact match, or `*.` matching exactly one leftmost label."""
    pattern = pattern.lower().removesuffix(".")
    host = host.lower().removesuffix(".")
    if pattern.startswith("*."):
        first, dot, rest = host.partition(".")
        return bool(first) and bool(dot) and rest == pattern[2:]
    return host == pattern


def policy_text(mode: str, mx: list[str], max_age: int = SUGGESTED_MAX_AGE) -> str:
    """A policy file body, one key per line, as a fix shows it."""
    lines = ["version: STSv1", f"mode: {mode}", *(f"mx: {pattern}" for pattern in mx)]
    lines.append(f"max_age: {max_age}")
    return "\n".join(lines)


def _mx_names(domain: str, mx: MxResult) -> list[str]:
    names = [host.host for host in mx.hosts]
    return names or [f"mail.{domain}"]


def _publish(domain: str, mode: str, mx: list[str], max_age: int = SUGGESTED_MAX_AGE) -> str:
    """The two steps of publishing a policy: the file, then a TXT record with a new id."""
    return (
        f"Serve this file as text/plain at {policy_url(domain)} (HTTP 200, no redirect, "
        f"certificate valid for mta-sts.{domain}):\n"
        f"{policy_text(mode, mx, max_age)}\n"
        f"then publish (a new id tells senders to fetch it again):\n"
        f"{txt_record(owner_name(domain), f'v=STSv1; id={new_policy_id()}')}"
    )


def _publishing(
    lead: str, domain: str, mode: str, mx: list[str], max_age: int = SUGGESTED_MAX_AGE
) -> tuple[str, str]:
    """(fix, record) for a finding whose fix is to serve a policy: `lead`, then the two
    steps; the record is the exact policy file body, the part that must be byte-exact."""
    return lead + _publish(domain, mode, mx, max_age), policy_text(mode, mx, max_age)


def _empty_data(domain: str) -> dict[str, Any]:
    return {
        "record": None,
        "records": [],
        "id": None,
        "policy": None,
        "mode": None,
        "max_age": None,
        "mx_patterns": [],
        "unmatched_mx": [],
        "policy_url": policy_url(domain),
        "http_status": None,
        "fetch_error": None,
    }


async def check_mta_sts(ctx: ResolverContext, domain: str, options: AuditOptions) -> CheckResult:
    """Check the MTA-STS record and policy of `domain` the way a sending MTA reads them.

    Args:
        ctx: how to ask DNS; also where the HTTPS fetch resolves and which CA it trusts.
        domain: the normalized mail domain.
        options: unused; part of the common check signature.

    Returns:
        CheckResult "mta-sts" with data `record` (the one v=STSv1 record, else None),
        `records` (every v=STSv1 candidate), `id`, `policy` (raw text), `mode`, `max_age`,
        `mx_patterns`, `unmatched_mx`, `policy_url`, `http_status`, `fetch_error`.
    """
    del options
    # The policy fetch needs neither the record nor the MX hosts, so it starts now, in
    # parallel; when there turns out to be no record, it is cancelled unread.
    policy_fetch = asyncio.ensure_future(fetch(ctx, policy_url(domain), max_bytes=MAX_POLICY_BYTES))
    try:
        return await _check(ctx, domain, policy_fetch)
    finally:
        if not policy_fetch.done():
            policy_fetch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await policy_fetch


async def _check(
    ctx: ResolverContext, domain: str, policy_fetch: asyncio.Future[FetchResult]
) -> CheckResult:
    data = _empty_data(domain)
    lookup, mx = await ctx.gather(ctx.query(owner_name(domain), "TXT"), mx_hosts(ctx, domain))
    if lookup.failed:
        finding = Finding(
            "mta-sts.dns-error",
            Status.ERROR,
            f"Could not look up the MTA-STS record: {lookup.describe()}.",
            "Check that the domain's nameservers answer, then run the check again.",
        )
        return CheckResult.from_findings(CHECK_ID, "MTA-STS could not be checked", [finding], data)
    # DNS answers come in any order; sorted, the report is the same on every run.
    candidates = sorted(text for text in lookup.texts() if is_sts_record(text))
    data["records"] = candidates
    if not candidates:
        if mx.null_mx:
            return CheckResult.skipped(
                CHECK_ID, "no MTA-STS, and none needed: the domain accepts no mail", **data
            )
        finding = Finding(
            "mta-sts.missing",
            Status.WARN,
            f"{domain} publishes no MTA-STS policy, so senders deliver over whatever TLS "
            "the connection offers: an attacker on the path can strip STARTTLS and read or "
            "alter mail to you, and nobody notices.",
            *_publishing(
                "Start in testing mode (with a TLS-RPT record to receive failure reports), "
                "then switch to enforce. ",
                domain,
                "testing",
                _mx_names(domain, mx),
            ),
        )
        return CheckResult.from_findings(CHECK_ID, "no MTA-STS policy", [finding], data)

    findings: list[Finding] = []
    parsed = [parse_record(text) for text in candidates]
    if len(candidates) > 1:
        # Several records are usually an id change that left the old one behind:
        # keep the newest id (ids are conventionally timestamps), so senders that
        # cached the old policy fetch it again.
        valid = [p for p in parsed if not p.errors] or parsed
        keep = max(valid, key=lambda p: (len(p.id or ""), p.id or ""))
        kept = txt_record(owner_name(domain), f"v=STSv1; id={keep.id or new_policy_id()}")
        findings.append(
            Finding(
                "mta-sts.multiple",
                Status.FAIL,
                f"{owner_name(domain)} has {len(candidates)} v=STSv1 records; RFC 8461 3.1 "
                "then tells senders to assume there is no policy at all.",
                "Delete all but one, e.g. keep " + kept,
                kept,
            )
        )
    else:
        data["record"] = candidates[0]
        data["id"] = parsed[0].id
    for record in parsed:
        if record.errors:
            fresh = txt_record(owner_name(domain), f"v=STSv1; id={new_policy_id()}")
            findings.append(
                Finding(
                    "mta-sts.syntax",
                    Status.FAIL,
                    f"The MTA-STS record {record.record!r} is invalid ("
                    + "; ".join(record.errors)
                    + "), so senders ignore the policy.",
                    "Publish " + fresh,
                    fresh,
                )
            )

    result = await policy_fetch
    data["http_status"] = result.status
    data["fetch_error"] = result.error
    findings.extend(_fetch_findings(domain, result, mx))
    policy: StsPolicy | None = None
    if result.status == 200 and result.error is None:
        raw = result.text()
        data["policy"] = raw
        policy = parse_policy(raw)
        data.update(mode=policy.mode, max_age=policy.max_age, mx_patterns=list(policy.mx))
        findings.extend(_policy_findings(domain, policy, mx, data))
    return CheckResult.from_findings(CHECK_ID, _summary(findings, policy, data), findings, data)


def _fetch_findings(domain: str, result: FetchResult, mx: MxResult) -> list[Finding]:
    url = policy_url(domain)
    names = _mx_names(domain, mx)
    published_id = "An id is published in DNS, but "
    if result.error_kind is FetchErrorKind.DNS_ERROR:
        return [
            Finding(
                "mta-sts.dns-error",
                Status.ERROR,
                f"Could not fetch the policy: {result.error}.",
                "Check that the domain's nameservers answer, then run the check again.",
            )
        ]
    if result.error_kind is FetchErrorKind.CERTIFICATE:
        return [
            Finding(
                "mta-sts.certificate",
                Status.FAIL,
                f"The policy host's certificate is not valid ({result.error}); senders "
                "must reject a policy they cannot authenticate (RFC 8461 3.3), so the domain "
                "has no MTA-STS protection.",
                f"Install a certificate from a public CA that covers mta-sts.{domain} "
                "(e.g. Let's Encrypt), with its full chain, on the server answering "
                f"{url}.",
            )
        ]
    if result.error_kind is FetchErrorKind.TOO_LARGE:
        return [
            Finding(
                "mta-sts.policy-unavailable",
                Status.FAIL,
                f"The policy at {url} is larger than {MAX_POLICY_BYTES // 1024} KB; senders "
                "may refuse to read it (RFC 8461 3.3).",
                *_publishing("Serve only the policy lines: ", domain, "enforce", names),
            )
        ]
    if result.error is not None:
        return [
            Finding(
                "mta-sts.policy-unavailable",
                Status.FAIL,
                f"{published_id}the policy cannot be fetched ({result.error}); senders then "
                "apply no MTA-STS, and those that cached an earlier policy keep using it.",
                *_publishing(
                    f"Make mta-sts.{domain} resolve to a web server that answers HTTPS on port "
                    "443. ",
                    domain,
                    "enforce",
                    names,
                ),
            )
        ]
    assert result.status is not None
    if 300 <= result.status < 400:
        where = f" to {result.location}" if result.location else ""
        return [
            Finding(
                "mta-sts.redirect",
                Status.FAIL,
                f"{url} answers HTTP {result.status} (a redirect{where}); senders must not "
                "follow redirects (RFC 8461 3.3), so they find no policy.",
                f"Serve the file itself at {url} with HTTP 200: remove the redirect for "
                "/.well-known/mta-sts.txt (an https-to-https or apex redirect counts too).",
            )
        ]
    if result.status != 200:
        return [
            Finding(
                "mta-sts.policy-unavailable",
                Status.FAIL,
                f"{published_id}{url} answers HTTP {result.status}; senders accept only 200, "
                "so the domain has no working MTA-STS policy.",
                *_publishing("", domain, "enforce", names),
            )
        ]
    if result.content_type != "text/plain":
        got = result.headers.get("content-type", "no Content-Type")
        return [
            Finding(
                "mta-sts.content-type",
                Status.FAIL,
                f"The policy is served as {got!r}; senders check for text/plain "
                "(RFC 8461 3.2) and ignore anything else.",
                f"Serve {POLICY_PATH} with `Content-Type: text/plain` (e.g. nginx: "
                "`location = /.well-known/mta-sts.txt { default_type text/plain; }`).",
            )
        ]
    return []


def _policy_findings(
    domain: str, policy: StsPolicy, mx: MxResult, data: dict[str, Any]
) -> list[Finding]:
    findings: list[Finding] = []
    names = _mx_names(domain, mx)
    if policy.errors:
        mode = policy.mode or "enforce"
        patterns = policy.mx or names
        findings.append(
            Finding(
                "mta-sts.policy-syntax",
                Status.FAIL,
                "The policy file is invalid (" + "; ".join(policy.errors[:6]) + "); senders "
                "discard an invalid policy.",
                *_publishing("", domain, mode, patterns, policy.max_age or SUGGESTED_MAX_AGE),
            )
        )
    if policy.mode == "testing":
        findings.append(
            Finding(
                "mta-sts.testing",
                Status.WARN,
                "The policy is in testing mode: senders report TLS failures (to your "
                "TLS-RPT address) but still deliver without TLS, so it protects nothing yet.",
                *_publishing(
                    "Once TLS-RPT reports show no failures, switch to enforce. ",
                    domain,
                    "enforce",
                    policy.mx or names,
                    policy.max_age or SUGGESTED_MAX_AGE,
                ),
            )
        )
    elif policy.mode == "none":
        findings.append(
            Finding(
                "mta-sts.mode-none",
                Status.WARN,
                "The policy has mode none: it withdraws MTA-STS, and senders drop any "
                "policy they cached. Fine while retiring MTA-STS, not as a steady state.",
                *_publishing("To protect mail again: ", domain, "testing", names),
            )
        )
    if policy.max_age is not None and policy.max_age < SHORT_MAX_AGE:
        findings.append(
            Finding(
                "mta-sts.short-max-age",
                Status.WARN,
                f"max_age is {policy.max_age} s (under a day): the cached policy expires "
                "between most senders' visits, so an attacker who blocks the policy fetch "
                "gets plain-text delivery soon after.",
                *_publishing(
                    "Set at least a week: ", domain, policy.mode or "enforce", policy.mx or names
                ),
            )
        )
    if policy.mode in ("enforce", "testing") and policy.mx:
        findings.extend(_mx_findings(domain, policy, mx, data))
    return findings


def _mx_findings(
    domain: str, policy: StsPolicy, mx: MxResult, data: dict[str, Any]
) -> list[Finding]:
    if mx.failed:
        return [
            Finding(
                "mta-sts.dns-error",
                Status.ERROR,
                f"Could not look up the MX records to compare with the policy: "
                f"{mx.lookup.describe()}.",
                "Check that the domain's nameservers answer, then run the check again.",
            )
        ]
    if mx.null_mx or not mx.hosts:
        return []
    unmatched = [
        host.host
        for host in mx.hosts
        if not any(mx_matches(pattern, host.host) for pattern in policy.mx)
    ]
    data["unmatched_mx"] = unmatched
    if not unmatched:
        return []
    enforce = policy.mode == "enforce"
    consequence = (
        "senders that honour the policy refuse to deliver to "
        + ("them" if len(unmatched) > 1 else "it")
        + " (mail waits in their queues, then bounces)"
        if enforce
        else "in testing mode senders still deliver, but report every such delivery as a "
        "failure, and switching to enforce would stop it"
    )
    covered = [*policy.mx, *unmatched]
    return [
        Finding(
            "mta-sts.mx-mismatch",
            Status.FAIL if enforce else Status.WARN,
            f"The MX host(s) {', '.join(unmatched)} match no `mx` line of the policy "
            f"({', '.join(policy.mx)}): {consequence}.",
            *_publishing(
                "List every MX host in the policy (and drop lines for hosts you no longer use). ",
                domain,
                policy.mode or "enforce",
                covered,
                policy.max_age or SUGGESTED_MAX_AGE,
            ),
        )
    ]


_FAIL_SUMMARIES = {
    "mta-sts.multiple": "several MTA-STS records: senders see no policy",
    "mta-sts.syntax": "invalid MTA-STS record: senders see no policy",
    "mta-sts.certificate": "MTA-STS policy host has an invalid certificate",
    "mta-sts.redirect": "MTA-STS policy URL redirects: senders see no policy",
    "mta-sts.content-type": "MTA-STS policy is not served as text/plain",
    "mta-sts.policy-unavailable": "MTA-STS id published, but no policy can be fetched",
    "mta-sts.policy-syntax": "invalid MTA-STS policy file",
}


def _summary(findings: list[Finding], policy: StsPolicy | None, data: dict[str, Any]) -> str:
    codes = {finding.code for finding in findings}
    for code, text in _FAIL_SUMMARIES.items():
        if code in codes:
            status = data.get("http_status")
            if code == "mta-sts.policy-unavailable" and status and status != 200:
                return f"{text} (HTTP {status})"
            return text
    if policy is None:
        return "MTA-STS could not be checked"
    unmatched = data.get("unmatched_mx") or []
    age = f", max_age {policy.max_age}" if policy.max_age is not None else ""
    text = f"MTA-STS mode {policy.mode}{age}"
    if unmatched:
        text += f"; {len(unmatched)} MX host(s) not covered"
    elif "mta-sts.dns-error" in codes:
        text += "; MX hosts could not be compared"
    elif policy.mx:
        text += f"; {len(policy.mx)} mx pattern(s) cover every MX"
    return text
