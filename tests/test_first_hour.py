"""A newcomer's first hour, walked end to end: in the app through Pilot, once in a real terminal (a pty read back
through pyte), and snapshots of the states a newcomer meets first (help, a rehearsal's summary).

Everything is real: a fresh data folder (the guidance index is built on the first start), the MiniLM embedder the
coach reads, the built-in reflector (the listener is off in tests), a real journal file.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import shutil
import struct
import subprocess
import sys
import tempfile
import termios
import time
from datetime import datetime
from pathlib import Path

import pyte
import pytest
from textual.widgets import Input, OptionList, Static, TextArea
from tui_pilot import MAX_STEPS, open_screen, settle, wait_until

from companion.config import Settings
from companion.tui.app import CompanionApp

ROOT = Path(__file__).resolve().parent.parent
SIZE = (110, 34)
STATEMENT = "You never make time for me anymore. I feel like I come last."
REPLIES = (
    "It sounds like you've been feeling alone, and that you want to matter to me again.",
    "What would help you feel that I'm with you this week?",
)


def plain(widget: Static) -> str:
    rendered = widget.render()
    return getattr(rendered, "plain", str(rendered))


def screen_name(app) -> str:
    return type(app.screen).__name__


@pytest.fixture
def fresh_settings(companion_home, minilm_model) -> Settings:
    """A data folder as a first start finds it: nothing in it, so the guidance index is built while the app runs."""
    assert not companion_home.exists() or not any(companion_home.iterdir())
    return Settings.load().with_changes(embed_model=minilm_model)


async def services_ready(pilot) -> None:
    app = pilot.app
    await wait_until(pilot, lambda: app.services_status in ("ready", "unavailable"), "the services to load")
    assert app.services_status == "ready", app.services_error
    await wait_until(pilot, lambda: getattr(app.screen, "secondary_mounted", True), "the side panels")


async def check_help(pilot, *keys_expected: str) -> str:
    """F1 opens help over the current screen, listing its keys; Esc closes it and the screen is as it was."""
    app = pilot.app
    before = app.screen
    await pilot.press("f1")
    await wait_until(pilot, lambda: screen_name(app) == "HelpScreen", "the help")
    text = app.screen.text
    assert "Esc closes this help." in plain(app.screen.query_one("#help-close", Static))
    for key in keys_expected:
        assert key in text, (key, text)
    # The footer is the help's own: its close key, not the keys of the screen below.
    footer_keys = [key.description for key in app.screen.query("FooterKey")]
    assert "Close help" in footer_keys and "Again" not in footer_keys, footer_keys
    await pilot.press("escape")
    await wait_until(pilot, lambda: app.screen is before, "the help to close")
    return text


@pytest.mark.asyncio
async def test_the_first_hour_in_the_app(fresh_settings, shared_article):
    app = CompanionApp(fresh_settings)
    async with app.run_test(size=SIZE) as pilot:
        # First start: the box takes typing at once, before the guidance is ready.
        screen = app.screen
        await pilot.press(*"You never")
        await services_ready(pilot)
        area = screen.query_one("#statement", TextArea)
        assert area.text.startswith("You never")
        assert (fresh_settings.home / "index").is_dir()

        # A reflection.
        area.text = STATEMENT
        await pilot.press("ctrl+j")
        await wait_until(pilot, lambda: screen.result is not None, "the reflection")
        first = screen.query_one("#reflection").source.strip()
        assert first and first == screen.result.reflection.strip()
        assert "Feelings:" in plain(screen.query_one("#reflection-details", Static))

        # Again: a different phrasing each time, every one still there under Other ways.
        seen = [first]
        for _ in range(len(screen.phrasings) - 1):
            await pilot.press("ctrl+g")
            shown = screen.query_one("#reflection").source.strip()
            assert shown not in seen, (shown, seen)
            seen.append(shown)
        assert len(seen) >= 2, "the built-in reflector gives more than one phrasing"
        assert f"Phrasing {len(seen)} of {len(seen)}" in plain(
            screen.query_one("#reflection-details", Static)
        )
        await pilot.press("ctrl+o")
        listed = plain(screen.query_one("#reflection-details", Static))
        assert "Other ways to say it" in listed and all(phrasing in listed for phrasing in seen)
        await pilot.press("ctrl+g")  # round to the first again
        assert screen.query_one("#reflection").source.strip() == first

        # Save the phrasing shown.
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: screen.saved, "the save")

        # Help from Reflect lists every key of the screen, Again, Other ways and Copy among them.
        await check_help(pilot, "Ctrl+J", "Ctrl+G", "Ctrl+O", "Ctrl+L", "Ctrl+S", "Esc", "F2", "Ctrl+Q")

        # Focus moved away, another screen, back: typing goes to the box, never nowhere.
        screen.query_one("#citations", OptionList).focus()
        await pilot.press(*"Hi")
        assert screen.focused is area and area.text == "Hi"
        area.clear()
        await open_screen(pilot, "f3", "RehearseScreen")
        await open_screen(pilot, "f2", "ReflectScreen")
        await pilot.pause()
        assert app.screen.focused is area
        await pilot.press(*"ok")
        assert area.text == "ok"
        area.clear()

        # A rehearsal to its summary.
        await open_screen(pilot, "f3", "RehearseScreen")
        rehearse = app.screen
        scenarios = rehearse.query_one("#scenarios", OptionList)
        await wait_until(pilot, lambda: scenarios.option_count > 0, "the scenarios")
        await check_help(pilot, "Ctrl+J", "Ctrl+E", "Ctrl+N", "F1")
        assert rehearse.focused is scenarios
        await pilot.press("enter")
        await wait_until(pilot, lambda: rehearse.rehearsal is not None, "the partner's opening line")
        reply = rehearse.query_one("#reply", TextArea)
        assert rehearse.focused is reply and "ctrl+j sends" in str(reply.placeholder)
        for number, text in enumerate(REPLIES, start=1):
            reply.text = text
            await pilot.press("ctrl+j")
            await wait_until(
                pilot, lambda n=number: rehearse.turns == n and not rehearse.busy, f"reply {number}"
            )
        await pilot.press("ctrl+e")
        await wait_until(pilot, lambda: rehearse.query(".summary"), "the summary")
        summary = plain(rehearse.query_one(".summary", Static))
        lines = summary.splitlines()
        assert lines[1].startswith("You reflected"), summary  # plain words first
        assert summary.index("You reflected") < summary.index("MITI")  # the figures after
        assert "Good moves: none" not in summary
        assert summary == rehearse.summary.as_text()
        assert "Saved to your journal" in plain(rehearse.query_one(".summary-note", Static))
        assert not [n for n in app._notifications if "Rehearsal saved" in n.message]

        # A search, and one enter opens the first result.
        await open_screen(pilot, "f4", "GuidanceScreen")
        guidance = app.screen
        search = guidance.query_one("#guidance-search", Input)
        assert guidance.focused is search
        await check_help(pilot, "Ctrl+F", "Ctrl+N")
        await pilot.press(*"feeling unheard")
        await wait_until(pilot, lambda: guidance.hits_query == "feeling unheard", "results as you type")
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen_name(app) == "SectionScreen", "the section")
        assert app.screen.section == guidance.hits[0].section
        await check_help(pilot, "Esc", "C")
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is guidance, "the section to close")

        # Adding a document: the dialog's text is whole, and the document is searchable after.
        await pilot.press("ctrl+n")
        await wait_until(pilot, lambda: screen_name(app) == "AddDocumentScreen", "the add dialog")
        dialog_help = app.screen.query_one("#add-help", Static)
        await pilot.pause()
        assert dialog_help.size.height >= 2  # wrapped, not cut at the dialog's edge
        app.screen.query_one("#document-path", Input).value = str(shared_article)
        await pilot.press("enter")
        stage = guidance.query_one("#add-stage")
        await wait_until(pilot, lambda: "Added" in str(stage.render()), "the document to be indexed")

        # The journal: the list and a session, with times in words.
        await open_screen(pilot, "f5", "JournalScreen")
        journal = app.screen
        sessions = journal.query_one("#sessions", OptionList)
        await wait_until(pilot, lambda: sessions.option_count == 2, "the two sessions")
        await check_help(pilot, "Ctrl+O", "Ctrl+T or Delete", "Ctrl+R")
        listed = str(sessions.get_option_at_index(0).prompt)
        assert "Today, " in listed, listed
        sessions.focus()
        sessions.highlighted = 0
        await pilot.press("enter")
        await wait_until(pilot, lambda: journal.opened is not None, "the rehearsal to open")
        detail = plain(journal.query_one("#session-text", Static))
        assert "Today, " in detail and "+00:00" not in detail
        assert rehearse.summary.as_text() in detail  # the summary as the Rehearse screen showed it
        assert "rq_ratio" not in detail

        # The Models screen, then quit.
        await open_screen(pilot, "f6", "ModelsScreen")
        await check_help(pilot, "F1", "Ctrl+Q")
        await pilot.press("ctrl+q")
    assert app.return_code in (0, None)


# ---- the same walk, shorter, in a real terminal ------------------------------------------------------------------
CHILD = """
import sys
from pathlib import Path
from companion.config import Settings
from companion.tui.app import CompanionApp

CompanionApp(Settings.load().with_changes(embed_model=Path(sys.argv[1]))).run()
"""
COLUMNS, LINES = 100, 30
KEYS = {
    "f1": b"\x1bOP",
    "f2": b"\x1bOQ",
    "f3": b"\x1bOR",
    "f5": b"\x1b[15~",
    "ctrl+j": b"\n",
    "escape": b"\x1b",
    "ctrl+q": b"\x11",
}


class Terminal:
    """The app on a pseudo-terminal, read back through a VT emulator as a person would see it."""

    def __init__(self, home: Path, embed_model: Path) -> None:
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", LINES, COLUMNS, 0, 0))
        env = dict(os.environ, PYTHONPATH=str(ROOT), COMPANION_HOME=str(home), TERM="xterm-256color")
        self.child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(embed_model)],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            cwd=ROOT,
            start_new_session=True,
        )
        os.close(slave)
        self.screen = pyte.Screen(COLUMNS, LINES)
        self.stream = pyte.ByteStream(self.screen)

    def text(self) -> str:
        return "\n".join(self.screen.display)

    def pump(self, wait: float = 0.1) -> None:
        ready, _, _ = select.select([self.master], [], [], wait)
        if ready:
            with contextlib.suppress(OSError):  # the child closed the terminal
                self.stream.feed(os.read(self.master, 65536))

    def wait_for(self, words: str, what: str, rounds: int = 1200) -> str:
        for _ in range(rounds):
            self.pump()
            if words in self.text():
                # A few more reads, so the frame that showed the words is complete.
                for _ in range(3):
                    self.pump(0.05)
                return self.text()
            if self.child.poll() is not None:
                break
        raise AssertionError(f"gave up waiting for {what} ({words!r}):\n{self.text()}")

    def type(self, *keys: str) -> None:
        for key in keys:
            os.write(self.master, KEYS.get(key, key.encode()))
            self.pump(0.05)

    def close(self) -> None:
        if self.child.poll() is None:
            self.child.kill()
        self.child.wait()
        os.close(self.master)


def test_a_short_walk_in_a_real_terminal(companion_home, tiny_embed_model, tiny_guidance_index):
    shutil.copytree(tiny_guidance_index, companion_home / "index")  # the first start is the Pilot walk's
    terminal = Terminal(companion_home, tiny_embed_model)
    try:
        terminal.wait_for("What did your partner say?", "the first frame")
        shown = terminal.wait_for("F1 Help", "the navigation line")
        assert "F2 Reflect" in shown.splitlines()[1]
        terminal.wait_for("engine:", "the status line")
        for _ in range(MAX_STEPS):  # the first start builds the index; the status line says so until ready
            terminal.pump()
            if "loading" not in terminal.screen.display[0]:
                break
        terminal.type(STATEMENT, "ctrl+j")
        shown = terminal.wait_for("They said:", "the reflection")
        terminal.wait_for("answered by: the built-in reflector", "the reflection to finish")
        terminal.type("f1")
        shown = terminal.wait_for("Esc closes this help.", "the help")
        assert "Ctrl+G" in shown and "Again" in shown, shown
        terminal.type("escape")
        shown = terminal.wait_for("Guidance it leaned on", "the help to close")
        assert "Esc closes this help." not in shown
        terminal.type("f3")
        shown = terminal.wait_for("Pick a conversation to practise", "the Rehearse screen")
        terminal.type("f5")
        shown = terminal.wait_for("Search your journal", "the Journal screen")
        terminal.type("f2")
        terminal.wait_for("What did your partner say?", "Reflect again")
        terminal.type("ctrl+q")
        for _ in range(MAX_STEPS):
            terminal.pump()
            if terminal.child.poll() is not None:
                break
        assert terminal.child.poll() == 0, terminal.text()
    finally:
        terminal.close()


# ---- snapshots of the new states ----------------------------------------------------------------------------------
FROZEN_TIME = "2026-01-15T19:30:00+00:00"


@pytest.fixture
def snapshot_app(monkeypatch, tiny_guidance_index, minilm_model):
    """The same path, clock and zone on every run, so the pictures only change when the screens do."""
    home = Path(tempfile.gettempdir()) / "companion-first-hour-snapshot"
    shutil.rmtree(home, ignore_errors=True)
    shutil.copytree(tiny_guidance_index, home / "index")
    monkeypatch.setenv("COMPANION_HOME", str(home))
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    monkeypatch.setattr("companion.store.journal._now", lambda: FROZEN_TIME)
    monkeypatch.setattr("companion.timefmt.now", lambda: datetime.fromisoformat(FROZEN_TIME))
    settings = Settings.load().with_changes(embed_model=minilm_model, knowledge_dirs=())
    yield CompanionApp(settings, use_model=False)
    shutil.rmtree(home, ignore_errors=True)


def test_help_over_reflect_snapshot(snap_compare, snapshot_app):
    async def run_before(pilot) -> None:
        await settle(pilot)
        await pilot.press("f1")
        await wait_until(pilot, lambda: screen_name(pilot.app) == "HelpScreen", "the help")
        await settle(pilot)

    assert snap_compare(snapshot_app, terminal_size=(100, 30), run_before=run_before)


def test_rehearsal_summary_snapshot(snap_compare, snapshot_app):
    async def run_before(pilot) -> None:
        await settle(pilot)
        await open_screen(pilot, "f3", "RehearseScreen")
        screen = pilot.app.screen
        await wait_until(pilot, lambda: screen.query_one("#scenarios").option_count > 0, "the scenarios")
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.rehearsal is not None, "the opening line")
        screen.query_one("#reply", TextArea).text = REPLIES[0]
        await pilot.press("ctrl+j")
        await wait_until(pilot, lambda: screen.turns == 1 and not screen.busy, "the reply")
        await pilot.press("ctrl+e")
        await wait_until(pilot, lambda: screen.query(".summary-note"), "the summary")
        await settle(pilot)

    assert snap_compare(snapshot_app, terminal_size=(100, 40), run_before=run_before)


# ---- the same summary and times on the command line ---------------------------------------------------------------
def _cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "companion", *args],
        input=stdin.encode(),
        capture_output=True,
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        timeout=300,
    )
    assert result.returncode == 0, result.stderr.decode()
    assert b"Traceback" not in result.stderr
    return result


def test_rehearse_journal_show_and_export_print_the_same_readable_summary(companion_home):
    said = _cli(
        "rehearse", "time-together", "--no-model", stdin=f"{REPLIES[0]}\n{REPLIES[1]}\n/end\n"
    ).stdout.decode()
    start = said.index("Rehearsal summary:")
    summary = said[start : said.index("\n\nSaved to your journal")]
    assert summary.splitlines()[1].startswith("You reflected")  # plain words before the MITI figures
    shown = _cli("journal", "show", "1").stdout.decode()
    assert summary in shown
    assert "rq_ratio" not in shown and "listener_turns" not in shown
    assert "Today, " in shown.splitlines()[0] and "+00:00" not in shown
    listed = _cli("journal", "list").stdout.decode()
    assert "Today, " in listed and "T" not in listed.split("Today, ")[1][:5]
    exported = _cli("journal", "export", "--format", "md").stdout.decode()
    assert "- rq_ratio" not in exported and "null" not in exported
    assert [line.rstrip() for line in summary.splitlines() if line.strip()] == [
        line.rstrip()
        for line in exported[exported.index("Rehearsal summary:") :].splitlines()
        if line.strip()
    ][: len([line for line in summary.splitlines() if line.strip()])]


@pytest.mark.parametrize(
    ("stamp", "words"),
    [
        ("2026-12-02T09:48:58+00:00", "Today, 09:48"),
        ("2026-12-01T18:02:00+00:00", "Tue 1 Dec, 18:02"),
        ("2025-03-03T08:15:00+00:00", "Mon 3 Mar 2025, 08:15"),
        ("2026-12-02T23:30:00-05:00", "Thu 3 Dec, 04:30"),  # another zone, read in this machine's (UTC here)
        ("not a time", "not a time"),
    ],
)
def test_stored_times_read_as_local_time_in_words(monkeypatch, stamp, words):
    from companion.timefmt import when

    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    assert when(stamp, reference=datetime.fromisoformat("2026-12-02T20:00:00+00:00")) == words
