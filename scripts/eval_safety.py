#!/usr/bin/env python3
"""Recall and false-positive rate of the safety screen, rules alone and rules + the semantic layer, as Markdown.

Two labelled files, all written by us:
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

Usage: scripts/eval_safety.py [--no-semantic] [--show-errors] [--sweep] [--embed-model PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from companion.safety.screen import CATEGORIES, find_categories  # noqa: E402

DEV_SET = ROOT / "tests" / "data" / "safety_statements.jsonl"
HELDOUT_SET = ROOT / "tests" / "data" / "safety_heldout.jsonl"
DEFAULT_SET = DEV_SET  # kept for callers of load_statements()
EMBED_MODEL = ROOT / "models" / "all-MiniLM-L6-v2-f32.gguf"
SHORT = {"suicide_self_harm": "suicide/self-harm", "child_danger": "child", "violence": "violence",
         "sexual_coercion": "sexual", "coercive_control": "control"}


def load_statements(path: Path = DEFAULT_SET) -> list[dict]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            rows.append(json.loads(line))
    return rows


def evaluate(rows: list[dict], semantic=None) -> dict:
    """Counts, recall (overall and per category), false-positive rate and the misclassified rows for one set.

    With `semantic` (a safety_semantic.SemanticScreen), a statement the rules did not flag goes to the layer,
    exactly as safety.screen(..., semantic=...) does.
    """
    true_pos = false_neg = false_pos = true_neg = category_hits = 0
    errors = []
    per_category: Counter = Counter()
    per_category_hit: Counter = Counter()
    for row in rows:
        categories, _ = find_categories(row["text"])
        if not categories and semantic is not None:
            categories = semantic.find_categories(row["text"])
        flagged = bool(categories)
        if row["label"] == "crisis":
            per_category[row["category"]] += 1
            if flagged:
                true_pos += 1
                per_category_hit[row["category"]] += 1
                if row.get("category") in categories:
                    category_hits += 1
            else:
                false_neg += 1
                errors.append(("missed", row["text"], row["category"]))
        else:
            if flagged:
                false_pos += 1
                errors.append(("false alarm", row["text"], ",".join(categories)))
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
        "recall": true_pos / positives if positives else float("nan"),
        "fpr": false_pos / negatives if negatives else float("nan"),
        "category_agreement": category_hits / true_pos if true_pos else float("nan"),
        "per_category": {c: (per_category_hit[c], per_category[c]) for c in CATEGORIES if per_category[c]},
        "errors": errors,
    }


def markdown_table(results: list[tuple[str, str, dict]]) -> str:
    """One row per (set, screen): recall, recall per category, FPR."""
    header = ["set", "screen", "recall", *(SHORT[c] for c in CATEGORIES), "FPR"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for set_name, screen_name, r in results:
        cells = [set_name, screen_name, f"{r['recall']:.3f} ({r['true_pos']}/{r['positives']})"]
        for c in CATEGORIES:
            hit, total = r["per_category"].get(c, (0, 0))
            cells.append(f"{hit}/{total}" if total else "-")
        cells.append(f"{r['fpr']:.3f} ({r['false_pos']}/{r['negatives']})")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def sweep(rows: list[dict], semantic) -> str:
    """On one set: the layer's own recall on its crises / the combined false-positive rate, per threshold and margin."""
    import numpy as np

    scored = [(row, bool(find_categories(row["text"])[0]), semantic.scores(row["text"])) for row in rows]
    positives = sum(row["label"] == "crisis" for row, _, _ in scored)
    negatives = len(scored) - positives
    margins = (-0.05, 0.0, 0.02, 0.04, 0.06, 0.08, 0.10, 0.12, 0.15)
    lines = ["cells: the layer's own recall on the crises / rules + layer false-positive rate",
             "| T | " + " | ".join(f"M={m:+.2f}" for m in margins) + " |", "|" + "---|" * (len(margins) + 1)]
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
    parser.add_argument("--dev", type=Path, default=DEV_SET, help="the set the layer was tuned on")
    parser.add_argument("--heldout", type=Path, default=HELDOUT_SET, help="the held-out set")
    parser.add_argument("--split", default="all", help="only this split of the dev set (dev, heldout1, ...)")
    parser.add_argument("--embed-model", type=Path, default=EMBED_MODEL, help="the MiniLM GGUF for the semantic layer")
    parser.add_argument("--no-semantic", action="store_true", help="the rules alone")
    parser.add_argument("--sweep", action="store_true", help="the threshold/margin grid on the dev set, then stop")
    parser.add_argument("--show-errors", action="store_true", help="print each missed or falsely flagged statement")
    args = parser.parse_args(argv)

    dev = load_statements(args.dev)
    if args.split != "all":
        dev = [r for r in dev if r.get("split", "dev") == args.split]
    sets = [("dev", dev)]
    if args.heldout.exists():
        sets.append(("held-out", load_statements(args.heldout)))

    semantic = embedder = None
    if not args.no_semantic:
        if not args.embed_model.exists():
            print(f"{args.embed_model} is missing, so the rules alone are measured "
                  "(fix: companion models prepare-embedder, or --embed-model PATH)", file=sys.stderr)
        else:
            from companion.guidance.embed import Embedder
            from companion.safety.semantic import SemanticScreen

            embedder = Embedder(args.embed_model, n_threads=int(os.environ.get("COMPANION_THREADS", "0")) or None)
            semantic = SemanticScreen(embedder)
    try:
        if args.sweep:
            if semantic is None:
                print("--sweep needs the embedder", file=sys.stderr)
                return 2
            print(sweep(dev, semantic))
            return 0
        results = []
        for set_name, rows in sets:
            results.append((set_name, "rules", evaluate(rows)))
            if semantic is not None:
                results.append((set_name, f"rules + semantic (T={semantic.threshold}, M={semantic.margin})",
                                evaluate(rows, semantic)))
        print(markdown_table(results))
        if args.show_errors:
            for set_name, screen_name, result in results:
                print(f"\n{set_name}, {screen_name}:")
                for kind, text, detail in result["errors"]:
                    print(f"  {kind:<12} [{detail}] {text}")
    finally:
        if embedder is not None:
            embedder.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
