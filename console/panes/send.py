"""The Send pane: compose a test message, lint it, and send it for real after a confirmation.

The form is prefilled from the profile (From, unsubscribe headers, DKIM selector).
Lint runs on demand (ctrl+l) and again before every send; its findings say what
receivers will hold against the message and the exact fix. Sending is a live action
on someone's mail server, so nothing is sent without an explicit confirmation dialog
that names the recipient, server, port, security and user, with Cancel as the
default button; the session's send cap (`process_guard`) is respected and its
refusal shown. The form's Via picks SMTP, the Gmail API (users.messages.send) or both:
both paths send at once, in one worker, each with its own copy (its own
X-Mailscope-Test id), and each column fills as its path answers (accepted, reply,
queue id, Message-ID, timings); the SMTP conversation goes to the transcript log,
passwords redacted. Then each accepted copy is read back from the seed mailbox (the
lab's mailbox in demo mode; the profile's `readback`, IMAP or the Gmail API,
otherwise) and the readback view lines the copies up: where each landed, who signed
it, SPF/DKIM/DMARC and alignment, ARC, TLS per hop, delays, and which path did better.

In demo mode the message goes to the lab's submission server (smtp.good.test:587)
with the lab's public demo account; otherwise to the profile's submission server,
with the password from the environment variable the profile names or typed in a
masked field that is cleared after each send and never stored, logged or shown.
"""

from __future__ import annotations

import asyncio
import email.utils
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Static
from textual.worker import Worker, WorkerState

from console.config import Profile
from console.errors import MailscopeError
from console.model import Finding, Status
from console.panes.base import Pane, notify_text
from console.ports.model import TranscriptLine
from console.send.compose import Copy, TestMessage, address_domain, compose_and_sign
from console.send.guard import SendGuard, process_guard
from console.send.result import SendResult
from widgets.compose_form import ComposeDefaults, ComposeForm, ComposeValues
from widgets.findings_view import FindingsView
from widgets.literal import literal
from widgets.readback_view import ReadbackView
from widgets.send_result import SendResultView
from widgets.status_badge import badge
from widgets.transcript_log import TranscriptLog

if TYPE_CHECKING:
    from console.auth.resolver import ResolverContext
    from console.lab import Lab
    from console.send.compare import Comparison
    from console.send.readback import Delivery

Sender = Callable[..., Awaitable[SendResult]]
"""`console.send.smtp.send_smtp`'s shape: (ctx, message_bytes, *, envelope_from, ...)."""

Linter = Callable[..., Awaitable[list[Finding]]]
"""`console.send.lint.lint_message`'s shape: (ctx, message, *, envelope_from, dkim_domain)."""

LAB_HOST = "smtp.good.test"
"""The lab's submission server, used in demo mode."""

LAB_SEED = "seed@good.test"
"""A mailbox of the lab, the demo's default recipient."""

ApiSender = Callable[..., Awaitable[SendResult]]
"""`console.send.gmail_api.send_gmail_api`'s shape: (message_bytes, *, credentials, endpoint)."""

Reader = Callable[
    ["ResolverContext", str, str, "str | None", datetime], Awaitable["Delivery | None"]
]
"""Reads one copy back: (ctx, recipient, test_id, message_id, sent_at) -> its Delivery,
or None. Gmail's search finds a message by its Message-ID, never by a custom header."""

GMAIL_API_OFF = (
    "Gmail API: no credentials. Set gmail_credentials in the profile (a service-account "
    "or authorized-user JSON file with the gmail.send scope) to send this way too."
)
"""What the Gmail API column says when that path cannot run (never a made-up result)."""

READBACK_WAIT = 20.0
"""Seconds readback looks for each copy before saying it is not there."""

PATH_NAMES: dict[str, str] = {"smtp": "SMTP", "gmail-api": "the Gmail API"}

WIDE = 110
"""From this many columns the transcript stays beside the lint results."""


@dataclass(slots=True)
class SendPlan:
    """Where and as whom a send goes (what the confirmation dialog names)."""

    host: str
    port: int
    security: str
    username: str | None
    password: str | None = field(default=None, repr=False)
    """Never shown, logged or stored; dropped once the send is done."""
    password_source: str = ""
    """Where the password came from (`$SMTP_PASSWORD`, `typed`, `the lab's demo account`)."""
    lab: bool = False
    oauth_credentials: Path | None = None
    """Log in with XOAUTH2, with a token from this credentials file, not a password."""


@dataclass(frozen=True, slots=True)
class SendAccess:
    """How the pane reaches the Gmail API and the seed mailbox.

    Attributes:
        gmail_credentials: makes the Gmail API credentials (off the event loop: loading
            may refresh a token); None when the Gmail API path is not configured.
        gmail_endpoint: the API root instead of Google's (the lab's emulator).
        readback: reads one copy back; None when no seed mailbox is configured.
        readback_label: where readback looks, in words (`the lab's mailbox`).
    """

    gmail_credentials: Callable[[], Any] | None = None
    gmail_endpoint: str | None = None
    readback: Reader | None = None
    readback_label: str = ""


def lab_send_access(lab: Lab, *, wait: float = 10.0) -> SendAccess:
    """Demo mode: the lab's Gmail API emulator, and readback from the lab's mailbox."""
    from console.postmaster.credentials import lab_credentials
    from console.send.readback import fetch_delivery_from_lab

    async def read(
        ctx: ResolverContext,
        recipient: str,
        test_id: str,
        message_id: str | None,
        sent_at: datetime,
    ):
        return await fetch_delivery_from_lab(lab, recipient, test_id, sent_at=sent_at, wait=wait)

    return SendAccess(
        gmail_credentials=lab_credentials,
        gmail_endpoint=lab.gmail_endpoint,
        readback=read,
        readback_label="the lab's mailbox",
    )


def profile_send_access(profile: Profile | None) -> SendAccess:
    """The profile's Gmail API credentials and readback mailbox, where it names them."""
    if profile is None:
        return SendAccess()
    from console.send.oauth import GMAIL_READ_SCOPE, GMAIL_SEND_SCOPE

    path = profile.gmail_credentials
    readback = (profile.readback or "").strip()
    scopes = [GMAIL_SEND_SCOPE, *([GMAIL_READ_SCOPE] if readback == "gmail" else [])]

    def credentials() -> Any:
        from console.postmaster.credentials import load_credentials

        assert path is not None
        return load_credentials(path, scopes=scopes)

    loader = credentials if path is not None else None
    reader: Reader | None = None
    label = ""
    # The clients are imported when a readback runs (in the worker), not here: this
    # runs on the UI thread whenever the pane asks how it reaches the mailbox.
    if readback == "gmail" and loader is not None:

        async def read_gmail(
            ctx: ResolverContext,
            recipient: str,
            test_id: str,
            message_id: str | None,
            sent_at: datetime,
        ):
            from console.send.gmail_api import fetch_delivery_gmail

            creds = await asyncio.to_thread(loader)
            return await fetch_delivery_gmail(
                credentials=creds,
                test_id=test_id,
                message_id=message_id,
                wait=READBACK_WAIT,
                sent_at=sent_at,
                authserv_ids=("mx.google.com",),  # a sender can forge any other
            )

        reader, label = read_gmail, "the Gmail API mailbox"
    elif readback.startswith(("imap://", "imaps://")):

        async def read_imap(
            ctx: ResolverContext,
            recipient: str,
            test_id: str,
            message_id: str | None,
            sent_at: datetime,
        ):
            from console.send.imap import (
                IMAP_PASSWORD_ENV,
                fetch_delivery_imap,
                imap_password_from_env,
                parse_imap_url,
            )

            password = imap_password_from_env()
            if not password:
                raise MailscopeError("no IMAP password", f"set {IMAP_PASSWORD_ENV}")
            cafiles = (str(ctx.services.cafile),) if ctx.services.cafile else ()
            return await fetch_delivery_imap(
                parse_imap_url(readback),
                password,
                test_id=test_id,
                message_id=message_id,
                wait=READBACK_WAIT,
                cafiles=cafiles,
                resolver=ctx,
                sent_at=sent_at,
            )

        reader, label = read_imap, readback
    return SendAccess(gmail_credentials=loader, readback=reader, readback_label=label)


@dataclass(slots=True)
class Prepared:
    """A message built from the form, ready to lint and (once confirmed) to send.

    `copies` holds each path's own copy: both land in the same seed mailbox, and
    readback tells them apart by their X-Mailscope-Test ids.
    """

    message: EmailMessage
    data: bytes
    envelope_from: str
    recipients: list[str]
    dkim_domain: str | None
    plan: SendPlan | None
    plan_problem: str | None = None
    copies: dict[str, Copy] = field(default_factory=dict)

    @property
    def paths(self) -> list[str]:
        return list(self.copies) or ["smtp"]


def compose_from_form(
    values: ComposeValues, paths: list[str], clock: Callable[[], datetime]
) -> tuple[EmailMessage, dict[str, Copy], str | None]:
    """The message, each path's copy and the DKIM d= from the form's values (blocking:
    reads files and signs; the pane calls it in a thread).

    Raises:
        MailscopeError: an attachment or the key cannot be read, or a header cannot be
            put in a message.
    """
    spec = TestMessage(
        from_addr=values.from_addr,
        to=values.to,
        subject=values.subject,
        text=values.text,
        html=values.html,
        list_unsubscribe_mailto=values.unsubscribe_mailto,
        list_unsubscribe_https=values.unsubscribe_https,
        one_click=values.one_click,
    )
    return compose_and_sign(
        spec,
        paths,
        attachment_files=values.attachments,
        dkim_key_file=values.dkim_key,
        selector=values.dkim_selector,
        clock=clock,
    )


def plan_for(
    profile: Profile | None, *, lab: bool, typed_password: str | None = None
) -> tuple[SendPlan | None, str | None]:
    """The server a send goes to, or (None, why not).

    Demo mode uses the lab's submission server with its public demo account; otherwise
    the profile's submission server, with the password from the environment variable
    the profile names, else the one typed in the form.
    """
    if lab:
        from console.lab.smtp import LAB_PASSWORD, LAB_USER

        return (
            SendPlan(
                LAB_HOST,
                587,
                "starttls",
                LAB_USER,
                LAB_PASSWORD,  # public demo credentials of the lab's own server
                password_source="the lab's public demo account",
                lab=True,
            ),
            None,
        )
    submission = profile.submission if profile else None
    if submission is None:
        return None, (
            "no submission server in the profile: set [profiles.NAME.submission] host and port"
        )
    security = "tls" if submission.port == 465 else "starttls"
    username = submission.username or None
    plan = SendPlan(submission.host, submission.port, security, username)
    if submission.oauth_credentials is not None:
        if not username:
            return plan, "XOAUTH2 needs the account: set username in the submission table"
        plan.oauth_credentials = submission.oauth_credentials
        plan.password_source = f"XOAUTH2 ({submission.oauth_credentials.name})"
        return plan, None
    if username:
        from console.send.smtp import password_from_env

        from_env = password_from_env(submission.password_env)
        if from_env:
            plan.password, plan.password_source = from_env, f"${submission.password_env}"
        elif typed_password:
            plan.password, plan.password_source = typed_password, "typed"
        else:
            return plan, f"set ${submission.password_env} or type the password for {username}"
    return plan, None


def defaults_for(domain: str | None, profile: Profile | None, *, lab: bool) -> ComposeDefaults:
    """What a fresh compose form shows for `domain` and its profile."""
    submission = profile.submission if profile else None
    username = submission.username if submission else ""
    if lab:
        from console.lab.smtp import LAB_USER

        username = LAB_USER
    if "@" in username:
        from_addr = username
    elif domain:
        from_addr = f"postmaster@{domain}"
    else:
        from_addr = ""
    mail_domain = address_domain(from_addr) or domain or ""
    if lab:
        note = "Password: the lab's public demo account."
        ask = False
    elif submission is None:
        note = "No submission server in the profile: sending is off."
        ask = False
    elif not submission.username:
        note = "No login: the server is used without AUTH."
        ask = False
    elif submission.oauth_credentials is not None:
        note = f"Login: XOAUTH2 with a token from {submission.oauth_credentials.name}."
        ask = False
    else:
        note = f"Password: from ${submission.password_env} if set, else type it (never kept)."
        ask = True
    gmail = lab or bool(profile and profile.gmail_credentials)
    return ComposeDefaults(
        via="both" if gmail else "smtp",
        from_addr=from_addr,
        to=LAB_SEED if lab else "",
        unsubscribe_https=f"https://{mail_domain}/unsubscribe" if mail_domain else "",
        unsubscribe_mailto=f"unsubscribe@{mail_domain}" if mail_domain else "",
        dkim_selector=profile.dkim_selectors[0] if profile and profile.dkim_selectors else "",
        password_note=note,
        ask_password=ask,
    )


def combined_transcript(results: dict[str, SendResult]) -> list[TranscriptLine]:
    """The SMTP conversation, then the Gmail API's requests under a heading of their own."""
    lines: list[TranscriptLine] = []
    for via in ("smtp", "gmail-api"):
        result = results.get(via)
        if result is None or not result.transcript:
            continue
        if lines or via != "smtp":
            lines.append(TranscriptLine("*", f"-- {PATH_NAMES[via]} --", 0.0))
        lines.extend(result.transcript)
    return lines


def lint_summary(findings: list[Finding]) -> Content:
    """`✖ FAIL 1  ▲ WARN 2` or `✔ PASS  nothing to fix`."""
    counts: dict[Status, int] = {}
    for finding in findings:
        counts[finding.severity] = counts.get(finding.severity, 0) + 1
    problems = [s for s in (Status.FAIL, Status.ERROR, Status.WARN) if counts.get(s)]
    if not problems:
        return Content.assemble(badge(Status.PASS), "  nothing to fix")
    parts: list[Content | str] = []
    for status in problems:
        parts += [badge(status), f" {counts[status]}  "]
    return Content.assemble(*parts)


class SignInScreen(ModalScreen[None]):
    """A Microsoft device sign-in in progress: where to go and the code, until the user
    has signed in elsewhere (the screen then closes) or cancels (the send with it)."""

    DEFAULT_CSS = """
    SignInScreen {
        align: center middle;
    }
    #send-sign-in-box {
        width: 72;
        max-width: 100%;
        height: auto;
        border: thick $accent;
        background: $surface;
        padding: 0 2;
    }
    #send-sign-in-title, #send-sign-in-text {
        margin-bottom: 1;
    }
    #send-sign-in-title {
        text-style: bold;
    }
    #send-sign-in-buttons {
        height: auto;
        align-horizontal: right;
        margin: 1 0;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="send.sign-in-cancel", tooltip="Stop waiting"),
    ]

    def __init__(self, instructions: str, on_cancel: Callable[[], None]) -> None:
        super().__init__()
        self._instructions = instructions
        self._on_cancel = on_cancel

    def compose(self) -> ComposeResult:
        with Vertical(id="send-sign-in-box"):
            yield Static("Sign in to Microsoft 365 once", id="send-sign-in-title")
            # The identity platform's words, shown literally.
            yield Static(literal(self._instructions), id="send-sign-in-text")
            yield Static(
                Content.styled(
                    "Waiting for the sign-in; the refresh token is then kept in the "
                    "credentials file and this is not asked again.",
                    "$text-muted",
                )
            )
            with Horizontal(id="send-sign-in-buttons"):
                yield Button("Cancel", id="send-sign-in-cancel")
        yield Footer()

    @on(Button.Pressed, "#send-sign-in-cancel")
    def action_cancel(self) -> None:
        self._on_cancel()
        self.dismiss(None)


class ConfirmSendScreen(ModalScreen[bool]):
    """Send or not: names the recipient, server, port, security and user. Cancel is default."""

    DEFAULT_CSS = """
    ConfirmSendScreen {
        align: center middle;
    }
    #send-confirm-box {
        width: 70;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        border: thick $error;
        background: $surface;
        padding: 0 2;
    }
    #send-confirm-title {
        text-style: bold;
        color: $text-error;
        margin-bottom: 1;
    }
    #send-confirm-details {
        height: auto;
    }
    #send-confirm-buttons {
        height: auto;
        align-horizontal: right;
        margin: 1 0;
    }
    #send-confirm-buttons Button {
        margin-left: 1;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="send.confirm-cancel", tooltip="Do not send"),
    ]

    def __init__(
        self, prepared: Prepared, plan: SendPlan | None, findings: list[Finding], left: int
    ):
        super().__init__()
        self._prepared = prepared
        self._plan = plan
        self._findings = findings
        self._left = left

    def compose(self) -> ComposeResult:
        plan = self._plan

        def row(name: str, value: str | Content) -> Content:
            text = Content.from_rich_text(literal(value)) if isinstance(value, str) else value
            return Content.assemble((f"{name:<11}", "$text-muted"), text)

        paths = self._prepared.paths
        rows = [
            row("Recipient", ", ".join(self._prepared.recipients)),
            row("Via", " and ".join(PATH_NAMES.get(path, path) for path in paths)),
        ]
        if plan is not None and "smtp" in paths:
            port = str(plan.port) + (" (a loopback port of the lab)" if plan.lab else "")
            security = {"starttls": "STARTTLS", "tls": "implicit TLS"}
            rows += [
                row("Server", plan.host),
                row("Port", port),
                row("Security", security.get(plan.security, plan.security)),
                row("User", plan.username or "none (no AUTH)"),
            ]
            if plan.username:
                rows.append(
                    row(
                        "Login" if plan.oauth_credentials else "Password",
                        plan.password_source or "none",
                    )
                )
        rows.append(row("Lint", lint_summary(self._findings)))
        rows.append(row("Cap", f"{self._left} sends left this session"))
        with Vertical(id="send-confirm-box"):
            yield Static("Send a live test message?", id="send-confirm-title")
            yield Static(Content("\n").join(rows), id="send-confirm-details")
            with Horizontal(id="send-confirm-buttons"):
                yield Button("Cancel", id="send-confirm-cancel")
                yield Button("Send", variant="error", id="send-confirm-send")
        yield Footer()

    def on_mount(self) -> None:
        # The safe answer is the default: Enter on an untouched dialog does not send.
        self.query_one("#send-confirm-cancel", Button).focus()

    @on(Button.Pressed, "#send-confirm-send")
    def _send(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#send-confirm-cancel")
    def action_cancel(self) -> None:
        self.dismiss(False)


class SendPane(Pane):
    """Compose form on the left; lint findings, the result and the transcript on the right."""

    DEFAULT_CSS = """
    SendPane {
        layout: vertical;
    }
    #send-status {
        height: 1;
        padding: 0 1;
    }
    #send-body {
        height: 1fr;
    }
    #send-form-box {
        width: 1fr;
        max-width: 52;
        height: 1fr;
    }
    #send-side {
        width: 1fr;
        height: 1fr;
    }
    #send-lint-box {
        height: 1fr;
        padding: 0 1;
        scrollbar-size-vertical: 1;
    }
    #send-lint-summary {
        height: auto;
        margin-bottom: 1;
    }
    #send-result-box {
        height: auto;
        max-height: 60%;
        padding: 0 1;
        scrollbar-size-vertical: 1;
    }
    #send-readback-box {
        height: 2fr;
        padding: 0 1;
        scrollbar-size-vertical: 1;
        display: none;
    }
    SendPane.-sent #send-readback-box {
        display: block;
    }
    SendPane.-sent #send-lint-box {
        height: auto;
        max-height: 6;
    }
    SendPane.-sent #send-result-box {
        max-height: 45%;
    }
    #send-transcript {
        height: 1fr;
        padding: 0 1;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "ctrl+l",
            "lint",
            "Lint",
            id="send.lint",
            tooltip="Check the message against Gmail's and Yahoo's sender rules",
        ),
        Binding(
            "ctrl+g",
            "send",
            "Send…",
            id="send.send",
            tooltip="Lint, then ask for confirmation before sending the test message",
        ),
        Binding(
            "escape",
            "cancel",
            "Cancel",
            id="send.cancel",
            tooltip="Stop the running lint or send",
        ),
        Binding(
            "ctrl+r",
            "reset",
            "Reset form",
            id="send.reset",
            tooltip="Fill the form again from the profile",
            show=False,
        ),
    ]

    sender: ClassVar[Sender | None] = None
    """What sends; None means `console.send.smtp.send_smtp`. Tests swap it to make lab
    values (free ports, timings, Message-IDs) steady for snapshots."""

    api_sender: ClassVar[ApiSender | None] = None
    """What sends through the Gmail API; None means `console.send.gmail_api.send_gmail_api`."""

    access_wrapper: ClassVar[Callable[[SendAccess], SendAccess] | None] = None
    """Wraps the session's SendAccess (tests: `steady_access`, for steady readback times)."""

    linter: ClassVar[Linter | None] = None
    """What lints; None means `console.send.lint.lint_message`."""

    guard: ClassVar[SendGuard | None] = None
    """The send cap; None means the process's (`process_guard()`), shared with the CLI."""

    send_timeout: ClassVar[float] = 10.0
    """Seconds per SMTP step."""

    class LintDone(Message):
        """Run `run`'s lint finished; `confirm` asks to open the dialog next."""

        def __init__(
            self, run: int, findings: list[Finding], prepared: Prepared, confirm: bool
        ) -> None:
            super().__init__()
            self.run = run
            self.findings = findings
            self.prepared = prepared
            self.confirm = confirm

    class SendDone(Message):
        """Run `run`'s send along `result.via` finished (accepted or not)."""

        def __init__(self, run: int, result: SendResult) -> None:
            super().__init__()
            self.run = run
            self.result = result

    class ReadbackDone(Message):
        """Run `run`'s copies were looked for: what was found, and the comparison."""

        def __init__(
            self,
            run: int,
            comparison: Comparison,
            deliveries: dict[str, Delivery | None],
            errors: dict[str, str],
        ) -> None:
            super().__init__()
            self.run = run
            self.comparison = comparison
            self.deliveries = deliveries
            self.errors = errors

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.domain: str | None = None
        self.profile: Profile | None = None
        self.findings: list[Finding] | None = None
        """The last lint's findings (None: not linted since the form was filled)."""
        self.result: SendResult | None = None
        """The last send's result (the SMTP one when both paths ran)."""
        self.results: dict[str, SendResult] = {}
        """The last send's results, by path."""
        self.comparison: Comparison | None = None
        """The last readback's comparison of the copies."""
        self.running: str | None = None
        """`lint` or `send` while a worker runs."""
        self.confirming = False
        """Whether the confirmation dialog is open."""
        self._run = 0
        self._worker: Worker[None] | None = None

    # -- layout ------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(id="send-status")
        with Horizontal(id="send-body"):
            with Vertical(id="send-form-box", classes="pane-box"):
                yield ComposeForm(id="send-form", cursor_blink=self.session.cursor_blink)
            with Vertical(id="send-side"):
                with VerticalScroll(id="send-lint-box", classes="pane-box"):
                    yield Static(id="send-lint-summary")
                with VerticalScroll(id="send-result-box", classes="pane-box"):
                    yield SendResultView(id="send-result")
                with VerticalScroll(id="send-readback-box", classes="pane-box"):
                    yield ReadbackView(id="send-readback")
                yield TranscriptLog(id="send-transcript", classes="pane-box")

    def on_mount(self) -> None:
        self.query_one("#send-form-box").border_title = "Compose"
        self.query_one("#send-lint-box").border_title = "Lint"
        self.query_one("#send-result-box").border_title = "Result"
        self.query_one("#send-readback-box").border_title = "Readback"
        self.query_one("#send-transcript").border_title = "Transcript"
        self._fill_form()
        self._show_lint_summary()
        self._explain_paths()
        self.query_one(TranscriptLog).show([], empty_text="The SMTP conversation appears here.")
        self._arrange()

    def on_resize(self) -> None:
        self._arrange()

    def _arrange(self) -> None:
        # Narrow, the transcript only takes room once there is one to read.
        shown = self.size.width >= WIDE or self.result is not None
        self.query_one("#send-transcript").display = shown

    def focus_default(self) -> None:
        # The form itself, not a field: number keys still switch panes and q still
        # quits; Tab walks into the fields.
        self.query_one(ComposeForm).focus()

    def _lab_mode(self) -> bool:
        return bool(self.session.demo_domains)

    def _guard(self) -> SendGuard:
        return type(self).guard or process_guard()

    def _access(self) -> SendAccess:
        access = self.session.sending
        if access is None:
            access = profile_send_access(self.profile)
        wrap = type(self).access_wrapper
        return wrap(access) if wrap is not None else access

    def _explain_paths(self) -> None:
        """What each column and the readback say before a send."""
        access = self._access()
        view = self.query_one(SendResultView)
        view.explain("smtp", "Not sent yet: ctrl+g lints, then asks before sending.")
        if access.gmail_credentials is None:
            view.explain("gmail-api", GMAIL_API_OFF)
        else:
            view.explain("gmail-api", "Not sent yet: choose Via Gmail API or Both.")
        readback = self.query_one(ReadbackView)
        if access.readback is None:
            readback.explain(
                'Readback: no seed mailbox. Set readback = "imaps://USER@HOST" (or "gmail") '
                "in the profile to see how each copy was judged on arrival."
            )
        else:
            readback.explain(
                f"Readback: after a send, each copy is read back from {access.readback_label}."
            )

    def _fill_form(self) -> None:
        lab = self._lab_mode()
        self.query_one(ComposeForm).prefill(defaults_for(self.domain, self.profile, lab=lab))
        self._show_status()
        if self.result is None:
            self._explain_paths()

    def _show_status(self) -> None:
        plan, problem = plan_for(self.profile, lab=self._lab_mode(), typed_password="x")
        status = self.query_one("#send-status", Static)
        left = self._guard().remaining
        if plan is None:
            status.update(Content.assemble(("Sending off: ", "bold $text-warning"), problem or ""))
            return
        who = f" as {plan.username}" if plan.username else ""
        status.update(
            Content.assemble(
                ("via ", "$text-muted"),
                Content.from_rich_text(literal(f"{plan.host}:{plan.port} {plan.security}{who}")),
                ("  · ", "$text-muted"),
                f"{left} send{'' if left == 1 else 's'} left",
                (" (lab)" if plan.lab else "", "$text-muted"),
            )
        )

    # -- entry points ------------------------------------------------------------------

    def open_domain(self, domain: str, profile: Profile) -> None:
        changed = domain != self.domain
        self.domain = domain
        self.profile = profile
        if changed:
            self._run += 1
            self.workers.cancel_group(self, "send")
            self.running = None
            self.findings = None
            self._fill_form()
            self.call_later(self._show_findings)

    def _form_problem(self, values: ComposeValues) -> bool:
        """Say what the form lacks before anything is built; True when it lacks it."""
        _, envelope_from = email.utils.parseaddr(values.from_addr)
        if "@" not in envelope_from:
            notify_text(self, "Give a From address, e.g. postmaster@example.com.", title="From")
            return True
        if not values.to:
            notify_text(self, "Give a To address: a seed mailbox you own.", title="To")
            return True
        return False

    async def _prepare(self, values: ComposeValues) -> Prepared | None:
        """Build (and DKIM-sign) the message from the form; say what is wrong if it cannot.

        Reading attachments, base64 and signing run in a thread: a 30 MB file would
        otherwise freeze the screen for seconds.
        """
        _, envelope_from = email.utils.parseaddr(values.from_addr)
        paths = ["smtp", "gmail-api"] if values.via == "both" else [values.via]
        try:
            message, copies, dkim_domain = await asyncio.to_thread(
                compose_from_form, values, paths, self.session.clock
            )
        except MailscopeError as exc:
            notify_text(self, exc.msg or str(exc), title=exc.title, severity="error")
            return None
        addresses = [email.utils.parseaddr(to)[1] or to for to in values.to]
        plan, problem = plan_for(self.profile, lab=self._lab_mode(), typed_password=values.password)
        if "smtp" not in paths:
            problem = None  # the SMTP server only matters when that path is chosen
        elif "gmail-api" in paths and self._access().gmail_credentials is None:
            problem = problem or GMAIL_API_OFF
        if paths == ["gmail-api"] and self._access().gmail_credentials is None:
            problem = GMAIL_API_OFF
        first = next(iter(copies.values())).data
        return Prepared(
            message, first, envelope_from, addresses, dkim_domain, plan, problem, copies
        )

    def start_lint(self, *, confirm: bool = False) -> None:
        """Lint the form's message; with `confirm`, open the send dialog afterwards."""
        values = self.query_one(ComposeForm).values()
        if self._form_problem(values):
            return
        self._run += 1
        self.running = "lint"
        self.query_one("#send-lint-summary", Static).update(
            Content.styled("Preparing the message…", "$text-muted")
        )
        self.refresh_bindings()
        self._worker = self._lint(self._run, values, confirm)

    @work(exclusive=True, group="send", exit_on_error=False, name="send-lint")
    async def _lint(self, run: int, values: ComposeValues, confirm: bool) -> None:
        prepared = await self._prepare(values)
        if prepared is None:
            if run == self._run:
                self.running = None
                self._show_lint_summary()
                self.refresh_bindings()
            return
        self.query_one("#send-lint-summary", Static).update(
            Content.styled("Linting…", "$text-muted")
        )
        ctx = await self._resolver()
        findings = await self._linter()(
            ctx,
            prepared.message,
            envelope_from=prepared.envelope_from,
            dkim_domain=prepared.dkim_domain,
        )
        self.post_message(self.LintDone(run, list(findings), prepared, confirm))

    @work(exclusive=True, group="send", exit_on_error=False, name="send")
    async def _send(self, run: int, prepared: Prepared, plan: SendPlan | None) -> None:
        ctx = await self._resolver()
        access = self._access()
        sent_at = datetime.now(UTC)

        async def smtp() -> SendResult:
            assert plan is not None
            data = prepared.copies["smtp"].data
            login: dict[str, str | None] = {"password": plan.password}
            try:
                if plan.oauth_credentials is not None:
                    try:
                        token = await self._xoauth2_token(ctx, plan)
                    except MailscopeError as exc:
                        return SendResult(via="smtp", error=f"not sent: {exc}")
                    login = {"oauth_token": token}
                return await self._sender()(
                    ctx,
                    data,
                    envelope_from=prepared.envelope_from,
                    recipients=prepared.recipients,
                    host=plan.host,
                    port=plan.port,
                    security=plan.security,
                    username=plan.username,
                    timeout=self.send_timeout,
                    confirmed=True,  # the dialog was confirmed: the only way here
                    guard=self._guard(),
                    **login,
                    **({"helo": self.profile.helo} if self.profile and self.profile.helo else {}),
                )
            finally:
                plan.password = None  # never kept past the send
                login.clear()

        async def gmail_api() -> SendResult:
            data = prepared.copies["gmail-api"].data
            refusal = self._guard().admit(confirmed=True, recipients=len(prepared.recipients))
            if refusal:
                return SendResult(via="gmail-api", error=refusal)
            assert access.gmail_credentials is not None
            try:
                credentials = await asyncio.to_thread(access.gmail_credentials)
            except MailscopeError as exc:
                return SendResult(via="gmail-api", error=f"not sent: {exc}")
            return await self._api_sender()(
                data, credentials=credentials, endpoint=access.gmail_endpoint
            )

        async def along(via: str) -> SendResult:
            result = await (smtp() if via == "smtp" else gmail_api())
            result.via = via
            self.post_message(self.SendDone(run, result))
            return result

        paths = prepared.paths
        results = await asyncio.gather(*(along(via) for via in paths))
        if access.readback is None or not any(result.accepted for result in results):
            return
        reader = access.readback
        deliveries: dict[str, Delivery | None] = {}
        errors: dict[str, str] = {}

        async def read(via: str, result: SendResult) -> None:
            deliveries[via] = None
            if not result.accepted:
                errors[via] = "not sent, so nothing to read back"
                return
            test_id = prepared.copies[via].test_id
            try:
                found = await reader(
                    ctx, prepared.recipients[0], test_id, result.message_id, sent_at
                )
            except MailscopeError as exc:
                errors[via] = f"readback failed: {exc}"
                return
            deliveries[via] = found
            if found is None:
                errors[via] = (
                    f"no copy with X-Mailscope-Test {test_id} in {access.readback_label} yet: "
                    "still queued, dropped, or delivered elsewhere"
                )

        await asyncio.gather(*(read(via, r) for via, r in zip(paths, results, strict=True)))
        from console.send.compare import compare_deliveries

        comparison = compare_deliveries(paths, [deliveries[via] for via in paths])
        self.post_message(self.ReadbackDone(run, comparison, deliveries, errors))

    async def _resolver(self) -> ResolverContext:
        preferred = self.profile.nameservers if self.profile else ()
        base = await asyncio.to_thread(self.session.resolver_factory, preferred)
        return base.for_audit()

    def _sender(self) -> Sender:
        chosen = type(self).sender
        if chosen is not None:
            return chosen
        from console.send.smtp import send_smtp

        return send_smtp

    def _api_sender(self) -> ApiSender:
        chosen = type(self).api_sender
        if chosen is not None:
            return chosen
        from console.send.gmail_api import send_gmail_api

        return send_gmail_api

    def _linter(self) -> Linter:
        chosen = type(self).linter
        if chosen is not None:
            return chosen
        from console.send.lint import lint_message

        return lint_message

    # -- messages from the workers -----------------------------------------------------

    async def on_send_pane_lint_done(self, message: LintDone) -> None:
        if message.run != self._run:
            return
        self.running = None
        self.findings = message.findings
        await self._show_findings()
        self.refresh_bindings()
        if message.confirm:
            self._confirm(message.prepared, message.findings)

    def _confirm(self, prepared: Prepared, findings: list[Finding]) -> None:
        plan = prepared.plan
        paths = prepared.paths
        if prepared.plan_problem or ("smtp" in paths and plan is None):
            notify_text(
                self, prepared.plan_problem or "no server", title="Not sent", severity="error"
            )
            return
        guard = self._guard()
        if guard.remaining < len(paths):
            # Refused before asking: a dialog whose Send cannot work would mislead.
            # admit() never counts once the cap is reached; it only words the refusal.
            reason = guard.admit(confirmed=True, recipients=len(prepared.recipients))
            for via in paths:
                self._show_result(
                    SendResult(
                        via=via,
                        host=plan.host if plan and via == "smtp" else None,
                        well_known_port=plan.port if plan and via == "smtp" else None,
                        security=plan.security if plan and via == "smtp" else None,
                        error=reason or "not sent: this session's send cap is reached",
                    )
                )
            return
        self.confirming = True

        def answered(confirmed: bool | None) -> None:
            self.confirming = False
            if not confirmed:
                if plan is not None:
                    plan.password = None
                self.query_one(ComposeForm).clear_password()
                self.notify("Nothing was sent.", title="Send cancelled")
                return
            self._run += 1
            self.running = "send"
            self.results = {}
            self.comparison = None
            self.add_class("-sent")
            view = self.query_one(SendResultView)
            for via in paths:
                view.explain(via, f"Sending to {', '.join(prepared.recipients)}…")
            readback = self.query_one(ReadbackView)
            if self._access().readback is not None:
                readback.explain(f"Readback: waiting for {self._access().readback_label}…")
            self.refresh_bindings()
            self._worker = self._send(self._run, prepared, plan)

        self.app.push_screen(ConfirmSendScreen(prepared, plan, findings, guard.remaining), answered)

    async def on_send_pane_send_done(self, message: SendDone) -> None:
        if message.run != self._run:
            return
        self.query_one(ComposeForm).clear_password()
        self._show_result(message.result)

    async def on_send_pane_readback_done(self, message: ReadbackDone) -> None:
        if message.run != self._run:
            return
        self.comparison = message.comparison
        self.query_one(ReadbackView).show(message.comparison, message.deliveries, message.errors)

    def _show_result(self, result: SendResult) -> None:
        self.results[result.via] = result
        if result.via == "smtp" or self.result is None or self.result.via != "smtp":
            self.result = result
        self.query_one(SendResultView).show(result)
        self.query_one(TranscriptLog).show(
            combined_transcript(self.results),
            empty_text="Nothing was said: no connection was made.",
        )
        self._show_status()
        self._arrange()
        self.refresh_bindings()
        if not result.accepted:
            notify_text(
                self,
                result.error or result.reply or "the server did not accept the message",
                title="Not sent" if (result.error or "").startswith("not sent") else "Not accepted",
                severity="error",
            )

    @on(Worker.StateChanged)
    def _worker_state(self, event: Worker.StateChanged) -> None:
        """The one place lint and send failures and cancellations are handled."""
        if event.worker is not self._worker or self.running is None:
            return
        what = "Sending" if self.running == "send" else "Linting"
        if event.state is WorkerState.SUCCESS and self.running == "send":
            self.running = None  # both paths answered and the readback is done
            self.refresh_bindings()
        elif event.state is WorkerState.CANCELLED:
            self._stopped(f"{what} cancelled")
        elif event.state is WorkerState.ERROR:
            error = event.worker.error
            self._stopped(f"{what} failed")
            notify_text(
                self,
                f"{type(error).__name__}: {error}" if error else "unknown error",
                title=f"{what} failed",
                severity="error",
            )

    async def _xoauth2_token(self, ctx: ResolverContext, plan: SendPlan) -> str:
        """The XOAUTH2 token for `plan`; a first Microsoft sign-in shows its code in a
        dialog while the identity platform is polled (Cancel stops the send)."""
        from console.send.oauth import xoauth2_token

        shown: list[SignInScreen] = []

        def tell(instructions: str) -> None:
            screen = SignInScreen(instructions, lambda: self.workers.cancel_group(self, "send"))
            shown.append(screen)
            self.app.push_screen(screen)

        assert plan.oauth_credentials is not None
        try:
            return await xoauth2_token(
                ctx, plan.oauth_credentials, delegate=plan.username, tell=tell
            )
        finally:
            for screen in shown:
                if screen.is_attached and self.app.screen is screen:
                    screen.dismiss(None)

    def _stopped(self, what: str) -> None:
        sending = self.running == "send"
        self.running = None
        if sending:
            view = self.query_one(SendResultView)
            for via in ("smtp", "gmail-api"):
                if via not in self.results and view.is_waiting(via):
                    view.explain(via, f"{what}: whether the message was taken is unknown.")
            if self.comparison is None and self._access().readback is not None:
                self.query_one(ReadbackView).explain(f"Readback: {what.lower()}.")
        else:
            self.query_one("#send-lint-summary", Static).update(
                Content.styled(what, "$text-warning")
            )
        self.refresh_bindings()

    # -- what is shown -----------------------------------------------------------------

    def _show_lint_summary(self) -> None:
        summary = self.query_one("#send-lint-summary", Static)
        if self.findings is None:
            summary.update(
                Content.styled("Not linted yet: ctrl+l lints the message.", "$text-muted")
            )
        else:
            summary.update(lint_summary(self.findings))

    async def _show_findings(self) -> None:
        self._show_lint_summary()
        box = self.query_one("#send-lint-box")
        view = box.query_one_optional("#send-findings", FindingsView)
        if view is None:
            if not self.findings:
                return
            # Mounted on first use: until then the Authentication pane's FindingsView
            # stays the screen's only one.
            view = FindingsView(id="send-findings")
            await box.mount(view)
        await view.show(self.findings or [])

    # -- actions -----------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel":
            return self.running is not None
        if action in ("lint", "send"):
            return None if self.running else True
        return True

    def action_lint(self) -> None:
        self.start_lint()

    def action_send(self) -> None:
        self.start_lint(confirm=True)

    def action_cancel(self) -> None:
        self.workers.cancel_group(self, "send")

    def action_reset(self) -> None:
        self._run += 1
        self.findings = None
        self._fill_form()
        self.call_later(self._show_findings)

    # -- for tests and scripts ---------------------------------------------------------

    @property
    def form(self) -> ComposeForm:
        return self.query_one(ComposeForm)


# -- steady lab values, for snapshot tests and screenshots ---------------------------------

STEADY_SEND_TIMINGS_MS: dict[str, float] = {
    "resolve": 0.8,
    "connect": 0.3,
    "greeting": 0.9,
    "ehlo": 0.4,
    "starttls": 2.2,
    "ehlo_tls": 0.4,
    "auth": 0.5,
    "mail": 0.4,
    "rcpt": 0.3,
    "data": 0.6,
    "quit": 0.2,
    "total": 7.0,
}
"""Plausible loopback timings put in place of the measured ones."""

STEADY_MESSAGE_ID = "<steady.test.message@{domain}>"
STEADY_QUEUE_ID = "LAB000001"
STEADY_SIZE = 1000

_DURATION = re.compile(r"\b\d+(?:\.\d+)? ?(?:ms|s)\b")
_SIZES = re.compile(r"(SIZE=|\[message: )\d+")


def _steady_ids(result: SendResult, port: int | None, queue_id: str) -> dict[str, str]:
    """Put steady values in place of the port, queue id and Message-ID of `result`;
    return real -> steady, to rewrite the same values wherever the text quotes them."""
    swaps: dict[str, str] = {}
    if result.port is not None and port is not None:
        swaps[str(result.port)] = str(port)
        result.port = port
    if result.queue_id:
        swaps[result.queue_id] = queue_id
        result.queue_id = queue_id
    if result.message_id:
        domain = result.message_id.rpartition("@")[2].rstrip(">") or "localhost"
        fixed = STEADY_MESSAGE_ID.format(domain=domain)
        swaps[result.message_id] = fixed
        result.message_id = fixed
    return swaps


def _swapped(text: str, swaps: dict[str, str]) -> str:
    for real, fixed in swaps.items():
        text = re.sub(rf"(?<![\w-]){re.escape(real)}(?![\w-])", fixed, text)
    return text


def steady_sender(sender: Sender) -> Sender:
    """`sender` with the values that change from run to run of the lab made steady.

    The lab binds free ports, counts queue ids over the whole session, and each send
    takes its own time; the Message-ID is random and the message size follows its
    length. Snapshot tests and screenshots must not change with them, so the result is
    rewritten: the port becomes 10000 + the well-known port, the queue id `LAB000001`,
    the Message-ID a fixed one in the same domain, sizes 1000 bytes, timings
    `STEADY_SEND_TIMINGS_MS` (durations quoted in the transcript `1 ms`). Everything
    else (accepted or not, replies, TLS, the conversation) is what the lab really said.
    """

    async def run(ctx: Any, data: bytes, **options: Any) -> SendResult:
        result = await sender(ctx, data, **options)
        port = 10000 + result.well_known_port if result.well_known_port else None
        swaps = _steady_ids(result, port, STEADY_QUEUE_ID)

        def fix(text: str) -> str:
            text = _swapped(text, swaps)
            return _SIZES.sub(lambda m: f"{m.group(1)}{STEADY_SIZE}", text)

        if result.reply:
            result.reply = fix(result.reply)
        if result.error:
            result.error = _DURATION.sub("1 ms", fix(result.error))
        result.recipients = {k: fix(v) for k, v in result.recipients.items()}
        result.timings_ms = {k: STEADY_SEND_TIMINGS_MS.get(k, 1.0) for k in result.timings_ms}
        result.transcript = [
            TranscriptLine(
                line.direction,
                _DURATION.sub("1 ms", fix(line.text)) if line.direction == "*" else fix(line.text),
                round(index * 0.3, 1),
            )
            for index, line in enumerate(result.transcript)
        ]
        return result

    return run


STEADY_GMAIL_ID = "18c0a1b2c3d4e5f6"
STEADY_API_TIMINGS_MS: dict[str, float] = {"request": 41.0, "total": 42.0}
STEADY_HOP_DELAY = 0.4
"""Seconds each read-back hop is shown to take in steady pictures."""


def steady_api_sender(sender: ApiSender) -> ApiSender:
    """`sender` (the Gmail API path) with its run-to-run values made steady.

    The emulator's port, the Gmail message id, the Message-ID and the timings change
    on every run; they become 10443, `STEADY_GMAIL_ID`, a fixed Message-ID and
    `STEADY_API_TIMINGS_MS`. Accepted or not, and the replies, are what the lab said.
    """

    async def run(data: bytes, **options: Any) -> SendResult:
        result = await sender(data, **options)
        swaps = _steady_ids(result, 10443, STEADY_GMAIL_ID)

        def fix(text: str) -> str:
            text = _swapped(text, swaps)
            return re.sub(r"\(\d+ bytes\)", f"({STEADY_SIZE} bytes)", text)

        result.reply = fix(result.reply) if result.reply else result.reply
        result.error = fix(result.error) if result.error else result.error
        result.timings_ms = {k: STEADY_API_TIMINGS_MS.get(k, 1.0) for k in result.timings_ms}
        result.transcript = [
            TranscriptLine(line.direction, fix(line.text), round(index * 0.3, 1))
            for index, line in enumerate(result.transcript)
        ]
        return result

    return run


def steady_access(access: SendAccess) -> SendAccess:
    """`access` whose readback shows steady times: each hop `STEADY_HOP_DELAY` seconds,
    a fixed Message-ID. Verdicts, folders, signers and hops are what the lab filed."""
    reader = access.readback
    if reader is None:
        return access

    async def read(
        ctx: ResolverContext,
        recipient: str,
        test_id: str,
        message_id: str | None,
        sent_at: datetime,
    ):
        delivery = await reader(ctx, recipient, test_id, message_id, sent_at)
        if delivery is None:
            return None
        hops = [replace(hop, delay=STEADY_HOP_DELAY) for hop in delivery.hops]
        domain = (delivery.message_id or "").rpartition("@")[2].rstrip(">") or "localhost"
        return replace(
            delivery,
            hops=hops,
            total_seconds=round(STEADY_HOP_DELAY * len(hops), 1),
            message_id=STEADY_MESSAGE_ID.format(domain=domain),
            test_id="steady",
        )

    return replace(access, readback=read)
