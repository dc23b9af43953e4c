"""The Bounces pane: a folder of non-delivery reports folded into what to fix first.

The admin types a path (an .eml, an mbox, a maildir or any folder; `~` expanded) or
pastes SMTP replies from a log (`p`). Reading runs in a thread worker, one message at
a time, so thousands of messages never block the interface; the status line counts
the messages read and Escape cancels. The groups table lists (reason, provider)
groups in the engine's order (sender-side problems first, list hygiene next,
transient trouble last). The selected group is explained beside it: the reason in
words, the provider's documented meaning, the fix (`c` copies it), the console check
that confirms it (`g` jumps to it) and the most frequent diagnostics (addresses and
ids masked); its messages are listed, and Enter on one opens the original message,
shown literally. `e` exports one CSV row per recipient.

`d` switches the pane to DMARC aggregate reports (RUA .xml, .xml.gz, .zip): sources
by IP with their reverse DNS, volumes, pass/fail and why. In demo mode the pane loads
the lab's demo campaign (and demo reports) by itself the first time it is shown.

Remote text (diagnostics, subjects, addresses, whole messages) only ever reaches the
screen through `widgets.literal`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Label, Static, TextArea
from textual.worker import Worker, WorkerState, get_current_worker

from console.bounce.campaign import Campaign, CampaignBuilder, Group, write_csv
from console.bounce.model import (
    KIND_AUTO_REPLY,
    KIND_DELAYED,
    KIND_DELIVERED,
    KIND_UNKNOWN,
    BounceResult,
)
from console.bounce.reader import analyse, analyse_bytes, iter_inputs, raw_message
from console.config import Profile
from console.panes.base import Pane, notify_text
from console.panes.export_dialog import export_target
from widgets.bounce_detail import BounceDetail, NotCounted, check_words
from widgets.bounce_groups import BounceGroups
from widgets.bounce_messages import BounceMessages
from widgets.dmarc_sources import DmarcSources, render_domains, render_source
from widgets.literal import literal
from widgets.original_message import OriginalMessage

if TYPE_CHECKING:
    from console.bounce.aggregate import Summary

WIDE = 110
"""From this many columns the messages sit beside the detail instead of replacing it."""

PROGRESS_EVERY = 0.1
"""Seconds between progress messages from the reading thread (not one per message)."""

YIELD_EVERY = 10
"""Messages between explicit GIL hand-overs of the reading thread. Measured: without
them, reading a 5,000-entry mbox in the thread kept the event loop from running for
the whole 1.5 s (the mbox reading starved it; classifying alone did not); with a
`time.sleep(0)` every 10 messages the loop ticks every ~11 ms and reading is as fast."""

PASTED_LABEL = "pasted"
"""The file label of SMTP replies pasted into the dialog."""

PANE_FOR_CHECK: dict[str, tuple[str, str]] = {
    "ports": ("ports", "Ports"),
    "send": ("send", "Send"),
    "postmaster": ("postmaster", "Postmaster"),
}
"""Console checks that are a pane of their own; every other check id is in Authentication."""


def demo_folder() -> Path:
    """The lab's demo data for this pane (console/lab/bounces), shipped in the package."""
    import importlib.resources

    return Path(str(importlib.resources.files("console.lab").joinpath("bounces")))


def demo_campaign_path() -> Path:
    """The demo campaign: ~20 bounces of several MTAs and reasons, an auto-reply, a delay."""
    return demo_folder() / "campaign"


def demo_reports_path() -> Path:
    """The demo DMARC aggregate reports of the campaign's sending domain."""
    return demo_folder() / "dmarc"


def read_original(label: str, pasted: dict[str, str] | None = None) -> str:
    """The raw text of the message a result's `label` names (blocking: reads the file).

    Labels are what the reader gave: a path, `path#N` for an mbox entry or the N-th
    of several pasted replies, or `pasted` for the dialog. Bytes that are not UTF-8 are
    shown as `\\xNN` escapes, never guessed.

    Raises:
        OSError: with a one-line reason when the message cannot be read again.
    """
    pasted = pasted or {}
    base, _, number = label.rpartition("#")
    if label in pasted:
        return pasted[label]
    if base in pasted and number.isdigit():
        return pasted[base]
    data = raw_message(label)
    if data is None:
        raise OSError(f"{label}: cannot be read again (the file changed or is gone)")
    return data.decode("utf-8", "backslashreplace")


def path_problem(path: Path) -> str | None:
    """Why `path` cannot be loaded from the path line (one line), or None.

    Only folders and regular files are read: a FIFO would block the reading thread in
    `open` until some writer came, so it (and sockets, devices) is refused up front.
    """
    try:
        info = path.stat()
    except FileNotFoundError:
        return "no such file or folder"
    except (OSError, ValueError) as exc:
        return f"cannot read: {getattr(exc, 'strerror', None) or exc}"
    if stat.S_ISDIR(info.st_mode):
        return None if os.access(path, os.R_OK | os.X_OK) else "cannot read: permission denied"
    if not stat.S_ISREG(info.st_mode):
        return "not a file or folder (a FIFO, socket or device): nothing read"
    if not os.access(path, os.R_OK):
        return "cannot read: permission denied"
    return None


@dataclass(slots=True)
class Loaded:
    """What one load produced: the campaign, every result, and where it came from."""

    campaign: Campaign
    results: list[BounceResult]
    root: str
    """The path loaded (file labels are shown relative to it), or `pasted`."""


@dataclass(slots=True)
class Source:
    """What to load: paths, or pasted text."""

    paths: list[str] = field(default_factory=list)
    pasted: str | None = None
    label: str = ""
    """How the status line names it (`~/bounces`, `the demo campaign`)."""


def not_counted(campaign: Campaign, short: Any = None) -> NotCounted:
    """The campaign's auto-replies, delays and other messages, and its problems."""
    kinds = campaign.kinds
    problems = [short(p) if short else p for p in campaign.problems]
    return NotCounted(
        auto_replies=kinds.get(KIND_AUTO_REPLY, 0),
        delays=kinds.get(KIND_DELAYED, 0),
        delivered=kinds.get(KIND_DELIVERED, 0),
        unknown=kinds.get(KIND_UNKNOWN, 0),
        problems=problems,
    )


# -- dialogs -------------------------------------------------------------------------------


class PasteScreen(ModalScreen[str | None]):
    """Paste SMTP replies (a multi-line `550-5.7.26 ...` answer, log lines) to classify."""

    DEFAULT_CSS = """
    PasteScreen {
        align: center middle;
    }
    #bounces-paste-box {
        width: 90;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        border: thick $accent;
        background: $surface;
        padding: 0 1;
    }
    #bounces-paste-title {
        text-style: bold;
        color: $text-accent;
    }
    #bounces-paste-hint {
        color: $text-muted;
    }
    #bounces-paste-text {
        height: 12;
        max-height: 60vh;
    }
    #bounces-paste-buttons {
        height: auto;
        align-horizontal: right;
    }
    #bounces-paste-buttons Button {
        margin-left: 1;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="bounces.paste-cancel", tooltip="Read nothing"),
        Binding(
            "ctrl+s",
            "read",
            "Read",
            id="bounces.paste-read",
            tooltip="Classify the pasted replies",
        ),
    ]

    def compose(self) -> ComposeResult:
        with Vertical(id="bounces-paste-box"):
            yield Static("Paste SMTP replies", id="bounces-paste-title")
            yield Static(
                "Paste replies from a log or a bounce (multi-line 550-… answers are joined); "
                "ctrl+s reads them.",
                id="bounces-paste-hint",
            )
            yield TextArea(id="bounces-paste-text", soft_wrap=True, tab_behavior="focus")
            with Horizontal(id="bounces-paste-buttons"):
                yield Button("Read", variant="primary", id="bounces-paste-read")
                yield Button("Cancel", id="bounces-paste-cancel")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(TextArea).focus()

    @on(Button.Pressed, "#bounces-paste-read")
    def action_read(self) -> None:
        text = self.query_one(TextArea).text
        if not text.strip():
            self.notify("Paste at least one SMTP reply first.", severity="warning")
            return
        self.dismiss(text)

    @on(Button.Pressed, "#bounces-paste-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class CsvExportScreen(ModalScreen[Path | None]):
    """Where to save the CSV (default in the current directory); replacing asks twice."""

    DEFAULT_CSS = """
    CsvExportScreen {
        align: center middle;
    }
    #bounces-export-box {
        width: 72;
        max-width: 100%;
        height: auto;
        border: thick $accent;
        background: $surface;
        padding: 0 2;
    }
    #bounces-export-note {
        color: $text-warning;
        height: auto;
    }
    #bounces-export-buttons {
        height: auto;
        align-horizontal: right;
        margin-bottom: 1;
    }
    #bounces-export-buttons Button {
        margin-left: 1;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="bounces.export-cancel", tooltip="Do not export"),
    ]

    def __init__(self, default_path: Path, rows: int, *, cursor_blink: bool = True) -> None:
        super().__init__()
        self._default = default_path
        self._rows = rows
        self._blink = cursor_blink
        self._confirmed: Path | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="bounces-export-box"):
            yield Static("Export the bounces as CSV", classes="modal-title")
            yield Static(
                f"One row per recipient ({self._rows}), with its group's reason and provider.",
                classes="field-label",
            )
            field_ = Input(value=str(self._default), id="bounces-export-path")
            field_.cursor_blink = self._blink
            yield field_
            yield Static(id="bounces-export-note")
            with Horizontal(id="bounces-export-buttons"):
                yield Button("Save", variant="primary", id="bounces-export-save")
                yield Button("Cancel", id="bounces-export-cancel")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#bounces-export-path", Input).focus()

    @on(Input.Submitted, "#bounces-export-path")
    @on(Button.Pressed, "#bounces-export-save")
    def _save(self) -> None:
        text = self.query_one("#bounces-export-path", Input).value
        path, problem, self._confirmed = export_target(text, self._confirmed)
        if path is None:
            self.query_one("#bounces-export-note", Static).update(literal(problem))
            return
        self.dismiss(path)

    @on(Button.Pressed, "#bounces-export-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class OriginalMessageScreen(ModalScreen[None]):
    """The original message of a bounce, literally, with what the reader made of it."""

    DEFAULT_CSS = """
    OriginalMessageScreen {
        align: center middle;
    }
    #bounces-original-box {
        width: 100%;
        height: 100%;
        border: thick $accent;
        background: $surface;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "escape", "close", "Close", id="bounces.original-close", tooltip="Back to the group"
        ),
        Binding("q", "close", "Close", id="bounces.original-q", show=False, tooltip="Close"),
    ]

    def __init__(self, label: str, shown: str, results: Sequence[BounceResult], raw: str) -> None:
        super().__init__()
        self._label = label
        self._shown = shown
        self._results = list(results)
        self._raw = raw

    def compose(self) -> ComposeResult:
        with Vertical(id="bounces-original-box"):
            yield OriginalMessage(self._shown, self._results, self._raw, id="bounces-original")
        yield Footer()

    def on_mount(self) -> None:
        box = self.query_one("#bounces-original-box")
        box.border_title = Content.assemble(
            "Original message · ", Content.from_rich_text(literal(self._shown))
        )
        self.query_one("#original-scroll").focus()

    def action_close(self) -> None:
        self.dismiss(None)


# -- the pane ------------------------------------------------------------------------------


class BouncesPane(Pane):
    """Source line, status, groups (fix first), the group's detail and its messages."""

    DEFAULT_CSS = """
    BouncesPane {
        layout: vertical;
    }
    #bounces-source-row {
        height: 1;
        padding: 0 1;
    }
    #bounces-source-label {
        width: auto;
        color: $text-muted;
        margin-right: 1;
    }
    #bounces-path {
        width: 1fr;
    }
    #bounces-status {
        height: auto;
        max-height: 2;
        padding: 0 1;
    }
    #bounces-groups-box, #bounces-sources-box {
        height: auto;
        max-height: 40%;
    }
    #bounces-sources-box {
        display: none;
    }
    BouncesPane.-dmarc #bounces-sources-box {
        display: block;
    }
    BouncesPane.-dmarc #bounces-groups-box, BouncesPane.-dmarc #bounces-messages-box {
        display: none;
    }
    #bounces-body {
        height: 1fr;
    }
    #bounces-detail-box {
        width: 1fr;
        height: 1fr;
        padding: 0 1;
        scrollbar-size-vertical: 1;
    }
    #bounces-messages-box {
        width: 1fr;
        height: 1fr;
    }
    #bounces-messages {
        height: 1fr;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "ctrl+o",
            "load",
            "Load",
            id="bounces.load",
            tooltip="Read the file, mbox, maildir or folder typed in the path line",
            show=False,  # enter in the path line does the same
        ),
        Binding(
            "l",
            "focus_path",
            "Path",
            id="bounces.path",
            tooltip="Type the path of bounces (or DMARC reports) to read",
            show=False,  # tab reaches the path line too; q Quit keeps its place
        ),
        Binding(
            "p",
            "paste",
            "Paste",
            id="bounces.paste",
            tooltip="Paste SMTP replies from a log to classify them",
        ),
        Binding(
            "v",
            "open_selected",
            "Open",
            id="bounces.open",
            tooltip="Open the selected group's messages, or the selected message itself "
            "(enter in the tables does the same)",
            # Not "enter": the focused table's own enter would hide it from the palette.
            show=False,
        ),
        Binding(
            "g",
            "open_check",
            "Check",
            id="bounces.open-check",
            tooltip="Open the console check that confirms the selected group's fix",
        ),
        Binding(
            "c",
            "copy_fix",
            "Copy fix",
            id="bounces.copy-fix",
            tooltip="Copy the selected group's fix (works over SSH through OSC 52)",
            show=False,
        ),
        Binding(
            "m",
            "toggle_messages",
            "Messages",
            id="bounces.messages",
            tooltip="Show or hide the messages of the selected group (enter on a group shows "
            "them too)",
        ),
        Binding(
            "e",
            "export",
            "Export",
            id="bounces.export",
            tooltip="Save one CSV row per recipient",
        ),
        Binding(
            "d",
            "show_mode('dmarc')",
            "DMARC",
            id="bounces.dmarc",
            tooltip="Show DMARC aggregate reports: sources by IP, pass/fail and why",
        ),
        Binding(
            "d",
            "show_mode('bounces')",
            "Bounces",
            id="bounces.bounces",
            tooltip="Back to the bounces of the campaign",
        ),
        Binding(
            "escape",
            "cancel",
            "Cancel",
            id="bounces.cancel",
            tooltip="Stop reading (what is shown stays as it was)",
        ),
        Binding(
            "escape",
            "focus_table",
            "Back",
            id="bounces.focus-table",
            tooltip="Back to the groups (from the path line, or from messages shown in the "
            "detail's place)",
            show=False,
        ),
    ]

    class Progress(Message):
        """Run `run` has read `messages` messages (or reports: `noun`) so far."""

        def __init__(self, run: int, messages: int, noun: str = "messages read") -> None:
            super().__init__()
            self.run = run
            self.messages = messages
            self.noun = noun

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, BouncesPane.Progress) and message.run == self.run

    class Done(Message):
        """Run `run` finished (or stopped, with what was read until then)."""

        def __init__(self, run: int, loaded: Loaded) -> None:
            super().__init__()
            self.run = run
            self.loaded = loaded

    class ReportsDone(Message):
        """Run `run` read DMARC reports: the summary across them."""

        def __init__(self, run: int, summary: Summary, root: str) -> None:
            super().__init__()
            self.run = run
            self.summary = summary
            self.root = root

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.loaded: Loaded | None = None
        """The last finished load of bounces."""
        self.summary: Summary | None = None
        """The last finished load of DMARC reports."""
        self.running: str | None = None
        """`bounces` or `dmarc` while a worker reads."""
        self.read_count = 0
        """Messages read so far by the running load."""
        self.mode = "bounces"
        """`bounces` or `dmarc`: what the pane shows."""
        self.show_messages: bool | None = None
        """Whether the messages are shown; None follows the width."""
        self.original: OriginalMessageScreen | None = None
        """The original-message view, while it is open."""
        self._run = 0
        self._worker: Worker[Any] | None = None
        self._demo_loaded: set[str] = set()
        self._pasted: dict[str, str] = {}
        self._source_label = ""
        self._reports_root = ""
        self.profile: Profile | None = None

    # -- layout ------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Horizontal(id="bounces-source-row"):
            yield Label("Bounces:", id="bounces-source-label")
            yield Input(id="bounces-path", compact=True)
        yield Static(id="bounces-status")
        with Vertical(id="bounces-groups-box", classes="pane-box"):
            yield BounceGroups(id="bounces-groups")
        with Vertical(id="bounces-sources-box", classes="pane-box"):
            yield DmarcSources(id="bounces-sources")
        with Horizontal(id="bounces-body"):
            with VerticalScroll(id="bounces-detail-box", classes="pane-box"):
                yield BounceDetail(id="bounces-detail")
            with Vertical(id="bounces-messages-box", classes="pane-box"):
                yield BounceMessages(id="bounces-messages")

    def on_mount(self) -> None:
        self.query_one("#bounces-groups-box").border_title = "Groups · fix first"
        self.query_one("#bounces-sources-box").border_title = "DMARC sources · by volume"
        self.query_one("#bounces-detail-box").border_title = "Detail"
        self.query_one("#bounces-messages-box").border_title = "Messages · enter opens"
        self.query_one("#bounces-path", Input).cursor_blink = self.session.cursor_blink
        self._set_placeholder()
        self._status_idle()
        self._show_selected()
        self._arrange()

    def on_resize(self) -> None:
        self._arrange()

    def _messages_visible(self) -> bool:
        if self.mode != "bounces":
            return False
        if self.show_messages is None:
            return self.size.width >= WIDE
        return self.show_messages

    def _arrange(self) -> None:
        """Messages beside the detail when wide; instead of it when narrow."""
        shown = self._messages_visible()
        wide = self.size.width >= WIDE
        self.query_one("#bounces-messages-box").display = shown
        self.query_one("#bounces-detail-box").display = wide or not shown

    def _set_placeholder(self) -> None:
        field_ = self.query_one("#bounces-path", Input)
        label = self.query_one("#bounces-source-label", Label)
        if self.mode == "dmarc":
            label.update("Reports:")
            field_.placeholder = "RUA .xml, .xml.gz, .zip or a folder — enter reads"
        else:
            label.update("Bounces:")
            field_.placeholder = "file, mbox, maildir or folder — enter reads; p pastes replies"

    def focus_default(self) -> None:
        if self.session.demo_domains and self.mode not in self._demo_loaded and not self.running:
            self._demo_loaded.add(self.mode)
            if self.mode == "dmarc":
                self.start_reports([str(demo_reports_path())], "the demo reports")
            else:
                self.start_load(
                    Source(paths=[str(demo_campaign_path())], label="the demo campaign")
                )
        self._focus_table()

    def _focus_table(self) -> None:
        if self.mode == "dmarc":
            self.query_one(DmarcSources).focus()
        else:
            self.query_one(BounceGroups).focus()

    def open_domain(self, domain: str, profile: Profile) -> None:
        """Bounces are read from files, not from the domain; only the profile's
        nameservers matter (the reverse DNS of DMARC report sources)."""
        self.profile = profile

    # -- loading bounces ---------------------------------------------------------------

    def start_load(self, source: Source) -> None:
        """Read `source` in a thread worker (cancelling a running load)."""
        self._run += 1
        self.running = "bounces"
        self.read_count = 0
        self._source_label = source.label
        if source.pasted is not None:
            self._pasted = {PASTED_LABEL: source.pasted}
        self.query_one("#bounces-status", Static).update(
            Content.assemble(
                ("Reading ", "bold"), Content.from_rich_text(literal(source.label)), "…"
            )
        )
        self.refresh_bindings()
        self._worker = self._load(self._run, source)

    @work(thread=True, exclusive=True, group="bounces", exit_on_error=False, name="bounces")
    def _load(self, run: int, source: Source) -> None:
        worker = get_current_worker()
        builder = CampaignBuilder()
        results: list[BounceResult] = []
        last = time.monotonic()
        if source.pasted is not None:
            batches: Any = [analyse_bytes(source.pasted.encode("utf-8"), PASTED_LABEL)]
        else:
            batches = (analyse(raw) for raw in iter_inputs(source.paths))
        for read, batch in enumerate(batches, start=1):
            if worker.is_cancelled:
                return  # the pane already said so; what was read is dropped
            for result in batch:
                builder.add(result)
                results.append(result)
            if read % YIELD_EVERY == 0:
                time.sleep(0)  # hand the GIL to the event loop (see YIELD_EVERY)
            now = time.monotonic()
            if now - last >= PROGRESS_EVERY:
                last = now
                self.post_message(self.Progress(run, read))  # thread-safe
        root = source.paths[0] if len(source.paths) == 1 else ""
        if source.pasted is not None:
            root = PASTED_LABEL
        loaded = Loaded(builder.build(), results, root)
        self.post_message(self.Done(run, loaded))

    def on_bounces_pane_progress(self, message: Progress) -> None:
        if message.run != self._run or self.running is None:
            return
        self.read_count = message.messages
        self.query_one("#bounces-status", Static).update(
            Content.assemble(
                ("Reading ", "bold"),
                Content.from_rich_text(literal(self._source_label)),
                f"…  {message.messages} {message.noun}",
                ("  · escape cancels", "$text-muted"),
            )
        )

    def on_bounces_pane_done(self, message: Done) -> None:
        if message.run != self._run:
            return
        self.running = None
        self.loaded = message.loaded
        self.read_count = message.loaded.campaign.messages
        groups = self.query_one(BounceGroups)
        groups.show(message.loaded.campaign.groups)
        self._status_loaded()
        self._show_selected()
        self.refresh_bindings()

    @on(Worker.StateChanged)
    def _worker_state(self, event: Worker.StateChanged) -> None:
        """The one place load failures and cancellations are handled for this pane."""
        if event.worker is not self._worker or self.running is None:
            return
        if event.state is WorkerState.CANCELLED:
            what = self.running
            self.running = None
            self._run += 1  # whatever the thread still posts belongs to a dead run
            noun = "reports" if what == "dmarc" else f"after {self.read_count} messages"
            self.query_one("#bounces-status", Static).update(
                Content.assemble(
                    ("Cancelled", "bold $text-warning"),
                    f": stopped reading {noun}; nothing shown changed. ",
                    ("l, then enter, reads again.", "$text-muted"),
                )
            )
            self.refresh_bindings()
        elif event.state is WorkerState.ERROR:
            error = event.worker.error
            self.running = None
            self.refresh_bindings()
            text = f"{type(error).__name__}: {error}" if error else "unknown error"
            self.query_one("#bounces-status", Static).update(
                Content.assemble(("Reading failed: ", "bold $text-error"), _literal(text))
            )
            notify_text(self, text, title="Reading failed", severity="error")

    # -- what is shown -----------------------------------------------------------------

    def short(self, label: str) -> str:
        """`label` relative to the folder loaded, so rows stay readable at 80 columns."""
        root = self.loaded.root if self.loaded else ""
        if not root or root == PASTED_LABEL:
            return label
        prefix = root.rstrip(os.sep) + os.sep
        if label.startswith(prefix):
            return label[len(prefix) :]
        if label == root or label.startswith(root + "#"):
            return Path(root).name + label[len(root) :]
        return label

    def _short_problem(self, problem: str) -> str:
        root = self.loaded.root if self.loaded else ""
        if root and root != PASTED_LABEL:
            problem = problem.replace(root.rstrip(os.sep) + os.sep, "")
        return problem

    def _status_idle(self) -> None:
        status = self.query_one("#bounces-status", Static)
        if self.mode == "dmarc":
            status.update(
                Content.styled(
                    "Type the path of DMARC aggregate reports, then enter.", "$text-muted"
                )
            )
        else:
            status.update(
                Content.styled(
                    "Type the path of a folder of bounces (or an mbox), then enter; "
                    "p pastes SMTP replies.",
                    "$text-muted",
                )
            )

    def _status_loaded(self) -> None:
        loaded = self.loaded
        status = self.query_one("#bounces-status", Static)
        if loaded is None:
            self._status_idle()
            return
        campaign = loaded.campaign
        seen = not_counted(campaign)
        messages = campaign.messages
        parts: list[Content | str | tuple[str, str]] = []
        parts += [
            f"{messages} message{'' if messages == 1 else 's'}",
            (" · ", "$text-muted"),
            (f"{campaign.failed} failed", "bold"),
            f" ({campaign.hard} hard) in {len(campaign.groups)} groups",
        ]
        ignored = seen.auto_replies + seen.delays + seen.delivered
        if ignored:
            parts += [(" · ", "$text-muted"), f"{ignored} ignored"]
        if seen.problems:
            parts += [(" · ", "$text-muted"), (f"{len(seen.problems)} skipped", "$text-warning")]
        status.update(Content.assemble(*parts))

    @on(BounceGroups.GroupHighlighted)
    def _group_highlighted(self, event: BounceGroups.GroupHighlighted) -> None:
        self._show_selected()

    @on(BounceGroups.GroupChosen)
    def _group_chosen(self, event: BounceGroups.GroupChosen) -> None:
        self.show_group_messages()

    def show_group_messages(self) -> None:
        """The selected group's messages (beside the detail when wide, else in its place)."""
        if self.current_group is None:
            return
        self.show_messages = True
        self._arrange()
        self.query_one(BounceMessages).focus()

    def action_open_selected(self) -> None:
        messages = self.query_one(BounceMessages)
        index = messages.current_index
        if messages.has_focus and index is not None:
            self.open_message(messages.members[index][0])
        else:
            self.show_group_messages()

    def _check_hint(self, check: str | None) -> str:
        if not check:
            return ""
        first = check_words(check).split(", ")[0]
        pane = PANE_FOR_CHECK.get(first)
        where = pane[1] if pane else "Authentication"
        return f"  · g opens it in the {where} pane"

    def _show_selected(self) -> None:
        """Fill the detail and the messages with the group under the cursor."""
        if self.mode == "dmarc":
            self._show_source()
            return
        detail = self.query_one(BounceDetail)
        messages = self.query_one(BounceMessages)
        loaded = self.loaded
        if loaded is None:
            detail.show(None, empty_text="No bounces read yet.")
            messages.show([])
            self.query_one("#bounces-detail-box").border_title = "Detail"
            return
        group = self.query_one(BounceGroups).current_group
        seen = not_counted(loaded.campaign, self._short_problem)
        empty = "No failed recipients: nothing to fix." if loaded.campaign.messages else ""
        detail.show(
            group,
            seen,
            empty_text=empty,
            check_hint=self._check_hint(group and group.check),
            fix_hint="  · c copies it",  # c is not in the 80-column footer
        )
        messages.show(group.members if group else [], self.short)
        title: Content | str = "Detail"
        if group is not None:
            title = Content.assemble("Detail · ", _literal(group.reason))
        self.query_one("#bounces-detail-box").border_title = title
        self.refresh_bindings()

    @property
    def current_group(self) -> Group | None:
        return self.query_one(BounceGroups).current_group if self.loaded else None

    # -- the original message ----------------------------------------------------------

    @on(BounceMessages.MessageChosen)
    def _message_chosen(self, event: BounceMessages.MessageChosen) -> None:
        members = event.table.members
        if 0 <= event.index < len(members):
            self.open_message(members[event.index][0])

    def open_message(self, label: str) -> None:
        """Open the original message `label` (read again from disk, off the loop)."""
        self._open_message(label)

    @work(group="bounces-original", exclusive=True, exit_on_error=False, name="bounces-original")
    async def _open_message(self, label: str) -> None:
        try:
            raw = await asyncio.to_thread(read_original, label, dict(self._pasted))
        except OSError as exc:
            notify_text(self, str(exc), title="Cannot open the message", severity="error")
            return
        results = [r for r in (self.loaded.results if self.loaded else []) if r.file == label]
        screen = OriginalMessageScreen(label, self.short(label), results, raw)
        self.original = screen

        def closed(_: None) -> None:
            self.original = None

        self.app.push_screen(screen, closed)

    # -- DMARC reports -----------------------------------------------------------------

    def start_reports(self, paths: list[str], label: str) -> None:
        """Read DMARC aggregate reports under `paths`, then ask DNS for the sources' PTRs."""
        self._run += 1
        self.running = "dmarc"
        self._source_label = label
        self._reports_root = paths[0] if len(paths) == 1 else ""
        self.query_one("#bounces-status", Static).update(
            Content.assemble(("Reading ", "bold"), _literal(label), "…")
        )
        self.refresh_bindings()
        self._worker = self._reports(self._run, paths)

    @work(exclusive=True, group="bounces", exit_on_error=False, name="bounces-dmarc")
    async def _reports(self, run: int, paths: list[str]) -> None:
        from console.bounce import aggregate

        stop = threading.Event()

        def read() -> aggregate.SummaryBuilder:
            # Running totals only: 3,000 reports of 100 rows each are 300,000 rows that
            # the pane never shows one by one.
            builder = aggregate.SummaryBuilder(detect_duplicates=True)
            last = time.monotonic()
            for count, item in enumerate(aggregate.load_reports(paths), start=1):
                if stop.is_set():
                    break  # cancelled: the worker is gone, nobody reads the totals
                time.sleep(0)  # let the event loop run between reports (see YIELD_EVERY)
                if isinstance(item, aggregate.Loaded):
                    builder.add(aggregate.analyse(item.source, item.report, file=item.file))
                else:
                    builder.skip(item)
                now = time.monotonic()
                if now - last >= PROGRESS_EVERY:
                    last = now
                    self.post_message(self.Progress(run, count, "reports read"))
            return builder

        try:
            builder = await asyncio.to_thread(read)
        except asyncio.CancelledError:
            stop.set()  # the thread stops at the next report instead of reading on
            raise
        addresses = set(builder.summary.sources)
        ptrs: dict[str, Any] = {}
        if addresses:
            self.post_message(self.Progress(run, len(addresses), "reverse DNS names asked"))
            preferred = self.profile.nameservers if self.profile else ()
            base = await asyncio.to_thread(self.session.resolver_factory, preferred)
            ptrs = await aggregate.reverse_names(base.for_audit(), addresses)
        summary = builder.build(ptrs)
        self.post_message(self.ReportsDone(run, summary, self._reports_root))

    def on_bounces_pane_reports_done(self, message: ReportsDone) -> None:
        if message.run != self._run:
            return
        self.running = None
        self.summary = message.summary
        self.query_one(DmarcSources).show(message.summary.by_volume())
        self._status_reports()
        self._show_selected()
        self.refresh_bindings()

    def _status_reports(self) -> None:
        summary = self.summary
        if summary is None:
            self._status_idle()
            return
        parts: list[Content | str | tuple[str, str]] = [
            f"{summary.reports} report{'' if summary.reports == 1 else 's'}",
            (" · ", "$text-muted"),
            f"{summary.count} messages: ",
            (f"{summary.passed} pass", "$text-success"),
            ", ",
            (f"{summary.failed} fail", "bold $text-error" if summary.failed else ""),
            f" · {len(summary.sources)} sources",
        ]
        if summary.skipped:
            parts += [(" · ", "$text-muted"), (f"{len(summary.skipped)} skipped", "$text-warning")]
        self.query_one("#bounces-status", Static).update(Content.assemble(*parts))

    def _show_source(self) -> None:
        detail = self.query_one(BounceDetail)
        summary = self.summary
        if summary is None:
            detail.update(Content.styled("No DMARC reports read yet.", "$text-muted"))
            return
        source = self.query_one(DmarcSources).current_source
        parts: list[Content] = []
        if source is not None:
            parts.append(render_source(source))
        if summary.domains:
            parts.append(render_domains(list(summary.domains.values())))
        if summary.skipped:
            root = self._reports_root.rstrip(os.sep) + os.sep if self._reports_root else ""
            lines = [Content.styled(f"Skipped ({len(summary.skipped)})", "bold $text-accent")]
            for problem in summary.skipped[:20]:
                text = str(problem).replace(root, "") if root else str(problem)
                lines.append(Content.assemble(("• ", "$text-warning"), _literal(text)))
            parts.append(Content("\n").join(lines))
        if not parts:
            parts.append(Content.styled("The reports hold no rows.", "$text-muted"))
        detail.update(Content("\n\n").join(parts))
        self.query_one("#bounces-detail-box").border_title = (
            Content.assemble("Source · ", _literal(source.source_ip)) if source else "Detail"
        )

    @on(DmarcSources.SourceHighlighted)
    def _source_highlighted(self) -> None:
        self._show_selected()

    # -- actions -----------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # False hides what does not apply now, so the 80-column footer keeps what does.
        if action == "cancel":
            return self.running is not None
        if action in ("open_check", "copy_fix"):
            group = self.current_group
            if self.mode != "bounces" or group is None:
                return False
            return bool(group.check) if action == "open_check" else bool(group.next_step)
        if action == "export":
            return self.mode == "bounces" and self.loaded is not None and not self.running
        if action in ("paste", "toggle_messages"):
            return self.mode == "bounces"
        if action == "open_selected":
            return self.mode == "bounces" and self.current_group is not None
        if action == "show_mode":
            return bool(parameters) and parameters[0] != self.mode
        return True

    def action_load(self) -> None:
        text = self.query_one("#bounces-path", Input).value.strip()
        if not text:
            self.action_focus_path()
            notify_text(self, "Type a path first: a file, mbox, maildir or folder.", title="Load")
            return
        path = Path(text).expanduser()
        problem = path_problem(path)
        if problem:
            notify_text(self, f"{text}: {problem}", title="Cannot read", severity="error")
            return
        if self.mode == "dmarc":
            self.start_reports([str(path)], text)
        else:
            self.start_load(Source(paths=[str(path)], label=text))
        self._focus_table()

    @on(Input.Submitted, "#bounces-path")
    def _path_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_load()

    def action_focus_table(self) -> None:
        messages = self.query_one(BounceMessages)
        if messages.has_focus and self.size.width < WIDE and self._messages_visible():
            # Narrow, the messages took the detail's place: escape gives it back (None:
            # follow the width again, so a wider terminal shows both).
            self.show_messages = None
            self._arrange()
        self._focus_table()

    def action_focus_path(self) -> None:
        self.query_one("#bounces-path", Input).focus()

    def action_paste(self) -> None:
        def pasted(text: str | None) -> None:
            if text:
                self.start_load(Source(pasted=text, label="the pasted replies"))
                self._focus_table()

        self.app.push_screen(PasteScreen(), pasted)

    def action_cancel(self) -> None:
        self.workers.cancel_group(self, "bounces")

    def action_open_check(self) -> None:
        group = self.current_group
        if group is None or not group.check:
            return
        first = check_words(group.check).split(", ")[0]
        pane_id = PANE_FOR_CHECK.get(first, ("auth", "Authentication"))[0]
        panes = self.screen.query(f"#{pane_id}-pane")
        show = getattr(self.screen, "action_show_pane", None)
        if not panes or show is None:
            notify_text(
                self,
                f"Run `mailscope check DOMAIN --checks {first}` to confirm.",
                title="Check",
                severity="warning",
            )
            return
        show(pane_id)
        select = getattr(panes.first(), "select_check", None)
        if pane_id == "auth" and select is not None:
            select(first)

    def action_copy_fix(self) -> None:
        group = self.current_group
        if group is None or not group.next_step:
            return
        self.app.copy_to_clipboard(group.next_step)
        notify_text(self, f"Copied the fix for {group.reason} at {group.provider}.", title="Copied")

    def action_toggle_messages(self) -> None:
        self.show_messages = not self._messages_visible()
        self._arrange()
        table = self.query_one(BounceMessages)
        if self.show_messages:
            table.focus()
        elif table.has_focus:
            self.query_one(BounceGroups).focus()

    def action_show_mode(self, mode: str) -> None:
        """Show `mode`: `bounces` or `dmarc` (stopping what the other one was reading)."""
        if mode == self.mode or mode not in ("bounces", "dmarc"):
            return
        self.workers.cancel_group(self, "bounces")
        self.running = None
        self._run += 1
        self.mode = mode
        self.set_class(self.mode == "dmarc", "-dmarc")
        self.query_one("#bounces-path", Input).value = ""
        self._set_placeholder()
        if self.mode == "dmarc":
            self._status_reports()
        else:
            self._status_loaded()
        self._arrange()
        self._show_selected()
        self.refresh_bindings()
        self.focus_default()

    def action_export(self) -> None:
        loaded = self.loaded
        if loaded is None:
            return
        rows = sum(len(r.recipients) for r in loaded.results)

        def chosen(path: Path | None) -> None:
            if path is not None:
                self._export(loaded.results, path)

        self.app.push_screen(
            CsvExportScreen(Path("bounces.csv"), rows, cursor_blink=self.session.cursor_blink),
            chosen,
        )

    @work(group="bounces-export", exit_on_error=False, name="bounces-export")
    async def _export(self, results: list[BounceResult], path: Path) -> None:
        def write() -> int:
            with path.open("w", encoding="utf-8", newline="") as stream:
                return write_csv(results, stream)

        try:
            rows = await asyncio.to_thread(write)
        except OSError as exc:
            notify_text(self, f"{path}: {exc.strerror or exc}", title="Not saved", severity="error")
            return
        notify_text(self, f"{rows} rows written to {path}", title="CSV saved")

    # -- for tests and scripts ---------------------------------------------------------

    def select_group(self, reason: str, provider: str | None = None) -> bool:
        """Move the cursor to the first group of `reason` (at `provider`); False if none."""
        table = self.query_one(BounceGroups)
        for index, group in enumerate(table.groups):
            if group.reason == reason and (provider is None or group.provider == provider):
                table.select_index(index)
                self._show_selected()
                return True
        return False

    @property
    def status_text(self) -> str:
        """The status line as plain text."""
        with contextlib.suppress(Exception):
            return str(self.query_one("#bounces-status", Static).render())
        return ""


def _literal(text: str) -> Content:
    return Content.from_rich_text(literal(text))
