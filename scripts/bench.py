#!/usr/bin/env python3
"""Benchmarks, one subcommand per area; each prints a table measured in one run on this machine.

    .venv/bin/python scripts/bench.py search [--repeat N] [--embed-model PATH]
    .venv/bin/python scripts/bench.py reflect [--rounds N] [--model PATH]
    .venv/bin/python scripts/bench.py kdf [--runs N] [--turns N]
    .venv/bin/python scripts/bench.py coach [--lines N]
    .venv/bin/python scripts/bench.py server [--rounds N] [--clients N] [--model PATH]

Tests never assert on time; these numbers go in notes and are compared as ratios within one run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import threading
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


# Everyday questions and the guidance headings that answer them (any one counts); written for this benchmark.
LABELLED_QUERIES = (
    ("I feel like you never listen to me", {"Active listening", "Not interrupting", "Checking understanding"}),
    ("how do I bring up something that bothers me without starting a fight",
     {"Gentle start-up", "I-statements", "Complaint without blame"}),
    ("he goes silent and walks away whenever we argue", {"Stonewalling and its antidote", "Taking a break"}),
    ("how do we make up after a bad argument", {"Repair attempts"}),
    ("she keeps trying to get my attention and I miss it",
     {"Bids for connection", "Turning toward", "Turning away and turning against"}),
    ("how to say what I heard back to her in my own words",
     {"Reflecting the content", "Reflecting the feeling", "Simple and complex reflections"}),
    ("I want to tell him about my fears but I'm scared", {"Sharing vulnerabilities", "Starting small"}),
    ("what should I say instead of giving advice", {"Not fixing"}),
    ("we never have time for each other since the baby",
     {"Making time for each other", "Protecting time during busy seasons"}),
    ("he rolls his eyes and mocks me when I'm upset", {"Contempt and its antidote", "The four horsemen"}),
    ("every time I raise a problem she makes excuses", {"Defensiveness and its antidote", "The four horsemen"}),
    ("he hid money from me and I don't trust him now", {"Repairing broken trust"}),
    ("how can I show my partner I notice what they do", {"Showing appreciation", "Being specific"}),
    ("I need to calm down before we keep talking", {"Taking a break", "Stonewalling and its antidote"}),
    ("how do I name the emotion behind what she's saying", {"Reflecting the feeling"}),
    ("what does he actually need underneath the complaint", {"Reflecting the need"}),
    ("phrases to start a reflection without sounding too sure", {"Tentative stems"}),
    ("how do I check that I understood her right", {"Checking understanding"}),
    ("I keep cutting her off mid-sentence", {"Not interrupting"}),
    ("we feel like strangers sharing a house",
     {"What emotional intimacy is", "Turning away and turning against", "Intimacy is built in small moments"}),
    ("she opened up about her childhood, how should I respond", {"Receiving your partner's vulnerability"}),
    ("he always says he'll call and then doesn't", {"Small promises kept"}),
    ("I'm too tired to talk tonight but don't want to shut her out",
     {"Saying when you can't talk now", "Being emotionally available"}),
    ("we're going through a hard time since my mum died", {"Compassion in hard seasons"}),
    ("he attacks my character instead of what I did", {"Criticism and its antidote", "The four horsemen"}),
    ("helping her see that her feelings make sense", {"Validation"}),
    ("we can't agree on where to spend the holidays", {"Finding a compromise"}),
    ("little daily habits that keep us close", {"Rituals of connection", "Intimacy is built in small moments"}),
)  # fmt: skip


def ranking_quality(
    index, lexical_weight: float, heading_weight: float, dense_on: bool = True
) -> tuple[float, float]:
    """Top-1 and top-3 hit rates on LABELLED_QUERIES for one weighting of the signals."""
    from companion.guidance.search import QueryTerms

    lexical = index._lexical_index()
    count = len(lexical)
    top1 = top3 = 0
    for query, expected in LABELLED_QUERIES:
        found = index._collection.query(
            query_embeddings=index.embedder.embed([query]), n_results=count, include=["distances"]
        )
        dense = {
            lexical.by_id[i]: 1.0 - d for i, d in zip(found["ids"][0], found["distances"][0], strict=True)
        }
        matches = lexical.match(QueryTerms.parse(query))
        scores = []
        for position in range(count):
            match = matches.get(position)
            score = dense.get(position, 0.0) if dense_on else 0.0
            if match:
                score += lexical_weight * match.lexical + heading_weight * match.heading
            scores.append((score, position))
        ranked = [lexical.sections[p].heading for _, p in sorted(scores, reverse=True)]
        top1 += ranked[0] in expected
        top3 += bool(expected & set(ranked[:3]))
    return top1 / len(LABELLED_QUERIES), top3 / len(LABELLED_QUERIES)


def on_compute(fn, *args, **kwargs):
    """fn on the process's one llama.cpp thread, where the app's own models compute (compute_thread.py says
    why): a raw call on any other thread would start a second OpenMP team and slow both sides."""
    from companion.engines.compute_thread import compute_thread

    return compute_thread().run(lambda: fn(*args, **kwargs))


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
        print(
            "  ".join(
                cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row)
            )
        )
        if n == 0:
            print("  ".join("-" * w for w in widths))


def bench_search(args: argparse.Namespace) -> int:
    os.environ["ANONYMIZED_TELEMETRY"] = "False"
    from companion.config import Settings
    from companion.engines.tuned import search_embed_model  # the embedder guidance search runs
    from companion.guidance.embed import Embedder
    from companion.guidance.index import GuidanceIndex
    from companion.guidance.knowledge import KnowledgeBase

    model = Path(args.embed_model) if args.embed_model else search_embed_model(Settings(home=ROOT))
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
            report = index.refresh(
                KnowledgeBase(settings).sections()
            )  # what `companion index` does: read + diff
            noop_runs.append(time.perf_counter() - started)
            assert report.embedded == 0, "a no-op refresh embedded something"

        # The floor: the raw llama_cpp call on the very same loaded model, and a raw Chroma query on the same
        # collection returning only ids and distances; no truncation, normalising, word matching or fusion.
        raw_llama = embedder._llm
        collection = index._collection
        k = args.k

        def floor_search(query: str):
            vector = on_compute(raw_llama.embed, query)
            return collection.query(query_embeddings=[vector], n_results=k, include=["distances"])

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
        from companion.guidance.search import HEADING_WEIGHT, LEXICAL_WEIGHT

        quality_rows = []
        for label, weights, dense_on in (
            ("dense only (MiniLM cosine)", (0.0, 0.0), True),
            ("words only (BM25 + heading)", (1.0, 0.8), False),
            (
                f"fused, shipped (+{LEXICAL_WEIGHT} words, +{HEADING_WEIGHT} heading)",
                (LEXICAL_WEIGHT, HEADING_WEIGHT),
                True,
            ),
            ("fused, words x0.5", (0.5 * LEXICAL_WEIGHT, 0.5 * HEADING_WEIGHT), True),
            ("fused, words x1.5", (1.5 * LEXICAL_WEIGHT, 1.5 * HEADING_WEIGHT), True),
            ("fused, words x2", (2 * LEXICAL_WEIGHT, 2 * HEADING_WEIGHT), True),
            ("fused, words x3", (3 * LEXICAL_WEIGHT, 3 * HEADING_WEIGHT), True),
            ("fused, text words only (no heading bonus)", (LEXICAL_WEIGHT, 0.0), True),
        ):
            top1, top3 = ranking_quality(index, *weights, dense_on=dense_on)
            quality_rows.append((label, f"{top1:.0%}", f"{top3:.0%}"))
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
            (
                "no-op refresh p50 (read files + diff, 0 embedded)",
                f"{statistics.median(noop_runs) * ms:.1f} ms",
            ),
        ],
    )
    rows = []
    for name, values in (
        ("companion search (end to end)", ours_times),
        ("floor: raw embed + raw chroma", floor_times),
    ):
        rows.append(
            (name, len(values), f"{percentile(values, 0.5) * ms:.2f}", f"{percentile(values, 0.95) * ms:.2f}")
        )
    p50_ratio = percentile(ours_times, 0.5) / percentile(floor_times, 0.5)
    p95_ratio = percentile(ours_times, 0.95) / percentile(floor_times, 0.95)
    rows.append(("ratio (ours / floor)", "", f"{p50_ratio:.2f}x", f"{p95_ratio:.2f}x"))
    print_table(
        f"search latency, k={k}, {len(SEARCH_QUERIES)} queries x {args.repeat}",
        ("path", "n", "p50 ms", "p95 ms"),
        rows,
    )
    print_table(
        f"ranking quality on {len(LABELLED_QUERIES)} labelled everyday questions (bundled guidance)",
        ("ranking", "top-1", "top-3"),
        quality_rows,
    )
    print(
        f"\ntarget: p50 within 1.5x of the floor -> {'met' if p50_ratio <= 1.5 else 'NOT met'} ({p50_ratio:.2f}x)"
    )
    return 0


# ---- reflect ---------------------------------------------------------------------------------------------

BENCH_MODEL = ROOT / "models" / "bench" / "qwen2.5-0.5b-shape-q4_k_m.gguf"
FIRST_STATEMENT = "You never make time for me anymore. Work always comes first and I end up eating alone."
LISTENER_STATEMENT = "You promised you'd stop working weekends."
SECOND_STATEMENT = (
    "When I tell you about my day you look at your phone, and I feel like I'm talking to a wall."
)


class FixedRetriever:
    """Returns the same guidance sections for every query, so both paths see one prompt."""

    def __init__(self, sections) -> None:
        self.sections = list(sections)

    def search(self, query: str, k: int = 5):
        return self.sections[:k]


def _guidance_sections():
    from companion.config import Settings
    from companion.guidance.knowledge import KnowledgeBase

    with tempfile.TemporaryDirectory() as home:
        sections = KnowledgeBase(Settings(home=Path(home))).sections()
    listening = [s for s in sections if "listen" in s.source.lower()]
    others = [s for s in sections if s not in listening]
    return listening[:3], others[:3]


def _engine_run(engine, statement: str, *, first_token_only: bool = False) -> dict:
    """One reflection through the engine; times its first model draft from the call to its last token
    (or, with first_token_only, cancels right after the first token: a time-to-first-token probe)."""
    stamps: list[float] = []
    cancel = threading.Event()
    measured: dict = {"stats": None}

    def on_token(piece: str) -> None:
        if not cancel.is_set():
            stamps.append(time.perf_counter())
            if first_token_only:
                cancel.set()

    def on_discard(reason: str) -> None:
        # One draft is what we measure (the random-weight model never passes the checks); no retry.
        measured["stats"] = engine.chat_model.last_stats
        cancel.set()

    started = time.perf_counter()
    engine.reflect(statement, on_token=on_token, cancel=cancel, on_discard=on_discard)
    if measured["stats"] is None:
        measured["stats"] = engine.chat_model.last_stats
    if first_token_only:
        print(f"  ttft {stamps[0] - started if stamps else float('nan'):.3f}s", flush=True)
    return _timing(started, stamps) | measured


def _raw_run(
    llm, messages, *, max_tokens: int, temperature: float, top_p: float, repeat_penalty: float, seed: int
) -> dict:
    stamps: list[float] = []
    started = time.perf_counter()
    for chunk in llm.create_chat_completion(
        messages=messages,
        stream=True,
        max_tokens=max_tokens,
        temperature=temperature,
        top_p=top_p,
        repeat_penalty=repeat_penalty,
        seed=seed,
    ):
        if chunk["choices"][0].get("delta", {}).get("content"):
            stamps.append(time.perf_counter())
    return _timing(started, stamps)


def _timing(started: float, stamps: list[float]) -> dict:
    if not stamps:
        return {"ttft": float("nan"), "tps": float("nan"), "tokens": 0}
    decode = stamps[-1] - stamps[0]
    return {
        "ttft": stamps[0] - started,
        "tps": (len(stamps) - 1) / decode if decode > 0 else float("nan"),
        "tokens": len(stamps),
    }


def _engine_vs_raw_rows(engine_runs, raw_runs, *, ttft_label: str, ttft_target: str) -> list[list[str]]:
    """Medians of the engine's runs against raw llama_cpp's: first token, decode speed, tokens."""

    def med(runs, key):
        return statistics.median(r[key] for r in runs)

    return [
        [
            ttft_label,
            f"{med(engine_runs, 'ttft'):.3f}",
            f"{med(raw_runs, 'ttft'):.3f}",
            f"{med(engine_runs, 'ttft') / med(raw_runs, 'ttft'):.2f}x",
            ttft_target,
        ],
        [
            "decode tokens/s",
            f"{med(engine_runs, 'tps'):.1f}",
            f"{med(raw_runs, 'tps'):.1f}",
            f"{med(engine_runs, 'tps') / med(raw_runs, 'tps'):.3f}x",
            ">= 0.95x",
        ],
        ["tokens generated", f"{med(engine_runs, 'tokens'):.0f}", f"{med(raw_runs, 'tokens'):.0f}", "", ""],
    ]


def bench_reflect(args: argparse.Namespace) -> int:
    from companion.engines import runtime
    from companion.engines.llm import ChatModel
    from companion.listen import reflect as reflect_module
    from companion.listen.prompts import build_reflection_messages
    from companion.listen.reflect import ReflectionEngine

    model_path = Path(args.model) if args.model else BENCH_MODEL
    if not model_path.is_file():
        print(f"{model_path} is missing: run .venv/bin/python scripts/make_bench_model.py", file=sys.stderr)
        return 2
    threads = args.threads
    log_dir = Path(tempfile.mkdtemp(prefix="companion-bench-"))
    runtime.route_llama_logs(log_dir / "llama.log")
    listening, other = _guidance_sections()

    chat = ChatModel(
        model_path, n_ctx=args.n_ctx, n_threads=threads, n_gpu_layers=0, log_file=log_dir / "llama.log"
    )
    raw = runtime.load_llama(model_path, n_ctx=args.n_ctx, n_threads=threads, n_gpu_layers=0, seed=chat._seed)
    engine = ReflectionEngine(retriever=FixedRetriever(listening), chat_model=chat, stop_early=False)
    reflect_module.MODEL_MAX_TOKENS = args.tokens  # the engine reads it per request
    sampling = {
        "max_tokens": args.tokens,
        "temperature": reflect_module.MODEL_TEMPERATURE,
        "top_p": 0.9,
        "repeat_penalty": 1.1,
        "seed": chat._seed,
    }
    # The engine's own prompt for the statement, handed unchanged to raw llama_cpp.
    first_messages = build_reflection_messages(reflect_module.clean_statement(FIRST_STATEMENT), listening)

    # Warm both (page the weights in) before anything is timed.
    chat.complete(first_messages, max_tokens=4)
    on_compute(raw.create_chat_completion, messages=first_messages, max_tokens=4)

    cold_engine, cold_raw, warm_same, warm_other, cold_second = [], [], [], [], []
    for round_number in range(args.rounds):
        print(f"round {round_number + 1}/{args.rounds}", flush=True)
        # Side by side, both from an empty KV cache: the engine path against raw create_chat_completion.
        raw.reset()
        cold_raw.append(on_compute(_raw_run, raw, first_messages, **sampling))
        chat.forget_prefix()
        cold_engine.append(_engine_run(engine, FIRST_STATEMENT))
        print(
            f"  cold ttft raw {cold_raw[-1]['ttft']:.3f}s engine {cold_engine[-1]['ttft']:.3f}s; "
            f"raw {cold_raw[-1]['tps']:.1f} tok/s ({cold_raw[-1]['tokens']}), "
            f"engine {cold_engine[-1]['tps']:.1f} tok/s ({cold_engine[-1]['tokens']})",
            flush=True,
        )
        # Second request right after the first: the system prompt (and here the guidance) is reused.
        warm_same.append(_engine_run(engine, SECOND_STATEMENT, first_token_only=True))
        # Second request without reuse: the same statement from an empty cache.
        chat.forget_prefix()
        cold_second.append(_engine_run(engine, SECOND_STATEMENT, first_token_only=True))
        # Second request whose guidance differs: only the system prompt is shared.
        chat.forget_prefix()
        _engine_run(engine, FIRST_STATEMENT, first_token_only=True)
        engine.retriever = FixedRetriever(other)
        warm_other.append(_engine_run(engine, SECOND_STATEMENT, first_token_only=True))
        engine.retriever = FixedRetriever(listening)

    def med(runs, key):
        return statistics.median(r[key] for r in runs)

    rows = _engine_vs_raw_rows(
        cold_engine, cold_raw, ttft_label="time to first token, cold (s)", ttft_target="-"
    )
    print(f"model {model_path.name}, {threads or 'default'} threads, {args.rounds} rounds (medians)")
    print_table(
        "Reflection engine vs raw llama_cpp create_chat_completion (same model, prompt, sampling)",
        ("measure", "engine", "raw", "ratio", "target"),
        rows,
    )

    def evaluated(runs):
        values = [r["stats"].prompt_tokens_evaluated for r in runs if r["stats"] is not None]
        totals = [r["stats"].prompt_tokens for r in runs if r["stats"] is not None]
        return f"{statistics.median(values):.0f}/{statistics.median(totals):.0f}" if values else "?"

    cold_ttft = med(cold_second, "ttft")
    rows = [
        [
            "second request, no reuse (cache emptied)",
            f"{cold_ttft:.3f}",
            evaluated(cold_second),
            "1.00x",
            "-",
        ],
        [
            "second request, same guidance, prefix reused",
            f"{med(warm_same, 'ttft'):.3f}",
            evaluated(warm_same),
            f"{med(warm_same, 'ttft') / cold_ttft:.2f}x",
            "<= 0.5x",
        ],
        [
            "second request, other guidance, prefix reused",
            f"{med(warm_other, 'ttft'):.3f}",
            evaluated(warm_other),
            f"{med(warm_other, 'ttft') / cold_ttft:.2f}x",
            "<= 0.5x",
        ],
    ]
    print_table(
        "Second request time to first token (engine level)",
        ("case", "TTFT (s)", "prompt tokens evaluated/total", "vs no reuse", "target"),
        rows,
    )
    chat.close()
    raw.close()
    return 0


def add_reflect_parser(subparsers) -> None:
    parser = subparsers.add_parser("reflect", help="the reflection engine's model path against raw llama_cpp")
    parser.add_argument("--model", help=f"a GGUF chat model (default {BENCH_MODEL.relative_to(ROOT)})")
    parser.add_argument("--rounds", type=int, default=3, help="measured rounds; medians are reported")
    parser.add_argument(
        "--threads", type=int, default=None, help="llama.cpp threads (default: its own choice)"
    )
    parser.add_argument("--n-ctx", type=int, default=2048)
    parser.add_argument("--tokens", type=int, default=64, help="tokens generated per throughput run")
    parser.set_defaults(func=bench_reflect)


# ---- kdf: journal key derivation and per-turn save time (issue 6) ------------------------------------------


def bench_listener(args: argparse.Namespace) -> int:
    import resource
    import subprocess as sp

    from companion.config import LISTENER_ADAPTER_PATH, LISTENER_BASE_FILE
    from companion.engines import runtime
    from companion.engines.listener import merge_listener
    from companion.engines.llm import ChatModel
    from companion.listen.prompts import build_listener_messages
    from companion.listen.reflect import (
        LISTENER_MAX_TOKENS,
        LISTENER_TEMPERATURES,
        ReflectionEngine,
        clean_statement,
    )
    from companion.listen.review import DraftReview

    base, adapter = ROOT / "models" / LISTENER_BASE_FILE, LISTENER_ADAPTER_PATH
    if not base.is_file() or not adapter.is_file():
        print("the listener is not prepared: run scripts/setup", file=sys.stderr)
        return 2
    threads = args.threads
    log_dir = Path(tempfile.mkdtemp(prefix="companion-bench-"))
    runtime.route_llama_logs(log_dir / "llama.log")
    merged = merge_listener(base, adapter, log_dir / "listener-merged.gguf")
    statement = clean_statement(LISTENER_STATEMENT)
    messages = build_listener_messages(statement)
    sampling = {
        "max_tokens": LISTENER_MAX_TOKENS,
        "temperature": LISTENER_TEMPERATURES[0],
        "top_p": 0.9,
        "repeat_penalty": 1.1,
        "seed": 20240611,
    }

    # The engine runs what the app runs (setup's merge); raw llama_cpp runs the same file, and base + adapter
    # applied at run time is the other way the app could run it.
    chat = ChatModel(
        merged,
        n_ctx=1024,
        n_threads=threads,
        n_gpu_layers=0,
        engine="listener",
        log_file=log_dir / "llama.log",
    )
    engine = ReflectionEngine(chat_model=chat, stop_early=False, review=DraftReview())
    raw = runtime.load_llama(merged, n_ctx=1024, n_threads=threads, n_gpu_layers=0, seed=20240611)
    raw_adapter = runtime.load_llama(
        base, n_ctx=1024, n_threads=threads, n_gpu_layers=0, seed=20240611, adapter_path=adapter
    )
    for llm in (raw, raw_adapter):
        on_compute(llm.create_chat_completion, messages=messages, max_tokens=4)  # page the weights in first
    chat.complete(messages, max_tokens=4)

    engine_runs, raw_runs, adapter_runs = [], [], []
    for round_number in range(args.rounds):
        raw.reset()
        raw_runs.append(on_compute(_raw_run, raw, messages, **sampling))
        raw_adapter.reset()
        adapter_runs.append(on_compute(_raw_run, raw_adapter, messages, **sampling))
        chat.forget_prefix()
        engine_runs.append(_engine_run(engine, LISTENER_STATEMENT))
        print(
            f"round {round_number + 1}/{args.rounds}: ttft engine {engine_runs[-1]['ttft']:.3f}s raw "
            f"{raw_runs[-1]['ttft']:.3f}s base + adapter {adapter_runs[-1]['ttft']:.3f}s",
            flush=True,
        )

    def med(runs, key):
        return statistics.median(r[key] for r in runs)

    rows = _engine_vs_raw_rows(
        engine_runs, raw_runs, ttft_label="time to first token (s)", ttft_target="<= 1.1x, < 0.5 s"
    )
    print(f"listener {base.name} + {adapter.name} merged, {threads} threads, {args.rounds} rounds (medians)")
    print_table(
        "ReflectionEngine vs raw llama_cpp (the same merged listener, prompt and sampling)",
        ("measure", "engine", "raw", "ratio", "target"),
        rows,
    )
    rows = [
        [
            "time to first token (s)",
            f"{med(adapter_runs, 'ttft'):.3f}",
            f"{med(raw_runs, 'ttft'):.3f}",
            f"{med(raw_runs, 'ttft') / med(adapter_runs, 'ttft'):.2f}x",
        ],
        [
            "decode tokens/s",
            f"{med(adapter_runs, 'tps'):.1f}",
            f"{med(raw_runs, 'tps'):.1f}",
            f"{med(raw_runs, 'tps') / med(adapter_runs, 'tps'):.3f}x",
        ],
    ]
    print_table(
        "Adapter at run time vs merged into the weights (raw llama_cpp; the merged tensors Q8_0, as setup writes)",
        ("measure", "base + adapter", "merged", "merged / adapter"),
        rows,
    )
    chat.close()
    raw.close()
    raw_adapter.close()

    # The whole command as a person runs it: process start to the last word, and its peak memory.
    walls, peaks = [], []
    env = dict(os.environ, COMPANION_HOME=str(log_dir / "home"))
    env.pop("COMPANION_LISTENER", None)
    for _ in range(args.cli_rounds):
        started = time.perf_counter()
        result = sp.run(
            [sys.executable, "-m", "companion", "reflect", "--json", LISTENER_STATEMENT],
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
        )
        walls.append(time.perf_counter() - started)
        peaks.append(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
        engine_used = (
            json.loads(result.stdout)["engine"] if result.returncode == 0 else f"exit {result.returncode}"
        )
        print(f"companion reflect: {walls[-1]:.2f} s, engine {engine_used}", flush=True)
    print_table(
        "`companion reflect` from process start to the last word (first run builds the index)",
        ("measure", "value"),
        [
            ["wall time, first run (s)", f"{walls[0]:.2f}"],
            ["wall time, median of later runs (s)", f"{statistics.median(walls[1:] or walls):.2f}"],
            ["peak memory (MB)", f"{max(peaks):.0f}"],
        ],
    )
    return 0


def add_listener_parser(subparsers) -> None:
    parser = subparsers.add_parser("listener", help="the listener through ReflectionEngine vs raw llama_cpp")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cli-rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.set_defaults(func=bench_listener)


def bench_kdf(args: argparse.Namespace) -> int:
    """scrypt time at the shipped cost and its neighbours; per-turn save time plain vs encrypted."""
    from companion.store.crypto import (
        DEFAULT_SCRYPT_N,
        DEFAULT_SCRYPT_P,
        DEFAULT_SCRYPT_R,
        KdfParams,
        derive_key,
    )
    from companion.store.journal import Journal

    runs = max(3, args.runs)
    rows = []
    for n in (DEFAULT_SCRYPT_N // 2, DEFAULT_SCRYPT_N, DEFAULT_SCRYPT_N * 2):
        samples = []
        for _ in range(runs):
            started = time.perf_counter()
            derive_key("a passphrase to time", KdfParams.fresh(n=n))
            samples.append(time.perf_counter() - started)
        marker = "shipped" if n == DEFAULT_SCRYPT_N else ""
        rows.append(
            (
                f"n=2^{n.bit_length() - 1}",
                f"{128 * DEFAULT_SCRYPT_R * n / 2**20:.0f} MB",
                f"{statistics.median(samples):.3f}",
                f"{max(samples):.3f}",
                marker,
            )
        )
    print_table(
        f"scrypt key derivation (r={DEFAULT_SCRYPT_R}, p={DEFAULT_SCRYPT_P}; median of {runs})",
        ("cost", "memory", "median s", "max s", ""),
        rows,
    )

    turns = max(20, args.turns)
    text = (
        "It sounds like you have been carrying the house on your own lately, and you want me to notice. " * 3
    )
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        for mode in ("plain", "encrypted"):
            path = Path(folder) / mode / "journal.sqlite3"
            with Journal(path) as journal:
                if mode == "encrypted":
                    journal.enable_encryption("a passphrase to time")
            opened = time.perf_counter()
            journal = Journal(path, "a passphrase to time" if mode == "encrypted" else None)
            open_seconds = time.perf_counter() - opened
            session_id = journal.start_session("rehearse")
            samples = []
            for _ in range(turns):
                started = time.perf_counter()
                journal.add_turn(
                    session_id, "listener", text, coach={"label": "reflection", "tip": "name the need"}
                )
                samples.append(time.perf_counter() - started)
            journal.close()
            results[mode] = (open_seconds, statistics.median(samples), percentile(samples, 0.95))
    print_table(
        f"journal: {turns} turns each, every turn committed (WAL, synchronous=FULL)",
        ("mode", "open s", "save p50 ms", "save p95 ms"),
        [
            (mode, f"{o:.3f}", f"{p50 * 1000:.2f}", f"{p95 * 1000:.2f}")
            for mode, (o, p50, p95) in results.items()
        ],
    )
    ratio = results["encrypted"][1] / results["plain"][1]
    print(
        f"\nencrypted / plain per-turn save (p50): {ratio:.2f}x  (the key is derived once per open, never per turn)"
    )
    return 0


def add_kdf_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "kdf", help="journal key derivation and per-turn save time, plain vs encrypted"
    )
    parser.add_argument("--runs", type=int, default=5, help="derivations per scrypt cost (median reported)")
    parser.add_argument("--turns", type=int, default=200, help="turns saved per journal")
    parser.set_defaults(func=bench_kdf)


# ---- startup: time to the app's first paint, against a bare Textual app ------------------------------------
STARTUP_BARE_APP = """
import sys
from textual.app import App
from textual.widgets import Static

class Bare(App):
    def compose(self):
        yield Static("companion")

    def on_ready(self):
        sys.__stdout__.write("painted\\n")
        sys.__stdout__.flush()
        self.exit()

Bare().run(headless=True, size=(100, 30))
"""

STARTUP_COMPANION_APP = """
import sys
from companion.config import Settings
from companion.tui.app import CompanionApp

class FirstPaint(CompanionApp):
    def on_ready(self, event):
        # Ready is sent once the first frame is on screen; the real app starts loading services here.
        sys.__stdout__.write("painted\\n")
        sys.__stdout__.flush()
        event.prevent_default()  # the app's own ready handler would mount panels during the exit
        self.exit()

FirstPaint(Settings.load()).run(headless=True, size=(100, 30))
"""


def _time_to_first_paint(code: str, env: dict) -> float:
    """Seconds from starting a fresh interpreter to its 'painted' line."""
    import subprocess

    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True
    )
    try:
        for line in child.stdout:
            if line.strip() == "painted":
                return time.perf_counter() - started
        raise RuntimeError(f"the app never painted: {child.stderr.read()[-2000:]}")
    finally:
        child.kill()
        child.wait()


def bench_startup(args) -> int:
    """Process start to first paint (headless), median of several runs, beside a bare Textual app."""
    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, COMPANION_HOME=home, PYTHONPATH=str(root), HF_HUB_OFFLINE="1")
        # One warm-up each so both read the same files from the page cache.
        _time_to_first_paint(STARTUP_BARE_APP, env)
        _time_to_first_paint(STARTUP_COMPANION_APP, env)
        bare, app = [], []
        for _ in range(args.runs):  # interleaved, so machine load affects both alike
            bare.append(_time_to_first_paint(STARTUP_BARE_APP, env))
            app.append(_time_to_first_paint(STARTUP_COMPANION_APP, env))
    bare_median, app_median = statistics.median(bare), statistics.median(app)
    ratio = app_median / bare_median
    print_table(
        f"startup: process start to first paint, headless 100x30, {args.runs} interleaved runs (ms)",
        ("app", "median", "min", "max", "vs floor"),
        [
            (
                "bare Textual app, one Static (floor)",
                f"{bare_median * 1000:.0f}",
                f"{min(bare) * 1000:.0f}",
                f"{max(bare) * 1000:.0f}",
                "1.00x",
            ),
            (
                "companion (Reflect screen)",
                f"{app_median * 1000:.0f}",
                f"{min(app) * 1000:.0f}",
                f"{max(app) * 1000:.0f}",
                f"{ratio:.2f}x",
            ),
        ],
    )
    print(f"target: <= 1.30x the floor -> {'met' if ratio <= 1.3 else 'not met'}")
    return 0


def add_startup_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "startup", help="process start to the TUI's first paint, against a bare Textual app"
    )
    parser.add_argument("--runs", type=int, default=9, help="runs of each app (default 9)")
    parser.set_defaults(func=bench_startup)


def _coach_lines(limit: int) -> list[dict]:
    """Unseen listener replies with the line before them: ESConv's supporter turns (timing input only)."""
    import csv

    rows: list[dict] = []
    for name in ("esconv_test_strategy_turns.csv", "esconv_dev_strategy_turns.csv"):
        with (ROOT.parent / "shared" / "data" / "esconv" / name).open(encoding="utf-8", newline="") as handle:
            rows += [
                {"text": r["response"], "context": r["last_seeker_utterance"]} for r in csv.DictReader(handle)
            ]
    return rows[:limit]


def bench_coach(args: argparse.Namespace) -> int:
    """`companion coach label` on N JSON lines, beside embedding every reply with raw llama_cpp (the floor)."""
    import json
    import subprocess

    from companion.config import Settings

    lines = _coach_lines(args.lines)
    payload = "".join(json.dumps(line) + "\n" for line in lines).encode("utf-8")
    embed_model = Path(args.embed_model) if args.embed_model else Settings.load().resolved_embed_model
    if embed_model is None:
        print("the embedder is not prepared. Fix: companion models prepare-embedder", file=sys.stderr)
        return 2
    from companion.services import Services

    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, COMPANION_HOME=home, COMPANION_EMBED_MODEL=str(embed_model))
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "companion", "coach", "label"],
            input=payload,
            env=env,
            capture_output=True,
            check=True,
        )
        cli_seconds = time.perf_counter() - started
        answers = done.stdout.decode("utf-8").splitlines()
        assert len(answers) == len(lines), (len(answers), done.stderr[-500:])

        # The coach the CLI runs, from the same settings: the service decides which encoder and heads.
        settings = Settings.load(Path(home)).with_changes(embed_model=embed_model)
        with Services(settings, use_model=False) as services:
            coach = services.coach
            embedder = coach.embedder
            raw = embedder._llm  # the llama_cpp.Llama itself: the floor skips our wrapper
            texts = [line["text"][:3000] for line in lines]
            started = time.perf_counter()
            on_compute(raw.embed, texts, truncate=True)
            floor_seconds = time.perf_counter() - started
            started = time.perf_counter()
            coach.assess_batch(lines)
            service_seconds = time.perf_counter() - started
            embedded = coach.last_embedded
    n = len(lines)
    print_table(
        f"coach: {n} ESConv replies with their context, one run (seconds)",
        ("path", "seconds", "lines/s", "vs floor"),
        [
            (
                f"raw llama_cpp embed of every reply with {embedder.name} (floor)",
                f"{floor_seconds:.1f}",
                f"{n / floor_seconds:.0f}",
                "1.00x",
            ),
            (
                f"Coach.assess_batch ({embedded} of {n} embedded)",
                f"{service_seconds:.1f}",
                f"{n / service_seconds:.0f}",
                f"{service_seconds / floor_seconds:.2f}x",
            ),
            (
                "`companion coach label` (process start to last line)",
                f"{cli_seconds:.1f}",
                f"{n / cli_seconds:.0f}",
                f"{cli_seconds / floor_seconds:.2f}x",
            ),
        ],
    )
    print(f"target: {n} lines well under a minute -> {cli_seconds:.0f} s")
    return 0


def add_coach_parser(subparsers) -> None:
    parser = subparsers.add_parser("coach", help="`companion coach label` throughput against raw embedding")
    parser.add_argument("--lines", type=int, default=5000, help="JSON lines to label (default 5000)")
    parser.add_argument("--embed-model", help="embedder GGUF (default: the prepared all-MiniLM-L6-v2)")
    parser.set_defaults(func=bench_coach)


# ---- model servers ------------------------------------------------------------------------------------------------

SERVER_STATEMENT = "You never make time for me anymore, and I'm tired of being the one who plans everything."


def _start_llama_server(model: Path, threads: int, log_path: Path):
    """llama-cpp-python's OpenAI-compatible server on a free loopback port, one request at a time to its end."""
    import socket
    import subprocess as sp

    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = open(log_path, "wb")  # noqa: SIM115 (the process holds it for its life)
    process = sp.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(model),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            "2048",
            "--n_threads",
            str(threads),
            "--n_threads_batch",
            str(threads),
            "--interrupt_requests",
            "False",
            "--verbose",
            "False",
        ],
        stdout=log,
        stderr=sp.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/v1"
    for _ in range(1200):
        if process.poll() is not None:
            raise SystemExit(f"llama_cpp.server exited; see {log_path}")
        try:
            if httpx.get(url + "/models", timeout=2, trust_env=False).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    process.kill()
    raise SystemExit("llama_cpp.server did not start within two minutes")


def _direct_server_run(client, url: str, body: dict) -> dict:
    """The floor: the same request with httpx alone, reading the server-sent events as they come."""
    stamps: list[float] = []
    started = time.perf_counter()
    with client.stream("POST", url + "/chat/completions", json=body) as response:
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            choices = json.loads(line[6:]).get("choices") or [{}]
            if choices[0].get("delta", {}).get("content"):
                stamps.append(time.perf_counter())
    return _timing(started, stamps)


def _companion_server_run(model, messages, options: dict) -> dict:
    stamps: list[float] = []
    started = time.perf_counter()
    for _piece in model.stream(messages, **options):
        stamps.append(time.perf_counter())
    return _timing(started, stamps)


def bench_server(args: argparse.Namespace) -> int:
    import httpx

    from companion.engines.llm import ChatModel
    from companion.engines.server import ServerChatModel
    from companion.listen.prompts import build_reflection_messages

    model_path = Path(args.model) if args.model else ROOT / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not model_path.is_file():
        print(f"{model_path} is missing: run scripts/setup", file=sys.stderr)
        return 2
    log_dir = Path(tempfile.mkdtemp(prefix="companion-bench-server-"))
    process, url = _start_llama_server(model_path, args.threads, log_dir / "server.log")
    try:
        messages = build_reflection_messages(SERVER_STATEMENT, [])
        # Greedy, so all three produce the same tokens; the server and ChatModel both keep the prompt's KV prefix.
        options = {"max_tokens": args.max_tokens, "temperature": 0.0, "top_p": 1.0, "seed": 20240611}
        body = {"model": "bench", "messages": messages, "stream": True, **options}
        ours = ServerChatModel(url)
        body["model"] = ours.model
        direct = httpx.Client(timeout=httpx.Timeout(60.0, connect=5.0), trust_env=False)
        local = ChatModel(
            model_path, n_ctx=2048, n_threads=args.threads, n_gpu_layers=0, log_file=log_dir / "llama.log"
        )
        for warm in (
            lambda: ours.complete(messages, max_tokens=4),
            lambda: local.complete(messages, max_tokens=4),
        ):
            warm()
        runs: dict[str, list[dict]] = {"companion": [], "direct": [], "in-process": []}
        measure = {
            "direct": lambda: _direct_server_run(direct, url, body),
            "companion": lambda: _companion_server_run(ours, messages, options),
            "in-process": lambda: _companion_server_run(local, messages, options),
        }
        for round_number in range(args.rounds):
            # Each round starts with another of the three, so none always follows the same neighbour.
            order = list(measure)[round_number % 3 :] + list(measure)[: round_number % 3]
            for name in order:
                runs[name].append(measure[name]())
            print(
                f"round {round_number + 1}/{args.rounds}: ttft companion {runs['companion'][-1]['ttft']:.3f}s "
                f"direct {runs['direct'][-1]['ttft']:.3f}s in-process {runs['in-process'][-1]['ttft']:.3f}s",
                flush=True,
            )
        local.close()

        def med(name, key):
            return statistics.median(r[key] for r in runs[name])

        rows = []
        for key, label, fmt in (
            ("ttft", "time to first token (s)", "{:.3f}"),
            ("tps", "decode tokens/s", "{:.1f}"),
        ):
            rows.append(
                [
                    label,
                    *(fmt.format(med(name, key)) for name in ("companion", "direct", "in-process")),
                    f"{med('companion', key) / med('direct', key):.3f}x",
                    f"{med('companion', key) / med('in-process', key):.3f}x",
                ]
            )
        rows.append(["tokens generated", *(f"{med(name, 'tokens'):.0f}" for name in runs), "", ""])
        print(
            f"\n{model_path.name}, {args.threads} threads (server and in-process), {args.rounds} rounds (medians)"
        )
        print_table(
            "ServerChatModel vs the same server with httpx alone vs the same model in-process (ChatModel)",
            (
                "measure",
                "companion",
                "httpx direct",
                "in-process",
                "companion / direct",
                "companion / in-process",
            ),
            rows,
        )

        # A household: several companions at once against one server.
        results: list[dict] = [{} for _ in range(args.clients)]
        barrier = threading.Barrier(args.clients)

        def client(number: int) -> None:
            with ServerChatModel(url) as model:
                barrier.wait()
                results[number] = _companion_server_run(model, messages, options) | {
                    "end": time.perf_counter()
                }

        started = time.perf_counter()
        workers = [threading.Thread(target=client, args=(n,)) for n in range(args.clients)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        wall = max(r["end"] for r in results) - started
        rows = [
            [
                f"client {n + 1}",
                f"{r['ttft']:.2f}",
                f"{r['tokens'] / (r['end'] - started):.1f}",
                f"{r['tps']:.1f}",
            ]
            for n, r in enumerate(results)
        ]
        rows.append(["all together", "", f"{sum(r['tokens'] for r in results) / wall:.1f}", ""])
        print_table(
            f"{args.clients} companions at once against one llama-cpp-python server (one slot)",
            ("client", "first token (s)", "tokens/s over its wait", "decode tokens/s once started"),
            rows,
        )
        ours.close()
        direct.close()
    finally:
        process.terminate()
        process.wait(timeout=30)
    return 0


def add_server_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "server", help="ServerChatModel vs httpx direct vs in-process; clients at once"
    )
    parser.add_argument("--model", help="GGUF to serve (default: models/SmolLM2-135M-Instruct.Q4_1.gguf)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--clients", type=int, default=4)
    parser.set_defaults(func=bench_server)


# ---- safety screen -----------------------------------------------------------------------------------------------


def bench_safety(args: argparse.Namespace) -> int:
    """Per statement: the built-in reflection alone, and the same with the safety screen (rules + trained layer)."""
    from companion.guidance.embed import Embedder
    from companion.listen.reflect import ReflectionEngine
    from companion.safety.screen import screen
    from companion.safety.semantic import SemanticScreen

    model = Path(args.embed_model) if args.embed_model else ROOT / "models" / "all-MiniLM-L6-v2-f32.gguf"
    if not model.is_file():
        print(f"{model} is missing: run companion models prepare-embedder", file=sys.stderr)
        return 2
    statements = [
        json.loads(line)["statement"]
        for path in sorted((ROOT / "training" / "listener").glob("train_*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()[:10]
        if line.strip()
    ][: args.statements]
    from companion.engines.tuned import find_tuned_encoder
    from companion.safety.semantic import TUNED_HEAD_FILE

    tuned_model = find_tuned_encoder("safety", [model.parent])
    with contextlib.ExitStack() as stack:
        embedder = stack.enter_context(Embedder(model))
        layers = {"rules + trained head over MiniLM": SemanticScreen(embedder)}
        if tuned_model is not None:
            tuned_embedder = stack.enter_context(Embedder(tuned_model))
            layers["rules + tuned encoder (the app's)"] = SemanticScreen(tuned_embedder, head=TUNED_HEAD_FILE)
        engine = ReflectionEngine(retriever=FixedRetriever(_guidance_sections()[0]))
        for layer in layers.values():
            screen(statements[0], semantic=layer, log=False)  # warm each embedder once before timing
        engine._reflect_screened(statements[0], None, None, None)
        alone, rules = [], []
        screened: dict[str, list[float]] = {name: [] for name in layers}
        for statement in statements:
            # All measured side by side, statement by statement, in one run.
            started = time.perf_counter()
            engine._reflect_screened(statement, None, None, None)
            alone.append(time.perf_counter() - started)
            started = time.perf_counter()
            screen(statement, log=False)
            rules.append(time.perf_counter() - started)
            for name, layer in layers.items():
                started = time.perf_counter()
                screen(statement, semantic=layer, log=False)
                screened[name].append(time.perf_counter() - started)
    ms = lambda values: statistics.median(values) * 1000  # noqa: E731
    rows = [
        ["reflection alone (builtin engine)", f"{ms(alone):.2f}", "-", "-"],
        ["safety screen, rules", f"{ms(rules):.2f}", f"{ms(rules) / ms(alone):.2f}x", "-"],
    ]
    for name, times in screened.items():
        rows.append(
            [f"safety screen, {name}", f"{ms(times):.2f}", f"{ms(times) / ms(alone):.2f}x", "<= 10 ms added"]
        )
        rows.append([f"p90 of the screen, {name}", f"{percentile(times, 0.9) * 1000:.2f}", "-", "-"])
    print(f"{len(statements)} listener statements, medians per statement")
    print_table(
        "Safety screen cost per statement vs the reflection alone",
        ("measure", "ms", "vs reflection", "target"),
        rows,
    )
    return 0


def add_safety_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "safety", help="the safety screen's cost per statement beside the reflection"
    )
    parser.add_argument("--statements", type=int, default=60, help="listener statements to time (default 60)")
    parser.add_argument("--embed-model", help="embedder GGUF (default: the prepared all-MiniLM-L6-v2)")
    parser.set_defaults(func=bench_safety)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.py", description="companion benchmarks (one table per area)")
    areas = parser.add_subparsers(dest="area", metavar="AREA", required=True)
    search = areas.add_parser("search", help="index build, no-op refresh, search latency against the floor")
    search.add_argument("--repeat", type=int, default=10, help="rounds over the query set (default 10)")
    search.add_argument("-k", type=int, default=5, help="results per search (default 5)")
    search.add_argument("--threads", type=int, default=None, help="llama.cpp threads (default: auto)")
    search.add_argument("--embed-model", help="embedder GGUF (default: the prepared all-MiniLM-L6-v2)")
    search.set_defaults(func=bench_search)
    add_reflect_parser(areas)
    add_kdf_parser(areas)
    add_startup_parser(areas)
    add_coach_parser(areas)
    add_safety_parser(areas)
    add_listener_parser(areas)
    add_server_parser(areas)
    from bench_index import add_index_parser  # scripts/bench_index.py: indexing throughput

    add_index_parser(areas)
    # Other areas (startup) register their own subparsers here.
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
