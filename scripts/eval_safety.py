#!/usr/bin/env python3
"""Recall and false-positive rate of the safety screen on the labelled statements (tests/data/safety_statements.jsonl).

Splits, all written by us: "dev" (89) was written alongside the rules. Each "heldoutN" was written after the rules
were frozen and measured once before any rule changed; those first measurements are the honest figures for phrasing
the rules had never seen:

    split      n   crisis  recall at first sight  FPR at first sight
    heldout1  24   14      0.643 (9/14)           0.000 (0/10)
    heldout2  20   12      0.583 (7/12)           0.000 (0/8)
    heldout3  20   12      0.250 (3/12)           0.000 (0/8)

After each measurement the misses were studied and the rules generalised (not the sentences copied), so today every
split is "seen" and its current figure is no longer a held-out estimate.

Usage: scripts/eval_safety.py [--show-errors] [--split dev|heldout1|heldout2|heldout3|all]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from companion.safety import find_categories  # noqa: E402

DEFAULT_SET = ROOT / "tests" / "data" / "safety_statements.jsonl"


def load_statements(path: Path = DEFAULT_SET) -> list[dict]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            rows.append(json.loads(line))
    return rows


def evaluate(rows: list[dict]) -> dict:
    """Counts, recall, false-positive rate, category agreement and the misclassified rows for one split."""
    true_pos = false_neg = false_pos = true_neg = category_hits = 0
    errors = []
    per_category: Counter = Counter()
    per_category_hit: Counter = Counter()
    for row in rows:
        categories, _ = find_categories(row["text"])
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
        "recall": true_pos / positives if positives else float("nan"),
        "fpr": false_pos / negatives if negatives else float("nan"),
        "category_agreement": category_hits / true_pos if true_pos else float("nan"),
        "per_category": {c: (per_category_hit[c], per_category[c]) for c in sorted(per_category)},
        "errors": errors,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", type=Path, default=DEFAULT_SET, help="a JSONL file of labelled statements")
    parser.add_argument("--split", default="all", help="dev, heldout1, heldout2 or all")
    parser.add_argument("--show-errors", action="store_true", help="print each missed or falsely flagged statement")
    args = parser.parse_args(argv)
    rows = load_statements(args.set)
    present = list(dict.fromkeys(r.get("split", "dev") for r in rows))
    splits = present if args.split == "all" else [args.split]
    print(f"{'split':<9} {'n':>4} {'crisis':>7} {'other':>6} {'recall':>7} {'FPR':>6} {'category ok':>12}")
    results = {}
    for split in splits:
        subset = [r for r in rows if r.get("split", "dev") == split]
        if not subset:
            continue
        result = evaluate(subset)
        results[split] = result
        print(
            f"{split:<9} {result['n']:>4} {result['positives']:>7} {result['negatives']:>6} "
            f"{result['recall']:>7.3f} {result['fpr']:>6.3f} {result['category_agreement']:>12.3f}"
        )
    for split, result in results.items():
        print(f"\nrecall by category ({split}): " + ", ".join(
            f"{c} {hit}/{total}" for c, (hit, total) in result["per_category"].items()))
        if args.show_errors:
            for kind, text, detail in result["errors"]:
                print(f"  {kind:<12} [{detail}] {text}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
