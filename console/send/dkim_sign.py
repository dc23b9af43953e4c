"""DKIM signing of test messages (dkimpy) and verification against a ResolverContext.

The key type picks the algorithm: RSA keys sign rsa-sha256 (RFC 8301 forbids sha1),
Ed25519 keys ed25519-sha256 (RFC 8463). RFC 8058 only honours one-click unsubscribe
when List-Unsubscribe and List-Unsubscribe-Post are covered by a valid signature, so
both are in the default header list.

Verification never touches the system resolver: the selector's TXT record is fetched
through the console's own ResolverContext first, then handed to dkimpy.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
from collections.abc import Sequence
from pathlib import Path

import dkim
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from console.auth.resolver import ResolverContext
from console.errors import MailscopeError
from console.files import UnreadableFile, read_regular_file

SIGNED_HEADERS: tuple[str, ...] = (
    "from",
    "to",
    "cc",
    "reply-to",
    "subject",
    "date",
    "message-id",
    "mime-version",
    "content-type",
    "list-unsubscribe",
    "list-unsubscribe-post",
)
"""Headers signed when present. From is signed twice so no second From can be added."""

MIN_RSA_BITS = 1024
"""RFC 8301 section 3.2: signers MUST use at least 1024 bits (and SHOULD use 2048)."""


KEY_FILE_LIMIT = 64 * 1024
"""A PEM private key is a few KB; anything larger is the wrong file."""


def read_key(path: str | Path) -> bytes:
    """The PEM text of a key file, or a one-line MailscopeError saying why not.

    Devices and FIFOs are refused unopened (reading one could block for ever).
    """
    path = Path(path).expanduser()
    try:
        return read_regular_file(path, KEY_FILE_LIMIT)
    except UnreadableFile as exc:
        reason = "too large for a PEM key" if exc.size is not None else exc.reason
        raise MailscopeError("Cannot read the DKIM key", f"{path}: {reason}") from None


def _load(key_pem: bytes | str) -> tuple[bytes, bytes]:
    """(signature algorithm, key in the form dkimpy wants) for a PEM private key."""
    data = key_pem.encode() if isinstance(key_pem, str) else key_pem
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise MailscopeError(
            "DKIM key is encrypted", "give an unencrypted PEM private key"
        ) from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise MailscopeError("DKIM key is not a PEM private key", reason) from None
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < MIN_RSA_BITS:
            raise MailscopeError(
                "DKIM key too short",
                f"{key.key_size}-bit RSA; RFC 8301 requires 1024 bits, use 2048",
            )
        # dkimpy reads PKCS#1 ("BEGIN RSA PRIVATE KEY") only.
        pkcs1 = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
        return b"rsa-sha256", pkcs1
    if isinstance(key, ed25519.Ed25519PrivateKey):
        # dkimpy (through PyNaCl) wants the 32-byte seed, base64-encoded.
        seed = key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        return b"ed25519-sha256", base64.b64encode(seed)
    raise MailscopeError(
        "Unsupported DKIM key type", f"{type(key).__name__}; DKIM signs with RSA or Ed25519"
    )


def key_algorithm(key_pem: bytes | str) -> str:
    """`rsa-sha256` or `ed25519-sha256` for this key; MailscopeError if it is unusable."""
    return _load(key_pem)[0].decode()


def _present(message_bytes: bytes) -> set[str]:
    parsed = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(message_bytes)
    return {name.lower() for name in parsed}


def sign(
    message_bytes: bytes,
    *,
    selector: str,
    domain: str,
    key_pem: bytes | str,
    headers: Sequence[str] = SIGNED_HEADERS,
) -> bytes:
    """The message with a DKIM-Signature header prepended.

    Args:
        message_bytes: the message as it goes on the wire (`compose.message_bytes`).
        selector: the s= value: the key is published at `<selector>._domainkey.<domain>`.
        domain: the d= value; DMARC alignment compares it with the From domain.
        key_pem: the private key, PEM (PKCS#8 or PKCS#1 RSA, PKCS#8 Ed25519).
        headers: header names to sign, those absent from the message are skipped.

    Raises:
        MailscopeError: the key is unusable or dkimpy refuses the message.
    """
    algorithm, key = _load(key_pem)
    present = _present(message_bytes)
    chosen = [name.lower() for name in headers if name.lower() in present]
    if "from" not in chosen:
        raise MailscopeError("Cannot DKIM-sign", "the message has no From header")
    chosen.append("from")  # oversigned: a From added in transit breaks the signature
    try:
        signature = dkim.sign(
            message_bytes,
            selector.encode("ascii"),
            domain.encode("ascii"),
            key,
            signature_algorithm=algorithm,
            include_headers=[name.encode("ascii") for name in chosen],
            linesep=b"\r\n",
        )
    except (dkim.DKIMException, UnicodeError, ValueError) as exc:
        raise MailscopeError("Cannot DKIM-sign", str(exc).splitlines()[0]) from None
    return signature + message_bytes


def signature_tags(message_bytes: bytes) -> dict[str, str]:
    """Tags of the first DKIM-Signature header (whitespace removed), or {} if none."""
    parsed = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(message_bytes)
    value = parsed.get("DKIM-Signature")
    if value is None:
        return {}
    tags: dict[str, str] = {}
    for part in "".join(str(value).split()).split(";"):
        name, sep, tag_value = part.partition("=")
        if sep and name and name not in tags:
            tags[name] = tag_value
    return tags


async def verify(message_bytes: bytes, ctx: ResolverContext) -> bool:
    """Does the first DKIM-Signature verify, with its key fetched through `ctx`?

    Returns False when there is no signature, the key record cannot be fetched, or the
    signature does not verify; never raises.
    """
    tags = signature_tags(message_bytes)
    selector, domain = tags.get("s"), tags.get("d")
    if not selector or not domain:
        return False
    name = f"{selector}._domainkey.{domain}".lower().rstrip(".")
    lookup = await ctx.query(name, "TXT")
    if not lookup.ok:
        return False
    texts = [strings for strings in lookup.txt_strings() if strings]
    if len(texts) != 1:  # RFC 6376 3.6.2.2: several key records are ambiguous
        return False
    record = b"".join(texts[0])

    def dnsfunc(qname: bytes | str, timeout: float = 5) -> bytes | None:
        asked = qname.decode() if isinstance(qname, bytes) else qname
        return record if asked.lower().rstrip(".") == name else None

    try:
        return bool(dkim.verify(message_bytes, dnsfunc=dnsfunc))
    except Exception:  # dkimpy raises assorted errors on hostile input; a bad sig is False
        return False
