"""The pure parts of the probe: greeting and EHLO parsers, the egress diagnosis.

Property tests: any text gives a result (or, for `--ports`, a ValueError), never another
exception.
"""

from __future__ import annotations

from aiosmtplib import SMTPResponse
from hypothesis import given
from hypothesis import strategies as st

from console.model import Finding, Status
from console.ports.model import PortProbe, PortState, Role
from console.ports.probe import auth_mechanisms, parse_banner_host, parse_ehlo, reply_lines
from console.ports.runner import egress_findings
from console.ports.targets import parse_ports


def test_banner_host_is_the_first_word_after_the_code() -> None:
    assert parse_banner_host("220 MX1.Example.COM. ESMTP Postfix") == "mx1.example.com"
    assert parse_banner_host("220-mx.example.com first\n220 second") == "mx.example.com"
    assert parse_banner_host("220 [192.0.2.1] ready") == "192.0.2.1"
    assert parse_banner_host("220 ") is None
    assert parse_banner_host("garbage") is None
    assert parse_banner_host("220 \x1b[2J evil") is None


def test_ehlo_extensions_are_keywords_with_parameters() -> None:
    name, extensions = parse_ehlo(
        "mx.example.com Hello\nsize 35882577\nPIPELINING\nAUTH PLAIN LOGIN\nAUTH=LOGIN\n"
        "STARTTLS\n\n8BITMIME\nSMTPUTF8\nCHUNKING\nDSN\nREQUIRETLS\n-bad keyword"
    )
    assert name == "mx.example.com"
    assert extensions["SIZE"] == "35882577"
    assert extensions["STARTTLS"] == ""
    assert set(extensions) >= {
        "PIPELINING",
        "8BITMIME",
        "SMTPUTF8",
        "CHUNKING",
        "DSN",
        "REQUIRETLS",
    }
    assert "-BAD" not in extensions
    assert auth_mechanisms(extensions) == ["PLAIN", "LOGIN"]
    assert auth_mechanisms({}) == []


def test_reply_lines_restore_the_wire_form() -> None:
    assert reply_lines(SMTPResponse(250, "mx.example.com\nSIZE 10\nSTARTTLS")) == [
        "250-mx.example.com",
        "250-SIZE 10",
        "250 STARTTLS",
    ]
    assert reply_lines(SMTPResponse(221, "")) == ["221"]


@given(st.text(max_size=400))
def test_banner_parser_never_raises(text: str) -> None:
    host = parse_banner_host(text)
    assert host is None or (host == host.lower() and " " not in host)


@given(st.text(max_size=600))
def test_ehlo_parser_never_raises(text: str) -> None:
    name, extensions = parse_ehlo(text)
    assert isinstance(name, str)
    assert all(key == key.upper() and " " not in key for key in extensions)
    assert isinstance(auth_mechanisms(extensions), list)


@given(st.text(alphabet="0123456789,/ abcdefghijklmnopqrstuvwxyz", max_size=60))
def test_ports_parser_gives_specs_or_a_value_error(text: str) -> None:
    reason = ""
    try:
        specs = parse_ports(text)
    except ValueError as exc:
        reason = str(exc)
        specs = []
    assert bool(specs) != bool(reason)  # either ports or a one-line reason, nothing else
    assert all(0 < spec.port < 65536 for spec in specs)


def _probe(
    host: str, port: int, role: Role, state: PortState, banner: str | None = None
) -> PortProbe:
    probe = PortProbe(host=host, port=port, role=role, well_known_port=port, state=state)
    probe.banner = banner
    if state is PortState.FILTERED:
        probe.findings = [Finding("ports.filtered", Status.FAIL, "no answer", "open it")]
        probe.status = Status.FAIL
    return probe


def test_egress_block_diagnosed_when_every_25_filters_and_submission_answers() -> None:
    probes = [
        _probe("a.test", 25, Role.RELAY, PortState.FILTERED),
        _probe("b.test", 25, Role.RELAY, PortState.FILTERED),
        _probe("a.test", 587, Role.SUBMISSION, PortState.OPEN, "220 a.test"),
    ]
    findings = egress_findings(probes)
    assert [(f.code, f.severity) for f in findings] == [("ports.egress-25-blocked", Status.WARN)]
    # The remote port-25 results become "could not be determined", not failures.
    assert [p.status for p in probes[:2]] == [Status.ERROR, Status.ERROR]
    assert [f.code for f in probes[0].findings] == ["ports.filtered-egress"]


def test_no_egress_diagnosis_when_some_25_answers_or_nothing_else_does() -> None:
    answered = [
        _probe("a.test", 25, Role.RELAY, PortState.FILTERED),
        _probe("b.test", 25, Role.RELAY, PortState.OPEN, "220 b.test"),
        _probe("a.test", 465, Role.SUBMISSIONS, PortState.OPEN, "220 a.test"),
    ]
    assert egress_findings(answered) == []
    assert answered[0].status is Status.FAIL
    silent = [
        _probe("a.test", 25, Role.RELAY, PortState.FILTERED),
        _probe("a.test", 587, Role.SUBMISSION, PortState.FILTERED),
    ]
    assert egress_findings(silent) == []
