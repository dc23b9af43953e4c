"""MTA-STS: the TXT record, the policy fetched over the lab's HTTPS, and the MX match."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from console.auth.mta_sts import (
    MAX_MAX_AGE,
    check_mta_sts,
    is_sts_record,
    mx_matches,
    parse_policy,
    parse_record,
)
from console.auth.options import AuditOptions
from console.auth.resolver import ResolverContext
from console.lab import Lab
from console.model import CheckResult, Status

OPTIONS = AuditOptions()


def codes(result: CheckResult) -> dict[str, Status]:
    return {finding.code: finding.severity for finding in result.findings}


# -- the check, against the lab -----------------------------------------------------------


async def test_good_domain_passes_with_every_mx_covered(ctx: ResolverContext) -> None:
    result = await check_mta_sts(ctx, "good.test", OPTIONS)
    assert result.id == "mta-sts"
    assert result.status is Status.PASS, result.findings
    assert result.findings == []
    data = result.data
    assert data["record"] == "v=STSv1; id=20261101T000000"
    assert data["id"] == "20261101T000000"
    assert data["mode"] == "enforce"
    assert data["max_age"] == 604800
    assert data["mx_patterns"] == ["mx1.good.test", "*.good.test"]
    assert data["unmatched_mx"] == []
    assert data["policy_url"] == "https://mta-sts.good.test/.well-known/mta-sts.txt"
    assert data["http_status"] == 200
    assert data["fetch_error"] is None
    assert data["policy"].startswith("version: STSv1\r\n")
    json.dumps(result.to_dict())


async def test_missing_is_a_warning_with_the_record_and_policy_to_publish(
    ctx: ResolverContext,
) -> None:
    result = await check_mta_sts(ctx, "spf-dup.test", OPTIONS)
    assert result.status is Status.WARN
    (finding,) = result.findings
    assert finding.code == "mta-sts.missing"
    assert '_mta-sts.spf-dup.test. 3600 IN TXT "v=STSv1; id=' in finding.fix
    assert "version: STSv1\nmode: testing\nmx: mx.spf-dup.test\nmax_age: 604800" in finding.fix
    assert "https://mta-sts.spf-dup.test/.well-known/mta-sts.txt" in finding.fix
    assert result.data["record"] is None


async def test_null_mx_domain_needs_no_policy(ctx: ResolverContext) -> None:
    result = await check_mta_sts(ctx, "nullmx.test", OPTIONS)
    assert result.status is Status.SKIP


async def test_id_without_a_policy_fails(ctx: ResolverContext) -> None:
    result = await check_mta_sts(ctx, "sts-nopolicy.test", OPTIONS)
    assert result.status is Status.FAIL
    assert codes(result) == {"mta-sts.policy-unavailable": Status.FAIL}
    assert result.data["http_status"] == 404
    assert result.data["id"] == "2026a"
    assert result.data["policy"] is None
    assert "mx: mx.sts-nopolicy.test" in result.findings[0].fix


async def test_testing_mode_warns(ctx: ResolverContext) -> None:
    result = await check_mta_sts(ctx, "mtasts-testing.test", OPTIONS)
    assert result.status is Status.WARN
    assert codes(result) == {"mta-sts.testing": Status.WARN}
    assert result.data["mode"] == "testing"
    assert "mode: enforce" in result.findings[0].fix


async def test_redirect_is_not_followed_and_fails(ctx: ResolverContext) -> None:
    result = await check_mta_sts(ctx, "mtasts-redirect.test", OPTIONS)
    assert result.status is Status.FAIL
    assert codes(result) == {"mta-sts.redirect": Status.FAIL}
    assert result.data["http_status"] == 302
    assert result.data["policy"] is None
    assert result.data["mode"] is None


async def test_wrong_name_certificate_fails(ctx: ResolverContext) -> None:
    result = await check_mta_sts(ctx, "mtasts-badcert.test", OPTIONS)
    assert result.status is Status.FAIL
    assert codes(result) == {"mta-sts.certificate": Status.FAIL}
    assert "does not cover the host name" in result.data["fetch_error"]
    assert "mta-sts.mtasts-badcert.test" in result.findings[0].fix


async def test_mx_not_covered_by_an_enforced_policy_fails(ctx: ResolverContext) -> None:
    result = await check_mta_sts(ctx, "mtasts-mismatch.test", OPTIONS)
    assert result.status is Status.FAIL
    assert codes(result) == {"mta-sts.mx-mismatch": Status.FAIL}
    assert result.data["unmatched_mx"] == ["mx.mtasts-mismatch.test"]
    fix = result.findings[0].fix
    assert "mx: mx.mtasts-mismatch.test" in fix
    assert "_mta-sts.mtasts-mismatch.test. 3600 IN TXT" in fix  # a new id to publish


async def test_wrong_media_type_fails(ctx: ResolverContext) -> None:
    result = await check_mta_sts(ctx, "mtasts-ctype.test", OPTIONS)
    assert result.status is Status.FAIL
    assert codes(result) == {"mta-sts.content-type": Status.FAIL}
    assert "text/plain" in result.findings[0].fix


async def test_policy_over_64_kb_is_unavailable(ctx: ResolverContext) -> None:
    result = await check_mta_sts(ctx, "mtasts-huge.test", OPTIONS)
    assert codes(result) == {"mta-sts.policy-unavailable": Status.FAIL}
    assert "64 KB" in result.findings[0].message


async def test_silent_policy_host_fails_after_the_timeout(lab: Lab) -> None:
    ctx = lab.resolver(timeout=1.5, retries=0)
    result = await check_mta_sts(ctx, "mtasts-silent.test", OPTIONS)
    assert codes(result) == {"mta-sts.policy-unavailable": Status.FAIL}
    assert "no complete response" in result.data["fetch_error"]


async def test_invalid_policy_file(ctx: ResolverContext) -> None:
    result = await check_mta_sts(ctx, "mtasts-syntax.test", OPTIONS)
    assert result.status is Status.FAIL
    assert "mta-sts.policy-syntax" in codes(result)
    message = result.findings[0].message
    for problem in ("STSv2", "enforcing", "max_age 99999999", "*.*.mtasts-syntax.test"):
        assert problem in message


async def test_short_max_age_warns(ctx: ResolverContext) -> None:
    result = await check_mta_sts(ctx, "mtasts-short.test", OPTIONS)
    assert result.status is Status.WARN
    assert codes(result) == {"mta-sts.short-max-age": Status.WARN}
    assert result.data["max_age"] == 3600
    assert "max_age: 604800" in result.findings[0].fix


async def test_two_records_mean_no_policy(ctx: ResolverContext) -> None:
    result = await check_mta_sts(ctx, "mtasts-multiple.test", OPTIONS)
    assert result.status is Status.FAIL
    assert "mta-sts.multiple" in codes(result)
    assert len(result.data["records"]) == 2  # the unrelated TXT is not a candidate
    assert result.data["record"] is None


async def test_invalid_id_is_a_syntax_failure(ctx: ResolverContext) -> None:
    result = await check_mta_sts(ctx, "mtasts-badtxt.test", OPTIONS)
    assert result.status is Status.FAIL
    assert "mta-sts.syntax" in codes(result)
    assert result.data["record"] == "v=STSv1; id=2026-11-01"
    assert result.data["id"] is None


async def test_dns_failure_is_an_error_not_missing(ctx: ResolverContext) -> None:
    result = await check_mta_sts(ctx, "servfail.test", OPTIONS)
    assert result.status is Status.ERROR
    assert codes(result) == {"mta-sts.dns-error": Status.ERROR}
    assert "SERVFAIL" in result.findings[0].message


# -- the parsers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "candidate"),
    [
        ("v=STSv1; id=1", True),
        ("v=STSv1;id=1", True),
        ("v=STSv1", True),
        ("v=STSv10; id=1", False),
        (" v=STSv1; id=1", False),
        ("id=1; v=STSv1", False),
        ("v=spf1 -all", False),
    ],
)
def test_record_candidates(text: str, candidate: bool) -> None:
    assert is_sts_record(text) is candidate


@pytest.mark.parametrize(
    ("text", "expected_id", "error"),
    [
        ("v=STSv1; id=20261101T000000", "20261101T000000", None),
        ("v=STSv1; id=abc;", "abc", None),
        ("v=STSv1; id=abc; ext_1=value", "abc", None),
        ("v=STSv1;", None, "`id=` field is missing"),
        ("v=STSv1; id=" + "a" * 33, None, "1 to 32"),
        ("v=STSv1; id=a-b", None, "1 to 32"),
        ("v=STSv1; id=a; id=b", None, "more than once"),
        ("v=STSv1;; id=a", "a", "empty field"),
        ("v=STSv1; id=a; junk", "a", "no `=`"),
    ],
)
def test_parse_record(text: str, expected_id: str | None, error: str | None) -> None:
    record = parse_record(text)
    assert record.id == expected_id
    if error is None:
        assert record.errors == []
    else:
        assert any(error in message for message in record.errors), record.errors


def test_parse_policy_accepts_lf_and_crlf_and_ignores_unknown_keys() -> None:
    for newline in ("\n", "\r\n"):
        text = newline.join(
            [
                "version: STSv1",
                "mode: enforce",
                "mx: MX1.Example.com.",
                "mx: *.example.net",
                "max_age:86400",
                "x-note: anything",
                "",
            ]
        )
        policy = parse_policy(text)
        assert policy.errors == []
        assert policy.mode == "enforce"
        assert policy.max_age == 86400
        assert policy.mx == ["mx1.example.com", "*.example.net"]
        assert policy.extensions == {"x-note": "anything"}


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("version: STSv1\nmode: enforce\nmax_age: 86400\n", "needs at least one `mx`"),
        ("version: STSv1\nmode: none\nmax_age: 86400\n", None),
        ("mode: enforce\nmx: a.example\nmax_age: 86400\n", "`version` key is missing"),
        (f"version: STSv1\nmode: none\nmax_age: {MAX_MAX_AGE + 1}\n", "over the maximum"),
        (f"version: STSv1\nmode: none\nmax_age: {MAX_MAX_AGE}\n", None),
        ("version: STSv1\nmode: none\nmax_age: -1\n", "number of seconds"),
        ("version: STSv1\nMode: none\nmax_age: 1\n", "case-sensitive"),
        ("version: STSv1\nmode: none\nmode: enforce\nmax_age: 1\n", "appears 2 times"),
        ("version: STSv1\nmode: enforce\nmx: mail.*.example\nmax_age: 1\n", "not a host name"),
    ],
)
def test_parse_policy_errors(text: str, error: str | None) -> None:
    policy = parse_policy(text)
    if error is None:
        assert policy.errors == []
    else:
        assert any(error in message for message in policy.errors), policy.errors


@pytest.mark.parametrize(
    ("pattern", "host", "matches"),
    [
        ("mx1.example.com", "mx1.example.com", True),
        ("mx1.example.com", "MX1.Example.COM.", True),
        ("*.example.com", "mx1.example.com", True),
        ("*.example.com", "example.com", False),
        ("*.example.com", "a.b.example.com", False),
        ("*.example.com", "mx1.example.org", False),
        ("mx1.example.com", "mx2.example.com", False),
    ],
)
def test_mx_patterns_cover_exactly_one_leftmost_label(
    pattern: str, host: str, matches: bool
) -> None:
    assert mx_matches(pattern, host) is matches


@given(st.text(max_size=300))
def test_record_parser_never_raises(text: str) -> None:
    record = parse_record(text)
    assert record.id is not None or record.errors


@given(st.text(max_size=600))
def test_policy_parser_never_raises(text: str) -> None:
    policy = parse_policy(text)
    assert policy.mode in (None, "enforce", "testing", "none")
    if policy.mode is None:
        assert policy.errors
