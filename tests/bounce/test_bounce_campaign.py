"""The campaign view and `mailscope bounce`: groups, order, CSV, JSON Lines, exit status."""

from __future__ import annotations

import argparse
import csv
import io
import json
from pathlib import Path

import pytest

from console.bounce import analyse_paths, command
from console.bounce.campaign import normalise_diagnostic, summarise, write_csv
from console.errors import MailscopeError

CORPUS = Path(__file__).parent / "corpus"
DESIGN_KEYS = [
    "recipient",
    "status",
    "reply_code",
    "reason",
    "hard",
    "provider",
    "diagnostic",
    "fix",
]


def _run(argv: list[str], stdin: bytes | None = None) -> tuple[int, str]:
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    out = io.StringIO()
    code = command.run(
        parser.parse_args(argv), out, stdin=io.BytesIO(stdin) if stdin is not None else None
    )
    return code, out.getvalue()


# -- grouping ---------------------------------------------------------------------------------


def test_normalised_diagnostics_mask_what_differs_per_recipient() -> None:
    one = normalise_diagnostic("550 5.1.1 <a@example.org>: Recipient address rejected (a1si123)")
    two = normalise_diagnostic("550 5.1.1 <zz@example.net>: Recipient address rejected (b9si777)")
    assert one == two == "550 5.1.1 <<address>>: Recipient address rejected (<id>)"
    assert normalise_diagnostic("blocked [203.0.113.5] see https://x.example/?ip=1") == (
        "blocked [<ip>] see <url>"
    )


def test_campaign_groups_by_reason_and_provider_fix_first() -> None:
    campaign = summarise(analyse_paths([CORPUS]))
    keys = [(g.reason, g.provider) for g in campaign.groups]
    assert len(keys) == len(set(keys))
    # Sender-side problems first, list hygiene after, groups of mere delays last.
    assert keys[0] == ("auth-failure", "gmail")
    assert keys.index(("auth-failure", "microsoft")) < keys.index(("user-unknown", "other"))
    assert keys.index(("blocked", "microsoft")) < keys.index(("user-unknown", "other"))
    delays_only = [g for g in campaign.groups if g.recipients == 0]
    assert delays_only
    assert campaign.groups[-len(delays_only) :] == delays_only
    auth = campaign.groups[0]
    # 3 Postfix DSNs, the maildir copy, 2 pasted replies, the Microsoft 365 NDR
    assert auth.recipients == 7
    assert auth.hard == 7
    assert auth.soft == 0
    assert auth.domains == {"gmail-recipients.test", "example-workspace.test"}
    assert auth.check is not None
    assert "dkim" in auth.check
    rate = next(g for g in campaign.groups if (g.reason, g.provider) == ("rate-limited", "gmail"))
    assert (rate.recipients, rate.delayed) == (0, 3)
    unknown = next(
        g for g in campaign.groups if (g.reason, g.provider) == ("user-unknown", "other")
    )
    (top, count), *_ = unknown.top_diagnostics()
    assert count >= 2
    assert "<address>" in top
    assert campaign.kinds["auto-reply"] == 4
    assert campaign.failed == sum(g.recipients for g in campaign.groups)
    assert any("not-a-bounce.eml" in p for p in campaign.problems)


def test_csv_has_one_row_per_recipient_and_defuses_formulas(tmp_path: Path) -> None:
    results = list(analyse_paths([CORPUS / "postfix-user-unknown.eml", CORPUS / "campaign.mbox"]))
    results[0].recipients[0].diagnostic = '=HYPERLINK("http://x.invalid")'
    buffer = io.StringIO()
    rows = write_csv(results, buffer)
    parsed = list(csv.DictReader(io.StringIO(buffer.getvalue())))
    assert rows == len(parsed) == 4  # mbox: 3 bounces and one auto-reply without recipients
    assert parsed[0]["diagnostic"].startswith("'=HYPERLINK")
    assert parsed[0]["reason"] == "user-unknown"
    assert parsed[0]["hard"] == "true"
    assert parsed[0]["domain"] == "example.org"
    assert {row["file"].rpartition("#")[2] for row in parsed[1:]} == {"1", "2", "4"}


# -- the command -----------------------------------------------------------------------------


def test_json_lines_keep_design_shape_and_exit_1_on_failures() -> None:
    code, out = _run(
        [str(CORPUS / "postfix-gmail-5.7.26-dmarc.eml"), str(CORPUS / "campaign.mbox"), "--json"]
    )
    objects = [json.loads(line) for line in out.splitlines()]
    assert code == 1
    assert [o["file"].rpartition("/")[2] for o in objects] == [
        "postfix-gmail-5.7.26-dmarc.eml",
        "campaign.mbox#1",
        "campaign.mbox#2",
        "campaign.mbox#3",
        "campaign.mbox#4",
    ]
    first = objects[0]
    assert list(first)[:2] == ["file", "recipients"]
    assert list(first["recipients"][0])[: len(DESIGN_KEYS)] == DESIGN_KEYS
    assert first["recipients"][0]["reply_code"] == 550
    assert first["recipients"][0]["hard"] is True
    assert objects[3]["kind"] == "auto-reply"
    assert objects[3]["recipients"] == []


def test_only_delays_and_auto_replies_exit_0() -> None:
    code, out = _run(
        [
            str(CORPUS / "auto-reply-out-of-office.eml"),
            str(CORPUS / "postfix-gmail-4.7.28-delay.eml"),
            str(CORPUS / "sendmail-delay.eml"),
        ]
    )
    assert code == 0
    assert "0 recipients failed" in out
    assert "rate-limited" in out  # the deferrals still show, as delays


def test_missing_file_exits_2_but_the_rest_is_printed(capsys) -> None:
    code, out = _run([str(CORPUS / "missing.eml"), str(CORPUS / "qmail-user-unknown.eml")])
    assert code == 2
    assert "user-unknown" in out
    assert "missing.eml: cannot read" in capsys.readouterr().err


def test_stdin_pasted_reply_and_stdin_mbox() -> None:
    code, out = _run(["-", "--json"], stdin=(CORPUS / "pasted-gmail-5.7.27-spf.txt").read_bytes())
    (only,) = [json.loads(line) for line in out.splitlines()]
    assert code == 1
    assert only["file"] == "-"
    assert only["recipients"][0]["reason"] == "auth-failure"
    code, out = _run(["-", "--json"], stdin=(CORPUS / "campaign.mbox").read_bytes())
    assert [json.loads(line)["file"] for line in out.splitlines()] == ["-#1", "-#2", "-#3", "-#4"]


def test_human_output_lists_groups_then_details(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    code, out = _run([str(CORPUS), "--csv", str(target), "--details", "1"])
    assert code == 1  # failures; a message that is not a bounce is noted, not an error
    lines = out.splitlines()
    assert lines[0].startswith(f"{sum(1 for _ in analyse_paths([CORPUS]))} messages")
    table_row = next(line for line in lines if line.lstrip().startswith("1 "))
    assert "auth-failure" in table_row
    assert "gmail" in table_row
    assert "next: " in out
    rows = list(csv.DictReader(target.open(encoding="utf-8")))
    assert len(rows) > 40
    assert rows[0]["reason"]


def test_csv_to_stdout_replaces_the_table() -> None:
    code, out = _run([str(CORPUS / "postfix-user-unknown.eml"), "--csv", "-"])
    assert code == 1
    assert out.splitlines()[0].startswith("file,recipient,domain")
    assert len(out.splitlines()) == 2


@pytest.mark.parametrize(
    "argv", [["-", "-"], ["x.eml", "--json", "--csv", "-"]], ids=["stdin-twice", "two-stdouts"]
)
def test_usage_errors(argv: list[str]) -> None:
    with pytest.raises(MailscopeError):
        _run(argv, stdin=b"")


def test_ordinary_mail_in_the_folder_is_named_a_few_times_then_counted(
    tmp_path: Path, capsys
) -> None:
    for number in range(8):
        (tmp_path / f"mail{number}.eml").write_bytes((CORPUS / "not-a-bounce.eml").read_bytes())
    code, out = _run([str(tmp_path)])
    err = capsys.readouterr().err.splitlines()
    assert code == 0
    assert len(err) == 6
    assert err[-1].startswith("mailscope: 3 more messages are not bounces")
    assert "8 not recognised" in out
