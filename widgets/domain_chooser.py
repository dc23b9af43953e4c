"""A domain input with a list of suggestions (recent or demo domains) under it.

Posts `DomainChooser.Chosen` with the normalised domain when the admin presses Enter
in the input or picks a suggestion. Validation is the caller's function, so the
widget knows nothing of DNS.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from widgets.literal import literal


class DomainChooser(Vertical):
    """Input plus suggestions; Enter or a click chooses."""

    DEFAULT_CSS = """
    DomainChooser {
        height: auto;
    }
    DomainChooser > .chooser-label {
        color: $text-muted;
        margin-top: 1;
    }
    DomainChooser > #chooser-error {
        color: $text-error;
        display: none;
    }
    DomainChooser > #chooser-error.-shown {
        display: block;
    }
    DomainChooser > OptionList {
        height: auto;
        max-height: 14;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """

    class Chosen(Message):
        """The admin chose `domain` (already validated and normalised)."""

        def __init__(self, chooser: DomainChooser, domain: str) -> None:
            super().__init__()
            self.chooser = chooser
            self.domain = domain

        @property
        def control(self) -> DomainChooser:
            return self.chooser

    def __init__(
        self,
        suggestions: Sequence[tuple[str, str]],
        *,
        validate: Callable[[str], str],
        suggestions_label: str = "Recent domains",
        value: str = "",
        cursor_blink: bool = True,
        **kwargs: object,
    ) -> None:
        """Args:
        suggestions: (domain, description) pairs offered under the input.
        validate: returns the normalised domain or raises ValueError with the reason.
        suggestions_label: heading of the list (hidden when there are no suggestions).
        value: initial text of the input.
        cursor_blink: whether the input's cursor blinks.
        """
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._suggestions = list(suggestions)
        self._validate = validate
        self._label = suggestions_label
        self._value = value
        self._blink = cursor_blink

    def compose(self) -> ComposeResult:
        yield Static("Domain to audit", classes="chooser-label")
        field = Input(value=self._value, placeholder="example.com", id="chooser-input")
        field.cursor_blink = self._blink
        yield field
        yield Static(id="chooser-error")
        if self._suggestions:
            yield Static(self._label, classes="chooser-label")
            yield OptionList(
                *(self._option(name, description) for name, description in self._suggestions),
                id="chooser-list",
            )

    @staticmethod
    def _option(name: str, description: str) -> Option:
        # One line per suggestion, so a 24-line terminal still shows a useful list.
        prompt = literal(name, style="bold", no_wrap=True)
        prompt.overflow = "ellipsis"
        if description:
            prompt.append("  ")
            prompt.append_text(literal(description, style="dim"))
        return Option(prompt, id=name)

    def focus_input(self) -> None:
        self.query_one("#chooser-input", Input).focus()

    def _choose(self, text: str) -> None:
        error = self.query_one("#chooser-error", Static)
        try:
            domain = self._validate(text)
        except ValueError as exc:
            error.update(literal(str(exc)))
            error.add_class("-shown")
            return
        error.remove_class("-shown")
        self.post_message(self.Chosen(self, domain))

    @on(Input.Submitted, "#chooser-input")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._choose(event.value)

    @on(OptionList.OptionSelected, "#chooser-list")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id:
            self._choose(event.option.id)
