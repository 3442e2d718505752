"""A model server for the Models screen: type its address, test it (its models are listed), choose one, use it.

A server on another machine is tested only after the person ticks that what they type may be sent there: the
engine refuses such an address otherwise, before any connection.
"""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Select, Static

from companion.errors import CompanionError

DEFAULT_ADDRESS = "http://127.0.0.1:11434/v1"


class ServerScreen(ModalScreen[tuple[str, str] | None]):
    """Dismisses with (address, model) once a test found the model, or None (Esc)."""

    BINDINGS = [Binding("escape", "cancel", "Close")]

    def __init__(self, address: str | None = None, model: str | None = None) -> None:
        super().__init__()
        self.address = address or DEFAULT_ADDRESS
        self.wanted_model = model
        self.tested: str | None = None  # the address the listed models came from

    def compose(self) -> ComposeResult:
        with Vertical(id="add-dialog"):
            yield Static(Text("A model server (Ollama, LM Studio, llama.cpp server, vLLM)", style="bold"))
            yield Input(value=self.address, placeholder=DEFAULT_ADDRESS, id="server-address")
            yield Checkbox("It is another machine: send what I type there", id="server-remote")
            yield Static("Enter or Test asks the server for its models.", id="server-state")
            yield Select([], prompt="the server's models", id="server-models")
            with Horizontal(id="add-buttons"):
                yield Button("Test", id="server-test", variant="primary")
                yield Button("Use this model", id="server-use", disabled=True)

    def on_mount(self) -> None:
        self.query_one("#server-address", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.action_test()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.query_one("#server-use", Button).disabled = True  # a new address must be tested again

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "server-test":
            self.action_test()
        elif event.button.id == "server-use":
            self.action_use()

    def action_test(self) -> None:
        address = self.query_one("#server-address", Input).value.strip()
        self._state("Asking the server…")
        self.test_server(address, self.query_one("#server-remote", Checkbox).value)

    @work(thread=True, exclusive=True, group="server-test", name="test model server")
    def test_server(self, address: str, remote_allowed: bool) -> None:
        import os

        from companion.engines.server import API_KEY_ENV, ServerChatModel, parse_server_url

        call = self.app.call_from_thread
        try:
            where = parse_server_url(address)
            with ServerChatModel(
                address, api_key=os.environ.get(API_KEY_ENV) or None, allow_remote=remote_allowed
            ) as model:
                models = model.list_models()
        except CompanionError as exc:
            call(self._failed, str(exc))
            return
        note = where.privacy_note + (f" {where.warning}" if where.warning else "")
        call(self._found, where.base_url, models, note)

    def _state(self, message: str, style: str = "") -> None:
        self.query_one("#server-state", Static).update(Text(message, style=style))

    def _failed(self, message: str) -> None:
        self.tested = None
        self.query_one("#server-use", Button).disabled = True
        self._state(message, "red")

    def _found(self, address: str, models: list[str], note: str) -> None:
        self.tested = address
        select = self.query_one("#server-models", Select)
        select.set_options([(name, name) for name in models])
        if models:
            select.value = self.wanted_model if self.wanted_model in models else models[0]
        self.query_one("#server-use", Button).disabled = not models
        count = f"{len(models)} model{'s' if len(models) != 1 else ''}" if models else "no model loaded"
        self._state(f"It answers: {count}. {note}")

    def action_use(self) -> None:
        model = self.query_one("#server-models", Select).value
        if self.tested and isinstance(model, str):
            self.dismiss((self.tested, model))

    def action_cancel(self) -> None:
        self.dismiss(None)
