"""Privacy by construction: no network, private file modes, one running instance, and erasing every trace."""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from companion.config import Settings
from companion.errors import CompanionError, JournalError

# Set before huggingface_hub or chromadb is imported: both read these once, at import.
OFFLINE_ENVIRONMENT = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
}
NO_TELEMETRY_ENVIRONMENT = {
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
    "ANONYMIZED_TELEMETRY": "False",
    "CHROMA_ANONYMIZED_TELEMETRY": "False",
    "DO_NOT_TRACK": "1",
}

LOCK_FILE_NAME = "companion.lock"
ALREADY_OPEN_MESSAGE = "companion is already open in another window (or another command is using its data)."


def apply_offline_environment(*, allow_downloads: bool = False) -> None:
    """Keep every library offline and telemetry off; only `companion models pull` may download."""
    for name, value in NO_TELEMETRY_ENVIRONMENT.items():
        os.environ[name] = value
    if allow_downloads:
        for name in OFFLINE_ENVIRONMENT:
            os.environ.pop(name, None)
    else:
        os.environ.update(OFFLINE_ENVIRONMENT)


def prepare_process(argv: Sequence[str]) -> None:
    """At the very start of `companion`: offline libraries, and files created private by default.

    The umask makes every file a library creates (Chroma's index, SQLite's WAL, llama.cpp's log) owner-only,
    so the permission check at start has nothing to fix.
    """
    apply_offline_environment(allow_downloads=command_downloads(argv))
    os.umask(0o077)


def command_downloads(argv: Sequence[str]) -> bool:
    """True only for `companion [options] models pull ...`, the one command allowed to use the network."""
    words = [word for word in argv if not word.startswith("-")]
    return "models" in words and words[words.index("models") + 1 : words.index("models") + 2] == ["pull"]


# ---- file modes --------------------------------------------------------------------------------------------


def check_permissions(home: Path) -> list[str]:
    """Tighten the data dir to 0700 and its files to 0600; return one warning for each thing we had to fix."""
    warnings: list[str] = []
    if not home.exists():
        return warnings
    for path in [home, *_walk(home)]:
        try:
            info = path.lstat()
        except FileNotFoundError:
            continue  # removed while we looked (another process rotating a file)
        if stat.S_ISLNK(info.st_mode):
            continue  # never chmod through a link: its target may not be ours
        mode = stat.S_IMODE(info.st_mode)
        # Directories become 700; files keep only their owner's bits (a plain file ends up 600).
        wanted = 0o700 if stat.S_ISDIR(info.st_mode) else mode & 0o700
        if mode & 0o077:
            try:
                os.chmod(path, wanted)
            except OSError as exc:
                warnings.append(f"{path} is readable by others (mode {mode:o}) and could not be fixed: {exc.strerror}")
                continue
            warnings.append(f"{path} was readable by others (mode {mode:o}); tightened to {wanted:o}")
    return warnings


def _walk(root: Path):
    for folder, dirnames, filenames in os.walk(root, followlinks=False):
        for name in dirnames + filenames:
            yield Path(folder) / name


# ---- the single-instance lock -----------------------------------------------------------------------------


class InstanceLock:
    """An advisory lock file (fcntl.flock): while one companion holds it, a second gets a clear message.

    The kernel drops the lock when the holder exits, even on SIGKILL, so a crash never leaves it stuck.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> InstanceLock:
        import fcntl

        if self._fd is not None:
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise JournalError(
                ALREADY_OPEN_MESSAGE,
                kept="Nothing was changed; your journal is safe in the other window.",
                fix="switch to the window where companion is open, or close it and try again",
            ) from None
        # The holder's pid, for a person wondering which process it is; never read back to decide anything.
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        import fcntl

        if self._fd is None:
            return
        try:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> InstanceLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


# ---- erasing every trace ----------------------------------------------------------------------------------


@dataclass
class ForgetPlan:
    """What `companion forget` removes, and what it leaves because it does not know it."""

    remove: list[Path] = field(default_factory=list)
    left: list[Path] = field(default_factory=list)


def _known_traces(settings: Settings) -> list[Path]:
    """Everything companion writes into the data folder, the models folder last."""
    home = settings.home
    journal = settings.journal_path
    known = [
        journal,
        journal.with_name(journal.name + "-wal"),
        journal.with_name(journal.name + "-shm"),
        journal.with_name(journal.name + "-journal"),
        settings.index_dir,
        settings.log_dir,
        settings.config_path,
        settings.config_path.with_name(settings.config_path.name + ".tmp"),
        settings.user_documents_dir,
        home / "scenarios",  # rehearsal scenarios the person wrote
        home / "exports",  # journal exports saved from the app
        home / LOCK_FILE_NAME,
    ]
    # Journals that were moved aside because they could not be opened are the person's data too.
    known += sorted(home.glob(journal.name + ".unreadable-*")) if home.is_dir() else []
    return [*known, settings.models_dir]


def plan_forget(settings: Settings, *, include_models: bool = False) -> ForgetPlan:
    known = _known_traces(settings)
    removable = known if include_models else [path for path in known if path != settings.models_dir]
    plan = ForgetPlan(remove=[path for path in removable if path.exists() or path.is_symlink()])
    if settings.home.is_dir():
        known_set = {path.resolve() for path in known}
        plan.left = sorted(
            child for child in settings.home.iterdir() if child.resolve() not in known_set
        )
    return plan


def forget(settings: Settings, *, include_models: bool = False) -> ForgetPlan:
    """Remove the journal, index, logs, config and added documents (models only if asked).

    Holds the instance lock while it works, so it never pulls the data out from under a running companion.
    Only names companion itself writes are removed; anything else in the folder is left and reported.
    """
    lock = InstanceLock(settings.home / LOCK_FILE_NAME) if settings.home.is_dir() else None
    if lock is not None:
        try:
            lock.acquire()
        except JournalError as exc:
            raise CompanionError(
                ALREADY_OPEN_MESSAGE,
                kept="Nothing was removed.",
                fix="close companion everywhere, then run `companion forget` again",
            ) from exc
    try:
        plan = plan_forget(settings, include_models=include_models)
        for path in plan.remove:
            if path == settings.home / LOCK_FILE_NAME:
                continue  # removed last, after we let go of it
            try:
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink(missing_ok=True)
            except OSError as exc:
                raise CompanionError(
                    f"Could not remove {path}: {exc.strerror}.",
                    kept="Everything listed before it was removed; the rest is still there.",
                    fix=f"check the permissions of {path.parent}, then run `companion forget` again",
                ) from None
    finally:
        if lock is not None:
            lock.release()
            (settings.home / LOCK_FILE_NAME).unlink(missing_ok=True)
    if settings.home.is_dir() and not any(settings.home.iterdir()):
        settings.home.rmdir()
    return plan


# ---- at start ---------------------------------------------------------------------------------------------


def startup_warnings(home: Path | str | None) -> list[str]:
    """The data dir's modes, checked (and fixed) at every start. Returns warnings to show."""
    if home is None:
        from companion.config import default_home

        home = default_home()
    try:
        return check_permissions(Path(home).expanduser())
    except OSError as exc:
        return [f"could not check the permissions of {home}: {exc.strerror}"]
