"""The built-in reflector's lexicon: feeling words, implied-feeling cues and the needs underneath them.

Written for this project in our own words. Perspective: a cue is matched against what the PARTNER said (where "I"
is the partner and "you" is the person using the companion); every phrase meant for output ("gist", need phrases)
is already in the voice the person will speak back to the partner: "you" is the partner, "I"/"me" is the person.
"""

from __future__ import annotations

from dataclasses import dataclass

# ---- needs -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Need:
    key: str
    matters: str  # "... and that {matters} matters a lot to you"
    wish: str  # "what you really want is {wish}"
    longing: str  # "... wishing for {longing}"

    def about_others(self) -> Need:
        """The same need when the statement is about someone else, so "me" (the listener) drops out."""
        swaps = (
            (" to me", ""),
            (" on me", " on people"),
            (" with me", " with the people close to you"),
            ("trust me", "trust people"),
            (" from me", ""),
            (" by me", ""),
            (" between us", ""),
        )

        def neutral(text: str) -> str:
            for old, new in swaps:
                text = text.replace(old, new)
            return text

        return Need(self.key, neutral(self.matters), neutral(self.wish), neutral(self.longing))


NEEDS: dict[str, Need] = {
    n.key: n
    for n in (
        Need("time together", "time together", "more time together", "more time with me"),
        Need(
            "being a priority",
            "being a priority to me",
            "to feel like a priority to me",
            "a sign that you come first",
        ),
        Need("being heard", "being heard", "to feel heard", "someone who really listens"),
        Need("appreciation", "being appreciated", "to feel appreciated", "some appreciation"),
        Need("trust", "being able to trust me", "to be able to trust me", "trust between us"),
        Need(
            "fairness",
            "fairness between us",
            "for things to feel fair between us",
            "more fairness between us",
        ),
        Need("safety", "feeling safe", "to feel safe", "some calm and safety"),
        Need("closeness", "closeness", "to feel close to me", "closeness"),
        Need("respect", "respect", "to feel respected", "respect"),
        Need("support", "support", "to feel supported", "support"),
        Need("autonomy", "having room to be yourself", "some room of your own", "some room to breathe"),
        Need("reassurance", "reassurance", "some reassurance about us", "reassurance"),
        Need("understanding", "being understood", "to feel understood", "understanding"),
        Need(
            "reliability",
            "being able to count on me",
            "to know you can count on me",
            "someone you can count on",
        ),
        Need("rest", "rest", "a chance to rest", "rest"),
        Need("affection", "affection", "more affection", "affection"),
        Need("having a say", "having a say", "to have a say in things", "a real say in things"),
        Need("acknowledgement", "acknowledgement", "to have that acknowledged", "acknowledgement"),
        Need("security", "security", "to feel secure", "some security"),
        Need("honesty", "honesty", "honesty from me", "honesty"),
        Need("peace", "peace between us", "some peace between us", "peace"),
        Need("choice", "making your own choices", "to make your own choices", "the freedom to choose"),
        Need("health", "your health", "to take care of your health", "a healthier life"),
        Need("hope", "hope", "some hope that things can change", "hope"),
        Need("connection", "connection", "to feel connected", "connection"),
        Need("consideration", "consideration", "a bit more consideration from me", "some consideration"),
    )
}

# ---- explicit feeling words ---------------------------------------------------------------------------
# What a person says after "I'm", "I feel", "makes me"... -> the word we reflect back (same meaning, plain).

FEELING_WORDS: dict[str, str] = {
    # tired and stretched
    "exhausted": "exhausted",
    "tired": "worn out",
    "worn out": "worn out",
    "drained": "drained",
    "burnt out": "burnt out",
    "burned out": "burnt out",
    "spent": "drained",
    "wiped out": "worn out",
    "overwhelmed": "overwhelmed",
    "swamped": "overwhelmed",
    "stretched thin": "stretched thin",
    "stressed": "stressed",
    "stressed out": "stressed",
    "under pressure": "under pressure",
    # sad and hurt
    "sad": "sad",
    "down": "low",
    "low": "low",
    "depressed": "really low",
    "miserable": "miserable",
    "unhappy": "unhappy",
    "heartbroken": "heartbroken",
    "crushed": "crushed",
    "devastated": "devastated",
    "hurt": "hurt",
    "wounded": "hurt",
    "upset": "upset",
    "disappointed": "disappointed",
    "let down": "let down",
    "gutted": "gutted",
    "lost": "lost",
    "empty": "empty",
    "numb": "numb",
    "hopeless": "discouraged",
    "discouraged": "discouraged",
    "defeated": "defeated",
    "broken": "broken",
    # lonely and unseen
    "lonely": "lonely",
    "alone": "alone",
    "isolated": "isolated",
    "invisible": "invisible",
    "ignored": "ignored",
    "unseen": "unseen",
    "forgotten": "forgotten",
    "neglected": "neglected",
    "left out": "left out",
    "unwanted": "unwanted",
    "unloved": "unloved",
    "rejected": "rejected",
    "abandoned": "abandoned",
    "unappreciated": "unappreciated",
    "unimportant": "unimportant",
    "taken for granted": "taken for granted",
    "unheard": "unheard",
    "misunderstood": "misunderstood",
    "disconnected": "disconnected",
    "distant": "distant",
    # angry
    "angry": "angry",
    "mad": "angry",
    "furious": "furious",
    "pissed": "angry",
    "pissed off": "angry",
    "livid": "furious",
    "annoyed": "annoyed",
    "irritated": "irritated",
    "frustrated": "frustrated",
    "fed up": "fed up",
    "sick of it": "fed up",
    "resentful": "resentful",
    "bitter": "bitter",
    "irritable": "on edge",
    "disrespected": "disrespected",
    "insulted": "insulted",
    "betrayed": "betrayed",
    "used": "used",
    "cheated": "cheated",
    "blamed": "blamed",
    "judged": "judged",
    "criticized": "criticized",
    "criticised": "criticized",
    "attacked": "attacked",
    "controlled": "controlled",
    "smothered": "smothered",
    "suffocated": "smothered",
    "trapped": "trapped",
    "stuck": "stuck",
    "pressured": "pressured",
    "rushed": "rushed",
    "manipulated": "manipulated",
    # afraid
    "scared": "scared",
    "afraid": "afraid",
    "frightened": "frightened",
    "terrified": "terrified",
    "anxious": "anxious",
    "worried": "worried",
    "nervous": "nervous",
    "uneasy": "uneasy",
    "insecure": "insecure",
    "unsure": "unsure",
    "uncertain": "uncertain",
    "confused": "confused",
    "torn": "torn",
    "panicked": "panicked",
    "on edge": "on edge",
    "jealous": "jealous",
    "threatened": "threatened",
    "vulnerable": "vulnerable",
    "helpless": "helpless",
    "powerless": "powerless",
    "unsafe": "unsafe",
    # self-conscious
    "ashamed": "ashamed",
    "embarrassed": "embarrassed",
    "humiliated": "humiliated",
    "guilty": "guilty",
    "stupid": "foolish",
    "dumb": "foolish",
    "useless": "useless",
    "inadequate": "not good enough",
    "small": "small",
    "not good enough": "not good enough",
    "like a failure": "like a failure",
    "like a burden": "like a burden",
    "like an outsider": "like an outsider",
    "like a stranger": "like a stranger",
    "like a roommate": "like a roommate",
    "like a maid": "like a maid",
    "like a servant": "like a servant",
    "like an afterthought": "like an afterthought",
    "like a child": "talked down to",
    "like nothing": "like you don't matter",
    "like i do not matter": "like you don't matter",
    # pleasant, so reflections of good news are right too
    "happy": "happy",
    "glad": "glad",
    "excited": "excited",
    "grateful": "grateful",
    "thankful": "grateful",
    "relieved": "relieved",
    "proud": "proud",
    "hopeful": "hopeful",
    "loved": "loved",
    "appreciated": "appreciated",
    "content": "content",
    "calm": "calm",
    "safe": "safe",
    "close to you": "close",
    "connected": "connected",
    "bored": "bored",
    "restless": "restless",
    "ready": "ready",
    "curious": "curious",
    "tempted": "tempted",
    "determined": "determined",
    "motivated": "motivated",
    "unmotivated": "unmotivated",
    "lazy": "unmotivated",
}

# A feeling word's usual needs, used when a statement names a feeling and nothing else.
FEELING_NEEDS: dict[str, tuple[str, ...]] = {
    "exhausted": ("rest", "support"),
    "worn out": ("rest", "support"),
    "drained": ("rest", "support"),
    "burnt out": ("rest", "support"),
    "overwhelmed": ("support",),
    "stretched thin": ("support", "fairness"),
    "stressed": ("support", "peace"),
    "under pressure": ("support",),
    "lonely": ("closeness", "time together"),
    "alone": ("support", "closeness"),
    "isolated": ("connection",),
    "invisible": ("appreciation",),
    "ignored": ("being heard",),
    "unseen": ("appreciation",),
    "unappreciated": ("appreciation",),
    "taken for granted": ("appreciation",),
    "unimportant": ("being a priority",),
    "unheard": ("being heard",),
    "misunderstood": ("understanding",),
    "disconnected": ("closeness",),
    "distant": ("closeness",),
    "rejected": ("closeness", "reassurance"),
    "unloved": ("affection", "reassurance"),
    "unwanted": ("reassurance",),
    "abandoned": ("reassurance",),
    "left out": ("connection",),
    "hurt": ("understanding",),
    "sad": ("understanding",),
    "disappointed": ("reliability",),
    "let down": ("reliability",),
    "angry": ("respect", "being heard"),
    "furious": ("respect",),
    "frustrated": ("being heard",),
    "annoyed": ("respect",),
    "fed up": ("fairness",),
    "resentful": ("fairness",),
    "disrespected": ("respect",),
    "betrayed": ("trust", "honesty"),
    "blamed": ("fairness", "understanding"),
    "judged": ("acceptance",),
    "criticized": ("appreciation",),
    "controlled": ("autonomy",),
    "smothered": ("autonomy",),
    "trapped": ("autonomy", "choice"),
    "stuck": ("hope",),
    "pressured": ("autonomy", "choice"),
    "scared": ("safety", "reassurance"),
    "afraid": ("safety", "reassurance"),
    "frightened": ("safety",),
    "terrified": ("safety",),
    "anxious": ("reassurance",),
    "worried": ("reassurance",),
    "nervous": ("reassurance",),
    "insecure": ("reassurance",),
    "jealous": ("reassurance", "trust"),
    "unsure": ("reassurance",),
    "uncertain": ("security",),
    "confused": ("understanding",),
    "torn": ("choice",),
    "helpless": ("support",),
    "unsafe": ("safety",),
    "ashamed": ("acceptance",),
    "embarrassed": ("respect",),
    "humiliated": ("respect",),
    "guilty": ("understanding",),
    "not good enough": ("appreciation", "acceptance"),
    "like a failure": ("hope",),
    "discouraged": ("hope",),
    "like a maid": ("fairness", "appreciation"),
    "like a roommate": ("closeness",),
    "like an afterthought": ("being a priority",),
    "like you don't matter": ("being a priority",),
    "talked down to": ("respect",),
    "excited": ("connection",),
    "happy": ("connection",),
    "proud": ("acknowledgement",),
    "grateful": ("connection",),
    "relieved": ("peace",),
    "hopeful": ("hope",),
}
NEEDS["acceptance"] = Need(
    "acceptance", "being accepted as you are", "to feel accepted as you are", "acceptance"
)


# ---- implied feelings: what people say when they don't name the feeling -----------------------------


@dataclass(frozen=True)
class Cue:
    """Regex fragments (matched on the partner's words, lower-case, contractions spelled out) -> feelings, needs."""

    name: str
    patterns: tuple[str, ...]
    feelings: tuple[str, ...]
    needs: tuple[str, ...]
    gist: str | None = None  # the content, reframed, in the reflection's voice


CUES: tuple[Cue, ...] = (
    Cue(
        "no time",
        (
            r"(?:never|do not|does not|hardly|barely) (?:\w+ )?(?:make|makes|have|has|find|spend) (?:any )?time (?:for|with) me",
            r"no time for me",
            r"too busy for me",
            r"(?:you are|he is|she is) (?:always |so |too )?busy",
            r"(?:you|we) never see each other",
            r"(?:put|puts|putting) me last",
            r"(?:i am|i come) (?:always )?(?:last|second) on your list",
            r"everything (?:else )?comes (?:before|first)",
            r"i am (?:always )?an afterthought",
            r"fit me in",
            r"squeeze me in",
            r"cancel(?:l?ed|s)? (?:on me|our plans|plans)",
            r"more important (?:to you |to him |to her )?than (?:me|i am)",
            r"(?:choose|chose|choosing|pick|picked|picks) "
            r"(?:\w+ ){0,2}over me",
            r"(?:comes?|came|coming) before me",
        ),
        ("lonely", "unimportant"),
        ("being a priority", "time together"),
        "time with me keeps getting pushed aside",
    ),
    Cue(
        "phone",
        (
            r"(?:always|constantly|forever) on (?:your|that) (?:phone|laptop|computer|screen|ipad|game)",
            r"on your phone all the time",
            r"glued to (?:your|that) (?:phone|screen)",
            r"scrolling",
            r"(?:look|looking|looks) at your phone",
            r"(?:you|and) (?:play|playing) (?:video )?games all",
            r"(?:the|your) phone (?:is|gets) more",
            r"(?:stare|staring) at (?:your|the) (?:phone|screen|tv)",
        ),
        ("ignored", "lonely"),
        ("closeness", "being heard"),
        "my phone gets more of my attention than you do",
    ),
    Cue(
        "unnoticed",
        (
            r"(?:nobody|no one|no-one|you never|you do not even) (?:\w+ )?(?:notices?|sees?|sees|appreciates?|cares?)",
            r"never (?:say|says|said) thank you",
            r"never (?:thank|thanks|thanked) me",
            r"(?:take|takes|taking|took) me for granted",
            r"taken for granted",
            r"(?:nobody|no one) (?:even )?asks",
            r"(?:do|does) not (?:even )?notice",
            r"(?:a|one) (?:simple )?thank you",
            r"unappreciated",
            r"not (?:even )?(?:a|one) word of thanks",
            r"like (?:the|a|your) (?:maid|servant|cleaner|housekeeper)",
            r"does anyone (?:even )?(?:notice|care)",
            r"(?:give|gives|gave|get|gets|got) (?:me )?(?:any |no )?(?:credit|recognition|praise)",
        ),
        ("unseen", "unappreciated"),
        ("appreciation", "acknowledgement"),
        "so much of what you do goes unnoticed",
    ),
    Cue(
        "carrying it all",
        (
            r"i do (?:everything|all of it|it all|all the \w+)",
            r"i am the (?:only )?one who (?:\w+ )?(?:does|cleans|"
            r"cooks|remembers|plans|pays|takes care|organizes|organises|does everything)",
            r"(?:all|everything) (?:falls|fall|is) on me",
            r"i (?:have to|always have to|always) do (?:it|everything) "
            r"(?:myself|alone|on my own)",
            r"(?:carry|carrying) (?:everything|all of it|the whole)",
            r"(?:you|he|she) never (?:help|helps|lift a finger|do the dishes|clean|cook|do laundry|pitch in)",
            r"(?:do|does) not (?:help|lift a finger|pitch in|do your share|do your part)",
            r"(?:the|all the) "
            r"(?:housework|chores|laundry|dishes|cooking|cleaning)",
            r"mental load",
            r"your (?:fair )?share",
            r"(?:by|on) my own with the (?:kids|baby|house)",
            r"dishes",
            r"(?:clean|pick|tidy) up after",
            r"single parent",
            r"like a single (?:mom|mum|dad|parent)",
        ),
        ("overwhelmed", "alone with it"),
        ("support", "fairness"),
        "you're carrying more than your share, mostly on your own",
    ),
    Cue(
        "not listening",
        (
            r"(?:you|he|she) (?:never|do not|does not|did not|are not|is not) (?:\w+ )?(?:listen|listens|listening|"
            r"hear me|hearing me)",
            r"(?:talking|talk) to a (?:brick )?wall",
            r"tune me out",
            r"(?:you|he|she) "
            r"(?:ignore|ignores|ignored|ignoring) (?:me|what i say)",
            r"in one ear and out",
            r"(?:never|do not|does "
            r"not) (?:take|hear) me seriously",
            r"(?:you|he|she) (?:just )?(?:brush|brushes|brushed) (?:me|it) off",
            r"dismiss(?:es|ed|ive)?",
            r"(?:you|he|she) (?:do|does) not (?:even )?(?:look at me|pay attention)",
            r"not (?:even )?paying attention",
            r"(?:you are|he is|she is) not (?:even )?listening",
        ),
        ("unheard", "frustrated"),
        ("being heard", "respect"),
        "what you say doesn't seem to reach me",
    ),
    Cue(
        "interrupting",
        (
            r"interrupt(?:s|ed|ing)?",
            r"cut me off",
            r"talk(?:s|ed|ing)? over me",
            r"let me finish",
            r"(?:never|do not|will not) let me (?:finish|explain|talk|speak|get a word in)",
            r"(?:get|got) a word in",
        ),
        ("dismissed", "frustrated"),
        ("being heard", "respect"),
        "you don't get the space to finish your thoughts with me",
    ),
    Cue(
        "trust broken",
        (
            r"(?:you|he|she) (?:lied|lie|lies|lying)",
            r"lied to me",
            r"(?:can not|do not|can no longer) trust (?:you|him|"
            r"her)",
            r"(?:keep|keeps|kept|keeping) secrets",
            r"hiding (?:something|things)",
            r"behind my back",
            r"(?:broke|broken|break|breaking) (?:my|our) trust",
            r"how (?:can|could) i (?:ever )?(?:trust|believe) you",
            r"(?:found|saw) (?:the|your) (?:messages|texts|receipts)",
        ),
        ("betrayed", "hurt"),
        ("trust", "honesty"),
        "it's been hard to rely on what I tell you",
    ),
    Cue(
        "jealousy",
        (
            r"(?:cheat|cheats|cheating|cheated)",
            r"(?:flirt|flirting|flirted|flirts)",
            r"(?:texting|talking to|seeing) "
            r"(?:her|him|your ex|that (?:girl|guy|woman|man))",
            r"your ex",
            r"other (?:women|men|girls|guys)",
            r"(?:someone|somebody) else",
            r"(?:her|him) more than me",
            r"(?:prettier|better looking|hotter) than me",
            r"(?:who|what) (?:are|were) you texting",
        ),
        ("insecure", "hurt"),
        ("reassurance", "trust"),
        "you're not sure where you stand with me",
    ),
    Cue(
        "uncared for",
        (
            r"(?:you|he|she) (?:do|does|did) not (?:even |really )?care",
            r"(?:could|could not) care less",
            r"(?:you|he|she) (?:do|does) not (?:love|want|like) me",
            r"(?:do|does) you (?:even |still )?(?:love|care "
            r"about|want) me",
            r"(?:mean|means|meant) nothing to (?:you|him|her)",
            r"(?:do|does) not matter to (?:you|"
            r"him|her)",
            r"what am i to you",
            r"(?:you|he|she) (?:do|does) not (?:even )?try",
            r"(?:stopped|stop) trying",
            r"(?:gave|given) up on (?:us|me)",
            r"(?:wonder|not sure|do not know) (?:if|whether) (?:you|he|she) (?:even |still |really )?(?:want|love|care "
            r"about|like) (?:me|to be with me)",
        ),
        ("hurt", "uncared for"),
        ("reassurance", "being a priority"),
        "you're not sure how much you matter to me",
    ),
    Cue(
        "not on my side",
        (
            r"(?:always|never|you) (?:take|takes|took|taking) (?:her|his|their|your (?:\w+)'s|your (?:mom|mother|"
            r"family|sister|brother|friends)) side",
            r"(?:side|sided|sides|siding) with",
            r"(?:never|do not|did not) "
            r"(?:back|stand up for|defend) me",
            r"(?:throw|threw|thrown) me under the bus",
            r"not on my side",
            r"(?:you|he|she) (?:never|do not|did not) (?:have|had) my back",
        ),
        ("alone", "let down"),
        ("support",),
        "I'm not on your side when it counts",
    ),
    Cue(
        "in-laws",
        (
            r"your (?:mom|mum|mother|dad|father|parents|family|sister|brother)",
            r"(?:his|her) (?:mom|mum|mother|"
            r"family|parents)",
            r"(?:in-laws|inlaws|mother-in-law|mother in law)",
        ),
        ("caught in the middle",),
        ("support", "respect"),
        None,
    ),
    Cue(
        "disconnected",
        (
            r"(?:we|you and i) (?:never|do not|barely|hardly) (?:\w+ )?(?:talk|go out|do anything|spend time|laugh|"
            r"touch|kiss|have fun)",
            r"(?:like|feel like) (?:roommates|strangers|flatmates)",
            r"(?:drifted|drifting|grown|"
            r"grew) apart",
            r"(?:not|no longer) the same (?:anymore|as before)",
            r"(?:we|you) used to",
            r"(?:what|where) happened to us",
            r"miss (?:us|you|the old you|how we|when we|the way)",
            r"(?:so|feel|feels|felt) distant",
            r"(?:no|any) (?:spark|romance|connection)",
            r"(?:so|feel|feels) far away",
        ),
        ("disconnected", "lonely"),
        ("closeness", "connection"),
        "the closeness between us has been fading",
    ),
    Cue(
        "affection",
        (
            r"(?:never|do not|does not|barely|hardly) (?:\w+ )?(?:touch|hug|hold|kiss|cuddle) me",
            r"(?:no|any) (?:sex|intimacy|affection)",
            r"(?:sex|intimacy) life",
            r"(?:never|do not) want (?:sex|me)",
            r"(?:turn|turns|turned) me down",
            r"need you to (?:hold|hug|touch|kiss|cuddle) me",
            r"(?:want|need|miss) "
            r"(?:more )?(?:affection|a hug|hugs|to be held|your touch|being held)",
            r"(?:reject|rejects|rejected) me",
            r"(?:pull|pulls|pulled) away when i",
        ),
        ("rejected", "lonely"),
        ("affection", "closeness"),
        "you've been missing my touch and affection",
    ),
    Cue(
        "smothered",
        (
            r"(?:always |constantly )?(?:check|checking|checks) (?:up )?on me",
            r"(?:where|who) (?:i am|i was|i have been) "
            r"(?:with|going)",
            r"(?:need|want|give me) (?:some )?(?:space|room|air)",
            r"let me breathe",
            r"(?:treat|treats|treated) me like a (?:child|kid)",
            r"(?:tell|telling|tells) me what to do",
            r"(?:do|does) not trust me",
            r"(?:my|your) own (?:life|friends|decisions)",
            r"micromanag\w*",
            r"(?:back off|leave me alone)",
            r"(?:every|each) (?:single )?(?:move|minute|decision)",
        ),
        ("smothered", "distrusted"),
        ("autonomy", "trust"),
        "you'd like more room to breathe and to be trusted",
    ),
    Cue(
        "money",
        (
            r"\bmoney\b",
            r"\bbills?\b",
            r"\bbudget\b",
            r"\bdebts?\b",
            r"credit card",
            r"(?:spend|spends|spent|"
            r"spending) (?:so much|too much|all|our|my)",
            r"\brent\b",
            r"mortgage",
            r"(?:pay|paid|paying) for everything",
            r"savings",
            r"afford",
        ),
        ("worried", "stressed"),
        ("security", "fairness"),
        "money has been weighing on you",
    ),
    Cue(
        "let down",
        (
            r"(?:forgot|forget|forgotten|forgets) (?:my|our|about|to|the)",
            r"(?:did|do|does) not (?:even )?(?:call|text|"
            r"show up|come|remember)",
            r"stood me up",
            r"(?:always|so) late",
            r"(?:never|not) on time",
            r"(?:let|lets) me "
            r"down",
            r"(?:was|were) not there (?:for me|when)",
            r"(?:count|rely|depend) on (?:you|him|her)",
            r"(?:missed|miss) (?:my|our|the) (?:birthday|anniversary|appointment|recital|game|dinner|party)",
            r"you (?:said|promised) you (?:would|will|were going to)",
            r"(?:broke|broken|break) (?:your|a|another) promise",
            r"you promised",
        ),
        ("let down", "unimportant"),
        ("reliability", "being a priority"),
        "you couldn't count on me when it mattered",
    ),
    Cue(
        "work first",
        (
            r"(?:always|constantly|forever) (?:at )?work(?:ing)?",
            r"work(?:s|ing)? (?:late|all the time|so much|every "
            r"(?:night|weekend))",
            r"(?:your|his|her) (?:job|work|career|boss) (?:comes first|is more important|always "
            r"comes)",
            r"married to (?:your|his|her) (?:job|work)",
            r"(?:bring|brings) work home",
        ),
        ("lonely", "sidelined"),
        ("time together", "being a priority"),
        "work keeps coming before us",
    ),
    Cue(
        "never home",
        (
            r"(?:never|hardly ever|barely) (?:\w+ )?(?:home|around|here)",
            r"(?:always|constantly) (?:gone|out|away|"
            r"travel(?:l?ing)?)",
            r"out with (?:your|his|her) (?:friends|buddies|mates|girls|boys)",
            r"(?:at|to) the "
            r"(?:bar|pub|gym) (?:every|all|again)",
        ),
        ("lonely", "left behind"),
        ("time together", "connection"),
        "you're often waiting for me to be around",
    ),
    Cue(
        "yelling",
        (
            r"(?:yell|yells|yelled|yelling|shout|shouts|shouted|shouting|scream|screams|screamed|screaming) at me",
            r"raise(?:s|d)? your voice",
            r"(?:snap|snaps|snapped|snapping) at me",
            r"(?:so|always) angry",
            r"lose your temper",
            r"(?:blow|blows|blew) up at me",
            r"walk(?:ing)? on eggshells",
            r"(?:slam|slams|"
            r"slammed|slamming) (?:the )?doors?",
        ),
        ("on edge", "hurt"),
        ("safety", "respect"),
        "things between us get loud, and that doesn't feel safe for you",
    ),
    Cue(
        "criticized",
        (
            r"nothing i do is (?:ever )?(?:good enough|right|enough)",
            r"(?:always|constantly) (?:find|finding|finds) "
            r"(?:something|fault)",
            r"(?:criticize|criticise|criticizes|criticises|criticizing|criticising|nag|nags|"
            r"nagging|pick on|picks on|picking on) me",
            r"(?:never|nothing) (?:good )?enough for you",
            r"(?:put|puts) me "
            r"down",
            r"(?:make|makes|made) me feel (?:stupid|small|useless)",
            r"(?:correct|corrects|correcting) me",
            r"(?:you|he|she) (?:always )?(?:think|thinks) (?:you are|he is|she is) (?:always )?right",
        ),
        ("criticized", "discouraged"),
        ("appreciation", "acceptance"),
        "nothing you do seems to be enough for me",
    ),
    Cue(
        "not asked",
        (
            r"(?:never|do not|does not|did not) (?:even )?ask (?:me )?(?:about|how|what)",
            r"(?:never|do not|does not) "
            r"ask (?:me )?(?:anything|about me)",
            r"how my day (?:was|went)",
            r"(?:no|any) interest in (?:me|my)",
            r"(?:do|does) not (?:even )?know (?:me|what i)",
        ),
        ("unseen", "unimportant"),
        ("connection", "understanding"),
        "I don't seem curious about your world",
    ),
    Cue(
        "left out of decisions",
        (
            r"without (?:even )?(?:asking|telling|talking to|consulting) me",
            r"(?:decide|decides|decided) everything",
            r"(?:never|do not|does not) ask (?:for )?my opinion",
            r"(?:made|make|makes) (?:the|that|all the) "
            r"decisions?",
            r"i (?:do not|never) get a say",
            r"(?:my|your) opinion (?:does not|never) matters?",
            r"behind my back",
        ),
        ("left out", "disrespected"),
        ("having a say", "respect"),
        "decisions get made without you",
    ),
    Cue(
        "embarrassed in public",
        (
            r"in front of (?:your|my|our|the|everyone|everybody|other)",
            r"(?:made|make|makes) fun of me",
            r"(?:laugh|laughs|laughed|laughing) at me",
            r"(?:embarrass|embarrasses|embarrassed|humiliate|humiliated) me",
            r"(?:joke|jokes|joked) about me",
        ),
        ("embarrassed", "hurt"),
        ("respect",),
        "that moment in front of others really stung",
    ),
    Cue(
        "silent treatment",
        (
            r"silent treatment",
            r"(?:do|does|did) not (?:answer|reply|respond|text back|call back)",
            r"left me on read",
            r"(?:stop|stopped|stops) talking to me",
            r"(?:shut|shuts) me out",
            r"(?:give|gives) me the cold shoulder",
            r"(?:go|goes|went) quiet",
            r"(?:will not|would not|do not) (?:talk|open up) to me",
        ),
        ("shut out", "anxious"),
        ("connection", "reassurance"),
        "the silence between us leaves you on the outside",
    ),
    Cue(
        "blamed",
        (
            r"(?:always|you) (?:blame|blames|blamed|blaming) me",
            r"(?:it is|it was|everything is) (?:always )?my fault",
            r"(?:never|do not) (?:take|takes) responsibility",
            r"(?:never|do not|will not) (?:say|said) sorry",
            r"(?:never|do not|will not) apologi[sz]e",
            r"(?:make|makes) it (?:all )?about (?:you|him|her)",
        ),
        ("blamed", "hurt"),
        ("fairness", "acknowledgement"),
        "the blame keeps landing on you",
    ),
    Cue(
        "not understood",
        (
            r"(?:you|he|she) (?:do|does|will) not (?:understand|get it|get me|get what)",
            r"(?:you|he|she) (?:will )?"
            r"never understand",
            r"(?:nobody|no one) understands",
            r"(?:you|he|she) (?:have|has) no idea",
        ),
        ("misunderstood", "alone"),
        ("understanding",),
        "I haven't really understood what this is like for you",
    ),
    Cue(
        "fighting",
        (
            r"(?:always|constantly|we) (?:fight|fighting|argue|arguing|bicker|bickering)",
            r"(?:fight|argue|arguing|"
            r"fighting) all the time",
            r"(?:same|another) (?:fight|argument)",
            r"(?:tired|sick) of (?:fighting|"
            r"arguing)",
            r"(?:do|does) not want to (?:fight|argue)",
        ),
        ("worn down", "sad"),
        ("peace", "connection"),
        "the fighting has been wearing you down",
    ),
    Cue(
        "future",
        (
            r"(?:the|our) future",
            r"where (?:this|we|this relationship) (?:is )?going",
            r"(?:get|getting) married",
            r"(?:propose|proposal|engaged|engagement)",
            r"move in together",
            r"(?:have|having) (?:kids|a baby|children) "
            r"(?:someday|one day|soon)",
            r"(?:commit|commitment)",
            r"(?:are|do) (?:we|you) even want",
            r"(?:leave|leaving) me",
        ),
        ("uncertain", "anxious"),
        ("reassurance", "security"),
        "you're not sure where we're headed",
    ),
    Cue(
        "you changed",
        (
            r"(?:you have|you've) changed",
            r"not the (?:same )?(?:person|man|woman) i (?:married|fell for|met)",
            r"(?:i do not|i no longer) (?:even )?(?:know|recognize|recognise) you",
            r"different person",
        ),
        ("sad", "unsettled"),
        ("connection", "reassurance"),
        "I don't feel like the person you knew",
    ),
    Cue(
        "trying hard",
        (
            r"i (?:am|have been) trying (?:so hard|my best|everything)",
            r"i (?:try|tried) (?:and try|so hard|everything|"
            r"my best)",
            r"whatever i do",
            r"no matter what i do",
            r"nothing (?:i do )?(?:works|helps|changes)",
            r"(?:doing|did) (?:my|the) best i can",
        ),
        ("discouraged", "unappreciated"),
        ("acknowledgement", "hope"),
        "you've been putting in real effort without it seeming to count",
    ),
    Cue(
        "parenting load",
        (
            r"the kids",
            r"our (?:kids|children|son|daughter)",
            r"bedtime",
            r"school run",
            r"homework",
            r"daycare",
            r"nappies",
            r"diapers",
            r"the baby (?:up|wakes|cries|crying|screams)",
        ),
        ("stretched thin",),
        ("support", "fairness"),
        None,
    ),
    Cue(
        "afraid of losing",
        (
            r"(?:afraid|scared|terrified|worried) (?:of losing you|you will leave|that you will leave|you are going to "
            r"leave)",
            r"(?:lose|losing) you",
            r"(?:you|he|she) (?:will|would|might) leave me",
            r"(?:leave|left) me "
            r"(?:for|like)",
            r"(?:not|never) good enough for you",
        ),
        ("scared", "insecure"),
        ("reassurance", "security"),
        "part of you fears losing what we have",
    ),
    Cue(
        "sick or hurting",
        (
            r"(?:i am|i have been|i feel|i was) (?:so |really )?(?:sick|ill|unwell|in pain)",
            r"(?:my|the) (?:pain|"
            r"illness|diagnosis|health|doctor|surgery|treatment|migraine|back pain|headaches?)",
        ),
        ("worn down", "worried"),
        ("support", "health"),
        None,
    ),
    Cue(
        "unsure what to do",
        (
            r"(?:do not|does not) know what to do",
            r"(?:do not|does not) know (?:if|whether)",
            r"(?:can not|could not) "
            r"decide",
            r"(?:part of me|half of me)",
            r"on the fence",
            r"(?:i am )?not sure (?:if|whether|what|i)",
        ),
        ("torn", "unsure"),
        ("choice", "understanding"),
        None,
    ),
    Cue(
        "wants to change",
        (
            r"i (?:want|need|would like|have|am going|plan|am trying) to (?:quit|stop|cut down|cut back|lose|change|get "
            r"better|get healthy|be healthier|exercise|eat better)",
            r"(?:quit|quitting|stop|stopping) (?:smoking|"
            r"drinking|vaping|using)",
            r"cut (?:down|back) on",
        ),
        ("ready for something different", "unsure"),
        ("health", "choice"),
        None,
    ),
    Cue(
        "knows but",
        (
            r"i know i (?:should|need to|have to|ought to)",
            r"i know (?:it is|that is|this is) (?:bad|not good|wrong|"
            r"unhealthy)",
            r"(?:everyone|everybody|people|my doctor|the doctor|they) (?:keeps? )?(?:tells?|telling|says?) "
            r"me (?:to|i should|i need)",
        ),
        ("torn", "pressured"),
        ("choice", "understanding"),
        None,
    ),
    Cue(
        "does not want to be told",
        (
            r"(?:stop|quit) (?:telling|lecturing|nagging) me",
            r"(?:my|your) (?:own )?(?:choice|decision|call)",
            r"my (?:body|life),? my (?:choice|rules|decision)",
            r"(?:it is|it's) (?:my|none of your) business",
            r"(?:can|will) (?:make|decide) (?:my|for) (?:own|myself)",
            r"i do not need (?:you|anyone|your help)",
            r"leave me alone",
        ),
        ("pressured", "annoyed"),
        ("choice", "autonomy"),
        "you'd like to make this call for yourself",
    ),
    Cue(
        "alone in the effort",
        (
            r"(?:only|the only) one (?:who )?(?:\w+ )?(?:cares|tries|tried|makes an effort|puts in|fights for|wants this|"
            r"is trying|even tries|bothers)",
            r"(?:always|only|the only) (?:the )?one (?:who )?(?:\w+ )?(?:apologi\w+|says? "
            r"sorry|saying sorry|gives? in|giving in|compromis\w+|reach(?:es|ing)? out|makes? up|initiat\w+)",
            r"(?:i am|i have been) (?:the one )?(?:doing|holding) (?:all )?(?:the work|"
            r"this|us) (?:together|alone|on my own)",
            r"(?:you|he|she) (?:do|does) not (?:even )?(?:try|make an effort)",
        ),
        ("alone", "unappreciated"),
        ("connection", "support"),
        "you've been carrying us on your own",
    ),
    Cue(
        "disrespected",
        (
            r"(?:do|does|did) not respect me",
            r"(?:no|any) respect",
            r"disrespect\w*",
            r"(?:talk|talks|talked|talking) "
            r"down to me",
            r"(?:treat|treats|treated) me like (?:dirt|garbage|nothing|an idiot|a child|crap)",
            r"(?:belittle|belittles|belittled|belittling) me",
            r"(?:roll|rolls|rolled) (?:your|his|her) eyes",
        ),
        ("disrespected", "hurt"),
        ("respect",),
        "you haven't felt respected by me",
    ),
    Cue(
        "not sure anymore",
        (
            r"not sure (?:any ?more|about (?:us|this|you)|how i feel|what i (?:want|feel))",
            r"(?:do not|does not) know "
            r"(?:how i feel|what i want|if i (?:love|want))",
            r"(?:used to be|was|were) (?:so )?happy",
            r"(?:having|have) (?:second thoughts|doubts)",
        ),
        ("unsure", "sad"),
        ("understanding", "connection"),
        None,
    ),
    Cue(
        "at the end of my rope",
        (
            r"can not do this (?:any ?more|now)",
            r"can not take (?:it|this|much more)(?: any ?more)?",
            r"end of my rope",
            r"(?:had|have had) enough",
            r"(?:i am )?done with (?:this|it|everything|all of this)",
            r"(?:running|ran) on empty",
            r"(?:breaking|snapping) point",
            r"too much for me",
        ),
        ("worn down", "overwhelmed"),
        ("support", "rest"),
        "this has become more than you can carry",
    ),
    Cue(
        "frustrated by a habit",
        (
            r"i hate (?:it )?when",
            r"(?:drives|drive) me (?:crazy|nuts|mad|up the wall)",
            r"(?:really )?(?:bugs|annoys|"
            r"irritates|gets to) me",
            r"how many times do i have to",
        ),
        ("frustrated",),
        ("consideration",),
        None,
    ),
    Cue(
        "resigned",
        (
            r"do what(?:ever)? you want",
            r"i give up",
            r"forget it",
            r"never ?mind",
            r"(?:it|that) does not matter "
            r"any ?more",
            r"why (?:do i|should i) (?:even )?bother",
        ),
        ("resigned", "hurt"),
        ("being heard",),
        "you've stopped expecting me to really hear you",
    ),
    Cue(
        "apologizing",
        (
            r"(?:i am|i'm) (?:so |really )?sorry",
            r"i apologi[sz]e",
            r"(?:i|that was) messed up",
            r"i screwed up",
            r"(?:it was|that was|it is) my fault",
            r"i (?:should not|should not have) (?:have )?(?:said|done|yelled)",
        ),
        ("regretful",),
        ("understanding", "peace"),
        "you wish that had gone differently",
    ),
    Cue(
        "good news",
        (
            r"(?:got|landed) (?:the|that|my|a) (?:job|promotion|offer|raise|place|apartment|house|scholarship)",
            r"(?:good|great|amazing|big) news",
            r"i (?:passed|did it|made it|finished|won)",
            r"we (?:did it|made it|won)",
            r"(?:finally|actually) (?:did|got|finished|made)",
            r"(?:accepted|approved)",
        ),
        ("excited", "proud"),
        ("acknowledgement", "connection"),
        None,
    ),
    Cue(
        "hopeless change",
        (
            r"(?:there is )?no point",
            r"(?:never|not) going to (?:change|get better|work)",
            r"(?:what is|what's) the "
            r"point",
            r"(?:why|how) (?:even )?bother",
            r"(?:always|forever) be like this",
            r"(?:given|gave) up",
        ),
        ("discouraged", "stuck"),
        ("hope",),
        "it's hard to believe things can change",
    ),
)

# Feelings that are good to have; mixed with hard ones they are joined with "and, at the same time".
PLEASANT: frozenset[str] = frozenset(
    {
        "happy",
        "glad",
        "excited",
        "grateful",
        "relieved",
        "proud",
        "hopeful",
        "loved",
        "appreciated",
        "content",
        "calm",
        "safe",
        "close",
        "connected",
        "determined",
        "motivated",
        "ready",
        "curious",
        "ready for something different",
    }
)

# Stems vary so the alternatives do not read like one template.
CHECKS: tuple[str, ...] = (
    "Did I get that right?",
    "Is that close?",
    "Am I understanding you?",
    "Is that how it feels?",
    "Have I got that right?",
)

# Output must never slip into advice, blame or diagnosis; the reflector checks its own sentences against these.
ADVICE_MARKERS: tuple[str, ...] = (
    "you should",
    "why don't you",
    "why do not you",
    "you need to",
    "you must",
    "have you tried",
    "have you considered",
    "i suggest",
    "my advice",
    "it would help if you",
    "just relax",
    "calm down",
    "get over it",
    "overreacting",
    "narcissist",
    "toxic",
    "disorder",
    "you're being dramatic",
)
