"""Hand-engineered cues for the listening coach: the shape of an utterance, and the rule-based flags.

Pure Python and numpy, so it loads instantly. The trained classifier in coach.py reads `utterance_features`
next to the sentence embedding; the flags (four horsemen and their antidotes) come only from the rules here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np

from companion.text import straighten_quotes, word_set

# Features look at this much of an utterance; a 50 KB paste is judged by its opening, never rejected.
MAX_FEATURE_CHARS = 2000

_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
_SENTENCE_END = re.compile(r"[.!?]+(?:\s|$)")

WH_WORDS = frozenset(
    {"what", "how", "why", "when", "where", "who", "which", "whats", "what's", "how's", "whose"}
)
AUXILIARIES = frozenset(
    {
        "do",
        "does",
        "did",
        "are",
        "is",
        "was",
        "were",
        "have",
        "has",
        "had",
        "can",
        "could",
        "would",
        "will",
        "should",
        "shall",
        "may",
        "might",
        "am",
        "don't",
        "doesn't",
        "didn't",
        "aren't",
        "isn't",
        "wasn't",
        "weren't",
        "haven't",
        "hasn't",
        "can't",
        "couldn't",
        "wouldn't",
        "won't",
        "shouldn't",
    }
)
SECOND_PERSON = frozenset(
    {"you", "your", "you're", "yours", "yourself", "you've", "you'd", "you'll", "ya", "u"}
)
FIRST_PERSON = frozenset({"i", "me", "my", "mine", "myself", "i'm", "i've", "i'd", "i'll"})
WE_WORDS = frozenset({"we", "us", "our", "ours", "we're", "we've", "ourselves"})
TENTATIVE = frozenset(
    {"maybe", "perhaps", "might", "wonder", "guess", "seems", "sounds", "kind", "sort", "bit"}
)

# Openings that usually introduce a reflection of what the other person said or feels.
REFLECTION_OPENINGS = (
    "it sounds",
    "sounds like",
    "it seems",
    "seems like",
    "so you",
    "you feel",
    "you're feeling",
    "you felt",
    "you've been",
    "you're",
    "you are",
    "you were",
    "you want",
    "you'd like",
    "you wish",
    "you really",
    "so it's",
    "so what i'm hearing",
    "what i'm hearing",
    "i'm hearing",
    "it feels like",
    "feels like",
    "if i understand",
    "if i'm hearing",
    "let me see if",
    "so basically",
    "so, you",
    "so for you",
    "for you",
    "you don't",
    "you didn't",
    "you can't",
    "you just",
    "you kind of",
    "you've had",
    "part of you",
    "it's like",
    "you never felt",
    "you miss",
    "you need",
    "you're worried",
    "you're scared",
    "you worry",
    "that must",
    "must be",
    "it must",
    "you must",
    "on one hand",
    "on the one hand",
)
# Openings and phrases that give advice, suggest, or fix.
ADVICE_CUES = (
    "you should",
    "you shouldn't",
    "you need to",
    "you have to",
    "you must",
    "you ought",
    "you could",
    "you can try",
    "you might try",
    "you might want",
    "maybe you could",
    "maybe try",
    "why don't you",
    "why not",
    "how about",
    "what about",
    "have you considered",
    "have you thought about",
    "have you tried",
    "i suggest",
    "i'd suggest",
    "i would suggest",
    "i recommend",
    "i'd recommend",
    "my advice",
    "it might help",
    "it may help",
    "it would help",
    "it could help",
    "it helps to",
    "make sure",
    "the best thing",
    "the trick is",
    "if i were you",
    "try to",
    "try and",
    "just try",
    "just tell",
    "just talk",
    "just ask",
    "just ignore",
    "just let",
    "you'd better",
    "you better",
    "let's",
    "let us",
    "next time",
    "go ahead",
    "don't worry",
    "don't let",
    "don't be",
)
IMPERATIVE_VERBS = frozenset(
    {
        "try",
        "talk",
        "tell",
        "go",
        "take",
        "make",
        "let",
        "stop",
        "give",
        "ask",
        "think",
        "remember",
        "keep",
        "get",
        "call",
        "write",
        "find",
        "look",
        "be",
        "start",
        "consider",
        "focus",
        "spend",
        "set",
        "plan",
        "put",
        "leave",
        "book",
        "schedule",
        "sit",
        "breathe",
        "relax",
        "calm",
        "ignore",
        "use",
        "check",
        "pick",
        "show",
        "do",
        "don't",
        "avoid",
        "forget",
        "wait",
        "see",
        "read",
        "join",
        "reach",
        "speak",
        "bring",
        "send",
        "buy",
        "move",
        "quit",
        "sleep",
        "eat",
        "drink",
        "exercise",
        "listen",
        "explain",
        "apologize",
        "apologise",
        "cut",
        "hire",
        "split",
        "share",
        "switch",
        "turn",
        "block",
    }
)
# Phrases that present facts or general knowledge rather than a personal reaction.
INFORMATION_CUES = (
    "research",
    "studies",
    "study",
    "according to",
    "it is common",
    "it's common",
    "it's normal",
    "most people",
    "many people",
    "a lot of people",
    "lots of couples",
    "many couples",
    "usually",
    "typically",
    "generally",
    "in general",
    "on average",
    "percent",
    "%",
    "statistics",
    "experts",
    "doctor",
    "therapist",
    "counselor",
    "counsellor",
    "there are",
    "there is",
    "it is",
    "it's called",
    "is a",
    "are a",
    "can cause",
    "is known",
    "evidence",
    "often",
    "tends to",
    "tend to",
    "the law",
    "the rule",
    "works by",
    "available",
)
AFFIRMATION_CUES = (
    "good for you",
    "well done",
    "that's great",
    "that's wonderful",
    "that's amazing",
    "proud of you",
    "you did",
    "you handled",
    "you managed",
    "brave",
    "strong",
    "courage",
    "great job",
    "nice job",
    "good job",
    "i'm glad",
    "so glad",
    "that's awesome",
    "you deserve",
    "you're doing",
    "good idea",
    "great idea",
    "you've got this",
    "you got this",
    "you can do",
    "i believe in you",
    "i'm sure you",
)
VALIDATION_CUES = (
    "makes sense",
    "make sense",
    "understandable",
    "of course you",
    "no wonder",
    "anyone would",
    "anybody would",
    "it's okay to",
    "it's ok to",
    "it's fine to",
    "it's alright to",
    "it's normal to",
    "it is normal to",
    "natural to",
    "you're not alone",
    "you are not alone",
    "not crazy",
    "you have every right",
    "it's valid",
    "that's valid",
    "fair enough",
    "i get why",
    "i can see why",
    "i understand why",
    "i'd feel the same",
    "i would feel the same",
    "i'd be upset too",
    "i'd be hurt too",
    "that's hard",
    "that's really hard",
    "that sounds hard",
    "that sounds really hard",
    "that's tough",
    "that sounds tough",
    "that's rough",
    "i can understand",
    "i understand",
    "i hear you",
    "totally get",
    "i get it",
    "right to feel",
)
SELF_DISCLOSURE_CUES = (
    "i had",
    "i have had",
    "i've had",
    "when i was",
    "i remember",
    "i used to",
    "me too",
    "same here",
    "i went through",
    "i've been through",
    "happened to me",
    "my ex",
    "my mom",
    "my dad",
    "my mother",
    "my father",
    "my sister",
    "my brother",
    "my friend",
    "i also",
    "i know how",
    "i've felt",
    "i felt",
    "i feel",
    "i was",
    "i did",
    "for me",
    "personally",
    "in my experience",
    "my experience",
)
SMALL_TALK_CUES = (
    "hello",
    "hi",
    "hey",
    "good morning",
    "good evening",
    "good night",
    "bye",
    "goodbye",
    "see you",
    "thanks",
    "thank you",
    "welcome",
    "how are you",
    "how's it going",
    "nice to",
    "take care",
    "have a good",
    "you too",
    "ok",
    "okay",
    "cool",
    "lol",
    "haha",
    "sure",
    "alright",
    "yeah",
    "yes",
    "no",
    "hmm",
    "mm",
    "oh",
    "wow",
)
# A small feeling vocabulary, for "reflecting feeling" and complexity cues.
FEELING_WORDS = word_set(
    """
    angry mad furious annoyed irritated frustrated fed resentful bitter upset hurt sad lonely alone down
    depressed miserable heartbroken gutted disappointed let discouraged hopeless helpless scared afraid
    frightened anxious worried nervous stressed overwhelmed exhausted tired drained burnt burned worn
    ashamed embarrassed guilty humiliated jealous envious insecure rejected abandoned neglected ignored
    invisible unheard unseen unappreciated unloved unwanted taken granted confused torn stuck trapped lost
    betrayed hurtful happy glad relieved grateful thankful excited hopeful proud loved close safe calm
    content peaceful secure appreciated valued heard seen respected supported cared connected
    frustrating lonely upsetting scary painful hard tough heavy
    feel feeling feelings felt emotion emotions
    """
)
# Words that point beyond the literal content: needs, values, meaning, ambivalence (complex-reflection cues).
DEPTH_WORDS = word_set(
    """
    need needs want wanting wish matter matters important care cares deep deeply really underneath
    part both yet even though still afraid fear respect trust fair fairness partner team together effort
    noticed notice valued value meaning means mean sense alone safe belonging priority worth
    """
)
GREETING_ONLY = frozenset(
    {
        "hi",
        "hello",
        "hey",
        "bye",
        "goodbye",
        "thanks",
        "thank",
        "you",
        "ok",
        "okay",
        "yes",
        "no",
        "sure",
        "yeah",
        "yep",
        "nope",
        "hmm",
        "mm",
        "oh",
        "cool",
        "lol",
        "alright",
    }
)
STOPWORDS = word_set(
    """
    a an the and or but so if then to of in on at for with about from by as is are was were be been being am
    it its it's this that these those there here i me my you your he she they them we us our his her their
    do does did done have has had not no yes just really very too also than what how why when where who which
    can could would will should shall may might must don't didn't doesn't i'm you're that's im dont
    get got like know think want go going one all any some more much
    """
)


def normalise(text: str) -> str:
    """Lower-case with straight apostrophes and squeezed spaces, bounded in length."""
    text = (text or "")[:MAX_FEATURE_CHARS]
    text = straighten_quotes(text)
    return " ".join(text.lower().split())


def words(text: str) -> list[str]:
    return _WORD.findall(normalise(text))


def _has_any(haystack: str, phrases: Sequence[str]) -> bool:
    padded = f" {haystack} "
    return any(f" {p} " in padded or padded.startswith(f" {p}") for p in phrases)


def _count_any(haystack: str, phrases: Sequence[str]) -> int:
    padded = f" {_strip_punct(haystack)} "
    return sum(1 for p in phrases if f" {p} " in padded)


def _strip_punct(text: str) -> str:
    return re.sub(r"[^a-z0-9%' ]+", " ", text)


def _starts_with_any(text: str, phrases: Sequence[str]) -> bool:
    bare = _strip_punct(text).strip()
    return any(bare == p or bare.startswith(p + " ") for p in phrases)


def _content_words(tokens: Sequence[str]) -> set[str]:
    return {t for t in tokens if t not in STOPWORDS and len(t) > 2}


def _stem(token: str) -> str:
    # A crude stem so "worried"/"worry"/"worrying" overlap with the partner's words.
    for suffix in ("ing", "ed", "ies", "es", "s", "ly"):
        if token.endswith(suffix) and len(token) - len(suffix) >= 3:
            return token[: -len(suffix)]
    return token


def _clauses_start_with(text: str, phrases: Sequence[str]) -> bool:
    """True if any sentence (not only the first) opens with one of the phrases."""
    return any(_starts_with_any(part, phrases) for part in re.split(r"[.!?;,]+\s*", text) if part.strip())


FEATURE_NAMES: tuple[str, ...] = (
    "has_question_mark",
    "ends_with_question_mark",
    "question_mark_count",
    "starts_wh_word",
    "starts_auxiliary",
    "any_clause_starts_wh_or_aux_with_qmark",
    "starts_reflection_opening",
    "starts_you",
    "starts_so",
    "starts_i",
    "starts_imperative_verb",
    "advice_cue_count",
    "information_cue_count",
    "affirmation_cue_count",
    "validation_cue_count",
    "self_disclosure_cue_count",
    "small_talk_cue_count",
    "only_small_talk_words",
    "second_person_ratio",
    "first_person_ratio",
    "we_ratio",
    "tentative_ratio",
    "feeling_word_ratio",
    "depth_word_ratio",
    "context_overlap",
    "novel_content_ratio",
    "has_context",
    "log_word_count",
    "sentence_count",
    "exclamation",
    "has_digit",
    "check_understanding",
    "non_ascii_ratio",
)


def utterance_features(text: str, context: str | None = None) -> np.ndarray:
    """The engineered feature vector for one listener utterance, in FEATURE_NAMES order."""
    norm = normalise(text)
    tokens = _WORD.findall(norm)
    n = max(len(tokens), 1)
    first = tokens[0] if tokens else ""
    stripped = norm.rstrip(" .!\"')")
    question_marks = norm.count("?")
    context_tokens = _WORD.findall(normalise(context or ""))
    mine = {_stem(t) for t in _content_words(tokens)}
    theirs = {_stem(t) for t in _content_words(context_tokens)}
    overlap = len(mine & theirs) / max(len(mine), 1) if theirs else 0.0
    novel = len(mine - theirs) / max(len(mine), 1) if theirs else 0.0
    clauses = [c.strip() for c in re.split(r"(?<=[.!?])\s+", norm) if c.strip()]
    clause_question = any(
        c.endswith("?")
        and (c.split(" ", 1)[0].strip(",") in WH_WORDS or c.split(" ", 1)[0].strip(",") in AUXILIARIES)
        for c in clauses
    )
    non_ascii = sum(1 for ch in norm if ord(ch) > 127) / max(len(norm), 1)
    values = {
        "has_question_mark": float(question_marks > 0),
        "ends_with_question_mark": float(stripped.endswith("?")),
        "question_mark_count": min(question_marks, 3) / 3.0,
        "starts_wh_word": float(first in WH_WORDS),
        "starts_auxiliary": float(first in AUXILIARIES),
        "any_clause_starts_wh_or_aux_with_qmark": float(clause_question),
        "starts_reflection_opening": float(_starts_with_any(norm, REFLECTION_OPENINGS)),
        "starts_you": float(first in SECOND_PERSON),
        "starts_so": float(first == "so"),
        "starts_i": float(first in FIRST_PERSON),
        "starts_imperative_verb": float(
            first in IMPERATIVE_VERBS or _clauses_start_with(norm, ("just", "please"))
        ),
        "advice_cue_count": min(_count_any(norm, ADVICE_CUES), 3) / 3.0,
        "information_cue_count": min(_count_any(norm, INFORMATION_CUES), 3) / 3.0,
        "affirmation_cue_count": min(_count_any(norm, AFFIRMATION_CUES), 3) / 3.0,
        "validation_cue_count": min(_count_any(norm, VALIDATION_CUES), 3) / 3.0,
        "self_disclosure_cue_count": min(_count_any(norm, SELF_DISCLOSURE_CUES), 3) / 3.0,
        "small_talk_cue_count": min(_count_any(norm, SMALL_TALK_CUES), 3) / 3.0,
        "only_small_talk_words": float(bool(tokens) and all(t in GREETING_ONLY for t in tokens)),
        "second_person_ratio": sum(t in SECOND_PERSON for t in tokens) / n,
        "first_person_ratio": sum(t in FIRST_PERSON for t in tokens) / n,
        "we_ratio": sum(t in WE_WORDS for t in tokens) / n,
        "tentative_ratio": sum(t in TENTATIVE for t in tokens) / n,
        "feeling_word_ratio": sum(t in FEELING_WORDS for t in tokens) / n,
        "depth_word_ratio": sum(t in DEPTH_WORDS for t in tokens) / n,
        "context_overlap": overlap,
        "novel_content_ratio": novel,
        "has_context": float(bool(context_tokens)),
        "log_word_count": math.log1p(len(tokens)) / 5.0,
        "sentence_count": min(len(_SENTENCE_END.findall(norm + " ")) or 1, 6) / 6.0,
        "exclamation": float("!" in norm),
        "has_digit": float(any(ch.isdigit() for ch in norm)),
        "check_understanding": float(
            _has_any(
                _strip_punct(norm),
                (
                    "is that right",
                    "did i get that",
                    "am i right",
                    "is that it",
                    "does that sound right",
                    "have i got that",
                    "is that close",
                ),
            )
        ),
        "non_ascii_ratio": non_ascii,
    }
    return np.array([values[name] for name in FEATURE_NAMES], dtype=np.float32)


def feature_matrix(texts: Sequence[str], contexts: Sequence[str | None]) -> np.ndarray:
    return (
        np.stack([utterance_features(t, c) for t, c in zip(texts, contexts, strict=True)])
        if texts
        else (np.zeros((0, len(FEATURE_NAMES)), dtype=np.float32))
    )


# ---- flags: the four horsemen and their antidotes, from rules ---------------------------------------------------

FLAG_NAMES: tuple[str, ...] = (
    "criticism",
    "contempt",
    "defensiveness",
    "stonewalling",
    "i_statement",
    "validation",
    "appreciation",
    "repair",
)

_FLAG_PATTERNS: dict[str, tuple[str, ...]] = {
    # Blame aimed at the person, not a request about a behaviour.
    "criticism": (
        r"\byou (?:always|never|constantly|just never|just always)\b",
        r"\byou(?:'re| are) (?:so |always |such an? |just |really )?(?:selfish|lazy|useless|careless|inconsiderate|"
        r"irresponsible|thoughtless|self-centered|self-centred|unreliable|impossible|the problem|hopeless|"
        r"childish|immature|controlling|cold|clueless|a mess|a slob)\b",
        r"\bwhat(?:'s| is) wrong with you\b",
        r"\bwhy (?:can't|can not|don't|won't) you ever\b",
        r"\byou don't (?:even )?care\b",
        r"\bit's (?:all )?your fault\b",
        r"\bthis is (?:all )?your fault\b",
        r"\byou(?:'re| are) the one who\b",
        r"\byou only (?:ever )?think about yourself\b",
        r"\bthe problem (?:is|with) you\b",
        r"\byour problem is\b",
        r"\bthere you go again\b",
        r"\btypical (?:you|of you)\b",
        r"\bwhy are you (?:always|so)\b",
        r"\byou can't (?:even|ever)\b",
        r"\bevery single time\b",
    ),
    # Superiority: insults, mockery, sarcasm, dismissive eye-rolling words.
    "contempt": (
        r"\b(?:you(?:'re| are)?|that's|that is|you sound|so|such an?|what an?|how) (?:an? )?(?:so |such an? |"
        r"being )?(?:idiot|stupid|pathetic|moron|dumb|ridiculous|loser|joke|hysterical|whiny|childish|"
        r"drama queen|crybaby|baby|clown)\b",
        r"\b(?:grow up|get over it|get a grip|drama queen|cry ?baby|so dramatic|you're overreacting|"
        r"stop whining|quit whining|stop being (?:so )?dramatic)\b",
        r"\boh (?:please|poor you|boo hoo|great|sure|wow|right)\b",
        r"\bboo[- ]?hoo\b",
        r"\bpoor (?:baby|you|thing)\b",
        r"\b(?:eye ?roll|rolls? (?:my|his|her) eyes|\*rolls eyes\*|ugh)\b",
        r"\byeah,? right\b",
        r"\bwhatever you say\b",
        r"^\s*as if\b",
        r"\bcry me a river\b",
        r"\bspare me\b",
        r"\bgive me a break\b",
        r"\bwow,? (?:just )?wow\b",
        r"\bhere we go again\b",
        r"\bnice one,? genius\b",
        r"\bseriously\?{1,}\s*$",
        r"\bare you (?:seriously|kidding|joking)\b",
        r"\bi can't believe (?:i married|i'm with)\b",
        r"\bwho (?:even )?cares\b",
        r"^\s*so what[?!.]*\s*$",
    ),
    # Protecting oneself: denial, counter-attack, excuses, innocent victim.
    "defensiveness": (
        r"\b(?:that's|that is|thats) (?:not|so not|completely not|just not) (?:true|fair|what happened|right)\b",
        r"\bit(?:'s| is|s) not my fault\b",
        r"\bnot my fault\b",
        r"\bi (?:didn't|did not|never) (?:do|say|mean) (?:anything|that)\b",
        r"\bwhat about (?:you|when you|the time you|your)\b",
        r"\bwell,? you (?:always|never|do|did|too|started)\b",
        r"\byou(?:'re| are) one to talk\b",
        r"\blook who's talking\b",
        r"\byou do it too\b",
        r"\bi was (?:only|just) trying\b",
        r"\bdon't blame (?:me|this on me)\b",
        r"\bit wasn't me\b",
        r"\bhow was i supposed to know\b",
        r"\bi had no choice\b",
        r"\bat least i\b",
        r"\bi do (?:plenty|everything|so much|more than)\b",
        r"\byeah,? but you\b",
        r"\bthat's not how it (?:was|happened)\b",
        r"\bi'm not the (?:only )?one\b",
        r"\byou started it\b",
        r"\bwhy is it always me\b",
        r"\bit's not like i\b",
        r"\bnot a big deal\b",
    ),
    # Withdrawing from the conversation.
    "stonewalling": (
        r"^\s*(?:whatever|fine|k|ok\.?|okay\.?|sure|forget it|never ?mind|nvm|leave it|drop it|yeah yeah)"
        r"[.!\s]*$",
        r"\bwhatever\b",
        r"\bi'm done\b",
        r"\bi am done\b",
        r"\bi'm (?:not|so not) (?:doing|having) this\b",
        r"\bi (?:don't|do not) want to talk about (?:it|this)\b",
        r"\bi'm not talking about (?:it|this)\b",
        r"\bleave me alone\b",
        r"\bforget (?:it|i said anything)\b",
        r"\bdrop it\b",
        r"\bnever ?mind\b",
        r"\bcan we not\b",
        r"\bi (?:don't|do not) care(?: anymore)?[.!]*$",
        r"\bi don't care what you\b",
        r"\bdo what(?:ever)? you want\b",
        r"\bi'm going to bed\b",
        r"\bend of (?:story|discussion)\b",
        r"\bthis conversation is over\b",
        r"\bshut up\b",
        r"^\s*not now[.!]*$",
        r"\bi have nothing (?:more )?to say\b",
        r"\bi can't deal with this\b",
        r"^\s*\.{3}\s*$",
        r"^\s*(?:mhm|uh huh|meh)[.!\s]*$",
    ),
    # Speaking for oneself about a feeling or need, rather than about the other person.
    "i_statement": (
        r"\bi (?:feel|felt|am feeling|was feeling|get|got|get really|start to feel) (?:so |really |a bit |kind of |"
        r"pretty |very |quite |a little )?(?:hurt|sad|lonely|alone|scared|afraid|anxious|worried|nervous|angry|"
        r"frustrated|upset|overwhelmed|stressed|tired|exhausted|ignored|invisible|unappreciated|disappointed|"
        r"embarrassed|ashamed|jealous|insecure|left out|confused|torn|stuck|unheard|unimportant|rejected|"
        r"neglected|taken for granted|like|that)\b",
        r"\bi need\b",
        r"\bi'd (?:like|love|really like)\b",
        r"\bi would (?:like|love|really like)\b",
        r"\bwhat i need\b",
        r"\bit would (?:mean a lot|help me)\b",
        r"\bi(?:'m| am) feeling\b",
        r"\bi(?:'m| am) (?:hurt|sad|scared|worried|upset|lonely|frustrated|overwhelmed|anxious|nervous|afraid)\b",
        r"\bfor me,? it\b",
        r"\bi(?:'ve| have) been feeling\b",
        r"\bwhen .{1,60}, i feel\b",
    ),
    # Saying the other person's feeling makes sense.
    "validation": tuple(
        r"\b" + re.escape(p).replace(r"\ ", r"\s+") + r"\b"
        for p in (
            "makes sense",
            "make sense",
            "understandable",
            "no wonder",
            "anyone would",
            "anybody would",
            "of course you feel",
            "of course you're",
            "it's okay to feel",
            "it's ok to feel",
            "it's fine to feel",
            "natural to feel",
            "you have every right",
            "makes total sense",
            "makes complete sense",
            "makes so much sense",
            "makes perfect sense",
            "that's valid",
            "it's valid",
            "fair enough",
            "i get why",
            "i can see why",
            "i understand why",
            "i'd feel the same",
            "i would feel the same",
            "you're not wrong",
            "you're not crazy",
            "you are not crazy",
            "your feelings are",
            "you're right to",
            "i'd be upset too",
            "i'd be hurt too",
            "i would be hurt too",
            "i would be upset too",
            "i can understand",
            "i see why",
            "that must have been",
            "that must be",
            "that sounds really hard",
            "that sounds hard",
            "that's really hard",
            "of course it hurt",
            "i'd have felt",
        )
    ),
    # Noticing and thanking, fondness and admiration.
    "appreciation": (
        r"\bthank(?:s| you)\b",
        r"\bi (?:really |truly |so )?appreciate\b",
        r"\bi(?:'m| am) (?:so |really )?(?:grateful|thankful|proud of you|lucky)\b",
        r"\bi love (?:it |that |how |the way |you)\b",
        r"\bi admire\b",
        r"\byou(?:'re| are) (?:so |really |such )?(?:good|great|amazing|wonderful|kind|thoughtful|sweet|"
        r"a great|the best|brilliant|patient)\b",
        r"\bi noticed (?:you|that you|how)\b",
        r"\bmeans (?:a lot|so much|the world)\b",
        r"\bthat was (?:really |so )?(?:kind|sweet|thoughtful|lovely)\b",
        r"\bi value\b",
        r"\bgood job\b|\bwell done\b",
    ),
    # Apology, owning a part, de-escalating, reaching back.
    "repair": (
        r"\bi(?:'m| am) (?:so |really |truly |very )?sorry\b",
        r"^\s*(?:so |really )?sorry\b",
        r"\bi apologi[sz]e\b",
        r"\bmy (?:bad|fault|mistake)\b",
        r"\bi was wrong\b",
        r"\bi (?:messed|screwed) up\b",
        r"\bthat was (?:on me|my fault|unfair of me|not fair of me)\b",
        r"\bi (?:take|own) (?:responsibility|that)\b",
        r"\bmy part in\b",
        r"\bi see my part\b",
        r"\bcan we (?:start over|try (?:that )?again|take a (?:break|breather|minute)|slow down|pause|"
        r"talk about this|try again)\b",
        r"\blet(?:'s| us) (?:start over|take a (?:break|breather|minute)|slow down|try (?:that )?again|calm down|"
        r"pause|figure (?:this|it) out together)\b",
        r"\bi (?:don't|do not) want to fight\b",
        r"\bwe(?:'re| are) on the same (?:team|side)\b",
        r"\blet me try (?:that |this )?again\b",
        r"\bi need a (?:break|minute|few minutes)\b.*\b(?:come back|talk later|then we)\b",
        r"\bcan i (?:try|say that) again\b",
        r"\bthat came out wrong\b",
        r"\bi didn't mean (?:to|it like that)\b",
        r"\bforgive me\b",
        r"\bi want to understand\b",
    ),
}
_COMPILED_FLAGS = {name: tuple(re.compile(p) for p in patterns) for name, patterns in _FLAG_PATTERNS.items()}

# Phrases that turn a horseman pattern into its opposite ("I don't want to fight" is not stonewalling).
_NEGATED_HORSEMEN = {
    "stonewalling": (
        re.compile(r"\bi don't want to (?:fight|stop talking|shut down|shut you out)\b"),
        re.compile(r"\bdon't (?:want to )?leave it\b"),
        re.compile(r"\bi'm not going to shut down\b"),
        re.compile(r"\bwhatever (?:you need|it takes|helps|happens, i)\b"),
    ),
    "criticism": (re.compile(r"\bi (?:know|feel like|worry) (?:i|that i)\b.*\bnever\b"),),
}


def utterance_flags(text: str) -> list[str]:
    """The horsemen and antidotes present in one utterance, in FLAG_NAMES order."""
    norm = normalise(text)
    found: list[str] = []
    for name in FLAG_NAMES:
        if any(p.search(norm) for p in _COMPILED_FLAGS[name]):
            if any(neg.search(norm) for neg in _NEGATED_HORSEMEN.get(name, ())):
                continue
            found.append(name)
    # An apology that takes itself back ("sorry, but you...") is a counter-attack, not a repair.
    if re.search(r"\bsorry,? (?:but|if)\b", norm):
        if "repair" in found:
            found.remove("repair")
        if "defensiveness" not in found:
            found.append("defensiveness")
    # Criticism spoken as a feeling ("I feel like you never...") is still criticism: keep it, drop the i_statement.
    if "criticism" in found and "i_statement" in found and re.search(r"\bi feel (?:like|that) you\b", norm):
        found.remove("i_statement")
    return [name for name in FLAG_NAMES if name in found]
