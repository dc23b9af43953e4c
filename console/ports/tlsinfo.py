"""What a presented certificate chain says: names, dates, trust, and DANE TLSA matches.

The probe's own handshake never verifies (it must see the certificate to report on it,
even a bad one), so trust is decided here, offline, with cryptography's RFC 5280 path
builder against the system store plus an extra CA file (the lab's, or `--cafile`).
Trust and the host name are judged apart, so "untrusted" and "wrong name" are
separate findings. DANE (RFC 7672) matching follows RFC 6698 section 2.1: usage,
selector, matching type; only DANE-TA(2) and DANE-EE(3) count for SMTP.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import ipaddress
import ssl
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtensionOID, NameOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from console.ports.model import Certificate

EXPIRY_WARN_DAYS = 14
"""A certificate with fewer days left than this is about to break delivery: warn."""

_SHA256 = hashes.SHA256()

DANE_USAGES = {0: "PKIX-TA", 1: "PKIX-EE", 2: "DANE-TA", 3: "DANE-EE"}
DANE_SELECTORS = {0: "full certificate", 1: "SubjectPublicKeyInfo"}
DANE_MATCHING = {0: "exact", 1: "SHA-256", 2: "SHA-512"}

DANE_EXPLAINED: dict[str, str] = {
    "TLSA": "A DNS record at _25._tcp.MX-HOST pinning the certificate or key the MX must "
    "present; only trusted when the zone is DNSSEC-signed (RFC 7672).",
    "3 1 1": "DANE-EE, public key, SHA-256: the server's own key, whatever its name or "
    "expiry date. The usual choice; republish it before changing the key.",
    "2 1 1": "DANE-TA, public key, SHA-256: a CA key in the chain the server sends; the "
    "certificate must also name the MX host.",
    "PKIX-TA/PKIX-EE": "Usages 0 and 1 are unusable for SMTP (RFC 7672 3.1.3): senders "
    "treat them as if absent.",
}
"""Plain-words meaning of DANE terms for the console's help."""


def parse_der(der: bytes) -> x509.Certificate | None:
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError:
        return None


def _name_text(name: x509.Name) -> str:
    try:
        return name.rfc4514_string()
    except ValueError:
        return "(unreadable name)"


def _common_names(cert: x509.Certificate) -> list[str]:
    try:
        return [
            str(attr.value) for attr in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        ]
    except ValueError:
        return []


def sans(cert: x509.Certificate) -> list[str]:
    """DNS names and IP addresses of the subjectAltName, as text."""
    try:
        extension = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    except (x509.ExtensionNotFound, ValueError):
        return []
    names: list[str] = [str(name) for name in extension.value.get_values_for_type(x509.DNSName)]
    names += [str(ip) for ip in extension.value.get_values_for_type(x509.IPAddress)]
    return names


def name_matches(pattern: str, host: str) -> bool:
    """RFC 6125 6.4: exact (case-insensitive), or `*` as the whole leftmost label."""
    pattern = pattern.lower().rstrip(".")
    host = host.lower().rstrip(".")
    if pattern == host:
        return True
    if pattern.startswith("*.") and "*" not in pattern[2:]:
        first, dot, rest = host.partition(".")
        return bool(first) and bool(dot) and rest == pattern[2:] and "." in rest
    return False


def hostname_matches(cert: x509.Certificate, host: str) -> bool:
    """Whether the certificate covers `host` (subjectAltName; CN only when there is none)."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        address = None
    names = sans(cert)
    if address is not None:
        return any(_same_ip(name, address) for name in names)
    candidates = names or _common_names(cert)
    return any(name_matches(name, host) for name in candidates)


def _same_ip(text: str, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    try:
        return ipaddress.ip_address(text) == address
    except ValueError:
        return False


def is_self_signed(cert: x509.Certificate) -> bool:
    """Issued by itself: subject equals issuer and its own key verifies the signature."""
    if cert.subject != cert.issuer:
        return False
    return _issued_by(cert, cert)


@functools.lru_cache(maxsize=8)
def _load_store_certs(cafile: str | None) -> tuple[x509.Certificate, ...]:
    """System trust anchors (OpenSSL's default file and directory) plus `cafile`."""
    found: list[x509.Certificate] = []
    paths = ssl.get_default_verify_paths()
    files = [paths.cafile, paths.openssl_cafile]
    for name in dict.fromkeys(f for f in files if f):
        found += _read_pem(Path(name))
    if not found:
        for directory in dict.fromkeys(d for d in (paths.capath, paths.openssl_capath) if d):
            folder = Path(directory)
            if folder.is_dir():
                for entry in sorted(folder.iterdir())[:2000]:
                    if entry.suffix in (".pem", ".crt") or entry.name[-2:-1] == ".":
                        found += _read_pem(entry)
    if cafile:
        found += _read_pem(Path(cafile))
    unique = {cert.fingerprint(_SHA256): cert for cert in found}
    return tuple(unique.values())


def _read_pem(path: Path) -> list[x509.Certificate]:
    try:
        data = path.read_bytes()
    except OSError:
        return []
    with warnings.catch_warnings():
        # Some system roots have non-positive serial numbers; they still anchor trust.
        warnings.simplefilter("ignore")
        try:
            return list(x509.load_pem_x509_certificates(data))
        except ValueError:
            return []


def check_cafile(cafile: str | None) -> str | None:
    """None when `cafile` holds at least one PEM certificate (or is None); else why not."""
    if not cafile:
        return None
    path = Path(cafile)
    if not path.is_file():
        return f"{cafile}: no such file"
    if not _read_pem(path):
        return f"{cafile}: no PEM certificate in it"
    return None


def _verify(
    leaf: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    anchors: tuple[x509.Certificate, ...],
    name: str,
    when: dt.datetime,
) -> str | None:
    """None when a path from `leaf` to a trust anchor exists for `name` at `when`."""
    if not anchors:
        return "no trusted CA certificates available"
    try:
        subject: x509.GeneralName
        try:
            subject = x509.IPAddress(ipaddress.ip_address(name))
        except ValueError:
            subject = x509.DNSName(name)
        verifier = (
            PolicyBuilder().store(Store(list(anchors))).time(when).build_server_verifier(subject)
        )
        verifier.verify(leaf, list(intermediates))
    except VerificationError as exc:
        return str(exc)
    except (ValueError, TypeError) as exc:
        return f"cannot verify: {exc}"
    return None


def describe_chain(
    chain_der: Sequence[bytes],
    host: str,
    *,
    cafile: str | None = None,
    now: dt.datetime | None = None,
) -> Certificate | None:
    """Everything the probe reports about the presented chain (leaf first).

    Args:
        chain_der: DER certificates as the server sent them, leaf first.
        host: the name the client asked for (SNI); the hostname check uses it.
        cafile: extra trusted CAs (PEM), besides the system store.
        now: the time to judge validity at (default: now).

    Returns:
        A Certificate, or None when the leaf cannot be parsed.
    """
    certs = [cert for cert in (parse_der(der) for der in chain_der) if cert is not None]
    if not chain_der or not certs or parse_der(chain_der[0]) is None:
        return None
    leaf = certs[0]
    when = now or dt.datetime.now(dt.UTC)
    not_before = leaf.not_valid_before_utc
    not_after = leaf.not_valid_after_utc
    # Truncated toward zero: "4 days left" until the fifth day runs out; past expiry the
    # `expired` trust error (not the sign of this number) is what counts.
    days_left = int((not_after - when).total_seconds() / 86400)
    names = sans(leaf)
    self_signed = is_self_signed(leaf)
    anchors = _load_store_certs(cafile)
    # Trust judged for a name the certificate surely covers, so that a wrong host name is
    # its own finding instead of hiding an untrusted chain (or the other way round).
    probe_name = next((n for n in names if "*" not in n), None)
    if probe_name is None and names:
        probe_name = "x" + names[0].lstrip("*")
    if probe_name is None:
        trust_error: str | None = "the certificate has no subjectAltName, so no client accepts it"
    else:
        trust_error = _verify(leaf, certs[1:], anchors, probe_name, when)
        if trust_error and not_before <= not_after:
            # Trusted but out of its dates? Then "expired" is the whole story.
            inside = not_before + (not_after - not_before) / 2
            if when > not_after or when < not_before:
                again = _verify(leaf, certs[1:], anchors, probe_name, inside)
                # A CA younger than the leaf's validity (the lab's) fails at any earlier
                # instant too; the leaf's own dates are then still the first problem.
                if again is None or "validation time" in again:
                    trust_error = "expired" if when > not_after else "not yet valid"
    if self_signed and trust_error and not _anchored(leaf, anchors):
        trust_error = "self-signed"
    return Certificate(
        subject=_name_text(leaf.subject),
        issuer=_name_text(leaf.issuer),
        sans=names,
        not_before=_iso(not_before),
        not_after=_iso(not_after),
        days_left=days_left,
        hostname_match=hostname_matches(leaf, host),
        trusted=trust_error is None,
        self_signed=self_signed,
        trust_error=trust_error,
        sha256=hashlib.sha256(chain_der[0]).hexdigest(),
        spki_sha256=hashlib.sha256(spki_der(leaf)).hexdigest(),
        chain=[
            {
                "subject": _name_text(cert.subject),
                "issuer": _name_text(cert.issuer),
                "not_after": _iso(cert.not_valid_after_utc),
            }
            for cert in certs
        ],
    )


def _anchored(cert: x509.Certificate, anchors: tuple[x509.Certificate, ...]) -> bool:
    digest = cert.fingerprint(_SHA256)
    return any(anchor.fingerprint(_SHA256) == digest for anchor in anchors)


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def spki_der(cert: x509.Certificate) -> bytes:
    return cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


# -- DANE -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Tlsa:
    """One TLSA record (RFC 6698 2.1)."""

    usage: int
    selector: int
    mtype: int
    data: bytes

    @property
    def text(self) -> str:
        return f"{self.usage} {self.selector} {self.mtype} {self.data.hex()}"

    @property
    def usable(self) -> bool:
        """RFC 7672 3.1.3: only DANE-TA(2) and DANE-EE(3) with known selector and type."""
        return self.usage in (2, 3) and self.selector in (0, 1) and self.mtype in (0, 1, 2)


def tlsa_from_rdata(records: Sequence[Any]) -> list[Tlsa]:
    """dnspython TLSA rdata to Tlsa values (anything else is skipped)."""
    found: list[Tlsa] = []
    for record in records:
        try:
            found.append(
                Tlsa(int(record.usage), int(record.selector), int(record.mtype), bytes(record.cert))
            )
        except (AttributeError, TypeError, ValueError):
            continue
    return found


def association_data(cert: x509.Certificate, selector: int, mtype: int) -> bytes | None:
    """What a TLSA record with this selector and matching type holds for `cert`."""
    if selector == 0:
        content = cert.public_bytes(serialization.Encoding.DER)
    elif selector == 1:
        content = spki_der(cert)
    else:
        return None
    if mtype == 0:
        return content
    if mtype == 1:
        return hashlib.sha256(content).digest()
    if mtype == 2:
        return hashlib.sha512(content).digest()
    return None


def tlsa_record_for(host: str, cert: x509.Certificate, port: int = 25) -> str:
    """The `3 1 1` record to publish for `cert` at `_PORT._tcp.HOST`, as a zone-file line."""
    digest = association_data(cert, 1, 1)
    assert digest is not None
    return f"_{port}._tcp.{host.rstrip('.')}. 3600 IN TLSA 3 1 1 {digest.hex()}"


def _issued_by(child: x509.Certificate, parent: x509.Certificate) -> bool:
    try:
        child.verify_directly_issued_by(parent)
    except Exception:
        return False
    return True


def dane_match(records: Sequence[Tlsa], chain_der: Sequence[bytes], host: str) -> dict[str, Any]:
    """Match TLSA records against a presented chain (leaf first), per RFC 7672 3.1.

    DANE-EE(3) matches the leaf alone, whatever its names and dates. DANE-TA(2) matches a
    certificate the server sent after the leaf, and the chain from the leaf up to it must
    verify and the leaf must name `host`. PKIX usages (0, 1) are unusable for SMTP.

    Returns:
        {"records": [text], "usable": n, "matched": [text] , "match": bool}
    """
    certs = [parse_der(der) for der in chain_der]
    chain = [cert for cert in certs if cert is not None]
    matched: list[str] = []
    for record in records:
        if not record.usable or not chain:
            continue
        if record.usage == 3:
            if association_data(chain[0], record.selector, record.mtype) == record.data:
                matched.append(record.text)
            continue
        for index in range(1, len(chain)):
            if association_data(chain[index], record.selector, record.mtype) != record.data:
                continue
            path_ok = all(_issued_by(chain[i], chain[i + 1]) for i in range(index))
            if path_ok and hostname_matches(chain[0], host):
                matched.append(record.text)
                break
    return {
        "records": [record.text for record in records],
        "usable": sum(1 for record in records if record.usable),
        "matched": matched,
        "match": bool(matched),
    }
