"""MX records: where the domain receives mail, and whether senders can get there.

`mx_hosts` is the reusable part: fcrdns, blocklists, MTA-STS and the port probes
call it for the hosts to look at (the resolver context's cache makes the second
call free). `check_mx` turns its result into findings: missing MX, null MX (RFC
7505) done right or wrong, targets that are CNAMEs (RFC 2181 10.3) or IP literals
(RFC 5321 5.1), and targets with no address.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

import dns.name

from console.auth.options import AuditOptions
from console.auth.resolver import Lookup, Outcome, ResolverContext
from console.model import CheckResult, Finding, Status

CHECK_ID = "mx"

MAX_MX_FOR_SPF = 10
"""RFC 7208 4.6.4: an SPF `mx` mechanism fails (permerror) when the domain has more MX."""

MX_EXPLAINED: dict[str, str] = {
    "preference": "Lower is tried first; records with equal preference share the load.",
    "null MX": "A single `MX 0 .` (RFC 7505): the domain accepts no mail at all; "
    "senders bounce at once instead of retrying for days.",
    "implicit MX": "With no MX record, senders deliver to the domain's own A/AAAA "
    "address (RFC 5321 5.1): it works, but rarely by design.",
    "CNAME target": "An MX must name a host's canonical name, not an alias (RFC 2181 "
    "10.3); some senders refuse, and MTA-STS and DANE checks trip on it.",
    "IP literal": "An MX target must be a host name; an address written as a name is "
    "looked up as a name, finds nothing, and mail bounces (RFC 5321 5.1).",
}
"""Plain-words meaning of the MX terms the findings use, for the console's help."""


@dataclass(slots=True)
class MxHost:
    """One place mail for the domain goes to.

    Attributes:
        preference: the MX preference (0 for an implicit MX).
        host: the target name, lower-case, without the final dot.
        addresses: its A and AAAA addresses (through any CNAME).
        cname: the canonical name when `host` is an alias, else None.
        error: why the host has no usable address, or which lookup failed; else None.
        ip_literal: the target is an IP address written as a name (not looked up).
        lookup_failed: `error` comes from DNS trouble (timeout, SERVFAIL), not an answer.
    """

    preference: int
    host: str
    addresses: list[str] = field(default_factory=list)
    cname: str | None = None
    error: str | None = None
    ip_literal: bool = False
    lookup_failed: bool = False

    @property
    def usable(self) -> bool:
        """Whether a sender could connect to this host."""
        return bool(self.addresses) and not self.ip_literal

    def to_dict(self) -> dict[str, Any]:
        return {
            "preference": self.preference,
            "host": self.host,
            "addresses": list(self.addresses),
            "cname": self.cname,
            "error": self.error,
        }


@dataclass(slots=True)
class MxResult:
    """Where mail for a domain goes, as senders would work it out.

    Attributes:
        domain: the domain asked about.
        lookup: the MX lookup itself (check `.failed` before trusting anything else).
        hosts: real targets in preference order; root (`.`) targets are not included.
        null_mx: the domain publishes exactly `MX 0 .`: it accepts no mail, and checks
            of its mail hosts (MTA-STS, fcrdns, port probes) should skip.
        implicit: no MX exists, and `hosts` holds the domain itself (preference 0)
            because it has an A/AAAA record senders fall back to.
        null_preferences: preferences of MX records whose target is `.`; more than
            one such record, a non-zero preference, or any `hosts` beside it is a
            malformed null MX.
        address_lookups: the domain's own A/AAAA lookups, made only when it has no MX.
    """

    domain: str
    lookup: Lookup
    hosts: list[MxHost] = field(default_factory=list)
    null_mx: bool = False
    implicit: bool = False
    null_preferences: list[int] = field(default_factory=list)
    address_lookups: tuple[Lookup, ...] = ()

    @property
    def failed(self) -> bool:
        """The MX question itself could not be answered (`lookup.describe()` says why).

        A failed implicit-MX fallback shows in `address_lookups` instead.
        """
        return self.lookup.failed

    @property
    def accepts_mail(self) -> bool:
        """Whether some host could receive mail for the domain."""
        return not self.null_mx and any(host.usable for host in self.hosts)

    def records(self) -> list[dict[str, Any]]:
        """The MX records as JSON-ready dicts; root targets appear with host ".".

        Sorted by preference; for an implicit MX, the domain itself at preference 0.
        """
        rows = [host.to_dict() for host in self.hosts]
        rows += [
            {"preference": pref, "host": ".", "addresses": [], "cname": None, "error": None}
            for pref in self.null_preferences
        ]
        return sorted(rows, key=lambda row: (row["preference"], row["host"]))


def is_null_mx(lookup: Lookup) -> bool:
    """Whether an MX lookup's answer is exactly the null MX `0 .` of RFC 7505.

    For checks that only need to know whether a domain accepts mail at all, without
    resolving its hosts (TLS-RPT, DKIM).
    """
    if not lookup.ok or len(lookup.records) != 1:
        return False
    record = lookup.records[0]
    return record.exchange == dns.name.root and record.preference == 0


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


async def _resolve(ctx: ResolverContext, host: MxHost) -> tuple[Lookup, ...]:
    """Fill in `host`'s addresses, canonical name and error; return the lookups made."""
    lookups = await ctx.gather(ctx.query(host.host, "A"), ctx.query(host.host, "AAAA"))
    host.addresses = [address for lookup in lookups for address in lookup.addresses()]
    chains = [lookup.cnames for lookup in lookups if lookup.cnames]
    host.cname = chains[0][-1] if chains else None
    failures = [lookup for lookup in lookups if lookup.failed]
    if failures:
        host.lookup_failed = True
        host.error = "; ".join(lookup.describe() for lookup in failures)
    elif not host.addresses:
        name = f"its canonical name {host.cname}" if host.cname else "the name"
        if any(lookup.outcome is Outcome.NXDOMAIN for lookup in lookups):
            host.error = f"{name} does not exist (NXDOMAIN)"
        else:
            host.error = f"{name} has no A or AAAA record"
    return tuple(lookups)


async def mx_hosts(ctx: ResolverContext, domain: str) -> MxResult:
    """Where mail for `domain` goes: its MX hosts with their addresses. Never raises.

    Every host's A and AAAA are asked at once. With no MX at all, the domain's own
    A/AAAA is the implicit MX (RFC 5321 5.1). Reuse it freely: within one audit the
    resolver context answers repeated questions from its cache.

    Args:
        ctx: how to ask DNS.
        domain: the normalized domain.

    Returns:
        An MxResult; when `result.failed`, the domain's mail hosts are unknown.
    """
    lookup = await ctx.query(domain, "MX")
    result = MxResult(domain=domain, lookup=lookup)
    if lookup.failed or lookup.outcome is Outcome.NXDOMAIN:
        return result
    if lookup.outcome is Outcome.NODATA:
        implicit = MxHost(0, domain)
        result.address_lookups = await _resolve(ctx, implicit)
        if implicit.addresses:
            implicit.cname = None  # the domain itself: a CNAME here is not an MX alias
            result.hosts = [implicit]
            result.implicit = True
        return result
    for record in lookup.records:
        if record.exchange == dns.name.root:
            result.null_preferences.append(int(record.preference))
            continue
        name = record.exchange.to_text(omit_final_dot=True).lower()
        result.hosts.append(MxHost(int(record.preference), name, ip_literal=_is_ip_literal(name)))
    result.null_preferences.sort()
    result.hosts.sort(key=lambda host: (host.preference, host.host))
    result.null_mx = is_null_mx(lookup)
    for host in result.hosts:
        if host.ip_literal:
            host.error = f"{host.host} is an IP address, not a host name"
    await ctx.gather(*(_resolve(ctx, host) for host in result.hosts if not host.ip_literal))
    return result


# -- the check ---------------------------------------------------------------------------


def mx_line(domain: str, preference: int, host: str, ttl: int = 3600) -> str:
    """A zone-file MX line for a fix; `host` "." gives the null MX."""
    target = "." if host == "." else f"{host.rstrip('.')}."
    return f"{domain}. {ttl} IN MX {preference} {target}"


async def check_mx(ctx: ResolverContext, domain: str, options: AuditOptions) -> CheckResult:
    """Check that `domain` can receive mail, or properly declares that it cannot.

    Args:
        ctx: how to ask DNS.
        domain: the normalized mail domain.
        options: unused; part of the common check signature.

    Returns:
        CheckResult "mx" with data `records` (list of {preference, host, addresses,
        cname, error}; the implicit MX when `implicit`; root targets as host "."),
        `null_mx` and `implicit`.
    """
    del options
    result = await mx_hosts(ctx, domain)
    data: dict[str, Any] = {
        "records": result.records(),
        "null_mx": result.null_mx,
        "implicit": result.implicit,
    }
    if result.lookup.failed:
        finding = Finding(
            "mx.dns-error",
            Status.ERROR,
            f"Could not look up the MX records: {result.lookup.describe()}.",
            "Check that the domain's nameservers answer, then run the check again.",
        )
        return CheckResult.from_findings(
            CHECK_ID, "MX could not be checked: the lookup failed", [finding], data
        )
    if result.null_mx:
        finding = Finding(
            "mx.null",
            Status.PASS,
            f"{domain} publishes a null MX (RFC 7505): it accepts no mail, and senders "
            "bounce at once. Mail from this domain may be refused too (RFC 7505 4.2), and "
            "its bounces and DMARC reports cannot come back, so do not send from it.",
            "Nothing to do if the domain never receives mail; otherwise replace the null MX "
            f"with real ones, e.g. {mx_line(domain, 10, 'mail.' + domain)}",
        )
        return CheckResult.from_findings(
            CHECK_ID, "null MX: the domain declares it accepts no mail", [finding], data
        )

    findings = _record_findings(domain, result)
    return CheckResult.from_findings(CHECK_ID, _summary(result), findings, data)


def _record_findings(domain: str, result: MxResult) -> list[Finding]:
    findings: list[Finding] = []
    lookup = result.lookup
    can_receive = result.accepts_mail
    if result.null_preferences:
        findings.append(_null_problem(domain, result))
    if lookup.is_void or (not result.hosts and not result.null_preferences):
        findings.extend(_missing(domain, result))
        return findings

    # A broken target is an outage if it was the only way in, a degradation otherwise.
    broken = Status.WARN if can_receive else Status.FAIL
    for host in result.hosts:
        if host.ip_literal:
            findings.append(
                Finding(
                    "mx.ip-literal",
                    broken,
                    f"The MX target {host.host} is an IP address written as a host name; "
                    "senders look it up as a name, find nothing, and cannot deliver there "
                    "(RFC 5321 5.1).",
                    f"Give the server a name: `mail.{domain}. 3600 IN A {host.host}` and "
                    f"{mx_line(domain, host.preference, 'mail.' + domain)}",
                    f"mail.{domain}. 3600 IN {'AAAA' if ':' in host.host else 'A'} "
                    f"{host.host.strip('[]')}\n"
                    + mx_line(domain, host.preference, "mail." + domain),
                )
            )
            continue
        if host.cname:
            findings.append(
                Finding(
                    "mx.cname",
                    Status.WARN,
                    f"The MX target {host.host} is an alias (CNAME) of {host.cname}; RFC "
                    "2181 10.3 forbids that, some senders refuse it, and MTA-STS and DANE "
                    "checks match the wrong name.",
                    f"Point the MX at the canonical name: "
                    f"{mx_line(domain, host.preference, host.cname)}",
                    mx_line(domain, host.preference, host.cname),
                )
            )
        if host.lookup_failed:
            findings.append(
                Finding(
                    "mx.dns-error",
                    Status.ERROR if not host.addresses else Status.WARN,
                    f"Could not resolve the MX host {host.host}: {host.error}.",
                    "Check that the nameservers of the host's domain answer, then run "
                    "the check again.",
                )
            )
        elif not host.addresses:
            findings.append(
                Finding(
                    "mx.unresolvable",
                    broken,
                    f"The MX host {host.host} has no address: {host.error}. Senders "
                    + (
                        "skip it and use the other MX hosts."
                        if can_receive
                        else "cannot deliver any mail to the domain."
                    ),
                    f"Publish an A (and AAAA) record for {host.host}, or remove "
                    f"`{mx_line(domain, host.preference, host.host)}`.",
                )
            )
    total = len(result.hosts) + len(result.null_preferences)
    if total > MAX_MX_FOR_SPF:
        findings.append(
            Finding(
                "mx.too-many",
                Status.WARN,
                f"{domain} has {total} MX records; an SPF `mx` mechanism allows at most "
                f"{MAX_MX_FOR_SPF} (RFC 7208 4.6.4), so an SPF record using `mx` fails "
                "with permerror.",
                f"Use at most {MAX_MX_FOR_SPF} MX records, or list the sending addresses "
                "in SPF with ip4:/ip6: instead of `mx`.",
            )
        )
    return findings


def _null_problem(domain: str, result: MxResult) -> Finding:
    if result.hosts:
        others = ", ".join(f"{h.preference} {h.host}" for h in result.hosts)
        return Finding(
            "mx.null-mixed",
            Status.FAIL,
            f"{domain} publishes a null MX (`MX 0 .`) next to other MX records ({others}); "
            "RFC 7505 forbids that, and senders disagree on whether the domain takes mail.",
            "If the domain receives mail, delete the line "
            f"`{mx_line(domain, result.null_preferences[0], '.')}`; if it does not, "
            "delete the other MX records.",
        )
    prefs = ", ".join(str(pref) for pref in result.null_preferences)
    return Finding(
        "mx.null-malformed",
        Status.FAIL,
        f"{domain} has MX records pointing to `.` with preference {prefs}; a null MX must "
        "be a single record with preference 0 (RFC 7505), so senders may keep retrying "
        "instead of bouncing at once.",
        f"Publish exactly one null MX: {mx_line(domain, 0, '.')}",
        mx_line(domain, 0, "."),
    )


def _missing(domain: str, result: MxResult) -> list[Finding]:
    failures = [lookup for lookup in result.address_lookups if lookup.failed]
    if result.implicit:
        (host,) = result.hosts
        out = [
            Finding(
                "mx.implicit",
                Status.WARN,
                f"{domain} has no MX record, so senders deliver to its A/AAAA address "
                f"({', '.join(host.addresses)}) instead (RFC 5321 5.1); that is rarely "
                "a mail server, and some senders refuse to fall back.",
                f"Publish an MX for the server that receives your mail, e.g. "
                f"{mx_line(domain, 10, 'mail.' + domain)}; if the domain receives no "
                f"mail, publish a null MX: {mx_line(domain, 0, '.')}",
            )
        ]
    elif failures:
        return [
            Finding(
                "mx.dns-error",
                Status.ERROR,
                f"{domain} has no MX record, and looking up its address for the implicit "
                f"MX failed: {failures[0].describe()}.",
                "Check that the domain's nameservers answer, then run the check again.",
            )
        ]
    else:
        exists = result.lookup.outcome is not Outcome.NXDOMAIN
        why = "has no MX record and no address" if exists else "does not exist (NXDOMAIN)"
        out = [
            Finding(
                "mx.missing",
                Status.FAIL,
                f"{domain} {why}, so it cannot receive mail: replies, bounces (DSNs) and "
                "DMARC reports sent to it are lost, and receivers may refuse mail from a "
                "domain that cannot take replies.",
                f"Publish an MX for the server that receives your mail, e.g. "
                f"{mx_line(domain, 10, 'mail.' + domain)}; if the domain must never "
                f"receive mail, publish a null MX instead: {mx_line(domain, 0, '.')}",
            )
        ]
    if failures:
        out.append(
            Finding(
                "mx.dns-error",
                Status.WARN,
                f"Part of the implicit-MX address lookup failed: {failures[0].describe()}.",
                "Check that the domain's nameservers answer, then run the check again.",
            )
        )
    return out


def _summary(result: MxResult) -> str:
    if result.implicit:
        return "no MX: mail falls back to the domain's own address"
    if not result.hosts:
        if result.null_preferences:
            return "malformed null MX"
        return "no MX: the domain cannot receive mail"
    # Only DNS is asked here: a host with an address may still refuse connections,
    # so the summary must not claim more than "has an address" (the port probe tests
    # reachability).
    usable = sum(1 for host in result.hosts if host.usable)
    names = ", ".join(f"{h.preference} {h.host}" for h in result.hosts[:4])
    more = ", ..." if len(result.hosts) > 4 else ""
    return f"{len(result.hosts)} MX host(s), {usable} with addresses: {names}{more}"
