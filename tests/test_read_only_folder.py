"""A read-only data folder: the journal is read as it is (never repaired, never changed); search and writes say
in one line what could not be done and the command that makes the folder writable.

Real `companion` processes on real SQLite journals (cleanly closed, left with a WAL by kill -9, encrypted,
damaged); as root the runs drop the capabilities that would let them write through file modes (setpriv).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import test_data_folder
from test_data_folder import _read_only_runner, assert_refused, companion, tree

from companion.store.crypto import KdfParams
from companion.store.journal import Journal

ROOT = Path(__file__).resolve().parent.parent
SAID = "Marmalade lighthouse: you never ask how my day went"
REPLY = "It sounds like being asked about your day matters to you."
LATER = "Quartz umbrella: you left me waiting at the station"
PASSPHRASE = "lantern over the harbour"
TEST_KDF_N = 2**12  # a cheap scrypt cost for journals written here
env = test_data_folder.env  # its fixture: the environment companion runs in (the tiny embedder, no network)


def write_journal(home: Path, *, passphrase: str | None = None) -> Path:
    """One reflect session, written and closed cleanly through the real Journal (no -wal or -shm left)."""
    home.mkdir(mode=0o700, exist_ok=True)
    with Journal(home / "journal.sqlite3") as journal:
        if passphrase is not None:
            journal.enable_encryption(passphrase, KdfParams.fresh(n=TEST_KDF_N))
        session_id = journal.start_session("reflect")
        journal.add_turn(session_id, "partner", SAID)
        journal.add_turn(session_id, "companion", REPLY, engine="builtin")
        journal.end_session(session_id)
    return home / "journal.sqlite3"


def kill_while_writing(path: Path) -> None:
    """A second process saves a turn and is killed with SIGKILL: the turn is committed in the WAL only."""
    script = (
        "import os, signal, sys\n"
        "from companion.store.journal import Journal\n"
        "journal = Journal(sys.argv[1])\n"
        "journal.add_turn(journal.start_session('reflect'), 'partner', sys.argv[2])\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    killed = subprocess.run(
        [sys.executable, "-c", script, str(path), LATER],
        cwd=ROOT,
        capture_output=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    wal = path.with_name(path.name + "-wal")
    assert wal.stat().st_size > 0 and LATER.encode() in wal.read_bytes()
    assert LATER.encode() not in path.read_bytes()  # so reading it proves the WAL was read


@contextlib.contextmanager
def read_only(home: Path):
    """Folders 500, files 400 while the block runs; writable again afterwards (so tmp_path can be removed)."""
    paths = [home, *home.rglob("*")]
    for path in paths:
        os.chmod(path, 0o500 if path.is_dir() else 0o400)
    try:
        yield
    finally:
        for path in paths:
            with contextlib.suppress(FileNotFoundError):
                os.chmod(path, 0o700 if path.is_dir() else 0o600)


def assert_read(result: subprocess.CompletedProcess, *texts: str) -> None:
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr
    for text in texts:
        assert text in result.stdout, result.stdout


def read_everything(home: Path, environment: dict, wrap: tuple[str, ...], *texts: str, **extra) -> None:
    """journal list, show, export (Markdown and JSON) all print the journal's text."""
    assert_read(companion(home, "journal", "list", env=environment, wrap=wrap, **extra), SAID[:40])
    assert_read(companion(home, "journal", "show", "1", env=environment, wrap=wrap, **extra), SAID, REPLY)
    assert_read(companion(home, "journal", "export", env=environment, wrap=wrap, **extra), *texts)
    exported = companion(home, "journal", "export", "--format", "json", env=environment, wrap=wrap, **extra)
    assert_read(exported)
    turns = [turn["text"] for session in json.loads(exported.stdout)["sessions"] for turn in session["turns"]]
    assert all(text in turns for text in texts), turns


def test_a_cleanly_closed_journal_is_read_and_nothing_in_the_folder_changes(tmp_path, env):
    wrap = _read_only_runner()
    home = tmp_path / "home"
    write_journal(home)
    with read_only(home):
        before = tree(home)
        assert subprocess.run([*wrap, "touch", str(home / "probe")], capture_output=True).returncode != 0
        read_everything(home, env, wrap, SAID, REPLY)
        assert_refused(
            companion(home, "journal", "delete", "1", env=env, wrap=wrap), "read-only", "chmod u+w"
        )
        assert tree(home) == before  # no -wal, no -shm, no lock file, not a byte or a mode changed


def test_a_journal_left_with_a_wal_by_kill_9_is_read_with_its_last_turn(tmp_path, env):
    wrap = _read_only_runner()
    home = tmp_path / "home"
    kill_while_writing(write_journal(home))
    assert (home / "journal.sqlite3-shm").exists()
    with read_only(home):
        before = tree(home)
        read_everything(home, env, wrap, SAID, REPLY, LATER)
        assert_read(companion(home, "journal", "show", "2", env=env, wrap=wrap), LATER)
        assert tree(home) == before  # the WAL was read, not folded into the file


def test_a_wal_without_its_shm_file_is_refused_in_one_line(tmp_path, env):
    wrap = _read_only_runner()
    home = tmp_path / "home"
    kill_while_writing(write_journal(home))
    (home / "journal.sqlite3-shm").unlink()  # SQLite needs it to read the WAL and cannot create it read-only
    with read_only(home):
        before = tree(home)
        for argv in (("journal", "list"), ("journal", "export")):
            assert_refused(
                companion(home, *argv, env=env, wrap=wrap),
                "journal.sqlite3-wal",
                "read-only",
                f"chmod u+w {home}",
            )
        assert tree(home) == before


def test_only_the_journal_file_read_only_still_reads_and_makes_no_wal(tmp_path, env):
    home = tmp_path / "home"
    journal = write_journal(home)
    os.chmod(journal, 0o400)
    try:
        wrap = _read_only_runner()
        digest = tree(home)["journal.sqlite3"]
        read_everything(home, env, wrap, SAID, REPLY)
        assert tree(home)["journal.sqlite3"] == digest
        assert not (home / "journal.sqlite3-wal").exists() and not (home / "journal.sqlite3-shm").exists()
    finally:
        os.chmod(journal, 0o600)


def test_an_encrypted_journal_is_read_with_its_passphrase_and_refused_without(tmp_path, env):
    wrap = _read_only_runner()
    home = tmp_path / "home"
    path = write_journal(home, passphrase=PASSPHRASE)
    assert SAID.encode() not in path.read_bytes()
    with read_only(home):
        before = tree(home)
        read_everything(home, env, wrap, SAID, REPLY, COMPANION_PASSPHRASE=PASSPHRASE)
        assert_refused(companion(home, "journal", "list", env=env, wrap=wrap), "passphrase")
        assert_refused(
            companion(home, "journal", "list", env=env, wrap=wrap, COMPANION_PASSPHRASE="not it"),
            "passphrase",
        )
        assert tree(home) == before


def test_a_damaged_journal_is_not_moved_aside_while_read_only(tmp_path, env):
    wrap = _read_only_runner()
    home = tmp_path / "home"
    path = write_journal(home)
    data = bytearray(path.read_bytes())
    data[4096:] = b"A" * (len(data) - 4096)  # a valid header over damaged pages
    path.write_bytes(bytes(data))
    with read_only(home):
        before = tree(home)
        for argv in (("journal", "list"), ("journal", "show", "1"), ("journal", "export")):
            assert_refused(
                companion(home, *argv, env=env, wrap=wrap),
                "damaged",
                "cannot be repaired while",
                "read-only",
                f"chmod u+w {home}",
            )
        assert tree(home) == before  # no journal.sqlite3.unreadable-* copy, no fresh journal
    # Writable again, the same command keeps the damaged file and starts afresh, as it always did.
    repaired = companion(home, "journal", "list", env=env)
    assert repaired.returncode == 0 and "Traceback" not in repaired.stderr, repaired.stderr
    assert list(home.glob("journal.sqlite3.unreadable-*"))


def test_a_read_only_folder_with_no_journal_yet_lists_an_empty_journal(tmp_path, env):
    wrap = _read_only_runner()
    home = tmp_path / "home"
    assert companion(home, "index", env=env).returncode == 0  # a companion folder, no journal in it
    assert not (home / "journal.sqlite3").exists()
    with read_only(home):
        before = tree(home)
        assert_read(companion(home, "journal", "list", env=env, wrap=wrap), "The journal is empty.")
        assert_read(
            companion(home, "journal", "export", "--format", "json", env=env, wrap=wrap), '"sessions": []'
        )
        assert tree(home) == before


def test_the_journal_library_reads_and_refuses_each_write_in_one_message(tmp_path):
    """Without a command's hold on the folder (a library caller): no lock file can be made, reading works, and
    every write is refused with what was not saved and the fix."""
    wrap = _read_only_runner()
    home = tmp_path / "home"
    path = write_journal(home)
    script = (
        "import sys\n"
        "from companion.errors import JournalError\n"
        "from companion.store.journal import Journal\n"
        "journal = Journal(sys.argv[1])\n"
        "print(journal.read_only, [turn.text for turn in journal.get_session(1).turns])\n"
        "for write in (lambda: journal.add_turn(1, 'partner', 'more'), lambda: journal.start_session('reflect'),\n"
        "              lambda: journal.delete_session(1), lambda: journal.enable_encryption('pass phrase')):\n"
        "    try:\n"
        "        write()\n"
        "    except JournalError as exc:\n"
        "        print('refused:', exc)\n"
        "journal.close()\n"
    )
    (home / "companion.lock").unlink(missing_ok=True)
    with read_only(home):
        before = tree(home)
        result = subprocess.run(
            [*wrap, sys.executable, "-c", script, str(path)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            timeout=120,
        )
        assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
        lines = result.stdout.splitlines()
        assert lines[0] == f"True {[SAID, REPLY]!r}"
        refusals = lines[1:]
        assert len(refusals) == 4, lines
        for line in refusals:
            assert "was not saved" in line and "is read-only" in line and f"chmod u+w {home}" in line, line
        assert tree(home) == before


@pytest.mark.parametrize("with_index", [True, False])
def test_search_in_a_read_only_folder_says_in_one_line_that_it_needs_a_writable_one(
    tmp_path, env, with_index
):
    wrap = _read_only_runner()
    home = tmp_path / "home"
    if with_index:
        assert companion(home, "index", env=env).returncode == 0
    else:
        write_journal(home)
    with read_only(home):
        before = tree(home)
        for argv in (("search", "listening"), ("search", "listening", "--json")):
            assert_refused(
                companion(home, *argv, env=env, wrap=wrap),
                "Searching needs a writable data folder",
                f"chmod -R u+w {home}",
            )
        assert tree(home) == before
