"""The lab's Gmail API emulator over the wire: plain HTTP requests and the real Google client.

Lab data: the emulator shares the Postmaster emulator's listener and tokens
(`Lab.gmail_endpoint`). The lab token and emulator-issued tokens speak for
seed@good.test unless issued for another user; mail sent through it is signed
d=good.test s=google and judged by the lab mailbox as coming from 198.51.100.41
(mail-sor-f41.google.com, inside the lab's _spf.google.com).
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import json
import urllib.error
import urllib.request
import uuid
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from console.lab import Lab
from console.lab.gmail_api import (
    DKIM_KEY_FILE,
    GMAIL_SEED_ADDRESS,
    GOOGLE_OUTBOUND_IP,
    GmailEmulator,
    _without_header,
)
from console.lab.postmaster_api import LAB_TOKEN, PostmasterEmulator
from console.lab.runner import GMAIL_USER
from console.postmaster.client import build_service
from console.postmaster.credentials import load_credentials

SEND = "https://www.googleapis.com/auth/gmail.send"
READONLY = "https://www.googleapis.com/auth/gmail.readonly"
METADATA = "https://www.googleapis.com/auth/gmail.metadata"


def call(
    lab: Lab,
    method: str,
    path: str,
    *,
    token: str | None = LAB_TOKEN,
    body: Any = None,
    raw_body: bytes | None = None,
    content_type: str = "application/json",
) -> tuple[int, dict[str, Any]]:
    """One request to the emulator: (status, JSON answer)."""
    data = raw_body if raw_body is not None else (json.dumps(body).encode() if body else None)
    request = urllib.request.Request(
        lab.gmail_endpoint + path.lstrip("/"), data=data, method=method
    )
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def message(
    *,
    from_addr: str = GMAIL_SEED_ADDRESS,
    to: str | None = GMAIL_SEED_ADDRESS,
    test_id: str | None = None,
    extra: dict[str, str] | None = None,
) -> tuple[bytes, str]:
    """A small message with a fresh X-Mailscope-Test id: (bytes, id)."""
    ident = test_id or str(uuid.uuid4())
    msg = EmailMessage()
    msg["From"] = from_addr
    if to is not None:
        msg["To"] = to
    msg["Subject"] = "gmail api lab test"
    msg["X-Mailscope-Test"] = ident
    for name, value in (extra or {}).items():
        msg[name] = value
    msg.set_content(f"Hello through the API. {ident}\n")
    return msg.as_bytes(), ident


def raw(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def send(lab: Lab, data: bytes, token: str = LAB_TOKEN) -> tuple[int, dict[str, Any]]:
    return call(
        lab, "POST", "gmail/v1/users/me/messages/send", token=token, body={"raw": raw(data)}
    )


def find(lab: Lab, query: str, token: str = LAB_TOKEN) -> list[dict[str, Any]]:
    """Every message the query lists, fetched in raw format."""
    status, listed = call(
        lab, "GET", f"gmail/v1/users/me/messages?q={urllib.parse.quote(query)}", token=token
    )
    assert status == 200, listed
    found = []
    for item in listed.get("messages", []):
        status, got = call(lab, "GET", f"gmail/v1/users/me/messages/{item['id']}?format=raw")
        assert status == 200, got
        found.append(got)
    return found


def headers_of(got: dict[str, Any]) -> Any:
    data = base64.urlsafe_b64decode(got["raw"] + "=" * (-len(got["raw"]) % 4))
    return email.parser.BytesParser(policy=email.policy.compat32).parsebytes(data)


def error_of(answer: dict[str, Any]) -> tuple[int, str, str]:
    error = answer["error"]
    return error["code"], error["status"], error["errors"][0]["reason"]


@pytest.fixture
def emulator(lab: Lab) -> PostmasterEmulator:
    assert lab.postmaster is not None
    return lab.postmaster


@pytest.fixture
def gmail(lab: Lab) -> GmailEmulator:
    assert lab.gmail is not None
    return lab.gmail


# -- send, as Gmail's outbound ------------------------------------------------------------


def test_send_is_signed_and_judged_like_gmail_outbound(lab: Lab) -> None:
    data, ident = message()
    status, answer = send(lab, data)
    assert status == 200, answer
    assert answer["labelIds"] == ["SENT"]
    assert len(answer["id"]) == 16
    copies = find(lab, f'"{ident}"')
    received = [c for c in copies if "INBOX" in c["labelIds"]]
    sent = [c for c in copies if c["labelIds"] == ["SENT"]]
    assert len(received) == 1
    assert [c["id"] for c in sent] == [answer["id"]]
    parsed = headers_of(received[0])
    results = " ".join(parsed["Authentication-Results"].split())
    assert "spf=pass smtp.mailfrom=seed@good.test" in results
    assert "dkim=pass header.d=good.test header.s=google" in results
    assert "dmarc=pass (p=reject) header.from=good.test" in results
    assert parsed["Return-Path"] == "<seed@good.test>"
    hops = [" ".join(h.split()) for h in parsed.get_all("Received")]
    assert hops[0].startswith(f"from mail-sor-f41.google.com ([{GOOGLE_OUTBOUND_IP}])")
    assert "ESMTPS (version=TLS1_3" in hops[0]
    assert "by gmailapi.google.com with HTTPREST" in hops[1]
    assert received[0]["internalDate"].isdigit()
    assert received[0]["threadId"]


def test_missing_message_id_and_date_are_added_and_bcc_is_removed(lab: Lab) -> None:
    ident = str(uuid.uuid4())
    data = (
        f"From: seed@good.test\r\nTo: seed@good.test\r\nBcc: hidden@good.test\r\n"
        f"Subject: bare\r\nX-Mailscope-Test: {ident}\r\n\r\nbody {ident}\r\n"
    ).encode()
    status, answer = send(lab, data)
    assert status == 200, answer
    [copy] = [c for c in find(lab, f'"{ident}"') if "INBOX" in c["labelIds"]]
    parsed = headers_of(copy)
    assert parsed["Message-ID"].endswith("@mail.gmail.com>")
    assert parsed["Date"]
    assert parsed["Bcc"] is None
    assert " ".join(parsed["Authentication-Results"].split()).count("dkim=pass") == 1
    # The Bcc recipient got a copy too, without the Bcc header.
    assert lab.smtp is not None
    mailbox = lab.smtp.mx_handler.mailbox
    assert mailbox is not None
    hidden = mailbox.find("hidden@good.test", ident)
    assert hidden is not None
    assert b"\r\nBcc:" not in hidden.data


def test_a_from_domain_google_does_not_align_with_lands_in_spam(lab: Lab) -> None:
    # dkim1024.test publishes p=quarantine; the envelope (seed@good.test) and the
    # signature (d=good.test) both authenticate, but neither aligns with it.
    data, ident = message(from_addr="alias@dkim1024.test")
    status, _ = send(lab, data)
    assert status == 200
    # A plain search hides spam: only the account's own SENT copy shows.
    assert [c["labelIds"] for c in find(lab, f'"{ident}"')] == [["SENT"]]
    [copy] = find(lab, f'"{ident}" in:spam')
    assert copy["labelIds"][0] == "SPAM"
    results = " ".join(headers_of(copy)["Authentication-Results"].split())
    assert "spf=pass" in results
    assert "dkim=pass header.d=good.test" in results
    assert "dmarc=fail (p=quarantine) header.from=dkim1024.test" in results


def test_the_signing_key_matches_the_published_google_selector(lab: Lab) -> None:
    zone = (Path(__file__).parents[2] / "console/lab/zones/good.test.zone").read_text()
    line = next(row for row in zone.splitlines() if row.startswith("google._domainkey"))
    published = "".join(part for part in line.split('"')[1::2]).split("p=")[1]
    key = serialization.load_pem_private_key(DKIM_KEY_FILE.read_bytes(), None)
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert base64.b64encode(der).decode() == published


# -- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({}, "'raw' RFC822 payload message string"),
        ({"raw": "!!not base64!!"}, "Invalid value for ByteString"),
        ({"raw": 12}, "Invalid value for ByteString"),
        ({"raw": raw(b"Subject: nobody\r\n\r\nhi\r\n")}, "Recipient address required"),
        ({"raw": raw(b"To: not an address\r\n\r\nhi\r\n")}, "Invalid To header"),
    ],
)
def test_bad_raw_messages_are_400_invalid_argument(lab: Lab, body: Any, fragment: str) -> None:
    status, answer = call(lab, "POST", "gmail/v1/users/me/messages/send", body=body)
    assert status == 400
    assert error_of(answer) == (400, "INVALID_ARGUMENT", "invalidArgument")
    assert fragment in answer["error"]["message"]


def test_not_json_is_400(lab: Lab) -> None:
    status, answer = call(
        lab, "POST", "gmail/v1/users/me/messages/send", raw_body=b"{nope", content_type="text/x"
    )
    assert (status, error_of(answer)[2]) == (400, "invalidArgument")


def test_unknown_message_is_404_and_a_bad_format_400(lab: Lab) -> None:
    status, answer = call(lab, "GET", "gmail/v1/users/me/messages/0123456789abcdef")
    assert status == 404
    assert error_of(answer) == (404, "NOT_FOUND", "notFound")
    data, _ = message()
    _, sent = send(lab, data)
    status, answer = call(lab, "GET", f"gmail/v1/users/me/messages/{sent['id']}?format=pretty")
    assert status == 400
    status, answer = call(lab, "GET", "gmail/v1/users/me/nowhere")
    assert status == 404


# -- who may ask ----------------------------------------------------------------------------


def test_no_token_or_a_dead_one_is_401(lab: Lab, emulator: PostmasterEmulator) -> None:
    for token in (None, "lab-at-forged", emulator.issue_token(lifetime=-1)):
        status, answer = call(lab, "GET", "gmail/v1/users/me/profile", token=token)
        assert status == 401
        assert answer["error"]["status"] == "UNAUTHENTICATED"


def test_scopes_are_checked_per_method(lab: Lab, emulator: PostmasterEmulator) -> None:
    read_only = emulator.issue_token(scopes=[READONLY])
    send_only = emulator.issue_token(scopes=[SEND])
    data, _ = message()
    status, answer = send(lab, data, token=read_only)
    assert status == 403
    assert error_of(answer) == (403, "PERMISSION_DENIED", "insufficientPermissions")
    assert answer["error"]["details"][0]["reason"] == "ACCESS_TOKEN_SCOPE_INSUFFICIENT"
    status, _ = send(lab, data, token=send_only)
    assert status == 200
    status, answer = call(lab, "GET", "gmail/v1/users/me/messages", token=send_only)
    assert status == 403
    assert error_of(answer)[2] == "insufficientPermissions"
    status, _ = call(lab, "GET", "gmail/v1/users/me/messages", token=read_only)
    assert status == 200


def test_metadata_scope_allows_neither_q_nor_raw(lab: Lab, emulator: PostmasterEmulator) -> None:
    token = emulator.issue_token(scopes=[METADATA])
    status, listed = call(lab, "GET", "gmail/v1/users/me/messages?maxResults=1", token=token)
    assert status == 200
    assert listed["messages"]
    status, answer = call(lab, "GET", "gmail/v1/users/me/messages?q=hello", token=token)
    assert status == 403
    assert "q" in answer["error"]["message"]
    ident = listed["messages"][0]["id"]
    status, _ = call(lab, "GET", f"gmail/v1/users/me/messages/{ident}?format=raw", token=token)
    assert status == 403
    status, got = call(
        lab, "GET", f"gmail/v1/users/me/messages/{ident}?format=metadata", token=token
    )
    assert status == 200
    assert "raw" not in got
    assert got["payload"]["headers"]


def test_another_users_mailbox_is_delegation_denied(lab: Lab) -> None:
    status, answer = call(lab, "GET", "gmail/v1/users/other@good.test/messages")
    assert status == 403
    assert "Delegation denied" in answer["error"]["message"]
    status, profile = call(lab, "GET", f"gmail/v1/users/{GMAIL_SEED_ADDRESS}/profile")
    assert status == 200
    assert profile["emailAddress"] == GMAIL_USER == "seed@good.test"
    assert profile["messagesTotal"] >= 0


def _service_account(tmp_path: Path, emulator: PostmasterEmulator, email_address: str) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    emulator.register_service_account(email_address, key.public_key())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    path = tmp_path / "sa.json"
    path.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": "lab",
                "private_key_id": "k1",
                "private_key": pem,
                "client_email": email_address,
                "client_id": "1",
                "token_uri": emulator.token_uri,
            }
        )
    )
    return path


def _gmail(lab: Lab, credentials: Any) -> Any:
    return build_service(
        credentials, endpoint=lab.gmail_endpoint, timeout=10, api_name="gmail", api_version="v1"
    )


def test_service_account_reads_only_as_its_subject(
    tmp_path: Path, lab: Lab, emulator: PostmasterEmulator
) -> None:
    from googleapiclient.errors import HttpError

    path = _service_account(tmp_path, emulator, "sender@lab.iam.test")
    alone = _gmail(lab, load_credentials(path, scopes=[SEND]))
    data, _ = message()
    with pytest.raises(HttpError) as caught:
        alone.users().messages().send(userId="me", body={"raw": raw(data)}).execute()
    assert caught.value.resp.status == 400
    assert "Precondition check failed" in str(caught.value)

    # Acting for a Workspace user (domain-wide delegation), it sends as that user.
    acting = _gmail(lab, load_credentials(path, scopes=[SEND], subject="ops@good.test"))
    data, ident = message(from_addr="ops@good.test")
    answer = acting.users().messages().send(userId="me", body={"raw": raw(data)}).execute()
    assert answer["labelIds"] == ["SENT"]
    [copy] = [c for c in find(lab, f'"{ident}"') if "INBOX" in c["labelIds"]]
    assert headers_of(copy)["Return-Path"] == "<ops@good.test>"


# -- the real client: send forms and readback ---------------------------------------------------


def test_media_and_multipart_uploads(lab: Lab) -> None:
    # googleapiclient keeps https for /upload/ URLs under an http endpoint override, so
    # the lab's plain listener is spoken to directly here, in the forms Google documents.
    assert lab.gmail is not None
    data, ident = message()
    before = len(lab.gmail.requests)
    status, answer = call(
        lab,
        "POST",
        "upload/gmail/v1/users/me/messages/send?uploadType=media",
        raw_body=data,
        content_type="message/rfc822",
    )
    assert status == 200, answer
    assert lab.gmail.requests[before] == ("POST", "/upload/gmail/v1/users/me/messages/send")
    assert any("INBOX" in c["labelIds"] for c in find(lab, f'"{ident}"'))

    data, ident = message()
    boundary = "===lab-boundary=="
    body = (
        (
            f"--{boundary}\r\nContent-Type: application/json\r\n\r\n{{}}\r\n"
            f"--{boundary}\r\nContent-Type: message/rfc822\r\n"
            "Content-Transfer-Encoding: binary\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--".encode()
    )
    status, answer = call(
        lab,
        "POST",
        "upload/gmail/v1/users/me/messages/send?uploadType=multipart",
        raw_body=body,
        content_type=f'multipart/related; boundary="{boundary}"',
    )
    assert status == 200, answer
    assert any("INBOX" in c["labelIds"] for c in find(lab, f'"{ident}"'))
    status, answer = call(
        lab,
        "POST",
        "upload/gmail/v1/users/me/messages/send?uploadType=resumable",
        raw_body=data,
        content_type="message/rfc822",
    )
    assert status == 400


def test_list_filters_and_pages(lab: Lab) -> None:
    ident = str(uuid.uuid4())
    ids = set()
    for _ in range(3):
        data, _ = message(test_id=ident)
        status, answer = send(lab, data)
        assert status == 200
        ids.add(answer["id"])
    query = urllib.parse.quote(f'"{ident}"')
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        path = f"gmail/v1/users/me/messages?q={query}&maxResults=2"
        if token:
            path += f"&pageToken={token}"
        status, listed = call(lab, "GET", path)
        assert status == 200
        seen += [m["id"] for m in listed.get("messages", [])]
        pages += 1
        token = listed.get("nextPageToken")
        if not token:
            break
    assert pages == 3  # six copies: three SENT, three INBOX
    assert len(set(seen)) == 6
    assert ids <= set(seen)
    status, inbox = call(lab, "GET", f"gmail/v1/users/me/messages?q={query}&labelIds=INBOX")
    assert len(inbox["messages"]) == 3
    assert not ids & {m["id"] for m in inbox["messages"]}
    status, sent = call(lab, "GET", f"gmail/v1/users/me/messages?q={query}%20in:sent")
    assert {m["id"] for m in sent["messages"]} == ids
    status, negated = call(lab, "GET", f"gmail/v1/users/me/messages?q={query}%20-in:sent")
    assert len(negated["messages"]) == 3
    status, _ = call(lab, "GET", "gmail/v1/users/me/messages?maxResults=zero")
    assert status == 400


def test_rfc822msgid_finds_the_copy_and_full_format_has_parts(lab: Lab) -> None:
    mid = f"<rfc-{uuid.uuid4()}@good.test>"
    data, ident = message(extra={"Message-ID": mid})
    status, _ = send(lab, data)
    assert status == 200
    query = urllib.parse.quote(f"rfc822msgid:{mid.strip('<>')} in:inbox")
    status, listed = call(lab, "GET", f"gmail/v1/users/me/messages?q={query}")
    assert status == 200
    [item] = listed["messages"]
    status, full = call(lab, "GET", f"gmail/v1/users/me/messages/{item['id']}?format=full")
    assert status == 200
    assert full["payload"]["mimeType"] == "text/plain"
    text = base64.urlsafe_b64decode(full["payload"]["body"]["data"]).decode()
    assert ident in text
    assert ident in full["snippet"]
    status, meta = call(
        lab,
        "GET",
        f"gmail/v1/users/me/messages/{item['id']}?format=metadata&metadataHeaders=Subject",
    )
    assert [h["name"] for h in meta["payload"]["headers"]] == ["Subject"]


def test_quota_is_per_user_and_answers_429(lab: Lab, emulator: PostmasterEmulator) -> None:
    assert lab.gmail is not None
    token = emulator.issue_token(user="quota@good.test")
    before = lab.gmail.quota_per_minute
    lab.gmail.quota_per_minute = 150
    try:
        data, _ = message(from_addr="quota@good.test")
        assert send(lab, data, token=token)[0] == 200
        status, answer = send(lab, data, token=token)
        assert status == 429
        assert error_of(answer) == (429, "RESOURCE_EXHAUSTED", "rateLimitExceeded")
        other = emulator.issue_token(user="quota-other@good.test")
        assert send(lab, data, token=other)[0] == 200  # each account has its own quota
    finally:
        lab.gmail.quota_per_minute = before


# -- parsers -------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=80))
def test_any_query_gives_a_listing_never_a_crash(text: str) -> None:
    emulator = GmailEmulator(None)
    answer = emulator.list("seed@good.test", {"q": [text]})
    assert answer["resultSizeEstimate"] == 0


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["To", "Bcc", "BCC", "Subject", "X-Bcc-Note"]),
            st.text(alphabet="abc @.", min_size=1, max_size=20),
            st.booleans(),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_removing_bcc_keeps_every_other_field(fields: list[tuple[str, str, bool]]) -> None:
    lines = []
    for name, value, folded in fields:
        lines.append(f"{name}: {value}")
        if folded:
            lines.append(f"\t{value}")
    head = "\r\n".join(lines).encode()
    kept = _without_header(head, "bcc").decode()
    expected = []
    for name, value, folded in fields:
        if name.lower() == "bcc":
            continue
        expected.append(f"{name}: {value}")
        if folded:
            expected.append(f"\t{value}")
    assert kept == "\r\n".join(expected)
