"""The outcome of a test send, one column per path: SMTP beside the Gmail API.

Fed `SendResult`s (console/send/result.py) by path (`smtp`, `gmail-api`). A path that
has not run shows why (not sent yet, or not available yet) instead of a made-up
result. Everything the server said (reply, queue id, errors) is shown literally.
Side by side when there is room, one above the other when narrow.
"""

from __future__ import annotations

from collections.abc import Mapping

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.content import Content
from textual.widgets import Static

from console.send.result import SendResult
from widgets.literal import literal

PATHS: dict[str, str] = {"smtp": "SMTP", "gmail-api": "Gmail API"}
"""Path id -> its column title."""

NARROW = 60
"""Below this many columns the two paths are stacked."""

STEP_NAMES: dict[str, str] = {
    "resolve": "resolve",
    "connect": "connect",
    "greeting": "greeting",
    "ehlo": "EHLO",
    "starttls": "STARTTLS",
    "ehlo_tls": "EHLO+TLS",
    "auth": "AUTH",
    "mail": "MAIL",
    "rcpt": "RCPT",
    "data": "DATA",
    "quit": "QUIT",
}
"""Timing keys of `SendResult.timings_ms` as shown (total is shown on its own)."""


def _field(name: str, value: Content | str) -> Content:
    text = Content.from_rich_text(literal(value)) if isinstance(value, str) else value
    return Content.assemble((f"{name:<11}", "$text-muted"), text)


def result_content(result: SendResult) -> Content:
    """One path's outcome: verdict, reply, queue id, Message-ID, server, TLS, timings."""
    if result.accepted:
        verdict = Content.styled("✔ ACCEPTED", "bold $text-success")
    elif result.error and result.error.startswith("not sent"):
        verdict = Content.styled("✖ NOT SENT", "bold $text-error")
    else:
        verdict = Content.styled("✖ NOT ACCEPTED", "bold $text-error")
    rows: list[Content] = [verdict]
    if result.error:
        rows.append(Content.from_rich_text(literal(result.error)).stylize("$text-warning"))
    if result.reply:
        rows.append(_field("reply", result.reply))
    if result.queue_id:
        rows.append(_field("queue id", result.queue_id))
    if result.message_id:
        rows.append(_field("Message-ID", result.message_id))
    if result.host:
        where = result.host
        if result.port is not None:
            where += f":{result.port}"
            if result.well_known_port and result.well_known_port != result.port:
                where += f" (for {result.well_known_port})"
        rows.append(_field("server", where))
    if result.tls:
        tls = " ".join(str(result.tls.get(key) or "") for key in ("version", "cipher")).strip()
        if result.tls.get("verified") is False:
            tls += " (certificate NOT verified)"
        rows.append(_field("TLS", tls or "yes"))
    steps = [
        f"{STEP_NAMES.get(step, step)} {ms:.1f}"
        for step, ms in result.timings_ms.items()
        if step != "total"
    ]
    if "total" in result.timings_ms:
        rows.append(_field("total", f"{result.timings_ms['total']:.1f} ms"))
    if steps:
        rows.append(_field("steps (ms)", ", ".join(steps)))
    return Content("\n").join(rows)


class SendResultView(Horizontal):
    """A column per path (`PATHS`); `show` fills one, `explain` says why one is empty."""

    DEFAULT_CSS = """
    SendResultView {
        height: auto;
    }
    SendResultView.-narrow {
        layout: vertical;
    }
    SendResultView > .send-path {
        width: 1fr;
        height: auto;
        padding: 0 1 0 0;
    }
    SendResultView.-narrow > .send-path {
        width: 1fr;
        padding: 0;
    }
    SendResultView > .send-path-title {
        text-style: bold;
    }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._results: dict[str, SendResult] = {}
        self._plain: dict[str, str] = {}
        self._waiting: dict[str, bool] = {}

    def compose(self) -> ComposeResult:
        for path in PATHS:
            yield Static(id=f"send-path-{path}", classes="send-path")

    def on_resize(self) -> None:
        self.set_class(self.size.width < NARROW, "-narrow")

    def show(self, result: SendResult) -> None:
        """Fill the column of `result.via` with it."""
        self._results[result.via] = result
        self._waiting[result.via] = False
        self._column(result.via).update(self._titled(result.via, result_content(result)))

    def explain(self, via: str, text: str | Content) -> None:
        """Put `text` in the column of path `via` (no result there, and why)."""
        self._results.pop(via, None)
        self._waiting[via] = str(text).startswith("Sending")
        body = Content.from_rich_text(literal(text)) if isinstance(text, str) else text
        self._column(via).update(self._titled(via, body.stylize("$text-muted")))

    def is_waiting(self, via: str) -> bool:
        """Whether the column of `via` says a send is under way."""
        return self._waiting.get(via, False)

    def results(self) -> Mapping[str, SendResult]:
        """The results shown, by path."""
        return dict(self._results)

    @property
    def plain(self) -> str:
        """Both columns as plain text (for tests)."""
        return "\n".join(self._plain.get(path, "") for path in PATHS)

    def _column(self, via: str) -> Static:
        return self.query_one(f"#send-path-{via}", Static)

    def _titled(self, via: str, body: Content) -> Content:
        title = Content.styled(PATHS.get(via, via), "bold $text-accent")
        content = Content.assemble(title, "\n", body)
        self._plain[via] = content.plain
        return content
