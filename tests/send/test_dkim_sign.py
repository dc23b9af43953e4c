"""DKIM signing with the lab's keys, verified against the lab DNS (never the system's)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from console.errors import MailscopeError
from console.send.compose import TestMessage, build_message, message_bytes
from console.send.dkim_sign import key_algorithm, read_key, sign, signature_tags, verify

KEYS = Path(__file__).resolve().parents[2] / "console" / "lab" / "keys"


def raw_message() -> bytes:
    return message_bytes(
        build_message(
            TestMessage(
                from_addr="Ann <ann@good.test>",
                to="seed@good.test",
                subject="DKIM test",
                html="<p>Signed.</p>",
                list_unsubscribe_mailto="unsubscribe@good.test",
                list_unsubscribe_https="https://good.test/u?id=1",
            )
        )
    )


@pytest.mark.parametrize(
    ("selector", "keyfile", "algorithm"),
    [("s2026", "good-s2026.pem", "rsa-sha256"), ("ed2026", "good-ed2026.pem", "ed25519-sha256")],
)
async def test_signature_verifies_against_lab_dns(ctx, selector, keyfile, algorithm):
    signed = sign(
        raw_message(), selector=selector, domain="good.test", key_pem=read_key(KEYS / keyfile)
    )
    tags = signature_tags(signed)
    assert tags["a"] == algorithm
    assert (tags["s"], tags["d"]) == (selector, "good.test")
    signed_headers = tags["h"].split(":")
    # RFC 8058 section 4: one-click counts only when both headers are signed.
    assert {"list-unsubscribe", "list-unsubscribe-post", "from", "subject"} <= set(signed_headers)
    assert signed_headers.count("from") == 2  # oversigned against an added From
    assert await verify(signed, ctx)


async def test_tampering_breaks_the_signature(ctx):
    signed = sign(
        raw_message(),
        selector="s2026",
        domain="good.test",
        key_pem=read_key(KEYS / "good-s2026.pem"),
    )
    assert not await verify(signed.replace(b"Signed.", b"Forged."), ctx)
    assert not await verify(signed.replace(b"https://good.test/u", b"https://evil.test/u"), ctx)


async def test_wrong_selector_or_missing_key_does_not_verify(ctx):
    message = raw_message()
    # Signed with the RSA key but claiming the Ed25519 selector: the DNS key differs.
    mislabelled = sign(
        message, selector="ed2026", domain="good.test", key_pem=read_key(KEYS / "good-s2026.pem")
    )
    assert not await verify(mislabelled, ctx)
    nowhere = sign(
        message, selector="nope", domain="good.test", key_pem=read_key(KEYS / "good-s2026.pem")
    )
    assert not await verify(nowhere, ctx)
    broken_dns = sign(
        message, selector="s1", domain="servfail.test", key_pem=read_key(KEYS / "good-s2026.pem")
    )
    assert not await verify(broken_dns, ctx)
    assert not await verify(message, ctx)  # unsigned


def test_bad_key_files_give_one_line_errors(tmp_path):
    with pytest.raises(MailscopeError) as missing:
        read_key(tmp_path / "absent.pem")
    assert missing.value.title == "Cannot read the DKIM key"
    fifo = tmp_path / "key.pem"
    os.mkfifo(fifo)
    with pytest.raises(MailscopeError, match="not a regular file"):
        read_key(fifo)  # opening it would wait for a writer for ever
    (tmp_path / "big.pem").write_bytes(b"x" * 100_000)
    with pytest.raises(MailscopeError, match="too large"):
        read_key(tmp_path / "big.pem")
    garbage = b"-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n"
    for bad in (b"", b"hello", garbage):
        with pytest.raises(MailscopeError) as caught:
            sign(raw_message(), selector="s", domain="good.test", key_pem=bad)
        assert caught.value.title == "DKIM key is not a PEM private key"
        assert "\n" not in str(caught.value)


def test_encrypted_keys_are_refused_and_1024_bit_keys_allowed():
    key = serialization.load_pem_private_key(read_key(KEYS / "good-s2026.pem"), password=None)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )
    with pytest.raises(MailscopeError, match="encrypted"):
        key_algorithm(encrypted)
    # RFC 8301's floor is 1024 bits (2048 recommended): still signable.
    assert key_algorithm(read_key(KEYS / "dkim1024-s1.pem")) == "rsa-sha256"


def test_message_without_from_cannot_be_signed():
    with pytest.raises(MailscopeError, match="no From"):
        sign(
            b"To: a@good.test\r\nSubject: x\r\n\r\nbody\r\n",
            selector="s2026",
            domain="good.test",
            key_pem=read_key(KEYS / "good-s2026.pem"),
        )
