"""The data folder is companion's own or left alone: whose folder it is, the folder's lock, read-only folders.

Every case runs the real `companion` in subprocesses on real folders (real SQLite journal, real Chroma index).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from companion.config import HOME_MARKER_NAME
from companion.store import privacy
from companion.store.journal import Journal

ROOT = Path(__file__).resolve().parent.parent
# A word no bundled guidance holds: finding its bytes anywhere after `forget` means a write landed afterwards.
MARKER = b"Zorblat-quillion"


@pytest.fixture
def env(tiny_embed_model) -> dict:
    environment = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "COMPANION_EMBED_MODEL": str(tiny_embed_model),
        "COMPANION_LISTENER": "off",
    }
    for name in ("COMPANION_HOME", *privacy.OFFLINE_ENVIRONMENT, privacy.LOCK_WAIT_ENV):
        environment.pop(name, None)
    return environment


def companion(
    home: Path, *argv: str, env: dict, wrap: tuple[str, ...] = (), **extra
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*wrap, sys.executable, "-m", "companion", "--home", str(home), *argv],
        capture_output=True,
        text=True,
        env={**env, **extra},
        cwd=ROOT,
        timeout=600,
    )


def start(home: Path, *argv: str, env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "companion", "--home", str(home), *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )


def assert_refused(result, *words: str) -> None:
    """Exit 2, one line on stderr that says what happened, and no traceback."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    for word in words:
        assert word in result.stderr, result.stderr


def tree(root: Path) -> dict[str, tuple[int, str]]:
    """Every path under root with its mode and (for files) the sha256 of its bytes."""
    found = {}
    for path in sorted([root, *root.rglob("*")]):
        info = path.lstat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if stat.S_ISREG(info.st_mode) else ""
        found[str(path.relative_to(root))] = (stat.S_IMODE(info.st_mode), digest)
    return found


def marker_files(root: Path) -> list[Path]:
    return (
        [path for path in root.rglob("*") if path.is_file() and MARKER in path.read_bytes()]
        if root.exists()
        else []
    )


def big_document(path: Path, sections: int = 400) -> Path:
    parts = [
        f"## Slow listening {i}\n\n{MARKER.decode()} {i}: when your partner feels unheard, slow down and say "
        f"back what you heard, then ask whether you got it right (note {i}).\n"
        for i in range(sections)
    ]
    path.write_text("# Notes to index\n\n" + "\n".join(parts), encoding="utf-8")
    return path


@contextlib.contextmanager
def holding_the_lock(home: Path, role: str):
    """Hold the folder's lock the way another companion process does (flock, its pid and role in the file)."""
    home.mkdir(parents=True, exist_ok=True)
    fd = os.open(home / privacy.LOCK_FILE_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.pwrite(fd, f"{os.getpid()} {role}\n".encode(), 0)
        yield
    finally:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def wait_for_holder(home: Path, process: subprocess.Popen) -> bool:
    """Until process has written its pid into the lock file (True: it holds the folder), or has ended (False)."""
    lock = home / privacy.LOCK_FILE_NAME
    while process.poll() is None:
        with contextlib.suppress(OSError):
            if lock.read_text().split()[:1] == [str(process.pid)]:
                return True
        time.sleep(0.05)
    return False


# ---- whose folder it is -----------------------------------------------------------------------------------


def _someone_elses_folder(root: Path) -> Path:
    for name, text in {
        "documents/thesis.txt": "chapter one",
        "logs/web.log": "GET /",
        "public_html/index.html": "<p>hi</p>",
    }.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    for path in [root, *root.rglob("*")]:
        os.chmod(path, 0o755)
    return root


@pytest.mark.parametrize(
    "argv",
    [
        ("models", "list"),
        ("forget", "--yes"),
        ("journal", "list"),
        ("search", "listening"),
        ("--adopt-home", "forget", "--yes"),
    ],
)
def test_a_folder_companion_did_not_create_is_refused_and_left_exactly_as_it_was(tmp_path, env, argv):
    home = _someone_elses_folder(tmp_path / "u")
    before = tree(home)
    if argv[0] == "--adopt-home":
        # Adopting is refused too: its documents/ and logs/ would mix with companion's own.
        result = subprocess.run(
            [sys.executable, "-m", "companion", "--adopt-home", "--home", str(home), *argv[1:]],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            timeout=600,
        )
        assert_refused(result, "documents", "logs")
    else:
        assert_refused(companion(home, *argv, env=env), "--adopt-home", "companion did not create")
    assert tree(home) == before


def test_an_adopted_folder_keeps_the_persons_files_and_forget_names_them(tmp_path, env):
    home = tmp_path / "mine"
    (home / "public_html").mkdir(parents=True)
    (home / "public_html" / "index.html").write_text("<p>my page</p>")
    (home / "notes.txt").write_text("my own notes")
    for path in [home, *home.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    theirs = {name: value for name, value in tree(home).items() if name != "."}
    assert_refused(companion(home, "knowledge", "list", env=env), "--adopt-home")

    document = big_document(tmp_path / "notes-to-add.md", sections=3)
    adopted = subprocess.run(
        [
            sys.executable,
            "-m",
            "companion",
            "--home",
            str(home),
            "--adopt-home",
            "knowledge",
            "add",
            str(document),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=600,
    )
    assert adopted.returncode == 0, adopted.stderr
    assert (home / HOME_MARKER_NAME).is_file() and (home / "documents" / document.name).is_file()
    # Once adopted it is companion's folder: no flag needed, and the person's files were not tightened.
    assert companion(home, "knowledge", "list", env=env).returncode == 0
    assert {name: tree(home)[name] for name in theirs} == theirs

    forgot = companion(home, "forget", "--yes", env=env)
    assert forgot.returncode == 0, forgot.stderr
    assert (
        "public_html" in forgot.stdout and "notes.txt" in forgot.stdout and "left in place" in forgot.stdout
    )
    assert "kept downloaded models" not in forgot.stdout
    assert {name: value for name, value in tree(home).items() if name != "."} == theirs  # only theirs is left
    assert marker_files(home) == []


def test_a_folder_made_by_an_older_companion_is_still_its_own(tmp_path, env):
    home = tmp_path / "older"
    with Journal(
        home / "journal.sqlite3"
    ) as journal:  # what an older release left: a journal and a lock, no marker
        journal.add_turn(journal.start_session("reflect"), "partner", "you never call")
    (home / "my-letter.txt").write_text("kept by the person")
    os.chmod(home / "my-letter.txt", 0o644)
    assert not (home / HOME_MARKER_NAME).exists()

    listed = companion(home, "journal", "list", env=env)
    assert listed.returncode == 0, listed.stderr
    assert "you never call" in listed.stdout
    assert (home / HOME_MARKER_NAME).is_file()  # marked now, so the next start knows it without guessing
    assert stat.S_IMODE((home / "my-letter.txt").stat().st_mode) == 0o644  # not companion's: never tightened

    forgot = companion(home, "forget", "--yes", env=env)
    assert forgot.returncode == 0 and "my-letter.txt" in forgot.stdout
    assert sorted(path.name for path in home.iterdir()) == ["my-letter.txt"]


# ---- the folder's lock ------------------------------------------------------------------------------------


def test_forget_while_a_big_document_is_indexed_leaves_no_trace_of_it(tmp_path, env):
    home = tmp_path / "home"
    document = big_document(tmp_path / "big.md")
    adding = start(home, "knowledge", "add", str(document), env=env)
    assert wait_for_holder(home, adding), adding.communicate()  # the add holds the folder from its start
    forgot = companion(home, "forget", "--yes", env=env)
    added = adding.communicate(timeout=600)
    assert forgot.returncode == 0, forgot.stderr
    assert "Traceback" not in added[1] and "Traceback" not in forgot.stderr
    assert adding.returncode == 0, added  # it held the folder first, so it finished before forget began
    assert not home.exists(), sorted(home.rglob("*"))
    assert marker_files(tmp_path / "home") == []


def test_a_command_waiting_while_forget_runs_saves_nothing_afterwards(tmp_path, env):
    home = tmp_path / "home"
    assert companion(home, "index", env=env).returncode == 0
    document = big_document(tmp_path / "big.md", sections=50)
    with holding_the_lock(home, "command"):  # a third command holds the folder: both below must wait
        adding = start(home, "knowledge", "add", str(document), env=env)
        forgetting = start(home, "forget", "--yes", env=env)
        time.sleep(1.0)  # let both reach the lock (if one comes late, the assertions below still hold)
    forgot, added = forgetting.communicate(timeout=600), adding.communicate(timeout=600)
    assert forgetting.returncode == 0, forgot
    assert "Traceback" not in added[1] + forgot[1]
    # Whichever got the folder first: the add finished before forget, or it found the folder erased and stopped.
    assert adding.returncode in (0, 2), added
    if adding.returncode == 2:
        assert len(added[1].strip().splitlines()) == 1 and "erased" in added[1]
    assert marker_files(home) == []
    assert not home.exists()


def test_two_adds_and_a_rebuild_at_once_take_turns(tmp_path, env):
    home = tmp_path / "home"
    first, second = big_document(tmp_path / "first.md", 60), big_document(tmp_path / "second.md", 60)
    runs = [
        start(home, "knowledge", "add", str(first), env=env),
        start(home, "index", "--rebuild", env=env),
        start(home, "knowledge", "add", str(second), env=env),
    ]
    outputs = [run.communicate(timeout=600) for run in runs]
    for run, (_out, err) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, err
        assert "Traceback" not in err and "InternalError" not in err
    listing = companion(home, "knowledge", "list", "--json", env=env)
    assert "/documents/first.md" in listing.stdout and "/documents/second.md" in listing.stdout
    found = companion(home, "search", f"{MARKER.decode()} slow down", "--json", env=env)
    assert found.returncode == 0 and MARKER.decode() in found.stdout, found.stderr


def test_a_reader_gives_up_with_a_message_instead_of_hanging(tmp_path, env):
    home = tmp_path / "home"
    assert companion(home, "index", env=env).returncode == 0
    with holding_the_lock(home, "command"):
        waited = companion(home, "search", "listening", env=env, COMPANION_LOCK_WAIT="0.5")
        assert_refused(waited, "Another companion command", "still using")
    assert companion(home, "search", "listening", env=env).returncode == 0  # free again: it works


def test_writers_are_told_at_once_that_the_app_is_open(tmp_path, env):
    home = tmp_path / "home"
    assert companion(home, "index", env=env).returncode == 0
    document = big_document(tmp_path / "doc.md", sections=2)
    before = tree(home)
    with holding_the_lock(home, "app"):  # the app holds the folder for as long as it is open
        for argv in (
            ("knowledge", "add", str(document)),
            ("index", "--rebuild"),
            ("forget", "--yes"),
            ("journal", "list"),
        ):
            assert_refused(companion(home, *argv, env=env), "already open in another window")
        assert {name: value for name, value in tree(home).items() if name != privacy.LOCK_FILE_NAME} == {
            name: value for name, value in before.items() if name != privacy.LOCK_FILE_NAME
        }


# ---- a read-only data folder ------------------------------------------------------------------------------


def _read_only_runner() -> tuple[str, ...]:
    """How to run companion so that file modes bind it: as is for a normal user; as root, without the two
    capabilities that let root write through them (util-linux setpriv)."""
    if os.geteuid() != 0:
        return ()
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: a read-only folder cannot stop root's writes here")
    wrap = (setpriv, "--bounding-set=-dac_override,-dac_read_search")
    probe = subprocess.run([*wrap, "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"setpriv cannot drop capabilities here: {probe.stderr.decode().strip()}")
    return wrap


def test_a_read_only_folder_reads_and_says_what_could_not_be_saved(tmp_path, env):
    wrap = _read_only_runner()
    home = tmp_path / "home"
    assert companion(home, "index", env=env).returncode == 0
    document = big_document(tmp_path / "doc.md", sections=2)
    for path in [home, *home.rglob("*")]:
        os.chmod(path, 0o500 if path.is_dir() else 0o400)
    before = tree(home)
    try:
        assert subprocess.run([*wrap, "touch", str(home / "probe")], capture_output=True).returncode != 0
        for argv in (
            ("knowledge", "list"),
            ("models", "list"),
            ("reflect", "--no-model", "you never listen"),
            ("search", "listening"),
        ):
            result = companion(home, *argv, env=env, wrap=wrap)
            assert "Traceback" not in result.stderr, (argv, result.stderr)
            assert result.returncode in (0, 2), (argv, result.stderr)
            if argv[0] != "search":
                assert result.returncode == 0, (argv, result.stderr)
        for argv in (
            ("index",),
            ("knowledge", "add", str(document)),
            ("journal", "delete", "1"),
            ("forget", "--yes"),
        ):
            assert_refused(companion(home, *argv, env=env, wrap=wrap), "read-only", "chmod u+w")
        assert tree(home) == before
    finally:
        for path in [home, *home.rglob("*")]:
            os.chmod(path, 0o700 if path.is_dir() else 0o600)


# ---- a failed download ------------------------------------------------------------------------------------


def test_a_failed_pull_leaves_nothing_and_forget_keeps_no_models(tmp_path, env):
    home = tmp_path / "home"
    assert companion(home, "index", env=env).returncode == 0
    with socket.socket() as closed:  # a loopback port nobody listens on: the connection is refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    pulled = companion(home, "models", "pull", "fast", env=env, HF_ENDPOINT=f"http://127.0.0.1:{port}")
    assert pulled.returncode == 2 and "Traceback" not in pulled.stderr, pulled.stderr
    assert not (home / "models").exists(), sorted((home / "models").rglob("*"))
    forgot = companion(home, "forget", "--yes", env=env)
    assert forgot.returncode == 0 and "kept downloaded models" not in forgot.stdout
    assert not home.exists()
