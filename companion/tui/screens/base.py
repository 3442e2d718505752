"""What every main screen shares: the status line on top, the footer with its keys below."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import Screen

from companion.tui.widgets.status import NavLine, StatusLine

# The stylesheets live beside app.tcss; each screen loads its own when first shown.
STYLES = Path(__file__).resolve().parent.parent


def read_field(obj, name: str, default=None):
    """A field of a service result, whether it is a dataclass or a dict (JSON-shaped results)."""
    if obj is None:
        return default
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


class CompanionScreen(Screen):
    """A main screen: status line, the screen's own body, footer."""

    MODE = ""

    def compose(self) -> ComposeResult:
        with Vertical(id="top-bar"):
            yield StatusLine(id="status-line")
            yield NavLine(self.MODE, id="nav-line")
        yield from self.compose_body()

    def compose_body(self) -> ComposeResult:
        yield from ()

    def compose_secondary(self) -> Iterable:
        """Widgets that may appear a frame after the first paint (side panels); mounted by mount_secondary."""
        return ()

    # True once the secondary widgets and the footer are all mounted.
    secondary_mounted = False
    _secondary_started = False

    async def on_mount(self) -> None:
        # The first screen of the run paints its input first and the rest right after (see CompanionApp.on_ready).
        if getattr(self.app, "first_paint_seconds", 0) is not None:
            await self.mount_secondary()

    async def mount_secondary(self) -> None:
        if self._secondary_started:
            return
        self._secondary_started = True
        await self.swap_stand_ins()
        for parent_id, widget in self.compose_secondary():
            await (self.query_one(parent_id) if parent_id else self).mount(widget)
        from textual.widgets import Footer  # imported here: the first frame has no footer

        await self.mount(Footer())
        self.refresh_bindings()  # a footer mounted late has missed the first bindings signal
        self.secondary_mounted = True
        self.secondary_ready()

    async def swap_stand_ins(self) -> None:
        """Put the real widgets in place of the first frame's light stand-ins; the first step of mount_secondary."""

    def secondary_ready(self) -> None:
        """Called once the secondary widgets are mounted."""

    def palette_commands(self) -> Iterable[tuple[str, str, Callable[[], object]]]:
        """(title, help, callback) for the command palette: every action of this screen."""
        return []
