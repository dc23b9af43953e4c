"""What to probe: hosts, their addresses (IPv4 and IPv6 apart) and the ports with their roles.

A target is one host, one address and one port. The port is probed in a role (relay with
STARTTLS, implicit TLS, submission) whatever its number, so `2525/starttls` probes 2525 as
the 25 role would be. Addresses come from the resolver context (so `--nameserver` and the
lab see every question), and the actual port from its service map: in the lab, 25 is a
free high port.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from console.auth.mx import mx_hosts
from console.auth.records import normalize_domain
from console.auth.resolver import ResolverContext
from console.model import Finding, Status
from console.ports.model import Role

ROLE_SUFFIXES: dict[str, Role] = {
    "starttls": Role.RELAY,
    "smtp": Role.RELAY,
    "mx": Role.RELAY,
    "relay": Role.RELAY,
    "25": Role.RELAY,
    "tls": Role.SUBMISSIONS,
    "ssl": Role.SUBMISSIONS,
    "smtps": Role.SUBMISSIONS,
    "submissions": Role.SUBMISSIONS,
    "implicit": Role.SUBMISSIONS,
    "465": Role.SUBMISSIONS,
    "submission": Role.SUBMISSION,
    "587": Role.SUBMISSION,
}
"""`--ports` role suffixes (`2525/starttls`, `2465/tls`, `2587/submission`)."""

WELL_KNOWN_ROLES: dict[int, Role] = {25: Role.RELAY, 465: Role.SUBMISSIONS, 587: Role.SUBMISSION}
"""The role a bare port number gets; any other bare number is probed as STARTTLS relay."""

MAX_PORTS = 32
"""More ports than this in one `--ports` is almost certainly a typo or a scan."""


@dataclass(frozen=True, slots=True)
class PortSpec:
    """A port to probe and the role to probe it in."""

    port: int
    role: Role

    def __str__(self) -> str:
        if WELL_KNOWN_ROLES.get(self.port) is self.role:
            return str(self.port)
        suffix = {Role.RELAY: "starttls", Role.SUBMISSIONS: "tls", Role.SUBMISSION: "submission"}
        return f"{self.port}/{suffix[self.role]}"


DEFAULT_PORTS: tuple[PortSpec, ...] = (
    PortSpec(25, Role.RELAY),
    PortSpec(465, Role.SUBMISSIONS),
    PortSpec(587, Role.SUBMISSION),
)


def parse_ports(text: str) -> list[PortSpec]:
    """Parse `--ports`: comma-separated `PORT` or `PORT/ROLE` (ROLE_SUFFIXES).

    >>> [str(spec) for spec in parse_ports("25,465,2525/starttls,2465/tls")]
    ['25', '465', '2525/starttls', '2465/tls']

    Raises:
        ValueError: with a one-line reason, for an empty list, a bad number or role.
    """
    specs: list[PortSpec] = []
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            continue
        number, slash, suffix = item.partition("/")
        number = number.strip()
        if not number.isdigit() or not 0 < int(number) < 65536:
            raise ValueError(f"{item!r}: the port must be a number from 1 to 65535")
        port = int(number)
        if slash:
            role = ROLE_SUFFIXES.get(suffix.strip().lower())
            if role is None:
                raise ValueError(
                    f"{item!r}: unknown role {suffix!r} (use starttls, tls or submission)"
                )
        else:
            role = WELL_KNOWN_ROLES.get(port, Role.RELAY)
        spec = PortSpec(port, role)
        if spec not in specs:
            specs.append(spec)
    if not specs:
        raise ValueError("no port given (e.g. --ports 25,465,587)")
    if len(specs) > MAX_PORTS:
        raise ValueError(f"{len(specs)} ports: at most {MAX_PORTS} per run")
    return specs


def submission_ports(port: int) -> list[PortSpec]:
    """The port spec for a profile's submission server (`SubmissionServer.port`)."""
    return [PortSpec(port, Role.SUBMISSIONS if port == 465 else Role.SUBMISSION)]


@dataclass(frozen=True, slots=True)
class Target:
    """One host, one address, one port, one role: what a single probe connects to.

    Attributes:
        host: the host name as given (or the MX target), lower-case; an IP when given one.
        address: where to connect; None when the host has no address (see `error`).
        family: `ipv4` or `ipv6`.
        port: the port actually connected to (the lab's high port for 25).
        well_known_port: the port as asked for (25, 465, 587, 2525 ...).
        role: what the port is probed as.
        mx_domain: the domain whose MX this host is (`--mx`), else None.
        expected: whether the port must answer: ports given explicitly, and 25 on an MX.
            A default port that does not answer is reported, not failed.
        error: why there is no address (DNS failure, no A/AAAA); None otherwise.
        lookup_failed: `error` comes from DNS trouble, not an answer.
    """

    host: str
    address: str | None
    family: str
    port: int
    well_known_port: int
    role: Role
    mx_domain: str | None = None
    expected: bool = True
    error: str | None = None
    lookup_failed: bool = False

    @property
    def label(self) -> str:
        """`host [address]:port` for messages and progress."""
        where = self.address or "?"
        where = f"[{where}]" if ":" in where else where
        return f"{self.host} {where}:{self.port}"


def family_of(address: str) -> str:
    return "ipv6" if ipaddress.ip_address(address).version == 6 else "ipv4"


def _ip_literal(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return None


async def _addresses(ctx: ResolverContext, host: str) -> tuple[list[str], str | None, bool]:
    """A and AAAA of `host`, asked at once; (addresses, error, lookup_failed)."""
    literal = _ip_literal(host)
    if literal is not None:
        return [literal], None, False
    lookups = await ctx.gather(ctx.query(host, "A"), ctx.query(host, "AAAA"))
    addresses = [address for lookup in lookups for address in lookup.addresses()]
    if addresses:
        return addresses, None, False
    failures = [lookup for lookup in lookups if lookup.failed]
    if failures:
        return [], "; ".join(lookup.describe() for lookup in failures), True
    return [], f"{host} has no A or AAAA record", False


def _expand(
    ctx: ResolverContext,
    host: str,
    addresses: list[str],
    error: str | None,
    lookup_failed: bool,
    ports: Sequence[PortSpec],
    *,
    mx_domain: str | None,
    explicit: bool,
) -> list[Target]:
    targets: list[Target] = []
    for spec in ports:
        actual = ctx.services.port_for(host, spec.port)
        expected = explicit or (mx_domain is not None and spec.role is Role.RELAY)
        if not addresses:
            targets.append(
                Target(
                    host,
                    None,
                    "ipv4",
                    actual,
                    spec.port,
                    spec.role,
                    mx_domain,
                    expected,
                    error=error,
                    lookup_failed=lookup_failed,
                )
            )
        for address in addresses:
            targets.append(
                Target(
                    host,
                    address,
                    family_of(address),
                    actual,
                    spec.port,
                    spec.role,
                    mx_domain,
                    expected,
                )
            )
    return targets


async def host_targets(
    ctx: ResolverContext,
    hosts: Iterable[str],
    ports: Sequence[PortSpec] = DEFAULT_PORTS,
    *,
    explicit_ports: bool = False,
    mx_domain: str | None = None,
) -> list[Target]:
    """One target per host, address and port; every host is resolved at once.

    Args:
        ctx: the resolver context (addresses and the lab's port map).
        hosts: host names or IP addresses.
        ports: what to probe on each address.
        explicit_ports: the ports were asked for (`--ports`): each must answer.
        mx_domain: the domain these hosts are the MX of, for the MTA-STS and DANE checks.

    Returns:
        Targets in host, port, address order; a host without address gives one target
        per port with `address` None and `error` set (the probe reports it).
    """
    names = []
    for host in hosts:
        name = host.strip().lower().rstrip(".")
        if name and name not in names:
            names.append(name)
    resolved = await ctx.gather(*(_addresses(ctx, name) for name in names))
    targets: list[Target] = []
    for name, (addresses, error, failed) in zip(names, resolved, strict=True):
        targets += _expand(
            ctx,
            name,
            addresses,
            error,
            failed,
            ports,
            mx_domain=mx_domain,
            explicit=explicit_ports,
        )
    return targets


@dataclass(slots=True)
class MxTargets:
    """The targets for `--mx DOMAIN`, and what went wrong finding them."""

    domain: str
    targets: list[Target]
    findings: list[Finding]


async def mx_targets(
    ctx: ResolverContext,
    domain: str,
    ports: Sequence[PortSpec] = DEFAULT_PORTS,
    *,
    explicit_ports: bool = False,
) -> MxTargets:
    """Targets for every MX host of `domain` (via `mx_hosts`); never raises.

    Findings: `ports.mx-lookup-failed` (error), `ports.no-mx` (fail, no MX and no
    address), `ports.null-mx` (skip: the domain accepts no mail).
    """
    try:
        name = normalize_domain(domain)
    except ValueError as exc:
        finding = Finding("ports.bad-domain", Status.ERROR, f"{domain!r}: {exc}", "")
        return MxTargets(domain, [], [finding])
    result = await mx_hosts(ctx, name)
    if result.failed:
        finding = Finding(
            "ports.mx-lookup-failed",
            Status.ERROR,
            f"Could not look up the MX of {name}: {result.lookup.describe()}; its mail "
            "hosts are unknown, so nothing was probed.",
            "Check that the domain's nameservers answer (or give --nameserver), then retry.",
        )
        return MxTargets(name, [], [finding])
    if result.null_mx:
        finding = Finding(
            "ports.null-mx",
            Status.SKIP,
            f"{name} publishes a null MX (RFC 7505): it accepts no mail, so there is no "
            "mail host to probe.",
            "",
        )
        return MxTargets(name, [], [finding])
    if not result.hosts:
        finding = Finding(
            "ports.no-mx",
            Status.FAIL,
            f"{name} has no MX record and no address, so nobody can deliver mail to it.",
            f"Publish an MX record, e.g. {name}. 3600 IN MX 10 mail.{name}.",
        )
        return MxTargets(name, [], [finding])
    targets: list[Target] = []
    for host in result.hosts:
        if host.ip_literal:
            continue
        targets += _expand(
            ctx,
            host.host,
            list(host.addresses),
            host.error,
            host.lookup_failed,
            ports,
            mx_domain=name,
            explicit=explicit_ports,
        )
    return MxTargets(name, targets, [])
