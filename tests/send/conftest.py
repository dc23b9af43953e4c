"""Fixtures for the send tests: the lab's IMAP server (Dovecot) over the lab mailbox."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from console.lab import Lab
from console.lab.imap import LabImap, dovecot_skip_reason


@pytest.fixture(scope="module")
def lab_imap(lab: Lab) -> Iterator[LabImap]:
    """Dovecot on imap.good.test (127.0.1.4), serving the lab mailbox's Maildirs.

    The good MX writes every filed copy to the server's maildir root while the fixture
    lives. Skips, saying why, where Dovecot is not installed (.ci/run installs it).
    """
    running = getattr(lab, "imap", None)
    if isinstance(running, LabImap) and running.running:  # the lab started its own
        yield running
        return
    reason = dovecot_skip_reason()
    if reason is not None:
        pytest.skip(reason)
    assert lab.ca is not None
    assert lab.smtp is not None
    mailbox = lab.smtp.mx_handler.mailbox
    assert mailbox is not None
    imap = LabImap(lab.ca).start()
    previous = mailbox.maildir_root
    mailbox.maildir_root = imap.maildir_root
    try:
        yield imap
    finally:
        mailbox.maildir_root = previous
        imap.stop()
