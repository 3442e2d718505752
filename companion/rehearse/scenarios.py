"""Rehearsal scenarios: TOML files describing a partner, their state, and scripted replies keyed to the listener's move."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from companion.config import BUNDLED_KNOWLEDGE_DIR, Settings
from companion.errors import CompanionError

BUNDLED_SCENARIOS_DIR = BUNDLED_KNOWLEDGE_DIR / "scenarios"

# How many lines each reply kind needs. Staged kinds (heard, open_question) are read in order as the partner opens up;
# the rest rotate, so two lines is the least that never repeats the same line twice in a row.
REPLY_KINDS: dict[str, int] = {
    "heard": 5,  # reflection or validation: softens and opens up, one stage deeper each time
    "open_question": 4,  # an open question: shares more, also staged
    "closed_question": 2,  # a closed question: a short answer
    "advice": 2,  # advice or fixing too soon: "I don't need a solution right now"
    "criticism": 2,  # blame: hurt, then escalates (never abusive)
    "contempt": 2,  # mockery or insult: hurt
    "defensiveness": 2,  # counter-complaint: frustration at not being heard
    "stonewalling": 2,  # shutting down: the partner withdraws too
    "repair": 2,  # apology or de-escalation: softens
    "neutral": 2,  # anything else: the partner restates what matters
    "settled": 2,  # after the last heard stage: a warm close
}
PARTNER_FIELDS = ("name", "persona", "emotional_state", "need", "opening")
TOP_FIELDS = ("id", "title", "description")
SCENARIO_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
MAX_LINE_CHARS = 800


@dataclass(frozen=True)
class Scenario:
    """One rehearsal: who the partner is, how they feel, what they need, and what they say back."""

    id: str
    title: str
    description: str
    partner_name: str
    persona: str
    emotional_state: str
    need: str
    opening: str
    replies: Mapping[str, tuple[str, ...]]
    tags: tuple[str, ...] = ()
    source: Path | None = field(default=None, compare=False)

    def lines(self, kind: str) -> tuple[str, ...]:
        return self.replies[kind]


def default_scenario_dirs(settings: Settings | None = None) -> list[Path]:
    """The bundled scenarios, then each knowledge dir's scenarios/, then the person's own under COMPANION_HOME."""
    dirs = [BUNDLED_SCENARIOS_DIR]
    if settings is not None:
        for knowledge_dir in settings.knowledge_dirs:
            candidate = Path(knowledge_dir) / "scenarios"
            if candidate not in dirs:
                dirs.append(candidate)
        dirs.append(settings.home / "scenarios")
    return dirs


def load_scenarios(dirs: Iterable[Path | str]) -> tuple[list[Scenario], list[str]]:
    """Every *.toml scenario in dirs, plus one readable error per file that could not be used (the rest still load)."""
    scenarios: list[Scenario] = []
    errors: list[str] = []
    seen: dict[str, Path] = {}
    for folder in dirs:
        folder = Path(folder)
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.toml")):
            try:
                scenario = load_scenario_file(path)
            except CompanionError as exc:
                errors.append(exc.message)
                continue
            if scenario.id in seen:
                errors.append(
                    f"{path}: scenario id '{scenario.id}' is already used by {seen[scenario.id]}; this file was skipped."
                )
                continue
            seen[scenario.id] = path
            scenarios.append(scenario)
    return scenarios, errors


def load_scenario_file(path: Path) -> Scenario:
    """Parse and validate one scenario file; every problem in it is named in one CompanionError."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CompanionError(f"{path}: could not be read ({exc.strerror or exc}).") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise CompanionError(f"{path}: is not UTF-8 text.") from None
    except tomllib.TOMLDecodeError as exc:
        raise CompanionError(f"{path}: is not valid TOML ({exc}).") from None
    problems: list[str] = []

    def text_field(table: Mapping, key: str, where: str) -> str:
        value = table.get(key)
        if value is None:
            problems.append(f"missing '{where}{key}'")
            return ""
        if not isinstance(value, str) or not value.strip():
            problems.append(f"'{where}{key}' must be non-empty text")
            return ""
        return value.strip()

    top = {key: text_field(data, key, "") for key in TOP_FIELDS}
    if top["id"] and not SCENARIO_ID.match(top["id"]):
        problems.append(f"'id' must be lowercase letters, digits and dashes (got '{top['id']}')")

    partner_table = data.get("partner")
    if not isinstance(partner_table, dict):
        problems.append("missing the [partner] table")
        partner_table = {}
    partner = {key: text_field(partner_table, key, "partner.") for key in PARTNER_FIELDS}

    replies_table = data.get("replies")
    if not isinstance(replies_table, dict):
        problems.append("missing the [replies] table")
        replies_table = {}
    replies: dict[str, tuple[str, ...]] = {}
    for kind, least in REPLY_KINDS.items():
        lines = replies_table.get(kind)
        if lines is None:
            problems.append(f"missing 'replies.{kind}'")
            continue
        if not isinstance(lines, list) or not all(isinstance(line, str) and line.strip() for line in lines):
            problems.append(f"'replies.{kind}' must be a list of non-empty lines")
            continue
        if len(lines) < least:
            problems.append(f"'replies.{kind}' needs at least {least} lines (has {len(lines)})")
            continue
        too_long = [i for i, line in enumerate(lines) if len(line) > MAX_LINE_CHARS]
        if too_long:
            problems.append(
                f"'replies.{kind}' line {too_long[0] + 1} is longer than {MAX_LINE_CHARS} characters"
            )
            continue
        replies[kind] = tuple(line.strip() for line in lines)
    unknown = sorted(set(replies_table) - set(REPLY_KINDS))
    if unknown:
        problems.append(
            f"unknown reply kind(s) {', '.join(repr(k) for k in unknown)} (known: {', '.join(REPLY_KINDS)})"
        )

    tags = data.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        problems.append("'tags' must be a list of words")
        tags = []

    if problems:
        raise CompanionError(f"{path}: {'; '.join(problems)}.")
    return Scenario(
        id=top["id"],
        title=top["title"],
        description=top["description"],
        partner_name=partner["name"],
        persona=partner["persona"],
        emotional_state=partner["emotional_state"],
        need=partner["need"],
        opening=partner["opening"],
        replies=MappingProxyType(replies),
        tags=tuple(tags),
        source=path,
    )


def find_scenario(scenarios: list[Scenario], key: str) -> Scenario:
    """A scenario by id, by a unique id prefix, or by a unique word of its title."""
    wanted = key.strip().lower()
    for scenario in scenarios:
        if scenario.id == wanted:
            return scenario
    matches = [s for s in scenarios if s.id.startswith(wanted)] or [
        s for s in scenarios if wanted and wanted in s.title.lower()
    ]
    if len(matches) == 1:
        return matches[0]
    known = ", ".join(s.id for s in scenarios) or "none"
    if matches:
        raise CompanionError(
            f"'{key}' matches several scenarios: {', '.join(s.id for s in matches)}.",
            fix="companion rehearse --list, then give the full id",
        )
    raise CompanionError(
        f"No scenario called '{key}'. Known scenarios: {known}.", fix="companion rehearse --list"
    )
