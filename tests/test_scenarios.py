"""The bundled rehearsal scenarios load, carry every reply kind, and one broken file never hides the others."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from companion.errors import CompanionError
from companion.rehearse.scenarios import (
    BUNDLED_SCENARIOS_DIR,
    REPLY_KINDS,
    default_scenario_dirs,
    find_scenario,
    load_scenarios,
)

ROOT = Path(__file__).resolve().parent.parent
REQUIRED_TOPICS = {
    "time-together": "time",
    "housework": "housework",
    "money": "money",
    "in-laws": "in-laws",
    "phone": "phone",
    "past-hurt": "past hurt",
    "jealousy": "jealousy",
    "after-fight": "fight",
}


def test_every_bundled_scenario_loads_without_errors():
    scenarios, errors = load_scenarios([BUNDLED_SCENARIOS_DIR])
    assert errors == []
    assert len(scenarios) >= 8
    assert len({s.id for s in scenarios}) == len(scenarios)


def test_the_eight_topics_of_the_issue_are_covered():
    scenarios, _ = load_scenarios([BUNDLED_SCENARIOS_DIR])
    ids = {s.id for s in scenarios}
    assert set(REQUIRED_TOPICS) <= ids
    for scenario in scenarios:
        if scenario.id in REQUIRED_TOPICS:
            described = " ".join((scenario.title, scenario.description, *scenario.tags)).lower()
            assert REQUIRED_TOPICS[scenario.id].split()[0] in described, scenario.id


@pytest.mark.parametrize("kind", sorted(REPLY_KINDS))
def test_every_scenario_has_each_reply_kind_deep_enough(kind):
    scenarios, _ = load_scenarios([BUNDLED_SCENARIOS_DIR])
    for scenario in scenarios:
        lines = scenario.lines(kind)
        assert len(lines) >= REPLY_KINDS[kind], (scenario.id, kind)
        assert len(set(lines)) == len(lines), f"{scenario.id}: a repeated {kind} line"


def test_scenarios_have_persona_state_need_and_an_opening():
    scenarios, _ = load_scenarios([BUNDLED_SCENARIOS_DIR])
    for scenario in scenarios:
        assert scenario.partner_name and scenario.partner_name in scenario.persona
        assert len(scenario.emotional_state.split()) >= 6
        assert len(scenario.need.split()) >= 6
        assert len(scenario.opening.split()) >= 8


def test_no_line_is_shared_between_scenarios():
    # Each scenario is its own conversation, not a template with the names swapped.
    scenarios, _ = load_scenarios([BUNDLED_SCENARIOS_DIR])
    seen: dict[str, str] = {}
    for scenario in scenarios:
        for kind in REPLY_KINDS:
            for line in scenario.lines(kind):
                if len(line.split()) >= 5:
                    assert line not in seen, f"{scenario.id} repeats a {seen.get(line)} line"
                    seen[line] = scenario.id


def test_advice_replies_ask_for_understanding_not_a_fix():
    scenarios, _ = load_scenarios([BUNDLED_SCENARIOS_DIR])
    for scenario in scenarios:
        said = " ".join(scenario.lines("advice")).lower()
        assert any(word in said for word in ("don't need", "don't want", "not asking", "skip", "later")), (
            scenario.id
        )


def test_a_syntax_error_is_named_and_the_rest_still_load(tmp_path):
    folder = tmp_path / "scenarios"
    shutil.copytree(BUNDLED_SCENARIOS_DIR, folder)
    (folder / "broken.toml").write_text('id = "broken"\ntitle = "unclosed\n', encoding="utf-8")
    scenarios, errors = load_scenarios([folder])
    bundled, _ = load_scenarios([BUNDLED_SCENARIOS_DIR])
    assert len(scenarios) == len(bundled)
    assert len(errors) == 1
    assert "broken.toml" in errors[0] and "not valid TOML" in errors[0]


def test_missing_fields_are_each_named(tmp_path):
    source = (BUNDLED_SCENARIOS_DIR / "money.toml").read_text(encoding="utf-8")
    damaged = source.replace('opening = "', 'opening_line = "').replace("repair = [", "repairs = [")
    (tmp_path / "money-damaged.toml").write_text(damaged, encoding="utf-8")
    scenarios, errors = load_scenarios([tmp_path])
    assert scenarios == []
    assert len(errors) == 1
    message = errors[0]
    assert "money-damaged.toml" in message
    assert "partner.opening" in message
    assert "replies.repair" in message
    assert "'repairs'" in message  # the typo is pointed out as an unknown kind


def test_too_few_heard_stages_is_an_error(tmp_path):
    source = (BUNDLED_SCENARIOS_DIR / "phone.toml").read_text(encoding="utf-8")
    start = source.index("heard = [")
    end = source.index("]", start)
    short = source[:start] + 'heard = ["Yeah."]' + source[end + 1 :]
    (tmp_path / "phone.toml").write_text(short, encoding="utf-8")
    _, errors = load_scenarios([tmp_path])
    assert errors and "replies.heard" in errors[0] and "at least 5" in errors[0]


def test_binary_file_and_duplicate_id_are_reported(tmp_path):
    (tmp_path / "a-binary.toml").write_bytes(b"\xff\xfe\x00garbage")
    shutil.copy(BUNDLED_SCENARIOS_DIR / "jealousy.toml", tmp_path / "b-jealousy.toml")
    shutil.copy(BUNDLED_SCENARIOS_DIR / "jealousy.toml", tmp_path / "c-jealousy-copy.toml")
    scenarios, errors = load_scenarios([tmp_path])
    assert [s.id for s in scenarios] == ["jealousy"]
    assert any("a-binary.toml" in e for e in errors)
    assert any("c-jealousy-copy.toml" in e and "already used" in e for e in errors)


def test_missing_folder_is_not_an_error(tmp_path):
    scenarios, errors = load_scenarios([tmp_path / "nowhere"])
    assert scenarios == [] and errors == []


def test_user_scenarios_in_home_are_found(tmp_path):
    from companion.config import Settings

    settings = Settings(home=tmp_path / "home")
    folder = settings.home / "scenarios"
    folder.mkdir(parents=True)
    text = (
        (BUNDLED_SCENARIOS_DIR / "money.toml")
        .read_text(encoding="utf-8")
        .replace('id = "money"', 'id = "my-own"')
    )
    (folder / "mine.toml").write_text(text, encoding="utf-8")
    scenarios, errors = load_scenarios(default_scenario_dirs(settings))
    assert errors == []
    assert "my-own" in {s.id for s in scenarios}


def test_find_scenario_by_id_prefix_and_title_word():
    scenarios, _ = load_scenarios([BUNDLED_SCENARIOS_DIR])
    assert find_scenario(scenarios, "money").id == "money"
    assert find_scenario(scenarios, "jeal").id == "jealousy"
    assert find_scenario(scenarios, "housework").id == "housework"
    with pytest.raises(CompanionError) as caught:
        find_scenario(scenarios, "quantum physics")
    assert "companion rehearse --list" in str(caught.value)


def test_cli_lists_scenarios_and_names_a_broken_file(tmp_path, companion_home):
    # A broken file in the person's own scenarios folder is named on stderr; the bundled ones still list.
    folder = companion_home / "scenarios"
    folder.mkdir(parents=True)
    (folder / "half-written.toml").write_text("id = \n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "companion", "rehearse", "--list"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    listed = [line.split()[0] for line in result.stdout.splitlines() if line.strip()]
    assert set(REQUIRED_TOPICS) <= set(listed)
    assert "half-written.toml" in result.stderr
    assert "Traceback" not in result.stderr
