"""The top of every screen: which engine answers and that nothing leaves the device, then the screens by key."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.content import Content
from textual.widgets import Static

from companion.tui.labels import PRIVACY_NOTE

# (mode, key, label) in the order the nav line shows them.
NAVIGATION = (
    ("reflect", "F2", "Reflect"),
    ("rehearse", "F3", "Rehearse"),
    ("guidance", "F4", "Guidance"),
    ("journal", "F5", "Journal"),
    ("models", "F6", "Models"),
)


class StatusLine(Horizontal):
    """`companion │ engine: … (loading…)` on the left, `offline · stored on this device` on the right."""

    def compose(self) -> ComposeResult:
        yield Static("", id="engine-status")
        yield Static(PRIVACY_NOTE, id="privacy-note")

    def on_mount(self) -> None:
        self.watch(self.app, "engine_label", self._refresh_line)
        self.watch(self.app, "services_status", self._refresh_line)

    def _refresh_line(self, _value: object = None) -> None:
        status = self.app.services_status
        line = Text(no_wrap=True, overflow="ellipsis")
        line.append("companion", style="bold")
        line.append(" │ engine: ", style="dim")
        line.append(self.app.engine_label, style="bold")
        if status != "ready":
            line.append(f" · {status}", style="italic")
        self.query_one("#engine-status", Static).update(line)


class NavLine(Static):
    """The screens and their keys, the current one highlighted; each is clickable."""

    def __init__(self, current: str, **kwargs) -> None:
        super().__init__("", **kwargs)
        self.current = current

    def on_mount(self) -> None:
        # Our own fixed labels: markup is used here only for the click actions, never for anything typed.
        parts = []
        for mode, key, label in NAVIGATION:
            style = "reverse bold" if mode == self.current else ""
            piece = Content.from_markup(f"[@click=app.switch_mode('{mode}')]{key} {label}[/]")
            parts.append(piece.stylize(style) if style else piece)
        parts.append(Content.from_markup("[@click=app.help]? Help[/]"))
        self.update(Content("  ").join(parts))
