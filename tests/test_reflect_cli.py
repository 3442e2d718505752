"""`companion reflect` as a person runs it: a real process, a temporary COMPANION_HOME, real models."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STATEMENT = "You never make time for me anymore."


@pytest.fixture(autouse=True)
def quick_embedder(tiny_embed_model, monkeypatch):
    """The tiny real embedder: these tests are about the command, not retrieval quality (test_index has that)."""
    monkeypatch.setenv("COMPANION_EMBED_MODEL", str(tiny_embed_model))


@pytest.fixture(scope="module")
def indexed_home(tmp_path_factory) -> Path:
    """One data folder for the tests that search, so the guidance index is built once, not per test."""
    return tmp_path_factory.mktemp("cli") / "companion-home"


def run_companion(*args: str, stdin: bytes | None = None, home: Path | None = None):
    full_env = dict(os.environ)
    if home is not None:
        full_env["COMPANION_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "companion", *args],
        input=stdin,
        capture_output=True,
        cwd=ROOT,
        env=full_env,
        timeout=600,
    )


def check_json_shape(payload: dict) -> None:
    assert isinstance(payload["reflection"], str) and payload["reflection"]
    assert isinstance(payload["alternatives"], list) and all(
        isinstance(a, str) for a in payload["alternatives"]
    )
    assert isinstance(payload["feelings"], list) and isinstance(payload["needs"], list)
    assert all(set(c) == {"section", "source"} for c in payload["citations"])
    assert payload["engine"] in ("llama", "builtin")
    assert payload["safety"] is None or set(payload["safety"]) == {"level", "message", "resources"}


def test_json_without_a_model_comes_from_the_builtin_reflector_with_citations(indexed_home):
    done = run_companion("reflect", STATEMENT, "--json", "--no-model", home=indexed_home)
    assert done.returncode == 0, done.stderr.decode()
    payload = json.loads(done.stdout)
    check_json_shape(payload)
    assert payload["engine"] == "builtin"
    assert payload["safety"] is None
    assert payload["citations"], "the bundled guidance was not searched"
    assert payload["needs"] or payload["feelings"]


def test_json_with_the_tiny_model_falls_back_and_says_why(tiny_chat_model, indexed_home):
    done = run_companion("reflect", STATEMENT, "--json", "--model", str(tiny_chat_model), home=indexed_home)
    assert done.returncode == 0, done.stderr.decode()
    payload = json.loads(done.stdout)
    check_json_shape(payload)
    assert payload["engine"] == "builtin"
    assert "did not pass the checks" in payload["notice"]
    assert done.stderr == b""  # llama.cpp's chatter went to the log file
    log_dir = indexed_home / "logs"
    assert (log_dir / "llama.log").stat().st_size > 0
    assert "never make time" not in (log_dir / "companion.log").read_text(encoding="utf-8")


def test_streamed_text_ends_with_the_engine_that_spoke(indexed_home):
    done = run_companion("reflect", STATEMENT, "--no-model", home=indexed_home)
    assert done.returncode == 0, done.stderr.decode()
    out = done.stdout.decode()
    assert "Engine: built-in reflector" in out
    assert "Needs:" in out or "Feelings:" in out


def test_crisis_json_carries_the_safety_message(companion_home):
    done = run_companion("reflect", "I have a plan to end my life tonight.", "--json", "--no-model")
    assert done.returncode == 0
    payload = json.loads(done.stdout)
    check_json_shape(payload)
    assert payload["safety"]["level"] == "crisis" and payload["safety"]["resources"]
    assert payload["alternatives"] == []


@pytest.mark.parametrize("text", ["", "   "])
def test_empty_text_is_one_clear_line_and_exit_2(text, companion_home):
    done = run_companion("reflect", text, "--json", "--no-model")
    assert done.returncode == 2
    err = done.stderr.decode()
    assert err.startswith("companion: ") and "empty" in err
    assert "Traceback" not in err and err.count("\n") == 1
    assert done.stdout == b""


def test_200_kb_on_stdin_is_refused_and_nothing_is_stored(companion_home):
    done = run_companion("reflect", "-", "--json", "--no-model", stdin=b"you never listen. " * 12000)
    assert done.returncode == 2
    err = done.stderr.decode()
    assert "Nothing was stored" in err and "Traceback" not in err
    assert not (companion_home / "journal.sqlite3").exists()


def test_invalid_utf8_ansi_and_emoji_on_stdin_are_handled(indexed_home):
    raw = b"\x1b[31mYou never \xff\xfe listen to me \xf0\x9f\x98\x9e\x1b[0m"
    done = run_companion("reflect", "-", "--json", "--no-model", stdin=raw, home=indexed_home)
    assert done.returncode == 0, done.stderr.decode()
    payload = json.loads(done.stdout)
    check_json_shape(payload)
    assert "\x1b" not in payload["reflection"]


def test_a_missing_model_file_is_one_clear_line(tmp_path, indexed_home):
    done = run_companion("reflect", STATEMENT, "--model", str(tmp_path / "missing.gguf"), home=indexed_home)
    assert done.returncode == 2
    err = done.stderr.decode()
    assert "missing.gguf" in err and "Traceback" not in err
