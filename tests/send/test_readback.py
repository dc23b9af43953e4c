"""Readback: a test message sent through the lab, read back from the lab's mailbox, analysed.

Lab data: the good MX (mx1.good.test) files what it accepts after judging SPF, DKIM and
DMARC against the lab DNS (console/lab/mailbox.py). good.test signs with selector s2026
(console/lab/keys/good-s2026.pem) and publishes DMARC p=reject.
"""

from __future__ import annotations

import email.utils
import json
from datetime import UTC, datetime, timedelta, timezone
from importlib import resources

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from console.auth.resolver import ResolverContext
from console.lab import Lab
from console.lab.smtp import LAB_PASSWORD, LAB_USER
from console.send import dkim_sign
from console.send.compose import TestMessage, build_message, message_bytes
from console.send.guard import SendGuard
from console.send.readback import (
    analyse_delivery,
    fetch_delivery_from_lab,
    fetch_from_lab,
    parse_authentication_results,
    parse_received,
)
from console.send.smtp import send_smtp

KEY = (resources.files("console.lab") / "keys" / "good-s2026.pem").read_bytes()


async def send_test(ctx: ResolverContext, *, signed: bool) -> tuple[str, datetime]:
    spec = TestMessage(from_addr="Demo <demo@good.test>", to="seed@good.test")
    data = message_bytes(build_message(spec))
    if signed:
        data = dkim_sign.sign(data, selector="s2026", domain="good.test", key_pem=KEY)
    sent_at = datetime.now(UTC)
    result = await send_smtp(
        ctx,
        data,
        envelope_from="demo@good.test",
        recipients=["seed@good.test"],
        host="mx1.good.test",
        port=25,
        security="starttls",
        timeout=5.0,
        confirmed=True,
        guard=SendGuard(),
    )
    assert result.accepted, result.error
    return spec.test_id, sent_at


async def test_signed_message_reads_back_with_dkim_and_dmarc_pass(
    ctx: ResolverContext, lab: Lab
) -> None:
    test_id, sent_at = await send_test(ctx, signed=True)
    delivery = await fetch_delivery_from_lab(lab, "seed@good.test", test_id, sent_at=sent_at)
    assert delivery is not None
    assert delivery.folder == "INBOX"
    assert delivery.authserv_id == "mx1.good.test"
    assert delivery.dkim is not None
    assert delivery.dkim.result == "pass"
    assert delivery.dkim.properties["header.d"] == "good.test"
    assert delivery.dkim_selector == "s2026"
    assert delivery.dmarc is not None
    assert delivery.dmarc.result == "pass"
    assert delivery.dmarc.properties["header.from"] == "good.test"
    assert delivery.dmarc.comment == "p=reject"
    assert delivery.spf is not None
    assert delivery.spf.properties["smtp.mailfrom"] == ("demo@good.test")
    assert delivery.alignment["dkim"] == "strict"
    assert delivery.test_id == test_id
    [hop] = delivery.hops
    assert hop.by_host == "mx1.good.test"
    assert hop.tls is True
    assert hop.with_protocol == "ESMTPS"
    assert hop.tls_version is not None
    assert hop.tls_version.startswith("TLS1_")
    assert hop.tls_cipher
    # Received dates have one-second resolution: the lab delivers within a second or so.
    assert delivery.total_seconds is not None
    assert -1.0 <= delivery.total_seconds < 10.0
    assert hop.delay == delivery.total_seconds
    json.dumps(delivery.to_dict())


async def test_unsigned_reject_domain_reads_back_from_spam(ctx: ResolverContext, lab: Lab) -> None:
    test_id, _ = await send_test(ctx, signed=False)
    delivery = await fetch_delivery_from_lab(lab, "seed@good.test", test_id)
    assert delivery is not None
    assert delivery.folder == "Spam"
    assert delivery.dmarc is not None
    assert delivery.dmarc.result == "fail"
    assert delivery.dkim is not None
    assert delivery.dkim.result == "none"
    assert delivery.alignment == {"dkim": None, "spf": None}
    raw = await fetch_from_lab(lab, "seed@good.test", test_id)
    assert raw is not None
    assert raw.startswith(b"Return-Path: <")
    assert b"\r\nAuthentication-Results: mx1.good.test;" in raw


async def test_unknown_test_id_is_none(lab: Lab) -> None:
    assert await fetch_from_lab(lab, "seed@good.test", "no-such-test", wait=0.1) is None
    assert await fetch_from_lab(lab, "nobody@good.test", "x") is None


MULTI_HOP = (
    b"Authentication-Results: mx.google.com;\r\n"
    b"       dkim=pass header.i=@good.test header.s=s2026 header.b=abc;\r\n"
    b"       arc=pass (i=1);\r\n"
    b"       spf=pass (google.com: domain of bounce@mail.good.test designates 192.0.2.10)"
    b" smtp.mailfrom=bounce@mail.good.test;\r\n"
    b"       dmarc=pass (p=REJECT sp=REJECT dis=NONE) header.from=good.test\r\n"
    b"ARC-Seal: i=1; a=rsa-sha256; cv=none; d=relay.test; s=arc; b=xyz\r\n"
    b"Received: from relay.test (relay.test. [192.0.2.20])\r\n"
    b"        by mx.google.com with ESMTPS id abc123\r\n"
    b"        for <seed@gmail.test>\r\n"
    b"        (version=TLS1_3 cipher=TLS_AES_256_GCM_SHA384 bits=256/256);\r\n"
    b"        Fri, 27 Nov 2026 01:00:07 +0000\r\n"
    b"Received: from smtp.good.test (smtp.good.test [192.0.2.10])\r\n"
    b"\t(using TLSv1.2 with cipher ECDHE-RSA-AES256-GCM-SHA384 (256/256 bits))\r\n"
    b"\tby relay.test (Postfix) with ESMTPS id 4Xyz; Fri, 27 Nov 2026 02:00:05 +0100\r\n"
    b"Received: from laptop ([10.0.0.2]) by smtp.good.test with ESMTPSA id q1;\r\n"
    b"\tFri, 27 Nov 2026 01:00:01 +0000\r\n"
    b"Received: from localhost by laptop with ESMTP; not a date\r\n"
    b"Date: Fri, 27 Nov 2026 01:00:00 +0000\r\n"
    b"From: Demo <demo@good.test>\r\n"
    b"DKIM-Signature: v=1; d=good.test; s=s2026; b=abc\r\n"
    b"\r\nbody\r\n"
)


def test_received_chain_in_order_from_origin_with_delays() -> None:
    delivery = analyse_delivery(MULTI_HOP)
    assert [hop.by_host for hop in delivery.hops] == [
        "laptop",
        "smtp.good.test",
        "relay.test",
        "mx.google.com",
    ]
    first, submission, relay, gmail = delivery.hops
    assert first.time is None
    assert first.delay is None
    assert first.tls is False
    assert submission.delay is None  # the hop before it has no readable time
    assert submission.with_protocol == "ESMTPSA"
    assert submission.tls is True
    assert relay.delay == 4.0  # 02:00:05 +0100 is 01:00:05 UTC
    assert relay.tls_version == "TLSv1.2"
    assert relay.tls_cipher == "ECDHE-RSA-AES256-GCM-SHA384"
    assert gmail.delay == 2.0
    assert gmail.tls_version == "TLS1_3"
    assert gmail.tls_cipher == "TLS_AES_256_GCM_SHA384"
    assert delivery.total_seconds == 7.0  # last hop minus the Date header
    assert delivery.arc_sets == 1
    assert delivery.arc is not None
    assert delivery.arc.result == "pass"
    assert delivery.dmarc is not None
    assert delivery.dmarc.comment == "p=REJECT sp=REJECT dis=NONE"
    assert delivery.dkim_domain == "good.test"  # Gmail states header.i, not header.d
    assert delivery.alignment == {"dkim": "strict", "spf": "relaxed"}


def test_sent_at_takes_precedence_over_the_date_header() -> None:
    sent = datetime(2026, 11, 27, 1, 0, 3, tzinfo=UTC)
    delivery = analyse_delivery(MULTI_HOP, sent_at=sent)
    assert delivery.total_seconds == 4.0
    assert delivery.sent_at == sent
    assert delivery.delivered_at == sent + timedelta(seconds=4)


def test_remote_text_stays_literal() -> None:
    hostile = "mx.\x1b[2J[bold]evil[/bold]"
    hop = parse_received(f"from a by {hostile} with ESMTP; Fri, 27 Nov 2026 01:00:00 +0000")
    assert hop.by_host == hostile


def test_a_message_without_receiver_headers_says_so() -> None:
    delivery = analyse_delivery(b"From: a@b.test\r\n\r\nhi\r\n")
    assert delivery.results == []
    assert delivery.hops == []
    assert "no Authentication-Results header" in delivery.problems
    assert "no Received header" in delivery.problems


HEADER_NAMES = st.sampled_from(
    ["Authentication-Results", "Received", "Date", "From", "DKIM-Signature", "ARC-Seal", "X"]
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(HEADER_NAMES, st.text(max_size=300)), max_size=8),
    st.binary(max_size=200),
)
def test_hostile_headers_never_raise(headers: list[tuple[str, str]], tail: bytes) -> None:
    data = b"".join(
        f"{name}: {value}\r\n".encode("utf-8", "surrogateescape") for name, value in headers
    )
    delivery = analyse_delivery(data + tail)
    json.dumps(delivery.to_dict())
    analyse_delivery(tail)


async def test_submitted_message_reads_back_with_spf_pass_and_two_hops(
    ctx: ResolverContext, lab: Lab
) -> None:
    spec = TestMessage(from_addr="demo@good.test", to="seed@good.test")
    data = dkim_sign.sign(
        message_bytes(build_message(spec)), selector="s2026", domain="good.test", key_pem=KEY
    )
    result = await send_smtp(
        ctx,
        data,
        envelope_from=LAB_USER,
        recipients=["seed@good.test"],
        host="smtp.good.test",
        port=587,
        security="starttls",
        username=LAB_USER,
        password=LAB_PASSWORD,
        timeout=5.0,
        confirmed=True,
        guard=SendGuard(),
    )
    assert result.accepted, result.error
    delivery = await fetch_delivery_from_lab(lab, "seed@good.test", spec.test_id)
    assert delivery is not None, "the submission role relays to the MX's mailbox"
    assert delivery.folder == "INBOX"
    assert delivery.return_path == f"<{LAB_USER}>"
    assert delivery.spf is not None
    assert delivery.spf.result == "pass"  # judged from the relay address 192.0.2.10
    assert delivery.dmarc is not None
    assert delivery.dmarc.result == "pass"
    assert delivery.alignment == {"dkim": "strict", "spf": "strict"}
    submission, mx = delivery.hops
    assert submission.by_host == "smtp.good.test"
    assert submission.with_protocol == "ESMTPSA"
    assert submission.tls is True
    assert mx.from_host == "smtp.good.test"
    assert mx.by_host == "mx1.good.test"
    assert mx.tls is True  # the lab's relay hands over with TLS 1.3, as real relays do
    assert mx.delay is not None


# -- real-world Received headers ------------------------------------------------------------

GMAIL_IN = (
    "from mail-sor-f41.google.com (mail-sor-f41.google.com. [209.85.220.41])\r\n"
    "        by mx.google.com with SMTPS id a640c23a62f3a-a9a0e8d3b4fsor1234567866b.7.2024\r\n"
    "        for <seed@gmail.com>\r\n        (Google Transport Security);\r\n"
    "        Mon, 14 Oct 2024 05:06:07 -0700 (PDT)"
)
GMAIL_INTERNAL = (
    "by 2002:a05:6402:35c8:b0:5c9:4d9f:1a2b with SMTP id 4fb4d7f45d1cf-5c94d9f1a2bmr1a12.7;\r\n"
    "        Mon, 14 Oct 2024 05:06:06 -0700 (PDT)"
)
M365_IN = (
    "from mail-ed1-f47.google.com (209.85.208.47) by AM0PR02CA0001.mail.protection.outlook.com"
    " (10.167.16.140) with Microsoft SMTP Server (version=TLS1_3,"
    " cipher=TLS_AES_256_GCM_SHA384) id 15.20.7762.28 via Frontend Transport;"
    " Wed, 17 Jul 2024 10:11:11 +0000"
)
M365_MAPI = (
    "from DB8PR02MB5678.eurprd02.prod.outlook.com (2603:10a6:10:12c::20) by"
    " DB8PR02MB5678.eurprd02.prod.outlook.com with mapi id 15.20.7762.28;"
    " Wed, 17 Jul 2024 10:11:10 +0000"
)
POSTFIX_IN = (
    "from mail.good.test (mail.good.test [192.0.2.10])\r\n"
    "\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)\r\n"
    "\t key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256)\r\n"
    "\t(No client certificate requested)\r\n"
    "\tby mx.example.net (Postfix) with ESMTPS id 4XyZ1234;\r\n"
    "\tFri, 27 Nov 2026 10:00:00 +0100 (CET)"
)
EXIM_IN = (
    "from mail.good.test ([192.0.2.10])\r\n"
    "\tby mx.example.org with esmtps  (TLS1.3) tls TLS_AES_256_GCM_SHA384\r\n"
    "\t(Exim 4.97)\r\n\t(envelope-from <demo@good.test>)\r\n\tid 1rAbCd-000123-4X\r\n"
    "\tfor seed@example.org;\r\n\tFri, 27 Nov 2026 09:00:00 +0000"
)
EXIM_OLD = (
    "from [192.0.2.9] (helo=mail.old.test) by mx.example.org with esmtps"
    " (TLS1.2:ECDHE-RSA-AES256-GCM-SHA384:256) (Exim 4.92) id 1a;"
    " Fri, 27 Nov 2026 09:00:00 +0000"
)
QMAIL_LOCAL = "(qmail 12345 invoked by uid 89); 27 Nov 2026 10:00:00 -0000"
QMAIL_IN = (
    "from unknown (HELO mail.good.test) (192.0.2.10) by mail.example.com with SMTP;"
    " 27 Nov 2026 10:00:00 -0000"
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (GMAIL_IN, ("mail-sor-f41.google.com", "mx.google.com", "SMTPS", True, None, None)),
        (GMAIL_INTERNAL, (None, "2002:a05:6402:35c8:b0:5c9:4d9f:1a2b", "SMTP", None, None, None)),
        (
            M365_IN,
            (
                "mail-ed1-f47.google.com",
                "AM0PR02CA0001.mail.protection.outlook.com",
                "Microsoft",
                True,
                "TLS1_3",
                "TLS_AES_256_GCM_SHA384",
            ),
        ),
        (
            M365_MAPI,
            (
                "DB8PR02MB5678.eurprd02.prod.outlook.com",
                "DB8PR02MB5678.eurprd02.prod.outlook.com",
                "mapi",
                None,  # an unknown `with` word says nothing: never "clear"
                None,
                None,
            ),
        ),
        (
            POSTFIX_IN,
            (
                "mail.good.test",
                "mx.example.net",
                "ESMTPS",
                True,
                "TLSv1.3",
                "TLS_AES_256_GCM_SHA384",
            ),
        ),
        (
            EXIM_IN,
            (
                "mail.good.test",
                "mx.example.org",
                "esmtps",
                True,
                "TLS1.3",
                "TLS_AES_256_GCM_SHA384",
            ),
        ),
        (
            EXIM_OLD,
            (
                "[192.0.2.9]",
                "mx.example.org",
                "esmtps",
                True,
                "TLS1.2",
                "ECDHE-RSA-AES256-GCM-SHA384",
            ),
        ),
        (QMAIL_LOCAL, (None, None, None, None, None, None)),
        (QMAIL_IN, ("unknown", "mail.example.com", "SMTP", False, None, None)),
    ],
)
def test_real_world_received_headers(value: str, expected: tuple[object, ...]) -> None:
    hop = parse_received(value)
    found = (hop.from_host, hop.by_host, hop.with_protocol, hop.tls)
    assert (*found, hop.tls_version, hop.tls_cipher) == expected
    assert hop.time is not None
    assert hop.time.tzinfo is not None


def test_time_zones_are_compared_as_instants() -> None:
    assert parse_received(GMAIL_IN).time == datetime(2024, 10, 14, 12, 6, 7, tzinfo=UTC)
    assert parse_received(POSTFIX_IN).time == datetime(2026, 11, 27, 9, 0, 0, tzinfo=UTC)
    assert parse_received(QMAIL_LOCAL).time == datetime(2026, 11, 27, 10, 0, 0, tzinfo=UTC)


def _message(*headers: str) -> bytes:
    return ("".join(f"{h}\r\n" for h in headers) + "From: demo@good.test\r\n\r\nhi\r\n").encode()


def test_a_gmail_delivery_reads_like_gmail() -> None:
    data = _message(
        "ARC-Authentication-Results: i=2; relay.example; dkim=fail header.d=good.test",
        "ARC-Authentication-Results: i=1; lists.example; dkim=pass header.d=good.test;"
        " spf=pass smtp.mailfrom=demo@good.test; dmarc=pass header.from=good.test",
        "Authentication-Results: mx.google.com;\r\n"
        "       dkim=pass header.i=@good.test header.s=20230601 header.b=AbCdEf12;\r\n"
        "       spf=pass (google.com: domain of bounce@mail.good.test designates"
        " 2a00:1450:4864:20::52f as permitted sender) smtp.mailfrom=bounce@mail.good.test;\r\n"
        "       dmarc=pass (p=NONE sp=NONE dis=NONE) header.from=good.test;\r\n"
        "       arc=pass (i=2 spf=pass spfdomain=x dkim=pass dkdomain=y);"
        " dara=pass header.i=@gmail.com",
        f"Received: {GMAIL_INTERNAL}",
        f"Received: {GMAIL_IN}",
        "Date: Mon, 14 Oct 2024 12:06:05 +0000",
    )
    delivery = analyse_delivery(data, authserv_ids=["mx.google.com"])
    assert delivery.authserv_id == "mx.google.com"
    assert [r.method for r in delivery.results] == ["dkim", "spf", "dmarc", "arc", "dara"]
    assert (delivery.dkim_domain, delivery.dkim_selector) == ("good.test", "20230601")
    assert delivery.alignment == {"dkim": "strict", "spf": "relaxed"}
    assert delivery.dmarc is not None
    assert delivery.dmarc.comment == "p=NONE sp=NONE dis=NONE"
    assert delivery.arc_authserv_id == "lists.example"  # i=1: the verdicts before forwarding
    assert [r.result for r in delivery.arc_results] == ["pass", "pass", "pass"]
    inbound, internal = delivery.hops
    assert inbound.tls is True
    assert internal.tls is None  # Google's internal hand-off says nothing about the network
    assert [hop.delay for hop in delivery.hops] == [2.0, 0.0]
    assert internal.skew == 1.0  # stamped a second before the hop before it
    assert delivery.skew_seconds == 1.0
    assert delivery.total_seconds == 1.0  # the newest stamp minus the Date header
    assert any("clock skew" in problem for problem in delivery.problems)


def test_microsoft_365_results_without_an_authserv_id_are_read() -> None:
    data = _message(
        "Authentication-Results: spf=pass (sender IP is 209.85.208.47)\r\n"
        " smtp.mailfrom=good.test; dkim=pass (signature was verified)\r\n"
        " header.d=good.test;dmarc=pass action=none header.from=good.test;compauth=pass\r\n"
        " reason=100",
        f"Received: {M365_IN}",
        f"Received: {M365_MAPI}",
    )
    delivery = analyse_delivery(data)
    assert delivery.authserv_id is None
    assert delivery.problems == []
    assert [(r.method, r.result) for r in delivery.results] == [
        ("spf", "pass"),
        ("dkim", "pass"),
        ("dmarc", "pass"),
        ("compauth", "pass"),
    ]
    assert delivery.spf is not None
    assert delivery.spf.comment == "sender IP is 209.85.208.47"
    assert delivery.alignment == {"dkim": "strict", "spf": "strict"}
    assert [hop.tls for hop in delivery.hops] == [None, True]  # mapi: unknown, not clear


def test_only_the_trusted_receivers_results_are_believed() -> None:
    data = _message(
        "Authentication-Results: filter.corp.example; dmarc=pass header.from=good.test",
        "Authentication-Results: mx.google.com; dmarc=fail (p=REJECT) header.from=good.test",
        "Authentication-Results: mx.google.com; dmarc=pass header.from=good.test",  # forged
    )
    trusted = analyse_delivery(data, authserv_ids=["MX.Google.com."])
    assert trusted.authserv_id == "mx.google.com"
    assert trusted.dmarc is not None
    assert trusted.dmarc.result == "fail"  # the receiver's own, the topmost of its id
    topmost = analyse_delivery(data)
    assert topmost.authserv_id == "filter.corp.example"
    assert any("mx.google.com also present" in p for p in topmost.problems)
    nobody = analyse_delivery(data, authserv_ids=["mx1.good.test"])
    assert nobody.results == []
    assert nobody.dmarc is None
    assert any("no Authentication-Results from mx1.good.test" in p for p in nobody.problems)


def test_a_receiver_clock_behind_the_sender_is_skew_not_negative_time() -> None:
    data = _message("Received: from a.test by mx.test with ESMTPS; Fri, 27 Nov 2026 09:59:57 +0000")
    sent = datetime(2026, 11, 27, 10, 0, 0, tzinfo=UTC)
    delivery = analyse_delivery(data, sent_at=sent)
    [hop] = delivery.hops
    assert hop.delay == 0.0
    assert hop.skew == 3.0
    assert delivery.total_seconds == 0.0
    assert delivery.skew_seconds == 3.0
    assert json.loads(json.dumps(delivery.to_dict()))["hops"][0]["skew"] == 3.0


_zones = st.integers(-12 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
_instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2037, 1, 1), timezones=_zones
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_instants, min_size=1, max_size=8), st.none() | _instants)
def test_delays_are_never_negative_whatever_the_clocks(
    stamps: list[datetime], sent: datetime | None
) -> None:
    headers = [
        f"Received: from h{i}.test by h{i + 1}.test with ESMTP; {email.utils.format_datetime(t)}"
        for i, t in enumerate(stamps)
    ]
    delivery = analyse_delivery(_message(*reversed(headers)), sent_at=sent)
    assert [hop.by_host for hop in delivery.hops] == [f"h{i + 1}.test" for i in range(len(stamps))]
    for hop in delivery.hops:
        assert hop.delay is None or hop.delay >= 0
        assert hop.skew is None or hop.skew > 0
        assert hop.time is not None
    assert delivery.total_seconds is None or delivery.total_seconds >= 0


_fragments = st.sampled_from(
    [GMAIL_IN, GMAIL_INTERNAL, M365_IN, M365_MAPI, POSTFIX_IN, EXIM_IN, EXIM_OLD, QMAIL_IN]
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_fragments | st.text(max_size=80), max_size=4).map(" ".join))
def test_any_received_text_parses_to_a_hop(value: str) -> None:
    hop = parse_received(value)
    assert hop.tls in (True, False, None)
    assert hop.delay is None
    json.dumps(hop.to_dict())


_ar_parts = st.sampled_from(
    [
        "mx.google.com;",
        "spf=pass (sender IP is 192.0.2.1) smtp.mailfrom=a.test;",
        "dkim=pass header.i=@a.test header.s=s1",
        "dmarc=fail (p=REJECT) header.from=a.test",
        "arc=pass (i=1)",
        "compauth=pass reason=100",
        "none",
        ";",
        "(",
        ")",
        "=",
        '"',
    ]
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_ar_parts | st.text(max_size=30), max_size=8).map(" ".join))
def test_any_authentication_results_text_never_raises(value: str) -> None:
    _, results, problem = parse_authentication_results(value)
    assert problem is None or "\n" not in problem
    for result in results:
        json.dumps(result.to_dict())
    delivery = analyse_delivery(
        _message(f"Authentication-Results: {value}"), authserv_ids=["mx.google.com"]
    )
    json.dumps(delivery.to_dict())
