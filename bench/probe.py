"""How long SMTP port probes take: concurrent probes cost the slowest one, not the sum.

Against the lab's SMTP servers on loopback (nothing else is contacted):

1. 3 ports x 5 hosts (good.test's MX hosts, its submission host, and two misbehaving
   MX hosts): the wall time of the run against the slowest single probe and against
   the sum of all probes. The target is "about the slowest single probe".
2. A tarpit (accepts, never greets) at `--timeout 1` and `2`: the run costs the
   timeout and no more.

Usage: python bench/probe.py [--runs N]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from console.lab import Lab
from console.ports.runner import ProbeRequest, run_probe
from console.ports.targets import DEFAULT_PORTS, parse_ports

HOSTS = (
    "mx1.good.test",
    "mx2.good.test",
    "smtp.good.test",
    "mx.ports-expired.test",
    "mx.ports-nostarttls.test",
)


async def probe_once(lab: Lab, hosts: tuple[str, ...], ports, step_timeout: float):
    ctx = lab.resolver(timeout=2.0)
    started = time.perf_counter()
    try:
        report = await run_probe(
            ctx,
            ProbeRequest(hosts=hosts, ports=ports, explicit_ports=True),
            timeout=step_timeout,
        )
    finally:
        ctx.close()
    wall_ms = (time.perf_counter() - started) * 1000
    totals = [probe.timings_ms.get("total", 0.0) for probe in report.probes]
    return wall_ms, totals, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with Lab() as lab:
        print(f"== {len(HOSTS)} hosts x 3 ports ({', '.join(HOSTS)})")
        walls, slowest, sums = [], [], []
        for _ in range(args.runs):
            wall, totals, report = asyncio.run(probe_once(lab, HOSTS, list(DEFAULT_PORTS), 5.0))
            walls.append(wall)
            slowest.append(max(totals))
            sums.append(sum(totals))
        probes = len(report.probes)
        print(f"   probes per run           {probes} (IPv4 and IPv6 apart where a host has both)")
        print(f"   wall time, median        {statistics.median(walls):7.1f} ms")
        print(f"   slowest probe, median    {statistics.median(slowest):7.1f} ms")
        print(f"   sum of probes, median    {statistics.median(sums):7.1f} ms")
        ratio = statistics.median(walls) / statistics.median(slowest)
        verdict = "OK" if ratio <= 1.5 else "OVER"
        print(f"   wall / slowest           {ratio:7.2f}  [{verdict}: target about 1]")

        print("== tarpit (accepts, never greets)")
        for timeout in (1.0, 2.0):
            tarpit_walls = [
                asyncio.run(probe_once(lab, ("mx.ports-tarpit.test",), parse_ports("25"), timeout))[
                    0
                ]
                for _ in range(3)
            ]
            median = statistics.median(tarpit_walls)
            over = median - timeout * 1000
            print(
                f"   --timeout {timeout:.0f}: median {median:7.1f} ms "
                f"({over:+.1f} ms over the timeout)"
            )


if __name__ == "__main__":
    main()
