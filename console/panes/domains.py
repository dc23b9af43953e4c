"""Where the domain lists of the welcome screen and the domain picker come from."""

from __future__ import annotations

import sqlite3

from console.auth.records import normalize_domain
from console.panes.base import ConsoleSession


def validate_domain(text: str) -> str:
    """The normalised domain, or ValueError (InvalidDomain) saying why it is not one."""
    return normalize_domain(text)


def suggestions(session: ConsoleSession, limit: int = 12) -> tuple[list[tuple[str, str]], str]:
    """(domain, description) pairs and their heading: demo domains, else recent ones."""
    if session.demo_domains:
        pairs = [(demo.name, demo.description) for demo in session.demo_domains]
        return pairs, "Lab domains (good.test is right; each other shows one mistake)"
    if session.history is None:
        return [], ""
    try:
        recent = session.history.recent(limit)
    except (sqlite3.Error, OSError):
        # A broken history must not keep the console from opening; audits report it.
        return [], ""
    pairs = [(name, f"{_WORDS.get(status, status)} · {_when(at)}") for name, at, status in recent]
    return pairs, "Recent domains (last result)"


_WORDS = {"pass": "pass", "warn": "warnings", "fail": "FAIL", "error": "could not check"}


def _when(checked_at: str) -> str:
    return checked_at.replace("T", " ").removesuffix("Z")[:16] + " UTC" if checked_at else ""
