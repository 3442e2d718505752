"""Sentence embeddings from a GGUF encoder (all-MiniLM-L6-v2 by default) through llama_cpp, the chat runtime."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from companion.errors import InputError, ModelError

# sentence-transformers cuts all-MiniLM-L6-v2 inputs at 256 word pieces; we match it, [CLS] and [SEP] included.
MAX_TOKENS = 256
# Tokens decoded together in one llama.cpp batch. llama.cpp's BERT graph attends across the whole micro-batch
# (masked), so big batches waste work: measured on MiniLM, 256 gave the most texts per CPU-second.
BATCH_TOKENS = 256


class Embedder:
    """`embed(texts)` -> (n, d) float32 rows of unit length. Thread-safe: one lock around llama.cpp."""

    def __init__(
        self,
        model_path: Path,
        n_threads: int | None = None,
        *,
        max_tokens: int = MAX_TOKENS,
        batch_tokens: int = BATCH_TOKENS,
    ) -> None:
        from companion.engines.runtime import load_llama

        self.model_path = Path(model_path)
        self._lock = threading.Lock()
        self._llm = load_llama(
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
        import llama_cpp

        if self._llm.pooling_type() == llama_cpp.LLAMA_POOLING_TYPE_NONE:
            self._llm.close()
            raise ModelError(
                f"{self.model_path.name} gives one vector per token, not per sentence (no pooling in its metadata).",
                fix="use a sentence-embedding GGUF with mean pooling, e.g. companion models prepare-embedder",
            )
        train_ctx = int(llama_cpp.llama_model_n_ctx_train(self._llm.model))
        self.max_tokens = max(8, min(max_tokens, train_ctx))
        self._dimension = int(self._llm.n_embd())

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
        with self._lock:
            if self._llm is None:
                raise ModelError("The embedder was closed.", fix="create a new Embedder")
            prepared = [self._fit(text) for text in texts]
            vectors = self._llm.embed(prepared, normalize=False, truncate=True)
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
            return len(self._tokenize(text))

    def close(self) -> None:
        with self._lock:
            llm, self._llm = self._llm, None
            if llm is not None:
                llm.close()

    def __enter__(self) -> Embedder:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    # ---- internals ---------------------------------------------------------------------------------

    def _tokenize(self, text: str) -> list[int]:
        return self._llm.tokenize(text.encode("utf-8", errors="replace"), add_bos=True, special=False)

    def _fit(self, text: str) -> str:
        """The text itself when it fits; otherwise its first max_tokens word pieces, spelled back out."""
        # Empty text would give llama.cpp only [CLS][SEP]; a space keeps the batch shape the same.
        text = text if text.strip() else " "
        tokens = self._tokenize(text)
        if len(tokens) <= self.max_tokens:
            return text
        keep = self.max_tokens - 2
        # Rebuild text from the first word pieces; re-tokenising may differ by a piece, so shrink until it fits.
        while keep > 0:
            shortened = self._llm.detokenize(tokens[1 : 1 + keep]).decode("utf-8", errors="ignore")
            if len(self._tokenize(shortened)) <= self.max_tokens:
                return shortened
            keep -= 8
        return " "
