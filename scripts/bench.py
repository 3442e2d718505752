#!/usr/bin/env python3
"""Benchmarks, one subcommand per area; each prints a table measured in one run on this machine.

    .venv/bin/python scripts/bench.py search [--repeat N] [--embed-model PATH]

Tests never assert on time; these numbers go in notes and are compared as ratios within one run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Realistic things a person types; written for the benchmark, mixed short and long.
SEARCH_QUERIES = (
    "I feel like you never listen to me",
    "how do I bring up the chores without a fight",
    "he shuts down and goes quiet when we argue",
    "gentle start-up",
    "what should I say instead of giving advice",
    "we never have time for each other since the baby",
    "she says I'm always on my phone",
    "how to apologise after saying something hurtful",
    "I don't trust him since he hid the debt",
    "how do I tell her I'm scared she'll leave",
    "thank my partner for the things they do",
    "repair attempts",
    "my wife says I am defensive every time she complains about something small at home",
    "patience",
)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low, high = int(position), min(int(position) + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def print_table(title: str, header: tuple[str, ...], rows: list[tuple]) -> None:
    cells = [tuple(str(c) for c in header)] + [tuple(str(c) for c in row) for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    print(f"\n{title}")
    for n, row in enumerate(cells):
        print("  ".join(cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row)))
        if n == 0:
            print("  ".join("-" * w for w in widths))


def bench_search(args: argparse.Namespace) -> int:
    os.environ["ANONYMIZED_TELEMETRY"] = "False"
    from companion.config import Settings
    from companion.embed import Embedder
    from companion.index import GuidanceIndex
    from companion.knowledge import KnowledgeBase
    from companion.runtime import load_llama

    model = Path(args.embed_model) if args.embed_model else Settings(home=ROOT).resolved_embed_model
    if model is None or not model.is_file():
        print("bench: the embedder is missing. Fix: companion models prepare-embedder", file=sys.stderr)
        return 2
    threads = args.threads
    with tempfile.TemporaryDirectory(prefix="companion-bench-") as home:
        settings = Settings(home=Path(home))
        started = time.perf_counter()
        sections = KnowledgeBase(settings).sections()
        read_seconds = time.perf_counter() - started

        started = time.perf_counter()
        embedder = Embedder(model, n_threads=threads)
        load_seconds = time.perf_counter() - started

        started = time.perf_counter()
        index = GuidanceIndex(settings.index_dir, embedder)
        build = index.refresh(sections)
        build_seconds = time.perf_counter() - started

        noop_runs = []
        for _ in range(5):
            started = time.perf_counter()
            report = index.refresh(KnowledgeBase(settings).sections())  # what `companion index` does: read + diff
            noop_runs.append(time.perf_counter() - started)
            assert report.embedded == 0, "a no-op refresh embedded something"

        # The floor: a raw llama_cpp embedder and a raw Chroma query on the same collection, same threads.
        raw_llama = load_llama(model, what="embedding model", embedding=True, n_ctx=512, n_batch=512,
                               n_ubatch=512, n_threads=threads, n_threads_batch=threads)
        collection = index._collection
        k = args.k

        def floor_search(query: str):
            vector = raw_llama.embed(query)
            return collection.query(query_embeddings=[vector], n_results=k)

        def ours(query: str):
            return index.search(query, k=k)

        for query in SEARCH_QUERIES[:3]:  # warm both paths (first calls allocate buffers)
            floor_search(query)
            ours(query)
        ours_times: list[float] = []
        floor_times: list[float] = []
        for _ in range(args.repeat):
            for query in SEARCH_QUERIES:
                # Interleaved, so a busy moment on a shared machine hits both sides alike.
                started = time.perf_counter()
                floor_search(query)
                floor_times.append(time.perf_counter() - started)
                started = time.perf_counter()
                ours(query)
                ours_times.append(time.perf_counter() - started)
        raw_llama.close()
        index.close()
        embedder.close()

    ms = 1000.0
    print_table(
        f"search benchmark: {len(sections)} bundled sections, embedder {model.name}, threads {threads or 'auto'}",
        ("step", "time"),
        [
            ("read + split knowledge files", f"{read_seconds * ms:.1f} ms"),
            ("load embedder", f"{load_seconds * ms:.0f} ms"),
            (f"index build ({build.added} sections embedded)", f"{build_seconds * ms:.0f} ms"),
            ("no-op refresh p50 (read files + diff, 0 embedded)", f"{statistics.median(noop_runs) * ms:.1f} ms"),
        ],
    )
    rows = []
    for name, values in (("companion search (end to end)", ours_times), ("floor: raw embed + raw chroma", floor_times)):
        rows.append((name, len(values), f"{percentile(values, 0.5) * ms:.2f}", f"{percentile(values, 0.95) * ms:.2f}"))
    p50_ratio = percentile(ours_times, 0.5) / percentile(floor_times, 0.5)
    p95_ratio = percentile(ours_times, 0.95) / percentile(floor_times, 0.95)
    rows.append(("ratio (ours / floor)", "", f"{p50_ratio:.2f}x", f"{p95_ratio:.2f}x"))
    print_table(f"search latency, k={k}, {len(SEARCH_QUERIES)} queries x {args.repeat}", ("path", "n", "p50 ms", "p95 ms"),
                rows)
    print(f"\ntarget: p50 within 1.5x of the floor -> {'met' if p50_ratio <= 1.5 else 'NOT met'} ({p50_ratio:.2f}x)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.py", description="companion benchmarks (one table per area)")
    areas = parser.add_subparsers(dest="area", metavar="AREA", required=True)
    search = areas.add_parser("search", help="index build, no-op refresh, search latency against the floor")
    search.add_argument("--repeat", type=int, default=10, help="rounds over the query set (default 10)")
    search.add_argument("-k", type=int, default=5, help="results per search (default 5)")
    search.add_argument("--threads", type=int, default=None, help="llama.cpp threads (default: auto)")
    search.add_argument("--embed-model", help="embedder GGUF (default: the prepared all-MiniLM-L6-v2)")
    search.set_defaults(func=bench_search)
    # Other areas (startup, reflect) register their own subparsers here.
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
