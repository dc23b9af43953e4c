"""The lab's IMAP server: a real Dovecot serving the lab mailbox's Maildirs over TLS.

IMAP readback (console/send/imap.py) is tested against a real server, not an imitation:
Dovecot from the distribution's packages (`dovecot-imapd` on Debian), started here as a
child process with a configuration of its own in a temporary directory. Nothing of the
system's Dovecot is used or touched: no /etc/dovecot, no /run/dovecot, no port 143 or
993. It listens on a loopback address (imap.good.test, 127.0.1.4) on free ports: implicit
TLS (the 993 role) and STARTTLS (the 143 role), with a certificate from the lab CA.

The mail is the lab mailbox's: give `LabMailbox.maildir_root` this server's
`maildir_root`, and every copy the good MX files is written where Dovecot reads it
(`<root>/<user>/Maildir/`, Spam as `.Spam` with the special-use flag \\Junk).

Privileges. Dovecot never reads mail as root. Running as root (CI), the mail processes
run as `nobody` and the maildir root is owned by it (the lab mailbox gives what it
writes the root's owner); logins run as the package's `dovenull`, the rest as `dovecot`.
Running as another user, everything runs as that user, without chroots.

When the `dovecot` binary is absent, `skip_reason` says so and `start()` raises.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import grp
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Self

from console.errors import MailscopeError
from console.lab.ca import LabCA
from console.lab.mailbox import create_maildir

IMAP_HOST = "imap.good.test"
"""The lab's IMAP host (good.test's zone gives it IMAP_ADDRESS)."""

IMAP_ADDRESS = "127.0.1.4"
"""The loopback address the lab's IMAP server listens on."""

SEED_USERS: tuple[str, ...] = ("seed@good.test",)
"""The seed mailboxes that can log in: the lab mailbox's test recipients."""

IMAP_PASSWORD = "lab-imap-password"
"""Every seed user's lab password (a lab secret, still never shown in output)."""

DOVECOT_PATHS: tuple[str, ...] = ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot")
"""Where Dovecot lives when `dovecot` is not on PATH (sbin is often not, for non-root)."""

START_TIMEOUT = 15.0
"""Seconds Dovecot may take to accept connections."""

STOP_GRACE = 1.0
"""Seconds Dovecot gets to stop after SIGTERM before its process group is killed."""

_MAIL_USER = "nobody"
"""The mail processes' user when we run as root (Dovecot refuses to read mail as root)."""


def dovecot_binary() -> str | None:
    """The path of the `dovecot` binary, or None when it is not installed."""
    found = shutil.which("dovecot")
    if found:
        return found
    for path in DOVECOT_PATHS:
        if os.access(path, os.X_OK):
            return path
    return None


def dovecot_skip_reason() -> str | None:
    """Why the lab cannot run an IMAP server here, or None when it can."""
    if dovecot_binary() is None:
        return (
            "Dovecot is not installed (Debian: apt-get install dovecot-imapd; .ci/run "
            "does it): the lab has no IMAP server, IMAP readback is not exercised"
        )
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        missing = [name for name in ("dovecot", "dovenull", _MAIL_USER) if not _user_exists(name)]
        if missing:
            return f"Dovecot is installed but the users {', '.join(missing)} are missing"
    return None


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _free_port(address: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((address, 0))
        return int(sock.getsockname()[1])


class LabImap:
    """A Dovecot IMAP server over the lab's Maildirs, on loopback, until `stop()`.

    Args:
        ca: the lab CA; it issues the server certificate for `host`.
        users: the login names (each a mailbox under `maildir_root`).
        password: their password.
        host: the name in the certificate (and in the lab DNS).
        address: the loopback address to listen on.
        directory: where the configuration, state, logs and Maildirs go; a new temporary
            directory (removed by `stop()`) when None.

    Attributes:
        port: the implicit-TLS port (the 993 role), once started.
        starttls_port: the STARTTLS port (the 143 role), once started.
        maildir_root: give it to `LabMailbox.maildir_root`.
        log_path: Dovecot's log file.
    """

    def __init__(
        self,
        ca: LabCA,
        *,
        users: tuple[str, ...] = SEED_USERS,
        password: str = IMAP_PASSWORD,
        host: str = IMAP_HOST,
        address: str = IMAP_ADDRESS,
        directory: Path | None = None,
    ) -> None:
        self.ca = ca
        self.users = tuple(user.strip().lower() for user in users)
        self.password = password
        self.host = host
        self.address = address
        self._owns_directory = directory is None
        self.directory = Path(directory) if directory is not None else None
        self.port: int | None = None
        self.starttls_port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None

    # -- what callers ask -------------------------------------------------------------

    @property
    def skip_reason(self) -> str | None:
        """Why this server cannot run here (Dovecot missing), or None."""
        return dovecot_skip_reason()

    @property
    def available(self) -> bool:
        return self.skip_reason is None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def maildir_root(self) -> Path:
        assert self.directory is not None, "the IMAP server has no directory yet"
        return self.directory / "mail"

    @property
    def log_path(self) -> Path:
        assert self.directory is not None, "the IMAP server has no directory yet"
        return self.directory / "dovecot.log"

    @property
    def service_ports(self) -> dict[tuple[str, int], int]:
        """(host, well-known port) -> port, for the lab's service map."""
        assert self.port is not None, "not started"
        assert self.starttls_port is not None, "not started"
        return {(self.host, 993): self.port, (self.host, 143): self.starttls_port}

    def url(self, user: str | None = None, *, tls: bool = True) -> str:
        """`imaps://user@host:port` (or `imap://` for STARTTLS) for readback."""
        port = self.port if tls else self.starttls_port
        login = urllib.parse.quote(user or self.users[0], safe="")
        return f"{'imaps' if tls else 'imap'}://{login}@{self.host}:{port}"

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> Self:
        """Write the configuration, start Dovecot and wait until it accepts connections.

        Raises:
            MailscopeError: Dovecot is missing, or did not start (with its last log line).
        """
        if self.running:
            return self
        if reason := self.skip_reason:
            raise MailscopeError("lab IMAP server", reason)
        binary = dovecot_binary()
        assert binary is not None
        if self.directory is None:
            self.directory = Path(tempfile.mkdtemp(prefix="mailscope-imap-"))
        self._prepare()
        failure = "did not start"
        for _attempt in range(3):  # a free port can be taken between the probe and the bind
            self.port = _free_port(self.address)
            self.starttls_port = _free_port(self.address)
            config = self._write_config()
            log = self.log_path.open("ab")
            try:
                self._process = subprocess.Popen(
                    [binary, "-F", "-c", str(config)],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own process group: see _terminate
                )
            finally:
                log.close()
            failure = self._wait_ready()
            if not failure:
                atexit.register(self.stop)
                return self
            self._terminate()
            if "Address already in use" not in failure:
                break
        self._cleanup()
        raise MailscopeError("lab IMAP server", f"Dovecot {failure}")

    async def start_async(self) -> Self:
        """`start()` in a thread: for the lab's event loop."""
        return await asyncio.to_thread(self.start)

    def stop(self) -> None:
        """Stop Dovecot (SIGTERM: it ends its children) and remove the temporary directory."""
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)
        self._terminate()
        self._cleanup()

    async def stop_async(self) -> None:
        await asyncio.to_thread(self.stop)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- internals ---------------------------------------------------------------------

    def _identities(self) -> tuple[str, str, int, int]:
        """(internal user, login user, mail uid, mail gid) for the configuration."""
        if os.geteuid() == 0:
            mail = pwd.getpwnam(_MAIL_USER)
            return "dovecot", "dovenull", mail.pw_uid, mail.pw_gid
        me = pwd.getpwuid(os.geteuid())
        return me.pw_name, me.pw_name, me.pw_uid, me.pw_gid

    def _prepare(self) -> None:
        assert self.directory is not None
        root = os.geteuid() == 0
        internal, _login, uid, gid = self._identities()
        # Dovecot's mail processes (not root) must traverse to the Maildirs.
        self.directory.chmod(0o755)
        for sub in ("run", "state"):
            (self.directory / sub).mkdir(mode=0o755, exist_ok=True)
        mail = self.maildir_root
        mail.mkdir(mode=0o700, exist_ok=True)
        if root:
            os.chown(mail, uid, gid)
        cert = self.ca.issue([self.host, self.address], label=f"imap-{os.getpid()}-{id(self)}")
        self._certfile, self._keyfile = cert.certfile, cert.keyfile
        passwd = self.directory / "passwd"
        passwd.touch(mode=0o600)
        # {PLAIN}: a lab password, known to the tests anyway; the file stays private.
        passwd.write_text("".join(f"{user}:{{PLAIN}}{self.password}\n" for user in self.users))
        if root:
            os.chown(passwd, pwd.getpwnam(internal).pw_uid, grp.getgrnam(internal).gr_gid)
        for user in self.users:  # each seed mailbox exists, empty, before the first delivery
            create_maildir(mail, user)

    def _write_config(self) -> Path:
        assert self.directory is not None
        internal, login, uid, gid = self._identities()
        root = os.geteuid() == 0
        d = self.directory
        # Not root: no chroots (they need root); every service runs as us.
        login_chroot = "" if root else "  chroot =\n"
        anvil = "" if root else "service anvil {\n  chroot =\n}\n"
        text = f"""# mailscope's lab (console/lab/imap.py): self-contained, no system paths.
instance_name = mailscope-lab-{self.port}
base_dir = {d}/run
state_dir = {d}/state
log_path = {self.log_path}
info_log_path = {self.log_path}
protocols = imap
listen = {self.address}
shutdown_clients = yes
# No statistics: nothing reads them, and a login process waiting on the stats socket
# holds up shutdown by seconds.
stats_writer_socket_path =
ssl = required
ssl_cert = <{self._certfile}
ssl_key = <{self._keyfile}
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = yes
auth_mechanisms = plain login
auth_username_format = %Lu
default_internal_user = {internal}
default_internal_group = {grp.getgrgid(pwd.getpwnam(internal).pw_gid).gr_name}
default_login_user = {login}
first_valid_uid = {uid}
last_valid_uid = 0
first_valid_gid = {gid}
mail_location = maildir:~/Maildir
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%Lu {d}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={self.maildir_root}/%Lu
}}
namespace inbox {{
  inbox = yes
  separator = .
  mailbox Spam {{
    special_use = \\Junk
    auto = subscribe
  }}
}}
service imap-login {{
{login_chroot}  inet_listener imap {{
    address = {self.address}
    port = {self.starttls_port}
  }}
  inet_listener imaps {{
    address = {self.address}
    port = {self.port}
    ssl = yes
  }}
}}
{anvil}"""
        path = d / "dovecot.conf"
        path.write_text(text)
        return path

    def _wait_ready(self) -> str | None:
        """None once both ports accept; else why not."""
        assert self._process is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                return f"exited with status {self._process.returncode}: {self._last_log_line()}"
            if all(self._accepts(port) for port in (self.port, self.starttls_port)):
                return None
            time.sleep(0.05)
        return f"did not accept connections within {START_TIMEOUT:g} s: {self._last_log_line()}"

    def _accepts(self, port: int | None) -> bool:
        assert port is not None
        try:
            with socket.create_connection((self.address, port), timeout=0.5):
                return True
        except OSError:
            return False

    def _last_log_line(self) -> str:
        with contextlib.suppress(OSError):
            lines = self.log_path.read_text(errors="replace").strip().splitlines()
            for line in reversed(lines):
                if "Error" in line or "Fatal" in line:
                    return line.strip()[:300]
            if lines:
                return lines[-1].strip()[:300]
        return "no log"

    def _terminate(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()  # the master stops its children, then exits
        try:
            process.wait(timeout=STOP_GRACE)
        except subprocess.TimeoutExpired:
            # A child still busy (a login mid-handshake) can hold the master up for
            # seconds; it has its own process group, so end the whole group.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)

    def _cleanup(self) -> None:
        if self._owns_directory and self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None
