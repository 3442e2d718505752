"""F1: the keys of the screen it was opened from (read from that screen's bindings, so it cannot drift), then what
each screen is for. Esc closes it."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.dom import DOMNode
from textual.screen import ModalScreen
from textual.widgets import Footer, Markdown, Static

CLOSE_HINT = "Esc closes this help."

# How keys are written for a person: "ctrl+j" is "Ctrl+J", "escape" is "Esc".
_KEY_NAMES = {"escape": "Esc", "question_mark": "?", "pageup": "Page Up", "pagedown": "Page Down"}

# Keys that work the same on every screen but belong to widgets, not bindings we declare.
MOVING_AROUND = (
    ("Tab / Shift+Tab", "move between the parts of the screen"),
    ("Enter", "open or pick the highlighted item in a list"),
)

ABOUT = """\
## Screens
| key | screen | what it is for |
|---|---|---|
| F2 | Reflect | Type what your partner said. The companion answers as a careful listener would, and shows the guidance it leaned on. |
| F3 | Rehearse | Practise a hard conversation with a simulated partner. A coach comments on each of your replies. |
| F4 | Guidance | Search the guidance as you type, read a section, add your own document. |
| F5 | Journal | What you saved and rehearsed, newest first. Open, export to Markdown, delete. |
| F6 | Models | The engine in use, installed models, downloads, GPU offload, the region for safety resources. |

Everything you type stays on this device; nothing goes online.

## If you are in danger
If what you type suggests someone may be hurt, the companion stops reflecting and shows who to call.
Set your region on the Models screen (F6) so the numbers fit where you live.
"""


def key_label(key: str) -> str:
    """One key as a person writes it: "ctrl+shift+a" -> "Ctrl+Shift+A", "f1" -> "F1"."""
    parts = []
    for part in key.split("+"):
        if part in _KEY_NAMES:
            parts.append(_KEY_NAMES[part])
        elif len(part) == 1 or (part[:1] == "f" and part[1:].isdigit()):
            parts.append(part.upper())
        else:
            parts.append(part.capitalize())
    return "+".join(parts)


def declared_bindings(node: DOMNode) -> list[Binding]:
    """The bindings companion's own classes declare for node, the most specific class first. Textual's generic
    ones (Tab to move, Ctrl+C to copy) are left to the "Keys everywhere" rows."""
    found: list[Binding] = []
    for cls in type(node).__mro__:
        if not cls.__module__.startswith("companion.") or "BINDINGS" not in cls.__dict__:
            continue
        for binding in cls.__dict__["BINDINGS"]:
            found.append(binding if isinstance(binding, Binding) else Binding(*binding))
    return found


def binding_rows(node: DOMNode) -> list[tuple[str, str]]:
    """(keys, what they do) for each action bound on node, in the order declared; keys for one action joined."""
    rows: dict[str, tuple[list[str], str]] = {}
    for binding in declared_bindings(node):
        if not (binding.description or binding.tooltip):
            continue
        keys, _ = rows.setdefault(binding.action, ([], _what(binding)))
        for key in binding.key.split(","):
            label = key_label(key.strip())
            if label not in keys:
                keys.append(label)
    return [(" or ".join(keys), what) for keys, what in rows.values()]


def _what(binding: Binding) -> str:
    if binding.tooltip and binding.description:
        return f"**{binding.description}**: {binding.tooltip}"
    return binding.description or binding.tooltip or ""


def _table(rows: list[tuple[str, str]]) -> str:
    lines = ["| key | does |", "|---|---|"]
    lines += [f"| {keys} | {what} |" for keys, what in rows]
    return "\n".join(lines)


def help_markdown(origin: DOMNode | None, app_node: DOMNode) -> str:
    """The help text for a screen: its own keys first, then the keys that work everywhere, then the screens."""
    parts = []
    rows = binding_rows(origin) if origin is not None else []
    if rows:
        title = type(origin).__name__.removesuffix("Screen")
        parts += [f"## Keys on the {title} screen", _table(rows), ""]
    everywhere = [
        *binding_rows(app_node),
        ("Ctrl+P", "the command palette: every action by name"),
        *MOVING_AROUND,
    ]
    parts += ["## Keys everywhere", _table(everywhere), "", ABOUT]
    return "\n".join(parts)


class HelpScreen(ModalScreen[None]):
    """Opened over a screen; `origin` is that screen, whose keys are listed first."""

    BINDINGS = [Binding("escape,q,f1", "close", "Close help", key_display="Esc")]

    def __init__(self, origin: DOMNode | None = None) -> None:
        super().__init__()
        self.origin = origin
        self.text = help_markdown(origin, self.app)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-dialog"):
            yield Static(CLOSE_HINT, id="help-close")
            yield Markdown(self.text, id="help-text")
        yield Footer()

    def action_close(self) -> None:
        self.dismiss(None)
