"""The Ports pane: what ports 25, 465 and 587 really offer on the domain's mail hosts.

The domain's MX hosts are probed on the relay port (25, STARTTLS), the profile's
submission server (if one is configured) on 465 and 587, and any host the admin types
on the ports they name (default 25, 465 and 587). Probes run concurrently in a worker;
each result arrives as a message and fills its cell of the host x port grid at once,
so progress is visible and the interface never waits. Selecting a cell shows what the
port offers (TLS, certificate, extensions, AUTH), its findings with the exact fix
(copyable), and the SMTP transcript.

Probing connects to other people's servers, so it starts only once the pane is shown
(not whenever a domain is opened), and never sends credentials or tests relaying.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Input, Label
from textual.worker import Worker, WorkerState

from console.auth.records import InvalidDomain, normalize_domain
from console.config import Profile
from console.model import Finding, Status
from console.panes.base import Pane, notify_text
from console.ports.model import PortProbe, ProbeReport, Role, TranscriptLine
from console.ports.targets import (
    DEFAULT_PORTS,
    PortSpec,
    Target,
    host_targets,
    mx_targets,
    parse_ports,
)
from widgets.audit_progress import AuditProgress
from widgets.finding_card import FindingCard
from widgets.findings_view import FindingsView
from widgets.literal import literal
from widgets.port_detail import PortDetail
from widgets.port_grid import GridCell, PortGrid, port_label, status_counts
from widgets.status_badge import NOT_RUN, badge
from widgets.transcript_log import TranscriptLog

if TYPE_CHECKING:
    from console.auth.resolver import ResolverContext

Prober = Callable[..., Awaitable[ProbeReport]]
"""`console.ports.runner.probe_targets`'s shape: (ctx, targets, *, timeout, on_probe, ...)."""

WIDE = 110
"""From this many columns the transcript sits beside the detail instead of replacing it."""

MX_PORTS: tuple[PortSpec, ...] = (PortSpec(25, Role.RELAY),)
"""An MX host is probed as a relay: that is the port other servers deliver to."""


def submission_specs(port: int) -> tuple[list[PortSpec], list[PortSpec]]:
    """(the configured submission port, the other submission port) for a profile."""
    configured = PortSpec(port, Role.SUBMISSIONS if port == 465 else Role.SUBMISSION)
    others = [spec for spec in DEFAULT_PORTS if spec.role is not Role.RELAY and spec.port != port]
    return [configured], others


def parse_host_request(text: str) -> tuple[str, list[PortSpec] | None]:
    """`HOST [PORTS]` as typed: the host (name or address) and the ports, if given.

    Raises:
        ValueError: with a one-line reason.
    """
    words = text.replace(",", " , ").split()
    if not words:
        raise ValueError("type a host name, e.g. smtp.example.com")
    host, rest = words[0], "".join(words[1:])
    port = ""
    if host.startswith("[") and "]:" in host:  # `[2001:db8::25]:587`
        host, port = host[1:].split("]:", 1)
    elif host.count(":") == 1:  # `smtp.example.com:587`
        host, port = host.split(":")
    if port:
        rest = f"{port},{rest}" if rest else port
    name = host.strip("[]")
    if not _is_address(name):
        try:
            name = normalize_domain(name)
        except InvalidDomain as exc:
            raise ValueError(str(exc)) from None
    return name, parse_ports(rest) if rest else None


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


class ProbeProgress(AuditProgress):
    """The progress line, counting probes: `Probing good.test  3/5 probes`."""

    verb = "Probing"
    unit = "probes"


class PortsPane(Pane):
    """Hosts x ports grid, the selected port's detail, its transcript, progress."""

    DEFAULT_CSS = """
    PortsPane {
        layout: vertical;
    }
    #ports-progress {
        height: 1;
        padding: 0 1;
    }
    #ports-host-row {
        height: 1;
        padding: 0 1;
    }
    #ports-host-label {
        width: auto;
        color: $text-muted;
        margin-right: 1;
    }
    #ports-host {
        width: 1fr;
    }
    #ports-grid-box {
        height: auto;
        max-height: 40%;
    }
    #ports-run-findings-box {
        height: auto;
        max-height: 30%;
        padding: 0 1;
        scrollbar-size-vertical: 1;
    }
    #ports-body {
        height: 1fr;
    }
    #ports-detail-box {
        width: 1fr;
        height: 1fr;
        padding: 0 1;
        scrollbar-size-vertical: 1;
    }
    #ports-transcript {
        width: 1fr;
        height: 1fr;
        padding: 0 1;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "rerun", "Re-run", id="ports.rerun", tooltip="Probe every port again"),
        Binding("x", "cancel", "Cancel", id="ports.cancel", tooltip="Stop the running probes"),
        Binding(
            "c",
            "copy_fix",
            "Copy fix",
            id="ports.copy-fix",
            tooltip="Copy the selected finding's fix (works over SSH through OSC 52)",
        ),
        Binding(
            "t",
            "toggle_transcript",
            "Transcript",
            id="ports.transcript",
            tooltip="Show or hide the SMTP conversation of the selected port",
        ),
        Binding(
            "h",
            "focus_host",
            "Probe host",
            id="ports.host",
            tooltip="Type a host (and ports) to probe besides the domain's mail hosts",
        ),
        Binding(
            "escape",
            "focus_grid",
            "Grid",
            id="ports.focus-grid",
            tooltip="Back to the grid of ports",
            show=False,
        ),
    ]

    prober: ClassVar[Prober | None] = None
    """What probes the targets; None means `console.ports.runner.probe_targets`. Tests
    swap it to normalise lab data (free ports, timings) for deterministic snapshots."""

    probe_timeout: ClassVar[float] = 10.0
    """Seconds per probe step: a tarpit costs this much and no more."""

    class TargetsKnown(Message):
        """Run `run` resolved what it will probe (and what went wrong finding it)."""

        def __init__(
            self, run: int, what: str, targets: list[Target], findings: list[Finding]
        ) -> None:
            super().__init__()
            self.run = run
            self.what = what
            self.targets = targets
            self.findings = findings

    class ProbeDone(Message):
        """One port of run `run` has been probed."""

        def __init__(self, run: int, probe: PortProbe) -> None:
            super().__init__()
            self.run = run
            self.probe = probe

    class ProbesDone(Message):
        """Run `run` finished; `report` holds every probe and the run's own findings."""

        def __init__(self, run: int, report: ProbeReport) -> None:
            super().__init__()
            self.run = run
            self.report = report

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.domain: str | None = None
        self.profile: Profile | None = None
        self.report: ProbeReport | None = None
        """The last finished run."""
        self.running = False
        self.extra_hosts: dict[str, list[PortSpec] | None] = {}
        """Hosts the admin typed, with their ports (None: the default three)."""
        self.show_transcript: bool | None = None
        """Whether the transcript is shown; None follows the width (beside the detail
        when wide, hidden when narrow)."""
        self._run = 0
        self._stale = False
        self._total = 0
        self._probes: list[PortProbe] = []
        self._run_findings: list[Finding] = []
        self._probe_worker: Worker[None] | None = None

    # -- layout ------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield ProbeProgress(id="ports-progress")
        with Horizontal(id="ports-host-row"):
            yield Label("Probe host:", id="ports-host-label")
            yield Input(id="ports-host", compact=True)
        with Vertical(id="ports-grid-box", classes="pane-box"):
            yield PortGrid(id="ports-grid")
        # Its FindingsView is mounted on first use: until then the Authentication
        # pane's is the screen's only one (what `query_one(FindingsView)` finds).
        yield VerticalScroll(id="ports-run-findings-box", classes="pane-box")
        with Horizontal(id="ports-body"):
            with VerticalScroll(id="ports-detail-box", classes="pane-box"):
                yield PortDetail(id="ports-detail")
            yield TranscriptLog(id="ports-transcript", classes="pane-box")

    def on_mount(self) -> None:
        self.query_one("#ports-grid-box").border_title = "Ports"
        self.query_one("#ports-detail-box").border_title = "Detail"
        self.query_one("#ports-transcript").border_title = "Transcript"
        self.query_one("#ports-run-findings-box").border_title = "About the run"
        self.query_one("#ports-run-findings-box").display = False
        self.query_one("#ports-host", Input).cursor_blink = self.session.cursor_blink
        self._set_placeholder()
        self.query_one(ProbeProgress).finish("Pick a domain to probe its mail hosts.")
        self.query_one(TranscriptLog).show([], empty_text="Select a port to see its transcript.")
        self._arrange()

    def on_resize(self) -> None:
        self._arrange()

    def focus_default(self) -> None:
        if self._stale:
            self.start_probes()
        self.query_one(PortGrid).focus()

    def _transcript_visible(self) -> bool:
        if self.show_transcript is None:
            return self.size.width >= WIDE
        return self.show_transcript

    def _arrange(self) -> None:
        """Transcript beside the detail when wide; instead of it when narrow."""
        shown = self._transcript_visible()
        wide = self.size.width >= WIDE
        self.query_one("#ports-transcript").display = shown
        self.query_one("#ports-detail-box").display = wide or not shown

    def _set_placeholder(self) -> None:
        submission = self.profile.submission if self.profile else None
        field = self.query_one("#ports-host", Input)
        if submission is None:
            field.placeholder = "smtp.example.com [25,465,587] — no submission server set"
        else:
            field.placeholder = "another host [ports], e.g. smtp.example.com 587"

    # -- entry points ------------------------------------------------------------------

    def open_domain(self, domain: str, profile: Profile) -> None:
        if domain != self.domain:
            self.extra_hosts = {}
        self.domain = domain
        self.profile = profile
        self.report = None
        self._set_placeholder()
        if self._shown():
            self.start_probes()
        else:
            # Probing reaches other people's servers: wait until the admin looks here.
            # What is still running belongs to the previous domain: stop it, forget it.
            self._run += 1
            self.running = False
            self.workers.cancel_group(self, "ports")
            self._probes, self._run_findings, self._total = [], [], 0
            self.query_one(PortGrid).set_cells([])
            self.call_later(self._show_run_findings)
            self.call_later(self._show_selected)
            self._stale = True
            self.query_one(ProbeProgress).finish(
                Content.assemble(
                    "Ports of ",
                    Content.from_rich_text(literal(domain)),
                    " are probed when this pane is shown.",
                )
            )

    def _shown(self) -> bool:
        node: Widget | None = self
        while isinstance(node, Widget):
            if not node.display:
                return False
            parent = node.parent
            node = parent if isinstance(parent, Widget) else None
        return self.is_mounted

    def start_probes(self) -> None:
        """(Re)start probing the current targets, cancelling a running run."""
        if not self.domain and not self.extra_hosts:
            return
        self._stale = False
        self._run += 1
        self.running = True
        self.report = None
        self._probes = []
        self._run_findings = []
        self._total = 0
        self.query_one(PortGrid).set_cells([])
        self.query_one(ProbeProgress).finish(
            Content.assemble(
                ("Finding the mail hosts of ", "bold"),
                Content.from_rich_text(literal(self.domain or "the hosts typed")),
                "…",
            )
        )
        self.call_later(self._show_run_findings)
        self.call_later(self._show_selected)
        self.refresh_bindings()
        submission = self.profile.submission if self.profile else None
        self._probe_worker = self._probe(
            self._run,
            self.domain,
            (submission.host, submission.port) if submission else None,
            dict(self.extra_hosts),
        )

    @work(exclusive=True, group="ports", exit_on_error=False, name="ports")
    async def _probe(
        self,
        run: int,
        domain: str | None,
        submission: tuple[str, int] | None,
        extra: dict[str, list[PortSpec] | None],
    ) -> None:
        session = self.session
        preferred = self.profile.nameservers if self.profile else ()
        base = await asyncio.to_thread(session.resolver_factory, preferred)
        ctx = base.for_audit()
        targets, findings = await self._targets(ctx, domain, submission, extra)
        parts = [f"MX of {domain}"] if domain else []
        parts += [submission[0]] if submission else []
        parts += [host for host in extra if host not in parts]
        what = ", ".join(parts)
        self.post_message(self.TargetsKnown(run, what, targets, findings))

        def arrived(probe: PortProbe) -> None:
            self.post_message(self.ProbeDone(run, probe))

        # The CA file defaults to the service map's (the lab's CA in demo mode).
        # The profile's greeting name, when it sets one (strict servers want a real host).
        helo = {"helo": self.profile.helo} if self.profile and self.profile.helo else {}
        report = await self._prober()(
            ctx,
            targets,
            timeout=self.probe_timeout,
            on_probe=arrived,
            label=what,
            findings=findings,
            **helo,
        )
        self.post_message(self.ProbesDone(run, report))

    def _prober(self) -> Prober:
        chosen = type(self).prober
        if chosen is not None:
            return chosen
        from console.ports.runner import probe_targets

        return probe_targets

    @staticmethod
    async def _targets(
        ctx: ResolverContext,
        domain: str | None,
        submission: tuple[str, int] | None,
        extra: dict[str, list[PortSpec] | None],
    ) -> tuple[list[Target], list[Finding]]:
        """Every target of a run, found concurrently: MX hosts, submission, typed hosts."""
        jobs: list[Awaitable[Any]] = []
        if domain:
            jobs.append(mx_targets(ctx, domain, MX_PORTS))
        if submission is not None:
            configured, others = submission_specs(submission[1])
            jobs.append(host_targets(ctx, [submission[0]], configured, explicit_ports=True))
            jobs.append(host_targets(ctx, [submission[0]], others))
        for host, ports in extra.items():
            explicit = ports is not None
            jobs.append(host_targets(ctx, [host], ports or DEFAULT_PORTS, explicit_ports=explicit))
        results = await asyncio.gather(*jobs)
        targets: list[Target] = []
        findings: list[Finding] = []
        for result in results:
            if isinstance(result, list):
                targets += result
            else:
                targets += result.targets
                findings += result.findings
        # The same host, address and port asked for twice (an MX that is also the
        # submission host) is probed once.
        unique: dict[tuple[str, str | None, int, Role], Target] = {}
        for target in targets:
            unique.setdefault((target.host, target.address, target.port, target.role), target)
        return list(unique.values()), findings

    # -- messages from the worker ------------------------------------------------------

    async def on_ports_pane_targets_known(self, message: TargetsKnown) -> None:
        if message.run != self._run:
            return  # from a run cancelled since
        self._total = len(message.targets)
        self._run_findings = list(message.findings)
        grid = self.query_one(PortGrid)
        grid.set_cells(
            GridCell(t.host, t.port, t.role, t.well_known_port, t.family, t.address)
            for t in message.targets
        )
        if grid.current_key is None and grid.first_key():
            grid.select_key(grid.first_key() or "")
        self.query_one(ProbeProgress).start(self._total, message.what)
        await self._show_run_findings()
        await self._show_selected()

    async def on_ports_pane_probe_done(self, message: ProbeDone) -> None:
        if message.run != self._run:
            return
        self._probes.append(message.probe)
        self.query_one(PortGrid).show_probe(message.probe)
        self.query_one(ProbeProgress).advance()

    async def on_ports_pane_probes_done(self, message: ProbesDone) -> None:
        if message.run != self._run:
            return
        self.running = False
        report = message.report
        self.report = report
        grid = self.query_one(PortGrid)
        for probe in report.probes:
            grid.show_probe(probe)  # any the callback missed
        self._probes = list(report.probes)
        self._run_findings = list(report.findings)
        self.query_one(ProbeProgress).finish(self._summary(report))
        await self._show_run_findings()
        await self._show_selected()
        self.refresh_bindings()

    @on(Worker.StateChanged)
    def _worker_state(self, event: Worker.StateChanged) -> None:
        """The one place probe failures and cancellations are handled for this pane."""
        worker = event.worker
        if worker is not self._probe_worker or not self.running:
            return  # an older run, cancelled since, stays quiet
        if event.state is WorkerState.CANCELLED:
            self._stopped("Cancelled")
        elif event.state is WorkerState.ERROR:
            error = worker.error
            what = f"{type(error).__name__}: {error}" if error is not None else "unknown error"
            self._stopped("Probing failed")
            notify_text(self, str(error) or what, title="Probing failed", severity="error")

    def _stopped(self, what: str) -> None:
        self.running = False
        self.query_one(PortGrid).mark_unfinished()
        self.query_one(ProbeProgress).finish(
            Content.assemble(
                (what, "bold $text-warning"),
                f" after {len(self._probes)}/{self._total} probes; press r to run again.",
            )
        )
        self.call_later(self._show_selected)
        self.refresh_bindings()

    # -- what is shown -----------------------------------------------------------------

    def _summary(self, report: ProbeReport) -> Content:
        if not report.probes:
            return Content.assemble(
                badge(report.status), "  nothing to probe (see the findings below)."
            )
        counts = status_counts(report.probes)
        parts: list[Content | str] = []
        for status in (Status.FAIL, Status.ERROR, Status.WARN, Status.PASS, Status.SKIP):
            if counts.get(status):
                parts += [badge(status), f" {counts[status]}  "]
        # The run's own findings first: a long target list may be cut at 80 columns.
        if report.findings:
            parts.append(f"· {len(report.findings)} about the run (below) ")
        count = len(report.probes)
        parts.append(f"· {count} port{'' if count == 1 else 's'} · ")
        parts.append(Content.from_rich_text(literal(report.target)))
        return Content.assemble(*parts)

    async def _show_run_findings(self) -> None:
        box = self.query_one("#ports-run-findings-box")
        box.display = bool(self._run_findings)
        view = box.query_one_optional("#ports-run-findings", FindingsView)
        if view is None:
            if not self._run_findings:
                return
            view = FindingsView(id="ports-run-findings")
            await box.mount(view)
        await view.show(self._run_findings)

    @on(PortGrid.ProbeHighlighted)
    async def _highlighted(self, event: PortGrid.ProbeHighlighted) -> None:
        await self._show_selected()

    async def _show_selected(self) -> None:
        """Fill the detail and the transcript with the cell under the grid's cursor."""
        grid = self.query_one(PortGrid)
        key = grid.current_key
        probe = grid.probe(key)
        detail = self.query_one(PortDetail)
        log = self.query_one(TranscriptLog)
        cell = grid.cell(key)
        if probe is None:
            await detail.show(None, cell, grid.state_of(key) if key else NOT_RUN)
            log.show([], empty_text="Not probed yet." if cell else "Select a port.")
        else:
            await detail.show(probe)
            log.show(probe.transcript, empty_text="The server said nothing.")
        # Narrow, the transcript hides the detail: its title says which port it is.
        where = GridCell.of(probe) if probe is not None else cell
        log.border_title = (
            Content.assemble(
                "Transcript · ",
                Content.from_rich_text(literal(where.host)),
                f"{' v6' if where.family == 'ipv6' else ''} {port_label(where)}",
            )
            if where is not None
            else "Transcript"
        )
        self.refresh_bindings()  # whether there is a fix to copy depends on the port

    def _fix_to_copy(self) -> Finding | None:
        focused = self.screen.focused if self.is_mounted else None
        run = self.query_one_optional("#ports-run-findings", FindingsView)
        if isinstance(focused, FindingCard) and focused.parent is run and focused.finding.fix:
            return focused.finding
        detail = self.query_one(PortDetail).fix_to_copy()
        return detail or (run.fix_to_copy() if run is not None else None)

    # -- actions -----------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel":
            return self.running
        if action == "rerun":
            return bool(self.domain or self.extra_hosts)
        if action == "copy_fix":
            return True if self._fix_to_copy() else None
        return True

    def action_rerun(self) -> None:
        self.start_probes()

    def action_cancel(self) -> None:
        self.workers.cancel_group(self, "ports")

    def action_copy_fix(self) -> None:
        finding = self._fix_to_copy()
        if finding is None:
            self.notify("This port has no fix to copy.", severity="warning")
            return
        self.app.copy_to_clipboard(finding.fix)
        notify_text(self, f"Copied the fix for {finding.code}.", title="Copied")

    def action_toggle_transcript(self) -> None:
        self.show_transcript = not self._transcript_visible()
        self._arrange()
        log = self.query_one(TranscriptLog)
        if self.show_transcript and self.size.width < WIDE:
            log.focus()  # it took the detail's place
        elif not self.show_transcript and log.has_focus:
            self.query_one(PortGrid).focus()

    def action_focus_host(self) -> None:
        self.query_one("#ports-host", Input).focus()

    def action_focus_grid(self) -> None:
        self.query_one(PortGrid).focus()

    @on(Input.Submitted, "#ports-host")
    def _host_typed(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            host, ports = parse_host_request(event.value)
        except ValueError as exc:
            notify_text(self, str(exc), title="Cannot probe that", severity="error")
            return
        self.extra_hosts[host] = ports
        event.input.value = ""
        self.query_one(PortGrid).focus()
        self.start_probes()

    # -- for tests and scripts ---------------------------------------------------------

    def select_probe(self, host: str, port: int, family: str = "ipv4") -> None:
        """Move the grid's cursor to `host`'s well-known `port` (its detail follows)."""
        grid = self.query_one(PortGrid)
        for key in grid.cell_keys():
            cell = grid.cell(key)
            if (
                cell is not None
                and cell.host == host
                and cell.nominal_port == port
                and cell.family == family
            ):
                grid.select_key(key)
                return

    @property
    def probes(self) -> Sequence[PortProbe]:
        """Probes received so far in this run (all of them once it finished)."""
        return list(self._probes)


# -- steady lab values, for snapshot tests and screenshots ---------------------------------

STEADY_TIMINGS_MS: dict[str, float] = {
    "connect": 0.4,
    "banner": 1.3,
    "ehlo": 1.9,
    "starttls": 2.4,
    "tls_handshake": 6.2,
    "ehlo_tls": 6.9,
    "total": 7.5,
}
"""Plausible loopback timings put in place of the measured ones."""

_DURATION = re.compile(r"\b\d+(?:\.\d+)? ?(?:ms|s)\b")


def steady_prober(prober: Prober, now: datetime) -> Prober:
    """`prober` with the values that change from run to run of the lab made steady.

    The lab binds free ports and issues certificates at start-up, and every probe takes
    its own time. Snapshot tests and screenshots must not change with them, so each probe
    is rewritten as it arrives: a lab port becomes 10000 + the well-known port (25→10025),
    timings become `STEADY_TIMINGS_MS` (durations quoted in the transcript become
    `1 ms`), and certificate dates are counted from `now` (the session's fixed clock).
    Everything else (states, banners, TLS, names, findings) is what the lab really said.
    """

    def steady(probe: PortProbe) -> PortProbe:
        swaps: dict[str, str] = {}
        if probe.well_known_port and probe.port != probe.well_known_port:
            port = 10000 + probe.well_known_port
            swaps[str(probe.port)] = str(port)
            probe.port = port
        cert = probe.tls.certificate if probe.tls else None
        if cert is not None and cert.days_left is not None:
            after = (now + timedelta(days=cert.days_left)).strftime("%Y-%m-%dT%H:%M:%SZ")
            before = (now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
            for real, fixed in ((cert.not_after, after), (cert.not_before, before)):
                if real:
                    swaps[real] = fixed
                    swaps[real[:10]] = fixed[:10]
            cert.not_after, cert.not_before = after, before

        def fix(text: str) -> str:
            for real, fixed in swaps.items():
                text = re.sub(rf"(?<![\d-]){re.escape(real)}(?![\d-])", fixed, text)
            return text

        probe.timings_ms = {key: STEADY_TIMINGS_MS.get(key, 1.0) for key in probe.timings_ms}
        probe.transcript = [
            TranscriptLine(
                line.direction,
                _DURATION.sub("1 ms", fix(line.text)) if line.direction == "*" else fix(line.text),
                round(index * 0.7, 1),
            )
            for index, line in enumerate(probe.transcript)
        ]
        probe.findings = [
            Finding(f.code, f.severity, _DURATION.sub("1 ms", fix(f.message)), fix(f.fix))
            for f in probe.findings
        ]
        if probe.error:
            probe.error = _DURATION.sub("1 ms", fix(probe.error))
        return probe

    async def run(ctx: Any, targets: Sequence[Target], **options: Any) -> ProbeReport:
        arrived = options.pop("on_probe", None)

        def relay(probe: PortProbe) -> None:
            if arrived is not None:
                arrived(steady(probe))

        report = await prober(ctx, targets, on_probe=relay, **options)
        report.probes = [steady(probe) for probe in report.probes]
        report.elapsed_ms = STEADY_TIMINGS_MS["total"]
        return report

    return run
