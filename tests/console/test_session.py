"""How `run_console` builds its session: config, resolver, history, demo lab."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.binding import Binding

from console.app import console_session, demo_domains, known_binding_ids
from console.commands import binding_namespaces
from console.config import ConfigError
from console.errors import MailscopeError
from console.history import History
from console.lab import DEMO_DOMAINS, Lab
from console.panes import PANES


def test_demo_session_runs_on_the_lab_with_its_own_history(lab: Lab) -> None:
    with console_session(demo=True, lab=lab) as session:
        assert [d.name for d in session.demo_domains] == list(DEMO_DOMAINS)
        port = lab.nameserver.rpartition(":")[2]
        assert session.resolver_label == f"lab :{port}"  # short: the header is narrow
        assert session.history is not None
        assert session.history.path.name == "demo-history.sqlite3"
        ctx = session.resolver_factory(("192.0.2.53",))  # profile servers do not apply
        assert [str(ns) for ns in ctx.nameservers] == [lab.nameserver]
        assert ctx.services.port_for("ns1.lab.test", 53) == ctx.nameservers[0].port


def test_demo_domains_are_described_from_their_zone_files() -> None:
    described = {d.name: d.description for d in demo_domains()}
    assert described["good.test"].startswith("Does everything right")
    assert all(described.values())


def test_nameservers_from_the_command_line_win_over_the_profile(tmp_path: Path) -> None:
    history = History(tmp_path / "h.sqlite3")
    with console_session(nameservers=["127.0.0.1:5300"], timeout=1.5, history=history) as s:
        assert s.resolver_label == "127.0.0.1:5300"
        ctx = s.resolver_factory(("192.0.2.53",))
        assert [str(ns) for ns in ctx.nameservers] == ["127.0.0.1:5300"]
        assert ctx.timeout == 1.5
    with console_session(history=history) as s:
        assert s.resolver_label is None  # the header shows the servers each audit asks
        ctx = s.resolver_factory(("192.0.2.53",))
        assert [str(ns) for ns in ctx.nameservers] == ["192.0.2.53"]


def test_bad_nameserver_and_bad_config_are_user_errors(tmp_path: Path) -> None:
    with (
        pytest.raises(MailscopeError, match="bad --nameserver"),
        console_session(nameservers=["127.0.0.1:99999"]),
    ):
        pass
    bad = tmp_path / "c.toml"
    bad.write_text("thme = 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="did you mean 'theme'"), console_session(config_path=bad):
        pass


def test_every_binding_id_is_namespaced_and_unique_per_screen() -> None:
    ids = known_binding_ids()
    assert {"auth.rerun", "auth.cancel", "auth.copy-fix", "auth.export"} <= ids
    assert {"auth.authoritative", "app.pick-domain", "pane.auth", "app.quit"} <= ids
    namespaces = binding_namespaces()
    # Every pane's id is a namespace of its own, with no list to keep up to date.
    assert {f"{spec.id}." for spec in PANES} <= set(namespaces)
    assert {"app.", "pane.", "welcome.", "picker.", "export."} <= set(namespaces)
    assert all(binding_id.startswith(namespaces) for binding_id in ids), sorted(
        binding_id for binding_id in ids if not binding_id.startswith(namespaces)
    )
    # A pane's bindings use its own namespace, so a keymap names them unambiguously.
    for spec in PANES:
        for binding in spec.load().BINDINGS:
            assert isinstance(binding, Binding)
            assert binding.id
            assert binding.id.startswith(f"{spec.id}."), binding.id


def test_every_binding_has_an_id_and_a_tooltip() -> None:
    from console.app import MailscopeApp
    from console.panes.domain_picker import DomainPickerScreen
    from console.panes.export_dialog import ExportScreen
    from console.panes.main import MainScreen
    from console.panes.welcome import WelcomeScreen

    classes = [MailscopeApp, MainScreen, WelcomeScreen, DomainPickerScreen, ExportScreen]
    classes += [spec.load() for spec in PANES]
    for cls in classes:
        for binding in cls.BINDINGS:
            assert isinstance(binding, Binding), cls
            assert binding.id, f"{cls.__name__}: {binding.key} has no id"
            assert binding.tooltip, f"{cls.__name__}: {binding.id} has no tooltip"


def test_styles_use_theme_variables_never_hex_colours() -> None:
    import re

    import console.app

    root = Path(console.app.__file__).parent.parent
    sources = [root / "console" / "app.tcss", *sorted((root / "widgets").glob("*.py"))]
    sources += sorted((root / "console" / "panes").glob("*.py"))
    colour = re.compile(r":[^;{}\n]*#[0-9a-fA-F]{3,8}\b")
    for source in sources:
        assert not colour.search(source.read_text(encoding="utf-8")), source
