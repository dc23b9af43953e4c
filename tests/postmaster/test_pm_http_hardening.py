"""The Postmaster client against hostile endpoints: tiny loopback HTTP servers (and the
lab's emulator for the token endpoint), spoken to by the real Google client.

What is asserted is what matters to an admin: the bearer token never goes to a host a
redirect names, a huge or endless answer is refused at the cap, a server that drips a
byte at a time cannot hold the fetch past its timeout, and no secret reaches a log,
stdout or an error line, with every library at DEBUG.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import gzip
import json
import logging
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from google.oauth2.credentials import Credentials
from loopback_http import Endpoint, Respond, answer

from console import google_http
from console.lab.postmaster_api import PostmasterEmulator
from console.postmaster import client as pm_client
from console.postmaster.client import PostmasterError, abort, build_service, execute
from console.postmaster.credentials import load_credentials, refresh_credentials
from console.postmaster.stats import PostmasterClient, date_window

TOKEN = "ya29.postmaster-hostile-token-0123456789"


def slow_drip(status_line: bytes = b"HTTP/1.1 200 OK\r\n") -> Respond:
    """A status line, then a header byte every 50 ms for 20 s at most."""

    async def respond(_head: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(status_line)
        for _ in range(400):
            writer.write(b"X")
            await writer.drain()
            await asyncio.sleep(0.05)

    return respond


def pm_client_for(url: str, credentials: Any = None, **kw: Any) -> PostmasterClient:
    service = build_service(
        credentials or Credentials(token=TOKEN), endpoint=url, timeout=kw.pop("timeout", 5.0)
    )
    return PostmasterClient(service, retries=kw.pop("retries", 2), backoff=0.01)


async def fail(call: Callable[[], Any]) -> PostmasterError:
    """Run a blocking client call off the loop (the servers live on it); its one-line error."""
    with pytest.raises(PostmasterError) as caught:
        await asyncio.to_thread(call)
    return caught.value


def one_clean_line(text: str) -> str:
    assert "\n" not in text
    assert "\x1b" not in text
    assert "Traceback" not in text
    assert TOKEN not in text
    return text


def query(client: PostmasterClient) -> Callable[[], Any]:
    start, end = date_window(5, dt.datetime.now(dt.UTC).date())
    return lambda: client.query("example.com", start, end)


# -- redirects -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "call"),
    [
        ("302 Found", "list"),
        ("301 Moved Permanently", "list"),
        ("307 Temporary Redirect", "query"),
        ("308 Permanent Redirect", "query"),
    ],
)
async def test_a_redirect_to_another_host_is_never_followed(status: str, call: str) -> None:
    # The other host is on loopback too (127.0.0.2), so a followed redirect stays here.
    stolen = json.dumps({"domains": [{"name": "domains/stolen.test"}]}).encode()
    async with Endpoint(answer("200 OK", stolen), host="127.0.0.2") as elsewhere:
        moved = answer(status, b"", f"Location: {elsewhere.url}v2/domains")
        async with Endpoint(moved) as endpoint:
            client = pm_client_for(endpoint.url)
            error = await fail(client.list_domains if call == "list" else query(client))
    assert elsewhere.requests == []  # neither the token nor the query went there
    assert error.kind == "redirect"
    text = one_clean_line(error.msg)
    assert "127.0.0.2" in text
    assert "never followed" in text
    assert len(endpoint.requests) == 1  # a redirect is not retried either


async def test_the_token_endpoint_is_not_followed_either(
    tmp_path: Path, emulator: PostmasterEmulator
) -> None:
    async with Endpoint(answer("200 OK", b'{"access_token": "x"}'), host="127.0.0.2") as elsewhere:
        moved = answer("308 Permanent Redirect", b"", f"Location: {elsewhere.url}token")
        async with Endpoint(moved) as token_endpoint:
            path = _authorized_user(tmp_path, emulator, "refresh-redirect-secret")
            creds = load_credentials(path, token_uri=f"{token_endpoint.url}token")
            error = await fail(pm_client_for("http://127.0.0.1:9/", creds).list_domains)
    assert elsewhere.requests == []  # the refresh token stayed where it was sent
    assert len(token_endpoint.requests) == 1
    assert error.kind == "auth"
    assert "refresh-redirect-secret" not in one_clean_line(error.msg)


# -- bounded answers -------------------------------------------------------------------------


def flood(endpoint_box: list[Endpoint], declared: bool) -> Respond:
    """100 MB of JSON-ish bytes, announced by Content-Length or until the client hangs up."""

    async def respond(_head: bytes, writer: asyncio.StreamWriter) -> None:
        length = "Content-Length: 104857600\r\n" if declared else "Connection: close\r\n"
        writer.write(f"HTTP/1.1 200 OK\r\n{length}\r\n".encode())
        for _ in range(1600):  # 100 MB
            writer.write(b"{" * 65536)
            await writer.drain()
            endpoint_box[0].sent += 65536

    return respond


async def test_a_100_mb_answer_announced_by_content_length_is_refused_unread() -> None:
    box: list[Endpoint] = []
    async with Endpoint(flood(box, declared=True)) as endpoint:
        box.append(endpoint)
        error = await fail(pm_client_for(endpoint.url).list_domains)
        await asyncio.wait_for(endpoint.closed.wait(), 10)
    assert error.kind == "malformed"
    assert "larger than 50 MiB" in one_clean_line(error.msg)
    assert len(endpoint.requests) == 1  # not retried: asking again brings the same flood
    assert endpoint.sent < 50 * 1024 * 1024  # the client hung up long before 100 MB


async def test_an_endless_answer_is_cut_off_at_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pm_client, "MAX_RESPONSE", 1024 * 1024)
    box: list[Endpoint] = []
    async with Endpoint(flood(box, declared=False)) as endpoint:
        box.append(endpoint)
        error = await fail(query(pm_client_for(endpoint.url)))
        await asyncio.wait_for(endpoint.closed.wait(), 10)
    assert error.kind == "malformed"
    assert "larger than 1 MiB" in one_clean_line(error.msg)
    assert endpoint.sent < 50 * 1024 * 1024


async def test_a_gzip_bomb_is_not_inflated_past_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pm_client, "MAX_RESPONSE", 1024 * 1024)
    bomb = gzip.compress(b'{"domains": "' + b"0" * (64 * 1024 * 1024) + b'"}')
    async with Endpoint(answer("200 OK", bomb, "Content-Encoding: gzip")) as endpoint:
        error = await fail(pm_client_for(endpoint.url).list_domains)
    assert error.kind == "malformed"
    assert "inflates past it" in one_clean_line(error.msg)
    honest = gzip.compress(json.dumps({"domains": [{"name": "domains/a.test"}]}).encode())
    async with Endpoint(answer("200 OK", honest, "Content-Encoding: gzip")) as endpoint:
        names = await asyncio.to_thread(pm_client_for(endpoint.url).list_domains)
    assert names == ["a.test"]  # honest compression still works


# -- slow drip: the timeout holds for the whole request ----------------------------------------


@pytest.mark.parametrize("call", ["list", "query"])
async def test_a_slow_drip_answer_ends_at_the_timeout(call: str) -> None:
    async with Endpoint(slow_drip()) as endpoint:
        client = pm_client_for(endpoint.url, timeout=0.5, retries=0)
        error = await fail(client.list_domains if call == "list" else query(client))
        # The client shut its socket down: the server's next write fails, long before 20 s.
        await asyncio.wait_for(endpoint.closed.wait(), 10)
    assert error.kind == "timeout"
    what = "listing domains" if call == "list" else "stats for example.com"
    assert one_clean_line(error.msg) == f"{what}: no answer within 0.5 s"
    assert len(endpoint.requests) == 1  # a timeout is not retried, not re-sent by httplib2


async def test_a_slow_drip_body_ends_at_the_timeout_too() -> None:
    async def drip_body(_head: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
        for _ in range(400):
            writer.write(b" ")
            await writer.drain()
            await asyncio.sleep(0.05)

    async with Endpoint(drip_body) as endpoint:
        error = await fail(pm_client_for(endpoint.url, timeout=0.5, retries=0).list_domains)
        await asyncio.wait_for(endpoint.closed.wait(), 10)
    assert error.kind == "timeout"
    assert "no answer within 0.5 s" in one_clean_line(error.msg)


async def test_the_service_works_again_after_a_timeout() -> None:
    calls: list[int] = []
    good = json.dumps({"domains": [{"name": "domains/ok.test"}]}).encode()

    async def first_slow_then_good(head: bytes, writer: asyncio.StreamWriter) -> None:
        calls.append(1)
        if len(calls) == 1:
            await slow_drip()(head, writer)
        else:
            await answer("200 OK", good)(head, writer)

    async with Endpoint(first_slow_then_good) as endpoint:
        client = pm_client_for(endpoint.url, timeout=0.5, retries=0)
        error = await fail(client.list_domains)
        names = await asyncio.to_thread(client.list_domains)
    assert error.kind == "timeout"
    assert names == ["ok.test"]  # the shut connection was dropped, a new one opened


async def test_a_slow_token_endpoint_ends_at_the_timeout(
    tmp_path: Path, emulator: PostmasterEmulator
) -> None:
    async with Endpoint(slow_drip()) as token_endpoint:
        path = _authorized_user(tmp_path, emulator, "refresh-slow-secret-value")
        creds = load_credentials(path, token_uri=f"{token_endpoint.url}token")
        client = pm_client_for("http://127.0.0.1:9/", creds, timeout=0.5, retries=0)
        error = await fail(client.list_domains)
        await asyncio.wait_for(token_endpoint.closed.wait(), 10)
        with pytest.raises(PostmasterError) as caught:
            await asyncio.to_thread(refresh_credentials, creds, timeout=0.5)
    assert error.kind == "timeout"
    assert "no answer within 0.5 s" in one_clean_line(error.msg)
    assert caught.value.kind == "timeout"
    assert one_clean_line(caught.value.msg) == "token refresh: no answer within 0.5 s"


async def test_abort_frees_a_thread_blocked_on_a_slow_server() -> None:
    async with Endpoint(slow_drip()) as endpoint:
        service = build_service(Credentials(token=TOKEN), endpoint=endpoint.url, timeout=30)
        outcome: list[BaseException] = []

        def run() -> None:
            try:
                execute(service.domains().list(), what="listing domains", retries=0)
            except BaseException as exc:
                outcome.append(exc)

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        await asyncio.wait_for(endpoint.answering.wait(), 10)
        abort(service)  # what a cancelled caller does: the 30 s timeout is not waited for
        await asyncio.to_thread(worker.join, 10)
        await asyncio.wait_for(endpoint.closed.wait(), 10)
    assert not worker.is_alive()
    [error] = outcome
    assert isinstance(error, PostmasterError)
    assert error.kind == "timeout"
    one_clean_line(error.msg)


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


def _authorized_user(tmp_path: Path, emulator: PostmasterEmulator, refresh: str) -> Path:
    emulator.register_refresh_token(refresh)
    expired = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).replace(tzinfo=None)
    info = {
        "type": "authorized_user",
        "token": "old-pm-access-token-value",
        "refresh_token": refresh,
        "client_id": "lab-client",
        "client_secret": "lab-pm-client-secret-value",
        "expiry": expired.isoformat() + "Z",
    }
    path = tmp_path / "pm-token.json"
    path.write_text(json.dumps(info))
    return path


@pytest.fixture
def emulator(lab: Any) -> PostmasterEmulator:
    assert lab.postmaster is not None
    return lab.postmaster


async def test_debug_logs_of_a_refresh_and_fetch_hold_no_secret(
    tmp_path: Path,
    lab: Any,
    emulator: PostmasterEmulator,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    refresh = "refresh-pm-debug-secret-value"
    path = _authorized_user(tmp_path, emulator, refresh)
    creds = load_credentials(path, token_uri=emulator.token_uri)
    debug_everything(caplog, monkeypatch)
    names = await asyncio.to_thread(pm_client_for(lab.postmaster_endpoint, creds).list_domains)
    assert names  # the refresh worked and the API answered
    assert creds.token.startswith("lab-at-")
    assert any(r.name.startswith("googleapiclient") for r in caplog.records)  # it did log
    assert any(r.name.startswith("google_auth_httplib2") for r in caplog.records)
    secrets = [refresh, "lab-pm-client-secret-value", "old-pm-access-token-value", creds.token]
    out = capsys.readouterr()
    assert_nowhere(secrets, caplog.text, out.out, out.err)


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
        error = await fail(pm_client_for(endpoint.url).list_domains)
    assert error.kind == "bad-request"
    assert "you sent" in one_clean_line(error.msg)  # the server's words are shown ...
    assert "[redacted]" in error.msg  # ... without the bearer token they held

    # A 200 whose body repeats the token: googleapiclient logs such an answer whole.
    async def echo_ok(head: bytes, writer: asyncio.StreamWriter) -> None:
        said = re.search(rb"(?i)authorization:[^\r]*", head)
        name = f"domains/you sent {said[0].decode() if said else 'nothing'}"
        body = json.dumps({"domains": [{"name": name}]}).encode()
        await answer("200 OK", body, "Content-Type: application/json")(head, writer)

    async with Endpoint(echo_ok) as endpoint:
        names = await asyncio.to_thread(pm_client_for(endpoint.url).list_domains)
    assert TOKEN in names[0]  # the caller gets the answer as it came ...
    assert "you sent" in caplog.text  # ... the log has it too, scrubbed
    out = capsys.readouterr()
    assert_nowhere([TOKEN], caplog.text, out.out, out.err, error.msg)


async def test_a_refused_refresh_is_one_line_without_the_refresh_token(
    tmp_path: Path,
    emulator: PostmasterEmulator,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def echo_form(head: bytes, writer: asyncio.StreamWriter) -> None:
        # A token endpoint that repeats the form it got (refresh token, client secret).
        form = endpoint.requests[-1].split(b"\r\n\r\n", 1)[1].decode()
        body = json.dumps({"error": "invalid_grant", "error_description": form}).encode()
        await answer("400 Bad Request", body, "Content-Type: application/json")(head, writer)

    debug_everything(caplog, monkeypatch)
    async with Endpoint(echo_form) as endpoint:
        path = _authorized_user(tmp_path, emulator, "refresh-echoed-secret-value")
        creds = load_credentials(path, token_uri=f"{endpoint.url}token")
        with pytest.raises(PostmasterError) as caught:
            await asyncio.to_thread(refresh_credentials, creds, timeout=5)
    assert caught.value.kind == "auth"
    one_clean_line(caught.value.msg)
    assert_nowhere(
        ["refresh-echoed-secret-value", "lab-pm-client-secret-value"],
        caught.value.msg,
        caplog.text,
    )


def test_redact_is_shared_with_the_gmail_client() -> None:
    from console.send import gmail_api

    assert gmail_api.redact is google_http.redact
    assert gmail_api.scrubbed_logs is google_http.scrubbed_logs
    text = "Authorization: Bearer ya29.a0AfH6SM and refresh_token=1//0gabc"
    cleaned = google_http.redact(text)
    assert "ya29.a0" not in cleaned
    assert "1//0gabc" not in cleaned
