"""Where the domain lists of the welcome screen and the domain picker come from.

Demo domains are known at once; recent domains come from the history's SQLite file,
so they are read by a function the chooser runs in a thread (`recent_suggestions`),
never while a screen is being composed.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from console.auth.records import normalize_domain
from console.panes.base import ConsoleSession

if TYPE_CHECKING:
    from console.history import History

DEMO_HEADING = "Lab domains (good.test is right; each other shows one mistake)"
RECENT_HEADING = "Recent domains (last result)"

Pairs = list[tuple[str, str]]


def validate_domain(text: str) -> str:
    """The normalised domain, or ValueError (InvalidDomain) saying why it is not one."""
    return normalize_domain(text)


def suggestions(
    session: ConsoleSession, limit: int = 12
) -> tuple[Pairs, str, Callable[[], tuple[Pairs, str]] | None]:
    """What a domain chooser offers: (domain, description) pairs known now, their
    heading, and a blocking function to run in a thread for the rest (or None).

    The demo offers the lab's domains; otherwise the recent ones, loaded later.
    """
    if session.demo_domains:
        pairs = [(demo.name, demo.description) for demo in session.demo_domains]
        return pairs, DEMO_HEADING, None
    if session.history is None:
        return [], "", None
    return [], RECENT_HEADING, partial(recent_suggestions, session.history, limit)


def recent_suggestions(history: History, limit: int = 12) -> tuple[Pairs, str]:
    """The latest audited domains with their last result; blocks on SQLite."""
    try:
        recent = history.recent(limit)
    except (sqlite3.Error, OSError):
        # A broken history must not keep the console from opening; audits report it.
        return [], ""
    pairs = [(name, f"{_WORDS.get(status, status)} · {_when(at)}") for name, at, status in recent]
    return pairs, RECENT_HEADING


_WORDS = {"pass": "pass", "warn": "warnings", "fail": "FAIL", "error": "could not check"}


def _when(checked_at: str) -> str:
    return checked_at.replace("T", " ").removesuffix("Z")[:16] + " UTC" if checked_at else ""
