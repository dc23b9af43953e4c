"""The DMARC check over the wire, against the lab's DNS."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from console.auth.dmarc import (
    check_dmarc,
    discover_policy,
    is_aligned,
    organizational_domain,
)
from console.auth.options import AuditOptions
from console.auth.resolver import ResolverContext
from console.lab import DEMO_DOMAINS, Lab
from console.lab.runner import SERVFAIL_NAMES
from console.model import CheckResult, Finding, Status

OPTIONS = AuditOptions()


async def check(ctx: ResolverContext, domain: str) -> CheckResult:
    result = await check_dmarc(ctx, domain, OPTIONS)
    assert result.id == "dmarc"
    json.dumps(result.to_dict())  # the report must stay JSON
    return result


def only(result: CheckResult, code: str) -> Finding:
    found = [finding for finding in result.findings if finding.code == code]
    assert len(found) == 1, [f.code for f in result.findings]
    return found[0]


def codes(result: CheckResult) -> set[str]:
    return {finding.code for finding in result.findings}


# -- a domain that does everything right --------------------------------------------


async def test_good_domain_passes_and_its_wildcard_destination_is_authorised(ctx) -> None:
    result = await check(ctx, "good.test")
    assert result.status is Status.PASS
    data = result.data
    assert data["record"].startswith("v=DMARC1; p=reject; sp=reject;")
    assert (data["policy"], data["subdomain_policy"], data["np"]) == ("reject",) * 3
    assert (data["policy_domain"], data["org_domain"]) == ("good.test", "good.test")
    assert data["walk"] == ["_dmarc.good.test", "_dmarc.test"]
    assert data["rua"] == ["mailto:dmarc@good.test", "mailto:reports@dmarc-reports.test"]
    assert data["ruf"] == ["mailto:dmarc-forensics@good.test"]
    # Only the destination outside good.test's organisation needs (and has) authorisation.
    assert data["external_destinations"] == [
        {
            "tag": "rua",
            "uri": "mailto:reports@dmarc-reports.test",
            "destination": "dmarc-reports.test",
            "authorised": True,
            "query": "good.test._report._dmarc.dmarc-reports.test",
        }
    ]
    assert data["bulk_sender_minimum"] is True
    assert only(result, "dmarc.bulk-sender-minimum").severity is Status.PASS
    tags = {entry["tag"]: entry for entry in data["tags"]}
    assert list(tags)[:2] == ["v", "p"]
    assert "refuse" in tags["p"]["meaning"]
    assert "strict" in tags["adkim"]["meaning"]


async def test_discovery_is_reusable_by_other_checks(ctx) -> None:
    discovery = await discover_policy(ctx, "good.test")
    assert discovery.parsed is not None
    assert discovery.parsed.policy == "reject"
    assert discovery.applied_policy() == "reject"
    assert not discovery.inherited
    assert discovery.walk == ["_dmarc.good.test", "_dmarc.test"]


# -- missing, multiple and discarded records ----------------------------------------


async def test_no_record_anywhere_fails_with_the_record_to_publish(ctx) -> None:
    result = await check(ctx, "dmarc-missing.test")
    assert result.status is Status.FAIL
    missing = only(result, "dmarc.missing")
    assert missing.severity is Status.FAIL
    assert "Gmail, Yahoo and Microsoft" in missing.message
    assert (
        '_dmarc.dmarc-missing.test. 3600 IN TXT "v=DMARC1; p=none; '
        'rua=mailto:dmarc-reports@dmarc-missing.test"'
    ) in missing.fix
    assert only(result, "dmarc.bulk-sender-minimum").severity is Status.FAIL
    assert result.data["record"] is None
    assert result.data["policy"] is None
    assert result.data["walk"] == ["_dmarc.dmarc-missing.test", "_dmarc.test"]


async def test_several_records_at_one_name_leave_no_policy(ctx) -> None:
    result = await check(ctx, "dmarc-multi.test")
    assert result.status is Status.FAIL
    multiple = only(result, "dmarc.multiple-records")
    assert multiple.severity is Status.FAIL
    # The weakest record is kept (p=reject would start rejecting mail overnight); raising
    # the policy comes after, as a separate step.
    keep, _, later = multiple.fix.partition("Then, as a separate step")
    assert '"v=DMARC1; p=none; rua=mailto:dmarc@dmarc-multi.test"' in keep
    assert "p=reject" not in keep
    assert "weakest policy, p=none" in multiple.message
    assert '"v=DMARC1; p=quarantine; rua=mailto:dmarc@dmarc-multi.test"' in later
    assert '"v=DMARC1; p=reject; rua=mailto:dmarc@dmarc-multi.test"' in later
    assert result.data["policy"] is None
    assert len(result.data["records"]) == 2
    assert result.data["bulk_sender_minimum"] is False
    assert "dmarc.missing" not in codes(result)  # the records exist; they are discarded


@pytest.mark.parametrize(
    ("domain", "reason"),
    [
        ("vfirst.dmarc-bad.test", "not the first tag"),
        ("lower.dmarc-bad.test", "exactly DMARC1"),
        ("nosemi.dmarc-bad.test", "';' is missing"),
    ],
)
async def test_records_receivers_discard_are_syntax_failures(ctx, domain: str, reason: str) -> None:
    result = await check(ctx, domain)
    assert result.status is Status.FAIL
    syntax = only(result, "dmarc.syntax")
    assert syntax.severity is Status.FAIL
    assert reason in syntax.message
    # What was meant, repaired: p=reject kept, v=DMARC1 first.
    assert f'"v=DMARC1; p=reject; rua=mailto:dmarc@{domain}"' in syntax.fix
    assert result.data["policy"] is None
    assert result.data["record"] is not None  # the raw record is shown even when discarded
    assert result.data["bulk_sender_minimum"] is False


async def test_a_discarded_record_leaves_the_inherited_policy_in_force(ctx) -> None:
    result = await check(ctx, "badsyntax.dmarc-sub.test")
    assert only(result, "dmarc.syntax").severity is Status.FAIL
    assert (result.data["policy"], result.data["policy_domain"]) == ("quarantine", "dmarc-sub.test")
    assert result.data["bulk_sender_minimum"] is True


async def test_several_records_below_a_policy_fall_back_only_under_rfc_9989(ctx) -> None:
    result = await check(ctx, "two.dmarc-sub.test")
    multiple = only(result, "dmarc.multiple-records")
    assert "_dmarc.dmarc-sub.test" in multiple.message
    assert "RFC 7489 receivers apply no DMARC" in multiple.message
    assert (result.data["policy"], result.data["policy_domain"]) == ("quarantine", "dmarc-sub.test")
    bulk = only(result, "dmarc.bulk-sender-minimum")
    assert bulk.severity is Status.FAIL
    assert '_dmarc.two.dmarc-sub.test. 3600 IN TXT "v=DMARC1; p=none;' in bulk.fix
    assert "RFC 9989 receivers apply quarantine from that fallback today" in multiple.message


# -- invalid tag values --------------------------------------------------------------


async def test_misspelt_policy_with_rua_is_treated_as_none(ctx) -> None:
    result = await check(ctx, "badp.dmarc-bad.test")
    syntax = only(result, "dmarc.syntax")
    assert syntax.severity is Status.FAIL
    assert "p=rejcet" in syntax.message
    assert "(character 13)" in syntax.message
    assert '"v=DMARC1; p=reject; rua=mailto:dmarc@badp.dmarc-bad.test"' in syntax.fix
    assert result.data["policy"] == "none"
    assert result.data["bulk_sender_minimum"] is False


async def test_misspelt_policy_without_rua_means_no_dmarc(ctx) -> None:
    result = await check(ctx, "badp-norua.dmarc-bad.test")
    assert result.data["policy"] is None
    assert {"dmarc.syntax", "dmarc.no-rua"} <= codes(result)
    assert "dmarc.policy-none" not in codes(result)


async def test_record_without_p_fails(ctx) -> None:
    result = await check(ctx, "nop.dmarc-bad.test")
    assert only(result, "dmarc.syntax").severity is Status.FAIL
    assert result.data["bulk_sender_minimum"] is False


async def test_invalid_optional_values_warn_and_keep_the_policy(ctx) -> None:
    result = await check(ctx, "values.dmarc-bad.test")
    assert result.status is Status.WARN
    invalid = [f for f in result.findings if f.code == "dmarc.invalid-tag-value"]
    assert len(invalid) == 6  # adkim, aspf, fo, t, psd, and a rua without mailto:
    assert all(f.severity is Status.WARN for f in invalid)
    assert "did you mean adkim" in only(result, "dmarc.unknown-tag").message
    assert result.data["policy"] == "reject"
    assert result.data["bulk_sender_minimum"] is True


async def test_tags_removed_by_rfc_9989_are_flagged(ctx) -> None:
    result = await check(ctx, "dmarc-legacy.test")
    assert result.status is Status.WARN
    for code in ("dmarc.pct-removed", "dmarc.rf-removed", "dmarc.ri-removed"):
        assert only(result, code).severity is Status.WARN
    size = only(result, "dmarc.size-obsolete")
    assert size.fix.endswith(
        '"v=DMARC1; p=quarantine; rua=mailto:dmarc@dmarc-legacy.test,mailto:dmarc@dmarc-rcpt.test"'
    )
    assert "25%" in only(result, "dmarc.pct-removed").message
    assert result.data["policy"] == "quarantine"


# -- policy strength -----------------------------------------------------------------


async def test_test_mode_weakens_an_enforced_policy(ctx) -> None:
    result = await check(ctx, "dmarc-testmode.test")
    test_mode = only(result, "dmarc.test-mode")
    assert test_mode.severity is Status.WARN
    assert "quarantine instead of reject" in test_mode.message
    assert test_mode.fix.endswith('"v=DMARC1; p=reject"')
    assert only(result, "dmarc.no-rua").severity is Status.WARN
    assert result.data["test_mode"] is True


async def test_subdomains_left_at_none_are_flagged(ctx) -> None:
    result = await check(ctx, "dmarc-spnone.test")
    assert only(result, "dmarc.subdomain-policy-none").severity is Status.WARN
    assert (result.data["policy"], result.data["subdomain_policy"]) == ("reject", "none")


# -- external report destinations -----------------------------------------------------


async def test_unauthorised_destination_fails_with_the_record_it_must_publish(ctx) -> None:
    result = await check(ctx, "rua-unauth.test")
    assert result.status is Status.FAIL
    refused = only(result, "dmarc.unauthorised-rua")
    assert refused.severity is Status.FAIL  # it was the only rua: no reports at all
    assert (
        'rua-unauth.test._report._dmarc.reports.elsewhere.test. 3600 IN TXT "v=DMARC1"'
        in refused.fix
    )
    assert result.data["external_destinations"] == [
        {
            "tag": "rua",
            "uri": "mailto:dmarc@reports.elsewhere.test",
            "destination": "reports.elsewhere.test",
            "authorised": False,
            "query": "rua-unauth.test._report._dmarc.reports.elsewhere.test",
        }
    ]
    assert only(result, "dmarc.policy-none").severity is Status.WARN
    assert only(result, "dmarc.bulk-sender-minimum").severity is Status.PASS


async def test_one_unauthorised_destination_among_working_ones_warns(ctx) -> None:
    result = await check(ctx, "halfauth.dmarc-bad.test")
    assert result.status is Status.WARN
    assert only(result, "dmarc.unauthorised-rua").severity is Status.WARN
    assert only(result, "dmarc.unauthorised-ruf").severity is Status.WARN


async def test_a_named_authorisation_covers_only_that_domain(ctx) -> None:
    legacy = await check(ctx, "dmarc-legacy.test")
    (destination,) = legacy.data["external_destinations"]
    assert destination["authorised"] is True
    assert destination["query"] == "dmarc-legacy.test._report._dmarc.dmarc-rcpt.test"
    other = await check(ctx, "badauth.dmarc-bad.test")
    assert other.data["external_destinations"][0]["authorised"] is False


async def test_an_authorisation_record_must_start_with_v_dmarc1(ctx) -> None:
    result = await check(ctx, "wrongauth.dmarc-bad.test")
    refused = only(result, "dmarc.unauthorised-rua")
    assert "'reports welcome'" in refused.message


async def test_a_destination_that_cannot_be_asked_is_an_error_not_unauthorised(ctx) -> None:
    result = await check(ctx, "errdest.dmarc-bad.test")
    assert result.status is Status.ERROR
    error = only(result, "dmarc.dns-error")
    assert "SERVFAIL" in error.message
    assert "dmarc.unauthorised-rua" not in codes(result)
    (destination,) = result.data["external_destinations"]
    assert destination["authorised"] is None


# -- the tree walk --------------------------------------------------------------------


async def test_an_existing_subdomain_inherits_the_organizational_domains_sp(ctx) -> None:
    result = await check(ctx, "mail.dmarc-sub.test")
    assert result.status is Status.PASS
    assert only(result, "dmarc.inherited").severity is Status.PASS
    data = result.data
    assert (data["policy"], data["policy_domain"], data["org_domain"]) == (
        "quarantine",
        "dmarc-sub.test",
        "dmarc-sub.test",
    )
    assert data["inherited"] is True
    assert data["record"].startswith("v=DMARC1; p=reject; sp=quarantine")


async def test_psd_n_makes_a_subtree_its_own_organizational_domain(ctx) -> None:
    result = await check(ctx, "team.dept.dmarc-sub.test")
    data = result.data
    assert (data["policy"], data["policy_domain"], data["org_domain"]) == (
        "none",
        "dept.dmarc-sub.test",
        "dept.dmarc-sub.test",
    )
    # psd=n stops the walk: the apex is never asked.
    assert data["walk"] == ["_dmarc.team.dept.dmarc-sub.test", "_dmarc.dept.dmarc-sub.test"]


async def test_sp_below_the_organizational_domain_is_ignored(ctx) -> None:
    result = await check(ctx, "news.dmarc-sub.test")
    ignored = only(result, "dmarc.sp-ignored")
    assert ignored.severity is Status.WARN
    assert "psd=n" in ignored.fix
    assert result.data["org_domain"] == "dmarc-sub.test"
    # Its subdomains get the apex's sp=quarantine, not this record's sp=none.
    assert result.data["subdomain_policy"] == "quarantine"


async def test_a_public_suffix_operators_policy_applies_below_it(ctx) -> None:
    result = await check(ctx, "orphan.dmarc-psd.test")
    psd = only(result, "dmarc.psd-policy")
    assert psd.severity is Status.WARN
    assert "_dmarc.orphan.dmarc-psd.test. 3600 IN TXT" in psd.fix
    data = result.data
    assert data["org_domain"] == "orphan.dmarc-psd.test"  # one label below the PSD
    assert data["psd_domain"] == data["policy_domain"] == "dmarc-psd.test"
    assert (data["policy"], data["np"]) == ("quarantine", "reject")
    assert data["bulk_sender_minimum"] is False
    assert data["walk"] == ["_dmarc.orphan.dmarc-psd.test", "_dmarc.dmarc-psd.test"]


async def test_organizational_domain_is_one_label_below_the_psd(ctx) -> None:
    result = await check(ctx, "deep.member.dmarc-psd.test")
    assert result.data["org_domain"] == "member.dmarc-psd.test"
    assert result.data["policy_domain"] == "member.dmarc-psd.test"
    assert await organizational_domain(ctx, "member.dmarc-psd.test") == "member.dmarc-psd.test"
    assert await organizational_domain(ctx, "dmarc-psd.test") == "dmarc-psd.test"


async def test_a_long_name_skips_to_seven_labels_in_eight_queries(lab: Lab) -> None:
    ctx = lab.resolver()
    discovery = await discover_policy(ctx, "a.b.c.d.e.f.g.dmarc-deep.test")
    assert discovery.walk == [
        "_dmarc.a.b.c.d.e.f.g.dmarc-deep.test",
        "_dmarc.c.d.e.f.g.dmarc-deep.test",
        "_dmarc.d.e.f.g.dmarc-deep.test",
        "_dmarc.e.f.g.dmarc-deep.test",
        "_dmarc.f.g.dmarc-deep.test",
        "_dmarc.g.dmarc-deep.test",
        "_dmarc.dmarc-deep.test",
        "_dmarc.test",
    ]
    assert ctx.stats.queries == 8
    # The psd=n record at b.c.d.e.f.g (eight labels) is never seen from nine labels down.
    assert discovery.policy_domain == discovery.org_domain == "dmarc-deep.test"
    result = await check(ctx, "a.b.c.d.e.f.g.dmarc-deep.test")
    assert only(result, "dmarc.long-name").severity is Status.WARN
    assert await organizational_domain(ctx, "b.c.d.e.f.g.dmarc-deep.test") == (
        "b.c.d.e.f.g.dmarc-deep.test"
    )


async def test_alignment_follows_the_organizational_domains(ctx) -> None:
    assert await is_aligned(ctx, "mail.dmarc-sub.test", "dmarc-sub.test", "r") is True
    assert await is_aligned(ctx, "mail.dmarc-sub.test", "dmarc-sub.test", "s") is False
    assert await is_aligned(ctx, "team.dept.dmarc-sub.test", "dmarc-sub.test", "r") is False
    assert await is_aligned(ctx, "orphan.dmarc-psd.test", "member.dmarc-psd.test") is False
    assert await is_aligned(ctx, "deep.member.dmarc-psd.test", "member.dmarc-psd.test") is True
    assert await is_aligned(ctx, "x.servfail.test", "servfail.test") is None


# -- DNS trouble is never "missing" --------------------------------------------------


async def test_servfail_is_an_error_not_a_missing_record(ctx) -> None:
    result = await check(ctx, "servfail.test")
    assert result.status is Status.ERROR
    error = only(result, "dmarc.dns-error")
    assert "SERVFAIL" in error.message
    assert "dmarc.missing" not in codes(result)
    assert "dmarc.bulk-sender-minimum" not in codes(result)
    assert result.data["bulk_sender_minimum"] is None


async def test_timeout_is_an_error_not_a_missing_record(lab: Lab) -> None:
    result = await check(lab.resolver(timeout=0.5, retries=0), "silent.test")
    assert result.status is Status.ERROR
    assert "no answer" in only(result, "dmarc.dns-error").message
    assert "dmarc.missing" not in codes(result)


@pytest.fixture(scope="module")
def failing_parent_lab() -> Iterator[Lab]:
    """A lab whose `_dmarc.dmarc-sub.test` SERVFAILs while the names below it answer;
    every answer is delayed so that asking the walk's questions one by one would show."""
    with Lab(servfail=(*SERVFAIL_NAMES, "_dmarc.dmarc-sub.test"), dns_delay=0.25) as running:
        yield running


async def test_a_failure_above_an_own_record_keeps_the_policy(failing_parent_lab: Lab) -> None:
    result = await check(failing_parent_lab.resolver(), "news.dmarc-sub.test")
    assert result.status is Status.ERROR
    errors = [f.message for f in result.findings if f.code == "dmarc.dns-error"]
    assert any("Organizational Domain" in message for message in errors)
    assert (result.data["policy"], result.data["org_domain"]) == ("quarantine", None)
    assert "dmarc.missing" not in codes(result)


async def test_a_failure_above_no_own_record_leaves_the_policy_unknown(
    failing_parent_lab: Lab,
) -> None:
    result = await check(failing_parent_lab.resolver(), "mail.dmarc-sub.test")
    assert result.status is Status.ERROR
    assert result.data["policy"] is None
    assert "dmarc.missing" not in codes(result)


async def test_the_walk_asks_its_questions_at_once(failing_parent_lab: Lab) -> None:
    ctx = failing_parent_lab.resolver()
    started = time.monotonic()
    discovery = await discover_policy(ctx, "a.b.c.d.e.f.g.dmarc-deep.test")
    elapsed = time.monotonic() - started
    assert len(discovery.walk) == 8
    assert elapsed < 4 * 0.25  # one by one it would take 8 x 0.25 s


# -- robustness ----------------------------------------------------------------------


async def test_not_a_domain_is_an_error(ctx) -> None:
    result = await check(ctx, "not a domain")
    assert result.status is Status.ERROR
    assert only(result, "dmarc.invalid-domain")


@pytest.mark.parametrize("domain", DEMO_DOMAINS)
async def test_every_demo_domain_gets_a_complete_result(ctx, domain: str) -> None:
    result = await check(ctx, domain)
    assert result.status in (Status.PASS, Status.WARN, Status.FAIL)
    assert result.summary
    assert all(f.code.startswith("dmarc.") for f in result.findings)
    assert any(f.code == "dmarc.bulk-sender-minimum" for f in result.findings)
    for finding in result.findings:
        if finding.severity in (Status.WARN, Status.FAIL):
            assert finding.fix, finding.code


# -- parked (null MX) domains ------------------------------------------------------------


async def test_parked_domain_needs_no_reports_and_gets_no_address_at_itself(ctx) -> None:
    result = await check(ctx, "nullmx.test")
    assert result.status is Status.PASS
    no_rua = only(result, "dmarc.no-rua")
    assert no_rua.severity is Status.PASS
    assert "null MX" in no_rua.message
    # A report address at a domain that accepts no mail would only bounce.
    assert not any("@nullmx.test" in f.fix for f in result.findings)


async def test_parked_domain_without_dmarc_is_told_p_reject(ctx) -> None:
    result = await check(ctx, "dmarc-parked.test")
    missing = only(result, "dmarc.missing")
    assert '_dmarc.dmarc-parked.test. 3600 IN TXT "v=DMARC1; p=reject"' in missing.fix
    assert "p=none" not in missing.fix
    assert "M3AAWG" in missing.fix
    bulk = only(result, "dmarc.bulk-sender-minimum")
    assert '"v=DMARC1; p=reject"' in bulk.fix
    assert not any("@dmarc-parked.test" in f.fix for f in result.findings)


async def test_parked_domain_at_p_none_is_told_to_reject_now(ctx) -> None:
    result = await check(ctx, "dmarc-parkednone.test")
    none = only(result, "dmarc.policy-none")
    assert '_dmarc.dmarc-parkednone.test. 3600 IN TXT "v=DMARC1; p=reject"' in none.fix
    assert "quarantine" not in none.fix
    assert only(result, "dmarc.no-rua").severity is Status.PASS
    assert not any("@dmarc-parkednone.test" in f.fix for f in result.findings)


async def test_a_domain_that_receives_mail_still_gets_the_p_none_start(ctx) -> None:
    result = await check(ctx, "dmarc-missing.test")
    assert (
        "p=none; rua=mailto:dmarc-reports@dmarc-missing.test" in only(result, "dmarc.missing").fix
    )
