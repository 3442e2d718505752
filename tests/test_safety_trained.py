"""The safety screen's trained layer: its data kept apart from the held-out set, its weights, its tiers, its recall on
the fresh held-out set (real MiniLM, real head), the issue's five statements, and the region from the locale."""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

from companion.config import default_region
from companion.safety.screen import CATEGORIES, RESOURCES_FILE, screen
from companion.safety.semantic import HEAD_CLASSES, SafetyHead, SemanticScreen, verdict_from

ROOT = Path(__file__).resolve().parent.parent
SAFETY = ROOT / "training" / "safety"
sys.path.insert(0, str(ROOT / "scripts"))

from eval_safety import evaluate, load_statements  # noqa: E402

# Measured with rules + trained layer (scripts/eval_safety.py): fresh held-out recall 0.763 (135/177), FPR 0.103
# (18/175). The floors sit a little under, so a retrain that loses recall fails here.
FRESH_RECALL_FLOOR = 0.74
FRESH_FPR_CEILING = 0.13
# The app's layer, the head over the safety-tuned encoder: measured 0.831 (147/177), FPR 0.091 (16/175).
TUNED_FRESH_RECALL_FLOOR = 0.80
TUNED_FRESH_FPR_CEILING = 0.11


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


def _training_rows() -> list[dict]:
    return [row for path in sorted(SAFETY.glob("train_*.jsonl")) for row in load_statements(path)]


def test_the_fresh_held_out_set_is_large_covers_every_category_and_has_hard_benign_lines():
    rows = load_statements(SAFETY / "heldout.jsonl")
    crisis = [r for r in rows if r["label"] == "crisis"]
    benign = [r for r in rows if r["label"] == "benign"]
    assert len(crisis) >= 150 and len(benign) >= 150
    assert {r["category"] for r in crisis} == set(CATEGORIES)
    assert {"idiom", "hyperbole", "media", "past", "venting", "medical", "hobby"} <= {
        r["category"] for r in benign
    }
    assert all(set(r) >= {"text", "label", "category"} for r in rows)


def test_no_held_out_or_issue_statement_is_in_training():
    trained = {_norm(r["text"]) for r in _training_rows()}
    kept_apart = load_statements(SAFETY / "heldout.jsonl") + load_statements(SAFETY / "issue_examples.jsonl")
    leaked = [r["text"] for r in kept_apart if _norm(r["text"]) in trained]
    assert leaked == []


def test_the_training_set_has_thousands_of_statements_in_every_category():
    rows = _training_rows()
    assert len(rows) >= 3000
    crisis = [r for r in rows if r["label"] == "crisis"]
    assert {r["category"] for r in crisis} == set(CATEGORIES)
    assert sum(r["label"] == "benign" for r in rows) >= 1500
    assert all(r["label"] in ("crisis", "benign") for r in rows)


def test_the_shipped_head_loads_with_ordered_thresholds():
    head = SafetyHead.load()
    assert head.w1.shape[0] == 384
    assert 0.0 < head.check_in_threshold <= head.crisis_threshold <= 1.0
    probabilities = head.probabilities(np.zeros((2, 384), dtype=np.float32))
    assert probabilities.shape == (2, len(HEAD_CLASSES))
    assert np.allclose(probabilities.sum(axis=1), 1.0)


def test_a_head_trained_for_other_classes_is_refused(tmp_path):
    path = tmp_path / "head.npz"
    np.savez(
        path,
        classes=np.array(["benign", "other"]),
        w1=np.zeros((3, 2)),
        b1=np.zeros(2),
        crisis_threshold=0.9,
        check_in_threshold=0.5,
    )
    with pytest.raises(ValueError, match="classes"):
        SafetyHead.load(path)


def test_the_tiers_follow_the_two_thresholds():
    head = SafetyHead.load()

    def verdict(p_crisis: float):
        row = np.zeros((1, len(HEAD_CLASSES)), dtype=np.float32)
        row[0, 0] = 1.0 - p_crisis
        row[0, 1 + CATEGORIES.index("violence")] = p_crisis
        return verdict_from(head, row, crisis_threshold=0.9, check_in_threshold=0.4)

    assert verdict(0.95).level == "crisis" and verdict(0.95).categories == ("violence",)
    assert verdict(0.6).level == "check_in"
    assert verdict(0.2).level is None and verdict(0.2).categories == ()


def test_training_is_deterministic():
    from train_safety import train_head

    rng = np.random.default_rng(3)
    x = rng.normal(size=(60, 384)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y = np.arange(60) % len(HEAD_CLASSES)
    first = train_head(x, y, hidden=16, steps=20)
    second = train_head(x, y, hidden=16, steps=20)
    assert all(np.array_equal(first[name], second[name]) for name in first)


@pytest.fixture(scope="module")
def frozen_layer(minilm_embedder):
    return SemanticScreen(minilm_embedder)


@pytest.fixture(scope="module")
def tuned_layer(minilm_model):
    from companion.engines.tuned import find_tuned_encoder
    from companion.guidance.embed import Embedder
    from companion.safety.semantic import TUNED_HEAD_FILE

    path = find_tuned_encoder("safety", [minilm_model.parent])
    if path is None:
        pytest.fail("the safety-tuned encoder is not prepared: run scripts/setup")
    with Embedder(path) as embedder:
        yield SemanticScreen(embedder, head=TUNED_HEAD_FILE)


@pytest.fixture(scope="module", params=["tuned", "frozen"])
def trained_layer(request):
    return request.getfixturevalue(f"{request.param}_layer")


@pytest.mark.embedder
@pytest.mark.parametrize(
    ("layer", "recall_floor", "fpr_ceiling"),
    [
        ("tuned", TUNED_FRESH_RECALL_FLOOR, TUNED_FRESH_FPR_CEILING),
        ("frozen", FRESH_RECALL_FLOOR, FRESH_FPR_CEILING),
    ],
)
def test_recall_on_the_fresh_held_out_set_does_not_fall(request, layer, recall_floor, fpr_ceiling):
    result = evaluate(load_statements(SAFETY / "heldout.jsonl"), request.getfixturevalue(f"{layer}_layer"))
    assert result["recall"] >= recall_floor, [e for e in result["errors"] if e[0] == "missed"]
    assert result["fpr"] <= fpr_ceiling, [e for e in result["errors"] if e[0] != "missed"]


@pytest.mark.embedder
@pytest.mark.parametrize(
    "row", load_statements(SAFETY / "issue_examples.jsonl"), ids=lambda r: r["text"][:40]
)
def test_the_issue_statements_get_the_message_or_a_check_in(trained_layer, row):
    assessment = screen(row["text"], "UK", semantic=trained_layer, log=False)
    assert assessment is not None and assessment.level in ("crisis", "check_in")
    assert assessment.resources


@pytest.mark.embedder
def test_a_crisis_in_one_sentence_of_many_is_found(trained_layer):
    text = (
        "We had a lovely walk on Sunday. The kids loved the ducks. "
        "I have been putting pills aside and I know how many would be enough."
    )
    assessment = screen(text, semantic=trained_layer, log=False)
    assert assessment is not None and assessment.category == "suicide_self_harm"


@pytest.mark.parametrize(
    ("environ", "region"),
    [
        ({"LANG": "en_GB.UTF-8"}, "UK"),
        ({"LANG": "en_IE.UTF-8"}, "IE"),
        ({"LANG": "en_AU"}, "AU"),
        ({"LANG": "en_NZ.UTF-8"}, "NZ"),
        ({"LANG": "fr_CA.UTF-8"}, "CA"),
        ({"LANG": "en_US.UTF-8"}, "US"),
        ({"LC_ALL": "en_IE.UTF-8", "LANG": "en_US.UTF-8"}, "IE"),
        ({"LC_MESSAGES": "en_AU", "LANG": "en_GB"}, "AU"),
        ({"LANG": "C.UTF-8"}, "US"),
        ({}, "US"),
    ],
)
def test_the_default_region_comes_from_the_locale(environ, region):
    assert default_region(environ) == region


def test_every_region_line_names_its_source():
    with RESOURCES_FILE.open("rb") as handle:
        table = tomllib.load(handle)
    for code in ("US", "UK", "IE", "CA", "AU", "NZ", "INTERNATIONAL"):
        entry = table[code]
        lines = [
            key for key in ("emergency", "crisis", "domestic_violence", "sexual", "child") if key in entry
        ]
        assert {"emergency", "crisis", "domestic_violence"} <= set(lines)
        assert all(entry["sources"].get(key, "").strip() for key in lines), code
