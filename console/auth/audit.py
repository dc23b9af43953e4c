"""The audit: every check of a domain at once, and many domains with bounded concurrency.

Checks do not wait for each other. Where one needs what another asked (fcrdns and
blocklists need the MX hosts, BIMI needs the DMARC policy), it asks again and the
resolver context's cache answers from the one query already in flight. An audit thus
costs its longest chain of dependent queries, not the sum of them.
"""

from __future__ import annotations

import asyncio
import contextvars
import importlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Protocol

from console.auth.options import AuditOptions
from console.auth.records import InvalidDomain, normalize_domain
from console.auth.resolver import Outcome, ResolverContext
from console.model import CheckResult, Finding, Report, Status


class Check(Protocol):
    def __call__(
        self, ctx: ResolverContext, domain: str, options: AuditOptions
    ) -> Awaitable[CheckResult]: ...


CHECKS: tuple[tuple[str, str], ...] = (
    ("spf", "console.auth.spf:check_spf"),
    ("dmarc", "console.auth.dmarc:check_dmarc"),
    ("dkim", "console.auth.dkim:check_dkim"),
    ("mx", "console.auth.mx:check_mx"),
    ("mta-sts", "console.auth.mta_sts:check_mta_sts"),
    ("tls-rpt", "console.auth.tls_rpt:check_tls_rpt"),
    ("bimi", "console.auth.bimi:check_bimi"),
    ("dnssec", "console.auth.dnssec:check_dnssec"),
    ("fcrdns", "console.auth.fcrdns:check_fcrdns"),
    ("blocklists", "console.auth.blocklists:check_blocklists"),
)
"""Check id and where its function lives, in report order."""

CHECK_IDS: tuple[str, ...] = tuple(check_id for check_id, _ in CHECKS)


def _load(target: str) -> Check:
    module_name, _, function_name = target.partition(":")
    return getattr(importlib.import_module(module_name), function_name)


ProgressCallback = Callable[[CheckResult], None]


async def _run_one(
    check_id: str, check: Check, ctx: ResolverContext, domain: str, options: AuditOptions
) -> CheckResult:
    try:
        return await check(ctx, domain, options)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # a bug in one check must not sink the other nine
        return CheckResult(
            check_id,
            Status.ERROR,
            f"the {check_id} check crashed: {type(exc).__name__}",
            [
                Finding(
                    f"{check_id}.internal-error",
                    Status.ERROR,
                    f"mailscope could not finish this check ({type(exc).__name__}: {exc}).",
                    "This is a bug in mailscope; please report it with the domain checked.",
                )
            ],
        )


async def audit_domain(
    ctx: ResolverContext,
    domain: str,
    options: AuditOptions | None = None,
    *,
    on_check: ProgressCallback | None = None,
) -> Report:
    """Run every requested check of `domain` concurrently.

    Args:
        ctx: how to ask DNS; its cache is shared by the checks of this audit.
        domain: the mail domain (From: domain) to audit.
        options: selectors, sending IPs, blocklists and which checks to run.
        on_check: called with each result as soon as it is ready (console progress).

    Returns:
        A Report with the checks in CHECKS order; never raises for DNS trouble.
    """
    options = options or AuditOptions()
    try:
        name = normalize_domain(domain)
    except InvalidDomain as exc:
        return Report(domain=domain.strip(), error=str(exc))
    wanted = [
        (cid, target) for cid, target in CHECKS if not options.checks or cid in options.checks
    ]

    async def run(check_id: str, target: str) -> CheckResult:
        result = await _run_one(check_id, _load(target), ctx, name, options)
        if on_check is not None:
            on_check(result)
        return result

    # Asked alongside the checks, not before them: it costs no wall time, and a typo
    # (exmaple.com) then gets one clear line instead of ten "publish a record" fixes.
    apex, *results = await asyncio.gather(
        ctx.query(name, "SOA"), *(run(cid, target) for cid, target in wanted)
    )
    if apex.outcome is Outcome.NXDOMAIN:
        where = apex.server or ctx.server_label
        return Report(domain=name, error=f"{name} does not exist (NXDOMAIN from {where})")
    return Report(domain=name, checks=list(results))


async def audit_many(
    ctx: ResolverContext,
    domains: Iterable[str],
    options: AuditOptions | Callable[[str], AuditOptions] | None = None,
    *,
    concurrency: int = 32,
) -> AsyncIterator[Report]:
    """Audit many domains, `concurrency` at a time, yielding reports as they finish.

    Domains are pulled from `domains` lazily, so a million-line file streams in
    constant memory; each audit gets its own cache (`ctx.for_audit()`).
    """
    iterator = iter(domains)

    def options_for(domain: str) -> AuditOptions | None:
        # A callable gives each domain its own options (its profile's selectors and IPs).
        return options(domain) if callable(options) else options

    queue: asyncio.Queue[Report | BaseException | None] = asyncio.Queue(maxsize=concurrency)

    async def worker() -> None:
        try:
            for domain in iterator:
                # A fresh contextvars.Context per audit: the resolver's dependency-depth
                # counter must not carry over from the previous domain of this worker.
                audit = asyncio.create_task(
                    audit_domain(ctx.for_audit(), domain, options_for(domain)),
                    context=contextvars.Context(),
                )
                await queue.put(await audit)
        except Exception as exc:  # e.g. the domain file became unreadable: tell the reader
            await queue.put(exc)
        finally:
            await queue.put(None)

    workers = [asyncio.create_task(worker()) for _ in range(max(1, concurrency))]
    finished = 0
    try:
        while finished < len(workers):
            item = await queue.get()
            if item is None:
                finished += 1
            elif isinstance(item, BaseException):
                raise item
            else:
                yield item
    finally:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
