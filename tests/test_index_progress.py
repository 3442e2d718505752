"""Indexing shows its progress, and an interrupt never leaves a document half-added: with the real Chroma folder,
the real GGUF embedders and the real `companion` process on a real pseudo-terminal."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from processes import INTERRUPTIBLE

from companion.guidance.embed import Embedder
from companion.guidance.index import PENDING_MARKER, UPSERT_BATCH, GuidanceIndex
from companion.guidance.knowledge import split_document

ROOT = Path(__file__).resolve().parent.parent

_PLACES = ["the kitchen", "the car", "the porch", "the bedroom", "the park", "the station"]
_MOMENTS = ["after dinner", "on Sunday mornings", "between meetings", "at bedtime", "during the school run"]
_HABITS = [
    "we put our phones in a drawer",
    "one of us asks a real question",
    "we leave the chores for later",
    "we sit side by side",
    "we take turns telling one good thing",
]


def notes_document(chapters: int) -> str:
    """A long plain-text notebook of our own words: numbered chapters, each a few paragraphs long."""
    lines = []
    for number in range(1, chapters + 1):
        place, moment = _PLACES[number % len(_PLACES)], _MOMENTS[number % len(_MOMENTS)]
        lines.append(f"{number}. Talking in {place} {moment} ({number})")
        for paragraph in range(3):
            habit = _HABITS[(number + paragraph) % len(_HABITS)]
            lines.append(
                f"In {place}, {moment}, {habit}. Chapter {number} paragraph {paragraph} keeps this note apart from "
                f"the others so its section is its own. It is easier to hear each other when {habit}, and the "
                "evening feels less rushed for both of us.\n"
            )
    return "\n".join(lines)


@pytest.fixture
def tiny_index(tmp_path, tiny_embedder):
    index = GuidanceIndex(tmp_path / "index", tiny_embedder)
    yield index
    index.close()


def test_progress_counts_every_embedded_section_once_in_order(tiny_index):
    sections = split_document(notes_document(40), "documents/notes.txt")
    calls: list[tuple[int, int]] = []
    report = tiny_index.refresh(sections, progress=lambda done, total: calls.append((done, total)))
    assert report.embedded == len(sections) > UPSERT_BATCH
    assert calls[0] == (0, len(sections)) and calls[-1] == (len(sections), len(sections))
    done = [d for d, _ in calls]
    assert done == sorted(done) and len(set(done)) == len(done)
    assert {total for _, total in calls} == {len(sections)}
    assert len(calls) == 1 + -(-len(sections) // UPSERT_BATCH)


def test_a_refresh_with_nothing_to_embed_reports_no_progress(tiny_index):
    sections = split_document(notes_document(5), "documents/notes.txt")
    tiny_index.refresh(sections)
    calls = []
    report = tiny_index.refresh(sections, progress=lambda *pair: calls.append(pair))
    assert report.embedded == 0 and calls == []


def test_an_interrupted_refresh_is_completed_and_named_by_the_next_one(tiny_index):
    sections = split_document(notes_document(40), "documents/notes.txt")

    def stop_after_first_batch(done: int, total: int) -> None:
        if done >= UPSERT_BATCH:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        tiny_index.refresh(sections, progress=stop_after_first_batch)
    assert tiny_index.interrupted and (tiny_index.index_dir / PENDING_MARKER).exists()
    report = tiny_index.refresh(sections)
    # Exactly the sections the interrupted run had not written are embedded now; nothing is embedded twice.
    assert report.added == len(sections) - UPSERT_BATCH and report.unchanged == UPSERT_BATCH
    assert report.resumed and "interrupted" in report.notice
    assert not tiny_index.interrupted
    assert {s.id for s in tiny_index.sections()} == {s.id for s in sections}
    assert tiny_index.refresh(sections).notice is None


def test_remove_source_drops_only_that_documents_sections(tiny_index):
    ours = split_document(notes_document(6), "documents/notes.txt")
    other = split_document("# Other\n\nA different note about the garden and the weekend.\n", "other.md")
    tiny_index.refresh(ours + other)
    assert tiny_index.remove_source("documents/notes.txt") == len(ours)
    assert [s.source for s in tiny_index.sections()] == ["other.md"]


# ---- the real command on a terminal ------------------------------------------------------------------------


def _companion(args, home: Path, **kwargs):
    env = {**os.environ, "COMPANION_HOME": str(home), "COMPANION_LISTENER": "off", "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "companion", *args], cwd=ROOT, env=env, **INTERRUPTIBLE, **kwargs
    )


def _read_until(fd: int, pattern: str, proc, limit_s: float = 300.0) -> str:
    """Terminal output up to the first match of pattern (a generous limit only guards against a hang)."""
    seen = ""
    deadline = time.monotonic() + limit_s
    while not re.search(pattern, seen):
        if time.monotonic() > deadline or (proc.poll() is not None and not select.select([fd], [], [], 0)[0]):
            pytest.fail(f"never saw {pattern!r}; terminal showed {seen[-400:]!r}")
        if select.select([fd], [], [], 0.2)[0]:
            try:
                seen += os.read(fd, 4096).decode("utf-8", "replace")
            except OSError:
                break
    return seen


def _drain(fd: int) -> str:
    out = ""
    while select.select([fd], [], [], 0.5)[0]:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk.decode("utf-8", "replace")
    return out


def test_ctrl_c_during_knowledge_add_keeps_neither_the_copy_nor_its_sections(
    tmp_path, companion_home, minilm_model
):
    home = companion_home
    first = _companion(["index"], home, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = first.communicate(timeout=600)
    assert first.returncode == 0, err
    assert "indexed" in err and "Indexing:" not in err  # not a terminal: only the final line
    document = tmp_path / "evening-notes.txt"
    # Long enough that indexing is still running when Ctrl+C lands after the first batch (Q8_0 embeds fast).
    document.write_text(notes_document(600), encoding="utf-8")

    primary, secondary = os.openpty()
    proc = _companion(
        ["knowledge", "add", str(document)],
        home,
        stdin=subprocess.DEVNULL,
        stdout=secondary,
        stderr=secondary,
    )
    os.close(secondary)
    try:
        # Wait until at least one batch of the document is in the index, then press Ctrl+C.
        _read_until(primary, r"Indexing: [1-9]\d*/\d+ sections", proc)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=300) == 130
        tail = _drain(primary)
    finally:
        os.close(primary)
    assert "was not added" in tail and "Traceback" not in tail
    assert not (home / "documents" / document.name).exists()

    with Embedder(minilm_model) as embedder:
        index = GuidanceIndex(home / "index", embedder)
        try:
            assert not [s for s in index.sections() if s.source.endswith(document.name)]
        finally:
            index.close()


# ---- the embedder's thread count is measured, not assumed ------------------------------------------------------


def test_the_thread_chooser_settles_on_the_faster_count_and_rechecks_the_slower_one_rarely():
    from companion.guidance.embed import MIN_TIMED_TOKENS, PROBE_EVERY, ThreadChooser

    chooser = ThreadChooser([1, 2])
    seconds_per_token = {1: 0.001, 2: 0.004}  # as measured on a busy two-core machine
    picks = []
    for _ in range(200):
        threads = chooser.pick(4 * MIN_TIMED_TOKENS)
        picks.append(threads)
        chooser.record(threads, 4 * MIN_TIMED_TOKENS, seconds_per_token[threads] * 4 * MIN_TIMED_TOKENS)
    assert chooser.best == 1 and set(picks[:2]) == {1, 2}
    # Four times slower: timed again only every PROBE_EVERY * 4 calls.
    assert 1 <= picks[2:].count(2) <= 200 // (PROBE_EVERY * 4) + 1
    assert chooser.pick(10) == 1  # a short call (a query) uses the best without timing


def test_the_real_embedder_gives_the_same_vectors_whichever_thread_count_it_chose(minilm_model):
    from companion.guidance.embed import MIN_TIMED_TOKENS

    texts = [
        section.embedding_text() for section in split_document(notes_document(30), "documents/notes.txt")
    ]
    with Embedder(minilm_model, n_threads=1) as fixed, Embedder(minilm_model) as measured:
        assert (
            sum(fixed.count_tokens(t) for t in texts) > 2 * MIN_TIMED_TOKENS
        )  # long enough to be timed in runs
        first, again = measured.embed(texts), measured.embed(texts)
        reference = fixed.embed(texts)
    assert measured.threads.cost  # it timed at least one thread count
    assert (first * reference).sum(axis=1).min() > 0.9999 and (again * reference).sum(axis=1).min() > 0.9999
