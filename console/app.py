"""The Textual App: the shell that holds the screens, the session, the theme and keys.

Screens and panes live in console/panes/ (one per file); this module only wires them:
which screen opens first, which domain and profile are current, what the header says,
and how `mailscope`, `mailscope DOMAIN` and `mailscope demo` build their session.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual.app import App
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.theme import BUILTIN_THEMES

from console.auth.records import InvalidDomain, normalize_domain
from console.commands import ScreenActionsProvider
from console.config import DEFAULT_PROFILE, DEFAULT_THEME, Config, Profile, load_config
from console.history import History, default_history_path
from console.panes import PANES
from console.panes.base import ConsoleSession, DemoDomain, Pane, notify_text
from console.panes.domain_picker import DomainPickerScreen
from console.panes.export_dialog import ExportScreen
from console.panes.main import MainScreen
from console.panes.welcome import WelcomeScreen

if TYPE_CHECKING:
    from console.auth.resolver import ResolverContext
    from console.lab import Lab

LIGHT_THEME = "textual-light"


class MailscopeApp(App[int]):
    """mailscope's console.

    Args:
        session: resolver, history, clock and config to run with.
        domain: open the main screen on this domain at once (else the welcome screen).
    """

    CSS_PATH = "app.tcss"
    TITLE = "mailscope"
    COMMANDS: ClassVar = App.COMMANDS | {ScreenActionsProvider}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit", id="app.quit", tooltip="Leave mailscope"),
        Binding(
            "ctrl+t",
            "toggle_theme",
            "Light/dark",
            id="app.toggle-theme",
            tooltip="Switch between the light and the dark theme",
            show=False,
        ),
        Binding(
            "question_mark",
            "toggle_keys",
            "Keys",
            id="app.keys",
            tooltip="Show or hide every key and what it does",
            show=False,
        ),
    ]

    def __init__(self, session: ConsoleSession, *, domain: str | None = None) -> None:
        super().__init__()
        self.session = session
        self._initial_domain = domain
        self.domain: str | None = None
        """The domain being looked at (normalised)."""
        self.profile: Profile = session.config.profile_for(domain)
        """The configuration profile in use: the domain's, else the default one."""
        self.resolver_in_use = session.resolver_label or "system resolver"
        """How the header names the DNS servers the current pane asks."""

    # -- start-up ----------------------------------------------------------------------

    def on_mount(self) -> None:
        self._apply_theme()
        self._apply_keymap()
        self._update_header()
        # A domain that is not one was already explained in a toast: offer the welcome.
        if not (self._initial_domain and self.open_domain(self._initial_domain)):
            self.push_screen(WelcomeScreen())

    def _apply_theme(self) -> None:
        wanted = self.session.config.theme or DEFAULT_THEME
        if wanted in self.available_themes:
            self.theme = wanted
            return
        self.theme = DEFAULT_THEME
        close = difflib.get_close_matches(wanted, list(self.available_themes), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        notify_text(
            self,
            f"Unknown theme {wanted!r}{hint} Using {DEFAULT_THEME}.",
            title="Config",
            severity="warning",
        )

    def _apply_keymap(self) -> None:
        keymap = dict(self.session.config.keymap)
        if not keymap:
            return
        known = known_binding_ids()
        for binding_id in list(keymap):
            if binding_id not in known:
                close = difflib.get_close_matches(binding_id, sorted(known), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                notify_text(
                    self,
                    f"keymap: no action has the id {binding_id!r}{hint}",
                    title="Config",
                    severity="warning",
                )
                del keymap[binding_id]
        self.set_keymap(keymap)

    # -- the domain --------------------------------------------------------------------

    def open_domain(self, domain: str) -> bool:
        """Look at `domain` in every pane (leaving the welcome screen if needed).

        Returns False (after saying why) when `domain` is not a domain name.
        """
        try:
            name = normalize_domain(domain)
        except InvalidDomain as exc:
            notify_text(self, str(exc), title="Not a domain", severity="error")
            return False
        self.domain = name
        self.profile = self.session.config.profile_for(name)
        self._update_header()
        main = self._main_screen()
        if main is None:
            main = MainScreen(domain=name, profile=self.profile)
            if isinstance(self.screen, WelcomeScreen):
                self.switch_screen(main)
            else:
                self.push_screen(main)
        else:
            main.open_domain(name, self.profile)
        return True

    def _main_screen(self) -> MainScreen | None:
        return next((s for s in self.screen_stack if isinstance(s, MainScreen)), None)

    def action_pick_domain(self) -> None:
        def chosen(domain: str | None) -> None:
            if domain:
                self.open_domain(domain)

        self.push_screen(DomainPickerScreen(self.domain or ""), chosen)

    def on_pane_resolver_in_use(self, message: Pane.ResolverInUse) -> None:
        self.resolver_in_use = message.label
        self._update_header()

    def _update_header(self) -> None:
        # An 80-column header has about 60 cells between its icon and its clock space:
        # the domain and the resolver must fit, so only what is not the default is said.
        parts = []
        if self.domain:
            parts.append(self.domain)
        if self.profile.name != DEFAULT_PROFILE:
            parts.append(f"profile {self.profile.name}")
        parts.append(f"DNS {short_resolver_label(self.resolver_in_use)}")
        self.sub_title = " · ".join(parts)

    def format_title(self, title: str, sub_title: str) -> Content:
        """`good.test · DNS lab :5353` once a domain is open (the domain in bold): the
        app's own name would push the resolver off an 80-column header."""
        domain = self.domain
        if domain and sub_title.startswith(domain):
            return Content.assemble((domain, "bold"), (sub_title[len(domain) :], "dim"))
        return super().format_title(title, sub_title)

    # -- look and keys -----------------------------------------------------------------

    def action_toggle_theme(self) -> None:
        if self.current_theme.dark:
            self.theme = LIGHT_THEME
        else:
            configured = self.session.config.theme
            theme = BUILTIN_THEMES.get(configured) or self.get_theme(configured)
            self.theme = configured if theme is not None and theme.dark else DEFAULT_THEME

    def action_toggle_keys(self) -> None:
        if self.screen.query("HelpPanel"):
            self.action_hide_help_panel()
        else:
            self.action_show_help_panel()


def short_resolver_label(label: str) -> str:
    """`8.8.8.8 (+1)` for `8.8.8.8, 8.8.4.4`: the first server and how many more."""
    servers = [part.strip() for part in label.split(",") if part.strip()]
    if len(servers) <= 1:
        return label.strip()
    return f"{servers[0]} (+{len(servers) - 1})"


def known_binding_ids() -> set[str]:
    """Every binding id of the console's screens and panes (what `keymap` may name)."""
    from console.panes.bounces import CsvExportScreen, OriginalMessageScreen, PasteScreen
    from console.panes.send import ConfirmSendScreen, SignInScreen

    classes: list[type] = [
        MailscopeApp,
        MainScreen,
        WelcomeScreen,
        DomainPickerScreen,
        ExportScreen,
        ConfirmSendScreen,
        SignInScreen,
        PasteScreen,
        CsvExportScreen,
        OriginalMessageScreen,
        *(spec.load() for spec in PANES),
    ]
    ids: set[str] = set()
    for cls in classes:
        for binding in getattr(cls, "BINDINGS", ()):
            if isinstance(binding, Binding) and binding.id:
                ids.add(binding.id)
    return ids


# -- building the session ------------------------------------------------------------------


def demo_domains() -> tuple[DemoDomain, ...]:
    """The lab's demo domains with the first comment line of each zone as description."""
    from console.lab import DEMO_DOMAINS
    from console.lab.zones import read_zone_texts

    texts = read_zone_texts()
    out = []
    for name in DEMO_DOMAINS:
        first = (texts.get(name) or "").lstrip().splitlines()[:1]
        line = first[0] if first else ""
        description = line.lstrip(";").strip() if line.startswith(";") else ""
        out.append(DemoDomain(name, description))
    return tuple(out)


def lab_resolver_factory(
    lab: Lab, **options: float
) -> Callable[[tuple[str, ...]], ResolverContext]:
    """A factory of resolver contexts on the lab (profile nameservers are ignored)."""

    def factory(_preferred: tuple[str, ...] = ()) -> ResolverContext:
        return lab.resolver(**options)

    return factory


def system_resolver_factory(
    nameservers: Sequence[str], timeout: float
) -> Callable[[tuple[str, ...]], ResolverContext]:
    """Contexts asking `nameservers` (`--nameserver`), else the profile's, else the system's."""
    from console.auth.resolver import ResolverContext

    fixed = tuple(nameservers)

    def factory(preferred: tuple[str, ...] = ()) -> ResolverContext:
        return ResolverContext.from_options(fixed or preferred, timeout=timeout)

    return factory


@contextmanager
def console_session(
    *,
    demo: bool = False,
    config_path: Path | None = None,
    nameservers: Sequence[str] = (),
    timeout: float | None = None,
    history: History | None = None,
    lab: Lab | None = None,
) -> Iterator[ConsoleSession]:
    """The session `run_console` uses; starts (and stops) the lab in demo mode.

    Raises:
        ConfigError: the configuration file is unusable.
        MailscopeError: a `--nameserver` cannot be parsed.
    """
    from console.auth.resolver import DEFAULT_TIMEOUT, ResolverContext
    from console.errors import MailscopeError

    config: Config = load_config(config_path)
    seconds = timeout or config.timeout or DEFAULT_TIMEOUT
    if demo:
        from console.panes.postmaster import lab_access
        from console.panes.send import lab_send_access

        started = None
        if lab is None:
            from console.lab import Lab

            lab = started = Lab().start()
        try:
            yield ConsoleSession(
                config=config,
                resolver_factory=lab_resolver_factory(lab, timeout=min(seconds, 2.0)),
                # The lab is always on loopback: its port is what tells two labs apart.
                resolver_label=f"lab :{lab.nameserver.rpartition(':')[2]}",
                history=history or History(default_history_path("demo-history.sqlite3")),
                demo_domains=demo_domains(),
                postmaster=lab_access(lab, default_history_path("demo-postmaster.sqlite3")),
                sending=lab_send_access(lab),
            )
        finally:
            if started is not None:
                started.stop()
        return
    try:
        label = ResolverContext.from_options(nameservers, timeout=seconds).server_label
    except ValueError as exc:
        raise MailscopeError("bad --nameserver", str(exc)) from None
    yield ConsoleSession(
        config=config,
        resolver_factory=system_resolver_factory(nameservers, seconds),
        resolver_label=label if nameservers else None,
        history=history or History(),
    )


def run_console(
    domain: str | None = None,
    *,
    demo: bool = False,
    config_path: Path | None = None,
    nameservers: Sequence[str] = (),
    timeout: float | None = None,
) -> int:
    """Open the console; returns the process exit status.

    Args:
        domain: open on this domain (else the welcome screen).
        demo: start the embedded lab and offer its demo domains.
        config_path: `--config`; else MAILSCOPE_CONFIG; else the platform default.
        nameservers: `--nameserver` servers to ask instead of the system resolver.
        timeout: `--timeout` seconds per DNS question.
    """
    with console_session(
        demo=demo, config_path=config_path, nameservers=nameservers, timeout=timeout
    ) as session:
        app = MailscopeApp(session, domain=domain)
        app.run()
    return app.return_code or 0
