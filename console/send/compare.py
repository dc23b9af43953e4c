"""Two copies of the same test message, side by side: what differs between the paths.

The admin's question is "does the provider's API land better than SMTP?". After a send
along both paths and a readback of both copies, `compare_deliveries` lines the copies up
aspect by aspect (where each landed, the envelope sender, who signed and with which
selector, the SPF, DKIM, DMARC and ARC verdicts and their alignment, the TLS of each hop,
the time to mailbox) and says, for each aspect that differs, what the difference means
for delivery. A missing copy is an aspect of its own: it never landed, or readback
could not find it.

Every value is remote text from the delivered headers; displays pass it through
`console.literal.printable`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from console.send.readback import Delivery, Hop, MethodResult

_GOOD_RESULTS = {"pass"}
_FOLDER_RANK = {"inbox": 0, "spam": 1, "junk": 1}
"""Lower is better; any other folder (Trash, archived, unknown) ranks after spam."""
_ALIGNED = {"strict", "relaxed"}


@dataclass(frozen=True, slots=True)
class Aspect:
    """One row of the comparison.

    Attributes:
        key: a stable id (`folder`, `dkim.d`, ...), for JSON and tests.
        label: the row's name as shown.
        values: one display value per path, in the order of the paths ("" when unknown).
        same: the copies that were found agree (an unknown value counts as different
            when another copy knows it; a missing copy is the `copy` row's business).
        better: the index of the path that did better on this aspect, when one did.
        note: what the difference means, when there is one.
    """

    key: str
    label: str
    values: tuple[str, ...]
    same: bool
    better: int | None = None
    note: str | None = None

    def to_dict(self, paths: Sequence[str]) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "values": dict(zip(paths, self.values, strict=True)),
            "same": self.same,
            "better": paths[self.better] if self.better is not None else None,
            "note": self.note,
        }


@dataclass(frozen=True, slots=True)
class Comparison:
    """The aspects of two (or more) copies, and the verdict in one line."""

    paths: tuple[str, ...]
    aspects: list[Aspect] = field(default_factory=list)
    verdict: str = ""

    @property
    def differences(self) -> list[Aspect]:
        return [aspect for aspect in self.aspects if not aspect.same]

    def to_dict(self) -> dict[str, Any]:
        return {
            "paths": list(self.paths),
            "verdict": self.verdict,
            "aspects": [aspect.to_dict(self.paths) for aspect in self.aspects],
        }


def _result(value: MethodResult | None) -> str:
    return value.result if value is not None else ""


def _folder(delivery: Delivery) -> str:
    folder = delivery.folder or ""
    if folder and delivery.category and delivery.category != "Primary":
        return f"{folder} ({delivery.category})"  # a tab such as Promotions: still the inbox
    return folder


def _folder_rank(delivery: Delivery) -> int:
    return _FOLDER_RANK.get((delivery.folder or "").lower(), 2)


def _dkim(delivery: Delivery) -> str:
    if not delivery.dkim_domain:
        return ""
    return f"d={delivery.dkim_domain} s={delivery.dkim_selector or '?'}"


def _mailfrom(delivery: Delivery) -> str:
    return (delivery.return_path or "").strip().strip("<>")


def _alignment(kind: str) -> Callable[[Delivery], str]:
    def read(delivery: Delivery) -> str:
        return delivery.alignment.get(kind) or ""

    return read


def _tls(delivery: Delivery) -> str:
    if not delivery.hops:
        return ""
    # TLS or not per hop; the versions are in the hop list, and a TLS 1.2 hop beside a
    # TLS 1.3 one is no difference a receiver acts on.
    marks = []
    for hop in delivery.hops:
        if hop.tls is True:
            marks.append("TLS")
        elif hop.tls is False:
            marks.append("clear")
        else:
            marks.append("?")
    return " > ".join(marks)


def inbound_hop(delivery: Delivery) -> Hop | None:
    """The hop into the receiver: the newest stamped by its authserv-id's host, else the
    newest from another host. Its TLS is what the receiver shows (Gmail's padlock)."""
    judge = (delivery.authserv_id or "").lower().rstrip(".")
    for hop in reversed(delivery.hops):
        if judge and (hop.by_host or "").lower().rstrip(".") == judge:
            return hop
    return next((hop for hop in reversed(delivery.hops) if hop.from_host), None)


def _hops(delivery: Delivery) -> str:
    return str(len(delivery.hops)) if delivery.hops else ""


def _arc(delivery: Delivery) -> str:
    if delivery.arc is None and not delivery.arc_sets:
        return "none"
    sets = f"{delivery.arc_sets} set{'s' if delivery.arc_sets != 1 else ''}"
    return f"{_result(delivery.arc) or 'not evaluated'} ({sets})"


def _total(delivery: Delivery) -> str:
    if delivery.total_seconds is None:
        return ""
    return f"{delivery.total_seconds:.1f} s"


def _domain(address: str) -> str:
    return address.rpartition("@")[2].lower().rstrip(".")


# -- which copy did better: over the copies found (None entries are missing copies) ---------

Copies = Sequence["Delivery | None"]


def _only(flags: Sequence[bool | None]) -> int | None:
    """The index of the one True among the copies, when exactly one is True."""
    good = [index for index, flag in enumerate(flags) if flag]
    return good[0] if len(good) == 1 else None


def _auth_better(read: Callable[[Delivery], str]) -> Callable[[Copies], int | None]:
    def better(copies: Copies) -> int | None:
        return _only([d is not None and read(d) in _GOOD_RESULTS for d in copies])

    return better


def _folder_better(copies: Copies) -> int | None:
    ranks = [_folder_rank(d) if d is not None else None for d in copies]
    known = [rank for rank in ranks if rank is not None]
    if len(known) < 2:
        return None
    best = min(known)
    return ranks.index(best) if known.count(best) == 1 else None


def _tls_better(copies: Copies) -> int | None:
    """Only the hop into the receiver counts: one path stated TLS there, the other none."""
    states = [
        (hop.tls if (hop := inbound_hop(d)) is not None else None) if d is not None else None
        for d in copies
    ]
    if states.count(True) == 1 and False in states:
        return states.index(True)
    return None


def _time_better(copies: Copies) -> int | None:
    times = [d.total_seconds if d is not None else None for d in copies]
    known = [t for t in times if t is not None]
    if len(known) < 2:
        return None
    fastest = min(known)
    # Received times have one-second resolution: a gap under two seconds is rounding.
    if sorted(known)[1] - fastest < 2.0:
        return None
    return times.index(fastest)


# -- what a difference means: worded from the copies themselves -----------------------------


def _present(copies: Copies) -> list[Delivery]:
    return [d for d in copies if d is not None]


def _folder_note(copies: Copies) -> str:
    found = _present(copies)
    if len({_folder_rank(d) for d in found}) == 1 and found and _folder_rank(found[0]) == 0:
        return (
            "both reached the inbox, under different tabs: a category such as Promotions is "
            "not spam (Gmail sorts by content and the sender's history)"
        )
    if any(_folder_rank(d) == 1 for d in found):
        return "one copy was filed as spam: compare the verdicts below to see why"
    return "the copies were filed in different folders"


def _return_path_note(copies: Copies) -> str:
    domains = {_domain(_mailfrom(d)) for d in _present(copies)}
    if len(domains) == 1:
        return (
            "same envelope domain, different addresses (e.g. per-message bounce "
            "addresses): no difference to SPF"
        )
    return "the envelope senders differ: SPF (and its alignment) is checked for a different domain"


def _dkim_d_note(copies: Copies) -> str:
    found = _present(copies)
    domains = {(d.dkim_domain or "").lower() for d in found}
    if "" in domains:
        return (
            "only one copy carries a DKIM signature the receiver read: DMARC then rests "
            "on SPF alone"
        )
    if len(domains) == 1:
        return "the same domain signed with different selectors (keys): no difference to DMARC"
    return "signed by different domains: DMARC needs the signing domain to align with From"


def _alignment_note(kind: str, what: str) -> Callable[[Copies], str]:
    def note(copies: Copies) -> str:
        values = {d.alignment.get(kind) or "" for d in _present(copies)}
        if values <= _ALIGNED:
            return (
                f"both {what}s align with From (strict vs relaxed): no difference under "
                f"relaxed alignment, the default; an "
                f"a{kind}=s policy needs strict"
            )
        return f"only one path has a {kind.upper()} pass whose {what} aligns with From"

    return note


def _arc_note(copies: Copies) -> str:
    sets = {d.arc_sets for d in _present(copies)}
    if len(sets) > 1:
        return "a forwarder sealed one copy: the receiver may trust its earlier verdicts via ARC"
    return "the receiver judged the copies' ARC chains differently"


def _tls_note(copies: Copies) -> str:
    if _tls_better(copies) is not None:
        return (
            "the hop into the receiver used TLS on one path only: Gmail shows a red open "
            "padlock on mail it received without TLS"
        )
    return (
        "the paths differ in TLS on hops before the receiver (submission, internal relays, "
        "or hops that do not say): the receiver's padlock reflects only the hop into it"
    )


def _fixed(text: str) -> Callable[[Copies], str]:
    return lambda _copies: text


@dataclass(frozen=True, slots=True)
class _Row:
    key: str
    label: str
    read: Callable[[Delivery], str]
    better: Callable[[Copies], int | None] | None
    note: Callable[[Copies], str]


_ROWS: tuple[_Row, ...] = (
    _Row("folder", "Landed in", _folder, _folder_better, _folder_note),
    _Row("return-path", "Return-Path", _mailfrom, None, _return_path_note),
    _Row("dkim.d", "DKIM d= / s=", _dkim, None, _dkim_d_note),
    _Row(
        "spf",
        "SPF",
        lambda d: _result(d.spf),
        _auth_better(lambda d: _result(d.spf)),
        _fixed(
            "on the path without a pass, the sending IP is not listed by its "
            "envelope domain's SPF record (or the domain has none, or the lookup failed)"
        ),
    ),
    _Row(
        "dkim",
        "DKIM",
        lambda d: _result(d.dkim),
        _auth_better(lambda d: _result(d.dkim)),
        _fixed("one path does not sign, or signs with a key that does not verify"),
    ),
    _Row(
        "dmarc",
        "DMARC",
        lambda d: _result(d.dmarc),
        _auth_better(lambda d: _result(d.dmarc)),
        _fixed(
            "the path without a pass has no aligned SPF or DKIM pass; a "
            "receiver applies the domain's policy to it"
        ),
    ),
    _Row(
        "alignment.dkim",
        "DKIM alignment",
        _alignment("dkim"),
        None,
        _alignment_note("dkim", "signing domain"),
    ),
    _Row(
        "alignment.spf",
        "SPF alignment",
        _alignment("spf"),
        None,
        _alignment_note("spf", "envelope domain"),
    ),
    _Row("arc", "ARC", _arc, None, _arc_note),
    _Row("tls", "TLS per hop", _tls, _tls_better, _tls_note),
    _Row(
        "hops",
        "Hops",
        _hops,
        None,
        _fixed("the paths relay through a different number of servers"),
    ),
    _Row(
        "authserv",
        "Judged by",
        lambda d: d.authserv_id or "",
        None,
        _fixed("different receivers judged the copies: their verdicts are not like for like"),
    ),
)

_DECISIVE: tuple[tuple[str, ...], ...] = (("folder",), ("dmarc",), ("dkim", "spf"), ("tls",))
"""What decides the verdict, most important first: where the copy landed outweighs
every verdict, DMARC (what receivers act on) outweighs SPF and DKIM, and those outweigh
the TLS of the hop in. Time to mailbox is shown, never decisive."""


def compare_deliveries(paths: Sequence[str], deliveries: Sequence[Delivery | None]) -> Comparison:
    """Line up copies of one message read back from each path.

    Args:
        paths: the path names (`smtp`, `gmail-api`), one per delivery.
        deliveries: each path's Delivery, or None when its copy was not found.

    Returns:
        The Comparison: one Aspect per row (the missing copy first when there is one),
        and a verdict naming the path that landed better, or that they landed alike.
        Rows compare only the copies found: a missing copy is not counted as failing
        SPF, DKIM or DMARC, and is never called better or worse than a copy in spam.
    """
    names = tuple(paths)
    if len(names) != len(deliveries):
        raise ValueError("one delivery per path")
    aspects: list[Aspect] = []
    found = [delivery is not None for delivery in deliveries]
    if not all(found):
        values = tuple("found" if ok else "not found" for ok in found)
        aspects.append(
            Aspect(
                "copy",
                "Copy",
                values,
                same=False,
                better=None,
                note="a copy was not found: it has not arrived yet (still queued), was "
                "dropped, or readback failed or looked in the wrong mailbox; that says "
                "nothing about how the receiver would judge it",
            )
        )
    for row in _ROWS:
        values = tuple(row.read(d) if d is not None else "" for d in deliveries)
        known = {value for d, value in zip(deliveries, values, strict=True) if d is not None}
        same = len(known) <= 1
        better = row.better(deliveries) if (row.better and not same) else None
        note = None if same else row.note(deliveries)
        aspects.append(Aspect(row.key, row.label, values, same, better, note))
    time_values = tuple(_total(d) if d is not None else "" for d in deliveries)
    faster = _time_better(deliveries)
    aspects.append(
        Aspect(
            "time",
            "Time to mailbox",
            time_values,
            same=faster is None,
            better=faster,
            note=None if faster is None else "one path was at least two seconds faster",
        )
    )
    return Comparison(names, aspects, _verdict(names, deliveries, aspects))


def _verdict(
    paths: Sequence[str], deliveries: Sequence[Delivery | None], aspects: Sequence[Aspect]
) -> str:
    missing = [path for path, d in zip(paths, deliveries, strict=True) if d is None]
    if len(missing) == len(paths):
        return "no copy was found: not arrived yet, dropped, or readback failed"
    if missing:
        shown = [
            f"{path}'s in {_folder(d) or 'an unknown folder'}"
            for path, d in zip(paths, deliveries, strict=True)
            if d is not None
        ]
        return (
            f"only {', '.join(shown)} was found; {' and '.join(missing)}: no copy found "
            "(not arrived yet, dropped, or readback failed), so no comparison"
        )
    by_key = {aspect.key: aspect for aspect in aspects}
    caveat = ""
    if not by_key["authserv"].same:
        caveat = " (judged by different receivers)"
    for group in _DECISIVE:
        wins = [0] * len(paths)
        for key in group:
            if by_key[key].better is not None:
                wins[by_key[key].better] += 1  # type: ignore[index]
        if not any(wins):
            continue
        best = max(range(len(paths)), key=lambda index: wins[index])
        if wins.count(wins[best]) > 1:
            return "the copies differ, but neither path did clearly better" + caveat
        reasons = [
            by_key[key].label for level in _DECISIVE for key in level if by_key[key].better == best
        ]
        return f"{paths[best]} landed better ({', '.join(reasons)})" + caveat
    decisive = [by_key[key] for level in _DECISIVE for key in level]
    if all(aspect.same for aspect in decisive):
        return "both copies landed alike: same folder and the same verdicts" + caveat
    return "the copies differ, but neither path did clearly better" + caveat
