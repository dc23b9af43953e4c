"""Reports exported as Markdown and JSON files."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from console.export import (
    default_export_name,
    export_report,
    format_for,
    render,
    report_to_markdown,
)
from console.model import CheckResult, Finding, Report, Status


def _report() -> Report:
    return Report(
        domain="good.test",
        checked_at=datetime(2026, 11, 26, 12, 0, tzinfo=UTC),
        checks=[
            CheckResult(
                "spf",
                Status.FAIL,
                "too many look-ups | 12 of 10",
                [
                    Finding(
                        "spf.too-many-lookups",
                        Status.FAIL,
                        "Receivers stop at 10.",
                        'good.test. 3600 IN TXT "v=spf1 ip4:192.0.2.10 -all"',
                    )
                ],
                {"record": "v=spf1 include:a ```x``` \x1b[31m -all"},
            ),
            CheckResult("dmarc", Status.PASS, "p=reject"),
        ],
    )


def test_markdown_has_summary_table_findings_and_exact_fix() -> None:
    text = report_to_markdown(_report())
    assert text.startswith("# Mail authentication audit: `good.test`\n")
    assert "Checked 2026-11-26T12:00:00Z" in text
    assert "Overall: **FAIL**" in text
    assert "| spf | FAIL | too many look-ups \\| 12 of 10 |" in text
    assert "| dmarc | pass | p=reject |" in text
    assert "- **FAIL** `spf.too-many-lookups`: Receivers stop at 10." in text
    assert '  good.test. 3600 IN TXT "v=spf1 ip4:192.0.2.10 -all"' in text


def test_markdown_keeps_remote_text_inert() -> None:
    text = report_to_markdown(_report())
    assert "\x1b" not in text
    assert "\\x1b[31m" in text
    # The record holds a ``` run: the fence around it is longer, so it cannot close early.
    assert "````\nv=spf1 include:a ```x```" in text


def test_json_is_the_check_command_object() -> None:
    report = _report()
    data = json.loads(render(report, "json"))
    assert data == json.loads(json.dumps(report.to_dict()))
    assert data["checks"][0]["data"]["record"].endswith("\x1b[31m -all")


def test_export_writes_the_format_of_the_suffix(tmp_path: Path) -> None:
    report = _report()
    md = export_report(report, tmp_path / "out" / "r.md")
    js = export_report(report, tmp_path / "r.json")
    forced = export_report(report, tmp_path / "r.txt", "json")
    assert md.read_text(encoding="utf-8").startswith("# Mail")
    assert json.loads(js.read_text(encoding="utf-8"))["domain"] == "good.test"
    assert json.loads(forced.read_text(encoding="utf-8"))["domain"] == "good.test"
    assert not list(tmp_path.glob(".*.partial"))
    assert format_for(Path("x.JSON")) == "json"
    assert format_for(Path("x")) == "markdown"
    with pytest.raises(ValueError, match="unknown export format"):
        render(report, "pdf")


def test_default_name_has_domain_and_time() -> None:
    assert default_export_name(_report()) == "good.test-20261126-1200.md"
    assert default_export_name(_report(), "json") == "good.test-20261126-1200.json"
