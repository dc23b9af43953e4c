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


def test_a_missing_copy_is_the_first_difference() -> None:
    smtp = analyse_delivery(SMTP_COPY, folder="INBOX")
    comparison = compare_deliveries(["smtp", "gmail-api"], [smtp, None])
    first = comparison.aspects[0]
    assert first.key == "copy"
    assert first.values == ("found", "not found")
    assert first.better == 0
    assert comparison.verdict.startswith("smtp landed better")


def test_times_a_second_apart_are_not_a_difference() -> None:
    quick = SMTP_COPY.replace(b"10:00:02 +0000", b"10:00:01 +0000")
    comparison = compare_deliveries(
        ["smtp", "gmail-api"],
        [analyse_delivery(SMTP_COPY, folder="INBOX"), analyse_delivery(quick, folder="INBOX")],
    )
    time = next(aspect for aspect in comparison.aspects if aspect.key == "time")
    assert time.same
    assert time.better is None
