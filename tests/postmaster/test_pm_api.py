"""The real google-api-python-client against the lab's Postmaster v2 emulator."""

from __future__ import annotations

import datetime as dt

import pytest

from console.lab.postmaster_api import LAB_DOMAINS, PostmasterEmulator
from console.postmaster.client import PostmasterError
from console.postmaster.model import CHECK_FOR_REQUIREMENT, PostmasterReport, days_from_metrics
from console.postmaster.stats import METRICS, PostmasterClient, date_window, fetch_domains


def _report(client: PostmasterClient, domain: str, days: int, today: dt.date) -> PostmasterReport:
    [outcome] = fetch_domains(client, [domain], days, today)
    assert outcome.error is None
    assert outcome.rows is not None
    return PostmasterReport(
        domain,
        days=days_from_metrics(outcome.rows.rows),
        compliance=outcome.compliance,
        verdicts=outcome.verdicts,
    )


def test_list_domains_follows_every_page(make_client, emulator: PostmasterEmulator) -> None:
    client = make_client(page_size=3)
    before = len(emulator.requests)
    assert client.list_domains() == list(LAB_DOMAINS)
    listed = [r for r in emulator.requests[before:] if r == ("GET", "/v2/domains")]
    assert len(listed) == 2  # 4 domains, 3 per page


def test_query_pagination_yields_the_same_rows_as_one_page(make_client, today) -> None:
    start, end = date_window(20, today)
    small = make_client(page_size=7).query("good.test", start, end)
    large = make_client(page_size=200).query("good.test", start, end)
    assert sorted(small.rows) == sorted(large.rows)
    # 18 days with data (the two newest are Google's delay), one row per numeric metric.
    numeric = len(METRICS) - 1
    assert len(large.rows) == 18 * numeric
    assert len(large.lists["fbl_ids"]) == 18


def test_spike_crosses_the_line_and_recovers(client, today) -> None:
    report = _report(client, "spike.test", 60, today)
    assert report.days_above_0_3 == 6
    above = [d.date for d in report.spam_days if d.spam_rate >= 0.003]
    assert above == [today - dt.timedelta(days=n) for n in range(25, 19, -1)]
    assert report.consecutive_days_below_0_3 == 18
    assert report.last_data_date == today - dt.timedelta(days=2)
    # The spike's feedback loop is the worst one.
    assert report.worst_feedback_loops(1)[0][0] == "promo-blast"
    row = next(r for r in report.compliance if r.requirement == "USER_REPORTED_SPAM_RATE")
    assert (row.status, row.check) == ("NEEDS_WORK", "postmaster")


def test_gaps_are_absent_never_zero(client, today) -> None:
    report = _report(client, "gaps.test", 120, today)
    dates = {d.date for d in report.days}
    assert all(d.has_data for d in report.days)
    assert not any(today - dt.timedelta(days=n) in dates for n in range(60, 76))
    assert len(report.days) < 100
    without_rate = [d for d in report.days if d.spam_rate is None]
    assert without_rate, "low-volume days carry counts but no spam rate"
    assert all("auth.spf" in d.metrics for d in without_rate)
    assert all(d["spam_rate"] is None or d["spam_rate"] > 0 for d in report.to_dict()["days"])


def test_clean_domain(client, today) -> None:
    report = _report(client, "good.test", 30, today)
    assert report.days_above_0_3 == 0
    assert report.days_above_0_1 == 0
    assert report.consecutive_days_below_0_3 == 28
    assert all(r.compliant for r in report.compliance)
    day = report.days[-1]
    assert set(day.auth) == {"spf", "dkim", "dmarc"}
    assert day.to_dict()["tls_inbound"] == 1.0
    assert {"reject", "temp_fail", "all"} <= set(day.delivery_errors)
    assert set(day.feedback_loops) == {"campaign-spring", "newsletter"}


def test_compliance_rows_link_to_console_checks(client) -> None:
    rows, verdicts = client.compliance("noncompliant.test")
    failing = {r.requirement for r in rows if r.scope == "domain" and not r.compliant}
    assert failing == {
        "DMARC_POLICY",
        "DMARC_ALIGNMENT",
        "DNS_RECORDS",
        "ENCRYPTION",
        "ONE_CLICK_UNSUBSCRIBE",
        "HONOR_UNSUBSCRIBE",
    }
    checks = {r.requirement: r.check for r in rows}
    assert checks["DMARC_POLICY"] == "dmarc"
    assert checks["DNS_RECORDS"] == "fcrdns"
    assert checks["ENCRYPTION"] == "ports"
    assert checks["SPF_AND_DKIM"] == "spf+dkim"
    assert checks["ONE_CLICK_UNSUBSCRIBE"] == "send"
    assert {r.scope for r in rows} == {"domain", "subdomains"}
    reasons = {(v.name, v.scope): (v.status, v.reason) for v in verdicts}
    assert reasons[("one_click_unsubscribe", "domain")] == (
        "NEEDS_WORK",
        "NO_UNSUB_PROMO_SPAM_REPORTS",
    )
    assert reasons[("honor_unsubscribe", "domain")] == ("NEEDS_WORK", "NOT_HONORING")


def test_every_requirement_of_the_discovery_document_has_a_check() -> None:
    import json
    from pathlib import Path

    import googleapiclient

    doc = Path(googleapiclient.__file__).parent / (
        "discovery_cache/documents/gmailpostmastertools.v2.json"
    )
    schema = json.loads(doc.read_text())["schemas"]["ComplianceRowData"]
    requirements = set(schema["properties"]["requirement"]["enum"]) - {
        "COMPLIANCE_REQUIREMENT_UNSPECIFIED"
    }
    assert requirements == set(CHECK_FOR_REQUIREMENT)


def test_batch_query_matches_single_queries(client, emulator, today) -> None:
    start, end = date_window(10, today)
    before = len(emulator.requests)
    batch = client.batch_query([*LAB_DOMAINS, "pm-forbidden.test"], start, end)
    calls = [r for r in emulator.requests[before:] if r[1] == "/v2/domainStats:batchQuery"]
    assert len(calls) == 1
    for domain in LAB_DOMAINS:
        single = client.query(domain, start, end)
        result = batch[domain]
        assert not isinstance(result, PostmasterError)
        assert sorted(result.rows) == sorted(single.rows)
    error = batch["pm-forbidden.test"]
    assert isinstance(error, PostmasterError)
    assert error.kind == "permission"


def test_batch_query_splits_at_100(client, emulator, today) -> None:
    start, end = date_window(3, today)
    domains = [f"unknown{i}.test" for i in range(150)]
    before = len(emulator.requests)
    batch = client.batch_query(domains, start, end)
    calls = [r for r in emulator.requests[before:] if r[1] == "/v2/domainStats:batchQuery"]
    assert len(calls) == 2
    assert len(batch) == 150
    assert all(isinstance(v, PostmasterError) and v.kind == "permission" for v in batch.values())


def test_batch_of_several_domains_through_fetch_domains(client, today) -> None:
    outcomes = fetch_domains(client, ["good.test", "pm-forbidden.test", "spike.test"], 30, today)
    by_domain = {o.domain: o for o in outcomes}
    assert by_domain["pm-forbidden.test"].error is not None
    assert by_domain["good.test"].rows
    assert by_domain["good.test"].compliance
    assert any(k.startswith("fbl.") for _, k, _ in by_domain["spike.test"].rows.rows)


# -- bad answers: each one line, with what to do ---------------------------------------------


def _fail(client: PostmasterClient, domain: str, today: dt.date) -> PostmasterError:
    start, end = date_window(5, today)
    with pytest.raises(PostmasterError) as caught:
        client.query(domain, start, end)
    assert "\n" not in str(caught.value)
    return caught.value


def test_server_error_is_retried_then_reported(client, emulator, today) -> None:
    before = len(emulator.requests)
    error = _fail(client, "pm-error.test", today)
    assert error.kind == "server"
    assert "HTTP 500" in error.msg
    assert "after 3 attempts" in error.msg
    assert len(emulator.requests) - before == 3


def test_a_transient_503_is_retried(client, today) -> None:
    start, end = date_window(5, today)
    rows = client.query("pm-flaky.test", start, end)
    assert rows.rows


def test_rate_limit(client, today) -> None:
    error = _fail(client, "pm-ratelimited.test", today)
    assert error.kind == "rate-limit"
    assert "429" in error.msg


def test_permission_denied_says_verify_the_domain(client, today) -> None:
    error = _fail(client, "pm-forbidden.test", today)
    assert error.kind == "permission"
    assert "verified in Postmaster Tools" in error.msg


def test_garbage_json(client, today) -> None:
    error = _fail(client, "pm-garbage.test", today)
    assert error.kind == "malformed"


def test_timeout(make_client, emulator, today, monkeypatch) -> None:
    monkeypatch.setattr(emulator, "slow_seconds", 3.0)
    error = _fail(make_client(timeout=0.3, retries=0), "pm-slow.test", today)
    assert error.kind == "timeout"


def test_unknown_token_means_sign_in_again(make_client, today) -> None:
    from console.postmaster.credentials import lab_credentials

    client = make_client(lab_credentials("expired-or-revoked"), retries=0)
    error = _fail(client, "good.test", today)
    assert error.kind == "auth"
    assert "mailscope postmaster --login" in error.msg
    assert "expired-or-revoked" not in error.msg


def test_an_invalid_request_is_refused_as_the_api_would(client, today) -> None:
    from console.postmaster.stats import MetricSpec

    start, end = date_window(5, today)
    with pytest.raises(PostmasterError) as caught:
        client.query("good.test", start, end, [MetricSpec("x", "AUTH_SUCCESS_RATE")])
    assert caught.value.kind == "bad-request"
    assert "auth_type" in caught.value.msg


def test_unreachable_endpoint(today) -> None:
    import socket

    from console.postmaster.client import build_service
    from console.postmaster.credentials import lab_credentials

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    service = build_service(lab_credentials(), endpoint=f"http://127.0.0.1:{port}/", timeout=1)
    client = PostmasterClient(service, retries=1, backoff=0.01)
    error = _fail(client, "good.test", today)
    assert error.kind == "network"


def test_bad_endpoint_is_a_config_error() -> None:
    from console.postmaster.client import build_service
    from console.postmaster.credentials import lab_credentials

    with pytest.raises(PostmasterError) as caught:
        build_service(lab_credentials(), endpoint="ftp://x")
    assert caught.value.kind == "config"


def test_malformed_entries_are_skipped_and_counted(client, today) -> None:
    from console.postmaster.stats import build_report

    [outcome] = fetch_domains(client, ["pm-malformed.test"], 30, today)
    assert outcome.rows is not None
    assert outcome.rows.rows == [(dt.date(2026, 11, 1), "spam_rate", 0.001)]
    assert outcome.rows.skipped == 3
    report = build_report("pm-malformed.test", days_from_metrics(outcome.rows.rows), outcome, None)
    assert any("3 malformed entries" in note for note in report.notes)


def test_a_token_the_server_expired_early_is_refreshed(tmp_path, emulator, make_client) -> None:
    import json

    from console.postmaster.credentials import load_credentials, write_token_file

    emulator.register_refresh_token("refresh-early")
    stale = emulator.issue_token(lifetime=-1)  # the server already expired it
    info = {
        "type": "authorized_user",
        "token": stale,
        "refresh_token": "refresh-early",
        "client_id": "c",
        "client_secret": "s",
        "expiry": (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))
        .replace(tzinfo=None)
        .isoformat(),
    }
    path = tmp_path / "token.json"
    write_token_file(path, json.dumps(info))
    client = make_client(load_credentials(path, token_uri=emulator.token_uri))
    assert client.list_domains() == list(LAB_DOMAINS)
    assert json.loads(path.read_text())["token"] != stale


def test_the_lab_publishes_the_emulator(lab) -> None:
    info = lab.describe()["postmaster"]
    assert info["endpoint"] == lab.postmaster_endpoint
    assert info["endpoint"].startswith("http://127.0.0.1:")
    assert info["domains"] == list(LAB_DOMAINS)
