"""BIMI: the record, the DMARC prerequisite, the logo and the VMC, fetched from the lab."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from console.auth.bimi import (
    BIMI_USAGE,
    SVG_CHECKS,
    check_bimi,
    check_svg,
    describe_certificate,
    dmarc_gate,
    parse_record,
)
from console.auth.dmarc import discover_policy
from console.auth.options import AuditOptions
from console.auth.resolver import ResolverContext
from console.lab.ca import SERVER_AUTH, LabCA
from console.lab.https_server import BAD_LOGO, GOOD_LOGO
from console.model import CheckResult, Status

OPTIONS = AuditOptions()


def codes(result: CheckResult) -> dict[str, Status]:
    return {finding.code: finding.severity for finding in result.findings}


# -- the check, against the lab -----------------------------------------------------------


async def test_good_domain_passes(ctx: ResolverContext) -> None:
    result = await check_bimi(ctx, "good.test", OPTIONS)
    assert result.id == "bimi"
    assert result.status is Status.PASS, result.findings
    data = result.data
    assert data["record"].startswith("v=BIMI1; l=https://bimi.good.test/logo.svg")
    assert data["logo_url"] == "https://bimi.good.test/logo.svg"
    assert data["authority_url"] == "https://bimi.good.test/vmc.pem"
    assert all(data["svg"][key] for key in SVG_CHECKS)
    assert data["svg"]["size"] == len(GOOD_LOGO)
    certificate = data["certificate"]
    assert certificate["subject"] == "CN=good.test,O=mailscope lab"
    assert "mailscope lab CA" in certificate["issuer"]
    assert certificate["not_after"].endswith("Z")
    assert certificate["bimi_usage"] is True
    assert data["dmarc_policy"] == "reject"
    json.dumps(result.to_dict())


async def test_subdomain_falls_back_to_the_org_domain_record(ctx: ResolverContext) -> None:
    result = await check_bimi(ctx, "news.good.test", OPTIONS)
    assert result.data["owner"] == "default._bimi.good.test"
    assert result.status is Status.PASS, result.findings


async def test_missing_bimi_is_a_skip_with_the_record_to_publish(ctx: ResolverContext) -> None:
    result = await check_bimi(ctx, "spf-dup.test", OPTIONS)
    assert result.status is Status.SKIP
    (finding,) = result.findings
    assert finding.code == "bimi.missing"
    assert 'default._bimi.spf-dup.test. 3600 IN TXT "v=BIMI1; l=https://' in finding.fix


async def test_dmarc_not_at_enforcement_fails(ctx: ResolverContext) -> None:
    result = await check_bimi(ctx, "bimi-nodmarc.test", OPTIONS)
    assert result.status is Status.FAIL
    assert codes(result) == {"bimi.dmarc-not-enforced": Status.FAIL}
    fix = result.findings[0].fix
    # The existing record is kept, only its policy raised.
    assert '_dmarc.bimi-nodmarc.test. 3600 IN TXT "v=DMARC1; p=quarantine;' in fix
    assert "rua=mailto:dmarc@bimi-nodmarc.test" in fix


async def test_subdomain_policy_none_is_not_enforcement(ctx: ResolverContext) -> None:
    result = await check_bimi(ctx, "bimi-spnone.test", OPTIONS)
    assert codes(result) == {"bimi.dmarc-not-enforced": Status.FAIL}
    assert "sp=none" in result.findings[0].message
    fix = result.findings[0].fix
    assert "p=reject; sp=quarantine" in fix


async def test_no_vmc_warns(ctx: ResolverContext) -> None:
    result = await check_bimi(ctx, "bimi-novmc.test", OPTIONS)
    assert result.status is Status.WARN
    assert codes(result) == {"bimi.no-vmc": Status.WARN}
    assert "Gmail" in result.findings[0].message
    assert result.data["authority_url"] == ""


async def test_plain_svg_is_not_tiny_ps(ctx: ResolverContext) -> None:
    result = await check_bimi(ctx, "bimi-badsvg.test", OPTIONS)
    assert codes(result) == {"bimi.logo-invalid": Status.FAIL}
    svg = result.data["svg"]
    assert svg["parsed"] is True
    for key in ("version", "base_profile", "title", "no_script", "no_external_refs", "square"):
        assert svg[key] is False, key
    assert 'baseProfile="tiny-ps"' in result.findings[0].fix


async def test_logo_over_32_kb_fails(ctx: ResolverContext) -> None:
    result = await check_bimi(ctx, "bimi-bigsvg.test", OPTIONS)
    assert codes(result) == {"bimi.logo-too-large": Status.FAIL}


async def test_logo_not_found_fails(ctx: ResolverContext) -> None:
    result = await check_bimi(ctx, "bimi-nologo.test", OPTIONS)
    assert codes(result) == {"bimi.logo-unavailable": Status.FAIL}
    assert "HTTP 404" in result.findings[0].message


async def test_expired_vmc_fails(ctx: ResolverContext) -> None:
    result = await check_bimi(ctx, "bimi-badvmc.test", OPTIONS)
    assert codes(result) == {"bimi.vmc-invalid": Status.FAIL}
    assert "expired" in result.findings[0].message
    assert result.data["certificate"]["subject"] == "CN=bimi-badvmc.test,O=mailscope lab"


async def test_misordered_record_with_http_logo_is_a_syntax_failure(
    ctx: ResolverContext,
) -> None:
    result = await check_bimi(ctx, "bimi-syntax.test", OPTIONS)
    assert result.status is Status.FAIL
    assert codes(result)["bimi.syntax"] is Status.FAIL
    assert result.data["record"] == "l=http://bimi.good.test/logo.svg; v=BIMI1"
    # The fix keeps the published logo, upgraded to https.
    assert "l=https://bimi.good.test/logo.svg" in result.findings[0].fix


async def test_dns_failure_is_an_error(ctx: ResolverContext) -> None:
    result = await check_bimi(ctx, "servfail.test", OPTIONS)
    assert result.status is Status.ERROR
    assert codes(result) == {"bimi.dns-error": Status.ERROR}


async def test_dmarc_gate_reads_the_tree_walk(ctx: ResolverContext) -> None:
    good = dmarc_gate(await discover_policy(ctx, "good.test"))
    assert good.problem is None
    assert good.policy == "reject"
    monitoring = dmarc_gate(await discover_policy(ctx, "bimi-nodmarc.test"))
    assert monitoring.policy == "none"
    assert monitoring.fix_owner == "_dmarc.bimi-nodmarc.test"
    assert "p=quarantine" in (monitoring.fix_record or "")


# -- the parsers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "logo", "authority", "error"),
    [
        (
            "v=BIMI1; l=https://e.test/l.svg; a=https://e.test/v.pem",
            "https://e.test/l.svg",
            "https://e.test/v.pem",
            None,
        ),
        ("v=BIMI1; l=https://e.test/l.svg;", "https://e.test/l.svg", None, None),
        ("v=BIMI1; l=; a=;", "", "", None),
        ("v=BIMI1; l=http://e.test/l.svg", "http://e.test/l.svg", None, "https://"),
        ("v=BIMI1; l=https://a.test/1.svg,https://b.test/2.svg", None, None, "one URL"),
        ("l=https://e.test/l.svg; v=BIMI1", "https://e.test/l.svg", None, "must come first"),
        ("v=BIMI1; a=https://e.test/v.pem", None, "https://e.test/v.pem", "`l=` tag"),
        ("v=BIMI1; l=https://e.test/l.svg; avp=logo", "https://e.test/l.svg", None, "avp"),
        (
            "v=BIMI1; l=https://e.test/l.svg; l=https://e.test/x.svg",
            "https://e.test/l.svg",
            None,
            "more than once",
        ),
    ],
)
def test_parse_record(
    text: str, logo: str | None, authority: str | None, error: str | None
) -> None:
    record = parse_record(text)
    if logo is not None:
        assert record.logo_url == logo
    assert record.authority_url == authority
    if error is None:
        assert record.errors == []
    else:
        assert any(error in message for message in record.errors), record.errors


def test_empty_logo_and_authority_decline_bimi() -> None:
    assert parse_record("v=BIMI1; l=; a=").declined
    assert not parse_record("v=BIMI1; l=https://e.test/l.svg").declined


def test_svg_checks() -> None:
    assert all(check_svg(GOOD_LOGO).values())
    bad = check_svg(BAD_LOGO)
    assert bad["parsed"]
    assert not bad["version"]
    assert not bad["no_script"]


@pytest.mark.parametrize(
    ("svg", "failed"),
    [
        (b"not xml at all", "parsed"),
        (b"<html/>", "parsed"),
        (
            b'<!DOCTYPE svg [<!ENTITY lol "lol">]><svg xmlns="http://www.w3.org/2000/svg">&lol;</svg>',
            "parsed",
        ),
        (GOOD_LOGO.replace(b"<title>Good Test</title>", b"<title> </title>"), "title"),
        (GOOD_LOGO.replace(b"</svg>", b'<set attributeName="x" to="1"/></svg>'), "no_animation"),
        (GOOD_LOGO.replace(b"<rect ", b'<rect onclick="x()" '), "no_script"),
        (
            GOOD_LOGO.replace(b'fill="#1a5fb4"', b'fill="url(https://e.test/p#g)"', 1),
            "no_external_refs",
        ),
        (GOOD_LOGO.replace(b'viewBox="0 0 100 100"', b'width="64" height="32"'), "square"),
        (GOOD_LOGO.replace(b'viewBox="0 0 100 100"', b'viewBox="0 0 100 100" x="0"'), "no_xy"),
    ],
)
def test_each_svg_requirement(svg: bytes, failed: str) -> None:
    checks = check_svg(svg)
    assert checks[failed] is False
    if failed != "parsed":
        assert [key for key, ok in checks.items() if not ok] == [failed]


@pytest.fixture(scope="module")
def ca() -> Iterator[LabCA]:
    authority = LabCA()
    yield authority
    authority.cleanup()


def test_certificate_problems(ca: LabCA) -> None:
    now = dt.datetime.now(dt.UTC)
    good = ca.issue(["brand.test"], usages=[BIMI_USAGE])
    info, problems = describe_certificate(good.pem, ("brand.test",))
    assert problems == []
    assert info is not None
    assert info["names"] == ["brand.test"]

    _, problems = describe_certificate(good.pem, ("other.test",))
    assert any("issued for brand.test" in p for p in problems)

    tls_only = ca.issue(["brand.test"], usages=[SERVER_AUTH])
    _, problems = describe_certificate(tls_only.pem, ("brand.test",))
    assert any("not a VMC or CMC" in p for p in problems)

    later = ca.issue(["brand.test"], usages=[BIMI_USAGE], not_before=now + dt.timedelta(days=3))
    _, problems = describe_certificate(later.pem, ("brand.test",))
    assert any("not valid before" in p for p in problems)

    info, problems = describe_certificate(b"<html>no</html>", ("brand.test",))
    assert info is None
    assert "not a PEM certificate" in problems[0]


@given(st.text(max_size=300))
def test_record_parser_never_raises(text: str) -> None:
    parse_record(text)


@given(st.binary(max_size=2000))
def test_svg_checker_never_raises(body: bytes) -> None:
    checks = check_svg(body)
    assert set(checks) == set(SVG_CHECKS)


@given(st.binary(max_size=2000))
def test_certificate_reader_never_raises(body: bytes) -> None:
    info, problems = describe_certificate(body, ("brand.test",))
    assert info is not None or problems
