"""TLS-RPT (RFC 8460): the record parser on its own, then the check against the lab."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from console.auth.options import AuditOptions
from console.auth.tls_rpt import check_tls_rpt, parse_tlsrpt, uri_problem
from console.model import Status

OWNER = "_smtp._tls.example.com"


def codes(findings) -> set[str]:
    return {finding.code for finding in findings}


def test_good_record_has_its_destinations_and_no_findings() -> None:
    parsed = parse_tlsrpt(
        "v=TLSRPTv1; rua=mailto:tls@example.com, https://reports.example.net/tlsrpt", OWNER
    )
    assert parsed.rua == ["mailto:tls@example.com", "https://reports.example.net/tlsrpt"]
    assert parsed.valid_rua == parsed.rua
    assert parsed.findings == []


def test_extension_tags_are_kept_and_allowed() -> None:
    parsed = parse_tlsrpt("v=TLSRPTv1;rua=mailto:a@example.com;ext-1=x", OWNER)
    assert parsed.extensions == {"ext-1": "x"}
    assert parsed.findings == []


@pytest.mark.parametrize(
    "record",
    [
        "rua=mailto:tls@example.com; v=TLSRPTv1",
        "v=TLSRPTv10; rua=mailto:tls@example.com",
        " v=TLSRPTv1; rua=mailto:tls@example.com",
        "v=tlsrptv1; rua=mailto:tls@example.com",
    ],
)
def test_version_must_come_first_and_exact(record: str) -> None:
    parsed = parse_tlsrpt(record, OWNER)
    assert codes(parsed.findings) == {"tls-rpt.syntax"}
    assert parsed.findings[0].severity is Status.FAIL


def test_version_not_first_fix_reorders_the_users_own_record() -> None:
    parsed = parse_tlsrpt("rua=mailto:tls@example.com; v=TLSRPTv1", OWNER)
    assert parsed.findings[0].fix.endswith(
        '_smtp._tls.example.com. 3600 IN TXT "v=TLSRPTv1; rua=mailto:tls@example.com"'
    )


@pytest.mark.parametrize("record", ["v=TLSRPTv1", "v=TLSRPTv1;", "v=TLSRPTv1; rua="])
def test_rua_is_required(record: str) -> None:
    parsed = parse_tlsrpt(record, OWNER)
    assert codes(parsed.findings) == {"tls-rpt.syntax"}
    assert "no rua=" in parsed.findings[0].message
    assert parsed.rua == []


def test_two_rua_tags_warn() -> None:
    parsed = parse_tlsrpt("v=TLSRPTv1; rua=mailto:a@example.com; rua=mailto:b@example.com")
    assert codes(parsed.findings) == {"tls-rpt.syntax"}
    assert parsed.findings[0].severity is Status.WARN


def test_bad_uri_fails_when_it_is_the_only_destination() -> None:
    parsed = parse_tlsrpt("v=TLSRPTv1; rua=tls@example.com", OWNER)
    assert codes(parsed.findings) == {"tls-rpt.bad-uri"}
    assert parsed.findings[0].severity is Status.FAIL
    # The fix is the record the admin meant: the address with its mailto: prefix.
    assert parsed.findings[0].fix.endswith('"v=TLSRPTv1; rua=mailto:tls@example.com"')


def test_bad_uri_only_warns_beside_a_good_one() -> None:
    parsed = parse_tlsrpt(
        "v=TLSRPTv1; rua=mailto:tls@example.com,http://reports.example.com/", OWNER
    )
    assert parsed.valid_rua == ["mailto:tls@example.com"]
    assert [f.severity for f in parsed.findings] == [Status.WARN]


@pytest.mark.parametrize(
    ("uri", "ok"),
    [
        ("mailto:tls@example.com", True),
        ("MAILTO:tls@example.com", True),
        ("mailto:tls%40x@example.com?subject=x", True),
        ("https://reports.example.com/v1", True),
        ("mailto:", False),
        ("mailto:nobody", False),
        ("https://", False),
        ("http://reports.example.com/", False),
        ("ftp://reports.example.com/", False),
        ("tls@example.com", False),
        ("mailto:tls @example.com", False),
        ("https://[::1", False),
    ],
)
def test_uri_problem(uri: str, ok: bool) -> None:
    assert (uri_problem(uri) is None) is ok


@given(st.text(max_size=400))
def test_parser_never_raises_on_any_text(text: str) -> None:
    parsed = parse_tlsrpt(text, OWNER)
    assert all(f.code.startswith("tls-rpt.") for f in parsed.findings)
    assert parsed.record == text


@given(st.text(max_size=300))
def test_parser_never_raises_on_any_rua(rua: str) -> None:
    parsed = parse_tlsrpt(f"v=TLSRPTv1; rua={rua}", OWNER)
    assert set(parsed.valid_rua) <= set(parsed.rua)
    # Every destination is either usable or reported.
    if len(parsed.valid_rua) < len(parsed.rua):
        assert parsed.findings


# -- the check, over the wire ------------------------------------------------------------


async def test_good_domain_passes(ctx) -> None:
    result = await check_tls_rpt(ctx, "good.test", AuditOptions())
    assert result.status is Status.PASS
    assert result.data["record"] == "v=TLSRPTv1; rua=mailto:tlsrpt@good.test"
    assert result.data["rua"] == ["mailto:tlsrpt@good.test"]


async def test_missing_record_warns_with_the_exact_record(ctx) -> None:
    result = await check_tls_rpt(ctx, "nomx.test", AuditOptions())
    assert result.status is Status.WARN
    (missing,) = result.findings
    assert missing.code == "tls-rpt.missing"
    assert '_smtp._tls.nomx.test. 3600 IN TXT "v=TLSRPTv1; rua=mailto:' in missing.fix
    assert result.data["record"] is None


async def test_null_mx_domain_needs_no_record(ctx) -> None:
    result = await check_tls_rpt(ctx, "nullmx.test", AuditOptions())
    assert result.status is Status.SKIP


async def test_bare_address_rua_fails(ctx) -> None:
    result = await check_tls_rpt(ctx, "tlsrpt-baduri.test", AuditOptions())
    assert result.status is Status.FAIL
    assert codes(result.findings) == {"tls-rpt.bad-uri"}
    assert result.data["rua"] == ["tlsrpt@tlsrpt-baduri.test"]


async def test_one_bad_destination_of_two_warns(ctx) -> None:
    result = await check_tls_rpt(ctx, "tlsrpt-mixed.test", AuditOptions())
    assert result.status is Status.WARN
    assert codes(result.findings) == {"tls-rpt.bad-uri"}


async def test_two_records_fail_and_the_fix_merges_them(ctx) -> None:
    result = await check_tls_rpt(ctx, "tlsrpt-multiple.test", AuditOptions())
    assert result.status is Status.FAIL
    (multiple,) = result.findings
    assert multiple.code == "tls-rpt.multiple"
    assert "https://reports.tlsrpt-multiple.test/v1" in multiple.fix
    assert "mailto:tlsrpt@tlsrpt-multiple.test" in multiple.fix
    assert len(result.data["records"]) == 2


async def test_record_not_starting_with_version_is_a_syntax_failure(ctx) -> None:
    result = await check_tls_rpt(ctx, "tlsrpt-syntax.test", AuditOptions())
    assert result.status is Status.FAIL
    assert codes(result.findings) == {"tls-rpt.syntax"}
    assert result.data["record"] == "rua=mailto:tlsrpt@tlsrpt-syntax.test; v=TLSRPTv1"


async def test_servfail_is_an_error_not_missing(ctx) -> None:
    result = await check_tls_rpt(ctx, "servfail.test", AuditOptions())
    assert result.status is Status.ERROR
    assert codes(result.findings) == {"tls-rpt.dns-error"}
