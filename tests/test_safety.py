"""The safety screen: recall and false alarms on the labelled set, idioms, negation, regions, bad input, privacy."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

from companion.safety import screen as safety
from companion.safety.screen import CATEGORIES, SafetyAssessment, screen

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from eval_safety import evaluate, load_statements  # noqa: E402

STATEMENTS = load_statements(ROOT / "tests" / "data" / "safety_statements.jsonl")


def test_labelled_set_is_large_and_balanced():
    dev = [r for r in STATEMENTS if r["split"] == "dev"]
    crisis = [r for r in dev if r["label"] == "crisis"]
    assert len(dev) >= 80
    assert 0.4 <= len(crisis) / len(dev) <= 0.6
    assert {r["category"] for r in crisis} == set(CATEGORIES)


def test_recall_is_complete_and_false_alarms_stay_under_five_percent_on_the_dev_set():
    result = evaluate([r for r in STATEMENTS if r["split"] == "dev"])
    assert result["recall"] == 1.0, result["errors"]
    assert result["fpr"] <= 0.05, result["errors"]


def test_every_split_meets_the_targets_now_that_the_rules_have_seen_it():
    result = evaluate(STATEMENTS)
    assert result["recall"] == 1.0, result["errors"]
    assert result["fpr"] <= 0.05, result["errors"]


@pytest.mark.parametrize(
    "idiom",
    [
        "This fight is killing me.",
        "I'm dying to see you.",
        "I could kill for a coffee.",
        "My feet are killing me.",
        "I'd die of embarrassment.",
        "We killed it at the party.",
        "Shoot me a text.",
        "My phone died halfway through your call.",
        "He beat me at cards again.",
        "It finally hit me how tired I am.",
        "That would be social suicide.",
    ],
)
def test_idioms_do_not_trigger(idiom):
    assert screen(idiom) is None


@pytest.mark.parametrize(
    ("statement", "category"),
    [
        ("she said she wants to die", "suicide_self_harm"),
        ("he said he'd hurt the kids", "child_danger"),
        ("he takes my phone and won't let me see my friends", "coercive_control"),
        ("He shoved me against the wall.", "violence"),
        ("He pressures me into sex when I say I'm tired.", "sexual_coercion"),
        ("Sometimes I think about just not being here anymore.", "suicide_self_harm"),
        ("I don't see the point of waking up tomorrow.", "suicide_self_harm"),
    ],
)
def test_first_person_and_reported_words_are_caught(statement, category):
    assessment = screen(statement)
    assert isinstance(assessment, SafetyAssessment)
    assert assessment.level == "crisis"
    assert assessment.category == category


def test_negated_self_harm_still_shows_the_message_and_says_why():
    assessment = screen("I'm not going to hurt myself, don't worry.")
    assert assessment is not None and assessment.category == "suicide_self_harm"
    assert "not going to" in assessment.message


def test_negated_violence_is_reassurance_but_a_second_act_still_counts():
    assert screen("He would never hit me.") is None
    assessment = screen("He has never hit me, but he threatened to kill me.")
    assert assessment is not None and assessment.category == "violence"


@pytest.mark.parametrize("region", ["US", "UK", "CA", "AU", "IE", "NZ", "INTERNATIONAL"])
def test_every_region_has_emergency_crisis_and_domestic_violence_lines(region):
    assessment = screen("She told me she wants to kill herself.", region=region)
    assert assessment is not None and assessment.region == region
    assert len(assessment.resources) >= 3
    assert assessment.resources[0].startswith("Emergency")
    assert any(ch.isdigit() for ch in assessment.resources[0])


def test_known_numbers_are_shown_for_their_regions():
    us = " ".join(screen("he hit me", region="US").resources)
    uk = " ".join(screen("he hit me", region="uk").resources)
    assert "911" in us and "988" in us and "1-800-799-7233" in us
    assert "999" in uk and "116 123" in uk and "0808 2000 247" in uk


def test_unknown_region_falls_back_to_local_emergency_services():
    assessment = screen("he hit me", region="Atlantis")
    assert assessment.region == "INTERNATIONAL"
    assert "local emergency number" in assessment.resources[0]


def test_message_is_calm_and_does_not_reflect_the_statement_back():
    statement = "He said he would strangle me if I told anyone."
    assessment = screen(statement)
    assert "strangle" not in assessment.message
    assert "It sounds like" not in assessment.message
    assert "emergency number" in assessment.message


@pytest.mark.parametrize(
    "odd",
    ["", "   \n\t", "\x00\x1b[31mhi\x1b[0m", "😀😢💔", "我很想你", "a" * 200_000, b"he hit me \xff"],
)
def test_odd_input_never_raises(odd):
    result = screen(odd)
    assert result is None or result.level == "crisis"


def test_crisis_buried_in_a_long_text_is_still_found():
    text = (
        "We talked about dinner plans and the weekend. " * 3000
    ) + "Then she said she wants to end her life."
    assert screen(text).category == "suicide_self_harm"


def test_only_the_event_is_logged_never_the_text():
    secret = "My partner said she wants to die tonight"
    records: list[logging.LogRecord] = []
    handler = logging.Handler(level=logging.DEBUG)
    handler.emit = records.append  # our own handler: works whether or not the companion logger propagates
    logger = logging.getLogger("companion.safety")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        assert screen(secret) is not None
        assert screen("we had pasta for dinner") is None
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    assert [record.getMessage() for record in records] == ["safety message shown"]


def test_bundled_resources_cover_the_required_regions():
    assert {"US", "UK", "CA", "AU", "IE", "NZ", "INTERNATIONAL"} <= set(safety.available_regions())
