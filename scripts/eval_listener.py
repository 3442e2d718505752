"""Evaluate the listener against the untuned model, the untuned model few-shot and the built-in reflector.

    .venv/bin/python scripts/eval_listener.py                      # held-out set, every system
    .venv/bin/python scripts/eval_listener.py --set dev --systems untuned fewshot --save-outputs
    .venv/bin/python scripts/eval_listener.py --set dev --choose-threshold   # the drift threshold, from dev
    .venv/bin/python scripts/eval_listener.py --checks             # the checks' error rates, both ways

Each model system answers like the app: a first draft, reviewed by the same DraftReview the app uses (text
checks, topic drift, the coach), and one retry when it fails. Reported: the share passing every check on the
first draft, the share the coach labels a complex reflection, and the share answered by the model after one
retry (the rest get the built-in reflector). Held-out statements are never trained or tuned on.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from companion.config import LISTENER_ADAPTER_PATH, LISTENER_BASE_FILE  # noqa: E402
from companion.listen.prompts import build_listener_messages, build_reflection_messages  # noqa: E402

DATA = ROOT / "training" / "listener"
OUT = ROOT / "build" / "listener-eval"
SYSTEMS = ("builtin", "untuned", "fewshot", "listener", "listener-guided")

# Three worked examples for the few-shot baseline, written for it (none is in any evaluation set).
FEW_SHOT = [
    (
        "You always leave your shoes in the hallway and I trip over them.",
        "It sounds like you're fed up with tidying up after me, and you want me to notice the space we share. Is that right?",
    ),
    (
        "I got the promotion!! I can't believe it.",
        "You're thrilled and a bit stunned, like all that hard work finally got seen. Did I get that right?",
    ),
    (
        "Whatever, go out with your friends again, I'm used to it.",
        "I'm hearing that you feel left behind when I go out, and you miss time with me. Is that close?",
    ),
]


def read_set(name: str) -> list[dict]:
    return [
        json.loads(line)
        for line in (DATA / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]


def stratified(rows: list[dict], per_topic: int | None) -> list[dict]:
    if not per_topic:
        return rows
    seen: dict[str, int] = {}
    chosen = []
    for row in rows:
        if seen.get(row["topic"], 0) < per_topic:
            chosen.append(row)
            seen[row["topic"]] = seen.get(row["topic"], 0) + 1
    return chosen


def fewshot_messages(statement: str, firmer: bool) -> list[dict[str, str]]:
    messages = build_reflection_messages(statement, firmer=False)[:1]
    for said, reflection in FEW_SHOT:
        messages += build_reflection_messages(said)[1:] + [{"role": "assistant", "content": reflection}]
    return messages + build_reflection_messages(statement, firmer=firmer)[1:]


def listener_files(base: str | None, adapter: str | None) -> tuple[Path, Path | None]:
    """--base/--adapter as given ("none": no adapter); by default the files the app itself runs (find_listener)."""
    if base is None and adapter is None:
        from companion.config import Settings
        from companion.engines.listener import find_listener

        files = find_listener(Settings.load())
        return (files.merged, None) if files.merged is not None else (files.base, files.adapter)
    base_path = Path(base) if base else ROOT / "models" / LISTENER_BASE_FILE
    return base_path, None if adapter == "none" else Path(adapter) if adapter else LISTENER_ADAPTER_PATH


def make_systems(names, base: Path, adapter: Path | None, threads: int):
    from companion.engines.llm import ChatModel
    from companion.listen.reflect import (
        LISTENER_MAX_TOKENS,
        LISTENER_TEMPERATURES,
        MODEL_MAX_TOKENS,
        MODEL_TEMPERATURE,
    )

    def listener_options(firmer: bool) -> dict:
        return {"max_tokens": LISTENER_MAX_TOKENS, "temperature": LISTENER_TEMPERATURES[int(firmer)]}

    systems = {}
    untuned = None
    if {"untuned", "fewshot"} & set(names):
        untuned = ChatModel(base, n_threads=threads, log_file=OUT / "llama.log")
    if "untuned" in names:
        systems["untuned"] = (
            untuned,
            lambda s, firmer: build_reflection_messages(s, firmer=firmer),
            lambda firmer: {"max_tokens": MODEL_MAX_TOKENS, "temperature": MODEL_TEMPERATURE},
        )
    if "fewshot" in names:
        systems["fewshot"] = (
            untuned,
            fewshot_messages,
            lambda firmer: {"max_tokens": MODEL_MAX_TOKENS, "temperature": MODEL_TEMPERATURE},
        )
    if "listener" in names:
        tuned = ChatModel(
            base, n_threads=threads, adapter_path=adapter, engine="listener", log_file=OUT / "llama.log"
        )
        systems["listener"] = (tuned, lambda s, firmer: build_listener_messages(s), listener_options)
    if "listener-guided" in names:
        tuned = (
            systems["listener"][0]
            if "listener" in systems
            else ChatModel(
                base, n_threads=threads, adapter_path=adapter, engine="listener", log_file=OUT / "llama.log"
            )
        )
        retriever = guidance_retriever(threads)

        def guided(statement: str, firmer: bool) -> list[dict[str, str]]:
            # The question the README answers: does a short piece of the guidance help the listener or not?
            messages = build_listener_messages(statement)
            hits = retriever.search(statement, k=1)
            if hits:
                snippet = " ".join(hits[0].section.text.split())[:200]
                messages[1]["content"] = f"Guidance: {snippet}\n\n{messages[1]['content']}"
            return messages

        systems["listener-guided"] = (tuned, guided, listener_options)
    return systems


def guidance_retriever(threads: int):
    """The bundled guidance in a Chroma index of its own (a temporary folder), searched as the app does."""
    import tempfile

    from companion.config import Settings
    from companion.guidance.embed import Embedder
    from companion.guidance.index import GuidanceIndex
    from companion.guidance.knowledge import KnowledgeBase

    home = Path(tempfile.mkdtemp(prefix="eval-listener-"))
    index = GuidanceIndex(
        home / "index", Embedder(ROOT / "models" / "all-MiniLM-L6-v2-f32.gguf", n_threads=threads)
    )
    index.refresh(KnowledgeBase(Settings(home=home)).sections())
    return index


def coach_complex(coach, text: str, statement: str) -> bool:
    result = coach.assess(text, context=statement)
    return result.label == "reflection" and result.subtype == "complex"


def evaluate(rows, systems, names, review, coach, seed: int):
    from companion.listen.reflector import BuiltinReflector

    builtin = BuiltinReflector()
    outputs: dict[str, list[dict]] = {name: [] for name in names}
    for i, row in enumerate(rows):
        statement = row["statement"]
        for name in names:
            record = {"id": row["id"], "topic": row["topic"], "statement": statement}
            if name == "builtin":
                draft = builtin.reflect(statement, None).reflection
                verdict = review.review(draft, statement)
                record.update(
                    first=draft,
                    first_ok=verdict.ok,
                    first_reasons=list(verdict.reasons),
                    answered_by_model=False,
                )
            else:
                model, messages, options = systems[name]
                drafts = []
                for attempt in range(2):
                    draft = model.complete(
                        messages(statement, attempt > 0), seed=seed + attempt, **options(attempt > 0)
                    )
                    verdict = review.review(draft, statement)
                    drafts.append((draft, verdict))
                    if verdict.ok:
                        break
                record.update(
                    first=drafts[0][0],
                    first_ok=drafts[0][1].ok,
                    first_reasons=list(drafts[0][1].reasons),
                    answered_by_model=drafts[-1][1].ok,
                )
                if len(drafts) > 1:
                    record.update(
                        second=drafts[1][0],
                        second_ok=drafts[1][1].ok,
                        second_reasons=list(drafts[1][1].reasons),
                    )
            record["first_complex"] = coach_complex(coach, record["first"], statement)
            outputs[name].append(record)
        if (i + 1) % 20 == 0:
            print(f"  {i + 1}/{len(rows)} statements", file=sys.stderr, flush=True)
    return outputs


def table(outputs) -> str:
    lines = [
        "| system | n | pass every check, first draft | coach: complex reflection (first draft) | "
        "answered by the model after one retry |",
        "|---|---|---|---|---|",
    ]
    for name, records in outputs.items():
        n = len(records)
        first = sum(r["first_ok"] for r in records) / n
        complex_ = sum(r["first_complex"] for r in records) / n
        answered = sum(r["answered_by_model"] for r in records) / n
        answered_text = "n/a (no model)" if name == "builtin" else f"{answered:.1%}"
        lines.append(f"| {name} | {n} | {first:.1%} | {complex_:.1%} | {answered_text} |")
    return "\n".join(lines)


def side_by_side(outputs, count: int = 20) -> str:
    names = list(outputs)
    rows = list(zip(*outputs.values(), strict=True))
    step = max(1, len(rows) // count)
    blocks = []
    for group in rows[::step][:count]:
        blocks.append(f"**{group[0]['statement']}**")
        for name, record in zip(names, group, strict=True):
            mark = "ok" if record["first_ok"] else "rejected: " + "; ".join(record["first_reasons"])[:80]
            blocks.append(f"- {name}: {record['first'].strip()}  _({mark})_")
        blocks.append("")
    return "\n".join(blocks)


def choose_threshold(review, rows) -> float:
    """The drift threshold: the highest that rejects at most 1% of dev's reference reflections."""
    sims = np.array([review.similarity(r["reflection"], r["statement"]) for r in rows])
    threshold = float(np.floor(np.percentile(sims, 1) * 100) / 100)
    print(
        f"dev references: similarity p1 {np.percentile(sims, 1):.3f}, p5 {np.percentile(sims, 5):.3f}, "
        f"median {np.median(sims):.3f}; threshold {threshold:.2f} rejects {np.mean(sims < threshold):.1%}"
    )
    return threshold


def check_rates(review) -> None:
    """Good reflections wrongly rejected (held-out references) and bad outputs caught (labelled bad outputs)."""
    good = read_set("heldout")
    rejected = [r for r in good if not review.review(r["reflection"], r["statement"]).ok]
    print(
        f"good reflections wrongly rejected: {len(rejected)}/{len(good)} = {len(rejected) / len(good):.1%} "
        "(held-out references)"
    )
    for r in rejected:
        print(f"  - {review.review(r['reflection'], r['statement']).reasons}  {r['reflection']}")
    bad_path = DATA / "bad_outputs.jsonl"
    bad = [json.loads(line) for line in bad_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    bad = [b for b in bad if b["label"] == "bad"]
    missed = [b for b in bad if review.review(b["output"], b["statement"]).ok]
    by_source: dict[str, list[int]] = {}
    for b in bad:
        counts = by_source.setdefault(b["source"], [0, 0])
        counts[0] += 1
        counts[1] += review.review(b["output"], b["statement"]).ok is False
    print(
        f"bad outputs caught: {len(bad) - len(missed)}/{len(bad)} = {(len(bad) - len(missed)) / len(bad):.1%}"
    )
    for source, (n, caught) in sorted(by_source.items()):
        print(f"  {source}: {caught}/{n} = {caught / n:.1%}")
    for b in missed:
        print(f"  missed: {b['output'][:160]!r}")
    # The listener's own first answers on held-out statements, judged by hand (never tuned on).
    judged_path = DATA / "heldout_judged.jsonl"
    judged = [
        json.loads(line) for line in judged_path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]
    passed = [review.review(j["output"], j["statement"]).ok for j in judged]
    good = [p for j, p in zip(judged, passed, strict=True) if j["label"] == "acceptable"]
    bad_judged = [p for j, p in zip(judged, passed, strict=True) if j["label"] != "acceptable"]
    print(
        f"held-out listener answers judged by hand: acceptable wrongly rejected {good.count(False)}/{len(good)} = "
        f"{good.count(False) / len(good):.1%}; not acceptable caught {bad_judged.count(False)}/{len(bad_judged)} = "
        f"{bad_judged.count(False) / len(bad_judged):.1%}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--set", default="heldout", choices=("heldout", "dev"))
    parser.add_argument("--systems", nargs="+", default=list(SYSTEMS), choices=SYSTEMS)
    parser.add_argument(
        "--per-topic", type=int, default=0, help="at most N statements of each topic (0: all)"
    )
    parser.add_argument(
        "--base",
        default=None,
        help="the base GGUF (default: what the app runs, setup's merge when it is there)",
    )
    parser.add_argument(
        "--adapter",
        default=None,
        help="the LoRA adapter; none for a base with it merged in",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--save-outputs", action="store_true", help=f"write every draft to {OUT}")
    parser.add_argument("--choose-threshold", action="store_true")
    parser.add_argument("--checks", action="store_true")
    args = parser.parse_args()

    from companion.engines.runtime import route_llama_logs

    OUT.mkdir(parents=True, exist_ok=True)
    route_llama_logs(OUT / "llama.log")
    import tempfile

    from companion.config import Settings
    from companion.services import Services

    # The review the app builds (text checks, drift, the tuned coach), from a throwaway data folder.
    services = Services(
        Settings(
            home=Path(tempfile.mkdtemp(prefix="eval-listener-")),
            embed_model=ROOT / "models" / "all-MiniLM-L6-v2-f32.gguf",
            n_threads=args.threads,
        )
    )
    coach = services.coach
    review = services.draft_review
    if args.choose_threshold:
        choose_threshold(review, read_set("dev"))
        return 0
    if args.checks:
        check_rates(review)
        return 0
    rows = stratified(read_set(args.set), args.per_topic)
    started = time.monotonic()
    base, adapter = listener_files(args.base, args.adapter)
    print(f"listener: {base.name}" + (f" + {adapter.name}" if adapter else ""), file=sys.stderr)
    systems = make_systems(args.systems, base, adapter, args.threads)
    outputs = evaluate(rows, systems, args.systems, review, coach, args.seed)
    print(f"\n{args.set}: {len(rows)} statements, {time.monotonic() - started:.0f} s\n")
    print(table(outputs))
    print()
    print(side_by_side(outputs))
    if args.save_outputs:
        for name, records in outputs.items():
            path = OUT / f"{args.set}-{name}.jsonl"
            path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
            print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
