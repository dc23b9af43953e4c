"""The Ports pane's widgets, fed PortProbe objects in a tiny host app.

The grid, the detail and the transcript are presentational: these tests give them
hand-made probes (a good relay, a filtered port, a hostile server) and look at what
they draw and which messages they post.
"""

from __future__ import annotations

from rich.segment import Segment
from textual.app import App, ComposeResult
from textual.containers import VerticalScroll
from textual.geometry import Region
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Static

from console.model import Finding, Status
from console.ports.model import (
    Certificate,
    PortProbe,
    PortState,
    Role,
    TlsInfo,
    TranscriptLine,
)
from widgets.finding_card import FindingCard
from widgets.port_detail import (
    MAX_TEXT,
    PortDetail,
    connection_facts,
    probe_summary,
    remote,
    timing_facts,
)
from widgets.port_grid import GridCell, PortGrid, cell_content, port_label
from widgets.status_badge import NOT_RUN, PENDING
from widgets.transcript_log import MAX_LINES, TranscriptLog, transcript_content

ESC = "\x1b"
HOSTILE_BANNER = "220 [bold red]pwned[/] \x1b[31mred\x1b[0m \x1b]0;title\x07 ESMTP"


def good_probe(host: str = "mx1.good.test", *, port: int = 38211) -> PortProbe:
    cert = Certificate(
        subject="CN=mx1.good.test",
        issuer="CN=mailscope lab CA",
        sans=["mx1.good.test"],
        not_after="2027-02-24T12:00:00Z",
        days_left=89,
        hostname_match=True,
        trusted=True,
    )
    return PortProbe(
        host=host,
        port=port,
        role=Role.RELAY,
        address="127.0.1.1",
        well_known_port=25,
        state=PortState.OPEN,
        status=Status.PASS,
        banner=f"220 {host} ESMTP ready",
        banner_host=host,
        ptr=[host],
        extensions={"SIZE": "52428800", "PIPELINING": "", "STARTTLS": ""},
        extensions_before_tls={"SIZE": "52428800", "PIPELINING": "", "STARTTLS": ""},
        starttls=True,
        tls=TlsInfo(version="TLSv1.3", cipher="TLS_AES_256_GCM_SHA384", bits=256, certificate=cert),
        timings_ms={"connect": 0.41, "banner": 2.2, "total": 15.49},
        transcript=[
            TranscriptLine("*", "connected to 127.0.1.1", 0.4),
            TranscriptLine("S", f"220 {host} ESMTP ready", 2.2),
            TranscriptLine("C", "EHLO mailscope.invalid", 2.3),
            TranscriptLine("S", "250-SIZE 52428800", 3.0),
            TranscriptLine("C", "STARTTLS", 3.1),
            TranscriptLine("*", "TLS established: TLSv1.3", 9.9),
        ],
    )


def filtered_probe() -> PortProbe:
    return PortProbe(
        host="mx1.good.test",
        port=38212,
        role=Role.SUBMISSIONS,
        address="127.0.1.1",
        well_known_port=465,
        state=PortState.FILTERED,
        status=Status.ERROR,
        error="no answer within 2 s",
        findings=[
            Finding(
                "ports.filtered",
                Status.ERROR,
                "Port 465 did not answer within 2 seconds.",
                "Allow inbound TCP 465 on the firewall in front of mx1.good.test.",
            )
        ],
    )


def hostile_probe() -> PortProbe:
    return PortProbe(
        host="mx.ports-hostile.test",
        port=2525,
        role=Role.RELAY,
        address="127.0.1.9",
        state=PortState.OPEN,
        status=Status.FAIL,
        banner=HOSTILE_BANNER,
        banner_host="[link=https://evil.test]click[/link]",
        extensions={"X-[red]": "\x1b[2J"},
        starttls=False,
        tls=TlsInfo(
            certificate=Certificate(subject="CN=[bold]\x1b[5mblink", issuer="CN=\x1b]8;;x\x07")
        ),
        findings=[
            Finding(
                "ports.no-starttls",
                Status.FAIL,
                "The server does not offer STARTTLS: mail to it travels in clear text.",
                "Enable STARTTLS (Postfix: smtpd_tls_security_level = may).",
            )
        ],
        transcript=[
            TranscriptLine("S", HOSTILE_BANNER, 1.0),
            TranscriptLine("C", "EHLO mailscope.invalid", 1.2),
            TranscriptLine("S", "250 [link=https://evil.test]x[/link]\x1b[2J", 1.9),
            TranscriptLine("!", "unknown direction", 2.0),
        ],
    )


class Host(App[None]):
    """Mounts the given widgets and records the messages they post."""

    def __init__(self, *widgets: Widget) -> None:
        super().__init__()
        self._widgets = widgets
        self.messages: list[Message] = []

    def compose(self) -> ComposeResult:
        yield from self._widgets

    def on_port_grid_probe_highlighted(self, message: PortGrid.ProbeHighlighted) -> None:
        self.messages.append(message)


def _segments(widget: Widget) -> list[Segment]:
    width, height = widget.size
    assert width
    assert height, f"{widget!r} is not shown"
    strips = widget.render_lines(Region(0, 0, width, height))
    return [segment for strip in strips for segment in strip]


def _drawn(widget: Widget) -> list[Segment]:
    """The segments `widget` draws, or (for a container) its shown Statics draw."""
    if not list(widget.query(Static)):
        return _segments(widget)
    parts = [part for part in widget.query(Static) if part.size.width and part.size.height]
    return [segment for part in parts for segment in _segments(part)]


def _inert_text(widget: Widget) -> str:
    """What `widget` draws; asserts no control character or link reaches the terminal."""
    segments = _drawn(widget)
    text = "".join(segment.text for segment in segments)
    assert ESC not in text
    assert "\x07" not in text
    for segment in segments:
        if segment.style is not None:
            assert not segment.style.link, f"a link was made from remote text: {segment!r}"
            assert not segment.style.blink
    return text


# -- grid -------------------------------------------------------------------------------


def test_port_label_shows_the_real_port_only_when_it_differs() -> None:
    assert port_label(good_probe()) == "25→38211"
    assert port_label(GridCell("mx.test", 25, Role.RELAY, 25)) == "25"
    assert port_label(GridCell("mx.test", 2525, Role.RELAY)) == "2525"


def test_cells_name_the_state_when_nothing_talked_smtp() -> None:
    cell = GridCell.of(filtered_probe())
    assert cell_content(cell, filtered_probe(), "error").plain == "? ERR  filtered"
    assert cell_content(cell, None, PENDING).plain.endswith("465→38212")
    assert cell_content(GridCell.of(good_probe()), good_probe(), "pass").plain == (
        "✔ PASS 25→38211"
    )


async def test_grid_rows_are_hosts_columns_are_ports_filled_in_any_order() -> None:
    grid = PortGrid()
    app = Host(grid)
    mx1 = GridCell("mx1.good.test", 38211, Role.RELAY, 25, address="127.0.1.1")
    mx1_465 = GridCell("mx1.good.test", 38212, Role.SUBMISSIONS, 465, address="127.0.1.1")
    mx2 = GridCell("mx2.good.test", 38211, Role.RELAY, 25, address="127.0.1.2")
    async with app.run_test(size=(100, 20)) as pilot:
        # Columns come out in role order (25, 465, 587) whatever order the cells came in.
        grid.set_cells([mx1_465, mx1, mx2])
        await pilot.pause()
        assert [str(c.label) for c in grid.ordered_columns] == ["25 STARTTLS", "465 TLS"]
        assert grid.row_count == 2
        assert grid.state_of(mx1.key) == PENDING
        assert grid.state_of(mx2.key) == PENDING

        grid.show_probe(filtered_probe())
        grid.show_probe(good_probe())
        # An IPv6 probe that was not expected gets a row of its own.
        v6 = good_probe()
        v6.family, v6.address = "ipv6", "::1"
        grid.show_probe(v6)
        await pilot.pause()
        assert grid.row_count == 3
        assert grid.state_of(mx1.key) == "pass"
        assert grid.state_of(mx1_465.key) == "error"
        assert str(grid.rows[GridCell.of(v6).row_key].label) == "mx1.good.test v6"
        assert [p.family for p in grid.probes] == ["ipv4", "ipv4", "ipv6"]

        grid.mark_unfinished()
        assert grid.state_of(mx2.key) == NOT_RUN
        assert grid.state_of(mx1.key) == "pass"

        grid.focus()
        grid.select_key(mx1.key)
        await pilot.pause()
        assert grid.current_key == mx1.key
        await pilot.press("right")
        await pilot.pause()
        assert grid.current_key == mx1_465.key
        assert app.messages[-1].key == mx1_465.key
        assert grid.probe(mx1_465.key).state is PortState.FILTERED
        # An empty cell (mx2 has no 465 probe) is no probe.
        await pilot.press("down")
        await pilot.pause()
        assert grid.current_key is None

        # Starting over keeps the cursor on the same cell.
        grid.select_key(mx1_465.key)
        grid.set_cells([mx1, mx1_465])
        await pilot.pause()
        assert grid.current_key == mx1_465.key
        assert grid.state_of(mx1_465.key) == PENDING


async def test_a_host_with_two_addresses_of_one_family_gets_a_row_for_each() -> None:
    grid = PortGrid()
    first, second = good_probe(), good_probe()
    second.address = "127.0.1.9"
    async with Host(grid).run_test(size=(100, 10)) as pilot:
        grid.show_probe(first)
        grid.show_probe(second)
        await pilot.pause()
        assert grid.row_count == 2
        labels = sorted(str(row.label) for row in grid.rows.values())
        assert labels == ["mx1.good.test 127.0.1.1", "mx1.good.test 127.0.1.9"]


async def test_grid_shows_a_hostile_host_name_literally() -> None:
    grid = PortGrid()
    probe = hostile_probe()
    probe.host = "[b]mx[/b]\x1b[2J.test"
    async with Host(grid).run_test(size=(100, 10)) as pilot:
        grid.show_probe(probe)
        await pilot.pause()
        text = _inert_text(grid)
        assert "[b]mx[/b]\\x1b[2J.test" in text


# -- detail -----------------------------------------------------------------------------


async def test_detail_shows_tls_certificate_extensions_and_timings() -> None:
    detail = PortDetail()
    async with Host(VerticalScroll(detail)).run_test(size=(100, 60)) as pilot:
        await detail.show(good_probe())
        await pilot.pause()
        text = _inert_text(detail)
        assert "mx1.good.test  port 25→38211" in text
        assert "TLSv1.3, certificate 89 days left" in text
        assert "No findings" in text
        for expected in (
            "TLS_AES_256_GCM_SHA384 (256 bits)",
            "CN=mailscope lab CA",
            "89 days left",
            "SIZE 52428800, PIPELINING, STARTTLS",
            "TCP connect",
            "15 ms",  # timings shown in whole milliseconds (15.49)
        ):
            assert expected in text, expected
        assert "Before TLS" not in text  # identical before and after: said once

        detail.show_timings = False
        await detail.show(good_probe())
        await pilot.pause()
        assert "TCP connect" not in _inert_text(detail)


async def test_detail_of_a_pending_and_a_failed_port() -> None:
    detail = PortDetail()
    async with Host(VerticalScroll(detail)).run_test(size=(100, 40)) as pilot:
        await detail.show(None, GridCell.of(filtered_probe()), PENDING)
        await pilot.pause()
        assert "probing…" in _inert_text(detail)
        await detail.show(None, GridCell.of(filtered_probe()), NOT_RUN)
        await pilot.pause()
        assert "cancelled" in _inert_text(detail)

        await detail.show(filtered_probe())
        await pilot.pause()
        text = _inert_text(detail)
        assert "filtered: no answer within the timeout" in text
        assert "Allow inbound TCP 465" in text
        assert detail.fix_to_copy() is not None
        assert detail.fix_to_copy().code == "ports.filtered"


async def test_hostile_banner_and_certificate_are_shown_literally() -> None:
    detail = PortDetail()
    async with Host(VerticalScroll(detail)).run_test(size=(160, 60)) as pilot:
        await detail.show(hostile_probe())
        await pilot.pause()
        text = _inert_text(detail)
        assert "220 [bold red]pwned[/] \\x1b[31mred\\x1b[0m \\x1b]0;title\\x07 ESMTP" in text
        assert "[link=https://evil.test]click[/link]" in text
        assert "CN=[bold]\\x1b[5mblink" in text
        assert "X-[red] \\x1b[2J" in text
        # The markup did not become a style: `pwned` is drawn neither bold nor red.
        for segment in _drawn(detail):
            if "pwned" in segment.text and segment.style is not None:
                assert not (segment.style.bold and segment.style.color)
        cards = list(detail.query(FindingCard))
        assert [card.finding.code for card in cards] == ["ports.no-starttls"]


def test_a_huge_banner_is_cut_and_says_so() -> None:
    probe = good_probe()
    probe.banner = "220 " + "x" * 1_000_000
    banner = dict(connection_facts(probe))["Banner"]
    assert len(banner.plain) < MAX_TEXT + 50
    assert banner.plain.endswith(f"({1_000_004 - MAX_TEXT} more characters)")
    assert remote("short").plain == "short"


def test_summary_and_timings_read_as_words() -> None:
    assert probe_summary(good_probe()) == "TLSv1.3, certificate 89 days left"
    assert probe_summary(filtered_probe()) == "filtered"
    assert probe_summary(hostile_probe()) == "no STARTTLS"
    stuck = PortProbe("mx.test", 25, Role.RELAY, state=PortState.OPEN, status=Status.FAIL)
    assert probe_summary(stuck) == "open"
    stuck.findings = [
        Finding("ports.slow-greeting", Status.WARN, "slow"),
        Finding("ports.reply-too-long", Status.FAIL, "a 1 MB greeting"),
    ]
    assert probe_summary(stuck) == "open, reply too long"
    assert timing_facts({"total": 15.49, "connect": 0.4, "custom": 3.0})[0][0] == "TCP connect"
    assert [name for name, _ in timing_facts({"total": 1.0, "custom": 3.0})] == [
        "total",
        "custom",
    ]


# -- transcript -------------------------------------------------------------------------


def test_transcript_marks_each_direction_and_rounds_times() -> None:
    content = transcript_content(good_probe().transcript)
    lines = content.plain.splitlines()
    assert lines[0] == "     0ms * connected to 127.0.1.1"
    assert lines[2] == "     2ms C EHLO mailscope.invalid"
    assert lines[3].endswith("S 250-SIZE 52428800")
    styles = {str(span.style) for span in content.spans}
    assert any("$text-accent" in style for style in styles)  # client lines
    assert any("$text-success" in style for style in styles)  # server lines
    no_times = transcript_content(good_probe().transcript, times=False)
    assert no_times.plain.splitlines()[2] == "C EHLO mailscope.invalid"


def test_a_runaway_transcript_is_cut() -> None:
    lines = [TranscriptLine("S", "250-x", float(n)) for n in range(MAX_LINES + 5)]
    assert transcript_content(lines).plain.splitlines()[-1] == "… 5 more lines not shown"


async def test_hostile_transcript_is_shown_literally_and_scrolls() -> None:
    log = TranscriptLog()
    async with Host(log).run_test(size=(120, 6)) as pilot:
        log.show(hostile_probe().transcript)
        await pilot.pause()
        text = _inert_text(log)
        assert "S 220 [bold red]pwned[/] \\x1b[31mred" in text
        assert "[link=https://evil.test]x[/link]\\x1b[2J" in log.plain
        assert "? unknown direction" in log.plain

        long = [TranscriptLine("S", f"250-line {n}", float(n)) for n in range(50)]
        log.show(long)
        log.focus()
        await pilot.pause()
        assert log.scroll_y == 0
        await pilot.press("end")
        await pilot.pause()
        assert log.scroll_y == log.max_scroll_y > 0

        log.show([], empty_text="Not probed yet.")
        await pilot.pause()
        assert "Not probed yet." in _inert_text(log)
