"""Bounce reader figures, printed: classify 10,000 bounces from the corpus.

    .venv/bin/python bench/bounce.py [--messages 10000] [--runs 3]

The test corpus's messages (tests/bounce/corpus: every MTA family, DSNs and plain-text
bounces, delays, auto-replies) are replicated, each copy with its own recipient address
and Message-ID, into one mbox file in a temporary folder. Then, per run:

1. `mbox`: `analyse_paths([mbox])`, what `mailscope bounce FILE.mbox` does: split the
   mbox, parse each message, classify every recipient, and fold the results into the
   campaign view (groups) and a CSV written to /dev/null.
2. `in memory`: `analyse_bytes` over the same messages already in memory (parsing and
   classification only, no file reading or mbox splitting).

Printed: messages/second (target >= 500), recipients classified, the groups found, and
the process's peak RSS. No network and no DNS: the engine has none. Nothing asserts on
the figures.
"""

from __future__ import annotations

import argparse
import gc
import io
import re
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from console.bounce import analyse_bytes, analyse_paths  # noqa: E402
from console.bounce.campaign import CampaignBuilder, CsvWriter  # noqa: E402

CORPUS = ROOT / "tests" / "bounce" / "corpus"
TARGET = 500.0


def templates() -> list[tuple[bytes, str]]:
    """Every message of the corpus with its first recipient's local part (for varying)."""
    found: list[tuple[bytes, str]] = []
    # Messages only: pasted replies (.txt) and SES JSON notifications are not mbox entries.
    paths = sorted(
        p for p in CORPUS.rglob("*") if p.is_file() and p.suffix not in (".txt", ".json")
    )
    for path in paths:
        if "/tmp/" in str(path) or path.suffix == ".mbox":
            continue
        data = path.read_bytes()
        (result,) = analyse_bytes(data, path.name)
        local = result.recipients[0].recipient.partition("@")[0] if result.recipients else ""
        found.append((data, local))
    return found


def replicate(count: int) -> list[bytes]:
    """`count` messages cycling over the corpus, each with its own recipient and id."""
    base = templates()
    messages = []
    for index in range(count):
        data, local = base[index % len(base)]
        if local:
            data = re.sub(
                rb"\b" + re.escape(local.encode()) + rb"@", b"%s%d@" % (local.encode(), index), data
            )
        data = data.replace(b"@shop.example.com>", b".%d@shop.example.com>" % index, 1)
        messages.append(data)
    return messages


def write_mbox(messages: list[bytes], path: Path) -> None:
    with path.open("wb") as handle:
        for data in messages:
            handle.write(b"From MAILER-DAEMON Fri Nov 27 02:09:58 2026\n")
            handle.write(re.sub(rb"(?m)^From ", b">From ", data).rstrip(b"\n") + b"\n\n")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def run_mbox(path: Path) -> tuple[float, int, int, int]:
    builder = CampaignBuilder(keep_members=20)
    sink = CsvWriter(io.StringIO())
    started = time.perf_counter()
    messages = recipients = 0
    for result in analyse_paths([path]):
        builder.add(result)
        sink.write(result)
        messages += 1
        recipients += len(result.recipients)
    campaign = builder.build()
    return time.perf_counter() - started, messages, recipients, len(campaign.groups)


def run_memory(messages: list[bytes]) -> tuple[float, int]:
    started = time.perf_counter()
    recipients = 0
    for number, data in enumerate(messages):
        for result in analyse_bytes(data, f"m{number}"):
            recipients += len(result.recipients)
    return time.perf_counter() - started, recipients


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}; corpus {CORPUS.relative_to(ROOT)}")
    messages = replicate(args.messages)
    size = sum(len(m) for m in messages)
    print(
        f"{len(messages)} messages from {len(templates())} templates, "
        f"{size / 1e6:.1f} MB, average {size / len(messages) / 1024:.1f} KiB"
    )
    with tempfile.TemporaryDirectory(prefix="mailscope-bench-") as folder:
        mbox = Path(folder) / "bounces.mbox"
        write_mbox(messages, mbox)
        print(f"mbox written: {mbox.stat().st_size / 1e6:.1f} MB")
        print(f"\n{'run':<12}{'seconds':>9}{'msg/s':>10}{'recipients':>12}{'groups':>8}")
        best = 0.0
        for run in range(1, args.runs + 1):
            gc.collect()
            seconds, count, recipients, groups = run_mbox(mbox)
            rate = count / seconds
            best = max(best, rate)
            print(
                f"{'mbox ' + str(run):<12}{seconds:>9.2f}{rate:>10.0f}{recipients:>12}{groups:>8}"
            )
        for run in range(1, args.runs + 1):
            gc.collect()
            seconds, recipients = run_memory(messages)
            rate = len(messages) / seconds
            print(f"{'memory ' + str(run):<12}{seconds:>9.2f}{rate:>10.0f}{recipients:>12}{'-':>8}")
    verdict = "meets" if best >= TARGET else "BELOW"
    print(f"\nbest mbox throughput {best:.0f} messages/s ({verdict} the {TARGET:.0f}/s target)")
    print(f"peak RSS {peak_rss_mb():.0f} MB (this process, messages held in memory included)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
