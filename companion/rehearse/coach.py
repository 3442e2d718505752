"""The listening-skills coach: one listener utterance (+ what the partner said before it) -> label, flags, tip.

The label comes from a small multinomial logistic regression over the GGUF embedder's sentence vector and the
engineered cues in coach_features.py; its weights ship in companion/data/coach_weights.npz and
`scripts/train_coach.py` rebuilds them. A second head over the cues alone answers when there is no embedder, and
for replies it is sure of (CUE_SURE), so a batch embeds only the replies whose form leaves the label open. The flags (four horsemen and their antidotes) come from rules, and the
tip from the table in companion/data/coach_tips.toml, which cites the bundled guidance.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np

from companion.errors import ModelError
from companion.logs import get_logger
from companion.rehearse import coach_features
from companion.text import word_set

LABELS: tuple[str, ...] = ("reflection", "question", "input", "other")
SUBTYPES: dict[str, tuple[str, str]] = {
    "reflection": ("simple", "complex"),
    "question": ("open", "closed"),
    "input": ("advice", "information"),
}
WEIGHTS_FILE = "coach_weights.npz"
# The heads over the coach-tuned encoder's vectors (companion/engines/tuned.py).
TUNED_WEIGHTS_FILE = "coach_weights_tuned.npz"
TIPS_FILE = "coach_tips.toml"
# The embedder reads ~256 word pieces; more text only costs tokenising time, so a paste is cut well before that.
MAX_EMBED_CHARS = 3000
# Horsemen come first: the most useful next move after an attack is its antidote, whatever the form was.
TIP_ORDER: tuple[str, ...] = ("criticism", "contempt", "defensiveness", "stonewalling")
# Replies the cue model labels with at least this probability skip the embedder. Chosen on ESConv dev over the
# tuned encoder: 0.98 costs 0.002 macro-F1 against embedding every reply and skips about a sixth (0.9 cost 0.02).
CUE_SURE = 0.98

_log = get_logger("coach")


@dataclass(frozen=True)
class CoachResult:
    """What the coach says about one listener utterance."""

    label: str
    subtype: str | None
    flags: list[str] = field(default_factory=list)
    tip: str = ""
    tip_section: str | None = None
    confidence: float = 0.0
    notice: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# ---- the shipped model ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LinearHead:
    """Softmax over `classes` from x @ weights + bias."""

    classes: tuple[str, ...]
    weights: np.ndarray
    bias: np.ndarray

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        return softmax(x @ self.weights + self.bias)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class CoachModel:
    """The trained weights: feature scaling, the four-way label head and one subtype head per label."""

    embed_dim: int
    feature_names: tuple[str, ...]
    feature_mean: np.ndarray
    feature_std: np.ndarray
    feature_weight: float
    use_context: bool
    label_head: LinearHead
    subtype_heads: dict[str, LinearHead]
    # The same heads trained on the engineered cues alone, for when no embedder is available.
    fallback_label_head: LinearHead
    fallback_subtype_heads: dict[str, LinearHead]
    embedder_name: str = ""

    def design(
        self, features: np.ndarray, text_vectors: np.ndarray | None, context_vectors: np.ndarray | None
    ):
        return design_matrix(
            features,
            text_vectors,
            context_vectors,
            mean=self.feature_mean,
            std=self.feature_std,
            feature_weight=self.feature_weight,
            use_context=self.use_context,
        )

    def to_arrays(self) -> dict[str, np.ndarray]:
        arrays: dict[str, np.ndarray] = {
            "embed_dim": np.array(self.embed_dim),
            "feature_names": np.array(self.feature_names),
            "feature_mean": self.feature_mean,
            "feature_std": self.feature_std,
            "feature_weight": np.array(self.feature_weight),
            "use_context": np.array(self.use_context),
            "embedder_name": np.array(self.embedder_name),
        }
        for prefix, label_head, sub_heads in (
            ("", self.label_head, self.subtype_heads),
            ("fallback_", self.fallback_label_head, self.fallback_subtype_heads),
        ):
            _put_head(arrays, f"{prefix}label", label_head)
            for name, head in sub_heads.items():
                _put_head(arrays, f"{prefix}subtype_{name}", head)
        return arrays

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> CoachModel:
        feature_names = tuple(str(n) for n in arrays["feature_names"])
        if feature_names != coach_features.FEATURE_NAMES:
            raise ModelError(
                "The coach's weights were trained on a different set of features than this version computes.",
                kept="Nothing was changed.",
                fix="retrain them: .venv/bin/python scripts/train_coach.py",
            )
        return cls(
            embed_dim=int(arrays["embed_dim"]),
            feature_names=feature_names,
            feature_mean=np.asarray(arrays["feature_mean"], dtype=np.float32),
            feature_std=np.asarray(arrays["feature_std"], dtype=np.float32),
            feature_weight=float(arrays["feature_weight"]),
            use_context=bool(arrays["use_context"]),
            label_head=_get_head(arrays, "label"),
            subtype_heads={name: _get_head(arrays, f"subtype_{name}") for name in SUBTYPES},
            fallback_label_head=_get_head(arrays, "fallback_label"),
            fallback_subtype_heads={name: _get_head(arrays, f"fallback_subtype_{name}") for name in SUBTYPES},
            embedder_name=str(arrays["embedder_name"]),
        )


def _put_head(arrays: dict[str, np.ndarray], key: str, head: LinearHead) -> None:
    arrays[f"{key}_classes"] = np.array(head.classes)
    arrays[f"{key}_weights"] = head.weights.astype(np.float32)
    arrays[f"{key}_bias"] = head.bias.astype(np.float32)


def _get_head(arrays: Mapping[str, np.ndarray], key: str) -> LinearHead:
    return LinearHead(
        classes=tuple(str(c) for c in arrays[f"{key}_classes"]),
        weights=np.asarray(arrays[f"{key}_weights"], dtype=np.float32),
        bias=np.asarray(arrays[f"{key}_bias"], dtype=np.float32),
    )


def design_matrix(
    features: np.ndarray,
    text_vectors: np.ndarray | None,
    context_vectors: np.ndarray | None,
    *,
    mean: np.ndarray,
    std: np.ndarray,
    feature_weight: float,
    use_context: bool,
) -> np.ndarray:
    """The classifier's input rows: [text vector, text*context vector, scaled cues]; shared by training."""
    scaled = (features - mean) / std * feature_weight
    if text_vectors is None:
        return scaled.astype(np.float32)
    parts = [text_vectors]
    if use_context:
        context = context_vectors if context_vectors is not None else np.zeros_like(text_vectors)
        # The elementwise product says how much the reply echoes the partner: a simple-vs-complex cue.
        parts.append(text_vectors * context * np.sqrt(text_vectors.shape[1]))
    parts.append(scaled)
    return np.concatenate(parts, axis=1).astype(np.float32)


def weights_ship(weights_file: str) -> bool:
    return resources.files("companion.data").joinpath(weights_file).is_file()


def load_model_file(path) -> CoachModel:
    with open(path, "rb") as handle, np.load(handle, allow_pickle=False) as arrays:
        return CoachModel.from_arrays({key: arrays[key] for key in arrays.files})


@lru_cache(maxsize=2)
def load_model(weights_file: str = WEIGHTS_FILE) -> CoachModel:
    """Weights shipped in the package: WEIGHTS_FILE (over the plain MiniLM) or TUNED_WEIGHTS_FILE (its coach copy)."""
    try:
        return load_model_file(resources.files("companion.data").joinpath(weights_file))
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(
            f"The coach's weights ({weights_file}) are missing or unreadable ({type(exc).__name__}).",
            kept="Nothing was changed.",
            fix="reinstall companion, or retrain them: .venv/bin/python scripts/train_coach.py",
        ) from exc


@dataclass(frozen=True)
class Tip:
    key: str
    text: str
    source: str
    heading_path: tuple[str, ...]

    @property
    def section(self) -> str:
        return " > ".join(self.heading_path)


@lru_cache(maxsize=1)
def load_tips() -> dict[str, Tip]:
    raw = tomllib.loads(resources.files("companion.data").joinpath(TIPS_FILE).read_text(encoding="utf-8"))
    return {
        key: Tip(
            key=key, text=entry["tip"], source=entry["source"], heading_path=tuple(entry["heading_path"])
        )
        for key, entry in raw.items()
    }


# ---- the coach ------------------------------------------------------------------------------------------


class Coach:
    """`assess(text, context)` for one reply, `assess_batch(items)` for many (embeddings batched)."""

    def __init__(self, embedder=None, *, model: CoachModel | None = None) -> None:
        self.embedder = embedder
        self.model = model or load_model()
        self.tips = load_tips()
        # How many replies of the last batch went through the embedder (the rest were clear from their cues).
        self.last_embedded = 0
        if embedder is not None and int(embedder.dimension) != self.model.embed_dim:
            raise ModelError(
                f"The coach was trained on {self.model.embed_dim}-dimensional sentence vectors, "
                f"but the embedder {getattr(embedder, 'name', '?')} gives {embedder.dimension}.",
                kept="Nothing was changed.",
                fix="use the bundled all-MiniLM-L6-v2 embedder (companion models prepare-embedder), "
                "or retrain: .venv/bin/python scripts/train_coach.py",
            )

    def assess(self, text: str, context: str | None = None) -> CoachResult:
        return self.assess_batch([(text, context)])[0]

    def assess_batch(self, items: Iterable[Any]) -> list[CoachResult]:
        """items: (text, context) pairs, {"text", "context"} mappings, or plain strings."""
        pairs = [_as_pair(item) for item in items]
        results: list[CoachResult | None] = [None] * len(pairs)
        todo: list[int] = []
        for i, (text, _context) in enumerate(pairs):
            if not text.strip():
                results[i] = self._result("other", None, [], "empty", 1.0, "The reply was empty.")
            else:
                todo.append(i)
        if todo:
            texts = [pairs[i][0] for i in todo]
            contexts = [pairs[i][1] for i in todo]
            label_probs, subtype_probs = self._predict(texts, contexts)
            for row, i in enumerate(todo):
                results[i] = self._judge(
                    texts[row], label_probs[row], {k: v[row] for k, v in subtype_probs.items()}
                )
        _log.info("coach assessed %d replies", len(pairs))
        return [r for r in results if r is not None]

    # ---- internals ---------------------------------------------------------------------------------

    def _predict(self, texts: Sequence[str], contexts: Sequence[str | None]):
        """Label and subtype probabilities per text: the cue model's where it is sure, the full model's elsewhere."""
        features = coach_features.feature_matrix(texts, contexts)
        model = self.model
        cue_x = model.design(features, None, None)
        label_probs = model.fallback_label_head.probabilities(cue_x)
        subtype_probs = {
            name: head.probabilities(cue_x) for name, head in model.fallback_subtype_heads.items()
        }
        if self.embedder is None:
            return label_probs, subtype_probs
        # Simple-vs-complex is about meaning, not form: a reflection always gets the full model.
        reflection = label_probs.argmax(axis=1) == model.fallback_label_head.classes.index("reflection")
        unsure = np.flatnonzero((label_probs.max(axis=1) < CUE_SURE) | reflection)
        self.last_embedded = len(unsure)
        if len(unsure) == 0:
            return label_probs, subtype_probs
        wanted = [texts[i][:MAX_EMBED_CHARS] for i in unsure]
        present = (
            [row for row, i in enumerate(unsure) if contexts[i] and contexts[i].strip()]
            if model.use_context
            else []
        )
        wanted += [contexts[unsure[row]][:MAX_EMBED_CHARS] for row in present]
        vectors = self._embed_unique(wanted)
        text_vectors = vectors[: len(unsure)]
        context_vectors = None
        if model.use_context:
            context_vectors = np.zeros_like(text_vectors)
            if present:
                context_vectors[present] = vectors[len(unsure) :]
        full_x = model.design(features[unsure], text_vectors, context_vectors)
        label_probs[unsure] = model.label_head.probabilities(full_x)
        for name, head in model.subtype_heads.items():
            subtype_probs[name][unsure] = head.probabilities(full_x)
        return label_probs, subtype_probs

    def _embed_unique(self, texts: list[str]) -> np.ndarray:
        """Embed each distinct text once: a batch often repeats the partner's line for many replies."""
        order = {text: i for i, text in enumerate(dict.fromkeys(texts))}
        unique = self.embedder.embed(list(order))
        return unique[[order[text] for text in texts]]

    def _judge(self, text: str, label_probs: np.ndarray, subtype_probs: dict[str, np.ndarray]) -> CoachResult:
        head = self.model.label_head
        best = int(np.argmax(label_probs))
        label = head.classes[best]
        subtype = None
        if label in SUBTYPES:
            sub_head = self.model.subtype_heads[label]
            subtype = sub_head.classes[int(np.argmax(subtype_probs[label]))]
        flags = coach_features.utterance_flags(text)
        notice = None
        tip_key = _tip_key(label, subtype, flags, text)
        if looks_non_english(text):
            notice = "This reply doesn't look like English; the coach's label is a rough guess."
            if tip_key not in TIP_ORDER:
                tip_key = "other_language"
        return self._result(label, subtype, flags, tip_key, float(label_probs[best]), notice)

    def _result(self, label, subtype, flags, tip_key, confidence, notice) -> CoachResult:
        tip = self.tips[tip_key]
        return CoachResult(
            label=label,
            subtype=subtype,
            flags=list(flags),
            tip=tip.text,
            tip_section=tip.section,
            confidence=round(confidence, 3),
            notice=notice,
        )


def _tip_key(label: str, subtype: str | None, flags: Sequence[str], text: str = "") -> str:
    for horseman in TIP_ORDER:
        if horseman in flags:
            return horseman
    if label in SUBTYPES:
        return f"{label}_{subtype}"
    for good in ("repair", "validation", "appreciation"):
        if good in flags:
            return good
    if _talks_about_self(text):
        return "self_disclosure"
    return "other"


def _talks_about_self(text: str) -> bool:
    tokens = coach_features.words(text)
    mine = sum(t in coach_features.FIRST_PERSON for t in tokens)
    yours = sum(t in coach_features.SECOND_PERSON for t in tokens)
    return mine >= 2 and mine > 2 * yours


def _as_pair(item: Any) -> tuple[str, str | None]:
    if isinstance(item, str):
        return item, None
    if isinstance(item, Mapping):
        text, context = item.get("text"), item.get("context")
    else:
        text, context = item
    text = "" if text is None else str(text)
    context = None if context is None else str(context)
    return text, context


_ENGLISH_MARKERS = word_set(
    "the and you to is it that of was for with this what i'm it's your are have be do not but so just feel like "
    "my we how why when can don't i've that's they he she"
)


def looks_non_english(text: str) -> bool:
    """A cheap guess: mostly non-Latin characters, or several words and not one common English word."""
    norm = coach_features.normalise(text)
    letters = [ch for ch in norm if ch.isalpha()]
    if letters and sum(1 for ch in letters if ord(ch) > 0x24F) / len(letters) > 0.3:
        return True
    tokens = coach_features.words(norm)
    return len(tokens) >= 4 and not any(t in _ENGLISH_MARKERS for t in tokens)
