"""Comparing the copies of one test message read back from two sending paths."""

from __future__ import annotations

import json

from console.send.compare import compare_deliveries
from console.send.readback import analyse_delivery

SMTP_COPY = (
    b"Authentication-Results: mx1.good.test; spf=pass smtp.mailfrom=demo@good.test;"
    b" dkim=pass header.d=good.test header.s=s2026; dmarc=pass header.from=good.test\r\n"
    b"Received: from smtp.good.test (smtp.good.test [192.0.2.10]) by mx1.good.test"
    b" with ESMTPS (using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384) id A1;"
    b" Fri, 27 Nov 2026 10:00:02 +0000\r\n"
    b"Received: from client by smtp.good.test with ESMTPSA"
    b" (version=TLSv1.3 cipher=TLS_AES_128_GCM_SHA256) id S1;"
    b" Fri, 27 Nov 2026 10:00:01 +0000\r\n"
    b"Return-Path: <demo@good.test>\r\n"
    b"From: demo@good.test\r\nTo: seed@good.test\r\nSubject: t\r\n"
    b"Date: Fri, 27 Nov 2026 10:00:00 +0000\r\n\r\nbody\r\n"
)

API_COPY = (
    b"Authentication-Results: mx1.good.test; spf=pass smtp.mailfrom=bounce@relay.test;"
    b" dkim=pass header.d=relay.test header.s=google; dmarc=fail header.from=good.test\r\n"
    b"Received: from relay.test by mx1.good.test with ESMTP id A2;"
    b" Fri, 27 Nov 2026 10:00:05 +0000\r\n"
    b"Return-Path: <bounce@relay.test>\r\n"
    b"From: demo@good.test\r\nTo: seed@good.test\r\nSubject: t\r\n"
    b"Date: Fri, 27 Nov 2026 10:00:00 +0000\r\n\r\nbody\r\n"
)


def test_the_path_that_aligns_and_lands_in_the_inbox_is_called_better() -> None:
    smtp = analyse_delivery(SMTP_COPY, folder="INBOX")
    api = analyse_delivery(API_COPY, folder="Spam")
    comparison = compare_deliveries(["smtp", "gmail-api"], [smtp, api])
    by_key = {aspect.key: aspect for aspect in comparison.aspects}
    assert by_key["folder"].values == ("INBOX", "Spam")
    assert by_key["folder"].better == 0
    assert by_key["dmarc"].values == ("pass", "fail")
    assert by_key["dmarc"].better == 0
    assert by_key["dkim.d"].values == ("d=good.test s=s2026", "d=relay.test s=google")
    assert not by_key["dkim.d"].same
    assert by_key["dkim.d"].note
    assert by_key["spf"].same
    assert by_key["spf"].note is None
    assert by_key["return-path"].values == ("demo@good.test", "bounce@relay.test")
    assert by_key["tls"].values == ("TLS > TLS", "clear")
    assert by_key["tls"].better == 0
    assert by_key["time"].values == ("2.0 s", "5.0 s")
    assert by_key["time"].better == 0
    assert comparison.verdict.startswith("smtp landed better")
    assert "DMARC" in comparison.verdict
    assert "Landed in" in comparison.verdict
    data = comparison.to_dict()
    json.dumps(data)
    folder = next(row for row in data["aspects"] if row["key"] == "folder")
    assert folder["values"] == {"smtp": "INBOX", "gmail-api": "Spam"}
    assert folder["better"] == "smtp"


def test_identical_copies_land_alike() -> None:
    one = analyse_delivery(SMTP_COPY, folder="INBOX")
    two = analyse_delivery(SMTP_COPY, folder="INBOX")
    comparison = compare_deliveries(["smtp", "gmail-api"], [one, two])
    assert comparison.differences == []
    assert comparison.verdict.startswith("both copies landed alike")


def test_a_missing_copy_is_the_first_difference_and_never_a_failed_check() -> None:
    smtp = analyse_delivery(SMTP_COPY, folder="INBOX")
    comparison = compare_deliveries(["smtp", "gmail-api"], [smtp, None])
    first = comparison.aspects[0]
    assert first.key == "copy"
    assert first.values == ("found", "not found")
    assert first.better is None  # not found is no verdict of the receiver's
    assert "readback failed" in (first.note or "")
    assert [a.key for a in comparison.differences] == ["copy"]  # SPF "" is not a failure
    assert comparison.verdict == (
        "only smtp's in INBOX was found; gmail-api: no copy found (not arrived yet, "
        "dropped, or readback failed), so no comparison"
    )


def test_a_missing_copy_is_not_called_worse_than_one_in_spam() -> None:
    api = analyse_delivery(API_COPY, folder="Spam")
    comparison = compare_deliveries(["smtp", "gmail-api"], [None, api])
    assert "landed better" not in comparison.verdict
    assert comparison.verdict.startswith("only gmail-api's in Spam was found; smtp: no copy")
    assert all(aspect.better is None for aspect in comparison.aspects)
    neither = compare_deliveries(["smtp", "gmail-api"], [None, None])
    assert neither.verdict.startswith("no copy was found")


def test_times_a_second_apart_are_not_a_difference() -> None:
    quick = SMTP_COPY.replace(b"10:00:02 +0000", b"10:00:01 +0000")
    comparison = compare_deliveries(
        ["smtp", "gmail-api"],
        [analyse_delivery(SMTP_COPY, folder="INBOX"), analyse_delivery(quick, folder="INBOX")],
    )
    time = next(aspect for aspect in comparison.aspects if aspect.key == "time")
    assert time.same
    assert time.better is None


def _copy(data: bytes, folder: str, category: str | None = None):
    return analyse_delivery(data, folder=folder, category=category)


def _by_key(comparison):
    return {aspect.key: aspect for aspect in comparison.aspects}


def test_where_it_landed_outweighs_every_verdict() -> None:
    # SMTP lands in the inbox despite a DKIM failure and a clear hop; the API copy is in
    # Spam with DKIM passing and TLS: two small wins do not beat the folder.
    smtp = SMTP_COPY.replace(b"dkim=pass header.d=good.test", b"dkim=fail header.d=good.test")
    smtp = smtp.replace(
        b"with ESMTPS (using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384)", b"with ESMTP"
    )
    api = SMTP_COPY
    comparison = compare_deliveries(
        ["smtp", "gmail-api"], [_copy(smtp, "INBOX"), _copy(api, "Spam")]
    )
    rows = _by_key(comparison)
    assert rows["dkim"].better == 1
    assert rows["tls"].better == 1
    assert rows["folder"].better == 0
    assert comparison.verdict == "smtp landed better (Landed in)"


def test_the_promotions_tab_is_the_inbox_not_spam() -> None:
    primary = _copy(SMTP_COPY, "INBOX", "Primary")
    promotions = _copy(SMTP_COPY, "INBOX", "Promotions")
    comparison = compare_deliveries(["smtp", "gmail-api"], [primary, promotions])
    folder = _by_key(comparison)["folder"]
    assert folder.values == ("INBOX", "INBOX (Promotions)")
    assert folder.better is None
    assert "not spam" in (folder.note or "")
    assert comparison.verdict == "the copies differ, but neither path did clearly better"
    spam = _copy(SMTP_COPY, "Spam")
    versus = compare_deliveries(["smtp", "gmail-api"], [spam, promotions])
    assert _by_key(versus)["folder"].better == 1
    assert "one copy was filed as spam" in (_by_key(versus)["folder"].note or "")
    assert versus.verdict == "gmail-api landed better (Landed in)"


def test_notes_say_what_actually_differs() -> None:
    other_selector = SMTP_COPY.replace(b"header.s=s2026", b"header.s=s2027")
    verp = SMTP_COPY.replace(b"Return-Path: <demo@good.test>", b"Return-Path: <b+42@good.test>")
    relaxed = SMTP_COPY.replace(b"header.d=good.test", b"header.d=mail.good.test")
    comparison = compare_deliveries(
        ["a", "b"], [_copy(SMTP_COPY, "INBOX"), _copy(other_selector, "INBOX")]
    )
    assert "different selectors" in (_by_key(comparison)["dkim.d"].note or "")
    comparison = compare_deliveries(["a", "b"], [_copy(SMTP_COPY, "INBOX"), _copy(verp, "INBOX")])
    assert "no difference to SPF" in (_by_key(comparison)["return-path"].note or "")
    comparison = compare_deliveries(
        ["a", "b"], [_copy(SMTP_COPY, "INBOX"), _copy(relaxed, "INBOX")]
    )
    rows = _by_key(comparison)
    assert rows["alignment.dkim"].values == ("strict", "relaxed")
    assert "both signing domains align" in (rows["alignment.dkim"].note or "")
    assert comparison.verdict.startswith("both copies landed alike")  # same verdicts


def test_only_the_hop_into_the_receiver_decides_tls() -> None:
    # Both copies reach mx1.good.test over TLS; one was submitted without TLS first.
    clear_submission = SMTP_COPY.replace(
        b"with ESMTPSA (version=TLSv1.3 cipher=TLS_AES_128_GCM_SHA256)", b"with ESMTP"
    )
    comparison = compare_deliveries(
        ["a", "b"], [_copy(SMTP_COPY, "INBOX"), _copy(clear_submission, "INBOX")]
    )
    tls = _by_key(comparison)["tls"]
    assert tls.values == ("TLS > TLS", "clear > TLS")
    assert tls.better is None
    assert "reflects only the hop into it" in (tls.note or "")


def test_different_receivers_are_named_in_the_verdict() -> None:
    elsewhere = API_COPY.replace(b"mx1.good.test", b"mx.other.test")
    comparison = compare_deliveries(
        ["smtp", "gmail-api"], [_copy(SMTP_COPY, "INBOX"), _copy(elsewhere, "INBOX")]
    )
    assert comparison.verdict.endswith("(judged by different receivers)")
    assert "not like for like" in (_by_key(comparison)["authserv"].note or "")
