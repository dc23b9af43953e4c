"""How close one audit comes to its longest chain of dependent DNS queries.

With the lab's DNS delaying every answer by 50 ms, an audit whose checks ask
everything they can at once costs (chain length) x 50 ms plus a little CPU. This
script audits a few lab domains, repeats each audit, and prints the wall time, the
chain length and their ratio; the target is a ratio of at most 1.3.

The chain is counted twice: by the resolver context (`ctx.stats.max_depth`) and by
an independent tracker in this script that also follows depth through the tasks
`asyncio.gather` creates (the resolver's context variable does not flow back from
a child task to its parent, so its count can come out low). The tracker also names
the critical chain, and times each check alone and the HTTPS fetches, which add
round trips the DNS chain does not show.

The lab runs in a process of its own, so the measured process is only mailscope.

    .venv/bin/python bench/audit_latency.py [--delay-ms 50] [--repeat 5] [DOMAIN ...]
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import sys
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common  # after the path insert: the bench folder is not a package

import console.auth.https as https_module
from console.auth.audit import CHECK_IDS, audit_domain
from console.auth.options import AuditOptions
from console.auth.resolver import ResolverContext
from console.model import CheckResult
from console.services import ServiceMap

TARGET_RATIO = 1.3
DEFAULT_DOMAINS = ("good.test", "spf-lookups.test")


# -- an independent chain tracker -----------------------------------------------------------


@dataclass(slots=True)
class QueryRecord:
    """One `ctx.query` call as the tracker saw it."""

    index: int
    name: str
    rdtype: str
    dnssec: bool
    depth: int
    previous: int  # index of the record this one waited on last, -1 for none
    started: float
    ended: float = 0.0
    sent: bool = True  # False: answered by the context's cache (or a query in flight)


@dataclass(slots=True)
class FetchRecord:
    url: str
    started: float
    ended: float
    after_depth: int
    error: str | None


_state: contextvars.ContextVar[tuple[int, int]] = contextvars.ContextVar(
    "bench_chain", default=(0, -1)
)
"""(depth, index of the query that depth came from) for the running task."""


@dataclass(slots=True)
class ChainTracker:
    """Follows dependent-query depth across tasks, independently of QueryStats.

    A query asked in a task is one deeper than the deepest answer that task has
    seen; a task created by gather starts at its parent's depth, and when it ends
    its depth flows back into the parent (done callback), which is what the
    resolver's own context variable cannot do. Identical questions share the
    depth of the one query that went out.
    """

    queries: list[QueryRecord] = field(default_factory=list)
    fetches: list[FetchRecord] = field(default_factory=list)
    origin: dict[tuple[int, str, str, bool], int] = field(default_factory=dict)
    contexts: dict[asyncio.Task[Any], contextvars.Context] = field(default_factory=dict)
    t0: float = 0.0

    def reset(self) -> None:
        self.queries.clear()
        self.fetches.clear()
        self.origin.clear()
        self.t0 = time.perf_counter()

    @property
    def max_depth(self) -> int:
        return max((q.depth for q in self.queries), default=0)

    def critical_chain(self) -> list[QueryRecord]:
        if not self.queries:
            return []
        record: QueryRecord | None = max(self.queries, key=lambda q: (q.depth, -q.index))
        chain: list[QueryRecord] = []
        while record is not None:
            if record.sent:
                chain.append(record)
            record = self.queries[record.previous] if record.previous >= 0 else None
        return chain[::-1]

    # The task factory: each task gets its own context, merged into its parent's when done.
    def task_factory(
        self,
        loop: asyncio.AbstractEventLoop,
        coro: Coroutine[Any, Any, Any],
        context: contextvars.Context | None = None,
    ) -> asyncio.Task[Any]:
        parent = asyncio.current_task(loop)
        parent_context = self.contexts.get(parent) if parent is not None else None
        own = context if context is not None else contextvars.copy_context()
        task = asyncio.Task(coro, loop=loop, context=own)
        self.contexts[task] = own

        def merge(done: asyncio.Task[Any]) -> None:
            self.contexts.pop(done, None)
            if parent_context is None or parent is None or parent.done():
                return
            child = own.get(_state, (0, -1))
            if child[0] > parent_context.get(_state, (0, -1))[0]:
                parent_context.run(_state.set, child)

        task.add_done_callback(merge)
        return task

    def install(self, loop: asyncio.AbstractEventLoop) -> Callable[[], None]:
        """Wrap ResolverContext.query and the HTTPS connector, set the task factory.

        Returns the undo. The wrappers cost CPU of their own, so the headline times
        are taken with the tracker removed.
        """
        original_query = ResolverContext.query
        original_fetch = https_module._fetch_from
        tracker = self

        async def query(
            ctx: ResolverContext, name: str, rdtype: str, *, dnssec: bool = False
        ) -> Any:
            key = (id(ctx), name.lower().rstrip("."), rdtype.upper(), dnssec)
            depth_now, last = _state.get()
            started = time.perf_counter() - tracker.t0
            first = tracker.origin.get(key)
            index = len(tracker.queries)
            if first is None:
                # Decided before any await, exactly as the context decides who asks.
                tracker.origin[key] = index
                record = QueryRecord(index, key[1], key[2], dnssec, depth_now + 1, last, started)
            else:
                origin = tracker.queries[first]
                deeper = origin.depth > depth_now
                record = QueryRecord(
                    index,
                    key[1],
                    key[2],
                    dnssec,
                    max(depth_now, origin.depth),
                    first if deeper else last,
                    started,
                    sent=False,
                )
            tracker.queries.append(record)
            result = await original_query(ctx, name, rdtype, dnssec=dnssec)
            record.ended = time.perf_counter() - tracker.t0
            if record.depth > _state.get()[0]:
                _state.set((record.depth, index))
            return result

        async def fetch_from(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter() - tracker.t0
            result = await original_fetch(*args, **kwargs)
            tracker.fetches.append(
                FetchRecord(
                    result.url,
                    started,
                    time.perf_counter() - tracker.t0,
                    _state.get()[0],
                    result.error,
                )
            )
            return result

        ResolverContext.query = query  # type: ignore[method-assign]
        https_module._fetch_from = fetch_from  # type: ignore[assignment]
        loop.set_task_factory(self.task_factory)  # type: ignore[arg-type]

        def undo() -> None:
            ResolverContext.query = original_query  # type: ignore[method-assign]
            https_module._fetch_from = original_fetch
            loop.set_task_factory(None)

        return undo


# -- one measured audit ------------------------------------------------------------------------


@dataclass(slots=True)
class Sample:
    seconds: float
    cpu: float
    stats_depth: int
    chain: int
    queries: int
    sent: int
    https_count: int
    https_seconds: float
    check_done: dict[str, float]
    critical: list[QueryRecord]
    fetches: list[FetchRecord]


def make_context(info: _common.LabInfo) -> ResolverContext:
    """A resolver context on the lab process: its DNS, its HTTPS port and CA, its anchor."""
    import dns.rrset

    anchors = []
    if info.anchor:
        lines = [line.split(None, 4) for line in info.anchor.splitlines() if line.strip()]
        name, ttl, rdclass, rdtype = lines[0][:4]
        anchors.append(
            dns.rrset.from_text_list(name, int(ttl), rdclass, rdtype, [ln[4] for ln in lines])
        )
    services = ServiceMap(
        ports=MappingProxyType(dict(info.ports)),
        cafile=Path(info.cafile) if info.cafile else None,
    )
    return ResolverContext.from_options(
        [info.dns], timeout=3.0, retries=0, services=services, trust_anchors=tuple(anchors)
    )


def measure(
    runner: asyncio.Runner,
    tracker: ChainTracker,
    base: ResolverContext,
    domain: str,
    checks: tuple[str, ...] = (),
    *,
    discover: bool = True,
    tracked: bool = True,
) -> Sample:
    """One audit; `tracked` adds the chain tracker (and its overhead) for this run."""
    ctx = base.for_audit()
    done: dict[str, float] = {}

    def on_check(result: CheckResult) -> None:
        done[result.id] = time.perf_counter() - tracker.t0

    options = AuditOptions(checks=checks, discover_selectors=discover)
    undo = tracker.install(runner.get_loop()) if tracked else None
    try:
        tracker.reset()
        cpu = time.process_time()
        # A fresh context per audit: the runner would otherwise reuse one across runs.
        runner.run(
            audit_domain(ctx, domain, options, on_check=on_check),
            context=contextvars.Context(),
        )
        seconds = time.perf_counter() - tracker.t0
    finally:
        if undo is not None:
            undo()
    return Sample(
        seconds=seconds,
        cpu=time.process_time() - cpu,
        stats_depth=ctx.stats.max_depth,
        chain=tracker.max_depth,
        queries=len(tracker.queries),
        sent=sum(1 for q in tracker.queries if q.sent),
        https_count=len(tracker.fetches),
        https_seconds=sum(f.ended - f.started for f in tracker.fetches),
        check_done=done,
        critical=tracker.critical_chain(),
        fetches=list(tracker.fetches),
    )


def ratio(seconds: float, chain: int, delay: float) -> float:
    return seconds / (chain * delay) if chain else float("inf")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("domains", nargs="*", default=list(DEFAULT_DOMAINS))
    parser.add_argument("--delay-ms", type=float, default=50.0)
    parser.add_argument("--repeat", type=int, default=5, help="measured audits per domain")
    parser.add_argument("--per-check-repeat", type=int, default=3)
    args = parser.parse_args()
    isolated = _common.isolate()
    delay = args.delay_ms / 1000
    print("mailscope audit latency")
    print(_common.describe_isolation(isolated))
    print(f"lab DNS delay {args.delay_ms:g} ms per answer; lab in its own process; target ratio")
    print(f"time / (chain x {args.delay_ms:g} ms) <= {TARGET_RATIO}")
    tracker = ChainTracker()
    verdicts: list[str] = []
    with _common.LabProcess(args.delay_ms) as lab, asyncio.Runner() as runner:
        base = make_context(lab.info)
        # Warm-up: imports of every check module, the TLS context, dnspython's caches.
        cold = measure(runner, tracker, base, "good.test", tracked=False)
        print(f"\ncold first audit (imports included): {cold.seconds * 1000:.0f} ms")
        for domain in args.domains:
            verdicts.append(report_domain(runner, tracker, base, domain, delay, args))
    print("\n== summary")
    for line in verdicts:
        print(line)
    return 0


def report_domain(
    runner: asyncio.Runner,
    tracker: ChainTracker,
    base: ResolverContext,
    domain: str,
    delay: float,
    args: argparse.Namespace,
) -> str:
    ms = 1000
    repeat = max(1, args.repeat)
    plain = [measure(runner, tracker, base, domain, tracked=False) for _ in range(repeat)]
    samples = [measure(runner, tracker, base, domain) for _ in range(repeat)]
    seconds = _common.median([s.seconds for s in plain])
    chain = max(s.chain for s in samples)
    stats_depth = max(s.stats_depth for s in plain)
    print(f"\n== {domain}: full audit, {len(plain)} runs (+{len(samples)} with the tracker)")
    print(
        "   runs ms: "
        + ", ".join(f"{s.seconds * ms:.0f}" for s in plain)
        + f"   queries asked {samples[0].queries}, sent {samples[0].sent}"
    )
    print(
        f"   median time        {seconds * ms:7.0f} ms   (with the tracker: "
        f"{_common.median([s.seconds for s in samples]) * ms:.0f} ms)"
    )
    print(
        f"   chain (ctx.stats.max_depth) {stats_depth}: ratio "
        f"{ratio(seconds, stats_depth, delay):.2f}"
    )
    print(
        f"   chain (tracked, gather-aware) {chain}: ratio {ratio(seconds, chain, delay):.2f}"
        f"   (ideal {chain * delay * ms:.0f} ms)"
    )
    cpu = _common.median([s.cpu for s in plain])
    print(
        f"   CPU in this process {cpu * ms:5.0f} ms per audit; wall - ideal = "
        f"{(seconds - chain * delay) * ms:.0f} ms (the audit's one thread does all parsing "
        "between waves, so CPU lands on the critical path)"
    )
    quiet = [
        measure(runner, tracker, base, domain, discover=False, tracked=False) for _ in range(repeat)
    ]
    quiet_seconds = _common.median([s.seconds for s in quiet])
    print(
        f"   without DKIM selector discovery: {quiet_seconds * ms:.0f} ms, ratio "
        f"{ratio(quiet_seconds, chain, delay):.2f}, "
        f"CPU {_common.median([s.cpu for s in quiet]) * ms:.0f} ms"
    )
    https = _common.median([s.https_seconds for s in samples])
    print(
        f"   HTTPS fetches      {samples[0].https_count} per audit, {https * ms:.0f} ms summed "
        "(loopback, not delayed; each adds TCP+TLS+HTTP round trips after its DNS)"
    )
    for fetch in samples[-1].fetches:
        print(
            f"     {fetch.url}  {fetch.started * ms:.0f}-{fetch.ended * ms:.0f} ms, "
            f"after DNS depth {fetch.after_depth}" + (f"  [{fetch.error}]" if fetch.error else "")
        )
    order = sorted(samples[-1].check_done.items(), key=lambda item: item[1])
    print("   checks done at (ms): " + ", ".join(f"{cid} {t * ms:.0f}" for cid, t in order))
    print("   critical chain (last run):")
    for record in samples[-1].critical:
        print(
            f"     d{record.depth} {record.name}/{record.rdtype}"
            f"{' +DO' if record.dnssec else ''}  {record.started * ms:.0f}-"
            f"{record.ended * ms:.0f} ms"
        )

    print(f"   each check alone (median of {args.per_check_repeat}; chain from one tracked run):")
    print("     check        ms  cpu ms  stats  chain  ratio  sent  https")
    worst: tuple[float, str] = (0.0, "")
    for check_id in CHECK_IDS:
        alone = [
            measure(runner, tracker, base, domain, (check_id,), tracked=False)
            for _ in range(max(1, args.per_check_repeat))
        ]
        traced = measure(runner, tracker, base, domain, (check_id,))
        t = _common.median([s.seconds for s in alone])
        r = ratio(t, traced.chain, delay)
        worst = max(worst, (r, check_id))
        print(
            f"     {check_id:<11}{t * ms:5.0f}  {_common.median([s.cpu for s in alone]) * ms:6.1f}"
            f"  {max(s.stats_depth for s in alone):5d}  {traced.chain:5d}"
            f"  {r:5.2f}  {traced.sent:4d}  {traced.https_count:5d}"
        )
    verdict = "OK" if ratio(seconds, chain, delay) <= TARGET_RATIO else "OVER TARGET"
    return (
        f"{domain}: median {seconds * ms:.0f} ms, chain {chain} (ctx.stats {stats_depth}), "
        f"ratio {ratio(seconds, chain, delay):.2f} (by ctx.stats: "
        f"{ratio(seconds, stats_depth, delay):.2f}) -> {verdict}; "
        f"slowest check alone vs its chain: {worst[1]} {worst[0]:.2f}"
    )


if __name__ == "__main__":
    sys.exit(main())
