"""The Textual app: five screens over the same services the CLI uses.

The first frame paints before llama_cpp or chromadb is imported: the services load in a thread worker that starts
once the app is ready, and the status line says so while they load.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from pathlib import Path

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.reactive import reactive
from textual.screen import Screen

from companion.config import Settings
from companion.errors import CompanionError
from companion.logs import get_logger
from companion.tui.driver import terminal_driver_class
from companion.tui.labels import BUILTIN_ENGINE, PRIVACY_NOTE
from companion.tui.screens.reflect import ReflectScreen
from companion.tui.widgets.status import NAVIGATION

log = get_logger("tui")


# Mode name -> label, as the nav line names them. Reflect is the first screen; the others are imported when first
# opened, so the first frame only pays for what it shows.
SCREENS = {mode: label for mode, _key, label in NAVIGATION}


def _close_quietly(services) -> None:
    """Close services (None, or anything without a close, is skipped); a failure is logged, never raised."""
    close = getattr(services, "close", None)
    if callable(close):
        try:
            close()
        except Exception:  # closing must never take the app down or turn a clean exit into a traceback
            log.exception("closing services failed")


def _reflect_screen():
    screen = ReflectScreen()
    # Textual reparses every stylesheet (twice over: the parse cache is cleared first) when a mode's first screen
    # is registered, ~20 ms before the first frame. While nothing has changed the app's CSS since it started
    # (no theme set yet), the styles the screen is given are current, as for an app without modes; only the
    # app's own styles (the text colour everything inherits) must be applied now, before anything is measured.
    # (Textual's private counters: if a later Textual renames them, this is skipped and startup is just slower.)
    app = screen.app
    if getattr(app, "_css_update_count", None) == 0 and hasattr(screen, "_css_update_count"):
        app.stylesheet.apply(app)
        screen._css_update_count = 0
    return screen


def _rehearse_screen():
    from companion.tui.screens.rehearse import RehearseScreen

    return RehearseScreen()


def _guidance_screen():
    from companion.tui.screens.guidance import GuidanceScreen

    return GuidanceScreen()


def _journal_screen():
    from companion.tui.screens.journal import JournalScreen

    return JournalScreen()


def _models_screen():
    from companion.tui.screens.models import ModelsScreen

    return ModelsScreen()


class CompanionApp(App):
    """companion's terminal UI. Build it with a Settings; services load in the background."""

    TITLE = "companion"
    # Absolute, so subclasses defined elsewhere (benchmarks, tests) find the stylesheet too.
    CSS_PATH = Path(__file__).parent / "app.tcss"
    MODES = {
        "reflect": _reflect_screen,
        "rehearse": _rehearse_screen,
        "guidance": _guidance_screen,
        "journal": _journal_screen,
        "models": _models_screen,
    }
    DEFAULT_MODE = "reflect"
    BINDINGS = [
        Binding(
            "f2", "switch_mode('reflect')", "Reflect", show=False, priority=True, tooltip="go to Reflect"
        ),
        Binding(
            "f3", "switch_mode('rehearse')", "Rehearse", show=False, priority=True, tooltip="go to Rehearse"
        ),
        Binding(
            "f4", "switch_mode('guidance')", "Guidance", show=False, priority=True, tooltip="go to Guidance"
        ),
        Binding(
            "f5", "switch_mode('journal')", "Journal", show=False, priority=True, tooltip="go to Journal"
        ),
        Binding("f6", "switch_mode('models')", "Models", show=False, priority=True, tooltip="go to Models"),
        # F1 from anywhere, even a text box (where `?` is just a character); F1 again or Esc closes it.
        Binding(
            "f1",
            "help",
            "Help",
            key_display="F1",
            priority=True,
            tooltip="this help, for the screen you are on",
        ),
        Binding("ctrl+q", "quit", "Quit", priority=True, tooltip="close the companion"),
    ]

    # What the status line shows: the engine answering, and what the services are doing.
    engine_label: reactive[str] = reactive(BUILTIN_ENGINE)
    # The status line's right-hand note: a model on another machine changes what "offline" can honestly claim.
    privacy_note: reactive[str] = reactive(PRIVACY_NOTE)
    services_status: reactive[str] = reactive("starting")

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        load_services: bool = True,
        use_model: bool = True,
        startup_messages: Iterable[str] = (),
        **kwargs,
    ) -> None:
        """startup_messages: what the start found and fixed (file modes), shown as notifications once the app is
        up, where a person sees them (printed before the app, they would hide behind its screen)."""
        kwargs.setdefault("driver_class", terminal_driver_class())
        super().__init__(**kwargs)
        self.settings = settings if settings is not None else Settings.load()
        self.startup_messages = [*startup_messages, *self.settings.config_warnings]
        self.services = None
        self.services_error: CompanionError | None = None
        self._services_loaded = threading.Event()
        # Services replaced by a reload, closed by the next load worker (or on exit if none ran).
        self._retired_services: list = []
        self._unlock_lock = threading.Lock()
        self._load_services_on_ready = load_services
        self.use_model = use_model  # False: the built-in reflector answers even when a model is installed
        self.started_at = time.perf_counter()
        self.first_paint_seconds: float | None = None
        if self.settings.theme in self.available_themes:
            self.theme = self.settings.theme

    # ---- lifecycle -------------------------------------------------------------------------------
    async def on_ready(self) -> None:
        self.first_paint_seconds = time.perf_counter() - self.started_at
        # The first frame showed the input; now the side panels and the footer join it.
        mount_secondary = getattr(self.screen, "mount_secondary", None)
        if mount_secondary is not None:
            await mount_secondary()
        for message in self.startup_messages:
            self.notify(message, title="At start", severity="warning", timeout=15, markup=False)
        region_note = self._region_note()
        if region_note:
            self.notify(region_note, title="Safety resources", timeout=12, markup=False)
        # Start loading only after the first frame: the import of llama_cpp/chromadb must not delay it.
        if self._load_services_on_ready:
            self.load_services()

    def _region_note(self) -> str | None:
        """Until the person picks a region, say which one the help lines are for and where it came from."""
        import os

        from companion.config import default_region, read_config

        region = self.settings.region
        if os.environ.get("COMPANION_REGION") or region != default_region():
            return None
        if "region" in read_config(self.settings.config_path)[0]:
            return None  # chosen and saved before
        # The first locale variable that is set decides (as default_region reads them); without a country in it,
        # the region is companion's default.
        locale = next(
            (os.environ[name] for name in ("LC_ALL", "LC_MESSAGES", "LANG") if os.environ.get(name)), ""
        )
        source = "from your system's language settings" if "_" in locale else "the default"
        return f"Help lines for: {region} ({source}; change on the Models screen)"

    @work(thread=True, exclusive=True, group="services", name="load services")
    def load_services(self) -> None:
        """Build the services, then warm the index and the chat model so the first reflection is quick.

        Services a reload replaced are closed here first, off the UI thread (the chat model's close waits for its
        thread, up to 30 s), so they release the model and the journal before the new ones open them."""
        self._services_loaded.clear()
        self._close_retired()
        self.services_error = None
        self.call_from_thread(self._set_services_status, "loading the guidance…")
        try:
            from companion.services import Services

            # A reflection asked for while the index is prepared answers without the guidance, and says so.
            services = Services(self.settings, use_model=self.use_model, wait_for_guidance=False)
            self.services = services
            self._services_loaded.set()  # the screens may use them now; what is still loading waits or says so

            # Warm what the first reflection needs, saying what is loading; each step is built once.
            services.prepare_index(progress=self._index_progress)
            self.call_from_thread(self._set_services_status, "loading the model…")
            _ = services.chat_model
            _ = services.reflection
            self.services = services
            engine = self._engine_name(services)
        except CompanionError as exc:
            self.services, self.services_error = None, exc
            log.warning("services failed to load: %s", type(exc).__name__)
            self.call_from_thread(self._services_failed, exc)
            return
        except Exception as exc:  # a bug below must leave the app usable and say what happened
            self.services = None
            self.services_error = CompanionError(
                f"The companion could not start its services ({type(exc).__name__}).",
                kept="Nothing you typed was lost.",
                fix="see the log in the data folder, or run `companion reflect --no-model TEXT` to check",
            )
            log.exception("services failed to load")
            self.call_from_thread(self._services_failed, self.services_error)
            return
        finally:
            self._services_loaded.set()
        self.call_from_thread(
            self._services_ready, engine, getattr(services.chat_model, "privacy_note", None)
        )
        if services.problems.get("listener"):
            self.call_from_thread(
                self.notify,
                services.problems["listener"],
                title="The listener is not available",
                severity="warning",
                timeout=10,
                markup=False,
            )

    def _index_progress(self, done: int, total: int) -> None:
        """From the load worker: how far the first start's embedding of the guidance is."""
        self.call_from_thread(
            self._set_services_status, f"Preparing the guidance for search: {done} of {total} sections"
        )

    def _engine_name(self, services) -> str:
        chat = services.chat_model
        if chat is None:
            return BUILTIN_ENGINE
        return str(getattr(chat, "label", None) or getattr(chat, "name", None) or BUILTIN_ENGINE)

    def _set_services_status(self, status: str) -> None:
        self.services_status = status

    def _services_ready(self, engine: str, privacy_note: str | None = None) -> None:
        self.engine_label = engine
        self.privacy_note = privacy_note or PRIVACY_NOTE
        self.services_status = "ready"
        log.info("services ready after %.2fs", time.perf_counter() - self.started_at)

    def _services_failed(self, error: CompanionError) -> None:
        self.services_status = "unavailable"
        self.notify(str(error), title="Could not load", severity="error", timeout=10, markup=False)

    def wait_for_services(self, timeout: float | None = None):
        """From a worker thread: the services once loaded. Raises the loading error as a CompanionError."""
        if not self._services_loaded.wait(timeout):
            raise CompanionError("The companion is still loading.", fix="wait a moment and try again")
        if self.services is None:
            raise self.services_error or CompanionError("The companion's services are not available.")
        return self.services

    def journal(self):
        """From a worker thread: the journal, asking for its passphrase when it is encrypted."""
        from companion.store.journal import PassphraseNeeded, WrongPassphrase

        services = self.wait_for_services()
        # One prompt at a time: a second worker waits here, then finds the journal already unlocked.
        with self._unlock_lock:
            try:
                return services.journal
            except (PassphraseNeeded, WrongPassphrase) as exc:
                wrong = isinstance(exc, WrongPassphrase)
            return self._unlock_journal(services, wrong=wrong)

    def _unlock_journal(self, services, *, wrong: bool):
        from companion.store.journal import PassphraseNeeded, WrongPassphrase

        while True:
            passphrase = self._ask_passphrase(wrong=wrong)
            if passphrase is None:
                raise PassphraseNeeded(
                    "The journal is locked, so this was not saved or shown.",
                    fix="open the journal again and type its passphrase, or set COMPANION_PASSPHRASE",
                )
            try:
                return services.unlock_journal(passphrase)
            except WrongPassphrase:
                wrong = True

    def _ask_passphrase(self, *, wrong: bool) -> str | None:
        """From a worker thread: show the passphrase prompt and wait for the answer."""
        from companion.tui.screens.passphrase import PassphraseScreen

        answered = threading.Event()
        answer: list[str | None] = [None]

        def on_answer(value: str | None) -> None:
            answer[0] = value
            answered.set()

        self.call_from_thread(self.push_screen, PassphraseScreen(wrong=wrong), on_answer)
        # Stop waiting when the app closes, so a prompt left open never holds up the exit.
        while not answered.wait(0.1):
            if not self.is_running:
                return None
        return answer[0]

    def coach(self):
        return self.wait_for_services().coach

    def rehearsal(self, scenario):
        """From a worker thread: a new Rehearsal of scenario, with the coach, the chat model and the journal."""
        self.journal()  # unlock first, so the rehearsal's turns can be saved
        return self.wait_for_services().rehearsal(scenario)

    def reload_services(self, settings: Settings) -> None:
        """Use new settings (model, GPU offload, region): close the old services and load again."""
        if self.services is not None:
            self._retired_services.append(self.services)
        self.settings = settings
        self.services = None
        self._services_loaded.clear()
        self.engine_label = BUILTIN_ENGINE
        self.privacy_note = PRIVACY_NOTE
        self.load_services()

    def on_unmount(self) -> None:
        self.close_services()

    def close_services(self) -> None:
        """Stop the chat model's thread and release the journal, so the next run (or test) can own them."""
        self._close_retired()  # a reload whose worker never ran
        _close_quietly(self.services)

    def _close_retired(self) -> None:
        while self._retired_services:
            _close_quietly(self._retired_services.pop())

    # ---- actions ---------------------------------------------------------------------------------
    def action_help(self) -> None:
        from companion.tui.screens.help import HelpScreen

        if isinstance(self.screen, HelpScreen):
            self.screen.dismiss(None)
        else:
            self.push_screen(HelpScreen(self.screen))  # lists the keys of the screen it is opened from

    def watch_theme(self, theme: str) -> None:
        # Remember the person's theme choice for next time.
        if getattr(self, "settings", None) is not None and theme != self.settings.theme:
            self.settings = self.settings.with_changes(theme=theme)
            try:
                self.settings.save()
            except OSError:
                log.warning("could not save the theme choice")

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for mode, label in SCREENS.items():
            yield SystemCommand(f"Go to {label}", f"Open the {label} screen", self._switch_to(mode))
        yield SystemCommand("Help", "Show the keys and what each screen does", self.action_help)
        # Each screen names its own actions, so every action is in the palette.
        commands = getattr(screen, "palette_commands", None)
        if callable(commands):
            for title, help_text, callback in commands():
                yield SystemCommand(title, help_text, callback)

    def _switch_to(self, mode: str):
        def switch() -> None:
            self.switch_mode(mode)

        return switch
