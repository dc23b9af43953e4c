"""Credentials: real OAuth exchanges (JWT bearer, refresh token) against the lab's /token."""

from __future__ import annotations

import datetime as dt
import json
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from console.lab.postmaster_api import LAB_DOMAINS, PostmasterEmulator
from console.postmaster.client import PostmasterError
from console.postmaster.credentials import (
    SCOPES,
    default_token_path,
    load_credentials,
    write_token_file,
)


def _service_account(tmp_path: Path, emulator: PostmasterEmulator, email: str) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    emulator.register_service_account(email, key.public_key())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    info = {
        "type": "service_account",
        "project_id": "lab",
        "private_key_id": "k1",
        "private_key": pem,
        "client_email": email,
        "client_id": "1",
        "token_uri": emulator.token_uri,
    }
    path = tmp_path / "sa.json"
    path.write_text(json.dumps(info))
    return path


def test_service_account_jwt_exchange(tmp_path, emulator, make_client) -> None:
    path = _service_account(tmp_path, emulator, "reader@lab.iam.test")
    creds = load_credentials(path, subject="admin@good.test")
    client = make_client(creds)
    issued = len(emulator.tokens)
    assert client.list_domains() == list(LAB_DOMAINS)
    assert len(emulator.tokens) == issued + 1
    claims = emulator.last_claims
    assert claims["iss"] == "reader@lab.iam.test"
    assert claims["sub"] == "admin@good.test"
    assert set(claims["scope"].split()) == set(SCOPES)


def test_service_account_with_the_wrong_key_is_refused(tmp_path, emulator, make_client) -> None:
    path = _service_account(tmp_path, emulator, "rotated@lab.iam.test")
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    emulator.register_service_account("rotated@lab.iam.test", other.public_key())
    client = make_client(load_credentials(path), retries=0)
    with pytest.raises(PostmasterError) as caught:
        client.list_domains()
    assert caught.value.kind == "auth"
    assert "sign in again" in caught.value.msg
    assert "PRIVATE KEY" not in str(caught.value)


def _authorized_user(tmp_path: Path, emulator: PostmasterEmulator, refresh: str) -> Path:
    expired = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).replace(tzinfo=None)
    info = {
        "type": "authorized_user",
        "token": "old-access-token",
        "refresh_token": refresh,
        "token_uri": emulator.token_uri,
        "client_id": "lab-client",
        "client_secret": "lab-secret",
        "scopes": list(SCOPES),
        "expiry": expired.isoformat() + "Z",
    }
    path = tmp_path / "token.json"
    write_token_file(path, json.dumps(info))
    return path


def test_authorized_user_refreshes_and_saves_the_new_token(tmp_path, emulator, make_client):
    emulator.register_refresh_token("refresh-good")
    path = _authorized_user(tmp_path, emulator, "refresh-good")
    client = make_client(load_credentials(path, token_uri=emulator.token_uri))
    assert client.list_domains() == list(LAB_DOMAINS)
    saved = json.loads(path.read_text())
    assert saved["token"] != "old-access-token"
    assert saved["token"] in emulator.tokens
    assert saved["refresh_token"] == "refresh-good"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_valid_saved_token_is_used_until_it_expires(tmp_path, emulator, make_client):
    token = emulator.issue_token()
    info = {
        "type": "authorized_user",
        "token": token,
        "refresh_token": "never-used",
        "token_uri": emulator.token_uri,
        "client_id": "c",
        "client_secret": "s",
        "expiry": (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))
        .replace(tzinfo=None)
        .isoformat(),
    }
    path = tmp_path / "token.json"
    write_token_file(path, json.dumps(info))
    before = [r for r in emulator.requests if r[1] == "/token"]
    creds = load_credentials(path, token_uri=emulator.token_uri)
    assert make_client(creds).list_domains()
    assert [r for r in emulator.requests if r[1] == "/token"] == before


def test_revoked_refresh_token_says_sign_in_again(tmp_path, emulator, make_client) -> None:
    emulator.register_refresh_token("refresh-revoked")
    emulator.revoked.add("refresh-revoked")
    path = _authorized_user(tmp_path, emulator, "refresh-revoked")
    client = make_client(load_credentials(path, token_uri=emulator.token_uri), retries=0)
    with pytest.raises(PostmasterError) as caught:
        client.list_domains()
    error = caught.value
    assert error.kind == "auth"
    assert "mailscope postmaster --login" in error.msg
    assert "refresh-revoked" not in str(error)
    assert "lab-secret" not in str(error)
    assert json.loads(path.read_text())["token"] == "old-access-token"  # file untouched


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("not json", "not valid JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"type": "external_account"}', "expected a service_account or authorized_user"),
        ('{"type": "service_account", "private_key": "SECRET"}', "credentials"),
    ],
)
def test_unusable_credential_files(tmp_path, text, expected) -> None:
    path = tmp_path / "c.json"
    path.write_text(text)
    with pytest.raises(PostmasterError) as caught:
        load_credentials(path)
    assert caught.value.kind == "config"
    assert expected in caught.value.msg
    assert "SECRET" not in caught.value.msg


def test_missing_file(tmp_path) -> None:
    with pytest.raises(PostmasterError) as caught:
        load_credentials(tmp_path / "absent.json")
    assert "cannot read credentials" in caught.value.msg


def test_token_file_is_private_and_under_the_config_dir(tmp_path) -> None:
    path = default_token_path()
    assert path.name == "postmaster-token.json"
    assert "mailscope" in str(path)
    target = tmp_path / "deep" / "token.json"
    write_token_file(target, "{}")
    write_token_file(target, '{"token": "x"}')
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert target.read_text() == '{"token": "x"}'
    assert [p.name for p in target.parent.iterdir()] == ["token.json"]


def test_oauth_paste_back_flow_saves_a_private_token(tmp_path, emulator, make_client, monkeypatch):
    from urllib.parse import parse_qs, urlsplit

    from console.postmaster.credentials import oauth_login

    # oauthlib refuses plain-http token endpoints; the lab's is loopback http.
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    secrets = tmp_path / "client.json"
    secrets.write_text(
        json.dumps(
            {
                "installed": {
                    "client_id": "lab-client",
                    "client_secret": "lab-secret",
                    "auth_uri": "https://accounts.example.invalid/o/oauth2/auth",
                    "token_uri": emulator.token_uri,
                    "redirect_uris": ["http://127.0.0.1"],
                }
            }
        )
    )
    emulator.register_auth_code("code-123", "refresh-from-flow")
    shown: list[str] = []

    def paste(_prompt: str) -> str:
        url = next(line for line in shown if line.startswith("https://"))
        state = parse_qs(urlsplit(url).query)["state"][0]
        return f"http://127.0.0.1:8085/?state={state}&code=code-123"

    target = tmp_path / "cfg" / "token.json"
    creds = oauth_login(secrets, token_path=target, prompt=paste, show=shown.append)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    saved = json.loads(target.read_text())
    assert saved["refresh_token"] == "refresh-from-flow"
    assert not any("refresh-from-flow" in line or creds.token in line for line in shown)
    reloaded = load_credentials(target, token_uri=emulator.token_uri)
    assert make_client(reloaded).list_domains() == list(LAB_DOMAINS)


def test_oauth_flow_failure_is_one_line(tmp_path, emulator, monkeypatch) -> None:
    from console.postmaster.credentials import oauth_login

    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    secrets = tmp_path / "client.json"
    secrets.write_text(
        json.dumps(
            {
                "installed": {
                    "client_id": "c",
                    "client_secret": "s",
                    "auth_uri": "https://accounts.example.invalid/auth",
                    "token_uri": emulator.token_uri,
                }
            }
        )
    )
    with pytest.raises(PostmasterError) as caught:
        oauth_login(
            secrets,
            token_path=tmp_path / "t.json",
            prompt=lambda _p: "http://127.0.0.1:8085/?code=wrong",
            show=lambda _t: None,
        )
    assert caught.value.kind == "auth"
    assert "sign in again" in caught.value.msg
    assert not (tmp_path / "t.json").exists()
