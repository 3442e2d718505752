"""Waiting helpers shared by the Pilot and snapshot tests of the TUI (not a test module itself)."""

from __future__ import annotations

# Pilot steps: how many short pauses to allow for a worker to finish before the test fails.
MAX_STEPS = 2000


async def wait_until(pilot, condition, what: str) -> None:
    for _ in range(MAX_STEPS):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"gave up waiting for {what}")


async def open_screen(pilot, key: str, screen_name: str) -> None:
    """Press the key that switches screens and wait until that screen is the one showing."""
    await pilot.press(key)
    await wait_until(pilot, lambda: type(pilot.app.screen).__name__ == screen_name, f"the {screen_name}")


async def settle(pilot) -> None:
    """Wait for the services and every worker, stop every cursor blinking (on each screen of the stack, so one
    under a dialog is frozen too), clear toasts: what a snapshot needs to be the same on every run."""
    app = pilot.app
    for _ in range(MAX_STEPS):
        if app.services_status in ("ready", "unavailable") and not any(w.is_running for w in app.workers):
            break
        await pilot.pause(0.05)
    for screen in app.screen_stack:
        for widget in screen.query("TextArea, Input"):
            widget.cursor_blink = False
    app.clear_notifications()
    await pilot.pause(0.1)


def fixed_snapshot_settings(monkeypatch, folder_name: str, embed_model):
    """Settings over a data folder with the same path on every run (the Models screen shows it), removed after."""
    import shutil
    import tempfile
    from pathlib import Path

    from companion.config import Settings

    home = Path(tempfile.gettempdir()) / folder_name
    shutil.rmtree(home, ignore_errors=True)
    monkeypatch.setenv("COMPANION_HOME", str(home))
    yield Settings.load().with_changes(embed_model=embed_model, region="US")
    shutil.rmtree(home, ignore_errors=True)
