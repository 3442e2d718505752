"""The semantic second layer of the safety screen: a trained head over MiniLM vectors, for what the rules' wording misses.

The rules (companion/safety/screen.py) are predictable but only know their author's wording. This layer embeds a
statement the rules did not flag (the whole text and each sentence) with the same MiniLM embedder the guidance search
uses and scores every segment with a small classifier trained on our own statements (training/safety/train_*.jsonl,
scripts/train_safety.py; weights in data/safety_head.npz). The most worrying segment decides:

    P(crisis) >= crisis_threshold    -> "crisis": the safety message replaces the reflection
    P(crisis) >= check_in_threshold  -> "check_in": the reflection stays, with a note and resources under it

Both thresholds were chosen on a dev split of the training data, never on a held-out set (the head file records them).
The older nearest-exemplar check (data/crisis_exemplars.toml) is kept behind `exemplars=True`, for measuring beside it
(scripts/eval_safety.py); it can only add a check-in.

Nothing here logs; screen() logs the single event "safety message shown".
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
HEAD_FILE = Path(__file__).resolve().parent.parent / "data" / "safety_head.npz"
# The head over the safety-tuned encoder's vectors (companion/engines/tuned.py); HEAD_FILE serves the plain MiniLM.
TUNED_HEAD_FILE = HEAD_FILE.with_name("safety_head_tuned.npz")
BENIGN = "benign"
# The head's classes, in the order of its output columns.
HEAD_CLASSES = (BENIGN, *CATEGORIES)

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
    # A sentence of one or two words ("Honestly?") says too little alone; it is still read within the whole text.
    sentences = [s for s in split_sentences(text) if len(s.split()) >= 3]
    if len(sentences) <= 1:
        return [text]
    return [text, *sentences[:max_sentences]]


@dataclass(frozen=True)
class SafetyHead:
    """Softmax over HEAD_CLASSES from a MiniLM vector: one linear layer, or a hidden ReLU layer when w2 is set."""

    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray | None
    b2: np.ndarray | None
    crisis_threshold: float
    check_in_threshold: float
    embedder_name: str = ""

    @classmethod
    def load(cls, path: Path = HEAD_FILE) -> SafetyHead:
        with np.load(Path(path), allow_pickle=False) as stored:
            classes = tuple(str(c) for c in stored["classes"])
            if classes != HEAD_CLASSES:
                raise ValueError(f"{path} was trained for classes {classes}, not {HEAD_CLASSES}")
            has_hidden = "w2" in stored.files
            return cls(
                w1=stored["w1"].astype(np.float32),
                b1=stored["b1"].astype(np.float32),
                w2=stored["w2"].astype(np.float32) if has_hidden else None,
                b2=stored["b2"].astype(np.float32) if has_hidden else None,
                crisis_threshold=float(stored["crisis_threshold"]),
                check_in_threshold=float(stored["check_in_threshold"]),
                embedder_name=str(stored["embedder_name"]) if "embedder_name" in stored.files else "",
            )

    def probabilities(self, vectors: np.ndarray) -> np.ndarray:
        """(n, len(HEAD_CLASSES)) class probabilities for (n, d) unit vectors."""
        hidden = vectors @ self.w1 + self.b1
        if self.w2 is not None:
            hidden = np.maximum(hidden, 0.0) @ self.w2 + self.b2
        hidden = hidden - hidden.max(axis=1, keepdims=True)
        exp = np.exp(hidden)
        return exp / exp.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class LayerVerdict:
    """What the layer makes of one statement: level "crisis", "check_in" or None, and the categories, most urgent first."""

    level: str | None
    categories: tuple[str, ...]
    probability: float  # the most worrying segment's P(crisis) under the head (0.0 without one)


def verdict_from(
    head: SafetyHead,
    probabilities: np.ndarray,
    crisis_threshold: float | None = None,
    check_in_threshold: float | None = None,
) -> LayerVerdict:
    """The decision rule on precomputed per-segment probabilities (the evaluation reuses it)."""
    crisis_threshold = head.crisis_threshold if crisis_threshold is None else crisis_threshold
    check_in_threshold = head.check_in_threshold if check_in_threshold is None else check_in_threshold
    if len(probabilities) == 0:
        return LayerVerdict(None, (), 0.0)
    crisis = 1.0 - probabilities[:, 0]
    worst = int(np.argmax(crisis))
    p = float(crisis[worst])
    if p < check_in_threshold:
        return LayerVerdict(None, (), p)
    by_category = probabilities[worst, 1:]
    # The likeliest category, and any other holding a good share of the crisis probability.
    chosen = {int(np.argmax(by_category))} | {i for i, q in enumerate(by_category) if q >= 0.3 * p}
    categories = tuple(c for i, c in enumerate(CATEGORIES) if i in chosen)
    return LayerVerdict("crisis" if p >= crisis_threshold else "check_in", categories, p)


class SemanticScreen:
    """`assess(text)` -> LayerVerdict; `find_categories(text)` -> the categories of any hit, most urgent first.

    The trained head (data/safety_head.npz) decides; with `exemplars=True` the nearest-exemplar check may add a
    check-in where the head saw nothing. Exemplar vectors are embedded once, on first use (thread-safe).
    """

    def __init__(
        self,
        embedder: Any,
        *,
        threshold: float = DEFAULT_THRESHOLD,
        margin: float = DEFAULT_MARGIN,
        exemplars_path: Path = EXEMPLARS_FILE,
        head: SafetyHead | Path | None = HEAD_FILE,
        exemplars: bool = False,
    ) -> None:
        self.embedder = embedder
        self.threshold = threshold
        self.margin = margin
        self.exemplars_path = Path(exemplars_path)
        if isinstance(head, str | Path):
            head = SafetyHead.load(head) if Path(head).is_file() else None
        self.head = head
        # Without a head the exemplar check is all there is.
        self.use_exemplars = exemplars or self.head is None
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

    def segment_vectors(self, text: str) -> tuple[list[str], np.ndarray]:
        """The segments (whole text, then each sentence) and their unit vectors, embedded in one call."""
        segments = segments_of(text)
        if not segments:
            return [], np.zeros((0, 0), dtype=np.float32)
        return segments, np.asarray(self.embedder.embed(segments), dtype=np.float32)

    def exemplar_scores(self, segments: list[str], vectors: np.ndarray) -> SegmentScores:
        if not segments:
            empty = np.zeros((0, len(CATEGORIES)), dtype=np.float32)
            return SegmentScores((), empty, np.zeros(0, dtype=np.float32))
        matrix, owner = self._exemplar_vectors()
        similarity = vectors @ matrix.T  # unit vectors: cosine
        best = np.stack([similarity[:, owner == i].max(axis=1) for i in range(len(CATEGORIES) + 1)], axis=1)
        return SegmentScores(tuple(segments), best[:, : len(CATEGORIES)], best[:, len(CATEGORIES)])

    def scores(self, text: str) -> SegmentScores:
        """Best cosine per category and to the benign exemplars, for the whole text and each sentence."""
        return self.exemplar_scores(*self.segment_vectors(text))

    def categories_from(
        self, scores: SegmentScores, threshold: float | None = None, margin: float | None = None
    ) -> tuple[str, ...]:
        """The exemplar decision rule on precomputed scores (the evaluation sweeps threshold and margin with it)."""
        threshold = self.threshold if threshold is None else threshold
        margin = self.margin if margin is None else margin
        if not scores.segments:
            return ()
        hit = (scores.category >= threshold) & (scores.category - scores.benign[:, None] >= margin)
        flagged = hit.any(axis=0)
        return tuple(c for c, on in zip(CATEGORIES, flagged, strict=True) if on)

    def assess(self, text: str) -> LayerVerdict:
        """The layer's verdict on a statement the rules did not flag (whole and sentence by sentence)."""
        segments, vectors = self.segment_vectors(text)
        if not segments:
            return LayerVerdict(None, (), 0.0)
        verdict = LayerVerdict(None, (), 0.0)
        if self.head is not None:
            verdict = verdict_from(self.head, self.head.probabilities(vectors))
        if verdict.level is None and self.use_exemplars:
            categories = self.categories_from(self.exemplar_scores(segments, vectors))
            if categories:
                verdict = LayerVerdict("check_in", categories, verdict.probability)
        return verdict

    def find_categories(self, text: str) -> tuple[str, ...]:
        """The categories of any hit (crisis or check-in), most urgent first; () when the layer sees nothing."""
        return self.assess(text).categories


__all__ = [
    "DEFAULT_MARGIN",
    "DEFAULT_THRESHOLD",
    "EXEMPLARS_FILE",
    "HEAD_CLASSES",
    "HEAD_FILE",
    "TUNED_HEAD_FILE",
    "LayerVerdict",
    "SafetyHead",
    "SegmentScores",
    "SemanticScreen",
    "load_exemplars",
    "segments_of",
    "verdict_from",
]
