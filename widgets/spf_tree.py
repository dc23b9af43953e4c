"""The SPF include tree: what each record costs and where the count passes 10.

RFC 7208 section 4.6.4 allows 10 DNS-querying terms (include, a, mx, ptr, exists,
redirect) in one evaluation; the 11th makes SPF a permerror at every receiver. Each
include shows the running count at the moment a receiver reaches it, in evaluation
order (terms left to right, an include's own terms before the next term, redirect
last), so the admin sees exactly which include pushes the domain over.

Fed `spf.data.tree`: nested dicts with `domain`, `via`, `kind`, `record`, `lookups`
(the record's own DNS terms), `total`, `provider`, `children`, `error`; every key is
optional.

An include's "cost" is the one definition `console.auth.spf.include_cost` uses in the
findings: the include (or redirect) term itself plus every look-up below it, i.e. how
far it moves the running count.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from rich.style import Style
from rich.text import Text
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from widgets.literal import literal

LOOKUP_LIMIT = 10
"""DNS-querying terms allowed per SPF evaluation (RFC 7208 section 4.6.4)."""

_DNS_MECHANISMS = frozenset({"include", "a", "mx", "ptr", "exists"})


def _order(record: object, children: int, own: int) -> Iterator[str]:
    """`term` or `child` for each DNS-querying term of `record`, in evaluation order.

    Only the order matters here (the check did the real parsing): includes map to
    children in turn, a redirect is evaluated after every mechanism. Without a usable
    record, the node's own count is used, non-include terms first (`a mx include:...`).
    """
    steps: list[str] = []
    redirects = 0
    if isinstance(record, str):
        for term in record.split()[1:]:
            lowered = term.lower()
            if lowered.startswith("redirect="):
                redirects += 1
                continue
            name = re.split(r"[:/=]", lowered.lstrip("+-~?"), maxsplit=1)[0]
            if name in _DNS_MECHANISMS:
                steps.append("child" if name == "include" else "term")
        steps += ["child"] * redirects
    if not isinstance(record, str) or steps.count("child") != children:
        steps = ["term"] * max(0, own - children) + ["child"] * children
    yield from steps


class SpfTree(Tree[dict[str, Any]]):
    """The include tree as a Tree widget; each node's data is its dict from the report,
    plus `running_total` (the count when a receiver reaches it), `over_limit`, and for
    includes and redirects `cost` (the term plus everything below it)."""

    DEFAULT_CSS = """
    SpfTree {
        height: auto;
        max-height: 20;
        padding: 0;
        overflow-x: hidden;
    }
    SpfTree > .spf-tree--over {
        color: $text-error;
        text-style: bold;
    }
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {"spf-tree--over"}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(Text("SPF"), **kwargs)
        self.show_root = False
        self.guide_depth = 3
        self.over_limit = False
        """Whether the tree as shown goes over the 10-lookup limit."""

    def show_tree(self, tree: Mapping[str, Any] | None) -> None:
        """Replace the tree with `tree` (None or empty shows nothing)."""
        self.clear()
        self.over_limit = False
        if not isinstance(tree, Mapping) or not tree:
            return
        total = self._add(self.root, tree, running=0, is_root=True)
        root = self.root.children[0]
        if root.data is not None:
            root.data["running_total"] = total
            root.data["over_limit"] = total > LOOKUP_LIMIT
            root.set_label(self._root_label(tree, total))
        self.root.expand_all()
        self.move_cursor(root)

    def _add(
        self,
        parent: TreeNode[dict[str, Any]],
        node: Mapping[str, Any],
        running: int,
        *,
        is_root: bool = False,
    ) -> int:
        """Add `node` under `parent`; returns the running count after its subtree."""
        children = [child for child in node.get("children") or () if isinstance(child, Mapping)]
        data = dict(node)
        data["running_total"] = running
        data["over_limit"] = running > LOOKUP_LIMIT
        self.over_limit = self.over_limit or running > LOOKUP_LIMIT
        label = Text() if is_root else self._label(node, running)
        branch = parent.add(label, data=data, expand=True, allow_expand=bool(children))
        # `running` already counts the include/redirect term that led here.
        start = running - (0 if is_root else 1)
        pending = iter(children)
        for step in _order(node.get("record"), len(children), self._own(node)):
            running += 1
            if step == "child":
                child = next(pending, None)
                if child is not None:
                    running = self._add(branch, child, running)
                    continue
            self.over_limit = self.over_limit or running > LOOKUP_LIMIT
        if not is_root:
            # The cost is known only after the subtree: the term plus everything below it.
            data["cost"] = running - start
            branch.set_label(self._label(node, data["running_total"], data["cost"]))
        return running

    @staticmethod
    def _own(node: Mapping[str, Any]) -> int:
        lookups = node.get("lookups")
        return lookups if isinstance(lookups, int) and not isinstance(lookups, bool) else 0

    def _root_label(self, node: Mapping[str, Any], total: int) -> Text:
        label = literal(node.get("domain") or "?", style="bold", no_wrap=True)
        label.append(f"  {total}/{LOOKUP_LIMIT} look-ups in all", style="" if total > 10 else "dim")
        self._tail(label, node)
        return label

    def _label(self, node: Mapping[str, Any], running: int, cost: int | None = None) -> Text:
        name = node.get("via") or node.get("domain") or "?"
        label = literal(name, style="bold", no_wrap=True)
        label.append(f"  at {running}/{LOOKUP_LIMIT}", style="" if running > 10 else "dim")
        if cost:
            label.append(f", costs {cost}", style="dim")
        self._tail(label, node)
        return label

    @staticmethod
    def _tail(label: Text, node: Mapping[str, Any]) -> None:
        provider = node.get("provider")
        if provider:
            label.append("  ")
            label.append_text(literal(provider, style="italic dim", no_wrap=True))
        error = node.get("error")
        if error:
            label.append("  ")
            label.append_text(literal(error, no_wrap=True))

    def render_label(self, node: TreeNode[dict[str, Any]], base_style: Style, style: Style) -> Text:
        text = super().render_label(node, base_style, style)
        data = node.data or {}
        if data.get("over_limit") or data.get("error"):
            # Coloured here, at draw time, so the colour follows the current theme.
            text.stylize(self.get_component_rich_style("spf-tree--over"))
        return text
