"""Tokens cross from the worker to the UI in batches, and a stale generation can never write."""

from __future__ import annotations

import threading

from companion.tui.streaming import GenerationCounter, TokenBuffer


def test_many_tokens_from_a_thread_arrive_as_one_batch():
    buffer = TokenBuffer(generation=1)
    tokens = [f"w{i} " for i in range(200)]
    worker = threading.Thread(target=lambda: [buffer.add(t) for t in tokens])
    worker.start()
    worker.join()
    text, restarts = buffer.take()
    assert text == "".join(tokens)
    assert buffer.tokens_received == 200
    assert restarts == 0
    assert buffer.take() == ("", 0)


def test_tokens_after_cancel_are_dropped():
    buffer = TokenBuffer(generation=1)
    buffer.add("kept ")
    buffer.cancel.set()
    buffer.add("late")
    assert buffer.take()[0] == "kept "


def test_a_discarded_draft_is_cleared_and_counted():
    buffer = TokenBuffer(generation=1)
    buffer.add("you should just")
    buffer.discard("advice")
    buffer.add("It sounds like")
    assert buffer.take() == ("It sounds like", 1)


def test_only_the_newest_generation_is_current():
    counter = GenerationCounter()
    first = counter.next()
    second = counter.next()
    assert not counter.is_current(first)
    assert counter.is_current(second)
    counter.invalidate()
    assert not counter.is_current(second)
