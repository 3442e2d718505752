"""Read one guidance section whole, in a modal over the screen that cited or found it."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from companion.tui.screens.base import read_field


def section_title(section) -> Text:
    """The section's heading path as plain text ("Active listening › Reflecting feelings")."""
    path = read_field(section, "heading_path") or ()
    heading = read_field(section, "heading") or ""
    parts = [str(p) for p in path if p] or [str(heading or "Untitled section")]
    return Text(" › ".join(parts), style="bold")


def reflow(text: str) -> str:
    """Join the hard-wrapped lines of each paragraph, so the terminal wraps them to its own width."""
    paragraphs = []
    for block in text.split("\n\n"):
        lines = [line.strip() for line in block.splitlines() if line.strip()]
        merged: list[str] = []
        for line in lines:
            # List items and quotes start their own line; anything else continues the paragraph.
            if merged and not line.startswith(("-", "*", ">", "|")) and not line[:1].isdigit():
                merged[-1] += " " + line
            else:
                merged.append(line)
        paragraphs.append("\n".join(merged))
    return "\n\n".join(paragraphs)


class SectionScreen(ModalScreen[None]):
    """A guidance section's full text. Document text is shown as text, never as markup."""

    BINDINGS = [
        Binding("escape,q", "close", "Close"),
        Binding("c", "copy", "Copy"),
    ]

    def __init__(self, section, highlight: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.section = section
        self.highlight = tuple(highlight)

    def compose(self) -> ComposeResult:
        with Vertical(id="section-dialog"):
            yield Static(section_title(self.section), id="section-heading")
            source = str(read_field(self.section, "source") or "")
            yield Static(Text(f"from {source}" if source else "", style="dim"), id="section-source")
            body = Text(reflow(str(read_field(self.section, "text") or "")))
            for term in self.highlight:
                if term.strip():
                    body.highlight_words([term], style="reverse", case_sensitive=False)
            with VerticalScroll(id="section-body"):
                yield Static(body, id="section-text")
            yield Footer()

    def action_close(self) -> None:
        self.dismiss(None)

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(str(read_field(self.section, "text") or ""))
        self.notify("Copied the section.")
