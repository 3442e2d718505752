"""The chat model on an OpenAI-compatible server (llama.cpp server, Ollama, LM Studio, vLLM), over httpx.

`ServerChatModel` offers what the reflection engine and the rehearsal use from `llm.ChatModel` (stream with a
cancel Event, complete, close, name, engine, label, describe), so they never ask which one they have. Replies
stream as server-sent events from POST {base}/chat/completions; setting `cancel` closes the connection, which
is how these servers learn to stop generating. Every failure is one `ModelError` line a person can act on.

Privacy: companion contacts only the address the person configured (never a proxy from the environment, never
another host); an address outside this machine must be allowed explicitly by the caller.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from companion.engines.llm import DEFAULT_MAX_TOKENS, GenerationStats, Messages
from companion.errors import ModelError
from companion.logs import get_logger

log = get_logger("server")

# The only place the key is read from: it is never written to the config, the journal or a log.
API_KEY_ENV = "COMPANION_SERVER_KEY"
CONNECT_TIMEOUT = 5.0
# Between two pieces of an answer: a loaded server sends the next token well within this.
READ_TIMEOUT = 60.0
# A whole answer, so a server that streams forever cannot hold a reflection hostage.
ANSWER_TIMEOUT = 300.0
# How often a stream checks its cancel Event while it waits for the server.
CANCEL_POLL_SECONDS = 0.05

# The usual port of each server, so "nothing answers" can say which program to start.
KNOWN_PORTS = {
    11434: ("Is Ollama running?", "start it with `ollama serve`"),
    1234: (
        "Is LM Studio's server running?",
        "start it in LM Studio (Developer tab) or with `lms server start`",
    ),
    8080: ("Is the llama.cpp server running?", "start it with `llama-server -m MODEL.gguf --port 8080`"),
    8000: ("Is vLLM running?", "start it with `vllm serve MODEL`"),
}


def is_loopback_host(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain") or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ServerAddress:
    """A server's base URL, checked and normalised: http(s)://host:port/v1, without a trailing slash."""

    base_url: str
    scheme: str
    host: str
    port: int

    @property
    def where(self) -> str:
        """host:port, as the error messages and the status line name it."""
        return f"{self.host}:{self.port}"

    @property
    def loopback(self) -> bool:
        return is_loopback_host(self.host)

    @property
    def privacy_note(self) -> str:
        if self.loopback:
            return "a server on this machine: what you type stays here"
        return f"model on {self.host}: what you type is sent to that machine, and nowhere else"

    @property
    def warning(self) -> str | None:
        """Why this address is less private than it looks, in one line; None when there is nothing to say."""
        if self.loopback or self.scheme == "https":
            return None
        return (
            f"The model server {self.where} is reached over plain http://: anyone on your local network can "
            "read what you type and its answers. Fix: use https:// if the server offers it."
        )


def parse_server_url(url: str) -> ServerAddress:
    """http://127.0.0.1:11434 -> http://127.0.0.1:11434/v1; a bad address is a ModelError with an example."""
    example = "for example http://127.0.0.1:11434/v1 (Ollama) or http://127.0.0.1:8080/v1 (llama.cpp server)"
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise ModelError(f"'{url}' is not a server address.", fix=f"give one like {example}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ModelError(f"'{url}' is not a server address.", fix=f"give one like {example}")
    if parts.username or parts.password:
        raise ModelError(
            "A server address must not hold a name or password.",
            kept="Nothing was sent.",
            fix=f"put the key in {API_KEY_ENV} instead",
        )
    path = parts.path.rstrip("/")
    # A pasted endpoint is taken back to its base; a bare host gets the OpenAI prefix every such server has.
    for endpoint in ("/chat/completions", "/completions", "/models"):
        if path.endswith(endpoint):
            path = path[: -len(endpoint)]
    if not path:
        path = "/v1"
    host = parts.hostname
    port = port or (443 if parts.scheme == "https" else 80)
    netloc = f"[{host}]" if ":" in host else host
    return ServerAddress(f"{parts.scheme}://{netloc}:{port}{path}", parts.scheme, host, port)


def server_model_name(model: str) -> str:
    """The part of a server model's id worth showing ('models/tiny/tiny-chat.gguf' -> 'tiny-chat')."""
    short = model.rsplit("/", 1)[-1]
    return short[:-5] if short.endswith(".gguf") else short


class ServerChatModel:
    """A chat model served by an OpenAI-compatible server. Construction asks the server which models it has."""

    engine = "server"

    def __init__(
        self,
        base_url: str,
        model: str | None = None,
        api_key: str | None = None,
        *,
        allow_remote: bool = False,
        connect_timeout: float = CONNECT_TIMEOUT,
        read_timeout: float = READ_TIMEOUT,
        answer_timeout: float = ANSWER_TIMEOUT,
    ) -> None:
        import httpx

        self.address = parse_server_url(base_url)
        if not self.address.loopback and not allow_remote:
            raise ModelError(
                f"{self.address.where} is another machine, and companion sends what you type only where you said so.",
                kept="Nothing was sent.",
                fix=f'write chat_model = "{self.address.base_url}" in config.toml, or give it with --model',
            )
        self.base_url = self.address.base_url
        self.answer_timeout = answer_timeout
        self._read_timeout = read_timeout
        self._api_key = api_key or None
        self._closed = threading.Event()
        headers = {"Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        # trust_env=False: no proxy from the environment ever sees what the person types; https is verified.
        self._client = httpx.Client(
            timeout=httpx.Timeout(
                connect=connect_timeout, read=read_timeout, write=read_timeout, pool=connect_timeout
            ),
            headers=headers,
            trust_env=False,
            verify=True,
            follow_redirects=False,
        )
        self.last_stats: GenerationStats | None = None
        try:
            available = self.list_models()
        except BaseException:
            self._client.close()
            raise
        if model is None:
            if not available:
                self._client.close()
                raise ModelError(
                    f"The server at {self.address.where} has no model loaded.",
                    fix="load a model on the server, then set server_model in config.toml",
                )
            model = available[0]
        elif available and model not in available:
            self._client.close()
            raise self._unknown_model(model, available)
        self.model = model
        self.name = server_model_name(model)
        self.licence = None
        log.info("model server in use (%s)", "loopback" if self.address.loopback else "another machine")

    # ---- what the rest of companion uses ----------------------------------------------------------
    @property
    def label(self) -> str:
        """The status line: which model, where, and what that means for what the person types."""
        if self.address.loopback:
            return f"{self.name} (server on this machine, port {self.address.port})"
        return f"{self.name}: {self.address.privacy_note}"

    @property
    def privacy_note(self) -> str | None:
        """What the status line must say instead of "offline" (None: a loopback server keeps the usual note)."""
        return None if self.address.loopback else f"sent to {self.address.host} only"

    def describe(self) -> dict[str, object]:
        return {
            "name": self.name,
            "engine": self.engine,
            "size_mb": None,
            "licence": None,
            "server": self.base_url,
            "model": self.model,
            "loopback": self.address.loopback,
        }

    def list_models(self) -> list[str]:
        """The ids the server offers (GET {base}/models)."""
        response = self._request("GET", "/models")
        try:
            data = response.json()["data"]
            return [str(entry["id"]) for entry in data]
        except (ValueError, KeyError, TypeError):
            raise self._not_openai("its model list is not the OpenAI format") from None

    def stream(
        self,
        messages: Messages,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        temperature: float = 0.7,
        cancel: threading.Event | None = None,
        *,
        top_p: float = 0.9,
        repeat_penalty: float = 1.1,  # llama.cpp's own option: OpenAI servers have no such field, so not sent
        stop: Sequence[str] = (),
        seed: int | None = None,
        stats: GenerationStats | None = None,
    ) -> Iterator[str]:
        """Text pieces as the server sends them; the request is made when reading starts. Setting `cancel` (or
        closing the iterator) closes the connection, so the server stops generating."""
        self._check_open()
        body: dict[str, object] = {
            "model": self.model,
            "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
            "max_tokens": max_tokens,
            "temperature": temperature,
            "top_p": top_p,
            "stream": True,
        }
        if stop:
            body["stop"] = list(stop)
        if seed is not None:
            body["seed"] = seed
        return self._pieces(
            body, cancel or threading.Event(), stats if stats is not None else GenerationStats()
        )

    def complete(
        self,
        messages: Messages,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        temperature: float = 0.7,
        cancel: threading.Event | None = None,
        **options,
    ) -> str:
        return "".join(
            self.stream(messages, max_tokens=max_tokens, temperature=temperature, cancel=cancel, **options)
        )

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        self._client.close()

    def __enter__(self) -> ServerChatModel:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- streaming --------------------------------------------------------------------------------
    def _pieces(self, body: dict, cancel: threading.Event, stats: GenerationStats) -> Iterator[str]:
        import httpx

        self.last_stats = stats
        started = time.perf_counter()
        finished = threading.Event()
        response = None
        try:
            request = self._client.build_request("POST", self.base_url + "/chat/completions", json=body)
            try:
                response = self._client.send(request, stream=True)
            except httpx.HTTPError as exc:
                raise self._transport_error(exc) from None
            if response.status_code >= 400:
                response.read()
                raise self._status_error(response, model=self.model)
            # A watcher closes the socket when cancel is set, so even a server that has gone quiet lets go at once.
            threading.Thread(
                target=self._close_on_cancel,
                args=(response, cancel, finished, started),
                name="companion-server-cancel",
                daemon=True,
            ).start()
            if "json" in response.headers.get(
                "content-type", ""
            ) and "event-stream" not in response.headers.get("content-type", ""):
                # A server that ignored stream=true answered in one piece.
                yield from self._whole_answer(response, stats, started)
                return
            yield from self._events(response, cancel, stats, started)
        except GeneratorExit:
            stats.finish_reason = (
                stats.finish_reason or "cancelled"
            )  # the caller stopped reading: so does the server
            raise
        except (httpx.HTTPError, OSError) as exc:
            if cancel.is_set() or self._closed.is_set():
                stats.finish_reason = "cancelled"
                return
            if time.perf_counter() - started >= self.answer_timeout:
                raise self._timed_out() from None
            raise self._transport_error(exc, mid_answer=stats.completion_tokens > 0) from None
        finally:
            finished.set()
            stats.seconds = time.perf_counter() - started
            if response is not None:
                response.close()

    def _events(
        self, response, cancel: threading.Event, stats: GenerationStats, started: float
    ) -> Iterator[str]:
        """Parse server-sent events: `data: {json chunk}` lines, ending with a finish_reason and/or `data: [DONE]`."""
        stats.finish_reason = ""
        saw_event = False
        for line in response.iter_lines():
            if cancel.is_set():
                stats.finish_reason = "cancelled"
                return
            if time.perf_counter() - started >= self.answer_timeout:
                raise self._timed_out()
            line = line.strip()
            if not line or line.startswith(":") or line.startswith(("event:", "id:", "retry:")):
                continue  # keep-alives and event names carry no text
            if not line.startswith("data:"):
                raise self._not_openai("its stream holds a line that is not a server-sent event")
            data = line[5:].strip()
            if data == "[DONE]":
                if not stats.finish_reason:
                    raise self._ended_early("it ended the stream before the answer was finished")
                return
            try:
                chunk = json.loads(data)
            except ValueError:
                raise self._not_openai("its stream holds an event that is not JSON") from None
            if not isinstance(chunk, dict):
                raise self._not_openai("its stream holds an event that is not a JSON object")
            if "error" in chunk:
                raise self._server_said(chunk["error"])
            choices = chunk.get("choices")
            if not isinstance(choices, list):
                raise self._not_openai("a streamed event has no choices")
            saw_event = True
            usage = chunk.get("usage")
            if isinstance(usage, dict) and isinstance(usage.get("completion_tokens"), int):
                stats.completion_tokens = usage["completion_tokens"]
            if not choices:
                continue  # a usage-only event
            choice = choices[0] if isinstance(choices[0], dict) else {}
            delta = choice.get("delta") if isinstance(choice.get("delta"), dict) else {}
            piece = delta.get("content")
            if isinstance(piece, str):
                stats.completion_tokens += 1  # llama.cpp, Ollama and vLLM send one token an event
                if piece:
                    if stats.seconds_to_first_token is None:
                        stats.seconds_to_first_token = time.perf_counter() - started
                    yield piece
            if choice.get("finish_reason"):
                stats.finish_reason = str(choice["finish_reason"])
        # The watcher's shutdown can end the stream as a clean end of file: say why it ended.
        if cancel.is_set() or self._closed.is_set():
            stats.finish_reason = "cancelled"
            return
        if not stats.finish_reason and time.perf_counter() - started >= self.answer_timeout:
            raise self._timed_out()
        if not saw_event:
            raise ModelError(
                f"The server at {self.address.where} closed the stream without answering.",
                fix="check the server's own log (a prompt longer than its context window is a common "
                "cause: start it with a larger context)",
            )
        if not stats.finish_reason:
            raise self._ended_early("the stream stopped before the answer was finished")

    def _whole_answer(self, response, stats: GenerationStats, started: float) -> Iterator[str]:
        response.read()
        try:
            choice = response.json()["choices"][0]
            text = choice["message"]["content"] or ""
        except (ValueError, KeyError, IndexError, TypeError):
            raise self._not_openai("its answer is not an OpenAI chat completion") from None
        stats.finish_reason = str(choice.get("finish_reason") or "stop")
        stats.seconds_to_first_token = time.perf_counter() - started
        if text:
            yield text

    def _close_on_cancel(
        self, response, cancel: threading.Event, finished: threading.Event, started: float
    ) -> None:
        """Wait for the stream to end; if cancel is set first (or the answer runs out of time), cut the socket."""
        while not finished.wait(CANCEL_POLL_SECONDS):
            if (
                cancel.is_set()
                or self._closed.is_set()
                or time.perf_counter() - started >= self.answer_timeout
            ):
                _shut_socket(response)
                return

    # ---- plain requests and errors ----------------------------------------------------------------
    def _request(self, method: str, path: str):
        import httpx

        self._check_open()
        try:
            response = self._client.request(method, self.base_url + path)
        except httpx.HTTPError as exc:
            raise self._transport_error(exc) from None
        if response.status_code >= 400:
            raise self._status_error(response)
        return response

    def _check_open(self) -> None:
        if self._closed.is_set():
            raise ModelError(
                "The connection to the model server was closed.", fix="start the companion again"
            )

    def _transport_error(self, exc, *, mid_answer: bool = False) -> ModelError:
        import httpx

        where = self.address.where
        if isinstance(exc, httpx.ConnectTimeout):
            return ModelError(
                f"{where} did not answer within {self._client.timeout.connect:g} s.",
                kept="Nothing was sent.",
                fix="check that the server is on and this is its address",
            )
        if isinstance(exc, httpx.ConnectError):
            reason = str(exc).lower()
            if "certificate" in reason or "ssl" in reason:
                return ModelError(
                    f"The certificate of {where} could not be verified, so nothing was sent.",
                    fix="give the server a certificate this machine trusts, or use it on loopback",
                )
            if "name" in reason and ("resolution" in reason or "not known" in reason or "resolve" in reason):
                return ModelError(
                    f"The name {self.address.host} does not resolve to a machine.",
                    kept="Nothing was sent.",
                    fix="use the server's IP address in chat_model",
                )
            question, start = KNOWN_PORTS.get(
                self.address.port,
                ("Is the model server running, and is this its address?", "start the server"),
            )
            return ModelError(
                f"Nothing answers at {where}. {question}",
                kept="Nothing was sent.",
                fix=f"{start}, or run without it: --no-model",
            )
        if isinstance(exc, httpx.ReadTimeout):
            return ModelError(
                f"The server at {where} went quiet for {self._read_timeout:g} s.",
                fix="check the server's own log; a first request may wait while it loads the model",
            )
        if mid_answer or isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError)):
            return ModelError(
                f"The server at {where} went away in the middle of the answer.",
                fix="check that the server is still running (its own log says why it stopped)",
            )
        return ModelError(
            f"The server at {where} could not be reached ({type(exc).__name__}).",
            fix="check that the server is running and this is its address",
        )

    def _status_error(self, response, *, model: str | None = None) -> ModelError:
        where = self.address.where
        status = response.status_code
        said = _server_message(response)
        if status in (401, 403):
            if self._api_key:
                return ModelError(
                    f"The server at {where} refused the key in {API_KEY_ENV} (HTTP {status}).",
                    kept="Nothing was sent.",
                    fix=f"set {API_KEY_ENV} to the key this server expects",
                )
            return ModelError(
                f"The server at {where} wants a key (HTTP {status}).",
                kept="Nothing was sent.",
                fix=f"set {API_KEY_ENV} to the server's key (it is never written to disk)",
            )
        if model is not None and status in (400, 404) and "model" in said.lower():
            return self._unknown_model(model, self._models_quietly())
        if status == 404:
            return self._not_openai(f"HTTP 404 for {response.request.url.path}")
        if status >= 500:
            detail = f": {said}" if said else ""
            return ModelError(
                f"The server at {where} failed (HTTP {status}{detail}).",
                fix="check the server's own log; meanwhile run without it: --no-model",
            )
        detail = f": {said}" if said else ""
        return ModelError(
            f"The server at {where} refused the request (HTTP {status}{detail}).",
            fix="check the server's own log, and server_model in config.toml",
        )

    def _models_quietly(self) -> list[str]:
        try:
            return self.list_models()
        except ModelError:
            return []

    def _unknown_model(self, model: str, available: Sequence[str]) -> ModelError:
        known = ", ".join(available[:12]) if available else "none"
        return ModelError(
            f"The server at {self.address.where} has no model called '{model}' (it has: {known}).",
            fix='set server_model = "NAME" in config.toml to one of those',
        )

    def _not_openai(self, what: str) -> ModelError:
        return ModelError(
            f"{self.address.where} does not answer like an OpenAI-compatible server ({what}).",
            fix="check the address: it usually ends in /v1, e.g. http://127.0.0.1:11434/v1",
        )

    def _ended_early(self, what: str) -> ModelError:
        return ModelError(
            f"The server at {self.address.where} stopped in the middle of the answer ({what}).",
            fix="check the server's own log (llama-cpp-python's server cuts one request off when "
            "another arrives unless started with --interrupt_requests False)",
        )

    def _server_said(self, error) -> ModelError:
        message = error.get("message") if isinstance(error, dict) else error
        return ModelError(
            f"The server at {self.address.where} failed while answering ({_one_line(str(message))}).",
            fix="check the server's own log; meanwhile run without it: --no-model",
        )

    def _timed_out(self) -> ModelError:
        return ModelError(
            f"The server at {self.address.where} was still answering after {self.answer_timeout:g} s.",
            kept="What it sent so far was discarded.",
            fix="ask for a shorter answer, or check the server",
        )


def _server_message(response) -> str:
    """The server's own reason for an error status, cut to one short line (never the request)."""
    try:
        payload = response.json()
    except ValueError:
        return _one_line(response.text)
    if isinstance(payload, dict):
        error = payload.get("error", payload.get("detail", payload.get("message", "")))
        if isinstance(error, dict):
            error = error.get("message", "")
        return _one_line(str(error))
    return ""


def _one_line(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _shut_socket(response) -> None:
    """Shut the response's socket from another thread: a blocked read returns at once and the server sees the
    client go (closing alone does not wake a thread blocked in recv)."""
    stream = response.extensions.get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None
    if sock is None:
        return
    with contextlib.suppress(OSError):  # already closed by the reader
        sock.shutdown(socket.SHUT_RDWR)


@dataclass(frozen=True)
class ServerChoice:
    """A model server chosen in config.toml or with --model; opens as a ServerChatModel."""

    path: str  # the server's base URL: where the model is, as `models list` shows it
    model: str | None = None
    engine: str = "server"

    @property
    def address(self) -> ServerAddress:
        return parse_server_url(self.path)

    @property
    def name(self) -> str:
        return self.model or f"the model at {self.address.where}"

    @property
    def warning(self) -> str | None:
        return self.address.warning

    def open(self, settings=None, log_file=None) -> ServerChatModel:
        """Connect and ask the server for its models (a second at most: fine off the UI thread).

        The address came from the person's config or --model, which is their explicit choice of machine."""
        return ServerChatModel(self.path, self.model, os.environ.get(API_KEY_ENV) or None, allow_remote=True)
