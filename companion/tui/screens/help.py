"""`?`: what each screen is for and the keys that drive it."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

HELP_TEXT = """\
# companion

A private companion for listening well. Everything you type stays on this device; nothing goes online.

## Screens
| key | screen | what it is for |
|---|---|---|
| F2 | Reflect | Type what your partner said. The companion answers as a careful listener would, and shows the guidance it leaned on. |
| F3 | Rehearse | Practise a hard conversation with a simulated partner. A coach comments on each of your replies. |
| F4 | Guidance | Search the guidance as you type, read a section, add your own document. |
| F5 | Journal | What you saved and rehearsed, newest first. Open, export to Markdown, delete. |
| F6 | Models | The engine in use, installed models, downloads, GPU offload, the region for safety resources. |

## Keys
| key | does |
|---|---|
| ctrl+j | send (reflect, or reply in a rehearsal) |
| escape | stop the answer being written; your words go back in the box |
| ctrl+p | the command palette: every action by name |
| tab / shift+tab | move between parts of the screen |
| enter | open the selected item |
| ctrl+s | Reflect: save the reflection to your journal |
| ctrl+o / ctrl+t | Journal: export the session to Markdown / delete it |
| ctrl+n | Guidance: add a document · Rehearse: pick another scenario |
| ctrl+e | Rehearse: end and see the summary |
| ? or F1 | this help |
| ctrl+q | quit |

## If you are in danger
If what you type suggests someone may be hurt, the companion stops reflecting and shows who to call.
Set your region on the Models screen (F6) so the numbers fit where you live.
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark,f1", "close", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-dialog"):
            yield Markdown(HELP_TEXT)

    def action_close(self) -> None:
        self.dismiss(None)
