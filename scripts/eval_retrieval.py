"""Ranking within one document and fairness to a person's own document, on the query sets in training/retrieval/.

Run: .venv/bin/python scripts/eval_retrieval.py [--split dev|held-out|all]
The query sets were written before any tuning; tune on dev, report held-out. Uses the real MiniLM embedder and a
real Chroma index of the bundled guidance plus the shared article added as the person's document.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ARTICLE = ROOT.parent / "shared" / "guidance" / "emotional-intimacy-article.txt"
QUERIES = ROOT / "training" / "retrieval"
# Each document's query sets: the first 24 and the 36 written after them (both before any tuning).
SETS = {
    "article": (
        "documents/emotional-intimacy-article.txt",
        (QUERIES / "article_queries.jsonl", QUERIES / "article_queries_more.jsonl"),
    ),
    "conflict": (
        "conflict-resolution.md",
        (QUERIES / "conflict_queries.jsonl", QUERIES / "conflict_queries_more.jsonl"),
    ),
}


def load_queries(paths: tuple[Path, ...], split: str) -> list[dict]:
    rows = [
        json.loads(line)
        for path in paths
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    return [row for row in rows if split == "all" or row["split"] == split]


def ranks(index, query: str, source: str, scorer) -> list[str]:
    """Headings of one document's sections, best first, under a scoring function of (dense, match)."""
    from companion.guidance.search import QueryTerms

    hits = index.search(query, k=1000, within=source)
    lexical = index._lexical_index()
    matches = lexical.match(QueryTerms.parse(query))
    scored = []
    for hit in hits:
        position = lexical.by_id[hit.section.id]
        scored.append((scorer(hit.dense, matches.get(position)), -hit.section.position, hit.section.heading))
    scored.sort(reverse=True)
    return [heading for *_, heading in scored]


def main(argv: list[str] | None = None) -> int:
    from companion.config import Settings
    from companion.engines.tuned import search_embed_model
    from companion.guidance.embed import Embedder
    from companion.guidance.index import GuidanceIndex
    from companion.guidance.knowledge import KnowledgeBase, load_document
    from companion.guidance.search import fused_score

    parser = argparse.ArgumentParser()
    parser.add_argument("--split", default="dev", choices=("dev", "held-out", "all"))
    parser.add_argument(
        "--embed-model",
        type=Path,
        default=None,
        help="the GGUF embedder (default: the one the app searches with)",
    )
    args = parser.parse_args(argv)
    settings = Settings.load()
    embed_model = args.embed_model or search_embed_model(settings)
    print(f"embedder: {embed_model.name}")
    sections = KnowledgeBase(Settings(home=Path("/nonexistent-home"))).sections()
    sections += list(load_document(ARTICLE, source=SETS["article"][0]).sections)
    scorers = {
        "dense only": lambda dense, match: dense,
        "hybrid (shipped)": fused_score,
    }
    with Embedder(embed_model) as embedder, tempfile.TemporaryDirectory() as folder:
        index = GuidanceIndex(Path(folder) / "index", embedder)
        index.refresh(sections)
        print(f"Ranking within one document ({args.split} queries): expected section first / in the top 3")
        for name, (source, path) in SETS.items():
            queries = load_queries(path, args.split)
            for label, scorer in scorers.items():
                first = top3 = 0
                misses = []
                for row in queries:
                    order = ranks(index, row["query"], source, scorer)
                    rank = order.index(row["expected"]) + 1 if row["expected"] in order else 99
                    first += rank == 1
                    top3 += rank <= 3
                    if rank > 1:
                        misses.append(f"{rank}: {row['query']} -> {order[0]}")
                print(
                    f"  {name:<9} {label:<18} first {first}/{len(queries)} ({100 * first / len(queries):.0f}%)"
                    f"  top-3 {top3}/{len(queries)} ({100 * top3 / len(queries):.0f}%)"
                )
                for miss in misses:
                    print(f"      {miss}")
        source, path = SETS["article"]
        queries = load_queries(path, args.split)
        print(f"\nThe article beside the bundled guidance, no filter ({args.split} queries)")
        for k in (5, 12):
            any_hit = expected = 0
            for row in queries:
                hits = index.search(row["query"], k=k)
                ours = [hit for hit in hits if hit.section.source == source]
                any_hit += bool(ours)
                expected += any(hit.section.heading == row["expected"] for hit in ours)
            kept = 0
            conflict = load_queries(SETS["conflict"][1], args.split)
            for row in conflict:
                kept += any(
                    hit.section.heading == row["expected"] and hit.section.source == SETS["conflict"][0]
                    for hit in index.search(row["query"], k=k)
                )
            print(
                f"  top {k:>2}: an article section for {any_hit}/{len(queries)}, "
                f"the expected one for {expected}/{len(queries)}; bundled conflict queries still find "
                f"their section {kept}/{len(conflict)}"
            )
        index.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
