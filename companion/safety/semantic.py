"""The semantic second layer of the safety screen: nearest exemplars by meaning, for what the rules' wording misses.

The rules (companion/safety/screen.py) are predictable but only know their author's wording: on sets written after them they
caught 25-64% of crises. This layer embeds a statement the rules did not flag (the whole text and each sentence) with
the same MiniLM embedder the guidance search uses, and compares it with short exemplars per crisis category and with
near-misses ("this job is killing me", venting, sadness without danger) in data/crisis_exemplars.toml.

A segment is flagged for category C when
    best cosine to C's exemplars >= threshold   and   that cosine - best cosine to the benign exemplars >= margin.
A hit is a "check_in" (safety.py): the reflection is still given, with a note and resources under it. threshold and
margin favour recall on tests/data/safety_statements.jsonl under a cap on how often everyday lines get a check-in
(scripts/eval_safety.py --sweep shows the grid).

Nothing here logs; safety.screen() logs the single event "safety message shown".
"""

from __future__ import annotations

import threading
import tomllib
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from companion.safety.screen import CATEGORIES
from companion.text import split_sentences, strip_terminal_codes

EXEMPLARS_FILE = Path(__file__).resolve().parent.parent / "data" / "crisis_exemplars.toml"
BENIGN = "benign"

# The most recall on the dev set's crises (layer alone: 0.798) while the layer fires on at most 5% of everyday
# partner lines (training/coach_examples*.jsonl contexts: 4.3%); 0.48 caught 0.905 but fired on 12.6% of them.
DEFAULT_THRESHOLD = 0.58
DEFAULT_MARGIN = 0.04
# A statement longer than this many sentences is screened on its first ones (the whole text is always embedded too).
MAX_SENTENCES = 16


@dataclass(frozen=True)
class SegmentScores:
    """Per embedded segment (whole text first, then each sentence): best cosine per category and to the benign list."""

    segments: tuple[str, ...]
    category: np.ndarray  # (n_segments, len(CATEGORIES))
    benign: np.ndarray  # (n_segments,)


def load_exemplars(path: Path = EXEMPLARS_FILE) -> dict[str, list[str]]:
    """Every category's exemplars plus the benign list; a missing or empty list is an error, not a silent gap."""
    with Path(path).open("rb") as handle:
        table = tomllib.load(handle)
    exemplars = {}
    for name in (*CATEGORIES, BENIGN):
        texts = [t.strip() for t in table.get(name, []) if isinstance(t, str) and t.strip()]
        if not texts:
            raise ValueError(f"{path} has no exemplars for {name!r}")
        exemplars[name] = texts
    return exemplars


def segments_of(text: str, max_sentences: int = MAX_SENTENCES) -> list[str]:
    """The whole text, then each sentence (or line) of it when there is more than one."""
    text = strip_terminal_codes(unicodedata.normalize("NFKC", text)).strip()
    if not text:
        return []
    sentences = [s for s in split_sentences(text) if len(s) > 2]
    if len(sentences) <= 1:
        return [text]
    return [text, *sentences[:max_sentences]]


class SemanticScreen:
    """`find_categories(text)` -> the crisis categories the text is close to by meaning, most urgent first.

    The exemplar vectors are embedded once, on first use, and kept on the object (thread-safe).
    """

    def __init__(
        self,
        embedder: Any,
        *,
        threshold: float = DEFAULT_THRESHOLD,
        margin: float = DEFAULT_MARGIN,
        exemplars_path: Path = EXEMPLARS_FILE,
    ) -> None:
        self.embedder = embedder
        self.threshold = threshold
        self.margin = margin
        self.exemplars_path = Path(exemplars_path)
        self._lock = threading.Lock()
        self._matrix: np.ndarray | None = None  # all exemplar vectors, one row each
        self._owner: np.ndarray | None = None  # index into (*CATEGORIES, BENIGN) per row

    def _exemplar_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        with self._lock:
            if self._matrix is None:
                exemplars = load_exemplars(self.exemplars_path)
                names = (*CATEGORIES, BENIGN)
                texts = [text for name in names for text in exemplars[name]]
                owner = np.array([i for i, name in enumerate(names) for _ in exemplars[name]])
                self._matrix = np.asarray(self.embedder.embed(texts), dtype=np.float32)
                self._owner = owner
            return self._matrix, self._owner

    def scores(self, text: str) -> SegmentScores:
        """Best cosine per category and to the benign exemplars, for the whole text and each sentence."""
        segments = segments_of(text)
        if not segments:
            empty = np.zeros((0, len(CATEGORIES)), dtype=np.float32)
            return SegmentScores((), empty, np.zeros(0, dtype=np.float32))
        matrix, owner = self._exemplar_vectors()
        vectors = np.asarray(self.embedder.embed(segments), dtype=np.float32)
        similarity = vectors @ matrix.T  # unit vectors: cosine
        best = np.stack([similarity[:, owner == i].max(axis=1) for i in range(len(CATEGORIES) + 1)], axis=1)
        return SegmentScores(tuple(segments), best[:, : len(CATEGORIES)], best[:, len(CATEGORIES)])

    def categories_from(self, scores: SegmentScores, threshold: float | None = None,
                        margin: float | None = None) -> tuple[str, ...]:
        """The decision rule on precomputed scores (the evaluation sweeps threshold and margin with it)."""
        threshold = self.threshold if threshold is None else threshold
        margin = self.margin if margin is None else margin
        if not scores.segments:
            return ()
        hit = (scores.category >= threshold) & (scores.category - scores.benign[:, None] >= margin)
        flagged = hit.any(axis=0)
        return tuple(c for c, on in zip(CATEGORIES, flagged, strict=True) if on)

    def find_categories(self, text: str) -> tuple[str, ...]:
        """The categories whose exemplars the text (or one of its sentences) is close to, most urgent first."""
        return self.categories_from(self.scores(text))


__all__ = ["DEFAULT_MARGIN", "DEFAULT_THRESHOLD", "EXEMPLARS_FILE", "SegmentScores", "SemanticScreen",
           "load_exemplars", "segments_of"]
