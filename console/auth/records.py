"""Helpers every check shares: domain names, tag lists, and fixes as records to publish."""

from __future__ import annotations

import ipaddress
import re

import dns.exception
import dns.name

TXT_STRING_LIMIT = 255
"""Octets in one TXT character-string (RFC 1035 3.3)."""


class InvalidDomain(ValueError):
    """A name that cannot be a mail domain; the message says why, in one line."""


def normalize_domain(text: str) -> str:
    """Lower-case, IDNA-encoded, without the final dot; raises InvalidDomain.

    >>> normalize_domain("Example.COM.")
    'example.com'
    """
    stripped = text.strip()
    candidate = stripped[:-1] if stripped.endswith(".") else stripped
    if not candidate:
        raise InvalidDomain("empty domain name")
    if any(ch.isspace() or not ch.isprintable() for ch in candidate) or any(
        mark in candidate for mark in "/@*"
    ):
        raise InvalidDomain(f"{candidate!r} is not a domain name")
    if ".." in stripped or candidate.startswith("."):
        raise InvalidDomain(f"{candidate!r} has an empty label")
    try:
        ipaddress.ip_address(candidate.strip("[]"))
    except ValueError:
        pass
    else:
        raise InvalidDomain(f"{candidate!r} is an IP address; give the mail domain instead")
    try:
        ascii_name = (
            candidate.encode("idna").decode("ascii") if not candidate.isascii() else candidate
        )
        name = dns.name.from_text(ascii_name)
    except (UnicodeError, dns.exception.DNSException) as exc:
        raise InvalidDomain(f"{candidate!r} is not a valid domain name: {exc}") from None
    if len(name.labels) < 3:  # at least one label plus a TLD plus the root
        raise InvalidDomain(f"{candidate!r} is a top-level domain, not a mail domain")
    for label in name.labels[:-1]:
        if not re.fullmatch(rb"[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?", label):
            shown = label.decode(errors="replace")
            raise InvalidDomain(f"{candidate!r}: label {shown!r} is not valid in a host name")
    return name.to_text(omit_final_dot=True).lower()


def split_txt(value: str, limit: int = TXT_STRING_LIMIT) -> list[str]:
    """Split a TXT value into character-strings of at most `limit` octets.

    Receivers concatenate them without spaces (RFC 7208 3.3, RFC 6376 3.6.2.2), so
    the split may fall anywhere; splitting on octets keeps multibyte text intact.
    """
    data = value.encode("utf-8")
    if len(data) <= limit:
        return [value]
    parts: list[str] = []
    start = 0
    while start < len(data):
        end = min(start + limit, len(data))
        while end < len(data) and (data[end] & 0xC0) == 0x80:
            end -= 1  # never cut inside a UTF-8 sequence
        parts.append(data[start:end].decode("utf-8"))
        start = end
    return parts


# Escaped in zone-file strings: the quote and backslash (RFC 1035 5.1), and what
# console.literal.printable escapes (controls, bidi overrides), so a hostile published
# value can neither break the line nor smuggle a control character onto the clipboard.
_ZONE_UNSAFE = re.compile(r'["\\\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]')


def _zone_escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in '"\\':
        return "\\" + char
    return "".join(f"\\{octet:03d}" for octet in char.encode("utf-8"))


def quote_txt(value: str) -> str:
    """The value as zone-file character-strings: `"part one" "part two"`.

    Each string holds at most 255 octets of the value (split before escaping, so the
    limit is on what DNS carries); `"` and `\\` are backslash-escaped and control
    characters written as `\\DDD`, which zone-file parsers turn back into the octets.
    """
    return " ".join('"' + _ZONE_UNSAFE.sub(_zone_escape, part) + '"' for part in split_txt(value))


def txt_record(owner: str, value: str, ttl: int = 3600) -> str:
    """A complete zone-file line to publish, e.g. for a finding's fix and record.

    `owner. TTL IN TXT "..."`: the form every `Finding.record` uses (see console.model).
    """
    return f"{owner.rstrip('.')}. {ttl} IN TXT {quote_txt(value)}"


def parse_tags(text: str) -> list[tuple[str, str]]:
    """`tag=value` pairs separated by `;` (DMARC, DKIM, MTA-STS TXT, BIMI, TLS-RPT).

    Whitespace around tags and values is dropped; an empty trailing part is allowed.
    A part without `=` becomes (part, "") so callers can report it precisely.
    """
    pairs: list[tuple[str, str]] = []
    for part in text.split(";"):
        item = part.strip()
        if not item:
            continue
        tag, sep, value = item.partition("=")
        pairs.append((tag.strip(), value.strip() if sep else ""))
    return pairs
