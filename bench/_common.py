"""Shared plumbing for the benchmarks: isolation, the lab in its own process, measuring.

Everything here stays on loopback. `isolate()` re-runs the calling script inside a
fresh network namespace whose only interface is `lo`, so neither mailscope nor
checkdmarc can reach anything else even by mistake (a packet to another address
fails at once with "network unreachable").

The module is also a small command line, run by the benchmarks themselves:

    python bench/_common.py serve-lab --delay-ms 20 [--zones Z.json] [--dns53]
    python bench/_common.py measure -- COMMAND ...
    <checkdmarc venv>/bin/python bench/_common.py checkdmarc --lab-dns 127.0.0.1:53 -- ARGS

Only the standard library is imported at the top: the second form runs under the
checkdmarc virtualenv, which does not have mailscope installed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
CHECKDMARC_VENV = BENCH / ".checkdmarc-venv"
CHECKDMARC_SPEC = "checkdmarc"
ISOLATED_ENV = "MAILSCOPE_BENCH_NETNS"

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


# -- isolation ----------------------------------------------------------------------------


def isolate() -> bool:
    """Re-run this script in a new network namespace holding only loopback.

    Returns True when already isolated (the re-run), False when no namespace could be
    made (then the run goes on in the host namespace, and says so). Never returns on a
    successful re-exec.
    """
    if os.environ.get(ISOLATED_ENV) == "1":
        _loopback_up()
        return True
    unshare = shutil.which("unshare")
    if unshare is None:
        return False
    # -n alone needs root; -r maps us to root inside a user namespace first.
    flags = ["-n"] if os.geteuid() == 0 else ["-r", "-n"]
    probe = subprocess.run([unshare, *flags, "true"], capture_output=True, timeout=10, check=False)
    if probe.returncode != 0:
        return False
    env = dict(os.environ, **{ISOLATED_ENV: "1"})
    sys.stdout.flush()
    os.execve(unshare, [unshare, *flags, sys.executable, *sys.argv], env)
    return True  # not reached


def _loopback_up() -> None:
    """`ip link set lo up`, without needing iproute2: a new namespace starts with lo down."""
    import fcntl
    import socket
    import struct

    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH14s", b"lo", 0, b"")
        flags = struct.unpack("16sH14s", fcntl.ioctl(sock, siocgifflags, request))[1]
        if not flags & iff_up:
            fcntl.ioctl(sock, siocsifflags, struct.pack("16sH14s", b"lo", flags | iff_up, b""))


def describe_isolation(isolated: bool) -> str:
    if isolated:
        return "network: private namespace, loopback only (nothing else is reachable)"
    return "network: NOT isolated (unshare unavailable); every address used is still on 127.0.0.0/8"


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for measured subprocesses: no proxies, no stray Python paths."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.lower().endswith("_proxy") and key not in ("PYTHONPATH", "PYTHONSTARTUP")
    }
    env.update(extra)
    return env


# -- the lab in a process of its own ---------------------------------------------------------


@dataclass(slots=True)
class LabInfo:
    """Where a lab started by `LabProcess` listens."""

    dns: str
    dns53: str | None
    ports: dict[int, int]
    cafile: str | None
    anchor: str | None
    pid: int


class LabProcess:
    """The mailscope lab running in a child process until `stop()` (or our exit).

    The child stops when its stdin closes, so a benchmark that dies leaves no lab behind.

    Args:
        delay_ms: milliseconds the lab's DNS waits before every answer.
        zones_file: a JSON file of [origin, zone text] pairs to serve as extra zones.
        dns53: also answer DNS on 127.0.0.1:53 (checkdmarc's CLI cannot take a port).
        startup_timeout: seconds to wait for the lab to report its addresses.
    """

    def __init__(
        self,
        delay_ms: float,
        zones_file: Path | None = None,
        *,
        dns53: bool = False,
        startup_timeout: float = 180.0,
    ) -> None:
        cmd = [sys.executable, str(Path(__file__)), "serve-lab", "--delay-ms", str(delay_ms)]
        if zones_file is not None:
            cmd += ["--zones", str(zones_file)]
        if dns53:
            cmd.append("--dns53")
        self._proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=clean_env(),
            cwd=REPO,
        )
        line = _read_line(self._proc, startup_timeout)
        if not line:
            self.stop()
            raise RuntimeError(f"the lab did not start: {self._stderr_tail()}")
        raw = json.loads(line)
        self.info = LabInfo(
            dns=raw["dns"],
            dns53=raw.get("dns53"),
            ports={int(k): v for k, v in raw["ports"].items()},
            cafile=raw.get("cafile"),
            anchor=raw.get("anchor"),
            pid=self._proc.pid,
        )

    def _stderr_tail(self) -> str:
        try:
            _, err = self._proc.communicate(timeout=5)
        except (subprocess.TimeoutExpired, ValueError):
            return "(no output)"
        return (err or "").strip()[-2000:] or "(no output)"

    def queries(self) -> int:
        """DNS questions the lab has received so far (all its listeners)."""
        assert self._proc.stdin is not None
        self._proc.stdin.write("stats\n")
        self._proc.stdin.flush()
        line = _read_line(self._proc, 30)
        return int(json.loads(line)["queries"]) if line else -1

    def cpu_seconds(self) -> float:
        """User + system CPU the lab process has used so far."""
        return proc_cpu_seconds(self._proc.pid)

    def stop(self) -> None:
        if self._proc.poll() is None:
            with contextlib.suppress(OSError):
                assert self._proc.stdin is not None
                self._proc.stdin.close()
            try:
                self._proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=5)
        for stream in (self._proc.stdout, self._proc.stderr):
            if stream is not None:
                stream.close()

    def __enter__(self) -> LabProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _read_line(proc: subprocess.Popen[str], timeout: float) -> str:
    """The child's first stdout line, or "" if it exits or takes longer than `timeout`."""
    box: list[str] = []
    assert proc.stdout is not None
    reader = threading.Thread(target=lambda: box.append(proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout)
    return box[0].strip() if box else ""


def serve_lab(delay_ms: float, zones: Path | None, dns53: bool) -> None:
    """Run a lab until stdin closes; print its addresses as one JSON line first."""
    from console.lab.dnsserver import LabDnsServer
    from console.lab.runner import Lab

    extra: list[tuple[str, str]] = []
    if zones is not None:
        extra = [(origin, text) for origin, text in json.loads(zones.read_text("utf-8"))]
    lab = Lab(dns_delay=delay_ms / 1000, extra_zones=extra).start()
    try:
        dns53_address = None
        assert lab.dns is not None
        servers = [lab.dns]
        if dns53:
            # A second listener on the same authority and delay: same answers, port 53.
            alias = LabDnsServer(
                lab.dns.authority, host="127.0.0.1", port=53, behaviour=lab.dns.behaviour
            )
            lab.call(alias.start())
            lab.register(alias.stop)
            servers.append(alias)
            dns53_address = alias.address
        anchor = None
        if lab.zones is not None and lab.zones.trust_anchor is not None:
            anchor = lab.zones.trust_anchor.to_text()
        info = {
            "dns": lab.nameserver,
            "dns53": dns53_address,
            "ports": {str(k): v for k, v in lab.ports.items()},
            "cafile": str(lab.cafile) if lab.cafile else None,
            "anchor": anchor,
        }
        print(json.dumps(info), flush=True)
        # Until the benchmark closes our stdin (or dies); "stats" asks for the query count.
        for line in sys.stdin:
            if line.strip() == "stats":
                queries = sum(server.queries for server in servers)
                print(json.dumps({"queries": queries}), flush=True)
    finally:
        lab.stop()


# -- measuring a subprocess ----------------------------------------------------------------


@dataclass(slots=True)
class Measured:
    """One measured subprocess run."""

    seconds: float
    peak_rss_mb: float
    polled_hwm_mb: float
    cpu_seconds: float
    returncode: int
    timed_out: bool
    stderr_tail: str


MEASURE_MARK = "bench-measure:"


def run_measured(
    cmd: Sequence[str],
    *,
    stdout_path: Path,
    timeout: float,
    env: dict[str, str] | None = None,
) -> Measured:
    """Run `cmd` to completion in a fresh wrapper process that measures it.

    The wrapper (`measure_child`, below) has exactly one child, so its
    RUSAGE_CHILDREN peak RSS and CPU belong to `cmd` alone; it also polls the child's
    VmHWM from /proc as a cross-check. (os.wait4 straight from this process gave
    peaks that disagreed with /proc under this machine's sandboxed kernel.)
    """
    stderr_path = stdout_path.with_suffix(stdout_path.suffix + ".stderr")
    wrapper = [sys.executable, str(Path(__file__)), "measure", "--", *cmd]
    with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
        started = time.perf_counter()
        # A session of its own: on timeout the whole group (wrapper and tool) is killed.
        proc = subprocess.Popen(
            wrapper,
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=REPO,
            start_new_session=True,
        )
        timed_out = False
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        elapsed = time.perf_counter() - started
    lines = stderr_path.read_text("utf-8", "replace").splitlines()
    report: dict[str, Any] = {}
    for line in lines:
        if line.startswith(MEASURE_MARK):
            report = json.loads(line[len(MEASURE_MARK) :])
    rest = "\n".join(line for line in lines if not line.startswith(MEASURE_MARK))
    return Measured(
        seconds=report.get("seconds", elapsed),
        peak_rss_mb=report.get("maxrss_kib", 0) / 1024,  # Linux reports KiB
        polled_hwm_mb=report.get("hwm_kib", 0) / 1024,
        cpu_seconds=report.get("cpu", 0.0),
        returncode=report.get("returncode", proc.returncode),
        timed_out=timed_out,
        stderr_tail=rest.strip()[-3000:],
    )


def measure_child(cmd: list[str]) -> int:
    """The wrapper's side: run `cmd`, then print its wall time, peak RSS and CPU."""
    import resource

    started = time.perf_counter()
    child = subprocess.Popen(cmd, stdin=subprocess.DEVNULL)
    finished = threading.Event()
    peak = [0]
    poller = threading.Thread(target=_poll_hwm, args=(child.pid, finished, peak), daemon=True)
    poller.start()
    returncode = child.wait()
    seconds = time.perf_counter() - started
    finished.set()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    report = {
        "seconds": seconds,
        "maxrss_kib": usage.ru_maxrss,
        "hwm_kib": peak[0],
        "cpu": usage.ru_utime + usage.ru_stime,
        "returncode": returncode,
    }
    print(MEASURE_MARK + json.dumps(report), file=sys.stderr, flush=True)
    return returncode


def _poll_hwm(pid: int, finished: threading.Event, peak: list[int]) -> None:
    """Keep the child's VmHWM (peak RSS, KiB) from /proc, as a cross-check of rusage."""
    status = Path(f"/proc/{pid}/status")
    while not finished.is_set():
        try:
            for line in status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak[0] = max(peak[0], int(line.split()[1]))
        except (OSError, ValueError, IndexError):
            return
        finished.wait(0.05)


def udp_receive_drops() -> int:
    """Datagrams dropped for a full socket receive buffer (RcvbufErrors) so far.

    Inside the benchmark's own network namespace the counter covers only its traffic.
    """
    try:
        lines = [ln.split() for ln in Path("/proc/net/snmp").read_text().splitlines()]
    except OSError:
        return 0
    udp = [ln[1:] for ln in lines if ln and ln[0] == "Udp:"]
    if len(udp) < 2 or "RcvbufErrors" not in udp[0]:
        return 0
    return int(udp[1][udp[0].index("RcvbufErrors")])


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a running process, from /proc (0.0 if unreadable)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


# -- checkdmarc, in a virtualenv of its own ---------------------------------------------------


def checkdmarc_python() -> Path:
    """The checkdmarc venv's interpreter, creating the venv on first use.

    checkdmarc is only a yardstick: it lives in bench/.checkdmarc-venv (gitignored),
    never in mailscope's dependencies.
    """
    python = CHECKDMARC_VENV / "bin" / "python"
    if python.exists() and _has_checkdmarc(python):
        return python
    if os.environ.get(ISOLATED_ENV) == "1":
        raise RuntimeError("checkdmarc is not installed, and pip cannot reach the registry here")
    print(f"creating {CHECKDMARC_VENV.relative_to(REPO)} (pip install {CHECKDMARC_SPEC}) ...")
    base = shutil.which("python3") or sys.executable
    subprocess.run([base, "-m", "venv", str(CHECKDMARC_VENV)], check=True, timeout=300)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", CHECKDMARC_SPEC],
        check=True,
        timeout=600,
    )
    return python


def _has_checkdmarc(python: Path) -> bool:
    probe = subprocess.run(
        [str(python), "-c", "import checkdmarc"], capture_output=True, timeout=60, check=False
    )
    return probe.returncode == 0


def checkdmarc_version(python: Path) -> str:
    probe = subprocess.run(
        [str(python), "-c", "import checkdmarc; print(checkdmarc.__version__)"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return probe.stdout.strip() or "unknown"


GUARD_MARK = "bench-guard:"


def run_checkdmarc_guarded(lab_dns: str, args: list[str]) -> None:
    """Run checkdmarc's CLI with every non-loopback network access refused.

    Runs inside the checkdmarc venv. checkdmarc sends DNS to `-n` but resolves the
    MTA-STS and BIMI web hosts with the system resolver (getaddrinfo), which on this
    machine is not on loopback. Here getaddrinfo asks the lab instead (as a system
    resolver pointed at the lab would), and any connect or datagram to an address
    outside 127.0.0.0/8 fails at once and is counted; the count goes to stderr at exit.
    """
    import atexit
    import errno
    import ipaddress
    import socket

    import dns.resolver

    host, _, port = lab_dns.rpartition(":")
    blocked: list[str] = []

    def is_loopback(address: object) -> bool:
        try:
            return ipaddress.ip_address(str(address).split("%", 1)[0]).is_loopback
        except ValueError:
            return False

    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [host]
    resolver.port = int(port)
    resolver.lifetime = 2.0
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(node: Any, service: Any, family: int = 0, type: int = 0, *rest: Any) -> Any:
        name = node.decode() if isinstance(node, bytes) else node
        if name is None or name == "localhost" or is_loopback(name):
            return real_getaddrinfo(node, service, family, type, *rest)
        try:
            ipaddress.ip_address(name)
        except ValueError:
            pass
        else:
            blocked.append(f"getaddrinfo({name})")
            raise socket.gaierror(socket.EAI_NONAME, f"{name}: outside loopback, refused")
        try:
            answer = resolver.resolve(name, "A", raise_on_no_answer=False)
            addresses = [r.address for r in answer.rrset or ()]
        except Exception:  # NXDOMAIN, timeout: what a failing system resolver says
            addresses = []
        usable = [a for a in addresses if is_loopback(a)]
        if addresses and not usable:
            blocked.append(f"getaddrinfo({name}) -> {addresses}")
        if not usable:
            raise socket.gaierror(socket.EAI_NONAME, f"{name}: no loopback address")
        number = service if isinstance(service, int) else int(service or 0)
        kind = type or socket.SOCK_STREAM
        return [(socket.AF_INET, kind, 0, "", (a, number)) for a in usable]

    def guarded(method: Any, position: int) -> Any:
        def wrapper(self: socket.socket, *args: Any) -> Any:
            if self.family in (socket.AF_INET, socket.AF_INET6):
                address = args[position] if len(args) > position else args[-1]
                if isinstance(address, tuple) and not is_loopback(address[0]):
                    blocked.append(f"{method.__name__}{address[:2]}")
                    raise OSError(errno.ENETUNREACH, "bench guard: not loopback")
            return method(self, *args)

        return wrapper

    socket.getaddrinfo = getaddrinfo  # type: ignore[assignment]
    socket.socket.connect = guarded(socket.socket.connect, 0)  # type: ignore[method-assign]
    socket.socket.connect_ex = guarded(socket.socket.connect_ex, 0)  # type: ignore[method-assign]
    socket.socket.sendto = guarded(socket.socket.sendto, -1)  # type: ignore[method-assign]

    def report() -> None:
        sample = sorted(set(blocked))[:5]
        print(f"{GUARD_MARK} {len(blocked)} non-loopback attempt(s) {sample}", file=sys.stderr)

    atexit.register(report)
    from checkdmarc._cli import _main

    sys.argv = ["checkdmarc", *args]
    _main()


def guard_summary(stderr: str) -> str:
    for line in stderr.splitlines():
        if line.startswith(GUARD_MARK):
            return line[len(GUARD_MARK) :].strip()
    return "no guard report (run did not finish?)"


# -- small helpers -------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


@contextlib.contextmanager
def stage(title: str) -> Iterator[None]:
    print(f"\n== {title}", flush=True)
    started = time.perf_counter()
    yield
    print(f"   ({time.perf_counter() - started:.1f} s)", flush=True)


def _main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="bench/_common.py")
    commands = parser.add_subparsers(dest="command", required=True)
    lab = commands.add_parser("serve-lab")
    lab.add_argument("--delay-ms", type=float, default=0.0)
    lab.add_argument("--zones", type=Path)
    lab.add_argument("--dns53", action="store_true")
    measure = commands.add_parser("measure")
    measure.add_argument("args", nargs=argparse.REMAINDER)
    guard = commands.add_parser("checkdmarc")
    guard.add_argument("--lab-dns", required=True)
    guard.add_argument("args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if args.command == "serve-lab":
        serve_lab(args.delay_ms, args.zones, args.dns53)
        return 0
    rest = args.args[1:] if args.args[:1] == ["--"] else args.args
    if args.command == "measure":
        return measure_child(rest)
    run_checkdmarc_guarded(args.lab_dns, rest)
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
