"""`mailscope bounce FILE... [--json] [--csv OUT]`: classify bounces headless.

FILE is an .eml, an mbox, a maildir or any folder of such files, a text file of pasted
SMTP replies, or `-` for stdin. Kept import-light: argparse only at import time; Rich
loads when there is something to print for people.

Output: for people, a table of groups (reason x provider, most urgent first), then per
group the frequent diagnostics, the next step and a few recipients; with `--json`, one
JSON object per input message (design.md's bounce shape) as it is read, so a big mbox
streams. `--csv OUT` also writes one row per recipient (`-` for stdout instead of the
table).

Exit status: 0 when no recipient failed (only delays, auto-replies, successes or
nothing recognisable); 1 when at least one recipient failed, hard or soft (a bounce
is a failed delivery, whatever its retry prospects); 2 when an input could not be read
(missing file, unreadable message: the others are still processed and printed) or for
a usage error.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator
from typing import Any, TextIO

EXIT_OK, EXIT_FAIL, EXIT_ERROR = 0, 1, 2
DETAILS_PER_GROUP = 3
UNKNOWN_NAMED = 5  # "not a bounce" notes printed one by one before they are counted


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `bounce` subcommand's arguments."""
    parser.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help=".eml, mbox, maildir or folder, pasted SMTP replies, or - for stdin",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object per message")
    parser.add_argument(
        "--csv",
        metavar="OUT",
        help="also write one CSV row per recipient to OUT ('-' for stdout)",
    )
    parser.add_argument(
        "--details",
        type=int,
        default=DETAILS_PER_GROUP,
        metavar="N",
        help=f"recipients shown per group (default {DETAILS_PER_GROUP}; 0 for none)",
    )


def run(args: argparse.Namespace, stream: TextIO | None = None, stdin: Any = None) -> int:
    """Run the command; raises MailscopeError (the CLI prints it, exits 2) for usage errors."""
    from console.bounce.campaign import CampaignBuilder, CsvWriter
    from console.bounce.model import KIND_ERROR, KIND_UNKNOWN
    from console.bounce.reader import analyse_paths
    from console.errors import MailscopeError

    out = stream or sys.stdout
    if args.files.count("-") > 1:
        raise MailscopeError("bounce", "stdin (-) can be given only once")
    if args.csv == "-" and args.json:
        raise MailscopeError("bounce", "--csv - and --json both want stdout; pick one")
    builder = CampaignBuilder()
    worst = EXIT_OK
    quiet_unknown = 0  # ordinary mail in a bounce folder: name the first few only
    with _csv_stream(args.csv, out) as csv_stream:
        csv_writer = CsvWriter(csv_stream) if csv_stream is not None else None
        for result in analyse_paths(args.files, stdin=stdin):
            builder.add(result)
            if result.kind == KIND_ERROR:
                worst = EXIT_ERROR
            elif result.failures and worst == EXIT_OK:
                worst = EXIT_FAIL
            if result.problem and result.kind == KIND_UNKNOWN:
                quiet_unknown += 1
                if quiet_unknown <= UNKNOWN_NAMED:
                    _say(result.problem)
            elif result.problem:
                _say(result.problem)
            if csv_writer is not None:
                csv_writer.write(result)
            if args.json:
                out.write(json.dumps(result.to_dict(), ensure_ascii=False) + "\n")
                out.flush()
    if quiet_unknown > UNKNOWN_NAMED:
        _say(
            f"{quiet_unknown - UNKNOWN_NAMED} more messages are not bounces, delay notices "
            "or auto-replies (--json names each)"
        )
    campaign = builder.build()
    if not args.json and args.csv != "-":
        print_campaign(campaign, out, details=max(args.details, 0))
    return worst


@contextlib.contextmanager
def _csv_stream(target: str | None, out: TextIO) -> Iterator[TextIO | None]:
    if target is None:
        yield None
        return
    if target == "-":
        yield out
        return
    from console.errors import MailscopeError

    try:
        handle = open(target, "w", encoding="utf-8", newline="")  # noqa: SIM115
    except OSError as exc:
        raise MailscopeError("--csv", f"cannot write {target}: {exc.strerror or exc}") from None
    with handle:
        yield handle


def _say(message: str) -> None:
    from console.literal import printable

    print(f"mailscope: {printable(message)}", file=sys.stderr)


def print_campaign(campaign: Any, out: TextIO, *, details: int = DETAILS_PER_GROUP) -> None:
    """The groups table, then each group's diagnostics, next step and some recipients."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from console.literal import printable

    console = Console(file=out, highlight=False, soft_wrap=True)
    kinds = campaign.kinds
    console.print(
        Text(
            f"{campaign.messages} messages: {kinds.get('bounce', 0)} bounces, "
            f"{kinds.get('delayed', 0)} delay notices, {kinds.get('auto-reply', 0)} "
            f"auto-replies, {kinds.get('delivered', 0)} success notices, "
            f"{kinds.get('unknown', 0)} not recognised, {kinds.get('error', 0)} unreadable",
            style="bold",
        )
    )
    console.print(
        Text(
            f"{campaign.failed} recipients failed ({campaign.hard} hard); "
            "delays and auto-replies are not counted as failures",
            style="bold red" if campaign.failed else "green",
        )
    )
    if not campaign.groups:
        return
    table = Table(show_edge=False, box=None, padding=(0, 1, 0, 0))
    for title, justify in (
        ("#", "right"),
        ("reason", "left"),
        ("provider", "left"),
        ("failed", "right"),
        ("hard", "right"),
        ("domains", "right"),
        ("delayed", "right"),
        ("check", "left"),
    ):
        table.add_column(title, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for number, group in enumerate(campaign.groups, start=1):
        style = "bold red" if group.hard else ("yellow" if group.recipients else "dim")
        table.add_row(
            str(number),
            Text(group.reason, style=style),
            Text(printable(group.provider)),
            str(group.recipients),
            str(group.hard),
            str(len(group.domains)),
            str(group.delayed),
            Text(group.check or "-"),
        )
    console.print()
    console.print(table)
    for number, group in enumerate(campaign.groups, start=1):
        console.print()
        console.print(
            Text.assemble(
                (f"{number}. {group.reason}", "bold"),
                (" at ", ""),
                (printable(group.provider), "bold"),
                (f"  {group.recipients} failed, {group.delayed} delayed", "dim"),
            )
        )
        for text, count in group.top_diagnostics():
            console.print(Text.assemble((f"   {count:>5}x  ", "dim"), Text(printable(text))))
        if group.next_step:
            console.print(Text.assemble(("   next: ", "yellow"), Text(printable(group.next_step))))
        for file, recipient in group.members[:details]:
            console.print(
                Text.assemble(
                    ("     ", ""),
                    Text(printable(recipient.recipient or "(recipient unknown)")),
                    ("  ", ""),
                    (printable(recipient.status or str(recipient.reply_code or "-")), "cyan"),
                    ("  ", ""),
                    (printable(file), "dim"),
                )
            )
