#!/usr/bin/env python
"""Retrain the listening coach's weights (companion/data/coach_weights.npz), reproducibly.

Training data, and nothing else:
  - ../shared/data/pair/pair_umich_long.csv (PAIR, Apache-2.0): its expert-rated reflections only (hq1/hq2
    complex, mq1 simple), which teach the simple/complex head.
  - training/coach_examples*.jsonl: our own hand-written examples, labelled as training/LABELLING.md says;
    those marked "split": "test" are held out.

Full-batch gradient descent from zero weights with a fixed number of steps: the same data and embedder give
the same weights on every run. Prints the data sizes and the held-out accuracy.

    .venv/bin/python scripts/train_coach.py [--embed-model models/all-MiniLM-L6-v2-f32.gguf]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from companion.rehearse import coach_features  # noqa: E402
from companion.rehearse.coach import (  # noqa: E402
    LABELS,
    MAX_EMBED_CHARS,
    SUBTYPES,
    CoachModel,
    LinearHead,
    design_matrix,
)

PAIR_CSV = ROOT.parent / "shared" / "data" / "pair" / "pair_umich_long.csv"
OWN_EXAMPLES = ROOT / "training"  # every coach_examples*.jsonl in it
DEFAULT_EMBEDDER = ROOT / "models" / "all-MiniLM-L6-v2-f32.gguf"
DEFAULT_OUT = ROOT / "companion" / "data" / "coach_weights.npz"
DEFAULT_CACHE = Path("/tmp/companion-coach-embeddings")


@dataclass(frozen=True)
class Example:
    text: str
    context: str | None
    label: str
    subtype: str | None
    source: str  # "pair" or "own"
    split: str = "train"


@dataclass(frozen=True)
class TrainingConfig:
    """The model design; chosen once by comparing a few designs (see the README), then fixed."""

    feature_weight: float = 1.0
    # The partner's line reaches the model through the overlap cues only: embedding it too doubled the cost
    # of `coach label` and did not move ESConv dev macro-F1 (0.537 with, 0.534 without).
    use_context: bool = False
    l2: float = 1e-3
    steps: int = 600
    learning_rate: float = 0.05
    own_weight: float = 3.0  # our examples count more than PAIR's health-behaviour reflections


# The heads over the coach-tuned encoder: its vector already carries the labels, so the cues weigh less beside it
# (chosen on ESConv dev, over the tuned vectors: macro-F1 0.638 against 0.626 with the plain settings).
DESIGNS = {
    "plain": TrainingConfig(),
    "tuned": TrainingConfig(feature_weight=0.3, l2=1e-4),
}


# ---- data -------------------------------------------------------------------------------------------------


# PAIR's experts rated these slots as reflections; its low-quality slots are left out: lq3-lq5 carry no label,
# and a design with lq1/lq2 did no better on ESConv dev than one without (see the README's coach section).
PAIR_SLOTS = {
    "hq1": ("reflection", "complex"),
    "hq2": ("reflection", "complex"),
    "mq1": ("reflection", "simple"),
}


def pair_label(slot: str) -> tuple[str, str | None] | None:
    """PAIR's slot -> (label, subtype), or None for the slots we don't learn from."""
    return PAIR_SLOTS.get(slot)


def load_pair(path: Path = PAIR_CSV) -> list[Example]:
    examples = []
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            text = (row.get("response") or "").strip()
            if not text:
                continue
            mapped = pair_label(row["slot"])
            if mapped is None:
                continue
            examples.append(Example(text, row.get("prompt") or None, mapped[0], mapped[1], "pair"))
    return examples


def load_own(folder: Path = OWN_EXAMPLES) -> list[Example]:
    examples = []
    for path in sorted(folder.glob("coach_examples*.jsonl")):
        examples += _load_own_file(path)
    return examples


def _load_own_file(path: Path) -> list[Example]:
    examples = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        record = json.loads(line)
        if record["label"] not in LABELS:
            raise SystemExit(f"{path}:{number}: unknown label {record['label']!r}")
        examples.append(
            Example(
                record["text"],
                record.get("context"),
                record["label"],
                record.get("subtype"),
                "own",
                record.get("split", "train"),
            )
        )
    return examples


LISTENER_DIR = ROOT / "training" / "listener"
# One listener pair in LISTENER_SHARE joins the coach's reflections: enough to widen their forms without letting
# the listener's house style (most end in "Did I get that right?") dominate the class.
LISTENER_SHARE = 4
_CHECK_AT_END = re.compile(
    r"\s*(?:is that right|did i get that( right)?|is that (it|how it feels)|am i close)\?\s*$", re.IGNORECASE
)


def load_listener_reflections(folder: Path = LISTENER_DIR) -> list[Example]:
    """A fixed share of the listener's training reflections (ours), every other one without its closing check."""
    examples = []
    for path in sorted(folder.glob("train_*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            record = json.loads(line)
            digest = hashlib.sha1(record["id"].encode()).digest()[0]
            if digest % LISTENER_SHARE:
                continue
            text = record["reflection"]
            if digest % (2 * LISTENER_SHARE):
                text = _CHECK_AT_END.sub("", text).strip() or text
            subtype = record.get("kind") if record.get("kind") in SUBTYPES["reflection"] else None
            examples.append(Example(text, record["statement"], "reflection", subtype, "own"))
    return examples


def training_examples(*, with_listener: bool = True) -> list[Example]:
    """Every training example: PAIR's rated reflections, our own examples (split train), the listener's share."""
    own = [e for e in load_own() if e.split == "train"]
    return load_pair() + own + (load_listener_reflections() if with_listener else [])


# ---- embeddings, cached by text so reruns and evaluations don't recompute them ----------------------------


class CachedEmbedder:
    """Wraps companion.guidance.embed.Embedder; same `embed`/`dimension`/`name`, with an on-disk cache per model file."""

    def __init__(self, model_path: Path, cache_dir: Path | None = DEFAULT_CACHE) -> None:
        from companion.guidance.embed import Embedder

        self._embedder = Embedder(model_path)
        self.name = self._embedder.name
        self.dimension = self._embedder.dimension
        self._file = None
        self._vectors: dict[str, np.ndarray] = {}
        if cache_dir is not None:
            # The first megabyte (header, vocabulary) and the file name: tuned merges share that megabyte.
            with open(model_path, "rb") as handle:
                head = handle.read(1_000_000) + Path(model_path).name.encode()
            digest = hashlib.sha256(head).hexdigest()[:16]
            self._file = Path(cache_dir) / f"{self.name}-{digest}.npz"
            if self._file.is_file():
                with np.load(self._file) as stored:
                    self._vectors = dict(zip(stored["keys"].tolist(), stored["vectors"], strict=True))

    @staticmethod
    def _key(text: str) -> str:
        return hashlib.sha1(text.encode("utf-8", errors="replace")).hexdigest()

    def embed(self, texts) -> np.ndarray:
        texts = list(texts)
        keys = [self._key(t) for t in texts]
        missing = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in self._vectors}.items())
        # In chunks, saved as it goes: on a busy machine a long run can be stopped without losing its work.
        for start in range(0, len(missing), 256):
            part = missing[start : start + 256]
            vectors = self._embedder.embed([t for _, t in part])
            for (key, _), vector in zip(part, vectors, strict=True):
                self._vectors[key] = vector
            self.save()
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.stack([self._vectors[k] for k in keys]).astype(np.float32)

    def close(self) -> None:
        self._embedder.close()

    def save(self) -> None:
        if self._file is None:
            return
        self._file.parent.mkdir(parents=True, exist_ok=True)
        keys = sorted(self._vectors)
        np.savez(self._file, keys=np.array(keys), vectors=np.stack([self._vectors[k] for k in keys]))


def embed_examples(embedder, examples: list[Example]) -> tuple[np.ndarray, np.ndarray]:
    text_vectors = embedder.embed([e.text[:MAX_EMBED_CHARS] for e in examples])
    context_vectors = np.zeros_like(text_vectors)
    present = [i for i, e in enumerate(examples) if e.context and e.context.strip()]
    if present:
        context_vectors[present] = embedder.embed([examples[i].context[:MAX_EMBED_CHARS] for i in present])
    return text_vectors, context_vectors


# ---- training ---------------------------------------------------------------------------------------------


def fit_softmax(x: np.ndarray, y: np.ndarray, n_classes: int, sample_weight: np.ndarray, cfg: TrainingConfig):
    """Multinomial logistic regression, L2, full-batch Adam from zeros: deterministic."""
    x = x.astype(np.float64)
    n, d = x.shape
    w = np.zeros((d, n_classes))
    b = np.zeros(n_classes)
    onehot = np.eye(n_classes)[y]
    sw = sample_weight / sample_weight.sum()
    m_w, v_w, m_b, v_b = np.zeros_like(w), np.zeros_like(w), np.zeros_like(b), np.zeros_like(b)
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    for step in range(1, cfg.steps + 1):
        logits = x @ w + b
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        err = (p - onehot) * sw[:, None]
        g_w = x.T @ err + cfg.l2 * w
        g_b = err.sum(axis=0)
        for param, grad, m, v in ((w, g_w, m_w, v_w), (b, g_b, m_b, v_b)):
            m *= beta1
            m += (1 - beta1) * grad
            v *= beta2
            v += (1 - beta2) * grad * grad
            param -= cfg.learning_rate * (m / (1 - beta1**step)) / (np.sqrt(v / (1 - beta2**step)) + eps)
    return w.astype(np.float32), b.astype(np.float32)


def balanced_weights(y: np.ndarray, base: np.ndarray) -> np.ndarray:
    """Each class gets the same total weight, so the label mix of the training data doesn't set the prior."""
    weights = base.astype(np.float64).copy()
    for cls in np.unique(y):
        mask = y == cls
        weights[mask] *= base.sum() / (len(np.unique(y)) * base[mask].sum())
    return weights


def train_heads(x: np.ndarray, examples: list[Example], cfg: TrainingConfig):
    base = np.array([cfg.own_weight if e.source == "own" else 1.0 for e in examples])
    y = np.array([LABELS.index(e.label) for e in examples])
    w, b = fit_softmax(x, y, len(LABELS), balanced_weights(y, base), cfg)
    label_head = LinearHead(LABELS, w, b)
    subtype_heads = {}
    for label, classes in SUBTYPES.items():
        rows = [i for i, e in enumerate(examples) if e.label == label and e.subtype in classes]
        ys = np.array([classes.index(examples[i].subtype) for i in rows])
        ws, bs = fit_softmax(x[rows], ys, 2, balanced_weights(ys, base[rows]), cfg)
        subtype_heads[label] = LinearHead(classes, ws, bs)
    return label_head, subtype_heads


def build_model(embedder, examples: list[Example], cfg: TrainingConfig) -> CoachModel:
    features = coach_features.feature_matrix([e.text for e in examples], [e.context for e in examples])
    mean = features.mean(axis=0)
    std = features.std(axis=0)
    std[std < 1e-6] = 1.0
    text_vectors, context_vectors = embed_examples(embedder, examples)
    common = {"mean": mean, "std": std, "feature_weight": cfg.feature_weight, "use_context": cfg.use_context}
    x_full = design_matrix(features, text_vectors, context_vectors, **common)
    x_cues = design_matrix(features, None, None, **common)
    label_head, subtype_heads = train_heads(x_full, examples, cfg)
    fallback_label, fallback_subtypes = train_heads(x_cues, examples, cfg)
    return CoachModel(
        embed_dim=int(text_vectors.shape[1]),
        feature_names=coach_features.FEATURE_NAMES,
        feature_mean=mean.astype(np.float32),
        feature_std=std.astype(np.float32),
        feature_weight=cfg.feature_weight,
        use_context=cfg.use_context,
        label_head=label_head,
        subtype_heads=subtype_heads,
        fallback_label_head=fallback_label,
        fallback_subtype_heads=fallback_subtypes,
        embedder_name=str(embedder.name),
    )


def save_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """An .npz (zip of .npy) with fixed timestamps and order: the same arrays give a byte-identical file."""
    import io
    import zipfile

    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for key, array in sorted(arrays.items()):
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, buffer.getvalue())


def save_model(model: CoachModel, path: Path) -> None:
    save_arrays(path, model.to_arrays())


def held_out_accuracy(model: CoachModel, embedder, held_out: list[Example]) -> tuple[float, float]:
    from companion.rehearse.coach import Coach

    coach = Coach(embedder, model=model)
    results = coach.assess_batch([(e.text, e.context) for e in held_out])
    label_acc = float(np.mean([r.label == e.label for r, e in zip(results, held_out, strict=True)]))
    with_sub = [(r, e) for r, e in zip(results, held_out, strict=True) if e.subtype and r.label == e.label]
    sub_acc = float(np.mean([r.subtype == e.subtype for r, e in with_sub])) if with_sub else float("nan")
    return label_acc, sub_acc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--embed-model", type=Path, default=DEFAULT_EMBEDDER)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="embedding cache folder")
    parser.add_argument("--no-cache", action="store_true")
    parser.add_argument("--no-listener", action="store_true", help="leave out the listener's reflections")
    parser.add_argument(
        "--design",
        choices=sorted(DESIGNS),
        default="plain",
        help="plain: heads over the plain MiniLM; tuned: heads over the coach-tuned encoder",
    )
    args = parser.parse_args(argv)

    pair = load_pair()
    own = load_own()
    train = training_examples(with_listener=not args.no_listener)
    held_out = [e for e in own if e.split != "train"]
    print(f"PAIR (Apache-2.0): {len(pair)} examples {dict(Counter(e.label for e in pair))}")
    print(
        f"own examples: {len(own)} ({len(own) - len(held_out)} train, {len(held_out)} held out) "
        f"{dict(Counter(e.label for e in own))}"
    )
    print(f"training on {len(train)} examples {dict(Counter(e.label for e in train))}")

    embedder = CachedEmbedder(args.embed_model, None if args.no_cache else args.cache)
    cfg = DESIGNS[args.design]
    model = build_model(embedder, train, cfg)
    embedder.save()
    save_model(model, args.out)
    label_acc, sub_acc = held_out_accuracy(model, embedder, held_out)
    print(f"held-out own examples: label accuracy {label_acc:.3f}, subtype accuracy {sub_acc:.3f}")
    print(
        f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out} "
        f"({args.out.stat().st_size} bytes, config {cfg})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
