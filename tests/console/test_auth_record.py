"""The record to publish, end to end: `c` copies it, the card shows it, exports carry it.

The Pilot test runs the console on the lab; the rendering, Markdown and CLI tests use
hand-made findings so the exact text is known.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

from console.export import report_to_markdown
from console.model import CheckResult, Finding, Report, Status
from console.output import ReportPrinter
from widgets.finding_card import FindingCard, describe_record
from widgets.findings_view import FindingsView, text_to_copy

RECORD = (
    '_dmarc.dmarc-multi.test. 3600 IN TXT "v=DMARC1; p=none; rua=mailto:dmarc@dmarc-multi.test"'
)


def _static_text(widget) -> str:
    return str(widget.render())


async def test_c_copies_the_record_not_the_prose_and_says_so(make_app, wait_for_audit):
    app = make_app("dmarc-multi.test")
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        pane = await wait_for_audit(pilot)
        pane.select_check("dmarc")
        await pilot.pause()
        assert pane.shown_check == "dmarc"
        worst = app.screen.query_one(FindingsView).fix_to_copy()
        assert worst is not None
        assert worst.code == "dmarc.multiple-records"
        assert worst.fix != worst.record  # prose around the record
        await pilot.press("c")
        await pilot.pause()
        assert app.clipboard == RECORD
        messages = [str(n.message) for n in app._notifications]
        assert "Copied the record to publish for dmarc.multiple-records." in messages

        # The card shows the record on its own, literally, under the fix.
        card = next(c for c in app.screen.query(FindingCard) if c.finding is worst)
        assert _static_text(card.query_one(".finding-record")) == RECORD
        assert "Record to publish:" in _static_text(card.query_one(".finding-record-label"))

        # A finding without a record (DNSSEC: sign the zone at the DNS host): `c`
        # copies its prose fix and says that is what it copied.
        pane.select_check("dnssec")
        await pilot.pause()
        advice = app.screen.query_one(FindingsView).fix_to_copy()
        assert advice is not None
        assert advice.code == "dnssec.unsigned"
        assert advice.record is None
        await pilot.press("c")
        await pilot.pause()
        assert app.clipboard == advice.fix
        messages = [str(n.message) for n in app._notifications]
        assert "Copied the fix for dnssec.unsigned (advice: no record to publish)." in messages


async def test_c_copies_an_mta_sts_policy_body(make_app, wait_for_audit):
    app = make_app("mtasts-mismatch.test")
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        pane = await wait_for_audit(pilot)
        pane.select_check("mta-sts")
        await pilot.pause()
        await pilot.press("c")
        await pilot.pause()
        assert app.clipboard.startswith("version: STSv1\nmode: enforce\n")
        assert app.clipboard.endswith("\nmax_age: 604800")
        messages = [str(n.message) for n in app._notifications]
        assert "Copied the file body to publish for mta-sts.mx-mismatch." in messages


def test_text_to_copy_and_the_label_name_what_is_copied() -> None:
    both = Finding("x.y", Status.FAIL, "m", "Publish: " + RECORD, RECORD)
    advice = Finding("x.z", Status.WARN, "m", "Ask your provider.")
    assert text_to_copy(both) == ("record", RECORD)
    assert text_to_copy(advice) == ("fix", "Ask your provider.")
    assert describe_record(RECORD) == "the record"
    two = "a.test. 3600 IN A 192.0.2.1\na.test. 3600 IN MX 10 a.test."
    assert describe_record(two) == "the 2 records"
    assert describe_record("version: STSv1\nmode: enforce") == "the file body"


def _report(record: str | None, fix: str) -> Report:
    return Report(
        domain="dmarc-multi.test",
        checked_at=datetime(2026, 11, 26, 12, 0, tzinfo=UTC),
        checks=[
            CheckResult(
                "dmarc",
                Status.FAIL,
                "2 records",
                [Finding("dmarc.multiple-records", Status.FAIL, "Two records.", fix, record)],
            )
        ],
    )


def test_markdown_puts_the_record_in_its_own_block() -> None:
    text = report_to_markdown(_report(RECORD, "Delete all but one; keep: " + RECORD))
    assert "  Fix:\n\n  ```\n  Delete all but one; keep: " in text
    assert f"  Record to publish:\n\n  ```\n  {RECORD}\n  ```" in text


def test_markdown_shows_a_fix_that_is_only_the_record_once() -> None:
    text = report_to_markdown(_report(RECORD, RECORD))
    assert text.count(RECORD) == 1
    assert "Record to publish:" in text
    assert "Fix:" not in text


def test_markdown_escapes_a_hostile_record() -> None:
    text = report_to_markdown(_report('a.test. 3600 IN TXT "x\x1b[31m"', "f"))
    assert "\x1b" not in text
    assert '"x\\x1b[31m"' in text


def test_json_record_is_null_or_the_line_right_after_fix() -> None:
    with_record = _report(RECORD, "f").to_dict()["checks"][0]["findings"][0]
    without = _report(None, "f").to_dict()["checks"][0]["findings"][0]
    assert list(with_record) == ["code", "severity", "message", "fix", "record"]
    assert with_record["record"] == RECORD
    assert json.loads(json.dumps(without))["record"] is None


def test_cli_output_prints_the_record_on_lines_of_its_own() -> None:
    stream = io.StringIO()
    ReportPrinter(json_lines=False, stream=stream).print(
        _report(RECORD, "Delete all but one; keep: " + RECORD)
    )
    lines = stream.getvalue().splitlines()
    assert "    publish:" in lines
    assert lines[lines.index("    publish:") + 1] == "    " + RECORD


def test_cli_output_prints_a_multi_line_record_line_by_line() -> None:
    body = "version: STSv1\nmode: enforce\nmx: mx.a.test\nmax_age: 604800"
    stream = io.StringIO()
    ReportPrinter(json_lines=False, stream=stream).print(_report(body, "Serve this: ..."))
    lines = stream.getvalue().splitlines()
    start = lines.index("    publish:") + 1
    assert lines[start : start + 4] == ["    " + line for line in body.splitlines()]
