"""DMARC as RFC 9989 defines it: record grammar, the DNS Tree Walk, and the audit check.

RFC 9989 (May 2026) obsoleted RFC 7489. What changed for a checker: the Organizational
Domain comes from a bounded walk up the DNS tree (at most eight queries, stopped by a
record carrying `psd=y` or `psd=n`) instead of the Public Suffix List; `np`, `psd` and
`t` were added; `pct`, `rf`, `ri` and the `!size` suffix of report URIs were removed.
Report destinations outside the policy's Organizational Domain must authorise the
domain with a `<policy-domain>._report._dmarc.<destination>` TXT record (RFC 9990
section 4, RFC 9991 for failure reports).

The parser (`parse_dmarc`) is pure and never raises; the walk (`discover_policy`)
asks all of its at most eight questions at once and decides afterwards, so an audit
pays one round trip for it rather than eight. BIMI, the console and the alignment
checks of later issues reuse `discover_policy`, `organizational_domain` and `aligned`.
"""

from __future__ import annotations

import difflib
import re
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import dns.exception
import dns.name

from console.auth.mx import is_null_mx
from console.auth.options import AuditOptions
from console.auth.records import InvalidDomain, normalize_domain, txt_record
from console.auth.resolver import Lookup, ResolverContext
from console.model import CheckResult, Finding, Status

CHECK_ID = "dmarc"

VERSION = "DMARC1"
"""The only version RFC 9989 defines; compared case-sensitively (section 4.7, `%s`)."""

MAX_WALK_QUERIES = 8
"""RFC 9989 section 4.10: a tree walk never asks more than eight questions."""

SHORTEN_TO_LABELS = 7
"""RFC 9989 section 4.10 step 4: a name of eight or more labels is cut to seven."""

POLICIES = ("none", "quarantine", "reject")
"""Values of p, sp and np, weakest first."""

KNOWN_TAGS = ("v", "p", "sp", "np", "psd", "t", "adkim", "aspf", "fo", "rua", "ruf")
"""Tags RFC 9989 registers, in the order a suggested record lists them."""

REMOVED_TAGS = ("pct", "rf", "ri")
"""Tags RFC 9989 removed; RFC 7489 receivers, still common, keep reading them."""

BULK_SENDER_PROVIDERS = "Gmail, Yahoo and Microsoft (Outlook.com)"

PARKED_DOMAIN_PRACTICE = (
    "M3AAWG's parked-domain practice: a domain that sends no mail publishes SPF -all and "
    "DMARC p=reject, so receivers refuse anything forged in its name"
)
"""Why a null-MX (RFC 7505) domain is told p=reject straight away, for finding texts."""

ReportTag = Literal["rua", "ruf"]
AlignmentMode = Literal["r", "s"]


# -- explanations, as data the console shows next to each tag --------------------------


@dataclass(frozen=True, slots=True)
class TagHelp:
    """What one DMARC tag means, in plain words.

    Attributes:
        title: a short name for the tag.
        meaning: what it controls and why it matters.
        default: the value receivers assume when the tag is absent, if any.
        values: plain-words meaning of each allowed value.
        status: "current", or "removed" for tags RFC 9989 dropped.
    """

    title: str
    meaning: str
    default: str | None = None
    values: Mapping[str, str] = field(default_factory=dict)
    status: str = "current"


TAG_HELP: dict[str, TagHelp] = {
    "v": TagHelp(
        "version",
        "Marks the TXT record as a DMARC policy. It must be exactly DMARC1 and come first, "
        "or receivers ignore the whole record.",
    ),
    "p": TagHelp(
        "policy",
        "What receivers should do with mail using this domain in From: that fails DMARC.",
        None,
        {
            "none": "take no action and only report (monitoring mode): spoofed mail is "
            "delivered as usual",
            "quarantine": "treat mail that fails DMARC as suspicious, usually by delivering "
            "it to spam",
            "reject": "refuse mail that fails DMARC during the SMTP conversation",
        },
    ),
    "sp": TagHelp(
        "subdomain policy",
        "Policy for existing subdomains of the Organizational Domain; when absent the p "
        "policy applies. Only read on the Organizational Domain's record.",
        None,
        {
            "none": "subdomains: take no action, only report",
            "quarantine": "subdomains: treat failing mail as suspicious",
            "reject": "subdomains: refuse failing mail",
        },
    ),
    "np": TagHelp(
        "non-existent subdomain policy",
        "Policy for mail from subdomains that do not exist in DNS, a favourite of spoofers; "
        "when absent sp, then p, applies.",
        None,
        {
            "none": "non-existent subdomains: take no action",
            "quarantine": "non-existent subdomains: treat mail as suspicious",
            "reject": "non-existent subdomains: refuse mail",
        },
    ),
    "psd": TagHelp(
        "public suffix domain",
        "Tells the DNS tree walk where an organisation's namespace starts.",
        "u",
        {
            "y": "this name is a public suffix run for others (a registry); the name one "
            "label below it is an Organizational Domain",
            "n": "this name is an Organizational Domain: the tree walk stops here",
            "u": "undeclared: the tree walk decides",
        },
    ),
    "t": TagHelp(
        "test mode",
        "Whether the domain owner is still testing its policy.",
        "n",
        {
            "y": "testing: receivers apply one level less (reject acts as quarantine, "
            "quarantine as none)",
            "n": "apply the policy as published",
        },
    ),
    "adkim": TagHelp(
        "DKIM alignment",
        "How closely the DKIM signing domain (d=) must match the From: domain.",
        "r",
        {
            "r": "relaxed: the same Organizational Domain is enough",
            "s": "strict: the domains must be identical",
        },
    ),
    "aspf": TagHelp(
        "SPF alignment",
        "How closely the envelope sender (MAIL FROM) domain that SPF checked must match "
        "the From: domain.",
        "r",
        {
            "r": "relaxed: the same Organizational Domain is enough",
            "s": "strict: the domains must be identical",
        },
    ),
    "fo": TagHelp(
        "failure reporting options",
        "When receivers that send failure reports should send one; ignored without ruf.",
        "0",
        {
            "0": "report when no mechanism produced an aligned pass",
            "1": "report when any mechanism failed to produce an aligned pass",
            "d": "report every DKIM signature that failed to verify",
            "s": "report every SPF failure",
        },
    ),
    "rua": TagHelp(
        "aggregate report destinations",
        "Where receivers send daily aggregate reports (RFC 9990): the only way to see who "
        "sends mail as this domain. Destinations outside the domain must authorise it.",
    ),
    "ruf": TagHelp(
        "failure report destinations",
        "Where receivers may send per-message failure reports (RFC 9991); few receivers "
        "send them, and they can carry personal data.",
    ),
    "pct": TagHelp(
        "percentage (removed)",
        "Removed by RFC 9989. RFC 7489 receivers still apply the policy to only this "
        "percentage of failing mail; RFC 9989 receivers ignore it. Use t=y to test.",
        "100",
        status="removed",
    ),
    "rf": TagHelp(
        "failure report format (removed)",
        "Removed by RFC 9989; afrf was its only value. Older receivers still read it.",
        "afrf",
        status="removed",
    ),
    "ri": TagHelp(
        "report interval (removed)",
        "Removed by RFC 9989: the requested seconds between aggregate reports. Receivers "
        "send daily reports regardless.",
        "86400",
        status="removed",
    ),
}
"""Plain-words meaning of every tag, keyed by tag name."""


def describe_tag(tag: str, value: str) -> str:
    """The meaning of `tag=value` in plain words, for the console's tag table."""
    help_entry = TAG_HELP.get(tag.lower())
    if help_entry is None:
        return "Unknown tag: receivers ignore it."
    meaning = help_entry.meaning
    if tag.lower() == "fo":
        parts = [help_entry.values.get(part.strip().lower()) for part in value.split(":")]
        known = [part for part in parts if part]
        return f"{meaning} Here: {'; '.join(known)}." if known else meaning
    value_meaning = help_entry.values.get(value.strip().lower())
    return f"{meaning} Here: {value_meaning}." if value_meaning else meaning


# -- the record grammar ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DmarcProblem:
    """One thing wrong with a record, located in its text.

    Attributes:
        code: the finding slug it becomes (`syntax`, `invalid-tag-value`, ...).
        severity: how much it matters for delivery.
        message: what is wrong and what receivers do about it.
        position: 0-based character offset in the record text.
        tag: the tag concerned, if any.
    """

    code: str
    severity: Status
    message: str
    position: int = 0
    tag: str | None = None


@dataclass(frozen=True, slots=True)
class TagEntry:
    """One `tag=value` as written, with where it starts."""

    tag: str
    """Lower-cased tag name."""
    value: str
    """The value without surrounding whitespace."""
    position: int
    value_position: int


@dataclass(frozen=True, slots=True)
class ReportUri:
    """One rua/ruf destination.

    Attributes:
        text: the URI as published, `!size` suffix included.
        uri: the URI without an RFC 7489 `!size` suffix.
        scheme: lower-cased scheme, "" when missing.
        host: the destination host (mailto domain or URL host), "" when none.
        size: the obsolete `!size` limit, if one was given.
        problem: why receivers cannot use it, or None when it is usable.
    """

    text: str
    uri: str
    scheme: str = ""
    host: str = ""
    size: str | None = None
    problem: str | None = None

    @property
    def valid(self) -> bool:
        return self.problem is None


_SIZE_SUFFIX = re.compile(r"^(?P<uri>.*?)!(?P<size>[0-9]+[kmgtKMGT]?)$")
_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*):")
_URI_CHARS = re.compile(r"^[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+$")
_ADDRESS_LIKE = re.compile(r"^[^@\s:]+@[^@\s]+$")


def parse_report_uri(text: str) -> ReportUri:
    """Parse one rua/ruf URI; never raises, a problem is recorded instead."""
    raw = text.strip()
    uri, size = raw, None
    match = _SIZE_SUFFIX.match(raw)
    if match:
        uri, size = match.group("uri"), match.group("size")
    if not uri:
        return ReportUri(raw, uri, size=size, problem="empty URI")
    scheme_match = _SCHEME.match(uri)
    if scheme_match is None:
        hint = f" (write mailto:{uri})" if _ADDRESS_LIKE.match(uri) else ""
        return ReportUri(raw, uri, size=size, problem=f"{uri!r} has no URI scheme{hint}")
    scheme = scheme_match.group("scheme").lower()
    if not _URI_CHARS.match(uri):
        return ReportUri(
            raw,
            uri,
            scheme,
            size=size,
            problem=f"{uri!r} contains characters a URI cannot hold unencoded",
        )
    if "!" in uri:
        return ReportUri(
            raw, uri, scheme, size=size, problem=f"{uri!r}: '!' must be percent-encoded (%21)"
        )
    if scheme == "mailto":
        address = urllib.parse.unquote(uri[len("mailto:") :].split("?", 1)[0])
        local, at, domain = address.rpartition("@")
        if not at or not local:
            return ReportUri(
                raw, uri, scheme, size=size, problem=f"{uri!r} is not a mailto: address"
            )
        return _with_host(raw, uri, scheme, domain, size)
    if scheme in ("https", "http"):
        try:
            host = urllib.parse.urlsplit(uri).hostname or ""
        except ValueError:
            host = ""
        if not host:
            return ReportUri(raw, uri, scheme, size=size, problem=f"{uri!r} names no host")
        return _with_host(raw, uri, scheme, host, size)
    # Any URI is allowed, but receivers only have to support mailto:; keep it usable.
    try:
        host = urllib.parse.urlsplit(uri).hostname or ""
    except ValueError:
        host = ""
    return ReportUri(raw, uri, scheme, host.lower().rstrip("."), size)


def _with_host(raw: str, uri: str, scheme: str, host: str, size: str | None) -> ReportUri:
    try:
        name = normalize_domain(host)
    except InvalidDomain as exc:
        return ReportUri(raw, uri, scheme, size=size, problem=f"{uri!r}: {exc}")
    return ReportUri(raw, uri, scheme, name, size)


@dataclass(frozen=True, slots=True)
class ParsedDmarc:
    """A DMARC record as receivers read it. Built by `parse_dmarc`, which never raises.

    Attributes:
        text: the record as published (TXT strings joined).
        is_dmarc: starts with `v=DMARC1`: a DMARC Policy Record at all. Records that
            are not are discarded by receivers (RFC 9989 section 4.10 step 2).
        entries: every `tag=value` in order, duplicates and unknown tags included.
        tags: tag name to value as written, first occurrence of each.
        policy, subdomain_policy, np: the p, sp and np values when valid, else None.
        psd, testing, adkim, aspf: valid values, or the defaults (u, n, r, r).
        fo: failure reporting options, default ("0",).
        rua, ruf: report destinations, usable or not.
        errors: syntax problems (the record, or a tag, is not what the grammar allows).
        warnings: legal but unwise or outdated content (removed tags, unknown tags).
    """

    text: str
    is_dmarc: bool = False
    entries: list[TagEntry] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    policy: str | None = None
    subdomain_policy: str | None = None
    np: str | None = None
    psd: str = "u"
    testing: str = "n"
    adkim: str = "r"
    aspf: str = "r"
    fo: tuple[str, ...] = ("0",)
    rua: list[ReportUri] = field(default_factory=list)
    ruf: list[ReportUri] = field(default_factory=list)
    errors: list[DmarcProblem] = field(default_factory=list)
    warnings: list[DmarcProblem] = field(default_factory=list)

    @property
    def problems(self) -> list[DmarcProblem]:
        return [*self.errors, *self.warnings]

    @property
    def valid_rua(self) -> list[ReportUri]:
        return [uri for uri in self.rua if uri.valid]

    @property
    def policy_tags_invalid(self) -> bool:
        """A p, sp or np tag is present with a value receivers cannot use.

        RFC 9989 section 4.10.1 then has receivers act as if p=none when a usable rua
        exists, and skip DMARC entirely when none does.
        """
        return any(
            tag in self.tags and value is None
            for tag, value in (("p", self.policy), ("sp", self.subdomain_policy), ("np", self.np))
        )

    def applied_policy(self, *, subdomain: bool = False, nonexistent: bool = False) -> str | None:
        """The policy receivers apply under RFC 9989, or None when they apply no DMARC.

        Args:
            subdomain: the mail uses a subdomain of the name this record was found at.
            nonexistent: that subdomain does not exist in DNS (np applies).
        """
        if not self.is_dmarc:
            return None
        if self.policy_tags_invalid:
            return "none" if self.valid_rua else None
        base = self.policy or "none"  # RFC 9989 section 4.7: no p is read as p=none
        if not subdomain:
            return base
        if nonexistent and self.np:
            return self.np
        return self.subdomain_policy or base


def _closest(word: str, choices: Iterable[str]) -> str | None:
    found = difflib.get_close_matches(word.lower(), list(choices), n=1, cutoff=0.6)
    return found[0] if found else None


def _bad_chars(value: str) -> bool:
    # RFC 9989 dmarc-value: printable ASCII except ';' (already split on), plus WSP.
    return any(not (" " <= ch <= "~" or ch == "\t") for ch in value)


def parse_dmarc(text: str) -> ParsedDmarc:
    """Parse a DMARC record (TXT strings already joined) the way an RFC 9989 receiver does.

    Never raises: anything the grammar does not allow becomes a problem in `errors`
    with its position; removed, unknown and duplicate tags become `warnings`.

    >>> parse_dmarc("v=DMARC1; p=reject").policy
    'reject'
    """
    if not isinstance(text, str):
        text = str(text)
    errors: list[DmarcProblem] = []
    warnings: list[DmarcProblem] = []
    entries: list[TagEntry] = []
    offset = 0
    for part in text.split(";"):
        start = offset
        offset += len(part) + 1
        if not part.strip():
            continue
        lead = len(part) - len(part.lstrip())
        position = start + lead
        body = part.strip()
        name, sep, value_raw = body.partition("=")
        tag = name.strip()
        if not sep:
            errors.append(
                DmarcProblem(
                    "syntax",
                    Status.WARN,
                    f"{_clip(body)!r} is not tag=value; receivers skip it",
                    position,
                )
            )
            continue
        value_lead = len(value_raw) - len(value_raw.lstrip())
        value_position = position + len(name) + 1 + value_lead
        value = value_raw.strip()
        if not re.fullmatch(r"[A-Za-z]+", tag):
            errors.append(
                DmarcProblem(
                    "syntax",
                    Status.WARN,
                    f"{_clip(tag)!r} is not a tag name (letters only); receivers skip "
                    f"{_clip(body)!r}",
                    position,
                )
            )
            continue
        entries.append(TagEntry(tag.lower(), value, position, value_position))

    tags: dict[str, str] = {}
    seen: dict[str, TagEntry] = {}
    for entry in entries:
        if entry.tag in seen:
            warnings.append(
                DmarcProblem(
                    "duplicate-tag",
                    Status.WARN,
                    f"{entry.tag} appears more than once; receivers disagree on which value "
                    "wins (mailscope reads the first)",
                    entry.position,
                    entry.tag,
                )
            )
            continue
        seen[entry.tag] = entry
        tags[entry.tag] = entry.value

    is_dmarc = _check_version(text, entries, errors, warnings)
    values: dict[str, Any] = {}
    for entry in seen.values():
        _check_tag(entry, values, errors, warnings)
    if is_dmarc and "p" not in seen:
        errors.append(
            DmarcProblem(
                "syntax",
                Status.FAIL,
                "there is no p tag: RFC 9989 receivers read that as p=none, but RFC 7489 "
                "receivers (most of those deployed) require p and ignore the whole record",
                len(text),
                "p",
            )
        )
    return ParsedDmarc(
        text=text,
        is_dmarc=is_dmarc,
        entries=entries,
        tags=tags,
        errors=errors,
        warnings=warnings,
        **values,
    )


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _check_version(
    text: str,
    entries: Sequence[TagEntry],
    errors: list[DmarcProblem],
    warnings: list[DmarcProblem],
) -> bool:
    """Is this a DMARC Policy Record at all? Records failing this are discarded."""
    first = entries[0] if entries else None
    start = len(text) - len(text.lstrip())
    # The version must be the record's first token: junk before it counts as a tag.
    if first is not None and first.tag == "v" and first.position == start:
        if start > 0:
            warnings.append(
                DmarcProblem(
                    "syntax",
                    Status.WARN,
                    "the record starts with whitespace; strict receivers require it to start "
                    "with v=DMARC1 and discard it",
                    0,
                    "v",
                )
            )
        if first.value == VERSION:
            return True
        if first.value.upper() == VERSION:
            message = (
                f"v={first.value}: the version must be exactly {VERSION} (upper case); "
                "receivers discard the record"
            )
        elif first.value.upper().startswith(VERSION) and "=" in first.value:
            message = (
                f"v={_clip(first.value)}: a ';' is missing after v={VERSION}; receivers "
                "discard the record"
            )
        else:
            message = f"v={_clip(first.value)} is not v={VERSION}; receivers discard the record"
        errors.append(DmarcProblem("syntax", Status.FAIL, message, first.value_position, "v"))
        return False
    later = next((entry for entry in entries if entry.tag == "v"), None)
    if later is not None:
        errors.append(
            DmarcProblem(
                "syntax",
                Status.FAIL,
                f"v={_clip(later.value)} is not the first tag; a DMARC record must start with "
                f"v={VERSION} or receivers discard it",
                later.position,
                "v",
            )
        )
    else:
        errors.append(
            DmarcProblem(
                "syntax",
                Status.FAIL,
                f"there is no v={VERSION} tag, so this is not a DMARC record; receivers discard it",
                0,
                "v",
            )
        )
    return False


_ENUMS: dict[str, tuple[tuple[str, ...], str]] = {
    "t": (("y", "n"), "testing"),
    "psd": (("y", "n", "u"), "psd"),
    "adkim": (("r", "s"), "adkim"),
    "aspf": (("r", "s"), "aspf"),
}


def _check_tag(
    entry: TagEntry,
    values: dict[str, Any],
    errors: list[DmarcProblem],
    warnings: list[DmarcProblem],
) -> None:
    tag, value, where = entry.tag, entry.value, entry.value_position
    if tag == "v":
        return
    if value == "" or _bad_chars(value):
        what = "is empty" if value == "" else "holds characters DMARC does not allow"
        severity = Status.FAIL if tag in ("p", "sp", "np") else Status.WARN
        errors.append(
            DmarcProblem(
                "syntax" if severity is Status.FAIL else "invalid-tag-value",
                severity,
                f"the value of {tag} {what}; {_consequence(tag)}",
                where,
                tag,
            )
        )
        return
    lowered = value.lower()
    if tag in ("p", "sp", "np"):
        if lowered in POLICIES:
            values[{"p": "policy", "sp": "subdomain_policy", "np": "np"}[tag]] = lowered
            return
        hint = ""
        if "=" in value or " " in value:
            hint = " (is a ';' missing after it?)"
        elif (guess := _closest(lowered, POLICIES)) is not None:
            hint = f" (did you mean {tag}={guess}?)"
        errors.append(
            DmarcProblem(
                "syntax",
                Status.FAIL,
                f"{tag}={_clip(value)} is not none, quarantine or reject{hint}; "
                f"{_consequence(tag)}",
                where,
                tag,
            )
        )
        return
    if tag in _ENUMS:
        allowed, key = _ENUMS[tag]
        if lowered in allowed:
            values[key] = lowered
            return
        errors.append(
            DmarcProblem(
                "invalid-tag-value",
                Status.WARN,
                f"{tag}={_clip(value)} is not one of {', '.join(allowed)}; {_consequence(tag)}",
                where,
                tag,
            )
        )
        return
    if tag == "fo":
        options = [option.strip().lower() for option in value.split(":")]
        if all(option in ("0", "1", "d", "s") for option in options) and len(set(options)) == len(
            options
        ):
            values["fo"] = tuple(options)
            return
        errors.append(
            DmarcProblem(
                "invalid-tag-value",
                Status.WARN,
                f"fo={_clip(value)} is not a colon-separated list of 0, 1, d and s; "
                f"{_consequence(tag)}",
                where,
                tag,
            )
        )
        return
    if tag in ("rua", "ruf"):
        uris = [parse_report_uri(item) for item in value.split(",") if item.strip()]
        values[tag] = uris
        for uri in uris:
            if uri.problem is not None:
                errors.append(
                    DmarcProblem(
                        "invalid-tag-value",
                        Status.WARN,
                        f"{tag}: {uri.problem}; receivers skip this destination",
                        where,
                        tag,
                    )
                )
            elif uri.scheme != "mailto":
                warnings.append(
                    DmarcProblem(
                        "unsupported-scheme",
                        Status.WARN,
                        f"{tag}: {uri.scheme}: URIs are optional for receivers (only "
                        "mailto: must be supported); many will not send there",
                        where,
                        tag,
                    )
                )
            if uri.size is not None:
                warnings.append(
                    DmarcProblem(
                        "size-obsolete",
                        Status.WARN,
                        f"{tag}: the size limit !{uri.size} on {uri.uri} is obsolete: RFC "
                        "9989 removed it and requires '!' in a URI to be percent-encoded, so "
                        "receivers may ignore the limit or refuse the whole URI",
                        where,
                        tag,
                    )
                )
        return
    if tag in REMOVED_TAGS:
        warnings.append(
            DmarcProblem(
                f"{tag}-removed", Status.WARN, _removed_message(tag, value), entry.position, tag
            )
        )
        return
    guess = _closest(tag, KNOWN_TAGS)
    hint = f" (did you mean {guess}?)" if guess else ""
    warnings.append(
        DmarcProblem(
            "unknown-tag",
            Status.WARN,
            f"{_clip(tag)} is not a DMARC tag{hint}; receivers ignore it",
            entry.position,
            tag,
        )
    )


def _consequence(tag: str) -> str:
    if tag in ("p", "sp", "np"):
        return (
            "receivers then act as if the record said p=none when it has a usable rua, and "
            "apply no DMARC at all otherwise"
        )
    default = TAG_HELP[tag].default if tag in TAG_HELP else None
    if default is not None:
        return f"receivers use the default, {tag}={default}"
    return "receivers ignore it"


def _removed_message(tag: str, value: str) -> str:
    if tag == "pct":
        detail = (
            f"RFC 7489 receivers still apply the policy to only {value}% of failing mail, "
            "RFC 9989 receivers to all of it, so they disagree; use t=y to test a policy"
            if value.strip() != "100"
            else "it is harmless at 100 but no longer part of DMARC"
        )
        return f"pct={_clip(value)} was removed by RFC 9989: {detail}"
    if tag == "rf":
        return (
            f"rf={_clip(value)} was removed by RFC 9989 (failure reports now have one "
            "format); older receivers still read it"
        )
    return (
        f"ri={_clip(value)} was removed by RFC 9989: receivers send aggregate reports daily "
        "whatever it says"
    )


def suggested_record(
    parsed: ParsedDmarc,
    *,
    p: str | None = None,
    sp: str | None = None,
    rua: Sequence[str] | None = None,
) -> str:
    """A clean record keeping what `parsed` validly says, for a finding's fix.

    Drops removed, unknown, duplicate and invalid tags and `!size` suffixes; a
    misspelt p becomes its closest policy, else none; a missing ';' or a misplaced
    or miscased v is repaired. Keyword arguments override.
    """
    parsed = _repaired(parsed)
    policy = p or parsed.policy
    if policy is None and "p" in parsed.tags:
        policy = _closest(parsed.tags["p"], POLICIES)
    parts = [f"v={VERSION}", f"p={policy or 'none'}"]
    subdomain = sp or parsed.subdomain_policy
    if subdomain:
        parts.append(f"sp={subdomain}")
    if parsed.np:
        parts.append(f"np={parsed.np}")
    for tag, current, default in (
        ("psd", parsed.psd, None),
        ("t", parsed.testing, None),
        ("adkim", parsed.adkim, None),
        ("aspf", parsed.aspf, None),
    ):
        if tag in parsed.tags and parsed.tags[tag].lower() == current and current != default:
            parts.append(f"{tag}={current}")
    ruf = [uri.uri for uri in parsed.ruf if uri.valid]
    if "fo" in parsed.tags and ruf and ":".join(parsed.fo) == parsed.tags["fo"].lower():
        parts.append(f"fo={':'.join(parsed.fo)}")
    uris = list(rua) if rua is not None else [uri.uri for uri in parsed.valid_rua]
    if uris:
        parts.append("rua=" + ",".join(uris))
    if ruf:
        parts.append("ruf=" + ",".join(ruf))
    return "; ".join(parts)


_MISSING_SEMICOLON = re.compile(r"[ \t]+(?=[A-Za-z]+[ \t]*=)")


def _repaired(parsed: ParsedDmarc) -> ParsedDmarc:
    """`parsed` with a missing ';' restored and v=DMARC1 moved first, as meant."""
    text = parsed.text
    if any(_MISSING_SEMICOLON.search(entry.value) for entry in parsed.entries):
        text = _MISSING_SEMICOLON.sub("; ", text)
    if parsed.is_dmarc and text == parsed.text:
        return parsed
    body = [
        part.strip()
        for part in text.split(";")
        if part.strip() and not re.match(r"\s*v\s*=", part, re.IGNORECASE)
    ]
    return parse_dmarc("; ".join([f"v={VERSION}", *body]))


# -- the DNS tree walk ----------------------------------------------------------------


def walk_names(domain: str) -> list[str]:
    """The names an RFC 9989 tree walk starting at `domain` queries, in order.

    The start, then (section 4.10 step 4) its parent, or for eight labels and more the
    name cut to its last seven labels, then one label less each time down to the TLD:
    never more than eight names.

    >>> walk_names("a.mail.example.com")
    ['a.mail.example.com', 'mail.example.com', 'example.com', 'com']
    """
    labels = [label for label in domain.lower().strip().rstrip(".").split(".") if label]
    if not labels:
        return []
    names = [".".join(labels)]
    rest = labels[-SHORTEN_TO_LABELS:] if len(labels) >= MAX_WALK_QUERIES else labels[1:]
    while rest:
        names.append(".".join(rest))
        rest = rest[1:]
    return names


@dataclass(frozen=True, slots=True)
class WalkStep:
    """One question of the tree walk and what it found.

    Attributes:
        domain: the name whose policy was asked for.
        query: the DNS name asked (`_dmarc.<domain>`).
        outcome: "record" (exactly one DMARC record), "none", "multiple" (more than
            one DMARC record: all discarded) or "error" (DNS failure).
        texts: every TXT record at the name, DMARC or not, as published.
        record: the DMARC record when outcome is "record".
        error: `Lookup.describe()` of a failed lookup.
    """

    domain: str
    query: str
    outcome: str
    texts: tuple[str, ...] = ()
    record: str | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "query": self.query,
            "outcome": self.outcome,
            "texts": list(self.texts),
            "record": self.record,
            "error": self.error,
        }


def _step(domain: str, lookup: Lookup) -> WalkStep:
    query = f"_dmarc.{domain}"
    if lookup.failed:
        return WalkStep(domain, query, "error", error=lookup.describe())
    texts = tuple(lookup.texts())
    dmarc = [text for text in texts if parse_dmarc(text).is_dmarc]
    if len(dmarc) == 1:
        return WalkStep(domain, query, "record", texts, dmarc[0])
    return WalkStep(domain, query, "multiple" if dmarc else "none", texts)


@dataclass(frozen=True, slots=True)
class DmarcDiscovery:
    """What the tree walk found for one domain.

    Attributes:
        domain: where the walk started (the Author Domain, or any name for alignment).
        steps: the questions an RFC 9989 receiver asks, up to where its walk stops.
        record: the DMARC record that applies to `domain`, or None.
        parsed: `record` parsed.
        policy_domain: the name `record` was found at.
        org_domain: the Organizational Domain of `domain` (section 4.10.2), or None
            when a DNS failure left it undetermined.
        psd_domain: where a `psd=y` record (a public suffix operator's) was found.
        subdomain_record, subdomain_policy_domain: the record that applies to existing
            subdomains of `domain`, and where it was found.
        error: the failed lookup that left the walk undecided, if any.
    """

    domain: str
    steps: tuple[WalkStep, ...] = ()
    record: str | None = None
    parsed: ParsedDmarc | None = None
    policy_domain: str | None = None
    org_domain: str | None = None
    psd_domain: str | None = None
    subdomain_record: str | None = None
    subdomain_policy_domain: str | None = None
    error: str | None = None

    @property
    def walk(self) -> list[str]:
        """The `_dmarc` names queried, in walk order."""
        return [step.query for step in self.steps]

    @property
    def own_step(self) -> WalkStep | None:
        return self.steps[0] if self.steps else None

    @property
    def inherited(self) -> bool:
        """The policy comes from a parent (Organizational or Public Suffix Domain)."""
        return self.policy_domain is not None and self.policy_domain != self.domain

    @property
    def from_psd(self) -> bool:
        """The policy is a public suffix operator's, not the domain owner's."""
        return self.inherited and self.policy_domain == self.psd_domain

    def applied_policy(self) -> str | None:
        """The policy receivers apply to mail from `domain` (an existing name)."""
        if self.parsed is None:
            return None
        return self.parsed.applied_policy(subdomain=self.inherited)

    def subdomain_policy(self, *, nonexistent: bool = False) -> str | None:
        """The policy receivers apply to subdomains of `domain`."""
        if self.subdomain_record is None:
            return None
        return parse_dmarc(self.subdomain_record).applied_policy(
            subdomain=True, nonexistent=nonexistent
        )


async def discover_policy(ctx: ResolverContext, domain: str) -> DmarcDiscovery:
    """Find the DMARC record that applies to `domain` and its Organizational Domain.

    The RFC 9989 tree walk (section 4.10) is sequential only in its decision: all of
    its at most eight questions are asked at once, then read in walk order.

    Args:
        ctx: how to ask DNS.
        domain: the Author Domain (or any name whose Organizational Domain is wanted).

    Returns:
        The discovery; a DNS failure is reported in `error`, never raised.
    """
    name = domain.strip().rstrip(".").lower()
    names = walk_names(name)
    lookups = await ctx.gather(*(ctx.query(f"_dmarc.{n}", "TXT") for n in names))
    return decide_walk(name, list(zip(names, lookups, strict=True)))


def decide_walk(domain: str, answers: Sequence[tuple[str, Lookup]]) -> DmarcDiscovery:
    """Read the walk's answers in order the way RFC 9989 sections 4.10-4.10.2 do."""
    steps: list[WalkStep] = []
    found: list[tuple[int, WalkStep, ParsedDmarc]] = []
    error: str | None = None
    for index, (name, lookup) in enumerate(answers):
        step = _step(name, lookup)
        steps.append(step)
        if step.outcome == "error":
            error = step.error
            break
        if step.outcome == "record" and step.record is not None:
            parsed = parse_dmarc(step.record)
            found.append((index, step, parsed))
            if parsed.psd in ("y", "n"):  # steps 2 and 6: a declared boundary ends the walk
                break
    own = next(((step, parsed) for index, step, parsed in found if index == 0), None)
    if error is not None:
        # Only a record at the domain itself is certain; everything above is unknown.
        if own is None:
            return DmarcDiscovery(domain, tuple(steps), error=error)
        step, parsed = own
        return DmarcDiscovery(
            domain,
            tuple(steps),
            record=step.record,
            parsed=parsed,
            policy_domain=domain,
            error=error,
        )
    org = _organizational(domain, found)
    psd = next(
        ((step, parsed) for index, step, parsed in found if index != 0 and parsed.psd == "y"),
        None,
    )
    at_org = next(((step, parsed) for _, step, parsed in found if step.domain == org), None)
    # Section 4.10.1: the Author Domain's record, else the Organizational Domain's,
    # else the Public Suffix Domain's.
    applied = own or at_org or psd
    # Subdomains of `domain` walk the same tree; they use `domain`'s record only when
    # `domain` is their Organizational Domain (which makes `sp` meaningful there).
    for_subdomains = own if own is not None and org == domain else (at_org or psd)
    return DmarcDiscovery(
        domain,
        tuple(steps),
        record=applied[0].record if applied else None,
        parsed=applied[1] if applied else None,
        policy_domain=applied[0].domain if applied else None,
        org_domain=org,
        psd_domain=psd[0].domain if psd else None,
        subdomain_record=for_subdomains[0].record if for_subdomains else None,
        subdomain_policy_domain=for_subdomains[0].domain if for_subdomains else None,
    )


def _organizational(domain: str, found: Sequence[tuple[int, WalkStep, ParsedDmarc]]) -> str:
    """RFC 9989 section 4.10.2, over the records found from longest name to shortest."""
    for index, step, parsed in found:
        if parsed.psd == "n":
            return step.domain
        if parsed.psd == "y" and index != 0:
            labels = domain.split(".")
            return ".".join(labels[-(len(step.domain.split(".")) + 1) :])
    if found:
        return found[-1][1].domain  # the record at the name with the fewest labels
    return domain


async def organizational_domain(ctx: ResolverContext, name: str) -> str:
    """The Organizational Domain of `name` by the RFC 9989 tree walk.

    When a DNS failure leaves it undetermined, `name` itself is returned; callers that
    must tell the difference use `discover_policy(...).error`.
    """
    discovery = await discover_policy(ctx, name)
    return discovery.org_domain or discovery.domain


def _norm(name: str) -> str:
    return name.strip().rstrip(".").lower()


def aligned(a: str, b: str, mode: AlignmentMode | str, org_a: str, org_b: str) -> bool:
    """Do identifiers `a` and `b` align (RFC 9989 section 3.2.1)?

    Args:
        a, b: the Author Domain and an authenticated identifier (DKIM d=, SPF domain).
        mode: "s" strict (identical names) or "r" relaxed (same Organizational Domain).
        org_a, org_b: their Organizational Domains (`organizational_domain`).
    """
    if _norm(a) == _norm(b):
        return True
    if str(mode).lower() == "s":
        return False
    return _norm(org_a) == _norm(org_b)


async def is_aligned(
    ctx: ResolverContext, author: str, identifier: str, mode: AlignmentMode | str = "r"
) -> bool | None:
    """Alignment with the Organizational Domains found by tree walks run concurrently.

    Returns None when a DNS failure leaves either Organizational Domain undetermined.
    """
    if _norm(author) == _norm(identifier):
        return True
    if str(mode).lower() == "s":
        return False
    first, second = await ctx.gather(discover_policy(ctx, author), discover_policy(ctx, identifier))
    if first.org_domain is None or second.org_domain is None:
        return None
    return aligned(author, identifier, mode, first.org_domain, second.org_domain)


# -- external report destinations (RFC 9990 section 4, RFC 9991) ---------------------


@dataclass(frozen=True, slots=True)
class DestinationCheck:
    """Whether a report destination outside the policy's organisation accepts reports.

    Attributes:
        tag: "rua" or "ruf".
        uri: the destination URI as published.
        destination: its host.
        authorised: True (a v=DMARC1 record authorises), False (none), None (DNS error).
        query: the `<policy-domain>._report._dmarc.<destination>` name asked.
        detail: what the lookup returned, for messages.
    """

    tag: str
    uri: str
    destination: str
    authorised: bool | None
    query: str
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "tag": self.tag,
            "uri": self.uri,
            "destination": self.destination,
            "authorised": self.authorised,
            "query": self.query,
        }


def authorisation_name(policy_domain: str, destination: str) -> str:
    """The TXT name a destination publishes to accept reports for `policy_domain`."""
    return f"{policy_domain}._report._dmarc.{destination}"


def _name_fits(name: str) -> bool:
    try:
        dns.name.from_text(name)
    except dns.exception.DNSException:
        return False
    return True


async def check_destinations(
    ctx: ResolverContext, discovery: DmarcDiscovery
) -> list[DestinationCheck]:
    """Verify every external rua/ruf destination of the applied record.

    For each destination host, its own tree walk (is it really external?) and the
    authorisation query run concurrently; both depend only on the record.
    """
    parsed, policy_domain = discovery.parsed, discovery.policy_domain
    if parsed is None or policy_domain is None:
        return []
    # The policy domain's Organizational Domain: the walk's answer for the domain
    # itself, and for an inherited record the name it came from (an OD, or a PSD
    # whose own walk stops at once).
    policy_org = discovery.org_domain if not discovery.inherited else policy_domain
    policy_org = policy_org or policy_domain
    uris = [("rua", uri) for uri in parsed.rua if uri.valid and uri.host]
    uris += [("ruf", uri) for uri in parsed.ruf if uri.valid and uri.host]
    hosts = sorted({uri.host for _, uri in uris} - {policy_domain, policy_org})

    async def probe(host: str) -> tuple[str, DmarcDiscovery, Lookup | None]:
        name = authorisation_name(policy_domain, host)
        if not _name_fits(name):
            return host, await discover_policy(ctx, host), None
        walk, lookup = await ctx.gather(discover_policy(ctx, host), ctx.query(name, "TXT"))
        return host, walk, lookup

    probed = {
        host: (walk, lookup)
        for host, walk, lookup in await ctx.gather(*(probe(host) for host in hosts))
    }
    checks: list[DestinationCheck] = []
    for tag, uri in uris:
        if uri.host not in probed:
            continue
        walk, lookup = probed[uri.host]
        if walk.org_domain is not None and walk.org_domain == policy_org:
            continue  # same organisation: no authorisation needed
        name = authorisation_name(policy_domain, uri.host)
        if lookup is None:
            checks.append(
                DestinationCheck(
                    tag, uri.text, uri.host, False, name, f"{name} is longer than DNS allows"
                )
            )
        elif lookup.failed:
            checks.append(DestinationCheck(tag, uri.text, uri.host, None, name, lookup.describe()))
        else:
            texts = lookup.texts()
            ok = any(parse_dmarc(text).is_dmarc for text in texts)
            detail = lookup.describe()
            if texts and not ok:
                detail = f"{name} has TXT {_clip(texts[0])!r}, which does not start with v=DMARC1"
            checks.append(DestinationCheck(tag, uri.text, uri.host, ok, name, detail))
    return checks


# -- the check ------------------------------------------------------------------------


async def check_dmarc(ctx: ResolverContext, domain: str, options: AuditOptions) -> CheckResult:
    """Audit `domain`'s DMARC: record, policy, reporting, and the bulk-sender minimum.

    Args:
        ctx: how to ask DNS.
        domain: the mail (From:) domain.
        options: unused; DMARC needs nothing beyond the domain.

    Returns:
        The `dmarc` CheckResult; data keys are listed in `_data`.
    """
    del options
    try:
        name = normalize_domain(domain)
    except InvalidDomain as exc:
        finding = Finding(
            "dmarc.invalid-domain",
            Status.ERROR,
            f"{domain!r} cannot be checked: {exc}.",
            "Give the domain used in the From: address, e.g. example.com.",
        )
        return CheckResult.from_findings(CHECK_ID, "not a domain name", [finding])
    # Whether the domain, and the domain reports would go to, accept mail at all (a null
    # MX, RFC 7505): asked alongside the walk and the destination checks, so it adds no
    # round trip, and it is the same (cached) MX question the mx check asks.
    discovery, own_mx = await ctx.gather(discover_policy(ctx, name), ctx.query(name, "MX"))
    report_domain = discovery.org_domain or discovery.policy_domain or name
    destinations, report_mx = await ctx.gather(
        check_destinations(ctx, discovery), ctx.query(report_domain, "MX")
    )
    no_mail = frozenset(
        domain
        for domain, lookup in ((name, own_mx), (report_domain, report_mx))
        if is_null_mx(lookup)
    )
    findings, bulk_ok = _findings(name, discovery, destinations, no_mail)
    data = _data(discovery, destinations, bulk_ok)
    return CheckResult.from_findings(CHECK_ID, _summary(discovery, destinations), findings, data)


def _looks_like_dmarc(text: str) -> bool:
    lowered = text.lower()
    return "dmarc" in lowered or bool(re.search(r"(^|[;\s])(p|rua)\s*=", lowered))


def _findings(
    domain: str,
    discovery: DmarcDiscovery,
    destinations: Sequence[DestinationCheck],
    no_mail: frozenset[str] = frozenset(),
) -> tuple[list[Finding], bool | None]:
    """Every finding; `no_mail` holds the domains known to publish a null MX."""
    findings: list[Finding] = []
    own = discovery.own_step
    if own is not None and own.outcome == "error":
        findings.append(_dns_error(f"_dmarc.{domain}", own.error or "", policy_unknown=True))
        return findings, None
    if discovery.error is not None:
        findings.append(_dns_error("the tree walk", discovery.error, policy_unknown=False))
    # Records at the domain's own _dmarc name that receivers throw away.
    replacement: str | None = None  # the one record to publish in their place
    if own is not None:
        if own.outcome == "multiple":
            keep, why = _weakest(own)
            replacement = suggested_record(keep, rua=_carried_rua(own, keep))
            findings.append(_multiple(domain, own, discovery, replacement, why))
        for text in own.texts:
            parsed = parse_dmarc(text)
            if not parsed.is_dmarc and _looks_like_dmarc(text):
                replacement = replacement or suggested_record(parsed)
                findings.append(_discarded(domain, text, parsed))
    discarded = replacement is not None
    parsed, policy_domain = discovery.parsed, discovery.policy_domain
    if parsed is None or policy_domain is None:
        if discovery.error is None and not discarded:
            findings.append(_missing(domain, no_mail))
        if discovery.error is None and len(domain.split(".")) > MAX_WALK_QUERIES:
            findings.append(_long_name(domain, discovery))
        if discovery.error is None:
            findings.append(
                _bulk(domain, discovery, ok=False, replacement=replacement, no_mail=no_mail)
            )
            return findings, False
        return findings, None
    owner = f"_dmarc.{policy_domain}"
    if discovery.inherited:
        findings.append(_inherited(domain, discovery, no_mail))
        if len(domain.split(".")) > MAX_WALK_QUERIES:
            findings.append(_long_name(domain, discovery))
    for problem in parsed.problems:
        findings.append(
            Finding(
                f"dmarc.{problem.code}",
                problem.severity,
                f"In the record at {owner} (character {problem.position + 1}): {problem.message}.",
                "Publish instead: " + txt_record(owner, suggested_record(parsed)),
                txt_record(owner, suggested_record(parsed)),
            )
        )
    findings.extend(_policy_findings(domain, discovery, no_mail))
    findings.extend(_reporting_findings(domain, discovery, destinations, no_mail))
    # A record discarded for its syntax leaves the inherited policy in force everywhere;
    # several records stop RFC 7489 receivers from looking further up (its section 6.6.3).
    multiple = own is not None and own.outcome == "multiple"
    ok = (
        not multiple
        and not discovery.from_psd
        and parsed.policy is not None
        and not parsed.policy_tags_invalid
    )
    findings.append(
        _bulk(
            domain,
            discovery,
            ok=ok,
            replacement=replacement if multiple else None,
            no_mail=no_mail,
        )
    )
    return findings, ok


def _dns_error(what: str, error: str, *, policy_unknown: bool) -> Finding:
    consequence = (
        "so whether the domain has a DMARC policy could not be determined (this is not the "
        "same as having none)"
        if policy_unknown
        else "so the Organizational Domain (used for inherited policies and alignment) could "
        "not be determined"
    )
    return Finding(
        "dmarc.dns-error",
        Status.ERROR,
        f"The DNS lookup for {what} failed ({error}), {consequence}.",
        "Check that the domain's authoritative nameservers answer TXT queries for its _dmarc "
        "names, then run the check again (--nameserver asks them directly).",
    )


def _missing_record(domain: str, no_mail: frozenset[str] = frozenset()) -> str:
    """The record `_missing_fix` asks to publish, as a zone-file line."""
    if domain in no_mail:
        return txt_record(f"_dmarc.{domain}", f"v={VERSION}; p=reject")
    return txt_record(f"_dmarc.{domain}", f"v={VERSION}; p=none; rua=mailto:dmarc-reports@{domain}")


def _missing_fix(domain: str, no_mail: frozenset[str] = frozenset()) -> str:
    if domain in no_mail:
        # A parked domain has no legitimate mail to watch, so there is nothing to learn
        # from p=none first; and a report address at it would bounce.
        return (
            f"{domain} has a null MX: it sends and receives no mail, so publish "
            + txt_record(f"_dmarc.{domain}", f"v={VERSION}; p=reject")
            + f" now ({PARKED_DOMAIN_PRACTICE}). Add rua= only with a mailbox at a domain "
            "that receives mail, if you want reports of forgery attempts."
        )
    record = f"v={VERSION}; p=none; rua=mailto:dmarc-reports@{domain}"
    return (
        "Publish, then create the dmarc-reports mailbox: "
        + txt_record(f"_dmarc.{domain}", record)
        + " — and once reports show all legitimate mail passing, raise p to quarantine, "
        "then reject."
    )


def _missing(domain: str, no_mail: frozenset[str] = frozenset()) -> Finding:
    return Finding(
        "dmarc.missing",
        Status.FAIL,
        f"No DMARC record applies to {domain}: none at _dmarc.{domain} and none up the DNS "
        f"tree. {BULK_SENDER_PROVIDERS} require bulk senders to publish at least p=none, so "
        "their mail is rejected or sent to spam, and anyone can spoof the domain unnoticed.",
        _missing_fix(domain, no_mail),
        _missing_record(domain, no_mail),
    )


def _strictness(parsed: ParsedDmarc) -> tuple[int, int, int]:
    """How much failing mail a record refuses: p, then sp, then np (each weakest first)."""

    def rank(policy: str | None) -> int:
        return POLICIES.index(policy) if policy in POLICIES else 0

    sub = parsed.subdomain_policy or parsed.policy
    return (rank(parsed.policy), rank(sub), rank(parsed.np or sub))


def _weakest(step: WalkStep) -> tuple[ParsedDmarc, str]:
    """Of several records at one name, the one to keep, and why, in words.

    The weakest valid policy: while several records are published receivers apply no
    DMARC at all, so keeping a p=reject one would start rejecting, overnight, legitimate
    mail nobody has yet seen pass DMARC. Keeping the weakest changes the least; raising
    it is a separate step, once aggregate reports show every sender passing. Ties go to
    a record with report addresses, then to the first in text order (DNS gives no order).
    """
    parsed = [parse_dmarc(text) for text in sorted(step.texts)]
    dmarc = [record for record in parsed if record.is_dmarc]
    valid = [r for r in dmarc if r.policy is not None and not r.policy_tags_invalid]
    if not valid:
        chosen = dmarc[0] if dmarc else parse_dmarc("")
        return chosen, "none of them has a valid policy, so the first is repaired"
    chosen = min(valid, key=lambda r: (*_strictness(r), not r.valid_rua))
    policies = sorted({f"p={r.policy}" for r in valid}, key=lambda p: POLICIES.index(p[2:]))
    if len(policies) == 1:
        return chosen, f"they all say {policies[0]}, so the policy in force does not change"
    return chosen, (
        f"keep the one with the weakest policy, p={chosen.policy} (published: "
        f"{', '.join(policies)}): while several are published receivers ignore all of them, "
        "so keeping a stricter one would start quarantining or rejecting legitimate "
        "mail overnight. Raise p as a separate step, once aggregate reports show all "
        "legitimate mail passing aligned"
    )


def _carried_rua(step: WalkStep, kept: ParsedDmarc) -> list[str] | None:
    """Report addresses for the kept record: its own, else those of the others (reports
    are what shows when raising the policy is safe)."""
    if kept.valid_rua:
        return None
    uris = [
        uri.uri for text in sorted(step.texts) for uri in parse_dmarc(text).valid_rua if uri.uri
    ]
    return list(dict.fromkeys(uris)) or None


def _multiple(
    domain: str, step: WalkStep, discovery: DmarcDiscovery, replacement: str, why: str
) -> Finding:
    dmarc = [text for text in step.texts if parse_dmarc(text).is_dmarc]
    kept = parse_dmarc(replacement)
    later = ""
    if kept.policy in ("none", "quarantine"):
        # Raising the policy is its own change, made once reports show it is safe.
        stricter = POLICIES[POLICIES.index(kept.policy) + 1 :]
        later = (
            ". Then, as a separate step once aggregate reports show all legitimate mail "
            "passing aligned: "
            + " and later ".join(
                txt_record(f"_dmarc.{domain}", suggested_record(kept, p=policy))
                for policy in stricter
            )
        )
    if discovery.record is not None and discovery.policy_domain != domain:
        consequence = (
            f"RFC 9989 receivers then fall back to the record at _dmarc."
            f"{discovery.policy_domain}; RFC 7489 receivers apply no DMARC at all"
        )
        applied = discovery.applied_policy()
        stricter_now = (
            applied in POLICIES
            and kept.policy in POLICIES
            and POLICIES.index(applied) > POLICIES.index(kept.policy)
        )
        if stricter_now:
            why += (
                f" (RFC 9989 receivers apply {applied} from that fallback today, so "
                f"p={kept.policy} is a step down for them, not a risk to mail; raise it first)"
            )
    else:
        consequence = "so no DMARC policy applies to the domain"
    return Finding(
        "dmarc.multiple-records",
        Status.FAIL,
        f"_dmarc.{domain} has {len(dmarc)} DMARC records. Receivers discard all of them "
        f"when there is more than one, {consequence}. Of the published records, {why}.",
        "Delete all but one; keep this single record: "
        + txt_record(f"_dmarc.{domain}", replacement)
        + later,
        txt_record(f"_dmarc.{domain}", replacement),
    )


def _discarded(domain: str, text: str, parsed: ParsedDmarc) -> Finding:
    reason = next((p.message for p in parsed.errors if p.tag == "v"), "it is not DMARC")
    return Finding(
        "dmarc.syntax",
        Status.FAIL,
        f"The TXT record {_clip(text, 80)!r} at _dmarc.{domain} looks like DMARC but is not "
        f"a DMARC record: {reason}. The domain has no policy of its own.",
        "Replace it with: " + txt_record(f"_dmarc.{domain}", suggested_record(parsed)),
        txt_record(f"_dmarc.{domain}", suggested_record(parsed)),
    )


def _long_name(domain: str, discovery: DmarcDiscovery) -> Finding:
    skipped_to = discovery.steps[1].domain if len(discovery.steps) > 1 else domain
    record = txt_record(
        f"_dmarc.{domain}",
        suggested_record(discovery.parsed) if discovery.parsed else f"v={VERSION}; p=none",
    )
    return Finding(
        "dmarc.long-name",
        Status.WARN,
        f"{domain} has more than {MAX_WALK_QUERIES} labels, so the tree walk jumps from it "
        f"straight to {skipped_to} (RFC 9989 section 4.10): records published at the names "
        "in between are never seen by receivers.",
        "Publish the intended record at the name itself: " + record,
        record,
    )


def _inherited(
    domain: str, discovery: DmarcDiscovery, no_mail: frozenset[str] = frozenset()
) -> Finding:
    applied = discovery.applied_policy()
    tag = "sp" if discovery.parsed and discovery.parsed.subdomain_policy else "p"
    if discovery.from_psd:
        org = discovery.org_domain or domain
        who = (
            f"{domain} publishes no DMARC record"
            if org == domain
            else f"Neither {domain} nor its Organizational Domain {org} publishes DMARC"
        )
        return Finding(
            "dmarc.psd-policy",
            Status.WARN,
            f"{who}; the public suffix operator's record at _dmarc.{discovery.psd_domain} "
            f"(psd=y) applies ({tag}={applied}). Its reports go to the operator, not to you, "
            "and bulk-sender rules expect the domain owner's own record.",
            _missing_fix(discovery.org_domain or domain, no_mail),
            _missing_record(discovery.org_domain or domain, no_mail),
        )
    return Finding(
        "dmarc.inherited",
        Status.PASS,
        f"{domain} has no record of its own; the record of its Organizational Domain at "
        f"_dmarc.{discovery.policy_domain} applies to it ({tag}={applied}).",
        f"Nothing to do; publish a record at _dmarc.{domain} only if it needs a different "
        "policy or report addresses.",
    )


def _policy_findings(
    domain: str, discovery: DmarcDiscovery, no_mail: frozenset[str] = frozenset()
) -> list[Finding]:
    parsed, policy_domain = discovery.parsed, discovery.policy_domain
    assert parsed is not None
    assert policy_domain is not None
    owner = f"_dmarc.{policy_domain}"
    findings: list[Finding] = []
    applied = discovery.applied_policy()
    if applied == "none" and domain in no_mail:
        record = txt_record(owner, suggested_record(parsed, **_raise_to("reject", discovery)))
        findings.append(
            Finding(
                "dmarc.policy-none",
                Status.WARN,
                f"The policy for {domain} is none, but the domain has a null MX and sends no "
                "mail: there is no legitimate mail to monitor, and p=none lets forged mail "
                "using the domain reach inboxes.",
                f"Publish p=reject now ({PARKED_DOMAIN_PRACTICE}): " + record,
                record,
            )
        )
    elif applied == "none":
        quarantine = suggested_record(parsed, **_raise_to("quarantine", discovery))
        reject = suggested_record(parsed, **_raise_to("reject", discovery))
        findings.append(
            Finding(
                "dmarc.policy-none",
                Status.WARN,
                f"The policy for {domain} is none (monitoring only): receivers deliver mail "
                "that fails DMARC as usual, so spoofed mail using the domain still reaches "
                "inboxes. It meets the bulk-sender minimum but protects nothing.",
                "Once aggregate reports show all legitimate mail passing aligned, publish "
                + txt_record(owner, quarantine)
                + " then, after a few weeks without surprises, "
                + txt_record(owner, reject),
                # The next step is the one to publish now; reject comes later.
                txt_record(owner, quarantine),
            )
        )
    elif applied in ("quarantine", "reject"):
        findings.append(
            Finding(
                "dmarc.policy-enforced",
                Status.PASS,
                f"The policy for {domain} is {applied}: receivers are asked to "
                f"{TAG_HELP['p'].values[applied]}.",
            )
        )
    if applied in ("quarantine", "reject") and parsed.testing == "y":
        weaker = POLICIES[POLICIES.index(applied) - 1]
        findings.append(
            Finding(
                "dmarc.test-mode",
                Status.WARN,
                f"t=y (test mode) is set: receivers apply {weaker} instead of {applied} to "
                "failing mail, so the published policy is not enforced.",
                "When testing is over, remove t=y: "
                + txt_record(owner, suggested_record(_without(parsed, "t"))),
                txt_record(owner, suggested_record(_without(parsed, "t"))),
            )
        )
    elif parsed.testing == "y":
        findings.append(
            Finding(
                "dmarc.test-mode",
                Status.PASS,
                "t=y (test mode) is set, which has no effect while the policy is none.",
            )
        )
    sub = discovery.subdomain_policy()
    if (
        sub == "none"
        and applied in ("quarantine", "reject")
        and discovery.subdomain_policy_domain == policy_domain
    ):
        findings.append(
            Finding(
                "dmarc.subdomain-policy-none",
                Status.WARN,
                f"sp=none leaves every subdomain of {policy_domain} unprotected while the "
                f"domain itself is at {applied}: spoofers simply use a made-up subdomain.",
                "Raise or drop sp: " + txt_record(owner, suggested_record(parsed, sp="quarantine")),
                txt_record(owner, suggested_record(parsed, sp="quarantine")),
            )
        )
    if (
        not discovery.inherited
        and "sp" in parsed.tags
        and discovery.org_domain is not None
        and discovery.org_domain != domain
    ):
        findings.append(
            Finding(
                "dmarc.sp-ignored",
                Status.WARN,
                f"sp on _dmarc.{domain} is ignored: {domain} is not an Organizational Domain "
                f"(that is {discovery.org_domain}), so its subdomains get the policy of "
                f"_dmarc.{discovery.subdomain_policy_domain or discovery.org_domain} instead.",
                f"Add psd=n to make {domain} an Organizational Domain of its own, or set sp on "
                f"_dmarc.{discovery.org_domain}: "
                + txt_record(
                    f"_dmarc.{domain}", suggested_record(_without(parsed, "psd")) + "; psd=n"
                ),
                txt_record(
                    f"_dmarc.{domain}", suggested_record(_without(parsed, "psd")) + "; psd=n"
                ),
            )
        )
    return findings


def _raise_to(policy: str, discovery: DmarcDiscovery) -> dict[str, str]:
    # An inherited policy comes from sp (when set); raise the tag that applies.
    parsed = discovery.parsed
    if discovery.inherited and parsed is not None and parsed.subdomain_policy:
        return {"sp": policy}
    return {"p": policy}


def _without(parsed: ParsedDmarc, tag: str) -> ParsedDmarc:
    tags = {key: value for key, value in parsed.tags.items() if key != tag}
    defaults = {"t": ("testing", "n"), "psd": ("psd", "u")}
    extra = {defaults[tag][0]: defaults[tag][1]} if tag in defaults else {}
    return ParsedDmarc(
        text=parsed.text,
        is_dmarc=parsed.is_dmarc,
        entries=[entry for entry in parsed.entries if entry.tag != tag],
        tags=tags,
        policy=parsed.policy,
        subdomain_policy=parsed.subdomain_policy,
        np=parsed.np,
        psd=extra.get("psd", parsed.psd),
        testing=extra.get("testing", parsed.testing),
        adkim=parsed.adkim,
        aspf=parsed.aspf,
        fo=parsed.fo,
        rua=parsed.rua,
        ruf=parsed.ruf,
    )


def _reporting_findings(
    domain: str,
    discovery: DmarcDiscovery,
    destinations: Sequence[DestinationCheck],
    no_mail: frozenset[str] = frozenset(),
) -> list[Finding]:
    parsed, policy_domain = discovery.parsed, discovery.policy_domain
    assert parsed is not None
    assert policy_domain is not None
    owner = f"_dmarc.{policy_domain}"
    findings: list[Finding] = []
    target = discovery.org_domain or policy_domain
    if not parsed.valid_rua and domain in no_mail:
        # A parked domain has no senders to discover; reports would only show forgeries.
        findings.append(
            Finding(
                "dmarc.no-rua",
                Status.PASS,
                f"The record at {owner} asks for no aggregate reports. {domain} has a null MX "
                "and sends no mail, so there are no senders to discover: that is fine for a "
                "parked domain. Reports would only show forgery attempts; if you want them, "
                f"the rua mailbox must be at a domain that receives mail (not {domain}).",
            )
        )
    elif not parsed.valid_rua and target in no_mail:
        findings.append(
            Finding(
                "dmarc.no-rua",
                Status.WARN,
                f"The record at {owner} asks for no aggregate reports (no usable rua): you "
                "cannot see who sends mail as the domain, which you need before enforcing a "
                f"policy. {target} has a null MX and accepts no mail, so the reports must go "
                "to a mailbox at another domain.",
                "Add rua=mailto:<mailbox> with a mailbox at a domain that receives mail; "
                f"if that domain is outside {target}'s organisation it must authorise the "
                f"reports with a TXT record {target}._report._dmarc.<that domain> "
                f'"v={VERSION}" (RFC 9990 section 4).',
            )
        )
    elif not parsed.valid_rua:
        findings.append(
            Finding(
                "dmarc.no-rua",
                Status.WARN,
                f"The record at {owner} asks for no aggregate reports (no usable rua): you "
                "cannot see who sends mail as the domain, which you need before enforcing a "
                "policy and to notice when a legitimate sender breaks.",
                "Add a report address: "
                + txt_record(
                    owner,
                    suggested_record(parsed, rua=[f"mailto:dmarc-reports@{target}"]),
                ),
                txt_record(owner, suggested_record(parsed, rua=[f"mailto:dmarc-reports@{target}"])),
            )
        )
    refused_rua = {d.uri for d in destinations if d.tag == "rua" and d.authorised is False}
    usable_rua = [uri for uri in parsed.valid_rua if uri.text not in refused_rua]
    for check in destinations:
        if check.authorised is None:
            findings.append(
                Finding(
                    "dmarc.dns-error",
                    Status.ERROR,
                    f"Could not verify that {check.destination} accepts DMARC reports for "
                    f"{policy_domain} ({check.detail}); receivers that cannot verify it "
                    "postpone or skip the reports.",
                    f"Check that {check.destination}'s nameservers answer for {check.query}.",
                )
            )
            continue
        if check.authorised:
            findings.append(
                Finding(
                    f"dmarc.{check.tag}-authorised",
                    Status.PASS,
                    f"{check.destination} authorises reports for {policy_domain} "
                    f"({check.query} has a v=DMARC1 record).",
                )
            )
            continue
        kind = "aggregate" if check.tag == "rua" else "failure"
        rule = "RFC 9990 section 4" if check.tag == "rua" else "RFC 9991"
        severity = Status.WARN
        if check.tag == "rua" and not usable_rua:
            severity = Status.FAIL
        findings.append(
            Finding(
                f"dmarc.unauthorised-{check.tag}",
                severity,
                f"{check.uri} is outside {policy_domain}'s organisation and {check.destination} "
                f"has not authorised it ({check.detail}), so receivers will not send "
                f"{kind} reports there ({rule})."
                + (" No aggregate reports will reach anyone." if severity is Status.FAIL else ""),
                f"The operator of {check.destination} must publish "
                + txt_record(check.query, f"v={VERSION}")
                + f" (or {txt_record(f'*._report._dmarc.{check.destination}', f'v={VERSION}')} "
                f"to accept every domain); otherwise remove {check.uri} from {owner}.",
                txt_record(check.query, f"v={VERSION}"),
            )
        )
    return findings


def _bulk(
    domain: str,
    discovery: DmarcDiscovery,
    *,
    ok: bool,
    replacement: str | None,
    no_mail: frozenset[str] = frozenset(),
) -> Finding:
    if ok:
        return Finding(
            "dmarc.bulk-sender-minimum",
            Status.PASS,
            f"{domain} meets the DMARC part of the {BULK_SENDER_PROVIDERS} bulk-sender rules: "
            f"a valid record applies (p={discovery.applied_policy()}, from "
            f"_dmarc.{discovery.policy_domain}). The rules also require the From: domain to "
            "align with the SPF or DKIM domain of each message; a test send shows that.",
        )
    reasons: list[str] = []
    parsed = discovery.parsed
    if replacement is not None:
        reasons.append(f"what is published at _dmarc.{domain} is discarded by receivers")
    if parsed is None:
        reasons.append("no DMARC record applies")
    elif discovery.from_psd:
        reasons.append("only a public suffix operator's record applies")
    elif parsed.policy is None or parsed.policy_tags_invalid:
        reasons.append(f"the record at _dmarc.{discovery.policy_domain} has no valid p tag")
    if replacement is not None:
        record = txt_record(f"_dmarc.{domain}", replacement)
        fix = "Publish this single record in its place: " + record
    elif parsed is None or discovery.from_psd:
        fix = _missing_fix(domain, no_mail)
        record = _missing_record(domain, no_mail)
    else:
        record = txt_record(f"_dmarc.{discovery.policy_domain}", suggested_record(parsed))
        fix = "Publish instead: " + record
    return Finding(
        "dmarc.bulk-sender-minimum",
        Status.FAIL,
        f"{domain} does not meet the DMARC minimum {BULK_SENDER_PROVIDERS} require of bulk "
        f"senders (a valid policy of at least p=none, aligned): {'; '.join(reasons)}. "
        "Microsoft rejects such mail with 550 5.7.515; Gmail and Yahoo reject or junk it.",
        fix,
        record,
    )


def _data(
    discovery: DmarcDiscovery,
    destinations: Sequence[DestinationCheck],
    bulk_ok: bool | None,
) -> dict[str, Any]:
    parsed = discovery.parsed
    own = discovery.own_step
    record = discovery.record
    shown = parsed
    if record is None and own is not None and own.texts:
        # Show what is there even when receivers discard it.
        candidates = [text for text in own.texts if _looks_like_dmarc(text)] or list(own.texts)
        record = candidates[0]
        shown = parse_dmarc(record)
    return {
        "record": record,
        "records": list(own.texts) if own is not None else [],
        "policy": discovery.applied_policy(),
        "subdomain_policy": discovery.subdomain_policy(),
        "np": discovery.subdomain_policy(nonexistent=True),
        "test_mode": bool(parsed and parsed.testing == "y"),
        "rua": [uri.text for uri in parsed.rua] if parsed else [],
        "ruf": [uri.text for uri in parsed.ruf] if parsed else [],
        "org_domain": discovery.org_domain,
        "policy_domain": discovery.policy_domain,
        "inherited": discovery.inherited,
        "psd_domain": discovery.psd_domain,
        "tags": [
            {
                "tag": entry.tag,
                "value": entry.value,
                "meaning": describe_tag(entry.tag, entry.value),
            }
            for entry in (shown.entries if shown else [])
        ],
        "walk": discovery.walk,
        "walk_steps": [step.to_dict() for step in discovery.steps],
        "external_destinations": [check.to_dict() for check in destinations],
        "bulk_sender_minimum": bulk_ok,
    }


def _summary(discovery: DmarcDiscovery, destinations: Sequence[DestinationCheck]) -> str:
    own = discovery.own_step
    if own is not None and own.outcome == "error":
        return "DMARC lookup failed"
    if discovery.parsed is None:
        if own is not None and own.outcome == "multiple":
            return "several DMARC records: none applies"
        if discovery.error is not None:
            return "DMARC lookup failed"
        return "no DMARC record"
    applied = discovery.applied_policy()
    text = f"p={applied}" if applied else "invalid policy"
    if discovery.parsed.testing == "y":
        text += " (test mode)"
    if discovery.inherited:
        text += f" from {discovery.policy_domain}"
    refused = sum(1 for check in destinations if check.authorised is False)
    reports = len(discovery.parsed.valid_rua)
    if reports == 0:
        text += ", no reports"
    elif refused:
        text += f", {refused} report destination(s) not authorised"
    else:
        text += f", reports to {reports} address(es)"
    return text
