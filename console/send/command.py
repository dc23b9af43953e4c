"""`mailscope send`: one test message along SMTP, the Gmail API or both, then readback.

The flow is the Send pane's, headless: compose one message (optionally DKIM-signed), lint
it, ask once for confirmation (`--yes` in scripts), send along each path at the same time
so their timings compare, read each copy back from the seed mailbox (the lab's mailbox,
IMAP or the Gmail API), and, with both paths, compare the copies aspect by aspect.

Each path sends its own copy with its own X-Mailscope-Test id (`<id>.smtp`,
`<id>.gmail-api`): both land in the same seed mailbox, and readback must tell them apart.
Everything else in the two copies is the same message.

JSON (`--json`) prints one object per path (design.md's send shape, plus `readback` and
`readback_error`), then, with both paths read back, one `{"comparison": ...}` object.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from console.errors import MailscopeError

if TYPE_CHECKING:
    from email.message import EmailMessage

    from console.auth.resolver import ResolverContext
    from console.config import Config
    from console.lab import Lab
    from console.model import Finding
    from console.send.compare import Comparison
    from console.send.compose import Copy
    from console.send.readback import Delivery
    from console.send.result import SendResult

EXIT_OK, EXIT_FAILED, EXIT_ERROR = 0, 1, 2

DEFAULT_READBACK_WAIT = 20.0
"""Seconds readback keeps looking for a copy: a real provider may take that long."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `send` subcommand's own arguments (the resolver options are added by the CLI)."""
    parser.add_argument(
        "--to",
        required=True,
        action="append",
        metavar="ADDR",
        help="recipient (repeatable; a seed mailbox, at most 10)",
    )
    parser.add_argument(
        "--from",
        dest="from_addr",
        required=True,
        metavar="ADDR",
        help="From address, also the envelope sender",
    )
    parser.add_argument(
        "--via",
        choices=("smtp", "gmail-api", "both"),
        default="smtp",
        help="sending path: SMTP submission, the Gmail API (users.messages.send), or both "
        "side by side",
    )
    parser.add_argument(
        "--host",
        metavar="H",
        help="submission server (default: the profile's; smtp.good.test with --lab)",
    )
    parser.add_argument(
        "--port", type=_port, metavar="P", help="its port (default: the profile's, else 587)"
    )
    security = parser.add_mutually_exclusive_group()
    security.add_argument(
        "--starttls",
        dest="security",
        action="store_const",
        const="starttls",
        help="plain connection upgraded with STARTTLS (the default, but 465)",
    )
    security.add_argument(
        "--tls",
        dest="security",
        action="store_const",
        const="tls",
        help="implicit TLS from the first byte (port 465)",
    )
    parser.add_argument("--user", metavar="U", help="SMTP AUTH user (password: --password-env)")
    parser.add_argument(
        "--xoauth2",
        action="store_true",
        help="log in to SMTP with XOAUTH2 instead of a password, with a token from the "
        "--credentials file: Google's (Gmail and Workspace; scope https://mail.google.com/) "
        'or a "type": "microsoft" file (Microsoft 365: tenant and client_id, with an app\'s '
        "client_secret, or a user's refresh_token; with neither, a user signs in once by "
        "device code at a terminal and the file keeps the refresh token)",
    )
    parser.add_argument(
        "--password-env",
        metavar="VAR",
        default=None,
        help="environment variable holding the SMTP password (default "
        "MAILSCOPE_SMTP_PASSWORD, or the profile's); else a prompt at a terminal",
    )
    parser.add_argument(
        "--cafile", type=Path, metavar="F", help="trust this CA (PEM) besides the system store"
    )
    parser.add_argument(
        "--allow-untrusted-cert",
        action="store_true",
        help="send even if the server's certificate does not verify (this send only)",
    )
    parser.add_argument("--subject", metavar="S", default="mailscope test message")
    parser.add_argument(
        "--text", metavar="TEXT", help="the text/plain part (default a one-line test text)"
    )
    parser.add_argument(
        "--html-file", type=Path, metavar="F", help="the text/html part, read from this file"
    )
    parser.add_argument(
        "--unsubscribe",
        action="append",
        metavar="URI",
        help="a List-Unsubscribe target: mailto:ADDR or an https URL (repeatable; with "
        "an https URL the message also says List-Unsubscribe-Post: "
        "List-Unsubscribe=One-Click, RFC 8058)",
    )
    parser.add_argument(
        "--no-one-click",
        dest="one_click",
        action="store_false",
        help="leave out List-Unsubscribe-Post (the https URL then opens a page)",
    )
    parser.add_argument(
        "--attach",
        action="append",
        type=Path,
        metavar="F",
        help="attach this file (repeatable; lint warns of types providers block)",
    )
    parser.add_argument(
        "--helo",
        metavar="NAME",
        help="the EHLO name to greet with (default mailscope.invalid; strict servers may "
        "want this host's real name)",
    )
    parser.add_argument(
        "--dkim-key", type=Path, metavar="F", help="sign with this private key (PEM)"
    )
    parser.add_argument(
        "--selector", metavar="S", help="DKIM selector of --dkim-key (d= is the From domain)"
    )
    parser.add_argument(
        "--credentials",
        type=Path,
        metavar="F",
        help="Gmail API credentials: a service-account or authorized-user JSON file "
        "(scopes gmail.send, and gmail.readonly for --readback gmail)",
    )
    parser.add_argument(
        "--delegate",
        metavar="EMAIL",
        help="Workspace user a service account sends as (domain-wide delegation)",
    )
    parser.add_argument("--endpoint", metavar="URL", help="Gmail API root URL instead of Google's")
    parser.add_argument(
        "--readback",
        metavar="WHERE",
        help="read the delivered copy back: imaps://USER@HOST[:PORT] or imap://... "
        "(STARTTLS; password from MAILSCOPE_IMAP_PASSWORD), gmail (the credentials' "
        "mailbox), or lab (the lab's mailbox; the default with --lab)",
    )
    parser.add_argument(
        "--authserv-id",
        action="append",
        metavar="ID",
        help="believe only Authentication-Results from this receiver on readback "
        "(repeatable; e.g. mx.example.net; Gmail's mx.google.com is implied for gmail)",
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=DEFAULT_READBACK_WAIT,
        metavar="SECONDS",
        help=f"how long readback looks for each copy (default {DEFAULT_READBACK_WAIT:g})",
    )
    parser.add_argument("--yes", action="store_true", help="send without asking (scripts, CI)")


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number")
    return int(text)


# -- the plan ----------------------------------------------------------------------------


@dataclass(slots=True)
class SmtpPlan:
    """Where and how the SMTP path submits."""

    host: str
    port: int
    security: str
    user: str | None
    password: str | None = field(repr=False)
    cafile: str | None
    verify: bool
    oauth_token: str | None = field(default=None, repr=False)
    helo: str | None = None


@dataclass(slots=True)
class PathOutcome:
    """One path's send and its readback."""

    via: str
    test_id: str
    result: SendResult
    delivery: Delivery | None = None
    readback_error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = self.result.to_dict()
        data["test_id"] = self.test_id
        data["readback"] = self.delivery.to_dict() if self.delivery is not None else None
        data["readback_error"] = self.readback_error
        return data


@dataclass(slots=True)
class SendRun:
    """Everything one `mailscope send` did."""

    outcomes: list[PathOutcome] = field(default_factory=list)
    comparison: Comparison | None = None

    @property
    def failed(self) -> bool:
        """A path was not accepted, a copy was not found, or one landed in spam."""
        for outcome in self.outcomes:
            if not outcome.result.accepted or outcome.readback_error:
                return True
            folder = (outcome.delivery.folder or "") if outcome.delivery else ""
            if folder.lower() in ("spam", "junk"):
                return True
        return False


def paths_of(via: str) -> list[str]:
    return ["smtp", "gmail-api"] if via == "both" else [via]


def _smtp_plan(
    args: argparse.Namespace, config: Config, lab: Lab | None, ctx: ResolverContext
) -> SmtpPlan:
    from console.ports.tlsinfo import check_cafile
    from console.send.smtp import PASSWORD_ENV, password_from_env, prompt_password

    submission = config.profile_for(None).submission
    host, port, user = args.host, args.port, args.user
    password_env = args.password_env or (submission.password_env if submission else PASSWORD_ENV)
    lab_password = None
    oauth_file = args.credentials if args.xoauth2 else None
    if lab is not None and host is None:
        from console.lab.smtp import LAB_PASSWORD, LAB_USER

        if args.xoauth2 and args.credentials is None:
            from console.lab.gmail_api import GMAIL_SEED_ADDRESS

            # The lab's fixed Google token is the seed account's, as a Gmail token is
            # its own account's.
            user = user or GMAIL_SEED_ADDRESS
        host, user = "smtp.good.test", user or LAB_USER
        lab_password = LAB_PASSWORD  # public demo credentials of the lab's own server
    elif host is None and submission is not None:
        host, port = submission.host, port or submission.port
        user = user or submission.username or None
        if oauth_file is None and submission.oauth_credentials is not None:
            oauth_file = submission.oauth_credentials  # the profile logs in with XOAUTH2
    if host is None:
        raise MailscopeError("no server", "give --host H (or a submission server in the profile)")
    port = port or 587
    security = args.security or ("tls" if port == 465 else "starttls")
    cafile = str(args.cafile) if args.cafile else None
    if problem := check_cafile(cafile):
        raise MailscopeError("bad --cafile", problem)
    password = None
    token = None
    if args.xoauth2 or oauth_file is not None:
        if not user:
            raise MailscopeError("--xoauth2", "give --user, the account the token belongs to")
        token = _oauth_token(oauth_file, args.delegate or user, lab, ctx)
    elif user:
        # The lab's public demo password is never prompted for.
        password = password_from_env(password_env) or lab_password or prompt_password(user)
        if not password:
            raise MailscopeError("no password", f"set {password_env} for --user {user}")
    helo = config.profile_for(None).helo or None
    if args.helo:
        from console.auth.records import InvalidDomain, normalize_domain

        try:
            helo = normalize_domain(args.helo)
        except InvalidDomain as exc:
            raise MailscopeError("bad --helo", str(exc)) from None
    return SmtpPlan(
        host, port, security, user, password, cafile, not args.allow_untrusted_cert, token, helo
    )


def _oauth_token(
    credentials: Path | None, delegate: str | None, lab: Lab | None, ctx: ResolverContext
) -> str:
    """An access token for XOAUTH2 from a credentials file (refreshed if needed); a
    Google service account acts as `delegate` (by default the SMTP user)."""
    import asyncio

    from console.send.oauth import xoauth2_token

    def tell(text: str) -> None:
        print(f"mailscope: {text}", file=sys.stderr, flush=True)

    # A first Microsoft sign-in needs a person at a browser: offered at a terminal only.
    return asyncio.run(
        xoauth2_token(
            ctx,
            credentials,
            delegate=delegate,
            lab=lab is not None,
            tell=tell if sys.stdin.isatty() else None,
        )
    )


def _gmail_credentials(args: argparse.Namespace, lab: Lab | None, *, read: bool) -> Any:
    from console.postmaster.credentials import lab_credentials, load_credentials
    from console.send.oauth import GMAIL_READ_SCOPE, GMAIL_SEND_SCOPE

    scopes = [GMAIL_SEND_SCOPE, *([GMAIL_READ_SCOPE] if read else [])]
    if args.credentials is not None:
        return load_credentials(args.credentials, subject=args.delegate, scopes=scopes)
    if lab is not None:
        return lab_credentials()
    raise MailscopeError(
        "no Gmail API credentials",
        "give --credentials F (a service-account or authorized-user JSON file)",
    )


def _gmail_endpoint(args: argparse.Namespace, lab: Lab | None) -> str | None:
    if args.endpoint:
        return args.endpoint
    if lab is not None:
        return lab.gmail_endpoint
    return None


def _readback_kind(args: argparse.Namespace, lab: Lab | None) -> str | None:
    where = args.readback
    if where is None:
        return "lab" if lab is not None else None
    if where in ("lab", "gmail") or where.startswith(("imap://", "imaps://")):
        if where == "lab" and lab is None:
            raise MailscopeError("--readback lab", "needs --lab")
        return where
    raise MailscopeError(
        "bad --readback", f"{where!r}: expected imaps://USER@HOST[:PORT], imap://..., gmail or lab"
    )


def _unsubscribe_targets(values: Sequence[str]) -> tuple[str | None, str | None]:
    """(mailto, https) from the --unsubscribe values; anything else is refused."""
    mailto = https = None
    for value in values:
        scheme = value.partition(":")[0].lower()
        if scheme == "mailto" and mailto is None:
            mailto = value
        elif scheme == "https" and https is None:
            https = value
        else:
            raise MailscopeError(
                "bad --unsubscribe",
                f"{value!r}: give one mailto: address and one https:// URL at most",
            )
    return mailto, https


def _html_body(path: Path | None) -> str | None:
    if path is None:
        return None
    from console.send.compose import read_attachment

    try:
        return read_attachment(path).data.decode("utf-8-sig")
    except MailscopeError as exc:
        raise MailscopeError(f"Cannot read {path}", exc.msg or str(exc)) from None
    except UnicodeDecodeError:
        raise MailscopeError(f"Cannot read {path}", "the HTML is not UTF-8") from None


def compose_copies(
    args: argparse.Namespace, paths: Sequence[str]
) -> tuple[EmailMessage, dict[str, Copy], str | None]:
    """The message, each path's copy (own test id each, signed), and the DKIM d=."""
    from console.send.compose import TEXT_BODY, TestMessage, compose_and_sign

    mailto, https = _unsubscribe_targets(args.unsubscribe or ())
    spec = TestMessage(
        from_addr=args.from_addr,
        to=list(args.to),
        subject=args.subject,
        text=TEXT_BODY if args.text is None else args.text,
        html=_html_body(args.html_file),
        list_unsubscribe_mailto=mailto,
        list_unsubscribe_https=https,
        one_click=args.one_click,
    )
    return compose_and_sign(
        spec,
        paths,
        attachment_files=args.attach or (),
        dkim_key_file=args.dkim_key,
        selector=args.selector,
    )


# -- running -----------------------------------------------------------------------------


async def _send_path(
    ctx: ResolverContext,
    via: str,
    data: bytes,
    args: argparse.Namespace,
    smtp: SmtpPlan | None,
    credentials: Any,
    endpoint: str | None,
) -> SendResult:
    from console.send.guard import process_guard
    from console.send.result import SendResult

    if via == "smtp":
        from console.send.smtp import DEFAULT_TIMEOUT, send_smtp

        assert smtp is not None
        return await send_smtp(
            ctx,
            data,
            envelope_from=args.from_addr,
            recipients=list(args.to),
            host=smtp.host,
            port=smtp.port,
            security=smtp.security,  # type: ignore[arg-type]
            username=smtp.user,
            password=smtp.password,
            oauth_token=smtp.oauth_token,
            cafile=smtp.cafile,
            verify=smtp.verify,
            timeout=args.timeout or DEFAULT_TIMEOUT,
            **({"helo": smtp.helo} if smtp.helo else {}),
            confirmed=True,  # confirmed by the caller: --yes or the prompt
            guard=process_guard(),
        )
    from console.send.gmail_api import send_gmail_api

    refusal = process_guard().admit(confirmed=True, recipients=len(args.to))
    if refusal:
        return SendResult(via="gmail-api", error=refusal)
    return await send_gmail_api(data, credentials=credentials, endpoint=endpoint)


async def _read_back(
    ctx: ResolverContext,
    kind: str,
    outcome: PathOutcome,
    recipient: str,
    args: argparse.Namespace,
    lab: Lab | None,
    credentials: Any,
    endpoint: str | None,
    sent_at: datetime,
) -> None:
    wait = max(0.0, args.wait)
    trusted = _trusted_receivers(kind, args, lab)
    try:
        if kind == "lab":
            from console.send.readback import fetch_delivery_from_lab

            assert lab is not None
            delivery = await fetch_delivery_from_lab(
                lab, recipient, outcome.test_id, sent_at=sent_at, wait=wait
            )
        elif kind == "gmail":
            from console.send.gmail_api import fetch_delivery_gmail

            delivery = await fetch_delivery_gmail(
                credentials=credentials,
                test_id=outcome.test_id,
                message_id=outcome.result.message_id,
                endpoint=endpoint,
                wait=wait,
                sent_at=sent_at,
                authserv_ids=trusted,
            )
        else:
            from console.send.imap import (
                IMAP_PASSWORD_ENV,
                fetch_delivery_imap,
                imap_password_from_env,
                parse_imap_url,
            )

            target = parse_imap_url(kind)
            password = imap_password_from_env()
            if not password and lab is not None:
                from console.lab.imap import IMAP_PASSWORD

                password = IMAP_PASSWORD  # the lab's public demo account
            if not password:
                raise MailscopeError("no IMAP password", f"set {IMAP_PASSWORD_ENV}")
            cafiles = tuple(
                str(path) for path in (ctx.services.cafile, args.cafile) if path is not None
            )
            delivery = await fetch_delivery_imap(
                target,
                password,
                test_id=outcome.test_id,
                message_id=outcome.result.message_id,
                wait=wait,
                cafiles=cafiles,
                resolver=ctx,
                sent_at=sent_at,
                authserv_ids=trusted,
            )
    except MailscopeError as exc:
        outcome.readback_error = str(exc)
        return
    if delivery is None:
        looked_for = (
            f"Message-ID {outcome.result.message_id}"
            if kind == "gmail" and outcome.result.message_id
            else f"X-Mailscope-Test {outcome.test_id}"
        )
        outcome.readback_error = (
            f"no copy with {looked_for} within {wait:g} s: it may still be queued, was "
            "dropped, or went to another mailbox"
        )
    outcome.delivery = delivery


def _trusted_receivers(kind: str, args: argparse.Namespace, lab: Lab | None) -> tuple[str, ...]:
    """Whose Authentication-Results readback believes (a sender can forge the others).

    The lab's MX judges everything in the lab; Gmail stamps `mx.google.com`; for IMAP
    the admin names the receiving server with --authserv-id (else the topmost header is
    read, and any other is named as a problem).
    """
    if lab is not None:
        from console.lab.mailbox import AUTHSERV_ID

        return (AUTHSERV_ID,)
    if kind == "gmail":
        return ("mx.google.com",)
    return tuple(args.authserv_id or ())


async def run_send(
    ctx: ResolverContext,
    args: argparse.Namespace,
    *,
    paths: Sequence[str],
    copies: dict[str, Copy],
    smtp: SmtpPlan | None,
    readback: str | None,
    lab: Lab | None,
    lint: list[Any],
) -> SendRun:
    """Send along each path at once, then read every accepted copy back at once."""
    import asyncio

    needs_read = readback == "gmail"
    credentials = (
        _gmail_credentials(args, lab, read=needs_read)
        if "gmail-api" in paths or needs_read
        else None
    )
    endpoint = _gmail_endpoint(args, lab)
    sent_at = datetime.now(UTC)
    results = await asyncio.gather(
        *(
            _send_path(ctx, via, copies[via].data, args, smtp, credentials, endpoint)
            for via in paths
        )
    )
    run = SendRun()
    for via, result in zip(paths, results, strict=True):
        result.lint = list(lint)
        run.outcomes.append(PathOutcome(via, copies[via].test_id, result))
    if readback is not None:
        await asyncio.gather(
            *(
                _read_back(
                    ctx, readback, outcome, args.to[0], args, lab, credentials, endpoint, sent_at
                )
                for outcome in run.outcomes
                if outcome.result.accepted
            )
        )
        if len(run.outcomes) > 1:
            from console.send.compare import compare_deliveries

            run.comparison = compare_deliveries(
                [outcome.via for outcome in run.outcomes],
                [outcome.delivery for outcome in run.outcomes],
            )
    return run


def run(
    args: argparse.Namespace,
    config: Config,
    ctx: ResolverContext,
    lab: Lab | None,
    stream: TextIO | None = None,
) -> int:
    """`mailscope send`, given the resolver context (the lab's with --lab)."""
    out = stream or sys.stdout
    paths = paths_of(args.via)
    smtp = _smtp_plan(args, config, lab, ctx) if "smtp" in paths else None
    readback = _readback_kind(args, lab)
    if readback == "gmail" and "gmail-api" not in paths and args.credentials is None and not lab:
        raise MailscopeError("--readback gmail", "needs --credentials F")
    message, copies, dkim_domain = compose_copies(args, paths)

    import asyncio

    from console.send.lint import lint_message

    # Linted before the question, so the admin sees what receivers will hold against
    # the message before deciding to send it.
    findings = asyncio.run(
        lint_message(ctx, message, envelope_from=args.from_addr, dkim_domain=dkim_domain)
    )
    if not args.yes:
        if not sys.stdin.isatty():
            raise MailscopeError("not sent", "a live send needs --yes when not at a terminal")
        print_lint(findings, sys.stderr)
        answer = input(
            f"Send a test message to {', '.join(args.to)} via {_describe(paths, smtp)}? [y/N] "
        )
        if answer.strip().lower() not in ("y", "yes"):
            print("mailscope: not sent", file=sys.stderr)
            return EXIT_ERROR

    result = asyncio.run(
        run_send(
            ctx,
            args,
            paths=paths,
            copies=copies,
            smtp=smtp,
            readback=readback,
            lab=lab,
            lint=findings,
        )
    )
    if args.json:
        for outcome in result.outcomes:
            print(json.dumps(outcome.to_dict()), file=out, flush=True)
        if result.comparison is not None:
            print(json.dumps({"comparison": result.comparison.to_dict()}), file=out, flush=True)
    else:
        print_run(result, out, lint_shown=not args.yes)
    return EXIT_FAILED if result.failed else EXIT_OK


def _describe(paths: Sequence[str], smtp: SmtpPlan | None) -> str:
    parts = []
    for via in paths:
        if via == "smtp" and smtp is not None:
            who = f", as {smtp.user}" if smtp.user else ""
            parts.append(f"{smtp.host}:{smtp.port} ({smtp.security}{who})")
        else:
            parts.append("the Gmail API")
    return " and ".join(parts)


# -- the readable report -----------------------------------------------------------------


def print_lint(findings: Sequence[Finding], out: TextIO) -> None:
    """One line per lint finding: severity, code, message."""
    from console.literal import printable

    for finding in findings:
        print(
            f"lint {finding.severity.value:5} {finding.code}: {printable(finding.message)}",
            file=out,
        )


def print_run(run: SendRun, out: TextIO, *, lint_shown: bool = False) -> None:
    """Lint (unless shown before the question), then each path's transcript, reply and
    readback, then the comparison."""
    from console.literal import printable

    if not lint_shown:
        print_lint(run.outcomes[0].result.lint if run.outcomes else [], out)
    for outcome in run.outcomes:
        result = outcome.result
        print(f"\n== {outcome.via} ==", file=out)
        for line in result.transcript:
            print(f"{line.at_ms:8.1f} {line.direction} {printable(line.text)}", file=out)
        if result.accepted:
            print(
                f"accepted: {printable(result.reply or '')} (queue id "
                f"{printable(result.queue_id or '?')}, Message-ID "
                f"{printable(result.message_id or '?')}, "
                f"{result.timings_ms.get('total', 0):.0f} ms)",
                file=out,
            )
        else:
            print(f"NOT accepted: {printable(result.error or result.reply or '')}", file=out)
        if outcome.readback_error:
            print(f"readback: {printable(outcome.readback_error)}", file=out)
        elif outcome.delivery is not None:
            for line in describe_delivery(outcome.delivery):
                print(f"readback: {line}", file=out)
    if run.comparison is not None:
        print("\n== side by side ==", file=out)
        paths = run.comparison.paths
        width = max(len(a.label) for a in run.comparison.aspects)
        print(f"{'':{width}}  " + "  ".join(f"{p:24}" for p in paths), file=out)
        for aspect in run.comparison.aspects:
            mark = " " if aspect.same else "*"
            values = "  ".join(f"{printable(v or '-')[:24]:24}" for v in aspect.values)
            print(f"{aspect.label:{width}}{mark} {values}", file=out)
        for aspect in run.comparison.differences:
            if aspect.note:
                print(f"* {aspect.label}: {aspect.note}", file=out)
        print(run.comparison.verdict, file=out)


def describe_delivery(delivery: Delivery) -> list[str]:
    """The readback in a few plain lines (remote text escaped)."""
    from console.literal import printable

    def verdict(name: str) -> str:
        result = getattr(delivery, name)
        return f"{name}={printable(result.result) if result else '-'}"

    category = f" ({printable(delivery.category)} tab)" if delivery.category else ""
    lines = [
        f"landed in {printable(delivery.folder or '?')}{category}; "
        + " ".join(verdict(name) for name in ("spf", "dkim", "dmarc"))
        + (f" (judged by {printable(delivery.authserv_id)})" if delivery.authserv_id else "")
    ]
    aligned = [f"{kind} {value}" for kind, value in delivery.alignment.items() if value]
    lines.append(
        f"DKIM d={printable(delivery.dkim_domain or '-')} "
        f"s={printable(delivery.dkim_selector or '-')}; "
        f"Return-Path {printable(delivery.return_path or '-')}; aligned: "
        + (", ".join(aligned) or "nothing")
    )
    for hop in delivery.hops:
        tls = hop.tls_version or ("TLS" if hop.tls else "clear" if hop.tls is False else "?")
        delay = f"+{hop.delay:.1f} s" if hop.delay is not None else "+? s"
        if hop.skew:
            delay += f" (its clock {hop.skew:.0f} s behind)"
        lines.append(
            f"  hop {printable(hop.from_host or '?')} -> {printable(hop.by_host or '?')} "
            f"[{printable(tls)}] {delay}"
        )
    if delivery.total_seconds is not None:
        lines.append(f"total time to mailbox {delivery.total_seconds:.1f} s")
    lines.extend(f"problem: {printable(problem)}" for problem in delivery.problems)
    return lines
