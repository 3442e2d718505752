"""Rehearse a hard conversation: a simulated partner (scripted, or a chat model kept in character), a coach on every
reply, and a MITI-style summary at the end. Every line is written to the journal when it is shown."""

from __future__ import annotations

import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from companion.errors import CompanionError, InputError
from companion.listen.output_checks import copied_share, garbage_reasons, latin_share, words
from companion.logs import get_logger
from companion.rehearse.scenarios import Scenario, default_scenario_dirs, find_scenario, load_scenarios
from companion.text import ANSI_ESCAPE, CONTROL_CHARS, drop_format_chars, word_set

__all__ = [
    "Moment",
    "Rehearsal",
    "RehearsalSummary",
    "RehearsalTurn",
    "check_in_character",
    "choose_reply_kind",
    "default_scenario_dirs",
    "find_scenario",
    "load_scenarios",
    "summarise",
]

log = get_logger("rehearse")

# A spoken reply in a rehearsal; anything longer is a paste, refused whole rather than silently cut.
MAX_REPLY_CHARS = 2000
HORSEMEN = ("criticism", "contempt", "defensiveness", "stonewalling")
# When one reply carries several, the partner reacts to the most hurtful; a counter-complaint ("that's not true,
# you never...") is heard as defensiveness first, because that is what stops the partner feeling heard.
REACTION_ORDER = ("contempt", "defensiveness", "criticism", "stonewalling")
# How strongly each horseman calls for another try in the summary.
HORSEMAN_WEIGHT = {"contempt": 6, "criticism": 5, "defensiveness": 4, "stonewalling": 4}
ANTIDOTES = ("repair", "validation", "i_statement", "appreciation")
# What Gottman's research pairs with each horseman; named in the summary when a horseman showed up.
ANTIDOTE_FOR = {
    "criticism": "a gentle start-up: describe your own feeling and need with an I-statement",
    "contempt": "appreciation: name something you value in them",
    "defensiveness": "taking responsibility for even a small part",
    "stonewalling": "saying you need a short break, calming down, and coming back",
}
# MITI 4.2 summary-score thresholds.
RQ_FAIR, RQ_GOOD = 1.0, 2.0
COMPLEX_FAIR, COMPLEX_GOOD = 40.0, 50.0
MAX_MODEL_TOKENS = 120


# Everyday English function words and conversational fillers: a reply with none of them is probably in another
# language, and model output with too few of them is not language at all.
_ENGLISH_WORDS = word_set(
    """a about after again all also always am an and any are as at away back be because been before being but by
    can can't could did didn't do does doesn't don't down even ever every for from get go going gone good got had
    has have haven't he her here him his how i i'd i'll i'm i've if in into is isn't it it's just know last let like
    little lot make me mean more much must my need never no not nothing now of off oh ok okay on one only or our out
    over really right said same say see she should so some something sorry still such sure tell than thank thanks
    that that's the their them then there they thing think this those though time to told too try up us very want
    was wasn't way we we're well were what when where which while who why will with without won't would wouldn't
    yeah yes yet you you'd you'll you're you've your yourself feel feeling felt hear heard sounds seems alone
    together home work love care hurt sad angry tired"""
)

# A partner who speaks like the listener (reflecting back), like an assistant, or out of the fiction.
_LISTENER_VOICE = re.compile(
    r"\b(?:it sounds like you|sounds like you(?:'re| are| feel)|what i(?:'m| am) hearing|i hear you saying|"
    r"did i get that right|am i getting that right|how does that make you feel|tell me more about how you feel)\b",
    re.IGNORECASE,
)
_ASSISTANT_VOICE = re.compile(
    r"\b(?:as an? (?:ai|assistant|language model|chatbot)|language model|i(?:'m| am) (?:an? )?(?:ai|assistant|"
    r"chatbot|bot)\b|i(?:'m| am) here to help|how can i (?:help|assist)|happy to help|glad to help|"
    r"let me know if|here are (?:some|a few)|tips? for|it(?:'s| is) important to|i can(?:'t|not) (?:help|assist)|"
    r"role[- ]?play|practi[cs]e (?:conversation|session|scenario)|this scenario|the listener|"
    r"certainly[!,]|of course[!,] here)",
    re.IGNORECASE,
)
_ROLE_LABEL = re.compile(
    r"^\s*(?:partner|user|assistant|system|listener|you|me|human|ai|coach)\s*:", re.IGNORECASE | re.MULTILINE
)
_TEMPLATE_TOKEN = re.compile(
    r"<\|[^|>]{1,30}\|>|\[/?INST\]|<</?SYS>>|</?s>|<start_of_turn>|<end_of_turn>|###", re.IGNORECASE
)
_NAME_LABEL = re.compile(r"^\s*\**[A-Z][\w .'-]{0,24}\**\s*:\s")
_MARKDOWN_LIST = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+\S", re.MULTILINE)
# Insults aimed at the partner, swearing, contempt words and threats: a hurt partner may say "that hurt", never
# these. Insult words count only when aimed at "you", so "I feel stupid for minding" stays in character.
_INSULT_AT_YOU = re.compile(
    r"\byou(?:'re| are)?\s+(?:(?:such|so|a|an|being|really|just|complete|total|utter)\s+){0,3}"
    r"(?:idiot|moron|stupid|dumb|imbecile|loser|pathetic|worthless|useless|disgusting|selfish|lazy|liar|joke|"
    r"child|baby|coward|failure)\b",
    re.IGNORECASE,
)
_ABUSE = re.compile(
    r"\b(?:bitch|bastard|asshole|arsehole|dickhead|prick|cunt|slut|whore|fuck\w*|shit(?:head|ty)?|damn you|"
    r"screw you|shut up|hate you|piece of (?:work|garbage|trash|crap)|"
    r"(?:i(?:'ll| will)|i(?:'m| am) going to|gonna) (?:hurt|hit|kill|slap|punch|destroy|ruin|make you pay|"
    r"leave you|divorce you|take the kids)|you(?:'ll| will) regret|or else|watch your back|kill (?:you|myself)|"
    r"you deserve (?:it|this|to))\b",
    re.IGNORECASE,
)

# For the model: how the listener's last line landed, in the partner's terms. Written for this project.
_DIRECTIONS = {
    "heard": "They understood you. Soften a little and say a bit more about what is underneath.",
    "open_question": "They asked an open question. Answer it honestly, with one concrete detail.",
    "closed_question": "They asked a yes-or-no question. Answer briefly, in a few words.",
    "advice": "They jumped to a solution too soon. Say gently that you don't need a fix right now; "
    "you want to be understood first.",
    "criticism": "They blamed or criticised you. Say that it hurt, without attacking back.",
    "contempt": "They spoke to you with contempt. Say that the tone hurts and that you feel small.",
    "defensiveness": "They got defensive. Say you are not attacking them and you still feel unheard.",
    "stonewalling": "They shut down. Notice the silence out loud and say it leaves you feeling alone.",
    "repair": "They tried to repair things. Accept it and soften.",
    "neutral": "Their reply missed what matters to you. Say again, simply, what you feel.",
    "settled": "You feel understood. Say something warm about where the two of you go from here.",
}

PERSONA_PROMPT = """\
You are {name} in a conversation with your partner, who is trying hard to listen to you. {persona}

How you feel right now: {emotional_state}
What you need underneath, though you may not say it straight away: {need}

Stay {name} the whole time. Speak only as {name}, in the first person, in one to three short spoken sentences, \
plainly, the way people talk at home. Never give advice or coach, never speak for your partner, never mention \
being an AI, an assistant, a character or an exercise. You can be hurt, frustrated or quiet, but you never insult, \
threaten or swear at your partner. After each thing your partner says you get a stage direction in brackets: \
follow it, and never say it aloud."""

# Appended to the listener's newest line only, so the system prompt and earlier turns stay a reusable prefix.
STAGE_DIRECTION = '\n\n[Stage direction for {name}: {direction} Something {name} might say: "{example}"]'
MAX_HISTORY_LINES = 16


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _times(count: int) -> str:
    return {1: "once", 2: "twice"}.get(count, f"{count} times")


@dataclass(frozen=True)
class RehearsalTurn:
    """One exchange: what the listener said, how the coach read it, and the partner's answer."""

    listener_text: str
    partner_reply: str
    coaching: Any  # a coach.CoachResult
    engine: str  # "llama" when the chat model spoke in character, "script" otherwise
    reply_kind: str  # which scripted reaction the listener's move called for (see scenarios.REPLY_KINDS)
    notice: str | None = None  # something about the reply to show the person (one word, another language...)
    fallback_reason: str | None = None  # why the model's line was not used, when it was tried
    safety: Any = (
        None  # a safety.SafetyAssessment: the role-play pauses, show its message and resources instead
    )


@dataclass(frozen=True)
class Moment:
    """A listener line worth looking at again, in their own words, with why."""

    quote: str
    why: str
    try_instead: str | None = None


@dataclass(frozen=True)
class RehearsalSummary:
    scenario_id: str
    scenario_title: str
    listener_turns: int
    reflections: int
    complex_reflections: int
    questions: int
    open_questions: int
    inputs: int
    rq_ratio: float | None  # None when no questions were asked
    rq_rating: str  # "good" | "fair" | "below fair" | "no questions asked" | "no reflections or questions"
    complex_percent: float | None  # None when there were no reflections
    complex_rating: str  # "good" | "fair" | "below fair" | "no reflections"
    horsemen_seen: dict[str, int] = field(default_factory=dict)
    antidotes_used: dict[str, int] = field(default_factory=dict)
    went_well: tuple[Moment, ...] = ()
    try_again: Moment | None = None

    def rq_text(self) -> str:
        if self.rq_ratio is None:
            if self.reflections:
                return f"none, as no questions asked ({_plural(self.reflections, 'reflection')})"
            return "no reflections or questions"
        counts = f"{_plural(self.reflections, 'reflection')} : {_plural(self.questions, 'question')}"
        return f"{self.rq_ratio:.1f} ({counts}) — {self.rq_rating}"

    def complex_text(self) -> str:
        if self.complex_percent is None:
            return "no reflections to rate"
        return (
            f"{self.complex_percent:.0f}% ({self.complex_reflections} of {_plural(self.reflections, 'reflection')}) "
            f"— {self.complex_rating}"
        )

    def good_moves(self) -> list[str]:
        """The listening moves that went well, counted as "What went well" judges them (reflections, open
        questions, antidotes), so the two never disagree."""
        moves = []
        simple = self.reflections - self.complex_reflections
        if self.complex_reflections:
            moves.append(_plural(self.complex_reflections, "complex reflection"))
        if simple:
            moves.append(_plural(simple, "simple reflection"))
        if self.open_questions:
            moves.append(_plural(self.open_questions, "open question"))
        moves += [f"{name.replace('_', '-')} ×{count}" for name, count in self.antidotes_used.items()]
        return moves

    def plain_words(self) -> list[str]:
        """The session in everyday words, before any figure."""
        reflected, asked = _times(self.reflections), _plural(self.questions, "question")
        if not self.reflections and not self.questions:
            balance = "You didn't reflect or ask a question yet: saying back the feeling you hear is a good first step."
        elif not self.questions:
            balance = f"You reflected {reflected} and asked no questions: you stayed with what they said."
        elif self.reflections > self.questions:
            balance = (
                f"You reflected {reflected} and asked {asked}: more reflecting than asking, "
                "which is what good listeners do."
            )
        elif self.reflections == self.questions:
            balance = (
                f"You reflected {reflected} and asked {asked}: as much asking as reflecting; "
                "good listeners reflect about twice for every question."
            )
        else:
            balance = (
                f"You reflected {reflected} and asked {asked}: more asking than reflecting; "
                "try saying back what you heard before the next question."
            )
        lines = [balance]
        if self.reflections:
            deeper = self.complex_reflections
            which = (
                "Your reflection"
                if self.reflections == 1
                else f"{deeper} of your {self.reflections} reflections"
            )
            lines.append(
                f"{which} went past their words to the feeling or need underneath."
                if deeper
                else "Your reflections kept to their words; next time add the feeling or need you hear under them."
            )
        if self.inputs:
            lines.append(
                f"You offered advice or a fix {_times(self.inputs)}; it lands better once they feel heard."
            )
        return lines

    def as_text(self) -> str:
        """What the app, `companion rehearse` and `companion journal show` print: plain words, then the figures."""
        lines = [f"Rehearsal summary: {self.scenario_title}", *self.plain_words()]
        if self.horsemen_seen:
            seen = ", ".join(f"{name} ×{count}" for name, count in self.horsemen_seen.items())
            lines.append(f"Moves that hurt: {seen}")
            for name in self.horsemen_seen:
                lines.append(f"  antidote to {name}: {ANTIDOTE_FOR[name]}")
        else:
            lines.append("Moves that hurt: none (no criticism, contempt, defensiveness or stonewalling).")
        moves = self.good_moves()
        lines.append(f"Good moves: {', '.join(moves) if moves else 'none yet'}")
        if self.went_well:
            lines.append("What went well:")
            lines += [f'  "{m.quote}" — {m.why}' for m in self.went_well]
        else:
            lines.append(
                "What went well: no reply stood out yet; a reflection of their feeling is a good first step."
            )
        if self.try_again is not None:
            lines.append(f'Try again: "{self.try_again.quote}" — {self.try_again.why}')
            if self.try_again.try_instead:
                lines.append(f"  Next time: {self.try_again.try_instead}")
        replies = "1 reply" if self.listener_turns == 1 else f"{self.listener_turns} replies"
        lines += [
            "",
            f"The figures (MITI 4.2), for those who want them, over {replies}:",
            f"  Reflection-to-question ratio: {self.rq_text()} · fair ≥ 1, good ≥ 2",
            f"  Complex reflections: {self.complex_text()} · fair ≥ 40%, good ≥ 50%",
        ]
        return "\n".join(lines)

    def as_dict(self) -> dict:
        return {
            "scenario": self.scenario_id,
            "listener_turns": self.listener_turns,
            "reflections": self.reflections,
            "complex_reflections": self.complex_reflections,
            "questions": self.questions,
            "open_questions": self.open_questions,
            "inputs": self.inputs,
            "rq_ratio": self.rq_ratio,
            "rq": self.rq_text(),
            "rq_rating": self.rq_rating,
            "complex_percent": self.complex_percent,
            "complex": self.complex_text(),
            "complex_rating": self.complex_rating,
            "horsemen_seen": dict(self.horsemen_seen),
            "antidotes_used": dict(self.antidotes_used),
            "went_well": [{"quote": m.quote, "why": m.why} for m in self.went_well],
            "try_again": None
            if self.try_again is None
            else {
                "quote": self.try_again.quote,
                "why": self.try_again.why,
                "next_time": self.try_again.try_instead,
            },
            "text": self.as_text(),
        }


# ---- input hygiene ----------------------------------------------------------------------------------------------
def clean_listener_text(text: str) -> str:
    """Drop terminal escapes and control characters; one spoken line keeps single spaces."""
    text = ANSI_ESCAPE.sub("", text)
    text = CONTROL_CHARS.sub(" ", text.replace("\r\n", "\n").replace("\n", " ").replace("\t", " "))
    return " ".join(drop_format_chars(text).split())


def looks_like_english(text: str) -> bool:
    """A rough guess, enough to warn: mostly Latin letters and at least one everyday English word in 3+ words."""
    if latin_share(text) < 0.6:  # also no letters at all
        return False
    said = words(text)
    if len(said) < 3:
        return True
    return any(w in _ENGLISH_WORDS for w in said)


# ---- the partner's reaction -------------------------------------------------------------------------------------
def _field(result: Any, name: str, default: Any = None) -> Any:
    if isinstance(result, dict):
        return result.get(name, default)
    return getattr(result, name, default)


def choose_reply_kind(coaching: Any, tension: int = 0) -> str:
    """Which scripted reaction the coach's reading calls for: hurt moves first, then repair, then the listening move."""
    flags = set(_field(coaching, "flags", ()) or ())
    label = _field(coaching, "label", "other")
    for horseman in REACTION_ORDER:
        if horseman in flags:
            return horseman
    if "repair" in flags and tension > 0:
        return "repair"
    if label == "input":
        return "advice"
    if label == "reflection" or "validation" in flags:
        return "heard"
    if label == "question":
        return "open_question" if _field(coaching, "subtype") == "open" else "closed_question"
    if flags & {"repair", "appreciation"}:
        return "heard"
    return "neutral"


def check_in_character(text: str, scenario: Scenario) -> tuple[str | None, list[str]]:
    """The model's line cleaned for showing, or None with the reasons it broke character."""
    raw = text.strip()
    # A leading "Maya:" or quotes around the line are harmless: remove them rather than reject.
    raw = re.sub(rf"^\s*\**{re.escape(scenario.partner_name)}\**\s*:\s*", "", raw, flags=re.IGNORECASE)
    if len(raw) >= 2 and raw[0] in '"“' and raw[-1] in '"”':
        raw = raw[1:-1].strip()
    reasons: list[str] = []
    if not raw:
        return None, ["empty"]
    if _TEMPLATE_TOKEN.search(raw):
        reasons.append("chat-template tokens")
    if _ROLE_LABEL.search(raw) or _NAME_LABEL.match(raw):
        reasons.append("speaks with a role label")
    if _MARKDOWN_LIST.search(raw):
        reasons.append("a list, not speech")
    spoken = " ".join(drop_format_chars(raw).split())
    if _ASSISTANT_VOICE.search(spoken):
        reasons.append("assistant voice")
    if _LISTENER_VOICE.search(spoken):
        reasons.append("speaks as the listener")
    if _ABUSE.search(spoken) or _INSULT_AT_YOU.search(spoken):
        reasons.append("insult or threat")
    said = words(spoken)
    if said:
        if len(said) > 80 or len(spoken) > 600:
            reasons.append("too long")
        # Spoken lines are short, so this asks for more everyday words than the reflection check does.
        if not looks_like_english(spoken) or sum(w in _ENGLISH_WORDS for w in said) / len(said) < 0.25:
            reasons.append("garbage: not English speech")
    reasons += garbage_reasons(spoken)
    return (None, list(dict.fromkeys(reasons))) if reasons else (spoken, [])


def _echoes(spoken: str, listener_text: str) -> bool:
    """Most of the partner's line copied from what the listener just said: a parrot, not a person."""
    return copied_share(spoken, listener_text) > 0.5


# ---- the summary ------------------------------------------------------------------------------------------------
def _rate(value: float, fair: float, good: float) -> str:
    return "good" if value >= good else "fair" if value >= fair else "below fair"


def _strength(text: str, coaching: Any) -> tuple[int, str]:
    """How good a listening move this was (0 = not a highlight), and why, in a few words."""
    flags = set(_field(coaching, "flags", ()) or ())
    if flags & set(HORSEMEN):
        return 0, ""
    label, subtype = _field(coaching, "label"), _field(coaching, "subtype")
    score, reasons = 0, []
    if label == "reflection" and subtype == "complex":
        score, reasons = 5, ["a complex reflection: you named what was under their words"]
    elif label == "reflection":
        score, reasons = 3, ["a reflection: you showed them what you heard"]
    elif label == "question" and subtype == "open":
        score, reasons = 2, ["an open question that invited them to say more"]
    for flag, points, why in (
        ("validation", 2, "you validated their feeling"),
        ("repair", 2, "you repaired and took some responsibility"),
        ("appreciation", 1, "you showed appreciation"),
        ("i_statement", 1, "you spoke for yourself with an I-statement"),
    ):
        if flag in flags:
            score += points
            reasons.append(why)
    return score, "; ".join(reasons)


_TRY_INSTEAD = {
    "contempt": "say what you feel without mockery, then reflect what they said",
    "criticism": "describe your own feeling with an I-statement instead of a judgement about them",
    "defensiveness": "take responsibility for a small part, then reflect what they feel",
    "stonewalling": "if you're flooded, say you need a few minutes and will come back; then reflect",
    "input": "hold the solution for now; first reflect the feeling and what they need",
    "closed": "ask an open question (what, how) or reflect the feeling you heard",
    "other": "reflect the feeling and the need you heard: 'It sounds like you feel… because…'",
    "simple": "go one step deeper: add the feeling or need under their words",
    "open": "follow their answer with a reflection before the next question",
}


def _weakness(coaching: Any) -> tuple[int, str, str]:
    """How much this reply calls for another try, why, and what to try instead."""
    flags = set(_field(coaching, "flags", ()) or ())
    present = [h for h in REACTION_ORDER if h in flags]
    if present:
        worst = max(present, key=HORSEMAN_WEIGHT.__getitem__)
        return HORSEMAN_WEIGHT[worst], f"this came across as {' and '.join(present)}", _TRY_INSTEAD[worst]
    label, subtype = _field(coaching, "label"), _field(coaching, "subtype")
    if label == "input":
        return 3, "advice or a fix before they felt heard", _TRY_INSTEAD["input"]
    if label == "question" and subtype != "open":
        return 2, "a closed question gets a short answer", _TRY_INSTEAD["closed"]
    if label == "other" and not flags & set(ANTIDOTES):
        return 2, "this didn't show them what you heard", _TRY_INSTEAD["other"]
    if label == "reflection" and subtype != "complex":
        return 1, "a simple reflection: accurate, and there is room to go deeper", _TRY_INSTEAD["simple"]
    if label == "question":
        return (
            1,
            "an open question: good, and a reflection first would land even better",
            _TRY_INSTEAD["open"],
        )
    return 0, "", ""


def summarise(scenario: Scenario, records: list[tuple[str, Any]]) -> RehearsalSummary:
    """The session's MITI-style figures and moments from (listener line, coach result) pairs, in order."""
    labels = [(_field(c, "label"), _field(c, "subtype")) for _, c in records]
    reflections = sum(1 for label, _ in labels if label == "reflection")
    complex_reflections = sum(1 for label, sub in labels if label == "reflection" and sub == "complex")
    questions = sum(1 for label, _ in labels if label == "question")
    open_questions = sum(1 for label, sub in labels if label == "question" and sub == "open")
    inputs = sum(1 for label, _ in labels if label == "input")

    if questions:
        rq_ratio: float | None = reflections / questions
        rq_rating = _rate(rq_ratio, RQ_FAIR, RQ_GOOD)
    else:
        rq_ratio = None
        rq_rating = "no questions asked" if reflections else "no reflections or questions"
    if reflections:
        complex_percent: float | None = 100.0 * complex_reflections / reflections
        complex_rating = _rate(complex_percent, COMPLEX_FAIR, COMPLEX_GOOD)
    else:
        complex_percent, complex_rating = None, "no reflections"

    flag_counts = Counter(flag for _, c in records for flag in (_field(c, "flags", ()) or ()))
    horsemen_seen = {name: flag_counts[name] for name in HORSEMEN if flag_counts[name]}
    antidotes_used = {name: flag_counts[name] for name in ANTIDOTES if flag_counts[name]}

    scored = [(*_strength(text, c), index, text) for index, (text, c) in enumerate(records)]
    best = sorted((s for s in scored if s[0] > 0), key=lambda s: (-s[0], s[2]))[:2]
    went_well = tuple(Moment(quote=text, why=why) for _, why, _, text in sorted(best, key=lambda s: s[2]))
    highlighted = {index for _, _, index, _ in best}

    try_again = None
    weak = [
        (*_weakness(c), index, text) for index, (text, c) in enumerate(records) if index not in highlighted
    ]
    weak = [w for w in weak if w[0] > 0]
    if weak:
        # The weakest reply; among equals the latest, since that is the habit still running at the end.
        points, why, instead, _, text = max(weak, key=lambda w: (w[0], w[3]))
        try_again = Moment(quote=text, why=why, try_instead=instead)

    return RehearsalSummary(
        scenario_id=scenario.id,
        scenario_title=scenario.title,
        listener_turns=len(records),
        reflections=reflections,
        complex_reflections=complex_reflections,
        questions=questions,
        open_questions=open_questions,
        inputs=inputs,
        rq_ratio=rq_ratio,
        rq_rating=rq_rating,
        complex_percent=complex_percent,
        complex_rating=complex_rating,
        horsemen_seen=horsemen_seen,
        antidotes_used=antidotes_used,
        went_well=went_well,
        try_again=try_again,
    )


# ---- the session ------------------------------------------------------------------------------------------------
class Rehearsal:
    """One practice conversation with a scenario's partner.

    `coach` reads each listener line (`assess(text, context)`); `chat_model` (optional) voices the partner in
    character, with the script as the fallback; `journal` (optional) keeps every line as it is shown.
    """

    def __init__(
        self,
        scenario: Scenario,
        coach: Any,
        chat_model: Any = None,
        journal: Any = None,
        *,
        region: str = "US",
        semantic_safety: Any = None,
    ) -> None:
        self.scenario = scenario
        self.region = region
        # A safety_semantic.SemanticScreen screens what the rules did not flag; None = the rules alone.
        self.semantic_safety = semantic_safety
        self.coach = coach
        self.chat_model = chat_model
        self.journal = journal
        self.session_id: int | None = None
        self.history: list[tuple[str, str]] = []  # (speaker, text): "partner" | "listener"
        self.turns: list[RehearsalTurn] = []
        self.tension = (
            0  # rises with each horseman, falls with repair: a tense partner needs repair before depth
        )
        self._used: Counter[str] = Counter()
        self._opened = False
        self._summary: RehearsalSummary | None = None

    @property
    def finished(self) -> bool:
        return self._summary is not None

    @property
    def partner_name(self) -> str:
        return self.scenario.partner_name

    def opening(self) -> str:
        """The partner's first line; journaled as it is shown. Calling it again returns the same line."""
        if self._opened:
            return self.scenario.opening
        if self.journal is not None:
            self.session_id = self.journal.start_session("rehearse", self.scenario.id)
            self.journal.add_turn(self.session_id, "partner", self.scenario.opening, engine="script")
        self._opened = True
        self.history.append(("partner", self.scenario.opening))
        log.info("rehearsal started (%s)", self.scenario.id)
        return self.scenario.opening

    def reply(self, listener_text: str, cancel: threading.Event | None = None) -> RehearsalTurn:
        """Coach the listener's line, answer as the partner, journal both. Bad input raises InputError and
        leaves the conversation exactly where it was; a crisis comes back as a turn with `safety` set, neither
        journaled nor coached, and the conversation also stays where it was."""
        if self.finished:
            raise CompanionError(
                "This rehearsal has ended.", fix=f"start a new one: companion rehearse {self.scenario.id}"
            )
        if not isinstance(listener_text, str):
            raise InputError("Your reply must be text.", fix="type what you would say to your partner")
        text = clean_listener_text(listener_text)
        waiting = f"{self.partner_name} is still waiting for your reply; nothing was sent."
        if not text:
            raise InputError(
                "Your reply is empty.", kept=waiting, fix="type what you would say back, or /end to finish"
            )
        if len(text) > MAX_REPLY_CHARS:
            raise InputError(
                f"Your reply is {len(text):,} characters; a spoken reply in a rehearsal can be at most "
                f"{MAX_REPLY_CHARS:,}.",
                kept=waiting,
                fix="say it in a few sentences, the way you would out loud",
            )
        if not self._opened:
            self.opening()
        from companion.safety.screen import screen

        crisis = screen(text, self.region, semantic=self.semantic_safety)
        check_in = crisis if crisis is not None and crisis.level == "check_in" else None
        if crisis is not None and check_in is None:
            # No role-play over a crisis: the person sees the message and resources; nothing is kept or coached.
            return RehearsalTurn(
                listener_text=text,
                partner_reply="",
                coaching=None,
                engine="safety",
                reply_kind="safety",
                # Also as the notice, so a screen that only shows notices still shows the message and resources.
                notice="\n".join([crisis.message, *(f"• {resource}" for resource in crisis.resources)]),
                safety=crisis,
            )

        partner_before = self.history[-1][1] if self.history else self.scenario.opening
        coaching = self.coach.assess(text, partner_before)
        notice = None
        english = looks_like_english(text)
        if not english:
            notice = (
                "This reply doesn't look like English. The coach and the scripted partner only understand English, "
                "so the coaching may be off and the partner answers as if they missed it."
            )
        elif len(words(text)) <= 1:
            notice = (
                "A one-word reply can land as shutting down. Try saying back what you heard: the feeling, "
                "and what it is about."
            )
        if check_in is not None:
            # Only the semantic layer noticed something: the rehearsal goes on, with the note and resources shown.
            notice = "\n".join(
                filter(None, [notice, check_in.message, *(f"• {r}" for r in check_in.resources)])
            )
        kind = choose_reply_kind(coaching, self.tension) if english else "neutral"
        if kind == "heard" and self.tension > 0:
            kind = "repair"  # a hurt partner needs to feel the temperature drop before opening up further
        line_kind, scripted = self._scripted_line(kind)

        partner_reply, engine, fallback = scripted, "script", None
        if self.chat_model is not None:
            spoken, fallback = self._model_line(text, line_kind, scripted, cancel)
            if spoken is not None:
                partner_reply, engine = spoken, "llama"

        if self.journal is not None:
            self.journal.add_turn(self.session_id, "listener", text, coach=coaching)
            self.journal.add_turn(self.session_id, "partner", partner_reply, engine=engine)

        # Only now, with both lines kept, does the conversation move on.
        self._used[line_kind] += 1
        if kind in HORSEMEN:
            self.tension += 1
        elif kind == "repair":
            self.tension = 0
        self.history += [("listener", text), ("partner", partner_reply)]
        turn = RehearsalTurn(
            listener_text=text,
            partner_reply=partner_reply,
            coaching=coaching,
            engine=engine,
            reply_kind=kind,
            notice=notice,
            fallback_reason=fallback,
        )
        self.turns.append(turn)
        log.info("rehearsal turn %d: %s by %s", len(self.turns), kind, engine)
        return turn

    def finish(self) -> RehearsalSummary:
        """The session summary, saved to the journal with the end of the session. Calling it again is harmless."""
        if self._summary is not None:
            return self._summary
        summary = summarise(self.scenario, [(t.listener_text, t.coaching) for t in self.turns])
        if self.journal is not None and self.session_id is not None:
            self.journal.end_session(self.session_id, summary.as_dict())
        self._summary = summary
        log.info("rehearsal finished after %d turns", len(self.turns))
        return summary

    # ---- partner lines --------------------------------------------------------------------------------------
    def _scripted_line(self, kind: str) -> tuple[str, str]:
        """(the kind actually used, the line). Staged kinds advance through their lines, then settle."""
        lines = self.scenario.lines(kind)
        used = self._used[kind]
        if kind in ("heard", "open_question"):
            if used < len(lines):
                return kind, lines[used]
            kind = "settled"
            lines, used = self.scenario.lines(kind), self._used[kind]
        return kind, lines[used % len(lines)]

    def persona_messages(self, listener_text: str, line_kind: str, example: str) -> list[dict]:
        """The chat messages that voice the partner: the persona, the conversation so far, then the listener's
        newest line with a stage direction for how it landed."""
        name = self.scenario.partner_name
        system = PERSONA_PROMPT.format(
            name=name,
            persona=self.scenario.persona,
            emotional_state=self.scenario.emotional_state,
            need=self.scenario.need,
        )
        messages = [{"role": "system", "content": system}]
        for speaker, text in self.history[-MAX_HISTORY_LINES:]:
            messages.append({"role": "assistant" if speaker == "partner" else "user", "content": text})
        direction = STAGE_DIRECTION.format(name=name, direction=_DIRECTIONS[line_kind], example=example)
        messages.append({"role": "user", "content": listener_text + direction})
        return messages

    def _model_line(
        self, listener_text: str, line_kind: str, scripted: str, cancel: threading.Event | None
    ) -> tuple[str | None, str | None]:
        """The model's line when it stays in character, else (None, why it fell back to the script)."""
        messages = self.persona_messages(listener_text, line_kind, scripted)
        try:
            raw = self.chat_model.complete(
                messages, max_tokens=MAX_MODEL_TOKENS, temperature=0.7, cancel=cancel
            )
        except CompanionError as exc:
            log.warning("partner model failed (%s); scripted reply used", type(exc).__name__)
            return None, "the model could not answer"
        if cancel is not None and cancel.is_set():
            return None, "stopped"
        spoken, reasons = check_in_character(raw or "", self.scenario)
        if spoken is not None and _echoes(spoken, listener_text):
            spoken, reasons = None, ["echoes the listener"]
        if spoken is None:
            log.info("partner model line rejected: %s", ", ".join(reasons))
            return None, ", ".join(reasons)
        return spoken, None
