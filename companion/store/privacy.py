"""Privacy by construction: no network, private file modes, one running instance, and erasing every trace."""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from companion.config import HOME_MARKER_NAME, Settings, write_home_marker
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


# Set beside HF_HUB_OFFLINE when companion switched the libraries offline itself, not the person: a download the
# person asks for (`models pull`, Ctrl+D on the Models screen) then goes ahead, over its own connection only.
OFFLINE_SET_BY_COMPANION = "COMPANION_SET_HF_HUB_OFFLINE"


def apply_offline_environment(*, allow_downloads: bool = False) -> None:
    """Keep every library offline and telemetry off; only `companion models pull` may download."""
    for name, value in NO_TELEMETRY_ENVIRONMENT.items():
        os.environ[name] = value
    if allow_downloads:
        for name in OFFLINE_ENVIRONMENT:
            os.environ.pop(name, None)
        os.environ.pop(OFFLINE_SET_BY_COMPANION, None)
    else:
        if not _is_on(os.environ.get("HF_HUB_OFFLINE")):
            os.environ[OFFLINE_SET_BY_COMPANION] = "1"
        os.environ.update(OFFLINE_ENVIRONMENT)


def downloads_switched_off_by_person() -> bool:
    """True when the person set HF_HUB_OFFLINE themselves (companion's own setting does not stop a pull)."""
    return _is_on(os.environ.get("HF_HUB_OFFLINE")) and not os.environ.get(OFFLINE_SET_BY_COMPANION)


def _is_on(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


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


# ---- whose folder it is -----------------------------------------------------------------------------------

ADOPT_FLAG = "--adopt-home"


def _owned_names(home: Path) -> list[Path]:
    """The top-level entries companion writes in a data folder it owns; nothing else in it is ever touched."""
    return [*_known_traces(Settings(home=home)), home / HOME_MARKER_NAME]


def _made_by_older_companion(home: Path) -> bool:
    """Files only companion writes: a folder from a release before the marker holds at least one of them.

    `documents/` and `logs/` alone are not proof (people have folders of those names); these names are, even
    when the journal inside is damaged (that journal is then kept aside, never deleted)."""
    names = ("journal.sqlite3", LOCK_FILE_NAME, "index/chroma.sqlite3", "logs/companion.log")
    return any((home / name).is_file() for name in names)


def home_ownership(home: Path) -> str:
    """'missing', 'ours' (marked), 'empty', 'older' (an unmarked folder of an older companion), 'prepared' (only
    the config.toml and scenarios a person wrote for companion) or 'foreign'."""
    if not home.exists() and not home.is_symlink():
        return "missing"
    if not home.is_dir():
        raise CompanionError(
            f"The data folder {home} is a file, not a folder.",
            kept="Nothing was changed.",
            fix="choose a folder with --home (or COMPANION_HOME)",
        )
    if (home / HOME_MARKER_NAME).is_file():
        return "ours"
    try:
        if not any(home.iterdir()):
            return "empty"
    except OSError as exc:
        raise CompanionError(
            f"The data folder {home} cannot be read ({exc.strerror}).",
            kept="Nothing was changed.",
            fix=f"check its permissions (chmod u+rx {home}), or choose another folder with --home",
        ) from None
    if _made_by_older_companion(home):
        return "older"
    return "prepared" if _prepared_for_companion(home) else "foreign"


# What a person writes for companion before its first start (README: config.toml, their own scenarios).
PREPARED_NAMES = frozenset({"config.toml", "scenarios"})


def _prepared_for_companion(home: Path) -> bool:
    """True when the folder holds only the settings and scenarios a person wrote for companion, nothing else."""
    entries = list(home.iterdir())
    if any(entry.name not in PREPARED_NAMES or entry.is_symlink() for entry in entries):
        return False
    scenarios = home / "scenarios"
    return not scenarios.exists() or (
        scenarios.is_dir() and all(item.is_file() and item.suffix == ".toml" for item in scenarios.iterdir())
    )


def claim_home(home: Path, *, adopt: bool = False) -> str:
    """Refuse a non-empty folder companion did not create (unless adopted); return its ownership.

    Changes nothing: the marker is written by `mark_home` once the folder's lock is held."""
    state = home_ownership(home)
    if state != "foreign":
        return state
    if not adopt:
        raise CompanionError(
            f"{home} already holds files and companion did not create it, so it is not used as the data folder.",
            kept="Nothing in it was read or changed.",
            fix=f"choose a new or empty folder with --home, or add {ADOPT_FLAG} to keep companion's data there",
        )
    taken = [path.name for path in _owned_names(home) if path.exists() or path.is_symlink()]
    if taken:
        raise CompanionError(
            f"{home} already holds {', '.join(taken)}, which companion would use for its own data.",
            kept="Nothing was changed.",
            fix="move those elsewhere, or choose a new or empty folder with --home",
        )
    return "adopted"


def mark_home(home: Path, state: str) -> None:
    """Write the marker into a folder companion now owns (claimed by `claim_home`)."""
    if state != "ours" and home.is_dir():
        write_home_marker(
            home,
            {
                "older": "created by an older companion",
                "adopted": "adopted",
                "prepared": "set up by you before companion's first start",
            }.get(state, "created"),
        )


# ---- file modes --------------------------------------------------------------------------------------------


def check_permissions(home: Path) -> list[str]:
    """Tighten the data dir to 0700 and companion's files in it to 0600; one warning for each thing fixed.

    Only what companion owns is looked at: a folder that is not its own is left exactly as it is, and in its
    own folder, files the person put there keep their modes."""
    warnings: list[str] = []
    if home_ownership(home) not in ("ours", "older"):
        return warnings
    paths = [home]
    for entry in _owned_names(home):
        paths.append(entry)
        if entry.is_dir() and not entry.is_symlink():
            paths.extend(_walk(entry))
    for path in paths:
        try:
            info = path.lstat()
        except FileNotFoundError:
            continue  # not there, or removed while we looked (another process rotating a file)
        if stat.S_ISLNK(info.st_mode):
            continue  # never chmod through a link: its target may not be ours
        mode = stat.S_IMODE(info.st_mode)
        # Directories become 700; files keep only their owner's bits (a plain file ends up 600).
        wanted = 0o700 if stat.S_ISDIR(info.st_mode) else mode & 0o700
        if mode & 0o077:
            try:
                os.chmod(path, wanted)
            except OSError as exc:
                warnings.append(
                    f"{path} is readable by others (mode {mode:o}) and could not be fixed: {exc.strerror}"
                )
                continue
            warnings.append(f"{path} was readable by others (mode {mode:o}); tightened to {wanted:o}")
    return warnings


def _walk(root: Path):
    for folder, dirnames, filenames in os.walk(root, followlinks=False):
        for name in dirnames + filenames:
            yield Path(folder) / name


# ---- the data folder's lock -------------------------------------------------------------------------------

# How long a command waits for the folder before it gives up with a message (COMPANION_LOCK_WAIT overrides all).
LOCK_WAIT_ENV = "COMPANION_LOCK_WAIT"
LOCK_WAIT_SECONDS = {"read": 30.0, "write": 600.0, "forget": 120.0, "app": 30.0}
# Holders that keep the folder for as long as they run: waiting for them would only hang, so say so at once.
_LONG_HOLDERS = ("app", "journal")
_POLL_SECONDS = 0.1


@dataclass
class _Hold:
    """This process's hold on one data folder's lock (shared by every user in the process)."""

    fd: int | None  # None: the folder is read-only or missing, so there is no lock to take (readers only)
    exclusive: bool
    count: int = 1


_HOLDS: dict[str, _Hold] = {}
_HOLDS_GUARD = threading.Lock()


def _lock_key(path: Path) -> str:
    return os.path.abspath(path)


def _holder(fd: int) -> tuple[int | None, str]:
    """The pid and role the exclusive holder wrote into the lock file ((None, '') when a reader holds it)."""
    try:
        words = os.pread(fd, 64, 0).decode("ascii", "replace").split()
        return int(words[0]), (words[1] if len(words) > 1 else "journal")
    except (OSError, ValueError, IndexError):
        return None, ""


class FolderBusy(CompanionError):
    """Another companion command held the data folder for longer than this one would wait."""


class FolderErased(CompanionError):
    """`companion forget` erased the data folder while this command waited for it."""


def _already_open_error() -> JournalError:
    return JournalError(
        ALREADY_OPEN_MESSAGE,
        kept="Nothing was changed; your journal is safe in the other window.",
        fix="switch to the window where companion is open, or close it and try again",
    )


def _forgotten_error(home: Path) -> CompanionError:
    return FolderErased(
        f"companion's data in {home} was erased (by `companion forget`) while this command waited for it.",
        kept="Nothing was saved.",
        fix="run the command again to start afresh",
    )


def _flock(fd: int, exclusive: bool, *, blocking: bool = False) -> bool:
    import fcntl

    flags = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | (0 if blocking else fcntl.LOCK_NB)
    try:
        fcntl.flock(fd, flags)
    except BlockingIOError:
        return False
    return True


def _stale(fd: int, path: Path) -> bool:
    """True when the lock file was removed (by forget) while we waited for it."""
    try:
        return os.fstat(fd).st_nlink == 0 or os.stat(path).st_ino != os.fstat(fd).st_ino
    except FileNotFoundError:
        return True


class DataFolderLock:
    """The data folder's lock (fcntl.flock on companion.lock): exclusive for writers, shared for readers.

    One hold per process, re-entrant: the journal, the index and `forget` inside one command share it. A busy
    folder is waited for up to `wait` seconds, then refused with a message; the app and an open journal are
    refused at once. The kernel drops the lock when the holder exits, even on SIGKILL.
    """

    def __init__(
        self,
        home: Path,
        *,
        exclusive: bool,
        role: str = "command",
        wait: float = 0.0,
        on_wait: Callable[[str], None] | None = None,
    ) -> None:
        self.home = Path(home)
        self.path = self.home / LOCK_FILE_NAME
        self.exclusive = exclusive
        self.role = role
        self.wait = wait
        self.on_wait = on_wait
        self._hold: _Hold | None = None

    @property
    def held(self) -> bool:
        return self._hold is not None

    def acquire(self) -> DataFolderLock:
        if self._hold is not None:
            return self
        key = _lock_key(self.path)
        with _HOLDS_GUARD:
            hold = _HOLDS.get(key)
            if hold is not None:
                if (
                    self.exclusive
                    and not hold.exclusive
                    and (hold.fd is None or not _upgrade(hold, self.path))
                ):
                    raise _busy_error(self.home, self.path, hold.fd)
                hold.count += 1
                self._hold = hold
                return self
            self._hold = _HOLDS[key] = self._take()
        return self

    def _take(self) -> _Hold:
        fd = _open_lock_file(self.path)
        if fd is None:
            if self.exclusive:
                raise read_only_error(self.home)
            return _Hold(None, False)  # nothing can write here either, so reading needs no lock
        deadline = time.monotonic() + max(self.wait, 0.0)
        told = False
        try:
            while not _flock(fd, self.exclusive):
                pid, role = _holder(fd)
                if role in _LONG_HOLDERS or pid == os.getpid():
                    raise _already_open_error()
                if time.monotonic() >= deadline:
                    raise _busy_error(self.home, self.path, fd)
                if not told and self.on_wait is not None:
                    told = True
                    self.on_wait(
                        f"waiting for another companion command to finish with {self.home} "
                        f"(up to {self.wait:.0f} s)"
                    )
                time.sleep(_POLL_SECONDS)
            if _stale(fd, self.path):
                raise _forgotten_error(self.home)
            _write_holder(fd, f"{os.getpid()} {self.role}\n" if self.exclusive else "")
        except BaseException:
            os.close(fd)
            raise
        return _Hold(fd, self.exclusive)

    def release(self) -> None:
        hold, self._hold = self._hold, None
        if hold is not None:
            _let_go(self.path, hold)

    def __enter__(self) -> DataFolderLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _open_lock_file(path: Path) -> int | None:
    """The lock file, created 0600; read-only when the folder or file cannot be written; None when absent there."""
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        try:
            return os.open(path, os.O_RDONLY)
        except OSError:
            return None


def _write_holder(fd: int, text: str) -> None:
    # The holder's pid and role, for a waiting command (and a person) to see who holds it; readers clear it.
    with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)
        if text:
            os.pwrite(fd, text.encode("ascii"), 0)


def _upgrade(hold: _Hold, path: Path) -> bool:
    """Shared -> exclusive without waiting; on failure the shared hold is taken back (flock converts by
    dropping first)."""
    if _flock(hold.fd, True):
        hold.exclusive = True
        _write_holder(hold.fd, f"{os.getpid()} command\n")
        return True
    _flock(hold.fd, False, blocking=True)
    return False


def _let_go(path: Path, hold: _Hold) -> None:
    with _HOLDS_GUARD:
        hold.count -= 1
        if hold.count > 0:
            return
        _HOLDS.pop(_lock_key(path), None)
    if hold.fd is not None:
        import fcntl

        if hold.exclusive:
            _write_holder(hold.fd, "")
        try:
            fcntl.flock(hold.fd, fcntl.LOCK_UN)
        finally:
            os.close(hold.fd)


def _busy_error(home: Path, path: Path, fd: int | None) -> CompanionError:
    pid, _role = _holder(fd) if fd is not None else (None, "")
    who = f" (process {pid})" if pid else ""
    return FolderBusy(
        f"Another companion command{who} is still using {home}, so this one did not start.",
        kept="Nothing was changed.",
        fix="wait for it to finish (or stop it), then run this command again",
    )


def read_only_error(home: Path) -> CompanionError:
    return CompanionError(
        f"The data folder {home} is read-only, so this command could not save anything.",
        kept="Nothing was changed; reading commands (journal list, show, export; knowledge list) still work.",
        fix=f"make it writable (chmod u+w {home}) or choose another folder with --home",
    )


@contextlib.contextmanager
def writing_if_free(home: Path):
    """Yields True when this process may write to the folder now: it holds the lock exclusively, or holds it
    shared and nobody else does (then exclusive for the block, shared again after). With no hold at all (a
    library caller, a test) it yields True: nothing coordinates such a caller, as before."""
    if Path(home).is_dir() and not os.access(home, os.W_OK):
        yield False  # a read-only folder: read what is there
        return
    with _HOLDS_GUARD:
        hold = _HOLDS.get(_lock_key(Path(home) / LOCK_FILE_NAME))
        upgraded = hold is not None and not hold.exclusive and hold.fd is not None and _upgrade(hold, home)
    if hold is None or hold.exclusive and not upgraded:
        yield True
        return
    try:
        yield upgraded
    finally:
        if upgraded:
            with _HOLDS_GUARD:
                hold.exclusive = False
                _write_holder(hold.fd, "")
                _flock(hold.fd, False, blocking=True)


def lock_wait_seconds(access: str) -> float:
    value = os.environ.get(LOCK_WAIT_ENV, "").strip()
    try:
        return max(float(value), 0.0) if value else LOCK_WAIT_SECONDS[access]
    except ValueError:
        return LOCK_WAIT_SECONDS[access]


@contextlib.contextmanager
def use_data_folder(
    home: Path, access: str, *, adopt: bool = False, on_wait: Callable[[str], None] | None = None
):
    """Hold the data folder for one command: access is 'read' (shared), 'write', 'forget' or 'app' (exclusive).

    A non-empty folder companion did not create is refused first; a missing one is created (0700, marked) for
    anything but reading and forgetting. Yields the warnings of the permission check."""
    home = Path(home)
    state = claim_home(home, adopt=adopt)
    writer = access != "read"
    if state == "missing" and access not in ("read", "forget"):
        try:
            home.mkdir(parents=True, mode=0o700)
        except FileExistsError:
            pass  # another companion made it a moment ago
        except OSError as exc:
            raise CompanionError(
                f"The data folder {home} cannot be created ({exc.strerror}).",
                kept="Nothing was saved.",
                fix="choose a folder you can write to with --home (or COMPANION_HOME)",
            ) from None
    if writer and home.is_dir() and not os.access(home, os.W_OK):
        raise read_only_error(home)
    lock = DataFolderLock(
        home,
        exclusive=writer,
        role=access if access == "app" else "command",
        wait=lock_wait_seconds(access),
        on_wait=on_wait,
    )
    if state != "missing" or home.is_dir():
        lock.acquire()
    try:
        if lock.held and home.is_dir():
            mark_home(home, state)
        try:
            warnings = check_permissions(home)
        except OSError as exc:
            warnings = [f"could not check the permissions of {home}: {exc.strerror}"]
        yield warnings
    finally:
        lock.release()


# ---- the single-instance lock -----------------------------------------------------------------------------


class InstanceLock:
    """The journal's hold on the data folder's lock file: it shares the command's hold when the process has one
    (DataFolderLock), else takes the file exclusively without waiting, so a second companion gets a clear
    message. The kernel drops the lock when the holder exits, even on SIGKILL, so a crash never leaves it stuck.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None
        self._shared: _Hold | None = None  # the command's hold this lock rides on

    @property
    def held(self) -> bool:
        return self._fd is not None or self._shared is not None

    def acquire(self) -> InstanceLock:
        import fcntl

        if self.held:
            return self
        with _HOLDS_GUARD:
            hold = _HOLDS.get(_lock_key(self.path))
            if hold is not None:
                hold.count += 1
                self._shared = hold
                return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise _already_open_error() from None
        _write_holder(fd, f"{os.getpid()} journal\n")
        self._fd = fd
        return self

    def release(self) -> None:
        import fcntl

        if self._shared is not None:
            hold, self._shared = self._shared, None
            _let_go(self.path, hold)
            return
        if self._fd is None:
            return
        try:
            _write_holder(self._fd, "")
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
    # Downloaded model files kept because --models was not given (empty: nothing worth keeping was there).
    models_kept: list[Path] = field(default_factory=list)


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


def downloaded_models(models_dir: Path) -> list[Path]:
    """Files in the models folder worth keeping: models and partial downloads, not the hub client's lock files."""
    if not models_dir.is_dir():
        return []
    return sorted(
        path
        for path in models_dir.rglob("*")
        if path.is_file() and not path.is_symlink() and path.suffix != ".lock"
    )


def plan_forget(settings: Settings, *, include_models: bool = False) -> ForgetPlan:
    home = settings.home
    if home_ownership(home) not in ("ours", "older"):
        return ForgetPlan()  # nothing here is companion's (the CLI refuses such a folder before this)
    known = _owned_names(home)
    models_kept = [] if include_models else downloaded_models(settings.models_dir)
    # A models folder with nothing worth keeping in it (lock files of a failed pull) goes too.
    removable = [path for path in known if not (models_kept and path == settings.models_dir)]
    plan = ForgetPlan(
        remove=[path for path in removable if path.exists() or path.is_symlink()], models_kept=models_kept
    )
    known_set = {path.resolve() for path in known}
    plan.left = sorted(child for child in home.iterdir() if child.resolve() not in known_set)
    return plan


def forget(
    settings: Settings,
    *,
    include_models: bool = False,
    wait: float = 0.0,
    on_wait: Callable[[str], None] | None = None,
) -> ForgetPlan:
    """Remove the journal, index, logs, config and added documents (models only if asked).

    Holds the folder's lock exclusively while it works (waiting up to `wait` seconds for a command to finish),
    so nothing is written back while or after it runs: the lock file goes last, and a command that was waiting
    for it finds it gone and stops. Only names companion itself writes are removed; anything else is left and
    reported. The marker stays only while companion's data (kept models) is still there.
    """
    home = settings.home
    if not home.is_dir():
        return ForgetPlan()
    lock = DataFolderLock(home, exclusive=True, role="forget", wait=wait, on_wait=on_wait)
    try:
        lock.acquire()
    except JournalError as exc:
        raise CompanionError(
            ALREADY_OPEN_MESSAGE,
            kept="Nothing was removed.",
            fix="close companion everywhere, then run `companion forget` again",
        ) from exc
    except FolderErased:
        return ForgetPlan()  # another `forget` finished first: nothing is left to remove
    except FolderBusy as exc:
        raise CompanionError(
            exc.message,
            kept="Nothing was removed.",
            fix="wait for it to finish (or stop it), then run `companion forget` again",
        ) from exc
    marker, lock_file = home / HOME_MARKER_NAME, home / LOCK_FILE_NAME
    try:
        plan = plan_forget(settings, include_models=include_models)
        for path in plan.remove:
            if path in (marker, lock_file):
                continue  # the marker and the lock go last
            _remove(path)
        if not plan.models_kept:
            _remove(marker)  # what is left is the person's own: the folder is theirs again
        lock_file.unlink(missing_ok=True)  # while held: a command waiting for it sees it gone
        with contextlib.suppress(OSError):
            home.rmdir()  # only when nothing at all is left
    finally:
        lock.release()
    return plan


def _remove(path: Path) -> None:
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


# ---- at start ---------------------------------------------------------------------------------------------


def startup_warnings(home: Path | str | None) -> list[str]:
    """The data dir's modes, checked (and fixed) at every start. Returns warnings to show."""
    if home is None:
        from companion.config import default_home

        home = default_home()
    try:
        return check_permissions(Path(home).expanduser())
    except (OSError, CompanionError) as exc:
        return [f"could not check the permissions of {home}: {getattr(exc, 'strerror', None) or exc}"]
