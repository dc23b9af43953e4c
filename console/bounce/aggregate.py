"""DMARC aggregate (RUA) reports: parse, explain each row, sum up across files.

Both schemas are read: RFC 7489 appendix C (no namespace, the one most receivers still
send) and RFC 9990 (`urn:ietf:params:xml:ns:dmarc-2.0`, with `version`, `np`,
`testing`, `discovery_method`, `generator`, a mandatory DKIM selector). Any namespace is
accepted and element names are matched on their local part, because receivers mix them.
The XML goes through defusedxml: entity declarations (billion laughs) and external
references are refused before they expand.

Alignment is recomputed from each row's raw `auth_results` against the report's own
`adkim`/`aspf`, so a row can say *why* it failed ("DKIM signed by esp.test, not
example.test"). Relaxed alignment needs Organizational Domains. RFC 9989 finds them with
a DNS tree walk, which needs the network and the sender's current records, not those of
the reporting day; by default this module uses `simple_org_domain`, an offline rule
(the last two labels, three under a country's `co.`/`com.`-style second level). A caller
with a resolver can pass the tree walk's answers instead (`walk_org_domains`). The
receiver's own verdict (`policy_evaluated`) stays authoritative for pass/fail; when ours
differs, the row says so in a note.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import ipaddress
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import defusedxml
import defusedxml.ElementTree as SafeET

from console.auth.dmarc import aligned as _aligned
from console.bounce.aggregate_input import Document, Problem, read_inputs

if TYPE_CHECKING:
    from console.auth.resolver import ResolverContext

NS_DMARC2 = "urn:ietf:params:xml:ns:dmarc-2.0"
"""RFC 9990's namespace."""

SCHEMA_7489 = "rfc7489"
SCHEMA_9990 = "rfc9990"

_RFC9990_ONLY = ("np", "testing", "discovery_method")
"""policy_published children that exist only in the 2025 schema."""

_SECOND_LEVEL = frozenset(
    {"co", "com", "net", "org", "gov", "edu", "ac", "or", "ne", "go", "gob", "mil", "ltd", "plc"}
)

MAX_WARNINGS = 20
"""Skipped records listed one by one; beyond this many, only counted."""

OrgDomain = Callable[[str], str]


class ReportError(Exception):
    """A document that is not a usable DMARC aggregate report (one-line message)."""


# -- the report, as published ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DkimAuth:
    """One DKIM signature's result (`auth_results/dkim`)."""

    domain: str
    selector: str | None
    result: str
    human_result: str | None = None


@dataclass(frozen=True, slots=True)
class SpfAuth:
    """One SPF result (`auth_results/spf`); `scope` is mfrom or helo when given."""

    domain: str
    scope: str | None
    result: str
    human_result: str | None = None


@dataclass(frozen=True, slots=True)
class Override:
    """A receiver's reason for not applying the policy as published (`reason`)."""

    type: str
    comment: str | None = None


@dataclass(frozen=True, slots=True)
class Record:
    """One `record`: a source IP, a message count and what happened to them."""

    source_ip: str
    count: int
    header_from: str
    disposition: str | None = None
    dkim: str | None = None
    """The receiver's DMARC-aligned DKIM verdict (pass/fail)."""
    spf: str | None = None
    """The receiver's DMARC-aligned SPF verdict (pass/fail)."""
    overrides: tuple[Override, ...] = ()
    envelope_from: str | None = None
    envelope_to: str | None = None
    dkim_results: tuple[DkimAuth, ...] = ()
    spf_results: tuple[SpfAuth, ...] = ()


@dataclass(frozen=True, slots=True)
class PolicyPublished:
    """The DMARC record the receiver found (RFC 7489 `pct`, RFC 9990 `np`/`testing`)."""

    domain: str
    p: str | None = None
    sp: str | None = None
    np: str | None = None
    adkim: str | None = None
    aspf: str | None = None
    pct: int | None = None
    fo: str | None = None
    testing: str | None = None
    discovery_method: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "p": self.p,
            "sp": self.sp,
            "np": self.np,
            "adkim": self.adkim or "r",
            "aspf": self.aspf or "r",
            "pct": self.pct,
            "fo": self.fo,
            "testing": self.testing,
            "discovery_method": self.discovery_method,
        }


@dataclass(frozen=True, slots=True)
class AggregateReport:
    """One `feedback` document."""

    org_name: str
    report_id: str
    policy: PolicyPublished
    records: tuple[Record, ...]
    email: str | None = None
    extra_contact_info: str | None = None
    begin: int | None = None
    """Start of the reporting period, seconds since the epoch (UTC)."""
    end: int | None = None
    errors: tuple[str, ...] = ()
    """The reporter's own `error` elements."""
    generator: str | None = None
    version: str | None = None
    schema: str = SCHEMA_7489
    namespace: str | None = None
    warnings: tuple[str, ...] = ()
    """What this reader had to skip or guess (a record without a count, a bad date)."""
    extensions: tuple[str, ...] = ()
    """RFC 9990 extensions the report carries, as `name (namespace)`: the children of
    `<extension>`, then `record: name (namespace)` for record-level ones. Their
    contents are not interpreted (RFC 9990: ignore what you cannot handle)."""

    @property
    def total(self) -> int:
        return sum(record.count for record in self.records)


# -- parsing -------------------------------------------------------------------------


def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


_RECORD_CHILDREN = frozenset({"row", "identifiers", "auth_results"})

MAX_EXTENSIONS = 20
"""Extension names kept per report (a hostile report could declare thousands)."""


def _qualified(tag: Any) -> str:
    """`name (namespace)` for `{namespace}name`, else the name."""
    if not isinstance(tag, str):
        return "?"
    if tag.startswith("{"):
        namespace, _, name = tag[1:].partition("}")
        return f"{name[:60]} ({namespace[:120]})"
    return tag[:60]


def _extensions(root: ET.Element) -> tuple[str, ...]:
    """The extensions of RFC 9990 section 4: file level and record level, each once.

    Read before namespaces are stripped, because an extension is named by its own
    namespace (the URI that defines it).
    """
    found: dict[str, None] = {}
    for child in root:
        if _local(child.tag) == "extension":
            for item in child:
                found.setdefault(_qualified(item.tag))
        elif _local(child.tag) == "record":
            for item in child:
                if _local(item.tag) not in _RECORD_CHILDREN:
                    found.setdefault("record: " + _qualified(item.tag))
        if len(found) >= MAX_EXTENSIONS:
            break
    return tuple(list(found)[:MAX_EXTENSIONS])


def _strip_namespaces(root: ET.Element) -> None:
    """Match on local names: one pass here lets the C `find` do every lookup after."""
    for element in root.iter():
        tag = element.tag
        if isinstance(tag, str) and tag.startswith("{"):
            element.tag = tag.rsplit("}", 1)[-1]


def _child(element: ET.Element | None, name: str) -> ET.Element | None:
    return None if element is None else element.find(name)


def _children(element: ET.Element | None, name: str) -> list[ET.Element]:
    return [] if element is None else element.findall(name)


def _text(element: ET.Element | None, name: str) -> str | None:
    found = _child(element, name)
    if found is None or found.text is None:
        return None
    value = found.text.strip()
    return value or None


def _lower(value: str | None) -> str | None:
    return value.lower() if value is not None else None


def _domain(value: str | None) -> str | None:
    return value.strip().rstrip(".").lower() if value else None


def parse_report(data: bytes) -> AggregateReport:
    """Parse one aggregate report document.

    Raises:
        ReportError: not XML, refused by defusedxml (entities, external references), or
            not a DMARC `feedback` document. Individual unusable records are skipped
            and listed in `warnings` instead.
    """
    try:
        root = SafeET.fromstring(data)
    except defusedxml.EntitiesForbidden:
        raise ReportError("XML declares entities (an XML bomb?): refused") from None
    except defusedxml.ExternalReferenceForbidden:
        raise ReportError("XML refers to external resources: refused") from None
    except defusedxml.DefusedXmlException as exc:
        raise ReportError(f"XML refused: {type(exc).__name__}") from None
    except ET.ParseError as exc:
        raise ReportError(f"not XML ({exc})") from None
    except (ValueError, RecursionError) as exc:
        raise ReportError(f"not XML ({type(exc).__name__})") from None
    return report_from_element(root)


def report_from_element(root: ET.Element) -> AggregateReport:
    """Read a parsed `feedback` element (see `parse_report`)."""
    name = _local(root.tag)
    namespace = root.tag[1:].split("}", 1)[0] if str(root.tag).startswith("{") else None
    if name != "feedback":
        raise ReportError(f"not a DMARC aggregate report: root element is <{name[:40]}>")
    extensions = _extensions(root)
    _strip_namespaces(root)
    metadata = _child(root, "report_metadata")
    published = _child(root, "policy_published")
    if metadata is None or published is None:
        missing = "report_metadata" if metadata is None else "policy_published"
        raise ReportError(f"not a DMARC aggregate report: no <{missing}>")
    warnings: list[str] = []
    domain = _domain(_text(published, "domain"))
    if not domain:
        raise ReportError("policy_published has no domain")
    pct_text = _text(published, "pct")
    pct: int | None = None
    if pct_text is not None:
        try:
            pct = int(pct_text)
        except ValueError:
            warnings.append(f"pct {pct_text[:20]!r} is not a number")
    policy = PolicyPublished(
        domain=domain,
        p=_lower(_text(published, "p")),
        sp=_lower(_text(published, "sp")),
        np=_lower(_text(published, "np")),
        adkim=_lower(_text(published, "adkim")),
        aspf=_lower(_text(published, "aspf")),
        pct=pct,
        fo=_text(published, "fo"),
        testing=_lower(_text(published, "testing")),
        discovery_method=_lower(_text(published, "discovery_method")),
    )
    date_range = _child(metadata, "date_range")
    begin = _epoch(_text(date_range, "begin"), "begin", warnings)
    end = _epoch(_text(date_range, "end"), "end", warnings)
    records: list[Record] = []
    skipped = 0
    for index, element in enumerate(_children(root, "record"), 1):
        try:
            records.append(_record(element))
        except ReportError as exc:
            skipped += 1
            if skipped <= MAX_WARNINGS:
                warnings.append(f"record {index} skipped: {exc}")
    if skipped > MAX_WARNINGS:
        warnings.append(f"{skipped - MAX_WARNINGS} more records skipped")
    version = _text(root, "version")
    modern = (
        namespace == NS_DMARC2
        or bool(extensions)
        or any(_child(published, tag) is not None for tag in _RFC9990_ONLY)
    )
    return AggregateReport(
        org_name=_text(metadata, "org_name") or "",
        report_id=_text(metadata, "report_id") or "",
        policy=policy,
        records=tuple(records),
        email=_text(metadata, "email"),
        extra_contact_info=_text(metadata, "extra_contact_info"),
        begin=begin,
        end=end,
        errors=tuple(
            element.text.strip()
            for element in _children(metadata, "error")
            if element.text and element.text.strip()
        ),
        generator=_text(metadata, "generator"),
        version=version,
        schema=SCHEMA_9990 if modern else SCHEMA_7489,
        namespace=namespace,
        warnings=tuple(warnings),
        extensions=extensions,
    )


def _epoch(text: str | None, what: str, warnings: list[str]) -> int | None:
    if text is None:
        return None
    try:
        value = int(text)
        dt.datetime.fromtimestamp(value, dt.UTC)
    except (ValueError, OverflowError, OSError):
        warnings.append(f"date_range {what} {text[:20]!r} is not a time")
        return None
    return value


def _record(element: ET.Element) -> Record:
    row = _child(element, "row")
    if row is None:
        raise ReportError("no <row>")
    source_ip = _text(row, "source_ip")
    if source_ip is None:
        raise ReportError("no source_ip")
    try:
        source_ip = str(ipaddress.ip_address(source_ip))
    except ValueError:
        raise ReportError(f"source_ip {source_ip[:45]!r} is not an IP address") from None
    count_text = _text(row, "count")
    try:
        count = int(count_text or "")
    except ValueError:
        raise ReportError(f"count {(count_text or '')[:20]!r} is not a number") from None
    if count < 0:
        raise ReportError(f"negative count {count}")
    evaluated = _child(row, "policy_evaluated")
    identifiers = _child(element, "identifiers")
    header_from = _domain(_text(identifiers, "header_from"))
    if not header_from:
        raise ReportError("no header_from")
    auth = _child(element, "auth_results")
    return Record(
        source_ip=source_ip,
        count=count,
        header_from=header_from,
        disposition=_lower(_text(evaluated, "disposition")),
        dkim=_lower(_text(evaluated, "dkim")),
        spf=_lower(_text(evaluated, "spf")),
        overrides=tuple(
            Override(_lower(_text(reason, "type")) or "other", _text(reason, "comment"))
            for reason in _children(evaluated, "reason")
        ),
        envelope_from=_domain(_text(identifiers, "envelope_from")),
        envelope_to=_domain(_text(identifiers, "envelope_to")),
        dkim_results=tuple(
            DkimAuth(
                domain=_domain(_text(item, "domain")) or "",
                selector=_text(item, "selector"),
                result=_lower(_text(item, "result")) or "none",
                human_result=_text(item, "human_result"),
            )
            for item in _children(auth, "dkim")
        ),
        spf_results=tuple(
            SpfAuth(
                domain=_domain(_text(item, "domain")) or "",
                scope=_lower(_text(item, "scope")),
                result=_lower(_text(item, "result")) or "none",
                human_result=_text(item, "human_result"),
            )
            for item in _children(auth, "spf")
        ),
    )


def render_xml(report: AggregateReport, *, namespace: str | None = None) -> bytes:
    """Write `report` as a `feedback` document (for fixtures, benchmarks, round trips).

    With `namespace` (e.g. `NS_DMARC2`) every element is qualified, as RFC 9990 asks.
    """
    prefix = f"{{{namespace}}}" if namespace else ""

    def sub(parent: ET.Element, name: str, text: object | None = None) -> ET.Element:
        element = ET.SubElement(parent, prefix + name)
        if text is not None:
            element.text = str(text)
        return element

    def opt(parent: ET.Element, name: str, text: object | None) -> None:
        if text is not None:
            sub(parent, name, text)

    if namespace:
        ET.register_namespace("", namespace)
    root = ET.Element(prefix + "feedback")
    opt(root, "version", report.version)
    meta = sub(root, "report_metadata")
    sub(meta, "org_name", report.org_name)
    opt(meta, "email", report.email)
    opt(meta, "extra_contact_info", report.extra_contact_info)
    sub(meta, "report_id", report.report_id)
    if report.begin is not None or report.end is not None:
        date_range = sub(meta, "date_range")
        opt(date_range, "begin", report.begin)
        opt(date_range, "end", report.end)
    for error in report.errors:
        sub(meta, "error", error)
    opt(meta, "generator", report.generator)
    policy = report.policy
    published = sub(root, "policy_published")
    sub(published, "domain", policy.domain)
    for name in ("discovery_method", "adkim", "aspf", "p", "sp", "np", "pct", "fo", "testing"):
        opt(published, name, getattr(policy, name))
    for record in report.records:
        element = sub(root, "record")
        row = sub(element, "row")
        sub(row, "source_ip", record.source_ip)
        sub(row, "count", record.count)
        evaluated = sub(row, "policy_evaluated")
        opt(evaluated, "disposition", record.disposition)
        opt(evaluated, "dkim", record.dkim)
        opt(evaluated, "spf", record.spf)
        for override in record.overrides:
            reason = sub(evaluated, "reason")
            sub(reason, "type", override.type)
            opt(reason, "comment", override.comment)
        identifiers = sub(element, "identifiers")
        opt(identifiers, "envelope_to", record.envelope_to)
        opt(identifiers, "envelope_from", record.envelope_from)
        sub(identifiers, "header_from", record.header_from)
        auth = sub(element, "auth_results")
        for dkim in record.dkim_results:
            item = sub(auth, "dkim")
            sub(item, "domain", dkim.domain)
            opt(item, "selector", dkim.selector)
            sub(item, "result", dkim.result)
            opt(item, "human_result", dkim.human_result)
        for spf in record.spf_results:
            item = sub(auth, "spf")
            sub(item, "domain", spf.domain)
            opt(item, "scope", spf.scope)
            sub(item, "result", spf.result)
            opt(item, "human_result", spf.human_result)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


# -- alignment and explanations -------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def simple_org_domain(name: str) -> str:
    """An offline stand-in for the Organizational Domain (no PSL, no DNS).

    The last two labels, or three when the second-to-last is a country's generic
    second level (`example.co.uk`). Wrong for private registries (`*.github.io`); use
    `walk_org_domains` when that matters.
    """
    labels = [label for label in name.strip().rstrip(".").lower().split(".") if label]
    if len(labels) <= 2:
        return ".".join(labels)
    if len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


async def walk_org_domains(ctx: ResolverContext, names: Iterable[str]) -> dict[str, str]:
    """Organizational Domains by the RFC 9989 DNS tree walk, all names concurrently.

    Names whose walk fails (timeout, SERVFAIL) fall back to `simple_org_domain`.
    """
    from console.auth.dmarc import discover_policy

    unique = sorted({name.strip().rstrip(".").lower() for name in names if name.strip()})
    found = await ctx.gather(*(discover_policy(ctx, name) for name in unique))
    return {
        name: discovery.org_domain or simple_org_domain(name)
        for name, discovery in zip(unique, found, strict=True)
    }


def org_domain_lookup(known: Mapping[str, str]) -> OrgDomain:
    """An OrgDomain function answering from `known`, else `simple_org_domain`."""

    def lookup(name: str) -> str:
        key = name.strip().rstrip(".").lower()
        return known.get(key) or simple_org_domain(key)

    return lookup


@dataclass(frozen=True, slots=True)
class RowVerdict:
    """One record, explained: did DMARC pass, what aligned, and what to fix."""

    record: Record
    dmarc: str
    """`pass` or `fail`: the receiver's verdict when it gave one, else ours."""
    dkim_aligned: bool
    """A DKIM signature passed with a domain aligned with header_from (by our count)."""
    spf_aligned: bool
    """SPF passed for a domain aligned with header_from (by our count)."""
    failures: tuple[str, ...] = ()
    """Why DMARC failed, one plain sentence per mechanism, each with the fix."""
    notes: tuple[str, ...] = ()
    """Worth knowing when it passed: one mechanism failing, overrides, disagreements."""
    ptr: str | None = None
    """The source's reverse DNS name, when it has one."""
    ptr_error: str | None = None
    """Why the reverse DNS is unknown (timeout, SERVFAIL, REFUSED), when it is."""

    @property
    def passed(self) -> bool:
        return self.dmarc == "pass"

    def to_dict(self) -> dict[str, Any]:
        record = self.record
        return {
            "source_ip": record.source_ip,
            "ptr": self.ptr,
            "ptr_error": self.ptr_error,
            "count": record.count,
            "disposition": record.disposition,
            "dkim": record.dkim,
            "spf": record.spf,
            "dmarc": self.dmarc,
            "dkim_aligned": self.dkim_aligned,
            "spf_aligned": self.spf_aligned,
            "header_from": record.header_from,
            "envelope_from": record.envelope_from,
            "envelope_to": record.envelope_to,
            "overrides": [{"type": o.type, "comment": o.comment} for o in record.overrides],
            "auth_results": {
                "dkim": [
                    {
                        "domain": d.domain,
                        "selector": d.selector,
                        "result": d.result,
                        "human_result": d.human_result,
                    }
                    for d in record.dkim_results
                ],
                "spf": [
                    {
                        "domain": s.domain,
                        "scope": s.scope,
                        "result": s.result,
                        "human_result": s.human_result,
                    }
                    for s in record.spf_results
                ],
            },
            "failures": list(self.failures),
            "notes": list(self.notes),
        }


_OVERRIDE_TEXT = {
    # RFC 9990 section 2.1.7 (local_policy, mailing_list, other, policy_test_mode,
    # trusted_forwarder) plus RFC 7489's forwarded and sampled_out, still sent.
    "policy_test_mode": "the policy was not applied because the DMARC record is in test "
    "mode (t=y): remove t=y to enforce it",
    "forwarded": "the receiver saw the message was forwarded and did not apply the policy",
    "sampled_out": "the message fell outside pct= sampling, so the policy was not applied",
    "trusted_forwarder": "a forwarder the receiver trusts (e.g. ARC) vouched for the message",
    "mailing_list": "the receiver recognised a mailing list and did not apply the policy",
    "local_policy": "the receiver's own policy overrode the domain's",
    "other": "the receiver overrode the policy",
}


def explain(
    record: Record, policy: PolicyPublished, org: OrgDomain = simple_org_domain
) -> RowVerdict:
    """Recompute alignment for `record` under `policy` and say what failed and why."""
    author = record.header_from
    adkim = (policy.adkim or "r")[:1]
    aspf = (policy.aspf or "r")[:1]
    author_org = org(author)

    def lines_up(identifier: str, mode: str) -> bool:
        return bool(identifier) and _aligned(author, identifier, mode, author_org, org(identifier))

    dkim_ok = any(d.result == "pass" and lines_up(d.domain, adkim) for d in record.dkim_results)
    # RFC 7489 3.1.2: SPF's identity is MAIL FROM (HELO only when MAIL FROM is empty).
    mfrom = [s for s in record.spf_results if s.scope in (None, "mfrom")]
    spf_checked = mfrom or list(record.spf_results)
    spf_ok = any(s.result == "pass" and lines_up(s.domain, aspf) for s in spf_checked)
    ours = dkim_ok or spf_ok
    if record.dkim is None and record.spf is None:
        verdict = ours
    else:
        verdict = record.dkim == "pass" or record.spf == "pass"
    dkim_why = None if dkim_ok else _dkim_problem(record, author, adkim, lines_up)
    spf_why = (
        None if spf_ok else _spf_problem(record, spf_checked, author, aspf, author_org, lines_up)
    )
    notes: list[str] = []
    failures: list[str] = []
    problems = [why for why in (dkim_why, spf_why) if why]
    if verdict:
        notes.extend(problems)
    else:
        failures.extend(problems)
    if verdict != ours:
        said = f"DKIM {record.dkim or '-'}, SPF {record.spf or '-'}"
        if verdict:
            notes.append(
                f"the receiver's verdict ({said}) differs from the results listed, none of "
                "which aligns: it may have trusted ARC or found another Organizational Domain"
            )
        else:
            failures.append(
                f"the receiver's verdict ({said}) differs from the results listed, which "
                "align here: it may place the Organizational Domain elsewhere (try --tree-walk)"
            )
    for override in record.overrides:
        text = _OVERRIDE_TEXT.get(
            override.type, f"the receiver overrode the policy ({override.type})"
        )
        notes.append(text + (f": {override.comment}" if override.comment else ""))
    return RowVerdict(
        record=record,
        dmarc="pass" if verdict else "fail",
        dkim_aligned=dkim_ok,
        spf_aligned=spf_ok,
        failures=tuple(failures),
        notes=tuple(notes),
    )


def _dkim_problem(
    record: Record, author: str, mode: str, lines_up: Callable[[str, str], bool]
) -> str:
    exact = " (adkim=s: exactly this name)" if mode == "s" else ""
    signatures = [d for d in record.dkim_results if d.result != "none" or d.domain]
    if not signatures:
        return f"DKIM: no signature: sign with d={author}{exact}"
    for dkim in signatures:
        if dkim.result == "pass":
            continue
        if lines_up(dkim.domain, mode):
            selector = dkim.selector or "SELECTOR"
            return (
                f"DKIM signature d={dkim.domain} s={selector} did not verify ({dkim.result}): "
                f"check the key at {selector}._domainkey.{dkim.domain} and that nothing "
                "rewrites the message after signing"
            )
    passing = [d.domain for d in signatures if d.result == "pass" and d.domain]
    if passing:
        names = ", ".join(dict.fromkeys(passing))
        return f"DKIM signed by {names}, not {author}: sign with d={author}{exact}"
    failing = signatures[0]
    return (
        f"DKIM signature d={failing.domain or '?'} did not verify ({failing.result}) and does "
        f"not align anyway: sign with d={author}{exact}"
    )


def _spf_problem(
    record: Record,
    checked: Sequence[SpfAuth],
    author: str,
    mode: str,
    author_org: str,
    lines_up: Callable[[str, str], bool] | None = None,
) -> str:
    target = author if mode == "s" else author_org
    under = f"exactly {author} (aspf=s)" if mode == "s" else f"under {target}"
    if not checked:
        return f"SPF: no result reported: use a Return-Path domain {under} with an SPF record"
    passing = [s.domain for s in checked if s.result == "pass" and s.domain]
    if passing:
        names = ", ".join(dict.fromkeys(passing))
        return (
            f"SPF passed for {names} but does not align with {author}: use a Return-Path "
            f"(bounce) domain {under}"
        )
    spf = checked[0]
    name = spf.domain or "?"
    ip = record.source_ip
    if spf.domain and lines_up is not None and not lines_up(spf.domain, mode):
        # Fixing this domain's SPF record would not help DMARC: it does not align.
        return (
            f"SPF {spf.result} for {name}, which does not align with {author} anyway: "
            f"use a Return-Path (bounce) domain {under} whose SPF record lists {ip}'s service"
        )
    if spf.result in ("fail", "softfail"):
        return (
            f"SPF {spf.result} for {name}: {ip} is not in its SPF record: add the service "
            f"sending from {ip} to {name}'s SPF record, or stop it sending as {author}"
        )
    if spf.result == "neutral":
        return f"SPF neutral for {name}: its record does not vouch for {ip}: list {ip}'s service"
    if spf.result == "none":
        return f"SPF: {name} has no SPF record: publish one listing {ip}'s service"
    if spf.result == "temperror":
        return f"SPF temperror for {name}: the receiver's DNS lookups failed (transient)"
    if spf.result == "permerror":
        return f"SPF permerror for {name}: its SPF record is broken: run mailscope check {name}"
    return f"SPF {spf.result} for {name}"


def iso(seconds: int | None) -> str | None:
    """Epoch seconds as `2026-11-26T00:00:00Z`."""
    if seconds is None:
        return None
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(slots=True)
class ReportResult:
    """A parsed report file with every row explained: what the command prints."""

    source: str
    report: AggregateReport
    rows: list[RowVerdict]
    file: str = ""
    """The file the report came from (`source` less any zip member)."""
    duplicate: bool = False
    """Another file already held this reporter's report_id (the summary counts it once)."""

    @property
    def passed(self) -> int:
        return sum(row.record.count for row in self.rows if row.passed)

    @property
    def failed(self) -> int:
        return sum(row.record.count for row in self.rows if not row.passed)

    def to_dict(self) -> dict[str, Any]:
        report = self.report
        return {
            "file": self.source,
            "schema": report.schema,
            "version": report.version,
            "org_name": report.org_name,
            "email": report.email,
            "report_id": report.report_id,
            "generator": report.generator,
            "domain": report.policy.domain,
            "begin": iso(report.begin),
            "end": iso(report.end),
            "policy": report.policy.to_dict(),
            "count": report.total,
            "pass": self.passed,
            "fail": self.failed,
            "duplicate": self.duplicate,
            "errors": list(report.errors),
            "warnings": list(report.warnings),
            "extensions": list(report.extensions),
            "rows": [row.to_dict() for row in self.rows],
        }


def analyse(
    source: str, report: AggregateReport, org: OrgDomain = simple_org_domain, file: str = ""
) -> ReportResult:
    """Explain every row of `report` (`file`: the file it came from, when `source` is a
    zip member)."""
    rows = [explain(record, report.policy, org) for record in report.records]
    return ReportResult(source, report, rows, file=file or source)


@dataclass(frozen=True, slots=True)
class Loaded:
    """A parsed report and where it came from."""

    source: str
    file: str
    report: AggregateReport


def load_reports(
    paths: Iterable[str | Path], stdin: BinaryIO | None = None
) -> Iterator[Loaded | Problem]:
    """Each report found in `paths` (parsed), or a Problem for what had to be skipped."""
    for item in read_inputs(paths, stdin=stdin):
        if isinstance(item, Problem):
            yield item
            continue
        yield _parse_document(item)


def _parse_document(document: Document) -> Loaded | Problem:
    try:
        return Loaded(
            document.source, document.file or document.source, parse_report(document.data)
        )
    except ReportError as exc:
        return Problem(document.source, str(exc))


# -- reverse DNS -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ptr:
    """A source's reverse DNS: its name, none (NXDOMAIN/NODATA), or why it is unknown."""

    name: str | None = None
    error: str | None = None


async def reverse_names(ctx: ResolverContext, addresses: Iterable[str]) -> dict[str, Ptr]:
    """PTR names for `addresses`, asked concurrently through `ctx` (its timeout applies)."""
    import dns.exception
    import dns.reversename

    unique = sorted(set(addresses))

    async def one(address: str) -> Ptr:
        try:
            name = dns.reversename.from_address(address).to_text(omit_final_dot=True)
        except (ValueError, dns.exception.DNSException) as exc:
            return Ptr(error=f"not an address: {exc}")
        # The context's own timeout bounds each question; this one bounds retries too.
        try:
            async with asyncio.timeout(ctx.timeout * 2 + 1):
                lookup = await ctx.query(name, "PTR")
        except TimeoutError:
            return Ptr(error="no answer in time")
        if lookup.failed:
            return Ptr(error=lookup.error or "lookup failed")
        targets = sorted(
            record.target.to_text(omit_final_dot=True)
            for record in lookup.records
            if hasattr(record, "target")
        )
        return Ptr(name=targets[0] if targets else None)

    found = await ctx.gather(*(one(address) for address in unique))
    return dict(zip(unique, found, strict=True))


def attach_ptrs(results: Iterable[ReportResult], ptrs: Mapping[str, Ptr]) -> None:
    """Put each source's PTR name on its rows."""
    from dataclasses import replace

    for result in results:
        result.rows = [
            replace(
                row,
                ptr=ptrs[row.record.source_ip].name,
                ptr_error=ptrs[row.record.source_ip].error,
            )
            if row.record.source_ip in ptrs
            else row
            for row in result.rows
        ]


# -- the summary across files -------------------------------------------------------


@dataclass(slots=True)
class SourceSummary:
    """One sending IP across every report."""

    source_ip: str
    ptr: str | None = None
    ptr_error: str | None = None
    count: int = 0
    passed: int = 0
    failed: int = 0
    header_from: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)

    @property
    def top_reason(self) -> str | None:
        return self.reasons.most_common(1)[0][0] if self.reasons else None

    def top_reasons(self, limit: int = 2) -> list[str]:
        """The most frequent failure reasons (usually one for DKIM, one for SPF)."""
        return [reason for reason, _ in self.reasons.most_common(limit)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "source_ip": self.source_ip,
            "ptr": self.ptr,
            "ptr_error": self.ptr_error,
            "count": self.count,
            "pass": self.passed,
            "fail": self.failed,
            "header_from": sorted(self.header_from),
            "reason": self.top_reason,
            "reasons": self.top_reasons(),
        }


@dataclass(slots=True)
class DomainSummary:
    """One policy domain: its published policy (the latest report's) and its volumes."""

    domain: str
    policy: PolicyPublished
    latest: int = -1
    reports: int = 0
    reporters: set[str] = field(default_factory=set)
    count: int = 0
    passed: int = 0
    failed: int = 0
    begin: int | None = None
    """The earliest reporting period start across its reports (epoch seconds)."""
    end: int | None = None
    """The latest reporting period end across its reports."""
    extensions: dict[str, None] = field(default_factory=dict)
    """RFC 9990 extensions seen in its reports (ordered, each once)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.policy.to_dict(),
            "begin": iso(self.begin),
            "end": iso(self.end),
            "reports": self.reports,
            "reporters": sorted(self.reporters),
            "extensions": list(self.extensions),
            "count": self.count,
            "pass": self.passed,
            "fail": self.failed,
        }


@dataclass(slots=True)
class Summary:
    """Everything read, summed up: sources, volumes, worst offenders, policies."""

    files: int = 0
    reports: int = 0
    duplicates: int = 0
    skipped: list[Problem] = field(default_factory=list)
    count: int = 0
    passed: int = 0
    failed: int = 0
    sources: dict[str, SourceSummary] = field(default_factory=dict)
    domains: dict[str, DomainSummary] = field(default_factory=dict)

    def top_failing(self, limit: int = 10) -> list[SourceSummary]:
        failing = [source for source in self.sources.values() if source.failed]
        failing.sort(key=lambda source: (-source.failed, source.source_ip))
        return failing[:limit]

    def by_volume(self) -> list[SourceSummary]:
        return sorted(self.sources.values(), key=lambda s: (-s.count, s.source_ip))

    def to_dict(self, limit: int = 10) -> dict[str, Any]:
        return {
            "files": self.files,
            "reports": self.reports,
            "duplicates": self.duplicates,
            "skipped": [{"file": p.source, "error": p.message} for p in self.skipped],
            "count": self.count,
            "pass": self.passed,
            "fail": self.failed,
            "sources": [source.to_dict() for source in self.by_volume()],
            "top_failing": [source.to_dict() for source in self.top_failing(limit)],
            "domains": [self.domains[name].to_dict() for name in sorted(self.domains)],
        }


def mark_duplicates(results: Sequence[ReportResult]) -> None:
    """Flag reports seen before (same reporter and report_id, e.g. a file given twice)."""
    seen: set[tuple[str, str, str]] = set()
    for result in results:
        report = result.report
        key = (report.org_name, report.report_id, report.policy.domain)
        result.duplicate = bool(report.report_id) and key in seen
        seen.add(key)


class SummaryBuilder:
    """`summarise`, one report at a time, so a reader of thousands of reports (the
    console's thread) keeps the running totals, not every row of every report."""

    def __init__(self, *, detect_duplicates: bool = False) -> None:
        self.summary = Summary()
        """The totals so far (PTR names are put on by `build`)."""
        self._detect = detect_duplicates
        self._seen: set[tuple[str, str, str]] = set()
        self._files: set[str] = set()

    def skip(self, problem: Problem) -> None:
        self.summary.skipped.append(problem)

    def add(self, result: ReportResult) -> None:
        """Fold `result` in; with `detect_duplicates`, mark it as `mark_duplicates` would."""
        summary = self.summary
        summary.reports += 1
        self._files.add(result.file or result.source)
        summary.files = len(self._files)
        report = result.report
        if self._detect:
            key = (report.org_name, report.report_id, report.policy.domain)
            result.duplicate = bool(report.report_id) and key in self._seen
            self._seen.add(key)
        if result.duplicate:
            summary.duplicates += 1
            return
        policy = report.policy
        domain = summary.domains.get(policy.domain)
        if domain is None:
            domain = summary.domains[policy.domain] = DomainSummary(policy.domain, policy)
        stamp = report.end if report.end is not None else -1
        if stamp >= domain.latest:
            domain.policy, domain.latest = policy, stamp
        domain.reports += 1
        if report.org_name:
            domain.reporters.add(report.org_name)
        if report.begin is not None:
            domain.begin = report.begin if domain.begin is None else min(domain.begin, report.begin)
        if report.end is not None:
            domain.end = report.end if domain.end is None else max(domain.end, report.end)
        for name in report.extensions:
            domain.extensions.setdefault(name)
        for row in result.rows:
            record = row.record
            source = summary.sources.get(record.source_ip)
            if source is None:
                source = summary.sources[record.source_ip] = SourceSummary(record.source_ip)
            source.count += record.count
            source.header_from[record.header_from] += record.count
            domain.count += record.count
            summary.count += record.count
            if row.passed:
                source.passed += record.count
                domain.passed += record.count
                summary.passed += record.count
            else:
                source.failed += record.count
                domain.failed += record.count
                summary.failed += record.count
                for reason in row.failures:
                    source.reasons[reason] += record.count

    def build(self, ptrs: Mapping[str, Ptr] | None = None) -> Summary:
        """The summary, with each source's reverse DNS from `ptrs`."""
        for address, source in self.summary.sources.items():
            ptr = (ptrs or {}).get(address)
            if ptr is not None:
                source.ptr, source.ptr_error = ptr.name, ptr.error
        return self.summary


def summarise(
    results: Sequence[ReportResult],
    skipped: Sequence[Problem] = (),
    ptrs: Mapping[str, Ptr] | None = None,
) -> Summary:
    """Sum `results` (duplicates, as `mark_duplicates` flagged them, counted once) into
    sources, volumes and domains."""
    builder = SummaryBuilder()
    for result in results:
        builder.add(result)
    for problem in skipped:
        builder.skip(problem)
    return builder.build(ptrs)
