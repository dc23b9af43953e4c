"""How the delivered copies were judged: one column per path, a row per aspect.

Fed a `Comparison` (console/send/compare.py), which also serves a single path: then it
is simply that copy's readback. Rows that differ between the paths are marked, the
path that did better on a row is shown in the success colour, and the notes under the
table say what each difference means for delivery. The hops of each copy (with their
TLS and delay) follow. Every value came from a delivered header: shown literally.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from textual.content import Content
from textual.widgets import Static

from console.send.compare import Comparison
from console.send.readback import Delivery
from widgets.literal import literal

TITLES: dict[str, str] = {"smtp": "SMTP", "gmail-api": "Gmail API"}

LABEL_WIDTH = 16
COLUMN_WIDTH = 22


def _cell(text: str, width: int) -> str:
    text = text or "–"
    return text if len(text) <= width else text[: width - 1] + "…"


def _literal(text: str, style: str = "") -> Content:
    content = Content.from_rich_text(literal(text))
    return content.stylize(style) if style else content


def readback_content(
    comparison: Comparison,
    deliveries: Mapping[str, Delivery | None] | None = None,
    errors: Mapping[str, str] | None = None,
) -> Content:
    """The table, the notes, the verdict (with two paths), then each copy's hops."""
    paths = comparison.paths
    header = Content.assemble(
        (f"{'':{LABEL_WIDTH}} ", ""),
        *[
            Content.styled(f"{TITLES.get(p, p):{COLUMN_WIDTH}} ", "bold $text-accent")
            for p in paths
        ],
    )
    lines: list[Content] = [header]
    for aspect in comparison.aspects:
        mark = Content.styled("≠", "bold $text-warning") if not aspect.same else Content(" ")
        cells: list[Content] = []
        for index, value in enumerate(aspect.values):
            style = ""
            if aspect.better == index:
                style = "bold $text-success"
            elif aspect.better is not None:
                style = "$text-error"
            cells.append(_literal(f"{_cell(value, COLUMN_WIDTH):{COLUMN_WIDTH}} ", style))
        lines.append(
            Content.assemble(
                (f"{aspect.label:{LABEL_WIDTH - 1}}", "$text-muted"), mark, " ", *cells
            )
        )
    notes = [aspect for aspect in comparison.differences if aspect.note]
    if len(paths) > 1:
        for aspect in notes:
            lines.append(
                Content.assemble(("≠ ", "$text-warning"), f"{aspect.label}: {aspect.note}")
            )
        lines.append(Content.styled(comparison.verdict, "bold"))
    for path in paths:
        if errors and errors.get(path):
            lines.append(
                Content.assemble(
                    (f"{TITLES.get(path, path)}: ", "bold"), _literal(errors[path], "$text-warning")
                )
            )
        delivery = deliveries.get(path) if deliveries else None
        if delivery is None:
            continue
        lines.extend(_hops(TITLES.get(path, path), delivery))
    return Content("\n").join(lines)


def _hops(title: str, delivery: Delivery) -> Sequence[Content]:
    lines = [Content.styled(f"{title} hops", "bold")]
    for hop in delivery.hops:
        tls = hop.tls_version or ("TLS" if hop.tls else "clear" if hop.tls is False else "?")
        delay = f"+{hop.delay:.1f} s" if hop.delay is not None else "+? s"
        if hop.skew:
            delay += f" (clock {hop.skew:.0f} s behind)"
        lines.append(
            Content.assemble(
                "  ",
                _literal(_cell(hop.from_host or "?", 24)),
                " → ",
                _literal(_cell(hop.by_host or "?", 24)),
                "  ",
                _literal(tls, "$text-success" if hop.tls else "$text-warning"),
                f"  {delay}",
            )
        )
    for problem in delivery.problems:
        lines.append(Content.assemble("  ", _literal(problem, "$text-warning")))
    return lines


class ReadbackView(Static):
    """The readback of the last send; says what it waits for until there is one."""

    DEFAULT_CSS = """
    ReadbackView {
        height: auto;
    }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.comparison: Comparison | None = None
        self.plain = ""
        """What is shown, as plain text (for tests)."""

    def show(
        self,
        comparison: Comparison,
        deliveries: Mapping[str, Delivery | None] | None = None,
        errors: Mapping[str, str] | None = None,
    ) -> None:
        self.comparison = comparison
        content = readback_content(comparison, deliveries, errors)
        self.plain = content.plain
        self.update(content)

    def explain(self, text: str) -> None:
        self.comparison = None
        content = _literal(text, "$text-muted")
        self.plain = content.plain
        self.update(content)
