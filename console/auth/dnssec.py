"""DNSSEC: are the domain's answers signed, and does the chain of trust validate?

The check validates itself rather than trusting a resolver's AD bit: it asks, all at
once, for the DNSKEY and DS RRsets of every level between the trust anchor and the
domain (plus SOA, to find zone cuts, and the domain's MX), then walks down from the
anchor with dnspython's signature verification (RFC 4035 section 5):

1. the anchor zone's DNSKEY RRset must contain an anchor key and be signed by it;
2. at each zone cut, the DS RRset (from the parent, signed by the parent's keys) must
   match a DNSKEY of the child, and that key must sign the child's DNSKEY RRset;
3. the domain's MX (or SOA) RRset must be signed by the keys of its zone.

A level without a DS is an insecure delegation when it is a zone apex (it has its own
SOA): everything below it is unsigned. The NSEC/NSEC3 proof that the DS really is
absent is not verified; a resolver that strips it would make a signed zone look
unsigned, never a broken one look valid.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import dns.dnssec
import dns.exception
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from console.auth.options import AuditOptions
from console.auth.resolver import Lookup, Outcome, ResolverContext
from console.model import CheckResult, Finding, Status

CHECK_ID = "dnssec"

# -- trust anchors --------------------------------------------------------------------

ROOT_KSKS: dict[int, str] = {
    20326: (
        "257 3 8 AwEAAaz/tAm8yTn4Mfeh5eyI96WSVexTBAvkMgJzkKTOiW1vkIbzxeF3+/4RgWOq7HrxRixH"
        "lFlExOLAJr5emLvN7SWXgnLh4+B5xQlNVz8Og8kvArMtNROxVQuCaSnIDdD5LKyWbRd2n9WGe2R8PzgC"
        "mr3EgVLrjyBxWezF0jLHwVN8efS3rCj/EWgvIWgb9tarpVUDK/b58Da+sqqls3eNbuv7pr+eoZG+SrDK"
        "6nWeL3c6H5Apxz7LjVc1uTIdsIXxuOLYA4/ilBmSVIzuDWfdRUfhHdY6+cn8HFRm+2hM8AnXGXws9555"
        "KrUB5qihylGa8subX2Nn6UwNR1AkUTV74bU="
    ),
    38696: (
        "257 3 8 AwEAAa96jeuknZlaeSrvyAJj6ZHv28hhOKkx3rLGXVaC6rXTsDc449/cidltpkyGwCJNnOAl"
        "FNKF2jBosZBU5eeHspaQWOmOElZsjICMQMC3aeHbGiShvZsx4wMYSjH8e7Vrhbu6irwCzVBApESjbUdp"
        "WWmEnhathWu1jo+siFUiRAAxm9qyJNg/wOZqqzL/dL/q8PkcRU5oUKEpUge71M3ej2/7CPqpdVwuMoTv"
        "oB+ZOT4YeGyxMvHmbrxlFzGOHOijtzN+u1TQNatX2XBuzZNQ1K+s2CXkPIZo7s6JgZyvaBevYtxPvYLw"
        "4z9mR7K2vaF18UYH9Z9GNUUeayffKC73PYc="
    ),
}
"""The IANA root zone KSKs: KSK-2017 (key tag 20326) and KSK-2024 (38696)."""

ROOT_KSK_DS_SHA256: dict[int, str] = {
    20326: "E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D",
    38696: "683D2D0ACB8C9B712A1948B27F741219298D0A450D612C483AF444A4C0FB2B16",
}
"""IANA's published SHA-256 DS digests of those keys (data.iana.org/root-anchors/
root-anchors.xml); the tests hash ROOT_KSKS and compare, so a mistyped key is caught."""


def root_trust_anchor() -> dns.rrset.RRset:
    """The root KSKs as one DNSKEY RRset: the anchor used outside the lab."""
    return dns.rrset.from_text_list(".", 172800, "IN", "DNSKEY", list(ROOT_KSKS.values()))


def trust_anchors_for(ctx: ResolverContext) -> tuple[dns.rrset.RRset, ...]:
    """The context's anchors when it has any (the lab's `test.` key), else the root's."""
    return tuple(ctx.trust_anchors) or (root_trust_anchor(),)


# -- what dnspython can verify --------------------------------------------------------

SUPPORTED_ALGORITHMS = frozenset({5, 7, 8, 10, 13, 14, 15, 16})
"""DNSKEY algorithms verified here (RSA/SHA-1, RSA/SHA-2, ECDSA, Ed25519, Ed448).
A DS set using none of them makes the zone insecure, not bogus (RFC 4035 5.2)."""

SUPPORTED_DIGESTS = frozenset({1, 2, 4})
"""DS digest types verified here: SHA-1, SHA-256, SHA-384."""

ALGORITHM_NAMES: dict[int, str] = {
    5: "RSASHA1",
    7: "RSASHA1-NSEC3-SHA1",
    8: "RSASHA256",
    10: "RSASHA512",
    13: "ECDSAP256SHA256",
    14: "ECDSAP384SHA384",
    15: "ED25519",
    16: "ED448",
}
"""DNSKEY algorithm numbers in words, for the console."""

STEP_STATUSES: dict[str, str] = {
    "secure": "signed, and the signatures validate from the trust anchor down",
    "insecure": "not signed: no DS record at the parent, so nothing below is validated",
    "bogus": "signed, but validation fails: validating resolvers answer SERVFAIL",
    "error": "could not be checked: a DNS query failed",
}
"""What each `chain[].status` means, in plain words."""


# -- results --------------------------------------------------------------------------


@dataclass(slots=True)
class ChainStep:
    """One zone on the way from the trust anchor to the domain."""

    zone: str
    status: str
    ds: list[str] = field(default_factory=list)
    dnskey_tags: list[int] = field(default_factory=list)
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "zone": self.zone or ".",
            "ds": list(self.ds),
            "dnskey_tags": list(self.dnskey_tags),
            "status": self.status,
            "reason": self.reason,
        }


@dataclass(slots=True)
class _Verdict:
    """How verifying one RRset against its RRSIGs went."""

    ok: bool
    kind: str = ""
    """`expired`, `not-yet-valid`, `no-signature`, `unknown-key`, `unsupported`, `bad`."""
    detail: str = ""
    expired_at: str | None = None


@dataclass(slots=True)
class ChainOutcome:
    """Where the walk ended, and what the check reports about it."""

    status: Status
    code: str
    signed: bool | None
    valid: bool | None
    reason: str
    fix: str = ""
    chain: list[ChainStep] = field(default_factory=list)
    record: str | None = None
    """The exact DS line(s) to publish at the parent, when the fix is that."""


# -- the check ------------------------------------------------------------------------


async def check_dnssec(
    ctx: ResolverContext, domain: str, options: AuditOptions | None = None
) -> CheckResult:
    """Validate the DNSSEC chain of trust from a trust anchor to `domain`'s MX answer.

    Args:
        ctx: how to ask DNS; its `trust_anchors` replace the root KSKs when set.
        domain: the mail domain, normalized.
        options: unused; part of the common check signature.

    Returns:
        A `dnssec` CheckResult: pass when signed and valid, warn when unsigned, fail
        when bogus (bad DS, bad or expired signature), error when DNS failed or no
        trust anchor covers the domain. `data` has `signed`, `valid`, `chain`,
        `reason`, `trust_anchor` and `answer`.
    """
    del options
    name = dns.name.from_text(domain)
    anchor = _anchor_for(trust_anchors_for(ctx), name)
    if anchor is None:
        zones = sorted({a.name.to_text() for a in trust_anchors_for(ctx)})
        reason = f"no trust anchor covers {domain} (anchors: {', '.join(zones)})"
        finding = Finding(
            "dnssec.no-trust-anchor",
            Status.ERROR,
            f"DNSSEC could not be checked: {reason}, so no signature can be trusted.",
            "Run the audit without custom trust anchors (the root KSKs are built in), or "
            "add an anchor for a parent zone of this domain.",
        )
        data = _data(None, None, [], reason, None, None)
        return CheckResult.from_findings(CHECK_ID, "no trust anchor", [finding], data)

    answers = await _ask_everything(ctx, anchor.name, name)
    outcome = evaluate_chain(name, anchor, answers, now=time.time())
    anchor_info = {
        "zone": anchor.name.to_text(),
        "key_tags": sorted(dns.dnssec.key_id(key) for key in _dnskeys(anchor)),
    }
    answer_info = _answer_info(answers, name)
    data = _data(
        outcome.signed,
        outcome.valid,
        outcome.chain,
        outcome.reason,
        anchor_info,
        answer_info,
    )
    if outcome.status is Status.PASS:
        return CheckResult.from_findings(CHECK_ID, "signed, and the chain validates", [], data)
    if outcome.status is Status.SKIP:
        return CheckResult(CHECK_ID, Status.SKIP, "the domain does not exist", [], data)
    finding = Finding(
        outcome.code, outcome.status, _message(outcome, domain), outcome.fix, outcome.record
    )
    summary = {
        "dnssec.unsigned": "not signed",
        "dnssec.bogus": "signed but bogus: validating resolvers fail",
        "dnssec.expired-signature": "signatures expired: validating resolvers fail",
        "dnssec.dns-error": "could not be checked (DNS error)",
    }.get(outcome.code, outcome.reason)
    return CheckResult.from_findings(CHECK_ID, summary, [finding], data)


def _data(
    signed: bool | None,
    valid: bool | None,
    chain: Sequence[ChainStep],
    reason: str,
    anchor: dict[str, Any] | None,
    answer: dict[str, Any] | None,
) -> dict[str, Any]:
    return {
        "signed": signed,
        "valid": valid,
        "chain": [step.to_dict() for step in chain],
        "reason": reason,
        "trust_anchor": anchor,
        "answer": answer,
    }


def _message(outcome: ChainOutcome, domain: str) -> str:
    if outcome.code == "dnssec.unsigned":
        return (
            f"{domain} is not signed ({outcome.reason}); DANE for SMTP (RFC 7672) and other "
            "DNSSEC-based protections are unavailable, and its records can be spoofed."
        )
    if outcome.code in ("dnssec.bogus", "dnssec.expired-signature"):
        return (
            f"DNSSEC validation of {domain} fails: {outcome.reason}. Validating resolvers "
            "(Google Public DNS, Cloudflare, most ISPs and many receiving mail servers) "
            f"answer SERVFAIL for {domain}, so mail to it is deferred and then bounced, and "
            "its SPF, DKIM and DMARC records cannot be read."
        )
    return f"DNSSEC could not be checked: {outcome.reason}."


# -- asking ---------------------------------------------------------------------------


def _levels(anchor: dns.name.Name, domain: dns.name.Name) -> list[dns.name.Name]:
    """Names below `anchor` down to `domain`, top first (`test.` -> [good.test.])."""
    levels: list[dns.name.Name] = []
    current = domain
    while current != anchor and current.is_subdomain(anchor):
        levels.append(current)
        current = current.parent()
    return list(reversed(levels))


Answers = dict[tuple[dns.name.Name, str], Lookup]


async def _ask_everything(
    ctx: ResolverContext, anchor: dns.name.Name, domain: dns.name.Name
) -> Answers:
    """Every question the walk may need, asked at once: the chain costs one round trip."""
    questions: list[tuple[dns.name.Name, str]] = [(anchor, "DNSKEY")]
    for level in _levels(anchor, domain):
        questions += [(level, "DS"), (level, "DNSKEY"), (level, "SOA")]
    questions.append((domain, "MX"))
    if (domain, "SOA") not in questions:
        questions.append((domain, "SOA"))
    lookups = await ctx.gather(
        *(ctx.query(_text(name), rdtype, dnssec=True) for name, rdtype in questions)
    )
    return dict(zip(questions, lookups, strict=True))


def _text(name: dns.name.Name) -> str:
    return name.to_text(omit_final_dot=True) or "."


def _answer_info(answers: Answers, domain: dns.name.Name) -> dict[str, Any] | None:
    """Which answer of the mail path was verified (MX, else SOA), for `data.answer`."""
    for rdtype in ("MX", "SOA"):
        lookup = answers.get((domain, rdtype))
        if lookup is not None and lookup.ok and _owned(lookup, domain):
            return {
                "name": _text(domain),
                "type": rdtype,
                "signed": lookup.signatures is not None,
            }
    return None


# -- validating -----------------------------------------------------------------------


def evaluate_chain(
    domain: dns.name.Name,
    anchor: dns.rrset.RRset,
    answers: Answers,
    *,
    now: float,
) -> ChainOutcome:
    """Walk from `anchor` down to `domain` over answers already fetched (no I/O).

    Args:
        domain: the mail domain.
        anchor: the trust anchor's DNSKEY (or DS) RRset covering `domain`.
        answers: lookups by (name, type) as `_ask_everything` returns them.
        now: the time signatures are checked against (seconds since the epoch).
    """
    chain: list[ChainStep] = []
    zone = anchor.name
    top = answers.get((zone, "DNSKEY"))
    if top is None or top.failed:
        return _error(chain, zone, top)
    step = ChainStep(_text(zone), "secure", dnskey_tags=_tags(top))
    chain.append(step)
    if not top.ok or top.rrset is None:
        return _bogus(chain, step, f"the trust anchor zone {_text(zone)} publishes no DNSKEY")
    if top.signatures is None:
        # A resolver that drops RRSIGs (no DO support) would make every zone look bogus.
        reason = (
            f"the DNSKEY answer for {_text(zone)} came without signatures: the resolver "
            "asked does not return DNSSEC records"
        )
        step.status, step.reason = "error", reason
        return ChainOutcome(Status.ERROR, "dnssec.dns-error", None, None, reason, _dns_fix(), chain)
    trusted = [key for key in top.rrset if _matches_anchor(key, anchor)]
    if not trusted:
        return _bogus(
            chain,
            step,
            f"no DNSKEY of {_text(zone)} matches the trust anchor "
            f"(key tags {_tag_list(_dnskeys(anchor))})",
        )
    verdict = _verify(top.rrset, top.signatures, zone, trusted, now)
    if not verdict.ok:
        return _signature_failure(chain, step, f"the DNSKEY set of {_text(zone)}", verdict)
    step.reason = "the trust anchor: its key signs the zone's DNSKEY set"
    keys: list[Any] = list(top.rrset)
    signed_zone = zone

    for level in _levels(zone, domain):
        ds = answers[(level, "DS")]
        if ds.failed:
            return _error(chain, level, ds)
        if ds.ok and ds.rrset is not None and ds.rrset.name == level:
            step = ChainStep(_text(level), "secure", ds=[rd.to_text() for rd in ds.rrset])
            chain.append(step)
            parent = f"the DS set for {_text(level)} in {_text(signed_zone)}"
            verdict = _verify(ds.rrset, ds.signatures, signed_zone, keys, now)
            if not verdict.ok:
                return _signature_failure(chain, step, parent, verdict)
            usable = [
                rd
                for rd in ds.rrset
                if rd.algorithm in SUPPORTED_ALGORITHMS and rd.digest_type in SUPPORTED_DIGESTS
            ]
            if not usable:
                reason = (
                    f"the DS records of {_text(level)} use only algorithms mailscope cannot "
                    "verify, so resolvers treat the zone as unsigned"
                )
                step.status, step.reason = "insecure", reason
                return ChainOutcome(Status.WARN, "dnssec.unsigned", True, None, reason, "", chain)
            dnskey = answers[(level, "DNSKEY")]
            if dnskey.failed:
                return _error(chain, level, dnskey)
            if not dnskey.ok or dnskey.rrset is None or dnskey.rrset.name != level:
                return _bogus(
                    chain,
                    step,
                    f"{_text(signed_zone)} has a DS for {_text(level)} but {_text(level)} "
                    "publishes no DNSKEY",
                    fix=_remove_ds_fix(level),
                )
            step.dnskey_tags = _tags(dnskey)
            matched = [key for key in dnskey.rrset if _matches_ds(level, key, usable)]
            if not matched:
                return _bogus(
                    chain,
                    step,
                    f"the DS record in the parent zone {_text(signed_zone)} (key tag "
                    f"{', '.join(str(rd.key_tag) for rd in usable)}) matches no DNSKEY of "
                    f"{_text(level)} (key tags {_tag_list(dnskey.rrset)})",
                    *_replace_ds_fix(level, dnskey, now),
                )
            verdict = _verify(dnskey.rrset, dnskey.signatures, level, matched, now)
            if not verdict.ok:
                return _signature_failure(chain, step, f"the DNSKEY set of {_text(level)}", verdict)
            keys, signed_zone = list(dnskey.rrset), level
            continue
        soa = answers[(level, "SOA")]
        if soa.failed:
            return _error(chain, level, soa)
        if soa.ok and _owned(soa, level):
            reason = f"there is no DS record for {_text(level)} in its parent zone"
            chain.append(ChainStep(_text(level), "insecure", reason=reason))
            return ChainOutcome(
                Status.WARN, "dnssec.unsigned", False, None, reason, _sign_fix(level), chain
            )
        # Not a zone cut: the name lives in the zone above, under the same keys.

    return _verify_answer(domain, signed_zone, keys, answers, chain, now)


def _verify_answer(
    domain: dns.name.Name,
    zone: dns.name.Name,
    keys: list[Any],
    answers: Answers,
    chain: list[ChainStep],
    now: float,
) -> ChainOutcome:
    """The last link: the MX (or SOA) the mail path reads must carry a valid RRSIG."""
    last = chain[-1]
    for rdtype in ("MX", "SOA"):
        lookup = answers[(domain, rdtype)]
        if lookup.failed:
            return _error(chain, domain, lookup)
        if not lookup.ok or lookup.rrset is None or not _owned(lookup, domain):
            continue
        what = f"the {rdtype} answer for {_text(domain)}"
        verdict = _verify(lookup.rrset, lookup.signatures, zone, keys, now)
        if not verdict.ok:
            return _signature_failure(chain, last, what, verdict)
        reason = (
            f"the chain from the trust anchor to {_text(zone)} validates and {what} "
            "carries a valid signature"
        )
        last.reason = last.reason or reason
        return ChainOutcome(Status.PASS, "", True, True, reason, "", chain)
    if answers[(domain, "MX")].outcome is Outcome.NXDOMAIN:
        # Nothing to protect; the mx check reports the missing domain.
        reason = f"{_text(domain)} does not exist (NXDOMAIN from the signed zone {_text(zone)})"
        return ChainOutcome(Status.SKIP, "", None, None, reason, "", chain)
    reason = (
        f"the chain to {_text(zone)} validates; {_text(domain)} has no MX or SOA of its own "
        "to verify"
    )
    return ChainOutcome(Status.PASS, "", True, True, reason, "", chain)


def _verify(
    rrset: dns.rrset.RRset,
    signatures: dns.rrset.RRset | None,
    signer: dns.name.Name,
    keys: Iterable[Any],
    now: float,
) -> _Verdict:
    """Is `rrset` signed by one of `keys` (of zone `signer`) with a current RRSIG?

    Validity times are looked at here, before the cryptography, so an expired
    signature is told apart from a wrong one.
    """
    if not signatures:
        return _Verdict(False, "no-signature", "it carries no RRSIG")
    key_set = dns.rrset.RRset(signer, dns.rdataclass.IN, dns.rdatatype.DNSKEY)
    for key in keys:
        key_set.add(key)
    tags = {dns.dnssec.key_id(key): key for key in key_set}
    candidates = [sig for sig in signatures if sig.signer == signer and sig.key_tag in tags]
    if not candidates:
        made_by = ", ".join(f"{sig.signer.to_text()} key {sig.key_tag}" for sig in signatures)
        return _Verdict(
            False,
            "unknown-key",
            f"its RRSIGs ({made_by}) are made by no trusted key of {_text(signer)} "
            f"(key tags {_tag_list(key_set)})",
        )
    failures: list[_Verdict] = []
    for sig in candidates:
        if sig.expiration < now:
            when = _when(sig.expiration)
            failures.append(_Verdict(False, "expired", f"its RRSIG expired on {when}", when))
            continue
        if sig.inception > now:
            failures.append(
                _Verdict(
                    False,
                    "not-yet-valid",
                    f"its RRSIG is not valid before {_when(sig.inception)} (a clock is wrong)",
                )
            )
            continue
        try:
            dns.dnssec.validate_rrsig(rrset, sig, {signer: key_set}, now=now)
        except dns.exception.UnsupportedAlgorithm:
            failures.append(
                _Verdict(
                    False,
                    "unsupported",
                    f"it is signed with algorithm {sig.algorithm}, which mailscope cannot verify",
                )
            )
            continue
        except dns.dnssec.ValidationFailure:
            failures.append(
                _Verdict(
                    False,
                    "bad",
                    f"its RRSIG (key {sig.key_tag}) does not verify: the signature is wrong",
                )
            )
            continue
        return _Verdict(True)
    # Report the most telling failure: a wrong signature outranks an old one.
    order = ["bad", "not-yet-valid", "expired", "unsupported"]
    return min(failures, key=lambda v: order.index(v.kind))


def _signature_failure(
    chain: list[ChainStep], step: ChainStep, what: str, verdict: _Verdict
) -> ChainOutcome:
    reason = f"{what}: {verdict.detail}"
    if verdict.kind == "unsupported":
        step.status, step.reason = "insecure", reason
        return ChainOutcome(Status.WARN, "dnssec.unsigned", True, None, reason, "", chain)
    step.status, step.reason = "bogus", reason
    if verdict.kind == "expired":
        fix = (
            f"Re-sign the zone {step.zone} now: its signatures ran out, which means the "
            "signer stopped (a DNS host's signing job, a lost key, a zone pushed from a "
            "stale copy). Then make sure signing runs automatically well before expiry."
        )
        return ChainOutcome(
            Status.FAIL, "dnssec.expired-signature", True, False, reason, fix, chain
        )
    fix = (
        f"Re-sign the zone {step.zone} with its current keys and publish the fresh "
        "signatures. If you cannot, remove the DS record at the registrar to go unsigned "
        "until you can (wait for the DS TTL before re-enabling)."
    )
    return ChainOutcome(Status.FAIL, "dnssec.bogus", True, False, reason, fix, chain)


def _bogus(
    chain: list[ChainStep],
    step: ChainStep,
    reason: str,
    fix: str = "",
    record: str | None = None,
) -> ChainOutcome:
    step.status, step.reason = "bogus", reason
    return ChainOutcome(Status.FAIL, "dnssec.bogus", True, False, reason, fix, chain, record)


def _error(chain: list[ChainStep], name: dns.name.Name, lookup: Lookup | None) -> ChainOutcome:
    detail = lookup.describe() if lookup is not None else f"{_text(name)}: not asked"
    if chain and chain[-1].zone == _text(name):
        chain[-1].status, chain[-1].reason = "error", detail
    else:
        chain.append(ChainStep(_text(name), "error", reason=detail))
    return ChainOutcome(Status.ERROR, "dnssec.dns-error", None, None, detail, _dns_fix(), chain)


def _dns_fix() -> str:
    return (
        "Retry; if it persists, check the zone's nameservers answer DNSKEY and DS queries "
        "(some firewalls drop large or EDNS answers). A validating resolver also answers "
        "SERVFAIL for a bogus zone: query the authoritative servers with --nameserver to "
        "see why."
    )


def _sign_fix(zone: dns.name.Name) -> str:
    return (
        f"Optional for delivery today. To sign {_text(zone)}, turn on DNSSEC at its DNS "
        "host, then publish the DS record the host shows at the registrar (the parent "
        "zone). Signing is what makes DANE (TLSA records for your MX) possible."
    )


def _remove_ds_fix(zone: dns.name.Name) -> str:
    return (
        f"Either sign {_text(zone)} and replace the DS at the registrar with the one for its "
        "new key, or delete the DS record at the registrar so resolvers treat the zone as "
        "unsigned."
    )


def _replace_ds_fix(zone: dns.name.Name, dnskey: Lookup, now: float) -> tuple[str, str | None]:
    """(fix, DS lines to publish): the DS computed from the zone's own KSK, when that key
    signs its keys; no record when no such key is found."""
    assert dnskey.rrset is not None
    lines: list[str] = []
    for key in dnskey.rrset:
        if not key.flags & dns.dnssec.Flag.SEP:
            continue
        if not _verify(dnskey.rrset, dnskey.signatures, zone, [key], now).ok:
            continue  # only vouch for a key that really signs the zone's key set
        try:
            ds = dns.dnssec.make_ds(zone, key, "SHA256")
        except (dns.exception.DNSException, ValueError):
            continue
        lines.append(f"{zone.to_text()} 3600 IN DS {ds.to_text()}")
    if not lines:
        return (
            f"At the registrar, replace the DS record of {_text(zone)} with the DS of the key "
            "that signs the zone now (your DNS host shows it), or delete the DS to go unsigned."
        ), None
    return (
        f"At the registrar, replace the DS record of {_text(zone)} with the one for the key "
        "the zone is signed with now: " + " ; ".join(lines)
    ), "\n".join(lines)


# -- small helpers --------------------------------------------------------------------


def _anchor_for(
    anchors: Iterable[dns.rrset.RRset], domain: dns.name.Name
) -> dns.rrset.RRset | None:
    """The closest anchor at or above `domain`; several RRsets of one owner are merged."""
    best: dns.rrset.RRset | None = None
    for anchor in anchors:
        if anchor.rdtype not in (dns.rdatatype.DNSKEY, dns.rdatatype.DS):
            continue
        if not domain.is_subdomain(anchor.name):
            continue
        if best is None or len(anchor.name) > len(best.name):
            best = dns.rrset.RRset(anchor.name, anchor.rdclass, anchor.rdtype)
            best.update(anchor)
        elif anchor.name == best.name and anchor.rdtype == best.rdtype:
            best.union_update(anchor)
    return best


def _dnskeys(anchor: dns.rrset.RRset) -> list[Any]:
    return list(anchor) if anchor.rdtype == dns.rdatatype.DNSKEY else []


def _matches_anchor(key: Any, anchor: dns.rrset.RRset) -> bool:
    if anchor.rdtype == dns.rdatatype.DNSKEY:
        return key in anchor
    return _matches_ds(anchor.name, key, list(anchor))


def _matches_ds(zone: dns.name.Name, key: Any, ds_records: Sequence[Any]) -> bool:
    for ds in ds_records:
        if ds.key_tag != dns.dnssec.key_id(key) or ds.algorithm != key.algorithm:
            continue
        try:
            made = dns.dnssec.make_ds(zone, key, ds.digest_type, validating=True)
        except (dns.exception.DNSException, ValueError):
            continue
        if made.digest == ds.digest:
            return True
    return False


def _tags(lookup: Lookup) -> list[int]:
    if not lookup.ok or lookup.rrset is None:
        return []
    return sorted(dns.dnssec.key_id(key) for key in lookup.rrset)


def _tag_list(keys: Iterable[Any]) -> str:
    return ", ".join(str(tag) for tag in sorted(dns.dnssec.key_id(key) for key in keys)) or "none"


def _owned(lookup: Lookup, name: dns.name.Name) -> bool:
    """The answer is at `name` itself, not at the end of a CNAME chain."""
    return lookup.rrset is not None and lookup.rrset.name == name and not lookup.cnames


def _when(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
