"""`mailscope postmaster`: the headless Postmaster view (cli.py wires it in).

Kept import-light: argparse only at import time; the Google client, Rich and the lab
load when the command runs, so `mailscope --help` stays fast.

Exit status: 0 when every domain stayed below 0.3% in the window and no compliance
row needs work; 1 when a day reached 0.3%, a row needs work, or an SNDS IP is RED;
2 when a fetch failed (the stored days are still printed) or for a usage error.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

EXIT_OK, EXIT_FAIL, EXIT_ERROR = 0, 1, 2
SNDS_KEY_ENV = "MAILSCOPE_SNDS_KEY"


def _days(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 1 <= value <= 3650:
        raise argparse.ArgumentTypeError("--days takes 1 to 3650")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `postmaster` subcommand's arguments."""
    parser.add_argument(
        "domain",
        nargs="?",
        metavar="DOMAIN",
        help="one domain; all of the account's domains when omitted",
    )
    parser.add_argument(
        "--days", type=_days, default=30, metavar="N", help="days back from today (default 30)"
    )
    parser.add_argument(
        "--credentials",
        type=Path,
        metavar="F",
        help="service-account or authorized-user JSON (default: the profile's, "
        "then the token saved by --login)",
    )
    parser.add_argument(
        "--subject",
        metavar="EMAIL",
        help="Workspace user a service account acts for (domain-wide delegation)",
    )
    parser.add_argument(
        "--endpoint",
        metavar="URL",
        help="API root URL instead of https://gmailpostmastertools.googleapis.com/",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="seconds per API request (default 30)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object per domain")
    parser.add_argument(
        "--import-csv",
        type=Path,
        action="append",
        default=[],
        metavar="F",
        help="store the days of a Postmaster Tools CSV export (repeatable); without "
        "--credentials or --lab, then show stored history without asking Google",
    )
    parser.add_argument(
        "--snds-key",
        metavar="K",
        help=f"Microsoft SNDS access key (or set {SNDS_KEY_ENV}); never printed",
    )
    parser.add_argument(
        "--login",
        type=Path,
        metavar="CLIENT_SECRETS",
        help="sign in with the OAuth installed-app flow and save the token (0600)",
    )
    parser.add_argument(
        "--login-mode",
        choices=("paste", "loopback"),
        default="paste",
        help="paste back the redirect URL (default), or a forwarded loopback port",
    )
    parser.add_argument(
        "--no-fetch", action="store_true", help="show stored history only, without asking Google"
    )
    parser.add_argument(
        "--lab",
        action="store_true",
        help="start the embedded lab and use its API emulator and SNDS",
    )
    parser.add_argument("--config", type=Path, metavar="FILE", help="configuration file")


def run(args: argparse.Namespace, stream: TextIO | None = None) -> int:
    """Run the command; raises MailscopeError (the CLI prints it, exits 2) for usage errors."""
    import asyncio

    out = stream or sys.stdout
    with _environment(args) as env:
        return asyncio.run(_run(args, env, out))


class _Env:
    def __init__(self) -> None:
        self.lab: Any = None
        self.history_path: Path | None = None


@contextlib.contextmanager
def _environment(args: argparse.Namespace) -> Iterator[_Env]:
    env = _Env()
    if not args.lab:
        yield env
        return
    from console.lab import Lab

    # The lab's days go to a throwaway history, never the admin's own.
    with tempfile.TemporaryDirectory(prefix="mailscope-lab-") as folder, Lab() as lab:
        env.lab = lab
        env.history_path = Path(folder) / "postmaster.sqlite3"
        yield env


async def _run(args: argparse.Namespace, env: _Env, out: TextIO) -> int:
    import asyncio

    from console.errors import MailscopeError
    from console.postmaster.history import PostmasterHistory
    from console.postmaster.stats import PostmasterClient, fetch_reports

    config = _config(args)
    if args.login is not None:
        from console.postmaster.credentials import default_token_path, oauth_login

        await asyncio.to_thread(
            oauth_login, args.login, mode=args.login_mode, show=lambda t: print(t, file=sys.stderr)
        )
        print(f"mailscope: signed in; token saved to {default_token_path()}", file=sys.stderr)
        if args.domain is None and not args.lab:
            return EXIT_OK
    history = await asyncio.to_thread(PostmasterHistory, env.history_path)
    for path in args.import_csv:
        if args.domain is None:
            raise MailscopeError("--import-csv", "give the DOMAIN the file belongs to")
        result = await asyncio.to_thread(history.import_csv, path, args.domain)
        for message in result.messages:
            print(f"mailscope: {message}", file=sys.stderr)
        print(
            f"mailscope: {path}: {result.day_count} days read, {result.stored} values stored",
            file=sys.stderr,
        )
    today = dt.datetime.now(dt.UTC).date()
    fetch = not args.no_fetch and not (
        args.import_csv and args.credentials is None and not args.lab
    )
    reports = []
    if fetch:
        client = PostmasterClient(await asyncio.to_thread(_service, args, env, config))
        domains = [args.domain] if args.domain else await asyncio.to_thread(client.list_domains)
        if not domains:
            raise MailscopeError("postmaster", "the account has no domains in Postmaster Tools")
        reports = await fetch_reports(client, domains, args.days, history=history, today=today)
    else:
        from console.postmaster.stats import build_report, date_window

        domains = [args.domain] if args.domain else await asyncio.to_thread(history.domains)
        start, end = date_window(args.days, today)
        for domain in domains:
            stored = await asyncio.to_thread(history.days, domain, start, end)
            report = build_report(
                domain, stored, None, await asyncio.to_thread(history.last_fetch, domain)
            )
            report.notes.append("Stored history only; Google was not asked.")
            reports.append(report)
    worst = EXIT_OK
    for report in reports:
        _print_report(report, args, out)
        if report.error:
            print(f"mailscope: {report.domain}: {report.error}", file=sys.stderr)
            worst = EXIT_ERROR
        elif report.days_above_0_3 or any(not row.compliant for row in report.compliance):
            worst = max(worst, EXIT_FAIL)
    key = args.snds_key or os.environ.get(SNDS_KEY_ENV)
    if key:
        worst = max(worst, await _snds(args, env, key, out))
    return worst


def _config(args: argparse.Namespace) -> Any:
    from console.config import load_config

    return load_config(args.config)


def _service(args: argparse.Namespace, env: _Env, config: Any) -> Any:
    from console.errors import MailscopeError
    from console.postmaster.client import build_service
    from console.postmaster.credentials import (
        default_token_path,
        lab_credentials,
        load_credentials,
    )

    if env.lab is not None:
        if args.credentials is None:
            creds = lab_credentials()
        else:
            creds = load_credentials(
                args.credentials, subject=args.subject, token_uri=env.lab.postmaster.token_uri
            )
        return build_service(
            creds, endpoint=args.endpoint or env.lab.postmaster_endpoint, timeout=args.timeout
        )
    path = args.credentials or config.profile_for(args.domain).postmaster_credentials
    if path is None and default_token_path().exists():
        path = default_token_path()
    if path is None:
        raise MailscopeError(
            "no Postmaster credentials",
            "give --credentials F (service-account or authorized-user JSON), set "
            "postmaster_credentials in the profile, or sign in: mailscope postmaster --login "
            "CLIENT_SECRETS.json",
        )
    creds = load_credentials(Path(path).expanduser(), subject=args.subject)
    return build_service(creds, endpoint=args.endpoint, timeout=args.timeout)


async def _snds(args: argparse.Namespace, env: _Env, key: str, out: TextIO) -> int:
    from console.postmaster.snds import SNDS_URL, fetch_snds

    if env.lab is not None:
        ctx = env.lab.resolver(timeout=min(args.timeout, 5.0))
        url = env.lab.postmaster.snds_url
    else:
        from console.auth.resolver import ResolverContext

        ctx = ResolverContext.from_options([], timeout=min(args.timeout, 5.0))
        url = SNDS_URL
    data = await fetch_snds(ctx, key, url=url, timeout=args.timeout)
    for message in data.messages:
        print(f"mailscope: {message}", file=sys.stderr)
    if args.json:
        out.write(json.dumps({"snds": data.to_dict()}, ensure_ascii=False) + "\n")
    else:
        _print_snds(data, out)
    if data.error:
        print(f"mailscope: {data.error}", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_FAIL if any(row.filter_result == "RED" for row in data.rows) else EXIT_OK


# -- printing ------------------------------------------------------------------------------


def _print_report(report: Any, args: argparse.Namespace, out: TextIO) -> None:
    if args.json:
        out.write(json.dumps(report.to_dict(), ensure_ascii=False) + "\n")
        out.flush()
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from console.literal import printable
    from console.postmaster.model import DELAY_NOTE, SPAM_RATE_LIMIT

    console = Console(file=out, highlight=False, soft_wrap=True)
    domain = printable(report.domain)
    console.print(Text(domain, style="bold"))
    fetched = report.fetched_at.strftime("%Y-%m-%d %H:%M UTC") if report.fetched_at else "never"
    last = report.last_data_date.isoformat() if report.last_data_date else "none"
    console.print(
        Text(
            f"  last fetch {fetched}; newest day with data {last}; "
            f"{len(report.days)} days with data in the last {args.days}"
        )
    )
    console.print(Text(f"  {DELAY_NOTE}", style="dim"))
    above = [d for d in report.spam_days if d.spam_rate >= SPAM_RATE_LIMIT]
    streak = report.consecutive_days_below_0_3
    style = "bold red" if above else "green"
    console.print(Text(f"  spam rate at or above 0.3% on {len(above)} days", style=style))
    for day in above[-10:]:
        console.print(Text(f"    {day.date.isoformat()}  {day.spam_rate * 100:.2f}%", style="red"))
    console.print(
        Text(
            f"  {streak} consecutive days below 0.3% (Gmail asks for 7 before mitigation)",
            style="green" if streak >= 7 else "yellow",
        )
    )
    if report.compliance:
        table = Table(show_edge=False, pad_edge=False, box=None, padding=(0, 2, 0, 4))
        table.add_column("requirement", no_wrap=True)
        table.add_column("status", no_wrap=True)
        table.add_column("scope", no_wrap=True)
        table.add_column("check", no_wrap=True)
        for row in report.compliance:
            mark = (
                Text("✓ COMPLIANT", style="green")
                if row.compliant
                else Text(f"✗ {printable(row.status)}", style="bold red")
            )
            table.add_row(
                Text(printable(row.requirement)), mark, Text(row.scope), Text(row.check or "-")
            )
        console.print(table)
        for hint in fix_commands(domain, report.compliance):
            console.print(Text(f"  explain and fix: {hint}", style="yellow"), soft_wrap=True)
    for verdict in report.verdicts:
        if verdict.status != "COMPLIANT":
            console.print(
                Text(
                    f"  {verdict.name}: {printable(verdict.status)} "
                    f"{printable(verdict.reason or '')}",
                    style="yellow",
                )
            )
    for note in report.notes:
        console.print(Text(f"  {note}", style="dim"))


AUTH_CHECKS = ("spf", "dkim", "dmarc", "fcrdns")


def fix_commands(domain: str, rows: Any) -> list[str]:
    """The console commands that explain and fix the rows needing work."""
    failing = {row.check for row in rows if not row.compliant and row.check}
    checks = [c for c in AUTH_CHECKS if c in failing or ("spf+dkim" in failing and c in "spfdkim")]
    hints = []
    if checks:
        hints.append(f"mailscope check {domain} --checks {','.join(checks)}")
    if "ports" in failing:
        hints.append(f"mailscope probe --mx {domain}  (TLS on the sending path)")
    if "send" in failing:
        hints.append(
            "mailscope send --to ADDR --from ADDR  (the lint checks headers and "
            "one-click unsubscribe)"
        )
    if "postmaster" in failing:
        hints.append("the spam-rate days above: keep it below 0.3% for 7 days in a row")
    return hints


def _print_snds(data: Any, out: TextIO) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(file=out, highlight=False, soft_wrap=False)
    console.print(Text("Microsoft SNDS", style="bold"))
    if not data.rows:
        console.print(Text("  no rows"))
        return
    table = Table(show_edge=False, box=None, padding=(0, 2, 0, 2))
    for title in ("date", "ip", "filter", "complaints", "traps", "recipients"):
        table.add_column(title)
    colours = {"GREEN": "green", "YELLOW": "yellow", "RED": "bold red"}
    for row in data.rows[-30:]:
        rate = (
            "-"
            if row.complaint_rate is None
            else (("< " if row.complaint_below else "") + f"{row.complaint_rate * 100:.1f}%")
        )
        table.add_row(
            row.date.isoformat() if row.date else "?",
            row.ip,
            Text(row.filter_result, style=colours.get(row.filter_result, "")),
            rate,
            str(row.trap_hits),
            str(row.recipients),
        )
    console.print(table)
