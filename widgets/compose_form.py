"""The compose form of a test message: addresses, subject, bodies, unsubscribe, DKIM, password.

Presentational: the pane prefills it (`prefill`) and reads it back (`values`). The
password field masks what is typed and is cleared by the pane after each send; its
value is never put in `ComposeValues`' repr, never logged and never shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Checkbox, Input, Label, Select, Static, TextArea

from console.send.compose import TEXT_BODY

VIA_CHOICES: tuple[tuple[str, str], ...] = (
    ("SMTP", "smtp"),
    ("Gmail API", "gmail-api"),
    ("Both, side by side", "both"),
)
"""The sending paths the form offers: (shown, value)."""


@dataclass(slots=True)
class ComposeValues:
    """What the form holds (stripped; empty optional fields are None)."""

    from_addr: str
    to: list[str]
    subject: str
    text: str | None
    html: str | None
    unsubscribe_https: str | None
    unsubscribe_mailto: str | None
    one_click: bool
    dkim_key: str | None
    dkim_selector: str | None
    password: str | None = field(default=None, repr=False)
    """Typed in the form, for this send only; never stored, logged or shown."""
    via: str = "smtp"
    """`smtp`, `gmail-api` or `both`."""
    attachments: list[str] = field(default_factory=list)
    """Paths of files to attach."""


@dataclass(frozen=True, slots=True)
class ComposeDefaults:
    """What a fresh form shows for a profile."""

    from_addr: str = ""
    to: str = ""
    subject: str = "mailscope test message"
    unsubscribe_https: str = ""
    unsubscribe_mailto: str = ""
    dkim_selector: str = ""
    password_note: str = ""
    """Where the password comes from (`from $SMTP_PASSWORD`); empty asks for one."""
    ask_password: bool = True
    """Whether the password field is shown."""
    via: str = "smtp"
    """The path chosen at first: `both` where the Gmail API is configured."""


def _split_addresses(text: str) -> list[str]:
    return [part.strip() for part in text.replace(";", ",").split(",") if part.strip()]


def _split_paths(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _optional(text: str) -> str | None:
    return text.strip() or None


class ComposeForm(VerticalScroll):
    """Labelled one-line fields, two short body editors and the one-click switch."""

    DEFAULT_CSS = """
    ComposeForm {
        height: 1fr;
        scrollbar-size-vertical: 1;
        padding: 0 1;
    }
    ComposeForm > .compose-row {
        height: 1;
        margin-bottom: 0;
    }
    ComposeForm > .compose-row > Label {
        width: 9;
        color: $text-muted;
    }
    ComposeForm > .compose-row > Input, ComposeForm > .compose-row > Select {
        width: 1fr;
    }
    ComposeForm > .compose-section {
        color: $text-muted;
        text-style: bold;
        height: 1;
    }
    ComposeForm > TextArea {
        height: 4;
        margin-bottom: 0;
    }
    ComposeForm > #compose-html {
        height: 3;
    }
    ComposeForm > #compose-one-click {
        height: 1;
        border: none;
        padding: 0;
        background: transparent;
    }
    ComposeForm > #compose-password-note {
        color: $text-muted;
        height: auto;
    }
    """

    def __init__(self, *, cursor_blink: bool = True, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._blink = cursor_blink

    def _row(self, label: str, field_id: str, placeholder: str, **options: object) -> Horizontal:
        field_ = Input(id=field_id, placeholder=placeholder, compact=True, **options)  # type: ignore[arg-type]
        field_.cursor_blink = self._blink
        return Horizontal(Label(label), field_, classes="compose-row")

    def compose(self) -> ComposeResult:
        via = Select(VIA_CHOICES, value="smtp", allow_blank=False, compact=True, id="compose-via")
        yield Horizontal(Label("Via"), via, classes="compose-row")
        yield self._row("From", "compose-from", "postmaster@example.com")
        yield self._row("To", "compose-to", "a seed mailbox you own")
        yield self._row("Subject", "compose-subject", "mailscope test message")
        yield Static("Text body", classes="compose-section")
        yield TextArea(TEXT_BODY, id="compose-text", compact=True, soft_wrap=True)
        yield Static("HTML body (optional)", classes="compose-section")
        yield TextArea("", id="compose-html", compact=True, soft_wrap=True)
        yield Static("List-Unsubscribe", classes="compose-section")
        yield self._row("https", "compose-unsub-https", "https://example.com/unsubscribe")
        yield self._row("mailto", "compose-unsub-mailto", "unsubscribe@example.com")
        yield Checkbox("One-click (RFC 8058)", True, id="compose-one-click", compact=True)
        yield self._row("Attach", "compose-attach", "file paths, comma-separated (optional)")
        yield Static("DKIM signing (optional)", classes="compose-section")
        yield self._row("Key file", "compose-dkim-key", "path/to/private.pem")
        yield self._row("Selector", "compose-dkim-selector", "s1")
        yield self._row("Password", "compose-password", "SMTP password", password=True)
        yield Static(id="compose-password-note")

    def on_mount(self) -> None:
        for area in self.query(TextArea):
            area.cursor_blink = self._blink

    def prefill(self, defaults: ComposeDefaults) -> None:
        """Start over with `defaults` (bodies reset too; the password is cleared)."""
        values = {
            "#compose-from": defaults.from_addr,
            "#compose-to": defaults.to,
            "#compose-subject": defaults.subject,
            "#compose-unsub-https": defaults.unsubscribe_https,
            "#compose-unsub-mailto": defaults.unsubscribe_mailto,
            "#compose-attach": "",
            "#compose-dkim-key": "",
            "#compose-dkim-selector": defaults.dkim_selector,
            "#compose-password": "",
        }
        for selector, value in values.items():
            self.query_one(selector, Input).value = value
        self.query_one("#compose-text", TextArea).text = TEXT_BODY
        self.query_one("#compose-html", TextArea).text = ""
        self.query_one("#compose-one-click", Checkbox).value = True
        self.query_one("#compose-via", Select).value = defaults.via
        self.query_one("#compose-password", Input).parent.display = defaults.ask_password  # type: ignore[union-attr]
        self.query_one("#compose-password-note", Static).update(defaults.password_note)

    def clear_password(self) -> None:
        """Forget the typed password (after a send: it is never kept)."""
        self.query_one("#compose-password", Input).value = ""

    def values(self) -> ComposeValues:
        """The form's current values."""

        def text(selector: str) -> str:
            return self.query_one(selector, Input).value.strip()

        body = self.query_one("#compose-text", TextArea).text
        html = self.query_one("#compose-html", TextArea).text
        return ComposeValues(
            from_addr=text("#compose-from"),
            to=_split_addresses(text("#compose-to")),
            subject=text("#compose-subject"),
            text=body if body.strip() else None,
            html=html if html.strip() else None,
            unsubscribe_https=_optional(text("#compose-unsub-https")),
            unsubscribe_mailto=_optional(text("#compose-unsub-mailto")),
            one_click=self.query_one("#compose-one-click", Checkbox).value,
            dkim_key=_optional(text("#compose-dkim-key")),
            dkim_selector=_optional(text("#compose-dkim-selector")),
            password=self.query_one("#compose-password", Input).value or None,
            via=str(self.query_one("#compose-via", Select).value),
            attachments=_split_paths(text("#compose-attach")),
        )

    def set_field(self, name: str, value: str) -> None:
        """Set one field by its short name (`to`, `html`, ...): for tests and scripts."""
        widget = self.query_one(f"#compose-{name}")
        if isinstance(widget, TextArea):
            widget.text = value
        elif isinstance(widget, (Select, Input)):
            widget.value = value
        else:
            raise ValueError(f"no text field named {name}")
