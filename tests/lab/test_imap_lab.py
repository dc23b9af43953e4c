"""The lab mailbox on disk (Maildir) and the lab's Dovecot IMAP server.

The Maildir tests need no Dovecot: the lab mailbox writes what it files to
`<root>/<recipient>/Maildir/` (Spam as `.Spam/`) whenever it has a maildir root. The
server tests start a real Dovecot and skip, saying why, where it is not installed.
"""

from __future__ import annotations

import os
import pwd
import socket
import ssl
from pathlib import Path

import pytest

import console.lab.imap as lab_imap_module
from console.errors import MailscopeError
from console.lab import Lab
from console.lab.ca import LabCA
from console.lab.imap import IMAP_ADDRESS, IMAP_HOST, LabImap, dovecot_skip_reason
from console.lab.mailbox import (
    INBOX,
    SPAM,
    LabMailbox,
    maildir_path,
    maildir_user,
)

SIGNED_LIKE = (
    b"From: demo@good.test\r\nTo: seed@good.test\r\nX-Mailscope-Test: disk-1\r\n"
    b"Subject: on disk\r\n\r\nbody\r\n"
)


async def deliver(mailbox: LabMailbox, data: bytes, *, submitted: bool, rcpt: str) -> None:
    await mailbox.deliver(
        data,
        peer=("127.0.0.1", 40000),
        mail_from="demo@good.test",
        rcpt_tos=[rcpt],
        helo="client.example",
        by_host="mx1.good.test",
        tls=None,
        submitted=submitted,
        queue_id="LABDISK1",
    )


def files_in(folder: Path) -> list[Path]:
    return sorted(path for path in (folder / "new").iterdir())


def names_in(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


# -- Maildir persistence (no Dovecot needed) ------------------------------------------------


async def test_filed_copies_are_written_to_the_maildir_of_their_folder(
    lab: Lab, tmp_path: Path
) -> None:
    mailbox = LabMailbox(lambda: lab.resolver(timeout=2.0), maildir_root=tmp_path)
    # Submitted: judged from the relay (SPF pass, aligned) -> INBOX.
    await deliver(mailbox, SIGNED_LIKE, submitted=True, rcpt="Seed@Good.Test")
    # Direct from 127.0.0.1, unsigned: DMARC fails under p=reject -> Spam.
    spam_data = SIGNED_LIKE.replace(b"disk-1", b"disk-2")
    await deliver(mailbox, spam_data, submitted=False, rcpt="seed@good.test")

    inbox = tmp_path / "seed@good.test" / "Maildir"
    spam = inbox / ".Spam"
    assert maildir_path(tmp_path, "seed@good.test", INBOX) == inbox
    assert mailbox.maildir_path("seed@good.test", SPAM) == spam
    (inbox_file,) = files_in(inbox)
    (spam_file,) = files_in(spam)
    stored_inbox, stored_spam = mailbox.messages("seed@good.test")
    assert (stored_inbox.folder, stored_spam.folder) == (INBOX, SPAM)
    # Byte for byte what the in-memory API holds, stamps included.
    assert inbox_file.read_bytes() == stored_inbox.data
    assert spam_file.read_bytes() == stored_spam.data
    assert inbox_file.read_bytes().startswith(
        b"Return-Path: <demo@good.test>\r\nAuthentication-Results:"
    )
    # Maildir names: unique, with the size; nothing left in tmp/, nothing in cur/.
    assert inbox_file.name.endswith(f",S={len(stored_inbox.data)}")
    assert inbox_file.name != spam_file.name
    for folder in (inbox, spam):
        assert names_in(folder / "tmp") == []
        assert names_in(folder / "cur") == []
    assert inbox_file.stat().st_mode & 0o077 == 0  # mail is private to its owner


async def test_without_a_maildir_root_nothing_is_written(lab: Lab, tmp_path: Path) -> None:
    mailbox = LabMailbox(lambda: lab.resolver(timeout=2.0))
    await deliver(mailbox, SIGNED_LIKE, submitted=True, rcpt="seed@good.test")
    assert mailbox.maildir_path("seed@good.test") is None
    assert mailbox.ensure_maildir("seed@good.test") is None
    assert mailbox.find("seed@good.test", "disk-1") is not None
    assert names_in(tmp_path) == []


async def test_a_hostile_recipient_never_escapes_the_root(lab: Lab, tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    mailbox = LabMailbox(lambda: lab.resolver(timeout=2.0), maildir_root=root)
    for rcpt in ("../../etc/passwd@x.test", "a/b@good.test", "..@good.test", "x\x00@y.test"):
        await deliver(mailbox, SIGNED_LIKE, submitted=True, rcpt=rcpt)
    assert names_in(tmp_path) == ["root"]
    names = names_in(root)
    assert len(names) == 4
    assert all(name.startswith("_") and "/" not in name for name in names)
    assert maildir_user("../../etc/passwd@x.test") != maildir_user("..@good.test")


async def test_an_unwritable_root_still_files_in_memory(lab: Lab, tmp_path: Path) -> None:
    missing = tmp_path / "gone"  # never created: every write fails
    mailbox = LabMailbox(lambda: lab.resolver(timeout=2.0), maildir_root=missing)
    await deliver(mailbox, SIGNED_LIKE, submitted=True, rcpt="seed@good.test")
    assert mailbox.find("seed@good.test", "disk-1") is not None
    assert not missing.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="ownership is only handed over when run as root")
async def test_as_root_files_take_the_owner_of_the_root(lab: Lab, tmp_path: Path) -> None:
    nobody = pwd.getpwnam("nobody")
    root = tmp_path / "mail"
    root.mkdir()
    os.chown(root, nobody.pw_uid, nobody.pw_gid)
    mailbox = LabMailbox(lambda: lab.resolver(timeout=2.0), maildir_root=root)
    await deliver(mailbox, SIGNED_LIKE, submitted=True, rcpt="seed@good.test")
    (stored,) = files_in(root / "seed@good.test" / "Maildir")
    for path in (stored, stored.parent, root / "seed@good.test"):
        assert (path.stat().st_uid, path.stat().st_gid) == (nobody.pw_uid, nobody.pw_gid)


def test_ensure_maildir_makes_every_folder(tmp_path: Path) -> None:
    mailbox = LabMailbox(lambda: None, maildir_root=tmp_path)  # type: ignore[arg-type,return-value]
    base = mailbox.ensure_maildir("seed@good.test")
    assert base == tmp_path / "seed@good.test" / "Maildir"
    for folder in (base, base / ".Spam"):
        assert sorted(p.name for p in folder.iterdir() if p.name in ("cur", "new", "tmp")) == [
            "cur",
            "new",
            "tmp",
        ]


# -- the Dovecot server -----------------------------------------------------------------------


def test_without_dovecot_the_reason_is_clear_and_start_refuses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(lab_imap_module, "dovecot_binary", lambda: None)
    reason = dovecot_skip_reason()
    assert reason is not None
    assert "dovecot-imapd" in reason
    ca = LabCA()
    try:
        imap = LabImap(ca)
        assert imap.skip_reason == reason
        assert not imap.available
        with pytest.raises(MailscopeError, match="Dovecot is not installed"):
            imap.start()
        assert not imap.running
    finally:
        ca.cleanup()


@pytest.fixture
def dovecot() -> None:
    if reason := dovecot_skip_reason():
        pytest.skip(reason)


@pytest.mark.usefixtures("dovecot")
def test_dovecot_runs_self_contained_on_loopback_and_stops(lab: Lab) -> None:
    assert lab.ca is not None
    imap = LabImap(lab.ca)
    with imap:
        assert imap.running
        directory = imap.directory
        assert directory is not None
        config = (directory / "dovecot.conf").read_text()
        # Nothing of the system's Dovecot: its own run, state and log, no /etc includes.
        assert "/etc/" not in config
        assert "!include" not in config
        assert f"base_dir = {directory}/run" in config
        assert imap.port not in (143, 993)
        # Implicit TLS with a lab-CA certificate for imap.good.test.
        context = ssl.create_default_context(cafile=str(lab.ca.cafile))
        with (
            socket.create_connection((IMAP_ADDRESS, imap.port), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname=IMAP_HOST) as tls,
        ):
            tls.settimeout(5)
            greeting = tls.recv(4096)
        assert greeting.startswith(b"* OK")
        # The STARTTLS port never lets a password through in clear text.
        with socket.create_connection((IMAP_ADDRESS, imap.starttls_port), timeout=5) as raw:
            raw.settimeout(5)
            greeting = raw.recv(4096)
            assert b"LOGINDISABLED" in greeting
            assert b"STARTTLS" in greeting
        assert (imap.maildir_root / "seed@good.test" / "Maildir" / ".Spam" / "new").is_dir()
        assert imap.url() == f"imaps://seed%40good.test@{IMAP_HOST}:{imap.port}"
    assert not imap.running
    assert not directory.exists()
    with (
        pytest.raises(ConnectionRefusedError),
        socket.create_connection((IMAP_ADDRESS, imap.port), timeout=2),
    ):
        pass
