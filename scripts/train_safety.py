#!/usr/bin/env python
"""Retrain the safety screen's trained layer (companion/data/safety_head.npz), reproducibly.

Data, and nothing else:
  - training/safety/train_*.jsonl: crisis and hard-benign statements we wrote (training/safety/make_train.py);
  - everyday partner lines, whole and sentence by sentence, as benign: the half of the listener's training statements
    (training/listener/train_*.jsonl, by id) and of the coach's contexts (training/coach_examples*.jsonl) whose hash
    is even; the other halves stay out, so the check-in rate is measured on lines never trained on.
Never training/safety/heldout.jsonl, training/safety/issue_examples.jsonl or tests/data/safety_*.jsonl.

A fixed-seed split keeps DEV_FRACTION of the training rows apart. The head is trained on the rest (full-batch Adam,
fixed steps, fixed seed: the same data and embedder give the same weights), then the two thresholds are read off the
dev rows alone: the check-in threshold is the highest that still catches DEV_RECALL of the dev crises, the crisis
threshold the lowest whose dev false positives stay under CRISIS_DEV_FPR. Only numpy and the embedder are needed, so
this runs in the main .venv:

    .venv/bin/python scripts/train_safety.py [--embed-model models/all-MiniLM-L6-v2-f32.gguf] [--hidden 0]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from train_coach import CachedEmbedder  # noqa: E402  (the same text-keyed vector cache the coach uses)

from companion.safety.semantic import HEAD_CLASSES, HEAD_FILE, SafetyHead, segments_of  # noqa: E402

# ---- settings ------------------------------------------------------------------------------------------------------
SEED = 14
DEV_FRACTION = 0.2
HIDDEN = 256  # 0 = logistic regression
STEPS = 600
LEARNING_RATE = 0.01
L2 = 1e-4
DEV_RECALL = 0.98  # the check-in threshold keeps this share of dev crises
CRISIS_DEV_FPR = 0.01  # the crisis threshold lets at most this share of dev benign lines through
# Never set the check-in threshold where dev benign lines fire more often than this.
CHECK_IN_DEV_FPR_CAP = 0.05
EMBED_MODEL = ROOT / "models" / "all-MiniLM-L6-v2-f32.gguf"
CACHE = ROOT / "build" / "safety-embeddings"
SAFETY_DIR = ROOT / "training" / "safety"
LISTENER_DIR = ROOT / "training" / "listener"


# ---- data ----------------------------------------------------------------------------------------------------------


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _even_hash(key: str) -> bool:
    return hashlib.sha1(key.encode("utf-8")).digest()[0] % 2 == 0


def listener_statements(trained_half: bool) -> list[str]:
    """The listener's everyday statements: the half used in training (True) or the half kept for measuring (False)."""
    out = []
    for path in sorted(LISTENER_DIR.glob("train_*.jsonl")):
        for row in _read_jsonl(path):
            if row.get("statement") and _even_hash(str(row.get("id", row["statement"]))) == trained_half:
                out.append(row["statement"])
    return sorted(set(out))


# The coach files whose contexts the shipped safety layer was trained on. A coach file added later is measured (its
# unseen half joins the everyday lines) but joins training only when the safety layer is retrained and re-chosen.
SAFETY_COACH_FILES = (
    "coach_examples.jsonl",
    "coach_examples_counselling.jsonl",
    "coach_examples_couples.jsonl",
    "coach_examples_peer_chat.jsonl",
    "coach_examples_v2.jsonl",
)


def coach_contexts(trained_half: bool, *, files: tuple[str, ...] | None = None) -> list[str]:
    """The coach's partner lines (training/coach_examples*.jsonl contexts, or only `files`), split in halves the
    same way."""
    out = set()
    for path in sorted((ROOT / "training").glob("coach_examples*.jsonl")):
        if files is not None and path.name not in files:
            continue
        for row in _read_jsonl(path):
            if row.get("context") and _even_hash(row["context"]) == trained_half:
                out.add(row["context"])
    return sorted(out)


def everyday_lines(trained_half: bool) -> list[str]:
    """Trained half: from the files the layer was trained on; unseen half: from every coach file."""
    files = SAFETY_COACH_FILES if trained_half else None
    return sorted(set(listener_statements(trained_half)) | set(coach_contexts(trained_half, files=files)))


def training_rows() -> list[dict]:
    rows = [row for path in sorted(SAFETY_DIR.glob("train_*.jsonl")) for row in _read_jsonl(path)]
    # Everyday lines whole and sentence by sentence, as the screen sees them.
    for line in everyday_lines(trained_half=True):
        for segment in segments_of(line):
            rows.append({"text": segment, "label": "benign", "category": "everyday", "group": line})
    return rows


def dev_mask(rows: list[dict]) -> np.ndarray:
    """True for the dev rows: whole frames (a frame's fillings are near-copies of each other), by a hash of the group."""
    return np.array(
        [
            int(hashlib.sha1(f"{SEED}:{r.get('group', r['text'])}".encode()).hexdigest(), 16) % 1000
            < DEV_FRACTION * 1000
            for r in rows
        ]
    )


def class_index(row: dict) -> int:
    return 0 if row["label"] == "benign" else HEAD_CLASSES.index(row["category"])


# ---- training ------------------------------------------------------------------------------------------------------


def train_head(x: np.ndarray, y: np.ndarray, *, hidden: int, seed: int = SEED, steps: int = STEPS) -> dict:
    """Weights of a softmax classifier (with one ReLU layer when hidden > 0); classes weighted to balance."""
    rng = np.random.default_rng(seed)
    n, d = x.shape
    k = len(HEAD_CLASSES)
    counts = np.bincount(y, minlength=k).astype(np.float64)
    # Benign and crisis weigh the same in total; within crisis, the categories weigh the same.
    weights_per_class = np.where(np.arange(k) == 0, 0.5 / counts[0], 0.5 / ((k - 1) * np.maximum(counts, 1)))
    sample_weight = (weights_per_class[y] / weights_per_class[y].sum()).astype(np.float32)
    onehot = np.eye(k, dtype=np.float32)[y]
    if hidden:
        params = {
            "w1": rng.normal(0, np.sqrt(2 / d), (d, hidden)).astype(np.float32),
            "b1": np.zeros(hidden, np.float32),
            "w2": rng.normal(0, np.sqrt(1 / hidden), (hidden, k)).astype(np.float32),
            "b2": np.zeros(k, np.float32),
        }
    else:
        params = {"w1": np.zeros((d, k), np.float32), "b1": np.zeros(k, np.float32)}
    moment = {name: np.zeros_like(p) for name, p in params.items()}
    velocity = {name: np.zeros_like(p) for name, p in params.items()}
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    for step in range(1, steps + 1):
        h = x @ params["w1"] + params["b1"]
        if hidden:
            a = np.maximum(h, 0)
            logits = a @ params["w2"] + params["b2"]
        else:
            logits = h
        logits = logits - logits.max(axis=1, keepdims=True)
        prob = np.exp(logits)
        prob /= prob.sum(axis=1, keepdims=True)
        grad_logits = (prob - onehot) * sample_weight[:, None]
        grads = {}
        if hidden:
            grads["w2"] = a.T @ grad_logits + L2 * params["w2"]
            grads["b2"] = grad_logits.sum(axis=0)
            grad_h = (grad_logits @ params["w2"].T) * (h > 0)
        else:
            grad_h = grad_logits
        grads["w1"] = x.T @ grad_h + L2 * params["w1"]
        grads["b1"] = grad_h.sum(axis=0)
        for name, g in grads.items():
            moment[name] = beta1 * moment[name] + (1 - beta1) * g
            velocity[name] = beta2 * velocity[name] + (1 - beta2) * g * g
            m_hat = moment[name] / (1 - beta1**step)
            v_hat = velocity[name] / (1 - beta2**step)
            params[name] = (params[name] - LEARNING_RATE * m_hat / (np.sqrt(v_hat) + eps)).astype(np.float32)
    return params


def head_from(params: dict, crisis_threshold: float, check_in_threshold: float, name: str = "") -> SafetyHead:
    return SafetyHead(
        params["w1"],
        params["b1"],
        params.get("w2"),
        params.get("b2"),
        crisis_threshold,
        check_in_threshold,
        name,
    )


def choose_thresholds(p_crisis: np.ndarray, is_crisis: np.ndarray) -> tuple[float, float]:
    """(crisis, check-in) thresholds from dev probabilities, as the module docstring says."""
    benign = np.sort(p_crisis[~is_crisis])
    crises = np.sort(p_crisis[is_crisis])
    # Crisis: just above the benign score that only CRISIS_DEV_FPR of benign lines exceed.
    crisis_threshold = float(np.quantile(benign, 1 - CRISIS_DEV_FPR)) + 1e-6
    # Check-in: low enough to keep DEV_RECALL of crises, but not so low that benign lines fire past the cap.
    recall_threshold = float(crises[int(np.floor((1 - DEV_RECALL) * len(crises)))])
    cap_threshold = float(np.quantile(benign, 1 - CHECK_IN_DEV_FPR_CAP)) + 1e-6
    check_in_threshold = max(recall_threshold, cap_threshold)
    return max(crisis_threshold, check_in_threshold), check_in_threshold


def rates(p_crisis: np.ndarray, is_crisis: np.ndarray, threshold: float) -> tuple[float, float]:
    flagged = p_crisis >= threshold
    return float(flagged[is_crisis].mean()), float(flagged[~is_crisis].mean())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embed-model", type=Path, default=EMBED_MODEL)
    parser.add_argument("--hidden", type=int, default=HIDDEN, help="hidden units (0: logistic regression)")
    parser.add_argument("--out", type=Path, default=HEAD_FILE)
    parser.add_argument("--cache", type=Path, default=CACHE, help="embedding cache folder")
    args = parser.parse_args(argv)

    rows = training_rows()
    y = np.array([class_index(r) for r in rows])
    is_dev = dev_mask(rows)
    embedder = CachedEmbedder(args.embed_model, args.cache)
    x = embedder.embed([r["text"] for r in rows])
    print(
        f"rows: {len(rows)} ({int((y > 0).sum())} crisis, {int((y == 0).sum())} benign); "
        f"train {int((~is_dev).sum())}, dev {int(is_dev.sum())}"
    )

    params = train_head(x[~is_dev], y[~is_dev], hidden=args.hidden)
    probe = head_from(params, 1.0, 1.0)
    p_dev = 1.0 - probe.probabilities(x[is_dev])[:, 0]
    dev_crisis = y[is_dev] > 0
    crisis_threshold, check_in_threshold = choose_thresholds(p_dev, dev_crisis)
    for name, t in (("check-in", check_in_threshold), ("crisis", crisis_threshold)):
        recall, fpr = rates(p_dev, dev_crisis, t)
        print(f"dev at the {name} threshold {t:.3f}: recall {recall:.3f}, false positives {fpr:.3f}")
    p_train = 1.0 - probe.probabilities(x[~is_dev])[:, 0]
    recall, fpr = rates(p_train, y[~is_dev] > 0, check_in_threshold)
    print(f"train at the check-in threshold: recall {recall:.3f}, false positives {fpr:.3f}")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        args.out,
        classes=np.array(HEAD_CLASSES),
        crisis_threshold=np.float32(crisis_threshold),
        check_in_threshold=np.float32(check_in_threshold),
        embedder_name=np.array(embedder.name),
        seed=np.int64(SEED),
        **params,
    )
    print(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
