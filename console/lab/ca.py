"""The lab's certificate authority: a CA made at start-up that issues the lab's TLS certificates.

Every lab server that speaks TLS (the HTTPS server for MTA-STS and BIMI, the SMTP roles)
gets its certificate here, and the console trusts the lab by adding `cafile` to its
verification store, exactly as it would add a company's private CA. Broken certificates
are part of the demo too (expired, not yet valid, for the wrong name, self-signed), so
`issue()` takes every knob a misconfigured server gets wrong.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import shutil
import ssl
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

KeyType = Literal["ec", "rsa", "ed25519"]
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey

SERVER_AUTH = ExtendedKeyUsageOID.SERVER_AUTH
CLIENT_AUTH = ExtendedKeyUsageOID.CLIENT_AUTH
BIMI_USAGE = ObjectIdentifier("1.3.6.1.5.5.7.3.31")
"""id-kp-BrandIndicatorforMessageIdentification: the usage a VMC or CMC carries."""

DEFAULT_LIFETIME = dt.timedelta(days=30)
_BACKDATE = dt.timedelta(hours=1)  # absorbs clock skew between the lab and its clients


@dataclass(frozen=True, slots=True)
class IssuedCert:
    """A certificate the lab CA issued, its key, and where both were written.

    Attributes:
        names: the DNS names and IP addresses in the subjectAltName, as asked for.
        certificate: the leaf certificate.
        key: its private key.
        certfile: PEM file holding the leaf followed by the issuing CA (a server's chain).
        keyfile: PEM file holding the private key (mode 0600).
    """

    names: tuple[str, ...]
    certificate: x509.Certificate
    key: PrivateKey
    certfile: Path
    keyfile: Path

    @property
    def pem(self) -> bytes:
        """The leaf certificate alone, PEM-encoded."""
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def server_context(self) -> ssl.SSLContext:
        """A TLS server context presenting this certificate and its chain."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.certfile, self.keyfile)
        return context


@dataclass(slots=True)
class LabCA:
    """A certificate authority living in a temporary directory until `cleanup()`.

    Args:
        directory: where to write the CA and every issued certificate; a new
            temporary directory (removed by `cleanup()`) when None.
        common_name: the CA's subject common name.
        lifetime: how long the CA certificate is valid from now.

    Attributes:
        cafile: the CA certificate as PEM: what clients add to their trust store.
    """

    directory: Path | None = None
    common_name: str = "mailscope lab CA"
    lifetime: dt.timedelta = dt.timedelta(days=365)
    certificate: x509.Certificate = field(init=False)
    key: ec.EllipticCurvePrivateKey = field(init=False, repr=False)
    cafile: Path = field(init=False)
    _owns_directory: bool = field(init=False, default=False)
    _issued: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        if self.directory is None:
            self.directory = Path(tempfile.mkdtemp(prefix="mailscope-lab-ca-"))
            self._owns_directory = True
        else:
            self.directory.mkdir(parents=True, exist_ok=True)
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "mailscope lab"),
                x509.NameAttribute(NameOID.COMMON_NAME, self.common_name),
            ]
        )
        public = self.key.public_key()
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _BACKDATE)
            .not_valid_after(now + self.lifetime)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        self.cafile = self.directory / "ca.pem"
        self.cafile.write_bytes(self.certificate.public_bytes(serialization.Encoding.PEM))

    @property
    def pem(self) -> bytes:
        """The CA certificate, PEM-encoded."""
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def issue(
        self,
        names: Sequence[str],
        *,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
        key_type: KeyType = "ec",
        rsa_bits: int = 2048,
        common_name: str | None = None,
        usages: Iterable[ObjectIdentifier] = (SERVER_AUTH,),
        self_signed: bool = False,
        label: str | None = None,
    ) -> IssuedCert:
        """Issue a leaf certificate for `names` and write it (with its key) to the directory.

        Args:
            names: DNS names (`*.example.test` allowed) and IP addresses for the
                subjectAltName; the first is also the common name unless given.
                May be empty only with an explicit `common_name`.
            not_before: start of validity (default: an hour ago). Pass a past
                `not_after` for an expired certificate, a future `not_before` for
                one not yet valid.
            not_after: end of validity (default: 30 days from now).
            key_type: `ec` (P-256, fast), `rsa` (`rsa_bits`) or `ed25519`.
            rsa_bits: RSA modulus size when key_type is `rsa`.
            common_name: the subject CN (default: the first name).
            usages: extended key usages (server auth by default; BIMI_USAGE for a
                VMC-like certificate, CLIENT_AUTH for a client certificate).
            self_signed: sign with the leaf's own key instead of the CA's: a
                certificate nobody trusts.
            label: file name stem (default: derived from the first name and a counter).

        Returns:
            The certificate, its key and the files written.

        Raises:
            ValueError: no names and no common name, or validity ending before it starts.
        """
        listed = tuple(names)
        if not listed and not common_name:
            raise ValueError("a certificate needs at least one name or a common name")
        now = dt.datetime.now(dt.UTC)
        start = not_before if not_before is not None else now - _BACKDATE
        end = not_after if not_after is not None else now + DEFAULT_LIFETIME
        if end <= start:
            raise ValueError("not_after must be later than not_before")
        key = _new_key(key_type, rsa_bits)
        public = key.public_key()
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "mailscope lab"),
                x509.NameAttribute(NameOID.COMMON_NAME, common_name or listed[0]),
            ]
        )
        issuer = subject if self_signed else self.certificate.subject
        signing_key: PrivateKey = key if self_signed else self.key
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    # RSA key exchange (TLS 1.2 kRSA) needs it; EC and EdDSA keys never encipher.
                    key_encipherment=key_type == "rsa",
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        )
        usage_list = list(usages)
        if usage_list:
            builder = builder.add_extension(x509.ExtendedKeyUsage(usage_list), critical=False)
        if listed:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([_general_name(name) for name in listed]),
                critical=False,
            )
        authority = public if self_signed else self.key.public_key()
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(authority), critical=False
        )
        algorithm = None if key_type == "ed25519" and self_signed else hashes.SHA256()
        certificate = builder.sign(signing_key, algorithm)

        self._issued += 1
        stem = label or f"{self._issued:03d}-{_file_stem(common_name or listed[0])}"
        assert self.directory is not None
        certfile = self.directory / f"{stem}.pem"
        keyfile = self.directory / f"{stem}.key"
        chain = certificate.public_bytes(serialization.Encoding.PEM)
        if not self_signed:
            chain += self.pem
        certfile.write_bytes(chain)
        keyfile.touch(mode=0o600)
        keyfile.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return IssuedCert(listed, certificate, key, certfile, keyfile)

    def cleanup(self) -> None:
        """Remove the temporary directory (a directory passed in is left alone)."""
        if self._owns_directory and self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)


def _new_key(key_type: KeyType, rsa_bits: int) -> PrivateKey:
    if key_type == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)
    if key_type == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(f"unknown key type {key_type!r} (ec, rsa or ed25519)")


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name.lower().rstrip("."))


def _file_stem(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "_", name).strip("._") or "cert"
