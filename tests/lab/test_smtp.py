"""The lab's SMTP servers, spoken to by a plain, verifying aiosmtplib client over loopback.

A client that trusts the lab CA must be able to deliver to the good MX and submit through
the good submission ports exactly as it would in production; the misbehaving hosts must
listen where their names resolve.
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
from email.message import EmailMessage

import aiosmtplib
import pytest

from console.auth.resolver import ResolverContext
from console.lab import Lab
from console.lab.smtp import BAD_HOSTS, LAB_PASSWORD, LAB_USER
from console.ports.tlsinfo import spki_der


def message(to: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "sender@example.org"
    msg["To"] = to
    msg["Subject"] = "lab delivery"
    msg.set_content("hello")
    return msg


def test_lab_publishes_the_smtp_roles_and_per_host_ports(lab: Lab) -> None:
    assert {25, 465, 587} <= set(lab.ports)
    assert len({lab.ports[25], lab.ports[465], lab.ports[587]}) == 3
    for bad in BAD_HOSTS:
        assert lab.services.port_for(bad.host, bad.port) == lab.host_ports[(bad.host, bad.port)]
    assert "ports-tarpit.test" in lab.describe()["probe_domains"]


async def test_good_mx_accepts_local_mail_over_verified_starttls(lab: Lab) -> None:
    smtp = aiosmtplib.SMTP(
        hostname="127.0.1.1",
        port=lab.ports[25],
        start_tls=False,
        timeout=5,
        cert_bundle=str(lab.cafile),
        validate_certs=True,
    )
    async with smtp:
        await smtp.starttls(server_hostname="mx1.good.test")
        assert smtp.get_transport_info("ssl_object").version() in ("TLSv1.2", "TLSv1.3")
        errors, reply = await smtp.send_message(message("postmaster@good.test"))
        assert errors == {}
        assert reply.startswith("2.0.0 Ok: queued as LAB")
        with pytest.raises(aiosmtplib.SMTPRecipientsRefused):
            await smtp.send_message(message("victim@example.net"))  # no open relay
    assert lab.smtp is not None
    assert any("postmaster@good.test" in m.rcpt_tos for m in lab.smtp.mx_handler.received)


async def test_good_mx_also_answers_on_ipv6_as_mx1(lab: Lab) -> None:
    smtp = aiosmtplib.SMTP(hostname="::1", port=lab.ports[25], start_tls=False, timeout=5)
    async with smtp:
        response = await smtp.ehlo()
        assert response.message.startswith("mx1.good.test")


async def test_submission_requires_tls_before_auth_and_takes_the_lab_user(lab: Lab) -> None:
    smtp = aiosmtplib.SMTP(
        hostname="127.0.1.3",
        port=lab.ports[587],
        start_tls=False,
        timeout=5,
        cert_bundle=str(lab.cafile),
    )
    async with smtp:
        await smtp.ehlo()
        assert "auth" not in smtp.esmtp_extensions
        await smtp.starttls(server_hostname="smtp.good.test")
        await smtp.ehlo()
        assert smtp.supported_auth_methods
        await smtp.login(LAB_USER, LAB_PASSWORD)
        errors, _ = await smtp.send_message(message("anyone@example.net"))  # authenticated
        assert errors == {}
    # aiosmtplib verifies the name it connects to (an address here): the probe tests check
    # the 465 certificate against smtp.good.test; this checks the wrong password.
    implicit = aiosmtplib.SMTP(
        hostname="127.0.1.3", port=lab.ports[465], use_tls=True, timeout=5, validate_certs=False
    )
    async with implicit:
        with pytest.raises(aiosmtplib.SMTPAuthenticationError):
            await implicit.login(LAB_USER, "not the password")


async def test_good_mx_certificate_key_is_the_one_pinned_in_dns(
    lab: Lab, ctx: ResolverContext
) -> None:
    lookup = await ctx.query("_25._tcp.mx1.good.test", "TLSA", dnssec=True)
    assert lookup.ok
    assert lookup.signatures is not None
    (record,) = lookup.records
    smtp = aiosmtplib.SMTP(hostname="127.0.1.1", port=lab.ports[25], start_tls=False, timeout=5)
    async with smtp:
        await smtp.starttls(server_hostname="mx1.good.test", validate_certs=False)
        der = smtp.get_transport_info("ssl_object").getpeercert(binary_form=True)
    from cryptography import x509

    spki = spki_der(x509.load_der_x509_certificate(der))
    assert (record.usage, record.selector, record.mtype) == (3, 1, 1)
    assert bytes(record.cert) == hashlib.sha256(spki).digest()


async def test_bad_hosts_listen_where_their_names_resolve(lab: Lab, ctx: ResolverContext) -> None:
    for bad in BAD_HOSTS:
        lookup = await ctx.query(bad.host, "A")
        assert lookup.addresses() == [bad.address], bad.host
        ptr = await ctx.query(".".join(reversed(bad.address.split("."))) + ".in-addr.arpa", "PTR")
        assert [r.target.to_text(omit_final_dot=True) for r in ptr.records] == [bad.host]
        port = lab.host_ports[(bad.host, bad.port)]
        _reader, writer = await asyncio.wait_for(asyncio.open_connection(bad.address, port), 2)
        writer.close()


async def test_egress_port_drops_connections_like_a_firewall(lab: Lab) -> None:
    port = lab.host_ports[("mx1.ports-egress.test", 25)]
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    sock.setblocking(False)
    try:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3):
                await loop.sock_connect(sock, ("127.0.6.1", port))
    finally:
        sock.close()
