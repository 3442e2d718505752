"""Checks every model reflection before it is shown as final; each failure comes back as a short reason."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

MIN_WORDS = 5
MAX_WORDS = 90
MAX_CHARS = 650
MAX_SENTENCES = 5
CHECK_QUESTION = "Did I get that right?"

_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?", re.UNICODE)

# Phrases that tell the partner what to do instead of reflecting what they said.
_ADVICE = [
    r"\bwhy (?:don['’]t|not|do not) you\b",
    r"\bwhy not\b",
    r"\bhave you (?:tried|considered|thought about)\b",
    r"\bi (?:suggest|recommend|advise)\b",
    r"\bmy advice\b",
    r"\bit (?:would|might) (?:help|be good|be best) (?:to|if)\b",
    r"\bdon['’]t worry\b",
    r"\bcalm down\b",
    r"\bjust (?:relax|ignore|let it go)\b",
    r"\bthe (?:best|right) thing (?:to do|is to)\b",
    r"\byou (?:could|might) try\b",
    r"\b(?:maybe|perhaps) you (?:can|could|should|need)\b",
    r"\byou (?:can|could) (?:\w+ )?(?:try|consider|talk to|ask|tell (?:him|her|them)|start|join|use|plan|decide|choose)\b",
    r"\byou don['’]t (?:need|have) to\b",
    r"\bi think you (?:should|need|could|might|ought)\b",
    r"\blet['’]s\b",
    r"\blet me (?:tell|show|share|explain|give)\b",
    r"\bhere (?:are|is|['’]s) (?:some|a|an|what|how|your)\b",
    # Imperatives at the start of a sentence.
    r"(?:^|[.!?]\s+)(?:try|make sure|consider|stop|remember to|go and|tell (?:him|her|them))\b",
]
_ADVICE_RE = [re.compile(p, re.IGNORECASE | re.MULTILINE) for p in _ADVICE]
# "You should" advises, unless it reports the partner's own thinking ("you wonder whether you should").
_OBLIGATION = re.compile(
    r"(?<!so )(?<!so that )\b(?:you|we) (?:should|shouldn['’]t|need to(?! (?:feel|know|hear|be|have|trust|see|count|believe))|must|"
    r"ought to|have to|might want to|could)\b",
    re.IGNORECASE,
)
_REPORTED = re.compile(
    r"\b(?:that|whether|if|feel|feels|felt|think|thinking|know|sure|wonder|wondering|like|how much|what|"
    r"believe|worried|afraid|scared|unsure|questioning|deciding)\W+(?:\w+\W+){0,2}$",
    re.IGNORECASE,
)

# Comfort and reassurance: kind, but not a reflection of what the partner said.
_REASSURANCE = re.compile(
    r"\byou(?:['’]re| are) not alone\b|\bthere(?:['’]s| is) always\b|\beverything (?:will|is going to|happens)\b|"
    r"\bit(?:['’]ll| will| is going to) (?:be|get|work out|turn out) ?(?:ok|okay|fine|better|alright|all right)?\b|"
    r"\bi(?:['’]m| am) sure (?:you|it|they|things|he|she|we)\b|\bdon['’]t be (?:so )?(?:hard|harsh)\b|"
    r"\b(?:bright|positive) side\b|\b(?:stay|be|think|remain) positive\b|\bsomething positive\b|\bsilver lining\b|"
    r"\bat least you\b|\btime heals\b|\ba better place\b|\bit(?:['’]s| is) (?:okay|ok|normal|natural|fine|alright) "
    r"to (?:feel|be|cry|not|have|want|take)\b|\bit(?:['’]s| is) not okay\b|\bi(?:['’]m| am) (?:so |really )?sorry\b|\bi apologi[sz]e\b|"
    r"\byou(?:['’]ve| have) got this\b|\bhang in there\b|\bthings will\b",
    re.IGNORECASE,
)

# Talking about the text (or to the person about their partner) instead of to the partner.
_ABOUT_THE_TEXT = re.compile(
    r"(?:^|[.!?]\s+)(?:your|the) partner\b|\b(?:your|the) partner(?:['’]s)? (?:is|was|feels|felt|seems|might|may|"
    r"has|wants|said|says|thinks|needs|could|would|should|sounds)\b|\bthe (?:speaker|sentence|quote|example|prompt)\b|"
    r"\b(?:this|the) statement (?:is|says|shows|suggests|expresses|means)\b|\bthis statement\b|"
    r"\bthis (?:is an? )?(?:example|quote|prompt)\b|\bit says\b|"
    r"\byou (?:could|can|might|may) (?:say|respond|reply|answer)\b|\b(?:one|another|a good|a possible) "
    r"(?:way|thing) to (?:say|respond|reply)\b|\b(?:a|one|this|my) (?:good |possible )?reflection\b|"
    r"\b(?:a|this|the) (?:good |possible )?response (?:would|could|might)\b|\breflective listening\b|"
    r"\bin this (?:situation|case|scenario)\b|\bthe other person\b",
    re.IGNORECASE,
)

# The listener talking about itself instead of the partner: its own gladness, love, blame or thanks.
_SELF_TALK = re.compile(
    r"\bi(?:['’]m| am) (?:so |really |just |very )?(?:glad|happy|pleased|proud|thrilled|excited|grateful|thankful|"
    r"honou?red|here for you)\b|(?:^|[.!?,;]\s+)i (?:love|appreciate|admire)\b|\bi (?:don['’]t blame|can relate|"
    r"have been there)\b|\bi(?:['’]m| am) getting the hang\b|\bthe best thing\b|\b(?:thank you|thanks) for (?:sharing|telling|opening|trusting)\b",
    re.IGNORECASE,
)
# A closing question that asks for more instead of checking the reflection ("What happened?").
_OPEN_QUESTION = re.compile(
    r"^\s*(?:and |so |but )?(?:what|how|why|when|where|who|which|do you (?:think|want|know|remember)|can you|"
    r"could you|would you|will you|have you|are you going)\b",
    re.IGNORECASE,
)

# Written-out numbers: a number the partner never said is an invented detail.
_NUMBER_WORDS = {
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
    "eleven": "11",
    "twelve": "12",
    "twenty": "20",
    "thirty": "30",
    "forty": "40",
    "fifty": "50",
    "hundred": "100",
    "thousand": "1000",
    "million": "1000000",
}
_NUMBER = re.compile(
    r"\b\d+(?:[.,:]\d+)*\b|\b(?<!cloud )(?:" + "|".join(_NUMBER_WORDS) + r")\b", re.IGNORECASE
)
_CAPITALISED = re.compile(r"(?<![.!?]\s)(?<!^)(?<![\"“(‘'])\b[A-Z][a-z]+(?:['’][a-z]+)?\b")
_DAY_ABBREVIATIONS = {
    "mon": "monday",
    "tue": "tuesday",
    "tues": "tuesday",
    "wed": "wednesday",
    "thu": "thursday",
    "thur": "thursday",
    "thurs": "thursday",
    "fri": "friday",
    "sat": "saturday",
    "sun": "sunday",
    "xma": "christma",
    "xmas": "christma",
}
_NOT_NAMES = frozenset({"i", "i'm", "i've", "i'd", "i'll", "ok", "okay", "oh", "mum", "mom", "dad", "god"})

# "you want to know it's okay to lean on me" reflects a need; "it's okay to feel that" alone reassures.
_WANTS_TO_HEAR = re.compile(r"\b(?:know|whether|if|hear|believe|sure that)\W+(?:\w+\W+)?$", re.IGNORECASE)

# Judging, diagnosing or labelling a person.
_LABELS = re.compile(
    r"\b(?:narcissis\w*|gaslight\w*|codependen\w*|bipolar|borderline personality|sociopath\w*|psychopath\w*)\b|"
    r"\b(?:you|he|she|they)(?:['’]re|['’]s| are| is)? (?:being |just |so |too |really )*"
    r"(?:selfish|lazy|immature|crazy|dramatic|hysterical|irrational|overreacting|too sensitive|toxic)\b",
    re.IGNORECASE,
)

# The model speaking as someone it is not: a chat role, an AI, or the partner.
_ROLE_LABEL = re.compile(
    r"^\s*(?:partner|user|assistant|system|me|you|listener|human|ai)\s*:", re.IGNORECASE | re.MULTILINE
)
_AI_SELF = re.compile(
    r"\bas an? (?:ai|language model|assistant|chatbot)\b|\bi(?:'m| am) (?:an? )?(?:ai|language model|chatbot)\b",
    re.IGNORECASE,
)
_TEMPLATE_TOKEN = re.compile(
    r"<\|[^|>]{1,30}\|>|\[/?INST\]|<</?SYS>>|</?s>|<start_of_turn>|<end_of_turn>|<\|?endoftext\|?>|###\s*(?:user|assistant|instruction)",
    re.IGNORECASE,
)

# First-person uses that are part of a listener's stems ("I'm hearing", "Did I get that right?").
_LISTENER_FIRST_PERSON = re.compile(
    r"\b(?:i['’]m (?:hearing|guessing|wondering|sensing|getting)|i (?:hear|wonder|imagine|guess|sense|get|can see|"
    r"understand|notice|think|might|may)|did i|have i|if i|do i|am i|let me|i['’]d like)\b",
    re.IGNORECASE,
)
_FIRST_PERSON = re.compile(r"\b(?:i|i['’]m|i['’]ve|i['’]d|i['’]ll|me|my|mine|myself)\b", re.IGNORECASE)
_SECOND_PERSON = re.compile(
    r"\b(?:you|you['’]re|you['’]ve|you['’]d|you['’]ll|your|yours|yourself)\b", re.IGNORECASE
)

_TENTATIVE = re.compile(
    r"\b(?:it sounds|sounds like|sounds as if|it seems|seems like|seems as if|i['’]m hearing|i hear|i wonder|"
    r"i imagine|i['’]m guessing|i guess|i sense|i get the sense|i get the feeling|it may be|it might be|maybe|"
    r"perhaps|if i understand|it feels like|it['’]s felt like|you['’]re feeling|you feel|you['’]ve felt|you felt|"
    r"there['’]s|there is|such|so much|what i['’]m (?:getting|hearing))\b",
    re.IGNORECASE,
)

# Function words of ordinary English: real sentences are full of them, random tokens almost never are.
_COMMON_WORDS_TEXT = """a about after all also am an and any are as at be because been being but by can could did do does
    doing don't for from get got had has have having he her here him his how i i'm if in into is it it's
    its just know like me more much my no not now of on one or our out really right said say she so some
    sounds seems than that that's the their them then there these they this those to too up us very was
    way we were what when where which who why will with would you you're you've your feel feeling felt
    need needs want wanted time lot been being alone together"""
_COMMON_WORDS = frozenset(_COMMON_WORDS_TEXT.split())


@dataclass(frozen=True)
class CheckResult:
    """The verdict on one model output: ok, why not, and the cleaned text to show when ok."""

    ok: bool
    reasons: tuple[str, ...]
    text: str


def clean_model_text(text: str) -> str:
    """Strip whitespace and stray quotes a model wraps around its answer."""
    text = text.strip()
    text = re.sub(r"^(?:reflection|answer|response)\s*:\s*", "", text, flags=re.IGNORECASE)
    if len(text) >= 2 and text[0] in "\"“'" and text[-1] in "\"”'":
        text = text[1:-1].strip()
    return re.sub(r"[ \t]+", " ", text)


def words(text: str) -> list[str]:
    """Lower-case words of any script, curly apostrophes straightened (shared with the rehearsal's checks)."""
    return [w.lower().replace("’", "'") for w in _WORD.findall(text)]


def _sentences(text: str) -> list[str]:
    parts = re.split(r"(?<=[.!?…])\s+", text.strip())
    return [p for p in parts if p.strip()]


def latin_share(text: str) -> float:
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return 0.0
    latin = sum(1 for c in letters if "LATIN" in unicodedata.name(c, ""))
    return latin / len(letters)


def garbage_reasons(text: str) -> list[str]:
    """Signs that a text is not language: odd characters, no common words, runaway repetition."""
    reasons: list[str] = []
    stripped = text.strip()
    if not stripped:
        return ["empty"]
    plain = sum(1 for c in stripped if c.isalnum() or c.isspace() or c in ".,;:!?'’\"“”-—()…")
    if plain / len(stripped) < 0.9:
        reasons.append("garbage: too many symbols")
    found = words(stripped)
    if not found:
        reasons.append("garbage: no words")
        return reasons
    if latin_share(stripped) >= 0.8:
        common = sum(1 for w in found if w in _COMMON_WORDS)
        if len(found) >= 8 and common / len(found) < 0.15:
            reasons.append("garbage: not English sentences")
        odd = sum(1 for w in found if len(w) > 18 or (len(w) > 3 and not re.search(r"[aeiouy]", w)))
        if odd / len(found) > 0.2:
            reasons.append("garbage: unpronounceable words")
    if len(found) >= 6:
        top = max(found.count(w) for w in set(found))
        if top / len(found) > 0.35:
            reasons.append("garbage: one word repeated")
    if re.search(r"(.)\1{7,}", stripped):
        reasons.append("garbage: a character repeated")
    if re.search(r"[\x00-\x08\x0b-\x1f\x7f\ufffd]", stripped):
        reasons.append("garbage: control characters")
    return reasons


def _advice(text: str) -> str | None:
    for pattern in _ADVICE_RE:
        match = pattern.search(text)
        if match:
            return match.group(0).strip(" .!?").lower()
    match = _first_unreported(_OBLIGATION, text, _REPORTED)
    return match.group(0).lower() if match else None


def _first_unreported(pattern: re.Pattern, text: str, reported: re.Pattern) -> re.Match | None:
    """The first match of pattern whose 40 characters before it do not report the partner ("you wonder if...")."""
    return next(
        (m for m in pattern.finditer(text) if not reported.search(text[max(0, m.start() - 40) : m.start()])),
        None,
    )


def copied_share(text: str, source: str) -> float:
    """The share of text's word trigrams that also occur in source (0 when either has under four words)."""
    said, answer = words(source), words(text)
    if len(said) < 4 or len(answer) < 4:
        return 0.0
    said_trigrams = {tuple(said[i : i + 3]) for i in range(len(said) - 2)}
    answer_trigrams = [tuple(answer[i : i + 3]) for i in range(len(answer) - 2)]
    return sum(1 for t in answer_trigrams if t in said_trigrams) / len(answer_trigrams)


def _echo_reason(text: str, statement: str) -> str | None:
    if copied_share(text, statement) > 0.5:
        return "echo: repeats the partner's words"
    said, answer = words(statement), words(text)
    # The whole statement pasted inside the answer.
    if len(said) >= 6 and " ".join(said) in " ".join(answer):
        return "echo: repeats the partner's words"
    return None


def invented_details(text: str, statement: str) -> list[str]:
    """Names and numbers in the answer that the partner never said."""
    said_words = {_stem(w) for w in words(statement)}
    said_words |= {_DAY_ABBREVIATIONS[w] for w in said_words if w in _DAY_ABBREVIATIONS}
    said_numbers = {_NUMBER_WORDS.get(m.lower(), m) for m in _NUMBER.findall(statement)}
    invented = [
        m.group(0)
        for m in _NUMBER.finditer(text)
        if _NUMBER_WORDS.get(m.group(0).lower(), m.group(0)) not in said_numbers
        and not re.match(r"\s+of (?:us|you|them)\b", text[m.end() :])
    ]  # "the two of us" counts nothing
    for sentence in _sentences(text):
        for match in _CAPITALISED.finditer(sentence):
            if match.start() == 0:
                continue  # a sentence's first word is capitalised anyway
            word = match.group(0).lower().replace("’", "'")
            if _stem(word) not in said_words and word not in _NOT_NAMES:
                invented.append(match.group(0))
    return list(dict.fromkeys(invented))


def _stem(word: str) -> str:
    """Leo's -> leo, Sundays -> sunday: enough to match a name or a day the partner did say."""
    word = re.sub(r"['’]s$", "", word.lower())
    return word[:-1] if len(word) > 3 and word.endswith("s") else word


_CONTRACTIONS = {
    "you're": "you are",
    "you've": "you have",
    "you'd": "you would",
    "you'll": "you will",
    "i'm": "i am",
    "i've": "i have",
    "i'd": "i would",
    "i'll": "i will",
    "u": "you",
    "ur": "your",
    "im": "i am",
    "ive": "i have",
}
# Words between a pronoun and what the person did or felt, skipped so "are you still angry" meets "you're still angry".
_BETWEEN = frozenset(
    [
        "am",
        "are",
        "is",
        "was",
        "were",
        "have",
        "has",
        "had",
        "would",
        "will",
        "do",
        "did",
        "does",
        "can",
        "could",
        "might",
        "must",
        "should",
        "still",
        "just",
        "really",
        "always",
        "never",
        "even",
        "also",
        "actually",
        "not",
        "so",
        "too",
    ]
)


def _normalised(text: str) -> list[str]:
    out: list[str] = []
    for word in words(text):
        out.extend(_CONTRACTIONS.get(word, word).split())
    return out


def _pronoun_keys(tokens: list[str], pronoun: str) -> set[tuple[str, str]]:
    """(first, second) content words after each `pronoun`: who did or felt what."""
    keys = set()
    for i, token in enumerate(tokens):
        if token != pronoun:
            continue
        following = [t for t in tokens[i + 1 : i + 6] if t not in _BETWEEN][:2]
        if len(following) == 2:
            keys.add((following[0], following[1]))
    return keys


def perspective_reason(text: str, statement: str) -> str | None:
    """The partner's 'you', 'I', 'my X' or 'your X' kept as it was: the reflection says who did what the wrong way round."""
    said, answer = _normalised(statement), _normalised(text)
    if _pronoun_keys(said, "you") & _pronoun_keys(answer, "you"):
        return "perspective: keeps the partner's 'you' (who did it is turned round)"
    kept_i = {
        key
        for key in _pronoun_keys(said, "i") & _pronoun_keys(answer, "i")
        if key[0] not in ("hear", "wonder", "imagine", "guess", "sense", "get", "think")
    }
    if kept_i:
        return "perspective: keeps the partner's 'I' (speaks as the partner)"
    owned = {
        owner: {b for a, b in zip(said, said[1:], strict=False) if a == owner} for owner in ("my", "your")
    }
    both = owned["my"] & owned["your"]  # "your family ... my family": either may stay
    for owner in ("my", "your"):
        kept = owned[owner] & {b for a, b in zip(answer, answer[1:], strict=False) if a == owner}
        if kept - both:
            return f"perspective: keeps the partner's '{owner}'"
    return None


# Signs that the partner means the opposite of their words ("Oh great, you're on call again").
_SARCASM = re.compile(
    r"^\W*(?:oh|yes|yeah|wow)?\W*(?:great|brilliant|perfect|lovely|wonderful|fantastic|marvellous|super|sure|fine|"
    r"cool|nice one|good)\b\W*[,.!]|\boh,? (?:look|great|brilliant|perfect|lovely|sure|wonderful|joy|good|wow|"
    r"never mind|don['’]t mention it|sorry|how)\b|\blucky me\b|\bbest (?:day|night|weekend) ever\b|"
    r"\bmy favou?rite (?:\w+ )?(?:interrogation|punishment|torture)|\bexactly what (?:i|we|our \w+) "
    r"(?:need|needs|needed|wanted)\b|\bwhat could (?:possibly )?go wrong\b|\bno rush\b|\bdon['’]t mind me\b|"
    r"\bhow (?:passionate|romantic|thoughtful|generous|sweet|kind)(?: of you)?\W*$|\bthat definitely\b|"
    r"(?:^|[.!?]\s+)(?:sure|right|great|fine|lovely)\W*$|"
    r"\bwhat['’]s the harm\b|\bsince you['’]re in such a\b|\bit['’]s only been\b|\bi live to\b|"
    r"\bwill be (?:thrilled|delighted|overjoyed)\b|\bthanks (?:a lot|for nothing)\b|\bwhat a (?:shock|surprise|treat)\b|"
    r"\bwho knew\b|\bshocker\b|\bmust be nice\b|\bbig surprise\b|\bi love being the (?:only|one)\b",
    re.IGNORECASE | re.MULTILINE,
)
# The listener taking those words at face value: the partner glad, grateful or delighted.
_GLAD_FEELING = re.compile(
    r"\byou(?:['’]re| are| feel| felt| sound| seem| were|['’]ve been| have been)?\s+(?:so |really |very |a bit |"
    r"quite |pretty |feeling |truly )*(?:thrilled|happy|glad|pleased|delighted|grateful|thankful|excited|relieved|"
    r"amused|lucky|proud|content|touched|overjoyed|impressed|charmed|flattered|satisfied|enjoying|loving|love|enjoy|"
    r"appreciate)\b",
    re.IGNORECASE,
)
_NAMES_THE_IRONY = re.compile(
    r"\bsarcas\w*|\birony|\bironic|\bbehind the (?:joke|humou?r|\w+ tone)|\bnot really\b", re.IGNORECASE
)


def sarcasm_reason(text: str, statement: str) -> str | None:
    """A sarcastic complaint answered as if the partner were pleased: the words taken at face value."""
    if not _SARCASM.search(statement) or _NAMES_THE_IRONY.search(text):
        return None
    glad = _GLAD_FEELING.search(text)
    return f"sarcasm: takes the partner's irony at face value ('{glad.group(0).lower()}')" if glad else None


def repetition_reason(text: str) -> str | None:
    """A loop: the same sentence twice, or the same four words three times."""
    sentences = [" ".join(words(s)) for s in _sentences(text)]
    sentences = [s for s in sentences if len(s.split()) >= 3]
    if len(sentences) != len(set(sentences)):
        return "repetition: a sentence repeated"
    tokens = words(text)
    grams = [tuple(tokens[i : i + 4]) for i in range(len(tokens) - 3)]
    if grams and max(grams.count(g) for g in set(grams)) >= 3:
        return "repetition: a phrase repeated"
    return None


def check_reflection(output: str, statement: str) -> CheckResult:
    """Is this a reflection we can show? Returns ok, the reasons when not, and the cleaned text."""
    text = clean_model_text(output)
    reasons: list[str] = []
    if not text:
        return CheckResult(False, ("empty",), "")

    if _TEMPLATE_TOKEN.search(text):
        reasons.append("role: chat-template tokens")
    if _ROLE_LABEL.search(text):
        reasons.append("role: speaks with a role label")
    if _AI_SELF.search(text):
        reasons.append("role: talks about being an AI")

    reasons.extend(garbage_reasons(text))
    if any(r.startswith("garbage") for r in reasons):
        return CheckResult(False, tuple(dict.fromkeys(reasons)), text)

    tokens = words(text)
    if len(tokens) < MIN_WORDS:
        reasons.append(f"length: {len(tokens)} words is too short")
    if len(tokens) > MAX_WORDS or len(text) > MAX_CHARS:
        reasons.append(f"length: {len(tokens)} words is too long")
    sentences = _sentences(text)
    if len(sentences) > MAX_SENTENCES:
        reasons.append(f"length: {len(sentences)} sentences")

    advice = _advice(text)
    if advice:
        reasons.append(f"advice: '{advice}'")
    label = _LABELS.search(text)
    if label:
        reasons.append(f"judgement: '{label.group(0).lower()}'")
    comfort = _first_unreported(_REASSURANCE, text, _WANTS_TO_HEAR)
    if comfort:
        reasons.append(f"reassurance: '{comfort.group(0).lower().strip()}'")
    about = _ABOUT_THE_TEXT.search(text)
    if about:
        reasons.append(f"about the text: '{about.group(0).lower()}'")
    invented = invented_details(text, statement)
    if invented:
        reasons.append(f"invented: {', '.join(invented[:3])}")
    turned = perspective_reason(text, statement)
    if turned:
        reasons.append(turned)
    irony = sarcasm_reason(text, statement)
    if irony:
        reasons.append(irony)
    loop = repetition_reason(text)
    if loop:
        reasons.append(loop)

    statements = [s for s in sentences if not s.rstrip().endswith("?") and len(words(s)) >= 4]
    if not statements:
        reasons.append("question: no reflection, only a question")
    elif sum(1 for s in sentences if "?" in s) > 1:
        reasons.append("question: asks more than the check")
    elif sentences and sentences[-1].rstrip().endswith("?") and _OPEN_QUESTION.search(sentences[-1]):
        reasons.append("question: asks for more instead of checking")
    self_talk = _first_unreported(_SELF_TALK, text, _REPORTED)
    if self_talk:
        reasons.append(f"self: talks about the listener ('{self_talk.group(0).lower()}')")

    # Speaking as the partner: first person that is not a listener's stem, and more of it than "you".
    first = len(_FIRST_PERSON.findall(text)) - len(_LISTENER_FIRST_PERSON.findall(text))
    second = len(_SECOND_PERSON.findall(text))
    if first >= 3 and second <= 1:
        reasons.append("role: speaks as the partner")

    # Tentative stems are asked for; a plain "You're worried that..." is still a reflection. Neither is not.
    if not _TENTATIVE.search(text) and not _SECOND_PERSON.search(text):
        reasons.append("tone: not addressed to the partner")

    echo = _echo_reason(text, statement)
    if echo:
        reasons.append(echo)

    if reasons:
        return CheckResult(False, tuple(dict.fromkeys(reasons)), text)
    if not text.rstrip().endswith("?"):
        text = text.rstrip() + " " + CHECK_QUESTION
    return CheckResult(True, (), text)


def early_failure(partial: str) -> str | None:
    """A reason to stop a stream before it ends: garbage or role tokens show up in the first few words."""
    if _TEMPLATE_TOKEN.search(partial):
        return "role: chat-template tokens"
    if _AI_SELF.search(partial):
        return "role: talks about being an AI"
    tokens = words(partial)
    if len(partial) >= 40 and len(tokens) >= 6:
        garbage = garbage_reasons(partial)
        if garbage:
            return garbage[0]
    if len(tokens) > MAX_WORDS + 20:
        return f"length: over {MAX_WORDS} words"
    return None
