"""What every main screen shares: the status line on top, the footer with its keys below."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from textual import events
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import Screen
from textual.widget import Widget

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


def _is_text_input(widget: Widget) -> bool:
    from textual.widgets import Input, TextArea  # loaded by the time a key arrives; kept off the first frame

    return isinstance(widget, Input | TextArea)


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

    # ---- focus: the screen's main input has it whenever the screen is shown ----------------------------------
    _covered_by_modal = False

    def main_input(self) -> Widget | None:
        """The widget a person types into on this screen (None: the screen has no one place for typing)."""
        return None

    def focus_main_input(self) -> None:
        target = self.main_input()
        if target is not None and target.display and target.focusable:
            target.focus()

    def on_screen_suspend(self) -> None:
        from textual.screen import ModalScreen

        # A dialog over this screen (a section, help, a question): on its close the focus stays where it was.
        self._covered_by_modal = isinstance(self.app.screen, ModalScreen)

    def on_screen_resume(self) -> None:
        back_from_dialog, self._covered_by_modal = self._covered_by_modal, False
        if not (back_from_dialog and self.focused is not None):
            self.focus_main_input()

    def on_key(self, event: events.Key) -> None:
        """A printable key that nothing here takes (the focus is on a list, or nowhere) goes to the main input."""
        if not (event.is_printable and event.character) or event.key in self.active_bindings:
            return
        target = self.main_input()
        if (
            target is None
            or target is self.focused
            or not getattr(target, "takes_typing", _is_text_input(target))
        ):
            return
        if not target.display:
            return
        event.stop()
        event.prevent_default()
        target.focus()
        target.post_message(events.Key(event.key, event.character))  # typed into it as if it had the focus

    def palette_commands(self) -> Iterable[tuple[str, str, Callable[[], object]]]:
        """(title, help, callback) for the command palette: every action of this screen."""
        return []
