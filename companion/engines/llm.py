"""The chat model: llama_cpp.Llama on the process's one compute thread; it loads once, streams, stops and cancels.

Every call to the model is a job on that thread (`compute_thread`), so two generations never share the
context at once; a request that arrives while another runs waits its turn (or its caller cancels it).
The static start of every prompt (the system prompt) stays in the KV cache between requests: llama.cpp
only evaluates the tokens after the longest prefix it already holds, and a small RAM store of saved
KV states brings the prefix back after a request with another system prompt has displaced it.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from companion.errors import ModelError
from companion.logs import get_logger

log = get_logger("llm")

DEFAULT_CONTEXT = 4096
DEFAULT_MAX_TOKENS = 200
# Room for a few saved prompt states (reflect, rehearsal partner, coach) of a small model.
DEFAULT_PREFIX_CACHE_BYTES = 256 << 20

Messages = Sequence[dict[str, str]]

# ChatML, the format of the catalogue's models: used for a GGUF without a chat template, and written into the
# tiny and benchmark models by scripts/.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


@dataclass
class GenerationStats:
    """What one generation cost, measured on the compute thread."""

    prompt_tokens: int = 0
    prompt_tokens_evaluated: int = 0  # after reusing the cached prefix
    completion_tokens: int = 0
    finish_reason: str = ""  # "stop", "length", "cancelled" or "error"
    seconds_to_first_token: float | None = None
    seconds: float = 0.0

    @property
    def prompt_tokens_reused(self) -> int:
        return max(0, self.prompt_tokens - self.prompt_tokens_evaluated)


@dataclass
class _Generation:
    messages: list[dict[str, str]]
    max_tokens: int
    temperature: float
    top_p: float
    repeat_penalty: float
    stop: list[str]
    seed: int | None
    cancel: threading.Event
    abandoned: threading.Event = field(default_factory=threading.Event)
    out: queue.Queue = field(default_factory=queue.Queue)
    stats: GenerationStats = field(default_factory=GenerationStats)


@dataclass(frozen=True)
class _SavedPrefix:
    tokens: tuple[int, ...]
    state: bytes
    size: int


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


_END = object()


def _route_logs(log_file: Path | None) -> None:
    """llama.cpp writes to stderr by default, which would tear a running TUI; send it to the log file."""
    if log_file is not None:
        from companion.engines import runtime

        runtime.route_llama_logs(log_file)


class ChatModel:
    """A local GGUF chat model on the compute thread. Build it off the UI thread: loading takes seconds."""

    def __init__(
        self,
        model_path: Path | str,
        n_ctx: int = DEFAULT_CONTEXT,
        n_threads: int | None = None,
        n_gpu_layers: int | None = None,
        *,
        log_file: Path | None = None,
        prefix_cache_bytes: int = DEFAULT_PREFIX_CACHE_BYTES,
        seed: int = 20240611,
        adapter_path: Path | str | None = None,
        engine: str = "llama",
        name: str | None = None,
        licence: str | None = None,
    ) -> None:
        self.model_path = Path(model_path)
        self.adapter_path = Path(adapter_path) if adapter_path is not None else None
        # How the reflection's JSON, the status line and the Models screen name what answered.
        self.engine = engine
        self.name = name or self.model_path.stem
        self.licence = licence
        files = [self.model_path] + ([self.adapter_path] if self.adapter_path else [])
        self._size_mb = round(sum(f.stat().st_size for f in files if f.is_file()) / 1e6, 1)
        self.n_ctx = n_ctx
        self._seed = seed
        # None means: every layer on the GPU when this build can offload, none otherwise.
        from companion.engines import runtime

        if n_gpu_layers is None:
            n_gpu_layers = -1 if runtime.gpu_offload_supported() else 0
        n_gpu_layers = runtime.effective_gpu_layers(n_gpu_layers)
        self.n_gpu_layers = n_gpu_layers
        self._load_kwargs = {
            "n_ctx": n_ctx,
            "n_threads": n_threads or runtime.physical_cores(),
            "n_gpu_layers": n_gpu_layers,
            "seed": seed,
        }
        if self.adapter_path is not None:
            self._load_kwargs["adapter_path"] = self.adapter_path
        self._prefix_cache_bytes = prefix_cache_bytes
        self._log_file = log_file
        self._closing = threading.Event()
        self._evals: list[tuple[int, int]] = []  # (tokens already held, tokens decoded) per eval call
        self.last_stats: GenerationStats | None = None
        self._formatter = None
        # Touched on the compute thread only.
        self._saved_prefixes: OrderedDict[tuple[int, ...], _SavedPrefix] = OrderedDict()
        self.generations_running = 0
        self.max_generations_running = 0  # the compute thread's own record: never above 1
        from companion.engines.compute_thread import compute_thread

        self._compute = compute_thread()
        self._llm = self._compute.run(self._load)

    # ---- the public surface -------------------------------------------------------------------
    def stream(
        self,
        messages: Messages,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        temperature: float = 0.7,
        cancel: threading.Event | None = None,
        *,
        top_p: float = 0.9,
        repeat_penalty: float = 1.1,
        stop: Sequence[str] = (),
        seed: int | None = None,
        stats: GenerationStats | None = None,
    ) -> Iterator[str]:
        """Text pieces as the model produces them. Setting `cancel` (or closing the iterator) stops it
        between two tokens. The request is queued now, so requests run in the order they were made."""
        self._check_open()
        job = _Generation(
            messages=[{"role": m["role"], "content": m["content"]} for m in messages],
            max_tokens=max_tokens,
            temperature=temperature,
            top_p=top_p,
            repeat_penalty=repeat_penalty,
            stop=list(stop),
            seed=seed,
            cancel=cancel or threading.Event(),
            stats=stats if stats is not None else GenerationStats(),
        )
        self._compute.submit(lambda: self._run_generation(job))
        return self._pieces(job)

    @property
    def label(self) -> str:
        """A short name for the status line: 'listener (SmolLM2-135M)' or the model's own name."""
        if self.engine == "listener":
            return "listener (" + self.name.split("-Instruct")[0] + ")"
        return self.name

    def describe(self) -> dict[str, object]:
        """What answered, for the reflection's JSON and the Models screen: name, engine, size and licence."""
        return {"name": self.name, "engine": self.engine, "size_mb": self._size_mb, "licence": self.licence}

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

    def run_on_owner(self, fn: Callable[[Any], Any]) -> Any:
        """Run fn(llama) on the compute thread, between generations (benchmarks, tokenising)."""
        self._check_open()

        def call() -> Any:
            if self._llm is None:
                raise ModelError("The chat model was closed.", fix="start the companion again")
            return fn(self._llm)

        return self._compute.run(call)

    def forget_prefix(self) -> None:
        """Drop the cached KV state and saved prefixes, so the next prompt is evaluated from scratch."""

        def drop(llm) -> None:
            llm.reset()
            self._saved_prefixes.clear()

        self.run_on_owner(drop)

    def close(self) -> None:
        """Free the model after the requests already queued (which see the close and stop at once)."""
        if self._closing.is_set():
            return
        self._closing.set()

        def free() -> None:
            llm, self._llm = self._llm, None
            if llm is None:
                return
            try:
                llm.close()
            except Exception:
                log.warning("the chat model did not close cleanly")

        try:
            self._compute.run(free, timeout=30)
        except TimeoutError:
            log.warning("the chat model was still busy when closed")

    def __enter__(self) -> ChatModel:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- the consumer side --------------------------------------------------------------------
    def _pieces(self, job: _Generation) -> Iterator[str]:
        try:
            while True:
                batch = [job.out.get()]
                # Take whatever else is ready too: one wake-up per burst, not per token.
                with contextlib.suppress(queue.Empty):
                    while True:
                        batch.append(job.out.get_nowait())
                for item in batch:
                    if item is _END:
                        return
                    if isinstance(item, BaseException):
                        raise item
                    yield item
        finally:
            # The caller stopped reading (break, exception, garbage collection): stop the model too.
            job.abandoned.set()

    def _check_open(self) -> None:
        if self._closing.is_set():
            raise ModelError("The chat model was closed.", fix="start the companion again")

    # ---- on the compute thread ---------------------------------------------------------------
    def _load(self):
        _route_logs(self._log_file)
        from companion.engines import runtime

        try:
            llm = runtime.load_llama(self.model_path, what="chat model", **self._load_kwargs)
        except ModelError:
            raise
        except Exception as exc:
            raise ModelError(
                f"The chat model {self.model_path.name} could not be loaded ({type(exc).__name__}).",
                fix="check the file with `companion models list`, or run without a model: --no-model",
            ) from None
        self._count_evaluated_tokens(llm)
        log.info("chat model loaded: %s (gpu layers %s)", self.model_path.name, self.n_gpu_layers)
        return llm

    def _run_generation(self, job: _Generation) -> None:
        if self._llm is None:
            job.out.put(ModelError("The chat model was closed before this request ran."))
            return
        self._generate(self._llm, job)

    def _count_evaluated_tokens(self, llm) -> None:
        """Record what each llama eval call decodes: the first call of a generation is the prompt's
        unmatched tail, and the tokens already held at that moment are the reused prefix."""
        original_eval = llm.eval
        evals = self._evals

        def eval_and_count(tokens):
            evals.append((int(llm.n_tokens), len(tokens)))
            return original_eval(tokens)

        llm.eval = eval_and_count

    def _chat_formatter(self, llm):
        """The model's own chat template from its GGUF metadata (ChatML when it has none)."""
        if self._formatter is None:
            from llama_cpp import llama_chat_format

            template = llm.metadata.get("tokenizer.chat_template") or CHATML_TEMPLATE
            eos_id, bos_id = llm.token_eos(), llm.token_bos()
            self._formatter = llama_chat_format.Jinja2ChatFormatter(
                template=template,
                eos_token=llm._model.token_get_text(eos_id) if eos_id != -1 else "",
                bos_token=llm._model.token_get_text(bos_id) if bos_id != -1 else "",
            )
        return self._formatter

    def _restore_saved_prefix(self, llm, prompt: list[int]) -> None:
        """If a saved state shares more of this prompt than the live KV cache does, load it."""
        live = _common_prefix(llm._input_ids.tolist(), prompt)
        best = max(
            self._saved_prefixes.values(),
            key=lambda saved: _common_prefix(saved.tokens, prompt),
            default=None,
        )
        if best is None or _common_prefix(best.tokens, prompt) <= live:
            return
        import ctypes

        import llama_cpp

        data = (ctypes.c_uint8 * best.size).from_buffer_copy(best.state)
        if llama_cpp.llama_state_set_data(llm._ctx.ctx, data, best.size) != best.size:
            llm.reset()
            return
        llm.input_ids[: len(best.tokens)] = best.tokens
        llm.n_tokens = len(best.tokens)
        llm._requires_eval = True  # generate() trims to the shared prefix and evaluates the rest
        self._saved_prefixes.move_to_end(best.tokens)

    def _save_prefix(self, llm) -> None:
        """Keep the KV state of what was just evaluated, so a later prompt starting the same way resumes here.

        Only llama.cpp's own state is copied (Llama.save_state would also copy a logits table of
        n_batch x n_vocab floats, hundreds of MB for a 150k vocabulary)."""
        if self._prefix_cache_bytes <= 0 or llm.n_tokens == 0:
            return
        import ctypes

        import llama_cpp

        size = int(llama_cpp.llama_state_get_size(llm._ctx.ctx))
        if size > self._prefix_cache_bytes:
            return
        buffer = (ctypes.c_uint8 * size)()
        written = int(llama_cpp.llama_state_get_data(llm._ctx.ctx, buffer, size))
        tokens = tuple(llm._input_ids.tolist())
        self._saved_prefixes.pop(tokens, None)
        self._saved_prefixes[tokens] = _SavedPrefix(tokens, bytes(buffer)[:written], written)
        while sum(saved.size for saved in self._saved_prefixes.values()) > self._prefix_cache_bytes:
            self._saved_prefixes.popitem(last=False)

    def _generate(self, llm, job: _Generation) -> None:
        """Our own token loop over Llama.generate: stop on end-of-generation tokens, cancel between any two
        tokens (even ones that decode to no text yet), and decode UTF-8 incrementally so text never stalls."""
        import codecs

        import llama_cpp

        stats = job.stats

        def stopping() -> bool:
            return job.cancel.is_set() or job.abandoned.is_set() or self._closing.is_set()

        if stopping():
            stats.finish_reason = "cancelled"
            job.out.put(_END)
            return
        self.generations_running += 1
        self.max_generations_running = max(self.max_generations_running, self.generations_running)
        started = time.perf_counter()
        self._evals.clear()
        completion: list[int] = []
        try:
            formatted = self._chat_formatter(llm)(messages=job.messages)
            prompt = llm.tokenize(
                formatted.prompt.encode("utf-8"), add_bos=not formatted.added_special, special=True
            )
            stats.prompt_tokens = len(prompt)
            room = llm.n_ctx() - len(prompt)
            if room <= 0:
                raise ValueError(f"Requested tokens ({len(prompt)}) exceed context window of {llm.n_ctx()}")
            max_tokens = min(job.max_tokens, room)
            self._restore_saved_prefix(llm, prompt)
            llm.set_seed(job.seed if job.seed is not None else self._seed)
            decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
            vocab = llm._model.vocab
            text = ""
            stop_found = False
            stats.finish_reason = "length"
            for token in llm.generate(
                prompt,
                top_k=40,
                top_p=job.top_p,
                min_p=0.05,
                typical_p=1.0,
                temp=job.temperature,
                repeat_penalty=job.repeat_penalty,
            ):
                if llama_cpp.llama_vocab_is_eog(vocab, token):
                    stats.finish_reason = "stop"
                    break
                completion.append(token)
                stats.completion_tokens += 1
                piece = decoder.decode(llm.detokenize([token]))
                if piece:
                    piece, stop_found = _cut_at_stop(text, piece, job.stop)
                    text += piece
                    if piece:
                        if stats.seconds_to_first_token is None:
                            stats.seconds_to_first_token = time.perf_counter() - started
                        job.out.put(piece)
                    if stop_found:
                        stats.finish_reason = "stop"
                        break
                if stopping():
                    stats.finish_reason = "cancelled"
                    break
                if len(completion) >= max_tokens:
                    break
            tail = decoder.decode(b"", final=True)
            if tail and not stop_found and stats.finish_reason != "cancelled":
                job.out.put(tail)
            # Saved so the next prompt that starts the same way resumes here, whatever ran in between.
            self._save_prefix(llm)
        except Exception as exc:
            stats.finish_reason = "error"
            log.warning("generation failed: %s", type(exc).__name__)
            job.out.put(
                ModelError(
                    f"The chat model could not answer ({_short_reason(exc)}).",
                    fix="try a shorter text, or run without a model: --no-model",
                )
            )
        finally:
            stats.seconds = time.perf_counter() - started
            if self._evals:
                held, decoded = self._evals[0]
                stats.prompt_tokens_evaluated = decoded
                stats.prompt_tokens = max(stats.prompt_tokens, held + decoded)
            self.generations_running -= 1
            self.last_stats = stats
            job.out.put(_END)


def _cut_at_stop(text: str, piece: str, stops: Sequence[str]) -> tuple[str, bool]:
    """The part of piece before the first stop string (which may have begun in text), and whether one ended."""
    if not stops:
        return piece, False
    joined = text + piece
    window_start = max(0, len(text) - max(len(stop) for stop in stops))
    found = [at for at in (joined.find(stop, window_start) for stop in stops) if at >= 0]
    if not found:
        return piece, False
    cut = min(found)
    return (joined[len(text) : cut] if cut > len(text) else ""), True


def _short_reason(exc: Exception) -> str:
    text = str(exc)
    if "context window" in text or "exceed" in text:
        return "the text is too long for the model's context"
    return type(exc).__name__
