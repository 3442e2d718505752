"""Sentence embeddings from a GGUF encoder (all-MiniLM-L6-v2 by default) through llama_cpp, the chat runtime."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from companion.errors import InputError, ModelError

# sentence-transformers cuts all-MiniLM-L6-v2 inputs at 256 word pieces; we match it, [CLS] and [SEP] included.
MAX_TOKENS = 256
# Tokens decoded together in one llama.cpp batch. llama.cpp's BERT graph attends across the whole micro-batch
# (masked), so big batches waste work: measured on MiniLM, 256 gave the most texts per CPU-second.
BATCH_TOKENS = 256
# Calls with fewer word pieces than this are too short to time reliably; they use the best thread count so far.
MIN_TIMED_TOKENS = 1024
# A thread count that measured r times slower than the best is timed again after PROBE_EVERY * r calls (on a
# ~5-section prefix only, so rechecking costs about 2% while the machine's load can change under a long run).
PROBE_EVERY = 8


class ThreadChooser:
    """Picks llama.cpp's thread count per call from measured seconds per word piece.

    llama.cpp's workers wait for each other spinning at a barrier, so when the machine has more runnable threads
    than cores, two threads took 4.4x the CPU time and 4x the wall time of one (measured while other jobs ran);
    on an idle machine the same two threads are 1.9x faster. The faster count is only known by timing it.
    """

    def __init__(self, options: Sequence[int]) -> None:
        self.options = tuple(sorted(set(options)))
        self.cost: dict[int, float] = {}  # seconds per word piece, smoothed
        self._since: dict[int, int] = dict.fromkeys(self.options, 0)

    @property
    def best(self) -> int:
        if not self.cost:
            return self.options[-1]
        return min(self.cost, key=self.cost.__getitem__)

    def pick(self, tokens: int) -> int:
        if tokens < MIN_TIMED_TOKENS or len(self.options) == 1:
            return self.best
        for option in self.options:
            if option not in self.cost:
                return option
        best = self.best
        for option in self.options:
            ratio = self.cost[option] / max(self.cost[best], 1e-12)
            if option != best and self._since[option] >= PROBE_EVERY * ratio:
                return option
        return best

    def record(self, option: int, tokens: int, seconds: float) -> None:
        if tokens < MIN_TIMED_TOKENS:
            return
        per_token = seconds / tokens
        previous = self.cost.get(option)
        self.cost[option] = per_token if previous is None else 0.5 * previous + 0.5 * per_token
        for other in self._since:
            self._since[other] = 0 if other == option else self._since[other] + 1


def thread_options(cpu_count: int | None = None) -> tuple[int, ...]:
    """One thread, half the logical CPUs and all of them (llama.cpp's own default for batches)."""
    cpus = max(1, cpu_count or os.cpu_count() or 1)
    return tuple(sorted({1, max(1, cpus // 2), cpus}))


class Embedder:
    """`embed(texts)` -> (n, d) float32 rows of unit length. Thread-safe: llama.cpp runs on the compute thread."""

    def __init__(
        self,
        model_path: Path,
        n_threads: int | None = None,
        *,
        max_tokens: int = MAX_TOKENS,
        batch_tokens: int = BATCH_TOKENS,
    ) -> None:
        from companion.engines.compute_thread import compute_thread

        self.model_path = Path(model_path)
        # One computing thread for every model in the process (compute_thread says why).
        self._compute = compute_thread()
        self._lock = threading.Lock()
        # A configured thread count is used as given; otherwise the fastest is measured as the embedder works.
        self.threads = ThreadChooser([n_threads] if n_threads else thread_options())
        n_threads = n_threads or self.threads.best
        self._llm = self._compute.run(lambda: self._load(n_threads, max_tokens, batch_tokens))
        import llama_cpp

        if self._llm.pooling_type() == llama_cpp.LLAMA_POOLING_TYPE_NONE:
            self._compute.run(self._llm.close)
            raise ModelError(
                f"{self.model_path.name} gives one vector per token, not per sentence (no pooling in its metadata).",
                fix="use a sentence-embedding GGUF with mean pooling, e.g. companion models prepare-embedder",
            )
        train_ctx = int(llama_cpp.llama_model_n_ctx_train(self._llm.model))
        self.max_tokens = max(8, min(max_tokens, train_ctx))
        self._threads_now = n_threads
        self._dimension = int(self._llm.n_embd())

    def _load(self, n_threads: int, max_tokens: int, batch_tokens: int):
        from companion.engines.runtime import load_llama

        return load_llama(
            self.model_path,
            what="embedding model",
            embedding=True,
            n_ctx=max(batch_tokens, max_tokens),
            n_batch=max(batch_tokens, max_tokens),
            # An encoder sees a whole sequence in one micro-batch, so n_ubatch must hold the longest input.
            n_ubatch=max(batch_tokens, max_tokens),
            n_threads=n_threads,
            n_threads_batch=n_threads,
            # Fused attention over the masked micro-batch: 1.38x the texts per second on MiniLM here, vectors
            # unchanged to a cosine of 0.999999 (scripts/bench.py coach measures it beside the raw call).
            flash_attn=True,
        )

    # ---- public ------------------------------------------------------------------------------------

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def name(self) -> str:
        return self.model_path.stem

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One L2-normalised float32 row per text; over-long texts are cut at max_tokens word pieces."""
        if isinstance(texts, str):
            raise TypeError("embed() takes a list of texts; use embed_one() for a single text")
        texts = list(texts)
        if not texts:
            return np.zeros((0, self._dimension), dtype=np.float32)
        for text in texts:
            if not isinstance(text, str):
                raise InputError("Only text can be embedded.", fix="pass strings to Embedder.embed")
        vectors = self._compute.run(lambda: self._embed_here(texts))
        matrix = np.asarray(vectors, dtype=np.float32).reshape(len(texts), self._dimension)
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        # An all-zero row (e.g. a text of only unknown characters) stays zero instead of becoming NaN.
        np.divide(matrix, norms, out=matrix, where=norms > 0)
        return matrix

    def embed_one(self, text: str) -> np.ndarray:
        return self.embed([text])[0]

    def count_tokens(self, text: str) -> int:
        """Word pieces the model sees for text, [CLS] and [SEP] included (before any cut)."""
        with self._lock:
            if self._llm is None:
                raise ModelError("The embedder was closed.", fix="create a new Embedder")
            return len(self._tokenize(text))

    def close(self) -> None:
        with self._lock:
            llm, self._llm = self._llm, None
        if llm is not None:
            self._compute.run(llm.close)

    def __enter__(self) -> Embedder:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    # ---- internals ---------------------------------------------------------------------------------

    def _embed_here(self, texts: list[str]) -> list:
        with self._lock:
            if self._llm is None:
                raise ModelError("The embedder was closed.", fix="create a new Embedder")
            prepared = [self._fit(text) for text in texts]
            vectors = []
            for threads, part in self._runs(prepared):
                if threads != self._threads_now:
                    self._llm._ctx.set_n_threads(threads, threads)
                    self._threads_now = threads
                started = time.perf_counter()
                vectors.extend(self._llm.embed([text for text, _ in part], normalize=False, truncate=True))
                self.threads.record(threads, sum(count for _, count in part), time.perf_counter() - started)
        return vectors

    def _tokenize(self, text: str) -> list[int]:
        return self._llm.tokenize(text.encode("utf-8", errors="replace"), add_bos=True, special=False)

    def _runs(self, prepared: list[tuple[str, int]]):
        """(threads, texts) runs: a thread count being timed gets only the first ~MIN_TIMED_TOKENS, the best the rest."""
        rest = prepared
        while rest:
            tokens = sum(count for _, count in rest)
            choice = self.threads.pick(tokens)
            if choice == self.threads.best or tokens < 2 * MIN_TIMED_TOKENS:
                yield choice, rest
                return
            seen = cut = 0
            while seen < MIN_TIMED_TOKENS:
                seen += rest[cut][1]
                cut += 1
            yield choice, rest[:cut]
            rest = rest[cut:]

    def _fit(self, text: str) -> tuple[str, int]:
        """(the text, its word pieces) when it fits; otherwise its first max_tokens word pieces, spelled back out."""
        # Empty text would give llama.cpp only [CLS][SEP]; a space keeps the batch shape the same.
        text = text if text.strip() else " "
        tokens = self._tokenize(text)
        if len(tokens) <= self.max_tokens:
            return text, len(tokens)
        keep = self.max_tokens - 2
        # Rebuild text from the first word pieces; re-tokenising may differ by a piece, so shrink until it fits.
        while keep > 0:
            shortened = self._llm.detokenize(tokens[1 : 1 + keep]).decode("utf-8", errors="ignore")
            count = len(self._tokenize(shortened))
            if count <= self.max_tokens:
                return shortened, count
            keep -= 8
        return " ", 2
