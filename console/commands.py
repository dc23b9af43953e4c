"""The command palette's list of actions: exactly the key bindings valid on this screen.

Built from the screen's active bindings (the focused widget's, its panes', the
screen's and the app's, after `check_action`), so the palette never offers what the
screen cannot do, and a key remapped in the config shows its new key here too.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

from textual.binding import ActiveBinding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content

from console.panes import PANES

SHELL_NAMESPACES = ("app", "pane", "welcome", "picker", "export")
"""Binding id prefixes of the shell's own screens; each pane adds its `PaneSpec.id`."""


def binding_namespaces() -> tuple[str, ...]:
    """The prefixes (`auth.`, `ports.`...) of the binding ids of mailscope's own actions.

    Derived from `PANES`, so a new pane's bindings reach the palette with no edit here.
    Textual's built-in actions (palette, screenshot...) are listed by its own providers.
    """
    names = dict.fromkeys([*SHELL_NAMESPACES, *(spec.id for spec in PANES)])
    return tuple(f"{name}." for name in names)


class ScreenActionsProvider(Provider):
    """Every mailscope action bound on the current screen, with its key and tooltip."""

    def _actions(self) -> Iterator[tuple[str, str, ActiveBinding]]:
        seen: set[tuple[int, str]] = set()
        keys: dict[tuple[int, str], list[str]] = {}
        entries: list[tuple[tuple[int, str], ActiveBinding]] = []
        namespaces = binding_namespaces()
        for active in self.screen.active_bindings.values():
            binding = active.binding
            if not binding.id or not binding.id.startswith(namespaces):
                continue
            if not active.enabled:
                continue
            ident = (id(active.node), binding.action)
            keys.setdefault(ident, []).append(self.app.get_key_display(binding))
            if ident not in seen:
                seen.add(ident)
                entries.append((ident, active))
        for ident, active in entries:
            binding = active.binding
            name = binding.description or binding.action
            yield name, " / ".join(dict.fromkeys(keys[ident])), active

    def _run(self, active: ActiveBinding) -> None:
        self.app.call_later(active.node.run_action, active.binding.action)

    async def discover(self) -> Hits:
        for name, key, active in self._actions():
            yield DiscoveryHit(
                Content.assemble(name, (f"  {key}", "$text-muted")),
                partial(self._run, active),
                text=name,
                help=active.binding.tooltip or None,
            )

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, key, active in self._actions():
            haystack = f"{name} {active.binding.tooltip}"
            score = max(matcher.match(name), matcher.match(haystack) * 0.5)
            if score > 0:
                yield Hit(
                    score,
                    Content.assemble(matcher.highlight(name), (f"  {key}", "$text-muted")),
                    partial(self._run, active),
                    text=name,
                    help=active.binding.tooltip or None,
                )
