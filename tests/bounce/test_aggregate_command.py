"""`mailscope dmarc-report`: JSON shape, the human view, exit status, the lab's PTRs."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
from pathlib import Path

from console.bounce.aggregate_command import EXIT_ERROR, EXIT_FAIL, EXIT_OK, add_arguments, run
from console.lab import Lab

RUA = Path(__file__).parent / "rua"
GOOGLE = RUA / "google.com!example.test!1764115200!1764201599.xml"
OUTLOOK = RUA / "outlook.com-example.test-rfc9990.xml"

PASSING = b"""<feedback><report_metadata><org_name>Reporter</org_name>
<report_id>ok-1</report_id><date_range><begin>1764115200</begin><end>1764201599</end>
</date_range></report_metadata><policy_published><domain>good.test</domain><p>reject</p>
</policy_published><record><row><source_ip>192.0.2.10</source_ip><count>4</count>
<policy_evaluated><disposition>none</disposition><dkim>pass</dkim><spf>pass</spf>
</policy_evaluated></row><identifiers><header_from>good.test</header_from></identifiers>
<auth_results><dkim><domain>good.test</domain><selector>s</selector><result>pass</result>
</dkim><spf><domain>good.test</domain><result>pass</result></spf></auth_results></record>
</feedback>"""


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser, common=True)
    return parser.parse_args(list(argv))


def _run(*argv: str, factory=None, stdin: bytes | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = run(
        _args(*argv),
        factory,
        stdout=out,
        stderr=err,
        stdin=io.BytesIO(stdin) if stdin is not None else None,
    )
    return status, out.getvalue(), err.getvalue()


def test_json_is_one_object_per_report_then_problems_then_a_summary(tmp_path: Path) -> None:
    junk = tmp_path / "junk.xml"
    junk.write_text("<html/>")
    status, out, err = _run(str(GOOGLE), str(OUTLOOK), str(junk), "--json", "--no-rdns")
    assert status == EXIT_FAIL
    lines = [json.loads(line) for line in out.splitlines()]
    assert len(lines) == 4
    google, outlook, problem, summary = lines
    assert google["file"] == str(GOOGLE)
    assert google["org_name"] == "google.com"
    assert google["report_id"] == "9120338845517215461"
    assert google["domain"] == "example.test"
    assert (google["begin"], google["end"]) == ("2025-11-26T00:00:00Z", "2025-11-26T23:59:59Z")
    assert google["policy"]["p"] == "reject"
    assert google["policy"]["pct"] == 100
    assert (google["count"], google["pass"], google["fail"]) == (1599, 1540, 59)
    row = google["rows"][2]
    assert row["source_ip"] == "198.51.100.77"
    assert row["ptr"] is None
    assert row["count"] == 52
    assert row["disposition"] == "reject"
    assert (row["dkim"], row["spf"], row["dmarc"]) == ("fail", "fail", "fail")
    assert (row["dkim_aligned"], row["spf_aligned"]) == (False, False)
    assert (
        row["failures"][0] == "DKIM signed by esp.test, not example.test: sign with d=example.test"
    )
    assert row["auth_results"]["dkim"][0] == {
        "domain": "esp.test",
        "selector": "s1",
        "result": "pass",
        "human_result": None,
    }
    assert outlook["schema"] == "rfc9990"
    assert outlook["policy"]["np"] == "reject"
    assert outlook["policy"]["testing"] == "n"
    assert problem == {
        "file": str(junk),
        "error": "not a DMARC aggregate report: root element is <html>",
    }
    assert summary["summary"]["count"] == 1599 + 82
    assert summary["summary"]["fail"] == 59 + 18
    assert summary["summary"]["skipped"] == [problem]
    assert f"mailscope: {junk}: not a DMARC aggregate report" in err


def test_all_passing_exits_zero_and_nothing_readable_exits_two(tmp_path: Path) -> None:
    status, _, _ = _run("-", "--no-rdns", "--json", stdin=PASSING)
    assert status == EXIT_OK
    junk = tmp_path / "junk.xml"
    junk.write_bytes(b"\x00\x01garbage")
    status, out, err = _run(str(junk), str(tmp_path / "nope.zip"), "--no-rdns")
    assert status == EXIT_ERROR
    assert out == ""
    assert err.splitlines()[-1] == (
        "mailscope: no DMARC aggregate report could be read (2 skipped)"
    )


def test_ptrs_come_from_the_lab_through_the_given_resolver(lab: Lab) -> None:
    made = []

    @contextlib.contextmanager
    def factory():
        ctx = lab.resolver(timeout=2.0)
        made.append(ctx)
        yield ctx

    status, out, _ = _run(str(GOOGLE), "--json", factory=factory)
    assert status == EXIT_FAIL
    assert len(made) == 1
    report, summary = (json.loads(line) for line in out.splitlines())
    assert [row["ptr"] for row in report["rows"]] == [
        "mail.good.test",
        "o1.outbound.esp.test",
        "o7.outbound.esp.test",
        None,
    ]
    assert "REFUSED" in report["rows"][3]["ptr_error"]  # no reverse zone for 203.0.113.9
    assert report["rows"][0]["ptr_error"] is None
    sources = {s["source_ip"]: s for s in summary["summary"]["sources"]}
    assert sources["198.51.100.77"]["ptr"] == "o7.outbound.esp.test"
    assert summary["summary"]["top_failing"][0]["source_ip"] == "198.51.100.77"


def test_no_rdns_never_asks_for_a_resolver() -> None:
    def factory():
        raise AssertionError("no DNS wanted")

    status, _, _ = _run(str(GOOGLE), "--no-rdns", "--json", factory=factory)
    assert status == EXIT_FAIL


def test_human_view_names_the_failures_and_shows_remote_text_literally(lab: Lab) -> None:
    # XML 1.0 cannot carry ESC; a bidi override it can, and markup it can.
    hostile = PASSING.replace(b"<org_name>Reporter", "<org_name>[bold red]Evil\u202e".encode())
    status, out, _ = _run(
        str(GOOGLE), "-", stdin=hostile, factory=lambda: contextlib.nullcontext(lab.resolver())
    )
    assert status == EXIT_FAIL
    assert "[bold red]Evil\\u202e" in out
    assert "\u202e" not in out
    assert "DKIM signed by esp.test, not example.test: sign with d=example.test" in out
    assert "o7.outbound.esp.test" in out
    assert "Top failing sources" in out
    assert "Summary" in out


def test_tree_walk_changes_relaxed_alignment_where_the_offline_rule_is_wrong(lab: Lab) -> None:
    # dmarc-psd.test publishes psd=y in the lab: by the RFC 9989 walk, member.dmarc-psd.test
    # and other.dmarc-psd.test are separate organisations; the offline rule (last two
    # labels) would call them one. No receiver verdict here, so ours decides.
    report = (
        PASSING.replace(b"<dkim>pass</dkim><spf>pass</spf>", b"")
        .replace(b"<header_from>good.test<", b"<header_from>member.dmarc-psd.test<")
        .replace(b"<dkim><domain>good.test<", b"<dkim><domain>other.dmarc-psd.test<")
        .replace(b"<spf><domain>good.test<", b"<spf><domain>x.test<")
    )
    status, out, _ = _run("-", "--no-rdns", "--json", stdin=report)
    offline = json.loads(out.splitlines()[0])["rows"][0]
    assert (offline["dkim_aligned"], offline["dmarc"], status) == (True, "pass", EXIT_OK)
    status, out, _ = _run(
        "-",
        "--tree-walk",
        "--json",
        stdin=report,
        factory=lambda: contextlib.nullcontext(lab.resolver(timeout=2.0)),
    )
    walked = json.loads(out.splitlines()[0])["rows"][0]
    assert (walked["dkim_aligned"], walked["dmarc"], status) == (False, "fail", EXIT_FAIL)
    assert walked["failures"][0] == (
        "DKIM signed by other.dmarc-psd.test, not member.dmarc-psd.test: "
        "sign with d=member.dmarc-psd.test"
    )
    assert walked["ptr"] == "mail.good.test"  # PTRs asked in the same DNS wave
