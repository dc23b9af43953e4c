"""DKIM key records (RFC 6376 3.6.1, RFC 8301, RFC 8463): find them and judge each key.

Selectors cannot be listed from DNS, so the check asks for the selectors the user
names plus, with discovery on, every well-known provider selector in
`console.auth.selectors`, all at once. Each key found is parsed with `cryptography`
to learn its real type and size; a record that does not parse is reported, never
raised.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_der_public_key

from console.auth.mx import is_null_mx
from console.auth.options import AuditOptions
from console.auth.records import parse_tags, txt_record
from console.auth.resolver import Lookup, Outcome, ResolverContext
from console.auth.selectors import (
    UNGUESSABLE,
    WELL_KNOWN_SELECTORS,
    confirmed_provider,
    guessed_provider,
)
from console.model import CheckResult, Finding, Status

CHECK_ID = "dkim"

DKIM_TAGS: dict[str, str] = {
    "v": "Version. Optional, but if present it must be exactly DKIM1 and come first.",
    "k": "Key type: rsa (the default) or ed25519 (RFC 8463).",
    "p": "The public key, base64. Empty means the key has been revoked.",
    "h": "Hash algorithms the key may be used with (sha256; sha1 is no longer accepted).",
    "s": "Services the key is for: * (any, the default) or email.",
    "t": "Flags: y = testing (receivers may treat signed mail as unsigned), "
    "s = strict (the i= domain must equal d=, no subdomains).",
    "n": "Notes for people; ignored by receivers.",
    "g": "Granularity (RFC 4871 only, obsolete): ignored by RFC 6376 receivers.",
}
"""What each tag of a DKIM key record means, for the console's help."""

MIN_RSA_BITS = 1024
"""RFC 8301 3.2: signers MUST use RSA keys of at least 1024 bits..."""

RECOMMENDED_RSA_BITS = 2048
"""... and SHOULD use at least 2048 bits."""

MAX_VERIFIED_RSA_BITS = 4096
"""RFC 8301 3.2: verifiers are only required to handle keys up to 4096 bits."""

_TAG_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_SELECTOR = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")
_KEYGEN_HINT = (
    "generate a 2048-bit key pair at your signer (or provider) and publish the public half, "
    "e.g. `openssl rsa -in private.pem -pubout -outform DER | base64 -w0`"
)


@dataclass(slots=True)
class DkimKey:
    """One parsed key record; `findings` says what is wrong with it (empty when fine).

    `hash_algorithms` and `service_types` are None when the tag is absent (no
    restriction); `key_bits` is None when the key could not be read.
    """

    record: str
    tags: dict[str, str] = field(default_factory=dict)
    key_type: str = "rsa"
    key_bits: int | None = None
    testing: bool = False
    strict: bool = False
    revoked: bool = False
    hash_algorithms: list[str] | None = None
    service_types: list[str] | None = None
    findings: list[Finding] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        """Whether a receiver could verify a signature made with this key."""
        return not self.revoked and not any(f.severity is Status.FAIL for f in self.findings)


def looks_like_key(text: str) -> bool:
    """Whether a TXT record is meant as a DKIM key (has `p=` or starts `v=DKIM1`).

    Discovery uses it to ignore unrelated TXT records, such as a wildcard SPF record
    answering for every name.
    """
    stripped = text.strip()
    if stripped.startswith("v=DKIM1"):
        return True
    return any(tag == "p" for tag, _ in parse_tags(stripped))


def _list_value(value: str) -> list[str]:
    return [item.strip() for item in value.split(":") if item.strip()]


def _rebuilt(tags: dict[str, str], *, drop: tuple[str, ...] = ()) -> str:
    """The record with `v=DKIM1` first and `drop`ped tags removed: for exact fixes."""
    parts = ["v=DKIM1"]
    parts += [f"{tag}={value}" for tag, value in tags.items() if tag != "v" and tag not in drop]
    return "; ".join(parts)


def parse_key_record(text: str, owner: str = "<selector>._domainkey.<domain>") -> DkimKey:
    """Parse one DKIM key record and judge it; never raises.

    Args:
        text: the TXT record's strings, already concatenated.
        owner: the record's name, used in messages and in the exact fixes.

    Returns:
        A DkimKey whose findings use the codes dkim.syntax, dkim.bad-key, dkim.weak-key,
        dkim.short-key, dkim.testing, dkim.revoked and dkim.sha1.
    """
    key = DkimKey(record=text)
    findings = key.findings

    def syntax(message: str, fix: str, record: str | None = None) -> None:
        findings.append(Finding("dkim.syntax", Status.FAIL, message, fix, record))

    def publish(message: str, record: str) -> None:
        syntax(message, record, record)

    pairs = parse_tags(text)
    # parse_tags turns "garbage" into ("garbage", ""), like "k=": tell them apart here.
    bare = {part.strip() for part in text.split(";") if part.strip() and "=" not in part}
    seen: set[str] = set()
    for tag, value in pairs:
        if not _TAG_NAME.fullmatch(tag) or (tag in bare and not value):
            syntax(
                f"{owner}: {tag!r} is not a tag=value pair, so receivers reject the whole key "
                "record and every signature made with it fails.",
                "Publish the record as `tag=value` pairs separated by `;`, for example "
                f"{txt_record(owner, 'v=DKIM1; k=rsa; p=<base64 public key>')}",
            )
            continue
        if tag in seen:
            syntax(
                f"{owner}: the tag {tag}= appears more than once; RFC 6376 3.2 makes such "
                "a record invalid, so signatures made with it fail.",
                f"Keep one {tag}= tag in the record.",
            )
            continue
        seen.add(tag)
        key.tags[tag] = value

    tags = key.tags
    if "v" in tags:
        if pairs and pairs[0][0] != "v":
            publish(
                f"{owner}: v=DKIM1 must be the first tag (RFC 6376 3.6.1); receivers may "
                "ignore a record that starts with another tag.",
                txt_record(owner, _rebuilt(tags)),
            )
        if tags["v"] != "DKIM1":
            publish(
                f"{owner}: v={tags['v']} is not a DKIM version; receivers discard the record.",
                txt_record(owner, _rebuilt(tags)),
            )

    key.key_type = tags.get("k", "rsa").lower() or "rsa"
    if "t" in tags:
        flags = _list_value(tags["t"])
        key.testing = "y" in flags
        key.strict = "s" in flags
    if "h" in tags:
        key.hash_algorithms = [alg.lower() for alg in _list_value(tags["h"])]
    if "s" in tags:
        key.service_types = [svc.lower() for svc in _list_value(tags["s"])]

    if key.hash_algorithms is not None and "sha256" not in key.hash_algorithms:
        if "sha1" in key.hash_algorithms:
            findings.append(
                Finding(
                    "dkim.sha1",
                    Status.FAIL,
                    f"{owner}: h={tags['h']} allows only SHA-1, which RFC 8301 forbids; "
                    "receivers no longer verify rsa-sha1 signatures, so this key signs "
                    "nothing they accept.",
                    "Sign with rsa-sha256 and drop the h= tag (or set h=sha256): "
                    + txt_record(owner, _rebuilt(tags, drop=("h",))),
                    txt_record(owner, _rebuilt(tags, drop=("h",))),
                )
            )
        else:
            publish(
                f"{owner}: h={tags['h']} names no hash algorithm receivers support "
                "(sha256), so no signature made with this key verifies.",
                txt_record(owner, _rebuilt(tags, drop=("h",))),
            )
    if key.service_types is not None and not {"*", "email"} & set(key.service_types):
        publish(
            f"{owner}: s={tags['s']} does not include email or *, so receivers must not use "
            "this key for mail.",
            txt_record(owner, _rebuilt(tags, drop=("s",))),
        )
    if key.testing:
        findings.append(
            Finding(
                "dkim.testing",
                Status.WARN,
                f"{owner}: t=y marks the key as in testing; receivers may treat mail "
                "signed with it as unsigned, which weakens DKIM and DMARC.",
                "Remove the y flag once signing works: "
                + txt_record(owner, _rebuilt(_without_flag(tags, "y"))),
                txt_record(owner, _rebuilt(_without_flag(tags, "y"))),
            )
        )

    if "p" not in tags:
        syntax(
            f"{owner}: the record has no p= tag, so it carries no key and every signature "
            "made with this selector fails.",
            f"Publish the public key: {txt_record(owner, 'v=DKIM1; k=rsa; p=<base64 key>')}; "
            + _KEYGEN_HINT,
        )
        return key
    encoded = re.sub(r"\s+", "", tags["p"])
    if not encoded:
        key.revoked = True
        findings.append(
            Finding(
                "dkim.revoked",
                Status.WARN,
                f"{owner}: p= is empty, which means the key is revoked; mail signed with "
                "this selector fails DKIM.",
                "If you still sign with this selector, publish its public key again; "
                "otherwise stop signing with it and remove the record.",
            )
        )
        return key
    _judge_key(key, encoded, owner)
    return key


def _without_flag(tags: dict[str, str], flag: str) -> dict[str, str]:
    """The tags with `flag` removed from t= (and t= itself when nothing is left)."""
    kept = ":".join(item for item in _list_value(tags.get("t", "")) if item != flag)
    return {
        tag: (kept if tag == "t" else value) for tag, value in tags.items() if tag != "t" or kept
    }


def _judge_key(key: DkimKey, encoded: str, owner: str) -> None:
    """Decode `encoded` as `key.key_type`, record its size and any finding about it."""
    findings = key.findings

    def bad(message: str, severity: Status = Status.FAIL) -> None:
        findings.append(
            Finding(
                "dkim.bad-key",
                severity,
                f"{owner}: {message}",
                f"Publish the key again exactly as your signer exports it: {_KEYGEN_HINT}.",
            )
        )

    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        bad(
            "p= is not valid base64 (a character or a split in the wrong place breaks it), "
            "so receivers cannot read the key and every signature fails."
        )
        return
    if key.key_type == "ed25519":
        if len(raw) != 32:
            bad(
                f"an ed25519 key is the raw 32-byte public key (RFC 8463 4.2), but p= "
                f"decodes to {len(raw)} bytes; receivers cannot use it."
            )
            return
        try:
            ed25519.Ed25519PublicKey.from_public_bytes(raw)
        except (ValueError, UnsupportedAlgorithm):
            bad("p= is not a usable ed25519 public key.")
            return
        key.key_bits = 256
        return
    if key.key_type != "rsa":
        bad(
            f"k={key.tags.get('k')} is not a key type receivers know (rsa or ed25519), "
            "so they ignore the key."
        )
        return
    try:
        public = load_der_public_key(raw)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        bad("p= is valid base64 but not an RSA public key, so every signature fails.")
        return
    if not isinstance(public, rsa.RSAPublicKey):
        bad(
            f"k=rsa (or no k=) but p= holds a {type(public).__name__.removesuffix('PublicKey')} "
            "key; receivers cannot verify with it."
        )
        return
    key.key_bits = public.key_size
    # SubjectPublicKeyInfo starts SEQUENCE{SEQUENCE{OID...}}; a bare PKCS#1 RSAPublicKey
    # starts SEQUENCE{INTEGER...}. Verifiers built on OpenSSL's d2i_PUBKEY read only the first.
    if len(raw) > 4 and _first_inner_tag(raw) == 0x02:
        bad(
            "the key is a bare PKCS#1 RSAPublicKey rather than SubjectPublicKeyInfo; "
            "some receivers cannot read it.",
            Status.WARN,
        )
    bits = public.key_size
    if bits < MIN_RSA_BITS:
        findings.append(
            Finding(
                "dkim.weak-key",
                Status.FAIL,
                f"{owner}: the RSA key has {bits} bits; RFC 8301 requires at least "
                f"{MIN_RSA_BITS}, and receivers treat such signatures as failing.",
                f"Rotate to a {RECOMMENDED_RSA_BITS}-bit key under a new selector: " + _KEYGEN_HINT,
            )
        )
    elif bits < RECOMMENDED_RSA_BITS:
        findings.append(
            Finding(
                "dkim.short-key",
                Status.WARN,
                f"{owner}: the RSA key has {bits} bits; RFC 8301 asks for at least "
                f"{RECOMMENDED_RSA_BITS}, and short keys can be factored by a determined "
                "attacker to forge your mail.",
                f"Rotate to a {RECOMMENDED_RSA_BITS}-bit key under a new selector (split "
                "the record into 255-octet strings): " + _KEYGEN_HINT,
            )
        )
    elif bits > MAX_VERIFIED_RSA_BITS:
        bad(
            f"the RSA key has {bits} bits; receivers are only required to verify keys up "
            f"to {MAX_VERIFIED_RSA_BITS} bits (RFC 8301), so some will not.",
            Status.WARN,
        )


def _first_inner_tag(der: bytes) -> int | None:
    """The tag byte of the first element inside the outer DER SEQUENCE."""
    if der[0] != 0x30:
        return None
    length = der[1]
    offset = 2 + (length & 0x7F if length & 0x80 else 0)
    return der[offset] if offset < len(der) else None


# -- the check ---------------------------------------------------------------------------


def _normalize_selector(text: str, domain: str) -> str | None:
    """A selector as given by the user, or None if it cannot be one.

    Accepts the full owner name too (`s1._domainkey.example.com`), since that is what
    people copy from their DNS console.
    """
    selector = text.strip().rstrip(".").lower()
    for suffix in (f"._domainkey.{domain}", "._domainkey"):
        selector = selector.removesuffix(suffix)
    if not selector or len(selector) > 200:
        return None
    if not all(_SELECTOR.fullmatch(label) for label in selector.split(".")):
        return None
    return selector


@dataclass(slots=True)
class _Probe:
    selector: str
    found_by: str
    lookup: Lookup | None = None


async def _nothing_below_domainkey(ctx: ResolverContext, domain: str) -> bool:
    """True when `_domainkey.DOMAIN` is NXDOMAIN: by RFC 8020 no selector can exist below
    it, and the ~50 discovery probes would be wasted (most domains of a bulk list).

    One round trip before discovery; the audit's longest chain (SPF includes, MTA-STS)
    is deeper than this, so it costs no wall time in a full audit.
    """
    lookup = await ctx.query(f"_domainkey.{domain}", "TXT")
    return lookup.outcome is Outcome.NXDOMAIN


async def check_dkim(ctx: ResolverContext, domain: str, options: AuditOptions) -> CheckResult:
    """Find and judge the DKIM keys of `domain`.

    Args:
        ctx: how to ask DNS.
        domain: the normalized mail domain.
        options: `selectors` to check, and `discover_selectors` to also probe the
            well-known provider selectors.

    Returns:
        CheckResult "dkim" with data `selectors` (one entry per key record found:
        selector, key_type, key_bits, testing, strict, revoked, hash_algorithms,
        service_types, record, provider, provider_guess, found_by, cname, usable;
        `provider` is set only when the selector's CNAME points into the provider's
        zone, else None and `provider_guess` holds who usually publishes a selector of
        that name, as a guess), `missing` (named
        selectors without a key), `checked` (every selector asked) and `wildcard`
        (the record a wildcard under _domainkey answers with, or None).
    """
    findings: list[Finding] = []
    probes: dict[str, _Probe] = {}
    for given in options.selectors:
        selector = _normalize_selector(given, domain)
        if selector is None:
            findings.append(
                Finding(
                    "dkim.syntax",
                    Status.FAIL,
                    f"{given!r} is not a valid DKIM selector (letters, digits, - and _, "
                    "in dot-separated labels), so it was not looked up.",
                    "Pass the s= value of a DKIM-Signature header, e.g. --selector s1.",
                )
            )
            continue
        probes.setdefault(selector, _Probe(selector, "option"))
    # RFC 8020: nothing can exist below a name that does not exist, so discovery
    # would only ask ~50 questions whose answers are known; remember it was skipped.
    empty_domainkey = options.discover_selectors and await _nothing_below_domainkey(ctx, domain)
    if options.discover_selectors and not empty_domainkey:
        for known in WELL_KNOWN_SELECTORS:
            probes.setdefault(known.selector, _Probe(known.selector, "discovery"))

    # A name no provider uses: if it answers, a wildcard does, and discovery must not
    # mistake the wildcard's answer for a key at every well-known selector.
    wildcard_name = f"mailscope-{secrets.token_hex(6)}._domainkey.{domain}"
    queries = [ctx.query(f"{p.selector}._domainkey.{domain}", "TXT") for p in probes.values()]
    queries.append(ctx.query(wildcard_name, "TXT"))
    queries.append(ctx.query(domain, "MX"))
    *answers, wildcard_lookup, mx_lookup = await ctx.gather(*queries)
    for probe, lookup in zip(probes.values(), answers, strict=True):
        probe.lookup = lookup
    wildcard = sorted(wildcard_lookup.texts()) if wildcard_lookup.ok else []

    entries: list[dict[str, Any]] = []
    keys: list[DkimKey] = []
    missing: list[str] = []
    failed: list[_Probe] = []
    dangling: list[str] = []
    for probe in probes.values():
        lookup = probe.lookup
        assert lookup is not None
        owner = f"{probe.selector}._domainkey.{domain}"
        if lookup.failed:
            failed.append(probe)
            continue
        cname = lookup.cnames[-1] if lookup.cnames else None
        if lookup.is_void:
            if cname:
                dangling.append(probe.selector)
                findings.append(_dangling(owner, lookup, probe))
            elif probe.found_by == "option":
                missing.append(probe.selector)
            continue
        texts = lookup.texts()
        guessed = probe.found_by == "discovery"
        if guessed and (sorted(texts) == wildcard or not any(map(looks_like_key, texts))):
            continue
        candidates = [t for t in texts if looks_like_key(t)] or texts
        key = parse_key_record(candidates[0], owner)
        if len(texts) > 1:
            findings.append(
                Finding(
                    "dkim.syntax",
                    Status.FAIL,
                    f"{owner} has {len(texts)} TXT records; RFC 6376 3.6.2.2 leaves the "
                    "result undefined, so receivers may pick the wrong one and fail.",
                    f"Keep only the key record: {txt_record(owner, candidates[0])}",
                    txt_record(owner, candidates[0]),
                )
            )
        entry = {
            "selector": probe.selector,
            "key_type": key.key_type,
            "key_bits": key.key_bits,
            "testing": key.testing,
            "strict": key.strict,
            "revoked": key.revoked,
            "hash_algorithms": key.hash_algorithms,
            "service_types": key.service_types,
            "record": candidates[0],
            # The selector name alone never proves who holds the key (a self-hosted
            # signer may use s1); only a CNAME into the provider's zone does.
            "provider": confirmed_provider(cname),
            "provider_guess": None
            if confirmed_provider(cname)
            else guessed_provider(probe.selector),
            "found_by": probe.found_by,
            "cname": cname,
            "usable": key.usable,
        }
        entries.append(entry)
        keys.append(key)

    usable = [key for key in keys if key.usable]
    for key in keys:
        for finding in key.findings:
            # A revoked key is routine after a rotation, unless nothing usable is left.
            if finding.code == "dkim.revoked" and not usable:
                finding = dataclasses.replace(finding, severity=Status.FAIL)
            findings.append(finding)
    if usable and all(key.key_type == "ed25519" for key in usable):
        findings.append(
            Finding(
                "dkim.ed25519-only",
                Status.WARN,
                "Every usable key is ed25519; many large receivers do not verify ed25519 "
                "signatures yet, so to them your mail is unsigned.",
                "Sign with an RSA 2048-bit key as well (two DKIM-Signature headers, RFC "
                "8463), under its own selector.",
            )
        )
    findings.extend(_missing_findings(domain, missing, bool(entries)))
    findings.extend(_failure_findings(failed))

    data: dict[str, Any] = {
        "selectors": entries,
        "missing": missing,
        "checked": list(probes),
        "wildcard": wildcard[0] if wildcard else None,
    }
    if not entries and not missing and not failed and not dangling:
        skipped = _skip_reason(domain, wildcard, mx_lookup, options)
        if skipped:
            return CheckResult(CHECK_ID, Status.SKIP, skipped, findings, data)
        findings.append(_not_found(domain, len(probes), options, empty_domainkey))
    summary = _summary(entries, missing, failed, dangling, len(probes))
    if not entries and not missing and not failed and not dangling and empty_domainkey:
        summary = f"no DKIM key: _domainkey.{domain} does not exist"
    return CheckResult.from_findings(CHECK_ID, summary, findings, data)


def _dangling(owner: str, lookup: Lookup, probe: _Probe) -> Finding:
    target = lookup.cnames[-1]
    confirmed = confirmed_provider(target)
    guess = guessed_provider(probe.selector)
    if confirmed:
        who = f"{confirmed} (which publishes {target})"
    elif guess:
        # The target is not in a zone known to be the provider's: say it is a guess.
        who = f"the provider that publishes {target} (probably {guess}, going by the selector)"
    else:
        who = f"the provider that publishes {target}"
    return Finding(
        "dkim.dangling-cname",
        Status.FAIL if probe.found_by == "option" else Status.WARN,
        f"{owner} is a CNAME to {target}, which has no key; signatures with "
        f"s={probe.selector} fail. This usually means DKIM signing was never switched "
        f"on at {who}.",
        f"Enable DKIM signing for this domain at {who}, or remove the CNAME if you do not use it.",
    )


def _missing_findings(domain: str, missing: list[str], found_any: bool) -> list[Finding]:
    return [
        Finding(
            "dkim.no-selector",
            Status.FAIL,
            f"No DKIM key at {selector}._domainkey.{domain}; mail signed with "
            f"s={selector} fails DKIM" + (" (other selectors were found)." if found_any else "."),
            f"Publish the key: "
            f"{txt_record(f'{selector}._domainkey.{domain}', 'v=DKIM1; k=rsa; p=<base64 key>')}"
            f" — {_KEYGEN_HINT}; or check the selector name against the s= tag of a "
            "DKIM-Signature header of a message you sent.",
        )
        for selector in missing
    ]


def _failure_findings(failed: list[_Probe]) -> list[Finding]:
    out: list[Finding] = []
    named = [p for p in failed if p.found_by == "option"]
    guessed = [p for p in failed if p.found_by == "discovery"]
    for probe in named:
        assert probe.lookup is not None
        out.append(
            Finding(
                "dkim.dns-error",
                Status.ERROR,
                f"Could not look up selector {probe.selector}: {probe.lookup.describe()}.",
                "Check that the domain's nameservers answer, then run the check again.",
            )
        )
    if guessed:
        first = guessed[0].lookup
        assert first is not None
        out.append(
            Finding(
                "dkim.dns-error",
                Status.ERROR,
                f"{len(guessed)} selector lookup(s) failed during discovery "
                f"({', '.join(p.selector for p in guessed[:5])}"
                f"{', ...' if len(guessed) > 5 else ''}), e.g. {first.describe()}; "
                "a key there would have been missed.",
                "Check that the domain's nameservers answer, then run the check again.",
            )
        )
    return out


def _skip_reason(
    domain: str, wildcard: list[str], mx_lookup: Lookup, options: AuditOptions
) -> str | None:
    """Why finding no key is expected, or None when it is a problem to report."""
    if options.selectors:
        return None
    if wildcard and looks_like_key(wildcard[0]) and parse_key_record(wildcard[0]).revoked:
        return (
            f"every selector of {domain} is revoked by a wildcard record: the domain "
            "declares it sends no DKIM-signed mail"
        )
    if is_null_mx(mx_lookup):
        return (
            f"no DKIM key found, and {domain} publishes a null MX (it accepts no mail), "
            "so it presumably sends none either"
        )
    return None


def _not_found(
    domain: str, asked: int, options: AuditOptions, empty_domainkey: bool = False
) -> Finding:
    unguessable = "; ".join(f"{name}: {how}" for name, how in UNGUESSABLE)
    impact = (
        "without DKIM, DMARC rests on SPF alone and Gmail, Yahoo and Microsoft reject bulk mail"
    )
    if empty_domainkey:
        # Not "none of the 0 selectors": nothing was tried, and nothing could be found.
        message = (
            f"DKIM could not be found for {domain}: _domainkey.{domain} does not exist, "
            "so no selector can exist below it (RFC 8020); discovery skipped. "
            f"No key is published under any selector name; {impact}."
        )
    else:
        if options.discover_selectors:
            what = f"none of the {asked} well-known selectors discovery tried has a key"
        else:
            what = "no selector was given and discovery is off"
        message = (
            f"DKIM could not be found for {domain}: {what}. DNS cannot list a domain's "
            f"selectors, so a key under another name may still exist; {impact}. "
            f"Selectors discovery cannot guess: {unguessable}."
        )
    return Finding(
        "dkim.no-selector",
        Status.WARN,
        message,
        "Pass your selector with --selector NAME: it is the s= tag of the DKIM-Signature "
        "header of a message you sent. If you do not sign yet, enable DKIM at your mail "
        "provider, or publish "
        + txt_record(f"<selector>._domainkey.{domain}", "v=DKIM1; k=rsa; p=<base64 key>")
        + f" and sign with it; {_KEYGEN_HINT}.",
    )


def _summary(
    entries: list[dict[str, Any]],
    missing: list[str],
    failed: list[_Probe],
    dangling: list[str],
    asked: int,
) -> str:
    if entries:
        described = ", ".join(
            f"{e['selector']}: "
            + ("revoked" if e["revoked"] else f"{e['key_type']} {e['key_bits'] or '?'}")
            for e in entries
        )
        also = f"; no key at {', '.join(missing)}" if missing else ""
        return f"{len(entries)} DKIM key(s) found ({described}){also}"
    if failed and len(failed) == asked:
        return "DKIM could not be checked: the selector lookups failed"
    if missing:
        return f"no DKIM key at the selector(s) given: {', '.join(missing)}"
    if dangling:
        return f"no DKIM key found: {', '.join(dangling)} point(s) to a CNAME with no key"
    return f"no DKIM key found ({asked} selectors tried)"
