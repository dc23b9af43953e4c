"""Sending sources of DMARC aggregate reports: one row per IP, by volume.

Fed `console.bounce.aggregate.SourceSummary`s; moving the cursor posts
`DmarcSources.SourceHighlighted`. `render_source` explains one source (its reverse
DNS, volumes, the From domains it sent for, and why DMARC failed), literally: report
contents come from strangers.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.content import Content
from textual.message import Message
from textual.widgets import DataTable

from console.bounce.aggregate import DomainSummary, SourceSummary, iso
from widgets.literal import literal


def _num(value: int, width: int, style: str = "") -> Content:
    if not value:
        return Content.styled(f"{'·':>{width}}", "dim")
    return Content.styled(f"{value:>{width}}", style)


def ptr_cell(source: SourceSummary) -> Text:
    """The PTR name, `no PTR`, or why it is unknown, as a table cell (a Rich Text: the
    table measures Text, not Content)."""
    if source.ptr:
        return literal(source.ptr, no_wrap=True)
    if source.ptr_error:
        return literal(f"? {source.ptr_error}", "dim", no_wrap=True)
    return Text("no PTR", style="italic", no_wrap=True)


def ptr_text(source: SourceSummary) -> Content:
    """The PTR name, `no PTR` (a warning), or why it is unknown (dim)."""
    if source.ptr:
        return Content.from_rich_text(literal(source.ptr))
    if source.ptr_error:
        return Content.assemble(
            ("? ", "dim"), Content.from_rich_text(literal(source.ptr_error, "dim"))
        )
    return Content.styled("no PTR", "$text-warning")


class DmarcSources(DataTable[object]):
    """Sources by volume: IP, PTR, messages, pass, fail."""

    DEFAULT_CSS = """
    DmarcSources {
        height: auto;
        max-height: 100%;
    }
    """

    class SourceHighlighted(Message):
        """The cursor moved to the source at `index`."""

        def __init__(self, table: DmarcSources, index: int) -> None:
            super().__init__()
            self.table = table
            self.index = index

        @property
        def control(self) -> DmarcSources:
            return self.table

    def __init__(self, **kwargs: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)  # type: ignore[arg-type]
        self._sources: list[SourceSummary] = []

    def on_mount(self) -> None:
        self._add_columns(9, 3)

    def _add_columns(self, ip: int, ptr: int) -> None:
        # Every width is given: the table measures cells lazily (on idle), and Content
        # cells not at all, so a picture taken right after `show` would vary.
        self.add_column("Source IP", key="ip", width=ip)
        self.add_column("PTR", key="ptr", width=ptr)
        self.add_column(Text("Msgs", justify="right"), key="count", width=7)
        self.add_column(Text("Pass", justify="right"), key="pass", width=7)
        self.add_column(Text("Fail", justify="right"), key="fail", width=7)

    def show(self, sources: Sequence[SourceSummary]) -> None:
        self._sources = list(sources)
        ip = max((len(s.source_ip) for s in self._sources), default=9)
        ptr = max((ptr_cell(s).cell_len for s in self._sources), default=3)
        self.clear(columns=True)
        self._add_columns(max(ip, 9), min(max(ptr, 3), 40))
        for index, source in enumerate(self._sources):
            self.add_row(
                literal(source.source_ip, no_wrap=True),
                ptr_cell(source),
                _num(source.count, 7, "bold"),
                _num(source.passed, 7, "$text-success"),
                _num(source.failed, 7, "bold $text-error"),
                key=str(index),
            )

    @property
    def sources(self) -> list[SourceSummary]:
        return list(self._sources)

    @property
    def current_source(self) -> SourceSummary | None:
        if not self._sources:
            return None
        return self._sources[min(max(self.cursor_row, 0), len(self._sources) - 1)]

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.post_message(self.SourceHighlighted(self, int(event.row_key.value)))


def render_source(source: SourceSummary) -> Content:
    """One source explained: names, volumes, From domains and why DMARC failed."""
    lines = [
        Content.assemble(
            Content.from_rich_text(literal(source.source_ip, "bold")),
            (" · ", "$text-muted"),
            ptr_text(source),
        ),
        Content.assemble(
            f"{source.count} messages: ",
            (f"{source.passed} pass", "$text-success"),
            ", ",
            (f"{source.failed} fail", "bold $text-error" if source.failed else ""),
        ),
    ]
    if source.header_from:
        froms = ", ".join(f"{name} ({n})" for name, n in source.header_from.most_common(5))
        lines.append(
            Content.assemble(
                ("From domains  ", "$text-muted"), Content.from_rich_text(literal(froms))
            )
        )
    if not source.ptr and not source.ptr_error:
        # Next to the names, not under the reasons: it is about the IP, not DMARC.
        lines.append(
            Content.styled(
                "No reverse DNS: receivers distrust an IP without a PTR (Gmail requires one).",
                "$text-warning",
            )
        )
    if source.reasons:
        lines += [Content(""), Content.styled("Why DMARC failed", "bold $text-accent")]
        for reason, count in source.reasons.most_common(4):
            lines.append(
                Content.assemble(
                    (f"{count:>6}× ", "$text-muted"), Content.from_rich_text(literal(reason))
                )
            )
    elif source.count:
        lines += [
            Content(""),
            Content.styled("Every message from this source passed DMARC.", "$text-success"),
        ]
    return Content("\n").join(lines)


def _day(seconds: int | None) -> str:
    return (iso(seconds) or "?")[:10]


def render_domains(domains: Sequence[DomainSummary], limit: int = 3) -> Content:
    """Each policy domain: the policy the receivers saw, who reported, when, extensions.

    The policy is the latest report's (RFC 9990: one policy per report). RFC 9990's
    `np`, `testing` and `discovery_method` are shown when a report carried them; test
    mode is spelled out because it means the policy was not enforced.
    """
    lines: list[Content] = []
    for domain in sorted(domains, key=lambda d: (-d.count, d.domain))[:limit]:
        policy = domain.policy
        tags = " ".join(
            f"{name}={value}"
            for name, value in (
                ("p", policy.p),
                ("sp", policy.sp),
                ("np", policy.np),
                ("adkim", policy.adkim or "r"),
                ("aspf", policy.aspf or "r"),
                ("pct", policy.pct),
                ("t", policy.testing),
            )
            if value is not None
        )
        lines.append(
            Content.assemble(
                ("Policy of ", "bold $text-accent"),
                Content.from_rich_text(literal(domain.domain, "bold")),
            )
        )
        lines.append(Content.from_rich_text(literal(tags)))
        if policy.discovery_method:
            lines.append(
                Content.assemble(
                    ("found by ", "$text-muted"),
                    Content.from_rich_text(literal(policy.discovery_method)),
                )
            )
        if policy.p == "none":
            lines.append(
                Content.styled(
                    "p=none: receivers only report. Move to p=quarantine once every "
                    "legitimate source passes.",
                    "$text-muted",
                )
            )
        if policy.testing == "y":
            lines.append(
                Content.styled(
                    "Test mode (t=y): receivers report failures but do not enforce the "
                    "policy. Remove t=y when the sources above all pass.",
                    "$text-warning",
                )
            )
        reporters = ", ".join(sorted(domain.reporters)) or "?"
        reports = f"{domain.reports} report{'' if domain.reports == 1 else 's'}"
        lines.append(
            Content.assemble(
                (f"{reports} from ", "$text-muted"),
                Content.from_rich_text(literal(reporters)),
                (f" · {_day(domain.begin)} to {_day(domain.end)}", "$text-muted"),
            )
        )
        if domain.extensions:
            lines.append(
                Content.assemble(
                    ("Extensions (not interpreted) ", "$text-muted"),
                    Content.from_rich_text(literal(", ".join(domain.extensions))),
                )
            )
        lines.append(Content(""))
    if len(domains) > limit:
        lines.append(Content.styled(f"… and {len(domains) - limit} more domains", "$text-muted"))
    while lines and not lines[-1].plain:
        lines.pop()
    return Content("\n").join(lines)
