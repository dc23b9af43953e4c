"""What the bounce reader hands out: one `BounceResult` per input message (plain data, no I/O).

The JSON shape is design.md's `### bounce`: `{"file", "recipients": [{"recipient",
"status", "reply_code", "reason", "hard", "provider", "diagnostic", "fix"}]}`. Extra keys
(kind, action, check, the MTAs, the original message's id and subject) are added after
those and never replace them, so scripts written against design.md keep working.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# design.md's reasons, in the order the campaign view fixes them (most urgent first):
# problems on the sender's side that hit every recipient of a provider come before
# list hygiene (unknown users), which comes before transient trouble.
REASONS: tuple[str, ...] = (
    "auth-failure",
    "blocked",
    "bad-reputation",
    "require-ptr",
    "policy-violation",
    "security-error",
    "rejected",
    "spam-detected",
    "not-compliant-rfc",
    "virus-detected",
    "content-error",
    "rate-limited",
    "too-many-connections",
    "relay-denied",
    "message-too-big",
    "exceed-limit",
    "user-unknown",
    "host-unknown",
    "not-accept",
    "mailbox-disabled",
    "has-moved",
    "filtered",
    "mailbox-full",
    "system-full",
    "expired",
    "network-error",
    "system-error",
    "mailer-error",
    "syntax-error",
    "other",
)

# Message kinds. Only "bounce" recipients with action "failed" count as failures.
KIND_BOUNCE = "bounce"
KIND_DELAYED = "delayed"
KIND_AUTO_REPLY = "auto-reply"
KIND_DELIVERED = "delivered"  # a success DSN (Action: delivered/relayed/expanded)
KIND_UNKNOWN = "unknown"  # read fine, but not a bounce, delay or auto-reply
KIND_ERROR = "error"  # could not be read at all; `problem` says why
KINDS = (KIND_BOUNCE, KIND_DELAYED, KIND_AUTO_REPLY, KIND_DELIVERED, KIND_UNKNOWN, KIND_ERROR)

ACTIONS = ("failed", "delayed", "delivered", "relayed", "expanded")


@dataclass(slots=True)
class RecipientResult:
    """One recipient of one bounce: what the server said and what it means.

    `diagnostic` is the remote text, literal (unfolded onto one line, nothing escaped):
    whoever shows it passes it through `console.literal.printable`.
    """

    recipient: str
    status: str | None
    reply_code: int | None
    reason: str
    hard: bool
    provider: str
    diagnostic: str
    fix: str
    action: str = "failed"
    meaning: str = ""
    check: str | None = None
    remote_mta: str | None = None
    reporting_mta: str | None = None
    last_attempt: str | None = None
    source: str | None = None  # where the provider documents this code

    @property
    def failed(self) -> bool:
        """Counts as a delivery failure (not a delay, an auto-reply or a success)."""
        return self.action == "failed"

    def to_dict(self) -> dict[str, Any]:
        return {
            "recipient": self.recipient,
            "status": self.status,
            "reply_code": self.reply_code,
            "reason": self.reason,
            "hard": self.hard,
            "provider": self.provider,
            "diagnostic": self.diagnostic,
            "fix": self.fix,
            "action": self.action,
            "meaning": self.meaning,
            "check": self.check,
            "remote_mta": self.remote_mta,
            "reporting_mta": self.reporting_mta,
            "last_attempt": self.last_attempt,
            "source": self.source,
        }


@dataclass(slots=True)
class BounceResult:
    """One input message (an .eml, one mbox entry, one maildir file, one pasted reply).

    `problem` is a one-line note naming what could not be read (the file, the cap that
    was hit); a result can carry recipients and a problem at once (a truncated file).
    """

    file: str
    recipients: list[RecipientResult] = field(default_factory=list)
    kind: str = KIND_UNKNOWN
    subject: str | None = None
    message_id: str | None = None
    original_message_id: str | None = None
    original_subject: str | None = None
    problem: str | None = None

    @property
    def failures(self) -> list[RecipientResult]:
        return [r for r in self.recipients if r.failed]

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "recipients": [r.to_dict() for r in self.recipients],
            "kind": self.kind,
            "subject": self.subject,
            "message_id": self.message_id,
            "original_message_id": self.original_message_id,
            "original_subject": self.original_subject,
            "problem": self.problem,
        }
