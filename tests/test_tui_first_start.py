"""The app's first start: the guidance index being built (progress shown, reflecting meanwhile), the messages the
start has for the person (as notifications, on the screen), the region from the system's language settings, and
the region list that opens inside the Models screen rather than over its footer."""

from __future__ import annotations

import fcntl
import os
import re
import struct
import subprocess
import sys
import termios
import threading
from pathlib import Path

import pyte
import pytest
from test_tui_model_load import read_for
from textual.widgets import Footer, Select, Static, TextArea
from tui_pilot import MAX_STEPS, fixed_snapshot_settings, open_screen, wait_until

from companion.config import Settings
from companion.services import GUIDANCE_NOT_READY
from companion.tui.app import CompanionApp
from companion.tui.widgets.status import StatusLine

ROOT = Path(__file__).resolve().parent.parent
PROGRESS = re.compile(r"Preparing the guidance for search: (\d+) of (\d+) sections")
SIZES = [(100, 30), (80, 24)]


class HeldFirstStart(CompanionApp):
    """The real app, whose index build waits at its first progress report until the test lets it go on: the
    index is then truly half-built while the test types and reflects."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.reports: list[tuple[int, int]] = []
        self.held = threading.Event()
        self.release = threading.Event()

    def _index_progress(self, done: int, total: int) -> None:
        self.reports.append((done, total))
        super()._index_progress(done, total)
        if done < total and not self.release.is_set():
            self.held.set()
            self.release.wait(120)


def status_text(app) -> str:
    line = app.screen.query_one(StatusLine)
    return "".join(segment.text for segment in line.render_line(0))


def plain(widget: Static) -> str:
    rendered = widget.render()
    return getattr(rendered, "plain", str(rendered))


async def type_text(pilot, text: str) -> None:
    await pilot.press(*["space" if ch == " " else ch for ch in text])


@pytest.fixture
def fresh_settings(companion_home, tiny_embed_model) -> Settings:
    """A first start: an empty data folder, so the whole guidance is embedded."""
    return Settings.load().with_changes(embed_model=tiny_embed_model)


@pytest.mark.asyncio
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_first_start_shows_progress_and_a_reflection_meanwhile_is_ungrounded_and_says_so(
    fresh_settings, size
):
    app = HeldFirstStart(fresh_settings, use_model=False)
    try:
        async with app.run_test(size=size) as pilot:
            await wait_until(pilot, app.held.is_set, "the index build to report progress")
            await wait_until(
                pilot, lambda: PROGRESS.search(app.services_status), "the progress on the status line"
            )
            done, total = map(int, PROGRESS.search(app.services_status).groups())
            assert done < total
            assert f"Preparing the guidance for search: {done} of {total} sections" in status_text(app)
            assert "offline" in status_text(app)
            # Typing works while the guidance is prepared, and the reflection comes without it, saying so.
            screen = app.screen
            await wait_until(
                pilot, lambda: screen.query("#statement TextArea, TextArea#statement"), "the box"
            )
            await type_text(pilot, "You never make time for me anymore.")
            assert screen.query_one("#statement", TextArea).text == "You never make time for me anymore."
            await pilot.press("ctrl+j")
            await wait_until(pilot, lambda: screen.result is not None, "the ungrounded reflection")
            first = screen.result
            assert first.reflection.strip() and first.citations == []
            assert first.notice and GUIDANCE_NOT_READY in first.notice
            assert "still being prepared" in plain(screen.query_one("#reflection-details", Static))
            assert not app.services.is_built("index")
            # Let the build finish: the status says ready and the next reflection leans on the guidance.
            app.release.set()
            await wait_until(pilot, lambda: app.services_status == "ready", "the services to be ready")
            assert app.reports[-1] == (total, total)
            await type_text(pilot, "I feel like you never listen to me.")
            await pilot.press("ctrl+j")
            await wait_until(
                pilot,
                lambda: screen.result is not None and screen.result is not first,
                "the grounded reflection",
            )
            assert screen.result.citations
            assert not (screen.result.notice and GUIDANCE_NOT_READY in screen.result.notice)
    finally:
        app.release.set()


@pytest.mark.asyncio
async def test_startup_messages_and_config_warnings_are_notifications(companion_home, tiny_embed_model):
    companion_home.mkdir(parents=True, exist_ok=True)
    (companion_home / "config.toml").write_text('colour = "blue"\n', encoding="utf-8")
    settings = Settings.load().with_changes(embed_model=tiny_embed_model)
    assert settings.config_warnings
    fixed = f"{companion_home} was readable by others (mode 755); tightened to 700"
    app = CompanionApp(settings, load_services=False, startup_messages=[fixed])
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: len(app._notifications) >= 2, "the notifications")
        messages = [note.message for note in app._notifications]
        assert fixed in messages
        assert any("unknown setting 'colour'" in message for message in messages)


@pytest.mark.asyncio
async def test_the_region_comes_from_the_locale_and_the_first_start_says_so(companion_home, monkeypatch):
    for name in ("LC_ALL", "LC_MESSAGES", "COMPANION_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", "en_GB.UTF-8")
    settings = Settings.load()
    assert settings.region == "UK"
    app = CompanionApp(settings, load_services=False)
    async with app.run_test(size=(100, 30)) as pilot:
        note = "Help lines for: UK (from your system's language settings; change on the Models screen)"
        await wait_until(pilot, lambda: note in [n.message for n in app._notifications], "the region note")
        # Changeable: pick another region on the Models screen and save it; the note is not said again.
        await open_screen(pilot, "f6", "ModelsScreen")
        screen = app.screen
        region = screen.query_one("#region", Select)
        await wait_until(pilot, lambda: len(region._options) > 2, "the regions")
        region.value = "IE"
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: app.settings.region == "IE", "the region to be saved")
    assert Settings.load().region == "IE"
    assert CompanionApp(Settings.load(), load_services=False)._region_note() is None


@pytest.mark.asyncio
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_the_region_list_opens_inside_the_screen_not_over_the_footer(companion_home, size):
    app = CompanionApp(Settings.load(), load_services=False)
    async with app.run_test(size=size) as pilot:
        await open_screen(pilot, "f6", "ModelsScreen")
        screen = app.screen
        await wait_until(pilot, lambda: screen.secondary_mounted, "the footer")
        region = screen.query_one("#region", Select)
        await wait_until(pilot, lambda: len(region._options) > 2, "the regions")
        region.focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: region.expanded, "the list to open")
        overlay = region.query_one("SelectOverlay")
        footer = screen.query_one(Footer)
        top = screen.query_one("#top-bar")
        await wait_until(
            pilot, lambda: overlay.region.bottom <= footer.region.y, "the list to scroll into view"
        )
        assert overlay.region.y >= top.region.bottom
        assert overlay.region.height >= 3


# ---- in a real terminal: what the person sees ----------------------------------------------------------------


def test_in_a_terminal_the_start_messages_are_on_the_screen_not_behind_it(companion_home, tiny_embed_model):
    companion_home.mkdir(parents=True, exist_ok=True)
    os.chmod(companion_home, 0o755)  # as a careless copy leaves it: companion tightens it and says so
    columns, lines = 120, 40
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
    env = dict(
        os.environ,
        PYTHONPATH=str(ROOT),
        COMPANION_HOME=str(companion_home),
        TERM="xterm-256color",
        COMPANION_EMBED_MODEL=str(tiny_embed_model),
        LANG="en_GB.UTF-8",
    )
    env.pop("LC_ALL", None)
    env.pop("LC_MESSAGES", None)
    child = subprocess.Popen(
        [sys.executable, "-m", "companion"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        cwd=ROOT,
        start_new_session=True,
    )
    os.close(slave)
    screen = pyte.Screen(columns, lines)
    stream = pyte.ByteStream(screen)
    permissions_message = "readable by others (mode 755); tightened to 700"
    help_lines_message = (
        "Help lines for: UK (from your system's language settings; change on the Models screen)"
    )
    shown = flat = ""
    try:
        for _ in range(MAX_STEPS):
            stream.feed(read_for(master, 1))
            shown = "\n".join(screen.display)
            # A toast wraps its text over lines, behind its edge; it is drawn over several frames, so wait for
            # the whole of both messages, not their first line.
            flat = " ".join(shown.replace("▌", " ").split())
            if (permissions_message in flat and help_lines_message in flat) or child.poll() is not None:
                break
        os.write(master, b"\x11")  # ctrl+q
        after = b""
        for _ in range(100):
            after += read_for(master, 1)
            if child.poll() is not None:
                break
        after += read_for(master, 5)
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
        os.close(master)
    assert permissions_message in flat, shown
    assert help_lines_message in flat, shown
    assert child.returncode == 0
    # Nothing was printed behind the app, to appear only after it closed.
    assert b"tightened" not in after.split(b"\x1b[?1049l")[-1]
    assert oct(companion_home.stat().st_mode & 0o777) == "0o700"


# ---- snapshots ---------------------------------------------------------------------------------------------
@pytest.fixture
def snapshot_home(monkeypatch, tiny_embed_model):
    """A data folder with the same path on every run (the Models screen shows it)."""
    yield from fixed_snapshot_settings(monkeypatch, "companion-first-start-snapshot-home", tiny_embed_model)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_snapshot_of_the_first_start_progress(snap_compare, snapshot_home, size):
    app = CompanionApp(snapshot_home, load_services=False, use_model=False)

    async def run_before(pilot) -> None:
        await wait_until(pilot, lambda: pilot.app.screen.secondary_mounted, "the footer")
        pilot.app.services_status = "Preparing the guidance for search: 12 of 47 sections"
        for widget in pilot.app.screen.query("TextArea, Input"):
            widget.cursor_blink = False
        pilot.app.clear_notifications()
        await pilot.pause(0.1)

    assert snap_compare(app, terminal_size=size, run_before=run_before)
