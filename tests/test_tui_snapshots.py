"""Snapshots of the main screens at 100x30 and 80x24 (pytest-textual-snapshot; update with --snapshot-update).

Everything that could change between runs is fixed: the built-in reflector answers (deterministic), the data
folder has a fixed path, journal times are frozen, cursors do not blink, and no toast is left on screen.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from datetime import datetime
from pathlib import Path

import pytest
from textual.widgets import Input, TextArea
from tui_pilot import open_screen, settle, wait_until

from companion.config import Settings
from companion.tui.app import CompanionApp

SIZES = [(100, 30), (80, 24)]
FROZEN_TIME = "2026-01-15T19:30:00+00:00"


@pytest.fixture
def fixed_home(monkeypatch, tiny_guidance_index):
    """A data folder with the same path on every run (the Models screen shows it)."""
    home = Path(tempfile.gettempdir()) / "companion-snapshot-home"
    shutil.rmtree(home, ignore_errors=True)
    shutil.copytree(tiny_guidance_index, home / "index")
    monkeypatch.setenv("COMPANION_HOME", str(home))
    monkeypatch.setattr("companion.store.journal._now", lambda: FROZEN_TIME)
    # Journal times are shown in local words relative to today: fix today and the zone too.
    monkeypatch.setattr("companion.timefmt.now", lambda: datetime.fromisoformat(FROZEN_TIME))
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield home
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def app(fixed_home, tiny_embed_model):
    settings = Settings.load().with_changes(embed_model=tiny_embed_model)
    return CompanionApp(settings, use_model=False)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_reflect_screen_after_a_reflection(snap_compare, app, size):
    async def run_before(pilot) -> None:
        await settle(pilot)
        pilot.app.screen.query_one("#statement", TextArea).text = "You never make time for me anymore."
        await pilot.press("ctrl+j")
        await wait_until(pilot, lambda: pilot.app.screen.result is not None, "the state to snapshot")
        await settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_guidance_screen_with_results(snap_compare, app, size):
    async def run_before(pilot) -> None:
        await settle(pilot)
        await open_screen(pilot, "f4", "GuidanceScreen")
        pilot.app.screen.query_one("#guidance-search", Input).value = "listening"
        await wait_until(pilot, lambda: pilot.app.screen.searches_run > 0, "the state to snapshot")
        await settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_rehearse_screen_lists_the_scenarios(snap_compare, app, size):
    async def run_before(pilot) -> None:
        await settle(pilot)
        await open_screen(pilot, "f3", "RehearseScreen")
        screen = pilot.app.screen
        await wait_until(
            pilot, lambda: screen.query_one("#scenarios").option_count > 0, "the state to snapshot"
        )
        await settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_journal_screen_with_a_saved_reflection(snap_compare, app, size):
    async def run_before(pilot) -> None:
        await settle(pilot)
        screen = pilot.app.screen
        screen.query_one("#statement", TextArea).text = "You never make time for me anymore."
        await pilot.press("ctrl+j")
        await wait_until(pilot, lambda: screen.result is not None, "the state to snapshot")
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: screen.saved, "the state to snapshot")
        await open_screen(pilot, "f5", "JournalScreen")
        await wait_until(
            pilot, lambda: pilot.app.screen.query_one("#sessions").option_count == 1, "the state to snapshot"
        )
        await settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_models_screen(snap_compare, app, size):
    async def run_before(pilot) -> None:
        await settle(pilot)
        await open_screen(pilot, "f6", "ModelsScreen")
        await wait_until(pilot, lambda: pilot.app.screen.listings, "the state to snapshot")
        await settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)
