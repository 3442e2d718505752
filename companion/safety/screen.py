"""The safety screen: every statement is checked for a crisis before any reflection is attempted.

A crisis (suicide or self-harm, violence or threats, sexual coercion, coercive control, danger to a child) gets a calm,
direct message and offline resources for the person's region instead of a reflection. The screen is rule-based on
purpose: it is predictable, explainable, runs without a model, and can be audited against the labelled set in
tests/data/safety_statements.jsonl (scripts/eval_safety.py reports recall and false-positive rate).

How it reads a statement:
1. normalise (Unicode, curly quotes, case, control characters) and spell contractions out ("won't" -> "will not");
2. blank out idioms that only look dangerous ("this fight is killing me", "I'd kill for a coffee", "shoot me a text");
3. match each category's patterns; both first-person words and the partner's words as reported are caught, because the
   patterns name the act and its target, not the speaker ("she said she wants to die", "he said he'd hurt the kids").

Negation, decided:
- Suicide and self-harm: ANY mention still shows the message, negated or not ("I'm not going to hurt myself"). People
  in danger often minimise, and a calm message with a phone number costs little when it was not needed.
- Violence, coercion, control and danger to children: a negation right before the act ("he would never hit me", "she
  has never hurt the kids") is reassurance, not a report, so it does not trigger on its own. Any other match in the
  same text still does ("he has never hit me, but he threatened to kill me").

A trained second layer (companion/safety/semantic.py: a head over MiniLM vectors of the whole text and each sentence)
screens what the rules did not flag whenever an embedder is available: screen(text, region,
semantic=SemanticScreen(embedder)). Its confident hits are "crisis" like a rule hit (the message replaces the
reflection); its less confident ones are "check_in": the reflection is still given, with a short note and the same
resources under it.

Privacy: the only thing logged is the event "safety message shown", never the text or the category.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from companion.logs import get_logger
from companion.text import split_sentences, straighten_quotes, strip_terminal_codes

RESOURCES_FILE = Path(__file__).resolve().parent.parent / "data" / "crisis_resources.toml"
FALLBACK_REGION = "INTERNATIONAL"

# Most urgent first: when a statement touches several, the message speaks to the first.
CATEGORIES = ("suicide_self_harm", "child_danger", "violence", "sexual_coercion", "coercive_control")

_log = get_logger("safety")


@dataclass(frozen=True)
class SafetyAssessment:
    """What to show: level "crisis" replaces the reflection; "check_in" goes under it (None from screen(): neither)."""

    level: str
    category: str
    message: str
    resources: list[str]
    categories: tuple[str, ...] = ()
    region: str = "US"
    layer: str = "rules"  # "semantic" when only the second layer (safety/semantic.py) found the crisis

    def as_dict(self) -> dict:
        return {"level": self.level, "message": self.message, "resources": list(self.resources)}


# ---- normalising ---------------------------------------------------------------------------------


# Contractions spelled out so every pattern is written once ("won't" and "will not" alike).
_CONTRACTIONS = [
    (r"\bwon't\b", "will not"),
    (r"\bcan't\b", "can not"),
    (r"\bcannot\b", "can not"),
    (r"\bain't\b", "is not"),
    (r"\bshan't\b", "shall not"),
    (r"n't\b", " not"),
    (r"'ll\b", " will"),
    (r"'d\b", " would"),
    (r"'m\b", " am"),
    (r"'re\b", " are"),
    (r"'ve\b", " have"),
    (r"\b(he|she|it|that|there|who|what)'s\b", r"\1 is"),
    # The same words typed without apostrophes, as people often do on a phone.
    (r"\bwont\b", "will not"),
    (r"\bdont\b", "do not"),
    (r"\bdoesnt\b", "does not"),
    (r"\bdidnt\b", "did not"),
    (r"\bcant\b", "can not"),
    (r"\bisnt\b", "is not"),
    (r"\bwouldnt\b", "would not"),
    (r"\bim\b", "i am"),
    (r"\bive\b", "i have"),
    (r"\bhes\b", "he is"),
    (r"\bshes\b", "she is"),
    (r"\bgonna\b", "going to"),
    (r"\bwanna\b", "want to"),
    (r"\bgotta\b", "got to"),
    (r"\bkms\b", "kill myself"),
    (r"\bkys\b", "kill yourself"),
    (r"\bunaliv(e|ed|ing)\b", r"kill"),
]
_CONTRACTION_RES = [(re.compile(p), r) for p, r in _CONTRACTIONS]


def normalise(text: str) -> str:
    """Lower-case plain text with contractions spelled out; what every pattern below is written against."""
    text = unicodedata.normalize("NFKC", text)
    text = strip_terminal_codes(text)
    text = straighten_quotes(text)
    text = text.lower()
    for pattern, replacement in _CONTRACTION_RES:
        text = pattern.sub(replacement, text)
    return re.sub(r"[ \t\r\f\v]+", " ", text)


# ---- idioms that look dangerous and are not ----------------------------------------------------------

_BODY = r"(?:feet|foot|back|head|legs?|knees?|neck|shoulders?|stomach|eyes|tooth|teeth|hands?|wrists?|hips?|ears?)"
# Joke threats: the verb, who it is aimed at, and the small offence that shows it is a joke.
_JOKE_THREAT = r"kill|murder|strangle|throttle|slaughter|end"
_JOKE_TARGET = r"you|me|him|her|them|us|whoever|my (?:\w+ )?\w+"
_TRIVIAL = (
    r"eat|eats|ate|eating|finish|finishes|finished|finishing|spoil|spoils|spoiled|spoilt|spoiling|use|uses|used|using|"
    r"touch|touches|touched|sing|sings|singing|hum|hums|humming|move|moves|moved|moving|lose|loses|losing|lost|forget|"
    r"forgets|forgot|forgetting|steal|steals|stole|stealing|drink|drinks|drank|borrow|borrows|borrowed|"
    r"book|booking|booked|leave the|leaves the|left the|leaving the|put|puts|am late|are late|is late|be "
    r"late|was late|were late|being late|cheer|cheers|wake|wakes|woke|snore|snores|snoring|skip|skips|miss|misses|"
    r"missed|take the last|took the last|spill|spills|spilled|spilt|scratch|scratches|scratched|chew|chews|chewed|"
    r"shrink|shrinks|shrank|burn the|burns the|burnt the|burned the|beat me at|beats me at|spoiler"
)
_IDIOMS = [
    r"\b(?:is|are|am|was|were|been|be|keeps?|kept|it is|that is) (?:\w+ )?killing (?:me|us|him|her)\b",
    r"\bmy " + _BODY + r" (?:\w+ )?(?:is|are|was|were) killing me\b",
    r"\bkilling me softly\b",
    r"\b(?:dying|dyin) (?:to|for)\b",
    r"\bdie (?:of|from) (?:embarrassment|shame|laughter|laughing|boredom|curiosity|happiness|cuteness|jealousy|envy|"
    r"old age|thirst|hunger|excitement)\b",
    r"\bto die for\b",
    r"\bdie laughing\b",
    r"\bdied laughing\b",
    r"\bdying (?:of|from) laughter\b",
    r"\b(?:nearly|almost|could have|would have|could've|would've) died\b",
    r"\bi could (?:just |have )?die\b",
    r"\b(?:bored|scared|scares|scaring|frightened|worried|sick|tired|freezing|loved|love|worked|work|talked)"
    r" (?:me |him |her |us )?to death\b",
    r"\b(?:the )?death of (?:me|us)\b",
    r"\bdead (?:tired|on my feet|serious|set|end|wrong|last|center|heat)\b",
    r"\bi am (?:so |literally |actually )?dead\b(?! (?:serious|set))",
    r"\b(?:phone|battery|car|laptop|plants?|conversation|party|engine|tv|remote|charger|mood)(?: \w+)?"
    r" (?:died|is dead|was dead|is dying|has died)\b",
    r"\bkill(?:ed|ing|s)? (?:it|time|the (?:mood|lights|engine|vibe|conversation|music|buzz|bugs?|spider|weeds|"
    r"motor|bottle|deal|idea|joke)|two birds|my buzz|a bottle|that spider|the competition)\b",
    r"\b(?:could|would|i would) (?:\w+ )?kill (?:for|to (?:have|be|see|get|go|know))\b",
    r"\bkill for (?:a|an|some|that|this)\b",
    r"\bi could (?:just |honestly |seriously |literally |easily )?(?:kill|strangle|murder|throttle|wring)\b",
    r"\b(?:going to|will|would|is going to) kill (?:me|us|you) when (?:she|he|they|mom|mum|dad|my \w+) "
    r"(?:finds? out|sees?|hears?|gets? (?:home|back)|notices?)\b",
    r"\b(?:mom|mum|dad|mother|father|boss|teacher|coach|grandma|grandpa) (?:is going to|will) kill (?:me|us)\b",
    r"\bshoot (?:me|him|her|us|them) (?:a|an) (?:text|message|email|e-mail|line|note|call|dm|quick|reply)\b",
    r"\bshoot (?:me|him|her|us) (?:a )?(?:text|message|email|dm)\b",
    r"\b(?:just )?shoot me now\b",
    r"\bshoot (?:for|the breeze|hoops|the messenger|a video|a film|photos|pictures|some hoops)\b",
    r"\b(?:blow|blowing|blew) off steam\b",
    r"\b(?:career|social|political|financial|commercial|fashion|relationship) suicide\b",
    r"\bsuicide (?:squad|mission|run|doors|lane|prevention|awareness|hotline|watch)\b",
    r"\bdrop dead gorgeous\b",
    r"\bdead inside\b",
    r"\bbeat (?:me|him|her|us|them|you) (?:to it|at|in|to the|by)\b",
    r"\bbeat (?:the|my|his|her) (?:traffic|record|deadline|odds|heat|eggs|rush|clock|high score)\b",
    r"\bpunch(?:ed|ing)? (?:a |the )?(?:clock|card|numbers|line|in)\b",
    r"\bhit (?:me|us|him|her) up\b",
    r"\bhit (?:me|us) with\b",
    r"\bhit it off\b",
    r"\bhit the (?:gym|road|sack|hay|bar|spot|jackpot|nail|roof|ceiling|books|brakes|wall|ground|snooze|shops)\b",
    r"\b(?:it|that|this|reality|realization|realisation|the (?:news|realization|reality|thought|fact|truth))"
    r"(?: (?:will|would|just|finally|really|suddenly|has|had|all|kind of|sort of|then))* (?:hit|hits|hitting) "
    r"(?:me|him|her|us)\b",
    r"\bchoked (?:up|on)\b",
    r"\bchoke (?:up|on)\b",
    r"\bbaby (?:\w+ )?kick(?:s|ed|ing)?\b",
    r"\bkick(?:s|ed)? (?:me|him|her|us) out\b",
    r"\bpush(?:es|ed)? (?:me|him|her|us) (?:away|to|too)\b",
    r"\bsmash(?:ed)? it\b",
    r"\bcrushing it\b",
    r"\bslay(?:ed|ing)? it\b",
    r"\b(?:hurt|hurts|hurting) (?:my|his|her|your|our|their) (?:feelings|pride|ego|chances|back|knee|ankle|wrist|"
    r"shoulder|neck|foot|leg|arm|hand|head)\b",
    # Accidental injuries and overwork, not self-harm.
    r"\b(?:hurt|cut|burn|burnt|burned|injured|scratched) (?:my|him|her)self (?:\w+ )?(?:at|lifting|on|while|in the|"
    r"playing|running|falling|skiing|shaving|cooking|chopping|slicing|doing|during|with (?:a|the) (?:knife|saw|"
    r"scissors|razor)|by accident|accidentally|opening|fixing|moving|carrying|climbing|cleaning|gardening)\b",
    r"\b(?:nearly|almost) (?:killed|kill) (?:my|him|her)self\b",
    r"\b(?:am|are|is|been|keep|kept|keeps|was|were) killing (?:my|him|her)self (?:to|at|for|over|trying|working|"
    r"with work|at work|at the gym|in the gym)\b",
    r"\bcut (?:my|him|her)self off\b",
    r"\boverdos\w* on (?:netflix|tv|chocolate|sugar|caffeine|coffee|candy|"
    r"cake|work|shows|news|screen time)\b",
    r"\bcan not go on (?:like|with|this|pretending|doing|fighting|arguing|the way|any longer like|being)\b",
    r"\b(?:it|this|that|the divorce|divorce|our divorce|fighting|our fighting|arguing|our arguing|yelling|all this|"
    r"the move|moving|the yelling|screen time)(?: \w+){0,3} (?:will|would|could|might|is going to)? ?"
    r"(?:hurt|hurts|harm|harms|hurting|harming) (?:the|our|my) (?:kids|children|son|daughter|baby)\b",
    r"\bthreat(?:en|ens|ened|ening) (?:me|her|him|us) with (?:divorce|leaving|a breakup|breaking up|a lawyer|"
    r"the silent treatment|couples therapy|counseling|counselling)\b",
    r"\bthreat(?:en|ens|ened|ening) to (?:leave|break up|move out|tell|quit|cancel|call my mom|call my mum)\b",
    # A "threat" over a trivial act is a joke ("I'll kill you if you eat my cake"); the act is what tells.
    rf"\b(?:will|would|going to|is going to|am going to|threat(?:en|ens|ened|ening) to|swear i will) "
    rf"(?:{_JOKE_THREAT}) (?:{_JOKE_TARGET})(?: \w+){{0,3}},? (?:if|for|when|because|since) (?:you |i |he |she |they |we "
    rf"|anyone |someone |anybody )?(?:ever |dare |even |keep |keeps )?(?:{_TRIVIAL})\b",
    rf"\b(?:going to|will) (?:{_JOKE_THREAT}) (?:{_JOKE_TARGET}),? (?:he|she|they|you) (?:\w+ )?(?:{_TRIVIAL})\b",
    rf"\bif (?:you|he|she|they|anyone|anybody) (?:\w+ ){{0,2}}(?:{_TRIVIAL})\b(?: [\w']+){{0,6}},? (?:i|she|he|they|mum|"
    rf"mom|dad) (?:will|would|am going to|is going to|swear i will) (?:{_JOKE_THREAT}) (?:you|me|him|her|them)\b",
    r"\b(?:touch|eat|finish|drink|steal|take) (?:my|the last|our|her|his) (?:\w+ ){0,2}and (?:you are|you will be) "
    r"(?:dead|toast|dead meat|history)\b",
    r"\bdead meat\b",
    # "I'd rather die than sit through that meeting": dying preferred to a chore, not to living.
    r"\b(?:rather|sooner) die than (?!(?:live|living|go on|going on|go through|be\b|being\b|stay|keep|carry|"
    r"face|wake|spend|have to|put up|come back|see|let|lose|feel|deal|exist|stay))",
    r"\bjump (?:off a bridge|out (?:of )?(?:the|a) window) (?:if|when) (?:\w+ ){0,3}(?:lose|loses|lost|win|wins|won|draw|"
    r"again|runs over|ran over|drags on)\b",
    # Films, news and games retold: the rest of that sentence is the story, not the speaker's life.
    r"\b(?:watched|watching|watch|saw|read|reading|heard|listened to|listening to|binged|bingeing|playing|played|"
    r"finished) (?:a|an|the|this|that|some|another) (?:\w+ ){0,3}(?:film|movie|show|series|documentary|thriller|drama|"
    r"novel|book|podcast|episode|game|play|comic|article|news piece|report|segment|biography|true-crime \w+)"
    r"[^.!?;]*?(?=$|[.!?;]| (?:and|but|so) (?:now )?(?:i|it)\b)",
    r"\bthe (?:news|radio|podcast|article|documentary|report|paper)(?: \w+)? (?:had|covered|ran|did|was about|"
    r"talked about)[^.!?;]*?(?=$|[.!?;]| (?:and|but|so) (?:now )?(?:i|it)\b)",
    r"\bin (?:the|my|this|that) (?:\w+ )?(?:game|film|movie|show|book|novel|series|play)\b[^.!?;]*?"
    r"(?=$|[.!?;]| (?:and|but|so) (?:now )?(?:i|it)\b)",
    r"\b(?:this|that|it|work|school|uni|the (?!(?:man|guy|woman|person|bloke|girl|boy)\b)\w+) (?:\w+ )?(?:is|are|will|"
    r"would) (?:going to |gonna )?(?:kill|murder) (?:me|us)\b",
    r"\b(?:gave|giving|give|gives) away (?:my|his|her|their|our|the kids') (?:\w+ ){1,2}(?:before (?:the|we|our) "
    r"(?:move|moving)|because (?:i|we|he|she) never (?:use|used|play|played)|to (?:the )?charity|they have outgrown)",
    r"\b(?:smack|smacked|hit|whack|whacked|thump|thumped|bop|bopped)\w* (?:me|him|her|us) (?:playfully |gently )?with "
    r"(?:a|the) (?:pillow|cushion|newspaper|tea towel)\b",
    r"\bi (?:used to|stopped|have stopped|no longer) (?:\w+ ){0,3}(?:check|checking|read|reading|go through|going "
    r"through) (?:his|her|their) phone\b",
]
_IDIOM_RE = re.compile("|".join(f"(?:{p})" for p in _IDIOMS))


def _blank_idioms(text: str) -> str:
    return _IDIOM_RE.sub(" ~ ", text)


# ---- the patterns ------------------------------------------------------------------------------------

_PERSON = (
    r"(?:me|her|him|them|us|you|my (?:wife|husband|partner|girlfriend|boyfriend|mom|mum|mother|dad|father|sister|"
    r"brother|friend|ex)|his (?:wife|girlfriend|partner|ex)|her (?:husband|boyfriend|partner|ex)|someone|somebody)"
)
_CHILD = (
    r"(?:(?:the|my|our|his|her|their|your|a|that) (?:\w+ )?(?:kids?|children|child|baby|babies|sons?|daughters?|"
    r"toddlers?|boy|girl|boys|girls|stepsons?|stepdaughters?|stepkids|infant|newborn|little ones?)|kids|children)"
)
_INTENT = (
    r"(?:will|would|shall|going to|about to|want(?:s|ed)? to|wanting to|threat(?:en|ens|ened|ening) to|tried to|"
    r"try to|trying to|might|may|could|plan(?:s|ned|ning)? to|swore to|promised to|is going to|was going to|"
    r"said (?:he|she|they) would|says (?:he|she|they) will|told me (?:he|she|they) would)"
)
_HARM = (
    r"(?:hurt|harm|kill|murder|hit|beat|beat up|punch|slap|choke|strangle|stab|shoot|attack|smother|drown|burn|"
    r"shake|throw|break (?:my|your|his|her|their) (?:neck|arm|arms|legs?|jaw|face|nose))"
)
_PAST_BLOW = (
    r"(?:hit|hits|hitting|punched|punches|punching|slapped|slaps|slapping|choked|chokes|choking|strangled|"
    r"strangles|strangling|kicked|kicks|kicking|shoved|shoves|shoving|beat|beats|beating|beat up|beats up|"
    r"stabbed|attacked|attacks|smacked|smacks|headbutted|bit|elbowed)"
)
_NEGATORS = {"not", "never", "no", "nobody", "hardly", "neither", "nor"}

_CHILD_NOUN = re.compile(
    r"\b(?:kids?|children|child|baby|babies|sons?|daughters?|toddlers?|stepsons?|stepdaughters?|stepkids|infant|"
    r"newborn|little ones?)\b"
)


@dataclass(frozen=True)
class _Rule:
    category: str
    pattern: re.Pattern
    negatable: bool = False  # a negation right before group "v" turns the match into reassurance


def _rule(category: str, pattern: str, negatable: bool = False) -> _Rule:
    return _Rule(category, re.compile(pattern), negatable)


_RULES: list[_Rule] = [
    # --- suicide and self-harm (never negatable) ---
    _rule("suicide_self_harm", r"\bsuicid\w*"),
    _rule("suicide_self_harm", r"\bkill(?:s|ed|ing)? (?:my|your|him|her|them|our|one)sel(?:f|ves)\b"),
    _rule("suicide_self_harm", r"\bend(?:s|ed|ing)? (?:it all|(?:my|his|her|their|your) (?:own )?life)\b"),
    _rule("suicide_self_harm", r"\b(?:take|took|taking|takes) (?:my|his|her|their|your) (?:own )?life\b"),
    _rule(
        "suicide_self_harm",
        r"\b(?:want(?:s|ed)?|wanting|wish(?:es|ed)?|going|plan(?:s|ned|ning)?|ready|"
        r"deserve(?:s|d)?|need(?:s|ed)?|prefer|like) to (?:just )?(?:die|be dead|not exist|stop existing|"
        r"not be alive|not wake up)\b",
    ),
    _rule(
        "suicide_self_harm",
        r"\bwish(?:es|ed)? (?:i|he|she|they) (?:was|were|had been|would be) (?:dead|never born|"
        r"not alive|gone for good)\b",
    ),
    _rule("suicide_self_harm", r"\bwish(?:es|ed)? (?:i|he|she) had never been born\b"),
    _rule("suicide_self_harm", r"\b(?:would|'d) (?:rather|sooner) (?:be dead|die|not be alive|not exist)\b"),
    _rule(
        "suicide_self_harm",
        r"\bbetter off (?:dead|without (?:me|him|her) (?:around|alive|here)|without me|if i "
        r"(?:was|were) (?:dead|gone|not here|not around))\b",
    ),
    _rule(
        "suicide_self_harm",
        r"\b(?:no one|nobody|no-one) would (?:even )?(?:miss|notice|care if|care when) "
        r"(?:me|i)\b",
    ),
    _rule(
        "suicide_self_harm",
        r"\b(?:do|does|did) not want to (?:live|be alive|exist|wake up|be around|go on)"
        r"(?: any ?more)?(?= *(?:[.,!?;:]|$|and\b|but\b|because\b|or\b|anymore\b))",
    ),
    _rule(
        "suicide_self_harm",
        r"\b(?:no|any|what is the|there is no) (?:reason|point) (?:in |to |of )?(?:living|live|"
        r"going on|go on|keep going|being alive|being here|staying alive|stay alive)\b",
    ),
    _rule("suicide_self_harm", r"\bnothing (?:left )?to live for\b"),
    _rule("suicide_self_harm", r"\b(?:life|living) (?:is|was) not worth (?:living|it)\b"),
    _rule("suicide_self_harm", r"\bcan not go on(?: any ?more| anymore)?(?= *(?:[.,!?;:]|$|and\b|but\b))"),
    _rule(
        "suicide_self_harm",
        r"\b(?:hurt|hurts|hurting|harm|harms|harming|cut|cuts|cutting|burn|burns|burning|"
        r"starve|starving|starves|punish|punishing) (?:my|him|her|them|your)sel(?:f|ves)\b",
    ),
    _rule("suicide_self_harm", r"\bself[- ]?(?:harm|harming|injury|injure|injuring|mutilat\w*)\b"),
    _rule(
        "suicide_self_harm",
        r"\b(?:started|start|been|is|was|caught (?:her|him) ?) ?cutting (?:again|herself|"
        r"himself|her arms|his arms|her wrists|his wrists)\b",
    ),
    _rule("suicide_self_harm", r"\b(?:cut|cuts|slit|slash(?:ed)?) (?:my|his|her|their) wrists\b"),
    _rule("suicide_self_harm", r"\boverdos\w*\b"),
    _rule(
        "suicide_self_harm",
        r"\b(?:take|took|taking|swallow|swallowed|swallowing) (?:all|a bunch|a handful|a "
        r"whole bottle|too many|the whole bottle|every one)(?: of)? (?:my |his |her |the |those |these )?"
        r"(?:pills|sleeping pills|tablets|meds|medication|painkillers)\b",
    ),
    _rule(
        "suicide_self_harm",
        r"\b(?:saving|stockpiling|hoarding|collecting) (?:up )?(?:my |his |her )?(?:pills|"
        r"sleeping pills|tablets|meds|painkillers)\b",
    ),
    _rule(
        "suicide_self_harm",
        r"\b(?:jump|jumping|jumped|throw (?:my|him|her)self|step|stepping) (?:off|from|in "
        r"front of|under) (?:a|the) (?:bridge|building|roof|cliff|balcony|train|bus|car|truck|lorry)\b",
    ),
    _rule("suicide_self_harm", r"\bhang(?:ing|ed)? (?:my|him|her|them)sel(?:f|ves)\b"),
    _rule(
        "suicide_self_harm",
        r"\b(?:gave|giving|gives|give) away (?:all )?(?:my|his|her|their) (?:things|stuff|"
        r"belongings|possessions|guitar|prized)\b",
    ),
    _rule(
        "suicide_self_harm",
        r"\b(?:wrote|writing|written|left|leaving) (?:a |me a |us a )?(?:goodbye|suicide|"
        r"farewell) (?:note|letter|message)\b",
    ),
    _rule("suicide_self_harm", r"\b(?:go to sleep|fall asleep|sleep) and (?:never|not) wake up\b"),
    _rule(
        "suicide_self_harm",
        r"\bdisappear(?:s|ed|ing)? (?:forever|for good|and never come back|permanently)\b",
    ),
    _rule(
        "suicide_self_harm",
        r"\b(?:be|being) (?:around|here|alive) (?:much|for much|for very much|a lot) longer\b",
    ),
    _rule(
        "suicide_self_harm",
        r"\b(?:think|thinks|thinking|thought|thoughts) (?:about|of) (?:just )?(?:dying|death|ending "
        r"it|ending things|not being (?:here|alive|around)|not waking up|killing)\b",
    ),
    _rule(
        "suicide_self_harm",
        r"\b(?:no|not see the|not see any|what is the) point (?:of|in) (?:waking up|getting up "
        r"any ?more|tomorrow)\b",
    ),
    _rule(
        "suicide_self_harm",
        r"\bwill not (?:be around|be here|be a (?:problem|burden)) (?:much longer|for much "
        r"longer|anymore|soon)\b",
    ),
    _rule(
        "suicide_self_harm",
        r"\b(?:ways|how|methods|the best way|easiest way) to (?:die|kill (?:my|him|her|them)"
        r"sel(?:f|ves)|end (?:it all|my life|his life|her life)|overdose|not wake up)\b",
    ),
    _rule(
        "suicide_self_harm",
        r"\b(?:world|everyone|everybody|family|you|they|all of you|things|life)(?: \w+){0,4} "
        r"(?:better|easier|happier|lighter)(?: \w+){0,3} (?:if|when) (?:i|he|she) (?:just )?(?:was|were|am|is) not "
        r"(?:here|around|alive|in it|in the world|breathing)\b",
    ),
    _rule("suicide_self_harm", r"\bnoose\b"),
    # Means worked out, belongings given away, farewells written, a car aimed at something hard.
    _rule(
        "suicide_self_harm",
        r"\bhow many (?:of )?(?:my |his |her |the |those |these )?(?:pills|tablets|sleeping pills|"
        r"painkillers|meds)\b(?: [\w']+){0,4} (?:it would take|would (?:do it|be enough|kill)|to (?:take|die|not wake))",
    ),
    _rule(
        "suicide_self_harm",
        r"\b(?:giv\w+|gave) (?:all )?(?:of )?(?:my|his|her|their) (?:things|stuff|belongings|"
        r"possessions) away\b",
    ),
    _rule(
        "suicide_self_harm",
        r"\b(?:steer|steering|swerve|swerving|veer|veering|crash|crashing|drive|driving)"
        r"(?: \w+){0,2} into (?:the|a|oncoming) (?:barrier|barriers|wall|tree|bridge|pillar|lorry|truck|traffic|"
        r"central reservation|river|sea|bus)\b",
    ),
    _rule(
        "suicide_self_harm",
        r"\b(?:written|wrote|writing|write|left|leaving) (?:letters|notes|a letter|a note) "
        r"(?:to|for) (?:everyone|everybody|each of (?:you|them|the kids)|all of (?:you|them)|my family|the kids)\b",
    ),
    _rule("suicide_self_harm", r"\b(?:tired|sick) of (?:being alive|living|life|existing|being here)\b"),
    _rule(
        "suicide_self_harm",
        r"\bno (?:way out|escape) (?:for (?:me|him|her|them)|except|but)\b|\bthe only way out\b",
    ),
    _rule("suicide_self_harm", r"\b(?:do|does|did) not (?:want|wanna) to wake up\b"),
    _rule(
        "suicide_self_harm",
        r"\b(?:covered in|fresh|new|hiding (?:the|her|his)) (?:cuts|scars|burns)\b|\b(?:cuts|"
        r"scars|burns) (?:on|all over) (?:my|her|his|their) (?:arms|wrists|thighs|legs|stomach|body)\b",
    ),
    _rule(
        "suicide_self_harm",
        r"\b(?:drive|driving|crash|crashing|steer|steering) (?:my|his|her|the|their) car "
        r"(?:into|off) (?:a|the) (?:wall|tree|bridge|river|cliff|oncoming traffic|traffic|truck)\b",
    ),
    _rule(
        "suicide_self_harm",
        r"\b(?:bought|buying|got|getting|has|hid|hiding|hides|keeps) (?:a |some |a lot of )?"
        r"(?:rope|gun|pills|razor blades)\b(?: \w+){0,6}(?: (?:and )?(?:i|we) (?:do|does|did) not know (?:why|what "
        r"for)| for no reason| and (?:will|would) not (?:say|tell me) (?:why|what for))",
    ),
    _rule(
        "suicide_self_harm",
        r"\b(?:i am|i feel like|i feel|i have become|i am just) (?:such )?a burden (?:to|on) "
        r"(?:everyone|you|all of you|my family|this family)\b",
    ),
    # --- danger to children (before violence, so a threat to the kids reads as that) ---
    _rule(
        "child_danger",
        rf"\b{_INTENT} (?:\w+ )?(?P<v>{_HARM}|take (?:off|away) with) {_CHILD}\b",
        negatable=True,
    ),
    _rule(
        "child_danger",
        rf"\b(?P<v>{_PAST_BLOW}|shook|shakes|shaking|threw|throws|abused|abuses|abusing|burned|"
        rf"burns|hurt|hurts|hurting|harmed|harms|harming|molested|molests|molesting|whipped|whips|bruised|starves|"
        rf"starved|locks up|locked up) {_CHILD}\b",
        negatable=True,
    ),
    _rule(
        "child_danger",
        rf"\b(?P<v>touch(?:es|ed|ing)?|fondl\w+) {_CHILD} (?:inappropriately|sexually|down "
        r"there|in (?:a|the) wrong way|in private places|under (?:her|his|their) clothes)\b",
        negatable=True,
    ),
    _rule("child_danger", rf"\b(?:locks|locked|lock|locking) {_CHILD} (?:in|inside|up|out)\b"),
    _rule("child_danger", r"\bmolest\w*\b"),
    _rule(
        "child_danger",
        r"\b(?:hits?|hitting|spanks?|spanking|spanked|beats?|beating|whips?|whipped|whipping) "
        r"(?:[\w-]+ ){0,3}(?:with (?:a|his|her|the) (?:belt|stick|cord|wooden spoon|shoe|hanger|paddle)|until (?:she|he|"
        r"they) (?:bruises?|bleeds?|cries|can not))\b",
    ),
    _rule("child_danger", r"\b(?:child|kid) (?:abuse|porn\w*|sexual abuse)\b"),
    _rule(
        "child_danger",
        r"\b(?P<v>leaves|left|leaving|leave|forgets|forgot|forgetting|forget) (?:the |my |our |"
        r"his |her )?(?:\w+ )?(?:kids?|children|baby|toddler|son|daughter|\w+-year-old|little ones?)(?: \w+)? "
        r"(?:alone (?:all|for|overnight|at night|in the|while)|home alone|in the (?:car|bath|bathtub|tub|pool)|in a "
        r"hot car|unattended|by (?:them|him|her)sel(?:f|ves) all)\b",
        negatable=True,
    ),
    _rule(
        "child_danger",
        r"\b(?:drunk|high|wasted|drinking|intoxicated|stoned|blackout)\b(?: \w+){0,6} (?:with|while "
        r"(?:watching|driving|looking after|caring for|minding)) (?:the |my |our |his |her )?(?:kids|children|baby|"
        r"son|daughter|toddler)\b",
    ),
    _rule(
        "child_danger",
        r"\bdrives? (?:the |my |our )?(?:kids|children|baby|son|daughter)(?: \w+){0,4} (?:drunk|"
        r"high|after drinking|wasted)\b",
    ),
    _rule(
        "child_danger",
        r"\b(?:kids|children|baby|son|daughter|they) (?:are|is) not safe (?:with|around) "
        r"(?:him|her|them|my \w+|his \w+)\b",
    ),
    _rule(
        "child_danger",
        r"\b(?:scared|afraid|terrified|worried) (?:of )?what (?:he|she|they) (?:will|would|might|"
        rf"could) do to {_CHILD}\b",
    ),
    # --- violence and threats ---
    _rule("violence", rf"\b{_INTENT} (?:\w+ )?(?P<v>{_HARM}) {_PERSON}\b", negatable=True),
    _rule("violence", rf"\b(?P<v>{_PAST_BLOW}) (?:\w+ )?{_PERSON}\b", negatable=True),
    _rule(
        "violence",
        r"\b(?P<v>pushed|pushes|shoved|shoves|threw|throws|slammed|slams|pinned|pins|dragged|drags) "
        r"(?:me|her|him|us) (?:down|into|against|onto|across|over|out of|off|to the (?:floor|ground|wall))\b",
        negatable=True,
    ),
    _rule(
        "violence",
        r"\b(?P<v>grabbed|grabs|grabbing|held|holds) (?:me|her|him) by the (?:arm|arms|throat|hair|neck|"
        r"wrist|wrists|shoulders|face|jaw)\b",
        negatable=True,
    ),
    _rule(
        "violence",
        r"\b(?P<v>threw|throws|threw things|hurled|hurls|flung) (?:a |the |his |her |my )?(?:\w+ ){0,2}"
        r"at (?:me|her|him|us|my head|her head|his head)\b",
        negatable=True,
    ),
    _rule(
        "violence",
        r"\b(?P<v>threat(?:en|ens|ened|ening)) (?:me|her|him|us|my life|to kill|to hurt|to harm|to "
        r"shoot|to stab|to beat|to burn|to break)\b",
        negatable=True,
    ),
    _rule(
        "violence",
        r"\b(?:scared|afraid|terrified|frightened) (?:to go home|of going home|to be (?:at )?home|to "
        r"be alone with (?:him|her)|to sleep at home|for my safety)\b",
    ),
    _rule(
        "violence",
        r"\bwhat (?:he|she|they) (?:said|says|threatened|swore) (?:he|she|they) (?:would|will) do\b",
    ),
    _rule("violence", r"\bdeath threats?\b"),
    _rule(
        "violence",
        r"\b(?:put|puts|putting|had|wrapped|wraps|squeezed) (?:his|her|their|both) hands? (?:around|on|"
        r"over) (?:my|her|his|your) (?:neck|throat|mouth)\b",
    ),
    _rule(
        "violence",
        r"\b(?:burn|set fire to|torch) (?:the|our|my|your|his|her) (?:house|home|place|apartment|flat|"
        r"car)(?: down)?\b(?: \w+){0,3} (?:with (?:me|us|her|him|you|the kids) (?:in|inside)|if|while)\b",
    ),
    _rule(
        "violence",
        r"\b(?:punched|punches|kicked|kicks|smashed|smashes|broke|breaks|hit|hits) (?:a hole in |"
        r"holes in )?(?:the|a) (?:wall|door|window|table|mirror)(?: \w+){0,4} (?:next to|near|beside|by|behind|"
        r"above|inches from) (?:my|her|his|your) (?:head|face)\b",
    ),
    _rule(
        "violence",
        r"\bnext time (?:it is|it will be|it would be) (?:me|you|her|him|your face|your head|my face)\b",
    ),
    _rule(
        "violence",
        r"\b(?:held|put|pressed|holds|puts|presses) (?:a|the|his|her) (?:knife|gun|blade|pistol|"
        r"razor) (?:to|against|at) (?:my|her|his|your|their|our) (?:throat|head|neck|chest|face|side)\b",
    ),
    _rule(
        "violence",
        r"\b(?:pointed|points|pointing|aimed|aims|waved|waves|waving|pulled|pulls|brandished|"
        r"brandishes|came at (?:me|her|him) with) (?:a|the|his|her|my) (?:gun|knife|rifle|pistol|weapon|shotgun|"
        r"machete|blade|bat|hammer)\b",
    ),
    # A loaded gun kept at hand in the home is one of the strongest warning signs there is, whoever says it.
    _rule(
        "violence",
        r"\b(?:keep|keeps|kept|keeping|has|have|had|got|leaves|left|sleeps with|hides|hid)\b(?: [\w']+){0,4} "
        r"(?:gun|rifle|shotgun|pistol|revolver|handgun) loaded\b|\bloaded (?:gun|rifle|shotgun|pistol|revolver|handgun)\b",
    ),
    _rule(
        "violence",
        r"\bthreat\w* (?:me |her |him |us )?with (?:a|the|his|her) (?:gun|knife|weapon|rifle|pistol|"
        r"shotgun|blade|bat|hammer)\b",
    ),
    _rule("violence", r"\b(?:showed|shows) (?:me|her|him) (?:his|her|the|a) (?:gun|knife|rifle|pistol)\b"),
    _rule(
        "violence",
        r"\b(?:afraid|scared|terrified|fear|fearing|fears) (?:for (?:my|our|her|his) (?:life|lives|"
        r"safety)|(?:of )?what (?:he|she|they) (?:will|would|might|could) do(?! to (?:the|my|our) (?:career|"
        r"business|reputation)))\b",
    ),
    _rule(
        "violence",
        r"\b(?:he|she|they|my (?:husband|wife|partner|boyfriend|girlfriend)) (?:is|are|was|were|has "
        r"been|have been|gets|got|get|can be) (?:\w+ )?(?:violent|abusive|physical with (?:me|her|him|us))\b",
    ),
    _rule(
        "violence",
        r"\b(?:domestic (?:violence|abuse)|abus(?:es|ed|ing) me|beats? me up|beat (?:me|her|him) up)\b",
    ),
    _rule("violence", r"\b(?:strangl\w+|chok(?:ed|ing) (?:me|her|him) (?:out|until|till))\b"),
    _rule(
        "violence",
        r"\b(?:bruises?|black eye|broken (?:rib|nose|arm|wrist)|split lip)\b(?: \w+){0,6} "
        r"(?:from (?:him|her|when (?:he|she))|he (?:gave|did)|she (?:gave|did))\b",
    ),
    _rule("violence", r"\b(?:make|made|makes) (?:me|her|him) (?:afraid|scared) for (?:my|her|his) life\b"),
    # --- sexual coercion ---
    _rule("sexual_coercion", r"\b(?:rape|raped|raping|rapes|rapist)\b"),
    _rule("sexual_coercion", r"\bsexual(?:ly)? (?:assault\w*|abus\w*|coerc\w*|forc\w*)\b"),
    _rule(
        "sexual_coercion",
        r"\b(?P<v>forc\w*|pressur\w*|guilt\w*|coerc\w*|made|makes|make|bully|bullies|bullied)"
        r" (?:me|her|him) (?:into |to )?(?:have |having |do |doing |perform |performing )?(?:sex|sexual|oral|"
        r"sleep(?:ing)? with|things in bed|stuff in bed|things sexually|(?:send|sending) nudes)\b",
        negatable=True,
    ),
    _rule(
        "sexual_coercion",
        r"\bthreat\w* to (?:post|share|send|leak|show|publish|put up) (?:my|her|his|our|the|"
        r"those|some) (?:nudes|nude|naked|intimate|private|sex) ?(?:photos|pictures|pics|videos|tape|images)?\b",
    ),
    _rule(
        "sexual_coercion",
        r"\b(?:demands|demanded|insists on|insisted on|expects|expected) sex (?:even|when|"
        r"whenever|every|or else|or (?:he|she) will)\b",
    ),
    _rule(
        "sexual_coercion",
        r"\b(?:touch\w*|grope\w*|groping|undress\w*|sex with) (?:me|her|him) (?:\w+ ){0,3}"
        r"(?:while|when) (?:i|she|he) (?:was|am|is|were) (?:asleep|sleeping|passed out|unconscious|too drunk|"
        r"drunk|out of it)\b",
    ),
]

# Sexual coercion is often said across a sentence ("he doesn't stop when I say no ... in bed"): a consent breach and
# a sexual word in the same sentence.
_CONSENT_BREACH = re.compile(
    r"\b(?:(?:take|takes|took|accept|accepts|accepted|taking) no(?: for an answer)?|(?:when|after|even though|though|"
    r"even when|even after|even if) (?:i|she|he) (?:said|say|says|told (?:him|her)|tell (?:him|her)) (?:no|stop|i "
    r"(?:did|do) not want)|(?:kept|keeps|keep) going|(?:did|does|would|will) not stop|without (?:my|her|his) "
    r"consent|against (?:my|her|his) will|(?:while|when) (?:i|she|he) (?:was|am|is) (?:asleep|sleeping|passed out|"
    r"unconscious|too drunk|out of it)|(?:held|holds|pinned|pins) (?:me|her|him) down|(?:when|even though|even when|"
    r"though) (?:i|she|he) (?:do|does|did) not want (?:to|it))"
)
_SEXUAL_WORD = re.compile(
    r"\b(?:sex|sexual|sexually|in bed|touch|touched|touches|touching|intimate|intimacy|undress\w*|clothes off|naked|"
    r"nudes|slept with|sleep with|have sex|kiss\w*|grope\w*|oral)\b"
)

_CONTROL_RULES: list[_Rule] = [
    _rule(
        "coercive_control",
        r"\b(?P<v>takes?|took|taking|grabs?|grabbed|smash(?:es|ed)?|broke|breaks|hides?|hid|"
        r"confiscat\w+|keeps? (?:hold of)?|kept) (?:away )?my (?:phone|keys|car keys|passport|id|wallet|bank cards?|"
        r"credit cards?|cards|money|paycheck|paycheque|wages|documents|papers|medication|meds|laptop)"
        r"(?! (?:charger|cable|case|to charge|to play))\b",
        negatable=True,
    ),
    _rule(
        "coercive_control",
        r"\b(?:will not|does not|did not|would not|never|not) (?:let|lets|allow|allows|"
        r"permit|permits) (?:me|her|him) (?:to )?(?:see|visit|talk to|speak to|call|phone|text|meet|go out with|"
        r"hang out with|spend time with|have) (?:my |her |his |any(?:one|body)? ?|friends|family|people|mom|mum|"
        r"parents|sister|brother|a friend|other people|other men|other women|coworkers|colleagues)",
    ),
    _rule(
        "coercive_control",
        r"\b(?:will not|does not|did not|would not|never|not) (?:let|lets|allow|allows|permit|"
        r"permits) (?:me|her|him) (?:to )?(?:leave(?! (?:the dishes|it|them|my|a|the room|early))|go (?:out|anywhere|"
        r"outside|to work|to church|to the doctor|to school|to class|home|alone)|work|get a job|keep (?:my|a|her|his) "
        r"job|have (?:a|my own|her own|his own|any|my|a single) (?:phone|money|bank account|job|friends|car|"
        r"cash|card)|drive|use (?:the|my|her|his) (?:car|phone)|see a doctor|leave the house|out of (?:his|her|"
        r"their) sight)",
    ),
    _rule(
        "coercive_control",
        r"\b(?:am|is|are|was|were) not allowed to (?:see|visit|leave|go (?:out|anywhere|"
        r"outside|to work|home)|talk to|speak to|have (?:a|my own|friends|money|a phone)|work|call|text|drive|"
        r"spend (?:money|time)|use the (?:car|phone)|wear)\b",
    ),
    _rule(
        "coercive_control",
        r"\b(?P<v>checks|checking|goes through|going through|went through|reads|reading|"
        r"monitors|monitoring|monitored|tracks|tracking|tracked|track|monitor|check) (?:all of |all |every one of )?"
        r"(?:my|her|his) (?:phone|texts|messages|emails?|e-mails?|location|calls|call log|browser history|every "
        r"move|social media|dms|whereabouts|bank statements|receipts|mileage|odometer)\b(?! (?:for me|because i "
        r"asked))",
        negatable=True,
    ),
    _rule(
        "coercive_control",
        r"\b(?:installed|put|hid|placed|secretly put) (?:a |an )?(?:tracker|tracking app|"
        r"tracking device|gps tracker|gps|spyware|spy app|hidden camera|camera|airtag|keylogger) (?:on|in|under) "
        r"(?:my|her|his) (?:phone|car|laptop|computer|bag|purse)\b",
    ),
    _rule(
        "coercive_control",
        r"\b(?P<v>controls|controlled|control|takes|took) (?:all )?(?:of )?(?:the|my|our|her|"
        r"his) (?:money|finances|bank account|paycheck|paycheque|wages|accounts|salary)\b",
        negatable=True,
    ),
    _rule("coercive_control", r"\b(?:gives|gave) (?:me|her|him) an allowance\b"),
    _rule(
        "coercive_control",
        r"\b(?:locks|locked|lock|locking) (?:me|her|him|us) (?:in|inside|up|out of the "
        r"(?:house|home|flat|apartment)|outside)\b",
    ),
    _rule(
        "coercive_control",
        r"\b(?:cut|cuts|cutting) (?:me|her|him) off from (?:my |her |his )?(?:friends|family|"
        r"everyone|people|money|the )",
    ),
    _rule("coercive_control", r"\bisolat(?:es|ed|ing|e) (?:me|her|him)\b"),
    _rule(
        "coercive_control",
        r"\bkeeps? (?:me|her|him) (?:away )?from (?:seeing |talking to )?(?:my |her |his )?"
        r"(?:friends|family|parents|mom|mum|sister|brother|everyone|people|leaving|working)\b",
    ),
    _rule(
        "coercive_control",
        r"\b(?:have|has|had) to (?:ask|get) (?:his|her|their) permission (?:to|before|for) "
        r"(?:leave|leaving|go|going|see|seeing|spend|spending|buy|buying|use|using|talk|talking|eat|wear)\b",
    ),
    _rule(
        "coercive_control",
        r"\bmakes? (?:me|her|him) account for every (?:dollar|penny|cent|pound|minute|hour)\b",
    ),
    _rule(
        "coercive_control",
        r"\b(?:follows|followed|follow) (?:me|her|him) (?:everywhere|to work|around|to the "
        r"(?:store|gym|shops))\b",
    ),
    _rule("coercive_control", r"\bstalk(?:s|ed|ing)? (?:me|her|him)\b"),
    _rule(
        "coercive_control",
        r"\b(?:changed|changes|changing|reset|knows) (?:all )?(?:of )?my passwords?\b|\b(?:will "
        r"not|does not|would not|did not) (?:give|let) me (?:have )?access to (?:my|our) (?:own )?(?:email|e-mail|"
        r"accounts?|money|phone|bank|car|documents)\b",
    ),
    _rule(
        "coercive_control",
        r"\b(?:tells|told|decides|decided) (?:me|her|him) (?:who|what|where|when) (?:i|she|he) "
        r"(?:can|could|am allowed to|is allowed to|may) (?:talk|speak|see|go|wear|eat|text|call|spend|visit)\b",
    ),
    _rule(
        "coercive_control",
        r"\bthreat(?:en|ens|ened|ening) to (?:take|take away|keep) (?:the|my|our|her|his) "
        r"(?:kids|children|baby|son|daughter|dog|cat|pets?)\b",
    ),
    _rule(
        "coercive_control",
        r"\bif (?:i|she|he) (?:ever )?(?:leave|leaves|left|try to leave|tries to leave)"
        r"(?: (?:him|her|them))?,? (?:he|she|they) (?:will|would|is going to|says|said|swears|swore) (?:\w+ )?"
        r"(?:make sure|take|hurt|kill|ruin|find|never let|come after)\b",
    ),
    _rule(
        "coercive_control",
        r"\b(?:kept|keeps|held|holds|trapped|traps) (?:me|her|him) (?:\w+ ){0,3}"
        r"(?:against (?:my|her|his) will|hostage)\b",
    ),
    _rule(
        "coercive_control",
        r"\b(?:will not|does not|did not|would not) (?:let|lets) (?:me|her|him) (?:leave|out)"
        r"(?= *(?:[.,!?;:]|$|and\b|but\b|until\b|unless\b|when\b))",
    ),
]


def _negated_before(text: str, index: int, words: int = 2) -> bool:
    """A negation among the few words right before the act ("would never hit", "did not hurt")."""
    before = re.findall(r"[a-z']+", text[max(0, index - 60) : index])[-words:]
    return any(word in _NEGATORS for word in before)


def find_categories(text: str) -> tuple[tuple[str, ...], bool]:
    """The crisis categories the text touches, most urgent first, and whether a self-harm mention was negated."""
    cleaned = _blank_idioms(normalise(text))
    found: set[str] = set()
    negated_self_harm = False
    for rule in (*_RULES, *_CONTROL_RULES):
        if rule.category in found and rule.category != "suicide_self_harm":
            continue
        for match in rule.pattern.finditer(cleaned):
            start = match.start("v") if "v" in rule.pattern.groupindex else match.start()
            if rule.negatable and _negated_before(cleaned, start):
                continue
            category = rule.category
            # A blow or threat aimed at a child named in the match is danger to a child.
            if category == "violence" and _CHILD_NOUN.search(match.group(0)):
                category = "child_danger"
            if category == "suicide_self_harm" and _negated_before(cleaned, match.start(), words=4):
                negated_self_harm = True
            found.add(category)
            break
    if "sexual_coercion" not in found:
        for sentence in split_sentences(cleaned):
            if _CONSENT_BREACH.search(sentence) and _SEXUAL_WORD.search(sentence):
                found.add("sexual_coercion")
                break
    return tuple(c for c in CATEGORIES if c in found), negated_self_harm


# ---- messages and resources ----------------------------------------------------------------------

_MESSAGES = {
    "suicide_self_harm": (
        "What you wrote mentions suicide or self-harm. That matters more than any listening practice, so the "
        "companion is setting reflection aside. If your partner said this, it is okay to ask them plainly whether "
        "they are thinking about ending their life; asking does not put the idea there. Stay with them and call a "
        "crisis line together. If these are your own thoughts, please call or text a crisis line now. If anyone is "
        "in immediate danger, call the emergency number."
    ),
    "child_danger": (
        "What you wrote suggests a child may not be safe. A child's safety comes before everything else here, so "
        "the companion is setting reflection aside. If a child is in danger right now, call the emergency number. "
        "A child-protection or domestic-violence line can talk through what to do next, confidentially."
    ),
    "violence": (
        "What you wrote describes violence or a threat of it. Safety comes first, yours and everyone's in the "
        "home, and this is more than a listening exercise can hold, so the companion is setting reflection aside. "
        "If anyone is in danger right now, call the emergency number. A domestic-violence line talks with people "
        "on either side of it, confidentially, whatever you decide about the relationship."
    ),
    "sexual_coercion": (
        "What you wrote describes sex without free consent. No one should be pressured or forced, and this is more "
        "than a listening exercise can hold, so the companion is setting reflection aside. A sexual-assault or "
        "domestic-violence line can talk it through confidentially, whichever side of it you are on. If anyone is "
        "in danger right now, call the emergency number."
    ),
    "coercive_control": (
        "What you wrote describes control: being watched, cut off from people, or kept from money, a phone or the "
        "door. That is a recognised form of abuse even when no one is hit, and it can escalate, so the companion "
        "is setting reflection aside. A domestic-violence line can help you make sense of it, confidentially. If "
        "anyone is in danger right now, call the emergency number."
    ),
}
_NEGATED_NOTE = ' Even when it is said as "I\'m not going to", it is worth taking gently and seriously.'
# Said under a reflection when only the semantic layer noticed something: a question, not a verdict.
_CHECK_IN = (
    "Some of what was said here may be heavier than an ordinary hard day. If you or they might not be safe, "
    "you don't have to carry it alone: the people below are there for exactly this, any time."
)
_CLOSING = " These numbers work without this app, and nothing you typed has left this device."


@lru_cache(maxsize=1)
def _resource_table() -> dict[str, dict[str, str]]:
    with RESOURCES_FILE.open("rb") as handle:
        return tomllib.load(handle)


def available_regions() -> tuple[str, ...]:
    return tuple(_resource_table())


def region_code(region: str | None) -> str:
    """The region's table key; unknown or missing regions get the international fallback, never an error."""
    code = (region or "").strip().upper()
    aliases = {
        "GB": "UK",
        "USA": "US",
        "AUS": "AU",
        "NZL": "NZ",
        "CAN": "CA",
        "IRL": "IE",
        "INTL": FALLBACK_REGION,
    }
    code = aliases.get(code, code)
    return code if code in _resource_table() else FALLBACK_REGION


def resources_for(region: str | None, category: str) -> list[str]:
    """Emergency number, crisis line and domestic-violence line, plus the category's specialist line if any."""
    entry = _resource_table()[region_code(region)]
    lines = [entry["emergency"]]
    if category == "child_danger" and entry.get("child"):
        lines.append(entry["child"])
    if category == "sexual_coercion" and entry.get("sexual"):
        lines.append(entry["sexual"])
    if category == "suicide_self_harm":
        lines += [entry["crisis"], entry["domestic_violence"]]
    else:
        lines += [entry["domestic_violence"], entry["crisis"]]
    return lines


def screen(text: str, region: str = "US", *, log: bool = True, semantic=None) -> SafetyAssessment | None:
    """None when no crisis is found; otherwise the message and resources to show instead of a reflection.

    `semantic` (a safety_semantic.SemanticScreen, or a zero-argument factory for one that may give None) is asked
    about a statement the rules did not flag; without it the screen is the rules alone. A factory is only called
    then, so a crisis never waits for the embedder to load."""
    if isinstance(text, bytes | bytearray):
        text = bytes(text).decode("utf-8", errors="replace")
    if not isinstance(text, str) or not text.strip():
        return None
    categories, negated_self_harm = find_categories(text)
    layer = "rules"
    if not categories and callable(semantic) and not hasattr(semantic, "find_categories"):
        semantic = semantic()
    layer_level = "check_in"
    if not categories and semantic is not None:
        try:
            if hasattr(semantic, "assess"):
                verdict = semantic.assess(text)
                categories, layer_level = tuple(verdict.categories), verdict.level or "check_in"
            else:
                categories = tuple(semantic.find_categories(text))
        except (
            Exception
        ) as exc:  # the rules have already run; a broken embedder must not stop the conversation
            _log.warning(
                "semantic safety layer failed (%s); the rules alone screened this statement",
                type(exc).__name__,
            )
            categories = ()
        layer = "semantic"
    if not categories:
        return None
    category = categories[0]
    if layer == "semantic" and layer_level == "check_in":
        level, message = "check_in", _CHECK_IN
    else:
        level, message = "crisis", _MESSAGES[category]
        if category == "suicide_self_harm" and negated_self_harm:
            message += _NEGATED_NOTE
    message += _CLOSING
    code = region_code(region)
    if log:
        _log.info("safety message shown")
    return SafetyAssessment(
        level=level,
        category=category,
        message=message,
        resources=resources_for(code, category),
        categories=categories,
        region=code,
        layer=layer,
    )


__all__ = [
    "CATEGORIES",
    "SafetyAssessment",
    "available_regions",
    "find_categories",
    "normalise",
    "region_code",
    "resources_for",
    "screen",
]
