"""Findings' `record`: the exact zone-file line (or MTA-STS file body) to publish.

Each check that offers a record is asked over the wire, against the lab, and the
record compared with the line written out by hand; then every record the audit of
the lab's broken domains produces is parsed back with dnspython, the way a DNS
server loading a zone file would read it. `txt_record` itself gets a property test.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

import dns.dnssec
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.zone
import pytest
from hypothesis import given
from hypothesis import strategies as st

from console.auth.audit import audit_domain
from console.auth.bimi import check_bimi
from console.auth.dkim import check_dkim
from console.auth.dmarc import check_dmarc
from console.auth.dnssec import check_dnssec
from console.auth.fcrdns import check_fcrdns
from console.auth.mta_sts import check_mta_sts, parse_policy
from console.auth.mx import check_mx
from console.auth.options import AuditOptions
from console.auth.records import TXT_STRING_LIMIT, txt_record
from console.auth.resolver import ResolverContext
from console.auth.spf import check_spf
from console.auth.tls_rpt import check_tls_rpt
from console.model import CheckResult, Finding, Status

Check = Callable[[ResolverContext, str, AuditOptions], Awaitable[CheckResult]]

OPTIONS = AuditOptions()


def finding(result: CheckResult, code: str) -> Finding:
    return next(f for f in result.findings if f.code == code)


def parse_zone_lines(record: str) -> list[dns.rdata.Rdata]:
    """Load `record` as a zone file (origin the root) and return each record's rdata."""
    zone = dns.zone.from_text(record + "\n", origin=".", relativize=False, check_origin=False)
    out = []
    for _name, _ttl, rdata in zone.iterate_rdatas():
        out.append(rdata)
    assert len(out) == len(record.splitlines())  # one record per line, none lost
    return out


def txt_value(record: str) -> str:
    """The value of a one-line TXT record, as receivers see it (strings concatenated)."""
    (rdata,) = parse_zone_lines(record)
    assert rdata.rdtype == dns.rdatatype.TXT
    assert all(len(s) <= TXT_STRING_LIMIT for s in rdata.strings)
    return b"".join(rdata.strings).decode("utf-8")


# The record each check offers for a lab domain, written out by hand.
EXACT: list[tuple[Check, str, str, str]] = [
    (check_spf, "plusall.test", "spf.plus-all", 'plusall.test. 3600 IN TXT "v=spf1 mx ~all"'),
    (
        check_spf,
        "spf-dup.test",
        "spf.multiple-records",
        'spf-dup.test. 3600 IN TXT "v=spf1 include:sendgrid.net mx ~all"',
    ),
    (
        check_spf,
        "spf-lookups.test",
        "spf.too-many-lookups",
        'spf-lookups.test. 3600 IN TXT "v=spf1 ip4:127.0.1.10 ip4:198.51.100.0/24 '
        'ip4:203.0.113.0/24 ip6:2001:db8:a0::/48 ip6:2001:db8:4860::/48 -all"',
    ),
    (
        check_spf,
        "spf-ptr.test",
        "spf.ptr",
        'spf-ptr.test. 3600 IN TXT "v=spf1 ip4:127.0.1.1 ip4:127.0.1.2 ip6:::1 ip4:192.0.2.1 -all"',
    ),
    (
        check_spf,
        "hostile.test",
        "spf.syntax",
        'hostile.test. 3600 IN TXT "v=spf1 ip4:192.0.2.1 -all"',
    ),
    (
        check_spf,
        "huge-txt.test",
        "spf.too-large",
        'huge-txt.test. 3600 IN TXT "v=spf1 ip4:198.51.100.0/24 -all"',
    ),
    (check_spf, "bl.test", "spf.missing", 'bl.test. 3600 IN TXT "v=spf1 mx ~all"'),
    (
        check_dmarc,
        "bl.test",
        "dmarc.missing",
        '_dmarc.bl.test. 3600 IN TXT "v=DMARC1; p=none; rua=mailto:dmarc-reports@bl.test"',
    ),
    (
        check_dmarc,
        "dmarc-multi.test",
        "dmarc.multiple-records",
        '_dmarc.dmarc-multi.test. 3600 IN TXT "v=DMARC1; p=none; '
        'rua=mailto:dmarc@dmarc-multi.test"',
    ),
    (
        check_dmarc,
        "dmarc-testmode.test",
        "dmarc.test-mode",
        '_dmarc.dmarc-testmode.test. 3600 IN TXT "v=DMARC1; p=reject"',
    ),
    (
        check_dmarc,
        "bimi-nodmarc.test",
        "dmarc.policy-none",  # the next step (quarantine), not the final reject
        '_dmarc.bimi-nodmarc.test. 3600 IN TXT "v=DMARC1; p=quarantine; '
        'rua=mailto:dmarc@bimi-nodmarc.test"',
    ),
    (
        check_dmarc,
        "bimi-spnone.test",
        "dmarc.subdomain-policy-none",
        '_dmarc.bimi-spnone.test. 3600 IN TXT "v=DMARC1; p=reject; sp=quarantine; '
        'rua=mailto:dmarc@bimi-spnone.test"',
    ),
    (
        check_dmarc,
        "rua-unauth.test",
        "dmarc.unauthorised-rua",  # for the report destination's operator to publish
        'rua-unauth.test._report._dmarc.reports.elsewhere.test. 3600 IN TXT "v=DMARC1"',
    ),
    (
        check_mx,
        "mx-cname.test",
        "mx.cname",
        "mx-cname.test. 3600 IN MX 10 host.mx-cname.test.",
    ),
    (check_mx, "mx-nullbad.test", "mx.null-malformed", "mx-nullbad.test. 3600 IN MX 0 ."),
    (
        check_mx,
        "mx-ipliteral.test",
        "mx.ip-literal",
        "mail.mx-ipliteral.test. 3600 IN A 127.0.4.17\n"
        "mx-ipliteral.test. 3600 IN MX 10 mail.mx-ipliteral.test.",
    ),
    (
        check_mta_sts,
        "mtasts-mismatch.test",
        "mta-sts.mx-mismatch",
        "version: STSv1\nmode: enforce\nmx: mx1.old-provider.test\nmx: *.old-provider.test\n"
        "mx: mx.mtasts-mismatch.test\nmax_age: 604800",
    ),
    (
        check_mta_sts,
        "mtasts-testing.test",
        "mta-sts.testing",
        "version: STSv1\nmode: enforce\nmx: mx.mtasts-testing.test\nmax_age: 86400",
    ),
    (
        check_mta_sts,
        "sts-nopolicy.test",
        "mta-sts.policy-unavailable",
        "version: STSv1\nmode: enforce\nmx: mx.sts-nopolicy.test\nmax_age: 604800",
    ),
    (
        check_mta_sts,
        "mtasts-multiple.test",
        "mta-sts.multiple",
        '_mta-sts.mtasts-multiple.test. 3600 IN TXT "v=STSv1; id=20261115T000000"',
    ),
    (
        check_tls_rpt,
        "bl.test",
        "tls-rpt.missing",
        '_smtp._tls.bl.test. 3600 IN TXT "v=TLSRPTv1; rua=mailto:tls-reports@bl.test"',
    ),
    (
        check_tls_rpt,
        "tlsrpt-baduri.test",
        "tls-rpt.bad-uri",
        '_smtp._tls.tlsrpt-baduri.test. 3600 IN TXT "v=TLSRPTv1; '
        'rua=mailto:tlsrpt@tlsrpt-baduri.test"',
    ),
    (
        check_tls_rpt,
        "tlsrpt-multiple.test",
        "tls-rpt.multiple",
        '_smtp._tls.tlsrpt-multiple.test. 3600 IN TXT "v=TLSRPTv1; '
        'rua=https://reports.tlsrpt-multiple.test/v1,mailto:tlsrpt@tlsrpt-multiple.test"',
    ),
    (
        check_tls_rpt,
        "tlsrpt-syntax.test",
        "tls-rpt.syntax",
        '_smtp._tls.tlsrpt-syntax.test. 3600 IN TXT "v=TLSRPTv1; '
        'rua=mailto:tlsrpt@tlsrpt-syntax.test"',
    ),
    (
        check_bimi,
        "bimi-syntax.test",
        "bimi.syntax",
        'default._bimi.bimi-syntax.test. 3600 IN TXT "v=BIMI1; '
        'l=https://bimi.good.test/logo.svg; a=https://bimi-syntax.test/bimi/vmc.pem"',
    ),
    (
        check_bimi,
        "bimi-nodmarc.test",
        "bimi.dmarc-not-enforced",
        '_dmarc.bimi-nodmarc.test. 3600 IN TXT "v=DMARC1; p=quarantine; '
        'rua=mailto:dmarc@bimi-nodmarc.test"',
    ),
    (
        check_fcrdns,
        "fcrdns-mismatch.test",
        "fcrdns.not-confirmed",
        "mail.fcrdns-mismatch.test. 3600 IN A 127.0.4.2",
    ),
    (
        check_fcrdns,
        "fcrdns-generic.test",
        "fcrdns.generic-ptr",
        "1.4.0.127.in-addr.arpa. 3600 IN PTR mx.fcrdns-generic.test.\n"
        "mx.fcrdns-generic.test. 3600 IN A 127.0.4.1",
    ),
]


@pytest.mark.parametrize(
    ("check", "domain", "code", "expected"),
    EXACT,
    ids=[f"{code}@{domain}" for _, domain, code, _ in EXACT],
)
async def test_the_record_is_exactly_the_line_to_publish(
    ctx: ResolverContext, check: Check, domain: str, code: str, expected: str
) -> None:
    result = await check(ctx, domain, OPTIONS)
    found = finding(result, code)
    assert found.record == expected
    # The prose fix still quotes it, for readers of `fix` alone (and older scripts).
    for line in expected.splitlines():
        assert line in found.fix


@pytest.mark.parametrize(
    ("domain", "code", "owner", "value"),
    [
        # h=sha1 dropped, v=DKIM1 kept first, the key as published.
        ("dkim-sha1.test", "dkim.sha1", "k1._domainkey.dkim-sha1.test", "v=DKIM1; k=rsa; p={p}"),
        # v=DKIM1 moved to the front.
        (
            "dkim-syntax.test",
            "dkim.syntax",
            "mail._domainkey.dkim-syntax.test",
            "v=DKIM1; k=rsa; p={p}",
        ),
        # t=y removed.
        (
            "dkim-testing.test",
            "dkim.testing",
            "s1._domainkey.dkim-testing.test",
            "v=DKIM1; k=rsa; p={p}",
        ),
    ],
)
async def test_dkim_records_keep_the_published_key_split_into_255_octet_strings(
    ctx: ResolverContext, domain: str, code: str, owner: str, value: str
) -> None:
    published = (await ctx.query(owner, "TXT")).texts()[0]
    key = re.search(r"p=([A-Za-z0-9+/=]+)", published)
    assert key is not None
    expected = value.format(p=key.group(1))
    assert len(expected) > TXT_STRING_LIMIT  # so the split is really exercised

    result = await check_dkim(ctx, domain, OPTIONS)
    record = finding(result, code).record
    assert record is not None
    assert record.startswith(f'{owner}. 3600 IN TXT "v=DKIM1; k=rsa; p=')
    assert record.count('" "') == 1  # two strings: 255 octets, then the rest
    assert txt_value(record) == expected


async def test_dnssec_bogus_record_is_the_ds_of_the_key_that_signs_the_zone(
    ctx: ResolverContext,
) -> None:
    result = await check_dnssec(ctx, "dnssec-bogus.test", OPTIONS)
    record = finding(result, "dnssec.bogus").record
    keys = await ctx.query("dnssec-bogus.test", "DNSKEY")
    assert keys.rrset is not None
    ksk = [key for key in keys.rrset if key.flags & dns.dnssec.Flag.SEP]
    name = dns.name.from_text("dnssec-bogus.test")
    expected = "\n".join(
        f"dnssec-bogus.test. 3600 IN DS {dns.dnssec.make_ds(name, key, 'SHA256').to_text()}"
        for key in ksk
    )
    assert record == expected
    (ds,) = parse_zone_lines(record)
    assert ds.rdtype == dns.rdatatype.DS


async def test_mta_sts_syntax_record_has_a_fresh_id(ctx: ResolverContext) -> None:
    result = await check_mta_sts(ctx, "mtasts-badtxt.test", OPTIONS)
    record = finding(result, "mta-sts.syntax").record
    assert record is not None
    assert re.fullmatch(
        r'_mta-sts\.mtasts-badtxt\.test\. 3600 IN TXT "v=STSv1; id=\d{8}T\d{6}"', record
    )


async def test_advice_without_a_record_leaves_record_none(ctx: ResolverContext) -> None:
    # The certificate must be fixed on a server: nothing to publish in DNS or a file.
    result = await check_mta_sts(ctx, "mtasts-badcert.test", OPTIONS)
    assert finding(result, "mta-sts.certificate").record is None
    # Findings that pass have nothing to publish.
    dmarc = await check_dmarc(ctx, "good.test", OPTIONS)
    assert all(f.record is None for f in dmarc.findings if f.severity is Status.PASS)


AUDITED = [
    "bimi-nodmarc.test",
    "dkim-sha1.test",
    "dmarc-legacy.test",
    "dmarc-multi.test",
    "dnssec-bogus.test",
    "fcrdns-generic.test",
    "hostile.test",
    "huge-txt.test",
    "mtasts-mismatch.test",
    "mx-ipliteral.test",
    "rua-unauth.test",
    "spf-lookups.test",
    "tlsrpt-multiple.test",
]


@pytest.mark.parametrize("domain", AUDITED)
async def test_every_record_of_an_audit_loads_as_a_zone_file_or_a_policy(
    ctx: ResolverContext, domain: str
) -> None:
    report = await audit_domain(ctx, domain)
    records = [f for check in report.checks for f in check.findings if f.record]
    assert records, f"{domain} offers no record to publish"
    for found in records:
        assert found.record is not None
        if found.code.startswith("mta-sts.") and not found.record.startswith("_mta-sts."):
            policy = parse_policy(found.record)
            assert policy.errors == [], (found.code, policy.errors)
            continue
        for rdata in parse_zone_lines(found.record):
            if rdata.rdtype == dns.rdatatype.TXT:
                assert all(len(s) <= TXT_STRING_LIMIT for s in rdata.strings)
        # Nothing the terminal or a clipboard could act on, even from hostile.test.
        assert not re.search(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e]", found.record.replace("\n", ""))


# -- txt_record on its own ------------------------------------------------------------

_LABEL = st.from_regex(r"[a-z0-9_]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)


@given(
    labels=st.lists(_LABEL, min_size=2, max_size=5),
    value=st.text(min_size=1, max_size=900),
)
def test_txt_record_round_trips_through_zone_file_parsing(labels: list[str], value: str) -> None:
    owner = ".".join(labels)
    line = txt_record(owner, value)
    assert "\n" not in line  # one line, whatever the value holds
    assert "\r" not in line
    zone = dns.zone.from_text(line + "\n", origin=".", relativize=False, check_origin=False)
    ((name, ttl, rdata),) = list(zone.iterate_rdatas())
    assert name == dns.name.from_text(owner)
    assert ttl == 3600
    assert rdata.rdtype == dns.rdatatype.TXT
    assert all(1 <= len(s) <= TXT_STRING_LIMIT for s in rdata.strings)
    assert b"".join(rdata.strings) == value.encode("utf-8")
    # Only the last string may be short: receivers concatenate them, so nothing is lost.
    assert all(len(s) > TXT_STRING_LIMIT - 4 for s in rdata.strings[:-1])
    # The TXT data alone parses the same way (what a DNS console's value field takes).
    rdata_text = line.split(" IN TXT ", 1)[1]
    alone = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.TXT, rdata_text)
    assert alone.strings == rdata.strings
