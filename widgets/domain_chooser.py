"""A domain input with a list of suggestions (recent or demo domains) under it.

Posts `DomainChooser.Chosen` with the normalised domain when the admin presses Enter
in the input or picks a suggestion; Enter on an empty input picks the highlighted
suggestion, and ↓ in the input moves to the list. Validation is the caller's function,
so the widget knows nothing of DNS. Suggestions that take I/O to find (the history)
come from a `load` function the widget runs in a thread, filling the list when ready.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from widgets.literal import literal

Suggestions = tuple[list[tuple[str, str]], str]
"""(domain, description) pairs and the heading of their list."""


class DomainChooser(Vertical):
    """Input plus suggestions; Enter or a click chooses."""

    BINDINGS: ClassVar[list[BindingType]] = [
        # Reached only from the input: the list's own ↓ moves its highlight first.
        Binding(
            "down",
            "focus_list",
            "Suggestions",
            id="chooser.suggestions",
            tooltip="Move to the list of suggested domains",
            show=False,
        ),
    ]

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
    DomainChooser > .-empty {
        display: none;
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
        suggestions: Sequence[tuple[str, str]] = (),
        *,
        validate: Callable[[str], str],
        suggestions_label: str = "Recent domains",
        value: str = "",
        highlight: str = "",
        load: Callable[[], Suggestions] | None = None,
        cursor_blink: bool = True,
        **kwargs: object,
    ) -> None:
        """Args:
        suggestions: (domain, description) pairs offered under the input.
        validate: returns the normalised domain or raises ValueError with the reason.
        suggestions_label: heading of the list (hidden when there are no suggestions).
        value: initial text of the input.
        highlight: the suggestion to highlight at first (else the first one).
        load: a blocking function returning more suggestions and their heading, run in
            a thread after mounting; its list replaces `suggestions` when it returns.
        cursor_blink: whether the input's cursor blinks.
        """
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._suggestions = list(suggestions)
        self._validate = validate
        self._label = suggestions_label
        self._value = value
        self._highlight = highlight
        self._load = load
        self._blink = cursor_blink

    def compose(self) -> ComposeResult:
        yield Static("Domain to audit", classes="chooser-label")
        field = Input(value=self._value, placeholder="example.com", id="chooser-input")
        field.cursor_blink = self._blink
        yield field
        yield Static(id="chooser-error")
        # Always there (hidden while empty), so suggestions can arrive later.
        yield Static(self._label, classes="chooser-label", id="chooser-list-label")
        yield OptionList(id="chooser-list")

    def on_mount(self) -> None:
        self.set_suggestions(self._suggestions, self._label)
        if self._load is not None:
            self.run_worker(
                self._load, thread=True, group="suggestions", exit_on_error=False, exclusive=True
            )

    @on(Worker.StateChanged)
    def _loaded(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "suggestions":
            return
        event.stop()
        if event.state is WorkerState.SUCCESS and event.worker.result is not None:
            pairs, label = event.worker.result
            self.set_suggestions(pairs, label)

    def set_suggestions(self, suggestions: Sequence[tuple[str, str]], label: str) -> None:
        """Offer `suggestions` under `label` (both hidden when there are none)."""
        self._suggestions = list(suggestions)
        self._label = label
        heading = self.query_one("#chooser-list-label", Static)
        heading.update(label)
        options = self.query_one("#chooser-list", OptionList)
        options.set_options(self._option(name, text) for name, text in self._suggestions)
        heading.set_class(not self._suggestions, "-empty")
        options.set_class(not self._suggestions, "-empty")
        if self._suggestions:
            names = [name for name, _ in self._suggestions]
            wanted = self._highlight if self._highlight in names else names[0]
            options.highlighted = names.index(wanted)

    @property
    def suggestions(self) -> list[tuple[str, str]]:
        """The (domain, description) pairs offered now."""
        return list(self._suggestions)

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

    def focus_list(self) -> bool:
        """Focus the suggestions; False (focus unchanged) when there are none."""
        if not self._suggestions:
            return False
        self.query_one("#chooser-list", OptionList).focus()
        return True

    def action_focus_list(self) -> None:
        self.focus_list()

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
        highlighted = self.query_one("#chooser-list", OptionList).highlighted_option
        if not event.value.strip() and self._suggestions and highlighted is not None:
            # Nothing typed: Enter takes the suggestion the list shows highlighted.
            self._choose(highlighted.id or "")
            return
        self._choose(event.value)

    @on(OptionList.OptionSelected, "#chooser-list")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id:
            self._choose(event.option.id)
