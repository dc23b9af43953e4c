"""One group of a campaign explained: the reason in words, the provider's documented
meaning, the fix, the console check that confirms it and the frequent diagnostics.

Presentational: fed a `console.bounce.campaign.Group` (and what was not counted), it
renders; the pane decides what the check key does. Diagnostics, meanings and fixes
may quote remote text and are rendered through `widgets.literal`, never as markup.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from textual.content import Content
from textual.widgets import Static

from console.bounce.campaign import Group
from widgets.bounce_groups import provider_name
from widgets.literal import literal

REASON_WORDS: dict[str, str] = {
    "auth-failure": "The receiver could not authenticate the sender (SPF, DKIM or DMARC).",
    "blocked": "The sending IP or domain is refused, usually because it is on a blocklist.",
    "bad-reputation": "The receiver distrusts the sender's IP or domain (volume, complaints).",
    "require-ptr": "The sending IP has no reverse DNS, or it does not match forward DNS.",
    "policy-violation": "The message breaks the provider's sender or bulk-mail policy.",
    "security-error": "TLS or authentication was required and not used.",
    "rejected": "The envelope sender (MAIL FROM) was refused.",
    "spam-detected": "The content was judged to be spam.",
    "not-compliant-rfc": "The message is not well-formed (headers, From:, encoding).",
    "virus-detected": "The receiver found malware in the message.",
    "content-error": "The receiver refused something in the content.",
    "rate-limited": "Too much mail too fast: the receiver slowed the sender down.",
    "too-many-connections": "Too many connections at once from the sending IP.",
    "relay-denied": "The server is not a relay for this recipient.",
    "message-too-big": "The message is larger than the receiver accepts.",
    "exceed-limit": "A recipient or message limit was exceeded.",
    "user-unknown": "The address does not exist.",
    "host-unknown": "The recipient's domain does not exist or has no mail server.",
    "not-accept": "The recipient's domain accepts no mail at all (null MX).",
    "mailbox-disabled": "The mailbox exists but is disabled or suspended.",
    "has-moved": "The recipient has moved to another address.",
    "filtered": "A rule on the recipient's side refused the message.",
    "mailbox-full": "The mailbox is full (temporary: it may empty again).",
    "system-full": "The receiving server is out of space.",
    "expired": "The sending server gave up after retrying for days.",
    "network-error": "The receiving server could not be reached, or dropped the connection.",
    "system-error": "The receiving server failed.",
    "mailer-error": "The receiving mailer program failed.",
    "syntax-error": "The server did not understand a command or an address.",
    "other": "The answer matched no known reason.",
}
"""design.md's reasons in one sentence each (what an admin reads first)."""


@dataclass(slots=True)
class NotCounted:
    """What a campaign read but did not count as failures, and the files it skipped."""

    auto_replies: int = 0
    delays: int = 0
    delivered: int = 0
    unknown: int = 0
    problems: list[str] = field(default_factory=list)


def _section(title: str) -> Content:
    return Content.styled(title, "bold $text-accent")


def _text(value: str, style: str = "") -> Content:
    return Content.from_rich_text(literal(value, style))


def check_words(check: str | None) -> str:
    """`spf, dkim` for the engine's `spf,dkim` (its checks are comma-separated)."""
    if not check:
        return ""
    return ", ".join(part.strip() for part in check.replace("+", ",").split(",") if part.strip())


def render_group(group: Group, *, check_hint: str = "", fix_hint: str = "") -> Content:
    """The detail of `group` as one Content (remote text literal); the hints (the pane's
    keys) follow the Check line and the Fix title."""
    lines: list[Content] = []
    hard = f"{group.hard} hard" if group.hard else ""
    soft = f"{group.soft} soft" if group.soft else ""
    split = ", ".join(part for part in (hard, soft) if part)
    who = f"{group.recipients} recipient{'' if group.recipients == 1 else 's'}"
    if split:
        who += f" ({split})"
    domains = len(group.domains)
    who += f" at {domains} domain{'' if domains == 1 else 's'}"
    if group.delayed:
        who += f"; {group.delayed} delayed"
    lines.append(
        Content.assemble(
            _text(group.reason, "bold"),
            (" · ", "$text-muted"),
            _text(provider_name(group.provider), "bold"),
            (" · ", "$text-muted"),
            who,
        )
    )
    lines.append(Content(REASON_WORDS.get(group.reason, REASON_WORDS["other"])))
    meanings = Counter(r.meaning for _, r in group.members if r.meaning)
    sources = Counter(r.source for _, r in group.members if r.source)
    if meanings:
        # "other" is no one's name: the receiver (or a blocklist it quotes) said it.
        who = "the receiver" if group.provider == "other" else provider_name(group.provider)
        lines += [Content(""), _section(f"What {who} says it means")]
        lines.append(_text(meanings.most_common(1)[0][0]))
        if sources:
            lines.append(
                Content.assemble(
                    ("Documented at ", "$text-muted"), _text(sources.most_common(1)[0][0])
                )
            )
    if group.next_step:
        lines += [
            Content(""),
            Content.assemble(_section("Fix"), (fix_hint, "$text-muted")),
        ]
        lines.append(_text(group.next_step))
    if group.check:
        lines += [Content(""), _section("Check")]
        lines.append(
            Content.assemble(_text(check_words(group.check), "bold"), (check_hint, "$text-muted"))
        )
    diagnostics = group.top_diagnostics()
    if diagnostics:
        lines += [Content(""), _section("Most frequent diagnostics")]
        for text, count in diagnostics:
            lines.append(Content.assemble((f"{count:>4}× ", "$text-muted"), _text(text)))
    if group.statuses:
        codes = "  ".join(f"{code} ×{n}" for code, n in group.statuses.most_common(6))
        lines.append(Content.assemble(("Status codes  ", "$text-muted"), _text(codes)))
    return Content("\n").join(lines)


def render_not_counted(seen: NotCounted, limit: int = 20) -> Content:
    """Auto-replies and delays ignored, files skipped, each problem on one line."""
    parts = []
    for count, what in (
        (seen.auto_replies, "auto-repl{}"),
        (seen.delays, "delay notice{}"),
        (seen.delivered, "success notice{}"),
        (seen.unknown, "other message{}"),
    ):
        if count:
            plural = (
                ("ies" if count != 1 else "y")
                if what.startswith("auto")
                else ("s" if count != 1 else "")
            )
            parts.append(f"{count} {what.format(plural)}")
    lines: list[Content] = [_section("Not counted as failures")]
    lines.append(
        Content(
            ", ".join(parts) + " (never failures)."
            if parts
            else "Nothing: every message read was a bounce."
        )
    )
    if seen.problems:
        lines.append(_section(f"Skipped or partly read ({len(seen.problems)})"))
        for problem in seen.problems[:limit]:
            lines.append(Content.assemble(("• ", "$text-warning"), _text(problem)))
        if len(seen.problems) > limit:
            lines.append(Content.styled(f"… and {len(seen.problems) - limit} more", "$text-muted"))
    return Content("\n").join(lines)


class BounceDetail(Static):
    """The selected group's explanation, then what was not counted."""

    DEFAULT_CSS = """
    BounceDetail {
        height: auto;
    }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.group: Group | None = None

    def show(
        self,
        group: Group | None,
        seen: NotCounted | None = None,
        *,
        empty_text: str = "",
        check_hint: str = "",
        fix_hint: str = "",
    ) -> None:
        """Explain `group` (or say `empty_text`), with `seen` below it."""
        self.group = group
        parts: list[Content] = []
        if group is not None:
            parts.append(render_group(group, check_hint=check_hint, fix_hint=fix_hint))
        elif empty_text:
            parts.append(Content.styled(empty_text, "$text-muted"))
        if seen is not None:
            parts.append(render_not_counted(seen))
        self.update(Content("\n\n").join(parts))


__all__ = ["REASON_WORDS", "BounceDetail", "NotCounted", "check_words"]
