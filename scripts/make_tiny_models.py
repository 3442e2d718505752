#!/usr/bin/env python3
"""Write two tiny but real GGUF models for the tests: a 2-layer llama chat model and a 2-layer BERT embedder.

They load in the real llama_cpp and run its real graphs; their weights are seeded noise, so the chat model
writes gibberish and the embedder's vectors carry no meaning. The bytes are identical on every run.

    .venv/bin/python scripts/make_tiny_models.py --out models/tiny
"""

from __future__ import annotations

import argparse
import os
import string
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # so the script runs from a checkout before `pip install -e .`

from companion.engines.llm import CHATML_TEMPLATE  # noqa: E402
from companion.engines.models import BertConfig, write_bert_gguf, write_gguf_file  # noqa: E402

SEED = 20260101


# Words the tiny vocabularies know whole; everything else falls back to letters (BERT) or bytes (SPM).
def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


WORDS = _words(
    "i you we he she they it me my your our us the a an and or but so because when that this "
    "is am are was were be been feel feels felt hear heard listen listening understand sounds like "
    "seems maybe wonder what how why want need needs wish hope worry worried alone tired angry sad "
    "hurt happy glad scared upset stressed frustrated lonely close closer time together talk talked "
    "never always again home work house partner love trust care help said say tell not no yes right "
    "did do does get got make made know think thought really just more less today tonight week"
)


def spm_vocab() -> tuple[list[str], list[float], list[int]]:
    """A SentencePiece-style vocabulary: specials, 256 byte fallbacks, characters, and every word prefix."""
    normal, unknown, control, byte = 1, 2, 3, 6
    tokens = ["<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"]
    scores = [0.0] * len(tokens)
    types = [unknown, control, control, control, control]
    for value in range(256):
        tokens.append(f"<0x{value:02X}>")
        scores.append(0.0)
        types.append(byte)
    pieces: list[str] = ["\u2581"]
    pieces += list(string.ascii_letters + string.digits + string.punctuation)
    for word in WORDS:
        spelled = "\u2581" + word
        # Every prefix lets SentencePiece's pairwise merging climb from characters to the whole word.
        pieces += [spelled[:end] for end in range(2, len(spelled) + 1)]
    seen: set[str] = set()
    for piece in pieces:
        if piece in seen:
            continue
        seen.add(piece)
        tokens.append(piece)
        scores.append(-100.0 + len(piece))  # longer pieces win the merge
        types.append(normal)
    return tokens, scores, types


def write_tiny_chat(path: Path) -> Path:
    import gguf

    rng = np.random.default_rng(SEED)
    tokens, scores, types = spm_vocab()
    n_vocab, n_embd, n_head, n_ff, n_layer, n_ctx = len(tokens), 64, 4, 128, 2, 4096

    def weight(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.05).astype(np.float32)

    tmp_path = path.with_name(path.name + ".partial")
    writer = gguf.GGUFWriter(str(tmp_path), "llama")
    writer.add_name("companion tiny chat (test model, random weights)")
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_vocab_size(n_vocab)
    writer.add_context_length(n_ctx)
    writer.add_embedding_length(n_embd)
    writer.add_feed_forward_length(n_ff)
    writer.add_block_count(n_layer)
    writer.add_head_count(n_head)
    writer.add_head_count_kv(n_head)
    writer.add_rope_dimension_count(n_embd // n_head)
    writer.add_rope_freq_base(10000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_tokenizer_model("llama")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(tokens.index("<|im_end|>"))
    writer.add_unk_token_id(0)
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)
    writer.add_chat_template(CHATML_TEMPLATE)

    writer.add_tensor("token_embd.weight", weight(n_vocab, n_embd))
    for i in range(n_layer):
        writer.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(n_embd, dtype=np.float32))
        writer.add_tensor(f"blk.{i}.attn_q.weight", weight(n_embd, n_embd))
        writer.add_tensor(f"blk.{i}.attn_k.weight", weight(n_embd, n_embd))
        writer.add_tensor(f"blk.{i}.attn_v.weight", weight(n_embd, n_embd))
        writer.add_tensor(f"blk.{i}.attn_output.weight", weight(n_embd, n_embd))
        writer.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(n_embd, dtype=np.float32))
        writer.add_tensor(f"blk.{i}.ffn_gate.weight", weight(n_ff, n_embd))
        writer.add_tensor(f"blk.{i}.ffn_up.weight", weight(n_ff, n_embd))
        writer.add_tensor(f"blk.{i}.ffn_down.weight", weight(n_embd, n_ff))
    writer.add_tensor("output_norm.weight", np.ones(n_embd, dtype=np.float32))
    writer.add_tensor("output.weight", weight(n_vocab, n_embd))
    write_gguf_file(writer)
    os.replace(tmp_path, path)
    return path


def wordpiece_vocab() -> list[str]:
    """A BERT-style vocabulary: the five specials, single characters, continuations and whole words."""
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    chars = list(string.ascii_lowercase + string.digits + string.punctuation)
    vocab += chars
    vocab += ["##" + c for c in string.ascii_lowercase + string.digits]
    vocab += ["##s", "##ed", "##ing", "##ly", "##er", "##est", "##ness", "##ful"]
    vocab += [w for w in WORDS if w not in vocab]
    return list(dict.fromkeys(vocab))


def write_tiny_embed(path: Path) -> Path:
    rng = np.random.default_rng(SEED + 1)
    vocab = wordpiece_vocab()
    config = BertConfig(
        hidden_size=32,
        num_layers=2,
        num_heads=2,
        intermediate_size=64,
        max_positions=512,
        type_vocab_size=2,
        layer_norm_eps=1e-12,
    )
    h, ff = config.hidden_size, config.intermediate_size

    def weight(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.1).astype(np.float32)

    tensors = {
        "token_embd.weight": weight(len(vocab), h),
        "token_types.weight": weight(config.type_vocab_size, h),
        "position_embd.weight": weight(config.max_positions, h),
        "token_embd_norm.weight": np.ones(h, dtype=np.float32),
        "token_embd_norm.bias": np.zeros(h, dtype=np.float32),
    }
    for i in range(config.num_layers):
        for part in ("attn_q", "attn_k", "attn_v", "attn_output"):
            tensors[f"blk.{i}.{part}.weight"] = weight(h, h)
            tensors[f"blk.{i}.{part}.bias"] = weight(h)
        tensors[f"blk.{i}.attn_output_norm.weight"] = np.ones(h, dtype=np.float32)
        tensors[f"blk.{i}.attn_output_norm.bias"] = np.zeros(h, dtype=np.float32)
        tensors[f"blk.{i}.ffn_up.weight"] = weight(ff, h)
        tensors[f"blk.{i}.ffn_up.bias"] = weight(ff)
        tensors[f"blk.{i}.ffn_down.weight"] = weight(h, ff)
        tensors[f"blk.{i}.ffn_down.bias"] = weight(h)
        tensors[f"blk.{i}.layer_output_norm.weight"] = np.ones(h, dtype=np.float32)
        tensors[f"blk.{i}.layer_output_norm.bias"] = np.zeros(h, dtype=np.float32)
    return write_bert_gguf(
        path, config, vocab, tensors, name="companion tiny embed (test model, random weights)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=ROOT / "models" / "tiny", help="output folder")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for written in (
        write_tiny_chat(args.out / "tiny-chat.gguf"),
        write_tiny_embed(args.out / "tiny-embed.gguf"),
    ):
        print(f"wrote {written} ({written.stat().st_size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
