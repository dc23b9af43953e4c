"""Start-up times, printed: how long until the admin sees something.

    .venv/bin/python bench/startup.py [--runs N]

- `mailscope check --help`: wall time of the whole process (target < 0.3 s), and a
  check that Textual is not imported on that path.
- `mailscope demo` and `mailscope DOMAIN`: time from spawning the process to the first
  painted screen, measured on a real pseudo-terminal (80x24): the clock stops when the
  screen's text has been written to the terminal (target < 1 s). For DOMAIN, also the
  time until the audit's results are on screen. DOMAIN is audited against the lab's
  DNS (`--nameserver`), so nothing leaves the machine.

Each figure is the median of N runs after one warm-up run (which compiles bytecode).
Config and history go to a temporary directory, never the user's own.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import pty
import re
import select
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

_ESCAPES = re.compile(
    rb"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[PX^_][^\x1b]*\x1b\\|.)"
)


def _command() -> list[str]:
    """The installed `mailscope` script next to this Python, else `python -m console.cli`."""
    script = Path(sys.executable).with_name("mailscope")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "console.cli"]


def _env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_DATA_HOME=str(home / "data"),
        XDG_STATE_HOME=str(home / "state"),
        XDG_CACHE_HOME=str(home / "cache"),
        TERM="xterm-256color",
        COLUMNS="80",
        LINES="24",
    )
    for name in list(env):
        if name.startswith("MAILSCOPE_"):
            del env[name]
    return env


def time_check_help(env: dict[str, str]) -> tuple[float, bool]:
    """Seconds for `mailscope check --help`, and whether Textual was imported."""
    started = time.perf_counter()
    subprocess.run(
        [*_command(), "check", "--help"], env=env, capture_output=True, check=True, timeout=30
    )
    elapsed = time.perf_counter() - started
    probe = (
        "import sys\nfrom console.cli import main\n"
        "try:\n    main(['check', '--help'])\nexcept SystemExit:\n    pass\n"
        "print('textual' in sys.modules, file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=30
    )
    return elapsed, result.stderr.strip().endswith("True")


def _screen_text(raw: bytes) -> str:
    """What the terminal shows, roughly: escapes removed, whitespace dropped."""
    text = _ESCAPES.sub(b"", raw).decode("utf-8", "replace")
    return re.sub(r"\s+", "", text)


def time_console(
    args: Sequence[str], markers: Sequence[str], env: dict[str, str], timeout: float = 30.0
) -> list[float]:
    """Seconds from spawn until each marker text has appeared on the terminal, in order."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    started = time.perf_counter()
    process = subprocess.Popen(
        [*_command(), *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        start_new_session=True,
        close_fds=True,
    )
    os.close(slave)
    seen = bytearray()
    found: list[float] = []
    wanted = [re.sub(r"\s+", "", marker) for marker in markers]
    try:
        while len(found) < len(wanted):
            if time.perf_counter() - started > timeout:
                raise TimeoutError(f"{' '.join(args)}: {wanted[len(found)]!r} never appeared")
            ready, _, _ = select.select([master], [], [], 0.05)
            if not ready:
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
            screen = _screen_text(bytes(seen))
            while len(found) < len(wanted) and wanted[len(found)] in screen:
                found.append(time.perf_counter() - started)
        if len(found) < len(wanted):
            raise RuntimeError(f"{' '.join(args)} exited before {wanted[len(found)]!r} appeared")
    finally:
        with contextlib.suppress(OSError):
            os.write(master, b"\x11")  # ctrl+q
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        # Drain and close the terminal so the child's last writes do not block it.
        with contextlib.suppress(OSError):
            while select.select([master], [], [], 0.05)[0] and os.read(master, 65536):
                pass
        os.close(master)
    return found


def _median(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} s (min {min(values):.3f}, max {max(values):.3f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="measured runs per figure")
    runs = max(1, parser.parse_args().runs)

    from console.lab import Lab

    home = Path(tempfile.mkdtemp(prefix="mailscope-bench-"))
    env = _env(home)
    print(f"mailscope start-up, {runs} runs each after a warm-up, {_command()[0]}")
    try:
        time_check_help(env)
        timings = [time_check_help(env) for _ in range(runs)]
        imported = any(flag for _, flag in timings)
        print(
            f"  check --help            {_median([t for t, _ in timings])}"
            f"   target < 0.3 s; textual imported: {'YES' if imported else 'no'}"
        )

        demo = ["demo"]
        time_console(demo, ["Lab domains"], env)
        first = [time_console(demo, ["Lab domains"], env)[0] for _ in range(runs)]
        print(f"  demo: first screen      {_median(first)}   target < 1 s (includes lab start)")

        with Lab() as lab:
            domain = ["good.test", "--nameserver", lab.nameserver, "--timeout", "2"]
            markers = ["Authentication", "checked"]
            time_console(domain, markers, env)
            results = [time_console(domain, markers, env) for _ in range(runs)]
        print(f"  DOMAIN: first screen    {_median([r[0] for r in results])}   target < 1 s")
        print(f"  DOMAIN: audit on screen {_median([r[1] for r in results])}   (lab DNS)")
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
