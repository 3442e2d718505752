"""Models and settings: the engine in use, installed models, pulling one, GPU offload, the region for safety resources."""

from __future__ import annotations

import threading
import time

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, DataTable, Label, ProgressBar, Select, Static

from companion.errors import CompanionError
from companion.logs import get_logger
from companion.tui.screens.base import STYLES, CompanionScreen

log = get_logger("tui.models")

GPU_CHOICES = (
    ("CPU only (0 layers)", 0),
    ("Some layers (16)", 16),
    ("Most layers (32)", 32),
    ("All layers", 999),
)


def gigabytes(size: float) -> str:
    return f"{size:.1f} GB"


class ModelsScreen(CompanionScreen):
    MODE = "models"
    CSS_PATH = STYLES / "models.tcss"
    BINDINGS = [
        Binding("ctrl+u", "use_model", "Use selected"),
        Binding("ctrl+d", "pull_model", "Download selected", priority=True),
        Binding("ctrl+s", "save_settings", "Save settings", priority=True),
        # Kept out of the footer (the palette lists it): the footer's keys fit 80 columns as they are.
        Binding("ctrl+n", "add_server", "Model server", show=False),
        Binding(
            "escape", "stop_download", "Stop download", tooltip="stop the download; the next one resumes it"
        ),
    ]

    # The progress line is redrawn at most this often (a fast connection reports a chunk every few milliseconds).
    PROGRESS_INTERVAL = 0.1

    def __init__(self) -> None:
        super().__init__()
        self.listings: list = []
        self.pulling = False
        self._stop_pull = threading.Event()
        self.pull_outcome: str | None = None  # "done", "stopped" or "failed", once a download has ended

    def compose_body(self) -> ComposeResult:
        settings = self.app.settings
        with VerticalScroll(id="models-main"):
            yield Static("", id="engine-info")
            yield Label(
                "Chat models (enter or ctrl+u uses one; ctrl+d downloads it)", classes="section-label"
            )
            yield DataTable(id="model-table", cursor_type="row", zebra_stripes=True)
            with Horizontal(id="pull-row"):
                yield Label("", id="pull-stage")
                yield ProgressBar(id="pull-progress", show_eta=False, show_percentage=True)
            yield Label(
                "GPU offload (layers on the GPU; this machine may have none)", classes="section-label"
            )
            gpu_values = [value for _label, value in GPU_CHOICES]
            yield Select(
                [(label, value) for label, value in GPU_CHOICES],
                value=settings.n_gpu_layers if settings.n_gpu_layers in gpu_values else 0,
                allow_blank=False,
                id="gpu-layers",
            )
            yield Label("Region for safety resources", classes="section-label")
            # Just the saved region until load_listings reads the others (off the UI thread: a TOML file).
            yield Select(
                [(settings.region, settings.region)], value=settings.region, allow_blank=False, id="region"
            )
            with Horizontal(id="settings-buttons"):
                yield Button("Save settings (ctrl+s)", id="save", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#pull-row").display = False
        table = self.query_one("#model-table", DataTable)
        table.add_columns("name", "tier", "size", "licence", "installed")
        self.watch(self.app, "engine_label", self._show_engine)
        for select in self.query(Select):
            self.watch(select, "expanded", self._list_shower(select), init=False)
        self.load_listings(with_regions=True)

    def _list_shower(self, select: Select):
        def show(expanded: bool) -> None:
            # The lists open inside the scrolling body (models.tcss), so bring the whole open list into view.
            if expanded:
                overlay = select.query_one("SelectOverlay")
                self.call_after_refresh(
                    self.query_one("#models-main").scroll_to_widget, overlay, animate=False
                )

        return show

    def on_screen_resume(self) -> None:
        self._show_engine()

    def _show_engine(self, _value: object = None) -> None:
        settings = self.app.settings
        info = Text()
        info.append("Engine in use: ", style="bold")
        info.append(self.app.engine_label)
        info.append(f" ({self.app.services_status})\n", style="dim")
        services = getattr(self.app, "services", None)
        chat = services.already_built("chat_model") if services is not None else None
        if chat is not None and hasattr(chat, "describe"):
            facts = chat.describe()
            size = (
                f"{facts['size_mb']:.0f} MB"
                if facts.get("size_mb") is not None
                else f"served by {facts.get('server')}"
            )
            info.append(
                f"  {facts['name']} · {size} · {facts['licence'] or 'licence not stated'}\n", style="dim"
            )
        problem = services.problems.get("listener") if services is not None else None
        if problem:
            info.append(f"  {problem}\n", style="dim")
        info.append("Embedding model: ", style="bold")
        from companion.engines.tuned import search_embed_model

        embed = search_embed_model(settings)
        info.append(embed.name if embed else "not prepared (run: companion models prepare-embedder)")
        info.append("\nData folder: ", style="bold")
        info.append(str(settings.home))
        self.query_one("#engine-info", Static).update(info)

    @work(thread=True, exclusive=True, group="models-list", name="list models")
    def load_listings(self, with_regions: bool = False, highlight: str | None = None) -> None:
        from companion.engines.models import list_models

        if with_regions:
            from companion.safety.screen import available_regions

            self.app.call_from_thread(self._show_regions, tuple(available_regions()))
        try:
            listings = list_models(self.app.settings)
        except CompanionError as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="error", markup=False)
            return
        self.app.call_from_thread(self._show_listings, listings, highlight)

    def _show_regions(self, known: tuple[str, ...]) -> None:
        select = self.query_one("#region", Select)
        chosen = select.value  # the saved region, or one already picked from the short list
        regions = known if chosen in known else (chosen, *known)
        select.set_options([(region, region) for region in regions])
        select.value = chosen

    def _show_listings(self, listings, highlight: str | None = None) -> None:
        self.listings = list(listings)
        table = self.query_one("#model-table", DataTable)
        row = table.cursor_row
        table.clear()
        for listing in self.listings:
            model = listing.model
            table.add_row(
                Text(model.name),
                Text(model.tier),
                gigabytes(model.size_gb),
                Text(model.licence),
                "yes" if listing.installed else "no",
                key=model.name,
            )
        names = [listing.model.name for listing in self.listings]
        if highlight in names:
            row = names.index(highlight)  # the model just downloaded: Enter uses it
        if self.listings and row is not None:
            table.move_cursor(row=min(row, len(self.listings) - 1))

    def _selected(self):
        table = self.query_one("#model-table", DataTable)
        if not self.listings or table.cursor_row is None or table.cursor_row >= len(self.listings):
            return None
        return self.listings[table.cursor_row]

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_use_model()

    def action_use_model(self) -> None:
        listing = self._selected()
        if listing is None:
            return
        if not listing.installed:
            self.notify(f"{listing.model.name} is not downloaded yet: ctrl+d downloads it.", markup=False)
            return
        settings = self.app.settings.with_changes(
            chat_model=None, chat_model_name=listing.model.name, chat_server=None, server_model=None
        )
        self._apply(settings, f"Using {listing.model.name}; loading it now.")

    def action_pull_model(self) -> None:
        listing = self._selected()
        if listing is None or self.pulling:
            return
        if listing.installed:
            self.notify(f"{listing.model.name} is already installed.", markup=False)
            return
        self.pulling = True
        self.pull_outcome = None
        self._stop_pull.clear()
        bar = self.query_one("#pull-progress", ProgressBar)
        bar.update(total=None, progress=0)
        bar.display = True
        self.refresh_bindings()
        self.pull(listing.model.name)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "stop_download":
            return self.pulling  # Esc means "stop" only while something downloads
        return super().check_action(action, parameters)

    def action_stop_download(self) -> None:
        if self.pulling:
            self._stop_pull.set()
            self._pull_stage("Stopping the download…")

    @work(thread=True, exclusive=True, group="models-pull", name="pull model")
    def pull(self, name: str) -> None:
        from companion.engines.models import DownloadCancelled, DownloadMeter, pull_model

        call = self.app.call_from_thread
        meter = DownloadMeter()
        last_drawn = [0.0]

        def progress(done: int, total: int | None) -> None:
            meter.update(done, total)
            now = time.monotonic()
            if now - last_drawn[0] >= self.PROGRESS_INTERVAL or (total is not None and done >= total):
                last_drawn[0] = now
                call(self._pull_progress, name, meter.done, meter.total, meter.describe())

        call(self._pull_stage, f"Downloading {name}… (the only time companion goes online; Esc stops)")
        try:
            path = pull_model(name, self.app.settings, progress=progress, cancel=self._stop_pull)
        except DownloadCancelled as exc:
            call(self._pull_done, name, str(exc), "stopped")
            return
        except CompanionError as exc:
            call(self._pull_done, name, str(exc), "failed")
            return
        except Exception as exc:  # a bug must stop the bar and say so, not leave it running
            log.exception("download failed")
            call(
                self._pull_done,
                name,
                f"The download of {name} failed ({type(exc).__name__}); see the log.",
                "failed",
            )
            return
        call(self._pull_done, name, f"{name} is downloaded and checked ({path.name}): Enter uses it.", "done")

    def _pull_progress(self, name: str, done: int, total: int | None, line: str) -> None:
        if not self.pulling:
            return  # a late report after the end
        self.query_one("#pull-row").display = True
        self.query_one("#pull-progress", ProgressBar).update(total=total, progress=done)
        stopping = " · stopping…" if self._stop_pull.is_set() else " · Esc stops"
        self.query_one("#pull-stage", Label).update(Text(f"{name}: {line}{stopping}"))

    def _pull_stage(self, message: str) -> None:
        self.query_one("#pull-row").display = True
        self.query_one("#pull-stage", Label).update(Text(message))

    def _pull_done(self, name: str, message: str, outcome: str) -> None:
        self.pulling = False
        self.pull_outcome = outcome
        self.refresh_bindings()
        # The bar goes away with the download: an animated bar after a failure would say it is still working.
        self.query_one("#pull-progress", ProgressBar).display = False
        self.query_one("#pull-stage", Label).update(Text(message))
        self.notify(
            message,
            markup=False,
            severity="error" if outcome == "failed" else "information",
            timeout=10 if outcome == "failed" else 5,
        )
        self.load_listings(highlight=name if outcome == "done" else None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            self.action_save_settings()

    def action_save_settings(self) -> None:
        gpu = self.query_one("#gpu-layers", Select).value
        region = self.query_one("#region", Select).value
        settings = self.app.settings.with_changes(n_gpu_layers=int(gpu), region=str(region))
        self._apply(settings, "Settings saved.")

    def _apply(self, settings, message: str) -> None:
        try:
            settings.save()
        except OSError as exc:
            self.notify(
                f"Could not save the settings ({exc.strerror}); nothing changed.",
                severity="error",
                markup=False,
            )
            return
        self.app.reload_services(settings)
        self.notify(message, markup=False)
        self._show_engine()

    def action_add_server(self) -> None:
        from companion.tui.screens.server import ServerScreen

        settings = self.app.settings
        self.app.push_screen(ServerScreen(settings.chat_server, settings.server_model), self._use_server)

    def _use_server(self, chosen: tuple[str, str] | None) -> None:
        if chosen is None:
            return
        address, model = chosen
        settings = self.app.settings.with_changes(
            chat_model=None, chat_model_name=None, chat_server=address, server_model=model
        )
        self._apply(settings, f"Using {model} on the server at {address}; connecting now.")

    def palette_commands(self):
        return [
            (
                "Use a model server",
                "Test the address of Ollama, LM Studio, llama.cpp server or vLLM, list its "
                "models and use one (ctrl+n)",
                self.action_add_server,
            ),
            (
                "Use the selected model",
                "Answer with the highlighted chat model (ctrl+u)",
                self.action_use_model,
            ),
            (
                "Download the selected model",
                "Download the highlighted chat model (ctrl+d)",
                self.action_pull_model,
            ),
            ("Save settings", "Save GPU offload and region (ctrl+s)", self.action_save_settings),
            (
                "Stop the download",
                "Stop the download under way; the next one resumes it (esc)",
                self.action_stop_download,
            ),
        ]
