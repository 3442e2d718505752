"""The top of every screen: which engine answers and that nothing leaves the device, then the screens by key."""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual.content import Content
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Static

from companion.tui.labels import PRIVACY_NOTE

# The privacy note where the full one leaves no room for what the services are doing.
PRIVACY_SHORT = "offline"

# (mode, key, label) in the order the nav line shows them.
NAVIGATION = (
    ("reflect", "F2", "Reflect"),
    ("rehearse", "F3", "Rehearse"),
    ("guidance", "F4", "Guidance"),
    ("journal", "F5", "Journal"),
    ("models", "F6", "Models"),
)


class StatusLine(Widget):
    """`companion │ engine: … (loading…)` on the left, `offline · stored on this device` on the right.

    One widget draws both parts, as a row of two padded Statics would (the left one taking the width the right
    one leaves, wrapping rather than spilling): it is in every first frame, where each widget costs.
    """

    COMPONENT_CLASSES = {"status-line--privacy"}

    def on_mount(self) -> None:
        self.watch(self.app, "engine_label", self._refresh_line, init=False)
        self.watch(self.app, "services_status", self._refresh_line, init=False)
        self.watch(self.app, "privacy_note", self._refresh_line, init=False)

    def _refresh_line(self, _value: object = None) -> None:
        self.refresh()

    def render_line(self, y: int) -> Strip:
        left, right = self._parts()
        blank = Style(bgcolor=self.rich_style.bgcolor)  # padding: the bar's background, no text
        # One cell of padding either side of each part; the left part gets what the right one leaves.
        left_width = max(self.size.width - right.cell_length - 4, 0)
        shown = left.wrap(left_width)[0] if left_width else Content("")
        segments = [
            Segment(" ", blank),
            *shown.render_segments(self.visual_style),
            Segment(" " * (left_width - shown.cell_length + 2), blank),
            *right.render_segments(self.get_visual_style("status-line--privacy")),
            Segment(" ", blank),
        ]
        return Strip(segments).crop(0, self.size.width)

    def _parts(self) -> tuple[Content, Content]:
        """The fullest line that fits: with the engine; without it while the services load (a progress line such as
        "Preparing the guidance for search: 12 of 47 sections" matters more then); then with a shorter note."""
        status = self.app.services_status
        name = ("companion", "bold")
        full = Content.assemble(name, (" │ engine: ", "dim"), (self.app.engine_label, "bold"))
        if status == "ready":
            return full, Content(
                self.app.privacy_note
            )  # cut at the edge if it must: the engine's name is the news
        candidates = [
            Content.assemble(full, (f" · {status}", "italic")),
            Content.assemble(name, (" │ ", "dim"), (status, "italic")),
            Content(status).stylize("italic"),
        ]
        note = self.app.privacy_note
        short = (
            PRIVACY_SHORT if note == PRIVACY_NOTE else note
        )  # never "offline" when a model is on another machine
        for right in (Content(note), Content(short)):
            for left in candidates:
                if left.cell_length <= self.size.width - right.cell_length - 4:
                    return left, right
        return candidates[-1], Content(short)  # cut at the edge: a very narrow terminal


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
        parts.append(Content.from_markup("[@click=app.help]F1 Help[/]"))
        self.update(Content("  ").join(parts))
