"""The command line, end to end against the lab: output shapes, exit codes, bad input."""

from __future__ import annotations

import json

import pytest

from console.cli import main
from console.lab import Lab


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_check_json_lines_follow_the_design_shape(lab: Lab, capsys) -> None:
    code, out, _ = run(
        capsys,
        "check",
        "good.test",
        "plusall.test",
        "--json",
        "--nameserver",
        lab.nameserver,
        "--checks",
        "spf,dmarc,mx",
    )
    lines = [json.loads(line) for line in out.splitlines()]
    assert sorted(report["domain"] for report in lines) == ["good.test", "plusall.test"]
    by_domain = {report["domain"]: report for report in lines}
    good = by_domain["good.test"]
    assert good["checked_at"].endswith("Z")
    assert [check["id"] for check in good["checks"]] == ["spf", "dmarc", "mx"]
    spf = good["checks"][0]
    assert spf["status"] == "pass"
    assert spf["data"]["lookups"] == 5
    assert spf["data"]["void_lookups"] == 0
    plus_all = by_domain["plusall.test"]["checks"][0]
    assert plus_all["status"] == "fail"
    assert any(f["code"] == "spf.plus-all" and f["fix"] for f in plus_all["findings"])
    # Every finding has the same keys, in order; `record` is null when there is none.
    for finding in [f for report in lines for c in report["checks"] for f in c["findings"]]:
        assert list(finding) == ["code", "severity", "message", "fix", "record"]
    plus = next(f for f in plus_all["findings"] if f["code"] == "spf.plus-all")
    assert plus["record"] == 'plusall.test. 3600 IN TXT "v=spf1 mx ~all"'
    assert code == 1, "a failed check makes the exit status 1"


def test_check_passing_domain_exits_zero(lab: Lab, capsys) -> None:
    code, out, _ = run(
        capsys, "check", "good.test", "--nameserver", lab.nameserver, "--checks", "spf,dmarc,mx"
    )
    assert code == 0
    assert "good.test" in out
    assert "spf" in out


def test_check_with_the_in_process_lab_reaches_its_https_server(capsys) -> None:
    code, out, _ = run(capsys, "check", "good.test", "--lab", "--json", "--checks", "mta-sts")
    report = json.loads(out)
    assert report["checks"][0]["status"] == "pass", report
    assert code == 0


def test_file_mode_reads_comments_and_blank_lines(lab: Lab, tmp_path, capsys) -> None:
    listing = tmp_path / "domains.txt"
    listing.write_text("# demo domains\ngood.test\n\nnullmx.test  # sends nothing\n")
    code, out, _ = run(
        capsys,
        "check",
        "--file",
        str(listing),
        "--json",
        "--nameserver",
        lab.nameserver,
        "--checks",
        "spf",
    )
    assert sorted(json.loads(line)["domain"] for line in out.splitlines()) == [
        "good.test",
        "nullmx.test",
    ]
    assert code == 0


def test_dns_failure_is_error_not_missing(lab: Lab, capsys) -> None:
    argv = ["check", "servfail.test", "--json", "--nameserver", lab.nameserver]
    code, out, _ = run(capsys, *argv, "--checks", "spf,dmarc")
    report = json.loads(out)
    assert {check["status"] for check in report["checks"]} == {"error"}
    assert "SERVFAIL" in json.dumps(report)
    assert code == 0, "nothing *failed* (design.md): errors alone exit 0 ..."
    strict_code, _, _ = run(capsys, *argv, "--checks", "spf,dmarc", "--strict")
    assert strict_code == 1, "... unless --strict asks for them to count"


def test_nonexistent_domain_is_one_line_not_ten_fixes(lab: Lab, capsys) -> None:
    code, out, err = run(capsys, "check", "exmaple.test", "--nameserver", lab.nameserver)
    assert out == ""
    assert err.strip() == (
        f"mailscope: exmaple.test does not exist (NXDOMAIN from {lab.nameserver})"
    )
    assert code == 2


def test_profile_of_the_domain_adds_its_selectors(lab: Lab, tmp_path, capsys) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[profiles.good]\ndomain = "good.test"\ndkim_selectors = ["s2026"]\n')
    _, out, _ = run(
        capsys,
        "check",
        "good.test",
        "--json",
        "--nameserver",
        lab.nameserver,
        "--checks",
        "dkim",
        "--no-discovery",
        "--config",
        str(config),
    )
    selectors = json.loads(out)["checks"][0]["data"]["selectors"]
    assert [entry["selector"] for entry in selectors] == ["s2026"]


def test_config_typo_is_a_one_line_error(tmp_path, capsys) -> None:
    config = tmp_path / "config.toml"
    config.write_text("timout = 3\n")
    code, _, err = run(capsys, "check", "good.test", "--config", str(config))
    assert code == 2
    assert "timeout" in err, "did you mean"
    assert len(err.strip().splitlines()) == 1


def test_undecodable_line_in_file_is_reported_and_the_rest_audited(lab: Lab, tmp_path, capsys):
    listing = tmp_path / "domains.txt"
    listing.write_bytes(b"good.test\n\xff\xfe.test\n")
    code, out, _ = run(
        capsys,
        "check",
        "--file",
        str(listing),
        "--json",
        "--nameserver",
        lab.nameserver,
        "--checks",
        "spf",
    )
    reports = [json.loads(line) for line in out.splitlines()]
    assert {r["domain"] for r in reports if not r.get("error")} == {"good.test"}
    assert any(r.get("error") for r in reports)
    assert code == 2


def test_invalid_domain_is_reported_and_exits_two(lab: Lab, capsys) -> None:  # JSON mode
    code, out, err = run(capsys, "check", "not a domain", "--json", "--nameserver", lab.nameserver)
    report = json.loads(out)
    assert report["status"] == "error"
    assert "not a domain" in report["error"]
    assert code == 2
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["check"], "no domain"),
        (["check", "good.test", "--checks", "spf,bogus"], "unknown check 'bogus'"),
        (["check", "good.test", "--ip", "300.1.2.3"], "bad address"),
        (["check", "good.test", "--nameserver", "127.0.0.1:99999"], "bad --nameserver"),
        (["check", "--file", "/nonexistent/domains.txt"], "cannot read"),
        (["check", "good.test", "--timeout", "-1"], "--timeout"),
    ],
)
def test_usage_errors_are_one_line_and_exit_two(capsys, argv, message) -> None:
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = exit_.code
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_spf_command_json_shape(lab: Lab, capsys) -> None:
    code, out, _ = run(
        capsys,
        "spf",
        "--ip",
        "192.0.2.10",
        "--sender",
        "alice@good.test",
        "--helo",
        "mail.good.test",
        "--json",
        "--nameserver",
        lab.nameserver,
    )
    verdict = json.loads(out)
    assert list(verdict)[:4] == ["result", "explanation", "mechanism", "lookups"]
    assert verdict["result"] == "pass"
    assert code == 0


def test_spf_command_null_sender_uses_helo(lab: Lab, capsys) -> None:
    code, out, _ = run(
        capsys,
        "spf",
        "--ip",
        "203.0.113.99",
        "--sender",
        "",
        "--helo",
        "good.test",
        "--json",
        "--nameserver",
        lab.nameserver,
    )
    assert json.loads(out)["result"] == "fail"
    assert code == 1


def test_hostile_record_is_printed_literally(lab: Lab, capsys) -> None:
    _, out, _ = run(
        capsys, "check", "hostile.test", "--nameserver", lab.nameserver, "--checks", "spf"
    )
    assert "\x1b" not in out, "an ESC from a TXT record reached the terminal"
    assert "\\x1b[31mred" in out, "the escape is shown, visibly, instead"
    assert "'[bold'" in out, "markup is printed as text, not applied"
    assert "'red]x[/]'" in out


def test_send_without_yes_off_a_terminal_sends_nothing(capsys) -> None:
    code, out, err = run(
        capsys, "send", "--lab", "--to", "alice@good.test", "--from", "bob@good.test"
    )
    assert code == 2
    assert out == ""
    assert "--yes" in err


def test_send_json_follows_the_design_shape_and_hides_the_password(capsys) -> None:
    from console.lab.smtp import LAB_PASSWORD

    code, out, _ = run(
        capsys,
        "send",
        "--lab",
        "--to",
        "alice@good.test",
        "--from",
        "bob@good.test",
        "--yes",
        "--json",
    )
    result = json.loads(out)
    assert list(result)[:8] == [
        "via",
        "accepted",
        "reply",
        "queue_id",
        "message_id",
        "timings_ms",
        "transcript",
        "lint",
    ]
    assert result["accepted"] is True
    assert result["queue_id"]
    assert LAB_PASSWORD not in out
    assert code == 0


def test_send_reads_the_copy_back_from_the_lab_mailbox(capsys) -> None:
    code, out, _ = run(
        capsys,
        "send",
        "--lab",
        "--to",
        "seed@good.test",
        "--from",
        "demo@good.test",
        "--dkim-key",
        "console/lab/keys/good-s2026.pem",
        "--selector",
        "s2026",
        "--yes",
        "--json",
        "--wait",
        "5",
    )
    result = json.loads(out)
    readback = result["readback"]
    assert result["readback_error"] is None
    assert readback["folder"] == "INBOX"
    assert readback["dkim"]["result"] == "pass"
    assert readback["dkim_domain"] == "good.test"
    assert readback["dkim_selector"] == "s2026"
    assert readback["dmarc"]["result"] == "pass"
    assert readback["test_id"] == result["test_id"]
    assert result["test_id"].endswith(".smtp")
    assert all(hop["delay"] is None or hop["delay"] >= 0 for hop in readback["hops"])
    assert code == 0


def test_send_that_lands_in_spam_exits_1_and_says_why(capsys) -> None:
    # Unsigned mail from a p=reject domain whose SPF (mx -all) does not list the lab relay.
    code, out, _ = run(
        capsys,
        "send",
        "--lab",
        "--to",
        "seed@good.test",
        "--from",
        "demo@bimi-nologo.test",
        "--yes",
        "--wait",
        "5",
    )
    assert "landed in Spam" in out
    assert "dmarc=fail" in out
    assert code == 1


def test_send_both_ways_compares_the_copies_read_back(capsys) -> None:
    code, out, _ = run(
        capsys,
        "send",
        "--lab",
        "--via",
        "both",
        "--readback",
        "gmail",
        "--to",
        "seed@good.test",
        "--from",
        "demo@good.test",
        "--yes",
        "--json",
        "--wait",
        "5",
    )
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line.get("via") for line in lines[:2]] == ["smtp", "gmail-api"]
    smtp, api, comparison = lines[0], lines[1], lines[2]["comparison"]
    assert smtp["accepted"] is True
    assert api["accepted"] is True
    assert smtp["test_id"] != api["test_id"]
    # Read back through the Gmail API: each copy found by its own Message-ID.
    assert smtp["readback"]["message_id"] == smtp["message_id"]
    assert api["readback"]["message_id"] == api["message_id"]
    assert api["readback"]["dkim_selector"] == "google"
    assert comparison["paths"] == ["smtp", "gmail-api"]
    rows = {row["key"]: row for row in comparison["aspects"]}
    assert rows["folder"]["values"] == {"smtp": "INBOX", "gmail-api": "INBOX"}
    assert rows["dkim.d"]["same"] is False
    assert comparison["verdict"]
    assert code == 0


def test_send_xoauth2_with_a_google_token_sends_as_its_account_only(capsys) -> None:
    from console.postmaster.credentials import LAB_TOKEN

    base = ("send", "--lab", "--xoauth2", "--to", "seed@good.test", "--yes")
    # Without --user the lab's token speaks for its own account, the seed mailbox.
    code, out, err = run(capsys, *base, "--from", "seed@good.test")
    assert "AUTH XOAUTH2 [credentials redacted]" in out
    assert "accepted: 250" in out
    assert LAB_TOKEN not in out + err
    assert code == 0
    # The lab token is the seed account's, as smtp.gmail.com ties a token to its user.
    code, out, err = run(capsys, *base, "--from", "demo@good.test", "--user", "demo@good.test")
    assert "535 5.7.3" in out
    assert LAB_TOKEN not in out + err
    assert code == 1


def test_send_xoauth2_for_microsoft_365_takes_an_app_token_from_the_identity_platform(
    capsys,
) -> None:
    from console.lab.microsoft_identity import LAB_MS_CLIENT_SECRET, LAB_MS_CREDENTIALS

    code, out, err = run(
        capsys, "send", "--lab", "--xoauth2", "--credentials", str(LAB_MS_CREDENTIALS),
        "--to", "seed@good.test", "--from", "demo@good.test", "--yes", "--json",
    )  # fmt: skip
    result = json.loads(out)
    assert result["accepted"] is True
    assert "AUTH XOAUTH2 [credentials redacted]" in [line["text"] for line in result["transcript"]]
    # Accepted means the lab's identity endpoint issued the token the submission took.
    assert LAB_MS_CLIENT_SECRET not in out + err
    assert "lab-ms-" not in out + err  # the lab's tokens start so
    assert code == 0


def test_send_reads_back_over_imap_from_the_labs_dovecot(capsys) -> None:
    from console.lab.imap import dovecot_skip_reason

    if reason := dovecot_skip_reason():
        pytest.skip(reason)
    code, out, _ = run(
        capsys,
        "send",
        "--lab",
        "--readback",
        "imaps://seed%40good.test@imap.good.test",
        "--to",
        "seed@good.test",
        "--from",
        "demo@good.test",
        "--yes",
        "--json",
        "--wait",
        "5",
    )
    result = json.loads(out)
    assert result["readback_error"] is None
    assert result["readback"]["folder"] == "INBOX"
    assert result["readback"]["test_id"] == result["test_id"]
    assert result["readback"]["return_path"] == "<demo@good.test>"
    assert code == 0


def test_send_greets_with_the_helo_name_given(capsys) -> None:
    code, out, _ = run(
        capsys,
        "send",
        "--lab",
        "--helo",
        "Client.Good.Test.",
        "--to",
        "seed@good.test",
        "--from",
        "demo@good.test",
        "--yes",
        "--json",
        "--wait",
        "5",
    )
    result = json.loads(out)
    sent = [line["text"] for line in result["transcript"] if line["direction"] == "C"]
    assert "EHLO client.good.test" in sent
    assert "EHLO mailscope.invalid" not in sent
    # The submission server's Received header names the client by that greeting.
    assert result["readback"]["hops"][0]["from"] == "client.good.test"
    assert code == 0


def test_send_refuses_a_helo_that_is_not_a_host_name(capsys) -> None:
    code, out, err = run(
        capsys, "send", "--lab", "--helo", "bad name", "--to", "seed@good.test",
        "--from", "demo@good.test", "--yes",
    )  # fmt: skip
    assert code == 2
    assert out == ""
    assert "bad --helo" in err


def test_send_with_unsubscribe_html_and_an_attachment_reads_back_whole(capsys, tmp_path) -> None:
    html = tmp_path / "news.html"
    html.write_text("<p>Hello <a href='https://good.test/a'>read on</a></p>", encoding="utf-8")
    report = tmp_path / "report.pdf"
    report.write_bytes(b"%PDF-1.7\n")
    code, out, _ = run(
        capsys, "send", "--lab", "--to", "seed@good.test", "--from", "demo@good.test",
        "--dkim-key", "console/lab/keys/good-s2026.pem", "--selector", "s2026",
        "--text", "Hello", "--html-file", str(html), "--attach", str(report),
        "--unsubscribe", "mailto:unsubscribe@good.test",
        "--unsubscribe", "https://good.test/unsubscribe?id=1",
        "--yes", "--json", "--wait", "5",
    )  # fmt: skip
    result = json.loads(out)
    codes = [finding["code"] for finding in result["lint"]]
    assert not [code for code in codes if "unsubscribe" in code or "attachment" in code]
    assert result["readback"]["folder"] == "INBOX"
    assert result["readback"]["dkim"]["result"] == "pass"  # the signature covers the file
    assert code == 0


def test_send_of_an_attachment_over_the_servers_size_is_refused_before_data(
    capsys, tmp_path
) -> None:
    video = tmp_path / "launch.mp4"
    video.write_bytes(b"\0" * 30_000_000)  # base64 makes it 40 MB: over the lab's 32 MiB SIZE
    code, out, _ = run(
        capsys, "send", "--lab", "--to", "seed@good.test", "--from", "demo@good.test",
        "--attach", str(video), "--yes", "--json",
    )  # fmt: skip
    result = json.loads(out)
    assert result["accepted"] is False
    assert "33,554,432" in result["error"]
    assert not any(line["text"].startswith("DATA") for line in result["transcript"])
    too_big = next(f for f in result["lint"] if f["code"] == "send.too-big")
    assert "a third larger" in too_big["message"]
    assert code == 1


def test_send_refuses_an_attachment_it_cannot_read_and_a_bad_unsubscribe(capsys, tmp_path) -> None:
    base = ("send", "--lab", "--to", "seed@good.test", "--from", "demo@good.test", "--yes")
    code, out, err = run(capsys, *base, "--attach", str(tmp_path))
    assert (code, out) == (2, "")
    assert "not a regular file" in err
    code, out, err = run(capsys, *base, "--unsubscribe", "http://good.test/u")
    assert (code, out) == (2, "")
    assert "bad --unsubscribe" in err


def test_send_at_a_terminal_shows_the_lint_before_asking_and_sends_nothing_on_no(
    capsys, monkeypatch
) -> None:
    asked: list[str] = []
    shown_before: list[str] = []
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)

    def answer(question: str) -> str:
        asked.append(question)
        shown_before.append(capsys.readouterr().err)
        return "n"

    monkeypatch.setattr("builtins.input", answer)
    code, out, err = run(
        capsys, "send", "--lab", "--to", "seed@good.test", "--from", "demo@good.test"
    )
    assert len(asked) == 1
    assert "smtp.good.test:587" in asked[0]
    # The lint was already on the screen when the question came.
    assert "send.no-list-unsubscribe" in shown_before[0]
    assert "not sent" in err
    assert out == ""
    assert code == 2


def test_a_profile_with_oauth_credentials_logs_in_with_xoauth2_without_the_flag(
    lab: Lab,
) -> None:
    from console.cli import build_parser
    from console.config import Config, Profile, SubmissionServer
    from console.lab.microsoft_identity import LAB_MS_CREDENTIALS
    from console.send.command import _smtp_plan

    profile = Profile(
        name="m365",
        submission=SubmissionServer(
            "smtp.good.test", 587, "demo@good.test", oauth_credentials=LAB_MS_CREDENTIALS
        ),
    )
    config = Config(profiles={"m365": profile}, default_profile="m365")
    args = build_parser().parse_args(
        ["send", "--to", "seed@good.test", "--from", "demo@good.test", "--yes"]
    )
    # The plan asks for the token in an event loop of its own, as the command does.
    plan = _smtp_plan(args, config, None, lab.resolver())
    assert plan.password is None
    assert plan.oauth_token is not None
    assert lab.microsoft is not None
    assert plan.oauth_token in lab.microsoft.tokens
    assert plan.oauth_token not in repr(plan)


def test_probe_greets_with_the_helo_name_given_and_refuses_a_bad_one(capsys) -> None:
    base = ("probe", "--lab", "smtp.good.test", "--ports", "587")
    code, out, _ = run(capsys, *base, "--helo", "mail.example.test", "--json")
    (probe,) = [json.loads(line) for line in out.splitlines() if '"transcript"' in line]
    sent = [line["text"] for line in probe["transcript"] if line["direction"] == "C"]
    assert sent.count("EHLO mail.example.test") == 2  # before and after STARTTLS
    assert code == 0
    code, out, err = run(capsys, *base, "--helo", "bad name")
    assert (code, out) == (2, "")
    assert "bad --helo" in err
