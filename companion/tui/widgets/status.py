"""The status line every screen shows: where you are, which engine answers, and that nothing leaves the device."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from companion.tui.labels import PRIVACY_NOTE


class StatusLine(Static):
    """One line at the top: `companion · Reflect │ engine: … │ offline · stored on this device`."""

    DEFAULT_CSS = """
    StatusLine {
        dock: top;
        height: 1;
        width: 100%;
        background: $panel;
        color: $text;
        padding: 0 1;
    }
    """

    def __init__(self, screen_label: str, **kwargs) -> None:
        super().__init__("", **kwargs)
        self.screen_label = screen_label

    def on_mount(self) -> None:
        self.watch(self.app, "engine_label", self._refresh_line)
        self.watch(self.app, "services_status", self._refresh_line)

    def _refresh_line(self, _value: object = None) -> None:
        status = self.app.services_status
        line = Text(no_wrap=True, overflow="ellipsis")
        line.append("companion", style="bold")
        line.append(f" · {self.screen_label}")
        line.append("  │  engine: ", style="dim")
        line.append(self.app.engine_label, style="bold")
        if status not in ("ready",):
            line.append(f" ({status})", style="italic")
        line.append("  │  ", style="dim")
        line.append(PRIVACY_NOTE)
        self.update(line)
