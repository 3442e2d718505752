"""Train the listener: a LoRA adapter on SmolLM2-135M-Instruct that reflects what a partner said.

Run in the training virtualenv (never the app's): `scripts/setup-train`, then
    .venv-train/bin/python scripts/train_listener.py
It reads training/listener/train_*.jsonl (our own examples; rules in training/LISTENER_LABELLING.md), reports the
loss on training/listener/dev.jsonl every few hundred steps, and writes companion/data/listener-lora.gguf (the
adapter, as llama.cpp loads it) with companion/data/listener-lora.json (its sha256 and how it was made).
The held-out set (training/listener/heldout.jsonl) is never read here. Deterministic: fixed seeds, a fixed data
order and a fixed thread count give the same bytes.
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from companion.config import LISTENER_ADAPTER_PATH, LISTENER_BASE_FILE  # noqa: E402
from companion.listen.prompts import (  # noqa: E402
    LISTENER_SYSTEM_PROMPT,
    build_listener_messages,
    listener_input,
)

# ---- settings ----------------------------------------------------------------------------------------
SEED = 20261202
RANK = 16
ALPHA = 32
DROPOUT = 0.05
TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
LEARNING_RATE = 4e-4
WARMUP_STEPS = 30
BATCH = 8
EPOCHS = 1
MAX_TOKENS = 192  # longer examples are dropped (none of ours come close)
THREADS = 2
EVAL_EVERY = 150
DATA_DIR = ROOT / "training" / "listener"

# llama.cpp's names for the HF projection modules of a llama block.
GGUF_NAMES = {
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}


def read_examples(paths: list[Path]) -> list[dict]:
    rows = []
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                rows.append({"statement": row["statement"], "reflection": row["reflection"], "id": row["id"]})
    return rows


def encode(tokenizer, statement: str, reflection: str) -> tuple[list[int], list[int]]:
    """Token ids of the whole chat and the labels (-100 everywhere but the reflection and its end token)."""
    prompt = build_listener_messages(statement)  # the very messages the app sends
    prompt_text = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
    answer_text = reflection.strip() + "<|im_end|>\n"
    prompt_ids = tokenizer(prompt_text, add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(answer_text, add_special_tokens=False)["input_ids"]
    return prompt_ids + answer_ids, [-100] * len(prompt_ids) + answer_ids


def batches(encoded: list[tuple[list[int], list[int]]], rng: random.Random, pad_id: int):
    """Shuffled batches of similar length (little padding), each padded on the right."""
    import torch

    order = list(range(len(encoded)))
    rng.shuffle(order)
    # Sort within windows of 16 batches: lengths match inside a batch, the epoch stays shuffled.
    window = BATCH * 16
    chunks = []
    for start in range(0, len(order), window):
        part = sorted(order[start : start + window], key=lambda i: len(encoded[i][0]))
        chunks.extend(part[i : i + BATCH] for i in range(0, len(part), BATCH))
    rng.shuffle(chunks)
    for chunk in chunks:
        width = max(len(encoded[i][0]) for i in chunk)
        ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
        labels = torch.full((len(chunk), width), -100, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for row, i in enumerate(chunk):
            tokens, targets = encoded[i]
            ids[row, : len(tokens)] = torch.tensor(tokens)
            labels[row, : len(targets)] = torch.tensor(targets)
            mask[row, : len(tokens)] = 1
        yield ids, labels, mask


def dev_loss(model, encoded, pad_id: int) -> float:
    import torch

    model.eval()
    total, count = 0.0, 0
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        for ids, labels, mask in batches(encoded, random.Random(0), pad_id):
            out = model(input_ids=ids, attention_mask=mask, labels=labels)
            n = int((labels[:, 1:] != -100).sum())
            total += float(out.loss) * n
            count += n
    model.train()
    return total / max(count, 1)


def permute_for_llama_cpp(weight, n_head: int):
    """llama.cpp stores q/k rows in the order its rotary embedding wants (as its HF converter permutes them)."""
    rows = weight.shape[0]
    return (
        weight.reshape(n_head, 2, rows // n_head // 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)
    )


def write_adapter_gguf(model, config, out_path: Path, alpha: float) -> None:
    """The LoRA A and B matrices under llama.cpp's tensor names, as an adapter GGUF (float16)."""
    import gguf
    import numpy as np

    state = {k: v.detach().float().cpu().numpy() for k, v in model.state_dict().items() if "lora_" in k}
    writer = gguf.GGUFWriter(str(out_path), "llama")
    writer.add_string("general.type", "adapter")
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", float(alpha))
    writer.add_name("companion listener adapter")
    for i in range(config.num_hidden_layers):
        for hf_name, gguf_name in GGUF_NAMES.items():
            prefix = f"base_model.model.model.layers.{i}.{hf_name}"
            a = state[f"{prefix}.lora_A.default.weight"]  # (rank, in)
            b = state[f"{prefix}.lora_B.default.weight"]  # (out, rank)
            if gguf_name == "attn_q":
                b = permute_for_llama_cpp(b, config.num_attention_heads)
            elif gguf_name == "attn_k":
                b = permute_for_llama_cpp(b, config.num_key_value_heads)
            base = f"blk.{i}.{gguf_name}.weight"
            writer.add_tensor(base + ".lora_a", np.ascontiguousarray(a, dtype=np.float16))
            writer.add_tensor(base + ".lora_b", np.ascontiguousarray(b, dtype=np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base", default=str(ROOT / "models" / LISTENER_BASE_FILE), help="the base GGUF")
    parser.add_argument("--out", default=str(LISTENER_ADAPTER_PATH), help="where to write the adapter GGUF")
    parser.add_argument("--epochs", type=float, default=EPOCHS)
    parser.add_argument("--data", default=str(DATA_DIR), help="the folder with train_*.jsonl and dev.jsonl")
    parser.add_argument(
        "--checkpoint-every",
        type=int,
        default=0,
        help="also write an adapter GGUF every N steps (for collecting early checkpoints' outputs)",
    )
    parser.add_argument("--checkpoint-dir", default=str(ROOT / "build" / "listener-checkpoints"))
    args = parser.parse_args()

    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    random.seed(SEED)
    torch.manual_seed(SEED)
    torch.set_num_threads(THREADS)
    started = time.monotonic()

    base = Path(args.base)
    tokenizer = AutoTokenizer.from_pretrained(str(base.parent), gguf_file=base.name)
    model = AutoModelForCausalLM.from_pretrained(str(base.parent), gguf_file=base.name, dtype=torch.float32)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    lora = LoraConfig(
        r=RANK,
        lora_alpha=ALPHA,
        lora_dropout=DROPOUT,
        target_modules=list(TARGETS),
        task_type="CAUSAL_LM",
        bias="none",
    )
    model = get_peft_model(model, lora)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)

    data_dir = Path(args.data)
    train_files = sorted(data_dir.glob("train_*.jsonl"))
    train_rows = read_examples(train_files)
    dev_rows = read_examples([data_dir / "dev.jsonl"])
    train = [
        e
        for e in (encode(tokenizer, r["statement"], r["reflection"]) for r in train_rows)
        if len(e[0]) <= MAX_TOKENS
    ]
    dev = [encode(tokenizer, r["statement"], r["reflection"]) for r in dev_rows]
    tokens = sum(len(e[0]) for e in train)
    print(
        f"{len(train)} training examples ({tokens:,} tokens) from {len(train_files)} files, {len(dev)} dev; "
        f"{trainable:,} trainable parameters; loaded in {time.monotonic() - started:.0f} s",
        flush=True,
    )

    steps_per_epoch = math.ceil(len(train) / BATCH)
    total_steps = int(steps_per_epoch * args.epochs)
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=LEARNING_RATE, weight_decay=0.0
    )

    def learning_rate(step: int) -> float:
        if step < WARMUP_STEPS:
            return LEARNING_RATE * (step + 1) / WARMUP_STEPS
        progress = (step - WARMUP_STEPS) / max(1, total_steps - WARMUP_STEPS)
        return LEARNING_RATE * 0.5 * (1 + math.cos(math.pi * progress))

    print(f"dev loss before training: {dev_loss(model, dev, pad_id):.3f}", flush=True)
    rng = random.Random(SEED)
    step = 0
    model.train()
    checkpoint_dir = Path(args.checkpoint_dir)
    while step < total_steps:
        for ids, labels, mask in batches(train, rng, pad_id):
            if step >= total_steps:
                break
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(step)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            if step % 25 == 0:
                elapsed = time.monotonic() - started
                print(
                    f"step {step}/{total_steps}  loss {float(loss):.3f}  {elapsed / 60:.1f} min", flush=True
                )
            if step % EVAL_EVERY == 0 or step == total_steps:
                print(f"step {step}: dev loss {dev_loss(model, dev, pad_id):.3f}", flush=True)
            if args.checkpoint_every and step % args.checkpoint_every == 0 and step < total_steps:
                checkpoint_dir.mkdir(parents=True, exist_ok=True)
                write_adapter_gguf(
                    model, model.base_model.model.config, checkpoint_dir / f"step-{step}.gguf", ALPHA
                )

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_adapter_gguf(model, model.base_model.model.config, out, ALPHA)
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    minutes = (time.monotonic() - started) / 60
    facts = {
        "sha256": digest,
        "base": LISTENER_BASE_FILE,
        "rank": RANK,
        "alpha": ALPHA,
        "targets": list(TARGETS),
        "examples": len(train),
        "tokens": tokens,
        "epochs": args.epochs,
        "steps": total_steps,
        "learning_rate": LEARNING_RATE,
        "batch": BATCH,
        "seed": SEED,
        "threads": THREADS,
        "minutes": round(minutes, 1),
        "system_prompt": LISTENER_SYSTEM_PROMPT,
        "input": f"the partner's words in the listener's voice ({listener_input.__module__}.{listener_input.__name__})",
    }
    out.with_suffix(".json").write_text(json.dumps(facts, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB) in {minutes:.1f} min", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
