"""DKIM: the key-record parser on its own, then the check over the wire against the lab."""

from __future__ import annotations

import base64
from importlib import resources

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from hypothesis import given
from hypothesis import strategies as st

from console.auth.dkim import check_dkim, looks_like_key, parse_key_record
from console.auth.options import AuditOptions
from console.auth.selectors import (
    WELL_KNOWN_SELECTORS,
    confirmed_provider,
    guessed_provider,
    known_selector,
    provider_for,
)
from console.lab import Lab
from console.model import Status

SPKI = serialization.PublicFormat.SubjectPublicKeyInfo
DER = serialization.Encoding.DER


def _lab_key(name: str) -> str:
    pem = (resources.files("console.lab") / "keys" / f"{name}.pem").read_bytes()
    private = serialization.load_pem_private_key(pem, password=None)
    return base64.b64encode(private.public_key().public_bytes(DER, SPKI)).decode()


KEY_2048 = _lab_key("generic-2048")
KEY_1024 = _lab_key("dkim1024-s1")


def _rsa_of_bits(bits: int, fmt: serialization.PublicFormat = SPKI) -> str:
    """A public key of any size: only the modulus length matters to the parser."""
    modulus = (1 << (bits - 1)) | 0xB5  # odd, top bit set: exactly `bits` long
    public = rsa.RSAPublicNumbers(65537, modulus).public_key()
    return base64.b64encode(public.public_bytes(DER, fmt)).decode()


def codes(findings) -> set[str]:
    return {finding.code for finding in findings}


def severity_of(findings, code: str) -> Status:
    return next(finding.severity for finding in findings if finding.code == code)


def only(result, selector: str) -> dict:
    return next(entry for entry in result.data["selectors"] if entry["selector"] == selector)


# -- the parser --------------------------------------------------------------------------


def test_good_rsa_key_has_its_real_size_and_no_findings() -> None:
    key = parse_key_record(f"v=DKIM1; k=rsa; p={KEY_2048}")
    assert (key.key_type, key.key_bits) == ("rsa", 2048)
    assert key.findings == []
    assert key.usable


def test_k_defaults_to_rsa_and_whitespace_inside_p_is_folding() -> None:
    folded = KEY_2048[:100] + " \t " + KEY_2048[100:]
    key = parse_key_record(f"p={folded}")
    assert (key.key_type, key.key_bits, key.findings) == ("rsa", 2048, [])


def test_under_1024_bits_fails_and_1024_warns() -> None:
    weak = parse_key_record(f"v=DKIM1; p={_rsa_of_bits(512)}")
    assert weak.key_bits == 512
    assert severity_of(weak.findings, "dkim.weak-key") is Status.FAIL
    assert not weak.usable
    short = parse_key_record(f"v=DKIM1; p={KEY_1024}")
    assert short.key_bits == 1024
    assert codes(short.findings) == {"dkim.short-key"}
    assert severity_of(short.findings, "dkim.short-key") is Status.WARN
    assert short.usable


def test_key_beyond_what_verifiers_must_handle_warns() -> None:
    key = parse_key_record(f"p={_rsa_of_bits(8192)}")
    assert key.key_bits == 8192
    assert severity_of(key.findings, "dkim.bad-key") is Status.WARN


def test_bare_pkcs1_rsa_key_is_read_but_warned_about() -> None:
    pkcs1 = _rsa_of_bits(2048, serialization.PublicFormat.PKCS1)
    key = parse_key_record(f"p={pkcs1}")
    assert key.key_bits == 2048
    assert severity_of(key.findings, "dkim.bad-key") is Status.WARN
    assert key.usable


def test_ed25519_is_the_raw_32_byte_key() -> None:
    public = ed25519.Ed25519PrivateKey.generate().public_key()
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    key = parse_key_record(f"v=DKIM1; k=ed25519; p={base64.b64encode(raw).decode()}")
    assert (key.key_type, key.key_bits, key.findings) == ("ed25519", 256, [])
    wrapped = base64.b64encode(public.public_bytes(DER, SPKI)).decode()
    key = parse_key_record(f"v=DKIM1; k=ed25519; p={wrapped}")
    assert severity_of(key.findings, "dkim.bad-key") is Status.FAIL
    assert "32-byte" in key.findings[0].message


def test_empty_p_is_revoked() -> None:
    key = parse_key_record("v=DKIM1; k=rsa; p=")
    assert key.revoked
    assert not key.usable
    assert codes(key.findings) == {"dkim.revoked"}


def test_flags_testing_and_strict() -> None:
    key = parse_key_record(f"v=DKIM1; t=y:s; p={KEY_2048}")
    assert key.testing
    assert key.strict
    assert codes(key.findings) == {"dkim.testing"}
    # The fix keeps the strict flag and drops only the testing one.
    fix = key.findings[0].fix
    assert "t=s;" in fix
    assert "t=y" not in fix
    assert parse_key_record(f"t=s; p={KEY_2048}").findings == []


def test_sha1_only_fails_and_the_fix_drops_h() -> None:
    key = parse_key_record(f"v=DKIM1; h=sha1; p={KEY_2048}", "k1._domainkey.example.com")
    assert key.hash_algorithms == ["sha1"]
    assert severity_of(key.findings, "dkim.sha1") is Status.FAIL
    assert not key.usable
    fix = key.findings[0].fix
    assert 'k1._domainkey.example.com. 3600 IN TXT "v=DKIM1; p=' in fix
    assert "h=" not in fix.partition(" IN TXT ")[2]
    both = parse_key_record(f"v=DKIM1; h=sha1:sha256; p={KEY_2048}")
    assert both.findings == []


def test_service_type_must_allow_email() -> None:
    assert parse_key_record(f"s=email; p={KEY_2048}").findings == []
    assert parse_key_record(f"s=*; p={KEY_2048}").service_types == ["*"]
    key = parse_key_record(f"s=tlsrpt; p={KEY_2048}")
    assert codes(key.findings) == {"dkim.syntax"}


@pytest.mark.parametrize(
    ("record", "fragment"),
    [
        (f"k=rsa; v=DKIM1; p={KEY_2048}", "first tag"),
        (f"v=DKIM2; p={KEY_2048}", "not a DKIM version"),
        (f"v=DKIM1; p={KEY_2048}; p={KEY_2048}", "more than once"),
        ("v=DKIM1; k=rsa", "no p= tag"),
        (f"v=DKIM1; garbage; p={KEY_2048}", "not a tag=value pair"),
    ],
)
def test_syntax_errors_fail(record: str, fragment: str) -> None:
    key = parse_key_record(record)
    assert "dkim.syntax" in codes(key.findings)
    assert any(fragment in finding.message for finding in key.findings)
    assert not key.usable


def test_v_not_first_fix_puts_it_first() -> None:
    key = parse_key_record(f"k=rsa; v=DKIM1; p={KEY_2048}", "mail._domainkey.example.com")
    assert '"v=DKIM1; k=rsa; p=' in key.findings[0].fix


@pytest.mark.parametrize(
    "p",
    [
        KEY_2048[:200] + KEY_2048[201:],  # a character lost at a string split
        KEY_2048 + "!",  # not base64
        base64.b64encode(b"hello, world").decode(),  # base64, but not a key
    ],
)
def test_broken_key_material_fails(p: str) -> None:
    key = parse_key_record(f"v=DKIM1; k=rsa; p={p}")
    assert severity_of(key.findings, "dkim.bad-key") is Status.FAIL
    assert key.key_bits is None
    assert not key.usable


def test_unknown_key_type_fails() -> None:
    key = parse_key_record(f"v=DKIM1; k=dsa; p={KEY_2048}")
    assert key.key_type == "dsa"
    assert "dkim.bad-key" in codes(key.findings)


def test_looks_like_key_tells_keys_from_other_txt() -> None:
    assert looks_like_key("v=DKIM1; p=")
    assert looks_like_key(f"k=rsa; p={KEY_2048}")
    assert not looks_like_key("v=spf1 -all")
    assert not looks_like_key("google-site-verification=abc")


@given(st.text(max_size=600))
def test_parser_never_raises_on_any_text(text: str) -> None:
    key = parse_key_record(text)
    assert isinstance(key.key_type, str)
    assert all(f.code.startswith("dkim.") for f in key.findings)
    assert key.record == text


@given(
    k=st.sampled_from(["rsa", "ed25519", "RSA", "", "x"]),
    h=st.sampled_from(["", "h=sha1;", "h=sha256;", "h=;", "h=sha1:sha256;"]),
    payload=st.binary(max_size=600),
)
def test_parser_never_raises_on_random_key_material(k: str, h: str, payload: bytes) -> None:
    key = parse_key_record(f"v=DKIM1; k={k}; {h} p={base64.b64encode(payload).decode()}")
    # Random bytes are (almost) never a key: then it says so instead of raising.
    assert key.key_bits is not None or "dkim.bad-key" in codes(key.findings) or key.revoked


def test_selector_table_has_the_providers_the_issue_names() -> None:
    table = {known.selector: known.provider for known in WELL_KNOWN_SELECTORS}
    for selector in ("google", "selector1", "selector2", "s1", "s2", "k1", "mandrill"):
        assert selector in table
    assert table["google"] == "Google Workspace"
    assert known_selector("SELECTOR1") is not None
    assert provider_for("s1", "s1.domainkey.u123.wl.sendgrid.net") == "SendGrid"
    assert provider_for("custom", "x._domainkey.contoso.onmicrosoft.com") == "Microsoft 365"
    assert provider_for("custom") is None
    # Only a CNAME into the provider's zone confirms it; the name alone is a guess.
    assert confirmed_provider("s1.domainkey.u123.wl.sendgrid.net.") == "SendGrid"
    assert confirmed_provider(None) is None
    assert confirmed_provider("s1.domainkey.example.net") is None
    assert confirmed_provider("evilsendgrid.net") is None
    assert guessed_provider("s1") == "SendGrid"
    assert len(table) == len(WELL_KNOWN_SELECTORS), "a selector is listed twice"


# -- the check, over the wire ------------------------------------------------------------


async def test_good_domain_keys_found_by_discovery_and_by_option(ctx) -> None:
    result = await check_dkim(ctx, "good.test", AuditOptions(selectors=("s2026", "ed2026")))
    assert result.status is Status.PASS, result.findings
    google = only(result, "google")
    # A TXT record at google._domainkey could be anyone's: the provider is only a guess.
    assert (google["found_by"], google["provider"], google["provider_guess"]) == (
        "discovery",
        None,
        "Google Workspace",
    )
    assert google["key_bits"] == 2048
    assert only(result, "s2026")["found_by"] == "option"
    ed = only(result, "ed2026")
    assert (ed["key_type"], ed["key_bits"]) == ("ed25519", 256)
    assert result.data["missing"] == []


async def test_discovery_queries_run_concurrently(ctx) -> None:
    await check_dkim(ctx, "good.test", AuditOptions(selectors=("s2026",)))
    # One question for _domainkey (RFC 8020), then every selector, the wildcard probe
    # and the MX question at once: two rounds in all.
    assert ctx.stats.max_depth == 2
    assert ctx.stats.queries == len(WELL_KNOWN_SELECTORS) + 4


async def test_no_discovery_when_nothing_exists_below_domainkey(ctx) -> None:
    result = await check_dkim(ctx, "nullmx.test", AuditOptions(selectors=("s1",)))
    # _domainkey.nullmx.test is NXDOMAIN: only the named selector is asked about.
    assert ctx.stats.queries <= 5
    assert result.data["missing"] == ["s1"]


async def test_named_selector_is_accepted_as_full_owner_name(ctx) -> None:
    options = AuditOptions(selectors=("S2026._domainkey.good.test.",), discover_selectors=False)
    result = await check_dkim(ctx, "good.test", options)
    assert [entry["selector"] for entry in result.data["selectors"]] == ["s2026"]


async def test_m365_cname_selectors_are_followed(ctx) -> None:
    result = await check_dkim(ctx, "dkim-m365.test", AuditOptions())
    assert result.status is Status.PASS
    for selector in ("selector1", "selector2"):
        entry = only(result, selector)
        assert entry["cname"] == (
            f"{selector}-dkim-m365-test._domainkey.dkimm365.dkim-onmicrosoft.test"
        )
        # The lab's tenant zone is a .test stand-in, not onmicrosoft.com: unconfirmed.
        assert (entry["provider"], entry["provider_guess"]) == (None, "Microsoft 365")
        assert entry["key_bits"] == 2048


async def test_provider_is_confirmed_only_by_a_cname_into_its_zone(ctx) -> None:
    result = await check_dkim(ctx, "dkim-sendgrid.test", AuditOptions())
    assert result.status is Status.PASS, result.findings
    for selector in ("s1", "s2"):
        entry = only(result, selector)
        assert entry["cname"] == f"{selector}.domainkey.u1234.wl056.sendgrid.net"
        assert (entry["provider"], entry["provider_guess"]) == ("SendGrid", None)


async def test_self_hosted_s1_is_not_called_sendgrid(ctx) -> None:
    # dkim1024.test publishes its own key at s1 (a plain TXT, no CNAME).
    result = await check_dkim(ctx, "dkim1024.test", AuditOptions())
    entry = only(result, "s1")
    assert (entry["cname"], entry["provider"], entry["provider_guess"]) == (
        None,
        None,
        "SendGrid",
    )
    assert "SendGrid" not in result.summary
    assert not any("SendGrid" in f.message for f in result.findings)


async def test_m365_cnames_to_nothing_say_dkim_was_never_enabled(ctx) -> None:
    result = await check_dkim(ctx, "dkim-m365-off.test", AuditOptions())
    dangling = [f for f in result.findings if f.code == "dkim.dangling-cname"]
    assert len(dangling) == 2
    # The CNAME target is not in a Microsoft zone: the provider is named as a guess.
    assert "(probably Microsoft 365, going by the selector)" in dangling[0].message
    assert "the provider that publishes selector1-" in dangling[0].fix
    assert result.data["selectors"] == []
    assert result.status is Status.WARN
    # Named explicitly, the same dangling selector is a failure: the user signs with it.
    named = await check_dkim(
        ctx, "dkim-m365-off.test", AuditOptions(selectors=("selector1",), discover_selectors=False)
    )
    assert named.status is Status.FAIL


async def test_revoked_key_fails_when_nothing_usable_is_left(ctx) -> None:
    result = await check_dkim(ctx, "dkim-revoked.test", AuditOptions())
    assert only(result, "s1")["revoked"] is True
    assert severity_of(result.findings, "dkim.revoked") is Status.FAIL
    assert result.status is Status.FAIL


async def test_revoked_key_only_warns_beside_a_live_one(ctx) -> None:
    result = await check_dkim(ctx, "dkim-revoked.test", AuditOptions(selectors=("s2026",)))
    assert severity_of(result.findings, "dkim.revoked") is Status.WARN
    assert only(result, "s2026")["usable"] is True
    assert result.status is Status.WARN


async def test_sha1_only_key_fails(ctx) -> None:
    result = await check_dkim(ctx, "dkim-sha1.test", AuditOptions())
    assert only(result, "k1")["hash_algorithms"] == ["sha1"]
    assert "dkim.sha1" in codes(result.findings)
    assert result.status is Status.FAIL


async def test_broken_base64_fails_and_keeps_the_raw_record(ctx) -> None:
    result = await check_dkim(ctx, "dkim-badkey.test", AuditOptions())
    entry = only(result, "default")
    assert entry["key_bits"] is None
    assert entry["record"].startswith("v=DKIM1; k=rsa; p=MIIB")
    assert severity_of(result.findings, "dkim.bad-key") is Status.FAIL


async def test_version_not_first_is_a_syntax_failure(ctx) -> None:
    result = await check_dkim(ctx, "dkim-syntax.test", AuditOptions())
    assert "dkim.syntax" in codes(result.findings)
    assert only(result, "mail")["key_bits"] == 2048


async def test_1024_bit_key_warns(ctx) -> None:
    result = await check_dkim(ctx, "dkim1024.test", AuditOptions())
    assert only(result, "s1")["key_bits"] == 1024
    assert codes(result.findings) == {"dkim.short-key"}
    assert result.status is Status.WARN


async def test_testing_mode_warns(ctx) -> None:
    result = await check_dkim(ctx, "dkim-testing.test", AuditOptions())
    assert only(result, "s1")["testing"] is True
    assert codes(result.findings) == {"dkim.testing"}


async def test_nothing_found_says_selectors_cannot_be_listed(ctx) -> None:
    # _domainkey.dkim-hidden.test exists (its only key has a dated Postmark-style
    # selector), so discovery runs and finds nothing.
    result = await check_dkim(ctx, "dkim-hidden.test", AuditOptions())
    (finding,) = result.findings
    assert finding.code == "dkim.no-selector"
    assert finding.severity is Status.WARN
    asked = len(WELL_KNOWN_SELECTORS)
    assert f"none of the {asked} well-known selectors discovery tried" in finding.message
    assert "cannot list" in finding.message
    assert "Amazon SES" in finding.message
    assert "--selector" in finding.fix
    assert "s= tag" in finding.fix
    found = await check_dkim(ctx, "dkim-hidden.test", AuditOptions(selectors=("20240101000000pm",)))
    assert found.status is Status.PASS


async def test_missing_domainkey_says_discovery_was_skipped(ctx) -> None:
    # _domainkey.nomx.test does not exist: RFC 8020 shortcut, no selector was tried.
    result = await check_dkim(ctx, "nomx.test", AuditOptions())
    assert result.data["checked"] == []
    (finding,) = result.findings
    assert finding.code == "dkim.no-selector"
    assert finding.severity is Status.WARN
    assert (
        "_domainkey.nomx.test does not exist, so no selector can exist below it "
        "(RFC 8020); discovery skipped"
    ) in finding.message
    assert "none of the 0" not in finding.message
    assert "--selector" in finding.fix
    assert "nomx.test. 3600 IN TXT" in finding.fix  # the record to publish
    assert result.summary == "no DKIM key: _domainkey.nomx.test does not exist"


async def test_named_selector_without_key_fails(ctx) -> None:
    result = await check_dkim(ctx, "good.test", AuditOptions(selectors=("nope",)))
    assert result.data["missing"] == ["nope"]
    assert severity_of(result.findings, "dkim.no-selector") is Status.FAIL
    assert "nope._domainkey.good.test. 3600 IN TXT" in result.findings[0].fix


async def test_invalid_selector_is_reported_not_queried(ctx) -> None:
    options = AuditOptions(selectors=("bad selector!",), discover_selectors=False)
    result = await check_dkim(ctx, "good.test", options)
    assert "dkim.syntax" in codes(result.findings)
    assert result.data["checked"] == []


async def test_null_mx_domain_without_keys_is_skipped(ctx) -> None:
    result = await check_dkim(ctx, "nullmx.test", AuditOptions())
    assert result.status is Status.SKIP
    assert "null MX" in result.summary


async def test_wildcard_revocation_is_recognised_not_mistaken_for_keys(ctx) -> None:
    result = await check_dkim(ctx, "dkim-wildcard.test", AuditOptions())
    # Every well-known selector answers through the wildcard; none is reported as a key.
    assert result.data["selectors"] == []
    assert result.data["wildcard"] == "v=DKIM1; p="
    assert result.status is Status.SKIP


async def test_servfail_is_an_error_not_a_missing_key(ctx) -> None:
    result = await check_dkim(ctx, "servfail.test", AuditOptions(selectors=("s1",)))
    assert result.status is Status.ERROR
    assert "dkim.no-selector" not in codes(result.findings)
    assert any("SERVFAIL" in f.message for f in result.findings)


async def test_timeout_is_an_error(lab: Lab) -> None:
    ctx = lab.resolver(timeout=0.3, retries=0)
    result = await check_dkim(ctx, "silent.test", AuditOptions())
    assert result.status is Status.ERROR
    assert codes(result.findings) == {"dkim.dns-error"}


async def test_ed25519_alone_warns_that_many_receivers_cannot_verify(ctx) -> None:
    options = AuditOptions(selectors=("ed2026",), discover_selectors=False)
    result = await check_dkim(ctx, "good.test", options)
    assert codes(result.findings) == {"dkim.ed25519-only"}
    assert result.status is Status.WARN
    both = await check_dkim(ctx, "good.test", AuditOptions(selectors=("ed2026", "s2026")))
    assert both.status is Status.PASS
