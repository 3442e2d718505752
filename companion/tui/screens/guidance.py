"""Guidance: search the guidance as you type, read a section whole, add your own document."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, ProgressBar, Static
from textual.widgets.option_list import Option

from companion.errors import CompanionError
from companion.logs import get_logger
from companion.tui.screens.base import STYLES, CompanionScreen, read_field
from companion.tui.screens.section import SectionScreen, section_title

log = get_logger("tui.guidance")

SEARCH_DEBOUNCE_SECONDS = 0.3
RESULTS = 8
SNIPPET_CHARS = 180


def snippet(text: str, terms: tuple[str, ...]) -> str:
    """The part of a section around its first matching word, on one line."""
    flat = " ".join(text.split())
    lowered = flat.casefold()
    starts = [lowered.find(term.casefold()) for term in terms if term and term.casefold() in lowered]
    start = max(0, min(starts) - 40) if starts else 0
    piece = flat[start : start + SNIPPET_CHARS]
    return ("…" if start else "") + piece + ("…" if start + SNIPPET_CHARS < len(flat) else "")


def hit_label(hit) -> Text:
    section = read_field(hit, "section", hit)
    terms = tuple(read_field(hit, "matched_terms", ()) or ())
    label = section_title(section)
    source = read_field(section, "source", "")
    if source:
        label.append(f"  {source}", style="dim")
    body = Text(snippet(str(read_field(section, "text", "")), terms))
    if terms:
        body.highlight_words([t for t in terms if t.strip()], style="bold reverse", case_sensitive=False)
    label.append("\n")
    label.append_text(body)
    return label


class AddDocumentScreen(ModalScreen[Path | None]):
    """Ask for the path of a text or Markdown document to add to the guidance."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(id="add-dialog"):
            # A Static wraps to the dialog's width; a Label keeps one line and cuts the end off.
            yield Static(
                "Add a document to the guidance (.txt or .md). It is copied into your data folder, "
                "so the guidance can always be rebuilt.",
                id="add-help",
            )
            yield Input(placeholder="/path/to/document.md", id="document-path")
            with Horizontal(id="add-buttons"):
                yield Button("Add", id="add", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#document-path", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "add":
            self._submit()
        else:
            self.dismiss(None)

    def _submit(self) -> None:
        value = self.query_one("#document-path", Input).value.strip()
        if not value:
            self.notify("Type the path of a document first.")
            return
        self.dismiss(Path(value).expanduser())

    def action_cancel(self) -> None:
        self.dismiss(None)


class GuidanceScreen(CompanionScreen):
    MODE = "guidance"
    CSS_PATH = STYLES / "guidance.tcss"
    BINDINGS = [
        Binding("ctrl+f", "focus_search", "Search", tooltip="put the cursor in the search box"),
        Binding("ctrl+n", "add_document", "Add document", tooltip="add your own .txt or .md to the guidance"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.hits: list = []
        self.searches_run = 0  # searches that reached the index (debounced keystrokes do not count)
        self._debounce = None
        self.hits_query: str | None = None  # the search the results on screen answer
        self._open_when_found = False  # enter was pressed before the results came: open the first

    def compose_body(self) -> ComposeResult:
        yield Input(placeholder="Search the guidance… (e.g. feeling unheard)", id="guidance-search")
        yield Static(Text("Type to search. Enter on a result opens it.", style="dim"), id="guidance-state")
        with Horizontal(id="add-progress-row"):
            yield Label("", id="add-stage")
            yield ProgressBar(total=3, show_eta=False, id="add-progress")
        yield OptionList(id="results")

    def on_mount(self) -> None:
        self.query_one("#add-progress-row").display = False
        self.query_one("#guidance-search", Input).focus()

    def action_focus_search(self) -> None:
        self.query_one("#guidance-search", Input).focus()

    def main_input(self):
        return self.query_one("#guidance-search", Input)

    # ---- search ----------------------------------------------------------------------------------
    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id != "guidance-search":
            return
        self._open_when_found = False  # an enter before this key was for the words before it
        # Wait for a pause in typing: one search per pause, not one per key.
        if self._debounce is not None:
            self._debounce.stop()
        self._debounce = self.set_timer(SEARCH_DEBOUNCE_SECONDS, self._search_now)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "guidance-search":
            if self._debounce is not None:
                self._debounce.stop()
            results = self.query_one("#results", OptionList)
            results.focus()  # so up, down and enter go on from here once the section is closed
            if self.hits and self.hits_query == event.value:
                self._open_hit(results.highlighted or 0)  # one enter opens the result shown first
                return
            self._open_when_found = bool(event.value.strip())
            self._search_now()

    def _search_now(self) -> None:
        query = self.query_one("#guidance-search", Input).value
        if not query.strip():
            self.hits = []
            self.query_one("#results", OptionList).clear_options()
            self._state("Type to search. Enter on a result opens it.")
            return
        if self.app.services is None:
            self._state("Loading the guidance… results will appear in a moment.")
        self.search(query)

    def _state(self, message: str, style: str = "dim") -> None:
        self.query_one("#guidance-state", Static).update(Text(message, style=style))

    @work(thread=True, exclusive=True, group="guidance-search", name="search guidance")
    def search(self, query: str) -> None:
        try:
            services = self.app.wait_for_services()
            if services.index is None:
                problem = services.problems.get("embedder", "The guidance index is not available.")
                self.app.call_from_thread(self._state, problem, "bold red")
                return
            from companion.guidance.index import split_within

            text, within = split_within(query)  # "in:mine …", "in:bundled …" or "in:NAME …" limits the search
            hits = services.index.search(text, k=RESULTS, within=within)
        except CompanionError as exc:
            self.app.call_from_thread(self._state, str(exc), "bold red")
            return
        self.app.call_from_thread(self._show_hits, query, hits)

    def _show_hits(self, query: str, hits) -> None:
        if query != self.query_one("#guidance-search", Input).value:
            return  # the person typed on: a newer search is coming
        self.searches_run += 1
        self.hits = list(hits)
        self.hits_query = query
        options = self.query_one("#results", OptionList)
        options.clear_options()
        for index, hit in enumerate(self.hits):
            options.add_option(Option(hit_label(hit), id=f"hit-{index}"))
        if self.hits:
            options.highlighted = 0
        count = len(self.hits)
        self._state(
            f"{count} section{'s' if count != 1 else ''} found." if count else "Nothing matches that yet."
        )
        if self._open_when_found:
            self._open_when_found = False
            if self.hits:
                self._open_hit(0)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option_list.id != "results":
            return
        self._open_hit(event.option_index)

    def _open_hit(self, index: int) -> None:
        hit = self.hits[index]
        terms = tuple(read_field(hit, "matched_terms", ()) or ())
        self.app.push_screen(SectionScreen(read_field(hit, "section", hit), highlight=terms))

    # ---- adding a document ---------------------------------------------------------------------------
    def action_add_document(self) -> None:
        def chosen(path: Path | None) -> None:
            if path is not None:
                self.add_document(path)

        self.app.push_screen(AddDocumentScreen(), chosen)

    def _progress(self, step: int, stage: str) -> None:
        self.query_one("#add-progress-row").display = True
        self.query_one("#add-stage", Label).update(Text(stage))
        self.query_one("#add-progress", ProgressBar).update(progress=step)

    @work(thread=True, exclusive=True, group="guidance-add", name="add document")
    def add_document(self, path: Path) -> None:
        call = self.app.call_from_thread
        call(self._progress, 0, f"Reading {path.name}…")
        try:
            services = self.app.wait_for_services()
            added = services.knowledge.add_document(path)
            call(self._progress, 1, "Splitting into sections…")
            sections = services.knowledge.sections()
            call(self._progress, 2, "Indexing (embedding the new sections)…")
            if services.index is not None:
                services.index.refresh(sections)
        except CompanionError as exc:
            call(self._add_failed, exc)
            return
        call(self._add_done, path, added)

    def _add_failed(self, error: CompanionError) -> None:
        self.query_one("#add-progress-row").display = False
        self._state(str(error), "bold red")

    def _add_done(self, path: Path, added) -> None:
        self._progress(3, f"Added {path.name}.")
        count = len(added.sections)  # added: the Document that knowledge.add_document returned
        detail = f" ({count} section{'' if count == 1 else 's'})" if count else ""
        self.notify(f"Added {path.name}{detail}: it is searchable now.", markup=False)
        self.set_timer(2.0, self._hide_progress)
        if self.query_one("#guidance-search", Input).value.strip():
            self._search_now()

    def _hide_progress(self) -> None:
        self.query_one("#add-progress-row").display = False

    def palette_commands(self):
        return [
            ("Search the guidance", "Put the cursor in the search box (ctrl+f)", self.action_focus_search),
            ("Add a document", "Add your own .txt or .md to the guidance (ctrl+n)", self.action_add_document),
        ]
