"""`scripts/bench.py index`: indexing throughput (sections/s, MB/min) against the raw embedder on the same chunks.

The raw llama_cpp embedder runs between the index's own batches (from its progress callback), so both see the
same load on a shared machine and their ratio means something. The raw side runs each batch with the thread
count the embedder chose for it (the floor the index is held to) and every fourth batch with llama.cpp's default
thread count as well (what the embedder did before it measured its threads).
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ARTICLE = ROOT.parent / "shared" / "guidance" / "emotional-intimacy-article.txt"

_WHO = ["We", "My partner", "You", "I", "The two of us", "Each of us", "Our neighbour"]
_DO = [
    "notice",
    "forget",
    "talk about",
    "plan",
    "argue over",
    "laugh about",
    "worry about",
    "share",
    "put off",
]
_WHAT = [
    "the evening routine",
    "small chores",
    "the weekend",
    "money for the trip",
    "how the day went",
    "a quiet walk",
    "the school run",
    "what we both need",
    "the unanswered messages",
    "dinner together",
]
_WHEN = [
    "when work runs late.",
    "before we fall asleep.",
    "after a long week.",
    "without raising our voices.",
    "and it helps more than we expect.",
    "even when it feels awkward.",
    "on the drive home.",
    "while the kettle boils.",
    "once the phones are put away.",
]


def generated_document(size_bytes: int, seed: int = 7) -> str:
    """Plain text of our own sentences with numbered headings, about size_bytes long."""
    rng = random.Random(seed)
    blocks, size, number = [], 0, 0
    while size < size_bytes:
        number += 1
        heading = (
            f"{number}. {rng.choice(['Notes on', 'Practising', 'Returning to'])} {rng.choice(_WHAT).title()}"
        )
        paragraphs = [
            " ".join(
                f"{rng.choice(_WHO)} {rng.choice(_DO)} {rng.choice(_WHAT)} {rng.choice(_WHEN)}"
                for _ in range(rng.randint(3, 8))
            )
            for _ in range(rng.randint(2, 5))
        ]
        block = heading + "\n" + "\n\n".join(paragraphs) + "\n\n"
        blocks.append(block)
        size += len(block.encode("utf-8"))
    return "".join(blocks)


class TimedEmbedder:
    """The companion Embedder with the seconds spent inside embed() counted (the rest is index overhead)."""

    def __init__(self, embedder) -> None:
        self._embedder = embedder
        self.name = embedder.name
        self.seconds = 0.0

    def embed(self, texts):
        started = time.perf_counter()
        try:
            return self._embedder.embed(texts)
        finally:
            self.seconds += time.perf_counter() - started


def bench_index(args: argparse.Namespace) -> int:
    import llama_cpp

    from companion.config import Settings
    from companion.engines.compute_thread import compute_thread
    from companion.engines.tuned import search_embed_model  # the embedder guidance search runs
    from companion.guidance.embed import BATCH_TOKENS, MAX_TOKENS, Embedder
    from companion.guidance.index import GuidanceIndex
    from companion.guidance.knowledge import split_document

    model = Path(args.embed_model) if args.embed_model else search_embed_model(Settings.load())
    documents = [("shared article", ARTICLE.read_text(encoding="utf-8"))]
    documents += [(f"generated {mb:g} MB", generated_document(int(mb * 1_000_000))) for mb in args.mb]
    size = max(BATCH_TOKENS, MAX_TOKENS)
    cpus = max(1, __import__("os").cpu_count() or 1)
    raw = {
        threads: llama_cpp.Llama(
            str(model),
            embedding=True,
            n_ctx=size,
            n_batch=size,
            n_ubatch=size,
            n_threads=threads,
            n_threads_batch=threads,
            flash_attn=True,
            verbose=False,
        )
        for threads in sorted({1, cpus})
    }
    rows = []
    with Embedder(model) as embedder:
        for label, text in documents:
            started = time.perf_counter()
            sections = split_document(text, f"documents/{label.replace(' ', '-')}.txt")
            split_s = time.perf_counter() - started
            chunks = {s.id: s.embedding_text() for s in sections}
            order = [s.id for s in sections]
            raw_time = dict.fromkeys(raw, 0.0)
            raw_tokens = dict.fromkeys(raw, 0)
            raw_spent = [0.0]
            batch_no = [0]
            tokens_of = {}
            used: dict[int, int] = {}  # sections per thread count the embedder chose

            def between_batches(
                done: int,
                total: int,
                order=order,
                chunks=chunks,
                raw_time=raw_time,
                raw_tokens=raw_tokens,
                raw_spent=raw_spent,
                batch_no=batch_no,
                tokens_of=tokens_of,
                used=used,
            ):
                if done == 0:
                    between_batches.last = 0
                    return
                ids = order[between_batches.last : done]
                between_batches.last = done
                batch_no[0] += 1
                # The same thread count the embedder just used, and every fourth batch llama.cpp's default too.
                used[embedder._threads_now] = used.get(embedder._threads_now, 0) + len(ids)
                chosen = [embedder._threads_now] + ([cpus] if batch_no[0] % 4 == 0 and cpus != 1 else [])
                texts = [chunks[i] for i in ids]
                count = sum(min(MAX_TOKENS, len(raw[1].tokenize(t.encode(), add_bos=True))) for t in texts)
                for threads in dict.fromkeys(chosen):
                    began = time.perf_counter()
                    # On the app's llama.cpp thread, as the index's own calls run (compute_thread.py says why).
                    compute_thread().run(
                        lambda t=threads: raw[t].embed(texts, normalize=False, truncate=True)
                    )
                    took = time.perf_counter() - began
                    raw_time[threads] += took
                    raw_tokens[threads] += count
                    raw_spent[0] += took
                for i in ids:
                    tokens_of[i] = count / len(ids)

            timed = TimedEmbedder(embedder)
            with tempfile.TemporaryDirectory() as folder:
                index = GuidanceIndex(Path(folder) / "index", timed)
                began = time.perf_counter()
                index.refresh(sections, progress=between_batches)
                index_s = time.perf_counter() - began - raw_spent[0]
                index.close()
            tokens = sum(tokens_of.values()) or 1
            index_rate = tokens / index_s
            raw_rates = {t: raw_tokens[t] / raw_time[t] for t in raw if raw_time[t] > 0}
            floor = raw_rates[max(used, key=used.get)] if used else float("nan")
            mb = len(text.encode("utf-8")) / 1_000_000
            rows.append(
                (
                    label,
                    f"{mb:.3f}",
                    len(sections),
                    f"{split_s:.2f}",
                    f"{index_s:.1f}",
                    f"{len(sections) / index_s:.1f}",
                    f"{mb / (index_s / 60):.2f}",
                    f"{100 * (index_s - timed.seconds) / index_s:.1f}%",
                    " ".join(
                        f"{t}t:{rate / index_rate * len(sections) / index_s:.1f}"
                        for t, rate in raw_rates.items()
                    ),
                    f"{index_rate / floor:.2f}x",
                )
            )
            print("  ".join(str(cell) for cell in rows[-1]), flush=True)
            print(
                f"{label}: done ({len(sections)} sections, {index_s:.0f} s); embedder threads measured "
                f"{ {t: round(c * 1000, 3) for t, c in embedder.threads.cost.items()} } ms per word piece",
                flush=True,
            )
    for model_raw in raw.values():
        model_raw.close()
    from bench import print_table  # the shared table printer of scripts/bench.py

    print_table(
        f"Indexing with {model.name} on {cpus} CPUs (raw embedder timed between the index's own batches)",
        (
            "document",
            "MB",
            "sections",
            "split s",
            "index s",
            "sections/s",
            "MB/min",
            "not embedding",
            "raw sections/s (threads)",
            "index/raw",
        ),
        rows,
    )
    return 0


def add_index_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "index", help="indexing throughput against the raw embedder on the same chunks"
    )
    parser.add_argument(
        "--mb",
        type=float,
        nargs="*",
        default=[1.0, 5.0],
        help="sizes of the generated documents in MB (default 1 5)",
    )
    parser.add_argument(
        "--embed-model",
        help="embedder GGUF (default: the one guidance search runs, the retrieval-tuned MiniLM once setup merged it)",
    )
    parser.set_defaults(func=bench_index)
