"""What one probed port offers and what is wrong with it: findings with fixes first, then
the connection, TLS, certificate, EHLO extensions, AUTH, DANE, MTA-STS and timings.

Fed a `PortProbe` (or nothing yet: the port is still being probed). Everything the
server sent (banner, certificate subject and names, extension parameters, errors) is
shown literally.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import Static

from console.model import Finding
from console.ports.model import Certificate, PortProbe, PortState, Role
from widgets.data_view import value_text
from widgets.findings_view import FindingsView
from widgets.literal import literal
from widgets.port_grid import GridCell, port_label
from widgets.status_badge import NOT_RUN, PENDING, badge

ROLE_HELP: dict[Role, str] = {
    Role.RELAY: "relay (MX): STARTTLS expected (RFC 3207)",
    Role.SUBMISSIONS: "submission, implicit TLS (RFC 8314)",
    Role.SUBMISSION: "submission: STARTTLS, then AUTH (RFC 6409)",
}

STATE_HELP: dict[PortState, str] = {
    PortState.OPEN: "open",
    PortState.REFUSED: "refused: nothing listens on this port",
    PortState.FILTERED: "filtered: no answer within the timeout (a firewall drops the packets)",
    PortState.ERROR: "not reached",
}

MAX_TEXT = 1000
"""Characters of one remote value shown (a 1 MB banner is cut, saying by how much)."""

TIMING_NAMES: dict[str, str] = {
    "connect": "TCP connect",
    "banner": "greeting",
    "ehlo": "EHLO",
    "starttls": "STARTTLS",
    "tls_handshake": "TLS handshake",
    "ehlo_tls": "EHLO after TLS",
    "total": "total",
}

SECTION_TITLES: dict[str, str] = {
    "connection": "Connection",
    "tls": "TLS",
    "certificate": "Certificate",
    "smtp": "Extensions and AUTH",
    "dane": "DANE (TLSA)",
    "mta-sts": "MTA-STS",
    "relay": "Open-relay test",
    "auth-test": "AUTH test",
    "timings": "Timings",
}
"""The detail's sections, in order, with their titles."""

Facts = list[tuple[str, Text]]


def remote(value: object) -> Text:
    """Remote text, literally, cut to MAX_TEXT characters with the rest counted."""
    text = value if isinstance(value, str) else str(value)
    if len(text) <= MAX_TEXT:
        return literal(text)
    shown = literal(text[:MAX_TEXT])
    shown.append(f" … ({len(text) - MAX_TEXT} more characters)", style="dim")
    return shown


def _yes_no(value: bool | None, yes: str = "yes", no: str = "no") -> Text:
    if value is None:
        return Text("not checked", style="dim")
    return Text(yes if value else no, style="" if value else "bold")


def _words(items: Sequence[str]) -> Text:
    return remote(" ".join(items)) if items else Text("none", style="dim")


def extensions_text(extensions: Mapping[str, str]) -> Text:
    """`SIZE 52428800, PIPELINING, STARTTLS`: keywords with their parameters, literally."""
    if not extensions:
        return Text("none", style="dim")
    parts = [f"{key} {value}".rstrip() for key, value in extensions.items()]
    return remote(", ".join(parts))


def connection_facts(probe: PortProbe) -> Facts:
    """Address, port, state, banner and whether the banner's name is the host's rDNS."""
    facts: Facts = []
    address = Text("no address", style="dim") if not probe.address else literal(probe.address)
    address.append(f" ({'IPv6' if probe.family == 'ipv6' else 'IPv4'})", style="dim")
    facts.append(("Address", address))
    port = Text(port_label(probe))
    if probe.well_known_port and probe.well_known_port != probe.port:
        port.append("  (well-known → port used here)", style="dim")
    facts.append(("Port", port))
    facts.append(("Role", Text(ROLE_HELP.get(probe.role, probe.role.value))))
    facts.append(("State", Text(STATE_HELP.get(probe.state, probe.state.value))))
    if probe.error:
        facts.append(("Error", remote(probe.error)))
    if probe.banner is not None:
        facts.append(("Banner", remote(probe.banner) if probe.banner else Text("(empty)")))
    if probe.banner_host or probe.ptr:
        name = remote(probe.banner_host) if probe.banner_host else Text("none", style="dim")
        facts.append(("Banner name", name))
    # Reverse DNS is checked for relays (receivers compare it with the greeting).
    if probe.ptr or (probe.role is Role.RELAY and probe.state is PortState.OPEN):
        facts.append(("Reverse DNS", _words(probe.ptr)))
    return facts


def tls_facts(probe: PortProbe) -> Facts:
    """STARTTLS offered, TLS version and cipher, or why the handshake failed."""
    facts: Facts = []
    if probe.starttls is not None:
        facts.append(("STARTTLS", _yes_no(probe.starttls, "offered", "not offered")))
    tls = probe.tls
    if tls is None:
        return facts
    if tls.version:
        facts.append(("Version", literal(tls.version)))
    if tls.cipher:
        cipher = literal(tls.cipher)
        if tls.bits:
            cipher.append(f" ({tls.bits} bits)", style="dim")
        facts.append(("Cipher", cipher))
    if tls.error:
        facts.append(("Handshake", remote(tls.error)))
    return facts


def certificate_facts(cert: Certificate) -> Facts:
    """Subject, names, issuer, expiry, name match and trust of the leaf certificate."""
    facts: Facts = [
        ("Subject", remote(cert.subject)),
        ("Names", _words(cert.sans)),
        ("Issuer", remote(cert.issuer)),
    ]
    expiry = literal(cert.not_after or "?")
    if cert.days_left is not None:
        days = cert.days_left
        words = f"expired {-days} days ago" if days < 0 else f"{days} days left"
        expiry.append(f" ({words})", style="bold" if days < 14 else "")
    facts.append(("Expires", expiry))
    facts.append(("Name match", _yes_no(cert.hostname_match)))
    trusted = _yes_no(cert.trusted)
    if cert.trust_error:
        trusted.append(": ")
        trusted.append_text(remote(cert.trust_error))
    facts.append(("Trusted", trusted))
    if cert.self_signed:
        facts.append(("Self-signed", Text("yes", style="bold")))
    if len(cert.chain) > 1:
        facts.append(("Chain", Text(f"{len(cert.chain)} certificates sent")))
    return facts


def smtp_facts(probe: PortProbe) -> Facts:
    """EHLO extensions (before and after TLS) and the AUTH mechanisms on each side."""
    facts: Facts = []
    if probe.extensions_before_tls and probe.extensions_before_tls != probe.extensions:
        facts.append(("Before TLS", extensions_text(probe.extensions_before_tls)))
    if probe.extensions or probe.state is PortState.OPEN:
        label = "After TLS" if probe.tls and probe.tls.version else "Extensions"
        facts.append((label, extensions_text(probe.extensions)))
    if probe.auth_before_tls:
        facts.append(("AUTH before TLS", _words(probe.auth_before_tls)))
    if probe.auth_after_tls:
        facts.append(("AUTH after TLS", _words(probe.auth_after_tls)))
    return facts


def mapping_facts(data: Mapping[str, Any] | None) -> Facts:
    """A DANE or MTA-STS result dict as key and value lines, literally."""
    return [(str(key).replace("_", " "), value_text(value)) for key, value in (data or {}).items()]


def timing_facts(timings: Mapping[str, float]) -> Facts:
    """Each step's time in whole milliseconds, in the order the probe took them."""
    ordered = [key for key in TIMING_NAMES if key in timings]
    ordered += [key for key in timings if key not in TIMING_NAMES]
    return [(TIMING_NAMES.get(key, key), Text(f"{timings[key]:.0f} ms")) for key in ordered]


def facts_table(facts: Facts) -> Table:
    table = Table(box=None, show_header=False, expand=True, pad_edge=False, padding=(0, 2, 0, 0))
    table.add_column("key", no_wrap=True, style="bold", max_width=16)
    table.add_column("value", overflow="fold", ratio=1)
    for key, value in facts:
        table.add_row(literal(key), value)
    return table


def probe_summary(probe: PortProbe) -> str:
    """One line: `TLSv1.3, certificate valid 89 days` or what stopped the probe."""
    if probe.state is not PortState.OPEN:
        return STATE_HELP.get(probe.state, probe.state.value).split(":")[0]
    parts = []
    tls = probe.tls
    if tls is not None and tls.version:
        parts.append(tls.version)
    elif tls is not None and tls.error:
        parts.append("TLS failed")
    elif probe.starttls is False:
        parts.append("no STARTTLS")
    cert = tls.certificate if tls else None
    if cert is not None and cert.days_left is not None:
        if cert.days_left < 0:
            parts.append("certificate expired")
        else:
            parts.append(f"certificate {cert.days_left} days left")
    if probe.auth_after_tls or probe.auth_before_tls:
        parts.append("AUTH " + " ".join(probe.auth_after_tls or probe.auth_before_tls))
    if not parts and probe.findings:
        # Stopped before TLS: name what stopped it (`ports.reply-too-long`).
        worst = max(probe.findings, key=lambda finding: finding.severity.rank)
        return "open, " + worst.code.rpartition(".")[2].replace("-", " ")
    return ", ".join(parts) or "open"


class PortDetail(Vertical):
    """The selected port: heading, findings (each fix copyable), then the facts."""

    DEFAULT_CSS = """
    PortDetail {
        height: auto;
    }
    PortDetail > #port-heading {
        margin-bottom: 1;
    }
    PortDetail > .port-section-title {
        text-style: bold;
        color: $text-accent;
    }
    PortDetail > .port-facts {
        margin-bottom: 1;
    }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._probe: PortProbe | None = None
        self.show_timings = True
        """Whether the timings section is shown (snapshot tests may hide it)."""

    def compose(self) -> ComposeResult:
        yield Static(id="port-heading")
        yield FindingsView(id="port-findings")
        for section in SECTION_TITLES:
            yield Static(
                SECTION_TITLES[section], classes="port-section-title", id=f"port-{section}-title"
            )
            yield Static(classes="port-facts", id=f"port-{section}")

    def on_mount(self) -> None:
        self._show_sections({})

    @property
    def probe(self) -> PortProbe | None:
        return self._probe

    async def show(
        self, probe: PortProbe | None, cell: GridCell | None = None, state: str = PENDING
    ) -> None:
        """Show `probe`; without one, the cell's port as pending (or not run)."""
        self._probe = probe
        heading = self.query_one("#port-heading", Static)
        findings = self.query_one(FindingsView)
        if probe is None:
            self._show_sections({})
            if cell is None:
                heading.update(Content.styled("Select a port in the grid.", "$text-muted"))
            else:
                words = "not run: the probe was cancelled" if state == NOT_RUN else "probing…"
                heading.update(
                    Content.assemble(
                        self._title(cell.host, cell),
                        "\n",
                        badge(NOT_RUN if state == NOT_RUN else PENDING),
                        f"  {words}",
                    )
                )
            await findings.show([])
            return
        heading.update(
            Content.assemble(
                self._title(probe.host, GridCell.of(probe)),
                "\n",
                badge(probe.status),
                "  ",
                Content.from_rich_text(literal(probe_summary(probe))),
            )
        )
        await findings.show(probe.findings, empty_text="No findings: nothing to fix here.")
        cert = probe.tls.certificate if probe.tls else None
        self._show_sections(
            {
                "connection": connection_facts(probe),
                "tls": tls_facts(probe),
                "certificate": certificate_facts(cert) if cert else [],
                "smtp": smtp_facts(probe),
                "dane": mapping_facts(probe.dane),
                "mta-sts": mapping_facts(probe.mta_sts),
                "relay": mapping_facts(probe.relay),
                "auth-test": mapping_facts(probe.auth_test),
                "timings": timing_facts(probe.timings_ms) if self.show_timings else [],
            }
        )

    def fix_to_copy(self) -> Finding | None:
        """The focused finding's fix, else the worst finding's (see FindingsView)."""
        return self.query_one(FindingsView).fix_to_copy()

    @staticmethod
    def _title(host: str, cell: GridCell) -> Content:
        family = " IPv6" if cell.family == "ipv6" else ""
        return Content.assemble(
            Content.from_rich_text(literal(host)).stylize("bold"),
            (f"{family}  port {port_label(cell)}", "bold"),
        )

    def _show_sections(self, sections: Mapping[str, Facts]) -> None:
        for section in SECTION_TITLES:
            facts = sections.get(section) or []
            self.query_one(f"#port-{section}-title").display = bool(facts)
            body = self.query_one(f"#port-{section}", Static)
            body.display = bool(facts)
            if facts:
                body.update(facts_table(facts))
