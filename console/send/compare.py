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

from console.send.readback import Delivery, MethodResult

_GOOD_RESULTS = {"pass"}
_FOLDER_RANK = {"inbox": 0, "spam": 1, "junk": 1}


@dataclass(frozen=True, slots=True)
class Aspect:
    """One row of the comparison.

    Attributes:
        key: a stable id (`folder`, `dkim.d`, ...), for JSON and tests.
        label: the row's name as shown.
        values: one display value per path, in the order of the paths ("" when unknown).
        same: all paths agree (unknown counts as different when another path knows).
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
    return delivery.folder or ""


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


def _auth_better(values: Sequence[str]) -> int | None:
    good = [index for index, value in enumerate(values) if value in _GOOD_RESULTS]
    return good[0] if len(good) == 1 else None


def _folder_better(values: Sequence[str]) -> int | None:
    ranks = [_FOLDER_RANK.get(value.lower(), 2) for value in values]
    best = min(ranks)
    return ranks.index(best) if ranks.count(best) == 1 else None


def _tls_better(values: Sequence[str]) -> int | None:
    clear = ["clear" in value or not value for value in values]
    return clear.index(False) if clear.count(False) == 1 else None


def _time_better(deliveries: Sequence[Delivery | None]) -> int | None:
    times = [d.total_seconds if d is not None else None for d in deliveries]
    known = [t for t in times if t is not None]
    if len(known) < 2:
        return None
    fastest = min(known)
    # Received times have one-second resolution: a gap under two seconds is rounding.
    if sorted(known)[1] - fastest < 2.0:
        return None
    return times.index(fastest)


@dataclass(frozen=True, slots=True)
class _Row:
    key: str
    label: str
    read: Callable[[Delivery], str]
    better: Callable[[Sequence[str]], int | None] | None
    meaning: str


_ROWS: tuple[_Row, ...] = (
    _Row(
        "folder",
        "Landed in",
        _folder,
        _folder_better,
        "one copy was filed as spam: compare the verdicts below to see why",
    ),
    _Row(
        "return-path",
        "Return-Path",
        _mailfrom,
        None,
        "the envelope senders differ: SPF (and its alignment) is checked for a different domain",
    ),
    _Row(
        "dkim.d",
        "DKIM d= / s=",
        _dkim,
        None,
        "signed by different domains or selectors: DMARC needs the signing domain to align "
        "with From",
    ),
    _Row(
        "spf",
        "SPF",
        lambda d: _result(d.spf),
        _auth_better,
        "SPF differs: the path that fails sends from an IP its envelope domain does not list",
    ),
    _Row(
        "dkim",
        "DKIM",
        lambda d: _result(d.dkim),
        _auth_better,
        "DKIM differs: one path does not sign, or signs with a key that does not verify",
    ),
    _Row(
        "dmarc",
        "DMARC",
        lambda d: _result(d.dmarc),
        _auth_better,
        "DMARC differs: the failing path has no aligned SPF or DKIM pass; a receiver "
        "applies the domain's policy to it",
    ),
    _Row(
        "alignment.dkim",
        "DKIM alignment",
        _alignment("dkim"),
        None,
        "only one path's DKIM domain aligns with From",
    ),
    _Row(
        "alignment.spf",
        "SPF alignment",
        _alignment("spf"),
        None,
        "only one path's envelope domain aligns with From",
    ),
    _Row(
        "arc",
        "ARC",
        _arc,
        None,
        "a forwarder sealed one copy: the receiver may trust the original verdicts via ARC",
    ),
    _Row(
        "tls",
        "TLS per hop",
        _tls,
        _tls_better,
        "one path crossed a hop in clear text: Gmail marks such mail with a red padlock",
    ),
    _Row("hops", "Hops", _hops, None, "the paths relay through a different number of servers"),
    _Row("authserv", "Judged by", lambda d: d.authserv_id or "", None, "different receivers"),
)


def compare_deliveries(paths: Sequence[str], deliveries: Sequence[Delivery | None]) -> Comparison:
    """Line up copies of one message read back from each path.

    Args:
        paths: the path names (`smtp`, `gmail-api`), one per delivery.
        deliveries: each path's Delivery, or None when its copy was not found.

    Returns:
        The Comparison: one Aspect per row (the missing copy first when there is one),
        and a verdict naming the path that landed better, or that they landed alike.
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
                better=found.index(True) if found.count(True) == 1 else None,
                note="a copy was not found: it never arrived (a silent drop or still "
                "queued), or readback looked in the wrong mailbox",
            )
        )
    present = [delivery for delivery in deliveries if delivery is not None]
    for row in _ROWS:
        values = tuple(row.read(d) if d is not None else "" for d in deliveries)
        same = len(set(values)) == 1
        better = row.better(values) if (row.better and not same and len(present) > 1) else None
        aspects.append(
            Aspect(row.key, row.label, values, same, better, None if same else row.meaning)
        )
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
    return Comparison(names, aspects, _verdict(names, aspects))


def _verdict(paths: Sequence[str], aspects: Sequence[Aspect]) -> str:
    decisive = [a for a in aspects if a.key in ("copy", "folder", "dmarc", "dkim", "spf", "tls")]
    wins = [0] * len(paths)
    for aspect in decisive:
        if aspect.better is not None:
            wins[aspect.better] += 1
    if not any(wins):
        if all(aspect.same for aspect in decisive):
            return "both copies landed alike: same folder and the same verdicts"
        return "the copies differ, but neither path did clearly better"
    best = max(range(len(paths)), key=lambda index: wins[index])
    if wins.count(wins[best]) > 1:
        return "the copies differ, but neither path did clearly better"
    reasons = [a.label for a in decisive if a.better == best]
    return f"{paths[best]} landed better ({', '.join(reasons)})"
