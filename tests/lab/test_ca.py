"""The lab CA issues certificates that real TLS clients accept, or reject for the right reason."""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtensionOID

from console.lab.ca import BIMI_USAGE, IssuedCert, LabCA


@pytest.fixture(scope="module")
def ca() -> Iterator[LabCA]:
    authority = LabCA()
    yield authority
    authority.cleanup()


def client_context(ca: LabCA) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca.cafile))
    return context


async def handshake(cert: IssuedCert, server_name: str, client: ssl.SSLContext) -> str | None:
    """A real TLS handshake over loopback; the client's verification error, or None."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"ok")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=cert.server_context())
    port = server.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, ssl=client, server_hostname=server_name),
            5,
        )
    except ssl.SSLCertVerificationError as exc:
        return exc.verify_message
    else:
        assert await reader.read() == b"ok"
        writer.close()
        return None
    finally:
        server.close()
        await server.wait_closed()


def test_ca_certificate_is_a_ca_written_to_cafile(ca: LabCA) -> None:
    assert ca.cafile.exists()
    loaded = x509.load_pem_x509_certificate(ca.cafile.read_bytes())
    assert loaded == ca.certificate
    constraints = loaded.extensions.get_extension_for_oid(ExtensionOID.BASIC_CONSTRAINTS)
    assert constraints.critical
    assert constraints.value.ca
    assert loaded.issuer == loaded.subject


async def test_issued_certificate_is_trusted_for_its_names(ca: LabCA) -> None:
    cert = ca.issue(["mta-sts.example.test", "127.0.0.1"])
    client = client_context(ca)
    assert await handshake(cert, "mta-sts.example.test", client) is None
    assert await handshake(cert, "127.0.0.1", client) is None


async def test_wrong_name_is_rejected(ca: LabCA) -> None:
    cert = ca.issue(["www.example.test"])
    error = await handshake(cert, "mta-sts.example.test", client_context(ca))
    assert error is not None
    assert "mismatch" in error.lower()


async def test_expired_and_not_yet_valid_certificates_are_rejected(ca: LabCA) -> None:
    now = dt.datetime.now(dt.UTC)
    expired = ca.issue(
        ["old.example.test"],
        not_before=now - dt.timedelta(days=90),
        not_after=now - dt.timedelta(days=1),
    )
    future = ca.issue(["new.example.test"], not_before=now + dt.timedelta(days=2))
    client = client_context(ca)
    assert "expired" in (await handshake(expired, "old.example.test", client) or "")
    assert "not yet valid" in (await handshake(future, "new.example.test", client) or "")


async def test_self_signed_certificate_is_not_trusted(ca: LabCA) -> None:
    cert = ca.issue(["self.example.test"], self_signed=True)
    error = await handshake(cert, "self.example.test", client_context(ca))
    assert error is not None
    assert "self-signed" in error.lower()


async def test_certificate_from_another_ca_is_not_trusted(ca: LabCA) -> None:
    other = LabCA(common_name="someone else")
    try:
        cert = other.issue(["mta-sts.example.test"])
        error = await handshake(cert, "mta-sts.example.test", client_context(ca))
        assert error is not None
        assert "self-signed certificate in certificate chain" in error
    finally:
        other.cleanup()


@pytest.mark.parametrize(
    ("key_type", "expected"),
    [
        ("ec", ec.EllipticCurvePrivateKey),
        ("rsa", rsa.RSAPrivateKey),
        ("ed25519", ed25519.Ed25519PrivateKey),
    ],
)
def test_key_types(ca: LabCA, key_type: str, expected: type) -> None:
    cert = ca.issue(["k.example.test"], key_type=key_type)  # type: ignore[arg-type]
    assert isinstance(cert.key, expected)
    cert.certificate.verify_directly_issued_by(ca.certificate)


async def test_rsa_certificate_serves_tls(ca: LabCA) -> None:
    cert = ca.issue(["rsa.example.test"], key_type="rsa")
    assert await handshake(cert, "rsa.example.test", client_context(ca)) is None


def test_key_file_is_private_and_chain_includes_the_ca(ca: LabCA) -> None:
    cert = ca.issue(["files.example.test"])
    assert stat.S_IMODE(cert.keyfile.stat().st_mode) == 0o600
    chain = x509.load_pem_x509_certificates(cert.certfile.read_bytes())
    assert chain == [cert.certificate, ca.certificate]


def test_usages_and_subject_alternative_names(ca: LabCA) -> None:
    cert = ca.issue(["brand.example.test"], usages=[BIMI_USAGE])
    usages = cert.certificate.extensions.get_extension_for_oid(ExtensionOID.EXTENDED_KEY_USAGE)
    assert list(usages.value) == [BIMI_USAGE]
    names = cert.certificate.extensions.get_extension_for_oid(
        ExtensionOID.SUBJECT_ALTERNATIVE_NAME
    ).value.get_values_for_type(x509.DNSName)
    assert names == ["brand.example.test"]


def test_bad_arguments_raise(ca: LabCA) -> None:
    now = dt.datetime.now(dt.UTC)
    with pytest.raises(ValueError, match="name"):
        ca.issue([])
    with pytest.raises(ValueError, match="not_after"):
        ca.issue(["x.example.test"], not_before=now, not_after=now - dt.timedelta(days=1))
    with pytest.raises(ValueError, match="key type"):
        ca.issue(["x.example.test"], key_type="dsa")  # type: ignore[arg-type]


def test_cleanup_removes_only_its_own_directory(tmp_path: Path) -> None:
    own = LabCA()
    assert own.directory is not None
    assert own.directory.exists()
    own.cleanup()
    assert not own.directory.exists()
    given = LabCA(directory=tmp_path / "ca")
    given.cleanup()
    assert (tmp_path / "ca" / "ca.pem").exists()


def test_lab_publishes_its_cafile(lab) -> None:
    assert lab.cafile is not None
    assert lab.cafile.exists()
    assert lab.services.cafile == lab.cafile
    assert lab.describe()["cafile"] == str(lab.cafile)
    assert lab.ports[443] == lab.https.port
