"""Ranking with the real embedders on the query sets in training/retrieval/ (written before any tuning, half of
each held out): the copy of MiniLM tuned for retrieval ranks held-out queries better than the plain one, hybrid is
not worse than plain dense at the top, and a person's own document is not pushed out of the results by the bundled
guidance."""

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
# Each document's first query set, then the one written after it (both before any tuning).
FIRST_SETS = {
    ARTICLE_SOURCE: QUERIES / "article_queries.jsonl",
    "conflict-resolution.md": QUERIES / "conflict_queries.jsonl",
}
SETS = {
    ARTICLE_SOURCE: (FIRST_SETS[ARTICLE_SOURCE], QUERIES / "article_queries_more.jsonl"),
    "conflict-resolution.md": (FIRST_SETS["conflict-resolution.md"], QUERIES / "conflict_queries_more.jsonl"),
}


def queries(*paths: Path, split: str | None = None) -> list[dict]:
    rows = [
        json.loads(line)
        for path in paths
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    return [row for row in rows if split is None or row["split"] == split]


def _index_of_article_beside_bundled(folder: Path, embedder, shared_article: Path) -> GuidanceIndex:
    sections = KnowledgeBase(Settings(home=Path("/nonexistent-home"))).sections()
    sections += list(load_document(shared_article, source=ARTICLE_SOURCE).sections)
    index = GuidanceIndex(folder / "index", embedder)
    index.refresh(sections)
    return index


@pytest.fixture(scope="module")
def article_beside_bundled(tmp_path_factory, search_embedder, shared_article):
    index = _index_of_article_beside_bundled(
        tmp_path_factory.mktemp("ranking"), search_embedder, shared_article
    )
    yield index
    index.close()


@pytest.fixture(scope="module")
def plain_article_beside_bundled(tmp_path_factory, minilm_embedder, shared_article):
    index = _index_of_article_beside_bundled(
        tmp_path_factory.mktemp("plain"), minilm_embedder, shared_article
    )
    yield index
    index.close()


@pytest.mark.parametrize("source", list(SETS))
def test_each_query_set_names_real_sections_and_holds_half_out(source, shared_article):
    path = shared_article if source == ARTICLE_SOURCE else ROOT / "knowledge" / source
    headings = {section.heading for section in load_document(path).sections}
    for query_file in SETS[source]:
        rows = queries(query_file)
        assert len(rows) >= 20 and {row["expected"] for row in rows} <= headings, query_file.name
        assert sum(row["split"] == "held-out" for row in rows) == len(rows) // 2, query_file.name


def _first_places(index, source: str, split: str | None = None) -> tuple[int, int]:
    """(queries whose expected section the shipped hybrid ranks first, the same for dense similarity alone)."""
    hybrid = dense = 0
    for row in queries(*SETS[source], split=split):
        hits = index.search(row["query"], k=100, within=source)
        hybrid += hits[0].section.heading == row["expected"]
        dense += max(hits, key=lambda hit: hit.dense).section.heading == row["expected"]
    return hybrid, dense


def test_the_retrieval_tuned_encoder_ranks_held_out_queries_first_more_often_than_plain_minilm(
    article_beside_bundled, plain_article_beside_bundled
):
    # Its training queries name bundled sections only; the article and conflict-resolution.md are never targets.
    tuned = [_first_places(article_beside_bundled, source, "held-out") for source in SETS]
    plain = [_first_places(plain_article_beside_bundled, source, "held-out") for source in SETS]
    assert sum(t[0] for t in tuned) > sum(p[0] for p in plain), (tuned, plain)
    assert sum(t[1] for t in tuned) > sum(p[1] for p in plain), (tuned, plain)


@pytest.mark.parametrize("index_name", ["article_beside_bundled", "plain_article_beside_bundled"])
def test_hybrid_ranking_is_not_worse_than_dense_at_the_top(index_name, request):
    index = request.getfixturevalue(index_name)
    totals = [_first_places(index, source) for source in SETS]
    hybrid, dense = sum(t[0] for t in totals), sum(t[1] for t in totals)
    assert hybrid >= dense, totals


def test_search_in_one_document_returns_only_its_sections(article_beside_bundled):
    hits = article_beside_bundled.search(
        "We never just sit and talk anymore.", k=50, within="emotional-intimacy-article.txt"
    )
    assert hits and {hit.section.source for hit in hits} == {ARTICLE_SOURCE}
    assert len(hits) == len([s for s in article_beside_bundled.sections() if s.source == ARTICLE_SOURCE])


def test_the_persons_document_is_not_pushed_out_by_the_bundled_guidance(article_beside_bundled):
    for row in queries(*SETS[ARTICLE_SOURCE]):
        top = article_beside_bundled.search(row["query"], k=5)
        assert any(hit.section.source == ARTICLE_SOURCE for hit in top), row["query"]
    # ...while a question about the bundled guidance still finds its own section among the first twelve.
    for row in queries(FIRST_SETS["conflict-resolution.md"]):
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
