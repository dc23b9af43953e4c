"""Property tests for the report reader: no input makes it raise, reports round-trip."""

from __future__ import annotations

import gzip

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console.bounce.aggregate import (
    NS_DMARC2,
    SCHEMA_7489,
    SCHEMA_9990,
    AggregateReport,
    DkimAuth,
    Override,
    PolicyPublished,
    Record,
    ReportError,
    SpfAuth,
    explain,
    parse_report,
    render_xml,
)
from console.bounce.aggregate_input import Document, Problem, unpack

# Text as XML 1.0 can carry it and the reader returns it: no controls, no surrogates or
# non-characters, no outer whitespace (values are stripped).
TEXT = (
    st.text(
        st.characters(blacklist_categories=("Cc", "Cs", "Cn", "Zl", "Zp")),
        min_size=1,
        max_size=20,
    )
    .map(str.strip)
    .filter(bool)
)
LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
DOMAIN = st.lists(LABEL, min_size=1, max_size=4).map(".".join)
IP = st.ip_addresses().map(str)
MAYBE = st.none() | TEXT


@st.composite
def records(draw: st.DrawFn) -> Record:
    return Record(
        source_ip=draw(IP),
        count=draw(st.integers(0, 10**12)),
        header_from=draw(DOMAIN),
        disposition=draw(st.none() | st.sampled_from(["none", "pass", "quarantine", "reject"])),
        dkim=draw(st.none() | st.sampled_from(["pass", "fail"])),
        spf=draw(st.none() | st.sampled_from(["pass", "fail"])),
        overrides=tuple(
            draw(
                st.lists(
                    st.builds(
                        Override,
                        st.sampled_from(["forwarded", "sampled_out", "mailing_list", "other"]),
                        MAYBE,
                    ),
                    max_size=2,
                )
            )
        ),
        envelope_from=draw(st.none() | DOMAIN),
        envelope_to=draw(st.none() | DOMAIN),
        dkim_results=tuple(
            draw(
                st.lists(
                    st.builds(
                        DkimAuth,
                        DOMAIN,
                        MAYBE,
                        st.sampled_from(["pass", "fail", "neutral", "temperror", "permerror"]),
                        MAYBE,
                    ),
                    max_size=3,
                )
            )
        ),
        spf_results=tuple(
            draw(
                st.lists(
                    st.builds(
                        SpfAuth,
                        DOMAIN,
                        st.none() | st.sampled_from(["mfrom", "helo"]),
                        st.sampled_from(["pass", "fail", "softfail", "none", "permerror"]),
                        MAYBE,
                    ),
                    max_size=2,
                )
            )
        ),
    )


DISPOSITION = st.none() | st.sampled_from(["none", "quarantine", "reject"])
MODE = st.none() | st.sampled_from(["r", "s"])


@st.composite
def reports(draw: st.DrawFn) -> tuple[AggregateReport, bool]:
    namespaced = draw(st.booleans())
    policy = PolicyPublished(
        domain=draw(DOMAIN),
        p=draw(DISPOSITION),
        sp=draw(DISPOSITION),
        np=draw(DISPOSITION),
        adkim=draw(MODE),
        aspf=draw(MODE),
        pct=draw(st.none() | st.integers(0, 100)),
        fo=draw(st.none() | st.sampled_from(["0", "1", "d:s"])),
        testing=draw(st.none() | st.sampled_from(["y", "n"])),
        discovery_method=draw(st.none() | st.sampled_from(["psl", "treewalk"])),
    )
    modern = namespaced or any(
        value is not None for value in (policy.np, policy.testing, policy.discovery_method)
    )
    report = AggregateReport(
        org_name=draw(TEXT),
        report_id=draw(TEXT),
        policy=policy,
        records=tuple(draw(st.lists(records(), max_size=5))),
        email=draw(MAYBE),
        extra_contact_info=draw(MAYBE),
        begin=draw(st.none() | st.integers(0, 2**32)),
        end=draw(st.none() | st.integers(0, 2**32)),
        errors=tuple(draw(st.lists(TEXT, max_size=2))),
        generator=draw(MAYBE),
        version=draw(st.none() | st.just("1.0")),
        schema=SCHEMA_9990 if modern else SCHEMA_7489,
        namespace=NS_DMARC2 if namespaced else None,
    )
    return report, namespaced


@given(reports())
@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
def test_generated_reports_round_trip_through_xml(drawn: tuple[AggregateReport, bool]) -> None:
    report, namespaced = drawn
    data = render_xml(report, namespace=NS_DMARC2 if namespaced else None)
    assert parse_report(data) == report


@given(records(), st.sampled_from(["r", "s", None]), st.sampled_from(["r", "s", None]))
def test_explaining_any_record_gives_a_reason_for_every_failure(
    record: Record, adkim: str | None, aspf: str | None
) -> None:
    verdict = explain(record, PolicyPublished("example.test", adkim=adkim, aspf=aspf))
    assert verdict.dmarc in ("pass", "fail")
    if verdict.dkim_aligned or verdict.spf_aligned:
        assert record.dkim_results or record.spf_results
    if not verdict.passed:
        assert verdict.failures
    if record.dkim is None and record.spf is None:
        # Without the receiver's verdict, ours decides.
        assert verdict.passed == (verdict.dkim_aligned or verdict.spf_aligned)


@given(st.binary(max_size=2000))
@settings(max_examples=300)
def test_arbitrary_bytes_never_raise_anything_but_report_error(data: bytes) -> None:
    try:
        parse_report(data)
    except ReportError as exc:
        message = str(exc)
    else:
        message = ""
    assert "\n" not in message


@given(st.binary(max_size=500), st.sampled_from([b"", b"\x1f\x8b", b"PK\x03\x04"]))
@settings(max_examples=300)
def test_arbitrary_containers_never_raise(data: bytes, magic: bytes) -> None:
    for item in unpack("f", magic + data):
        assert isinstance(item, Document | Problem)


@given(st.binary(min_size=1, max_size=200))
def test_truncated_gzip_of_anything_is_a_problem_not_a_crash(data: bytes) -> None:
    packed = gzip.compress(data)
    items = list(unpack("f.gz", packed[: len(packed) // 2]))
    assert len(items) == 1
    assert isinstance(items[0], Problem)
