"""Pilot tests of every screen, with the real services: the tiny GGUF models, a real Chroma index, a real journal."""

from __future__ import annotations

import shutil
import threading

import pytest
from textual import events
from textual.widgets import Input, OptionList, Select, Static, TextArea
from tui_pilot import MAX_STEPS, open_screen, wait_until

from companion.config import Settings
from companion.listen.reflector import BuiltinReflector
from companion.tui.app import CompanionApp
from companion.tui.streaming import TokenBuffer

pytestmark = pytest.mark.asyncio

SIZE = (100, 30)


@pytest.fixture
def settings(companion_home, tiny_chat_model, tiny_embed_model, tiny_guidance_index) -> Settings:
    shutil.copytree(tiny_guidance_index, companion_home / "index")
    return Settings.load().with_changes(chat_model=tiny_chat_model, embed_model=tiny_embed_model)


@pytest.fixture
def coached_settings(companion_home, tiny_chat_model, minilm_model) -> Settings:
    """The coach reads MiniLM's vectors; rehearsal needs no guidance index, so none is built."""
    return Settings.load().with_changes(
        chat_model=tiny_chat_model, embed_model=minilm_model, knowledge_dirs=()
    )


async def ready(pilot) -> None:
    app = pilot.app
    await wait_until(pilot, lambda: app.services_status in ("ready", "unavailable"), "the services to load")
    assert app.services_status == "ready", app.services_error
    await wait_until(pilot, lambda: getattr(app.screen, "secondary_mounted", True), "the side panels")


def plain(widget: Static) -> str:
    """What a Static shows, as plain text."""
    rendered = widget.render()
    return getattr(rendered, "plain", str(rendered))


async def reflect(pilot, statement: str) -> None:
    screen = pilot.app.screen
    screen.query_one("#statement", TextArea).text = statement
    await pilot.press("ctrl+j")
    await wait_until(pilot, lambda: screen.result is not None, "the reflection")


# ---- Reflect -----------------------------------------------------------------------------------------------
async def test_reflect_shows_a_reflection_its_citations_and_opens_a_section(settings):
    app = CompanionApp(settings)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert app.engine_label == "tiny-chat"
        screen = app.screen
        await reflect(pilot, "You never make time for me anymore.")
        markdown = screen.query_one("#reflection")
        assert markdown.source.strip() == screen.result.reflection.strip()
        assert screen.result.reflection.strip()
        citations = screen.query_one("#citations", OptionList)
        assert citations.option_count == len(screen.result.citations) > 0
        details = plain(screen.query_one("#reflection-details", Static))
        assert "Feelings:" in details
        # Open the first cited section and read it whole.
        citations.focus()
        citations.highlighted = 0
        await pilot.press("enter")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "SectionScreen", "the section to open")
        section_text = plain(app.screen.query_one("#section-text", Static))
        assert section_text.split() == app.screen.section.text.split() != []  # all of it, reflowed
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is screen, "the section to close")
        # Alternatives appear on request.
        await pilot.press("ctrl+o")
        assert "Other ways to say it" in plain(screen.query_one("#reflection-details", Static))


class PausedStream(TokenBuffer):
    """Pauses the model at its first token until the test lets it go on."""

    first_token = threading.Event()
    release = threading.Event()

    def add(self, token: str) -> None:
        super().add(token)
        type(self).first_token.set()
        type(self).release.wait(timeout=120)


async def test_tokens_reach_the_screen_in_batches_not_one_refresh_per_token(settings):
    app = CompanionApp(settings)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = app.screen
        PausedStream.first_token.clear()
        PausedStream.release.clear()
        screen.token_buffer_class = PausedStream
        screen.query_one("#statement", TextArea).text = "You never make time for me anymore."
        await pilot.press("ctrl+j")
        buffer = screen.buffer
        await wait_until(pilot, PausedStream.first_token.is_set, "the model to start streaming")
        # Let the model go on while the UI thread is held: every token it sends meanwhile must land in one batch.
        PausedStream.release.set()
        for _ in range(MAX_STEPS):
            if buffer.tokens_received >= 4 or buffer.finished.is_set():
                break
            threading.Event().wait(0.01)  # blocks the event loop on purpose: no flush can run meanwhile
        await wait_until(pilot, lambda: screen.result is not None, "the reflection")
        assert buffer.tokens_received >= 4
        assert screen.flushes < buffer.tokens_received


class HeldStream(TokenBuffer):
    """Holds the model inside its first token until the turn is cancelled: a stream caught mid-way, for sure."""

    first_token = threading.Event()

    def add(self, token: str) -> None:
        super().add(token)
        type(self).first_token.set()
        self.cancel.wait(timeout=120)


async def test_escape_cancels_mid_stream_and_puts_the_words_back(settings):
    app = CompanionApp(settings)
    statement = "You never make time for me anymore."
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = app.screen
        HeldStream.first_token.clear()
        screen.token_buffer_class = HeldStream
        screen.query_one("#statement", TextArea).text = statement
        await pilot.press("ctrl+j")
        assert screen.query_one("#statement", TextArea).text == ""
        await wait_until(pilot, HeldStream.first_token.is_set, "the first token")
        await pilot.press("escape")
        assert screen.query_one("#statement", TextArea).text == statement
        assert "Stopped" in plain(screen.query_one("#reflect-state", Static))
        await wait_until(pilot, lambda: not screen.workers, "the cancelled worker to end")
        await pilot.pause(0.2)
        # The cancelled turn wrote nothing: no result, no reflection, no citations.
        assert screen.result is None
        assert screen.query_one("#reflection").source == ""
        assert screen.query_one("#citations", OptionList).option_count == 0
        # And the next turn works from the restored words.
        screen.token_buffer_class = TokenBuffer
        await pilot.press("ctrl+j")
        await wait_until(pilot, lambda: screen.result is not None, "the next reflection")
        assert screen.statement == statement


async def test_a_new_request_replaces_the_one_in_flight(settings):
    first = "You never make time for me anymore."
    second = "I'm scared you don't trust me with money."
    app = CompanionApp(settings)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = app.screen
        HeldStream.first_token.clear()
        screen.token_buffer_class = HeldStream
        screen.query_one("#statement", TextArea).text = first
        await pilot.press("ctrl+j")
        held = screen.buffer
        await wait_until(pilot, HeldStream.first_token.is_set, "the first token")
        screen.token_buffer_class = TokenBuffer
        screen.query_one("#statement", TextArea).text = second
        await pilot.press("ctrl+j")
        assert held.cancel.is_set()
        await wait_until(
            pilot, lambda: screen.result is not None and not screen.workers, "the second reflection"
        )
        expected = BuiltinReflector().reflect(second, None)
        assert screen.statement == second
        assert screen.result.feelings == list(expected.feelings)
        assert screen.result.feelings != list(BuiltinReflector().reflect(first, None).feelings)
        assert second in plain(screen.query_one("#said", Static))


async def test_a_crisis_statement_takes_over_the_panel(settings):
    app = CompanionApp(settings)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = app.screen
        await reflect(pilot, "I don't want to be alive anymore, I keep thinking about killing myself.")
        assert screen.result.safety is not None
        safety = screen.query_one("#safety", Static)
        assert safety.display
        shown = plain(safety)
        assert screen.result.safety["message"].split(".")[0] in shown
        for resource in screen.result.safety["resources"]:
            assert resource in shown
        assert not screen.query_one("#reflection").display
        assert screen.query_one("#citations", OptionList).option_count == 0


MARKUP = "[bold]you[/bold] never [link=https://example.com]listen[/link] [@click=app.quit]to me[/]"


async def test_typed_markup_is_shown_as_text_and_saved_as_text(settings):
    app = CompanionApp(settings)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = app.screen
        await reflect(pilot, MARKUP)
        said = plain(screen.query_one("#said", Static))
        assert MARKUP in said
        # Clicking the "to me" text must not run app.quit: it is text, not an action.
        assert app.is_running
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: screen.saved, "the save")
        await open_screen(pilot, "f5", "JournalScreen")
        journal = app.screen
        sessions = journal.query_one("#sessions", OptionList)
        await wait_until(pilot, lambda: sessions.option_count == 1, "the journal list")
        assert MARKUP[:60] in str(sessions.get_option_at_index(0).prompt)
        sessions.focus()
        sessions.highlighted = 0
        await pilot.press("enter")
        detail = journal.query_one("#session-text", Static)
        await wait_until(pilot, lambda: MARKUP in plain(detail), "the session to open")


async def test_the_first_frame_draws_what_the_settled_screen_draws(companion_home):
    # The first paint has a stand-in for the statement box and no side panel yet; what it shows must match.
    def cells(screen):
        # The question, the box's first line with its cursor, and the idle hint, left of where the side panel goes.
        return {
            (x, y): screen.get_style_at(x, y).clear_meta_and_links() for y in (3, 5, 11) for x in range(40)
        }

    first: dict = {}

    class FirstFrame(CompanionApp):
        def on_ready(self) -> None:
            first.update(cells(self.screen))

    app = FirstFrame(Settings.load(), load_services=False)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.screen.secondary_mounted, "the side panel")
        app.screen.query_one("#statement", TextArea).cursor_blink = False
        await pilot.pause(0.1)
        settled = cells(app.screen)
    assert first == settled
    hint = first[(1, 11)]
    assert hint.color != hint.bgcolor  # drawn in the text colour, not invisible


async def test_keys_typed_before_the_statement_box_is_ready_are_kept():
    from textual.app import App

    from companion.tui.screens.reflect import StatementPlaceholder

    class Host(App):
        def compose(self):
            yield StatementPlaceholder()

        def on_mount(self) -> None:
            self.query_one(StatementPlaceholder).focus()

    app = Host()
    async with app.run_test() as pilot:
        stand_in = app.query_one(StatementPlaceholder)
        await pilot.press("h", "i", "enter", "x", "backspace", "y")
        app.post_message(events.Paste(" there"))
        await pilot.pause()
        assert stand_in.typed == "hi\ny there"
        area = TextArea(stand_in.typed, id="statement")
        await stand_in.swap_for(area)
        await pilot.pause()
        assert app.query_one("#statement", TextArea).text == "hi\ny there"
        assert area.has_focus and area.cursor_location == (1, 7)
        assert not app.query(StatementPlaceholder)


# ---- Journal -------------------------------------------------------------------------------------------------
async def test_journal_lists_newest_first_searches_exports_and_deletes(settings):
    app = CompanionApp(settings)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = app.screen
        for statement in (
            "You never make time for me anymore.",
            "I feel like my family is always second to yours.",
        ):
            await reflect(pilot, statement)
            await pilot.press("ctrl+s")
            await wait_until(pilot, lambda: screen.saved, "the save")
        await open_screen(pilot, "f5", "JournalScreen")
        journal = app.screen
        sessions = journal.query_one("#sessions", OptionList)
        await wait_until(pilot, lambda: sessions.option_count == 2, "two sessions")
        assert "family" in str(sessions.get_option_at_index(0).prompt)  # newest first
        search = journal.query_one("#journal-search", Input)
        search.focus()
        await pilot.press(*"make time")
        await wait_until(pilot, lambda: sessions.option_count == 1, "the search to narrow the list")
        assert "make time" in str(sessions.get_option_at_index(0).prompt)
        sessions.focus()
        sessions.highlighted = 0
        await pilot.press("enter")
        await wait_until(pilot, lambda: journal.opened is not None, "the session to open")
        await pilot.press("ctrl+o")
        await wait_until(pilot, lambda: getattr(journal, "last_export", None) is not None, "the export")
        exported = journal.last_export.read_text(encoding="utf-8")
        assert "You never make time for me anymore." in exported
        assert exported.lstrip().startswith("#")
        await pilot.press("ctrl+t")
        await pilot.press("y")
        await wait_until(pilot, lambda: journal.opened is None and sessions.option_count == 0, "the deletion")
        search.value = ""
        await wait_until(pilot, lambda: sessions.option_count == 1, "the list after deleting")
        assert "family" in str(sessions.get_option_at_index(0).prompt)


# ---- Guidance ------------------------------------------------------------------------------------------------
async def test_guidance_searches_as_you_type_and_opens_a_section(settings):
    app = CompanionApp(settings)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await open_screen(pilot, "f4", "GuidanceScreen")
        screen = app.screen
        query = "listening"
        await pilot.press(*query)
        results = screen.query_one("#results", OptionList)
        await wait_until(pilot, lambda: results.option_count > 0, "search results")
        assert screen.searches_run < len(query)  # debounced: not one search per key
        prompt = results.get_option_at_index(0).prompt
        hit = screen.hits[0]
        assert hit.section.source in prompt.plain
        if hit.matched_terms:
            assert any(span.style and "reverse" in str(span.style) for span in prompt.spans)
        results.focus()
        results.highlighted = 0
        await pilot.press("enter")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "SectionScreen", "the section")
        assert plain(app.screen.query_one("#section-text", Static)).split() == hit.section.text.split()


async def test_adding_a_document_shows_progress_and_makes_it_searchable(settings, shared_article):
    app = CompanionApp(settings)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await open_screen(pilot, "f4", "GuidanceScreen")
        screen = app.screen
        await pilot.press("ctrl+n")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "AddDocumentScreen", "the add dialog")
        app.screen.query_one("#document-path", Input).value = str(shared_article)
        await pilot.press("enter")
        stage = screen.query_one("#add-stage")
        await wait_until(pilot, lambda: "Added" in str(stage.render()), "the document to be indexed")
        assert screen.query_one("#add-progress").progress == 3
        screen.query_one("#guidance-search", Input).value = "Enhanced Conflict Resolution"
        results = screen.query_one("#results", OptionList)
        await wait_until(pilot, lambda: results.option_count > 0, "results")
        sources = {str(hit.section.source) for hit in screen.hits}
        assert any(shared_article.name in source for source in sources)


# ---- Rehearse ------------------------------------------------------------------------------------------------
async def test_rehearse_two_turns_with_coaching_then_a_summary_in_the_journal(coached_settings):
    app = CompanionApp(coached_settings)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await open_screen(pilot, "f3", "RehearseScreen")
        screen = app.screen
        scenarios = screen.query_one("#scenarios", OptionList)
        await wait_until(pilot, lambda: scenarios.option_count >= 8, "the scenarios")
        scenarios.focus()
        scenarios.highlighted = 0
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.rehearsal is not None, "the partner's opening line")
        replies = (
            "It sounds like you've been feeling alone with this and you want us to be a team.",
            "What would help you feel more supported this week?",
        )
        for number, reply in enumerate(replies, start=1):
            screen.query_one("#reply", TextArea).text = reply
            await pilot.press("ctrl+j")
            await wait_until(pilot, lambda n=number: screen.turns == n and not screen.busy, f"reply {number}")
            coach = plain(screen.query_one("#coach-text", Static))
            assert f"Reply {number}:" in coach
        lines = [plain(w) for w in screen.query(".turn-you")]
        assert lines == [f"You: {reply}" for reply in replies]
        await pilot.press("ctrl+e")
        await wait_until(pilot, lambda: screen.query(".summary"), "the summary")
        summary = plain(screen.query_one(".summary", Static))
        assert "Reflection-to-question ratio" in summary
        await open_screen(pilot, "f5", "JournalScreen")
        sessions = app.screen.query_one("#sessions", OptionList)
        await wait_until(pilot, lambda: sessions.option_count == 1, "the rehearsal in the journal")
        assert "Rehearse" in str(sessions.get_option_at_index(0).prompt)


# ---- Models, help, palette -----------------------------------------------------------------------------------
async def test_models_screen_shows_the_engine_and_saves_the_region(settings):
    app = CompanionApp(settings)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await open_screen(pilot, "f6", "ModelsScreen")
        screen = app.screen
        assert "tiny-chat" in plain(screen.query_one("#engine-info", Static))
        table = screen.query_one("#model-table")
        from companion.engines.models import load_catalog

        await wait_until(pilot, lambda: table.row_count == len(load_catalog()), "the catalogue")
        region = screen.query_one("#region", Select)
        other = next(
            value for _label, value in region._options if value not in (settings.region, Select.BLANK)
        )
        region.value = other
        await pilot.press("ctrl+s")
        assert f'region = "{other}"' in settings.config_path.read_text(encoding="utf-8")
        assert app.settings.region == other
        await wait_until(
            pilot, lambda: app.services_status == "ready" and app.services is not None, "the reload"
        )
        assert app.services.reflection.region == other


async def test_help_and_the_command_palette_reach_every_screen(settings):
    app = CompanionApp(settings)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("f1")
        assert type(app.screen).__name__ == "HelpScreen"
        await pilot.press("escape")
        await pilot.press("ctrl+p")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "CommandPalette", "the palette")
        await pilot.press(*"Go to Journal")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "JournalScreen", "the journal screen")
        titles = [command.title for command in app.get_system_commands(app.screen)]
        for label in ("Reflect", "Rehearse", "Guidance", "Journal", "Models"):
            assert f"Go to {label}" in titles
        assert "Export session to Markdown" in titles


async def test_an_encrypted_journal_asks_for_its_passphrase_and_a_wrong_one_asks_again(settings):
    from companion.store.crypto import KdfParams
    from companion.store.journal import Journal

    with Journal(settings.journal_path) as journal:
        session = journal.start_session("reflect")
        journal.add_turn(session, "partner", "You never make time for me anymore.")
        journal.enable_encryption("correct horse", kdf=KdfParams.fresh(n=2**12))
    app = CompanionApp(settings)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await open_screen(pilot, "f5", "PassphraseScreen")
        await pilot.press(*"wrong guess", "enter")
        await wait_until(
            pilot,
            lambda: type(app.screen).__name__ == "PassphraseScreen" and app.screen.wrong,
            "a second prompt",
        )
        await pilot.press(*"correct horse", "enter")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "JournalScreen", "the journal screen")
        sessions = app.screen.query_one("#sessions", OptionList)
        await wait_until(pilot, lambda: sessions.option_count == 1, "the unlocked session")


async def test_a_citation_from_the_persons_own_document_opens_that_section(
    companion_home, minilm_model, shared_article
):
    """Real MiniLM, the shared article added as the person's document: its cited section opens whole."""
    from companion.guidance.knowledge import KnowledgeBase

    settings = Settings.load().with_changes(embed_model=minilm_model)
    added = KnowledgeBase(settings).add_document(shared_article)
    app = CompanionApp(settings, use_model=False)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = app.screen
        await reflect(pilot, "We never just sit and talk anymore.")
        cited = [c for c in screen.result.citations if c["source"].endswith(shared_article.name)]
        assert cited, screen.result.citations  # the person's document grounds the reflection
        citations = screen.query_one("#citations", OptionList)
        citations.focus()
        citations.highlighted = screen.result.citations.index(cited[0])
        await pilot.press("enter")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "SectionScreen", "the section to open")
        section = app.screen.section
        assert section.source == cited[0]["source"]
        assert section.text in {s.text for s in added.sections}  # the article's own words, at that section
        assert plain(app.screen.query_one("#section-text", Static)).split() == section.text.split()
