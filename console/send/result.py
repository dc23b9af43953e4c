"""What one send did: plain data shared by the engine, the pane and `mailscope send --json`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from console.model import Finding
from console.ports.model import TranscriptLine


@dataclass(slots=True)
class SendResult:
    """The outcome of one message sent along one path (`via`).

    Attributes:
        via: `smtp` or `gmail-api`.
        accepted: True only when the server took the message for every recipient.
        reply: the server's last meaningful reply (the 250 after DATA, or the refusal).
        queue_id: the server's queue id, parsed from the final reply when it has one.
        message_id: the Message-ID header of the message sent.
        timings_ms: milliseconds of each step (connect, greeting, ehlo, starttls, auth,
            mail, rcpt, data, quit) and `total`.
        transcript: the conversation, credentials redacted before they were recorded.
        lint: findings of the compose helper's lint, attached by the caller.
        error: one line saying why the message was not accepted; None when it was.
        host: the host as asked for; `address` and `port` where the engine connected.
        well_known_port: the port asked for (587); `port` differs from it in the lab.
        security: `starttls`, `tls` or `none`.
        tls: version and cipher of the TLS session, when there was one.
        recipients: each envelope recipient and the server's reply to its RCPT TO.
    """

    via: str = "smtp"
    accepted: bool = False
    reply: str | None = None
    queue_id: str | None = None
    message_id: str | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    transcript: list[TranscriptLine] = field(default_factory=list)
    lint: list[Finding] = field(default_factory=list)
    error: str | None = None
    host: str | None = None
    address: str | None = None
    port: int | None = None
    well_known_port: int | None = None
    security: str | None = None
    tls: dict[str, Any] | None = None
    recipients: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The design's send JSON (via ... lint), then the extra keys."""
        return {
            "via": self.via,
            "accepted": self.accepted,
            "reply": self.reply,
            "queue_id": self.queue_id,
            "message_id": self.message_id,
            "timings_ms": {step: round(ms, 1) for step, ms in self.timings_ms.items()},
            "transcript": [line.to_dict() for line in self.transcript],
            "lint": [finding.to_dict() for finding in self.lint],
            "error": self.error,
            "host": self.host,
            "address": self.address,
            "port": self.port,
            "well_known_port": self.well_known_port,
            "security": self.security,
            "tls": self.tls,
            "recipients": dict(self.recipients),
        }
