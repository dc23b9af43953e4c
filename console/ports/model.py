"""What an SMTP port probe found: plain data shared by the engine, the pane and `--json`."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from console.model import Finding, Status


class Role(enum.StrEnum):
    """What a port is for, whatever its number (`2525/starttls` maps the 25 role onto 2525)."""

    RELAY = "25"
    """MX / relay: plaintext greeting, STARTTLS expected (RFC 5321, RFC 3207)."""
    SUBMISSIONS = "465"
    """Submission over implicit TLS (RFC 8314): TLS before the greeting."""
    SUBMISSION = "587"
    """Submission: STARTTLS, then AUTH (RFC 6409)."""

    @property
    def implicit_tls(self) -> bool:
        return self is Role.SUBMISSIONS


class PortState(enum.StrEnum):
    OPEN = "open"
    REFUSED = "refused"
    """The host answered with a reset: nothing listens there."""
    FILTERED = "filtered"
    """No answer within the timeout: a firewall drops the packets (often our own egress)."""
    ERROR = "error"
    """Something else: no address, unreachable network, DNS failure."""


@dataclass(slots=True)
class Certificate:
    """The leaf certificate as presented, and what was checked about it."""

    subject: str
    issuer: str
    sans: list[str] = field(default_factory=list)
    not_before: str = ""
    not_after: str = ""
    days_left: int | None = None
    hostname_match: bool | None = None
    trusted: bool | None = None
    self_signed: bool = False
    trust_error: str | None = None
    sha256: str = ""
    """Hex SHA-256 of the DER certificate (DANE `x 0 1`)."""
    spki_sha256: str = ""
    """Hex SHA-256 of the SubjectPublicKeyInfo (DANE `3 1 1`)."""
    chain: list[dict[str, str]] = field(default_factory=list)
    """Every certificate the server sent: subject, issuer, not_after."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "issuer": self.issuer,
            "sans": self.sans,
            "not_before": self.not_before,
            "not_after": self.not_after,
            "days_left": self.days_left,
            "hostname_match": self.hostname_match,
            "trusted": self.trusted,
            "self_signed": self.self_signed,
            "trust_error": self.trust_error,
            "sha256": self.sha256,
            "spki_sha256": self.spki_sha256,
            "chain": self.chain,
        }


@dataclass(slots=True)
class TlsInfo:
    version: str | None = None
    cipher: str | None = None
    bits: int | None = None
    certificate: Certificate | None = None
    error: str | None = None
    """Why the handshake failed, when it did (garbage instead of TLS, closed mid-way)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "cipher": self.cipher,
            "bits": self.bits,
            "certificate": self.certificate.to_dict() if self.certificate else None,
            "error": self.error,
        }


@dataclass(frozen=True, slots=True)
class TranscriptLine:
    """One line of the SMTP conversation. `direction`: "C" client, "S" server, "*" event
    (connect, TLS established, timeout). Credentials are redacted before they get here."""

    direction: str
    text: str
    at_ms: float

    def to_dict(self) -> dict[str, Any]:
        return {"direction": self.direction, "text": self.text, "at_ms": round(self.at_ms, 1)}


@dataclass(slots=True)
class PortProbe:
    """Everything learnt about one host, address family and port.

    `port` is the port actually connected to; `role` says what it was probed as. In the
    lab, `well_known_port` (25, 465, 587) differs from `port` (a free high port).
    """

    host: str
    port: int
    role: Role
    address: str | None = None
    family: str = "ipv4"
    well_known_port: int | None = None
    state: PortState = PortState.ERROR
    status: Status = Status.ERROR
    banner: str | None = None
    banner_host: str | None = None
    """The host name the greeting announces (first word after the code)."""
    ptr: list[str] = field(default_factory=list)
    """Forward-confirmed reverse DNS names of `address`."""
    extensions: dict[str, str] = field(default_factory=dict)
    """EHLO keywords (upper case) to their parameters, after TLS when TLS was reached."""
    extensions_before_tls: dict[str, str] = field(default_factory=dict)
    starttls: bool | None = None
    """None when not applicable (implicit TLS)."""
    tls: TlsInfo | None = None
    auth_before_tls: list[str] = field(default_factory=list)
    auth_after_tls: list[str] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    """connect, banner, ehlo, starttls, ehlo_tls, total (milliseconds). With implicit TLS
    (465 role) `banner` covers the TLS handshake and the greeting together."""
    transcript: list[TranscriptLine] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    dane: dict[str, Any] | None = None
    """TLSA records at _25._tcp.HOST and whether the certificate matches one."""
    mta_sts: dict[str, Any] | None = None
    """Whether the host matches the domain's MTA-STS mx patterns."""
    error: str | None = None
    mx_domain: str | None = None
    """The domain whose MX this host is (`--mx`), else None."""
    relay: dict[str, Any] | None = None
    """Open-relay test (only on request): tested, accepted, reply."""
    auth_test: dict[str, Any] | None = None
    """AUTH test (only with credentials): attempted, mechanism, success, reply. Never the
    credentials."""
    chain_der: list[bytes] = field(default_factory=list, repr=False)
    """The certificates the server sent, DER, leaf first (not in JSON; for DANE and export)."""

    def to_dict(self) -> dict[str, Any]:
        """The design.md `probe --json` shape, one object per host and port."""
        return {
            "host": self.host,
            "address": self.address,
            "family": self.family,
            "port": self.port,
            "well_known_port": self.well_known_port,
            "role": self.role.value,
            "state": self.state.value,
            "status": self.status.value,
            "findings": [finding.to_dict() for finding in self.findings],
            "banner": self.banner,
            "banner_host": self.banner_host,
            "ptr": self.ptr,
            "extensions": self.extensions,
            "extensions_before_tls": self.extensions_before_tls,
            "starttls": self.starttls,
            "tls": self.tls.to_dict() if self.tls else None,
            "auth": self.auth_after_tls or self.auth_before_tls,
            "auth_before_tls": self.auth_before_tls,
            "auth_after_tls": self.auth_after_tls,
            "timings_ms": {key: round(value, 1) for key, value in self.timings_ms.items()},
            "transcript": [line.to_dict() for line in self.transcript],
            "dane": self.dane,
            "mta_sts": self.mta_sts,
            "error": self.error,
            "mx_domain": self.mx_domain,
            "relay": self.relay,
            "auth_test": self.auth_test,
        }


@dataclass(slots=True)
class ProbeReport:
    """A whole probe run: every host x port, plus findings about the run as a whole
    (e.g. "your own network blocks outbound port 25")."""

    target: str
    probes: list[PortProbe] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    elapsed_ms: float = 0.0
    """Wall time of the whole run (probes run concurrently: about the slowest one)."""

    @property
    def status(self) -> Status:
        return Status.worst(
            [*(probe.status for probe in self.probes), *(f.severity for f in self.findings)]
        )

    def to_dict(self) -> dict[str, Any]:
        """The whole run; `--json` prints the probes one per line instead."""
        return {
            "target": self.target,
            "status": self.status.value,
            "findings": [finding.to_dict() for finding in self.findings],
            "probes": [probe.to_dict() for probe in self.probes],
            "elapsed_ms": round(self.elapsed_ms, 1),
        }
