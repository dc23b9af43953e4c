"""The TOML configuration: where it is found, what it may hold, and how mistakes are named."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from console.config import (
    CONFIG_ENV,
    DEFAULT_SMTP_PASSWORD_ENV,
    Config,
    ConfigError,
    default_config_path,
    load_config,
)

FULL = """
theme = "textual-light"
default_profile = "work"
timeout = 3

[keymap]
"auth.rerun" = "f5,r"

[profiles.work]
domain = "Example.com"
dkim_selectors = ["s1", "google"]
sending_ips = ["192.0.2.10"]
nameservers = ["192.0.2.53", "192.0.2.54:5353"]
postmaster_credentials = "~/pm.json"

[profiles.work.submission]
host = "smtp.example.com"
port = 465
username = "alerts@example.com"

[profiles.lab]
domain = "good.test"
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_full_config_is_read(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, FULL))
    assert config.theme == "textual-light"
    assert config.timeout == 3.0
    assert config.keymap == {"auth.rerun": "f5,r"}
    assert config.source == "--config"
    work = config.profiles["work"]
    assert work.dkim_selectors == ("s1", "google")
    assert work.sending_ips == ("192.0.2.10",)
    assert work.nameservers == ("192.0.2.53", "192.0.2.54:5353")
    assert work.postmaster_credentials == Path("~/pm.json").expanduser()
    assert work.submission is not None
    assert work.submission.port == 465
    assert work.submission.password_env == DEFAULT_SMTP_PASSWORD_ENV
    # Opening a domain picks its profile; any other domain gets the default profile.
    assert config.profile_for("good.test").name == "lab"
    assert config.profile_for("EXAMPLE.com.").name == "work"
    assert config.profile_for("other.test").name == "work"
    assert config.profile_for(None).name == "work"


def test_missing_default_file_gives_defaults_but_a_named_file_must_exist(tmp_path: Path) -> None:
    config = load_config(env={})
    assert config == Config()
    assert config.profile_for("x.test").name == "default"
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match=CONFIG_ENV):
        load_config(env={CONFIG_ENV: str(tmp_path / "nope.toml")})


def test_environment_variable_names_the_file_and_the_flag_wins(tmp_path: Path) -> None:
    by_env = tmp_path / "env.toml"
    by_env.write_text('theme = "nord"\n', encoding="utf-8")
    by_flag = _write(tmp_path, 'theme = "gruvbox"\n')
    assert load_config(env={CONFIG_ENV: str(by_env)}).theme == "nord"
    assert load_config(env={CONFIG_ENV: str(by_env)}).source == CONFIG_ENV
    assert load_config(by_flag, env={CONFIG_ENV: str(by_env)}).theme == "gruvbox"


def test_default_location_is_in_the_platform_config_dir(tmp_path: Path) -> None:
    # The autouse fixture points XDG_CONFIG_HOME at a temporary home.
    path = default_config_path()
    assert path.name == "config.toml"
    assert path.parent.name == "mailscope"
    path.parent.mkdir(parents=True)
    path.write_text('theme = "dracula"\n', encoding="utf-8")
    config = load_config()
    assert config.theme == "dracula"
    assert config.source == "default location"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('thme = "x"\n', "unknown key in the top level; did you mean 'theme'?"),
        ('[profiles.a]\ndkim_selector = ["s1"]\n', "did you mean 'dkim_selectors'?"),
        ('[profiles.a.submission]\nhost = "h"\nusername = "u"\nprot = 1\n', "'port'"),
        ("[profiles.a]\nwibble = 1\n", "known: domain, dkim_selectors"),
        ('default_profile = "wrk"\n[profiles.work]\n', "did you mean 'work'?"),
        ("timeout = -1\n", "positive number"),
        ("[profiles.a]\nsending_ips = [1, 2]\n", "list of strings"),
        ('[keymap]\n"auth.rerun" = 5\n', "string of keys"),
        ("[profiles.a.submission]\nport = 587\n", "host: is required"),
        ('[profiles.a.submission]\nhost = "h"\nport = 70000\n', "port number"),
        ("theme = \n", "not valid TOML"),
    ],
)
def test_mistakes_are_named_with_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert message in str(caught.value)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize(
    "text",
    [
        '[profiles.a.submission]\nhost = "h"\npassword = "hunter2"\n',
        '[profiles.a]\napi_token = "abc"\n',
        'smtp_password = "x"\n',
        '[profiles.a.submission]\nhost = "h"\npassword_env = "hunter2 is my password"\n',
    ],
)
def test_secrets_are_refused(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(_write(tmp_path, text))
    message = str(caught.value)
    assert "environment variable" in message
    assert "hunter2" not in message or "password_env" in message


def test_a_lone_string_counts_as_a_one_item_list(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, '[profiles.a]\ndkim_selectors = "s1"\n'))
    assert config.profiles["a"].dkim_selectors == ("s1",)


def test_importing_config_stays_light() -> None:
    # Headless commands import it: no Textual, no pydantic, no DNS library.
    code = (
        "import sys, console.config\n"
        "bad = [m for m in ('textual', 'pydantic', 'dns', 'rich', 'difflib') if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == ""


def test_a_submission_may_log_in_with_an_oauth_credentials_file(tmp_path: Path) -> None:
    text = (
        '[profiles.m365.submission]\nhost = "smtp.office365.com"\n'
        'username = "alerts@example.com"\noauth_credentials = "~/m365-app.json"\n'
    )
    submission = load_config(_write(tmp_path, text)).profiles["m365"].submission
    assert submission is not None
    assert submission.oauth_credentials == Path("~/m365-app.json").expanduser()


def test_helo_must_be_a_host_name(tmp_path: Path) -> None:
    good = load_config(_write(tmp_path, '[profiles.a]\nhelo = "Mail.Example.com."\n'))
    assert good.profiles["a"].helo == "mail.example.com"
    for bad in ("localhost", "bad name.example.com", "-x.example.com", "é.example.com"):
        with pytest.raises(ConfigError, match="helo"):
            load_config(_write(tmp_path, f'[profiles.a]\nhelo = "{bad}"\n'))
