"""Sending through the Gmail API and reading it back: the real Google client, the lab emulator.

Lab data: `Lab.gmail_endpoint` serves the Gmail API emulator; the lab token and tokens the
emulator issues speak for seed@good.test. Mail sent through it is signed d=good.test
s=google and filed by the lab mailbox after real SPF, DKIM and DMARC checks; a From in
dkim1024.test (p=quarantine) cannot align and lands in Spam.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from google.oauth2.credentials import Credentials

from console.lab import Lab
from console.lab.postmaster_api import PostmasterEmulator
from console.lab.runner import GMAIL_USER
from console.postmaster.credentials import lab_credentials, load_credentials
from console.send.compose import TestMessage, build_message, message_bytes
from console.send.gmail_api import (
    MAX_MESSAGE,
    READ_SCOPES,
    SEND_SCOPES,
    GmailApiError,
    _safe_url,
    fetch_delivery_gmail,
    send_gmail_api,
)
from console.send.guard import SendGuard
from console.send.result import SendResult

READONLY = "https://www.googleapis.com/auth/gmail.readonly"
SEND = "https://www.googleapis.com/auth/gmail.send"


def compose(from_addr: str = GMAIL_USER, to: str = GMAIL_USER) -> tuple[bytes, TestMessage]:
    spec = TestMessage(from_addr=from_addr, to=to, subject="gmail api test")
    return message_bytes(build_message(spec)), spec


def assert_no_secret(result: SendResult, secrets: list[str]) -> None:
    text = json.dumps(result.to_dict()) + repr(result)
    for secret in secrets:
        for form in (secret, base64.b64encode(secret.encode()).decode()):
            assert form not in text, "a secret leaked into the result"


async def noop(_seconds: float) -> None:
    await asyncio.sleep(0)


@pytest.fixture
def emulator(lab: Lab) -> PostmasterEmulator:
    assert lab.postmaster is not None
    return lab.postmaster


# -- send and read back ---------------------------------------------------------------------


async def test_send_then_read_back_passes_spf_dkim_dmarc_in_the_inbox(lab: Lab) -> None:
    data, spec = compose()
    sent_at = dt.datetime.now(dt.UTC)
    result = await send_gmail_api(data, credentials=lab_credentials(), endpoint=lab.gmail_endpoint)
    assert result.accepted, result.error
    assert result.via == "gmail-api"
    assert result.error is None
    assert result.queue_id is not None
    assert result.reply == f"id {result.queue_id} labelIds SENT"
    assert result.message_id is not None
    assert result.message_id.endswith("@good.test>")
    assert {"request", "total"} <= result.timings_ms.keys()
    texts = [line.text for line in result.transcript]
    assert texts[0].startswith(f"POST {lab.gmail_endpoint}gmail/v1/users/me/messages/send")
    assert texts[-1] == "200 OK"
    assert_no_secret(result, ["lab-access-token"])
    json.dumps(result.to_dict())

    delivery = await fetch_delivery_gmail(
        credentials=lab_credentials(),
        test_id=spec.test_id,
        message_id=result.message_id,
        endpoint=lab.gmail_endpoint,
        wait=5,
        sent_at=sent_at,
    )
    assert delivery is not None
    assert delivery.folder == "INBOX"
    assert delivery.test_id == spec.test_id
    assert delivery.message_id == result.message_id
    assert delivery.spf is not None
    assert delivery.spf.result == "pass"
    assert delivery.dkim is not None
    assert delivery.dkim.result == "pass"
    assert (delivery.dkim_domain, delivery.dkim_selector) == ("good.test", "google")
    assert delivery.dmarc is not None
    assert delivery.dmarc.result == "pass"
    assert delivery.alignment == {"dkim": "strict", "spf": "strict"}
    assert delivery.return_path == "<seed@good.test>"
    assert [hop.by_host for hop in delivery.hops] == ["gmailapi.google.com", "mx1.good.test"]
    assert delivery.hops[-1].from_host == "mail-sor-f41.google.com"
    assert delivery.hops[-1].tls_version == "TLS1_3"
    assert "198.51.100.41" in delivery.hops[-1].raw
    assert delivery.total_seconds is not None


async def test_readback_by_test_id_alone_skips_the_sent_copy(lab: Lab) -> None:
    data, spec = compose()
    result = await send_gmail_api(data, credentials=lab_credentials(), endpoint=lab.gmail_endpoint)
    assert result.accepted, result.error
    delivery = await fetch_delivery_gmail(
        credentials=lab_credentials(), test_id=spec.test_id, endpoint=lab.gmail_endpoint
    )
    assert delivery is not None
    assert delivery.folder == "INBOX"  # the SENT copy carries no receiver verdicts
    assert delivery.authserv_id == "mx1.good.test"


async def test_a_from_domain_that_cannot_align_lands_in_spam(lab: Lab) -> None:
    data, _ = compose(from_addr="news@dkim1024.test")
    result = await send_gmail_api(data, credentials=lab_credentials(), endpoint=lab.gmail_endpoint)
    assert result.accepted, result.error
    delivery = await fetch_delivery_gmail(
        credentials=lab_credentials(), message_id=result.message_id, endpoint=lab.gmail_endpoint
    )
    assert delivery is not None
    assert delivery.folder == "Spam"
    assert delivery.dmarc is not None
    assert delivery.dmarc.result == "fail"
    assert delivery.dmarc.comment == "p=quarantine"
    assert delivery.dkim is not None
    assert delivery.dkim.result == "pass"
    assert delivery.alignment["dkim"] == "none"


async def test_readback_of_nothing_is_none_after_the_wait(lab: Lab) -> None:
    delivery = await fetch_delivery_gmail(
        credentials=lab_credentials(),
        test_id="never-sent-0000",
        endpoint=lab.gmail_endpoint,
        wait=0.3,
        sleep=noop,
    )
    assert delivery is None
    with pytest.raises(GmailApiError) as caught:
        await fetch_delivery_gmail(credentials=lab_credentials(), endpoint=lab.gmail_endpoint)
    assert caught.value.kind == "config"


# -- failures: one line each, nothing secret ----------------------------------------------------


async def test_a_refused_token_says_sign_in_again(lab: Lab, emulator: PostmasterEmulator) -> None:
    data, _ = compose()
    stale = emulator.issue_token(lifetime=-1)
    result = await send_gmail_api(
        data, credentials=Credentials(token=stale), endpoint=lab.gmail_endpoint
    )
    assert not result.accepted
    assert result.error is not None
    assert "sign in again" in result.error
    assert "\n" not in result.error
    assert "Traceback" not in result.error
    assert [line.text for line in result.transcript][-1].startswith("401 Unauthorized")
    assert_no_secret(result, [stale])
    with pytest.raises(GmailApiError) as caught:
        await fetch_delivery_gmail(
            credentials=Credentials(token=stale), test_id="x", endpoint=lab.gmail_endpoint
        )
    assert caught.value.kind == "auth"
    assert stale not in str(caught.value)


async def test_a_missing_scope_is_named(lab: Lab, emulator: PostmasterEmulator) -> None:
    data, spec = compose()
    read_only = emulator.issue_token(scopes=[READONLY])
    result = await send_gmail_api(
        data, credentials=Credentials(token=read_only), endpoint=lab.gmail_endpoint
    )
    assert not result.accepted
    assert result.error is not None
    assert "gmail.send" in result.error
    assert_no_secret(result, [read_only])

    send_only = emulator.issue_token(scopes=[SEND])
    sent = await send_gmail_api(
        data, credentials=Credentials(token=send_only), endpoint=lab.gmail_endpoint
    )
    assert sent.accepted, sent.error
    with pytest.raises(GmailApiError) as caught:
        await fetch_delivery_gmail(
            credentials=Credentials(token=send_only),
            test_id=spec.test_id,
            endpoint=lab.gmail_endpoint,
        )
    assert caught.value.kind == "scope"
    assert "gmail.readonly" in caught.value.msg


async def test_a_message_gmail_refuses_is_a_400_line(lab: Lab) -> None:
    result = await send_gmail_api(
        b"Subject: nobody to send to\r\n\r\nhello\r\n",
        credentials=lab_credentials(),
        endpoint=lab.gmail_endpoint,
    )
    assert not result.accepted
    assert result.error == (
        "send: the Gmail API refused the request (400) (Recipient address required)"
    )
    empty = await send_gmail_api(b"", credentials=lab_credentials(), endpoint=lab.gmail_endpoint)
    assert empty.error is not None
    assert empty.transcript == []


async def test_an_oversized_message_is_refused_before_sending(lab: Lab) -> None:
    assert lab.gmail is not None
    before = len(lab.gmail.requests)
    data, _ = compose()
    big = data + b"x" * (MAX_MESSAGE + 1)
    result = await send_gmail_api(big, credentials=lab_credentials(), endpoint=lab.gmail_endpoint)
    assert not result.accepted
    assert result.error is not None
    assert "35 MiB" in result.error
    assert len(lab.gmail.requests) == before


async def test_the_quota_is_reported(lab: Lab, emulator: PostmasterEmulator) -> None:
    assert lab.gmail is not None
    token = emulator.issue_token(user="quota-client@good.test")
    previous = lab.gmail.quota_per_minute
    lab.gmail.quota_per_minute = 50
    try:
        data, _ = compose(from_addr="quota-client@good.test")
        result = await send_gmail_api(
            data, credentials=Credentials(token=token), endpoint=lab.gmail_endpoint
        )
    finally:
        lab.gmail.quota_per_minute = previous
    assert not result.accepted
    assert result.error is not None
    assert "quota" in result.error
    assert "429" in result.error


async def test_the_guard_refuses_an_unconfirmed_send(lab: Lab) -> None:
    assert lab.gmail is not None
    before = len(lab.gmail.requests)
    data, _ = compose()
    guard = SendGuard(limit=1)
    refused = await send_gmail_api(
        data, credentials=lab_credentials(), endpoint=lab.gmail_endpoint, guard=guard
    )
    assert not refused.accepted
    assert refused.error is not None
    assert "confirmation" in refused.error
    assert len(lab.gmail.requests) == before
    sent = await send_gmail_api(
        data,
        credentials=lab_credentials(),
        endpoint=lab.gmail_endpoint,
        guard=guard,
        confirmed=True,
    )
    assert sent.accepted, sent.error
    capped = await send_gmail_api(
        data,
        credentials=lab_credentials(),
        endpoint=lab.gmail_endpoint,
        guard=guard,
        confirmed=True,
    )
    assert capped.error is not None
    assert "cap" in capped.error


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


async def test_no_answer_is_a_timeout_line(silent_port: int) -> None:
    data, _ = compose()
    result = await send_gmail_api(
        data,
        credentials=lab_credentials(),
        endpoint=f"http://127.0.0.1:{silent_port}/",
        timeout=0.5,
    )
    assert not result.accepted
    assert result.error is not None
    assert "no answer" in result.error
    bad = await send_gmail_api(data, credentials=lab_credentials(), endpoint="ftp://nowhere")
    assert bad.error is not None
    assert "http(s) URL" in bad.error


# -- real credential files ---------------------------------------------------------------------


def _authorized_user(tmp_path: Path, emulator: PostmasterEmulator, refresh: str) -> Path:
    emulator.register_refresh_token(refresh)
    expired = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).replace(tzinfo=None)
    info = {
        "type": "authorized_user",
        "token": "old-access-token-value",
        "refresh_token": refresh,
        "client_id": "lab-client",
        "client_secret": "lab-client-secret-value",
        "scopes": [*SEND_SCOPES, *READ_SCOPES],
        "expiry": expired.isoformat() + "Z",
    }
    path = tmp_path / "gmail-token.json"
    path.write_text(json.dumps(info))
    return path


async def test_authorized_user_file_refreshes_and_nothing_leaks(
    tmp_path: Path, lab: Lab, emulator: PostmasterEmulator
) -> None:
    refresh = "refresh-gmail-secret-value"
    path = _authorized_user(tmp_path, emulator, refresh)
    creds = load_credentials(path, scopes=SEND_SCOPES, token_uri=emulator.token_uri)
    data, spec = compose()
    result = await send_gmail_api(data, credentials=creds, endpoint=lab.gmail_endpoint)
    assert result.accepted, result.error
    texts = [line.text for line in result.transcript]
    assert any(text.startswith(f"POST {emulator.token_uri}") for text in texts)
    new_token = creds.token
    assert new_token.startswith("lab-at-")
    assert_no_secret(
        result, [refresh, "lab-client-secret-value", "old-access-token-value", new_token]
    )
    delivery = await fetch_delivery_gmail(
        credentials=creds, test_id=spec.test_id, endpoint=lab.gmail_endpoint
    )
    assert delivery is not None
    assert delivery.folder == "INBOX"


def test_safe_url_drops_secret_parameters() -> None:
    url = "https://gmail.googleapis.com/gmail/v1/users/me/messages?q=x&key=AIzaSECRET&alt=json"
    cleaned = _safe_url(url)
    assert "AIzaSECRET" not in cleaned
    assert "q=x" in cleaned
    assert "alt=json" in cleaned
