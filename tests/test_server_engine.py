"""The model-server engine against llama-cpp-python's own OpenAI-compatible server (a real process on 127.0.0.1)
and a small loopback stub for what a real server will not do on demand (HTTP 500, garbage, a stream without end).
Nothing here leaves loopback: the conftest guard fails any other connection."""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from companion.config import Settings
from companion.engines.llm import GenerationStats
from companion.engines.server import API_KEY_ENV, ServerChatModel, parse_server_url
from companion.errors import ModelError

ROOT = Path(__file__).resolve().parent.parent
STATEMENT = "You never make time for me anymore."
HELLO = [{"role": "user", "content": "Say something kind."}]


# ---- a real llama-cpp-python server -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LlamaServer:
    """`python -m llama_cpp.server` serving a GGUF on a free loopback port; its output goes to a log we read."""

    def __init__(self, model: Path, log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 (closed in stop)
        # One request at a time, each to its end: a second request waits instead of cutting off the first.
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "llama_cpp.server",
                "--model",
                str(model),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--n_ctx",
                "2048",
                "--n_threads",
                "1",
                "--interrupt_requests",
                "False",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env={**os.environ, "HF_HUB_OFFLINE": "1", "NO_PROXY": "*"},
        )
        self._wait_until_ready()

    def _wait_until_ready(self) -> None:
        import httpx

        for _ in range(600):
            if self.process.poll() is not None:
                self.stop()
                pytest.fail(f"llama_cpp.server exited: {self.log_path.read_text(errors='replace')[-2000:]}")
            try:
                if httpx.get(self.url + "/models", timeout=2, trust_env=False).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        pytest.fail("llama_cpp.server did not start within a minute")

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


@pytest.fixture(scope="module")
def llama_server(tiny_chat_model, tmp_path_factory):
    server = LlamaServer(tiny_chat_model, tmp_path_factory.mktemp("llama-server") / "server.log")
    yield server
    server.stop()


@pytest.fixture
def server_model(llama_server):
    with ServerChatModel(llama_server.url) as model:
        yield model


def wait_for(condition, what: str, tries: int = 300) -> None:
    for _ in range(tries):
        if condition():
            return
        time.sleep(0.1)
    pytest.fail(f"never happened: {what}")


def run_companion(*args: str, home: Path, env: dict | None = None):
    full_env = {**os.environ, "COMPANION_HOME": str(home), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "companion", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=full_env,
        timeout=600,
    )


@pytest.fixture
def indexed_home(companion_home, tiny_guidance_index, tiny_embed_model, monkeypatch) -> Path:
    """A data folder whose guidance is already indexed with the tiny embedder (these tests are about the model)."""
    shutil.copytree(tiny_guidance_index, companion_home / "index")
    for folder in (companion_home, companion_home / "index"):
        folder.chmod(0o700)  # as companion makes it, so its start has no permission warning to print
    monkeypatch.setenv("COMPANION_EMBED_MODEL", str(tiny_embed_model))
    return companion_home


# ---- addresses and configuration (no connection at all) ------------------------------------------------------------


def test_an_address_is_normalised_to_the_openai_base():
    assert parse_server_url("http://127.0.0.1:11434").base_url == "http://127.0.0.1:11434/v1"
    assert parse_server_url("http://localhost:8080/v1/").base_url == "http://localhost:8080/v1"
    assert (
        parse_server_url("http://127.0.0.1:1234/v1/chat/completions").base_url == "http://127.0.0.1:1234/v1"
    )
    assert (
        parse_server_url("https://gpu.example:8443/openai/v1").base_url
        == "https://gpu.example:8443/openai/v1"
    )
    for bad in (
        "ftp://127.0.0.1/v1",
        "http://",
        "http://user:pw@127.0.0.1:8080/v1",
        "http://127.0.0.1:99999",
    ):
        with pytest.raises(ModelError):
            parse_server_url(bad)


def test_another_machine_is_refused_unless_chosen_and_named_plainly():
    with pytest.raises(ModelError, match="another machine") as refused:
        ServerChatModel("http://192.168.1.20:8080/v1")  # refused before any connection is tried
    assert "Nothing was sent" in str(refused.value)
    lan = parse_server_url("http://192.168.1.20:8080/v1")
    assert (
        lan.privacy_note == "model on 192.168.1.20: what you type is sent to that machine, and nowhere else"
    )
    assert "local network can read" in lan.warning
    assert parse_server_url("https://192.168.1.20:8443/v1").warning is None  # verified TLS: no such warning
    assert parse_server_url("http://127.0.0.1:8080/v1").warning is None


def test_config_and_model_flag_choose_a_server(companion_home):
    from companion.cli import build_parser
    from companion.cli.common import settings_from_args
    from companion.engines.models import choose_chat_model

    companion_home.mkdir(parents=True)
    (companion_home / "config.toml").write_text(
        'chat_model = "http://127.0.0.1:11434/v1"\nserver_model = "llama3.1:8b"\n'
    )
    settings = Settings.load()
    assert settings.chat_server == "http://127.0.0.1:11434/v1" and settings.server_model == "llama3.1:8b"
    assert settings.chat_model is None and settings.chat_model_name is None
    decision = choose_chat_model(settings)
    assert decision.choice.engine == "server" and decision.choice.model == "llama3.1:8b"
    assert decision.warning is None
    settings.save()
    assert Settings.load() == settings  # the choice survives a save, and no key is ever written
    assert API_KEY_ENV not in settings.config_path.read_text()

    args = build_parser().parse_args(["--model", "models/tiny/tiny-chat.gguf", "reflect", "x"])
    assert settings_from_args(args).chat_server is None  # a path stays a file
    args = build_parser().parse_args(["--model", "http://192.168.1.20:8080/v1", "reflect", "x"])
    lan = choose_chat_model(settings_from_args(args))
    assert lan.choice.path == "http://192.168.1.20:8080/v1" and "local network" in lan.warning


# ---- the real server -----------------------------------------------------------------------------------------------


def test_the_engine_streams_and_names_the_server(server_model, llama_server):
    assert server_model.engine == "server" and server_model.name == "tiny-chat"
    assert server_model.label == f"tiny-chat (server on this machine, port {llama_server.port})"
    assert server_model.list_models() == [server_model.model]
    stats = GenerationStats()
    pieces = list(server_model.stream(HELLO, max_tokens=12, temperature=0.0, stats=stats))
    assert pieces and stats.finish_reason == "length" and stats.completion_tokens == 12
    assert server_model.complete(HELLO, max_tokens=12, temperature=0.0) == "".join(
        pieces
    )  # same request, same answer


def test_cli_reflect_through_the_server(llama_server, indexed_home):
    done = run_companion("--model", llama_server.url, "reflect", "--json", STATEMENT, home=indexed_home)
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    # The tiny model's words fail the review, so the built-in reflector answers and says the model's draft failed
    # (not that the model could not be reached).
    assert payload["engine"] in ("server", "builtin")
    if payload["engine"] == "builtin":
        assert "did not pass the checks" in payload["notice"]
    else:
        assert payload["model"]["server"] == llama_server.url
    assert 'POST /v1/chat/completions HTTP/1.1" 200' in llama_server.log_text()

    plain = run_companion("--model", llama_server.url, "reflect", STATEMENT, home=indexed_home)
    assert plain.returncode == 0, plain.stderr
    assert "Engine: " in plain.stdout and "Traceback" not in plain.stderr


def test_reflection_engine_via_services_streams_from_the_server(llama_server, indexed_home, tiny_embed_model):
    from companion.services import Services

    settings = Settings.load().with_changes(chat_server=llama_server.url)
    streamed: list[str] = []
    with Services(settings) as services:
        chat = services.chat_model
        assert isinstance(chat, ServerChatModel)
        result = services.reflection.reflect(STATEMENT, on_token=streamed.append)
        # A draft the review stops early is closed on the client side: the server stops too.
        assert chat.last_stats.completion_tokens > 0
        assert chat.last_stats.finish_reason in ("stop", "length", "cancelled")
    assert streamed, "no text came through the server"
    assert result.engine in ("server", "builtin") and result.reflection
    assert result.notice is None or "could not answer" not in result.notice


def test_a_rehearsal_asks_the_server_for_the_partners_lines(llama_server, minilm_model, companion_home):
    from companion.rehearse.scenarios import BUNDLED_SCENARIOS_DIR, find_scenario, load_scenarios
    from companion.services import Services

    scenarios, _ = load_scenarios([BUNDLED_SCENARIOS_DIR])
    partner = find_scenario(scenarios, "time-together")
    settings = Settings(home=companion_home, chat_server=llama_server.url, embed_model=minilm_model)
    with Services(settings) as services:
        rehearsal = services.rehearsal(partner)
        assert rehearsal.chat_model is services.chat_model  # a server model speaks for the partner
        rehearsal.opening()
        turn = rehearsal.reply(
            "It sounds like you've felt alone with this, and you want us to have time together."
        )
        stats = services.chat_model.last_stats
        assert stats is not None and stats.completion_tokens > 0 and stats.finish_reason in ("stop", "length")
        # The tiny model rarely stays in character, so the scripted line may stand in; either way a partner answers.
        assert turn.partner_reply and turn.engine in ("llama", "script")
        rehearsal.finish()


def test_cancel_mid_stream_frees_the_servers_slot(server_model, llama_server):
    cancel = threading.Event()
    stats = GenerationStats()
    disconnects = llama_server.log_text().count("Disconnected from client")
    received = []
    for piece in server_model.stream(HELLO, max_tokens=1800, cancel=cancel, stats=stats):
        received.append(piece)
        if len(received) == 3:
            cancel.set()
    assert len(received) == 3 and stats.finish_reason == "cancelled"
    # The server noticed the closed connection and stopped generating...
    wait_for(
        lambda: llama_server.log_text().count("Disconnected from client") > disconnects,
        "the server saw the cancel",
    )
    # ...so its one slot is free: the next request (which would queue behind the first) is answered in full.
    after = GenerationStats()
    assert server_model.complete(HELLO, max_tokens=6, stats=after) and after.finish_reason == "length"


def test_a_wrong_model_name_lists_the_servers_models(llama_server, indexed_home, tiny_chat_model):
    with pytest.raises(ModelError, match="no model called 'no-such-model'") as wrong:
        ServerChatModel(llama_server.url, model="no-such-model")
    assert "tiny-chat.gguf" in str(wrong.value) and "server_model" in str(wrong.value)

    (indexed_home / "config.toml").write_text(
        f'chat_model = "{llama_server.url}"\nserver_model = "no-such-model"\n'
    )
    done = run_companion("reflect", STATEMENT, home=indexed_home)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"has no model called 'no-such-model' (it has: {tiny_chat_model})" in done.stderr


def test_a_server_killed_mid_answer_gives_the_builtin_reflection_and_one_line(tiny_chat_model, tmp_path):
    from companion.listen.reflect import ReflectionEngine

    doomed = LlamaServer(tiny_chat_model, tmp_path / "doomed.log")
    try:
        model = ServerChatModel(doomed.url)
        with pytest.raises(ModelError, match="in the middle of the answer"):
            for piece_number, _piece in enumerate(model.stream(HELLO, max_tokens=1800), start=1):
                if piece_number == 1:
                    doomed.process.send_signal(signal.SIGKILL)
                    doomed.process.wait()
        # The reflection goes on without it: the built-in reflector answers, with one line saying what happened.
        result = ReflectionEngine(chat_model=model).reflect(STATEMENT)
        assert result.engine == "builtin" and result.reflection
        assert result.notice.count("\n") == 0
        assert result.notice.startswith("The model could not answer (Nothing answers at 127.0.0.1:")
        model.close()
    finally:
        doomed.stop()


def test_nothing_listening_is_one_line_with_the_program_to_start(indexed_home):
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", 11434)) == 0:
            pytest.skip("an Ollama (or something else) really listens on 11434 here")
    done = run_companion("--model", "http://127.0.0.1:11434/v1", "reflect", STATEMENT, home=indexed_home)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        "companion: Nothing answers at 127.0.0.1:11434. Is Ollama running? Nothing was sent. "
        "Fix: start it with `ollama serve`, or run without it: --no-model"
    ]


# ---- a loopback stub for the misbehaviours ------------------------------------------------------------------------


def _chunk(text: str | None = None, finish: str | None = None) -> bytes:
    delta = {"content": text} if text is not None else {}
    event = {
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(event).encode() + b"\n\n"


class StubServer:
    """Each path prefix is one behaviour: /<behaviour>/v1/models and /<behaviour>/v1/chat/completions."""

    def __init__(self) -> None:
        self.client_left = threading.Event()
        self.authorizations: list[str | None] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet: the test output is about the client
                pass

            def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                behaviour = self.path.strip("/").split("/")[0]
                if behaviour == "html":
                    self._send(200, b"<html><body>a router's login page</body></html>", "text/html")
                    return
                if behaviour == "key" and self.headers.get("Authorization") != "Bearer right-key":
                    self._send(401, b'{"error": {"message": "invalid api key"}}')
                    return
                self._send(200, json.dumps({"object": "list", "data": [{"id": "stub-model"}]}).encode())

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                stub.authorizations.append(self.headers.get("Authorization"))
                behaviour = self.path.strip("/").split("/")[0]
                if behaviour == "fail500":
                    self._send(500, b'{"error": {"message": "CUDA out of memory"}}')
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                try:
                    if behaviour == "garbage":
                        self.wfile.write(b"data: {not json at all\n\n")
                    elif behaviour == "cutoff":
                        self.wfile.write(
                            _chunk("It sounds") + _chunk(" like")
                        )  # then the connection just ends
                    elif (
                        behaviour == "interrupted"
                    ):  # what llama-cpp-python's server does when another request comes
                        self.wfile.write(_chunk("It sounds") + b"data: [DONE]\n\n")
                    elif behaviour == "endless":
                        while True:
                            self.wfile.write(_chunk("and "))
                            self.wfile.flush()
                            time.sleep(0.01)
                    elif behaviour == "quiet":
                        self.wfile.flush()
                        self._wait_for_client_to_leave()
                    else:  # key, and anything well-behaved
                        self.wfile.write(
                            _chunk("Hello") + _chunk(" there", finish="stop") + b"data: [DONE]\n\n"
                        )
                except OSError:  # the client closed the connection
                    stub.client_left.set()

            def _wait_for_client_to_leave(self) -> None:
                while True:
                    readable, _, _ = select.select([self.connection], [], [], 0.05)
                    if readable and self.connection.recv(1) == b"":
                        stub.client_left.set()
                        return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, behaviour: str) -> str:
        return f"http://127.0.0.1:{self.port}/{behaviour}/v1"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stub():
    server = StubServer()
    yield server
    server.close()


def test_http_500_is_one_line_and_the_reflection_falls_back(stub):
    from companion.listen.reflect import ReflectionEngine

    model = ServerChatModel(stub.url("fail500"))
    with pytest.raises(ModelError, match=r"failed \(HTTP 500: CUDA out of memory\)"):
        model.complete(HELLO)
    result = ReflectionEngine(chat_model=model).reflect(STATEMENT)
    assert result.engine == "builtin" and "HTTP 500" in result.notice
    model.close()


def test_garbage_and_a_web_page_are_not_taken_for_answers(stub):
    with pytest.raises(ModelError, match="does not answer like an OpenAI-compatible server"):
        ServerChatModel(stub.url("garbage")).complete(HELLO)
    with pytest.raises(ModelError, match="does not answer like an OpenAI-compatible server .*model list"):
        ServerChatModel(stub.url("html"))


def test_a_stream_that_stops_without_finishing_is_an_error_not_an_answer(stub):
    with pytest.raises(ModelError, match="in the middle of the answer"):
        ServerChatModel(stub.url("cutoff")).complete(HELLO)
    with pytest.raises(
        ModelError, match=r"ended the stream before the answer was finished\)\. .*interrupt_requests False"
    ):
        ServerChatModel(stub.url("interrupted")).complete(HELLO)


def test_a_never_ending_stream_ends_on_cancel_and_on_the_answer_timeout(stub):
    model = ServerChatModel(stub.url("endless"))
    cancel = threading.Event()
    stats = GenerationStats()
    for count, _piece in enumerate(model.stream(HELLO, cancel=cancel, stats=stats), start=1):
        if count == 20:
            cancel.set()
    assert stats.finish_reason == "cancelled"
    assert stub.client_left.wait(10), "the connection stayed open after cancel"

    impatient = ServerChatModel(stub.url("endless"), answer_timeout=1.0)
    with pytest.raises(ModelError, match="still answering after 1 s"):
        impatient.complete(HELLO)


@pytest.mark.timeout(120)
def test_cancel_reaches_a_server_that_has_gone_quiet(stub):
    # The read timeout is far beyond the test's own: only the cancel can end this stream in time.
    model = ServerChatModel(stub.url("quiet"), read_timeout=600)
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    stats = GenerationStats()
    assert list(model.stream(HELLO, cancel=cancel, stats=stats)) == []
    assert stats.finish_reason == "cancelled"
    assert stub.client_left.wait(10)


def test_the_key_comes_only_from_the_environment_and_is_never_written(stub, companion_home, monkeypatch):
    from companion.engines.models import choose_chat_model

    with pytest.raises(ModelError, match=f"wants a key .*{API_KEY_ENV}"):
        ServerChatModel(stub.url("key"))
    with pytest.raises(ModelError, match=f"refused the key in {API_KEY_ENV}"):
        ServerChatModel(stub.url("key"), api_key="wrong-key")
    monkeypatch.setenv(API_KEY_ENV, "right-key")
    settings = Settings(home=companion_home, chat_server=stub.url("key"))
    model = choose_chat_model(settings).choice.open(settings)
    assert model.complete(HELLO) == "Hello there"
    assert stub.authorizations[-1] == "Bearer right-key"
    assert "right-key" not in json.dumps(model.describe()) and "right-key" not in model.label
    settings.save()
    assert "right-key" not in settings.config_path.read_text()
    model.close()


def test_a_proxy_in_the_environment_never_sees_the_request(stub, monkeypatch):
    # A proxy that does not exist: a client that honoured it would fail to connect.
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    with ServerChatModel(stub.url("ok")) as model:
        assert model.complete(HELLO) == "Hello there"


# ---- the Models screen ---------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_the_models_screen_tests_a_server_lists_its_models_and_uses_one(
    stub, indexed_home, tiny_embed_model
):
    from textual.widgets import Button, Input, Select, Static
    from tui_pilot import open_screen, wait_until

    from companion.tui.app import CompanionApp

    app = CompanionApp(Settings.load().with_changes(embed_model=tiny_embed_model))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: app.services_status == "ready", "the services")
        await open_screen(pilot, "f6", "ModelsScreen")
        await pilot.press("ctrl+n")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "ServerScreen", "the server form")
        form = app.screen
        # Another machine is not even tried before the person says what they type may go there.
        form.query_one("#server-address", Input).value = "http://192.168.1.20:8080/v1"
        await pilot.press("enter")
        state = form.query_one("#server-state", Static)
        await wait_until(pilot, lambda: "another machine" in str(state.render()), "the refusal")
        assert form.query_one("#server-use", Button).disabled

        form.query_one("#server-address", Input).value = stub.url("ok")
        await pilot.press("enter")
        await wait_until(
            pilot, lambda: not form.query_one("#server-use", Button).disabled, "the server's models"
        )
        assert "It answers: 1 model." in str(state.render())
        assert form.query_one("#server-models", Select).value == "stub-model"
        await pilot.click("#server-use")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "ModelsScreen", "the form to close")
        await wait_until(
            pilot, lambda: app.services_status == "ready" and app.services is not None, "the reload"
        )
        assert app.engine_label == f"stub-model (server on this machine, port {stub.port})"
        config = app.settings.config_path.read_text()
        assert f'chat_model = "{stub.url("ok")}"' in config and 'server_model = "stub-model"' in config


@pytest.mark.asyncio
async def test_the_status_line_never_says_offline_for_a_model_on_another_machine(companion_home):
    from companion.tui.app import CompanionApp
    from companion.tui.labels import PRIVACY_NOTE
    from companion.tui.widgets.status import StatusLine

    app = CompanionApp(Settings.load(), load_services=False, use_model=False)
    async with app.run_test(size=(60, 24)) as pilot:
        await pilot.pause(0.1)
        status = app.screen.query_one(StatusLine)
        line = "".join(segment.text for segment in status.render_line(0))
        assert "offline" in line  # the built-in reflector: nothing leaves
        app._services_ready("example-8b: model on 192.168.1.20", "sent to 192.168.1.20 only")
        await pilot.pause(0.1)
        line = "".join(segment.text for segment in status.render_line(0))
        assert "sent to 192.168.1.20 only" in line and "offline" not in line
        app._services_ready("built-in reflector", None)
        await pilot.pause(0.1)
        assert app.privacy_note == PRIVACY_NOTE
