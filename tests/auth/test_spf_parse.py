"""The SPF parser: a typed model of every term, and precise syntax errors (RFC 7208 4-7, 12)."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from console.auth.providers import provider_for
from console.auth.spf import (
    FlatRecords,
    Mechanism,
    Modifier,
    SpfRecord,
    SyntaxIssue,
    find_glued_terms,
    flatten,
    is_spf_record,
    looks_like_spf,
    looks_truncated,
    merge_records,
    parse_record,
    parse_term,
)


def only_error(text: str) -> SyntaxIssue:
    record = parse_record(text)
    assert len(record.errors) == 1, record.errors
    return record.errors[0]


# -- finding the record (RFC 7208 4.5) --------------------------------------------------


@pytest.mark.parametrize(
    ("text", "is_record"),
    [
        ("v=spf1", True),
        ("v=spf1 -all", True),
        ("V=SPF1 -all", True),  # ABNF literals are case-insensitive
        ("v=spf10 -all", False),
        (" v=spf1 -all", False),
        ("v=spf1-all", False),
        ("v=spf2.0/pra -all", False),
        ("spf1 -all", False),
        ("", False),
    ],
)
def test_only_exactly_v_spf1_then_space_or_end_is_a_record(text: str, is_record: bool) -> None:
    assert is_spf_record(text) is is_record


def test_near_misses_are_recognised() -> None:
    assert looks_like_spf("v=spf10 -all")
    assert looks_like_spf(" v=spf1 -all")
    assert looks_like_spf("v = spf1 -all")
    assert not looks_like_spf("v=spf1 -all")
    assert not looks_like_spf("google-site-verification=abc")
    assert not looks_like_spf("v=spf2.0/mfrom -all")


# -- the data model ---------------------------------------------------------------------


def test_every_mechanism_and_modifier_is_modelled() -> None:
    text = (
        "v=spf1 +all -include:_spf.example.com ~a ?a:mail.example.com/24 mx//64 "
        "mx:example.org/28//96 ptr ptr:example.net ip4:192.0.2.0/24 ip4:192.0.2.1 "
        "ip6:2001:db8::/32 exists:%{ir}.%{l1r+}.%{d} redirect=_spf.example.com "
        "exp=explain._spf.%{d} ra=postmaster rp=50 rr=e:f x-custom=%{d}"
    )
    record = parse_record(text)
    assert record.valid, record.errors
    mechanisms = record.mechanisms
    assert [(m.qualifier, m.name) for m in mechanisms] == [
        ("+", "all"),
        ("-", "include"),
        ("~", "a"),
        ("?", "a"),
        ("+", "mx"),
        ("+", "mx"),
        ("+", "ptr"),
        ("+", "ptr"),
        ("+", "ip4"),
        ("+", "ip4"),
        ("+", "ip6"),
        ("+", "exists"),
    ]
    assert mechanisms[1].argument == "_spf.example.com"
    assert mechanisms[2].argument is None
    assert (mechanisms[3].argument, mechanisms[3].cidr4, mechanisms[3].cidr6) == (
        "mail.example.com",
        24,
        None,
    )
    assert (mechanisms[4].cidr4, mechanisms[4].cidr6) == (None, 64)
    assert (mechanisms[5].argument, mechanisms[5].cidr4, mechanisms[5].cidr6) == (
        "example.org",
        28,
        96,
    )
    assert mechanisms[8].network() == ipaddress.ip_network("192.0.2.0/24")
    assert mechanisms[9].network() == ipaddress.ip_network("192.0.2.1/32")
    assert mechanisms[10].network() == ipaddress.ip_network("2001:db8::/32")
    assert mechanisms[11].argument == "%{ir}.%{l1r+}.%{d}"
    assert [(m.name, m.value) for m in record.modifiers] == [
        ("redirect", "_spf.example.com"),
        ("exp", "explain._spf.%{d}"),
        ("ra", "postmaster"),
        ("rp", "50"),
        ("rr", "e:f"),
        ("x-custom", "%{d}"),
    ]
    assert record.redirect is not None
    assert record.redirect.value == "_spf.example.com"
    assert record.explanation is not None
    # positions point at each term in the text
    for term in record.terms:
        assert text[term.position : term.position + len(term.text)] == term.text


def test_lookup_cost_of_one_record() -> None:
    # include, a, mx, ptr, exists count; ip4, ip6, all and exp do not (RFC 7208 4.6.4)
    record = parse_record("v=spf1 include:a.test a mx ptr exists:b.test ip4:192.0.2.1 ip6:::1 -all")
    assert record.lookups == 5
    # redirect counts only when it applies (no all); nothing after all is reached
    assert parse_record("v=spf1 a redirect=x.test").lookups == 2
    assert parse_record("v=spf1 a -all redirect=x.test").lookups == 1
    assert parse_record("v=spf1 -all include:x.test").lookups == 0


def test_names_and_qualifiers_are_case_insensitive() -> None:
    record = parse_record("v=spf1 MX Include:_spf.example.com REDIRECT=x.example.com")
    assert record.valid
    assert [t.name for t in record.terms] == ["mx", "include", "redirect"]


def test_redirect_only_applies_without_all() -> None:
    assert parse_record("v=spf1 redirect=x.test").follows_redirect
    assert not parse_record("v=spf1 ?all redirect=x.test").follows_redirect


# -- precise syntax errors --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "term", "position", "words", "suggestion"),
    [
        ("v=spf1 ip4:192.0.2.300 -all", "ip4:192.0.2.300", 7, "not an IPv4 address", None),
        ("v=spf1 a:192.0.2.1 -all", "a:192.0.2.1", 7, "write ip4:192.0.2.1", "ip4:192.0.2.1"),
        ("v=spf1 mx ipv4:192.0.2.1", "ipv4:192.0.2.1", 10, "did you mean 'ip4'", "ip4:192.0.2.1"),
        ("v=spf1 include: -all", "include:", 7, "domain name is required", None),
        ("v=spf1 include -all", "include", 7, "needs a domain", None),
        ("v=spf1 ip4:192.0.2.0/33", "ip4:192.0.2.0/33", 7, "out of range 0-32", None),
        ("v=spf1 ip6:2001:db8::/129", "ip6:2001:db8::/129", 7, "out of range 0-128", None),
        ("v=spf1 ip4:192.0.2.0/024", "ip4:192.0.2.0/024", 7, "leading zeros", None),
        ("v=spf1 a/", "a/", 7, "empty IPv4 prefix", None),
        ("v=spf1 -ip4:2001:db8::1", "-ip4:2001:db8::1", 7, "write ip6:", "-ip6:2001:db8::1"),
        ("v=spf1 ip6:192.0.2.1", "ip6:192.0.2.1", 7, "write ip4:", "ip4:192.0.2.1"),
        ("v=spf1 ip4:%{i}", "ip4:%{i}", 7, "macros are not allowed", None),
        ("v=spf1 all:foo.test", "all:foo.test", 7, "takes no argument", None),
        ("v=spf1 -redirect=x.test", "-redirect=x.test", 7, "takes no qualifier", "redirect=x.test"),
        ("v=spf1 redirect:x.test", "redirect:x.test", 7, "redirect=", "redirect=x.test"),
        ("v=spf1 +-all", "+-all", 7, "only one qualifier", None),
        ("v=spf1 include:localhost", "include:localhost", 7, "fully qualified", None),
        ("v=spf1 a:mail.example.1", "a:mail.example.1", 7, "top-level label", None),
        ("v=spf1 exists:%(ir).bl.test", "exists:%(ir).bl.test", 7, "'%' must start", None),
        ("v=spf1 exists:%{x}.bl.test", "exists:%{x}.bl.test", 7, "unknown macro letter", None),
        ("v=spf1 exists:%{c}.bl.test", "exists:%{c}.bl.test", 7, "only in exp=", None),
        ("v=spf1 exists:%{d0}.bl.test", "exists:%{d0}.bl.test", 7, "cannot be 0", None),
        ("v=spf1 exists:%{d.bl.test", "exists:%{d.bl.test", 7, "not closed", None),
        ("v=spf1 exp=", "exp=", 7, "domain name is required", None),
        ("v=spf1 foo=%", "foo=%", 7, "'%' must start", None),
        ("v=spf1 mx\t-all", "mx\t-all", 7, "unknown mechanism", None),
        ("v=spf1 a:exämple.test", "a:exämple.test", 7, "not allowed", None),
    ],
)
def test_syntax_errors_name_the_term_and_position(
    text: str, term: str, position: int, words: str, suggestion: str | None
) -> None:
    issue = only_error(text)
    assert issue.term == term
    assert issue.position == position
    assert words in issue.message
    assert issue.suggestion == suggestion


def test_every_error_is_reported_and_valid_terms_still_parse() -> None:
    record = parse_record("v=spf1 ip4:1.2.3 a mx:bad include: -all")
    assert [e.term for e in record.errors] == ["ip4:1.2.3", "mx:bad", "include:"]
    assert [e.position for e in record.errors] == [7, 19, 26]
    assert [t.text for t in record.terms] == ["a", "-all"]
    assert not record.valid


def test_redirect_and_exp_at_most_once() -> None:
    issue = only_error("v=spf1 redirect=a.test redirect=b.test")
    assert (issue.term, issue.position) == ("redirect=b.test", 23)
    assert "only once" in issue.message
    assert only_error("v=spf1 exp=a.test exp=b.test").term == "exp=b.test"


def test_version_errors() -> None:
    assert "begin with exactly" in only_error("v=spf10 -all").message
    leading = parse_record(" v=spf1 -all").errors[0]
    assert "must not begin with a space" in leading.message
    assert parse_record("").errors[0].position == 0


def test_macro_domain_ends_are_accepted() -> None:
    for spec in ("%{d}", "_spf.%{d2}", "%{ir}.%{v}.%{d}", "x.%%", "a.example.com.", "a-b.x-1"):
        record = parse_record(f"v=spf1 exists:{spec}")
        assert record.valid, (spec, record.errors)


def test_unknown_modifier_is_kept_but_a_mechanism_name_as_modifier_is_spotted() -> None:
    record = parse_record("v=spf1 include=_spf.google.com -all")
    assert record.valid
    (modifier,) = record.modifiers
    assert isinstance(modifier, Modifier)
    assert (modifier.name, modifier.known) == ("include", False)


def test_parse_term_alone() -> None:
    term = parse_term("~mx:example.com/24", 12)
    assert isinstance(term, Mechanism)
    assert (term.qualifier, term.result, term.position) == ("~", "softfail", 12)
    assert isinstance(parse_term("nonsense"), SyntaxIssue)


# -- properties -------------------------------------------------------------------------

SPF_ALPHABET = st.sampled_from(
    [*list("v=spf1 :/.%{}-+~?_,aimnpx0123456789"), "all", "ip4:", "ip6:", "include:", "%{d}", "\t"]
)


@given(st.text(max_size=300))
def test_any_text_parses_without_raising(text: str) -> None:
    record = parse_record(text)
    assert isinstance(record, SpfRecord)
    assert record.valid or record.errors
    for issue in record.errors:
        assert 0 <= issue.position <= len(text)
        assert issue.message


@given(st.lists(SPF_ALPHABET, max_size=60).map("".join))
def test_spf_like_text_parses_without_raising(text: str) -> None:
    record = parse_record("v=spf1 " + text)
    for term in record.terms:
        assert ("v=spf1 " + text)[term.position :].startswith(term.text)
    for issue in record.errors:
        assert ("v=spf1 " + text)[issue.position :].startswith(issue.term)


NETWORKS = st.one_of(
    st.builds(
        lambda a, n: ipaddress.ip_network((a, n), strict=False),
        st.ip_addresses(v=4),
        st.integers(8, 32),
    ),
    st.builds(
        lambda a, n: ipaddress.ip_network((a, n), strict=False),
        st.ip_addresses(v=6),
        st.integers(16, 128),
    ),
)


@given(st.lists(NETWORKS, max_size=80))
def test_flattened_records_parse_and_cover_the_same_addresses(networks: list) -> None:
    flat = flatten("example.test", networks, all_term="-all")
    assert isinstance(flat, FlatRecords)
    covered = []
    for _owner, text in flat.records:
        record = parse_record(text)
        assert record.valid, text
        assert len(text) <= 450
        covered += [m.network() for m in record.mechanisms if m.name in ("ip4", "ip6")]
    for network in networks:
        assert any(network.subnet_of(c) for c in covered if c.version == network.version)
    for line in flat.zone_lines():
        assert all(len(part) <= 255 + 2 for part in line.split(" IN TXT ", 1)[1].split('" "'))


# -- the TXT strings ---------------------------------------------------------------------


def test_strings_glued_without_space_are_found() -> None:
    (glued,) = find_glued_terms([b"v=spf1 ip4:192.0.2.1", b"include:_spf.google.com -all"])
    assert (glued.left, glued.right) == ("ip4:192.0.2.1", "include:_spf.google.com")
    assert glued.breaks_syntax
    (version,) = find_glued_terms([b"v=spf1", b"mx -all"])
    assert version.position == 0
    assert version.breaks_syntax
    # "a" "mx" -> "amx": invalid; "include:x.test" "mx" -> valid text but wrong meaning
    assert not find_glued_terms([b"v=spf1 include:x.test", b"mx -all"])[0].breaks_syntax


def test_valid_splits_are_not_glue() -> None:
    assert not find_glued_terms([b"v=spf1 include:_spf.goo", b"gle.com -all"])
    assert not find_glued_terms([b"v=spf1 ip4:192.0.2.1 ", b"-all"])
    assert not find_glued_terms([b"v=spf1 ip4:192.0.2.1", b" -all"])
    assert not find_glued_terms([b"v=spf1 -all"])


def test_a_string_cut_at_255_octets_looks_truncated() -> None:
    text = ("v=spf1 " + " ".join(f"ip4:198.51.100.{i}" for i in range(1, 20)))[:255]
    assert looks_truncated([text.encode()], parse_record(text))
    whole = "v=spf1 ip4:192.0.2.1 -all"
    assert not looks_truncated([whole.encode()], parse_record(whole))


# -- providers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("include", "provider"),
    [
        ("_spf.google.com", "Google Workspace"),
        ("spf.protection.outlook.com", "Microsoft 365"),
        ("sendgrid.net", "SendGrid"),
        ("u123.wl.sendgrid.net", "SendGrid"),
        ("amazonses.com", "Amazon SES"),
        ("mailgun.org", "Mailgun"),
        ("servers.mcsv.net", "Mailchimp"),
        ("spf.mandrillapp.com", "Mailchimp Transactional (Mandrill)"),
        ("spf.mtasv.net", "Postmark"),
        ("zoho.eu", "Zoho Mail"),
        ("_spf.salesforce.com", "Salesforce"),
        ("123456.spf03.hubspotemail.net", "HubSpot"),
        ("spf.sendinblue.com", "Brevo (Sendinblue)"),
        ("_spf.sparkpostmail.com", "SparkPost"),
        ("eu._netblocks.mimecast.com", "Mimecast"),
        ("_spf.pphosted.com", "Proofpoint"),
        ("spf.messagingengine.com", "Fastmail"),
        ("mx.ovh.com", "OVHcloud"),
        ("_SPF.Google.COM.", "Google Workspace"),
    ],
)
def test_well_known_includes_name_their_provider(include: str, provider: str) -> None:
    assert provider_for(include) == provider


def test_unknown_includes_inherit_or_stay_unnamed() -> None:
    assert provider_for("spfa.protection.outlook.com") is None
    assert provider_for("spfa.protection.outlook.com", inherited="Microsoft 365") == (
        "Microsoft 365"
    )
    assert provider_for("google.com") is None  # only _spf.google.com and below


@given(st.lists(st.lists(SPF_ALPHABET, max_size=40).map("".join), min_size=2, max_size=3))
def test_merging_any_records_gives_one_valid_record_that_never_widens_all(
    bodies: list[str],
) -> None:
    records = ["v=spf1 " + body for body in bodies]
    merged = merge_records(records)
    parsed = parse_record(merged.text)
    assert parsed.valid, (merged.text, parsed.errors)
    assert parsed.all is not None
    assert parsed.all.text == merged.all_term
    # -all only when every record already said -all; never +all or ?all.
    every_dash = all(
        (a := parse_record(text).all) is not None and a.qualifier == "-" for text in records
    )
    assert merged.all_term == ("-all" if every_dash else "~all")
    assert merged.reason


def test_merge_turns_a_redirect_into_an_include_and_keeps_one_exp() -> None:
    merged = merge_records(
        [
            "v=spf1 redirect=_spf.example.test exp=a.example.test",
            "v=spf1 mx exp=b.example.test -all",
        ]
    )
    assert merged.text == "v=spf1 include:_spf.example.test mx ~all exp=a.example.test"
