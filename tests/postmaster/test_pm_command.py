"""`mailscope postmaster` headless, on the lab (the handler cli.py wires in)."""

from __future__ import annotations

import argparse
import io
import json

import pytest

from console.errors import MailscopeError
from console.lab.postmaster_api import SNDS_KEY
from console.postmaster import command


def _run(argv: list[str]) -> tuple[int, str]:
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    out = io.StringIO()
    code = command.run(parser.parse_args(argv), out)
    return code, out.getvalue()


def test_json_per_domain_with_snds(capsys) -> None:
    code, out = _run(["spike.test", "--lab", "--json", "--days", "40", "--snds-key", SNDS_KEY])
    report, snds = (json.loads(line) for line in out.splitlines())
    assert code == 1  # the spike reached 0.3%
    assert report["domain"] == "spike.test"
    assert report["days_above_0_3"] == 6
    assert report["consecutive_days_below_0_3"] == 18
    assert report["fetched_at"].endswith("Z")
    assert len(snds["snds"]["rows"]) == 28
    assert SNDS_KEY not in out + capsys.readouterr().err


def test_human_summary_of_every_domain() -> None:
    code, out = _run(["--lab", "--days", "30"])
    assert code == 1
    for domain in ("good.test", "spike.test", "gaps.test", "noncompliant.test"):
        assert domain in out
    assert "consecutive days below 0.3%" in out
    assert "mailscope check noncompliant.test --checks dmarc,fcrdns" in out
    assert "mailscope probe --mx noncompliant.test" in out
    assert "two days late" in out
    assert "NEEDS_WORK" in out


def test_a_failed_fetch_exits_2_with_one_line(capsys) -> None:
    code, out = _run(["pm-forbidden.test", "--lab", "--json"])
    assert code == 2
    assert json.loads(out)["error"]
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "verified in Postmaster Tools" in err[0]


def test_csv_import_then_history_only(tmp_path, capsys) -> None:
    path = tmp_path / "export.csv"
    path.write_text("date,spam rate\n2026-11-01,0.4%\nnot-a-date,0.1\n")
    code, out = _run(["good.test", "--import-csv", str(path), "--json", "--days", "3650"])
    report = json.loads(out)
    assert code == 1
    assert [d["date"] for d in report["days"]] == ["2026-11-01"]
    assert report["fetched_at"] is None
    assert f"{path}:3:" in capsys.readouterr().err


def test_no_credentials_is_a_usage_error() -> None:
    with pytest.raises(MailscopeError) as caught:
        _run(["good.test"])
    assert "--credentials" in str(caught.value)
