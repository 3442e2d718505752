"""The guidance index with a real Chroma folder and the real (tiny) GGUF embedder: refresh, healing, limits."""

from __future__ import annotations

import os
import shutil

import pytest

from companion.errors import IndexError_, InputError
from companion.guidance.index import MAX_QUERY_CHARS, GuidanceIndex
from companion.guidance.knowledge import split_document


class CountingEmbedder:
    """The real embedder, counting how many texts it was asked to embed (to prove refreshes skip work)."""

    def __init__(self, inner, name: str | None = None) -> None:
        self.inner = inner
        self.name = name or inner.name
        self.texts_embedded = 0

    def embed(self, texts):
        self.texts_embedded += len(texts)
        return self.inner.embed(texts)


@pytest.fixture
def embedder(tiny_embedder):
    return CountingEmbedder(tiny_embedder)


SMALL_GUIDE = """# Small guide

## Listening

Let your partner finish before you answer, and say back what you heard.

## Gentle start-up

Begin a hard talk softly: say what happened, how you feel, and what you would like.

## Repair attempts

A joke, a touch or "can we start over?" stops a fight from spiralling.

## Appreciation

Thank your partner for one specific thing every day.
"""


@pytest.fixture(scope="module")
def small_sections():
    return split_document(SMALL_GUIDE, "small.md")


@pytest.fixture
def index_dir(companion_home):
    return companion_home / "index"


@pytest.fixture
def bundled_index_dir(index_dir, tiny_guidance_index):
    shutil.copytree(tiny_guidance_index, index_dir)
    return index_dir


def test_first_refresh_embeds_every_section_once(index_dir, embedder, small_sections):
    index = GuidanceIndex(index_dir, embedder)
    first = index.refresh(small_sections)
    assert (first.added, first.updated, first.removed, first.unchanged) == (len(small_sections), 0, 0, 0)
    assert embedder.texts_embedded == len(small_sections)
    embedder.texts_embedded = 0
    again = index.refresh(small_sections)
    assert (again.added, again.updated, again.removed, again.unchanged) == (0, 0, 0, len(small_sections))
    assert embedder.texts_embedded == 0
    index.close()


def test_an_unchanged_bundled_corpus_is_not_embedded_again(bundled_index_dir, embedder, bundled_sections):
    index = GuidanceIndex(bundled_index_dir, embedder)
    report = index.refresh(bundled_sections)
    assert report.unchanged == report.total == len(bundled_sections)
    assert report.embedded == 0 and report.notice is None and not report.rebuilt
    assert embedder.texts_embedded == 0
    index.close()


def test_only_changed_and_new_sections_are_embedded_and_removed_ones_dropped(index_dir, embedder):
    text = "# Guide\n\n## One\n\nFirst text here.\n\n## Two\n\nSecond text here.\n\n## Three\n\nThird text.\n"
    index = GuidanceIndex(index_dir, embedder)
    index.refresh(split_document(text, "guide.md"))
    embedder.texts_embedded = 0
    edited = text.replace("Second text here.", "Second text, now reworded.").replace(
        "## Three\n\nThird text.\n", "## Four\n\nA new fourth section.\n"
    )
    report = index.refresh(split_document(edited, "guide.md"))
    assert (report.added, report.updated, report.removed, report.unchanged) == (1, 1, 1, 1)
    assert embedder.texts_embedded == 2
    assert {s.heading for s in index.sections()} == {"One", "Two", "Four"}
    assert index.section_count == 3
    index.close()


def test_search_on_a_reopened_index_rebuilds_sections_from_chroma(
    bundled_index_dir, embedder, bundled_sections
):
    reopened = GuidanceIndex(bundled_index_dir, embedder)
    hits = reopened.search("repair attempts", k=3)
    original = {s.id: s for s in bundled_sections}
    assert len(hits) == 3
    for hit in hits:
        assert hit.section == original[hit.section.id]
    reopened.close()


def test_exact_words_and_headings_count_even_with_a_weak_embedder(
    bundled_index_dir, embedder, bundled_sections
):
    index = GuidanceIndex(bundled_index_dir, embedder)
    index.refresh(bundled_sections)
    hits = index.search("gentle start-up", k=3)
    assert hits[0].section.heading == "Gentle start-up"
    assert set(hits[0].matched_terms) == {"gentle", "start"}
    assert hits[0].score > hits[0].dense
    hits = index.search("stonewalling", k=4)
    assert hits[0].section.heading in {"Stonewalling and its antidote", "The four horsemen"}
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert len({h.section.id for h in hits}) == 4
    index.close()


def test_a_deleted_index_folder_is_rebuilt_with_a_notice(index_dir, embedder, small_sections):
    GuidanceIndex(index_dir, embedder).refresh(
        small_sections
    )  # left open on purpose: Chroma caches the folder
    shutil.rmtree(index_dir)
    index = GuidanceIndex(index_dir, embedder)
    report = index.refresh(small_sections)
    assert report.rebuilt and report.added == len(small_sections)
    assert "building the search index" in report.notice.lower()
    assert index.search("appreciation", k=1)[0].section.heading == "Appreciation"
    index.close()


def test_a_folder_deleted_while_open_is_rebuilt_on_the_next_search(index_dir, embedder, small_sections):
    index = GuidanceIndex(index_dir, embedder)
    index.refresh(small_sections)
    shutil.rmtree(index_dir)
    results = index.search("gentle start-up", k=2)
    assert results[0].section.heading == "Gentle start-up"
    assert "removed" in results.notice
    assert index_dir.is_dir()
    index.close()


def test_an_index_folder_full_of_junk_is_cleared_and_rebuilt(index_dir, embedder, small_sections):
    index_dir.mkdir(parents=True)
    (index_dir / "chroma.sqlite3").write_bytes(os.urandom(8192))
    (index_dir / "0f0e0d0c-junk").mkdir()
    (index_dir / "0f0e0d0c-junk" / "data_level0.bin").write_bytes(os.urandom(4096))
    index = GuidanceIndex(index_dir, embedder)
    report = index.refresh(small_sections)
    assert report.rebuilt and report.added == len(small_sections)
    assert "rebuilt" in report.notice
    assert not (index_dir / "0f0e0d0c-junk").exists()
    assert index.search("repair attempts", k=1)[0].section.heading == "Repair attempts"
    index.close()


def test_an_index_path_that_is_a_file_is_replaced(index_dir, embedder, small_sections):
    index_dir.parent.mkdir(parents=True, exist_ok=True)
    index_dir.write_text("not a folder", encoding="utf-8")
    index = GuidanceIndex(index_dir, embedder)
    assert index.refresh(small_sections).rebuilt
    assert index_dir.is_dir()
    index.close()


def test_a_different_embedder_rebuilds_the_collection(index_dir, embedder, tiny_embedder, small_sections):
    GuidanceIndex(index_dir, embedder).close()
    index = GuidanceIndex(index_dir, embedder)
    index.refresh(small_sections)
    index.close()
    other = CountingEmbedder(tiny_embedder, name="another-embedder")
    index = GuidanceIndex(index_dir, other)
    report = index.refresh(small_sections)
    assert report.added == len(small_sections)
    assert other.texts_embedded == len(small_sections)
    assert "another embedder" in report.notice
    index.close()


def test_rebuild_embeds_everything_again(index_dir, embedder, small_sections):
    index = GuidanceIndex(index_dir, embedder)
    index.refresh(small_sections)
    embedder.texts_embedded = 0
    report = index.rebuild(small_sections)
    assert report.added == len(small_sections) and report.rebuilt
    assert embedder.texts_embedded == len(small_sections)
    index.close()


@pytest.mark.parametrize("query", ["", "   \n\t "])
def test_an_empty_query_is_a_clear_error(index_dir, embedder, small_sections, query):
    index = GuidanceIndex(index_dir, embedder)
    index.refresh(small_sections)
    with pytest.raises(InputError, match="empty"):
        index.search(query)
    index.close()


def test_a_200_kb_query_is_shortened_with_a_notice(index_dir, embedder, small_sections):
    index = GuidanceIndex(index_dir, embedder)
    index.refresh(small_sections)
    embedder.texts_embedded = 0
    query = ("my partner says I never listen and we argue about chores " * 4000)[:200_000]
    results = index.search(query, k=3)
    assert len(results) == 3
    assert f"{MAX_QUERY_CHARS:,}" in results.notice and "200,000" in results.notice
    assert embedder.texts_embedded == 1
    index.close()


def test_searching_an_empty_index_says_how_to_build_it(index_dir, embedder):
    index = GuidanceIndex(index_dir, embedder)
    with pytest.raises(IndexError_, match="companion index"):
        index.search("anything")
    index.close()


def test_chroma_runs_private_with_telemetry_off(index_dir, embedder, small_sections):
    index = GuidanceIndex(index_dir, embedder)
    index.refresh(small_sections[:2])
    assert os.environ["ANONYMIZED_TELEMETRY"] == "False"
    assert index._client.get_settings().anonymized_telemetry is False
    index.close()
    for path in (index_dir, *index_dir.rglob("*")):
        assert (path.stat().st_mode & 0o077) == 0, path
