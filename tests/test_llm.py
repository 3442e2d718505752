"""The chat model on the compute thread, on the real tiny GGUF through the real llama_cpp."""

from __future__ import annotations

import os
import threading

import pytest

from companion.engines.llm import ChatModel, GenerationStats
from companion.errors import ModelError

SYSTEM = (
    "You help a person listen to their partner. Reflect feeling, content and need, briefly and tentatively."
)


def messages(user: str, system: str = SYSTEM) -> list[dict[str, str]]:
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


@pytest.fixture(scope="module")
def chat(tiny_chat_model, tmp_path_factory):
    model = ChatModel(tiny_chat_model, n_ctx=1024, log_file=tmp_path_factory.mktemp("logs") / "llama.log")
    yield model
    model.close()


def test_stream_yields_text_pieces_as_they_are_generated(chat):
    stats = GenerationStats()
    pieces = list(
        chat.stream(messages("You never make time for me."), max_tokens=12, temperature=0, stats=stats)
    )
    assert pieces, "the tiny model produced no text"
    assert all(isinstance(p, str) and p for p in pieces)
    assert len(pieces) <= stats.completion_tokens
    assert stats.finish_reason in ("length", "stop")
    assert stats.prompt_tokens > 0


def test_a_stop_string_ends_the_answer_just_before_it(chat):
    full = chat.complete(messages("You never listen."), max_tokens=24, temperature=0)
    words = [w for w in full.split() if len(w) >= 2]
    assert len(words) >= 3, full
    stop = words[len(words) // 2]
    cut = chat.complete(messages("You never listen."), max_tokens=24, temperature=0, stop=[stop])
    assert cut == full[: full.index(stop)]


def test_second_request_evaluates_only_what_follows_the_shared_system_prompt(chat):
    chat.forget_prefix()
    first, second = GenerationStats(), GenerationStats()
    list(chat.stream(messages("I feel alone with the housework."), max_tokens=4, temperature=0, stats=first))
    list(
        chat.stream(
            messages("You are always on your phone at dinner."), max_tokens=4, temperature=0, stats=second
        )
    )
    assert first.prompt_tokens_evaluated == first.prompt_tokens  # nothing to reuse after forget_prefix
    assert second.prompt_tokens_reused > 0
    assert second.prompt_tokens_evaluated < second.prompt_tokens
    assert second.prompt_tokens_evaluated < first.prompt_tokens_evaluated

    chat.forget_prefix()
    again = GenerationStats()
    list(
        chat.stream(
            messages("You are always on your phone at dinner."), max_tokens=4, temperature=0, stats=again
        )
    )
    assert again.prompt_tokens_evaluated == again.prompt_tokens


def test_the_system_prefix_comes_back_after_a_request_with_another_system_prompt(chat):
    chat.forget_prefix()
    list(chat.stream(messages("We never talk anymore."), max_tokens=4, temperature=0))
    list(
        chat.stream(
            messages("hello", system="You play a partner in a rehearsal."), max_tokens=4, temperature=0
        )
    )
    back = GenerationStats()
    list(chat.stream(messages("I am tired of arguing."), max_tokens=4, temperature=0, stats=back))
    # The rehearsal prompt displaced the reflection prompt in the KV cache; the saved state restores it.
    assert back.prompt_tokens_reused > len(SYSTEM.split())


def test_an_answer_from_a_restored_prefix_is_the_answer_from_scratch(chat):
    chat.forget_prefix()
    from_scratch = chat.complete(messages("I am tired of arguing."), max_tokens=16, temperature=0)
    chat.forget_prefix()
    list(chat.stream(messages("We never talk anymore."), max_tokens=4, temperature=0))
    list(
        chat.stream(
            messages("hello", system="You play a partner in a rehearsal."), max_tokens=4, temperature=0
        )
    )
    stats = GenerationStats()
    restored = chat.complete(messages("I am tired of arguing."), max_tokens=16, temperature=0, stats=stats)
    assert stats.prompt_tokens_reused > 0
    assert restored == from_scratch


def test_cancel_stops_the_generation_between_tokens(chat):
    cancel = threading.Event()
    stats = GenerationStats()
    received = []
    for piece in chat.stream(
        messages("You never listen."), max_tokens=200, temperature=0.9, cancel=cancel, stats=stats
    ):
        received.append(piece)
        cancel.set()
    assert stats.finish_reason == "cancelled"
    assert 1 <= stats.completion_tokens < 200
    assert len(received) <= stats.completion_tokens


def test_a_request_cancelled_before_it_starts_produces_nothing(chat):
    cancel = threading.Event()
    cancel.set()
    stats = GenerationStats()
    assert list(chat.stream(messages("You never listen."), max_tokens=50, cancel=cancel, stats=stats)) == []
    assert stats.finish_reason == "cancelled"


def test_closing_the_iterator_stops_the_model_and_the_next_request_runs(chat):
    stream = chat.stream(messages("You never listen."), max_tokens=200, temperature=0.9)
    next(stream)
    stream.close()
    after = chat.complete(messages("Are you there?"), max_tokens=3, temperature=0)
    assert after
    assert chat.max_generations_running == 1


def test_two_concurrent_requests_never_interleave(chat):
    prompts = ["You never make time for me.", "I wish you would ask about my day."]
    # Greedy decoding: each prompt's answer is fixed, so any sharing of the context would change it.
    alone = [chat.complete(messages(p), max_tokens=24, temperature=0) for p in prompts]
    results: dict[int, str] = {}
    start = threading.Barrier(len(prompts))

    def ask(i: int) -> None:
        start.wait()
        results[i] = chat.complete(messages(prompts[i]), max_tokens=24, temperature=0)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(prompts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert [results[i] for i in range(len(prompts))] == alone
    assert chat.max_generations_running == 1


def test_llama_logging_goes_to_the_log_file_not_the_terminal(tiny_chat_model, tmp_path, capfd):
    log_file = tmp_path / "llama.log"
    with ChatModel(tiny_chat_model, n_ctx=512, log_file=log_file) as model:
        model.complete(messages("hello"), max_tokens=2, temperature=0)
    captured = capfd.readouterr()
    assert captured.err == "" and captured.out == ""
    assert log_file.is_file() and log_file.stat().st_size > 0


def test_a_missing_model_file_is_a_clear_model_error(tmp_path):
    with pytest.raises(ModelError) as err:
        ChatModel(tmp_path / "nowhere.gguf")
    assert "nowhere.gguf" in str(err.value)


def test_a_file_that_is_not_gguf_is_a_clear_model_error(tmp_path):
    fake = tmp_path / "fake.gguf"
    fake.write_bytes(b"this is not a model" * 100)
    with pytest.raises(ModelError):
        ChatModel(fake)


def test_a_prompt_longer_than_the_context_is_a_model_error_not_a_crash(tiny_chat_model):
    with ChatModel(tiny_chat_model, n_ctx=256) as model:
        with pytest.raises(ModelError):
            model.complete(messages("you never listen " * 400), max_tokens=4)
        # The model still answers afterwards.
        assert model.complete(messages("hello"), max_tokens=2, temperature=0)


def test_a_closed_model_refuses_new_requests(tiny_chat_model):
    model = ChatModel(tiny_chat_model, n_ctx=256)
    model.close()
    with pytest.raises(ModelError):
        model.complete(messages("hello"), max_tokens=2)


def test_the_chat_model_and_the_embedder_compute_on_one_thread(chat, tiny_embed_model):
    # One OpenMP team in the process: a second computing thread halved decode speed (compute_thread.py).
    from companion.guidance.embed import Embedder

    seen: dict[str, int] = {}
    chat.run_on_owner(lambda llm: seen.setdefault("chat", threading.get_ident()))
    with Embedder(tiny_embed_model, n_threads=1) as embedder:
        original = embedder._embed_here

        def recording(texts):
            seen["embed"] = threading.get_ident()
            return original(texts)

        embedder._embed_here = recording
        assert embedder.embed(["you never ask about my day"]).shape[0] == 1
    assert seen["chat"] == seen["embed"] != threading.get_ident()


def test_without_a_thread_count_the_chat_model_decodes_on_every_physical_core(tiny_chat_model):
    from companion.engines.runtime import physical_cores

    cores = physical_cores()
    assert 1 <= cores <= (os.cpu_count() or 1)
    with ChatModel(tiny_chat_model, n_ctx=256) as model:
        assert model.run_on_owner(lambda llm: llm.n_threads) == cores
    with ChatModel(tiny_chat_model, n_ctx=256, n_threads=1) as model:
        assert model.run_on_owner(lambda llm: llm.n_threads) == 1


def test_a_job_that_fails_on_the_compute_thread_raises_in_its_caller_and_the_thread_goes_on():
    from companion.engines.compute_thread import ComputeThread

    worker = ComputeThread(name="companion-test-compute")

    def fails():
        raise ValueError("broken job")

    with pytest.raises(ValueError, match="broken job"):
        worker.run(fails)
    order: list[int] = []
    for number in range(5):
        worker.submit(lambda number=number: order.append(number))
    # Queued in order, run in order; a job may itself call run() without waiting on itself.
    assert worker.run(lambda: worker.run(lambda: len(order))) == 5
    assert order == [0, 1, 2, 3, 4]
