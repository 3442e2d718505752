"""Search as a person uses it: words and headings count, matches are shown, and the real MiniLM finds the
right guidance. The CLI is driven through companion.cli.main, exactly as `companion search` runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from companion.cli import main
from companion.config import Settings
from companion.guidance.index import GuidanceIndex
from companion.guidance.knowledge import KnowledgeBase, split_document
from companion.guidance.search import LexicalIndex, QueryTerms, highlight, highlight_spans, stem

# ---- words ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("words", "same"),
    [
        (("listen", "listens", "listening", "listened", "listener"), True),
        (("feel", "feelings", "feeling"), True),
        (("reflect", "reflecting", "reflection", "reflections"), True),
        (("take", "taking"), True),
        (("partner", "partners"), True),
        (("listen", "list"), False),
        (("trust", "true"), False),
    ],
)
def test_stemming_joins_forms_of_one_word_and_only_those(words, same):
    assert (len({stem(word) for word in words}) == 1) is same


def test_query_terms_drop_function_words_and_keep_what_was_typed():
    terms = QueryTerms.parse("I feel like you NEVER listen to me")
    assert [terms.surface[root] for root in terms.stems] == ["feel", "never", "listen"]


def test_bm25_prefers_the_section_about_the_words_and_heading_words_count_more():
    text = (
        "# Guide\n\n## Repair attempts\n\nSay sorry and start over.\n\n"
        "## Chores\n\nA repair of the sink is one chore among many chores.\n\n"
        "## Money\n\nBudgets and bills.\n"
    )
    lexical = LexicalIndex(split_document(text, "guide.md"))
    matches = lexical.match(QueryTerms.parse("repair"))
    by_heading = {lexical.sections[position].heading: match for position, match in matches.items()}
    assert set(by_heading) == {"Repair attempts", "Chores"}
    assert by_heading["Repair attempts"].bm25 > by_heading["Chores"].bm25
    assert by_heading["Repair attempts"].heading == 1.0 and by_heading["Chores"].heading == 0.0
    assert all(0.0 <= match.lexical <= 1.0 for match in matches.values())


def test_highlighting_marks_every_form_of_a_matched_word():
    text = "Listening well means you listened before you answered; lists do not count."
    assert [text[a:b] for a, b in highlight_spans(text, ["listen"])] == ["Listening", "listened"]
    assert highlight("We listen.", ["listening"], "[", "]") == "We [listen]."


# ---- quality with the real embedder search runs (MiniLM tuned for retrieval) ---------------------------


@pytest.fixture(scope="module")
def prebuilt_minilm_index(tmp_path_factory, search_embedder, bundled_sections):
    """The bundled guidance embedded once per module by the embedder search runs; tests search it or a copy."""
    folder = tmp_path_factory.mktemp("minilm") / "index"
    index = GuidanceIndex(folder, search_embedder)
    index.refresh(bundled_sections)
    index.close()
    return folder


@pytest.fixture(scope="module")
def guidance(tmp_path_factory, prebuilt_minilm_index, search_embedder, bundled_sections):
    folder = tmp_path_factory.mktemp("guidance") / "index"
    shutil.copytree(prebuilt_minilm_index, folder)
    index = GuidanceIndex(folder, search_embedder)
    assert index.refresh(bundled_sections).embedded == 0
    yield index
    index.close()


@pytest.fixture
def settings(companion_home):
    return Settings.load(companion_home)


@pytest.fixture
def home_with_index(companion_home, prebuilt_minilm_index):
    """A data folder whose index already holds the bundled guidance, as after `companion index`."""
    shutil.copytree(prebuilt_minilm_index, companion_home / "index")
    return companion_home


@pytest.mark.embedder
def test_never_listen_puts_the_active_listening_guidance_first(guidance):
    hits = guidance.search("I feel like you never listen to me", k=5)
    assert hits[0].section.source == "active-listening.md"
    assert "listen" in hits[0].matched_terms


@pytest.mark.embedder
@pytest.mark.parametrize(
    ("query", "expected_headings"),
    [
        ("how do I bring up something that bothers me without starting a fight",
         {"Gentle start-up", "I-statements", "Complaint without blame"}),
        ("he goes silent and walks away whenever we argue", {"Stonewalling and its antidote", "Taking a break"}),
        ("how do we make up after a bad argument", {"Repair attempts"}),
        ("she keeps trying to get my attention and I miss it", {"Bids for connection", "Turning toward",
                                                               "Turning away and turning against"}),
        ("how to say what I heard back to her in my own words", {"Reflecting the content", "Reflecting the feeling",
                                                                 "Simple and complex reflections"}),
        ("I want to tell him about my fears but I'm scared", {"Sharing vulnerabilities", "Starting small"}),
    ],
)  # fmt: skip
def test_everyday_questions_find_the_matching_guidance_in_the_top_three(guidance, query, expected_headings):
    headings = [hit.section.heading for hit in guidance.search(query, k=3)]
    assert expected_headings & set(headings), headings


@pytest.mark.embedder
def test_an_added_article_is_found_for_its_own_topics(
    home_with_index, settings, search_embedder, shared_article
):
    knowledge = KnowledgeBase(settings)
    knowledge.add_document(shared_article)
    index = GuidanceIndex(settings.index_dir, search_embedder)
    report = index.refresh(knowledge.sections())
    assert (report.added, report.unchanged) == (16, report.total - 16)
    source = f"documents/{shared_article.name}"
    for query, heading in [
        ("what are the benefits of emotional intimacy in relationships", None),
        ("increased trust from emotional intimacy", "Increased Trust"),
        ("prioritize quality time together even in busy moments", "Make Time for Each Other"),
        ("understanding emotional intimacy", "Understanding Emotional Intimacy"),
    ]:
        hits = index.search(query, k=3)
        from_article = [hit for hit in hits if hit.section.source == source]
        assert from_article, (query, [(h.section.source, h.section.heading) for h in hits])
        if heading:
            assert heading in {hit.section.heading for hit in from_article}, query
    index.close()


# ---- the CLI -------------------------------------------------------------------------------------------


@pytest.fixture
def use_minilm(monkeypatch, search_model, home_with_index):
    monkeypatch.setenv("COMPANION_EMBED_MODEL", str(search_model))


@pytest.mark.embedder
def test_cli_search_json_has_the_documented_shape(use_minilm, capsys):
    assert main(["search", "I feel like you never listen to me", "--json", "-k", "3"]) == 0
    payload = json.loads(capsys.readouterr().out)
    results = payload["results"]
    assert len(results) == 3
    assert {"section", "source", "text", "score"} <= set(results[0])
    assert results[0]["source"] == "active-listening.md"
    assert results[0]["section"].startswith("Active listening")
    assert [r["score"] for r in results] == sorted((r["score"] for r in results), reverse=True)


@pytest.mark.embedder
def test_cli_search_shows_headings_sources_and_matches_without_escapes_when_piped(use_minilm, capsys):
    assert main(["search", "gentle start-up", "-k", "2"]) == 0
    out = capsys.readouterr().out
    assert "1. Conflict resolution > Gentle start-up  (conflict-resolution.md, score" in out
    assert "matched: gentle, start" in out
    assert "\033[" not in out


@pytest.mark.embedder
def test_cli_add_then_search_finds_the_article(use_minilm, shared_article, capsys, companion_home):
    assert main(["knowledge", "add", str(shared_article)]) == 0
    out = capsys.readouterr().out
    assert "Added emotional-intimacy-article.txt: 16 sections" in out
    assert main(["knowledge", "list"]) == 0
    assert "documents/emotional-intimacy-article.txt" in capsys.readouterr().out
    assert main(["search", "Be Patient and Compassionate", "--json", "-k", "3"]) == 0
    results = json.loads(capsys.readouterr().out)["results"]
    assert results[0]["source"] == "documents/emotional-intimacy-article.txt"
    assert results[0]["section"].endswith("Be Patient and Compassionate")


@pytest.mark.embedder
def test_cli_index_reports_what_changed(use_minilm, shared_article, capsys):
    assert main(["index"]) == 0
    assert "0 added, 0 updated, 0 removed" in capsys.readouterr().out
    assert main(["knowledge", "add", str(shared_article)]) == 0
    assert "16 added, 0 updated, 0 removed" in capsys.readouterr().out
    assert main(["index"]) == 0
    assert "0 added, 0 updated, 0 removed" in capsys.readouterr().out


def test_cli_search_heals_a_junk_index(monkeypatch, tiny_embed_model, companion_home, capsys):
    # The tiny embedder: this is about healing, not ranking quality, and it rebuilds quickly.
    monkeypatch.setenv("COMPANION_EMBED_MODEL", str(tiny_embed_model))
    (companion_home / "index").mkdir(parents=True)
    (companion_home / "index" / "chroma.sqlite3").write_bytes(b"this is not a database" * 100)
    assert main(["search", "bids for connection", "--json", "-k", "3"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert "Connection > Bids for connection" in [r["section"] for r in payload["results"]]
    assert any("rebuilt" in notice for notice in payload["notices"])
    assert main(["search", "bids for connection", "--json", "-k", "1"]) == 0
    assert "notices" not in json.loads(capsys.readouterr().out)  # healed once, quiet after


def test_cli_refuses_a_binary_document_in_one_line_and_keeps_the_others(
    use_minilm, shared_article, tmp_path, capsys, companion_home
):
    assert main(["knowledge", "add", str(shared_article)]) == 0
    capsys.readouterr()
    before = sorted(p.read_bytes() for p in (companion_home / "documents").iterdir())
    blob = tmp_path / "picture.md"
    blob.write_bytes(b"\x00\x01\x02GIF89a" + bytes(range(256)))
    assert main(["knowledge", "add", str(blob)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "binary" in err and "Nothing stored was changed" in err
    assert sorted(p.read_bytes() for p in (companion_home / "documents").iterdir()) == before


def test_cli_empty_query_is_one_line(capsys):
    assert main(["search", "   "]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "empty" in err


def test_cli_without_the_embedder_names_the_command_that_prepares_it(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("COMPANION_EMBED_MODEL", str(tmp_path / "missing.gguf"))
    assert main(["search", "trust"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "companion models prepare-embedder" in err


def test_cli_knowledge_list_counts_the_bundled_guidance(capsys):
    assert main(["knowledge", "list", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    sources = {doc["source"] for doc in payload["documents"]}
    assert "active-listening.md" in sources and not any(s.startswith("scenarios/") for s in sources)
    assert all(doc["bundled"] for doc in payload["documents"])
    assert payload["problems"] == []


def test_no_user_text_reaches_the_log(use_minilm, companion_home, capsys):
    secret = "my partner Zanzibarine said the wedding plans hurt"
    main(["search", secret, "--json"])
    capsys.readouterr()
    log_text = "".join(
        p.read_text(encoding="utf-8", errors="replace") for p in (companion_home / "logs").glob("*")
    )
    assert "Zanzibarine" not in log_text


def test_search_module_does_not_import_heavy_libraries():
    import subprocess
    import sys

    code = (
        "import sys, companion.guidance.search, companion.guidance.knowledge, companion.guidance.index, companion.cli.knowledge_cmd;"
        "print([m for m in ('chromadb', 'llama_cpp', 'textual') if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    ).stdout
    assert out.strip() == "[]"
