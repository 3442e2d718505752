#!/usr/bin/env python3
"""How the built-in reflector's output compares with the PAIR study's high-, medium- and low-quality responses.

For each of the 318 PAIR prompts (Min et al. 2022, Apache-2.0) the reflector writes a reflection; we measure how
close it is to the two high-quality complex reflections (HQ), the simple reflection (MQ) and the five low-quality
responses (LQ), with two representations:
- MiniLM: cosine between sentence vectors from companion.guidance.embed.Embedder (models/all-MiniLM-L6-v2-f32.gguf);
- TF-IDF: cosine between word TF-IDF vectors fitted on all PAIR texts (no model needed; always reported).
For each: mean max-cosine to HQ, to MQ and to LQ, and the fraction of prompts where the output is closer to HQ than
to LQ. The same figures are given for reference systems: the study's own MQ and LQ responses, an echo of the prompt,
and a template that pastes the prompt into "It sounds like you feel that ...". If companion.rehearse.coach loads, the coach's
label distribution over the outputs is printed too.

Usage: scripts/eval_reflector.py [--csv PATH] [--limit N] [--no-embedder] [--show N]
"""

from __future__ import annotations

import argparse
import csv
import math
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from companion.listen.reflector import BuiltinReflector  # noqa: E402

DEFAULT_CSV = ROOT.parent / "shared" / "data" / "pair" / "pair_umich_long.csv"
DEFAULT_EMBEDDER = ROOT / "models" / "all-MiniLM-L6-v2-f32.gguf"


def load_pair(path: Path) -> list[dict]:
    """One row per prompt: prompt text, topic, hq (2), mq (1), lq (up to 5) responses."""
    prompts: dict[str, dict] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            entry = prompts.setdefault(
                row["prompt_id"],
                {
                    "id": row["prompt_id"],
                    "topic": row["topic"],
                    "prompt": row["prompt"],
                    "hq": [],
                    "mq": [],
                    "lq": [],
                },
            )
            entry[row["slot"][:2]].append(row["response"])
    return [p for p in prompts.values() if p["hq"] and p["lq"]]


# ---- representations -----------------------------------------------------------------------------------


class TfidfSpace:
    """Word TF-IDF fitted on a corpus; rows are L2-normalised so a dot product is a cosine."""

    def __init__(self, corpus: list[str]) -> None:
        docs = [self._tokens(t) for t in corpus]
        df: Counter = Counter()
        for tokens in docs:
            df.update(set(tokens))
        self.vocab = {w: i for i, w in enumerate(sorted(df))}
        n = len(docs)
        self.idf = np.array([math.log((1 + n) / (1 + df[w])) + 1.0 for w in sorted(df)], dtype=np.float32)

    @staticmethod
    def _tokens(text: str) -> list[str]:
        return re.findall(r"[a-z']+", text.lower())

    def embed(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), len(self.vocab)), dtype=np.float32)
        for row, text in enumerate(texts):
            for token, count in Counter(self._tokens(text)).items():
                col = self.vocab.get(token)
                if col is not None:
                    out[row, col] = count * self.idf[col]
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1, norms)


def _max_cos(vec: np.ndarray, refs: np.ndarray) -> float:
    return float(np.max(refs @ vec)) if len(refs) else float("nan")


def score_system(outputs: list[str], prompts: list[dict], embed, exclude_self: str | None = None) -> dict:
    """Mean max-cosine of each output to its prompt's HQ, MQ and LQ sets, and the fraction closer to HQ than LQ."""
    out_vecs = embed(outputs)
    hq_scores, mq_scores, lq_scores, wins, centroid_wins = [], [], [], [], []
    for vec, output, prompt in zip(out_vecs, outputs, prompts, strict=True):
        refs = {k: [r for r in prompt[k] if not (exclude_self and r == output)] for k in ("hq", "mq", "lq")}
        hq = _max_cos(vec, embed(refs["hq"])) if refs["hq"] else float("nan")
        mq = _max_cos(vec, embed(refs["mq"])) if refs["mq"] else float("nan")
        lq = _max_cos(vec, embed(refs["lq"])) if refs["lq"] else float("nan")
        hq_scores.append(hq)
        mq_scores.append(mq)
        lq_scores.append(lq)
        wins.append(1.0 if hq > lq else 0.0)
        # Max over 5 LQ answers vs 2 HQ favours LQ; the centroids compare the sets without that bias.
        if refs["hq"] and refs["lq"]:
            hq_centroid = embed(refs["hq"]).mean(axis=0)
            lq_centroid = embed(refs["lq"]).mean(axis=0)
            centroid_wins.append(1.0 if _cos(vec, hq_centroid) > _cos(vec, lq_centroid) else 0.0)
    return {
        "hq": float(np.nanmean(hq_scores)),
        "mq": float(np.nanmean(mq_scores)) if not np.all(np.isnan(mq_scores)) else float("nan"),
        "lq": float(np.nanmean(lq_scores)),
        "closer_to_hq": float(np.mean(wins)),
        "centroid_closer_to_hq": float(np.mean(centroid_wins)),
    }


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    denom = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b) / denom if denom else 0.0


def _cached(embed_fn):
    cache: dict[str, np.ndarray] = {}

    def embed(texts: list[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in cache]
        if missing:
            for text, vec in zip(missing, embed_fn(missing), strict=True):
                cache[text] = vec
        return np.stack([cache[t] for t in texts]) if texts else np.zeros((0, 1), dtype=np.float32)

    return embed


def strip_check(reflection: str) -> str:
    """The reflection without its closing check question, which the PAIR answers never have."""
    from companion.listen.lexicon import CHECKS

    for check in CHECKS:
        if reflection.endswith(check):
            return reflection[: -len(check)].strip()
    return reflection


def reference_systems(prompts: list[dict], outputs: list[str]) -> dict[str, tuple[list[str], str | None]]:
    """The reflector and the comparison points: (outputs, which set to drop the output from when scoring)."""
    return {
        "built-in reflector": (outputs, None),
        "study MQ (simple reflection)": ([p["mq"][0] if p["mq"] else "" for p in prompts], "self"),
        "study LQ1 (advice)": ([p["lq"][0] for p in prompts], "self"),
        "study HQ1 (vs HQ2 only)": ([p["hq"][0] for p in prompts], "self"),
        "echo of the prompt": ([p["prompt"] for p in prompts], None),
        "template + pasted prompt": ([f"It sounds like you feel that {p['prompt']}" for p in prompts], None),
    }


def print_table(title: str, rows: dict[str, dict]) -> None:
    print(f"\n{title}", flush=True)
    print(
        f"{'system':<30} {'max-cos HQ':>10} {'max-cos MQ':>10} {'max-cos LQ':>10} {'max: HQ>LQ':>10} "
        f"{'centroid: HQ>LQ':>15}"
    )
    for name, r in rows.items():
        print(
            f"{name:<30} {r['hq']:>10.3f} {r['mq']:>10.3f} {r['lq']:>10.3f} {r['closer_to_hq']:>10.1%} "
            f"{r['centroid_closer_to_hq']:>15.1%}",
            flush=True,
        )


def coach_distribution(outputs: list[str], prompts: list[dict], embedder) -> Counter | None:
    try:
        from companion.rehearse.coach import Coach
    except ImportError:
        return None
    try:
        coach = Coach(embedder)
        results = coach.assess_batch([(o, p["prompt"]) for o, p in zip(outputs, prompts, strict=True)])
    except Exception as exc:  # the coach is another engineer's module: report, do not crash the evaluation
        print(f"\ncoach not available: {type(exc).__name__}: {exc}")
        return None
    return Counter(f"{r.label}" + (f"/{r.subtype}" if r.subtype else "") for r in results)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--embedder", type=Path, default=DEFAULT_EMBEDDER)
    parser.add_argument("--no-embedder", action="store_true", help="TF-IDF only")
    parser.add_argument("--limit", type=int, default=0, help="only the first N prompts")
    parser.add_argument(
        "--sample", type=int, default=0, help="N prompts spread evenly over the file (all topics)"
    )
    parser.add_argument("--show", type=int, default=3, help="print N example outputs beside the study's HQ1")
    parser.add_argument(
        "--body-only",
        action="store_true",
        help='drop the closing check question ("Did I get that right?"): the study\'s answers have none',
    )
    parser.add_argument("--only-reflector", action="store_true", help="skip the reference systems (faster)")
    args = parser.parse_args(argv)

    prompts = load_pair(args.csv)
    if args.limit:
        prompts = prompts[: args.limit]
    if args.sample and args.sample < len(prompts):
        step = len(prompts) / args.sample
        prompts = [prompts[int(i * step)] for i in range(args.sample)]
    reflector = BuiltinReflector()
    results = [reflector.reflect(p["prompt"]) for p in prompts]
    outputs = [r.reflection for r in results]
    if args.body_only:
        outputs = [strip_check(o) for o in outputs]
    systems = reference_systems(prompts, outputs)
    if args.only_reflector:
        systems = {"built-in reflector" + (" (no check)" if args.body_only else ""): (outputs, None)}
    print(f"PAIR prompts: {len(prompts)}  (topics: {len({p['topic'] for p in prompts})})")
    print(
        f"reflector: {sum(1 for r in results if r.feelings)}/{len(results)} outputs name a feeling, "
        f"{sum(1 for r in results if r.needs)}/{len(results)} a need; "
        f"mean length {np.mean([len(o.split()) for o in outputs]):.1f} words"
    )

    corpus = [p["prompt"] for p in prompts] + [r for p in prompts for k in ("hq", "mq", "lq") for r in p[k]]
    tfidf = _cached(TfidfSpace(corpus + outputs).embed)
    print_table(
        "TF-IDF cosine (word overlap; no model)",
        {name: score_system(outs, prompts, tfidf, excl) for name, (outs, excl) in systems.items()},
    )

    embedder = None
    if not args.no_embedder:
        if not args.embedder.is_file():
            print(f"\nMiniLM embedder not found at {args.embedder}: run scripts/setup, then run this again.")
        else:
            try:
                from companion.guidance.embed import Embedder

                embedder = Embedder(args.embedder)
            except Exception as exc:  # a missing llama_cpp build must not hide the TF-IDF figures
                print(f"\nMiniLM embedder could not load: {type(exc).__name__}: {exc}")
    if embedder is not None:
        print("\nembedding with MiniLM (slow on a busy CPU)...", flush=True)
        minilm = _cached(lambda texts: embedder.embed(texts))
        print_table(
            "MiniLM cosine (all-MiniLM-L6-v2 sentence vectors)",
            {name: score_system(outs, prompts, minilm, excl) for name, (outs, excl) in systems.items()},
        )
        counts = coach_distribution(outputs, prompts, embedder)
        if counts is not None:
            total = sum(counts.values())
            print("\ncoach labels for the reflector's outputs")
            for label, n in counts.most_common():
                print(f"  {label:<32} {n:>4}  {n / total:6.1%}")
            study = (
                None
                if args.only_reflector
                else coach_distribution([p["hq"][0] for p in prompts], prompts, embedder)
            )
            if study:
                print("coach labels for the study's HQ1 (for reference)")
                for label, n in study.most_common():
                    print(f"  {label:<32} {n:>4}  {n / sum(study.values()):6.1%}")

    by_topic: dict[str, list[int]] = defaultdict(list)
    for i, p in enumerate(prompts):
        by_topic[p["topic"]].append(i)
    for example in range(min(args.show, len(prompts))):
        i = (example * 97) % len(prompts)
        print(f"\n[{prompts[i]['topic']}] {prompts[i]['prompt'][:200]}")
        print(f"  reflector: {outputs[i]}")
        print(f"  study HQ1: {prompts[i]['hq'][0]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
