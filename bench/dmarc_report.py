"""DMARC aggregate report figures, printed: how fast reports are read and explained.

    .venv/bin/python bench/dmarc_report.py [--reports 1000] [--rows 100] [--rdns]

Generated reports (Google-style RFC 7489 and RFC 9990 namespaced, alternately; rows
from a pool of documentation addresses with a mix of aligned, ESP-signed and spoofed
results) are written to a temporary folder, half as .xml.gz and a quarter as .zip, then:

1. parse only: `parse_report` over the XML bytes in memory (defusedxml included);
2. parse + explain: also `analyse` (alignment recomputed, reasons written) per row;
3. the whole command path without DNS: reading the folder (gunzip, unzip, caps),
   parsing, explaining, de-duplicating and summarising;
4. with `--rdns`: the PTRs of every distinct source through the lab's DNS, asked
   concurrently (the lab runs in this process; inside a namespace holding only `lo`
   when `unshare` allows it).

Nothing asserts on the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import io
import random
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import _common  # noqa: E402

from console.bounce.aggregate import (  # noqa: E402
    NS_DMARC2,
    SCHEMA_7489,
    SCHEMA_9990,
    AggregateReport,
    DkimAuth,
    PolicyPublished,
    Record,
    SpfAuth,
    analyse,
    load_reports,
    mark_duplicates,
    parse_report,
    render_xml,
    reverse_names,
    summarise,
)

POOL = [f"192.0.2.{n}" for n in range(1, 255)] + [f"198.51.100.{n}" for n in range(1, 255)]


def make_record(rng: random.Random) -> Record:
    kind = rng.random()
    ip = rng.choice(POOL)
    if kind < 0.7:  # our own servers: everything aligned
        return Record(
            ip,
            rng.randint(1, 5000),
            "example.test",
            "none",
            "pass",
            "pass",
            dkim_results=(DkimAuth("example.test", "mail2026", "pass"),),
            spf_results=(SpfAuth("example.test", "mfrom", "pass"),),
        )
    if kind < 0.9:  # an ESP signing with its own domain
        return Record(
            ip,
            rng.randint(1, 500),
            "news.example.test",
            "reject",
            "fail",
            "fail",
            dkim_results=(DkimAuth("esp.test", "s1", "pass"),),
            spf_results=(SpfAuth("bounce.esp.test", "mfrom", "pass"),),
        )
    return Record(  # a spoofer
        ip,
        rng.randint(1, 20),
        "example.test",
        "reject",
        "fail",
        "fail",
        spf_results=(SpfAuth("example.test", "mfrom", "fail"),),
    )


def make_report(index: int, rows: int, rng: random.Random) -> tuple[AggregateReport, bool]:
    modern = index % 2 == 1
    policy = PolicyPublished(
        "example.test",
        p="reject",
        sp="reject",
        np="reject" if modern else None,
        adkim="r",
        aspf="r",
        pct=None if modern else 100,
        testing="n" if modern else None,
    )
    report = AggregateReport(
        org_name="Outlook.com" if modern else "google.com",
        report_id=f"bench-{index}",
        policy=policy,
        records=tuple(make_record(rng) for _ in range(rows)),
        email="noreply-dmarc-support@example.net",
        begin=1764115200 + 86400 * index,
        end=1764201599 + 86400 * index,
        version="1.0" if modern else None,
        schema=SCHEMA_9990 if modern else SCHEMA_7489,
        namespace=NS_DMARC2 if modern else None,
    )
    return report, modern


def write_folder(folder: Path, documents: list[bytes]) -> int:
    size = 0
    for index, data in enumerate(documents):
        if index % 4 in (0, 1):
            blob, name = gzip.compress(data), f"r{index}.xml.gz"
        elif index % 4 == 2:
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
                archive.writestr(f"r{index}.xml", data)
            blob, name = buffer.getvalue(), f"r{index}.zip"
        else:
            blob, name = data, f"r{index}.xml"
        (folder / name).write_bytes(blob)
        size += len(blob)
    return size


def line(label: str, seconds: float, reports: int, rows: int) -> None:
    print(
        f"{label:<34} {seconds:7.2f} s  {reports / seconds:9,.0f} reports/s  "
        f"{rows / seconds:11,.0f} rows/s"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--reports", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=100)
    parser.add_argument("--rdns", action="store_true", help="also resolve PTRs via the lab")
    args = parser.parse_args()
    isolated = _common.isolate()
    print(_common.describe_isolation(isolated))
    rng = random.Random(7489)
    generated = [make_report(index, args.rows, rng) for index in range(args.reports)]
    documents = [
        render_xml(report, namespace=NS_DMARC2 if modern else None) for report, modern in generated
    ]
    total_rows = args.reports * args.rows
    megabytes = sum(len(document) for document in documents) / 1e6
    print(
        f"{args.reports:,} reports x {args.rows} rows = {total_rows:,} rows, {megabytes:.1f} MB XML"
    )

    started = time.perf_counter()
    parsed = [parse_report(document) for document in documents]
    line("parse (defusedxml)", time.perf_counter() - started, args.reports, total_rows)

    started = time.perf_counter()
    results = [analyse(f"r{i}", parse_report(doc)) for i, doc in enumerate(documents)]
    line("parse + explain", time.perf_counter() - started, args.reports, total_rows)
    assert (
        sum(len(result.rows) for result in results)
        == total_rows
        == sum(len(report.records) for report in parsed)
    )

    with tempfile.TemporaryDirectory(prefix="mailscope-bench-rua-") as folder:
        on_disk = write_folder(Path(folder), documents)
        started = time.perf_counter()
        loaded = list(load_reports([folder]))
        results = [analyse(item.source, item.report, file=item.file) for item in loaded]
        mark_duplicates(results)
        summary = summarise(results)
        elapsed = time.perf_counter() - started
    line(
        f"folder ({on_disk / 1e6:.1f} MB gz/zip/xml) + summary",
        elapsed,
        len(results),
        sum(len(result.rows) for result in results),
    )
    print(
        f"summary: {summary.count:,} messages, {summary.failed:,} failing, "
        f"{len(summary.sources)} sources"
    )

    if args.rdns:
        from console.lab import Lab

        with Lab() as lab:
            addresses = sorted(summary.sources)

            async def resolve() -> tuple[float, int]:
                ctx = lab.resolver(timeout=2.0)
                try:
                    started = time.perf_counter()
                    ptrs = await reverse_names(ctx, addresses)
                    return time.perf_counter() - started, sum(1 for p in ptrs.values() if p.name)
                finally:
                    ctx.close()

            elapsed, named = asyncio.run(resolve())
        print(
            f"{'PTR of every source (lab DNS)':<34} {elapsed:7.2f} s  {len(addresses)} "
            f"addresses, {named} named, {len(addresses) / elapsed:,.0f} lookups/s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
