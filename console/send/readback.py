"""Reading a delivered test message back: how the receiver judged it, and how it travelled.

`analyse_delivery` takes the message as the seed mailbox stores it and reports the
receiver's Authentication-Results (parsed with `authres`: the SPF, DKIM and DMARC
verdicts and their properties), whether the authenticated domains align with the From
domain, the Received chain from the origin to the mailbox with the delay of each hop and
the TLS each hop states, ARC, and the total time to mailbox.

Every value that came from the message is remote text, kept literal as a plain str:
displays pass it through `console.literal.printable`. Malformed or hostile headers never
raise; what cannot be read is left out and named in `problems`.

Readback sources here: the lab's mailbox (`fetch_from_lab`). IMAP and the Gmail API
are separate readers that hand their bytes to `analyse_delivery`.
"""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import email.utils
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import authres

from console.send.compose import TEST_ID_HEADER, address_domain

if TYPE_CHECKING:
    from console.lab.mailbox import LabMailbox
    from console.lab.runner import Lab

MAX_HEADER_CHARS = 16 * 1024
"""A header longer than this is cut before parsing: no regex runs over megabytes."""

MAX_HOPS = 100
"""Received headers read at most (RFC 5321 6.3 suggests loop detection near 100)."""

METHOD_MEANINGS: dict[str, str] = {
    "spf": "Is the sending IP allowed to send for the envelope sender's domain (RFC 7208)?",
    "dkim": "Does a DKIM signature verify, and for which domain (header.d) (RFC 6376)?",
    "dmarc": "Did SPF or DKIM pass for a domain aligned with the From domain (RFC 9989)?",
    "arc": "Did the chain of forwarders' ARC seals verify (RFC 8617)?",
}
"""Each Authentication-Results method in plain words, for the readback view."""

ALIGNMENT_MEANINGS: dict[str, str] = {
    "strict": "the authenticated domain is the From domain itself",
    "relaxed": "one is a subdomain of the other (aligned under relaxed mode)",
    "none": "unrelated names by their labels (the receiver's dmarc= verdict decides)",
}

_TLS_PROTOCOLS = frozenset(
    {
        "ESMTPS",
        "ESMTPSA",
        "UTF8SMTPS",
        "UTF8SMTPSA",
        "LMTPS",
        "LMTPSA",
        "UTF8LMTPS",
        "UTF8LMTPSA",
        "SMTPS",
        "HTTPREST",
        "HTTPS",
    }
)
"""`with` words that state an encrypted hop (RFC 3848, RFC 6531). Gmail writes `with
SMTPS` for its TLS hops and `with HTTPREST` for an API submission: Google's APIs are
served over HTTPS only."""
_CLEAR_PROTOCOLS = frozenset(
    {"SMTP", "ESMTP", "ESMTPA", "LMTP", "LMTPA", "UTF8SMTP", "UTF8SMTPA", "UTF8LMTP", "HTTP"}
)
"""`with` words that state a hop without TLS. Any other word (Microsoft's `mapi`, a
vendor's own) says nothing either way: the hop's TLS is unknown, never "clear"."""
_WORD = r"([^\s;()]+)"
_COMMENT = re.compile(r"(?:^|;)\s*([A-Za-z0-9_-]+)\s*=\s*[A-Za-z]+\s*\(([^()]{0,200})\)")
_TLS_VERSION = re.compile(
    r"(?:version=|using\s+|\()((?:TLS|SSL)v?\d(?:[._]\d)?)(?=[\s:,;)]|$)", re.IGNORECASE
)
"""`version=TLS1_3` (Microsoft, sendmail), `using TLSv1.3` (Postfix), `(TLS1.3)` and
`(TLS1.2:ECDHE-RSA-AES256-GCM-SHA384:256)` (Exim)."""
_TLS_CIPHER = re.compile(
    r"(?:cipher[=\s]+|\btls\s+|\((?:TLS|SSL)v?[\d._]+:)([A-Za-z0-9_-]{4,})", re.IGNORECASE
)
"""`cipher=...` (Microsoft, sendmail), `with cipher ...` (Postfix), `tls TLS_AES_...` (Exim
4.9x) or the second field of Exim's older `(TLS1.2:CIPHER:bits)`."""
_COMMENT_TEXT = re.compile(r"\([^()]*\)")
_GOOGLE_TLS = re.compile(r"\(Google Transport Security\)", re.IGNORECASE)
"""Gmail's way of saying a hop was encrypted, without naming the version."""
_AR_NO_ID = re.compile(r"^\s*[A-Za-z0-9_.-]+\s*=")
"""An Authentication-Results value that starts with `method=`: no authserv-id, as
Microsoft 365 writes it (against RFC 8601)."""


@dataclass(frozen=True, slots=True)
class MethodResult:
    """One `method=result` of an Authentication-Results header.

    Attributes:
        method: spf, dkim, dmarc, arc, ...
        result: pass, fail, none, ...
        reason: the reason= text, if any.
        properties: `ptype.property` -> value, e.g. {"header.d": "good.test"}.
        comment: the parenthesised comment after the result (e.g. `p=REJECT`), if any.
    """

    method: str
    result: str
    reason: str | None = None
    properties: dict[str, str] = field(default_factory=dict)
    comment: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "result": self.result,
            "reason": self.reason,
            "properties": dict(self.properties),
            "comment": self.comment,
        }


@dataclass(frozen=True, slots=True)
class Hop:
    """One Received header, in order from the origin.

    Attributes:
        from_host: the `from` clause's first word (the client's name), if stated.
        by_host: the `by` clause's first word (the receiving server).
        with_protocol: the `with` word (ESMTP, ESMTPS, ESMTPSA, ...).
        tls: True when the hop states TLS, False when it states a clear protocol
            (ESMTP, SMTP), None when it says neither.
        tls_version, tls_cipher: as stated (`version=TLS1_3`, `using TLSv1.3`).
        time: the header's date, or None when it has none or it does not parse.
        delay: seconds since the previous hop (for the first hop, since the message was
            sent, when known), never negative; None when either time is unknown.
        raw: the header's value, unfolded.
        skew: seconds this hop's clock runs behind the previous one's, when its stamp
            is earlier than the previous stamp (clock skew between servers: the delay
            is then 0, not a negative time); None otherwise.
    """

    from_host: str | None
    by_host: str | None
    with_protocol: str | None
    tls: bool | None
    tls_version: str | None
    tls_cipher: str | None
    time: datetime | None
    delay: float | None
    raw: str
    skew: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "from": self.from_host,
            "by": self.by_host,
            "with": self.with_protocol,
            "tls": self.tls,
            "tls_version": self.tls_version,
            "tls_cipher": self.tls_cipher,
            "time": self.time.isoformat() if self.time else None,
            "delay": self.delay,
            "skew": self.skew,
            "raw": self.raw,
        }


@dataclass(frozen=True, slots=True)
class Delivery:
    """How a delivered message was judged and how it got there.

    Attributes:
        folder: INBOX or Spam (or the provider's label) when the reader knows it.
        category: the inbox tab the provider filed it under (Gmail's Promotions,
            Social, Updates, Forums, Primary), when the reader knows it. Not spam.
        authserv_id: who wrote the Authentication-Results read: the one the caller
            trusts (`authserv_ids`), else the topmost.
        results: every method result of that header, in order.
        spf, dkim, dmarc, arc: the first result of each method, or None.
        alignment: {"dkim": ..., "spf": ...}: strict/relaxed/none by name, or None
            when a domain is missing.
        from_domain, return_path, dkim_domain, dkim_selector: as the message states.
        hops: the Received chain from the origin to the mailbox.
        arc_sets: how many ARC sets (ARC-Seal headers) forwarders added.
        arc_authserv_id, arc_results: the first forwarder's ARC-Authentication-Results
            (i=1): the verdicts before forwarding, which a receiver may honour via ARC.
        skew_seconds: the largest clock skew seen between consecutive stamps (a hop
            stamped before the previous one), or None.
        date: the Date header, parsed.
        sent_at: when the message was sent (the caller's clock, else the Date header).
        delivered_at: the last hop's time.
        total_seconds: delivered_at - sent_at, or None when either is unknown.
        test_id, message_id: the X-Mailscope-Test and Message-ID values.
        problems: what could not be read, in plain words.
    """

    folder: str | None = None
    category: str | None = None
    authserv_id: str | None = None
    results: list[MethodResult] = field(default_factory=list)
    spf: MethodResult | None = None
    dkim: MethodResult | None = None
    dmarc: MethodResult | None = None
    arc: MethodResult | None = None
    alignment: dict[str, str | None] = field(default_factory=dict)
    from_domain: str | None = None
    return_path: str | None = None
    dkim_domain: str | None = None
    dkim_selector: str | None = None
    hops: list[Hop] = field(default_factory=list)
    arc_sets: int = 0
    arc_authserv_id: str | None = None
    arc_results: list[MethodResult] = field(default_factory=list)
    skew_seconds: float | None = None
    date: datetime | None = None
    sent_at: datetime | None = None
    delivered_at: datetime | None = None
    total_seconds: float | None = None
    test_id: str | None = None
    message_id: str | None = None
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        def result(value: MethodResult | None) -> dict[str, Any] | None:
            return value.to_dict() if value is not None else None

        def stamp(value: datetime | None) -> str | None:
            return value.isoformat() if value is not None else None

        return {
            "folder": self.folder,
            "category": self.category,
            "authserv_id": self.authserv_id,
            "results": [r.to_dict() for r in self.results],
            "spf": result(self.spf),
            "dkim": result(self.dkim),
            "dmarc": result(self.dmarc),
            "arc": result(self.arc),
            "alignment": dict(self.alignment),
            "from_domain": self.from_domain,
            "return_path": self.return_path,
            "dkim_domain": self.dkim_domain,
            "dkim_selector": self.dkim_selector,
            "hops": [hop.to_dict() for hop in self.hops],
            "arc_sets": self.arc_sets,
            "arc_authserv_id": self.arc_authserv_id,
            "arc_results": [r.to_dict() for r in self.arc_results],
            "skew_seconds": self.skew_seconds,
            "date": stamp(self.date),
            "sent_at": stamp(self.sent_at),
            "delivered_at": stamp(self.delivered_at),
            "total_seconds": self.total_seconds,
            "test_id": self.test_id,
            "message_id": self.message_id,
            "problems": list(self.problems),
        }


def _values(headers: Any, name: str) -> list[str]:
    """The header's values, unfolded and cut to MAX_HEADER_CHARS; [] on any trouble."""
    try:
        raw = headers.get_all(name) or []
    except Exception:
        return []
    values = []
    for value in raw:
        try:
            text = str(value)
        except Exception:
            continue
        values.append(" ".join(text[:MAX_HEADER_CHARS].split()))
    return values


def _first(headers: Any, name: str) -> str | None:
    values = _values(headers, name)
    return values[0] if values else None


def _parse_date(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(text.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is None:  # "-0000": UTC, origin unknown (RFC 5322 3.3)
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _clean(text: str) -> str:
    """Unfold and drop NULs: remote text stays literal otherwise."""
    return " ".join(text.replace("\x00", "").split())


def parse_authentication_results(value: str) -> tuple[str | None, list[MethodResult], str | None]:
    """(authserv-id, method results, problem) for one Authentication-Results value.

    Never raises: a value authres cannot parse gives (None, [], why). A value without
    an authserv-id (Microsoft 365 writes `spf=pass ...` straight away) is read with
    authserv-id None.
    """
    value = _clean(value[:MAX_HEADER_CHARS])
    anonymous = bool(_AR_NO_ID.match(value))
    if anonymous:
        value = f"unknown; {value}"
    try:
        header = authres.AuthenticationResultsHeader.parse(f"Authentication-Results: {value}")
    except Exception as exc:  # authres raises its own errors, and others on odd input
        return None, [], f"Authentication-Results not understood: {type(exc).__name__}"
    comments = _comments(value)
    results: list[MethodResult] = []
    try:
        for item in header.results:
            properties: dict[str, str] = {}
            for prop in getattr(item, "properties", None) or []:
                key = f"{prop.type}.{prop.name}".lower()
                properties.setdefault(key, str(prop.value))
            method = str(item.method).lower()
            results.append(
                MethodResult(
                    method,
                    str(item.result).lower(),
                    str(item.reason) if getattr(item, "reason", None) else None,
                    properties,
                    comments.get(method),
                )
            )
        authserv_id = str(header.authserv_id) if header.authserv_id and not anonymous else None
    except Exception as exc:
        return None, results, f"Authentication-Results not understood: {type(exc).__name__}"
    return authserv_id, results, None


def _comments(value: str) -> dict[str, str]:
    """method -> the comment right after its result (authres drops comments)."""
    found: dict[str, str] = {}
    for match in _COMMENT.finditer(value):
        found.setdefault(match.group(1).lower(), match.group(2).strip())
    return found


def _alignment(from_domain: str | None, other: str | None) -> str | None:
    """strict/relaxed/none by name (no Public Suffix List here, so siblings count as none)."""
    if not from_domain or not other:
        return None
    a, b = from_domain.lower().rstrip("."), other.lower().rstrip(".")
    if a == b:
        return "strict"
    if a.endswith("." + b) or b.endswith("." + a):
        return "relaxed"
    return "none"


def parse_received(value: str) -> Hop:
    """One Received value as a hop (its delay is filled in by `analyse_delivery`).

    TLS is True when the hop states it (an encrypted `with` word, a version or cipher,
    Gmail's "Google Transport Security"), False when it states a clear protocol for a
    hop from another host, None otherwise: a hop without `from` (a server's internal
    hand-off, Gmail's `by 2002:a05:...` lines, qmail's `invoked by uid`) or an unknown
    `with` word says nothing about the network.
    """
    raw = _clean(value[:MAX_HEADER_CHARS])
    clauses, semicolon, date_text = raw.rpartition(";")
    if not semicolon:
        clauses, date_text = raw, ""

    # Clauses outside comments: Postfix's "(using TLSv1.3 with cipher ...)" has a `with`
    # and qmail's "(qmail 1 invoked by uid 89)" a `by` that are not the hop's.
    bare = clauses
    for _ in range(4):  # comments nest (RFC 5322 3.2.2); a few levels is plenty
        bare, count = _COMMENT_TEXT.subn(" ", bare)
        if not count:
            break

    def word(keyword: str) -> str | None:
        match = re.search(rf"(?:^|\s){keyword}\s+{_WORD}", bare, re.IGNORECASE)
        return match.group(1) if match else None

    from_host = word("from")
    with_protocol = word("with")
    tls: bool | None = None
    if with_protocol is not None:
        upper = with_protocol.upper()
        if upper in _TLS_PROTOCOLS:
            tls = True
        elif upper in _CLEAR_PROTOCOLS and from_host is not None:
            tls = False
    version_match = _TLS_VERSION.search(clauses)
    cipher_match = _TLS_CIPHER.search(clauses)
    if version_match or cipher_match or _GOOGLE_TLS.search(clauses):
        tls = True
    return Hop(
        from_host=from_host,
        by_host=word("by"),
        with_protocol=with_protocol,
        tls=tls,
        tls_version=version_match.group(1) if version_match else None,
        tls_cipher=cipher_match.group(1) if cipher_match else None,
        time=_parse_date(date_text),
        delay=None,
        raw=raw,
    )


def _select_results(
    values: list[str], trusted: Sequence[str]
) -> tuple[str | None, list[MethodResult], list[str]]:
    """(authserv-id, results, problems) of the Authentication-Results to believe.

    Anyone upstream can write an Authentication-Results header (RFC 8601 section 5: a
    receiver should remove those claiming its own id, but not every one does). With
    `trusted` ids, only a header from one of them counts; without, the topmost (the
    receiving mailbox's own, when it stamps one) is read, and others are named.
    """
    problems: list[str] = []
    parsed = [parse_authentication_results(value) for value in values]
    wanted = {name.lower().rstrip(".") for name in trusted if name}
    if wanted:
        for authserv_id, results, problem in parsed:
            if authserv_id is not None and authserv_id.lower().rstrip(".") in wanted:
                if problem:
                    problems.append(problem)
                return authserv_id, results, problems
        ids = sorted({a or "(no id)" for a, _, _ in parsed})
        problems.append(
            f"no Authentication-Results from {', '.join(sorted(wanted))}"
            + (f" (only from {', '.join(ids)}, not trusted)" if ids else "")
        )
        return None, [], problems
    authserv_id, results, problem = parsed[0]
    if problem:
        problems.append(problem)
    others = sorted({a for a, _, _ in parsed[1:] if a and a != authserv_id})
    if others:
        problems.append(
            f"Authentication-Results from {', '.join(others)} also present: read the topmost "
            f"({authserv_id or 'no id'}); name the receiver's authserv-id to trust only it"
        )
    return authserv_id, results, problems


def _arc_first(values: list[str]) -> tuple[str | None, list[MethodResult]]:
    """The i=1 ARC-Authentication-Results: the first forwarder's verdicts."""
    best: tuple[int, str] | None = None
    for value in values:
        instance, semicolon, rest = value.partition(";")
        match = re.fullmatch(r"\s*i\s*=\s*(\d{1,2})\s*", instance)
        if not (semicolon and match):
            continue
        number = int(match.group(1))
        if best is None or number < best[0]:
            best = (number, rest)
    if best is None:
        return None, []
    authserv_id, results, _ = parse_authentication_results(best[1])
    return authserv_id, results


def analyse_delivery(
    message_bytes: bytes,
    *,
    sent_at: datetime | None = None,
    folder: str | None = None,
    category: str | None = None,
    authserv_ids: Sequence[str] = (),
) -> Delivery:
    """How the receiver judged a delivered message, and how it travelled. Never raises.

    Args:
        message_bytes: the message as the mailbox stores it (receiver headers on top).
        sent_at: when it was sent (aware datetime); else the Date header is used.
        folder: where the reader found it (INBOX, Spam, a Gmail label), when known.
        category: the inbox tab (Gmail's Promotions, ...), when the reader knows it.
        authserv_ids: the receiver's authserv-ids (`mx.google.com`): when given, only
            an Authentication-Results header from one of them is believed.

    Returns:
        The Delivery; unreadable parts are left empty and named in `problems`.
    """
    problems: list[str] = []
    try:
        headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(
            bytes(message_bytes)
        )
    except Exception as exc:
        return Delivery(
            folder=folder,
            category=category,
            problems=[f"message not readable: {type(exc).__name__}"],
        )

    authserv_id: str | None = None
    results: list[MethodResult] = []
    values = _values(headers, "Authentication-Results")[:MAX_HOPS]
    if not values:
        problems.append("no Authentication-Results header")
    else:
        authserv_id, results, found = _select_results(values, authserv_ids)
        problems.extend(found)

    def first(method: str) -> MethodResult | None:
        return next((r for r in results if r.method == method), None)

    spf, dkim, dmarc, arc = first("spf"), first("dkim"), first("dmarc"), first("arc")
    from_domain = address_domain(_first(headers, "From") or "")
    if dmarc is not None and "header.from" in dmarc.properties:
        from_domain = dmarc.properties["header.from"].lower() or from_domain
    signature = _dkim_tags(_first(headers, "DKIM-Signature"))
    identity = dkim.properties.get("header.i", "") if dkim else ""
    dkim_domain = (
        (dkim.properties.get("header.d") if dkim else None)
        or (identity.rpartition("@")[2].lower() or None)  # Gmail states header.i=@domain
        or signature.get("d")
    )
    dkim_selector = (dkim.properties.get("header.s") if dkim else None) or signature.get("s")
    mailfrom = spf.properties.get("smtp.mailfrom") if spf else None
    return_path = _first(headers, "Return-Path")
    spf_domain = address_domain(mailfrom if mailfrom and "@" in mailfrom else f"x@{mailfrom}")
    if spf_domain is None and return_path:
        spf_domain = address_domain(return_path)
    alignment = {
        "dkim": _alignment(from_domain, dkim_domain) if dkim and dkim.result == "pass" else None,
        "spf": _alignment(from_domain, spf_domain) if spf and spf.result == "pass" else None,
    }

    date = _parse_date(_first(headers, "Date"))
    origin = sent_at if sent_at is not None else date
    if origin is not None:
        # Received and Date times are whole seconds: a sub-second send time would make a
        # hop in the same second look as if it happened before the send.
        origin = origin.replace(microsecond=0)
    hops: list[Hop] = []
    received = _values(headers, "Received")[:MAX_HOPS]
    previous = origin
    skews: list[float] = []
    for value in reversed(received):  # headers are prepended: the origin's is last
        hop = parse_received(value)
        delay = skew = None
        if hop.time is not None and previous is not None:
            delay = (hop.time - previous).total_seconds()
            if delay < 0:  # stamped before the previous hop: clocks disagree
                delay, skew = 0.0, -delay
                skews.append(skew)
        hops.append(replace(hop, delay=delay, skew=skew))
        previous = hop.time  # an unreadable time leaves the next hop's delay unknown
    if not hops:
        problems.append("no Received header")
    delivered_at = next((hop.time for hop in reversed(hops) if hop.time is not None), None)
    total = None
    if delivered_at is not None and origin is not None:
        total = (delivered_at - origin).total_seconds()
        if total < 0:
            skews.append(-total)
            total = 0.0
    if skews:
        problems.append(
            f"clock skew: a server stamped {max(skews):g} s earlier than the step before it "
            "(its clock is behind); those delays are shown as 0"
        )
    arc_authserv_id, arc_results = _arc_first(
        _values(headers, "ARC-Authentication-Results")[:MAX_HOPS]
    )

    return Delivery(
        folder=folder,
        category=category,
        authserv_id=authserv_id,
        results=results,
        spf=spf,
        dkim=dkim,
        dmarc=dmarc,
        arc=arc,
        alignment=alignment,
        from_domain=from_domain,
        return_path=return_path,
        dkim_domain=dkim_domain,
        dkim_selector=dkim_selector,
        hops=hops,
        arc_sets=len(_values(headers, "ARC-Seal")),
        arc_authserv_id=arc_authserv_id,
        arc_results=arc_results,
        skew_seconds=max(skews) if skews else None,
        date=date,
        sent_at=origin,
        delivered_at=delivered_at,
        total_seconds=total,
        test_id=_first(headers, TEST_ID_HEADER),
        message_id=_first(headers, "Message-ID"),
        problems=problems,
    )


def _dkim_tags(value: str | None) -> dict[str, str]:
    tags: dict[str, str] = {}
    for part in "".join((value or "").split()).split(";"):
        name, sep, tag_value = part.partition("=")
        if sep and name and name not in tags:
            tags[name] = tag_value
    return tags


# -- the lab's mailbox -------------------------------------------------------------------


def _mailbox(lab_or_mailbox: Lab | LabMailbox) -> LabMailbox | None:
    smtp = getattr(lab_or_mailbox, "smtp", None)
    if smtp is not None:
        return smtp.mx_handler.mailbox
    if hasattr(lab_or_mailbox, "find"):
        return lab_or_mailbox  # type: ignore[return-value]
    return None


async def fetch_from_lab(
    lab_or_mailbox: Lab | LabMailbox, recipient: str, test_id: str, *, wait: float = 0.0
) -> bytes | None:
    """The stored copy of test `test_id` for `recipient` in the lab's mailbox, or None.

    Args:
        lab_or_mailbox: a running Lab, or its LabMailbox.
        recipient: the RCPT TO address.
        test_id: the X-Mailscope-Test value (`TestMessage.test_id`).
        wait: seconds to keep looking (the lab files before its 250 reply, so 0 suffices
            for a direct send; a relayed one may need a moment).
    """
    stored = await _find(lab_or_mailbox, recipient, test_id, wait)
    return stored.data if stored is not None else None


async def fetch_delivery_from_lab(
    lab_or_mailbox: Lab | LabMailbox,
    recipient: str,
    test_id: str,
    *,
    sent_at: datetime | None = None,
    wait: float = 0.0,
) -> Delivery | None:
    """`fetch_from_lab`, analysed, with the folder the lab filed it in."""
    stored = await _find(lab_or_mailbox, recipient, test_id, wait)
    if stored is None:
        return None
    return analyse_delivery(stored.data, sent_at=sent_at, folder=stored.folder)


async def _find(lab_or_mailbox: Lab | LabMailbox, recipient: str, test_id: str, wait: float) -> Any:
    mailbox = _mailbox(lab_or_mailbox)
    if mailbox is None:
        return None
    deadline = time.monotonic() + max(0.0, wait)
    while True:
        stored = mailbox.find(recipient, test_id)
        if stored is not None or time.monotonic() >= deadline:
            return stored
        await asyncio.sleep(0.05)
