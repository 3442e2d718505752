#!/usr/bin/env python3
"""Recall and false-positive rate of the safety screen, rules alone and with each second layer, as Markdown.

Labelled files, all written by us:
- tests/data/safety_statements.jsonl, the "dev" set (153). Its split "dev" (89) was written alongside the rules; each
  "heldoutN" was written after the rules were frozen and measured once before any rule changed, and the misses then
  taught the rules (not copied into them). The semantic layer's threshold and margin were chosen on this file only.
  First-sight figures of the rules:

      split      n   crisis  recall at first sight  FPR at first sight
      heldout1  24   14      0.643 (9/14)           0.000 (0/10)
      heldout2  20   12      0.583 (7/12)           0.000 (0/8)
      heldout3  20   12      0.250 (3/12)           0.000 (0/8)

- tests/data/safety_heldout.jsonl (split "heldout4", 102: 51 crisis, 51 hard benign), written before the semantic
  layer and its exemplars, and measured once with the rules alone (recall 0.294 = 15/51, FPR 0.078 = 4/51) and once
  with rules + the semantic layer as first built, T=0.48, M=0.04 (recall 0.765 = 39/51, FPR 0.255 = 13/51).
  That setting also fired on 12.6% of everyday partner lines (training/coach_examples*.jsonl contexts), so a layer
  hit became a "check_in" under the reflection, 18 everyday-complaint near-misses joined the benign exemplars and
  T rose to 0.58: held-out recall 0.431, FPR 0.118, no longer first-sight figures (the set had been seen).

- training/safety/heldout.jsonl (the "fresh" set: 177 crisis, 175 hard benign), written and saved before the trained
  layer, its training set or its thresholds existed, in wordings kept out of training (tests/test_safety_trained.py
  checks no line is in training). Never tuned on.
- training/safety/issue_examples.jsonl: the five statements quoted in issue 14, a must-catch check.

And the check-in rate on everyday partner lines never trained on: the halves of the coach contexts
(training/coach_examples*.jsonl) and of the listener's training statements that scripts/train_safety.py leaves out.

Screens: the rules alone; + exemplars (the nearest-example check, its hits are check-ins); + trained (the head in
companion/data/safety_head.npz: confident hits get the message, others a check-in); + trained + exemplars.

Usage: scripts/eval_safety.py [--no-semantic] [--show-errors] [--sweep] [--embed-model PATH]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from companion.safety.screen import CATEGORIES, find_categories, screen  # noqa: E402

DEV_SET = ROOT / "tests" / "data" / "safety_statements.jsonl"
HELDOUT_SET = ROOT / "tests" / "data" / "safety_heldout.jsonl"
FRESH_SET = ROOT / "training" / "safety" / "heldout.jsonl"
ISSUE_SET = ROOT / "training" / "safety" / "issue_examples.jsonl"
DEFAULT_SET = DEV_SET  # kept for callers of load_statements()
EMBED_MODEL = ROOT / "models" / "all-MiniLM-L6-v2-f32.gguf"
SHORT = {
    "suicide_self_harm": "suicide/self-harm",
    "child_danger": "child",
    "violence": "violence",
    "sexual_coercion": "sexual",
    "coercive_control": "control",
}


def load_statements(path: Path = DEFAULT_SET) -> list[dict]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            rows.append(json.loads(line))
    return rows


def everyday_lines() -> list[str]:
    """Everyday partner lines no safety layer was trained on: the unseen halves of the coach contexts and the
    listener's statements (scripts/train_safety.py trains on the other halves)."""
    from train_safety import everyday_lines as halves

    return halves(trained_half=False)


def evaluate(rows: list[dict], semantic=None) -> dict:
    """Counts, recall (overall, per category, and how many got the full message), false-positive rate and the
    misclassified rows for one set, through screen() exactly as the app calls it (semantic=None: the rules alone)."""
    true_pos = false_neg = false_pos = true_neg = category_hits = messages = 0
    errors = []
    per_category: Counter = Counter()
    per_category_hit: Counter = Counter()
    for row in rows:
        assessment = screen(row["text"], log=False, semantic=semantic)
        categories = assessment.categories if assessment is not None else ()
        flagged = assessment is not None
        if row["label"] == "crisis":
            per_category[row["category"]] += 1
            if flagged:
                true_pos += 1
                messages += assessment.level == "crisis"
                per_category_hit[row["category"]] += 1
                if row.get("category") in categories:
                    category_hits += 1
            else:
                false_neg += 1
                errors.append(("missed", row["text"], row["category"]))
        else:
            if flagged:
                false_pos += 1
                errors.append((f"false {assessment.level}", row["text"], ",".join(categories)))
            else:
                true_neg += 1
    positives = true_pos + false_neg
    negatives = false_pos + true_neg
    return {
        "n": len(rows),
        "positives": positives,
        "negatives": negatives,
        "true_pos": true_pos,
        "false_pos": false_pos,
        "messages": messages,
        "recall": true_pos / positives if positives else float("nan"),
        "fpr": false_pos / negatives if negatives else float("nan"),
        "category_agreement": category_hits / true_pos if true_pos else float("nan"),
        "per_category": {c: (per_category_hit[c], per_category[c]) for c in CATEGORIES if per_category[c]},
        "errors": errors,
    }


def everyday_rates(lines: list[str], semantic=None) -> dict:
    """How many everyday lines get a check-in, and how many the full safety message."""
    levels = Counter()
    flagged = []
    for line in lines:
        assessment = screen(line, log=False, semantic=semantic)
        if assessment is not None:
            levels[assessment.level] += 1
            flagged.append((assessment.level, line))
    return {"n": len(lines), "check_in": levels["check_in"], "crisis": levels["crisis"], "flagged": flagged}


def _ratio(hit: int, total: int) -> str:
    return f"{hit / total:.3f} ({hit}/{total})" if total else "-"


def markdown_table(results: list[tuple[str, str, dict]]) -> str:
    """One row per (set, screen): recall, how many of the caught got the message, recall per category, FPR."""
    header = ["set", "screen", "recall", "message", *(SHORT[c] for c in CATEGORIES), "FPR"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for set_name, screen_name, r in results:
        cells = [
            set_name,
            screen_name,
            _ratio(r["true_pos"], r["positives"]),
            f"{r['messages']}/{r['true_pos']}",
        ]
        for c in CATEGORIES:
            hit, total = r["per_category"].get(c, (0, 0))
            cells.append(f"{hit}/{total}" if total else "-")
        cells.append(_ratio(r["false_pos"], r["negatives"]))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def everyday_table(results: list[tuple[str, dict]]) -> str:
    lines = ["| everyday partner lines | check-in | safety message | either |", "|---|---|---|---|"]
    for screen_name, r in results:
        lines.append(
            f"| {screen_name} | {_ratio(r['check_in'], r['n'])} | {_ratio(r['crisis'], r['n'])} | "
            f"{_ratio(r['check_in'] + r['crisis'], r['n'])} |"
        )
    return "\n".join(lines)


def sweep(rows: list[dict], semantic) -> str:
    """The exemplar check on one set: its own recall on the crises / rules + it false-positive rate, per T and M."""
    import numpy as np

    scored = [(row, bool(find_categories(row["text"])[0]), semantic.scores(row["text"])) for row in rows]
    positives = sum(row["label"] == "crisis" for row, _, _ in scored)
    negatives = len(scored) - positives
    margins = (-0.05, 0.0, 0.02, 0.04, 0.06, 0.08, 0.10, 0.12, 0.15)
    lines = [
        "cells: the exemplar check's own recall on the crises / rules + it false-positive rate",
        "| T | " + " | ".join(f"M={m:+.2f}" for m in margins) + " |",
        "|" + "---|" * (len(margins) + 1),
    ]
    for threshold in np.arange(0.40, 0.705, 0.02):
        cells = []
        for margin in margins:
            caught = false_alarms = 0
            for row, by_rules, scores in scored:
                by_layer = bool(semantic.categories_from(scores, float(threshold), margin))
                if row["label"] == "crisis":
                    caught += by_layer
                else:
                    false_alarms += by_rules or by_layer
            cells.append(f"{caught / positives:.3f}/{false_alarms / negatives:.3f}")
        lines.append(f"| {threshold:.2f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dev", type=Path, default=DEV_SET, help="the set the rules and exemplars were tuned on"
    )
    parser.add_argument("--heldout", type=Path, default=HELDOUT_SET, help="the old held-out set")
    parser.add_argument("--fresh", type=Path, default=FRESH_SET, help="the fresh held-out set")
    parser.add_argument(
        "--embed-model", type=Path, default=EMBED_MODEL, help="the MiniLM GGUF for the second layer"
    )
    parser.add_argument(
        "--tuned-model",
        type=Path,
        default=None,
        help="the tuned safety encoder (default: the one prepare-embedder wrote in models/)",
    )
    parser.add_argument(
        "--tuned-head",
        type=Path,
        default=None,
        help="the head over the tuned encoder (default: the shipped one)",
    )
    parser.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="embedding cache folder (as scripts/train_safety.py --cache); off by default",
    )
    parser.add_argument("--no-semantic", action="store_true", help="the rules alone")
    parser.add_argument(
        "--sweep", action="store_true", help="the exemplar check's grid on the dev set, then stop"
    )
    parser.add_argument(
        "--show-errors", action="store_true", help="print each missed or falsely flagged statement"
    )
    args = parser.parse_args(argv)

    sets = [
        (name, load_statements(path))
        for name, path in (
            ("old dev", args.dev),
            ("old held-out", args.heldout),
            ("fresh held-out", args.fresh),
            ("issue 14", ISSUE_SET),
        )
        if path.exists()
    ]
    screens: list[tuple[str, object]] = [("rules", None)]
    embedder = None
    extra_embedders: list = []
    if not args.no_semantic:
        if not args.embed_model.exists():
            print(
                f"{args.embed_model} is missing, so the rules alone are measured "
                "(fix: companion models prepare-embedder, or --embed-model PATH)",
                file=sys.stderr,
            )
        else:
            from train_coach import CachedEmbedder

            from companion.engines.tuned import find_tuned_encoder
            from companion.safety.semantic import TUNED_HEAD_FILE, SemanticScreen

            embedder = CachedEmbedder(args.embed_model, args.cache)
            screens += [
                ("rules + exemplars", SemanticScreen(embedder, head=None)),
                ("rules + trained", SemanticScreen(embedder)),
                ("rules + trained + exemplars", SemanticScreen(embedder, exemplars=True)),
            ]
            tuned_path = args.tuned_model or find_tuned_encoder("safety", [ROOT / "models"])
            tuned_head = args.tuned_head or TUNED_HEAD_FILE
            if tuned_path is not None and Path(tuned_path).is_file() and Path(tuned_head).is_file():
                tuned_embedder = CachedEmbedder(tuned_path, args.cache)
                extra_embedders.append(tuned_embedder)
                screens.append(("rules + tuned encoder", SemanticScreen(tuned_embedder, head=tuned_head)))
            else:
                print(
                    "the tuned safety encoder is not prepared, so its column is left out "
                    "(fix: companion models prepare-embedder)",
                    file=sys.stderr,
                )
    try:
        if args.sweep:
            if embedder is None:
                print("--sweep needs the embedder", file=sys.stderr)
                return 2
            print(sweep(sets[0][1], screens[1][1]))
            return 0
        lines = everyday_lines()
        if args.cache is not None:
            # Every segment embedded up front in one call, so the cache is written once, not per statement.
            from companion.safety.semantic import segments_of

            texts = [row["text"] for _, rows in sets for row in rows] + lines
            for each in (embedder, *extra_embedders):
                each.embed(sorted({seg for text in texts for seg in segments_of(text)}))
        results = [
            (set_name, screen_name, evaluate(rows, layer))
            for set_name, rows in sets
            for screen_name, layer in screens
        ]
        print(markdown_table(results))
        daily = [(screen_name, everyday_rates(lines, layer)) for screen_name, layer in screens]
        print()
        print(everyday_table(daily))
        if args.show_errors:
            for set_name, screen_name, result in results:
                print(f"\n{set_name}, {screen_name}:")
                for kind, text, detail in result["errors"]:
                    print(f"  {kind:<16} [{detail}] {text}")
            for screen_name, r in daily:
                print(f"\neveryday lines flagged, {screen_name}:")
                for level, line in r["flagged"]:
                    print(f"  {level:<9} {line}")
    finally:
        for each in (embedder, *extra_embedders):
            if each is not None:
                each.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
