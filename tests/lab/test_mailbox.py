"""The lab's receiving mailbox: the good MX judges, stamps and files what it accepts.

Lab data: good.test publishes `v=spf1 mx include:_spf.google.com ip4:192.0.2.10 -all`,
DMARC p=reject with adkim=s, and the RSA key s2026 (console/lab/keys/good-s2026.pem).
Lab clients connect from 127.0.0.1, which good.test does not authorise; submitted mail
is judged as coming from the relay address 192.0.2.10, which it does.
"""

from __future__ import annotations

from importlib import resources

from console.auth.resolver import ResolverContext
from console.lab import Lab
from console.lab.mailbox import INBOX, RELAY_IP, SPAM, LabMailbox
from console.send import dkim_sign
from console.send.compose import TestMessage, build_message, message_bytes
from console.send.guard import SendGuard
from console.send.smtp import send_smtp

KEY = (resources.files("console.lab") / "keys" / "good-s2026.pem").read_bytes()


def make(from_addr: str = "demo@good.test", *, signed: bool = True) -> tuple[str, bytes]:
    spec = TestMessage(from_addr=from_addr, to="seed@good.test", subject="mailbox test")
    data = message_bytes(build_message(spec))
    if signed:
        data = dkim_sign.sign(data, selector="s2026", domain="good.test", key_pem=KEY)
    return spec.test_id, data


async def deliver_direct(ctx: ResolverContext, data: bytes) -> None:
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


def mailbox_of(lab: Lab) -> LabMailbox:
    assert lab.smtp is not None
    assert lab.smtp.mx_handler.mailbox is not None
    return lab.smtp.mx_handler.mailbox


def auth_results(data: bytes) -> str:
    head = data.split(b"\r\n\r\n", 1)[0].decode()
    unfolded = head.replace("\r\n\t", " ")
    return next(line for line in unfolded.split("\r\n") if line.startswith("Authentication-"))


async def test_signed_direct_send_passes_dkim_and_dmarc_and_lands_in_inbox(
    ctx: ResolverContext, lab: Lab
) -> None:
    test_id, data = make()
    await deliver_direct(ctx, data)
    stored = mailbox_of(lab).find("seed@good.test", test_id)
    assert stored is not None
    assert stored.folder == INBOX
    header = auth_results(stored.data)
    assert header.startswith("Authentication-Results: mx1.good.test;")
    assert "dkim=pass header.d=good.test header.s=s2026" in header
    assert "dmarc=pass (p=reject) header.from=good.test" in header
    # A direct send comes from 127.0.0.1, which good.test's SPF does not list: the
    # receiver says so, and DMARC still passes on the aligned DKIM signature.
    assert "spf=fail smtp.mailfrom=demo@good.test" in header
    assert stored.evaluation.sending_ip == "127.0.0.1"
    received = stored.data.decode().split("Received: ", 1)[1].split("\r\nDKIM-Signature", 1)[0]
    assert "by mx1.good.test" in received
    assert "with ESMTPS (version=TLS1_" in received
    assert "for <seed@good.test>" in received
    assert stored.data.endswith(data)  # the message itself is untouched below the stamps


async def test_unsigned_mail_from_a_reject_domain_goes_to_spam(
    ctx: ResolverContext, lab: Lab
) -> None:
    test_id, data = make(signed=False)
    await deliver_direct(ctx, data)
    stored = mailbox_of(lab).find("seed@good.test", test_id)
    assert stored is not None
    assert stored.folder == SPAM
    header = auth_results(stored.data)
    assert "dkim=none" in header
    assert "dmarc=fail (p=reject) header.from=good.test" in header
    assert stored in mailbox_of(lab).messages("seed@good.test", SPAM)
    assert stored not in mailbox_of(lab).messages("seed@good.test", INBOX)


async def test_submitted_mail_is_judged_from_the_relay_address(lab: Lab) -> None:
    mailbox = LabMailbox(lambda: lab.resolver(timeout=2.0))
    test_id, data = make(signed=False)
    stored = await mailbox.deliver(
        data,
        peer=("127.0.0.1", 40000),
        mail_from="demo@good.test",
        rcpt_tos=["Seed@Good.Test"],
        helo="client.example",
        by_host="mx1.good.test",
        tls=None,
        submitted=True,
        queue_id="LAB999999",
    )
    assert [m.recipient for m in stored] == ["seed@good.test"]
    evaluation = stored[0].evaluation
    assert evaluation.sending_ip == RELAY_IP
    assert evaluation.spf == "pass"  # ip4:192.0.2.10 in good.test's record
    assert evaluation.dmarc == "pass"  # SPF aligned (aspf=r, same domain)
    assert stored[0].folder == INBOX
    head = stored[0].data[: -len(data)].replace(b"\r\n\t", b" ").decode()
    mx_hop, submission_hop = (line for line in head.split("\r\n") if line.startswith("Received"))
    assert mx_hop.startswith("Received: from smtp.good.test ([192.0.2.10]) by mx1.good.test")
    assert submission_hop.startswith("Received: from client.example ([127.0.0.1])")
    assert "with ESMTPA id LAB999999" in submission_hop
    assert mailbox.find("seed@good.test", test_id) is stored[0]


async def test_hostile_identifiers_never_split_the_header(lab: Lab) -> None:
    mailbox = LabMailbox(lambda: lab.resolver(timeout=0.5, retries=0))
    data = (
        b"From: x@evil.test\r\n"
        b"DKIM-Signature: v=1; a=rsa-sha256; d=evil.test;dmarc=pass; s=x(y); b=AAAA; bh=AAAA\r\n"
        b"Subject: hi\r\n\r\nbody\r\n"
    )
    stored = await mailbox.deliver(
        data,
        peer=("127.0.0.1", 1),
        mail_from="a;dmarc=pass@evil.test",
        rcpt_tos=["seed@good.test"],
        helo="bad\r\nX-Injected: 1",
        by_host="mx1.good.test",
        tls=None,
        submitted=False,
        queue_id="LAB000000",
    )
    head = stored[0].data[: -len(data)].decode()
    assert "X-Injected" not in head
    assert head.count("dmarc=") == 1
    assert "header.s=" not in head  # `x(y)` is not a safe token: left out, not mangled
    assert stored[0].evaluation.dkim == "fail"
