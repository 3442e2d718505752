"""Hostile input from issue 11 (items 4, 8, 9, 10, 16), run as a person would: real `companion` processes, a real
data folder, the real MiniLM embedder where retrieval decides what is printed, real SQLite journals, and a small
OpenAI-compatible server on 127.0.0.1 where a draft has to arrive exactly as written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import unicodedata
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STATEMENT = "I feel ignored when you work late"
# The document from the issue: a window-title OSC ending in BEL and a clear-screen CSI inside its heading.
HOSTILE_DOCUMENT = (
    "# Ignored \x1b]0;PWNED\x07\x1b[2J late\n\n"
    "When your partner feels ignored when you work late, listen before you explain the deadline.\n"
)
BIDI = "\u202e"  # RIGHT-TO-LEFT OVERRIDE: makes a terminal show what follows backwards


def companion(*args: str, home: Path, stdin: bytes | None = None, env: dict | None = None):
    full_env = {**os.environ, "COMPANION_HOME": str(home), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "companion", *args],
        input=stdin,
        capture_output=True,
        cwd=ROOT,
        env=full_env,
        timeout=600,
    )


def assert_one_line_refusal(done) -> None:
    err = done.stderr.decode("utf-8", "replace")
    assert done.returncode == 2, err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err


def format_chars(text: str) -> list[str]:
    return [f"U+{ord(ch):04X}" for ch in text if unicodedata.category(ch) == "Cf"]


def all_strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from all_strings(key)
            yield from all_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from all_strings(item)


# ---- item 8: escape sequences from an added document never reach the terminal ----------------------------------


@pytest.fixture(scope="module")
def hostile_home(tmp_path_factory, minilm_model) -> tuple[Path, bytes]:
    """A data folder with the issue's document added under a file name that holds an escape sequence too; and what
    `knowledge add` printed."""
    home = tmp_path_factory.mktemp("hostile") / "home"
    document = tmp_path_factory.mktemp("docs") / "late\x1b[5mnights.md"
    document.write_text(HOSTILE_DOCUMENT, encoding="utf-8")
    added = companion(
        "knowledge", "add", str(document), home=home, env={"COMPANION_EMBED_MODEL": str(minilm_model)}
    )
    assert added.returncode == 0, added.stderr.decode()
    return home, added.stdout + added.stderr


def assert_terminal_safe(output: bytes, *, payload_gone: bool = True) -> None:
    assert b"\x1b" not in output and b"\x07" not in output, output[:400]
    if payload_gone:  # the title went with its escape sequence: not printed as text either
        assert b"PWNED" not in output
    assert not any(0x80 <= ord(ch) <= 0x9F for ch in output.decode("utf-8", "replace"))


def test_knowledge_add_prints_the_hostile_file_name_as_plain_text(hostile_home):
    _, printed = hostile_home
    assert b"Added late" in printed and b"nights.md" in printed
    assert_terminal_safe(printed)


def test_reflect_names_the_hostile_heading_as_text(hostile_home, minilm_model):
    done = companion(
        "reflect",
        "--no-model",
        STATEMENT,
        home=hostile_home[0],
        env={"COMPANION_EMBED_MODEL": str(minilm_model)},
    )
    assert done.returncode == 0, done.stderr.decode()
    out = done.stdout.decode()
    guidance = out[out.index("Guidance used:") :]
    assert "Ignored late" in guidance or "Ignored  late" in guidance, guidance  # the document was cited
    assert "documents/late" in guidance
    assert_terminal_safe(done.stdout + done.stderr)


def test_knowledge_list_and_search_print_the_hostile_document_as_text(hostile_home, minilm_model):
    env = {"COMPANION_EMBED_MODEL": str(minilm_model)}
    listed = companion("knowledge", "list", home=hostile_home[0], env=env)
    assert listed.returncode == 0, listed.stderr.decode()
    assert b"documents/late" in listed.stdout
    found = companion("search", "partner feels ignored when you work late", home=hostile_home[0], env=env)
    assert found.returncode == 0, found.stderr.decode()
    assert b"Ignored" in found.stdout
    for done in (listed, found):
        assert_terminal_safe(done.stdout + done.stderr)


def test_the_stored_sections_were_cleaned_on_the_way_in(hostile_home):
    from companion.config import Settings
    from companion.guidance.knowledge import KnowledgeBase

    added = [
        s
        for s in KnowledgeBase(Settings.load(hostile_home[0])).sections()
        if s.source.startswith("documents/")
    ]
    assert added, "the added document has no sections"
    for section in added:
        for text in (section.source, section.text, *section.heading_path):
            assert "\x1b" not in text and "\x07" not in text and "PWNED" not in text, text


def test_journal_export_to_the_terminal_prints_stored_escapes_as_text(companion_home):
    from companion.store.journal import Journal

    with Journal(companion_home / "journal.sqlite3") as journal:
        session = journal.start_session("reflect")
        journal.add_turn(
            session,
            "partner",
            "You work late \x1b]0;PWNED\x07again\x1b[2J.",
            citations=[{"section": "Ignored \x1b]0;PWNED\x07\x1b[2J late", "source": "documents/a.md"}],
        )
    for fmt in ("md", "json"):
        done = companion("journal", "export", "--format", fmt, home=companion_home)
        assert done.returncode == 0, done.stderr.decode()
        assert b"again" in done.stdout
        # JSON writes the escape as the six characters \u001b, so its text stays, inert, in the export.
        assert_terminal_safe(done.stdout, payload_gone=fmt == "md")


# ---- item 9: bidi overrides and other format characters are dropped from statements and replies ----------------


def test_a_statement_loses_its_bidi_override_before_it_is_echoed(companion_home, tiny_embed_model):
    done = companion(
        "reflect",
        "--json",
        "--no-model",
        f"I feel \u2066ignored when you work {BIDI}late\u202c",
        home=companion_home,
        env={"COMPANION_EMBED_MODEL": str(tiny_embed_model)},
    )
    assert done.returncode == 0, done.stderr.decode()
    payload = json.loads(done.stdout)
    found = [mark for text in all_strings(payload) for mark in format_chars(text)]
    assert found == [], found
    assert "ignored when I work late" in payload["reflection"]  # the words came through, the marks did not


def test_a_rehearsal_reply_is_stored_without_its_bidi_override(companion_home, minilm_model):
    reply = f"It sounds like {BIDI}you felt alone\u2067 when I stayed late at work.\n/end\n"
    done = companion(
        "rehearse",
        "time-together",
        home=companion_home,
        stdin=reply.encode(),
        env={"COMPANION_EMBED_MODEL": str(minilm_model)},
    )
    assert done.returncode == 0, done.stderr.decode()
    exported = companion("journal", "export", "--format", "json", home=companion_home)
    turns = [turn for session in json.loads(exported.stdout)["sessions"] for turn in session["turns"]]
    listener = [turn["text"] for turn in turns if "felt alone" in turn["text"]]
    assert listener, turns
    assert format_chars(listener[0]) == [] and "you felt alone when I stayed late" in listener[0]


# ---- item 10: standard input is read with a bound --------------------------------------------------------------

STREAM_BYTES = 100_000_000


@pytest.mark.parametrize("command", [("reflect", "-"), ("search", "-"), ("coach", "assess", "-")])
def test_a_runaway_stdin_is_refused_after_reading_little_of_it(companion_home, command):
    proc = subprocess.Popen(
        [sys.executable, "-m", "companion", *command],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env={**os.environ, "COMPANION_HOME": str(companion_home)},
    )
    piece = b"you never listen to me " * 4096  # about 94 KB
    written = 0
    try:
        while written < STREAM_BYTES:
            proc.stdin.write(piece)
            written += len(piece)
        proc.stdin.close()
    except BrokenPipeError:
        pass  # the reader stopped reading and went away: what a bounded reader does
    out, err = proc.communicate(timeout=600)
    # The limit plus one pipe buffer and a piece in flight: a whole-stream reader would have taken all 100 MB.
    assert written < 2_000_000, f"{written:,} bytes were taken before the refusal"
    assert proc.returncode == 2, err.decode()
    assert b"Traceback" not in err and len(err.strip().splitlines()) == 1, err.decode()
    assert b"longer than" in err


def test_coach_label_skips_an_endless_line_without_holding_it(companion_home, minilm_model):
    """One 300 MB line with no newline inside, then a good one: the first is refused, the second labelled, and the
    process never held the long line (its peak memory stays far below the line's size)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "companion", "coach", "label"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env={**os.environ, "COMPANION_HOME": str(companion_home), "COMPANION_EMBED_MODEL": str(minilm_model)},
    )
    collected: dict[str, bytes] = {}
    readers = [
        threading.Thread(target=lambda name=name, pipe=pipe: collected.__setitem__(name, pipe.read()))
        for name, pipe in (("out", proc.stdout), ("err", proc.stderr))
    ]
    for reader in readers:
        reader.start()
    # The child's own high-water mark (VmHWM is per address space, reset at exec), polled while it runs: wait4's
    # ru_maxrss would also count the pages of this test process at the moment of the fork.
    peaks: list[int] = []

    def watch_peak() -> None:
        while proc.poll() is None:
            try:
                status_text = Path(f"/proc/{proc.pid}/status").read_text()
            except OSError:
                return
            peaks.extend(
                int(line.split()[1]) * 1024 for line in status_text.splitlines() if line.startswith("VmHWM:")
            )
            threading.Event().wait(0.02)

    watcher = threading.Thread(target=watch_peak)
    watcher.start()
    long_line = 300_000_000
    piece = b'{"text": "' + b"a" * (1 << 20)
    sent = 0
    while sent < long_line:
        proc.stdin.write(piece)
        sent += len(piece)
    proc.stdin.write(b'"}\n{"text": "It sounds like you felt alone at the party."}\n')
    proc.stdin.close()
    proc.wait(timeout=600)
    watcher.join(timeout=60)
    for reader in readers:
        reader.join(timeout=600)
    assert proc.returncode == 0, collected["err"].decode()
    results = [json.loads(line) for line in collected["out"].splitlines()]
    assert results[0]["line"] == 1 and "longer than" in results[0]["error"]
    assert results[1]["label"] == "reflection"
    assert peaks, "the child's memory could not be read"
    peak_bytes = max(peaks)
    assert peak_bytes < 250_000_000, (
        f"peak memory {peak_bytes / 1e6:.0f} MB for a {long_line / 1e6:.0f} MB line"
    )


# ---- item 4: a wrong config.toml value is named, ignored, and the default used ---------------------------------

BAD_CONFIGS = {
    "n_gpu_layers as text": ('n_gpu_layers = "abc"\n', "n_gpu_layers"),
    "chat_model as a number": ("chat_model = 5\n", "chat_model"),
    "n_threads as text": ('n_threads = "many"\n', "n_threads"),
    "negative n_threads": ("n_threads = -3\n", "n_threads"),
    "n_gpu_layers far below -1": ("n_gpu_layers = -40\n", "n_gpu_layers"),
    "listener as text": ('listener = "no"\n', "listener"),
    "an unknown key": ('colour = "blue"\n', "colour"),
    "not TOML": ("n_threads = = 2\n[[\n", "not valid TOML"),
}


def write_config(home: Path, text: str) -> None:
    path = home / "config.toml"
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)  # as companion keeps it: no note about its mode


def config_lines(stderr: bytes) -> list[str]:
    return [line for line in stderr.decode().splitlines() if "config.toml" in line]


@pytest.mark.parametrize("config, named", BAD_CONFIGS.values(), ids=BAD_CONFIGS.keys())
def test_journal_and_forget_run_with_a_bad_config_value_named_once(companion_home, config, named):
    assert (
        companion("journal", "list", home=companion_home).returncode == 0
    )  # companion makes its folder first
    write_config(companion_home, config)
    for command in (("journal", "list"), ("forget", "--yes")):
        done = companion(*command, home=companion_home)
        assert done.returncode == 0, f"{command}: {done.stderr.decode()}"
        assert b"Traceback" not in done.stderr
        warnings = config_lines(done.stderr)
        assert len(warnings) == 1 and named in warnings[0], done.stderr.decode()
    assert not (companion_home / "config.toml").exists()  # forget ran to the end


def test_reflect_runs_with_every_bad_value_at_once_each_named_in_its_own_line(
    companion_home, tiny_embed_model
):
    """The values that crashed reflect (n_threads reaches the embedder), all in one file, so one run covers them."""
    assert companion("journal", "list", home=companion_home).returncode == 0
    write_config(
        companion_home,
        'n_gpu_layers = "abc"\nchat_model = 5\nn_threads = "many"\nlistener = "no"\n'
        'colour = "blue"\ntheme = 7\n',
    )
    done = companion(
        "reflect",
        "--no-model",
        STATEMENT,
        home=companion_home,
        env={"COMPANION_EMBED_MODEL": str(tiny_embed_model)},
    )
    assert done.returncode == 0, done.stderr.decode()
    assert b"Traceback" not in done.stderr and b"It sounds like" in done.stdout
    warnings = config_lines(done.stderr)
    assert len(warnings) == 6, warnings
    for key in ("n_gpu_layers", "chat_model", "n_threads", "listener", "colour", "theme"):
        assert sum(f" {key} = " in line or f"'{key}'" in line for line in warnings) >= 1, (key, warnings)


def test_a_bad_value_leaves_the_good_ones_in_force(tmp_path):
    (tmp_path / "config.toml").write_text('region = "UK"\nn_threads = "many"\nn_gpu_layers = 2\n')
    from companion.config import Settings

    settings = Settings.load(tmp_path)
    assert (settings.region, settings.n_threads, settings.n_gpu_layers) == ("UK", None, 2)
    assert len(settings.config_warnings) == 1 and "n_threads" in settings.config_warnings[0]


# ---- item 16: a streamed model draft is printed once --------------------------------------------------------------

# A draft wrapped in quotes, as small models often write one: the checks take the quotes off before showing it.
QUOTED_DRAFT = [
    '"It',
    " sounds",
    " like",
    " you",
    " feel",
    " ignored",
    " when",
    " I",
    " work",
    " late,",
    " and",
    " that",
    " time",
    " with",
    " me",
    " matters",
    " to",
    " you.",
    " Did",
    " I",
    " get",
    " that",
    ' right?"',
]


class ScriptedServer(BaseHTTPRequestHandler):
    """An OpenAI-compatible server on 127.0.0.1 that streams QUOTED_DRAFT, one piece an event."""

    def log_message(self, *args) -> None:
        pass

    def _send_json(self, payload: dict) -> None:
        body = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._send_json({"object": "list", "data": [{"id": "scripted-drafts", "object": "model"}]})

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for piece in QUOTED_DRAFT:
            chunk = {"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
            self.wfile.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
        done = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        self.wfile.write(b"data: " + json.dumps(done).encode() + b"\n\ndata: [DONE]\n\n")


@pytest.fixture
def scripted_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), ScriptedServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_a_streamed_draft_that_passes_is_printed_once(companion_home, scripted_server, minilm_model):
    done = companion(
        "--model",
        scripted_server,
        "reflect",
        STATEMENT,
        home=companion_home,
        env={"COMPANION_EMBED_MODEL": str(minilm_model)},
    )
    assert done.returncode == 0, done.stderr.decode()
    out = done.stdout.decode()
    assert "model server: scripted-drafts" in out, (
        out
    )  # the model's draft answered, not the built-in reflector
    assert out.count("It sounds like you feel ignored when I work late") == 1, out
