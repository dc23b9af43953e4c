"""The `spf` check over the wire: record discovery, the include tree, limits and findings.

Demo domains (good.test, spf-lookups.test, spf-dup.test, plusall.test, huge-txt.test) and
one name per mistake under spf-audit.test.
"""

from __future__ import annotations

import ipaddress
import json
import re
import time
from typing import Any

import pytest

from console.auth.options import AuditOptions
from console.auth.resolver import ResolverContext
from console.auth.spf import check_spf, parse_record
from console.lab import Lab
from console.model import CheckResult, Status

AUDIT = "spf-audit.test"
DATA_KEYS = {"record", "lookups", "void_lookups", "tree", "void_terms", "networks", "providers"}


async def audit(ctx: ResolverContext, domain: str, **options: Any) -> CheckResult:
    result = await check_spf(ctx, domain, AuditOptions(**options))
    assert result.id == "spf"
    assert set(result.data) >= DATA_KEYS
    json.dumps(result.to_dict())  # the data must be JSON-ready
    return result


def codes(result: CheckResult) -> list[str]:
    return [finding.code for finding in result.findings]


def finding(result: CheckResult, code: str):
    matches = [f for f in result.findings if f.code == code]
    assert matches, f"{code} not in {codes(result)}"
    return matches[0]


def published(fix: str) -> list[tuple[str, str]]:
    """(owner, record text) for each zone-file line in a fix."""
    found = []
    for owner, strings in re.findall(r"^(\S+)\. \d+ IN TXT ((?:\"[^\"]*\" ?)+)", fix, re.M):
        found.append((owner, "".join(re.findall(r"\"([^\"]*)\"", strings))))
    return found


# -- demo domains ------------------------------------------------------------------------


async def test_good_domain_passes_with_its_tree(ctx: ResolverContext) -> None:
    result = await audit(ctx, "good.test")
    assert result.status is Status.PASS, result.findings
    data = result.data
    assert data["record"] == "v=spf1 mx include:_spf.google.com ip4:192.0.2.10 -all"
    assert (data["lookups"], data["void_lookups"], data["void_terms"]) == (5, 0, [])
    assert data["providers"] == ["Google Workspace"]
    tree = data["tree"]
    assert (tree["domain"], tree["lookups"], tree["total"], tree["owner"]) == (
        "good.test",
        2,
        5,
        "domain",
    )
    (google,) = tree["children"]
    assert google["via"] == "include:_spf.google.com"
    assert (google["lookups"], google["total"], google["provider"], google["owner"]) == (
        3,
        3,
        "Google Workspace",
        "provider",
    )
    assert [c["domain"] for c in google["children"]] == [
        "_netblocks.google.com",
        "_netblocks2.google.com",
        "_netblocks3.google.com",
    ]
    networks = {ipaddress.ip_network(n) for n in data["networks"]}
    for expected in ("127.0.1.1/32", "127.0.1.2/32", "::1/128", "192.0.2.10/32"):
        assert ipaddress.ip_network(expected) in networks
    # Google's two /25s are merged into one /24
    assert ipaddress.ip_network("198.51.100.0/24") in networks


async def test_over_ten_lookups_fails_with_a_flattened_fix(ctx: ResolverContext) -> None:
    result = await audit(ctx, "spf-lookups.test")
    assert result.status is Status.FAIL
    assert result.data["lookups"] == 14
    assert result.data["providers"] == [
        "Google Workspace",
        "Microsoft 365",
        "SendGrid",
        "Amazon SES",
        "Mailgun",
        "Mailchimp",
    ]
    tree = result.data["tree"]
    assert (tree["lookups"], tree["total"]) == (8, 14)
    outlook = tree["children"][1]
    assert outlook["provider"] == "Microsoft 365"
    assert [c["provider"] for c in outlook["children"]] == ["Microsoft 365"] * 2
    too_many = finding(result, "spf.too-many-lookups")
    assert "14 DNS look-ups" in too_many.message
    ((owner, text),) = published(too_many.fix)
    assert owner == "spf-lookups.test"
    flat = parse_record(text)
    assert flat.valid
    assert flat.lookups == 0
    assert text.endswith(" -all")
    covered = [m.network() for m in flat.mechanisms if m.network() is not None]
    for address in ("127.0.1.10", "203.0.113.70", "2001:db8:a0::1", "203.0.113.230"):
        ip = ipaddress.ip_address(address)
        assert any(ip in network for network in covered), address
    # the apex has no A record: that "a" is a void look-up
    assert result.data["void_terms"] == [{"term": "a", "domain": "spf-lookups.test"}]


async def test_duplicate_records(ctx: ResolverContext) -> None:
    result = await audit(ctx, "spf-dup.test")
    assert result.status is Status.FAIL
    assert codes(result) == ["spf.multiple-records"]
    assert result.data["records"] == ["v=spf1 include:sendgrid.net ~all", "v=spf1 mx -all"]
    assert result.data["record"] == result.data["records"][0]
    multiple = finding(result, "spf.multiple-records")
    ((_, merged),) = published(multiple.fix)
    assert merged == "v=spf1 include:sendgrid.net mx ~all"
    assert "ends in ~all" in multiple.message  # the choice is explained
    assert "needs 2 DNS look-up(s)" in multiple.message
    assert result.data["merged_lookups"] == 2


@pytest.mark.parametrize(
    ("name", "ending"),
    [
        # Alphabetically first is "v=spf1 a -all": the old merge took its -all.
        ("order", "~all"),
        ("strict", "-all"),
        ("open", "~all"),  # +all is never carried over
    ],
)
async def test_merged_record_ends_deliberately(
    ctx: ResolverContext, name: str, ending: str
) -> None:
    result = await audit(ctx, f"{name}.spf-merge.test")
    multiple = finding(result, "spf.multiple-records")
    ((owner, merged),) = published(multiple.fix)
    assert owner == f"{name}.spf-merge.test"
    record = parse_record(merged)
    assert record.valid
    assert record.all is not None
    assert record.all.text == ending
    assert [m.text for m in record.mechanisms].count(ending) == 1
    assert "+all" not in merged


async def test_merged_record_over_ten_lookups_is_warned_about(ctx: ResolverContext) -> None:
    result = await audit(ctx, "heavy.spf-merge.test")
    multiple = finding(result, "spf.multiple-records")
    ((_, merged),) = published(multiple.fix)
    # own terms (a, mx, six includes) plus what the includes cost below them
    assert parse_record(merged).lookups == 8
    assert result.data["merged_lookups"] == 14
    assert "Warning: this merged record needs 14 DNS look-ups" in multiple.fix
    assert "include:_spf.google.com costs 4" in multiple.fix
    small = await audit(ctx, "order.spf-merge.test")
    assert "Warning" not in finding(small, "spf.multiple-records").fix


async def test_plus_all(ctx: ResolverContext) -> None:
    result = await audit(ctx, "plusall.test")
    plus = finding(result, "spf.plus-all")
    assert plus.severity is Status.FAIL
    assert published(plus.fix) == [("plusall.test", "v=spf1 mx ~all")]


async def test_huge_record_is_reported_not_choked_on(ctx: ResolverContext) -> None:
    started = time.monotonic()
    result = await audit(ctx, "huge-txt.test")
    assert time.monotonic() - started < ctx.timeout
    assert len(result.data["record"]) > 60_000
    too_large = finding(result, "spf.too-large")
    assert too_large.severity is Status.FAIL
    ((_, text),) = published(too_large.fix)
    assert len(text) < 450
    assert parse_record(text).valid


# -- finding the record ------------------------------------------------------------------


async def test_missing_record(ctx: ResolverContext) -> None:
    result = await audit(ctx, "elsewhere.test")
    assert result.status is Status.FAIL
    assert codes(result) == ["spf.missing"]
    assert result.data["record"] is None
    assert published(result.findings[0].fix)[0][1].startswith("v=spf1 ")


@pytest.mark.parametrize(
    ("name", "raw"),
    [("version", "v=spf10 ip4:192.0.2.1 -all"), ("leading-space", " v=spf1 ip4:192.0.2.1 -all")],
)
async def test_near_miss_is_not_a_record(ctx: ResolverContext, name: str, raw: str) -> None:
    result = await audit(ctx, f"{name}.{AUDIT}")
    missing = finding(result, "spf.missing")
    assert "looks like SPF but is not one" in missing.message
    assert result.data["record"] == raw  # the raw text, even though invalid
    assert published(missing.fix) == [(f"{name}.{AUDIT}", "v=spf1 ip4:192.0.2.1 -all")]


@pytest.mark.parametrize("domain", ["silent.test", "servfail.test"])
async def test_dns_failure_is_an_error_not_missing(lab: Lab, domain: str) -> None:
    ctx = lab.resolver(timeout=0.5, retries=0)
    started = time.monotonic()
    result = await audit(ctx, domain)
    assert time.monotonic() - started < 5  # bounded (a loaded machine may be slow)
    assert result.status is Status.ERROR
    assert codes(result) == ["spf.dns-error"]
    assert domain in result.findings[0].message


async def test_obsolete_spf_rr_type(ctx: ResolverContext) -> None:
    result = await audit(ctx, f"rrtype.{AUDIT}")
    rr = finding(result, "spf.spf-rrtype")
    assert rr.severity is Status.WARN
    assert "differs" in rr.message
    assert "IN SPF" in rr.fix


# -- syntax and the TXT strings ----------------------------------------------------------


async def test_syntax_errors_are_each_a_finding(ctx: ResolverContext) -> None:
    result = await audit(ctx, f"syntax.{AUDIT}")
    assert result.status is Status.FAIL
    syntax = [f for f in result.findings if f.code == "spf.syntax"]
    assert len(syntax) == 4
    assert "'ip4:192.0.2.300' at offset 7" in syntax[0].message
    assert "'a:192.0.2.1' at offset 23" in syntax[1].message
    assert [e["position"] for e in result.data["errors"]] == [7, 23, 35, 44]
    assert result.data["record"].startswith("v=spf1 ip4:192.0.2.300")
    # a well-known mistake gets the corrected record as its fix
    assert published(syntax[1].fix) or "publish the record without" in syntax[1].fix


async def test_strings_glued_without_a_space(ctx: ResolverContext) -> None:
    result = await audit(ctx, f"glued.{AUDIT}")
    assert codes(result) == ["spf.joined-strings"]  # not reported twice as syntax
    glued = result.findings[0]
    assert glued.severity is Status.FAIL
    assert published(glued.fix) == [
        (f"glued.{AUDIT}", "v=spf1 ip4:192.0.2.1 include:_spf.google.com -all")
    ]
    version = await audit(ctx, f"glued-version.{AUDIT}")
    assert codes(version) == ["spf.joined-strings"]
    assert published(version.findings[0].fix)[0][1] == "v=spf1 ip4:192.0.2.1 -all"


async def test_a_split_inside_a_term_is_fine(ctx: ResolverContext) -> None:
    result = await audit(ctx, f"split-ok.{AUDIT}")
    assert result.status is Status.PASS
    assert result.data["providers"] == ["Google Workspace"]


async def test_long_record_near_the_udp_limit(ctx: ResolverContext) -> None:
    result = await audit(ctx, f"long.{AUDIT}")
    near = finding(result, "spf.near-udp-limit")
    assert near.severity is Status.WARN
    assert "492 octets" in near.message
    parts = published(near.fix)
    assert parts[0][0] == f"long.{AUDIT}"
    assert all(len(text) <= 450 and parse_record(text).valid for _, text in parts)


async def test_string_cut_at_255(ctx: ResolverContext) -> None:
    result = await audit(ctx, f"truncated.{AUDIT}")
    assert {"spf.truncated", "spf.syntax"} <= set(codes(result))


# -- the tree ----------------------------------------------------------------------------


async def test_include_loop(ctx: ResolverContext) -> None:
    result = await audit(ctx, f"loop.{AUDIT}")
    loop = finding(result, "spf.loop")
    assert loop.severity is Status.FAIL
    assert f"loop-b.{AUDIT}" in loop.message
    inner = result.data["tree"]["children"][0]["children"][0]["children"][0]
    assert inner["domain"] == f"loop-a.{AUDIT}"
    assert inner["error"].startswith("loop")


async def test_thirty_deep_chain_stops_early_and_counts(ctx: ResolverContext) -> None:
    result = await audit(ctx, f"deep.{AUDIT}")
    assert result.data["truncated"] is True
    assert result.data["lookups"] > 10
    assert "at least" in finding(result, "spf.too-many-lookups").message
    assert ctx.stats.queries <= 14  # not thirty TXT look-ups


async def test_wide_fan_out_is_bounded(ctx: ResolverContext) -> None:
    result = await audit(ctx, f"fan.{AUDIT}")
    assert result.data["truncated"] is True
    assert "spf.too-many-lookups" in codes(result)
    assert ctx.stats.queries < 120


async def test_void_lookups(ctx: ResolverContext) -> None:
    result = await audit(ctx, f"void.{AUDIT}")
    assert result.data["void_lookups"] == 3
    assert result.data["void_terms"] == [
        {"term": f"a:nx1.{AUDIT}", "domain": f"void.{AUDIT}"},
        {"term": f"mx:nx2.{AUDIT}", "domain": f"void.{AUDIT}"},
        {"term": f"exists:nx3.{AUDIT}", "domain": f"void.{AUDIT}"},
    ]
    void = finding(result, "spf.too-many-void-lookups")
    assert published(void.fix) == [(f"void.{AUDIT}", "v=spf1 ip4:192.0.2.1 -all")]


async def test_include_without_spf(ctx: ResolverContext) -> None:
    result = await audit(ctx, f"incl-missing.{AUDIT}")
    missing = [f for f in result.findings if f.code == "spf.include-missing"]
    assert len(missing) == 2
    assert "nothing." in missing[0].message
    assert "nospf." in missing[1].message
    assert [c["error"] for c in result.data["tree"]["children"]] == [
        "no SPF record (the name does not exist)",
        "no SPF record",
    ]


@pytest.mark.parametrize("name", ["incl-servfail", "incl-silent"])
async def test_include_that_cannot_be_read_is_an_error(lab: Lab, name: str) -> None:
    ctx = lab.resolver(timeout=0.5, retries=0)
    result = await audit(ctx, f"{name}.{AUDIT}")
    assert result.status is Status.ERROR
    assert codes(result) == ["spf.dns-error"]


async def test_include_with_two_records_or_plus_all(ctx: ResolverContext) -> None:
    multi = await audit(ctx, f"incl-multi.{AUDIT}")
    assert "spf.multiple-records" in codes(multi)
    opened = await audit(ctx, f"incl-open.{AUDIT}")
    assert "spf.plus-all" in codes(opened)


async def test_redirect_is_followed_and_its_all_counts(ctx: ResolverContext) -> None:
    result = await audit(ctx, f"redirect.{AUDIT}")
    assert result.status is Status.PASS
    assert result.data["all"] == "-all"
    (child,) = result.data["tree"]["children"]
    assert (child["kind"], child["via"]) == ("redirect", f"redirect=_spf.{AUDIT}")
    assert result.data["lookups"] == 2  # redirect + a:host
    assert "192.0.2.5/32" in result.data["networks"]
    assert "2001:db8::5/128" in result.data["networks"]


async def test_redirect_findings(ctx: ResolverContext) -> None:
    ignored = await audit(ctx, f"redirect-all.{AUDIT}")
    assert codes(ignored) == ["spf.redirect-ignored"]
    assert ignored.data["tree"]["children"] == []
    missing = await audit(ctx, f"redirect-missing.{AUDIT}")
    assert codes(missing) == ["spf.redirect-missing"]


@pytest.mark.parametrize(
    ("name", "code", "severity"),
    [
        ("neutral", "spf.neutral-all", Status.WARN),
        ("noall", "spf.no-all", Status.WARN),
        ("ptr", "spf.ptr", Status.WARN),
        ("after-all", "spf.after-all", Status.WARN),
        ("ignored-mod", "spf.ignored-modifier", Status.WARN),
        ("mxmany", "spf.mx-too-many", Status.FAIL),
    ],
)
async def test_one_mistake_one_finding(
    ctx: ResolverContext, name: str, code: str, severity: Status
) -> None:
    result = await audit(ctx, f"{name}.{AUDIT}")
    assert codes(result) == [code]
    assert result.findings[0].severity is severity
    assert result.status is severity
    assert result.findings[0].fix


async def test_fixes_are_records_that_parse(ctx: ResolverContext) -> None:
    for name in ("neutral", "noall", "after-all", "ignored-mod", "redirect-all"):
        result = await audit(ctx, f"{name}.{AUDIT}")
        ((owner, text),) = published(result.findings[0].fix)
        assert owner == f"{name}.{AUDIT}"
        fixed = parse_record(text)
        assert fixed.valid, text
    assert published(finding(await audit(ctx, f"noall.{AUDIT}"), "spf.no-all").fix)[0][1] == (
        "v=spf1 ip4:192.0.2.1 ~all"
    )


async def test_terms_that_depend_on_the_message_are_kept(ctx: ResolverContext) -> None:
    result = await audit(ctx, f"macro.{AUDIT}")
    assert result.status is Status.PASS
    (child,) = result.data["tree"]["children"]
    assert child["domain"] == f"_i.macro.{AUDIT}"  # %{d} expanded; %{i} left alone
    assert result.data["lookups"] == 2


async def test_flattening_keeps_what_addresses_cannot_say(ctx: ResolverContext) -> None:
    result = await audit(ctx, f"heavy.{AUDIT}")
    assert result.data["lookups"] == 13
    ((_, text),) = published(finding(result, "spf.too-many-lookups").fix)
    flat = parse_record(text)
    assert flat.valid
    assert flat.lookups == 0
    assert flat.terms[0].text == "-ip4:192.0.2.250"  # still before any pass term
    assert text.endswith(" ~all")


async def test_sending_ips_are_evaluated(ctx: ResolverContext) -> None:
    result = await audit(ctx, "good.test", ips=("192.0.2.10", "192.0.2.20"))
    assert result.data["ips"]["192.0.2.10"]["result"] == "pass"
    assert result.data["ips"]["192.0.2.20"]["result"] == "fail"
    assert codes(result) == ["spf.ip-not-authorized"]
    assert "192.0.2.20" in result.findings[0].message
    # A sender the admin named that fails SPF is a failure, not a hint.
    assert result.findings[0].severity is Status.FAIL
    assert result.status is Status.FAIL


@pytest.mark.parametrize(
    ("domain", "ip", "verdict", "severity"),
    [
        ("neutral.spf-audit.test", "192.0.2.200", "neutral", Status.WARN),
        ("spf-dup.test", "192.0.2.1", "permerror", Status.FAIL),
        ("spf-audit.test", "192.0.2.200", "fail", Status.FAIL),
    ],
)
async def test_named_sender_severity_follows_its_spf_result(
    ctx: ResolverContext, domain: str, ip: str, verdict: str, severity: Status
) -> None:
    result = await audit(ctx, domain, ips=(ip,))
    assert result.data["ips"][ip]["result"] == verdict
    assert finding(result, "spf.ip-not-authorized").severity is severity


async def test_ptr_fix_keeps_the_hosts_ptr_matches_today(ctx: ResolverContext) -> None:
    result = await audit(ctx, "spf-ptr.test")
    ptr = finding(result, "spf.ptr")
    ((owner, text),) = published(ptr.fix)
    assert owner == "spf-ptr.test"
    fixed = parse_record(text)
    assert fixed.valid
    assert "ptr" not in text
    terms = [m.text for m in fixed.mechanisms]
    # good.test's MX hosts have forward-confirmed PTRs under good.test: ptr matches them.
    assert terms[:2] == ["ip4:127.0.1.1", "ip4:127.0.1.2"]
    assert terms[-2:] == ["ip4:192.0.2.1", "-all"]
    # good.test's own 127.0.0.1 reverses to localhost: ptr:good.test does not match it.
    assert "ip4:127.0.0.1" not in terms
    assert "also matches any other host" in ptr.message


async def test_ptr_without_determinable_hosts_offers_no_record(ctx: ResolverContext) -> None:
    result = await audit(ctx, f"ptr.{AUDIT}")
    ptr = finding(result, "spf.ptr")
    assert published(ptr.fix) == []  # dropping ptr blindly could break a real sender
    assert "cannot be determined" in ptr.message


async def test_the_tree_is_walked_concurrently(ctx: ResolverContext) -> None:
    await audit(ctx, "spf-lookups.test")
    # Fourteen look-ups, but the longest chain of dependent questions is three deep:
    # TXT -> include TXT -> nested include TXT (or MX -> host address).
    assert ctx.stats.max_depth == 3


async def test_an_mx_over_the_limit_keeps_the_ten_most_preferred_on_every_run(
    lab: Lab,
) -> None:
    # The server shuffles the 11 MX records on every answer: the networks must not follow.
    seen = set()
    for _ in range(8):
        ctx = lab.resolver(timeout=2.0)
        try:
            result = await audit(ctx, f"mxmany.{AUDIT}")
        finally:
            ctx.close()
        seen.add(tuple(result.data["networks"]))
    # host.spf-audit.test (preference 10) has the addresses; m10 (20) is the one left out.
    assert seen == {("192.0.2.5/32", "2001:db8::5/128")}
