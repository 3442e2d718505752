"""Ranking with the real MiniLM embedder on the query sets in training/retrieval/ (written before any tuning, half
of each held out): hybrid is not worse than plain dense at the top, and a person's own document is not pushed out
of the results by the bundled guidance."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from companion.config import Settings
from companion.guidance.index import GuidanceIndex
from companion.guidance.knowledge import KnowledgeBase, load_document

ROOT = Path(__file__).resolve().parent.parent
QUERIES = ROOT / "training" / "retrieval"
ARTICLE_SOURCE = "documents/emotional-intimacy-article.txt"
SETS = {
    ARTICLE_SOURCE: QUERIES / "article_queries.jsonl",
    "conflict-resolution.md": QUERIES / "conflict_queries.jsonl",
}


def queries(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def article_beside_bundled(tmp_path_factory, minilm_embedder, shared_article):
    sections = KnowledgeBase(Settings(home=Path("/nonexistent-home"))).sections()
    sections += list(load_document(shared_article, source=ARTICLE_SOURCE).sections)
    index = GuidanceIndex(tmp_path_factory.mktemp("ranking") / "index", minilm_embedder)
    index.refresh(sections)
    yield index
    index.close()


@pytest.mark.parametrize("source", list(SETS))
def test_each_query_set_names_real_sections_and_holds_half_out(source, shared_article):
    rows = queries(SETS[source])
    path = shared_article if source == ARTICLE_SOURCE else ROOT / "knowledge" / source
    headings = {section.heading for section in load_document(path).sections}
    assert len(rows) >= 20 and {row["expected"] for row in rows} <= headings
    assert sum(row["split"] == "held-out" for row in rows) == len(rows) // 2


def _first_places(index, source: str) -> tuple[int, int]:
    """(queries whose expected section the shipped hybrid ranks first, the same for dense similarity alone)."""
    hybrid = dense = 0
    for row in queries(SETS[source]):
        hits = index.search(row["query"], k=100, within=source)
        hybrid += hits[0].section.heading == row["expected"]
        dense += max(hits, key=lambda hit: hit.dense).section.heading == row["expected"]
    return hybrid, dense


def test_hybrid_ranking_is_not_worse_than_dense_at_the_top(article_beside_bundled):
    totals = [_first_places(article_beside_bundled, source) for source in SETS]
    hybrid, dense = sum(t[0] for t in totals), sum(t[1] for t in totals)
    assert hybrid >= dense, totals


def test_search_in_one_document_returns_only_its_sections(article_beside_bundled):
    hits = article_beside_bundled.search(
        "We never just sit and talk anymore.", k=50, within="emotional-intimacy-article.txt"
    )
    assert hits and {hit.section.source for hit in hits} == {ARTICLE_SOURCE}
    assert len(hits) == len([s for s in article_beside_bundled.sections() if s.source == ARTICLE_SOURCE])


def test_the_persons_document_is_not_pushed_out_by_the_bundled_guidance(article_beside_bundled):
    for row in queries(SETS[ARTICLE_SOURCE]):
        top = article_beside_bundled.search(row["query"], k=5)
        assert any(hit.section.source == ARTICLE_SOURCE for hit in top), row["query"]
    # ...while a question about the bundled guidance still finds its own section among the first twelve.
    for row in queries(SETS["conflict-resolution.md"]):
        top = article_beside_bundled.search(row["query"], k=12)
        assert any(hit.section.heading == row["expected"] for hit in top), row["query"]


def test_the_guidance_screen_prefix_names_the_filter_and_leaves_other_queries_alone(article_beside_bundled):
    from companion.guidance.index import split_within

    assert split_within("in:mine we never talk") == ("we never talk", "mine")
    assert split_within("in:emotional-intimacy-article.txt ask about my day") == (
        "ask about my day",
        "emotional-intimacy-article.txt",
    )
    assert split_within("in: the evening") == ("in: the evening", None)
    assert split_within("in:mine") == ("in:mine", None)
    text, within = split_within("in:bundled we never talk")
    assert all(
        not hit.section.source.startswith("documents/")
        for hit in article_beside_bundled.search(text, k=8, within=within)
    )
