"""The command line: `mailscope [DOMAIN]`, `demo`, `lab`, `check`, `spf`.

Only argparse is imported up front, so `mailscope check --help` answers at once; the
engines are imported once a command runs, and Textual only when the console opens.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from console.auth.resolver import ResolverContext
    from console.config import Config
    from console.model import Report

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_ERROR = 2

COMMANDS = (
    "demo",
    "lab",
    "check",
    "spf",
    "probe",
    "postmaster",
    "send",
    "bounce",
    "dmarc-report",
)

_EPILOG = """\
exit status: 0 when nothing failed, 1 when a check failed (with --strict, also
when one could not be determined: DNS timeout, SERVFAIL, a refusing blocklist),
2 for a usage or runtime error.
"""


class _Parser(argparse.ArgumentParser):
    """argparse that exits 2 with one line, not a usage dump, on a bad argument."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(EXIT_ERROR, f"mailscope: {message} (see {self.prog} --help)\n")


def _add_resolver_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--nameserver",
        action="append",
        default=[],
        metavar="HOST[:PORT]",
        help="query this server instead of the system resolver (repeatable), e.g. the "
        "domain's authoritative servers right after an edit, or the lab's DNS",
    )
    parser.add_argument(
        "--timeout",
        type=_positive_float,
        default=None,
        metavar="SECONDS",
        help="seconds each DNS question may take, retries included (default: the "
        "config's timeout, else 5)",
    )
    parser.add_argument(
        "--lab",
        action="store_true",
        help="start the embedded lab in this process and ask its DNS, HTTPS and other "
        "servers (the demo domains end in .test)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object per line")
    parser.add_argument("--config", type=Path, metavar="FILE", help="configuration file")


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or value > 3600:
        raise argparse.ArgumentTypeError("must be between 0 and 3600 seconds")
    return value


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="mailscope",
        description="A deliverability console for the terminal: will our mail reach the "
        "inbox, and if not, why?",
        epilog="commands: demo, lab, check, spf, probe, postmaster, send, bounce, dmarc-report "
        "(mailscope COMMAND --help)\n\n" + _EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=_version())
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    postmaster = commands.add_parser(
        "postmaster",
        help="Gmail Postmaster Tools v2: spam rate, compliance, Microsoft SNDS",
        description="Fetch and store Gmail Postmaster Tools v2 statistics and compliance "
        "status (one JSON object per domain with --json).",
    )
    from console.postmaster.command import add_arguments as add_postmaster_arguments

    add_postmaster_arguments(postmaster)

    send = commands.add_parser(
        "send",
        help="send a test message over SMTP and/or the Gmail API, then read it back",
        description="Compose, lint and send one test message through an SMTP submission "
        "server (STARTTLS or implicit TLS, certificate verified, AUTH), the Gmail API "
        "(users.messages.send), or both side by side; print each reply, queue id, timings "
        "and transcript (credentials redacted); read the delivered copies back (IMAP, the "
        "Gmail API, the lab's mailbox) and compare them. Nothing is sent without a "
        "confirmation: a prompt at a terminal, --yes otherwise.",
        epilog=_EPILOG,
    )
    from console.send.command import add_arguments as add_send_arguments

    add_send_arguments(send)
    _add_resolver_options(send)

    bounce = commands.add_parser(
        "bounce",
        help="classify bounces: .eml, mbox, maildir, pasted SMTP replies, or - for stdin",
        description="Read non-delivery reports (RFC 3464 and the non-standard ones of "
        "Postfix, Exim, Sendmail, qmail, Microsoft, Gmail, Yahoo, Amazon SES, ...) and "
        "pasted SMTP replies; classify each failed recipient (reason, hard or soft, "
        "provider, the provider's meaning and the fix); group them by reason and "
        "provider, most urgent first. Auto-replies and delay notices are not failures.",
        epilog="exit status: 0 when no recipient failed, 1 when one did, 2 when an input "
        "could not be read (the others are still processed) or for a usage error.",
    )
    from console.bounce.command import add_arguments as add_bounce_arguments

    add_bounce_arguments(bounce)

    dmarc_report = commands.add_parser(
        "dmarc-report",
        help="read DMARC aggregate reports (.xml, .xml.gz, .zip, a folder, - for stdin)",
        description="Read DMARC aggregate (RUA) reports: sources by IP with their reverse "
        "DNS, volumes, SPF and DKIM results and alignment, what failed and why, per "
        "policy domain.",
        epilog="exit status: 0 when every message passed DMARC, 1 when some failed, 2 when "
        "no report could be read or for a usage error.",
    )
    from console.bounce.aggregate_command import add_arguments as add_dmarc_report_arguments

    add_dmarc_report_arguments(dmarc_report)
    _add_resolver_options(dmarc_report)

    demo = commands.add_parser("demo", help="open the console on the embedded lab")
    demo.add_argument("--config", type=Path, metavar="FILE", help="configuration file")

    lab = commands.add_parser("lab", help="run the lab headless and print its addresses")
    lab.add_argument(
        "--dns-delay",
        type=float,
        default=0.0,
        metavar="MS",
        help="milliseconds the lab DNS waits before every answer",
    )
    lab.add_argument("--json", action="store_true", help="print the addresses as JSON")

    check = commands.add_parser(
        "check",
        help="domain-authentication audit",
        description="Audit SPF, DMARC, DKIM, MX, MTA-STS, TLS-RPT, BIMI, DNSSEC, reverse "
        "DNS and blocklists of each DOMAIN, with the exact fix for each problem.",
        epilog=_EPILOG,
    )
    check.add_argument("domains", nargs="*", metavar="DOMAIN")
    check.add_argument(
        "--file", type=Path, metavar="F", help="read domains from F, one a line ('-': stdin)"
    )
    check.add_argument(
        "--selector", action="append", default=[], metavar="S", help="DKIM selector to check"
    )
    check.add_argument(
        "--ip",
        action="append",
        default=[],
        metavar="ADDR",
        help="sending IP address to check for reverse DNS and blocklistings",
    )
    check.add_argument(
        "--dnsbl",
        action="append",
        default=[],
        metavar="ZONE",
        help="blocklist zone to query instead of the default set (repeatable)",
    )
    check.add_argument(
        "--checks", metavar="IDS", help="comma-separated check ids to run (default: all)"
    )
    check.add_argument(
        "--no-discovery",
        action="store_true",
        help="check only the --selector DKIM selectors, not the well-known ones",
    )
    check.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 also when a check could not be determined (error), not only on fail",
    )
    check.add_argument(
        "--concurrency",
        type=_positive_int,
        default=32,
        metavar="N",
        help="domains audited at once with --file (default 32)",
    )
    _add_resolver_options(check)

    spf = commands.add_parser(
        "spf",
        help="RFC 7208 check_host(): would this IP pass SPF for this sender?",
        description="Evaluate SPF exactly as a receiver does (RFC 7208 check_host()).",
    )
    spf.add_argument("--ip", required=True, metavar="IP", help="the connecting client's address")
    spf.add_argument(
        "--sender",
        required=True,
        metavar="ADDR",
        help="MAIL FROM address; '' is the null reverse-path (postmaster@HELO is used)",
    )
    spf.add_argument("--helo", required=True, metavar="NAME", help="the HELO/EHLO name")
    _add_resolver_options(spf)

    probe = commands.add_parser(
        "probe",
        help="SMTP port probes: what 25, 465 and 587 really offer",
        description="Probe the SMTP ports of each HOST (and of every MX host of --mx DOMAIN; "
        "with neither, the profile's submission server): connection, greeting, EHLO, "
        "STARTTLS or implicit TLS, certificate, AUTH, DANE and MTA-STS, with the exact fix "
        "for each problem. IPv4 and IPv6 are probed apart; --timeout bounds each step.",
        epilog=_EPILOG,
    )
    probe.add_argument("hosts", nargs="*", metavar="HOST")
    probe.add_argument("--mx", metavar="DOMAIN", help="probe every MX host of DOMAIN")
    probe.add_argument(
        "--ports",
        metavar="LIST",
        help="ports to probe, with an optional role: 25,465,587,2525/starttls,2465/tls "
        "(default 25,465,587)",
    )
    probe.add_argument(
        "--cafile", type=Path, metavar="F", help="trust this CA (PEM) besides the system store"
    )
    probe.add_argument(
        "--relay-test",
        action="store_true",
        help="check that MAIL FROM/RCPT TO outside the domain is refused (no message is "
        "sent); only for hosts you control",
    )
    probe.add_argument(
        "--auth-user", metavar="U", help="test AUTH as U after TLS (password: --password-env)"
    )
    probe.add_argument(
        "--helo",
        metavar="NAME",
        help="the EHLO name to greet with (default mailscope.invalid; strict servers may "
        "want this host's real name)",
    )
    probe.add_argument(
        "--password-env",
        default="MAILSCOPE_SMTP_PASSWORD",
        metavar="VAR",
        help="environment variable holding the AUTH test password (default "
        "MAILSCOPE_SMTP_PASSWORD); it never appears in output",
    )
    _add_resolver_options(probe)
    return parser


def _version() -> str:
    from console import __version__

    return f"mailscope {__version__}"


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        first = args_list[0] if args_list else ""
        if first not in COMMANDS and first not in ("-h", "--help", "--version"):
            return _open_console(args_list)
        args = build_parser().parse_args(args_list)
        if args.command is None:
            return _open_console([])
        handler = {
            "demo": _cmd_demo,
            "lab": _cmd_lab,
            "check": _cmd_check,
            "spf": _cmd_spf,
            "probe": _cmd_probe,
            "postmaster": _cmd_postmaster,
            "send": _cmd_send,
            "bounce": _cmd_bounce,
            "dmarc-report": _cmd_dmarc_report,
        }
        return handler[args.command](args)
    except KeyboardInterrupt:
        print("mailscope: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        sys.stderr.close()  # `mailscope check ... | head`: the reader left, nothing to say
        return EXIT_OK
    except Exception as exc:
        from console.errors import MailscopeError

        if isinstance(exc, MailscopeError):
            print(f"mailscope: {exc}", file=sys.stderr)
        else:  # a bug: still one line, never a traceback in an admin's terminal
            print(f"mailscope: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_ERROR


def _open_console(args_list: list[str]) -> int:
    parser = _Parser(prog="mailscope", description="Open the console (on DOMAIN).")
    parser.add_argument("domain", nargs="?", metavar="DOMAIN")
    parser.add_argument("--nameserver", action="append", default=[], metavar="HOST[:PORT]")
    parser.add_argument("--timeout", type=_positive_float, default=None, metavar="SECONDS")
    parser.add_argument("--config", type=Path, metavar="FILE")
    args = parser.parse_args(args_list)
    return _run_console(
        args.domain,
        demo=False,
        config=args.config,
        nameservers=args.nameserver,
        timeout=args.timeout,
    )


def _run_console(
    domain: str | None,
    *,
    demo: bool,
    config: Path | None,
    nameservers: Sequence[str] = (),
    timeout: float | None = None,
) -> int:
    if not sys.stdout.isatty():
        hint = f"mailscope check {domain} --json" if domain else "mailscope check DOMAIN --json"
        print(f"mailscope: the console needs a terminal; for scripts use `{hint}`", file=sys.stderr)
        return EXIT_ERROR
    from console.app import run_console

    return run_console(
        domain, demo=demo, config_path=config, nameservers=nameservers, timeout=timeout
    )


def _cmd_demo(args: argparse.Namespace) -> int:
    return _run_console(None, demo=True, config=args.config)


def _cmd_lab(args: argparse.Namespace) -> int:
    import json
    import threading

    from console.lab import Lab

    # The headless lab is for trying things by hand: IMAP readback too, where Dovecot is.
    lab = Lab(dns_delay=max(0.0, args.dns_delay) / 1000, imap=True).start()
    try:
        info = lab.describe()
        if args.json:
            print(json.dumps(info), flush=True)
        else:
            print(
                f"lab DNS      {info['dns']}   (mailscope check DOMAIN --nameserver {info['dns']})"
            )
            for well_known, actual in info["ports"].items():
                print(f"port {well_known:<7} 127.0.0.1:{actual}")
            if info["cafile"]:
                print(f"lab CA       {info['cafile']}")
            print("domains      " + " ".join(info["domains"]))
            if info["gmail"]["endpoint"]:
                print(f"Gmail API    {info['gmail']['endpoint']}   (user {info['gmail']['user']})")
            if info["imap"]["url"]:
                from console.lab.imap import IMAP_PASSWORD

                print(f"IMAP         {info['imap']['url']}   (password {IMAP_PASSWORD})")
            print("Ctrl-C stops the lab.", flush=True)
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        lab.stop()
    return EXIT_OK


def _read_domains(args: argparse.Namespace) -> Iterator[str]:
    yield from args.domains
    if args.file is None:
        return
    from console.errors import MailscopeError

    try:
        if str(args.file) == "-":
            handle = sys.stdin
        else:
            # Undecodable bytes become U+FFFD: that line is reported as an invalid
            # domain, and every other line is still audited.
            handle = args.file.open(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise MailscopeError(f"cannot read {args.file}", exc.strerror or str(exc)) from None
    with handle:
        try:
            for line in handle:
                name = line.split("#", 1)[0].strip()
                if name:
                    yield name
        except (OSError, UnicodeDecodeError) as exc:
            raise MailscopeError(f"cannot read {args.file}", str(exc)) from None


def _load_config(args: argparse.Namespace) -> Config:
    """The configuration file (`--config`, MAILSCOPE_CONFIG, or the default location)."""
    from console.config import load_config

    return load_config(args.config)


@contextlib.contextmanager
def _resolver_context(args: argparse.Namespace, config: Config) -> Iterator[ResolverContext]:
    """The context a headless command asks DNS through: the lab's with --lab.

    Command-line options win over the configuration file; the default profile's
    nameservers apply when `--nameserver` is not given.
    """
    from console.auth.resolver import DEFAULT_TIMEOUT, ResolverContext
    from console.errors import MailscopeError

    timeout = args.timeout or config.timeout or DEFAULT_TIMEOUT
    concurrency = min(256, max(64, 8 * getattr(args, "concurrency", 8)))
    if args.lab:
        if args.nameserver:
            raise MailscopeError("--lab and --nameserver", "the lab brings its own nameserver")
        from console.lab import Lab

        with Lab() as lab:
            yield lab.resolver(timeout=timeout, concurrency=concurrency)
        return
    nameservers = args.nameserver or list(config.profile_for(None).nameservers)
    try:
        ctx = ResolverContext.from_options(nameservers, timeout=timeout, concurrency=concurrency)
    except ValueError as exc:
        raise MailscopeError("bad --nameserver", str(exc)) from None
    yield ctx


def _cmd_check(args: argparse.Namespace) -> int:
    import asyncio
    from dataclasses import replace

    from console.auth.audit import CHECK_IDS, audit_many
    from console.auth.options import DEFAULT_DNSBLS, AuditOptions
    from console.errors import MailscopeError
    from console.output import ReportPrinter

    if not args.domains and args.file is None:
        raise MailscopeError("no domain", "give a DOMAIN or --file F")
    checks: tuple[str, ...] = ()
    if args.checks:
        checks = tuple(part.strip() for part in args.checks.split(",") if part.strip())
        unknown = [check for check in checks if check not in CHECK_IDS]
        if unknown:
            raise MailscopeError(
                f"unknown check {unknown[0]!r}", "choose from " + ", ".join(CHECK_IDS)
            )
    ips = tuple(args.ip)
    for ip in ips:
        _validate_ip(ip)
    config = _load_config(args)
    base = AuditOptions(
        selectors=tuple(args.selector),
        ips=ips,
        dnsbls=tuple(args.dnsbl) or DEFAULT_DNSBLS,
        checks=checks,
        discover_selectors=not args.no_discovery,
    )

    def options_for(domain: str) -> AuditOptions:
        # The profile of this very domain adds its selectors and sending IPs.
        profile = config.profile_for(domain)
        if profile.domain.lower().rstrip(".") != domain.strip().lower().rstrip("."):
            return base
        return replace(
            base,
            selectors=tuple(dict.fromkeys([*base.selectors, *profile.dkim_selectors])),
            ips=tuple(dict.fromkeys([*base.ips, *profile.sending_ips])),
        )

    printer = ReportPrinter(json_lines=args.json)

    async def run(ctx: ResolverContext) -> int:
        worst = EXIT_OK
        domains = _read_domains(args)
        try:
            async for report in audit_many(ctx, domains, options_for, concurrency=args.concurrency):
                printer.print(report)
                worst = max(worst, _exit_for(report, strict=args.strict))
        finally:
            ctx.close()
        return worst

    with _resolver_context(args, config) as ctx:
        return asyncio.run(run(ctx))


def _exit_for(report: Report, *, strict: bool) -> int:
    from console.model import Status

    if report.error:
        return EXIT_ERROR
    failing = (Status.FAIL, Status.ERROR) if strict else (Status.FAIL,)
    return EXIT_FAILED if report.status in failing else EXIT_OK


def _validate_ip(text: str) -> None:
    import ipaddress

    from console.errors import MailscopeError

    try:
        ipaddress.ip_address(text)
    except ValueError:
        raise MailscopeError(
            f"bad address {text!r}", "--ip takes an IPv4 or IPv6 address"
        ) from None


def _cmd_spf(args: argparse.Namespace) -> int:
    import asyncio
    import json

    from console.auth.spf_eval import check_host, identity
    from console.errors import MailscopeError

    _validate_ip(args.ip)
    sender = args.sender.strip()
    _, domain = identity(sender, args.helo)
    if not domain:
        raise MailscopeError("no domain", "--sender has no domain and --helo is empty")
    with _resolver_context(args, _load_config(args)) as ctx:
        verdict = asyncio.run(check_host(ctx, args.ip, domain, sender, args.helo))
    if args.json:
        print(json.dumps(verdict.to_dict()))
    else:
        from console.output import print_spf_verdict

        print_spf_verdict(verdict, ip=args.ip, domain=domain)
    return EXIT_OK if verdict.result == "pass" else EXIT_FAILED


def _cmd_probe(args: argparse.Namespace) -> int:
    import asyncio
    import os

    from console.auth.records import InvalidDomain, normalize_domain
    from console.errors import MailscopeError
    from console.ports.probe import LOCAL_HOSTNAME, AuthTest
    from console.ports.render import print_json_lines, print_report
    from console.ports.runner import ProbeRequest, exit_status, run_probe
    from console.ports.targets import DEFAULT_PORTS, parse_ports, submission_ports
    from console.ports.tlsinfo import check_cafile

    config = _load_config(args)
    hosts, explicit = list(args.hosts), args.ports is not None
    try:
        mx = normalize_domain(args.mx) if args.mx else None
        ports = parse_ports(args.ports) if explicit else list(DEFAULT_PORTS)
    except ValueError as exc:
        raise MailscopeError("bad --mx or --ports", str(exc)) from None
    submission = config.profile_for(None).submission
    if not hosts and mx is None and submission is not None:
        hosts, explicit = [submission.host], True  # the profile's submission server
        ports = ports if args.ports is not None else submission_ports(submission.port)
    if not hosts and mx is None:
        raise MailscopeError("nothing to probe", "give a HOST or --mx DOMAIN")
    cafile = str(args.cafile) if args.cafile else None
    if problem := check_cafile(cafile):
        raise MailscopeError("bad --cafile", problem)
    auth = None
    if args.auth_user:
        password = os.environ.get(args.password_env, "")
        if not password and sys.stdin.isatty():
            import getpass

            password = getpass.getpass(f"SMTP password for {args.auth_user}: ")
        if not password:
            raise MailscopeError("no password", f"set {args.password_env} for --auth-user")
        auth = AuthTest(args.auth_user, password)
    helo = config.profile_for(None).helo or LOCAL_HOSTNAME
    if args.helo:
        try:
            helo = normalize_domain(args.helo)
        except InvalidDomain as exc:
            raise MailscopeError("bad --helo", str(exc)) from None
    request = ProbeRequest(hosts=hosts, mx_domain=mx, ports=ports, explicit_ports=explicit)
    with _resolver_context(args, config) as ctx:
        report = asyncio.run(
            run_probe(
                ctx,
                request,
                timeout=ctx.timeout,
                cafile=cafile,
                relay_test=args.relay_test,
                auth_test=auth,
                helo=helo,
            )
        )
    if args.json:
        print_json_lines(report)
    else:
        print_report(report)
    return exit_status(report)


def _cmd_postmaster(args: argparse.Namespace) -> int:
    from console.postmaster.command import run

    return run(args)


def _cmd_send(args: argparse.Namespace) -> int:
    from console.send.command import run

    config = _load_config(args)
    if not args.lab:
        with _resolver_context(args, config) as ctx:
            return run(args, config, ctx, None)
    if args.nameserver:
        from console.errors import MailscopeError

        raise MailscopeError("--lab and --nameserver", "the lab brings its own nameserver")
    from console.auth.resolver import DEFAULT_TIMEOUT
    from console.lab import Lab

    imap = (args.readback or "").startswith(("imap://", "imaps://"))
    with Lab(imap=imap) as lab:
        if imap and lab.imap is None:
            from console.errors import MailscopeError
            from console.lab.imap import dovecot_skip_reason

            raise MailscopeError("no lab IMAP server", dovecot_skip_reason() or "not started")
        ctx = lab.resolver(timeout=args.timeout or config.timeout or DEFAULT_TIMEOUT)
        return run(args, config, ctx, lab)


def _cmd_bounce(args: argparse.Namespace) -> int:
    from console.bounce.command import run

    return run(args, stdin=sys.stdin.buffer)


def _cmd_dmarc_report(args: argparse.Namespace) -> int:
    from console.bounce.aggregate_command import run

    return run(args, lambda: _resolver_context(args, _load_config(args)), stdin=sys.stdin.buffer)


if __name__ == "__main__":
    sys.exit(main())
