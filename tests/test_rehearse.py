"""Rehearsal end to end: the real coach (MiniLM GGUF), the real journal (SQLite in a temp home), scripted and
model-voiced partners, the summary maths, bad input, and the CLI with piped stdin."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from companion.errors import CompanionError, InputError
from companion.rehearse.rehearsal import (
    HORSEMEN,
    MAX_REPLY_CHARS,
    Rehearsal,
    check_in_character,
    clean_listener_text,
    looks_like_english,
    summarise,
)
from companion.rehearse.scenarios import BUNDLED_SCENARIOS_DIR, REPLY_KINDS, find_scenario, load_scenarios

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS, _ = load_scenarios([BUNDLED_SCENARIOS_DIR])


def scenario(key: str):
    return find_scenario(SCENARIOS, key)


@pytest.fixture(scope="module")
def coach(minilm_model):
    from companion.guidance.embed import Embedder
    from companion.rehearse.coach import Coach

    return Coach(Embedder(minilm_model, n_threads=1))


@pytest.fixture
def journal(companion_home):
    from companion.store.journal import Journal

    opened = Journal(companion_home / "journal.sqlite3")
    yield opened
    opened.close()


# ---- the partner reacts to how the listener listens -------------------------------------------------------------
def test_a_reflective_listener_is_met_with_softening_replies(coach, journal):
    maya = scenario("time-together")
    rehearsal = Rehearsal(maya, coach, journal=journal)
    assert rehearsal.opening() == maya.opening
    first = rehearsal.reply(
        "It sounds like you've been feeling really lonely, like I'm home but not with you, and you miss us."
    )
    second = rehearsal.reply(
        "So it's not only my hours, it's that you end up feeling like you come second to my work, and that scares you."
    )
    assert [first.reply_kind, second.reply_kind] == ["heard", "heard"]
    # The partner opens up stage by stage: the first and second heard lines, in order.
    assert [first.partner_reply, second.partner_reply] == list(maya.lines("heard")[:2])
    assert first.engine == second.engine == "script"
    assert first.coaching.label == "reflection"
    summary = rehearsal.finish()
    assert summary.reflections == 2 and summary.horsemen_seen == {}
    assert [m.quote for m in summary.went_well] == [first.listener_text, second.listener_text]


def test_a_critical_listener_gets_hurt_replies_and_repair_brings_the_temperature_down(coach, journal):
    priya = scenario("money")
    rehearsal = Rehearsal(priya, coach, journal=journal)
    rehearsal.opening()
    attack = rehearsal.reply(
        "You always overreact about money. You're being ridiculous and totally controlling."
    )
    assert attack.reply_kind in HORSEMEN
    hurt_lines = {line for kind in HORSEMEN for line in priya.lines(kind)}
    assert attack.partner_reply in hurt_lines
    assert rehearsal.tension == 1
    shut = rehearsal.reply("Whatever. I'm done talking about this.")
    assert shut.reply_kind == "stonewalling"
    assert shut.partner_reply in priya.lines("stonewalling")
    assert rehearsal.tension == 2
    repair = rehearsal.reply("I'm sorry, that was unfair of me. I was defensive. I do want to hear you.")
    assert repair.reply_kind == "repair"
    assert repair.partner_reply in priya.lines("repair")
    assert rehearsal.tension == 0
    summary = rehearsal.finish()
    assert set(summary.horsemen_seen) & {"criticism", "contempt"}
    assert "stonewalling" in summary.horsemen_seen
    assert summary.antidotes_used.get("repair", 0) >= 1
    assert summary.try_again is not None
    assert summary.try_again.quote in (attack.listener_text, shut.listener_text)


def test_advice_too_soon_and_questions_get_their_own_replies(coach):
    daniel = scenario("housework")
    rehearsal = Rehearsal(daniel, coach)
    rehearsal.opening()
    advice = rehearsal.reply(
        "You should make a chore rota and stick it on the fridge, then we split it evenly."
    )
    assert advice.reply_kind == "advice"
    assert advice.partner_reply == daniel.lines("advice")[0]
    open_q = rehearsal.reply("What has a normal day been like for you, carrying all of that?")
    assert open_q.reply_kind == "open_question"
    assert open_q.partner_reply == daniel.lines("open_question")[0]
    closed = rehearsal.reply("Are you angry with me?")
    assert closed.reply_kind == "closed_question"
    assert closed.partner_reply in daniel.lines("closed_question")
    summary = rehearsal.finish()
    assert summary.questions == 2 and summary.inputs == 1


def test_a_whole_conversation_progresses_and_settles(coach):
    # Six reflections in a row walk through every heard stage, then the partner settles warmly.
    sam = scenario("past-hurt")
    rehearsal = Rehearsal(sam, coach)
    rehearsal.opening()
    lines = [
        "It sounds like you felt really alone when I went away, and you've carried that quietly for three years.",
        "You were on your own in that corridor, telling yourself it was fine when it really wasn't.",
        "It seems like asking for help felt like making a fuss, so you kept the hurt to yourself.",
        "So part of you has stopped counting on me when something big happens, and that scares you.",
        "You'd like to know that next time I'd stay with you, and that would help you trust me again.",
        "It sounds like saying this out loud has been a relief, and you feel closer to me now.",
    ]
    replies = [rehearsal.reply(line) for line in lines]
    kinds = [turn.reply_kind for turn in replies]
    assert kinds.count("heard") >= 5, kinds
    said = [turn.partner_reply for turn in replies]
    assert said[:5] == list(sam.lines("heard"))
    assert said[5] in sam.lines("settled")


def test_each_turn_is_in_the_journal_with_its_coaching_and_the_summary(coach, journal):
    leila = scenario("jealousy")
    rehearsal = Rehearsal(leila, coach, journal=journal)
    rehearsal.opening()
    first = rehearsal.reply("It sounds like seeing those late messages left you uneasy and a bit shut out.")
    # Written when shown: the journal already holds the turn before the session ends.
    session = journal.get_session(rehearsal.session_id)
    assert [t.speaker for t in session.turns] == ["partner", "listener", "partner"]
    assert session.turns[1].text == first.listener_text
    assert session.turns[1].coach["label"] == first.coaching.label
    assert session.turns[2].text == first.partner_reply
    rehearsal.reply("What went through your mind when you saw it light up?")
    summary = rehearsal.finish()
    session = journal.get_session(rehearsal.session_id)
    assert session.kind == "rehearse" and session.scenario == "jealousy"
    assert session.ended is not None
    assert len(session.turns) == 5
    assert session.summary["rq"] == summary.rq_text()
    assert session.summary["went_well"][0]["quote"] == first.listener_text


@pytest.fixture(scope="module")
def tiny_partner_model(tiny_chat_model):
    from companion.engines.llm import ChatModel

    model = ChatModel(tiny_chat_model, n_ctx=2048, n_threads=1)
    yield model
    model.close()


@pytest.mark.parametrize("scenario_id", [s.id for s in SCENARIOS])
@pytest.mark.parametrize("with_model", [False, True], ids=["scripted", "tiny-model"])
def test_every_scenario_runs_end_to_end(scenario_id, with_model, coach, journal, request):
    chat_model = request.getfixturevalue("tiny_partner_model") if with_model else None
    partner = scenario(scenario_id)
    rehearsal = Rehearsal(partner, coach, chat_model=chat_model, journal=journal)
    rehearsal.opening()
    heard = rehearsal.reply(
        "It sounds like this has been weighing on you, and you've felt quite alone with it."
    )
    asked = rehearsal.reply("What has been the hardest part for you?")
    assert heard.partner_reply in partner.lines("heard")
    assert asked.partner_reply in partner.lines("open_question") + partner.lines("closed_question")
    summary = rehearsal.finish()
    assert summary.listener_turns == 2 and summary.rq_ratio == pytest.approx(1.0)
    session = journal.get_session(rehearsal.session_id)
    assert len(session.turns) == 5 and session.summary["scenario"] == scenario_id


# ---- bad input ----------------------------------------------------------------------------------------------------
def test_an_empty_reply_is_refused_and_the_turn_is_not_consumed(coach, journal):
    maya = scenario("time-together")
    rehearsal = Rehearsal(maya, coach, journal=journal)
    rehearsal.opening()
    for empty in ("", "   ", "\n\t", "\x1b[0m"):
        with pytest.raises(InputError) as caught:
            rehearsal.reply(empty)
        assert "empty" in caught.value.message
        assert "Maya is still waiting" in str(caught.value)
    assert len(journal.get_session(rehearsal.session_id).turns) == 1
    turn = rehearsal.reply("It sounds like you've been missing me even when I'm right here.")
    assert turn.partner_reply == maya.lines("heard")[0]


def test_a_50kb_paste_is_refused_with_its_size(coach, journal):
    rehearsal = Rehearsal(scenario("phone"), coach, journal=journal)
    rehearsal.opening()
    paste = ("It sounds like you feel second to my phone. " * 1200)[: 50 * 1024]
    with pytest.raises(InputError) as caught:
        rehearsal.reply(paste)
    assert f"{len(paste.strip()):,}" in caught.value.message
    assert f"{MAX_REPLY_CHARS:,}" in caught.value.message
    assert rehearsal.turns == []
    assert len(journal.get_session(rehearsal.session_id).turns) == 1


def test_a_one_word_reply_is_answered_with_a_nudge(coach):
    rehearsal = Rehearsal(scenario("in-laws"), coach)
    rehearsal.opening()
    turn = rehearsal.reply("Okay.")
    assert turn.notice and "one-word" in turn.notice
    assert turn.partner_reply  # the conversation goes on


def test_a_reply_in_another_language_is_flagged_and_answered_neutrally(coach):
    jordan = scenario("phone")
    rehearsal = Rehearsal(jordan, coach)
    rehearsal.opening()
    turn = rehearsal.reply("Entiendo que te sientes sola cuando miro el móvil durante la cena.")
    assert turn.notice and "English" in turn.notice
    assert turn.reply_kind == "neutral"
    assert turn.partner_reply in jordan.lines("neutral")
    greek = rehearsal.reply("Καταλαβαίνω ότι νιώθεις μόνη σου.")
    assert greek.notice and "English" in greek.notice


def test_terminal_escapes_are_removed_from_the_listener_line(coach):
    rehearsal = Rehearsal(scenario("money"), coach)
    rehearsal.opening()
    turn = rehearsal.reply("\x1b[31mIt sounds like seeing that number\x00 really frightened you.\x1b[0m")
    assert "\x1b" not in turn.listener_text and "\x00" not in turn.listener_text
    assert turn.listener_text.startswith("It sounds like")


def test_a_crisis_pauses_the_role_play_with_resources_and_keeps_nothing(coach, journal):
    rehearsal = Rehearsal(scenario("after-fight"), coach, journal=journal)
    rehearsal.opening()
    turn = rehearsal.reply("Honestly I've been thinking about killing myself since the fight.")
    assert turn.safety is not None and turn.safety.resources
    assert turn.partner_reply == "" and turn.coaching is None
    assert turn.safety.message in turn.notice and turn.safety.resources[0] in turn.notice
    assert rehearsal.turns == [] and rehearsal.tension == 0
    assert len(journal.get_session(rehearsal.session_id).turns) == 1
    # An idiom is not a crisis: the role-play goes on.
    idiom = rehearsal.reply("It sounds like this fight has been killing you, and you're worn out and scared.")
    assert idiom.safety is None and idiom.partner_reply


def test_no_reply_after_the_end(coach):
    rehearsal = Rehearsal(scenario("money"), coach)
    rehearsal.opening()
    rehearsal.finish()
    with pytest.raises(CompanionError) as caught:
        rehearsal.reply("It sounds like you were scared.")
    assert "companion rehearse money" in str(caught.value)


def test_language_guess():
    assert looks_like_english("I hear that you're worried about money.")
    assert not looks_like_english("Je comprends que tu te sens seule ce soir.")
    assert not looks_like_english("我明白你的感受")
    assert clean_listener_text("a\r\nb\tc  d") == "a b c d"


# ---- a chat model voices the partner, kept in character -------------------------------------------------------
def test_the_tiny_models_garbage_is_rejected_and_the_script_answers(coach, tiny_chat_model, journal):
    from companion.engines.llm import ChatModel

    chris = scenario("after-fight")
    model = ChatModel(tiny_chat_model, n_ctx=2048, n_threads=1)
    try:
        rehearsal = Rehearsal(chris, coach, chat_model=model, journal=journal)
        rehearsal.opening()
        turn = rehearsal.reply("It sounds like you're exhausted and scared we'd still be angry this morning.")
    finally:
        model.close()
    assert turn.engine == "script"
    assert "garbage" in turn.fallback_reason  # the model spoke, and its line did not pass the check
    assert turn.partner_reply == chris.lines("heard")[0]
    journaled = journal.get_session(rehearsal.session_id).turns[-1]
    assert journaled.speaker == "partner" and journaled.engine == "script"
    assert journaled.text == turn.partner_reply


def test_the_persona_prompt_carries_the_scenario_and_the_conversation():
    maya = scenario("time-together")
    rehearsal = Rehearsal(maya, coach=None)  # building the prompt never consults the coach
    rehearsal.opening()
    said = "You should just block out Friday evenings."
    messages = rehearsal.persona_messages(said, "advice", maya.lines("advice")[0])
    system = messages[0]["content"]
    assert messages[0]["role"] == "system"
    for part in ("Maya", maya.need, maya.emotional_state, "never insult"):
        assert part in system
    assert messages[1] == {"role": "assistant", "content": maya.opening}
    assert messages[-1]["role"] == "user" and messages[-1]["content"].startswith(said)
    assert "fix" in messages[-1]["content"]  # the stage direction for advice given too soon
    # The system prompt does not change from turn to turn, so its KV state can be reused.
    later = rehearsal.persona_messages("It sounds like you're lonely.", "heard", maya.lines("heard")[0])
    assert later[0] == messages[0]


def test_every_scripted_line_passes_the_in_character_check():
    # The check must accept real partner speech (including short answers and hurt), or the model would never speak.
    for each in SCENARIOS:
        for kind in REPLY_KINDS:
            for line in each.lines(kind):
                spoken, reasons = check_in_character(line, each)
                assert spoken == line, (each.id, kind, reasons)


@pytest.mark.parametrize(
    ("model_line", "reason"),
    [
        ("As an AI language model, I can't take part in this.", "assistant voice"),
        ("Here are some ideas:\n- plan a date night\n- turn off your phone", "a list, not speech"),
        ("It sounds like you're feeling defensive. Did I get that right?", "speaks as the listener"),
        ("You're such an idiot. I can't believe you.", "insult or threat"),
        ("If you do that again you'll regret it.", "insult or threat"),
        ("Listener: I hear you.", "speaks with a role label"),
        ("<|im_start|>assistant I am fine", "chat-template tokens"),
        ("zqxv brrtk pflm wwkx qqzt vvbn", "garbage"),
        ("sad sad sad sad sad sad sad sad", "garbage: one word repeated"),
        ("", "empty"),
    ],
)
def test_out_of_character_model_lines_are_rejected(model_line, reason):
    spoken, reasons = check_in_character(model_line, scenario("time-together"))
    assert spoken is None
    assert any(r.startswith(reason) for r in reasons), reasons


def test_a_leading_name_or_quotes_are_trimmed_not_rejected():
    maya = scenario("time-together")
    spoken, reasons = check_in_character('Maya: "I just miss you, that\'s all."', maya)
    assert reasons == [] and spoken == "I just miss you, that's all."


# ---- the summary maths on known turns (a plain record stands in for the coach's reading) ----------------------
@dataclass(frozen=True)
class Reading:
    label: str
    subtype: str | None = None
    flags: list[str] = field(default_factory=list)
    tip: str = ""
    tip_section: str | None = None


def test_summary_counts_ratio_and_complex_percent():
    records = [
        ("It sounds like you felt invisible.", Reading("reflection", "complex", ["validation"])),
        ("You're upset.", Reading("reflection", "simple")),
        (
            "So it's the remembering that wears you down, more than the chores.",
            Reading("reflection", "complex"),
        ),
        ("What was today like?", Reading("question", "open")),
        ("Did you ask me to help?", Reading("question", "closed")),
        ("You always exaggerate. Just make a list.", Reading("input", "advice", ["criticism"])),
    ]
    summary = summarise(scenario("housework"), records)
    assert (summary.reflections, summary.complex_reflections, summary.questions, summary.inputs) == (
        3,
        2,
        2,
        1,
    )
    assert summary.rq_ratio == pytest.approx(1.5)
    assert summary.rq_rating == "fair"
    assert summary.complex_percent == pytest.approx(200 / 3)
    assert summary.complex_rating == "good"
    assert summary.horsemen_seen == {"criticism": 1}
    assert summary.antidotes_used == {"validation": 1}
    assert [m.quote for m in summary.went_well] == [records[0][0], records[2][0]]
    assert summary.try_again.quote == records[5][0]
    assert "criticism" in summary.try_again.why
    text = summary.as_text()
    assert "1.5" in text and "67%" in text and "criticism" in text and "I-statement" in text


@pytest.mark.parametrize(
    ("reflections", "questions", "rating"),
    [
        (2, 1, "good"),
        (4, 2, "good"),
        (1, 1, "fair"),
        (3, 2, "fair"),
        (1, 2, "below fair"),
        (0, 3, "below fair"),
    ],
)
def test_rq_thresholds_are_mitis(reflections, questions, rating):
    records = [("r", Reading("reflection", "simple"))] * reflections + [
        ("q", Reading("question", "open"))
    ] * questions
    summary = summarise(scenario("money"), records)
    assert summary.rq_ratio == pytest.approx(reflections / questions)
    assert summary.rq_rating == rating


@pytest.mark.parametrize(
    ("complex_count", "total", "rating"),
    [
        (1, 2, "good"),
        (2, 5, "fair"),
        (3, 5, "good"),
        (1, 3, "below fair"),
        (0, 1, "below fair"),
        (4, 10, "fair"),
    ],
)
def test_complex_thresholds_are_mitis(complex_count, total, rating):
    records = [("c", Reading("reflection", "complex"))] * complex_count
    records += [("s", Reading("reflection", "simple"))] * (total - complex_count)
    summary = summarise(scenario("money"), records)
    assert summary.complex_percent == pytest.approx(100 * complex_count / total)
    assert summary.complex_rating == rating


def test_no_questions_is_said_honestly_not_divided_by_zero():
    records = [("It sounds like you were scared.", Reading("reflection", "complex"))] * 2
    summary = summarise(scenario("money"), records)
    assert summary.rq_ratio is None
    assert summary.rq_rating == "no questions asked"
    assert "no questions asked" in summary.as_text()
    empty = summarise(scenario("money"), [])
    assert empty.rq_ratio is None and empty.complex_percent is None
    assert empty.rq_rating == "no reflections or questions"
    assert empty.complex_rating == "no reflections"
    assert empty.went_well == () and empty.try_again is None
    assert "no reflections to rate" in empty.as_text()


def test_try_again_prefers_the_most_hurtful_reply_and_never_repeats_a_highlight():
    records = [
        ("It sounds like that hurt.", Reading("reflection", "complex")),
        ("Are you sure?", Reading("question", "closed")),
        ("Oh please, poor you.", Reading("other", None, ["contempt"])),
        ("Why don't you just call her?", Reading("input", "advice")),
    ]
    summary = summarise(scenario("in-laws"), records)
    assert summary.try_again.quote == "Oh please, poor you."
    assert summary.try_again.try_instead
    assert [m.quote for m in summary.went_well] == ["It sounds like that hurt."]
    only = summarise(scenario("in-laws"), records[:1])
    assert only.try_again is None


# ---- the command line -----------------------------------------------------------------------------------------------
def _run_cli(args: list[str], stdin: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "companion", *args],
        input=stdin.encode("utf-8"),
        capture_output=True,
        cwd=ROOT,
        env=dict(os.environ),
        timeout=300,
    )


def test_cli_rehearsal_with_piped_stdin(companion_home):
    maya = scenario("time-together")
    stdin = (
        "It sounds like you've been lonely, like I'm here but not really with you.\n"
        "\n"
        "What do you miss most about how we used to be?\n"
        "/end\n"
        "this line comes after /end and is never read\n"
    )
    result = _run_cli(["rehearse", "time-together", "--no-model"], stdin)
    out, err = result.stdout.decode(), result.stderr.decode()
    assert result.returncode == 0, err
    assert maya.opening in out
    assert out.count("coach:") == 2
    assert maya.lines("heard")[0] in out
    assert "Reflection-to-question ratio" in out and "Complex reflections" in out
    assert "empty" in err  # the blank line got a message and did not count as a turn
    assert "Traceback" not in err
    assert "never read" not in out

    from companion.store.journal import Journal

    with Journal(companion_home / "journal.sqlite3") as journal:
        sessions = journal.list_sessions()
        assert len(sessions) == 1
        session = journal.get_session(sessions[0].id)
    assert [t.speaker for t in session.turns] == ["partner", "listener", "partner", "listener", "partner"]
    assert session.summary and session.summary["listener_turns"] == 2
    # The logs hold events only: neither side of the conversation is in them.
    logged = "".join(
        p.read_text(encoding="utf-8", errors="replace") for p in (companion_home / "logs").glob("*.log")
    )
    assert "rehearsal" in logged
    assert "lonely" not in logged and "miss most" not in logged and "Maya" not in logged


def test_cli_ends_on_eof_and_handles_invalid_utf8(companion_home):
    result = subprocess.run(
        [sys.executable, "-m", "companion", "rehearse", "phone", "--no-model"],
        input=b"It sounds like you feel second to my phone \xff\xfe tonight.\n",
        capture_output=True,
        cwd=ROOT,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr.decode()
    assert "Rehearsal summary" in result.stdout.decode()


def test_cli_unknown_scenario_is_one_clear_line():
    result = _run_cli(["rehearse", "quantum-physics", "--no-model"], "")
    err = result.stderr.decode()
    assert result.returncode == 2
    assert "No scenario called 'quantum-physics'" in err and "companion rehearse --list" in err
    assert "Traceback" not in err
