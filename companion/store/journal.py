"""The private journal: sessions and turns in one SQLite file in the data dir, optionally encrypted at rest.

Every turn is committed the moment it is saved (WAL, synchronous=FULL), so killing the process loses nothing
that was already shown. One process owns the journal at a time (an advisory lock next to the file).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from companion.config import create_private_file, ensure_private_dir
from companion.errors import JournalError
from companion.logs import get_logger
from companion.store.crypto import (
    SEALED_FILE_SUFFIX,
    SEALED_PREFIX,
    FieldCipher,
    KdfParams,
    WrongPassphrase,
    open_sealed_file_with,
    seal_file,
    unlock_with_migration,
)
from companion.store.privacy import LOCK_FILE_NAME, InstanceLock

__all__ = [
    "Journal",
    "PassphraseNeeded",
    "Session",
    "SessionInfo",
    "Turn",
    "WrongPassphrase",
    "SESSION_KINDS",
    "EXPORT_FORMATS",
]

log = get_logger("journal")

SQLITE_HEADER = b"SQLite format 3\x00"
SESSION_KINDS = ("reflect", "rehearse")
EXPORT_FORMATS = ("md", "json")
PASSPHRASE_ENV = "COMPANION_PASSPHRASE"
# SQLite's integers are signed 64-bit: a larger id can name no session (and would overflow the driver).
MAX_ROW_ID = 2**63 - 1
ENCRYPTION_META_KEYS = ("encryption", "kdf_salt", "kdf_n", "kdf_r", "kdf_p", "verifier")
# What a row-by-row recovery copies out of a damaged journal (rowid tables, so a seek can skip a bad page).
RECOVERED_COLUMNS = {
    "meta": ("key", "value"),
    "sessions": ("id", "kind", "scenario", "started", "ended", "summary"),
    "turns": ("id", "session_id", "position", "speaker", "text", "engine", "citations", "coach", "created"),
}

# Versioned migrations: index i upgrades user_version i -> i+1. Append only; never edit a shipped step.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB);
    CREATE TABLE sessions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL CHECK (kind IN ('reflect', 'rehearse')),
        scenario TEXT,
        started TEXT NOT NULL,
        ended TEXT,
        summary BLOB
    );
    CREATE TABLE turns (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        speaker TEXT NOT NULL,
        text BLOB NOT NULL,
        engine TEXT,
        citations BLOB,
        coach BLOB,
        created TEXT NOT NULL,
        UNIQUE (session_id, position)
    );
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)

_TEXT_KEPT = "Your text was not lost: it is still where you typed it, and everything saved before is intact."
_NOTHING_CHANGED = "Nothing in the journal was changed."
_WRITE_FAILED_FIX = "free some disk space (or check that the data folder is writable), then save again"


class PassphraseNeeded(JournalError):
    """The journal is encrypted and no passphrase was given: ask for one (TUI prompt or COMPANION_PASSPHRASE)."""


@dataclass(frozen=True)
class Turn:
    session_id: int
    position: int
    speaker: str
    text: str
    engine: str | None
    citations: list
    coach: dict | None
    created: str

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class SessionInfo:
    """One line of the journal list: no turns, just enough to recognise the session."""

    id: int
    kind: str
    scenario: str | None
    started: str
    ended: str | None
    summary: Any
    turn_count: int
    preview: str


@dataclass(frozen=True)
class Session:
    id: int
    kind: str
    scenario: str | None
    started: str
    ended: str | None
    summary: Any
    turns: tuple[Turn, ...]

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["turns"] = [turn.to_dict() for turn in self.turns]
        return data


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _jsonable(value: Any) -> Any:
    """Dataclasses (coach results, citations, summaries) become plain JSON-ready values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _jsonable(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(item) for item in value]
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def is_sqlite_file(path: Path) -> bool:
    """An empty file is fine (SQLite starts it); anything else must begin with the SQLite header."""
    with open(path, "rb") as handle:
        head = handle.read(len(SQLITE_HEADER))
    return head == b"" or head == SQLITE_HEADER


def _name_taken(target: Path) -> bool:
    """A kept copy's name is taken by the copy itself, its -wal, or its sealed form (after `journal encrypt`)."""
    return any(target.with_name(target.name + suffix).exists() for suffix in ("", "-wal", SEALED_FILE_SUFFIX))


def _cannot_write(path: Path) -> bool:
    """True when the journal's folder exists but cannot be written, or the journal file cannot be."""
    folder = path.parent
    if folder.is_dir() and not os.access(folder, os.W_OK):
        return True
    return path.is_file() and not os.access(path, os.W_OK)


def move_aside(path: Path) -> Path:
    """Rename an unreadable journal (and its -wal/-shm) to a timestamped name; never overwrite anything."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    base = path.with_name(f"{path.name}.unreadable-{stamp}")
    target = base
    counter = 1
    while _name_taken(target):
        target = base.with_name(f"{base.name}-{counter}")
        counter += 1
    os.rename(path, target)
    for suffix in ("-wal", "-shm"):
        companion_file = path.with_name(path.name + suffix)
        if companion_file.exists():
            os.rename(companion_file, target.with_name(target.name + suffix))
    return target


def _reading(method):
    """A read that meets a damaged page (one `quick_check` did not see) recovers the journal and says so."""

    @functools.wraps(method)
    def guarded(self: Journal, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except sqlite3.DatabaseError as exc:
            raise self._damaged_while_in_use(exc, "could not be read") from None

    return guarded


class Journal:
    """Sessions (reflect / rehearse) and their turns, kept in SQLite at `path`.

    `passphrase` opens an encrypted journal; when None, COMPANION_PASSPHRASE is used if set. An encrypted
    journal opened without one raises PassphraseNeeded; a wrong one raises WrongPassphrase (nothing changed).
    `notices` holds messages to show the person once (a journal moved aside, permissions tightened).
    `read_only` is True when the folder or the file cannot be written: the journal is then read as it is (SQLite
    opened read-only), never repaired or changed, and every write says what could not be saved.
    """

    def __init__(self, path: Path | str, passphrase: str | None = None) -> None:
        self.path = Path(path)
        self.notices: list[str] = []
        self._guard = threading.RLock()
        self._cipher: FieldCipher | None = None
        self._conn: sqlite3.Connection | None = None
        # The unlocked journal's key record (salt, cost, verifier): a recovery mid-use keeps the journal encrypted.
        self._key_record: dict[str, Any] | None = None
        self._lock: InstanceLock | None = None
        self.read_only = _cannot_write(self.path)
        if (
            not self.read_only
        ):  # tightening a read-only folder to 700 would make it writable: leave it as it is
            try:
                self.notices += ensure_private_dir(self.path.parent)
            except OSError as exc:
                raise JournalError(
                    f"The data folder {self.path.parent} cannot be created ({exc.strerror}).",
                    fix="check the folder's permissions, or set COMPANION_HOME to a folder you own",
                ) from None
        try:
            self._lock = InstanceLock(self.path.parent / LOCK_FILE_NAME).acquire()
        except OSError:
            if not self.read_only:
                raise
            # No lock file can be made here, and no companion can write here either: reading needs none.
        try:
            self._open_database()
            self._unlock(passphrase)
        except BaseException:
            self.close()
            raise
        log.info("journal opened (schema %d, encrypted=%s)", SCHEMA_VERSION, self.encrypted)

    # ---- opening ----------------------------------------------------------------------------------------
    def _open_database(self) -> None:
        try:
            if self.path.is_dir():
                raise JournalError(
                    f"The journal path {self.path} is a folder, not a journal file.",
                    kept="Nothing was changed.",
                    fix="move or rename that folder (companion keeps its journal in a file of that name), "
                    "then run the command again",
                )
            if self.path.exists() and not is_sqlite_file(self.path):
                if self.read_only:
                    raise self._cannot_repair("is not a journal database")
                self._start_fresh_after("is not a journal database")
        except OSError as exc:
            raise JournalError(
                f"The journal file {self.path} cannot be read ({exc.strerror}).",
                kept=_NOTHING_CHANGED,
                fix="check the file's permissions, or set COMPANION_HOME to a folder you own",
            ) from None
        try:
            self._connect_and_migrate()
            damaged = self._fails_quick_check()
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and not _is_corruption(exc):
                raise _write_error(exc, "The journal could not be opened", kept=_NOTHING_CHANGED) from None
            damaged = True
        if damaged:
            if self.read_only:
                raise self._cannot_repair("is damaged")
            self.notices.append(self._salvage("is damaged"))

    def _fails_quick_check(self) -> bool:
        """SQLite's structural check of every page (not index contents: those are caught when a read fails)."""
        rows = self._db.execute("PRAGMA quick_check").fetchall()
        return [row[0] for row in rows] != ["ok"]

    def _start_fresh_after(self, problem: str) -> None:
        kept_at = move_aside(self.path)
        message = (
            f"The journal file {self.path.name} {problem}. It was kept as {kept_at.name} (nothing was deleted) "
            "and a fresh journal was started."
        )
        self.notices.append(message)
        log.warning("journal file moved aside: %s", kept_at.name)

    # ---- damage -----------------------------------------------------------------------------------------
    def _salvage(self, problem: str) -> str:
        """Keep the damaged file under a new name, start a fresh journal, copy into it every row that still
        reads; return the one line that tells the person what happened."""
        with self._guard:
            if self._conn is not None:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.close()
                self._conn = None
            try:
                kept_at = move_aside(self.path)
            except OSError as exc:
                raise JournalError(
                    f"The journal file {self.path.name} {problem} and could not be kept aside ({exc.strerror}).",
                    kept=_NOTHING_CHANGED,
                    fix="make the data folder writable, then run the command again",
                ) from None
            self._connect_and_migrate()
            saved = self._recover_from(kept_at)
        log.warning("damaged journal moved aside: %s; %d session(s) recovered", kept_at.name, saved)
        recovered = (
            f"{saved} session{'s' if saved != 1 else ''} could be read from it and {'were' if saved != 1 else 'was'} "
            "copied into a fresh journal"
            if saved
            else "no session could be read from it, so a fresh journal was started"
        )
        return (
            f"The journal file {self.path.name} {problem}. It was kept as {kept_at.name} in {kept_at.parent} "
            f"(nothing was deleted); {recovered}."
        )

    def _damaged_while_in_use(self, exc: sqlite3.DatabaseError, what: str) -> JournalError:
        if not _is_corruption(exc):
            return _write_error(exc, f"The journal {what}", kept=_NOTHING_CHANGED)
        if self.read_only:
            return self._cannot_repair("turned out to be damaged")
        notice = self._salvage("turned out to be damaged")
        self.notices.append(notice)
        return JournalError(notice, fix="run the command again to see what was recovered")

    def _recover_from(self, damaged: Path) -> int:
        """Copy every session, turn and key record that still reads from `damaged` (opened read-only, never
        changed); returns how many sessions the fresh journal now holds."""
        wal = damaged.with_name(damaged.name + "-wal")
        # Read-only, and immutable when there is no WAL to read: SQLite then creates no file next to the copy.
        mode = "mode=ro" if wal.exists() and wal.stat().st_size else "immutable=1"
        try:
            source = sqlite3.connect(f"{damaged.resolve().as_uri()}?{mode}", uri=True)
        except sqlite3.Error:
            return 0
        source.text_factory = lambda raw: raw.decode("utf-8", errors="replace")
        try:
            rows = {
                table: _rows_that_read(source, table, columns) for table, columns in RECOVERED_COLUMNS.items()
            }
        finally:
            source.close()
        meta = {row[0]: row[1] for row in rows["meta"]}
        if self._key_record is not None and not all(key in meta for key in ENCRYPTION_META_KEYS):
            meta.update(self._key_record)  # the rows were sealed with the key this journal holds now
        encrypted = "encryption" in meta
        sealed_text = any(
            isinstance(row[4], bytes) and row[4].startswith(SEALED_PREFIX) for row in rows["turns"]
        )
        if (encrypted and not all(key in meta for key in ENCRYPTION_META_KEYS)) or (
            sealed_text and not encrypted
        ):
            log.warning("damaged journal: its key record is lost, so its encrypted rows cannot be used")
            return 0

        def work(conn):
            if encrypted:
                conn.executemany(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                    [(key, meta[key]) for key in ENCRYPTION_META_KEYS],
                )
            kept: set[int] = set()
            for row in rows["sessions"]:
                with contextlib.suppress(sqlite3.Error):  # a row damaged past its constraints is left behind
                    conn.execute(
                        "INSERT INTO sessions (id, kind, scenario, started, ended, summary) VALUES (?, ?, ?, ?, ?, ?)",
                        row,
                    )
                    kept.add(row[0])
            # Turns whose session row was lost keep a session of their own rather than being dropped.
            orphans: dict[Any, list[tuple]] = {}
            for row in rows["turns"]:
                if row[1] not in kept:
                    orphans.setdefault(row[1], []).append(row)
            for session_id, turns in orphans.items():
                kind = "rehearse" if any(turn[3] == "listener" for turn in turns) else "reflect"
                started = min((str(turn[8]) for turn in turns if turn[8]), default=_now())
                with contextlib.suppress(sqlite3.Error):
                    conn.execute(
                        "INSERT INTO sessions (id, kind, started) VALUES (?, ?, ?)",
                        (session_id, kind, started),
                    )
            for row in rows["turns"]:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute(
                        "INSERT INTO turns (id, session_id, position, speaker, text, engine, citations, coach, created)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        row,
                    )
            return conn.execute("SELECT COUNT(*) FROM sessions").fetchone()[0]

        return int(self._write("recovered journal", work))

    def _connect_and_migrate(self) -> None:
        if self.read_only:
            self._connect_read_only()
            return
        if not self.path.exists():
            create_private_file(self.path)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=2.0)
        self._conn = conn
        # Stored text that is not valid UTF-8 (written by another tool) reads with replacement marks, not an error.
        conn.text_factory = lambda raw: raw.decode("utf-8", errors="replace")
        conn.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed turn survives a crash and a power cut, not only a killed process.
        conn.execute("PRAGMA synchronous=FULL")
        # Deleted text is overwritten with zeros, not left in free pages.
        conn.execute("PRAGMA secure_delete=ON")
        conn.execute("PRAGMA foreign_keys=ON")
        self._migrate(conn)

    def _connect_read_only(self) -> None:
        """Open the journal without writing a byte: `mode=ro`, and `immutable=1` unless a WAL holds committed
        turns (then SQLite must read it, through the -shm index it can open read-only but never create here)."""
        if not self.path.exists() or self.path.stat().st_size == 0:
            self._connect_in_memory()  # nothing was ever saved here: an empty journal, to read and to refuse writes
            return
        wal = self.path.with_name(self.path.name + "-wal")
        shm = self.path.with_name(self.path.name + "-shm")
        if wal.exists() and wal.stat().st_size:
            if not shm.exists() and not os.access(self.path.parent, os.W_OK):
                raise JournalError(
                    f"The journal's latest turns are in {wal.name}, and SQLite can read them only through a "
                    f"{shm.name} file it cannot create while {self.path.parent} is read-only.",
                    kept=_NOTHING_CHANGED,
                    fix=f"make it writable ({self._chmod_fix()}), then run the command again",
                )
            mode = "mode=ro"
        else:
            # A cleanly closed journal: with no WAL to read, immutable stops SQLite making a -shm it cannot write.
            mode = "mode=ro&immutable=1"
        conn = sqlite3.connect(
            f"{self.path.resolve().as_uri()}?{mode}",
            uri=True,
            isolation_level=None,
            check_same_thread=False,
            timeout=2.0,
        )
        self._conn = conn
        conn.text_factory = lambda raw: raw.decode("utf-8", errors="replace")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version == 0 and conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0] == 0:
            conn.close()
            self._connect_in_memory()  # a file started but never given its tables: nothing in it to read
            return
        if version < SCHEMA_VERSION:
            raise JournalError(
                f"The journal was written by an older companion (schema {version}) and must be upgraded, which "
                f"cannot be done while {self.path.parent} is read-only.",
                kept=_NOTHING_CHANGED,
                fix=f"make it writable ({self._chmod_fix()}), then run the command again",
            )
        self._migrate(conn)  # only checks that a newer companion did not write it

    def _connect_in_memory(self) -> None:
        conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        self._conn = conn
        self._migrate(conn)

    def _migrate(self, conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise JournalError(
                f"The journal was written by a newer companion (schema {version}; this one knows {SCHEMA_VERSION}).",
                kept="The journal was not changed.",
                fix="update companion (git pull, then scripts/run)",
            )
        for step in range(version, SCHEMA_VERSION):
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in _statements(MIGRATIONS[step]):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version={step + 1}")
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    @_reading
    def _meta(self, key: str) -> Any:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def _chmod_fix(self) -> str:
        """The command that makes the journal writable again: the folder, and the file when it is read-only too."""
        targets = [
            path for path in (self.path.parent, self.path) if path.exists() and not os.access(path, os.W_OK)
        ]
        return "chmod u+w " + " ".join(str(target) for target in targets or [self.path.parent])

    def _read_only_error(self, what: str, kept: str = _TEXT_KEPT) -> JournalError:
        folder = self.path.parent
        where = (
            f"the data folder {folder}" if not os.access(folder, os.W_OK) else f"the journal file {self.path}"
        )
        return JournalError(
            f"{what}: {where} is read-only.",
            kept=kept,
            fix=f"make it writable ({self._chmod_fix()}), then save again",
        )

    def _cannot_repair(self, problem: str) -> JournalError:
        return JournalError(
            f"The journal file {self.path.name} {problem}, and it cannot be repaired while {self.path.parent} is "
            "read-only.",
            kept=_NOTHING_CHANGED,
            fix=f"make it writable ({self._chmod_fix()}), then run the command again: the damaged file is kept "
            "under a new name and every session that still reads is recovered",
        )

    def _unlock(self, passphrase: str | None) -> None:
        if self._meta("encryption") is None:
            return
        if passphrase is None:
            passphrase = os.environ.get(PASSPHRASE_ENV) or None
        if passphrase is None:
            raise PassphraseNeeded(
                "The journal is encrypted and needs its passphrase.",
                kept="Nothing was read or changed.",
                fix=f"enter it when asked, or set {PASSPHRASE_ENV} for scripts",
            )
        params = self._kdf_params()
        self._cipher, legacy = unlock_with_migration(passphrase, params, bytes(self._meta("verifier")))
        self._key_record = {key: self._meta(key) for key in ENCRYPTION_META_KEYS}
        if self.read_only:
            return  # re-keying and sealing kept copies wait for the next open that can write
        if legacy:
            # Encrypted before passphrases were normalised: re-key under the NFC form, so either form opens it.
            try:
                sealed = self._reseal(passphrase, KdfParams.fresh(n=params.n, r=params.r, p=params.p))
                log.info("journal re-keyed under the normalised passphrase")
            except JournalError:
                log.warning("journal could not be re-keyed; the passphrase as typed still opens it")
                return
        else:
            try:
                sealed = self._seal_copies_kept_aside(self._cipher, params)
            except JournalError:
                # Reading must still work (a read-only folder): the next open that can write seals them.
                log.warning("journal copies kept aside could not be encrypted yet")
                return
        if sealed:
            self.notices.append(_sealed_notice(sealed))

    def _seal_copies_kept_aside(self, cipher: FieldCipher, params: KdfParams) -> list[Path]:
        """Encrypt the journal copies moved aside earlier (whole files), so no plain text stays next to an
        encrypted journal; the plain copy is overwritten before it is removed."""
        sealed = []
        for path in sorted(self.path.parent.glob(self.path.name + ".unreadable-*")):
            if path.name.endswith((SEALED_FILE_SUFFIX, ".tmp")) or not path.is_file():
                continue
            target = path.with_name(path.name + SEALED_FILE_SUFFIX)
            counter = 1
            while target.exists():
                target = path.with_name(f"{path.name}-{counter}{SEALED_FILE_SUFFIX}")
                counter += 1
            try:
                seal_file(path, target, cipher, params)
                _overwrite_and_remove(path)
            except OSError as exc:
                raise JournalError(
                    f"The journal copy {path.name} could not be encrypted ({exc.strerror}).",
                    kept="The journal itself is encrypted; that copy is still in plain text.",
                    fix="free some disk space, then run `companion journal list` to finish encrypting it",
                ) from None
            sealed.append(target)
        if sealed:
            log.info("%d journal copies kept aside were encrypted", len(sealed))
        return sealed

    def _reseal_sealed_copies(
        self, old: FieldCipher, old_params: KdfParams, new: FieldCipher, params: KdfParams
    ):
        """After a passphrase change, copies sealed under the old key are sealed again under the new one."""
        for path in sorted(self.path.parent.glob(self.path.name + ".unreadable-*" + SEALED_FILE_SUFFIX)):
            opened = open_sealed_file_with(path, old, old_params)
            if opened is None:
                continue  # sealed under an older passphrase: left as it is
            name, data = opened
            tmp = path.with_name(path.name + ".tmp")
            tmp.unlink(missing_ok=True)
            seal_file(path, tmp, new, params, data=data, name=name)
            os.replace(tmp, path)

    def _kdf_params(self) -> KdfParams:
        return KdfParams(
            salt=bytes(self._meta("kdf_salt")),
            n=int(self._meta("kdf_n")),
            r=int(self._meta("kdf_r")),
            p=int(self._meta("kdf_p")),
        )

    @property
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise JournalError("The journal is closed.", fix="open it again (restart companion)")
        return self._conn

    @property
    def encrypted(self) -> bool:
        return self._cipher is not None

    @property
    @_reading
    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def close(self) -> None:
        with self._guard:
            if self._conn is not None:
                # Closing must never fail; every turn is already committed.
                with contextlib.suppress(sqlite3.Error):
                    if not self.read_only:
                        self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                self._conn.close()
                self._conn = None
            if getattr(self, "_lock", None) is not None:
                self._lock.release()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- sealing ----------------------------------------------------------------------------------------
    def _seal(self, value: str | None, context: str, cipher: FieldCipher | None = None) -> Any:
        cipher = cipher if cipher is not None else self._cipher
        if value is None or cipher is None:
            return value
        return cipher.seal(value, context.encode())

    def _open(self, value: Any, context: str) -> str | None:
        if value is None:
            return None
        if self._cipher is None:
            return value.decode("utf-8") if isinstance(value, bytes) else value
        return self._cipher.open(value, context.encode())

    # ---- writing ----------------------------------------------------------------------------------------
    def _write(self, what: str, work):
        """Run `work` in one immediate transaction; a failure rolls back and says the text was not saved."""
        if self.read_only:
            raise self._read_only_error(f"The {what} was not saved")
        with self._guard:
            conn = self._db
            try:
                conn.execute("BEGIN IMMEDIATE")
                result = work(conn)
                conn.execute("COMMIT")
                return result
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    # The rollback failing too changes nothing for the person.
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                log.error("journal write failed (%s): %s", what, type(exc).__name__)
                if (
                    isinstance(exc, sqlite3.DatabaseError)
                    and _is_corruption(exc)
                    and what != "recovered journal"
                ):
                    notice = self._salvage("turned out to be damaged")
                    self.notices.append(notice)
                    raise JournalError(
                        f"The {what} was not saved. {notice}", kept=_TEXT_KEPT, fix="save it again"
                    ) from None
                raise _write_error(exc, f"The {what} was not saved") from None
            except BaseException:
                if conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                raise

    def start_session(self, kind: str, scenario: str | None = None) -> int:
        if kind not in SESSION_KINDS:
            raise JournalError(
                f"Unknown session kind {kind!r}.", fix=f"use one of: {', '.join(SESSION_KINDS)}"
            )

        def work(conn):
            return conn.execute(
                "INSERT INTO sessions (kind, scenario, started) VALUES (?, ?, ?)", (kind, scenario, _now())
            ).lastrowid

        session_id = self._write("session", work)
        log.info("session %d started (%s)", session_id, kind)
        return int(session_id)

    def add_turn(
        self,
        session_id: int,
        speaker: str,
        text: str,
        *,
        engine: str | None = None,
        citations: Iterable | None = None,
        coach: Any = None,
    ) -> Turn:
        """Save one turn and commit it before returning: call it when the turn is shown."""
        if not isinstance(text, str):
            raise JournalError(
                "Only text can be saved in the journal.", fix="pass the turn's text as a string"
            )
        if not speaker:
            raise JournalError(
                "A turn needs a speaker.", fix="pass speaker='partner', 'listener' or 'companion'"
            )
        _require_session_id(session_id)
        citations_json = json.dumps(_jsonable(list(citations or [])), ensure_ascii=False)
        coach_json = None if coach is None else json.dumps(_jsonable(coach), ensure_ascii=False)
        created = _now()

        def work(conn):
            if conn.execute("SELECT 1 FROM sessions WHERE id = ?", (session_id,)).fetchone() is None:
                raise JournalError(
                    f"There is no journal session {session_id}.",
                    fix="start a session first (Journal.start_session)",
                )
            position = conn.execute(
                "SELECT COALESCE(MAX(position) + 1, 0) FROM turns WHERE session_id = ?", (session_id,)
            ).fetchone()[0]
            context = f"turn:{session_id}:{position}"
            conn.execute(
                "INSERT INTO turns (session_id, position, speaker, text, engine, citations, coach, created)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    session_id,
                    position,
                    speaker,
                    self._seal(text, context + ":text"),
                    engine,
                    self._seal(citations_json, context + ":citations"),
                    self._seal(coach_json, context + ":coach"),
                    created,
                ),
            )
            return position

        position = self._write("turn", work)
        return Turn(
            session_id=session_id,
            position=position,
            speaker=speaker,
            text=text,
            engine=engine,
            citations=json.loads(citations_json),
            coach=None if coach_json is None else json.loads(coach_json),
            created=created,
        )

    def end_session(self, session_id: int, summary: Any = None) -> None:
        """Mark the session ended; `summary` is text or a JSON-ready object (a rehearsal's summary)."""
        summary_json = None if summary is None else json.dumps(_jsonable(summary), ensure_ascii=False)
        _require_session_id(session_id)

        def work(conn):
            cursor = conn.execute(
                "UPDATE sessions SET ended = ?, summary = ? WHERE id = ?",
                (_now(), self._seal(summary_json, f"session:{session_id}:summary"), session_id),
            )
            if cursor.rowcount == 0:
                raise JournalError(
                    f"There is no journal session {session_id}.", fix="run `companion journal list`"
                )

        self._write("session summary", work)
        log.info("session %d ended", session_id)

    def save_reflection(self, statement: str, reflection: Any) -> int:
        """Keep one reflect exchange (what the partner said and the companion's reflection) as its own session."""
        text = (
            reflection if isinstance(reflection, str) else getattr(reflection, "reflection", str(reflection))
        )
        engine = getattr(reflection, "engine", None)
        citations = getattr(reflection, "citations", None)
        session_id = self.start_session("reflect")
        self.add_turn(session_id, "partner", statement)
        self.add_turn(session_id, "companion", text, engine=engine, citations=citations)
        self.end_session(session_id)
        return session_id

    def delete_session(self, session_id: int) -> bool:
        if not _is_session_id(session_id):
            return False

        def work(conn):
            conn.execute("DELETE FROM turns WHERE session_id = ?", (session_id,))
            return conn.execute("DELETE FROM sessions WHERE id = ?", (session_id,)).rowcount > 0

        deleted = self._write("deletion", work)
        if deleted:
            self._scrub()
            log.info("session %d deleted", session_id)
        return bool(deleted)

    def _scrub(self) -> None:
        """Fold the WAL into the file and empty it, so removed or replaced text survives nowhere."""
        if self.read_only:
            raise self._read_only_error("The journal could not be compacted", kept=_NOTHING_CHANGED)
        with self._guard:
            try:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                self._db.execute("VACUUM")
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as exc:
                raise _write_error(exc, "The journal could not be compacted", kept=_NOTHING_CHANGED) from None

    # ---- reading ----------------------------------------------------------------------------------------
    def _turns(self, session_id: int) -> tuple[Turn, ...]:
        rows = self._db.execute(
            "SELECT position, speaker, text, engine, citations, coach, created FROM turns"
            " WHERE session_id = ? ORDER BY position",
            (session_id,),
        ).fetchall()
        turns = []
        for position, speaker, text, engine, citations, coach, created in rows:
            context = f"turn:{session_id}:{position}"
            citations_json = self._open(citations, context + ":citations")
            coach_json = self._open(coach, context + ":coach")
            turns.append(
                Turn(
                    session_id=session_id,
                    position=position,
                    speaker=speaker,
                    text=self._open(text, context + ":text") or "",
                    engine=engine,
                    citations=_stored_json(citations_json, []),
                    coach=_stored_json(coach_json, None),
                    created=created,
                )
            )
        return tuple(turns)

    def _summary(self, session_id: int, value: Any) -> Any:
        opened = self._open(value, f"session:{session_id}:summary")
        return _stored_json(opened, None)

    @_reading
    def get_session(self, session_id: int) -> Session:
        _require_session_id(session_id)
        with self._guard:
            row = self._db.execute(
                "SELECT id, kind, scenario, started, ended, summary FROM sessions WHERE id = ?", (session_id,)
            ).fetchone()
            if row is None:
                raise JournalError(
                    f"There is no journal session {session_id}.",
                    fix="run `companion journal list` to see the sessions that exist",
                )
            return Session(
                id=row[0],
                kind=row[1],
                scenario=row[2],
                started=row[3],
                ended=row[4],
                summary=self._summary(row[0], row[5]),
                turns=self._turns(row[0]),
            )

    @_reading
    def list_sessions(self, query: str | None = None, limit: int | None = None) -> list[SessionInfo]:
        """Newest first. `query` matches (case-insensitively) any turn, the summary or the scenario name."""
        needle = query.casefold().strip() if query else ""
        with self._guard:
            rows = self._db.execute(
                "SELECT id, kind, scenario, started, ended, summary FROM sessions ORDER BY started DESC, id DESC"
            ).fetchall()
            found: list[SessionInfo] = []
            for session_id, kind, scenario, started, ended, summary_value in rows:
                summary = self._summary(session_id, summary_value)
                turns = self._turns(session_id)
                if needle:
                    haystack = [scenario or "", json.dumps(summary, ensure_ascii=False) if summary else ""]
                    haystack += [turn.text for turn in turns]
                    if not any(needle in part.casefold() for part in haystack):
                        continue
                preview = " ".join(turns[0].text.split())[:80] if turns else ""
                found.append(
                    SessionInfo(
                        id=session_id,
                        kind=kind,
                        scenario=scenario,
                        started=started,
                        ended=ended,
                        summary=summary,
                        turn_count=len(turns),
                        preview=preview,
                    )
                )
                if limit is not None and len(found) >= limit:
                    break
            return found

    # ---- export -----------------------------------------------------------------------------------------
    @_reading
    def export(self, session_ids: Iterable[int] | None = None, format: str = "md") -> str:
        """The chosen sessions (all when None), oldest first, as Markdown or JSON text."""
        if format not in EXPORT_FORMATS:
            raise JournalError(f"Unknown export format {format!r}.", fix="use --format md or --format json")
        if session_ids is None:
            # Just the ids (list_sessions would decrypt every turn only for get_session to do it again): oldest
            # first, the exact reverse of list_sessions' newest-first order.
            with self._guard:
                ids = [row[0] for row in self._db.execute("SELECT id FROM sessions ORDER BY started, id")]
        else:
            ids = list(session_ids)
        sessions = [self.get_session(session_id) for session_id in ids]
        if format == "json":
            payload = {"schema": SCHEMA_VERSION, "sessions": [session.to_dict() for session in sessions]}
            return json.dumps(payload, ensure_ascii=False, indent=2) + "\n"
        return render_markdown(sessions)

    # ---- encryption -------------------------------------------------------------------------------------
    def enable_encryption(self, passphrase: str, kdf: KdfParams | None = None) -> list[Path]:
        """Encrypt every turn and summary under a new passphrase, in one transaction, then scrub the plain text;
        the journal copies kept aside earlier are encrypted too (returned: their sealed files)."""
        if self.encrypted:
            raise JournalError(
                "The journal is already encrypted.",
                fix="use `companion journal change-passphrase` to choose a new passphrase",
            )
        sealed = self._reseal(passphrase, kdf or KdfParams.fresh())
        log.info("journal encrypted")
        return sealed

    def change_passphrase(self, new_passphrase: str, kdf: KdfParams | None = None) -> None:
        """Re-encrypt everything under a new passphrase (and a new salt) in one transaction."""
        if not self.encrypted:
            raise JournalError(
                "The journal is not encrypted, so it has no passphrase to change.",
                fix="run `companion journal encrypt` to set one",
            )
        self._reseal(new_passphrase, kdf or KdfParams.fresh())
        log.info("journal passphrase changed")

    def _reseal(self, passphrase: str, kdf: KdfParams) -> list[Path]:
        new_cipher = FieldCipher.from_passphrase(passphrase, kdf)
        old_cipher, old_params = self._cipher, (self._kdf_params() if self._cipher is not None else None)

        def work(conn):
            turn_rows = conn.execute(
                "SELECT id, session_id, position, text, citations, coach FROM turns"
            ).fetchall()
            for row_id, session_id, position, text, citations, coach in turn_rows:
                context = f"turn:{session_id}:{position}"
                sealed = [
                    self._seal(self._open(value, f"{context}:{name}"), f"{context}:{name}", new_cipher)
                    for name, value in (("text", text), ("citations", citations), ("coach", coach))
                ]
                conn.execute(
                    "UPDATE turns SET text = ?, citations = ?, coach = ? WHERE id = ?", (*sealed, row_id)
                )
            for session_id, summary in conn.execute("SELECT id, summary FROM sessions").fetchall():
                context = f"session:{session_id}:summary"
                conn.execute(
                    "UPDATE sessions SET summary = ? WHERE id = ?",
                    (self._seal(self._open(summary, context), context, new_cipher), session_id),
                )
            meta = {
                "encryption": "aes-256-gcm/scrypt",
                "kdf_salt": kdf.salt,
                "kdf_n": kdf.n,
                "kdf_r": kdf.r,
                "kdf_p": kdf.p,
                "verifier": new_cipher.make_verifier(),
            }
            conn.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", meta.items())
            return meta

        self._key_record = self._write("encrypted journal", work)
        self._cipher = new_cipher
        self._scrub()
        if old_cipher is not None and old_params is not None:
            self._reseal_sealed_copies(old_cipher, old_params, new_cipher, kdf)
        return self._seal_copies_kept_aside(new_cipher, kdf)


def _stored_json(text: str | None, default: Any) -> Any:
    """A stored JSON field; one damaged outside companion reads as absent, never as a traceback."""
    if not text:
        return default
    try:
        return json.loads(text)
    except ValueError:
        return default


def _is_session_id(session_id: Any) -> bool:
    return isinstance(session_id, int) and not isinstance(session_id, bool) and 0 < session_id <= MAX_ROW_ID


def _require_session_id(session_id: Any) -> None:
    if not _is_session_id(session_id):
        raise JournalError(
            f"There is no journal session {session_id}.",
            fix="run `companion journal list` to see the sessions that exist",
        )


def _rows_that_read(source: sqlite3.Connection, table: str, columns: tuple[str, ...]) -> list[tuple]:
    """Every row of `table` that still reads, in rowid order; a damaged page is skipped by seeking past it in
    growing steps (no index is used, since an index may be what is damaged)."""
    rows: list[tuple] = []
    after, step = 0, 1
    for _attempt in range(4096):
        try:
            cursor = source.execute(
                f"SELECT rowid, {', '.join(columns)} FROM {table} NOT INDEXED WHERE rowid > ? ORDER BY rowid",
                (after,),
            )
            for row in cursor:
                rows.append(row[1:])
                after, step = row[0], 1
            return rows
        except sqlite3.DatabaseError as exc:
            if not _is_corruption(exc) or after >= MAX_ROW_ID - step:
                return rows  # the table itself is gone (or the end was reached)
            after, step = after + step, step * 2
    return rows


def _overwrite_and_remove(path: Path) -> None:
    """Zeros over the plain text before the name goes, so a plain copy is not left whole in its old blocks."""
    size = path.stat().st_size
    with open(path, "r+b") as handle:
        handle.write(b"\0" * size)
        handle.flush()
        os.fsync(handle.fileno())
    path.unlink()


def _sealed_notice(sealed: list[Path]) -> str:
    names = ", ".join(path.name for path in sealed)
    return (
        f"{len(sealed)} journal cop{'ies' if len(sealed) != 1 else 'y'} kept aside earlier "
        f"{'were' if len(sealed) != 1 else 'was'} encrypted with the journal's passphrase: {names}."
    )


def _statements(script: str) -> list[str]:
    return [part.strip() for part in script.split(";") if part.strip()]


def _is_corruption(exc: sqlite3.DatabaseError) -> bool:
    text = str(exc).lower()
    return "malformed" in text or "not a database" in text or "encrypted" in text


def _write_error(exc: sqlite3.Error, what: str, kept: str | None = None) -> JournalError:
    text = str(exc).lower()
    if "full" in text or "disk i/o" in text or "no space" in text:
        reason, fix = "the disk is full", _WRITE_FAILED_FIX
    elif "readonly" in text or "read-only" in text:
        reason, fix = "the data folder is read-only", _WRITE_FAILED_FIX
    elif "locked" in text or "busy" in text:
        reason, fix = "another program is using the journal", "close the other program, then save again"
    else:
        reason = "the database reported an error"
        fix = "try again; if it keeps happening, keep a copy with `companion journal export` and report it"
    return JournalError(
        f"{what}: {reason}.",
        kept=kept or _TEXT_KEPT,
        fix=fix,
    )


def speaker_label(speaker: str) -> str:
    """How a turn's speaker is named when shown: "listener" is "You"; an unknown one is capitalised."""
    return {"partner": "Partner", "listener": "You", "companion": "Companion", "coach": "Coach"}.get(
        speaker, speaker.capitalize()
    )


def render_markdown(sessions: Iterable[Session]) -> str:
    lines: list[str] = ["# Companion journal", ""]
    for session in sessions:
        title = f"## Session {session.id} · {session.kind}"
        if session.scenario:
            title += f" · {session.scenario}"
        lines += [
            title,
            "",
            f"Started {session.started}" + (f", ended {session.ended}" if session.ended else ""),
            "",
        ]
        for turn in session.turns:
            engine = f" ({turn.engine})" if turn.engine else ""
            lines.append(f"**{speaker_label(turn.speaker)}{engine}:** {turn.text}")
            lines.append("")
            if turn.citations:
                cited = ", ".join(_citation_label(item) for item in turn.citations)
                lines += [f"> Guidance: {cited}", ""]
            if turn.coach:
                tip = turn.coach.get("tip") if isinstance(turn.coach, dict) else None
                label = turn.coach.get("label") if isinstance(turn.coach, dict) else None
                coach_line = " · ".join(str(part) for part in (label, tip) if part)
                if coach_line:
                    lines += [f"> Coach: {coach_line}", ""]
        if session.summary:
            lines += ["**Summary:**", "", _summary_markdown(session.summary), ""]
    return "\n".join(lines).rstrip() + "\n"


def _citation_label(item: Any) -> str:
    if isinstance(item, dict):
        return " — ".join(str(item[key]) for key in ("section", "source") if item.get(key))
    return str(item)


def summary_text(summary: Any) -> str:
    """A session's summary as a person reads it: a rehearsal's own text (as the app showed it), else its fields."""
    if isinstance(summary, dict):
        if isinstance(summary.get("text"), str):
            return summary["text"]
        return "\n".join(f"{key.replace('_', ' ')}: {value}" for key, value in summary.items())
    return "" if summary is None else str(summary)


def _summary_markdown(summary: Any) -> str:
    # Markdown joins lines into one paragraph: a hard break keeps each of the summary's lines its own.
    return "  \n".join(summary_text(summary).splitlines())
