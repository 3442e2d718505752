#!/usr/bin/env python3
"""Write a random-weight GGUF with the real shape of Qwen2.5-0.5B-Instruct, quantized to Q4_K_M.

Its output is noise, but every matrix has the real size (24 layers, hidden 896, 14 query heads and 2 KV
heads, FFN 4864, a 151,936-row tied embedding), so prompt evaluation and token generation cost what the
real model costs on this machine, without downloading it. The vocabulary is a byte-level BPE trained on
the bundled guidance (so English prompts tokenise at a realistic rate) and filled up to the real
vocabulary size with pseudo-word tokens (so whatever the model samples prints as text). The chat template is ChatML, as in the real model.

    .venv/bin/python scripts/make_bench_model.py            # -> models/bench/qwen2.5-0.5b-shape-q4_k_m.gguf
    .venv/bin/python scripts/make_bench_model.py --small    # a 2-layer variant for quick checks
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "models" / "bench"
SEED = 5_000_000

SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")


@dataclass(frozen=True)
class Shape:
    n_layer: int = 24
    n_embd: int = 896
    n_head: int = 14
    n_head_kv: int = 2
    n_ff: int = 4864
    n_vocab: int = 151_936
    n_ctx: int = 32_768

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head


QWEN25_05B = Shape()
SMALL = Shape(n_layer=2, n_embd=128, n_head=4, n_head_kv=2, n_ff=256, n_vocab=8_192, n_ctx=4096)


def training_text() -> list[str]:
    """Our own words: the bundled guidance and the companion's prompts."""
    texts = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "knowledge").rglob("*.md"))]
    sys.path.insert(0, str(ROOT))
    from companion.listen import prompts

    texts.append(prompts.REFLECTION_SYSTEM_PROMPT)
    texts.append(prompts.FIRMER_INSTRUCTION)
    return texts


def train_vocab(n_vocab: int) -> tuple[list[str], list[int], list[str]]:
    """(tokens, token types, merges): byte-level BPE on our text, specials, then unused padding rows."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=min(32_000, n_vocab - len(SPECIAL_TOKENS)),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(training_text(), trainer=trainer)
    vocab = tokenizer.get_vocab()
    tokens = [token for token, _ in sorted(vocab.items(), key=lambda item: item[1])]
    import json

    merges = [
        " ".join(pair) if isinstance(pair, list) else pair
        for pair in json.loads(tokenizer.to_str())["model"]["merges"]
    ]
    normal, control = 1, 3
    types = [normal] * len(tokens)
    for special in SPECIAL_TOKENS:
        tokens.append(special)
        types.append(control)
    # The rest are ordinary word pieces (never produced by tokenising, but sampled and printed like the
    # real model's rare tokens), so generated text is text: consonant-vowel pseudo-words, all distinct.
    consonants, vowels = "bcdfghjklmnprstvwxyz", "aeiou"
    syllables = [c + v for c in consonants for v in vowels]
    seen = set(tokens)
    number = 0
    while len(tokens) < n_vocab:
        a, rest = divmod(number, len(syllables) ** 2)
        b, c = divmod(rest, len(syllables))
        word = "\u0120" + syllables[a % len(syllables)] + syllables[b] + syllables[c]
        number += 1
        if word not in seen:
            seen.add(word)
            tokens.append(word)
            types.append(normal)
    return tokens, types, merges


def write_f16(path: Path, shape: Shape) -> Path:
    import gguf

    rng = np.random.default_rng(SEED)
    tokens, types, merges = train_vocab(shape.n_vocab)
    kv_dim = shape.n_head_kv * shape.head_dim

    def weight(*dims: int) -> np.ndarray:
        return (rng.standard_normal(dims, dtype=np.float32) * 0.02).astype(np.float16)

    def bias(n: int) -> np.ndarray:
        return (rng.standard_normal(n, dtype=np.float32) * 0.02).astype(np.float32)

    writer = gguf.GGUFWriter(str(path), "qwen2")
    writer.add_name("qwen2.5-0.5b shape, random weights (benchmark only)")
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    writer.add_context_length(shape.n_ctx)
    writer.add_embedding_length(shape.n_embd)
    writer.add_block_count(shape.n_layer)
    writer.add_feed_forward_length(shape.n_ff)
    writer.add_head_count(shape.n_head)
    writer.add_head_count_kv(shape.n_head_kv)
    writer.add_rope_freq_base(1_000_000.0)
    writer.add_layer_norm_rms_eps(1e-6)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("qwen2")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    writer.add_bos_token_id(tokens.index("<|endoftext|>"))
    writer.add_eos_token_id(tokens.index("<|im_end|>"))
    writer.add_pad_token_id(tokens.index("<|endoftext|>"))
    writer.add_add_bos_token(False)
    sys.path.insert(0, str(ROOT))
    from companion.engines.llm import CHATML_TEMPLATE
    from companion.engines.models import write_gguf_file

    writer.add_chat_template(CHATML_TEMPLATE)

    # Tied embeddings, as in Qwen2.5-0.5B: no output.weight, llama.cpp reuses token_embd.
    writer.add_tensor("token_embd.weight", weight(shape.n_vocab, shape.n_embd))
    for i in range(shape.n_layer):
        writer.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(shape.n_embd, dtype=np.float32))
        writer.add_tensor(f"blk.{i}.attn_q.weight", weight(shape.n_embd, shape.n_embd))
        writer.add_tensor(f"blk.{i}.attn_q.bias", bias(shape.n_embd))
        writer.add_tensor(f"blk.{i}.attn_k.weight", weight(kv_dim, shape.n_embd))
        writer.add_tensor(f"blk.{i}.attn_k.bias", bias(kv_dim))
        writer.add_tensor(f"blk.{i}.attn_v.weight", weight(kv_dim, shape.n_embd))
        writer.add_tensor(f"blk.{i}.attn_v.bias", bias(kv_dim))
        writer.add_tensor(f"blk.{i}.attn_output.weight", weight(shape.n_embd, shape.n_embd))
        writer.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(shape.n_embd, dtype=np.float32))
        writer.add_tensor(f"blk.{i}.ffn_gate.weight", weight(shape.n_ff, shape.n_embd))
        writer.add_tensor(f"blk.{i}.ffn_up.weight", weight(shape.n_ff, shape.n_embd))
        writer.add_tensor(f"blk.{i}.ffn_down.weight", weight(shape.n_embd, shape.n_ff))
    writer.add_tensor("output_norm.weight", np.ones(shape.n_embd, dtype=np.float32))
    write_gguf_file(writer)
    return path


def quantize_q4_k_m(source: Path, target: Path, threads: int = 0) -> Path:
    """llama.cpp's own quantizer, through llama_cpp's binding."""
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M
    params.nthread = threads
    status = llama_cpp.llama_model_quantize(str(source).encode(), str(target).encode(), params)
    if status != 0:
        raise SystemExit(f"llama_model_quantize failed with status {status}")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="folder to write into (default models/bench)"
    )
    parser.add_argument(
        "--small", action="store_true", help="a 2-layer, 8k-vocabulary variant for quick checks"
    )
    parser.add_argument("--force", action="store_true", help="write again even when the file exists")
    args = parser.parse_args(argv)

    shape = SMALL if args.small else QWEN25_05B
    name = "bench-small-q4_k_m.gguf" if args.small else "qwen2.5-0.5b-shape-q4_k_m.gguf"
    args.out.mkdir(parents=True, exist_ok=True)
    target = args.out / name
    if target.is_file() and not args.force:
        print(f"{target} exists (use --force to write it again)")
        return 0
    f16 = args.out / (name.replace("q4_k_m", "f16") + ".partial")
    started = time.perf_counter()
    write_f16(f16, shape)
    wrote = time.perf_counter() - started
    partial = target.with_name(target.name + ".partial")
    quantize_q4_k_m(f16, partial)
    os.replace(partial, target)
    f16.unlink()
    print(
        f"wrote {target} ({target.stat().st_size / 1e6:.0f} MB; f16 {wrote:.0f}s, "
        f"total {time.perf_counter() - started:.0f}s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
