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
import gzip
import json
import logging
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.oauth2.credentials import Credentials
from loopback_http import Endpoint, Respond, answer

from console.lab import Lab
from console.lab.postmaster_api import PostmasterEmulator
from console.lab.runner import GMAIL_USER
from console.postmaster.credentials import lab_credentials, load_credentials
from console.send import gmail_api
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
    assert delivery.category == "Primary"  # the lab files test mail under the Primary tab
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


# -- hostile endpoints (tiny loopback HTTP servers; the real Google client) ------------------

TOKEN = "ya29.hostile-endpoint-token-0123456789"


async def send_to(url: str, **kw: Any) -> SendResult:
    data, _ = compose()
    return await send_gmail_api(data, credentials=Credentials(token=TOKEN), endpoint=url, **kw)


async def read_from(url: str, **kw: Any) -> GmailApiError:
    with pytest.raises(GmailApiError) as caught:
        await fetch_delivery_gmail(
            credentials=Credentials(token=TOKEN), message_id="<m@good.test>", endpoint=url, **kw
        )
    return caught.value


def one_clean_line(text: str | None) -> str:
    assert text is not None
    assert "\n" not in text
    assert "\x1b" not in text
    assert "Traceback" not in text
    assert TOKEN not in text
    return text


async def test_a_non_json_answer_is_one_line() -> None:
    html = b"<html>\x1b[2J[bold]not an API[/bold]</html>"
    async with Endpoint(answer("200 OK", html, "Content-Type: text/html")) as endpoint:
        result = await send_to(endpoint.url)
        error = await read_from(endpoint.url)
    assert not result.accepted
    assert "not a JSON object" in one_clean_line(result.error)
    assert error.kind == "malformed"
    one_clean_line(error.msg)


async def test_an_error_message_with_escapes_is_shown_escaped() -> None:
    message = "quota\x1b[2J\x1b]0;owned\x07 [bold]gone[/bold]\u202e"
    body = json.dumps({"error": {"code": 403, "message": message}}).encode()
    async with Endpoint(answer("403 Forbidden", body)) as endpoint:
        result = await send_to(endpoint.url)
        error = await read_from(endpoint.url)
    for text in (result.error, error.msg, *(line.text for line in result.transcript)):
        one_clean_line(text)
        assert "\x07" not in (text or "")
        assert "\u202e" not in (text or "")
    assert "[bold]gone[/bold]" in (result.error or "")  # literal text, for Text() displays


async def test_an_answer_that_is_json_but_not_gmails_is_one_line() -> None:
    async with Endpoint(answer("200 OK", b'["a", "list"]')) as endpoint:
        result = await send_to(endpoint.url)
        error = await read_from(endpoint.url)
    assert "not a JSON object" in one_clean_line(result.error)
    assert error.kind == "malformed"
    assert "not a JSON object" in error.msg


async def test_a_100_mb_answer_is_cut_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gmail_api, "MAX_RESPONSE", 1024 * 1024)

    def flood(declared: bool) -> Respond:
        async def respond(_head: bytes, writer: asyncio.StreamWriter) -> None:
            length = "Content-Length: 104857600\r\n" if declared else "Connection: close\r\n"
            writer.write(f"HTTP/1.1 200 OK\r\n{length}\r\n".encode())
            for _ in range(1600):  # 100 MB, until the client hangs up
                writer.write(b"{" * 65536)
                await writer.drain()
                endpoint.sent += 65536

        return respond

    for declared in (True, False):
        async with Endpoint(flood(declared)) as endpoint:
            result = await send_to(endpoint.url)
            error = await read_from(endpoint.url)
            await asyncio.wait_for(endpoint.closed.wait(), 10)
        assert "larger than 1 MiB" in one_clean_line(result.error)
        assert error.kind == "malformed"
        assert "larger than 1 MiB" in error.msg
        assert endpoint.sent < 50 * 1024 * 1024  # the client hung up long before 100 MB


async def test_a_gzip_bomb_is_not_inflated_past_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gmail_api, "MAX_RESPONSE", 1024 * 1024)
    bomb = gzip.compress(b'{"id": "' + b"0" * (64 * 1024 * 1024) + b'"}')
    assert len(bomb) < 100_000
    async with Endpoint(answer("200 OK", bomb, "Content-Encoding: gzip")) as endpoint:
        result = await send_to(endpoint.url)
    assert "inflates past it" in one_clean_line(result.error)
    small = gzip.compress(json.dumps({"id": "18c0ffee", "labelIds": ["SENT"]}).encode())
    async with Endpoint(answer("200 OK", small, "Content-Encoding: gzip")) as endpoint:
        result = await send_to(endpoint.url)
    assert result.accepted, result.error  # honest compression still works
    assert result.queue_id == "18c0ffee"


@pytest.mark.parametrize(
    "status",
    ["301 Moved Permanently", "302 Found", "307 Temporary Redirect", "308 Permanent Redirect"],
)
async def test_a_redirect_is_never_followed_to_another_host(status: str) -> None:
    # The other host is on loopback too (127.0.0.2), so a followed redirect stays here.
    async with Endpoint(answer("200 OK", b'{"id": "stolen"}'), host="127.0.0.2") as elsewhere:
        moved = answer(status, b"", f"Location: {elsewhere.url}gmail/v1/users/me/messages/send")
        async with Endpoint(moved) as endpoint:
            result = await send_to(endpoint.url)
            error = await read_from(endpoint.url)
    assert elsewhere.requests == []  # neither the token nor the message went there
    assert not result.accepted
    text = one_clean_line(result.error)
    assert "redirected" in text
    assert "127.0.0.2" in text
    assert "never followed" in text
    assert any("not followed" in line.text for line in result.transcript)
    assert error.kind == "redirect"
    assert len(endpoint.requests) == 2  # one POST, one GET: nothing resent


async def test_a_slow_drip_answer_ends_at_the_timeout_and_frees_the_thread() -> None:
    async def slowloris(_head: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\n")
        for _ in range(400):  # a header byte every 50 ms, for 20 s at most
            writer.write(b"X")
            await writer.drain()
            await asyncio.sleep(0.05)

    async with Endpoint(slowloris) as endpoint:
        result = await send_to(endpoint.url, timeout=0.5)
        # The client shut its socket down: the server's next write fails, long before 20 s.
        await asyncio.wait_for(endpoint.closed.wait(), 10)
    assert "no answer from the Gmail API within 0.5 s" in one_clean_line(result.error)
    assert "may have been sent" in result.error
    async with Endpoint(slowloris) as endpoint:
        error = await read_from(endpoint.url, timeout=0.5)
        await asyncio.wait_for(endpoint.closed.wait(), 10)
    assert error.kind == "timeout"
    assert error.msg == "readback: no answer from the Gmail API within 0.5 s"


async def test_a_connection_dropped_after_the_post_is_never_resent() -> None:
    async def drop(_head: bytes, writer: asyncio.StreamWriter) -> None:
        return None  # read the whole request, answer nothing, hang up

    async with Endpoint(drop) as endpoint:
        result = await send_to(endpoint.url)
    assert len(endpoint.requests) == 1  # httplib2 alone would have posted it twice
    assert "may have been sent" in one_clean_line(result.error)
    assert "check the Sent folder" in result.error


# -- secrets never logged, even with every library at DEBUG --------------------------------

DEBUG_LOGGERS = ("googleapiclient", "google", "google_auth_httplib2", "httplib2", "")


def debug_everything(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    import googleapiclient.model
    import httplib2

    for name in DEBUG_LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name or None)
    monkeypatch.setattr(googleapiclient.model, "dump_request_response", True)
    monkeypatch.setattr(httplib2, "debuglevel", 4)  # http.client prints headers to stdout


def assert_nowhere(secrets: list[str], *texts: str) -> None:
    for secret in secrets:
        for form in (secret, base64.b64encode(secret.encode()).decode()):
            for text in texts:
                assert form not in text, "a secret leaked"


async def test_debug_logs_of_a_refresh_send_and_readback_hold_no_secret(
    tmp_path: Path,
    lab: Lab,
    emulator: PostmasterEmulator,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    refresh = "refresh-debug-secret-value"
    path = _authorized_user(tmp_path, emulator, refresh)
    creds = load_credentials(
        path, scopes=[*SEND_SCOPES, *READ_SCOPES], token_uri=emulator.token_uri
    )
    debug_everything(caplog, monkeypatch)
    data, spec = compose()
    result = await send_gmail_api(data, credentials=creds, endpoint=lab.gmail_endpoint)
    assert result.accepted, result.error
    delivery = await fetch_delivery_gmail(
        credentials=creds,
        test_id=spec.test_id,
        message_id=result.message_id,
        endpoint=lab.gmail_endpoint,
        wait=5,
    )
    assert delivery is not None
    assert any(r.name.startswith("googleapiclient") for r in caplog.records)  # it did log
    secrets = [refresh, "lab-client-secret-value", "old-access-token-value", creds.token]
    out = capsys.readouterr()
    assert_nowhere(secrets, caplog.text, out.out, out.err, json.dumps(result.to_dict()))


async def test_a_service_account_key_and_its_assertion_never_reach_logs_or_errors(
    tmp_path: Path,
    lab: Lab,
    emulator: PostmasterEmulator,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    emulator.register_service_account("sender@lab.iam.test", key.public_key())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    info = {
        "type": "service_account",
        "project_id": "lab",
        "private_key_id": "k1",
        "private_key": pem,
        "client_email": "sender@lab.iam.test",
        "client_id": "1",
        "token_uri": emulator.token_uri,
    }
    path = tmp_path / "sa.json"
    path.write_text(json.dumps(info))
    debug_everything(caplog, monkeypatch)
    creds = load_credentials(path, scopes=SEND_SCOPES, subject=GMAIL_USER)
    data, _ = compose()
    result = await send_gmail_api(data, credentials=creds, endpoint=lab.gmail_endpoint)
    assert result.accepted, result.error
    # Acting as itself a service account has no mailbox: an error, with nothing secret.
    alone = load_credentials(path, scopes=SEND_SCOPES)
    refused = await send_gmail_api(data, credentials=alone, endpoint=lab.gmail_endpoint)
    assert refused.error is not None
    key_lines = [line for line in pem.splitlines() if len(line) > 40]
    out = capsys.readouterr()
    texts = (caplog.text, out.out, out.err, json.dumps(result.to_dict()), refused.error)
    assert_nowhere([*key_lines[:3], creds.token, alone.token or "x" * 8], *texts)
    for text in texts:
        assert "eyJ" not in text  # no JWT (the signed assertion) either


async def test_a_token_echoed_by_a_hostile_endpoint_is_scrubbed(
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def echo(head: bytes, writer: asyncio.StreamWriter) -> None:
        said = re.search(rb"(?i)authorization:[^\r]*", head)
        said = said[0].decode() if said else "no authorization"
        body = json.dumps(
            {"error": {"code": 400, "message": f"you sent {said}", "status": "INVALID"}}
        ).encode()
        await answer("400 Bad Request", body, "Content-Type: application/json")(head, writer)

    debug_everything(caplog, monkeypatch)
    async with Endpoint(echo) as endpoint:
        result = await send_to(endpoint.url)
        error = await read_from(endpoint.url)
    assert "you sent" in one_clean_line(result.error)  # the server's words are shown ...
    assert "[redacted]" in result.error  # ... without the bearer token they held
    assert TOKEN not in error.msg
    out = capsys.readouterr()
    assert_nowhere([TOKEN], caplog.text, out.out, out.err, json.dumps(result.to_dict()))


def test_redact_removes_secret_shapes() -> None:
    pem = "-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBg\\n-----END PRIVATE KEY-----\\n"
    text = (
        f'{{"private_key": "{pem}", "access_token": "abc.def", "refresh_token": "1//0g"}} '
        "Authorization: Bearer ya29.a0AfH6SM and assertion=eyJhbGciOi.eyJpc3MiOi.c2ln"
    )
    cleaned = gmail_api.redact(text, ["custom-secret-value"])
    for leaked in ("MIIEvQ", "abc.def", "1//0g", "ya29.a0", "eyJ", "c2ln"):
        assert leaked not in cleaned
    assert "custom-secret-value" not in gmail_api.redact(
        "x custom-secret-value y", ["custom-secret-value"]
    )
    assert gmail_api.redact("id 18c0ffee labelIds SENT") == "id 18c0ffee labelIds SENT"


# -- labels: where a copy landed, by a Gmail that answers like Google ------------------------


@pytest.mark.parametrize(
    ("labels", "placed"),
    [
        (["INBOX", "UNREAD", "CATEGORY_PROMOTIONS"], ("INBOX", "Promotions")),
        (["INBOX", "CATEGORY_PERSONAL", "IMPORTANT"], ("INBOX", "Primary")),
        (["CATEGORY_UPDATES", "Label_12"], ("Archived", "Updates")),  # a filter skipped the inbox
        (["SPAM", "UNREAD"], ("Spam", None)),
        (["SPAM", "CATEGORY_PROMOTIONS"], ("Spam", None)),
        (["TRASH"], ("Trash", None)),
        (["SENT"], (None, None)),  # the account's own sent copy: not a received one
        (["SENT", "INBOX", "UNREAD"], ("INBOX", None)),  # sent to itself: received too
        (["DRAFT"], (None, None)),
    ],
)
def test_labels_say_the_folder_and_the_tab(
    labels: list[str], placed: tuple[str | None, str | None]
) -> None:
    assert gmail_api.placement(labels) == placed


async def test_readback_skips_the_sent_copy_and_shows_the_promotions_tab() -> None:
    wanted = "<abc.123@good.test>"
    received = (
        b"Authentication-Results: mx.google.com; dkim=pass header.i=@good.test;"
        b" spf=pass smtp.mailfrom=demo@good.test; dmarc=pass header.from=good.test\r\n"
        b"Received: from mail.good.test (mail.good.test. [192.0.2.10]) by mx.google.com"
        b" with ESMTPS id x (version=TLS1_3 cipher=TLS_AES_256_GCM_SHA384 bits=256/256);"
        b" Fri, 27 Nov 2026 10:00:02 -0800 (PST)\r\n"
        b"Message-ID: " + wanted.encode() + b"\r\nFrom: demo@good.test\r\n\r\nhi\r\n"
    )
    sent_copy = b"Message-ID: " + wanted.encode() + b"\r\nFrom: seed@good.test\r\n\r\nhi\r\n"
    other = received.replace(b"abc.123", b"abc.1234")  # a loose match: not the same id
    messages = {
        "m1": (["SENT"], sent_copy),
        "m2": (["INBOX"], other),
        "m3": (["INBOX", "UNREAD", "CATEGORY_PROMOTIONS"], received),
    }
    gets: list[str] = []

    async def gmail(head: bytes, writer: asyncio.StreamWriter) -> None:
        path = head.split(b" ")[1].decode().split("?")[0]
        if path.endswith("/messages"):
            body: dict[str, Any] = {"messages": [{"id": key} for key in messages]}
        else:
            key = path.rsplit("/", 1)[1]
            gets.append(key)
            labels, data = messages[key]
            raw = base64.urlsafe_b64encode(data).decode().rstrip("=")
            body = {"id": key, "labelIds": labels, "raw": raw}
        await answer("200 OK", json.dumps(body).encode(), "Content-Type: application/json")(
            head, writer
        )

    async with Endpoint(gmail) as endpoint:
        delivery = await fetch_delivery_gmail(
            credentials=Credentials(token=TOKEN),
            message_id=wanted,
            endpoint=endpoint.url,
            authserv_ids=["mx.google.com"],
        )
    assert gets == ["m1", "m2", "m3"]
    assert delivery is not None
    assert (delivery.folder, delivery.category) == ("INBOX", "Promotions")
    assert delivery.message_id == wanted
    assert delivery.authserv_id == "mx.google.com"
    assert delivery.dmarc is not None
    assert delivery.dmarc.result == "pass"
    query = endpoint.requests[0].split(b" ")[1]
    assert b"q=rfc822msgid%3Aabc.123%40good.test" in query  # the Message-ID, never the header
    assert b"includeSpamTrash=true" in query
