"""Splitting documents into citable sections, and keeping the person's documents safe."""

from __future__ import annotations

from pathlib import Path

import pytest

from companion.config import BUNDLED_KNOWLEDGE_DIR, Settings
from companion.errors import CompanionError, InputError
from companion.guidance.knowledge import KnowledgeBase, load_document, split_document

MARKDOWN = """---
title: Sample guidance
tags: [listening, repair]
---

# Sample guidance

An opening paragraph about the whole page.

## Reflecting the feeling

Name the feeling you hear: "It sounds like you felt left out."

### A deeper note

```
# not a heading, just code
```
Still part of the deeper note.

## Repair attempts

"Can we start over?" is a repair attempt.
"""


def test_markdown_headings_become_sections_with_their_heading_path():
    sections = split_document(MARKDOWN, "sample.md")
    paths = [s.heading_path for s in sections]
    assert paths == [
        ("Sample guidance",),
        ("Sample guidance", "Reflecting the feeling"),
        ("Sample guidance", "Reflecting the feeling", "A deeper note"),
        ("Sample guidance", "Repair attempts"),
    ]
    assert [s.position for s in sections] == [0, 1, 2, 3]
    assert sections[1].heading == "Reflecting the feeling"
    assert "left out" in sections[1].text
    assert all(s.tags == ("listening", "repair") for s in sections)
    assert all(s.source == "sample.md" for s in sections)


def test_a_hash_line_inside_a_code_fence_is_not_a_heading():
    deeper = split_document(MARKDOWN, "sample.md")[2]
    assert "# not a heading" in deeper.text
    assert "Still part of the deeper note." in deeper.text


def test_front_matter_is_not_part_of_any_section():
    assert all("title:" not in s.text for s in split_document(MARKDOWN, "sample.md"))


def test_ids_are_stable_and_hashes_follow_the_text():
    first = split_document(MARKDOWN, "sample.md")
    again = split_document(MARKDOWN, "sample.md")
    assert [s.id for s in first] == [s.id for s in again]
    assert len({s.id for s in first}) == len(first)
    edited = split_document(MARKDOWN.replace("Can we start over?", "Can we try that again?"), "sample.md")
    changed = [(a.content_hash != b.content_hash) for a, b in zip(first, edited, strict=True)]
    assert changed == [False, False, False, True]
    # Editing one section's text keeps every id: the index updates it in place instead of adding a new one.
    assert [s.id for s in edited] == [s.id for s in first]


def test_the_same_heading_in_two_documents_gets_two_ids():
    a = split_document(MARKDOWN, "a.md")
    b = split_document(MARKDOWN, "b.md")
    assert not {s.id for s in a} & {s.id for s in b}


def test_plain_text_article_splits_on_numbered_and_title_case_headings(shared_article):
    document = load_document(shared_article)
    paths = [s.heading_path[1:] for s in document.sections]
    assert ("Understanding Emotional Intimacy",) in paths
    assert ("Building Emotional Intimacy: Practical Steps", "Practice Active Listening") in paths
    assert ("The Benefits of Emotional Intimacy in Relationships", "Increased Trust") in paths
    listening = next(s for s in document.sections if s.heading == "Practice Active Listening")
    assert "interrupting" in listening.text
    assert "Be Consistent" not in listening.text  # the next heading starts a new section


def test_label_colon_tips_are_each_their_own_section(shared_article):
    document = load_document(shared_article)
    tips = {
        s.heading: s
        for s in document.sections
        if s.heading_path[1:2] == ("Cultivating Emotional Intimacy Over Time",)
    }
    for label in ("Make Time for Each Other", "Show Appreciation", "Be Patient and Compassionate"):
        assert label in tips, label
        assert not tips[label].text.startswith(label)  # the label is the heading, the text is the tip
    assert "Express gratitude" in tips["Show Appreciation"].text
    assert "Express gratitude" not in tips["Make Time for Each Other"].text


def test_plain_text_rules_on_a_small_article_of_our_own():
    text = (
        "A short opening line about the topic.\n"
        "1. Starting Out\n"
        "The first real paragraph, which ends with a full stop.\n"
        "Slow Down Together\n"
        "Take one evening a week to talk without screens.\n"
        "Note: this sentence has a colon but the label is fine and the text is long enough.\n"
        "Here is a list of what to try:\n"
        "and this lower-case line carries on the paragraph\n"
    )
    sections = split_document(text, "own.txt")
    assert [s.heading_path for s in sections] == [
        ("Own",),
        ("Own", "Starting Out"),
        ("Own", "Starting Out", "Slow Down Together"),
        ("Own", "Starting Out", "Slow Down Together", "Note"),
        ("Own", "Starting Out", "Slow Down Together"),
    ]
    assert "lower-case line" in sections[-1].text


def test_a_very_long_section_is_cut_into_pieces_that_keep_their_heading():
    paragraph = "We talked about the week and what each of us needs from the other. " * 12
    text = "# Long\n\n" + "\n\n".join([paragraph] * 6)
    sections = split_document(text, "long.md")
    assert len(sections) > 1
    assert all(s.heading_path == ("Long",) for s in sections)
    assert all(len(s.text) <= 1500 for s in sections)
    assert len({s.id for s in sections}) == len(sections)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        ("Caf\u00e9 au lait, ensemble".encode("latin-1"), "not UTF-8"),
        (b"   \n\n  ", "empty"),
    ],
)
def test_unusable_files_are_refused_with_one_clear_line(tmp_path, content, expected):
    path = tmp_path / "notes.txt"
    path.write_bytes(content)
    with pytest.raises(InputError) as caught:
        load_document(path)
    message = str(caught.value)
    assert expected in message
    assert "\n" not in message
    assert "Nothing stored was changed" in message
    assert "Fix:" in message


def test_bundled_guidance_has_the_sections_other_modules_cite():
    settings = Settings(home=Path("/nonexistent-home"))
    knowledge = KnowledgeBase(settings)
    headings = {s.heading for s in knowledge.sections()}
    for heading in (
        "Reflecting the feeling",
        "Reflecting the content",
        "Reflecting the need",
        "Tentative stems",
        "Checking understanding",
        "Not interrupting",
        "Not fixing",
        "Simple and complex reflections",
        "Validation",
        "Gentle start-up",
        "I-statements",
        "The four horsemen",
        "Repair attempts",
        "Taking a break",
        "Bids for connection",
        "Turning toward",
        "Sharing vulnerabilities",
        "Showing appreciation",
        "Patience",
        "What emotional intimacy is",
        "Making time for each other",
        "What builds trust",
        "Being emotionally available",
    ):
        assert heading in headings, heading
    assert knowledge.problems == []


def test_bundled_guidance_is_front_matter_markdown_of_a_few_hundred_words_per_topic():
    for path in sorted(BUNDLED_KNOWLEDGE_DIR.glob("*.md")):
        text = path.read_text(encoding="utf-8")
        assert text.startswith("---\ntitle: "), path.name
        assert "\ntags: [" in text.split("---")[1], path.name
        assert len(text.split()) >= 300, path.name


def test_scenarios_folder_is_not_guidance(tmp_path):
    folder = tmp_path / "knowledge"
    (folder / "scenarios").mkdir(parents=True)
    (folder / "scenarios" / "dishes.md").write_text("# Scenario\n\nA rehearsal scenario.\n", encoding="utf-8")
    (folder / "guide.md").write_text("# Guide\n\nSome guidance text.\n", encoding="utf-8")
    knowledge = KnowledgeBase(Settings(home=tmp_path / "home", knowledge_dirs=(folder,)))
    assert [d.source for d in knowledge.documents()] == ["guide.md"]


def test_added_document_is_copied_into_the_data_folder(tmp_path, shared_article):
    settings = Settings(home=tmp_path / "home", knowledge_dirs=())
    knowledge = KnowledgeBase(settings)
    document = knowledge.add_document(shared_article)
    copy = settings.user_documents_dir / shared_article.name
    assert copy.read_bytes() == shared_article.read_bytes()
    assert document.path == copy
    assert document.source == f"documents/{shared_article.name}"
    assert {d.source for d in knowledge.documents()} == {document.source}
    # Adding the same file again does not duplicate it.
    knowledge.add_document(shared_article)
    assert len(list(settings.user_documents_dir.iterdir())) == 1


def test_a_refused_document_leaves_the_added_ones_untouched(tmp_path, shared_article):
    settings = Settings(home=tmp_path / "home", knowledge_dirs=())
    knowledge = KnowledgeBase(settings)
    knowledge.add_document(shared_article)
    before = {p.name: p.read_bytes() for p in settings.user_documents_dir.iterdir()}
    bad = tmp_path / "photo.txt"
    bad.write_bytes(bytes(range(256)))
    with pytest.raises(CompanionError):
        knowledge.add_document(bad)
    assert {p.name: p.read_bytes() for p in settings.user_documents_dir.iterdir()} == before


def test_a_document_with_a_different_kind_of_file_name_is_refused(tmp_path):
    pdf = tmp_path / "guide.pdf"
    pdf.write_text("%PDF-1.4 pretend", encoding="utf-8")
    with pytest.raises(InputError, match=r"\.md or \.txt"):
        KnowledgeBase(Settings(home=tmp_path / "home")).add_document(pdf)
    assert not (tmp_path / "home" / "documents").exists()
