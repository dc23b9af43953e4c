"""SMTP TLS Reporting (RFC 8460): where senders report TLS failures delivering to you.

Without a TLS-RPT record, a broken certificate or MTA-STS policy on the MX hosts
goes unnoticed until mail stops arriving: senders that fail to set up TLS have no
one to tell.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from console.auth.mx import is_null_mx
from console.auth.options import AuditOptions
from console.auth.records import parse_tags, txt_record
from console.auth.resolver import ResolverContext
from console.model import CheckResult, Finding, Status

CHECK_ID = "tls-rpt"

TLSRPT_TAGS: dict[str, str] = {
    "v": "Version: must be TLSRPTv1 and come first.",
    "rua": "Where senders send the daily JSON report of TLS successes and failures: "
    "mailto: addresses or https: URLs, separated by commas.",
}
"""What each tag of a TLS-RPT record means, for the console's help."""

_VERSION = re.compile(r"v=TLSRPTv1[ \t]*(;|$)")
# RFC 8460 3: tlsrpt-ext-name = (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")
_EXT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}")


def owner_name(domain: str) -> str:
    """Where the TLS-RPT record of `domain` lives."""
    return f"_smtp._tls.{domain}"


def suggested_record(domain: str) -> str:
    """A record to publish when there is none (the mailbox must exist to read reports)."""
    return txt_record(owner_name(domain), f"v=TLSRPTv1; rua=mailto:tls-reports@{domain}")


@dataclass(slots=True)
class TlsRptRecord:
    """One parsed TLS-RPT record; `findings` is empty when it is fine."""

    record: str
    rua: list[str] = field(default_factory=list)
    valid_rua: list[str] = field(default_factory=list)
    extensions: dict[str, str] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)


def uri_problem(uri: str) -> str | None:
    """Why `uri` cannot receive TLS reports, or None when it is a usable mailto:/https: URI."""
    if not uri:
        return "an empty URI"
    if any(ch.isspace() for ch in uri):
        return f"{uri!r} contains spaces"
    scheme, sep, rest = uri.partition(":")
    if not sep:
        if "@" in uri:
            return f"{uri} is a bare address without the mailto: prefix"
        return f"{uri} is not a URI (mailto: or https:)"
    scheme = scheme.lower()
    if scheme == "mailto":
        address = urllib.parse.unquote(rest.split("?", 1)[0])
        local, at, host = address.rpartition("@")
        if not at or not local or not host or "." not in host:
            return f"{uri} does not name a mail address"
        return None
    if scheme == "https":
        try:
            parts = urllib.parse.urlsplit(uri)
            host = parts.hostname
        except ValueError:
            return f"{uri} is not a valid https: URL"
        if not host:
            return f"{uri} has no host"
        return None
    return f"{uri} uses {scheme}:, but reports go only to mailto: or https: (RFC 8460 3)"


def parse_tlsrpt(text: str, owner: str = "_smtp._tls.<domain>") -> TlsRptRecord:
    """Parse one TLS-RPT record and judge it; never raises.

    Args:
        text: the TXT record's strings, already concatenated.
        owner: the record's name, used in messages and fixes.

    Returns:
        A TlsRptRecord whose findings use the codes tls-rpt.syntax and tls-rpt.bad-uri.
    """
    parsed = TlsRptRecord(record=text)
    findings = parsed.findings

    def syntax(
        message: str, fix: str, severity: Status = Status.FAIL, record: str | None = None
    ) -> None:
        findings.append(Finding("tls-rpt.syntax", severity, f"{owner}: {message}", fix, record))

    domain = owner.removeprefix("_smtp._tls.")
    example = txt_record(owner, f"v=TLSRPTv1; rua=mailto:tls-reports@{domain}")
    if not _VERSION.match(text):
        given = [value for tag, value in parse_tags(text) if tag == "rua" and value]
        fixed = txt_record(owner, f"v=TLSRPTv1; rua={given[0]}") if given else example
        syntax(
            "the record does not begin with v=TLSRPTv1, so senders ignore it (RFC 8460 3).",
            f"Start the record with `v=TLSRPTv1;`: {fixed}",
            record=fixed,
        )
        return parsed
    rua_tags = 0
    for tag, value in parse_tags(text)[1:]:
        if tag == "rua":
            rua_tags += 1
            if rua_tags == 1:
                parsed.rua = [uri.strip() for uri in value.split(",")]
            continue
        if tag == "v":
            syntax(
                "v= appears twice.",
                f"Keep one `v=TLSRPTv1` at the start: {example}",
                record=example,
            )
        elif not _EXT_NAME.fullmatch(tag):
            syntax(
                f"{tag!r} is not a tag=value pair; senders may reject the whole record.",
                f"Write the record as `tag=value` pairs separated by `;`: {example}",
                record=example,
            )
        else:
            parsed.extensions[tag] = value
    if rua_tags > 1:
        syntax(
            "rua= appears more than once; senders may use only the first.",
            "Put every destination in one rua=, separated by commas.",
            Status.WARN,
        )
    if not rua_tags or parsed.rua == [""]:
        parsed.rua = []
        syntax(
            "the record has no rua= destination, so senders have nowhere to report "
            "TLS failures (RFC 8460 3 requires it).",
            example,
            record=example,
        )
        return parsed

    problems = [(uri, uri_problem(uri)) for uri in parsed.rua]
    parsed.valid_rua = [uri for uri, problem in problems if problem is None]
    # A bad destination loses its reports; it is an outage only if no good one remains.
    severity = Status.WARN if parsed.valid_rua else Status.FAIL
    for uri, problem in problems:
        if problem is None:
            continue
        repaired = txt_record(
            owner, "v=TLSRPTv1; rua=" + ",".join(parsed.valid_rua or [_repair(uri, domain)])
        )
        findings.append(
            Finding(
                "tls-rpt.bad-uri",
                severity,
                f"{owner}: the rua destination {problem}, so senders cannot deliver reports there.",
                "Use mailto:ADDRESS or an https:// URL, comma-separated: " + repaired,
                repaired,
            )
        )
    return parsed


def _repair(uri: str, domain: str) -> str:
    """The most likely intended destination for a bad URI, for the fix."""
    if "@" in uri and ":" not in uri:
        return f"mailto:{uri}"
    if uri.lower().startswith("http:"):
        return "https:" + uri[5:]
    return "mailto:tls-reports@" + domain


async def check_tls_rpt(ctx: ResolverContext, domain: str, options: AuditOptions) -> CheckResult:
    """Check the TLS-RPT record of `domain` (RFC 8460).

    Args:
        ctx: how to ask DNS.
        domain: the normalized mail domain.
        options: unused; part of the common check signature.

    Returns:
        CheckResult "tls-rpt" with data `record` (the TLSRPTv1 record, even when
        invalid, or None), `rua` (its destinations as published) and `records` (every
        TXT record at _smtp._tls). Skipped for a null-MX domain without a record.
    """
    del options
    owner = owner_name(domain)
    lookup, mx_lookup = await ctx.gather(ctx.query(owner, "TXT"), ctx.query(domain, "MX"))
    texts = lookup.texts() if lookup.ok else []
    data: dict[str, Any] = {"record": None, "rua": [], "records": texts}
    if lookup.failed:
        finding = Finding(
            "tls-rpt.dns-error",
            Status.ERROR,
            f"Could not look up the TLS-RPT record: {lookup.describe()}.",
            "Check that the domain's nameservers answer, then run the check again.",
        )
        return CheckResult.from_findings(
            CHECK_ID, "TLS-RPT could not be checked: the lookup failed", [finding], data
        )
    candidates = sorted(text for text in texts if _VERSION.match(text))
    if len(candidates) > 1:
        data["record"] = candidates[0]
        merged = dict.fromkeys(
            uri for text in candidates for uri in parse_tlsrpt(text, owner).valid_rua
        )
        fix = txt_record(owner, "v=TLSRPTv1; rua=" + ",".join(merged)) if merged else None
        finding = Finding(
            "tls-rpt.multiple",
            Status.FAIL,
            f"{owner} has {len(candidates)} TLS-RPT records; senders then assume you "
            "publish none (RFC 8460 3) and send no reports.",
            "Replace them with one record listing every destination in its rua=: "
            + (fix or suggested_record(domain)),
            fix or suggested_record(domain),
        )
        return CheckResult.from_findings(
            CHECK_ID, "TLS-RPT ignored: more than one record", [finding], data
        )
    if not candidates:
        if texts:
            data["record"] = texts[0]
            parsed = parse_tlsrpt(texts[0], owner)
            return CheckResult.from_findings(
                CHECK_ID,
                "TLS-RPT record ignored: it does not start v=TLSRPTv1",
                parsed.findings,
                data,
            )
        if is_null_mx(mx_lookup):
            return CheckResult.skipped(
                CHECK_ID,
                "no TLS-RPT record, and none needed: the domain accepts no mail (null MX)",
                **data,
            )
        finding = Finding(
            "tls-rpt.missing",
            Status.WARN,
            f"{domain} publishes no TLS-RPT record, so senders that fail to deliver over "
            "TLS (expired certificate, broken MTA-STS policy) have no way to tell you, "
            "and you learn of it only when mail stops arriving.",
            f"Publish {suggested_record(domain)} (the mailbox must exist; reports are "
            "daily gzip'd JSON).",
            suggested_record(domain),
        )
        return CheckResult.from_findings(CHECK_ID, "no TLS-RPT record", [finding], data)

    parsed = parse_tlsrpt(candidates[0], owner)
    data["record"] = candidates[0]
    data["rua"] = parsed.rua
    if parsed.valid_rua:
        summary = f"TLS reports go to {', '.join(parsed.valid_rua)}"
    else:
        summary = "TLS-RPT record published, but no usable report destination"
    return CheckResult.from_findings(CHECK_ID, summary, parsed.findings, data)
