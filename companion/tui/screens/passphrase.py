"""Asks for the journal's passphrase when the journal is encrypted and COMPANION_PASSPHRASE is not set."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static


class PassphraseScreen(ModalScreen[str | None]):
    """Dismisses with the passphrase typed, or None when the person chooses not to unlock the journal."""

    BINDINGS = [Binding("escape", "cancel", "Not now")]

    def __init__(self, *, wrong: bool = False) -> None:
        super().__init__()
        self.wrong = wrong

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-dialog"):
            yield Static(Text("Your journal is encrypted.", style="bold"))
            if self.wrong:
                yield Static(
                    Text("That passphrase did not open it; nothing was changed. Try again.", style="red")
                )
            yield Static(Text("Type its passphrase to open it (Esc: continue without the journal)."))
            yield Input(password=True, placeholder="passphrase", id="passphrase")

    def on_mount(self) -> None:
        self.query_one("#passphrase", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.value:
            self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)
