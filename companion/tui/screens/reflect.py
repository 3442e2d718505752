"""Reflect: type what your partner said, read a careful listener's reflection and the guidance behind it."""

from __future__ import annotations

import asyncio
import dataclasses

from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.widgets import Label, OptionList, Static
from textual.widgets.option_list import Option

from companion.errors import CompanionError
from companion.logs import get_logger
from companion.tui.screens.base import CompanionScreen, read_field
from companion.tui.streaming import FLUSH_SECONDS, GenerationCounter, TokenBuffer

log = get_logger("tui.reflect")

IDLE_HINT = "Type what your partner said, in their words, then press ctrl+j."


def citation_label(citation: dict) -> Text:
    """A citation ({"section": name, "source": file}, as Reflection.citations holds them) as an option's label."""
    heading, source = citation.get("section", ""), citation.get("source", "")
    label = Text(str(heading), style="bold")
    if source:
        label.append("\n")
        label.append(str(source), style="dim")
    return label


class StatementPlaceholder(Static, can_focus=True):
    """The statement box as the first frame draws it, until the real TextArea takes its place a moment later.

    TextArea is the costliest widget of the first frame (its import, its styles, its focus); this stand-in looks
    the same (an empty box, the cursor on its first line) and keeps whatever is typed or pasted before the swap,
    so nothing is lost.
    """

    COMPONENT_CLASSES = {"statement-placeholder--cursor", "statement-placeholder--cursor-line"}
    takes_typing = True  # keys typed elsewhere on the screen come here (CompanionScreen.on_key)

    def __init__(self, **kwargs) -> None:
        super().__init__("", markup=False, **kwargs)
        self.typed = ""

    def render(self) -> Content:
        if self.typed:
            return Content(self.typed)
        # The empty TextArea's first line: the cursor cell, then the cursor line's highlight.
        cursor = self.get_visual_style("statement-placeholder--cursor")
        line = self.get_visual_style("statement-placeholder--cursor-line")
        return Content.assemble((" ", cursor), (" " * max(self.content_size.width - 1, 0), line))

    def on_key(self, event: events.Key) -> None:
        if event.key == "enter":
            self.typed += "\n"
        elif event.key == "backspace":
            self.typed = self.typed[:-1]
        elif event.is_printable and event.character:
            self.typed += event.character
        else:
            return
        event.stop()
        event.prevent_default()
        self.refresh()

    def on_paste(self, event: events.Paste) -> None:
        event.stop()
        self.typed += event.text
        self.refresh()

    async def swap_for(self, area) -> None:
        """Put area (a TextArea made with self.typed) in this place, with the focus if this had it."""
        with self.app.batch_update():  # one repaint: the box never flickers or shifts
            await self.parent.mount(area, before=self)
            area.move_cursor(area.document.end)
            if self.has_focus or self.screen.focused is None:
                area.focus()
            await self.remove()


class ReflectScreen(CompanionScreen):
    # What collects the model's tokens for the screen (tests hold a stream mid-way with a subclass).
    token_buffer_class = TokenBuffer

    MODE = "reflect"
    BINDINGS = [
        Binding("ctrl+j", "reflect", "Reflect", priority=True, tooltip="reflect what your partner said"),
        Binding(
            "escape",
            "cancel",
            "Stop",
            show=True,
            tooltip="stop the reflection being written; your words go back in the box",
        ),
        Binding(
            "ctrl+g",
            "regenerate",
            "Again",
            priority=True,
            tooltip="another phrasing of the same words (the earlier ones stay under ctrl+o)",
        ),
        Binding("ctrl+o", "alternatives", "Other ways", priority=True, tooltip="list every phrasing so far"),
        Binding("ctrl+l", "copy_reflection", "Copy", priority=True, tooltip="copy the phrasing shown"),
        Binding(
            "ctrl+s", "save", "Save", priority=True, tooltip="keep the phrasing shown in your journal (F5)"
        ),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.generations = GenerationCounter()
        self.buffer: TokenBuffer | None = None  # the turn being generated, None when idle
        self.statement: str | None = None  # the statement being (or last) reflected
        self.result = None  # the last finished Reflection
        self.saved = False
        self.flushes = 0  # how many times streamed text reached the screen (batches, not tokens)
        self.citations: list = []
        self.phrasings: list[str] = []  # every phrasing of the current statement so far, in the order found
        self.shown = 0  # which of them is on screen
        self._again = False  # the reflection running is Again asking the model for a new draft
        self._listing = False  # the "Other ways to say it" list is open
        self._phrasing_note = ""  # what Again just did ("A new draft."), said beside the phrasing count

    def compose_body(self) -> ComposeResult:
        # The first frame: the question, the box (a stand-in until just after the paint) and the hint.
        with Vertical(id="reflect-main"):
            yield Label("What did your partner say?", id="statement-label")
            yield StatementPlaceholder(id="statement-placeholder")
            with VerticalScroll(id="reflection-panel", can_focus=False):
                yield Static(Text(IDLE_HINT, style="dim"), id="reflect-state")

    def compose_secondary(self):
        # Hidden or empty until a reflection starts, so they join after the first paint, below the hint.
        # The Markdown view of the reflection is mounted on first use, after #said (see _reflection_view).
        said, details, safety = (
            Static("", id="said"),
            Static("", id="reflection-details"),
            Static("", id="safety"),
        )
        said.display = safety.display = False
        # The cited-guidance panel (docked right) joins a frame after the input box, so the first paint stays light.
        side = Vertical(
            Label("Guidance it leaned on", id="citations-label"),
            OptionList(id="citations"),
            id="reflect-side",
        )
        return [
            ("#reflection-panel", said),
            ("#reflection-panel", details),
            ("#reflection-panel", safety),
            ("#reflect-main", side),
        ]

    async def swap_stand_ins(self) -> None:
        from textual.widgets import TextArea  # ~15 ms of imports the first frame does without

        stand_in = self.query_one(StatementPlaceholder)
        area = TextArea(
            stand_in.typed, id="statement", soft_wrap=True, show_line_numbers=False, tab_behavior="focus"
        )
        await stand_in.swap_for(area)

    def secondary_ready(self) -> None:
        self._show_citations(self.citations)

    def on_mount(self) -> None:
        self.query_one("#statement-placeholder").focus()

    def main_input(self):
        found = self.query("#statement") or self.query("#statement-placeholder")
        return found.first() if found else None

    # ---- state ---------------------------------------------------------------------------------
    @property
    def generating(self) -> bool:
        return self.buffer is not None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel":
            return self.generating  # hidden unless there is something to stop
        if action in ("alternatives", "copy_reflection", "save"):
            return True if self.result is not None and not self.generating else None
        if action == "regenerate":
            return True if self.statement else None
        return True

    def _set_state(self, message: str, style: str = "dim") -> None:
        state = self.query_one("#reflect-state", Static)
        state.update(Text(message, style=style))
        state.display = bool(message)

    async def _reflection_view(self):
        """The Markdown widget the reflection streams into, mounted the first time (markdown-it loads then)."""
        found = self.query("#reflection")
        if found:
            return found.first()
        from textual.widgets import Markdown

        markdown = Markdown("", id="reflection")
        await self.query_one("#reflection-panel").mount(markdown, after="#said")
        return markdown

    # ---- actions -------------------------------------------------------------------------------
    def action_reflect(self) -> None:
        if not self.query("#statement"):
            return  # the first instant: the box is still its stand-in
        # Keys typed just before ctrl+j (a priority key, acted on at once) may still wait in the box's queue:
        # read the box once they are in.
        self.query_one("#statement").call_later(self._reflect_typed)

    def _reflect_typed(self) -> None:
        area = self.query_one("#statement")
        statement = area.text
        if not statement.strip():
            self._set_state("There is nothing to reflect yet: type what your partner said first.", "italic")
            return
        area.clear()
        self._start(statement)

    def action_regenerate(self) -> None:
        """Another phrasing: the next one found, else a new draft from the model, else round to the first."""
        if not self.statement or self.generating:
            return
        if self.result is None or not self.phrasings:
            self._start(self.statement)  # nothing to choose from yet (stopped or failed): reflect afresh
            return
        if self.shown + 1 < len(self.phrasings):
            self._show_phrasing(self.shown + 1)
        elif read_field(self.result, "engine", "builtin") != "builtin":
            self._start(self.statement, again=True)  # a model answered: ask it for a new draft
        else:
            self._show_phrasing(0, note="Back to the first.")

    def _show_phrasing(self, index: int, note: str = "") -> None:
        self.shown = index
        self.saved = False  # a different phrasing can be kept too
        self.query_one("#reflection").update(self.phrasings[index])
        self._phrasing_note = note
        self._show_details(self.result, with_alternatives=self._listing)

    def _phrasing_line(self) -> str:
        """Under the reflection: which phrasing this is, when there are others (ctrl+g goes on, ctrl+o lists)."""
        if len(self.phrasings) < 2:
            return self._phrasing_note
        return f"{self._phrasing_note} Phrasing {self.shown + 1} of {len(self.phrasings)} · ctrl+g: another".strip()

    def _start(self, statement: str, again: bool = False) -> None:
        # A new request replaces the one in flight: its tokens and its result are dropped.
        if self.buffer is not None:
            self.buffer.cancel.set()
        buffer = self.token_buffer_class(self.generations.next())
        self.buffer = buffer
        self.statement = statement
        self.result = None
        self.saved = False
        self._again = again
        if not again:
            self.phrasings, self.shown = [], 0
        said = self.query_one("#said", Static)
        said.update(Text.assemble(("They said: ", "dim"), (statement, "italic")))
        said.display = True
        self.query_one("#reflection-details", Static).update("")
        self.query_one("#safety", Static).display = False
        self._show_citations([])
        self._set_state(
            "Listening… (esc stops)" if self.app.services is not None else "Loading the guidance… (esc stops)"
        )
        self.refresh_bindings()
        self.run_reflection(statement, buffer)
        self.show_reflection(buffer)

    def action_cancel(self) -> None:
        buffer = self.buffer
        if buffer is None:
            return
        buffer.cancel.set()
        self.generations.invalidate()
        self.buffer = None
        area = self.query_one("#statement")
        area.text = self.statement or ""
        area.focus()
        self.query_one("#said", Static).display = False
        self.clear_reflection()  # also stops the view of the cancelled turn (same exclusive group)
        self._set_state("Stopped. Your words are back in the box: change them or press ctrl+j.", "italic")
        self.refresh_bindings()

    # ---- the model's side: a thread that never touches the screen ----------------------------------
    @work(thread=True, exclusive=True, group="reflect", name="reflect")
    def run_reflection(self, statement: str, buffer: TokenBuffer) -> None:
        try:
            services = self.app.wait_for_services()
            buffer.result = services.reflection.reflect(
                statement, on_token=buffer.add, cancel=buffer.cancel, on_discard=buffer.discard
            )
        except CompanionError as exc:
            buffer.error = exc
        except Exception as exc:  # a bug below must not take the screen down, nor lose the statement
            log.exception("reflection failed")
            buffer.error = CompanionError(
                f"The reflection failed ({type(exc).__name__}).", kept="Your words are back in the box."
            )
        finally:
            buffer.finished.set()

    # ---- the screen's side: one task that shows what the thread produced, a batch every ~50 ms -------------
    @work(exclusive=True, group="reflect-view", name="show reflection")
    async def show_reflection(self, buffer: TokenBuffer) -> None:
        markdown = await self._reflection_view()
        markdown.display = True
        await markdown.update("")
        streamed, restarts_shown = "", 0
        # Append each batch to the Markdown document (it parses only the new lines), never re-render it all.
        while self.generations.is_current(buffer.generation):
            finished = buffer.finished.is_set()  # read before taking, so no token slips in between
            text, restarts = buffer.take()
            if restarts != restarts_shown:
                # The engine threw the draft away (it failed the checks): clear it before the next one.
                restarts_shown, streamed = restarts, ""
                await markdown.update("")
                self._set_state("Checking… trying again.")
            if text:
                if not streamed:
                    self._set_state("")
                streamed += text
                self.flushes += 1
                await markdown.append(text)
            if finished:
                break
            await asyncio.sleep(FLUSH_SECONDS)
        if not self.generations.is_current(buffer.generation):
            return  # cancelled or replaced: a stale turn never writes into the current one
        self.buffer = None
        if buffer.error is not None:
            self._reflection_failed(buffer.error)
        elif buffer.result is not None and not read_field(buffer.result, "cancelled", False):
            await self._reflection_done(buffer.result, streamed, markdown)
        self.refresh_bindings()

    @work(exclusive=True, group="reflect-view", name="clear reflection")
    async def clear_reflection(self) -> None:
        await (await self._reflection_view()).update("")

    def _reflection_failed(self, error: CompanionError) -> None:
        area = self.query_one("#statement")
        if not area.text.strip():
            area.text = self.statement or ""
        self._set_state(str(error), "bold red")

    async def _reflection_done(self, result, streamed: str, markdown) -> None:
        self._set_state("")
        safety = read_field(result, "safety")
        if safety and read_field(safety, "level") == "crisis":
            await self._show_safety(safety)
        else:
            final = str(read_field(result, "reflection", "") or "")
            if final.strip() != streamed.strip():
                # The checked reflection differs from what streamed (a retry or the built-in reflector spoke).
                await markdown.update(final)
            self._collect_phrasings(final, read_field(result, "alternatives", []) or [])
            self._show_details(result)
            self._show_citations(read_field(result, "citations", []) or [])
            if safety:
                self._show_safety_panel(safety)  # a check-in: under the reflection, not instead of it
        self.result = result

    async def _show_safety(self, safety) -> None:
        # A crisis takes over the panel: no paraphrase, no guidance list, just the message and who to call.
        (await self._reflection_view()).display = False
        self.query_one("#reflection-details", Static).update("")
        self._show_safety_panel(safety)
        self._show_citations([])

    def _show_safety_panel(self, safety) -> None:
        panel = self.query_one("#safety", Static)
        text = Text()
        text.append(str(read_field(safety, "message", "")), style="bold")
        resources = read_field(safety, "resources", []) or []
        if resources:
            text.append("\n\n")
            for resource in resources:
                text.append(f"• {resource}\n")
        panel.update(text)
        panel.display = True

    def _show_details(self, result, with_alternatives: bool = False) -> None:
        self._listing = with_alternatives
        details = Text()
        if self._phrasing_line():
            details.append(self._phrasing_line() + "\n", style="dim")
        feelings = read_field(result, "feelings", []) or []
        needs = read_field(result, "needs", []) or []
        if feelings:
            details.append("Feelings: ", style="dim")
            details.append(", ".join(map(str, feelings)) + "\n")
        if needs:
            details.append("Needs: ", style="dim")
            details.append(", ".join(map(str, needs)) + "\n")
        if with_alternatives:
            details.append("\nOther ways to say it:\n", style="bold")
            if len(self.phrasings) < 2:
                details.append("• (no other phrasing this time)\n")
            for index, phrasing in enumerate(self.phrasings if len(self.phrasings) > 1 else []):
                shown = index == self.shown
                details.append(f"{'▸' if shown else '•'} {phrasing}\n", style="bold" if shown else "")
        engine = read_field(result, "engine")
        if engine:
            answered = {"builtin": "the built-in reflector", "listener": "the listener"}.get(
                engine, "the model"
            )
            details.append(f"\nanswered by: {answered}", style="dim")
        notice = read_field(result, "notice")
        if notice:
            details.append(f"\n{notice}", style="italic")
        self.query_one("#reflection-details", Static).update(details)

    def _show_citations(self, citations) -> None:
        self.citations = list(citations)
        found = self.query("#citations")
        if not found:
            return  # not mounted yet: secondary_ready shows them
        options = found.first(OptionList)
        options.clear_options()
        for index, citation in enumerate(self.citations):
            options.add_option(Option(citation_label(citation), id=f"citation-{index}"))
        if self.citations:
            options.highlighted = 0  # enter opens the first without arrowing to it

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option_list.id != "citations":
            return
        self.open_cited_section(self.citations[event.option_index])  # find its section in the knowledge base

    @work(thread=True, exclusive=True, group="reflect-open", name="open cited section")
    def open_cited_section(self, citation: dict) -> None:
        from companion.listen.reflect import _citation
        from companion.tui.screens.section import SectionScreen

        name = str(citation.get("section", ""))
        source = str(citation.get("source", ""))
        try:
            sections = self.app.wait_for_services().knowledge.sections()
        except CompanionError as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="error", markup=False)
            return
        for section in sections:
            # The section the engine cited: same source file, and named as the engine names it.
            if (not source or str(section.source) == source) and _citation(section)["section"] == name:
                self.app.call_from_thread(self.app.push_screen, SectionScreen(section))
                return
        self.app.call_from_thread(self.notify, "That section is no longer in the guidance.", markup=False)

    def action_alternatives(self) -> None:
        if self.result is not None:
            self._show_details(self.result, with_alternatives=True)

    def _collect_phrasings(self, final: str, alternatives) -> None:
        """Add this answer's phrasings to those found so far; the one just given is shown."""
        new = final not in self.phrasings
        for phrasing in [final, *map(str, alternatives)]:
            if phrasing.strip() and phrasing not in self.phrasings:
                self.phrasings.append(phrasing)
        self.shown = self.phrasings.index(final) if final in self.phrasings else 0
        self._phrasing_note = (
            ("A new draft." if new else "The model said it the same way again.") if self._again else ""
        )
        self._again = False

    def shown_phrasing(self) -> str:
        if self.phrasings:
            return self.phrasings[self.shown]
        return str(read_field(self.result, "reflection", "") or "")

    def action_copy_reflection(self) -> None:
        if self.result is not None:
            self.app.copy_to_clipboard(self.shown_phrasing())
            self.notify("Copied the reflection.")

    def action_save(self) -> None:
        if self.result is not None and self.statement and not self.saved:
            result = self.result
            if dataclasses.is_dataclass(result) and self.shown_phrasing() != result.reflection:
                result = dataclasses.replace(result, reflection=self.shown_phrasing())  # keep what they chose
            self.save_to_journal(self.statement, result)

    @work(thread=True, group="journal", name="save reflection")
    def save_to_journal(self, statement: str, result) -> None:
        try:
            self.app.journal().save_reflection(statement, result)
        except CompanionError as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="error", markup=False)
            return
        self.saved = True
        self.app.call_from_thread(self.notify, "Saved to your journal (F5).")

    def palette_commands(self):
        return [
            ("Reflect", "Reflect what your partner said (ctrl+j)", lambda: self.run_action("reflect")),
            (
                "Reflect again",
                "Another phrasing of the same words (ctrl+g)",
                lambda: self.run_action("regenerate"),
            ),
            ("Other ways to say it", "Show alternative phrasings (ctrl+o)", self.action_alternatives),
            ("Copy the reflection", "Copy it to the clipboard (ctrl+l)", self.action_copy_reflection),
            ("Save to journal", "Keep this reflection in your journal (ctrl+s)", self.action_save),
            ("Stop", "Stop the reflection being written (esc)", lambda: self.run_action("cancel")),
        ]
