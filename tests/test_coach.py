"""The listening coach: flags from rules, labels from the shipped weights over the real MiniLM GGUF, the CLI."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from companion.config import BUNDLED_KNOWLEDGE_DIR
from companion.rehearse import coach_features
from companion.rehearse.coach import (
    LABELS,
    SUBTYPES,
    Coach,
    CoachModel,
    load_model,
    load_tips,
    looks_non_english,
)

ROOT = Path(__file__).resolve().parent.parent
OWN_EXAMPLES = sorted((ROOT / "training").glob("coach_examples*.jsonl"))


def _own_examples(split: str) -> list[dict]:
    rows = [
        json.loads(line)
        for path in OWN_EXAMPLES
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    return [r for r in rows if r.get("split", "train") == split]


@pytest.fixture(scope="module")
def coach(minilm_embedder):
    return Coach(minilm_embedder)


# ---- flags: each fires on clear examples and stays quiet on their antonyms --------------------------------

FLAG_CASES = {
    "criticism": (
        [
            "You never help with anything around here.",
            "You're so selfish, it's always about you.",
            "What's wrong with you?",
        ],
        ["I'd love some help with the dishes tonight.", "I felt alone doing the cleaning this week."],
    ),
    "contempt": (
        ["Oh poor you, boo hoo.", "Grow up.", "You're pathetic, honestly.", "Yeah right, like you'd ever."],
        ["That sounds really hard for you.", "I can see why that upset you."],
    ),
    "defensiveness": (
        [
            "That's not true, I did the dishes yesterday!",
            "It's not my fault the bill was late.",
            "Well, what about when you forgot my birthday?",
        ],
        ["You're right, I did forget, and I'm sorry.", "I can see my part in how this went."],
    ),
    "stonewalling": (
        ["Whatever.", "I'm done talking about this.", "Forget it.", "Leave me alone."],
        [
            "I'm getting overwhelmed. Can we take twenty minutes and then come back to this?",
            "I want to keep talking about this.",
        ],
    ),
    "i_statement": (
        [
            "I feel lonely when we don't talk in the evenings.",
            "I need some quiet time after work.",
            "I'm worried about money this month.",
        ],
        ["You never talk to me in the evenings.", "You're always on your phone."],
    ),
    "validation": (
        [
            "That makes sense, anyone would be upset.",
            "It's understandable that you felt hurt.",
            "I can see why you'd feel that way.",
        ],
        ["You're overreacting.", "That's not a big deal."],
    ),
    "appreciation": (
        [
            "Thank you for cooking tonight.",
            "I really appreciate how patient you were with my mom.",
            "I'm so grateful you came with me.",
        ],
        ["You forgot to cook again.", "You were so impatient with my mom."],
    ),
    "repair": (
        [
            "I'm sorry, I was wrong to snap at you.",
            "Can we start over?",
            "That came out wrong, let me try again.",
        ],
        ["I'm sorry, but you started it.", "I'm not apologising for that."],
    ),
}


@pytest.mark.parametrize("flag", sorted(FLAG_CASES))
def test_each_flag_fires_on_clear_examples_and_not_on_their_antonyms(flag):
    positives, negatives = FLAG_CASES[flag]
    for text in positives:
        assert flag in coach_features.utterance_flags(text), text
    for text in negatives:
        assert flag not in coach_features.utterance_flags(text), text


def test_an_apology_that_takes_itself_back_counts_as_defensiveness():
    flags = coach_features.utterance_flags("Sorry, but you were the one who yelled first.")
    assert "repair" not in flags
    assert "defensiveness" in flags


def test_features_have_one_value_per_name_and_read_the_form():
    question = coach_features.utterance_features("What happened after that?", "We had a fight.")
    reflection = coach_features.utterance_features("It sounds like you felt alone.", "Nobody called me.")
    assert question.shape == reflection.shape == (len(coach_features.FEATURE_NAMES),)
    index = coach_features.FEATURE_NAMES.index
    assert question[index("starts_wh_word")] == 1 and reflection[index("starts_wh_word")] == 0
    assert (
        reflection[index("starts_reflection_opening")] == 1
        and question[index("starts_reflection_opening")] == 0
    )


def test_overlap_with_the_partners_words_is_higher_for_a_parroting_reply():
    context = "I'm exhausted from doing all the laundry and the cooking."
    index = coach_features.FEATURE_NAMES.index("context_overlap")
    parrot = coach_features.utterance_features("You're exhausted from the laundry and cooking.", context)
    deeper = coach_features.utterance_features("You want it to feel like we're a team.", context)
    assert parrot[index] > deeper[index]


# ---- the shipped weights -------------------------------------------------------------------------------------


def test_weights_load_from_the_package_and_match_the_features():
    model = load_model()
    assert isinstance(model, CoachModel)
    assert model.embed_dim == 384
    assert model.feature_names == coach_features.FEATURE_NAMES
    assert model.label_head.classes == LABELS
    assert model.label_head.weights.shape[1] == len(LABELS)
    for label, classes in SUBTYPES.items():
        assert model.subtype_heads[label].classes == classes
    assert np.isfinite(model.label_head.weights).all()


def test_every_tip_cites_a_real_heading_of_the_bundled_guidance():
    for key, tip in load_tips().items():
        document = BUNDLED_KNOWLEDGE_DIR / tip.source
        assert document.is_file(), (key, tip.source)
        headings = re.findall(r"^#{1,6}\s+(.+?)\s*$", document.read_text(encoding="utf-8"), flags=re.M)
        for heading in tip.heading_path:
            assert heading in headings, (key, heading)
        assert tip.text.strip()


@pytest.mark.embedder
def test_classifier_on_held_out_own_examples_is_sane(coach):
    held_out = _own_examples("test")
    assert len(held_out) >= 80
    results = coach.assess_batch([(r["text"], r.get("context")) for r in held_out])
    gold = [r["label"] for r in held_out]
    accuracy = np.mean([res.label == g for res, g in zip(results, gold, strict=True)])
    majority = Counter(gold).most_common(1)[0][1] / len(gold)
    assert accuracy >= 0.75, accuracy
    assert accuracy > majority + 0.3
    with_subtype = [
        (res, r) for res, r in zip(results, held_out, strict=True) if r["subtype"] and res.label == r["label"]
    ]
    subtype_accuracy = np.mean([res.subtype == r["subtype"] for res, r in with_subtype])
    assert subtype_accuracy >= 0.7, subtype_accuracy


@pytest.mark.embedder
def test_clear_replies_skip_the_embedder_and_keep_the_full_models_labels(minilm_embedder, monkeypatch):
    held_out = _own_examples("test")
    items = [(r["text"], r.get("context")) for r in held_out]
    fast = Coach(minilm_embedder)
    quick = fast.assess_batch(items)
    assert 0 < fast.last_embedded < len(items)
    import companion.rehearse.coach as coach_module

    monkeypatch.setattr(coach_module, "CUE_SURE", 1.01)  # nothing is sure enough: every reply is embedded
    full_coach = Coach(minilm_embedder)
    full = full_coach.assess_batch(items)
    assert full_coach.last_embedded == len(items)
    agreement = np.mean([a.label == b.label for a, b in zip(quick, full, strict=True)])
    assert agreement >= 0.97, agreement


def test_cue_only_fallback_labels_the_held_out_examples_better_than_chance():
    held_out = _own_examples("test")
    results = Coach(None).assess_batch([(r["text"], r.get("context")) for r in held_out])
    accuracy = np.mean([res.label == r["label"] for res, r in zip(results, held_out, strict=True)])
    assert accuracy >= 0.5, accuracy


@pytest.mark.embedder
def test_clear_replies_get_their_labels_and_subtypes(coach):
    context = "You were on your phone the whole dinner again."
    cases = [
        ("It sounds like you felt alone at the table, like the phone mattered more than you.", "reflection"),
        ("What was dinner like for you?", "question", "open"),
        ("Did it bother you the whole time?", "question", "closed"),
        ("You should just tell me to put it away next time.", "input", "advice"),
        ("Thanks for telling me.", "other"),
    ]
    results = coach.assess_batch([(case[0], context) for case in cases])
    for case, result in zip(cases, results, strict=True):
        assert result.label == case[1], (case, result)
        if len(case) == 3:
            assert result.subtype == case[2], (case, result)


@pytest.mark.embedder
def test_a_horseman_gets_its_antidote_as_the_tip(coach):
    result = coach.assess("Oh please, you never do anything around here.", "I'm tired of cleaning alone.")
    assert "criticism" in result.flags
    assert result.tip == load_tips()["criticism"].text
    assert result.tip_section == "Conflict resolution > Criticism and its antidote"


@pytest.mark.embedder
def test_awkward_replies_are_handled_without_errors(coach):
    empty, one_word, huge, spanish = coach.assess_batch(
        [
            ("", "I feel alone."),
            ("Okay.", "I feel alone."),
            ("you never listen " * 3000, None),
            ("Lo siento mucho, no sabía que te sentías así", "I feel alone."),
        ]
    )
    assert empty.label == "other" and empty.notice and empty.tip
    assert one_word.label in LABELS and one_word.tip
    assert huge.label in LABELS and "criticism" in huge.flags
    assert spanish.notice and "English" in spanish.notice


def test_non_english_detection_leaves_english_alone():
    assert looks_non_english("Mi pareja no me escucha nunca")
    assert looks_non_english("我觉得你不听我说话")
    assert not looks_non_english("It sounds like you felt left out.")
    assert not looks_non_english("ok")


# ---- the CLI batch mode ----------------------------------------------------------------------------------


@pytest.mark.embedder
def test_cli_batch_mode_round_trips_json_lines(minilm_model, companion_home, tmp_path):
    lines = [
        json.dumps({"text": "So you felt let down when I didn't call.", "context": "You didn't even call."}),
        "this is not json",
        json.dumps({"text": "How did the meeting go?"}),
        json.dumps({"context": "no text here"}),
        "",
        json.dumps({"text": "Whatever.", "context": None}),
        json.dumps(["a", "list"]),
        json.dumps({"text": ""}),
        json.dumps({"text": "x" * 50_000}),
    ]
    env = {**os.environ, "COMPANION_HOME": str(companion_home), "COMPANION_EMBED_MODEL": str(minilm_model)}
    proc = subprocess.run(
        [sys.executable, "-m", "companion", "coach", "label"],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    out = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(out) == 8  # one per non-blank input line
    assert out[0]["label"] == "reflection"
    assert set(out[0]) >= {"label", "subtype", "flags", "tip"}
    assert out[1]["error"].startswith("not JSON") and out[1]["line"] == 2
    assert out[2]["label"] == "question" and out[2]["subtype"] == "open"
    assert "text" in out[3]["error"]
    assert "stonewalling" in out[4]["flags"]
    assert "error" in out[5] and out[5]["line"] == 7
    assert out[6]["label"] == "other"
    assert out[7]["label"] in LABELS
    assert "Traceback" not in proc.stderr


@pytest.mark.embedder
def test_cli_coaches_with_the_coach_the_rehearsals_use(minilm_model):
    """`coach assess` and `coach label` read replies through the service's coach (the coach-tuned encoder), the one
    the Rehearse screen uses, not the plain MiniLM's fallback heads."""
    from companion.config import Settings
    from companion.services import Services

    text = "Oh no, I'm sorry. It sounds like you felt completely invisible at that dinner."
    context = "Nobody even noticed I'd left the party."
    coach = Services(Settings.load(), use_model=False).coach
    assert coach.embedder is not None and "coach" in Path(coach.embedder.model_path).name
    expected = coach.assess(text, context)
    proc = subprocess.run(
        [sys.executable, "-m", "companion", "coach", "assess", text, "--context", context, "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    said = json.loads(proc.stdout)
    assert (said["label"], said["subtype"]) == (expected.label, expected.subtype)
    assert said["confidence"] == pytest.approx(expected.confidence, abs=1e-3)


def test_cli_label_names_a_missing_input_file(companion_home, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "companion", "coach", "label", "--input", str(tmp_path / "nope.jsonl")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env={**os.environ, "COMPANION_HOME": str(companion_home)},
    )
    assert proc.returncode == 2
    assert "nope.jsonl" in proc.stderr and "Traceback" not in proc.stderr


# ---- retraining is reproducible ----------------------------------------------------------------------------


@pytest.mark.embedder
def test_retraining_is_deterministic(minilm_embedder):
    sys.path.insert(0, str(ROOT / "scripts"))
    import train_coach

    examples = [e for e in train_coach.load_own() if e.split == "train"][:24]
    cfg = train_coach.TrainingConfig(steps=30)
    first = train_coach.build_model(minilm_embedder, examples, cfg).to_arrays()
    second = train_coach.build_model(minilm_embedder, examples, cfg).to_arrays()
    assert first.keys() == second.keys()
    for key in first:
        assert np.array_equal(first[key], second[key]), key
