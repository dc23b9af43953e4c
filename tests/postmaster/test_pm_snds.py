"""Microsoft SNDS: parsing the automated-access CSV, fetching it over the lab's HTTPS."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from console.lab.postmaster_api import SNDS_KEY, snds_csv
from console.postmaster.snds import fetch_snds, parse_snds, redact

ROW = (
    "192.0.2.10,11/25/2026 12:00 AM,11/25/2026 11:59 PM,1200,1180,1195,GREEN,< 0.1%,"
    "11/25/2026 12:00 AM,11/25/2026 11:59 PM,0,mail.good.test,bounce@good.test,"
)


def test_parse_a_row() -> None:
    data = parse_snds(ROW + "\r\n")
    [row] = data.rows
    assert row.ip == "192.0.2.10"
    assert row.date == dt.date(2026, 11, 25)
    assert (row.rcpt_commands, row.data_commands, row.recipients) == (1200, 1180, 1195)
    assert row.filter_result == "GREEN"
    assert row.complaint_rate == 0.001
    assert row.complaint_below
    assert row.trap_hits == 0
    assert row.sample_helo == "mail.good.test"


def test_malformed_lines_are_named() -> None:
    text = "\n".join(
        [ROW, "not-an-ip" + ROW[10:], ROW.replace("GREEN", "PURPLE"), "192.0.2.1,short", ROW]
    )
    data = parse_snds(text, "snds.csv")
    assert len(data.rows) == 2
    assert [m.split(":")[1] for m in data.messages] == ["2", "3", "4"]
    assert "too few columns" in data.messages[2]


def test_lab_data_parses_cleanly() -> None:
    data = parse_snds(snds_csv(dt.date(2026, 11, 27)))
    assert data.messages == []
    assert {row.filter_result for row in data.rows} == {"GREEN", "YELLOW", "RED"}
    assert len(data.rows) == 28


async def test_fetch_over_the_lab(lab, ctx) -> None:
    data = await fetch_snds(ctx, SNDS_KEY, url=lab.postmaster.snds_url, timeout=5)
    assert data.error is None
    assert len(data.rows) == 28


async def test_wrong_key_is_an_error_without_the_key(lab, ctx) -> None:
    secret = "s3cr3t-key/+="
    data = await fetch_snds(ctx, secret, url=lab.postmaster.snds_url, timeout=5)
    assert data.error
    assert "403" in data.error
    assert "s3cr3t" not in data.error
    assert "***" in data.error


def test_redact_covers_the_url_encoded_form() -> None:
    assert redact("key=a%2Fb and a/b", "a/b") == "key=*** and ***"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list('192.0.2,<% GREENRD/AMP:\n"x\x00')), max_size=400))
def test_parser_never_raises(text) -> None:
    data = parse_snds(text, "f")
    assert all(row.filter_result in ("GREEN", "YELLOW", "RED") for row in data.rows)
