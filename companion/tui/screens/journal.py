"""Journal: what you saved and rehearsed, newest first; search, open, export to Markdown, delete."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from companion.config import write_private_text
from companion.errors import CompanionError
from companion.timefmt import when
from companion.tui.screens.base import STYLES, CompanionScreen, read_field
from companion.tui.screens.confirm import ConfirmScreen

SEARCH_DEBOUNCE_SECONDS = 0.25


def session_label(info) -> Text:
    kind = str(read_field(info, "kind", "") or "").capitalize()
    scenario = read_field(info, "scenario")
    started = when(read_field(info, "started"))
    label = Text(kind or "Session", style="bold")
    if scenario:
        label.append(f" · {scenario}")
    label.append(f"  {started}", style="dim")
    preview = str(read_field(info, "preview", "") or "")
    if preview:
        label.append("\n")
        label.append(preview, style="italic")
    return label


def session_text(session) -> Text:
    """A whole session as plain text: what was typed is shown as typed, never as markup."""
    # Loaded already: the session came from the journal.
    from companion.store.journal import speaker_label, summary_text

    text = Text()
    kind = str(read_field(session, "kind", "") or "").capitalize()
    text.append(f"{kind} session {read_field(session, 'id')}", style="bold")
    scenario = read_field(session, "scenario")
    if scenario:
        text.append(f" · {scenario}")
    text.append(f"\n{when(read_field(session, 'started'))}\n\n", style="dim")
    for turn in read_field(session, "turns", ()) or ():
        speaker = str(read_field(turn, "speaker", ""))
        text.append(f"{speaker_label(speaker)}: ", style="bold")
        text.append(str(read_field(turn, "text", "")) + "\n")
        coach = read_field(turn, "coach")
        tip = read_field(coach, "tip") if coach else None
        if tip:
            text.append(f"  coach: {tip}\n", style="italic")
        citations = read_field(turn, "citations") or []
        if citations:
            names = [str(read_field(c, "section", c) if not isinstance(c, str) else c) for c in citations]
            text.append(f"  guidance: {'; '.join(names)}\n", style="dim")
        text.append("\n")
    summary = summary_text(read_field(session, "summary"))
    if summary:
        text.append(summary + "\n")  # a rehearsal's summary as the Rehearse screen showed it
    return text


class JournalScreen(CompanionScreen):
    MODE = "journal"
    CSS_PATH = STYLES / "journal.tcss"
    BINDINGS = [
        # Priority: the search box would otherwise take these keys for its own editing.
        Binding(
            "ctrl+o",
            "export",
            "Export .md",
            priority=True,
            tooltip="write the opened session to a Markdown file in the data folder's exports/",
        ),
        Binding(
            "ctrl+t",
            "delete",
            "Delete",
            priority=True,
            tooltip="delete the opened session for good (asks first)",
        ),
        Binding("delete", "delete", "Delete", show=False),
        Binding("ctrl+r", "reload", "Reload", priority=True, tooltip="read the journal again"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.sessions: list = []
        self.opened = None
        self._debounce = None

    def compose_body(self) -> ComposeResult:
        yield Input(placeholder="Search your journal…", id="journal-search")
        with Horizontal(id="journal-main"):
            yield OptionList(id="sessions")
            with VerticalScroll(id="session-detail"):
                yield Static(
                    Text("Nothing opened yet: pick a session and press enter.", style="dim"),
                    id="session-text",
                )

    def on_screen_resume(self) -> None:
        self.action_reload()

    def main_input(self):
        return self.query_one("#journal-search", Input)

    def action_reload(self) -> None:
        self.load_sessions(self.query_one("#journal-search", Input).value)

    def on_input_changed(self, event: Input.Changed) -> None:
        if self._debounce is not None:
            self._debounce.stop()
        self._debounce = self.set_timer(SEARCH_DEBOUNCE_SECONDS, self.action_reload)

    @work(thread=True, exclusive=True, group="journal-list", name="list journal")
    def load_sessions(self, query: str) -> None:
        try:
            journal = self.app.journal()
            sessions = journal.list_sessions(query=query.strip() or None)
        except CompanionError as exc:
            self.app.call_from_thread(self._show_error, exc)
            return
        # A journal kept aside as damaged (and what was recovered) is said once, as the CLI says it on stderr.
        while journal.notices:
            notice = journal.notices.pop(0)
            self.app.call_from_thread(self.notify, notice, severity="warning", timeout=20, markup=False)
        self.app.call_from_thread(self._show_sessions, sessions)

    def _show_error(self, error: CompanionError) -> None:
        self.query_one("#session-text", Static).update(Text(str(error), style="bold red"))

    def _show_sessions(self, sessions) -> None:
        self.sessions = list(sessions)
        options = self.query_one("#sessions", OptionList)
        options.clear_options()
        for info in self.sessions:
            options.add_option(Option(session_label(info), id=f"session-{read_field(info, 'id')}"))
        if self.sessions:
            options.highlighted = 0
        if not self.sessions:
            query = self.query_one("#journal-search", Input).value.strip()
            message = (
                "No session matches that search."
                if query
                else "Your journal is empty: save a reflection (ctrl+s) or rehearse."
            )
            self.query_one("#session-text", Static).update(Text(message, style="dim"))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        info = self.sessions[event.option_index]
        self.open_session(read_field(info, "id"))

    @work(thread=True, exclusive=True, group="journal-open", name="open session")
    def open_session(self, session_id: int) -> None:
        try:
            session = self.app.journal().get_session(session_id)
        except CompanionError as exc:
            self.app.call_from_thread(self._show_error, exc)
            return
        self.app.call_from_thread(self._show_session, session)

    def _show_session(self, session) -> None:
        self.opened = session
        self.query_one("#session-text", Static).update(session_text(session))

    def _selected_id(self) -> int | None:
        if self.opened is not None:
            return read_field(self.opened, "id")
        options = self.query_one("#sessions", OptionList)
        if options.highlighted is not None and options.highlighted < len(self.sessions):
            return read_field(self.sessions[options.highlighted], "id")
        return None

    def action_export(self) -> None:
        session_id = self._selected_id()
        if session_id is None:
            self.notify("Pick a session to export first.")
            return
        self.export_session(session_id)

    @work(thread=True, group="journal-export", name="export session")
    def export_session(self, session_id: int) -> None:
        try:
            markdown = self.app.journal().export([session_id], format="md")
            target = self.app.settings.home / "exports" / f"journal-session-{session_id}.md"
            write_private_text(target, markdown)
        except CompanionError as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="error", markup=False)
            return
        except OSError as exc:
            message = f"The export could not be written ({exc.strerror}). The journal is unchanged."
            self.app.call_from_thread(self.notify, message, severity="error", markup=False)
            return
        self.last_export = target
        self.app.call_from_thread(self.notify, f"Exported to {target}", markup=False)

    def action_delete(self) -> None:
        session_id = self._selected_id()
        if session_id is None:
            self.notify("Pick a session to delete first.")
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.delete_session(session_id)

        self.app.push_screen(ConfirmScreen(f"Delete journal session {session_id} for good?"), confirmed)

    @work(thread=True, group="journal-delete", name="delete session")
    def delete_session(self, session_id: int) -> None:
        try:
            self.app.journal().delete_session(session_id)
        except CompanionError as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="error", markup=False)
            return
        self.app.call_from_thread(self._after_delete, session_id)

    def _after_delete(self, session_id: int) -> None:
        self.opened = None
        self.query_one("#session-text", Static).update(Text(f"Session {session_id} deleted.", style="dim"))
        self.notify(f"Deleted session {session_id}.")
        self.action_reload()

    def palette_commands(self):
        return [
            (
                "Search the journal",
                "Type to filter sessions",
                lambda: self.query_one("#journal-search").focus(),
            ),
            (
                "Export session to Markdown",
                "Write the opened session to a Markdown file (ctrl+o)",
                self.action_export,
            ),
            ("Delete session", "Delete the opened session for good (ctrl+t)", self.action_delete),
            ("Reload journal", "Read the journal again (ctrl+r)", self.action_reload),
        ]
