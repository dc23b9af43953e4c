"""The Authentication pane: the audit of SPF, DKIM, DMARC and the rest, live.

The audit runs in a worker; each check's result arrives as a message and fills its
row at once, so progress is visible and the interface never waits. Selecting a check
shows its findings (each with the exact fix, copyable), its data (the SPF include
tree, DKIM selectors, DMARC tags explained) and what changed since the last audit.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.widgets import Static, Tree
from textual.worker import Worker, WorkerState

from console.auth.audit import CHECK_IDS, audit_domain
from console.auth.authoritative import authoritative_servers
from console.auth.options import AuditOptions
from console.config import Profile
from console.export import default_export_name, export_report
from console.history import AUTHORITATIVE, RECURSIVE, Change, diff
from console.model import CheckResult, Report, Status
from console.panes.base import Pane, notify_text
from console.panes.export_dialog import ExportRequest, ExportScreen
from widgets.audit_progress import AuditProgress
from widgets.change_list import ChangeList
from widgets.check_table import CheckTable
from widgets.data_view import DataView
from widgets.dkim_selectors import DkimSelectors
from widgets.dmarc_tags import DmarcTags
from widgets.finding_card import describe_record
from widgets.findings_view import FindingsView, text_to_copy
from widgets.literal import literal
from widgets.mx_records import MxRecords
from widgets.spf_tree import LOOKUP_LIMIT, SpfTree
from widgets.status_badge import NOT_RUN, PENDING, badge

CHECK_TITLES: dict[str, str] = {
    "spf": "SPF",
    "dmarc": "DMARC",
    "dkim": "DKIM",
    "mx": "MX",
    "mta-sts": "MTA-STS",
    "tls-rpt": "TLS-RPT",
    "bimi": "BIMI",
    "dnssec": "DNSSEC",
    "fcrdns": "Reverse DNS",
    "blocklists": "Blocklists",
}

# Data keys a dedicated widget shows, per check; the rest go to the generic DataView.
_SHOWN_ELSEWHERE: dict[str, tuple[str, ...]] = {
    "spf": ("record", "tree"),
    "dmarc": ("record", "tags"),
    "dkim": ("selectors",),
    "mx": ("records",),
}


def _title(check_id: str) -> str:
    return CHECK_TITLES.get(check_id, check_id)


def _time(moment: datetime | str | None) -> str:
    """`2026-11-26 12:00 UTC` from a datetime or a report's `checked_at` string."""
    if isinstance(moment, datetime):
        return moment.strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(moment, str) and moment:
        return moment.replace("T", " ").removesuffix("Z")[:16] + " UTC"
    return "an earlier audit"


class AuthPane(Pane):
    """The audit of one domain: check table, detail, progress, changes."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "rerun", "Re-run", id="auth.rerun", tooltip="Run the audit again"),
        Binding("x", "cancel", "Cancel", id="auth.cancel", tooltip="Stop the running audit"),
        Binding(
            "c",
            "copy_fix",
            "Copy fix",
            id="auth.copy-fix",
            tooltip="Copy the selected finding's record to publish, else its fix "
            "(works over SSH through OSC 52)",
        ),
        Binding(
            "a",
            "toggle_authoritative",
            "Authoritative",
            id="auth.authoritative",
            tooltip="Ask the domain's own nameservers directly, bypassing resolver caches",
        ),
        Binding(
            "e", "export", "Export", id="auth.export", tooltip="Save the report as Markdown or JSON"
        ),
        Binding(
            "escape",
            "focus_checks",
            "Checks",
            id="auth.focus-checks",
            tooltip="Back to the table of checks",
            show=False,
        ),
    ]

    class CheckDone(Message):
        """One check of audit run `run` finished."""

        def __init__(self, run: int, result: CheckResult) -> None:
            super().__init__()
            self.run = run
            self.result = result

    class AuditDone(Message):
        """Audit run `run` finished and was stored in the history."""

        def __init__(
            self,
            run: int,
            report: Report,
            previous: Mapping[str, Any] | None,
            changes: list[Change],
            history_error: str | None,
        ) -> None:
            super().__init__()
            self.run = run
            self.report = report
            self.previous = previous
            self.changes = changes
            self.history_error = history_error

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.domain: str | None = None
        self.profile: Profile | None = None
        self.authoritative = False
        """Whether audits ask the domain's authoritative servers directly."""
        self.report: Report | None = None
        """The last finished audit."""
        self.changes: list[Change] = []
        self.previous: Mapping[str, Any] | None = None
        self.running = False
        self._run = 0
        self._results: dict[str, CheckResult] = {}
        self._check_ids: tuple[str, ...] = CHECK_IDS
        self._shown: str | None = None
        self._audit_worker: Worker[None] | None = None
        self._stop_reason: str | None = None
        """Why the last run stopped early (`cancelled`), shown on checks it did not run."""

    # -- layout ------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield AuditProgress(id="auth-progress")
        with Horizontal(id="auth-body"):
            with Vertical(id="auth-left", classes="pane-box"):
                yield CheckTable(id="auth-checks")
                with VerticalScroll(id="auth-changes-scroll"):
                    yield ChangeList(id="auth-changes")
            with VerticalScroll(id="auth-detail", classes="pane-box"):
                yield Static(id="detail-heading")
                yield Static(id="detail-changes")
                yield FindingsView(id="detail-findings")
                yield Static("Record", classes="section-title", id="record-title")
                yield Static(id="detail-record")
                yield Static(
                    f"Include tree: look-ups counted when a receiver reaches each include "
                    f"(limit {LOOKUP_LIMIT})",
                    classes="section-title",
                    id="spf-tree-title",
                )
                yield SpfTree(id="spf-tree")
                yield Static(id="spf-node-record")
                yield Static("Tags", classes="section-title", id="dmarc-tags-title")
                yield DmarcTags(id="dmarc-tags")
                yield Static("Selectors", classes="section-title", id="dkim-title")
                yield DkimSelectors(id="dkim-selectors")
                yield Static("MX records", classes="section-title", id="mx-title")
                yield MxRecords(id="mx-records")
                yield Static("Details", classes="section-title", id="data-title")
                yield DataView(id="detail-data")

    def on_mount(self) -> None:
        self.query_one("#auth-left").border_title = "Checks"
        self.query_one("#auth-detail").border_title = "Detail"
        self._hide_detail()
        self.query_one("#auth-changes-scroll").display = False
        self.query_one(AuditProgress).finish("Pick a domain to audit.")

    def focus_default(self) -> None:
        self.query_one(CheckTable).focus()

    # -- entry points ------------------------------------------------------------------

    def open_domain(self, domain: str, profile: Profile) -> None:
        self.domain = domain
        self.profile = profile
        self.report = None
        self.start_audit()

    def start_audit(self) -> None:
        """(Re)start the audit of the current domain, cancelling a running one."""
        if not self.domain:
            return
        self._run += 1
        self.running = True
        self._stop_reason = None
        self.report = None
        self._results = {}
        options = self._options()
        self._check_ids = tuple(
            cid for cid in CHECK_IDS if not options.checks or cid in options.checks
        )
        table = self.query_one(CheckTable)
        table.set_checks([(cid, _title(cid)) for cid in self._check_ids])
        where = self.domain + (" (authoritative servers)" if self.authoritative else "")
        self.query_one(AuditProgress).start(len(self._check_ids), where)
        if table.current_check:
            self.call_later(self._show_check, table.current_check)
        self.refresh_bindings()
        self._audit_worker = self._audit(self._run, self.domain, self.authoritative, options)

    def _options(self) -> AuditOptions:
        profile = self.profile
        if profile is None:
            return AuditOptions()
        return AuditOptions(selectors=profile.dkim_selectors, ips=profile.sending_ips)

    @work(exclusive=True, group="audit", exit_on_error=False, name="audit")
    async def _audit(
        self, run: int, domain: str, authoritative: bool, options: AuditOptions
    ) -> None:
        session = self.session
        preferred = self.profile.nameservers if self.profile else ()
        base = await asyncio.to_thread(session.resolver_factory, preferred)
        ctx = base.for_audit()
        label = session.resolver_label or ctx.server_label
        if authoritative:
            servers = await authoritative_servers(ctx, domain)
            # Names in the zone go to its servers, the rest (SPF includes, PTRs,
            # blocklists...) still to the resolver: see SplitResolverContext.
            ctx, label = servers.context, servers.short_label
        self.post_message(self.ResolverInUse(label))

        def progress(result: CheckResult) -> None:
            self.post_message(self.CheckDone(run, result))

        report = await audit_domain(ctx, domain, options, on_check=progress)
        report.checked_at = session.clock()
        previous: Mapping[str, Any] | None = None
        changes: list[Change] = []
        history_error = None
        if session.history is not None and not report.error:
            # Compared only with an audit asked the same way: the resolver's cached view
            # and the servers' current one differ right after an edit, by design.
            mode = AUTHORITATIVE if authoritative else RECURSIVE
            try:
                previous = await asyncio.to_thread(session.history.previous, domain, mode)
                await asyncio.to_thread(session.history.record, report, mode)
            except (sqlite3.Error, OSError) as exc:
                history_error = f"{session.history.path}: {exc}"
            changes = diff(previous, report)
        self.post_message(self.AuditDone(run, report, previous, changes, history_error))

    # -- messages from the worker ------------------------------------------------------

    async def on_auth_pane_check_done(self, message: CheckDone) -> None:
        if message.run != self._run:
            return  # a result from a run cancelled since
        result = message.result
        self._results[result.id] = result
        self.query_one(CheckTable).show_result(result)
        self.query_one(AuditProgress).advance()
        if result.id == self.query_one(CheckTable).current_check:
            await self._show_check(result.id)

    async def on_auth_pane_audit_done(self, message: AuditDone) -> None:
        if message.run != self._run:
            return
        self.running = False
        report = message.report
        self.report = report
        self.previous = message.previous
        self.changes = message.changes
        self._results = {check.id: check for check in report.checks}
        table = self.query_one(CheckTable)
        for check in report.checks:
            table.show_result(check)
        table.mark_changed({change.check for change in self.changes})
        self.query_one(AuditProgress).finish(self._summary(report))
        self._show_changes()
        if message.history_error:
            notify_text(
                self,
                message.history_error,
                title="Could not store the audit in the history",
                severity="warning",
            )
        if report.error:
            notify_text(self, report.error, title="Cannot audit this domain", severity="error")
        self.refresh_bindings()
        current = table.current_check
        if current:
            await self._show_check(current)

    @on(Worker.StateChanged)
    def _worker_state(self, event: Worker.StateChanged) -> None:
        """The one place worker failures and cancellations are handled for this pane."""
        worker = event.worker
        if event.state is WorkerState.CANCELLED and worker.group == "audit":
            if self.running and self._run_is(worker):
                self._stopped("Cancelled", "cancelled")
        elif event.state is WorkerState.ERROR:
            error = worker.error
            what = f"{type(error).__name__}: {error}" if error is not None else "unknown error"
            if worker.group == "audit":
                if self._run_is(worker):
                    self._stopped("Audit failed", "the audit failed")
                notify_text(self, str(error) or what, title="Audit failed", severity="error")
            elif worker.group == "export":
                notify_text(self, str(error) or what, title="Export failed", severity="error")
            else:
                notify_text(self, what, title="Something went wrong", severity="error")

    def _run_is(self, worker: Worker[Any]) -> bool:
        # Only the latest run may change the display; an older cancelled one stays quiet.
        return worker is self._audit_worker

    def _stopped(self, what: str, reason: str) -> None:
        self.running = False
        self._stop_reason = reason
        done = len(self._results)
        table = self.query_one(CheckTable)
        table.mark_unfinished()
        self.query_one(AuditProgress).finish(
            Content.assemble(
                (what, "bold $text-warning"),
                f" after {done}/{len(self._check_ids)} checks; re-run to try again.",
            )
        )
        # The detail panel may still say "running…" for a check that never will.
        current = table.current_check
        if current:
            self.call_later(self._show_check, current)
        self.refresh_bindings()

    # -- what is shown -----------------------------------------------------------------

    def _summary(self, report: Report) -> Content:
        if report.error:
            return Content.assemble(
                ("Cannot audit: ", "bold $text-error"),
                Content.from_rich_text(literal(report.error)),
            )
        counts: dict[Status, int] = {}
        for check in report.checks:
            counts[check.status] = counts.get(check.status, 0) + 1
        parts: list[Content | str] = []
        for status in (Status.FAIL, Status.ERROR, Status.WARN, Status.PASS, Status.SKIP):
            if counts.get(status):
                parts += [badge(status), f" {counts[status]}  "]
        parts.append(f"· checked {_time(report.checked_at)}")
        if self.previous:
            changed = len({change.check for change in self.changes})
            parts.append(f" · {changed} changed" if changed else " · no change")
        return Content.assemble(*parts)

    def _show_changes(self) -> None:
        view = self.query_one(ChangeList)
        self.query_one("#auth-changes-scroll").display = bool(self.report)
        if not self.previous:
            # Audits are compared only with audits asked the same way (see history.py).
            empty = (
                "No earlier audit of the authoritative servers to compare with."
                if self.authoritative
                else "No earlier audit to compare with."
            )
            view.show_changes("Changes", [], empty=empty)
            return
        # The narrow panel gets the time without "UTC"; the status line has it in full.
        heading = f"Since {_time(self.previous.get('checked_at')).removesuffix(' UTC')}"
        view.show_changes(
            heading,
            [change.describe() for change in self.changes],
            empty="Nothing changed.",
        )

    def _hide_detail(self) -> None:
        for widget_id in (
            "detail-changes",
            "record-title",
            "detail-record",
            "spf-tree-title",
            "spf-tree",
            "spf-node-record",
            "dmarc-tags-title",
            "dmarc-tags",
            "dkim-title",
            "dkim-selectors",
            "mx-title",
            "mx-records",
            "data-title",
            "detail-data",
        ):
            self.query_one(f"#{widget_id}").display = False

    @on(CheckTable.CheckHighlighted)
    async def _highlighted(self, event: CheckTable.CheckHighlighted) -> None:
        await self._show_check(event.check_id)

    async def _show_check(self, check_id: str) -> None:
        """Fill the detail panel with `check_id`'s result (or that it is still running)."""
        result = self._results.get(check_id)
        heading = self.query_one("#detail-heading", Static)
        findings = self.query_one(FindingsView)
        status = self.query_one(CheckTable).status_of(check_id)
        self._shown = check_id
        self._hide_detail()
        if result is None:
            state = NOT_RUN if status == NOT_RUN else PENDING
            if state == PENDING:
                words = "running…"
            else:
                words = f"not run ({self._stop_reason})" if self._stop_reason else "not run"
            heading.update(
                Content.assemble((_title(check_id), "bold"), "  ", badge(state), "  ", words)
            )
            await findings.show([])
            self.refresh_bindings()
            return
        heading.update(
            Content.assemble(
                (_title(check_id), "bold"),
                "  ",
                badge(result.status),
                "  ",
                Content.from_rich_text(literal(result.summary)),
            )
        )
        self._show_check_changes(check_id)
        await findings.show(result.findings, empty_text="No findings: nothing to fix here.")
        data = result.data or {}
        self._show_record(data)
        if check_id == "spf":
            self._show_spf(data)
        elif check_id == "dmarc":
            tags = data.get("tags")
            self._section("dmarc-tags-title", "dmarc-tags", bool(tags))
            self.query_one(DmarcTags).show_tags(tags if isinstance(tags, list) else None)
        elif check_id == "dkim":
            selectors = data.get("selectors")
            self._section("dkim-title", "dkim-selectors", bool(selectors))
            self.query_one(DkimSelectors).show_selectors(
                selectors if isinstance(selectors, list) else None
            )
        elif check_id == "mx":
            records = data.get("records")
            self._section("mx-title", "mx-records", bool(records))
            self.query_one(MxRecords).show_records(records if isinstance(records, list) else None)
        skip = _SHOWN_ELSEWHERE.get(check_id, ("record",))
        rest = {key: value for key, value in data.items() if key not in skip}
        self._section("data-title", "detail-data", bool(rest))
        self.query_one(DataView).show_data(rest)
        self.refresh_bindings()  # whether there is a fix to copy depends on the check shown

    def _section(self, title_id: str, body_id: str, shown: bool) -> None:
        self.query_one(f"#{title_id}").display = shown
        self.query_one(f"#{body_id}").display = shown

    def _show_record(self, data: Mapping[str, Any]) -> None:
        record = data.get("record")
        if isinstance(record, list):
            record = "\n".join(str(item) for item in record)
        shown = isinstance(record, str) and bool(record)
        self._section("record-title", "detail-record", shown)
        if shown:
            self.query_one("#detail-record", Static).update(literal(record))

    def _show_spf(self, data: Mapping[str, Any]) -> None:
        tree = data.get("tree")
        spf_tree = self.query_one(SpfTree)
        shown = isinstance(tree, Mapping) and bool(tree)
        self._section("spf-tree-title", "spf-tree", shown)
        spf_tree.show_tree(tree if shown else None)  # type: ignore[arg-type]
        self.query_one("#spf-node-record").display = False

    @on(Tree.NodeHighlighted, "#spf-tree")
    def _spf_node(self, event: Tree.NodeHighlighted[dict[str, Any]]) -> None:
        event.stop()
        node = event.node.data or {}
        record = node.get("record")
        target = self.query_one("#spf-node-record", Static)
        target.display = bool(record) and self.query_one(SpfTree).has_focus
        if record:
            target.update(literal(record))

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        # The record of the highlighted include shows while the tree has the focus.
        if not isinstance(event.widget, SpfTree):
            return
        node = event.widget.cursor_node
        if node is not None and node.data and node.data.get("record"):
            target = self.query_one("#spf-node-record", Static)
            target.update(literal(node.data["record"]))
            target.display = True

    def _show_check_changes(self, check_id: str) -> None:
        target = self.query_one("#detail-changes", Static)
        mine = [change for change in self.changes if change.check == check_id]
        target.display = bool(mine)
        if not mine:
            return
        since = _time(self.previous.get("checked_at") if self.previous else None)
        text = Text(f"Changed since {since}:", style="bold")
        for change in mine:
            text.append("\n• ")
            text.append_text(literal(change.describe()))
            if change.kind == "record" and change.old is not None:
                text.append("\n  was: ", style="dim")
                text.append_text(literal(change.old))
        target.update(text)

    # -- actions -----------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # False hides a binding that does not apply now; a disabled one (None) would
        # still take footer space, and push `q Quit` off an 80-column footer mid-audit.
        if action == "cancel":
            return self.running
        if action == "rerun":
            return bool(self.domain)
        if action == "copy_fix":
            return self.query_one(FindingsView).fix_to_copy() is not None
        if action == "export":
            return self.report is not None
        if action == "toggle_authoritative":
            return bool(self.domain)
        return True

    def action_rerun(self) -> None:
        self.start_audit()

    def action_cancel(self) -> None:
        self.workers.cancel_group(self, "audit")

    def action_copy_fix(self) -> None:
        finding = self.query_one(FindingsView).fix_to_copy()
        if finding is None:
            self.notify("This check has no fix to copy.", severity="warning")
            return
        kind, text = text_to_copy(finding)
        self.app.copy_to_clipboard(text)
        if kind == "record":
            message = f"Copied {describe_record(text)} to publish for {finding.code}."
        else:
            message = f"Copied the fix for {finding.code} (advice: no record to publish)."
        notify_text(self, message, title="Copied")

    def action_toggle_authoritative(self) -> None:
        self.authoritative = not self.authoritative
        self.notify(
            "Asking the domain's authoritative nameservers directly."
            if self.authoritative
            else "Asking the configured resolver again.",
            title="Authoritative on" if self.authoritative else "Authoritative off",
        )
        self.start_audit()

    def action_focus_checks(self) -> None:
        self.query_one(CheckTable).focus()

    def action_export(self) -> None:
        report = self.report
        if report is None:
            return
        # Relative: saved in the directory mailscope was started from.
        default = Path(default_export_name(report))

        def chosen(request: ExportRequest | None) -> None:
            if request is not None:
                self._export(report, request)

        self.app.push_screen(ExportScreen(default), chosen)

    @work(group="export", exit_on_error=False, name="export")
    async def _export(self, report: Report, request: ExportRequest) -> None:
        path = await asyncio.to_thread(export_report, report, request.path, request.fmt)
        notify_text(self, str(path), title="Report saved")

    # -- for tests and scripts ---------------------------------------------------------

    def select_check(self, check_id: str) -> None:
        """Move the table's cursor to `check_id` (its detail follows)."""
        self.query_one(CheckTable).select_check(check_id)

    @property
    def shown_check(self) -> str | None:
        return self._shown

    def results(self) -> Sequence[CheckResult]:
        return list(self._results.values())
