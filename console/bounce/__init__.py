"""Reading and classifying bounces: what failed, for whom, why, and what to fix first.

The pipeline, one message at a time (nothing is held for a whole folder):

1. `reader` turns paths and stdin into labelled messages: an .eml, each entry of an
   mbox (`path#N`), each file of a maildir or folder, stdin (`-`), or text that is not
   a message at all (SMTP replies pasted from a log). Each message is capped at 1 MiB,
   so a 50 MB attachment is skipped, not decoded.
2. `parse` reads a message once with the stdlib `email` parser (compat32) and collects
   the RFC 3464 delivery-status blocks (Final-Recipient, Action, Status, Remote-MTA,
   Diagnostic-Code, ...) and the human-readable text. Bounces without a DSN (qmail,
   old Exim and Sendmail, Exchange NDR text, Yahoo, Gmail's own text) are taken apart
   with per-MTA patterns; pasted replies are unfolded (`550-5.7.26 ...` lines become
   one). It also decides the kind: bounce, delay notice, auto-reply (RFC 3834),
   success DSN, or none of these. Delays and auto-replies are never failures.
3. `classify` maps each recipient's status, reply code and diagnostic to one of
   design.md's reasons, hard or soft, the provider (from the remote MTA, the
   diagnostic's signature, the recipient's domain), the provider's documented meaning,
   the fix and the console check that confirms it (`spf`, `dmarc`, `fcrdns`,
   `blocklists`, `mx`, the Postmaster or Send pane ...).
4. `campaign` groups many results by reason and provider, most urgent first, with the
   frequent diagnostics (addresses and ids masked) and a next step; CSV export.

No DNS and no network: everything is local parsing and table look-ups, so a folder of
10,000 bounces classifies in seconds. Remote text stays literal in the results; the
renderer escapes it (`console.literal.printable`).
"""

from __future__ import annotations

from typing import Any

# Loaded on first use: cli.py imports console.bounce.command to build its parser, and
# `mailscope --help` must not pay for compiling the classification tables.
_EXPORTS = {
    "REASONS": "console.bounce.model",
    "BounceResult": "console.bounce.model",
    "RecipientResult": "console.bounce.model",
    "analyse": "console.bounce.reader",
    "analyse_bytes": "console.bounce.reader",
    "analyse_paths": "console.bounce.reader",
    "iter_inputs": "console.bounce.reader",
    "raw_message": "console.bounce.reader",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'console.bounce' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
