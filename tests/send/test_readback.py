"""Readback: a test message sent through the lab, read back from the lab's mailbox, analysed.

Lab data: the good MX (mx1.good.test) files what it accepts after judging SPF, DKIM and
DMARC against the lab DNS (console/lab/mailbox.py). good.test signs with selector s2026
(console/lab/keys/good-s2026.pem) and publishes DMARC p=reject.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from importlib import resources

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
