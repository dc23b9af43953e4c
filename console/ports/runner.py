"""Running many port probes at once, and what the run as a whole says.

All probes run concurrently (up to a limit), so probing 3 ports on 5 hosts costs about
the slowest single probe, and a tarpit costs the timeout and no more. The MX domain's
MTA-STS policy is fetched once per run and shared. After the run, one cross-probe
diagnosis: when port 25 times out everywhere while 465 and 587 answer, the likely
culprit is the admin's own network (cloud hosts and home lines block outbound 25),
and the port-25 probes are marked "could not be determined" instead of failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from console.auth.https import fetch
from console.auth.mta_sts import (
    MAX_POLICY_BYTES,
    is_sts_record,
    owner_name,
    parse_policy,
    policy_url,
)
from console.auth.resolver import ResolverContext
from console.model import Finding, Status
from console.ports.model import PortProbe, PortState, ProbeReport, Role
from console.ports.probe import (
    LOCAL_HOSTNAME,
    SLOW_GREETING_S,
    AuthTest,
    ProbeOptions,
    StsView,
    probe_port,
)
from console.ports.targets import (
    DEFAULT_PORTS,
    PortSpec,
    Target,
    host_targets,
    mx_targets,
)

DEFAULT_CONCURRENCY = 32
"""Probes in flight at once: plenty for a domain's MX hosts, gentle on any one server."""

DEFAULT_TIMEOUT = 5.0


async def probe_targets(
    ctx: ResolverContext,
    targets: Sequence[Target],
    *,
    timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109 - per-step deadline, not the call's
    on_probe: Callable[[PortProbe], None] | None = None,
    cafile: str | None = None,
    relay_test: bool = False,
    auth_test: AuthTest | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    slow_greeting: float = SLOW_GREETING_S,
    label: str | None = None,
    findings: Iterable[Finding] = (),
    helo: str = LOCAL_HOSTNAME,
) -> ProbeReport:
    """Probe every target concurrently and add the run-level findings.

    Args:
        ctx: resolver context (reverse DNS, TLSA, MTA-STS; its service map already
            shaped the targets' ports).
        targets: from `host_targets`, `mx_targets` or built by hand.
        timeout: seconds each step of a probe may take (connect, greeting, EHLO, TLS).
        on_probe: called with each PortProbe as it finishes (progress in the pane).
        cafile: extra trusted CA file; by default the service map's (the lab's CA).
        relay_test: also try to relay (MAIL FROM/RCPT TO outside the domain; no DATA).
            Only for hosts the admin controls.
        auth_test: credentials for an AUTH test after TLS; never sent without.
        concurrency: probes in flight at once.
        slow_greeting: seconds after which a greeting is reported as slow.
        label: what the report is about (default: the hosts probed).
        findings: run-level findings found while building the targets (`mx_targets`).

    Returns:
        A ProbeReport with the probes in target order. Never raises for network trouble;
        cancelling the call cancels every probe.
    """
    started = time.monotonic()
    if cafile is None and ctx.services.cafile is not None:
        cafile = str(ctx.services.cafile)
    policies: dict[str, asyncio.Task[StsView | None]] = {}

    async def sts(domain: str) -> StsView | None:
        task = policies.get(domain)
        if task is None:
            task = asyncio.ensure_future(_sts_view(ctx, domain, timeout))
            policies[domain] = task
        return await asyncio.shield(task)

    options = ProbeOptions(
        timeout=timeout,
        cafile=cafile,
        relay_test=relay_test,
        auth_test=auth_test,
        slow_greeting=slow_greeting,
        sts=sts,
        helo=helo,
    )
    limit = asyncio.Semaphore(max(1, concurrency))

    async def one(target: Target) -> PortProbe:
        async with limit:
            probe = await probe_port(ctx, target, options)
        if on_probe is not None:
            on_probe(probe)
        return probe

    try:
        probes = list(await asyncio.gather(*(one(target) for target in targets)))
    finally:
        for task in policies.values():
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    report = ProbeReport(
        target=label or _label(targets),
        probes=probes,
        findings=list(findings),
    )
    report.findings += egress_findings(probes)
    report.elapsed_ms = (time.monotonic() - started) * 1000
    return report


def _label(targets: Sequence[Target]) -> str:
    domains = list(dict.fromkeys(t.mx_domain for t in targets if t.mx_domain))
    if domains:
        return ", ".join(f"MX of {domain}" for domain in domains)
    return ", ".join(dict.fromkeys(t.host for t in targets)) or "(nothing)"


async def _sts_view(ctx: ResolverContext, domain: str, seconds: float) -> StsView | None:
    """The domain's MTA-STS policy, or None when it has none (or it cannot be read).

    The mta-sts check reports every problem with the policy itself; here only a policy
    senders would apply matters.
    """
    lookup = await ctx.query(owner_name(domain), "TXT")
    if not lookup.ok or not [text for text in lookup.texts() if is_sts_record(text)]:
        return None
    result = await fetch(ctx, policy_url(domain), max_bytes=MAX_POLICY_BYTES, timeout=seconds * 2)
    if result.status != 200 or result.error is not None:
        return None
    policy = parse_policy(result.text())
    if policy.errors or policy.mode is None:
        return None
    return StsView(domain, policy.mode, list(policy.mx), policy_url(domain))


def egress_findings(probes: Sequence[PortProbe]) -> list[Finding]:
    """The run-level diagnosis: our own network blocks outbound port 25.

    When every port-25 probe was filtered (no answer at all) while some 465 or 587
    probe answered, blaming each remote server would be wrong: the probe's own network
    (a cloud provider's default, a home ISP) most likely drops outbound 25. The port-25
    probes are then re-marked `ports.filtered-egress` (error: could not be determined).
    """
    relay = [p for p in probes if p.role is Role.RELAY and p.well_known_port == 25]
    answered = [
        p
        for p in probes
        if p.role is not Role.RELAY and p.state is PortState.OPEN and p.banner is not None
    ]
    if not relay or not answered or any(p.state is not PortState.FILTERED for p in relay):
        return []
    hosts = sorted({p.host for p in relay})
    for probe in relay:
        probe.findings = [
            Finding(
                "ports.filtered-egress",
                Status.ERROR,
                f"Port 25 of {probe.host} did not answer, like port 25 of every host probed, "
                "while submission ports answered: probably your own network blocks outbound "
                "port 25, so this host's port 25 could not be checked.",
                "Probe from a network that allows outbound port 25 (a server of your own, "
                "not a home line or a default cloud instance).",
            )
            if finding.code == "ports.filtered"
            else finding
            for finding in probe.findings
        ]
        probe.status = Status.worst([f.severity for f in probe.findings], default=Status.ERROR)
    return [
        Finding(
            "ports.egress-25-blocked",
            Status.WARN,
            f"Port 25 timed out on all {len(hosts)} host(s) probed ({', '.join(hosts[:5])}"
            f"{' ...' if len(hosts) > 5 else ''}) while port 465/587 answered: your own "
            "network most likely blocks outbound port 25 (the default on AWS, Google Cloud, "
            "Azure and most home ISPs), so the remote servers are not to blame.",
            "Run the probe from a host allowed to send on port 25 (or ask the provider to "
            "lift the block); the 465 and 587 results stand.",
        )
    ]


@dataclass(slots=True)
class ProbeRequest:
    """What `mailscope probe` asks for, parsed: hosts and/or an MX domain, and ports."""

    hosts: Sequence[str] = ()
    mx_domain: str | None = None
    ports: Sequence[PortSpec] = DEFAULT_PORTS
    explicit_ports: bool = False


async def run_probe(
    ctx: ResolverContext,
    request: ProbeRequest,
    *,
    timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109 - per-step deadline
    on_probe: Callable[[PortProbe], None] | None = None,
    cafile: str | None = None,
    relay_test: bool = False,
    auth_test: AuthTest | None = None,
    helo: str = LOCAL_HOSTNAME,
) -> ProbeReport:
    """Resolve the request's targets (hosts and MX hosts at once) and probe them all.

    The one call the CLI (and the pane) needs. Never raises for network trouble.
    """
    build_hosts = host_targets(
        ctx, request.hosts, request.ports, explicit_ports=request.explicit_ports
    )
    if request.mx_domain:
        built, mx = await asyncio.gather(
            build_hosts,
            mx_targets(
                ctx, request.mx_domain, request.ports, explicit_ports=request.explicit_ports
            ),
        )
        targets = [*built, *mx.targets]
        findings = mx.findings
        label_parts = [*request.hosts, f"MX of {mx.domain}"]
    else:
        targets = await build_hosts
        findings = []
        label_parts = list(request.hosts)
    return await probe_targets(
        ctx,
        targets,
        timeout=timeout,
        on_probe=on_probe,
        cafile=cafile,
        relay_test=relay_test,
        auth_test=auth_test,
        label=", ".join(label_parts),
        findings=findings,
        helo=helo,
    )


def exit_status(report: ProbeReport) -> int:
    """0 when nothing failed, 1 when a probe failed or could not be determined."""
    return 1 if report.status in (Status.FAIL, Status.ERROR) else 0
