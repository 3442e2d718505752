"""Privacy guarantees: private file modes, offline libraries, `companion forget`, and logs without user text."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from companion.cli import main
from companion.config import Settings
from companion.errors import CompanionError, JournalError
from companion.logs import configure_logging
from companion.store import privacy
from companion.store.journal import Journal

ROOT = Path(__file__).resolve().parent.parent
# Distinctive enough that finding any piece of it in a log can only mean the log kept what the person typed.
SENTENCE = "Quibble-zephyr: you forgot our anniversary again and I cried in the car"
SENTENCE_PIECES = ("Quibble-zephyr", "anniversary again", "cried in the car")


@pytest.fixture
def settings(companion_home, tiny_embed_model, monkeypatch) -> Settings:
    # The tiny real embedder keeps index builds cheap; these tests are about privacy, not search quality.
    monkeypatch.setenv("COMPANION_EMBED_MODEL", str(tiny_embed_model))
    return Settings.load(companion_home)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def _child_env(settings: Settings, **extra) -> dict:
    env = {**os.environ, "COMPANION_HOME": str(settings.home), "PYTHONPATH": str(ROOT), **extra}
    for name in (*privacy.OFFLINE_ENVIRONMENT, *privacy.NO_TELEMETRY_ENVIRONMENT):
        env.pop(name, None)  # start the child as a person's shell would: nothing set for us
    return env


# ---- file modes --------------------------------------------------------------------------------------------


def test_loose_modes_are_reported_and_tightened(settings, tmp_path):
    home = settings.home
    (home / "logs").mkdir(parents=True)
    os.chmod(home, 0o755)
    os.chmod(home / "logs", 0o777)
    (home / "config.toml").write_text("region = 'US'\n")
    os.chmod(home / "config.toml", 0o644)
    (home / "logs" / "companion.log").write_text("events\n")
    os.chmod(home / "logs" / "companion.log", 0o600)
    outside = tmp_path / "not-ours.txt"
    outside.write_text("someone else's file")
    os.chmod(outside, 0o644)
    (home / "link-to-outside").symlink_to(outside)

    warnings = privacy.check_permissions(home)
    assert len(warnings) == 3
    assert all("readable by others" in warning for warning in warnings)
    assert _mode(home) == 0o700 and _mode(home / "logs") == 0o700
    assert _mode(home / "config.toml") == 0o600
    assert _mode(outside) == 0o644  # never chmod through a link
    assert privacy.check_permissions(home) == []


def test_every_cli_start_checks_the_data_dir(settings, capsys):
    with Journal(settings.journal_path) as journal:
        journal.add_turn(journal.start_session("reflect"), "partner", "hello")
    os.chmod(settings.home, 0o775)
    os.chmod(settings.journal_path, 0o664)
    assert main(["journal", "list"]) == 0
    err = capsys.readouterr().err
    assert "tightened to 700" in err and "tightened to 600" in err
    assert _mode(settings.home) == 0o700 and _mode(settings.journal_path) == 0o600


def test_journal_wal_and_lock_files_are_created_private(settings):
    old_umask = os.umask(0o022)  # a typical shell umask would make SQLite's files world-readable
    try:
        with Journal(settings.journal_path) as journal:
            journal.add_turn(journal.start_session("reflect"), "partner", "hello")
            names = {path.name: _mode(path) for path in settings.home.iterdir()}
    finally:
        os.umask(old_umask)
    assert set(names) >= {
        "journal.sqlite3",
        "journal.sqlite3-wal",
        "journal.sqlite3-shm",
        privacy.LOCK_FILE_NAME,
    }
    assert all(mode == 0o600 for mode in names.values()), names


# ---- no network --------------------------------------------------------------------------------------------


def test_offline_environment_and_the_one_command_allowed_to_download(monkeypatch):
    for name in privacy.OFFLINE_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    privacy.apply_offline_environment()
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert os.environ["ANONYMIZED_TELEMETRY"] == "False"
    assert os.environ["HF_HUB_DISABLE_TELEMETRY"] == "1"
    privacy.apply_offline_environment(allow_downloads=True)
    assert "HF_HUB_OFFLINE" not in os.environ
    assert os.environ["ANONYMIZED_TELEMETRY"] == "False"  # telemetry stays off even while downloading

    assert privacy.command_downloads(["models", "pull", "fast"])
    assert privacy.command_downloads(["--home", "/tmp/x", "models", "pull", "fast"])
    for argv in (["models", "list"], ["reflect", "models pull"], ["journal", "list"], [], ["search", "pull"]):
        assert not privacy.command_downloads(argv), argv


def test_the_cli_keeps_huggingface_hub_offline_and_chroma_telemetry_off(settings):
    # A child process started with none of our variables set, as from a person's shell.
    probe = textwrap.dedent(
        """
        from companion.cli import main
        main(["journal", "list"])
        import huggingface_hub.constants as hub
        import chromadb.config
        print("hub-offline", hub.HF_HUB_OFFLINE)
        print("chroma-telemetry", chromadb.config.Settings().anonymized_telemetry)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=_child_env(settings), cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    assert "hub-offline True" in result.stdout
    assert "chroma-telemetry False" in result.stdout


GUARDED_CHILD = textwrap.dedent(
    """
    import ipaddress, socket, sys

    attempts = []
    real_connect = socket.socket.connect
    real_getaddrinfo = socket.getaddrinfo

    def outside(host):
        if host in (None, "localhost") or str(host).startswith("/"):
            return False
        try:
            return not ipaddress.ip_address(host).is_loopback
        except ValueError:
            return True

    def guarded_connect(sock, address):
        if sock.family != socket.AF_UNIX and outside(address[0]):
            attempts.append(repr(address))
            raise OSError("network disabled by the test")
        return real_connect(sock, address)

    def guarded_getaddrinfo(host, *args, **kwargs):
        if outside(host):
            attempts.append(f"lookup {host}")
            raise OSError("network disabled by the test")
        return real_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = guarded_connect
    socket.getaddrinfo = guarded_getaddrinfo
    from companion.cli import main
    code = main(sys.argv[1:])
    print("ATTEMPTS", attempts, file=sys.stderr)
    sys.exit(code)
    """
)


@pytest.mark.parametrize(
    "argv",
    [
        ["journal", "list"],
        ["reflect", "--no-model", "You never make time for me anymore."],
        ["search", "I feel like you never listen to me"],
    ],
    ids=["journal", "reflect", "search"],
)
def test_commands_open_no_connection_outside_loopback(settings, tmp_path, argv):
    script = tmp_path / "guarded.py"
    script.write_text(GUARDED_CHILD)
    result = subprocess.run(
        [sys.executable, str(script), *argv],
        capture_output=True,
        text=True,
        env=_child_env(settings),
        cwd=ROOT,
        timeout=600,
    )
    assert "ATTEMPTS []" in result.stderr, result.stderr[-2000:]
    assert result.returncode == 0, result.stderr[-2000:]
    # Whatever the command created (index, logs, journal) was created private: nothing left to tighten.
    assert "readable by others" not in result.stderr
    assert privacy.check_permissions(settings.home) == []


def test_the_guard_sees_the_one_command_that_does_use_the_network(settings, tmp_path):
    # `models pull` is allowed to connect; run under the guard it is caught trying, so the guard itself works.
    script = tmp_path / "guarded.py"
    script.write_text(GUARDED_CHILD)
    result = subprocess.run(
        [sys.executable, str(script), "models", "pull", "qwen2.5-1.5b"],
        capture_output=True,
        text=True,
        env=_child_env(settings),
        cwd=ROOT,
        timeout=600,
    )
    assert "ATTEMPTS []" not in result.stderr and "ATTEMPTS [" in result.stderr, result.stderr[-2000:]
    assert result.returncode == 2 and "Traceback" not in result.stderr


# ---- forget ------------------------------------------------------------------------------------------------


def _make_every_trace(settings: Settings) -> dict[str, Path]:
    with Journal(settings.journal_path) as journal:
        journal.add_turn(journal.start_session("reflect"), "partner", "remember this")
    traces = {
        "journal": settings.journal_path,
        "index": settings.index_dir / "chroma.sqlite3",
        "log": settings.log_dir / "companion.log",
        "config": settings.config_path,
        "document": settings.user_documents_dir / "my-notes.md",
        "scenario": settings.home / "scenarios" / "my-scenario.toml",
        "export": settings.home / "exports" / "journal-session-1.md",
        "aside": settings.home / "journal.sqlite3.unreadable-20260101-000000",
        "model": settings.models_dir / "pulled.gguf",
    }
    for name, path in traces.items():
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"{name} data")
    return traces


def test_forget_removes_every_trace_but_models_unless_asked(settings, capsys):
    traces = _make_every_trace(settings)
    unrelated = settings.home / "my-own-file.txt"
    unrelated.write_text("the person put this here themselves")

    assert main(["forget", "--yes"]) == 0
    out = capsys.readouterr().out
    for name, path in traces.items():
        assert path.exists() == (name == "model"), name
    assert not settings.index_dir.exists() and not settings.log_dir.exists()
    assert not list(settings.home.glob("journal.sqlite3*"))
    assert unrelated.read_text() == "the person put this here themselves"
    assert "left in place" in out and "my-own-file.txt" in out
    assert "kept downloaded models" in out

    unrelated.unlink()
    assert main(["forget", "--yes", "--models"]) == 0
    assert not settings.home.exists()  # nothing at all is left


def test_forget_asks_first_and_refuses_while_companion_is_open(settings, capsys):
    traces = _make_every_trace(settings)
    # pytest's stdin is not a terminal: without --yes nothing is removed.
    assert main(["forget"]) == 2
    assert "--yes" in capsys.readouterr().err
    assert all(path.exists() for path in traces.values())

    running = Journal(settings.journal_path)
    try:
        with pytest.raises(CompanionError, match="already open"):
            privacy.forget(settings)
        assert main(["forget", "--yes"]) == 2
    finally:
        running.close()
    assert all(path.exists() for path in traces.values())


def test_instance_lock_is_exclusive_and_released(settings):
    path = settings.home / privacy.LOCK_FILE_NAME
    with privacy.InstanceLock(path), pytest.raises(JournalError, match="already open in another window"):
        privacy.InstanceLock(path).acquire()
    with privacy.InstanceLock(path) as again:
        assert again.held


# ---- logs hold events, never what the person typed -----------------------------------------------------------


def _log_text(settings: Settings) -> str:
    return "".join(
        path.read_text(encoding="utf-8", errors="replace")
        for path in settings.log_dir.rglob("*")
        if path.is_file()
    )


def test_logs_never_contain_what_the_person_typed(settings, capsys, tiny_chat_model, monkeypatch, request):
    log_file = configure_logging(settings)
    with Journal(settings.journal_path) as journal:
        session_id = journal.start_session("rehearse", scenario="anniversary")
        journal.add_turn(session_id, "partner", SENTENCE)
        journal.add_turn(session_id, "listener", f"So {SENTENCE}?", coach={"tip": SENTENCE})
        journal.end_session(session_id, SENTENCE)
        journal.list_sessions(SENTENCE)
        with pytest.raises(JournalError):
            journal.add_turn(session_id + 99, "partner", SENTENCE)
        journal.delete_session(session_id)
    # The same sentence through the reflect paths: built-in reflector, the tiny real model, and bad input.
    assert main(["reflect", "--no-model", SENTENCE]) == 0
    main(["reflect", "--model", str(tiny_chat_model), SENTENCE])
    main(["reflect", "--no-model", SENTENCE * 4000])
    main(["journal", "show", "12345"])
    capsys.readouterr()
    # And through a rehearsal in the plain terminal (the coach needs the real MiniLM embedder).
    monkeypatch.delenv("COMPANION_EMBED_MODEL")
    request.getfixturevalue("minilm_model")
    lines = f"{SENTENCE}\nSo {SENTENCE}?\n".encode()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(lines), encoding="utf-8"))
    assert main(["rehearse", "--no-model", "housework"]) == 0
    capsys.readouterr()
    with Journal(settings.journal_path) as journal:
        rehearsal = journal.get_session(journal.list_sessions(SENTENCE)[0].id)
    assert rehearsal.kind == "rehearse" and any(turn.text == SENTENCE for turn in rehearsal.turns)

    logged = _log_text(settings)
    assert log_file.exists() and logged.strip(), "the log should hold events"
    for piece in SENTENCE_PIECES:
        assert piece not in logged
