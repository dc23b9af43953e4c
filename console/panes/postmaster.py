"""The Postmaster pane: Gmail's view of the domain, from Postmaster Tools v2 and local history.

The spam-rate chart (7, 30, 90 days or all stored history, with Gmail's 0.1% and 0.3%
lines), the streak of days below 0.3% Gmail asks for before mitigation, authentication
and TLS rates, delivery errors by type, the worst feedback-loop ids, the compliance
table linked to the console's own checks, and a batch view of every domain of the
account.

The Google client blocks, so fetching runs in a thread worker. Stored days are read
first and shown at once; the fetch then stores what arrives and redraws from the
merged history. A failed fetch is a notification and a line in the pane, and the
stored days stay on screen. The pane is honest about the data: Google publishes about
two days late, low-volume days have no spam rate (gaps, never zeros), and the time of
the last fetch is always shown.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.widget import Widget
from textual.widgets import ContentSwitcher, Static
from textual.worker import Worker, WorkerState, get_current_worker

from console.config import Profile
from console.errors import MailscopeError
from console.panes.base import Pane, console_app, notify_text
from console.postmaster.model import (
    DATA_DELAY_DAYS,
    MITIGATION_STREAK,
    PostmasterReport,
)
from widgets.audit_progress import AuditProgress
from widgets.compliance_table import ComplianceTable, meaning
from widgets.literal import literal
from widgets.postmaster_domains import DomainRow, PostmasterDomains
from widgets.rate_table import RateTable
from widgets.spam_chart import LEGEND, SpamChart

if TYPE_CHECKING:
    from console.lab import Lab
    from console.postmaster.stats import FetchOutcome

FETCH_DAYS = 120
"""Days asked of Google on each fetch; older days come from local history."""

RANGES: tuple[int | None, ...] = (7, 30, 90, None)
"""The chart's ranges in days; None is all stored history."""

VIEWS = ("compliance", "rates", "domains")

WIDE = 110
"""From this many columns the rates sit beside the compliance table."""

SETUP_HINT = (
    "No Postmaster credentials. Set postmaster_credentials (a service-account or "
    "authorized-user JSON file) in the profile of the config file, or sign in: "
    "mailscope postmaster --login CLIENT_SECRETS.json"
)

PANE_FOR_CHECK: dict[str, str] = {"ports": "ports", "send": "send", "postmaster": "postmaster"}
"""Console checks that are a pane of their own; every other check id is in Authentication."""


@dataclass(frozen=True, slots=True)
class PostmasterAccess:
    """How the pane reaches Postmaster Tools and where it keeps the days.

    Attributes:
        connect: blocking; returns the googleapiclient resource (see
            console.postmaster.client.build_service) or raises PostmasterError. None
            when no credentials are set up (the pane says how to set them up).
        history_path: the SQLite history; None is the platform's data directory.
        label: how the progress line names the service (`lab emulator`).
        setup_hint: shown instead of fetching when `connect` is None.
    """

    connect: Callable[[], Any] | None
    history_path: Path | None = None
    label: str = "Postmaster Tools"
    setup_hint: str | None = None


def lab_access(lab: Lab, history_path: Path | None, *, timeout: float = 10.0) -> PostmasterAccess:
    """The lab's emulator with its own bearer token (demo mode and tests)."""

    def connect() -> Any:
        from console.postmaster.client import build_service
        from console.postmaster.credentials import lab_credentials

        return build_service(lab_credentials(), endpoint=lab.postmaster_endpoint, timeout=timeout)

    return PostmasterAccess(connect, history_path, "lab emulator")


def profile_access(profile: Profile | None) -> PostmasterAccess:
    """The profile's postmaster_credentials, else the token `--login` saved, else none."""
    from console.postmaster.credentials import default_token_path

    path = profile.postmaster_credentials if profile else None
    if path is None and default_token_path().exists():
        path = default_token_path()
    if path is None:
        return PostmasterAccess(None, setup_hint=SETUP_HINT)
    credentials_path = Path(path).expanduser()

    def connect() -> Any:
        from console.postmaster.client import build_service
        from console.postmaster.credentials import load_credentials

        return build_service(load_credentials(credentials_path))

    return PostmasterAccess(connect, label="Postmaster Tools")


def domain_row(report: PostmasterReport, window: PostmasterReport) -> DomainRow:
    """A batch-view row: newest spam rate, days ≥0.3% in the window, streak, needs work."""
    spam = report.spam_days
    return DomainRow(
        domain=report.domain,
        latest_rate=spam[-1].spam_rate if spam else None,
        latest_date=spam[-1].date.isoformat() if spam else None,
        days_above=window.days_above_0_3,
        streak=report.consecutive_days_below_0_3,
        needs_work=sum(1 for row in report.compliance if not row.compliant)
        if report.compliance
        else None,
        error=report.error if not report.days else None,
    )


def _time(moment: dt.datetime | None) -> str:
    if moment is None:
        return "never"
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _days(count: int) -> str:
    return f"{count} day" if count == 1 else f"{count} days"


class FetchProgress(AuditProgress):
    """`Fetching good.test from lab emulator  1/2 steps` and a bar."""

    verb = "Fetching"
    unit = "steps"


class PostmasterPane(Pane):
    """Spam-rate chart, streak, rates, compliance linked to checks, all domains."""

    DEFAULT_CSS = """
    PostmasterPane {
        layout: vertical;
    }
    #pm-progress {
        height: 1;
        padding: 0 1;
    }
    #pm-notes {
        height: auto;
        max-height: 3;
        padding: 0 1;
    }
    #pm-chart-box {
        height: auto;
        padding: 0 1;
    }
    #pm-chart {
        height: 6;
    }
    #pm-lower {
        height: 1fr;
    }
    #pm-left {
        width: 1fr;
        height: 1fr;
    }
    #pm-switcher, #pm-compliance-view, #pm-domains-view {
        height: 1fr;
    }
    #pm-compliance, #pm-domains {
        height: 1fr;
    }
    #pm-compliance-hint, #pm-domains-note {
        height: auto;
        max-height: 3;
        padding: 0 1;
        color: $text-muted;
    }
    #pm-rates-box {
        width: 1fr;
        height: 1fr;
        padding: 0 1;
        scrollbar-size-vertical: 1;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "r",
            "fetch",
            "Fetch",
            id="postmaster.fetch",
            tooltip="Ask Postmaster Tools again (stored days stay shown)",
        ),
        Binding("x", "cancel", "Cancel", id="postmaster.cancel", tooltip="Stop the running fetch"),
        Binding(
            "d",
            "next_range",
            "Range",
            id="postmaster.range",
            tooltip="Chart 7, 30, 90 days or all stored history (next range)",
        ),
        Binding(
            "v",
            "next_view",
            "View",
            id="postmaster.view",
            tooltip="Switch between compliance, rates and all domains",
        ),
        Binding(
            "g",
            "open_check",
            "Go to check",
            id="postmaster.open-check",
            tooltip="Open the console check that explains and fixes the selected requirement",
        ),
        Binding(
            "c",
            "show_view('compliance')",
            "Compliance",
            id="postmaster.compliance",
            tooltip="Gmail's compliance table, linked to the console's checks",
            show=False,
        ),
        Binding(
            "s",
            "show_view('rates')",
            "Rates",
            id="postmaster.rates",
            tooltip="Authentication and TLS rates, delivery errors, feedback loops",
            show=False,
        ),
        Binding(
            "b",
            "show_view('domains')",
            "All domains",
            id="postmaster.domains",
            tooltip="Every domain of the Postmaster account in one table",
            show=False,
        ),
        Binding(
            "escape",
            "focus_table",
            "Table",
            id="postmaster.focus-table",
            tooltip="Back to the table",
            show=False,
        ),
    ]

    class HistoryLoaded(Message):
        """Run `run` read the stored days (shown before the fetch ends)."""

        def __init__(self, run: int, report: PostmasterReport) -> None:
            super().__init__()
            self.run = run
            self.report = report

    class FetchStep(Message):
        """Run `run` finished one more step."""

        def __init__(self, run: int) -> None:
            super().__init__()
            self.run = run

    class FetchDone(Message):
        """Run `run` ended; `report` is the merged history with the fetch's extras."""

        def __init__(self, run: int, report: PostmasterReport) -> None:
            super().__init__()
            self.run = run
            self.report = report

    class BatchStarted(Message):
        def __init__(self, run: int, total: int) -> None:
            super().__init__()
            self.run = run
            self.total = total

    class BatchLoaded(Message):
        """Batch run `run`: reports of every domain (stored ones first, then fetched)."""

        def __init__(
            self, run: int, reports: list[PostmasterReport], final: bool, error: str | None
        ) -> None:
            super().__init__()
            self.run = run
            self.reports = reports
            self.final = final
            self.error = error

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._services: list[Any] = []
        self._services_lock = threading.Lock()
        self.domain: str | None = None
        self.profile: Profile | None = None
        self.report: PostmasterReport | None = None
        """Every stored day of the domain, with the last fetch's compliance and error."""
        self.fetched = False
        """Whether the last run finished (stored days alone do not count)."""
        self.running = False
        self.range_index = 1
        self.view = "compliance"
        self.batch: list[PostmasterReport] | None = None
        self.batch_running = False
        self.batch_error: str | None = None
        self._batch_final = False
        self._run = 0
        self._batch_run = 0
        self._stale = False
        self._worker: Worker[None] | None = None
        self._batch_worker: Worker[None] | None = None

    # -- layout ------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield FetchProgress(id="pm-progress")
        yield Static(id="pm-notes")
        with Vertical(id="pm-chart-box", classes="pane-box"):
            yield SpamChart(id="pm-chart")
        with Horizontal(id="pm-lower"):
            with (
                Vertical(id="pm-left", classes="pane-box"),
                ContentSwitcher(initial="pm-compliance-view", id="pm-switcher"),
            ):
                with Vertical(id="pm-compliance-view"):
                    yield ComplianceTable(id="pm-compliance")
                    yield Static(id="pm-compliance-hint")
                with Vertical(id="pm-domains-view"):
                    yield PostmasterDomains(id="pm-domains")
                    yield Static(id="pm-domains-note")
            with VerticalScroll(id="pm-rates-box", classes="pane-box"):
                yield RateTable(id="pm-rates")

    def on_mount(self) -> None:
        self.query_one("#pm-rates-box").border_title = "Rates"
        self.query_one(FetchProgress).finish("Pick a domain to see its Gmail spam rate.")
        self.query_one(SpamChart).clear_chart("No domain yet.")
        self.query_one(RateTable).show_report(None)
        self._arrange()
        self._titles()

    def on_resize(self) -> None:
        self._arrange()

    def _arrange(self) -> None:
        wide = self.size.width >= WIDE
        left = self.query_one("#pm-left")
        rates = self.query_one("#pm-rates-box")
        if self.view == "rates":
            left.display = wide
            rates.display = True
        else:
            left.display = True
            rates.display = wide and self.view == "compliance"
        switcher = self.query_one(ContentSwitcher)
        switcher.current = "pm-domains-view" if self.view == "domains" else "pm-compliance-view"
        # A tall terminal gets a taller chart; 80x24 keeps room for the table below.
        self.query_one(SpamChart).styles.height = 12 if self.size.height >= 34 else 6

    def _titles(self) -> None:
        left = self.query_one("#pm-left")
        if self.view == "domains":
            left.border_title = "All domains"
            return
        rows = self.report.compliance if self.report else []
        work = sum(1 for row in rows if not row.compliant)
        left.border_title = f"Compliance · {work} need work" if work else "Compliance"

    def focus_default(self) -> None:
        if self._stale:
            self.start_fetch()
        if self.view == "domains" and self.batch is None and not self.batch_running:
            self.start_batch()
        self.action_focus_table()

    def _shown(self) -> bool:
        node: Widget | None = self
        while isinstance(node, Widget):
            if not node.display:
                return False
            parent = node.parent
            node = parent if isinstance(parent, Widget) else None
        return self.is_mounted

    # -- where the data comes from -----------------------------------------------------

    def access(self) -> PostmasterAccess:
        """The session's access (demo, tests), else the profile's credentials."""
        configured = self.session.postmaster
        if configured is not None:
            return configured
        return profile_access(self.profile)

    def today(self) -> dt.date:
        """The session clock's UTC date (fixed in snapshot tests)."""
        return self.session.clock().astimezone(dt.UTC).date()

    # -- entry points ------------------------------------------------------------------

    def open_domain(self, domain: str, profile: Profile) -> None:
        self.domain = domain
        self.profile = profile
        self.report = None
        self.fetched = False
        if self._shown():
            self.start_fetch()
        else:
            # Asking Google uses the admin's quota: wait until the admin looks here.
            self._run += 1
            self.running = False
            self.workers.cancel_group(self, "postmaster")
            self._stale = True
            self.query_one(FetchProgress).finish(
                Content.assemble(
                    "Postmaster data of ",
                    Content.from_rich_text(literal(domain)),
                    " is fetched when this pane is shown.",
                )
            )

    def start_fetch(self) -> None:
        """(Re)read the stored days of the domain and fetch from Google, cancelling a run."""
        if not self.domain:
            return
        self._stale = False
        self._run += 1
        self.running = True
        self.fetched = False
        access = self.access()
        progress = self.query_one(FetchProgress)
        progress.unit = "steps"
        progress.start(3 if access.connect else 1, f"{self.domain} from {access.label}")
        self.refresh_bindings()
        self._worker = self._fetch(self._run, self.domain, access, self.today())

    def start_batch(self) -> None:
        """(Re)fetch every domain of the account for the batch view."""
        self._batch_run += 1
        self.batch_running = True
        self._batch_final = False
        self.batch_error = None
        self.query_one("#pm-domains-note", Static).update("Reading stored history…")
        self.refresh_bindings()
        self._batch_worker = self._fetch_all(self._batch_run, self.access(), self.today())

    @work(thread=True, exclusive=True, group="postmaster", exit_on_error=False, name="postmaster")
    def _fetch(self, run: int, domain: str, access: PostmasterAccess, today: dt.date) -> None:
        from console.postmaster.client import PostmasterError
        from console.postmaster.history import PostmasterHistory
        from console.postmaster.model import days_from_metrics
        from console.postmaster.stats import FetchOutcome, PostmasterClient, build_report

        worker = get_current_worker()
        try:
            history = PostmasterHistory(access.history_path)
            stored = history.days(domain)
            last = history.last_fetch(domain)
        except (sqlite3.Error, OSError) as exc:
            report = PostmasterReport(domain=domain, error=f"cannot read the history: {exc}")
            self.post_message(self.FetchDone(run, report))
            return
        self.post_message(self.HistoryLoaded(run, build_report(domain, stored, None, last)))
        self.post_message(self.FetchStep(run))
        if access.connect is None:
            report = build_report(domain, stored, None, last)
            report.notes.append(access.setup_hint or SETUP_HINT)
            self.post_message(self.FetchDone(run, report))
            return
        outcome: FetchOutcome
        try:
            client = PostmasterClient(self._live(access.connect()))
        except MailscopeError as exc:
            outcome = FetchOutcome(domain, error=_as_postmaster_error(exc))
        else:
            if worker.is_cancelled:
                return
            self.post_message(self.FetchStep(run))
            outcome = fetch_one(client, domain, today)
        if worker.is_cancelled:
            return
        moment = self.session.clock()
        try:
            if outcome.rows is not None:
                fetched = days_from_metrics(outcome.rows.rows)
                history.store(domain, fetched, moment)
            stored = history.days(domain)
            last = history.last_fetch(domain)
        except (sqlite3.Error, OSError) as exc:
            outcome.error = PostmasterError("history", f"cannot store the days: {exc}")
        self.post_message(self.FetchStep(run))
        self.post_message(self.FetchDone(run, build_report(domain, stored, outcome, last)))

    @work(thread=True, exclusive=True, group="postmaster-batch", exit_on_error=False, name="batch")
    def _fetch_all(self, run: int, access: PostmasterAccess, today: dt.date) -> None:
        from console.postmaster.history import PostmasterHistory
        from console.postmaster.model import days_from_metrics
        from console.postmaster.stats import PostmasterClient, build_report, fetch_domains

        worker = get_current_worker()
        try:
            history = PostmasterHistory(access.history_path)
            stored = [
                build_report(name, history.days(name), None, history.last_fetch(name))
                for name in history.domains()
            ]
        except (sqlite3.Error, OSError) as exc:
            self.post_message(self.BatchLoaded(run, [], True, f"cannot read the history: {exc}"))
            return
        if access.connect is None:
            self.post_message(self.BatchLoaded(run, stored, True, access.setup_hint or SETUP_HINT))
            return
        self.post_message(self.BatchLoaded(run, stored, False, None))
        try:
            client = PostmasterClient(self._live(access.connect()))
            names = client.list_domains()
        except MailscopeError as exc:
            self.post_message(self.BatchLoaded(run, stored, True, exc.msg))
            return
        if worker.is_cancelled:
            return
        self.post_message(self.BatchStarted(run, len(names)))
        outcomes = fetch_domains(
            client,
            names,
            FETCH_DAYS,
            today,
            progress=lambda _name: self.post_message(self.FetchStep(-run)),
        )
        if worker.is_cancelled:
            return
        moment = self.session.clock()
        reports = []
        for outcome in outcomes:
            if outcome.rows is not None:
                history.store(outcome.domain, days_from_metrics(outcome.rows.rows), moment)
            reports.append(
                build_report(
                    outcome.domain,
                    history.days(outcome.domain),
                    outcome,
                    history.last_fetch(outcome.domain),
                )
            )
        self.post_message(self.BatchLoaded(run, reports, True, None))

    # -- messages from the workers -----------------------------------------------------

    def on_postmaster_pane_history_loaded(self, message: HistoryLoaded) -> None:
        if message.run != self._run:
            return
        self.report = message.report
        self._redraw()

    def on_postmaster_pane_fetch_step(self, message: FetchStep) -> None:
        if (message.run == self._run and self.running) or (
            message.run == -self._batch_run and self.batch_running and self.view == "domains"
        ):
            self.query_one(FetchProgress).advance()

    def on_postmaster_pane_fetch_done(self, message: FetchDone) -> None:
        if message.run != self._run:
            return
        self.running = False
        self.fetched = True
        self.report = message.report
        error = message.report.error
        if error:
            notify_text(self, error, title="Postmaster fetch failed", severity="error")
        self.query_one(FetchProgress).finish(self._summary())
        self._redraw()
        self.refresh_bindings()

    def on_postmaster_pane_batch_started(self, message: BatchStarted) -> None:
        if message.run != self._batch_run:
            return
        if self.view == "domains":
            progress = self.query_one(FetchProgress)
            progress.unit = "domains"
            progress.start(message.total, "every domain of the account")

    def on_postmaster_pane_batch_loaded(self, message: BatchLoaded) -> None:
        if message.run != self._batch_run:
            return
        self.batch = message.reports
        self.batch_error = message.error
        self._batch_final = message.final
        if message.final:
            self.batch_running = False
            if self.view == "domains":
                self.query_one(FetchProgress).finish(self._summary())
            if message.error:
                notify_text(self, message.error, title="Cannot list the domains", severity="error")
            self.refresh_bindings()
        self._show_batch()

    @on(Worker.StateChanged)
    def _worker_state(self, event: Worker.StateChanged) -> None:
        """The one place fetch failures and cancellations are handled for this pane."""
        worker = event.worker
        if worker is self._worker and self.running:
            if event.state is WorkerState.CANCELLED:
                self._stopped("Cancelled", None)
            elif event.state is WorkerState.ERROR:
                self._stopped("Fetch failed", worker.error)
        elif worker is self._batch_worker and self.batch_running:
            if event.state is WorkerState.CANCELLED:
                self.batch_running = False
                self.batch_error = "cancelled; the stored days are shown"
                self._show_batch()
            elif event.state is WorkerState.ERROR:
                self.batch_running = False
                self.batch_error = f"the fetch failed: {worker.error}"
                notify_text(self, str(worker.error), title="Fetch failed", severity="error")
                self._show_batch()
            self.refresh_bindings()

    def _stopped(self, what: str, error: BaseException | None) -> None:
        self.running = False
        words = f": {error}" if error is not None else ""
        if error is not None:
            notify_text(self, str(error) or type(error).__name__, title=what, severity="error")
            if self.report is not None:
                self.report.error = f"{what}{words}"
        self.query_one(FetchProgress).finish(
            Content.assemble(
                (what, "bold $text-warning"),
                "; stored days are shown. Press r to fetch again.",
            )
        )
        self._redraw()
        self.refresh_bindings()

    # -- what is shown -----------------------------------------------------------------

    @property
    def range_days(self) -> int | None:
        """The chart's range in days; None is all stored history."""
        return RANGES[self.range_index]

    def window(self) -> tuple[dt.date, dt.date]:
        """The first and last day shown: the range up to today (Google's delay included)."""
        today = self.today()
        days = self.range_days
        if days is None:
            first = self.report.days[0].date if self.report and self.report.days else today
            return min(first, today - dt.timedelta(days=29)), today
        return today - dt.timedelta(days=days - 1), today

    def windowed(self) -> PostmasterReport | None:
        if self.report is None:
            return None
        start, end = self.window()
        return self.report.within((end - start).days + 1, end)

    def _range_name(self) -> str:
        days = self.range_days
        return "all history" if days is None else f"{days} days"

    def _summary(self) -> Content:
        report = self.report
        if report is None:
            return Content("")
        parts: list[Content | str | tuple[str, str]] = []
        if report.error:
            parts.append(("Fetch failed", "bold $text-error"))
            parts.append(" · stored days shown · ")
        elif not self.fetched:
            parts.append(("Stored days", "bold"))
            parts.append(" · ")
        parts.append(Content.from_rich_text(literal(report.domain)))
        parts.append(f" · last fetch {_time(report.fetched_at)}")
        return Content.assemble(*parts)

    def _notes(self, window: PostmasterReport | None) -> Content:
        report = self.report
        if report is None or window is None:
            return Content("")
        start, end = self.window()
        span = (end - start).days + 1
        newest = report.last_data_date
        with_data = len(window.days)
        no_rate = with_data - len(window.spam_days)
        parts: list[Content | str | tuple[str, str]] = [
            f"Newest day {newest.isoformat() if newest else 'none'} "
            f"(Google is ~{DATA_DELAY_DAYS} days late) · {with_data}/{span} days with data"
        ]
        if no_rate:
            parts.append(f", {no_rate} too little mail for a spam rate")
        lines = [Content.assemble(*parts)]
        if report.error:
            lines.append(
                Content.assemble(
                    ("✖ ", "bold $text-error"),
                    Content.from_rich_text(literal(report.error)),
                )
            )
        for note in report.notes:
            if note.startswith("No days with data") and report.error:
                continue
            lines.append(Content.from_rich_text(literal(note, style="dim")))
        return Content("\n").join(lines)

    def _redraw(self) -> None:
        report = self.report
        chart = self.query_one(SpamChart)
        box = self.query_one("#pm-chart-box")
        window = self.windowed()
        start, end = self.window()
        box.border_title = f"Spam rate · {self._range_name()} · {LEGEND}"
        if report is None or window is None:
            chart.clear_chart("No data yet.")
            box.border_subtitle = ""
        else:
            chart.show(
                {day.date: day.spam_rate for day in window.spam_days if day.spam_rate is not None},
                start,
                end,
                empty="No spam rate in this range: too little mail to Gmail, or not fetched.",
            )
            streak = report.consecutive_days_below_0_3
            box.border_subtitle = (
                f"{_days(streak)} in a row below 0.3% (Gmail asks {MITIGATION_STREAK})"
                f" · {_days(window.days_above_0_3)} ≥0.3%"
            )
        self.query_one("#pm-notes", Static).update(self._notes(window))
        self.query_one(RateTable).show_report(window)
        table = self.query_one(ComplianceTable)
        table.show_rows(report.compliance if report else [])
        self._titles()
        self._show_hint()
        if self.batch is not None:
            self._show_batch()

    def _show_hint(self) -> None:
        hint = self.query_one("#pm-compliance-hint", Static)
        report = self.report
        row = self.query_one(ComplianceTable).current_row
        lines: list[Content] = []
        if report is not None and not report.compliance:
            lines.append(
                Content(
                    "No compliance status yet."
                    if not self.fetched
                    else "Google gave no compliance status for this domain."
                )
            )
        if row is not None:
            target = f"g: {row.check} check" if row.check else "no console check"
            lines.append(
                Content.assemble(
                    Content.from_rich_text(literal(meaning(row))),
                    (f" ({target})", "$text-accent"),
                )
            )
        hint.update(Content("\n").join(lines))

    def _show_batch(self) -> None:
        table = self.query_one(PostmasterDomains)
        note = self.query_one("#pm-domains-note", Static)
        reports = self.batch or []
        rows = []
        for report in reports:
            start, end = self.window()
            rows.append(domain_row(report, report.within((end - start).days + 1, end)))
        table.show_rows(rows)
        parts = [
            f"{len(rows)} domains · days ≥0.3% over {self._range_name()} · "
            f"streak of days below 0.3% (Gmail asks {MITIGATION_STREAK}) · enter opens one"
        ]
        if self.batch_running:
            parts.append("Stored days shown; fetching…")
        if self.batch_error:
            parts.append(f"✖ {self.batch_error}")
        note.update(Content.from_rich_text(literal("\n".join(parts))))

    @on(ComplianceTable.RowChosen)
    def _row_chosen(self) -> None:
        self._show_hint()
        self.refresh_bindings()

    @on(ComplianceTable.OpenCheck)
    def _open_check_from_table(self, event: ComplianceTable.OpenCheck) -> None:
        self.open_check(event.requirement, event.check)

    @on(PostmasterDomains.OpenDomain)
    def _open_domain_from_table(self, event: PostmasterDomains.OpenDomain) -> None:
        self.view = "compliance"
        self._arrange()
        self._titles()
        console_app(self).open_domain(event.domain)
        self.call_after_refresh(self.action_focus_table)

    def open_check(self, requirement: str, check: str | None) -> None:
        """Show the console check that explains and fixes `requirement` (if it has one)."""
        if not check:
            notify_text(self, f"No console check covers {requirement}.", severity="warning")
            return
        first = check.split("+")[0]
        pane_id = PANE_FOR_CHECK.get(first, "auth")
        if pane_id == "postmaster":
            notify_text(
                self,
                f"{requirement}: the spam-rate chart above is this requirement; keep it "
                f"below 0.3% for {MITIGATION_STREAK} days in a row.",
                title="Spam rate",
            )
            return
        panes = self.screen.query(f"#{pane_id}-pane")
        show = getattr(self.screen, "action_show_pane", None)
        if not panes or show is None:
            notify_text(
                self,
                f"{requirement}: the {pane_id} pane is not in this console yet; "
                "mailscope send --to ADDR --from ADDR lints the headers and one-click "
                "unsubscribe.",
                title="Not here yet",
                severity="warning",
            )
            return
        show(pane_id)
        target = panes.first()
        select = getattr(target, "select_check", None)
        if pane_id == "auth" and select is not None:
            select(first)

    # -- actions -----------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # False hides what does not apply now, so `q Quit` stays on an 80-column footer.
        if action == "cancel":
            return self.running or self.batch_running
        if action == "fetch":
            return bool(self.domain) or self.view == "domains"
        if action == "open_check":
            return self.view == "compliance" and (
                self.query_one(ComplianceTable).current_row is not None
            )
        return True

    def action_fetch(self) -> None:
        if self.view == "domains":
            self.start_batch()
        else:
            self.start_fetch()

    def action_cancel(self) -> None:
        self.workers.cancel_group(self, "postmaster")
        self.workers.cancel_group(self, "postmaster-batch")
        # A thread worker only notices the cancel between requests: shut the sockets
        # of the services in use, so a request blocked on a slow answer ends now.
        from console.postmaster.client import abort

        with self._services_lock:
            services, self._services = self._services, []
        for service in services:
            abort(service)

    def _live(self, service: Any) -> Any:
        """Remember `service` so a cancel can shut its connections (thread workers)."""
        with self._services_lock:
            self._services = [*self._services[-7:], service]
        return service

    def action_next_range(self) -> None:
        self.range_index = (self.range_index + 1) % len(RANGES)
        self._redraw()

    def set_range(self, days: int | None) -> None:
        """Chart `days` days (7, 30, 90) or all history (None)."""
        self.range_index = RANGES.index(days)
        self._redraw()

    def action_next_view(self) -> None:
        self.action_show_view(VIEWS[(VIEWS.index(self.view) + 1) % len(VIEWS)])

    def action_show_view(self, view: str) -> None:
        self.view = view
        self._arrange()
        self._titles()
        if view == "domains":
            if self.batch is None and not self.batch_running:
                self.start_batch()
            self._show_batch()
        elif not self.running:
            self.query_one(FetchProgress).finish(self._summary())
        self.action_focus_table()
        self.refresh_bindings()

    def action_open_check(self) -> None:
        row = self.query_one(ComplianceTable).current_row
        if row is not None:
            self.open_check(row.requirement, row.check)

    def action_focus_table(self) -> None:
        if self.view == "domains":
            self.query_one(PostmasterDomains).focus()
        elif self.view == "rates" and self.size.width < WIDE:
            self.query_one("#pm-rates-box").focus()
        else:
            self.query_one(ComplianceTable).focus()


def fetch_one(client: Any, domain: str, today: dt.date) -> FetchOutcome:
    """Blocking: one domain's days, feedback loops and compliance (never raises)."""
    from console.postmaster.stats import fetch_domains

    return fetch_domains(client, [domain], FETCH_DAYS, today)[0]


def _as_postmaster_error(exc: MailscopeError) -> Any:
    from console.postmaster.client import PostmasterError

    if isinstance(exc, PostmasterError):
        return exc
    return PostmasterError("config", exc.msg)
