"""SPF (RFC 7208): finding the record, parsing it, walking its include tree, and the `spf` check.

The parser is the one data model every SPF consumer uses: the audit below walks it over
DNS, `console.auth.spf_eval.check_host` evaluates it for one connection. Parsing never
raises: any text gives an `SpfRecord`, whose `errors` say precisely which term is wrong
and where.

The audit costs the longest include chain, not the sum: the includes, redirect and the
address look-ups of each record are gathered concurrently, and the resolver context's
cache merges the questions the other checks ask too.
"""

from __future__ import annotations

import asyncio
import difflib
import ipaddress
import re
import urllib.parse
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from console.auth.fcrdns import reverse_dns
from console.auth.mx import mx_hosts
from console.auth.options import AuditOptions
from console.auth.providers import provider_for
from console.auth.records import TXT_STRING_LIMIT, quote_txt, txt_record
from console.auth.resolver import Lookup, ResolverContext
from console.model import CheckResult, Finding, Status

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# --------------------------------------------------------------------------------------
# Limits and words, as data
# --------------------------------------------------------------------------------------

LOOKUP_LIMIT = 10
"""DNS-querying terms one evaluation may use (RFC 7208 4.6.4)."""

VOID_LOOKUP_LIMIT = 2
"""Look-ups answering NXDOMAIN or no records one evaluation may make (RFC 7208 4.6.4)."""

MX_LIMIT = 10
"""MX records one `mx` mechanism may return before it is a permerror (RFC 7208 4.6.4)."""

PTR_LIMIT = 10
"""PTR names one `ptr` mechanism or `%{p}` macro looks at (RFC 7208 4.6.4, 5.5)."""

UDP_RECORD_OCTETS = 450
"""A record longer than this risks a DNS answer over 512 octets (RFC 7208 3.4)."""

UDP_ANSWER_OCTETS = 512
"""The classic DNS-over-UDP answer size; beyond it, resolvers retry over TCP."""

EDNS_ANSWER_OCTETS = 4096
"""The largest answer most resolvers accept over UDP with EDNS; beyond it only TCP helps."""

MAX_TREE_DEPTH = LOOKUP_LIMIT
"""Includes below this depth are not fetched: the chain alone already exceeds the limit."""

MAX_TREE_NODES = 100
"""Records one audit fetches at most, so a hostile fan-out of includes stays bounded."""

QUALIFIERS: dict[str, str] = {"+": "pass", "-": "fail", "~": "softfail", "?": "neutral"}
"""Qualifier -> the result a matching mechanism gives."""

MECHANISMS = ("all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists")
DNS_MECHANISMS = frozenset({"include", "a", "mx", "ptr", "exists"})
"""Mechanisms that cost a DNS look-up towards the limit of 10 (the `redirect` modifier too)."""

KNOWN_MODIFIERS = ("redirect", "exp", "ra", "rp", "rr")

TERM_MEANINGS: dict[str, str] = {
    "v=spf1": "Marks the TXT record as an SPF policy; it must come first.",
    "all": "Matches every sender; ends the record with the verdict for everyone else.",
    "include": "Asks another domain's SPF policy; matches when that policy passes.",
    "a": "Matches when the sender is an address of the domain's A/AAAA records.",
    "mx": "Matches when the sender is an address of one of the domain's MX hosts.",
    "ptr": "Matches on the sender's reverse DNS name; slow and unreliable, do not use.",
    "ip4": "Matches an IPv4 address or network.",
    "ip6": "Matches an IPv6 address or network.",
    "exists": "Matches when the (usually macro-built) name has an A record.",
    "redirect": "Uses another domain's SPF policy when nothing here matched.",
    "exp": "Names a TXT record whose text explains a fail to the sender.",
    "ra": "RFC 6652: the local part that receives SPF failure reports.",
    "rp": "RFC 6652: the percentage of failures to report.",
    "rr": "RFC 6652: which results to report (all, e, f, s, n).",
}
"""What each term does, in plain words, for the console's help."""

QUALIFIER_MEANINGS: dict[str, str] = {
    "+": "pass: the sender is authorised (the default when no qualifier is written).",
    "-": "fail: the sender is not authorised; receivers may reject the mail.",
    "~": "softfail: probably not authorised; receivers accept but mark it.",
    "?": "neutral: the domain makes no statement, as if it had no SPF.",
}

MACRO_MEANINGS: dict[str, str] = {
    "s": "the sender (MAIL FROM address, or postmaster@HELO)",
    "l": "the local part of the sender",
    "o": "the domain of the sender",
    "d": "the domain whose record is being evaluated",
    "i": "the client IP (IPv6 as dotted nibbles)",
    "p": "the validated reverse DNS name of the client IP (do not use)",
    "v": "'in-addr' for IPv4, 'ip6' for IPv6",
    "h": "the HELO/EHLO name",
    "c": "the client IP, readable (explanations only)",
    "r": "the receiving host's name (explanations only)",
    "t": "the current time in seconds (explanations only)",
}

# --------------------------------------------------------------------------------------
# Macros (RFC 7208 section 7)
# --------------------------------------------------------------------------------------

MACRO_LETTERS = frozenset("slodiphvcrt")
EXPLANATION_ONLY_LETTERS = frozenset("crt")
MACRO_DELIMITERS = ".-+,/_="

_MACRO_TOKEN = re.compile(
    r"%\{(?P<body>[^}]*)\}|%(?P<escape>[%_-])|(?P<percent>%)|(?P<literal>[^%]+)", re.DOTALL
)
_MACRO_BODY = re.compile(r"([A-Za-z])([0-9]*)([rR]?)([.\-+,/_=]*)", re.ASCII)
_BAD_LITERAL = re.compile(r"[^\x21-\x24\x26-\x7e]")
_BAD_EXPLANATION_LITERAL = re.compile(r"[^\x20-\x24\x26-\x7e]")
_ESCAPES = {"%": "%", "_": " ", "-": "%20"}


class MacroSyntaxError(ValueError):
    """A macro-string that breaks RFC 7208 7.1; `offset` is where, within the string."""

    def __init__(self, offset: int, message: str) -> None:
        super().__init__(message)
        self.offset = offset
        self.message = message


@dataclass(frozen=True, slots=True)
class Macro:
    """One `%{...}` expansion.

    Attributes:
        letter: the macro letter, lower case.
        digits: keep this many right-hand parts (None: all).
        reverse: reverse the parts first (`r`).
        delimiters: characters that split the value ("" means ".").
        escape: an upper-case letter: URL-escape the expansion.
        text: the macro as written.
    """

    letter: str
    digits: int | None
    reverse: bool
    delimiters: str
    escape: bool
    text: str


MacroPart = str | Macro


@dataclass(frozen=True, slots=True)
class _Scanned:
    parts: tuple[MacroPart, ...]
    ends_with_macro: bool
    """The last token is a macro-expand (`%{..}`, `%%`, `%_`, `%-`): a valid domain-end."""
    tail: str
    """Literal text after the last macro-expand, as written."""


def _scan_macro_string(
    text: str, *, explanation: bool = False, letters: frozenset[str] = MACRO_LETTERS
) -> _Scanned:
    parts: list[MacroPart] = []
    literal: list[str] = []
    ends_with_macro = False
    tail_start = 0
    bad = _BAD_EXPLANATION_LITERAL if explanation else _BAD_LITERAL
    for match in _MACRO_TOKEN.finditer(text):
        kind = match.lastgroup
        start = match.start()
        if kind == "literal":
            chunk = match.group("literal")
            wrong = bad.search(chunk)
            if wrong is not None:
                char = wrong.group()
                raise MacroSyntaxError(
                    start + wrong.start(), f"character {char!r} is not allowed in SPF text"
                )
            literal.append(chunk)
            ends_with_macro = False
            continue
        if kind == "percent":
            following = text[start + 1 : start + 2]
            if following == "{":
                raise MacroSyntaxError(start, "macro '%{' is not closed with '}'")
            raise MacroSyntaxError(
                start,
                "'%' must start a macro (%{...}, %%, %_ or %-); write %% for a literal percent",
            )
        ends_with_macro = True
        tail_start = match.end()
        if kind == "escape":
            literal.append(_ESCAPES[match.group("escape")])
            continue
        body = match.group("body")
        parsed = _MACRO_BODY.fullmatch(body)
        if parsed is None:
            raise MacroSyntaxError(
                start,
                f"'%{{{body}}}' is not a macro: expected a letter, optional digits, "
                f"optional r and delimiters from {MACRO_DELIMITERS!r}",
            )
        letter_text, digit_text, reverse, delimiters = parsed.groups()
        letter = letter_text.lower()
        if letter not in MACRO_LETTERS:
            raise MacroSyntaxError(start, f"'%{{{body}}}': unknown macro letter {letter_text!r}")
        if letter not in letters:
            raise MacroSyntaxError(
                start, f"'%{{{body}}}': macro letter {letter!r} is allowed only in exp= text"
            )
        digits: int | None = None
        if digit_text:
            # A huge digit count means "keep everything"; int() of it would cost time.
            digits = int(digit_text) if len(digit_text) <= 6 else 10**6
            if digits == 0:
                raise MacroSyntaxError(start, f"'%{{{body}}}': the digit transformer cannot be 0")
        if literal:
            parts.append("".join(literal))
            literal = []
        parts.append(
            Macro(letter, digits, bool(reverse), delimiters, letter_text.isupper(), match.group())
        )
    if literal:
        parts.append("".join(literal))
    return _Scanned(tuple(parts), ends_with_macro, text[tail_start:])


def parse_macro_string(text: str, *, explanation: bool = False) -> tuple[MacroPart, ...]:
    """Split `text` into literal strings and `Macro`s (RFC 7208 7.1).

    Args:
        text: a domain-spec, a modifier value, or (with `explanation`) an exp= TXT text.
        explanation: allow spaces and the letters c, r and t, which only explanations use.

    Returns:
        Literal strings (with %%, %_ and %- already replaced) and Macro objects, in order.

    Raises:
        MacroSyntaxError: the text is not a valid macro-string.
    """
    letters = MACRO_LETTERS if explanation else MACRO_LETTERS - EXPLANATION_ONLY_LETTERS
    return _scan_macro_string(text, explanation=explanation, letters=letters).parts


@dataclass(frozen=True, slots=True)
class MacroEnv:
    """What macros expand to for one evaluation (RFC 7208 7.2).

    Attributes:
        sender: the MAIL FROM address (postmaster@HELO for the null reverse-path).
        domain: the domain whose record is being evaluated (`d`).
        ip: the client address (`i`, `c`, `v`); None when unknown.
        helo: the HELO/EHLO name (`h`).
        validated: the validated reverse name of the client (`p`), "unknown" if none.
        receiver: the receiving host (`r`).
        timestamp: seconds since the epoch (`t`).
    """

    sender: str = ""
    domain: str = ""
    ip: IPAddress | None = None
    helo: str = ""
    validated: str = "unknown"
    receiver: str = "unknown"
    timestamp: int = 0

    def value(self, letter: str) -> str:
        """The raw value of a macro letter, before transformers."""
        if letter == "s":
            return self.sender
        if letter == "l":
            local, at, _ = self.sender.rpartition("@")
            return local if at and local else "postmaster"
        if letter == "o":
            local, at, domain = self.sender.rpartition("@")
            return domain if at else self.sender
        if letter == "d":
            return self.domain
        if letter == "i":
            if self.ip is None:
                return ""
            if self.ip.version == 6:
                return ".".join(self.ip.exploded.replace(":", ""))
            return str(self.ip)
        if letter == "c":
            return "" if self.ip is None else str(self.ip)
        if letter == "v":
            return "ip6" if self.ip is not None and self.ip.version == 6 else "in-addr"
        if letter == "p":
            return self.validated
        if letter == "h":
            return self.helo
        if letter == "r":
            return self.receiver
        if letter == "t":
            return str(self.timestamp)
        return ""


def _transform(value: str, macro: Macro) -> str:
    if macro.delimiters or macro.reverse or macro.digits is not None:
        if macro.delimiters:
            pieces = re.split("[" + re.escape(macro.delimiters) + "]", value)
        else:
            pieces = value.split(".")
        if macro.reverse:
            pieces.reverse()
        if macro.digits is not None and macro.digits < len(pieces):
            pieces = pieces[-macro.digits :]
        value = ".".join(pieces)
    if macro.escape:
        value = urllib.parse.quote(value, safe="")
    return value


def expand_parts(parts: Iterable[MacroPart], env: MacroEnv) -> str:
    """Expand parsed macro parts with `env`; pure and total."""
    return "".join(
        part if isinstance(part, str) else _transform(env.value(part.letter), part)
        for part in parts
    )


def expand_macros(text: str, env: MacroEnv, *, explanation: bool = False) -> str | None:
    """Expand a macro-string; None when it is not valid macro syntax. Never raises.

    Args:
        text: the macro-string (a domain-spec, or an exp= TXT text with `explanation`).
        env: what the letters stand for.
        explanation: the text is an explanation (spaces and c, r, t allowed).

    Returns:
        The expansion, or None if `text` breaks the grammar of RFC 7208 7.1.
    """
    try:
        parts = parse_macro_string(text, explanation=explanation)
    except MacroSyntaxError:
        return None
    return expand_parts(parts, env)


def truncate_domain(name: str) -> str:
    """Drop left-hand labels until the name fits 253 characters (RFC 7208 7.3)."""
    name = name.rstrip(".")
    while len(name) > 253 and "." in name:
        name = name.split(".", 1)[1]
    return name[-253:] if len(name) > 253 else name


def uses_letters(parts: Iterable[MacroPart]) -> set[str]:
    """The macro letters a parsed macro-string uses."""
    return {part.letter for part in parts if isinstance(part, Macro)}


# --------------------------------------------------------------------------------------
# The record: terms and the parser
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Mechanism:
    """A directive: an optional qualifier and a mechanism (RFC 7208 4.6.1, 5).

    Attributes:
        qualifier: "+", "-", "~" or "?" ("+" when none was written).
        name: the mechanism, lower case: all, include, a, mx, ptr, ip4, ip6, exists.
        argument: the domain-spec or network as written (without CIDR lengths), or None.
        cidr4: the IPv4 prefix length written (`/24`), or None.
        cidr6: the IPv6 prefix length written (`//64`, or `/64` for ip6), or None.
        position: offset of the term in the record text.
        text: the term as written.
    """

    qualifier: str
    name: str
    argument: str | None = None
    cidr4: int | None = None
    cidr6: int | None = None
    position: int = 0
    text: str = ""

    @property
    def result(self) -> str:
        """The result this mechanism gives when it matches."""
        return QUALIFIERS[self.qualifier]

    @property
    def counts_lookup(self) -> bool:
        return self.name in DNS_MECHANISMS

    def network(self) -> IPNetwork | None:
        """For ip4/ip6, the network matched (host bits dropped, as receivers do)."""
        if self.name not in ("ip4", "ip6") or self.argument is None:
            return None
        length = self.cidr4 if self.name == "ip4" else self.cidr6
        maximum = 32 if self.name == "ip4" else 128
        try:
            return ipaddress.ip_network(
                f"{self.argument}/{maximum if length is None else length}", strict=False
            )
        except ValueError:
            return None


@dataclass(frozen=True, slots=True)
class Modifier:
    """A `name=value` modifier: redirect, exp, RFC 6652's ra/rp/rr, or an unknown one."""

    name: str
    value: str
    position: int = 0
    text: str = ""

    @property
    def counts_lookup(self) -> bool:
        return self.name == "redirect"

    @property
    def known(self) -> bool:
        return self.name in KNOWN_MODIFIERS


Term = Mechanism | Modifier


@dataclass(frozen=True, slots=True)
class SyntaxIssue:
    """One syntax error: where (`position` in the record text), which term, and what.

    `suggestion` is the corrected term when the mistake is a well-known one.
    """

    position: int
    term: str
    message: str
    suggestion: str | None = None

    def describe(self) -> str:
        shown = self.term if len(self.term) <= 80 else self.term[:77] + "..."
        return f"{shown!r} at offset {self.position}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "term": self.term,
            "message": self.message,
            "suggestion": self.suggestion,
        }


@dataclass(frozen=True, slots=True)
class SpfRecord:
    """A parsed SPF record. Any syntax error makes the whole record a permerror (RFC 7208 4.6).

    Attributes:
        text: the record as published (strings joined).
        terms: every term that parsed, in order.
        errors: every syntax error, in order; empty for a valid record.
    """

    text: str
    terms: tuple[Term, ...] = ()
    errors: tuple[SyntaxIssue, ...] = ()

    @property
    def valid(self) -> bool:
        return not self.errors

    @property
    def mechanisms(self) -> tuple[Mechanism, ...]:
        return tuple(term for term in self.terms if isinstance(term, Mechanism))

    @property
    def modifiers(self) -> tuple[Modifier, ...]:
        return tuple(term for term in self.terms if isinstance(term, Modifier))

    def modifier(self, name: str) -> Modifier | None:
        return next((m for m in self.modifiers if m.name == name), None)

    @property
    def redirect(self) -> Modifier | None:
        return self.modifier("redirect")

    @property
    def explanation(self) -> Modifier | None:
        return self.modifier("exp")

    @property
    def all(self) -> Mechanism | None:
        """The first `all` mechanism: where evaluation always stops."""
        return next((m for m in self.mechanisms if m.name == "all"), None)

    @property
    def evaluated(self) -> tuple[Mechanism, ...]:
        """The mechanisms a receiver can reach: none after the first `all`."""
        reached: list[Mechanism] = []
        for mechanism in self.mechanisms:
            reached.append(mechanism)
            if mechanism.name == "all":
                break
        return tuple(reached)

    @property
    def follows_redirect(self) -> bool:
        """redirect= applies only when the record has no `all` (RFC 7208 6.1)."""
        return self.redirect is not None and self.all is None

    @property
    def lookups(self) -> int:
        """DNS-querying terms of this record alone a receiver may evaluate (RFC 7208 4.6.4)."""
        own = sum(1 for m in self.evaluated if m.counts_lookup)
        return own + (1 if self.follows_redirect else 0)


_VERSION = "v=spf1"
_MODIFIER_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.\-]*", re.ASCII)
_MECHANISM_NAME = re.compile(r"[^:/]*")
_TOPLABEL = re.compile(
    r"[A-Za-z0-9]*[A-Za-z][A-Za-z0-9]*|[A-Za-z0-9]+-[A-Za-z0-9\-]*[A-Za-z0-9]", re.ASCII
)
_PREFIX = re.compile(r"0|[1-9][0-9]{0,2}", re.ASCII)
_IPV4 = re.compile(r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}", re.ASCII)
_IPV6_CHARS = re.compile(r"[0-9A-Fa-f:.]+", re.ASCII)
_TOKEN = re.compile(r"[^ ]+")

_MECHANISM_SUGGESTIONS = {
    "ipv4": "ip4",
    "ipv6": "ip6",
    "ip": "ip4",
    "inc": "include",
    "includes": "include",
    "exist": "exists",
    "redirect": "redirect=",
    "exp": "exp=",
    "spf": "include",
}


class _TermError(Exception):
    def __init__(self, message: str, suggestion: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.suggestion = suggestion


def is_spf_record(text: str) -> bool:
    """Whether a TXT text is an SPF record: exactly `v=spf1` then a space or the end (4.5).

    `v=spf10 ...` and ` v=spf1 ...` (leading space) are not SPF records.
    """
    head = text[:7].lower()
    return head == "v=spf1 " or (len(text) == 6 and head == _VERSION)


def looks_like_spf(text: str) -> bool:
    """A TXT text someone meant as SPF but receivers discard (`v=spf10`, ` v=spf1`, `v=spf1,`)."""
    if is_spf_record(text):
        return False
    return re.match(r"\s*[\"']?\s*v\s*=\s*spf\s*1", text, re.IGNORECASE) is not None


def _domain_spec(spec: str) -> None:
    """Raise _TermError unless `spec` is a domain-spec (RFC 7208 7.1)."""
    if not spec:
        raise _TermError("a domain name is required after ':' or '='")
    try:
        scanned = _scan_macro_string(spec, letters=MACRO_LETTERS - EXPLANATION_ONLY_LETTERS)
    except MacroSyntaxError as exc:
        raise _TermError(exc.message) from None
    if scanned.ends_with_macro and not scanned.tail:
        return
    tail = scanned.tail[:-1] if scanned.tail.endswith(".") else scanned.tail
    dot = tail.rfind(".")
    label = tail[dot + 1 :] if dot >= 0 else tail
    if dot >= 0 and _TOPLABEL.fullmatch(label):
        return
    if _IPV4.fullmatch(spec.split("/")[0]):
        raise _TermError(
            f"{spec!r} is an address, not a domain name; write ip4:{spec}", "ip4:" + spec
        )
    if dot < 0:
        raise _TermError(
            f"{spec!r} is not a fully qualified domain name (it needs a dot and a top-level "
            "label, such as example.com)"
        )
    raise _TermError(f"{spec!r} does not end in a valid top-level label (got {label!r})")


def _prefix_length(text: str, maximum: int, family: str) -> int:
    if not text:
        raise _TermError(f"empty {family} prefix length after '/'")
    if not _PREFIX.fullmatch(text):
        raise _TermError(f"{family} prefix length /{text} must be a number without leading zeros")
    value = int(text)
    if value > maximum:
        raise _TermError(f"{family} prefix length /{value} is out of range 0-{maximum}")
    return value


def _split_dual_cidr(rest: str) -> tuple[str, int | None, int | None]:
    """`:spec/24//64` -> (":spec", 24, 64); the lengths are taken from the end (5.6)."""
    cidr4 = cidr6 = None
    match = re.search(r"//([0-9]*)\Z", rest)
    if match is not None:
        cidr6 = _prefix_length(match.group(1), 128, "IPv6")
        rest = rest[: match.start()]
    match = re.search(r"(?<!/)/([0-9]*)\Z", rest)
    if match is not None:
        cidr4 = _prefix_length(match.group(1), 32, "IPv4")
        rest = rest[: match.start()]
    return rest, cidr4, cidr6


def _parse_mechanism(token: str, position: int) -> Mechanism:
    qualifier = token[0] if token[0] in QUALIFIERS else ""
    body = token[1:] if qualifier else token
    if qualifier and "=" in body and _MODIFIER_NAME.fullmatch(body.partition("=")[0]):
        raise _TermError(f"a modifier ({body.partition('=')[0]}=) takes no qualifier", body)
    if not body:
        raise _TermError("a qualifier must be followed by a mechanism")
    name_text = _MECHANISM_NAME.match(body).group()  # type: ignore[union-attr]
    name = name_text.lower()
    rest = body[len(name_text) :]
    if name not in MECHANISMS:
        if body[:1] in QUALIFIERS:
            raise _TermError("only one qualifier (+ - ~ ?) may precede a mechanism")
        hint = _MECHANISM_SUGGESTIONS.get(name) or next(
            iter(difflib.get_close_matches(name, MECHANISMS, n=1, cutoff=0.75)), None
        )
        shown = name_text if len(name_text) <= 40 else name_text[:37] + "..."
        message = f"unknown mechanism {shown!r}"
        if hint is None:
            raise _TermError(message)
        if hint.endswith("="):
            suggestion = hint + rest.removeprefix(":").removeprefix("=")
        else:
            suggestion = qualifier + hint + rest
        raise _TermError(f"{message}; did you mean {hint!r}?", suggestion)
    qualifier = qualifier or "+"

    if name == "all":
        if rest:
            raise _TermError("'all' takes no argument")
        return Mechanism(qualifier, name, position=position, text=token)

    if name in ("include", "exists"):
        if not rest.startswith(":"):
            raise _TermError(f"'{name}' needs a domain: {name}:example.com")
        spec = rest[1:]
        _domain_spec(spec)
        return Mechanism(qualifier, name, spec, position=position, text=token)

    if name in ("ip4", "ip6"):
        if not rest.startswith(":"):
            raise _TermError(f"'{name}' needs an address: {name}:192.0.2.0/24")
        network, slash, length = rest[1:].partition("/")
        if "%" in network:
            raise _TermError(f"macros are not allowed in {name}")
        maximum = 32 if name == "ip4" else 128
        family = "IPv4" if name == "ip4" else "IPv6"
        cidr = _prefix_length(length, maximum, family) if slash else None
        if name == "ip4":
            if not _IPV4.fullmatch(network):
                if _IPV6_CHARS.fullmatch(network) and ":" in network:
                    raise _TermError(
                        f"{network!r} is an IPv6 address; write ip6:{network}", "ip6" + rest
                    )
                raise _TermError(f"{network!r} is not an IPv4 address")
            try:
                ipaddress.IPv4Address(network)
            except ValueError:
                raise _TermError(f"{network!r} is not an IPv4 address") from None
            return Mechanism(qualifier, name, network, cidr4=cidr, position=position, text=token)
        if not _IPV6_CHARS.fullmatch(network) or ":" not in network:
            if _IPV4.fullmatch(network):
                raise _TermError(
                    f"{network!r} is an IPv4 address; write ip4:{network}", "ip4" + rest
                )
            raise _TermError(f"{network!r} is not an IPv6 address")
        try:
            ipaddress.IPv6Address(network)
        except ValueError:
            raise _TermError(f"{network!r} is not an IPv6 address") from None
        return Mechanism(qualifier, name, network, cidr6=cidr, position=position, text=token)

    # a, mx, ptr: an optional domain-spec; a and mx also take a dual CIDR length.
    cidr4 = cidr6 = None
    if name in ("a", "mx"):
        rest, cidr4, cidr6 = _split_dual_cidr(rest)
    argument: str | None = None
    if rest:
        if not rest.startswith(":"):
            raise _TermError(f"unexpected {rest[:40]!r} after '{name}'")
        argument = rest[1:]
        _domain_spec(argument)
    return Mechanism(qualifier, name, argument, cidr4, cidr6, position, token)


def _parse_modifier(token: str, position: int, name_text: str, value: str) -> Modifier:
    name = name_text.lower()
    if name in ("redirect", "exp"):
        _domain_spec(value)
    else:
        # Unknown modifiers are ignored, but their value must still be a macro-string.
        try:
            _scan_macro_string(value)
        except MacroSyntaxError as exc:
            raise _TermError(exc.message) from None
    return Modifier(name, value, position, token)


def parse_term(token: str, position: int = 0) -> Term | SyntaxIssue:
    """Parse one term (a directive or a modifier); a SyntaxIssue when it is invalid."""
    if not token:
        return SyntaxIssue(position, token, "empty term")
    try:
        name_text, equals, value = token.partition("=")
        if equals and _MODIFIER_NAME.fullmatch(name_text):
            return _parse_modifier(token, position, name_text, value)
        return _parse_mechanism(token, position)
    except _TermError as exc:
        suggestion = exc.suggestion
        if suggestion is not None and not suggestion.startswith(tuple(QUALIFIERS)):
            qualifier = token[0] if token[:1] in QUALIFIERS else ""
            if "=" not in suggestion.partition(":")[0]:
                suggestion = qualifier + suggestion
        return SyntaxIssue(position, token, exc.message, suggestion)


def parse_record(text: str) -> SpfRecord:
    """Parse an SPF record's text (its TXT strings already joined). Never raises.

    Every term is parsed even after an error, so all mistakes are reported at once.

    Args:
        text: the record, starting with `v=spf1`.

    Returns:
        The record; its `errors` list each invalid term with its offset.
    """
    terms: list[Term] = []
    errors: list[SyntaxIssue] = []
    tokens = _TOKEN.finditer(text)
    first = next(tokens, None)
    if text[:1] == " " or first is None or first.group().lower() != _VERSION:
        shown = first.group() if first is not None else ""
        message = "an SPF record must begin with exactly 'v=spf1' followed by a space"
        if text[:1].isspace() and shown.lower() == _VERSION:
            message = "an SPF record must not begin with a space (receivers discard it)"
        errors.append(SyntaxIssue(0 if first is None else first.start(), shown, message))
        if first is not None and first.start() == 0 and first.group().lower() != _VERSION:
            # The first word is not the version: it may still be a term worth reporting.
            tokens = _TOKEN.finditer(text, first.end())
    seen: dict[str, int] = {}
    for match in tokens:
        parsed = parse_term(match.group(), match.start())
        if isinstance(parsed, SyntaxIssue):
            errors.append(parsed)
            continue
        if isinstance(parsed, Modifier) and parsed.name in ("redirect", "exp"):
            if parsed.name in seen:
                errors.append(
                    SyntaxIssue(
                        parsed.position,
                        parsed.text,
                        f"'{parsed.name}=' may appear only once (first at offset "
                        f"{seen[parsed.name]})",
                    )
                )
                continue
            seen[parsed.name] = parsed.position
        terms.append(parsed)
    return SpfRecord(text, tuple(terms), tuple(errors))


def format_record(terms: Iterable[Term | str]) -> str:
    """`v=spf1` followed by the terms' texts, space-separated."""
    return " ".join([_VERSION, *(t if isinstance(t, str) else t.text for t in terms)])


# --------------------------------------------------------------------------------------
# What the TXT strings themselves show
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GluedTerms:
    """Two TXT strings joined without a space that run two terms together (RFC 7208 3.3)."""

    joined: str
    left: str
    right: str
    position: int
    """Offset of the glued term in the joined record."""
    breaks_syntax: bool
    """The joined term is invalid, so receivers return permerror."""


def _term_ok(token: str, *, first: bool) -> bool:
    if first and token.lower() == _VERSION:
        return True
    return not isinstance(parse_term(token), SyntaxIssue)


def find_glued_terms(strings: Sequence[bytes]) -> list[GluedTerms]:
    """Boundaries between character-strings where two whole terms were glued into one.

    A boundary inside one term (`"include:_spf.goo" "gle.com"`) is a valid split and not
    reported: only where both sides are complete terms on their own.
    """
    found: list[GluedTerms] = []
    if len(strings) < 2:
        return found
    texts = [s.decode("latin-1") for s in strings]  # one char per octet keeps offsets exact
    joined = "".join(texts)
    boundary = 0
    for text in texts[:-1]:
        boundary += len(text)
        if not text or boundary >= len(joined):
            continue
        if joined[boundary - 1] == " " or joined[boundary] == " ":
            continue
        start = joined.rfind(" ", 0, boundary) + 1
        end = joined.find(" ", boundary)
        end = len(joined) if end < 0 else end
        left, right = joined[start:boundary], joined[boundary:end]
        if _term_ok(left, first=start == 0) and _term_ok(right, first=False):
            token = joined[start:end]
            # "v=spf1" glued to a term is no SPF record at all; otherwise ask the parser.
            breaks = start == 0 or isinstance(parse_term(token), SyntaxIssue)
            found.append(GluedTerms(token, left, right, start, breaks))
    return found


def looks_truncated(strings: Sequence[bytes], record: SpfRecord) -> bool:
    """A record that is one string of exactly 255 octets and ends mid-term or without an
    `all`/`redirect`: the look of a DNS panel that cut a longer value at 255."""
    if len(strings) != 1 or len(strings[0]) != TXT_STRING_LIMIT:
        return False
    last_error_at_end = bool(record.errors) and any(
        issue.position + len(issue.term) >= len(record.text) for issue in record.errors
    )
    return last_error_at_end or (record.all is None and record.redirect is None)


def estimate_answer_octets(name: str, lookup: Lookup) -> int:
    """Size of the DNS answer carrying every TXT record at `name`, without EDNS."""
    qname = sum(len(label) + 1 for label in name.rstrip(".").split(".")) + 1
    size = 12 + qname + 4
    for strings in lookup.txt_strings():
        rdata = sum(1 + len(s) for s in strings)
        size += 2 + 10 + rdata  # compressed owner name, type/class/ttl/rdlength, rdata
    return size


# --------------------------------------------------------------------------------------
# The include tree
# --------------------------------------------------------------------------------------


@dataclass(slots=True)
class SpfNode:
    """One record in the include/redirect tree.

    Attributes:
        domain: where the record was looked up.
        kind: "root", "include" or "redirect".
        via: the term that led here, as written (None for the root).
        qualifier: the qualifier of that include ("+" for the root and redirects).
        record: the SPF record text (the first one when several were published).
        lookups: DNS-querying terms of this record alone (the include leading here is
            counted by the parent).
        total: lookups including every descendant.
        void: void look-ups caused by this record's own terms.
        provider: the service behind the domain, from providers.py.
        owner: "domain" (the audited domain or one below it), "provider" (a known
            service) or "third-party".
        error: why the record could not be used, or None.
    """

    domain: str
    kind: str = "root"
    via: str | None = None
    qualifier: str = "+"
    record: str | None = None
    parsed: SpfRecord | None = None
    lookups: int = 0
    total: int = 0
    void: int = 0
    provider: str | None = None
    owner: str = "domain"
    error: str | None = None
    children: list[SpfNode] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    networks: list[IPNetwork] = field(default_factory=list)
    """Networks this record's own pass (+) terms authorise: ip4/ip6 and resolved a/mx."""
    void_terms: list[dict[str, str]] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    """Terms a flat address list cannot express (ptr, exists, macros), as written."""
    target_void: bool = False
    """The look-up of this include/redirect target found nothing (a void look-up)."""
    negative: list[str] = field(default_factory=list)
    """Non-all mechanisms with a -, ~ or ? qualifier, as written."""

    def walk(self) -> Iterable[SpfNode]:
        """This node, then its descendants, depth first in term order."""
        yield self
        for child in self.children:
            yield from child.walk()

    def to_dict(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "kind": self.kind,
            "via": self.via,
            "record": self.record,
            "lookups": self.lookups,
            "total": self.total,
            "void_lookups": self.void,
            "provider": self.provider,
            "owner": self.owner,
            "error": self.error,
            "children": [child.to_dict() for child in self.children],
        }


def include_cost(node: SpfNode) -> int:
    """What an include or redirect costs its parent: the term itself plus everything below.

    The one definition of "cost" the finding texts and the console's tree both use; for
    the root it is simply the policy's total.
    """
    return node.total + (0 if node.kind == "root" else 1)


@dataclass(slots=True)
class _Walk:
    ctx: ResolverContext
    root: str
    nodes: int = 1
    truncated: bool = False


@dataclass(slots=True)
class _Part:
    """What resolving one term found; merged into its node in term order, so the
    findings and void terms come out the same whatever order the answers arrive in."""

    findings: list[Finding] = field(default_factory=list)
    void_terms: list[dict[str, str]] = field(default_factory=list)
    networks: list[IPNetwork] = field(default_factory=list)


def _owner(domain: str, root: str, provider: str | None) -> str:
    if domain == root or domain.endswith("." + root):
        return "domain"
    return "provider" if provider else "third-party"


def _valid_name(name: str) -> bool:
    labels = name.split(".")
    return (
        len(labels) >= 2
        and len(name) <= 253
        and all(0 < len(label) <= 63 for label in labels)
        and all(33 <= ord(ch) <= 126 for ch in name)
    )


def _audit_target(spec: str | None, domain: str) -> tuple[str | None, str | None]:
    """The name a term queries, as far as the audit can know it without a message.

    Returns (name, None) when it is known, (None, None) when it depends on the sender
    or client (macros other than %{d}), (None, reason) when it is not a valid name.
    """
    if spec is None:
        return domain, None
    try:
        parts = parse_macro_string(spec)
    except MacroSyntaxError as exc:
        return None, exc.message
    if uses_letters(parts) - {"d"}:
        return None, None
    name = truncate_domain(expand_parts(parts, MacroEnv(domain=domain))).lower()
    if not _valid_name(name):
        return None, f"{name!r} is not a valid domain name"
    return name, None


def _finding(
    code: str, severity: Status, message: str, fix: str = "", record: str | None = None
) -> Finding:
    return Finding(code, severity, message, fix, record)


def _publish(code: str, severity: Status, message: str, record: str) -> Finding:
    """A finding whose whole fix is the record(s) to publish, zone-file lines."""
    return Finding(code, severity, message, record, record)


def _dns_error(lookup: Lookup, what: str) -> Finding:
    return _finding(
        "spf.dns-error",
        Status.ERROR,
        f"Could not look up {what} ({lookup.describe()}). Receivers that hit this get "
        "temperror and may defer or reject the mail, so SPF could not be fully checked.",
        f"Make sure the nameservers of {lookup.name} answer; then run the check again.",
    )


async def _resolve_addresses(
    walk: _Walk, domain: str, part: _Part, mechanism: Mechanism, target: str
) -> None:
    """Resolve an `a` or `mx` term: void look-ups, errors, and the networks it authorises."""
    ctx = walk.ctx
    if mechanism.name == "mx":
        mx = await ctx.query(target, "MX")
        if mx.failed:
            part.findings.append(_dns_error(mx, f"the MX hosts for {mechanism.text}"))
            return
        if mx.is_void:
            part.void_terms.append({"term": mechanism.text, "domain": domain})
            return
        hosts = mx.mx_hosts()
        if len(hosts) > MX_LIMIT:
            part.findings.append(
                _finding(
                    "spf.mx-too-many",
                    Status.FAIL,
                    f"{mechanism.text!r} in the SPF record of {domain} finds {len(hosts)} "
                    f"MX hosts; receivers give permerror when an mx term returns more than "
                    f"{MX_LIMIT} (RFC 7208 4.6.4), so SPF fails for all mail.",
                    f"Replace {mechanism.text!r} with ip4:/ip6: terms for the hosts that "
                    "really send mail.",
                )
            )
        names = [host for host in hosts[:MX_LIMIT] if host]
    else:
        names = [target]
    lookups = await ctx.gather(
        *(ctx.query(name, rdtype) for name in names for rdtype in ("A", "AAAA"))
    )
    failed = [lookup for lookup in lookups if lookup.failed]
    for lookup in failed[:1]:
        part.findings.append(_dns_error(lookup, f"the addresses for {mechanism.text}"))
    if mechanism.name == "a" and all(lookup.is_void for lookup in lookups):
        part.void_terms.append({"term": mechanism.text, "domain": domain})
    if mechanism.qualifier != "+":
        return
    for lookup in lookups:
        for address in lookup.addresses():
            try:
                ip = ipaddress.ip_address(address)
            except ValueError:
                continue
            length = mechanism.cidr4 if ip.version == 4 else mechanism.cidr6
            length = ip.max_prefixlen if length is None else length
            part.networks.append(ipaddress.ip_network(f"{ip}/{length}", strict=False))


async def _check_exists(
    walk: _Walk, domain: str, part: _Part, mechanism: Mechanism, target: str
) -> None:
    lookup = await walk.ctx.query(target, "A")
    if lookup.failed:
        part.findings.append(_dns_error(lookup, mechanism.text))
    elif lookup.is_void:
        part.void_terms.append({"term": mechanism.text, "domain": domain})


PTR_CANDIDATES = 20
"""Addresses the ptr fix checks the reverse DNS of at most (A and MX hosts of two names)."""


def _under(name: str, domain: str) -> bool:
    return name == domain or name.endswith("." + domain)


async def ptr_matches(ctx: ResolverContext, names: Sequence[str], target: str) -> list[str]:
    """Addresses of `names` (their A/AAAA and MX hosts) that a `ptr:target` term matches.

    A ptr term matches a client whose forward-confirmed reverse name is `target` or
    below it (RFC 7208 5.5). Every host it would match cannot be listed, but the
    domain's own and its MX hosts' addresses can be tried: those whose reverse DNS
    confirms a name under `target` are hosts the ptr term already authorises.

    Returns:
        The matching addresses, sorted (IPv4 first); empty when none can be found.
    """
    unique = list(dict.fromkeys(names))
    found = await ctx.gather(
        *(mx_hosts(ctx, name) for name in unique),
        *(ctx.query(name, rdtype) for name in unique for rdtype in ("A", "AAAA")),
    )
    addresses: list[str] = []
    for result in found:
        if isinstance(result, Lookup):
            addresses.extend(result.addresses())
        else:
            for host in result.hosts:
                addresses.extend(host.addresses)
    candidates: list[IPAddress] = []
    for address in dict.fromkeys(addresses):
        try:
            candidates.append(ipaddress.ip_address(address))
        except ValueError:
            continue
    candidates = candidates[:PTR_CANDIDATES]
    reverse = await ctx.gather(*(reverse_dns(ctx, str(ip)) for ip in candidates))
    matched = [
        ip
        for ip, entry in zip(candidates, reverse, strict=True)
        if any(_under(name, target) for name in entry.confirmed)
    ]
    return [str(ip) for ip in sorted(matched, key=lambda ip: (ip.version, ip))]


async def _ptr_finding(
    walk: _Walk,
    domain: str,
    record: SpfRecord,
    mechanism: Mechanism,
    target: str | None,
    part: _Part,
) -> None:
    """spf.ptr: offer a record that keeps the hosts ptr matches today, or no record at all.

    Dropping ptr outright would make every host it authorises fail SPF overnight; the fix
    replaces it with ip4:/ip6: terms for the hosts it can be shown to match.
    """
    message = (
        f"{mechanism.text!r} in the SPF record of {domain} asks receivers for reverse DNS on "
        "every message: RFC 7208 5.5 says not to use it, it is slow, and some receivers "
        "skip it, so those senders fail SPF."
    )
    matched = await ptr_matches(walk.ctx, [target, domain], target) if target else []
    if not matched:
        where = f"under {target}" if target else "the term names (it depends on the message)"
        part.findings.append(
            _finding(
                "spf.ptr",
                Status.WARN,
                message
                + f" No address of {domain}"
                + (f" or {target}" if target and target != domain else "")
                + f" (A/AAAA or MX hosts) has reverse DNS {where}, so which hosts it "
                "authorises cannot be determined and no record is offered: removing it "
                "blindly could make a real sender fail SPF.",
                f"List each server that sends mail as {domain} with ip4:/ip6: (or a:host) "
                f"terms in place of {mechanism.text!r}, then remove {mechanism.text!r}.",
            )
        )
        return
    prefix = "" if mechanism.qualifier == "+" else mechanism.qualifier
    present = {t.text.lower() for t in record.terms}
    replacement = [
        term
        for ip in matched
        if (term := f"{prefix}ip{6 if ':' in ip else 4}:{ip}").lower() not in present
    ]
    terms: list[Term | str] = []
    for term in record.terms:
        terms.extend(replacement if term is mechanism else [term])
    part.findings.append(
        _publish(
            "spf.ptr",
            Status.WARN,
            message
            + f" The record below replaces it with the addresses found whose reverse DNS is "
            f"under {target} ({', '.join(matched)}), so they keep passing. {mechanism.text!r} "
            f"also matches any other host whose reverse name ends in {target}: add those "
            "that send mail before publishing.",
            txt_record(domain, format_record(terms)),
        )
    )


async def _expand_child(
    walk: _Walk,
    parent: SpfNode,
    term: Term,
    target: str,
    kind: str,
    depth: int,
    ancestors: frozenset[str],
) -> SpfNode:
    provider = provider_for(target, inherited=parent.provider)
    qualifier = term.qualifier if isinstance(term, Mechanism) else "+"
    node = SpfNode(
        domain=target,
        kind=kind,
        via=term.text,
        qualifier=qualifier,
        provider=provider,
        owner=_owner(target, walk.root, provider),
    )
    if target in ancestors:
        node.error = f"loop: {target} is already being evaluated higher up this chain"
        node.findings.append(
            _finding(
                "spf.loop",
                Status.FAIL,
                f"{term.text!r} in the SPF record of {parent.domain} leads back to {target}, "
                "which includes it again: receivers go round until the limit of "
                f"{LOOKUP_LIMIT} look-ups and return permerror, so SPF fails for all mail.",
                f"Remove {term.text!r} from the SPF record of {parent.domain}.",
            )
        )
        return node
    if depth > MAX_TREE_DEPTH or walk.nodes >= MAX_TREE_NODES:
        walk.truncated = True
        node.error = (
            f"not followed: more than {MAX_TREE_DEPTH} nested includes"
            if depth > MAX_TREE_DEPTH
            else f"not followed: the tree has more than {MAX_TREE_NODES} records"
        )
        return node
    walk.nodes += 1
    lookup = await walk.ctx.query(target, "TXT")
    what = "include" if kind == "include" else "redirect"
    if lookup.failed:
        node.error = lookup.describe()
        node.findings.append(_dns_error(lookup, f"the {what} {term.text!r}"))
        return node
    texts = lookup.texts()
    records = [text for text in texts if is_spf_record(text)]
    node.target_void = lookup.is_void
    if not records:
        node.error = "no SPF record" + (" (the name does not exist)" if lookup.is_void else "")
        code = "spf.include-missing" if kind == "include" else "spf.redirect-missing"
        node.findings.append(
            _finding(
                code,
                Status.FAIL,
                f"{term.text!r} in the SPF record of {parent.domain} points at {target}, "
                f"which has no SPF record ({lookup.describe()}): receivers return permerror "
                "(RFC 7208 5.2, 6.1), so SPF fails for all mail.",
                f"Correct or remove {term.text!r} in the SPF record of {parent.domain}.",
            )
        )
        return node
    if len(records) > 1:
        node.record = records[0]
        node.error = f"{len(records)} SPF records"
        node.findings.append(
            _finding(
                "spf.multiple-records",
                Status.FAIL,
                f"{target}, reached through {term.text!r}, publishes {len(records)} SPF "
                "records: receivers return permerror (RFC 7208 3.2), so SPF fails.",
                f"Ask whoever runs {target} to publish exactly one v=spf1 record.",
            )
        )
        return node
    strings = next(
        (s for s, t in zip(lookup.txt_strings(), texts, strict=False) if t == records[0]), ()
    )
    await _walk_record(walk, node, records[0], strings, depth, ancestors | {target})
    return node


async def _walk_record(
    walk: _Walk,
    node: SpfNode,
    text: str,
    strings: Sequence[bytes],
    depth: int,
    ancestors: frozenset[str],
) -> None:
    """Parse `text` for `node`, then resolve its terms and its children concurrently."""
    record = parse_record(text)
    node.record = text
    node.parsed = record
    node.lookups = record.lookups
    glued = {g.position: g for g in find_glued_terms(strings)}
    for glue in glued.values():
        node.findings.append(
            _publish(
                "spf.joined-strings",
                Status.FAIL if glue.breaks_syntax else Status.WARN,
                f"The SPF record of {node.domain} is split into several TXT strings, and "
                f"receivers join them without a space (RFC 7208 3.3): {glue.left!r} and "
                f"{glue.right!r} become {glue.joined!r}"
                + (", a syntax error, so SPF fails." if glue.breaks_syntax else "."),
                txt_record(node.domain, _unglue(text, glue)),
            )
        )
    for issue in record.errors:
        if issue.position in glued:
            continue
        node.findings.append(
            _finding(
                "spf.syntax",
                Status.FAIL,
                f"Syntax error in the SPF record of {node.domain}: {issue.describe()}. "
                "Receivers return permerror for the whole record (RFC 7208 4.6), so SPF "
                "fails for all mail.",
                *_syntax_fix(node.domain, record, issue),
            )
        )
    if looks_truncated(strings, record):
        node.findings.append(
            _finding(
                "spf.truncated",
                Status.WARN,
                f"The SPF record of {node.domain} is one string of exactly "
                f"{TXT_STRING_LIMIT} octets and ends abruptly: it looks cut off by a DNS "
                "panel that does not split long values into several strings.",
                "Publish the full record split into strings of at most 255 octets, e.g. "
                '"v=spf1 ... " "... -all".',
            )
        )
    _record_findings(node, record)

    jobs: list[Any] = []
    parts: list[_Part | None] = []
    for mechanism in record.evaluated:
        if mechanism.name in ("ip4", "ip6"):
            network = mechanism.network()
            if network is not None and mechanism.qualifier == "+":
                node.networks.append(network)
            elif network is not None:
                node.negative.append(mechanism.text)
            continue
        if mechanism.name == "all":
            continue
        if mechanism.qualifier != "+":
            node.negative.append(mechanism.text)
        target, invalid = _audit_target(mechanism.argument, node.domain)
        if invalid is not None:
            node.findings.append(
                _finding(
                    "spf.invalid-target",
                    Status.FAIL,
                    f"{mechanism.text!r} in the SPF record of {node.domain} names "
                    f"an invalid domain ({invalid}).",
                    f"Correct {mechanism.text!r} in the SPF record of {node.domain}.",
                )
            )
            continue
        if target is None or mechanism.name == "ptr":
            if mechanism.qualifier == "+":
                node.kept.append(mechanism.text)
            if mechanism.name == "ptr":
                part = _Part()
                jobs.append(_ptr_finding(walk, node.domain, record, mechanism, target, part))
                parts.append(part)
            continue
        part: _Part | None = _Part()
        if mechanism.name == "include":
            jobs.append(
                _expand_child(walk, node, mechanism, target, "include", depth + 1, ancestors)
            )
            part = None
        elif mechanism.name in ("a", "mx"):
            jobs.append(_resolve_addresses(walk, node.domain, part, mechanism, target))
        else:  # exists
            if mechanism.qualifier == "+":
                node.kept.append(mechanism.text)
            jobs.append(_check_exists(walk, node.domain, part, mechanism, target))
        parts.append(part)
    redirect = record.redirect
    if redirect is not None and record.follows_redirect:
        target, invalid = _audit_target(redirect.value, node.domain)
        if target is not None:
            jobs.append(
                _expand_child(walk, node, redirect, target, "redirect", depth + 1, ancestors)
            )
            parts.append(None)
        elif invalid is None:
            node.kept.append(redirect.text)
    results = await walk.ctx.gather(*jobs)
    for result, part in zip(results, parts, strict=True):
        if isinstance(result, SpfNode):
            node.children.append(result)
            if result.target_void:
                node.void_terms.append({"term": result.via or "", "domain": node.domain})
        elif part is not None:
            node.findings.extend(part.findings)
            node.void_terms.extend(part.void_terms)
            node.networks.extend(part.networks)
    node.void = len(node.void_terms)
    node.total = node.lookups + sum(child.total for child in node.children)


def _unglue(text: str, glue: GluedTerms) -> str:
    """The record with a space between the two glued terms."""
    cut = glue.position + len(glue.left)
    return text[:cut] + " " + text[cut:]


def _syntax_fix(domain: str, record: SpfRecord, issue: SyntaxIssue) -> tuple[str, str | None]:
    """(fix, record to publish or None when no correction is known)."""
    if issue.suggestion is not None:
        text = record.text
        fixed = text[: issue.position] + issue.suggestion + text[issue.position + len(issue.term) :]
        if parse_record(fixed).valid:
            line = txt_record(domain, fixed)
            return line, line
    # No known correction: the record without its invalid terms is at least valid.
    without = format_record(_tokens_without(record.text, {e.position for e in record.errors}))
    if without != _VERSION and parse_record(without).valid:
        line = txt_record(domain, without)
        return line, line
    return f"Correct {issue.term!r} in the SPF record of {domain} (RFC 7208 section 5).", None


def _tokens_without(text: str, positions: set[int]) -> list[str]:
    tokens = [m for m in _TOKEN.finditer(text)]
    return [m.group() for m in tokens[1:] if m.start() not in positions]


def _record_findings(node: SpfNode, record: SpfRecord) -> None:
    """Findings about one record's content that do not need DNS."""
    domain = node.domain
    for modifier in record.modifiers:
        if modifier.name in MECHANISMS:
            node.findings.append(
                _publish(
                    "spf.ignored-modifier",
                    Status.WARN,
                    f"{modifier.text!r} in the SPF record of {domain} is read as an unknown "
                    f"modifier and ignored (RFC 7208 6); it was probably meant as the "
                    f"{modifier.name!r} mechanism.",
                    txt_record(
                        domain,
                        record.text.replace(modifier.text, f"{modifier.name}:{modifier.value}", 1),
                    ),
                )
            )
    all_mechanism = record.all
    if all_mechanism is not None:
        after = [t for t in record.terms if isinstance(t, Mechanism)]
        ignored = after[after.index(all_mechanism) + 1 :]
        if ignored:
            node.findings.append(
                _publish(
                    "spf.after-all",
                    Status.WARN,
                    f"In the SPF record of {domain}, {', '.join(repr(m.text) for m in ignored)} "
                    f"come after {all_mechanism.text!r}: receivers stop at 'all' and never "
                    "look at them.",
                    txt_record(
                        domain,
                        format_record(
                            [t for t in record.terms if t not in ignored and t is not all_mechanism]
                            + [all_mechanism]
                        ),
                    ),
                )
            )
        if record.redirect is not None:
            node.findings.append(
                _publish(
                    "spf.redirect-ignored",
                    Status.WARN,
                    f"The SPF record of {domain} has both {all_mechanism.text!r} and "
                    f"{record.redirect.text!r}: receivers ignore redirect= when the record "
                    "has an 'all' (RFC 7208 6.1).",
                    txt_record(
                        domain, format_record(t for t in record.terms if t is not all_mechanism)
                    ),
                )
            )


# --------------------------------------------------------------------------------------
# Flattening
# --------------------------------------------------------------------------------------


def collapse_networks(networks: Iterable[IPNetwork | str]) -> list[IPNetwork]:
    """Deduplicate and merge networks (IPv4 first, then IPv6), each family sorted."""
    v4: list[ipaddress.IPv4Network] = []
    v6: list[ipaddress.IPv6Network] = []
    for item in networks:
        network = ipaddress.ip_network(item, strict=False) if isinstance(item, str) else item
        if isinstance(network, ipaddress.IPv4Network):
            v4.append(network)
        else:
            v6.append(network)
    return [*ipaddress.collapse_addresses(v4), *ipaddress.collapse_addresses(v6)]


def _network_term(network: IPNetwork) -> str:
    prefix = "ip4" if network.version == 4 else "ip6"
    if network.prefixlen == network.max_prefixlen:
        return f"{prefix}:{network.network_address}"
    return f"{prefix}:{network}"


@dataclass(frozen=True, slots=True)
class FlatRecords:
    """A flattened SPF policy: the domain's record first, then any `_spfN` parts it includes.

    Attributes:
        records: (owner name, record text) pairs to publish.
        lookups: DNS-querying terms the flattened policy costs.
    """

    records: tuple[tuple[str, str], ...]
    lookups: int

    def zone_lines(self) -> list[str]:
        """Each record as a zone-file line, split into strings of at most 255 octets."""
        return [txt_record(owner, text) for owner, text in self.records]


def flatten(
    domain: str,
    networks: Iterable[IPNetwork | str],
    *,
    all_term: str = "~all",
    keep: Sequence[str] = (),
    max_octets: int = UDP_RECORD_OCTETS,
) -> FlatRecords:
    """Rewrite an SPF policy as ip4:/ip6: terms that cost no DNS look-ups.

    Args:
        domain: the domain whose record this becomes.
        networks: the networks the policy authorises (merged and deduplicated here).
        all_term: the closing `all` term to keep, e.g. "-all".
        keep: terms a flat list cannot express (ptr, exists, macros, -ip4:...), kept first
            and verbatim.
        max_octets: longest record text before the networks move to `_spf1.DOMAIN`,
            `_spf2.DOMAIN`, ... (each included: one look-up apiece), to keep every answer
            inside 512 octets (RFC 7208 3.4).

    Returns:
        The records to publish; split into 255-octet strings by `zone_lines()`.
    """
    terms = [_network_term(network) for network in collapse_networks(networks)]
    kept = [term for term in keep if term]
    single = format_record([*kept, *terms, all_term])
    kept_lookups = sum(1 for term in kept if _counts(term))
    if len(single.encode()) <= max_octets:
        return FlatRecords(((domain, single),), kept_lookups)
    chunks: list[list[str]] = [[]]
    budget = max_octets - len(_VERSION) - len(" -all")
    used = 0
    for term in terms:
        cost = len(term) + 1
        if chunks[-1] and used + cost > budget:
            chunks.append([])
            used = 0
        chunks[-1].append(term)
        used += cost
    parts = [
        (f"_spf{index}.{domain}", format_record([*chunk, "-all"]))
        for index, chunk in enumerate(chunks, start=1)
    ]
    top = format_record([*kept, *(f"include:{owner}" for owner, _ in parts), all_term])
    return FlatRecords(((domain, top), *parts), kept_lookups + len(parts))


def _counts(term: str) -> bool:
    parsed = parse_term(term)
    return not isinstance(parsed, SyntaxIssue) and parsed.counts_lookup


def tree_networks(node: SpfNode) -> list[IPNetwork]:
    """Every network that can make this policy pass: own + terms, then + includes and
    the redirect, depth first."""
    found = list(node.networks)
    for child in node.children:
        if child.qualifier == "+" and child.error is None:
            found.extend(tree_networks(child))
    return found


def _effective_all(node: SpfNode) -> Mechanism | None:
    if node.parsed is not None and node.parsed.all is not None:
        return node.parsed.all
    for child in node.children:
        if child.kind == "redirect":
            return _effective_all(child)
    return None


def _self_contained(node: SpfNode) -> bool:
    """Whether a subtree is fully expressed by its networks (nothing kept, nothing broken)."""
    if node.error is not None or node.kept or node.negative:
        return False
    if node.parsed is None or not node.parsed.valid:
        return False
    return all(child.qualifier == "+" and _self_contained(child) for child in node.children)


def flatten_plan(root: SpfNode) -> tuple[list[IPNetwork], list[str]]:
    """What a flattened record holds: the networks, and the terms it must keep verbatim.

    Terms a flat list cannot express stay as written: the root's -/~/? terms (first, so
    they still win), ptr, exists and macro terms, and includes whose subtree has any of
    those or could not be read. Includes that are broken anyway (loop, missing) go.
    """
    networks = list(root.networks)
    keep = list(root.negative) + list(root.kept)
    for child in root.children:
        if child.qualifier != "+":
            continue  # already kept verbatim through root.negative
        if _self_contained(child):
            networks.extend(tree_networks(child))
        elif child.error is None or child.error.startswith("not followed"):
            target = child.via or child.domain
            if child.kind == "redirect":
                target = f"include:{child.domain}"
            keep.append(target)
        elif not child.findings or any(f.severity is Status.ERROR for f in child.findings):
            keep.append(child.via if child.kind == "include" else f"include:{child.domain}")
    return networks, list(dict.fromkeys(keep))


# --------------------------------------------------------------------------------------
# The check
# --------------------------------------------------------------------------------------


def _empty_data(record: str | None = None) -> dict[str, Any]:
    return {
        "record": record,
        "lookups": 0,
        "void_lookups": 0,
        "tree": None,
        "void_terms": [],
        "networks": [],
        "providers": [],
    }


@dataclass(frozen=True, slots=True)
class MergedRecord:
    """One record holding the senders of several, and why it ends the way it does.

    Attributes:
        text: the merged record.
        all_term: the closing `all` chosen ("-all" or "~all").
        reason: why that `all`, in plain words, for the finding.
    """

    text: str
    all_term: str
    reason: str


def merge_records(records: Sequence[str]) -> MergedRecord:
    """Merge several published SPF records into one (RFC 7208 3.2 allows only one).

    Mechanisms are kept in order without duplicates; a redirect= becomes an include: (the
    merged record ends in an `all`, which would make a redirect ignored); the first exp=
    is kept. The closing `all` is chosen to not break mail: -all only when every record
    already ended in -all. Any other ending means at least one record's author did not
    claim a complete list of senders, and -all would have receivers reject mail from the
    hosts it left out, so ~all is kept; +all and ?all are never carried over (+all lets
    every host on the internet pass).
    """
    parsed = [parse_record(text) for text in records]
    terms: list[str] = []
    seen: set[str] = set()
    explanation: str | None = None

    def add(term: str) -> None:
        if term.lower() not in seen:
            seen.add(term.lower())
            terms.append(term)

    for record in parsed:
        for term in record.terms:
            if isinstance(term, Mechanism):
                if term.name != "all":
                    add(term.text)
            elif term.name == "redirect":
                add(f"include:{term.value}")
            elif term.name == "exp":
                if explanation is None:
                    explanation = term.text
            else:
                add(term.text)
    endings = [record.all.text if record.all is not None else None for record in parsed]
    if all(ending is not None and ending.startswith("-") for ending in endings):
        all_term = "-all"
        reason = "every record ended in -all, so the merged record keeps -all"
    else:
        all_term = "~all"
        shown = ", ".join(
            repr(ending) if ending is not None else "no 'all'" for ending in dict.fromkeys(endings)
        )
        reason = (
            f"the records end in {shown}, so the merged record ends in ~all: not every "
            "record claimed a complete list of senders, and -all would have receivers reject "
            "mail from hosts one of them left out"
        )
        if any(ending and ending[0] in "+?" for ending in endings):
            reason += " (+all and ?all are never kept: they let any host pass or say nothing)"
        if "-all" in endings:
            reason += "; move to -all once DMARC reports show every sender passing"
    text = format_record([*terms, all_term, *([explanation] if explanation else [])])
    return MergedRecord(text, all_term, reason)


def _rrtype_finding(domain: str, lookup: Lookup, txt_records: Sequence[str]) -> Finding | None:
    if not lookup.ok:
        return None
    texts = lookup.texts()
    differs = bool(txt_records) and any(text not in txt_records for text in texts)
    return _finding(
        "spf.spf-rrtype",
        Status.WARN,
        f"{domain} publishes an SPF-type (type 99) record. RFC 7208 3.1 retired that type: "
        "receivers read only TXT, so it is dead weight"
        + (" and, since it differs from the TXT record, misleading." if differs else "."),
        "Delete: " + "; ".join(f"{domain}. IN SPF {quote_txt(text)}" for text in texts),
    )


async def check_spf(ctx: ResolverContext, domain: str, options: AuditOptions) -> CheckResult:
    """Audit the SPF policy of `domain`: the record, its include tree, limits and risks.

    Args:
        ctx: how to ask DNS (its cache is shared with the other checks).
        domain: the normalised mail domain.
        options: `ips` are evaluated with check_host() against the policy.

    Returns:
        The `spf` CheckResult; `data` holds record, lookups, void_lookups, tree,
        void_terms, networks and providers (see design.md). Never raises for DNS trouble.
    """
    # The TXT answer is awaited in this task, so the resolver counts the include chain
    # below it as deeper; the obsolete SPF type is asked alongside.
    spf_task = asyncio.ensure_future(ctx.query(domain, "SPF"))
    try:
        txt = await ctx.query(domain, "TXT")
    except BaseException:  # cancelled: do not leave the side question running
        spf_task.cancel()
        raise
    spf_rr = await spf_task
    if txt.failed:
        finding = _finding(
            "spf.dns-error",
            Status.ERROR,
            f"Could not read the TXT records of {domain} ({txt.describe()}): whether it "
            "publishes SPF is unknown, and receivers seeing the same get temperror.",
            f"Check that the nameservers of {domain} answer TXT queries, then retry.",
        )
        return CheckResult.from_findings(
            "spf", f"could not look up SPF: {txt.error}", [finding], _empty_data()
        )
    texts = txt.texts()
    all_strings = txt.txt_strings()
    records = [text for text in texts if is_spf_record(text)]
    rrtype = _rrtype_finding(domain, spf_rr, records)

    if not records:
        return _missing(domain, texts, all_strings, rrtype)
    if len(records) > 1:
        return await _multiple_records(ctx, domain, sorted(records), rrtype, options)

    text = records[0]
    strings = next((s for s, t in zip(all_strings, texts, strict=False) if t == text), ())
    root = SpfNode(domain=domain)
    walk = _Walk(ctx, domain)
    ip_task = _evaluate_ips(ctx, domain, options.ips)
    _, ip_results = await ctx.gather(
        _walk_record(walk, root, text, strings, 0, frozenset({domain})), ip_task
    )
    findings = _collect(root, walk, txt)
    if rrtype is not None:
        findings.append(rrtype)
    findings.extend(_ip_findings(domain, ip_results))

    void_terms = [term for node in root.walk() for term in node.void_terms]
    networks = collapse_networks(tree_networks(root))
    providers = list(dict.fromkeys(n.provider for n in root.walk() if n.provider))
    data = _empty_data(text)
    data.update(
        {
            "lookups": root.total,
            "void_lookups": len(void_terms),
            "tree": root.to_dict(),
            "void_terms": void_terms,
            "networks": [str(network) for network in networks],
            "providers": providers,
            "errors": [issue.to_dict() for issue in root.parsed.errors] if root.parsed else [],
            "all": (a.text if (a := _effective_all(root)) is not None else None),
        }
    )
    if walk.truncated:
        data["truncated"] = True
    if ip_results:
        data["ips"] = {ip: verdict for ip, verdict in ip_results}
    summary = _summary(root, findings, walk)
    return CheckResult.from_findings("spf", summary, findings, data)


async def _multiple_records(
    ctx: ResolverContext,
    domain: str,
    records: Sequence[str],
    rrtype: Finding | None,
    options: AuditOptions,
) -> CheckResult:
    """Several SPF records: propose one merged record, and say what it would cost."""
    merged = merge_records(records)
    # Walk the merged record as if published, so its look-up count is the real one
    # (includes, their nested includes, a and mx terms), not the record's own terms.
    root = SpfNode(domain=domain)
    walk = _Walk(ctx, domain)
    _, ip_results = await ctx.gather(
        _walk_record(walk, root, merged.text, (), 0, frozenset({domain})),
        _evaluate_ips(ctx, domain, options.ips),
    )
    at_least = "at least " if walk.truncated else ""
    fix = txt_record(domain, merged.text)
    message = (
        f"{domain} publishes {len(records)} SPF records; receivers return permerror when "
        "there is more than one (RFC 7208 3.2), so SPF fails for all mail. Publish one "
        f"record holding every sender (below) and delete the others; {merged.reason}. "
        f"The merged record needs {at_least}{root.total} DNS look-up(s)."
    )
    if root.total > LOOKUP_LIMIT or walk.truncated:
        heavy = sorted(
            (c for c in root.children if c.kind == "include"), key=include_cost, reverse=True
        )
        parts = ", ".join(f"{c.via} costs {include_cost(c)}" for c in heavy[:4])
        fix += (
            f"\nWarning: this merged record needs {at_least}{root.total} DNS look-ups, over "
            f"the limit of {LOOKUP_LIMIT} (RFC 7208 4.6.4), so it would still fail SPF with "
            "permerror. Before publishing it, remove the includes you no longer use"
            + (f" (heaviest: {parts})" if parts else "")
            + " or replace them with their ip4:/ip6: addresses."
        )
    data = _empty_data(records[0])
    data["records"] = list(records)
    data["merged_record"] = merged.text
    data["merged_lookups"] = root.total
    findings = [
        _finding("spf.multiple-records", Status.FAIL, message, fix, txt_record(domain, merged.text))
    ]
    if rrtype is not None:
        findings.append(rrtype)
    findings.extend(_ip_findings(domain, ip_results))
    if ip_results:
        data["ips"] = {ip: verdict for ip, verdict in ip_results}
    return CheckResult.from_findings(
        "spf", f"{len(records)} SPF records (permerror)", findings, data
    )


def _missing(
    domain: str,
    texts: Sequence[str],
    all_strings: Sequence[Sequence[bytes]],
    rrtype: Finding | None,
) -> CheckResult:
    near = [text for text in texts if looks_like_spf(text)]
    glued = [
        g
        for strings in all_strings
        for g in find_glued_terms(strings)
        if g.position == 0 and g.left.lower() == _VERSION
    ]
    findings: list[Finding] = []
    if glued:
        glue = glued[0]
        joined = "".join(s.decode("latin-1") for s in all_strings[0])
        for strings in all_strings:
            candidate = b"".join(strings).decode("latin-1")
            if candidate.lower().startswith(glue.joined.lower()):
                joined = candidate
        findings.append(
            _publish(
                "spf.joined-strings",
                Status.FAIL,
                f"The TXT record of {domain} starting {glue.joined[:40]!r} was meant as SPF, "
                f"but its strings are joined without a space (RFC 7208 3.3): {glue.left!r} "
                f"runs into {glue.right!r}, so receivers see no SPF record at all.",
                txt_record(domain, _unglue(joined, glue)),
            )
        )
    elif near:
        shown = near[0] if len(near[0]) <= 60 else near[0][:57] + "..."
        fixed = re.sub(r"^\s*[\"']?\s*v\s*=\s*spf\s*1\S*", _VERSION, near[0], flags=re.I)
        findings.append(
            _publish(
                "spf.missing",
                Status.FAIL,
                f"{domain} has a TXT record that looks like SPF but is not one: {shown!r}. "
                "Receivers take only a record starting with exactly 'v=spf1' and a space "
                "(RFC 7208 4.5), so the domain has no SPF: mail from it cannot pass SPF, and "
                "Gmail, Yahoo and Microsoft reject or junk unauthenticated bulk mail.",
                txt_record(domain, fixed if parse_record(fixed).valid else "v=spf1 mx ~all"),
            )
        )
    else:
        findings.append(
            _publish(
                "spf.missing",
                Status.FAIL,
                f"{domain} publishes no SPF record. Mail from it cannot pass SPF, and Gmail, "
                "Yahoo and Microsoft require SPF (bulk senders: SPF and DKIM) or they reject "
                "or junk the mail. Start from the record below and list every service that "
                "sends as this domain before the ~all.",
                txt_record(domain, "v=spf1 mx ~all"),
            )
        )
    if rrtype is not None:
        findings.append(rrtype)
    data = _empty_data(near[0] if near else None)
    return CheckResult.from_findings("spf", "no SPF record", findings, data)


def _collect(root: SpfNode, walk: _Walk, txt: Lookup) -> list[Finding]:
    findings: list[Finding] = []
    for node in root.walk():
        findings.extend(node.findings)
    record = root.parsed
    assert record is not None
    domain = root.domain
    effective = _effective_all(root)
    if record.valid:
        if effective is not None and effective.qualifier == "+":
            fixed = _replace_all(root, effective, "~all")
            findings.append(
                _publish(
                    "spf.plus-all",
                    Status.FAIL,
                    f"The SPF policy of {domain} ends in {effective.text!r}: every host on the "
                    "internet passes SPF for this domain, so SPF protects nothing and spoofed "
                    "mail passes (and can align for DMARC). Use ~all now, -all once every "
                    "sender is listed.",
                    fixed,
                )
            )
        elif effective is not None and effective.qualifier == "?":
            findings.append(
                _publish(
                    "spf.neutral-all",
                    Status.WARN,
                    f"The SPF policy of {domain} ends in {effective.text!r}: mail from any "
                    "other host is neutral, as if there were no SPF, so receivers get no "
                    "signal against spoofing.",
                    _replace_all(root, effective, "~all"),
                )
            )
        elif effective is None and not any(n.kind == "redirect" for n in root.children):
            findings.append(
                _publish(
                    "spf.no-all",
                    Status.WARN,
                    f"The SPF record of {domain} has no 'all' and no redirect=: hosts it does "
                    "not list get neutral, as if there were no SPF.",
                    txt_record(domain, f"{record.text.rstrip()} ~all"),
                )
            )
        # Includes that pass everyone make the whole policy pass everyone.
        for node in root.walk():
            if node is root or node.parsed is None or node.kind != "include":
                continue
            inner = node.parsed.all
            if inner is not None and inner.qualifier == "+" and _passes_through(root, node):
                findings.append(
                    _finding(
                        "spf.plus-all",
                        Status.FAIL,
                        f"{node.via!r} (reached from {domain}) ends in {inner.text!r}: the "
                        "include passes every host, so every host passes SPF for "
                        f"{domain}.",
                        f"Remove {node.via!r} or ask {node.domain} to end its record with "
                        "-all or ~all.",
                    )
                )
    if root.total > LOOKUP_LIMIT:
        findings.append(_too_many_lookups(root, walk))
    void_terms = [term for node in root.walk() for term in node.void_terms]
    if len(void_terms) > VOID_LOOKUP_LIMIT:
        listed = ", ".join(f"{t['term']!r} in {t['domain']}" for t in void_terms)
        keep = [
            t
            for t in record.terms
            if t.text not in {v["term"] for v in void_terms if v["domain"] == domain}
        ]
        findings.append(
            _publish(
                "spf.too-many-void-lookups",
                Status.FAIL,
                f"The SPF policy of {domain} makes {len(void_terms)} look-ups that find "
                f"nothing (limit {VOID_LOOKUP_LIMIT}, RFC 7208 4.6.4): {listed}. Receivers "
                "return permerror, so SPF fails. Remove the terms whose names do not exist.",
                txt_record(domain, format_record(keep)),
            )
        )
    size = estimate_answer_octets(domain, txt)
    octets = len(record.text.encode("utf-8", "surrogateescape"))
    if size > EDNS_ANSWER_OCTETS:
        findings.append(
            _publish(
                "spf.too-large",
                Status.FAIL,
                f"The TXT answer for {domain} is about {size} octets (SPF record {octets}): "
                f"over {EDNS_ANSWER_OCTETS} only TCP can carry it, and many receivers give "
                "temperror or none instead of evaluating it (RFC 7208 3.4).",
                _udp_fix(root),
            )
        )
    elif size > UDP_ANSWER_OCTETS or octets > UDP_RECORD_OCTETS:
        findings.append(
            _publish(
                "spf.near-udp-limit",
                Status.WARN,
                f"The SPF record of {domain} is {octets} octets and the TXT answer about "
                f"{size}: RFC 7208 3.4 asks to stay under {UDP_ANSWER_OCTETS} octets "
                f"(a record of about {UDP_RECORD_OCTETS}); larger answers need TCP or EDNS, "
                "which some receivers' resolvers fail.",
                _udp_fix(root),
            )
        )
    return findings


def _passes_through(root: SpfNode, target: SpfNode) -> bool:
    """Whether every include on the path from root to `target` is a + include."""

    def search(node: SpfNode) -> bool | None:
        for child in node.children:
            if child is target:
                return child.qualifier == "+"
            found = search(child)
            if found is not None:
                return found and child.qualifier == "+"
        return None

    return bool(search(root))


def _replace_all(root: SpfNode, effective: Mechanism, replacement: str) -> str:
    """The fix for the node that holds `effective` (the root, or a redirect target)."""
    for node in root.walk():
        if node.parsed is not None and node.parsed.all is effective:
            text = node.parsed.text
            start = effective.position
            return txt_record(
                node.domain, text[:start] + replacement + text[start + len(effective.text) :]
            )
    return txt_record(root.domain, f"v=spf1 {replacement}")


def _flattened(root: SpfNode) -> FlatRecords:
    effective = _effective_all(root)
    networks, keep = flatten_plan(root)
    return flatten(
        root.domain,
        networks,
        all_term=effective.text if effective is not None else "~all",
        keep=keep,
    )


def _too_many_lookups(root: SpfNode, walk: _Walk) -> Finding:
    at_least = "at least " if walk.truncated else ""
    heavy = sorted(
        (child for child in root.children if child.kind == "include"),
        key=include_cost,
        reverse=True,
    )
    parts = ", ".join(f"{c.via} costs {include_cost(c)}" for c in heavy[:4])
    flat = _flattened(root)
    if flat.lookups > LOOKUP_LIMIT or walk.truncated:
        advice = (
            " The tree is too deep or too wide to list every address; the records below "
            "flatten what could be read and keep the rest as includes: remove the includes "
            "you no longer use, or ask their owners for a shorter chain."
        )
    else:
        advice = (
            f" The records below list the addresses instead ({flat.lookups} look-up(s)); "
            "providers change their addresses, so refresh them when they do, or drop the "
            "includes you no longer use."
        )
    return _publish(
        "spf.too-many-lookups",
        Status.FAIL,
        f"The SPF policy of {root.domain} needs {at_least}{root.total} DNS look-ups; "
        f"receivers stop at {LOOKUP_LIMIT} (RFC 7208 4.6.4) and return permerror, so SPF "
        "fails for all mail and DMARC cannot pass on SPF."
        + (f" Heaviest: {parts}." if parts else "")
        + advice,
        "\n".join(flat.zone_lines()),
    )


def _udp_fix(root: SpfNode) -> str:
    record = root.parsed
    assert record is not None
    networks = [n for m in record.evaluated if m.qualifier == "+" and (n := m.network())]
    keep = [
        t.text
        for t in record.terms
        if not (
            isinstance(t, Mechanism) and (t.name == "all" or (t.qualifier == "+" and t.network()))
        )
    ]
    all_term = record.all.text if record.all is not None else "~all"
    flat = flatten(root.domain, networks, all_term=all_term, keep=keep)
    return "\n".join(flat.zone_lines())


def _summary(root: SpfNode, findings: Sequence[Finding], walk: _Walk) -> str:
    record = root.parsed
    assert record is not None
    if not record.valid:
        return f"SPF record has {len(record.errors)} syntax error(s) (permerror)"
    at_least = "≥" if walk.truncated else ""
    voids = sum(len(n.void_terms) for n in root.walk())
    effective = _effective_all(root)
    ending = f", ends {effective.text}" if effective is not None else ", no all"
    return f"SPF: {at_least}{root.total}/{LOOKUP_LIMIT} DNS look-ups, {voids} void{ending}"


IP_RESULT_SEVERITY: dict[str, Status] = {
    "fail": Status.FAIL,
    "softfail": Status.FAIL,
    "permerror": Status.FAIL,
    "temperror": Status.ERROR,
    "neutral": Status.WARN,
    "none": Status.WARN,
}
"""SPF result for a sending IP the admin named (`--ip`) -> the finding's severity.

A named sender is one the domain relies on: fail, softfail and permerror mean its mail
does not pass SPF, so it is a failure, not a hint; neutral and none say nothing either
way and stay warnings; temperror is a DNS problem (error)."""


async def _evaluate_ips(
    ctx: ResolverContext, domain: str, ips: Sequence[str]
) -> list[tuple[str, dict[str, Any]]]:
    if not ips:
        return []
    # Imported here: spf_eval builds on this module's parser.
    from console.auth.spf_eval import check_host

    async def one(ip: str) -> tuple[str, dict[str, Any]] | None:
        try:
            verdict = await check_host(ctx, ip, domain, f"postmaster@{domain}", domain)
        except ValueError:
            return None
        return ip, verdict.to_dict()

    results = await ctx.gather(*(one(ip) for ip in ips))
    return [result for result in results if result is not None]


def _ip_findings(domain: str, results: Sequence[tuple[str, dict[str, Any]]]) -> list[Finding]:
    findings: list[Finding] = []
    for ip, verdict in results:
        result = verdict["result"]
        if result == "pass":
            continue
        severity = IP_RESULT_SEVERITY.get(result, Status.WARN)
        consequence = (
            f"{ip} was named as a sender of this domain's mail, so its mail fails SPF: "
            "Gmail requires SPF or DKIM to pass (bulk senders: both), and without an aligned "
            "pass DMARC fails too."
            if severity is Status.FAIL
            else f"If {ip} sends this domain's mail, it does not pass SPF."
        )
        findings.append(
            _finding(
                "spf.ip-not-authorized",
                severity,
                f"Mail from {ip} as {domain} gets SPF {result}"
                + (f" ({verdict['mechanism']})" if verdict.get("mechanism") else "")
                + f": {verdict['explanation']}. {consequence}",
                f"Add ip{6 if ':' in ip else 4}:{ip} (or the include of the service using it) "
                f"to the SPF record of {domain}.",
            )
        )
    return findings
