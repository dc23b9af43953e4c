"""The configuration file: profiles, theme and key map, read from TOML.

Where it lives, first match wins: `--config FILE`, the `MAILSCOPE_CONFIG` environment
variable, then `config.toml` in the platform's config directory (platformdirs). A
missing default file is not an error; a missing file that was asked for is.

```toml
theme = "textual-dark"          # any Textual theme; "textual-light" for light terminals
default_profile = "work"
timeout = 5.0                   # seconds per DNS question

[keymap]                        # binding id = keys (see the command palette for ids)
"auth.rerun" = "f5,r"

[profiles.work]
domain = "example.com"
dkim_selectors = ["s1", "google"]
sending_ips = ["192.0.2.10"]
nameservers = ["192.0.2.53"]
postmaster_credentials = "~/.config/mailscope/postmaster.json"
gmail_credentials = "~/.config/mailscope/gmail.json"
readback = "imaps://seed@imap.example.com"   # or "gmail"; IMAP password: $MAILSCOPE_IMAP_PASSWORD
helo = "mail.example.com"       # the EHLO name of probes and test sends (strict servers)

[profiles.work.submission]
host = "smtp.example.com"
port = 587
username = "alerts@example.com"
password_env = "MAILSCOPE_SMTP_PASSWORD"
# or, for XOAUTH2 (Gmail, Microsoft 365), a credentials file instead of a password:
# oauth_credentials = "~/.config/mailscope/m365-app.json"
```

Secrets never live here: a password or token is named by the environment variable
that holds it (`password_env`) or by the path of a credentials file, and a key that
looks like a secret (`password`, `token`, ...) is rejected with the way to do it.

This module deliberately uses stdlib `tomllib` and dataclasses rather than the
pydantic-settings models style.md suggests: headless commands import it, and
`mailscope check --help` must answer in under 0.3 s, which pydantic's import alone
would eat. Validation (types, unknown keys with "did you mean") is done by hand below.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console.errors import MailscopeError

APP_NAME = "mailscope"
CONFIG_ENV = "MAILSCOPE_CONFIG"
"""Environment variable naming the configuration file (after `--config`)."""
DEFAULT_PROFILE = "default"
DEFAULT_THEME = "textual-dark"
DEFAULT_SMTP_PASSWORD_ENV = "MAILSCOPE_SMTP_PASSWORD"

_SECRET_WORDS = ("password", "passwd", "secret", "token", "api_key", "apikey", "private_key")


class ConfigError(MailscopeError):
    """The configuration file cannot be used; the message names the file and the key."""


@dataclass(frozen=True, slots=True)
class SubmissionServer:
    """The SMTP submission server the Send pane uses (port 587 or 465)."""

    host: str
    """Host name of the submission server."""
    port: int = 587
    """587 for STARTTLS submission, 465 for implicit TLS."""
    username: str = ""
    """Login name for SMTP AUTH; empty for none."""
    password_env: str = DEFAULT_SMTP_PASSWORD_ENV
    """Name of the environment variable holding the password (never the password)."""
    oauth_credentials: Path | None = None
    """A credentials file to log in with XOAUTH2 instead of a password: Google's, or a
    `"type": "microsoft"` file for Microsoft 365 (console.send.oauth)."""


@dataclass(frozen=True, slots=True)
class Profile:
    """A domain an admin looks after, and what the console needs to know about it."""

    name: str
    """The profile's name, shown in the header."""
    domain: str = ""
    """The mail (From:) domain; opening this domain selects this profile."""
    dkim_selectors: tuple[str, ...] = ()
    """DKIM selectors to check besides the well-known ones."""
    sending_ips: tuple[str, ...] = ()
    """Addresses mail leaves from: checked for reverse DNS and blocklistings."""
    nameservers: tuple[str, ...] = ()
    """`HOST[:PORT]` servers to ask instead of the system resolver."""
    submission: SubmissionServer | None = None
    """Where test messages are submitted (later panes)."""
    postmaster_credentials: Path | None = None
    """google-auth JSON (service account or authorized user) for Postmaster Tools."""
    gmail_credentials: Path | None = None
    """google-auth JSON for sending through the Gmail API."""
    readback: str | None = None
    """Where test sends are read back: `imaps://USER@HOST[:PORT]`, `imap://...` or `gmail`."""
    helo: str = ""
    """The name probes and test sends greet with (EHLO); empty: mailscope.invalid."""


@dataclass(frozen=True, slots=True)
class Config:
    """Everything read from the configuration file, with where it came from."""

    profiles: Mapping[str, Profile] = field(default_factory=dict)
    """Profiles by name."""
    default_profile: str | None = None
    """Profile used when the domain opened matches none."""
    theme: str = DEFAULT_THEME
    """Textual theme name."""
    timeout: float | None = None
    """Seconds per DNS question; None keeps the resolver's default."""
    keymap: Mapping[str, str] = field(default_factory=dict)
    """Binding id -> keys (comma-separated), handed to `App.set_keymap`."""
    path: Path | None = None
    """The file read, or None when none exists."""
    source: str = "built-in defaults"
    """How the file was chosen: `--config`, `MAILSCOPE_CONFIG`, `default location`."""

    def profile_for(self, domain: str | None = None) -> Profile:
        """The profile whose domain is `domain`, else the default one, else an empty one."""
        if domain:
            wanted = domain.strip().rstrip(".").lower()
            for profile in self.profiles.values():
                if profile.domain and profile.domain.lower().rstrip(".") == wanted:
                    return profile
        if self.default_profile and self.default_profile in self.profiles:
            return self.profiles[self.default_profile]
        return Profile(DEFAULT_PROFILE)


def default_config_path() -> Path:
    """`config.toml` in the platform's configuration directory for mailscope."""
    import platformdirs

    return platformdirs.user_config_path(APP_NAME, appauthor=False) / "config.toml"


def locate_config(
    explicit: Path | None = None, env: Mapping[str, str] | None = None
) -> tuple[Path, str, bool]:
    """Which file to read: (path, how it was chosen, whether it must exist)."""
    environ = os.environ if env is None else env
    if explicit is not None:
        return Path(explicit).expanduser(), "--config", True
    if environ.get(CONFIG_ENV):
        return Path(environ[CONFIG_ENV]).expanduser(), CONFIG_ENV, True
    return default_config_path(), "default location", False


def load_config(explicit: Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Read and validate the configuration file.

    Args:
        explicit: the `--config` argument, if given.
        env: the environment (defaults to os.environ), for `MAILSCOPE_CONFIG`.

    Returns:
        The configuration; built-in defaults when the default file does not exist.

    Raises:
        ConfigError: the file asked for is missing or unreadable, is not TOML, or holds
            an unknown key, a value of the wrong type, or a secret.
    """
    path, source, required = locate_config(explicit, env)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if required:
            raise ConfigError(f"config file {path} not found", f"named by {source}") from None
        return Config()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}", exc.strerror or str(exc)) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML", str(exc)) from None
    return parse_config(data, path=path, source=source)


def parse_config(
    data: Mapping[str, Any], *, path: Path | None = None, source: str = "built-in defaults"
) -> Config:
    """Validate a parsed TOML document into a Config (see `load_config` for errors)."""
    where = _Where(str(path) if path else "config")
    _reject_unknown(data, _TOP_KEYS, where, "")
    profiles: dict[str, Profile] = {}
    raw_profiles = _table(data, "profiles", where, "")
    for name, body in raw_profiles.items():
        section = f"profiles.{name}"
        if not isinstance(body, Mapping):
            raise where.error(section, "must be a table ([profiles.NAME])")
        profiles[name] = _profile(name, body, where, section)
    default = _optional_str(data, "default_profile", where, "")
    if default is not None and default not in profiles:
        raise where.error(
            "default_profile",
            f"names no profile {default!r}{_suggest(default, profiles)}",
        )
    timeout = data.get("timeout")
    if timeout is not None:
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            raise where.error("timeout", "must be a positive number of seconds")
        timeout = float(timeout)
    keymap_raw = _table(data, "keymap", where, "")
    keymap: dict[str, str] = {}
    for binding_id, keys in keymap_raw.items():
        if not isinstance(keys, str) or not keys.strip():
            raise where.error(f"keymap.{binding_id}", 'must be a string of keys, e.g. "f5,r"')
        keymap[binding_id] = keys.strip()
    theme = _optional_str(data, "theme", where, "") or DEFAULT_THEME
    return Config(
        profiles=profiles,
        default_profile=default,
        theme=theme,
        timeout=timeout,
        keymap=keymap,
        path=path,
        source=source,
    )


# -- validation ------------------------------------------------------------------------

_TOP_KEYS = ("theme", "default_profile", "timeout", "keymap", "profiles")
_PROFILE_KEYS = (
    "domain",
    "dkim_selectors",
    "sending_ips",
    "nameservers",
    "submission",
    "postmaster_credentials",
    "gmail_credentials",
    "readback",
    "helo",
)
_SUBMISSION_KEYS = ("host", "port", "username", "password_env", "oauth_credentials")


@dataclass(frozen=True, slots=True)
class _Where:
    file: str

    def error(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.file}: {key}", problem)


def _suggest(key: str, known: Any) -> str:
    import difflib  # only on the error path: keeps the import off `check --help`

    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _reject_unknown(
    table: Mapping[str, Any], known: tuple[str, ...], where: _Where, section: str
) -> None:
    for key in table:
        dotted = f"{section}.{key}" if section else key
        lowered = key.lower()
        if key not in known and any(word in lowered for word in _SECRET_WORDS):
            raise where.error(
                dotted,
                "secrets are never stored in the config file; put the secret in an "
                "environment variable and name it with `password_env`, or give the path "
                "of a credentials file",
            )
        if key not in known:
            where_text = f"[{section}]" if section else "the top level"
            raise where.error(
                dotted,
                f"unknown key in {where_text}{_suggest(key, known)} (known: {', '.join(known)})",
            )


def _table(data: Mapping[str, Any], key: str, where: _Where, section: str) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        raise where.error(f"{section}.{key}" if section else key, "must be a table")
    return value


def _optional_str(data: Mapping[str, Any], key: str, where: _Where, section: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise where.error(f"{section}.{key}" if section else key, "must be a string")
    return value


def _str_list(data: Mapping[str, Any], key: str, where: _Where, section: str) -> tuple[str, ...]:
    value = data.get(key, [])
    if isinstance(value, str):
        value = [value]  # a lone string is what people type for a one-item list
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise where.error(f"{section}.{key}", "must be a list of strings")
    return tuple(item.strip() for item in value if item.strip())


def _path(data: Mapping[str, Any], key: str, where: _Where, section: str) -> Path | None:
    value = _optional_str(data, key, where, section)
    return Path(value).expanduser() if value else None


def _profile(name: str, body: Mapping[str, Any], where: _Where, section: str) -> Profile:
    _reject_unknown(body, _PROFILE_KEYS, where, section)
    submission = None
    if "submission" in body:
        submission = _submission(body["submission"], where, f"{section}.submission")
    # Nameservers are parsed when the console builds its resolver: parsing resolves
    # host names, which a config load must not do.
    nameservers = _str_list(body, "nameservers", where, section)
    return Profile(
        name=name,
        domain=(_optional_str(body, "domain", where, section) or "").strip(),
        dkim_selectors=_str_list(body, "dkim_selectors", where, section),
        sending_ips=_str_list(body, "sending_ips", where, section),
        nameservers=nameservers,
        submission=submission,
        postmaster_credentials=_path(body, "postmaster_credentials", where, section),
        gmail_credentials=_path(body, "gmail_credentials", where, section),
        readback=_optional_str(body, "readback", where, section),
        helo=_helo(body, where, section),
    )


def _helo(body: Mapping[str, Any], where: _Where, section: str) -> str:
    value = (_optional_str(body, "helo", where, section) or "").strip().rstrip(".").lower()
    labels = value.split(".")
    if value and (
        len(labels) < 2
        or len(value) > 253
        or not all(
            0 < len(label) < 64
            and label.replace("-", "").isalnum()
            and label.isascii()
            and not label.startswith("-")
            and not label.endswith("-")
            for label in labels
        )
    ):
        raise where.error(f"{section}.helo", "must be this host's name, e.g. mail.example.com")
    return value


def _submission(body: Any, where: _Where, section: str) -> SubmissionServer:
    if not isinstance(body, Mapping):
        raise where.error(section, "must be a table")
    _reject_unknown(body, _SUBMISSION_KEYS, where, section)
    host = _optional_str(body, "host", where, section)
    if not host:
        raise where.error(f"{section}.host", "is required")
    port = body.get("port", 587)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise where.error(f"{section}.port", "must be a port number (587 or 465)")
    password_env = _optional_str(body, "password_env", where, section)
    if password_env is not None and not password_env.replace("_", "").isalnum():
        raise where.error(
            f"{section}.password_env",
            "must name an environment variable (letters, digits, _), not hold the password",
        )
    return SubmissionServer(
        host=host.strip(),
        port=port,
        username=_optional_str(body, "username", where, section) or "",
        password_env=password_env or DEFAULT_SMTP_PASSWORD_ENV,
        oauth_credentials=_path(body, "oauth_credentials", where, section),
    )
