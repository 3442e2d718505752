"""One Settings object; every path derives from COMPANION_HOME (default: the platformdirs user data dir)."""

from __future__ import annotations

import os
import stat
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

# The source checkout's models/ folder: where scripts/setup prepares the embedder and the catalogue lives.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
BUNDLED_MODELS_DIR = PROJECT_ROOT / "models"
BUNDLED_KNOWLEDGE_DIR = PROJECT_ROOT / "knowledge"
DEFAULT_EMBEDDER_FILE = "all-MiniLM-L6-v2-f32.gguf"
# Its Q8_0 copy, written beside it by prepare-embedder: what the app embeds with when present (faster, same ranking).
FAST_EMBEDDER_FILE = "all-MiniLM-L6-v2-q8_0.gguf"
# The listener: SmolLM2-135M-Instruct (extracted from its PyPI wheel by scripts/setup) plus our LoRA adapter.
LISTENER_BASE_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
LISTENER_ADAPTER_PATH = Path(__file__).resolve().parent / "data" / "listener-lora.gguf"
DEFAULT_REGION = "US"
# Locale territories whose resource table goes by another name (crisis_resources.toml uses UK for Great Britain).
_TERRITORY_ALIASES = {"GB": "UK"}


def default_region(environ: dict[str, str] | None = None) -> str:
    """The region from the system locale (LC_ALL, then LC_MESSAGES, then LANG: en_GB.UTF-8 -> UK, en_IE -> IE);
    DEFAULT_REGION when the locale names no territory (C, POSIX, unset)."""
    environ = os.environ if environ is None else environ
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = (environ.get(name) or "").strip()
        if not value:
            continue
        # language[_TERRITORY][.codeset][@modifier]; the first variable that is set decides, as in POSIX.
        territory = value.split(".")[0].split("@")[0].partition("_")[2].upper()
        if territory.isalpha() and len(territory) == 2:
            return _TERRITORY_ALIASES.get(territory, territory)
        return DEFAULT_REGION
    return DEFAULT_REGION


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
    # An OpenAI-compatible model server (`chat_model = "http://…"`) and which of its models to use.
    chat_server: str | None = None
    server_model: str | None = None
    embed_model: Path | None = None
    # The listener answers when no other chat model is configured; `listener = false` in config.toml turns it off.
    use_listener: bool = True
    listener_adapter: Path = LISTENER_ADAPTER_PATH
    region: str = DEFAULT_REGION
    n_gpu_layers: int = 0
    n_threads: int | None = None
    theme: str = "textual-dark"
    knowledge_dirs: tuple[Path, ...] = field(default_factory=lambda: (BUNDLED_KNOWLEDGE_DIR,))
    # What config.toml held that could not be used, one line each (the CLI prints them, the app shows them).
    config_warnings: tuple[str, ...] = field(default=(), compare=False)

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
        # Folder by folder (the person's first), the quantized copy before the f32 file it was made from.
        for folder in self.model_search_dirs:
            for name in (FAST_EMBEDDER_FILE, DEFAULT_EMBEDDER_FILE):
                if (folder / name).is_file():
                    return folder / name
        return None

    @property
    def listener_base(self) -> Path | None:
        """The listener's base model where setup or `models prepare-listener` put it; None when not prepared."""
        return self.find_model_file(LISTENER_BASE_FILE)

    def with_changes(self, **changes) -> Settings:
        return replace(self, **changes)

    # ---- loading -----------------------------------------------------------------------------
    @classmethod
    def load(cls, home: Path | None = None) -> Settings:
        """Read COMPANION_HOME/config.toml; environment variables override the file. A value of the wrong type or
        out of range, an unknown key or a file that is not TOML is named in `config_warnings` and its default used."""
        home = Path(home) if home is not None else default_home()
        values, warnings = read_config(home / "config.toml")
        chat = os.environ.get("COMPANION_MODEL") or values.get("chat_model")
        embed = os.environ.get("COMPANION_EMBED_MODEL") or values.get("embed_model")
        server = chat if looks_like_server_url(chat) else None
        chat = None if server else chat
        return cls(
            home=home,
            chat_model=Path(chat).expanduser() if chat and looks_like_model_path(chat) else None,
            chat_model_name=chat if chat and not looks_like_model_path(chat) else None,
            chat_server=server.strip() if server else None,
            server_model=values.get("server_model"),
            embed_model=Path(embed).expanduser() if embed else None,
            listener_adapter=Path(
                os.environ.get("COMPANION_LISTENER_ADAPTER") or LISTENER_ADAPTER_PATH
            ).expanduser(),
            use_listener=values.get("listener", True)
            and os.environ.get("COMPANION_LISTENER", "").strip().lower() not in ("0", "off", "false", "no"),
            region=str(os.environ.get("COMPANION_REGION") or values.get("region") or default_region()),
            n_gpu_layers=values.get("n_gpu_layers", 0),
            n_threads=values.get("n_threads"),
            theme=values.get("theme", "textual-dark"),
            config_warnings=tuple(warnings),
        )

    def save(self) -> None:
        """Write the person's choices back to config.toml (0600)."""
        ensure_home_dir(self.home)
        lines = []
        if self.chat_model is not None:
            lines.append(f"chat_model = {_toml_str(str(self.chat_model))}")
        elif self.chat_model_name:
            lines.append(f"chat_model = {_toml_str(self.chat_model_name)}")
        elif self.chat_server:
            lines.append(f"chat_model = {_toml_str(self.chat_server)}")
        if self.server_model:
            lines.append(f"server_model = {_toml_str(self.server_model)}")
        if self.embed_model is not None:
            lines.append(f"embed_model = {_toml_str(str(self.embed_model))}")
        lines.append(f"region = {_toml_str(self.region)}")
        lines.append(f"n_gpu_layers = {int(self.n_gpu_layers)}")
        lines.append(f"theme = {_toml_str(self.theme)}")
        write_private_text(self.config_path, "\n".join(lines) + "\n")


def _is_text(value: object) -> bool:
    """A non-empty string with no control or format characters (a path with them fails later, far from here)."""
    return (
        isinstance(value, str)
        and bool(value.strip())
        and not any(unicodedata.category(ch) in ("Cc", "Cf", "Cs") for ch in value)
    )


def _is_whole_number(low: int, high: int) -> Callable[[object], bool]:
    return lambda value: isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


# Every key config.toml may hold: the check its value must pass, and what the warning says was expected.
# A new setting is one line here (plus its field above and its line in `load`).
CONFIG_KEYS: dict[str, tuple[Callable[[object], bool], str]] = {
    "chat_model": (_is_text, "a GGUF path, a catalogue name or a server address, in quotes"),
    "server_model": (_is_text, "the name of one of the server's models, in quotes"),
    "embed_model": (_is_text, "the path of a GGUF embedder, in quotes"),
    "listener": (lambda value: isinstance(value, bool), "true or false"),
    "region": (_is_text, 'a region code in quotes, e.g. "UK"'),
    "n_gpu_layers": (_is_whole_number(-1, 100_000), "a whole number from -1 (every layer) to 100000"),
    "n_threads": (_is_whole_number(1, 1024), "a whole number of threads from 1 to 1024"),
    "theme": (_is_text, "a theme name in quotes"),
}


def read_config(path: Path) -> tuple[dict[str, object], list[str]]:
    """The usable values of a config.toml and one warning line for each thing in it that cannot be used.

    Never raises: a broken config must not stop any command (`forget` least of all); defaults apply."""
    try:
        if not path.is_file():
            return {}, []
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "it is not UTF-8 text"
        return {}, [
            f"{path} could not be read ({reason}); every setting uses its default. "
            f"Fix: correct or delete {path}"
        ]
    import tomllib  # here, not at the top: a first run has no config file, and the TUI starts sooner

    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return {}, [
            f"{path} is not valid TOML ({_short(str(exc), 100)}); every setting uses its default. "
            f"Fix: correct that line, or delete {path}"
        ]
    values: dict[str, object] = {}
    warnings: list[str] = []
    for key, value in document.items():
        rule = CONFIG_KEYS.get(key)
        if rule is None:
            known = ", ".join(CONFIG_KEYS)
            warnings.append(
                f"{path}: unknown setting {_short(key, 40)!r} ignored. Fix: remove it (known: {known})"
            )
        elif not rule[0](value):
            warnings.append(
                f"{path}: {key} = {_short(_as_toml(value), 40)} ignored, the default is used "
                f"(expected {rule[1]}). Fix: correct or remove that line"
            )
        else:
            values[key] = value
    return values, warnings


def _as_toml(value: object) -> str:
    if isinstance(value, str):
        return _toml_str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return str(value)


def _short(text: str, limit: int) -> str:
    """One line of at most `limit` characters, without controls (a hostile config must not drive the terminal)."""
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def looks_like_server_url(value: str | None) -> bool:
    """An OpenAI-compatible server's address (http:// or https://) rather than a GGUF or a catalogue name."""
    return isinstance(value, str) and value.strip().lower().startswith(("http://", "https://"))


def looks_like_model_path(value: str) -> bool:
    """A GGUF path rather than a catalogue name (as given to --model or chat_model)."""
    return value.endswith(".gguf") or "/" in value or os.sep in value


def _toml_str(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


# Written into a data folder companion created (or was told to adopt): a non-empty folder without it is someone
# else's, and companion neither changes nor removes anything in it (see store/privacy.py).
HOME_MARKER_NAME = ".companion-home"


def write_home_marker(home: Path, how: str = "created") -> None:
    """Mark home as companion's own; a read-only folder simply stays unmarked."""
    note = f"This folder holds companion's private data ({how}). `companion forget` removes it.\n"
    try:
        fd = os.open(home / HOME_MARKER_NAME, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError:
        return  # there already, or the folder cannot be written
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(note)


def ensure_home_dir(home: Path) -> list[str]:
    """The data folder, created 0700 and marked when companion makes it (or finds it empty)."""
    fresh = not home.exists() or (home.is_dir() and not any(home.iterdir()))
    fixed = ensure_private_dir(home)
    if fresh:
        write_home_marker(home)
    return fixed


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
