"""What an audit is asked to look at beyond the domain itself."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_DNSBLS: tuple[str, ...] = (
    "zen.spamhaus.org",
    "bl.spamcop.net",
    "b.barracudacentral.org",
    "psbl.surriel.com",
)
"""Public IP blocklists checked by default (each documents its return codes).

SORBS is left out: it was decommissioned in June 2024."""


@dataclass(frozen=True, slots=True)
class AuditOptions:
    """Args:
    selectors: DKIM selectors to check besides the well-known ones discovered.
    ips: sending addresses to check for reverse DNS and blocklistings.
    dnsbls: blocklist zones to query.
    checks: check ids to run; empty means all.
    discover_selectors: also probe the built-in list of provider selectors.
    """

    selectors: tuple[str, ...] = ()
    ips: tuple[str, ...] = ()
    dnsbls: tuple[str, ...] = DEFAULT_DNSBLS
    checks: tuple[str, ...] = ()
    discover_selectors: bool = True
