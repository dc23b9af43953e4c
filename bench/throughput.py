"""Bulk audit throughput and peak memory: mailscope vs checkdmarc on 1,000 lab domains.

The script generates 1,000 domains as extra lab zones (a mix of Google Workspace,
Microsoft 365, ESP and self-hosted set-ups, a fifth of them with one real-world
mistake each), serves them from ONE lab process, and runs, each as a measured
subprocess against that lab's DNS:

  * `mailscope check --file domains.txt --json --concurrency N` (all ten checks),
  * the same limited to the checks checkdmarc also does
    (`--checks spf,dmarc,mx,mta-sts,tls-rpt,bimi,dnssec`),
  * `checkdmarc domains.txt -n 127.0.0.1` (from bench/.checkdmarc-venv, made on first
    run; not a mailscope dependency),

first with the lab answering at once, then with every answer delayed by 20 ms. It
prints domains per second, peak RSS (the kernel's own count for that process), CPU
use, and the lab's share, then mailscope's speed-up over checkdmarc.

Everything runs in a private network namespace with loopback only (see
_common.isolate). checkdmarc's CLI cannot take a DNS port, so the lab also answers on
127.0.0.1:53 and both tools use that listener. Neither tool gets the lab's HTTPS port:
MTA-STS and BIMI fetches go to 127.0.0.1:443 and are refused at once, for both.

    .venv/bin/python bench/throughput.py [--domains 1000] [--concurrency 64]
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common  # after the path insert: the bench folder is not a package

OVERLAP_CHECKS = "spf,dmarc,mx,mta-sts,tls-rpt,bimi,dnssec"
"""What checkdmarc covers too (it adds NS and SOA; mailscope adds DKIM, FCrDNS, DNSBLs)."""

WORDS = ("acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "wonka", "tyrell")
REVERSE_ZONE = "10.127.in-addr.arpa"
"""Mail hosts get 127.10.x.y: loopback, and clear of the lab's own 127.0.x.y hosts."""

PROFILES = (
    ("google-workspace", 24),
    ("microsoft-365", 18),
    ("esp-mix", 14),
    ("self-hosted", 24),
    ("mistake", 20),
)
MISTAKES = (
    "spf-plus-all",
    "spf-two-records",
    "spf-too-many-lookups",
    "spf-dangling-include",
    "dmarc-missing",
    "dmarc-syntax",
    "dmarc-unauthorised-rua",
    "dkim-1024-bit",
    "dkim-testing",
    "no-mx",
    "null-mx",
    "mx-no-address",
    "no-ptr",
    "mta-sts-no-host",
)


# -- generating the domains ----------------------------------------------------------------


def _public_keys(seed: int) -> dict[str, str]:
    """Base64 DKIM p= values: RSA 2048, RSA 1024, Ed25519 (shared by every domain)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    del seed  # keys are random; the zone layout is what the seed fixes
    der = serialization.Encoding.DER
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    raw = serialization.Encoding.Raw
    keys = {}
    for bits in (2048, 1024):
        key = rsa.generate_private_key(public_exponent=65537, key_size=bits).public_key()
        keys[f"rsa{bits}"] = base64.b64encode(key.public_bytes(der, spki)).decode()
    ed = ed25519.Ed25519PrivateKey.generate().public_key()
    keys["ed25519"] = base64.b64encode(
        ed.public_bytes(raw, serialization.PublicFormat.Raw)
    ).decode()
    return keys


def _txt(value: str) -> str:
    """Zone-file TXT data: the value split into quoted strings of at most 255 octets."""
    return " ".join(f'"{value[i : i + 255]}"' for i in range(0, len(value), 255))


@dataclass(slots=True)
class Generated:
    domains: list[str]
    zones: list[tuple[str, str]]
    profiles: Counter[str]


class _Addresses:
    """Hands out 127.10.x.y mail-host addresses and collects their PTR lines."""

    def __init__(self) -> None:
        self.count = 0
        self.ptr: list[str] = []

    def next(self, host: str | None) -> str:
        third, fourth = divmod(self.count, 250)
        self.count += 1
        if host is not None:
            self.ptr.append(f"{fourth + 1}.{third} IN PTR {host}.")
        return f"127.10.{third}.{fourth + 1}"


def generate(count: int, seed: int = 2026) -> Generated:
    """`count` lab domains with realistic records; deterministic for a given seed."""
    rng = random.Random(seed)
    keys = _public_keys(seed)
    addresses = _Addresses()
    names = [p for p, _ in PROFILES]
    weights = [w for _, w in PROFILES]
    domains: list[str] = []
    zones: list[tuple[str, str]] = []
    profiles: Counter[str] = Counter()
    for index in range(count):
        domain = f"{WORDS[index % len(WORDS)]}{index:04d}.test"
        profile = rng.choices(names, weights)[0]
        mistake = rng.choice(MISTAKES) if profile == "mistake" else None
        base = rng.choice(names[:4]) if mistake else profile
        profiles[mistake or profile] += 1
        zones.append((domain, _zone(domain, base, mistake, rng, keys, addresses)))
        domains.append(domain)
    reverse = [
        f"$ORIGIN {REVERSE_ZONE}.",
        "$TTL 300",
        "@ IN SOA ns1.lab.test. hostmaster.lab.test. 2026112601 3600 600 604800 300",
        "@ IN NS ns1.lab.test.",
        *addresses.ptr,
    ]
    zones.append((REVERSE_ZONE, "\n".join(reverse) + "\n"))
    return Generated(domains, zones, profiles)


def _zone(
    domain: str,
    base: str,
    mistake: str | None,
    rng: random.Random,
    keys: dict[str, str],
    addresses: _Addresses,
) -> str:
    lines = [
        f"$ORIGIN {domain}.",
        "$TTL 300",
        "@ IN SOA ns1.lab.test. hostmaster.lab.test. 2026112601 3600 600 604800 300",
        "@ IN NS ns1.lab.test.",
    ]
    add = lines.append

    # Mail hosts: one or two, each with its own loopback address and (usually) a PTR.
    hosts = ["mx1", "mx2"] if rng.random() < 0.5 else ["mx1"]
    if mistake == "null-mx":
        add("@ IN MX 0 .")
        hosts = []
    elif mistake == "no-mx":
        add(f"@ IN A {addresses.next(domain)}")
        hosts = []
    for preference, host in enumerate(hosts, start=1):
        add(f"@ IN MX {preference * 10} {host}.{domain}.")
        if mistake == "mx-no-address" and preference == 1:
            continue  # the MX names a host with no A record
        ptr_host = None if mistake == "no-ptr" else f"{host}.{domain}"
        add(f"{host} IN A {addresses.next(ptr_host)}")

    # SPF.
    spf = {
        "google-workspace": "v=spf1 include:_spf.google.com ~all",
        "microsoft-365": "v=spf1 include:spf.protection.outlook.com -all",
        "esp-mix": "v=spf1 include:_spf.google.com include:sendgrid.net include:mailgun.org "
        "include:servers.mcsv.net ~all",
        "self-hosted": f"v=spf1 mx a ip4:192.0.2.{rng.randrange(1, 250)} -all",
    }[base]
    if mistake == "spf-plus-all":
        spf = "v=spf1 mx +all"
    elif mistake == "spf-too-many-lookups":
        spf = (
            "v=spf1 a mx include:_spf.google.com include:spf.protection.outlook.com "
            "include:sendgrid.net include:amazonses.com include:mailgun.org "
            "include:servers.mcsv.net -all"
        )
    elif mistake == "spf-dangling-include":
        spf = "v=spf1 mx include:spf.retired-provider.test -all"
    if mistake != "null-mx":
        add(f"@ IN TXT {_txt(spf)}")
    if mistake == "spf-two-records":
        add(f"@ IN TXT {_txt('v=spf1 include:sendgrid.net -all')}")
    add(f'@ IN TXT "google-site-verification={rng.getrandbits(64):016x}"')

    # DMARC.
    policy = {"google-workspace": "quarantine", "microsoft-365": "reject"}.get(
        base, rng.choice(("none", "quarantine", "reject"))
    )
    rua = f"mailto:dmarc@{domain}"
    if base == "esp-mix":
        rua += ",mailto:reports@dmarc-reports.test"
    if mistake == "dmarc-unauthorised-rua":
        rua = "mailto:dmarc@elsewhere.test"
    dmarc = f"v=DMARC1; p={policy}; rua={rua}"
    if mistake == "dmarc-syntax":
        dmarc = "v=DMARC1; p=rejected; pct=150; rua=dmarc@" + domain
    if mistake != "dmarc-missing":
        add(f"_dmarc IN TXT {_txt(dmarc)}")

    # DKIM at the selector the provider uses.
    selectors = {
        "google-workspace": ["google"],
        "microsoft-365": ["selector1", "selector2"],
        "esp-mix": ["s1", "k1"],
        "self-hosted": [rng.choice(("default", "mail", "dkim"))],
    }[base]
    for selector in selectors:
        key_type, key = ("ed25519", keys["ed25519"]) if rng.random() < 0.1 else ("rsa", None)
        key = key or keys["rsa1024" if mistake == "dkim-1024-bit" else "rsa2048"]
        flags = "t=y; " if mistake == "dkim-testing" else ""
        add(f"{selector}._domainkey IN TXT {_txt(f'v=DKIM1; k={key_type}; {flags}p={key}')}")

    # MTA-STS and TLS-RPT for some; the policy host is always loopback.
    if mistake == "mta-sts-no-host" or (mistake is None and rng.random() < 0.35):
        add(f'_mta-sts IN TXT "v=STSv1; id=2026{rng.randrange(10**8):08d}"')
        add(f'_smtp._tls IN TXT "v=TLSRPTv1; rua=mailto:tlsrpt@{domain}"')
        if mistake != "mta-sts-no-host":
            add("mta-sts IN A 127.0.0.1")
    # BIMI for a few brands; the logo host is loopback too.
    if mistake is None and policy != "none" and rng.random() < 0.1:
        add(
            "default._bimi IN TXT "
            + _txt(f"v=BIMI1; l=https://bimi.{domain}/logo.svg; a=https://bimi.{domain}/vmc.pem")
        )
        add("bimi IN A 127.0.0.1")
    return "\n".join(lines) + "\n"


# -- running and reading the tools ----------------------------------------------------------

MAILSCOPE_FULL = "mailscope, all 10 checks"
MAILSCOPE_OVERLAP = "mailscope, checkdmarc's 7"
CHECKDMARC = "checkdmarc"


@dataclass(slots=True)
class Run:
    label: str
    delay_ms: float
    domains: int
    measured: _common.Measured
    lab_cpu: float
    lab_queries: int
    udp_drops: int
    reports: int
    problems: str

    @property
    def rate(self) -> float:
        return self.domains / self.measured.seconds if self.measured.seconds else 0.0


def _mailscope_outcome(path: Path) -> tuple[int, str]:
    """Reports read, and a tally of checks that ended in `error` (DNS trouble, crashes)."""
    reports = 0
    errors: Counter[str] = Counter()
    for line in path.read_text("utf-8", "replace").splitlines():
        if not line.strip():
            continue
        reports += 1
        for check in json.loads(line).get("checks", []):
            if check.get("status") == "error":
                codes = [f["code"] for f in check.get("findings", []) if f["severity"] == "error"]
                errors[codes[0] if codes else check["id"]] += 1
    top = ", ".join(f"{code} x{n}" for code, n in errors.most_common(3))
    return reports, f"check errors {sum(errors.values())}" + (f" ({top})" if top else "")


def _checkdmarc_outcome(path: Path, stderr: str) -> tuple[int, str]:
    text = path.read_text("utf-8", "replace").strip()
    try:
        data = json.loads(text) if text else []
    except json.JSONDecodeError:
        return 0, "output is not JSON"
    results = data if isinstance(data, list) else [data]
    timeouts = text.lower().count("timed out")
    refused = text.count("Connection refused")
    return len(results), (
        f"'timed out' x{timeouts}, HTTPS 'Connection refused' x{refused}; "
        f"guard: {_common.guard_summary(stderr)}"
    )


def _measure(
    label: str,
    cmd: list[str],
    count: int,
    delay: float,
    lab: _common.LabProcess,
    out: Path,
    run_timeout: float,
) -> Run:
    cpu_before, queries_before = lab.cpu_seconds(), lab.queries()
    drops_before = _common.udp_receive_drops()
    measured = _common.run_measured(
        cmd, stdout_path=out, timeout=run_timeout, env=_common.clean_env()
    )
    lab_cpu = lab.cpu_seconds() - cpu_before
    queries = lab.queries() - queries_before
    drops = _common.udp_receive_drops() - drops_before
    if label == CHECKDMARC:
        reports, problems = _checkdmarc_outcome(out, measured.stderr_tail)
    else:
        reports, problems = _mailscope_outcome(out)
    if measured.timed_out:
        problems = f"KILLED after {run_timeout:g} s; " + problems
    elif measured.returncode not in (0, 1):
        problems = f"exit {measured.returncode}: {measured.stderr_tail[-300:]}; " + problems
    run = Run(label, delay, count, measured, lab_cpu, queries, drops, reports, problems)
    print(
        f"   {label:<26} {count:5d} domains {measured.seconds:6.1f} s {run.rate:6.1f}/s "
        f"peak {measured.peak_rss_mb:4.0f} MB (/proc {measured.polled_hwm_mb:.0f})"
        f"  cpu {measured.cpu_seconds / measured.seconds:4.0%}"
        f"  lab cpu {lab_cpu / measured.seconds:4.0%}  {queries / max(1, count):5.1f} q/domain"
        f"  UDP drops {drops}\n      reports {reports}; {problems}",
        flush=True,
    )
    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", type=int, default=1000)
    parser.add_argument(
        "--concurrency",
        type=int,
        default=16,
        help="mailscope --concurrency (default 16: the CLI then keeps max(64, 8x16) = 128 "
        "DNS questions in flight, within what one server socket queues; see README)",
    )
    parser.add_argument("--delays", default="0,20", help="lab DNS delays to run, in ms")
    parser.add_argument(
        "--checkdmarc-domains",
        default="0:1000,20:100",
        help="domains given to checkdmarc per delay, as DELAY:COUNT pairs (it checks one "
        "domain after another, so a subset's per-domain rate stands for the whole list)",
    )
    parser.add_argument("--no-checkdmarc", action="store_true")
    parser.add_argument(
        "--sweep",
        action="store_true",
        help="also run mailscope (checkdmarc's 7 checks) at concurrency 8, 16, 32, 64",
    )
    parser.add_argument("--run-timeout", type=float, default=240.0, help="seconds per run")
    args = parser.parse_args()

    checkdmarc = None
    if not args.no_checkdmarc:
        checkdmarc = _common.checkdmarc_python()  # may pip install: before isolating
    isolated = _common.isolate()
    print("mailscope bulk throughput")
    print(_common.describe_isolation(isolated))
    delays = [float(d) for d in args.delays.split(",") if d.strip()]
    cd_counts = {
        float(k): int(v) for k, v in (p.split(":") for p in args.checkdmarc_domains.split(","))
    }

    generated = generate(args.domains)
    print(
        f"{len(generated.domains)} generated domains: "
        + ", ".join(f"{name} {n}" for name, n in sorted(generated.profiles.items()))
    )
    if checkdmarc is not None:
        version = _common.checkdmarc_version(checkdmarc)
        print(f"checkdmarc {version} (bench/.checkdmarc-venv), CLI with -n 127.0.0.1")
    runs: list[Run] = []
    sweep: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="mailscope-bench-") as tmp:
        work = Path(tmp)
        zones_file = work / "zones.json"
        zones_file.write_text(json.dumps(generated.zones), "utf-8")
        domains_file = work / "domains.txt"
        domains_file.write_text("\n".join(generated.domains) + "\n", "utf-8")
        for delay in delays:
            with _common.stage(f"lab DNS delay {delay:g} ms"):
                _runs_at(delay, args, work, generated, checkdmarc, cd_counts, runs, sweep)
    _print_table(runs, sweep, args)
    return 0


def _runs_at(
    delay: float,
    args: argparse.Namespace,
    work: Path,
    generated: Generated,
    checkdmarc: Path | None,
    cd_counts: dict[float, int],
    runs: list[Run],
    sweep: list[Run],
) -> None:
    """Start one lab at `delay` and measure every planned run against it."""
    domains_file = work / "domains.txt"
    with _common.LabProcess(delay, work / "zones.json", dns53=checkdmarc is not None) as lab:
        nameserver = lab.info.dns53 or lab.info.dns
        print(f"   lab pid {lab.info.pid}, DNS {nameserver}", flush=True)
        plans = _plans(args, work, domains_file, generated, checkdmarc, cd_counts, delay)
        for index, (label, cmd, count) in enumerate(plans):
            cmd = [part.replace("{ns}", nameserver) for part in cmd]
            out = work / f"run-{delay:g}-{index}.out"
            runs.append(_measure(label, cmd, count, delay, lab, out, args.run_timeout))
        if not args.sweep:
            return
        for concurrency in (8, 16, 32, 64):
            cmd = [
                *_mailscope_cmd(domains_file, concurrency),
                "--nameserver",
                nameserver,
                "--checks",
                OVERLAP_CHECKS,
            ]
            out = work / f"sweep-{delay:g}-{concurrency}.out"
            label = f"sweep --concurrency {concurrency}"
            sweep.append(_measure(label, cmd, args.domains, delay, lab, out, args.run_timeout))


def _mailscope_cmd(domains_file: Path, concurrency: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "console.cli",
        "check",
        "--json",
        "--file",
        str(domains_file),
        "--concurrency",
        str(concurrency),
    ]


def _plans(
    args: argparse.Namespace,
    work: Path,
    domains_file: Path,
    generated: Generated,
    checkdmarc: Path | None,
    cd_counts: dict[float, int],
    delay: float,
) -> list[tuple[str, list[str], int]]:
    """(label, command, domains) for each measured run; `{ns}` is the lab's DNS."""
    base = [*_mailscope_cmd(domains_file, args.concurrency), "--nameserver", "{ns}"]
    plans = [
        (MAILSCOPE_FULL, base, len(generated.domains)),
        (MAILSCOPE_OVERLAP, [*base, "--checks", OVERLAP_CHECKS], len(generated.domains)),
    ]
    if checkdmarc is not None:
        count = min(cd_counts.get(delay, len(generated.domains)), len(generated.domains))
        subset = work / f"checkdmarc-{delay:g}.txt"
        subset.write_text("\n".join(generated.domains[:count]) + "\n", "utf-8")
        # The guard wrapper runs checkdmarc's own CLI entry point; `-n` takes no port,
        # hence the lab's second listener on 127.0.0.1:53.
        guard = [str(checkdmarc), str(Path(_common.__file__)), "checkdmarc", "--lab-dns", "{ns}"]
        plans.append((CHECKDMARC, [*guard, "--", str(subset), "-n", "127.0.0.1"], count))
    return plans


def _print_table(runs: list[Run], sweep: list[Run], args: argparse.Namespace) -> None:
    print(f"\n== results (mailscope --concurrency {args.concurrency}; 2-core shared machine)")
    header = (
        f"{'delay':>6}  {'tool':<26} {'domains':>7} {'seconds':>8} {'dom/s':>7} {'peak MB':>8}"
        f" {'cpu':>5} {'lab cpu':>7} {'q/dom':>6} {'drops':>6}"
    )
    print(header)
    for run in [*runs, *sweep]:
        m = run.measured
        print(
            f"{run.delay_ms:>4g}ms  {run.label:<26} {run.domains:>7} {m.seconds:>8.1f}"
            f" {run.rate:>7.1f} {m.peak_rss_mb:>8.0f} {m.cpu_seconds / m.seconds:>5.0%}"
            f" {run.lab_cpu / m.seconds:>7.0%} {run.lab_queries / max(1, run.domains):>6.1f}"
            f" {run.udp_drops:>6}"
        )
    print("\n== mailscope vs checkdmarc: speed-up (target >= 10x), peak RSS (target < 300 MB)")
    for delay in sorted({run.delay_ms for run in runs}):
        at = {run.label: run for run in runs if run.delay_ms == delay}
        base = at.get(CHECKDMARC)
        for label in (MAILSCOPE_FULL, MAILSCOPE_OVERLAP):
            run = at.get(label)
            if run is None:
                continue
            memory = "OK" if run.measured.peak_rss_mb < 300 else "OVER"
            versus = ""
            if base is not None and base.rate:
                speedup = run.rate / base.rate
                verdict = "OK" if speedup >= 10 else "BELOW 10x"
                versus = f" = {speedup:5.1f}x checkdmarc [{verdict}]"
            print(
                f"{delay:>4g}ms  {label:<26} {run.rate:6.1f}/s{versus}; "
                f"peak {run.measured.peak_rss_mb:.0f} MB [{memory}]"
            )
        if base is not None:
            note = ""
            if base.domains < args.domains:
                note = (
                    f" (ran {base.domains} of {args.domains} domains; sequential, so its "
                    "rate stands for the whole list)"
                )
            print(
                f"{delay:>4g}ms  {CHECKDMARC:<26} {base.rate:6.1f}/s; "
                f"peak {base.measured.peak_rss_mb:.0f} MB{note}"
            )


if __name__ == "__main__":
    sys.exit(main())
