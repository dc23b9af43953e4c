"""Certificate facts and DANE matching, on certificates the lab CA issues.

Trust is judged against the system store plus the lab CA file; the host name apart.
DANE per RFC 7672: usages 2 and 3 count, selectors 0/1, matching types 0/1/2.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from importlib import resources

import pytest
from cryptography.hazmat.primitives import serialization

from console.lab.ca import IssuedCert, LabCA
from console.lab.smtp import good_mx_key, issue_with_key
from console.ports.tlsinfo import (
    Tlsa,
    association_data,
    check_cafile,
    dane_match,
    describe_chain,
    hostname_matches,
    name_matches,
    spki_der,
    tlsa_record_for,
)


@pytest.fixture(scope="module")
def ca() -> Iterator[LabCA]:
    authority = LabCA()
    yield authority
    authority.cleanup()


def der(cert: IssuedCert | LabCA) -> bytes:
    return cert.certificate.public_bytes(serialization.Encoding.DER)


@pytest.mark.parametrize(
    ("pattern", "host", "expected"),
    [
        ("mx.example.com", "MX.Example.com.", True),
        ("*.example.com", "mx.example.com", True),
        ("*.example.com", "a.b.example.com", False),
        ("*.example.com", "example.com", False),
        ("*.com", "example.com", False),  # a wildcard never covers a whole registrable name
        ("m*.example.com", "mx.example.com", False),
        ("other.example.com", "mx.example.com", False),
    ],
)
def test_name_matches_per_rfc_6125(pattern: str, host: str, expected: bool) -> None:
    assert name_matches(pattern, host) is expected


def test_a_good_certificate_is_trusted_through_the_cafile(ca: LabCA) -> None:
    cert = ca.issue(["mx.good.test", "*.pool.good.test"])
    info = describe_chain([der(cert), der(ca)], "mx.good.test", cafile=str(ca.cafile))
    assert info is not None
    assert info.trusted is True
    assert info.trust_error is None
    assert info.hostname_match is True
    assert info.sans == ["mx.good.test", "*.pool.good.test"]
    assert 28 <= (info.days_left or 0) <= 30
    assert info.spki_sha256 == hashlib.sha256(spki_der(cert.certificate)).hexdigest()
    assert [link["subject"] for link in info.chain] == [
        "CN=mx.good.test,O=mailscope lab",
        "CN=mailscope lab CA,O=mailscope lab",
    ]
    # The leaf alone verifies too when the CA is the anchor (servers that omit the root).
    assert describe_chain([der(cert)], "a.pool.good.test", cafile=str(ca.cafile)).trusted


def test_without_the_lab_ca_the_chain_is_untrusted_but_the_name_still_matches(ca: LabCA) -> None:
    cert = ca.issue(["mx.good.test"])
    info = describe_chain([der(cert), der(ca)], "mx.good.test")
    assert info is not None
    assert info.trusted is False
    assert info.trust_error
    assert info.hostname_match is True
    assert info.self_signed is False


def test_wrong_name_is_separate_from_trust(ca: LabCA) -> None:
    cert = ca.issue(["mail.elsewhere.test"])
    info = describe_chain([der(cert), der(ca)], "mx.good.test", cafile=str(ca.cafile))
    assert info is not None
    assert info.trusted is True
    assert info.hostname_match is False


def test_expired_and_expiring_certificates(ca: LabCA) -> None:
    now = dt.datetime.now(dt.UTC)
    expired = ca.issue(
        ["mx.good.test"],
        not_before=now - dt.timedelta(days=90),
        not_after=now - dt.timedelta(days=3),
    )
    info = describe_chain([der(expired), der(ca)], "mx.good.test", cafile=str(ca.cafile))
    assert info is not None
    assert info.trust_error == "expired"
    assert info.days_left == -3
    soon = ca.issue(["mx.good.test"], not_after=now + dt.timedelta(days=5, hours=1))
    info = describe_chain([der(soon), der(ca)], "mx.good.test", cafile=str(ca.cafile))
    assert info is not None
    assert info.trusted
    assert info.days_left == 5


def test_self_signed_is_named_as_such(ca: LabCA) -> None:
    cert = ca.issue(["mx.good.test"], self_signed=True)
    info = describe_chain([der(cert)], "mx.good.test", cafile=str(ca.cafile))
    assert info is not None
    assert info.self_signed is True
    assert info.trusted is False
    assert info.trust_error == "self-signed"


def test_unparseable_leaf_gives_none() -> None:
    assert describe_chain([b"not a certificate"], "mx.good.test") is None
    assert describe_chain([], "mx.good.test") is None


def test_hostname_matches_ip_addresses_only_by_ip_san(ca: LabCA) -> None:
    cert = ca.issue(["mx.good.test", "127.0.0.1"])
    assert hostname_matches(cert.certificate, "127.0.0.1")
    assert not hostname_matches(cert.certificate, "127.0.0.2")


def test_check_cafile(tmp_path, ca: LabCA) -> None:
    assert check_cafile(None) is None
    assert check_cafile(str(ca.cafile)) is None
    assert "no such file" in (check_cafile(str(tmp_path / "missing.pem")) or "")
    junk = tmp_path / "junk.pem"
    junk.write_text("hello")
    assert "no PEM" in (check_cafile(str(junk)) or "")


@pytest.mark.parametrize(("selector", "mtype"), [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)])
def test_dane_ee_matches_every_selector_and_matching_type(
    ca: LabCA, selector: int, mtype: int
) -> None:
    cert = ca.issue(["mx.good.test"])
    data = association_data(cert.certificate, selector, mtype)
    assert data is not None
    chain = [der(cert), der(ca)]
    # DANE-EE ignores names (and dates): another host name still matches.
    result = dane_match([Tlsa(3, selector, mtype, data)], chain, "other.test")
    assert result["match"] is True
    assert result["matched"] == [f"3 {selector} {mtype} {data.hex()}"]
    wrong = Tlsa(3, selector, mtype, bytes(len(data)))
    assert dane_match([wrong], chain, "mx.good.test")["match"] is False


def test_dane_ta_needs_the_ca_in_the_chain_and_the_right_name(ca: LabCA) -> None:
    cert = ca.issue(["mx.good.test"])
    record = Tlsa(2, 1, 1, association_data(ca.certificate, 1, 1) or b"")
    assert dane_match([record], [der(cert), der(ca)], "mx.good.test")["match"] is True
    assert dane_match([record], [der(cert), der(ca)], "other.test")["match"] is False
    assert dane_match([record], [der(cert)], "mx.good.test")["match"] is False  # not sent
    # A "TA" that did not sign the leaf does not anchor it.
    stranger = LabCA()
    try:
        fake = Tlsa(2, 1, 1, association_data(stranger.certificate, 1, 1) or b"")
        assert not dane_match([fake], [der(cert), der(stranger)], "mx.good.test")["match"]
    finally:
        stranger.cleanup()


def test_pkix_usages_are_unusable_for_smtp(ca: LabCA) -> None:
    cert = ca.issue(["mx.good.test"])
    data = association_data(cert.certificate, 1, 1) or b""
    result = dane_match([Tlsa(1, 1, 1, data), Tlsa(0, 1, 1, data)], [der(cert)], "mx.good.test")
    assert result["usable"] == 0
    assert result["match"] is False


def test_tlsa_record_for_is_a_zone_line(ca: LabCA) -> None:
    cert = ca.issue(["mx.good.test"])
    digest = hashlib.sha256(spki_der(cert.certificate)).hexdigest()
    assert tlsa_record_for("mx.good.test", cert.certificate) == (
        f"_25._tcp.mx.good.test. 3600 IN TLSA 3 1 1 {digest}"
    )


def test_good_mx_key_matches_the_tlsa_records_shipped_in_good_test(ca: LabCA) -> None:
    cert = issue_with_key(ca, ["mx1.good.test"], good_mx_key(), "tlsa-check")
    digest = hashlib.sha256(spki_der(cert.certificate)).hexdigest()
    zone = (resources.files("console.lab") / "zones" / "good.test.zone").read_text()
    tlsa_lines = [line for line in zone.splitlines() if " TLSA " in line]
    assert len(tlsa_lines) == 2
    assert all(line.split()[-1] == digest for line in tlsa_lines)
