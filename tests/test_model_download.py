"""Downloading a catalogue model from a loopback server that speaks the hub's download protocol.

The server answers as huggingface.co does for a large-file-storage file: a HEAD of
`/{repo}/resolve/main/{file}` gets a 302 to storage with X-Linked-Etag (the sha256) and X-Linked-Size, and the
storage URL serves the bytes with Range support. HF_ENDPOINT points companion at it, as it would at a mirror.
It can drop the connection mid-file, serve slowly (so a download can be stopped), or advertise a wrong checksum.
"""

from __future__ import annotations

import hashlib
import http.server
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from processes import INTERRUPTIBLE
from textual.widgets import DataTable, Label, ProgressBar
from tui_pilot import fixed_snapshot_settings, open_screen, wait_until

from companion.config import Settings
from companion.engines.models import (
    DownloadCancelled,
    DownloadMeter,
    choose_chat_model,
    find_catalog_model,
    list_models,
    partial_download,
    pull_model,
)
from companion.errors import ModelError
from companion.store import privacy

ROOT = Path(__file__).resolve().parent.parent
FAST = find_catalog_model("fast")
CHUNK = 16 * 1024  # what the server writes at a time


class LoopbackHub:
    """A thread serving one file the way the hub does; it records every request it gets."""

    def __init__(
        self,
        payload: bytes,
        *,
        drop_first_get_after: int | None = None,
        delay: float = 0.0,
        advertised_sha256: str | None = None,
        hold_after: int | None = None,
        hold_for: float = 120.0,
    ) -> None:
        self.payload = payload
        # The first GET stops sending after this many bytes until `release` is set: a download caught half-way.
        self.hold_after = hold_after
        self.hold_for = (
            hold_for  # at most this long, so a client that only checks between chunks sees the next one
        )
        self.release = threading.Event()
        self.sha256 = advertised_sha256 or hashlib.sha256(payload).hexdigest()
        self.drop_first_get_after = drop_first_get_after
        self.delay = delay  # seconds between chunks: slow enough to stop a download half-way
        self.requests: list[tuple[str, str, str | None]] = []
        self.resolve_path = f"/{FAST.repo}/resolve/main/{FAST.file}"
        self.storage_path = f"/storage/{self.sha256}"
        hub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep the test output clean
                pass

            def do_HEAD(self):
                self._answer(body=False)

            def do_GET(self):
                self._answer(body=True)

            def _answer(self, body: bool) -> None:
                hub.requests.append((self.command, self.path, self.headers.get("Range")))
                if self.path == hub.resolve_path:
                    # The hub: metadata of the LFS file and a redirect to where its bytes are.
                    self.send_response(302)
                    self.send_header(
                        "Location", hub.endpoint + hub.storage_path
                    )  # absolute, as the hub's are
                    self.send_header("X-Linked-Etag", f'"{hub.sha256}"')
                    self.send_header("X-Linked-Size", str(len(hub.payload)))
                    self.send_header("ETag", '"0123456789abcdef0123456789abcdef01234567"')
                    self.send_header("X-Repo-Commit", "0123456789abcdef0123456789abcdef01234567")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif self.path == hub.storage_path:
                    self._send_bytes(body)
                else:
                    self.send_response(404)
                    self.send_header("X-Error-Code", "EntryNotFound")
                    self.send_header("Content-Length", "0")
                    self.end_headers()

            def _send_bytes(self, body: bool) -> None:
                size = len(hub.payload)
                wanted = self.headers.get("Range")
                start = int(wanted.split("=")[1].split("-")[0]) if wanted else 0
                if start >= size:
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{size}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206 if wanted else 200)
                if wanted:
                    self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
                self.send_header("Content-Length", str(size - start))
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                if not body:
                    return
                gets = sum(
                    1 for method, path, _ in hub.requests if method == "GET" and path == hub.storage_path
                )
                stop = size
                if gets == 1 and hub.drop_first_get_after is not None:
                    stop = start + hub.drop_first_get_after
                position = start
                try:
                    while position < stop:
                        end = min(position + CHUNK, stop)
                        self.wfile.write(hub.payload[position:end])
                        self.wfile.flush()
                        position = end
                        if gets == 1 and hub.hold_after is not None and position >= hub.hold_after:
                            hub.release.wait(timeout=hub.hold_for)
                        if hub.delay:
                            time.sleep(hub.delay)
                except (BrokenPipeError, ConnectionResetError):
                    return  # the client went away (a stopped download)
                if stop < size:
                    self.close_connection = True  # the connection drops mid-file

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def ranges(self) -> list[int]:
        """The first byte of every ranged GET of the file."""
        return [
            int(r.split("=")[1].split("-")[0])
            for method, path, r in self.requests
            if method == "GET" and path == self.storage_path and r
        ]

    def __enter__(self) -> LoopbackHub:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def payload(tiny_chat_model) -> bytes:
    return tiny_chat_model.read_bytes()


@pytest.fixture
def offline_as_companion_sets_it(monkeypatch):
    """The environment the app runs in: every library offline, switched off by companion, not by the person."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv(privacy.OFFLINE_SET_BY_COMPANION, "1")


@pytest.fixture
def hub_env(monkeypatch):
    def point_at(hub: LoopbackHub) -> None:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)

    return point_at


# ---- the download itself ---------------------------------------------------------------------------------
def test_a_pull_follows_the_hub_protocol_checks_the_sha256_and_the_model_is_chosen_at_once(
    companion_home, payload, hub_env, offline_as_companion_sets_it
):
    from huggingface_hub import constants

    settings = Settings.load(companion_home)
    progress: list[tuple[int, int | None]] = []
    with LoopbackHub(payload) as hub:
        hub_env(hub)
        path = pull_model(FAST.name, settings, lambda done, total: progress.append((done, total)))
    assert path == settings.models_dir / FAST.file
    assert path.read_bytes() == payload
    assert not partial_download(FAST, settings).exists()
    assert [m for m, _p, _r in hub.requests][:2] == ["HEAD", "GET"]
    assert progress[0] == (0, len(payload)) and progress[-1] == (len(payload), len(payload))
    assert [done for done, _ in progress] == sorted(done for done, _ in progress)
    # Installed, and the model companion now answers with.
    assert [item.installed for item in list_models(settings) if item.model.name == FAST.name] == [True]
    assert choose_chat_model(settings).choice.name == FAST.name
    # The libraries companion loads stay offline: the download lifted the switch for itself alone.
    assert os.environ["HF_HUB_OFFLINE"] == "1" and constants.HF_HUB_OFFLINE


def test_a_dropped_connection_resumes_where_it_stopped(
    companion_home, payload, hub_env, offline_as_companion_sets_it
):
    settings = Settings.load(companion_home)
    half = len(payload) // 2
    with LoopbackHub(payload, drop_first_get_after=half) as hub:
        hub_env(hub)
        path = pull_model(FAST.name, settings)
    assert path.read_bytes() == payload
    assert hub.ranges() and hub.ranges()[0] > 0, hub.requests


def test_a_partial_file_from_an_earlier_pull_is_resumed_not_fetched_again(
    companion_home, payload, hub_env, offline_as_companion_sets_it
):
    settings = Settings.load(companion_home)
    settings.models_dir.mkdir(parents=True)
    third = len(payload) // 3
    partial_download(FAST, settings).write_bytes(payload[:third])
    progress: list[tuple[int, int | None]] = []
    with LoopbackHub(payload) as hub:
        hub_env(hub)
        path = pull_model(FAST.name, settings, lambda done, total: progress.append((done, total)))
    assert path.read_bytes() == payload
    assert hub.ranges() == [third]
    assert progress[0] == (third, len(payload))


def test_a_wrong_checksum_keeps_nothing_as_the_model(
    companion_home, payload, hub_env, offline_as_companion_sets_it
):
    settings = Settings.load(companion_home)
    with LoopbackHub(payload, advertised_sha256="ab" * 32) as hub:
        hub_env(hub)
        with pytest.raises(ModelError) as caught:
            pull_model(FAST.name, settings)
    assert "does not match its checksum" in caught.value.message
    assert "Nothing was kept" in caught.value.kept
    assert f"companion models pull {FAST.name}" in caught.value.fix
    assert not (settings.models_dir / FAST.file).exists()
    assert not partial_download(FAST, settings).exists()
    assert not any(item.installed for item in list_models(settings))


def test_a_stopped_download_keeps_its_part(companion_home, payload, hub_env, offline_as_companion_sets_it):
    settings = Settings.load(companion_home)
    stop = threading.Event()

    def progress(done: int, total: int | None) -> None:
        if done > 0:
            stop.set()  # as Esc would, once the first bytes are in

    with LoopbackHub(payload, delay=0.005) as hub:
        hub_env(hub)
        with pytest.raises(DownloadCancelled) as caught:
            pull_model(FAST.name, settings, progress, cancel=stop)
    kept = partial_download(FAST, settings).stat().st_size
    assert 0 < kept < len(payload)
    assert "kept" in caught.value.kept and "resumes" in caught.value.fix
    assert not (settings.models_dir / FAST.file).exists()


def test_downloads_the_person_switched_off_stay_off(companion_home, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv(privacy.OFFLINE_SET_BY_COMPANION, raising=False)
    with pytest.raises(ModelError) as caught:
        pull_model(FAST.name, Settings.load(companion_home))
    assert "you set HF_HUB_OFFLINE" in caught.value.message


def test_companion_marks_the_offline_switch_as_its_own_only_when_it_sets_it(monkeypatch):
    names = [
        *privacy.OFFLINE_ENVIRONMENT,
        *privacy.NO_TELEMETRY_ENVIRONMENT,
        privacy.OFFLINE_SET_BY_COMPANION,
    ]
    for name in names:
        monkeypatch.setenv(
            name, ""
        )  # recorded first, so that even a variable that was unset is restored after
        monkeypatch.delenv(name)
    privacy.apply_offline_environment()
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert not privacy.downloads_switched_off_by_person()
    monkeypatch.delenv(privacy.OFFLINE_SET_BY_COMPANION)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the person's own
    privacy.apply_offline_environment()
    assert privacy.downloads_switched_off_by_person()


def test_the_meter_counts_speed_and_time_left_from_what_arrives():
    now = [100.0]
    meter = DownloadMeter(clock=lambda: now[0])
    meter.update(40_000_000, 100_000_000)  # resumed: 40 MB were already there
    assert meter.bytes_per_second is None and "40.0 of 100.0 MB" in meter.describe()
    now[0] += 2.0
    meter.update(50_000_000, 100_000_000)
    assert meter.bytes_per_second == pytest.approx(5_000_000)
    assert meter.seconds_left == pytest.approx(10.0)
    assert meter.describe() == "50.0 of 100.0 MB · 5.0 MB/s · about 10 s left"


# ---- the CLI -----------------------------------------------------------------------------------------------
def _cli(home: Path, hub: LoopbackHub, *args: str, **popen) -> subprocess.Popen:
    env = dict(os.environ, COMPANION_HOME=str(home), HF_ENDPOINT=hub.endpoint, PYTHONPATH=str(ROOT))
    return subprocess.Popen(
        [sys.executable, "-m", "companion", *args],
        env=env,
        cwd=ROOT,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **INTERRUPTIBLE,
        **popen,
    )


def test_cli_pull_shows_progress_and_installs(companion_home, payload):
    with LoopbackHub(payload) as hub:
        child = _cli(companion_home, hub, "models", "pull", FAST.name)
        out, err = child.communicate(timeout=120)
    assert child.returncode == 0, err
    assert f"Installed {FAST.name}" in out
    last = err.replace("\r", "\n").strip().splitlines()[-1]
    assert f"{len(payload) / 1e6:.1f} of {len(payload) / 1e6:.1f} MB" in last and "[" + "#" * 30 + "]" in last
    assert (companion_home / "models" / FAST.file).read_bytes() == payload


def test_cli_pull_with_a_wrong_checksum_is_one_clear_line(companion_home, payload):
    with LoopbackHub(payload, advertised_sha256="cd" * 32) as hub:
        child = _cli(companion_home, hub, "models", "pull", FAST.name)
        _out, err = child.communicate(timeout=120)
    assert child.returncode == 2
    message = [line for line in err.replace("\r", "\n").splitlines() if line.startswith("companion:")]
    assert len(message) == 1 and "does not match its checksum" in message[0] and "Traceback" not in err
    assert not (companion_home / "models" / FAST.file).exists()


def test_ctrl_c_stops_the_cli_download_and_the_next_pull_resumes(companion_home, payload):
    part = companion_home / "models" / (FAST.file + ".partial")
    from companion.engines.models import DOWNLOAD_CHUNK_BYTES

    # Past one client chunk, so a part is on disk while the hub holds the rest back.
    assert DOWNLOAD_CHUNK_BYTES < len(payload) * 2 // 3 < len(payload)
    with LoopbackHub(payload, hold_after=len(payload) * 2 // 3) as hub:
        child = _cli(companion_home, hub, "models", "pull", FAST.name)
        deadline = 600
        while deadline and not (part.is_file() and part.stat().st_size > 0):
            time.sleep(0.05)
            deadline -= 1
        assert part.is_file() and part.stat().st_size > 0, "the download never started"
        child.send_signal(signal.SIGINT)
        _out, err = child.communicate(timeout=120)
        assert child.returncode == 130, err
        assert "Stopped downloading" in err and "kept" in err and "Traceback" not in err
        kept = part.stat().st_size
        assert 0 < kept < len(payload)
        hub.release.set()
        again = _cli(companion_home, hub, "models", "pull", FAST.name)
        _out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    assert hub.ranges()[-1] == kept
    assert (companion_home / "models" / FAST.file).read_bytes() == payload


# ---- the app -----------------------------------------------------------------------------------------------
@pytest.fixture
def app_settings(companion_home, tiny_embed_model, tiny_guidance_index) -> Settings:
    import shutil

    shutil.copytree(tiny_guidance_index, companion_home / "index")
    return Settings.load().with_changes(embed_model=tiny_embed_model)


async def _models_screen(pilot):
    await open_screen(pilot, "f6", "ModelsScreen")
    screen = pilot.app.screen
    await wait_until(pilot, lambda: screen.listings, "the model list")
    names = [listing.model.name for listing in screen.listings]
    screen.query_one("#model-table", DataTable).move_cursor(row=names.index(FAST.name))
    return screen


def _stage(screen) -> str:
    return str(screen.query_one("#pull-stage", Label).render())


@pytest.mark.asyncio
async def test_the_app_downloads_with_progress_can_stop_resumes_and_uses_the_model(
    app_settings, payload, hub_env, offline_as_companion_sets_it
):
    from companion.tui.app import CompanionApp

    # Held after one client chunk: Esc lands while the transfer waits, and the next chunk shows the app the stop.
    with LoopbackHub(payload, hold_after=len(payload) * 2 // 3, hold_for=2.0) as hub:
        hub_env(hub)
        app = CompanionApp(app_settings, use_model=True)
        async with app.run_test(size=(100, 30)) as pilot:
            screen = await _models_screen(pilot)
            await pilot.press("ctrl+d")
            await wait_until(pilot, lambda: "MB/s" in _stage(screen), "a progress line with the speed")
            assert "of 0.7 MB" in _stage(screen) and "Esc stops" in _stage(screen)
            await pilot.press("escape")
            await wait_until(pilot, lambda: screen.pull_outcome == "stopped", "the download to stop")
            assert "Stopped downloading" in _stage(screen)
            assert not screen.query_one("#pull-progress", ProgressBar).display
            kept = partial_download(FAST, app_settings).stat().st_size
            assert 0 < kept < len(payload)
            hub.release.set()
            await pilot.press("ctrl+d")
            await wait_until(pilot, lambda: screen.pull_outcome == "done", "the download to finish")
            assert hub.ranges()[-1] == kept
            assert "downloaded and checked" in _stage(screen)
            await wait_until(
                pilot, lambda: any(item.installed for item in screen.listings), "the new listing"
            )
            table = screen.query_one("#model-table", DataTable)
            assert screen.listings[table.cursor_row].model.name == FAST.name
            table.focus()
            await pilot.press("enter")  # the model just downloaded is usable at once
            await wait_until(
                pilot, lambda: app.settings.chat_model_name == FAST.name, "the model to be chosen"
            )
            await wait_until(
                pilot,
                lambda: app.services_status == "ready" and app.services is not None,
                "the model to load",
            )
            assert app.services.chat_model.name == FAST.name


@pytest.mark.asyncio
async def test_a_failed_download_in_the_app_stops_the_bar_and_says_why(
    app_settings, payload, hub_env, offline_as_companion_sets_it
):
    from companion.tui.app import CompanionApp

    with LoopbackHub(payload, advertised_sha256="ef" * 32) as hub:
        hub_env(hub)
        app = CompanionApp(app_settings, use_model=False)
        async with app.run_test(size=(100, 30)) as pilot:
            screen = await _models_screen(pilot)
            await pilot.press("ctrl+d")
            await wait_until(pilot, lambda: screen.pull_outcome == "failed", "the download to fail")
            assert "does not match its checksum" in _stage(screen)
            assert not screen.query_one("#pull-progress", ProgressBar).display
            assert not screen.pulling and not screen.check_action("stop_download", ())
            await wait_until(
                pilot,
                lambda: screen.listings and not any(i.installed for i in screen.listings),
                "the list to be read again",
            )


# ---- snapshot ----------------------------------------------------------------------------------------------
@pytest.fixture
def snapshot_home(monkeypatch, tiny_embed_model):
    """A data folder with the same path on every run (the Models screen shows it)."""
    yield from fixed_snapshot_settings(monkeypatch, "companion-download-snapshot-home", tiny_embed_model)


@pytest.mark.parametrize("size", [(100, 30), (80, 24)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_snapshot_of_a_download_in_progress(snap_compare, snapshot_home, size):
    from companion.tui.app import CompanionApp

    app = CompanionApp(snapshot_home, load_services=False, use_model=False)
    clock = [0.0]
    meter = DownloadMeter(clock=lambda: clock[0])
    meter.update(400_000_000, 1_100_000_000)
    clock[0] = 4.0
    meter.update(440_000_000, 1_100_000_000)  # 10 MB/s: 66 s left

    async def run_before(pilot) -> None:
        await open_screen(pilot, "f6", "ModelsScreen")
        screen = pilot.app.screen
        await wait_until(pilot, lambda: screen.listings and screen.secondary_mounted, "the model list")
        screen.query_one("#model-table", DataTable).move_cursor(row=1)
        # The state a download is in half-way, as the pull worker draws it.
        screen.pulling = True
        screen.query_one("#pull-progress", ProgressBar).display = True
        screen._pull_progress("qwen2.5-1.5b", meter.done, meter.total, meter.describe())
        screen.refresh_bindings()
        pilot.app.clear_notifications()
        await pilot.pause(0.1)

    assert snap_compare(app, terminal_size=size, run_before=run_before)
