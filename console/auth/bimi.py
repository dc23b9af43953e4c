"""BIMI (Brand Indicators for Message Identification): the logo shown next to your mail.

BIMI is optional, so its absence is not a fault. When a record is published, though,
each piece has to be right or no mailbox shows the logo: DMARC at enforcement
(quarantine or reject, subdomains too), a logo in the SVG Tiny Portable/Secure profile
of at most 32 KB behind HTTPS, and, for Gmail and Apple Mail, a Verified or Common Mark
Certificate (VMC/CMC) at the `a=` URL. The check fetches both files the way a mailbox
provider does and inspects them.
"""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as StdET
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import defusedxml.ElementTree as SafeET
from cryptography import x509
from cryptography.x509.oid import ExtensionOID, ObjectIdentifier
from defusedxml import DefusedXmlException

from console.auth.dmarc import DmarcDiscovery, discover_policy, parse_dmarc
from console.auth.dmarc import suggested_record as dmarc_suggested_record
from console.auth.https import FetchErrorKind, FetchResult, fetch
from console.auth.options import AuditOptions
from console.auth.records import parse_tags, txt_record
from console.auth.resolver import Lookup, ResolverContext
from console.model import CheckResult, Finding, Status

CHECK_ID = "bimi"

SELECTOR = "default"

MAX_LOGO_BYTES = 32 * 1024
"""Mailbox providers refuse BIMI SVG files over 32 KB."""

MAX_EVIDENCE_BYTES = 128 * 1024
"""A VMC chain with its embedded logo is tens of KB; more is not a certificate."""

BIMI_USAGE = ObjectIdentifier("1.3.6.1.5.5.7.3.31")
"""id-kp-BrandIndicatorforMessageIdentification: the extended key usage of a VMC/CMC."""

BIMI_TAGS: dict[str, str] = {
    "v": "Version: must be BIMI1 and come first.",
    "l": "Location of the logo: one https:// URL of an SVG Tiny PS file (at most 32 KB). "
    "Empty together with a= empty means the domain declines to show a logo.",
    "a": "Authority evidence: an https:// URL of the PEM-encoded VMC or CMC proving the "
    "right to the logo. Gmail and Apple Mail show logos only with one.",
    "avp": "Avatar preference: `brand` (show the logo) or `personal` (prefer the "
    "sender's own avatar where the provider has one).",
    "lps": "Local-part selectors: which local parts of addresses use this record.",
}
"""What each tag of a BIMI record means, for the console's help."""

SVG_CHECKS: dict[str, str] = {
    "parsed": "The file is well-formed XML with an <svg> root element.",
    "version": 'The root element says version="1.2".',
    "base_profile": 'The root element says baseProfile="tiny-ps".',
    "title": "The root element has a non-empty <title> (the brand name).",
    "no_script": "No <script>, <foreignObject> or on...= event handlers.",
    "no_animation": "No animation elements (<animate>, <set>, ...).",
    "no_external_refs": "No reference to anything outside the file (href to http:, files).",
    "no_xy": "No x= or y= attribute on the root element.",
    "square": "The viewBox (or width and height) is square.",
}
"""The SVG Tiny Portable/Secure requirements checked, by key of `data["svg"]`."""

_SVG_NS = "http://www.w3.org/2000/svg"
_XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
_ANIMATION = {"animate", "animateMotion", "animateColor", "animateTransform", "set"}
_SCRIPTING = {"script", "foreignObject", "handler"}


@dataclass(slots=True)
class BimiRecord:
    """One parsed BIMI record.

    Attributes:
        record: the text as published.
        logo_url: the `l=` URL ("" when empty, None when absent).
        authority_url: the `a=` URL ("" when empty, None when absent).
        avp: the avatar preference, when given.
        errors: what makes the record unusable.
    """

    record: str
    logo_url: str | None = None
    authority_url: str | None = None
    avp: str | None = None
    extensions: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def declined(self) -> bool:
        """`l=` and `a=` both empty: the domain explicitly declines to show a logo."""
        return not self.logo_url and not self.authority_url and not self.errors


def is_bimi_record(text: str) -> bool:
    """Whether a TXT string is a BIMI record candidate (`v=BIMI1` first)."""
    return re.match(r"v\s*=\s*BIMI1\s*(;|$)", text) is not None


def parse_record(text: str) -> BimiRecord:
    """Parse a BIMI record; never raises.

    >>> parse_record("v=BIMI1; l=https://example.com/logo.svg;").logo_url
    'https://example.com/logo.svg'
    """
    result = BimiRecord(text)
    tags = parse_tags(text)
    if not tags or tags[0] != ("v", "BIMI1"):
        where = next((i for i, (tag, _) in enumerate(tags) if tag == "v"), None)
        result.errors.append(
            "`v=BIMI1` must come first" if where else "the record must start with `v=BIMI1`"
        )
    seen: set[str] = set()
    for tag, value in tags:
        if tag in seen:
            result.errors.append(f"`{tag}=` appears more than once")
            continue
        seen.add(tag)
        if tag == "v":
            continue
        if tag in ("l", "a"):
            if value and "," in value:
                result.errors.append(f"`{tag}=` must hold one URL, not a list")
            elif value and urlsplit(value).scheme.lower() != "https":
                result.errors.append(f"`{tag}={value}` must be an https:// URL")
            elif value and not urlsplit(value).hostname:
                result.errors.append(f"`{tag}={value}` has no host")
            if tag == "l":
                result.logo_url = value
            else:
                result.authority_url = value
        elif tag == "avp":
            result.avp = value
            if value not in ("brand", "personal"):
                result.errors.append(f"`avp={value}` must be brand or personal")
        elif not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", tag):
            result.errors.append(f"{tag!r} is not a valid tag name")
        else:
            result.extensions[tag] = value
    if result.logo_url is None and not result.errors:
        result.errors.append("the `l=` tag (the logo URL) is missing")
    return result


# -- the logo ----------------------------------------------------------------------------


def _local(tag: object) -> str:
    return str(tag).rpartition("}")[2]


def _numbers(text: str | None) -> list[float] | None:
    if not text:
        return None
    try:
        return [float(part) for part in re.split(r"[\s,]+", text.strip()) if part]
    except ValueError:
        return None


def check_svg(body: bytes) -> dict[str, bool]:
    """The SVG Tiny PS requirements (keys of SVG_CHECKS) as met or not; never raises.

    Parsed with defusedxml: entity expansion and external entities are refused, so a
    hostile file cannot blow up memory or make the parser fetch anything.
    """
    checks = dict.fromkeys(SVG_CHECKS, False)
    try:
        root = SafeET.fromstring(body)
    except (StdET.ParseError, DefusedXmlException, ValueError, UnicodeError):
        return checks
    if root.tag not in (f"{{{_SVG_NS}}}svg", "svg"):
        return checks
    checks["parsed"] = True
    checks["version"] = root.get("version") == "1.2"
    checks["base_profile"] = root.get("baseProfile") == "tiny-ps"
    title = next((child for child in root if _local(child.tag) == "title"), None)
    checks["title"] = title is not None and bool("".join(title.itertext()).strip())
    scripting = animation = external = False
    for element in root.iter():
        name = _local(element.tag)
        scripting |= name in _SCRIPTING
        animation |= name in _ANIMATION
        for attribute, value in element.attrib.items():
            local = _local(attribute)
            scripting |= local.lower().startswith("on")
            if attribute == _XLINK_HREF or local == "href":
                reference = value.strip()
                external |= not (reference.startswith("#") or reference.startswith("data:"))
            elif "url(" in value and not re.search(r"url\(\s*['\"]?#", value):
                external = True
    checks["no_script"] = not scripting
    checks["no_animation"] = not animation
    checks["no_external_refs"] = not external
    checks["no_xy"] = root.get("x") is None and root.get("y") is None
    box = _numbers(root.get("viewBox"))
    if box and len(box) == 4:
        checks["square"] = box[2] > 0 and box[2] == box[3]
    else:
        size = (_numbers(root.get("width")), _numbers(root.get("height")))
        checks["square"] = bool(size[0]) and size[0] == size[1]
    return checks


_SVG_PROBLEMS = {
    "parsed": "not a well-formed SVG file",
    "version": 'version is not "1.2"',
    "base_profile": 'baseProfile is not "tiny-ps"',
    "title": "no <title>",
    "no_script": "scripts or event handlers",
    "no_animation": "animation",
    "no_external_refs": "references to external files or URLs",
    "no_xy": "x= or y= on the <svg> element",
    "square": "not square",
}

_SVG_FIXES = {
    "parsed": "export the logo as SVG (a well-formed XML file with an <svg> root)",
    "version": 'set version="1.2" on the <svg> element',
    "base_profile": 'set baseProfile="tiny-ps" on the <svg> element',
    "title": "add <title>Your Brand</title> as the first child of <svg>",
    "no_script": "remove <script>, <foreignObject> and on...= attributes",
    "no_animation": "remove animation elements",
    "no_external_refs": "embed everything instead of linking to other files or URLs",
    "no_xy": "remove x= and y= from the <svg> element",
    "square": 'make the artwork square, e.g. viewBox="0 0 100 100"',
}


# -- the evidence document -----------------------------------------------------------------


def describe_certificate(
    pem: bytes, domains: tuple[str, ...], now: dt.datetime | None = None
) -> tuple[dict[str, Any] | None, list[str]]:
    """The leaf of a PEM VMC/CMC chain as data, and the problems found with it.

    Args:
        pem: the file served at `a=`.
        domains: names the certificate must cover (the domain or its org domain).
        now: the time to judge validity at (default: now).

    Returns:
        ({subject, issuer, not_before, not_after, names, bimi_usage}, problems); the
        dict is None when no certificate could be read.
    """
    moment = now or dt.datetime.now(dt.UTC)
    try:
        chain = x509.load_pem_x509_certificates(pem)
    except ValueError:
        return None, ["it is not a PEM certificate (-----BEGIN CERTIFICATE-----)"]
    leaf = chain[0]
    try:
        names = [
            name.lower()
            for name in leaf.extensions.get_extension_for_oid(
                ExtensionOID.SUBJECT_ALTERNATIVE_NAME
            ).value.get_values_for_type(x509.DNSName)
        ]
    except (x509.ExtensionNotFound, ValueError):
        names = []
    try:
        usages = leaf.extensions.get_extension_for_oid(ExtensionOID.EXTENDED_KEY_USAGE).value
        bimi_usage = BIMI_USAGE in list(usages)
    except (x509.ExtensionNotFound, ValueError):
        bimi_usage = False
    info: dict[str, Any] = {
        "subject": leaf.subject.rfc4514_string(),
        "issuer": leaf.issuer.rfc4514_string(),
        "not_before": leaf.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "not_after": leaf.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "names": names,
        "bimi_usage": bimi_usage,
    }
    problems: list[str] = []
    if leaf.not_valid_after_utc < moment:
        problems.append(f"it expired on {info['not_after'][:10]}")
    if leaf.not_valid_before_utc > moment:
        problems.append(f"it is not valid before {info['not_before'][:10]}")
    if not bimi_usage:
        problems.append("it is not a VMC or CMC (no BIMI extended key usage 1.3.6.1.5.5.7.3.31)")
    if names and not any(name in domains for name in names):
        problems.append(f"it is issued for {', '.join(names[:4])}, not {domains[0]}")
    return info, problems


# -- DMARC prerequisite -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DmarcGate:
    """Whether DMARC is strict enough for BIMI, and what to publish if not.

    Attributes:
        policy: the policy receivers apply to the domain (p, or the org's sp).
        problem: why DMARC does not meet BIMI's bar, or None when it does.
        fix_owner: where the record to change lives.
        fix_record: the record to publish there.
    """

    policy: str | None
    problem: str | None = None
    fix_owner: str | None = None
    fix_record: str | None = None


_ENFORCED = ("quarantine", "reject")


def dmarc_gate(discovery: DmarcDiscovery) -> DmarcGate:
    """BIMI's DMARC requirement: p=quarantine or reject for the domain, the org
    domain's subdomain policy not none, and no pct below 100 (RFC 7489 receivers)."""
    domain = discovery.domain
    org = discovery.org_domain or domain
    policy = discovery.applied_policy()
    if discovery.parsed is None or discovery.record is None:
        return DmarcGate(
            None,
            f"{domain} has no DMARC record",
            f"_dmarc.{org}",
            f"v=DMARC1; p=quarantine; rua=mailto:dmarc-reports@{org}",
        )
    where = discovery.policy_domain or domain
    parsed = discovery.parsed
    org_step = next((step for step in discovery.steps if step.domain == org and step.record), None)
    org_parsed = parse_dmarc(org_step.record) if org_step and org_step.record else parsed
    subdomains = org_parsed.applied_policy(subdomain=True)
    pct = parsed.tags.get("pct", "100").strip()
    problem: str | None = None
    target, target_parsed = where, parsed
    if policy not in _ENFORCED:
        problem = f"the DMARC policy for {domain} is {policy or 'missing'} (from _dmarc.{where})"
    elif subdomains not in _ENFORCED:
        problem = f"the DMARC record of {org} sets sp={subdomains} for its subdomains"
        target, target_parsed = org, org_parsed
    elif pct.isdigit() and int(pct) < 100:
        problem = f"the DMARC record at _dmarc.{where} applies only to pct={pct}% of mail"
    if problem is None:
        return DmarcGate(policy)
    raised = {
        "p": "quarantine" if target_parsed.policy not in _ENFORCED else None,
        "sp": "quarantine"
        if target_parsed.subdomain_policy is not None
        and target_parsed.subdomain_policy not in _ENFORCED
        else None,
    }
    # suggested_record keeps what the record validly says and drops pct (removed in RFC 9989).
    record = dmarc_suggested_record(target_parsed, p=raised["p"], sp=raised["sp"])
    return DmarcGate(policy, problem, f"_dmarc.{target}", record)


# -- the check ---------------------------------------------------------------------------


def owner_name(domain: str, selector: str = SELECTOR) -> str:
    """Where the BIMI record of `domain` lives."""
    return f"{selector}._bimi.{domain}"


def _https(url: str | None) -> str | None:
    """`url` as an https URL (an http one upgraded), or None when it is no usable URL."""
    if not url or "," in url:
        return None
    parts = urlsplit(url)
    if not parts.hostname or parts.scheme.lower() not in ("http", "https"):
        return None
    return parts._replace(scheme="https").geturl()


def suggested_record(
    domain: str, record: BimiRecord | None = None, *, owner: str | None = None
) -> str:
    """A BIMI record to publish: the published URLs where usable, else ones on the domain."""
    logo = _https(record.logo_url if record else None) or f"https://{domain}/bimi/logo.svg"
    authority = _https(record.authority_url if record else None)
    authority = authority or f"https://{domain}/bimi/vmc.pem"
    return txt_record(owner or owner_name(domain), f"v=BIMI1; l={logo}; a={authority}")


def _dns_error(what: str, lookup_text: str) -> Finding:
    return Finding(
        "bimi.dns-error",
        Status.ERROR,
        f"Could not look up {what}: {lookup_text}.",
        "Check that the domain's nameservers answer, then run the check again.",
    )


def _candidates(lookup: Lookup) -> list[str]:
    texts = lookup.texts()
    # A record with v=BIMI1 out of place is ignored by providers, but it is plainly
    # meant as BIMI: report it as invalid rather than as missing.
    return [t for t in texts if is_bimi_record(t)] or [t for t in texts if "BIMI1" in t]


async def _find_record(
    ctx: ResolverContext, domain: str, org: str, own: Lookup
) -> tuple[list[str], str, Lookup | None]:
    """BIMI candidates at the domain, else at its org domain; (records, owner, failed)."""
    if own.failed:
        return [], owner_name(domain), own
    found = _candidates(own)
    if found or org == domain:
        return found, owner_name(domain), None
    fallback = await ctx.query(owner_name(org), "TXT")
    if fallback.failed:
        return [], owner_name(org), fallback
    found = _candidates(fallback)
    return found, owner_name(org) if found else owner_name(domain), None


async def check_bimi(ctx: ResolverContext, domain: str, options: AuditOptions) -> CheckResult:
    """Check the BIMI record of `domain`, its DMARC prerequisite, logo and certificate.

    Args:
        ctx: how to ask DNS; also how the logo and certificate are fetched.
        domain: the normalized mail domain.
        options: unused; part of the common check signature.

    Returns:
        CheckResult "bimi" with data `record`, `owner`, `logo_url`, `authority_url`,
        `svg` (SVG_CHECKS key -> bool, plus `size`), `certificate` ({subject, issuer,
        not_before, not_after, names, bimi_usage} or None), `dmarc_policy`. No record is
        status skip: BIMI is optional.
    """
    del options
    # The tree walk and the domain's own record are asked at once; the org domain's
    # record only when the domain has none (and the walk says the org differs).
    discovery, own = await ctx.gather(
        discover_policy(ctx, domain), ctx.query(owner_name(domain), "TXT")
    )
    org = discovery.org_domain or domain
    records, owner, failed = await _find_record(ctx, domain, org, own)
    gate = dmarc_gate(discovery)
    data: dict[str, Any] = {
        "record": records[0] if records else None,
        "owner": owner,
        "logo_url": None,
        "authority_url": None,
        "svg": None,
        "certificate": None,
        "dmarc_policy": gate.policy,
    }
    if failed is not None:
        return CheckResult.from_findings(
            CHECK_ID,
            "BIMI could not be checked",
            [_dns_error("the BIMI record", failed.describe())],
            data,
        )
    if not records:
        finding = Finding(
            "bimi.missing",
            Status.SKIP,
            f"{domain} publishes no BIMI record (optional): mailboxes that support BIMI "
            "show a generic avatar instead of your logo.",
            "To show your logo: enforce DMARC (p=quarantine or reject), host an SVG Tiny PS "
            "logo and, for Gmail and Apple Mail, a VMC or CMC, then publish "
            + suggested_record(domain),
        )
        return CheckResult.from_findings(
            CHECK_ID, "no BIMI record (optional)", [finding], data, floor=Status.SKIP
        )

    findings: list[Finding] = []
    if len(records) > 1:
        findings.append(
            Finding(
                "bimi.syntax",
                Status.FAIL,
                f"{owner} has {len(records)} BIMI records; providers then use none.",
                "Keep exactly one, e.g. "
                + suggested_record(domain, parse_record(records[0]), owner=owner),
                suggested_record(domain, parse_record(records[0]), owner=owner),
            )
        )
    record = parse_record(records[0])
    data["logo_url"] = record.logo_url
    data["authority_url"] = record.authority_url
    if record.errors:
        findings.append(
            Finding(
                "bimi.syntax",
                Status.FAIL,
                f"The BIMI record {record.record!r} is invalid ("
                + "; ".join(record.errors)
                + "), so no logo is shown.",
                "Publish " + suggested_record(domain, record, owner=owner),
                suggested_record(domain, record, owner=owner),
            )
        )
    if record.declined:
        return CheckResult.from_findings(
            CHECK_ID,
            "BIMI declined: the record asks for no logo",
            findings,
            data,
            floor=Status.SKIP,
        )

    if discovery.error is not None and discovery.record is None:
        findings.append(_dns_error("the DMARC policy BIMI requires", discovery.error))
    elif gate.problem is not None:
        findings.append(
            Finding(
                "bimi.dmarc-not-enforced",
                Status.FAIL,
                f"BIMI needs DMARC at enforcement, but {gate.problem}; providers show no "
                "logo until spoofed mail is quarantined or rejected.",
                "Move DMARC to enforcement once reports show your mail passes: "
                + txt_record(gate.fix_owner or f"_dmarc.{org}", gate.fix_record or ""),
                txt_record(gate.fix_owner or f"_dmarc.{org}", gate.fix_record)
                if gate.fix_record
                else None,
            )
        )

    logo_ok = record.logo_url and urlsplit(record.logo_url).scheme.lower() == "https"
    evidence_ok = record.authority_url and urlsplit(record.authority_url).scheme.lower() == "https"
    logo, evidence = await ctx.gather(
        _maybe_fetch(ctx, record.logo_url if logo_ok else None, MAX_LOGO_BYTES),
        _maybe_fetch(ctx, record.authority_url if evidence_ok else None, MAX_EVIDENCE_BYTES),
    )
    if logo is not None:
        findings.extend(_logo_findings(domain, logo, data))
    if not record.authority_url:
        findings.append(
            Finding(
                "bimi.no-vmc",
                Status.WARN,
                "The record names no VMC or CMC (a=): Gmail and Apple Mail display BIMI "
                "logos only with one, so most recipients will not see the logo.",
                "Get a Verified Mark Certificate (registered trademark) or Common Mark "
                "Certificate from a BIMI certificate authority, serve its PEM file over "
                "HTTPS, and publish " + suggested_record(domain, record, owner=owner),
            )
        )
    elif evidence is not None:
        findings.extend(_evidence_findings(domain, org, evidence, data))
    return CheckResult.from_findings(CHECK_ID, _summary(findings, data), findings, data)


async def _maybe_fetch(ctx: ResolverContext, url: str | None, limit: int) -> FetchResult | None:
    if not url:
        return None
    return await fetch(ctx, url, max_bytes=limit)


def _logo_findings(domain: str, result: FetchResult, data: dict[str, Any]) -> list[Finding]:
    url = result.url
    if result.error_kind is FetchErrorKind.DNS_ERROR:
        return [_dns_error(f"the logo host of {url}", result.error or "")]
    if result.error_kind is FetchErrorKind.TOO_LARGE:
        return [
            Finding(
                "bimi.logo-too-large",
                Status.FAIL,
                f"The logo at {url} is larger than {MAX_LOGO_BYTES // 1024} KB; providers "
                "refuse it and show no logo.",
                "Simplify the artwork (fewer paths, no embedded images) and optimise the "
                "SVG (e.g. svgo) while keeping the tiny-ps attributes and <title>.",
            )
        ]
    if result.error is not None or result.status != 200:
        why = result.error or f"HTTP {result.status}"
        return [
            Finding(
                "bimi.logo-unavailable",
                Status.FAIL,
                f"The logo at {url} cannot be fetched ({why}); providers show no logo.",
                f"Serve the SVG at {url} with HTTP 200 over HTTPS with a publicly trusted "
                "certificate, no redirect.",
            )
        ]
    checks: dict[str, Any] = check_svg(result.body)
    checks["size"] = len(result.body)
    data["svg"] = checks
    failed = [key for key in SVG_CHECKS if not checks[key]]
    if not failed:
        return []
    if not checks["parsed"]:
        failed = ["parsed"]
    return [
        Finding(
            "bimi.logo-invalid",
            Status.FAIL,
            f"The logo at {url} is not SVG Tiny PS ("
            + "; ".join(_SVG_PROBLEMS[key] for key in failed)
            + "); providers reject it and show no logo.",
            "Fix the SVG: " + "; ".join(_SVG_FIXES[key] for key in failed) + ".",
        )
    ]


def _evidence_findings(
    domain: str, org: str, result: FetchResult, data: dict[str, Any]
) -> list[Finding]:
    url = result.url
    if result.error_kind is FetchErrorKind.DNS_ERROR:
        return [_dns_error(f"the certificate host of {url}", result.error or "")]
    if result.error is not None or result.status != 200:
        why = result.error or f"HTTP {result.status}"
        return [
            Finding(
                "bimi.vmc-invalid",
                Status.FAIL,
                f"The VMC/CMC at {url} cannot be fetched ({why}); Gmail and Apple Mail "
                "then show no logo.",
                f"Serve the PEM file your certificate authority issued at {url} "
                "(HTTP 200, no redirect).",
            )
        ]
    info, problems = describe_certificate(result.body, tuple(dict.fromkeys((domain, org))))
    data["certificate"] = info
    if not problems:
        return []
    return [
        Finding(
            "bimi.vmc-invalid",
            Status.FAIL,
            f"The VMC/CMC at {url} is not usable: " + "; ".join(problems) + ". Gmail and "
            "Apple Mail then show no logo.",
            "Renew or reissue the VMC/CMC for this domain with your BIMI certificate "
            f"authority and serve the new PEM chain at {url}.",
        )
    ]


def _summary(findings: list[Finding], data: dict[str, Any]) -> str:
    codes = {finding.code for finding in findings}
    for code, text in (
        ("bimi.syntax", "invalid BIMI record"),
        ("bimi.dmarc-not-enforced", "BIMI published, but DMARC is not at enforcement"),
        ("bimi.logo-unavailable", "BIMI logo cannot be fetched"),
        ("bimi.logo-too-large", "BIMI logo is larger than 32 KB"),
        ("bimi.logo-invalid", "BIMI logo is not SVG Tiny PS"),
        ("bimi.vmc-invalid", "BIMI certificate (VMC/CMC) is not usable"),
        ("bimi.dns-error", "BIMI could not be fully checked"),
        ("bimi.no-vmc", "BIMI logo valid, but no VMC/CMC (Gmail shows no logo)"),
    ):
        if code in codes:
            return text
    return "BIMI logo and certificate valid"
