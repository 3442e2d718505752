"""The built-in reflector: a deterministic complex reflection when no chat model is installed (or the model fails).

What the partner said goes through four steps:
1. feelings: named ones ("I'm exhausted") and implied ones ("nobody notices" -> unseen, unappreciated), from
   companion.listen.lexicon, with the needs underneath them (appreciation, time together, trust...);
2. content: the sentence that carries the most, trimmed to one clause, turned around to the listener's voice
   (I<->you, me<->you, my<->your, I'm<->you're, was<->were with the right verb) so the person can say it back;
3. softening: absolutes become experience ("you never make time" -> "it's felt like I hardly ever make time");
4. phrasing: three reflections with different stems, each ending with a check ("Did I get that right?").

No advice, no "you should", no diagnosis: every sentence is checked against lexicon.ADVICE_MARKERS before it leaves.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from companion.listen import lexicon
from companion.safety.screen import normalise
from companion.text import straighten_quotes, strip_terminal_codes

# The reflector reads at most this much; callers cap input length, this only keeps odd input from costing time.
ANALYSIS_CHARS = 4000
MAX_CONTENT_WORDS = 22


@dataclass(frozen=True)
class BuiltinReflection:
    reflection: str
    alternatives: list[str]
    feelings: list[str]
    needs: list[str]
    tip: str | None = None  # one guidance tip, named apart from the reflection so the person can leave it out
    content: str | None = field(
        default=None, compare=False
    )  # the turned-around clause, for callers that show it


# ---- cleaning --------------------------------------------------------------------------------------

_TYPED_SHORT = {
    "u": "you",
    "ur": "your",
    "youre": "you're",
    "im": "I'm",
    "ive": "I've",
    "dont": "don't",
    "doesnt": "doesn't",
    "didnt": "didn't",
    "cant": "can't",
    "wont": "won't",
    "isnt": "isn't",
    "arent": "aren't",
    "wasnt": "wasn't",
    "werent": "weren't",
    "havent": "haven't",
    "wouldnt": "wouldn't",
    "couldnt": "couldn't",
    "shouldnt": "shouldn't",
    "id": "I'd",
    "ill": "I'll",
    "youve": "you've",
    "youll": "you'll",
    "youd": "you'd",
    "i": "I",
    "thats": "that's",
}


def clean_statement(text: str) -> str:
    """Plain, single-spaced text without escapes or control characters; never raises."""
    if isinstance(text, bytes | bytearray):
        text = bytes(text).decode("utf-8", errors="replace")
    text = str(text or "")[: ANALYSIS_CHARS * 2]
    text = unicodedata.normalize("NFC", text)
    text = strip_terminal_codes(text)
    text = straighten_quotes(text)
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) > ANALYSIS_CHARS:
        cut = text[:ANALYSIS_CHARS]
        end = max(cut.rfind(". "), cut.rfind("! "), cut.rfind("? "))
        text = cut[: end + 1] if end > ANALYSIS_CHARS // 2 else cut
    return text


def _has_latin_words(text: str) -> bool:
    return len(re.findall(r"[A-Za-z]{2,}", text)) >= 2


def split_sentences(text: str) -> list[str]:
    parts = re.split(r"(?<=[.!?])\s+|\s*[\n;]\s*|\s+-{1,2}\s+|\s+\u2014\s+", text)
    return [p.strip() for p in parts if p and re.search(r"[A-Za-z]", p)]


# ---- turning the words around ---------------------------------------------------------------------------

_SWAP = {
    "me": "you",
    "my": "your",
    "mine": "yours",
    "myself": "yourself",
    "your": "my",
    "yours": "mine",
    "yourself": "myself",
    "i'm": "you're",
    "i've": "you've",
    "i'd": "you'd",
    "i'll": "you'll",
    "you're": "I'm",
    "you've": "I've",
    "you'd": "I'd",
    "you'll": "I'll",
    "i": "you",
}
_CLAUSE_START = {
    "and",
    "but",
    "or",
    "so",
    "because",
    "when",
    "whenever",
    "if",
    "that",
    "since",
    "until",
    "while",
    "though",
    "although",
    "how",
    "what",
    "why",
    "where",
    "who",
    "like",
    "as",
    "then",
    "cause",
    "cuz",
    "once",
    "unless",
    "do",
    "does",
    "did",
    "are",
    "were",
    "can",
    "will",
    "would",
    "could",
    "should",
    "have",
    "has",
    "had",
    "don't",
    "didn't",
    "won't",
    "can't",
    "aren't",
    "weren't",
    "wouldn't",
    "couldn't",
    "before",
    "after",
    "even",
    "yet",
}
_VERB_AFTER_SUBJECT = {
    "never",
    "always",
    "just",
    "really",
    "even",
    "don't",
    "do",
    "did",
    "didn't",
    "does",
    "doesn't",
    "can",
    "can't",
    "could",
    "couldn't",
    "will",
    "won't",
    "would",
    "wouldn't",
    "should",
    "shouldn't",
    "have",
    "haven't",
    "had",
    "hadn't",
    "are",
    "aren't",
    "were",
    "weren't",
    "was",
    "get",
    "got",
    "make",
    "made",
    "keep",
    "kept",
    "say",
    "said",
    "think",
    "thought",
    "know",
    "knew",
    "want",
    "wanted",
    "need",
    "needed",
    "care",
    "cared",
    "love",
    "loved",
    "let",
    "left",
    "leave",
    "go",
    "went",
    "come",
    "came",
    "take",
    "took",
    "look",
    "looked",
    "seem",
    "seemed",
    "act",
    "acted",
    "treat",
    "treated",
    "talk",
    "talked",
    "listen",
    "listened",
    "hear",
    "heard",
    "see",
    "saw",
    "feel",
    "felt",
    "tell",
    "told",
    "ask",
    "asked",
    "forget",
    "forgot",
    "remember",
    "spend",
    "spent",
    "work",
    "worked",
    "try",
    "tried",
    "ignore",
    "ignored",
    "interrupt",
    "put",
    "only",
    "still",
    "also",
    "probably",
    "constantly",
    "barely",
    "hardly",
    "rarely",
    "ever",
    "clearly",
    "obviously",
    "expect",
    "mean",
    "meant",
    "like",
    "liked",
    "used",
    "promised",
    "decided",
    "chose",
    "choose",
    "start",
    "started",
    "stop",
    "stopped",
    "call",
    "called",
    "text",
    "texted",
    "help",
    "helped",
    "yell",
    "yelled",
    "blame",
    "blamed",
    "lie",
    "lied",
    "cheat",
    "cheated",
    "give",
    "gave",
    "show",
    "showed",
    "walk",
    "walked",
    "pick",
    "prefer",
    "hate",
    "hated",
    "miss",
    "missed",
    "belittle",
    "criticize",
    "criticise",
    "judge",
    "judged",
    "deserve",
    "already",
    "sometimes",
    "often",
    "simply",
    "totally",
    "completely",
    "honestly",
    "literally",
    "wanna",
    "gotta",
    "gonna",
    "may",
    "might",
    "must",
    "shall",
    "understand",
    "understood",
    "notice",
    "noticed",
    "pay",
    "paid",
    "buy",
    "bought",
    "run",
    "ran",
    "sit",
    "sat",
    "stay",
    "stayed",
    "play",
    "played",
    "watch",
    "watched",
    "sleep",
    "slept",
    "eat",
    "ate",
    "drink",
    "drank",
}
_BE_FLIP = {
    "am": "are",
    "was": "were",
    "are": "am",
    "were": "was",
    "wasn't": "weren't",
    "weren't": "wasn't",
    "aren't": "aren't",
}
_TOKEN = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?|[^A-Za-z\s]+|\s+")


def flip_perspective(text: str) -> str:
    """The partner's words in the voice of the person answering them: I<->you, my<->your, am/was agreement."""
    tokens = _TOKEN.findall(text)
    words = [i for i, t in enumerate(tokens) if re.match(r"[A-Za-z]", t)]
    lowered = {i: _TYPED_SHORT.get(tokens[i].lower(), tokens[i]).lower() for i in words}
    out = {i: tokens[i] for i in range(len(tokens))}
    for pos, i in enumerate(words):
        word = lowered[i]
        prev = lowered[words[pos - 1]] if pos > 0 else None
        nxt = lowered[words[pos + 1]] if pos + 1 < len(words) else None
        # Punctuation between words starts a new clause ("..., you").
        gap_before = "".join(tokens[words[pos - 1] + 1 : i]) if pos > 0 else ""
        clause_start = prev is None or prev in _CLAUSE_START or bool(re.search(r"[,:;.!?\"(]", gap_before))
        if word == "you" and prev in ("thank", "bless"):
            continue  # "thank you" is a phrase, not a person
        if word == "you":
            subject = (
                nxt in _VERB_AFTER_SUBJECT
                or (nxt is not None and nxt.endswith("ed"))
                or (clause_start and nxt is not None and prev not in {"to", "for", "with", "at", "about"})
            )
            out[i] = "I" if subject else "me"
            if subject and nxt in _BE_FLIP:
                out[words[pos + 1]] = _BE_FLIP[nxt]
            if subject and prev in {"are", "were", "aren't", "weren't"}:
                out[words[pos - 1]] = {"are": "am", "were": "was", "aren't": "aren't", "weren't": "wasn't"}[
                    prev
                ]
        elif word == "i":
            out[i] = "you"
            if nxt in ("am", "was", "wasn't"):
                out[words[pos + 1]] = _BE_FLIP[nxt]
            if prev in ("am", "was", "wasn't"):
                out[words[pos - 1]] = _BE_FLIP[prev]
        elif word in _SWAP:
            out[i] = _SWAP[word]
        elif tokens[i].lower() in _TYPED_SHORT and tokens[i].lower() != "i":
            expanded = _TYPED_SHORT[tokens[i].lower()].lower()
            out[i] = _SWAP.get(expanded, expanded)
    for i in words:
        # Keep a capital where the partner had one ("Are you" -> "Am I"); "I" -> "you" stays lower-case.
        if (
            out[i] != tokens[i]
            and tokens[i][0].isupper()
            and not re.match(r"I(?:'|$)", tokens[i])
            and out[i] != "I"
        ):
            out[i] = out[i][0].upper() + out[i][1:]
    flipped = "".join(out[i] for i in range(len(tokens)))
    flipped = re.sub(r"\bI and you\b", "you and I", flipped)
    flipped = re.sub(r"\bme and you\b", "you and me", flipped)
    # "i" -> "you" at a clause start and "you" -> "I" anywhere keep their case right.
    flipped = re.sub(r"\bi\b", "I", flipped)
    return flipped


# ---- softening absolutes ---------------------------------------------------------------------------------

_SUBJECTS = {"i", "you", "he", "she", "we", "they", "it"}
_AUX = {
    "am",
    "are",
    "is",
    "was",
    "were",
    "i'm",
    "you're",
    "he's",
    "she's",
    "we're",
    "they're",
    "it's",
    "have",
    "has",
    "had",
    "i've",
    "you've",
    "would",
    "will",
    "can",
    "could",
    "do",
    "does",
    "did",
    "i'd",
    "you'd",
}
_DOUBLE_FINAL = {
    "get",
    "put",
    "run",
    "sit",
    "stop",
    "shop",
    "plan",
    "forget",
    "hit",
    "cut",
    "let",
    "set",
    "begin",
    "drop",
    "chat",
    "nag",
    "hug",
    "beg",
    "snap",
    "tap",
    "drag",
    "slam",
    "skip",
    "swim",
    "win",
    "quit",
}
_ABSOLUTES = re.compile(
    r"\b(?:never|always|every ?time|every single time|all the time|constantly|nobody|no one|"
    r"nothing|everything|everyone|everybody|forever|any ?more|ever)\b",
    re.I,
)


def gerund(verb: str) -> str:
    """forget -> forgetting, have -> having, take -> taking, forgets -> forgetting."""
    v = verb.lower()
    irregular = {
        "is": "being",
        "be": "being",
        "has": "having",
        "have": "having",
        "does": "doing",
        "do": "doing",
        "goes": "going",
        "go": "going",
        "lie": "lying",
        "lies": "lying",
        "die": "dying",
        "see": "seeing",
    }
    if v in irregular:
        return irregular[v]
    if v.endswith("ies") and len(v) > 4:
        v = v[:-3] + "y"
    elif re.search(r"(?:sh|ch|x|ss|zz)es$", v):
        v = v[:-2]
    elif v.endswith("s") and not v.endswith("ss"):
        v = v[:-1]
    if v in _DOUBLE_FINAL:
        return v + v[-1] + "ing"
    if v.endswith("ie"):
        return v[:-2] + "ying"
    if v.endswith("e") and not v.endswith(("ee", "ye", "oe")):
        return v[:-1] + "ing"
    return v + "ing"


_STRONG_ABSOLUTE = re.compile(
    r"\b(?:never|always|every ?time|every single time|all the time|constantly|nobody|"
    r"no one|nothing|everything|forever)\b",
    re.I,
)
_BOUNDARY = re.compile(r"(?:,\s+|\s+(?:but|and|because|when|so|while|since)\s+)", re.I)


def soften(clause: str) -> tuple[str, bool]:
    """Absolutes turned into experience, framed with "it's felt like" where the absolute was said; returns the
    clause and whether a frame was added."""
    first = _STRONG_ABSOLUTE.search(clause)
    absolute = bool(first)
    text = clause
    if first:
        # Frame only the part of the sentence that holds the absolute: "..., but it's felt like I'm so often working".
        cut = 0
        for boundary in _BOUNDARY.finditer(clause[: first.start()]):
            cut = boundary.end()
        has_subject = re.match(
            r"(?:I|you|he|she|we|they|it|my|your|his|her|our|their|the|this|that|nobody|no one|"
            r"everyone|everybody|everything|nothing|people|things|[A-Z]\w+)\b",
            clause[cut:],
        )
        if cut and has_subject and not re.match(r"(?:every|each|whenever)", clause[cut:], re.I):
            text = clause[:cut] + "it's felt like " + clause[cut:]
        else:
            text = "it's felt like " + clause
    text = re.sub(r"\bnever (?:once|ever)\b", "hardly ever", text, flags=re.I)
    text = re.sub(r"\bnever\b", "hardly ever", text, flags=re.I)
    text = re.sub(
        r"^(?:it's felt like )?(?:every ?time|every single time|each time|whenever)\b",
        "so often when",
        text,
        flags=re.I,
    )
    text = re.sub(r"\b(?:every ?time|every single time)\b", "so often", text, flags=re.I)
    text = re.sub(r"\ball the time\b", "so much of the time", text, flags=re.I)
    text = re.sub(r"\bconstantly\b", "so often", text, flags=re.I)

    def always(match: re.Match) -> str:
        before, verb = match.group(1), match.group(2)
        last = before.split()[-1].lower() if before.split() else ""
        if last in _SUBJECTS or last in {"who", "that"} and verb.lower() not in _AUX:
            keep = "keeps" if last in {"he", "she", "it", "who", "that"} else "keep"
            return f"{before} {keep} {gerund(verb)}"
        return f"{before} so often {verb}"

    text = re.sub(r"(\S+) always (\w+)", always, text, flags=re.I)
    text = re.sub(r"\balways\b", "so often", text, flags=re.I)
    text = re.sub(r"\bhardly ever (?:do|does|did) not\b", "hardly ever", text)
    return text, absolute


# ---- reading the feelings ---------------------------------------------------------------------------------

_INTENSIFIERS = (
    r"(?:(?:so|really|very|just|completely|totally|kind of|kinda|a bit|a little|pretty|super|"
    r"incredibly|extremely|too|quite|rather|absolutely|utterly|getting|becoming|starting to feel|"
    r"feeling|more and more|always|constantly|sometimes|often|honestly|truly|deeply|not) )*"
)
_FEELING_ALT = "|".join(sorted((re.escape(w) for w in lexicon.FEELING_WORDS), key=len, reverse=True))
_EXPLICIT = re.compile(
    r"\b(?:i am|i feel|i felt|i have been|i had been|i was|i get|i got|i keep feeling|makes me|made me|making me|"
    r"make me|leaves me|left me|leaving me|i end up|i am left|i have felt|i have started feeling|i would be)"
    r" " + _INTENSIFIERS + r"(" + _FEELING_ALT + r")\b"
)
_NOT_FEELING = {
    "happy": "unhappy",
    "appreciated": "unappreciated",
    "loved": "unloved",
    "safe": "unsafe",
    "connected": "disconnected",
    "good enough": "not good enough",
    "close to you": "distant",
    "heard": "unheard",
    "calm": "on edge",
    "content": "unsettled",
    "glad": "unhappy",
}
_TIRED_OF = re.compile(
    r"\b(?:i am|i get|i have been|i am getting) (?:so |really |just )?(?:tired|sick|fed up) of\b"
)
_VULNERABLE = (
    "hurt",
    "lonely",
    "scared",
    "afraid",
    "unimportant",
    "unseen",
    "insecure",
    "rejected",
    "alone",
    "unloved",
    "unwanted",
    "sad",
    "uncared for",
    "alone with it",
    "let down",
    "worried",
    "anxious",
    "discouraged",
    "misunderstood",
    "unheard",
    "unappreciated",
    "disconnected",
)


@dataclass
class _Reading:
    feelings: list[str]
    needs: list[str]
    gists: list[str]
    explicit_spans: list[tuple[int, int]]


_COMPLEMENT = re.compile(
    r"\b(?:I'm|I am|I feel|I felt|I was|I've been|I have been|I get|I got|makes me|made me)\s+(?:(?:so|really|very|just|"
    r"kind of|a bit|a little|pretty|super|too|quite|absolutely|getting|feeling|more and more)\s+)*"
    r"("
    + _FEELING_ALT
    + r")(?:\s+to death)?\s+((?:about|of|that|because|when|with|by|for|to|at|since|after)\b[^.!?;]*)",
    re.I,
)


def feeling_complements(text: str) -> dict[str, str]:
    """What a named feeling is about, in the listener's voice: "I'm scared of needles" -> {"scared": "of needles"}."""
    found: dict[str, str] = {}
    for match in _COMPLEMENT.finditer(text):
        feeling = lexicon.FEELING_WORDS.get(match.group(1).lower())
        complement = re.split(r",|\s+(?:but|and then|so)\s+", match.group(2))[0].strip()
        if feeling and feeling not in found and 1 <= len(complement.split()) <= 14:
            found[feeling] = _soften_modals(flip_perspective(complement))
    return found


# One compiled pattern per cue (its alternatives joined): the earliest match is where the cue first shows.
_CUE_PATTERNS = [(cue, re.compile(r"\b(?:" + "|".join(cue.patterns) + r")(?!\w)")) for cue in lexicon.CUES]


def read_feelings(text: str) -> _Reading:
    """Named and implied feelings, the needs under them and any reframed gist, in order of appearance."""
    norm = normalise(text)
    found: list[tuple[int, str]] = []
    spans = []
    for match in _EXPLICIT.finditer(norm):
        word = match.group(1)
        feeling = lexicon.FEELING_WORDS[word]
        if re.search(r"\bnot (?:\w+ )?" + re.escape(word) + r"\b", match.group(0)):
            feeling = _NOT_FEELING.get(word)
            if feeling is None:
                continue
        if word in ("tired", "sick") and re.match(r" of\b", norm[match.end() :]):
            feeling = "fed up"
        # "I was happy, but..." names a feeling that has passed.
        if match.group(0).startswith(("i was", "i had been", "i used to")) and re.search(
            r"\b(?:but|any ?more|used to|no longer)\b", norm[match.end() : match.end() + 80]
        ):
            continue
        found.append((match.start(), feeling))
        spans.append((match.start(), match.end()))
    for match in _TIRED_OF.finditer(norm):
        found.append((match.start(), "fed up"))
    needs_found: list[tuple[int, str]] = []
    gists: list[tuple[int, str]] = []
    # "why don't you listen" reads like "you do not listen" for the cues.
    norm = re.sub(r"\b(?:why )?(do|does|did|will|would|can|could) not (you|he|she)\b", r"\2 \1 not", norm)
    for cue, pattern in _CUE_PATTERNS:
        match = pattern.search(norm)
        if match is None:
            continue
        first = match.start()
        for offset, feeling in enumerate(cue.feelings):
            found.append((first + offset, feeling))
        for offset, need in enumerate(cue.needs):
            needs_found.append((first + offset, need))
        if cue.gist:
            gists.append((first, cue.gist))
    explicit_positions = {pos for pos, _ in found if any(s == pos for s, _ in spans)}
    for pos, feeling in sorted(found):
        if pos in explicit_positions:
            for need in lexicon.FEELING_NEEDS.get(feeling, ()):
                needs_found.append((pos + 0.5, need))
    feelings = _dedupe(
        f for _, f in sorted(found, key=lambda item: (item[0] not in explicit_positions, item[0]))
    )
    needs = _dedupe(n for _, n in sorted(needs_found))
    return _Reading(
        feelings[:4], [n for n in needs if n in lexicon.NEEDS][:3], [g for _, g in sorted(gists)], spans
    )


def _dedupe(items) -> list[str]:
    seen: list[str] = []
    for item in items:
        if item and item not in seen:
            seen.append(item)
    return seen


# ---- choosing and shaping the content ---------------------------------------------------------------------

_LEAD_INS = re.compile(
    r"^(?:(?:honestly|look|listen|well|so|and|but|because|since|cause|cuz|though|although|however|um+|uh+|ugh+|"
    r"seriously|you know what|i mean|the thing is|it is just that|it's just that|anyway|whatever),?\s+|"
    r"(?:ok(?:ay)?|yeah|yes|no|oh|god|just|like|sorry|babe|honey|dude|man|of course|sure|right|fine|true|"
    r"maybe|basically|i guess),\s+)+",
    re.I,
)
_THOUGHT_FRAME = re.compile(
    r"^(?:i (?:just |really |honestly |sometimes |kind of |kinda )?(?:feel|felt|get the feeling|have the feeling|"
    r"am starting to feel|i'm starting to feel)(?: like| as if| that)?|i'm starting to feel(?: like)?|"
    r"it (?:feels|seems|felt|seemed) (?:like|as if|that)?|it is like|it's like)\s+",
    re.I,
)


def _score_sentence(sentence: str) -> float:
    norm = normalise(sentence)
    score = 0.0
    score += 2 * sum(1 for _cue, pattern in _CUE_PATTERNS if pattern.search(norm))
    score += 1.0 if re.search(r"\byou\b|\byour\b", norm) else 0
    score += 0.5 if _ABSOLUTES.search(norm) else 0
    score += 0.5 if _EXPLICIT.search(norm) else 0
    return score


def _clauses(sentence: str) -> list[str]:
    parts = re.split(r",\s+|\s+(?:but|because|and so|so that|and then|and now|and)\s+", sentence)
    return [p.strip(" ,") for p in parts if p and len(p.split()) >= 3]


def _question_to_statement(clause: str) -> tuple[str, bool]:
    """'Why don't you ever listen?' -> ('you don't ever listen', True): a complaint framed as a question."""
    m = re.match(
        r"^why (?:do|does|did|can|can't|won't|don't|doesn't|didn't|are|aren't|is|isn't|would|wouldn't)\s+"
        r"(you|I|he|she|they|we)\s+(.*)$",
        clause,
        re.I,
    )
    if m:
        aux = clause.split()[1].lower()
        rest = m.group(2)
        subject = m.group(1)
        if aux in ("do", "does", "did"):
            return f"{subject} {rest}", True
        return f"{subject} {aux} {rest}", True
    # Written in the partner's voice: the caller turns it around afterwards.
    m = re.match(r"^(?:do|does|did) (you|he|she|they) (?:even |still |really )?(.*)$", clause, re.I)
    if m:
        return f"I'm not sure {m.group(1)} even {m.group(2)}", False
    m = re.match(r"^(?:is|are|was|were) (you|he|she|they|it) (?:even |really )?(.*)$", clause, re.I)
    if m:
        be = {"you": "are", "he": "is", "she": "is", "they": "are", "it": "is"}[m.group(1).lower()]
        return f"I'm not sure {m.group(1)} {be} {m.group(2)}", False
    return clause, False


def _imperative_to_statement(clause: str) -> str:
    """'Stop checking my phone' -> 'I want you to stop checking my phone' (partner's voice, turned around later)."""
    m = re.match(r"^(?:please |just )?(stop|quit) (\w+ing\b.*)$", clause, re.I)
    if m:
        return f"I want you to stop {m.group(2)}"
    m = re.match(r"^(?:please |just )?(?:don't|do not) (\w+.*)$", clause, re.I)
    if m:
        return f"I don't want you to {m.group(1)}"
    m = re.match(
        r"^(?:please |just )?(?:leave me alone|give me (?:some )?(?:space|room|time))(.*)$", clause, re.I
    )
    if m:
        return "I'd like some space from you" + m.group(1)
    if re.match(
        r"^(?:please |just )?(?:do|go|leave|let|tell|give|call|come|listen|look|help|talk|get|take|try|"
        r"think|stay|put|keep|make)\b",
        clause,
        re.I,
    ):
        return "I'm telling you to " + re.sub(
            r"^(?:please |just )", "", clause[0].lower() + clause[1:], flags=re.I
        )
    return clause


_TWO_SIDED = re.compile(
    r"^(?:i know|i realize|i realise|i understand|i get that|i want to|i would like to|i'd like to|i wish i could|"
    r"i should|i need to|i have to|i'm trying to|i am trying to|i try to)\b(.*?),?\s+but\s+(.+)$",
    re.I,
)


def _two_sided(clause: str) -> str | None:
    """'I know I should quit, but it calms me down' -> 'part of me knows I should quit, and at the same time...'."""
    m = _TWO_SIDED.match(clause)
    if not m or re.match(r"(?:you|you're|you've|your)\b", m.group(2), re.I):
        return None  # "..., but you're always working" is a wish blocked by the other person, not ambivalence
    opener = clause[: m.start(1)].strip().lower()
    first = m.group(1).strip(" ,")
    second = m.group(2).strip(" ,")
    if re.match(
        r"(?:don't|do not|can't|cannot|can not|am|have|feel|need|want|will|won't|never|get|keep|find|lose|"
        r"just|really|still|also|hate|love|know)\b",
        second,
        re.I,
    ):
        second = "I " + second  # "..., but don't know how" keeps its speaker
    if len(first.split()) < 1 or len(second.split()) < 2:
        return None
    verb = {
        "i know": "knows",
        "i realize": "realizes",
        "i realise": "realises",
        "i understand": "understands",
        "i get that": "gets that",
    }.get(opener)
    if verb:
        return f"part of me {verb} {first}, and at the same time {second}"
    wanting = opener.replace("i ", "", 1)
    return f"part of me {_third_person(wanting)} {first}, and at the same time {second}"


def _third_person(phrase: str) -> str:
    words = phrase.split()
    head = {
        "want": "wants",
        "would": "would",
        "'d": "would",
        "wish": "wishes",
        "should": "feels it should",
        "need": "feels it needs",
        "have": "feels it has",
        "am": "is",
        "try": "tries",
        "i'm": "is",
    }
    if words and words[0] in head:
        words[0] = head[words[0]]
    return " ".join(words)


def pick_content(statement: str) -> tuple[str | None, bool]:
    """The clause that carries the most, in the listener's voice and softened; and whether it needs a frame."""
    sentences = split_sentences(statement)
    if not sentences:
        return None, False
    ranked = sorted(enumerate(sentences), key=lambda item: (-_score_sentence(item[1]), item[0]))
    for _, sentence in ranked:
        clause = _shape_clause(sentence)
        if clause:
            return clause
    return None, False


def _shape_clause(sentence: str) -> tuple[str, bool] | None:
    text = sentence.strip().strip("\"'")
    text = re.sub(r"[.!?…]+$", "", text).strip()
    clauses = _clauses(text) or [text]
    # Drop clauses that only name a feeling ("I'm exhausted"): the feeling is reflected separately.
    content_clauses = [c for c in clauses if not _only_feeling(c)]
    if not content_clauses:
        return None
    best = max(content_clauses, key=lambda c: (_score_sentence(c), -abs(len(c.split()) - 10)))
    if len(text.split()) <= MAX_CONTENT_WORDS and len(content_clauses) == len(clauses) > 1:
        # A short sentence reads better whole than cut in pieces.
        best = text
    best = _LEAD_INS.sub("", best).strip()
    two_sided = _two_sided(_LEAD_INS.sub("", text).strip())
    if two_sided:
        best = two_sided
    framed = False
    if _THOUGHT_FRAME.match(best):
        best = _THOUGHT_FRAME.sub("", best, count=1).strip()
        framed = True
    best, question_frame = _question_to_statement(best)
    framed = framed or question_frame
    best = _imperative_to_statement(best)
    words = best.split()
    limit = MAX_CONTENT_WORDS + (10 if two_sided else 0)
    if len(words) > limit:
        best = " ".join(words[:limit])
        best = re.sub(r"\s+(?:and|but|or|so|because|the|a|an|to|of|with|that|my|your|when|if)$", "", best)
    if len(best.split()) < 2:
        return None
    if not re.search(
        r"\b(?:every|each|when|whenever|if|because|since|after|before|while|as soon as|once|until)\b",
        best.split(",")[0],
        re.I,
    ):
        best = re.sub(r", (?=(?:I|I'm|you|you're|we|we're|he|she|they|it)\b)", " and ", best)
    first_word = best.split()[0] if best.split() else ""
    if first_word.lower() in _FUNCTION_WORDS:
        best = best[0].lower() + best[1:]
    flipped = flip_perspective(best)
    flipped = _soften_modals(flipped)
    softened, _absolute = soften(flipped)  # soften() places its own frame around an absolute
    if two_sided:
        softened = softened.replace("it's felt like ", "")  # both sides are already held tentatively
    framed = framed and "it's felt like" not in softened
    softened = (
        softened[0].lower() + softened[1:]
        if not softened.startswith("I ") and softened[:2] != "I'"
        else softened
    )
    return softened, framed


_FUNCTION_WORDS = {
    "he",
    "she",
    "they",
    "we",
    "it",
    "you",
    "your",
    "my",
    "the",
    "a",
    "an",
    "every",
    "each",
    "when",
    "if",
    "that",
    "this",
    "there",
    "nobody",
    "no",
    "nothing",
    "everyone",
    "everybody",
    "someone",
    "all",
    "our",
    "his",
    "her",
    "their",
    "so",
    "and",
    "but",
    "because",
    "since",
    "after",
    "before",
    "while",
    "whenever",
    "why",
    "what",
    "how",
    "part",
    "it's",
    "that's",
    "there's",
    "he's",
    "she's",
    "we're",
    "they're",
    "you're",
    "you've",
    "we've",
    "work",
    "sometimes",
    "people",
    "one",
    "some",
    "most",
    "life",
    "things",
    "everything",
    "money",
    "sex",
    "being",
    "having",
}


def _only_feeling(clause: str) -> bool:
    norm = normalise(clause).strip(" .!?")
    match = _EXPLICIT.search(norm)
    if not match:
        return False
    rest = (norm[: match.start()] + norm[match.end() :]).strip(" ,.!")
    return len(rest.split()) <= 2 and not re.search(r"\b(?:because|when|that|about|of|with|since)\b", rest)


def _soften_modals(text: str) -> str:
    """Obligations the partner voiced stay theirs, and never read as our advice."""
    text = re.sub(r"\byou should\b", "you're supposed to", text)
    text = re.sub(r"\byou need to\b", "you feel you've got to", text)
    text = re.sub(r"\byou must\b", "you feel you've got to", text)
    text = re.sub(r"\byou ought to\b", "you're supposed to", text)
    text = re.sub(r"\byou have to\b", "you feel you've got to", text)
    text = re.sub(r"\byou shouldn't\b", "you're not supposed to", text)
    text = re.sub(r"\btry (to|and)\b", "make an effort to", text)
    # The partner's labels stay theirs in spirit without us repeating a judgement of anyone.
    text = re.sub(r"\b(?:crazy|insane|nuts)\b", "hard to deal with", text)
    text = re.sub(r"\bdramatic\b", "over the top", text)
    return text


# ---- putting it together ---------------------------------------------------------------------------------


def _join_feelings(feelings: list[str]) -> str:
    """'worried and happy' reads as a contradiction; 'worried and, at the same time, happy' holds both."""
    if len(feelings) == 2 and ((feelings[0] in lexicon.PLEASANT) != (feelings[1] in lexicon.PLEASANT)):
        return f"{feelings[0]} and, at the same time, {feelings[1]}"
    return _join(feelings)


def _join(items: list[str]) -> str:
    items = [i for i in items if i]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _durative(statement: str) -> bool:
    return bool(
        re.search(
            r"\b(?:anymore|any more|lately|always|never|all the time|every|keeps?|kept|for (?:weeks|"
            r"months|years|ages)|since|these days|again|still|constantly)\b",
            statement,
            re.I,
        )
    )


def _frame(content: str, framed: bool) -> str:
    return f"it's felt like {content}" if framed and "it's felt like" not in content else content


def _tip_note(tip) -> str | None:
    """One sentence naming a guidance tip from a search hit (duck-typed: hit.section.heading / .text)."""
    if tip is None:
        return None
    section = getattr(tip, "section", tip)
    heading = str(getattr(section, "heading", "") or "").strip()
    text = str(getattr(section, "text", "") or "").strip()
    first = re.split(r"(?<=[.!?])\s+", re.sub(r"\s+", " ", text))[0] if text else ""
    if len(first) > 220:
        first = first[:217].rsplit(" ", 1)[0] + "..."
    if not heading and not first:
        return None
    if heading and first:
        return f'From the guidance, "{heading}": {first}'
    return f"From the guidance: {heading or first}"


class BuiltinReflector:
    """Deterministic reflective listening, no model needed. Same input, same output."""

    name = "builtin"

    def reflect(self, statement: str, tip=None) -> BuiltinReflection:
        text = clean_statement(statement)
        tip_note = _tip_note(tip)
        if not text or not _has_latin_words(text):
            return self._open_reflection(tip_note)
        reading = read_feelings(text)
        content, framed = pick_content(text)
        feelings, needs = reading.feelings, reading.needs
        about_us = bool(re.search(r"\b(?:you|your|yours|yourself|u|ur|we|us|our)\b", text, re.I))
        # A statement about someone else keeps the listener out of the gist and the needs.
        gists = [g for g in reading.gists if about_us or not re.search(r"\b(?:me|my|I|I'm|us)\b", g)]
        gist = gists[0] if gists else None
        if content and content.lower() == text.lower():
            content = None
        durative = _durative(text)
        feel_verb = "you've been feeling" if durative else "you're feeling"
        checks = list(lexicon.CHECKS)
        need_objs = [lexicon.NEEDS[n] if about_us else lexicon.NEEDS[n].about_others() for n in needs]

        versions: list[str] = []
        # A: feeling + content (the reframed gist, or the turned-around clause) + need.
        two_sided = bool(content and content.startswith("part of you"))
        if gist:
            link = f", like {gist}"
        elif content:
            link = f": {content}" if two_sided else f", because {_frame(content, framed)}"
        else:
            link = ""
        complements = feeling_complements(text)
        lead = feelings[0] if feelings else None
        if lead and lead in complements:
            # "feeling scared of starting insulin" says feeling and content at once; the clause is not repeated.
            named = f"{lead} {complements[lead]}"
            rest = [f for f in feelings[1:2] if f not in complements]
            first = f"It sounds like {feel_verb} {named}" + (f", and {rest[0]} too" if rest else "")
            if content and complements[lead].split()[-1] in content:
                # That clause is said already; another sentence may still carry more.
                others = [
                    x
                    for x in split_sentences(text)
                    if complements[lead].split()[-1] not in flip_perspective(x)
                ]
                content, framed = pick_content(" ".join(others)) if others else (None, False)
                if gist:
                    link = f", like {gist}"
                elif content:
                    link = f", since {_frame(content, framed)}"
                else:
                    link = ""
        else:
            first = f"It sounds like {feel_verb} {_join_feelings(feelings[:2])}" if feelings else None
        if first:
            sentence = first + link
            if need_objs and len(sentence.split()) > 24:
                # A long first sentence ends there; the need gets its own.
                sentence += (
                    f". {need_objs[0].matters[0].upper()}{need_objs[0].matters[1:]} seems to matter a lot "
                    f"to you."
                )
            elif need_objs:
                sentence += f", and that {need_objs[0].matters} matters a lot to you."
            else:
                sentence += "."
            versions.append(f"{sentence} {checks[0]}")
        elif content or gist:
            body = _frame(content, framed) if content else gist
            tail = (
                f", and that {need_objs[0].matters} really matters to you."
                if need_objs
                else ", and that this is important to you."
            )
            opener = "From what you're saying," if body.startswith("it's felt like") else "It sounds like"
            versions.append(f"{opener} {body}{tail} {checks[0]}")

        # B: "I'm hearing that" + content + the feeling it leaves + the wish.
        heard = _frame(content, framed) if content else gist
        if heard:
            unsaid = [f for f in feelings if f not in heard]
            second_feel = unsaid[1] if len(unsaid) > 1 else (unsaid[0] if unsaid else None)
            sentence = f"I'm hearing that {heard}"
            if second_feel and len(sentence.split()) > 22:
                sentence += f". That seems to leave you feeling {second_feel}."
            else:
                sentence += f", and that's left you feeling {second_feel}." if second_feel else "."
            if need_objs:
                wish = need_objs[1] if len(need_objs) > 1 else need_objs[0]
                sentence += f" It seems like what you really want is {wish.wish}."
            versions.append(f"{sentence} {checks[1]}")

        # C: the softer feeling underneath + the longing.
        deeper = (
            next((f for f in feelings if f in _VULNERABLE and f not in feelings[:1]), None)
            or next((f for f in feelings if f in _VULNERABLE), None)
            or (feelings[-1] if feelings else None)
        )
        if deeper or need_objs:
            sentence = "I wonder if underneath this"
            sentence += (
                f" you're feeling {deeper}" if deeper else " there's something that really matters to you"
            )
            if need_objs:
                sentence += f", and wishing for {need_objs[-1].longing}"
            versions.append(f"{sentence}. {checks[2]}")
        elif content:
            versions.append(f"It seems that for you, {_frame(content, framed)}. {checks[2]}")

        versions = [_polish(v) for v in _dedupe(versions)]
        versions = [v for v in versions if _safe_output(v)]
        versions = _passing_first(versions, text)
        if not versions:
            return self._open_reflection(tip_note)
        while len(versions) < 2:
            versions.append(
                _polish(
                    f"It sounds like this really matters to you, and I want to understand it "
                    f"better. {checks[3]}"
                )
            )
            versions = _dedupe(versions)
        return BuiltinReflection(versions[0], versions[1:], feelings, needs, tip_note, content)

    @staticmethod
    def _open_reflection(tip_note: str | None) -> BuiltinReflection:
        """No words the reflector can read (empty, emoji, another script): an open, honest check instead."""
        return BuiltinReflection(
            "It sounds like something important is on your mind, and I want to understand it. Did I get that "
            "right that you'd like to tell me more?",
            ["I'm here and listening. It seems like there's more you'd like me to hear. Is that close?"],
            [],
            [],
            tip_note,
            None,
        )


def _polish(text: str) -> str:
    text = re.sub(r"\s+([,.!?])", r"\1", text)
    text = re.sub(r"([,.]){2,}", r"\1", text)
    text = re.sub(r"\s{2,}", " ", text).strip()
    text = re.sub(r"\bi\b", "I", text)
    return text[0].upper() + text[1:] if text else text


def _passing_first(versions: list[str], statement: str) -> list[str]:
    """Order the versions so one that passes the shared output checks (the model's bar) leads, when it exists."""
    try:
        from companion.listen.output_checks import check_reflection
    except ImportError:
        return versions
    try:
        passing = [check_reflection(v, statement).ok for v in versions]
    except Exception:  # another module's checker must never break the fallback answer
        return versions
    return [v for v, ok in zip(versions, passing, strict=True) if ok] + [
        v for v, ok in zip(versions, passing, strict=True) if not ok
    ]


def _safe_output(text: str) -> bool:
    lowered = text.lower()
    return not any(marker in lowered for marker in lexicon.ADVICE_MARKERS)
