"""Forward-confirmed reverse DNS (FCrDNS) of the MX hosts and the sending addresses.

For each address, the PTR record of its reverse name must give a host name whose A
(or AAAA) record lists the same address again. Gmail and Yahoo require it of every
sending IP (reference.md, bulk-sender rules) and many receivers refuse or score
down peers without it. MX addresses are checked too: the MX hosts of small domains
usually send as well, and receivers checking a bounce path look at them.

All PTR questions go out at once, then all forward questions at once; the sending
addresses are asked about while the MX hosts are still being looked up.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any

import dns.reversename

from console.auth.mx import MxResult, mx_hosts
from console.auth.options import AuditOptions
from console.auth.resolver import Lookup, ResolverContext
from console.model import CheckResult, Finding, Status

CHECK_ID = "fcrdns"

FCRDNS_EXPLAINED: dict[str, str] = {
    "PTR": "The reverse-DNS record of an address (in in-addr.arpa or ip6.arpa): the host "
    "name the address claims. It lives in the zone of whoever owns the address block, "
    "usually the hosting provider or ISP, not in your own DNS.",
    "forward-confirmed": "The PTR name's A/AAAA record lists the address again. Anyone can "
    "make a PTR claim any name; only the round trip shows the name's owner agrees.",
    "generic PTR": "A provider's placeholder name built from the address digits (like "
    "192-0-2-10.dyn.example.net). Filters read it as a dynamic or consumer address that "
    "should not send mail directly.",
    "sending": "An address given with --ip: a server that sends the domain's mail. Gmail "
    "and Yahoo require forward-confirmed reverse DNS for it.",
    "mx": "An address of one of the domain's MX hosts, which receives its mail.",
}
"""Plain-words meaning of the terms this check reports, for the console's help."""

ROLE_MX = "mx"
ROLE_SENDING = "sending"

_DYNAMIC_WORDS = re.compile(
    r"(^|[-.])(dyn|dynamic|dhcp|pool|dsl|adsl|vdsl|cable|ppp|pppoe|dialup|dial|broadband|"
    r"client|customer|cust|user|host|ip|static|unassigned|nat)(?=$|[-.\d])"
)


@dataclass(slots=True)
class ReverseDns:
    """What reverse DNS says about one address in one role."""

    address: str
    role: str
    host: str | None = None
    """The MX host the address belongs to (role `mx`); None for sending addresses."""
    ptr: list[str] = field(default_factory=list)
    confirmed: list[str] = field(default_factory=list)
    """PTR names whose A/AAAA lists the address again."""
    forward_confirmed: bool = False
    generic: bool = False
    matches_host: bool = False
    error: str | None = None
    no_ptr: bool = False
    invalid: bool = False
    forward_errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "role": self.role,
            "host": self.host,
            "ptr": list(self.ptr),
            "forward_confirmed": self.forward_confirmed,
            "confirmed_names": list(self.confirmed),
            "generic": self.generic,
            "matches_host": self.matches_host,
            "error": self.error,
        }


def looks_generic(name: str, address: str) -> bool:
    """Whether a PTR name is a provider's placeholder built from the address.

    True when the name holds the address's digits (forward or reversed, any
    separator, zero-padded or not, or as one hex/decimal number), as in
    `192-0-2-10.dyn.example.net` or `10.2.0.192.static.example.net`; for IPv6, when
    it holds the address's hex groups.
    """
    text = name.lower().rstrip(".")
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv4Address):
        octets = str(ip).split(".")
        for order in (octets, octets[::-1]):
            parts = [rf"0{{0,2}}{octet}" for octet in order]
            if re.search(r"(?<!\d)" + r"[-._x]?".join(parts) + r"(?!\d)", text):
                return True
        packed = int(ip)
        if re.search(rf"(?<![0-9a-f]){packed:08x}(?![0-9a-f])", text):
            return True
        if re.search(rf"(?<!\d){packed}(?!\d)", text):
            return True
        # Provider names often carry just the last two octets next to a dynamic word.
        tail = rf"(?<!\d)0{{0,2}}{octets[2]}[-._]0{{0,2}}{octets[3]}(?!\d)"
        head = text.split(".")[0]
        return bool(re.search(tail, text) and _DYNAMIC_WORDS.search(head))
    compact = text.replace("-", "").replace(".", "").replace(":", "")
    exploded = ip.exploded.replace(":", "")
    if exploded in compact or exploded[::-1] in compact:
        return True
    # The address written into one label with dashes for colons (2001-db8--25, or
    # 2001-db8-0-0-0-0-0-25 after a prefix such as `ip6-`).
    for label in text.split("."):
        tokens = re.split(r"[-_]", label)[:40]
        for start in range(len(tokens)):
            for end in range(start + 2, len(tokens) + 1):
                if _parses_as(":".join(tokens[start:end]), ip):
                    return True
    return False


def _parses_as(text: str, ip: ipaddress.IPv6Address) -> bool:
    try:
        return ipaddress.IPv6Address(text) == ip
    except ValueError:
        return False


async def _forward(ctx: ResolverContext, name: str, address: str) -> tuple[bool, str | None]:
    """Does `name` resolve (A or AAAA, as the address's family) back to `address`?"""
    ip = ipaddress.ip_address(address)
    lookup = await ctx.query(name, "A" if ip.version == 4 else "AAAA")
    if lookup.failed:
        return False, lookup.describe()
    return any(_same(ip, other) for other in lookup.addresses()), None


def _same(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, text: str) -> bool:
    try:
        return ipaddress.ip_address(text) == ip
    except ValueError:
        return False


async def reverse_dns(
    ctx: ResolverContext, address: str, role: str = ROLE_SENDING, host: str | None = None
) -> ReverseDns:
    """Look up `address`'s PTR names and check each resolves back to it. Never raises.

    Args:
        ctx: how to ask DNS.
        address: an IPv4 or IPv6 address, as text.
        role: `mx` or `sending`; only recorded.
        host: the MX host name the address belongs to, to compare the PTR with.

    Returns:
        A ReverseDns; `error` is set when a lookup failed (or the address is invalid).
    """
    entry = ReverseDns(address, role, host)
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        entry.invalid = True
        entry.error = f"{address!r} is not an IP address"
        return entry
    entry.address = str(ip)
    reverse = dns.reversename.from_address(str(ip)).to_text(omit_final_dot=True)
    lookup: Lookup = await ctx.query(reverse, "PTR")
    if lookup.failed:
        entry.error = lookup.describe()
        return entry
    if not lookup.ok:
        entry.no_ptr = True
        return entry
    entry.ptr = sorted(
        {record.target.to_text(omit_final_dot=True).lower() for record in lookup.records}
    )
    results = await ctx.gather(*(_forward(ctx, name, entry.address) for name in entry.ptr))
    for name, (confirmed, error) in zip(entry.ptr, results, strict=True):
        if confirmed:
            entry.confirmed.append(name)
        if error:
            entry.forward_errors.append(error)
    entry.forward_confirmed = bool(entry.confirmed)
    if not entry.forward_confirmed and entry.forward_errors:
        entry.error = "; ".join(entry.forward_errors)
    entry.generic = any(looks_generic(name, entry.address) for name in entry.ptr)
    if host is not None:
        entry.matches_host = host.lower().rstrip(".") in entry.confirmed
    return entry


async def check_fcrdns(
    ctx: ResolverContext, domain: str, options: AuditOptions | None = None
) -> CheckResult:
    """Check forward-confirmed reverse DNS of every MX address and every `--ip`.

    Args:
        ctx: how to ask DNS.
        domain: the normalized mail domain.
        options: `ips` are the sending addresses to check besides the MX hosts.

    Returns:
        A `fcrdns` CheckResult. A sending address without PTR, or whose PTR name does
        not resolve back, fails (Gmail requires forward-confirmed reverse DNS of
        sending IPs); an MX-only address with either problem warns; a generic
        provider PTR warns. Skipped for a null MX (or no MX) without
        `--ip`. `data.hosts` lists {address, role, host, ptr, forward_confirmed,
        confirmed_names, generic, matches_host, error}.
    """
    ips = tuple(options.ips) if options is not None else ()
    sending = [asyncio.ensure_future(reverse_dns(ctx, ip, ROLE_SENDING)) for ip in ips]
    try:
        mx = await mx_hosts(ctx, domain)
        mx_entries = await ctx.gather(
            *(
                reverse_dns(ctx, address, ROLE_MX, host.host)
                for host in mx.hosts
                if not mx.null_mx
                for address in host.addresses
            )
        )
        sent = await ctx.gather(*sending)
    finally:
        for task in sending:
            task.cancel()  # only matters when cancelled midway; done tasks ignore it
    entries = [*mx_entries, *sent]
    findings = _mx_lookup_findings(mx)
    if not entries and not findings:
        why = "null MX" if mx.null_mx else "no MX hosts with addresses"
        return CheckResult.skipped(CHECK_ID, f"{why} and no --ip: nothing to check", hosts=[])
    for entry in entries:
        findings.extend(_findings(entry, domain))
    data = {"hosts": [entry.to_dict() for entry in entries]}
    return CheckResult.from_findings(CHECK_ID, _summary(entries), findings, data)


def _mx_lookup_findings(mx: MxResult) -> list[Finding]:
    """DNS trouble finding the MX addresses: their reverse DNS is then unknown."""
    if mx.lookup.failed:
        return [
            Finding(
                "fcrdns.dns-error",
                Status.ERROR,
                f"The MX hosts could not be looked up ({mx.lookup.describe()}), so their "
                "reverse DNS was not checked.",
                "Check that the domain's nameservers answer, then run the check again.",
            )
        ]
    return [
        Finding(
            "fcrdns.dns-error",
            Status.ERROR,
            f"The addresses of MX host {host.host} could not be looked up ({host.error}), "
            "so its reverse DNS was not checked.",
            "Check that the nameservers of the host's domain answer, then run the check again.",
        )
        for host in mx.hosts
        if host.lookup_failed and not host.addresses
    ]


def _who(entry: ReverseDns) -> str:
    if entry.role == ROLE_MX:
        return f"MX host {entry.host} ({entry.address})"
    return f"sending address {entry.address}"


def _ptr_line(address: str, name: str) -> str:
    reverse = dns.reversename.from_address(address).to_text()
    return f"{reverse} 3600 IN PTR {name.rstrip('.')}."


def _forward_line(name: str, address: str) -> str:
    rdtype = "A" if ipaddress.ip_address(address).version == 4 else "AAAA"
    return f"{name.rstrip('.')}. 3600 IN {rdtype} {address}"


def _findings(entry: ReverseDns, domain: str) -> list[Finding]:
    who = _who(entry)
    wanted = entry.host or f"mail.{domain}"
    if entry.invalid:
        return [
            Finding(
                "fcrdns.invalid-address",
                Status.ERROR,
                f"{entry.error}; its reverse DNS cannot be checked.",
                "Give --ip an IPv4 or IPv6 address, such as 192.0.2.10 or 2001:db8::25.",
            )
        ]
    if entry.error and not entry.ptr:
        return [
            Finding(
                "fcrdns.dns-error",
                Status.ERROR,
                f"The reverse DNS of {who} could not be looked up: {entry.error}.",
                "Run the check again; if it persists, ask the owner of the address block "
                "(hosting provider or ISP) to fix the nameservers of its reverse zone.",
            )
        ]
    sending = entry.role == ROLE_SENDING
    if entry.no_ptr:
        why = (
            "Gmail and Yahoo require reverse DNS for every sending IP and reject or "
            "spam-folder mail from addresses without it"
            if sending
            else "many receivers refuse or score down peers without reverse DNS, and MX "
            "hosts usually send mail (bounces, forwards) too"
        )
        return [
            Finding(
                "fcrdns.no-ptr",
                Status.FAIL if sending else Status.WARN,
                f"The {who} has no PTR record: {why}.",
                "Ask whoever owns the address (your hosting provider or ISP; the record "
                "lives in their reverse zone, not yours) to publish a PTR naming your "
                f"server, e.g. `{_ptr_line(entry.address, wanted)}`, and make sure "
                f"`{_forward_line(wanted, entry.address)}` exists in your DNS.",
                _ptr_line(entry.address, wanted) + "\n" + _forward_line(wanted, entry.address),
            )
        ]
    findings: list[Finding] = []
    names = ", ".join(entry.ptr)
    if not entry.forward_confirmed:
        if entry.error:
            findings.append(
                Finding(
                    "fcrdns.dns-error",
                    Status.ERROR,
                    f"The {who} has PTR {names}, but checking that the name resolves back "
                    f"failed: {entry.error}.",
                    "Run the check again; if it persists, fix the nameservers of the PTR "
                    "name's domain.",
                )
            )
        else:
            # Same role rule as a missing PTR: Gmail's FCrDNS requirement is about
            # sending IPs; for an MX-only address it is a risk, not a known failure.
            name = entry.ptr[0]
            why = (
                "Gmail and Yahoo require forward-confirmed reverse DNS for every sending "
                "IP and treat it as having none"
                if sending
                else "receivers treat it as having no valid reverse DNS, which matters "
                "when the MX host also sends mail (bounces, forwards)"
            )
            findings.append(
                Finding(
                    "fcrdns.not-confirmed",
                    Status.FAIL if sending else Status.WARN,
                    f"The {who} has PTR {names}, but that name does not resolve back to "
                    f"{entry.address}; {why}.",
                    f"Publish `{_forward_line(name, entry.address)}`, or have the address "
                    f"owner change the PTR to a name that resolves to it, e.g. "
                    f"`{_ptr_line(entry.address, wanted)}`.",
                    _forward_line(name, entry.address),
                )
            )
    if entry.generic:
        findings.append(
            Finding(
                "fcrdns.generic-ptr",
                Status.WARN,
                f"The {who} has a generic PTR ({names}) built from its address digits; "
                "filters read such names as dynamic or consumer addresses that should not "
                "send mail directly, and score the mail down.",
                "Ask the address owner to set a PTR naming your mail server, e.g. "
                f"`{_ptr_line(entry.address, wanted)}`, with "
                f"`{_forward_line(wanted, entry.address)}` in your DNS.",
                _ptr_line(entry.address, wanted) + "\n" + _forward_line(wanted, entry.address),
            )
        )
    return findings


def _summary(entries: list[ReverseDns]) -> str:
    # An address whose lookups failed was not checked: it is not one "without" FCrDNS.
    checked = [entry for entry in entries if not entry.invalid and not _unchecked(entry)]
    if not checked:
        return "reverse DNS could not be checked"
    good = [entry for entry in checked if entry.forward_confirmed]
    unchecked = len(entries) - len(checked)
    tail = f"; {unchecked} could not be checked" if unchecked else ""
    if len(good) == len(checked):
        generic = sum(1 for entry in good if entry.generic)
        note = f", {generic} with a generic name" if generic else ""
        return f"{len(good)} address(es), all forward-confirmed{note}{tail}"
    return f"{len(good)} of {len(checked)} address(es) have forward-confirmed reverse DNS{tail}"


def _unchecked(entry: ReverseDns) -> bool:
    """The PTR lookup, or every forward lookup of an unconfirmed PTR, failed."""
    return bool(entry.error) and not entry.forward_confirmed
