#!/usr/bin/env python
"""Evaluate the shipped coach on data it never trained on, beside the old design and a regular-expression baseline.

Evaluation only (never used to train or tune lexicons):
  ../shared/data/esconv/esconv_{dev,test}_strategy_turns.csv   (ESConv supporter strategies)
  ../shared/data/welivita_mi/mi_gold_test_output.csv            (MI codes, gold column)
Each is mapped to the coach's four labels; prints per-class F1 and macro-F1 per data set as Markdown tables, and a
summary: the shipped coach (heads over the coach-tuned MiniLM), the old design (heads over the plain MiniLM) and the
baseline. ESConv dev is the only set used to choose designs; test and MI are measured, never tuned on.

    .venv/bin/python scripts/eval_coach.py [--limit N] [--json results.json]
    .venv/bin/python scripts/eval_coach.py --ceiling   # what the old design reaches trained in-domain

--ceiling is a diagnostic: it trains throwaway copies of the old design on each evaluation set itself (5-fold
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

from companion.rehearse.coach import (  # noqa: E402
    LABELS,
    SUBTYPES,
    TUNED_WEIGHTS_FILE,
    Coach,
    load_model,
    load_model_file,
)

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


def summary_table(report: dict) -> str:
    """One row a data set: macro-F1 and reflection F1 of every design scored, side by side."""
    designs = [d for d in ("baseline", "old design", "coach") if any(d in r for r in report.values())]
    names = {
        "baseline": "regex baseline",
        "old design": "old design (frozen MiniLM)",
        "coach": "shipped coach",
    }
    header = [names[d] for d in designs]
    with_ceiling = any("in_domain_ceiling" in r for r in report.values())
    if with_ceiling:
        header.append("old design trained in-domain (ceiling)")
    lines = [
        "| set | " + " | ".join(f"{h}: macro-F1 / reflection F1" for h in header) + " |",
        "| --- |" + " ---: |" * len(header),
    ]
    for name, r in report.items():
        cells = [r[d] for d in designs] + ([r["in_domain_ceiling"]] if with_ceiling else [])
        lines.append(
            f"| {name} | "
            + " | ".join(f"{c['macro_f1']:.3f} / {c['per_class']['reflection']['f1']:.3f}" for c in cells)
            + " |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--embed-model", type=Path, default=DEFAULT_EMBEDDER, help="the plain MiniLM (old design)"
    )
    parser.add_argument(
        "--tuned-model", type=Path, default=None, help="the coach-tuned encoder (default: the prepared one)"
    )
    parser.add_argument(
        "--weights",
        type=Path,
        default=None,
        help="coach weights over the tuned encoder (default: the shipped ones)",
    )
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="embedding cache folder")
    parser.add_argument("--no-cache", action="store_true")
    parser.add_argument("--no-embedder", action="store_true", help="score the cue-only fallback model")
    parser.add_argument("--limit", type=int, default=None, help="first N rows of each set (quick look)")
    parser.add_argument("--only", default=None, help="only the data sets whose name contains this (e.g. dev)")
    parser.add_argument("--json", type=Path, default=None, help="also write the scores here")
    parser.add_argument(
        "--ceiling",
        action="store_true",
        help="diagnostic: the old design trained in-domain (5-fold CV on each set; nothing saved)",
    )
    args = parser.parse_args(argv)

    cache = None if args.no_cache else args.cache
    embedders: list[CachedEmbedder] = []
    plain = coach = old = None
    if args.no_embedder:
        coach = Coach(None, model=load_model())
    else:
        from companion.engines.tuned import find_tuned_encoder

        plain = CachedEmbedder(args.embed_model, cache)
        embedders.append(plain)
        old = Coach(plain, model=load_model())
        tuned_model = args.tuned_model or find_tuned_encoder("coach", [args.embed_model.parent])
        if tuned_model is None:
            print(
                "the coach-tuned encoder is not prepared: run companion models prepare-embedder",
                file=sys.stderr,
            )
            return 2
        tuned = CachedEmbedder(tuned_model, cache)
        embedders.append(tuned)
        weights = load_model_file(args.weights) if args.weights else load_model(TUNED_WEIGHTS_FILE)
        coach = Coach(tuned, model=weights)
    report = {}
    for name, rows in datasets().items():
        if args.only and args.only.lower() not in name.lower():
            continue
        rows = rows[: args.limit] if args.limit else rows
        gold = [label for _, _, label in rows]
        pairs = [(text, context) for text, context, _ in rows]
        coach_scores = scores(gold, [r.label for r in coach.assess_batch(pairs)])
        baseline_scores = scores(gold, [baseline_label(text) for text, _, _ in rows])
        report[name] = {"coach": coach_scores, "baseline": baseline_scores}
        if old is not None:
            report[name]["old design"] = scores(gold, [r.label for r in old.assess_batch(pairs)])
        print(table(name, coach_scores, baseline_scores))
        print()
        if args.ceiling and plain is not None:
            report[name]["in_domain_ceiling"] = in_domain_ceiling(plain, rows)
    for embedder in embedders:
        embedder.save()
    print(summary_table(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
