"""The journal: sessions and turns in a real SQLite file, crash safety, one owner, and unreadable files kept."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from companion.cli import main
from companion.config import Settings
from companion.errors import JournalError
from companion.store.journal import SCHEMA_VERSION, Journal

ROOT = Path(__file__).resolve().parent.parent


def child_env(settings: Settings) -> dict:
    """A child process that finds this checkout's package and uses the test's data folder."""
    return {**os.environ, "COMPANION_HOME": str(settings.home), "PYTHONPATH": str(ROOT)}


@pytest.fixture
def settings(companion_home) -> Settings:
    return Settings.load(companion_home)


@pytest.fixture
def journal(settings):
    opened = Journal(settings.journal_path)
    yield opened
    opened.close()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_sessions_and_turns_round_trip_newest_first(journal):
    first = journal.start_session("reflect")
    journal.add_turn(first, "partner", "You never make time for me anymore.")
    journal.add_turn(
        first,
        "companion",
        "It sounds like you've been missing our time together. Did I get that right?",
        engine="builtin",
        citations=[{"section": "Making time", "source": "making-time.md"}],
    )
    journal.end_session(first, "missing time together")
    second = journal.start_session("rehearse", scenario="housework")
    journal.add_turn(second, "partner", "I'm the only one who notices the dishes.")
    journal.add_turn(
        second, "listener", "So you feel alone with the housework?", coach={"label": "reflection"}
    )

    listed = journal.list_sessions()
    assert [info.id for info in listed] == [second, first]
    assert listed[1].turn_count == 2 and listed[1].summary == "missing time together"
    assert listed[0].ended is None and listed[0].scenario == "housework"

    session = journal.get_session(first)
    assert [turn.speaker for turn in session.turns] == ["partner", "companion"]
    assert session.turns[1].engine == "builtin"
    assert session.turns[1].citations == [{"section": "Making time", "source": "making-time.md"}]
    assert journal.get_session(second).turns[1].coach == {"label": "reflection"}


def test_search_matches_turns_summaries_and_scenarios_case_insensitively(journal):
    dishes = journal.start_session("rehearse", scenario="housework")
    journal.add_turn(dishes, "partner", "Nobody ever notices the DISHES.")
    money = journal.start_session("reflect")
    journal.add_turn(money, "partner", "We keep arguing about the budget.")
    journal.end_session(money, {"theme": "money worries"})

    assert [info.id for info in journal.list_sessions("dishes")] == [dishes]
    assert [info.id for info in journal.list_sessions("HOUSEWORK")] == [dishes]
    assert [info.id for info in journal.list_sessions("worries")] == [money]
    assert journal.list_sessions("holiday plans") == []


def test_every_turn_is_committed_before_add_turn_returns(journal, settings):
    session_id = journal.start_session("reflect")
    journal.add_turn(session_id, "partner", "Saved the moment it was shown.")
    # A second, independent reader sees the turn while the writer is still open.
    reader = sqlite3.connect(settings.journal_path)
    try:
        count = reader.execute("SELECT COUNT(*) FROM turns WHERE session_id = ?", (session_id,)).fetchone()[0]
    finally:
        reader.close()
    assert count == 1


def test_delete_removes_the_session_and_its_text_from_the_file(journal, settings):
    keep = journal.start_session("reflect")
    journal.add_turn(keep, "partner", "This one stays in the journal.")
    gone = journal.start_session("reflect")
    journal.add_turn(gone, "partner", "Zanzibar marmalade confession")
    assert journal.delete_session(gone) is True
    assert journal.delete_session(gone) is False
    with pytest.raises(JournalError):
        journal.get_session(gone)
    assert [info.id for info in journal.list_sessions()] == [keep]
    raw = b"".join(
        path.read_bytes() for path in settings.home.iterdir() if path.name.startswith("journal.sqlite3")
    )
    assert b"Zanzibar marmalade" not in raw
    assert b"This one stays" in raw


def test_export_markdown_and_json_carry_every_turn(journal):
    session_id = journal.start_session("rehearse", scenario="in-laws")
    journal.add_turn(session_id, "partner", "Your mother criticised my cooking again.")
    journal.add_turn(
        session_id,
        "listener",
        "That sounds like it really stung.",
        coach={"label": "reflection", "tip": "Name the need next."},
    )
    journal.end_session(session_id, {"reflections": 1, "questions": 0})

    markdown = journal.export(format="md")
    assert "## Session" in markdown and "in-laws" in markdown
    assert "**Partner:** Your mother criticised my cooking again." in markdown
    assert "**You:** That sounds like it really stung." in markdown
    assert "Name the need next." in markdown

    payload = json.loads(journal.export([session_id], format="json"))
    turns = payload["sessions"][0]["turns"]
    assert [turn["text"] for turn in turns] == [
        "Your mother criticised my cooking again.",
        "That sounds like it really stung.",
    ]
    assert payload["sessions"][0]["summary"] == {"reflections": 1, "questions": 0}
    with pytest.raises(JournalError, match="format"):
        journal.export(format="pdf")


def test_bad_arguments_get_journal_errors(journal):
    with pytest.raises(JournalError, match="kind"):
        journal.start_session("diary")
    with pytest.raises(JournalError, match="no journal session"):
        journal.add_turn(999, "partner", "hello")
    with pytest.raises(JournalError, match="no journal session"):
        journal.end_session(999, "x")


def test_files_are_private_and_schema_is_versioned(journal, settings):
    session_id = journal.start_session("reflect")
    journal.add_turn(session_id, "partner", "private words")
    assert _mode(settings.home) == 0o700
    for path in settings.home.iterdir():
        assert _mode(path) == 0o600, path
    assert journal.schema_version == SCHEMA_VERSION
    assert settings.journal_path.with_name("journal.sqlite3-wal").exists()  # WAL mode


def test_a_journal_from_a_newer_companion_is_refused_untouched(settings):
    with Journal(settings.journal_path) as journal:
        journal.add_turn(journal.start_session("reflect"), "partner", "written by today's companion")
    conn = sqlite3.connect(settings.journal_path)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 5}")
    conn.close()
    before = settings.journal_path.read_bytes()
    with pytest.raises(JournalError, match="newer companion"):
        Journal(settings.journal_path)
    assert settings.journal_path.read_bytes() == before
    assert not list(settings.home.glob("journal.sqlite3.unreadable-*"))


# ---- one owner ---------------------------------------------------------------------------------------------


def test_a_second_instance_gets_a_clear_message_not_a_lock_traceback(journal, settings):
    with pytest.raises(JournalError, match="already open in another window"):
        Journal(settings.journal_path)
    # A real second process gets the same message from the CLI, as one line and exit code 2.
    result = subprocess.run(
        [sys.executable, "-m", "companion", "journal", "list"],
        capture_output=True,
        text=True,
        env=child_env(settings),
        cwd=ROOT,
    )
    assert result.returncode == 2
    assert "already open in another window" in result.stderr
    assert "Traceback" not in result.stderr
    journal.close()
    with Journal(settings.journal_path) as reopened:
        assert reopened.list_sessions() == []


# ---- crash safety ------------------------------------------------------------------------------------------

CHILD_WRITER = textwrap.dedent(
    """
    import itertools, sys
    from companion.store.journal import Journal

    journal = Journal(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None)
    session_id = journal.start_session("rehearse", scenario="crash-test")
    print(f"session {session_id}", flush=True)
    for number in itertools.count():
        journal.add_turn(session_id, "partner" if number % 2 == 0 else "listener", f"turn {number}: " + "words " * (number % 7))
        print(f"shown {number}", flush=True)
    """
)


@pytest.mark.parametrize(
    ("kill_after", "passphrase"), [(1, None), (17, None), (60, None), (25, "crash pass")]
)
def test_sigkill_mid_session_loses_no_turn_that_was_shown(settings, tmp_path, kill_after, passphrase):
    if passphrase:
        from companion.store.crypto import KdfParams

        with Journal(settings.journal_path) as journal:
            journal.enable_encryption(passphrase, KdfParams.fresh(n=2**12))
    script = tmp_path / "writer.py"
    script.write_text(CHILD_WRITER)
    child = subprocess.Popen(
        [sys.executable, str(script), str(settings.journal_path), *([passphrase] if passphrase else [])],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=child_env(settings),
    )
    shown: list[int] = []
    session_id = None
    for line in child.stdout:
        if line.startswith("session"):
            session_id = int(line.split()[1])
        else:
            shown.append(int(line.split()[1]))
        if len(shown) > kill_after:
            os.kill(child.pid, signal.SIGKILL)
            break
    # Whatever the child printed before it died was shown too.
    shown += [int(line.split()[1]) for line in child.stdout if line.startswith("shown")]
    child.wait()
    assert child.returncode == -signal.SIGKILL

    with Journal(settings.journal_path, passphrase) as reopened:
        session = reopened.get_session(session_id)
    saved = {turn.position: turn.text for turn in session.turns}
    for number in shown:
        assert saved[number] == f"turn {number}: " + "words " * (number % 7)
    assert sorted(saved) == list(range(len(saved)))  # no holes, no half-written turn
    assert session.ended is None


# ---- an unreadable journal is kept, never overwritten --------------------------------------------------------


def test_a_file_that_is_not_sqlite_is_moved_aside_and_a_fresh_journal_starts(settings):
    settings.home.mkdir(parents=True, exist_ok=True)
    junk = b"these are my notes, definitely not a database\n" * 40
    settings.journal_path.write_bytes(junk)
    with Journal(settings.journal_path) as journal:
        assert any("kept as journal.sqlite3.unreadable-" in notice for notice in journal.notices)
        journal.add_turn(journal.start_session("reflect"), "partner", "a fresh start")
    kept = list(settings.home.glob("journal.sqlite3.unreadable-*"))
    assert len(kept) == 1 and kept[0].read_bytes() == junk

    # The same thing again within the same second: a second name, the first file untouched.
    with Journal(settings.journal_path) as journal:
        assert journal.list_sessions()[0].preview == "a fresh start"
    settings.journal_path.write_bytes(b"junk number two")
    for suffix in ("-wal", "-shm"):
        settings.journal_path.with_name("journal.sqlite3" + suffix).unlink(missing_ok=True)
    with Journal(settings.journal_path) as journal:
        assert journal.list_sessions() == []
    kept_now = sorted(settings.home.glob("journal.sqlite3.unreadable-*"))
    contents = {path.read_bytes() for path in kept_now if not path.name.endswith(("-wal", "-shm"))}
    assert contents == {junk, b"junk number two"}


def test_a_damaged_sqlite_file_is_moved_aside_too(settings):
    with Journal(settings.journal_path) as journal:
        journal.add_turn(journal.start_session("reflect"), "partner", "before the damage")
    damaged = bytearray(settings.journal_path.read_bytes())
    damaged[100:] = b"\xff" * (len(damaged) - 100)  # keep the header, wreck every page
    settings.journal_path.write_bytes(bytes(damaged))
    with Journal(settings.journal_path) as journal:
        assert journal.notices and "fresh journal" in journal.notices[-1]
        assert journal.list_sessions() == []
    kept = [
        path
        for path in settings.home.glob("journal.sqlite3.unreadable-*")
        if not path.name.endswith(("-wal", "-shm"))
    ]
    assert any(path.read_bytes() == bytes(damaged) for path in kept)


# ---- the CLI -----------------------------------------------------------------------------------------------


def _seed(settings: Settings) -> int:
    with Journal(settings.journal_path) as journal:
        session_id = journal.start_session("reflect")
        journal.add_turn(session_id, "partner", "You \x1b[2Jnever [bold]listen[/bold] to me.")
        journal.add_turn(session_id, "companion", "It sounds like you feel unheard.", engine="builtin")
        journal.end_session(session_id)
    return session_id


def test_cli_list_show_export_delete(settings, capsys, tmp_path):
    session_id = _seed(settings)
    assert main(["journal", "list"]) == 0
    assert f"{session_id:>4}" in capsys.readouterr().out

    assert main(["journal", "show", str(session_id)]) == 0
    shown = capsys.readouterr().out
    assert "\x1b" not in shown  # a stored escape sequence is shown as text, never sent to the terminal
    assert "\\x1b[2Jnever [bold]listen[/bold]" in shown
    assert "It sounds like you feel unheard." in shown

    assert main(["journal", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["sessions"][0]["turn_count"] == 2

    target = tmp_path / "export.md"
    assert main(["journal", "export", str(target)]) == 0
    assert "It sounds like you feel unheard." in target.read_text()
    assert _mode(target) == 0o600
    capsys.readouterr()
    assert main(["journal", "export", "--format", "json", str(target)]) == 2  # never overwrites
    assert "already exists" in capsys.readouterr().err
    assert "unheard" in target.read_text()

    assert main(["journal", "delete", str(session_id)]) == 0
    assert main(["journal", "show", str(session_id)]) == 2
    assert "no journal session" in capsys.readouterr().err
    assert main(["journal", "delete", str(session_id)]) == 2


def test_turns_from_several_worker_threads_are_all_kept_in_order(journal):
    import threading

    sessions = [journal.start_session("rehearse", scenario=f"thread-{number}") for number in range(4)]

    def write(session_id: int) -> None:
        for number in range(40):
            journal.add_turn(session_id, "listener", f"session {session_id} line {number}")

    workers = [threading.Thread(target=write, args=(session_id,)) for session_id in sessions]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    for session_id in sessions:
        turns = journal.get_session(session_id).turns
        assert [turn.text for turn in turns] == [f"session {session_id} line {n}" for n in range(40)]
        assert [turn.position for turn in turns] == list(range(40))
