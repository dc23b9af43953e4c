"""RFC 7208 check_host(): the SPF verdict for one connection (client IP, MAIL FROM, HELO).

It evaluates the same parsed records as the audit (`console.auth.spf`), term by term in
order, as a receiver does: the first match decides, with the limits of section 4.6.4
(10 DNS-querying terms, 2 void look-ups, 10 MX names, 10 PTR names) enforced across
includes and redirects. DNS trouble gives temperror, never an exception.
"""

from __future__ import annotations

import enum
import ipaddress
import time
from dataclasses import dataclass, field
from typing import Any

from console.auth.resolver import ResolverContext
from console.auth.spf import (
    LOOKUP_LIMIT,
    MX_LIMIT,
    PTR_LIMIT,
    VOID_LOOKUP_LIMIT,
    IPAddress,
    MacroEnv,
    MacroSyntaxError,
    Mechanism,
    Modifier,
    SpfRecord,
    expand_parts,
    is_spf_record,
    parse_macro_string,
    parse_record,
    truncate_domain,
    uses_letters,
)

DEFAULT_RECEIVER = "mailscope.invalid"


class SpfResult(enum.StrEnum):
    """The seven results of check_host() (RFC 7208 2.6)."""

    PASS = "pass"
    FAIL = "fail"
    SOFTFAIL = "softfail"
    NEUTRAL = "neutral"
    NONE = "none"
    PERMERROR = "permerror"
    TEMPERROR = "temperror"


RESULT_MEANINGS: dict[str, str] = {
    "pass": "The client is authorised to send mail for the domain.",
    "fail": "The client is not authorised; receivers may reject the mail.",
    "softfail": "The client is probably not authorised; receivers accept but mark the mail.",
    "neutral": "The domain makes no statement about the client.",
    "none": "No SPF record was found, or the domain is not a valid domain name.",
    "permerror": "The domain's SPF record cannot be interpreted; fix the record.",
    "temperror": "A transient DNS error; the receiver may defer the mail and try again.",
}
"""Each result in plain words, for the console and the CLI."""

DEFAULT_EXPLANATIONS: dict[SpfResult, str] = {
    SpfResult.PASS: "{ip} is authorised to send mail for {domain}",
    SpfResult.FAIL: "{ip} is not authorised to send mail for {domain}",
    SpfResult.SOFTFAIL: "{domain} says {ip} is probably not authorised to send its mail",
    SpfResult.NEUTRAL: "{domain} makes no statement about {ip}",
    SpfResult.NONE: "{domain} publishes no SPF record",
}
"""The explanation when the record gives none (exp= applies only to fail)."""


@dataclass(frozen=True, slots=True)
class SpfVerdict:
    """The outcome of check_host().

    Attributes:
        result: pass, fail, softfail, neutral, none, permerror or temperror.
        explanation: the exp= text (macro-expanded) for a fail that has one; otherwise
            a default sentence, or the reason for an error result.
        mechanism: the term of the evaluated record that decided, as written (for an
            include, the include term), or None when nothing matched.
        lookups: DNS-querying terms evaluated (RFC 7208 4.6.4), includes counted.
        void_lookups: look-ups that found nothing.
        domain: the domain check_host() was asked about.
        matched_in: the domain whose record held `mechanism`.
        trail: "domain: term" steps from the first record to the deciding term.
    """

    result: SpfResult
    explanation: str
    mechanism: str | None
    lookups: int
    void_lookups: int = 0
    domain: str = ""
    matched_in: str | None = None
    trail: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "result": self.result.value,
            "explanation": self.explanation,
            "mechanism": self.mechanism,
            "lookups": self.lookups,
            "void_lookups": self.void_lookups,
            "domain": self.domain,
            "matched_in": self.matched_in,
            "trail": list(self.trail),
        }


class _Stop(Exception):
    """Ends the evaluation at once with permerror or temperror."""

    def __init__(self, result: SpfResult, reason: str) -> None:
        super().__init__(reason)
        self.result = result
        self.reason = reason


@dataclass(slots=True)
class _Outcome:
    result: SpfResult
    mechanism: Mechanism | None = None
    domain: str = ""
    record: SpfRecord | None = None
    """The record whose exp= applies: the one that held the deciding term."""
    trail: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Run:
    """The state of one check_host() evaluation, shared across includes and redirects."""

    ctx: ResolverContext
    ip: IPAddress
    sender: str
    helo: str
    receiver: str
    timestamp: int
    lookups: int = 0
    void: int = 0
    ptr_names: list[str] | None = None
    """The validated reverse names of the client, once looked up."""
    ptr_void: bool = False
    validated: dict[str, str] = field(default_factory=dict)
    """The `p` macro's value per <domain>."""

    def count(self, term: str, domain: str) -> None:
        self.lookups += 1
        if self.lookups > LOOKUP_LIMIT:
            raise _Stop(
                SpfResult.PERMERROR,
                f"more than {LOOKUP_LIMIT} DNS-querying terms (RFC 7208 4.6.4): {term!r} in "
                f"the SPF record of {domain} would be look-up {self.lookups}",
            )

    def void_lookup(self, term: str, domain: str) -> None:
        self.void += 1
        if self.void > VOID_LOOKUP_LIMIT:
            raise _Stop(
                SpfResult.PERMERROR,
                f"more than {VOID_LOOKUP_LIMIT} look-ups found nothing (RFC 7208 4.6.4): "
                f"{term!r} in the SPF record of {domain} is void lookup {self.void}",
            )

    def env(self, domain: str, validated: str = "unknown") -> MacroEnv:
        return MacroEnv(
            sender=self.sender,
            domain=domain,
            ip=self.ip,
            helo=self.helo,
            validated=validated,
            receiver=self.receiver,
            timestamp=self.timestamp,
        )

    @property
    def address_type(self) -> str:
        return "AAAA" if self.ip.version == 6 else "A"


def client_address(ip: str) -> IPAddress:
    """Parse the client IP; an IPv4-mapped IPv6 address is its IPv4 address (RFC 7208 5).

    Raises:
        ValueError: `ip` is not an IP address.
    """
    address = ipaddress.ip_address(ip.strip().strip("[]"))
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def identity(sender: str, helo: str) -> tuple[str, str]:
    """The <sender> and <domain> check_host() is given for a MAIL FROM and HELO.

    An empty reverse-path means postmaster@HELO (RFC 7208 2.4); a sender without a local
    part gets "postmaster" (4.3).

    Returns:
        (sender, domain).
    """
    sender = sender.strip()
    if sender.startswith("<") and sender.endswith(">"):
        sender = sender[1:-1].strip()
    helo = helo.strip().rstrip(".")
    if not sender:
        sender = f"postmaster@{helo}"
    local, at, domain = sender.rpartition("@")
    if not at:
        local, domain = "", sender
    if not local:
        sender = f"postmaster@{domain}"
    return sender, domain.rstrip(".")


def valid_domain(name: str) -> str | None:
    """The name, lower case, if check_host() may evaluate it (RFC 7208 4.3); else None.

    Malformed names (an empty label not at the end, a label over 63 octets, over 253 in
    all) and single-label names are not; non-ASCII names are IDNA-encoded first.
    """
    candidate = name.strip()
    if candidate.endswith("."):
        candidate = candidate[:-1]
    if not candidate.isascii():
        try:
            candidate = candidate.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    labels = candidate.split(".")
    if len(labels) < 2 or len(candidate) > 253:
        return None
    if any(not 0 < len(label) <= 63 for label in labels):
        return None
    if any(not 33 <= ord(ch) <= 126 or ch == "\\" for ch in candidate):
        return None
    return candidate.lower()


async def check_host(
    ctx: ResolverContext,
    ip: str,
    domain: str,
    sender: str,
    helo: str,
    *,
    receiver: str = DEFAULT_RECEIVER,
) -> SpfVerdict:
    """Evaluate SPF for one connection, as RFC 7208 section 4 defines check_host().

    Args:
        ctx: how to ask DNS.
        ip: the SMTP client's address (IPv4, IPv6, or IPv4-mapped IPv6).
        domain: the domain to check: the MAIL FROM domain, or the HELO name.
        sender: the MAIL FROM address; "" is the null reverse-path, checked as
            postmaster@HELO (RFC 7208 2.4).
        helo: the HELO/EHLO name (the `h` macro).
        receiver: the checking host's name (the `r` macro in explanations).

    Returns:
        The verdict; DNS trouble is temperror and bad records permerror, never raised.

    Raises:
        ValueError: `ip` is not an IP address (a caller's mistake, not the remote's).
    """
    address = client_address(ip)
    full_sender, _ = identity(sender, helo)
    run = _Run(
        ctx=ctx,
        ip=address,
        sender=full_sender,
        helo=helo.strip().rstrip("."),
        receiver=receiver,
        timestamp=int(time.time()),
    )
    name = valid_domain(domain)
    if name is None:
        return SpfVerdict(
            SpfResult.NONE,
            f"{domain!r} is not a valid domain name for SPF (RFC 7208 4.3)",
            None,
            0,
            domain=domain,
        )
    try:
        outcome = await _evaluate(run, name, top=True)
    except _Stop as stop:
        return SpfVerdict(stop.result, stop.reason, None, run.lookups, run.void, domain=name)
    explanation = None
    if outcome.result is SpfResult.FAIL and outcome.record is not None:
        modifier = outcome.record.explanation
        if modifier is not None:
            explanation = await _explain(run, modifier, outcome.domain)
    if explanation is None:
        template = DEFAULT_EXPLANATIONS.get(outcome.result, "{domain}: {ip}")
        explanation = template.format(ip=address, domain=name)
    return SpfVerdict(
        outcome.result,
        explanation,
        outcome.mechanism.text if outcome.mechanism is not None else None,
        run.lookups,
        run.void,
        domain=name,
        matched_in=outcome.domain if outcome.mechanism is not None else None,
        trail=tuple(outcome.trail),
    )


async def _evaluate(run: _Run, domain: str, *, top: bool = False) -> _Outcome:
    """check_host() on one domain: record lookup, then the terms in order."""
    lookup = await run.ctx.query(domain, "TXT")
    if lookup.failed:
        raise _Stop(SpfResult.TEMPERROR, f"DNS error looking up SPF: {lookup.describe()}")
    if lookup.is_void and not top:
        run.void_lookup(f"SPF record of {domain}", domain)
    records = [text for text in lookup.texts() if is_spf_record(text)]
    if not records:
        return _Outcome(SpfResult.NONE, domain=domain)
    if len(records) > 1:
        raise _Stop(
            SpfResult.PERMERROR,
            f"{domain} publishes {len(records)} SPF records (RFC 7208 4.5)",
        )
    record = parse_record(records[0])
    if record.errors:
        raise _Stop(
            SpfResult.PERMERROR,
            f"syntax error in the SPF record of {domain}: {record.errors[0].describe()}",
        )
    for mechanism in record.mechanisms:
        matched, trail = await _matches(run, mechanism, domain)
        if matched:
            return _Outcome(
                SpfResult(mechanism.result),
                mechanism,
                domain,
                record,
                [f"{domain}: {mechanism.text}", *trail],
            )
    redirect = record.redirect
    if redirect is not None and record.all is None:
        run.count(redirect.text, domain)
        inner = await _evaluate_referenced(run, redirect.text, redirect.value, domain, "6.1")
        inner.trail.insert(0, f"{domain}: {redirect.text}")
        return inner
    return _Outcome(SpfResult.NEUTRAL, None, domain, record)


async def _evaluate_referenced(
    run: _Run, term: str, argument: str | None, domain: str, section: str
) -> _Outcome:
    """Evaluate the record an include or redirect names; a missing one is permerror."""
    target = await _target(run, argument, domain)
    if target is None:
        raise _Stop(
            SpfResult.PERMERROR, f"{term!r} in the SPF record of {domain} names no valid domain"
        )
    inner = await _evaluate(run, target)
    if inner.result is SpfResult.NONE:
        raise _Stop(
            SpfResult.PERMERROR,
            f"{term!r} in the SPF record of {domain}: {target} has no SPF record "
            f"(RFC 7208 {section})",
        )
    return inner


async def _matches(run: _Run, mechanism: Mechanism, domain: str) -> tuple[bool, list[str]]:
    """Whether `mechanism` matches; the inner trail for a matching include."""
    name = mechanism.name
    if name == "all":
        return True, []
    if name in ("ip4", "ip6"):
        network = mechanism.network()
        return network is not None and run.ip in network, []
    run.count(mechanism.text, domain)
    if name == "include":
        inner = await _evaluate_referenced(run, mechanism.text, mechanism.argument, domain, "5.2")
        return inner.result is SpfResult.PASS, inner.trail
    target = await _target(run, mechanism.argument, domain)
    if target is None:
        # A macro expanded to something that cannot be a domain: nothing can match it.
        run.void_lookup(mechanism.text, domain)
        return False, []
    if name == "a":
        return await _match_addresses(run, mechanism, domain, [target]), []
    if name == "mx":
        lookup = await run.ctx.query(target, "MX")
        if lookup.failed:
            raise _Stop(
                SpfResult.TEMPERROR, f"DNS error for {mechanism.text!r}: {lookup.describe()}"
            )
        if lookup.is_void:
            run.void_lookup(mechanism.text, domain)
            return False, []
        if len(lookup.records) > MX_LIMIT:
            raise _Stop(
                SpfResult.PERMERROR,
                f"{mechanism.text!r} in the SPF record of {domain}: {target} has "
                f"{len(lookup.records)} MX records, more than {MX_LIMIT} (RFC 7208 4.6.4)",
            )
        hosts = lookup.mx_hosts()
        return await _match_addresses(run, mechanism, domain, hosts, count_void=False), []
    if name == "exists":
        lookup = await run.ctx.query(target, "A")  # always A, even for IPv6 (RFC 7208 5.7)
        if lookup.failed:
            raise _Stop(
                SpfResult.TEMPERROR, f"DNS error for {mechanism.text!r}: {lookup.describe()}"
            )
        if lookup.is_void:
            run.void_lookup(mechanism.text, domain)
            return False, []
        return bool(lookup.records), []
    if name == "ptr":
        names = await _validated_names(run, mechanism.text, domain)
        return any(_within(candidate, target) for candidate in names), []
    return False, []


async def _match_addresses(
    run: _Run,
    mechanism: Mechanism,
    domain: str,
    hosts: list[str],
    *,
    count_void: bool = True,
) -> bool:
    """Whether the client is in the (CIDR-widened) addresses of `hosts`."""
    if not hosts:
        return False
    lookups = await run.ctx.gather(*(run.ctx.query(host, run.address_type) for host in hosts))
    length = mechanism.cidr6 if run.ip.version == 6 else mechanism.cidr4
    length = run.ip.max_prefixlen if length is None else length
    client = ipaddress.ip_network(f"{run.ip}/{length}", strict=False)
    for lookup in lookups:
        for address in lookup.addresses():
            try:
                if ipaddress.ip_address(address) in client:
                    return True
            except ValueError:
                continue
    failed = next((lookup for lookup in lookups if lookup.failed), None)
    if failed is not None:
        raise _Stop(SpfResult.TEMPERROR, f"DNS error for {mechanism.text!r}: {failed.describe()}")
    if count_void and all(lookup.is_void for lookup in lookups):
        run.void_lookup(mechanism.text, domain)
    return False


def _within(name: str, target: str) -> bool:
    name, target = name.lower().rstrip("."), target.lower().rstrip(".")
    return name == target or name.endswith("." + target)


async def _validated_names(run: _Run, term: str, domain: str) -> list[str]:
    """The client's reverse names that resolve back to it (RFC 7208 5.5), at most 10 tried.

    A DNS error on the PTR look-up makes `ptr` not match; an error on one name's address
    look-up skips that name. Computed once per evaluation: every `ptr` and `%{p}` asks
    the same question.
    """
    if run.ptr_names is None:
        run.ptr_names, run.ptr_void = await _lookup_validated_names(run)
    if run.ptr_void and term:
        run.void_lookup(term, domain)
    return run.ptr_names


async def _lookup_validated_names(run: _Run) -> tuple[list[str], bool]:
    lookup = await run.ctx.query(run.ip.reverse_pointer, "PTR")
    names: list[str] = []
    if lookup.ok:
        candidates = [
            record.target.to_text(omit_final_dot=True)
            for record in lookup.records
            if hasattr(record, "target")
        ][:PTR_LIMIT]
        checks = await run.ctx.gather(
            *(run.ctx.query(name, run.address_type) for name in candidates)
        )
        names = [
            name
            for name, check in zip(candidates, checks, strict=True)
            if any(ipaddress.ip_address(a) == run.ip for a in check.addresses())
        ]
    return names, lookup.is_void


async def _p_macro(run: _Run, domain: str) -> str:
    """The `p` macro: a validated name, preferring one within <domain> (RFC 7208 7.3).

    Its look-ups are not a term's, so they count neither as terms nor as void look-ups.
    """
    if domain not in run.validated:
        names = await _validated_names(run, "", domain)
        chosen = next((n for n in names if _within(n, domain)), names[0] if names else "unknown")
        run.validated[domain] = chosen
    return run.validated[domain]


async def _target(run: _Run, spec: str | None, domain: str) -> str | None:
    """The domain-spec expanded for this connection, or <domain> when absent.

    None when the expansion is not a valid domain name.
    """
    if spec is None:
        return domain
    try:
        parts = parse_macro_string(spec)
    except MacroSyntaxError:
        return None  # the parser has already refused such records
    validated = await _p_macro(run, domain) if "p" in uses_letters(parts) else "unknown"
    expanded = truncate_domain(expand_parts(parts, run.env(domain, validated)))
    return valid_domain(expanded)


async def _explain(run: _Run, modifier: Modifier, domain: str) -> str | None:
    """The exp= explanation, or None to use the default (RFC 7208 6.2)."""
    target = await _target(run, modifier.value, domain)
    if target is None:
        return None
    lookup = await run.ctx.query(target, "TXT")
    texts = lookup.texts() if lookup.ok else []
    if len(texts) != 1:
        return None
    try:
        parts = parse_macro_string(texts[0], explanation=True)
    except MacroSyntaxError:
        return None
    validated = await _p_macro(run, domain) if "p" in uses_letters(parts) else "unknown"
    return expand_parts(parts, run.env(domain, validated))
