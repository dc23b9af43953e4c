"""RFC 7208 check_host() over the wire against the lab DNS.

Zones: spfeval-example.test / spfeval-org.test / spfeval-net.test mirror the example.com,
example.org and example.net of RFC 7208 Appendix B; spfeval-cases.test holds one name per
rule of sections 2.4, 4.3-4.6, 5, 6 and 7.
"""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from console.auth.resolver import ResolverContext
from console.auth.spf import MacroEnv, expand_macros, truncate_domain
from console.auth.spf_eval import (
    SpfResult,
    SpfVerdict,
    check_host,
    client_address,
    identity,
    valid_domain,
)
from console.lab import Lab

EX = "spfeval-example.test"
ORG = "spfeval-org.test"
CASES = "spfeval-cases.test"


async def verdict(
    ctx: ResolverContext, ip: str, domain: str, sender: str | None = None, helo: str = "mx.lab.test"
) -> SpfVerdict:
    return await check_host(ctx, ip, domain, sender or f"user@{domain}", helo)


async def result(ctx: ResolverContext, ip: str, domain: str, sender: str | None = None) -> str:
    return (await verdict(ctx, ip, domain, sender)).result.value


# -- RFC 7208 7.4: macro expansion examples (strings only) --------------------------------

SENDER = "strong-bad@email.example.com"
ENV4 = MacroEnv(sender=SENDER, domain="email.example.com", ip=ipaddress.ip_address("192.0.2.3"))
ENV6 = MacroEnv(
    sender=SENDER, domain="email.example.com", ip=ipaddress.ip_address("2001:db8::cb01")
)


@pytest.mark.parametrize(
    ("macro", "expansion"),
    [
        ("%{s}", "strong-bad@email.example.com"),
        ("%{o}", "email.example.com"),
        ("%{d}", "email.example.com"),
        ("%{d4}", "email.example.com"),
        ("%{d3}", "email.example.com"),
        ("%{d2}", "example.com"),
        ("%{d1}", "com"),
        ("%{dr}", "com.example.email"),
        ("%{d2r}", "example.email"),
        ("%{l}", "strong-bad"),
        ("%{l-}", "strong.bad"),
        ("%{lr}", "strong-bad"),
        ("%{lr-}", "bad.strong"),
        ("%{l1r-}", "strong"),
        ("%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com"),
        ("%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com"),
        ("%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", "bad.strong.lp.3.2.0.192.in-addr._spf.example.com"),
        ("%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", "3.2.0.192.in-addr.strong.lp._spf.example.com"),
        ("%{d2}.trusted-domains.example.net", "example.com.trusted-domains.example.net"),
    ],
)
def test_rfc7208_section_7_4_examples(macro: str, expansion: str) -> None:
    assert expand_macros(macro, ENV4) == expansion


def test_rfc7208_section_7_4_ipv6_example() -> None:
    assert expand_macros("%{ir}.%{v}._spf.%{d2}", ENV6) == (
        "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com"
    )


def test_escapes_and_url_encoding() -> None:
    env = MacroEnv(sender="a b+c@example.com", domain="example.com")
    assert expand_macros("%%%_%-", env) == "% %20"
    # Upper-case letters expand like lower case, then URL-escape (RFC 7208 7.3).
    assert expand_macros("%{L}", env) == "a%20b%2Bc"
    assert expand_macros("%{S}", env) == "a%20b%2Bc%40example.com"


def test_letters_c_r_t_only_in_explanations() -> None:
    env = MacroEnv(
        sender=SENDER, domain="example.com", ip=ENV6.ip, receiver="mx.example.net", timestamp=7
    )
    assert expand_macros("%{c} %{r} %{t}", env, explanation=True) == (
        "2001:db8::cb01 mx.example.net 7"
    )
    assert expand_macros("%{c}.example.com", env) is None
    assert expand_macros("two words", env) is None  # spaces only in explanations


@pytest.mark.parametrize("bad", ["%", "%x", "%{", "%{x}", "%{d0}", "%{d", "%(ir)", "é"])
def test_invalid_macro_syntax_is_refused(bad: str) -> None:
    assert expand_macros(bad, ENV4) is None


def test_long_expansions_drop_left_labels() -> None:
    name = ".".join(["a" * 60] * 5) + ".example.com"
    truncated = truncate_domain(name)
    assert len(truncated) <= 253
    assert truncated.endswith(".example.com")
    assert name.endswith(truncated)


@given(st.text(max_size=200), st.booleans())
def test_macro_expansion_never_raises(text: str, explanation: bool) -> None:
    for env in (ENV4, ENV6, MacroEnv()):
        expanded = expand_macros(text, env, explanation=explanation)
        assert expanded is None or isinstance(expanded, str)


# -- RFC 7208 Appendix B.1: simple examples ----------------------------------------------


async def test_b1_plus_all_passes_any_ip(ctx: ResolverContext) -> None:
    for ip in ("192.0.2.200", "198.51.100.7", "2001:db8::1"):
        assert await result(ctx, ip, f"b1-plusall.{EX}") == "pass"


async def test_b1_a(ctx: ResolverContext) -> None:
    domain = f"b1-a.{EX}"
    assert await result(ctx, "192.0.2.10", domain) == "pass"
    assert await result(ctx, "192.0.2.11", domain) == "pass"
    assert await result(ctx, "192.0.2.12", domain) == "fail"


async def test_b1_a_elsewhere_without_addresses(ctx: ResolverContext) -> None:
    got = await verdict(ctx, "192.0.2.140", f"b1-aorg.{EX}")
    assert got.result is SpfResult.FAIL
    assert got.void_lookups == 1  # spfeval-org.test has no A record


async def test_b1_mx(ctx: ResolverContext) -> None:
    assert await result(ctx, "192.0.2.129", f"b1-mx.{EX}") == "pass"
    assert await result(ctx, "192.0.2.130", f"b1-mx.{EX}") == "pass"
    assert await result(ctx, "192.0.2.140", f"b1-mx.{EX}") == "fail"
    assert await result(ctx, "192.0.2.140", f"b1-mxorg.{EX}") == "pass"
    assert await result(ctx, "192.0.2.129", f"b1-mxorg.{EX}") == "fail"
    for ip in ("192.0.2.129", "192.0.2.130", "192.0.2.140"):
        assert await result(ctx, ip, f"b1-mxboth.{EX}") == "pass"


async def test_b1_mx_with_cidr(ctx: ResolverContext) -> None:
    domain = f"b1-mx30.{EX}"
    for ip in ("192.0.2.128", "192.0.2.131", "192.0.2.140", "192.0.2.143"):
        assert await result(ctx, ip, domain) == "pass", ip
    for ip in ("192.0.2.132", "192.0.2.139", "192.0.2.144"):
        assert await result(ctx, ip, domain) == "fail", ip


async def test_b1_ptr(ctx: ResolverContext) -> None:
    # "v=spf1 ptr -all" at an MX host: 127.0.1.10 reverse-resolves to it and back.
    host = "mx.spf-lookups.test"
    assert await result(ctx, "127.0.1.10", host) == "pass"
    # valid reverse DNS, but in another domain
    assert await result(ctx, "127.0.1.11", host) == "fail"
    # no reverse DNS at all
    assert await result(ctx, "127.0.2.1", host) == "fail"
    # "v=spf1 ptr:good.test -all": 192.0.2.20's PTR claims a name that does not resolve
    assert await result(ctx, "192.0.2.10", f"b1-ptr.{EX}") == "pass"
    assert await result(ctx, "192.0.2.20", f"b1-ptr.{EX}") == "fail"


async def test_b1_ip4(ctx: ResolverContext) -> None:
    assert await result(ctx, "192.0.2.65", f"b1-ip4.{EX}") == "fail"
    assert await result(ctx, "192.0.2.129", f"b1-ip4.{EX}") == "pass"


# -- Appendix B.2: multiple domains -------------------------------------------------------


async def test_b2_include_either_domain(ctx: ResolverContext) -> None:
    sender = f"me@{ORG}"
    got = await verdict(ctx, "192.0.2.129", ORG, sender)
    assert got.result is SpfResult.PASS
    assert got.mechanism == f"include:{EX}"
    assert got.trail[-1] == f"{EX}: mx"
    assert await result(ctx, "192.0.2.200", ORG, sender) == "pass"  # via spfeval-net.test
    assert await result(ctx, "192.0.2.140", ORG, sender) == "fail"


@pytest.mark.parametrize("office", ["la", "ny", "sf"])
async def test_b2_redirect_shares_the_policy(ctx: ResolverContext, office: str) -> None:
    domain = f"{office}.{ORG}"
    got = await verdict(ctx, "192.0.2.200", domain)
    assert got.result is SpfResult.PASS
    assert got.trail[0] == f"{domain}: redirect={ORG}"
    assert await result(ctx, "192.0.2.140", domain) == "fail"


# -- Appendix B.3: DNSBL style -----------------------------------------------------------


async def test_b3_mobile_and_remote_users(ctx: ResolverContext) -> None:
    assert await result(ctx, "198.51.100.7", EX, f"mary@{EX}") == "pass"
    assert await result(ctx, "198.51.100.7", EX, f"fred+news@{EX}") == "pass"  # %{l1r+}
    assert await result(ctx, "192.0.2.15", EX, f"joel@{EX}") == "pass"
    assert await result(ctx, "192.0.2.16", EX, f"joel@{EX}") == "pass"
    assert await result(ctx, "192.0.2.17", EX, f"joel@{EX}") == "fail"
    got = await verdict(ctx, "192.0.2.129", EX, f"bob@{EX}")
    assert (got.result, got.mechanism) == (SpfResult.PASS, "mx")


async def test_b3_unknown_user_fails_within_the_void_limit(ctx: ResolverContext) -> None:
    got = await verdict(ctx, "198.51.100.7", EX, f"mallory@{EX}")
    assert got.result is SpfResult.FAIL
    assert got.mechanism == "-all"
    assert got.void_lookups == 2
    assert got.lookups == 5  # mx, two includes, two exists


async def test_cname_to_the_record_is_followed(ctx: ResolverContext) -> None:
    assert await result(ctx, "192.0.2.129", f"www.{EX}", f"bob@{EX}") == "pass"


# -- Appendix B.4: multiple requirements -------------------------------------------------


async def test_b4_address_range_and_reverse_dns_both_required(ctx: ResolverContext) -> None:
    domain = f"b4.{EX}"
    assert await result(ctx, "192.0.2.10", domain) == "pass"  # in range, PTR valid
    assert await result(ctx, "192.0.2.20", domain) == "fail"  # in range, PTR not valid
    assert await result(ctx, "198.51.100.10", domain) == "fail"  # out of range


# -- Section 4.6.4: limits ---------------------------------------------------------------


async def test_ten_lookups_allowed_eleventh_is_permerror(ctx: ResolverContext) -> None:
    ten = await verdict(ctx, "192.0.2.1", f"limit10.{CASES}")
    assert (ten.result, ten.lookups) == (SpfResult.FAIL, 10)
    eleven = await verdict(ctx, "192.0.2.1", f"limit11.{CASES}")
    assert eleven.result is SpfResult.PERMERROR
    assert "more than 10" in eleven.explanation
    # Only evaluated terms count: the first term matches, nothing else is looked up.
    early = await verdict(ctx, "192.0.2.99", f"limit11.{CASES}")
    assert (early.result, early.lookups) == (SpfResult.PASS, 1)


async def test_two_void_lookups_allowed_third_is_permerror(ctx: ResolverContext) -> None:
    two = await verdict(ctx, "192.0.2.1", f"void2.{CASES}")
    assert (two.result, two.void_lookups) == (SpfResult.FAIL, 2)
    three = await verdict(ctx, "192.0.2.1", f"void3.{CASES}")
    assert three.result is SpfResult.PERMERROR
    assert "a:nx3" in three.explanation


async def test_mx_with_more_than_ten_hosts_is_permerror(ctx: ResolverContext) -> None:
    assert await result(ctx, "192.0.2.110", f"mx10.{CASES}") == "pass"
    assert await result(ctx, "192.0.2.101", f"mx11.{CASES}") == "permerror"


async def test_null_mx_matches_nothing(ctx: ResolverContext) -> None:
    assert await result(ctx, "192.0.2.1", f"nullmx.{CASES}") == "fail"


async def test_include_loop_ends_in_permerror(ctx: ResolverContext) -> None:
    got = await verdict(ctx, "192.0.2.1", f"loop.{CASES}")
    assert got.result is SpfResult.PERMERROR
    assert got.lookups == 11


# -- Sections 5.2 and 6.1: include and redirect ------------------------------------------


async def test_include_results(ctx: ResolverContext) -> None:
    assert await result(ctx, "192.0.2.1", f"incnone.{CASES}") == "permerror"
    assert await result(ctx, "192.0.2.1", f"incperm.{CASES}") == "permerror"
    assert await result(ctx, "192.0.2.1", f"inctemp.{CASES}") == "temperror"
    # a neutral include does not match: evaluation goes on to -all
    assert await result(ctx, "192.0.2.1", f"incneutral.{CASES}") == "fail"


async def test_unanswered_include_is_temperror_within_the_timeout(lab: Lab) -> None:
    ctx = lab.resolver(timeout=1.5, retries=0)
    got = await verdict(ctx, "192.0.2.1", f"incsilent.{CASES}")
    assert got.result is SpfResult.TEMPERROR
    assert "silent.test" in got.explanation


async def test_address_lookup_error_is_temperror(ctx: ResolverContext) -> None:
    got = await verdict(ctx, "192.0.2.1", f"atemp.{CASES}")
    assert got.result is SpfResult.TEMPERROR
    assert "SERVFAIL" in got.explanation


async def test_redirect_rules(ctx: ResolverContext) -> None:
    # ignored when the record has an all mechanism
    ignored = await verdict(ctx, "192.0.2.1", f"redirall.{CASES}")
    assert (ignored.result, ignored.lookups) == (SpfResult.NEUTRAL, 0)
    assert await result(ctx, "192.0.2.1", f"redirnone.{CASES}") == "permerror"
    got = await verdict(ctx, "192.0.2.33", f"redirmacro.{CASES}")
    assert got.result is SpfResult.PASS
    assert got.matched_in == f"_spf.redirmacro.{CASES}"


# -- Section 6.2: explanations -----------------------------------------------------------


async def test_exp_is_macro_expanded_for_fail(ctx: ResolverContext) -> None:
    got = await verdict(ctx, "192.0.2.1", f"exp.{CASES}")
    assert got.result is SpfResult.FAIL
    assert got.explanation == f"192.0.2.1 is not one of exp.{CASES}'s designated mail servers."
    as_dict = got.to_dict()
    assert (as_dict["result"], as_dict["mechanism"], as_dict["lookups"]) == ("fail", "-all", 0)
    assert as_dict["explanation"] == got.explanation
    assert list(got.to_dict())[:4] == ["result", "explanation", "mechanism", "lookups"]


async def test_exp_letters_c_r_and_url_escaping(lab: Lab) -> None:
    ctx = lab.resolver(timeout=2.0)
    got = await check_host(
        ctx, "2001:db8::cb01", f"expcrt.{CASES}", "a b@x.test", "h.test", receiver="mx.rcpt.test"
    )
    assert got.result is SpfResult.FAIL
    head, _, tail = got.explanation.partition(" at ")
    assert head == "2001:db8::cb01 rejected by mx.rcpt.test"
    assert tail.split(";")[0].isdigit()
    assert tail.endswith("why?s=a%20b%40x.test")


async def test_bad_exp_falls_back_to_the_default(ctx: ResolverContext) -> None:
    for name in ("expbad", "expmulti", "expmissing"):
        got = await verdict(ctx, "192.0.2.1", f"{name}.{CASES}")
        assert got.result is SpfResult.FAIL
        assert got.explanation == f"192.0.2.1 is not authorised to send mail for {name}.{CASES}"


async def test_exp_only_for_fail(ctx: ResolverContext) -> None:
    got = await verdict(ctx, "192.0.2.9", f"exppass.{CASES}")
    assert got.result is SpfResult.PASS
    assert "designated" not in got.explanation


async def test_exp_of_an_include_is_not_used_but_of_a_redirect_is(ctx: ResolverContext) -> None:
    included = await verdict(ctx, "192.0.2.1", f"incexp.{CASES}")
    assert included.result is SpfResult.FAIL
    assert "designated" not in included.explanation
    redirected = await verdict(ctx, "192.0.2.1", f"redirexp.{CASES}")
    assert redirected.explanation == (
        f"192.0.2.1 is not one of withexp.{CASES}'s designated mail servers."
    )


async def test_p_macro_is_the_validated_name(ctx: ResolverContext) -> None:
    got = await verdict(ctx, "192.0.2.10", f"pmacro.{CASES}")
    assert got.explanation == f"mail.good.test may not send for pmacro.{CASES}"
    unvalidated = await verdict(ctx, "192.0.2.20", f"pmacro.{CASES}")
    assert unvalidated.explanation == f"unknown may not send for pmacro.{CASES}"


# -- Sections 5.6, 5.7, 7: CIDR, IPv6, exists --------------------------------------------


async def test_dual_cidr_lengths(ctx: ResolverContext) -> None:
    domain = f"dual.{CASES}"
    assert await result(ctx, "192.0.2.77", domain) == "pass"  # 192.0.2.50/24
    assert await result(ctx, "198.51.100.1", domain) == "fail"
    assert await result(ctx, "2001:db8::ffff", domain) == "pass"  # 2001:db8::50//64
    assert await result(ctx, "2001:db8:1::1", domain) == "fail"


async def test_ipv6_and_ipv4_mapped_clients(ctx: ResolverContext) -> None:
    assert await result(ctx, "2001:db8:ffff::1", f"v6.{CASES}") == "pass"
    assert await result(ctx, "2001:db9::1", f"v6.{CASES}") == "fail"
    assert await result(ctx, "192.0.2.1", f"v6.{CASES}") == "fail"
    # An IPv4-mapped address is evaluated as the IPv4 address it carries.
    assert await result(ctx, "::ffff:192.0.2.10", f"b1-a.{EX}") == "pass"
    assert client_address("::ffff:192.0.2.10") == ipaddress.ip_address("192.0.2.10")


async def test_exists_with_ip_macros(ctx: ResolverContext) -> None:
    assert await result(ctx, "192.0.2.1", f"existsi.{CASES}") == "pass"
    assert await result(ctx, "192.0.2.2", f"existsi.{CASES}") == "fail"
    assert await result(ctx, "2001:db8::cb01", f"exists6.{CASES}") == "pass"
    assert await result(ctx, "2001:db8::cb02", f"exists6.{CASES}") == "fail"


# -- Sections 2.4, 4.3, 4.5, 4.6: identities, records, syntax ----------------------------


async def test_null_reverse_path_uses_postmaster_at_helo(ctx: ResolverContext) -> None:
    helo = f"helo.{CASES}"
    got = await check_host(ctx, "192.0.2.1", helo, "", helo)
    assert got.result is SpfResult.PASS
    assert identity("", helo) == (f"postmaster@{helo}", helo)
    assert identity("<>", helo) == (f"postmaster@{helo}", helo)
    assert identity("@example.test", helo) == ("postmaster@example.test", "example.test")
    # someone else's local part does not exist under users.
    assert await result(ctx, "192.0.2.1", helo, f"alice@{helo}") == "fail"


@pytest.mark.parametrize(
    "domain", ["localhost", "", "a..b.test", "x" * 64 + ".test", ".test", "a b.test"]
)
async def test_malformed_domain_is_none(ctx: ResolverContext, domain: str) -> None:
    got = await verdict(ctx, "192.0.2.1", domain, "user@example.test")
    assert got.result is SpfResult.NONE
    assert got.lookups == 0
    assert valid_domain(domain) is None


async def test_no_record_is_none(ctx: ResolverContext) -> None:
    for domain in (f"nothing.{CASES}", f"nospf.{CASES}", f"notspf.{CASES}"):
        assert await result(ctx, "192.0.2.1", domain) == "none", domain


async def test_multiple_records_and_syntax_errors_are_permerror(ctx: ResolverContext) -> None:
    multi = await verdict(ctx, "192.0.2.1", f"multi.{CASES}")
    assert multi.result is SpfResult.PERMERROR
    assert "2 SPF records" in multi.explanation
    syntax = await verdict(ctx, "192.0.2.1", f"syntax.{CASES}")
    assert syntax.result is SpfResult.PERMERROR
    assert "ip4:192.0.2.300" in syntax.explanation


async def test_dns_error_on_the_record_is_temperror(ctx: ResolverContext) -> None:
    assert await result(ctx, "192.0.2.1", "servfail.test") == "temperror"


async def test_unknown_and_reporting_modifiers_are_ignored(ctx: ResolverContext) -> None:
    assert await result(ctx, "192.0.2.1", f"unknownmod.{CASES}") == "fail"


async def test_qualifiers_and_first_match(ctx: ResolverContext) -> None:
    domain = f"qualifiers.{CASES}"
    expected = ["fail", "softfail", "neutral", "pass", "pass", "neutral"]
    for last_octet, want in enumerate(expected, start=1):
        got = await verdict(ctx, f"192.0.2.{last_octet}", domain)
        assert got.result.value == want, last_octet
    nothing = await verdict(ctx, "192.0.2.6", domain)
    assert nothing.mechanism is None  # the default neutral: nothing matched
    assert await result(ctx, "192.0.2.2", f"allfirst.{CASES}") == "fail"


async def test_real_lab_domains(ctx: ResolverContext) -> None:
    good = await verdict(ctx, "198.51.100.20", "good.test")
    assert good.result is SpfResult.PASS
    assert good.mechanism == "include:_spf.google.com"
    assert good.trail == (
        "good.test: include:_spf.google.com",
        "_spf.google.com: include:_netblocks.google.com",
        "_netblocks.google.com: ip4:198.51.100.0/25",
    )
    assert await result(ctx, "127.0.1.2", "good.test") == "pass"  # mx
    assert await result(ctx, "203.0.113.250", "good.test") == "fail"
    over = await verdict(ctx, "203.0.113.230", "spf-lookups.test")
    assert over.result is SpfResult.PERMERROR  # the 14-look-up demo record
    assert await result(ctx, "192.0.2.1", "spf-dup.test") == "permerror"
    assert await result(ctx, "203.0.113.250", "plusall.test") == "pass"


async def test_invalid_client_address_is_a_caller_error(ctx: ResolverContext) -> None:
    with pytest.raises(ValueError, match="does not appear to be"):
        await check_host(ctx, "not-an-ip", "good.test", "a@good.test", "h.test")
