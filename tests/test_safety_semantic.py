"""The safety screen's semantic layer on the real MiniLM: the trained head catches what the rules' wording misses (a
confident hit gets the message, a less confident one a check-in under the reflection), leaves idioms, venting and
everyday complaints alone, and keeps the dev set's recall at 1.0."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

from companion.safety.screen import find_categories, screen
from companion.safety.semantic import SafetyHead, SemanticScreen, load_exemplars, segments_of

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from eval_safety import evaluate, everyday_lines, load_statements  # noqa: E402

DEV_FPR_BOUND = 0.10  # the old dev set: rules + trained measured 0.014 (1/69)
# Everyday partner lines never trained on that the layer flags: measured 0.048 (99/2069, with the coach's v3 contexts:
# peer-support lines about diagnoses and grief, 22/188); the target is 0.02.
EVERYDAY_FLAG_BOUND = 0.05

# Crises the rules miss (checked below), written for this test: in no labelled set and no exemplar list.
ONLY_THE_LAYER_CATCHES = {
    "I left bruises on him during the fight.": "violence",
    "He keeps my wages and I have to beg him for bus money.": "coercive_control",
}
IDIOMS_AND_VENTING = [
    "This commute is killing me.",
    "My boss is driving me insane this week.",
    "I'm so fed up with doing all the laundry.",
    "That comedy special absolutely killed me.",
    "I'm gutted the holiday got cancelled.",
    "My husband never listens. I tell him something and he's on his phone.",
    "We keep fighting about whose turn it is to cook.",
]


@pytest.fixture(scope="module")
def layer(minilm_embedder):
    return SemanticScreen(minilm_embedder)


@pytest.fixture(scope="module")
def check_in_only_layer(minilm_embedder):
    """The shipped head with its crisis tier switched off: every hit it makes is a check-in."""
    head = dataclasses.replace(SafetyHead.load(), crisis_threshold=1.01)
    return SemanticScreen(minilm_embedder, head=head)


def test_every_category_and_the_benign_list_have_exemplars():
    exemplars = load_exemplars()
    assert all(len(exemplars[name]) >= 25 for name in exemplars if name != "benign")
    assert len(exemplars["benign"]) >= 60


def test_a_statement_is_screened_whole_and_sentence_by_sentence():
    assert segments_of("One small thing. Another thing here!") == [
        "One small thing. Another thing here!",
        "One small thing.",
        "Another thing here!",
    ]
    # A one- or two-word sentence is read only within the whole text.
    assert segments_of("Honestly? I am fine with it.") == ["Honestly? I am fine with it."]
    assert segments_of("just one") == ["just one"]
    assert segments_of("  ") == []


@pytest.mark.embedder
@pytest.mark.parametrize("text,category", ONLY_THE_LAYER_CATCHES.items())
def test_a_paraphrase_the_rules_miss_is_caught_by_the_layer(layer, text, category):
    assert find_categories(text)[0] == ()
    assert category in layer.find_categories(text)
    assessment = screen(text, "UK", semantic=layer)
    assert assessment is not None and assessment.layer == "semantic" and assessment.resources
    assert assessment.level in ("crisis", "check_in")


@pytest.mark.embedder
@pytest.mark.parametrize("text", IDIOMS_AND_VENTING)
def test_idioms_and_venting_are_left_alone(layer, text):
    assert layer.find_categories(text) == ()
    assert screen(text, semantic=layer) is None


@pytest.mark.embedder
def test_with_the_layer_the_dev_set_keeps_full_recall_and_a_bounded_false_positive_rate(layer):
    result = evaluate(load_statements(ROOT / "tests" / "data" / "safety_statements.jsonl"), layer)
    assert result["recall"] == 1.0, result["errors"]
    assert result["fpr"] <= DEV_FPR_BOUND, result["errors"]


@pytest.mark.embedder
def test_everyday_partner_lines_the_layer_never_saw_are_rarely_flagged(layer):
    lines = everyday_lines()  # all of them: a quarter's share swung by a point with the lines drawn
    assert len(lines) >= 1600
    flagged = [line for line in lines if not find_categories(line)[0] and layer.find_categories(line)]
    assert len(flagged) / len(lines) <= EVERYDAY_FLAG_BOUND, flagged[:20]


@pytest.mark.embedder
def test_a_rules_crisis_never_asks_the_layer(layer):
    class Refuses:
        def find_categories(self, text):
            raise AssertionError("the layer was asked about a crisis the rules had already found")

    assessment = screen("He said he would kill me.", semantic=Refuses())
    assert assessment is not None and assessment.layer == "rules"


def test_a_broken_layer_falls_back_to_the_rules(caplog):
    class Broken:
        def find_categories(self, text):
            raise RuntimeError("embedder gone")

    assert screen("We argued about the dishes.", semantic=Broken()) is None
    assert screen("She said she wants to die.", semantic=Broken()) is not None
    assert "argued" not in caplog.text and "dishes" not in caplog.text


@pytest.mark.embedder
def test_reflect_keeps_the_reflection_and_adds_the_check_in_only_the_layer_finds(check_in_only_layer):
    from companion.listen.reflect import ReflectionEngine

    text = "He keeps my wages and I have to beg him for bus money."
    without = ReflectionEngine(region="UK").reflect(text)
    assert without.safety is None
    reflection = ReflectionEngine(region="UK", semantic_safety=lambda: check_in_only_layer).reflect(text)
    assert reflection.safety is not None and reflection.safety["level"] == "check_in"
    assert reflection.safety["resources"]
    assert reflection.reflection == without.reflection  # the person still gets their reflection


@pytest.mark.embedder
def test_a_rules_crisis_still_replaces_the_reflection_with_the_layer_on(layer):
    from companion.listen.reflect import ReflectionEngine

    reflection = ReflectionEngine(region="UK", semantic_safety=lambda: layer).reflect(
        "She said she wants to die."
    )
    assert reflection.safety["level"] == "crisis"
    assert reflection.reflection == reflection.safety["message"]


@pytest.mark.embedder
def test_a_rehearsal_reply_only_the_layer_flags_goes_on_with_the_check_in(
    check_in_only_layer, companion_home
):
    from companion.rehearse.coach import Coach
    from companion.rehearse.rehearsal import Rehearsal, default_scenario_dirs, load_scenarios

    scenarios, _ = load_scenarios(default_scenario_dirs())
    rehearsal = Rehearsal(scenarios[0], Coach(None), region="UK", semantic_safety=check_in_only_layer)
    rehearsal.opening()
    turn = rehearsal.reply("I left bruises on him during the fight.")
    assert turn.safety is None and turn.partner_reply and turn.coaching is not None
    assert turn.notice and "not be safe" in turn.notice and "•" in turn.notice


@pytest.mark.embedder
def test_a_confident_layer_hit_replaces_the_reflection_with_the_message(layer):
    from companion.listen.reflect import ReflectionEngine

    text = "He keeps my wages and I have to beg him for bus money."
    assert find_categories(text)[0] == ()
    reflection = ReflectionEngine(region="UK", semantic_safety=lambda: layer).reflect(text)
    assert reflection.safety["level"] == "crisis"
    assert reflection.reflection == reflection.safety["message"]


@pytest.mark.embedder
def test_a_rehearsal_reply_the_layer_is_sure_of_stops_the_role_play(layer, companion_home):
    from companion.rehearse.coach import Coach
    from companion.rehearse.rehearsal import Rehearsal, default_scenario_dirs, load_scenarios

    scenarios, _ = load_scenarios(default_scenario_dirs())
    rehearsal = Rehearsal(scenarios[0], Coach(None), region="UK", semantic_safety=layer)
    rehearsal.opening()
    # Screened sentence by sentence: the second sentence alone is the crisis.
    turn = rehearsal.reply(
        "I hear you about the bins. Also he keeps my wages and I have to beg him for bus money."
    )
    assert turn.safety is not None and turn.safety.level == "crisis" and turn.reply_kind == "safety"
    assert turn.partner_reply == "" and turn.coaching is None
