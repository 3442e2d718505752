"""The private journal: sessions and turns in one SQLite file in the data dir, optionally encrypted at rest.

Every turn is committed the moment it is saved (WAL, synchronous=FULL), so killing the process loses nothing
that was already shown. One process owns the journal at a time (an advisory lock next to the file).
"""

from __future__ import annotations

import contextlib
import dataclasses
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
from companion.store.crypto import FieldCipher, KdfParams, WrongPassphrase, unlock
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


def move_aside(path: Path) -> Path:
    """Rename an unreadable journal (and its -wal/-shm) to a timestamped name; never overwrite anything."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    base = path.with_name(f"{path.name}.unreadable-{stamp}")
    target = base
    counter = 1
    while target.exists() or target.with_name(target.name + "-wal").exists():
        target = base.with_name(f"{base.name}-{counter}")
        counter += 1
    os.rename(path, target)
    for suffix in ("-wal", "-shm"):
        companion_file = path.with_name(path.name + suffix)
        if companion_file.exists():
            os.rename(companion_file, target.with_name(target.name + suffix))
    return target


class Journal:
    """Sessions (reflect / rehearse) and their turns, kept in SQLite at `path`.

    `passphrase` opens an encrypted journal; when None, COMPANION_PASSPHRASE is used if set. An encrypted
    journal opened without one raises PassphraseNeeded; a wrong one raises WrongPassphrase (nothing changed).
    `notices` holds messages to show the person once (a journal moved aside, permissions tightened).
    """

    def __init__(self, path: Path | str, passphrase: str | None = None) -> None:
        self.path = Path(path)
        self.notices: list[str] = []
        self._guard = threading.RLock()
        self._cipher: FieldCipher | None = None
        self._conn: sqlite3.Connection | None = None
        try:
            self.notices += ensure_private_dir(self.path.parent)
        except OSError as exc:
            raise JournalError(
                f"The data folder {self.path.parent} cannot be created ({exc.strerror}).",
                fix="check the folder's permissions, or set COMPANION_HOME to a folder you own",
            ) from None
        self._lock = InstanceLock(self.path.parent / LOCK_FILE_NAME).acquire()
        try:
            self._open_database()
            self._unlock(passphrase)
        except BaseException:
            self.close()
            raise
        log.info("journal opened (schema %d, encrypted=%s)", SCHEMA_VERSION, self.encrypted)

    # ---- opening ----------------------------------------------------------------------------------------
    def _open_database(self) -> None:
        if self.path.exists() and not is_sqlite_file(self.path):
            self._start_fresh_after("is not a journal database")
        try:
            self._connect_and_migrate()
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and not _is_corruption(exc):
                raise _write_error(exc, "The journal could not be opened", kept=_NOTHING_CHANGED) from None
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            self._start_fresh_after("is damaged and cannot be read")
            self._connect_and_migrate()

    def _start_fresh_after(self, problem: str) -> None:
        kept_at = move_aside(self.path)
        message = (
            f"The journal file {self.path.name} {problem}. It was kept as {kept_at.name} (nothing was deleted) "
            "and a fresh journal was started."
        )
        self.notices.append(message)
        log.warning("journal file moved aside: %s", kept_at.name)

    def _connect_and_migrate(self) -> None:
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

    def _meta(self, key: str) -> Any:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

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
        self._cipher = unlock(passphrase, self._kdf_params(), bytes(self._meta("verifier")))

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
    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def close(self) -> None:
        with self._guard:
            if self._conn is not None:
                # Closing must never fail; every turn is already committed.
                with contextlib.suppress(sqlite3.Error):
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
                raise _write_error(exc, f"The {what} was not saved") from None
            except BaseException:
                if conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                raise

    def start_session(self, kind: str, scenario: str | None = None) -> int:
        if kind not in SESSION_KINDS:
            raise JournalError(f"Unknown session kind {kind!r}.", fix=f"use one of: {', '.join(SESSION_KINDS)}")

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
            raise JournalError("Only text can be saved in the journal.", fix="pass the turn's text as a string")
        if not speaker:
            raise JournalError("A turn needs a speaker.", fix="pass speaker='partner', 'listener' or 'companion'")
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

        def work(conn):
            cursor = conn.execute(
                "UPDATE sessions SET ended = ?, summary = ? WHERE id = ?",
                (_now(), self._seal(summary_json, f"session:{session_id}:summary"), session_id),
            )
            if cursor.rowcount == 0:
                raise JournalError(f"There is no journal session {session_id}.", fix="run `companion journal list`")

        self._write("session summary", work)
        log.info("session %d ended", session_id)

    def save_reflection(self, statement: str, reflection: Any) -> int:
        """Keep one reflect exchange (what the partner said and the companion's reflection) as its own session."""
        text = reflection if isinstance(reflection, str) else getattr(reflection, "reflection", str(reflection))
        engine = getattr(reflection, "engine", None)
        citations = getattr(reflection, "citations", None)
        session_id = self.start_session("reflect")
        self.add_turn(session_id, "partner", statement)
        self.add_turn(session_id, "companion", text, engine=engine, citations=citations)
        self.end_session(session_id)
        return session_id

    def delete_session(self, session_id: int) -> bool:
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
                    citations=json.loads(citations_json) if citations_json else [],
                    coach=json.loads(coach_json) if coach_json else None,
                    created=created,
                )
            )
        return tuple(turns)

    def _summary(self, session_id: int, value: Any) -> Any:
        opened = self._open(value, f"session:{session_id}:summary")
        return None if opened is None else json.loads(opened)

    def get_session(self, session_id: int) -> Session:
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
    def enable_encryption(self, passphrase: str, kdf: KdfParams | None = None) -> None:
        """Encrypt every turn and summary under a new passphrase, in one transaction, then scrub the plain text."""
        if self.encrypted:
            raise JournalError(
                "The journal is already encrypted.",
                fix="use `companion journal change-passphrase` to choose a new passphrase",
            )
        self._reseal(passphrase, kdf or KdfParams.fresh())
        log.info("journal encrypted")

    def change_passphrase(self, new_passphrase: str, kdf: KdfParams | None = None) -> None:
        """Re-encrypt everything under a new passphrase (and a new salt) in one transaction."""
        if not self.encrypted:
            raise JournalError(
                "The journal is not encrypted, so it has no passphrase to change.",
                fix="run `companion journal encrypt` to set one",
            )
        self._reseal(new_passphrase, kdf or KdfParams.fresh())
        log.info("journal passphrase changed")

    def _reseal(self, passphrase: str, kdf: KdfParams) -> None:
        new_cipher = FieldCipher.from_passphrase(passphrase, kdf)

        def work(conn):
            turn_rows = conn.execute("SELECT id, session_id, position, text, citations, coach FROM turns").fetchall()
            for row_id, session_id, position, text, citations, coach in turn_rows:
                context = f"turn:{session_id}:{position}"
                sealed = [
                    self._seal(self._open(value, f"{context}:{name}"), f"{context}:{name}", new_cipher)
                    for name, value in (("text", text), ("citations", citations), ("coach", coach))
                ]
                conn.execute("UPDATE turns SET text = ?, citations = ?, coach = ? WHERE id = ?", (*sealed, row_id))
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

        self._write("encrypted journal", work)
        self._cipher = new_cipher
        self._scrub()


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
        lines += [title, "", f"Started {session.started}" + (f", ended {session.ended}" if session.ended else ""), ""]
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


def _summary_markdown(summary: Any) -> str:
    if isinstance(summary, dict):
        return "\n".join(f"- {key}: {json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value}"
                         for key, value in summary.items())
    return str(summary)
