"""The built-in reflector: perspective flip, softening, feelings and needs, phrasing, odd input, tips."""

from __future__ import annotations

import re

import pytest

from companion.guidance.index import SearchHit
from companion.guidance.knowledge import Section
from companion.listen import lexicon
from companion.listen.reflector import (
    BuiltinReflection,
    BuiltinReflector,
    flip_perspective,
    gerund,
    read_feelings,
    soften,
)

REFLECTOR = BuiltinReflector()


# ---- turning the words around -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("partner_said", "said_back"),
    [
        ("I am tired", "you are tired"),
        ("I was hurt", "you were hurt"),
        ("I'm scared you'll leave me", "you're scared I'll leave you"),
        ("I've had enough of your jokes", "you've had enough of my jokes"),
        ("You were late again", "I was late again"),
        ("you're always on your phone", "I'm always on my phone"),
        ("You are never home", "I am never home"),
        ("Are you even listening to me", "Am I even listening to you"),
        ("Were you with her", "Was I with her"),
        ("I told you you never listen", "you told me I never listen"),
        ("That's mine, not yours", "That's yours, not mine"),
        ("You did it yourself and I did it myself", "I did it myself and you did it yourself"),
        ("I love you", "you love me"),
        ("I'd do anything for you", "you'd do anything for me"),
        ("when you interrupt me I feel small", "when I interrupt you you feel small"),
        ("My mom thinks you don't respect me", "Your mom thinks I don't respect you"),
        ("You and I never talk", "you and I never talk"),
        ("u never text me back", "I never text you back"),
        ("You never even say thank you", "I never even say thank you"),
        ("He keeps his promises, you don't", "He keeps his promises, I don't"),
    ],
)
def test_perspective_flips_pronouns_and_agreement(partner_said, said_back):
    assert flip_perspective(partner_said) == said_back


def test_flip_twice_returns_the_original_for_simple_sentences():
    for sentence in ("you never listen to me", "I was waiting for you", "you're on your phone"):
        assert flip_perspective(flip_perspective(sentence)) == sentence


# ---- softening ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("clause", "softened"),
    [
        ("I never make time for you anymore", "it's felt like I hardly ever make time for you anymore"),
        ("I always forget to call", "it's felt like I keep forgetting to call"),
        ("he always takes her side", "it's felt like he keeps taking her side"),
        ("I'm always on my phone", "it's felt like I'm so often on my phone"),
        ("every time you bring it up I walk away", "so often when you bring it up I walk away"),
        ("I'm on my phone all the time", "it's felt like I'm on my phone so much of the time"),
        (
            "you want to talk but I'm always working",
            "you want to talk but it's felt like I'm so often working",
        ),
        ("nobody notices how much you do", "it's felt like nobody notices how much you do"),
    ],
)
def test_absolutes_are_softened_into_experience(clause, softened):
    assert soften(clause)[0] == softened


@pytest.mark.parametrize(
    ("verb", "ing"),
    [
        ("forget", "forgetting"),
        ("forgets", "forgetting"),
        ("have", "having"),
        ("take", "taking"),
        ("tries", "trying"),
        ("lie", "lying"),
        ("interrupt", "interrupting"),
        ("push", "pushing"),
        ("see", "seeing"),
        ("watches", "watching"),
    ],
)
def test_gerunds(verb, ing):
    assert gerund(verb) == ing


# ---- feelings and needs --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("statement", "feeling", "need"),
    [
        ("I'm exhausted.", "exhausted", "rest"),
        ("I feel so lonely these days.", "lonely", "closeness"),
        ("Nobody notices anything I do around here.", "unseen", "appreciation"),
        ("You're always on your phone.", "ignored", "closeness"),
        ("You never make time for me anymore.", "lonely", "being a priority"),
        ("You lied to me about where you were.", "betrayed", "trust"),
        ("I do all the housework and you never help.", "overwhelmed", "fairness"),
        ("You never listen to me.", "unheard", "being heard"),
        ("Stop checking up on me all the time.", "smothered", "autonomy"),
        ("When you yell at me I shut down.", "on edge", "safety"),
        ("You always take your mother's side.", "alone", "support"),
        ("I'm scared you'll leave me.", "scared", "reassurance"),
        ("It makes me so angry when you interrupt me.", "angry", "respect"),
        ("We don't even talk anymore, we're like roommates.", "disconnected", "closeness"),
        ("You forgot my birthday.", "let down", "reliability"),
        ("You decided to move without even asking me.", "left out", "having a say"),
    ],
)
def test_feelings_and_needs_are_detected(statement, feeling, need):
    reading = read_feelings(statement)
    assert feeling in reading.feelings
    assert need in reading.needs


def test_a_negated_feeling_is_not_reflected_as_present():
    reading = read_feelings("I'm not angry, I'm just tired.")
    assert "angry" not in reading.feelings
    assert "worn out" in reading.feelings


def test_the_lexicon_is_substantial_and_every_need_it_names_exists():
    cue_count = sum(len(c.patterns) for c in lexicon.CUES) + len(lexicon.FEELING_WORDS)
    assert cue_count >= 300
    for cue in lexicon.CUES:
        assert all(n in lexicon.NEEDS for n in cue.needs), cue.name
    for needs in lexicon.FEELING_NEEDS.values():
        assert all(n in lexicon.NEEDS for n in needs)


# ---- whole reflections ---------------------------------------------------------------------------------

STATEMENTS = [
    "You never make time for me anymore.",
    "I'm exhausted and nobody notices how much I do.",
    "You're always on your phone when we're together.",
    "Why don't you ever listen to me?",
    "I feel like you don't care about me.",
    "You always take your mom's side.",
    "I was so embarrassed when you laughed at me in front of your friends.",
    "I'm scared you'll leave me.",
    "You forgot my birthday again.",
    "I got the promotion today!",
    "Stop checking my phone.",
    "I have to do everything myself around here, every time.",
    "We don't talk anymore, we're like roommates.",
    "I know I should quit smoking but it's the only thing that calms me down.",
    "Do you even love me?",
    "Honestly, I feel like I'm the only one who cares about this relationship.",
    "I think you're hiding something from me.",
    "You said you'd be home by seven and you didn't even text.",
    "I was happy with you, but I'm not sure anymore.",
    "My mom thinks you don't respect me.",
    "I want to spend more time with you but you're always working.",
    "Every time I try to talk about money, you walk away.",
    "You make all the decisions without asking me.",
    "I just need you to hold me sometimes.",
    "You're never home before the kids are asleep.",
]
CHECK_ENDINGS = tuple(lexicon.CHECKS)


@pytest.mark.parametrize("statement", STATEMENTS)
def test_every_reflection_is_tentative_checked_and_free_of_advice(statement):
    result = REFLECTOR.reflect(statement)
    assert isinstance(result, BuiltinReflection)
    for text in [result.reflection, *result.alternatives]:
        assert text.endswith(CHECK_ENDINGS), text
        lowered = text.lower()
        for marker in (
            "you should",
            "why don't you",
            "you need to",
            "you must",
            "have you tried",
            "i suggest",
        ):
            assert marker not in lowered, text
        assert text[0].isupper()
        assert "  " not in text and " ," not in text and ",," not in text
        assert not re.search(r"\bi\b", text), text  # "I" is always capitalised


@pytest.mark.parametrize("statement", STATEMENTS)
def test_reflections_are_not_an_echo_and_alternatives_are_distinct(statement):
    result = REFLECTOR.reflect(statement)
    stripped = statement.rstrip(".!?")
    assert stripped.lower() not in result.reflection.lower()
    assert len(result.alternatives) >= 1
    everything = [result.reflection, *result.alternatives]
    assert len(set(everything)) == len(everything)
    stems = {" ".join(t.split()[:2]) for t in everything}
    assert len(stems) == len(everything)  # different openings, not one template


def test_the_issue_example_reads_as_a_complex_reflection():
    result = REFLECTOR.reflect("You never make time for me anymore.")
    assert result.reflection.startswith("It sounds like you've been feeling lonely")
    assert "priority to me" in result.reflection
    assert result.reflection.endswith("Did I get that right?")
    assert "never" not in " ".join([result.reflection, *result.alternatives])
    assert any("it's felt like I hardly ever make time for you" in a for a in result.alternatives)


def test_absolutes_never_come_back_unsoftened():
    for statement in ("You never help.", "You always interrupt me.", "You do this every time."):
        result = REFLECTOR.reflect(statement)
        text = " ".join([result.reflection, *result.alternatives])
        assert not re.search(r"\b(?:never|always|every time)\b", text), text


def test_the_same_statement_gives_the_same_reflection():
    first = REFLECTOR.reflect("You're always on your phone.")
    second = BuiltinReflector().reflect("You're always on your phone.")
    assert first == second


def test_a_statement_about_someone_else_keeps_the_listener_out_of_it():
    result = REFLECTOR.reflect("My boss never gives me credit for anything.")
    assert "me" not in re.findall(r"\b\w+\b", result.reflection.split(".")[0].replace("It sounds", ""))
    assert "unappreciated" in result.feelings


# ---- a tip from the guidance ------------------------------------------------------------------------------


def test_a_search_hit_becomes_a_separate_tip_never_part_of_the_reflection():
    section = Section(
        id="s1",
        source="bundled/listening.md",
        heading="Name the feeling",
        heading_path=("Listening", "Name the feeling"),
        position=0,
        text="Say the feeling you hear before anything else. Then check it.",
        content_hash="abc",
    )
    hit = SearchHit(section=section, score=0.9, matched_terms=("feeling",))
    result = REFLECTOR.reflect("You never make time for me anymore.", tip=hit)
    assert result.tip is not None
    assert "Name the feeling" in result.tip and "Say the feeling you hear" in result.tip
    assert "Then check it" not in result.tip  # one sentence, not the whole section
    assert "guidance" not in result.reflection
    assert REFLECTOR.reflect("You never make time for me anymore.").tip is None


# ---- odd input --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "odd",
    [
        "",
        "   ",
        "😀😢💔",
        "我很想你，但是你总是不在家。",
        "\x1b[31mYou never\x1b[0m listen\x00 to me",
        "?!?!",
        "a",
        "ok",
        b"you never call me \xff",
        "I " * 50_000,
        "You never listen. " * 12_000,
    ],
)
def test_odd_input_gets_a_graceful_reflection(odd):
    result = REFLECTOR.reflect(odd)
    assert result.reflection
    assert result.reflection.endswith(CHECK_ENDINGS) or result.reflection.endswith("?")
    assert "\x1b" not in result.reflection and "\x00" not in result.reflection
    assert len(result.reflection) < 600


def test_control_characters_do_not_hide_the_feeling():
    result = REFLECTOR.reflect("\x1b[1mYou never\x1b[0m listen to me")
    assert "unheard" in result.feelings
