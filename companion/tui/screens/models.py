"""Models and settings: the engine in use, installed models, pulling one, GPU offload, the region for safety resources."""

from __future__ import annotations

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

GPU_CHOICES = (("CPU only (0 layers)", 0), ("Some layers (16)", 16), ("Most layers (32)", 32), ("All layers", 999))


def gigabytes(size: float) -> str:
    return f"{size:.1f} GB"


class ModelsScreen(CompanionScreen):
    MODE = "models"
    CSS_PATH = STYLES / "models.tcss"
    BINDINGS = [
        Binding("ctrl+u", "use_model", "Use selected"),
        Binding("ctrl+d", "pull_model", "Download selected", priority=True),
        Binding("ctrl+s", "save_settings", "Save settings", priority=True),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.listings: list = []
        self.pulling = False

    def compose_body(self) -> ComposeResult:
        settings = self.app.settings
        with VerticalScroll(id="models-main"):
            yield Static("", id="engine-info")
            yield Label("Chat models (enter or ctrl+u uses one; ctrl+d downloads it)", classes="section-label")
            yield DataTable(id="model-table", cursor_type="row", zebra_stripes=True)
            with Horizontal(id="pull-row"):
                yield Label("", id="pull-stage")
                yield ProgressBar(id="pull-progress", show_eta=False)
            yield Label("GPU offload (layers on the GPU; this machine may have none)", classes="section-label")
            gpu_values = [value for _label, value in GPU_CHOICES]
            yield Select(
                [(label, value) for label, value in GPU_CHOICES],
                value=settings.n_gpu_layers if settings.n_gpu_layers in gpu_values else 0,
                allow_blank=False,
                id="gpu-layers",
            )
            yield Label("Region for safety resources", classes="section-label")
            # Just the saved region until load_listings reads the others (off the UI thread: a TOML file).
            yield Select([(settings.region, settings.region)], value=settings.region, allow_blank=False, id="region")
            with Horizontal(id="settings-buttons"):
                yield Button("Save settings (ctrl+s)", id="save", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#pull-row").display = False
        table = self.query_one("#model-table", DataTable)
        table.add_columns("name", "tier", "size", "licence", "installed")
        self.watch(self.app, "engine_label", self._show_engine)
        self.load_listings(with_regions=True)

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
            info.append(f"  {facts['name']} · {facts['size_mb']:.0f} MB · {facts['licence'] or 'licence not stated'}\n",
                        style="dim")
        problem = services.problems.get("listener") if services is not None else None
        if problem:
            info.append(f"  {problem}\n", style="dim")
        info.append("Embedding model: ", style="bold")
        embed = settings.resolved_embed_model
        info.append(embed.name if embed else "not prepared (run: companion models prepare-embedder)")
        info.append("\nData folder: ", style="bold")
        info.append(str(settings.home))
        self.query_one("#engine-info", Static).update(info)

    @work(thread=True, exclusive=True, group="models-list", name="list models")
    def load_listings(self, with_regions: bool = False) -> None:
        from companion.engines.models import list_models

        if with_regions:
            from companion.safety.screen import available_regions

            self.app.call_from_thread(self._show_regions, tuple(available_regions()))
        try:
            listings = list_models(self.app.settings)
        except CompanionError as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="error", markup=False)
            return
        self.app.call_from_thread(self._show_listings, listings)

    def _show_regions(self, known: tuple[str, ...]) -> None:
        select = self.query_one("#region", Select)
        chosen = select.value  # the saved region, or one already picked from the short list
        regions = known if chosen in known else (chosen, *known)
        select.set_options([(region, region) for region in regions])
        select.value = chosen

    def _show_listings(self, listings) -> None:
        self.listings = list(listings)
        table = self.query_one("#model-table", DataTable)
        table.clear()
        for listing in self.listings:
            model = listing.model
            table.add_row(
                Text(model.name), Text(model.tier), gigabytes(model.size_gb), Text(model.licence),
                "yes" if listing.installed else "no", key=model.name,
            )

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
        settings = self.app.settings.with_changes(chat_model=None, chat_model_name=listing.model.name)
        self._apply(settings, f"Using {listing.model.name}; loading it now.")

    def action_pull_model(self) -> None:
        listing = self._selected()
        if listing is None or self.pulling:
            return
        if listing.installed:
            self.notify(f"{listing.model.name} is already installed.", markup=False)
            return
        self.pulling = True
        self.pull(listing.model.name)

    def _pull_progress(self, done: int, total: int | None) -> None:
        self.query_one("#pull-row").display = True
        bar = self.query_one("#pull-progress", ProgressBar)
        bar.update(total=total, progress=done)

    @work(thread=True, exclusive=True, group="models-pull", name="pull model")
    def pull(self, name: str) -> None:
        from companion.engines.models import pull_model

        call = self.app.call_from_thread
        call(self._pull_stage, f"Downloading {name}… (the only time companion goes online)")
        try:
            path = pull_model(name, self.app.settings, progress=lambda done, total: call(self._pull_progress, done, total))
        except CompanionError as exc:
            call(self._pull_done, name, str(exc))
            return
        call(self._pull_done, name, f"{name} downloaded to {path}.")

    def _pull_stage(self, message: str) -> None:
        self.query_one("#pull-row").display = True
        self.query_one("#pull-stage", Label).update(Text(message))

    def _pull_done(self, name: str, message: str) -> None:
        self.pulling = False
        self.query_one("#pull-stage", Label).update(Text(message))
        self.notify(message, markup=False)
        self.load_listings()

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
            self.notify(f"Could not save the settings ({exc.strerror}); nothing changed.", severity="error", markup=False)
            return
        self.app.reload_services(settings)
        self.notify(message, markup=False)
        self._show_engine()

    def palette_commands(self):
        return [
            ("Use the selected model", "Answer with the highlighted chat model (ctrl+u)", self.action_use_model),
            ("Download the selected model", "Download the highlighted chat model (ctrl+d)", self.action_pull_model),
            ("Save settings", "Save GPU offload and region (ctrl+s)", self.action_save_settings),
        ]
