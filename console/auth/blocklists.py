"""IP blocklists (DNSBLs): are the MX hosts or the sending addresses listed?

An address is looked up as `<reversed address>.<list zone>` (RFC 5782 2.1: octets
reversed for IPv4, nibbles reversed for IPv6). NXDOMAIN means not listed; an A record
in 127.0.0.0/8 is a listing whose last octet the list documents (a code table per
list lives below, as data); a TXT record at the same name gives the list's reason.

Answers that are not listings are told apart, because treating them as listings
blocks mail for nothing and treating them as "clean" hides a blind spot:

- 127.255.255.0/24 is the error range Spamhaus introduced (252 typo in the zone name,
  254 query through a public/open resolver, 255 too many queries); other lists use
  it the same way. Never a listing.
- 127.0.0.1 is never listed (RFC 5782 5); URI lists answer it to refuse a query.
- An address outside 127.0.0.0/8 comes from a dead list whose domain was parked
  with a wildcard: every address would look listed.
- Spamhaus PBL codes (127.0.0.10/11) are listings, but of policy, not abuse: the
  range is end-user or dynamic addresses that should not send straight to MX hosts.
  They matter for sending addresses only and are reported apart from spam listings.
- Each list's RFC 5782 test entry (127.0.0.2) is asked too, at the same time: a list
  that does not list it is not answering (defunct, or refusing this resolver), and
  its "not listed" means nothing.

Every question goes out at once; the TXT reason is asked only for a listing, so the
free-use quotas of the lists are not spent on the common clean case.
"""

from __future__ import annotations

import asyncio
import ipaddress
from dataclasses import dataclass, field
from typing import Any

import dns.name
import dns.reversename

from console.auth.mx import MxResult, mx_hosts
from console.auth.options import AuditOptions
from console.auth.resolver import Lookup, Outcome, ResolverContext
from console.literal import printable
from console.model import CheckResult, Finding, Status

CHECK_ID = "blocklists"

TEST_ENTRY = "127.0.0.2"
"""RFC 5782 5: every IPv4 DNSBL lists 127.0.0.2, so a client can tell the list works."""


@dataclass(frozen=True, slots=True)
class Blocklist:
    """What is known about one DNSBL: its name, weight and return codes.

    Attributes:
        zone: the DNS zone queried.
        name: what people call it.
        major: widely used by receivers: a listing blocks mail at many of them.
        codes: return code (127.0.0.x) -> meaning in plain words.
        lookup: a page showing why an address is listed and how to get it removed;
            `{ip}` is replaced by the address.
        note: anything an admin should know about using the list.
        policy_codes: codes that list an address for the network owner's sending
            policy (an end-user or dynamic range), not for spam or abuse.
    """

    zone: str
    name: str
    major: bool = False
    codes: dict[str, str] = field(default_factory=dict)
    lookup: str = ""
    note: str = ""
    policy_codes: frozenset[str] = frozenset()

    def to_dict(self) -> dict[str, Any]:
        return {
            "zone": self.zone,
            "name": self.name,
            "major": self.major,
            "codes": dict(self.codes),
            "lookup": self.lookup,
            "note": self.note,
            "policy_codes": sorted(self.policy_codes, key=_sort_key),
        }


SPAMHAUS_CODES: dict[str, str] = {
    "127.0.0.2": "SBL: a spam source or spam operation Spamhaus tracks",
    "127.0.0.3": "CSS: part of a snowshoe spam operation (automated SBL listing)",
    "127.0.0.4": "XBL: an exploited or infected machine (botnet, open proxy)",
    "127.0.0.5": "XBL (code reserved)",
    "127.0.0.6": "XBL (code reserved)",
    "127.0.0.7": "XBL (code reserved)",
    "127.0.0.9": "DROP: a hijacked or criminal network (always with an SBL listing)",
    "127.0.0.10": "PBL: the ISP says this range should not send mail directly to MX hosts",
    "127.0.0.11": "PBL: Spamhaus says this range should not send mail directly to MX hosts",
    "127.0.0.30": "BCL: a botnet controller",
}
"""Spamhaus ZEN return codes (docs.spamhaus.com, datasets/040-zones)."""

SPAMHAUS_POLICY_CODES = frozenset({"127.0.0.10", "127.0.0.11"})
"""The PBL codes: a policy listing of end-user/dynamic ranges, not a spam or abuse one.

PBL is consulted on the connecting client, so it only matters for an address that
sends mail straight to other domains' MX hosts; receiving mail is unaffected."""

SPAMHAUS_DATASETS: dict[str, str] = {
    "zen": "ZEN",
    "sbl": "SBL",
    "xbl": "XBL",
    "pbl": "PBL",
    "sbl-xbl": "SBL-XBL",
    "css": "CSS",
}
"""Spamhaus IP zones (the first label of `<dataset>.spamhaus.org`) -> what they are called."""

ERROR_CODES: dict[str, str] = {
    "127.255.255.250": "error: the Data Query Service key is invalid or unregistered",
    "127.255.255.251": "error: the Data Query Service key is invalid or unregistered",
    "127.255.255.252": "error: typing error in the DNSBL zone name",
    "127.255.255.254": "error: query refused, it came through a public or open resolver",
    "127.255.255.255": "error: query refused, too many queries from this resolver",
}
"""The 127.255.255.0/24 error range (Spamhaus, 2019): never a listing."""

REFUSAL_CODES = frozenset({"127.255.255.254", "127.255.255.255"})
"""Error codes that mean "the list refuses to answer this resolver"."""

KNOWN_LISTS: dict[str, Blocklist] = {
    list_.zone: list_
    for list_ in (
        Blocklist(
            "zen.spamhaus.org",
            "Spamhaus ZEN",
            major=True,
            codes=SPAMHAUS_CODES,
            lookup="https://check.spamhaus.org/results/?query={ip}",
            note="Free for low-volume non-commercial use, and only through your own "
            "resolver: public resolvers (8.8.8.8, 1.1.1.1, ...) get 127.255.255.254. "
            "The free Data Query Service (a key in the zone name) has no such limit.",
            policy_codes=SPAMHAUS_POLICY_CODES,
        ),
        Blocklist(
            "bl.spamcop.net",
            "SpamCop",
            major=True,
            codes={"127.0.0.2": "the address sent mail that SpamCop users reported as spam"},
            lookup="https://www.spamcop.net/bl.shtml?{ip}",
            note="Listings expire on their own shortly after the reports stop.",
        ),
        Blocklist(
            "b.barracudacentral.org",
            "Barracuda Reputation Block List",
            major=True,
            codes={"127.0.0.2": "the address has a poor reputation in Barracuda's sender database"},
            lookup="https://www.barracudacentral.org/lookups/lookup-reputation",
            note="Free, but Barracuda asks that the resolver's address be registered.",
        ),
        Blocklist(
            "psbl.surriel.com",
            "Passive Spam Block List",
            codes={"127.0.0.2": "the address sent mail to PSBL spam traps"},
            lookup="https://psbl.org/listing?ip={ip}",
            note="Anyone can remove an address on the lookup page.",
        ),
        Blocklist(
            "dnsbl.sorbs.net",
            "SORBS",
            codes={
                "127.0.0.2": "HTTP proxy",
                "127.0.0.3": "SOCKS proxy",
                "127.0.0.4": "other open proxy",
                "127.0.0.5": "open SMTP relay",
                "127.0.0.6": "spam source",
                "127.0.0.7": "vulnerable web server",
                "127.0.0.8": "the network asked not to be tested",
                "127.0.0.9": "zombie (hijacked network)",
                "127.0.0.10": "dynamic IP range",
                "127.0.0.11": "bad mail configuration",
                "127.0.0.12": "the domain sends no mail",
                "127.0.0.14": "the network has no servers",
            },
            note="Proofpoint decommissioned SORBS on 5 June 2024; it no longer holds "
            "reputation data, so its answers (if any) mean nothing.",
        ),
    )
}
"""The lists mailscope knows the codes of; other zones are read with generic codes."""


def describe_list(zone: str) -> Blocklist:
    """The known facts about `zone`, or a generic entry (127.0.0.x means listed)."""
    zone = zone.lower().rstrip(".")
    known = KNOWN_LISTS.get(zone)
    if known is not None:
        return known
    name = _spamhaus_name(zone)
    if name is not None:
        spamhaus = KNOWN_LISTS["zen.spamhaus.org"]
        return Blocklist(
            zone,
            name,
            major=True,
            codes=SPAMHAUS_CODES,
            lookup=spamhaus.lookup,
            policy_codes=SPAMHAUS_POLICY_CODES,
        )
    return Blocklist(zone, zone)


def _spamhaus_name(zone: str) -> str | None:
    """`Spamhaus PBL` for pbl.spamhaus.org, `Spamhaus ZEN via DQS` for a DQS key zone.

    The zone is shown next to the name in messages, so the name must not repeat it.
    """
    for suffix, via in ((".spamhaus.org", ""), (".dq.spamhaus.net", " via DQS")):
        if zone.endswith(suffix):
            dataset = zone[: -len(suffix)].rsplit(".", 1)[-1]
            known = SPAMHAUS_DATASETS.get(dataset)
            return f"Spamhaus {known}{via}" if known else f"Spamhaus{via}"
    return None


def query_name(address: str, zone: str) -> str:
    """`2.0.0.127.zen.spamhaus.org` for 127.0.0.2; 32 reversed nibbles for IPv6."""
    origin = dns.name.from_text(zone)
    name = dns.reversename.from_address(address, v4_origin=origin, v6_origin=origin)
    return name.to_text(omit_final_dot=True)


# -- results --------------------------------------------------------------------------


@dataclass(slots=True)
class Listing:
    """One address looked up on one list."""

    address: str
    list: str
    listed: bool = False
    codes: list[str] = field(default_factory=list)
    meanings: list[str] = field(default_factory=list)
    reason: str | None = None
    """The list's TXT record, exactly as published, when listed."""
    policy_codes: list[str] = field(default_factory=list)
    """The codes among `codes` that are policy listings (Spamhaus PBL), not abuse ones."""
    error: str | None = None
    error_kind: str | None = None
    """`refused`, `list-error` or `dns-error` when `error` is set."""
    roles: list[str] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "list": self.list,
            "listed": self.listed,
            "codes": list(self.codes),
            "meanings": list(self.meanings),
            "reason": self.reason,
            "policy_codes": list(self.policy_codes),
            "error": self.error,
            "roles": list(self.roles),
            "hosts": list(self.hosts),
        }


@dataclass(slots=True)
class ListHealth:
    """Whether a list answers its RFC 5782 test entry as listed."""

    info: Blocklist
    working: bool | None = None
    error: str | None = None
    error_kind: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {**self.info.to_dict(), "working": self.working, "error": self.error}


def read_answer(lookup: Lookup, info: Blocklist) -> Listing:
    """Turn the A lookup of one address on one list into a Listing (no TXT yet)."""
    result = Listing(address="", list=info.zone)
    if lookup.failed:
        result.error, result.error_kind = lookup.describe(), "dns-error"
        return result
    if lookup.outcome is not Outcome.ANSWER:
        return result  # NXDOMAIN (or an empty answer): not listed
    codes = sorted(set(lookup.addresses()), key=_sort_key)
    result.codes = codes
    outside = [code for code in codes if not _in_loopback(code)]
    if outside:
        result.error_kind = "list-error"
        result.error = (
            f"{info.zone} answered {', '.join(outside)}, outside 127.0.0.0/8: the list is "
            "dead or its domain parked with a wildcard, so its answers mean nothing"
        )
        return result
    errors = [code for code in codes if code.startswith("127.255.255.") or code == "127.0.0.1"]
    if errors:
        result.meanings = [_error_meaning(code) for code in errors]
        result.error_kind = "refused" if any(c in REFUSAL_CODES for c in errors) else "list-error"
        result.error = f"{info.zone} answered {', '.join(errors)} ({'; '.join(result.meanings)})"
        return result
    result.listed = True
    result.meanings = [info.codes.get(code, f"listed (code {code})") for code in codes]
    result.policy_codes = [code for code in codes if code in info.policy_codes]
    return result


def _error_meaning(code: str) -> str:
    if code == "127.0.0.1":
        return "error: 127.0.0.1 is never a listing (RFC 5782); the list refused the query"
    return ERROR_CODES.get(code, "error code from the list (127.255.255.0/24)")


def _in_loopback(code: str) -> bool:
    try:
        return ipaddress.ip_address(code) in ipaddress.ip_network("127.0.0.0/8")
    except ValueError:
        return False


def _sort_key(code: str) -> tuple[int, str]:
    try:
        return (int(ipaddress.ip_address(code)), code)
    except ValueError:
        return (0, code)


# -- the check ------------------------------------------------------------------------


@dataclass(slots=True)
class _Target:
    address: str
    roles: list[str] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)


async def _lookup(ctx: ResolverContext, target: _Target, info: Blocklist) -> Listing:
    name = query_name(target.address, info.zone)
    result = read_answer(await ctx.query(name, "A"), info)
    result.address, result.roles, result.hosts = target.address, target.roles, target.hosts
    if result.listed:
        txt = await ctx.query(name, "TXT")
        if txt.ok:
            result.reason = " ".join(txt.texts())
    return result


async def _health(ctx: ResolverContext, info: Blocklist) -> ListHealth:
    health = ListHealth(info)
    probe = read_answer(await ctx.query(query_name(TEST_ENTRY, info.zone), "A"), info)
    if probe.error:
        health.working, health.error, health.error_kind = False, probe.error, probe.error_kind
    elif not probe.listed:
        health.working, health.error_kind = False, "list-error"
        health.error = (
            f"{info.zone} does not list its test entry {TEST_ENTRY} (RFC 5782): the list "
            "is not answering (decommissioned, misspelt, or ignoring this resolver), so "
            'its "not listed" answers mean nothing'
        )
    else:
        health.working = True
    return health


async def check_blocklists(
    ctx: ResolverContext, domain: str, options: AuditOptions | None = None
) -> CheckResult:
    """Look up every MX address and every `--ip` on every configured DNSBL.

    Args:
        ctx: how to ask DNS.
        domain: the normalized mail domain.
        options: `ips` (sending addresses) and `dnsbls` (zones to query).

    Returns:
        A `blocklists` CheckResult: fail for a listing on a major list, warn for one on
        another list; a policy listing (Spamhaus PBL, `blocklists.policy-listed`) fails
        a sending address and warns for an MX-only one. Error when a list refused to
        answer this resolver (`blocklists.refused`), gave
        a broken answer or does not work (`blocklists.list-error`), or could not be
        reached (`blocklists.dns-error`). `data.results` has one entry per address and
        list ({address, list, listed, codes, meanings, reason, policy_codes, error,
        roles, hosts});
        `data.lists` what is known about each list and whether it works.
    """
    options = options or AuditOptions()
    zones = list(dict.fromkeys(zone.lower().rstrip(".") for zone in options.dnsbls if zone))
    if not zones:
        return CheckResult.skipped(CHECK_ID, "no blocklists configured", results=[], lists=[])
    infos = [describe_list(zone) for zone in zones]
    health_tasks: list[asyncio.Future[ListHealth]] = []
    targets: dict[str, _Target] = {}
    findings: list[Finding] = []
    for text in options.ips:
        try:
            address = str(ipaddress.ip_address(text.strip()))
        except ValueError:
            findings.append(_invalid(text))
            continue
        targets.setdefault(address, _Target(address)).roles.append("sending")
    sending_tasks = {
        (address, info.zone): asyncio.ensure_future(_lookup(ctx, target, info))
        for address, target in targets.items()
        for info in infos
    }
    if targets:
        health_tasks = [asyncio.ensure_future(_health(ctx, info)) for info in infos]
    try:
        mx = await mx_hosts(ctx, domain)
        findings += _mx_findings(mx)
        new: list[_Target] = []
        for host in mx.hosts if not mx.null_mx else []:
            for address in host.addresses:
                target = targets.get(address)
                if target is None:
                    target = targets[address] = _Target(address)
                    new.append(target)
                if "mx" not in target.roles:
                    target.roles.append("mx")
                target.hosts.append(host.host)
        if new and not health_tasks:
            # Probed only when there is something to look up: a bulk audit of domains
            # without mail hosts spends none of the lists' free-use quota.
            health_tasks = [asyncio.ensure_future(_health(ctx, info)) for info in infos]
        mx_results = await ctx.gather(
            *(_lookup(ctx, target, info) for target in new for info in infos)
        )
        results = [*(await ctx.gather(*sending_tasks.values())), *mx_results]
        health = await ctx.gather(*health_tasks)
    finally:
        for task in [*health_tasks, *sending_tasks.values()]:
            task.cancel()  # only matters when cancelled midway; done tasks ignore it
    if not targets and not any(f.severity is Status.ERROR for f in findings):
        why = "null MX" if mx.null_mx else "no MX addresses"
        return CheckResult.skipped(
            CHECK_ID, f"{why} and no --ip: nothing to look up", results=[], lists=[]
        )
    order = {address: index for index, address in enumerate(targets)}
    results.sort(key=lambda r: (order.get(r.address, 0), zones.index(r.list)))
    by_zone = {h.info.zone: h for h in health}
    for result in results:
        state = by_zone.get(result.list)
        if state is not None and state.working is False and not (result.error or result.listed):
            # "Not listed" from a list that fails its own test entry is no answer at all.
            result.error, result.error_kind = state.error, state.error_kind
    findings += _list_findings(results, by_zone, infos, ctx.server_label)
    info_of = {info.zone: info for info in infos}
    for result in results:
        if result.listed:
            findings += _listing_findings(result, info_of[result.list])
    lists = [
        by_zone[i.zone].to_dict() if i.zone in by_zone else ListHealth(i).to_dict() for i in infos
    ]
    data = {"results": [result.to_dict() for result in results], "lists": lists}
    summary = _summary(results, health, targets, infos)
    return CheckResult.from_findings(CHECK_ID, summary, findings, data)


def _who(result: Listing) -> str:
    if "mx" in result.roles and result.hosts:
        hosts = ", ".join(dict.fromkeys(result.hosts))
        also = " and sending address" if "sending" in result.roles else ""
        return f"{result.address} (MX host {hosts}{also})"
    return f"sending address {result.address}"


def _listing_findings(result: Listing, info: Blocklist) -> list[Finding]:
    """A spam/abuse listing and a policy (PBL) listing are told apart: they differ in
    what they mean, who is hurt, and how they are fixed."""
    findings: list[Finding] = []
    abuse = [
        meaning
        for code, meaning in zip(result.codes, result.meanings, strict=True)
        if code not in result.policy_codes
    ]
    if abuse:
        findings.append(_listed(result, info, abuse))
    if result.policy_codes:
        findings.append(_policy_listed(result, info))
    return findings


def _listed(result: Listing, info: Blocklist, meanings_list: list[str]) -> Finding:
    meanings = "; ".join(meanings_list)
    said = f' The list says: "{printable(result.reason)}".' if result.reason else ""
    why = (
        "It is a widely used list: many receivers reject mail from listed addresses outright"
        if info.major
        else "Receivers that use this list reject or spam-folder mail from the address"
    )
    where = info.lookup.format(ip=result.address) if info.lookup else f"the {info.name} website"
    return Finding(
        "blocklists.listed",
        Status.FAIL if info.major else Status.WARN,
        f"{_who(result)} is listed on {_label(info)}: {meanings}. {why}.{said}",
        "Find and stop the cause first (a compromised account or machine, a form or list "
        "sending to bad addresses, bounces sent after accepting mail), then request removal "
        f"at {where}. Relisting follows quickly if the cause remains.",
    )


def _policy_listed(result: Listing, info: Blocklist) -> Finding:
    """A PBL listing: fails a sending address, warns for an address only known as an MX.

    PBL is checked against the client that connects to deliver mail, so it never
    affects receiving. An MX-only address still warns rather than passing: without
    --ip nothing says it does not also send (bounces, forwards, its own outgoing
    mail), and if it does, receivers using Spamhaus reject that mail; the same
    reasoning gives a missing PTR of an MX host a warning in the fcrdns check.
    """
    sending = "sending" in result.roles
    meanings = "; ".join(
        meaning
        for code, meaning in zip(result.codes, result.meanings, strict=True)
        if code in result.policy_codes
    )
    if sending:
        impact = (
            "Receivers that use Spamhaus (many large ones do) reject mail this address "
            "sends directly to them"
        )
    else:
        impact = (
            "It does not affect receiving mail; it matters only if this host also sends "
            "mail directly (bounces, forwards, its own outgoing mail), which receivers "
            "using Spamhaus reject. If it relays outgoing mail through a smarthost, this "
            "is expected and harmless"
        )
    where = info.lookup.format(ip=result.address) if info.lookup else f"the {info.name} website"
    return Finding(
        "blocklists.policy-listed",
        Status.FAIL if sending else Status.WARN,
        f"{_who(result)} is on the policy list of {_label(info)}: {meanings}. This is not "
        f"a spam or abuse listing: the range is marked as end-user or dynamic addresses "
        f"that should not send mail straight to other domains' MX hosts. {impact}.",
        "PBL lists end-user/dynamic ranges: if this is a legitimate mail server on a static "
        f"IP, its owner can remove it at {where}; otherwise relay outgoing mail through "
        "your provider's smarthost.",
    )


def _list_findings(
    results: list[Listing],
    health: dict[str, ListHealth],
    infos: list[Blocklist],
    resolver: str,
) -> list[Finding]:
    """One finding per list that could not give a trustworthy answer."""
    findings: list[Finding] = []
    for info in infos:
        zone = info.zone
        state = health.get(zone, ListHealth(info))
        failed = [r for r in results if r.list == zone and r.error]
        kinds = {r.error_kind for r in failed}
        if state.error_kind:
            kinds.add(state.error_kind)
        if not kinds:
            continue
        detail = state.error or failed[0].error
        label = _label(info)
        scope = f"for {len(failed)} address(es)" if failed else "for its own test entry"
        note = f" {info.note}" if info.note else ""
        if "refused" in kinds:
            findings.append(
                Finding(
                    "blocklists.refused",
                    Status.ERROR,
                    f"{label} refused to answer {scope}: {detail}. The refusal is about "
                    f"the resolver the query went through ({resolver}), not about the "
                    "domain or its addresses: whether they are listed could not be "
                    f"determined, so their results are missing, not clean.{note}",
                    "Query the list through a resolver you run yourself (a local unbound "
                    "or your mail server's resolver) with --nameserver, not a public one "
                    "such as 8.8.8.8 or 1.1.1.1. For Spamhaus, or for high volume, register "
                    "for the free Data Query Service (DQS) key and check with --dnsbl "
                    "<key>.zen.dq.spamhaus.net.",
                )
            )
        elif "list-error" in kinds:
            findings.append(
                Finding(
                    "blocklists.list-error",
                    Status.ERROR,
                    f"{label} gave no usable answer {scope}: {detail}. "
                    f"Its results are ignored.{note}",
                    f"Check the zone name {info.zone!r}; if the list was shut down, remove "
                    "it from the checked lists (--dnsbl) and from your mail server's config.",
                )
            )
        else:
            findings.append(
                Finding(
                    "blocklists.dns-error",
                    Status.ERROR,
                    f"{label} could not be asked {scope}: {detail}. Only this "
                    "list's results are missing.",
                    "Run the check again; if the list keeps timing out, it may be down or "
                    "rate-limiting your resolver.",
                )
            )
    return findings


def _label(info: Blocklist) -> str:
    return info.zone if info.name == info.zone else f"{info.name} ({info.zone})"


def _mx_findings(mx: MxResult) -> list[Finding]:
    if mx.lookup.failed:
        return [
            Finding(
                "blocklists.dns-error",
                Status.ERROR,
                f"The MX hosts could not be looked up ({mx.lookup.describe()}), so their "
                "addresses were not checked against blocklists.",
                "Check that the domain's nameservers answer, then run the check again.",
            )
        ]
    return [
        Finding(
            "blocklists.dns-error",
            Status.ERROR,
            f"The addresses of MX host {host.host} could not be looked up ({host.error}), "
            "so they were not checked against blocklists.",
            "Check that the nameservers of the host's domain answer, then run the check again.",
        )
        for host in mx.hosts
        if host.lookup_failed and not host.addresses
    ]


def _invalid(text: str) -> Finding:
    return Finding(
        "blocklists.invalid-address",
        Status.ERROR,
        f"{printable(text)!r} is not an IP address, so it was not looked up on blocklists.",
        "Give --ip an IPv4 or IPv6 address, such as 192.0.2.10 or 2001:db8::25.",
    )


def _summary(
    results: list[Listing],
    health: list[ListHealth],
    targets: dict[str, _Target],
    infos: list[Blocklist],
) -> str:
    """Counts only lists that answered; names the ones that did not."""
    if not targets:
        return "the mail hosts are unknown: nothing was looked up"
    broken = {h.info.zone for h in health if h.error} | {r.list for r in results if r.error}
    answered = [info.zone for info in infos if info.zone not in broken]
    unchecked = [info.zone for info in infos if info.zone in broken]
    tail = f"; could not check {', '.join(unchecked)}" if unchecked else ""
    abuse = [r for r in results if r.listed and set(r.codes) - set(r.policy_codes)]
    policy = [r for r in results if r.listed and r.policy_codes]
    parts: list[str] = []
    if abuse:
        addresses = len({r.address for r in abuse})
        lists = len({r.list for r in abuse})
        parts.append(f"{addresses} address(es) listed on {lists} list(s)")
    if policy:
        addresses = len({r.address for r in policy})
        parts.append(f"{addresses} address(es) in a policy (PBL) range")
    if not parts:
        if not answered:
            return f"no list could be checked: {', '.join(unchecked)}"
        parts.append(f"{len(targets)} address(es) not listed on {len(answered)} list(s)")
    return "; ".join(parts) + tail
