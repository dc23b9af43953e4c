"""The DMARC record grammar, the tree-walk names and alignment, without DNS."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from console.auth.dmarc import (
    KNOWN_TAGS,
    REMOVED_TAGS,
    TAG_HELP,
    ParsedDmarc,
    aligned,
    describe_tag,
    parse_dmarc,
    parse_report_uri,
    suggested_record,
    walk_names,
)
from console.model import Status


def codes(parsed: ParsedDmarc) -> list[str]:
    return [problem.code for problem in parsed.problems]


# -- reading a record -------------------------------------------------------------------


def test_a_full_record_is_read_tag_by_tag() -> None:
    parsed = parse_dmarc(
        "v=DMARC1; p=Reject; sp=quarantine; np=reject; psd=n; t=n; adkim=s; aspf=r; fo=0:d; "
        "rua=mailto:agg@example.com, mailto:agg@reports.example.net; ruf=mailto:f@example.com"
    )
    assert parsed.is_dmarc
    assert parsed.errors == []
    assert parsed.warnings == []
    assert (parsed.policy, parsed.subdomain_policy, parsed.np) == ("reject", "quarantine", "reject")
    assert (parsed.psd, parsed.testing, parsed.adkim, parsed.aspf) == ("n", "n", "s", "r")
    assert parsed.fo == ("0", "d")
    assert [uri.host for uri in parsed.rua] == ["example.com", "reports.example.net"]
    assert [uri.text for uri in parsed.ruf] == ["mailto:f@example.com"]
    assert parsed.tags["p"] == "Reject"  # as written; the policy itself is normalised


def test_absent_tags_take_their_defaults() -> None:
    parsed = parse_dmarc("v=DMARC1; p=none")
    assert (parsed.psd, parsed.testing, parsed.adkim, parsed.aspf, parsed.fo) == (
        "u",
        "n",
        "r",
        "r",
        ("0",),
    )
    assert parsed.subdomain_policy is None
    assert parsed.applied_policy(subdomain=True) == "none"


def test_sp_and_np_apply_to_subdomains_in_rfc_9989_order() -> None:
    parsed = parse_dmarc("v=DMARC1; p=reject; sp=quarantine; np=none")
    assert parsed.applied_policy() == "reject"
    assert parsed.applied_policy(subdomain=True) == "quarantine"
    assert parsed.applied_policy(subdomain=True, nonexistent=True) == "none"
    only_sp = parse_dmarc("v=DMARC1; p=reject; sp=quarantine")
    assert only_sp.applied_policy(subdomain=True, nonexistent=True) == "quarantine"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("p=reject; v=DMARC1", "not the first tag"),
        ("v=dmarc1; p=reject", "exactly DMARC1"),
        ("v=DMARC1 p=reject", "';' is missing"),
        ("v=DMARC2; p=reject", "is not v=DMARC1"),
        ("p=reject", "no v=DMARC1"),
        ("hello; v=DMARC1; p=reject", "not the first tag"),
        ("v=spf1 -all", "is not v=DMARC1"),
    ],
)
def test_records_without_a_leading_exact_version_are_not_dmarc(text: str, fragment: str) -> None:
    parsed = parse_dmarc(text)
    assert not parsed.is_dmarc
    assert parsed.applied_policy() is None
    (version,) = [problem for problem in parsed.errors if problem.tag == "v"]
    assert version.severity is Status.FAIL
    assert fragment in version.message


def test_leading_whitespace_is_read_but_warned_about() -> None:
    parsed = parse_dmarc("  v=DMARC1; p=reject")
    assert parsed.is_dmarc
    assert [(p.code, p.severity) for p in parsed.warnings] == [("syntax", Status.WARN)]


def test_an_invalid_policy_is_located_and_suggests_the_closest_value() -> None:
    text = "v=DMARC1; p=rejcet; rua=mailto:d@example.com"
    parsed = parse_dmarc(text)
    (problem,) = parsed.errors
    assert (problem.code, problem.severity, problem.tag) == ("syntax", Status.FAIL, "p")
    assert text[problem.position :].startswith("rejcet")
    assert "did you mean p=reject" in problem.message
    assert parsed.policy is None


def test_a_missing_semicolon_inside_a_value_is_pointed_out() -> None:
    parsed = parse_dmarc("v=DMARC1; p=reject rua=mailto:d@example.com")
    assert parsed.policy is None
    assert "';' missing" in parsed.errors[0].message


def test_invalid_policy_tags_mean_none_with_a_usable_rua_and_no_dmarc_without() -> None:
    # RFC 9989 section 4.10.1.
    assert parse_dmarc("v=DMARC1; p=block; rua=mailto:d@example.com").applied_policy() == "none"
    assert parse_dmarc("v=DMARC1; p=block").applied_policy() is None
    assert parse_dmarc("v=DMARC1; p=block; rua=example.com").applied_policy() is None
    # An invalid sp or np voids the policy the same way.
    assert parse_dmarc("v=DMARC1; p=reject; sp=hard").applied_policy() is None
    assert parse_dmarc("v=DMARC1; p=reject; np=").applied_policy() is None


def test_a_missing_p_reads_as_none_but_is_an_error_for_rfc_7489_receivers() -> None:
    parsed = parse_dmarc("v=DMARC1; rua=mailto:d@example.com")
    assert parsed.applied_policy() == "none"
    (problem,) = parsed.errors
    assert (problem.code, problem.severity, problem.tag) == ("syntax", Status.FAIL, "p")


def test_invalid_optional_values_warn_and_fall_back_to_defaults() -> None:
    text = "v=DMARC1; p=reject; adkim=x; aspf=strict; fo=2; t=maybe; psd=yes"
    parsed = parse_dmarc(text)
    assert [(p.code, p.tag, p.severity) for p in parsed.errors] == [
        ("invalid-tag-value", tag, Status.WARN) for tag in ("adkim", "aspf", "fo", "t", "psd")
    ]
    assert (parsed.adkim, parsed.aspf, parsed.fo, parsed.testing, parsed.psd) == (
        "r",
        "r",
        ("0",),
        "n",
        "u",
    )
    assert parsed.applied_policy() == "reject"
    for problem in parsed.errors:
        assert text[problem.position :].startswith(parsed.tags[problem.tag or ""])


def test_fo_accepts_colon_lists_of_known_options() -> None:
    assert parse_dmarc("v=DMARC1; p=none; fo=1:d:s").fo == ("1", "d", "s")
    assert "invalid-tag-value" in codes(parse_dmarc("v=DMARC1; p=none; fo=1:1"))


@pytest.mark.parametrize(("tag", "value"), [("pct", "50"), ("rf", "afrf"), ("ri", "3600")])
def test_tags_removed_by_rfc_9989_are_warnings_with_their_own_code(tag: str, value: str) -> None:
    parsed = parse_dmarc(f"v=DMARC1; p=quarantine; {tag}={value}")
    assert parsed.errors == []
    (warning,) = parsed.warnings
    assert (warning.code, warning.severity) == (f"{tag}-removed", Status.WARN)
    assert parsed.applied_policy() == "quarantine"


def test_pct_below_100_explains_the_receiver_split() -> None:
    (warning,) = parse_dmarc("v=DMARC1; p=reject; pct=10").warnings
    assert "10%" in warning.message
    assert "t=y" in warning.message


def test_size_suffix_is_obsolete_but_the_destination_is_kept() -> None:
    parsed = parse_dmarc("v=DMARC1; p=none; rua=mailto:d@example.com!10m")
    assert "size-obsolete" in codes(parsed)
    (uri,) = parsed.rua
    assert (uri.uri, uri.size, uri.valid, uri.host) == (
        "mailto:d@example.com",
        "10m",
        True,
        "example.com",
    )


def test_unknown_and_duplicate_tags_are_warnings() -> None:
    parsed = parse_dmarc("v=DMARC1; p=none; adkm=s; p=reject")
    assert [p.code for p in parsed.warnings] == ["duplicate-tag", "unknown-tag"]
    assert "did you mean adkim" in parsed.warnings[1].message
    assert parsed.policy == "none"  # the first occurrence is read


def test_segments_that_are_not_tag_value_pairs_are_skipped() -> None:
    parsed = parse_dmarc("v=DMARC1; p=none; garbage; 9x=1;;")
    assert parsed.is_dmarc
    assert [p.code for p in parsed.errors] == ["syntax", "syntax"]
    assert all(p.severity is Status.WARN for p in parsed.errors)


@pytest.mark.parametrize(
    ("text", "host", "problem"),
    [
        ("mailto:dmarc@Example.COM", "example.com", None),
        ("mailto:dmarc%40x@example.com?subject=dmarc", "example.com", None),
        ("https://reports.example.net/dmarc", "reports.example.net", None),
        ("dmarc@example.com", "", "write mailto:dmarc@example.com"),
        ("mailto:nobody", "", "not a mailto: address"),
        ("mailto:a@-bad-.example", "", "not valid"),
        ("mailto:a!b@example.com", "", "percent-encoded"),
        ("mailto:a b@example.com", "", "characters"),
        ("https:///path", "", "names no host"),
    ],
)
def test_report_uris(text: str, host: str, problem: str | None) -> None:
    uri = parse_report_uri(text)
    assert uri.host == host
    if problem is None:
        assert uri.valid
    else:
        assert not uri.valid
        assert uri.problem is not None
        assert problem in uri.problem


def test_other_uri_schemes_are_kept_with_a_warning() -> None:
    parsed = parse_dmarc("v=DMARC1; p=none; rua=ftp://reports.example.net/x")
    assert parsed.rua[0].valid
    assert codes(parsed) == ["unsupported-scheme"]


# -- suggested records ------------------------------------------------------------------


def test_suggested_record_drops_what_rfc_9989_removed() -> None:
    parsed = parse_dmarc(
        "v=DMARC1; p=quarantine; pct=25; rf=afrf; ri=3600; rua=mailto:d@example.com!10m"
    )
    assert suggested_record(parsed) == "v=DMARC1; p=quarantine; rua=mailto:d@example.com"


@pytest.mark.parametrize(
    "text",
    [
        "p=reject; v=DMARC1; rua=mailto:d@example.com",
        "v=dmarc1; p=reject; rua=mailto:d@example.com",
        "v=DMARC1 p=reject; rua=mailto:d@example.com",
        "v=DMARC1; p=rejcet; rua=mailto:d@example.com",
        "v=DMARC1; p=reject rua=mailto:d@example.com",
    ],
)
def test_suggested_record_repairs_what_was_meant(text: str) -> None:
    assert suggested_record(parse_dmarc(text)) == "v=DMARC1; p=reject; rua=mailto:d@example.com"


def test_suggested_record_overrides() -> None:
    parsed = parse_dmarc("v=DMARC1; p=none; sp=none; t=y; rua=mailto:d@example.com")
    assert (
        suggested_record(parsed, p="quarantine", sp="reject")
        == "v=DMARC1; p=quarantine; sp=reject; t=y; rua=mailto:d@example.com"
    )


# -- explanations -----------------------------------------------------------------------


def test_every_tag_has_an_explanation() -> None:
    assert set(TAG_HELP) == set(KNOWN_TAGS) | set(REMOVED_TAGS)
    assert all(TAG_HELP[tag].status == "removed" for tag in REMOVED_TAGS)
    assert "refuse" in describe_tag("p", "reject")
    assert "relaxed" in describe_tag("adkim", "r")
    assert "DKIM signature" in describe_tag("fo", "1:d")
    assert describe_tag("adkm", "s") == "Unknown tag: receivers ignore it."


# -- the tree walk and alignment -------------------------------------------------------


def test_walk_of_the_rfc_example_is_eight_names_ending_at_the_tld() -> None:
    # RFC 9989 section 4.10's own example.
    assert walk_names("a.b.c.d.e.f.g.h.i.j.mail.example.com") == [
        "a.b.c.d.e.f.g.h.i.j.mail.example.com",
        "g.h.i.j.mail.example.com",
        "h.i.j.mail.example.com",
        "i.j.mail.example.com",
        "j.mail.example.com",
        "mail.example.com",
        "example.com",
        "com",
    ]


def test_walk_of_short_names_goes_one_label_at_a_time() -> None:
    assert walk_names("A.Mail.Example.COM.") == [
        "a.mail.example.com",
        "mail.example.com",
        "example.com",
        "com",
    ]
    seven = "c.d.e.f.g.example.com"
    assert walk_names("x." + seven)[1] == seven  # eight labels: the parent
    assert walk_names("y.x." + seven)[1] == seven  # nine: cut to seven labels
    assert len(walk_names("y.x." + seven)) == 8
    assert walk_names("com") == ["com"]
    assert walk_names("") == []


@pytest.mark.parametrize(
    ("a", "b", "mode", "org_a", "org_b", "expected"),
    [
        ("news.example.com", "news.example.com", "s", "example.com", "example.com", True),
        ("News.Example.com.", "news.example.com", "s", "example.com", "example.com", True),
        ("foo.example.com", "news.example.com", "s", "example.com", "example.com", False),
        ("foo.example.com", "news.example.com", "r", "example.com", "example.com", True),
        ("foo.example.net", "news.example.com", "r", "example.net", "example.com", False),
    ],
)
def test_alignment(a: str, b: str, mode: str, org_a: str, org_b: str, expected: bool) -> None:
    assert aligned(a, b, mode, org_a, org_b) is expected


# -- properties: bad input never raises --------------------------------------------------

_FRAGMENTS = st.sampled_from(
    [
        "v=DMARC1",
        "v=dmarc1",
        "v = DMARC1",
        "p=reject",
        "p=none",
        "p=rejcet",
        "sp=quarantine",
        "np=",
        "psd=y",
        "t=y",
        "adkim=s",
        "aspf=x",
        "fo=0:d",
        "fo=2",
        "pct=50",
        "rf=afrf",
        "ri=86400",
        "rua=mailto:a@example.com",
        "rua=mailto:a@example.com!10m, https://r.example.net/x",
        "ruf=a@example.com",
        "rua=mailto:@",
        "rua=mailto:a@[::1]",
        "rua=http://[bad",
        "=",
        "x",
        "",
        " ",
        "\x00",
        "é=ü",
    ]
)
_DMARCISH = st.lists(st.one_of(_FRAGMENTS, st.text(max_size=12)), max_size=12).flatmap(
    lambda parts: st.sampled_from(["; ", ";", " ", ";;"]).map(lambda sep: sep.join(parts))
)


@settings(max_examples=400)
@given(st.one_of(st.text(max_size=300), _DMARCISH))
def test_any_text_parses_without_raising(text: str) -> None:
    parsed = parse_dmarc(text)
    assert isinstance(parsed, ParsedDmarc)
    for problem in parsed.problems:
        assert 0 <= problem.position <= len(text)
        assert problem.code
        assert problem.severity in (Status.WARN, Status.FAIL)
    if parsed.is_dmarc:
        assert text.lstrip()[:1] in ("v", "V")
    else:
        assert parsed.applied_policy() is None
        assert parsed.errors


@settings(max_examples=300)
@given(st.one_of(st.text(max_size=200), _DMARCISH))
def test_the_suggested_fix_is_itself_a_clean_record(text: str) -> None:
    suggestion = suggested_record(parse_dmarc(text))
    again = parse_dmarc(suggestion)
    assert again.is_dmarc
    assert again.errors == []
    assert {p.code for p in again.warnings} <= {"unsupported-scheme"}


@given(st.lists(st.from_regex(r"[a-z0-9]{1,6}", fullmatch=True), min_size=1, max_size=20))
def test_walks_are_bounded_suffix_chains(labels: list[str]) -> None:
    names = walk_names(".".join(labels))
    assert 1 <= len(names) <= 8
    assert names[0] == ".".join(labels)
    assert names[-1] == labels[-1]
    for longer, shorter in itertools.pairwise(names):
        assert longer.endswith("." + shorter)
        assert shorter.count(".") < longer.count(".")
