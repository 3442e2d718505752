#!/usr/bin/env python
"""Evaluate the shipped coach on data it never trained on, next to the regular-expression baseline.

Evaluation only (never used to train or tune lexicons):
  ../shared/data/esconv/esconv_{dev,test}_strategy_turns.csv   (ESConv supporter strategies)
  ../shared/data/welivita_mi/mi_gold_test_output.csv            (MI codes, gold column)
Each is mapped to the coach's four labels; prints per-class F1 and macro-F1 per data set as Markdown tables.

    .venv/bin/python scripts/eval_coach.py [--limit N] [--json results.json]
    .venv/bin/python scripts/eval_coach.py --ceiling   # what the same model shape reaches trained in-domain

--ceiling is a diagnostic: it trains throwaway copies of the coach's design on each evaluation set itself (5-fold
cross-validation) to show how far this shape of model can go on that data at all. Nothing is written or shipped.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from train_coach import DEFAULT_CACHE, DEFAULT_EMBEDDER, CachedEmbedder  # noqa: E402

from companion.rehearse.coach import LABELS, SUBTYPES, Coach, load_model, load_model_file  # noqa: E402

DATA = ROOT.parent / "shared" / "data"

ESCONV_MAP = {
    "Questions": "question",
    "Restatement or Paraphrasing": "reflection",
    "Reflection of feelings": "reflection",
    "Providing Suggestions": "input",
    "Information": "input",
}
MI_MAP = {
    "Simple Reflection": "reflection",
    "Complex Reflection": "reflection",
    "Open Question": "question",
    "Closed Question": "question",
    "Give Information": "input",
    "Advise with Permission": "input",
    "Advise without Permission": "input",
    "Direct": "input",
    "Warn": "input",
}


def load_esconv(path: Path) -> list[tuple[str, str | None, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return [
            (
                row["response"],
                row.get("last_seeker_utterance") or None,
                ESCONV_MAP.get(row["strategy"], "other"),
            )
            for row in csv.DictReader(handle)
            if row.get("response", "").strip()
        ]


def load_mi(path: Path) -> list[tuple[str, str | None, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return [
            (row["Text"], None, MI_MAP.get(row["Ground truth"], "other"))
            for row in csv.DictReader(handle)
            if row.get("Text", "").strip()
        ]


_BASELINE_REFLECTION = re.compile(r"^\s*(?:so you|you|it sounds)\b", re.IGNORECASE)


def baseline_label(text: str) -> str:
    """The reference regular expressions: '?' -> question, "you"/"so you"/"it sounds" openings -> reflection."""
    if "?" in text:
        return "question"
    if _BASELINE_REFLECTION.match(text):
        return "reflection"
    return "other"


def scores(gold: list[str], predicted: list[str]) -> dict:
    per_class = {}
    for label in LABELS:
        tp = sum(g == label and p == label for g, p in zip(gold, predicted, strict=True))
        fp = sum(g != label and p == label for g, p in zip(gold, predicted, strict=True))
        fn = sum(g == label and p != label for g, p in zip(gold, predicted, strict=True))
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[label] = {"n": tp + fn, "precision": precision, "recall": recall, "f1": f1}
    macro = sum(c["f1"] for c in per_class.values()) / len(LABELS)
    accuracy = sum(g == p for g, p in zip(gold, predicted, strict=True)) / max(len(gold), 1)
    return {"per_class": per_class, "macro_f1": macro, "accuracy": accuracy, "n": len(gold)}


def table(name: str, coach_scores: dict, baseline_scores: dict) -> str:
    lines = [
        f"### {name} (n = {coach_scores['n']})",
        "",
        "| class | n | coach P | coach R | coach F1 | baseline F1 |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for label in LABELS:
        c, b = coach_scores["per_class"][label], baseline_scores["per_class"][label]
        lines.append(
            f"| {label} | {c['n']} | {c['precision']:.3f} | {c['recall']:.3f} | {c['f1']:.3f} | {b['f1']:.3f} |"
        )
    lines.append(
        f"| **macro-F1** | | | | **{coach_scores['macro_f1']:.3f}** | {baseline_scores['macro_f1']:.3f} |"
    )
    lines.append(f"| accuracy | | | | {coach_scores['accuracy']:.3f} | {baseline_scores['accuracy']:.3f} |")
    return "\n".join(lines)


def datasets() -> dict[str, list[tuple[str, str | None, str]]]:
    return {
        "ESConv dev": load_esconv(DATA / "esconv" / "esconv_dev_strategy_turns.csv"),
        "ESConv test": load_esconv(DATA / "esconv" / "esconv_test_strategy_turns.csv"),
        "MI gold test (Welivita)": load_mi(DATA / "welivita_mi" / "mi_gold_test_output.csv"),
    }


def in_domain_ceiling(embedder, rows: list[tuple[str, str | None, str]], folds: int = 5) -> dict:
    """5-fold cross-validated scores of the shipped design trained on the evaluation set itself (never saved)."""
    import dataclasses

    import numpy as np
    from train_coach import Example, TrainingConfig, build_model

    examples = [Example(text, context, label, None, "own") for text, context, label in rows]
    # Every subtype head needs both of its classes; these placeholders only feed heads the scores never read.
    placeholders = [
        Example(".", None, label, subtype, "own") for label, pair in SUBTYPES.items() for subtype in pair
    ]
    order = np.random.default_rng(0).permutation(len(examples))
    predicted: list[str] = [""] * len(examples)
    for part in np.array_split(order, folds):
        held = set(part.tolist())
        train = [
            dataclasses.replace(examples[i], subtype=SUBTYPES.get(examples[i].label, (None,))[0])
            for i in order
            if i not in held
        ]
        model = build_model(embedder, train + placeholders, TrainingConfig())
        coach = Coach(embedder, model=model)
        for i, result in zip(
            part, coach.assess_batch([(examples[i].text, examples[i].context) for i in part]), strict=True
        ):
            predicted[i] = result.label
    return scores([e.label for e in examples], predicted)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--embed-model", type=Path, default=DEFAULT_EMBEDDER)
    parser.add_argument(
        "--weights", type=Path, default=None, help="coach weights to score (default: the shipped ones)"
    )
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="embedding cache folder")
    parser.add_argument("--no-cache", action="store_true")
    parser.add_argument("--no-embedder", action="store_true", help="score the cue-only fallback model")
    parser.add_argument("--limit", type=int, default=None, help="first N rows of each set (quick look)")
    parser.add_argument("--only", default=None, help="only the data sets whose name contains this (e.g. MI)")
    parser.add_argument("--json", type=Path, default=None, help="also write the scores here")
    parser.add_argument(
        "--ceiling",
        action="store_true",
        help="diagnostic: the same design trained in-domain (5-fold CV on each set; nothing saved)",
    )
    args = parser.parse_args(argv)

    embedder = None
    if not args.no_embedder:
        embedder = CachedEmbedder(args.embed_model, None if args.no_cache else args.cache)
    coach = Coach(embedder, model=load_model_file(args.weights) if args.weights else load_model())
    report = {}
    for name, rows in datasets().items():
        if args.only and args.only.lower() not in name.lower():
            continue
        rows = rows[: args.limit] if args.limit else rows
        gold = [label for _, _, label in rows]
        predicted = [r.label for r in coach.assess_batch([(text, context) for text, context, _ in rows])]
        coach_scores = scores(gold, predicted)
        baseline_scores = scores(gold, [baseline_label(text) for text, _, _ in rows])
        report[name] = {"coach": coach_scores, "baseline": baseline_scores}
        print(table(name, coach_scores, baseline_scores))
        print()
        if args.ceiling and embedder is not None:
            ceiling = in_domain_ceiling(embedder, rows)
            report[name]["in_domain_ceiling"] = ceiling
            per_class = ", ".join(f"{k} {v['f1']:.3f}" for k, v in ceiling["per_class"].items())
            print(
                f"in-domain ceiling (diagnostic, 5-fold CV on this set): macro-F1 {ceiling['macro_f1']:.3f} "
                f"({per_class})"
            )
            print()
    if embedder is not None:
        embedder.save()
    summary = " | ".join(
        f"{name}: {r['coach']['macro_f1']:.3f} (baseline {r['baseline']['macro_f1']:.3f})"
        for name, r in report.items()
    )
    print(f"macro-F1 -- {summary}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
