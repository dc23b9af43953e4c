"""Postmaster figures, printed: fetching many domains, and the pane on years of history.

    .venv/bin/python bench/postmaster.py [--domains 20] [--days 120] [--history-days 730]

1. Fetch and store: the real google-api-python-client asks the lab's Postmaster Tools
   v2 emulator (plain HTTP on loopback) for `--days` days of every domain of the account
   (the four lab domains plus generated `pm-bulk-NNN.test` ones, `--domains` in all):
   domains.list, one domainStats.batchQuery and its further pages, the feedback-loop
   queries and getComplianceStatus per domain, then every day is upserted into a
   temporary SQLite history. The same fetch is then repeated: nothing new is written
   (the upserts are idempotent) and the time is the cost of asking again.
2. The pane on two years: `--history-days` days with every metric are stored for one
   domain, then the console is started with Pilot (80x24 and 120x40), the Postmaster
   pane shown and its chart painted over all history. Nothing is fetched (no
   credentials): the time is reading the history and drawing it.

Everything stays on loopback (and inside a network namespace holding only `lo` when
`unshare` allows it). Nothing asserts on the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import _common  # noqa: E402

from console.app import MailscopeApp, lab_resolver_factory  # noqa: E402
from console.config import Config  # noqa: E402
from console.history import History  # noqa: E402
from console.lab import Lab  # noqa: E402
from console.lab.postmaster_api import LAB_DOMAINS, bulk_domains  # noqa: E402
from console.panes.base import ConsoleSession  # noqa: E402
from console.panes.postmaster import PostmasterAccess, PostmasterPane  # noqa: E402
from console.postmaster.client import build_service  # noqa: E402
from console.postmaster.credentials import lab_credentials  # noqa: E402
from console.postmaster.history import PostmasterHistory  # noqa: E402
from console.postmaster.model import DayStats  # noqa: E402
from console.postmaster.stats import PostmasterClient, fetch_reports  # noqa: E402
from widgets.spam_chart import SpamChart  # noqa: E402

NOW = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)
TODAY = NOW.date()
BIG_DOMAIN = "two-years.test"


def fetch_and_store(lab: Lab, folder: Path, domains: int, days: int) -> None:
    assert lab.postmaster is not None
    lab.postmaster.today = lambda: TODAY
    lab.postmaster.listed_domains = LAB_DOMAINS + bulk_domains(max(domains - len(LAB_DOMAINS), 0))
    history = PostmasterHistory(folder / "fetch.sqlite3")
    started = time.perf_counter()
    service = build_service(lab_credentials(), endpoint=lab.postmaster_endpoint, timeout=30)
    client = PostmasterClient(service, backoff=0.01)
    built = time.perf_counter()
    names = client.list_domains()
    listed = time.perf_counter()
    requests_before = len(lab.postmaster.requests)
    reports = asyncio.run(
        fetch_reports(client, names, days, history=history, today=TODAY, now=lambda: NOW)
    )
    fetched = time.perf_counter()
    requests = len(lab.postmaster.requests) - requests_before
    stored = history.count()
    failed = [r.domain for r in reports if r.error]
    print(f"\n== fetch and store {days} days for {len(names)} domains")
    print(f"build the client (bundled discovery document): {(built - started) * 1000:7.0f} ms")
    print(f"domains.list:                                  {(listed - built) * 1000:7.0f} ms")
    print(
        f"stats, feedback loops, compliance, store:      {(fetched - listed) * 1000:7.0f} ms"
        f"  ({requests} HTTP requests, {stored} values stored, "
        f"{sum(len(r.days) for r in reports)} days with data)"
    )
    if failed:
        print(f"failed: {', '.join(failed)}")
    again = time.perf_counter()
    asyncio.run(fetch_reports(client, names, days, history=history, today=TODAY, now=lambda: NOW))
    done = time.perf_counter()
    print(
        f"the same fetch again:                          {(done - again) * 1000:7.0f} ms"
        f"  ({history.count() - stored} new values: the upserts are idempotent)"
    )


def two_years(days: int) -> list[DayStats]:
    """`days` days of every metric the pane shows, deterministic, a spike now and then."""
    rng = random.Random(730)
    out = []
    for offset in range(days, 1, -1):
        spam = rng.uniform(0.0002, 0.0009) if offset % 97 else rng.uniform(0.003, 0.006)
        metrics = {
            "spam_rate": round(spam, 5),
            "auth.spf": round(rng.uniform(0.98, 1), 4),
            "auth.dkim": round(rng.uniform(0.99, 1), 4),
            "auth.dmarc": round(rng.uniform(0.98, 1), 4),
            "tls_rate.inbound": 1.0,
            "tls_rate.outbound": round(rng.uniform(0.97, 1), 4),
            "tls_count.inbound": float(rng.randint(9000, 50000)),
            "tls_count.outbound": float(rng.randint(9000, 50000)),
            "error_rate": round(rng.uniform(0, 0.002), 5),
            "error_rate.reject": round(rng.uniform(0, 0.001), 5),
            "error_rate.temp_fail": round(rng.uniform(0, 0.001), 5),
            "error_count": float(rng.randint(0, 90)),
            "error_count.reject": float(rng.randint(0, 50)),
            "error_count.temp_fail": float(rng.randint(0, 40)),
            "fbl.newsletter": round(rng.uniform(0.0001, 0.0008), 5),
            "fbl.campaign": round(rng.uniform(0.0001, 0.002), 5),
        }
        if offset % 11 == 0:
            continue  # a day without data: a gap
        out.append(DayStats(TODAY - dt.timedelta(days=offset), metrics))
    return out


async def paint(
    lab: Lab, folder: Path, history_path: Path, size: tuple[int, int]
) -> tuple[float, float, float]:
    """(seconds to the pane's first report, to the painted chart, repaint over all history)."""
    session = ConsoleSession(
        config=Config(),
        resolver_factory=lab_resolver_factory(lab, timeout=2.0),
        resolver_label="lab",
        history=History(folder / f"audits-{size[0]}.sqlite3"),
        clock=lambda: NOW,
        cursor_blink=False,
        postmaster=PostmasterAccess(None, history_path, setup_hint="(bench: no fetch)"),
    )
    app = MailscopeApp(session, domain=BIG_DOMAIN)
    started = time.perf_counter()
    async with app.run_test(size=size) as pilot:
        await pilot.press("3")
        pane = app.screen.query_one(PostmasterPane)
        while not pane.fetched:
            await pilot.pause(0.005)
        loaded = time.perf_counter()
        await pilot.pause()
        painted = time.perf_counter()
        chart = pane.query_one(SpamChart)
        switch = time.perf_counter()
        pane.set_range(None)
        await pilot.pause()
        chart.render()  # the chart over all history, drawn once more by hand to time it
        repainted = time.perf_counter()
        assert len(chart.rates) > 600, "the two years were not charted"
    return loaded - started, painted - started, repainted - switch


def render_history(lab: Lab, folder: Path, days: int) -> None:
    history_path = folder / "two-years.sqlite3"
    history = PostmasterHistory(history_path)
    data = two_years(days)
    started = time.perf_counter()
    history.store(BIG_DOMAIN, data, NOW)
    stored = time.perf_counter()
    read = history.days(BIG_DOMAIN)
    reread = time.perf_counter()
    print(f"\n== the pane on {len(data)} stored days ({days} days back, gaps included)")
    print(
        f"store {history.count()} values:                      {(stored - started) * 1000:7.0f} ms"
    )
    print(f"read them back ({len(read)} days):                 {(reread - stored) * 1000:7.0f} ms")
    for size in ((80, 24), (120, 40)):
        loaded, painted, repaint = asyncio.run(paint(lab, folder, history_path, size))
        print(
            f"{size[0]}x{size[1]}: app start to history shown {loaded * 1000:6.0f} ms, "
            f"painted {painted * 1000:6.0f} ms, all-history range {repaint * 1000:5.0f} ms"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", type=int, default=20)
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--history-days", type=int, default=730)
    args = parser.parse_args()
    isolated = _common.isolate()
    print("mailscope postmaster")
    print(_common.describe_isolation(isolated))
    with Lab() as lab, tempfile.TemporaryDirectory() as folder:
        fetch_and_store(lab, Path(folder), args.domains, args.days)
        render_history(lab, Path(folder), args.history_days)
    return 0


if __name__ == "__main__":
    sys.exit(main())
