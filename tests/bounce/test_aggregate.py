"""DMARC aggregate reports: both schemas, alignment, explanations, summary, reverse DNS.

Fixtures in tests/bounce/rua/ are written in the style of the three big reporters
(Google's RFC 7489 reports, Yahoo's, and an RFC 9990 namespaced one in Outlook.com's
style) about example.test, with documentation addresses whose PTRs the lab serves
(console/lab/zones/25.100.51.198.in-addr.arpa.zone and its two siblings).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from console.bounce.aggregate import (
    NS_DMARC2,
    SCHEMA_7489,
    SCHEMA_9990,
    AggregateReport,
    DkimAuth,
    PolicyPublished,
    Record,
    ReportError,
    SpfAuth,
    analyse,
    explain,
    iso,
    load_reports,
    mark_duplicates,
    org_domain_lookup,
    parse_report,
    render_xml,
    reverse_names,
    simple_org_domain,
    summarise,
    walk_org_domains,
)
from console.bounce.aggregate_input import Problem

RUA = Path(__file__).parent / "rua"
GOOGLE = RUA / "google.com!example.test!1764115200!1764201599.xml"
YAHOO = RUA / "yahoo-example.test-1764201600.xml"
OUTLOOK = RUA / "outlook.com-example.test-rfc9990.xml"


def _policy(**tags: str) -> PolicyPublished:
    return PolicyPublished(domain="example.test", p="reject", **tags)


def _row(
    header_from: str = "example.test",
    dkim: tuple[DkimAuth, ...] = (),
    spf: tuple[SpfAuth, ...] = (),
    evaluated: tuple[str | None, str | None] = (None, None),
) -> Record:
    return Record(
        source_ip="192.0.2.10",
        count=5,
        header_from=header_from,
        dkim=evaluated[0],
        spf=evaluated[1],
        dkim_results=dkim,
        spf_results=spf,
    )


# -- parsing ----------------------------------------------------------------------------


def test_google_style_rfc7489_report_is_read_field_by_field() -> None:
    report = parse_report(GOOGLE.read_bytes())
    assert report.schema == SCHEMA_7489
    assert report.namespace is None
    assert report.org_name == "google.com"
    assert report.email == "noreply-dmarc-support@google.com"
    assert report.report_id == "9120338845517215461"
    assert (report.begin, report.end) == (1764115200, 1764201599)
    assert iso(report.begin) == "2025-11-26T00:00:00Z"
    policy = report.policy
    assert (policy.domain, policy.p, policy.sp, policy.adkim, policy.aspf, policy.pct) == (
        "example.test",
        "reject",
        "reject",
        "r",
        "r",
        100,
    )
    assert policy.np is None
    assert policy.testing is None
    assert len(report.records) == 4
    assert report.total == 1200 + 340 + 52 + 7
    esp = report.records[1]
    assert esp.source_ip == "198.51.100.25"
    assert esp.header_from == "news.example.test"
    assert (esp.disposition, esp.dkim, esp.spf) == ("none", "pass", "fail")
    assert [(d.domain, d.selector, d.result) for d in esp.dkim_results] == [
        ("example.test", "esp1", "pass"),
        ("esp.test", "s1", "pass"),
    ]
    assert [(s.domain, s.scope, s.result) for s in esp.spf_results] == [
        ("bounce.esp.test", None, "pass")
    ]


def test_rfc9990_namespaced_report_reads_its_new_elements() -> None:
    report = parse_report(OUTLOOK.read_bytes())
    assert report.schema == SCHEMA_9990
    assert report.namespace == NS_DMARC2
    assert report.version == "1.0"
    assert report.generator == "Outlook DMARC reporter 2.1"
    policy = report.policy
    assert (policy.np, policy.testing, policy.discovery_method, policy.adkim) == (
        "reject",
        "n",
        "treewalk",
        "s",
    )
    assert policy.pct is None  # removed by RFC 9989
    first = report.records[0]
    assert first.source_ip == "2001:db8:25::10"
    assert first.disposition == "pass"  # RFC 9990's extra disposition value
    assert (first.envelope_to, first.envelope_from) == ("outlook.com", "example.test")
    assert first.spf_results[0].scope == "mfrom"
    assert first.dkim_results[0].selector == "mail2026"


def test_rfc9990_elements_without_namespace_still_count_as_the_new_schema() -> None:
    text = OUTLOOK.read_text().replace(f' xmlns="{NS_DMARC2}"', "")
    report = parse_report(text.encode())
    assert report.namespace is None
    assert report.schema == SCHEMA_9990
    assert report.policy.np == "reject"


def test_override_reasons_and_comments_are_kept() -> None:
    report = parse_report(YAHOO.read_bytes())
    listed = report.records[1]
    assert [(o.type, o.comment) for o in listed.overrides] == [
        ("mailing_list", "lists.example.org")
    ]


def test_bad_records_are_skipped_with_a_warning_and_the_rest_kept() -> None:
    good = _row(spf=(SpfAuth("example.test", None, "pass"),), evaluated=("fail", "pass"))
    two = AggregateReport(
        "Reporter", "r1", _policy(), (good, replace(good, count=9)), begin=1, end=2
    )
    text = render_xml(two).decode()
    broken = text.replace("<count>5</count>", "<count>many</count>", 1)
    parsed = parse_report(broken.encode())
    assert [record.count for record in parsed.records] == [9]
    assert parsed.warnings == ("record 1 skipped: count 'many' is not a number",)
    bad_ip = parse_report(text.replace("192.0.2.10", "not-an-ip", 1).encode())
    assert len(bad_ip.records) == 1
    assert "source_ip 'not-an-ip' is not an IP address" in bad_ip.warnings[0]
    bad_date = parse_report(text.replace("<begin>1<", "<begin>99999999999999999999<").encode())
    assert (bad_date.begin, bad_date.end) == (None, 2)
    assert bad_date.warnings == ("date_range begin '99999999999999999999' is not a time",)


def test_a_flood_of_bad_records_gives_a_bounded_list_of_warnings() -> None:
    body = b"<record><row/></record>" * 5000
    data = (
        b"<feedback><report_metadata/><policy_published><domain>a.test</domain>"
        b"</policy_published>" + body + b"</feedback>"
    )
    report = parse_report(data)
    assert report.records == ()
    assert len(report.warnings) == 21
    assert report.warnings[-1] == "4980 more records skipped"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"<html><body>hi</body></html>", "root element is <html>"),
        (b"this is not xml at all", "not XML"),
        (b"<feedback><report_metadata/></feedback>", "no <policy_published>"),
        (
            b"<feedback><report_metadata/><policy_published/></feedback>",
            "policy_published has no domain",
        ),
        (
            b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
            b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
            b"<feedback>&lol2;</feedback>",
            "declares entities",
        ),
        (
            b'<?xml version="1.0"?><!DOCTYPE f [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            b"<feedback>&x;</feedback>",
            "refused",
        ),
    ],
)
def test_documents_that_are_not_reports_raise_a_one_line_report_error(
    data: bytes, message: str
) -> None:
    with pytest.raises(ReportError, match=message) as caught:
        parse_report(data)
    assert "\n" not in str(caught.value)


# -- alignment and explanations ----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "org"),
    [
        ("example.test", "example.test"),
        ("news.example.test", "example.test"),
        ("a.b.bounce.esp.test", "esp.test"),
        ("mail.example.co.uk", "example.co.uk"),
        ("Example.TEST.", "example.test"),
        ("test", "test"),
    ],
)
def test_simple_org_domain(name: str, org: str) -> None:
    assert simple_org_domain(name) == org


def test_relaxed_dkim_aligns_a_parent_domain_and_strict_does_not() -> None:
    record = _row(header_from="news.example.test", dkim=(DkimAuth("example.test", "s1", "pass"),))
    relaxed = explain(record, _policy(adkim="r"))
    strict = explain(record, _policy(adkim="s"))
    assert relaxed.dkim_aligned
    assert relaxed.passed
    assert not strict.dkim_aligned
    assert not strict.passed
    assert strict.failures[0] == (
        "DKIM signed by example.test, not news.example.test: "
        "sign with d=news.example.test (adkim=s: exactly this name)"
    )


def test_esp_signature_and_return_path_fail_alignment_with_plain_reasons() -> None:
    record = _row(
        dkim=(DkimAuth("esp.test", "s1", "pass"),),
        spf=(SpfAuth("bounce.esp.test", "mfrom", "pass"),),
        evaluated=("fail", "fail"),
    )
    verdict = explain(record, _policy())
    assert verdict.dmarc == "fail"
    assert (verdict.dkim_aligned, verdict.spf_aligned) == (False, False)
    assert verdict.failures == (
        "DKIM signed by esp.test, not example.test: sign with d=example.test",
        "SPF passed for bounce.esp.test but does not align with example.test: use a "
        "Return-Path (bounce) domain under example.test",
    )


def test_aligned_spf_alone_passes_and_the_unaligned_dkim_becomes_a_note() -> None:
    record = _row(
        dkim=(DkimAuth("esp.test", "s1", "pass"),),
        spf=(SpfAuth("bounce.example.test", "mfrom", "pass"),),
    )
    verdict = explain(record, _policy())
    assert verdict.passed
    assert verdict.spf_aligned
    assert not verdict.dkim_aligned
    assert verdict.failures == ()
    assert verdict.notes == ("DKIM signed by esp.test, not example.test: sign with d=example.test",)


def test_strict_spf_needs_the_exact_name() -> None:
    record = _row(spf=(SpfAuth("bounce.example.test", "mfrom", "pass"),))
    assert explain(record, _policy(aspf="r")).spf_aligned
    verdict = explain(record, _policy(aspf="s"))
    assert not verdict.spf_aligned
    assert "exactly example.test (aspf=s)" in verdict.failures[1]


def test_helo_result_is_ignored_when_a_mail_from_result_exists() -> None:
    record = _row(
        spf=(
            SpfAuth("example.test", "helo", "pass"),
            SpfAuth("bounce.esp.test", "mfrom", "pass"),
        )
    )
    assert not explain(record, _policy()).spf_aligned
    helo_only = _row(spf=(SpfAuth("example.test", "helo", "pass"),))
    assert explain(helo_only, _policy()).spf_aligned


@pytest.mark.parametrize(
    ("result", "words"),
    [
        ("fail", "SPF fail for example.test: 192.0.2.10 is not in its SPF record"),
        ("softfail", "SPF softfail for example.test"),
        ("neutral", "SPF neutral for example.test"),
        ("none", "example.test has no SPF record"),
        ("temperror", "DNS lookups failed (transient)"),
        ("permerror", "its SPF record is broken: run mailscope check example.test"),
    ],
)
def test_each_spf_result_gets_its_own_explanation(result: str, words: str) -> None:
    verdict = explain(_row(spf=(SpfAuth("example.test", None, result),)), _policy())
    assert not verdict.passed
    assert words in verdict.failures[1]
    assert verdict.failures[0] == "DKIM: no signature: sign with d=example.test"


def test_broken_aligned_signature_points_at_its_key() -> None:
    verdict = explain(_row(dkim=(DkimAuth("example.test", "mail2026", "fail"),)), _policy())
    assert verdict.failures[0].startswith(
        "DKIM signature d=example.test s=mail2026 did not verify (fail): check the key at "
        "mail2026._domainkey.example.test"
    )


def test_the_receivers_verdict_wins_and_a_disagreement_is_noted() -> None:
    # The receiver says DKIM passed (ARC, say) while the listed results do not align.
    record = _row(dkim=(DkimAuth("esp.test", "s1", "pass"),), evaluated=("pass", "fail"))
    verdict = explain(record, _policy())
    assert verdict.passed
    assert not verdict.dkim_aligned
    assert any("differs from the results listed" in note for note in verdict.notes)


def test_a_failing_verdict_over_aligned_results_still_gives_a_reason() -> None:
    record = _row(dkim=(DkimAuth("example.test", "s1", "pass"),), evaluated=("fail", "fail"))
    verdict = explain(record, _policy())
    assert not verdict.passed
    assert verdict.dkim_aligned
    assert "differs from the results listed, which align here" in verdict.failures[-1]


def test_org_domain_lookup_overrides_the_offline_rule() -> None:
    record = _row(
        header_from="shop.example.test", dkim=(DkimAuth("mail.example.test", "s", "pass"),)
    )
    assert explain(record, _policy()).dkim_aligned
    # A tree walk that found shop.example.test to be its own organisation:
    walked = org_domain_lookup({"shop.example.test": "shop.example.test"})
    assert not explain(record, _policy(), walked).dkim_aligned


async def test_tree_walk_finds_organizational_domains_through_the_lab(ctx) -> None:
    found = await walk_org_domains(ctx, ["good.test", "mail.good.test", "nowhere.invalid"])
    assert found["good.test"] == "good.test"
    assert found["mail.good.test"] == "good.test"
    assert set(found) == {"good.test", "mail.good.test", "nowhere.invalid"}


# -- reports, summary --------------------------------------------------------------------


def _load(*paths: Path) -> list:
    loaded = list(load_reports(paths))
    assert not [item for item in loaded if isinstance(item, Problem)]
    results = [analyse(item.source, item.report, file=item.file) for item in loaded]
    mark_duplicates(results)
    return results


def test_fixture_reports_explain_every_failing_row() -> None:
    (google,) = _load(GOOGLE)
    assert (google.passed, google.failed) == (1540, 59)
    by_ip = {row.record.source_ip: row for row in google.rows}
    assert by_ip["192.0.2.10"].passed
    assert not by_ip["192.0.2.10"].notes
    assert by_ip["198.51.100.25"].passed
    assert by_ip["198.51.100.25"].notes[0].startswith("SPF passed for bounce.esp.test")
    assert by_ip["198.51.100.77"].failures[0] == (
        "DKIM signed by esp.test, not example.test: sign with d=example.test"
    )
    spoofer = by_ip["203.0.113.9"]
    assert spoofer.failures[0] == "DKIM: no signature: sign with d=example.test"
    assert spoofer.failures[1].startswith("SPF fail for example.test: 203.0.113.9")


def test_summary_sums_sources_domains_and_counts_duplicates_once() -> None:
    results = _load(GOOGLE, YAHOO, OUTLOOK, GOOGLE)
    assert [result.duplicate for result in results] == [False, False, False, True]
    summary = summarise(results)
    assert summary.reports == 4
    assert summary.duplicates == 1
    assert summary.files == 3
    assert summary.count == 1599 + 913 + 82
    assert summary.failed == 59 + 3 + 18
    assert summary.passed == summary.count - summary.failed
    esp = summary.sources["198.51.100.25"]
    assert (esp.count, esp.passed, esp.failed) == (358, 340, 18)
    assert summary.sources["192.0.2.10"].count == 2110
    worst = summary.top_failing(2)
    assert [source.source_ip for source in worst] == ["198.51.100.77", "198.51.100.25"]
    assert (
        worst[0].top_reason == "DKIM signed by esp.test, not example.test: sign with d=example.test"
    )
    domain = summary.domains["example.test"]
    assert domain.reports == 3
    assert domain.reporters == {"google.com", "Yahoo", "Outlook.com"}
    assert domain.policy.adkim == "s"  # Outlook's report is the latest (the day after)
    data = summary.to_dict()
    assert data["top_failing"][0]["reasons"][1].startswith("SPF passed for bounce.esp.test")


def test_round_trip_of_a_fixture_through_render_xml_in_both_schemas() -> None:
    report = parse_report(GOOGLE.read_bytes())
    assert parse_report(render_xml(report)) == report
    modern = replace(report, schema=SCHEMA_9990, namespace=NS_DMARC2, version="1.0")
    assert parse_report(render_xml(modern, namespace=NS_DMARC2)) == modern


# -- reverse DNS through the lab ---------------------------------------------------------


async def test_reverse_names_resolve_concurrently_through_the_lab(ctx) -> None:
    ptrs = await reverse_names(
        ctx,
        ["192.0.2.10", "192.0.2.99", "198.51.100.25", "203.0.113.9", "203.0.113.40"],
    )
    assert ptrs["192.0.2.10"].name == "mail.good.test"
    assert ptrs["198.51.100.25"].name == "o1.outbound.esp.test"
    assert ptrs["203.0.113.40"].name == "lists.example.org"
    assert ptrs["192.0.2.99"].name is None  # NXDOMAIN: no PTR, and that is an answer
    assert ptrs["192.0.2.99"].error is None
    # No lab zone covers 203.0.113.9: the lab REFUSES, which is "unknown", not "none".
    assert ptrs["203.0.113.9"].name is None
    assert "REFUSED" in (ptrs["203.0.113.9"].error or "")
    assert ctx.stats.queries == 5


async def test_reverse_names_report_a_dead_server_within_the_timeout() -> None:
    import socket

    from console.auth.resolver import ResolverContext

    # A bound UDP socket that never answers: the PTR question must time out, not hang.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        port = silent.getsockname()[1]
        ctx = ResolverContext.from_options([f"127.0.0.1:{port}"], timeout=0.3, retries=0)
        try:
            ptrs = await reverse_names(ctx, ["192.0.2.10"])
        finally:
            ctx.close()
    assert ptrs["192.0.2.10"].name is None
    assert "no answer" in (ptrs["192.0.2.10"].error or "")


# -- RFC 9990 details ------------------------------------------------------------------

EXTENDED = f"""<?xml version="1.0"?>
<feedback xmlns="{NS_DMARC2}" xmlns:ext="https://extension.test/arc-1.0">
  <version>1.0</version>
  <report_metadata>
    <org_name>receiver.test</org_name><email>dmarc@receiver.test</email>
    <report_id>r-1</report_id>
    <date_range><begin>1764115200</begin><end>1764201599</end></date_range>
    <generator>reporter 9</generator>
  </report_metadata>
  <policy_published>
    <domain>example.test</domain><discovery_method>treewalk</discovery_method>
    <p>reject</p><np>reject</np><testing>y</testing>
  </policy_published>
  <extension><ext:arc-override>never</ext:arc-override></extension>
  <record>
    <row><source_ip>192.0.2.10</source_ip><count>3</count>
      <policy_evaluated><disposition>none</disposition><dkim>fail</dkim><spf>fail</spf>
        <reason><type>policy_test_mode</type></reason></policy_evaluated></row>
    <identifiers><header_from>example.test</header_from></identifiers>
    <auth_results><spf><domain>example.test</domain><result>fail</result></spf></auth_results>
    <ext:arc-results><ext:chain>fail</ext:chain></ext:arc-results>
  </record>
</feedback>
""".encode()


def test_rfc9990_extensions_are_named_and_test_mode_is_explained() -> None:
    report = parse_report(EXTENDED)
    assert report.schema == SCHEMA_9990
    assert report.generator == "reporter 9"
    assert report.policy.testing == "y"
    assert report.policy.discovery_method == "treewalk"
    assert report.extensions == (
        "arc-override (https://extension.test/arc-1.0)",
        "record: arc-results (https://extension.test/arc-1.0)",
    )
    result = analyse("extended.xml", report)
    (row,) = result.rows
    assert not row.passed
    # RFC 9990's policy_test_mode override is worded, not shown as an unknown type.
    assert any("test mode (t=y)" in note for note in row.notes)
    data = result.to_dict()
    assert data["extensions"] == list(report.extensions)
    summary = summarise([result])
    domain = summary.domains["example.test"]
    assert (domain.begin, domain.end) == (1764115200, 1764201599)
    assert domain.to_dict()["extensions"] == list(report.extensions)
    assert domain.to_dict()["begin"] == "2025-11-26T00:00:00Z"


def test_extension_names_are_bounded() -> None:
    many = "".join(f"<x:e{i}/>" for i in range(200))
    text = (
        EXTENDED.decode()
        .replace("<ext:arc-override>never</ext:arc-override>", many)
        .replace("xmlns:ext=", 'xmlns:x="urn:x" xmlns:ext=')
    )
    report = parse_report(text.encode())
    assert len(report.extensions) == 20


def test_spf_failing_for_an_unaligned_domain_says_fixing_it_would_not_help() -> None:
    record = _row(spf=(SpfAuth("bounce.esp.test", None, "softfail"),))
    verdict = explain(record, _policy())
    assert not verdict.passed
    assert verdict.failures[1] == (
        "SPF softfail for bounce.esp.test, which does not align with example.test anyway: "
        "use a Return-Path (bounce) domain under example.test whose SPF record lists "
        "192.0.2.10's service"
    )
    strict = explain(record, _policy(aspf="s"))
    assert "exactly example.test (aspf=s)" in strict.failures[1]
