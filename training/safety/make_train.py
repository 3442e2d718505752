#!/usr/bin/env python3
"""Writes training/safety/train_*.jsonl: crisis and hard-benign statements for the safety screen's trained layer.

Slot-filled frames (our own wording) plus hand-written lines, in first, second and third person, partner-to-partner,
with some typed the way people type on a phone. Deterministic (fixed seed): rerunning gives the same files.
Never put a line from training/safety/heldout.jsonl or issue_examples.jsonl here (tests/test_safety_trained.py checks).

Usage: python training/safety/make_train.py
"""

from __future__ import annotations

import itertools
import json
import random
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 1414
PER_FRAME = 14  # at most this many fillings of one frame, so no frame dominates

# ---- who is speaking about whom ---------------------------------------------------------------------------------

# A person whose own thoughts are reported: (lead-in, subject, object, possessive, reflexive, "is", "has", 3rd person)
SELF_PEOPLE = [
    ("", "I", "me", "my", "myself", "am", "have", False),
    ("My husband told me ", "he", "him", "his", "himself", "is", "has", True),
    ("My wife said ", "she", "her", "her", "herself", "is", "has", True),
    ("My boyfriend keeps saying ", "he", "him", "his", "himself", "is", "has", True),
    ("My girlfriend admitted ", "she", "her", "her", "herself", "is", "has", True),
    ("My partner whispered that ", "they", "them", "their", "themselves", "are", "have", False),
    ("He messaged me that ", "he", "him", "his", "himself", "is", "has", True),
    ("She confessed ", "she", "her", "her", "herself", "is", "has", True),
    ("Last night my fiance said ", "he", "him", "his", "himself", "is", "has", True),
    ("My ex texted that ", "she", "her", "her", "herself", "is", "has", True),
]

# Who does harm, and to whom (the person speaking, a friend reporting, or a partner spoken to directly).
ACTORS = [
    "He",
    "She",
    "My husband",
    "My wife",
    "My partner",
    "My boyfriend",
    "My girlfriend",
    "My ex",
    "My fiance",
    "Her husband",
    "His girlfriend",
    "My sister's boyfriend",
]
DIRECT_ACTORS = ["You"]  # partner-to-partner: said to the one who did it


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _verb(base: str, third: bool) -> str:
    if not third or base == "won't":
        return base
    if base == "don't":
        return "doesn't"
    if base.endswith(("s", "sh", "ch")):
        return base + "es"
    if base.endswith("y") and base[-2:] not in ("ay", "ey", "oy"):
        return base[:-1] + "ies"
    return base + "s"


def fill(frame: str, slots: dict[str, list[str]], rng: random.Random, cap: int = PER_FRAME) -> list[str]:
    """Up to `cap` distinct fillings of a frame whose {slots} come from `slots`."""
    names = re.findall(r"{(\w+)}", frame)
    names = list(dict.fromkeys(names))
    combos = list(itertools.product(*(slots[n] for n in names)))
    rng.shuffle(combos)
    out = []
    for combo in combos[:cap]:
        text = frame
        for name, value in zip(names, combo, strict=True):
            text = text.replace("{" + name + "}", value)
        out.append(_cap(re.sub(r"\s+", " ", text).strip()))
    return out


def self_frames(frames: list[str], rng: random.Random, cap: int = 6) -> list[str]:
    """Frames about one's own thoughts, said in the first person or reported about a partner (agreement handled).

    In a frame: {s} subject, {o} object, {p} possessive, {r} reflexive, {be}, {have}, and {v:base} for a verb."""
    out = []
    for frame in frames:
        people = rng.sample(SELF_PEOPLE, k=min(cap, len(SELF_PEOPLE)))
        for lead, s, o, p, r, be, have, third in people:
            text = frame.replace("{s}", s).replace("{o}", o).replace("{p}", p).replace("{r}", r)
            text = text.replace("{be}", be).replace("{have}", have)
            text = re.sub(r"{v:([\w']+)}", lambda m, third=third: _verb(m.group(1), third), text)
            text = re.sub(
                r"\bI (am|have)\b",
                lambda m: {"am": "I'm", "have": "I've"}[m.group(1)] if rng.random() < 0.5 else m.group(0),
                text,
            )
            out.append(_cap(lead + text))
    return out


# ---- phone typing -----------------------------------------------------------------------------------------------

_TEXTSPEAK = [
    (r"\byou\b", "u"),
    (r"\bare\b", "r"),
    (r"\bbecause\b", "cuz"),
    (r"\breally\b", "rly"),
    (r"\btonight\b", "2nite"),
    (r"\bthough\b", "tho"),
    (r"\bgoing to\b", "gonna"),
    (r"\bwant to\b", "wanna"),
    (r"\bdon't\b", "dont"),
    (r"\bI'm\b", "im"),
    (r"\bcan't\b", "cant"),
    (r"\bwon't\b", "wont"),
    (r"\bto be honest\b", "tbh"),
    (r"\bplease\b", "pls"),
    (r"\bsomething\b", "smth"),
    (r"\bthe\b", "da"),
]


def phone_typed(text: str, rng: random.Random) -> str:
    """Lower case, no final stop, a couple of text-speak swaps and maybe one slipped letter."""
    out = text.lower().rstrip(".!")
    for pattern, short in rng.sample(_TEXTSPEAK, k=5):
        out = re.sub(pattern, short, out, flags=re.IGNORECASE)
    out = out.replace("'", "") if rng.random() < 0.6 else out
    words = out.split()
    long_words = [i for i, w in enumerate(words) if len(w) > 4 and w.isalpha()]
    if long_words and rng.random() < 0.6:
        i = rng.choice(long_words)
        w = words[i]
        j = rng.randrange(1, len(w) - 2)
        words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2 :]  # two letters swapped
    return " ".join(words)


# ---- crisis: suicide and self-harm -------------------------------------------------------------------------------

SUICIDE_SELF = [
    "{s} {v:want} to die",
    "{s} {v:want} to kill {r}",
    "{s} {v:think} about killing {r} all the time",
    "{s} {v:want} to end {p} life",
    "{s} {v:keep} thinking about ending it",
    "{s} {v:don't} want to be alive anymore",
    "{s} {v:wish} {s} could fall asleep and never wake up",
    "{s} {v:feel} like everyone would be better off without {o}",
    "{s} {v:want} to disappear and never come back",
    "{s} {v:feel} like checking out for good",
    "{s} {v:want} the pain to stop permanently",
    "{s} {v:think} {s} would be doing everyone a favour by dying",
    "{s} {have} been planning how to end {p} life",
    "{s} {have} picked a day to do it",
    "{s} {have} worked out how {s} would do it",
    "{s} {have} a plan and the means to go through with it",
    "{s} {have} been stockpiling {p} pills for weeks",
    "{s} {have} been hoarding tablets in case",
    "{s} {have} counted out enough pills to not wake up",
    "{s} {have} been searching online for lethal doses",
    "{s} {have} been reading about how much of {p} medication is fatal",
    "{s} {have} looked up ways to die painlessly",
    "{s} {have} been researching the highest bridges nearby",
    "{s} {have} been reading about carbon monoxide from the car",
    "{s} {have} been watching the river and thinking about going in",
    "{s} bought rope and hid it in the shed",
    "{s} bought charcoal and tape and {v:won't} say why",
    "{s} {have} been saying goodbye to people",
    "{s} wrote notes for everyone in case {s} {be} not here",
    "{s} left a goodbye letter on the kitchen table",
    "{s} sent a message thanking everyone for everything and then went quiet",
    "{s} {have} been giving {p} belongings away because {s} {v:won't} need them",
    "{s} gave away {p} favourite things and said {s} {v:won't} be needing them",
    "{s} {have} been sorting out who gets {p} stuff",
    "{s} {have} updated {p} will and said goodbye to the dog",
    "{s} {have} been driving recklessly hoping to crash",
    "{s} {v:think} about swerving into oncoming traffic",
    "{s} {v:think} about driving into a wall at full speed",
    "{s} {v:think} about steering into a lorry on the way home",
    "{s} {v:keep} imagining letting go of the wheel on the bridge",
    "{s} drove home drunk on purpose hoping {s} wouldn't make it",
    "{s} tried to kill {r} two years ago and {s} {v:feel} that way again",
    "{s} overdosed last year and {v:think} about doing it again",
    "{s} attempted suicide before and the thoughts are back",
    "{s} {have} been cutting {r} again",
    "{s} {v:burn} {r} to feel something",
    "{s} {have} been hurting {r} on purpose",
    "{s} {v:hit} {r} until it bruises",
    "{s} {v:scratch} {p} skin until it bleeds",
    "{s} {v:starve} {r} as a punishment",
    "{s} {v:feel} like a burden and the world would be lighter without {o}",
    "{s} {v:want} to go to sleep forever",
    "{s} {v:don't} see {r} being here next year",
    "{s} {v:think} it would be a relief to not exist",
    "{s} {v:want} to jump off the roof",
    "{s} stood on the bridge for an hour last night",
    "{s} {have} been thinking about hanging {r}",
    "{s} {have} been writing goodbye texts and saving them",
    "{s} {v:want} to walk into the sea and not come back",
    "{s} {v:keep} a blade hidden for when it gets bad",
    "{s} {v:keep} pills hidden in case it gets too much",
    "{s} {v:feel} done with life",
    "{s} {v:want} to unalive {r}",
    "{s} {v:think} about ways to end things every night",
    "{s} {have} been taking more pills than prescribed hoping not to wake up",
    "{s} {have} started giving {p} things away to friends",
    "{s} {v:want} everything to end for good",
    "{s} {have} been looking at train times to jump in front of one",
    "{s} {v:keep} saying {s} won't be around much longer",
    "{s} {v:think} about crashing the car so it looks like an accident",
    "{s} {v:keep} sitting in the garage with the engine running",
    "{s} {v:want} to take every pill in the house",
]
SUICIDE_LINES = [
    "I can't see a reason to keep going.",
    "What's the point of being alive if it always hurts like this.",
    "I'm not scared of dying anymore, I'm scared of living.",
    "I've made my mind up. It'll be over soon.",
    "Tonight's the night, I'm sorry for everything.",
    "I just want to sleep and not have to come back.",
    "Everyone would cope, maybe even be relieved.",
    "If I'm gone there's one less problem for you.",
    "I won't be a problem for you much longer.",
    "I've said what I needed to say to everyone. I'm ready.",
    "I keep thinking about the pills in the bathroom cabinet.",
    "I hid a bottle of pills behind the towels for later.",
    "I've been weighing up whether the bridge or the pills would be quicker.",
    "You'll be better off once I'm gone.",
    "You won't need to put up with me after this weekend.",
    "I'm tired of fighting to stay alive.",
    "I looked at my dad's old shotgun and thought about using it on myself.",
    "I don't think I'll be here for your birthday.",
    "Take care of the kids for me, I can't do it anymore.",
    "I drove at ninety with my eyes shut for a few seconds today.",
    "I took my seatbelt off and floored it.",
    "I was on the edge of the cliff path and nearly stepped off.",
    "I've written my goodbyes. Please don't be angry.",
    "My sister found my note before I could go through with it.",
    "I keep drafting a last message to my mum.",
    "I tried once when I was a teenager and I'm scared I'll try again.",
    "i cant do this anymore i want out",
    "i wanna die fr",
    "kms honestly",
    "id be better off dead tbh",
    "i dont wanna be here anymore",
    "no one wud care if i was gone",
    "i just wanna disappear 4ever",
    "thinkin bout ending it all 2nite",
    "He said he'd rather be dead than live without me.",
    "She said she's going to take all her pills if I leave.",
    "He threatened to kill himself if I break up with him.",
    "My partner says he'll end it if I go.",
    "My husband has been researching how long it takes to drown.",
    "She asked me which of her pills are dangerous in a big dose.",
    "He has been giving away his tools and vinyl, says he's decluttering for good.",
    "My wife sent me a text saying sorry for everything and thank you for trying.",
    "He was sitting on the ledge of the balcony when I got home.",
    "She has cuts on her thighs she keeps hiding.",
    "He punches himself in the head when he's upset.",
    "My boyfriend pulled over on the motorway and said he wanted to drive into a pillar.",
    "He keeps saying the car would be a quick way to go.",
    "She wrote a letter to each of the kids and sealed them.",
    "My girlfriend told me she's counted how many sleeping pills she has left.",
    "He said he knows exactly how he would do it.",
    "She's been talking about death a lot and giving her jewellery away.",
    "After the last fight he swallowed a whole strip of tablets.",
    "Last month she tried to overdose and now she's talking like that again.",
    "I want it all to stop and I mean permanently.",
    "I'd be happy if I just didn't wake up tomorrow.",
    "I've been thinking that dying would fix everything.",
    "I don't want to exist anymore.",
    "I'm ready to go. I've sorted everything.",
    "Been looking up how many of my antidepressants would be too many.",
    "I stood in front of the bathroom mirror with a razor for an hour.",
    "I'm going to drive off the pier tonight.",
    "I keep fantasising about my own death.",
    "I hurt myself again last night and hid it from him.",
]

# ---- crisis: violence, threats, weapons, strangulation, injuries explained away ---------------------------------

VIOLENCE_FRAMES = [
    "{a} {blow} me {when}",
    "{a} put {pos} hands around my throat {when}",
    "{a} choked me until I couldn't breathe",
    "{a} squeezed my neck {when}",
    "{a} pinned me to the {place} and wouldn't let me up",
    "{a} pinned my arms down {when}",
    "{a} held me down by my wrists {when}",
    "{a} threatened to kill me {when}",
    "{a} said {ps} would kill me {cond}",
    "{a} said I'd end up dead {cond}",
    "{a} said {ps}'d slit my throat {cond}",
    "{a} keeps a {weapon} {where} and reminds me it's there",
    "{a} got the {weapon} out {when}",
    "{a} waved a {weapon} at me {when}",
    "{a} threatened me with a {weapon} {when}",
    "{a} said {ps} would use the {weapon} on me {cond}",
    "{a} sleeps with a {weapon} {where} since I said I wanted to leave",
    "{a} smashed my head against the {place}",
    "{a} threw me across the room {when}",
    "{a} dragged me by the hair {when}",
    "{a} kicked me while I was on the floor",
    "{a} hit me so hard I blacked out",
    "{a} gave me a black eye {when}",
    "{a} broke my {bone} {when}",
    "I told everyone I {excuse}, but it was {ao}",
    "I said I {excuse} so nobody would ask about {ao}",
    "{a} makes me say I {excuse} when people see the bruises",
    "The doctor asked and I said I {excuse}. It was {ao}.",
    "I cover the marks {ao} leaves with makeup",
    "I wear a scarf to hide where {ao} grabbed my neck",
    "{a} smothered me with a pillow {when}",
    "{a} shoved me down the stairs {when}",
    "{a} threatens to hurt me if I tell anyone",
    "{a} said {ps} knows where my family lives and will hurt them",
    "I'm scared {ao} will kill me one day",
    "{a} bit me and drew blood {when}",
    "{a} burned me with a cigarette {when}",
    "{a} punched me in the stomach {when}",
    "{a} slapped me across the face {when}",
    "{a} spat on me and punched the wall by my head",
]
VIOLENCE_SLOTS = {
    "a": ACTORS[:9],
    "blow": ["hit", "punched", "slapped", "kicked", "beat", "shoved", "headbutted", "elbowed"],
    "pos": ["his", "her"],
    "ps": ["he", "she"],
    "ao": ["him", "her"],
    "when": [
        "last night",
        "during the argument",
        "when I tried to leave",
        "in front of the kids",
        "again",
        "when I answered back",
        "after drinking",
        "yesterday",
        "because dinner was late",
        "",
    ],
    "cond": [
        "if I leave",
        "if I tell anyone",
        "if I ever cheat",
        "if I go to the police",
        "one day",
        "if I embarrass him",
        "if I take the kids",
        "",
    ],
    "place": ["wall", "floor", "bed", "car door", "kitchen counter", "fridge"],
    "weapon": ["gun", "knife", "rifle", "shotgun", "machete", "hammer", "crossbow", "loaded pistol", "bat"],
    "where": [
        "under the bed",
        "in the glovebox",
        "by the front door",
        "on the bedside table",
        "in his coat",
        "loaded in the wardrobe",
        "in the kitchen drawer",
    ],
    "bone": ["wrist", "nose", "rib", "arm", "finger", "jaw"],
    "excuse": [
        "walked into a door",
        "fell down the stairs",
        "slipped in the shower",
        "tripped over the dog",
        "banged my face on a cupboard",
        "fell off my bike",
        "bruise easily",
        "hit my head on the car",
    ],
}
VIOLENCE_DIRECT = [
    "You grabbed my throat last night and I still can't swallow properly.",
    "You said you'd kill me if I left you.",
    "You pinned my arms so I couldn't move and I was terrified.",
    "You keep the gun by the bed to frighten me.",
    "You punched me and then told me I made you do it.",
    "You said next time you'd finish me off.",
    "You pushed me down the stairs and told the hospital I fell.",
    "You choked me and then cried and said sorry.",
    "You threw the kettle at me.",
    "You held a knife to me while I was cooking.",
    "You threatened to run me over with the van.",
    "You squeezed my neck till I saw stars.",
    "he said if i leave hell kill me",
    "she keeps threatening me with the kitchen knife",
    "he choked me again last nite",
    "hes got a gun in the car and says its for me",
    "he hit me so bad i cant open my eye",
    "told my boss i fell but he pushed me",
    "I'm afraid to go home tonight because of what he'll do.",
    "He said nobody would find my body.",
    "He keeps his hunting knife on the table during arguments.",
    "She said she'd put rat poison in my food.",
    "He put me in a headlock until I went limp.",
    "He drove fast with me in the car and said we'd both die.",
    "My husband holds my face under the pillow when I cry.",
    "He strangled me during sex and then during a fight.",
    "She stabbed me with a fork and said it was a joke.",
    "He loaded the rifle in front of me and said think about it.",
    "I have bruises on my arms from where he holds me.",
    "I said I fell off a ladder but really he kicked me.",
    "My friend's husband beats her and she says she's clumsy.",
    "My sister has a broken arm and says she walked into a door.",
    "My brother's wife keeps throwing things at him and hitting him.",
    "My mum's boyfriend pushes her around.",
    "He keeps saying he'll kill whoever I talk to and then me.",
    "She said she'd stab me while I sleep.",
    "He threatened to burn the house down with me in it.",
    "He had me up against the wall by my throat.",
    "He's been buying bullets and talking about me.",
    "He texted a photo of his gun with the words 'your choice'.",
]

# ---- crisis: sexual coercion ------------------------------------------------------------------------------------

SEXUAL_FRAMES = [
    "{a} forces me to have sex {when}",
    "{a} pressures me into sex {when}",
    "{a} won't take no for an answer in bed",
    "{a} keeps going even when I say stop",
    "{a} had sex with me while I was {state}",
    "{a} touches me while I'm {state} and I've asked {ao} not to",
    "{a} got me drunk so I'd sleep with {ao}",
    "{a} kept filling my glass until I couldn't refuse",
    "{a} threatens to leave unless I do sexual things I hate",
    "{a} threatened to post my nudes {cond}",
    "{a} says {ps}'ll share the videos of us {cond}",
    "{a} recorded us without asking and holds it over me",
    "{a} says I owe {ao} sex {why}",
    "{a} makes me do things in bed that I've said no to",
    "{a} holds me down during sex when I want to stop",
    "{a} sulks and punishes me until I give in to sex",
    "{a} secretly took the condom off",
    "{a} makes me send explicit pictures {cond}",
    "{a} guilts me into sex every night",
    "{a} says married people don't get to say no",
    "{a} pushes me into sex with other people",
]
SEXUAL_SLOTS = {
    "a": ACTORS[:9],
    "ao": ["him", "her"],
    "ps": ["he", "she"],
    "when": [
        "when I'm exhausted",
        "even when I cry",
        "after every fight",
        "when I say no",
        "even when I'm ill",
        "",
    ],
    "state": ["asleep", "passed out", "too drunk to stand", "half asleep", "out of it on medication"],
    "cond": [
        "if I break up with him",
        "if I don't do what he wants",
        "if I tell anyone",
        "if I stop seeing her",
        "",
    ],
    "why": ["because he pays the bills", "for the dinner", "because we're married", "after buying me things"],
}
SEXUAL_LINES = [
    "I said no and he did it anyway.",
    "He doesn't stop when I tell him it hurts.",
    "I wake up and he's already on top of me.",
    "I go along with it because saying no makes him furious.",
    "He put something in my drink at the party.",
    "My boyfriend says he'll tell everyone lies about me unless I sleep with him.",
    "She keeps groping me in public after I've asked her to stop.",
    "He films me in the shower without asking.",
    "You did it when I was asleep and you know I didn't want that.",
    "You keep pushing me for sex after I say no.",
    "he keeps making me do stuff in bed i dont want",
    "he said if i dont send pics hes gonna leak the old ones",
    "My friend's partner forced her into sex and she's scared to say it.",
    "He made me have sex with his friend.",
    "I froze and he kept going.",
    "My husband threatens to cheat unless I do what he wants in bed.",
    "She got me high and then had sex with me.",
    "He pays for things and then says I have to pay him back in bed.",
    "He ties me up when I've said I don't like it.",
    "He won't use protection even when I beg him to.",
]

# ---- crisis: coercive control -------------------------------------------------------------------------------------

CONTROL_FRAMES = [
    "{a} takes my {thing} {when}",
    "{a} keeps my {thing} locked away",
    "{a} controls all of my money and {money_detail}",
    "{a} gives me {allowance} a week and wants receipts",
    "{a} makes me hand over my wages every payday",
    "{a} knows all my passwords and changes them {when}",
    "{a} made me give {ao} my phone passcode {why}",
    "{a} reads all my messages {when}",
    "{a} logs into my accounts and deletes my messages",
    "{a} tracks my phone and turns up wherever I go",
    "{a} put a tracking app on my phone without asking",
    "{a} hid a tracker in my {bag}",
    "{a} checks my location every few minutes",
    "{a} won't let me see my {people}",
    "{a} stopped me from seeing my {people} for months",
    "{a} says my {people} are poison and I'm not allowed to call them",
    "{a} has cut me off from my {people}",
    "{a} won't let me leave the house without {ao}",
    "{a} locks me in when {ps} goes out",
    "{a} makes me ask permission to {activity}",
    "{a} decides what I wear and who I talk to",
    "{a} made me quit my job so I'd need {ao} for everything",
    "{a} took out credit cards in my name",
    "{a} times my trips to the shop and accuses me if I'm late",
    "{a} makes me video call to prove where I am",
    "{a} went through my bank account and took everything",
    "{a} won't let me have a bank account of my own",
    "{a} checks my phone every night and goes mad if I delete anything",
    "{a} threatens to take the kids if I ever leave",
    "{a} hides my medication when I don't obey",
]
CONTROL_SLOTS = {
    "a": ACTORS[:9],
    "ao": ["him", "her"],
    "ps": ["he", "she"],
    "thing": [
        "phone",
        "car keys",
        "passport",
        "bank card",
        "wages",
        "laptop",
        "driving licence",
        "documents",
    ],
    "when": [
        "so I can't go anywhere",
        "when I disagree",
        "every evening",
        "whenever I go out",
        "without asking",
        "",
    ],
    "money_detail": [
        "I have to beg for bus fare",
        "I'm not allowed to see the statements",
        "checks every penny",
        "I have nothing of my own",
    ],
    "allowance": ["ten pounds", "twenty dollars", "fifty quid", "a few dollars"],
    "why": ["or he said he'd leave", "to prove I'm not cheating", "and checks it daily"],
    "bag": ["handbag", "car", "coat lining", "gym bag"],
    "people": ["friends", "family", "sister", "parents", "mum", "best friend"],
    "activity": ["go to the shops", "see a doctor", "spend any money", "visit my mum", "use the car", "eat"],
}
CONTROL_LINES = [
    "He has the only key to the house and I have to wait for him to let me out.",
    "She makes me send a picture of who I'm with every time I go out.",
    "You changed my email password again so I can't talk to anyone.",
    "You've turned my family against me so I've got nobody but you.",
    "You check my phone every night and take it off me.",
    "You keep my bank card so I can't buy anything without you knowing.",
    "i have to share my location with him 24/7 or he freaks",
    "he goes thru my phone every nite n deletes my friends",
    "she wont let me have any money of my own",
    "He put cameras in the house to watch me while he's at work.",
    "He makes me account for every minute I'm not home.",
    "My friend's boyfriend tracks her phone and doesn't let her see us.",
    "My sister's husband takes her whole salary.",
    "He took my passport so I can't go home to my country.",
    "He switches off the internet so I can't contact anyone.",
    "He tells me I'm crazy and that no one would believe me if I left.",
    "She threatens to tell my boss lies if I go out with friends.",
    "He makes me sleep in the car if I come home late.",
    "He weighs me every day and decides what I'm allowed to eat.",
    "He rings my work constantly to check I'm really there.",
    "He sold my car so I couldn't go anywhere on my own.",
    "If I talk to a man at work he makes me delete his number and punishes me.",
]

# ---- crisis: danger to children ---------------------------------------------------------------------------------

CHILD_FRAMES = [
    "{a} {blow} {kid} {when}",
    "{a} drives {kid} around drunk",
    "{a} drove with {kid} in the car after {drinks}",
    "{a} leaves {kid} alone {alone}",
    "{a} locks {kid} in {room} {when}",
    "{a} threatened to hurt {kid} if I leave",
    "{a} said {ps}'d take {kid} and I'd never see them again",
    "{a} shakes {kid} when {ps} won't stop crying",
    "{a} leaves bruises on {kid}",
    "{kid} has marks from where {ao} grabbed them",
    "{kid} is scared to be alone with {ao}",
    "{a} doesn't feed {kid} {when}",
    "{a} touches {kid} in ways that aren't right",
    "{a} makes {kid} watch when {ps} hits me",
    "{a} threw a plate at {kid} {when}",
    "{a} screams in {kid}'s face and grabs them by the neck",
    "{a} said {ps} would kill {kid} and then {self}",
    "{a} gets high while looking after {kid}",
]
CHILD_SLOTS = {
    "a": ACTORS[:9],
    "ao": ["him", "her"],
    "ps": ["he", "she"],
    "self": ["himself", "herself"],
    "blow": ["hits", "slaps", "kicks", "punched", "beat", "smacks"],
    "kid": [
        "our son",
        "our daughter",
        "the baby",
        "my little girl",
        "the kids",
        "my stepson",
        "our toddler",
        "my boy",
    ],
    "when": [
        "when they cry",
        "for spilling drinks",
        "when I'm not home",
        "as punishment",
        "",
        "for talking back",
    ],
    "drinks": ["six pints", "a bottle of wine", "drinking all afternoon", "taking pills"],
    "alone": ["all night", "for days", "while she goes out drinking", "in the car for hours", "in the bath"],
    "room": ["the shed", "a cupboard", "their room without food", "the cellar"],
}
CHILD_LINES = [
    "You hit our son with your belt and I saw the welts.",
    "You drove the kids home drunk again.",
    "You shook the baby so hard she went quiet.",
    "You left the kids alone all weekend.",
    "My daughter told me her dad hurts her when I'm at work.",
    "My ex's boyfriend is hurting my son, he has bruises every visit.",
    "the kids r scared of him he hits them",
    "he drove the kids home wasted n nearly crashed",
    "My brother-in-law leaves his toddler alone in the flat to go drinking.",
    "My neighbour's kids have burns and look terrified.",
    "He said if I leave he'll make sure the kids suffer.",
    "She puts the baby in the cot and leaves the house for hours.",
    "My partner looks at pictures of children online.",
    "Our daughter says her stepdad comes into the bathroom when she showers.",
    "He held our son out of the window to scare me.",
    "He threatened to run the car off the road with the kids inside.",
]

# ---- hard benign --------------------------------------------------------------------------------------------------

BENIGN_IDIOM_FRAMES = [
    "{thing} is killing me",
    "{thing} is going to be the death of me",
    "I'm dying for {treat}",
    "I'd kill for {treat} right now",
    "I could murder {treat}",
    "I'm dead tired after {event}",
    "I nearly died laughing at {event}",
    "{thing} bored me to death",
    "I'm going to die of embarrassment about {event}",
    "We absolutely killed it at {event}",
    "I'm drowning in {work}",
    "I'm so done with {work} today",
    "{thing} is driving me up the wall",
    "{thing} drives me crazy",
    "My head is exploding from {work}",
]
BENIGN_IDIOM_SLOTS = {
    "thing": [
        "This commute",
        "The heat",
        "My new shoes",
        "This deadline",
        "Revision",
        "The toddler's teething",
        "This hangover",
        "The noise next door",
        "My sciatica",
        "Marking homework",
        "This queue",
        "Wedding planning",
    ],
    "treat": ["a pizza", "a cold beer", "a nap", "a holiday", "a cup of tea", "some chocolate", "a hot bath"],
    "event": [
        "the office party",
        "karaoke",
        "the school play",
        "the pub quiz",
        "his speech",
        "the gym class",
        "the double shift",
        "the marathon",
    ],
    "work": ["paperwork", "laundry", "spreadsheets", "assignments", "invoices", "school forms"],
}
BENIGN_THREAT_JOKES = [
    "I'll kill you if you eat my {food}",
    "Touch my {food} and you're dead",
    "If you finish the {food} I'll murder you",
    "{rel} said {ps}'ll kill me if I eat the last {food}",
    "{rel} will strangle me for using {pp} {item} again",
    "I'm going to kill {rel_o} for spoiling the {show}",
    "{rel} says {ps}'ll murder me if I'm late to {event} again",
    "If you tell anyone about my {embarrassment} I'll have to kill you",
    "My mum will kill me when she sees my {embarrassment}",
    "I'll strangle you if you sing that song in the car once more",
    "You're dead meat if you beat me at {game} again",
]
BENIGN_THREAT_SLOTS = {
    "food": [
        "cake",
        "chips",
        "biscuits",
        "leftover curry",
        "birthday cake",
        "chocolate",
        "doughnut",
        "pizza",
    ],
    "rel": ["My wife", "My husband", "My sister", "My flatmate", "My girlfriend", "My boyfriend"],
    "rel_o": ["my brother", "my flatmate", "my husband", "my best friend"],
    "ps": ["she", "he"],
    "pp": ["her", "his"],
    "item": ["good scissors", "razor on my legs", "phone charger", "fancy shampoo"],
    "show": ["ending of the series", "match result", "finale", "film"],
    "event": ["dinner", "the cinema", "her work do", "the wedding"],
    "embarrassment": ["haircut", "dance moves", "karaoke video", "sunburn", "tattoo"],
    "game": ["chess", "Mario Kart", "cards", "Scrabble"],
}
BENIGN_MEDIA_FRAMES = [
    "We watched a {genre} where {plot}",
    "The {medium} I'm reading is about {plot2}",
    "In the game I {game_act}",
    "The news had a story about {news}",
    "The podcast covered {news}",
    "My partner and I binged a {genre} about {plot2}",
]
BENIGN_MEDIA_SLOTS = {
    "genre": ["thriller", "crime drama", "horror film", "war film", "detective series", "documentary"],
    "plot": [
        "a hitman takes one last job",
        "the wife plots to poison her husband",
        "a sniper hunts a killer",
        "the detective finds a body in the woods",
        "the ghost strangles the babysitter",
    ],
    "medium": ["novel", "comic", "biography", "true-crime book"],
    "plot2": [
        "a serial poisoner",
        "a bank robbery",
        "a kidnapping",
        "a murder on a train",
        "a soldier's last battle",
    ],
    "game_act": [
        "shoot zombies all night",
        "blew up a tank",
        "stabbed the boss with a sword",
        "drove off a cliff for a laugh",
        "got killed by a sniper ten times",
    ],
    "news": [
        "a shooting abroad",
        "a car crash on the ring road",
        "knife crime statistics",
        "a flood that killed dozens",
        "suicide prevention week",
        "a trial for domestic abuse",
    ],
}
BENIGN_EVERYDAY_FRAMES = [
    "{rel} {complaint}",
    "I'm annoyed that {rel_l} {complaint}",
    "I feel hurt that {rel_l} {complaint}",
    "It bugs me when {rel_l} {complaint}",
    "Honestly I'm fed up, {rel_l} {complaint}",
]
BENIGN_EVERYDAY_SLOTS = {
    "rel": ["My husband", "My wife", "My partner", "My boyfriend", "My girlfriend", "He", "She"],
    "rel_l": ["my husband", "my wife", "my partner", "he", "she", "my boyfriend"],
    "complaint": [
        "never puts his plate in the dishwasher",
        "is always on the phone at dinner",
        "forgot our anniversary",
        "spends too much on takeaways",
        "interrupts me constantly",
        "won't talk about moving house",
        "leaves wet towels on the floor",
        "didn't back me up in front of his mum",
        "is always late",
        "keeps checking football scores during films",
        "doesn't ask about my day",
        "snores like a train",
        "made plans for the weekend without asking me",
        "criticises how I load the washing machine",
        "sulks when I go out with friends",
        "wants to spend Christmas with her family again",
        "laughed at my new haircut",
        "never plans date nights",
        "spent our savings on a new bike",
        "shouted at me about the bills",
        "slammed the door and went for a drive to cool off",
        "scrolls on his phone while I'm talking",
        "never really listens to me",
        "zones out when I talk about work",
        "answers emails during dinner",
        "is glued to her phone in bed",
        "tunes me out when the telly is on",
        "says 'mm' without looking up",
        "checks his phone in the middle of my sentences",
    ],
}
BENIGN_LINES = [
    # medication as prescribed, health
    "I take my antidepressant every morning like the doctor said.",
    "The pharmacist counted out a month of my tablets.",
    "He takes painkillers for his back, only the dose on the box.",
    "I set a reminder so I never miss my pill.",
    "My GP upped my sertraline dose and I feel more like myself.",
    "She's on strong antibiotics for a chest infection.",
    "I'm recovering from surgery and the morphine made me drowsy.",
    "We keep all the medicine up high away from the kids.",
    "I sorted my tablets into the weekly box on Sunday.",
    "He cut himself shaving and bled all over the sink.",
    "I burned my hand on the oven tray.",
    "I sprained my ankle running for the bus.",
    "My wife bruised her knee falling off her bike, she laughed about it.",
    # hunting, shooting, martial arts, weapons as hobby
    "My dad and I go pheasant shooting in the season.",
    "He cleans his rifle after every hunting trip and locks it in the safe.",
    "We went duck hunting and didn't get a single one.",
    "I'm getting my shotgun licence for clay shooting.",
    "My girlfriend does fencing and came home with a bruise.",
    "He collects old knives from flea markets.",
    "She butchered the deer her uncle shot.",
    "We take the kids fishing and they love gutting the fish.",
    "I did a self-defence class and we practised escaping chokeholds.",
    "My husband boxes at the club three nights a week.",
    "He goes to the range to shoot on Saturdays with his brother.",
    "I bought a new set of chef's knives.",
    # resolved past
    "Years ago I had dark thoughts, but I've been well for a long time now.",
    "My uncle died by suicide when I was small, I think about him at Christmas.",
    "We used to fight a lot, but counselling really helped.",
    "My last boyfriend was possessive, I'm so glad I left.",
    "I broke my leg skiing when I was twelve.",
    "After my divorce I felt lost for a year but I'm good now.",
    "I got sober five years ago and I'm proud of it.",
    "We nearly lost the house once but we pulled through.",
    # everyday versions of risky-looking acts
    "I gave away my old books to the library.",
    "We're giving our old pram to my cousin.",
    "I'm sorting out my will now that we have kids.",
    "I wrote a letter to my future self for fun.",
    "I said goodbye to my colleagues on my last day.",
    "We share passwords for the streaming accounts.",
    "We both have each other's locations on so we can meet up easily.",
    "He handles the budget because he likes spreadsheets, we agreed.",
    "She borrowed my car keys because hers are lost.",
    "We put parental controls on the kids' tablets.",
    "I drove fast to get to the airport on time.",
    "I sat in the car park for a while to calm down after work.",
    "I stood on the bridge taking photos of the sunset.",
    "I'm saving pills from the vet for the dog's next dose.",
    "I locked the front door so the toddler can't get out.",
    "He grabbed the baby's hand before she touched the hob.",
    "I told him no tonight and he said of course, and we watched a film.",
    "She smacked me playfully with a cushion.",
    "My son hit his sister with a pillow and they both giggled.",
    "My husband pushed me on the swing at the park.",
    # venting, sadness without danger
    "I'm so sad we can't afford a holiday this year.",
    "I feel lonely when he works away.",
    "I cried all the way home from work.",
    "I'm worn out from looking after everyone.",
    "Some days I feel like I'm failing at everything.",
    "I'm heartbroken about the breakup but my friends are helping.",
    "I hate my job and want to quit.",
    "I'm nervous about the hospital results.",
    "I feel like nobody at work likes me.",
    "I'm grieving my nan and everything feels grey.",
    "We've been arguing so much I feel numb.",
    "I wish I could just hide under the duvet all weekend.",
    "I need a break from everyone for a bit.",
    "I want to run away to the mountains for a month.",
    "I feel like giving up on this diet.",
    "I'm giving up on the garden, everything died.",
    "My plants are all dead again.",
    "The car died on the motorway.",
    "My phone battery died so I couldn't ring you.",
    "This project is going to kill me, lol.",
    "i could literally die of embarrassment rn",
    "omg i'm so dead, my mum saw the photos lol",
    "ugh work is murdering me this week",
    "im gonna kill my brother he ate my leftovers",
    "He said he'd rather die than wear a tie to the wedding.",
    "She joked she'd jump out the window if the meeting ran over.",
    "He says he'll shoot himself in the foot if he doesn't prepare for the interview.",
    "I'm going to lose it if the dog chews another shoe.",
    "If he forgets to pick up milk again I'll scream.",
    "My son said his maths homework is torture.",
    "I'd rather eat glass than go to that wedding, honestly.",
    "The baby's going to be the death of me, she never sleeps.",
    "That horror film scared me to death.",
    "We had a massive argument but we made up before bed.",
    "He raised his voice and then apologised and we talked.",
    "We both said things we didn't mean, then we hugged.",
    "I slammed the door, which I regret.",
]


# ---- more hard benign: the words of a crisis in lives that are fine ------------------------------------------------

MORE_BENIGN_FRAMES = {
    "hyperbole": [
        "{rel} said {ps}'d kill me if I {minor}",
        "I swear I'll murder {rel_o} if {ps2} {minor2}",
        "{rel} threatened to strangle me for {minor3}, then burst out laughing",
        "I'm going to kill {rel_o}, {ps2} {minor2} again",
        "If {rel_o} {minor2} one more time I'll lose my mind",
        "{rel} says {ps}'ll die if {ps} has to {chore}",
        "I'd rather die than {chore}",
        "Shoot me now, I have to {chore}",
        "I'll scream if I have to {chore} again",
        "{rel} jokes that {ps}'ll jump off a bridge if {team} lose again",
        "My heart nearly stopped when {surprise}",
        "I wanted the ground to swallow me up when {surprise}",
        "{rel} will have my head for {minor3}",
    ],
    "medical": [
        "{rel} takes {med} {when_med} as prescribed",
        "I take {med} {when_med}, the GP reviews it every few months",
        "The pharmacy gave {rel_o} a month of {med} and {ps2} keeps them in the cabinet",
        "{rel} counts {pp2} {med} into a pill box every Sunday",
        "I've been on {med} for a year and it's helping",
        "The doctor switched {rel_o} to a lower dose of {med}",
        "I collected {rel_o}'s prescription for {med} today",
        "{rel} is weaning off {med} with the nurse's help",
        "I forgot my {med} this morning, I'll take it at lunch",
        "We keep the {med} locked up high because of the toddler",
    ],
    "hobby": [
        "{rel} goes {hunt} with {hunt_mates} every {season}",
        "{rel} keeps {pp2} {gun} in a locked cabinet for {hunt}",
        "{rel} is cleaning {pp2} {gun} after {hunt} at the weekend",
        "I'm taking a course in {fight} and got thrown around",
        "{rel} came back from {fight} with a bruised rib, {ps2} loved it",
        "We spent Saturday {hunt} and came back with nothing",
        "{rel} sharpened the {blade} before {cooking}",
        "{rel} bought a new {blade} for {cooking}",
        "{rel} goes to the {range} to practise with {hunt_mates}",
    ],
    "media": [
        "We stayed up watching a {genre2} where {plot3}",
        "{rel} can't stop talking about the {genre2} where {plot3}",
        "In {game2} you have to {game_act2} to win",
        "{rel} was up all night playing {game2}, {pp2} character keeps dying",
        "I read a news piece about {news2}, it was grim",
        "The radio had a segment on {news2}",
        "For book club we're reading a novel about {plot4}",
        "The play we saw was about {plot4}",
    ],
    "past": [
        "{years} ago I {hard_past}, but {better}",
        "{years} ago {rel_lower} {hard_past2}, and now {better}",
        "I used to {old_habit}, {years} on I don't anymore",
        "When I was {young} I {hard_past}, I'm in a good place now",
    ],
    "venting": [
        "I'm {feeling} because {rel_lower} {complaint2}",
        "Honestly I feel {feeling} about {worry}",
        "I've been {feeling} all week about {worry}",
        "{rel} and I keep arguing about {worry}",
        "I just feel {feeling}, {rel_lower} {complaint2}",
        "It's been a {bad} day, {rel_lower} {complaint2}",
        "I'm so {feeling} I could cry, {worry} is getting to me",
        "I feel like giving up on {goal}",
    ],
    "everyday": [
        "I gave {rel_o} my old {possession} because I never use it",
        "We're giving away {pp3} {possession} before the move",
        "I wrote {rel_o} a letter for {occasion}",
        "We made our wills after {life_event}",
        "{rel} and I share {shared} and we're both fine with it",
        "{rel} manages {shared2} because we agreed it suits us",
        "I said goodbye to everyone at {place2} because {leaving}",
        "{rel} drove fast because {urgent}",
        "{rel} locked the {door} because {lock_reason}",
        "{rel} grabbed my arm because {grab_reason}",
        "{rel} checked {shared3} with me so we could {budget_reason}",
        "{rel} said no to sex tonight and I said that's fine",
    ],
}
MORE_BENIGN_SLOTS = {
    "rel": [
        "My wife",
        "My husband",
        "My partner",
        "My boyfriend",
        "My girlfriend",
        "My mum",
        "My sister",
        "My dad",
        "My flatmate",
        "My best mate",
    ],
    "rel_o": [
        "my wife",
        "my husband",
        "my partner",
        "my son",
        "my daughter",
        "my brother",
        "my mum",
        "my flatmate",
    ],
    "rel_lower": ["my wife", "my husband", "my partner", "my boyfriend", "my girlfriend", "he", "she"],
    "ps": ["she", "he"],
    "ps2": ["she", "he"],
    "pp2": ["her", "his"],
    "pp3": ["our", "the kids'", "my"],
    "minor": [
        "ate the last biscuit",
        "spoiled the quiz answers",
        "forgot the wine",
        "used her good pan",
        "put his jumper in the dryer",
    ],
    "minor2": [
        "leaves the milk out",
        "hums that advert jingle",
        "spoils the match",
        "steals my side of the bed",
        "moves my keys",
    ],
    "minor3": [
        "losing the remote",
        "eating the leftovers",
        "telling the embarrassing story",
        "booking the wrong train",
    ],
    "chore": [
        "sit through another budget meeting",
        "assemble flat-pack furniture",
        "watch that musical",
        "go to the in-laws' barbecue",
        "do the tax return",
        "queue at the post office",
    ],
    "team": ["United", "the Lions", "his team", "the Rovers"],
    "surprise": [
        "the fire alarm went off",
        "my boss read my email out",
        "I tripped on stage",
        "the bill came",
    ],
    "med": [
        "antidepressants",
        "sertraline",
        "blood pressure tablets",
        "statins",
        "sleeping tablets",
        "insulin",
        "painkillers",
        "the pill",
        "thyroid tablets",
        "anxiety medication",
        "ADHD meds",
        "iron tablets",
    ],
    "when_med": ["every morning", "at night", "twice a day", "with breakfast", "before bed"],
    "hunt": ["deer stalking", "pheasant shooting", "duck hunting", "clay shooting", "fishing", "rabbiting"],
    "hunt_mates": ["his dad", "her uncle", "the club", "work friends", "his cousins"],
    "season": ["autumn", "winter", "weekend", "season"],
    "gun": ["shotgun", "rifle", "air rifle", "hunting rifle", "crossbow"],
    "fight": ["judo", "kickboxing", "boxing", "Brazilian jiu-jitsu", "fencing", "krav maga"],
    "blade": ["carving knife", "cleaver", "chef's knife", "axe"],
    "cooking": ["Sunday lunch", "the barbecue", "carving the turkey", "splitting firewood"],
    "range": ["shooting range", "archery range", "gun club"],
    "genre2": [
        "crime series",
        "slasher film",
        "spy thriller",
        "war drama",
        "true-crime documentary",
        "horror show",
    ],
    "plot3": [
        "a hitman falls in love",
        "the killer hides bodies in a lake",
        "a bomb goes off on a train",
        "the wife frames her husband",
        "the detective gets stabbed",
    ],
    "game2": ["the new shooter game", "a zombie game", "the racing game", "a battle royale", "the war game"],
    "game_act2": [
        "shoot everyone on the other team",
        "crash the other cars",
        "survive the zombie horde",
        "snipe from the rooftops",
    ],
    "news2": [
        "a murder trial",
        "a rise in domestic abuse cases",
        "a mass shooting overseas",
        "a fatal car crash",
        "overdose deaths",
        "a famous singer's suicide",
    ],
    "plot4": [
        "a widow who gives all her money away",
        "a boy who runs away from home",
        "a woman escaping a cult",
        "a soldier haunted by the war",
    ],
    "years": ["Ten years", "Years", "A long time", "Five years", "Two years"],
    "hard_past": [
        "went through depression",
        "had a breakdown",
        "was in a bad relationship",
        "drank far too much",
        "had panic attacks every day",
        "self-harmed as a teenager",
    ],
    "hard_past2": [
        "lost his job",
        "was really ill",
        "went through a dark time",
        "was in rehab",
        "had surgery",
    ],
    "better": [
        "therapy really helped",
        "I'm doing well now",
        "things are good now",
        "we got through it together",
        "life is much calmer",
    ],
    "old_habit": [
        "check his phone when I felt insecure",
        "shout when I was stressed",
        "drink every night",
        "bottle everything up",
    ],
    "young": ["sixteen", "at uni", "a kid", "in my twenties"],
    "feeling": [
        "exhausted",
        "frustrated",
        "lonely",
        "hurt",
        "overwhelmed",
        "drained",
        "gutted",
        "so angry",
        "low",
    ],
    "complaint2": [
        "forgot to pick me up",
        "cancelled our plans again",
        "never asks how I am",
        "spent the evening gaming",
        "left me to do bedtime alone",
        "said my cooking was bland",
        "went out without telling me",
    ],
    "worry": [
        "money",
        "his mother visiting",
        "the house move",
        "work",
        "the kids' schooling",
        "Christmas plans",
        "the mortgage",
        "our sex life",
        "the wedding budget",
    ],
    "bad": ["rubbish", "horrible", "long", "awful", "terrible"],
    "goal": ["the diet", "my novel", "learning Spanish", "the allotment", "running"],
    "possession": ["bike", "guitar", "winter coats", "books", "sofa", "telly", "baby clothes", "camera"],
    "occasion": ["our anniversary", "her birthday", "his retirement", "Valentine's Day"],
    "life_event": ["the baby was born", "we bought the house", "we got married"],
    "shared": ["our phone passcodes", "our locations", "a joint account", "the Netflix password"],
    "shared2": ["the bills", "our savings", "the budget spreadsheet"],
    "shared3": ["the bank statements", "our spending", "the credit card bill"],
    "budget_reason": ["save for the holiday", "plan the wedding", "cut back a bit"],
    "place2": ["work", "the choir", "the old office", "the gym"],
    "leaving": ["we're moving to Spain", "I got a new job", "I'm retiring", "we're emigrating"],
    "urgent": [
        "my waters broke",
        "we were late for the flight",
        "the kid had a high fever",
        "the shop was closing",
    ],
    "door": ["back door", "front door", "gate", "shed"],
    "lock_reason": [
        "there have been burglaries",
        "the toddler keeps escaping",
        "the dog gets out",
        "it was windy",
    ],
    "grab_reason": [
        "I nearly stepped in front of a bike",
        "I slipped on the ice",
        "the bus was coming",
        "I was falling",
    ],
}

# Reassurance and accidents: the act named, but negated, mistaken or harmless.
REASSURANCE_FRAMES = [
    "{rel} {never} {act} me, {reassure}",
    "{rel} {never} {act} the kids, {reassure}",
    "{rel} {never} {act} anyone",
    "I know {rel_lower} {never} {act} me, {reassure}",
    "{rel} has never once {act_past} me or the children",
    "I {accident} while {doing}",
    "{rel} {accident} while {doing}",
    "{rel} beat me at {game3} again",
    "{rel} absolutely thrashed me at {game3}",
    "The baby {baby_act} me all night",
    "{rel} won't let me {harmless}",
    "{rel} threatened to {soft_threat} if I don't {soft_condition}",
]
REASSURANCE_SLOTS = {
    "rel": ["He", "She", "My husband", "My wife", "My partner", "My boyfriend", "My girlfriend"],
    "rel_lower": ["he", "she", "my husband", "my wife", "my partner"],
    "never": ["would never", "has never", "will never", "wouldn't ever", "has never once"],
    "act": ["hit", "hurt", "lay a finger on", "raise a hand to", "push", "threaten"],
    "act_past": ["hit", "hurt", "threatened", "pushed", "slapped"],
    "reassure": [
        "he just goes quiet",
        "she just gets loud",
        "he's a gentle soul",
        "we just bicker",
        "it's the sulking that gets me",
        "he storms off to cool down instead",
    ],
    "accident": [
        "cut myself",
        "burned my hand",
        "bruised my arm",
        "hurt my back",
        "sliced my thumb",
        "banged my head",
    ],
    "doing": [
        "chopping onions",
        "getting a tray out of the oven",
        "moving the wardrobe",
        "playing football",
        "gardening",
        "putting up shelves",
    ],
    "game3": ["chess", "darts", "tennis", "Monopoly", "the quiz", "pool"],
    "baby_act": ["kicked", "headbutted", "scratched", "bit"],
    "harmless": [
        "finish my sentences",
        "pay for dinner",
        "watch the end of the match",
        "have the last word",
        "pick the film",
        "do the washing up",
    ],
    "soft_threat": [
        "leave the party early",
        "stop cooking for me",
        "cancel the holiday",
        "sleep on the sofa",
        "call my mum",
    ],
    "soft_condition": [
        "go to counselling with her",
        "tidy the garage",
        "come to the wedding",
        "stop gaming so late",
    ],
}

# ---- more crisis: indirect and euphemistic wording ---------------------------------------------------------------

MORE_SUICIDE_SELF = [
    "{s} {v:keep} thinking everyone would be fine without {o} around",
    "{s} {v:don't} see a future with {o} in it",
    "{s} {v:want} to stop being a problem for everyone, permanently",
    "{s} {v:feel} like {s} {be} already gone",
    "{s} {have} been thinking about how to make it look like an accident",
    "{s} {have} been looking at how high {p} balcony is",
    "{s} {v:think} about walking in front of a bus",
    "{s} {have} been reading about people who jumped from the bridge in town",
    "{s} {have} been saving up {p} prescription instead of taking it",
    "{s} {have} a stash of tablets and {v:know} how many to take",
    "{s} {have} worked out what dose would do it",
    "{s} {have} been asking about the strongest painkillers",
    "{s} {have} been putting {p} affairs in order like {s} {be} leaving",
    "{s} {v:keep} telling people how much {s} love them like it's the last time",
    "{s} {have} been handing {p} things out to friends",
    "{s} {v:want} to give away everything because it won't matter soon",
    "{s} {have} been writing letters to the people {s} love, in case",
    "{s} sent a goodbye text and switched {p} phone off",
    "{s} {v:speed} on purpose hoping {s} {v:lose} control",
    "{s} {v:think} about running the car off the cliff road",
    "{s} {v:keep} wondering what it would feel like to drown",
    "{s} tried to end it once and {v:think} about trying again",
    "{s} {have} been dreaming about not being alive",
    "{s} {v:feel} like there's only one way out",
    "{s} {v:keep} a bottle of pills by the bed for the right moment",
    "{s} {v:want} to go to sleep and stay asleep",
    "{s} {v:wish} {s} could vanish and nobody would have to deal with {o}",
    "{s} {v:want} to end the suffering for good",
    "{s} {have} been hurting {r} where no one can see",
    "{s} {have} been picking at {p} skin until it bleeds to cope",
]
MORE_VIOLENCE_LINES = [
    "He keeps a loaded gun in the drawer and says I'd better behave.",
    "She keeps the knife block next to her side of the bed now.",
    "He told me to remember he has a shotgun in the loft.",
    "My husband leaves his rifle out on the table when he's angry.",
    "He pressed his arm against my throat.",
    "He had me by the neck against the fridge.",
    "He sat on my chest till I couldn't breathe.",
    "She grabbed my throat and squeezed.",
    "He covered my nose and mouth until I stopped fighting.",
    "He says he's going to end me.",
    "He said I won't live to see Christmas if I leave.",
    "She said she'd make sure I never walk again.",
    "I told the A&E nurse I slipped on ice, but he threw me.",
    "I've been telling everyone the bruises are from the gym.",
    "I say I'm clumsy whenever someone asks about my arms.",
    "I told school I fell off a chair, it was him.",
    "He twisted my arm behind my back till it popped.",
    "He held me against the wall by my wrists for an hour.",
    "He won't let go of my arms when we fight, I have marks.",
    "He punched the door an inch from my face.",
    "He rammed my car with his.",
    "My partner hits me where the bruises won't show.",
    "He threw me out of the moving car.",
    "i said i walked into a door again",
    "he keeps sayin hes gonna end me",
    "she keeps a knife under her pillow n says its for me",
    "he put his hands round my neck agen",
    "hes threatened to shoot me n the dog",
]
MORE_CONTROL_LINES = [
    "He changed the password on my banking app so I can't see my own money.",
    "She has the login to my email and reads everything.",
    "I have to give him my phone unlocked whenever he asks.",
    "He knows every password I have and checks my accounts daily.",
    "He gets an alert every time I leave the house.",
    "He uses the family locator to watch where I go all day.",
    "I found his tracking app on my phone.",
    "He put an AirTag in my handbag.",
    "She calls me twenty times a day to check where I am.",
    "He takes my whole salary and gives me pocket money.",
    "I'm not allowed to buy anything without showing him the receipt.",
    "He put all the money in his name so I have nothing.",
    "He makes me hand over my card every payday.",
    "I haven't seen my friends in a year because he says they're a bad influence.",
    "He won't let my parents visit.",
    "She says if I see my mates she'll leave and take the kids.",
    "I'm only allowed out with him.",
    "He moved us to the countryside so I wouldn't have anyone.",
    "He hides the car keys when he goes to work.",
    "i cant see my friends or he goes mental",
    "he checks my bank every day n takes wat he wants",
    "she has all my passwords n changes them wen shes mad",
    "he tracks me on find my phone constantly",
]
MORE_CHILD_LINES = [
    "He drives the kids home from the pub after a few pints.",
    "She drinks all afternoon and then does the school run.",
    "He had the baby in the car and he was completely drunk.",
    "He speeds with the kids in the back to frighten me.",
    "He smacks our son round the head when he gets his homework wrong.",
    "She pinches the baby when he cries.",
    "He said the kids would pay if I left him.",
    "He threatened to take the children abroad and never bring them back.",
    "Our little one has bruises on her legs every time she comes back from his.",
    "He shoves our daughter when he's angry.",
    "The kids hide in the wardrobe when he comes home drunk.",
    "He leaves the baby alone in the flat to go to the shop.",
    "She forgets to feed the kids when she's using.",
    "He makes our son stand in the cold garden as punishment.",
    "my ex drinks n drives with my kids",
    "he hits the kids when im at work",
]
MORE_SEXUAL_LINES = [
    "He waits until I'm asleep and then starts.",
    "I gave in because he wouldn't let me sleep until I did.",
    "He got me drunk at the party so I'd go home with him.",
    "He keeps pushing after I say no, until I stop saying it.",
    "She touches me when I've said I don't want to be touched.",
    "He says he'll leave me if I don't do what he wants in bed.",
    "He pins my arms during sex even though I hate it.",
    "He won't stop when I say it hurts.",
    "He threatens to send my photos to my family.",
    "My ex says he'll post the video if I don't come back.",
    "He made me watch porn and copy it.",
    "He says my body belongs to him.",
    "he makes me have sex wen i dont want to",
    "he gets me drunk so i cant say no",
]


def _rows(pairs: list[tuple[str, str]], label: str, category: str) -> list[dict]:
    return [{"text": t, "label": label, "category": category, "group": g} for t, g in pairs]


def _framed(
    frames: list[str], slots: dict[str, list[str]], rng: random.Random, tag: str, cap: int = PER_FRAME
):
    """(text, group) pairs: every filling of one frame shares its group, so a dev split can hold whole frames out."""
    return [(t, f"{tag}{i}") for i, f in enumerate(frames) for t in fill(f, slots, rng, cap)]


def _self_framed(frames: list[str], rng: random.Random, tag: str):
    return [(t, f"{tag}{i}") for i, f in enumerate(frames) for t in self_frames([f], rng)]


def _lines(lines: list[str], tag: str):
    return [(t, f"{tag}-{i}") for i, t in enumerate(lines)]


def build(rng: random.Random) -> dict[str, list[dict]]:
    """File name -> rows, each {"text", "label", "category", "group"}; texts deduplicated across all files."""
    suicide = (
        _self_framed(SUICIDE_SELF, rng, "s")
        + _self_framed(MORE_SUICIDE_SELF, rng, "s2")
        + _lines(SUICIDE_LINES, "sl")
    )
    violence = (
        _framed(VIOLENCE_FRAMES, VIOLENCE_SLOTS, rng, "v")
        + _lines(VIOLENCE_DIRECT, "vl")
        + _lines(MORE_VIOLENCE_LINES, "vl2")
    )
    sexual = _framed(SEXUAL_FRAMES, SEXUAL_SLOTS, rng, "x") + _lines(SEXUAL_LINES + MORE_SEXUAL_LINES, "xl")
    control = _framed(CONTROL_FRAMES, CONTROL_SLOTS, rng, "c") + _lines(
        CONTROL_LINES + MORE_CONTROL_LINES, "cl"
    )
    child = _framed(CHILD_FRAMES, CHILD_SLOTS, rng, "k") + _lines(CHILD_LINES + MORE_CHILD_LINES, "kl")
    benign = (
        _framed(BENIGN_IDIOM_FRAMES, BENIGN_IDIOM_SLOTS, rng, "bi", 20)
        + _framed(BENIGN_THREAT_JOKES, BENIGN_THREAT_SLOTS, rng, "bt", 20)
        + _framed(BENIGN_MEDIA_FRAMES, BENIGN_MEDIA_SLOTS, rng, "bm", 20)
        + _framed(BENIGN_EVERYDAY_FRAMES, BENIGN_EVERYDAY_SLOTS, rng, "be", 40)
        + _lines(BENIGN_LINES, "bl")
    )
    benign += _framed(REASSURANCE_FRAMES, REASSURANCE_SLOTS, rng, "br", 20)
    for kind, frames in MORE_BENIGN_FRAMES.items():
        benign += _framed(frames, MORE_BENIGN_SLOTS, rng, f"b{kind}", 18)
    files = {
        "train_suicide_self_harm.jsonl": _rows(suicide, "crisis", "suicide_self_harm"),
        "train_violence.jsonl": _rows(violence, "crisis", "violence"),
        "train_sexual_coercion.jsonl": _rows(sexual, "crisis", "sexual_coercion"),
        "train_coercive_control.jsonl": _rows(control, "crisis", "coercive_control"),
        "train_child_danger.jsonl": _rows(child, "crisis", "child_danger"),
        "train_benign.jsonl": _rows(benign, "benign", "benign"),
    }
    # A share of each file typed the way people type on a phone (in the same group as the line it came from).
    for rows in files.values():
        extra = [dict(row, text=phone_typed(row["text"], rng)) for row in rng.sample(rows, k=len(rows) // 5)]
        rows.extend(extra)
    seen: set[str] = set()
    for name, rows in files.items():
        kept = []
        for row in rows:
            key = re.sub(r"[^a-z0-9]+", " ", row["text"].lower()).strip()
            if key and key not in seen:
                seen.add(key)
                kept.append(row)
        files[name] = kept
    return files


def main() -> int:
    files = build(random.Random(SEED))
    for name, rows in files.items():
        with (HERE / name).open("w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        print(f"{name}: {len(rows)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
