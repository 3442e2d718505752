"""What a person expects from search besides meaning: exact words and headings count, and matches can be shown.

A small in-memory BM25 over section text plus heading words, a light English stemmer, and the fusion of those
scores with the dense (cosine) similarity from the vector index. Pure Python: cheap to import, cheap to query.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from companion.guidance.knowledge import Section

# BM25 constants (the usual defaults) and how much each signal adds to the dense cosine similarity.
BM25_K1 = 1.2
BM25_B = 0.75
# Chosen on the dev queries with the retrieval-tuned encoder (scripts/eval_retrieval.py): the lightest word bonus
# at which hybrid ranks no worse than dense on either document (0.4 had the article one query behind dense).
LEXICAL_WEIGHT = 0.1
HEADING_WEIGHT = 0.20

_WORD = re.compile(r"[A-Za-z0-9]+(?:['’][A-Za-z]+)*")

# Function words that say nothing about the topic; written for this corpus, not taken from a list.
_STOPWORDS_TEXT = """
    a about above after again against all also am an and any are aren't as at be because been before being below
    between both but by can can't could couldn't did didn't do does doesn't doing don't down during each even few
    for from further get gets got had hadn't has hasn't have haven't having he he'd he'll he's her here here's hers
    herself him himself his how how's i i'd i'll i'm i've if in into is isn't it it's its itself just let's like me
    more most much my myself no nor not now of off on once only or other ought our ours ourselves out over own
    really same shan't she she'd she'll she's should shouldn't so some such than that that's the their theirs them
    themselves then there there's these they they'd they'll they're they've this those through to too under until
    up very was wasn't we we'd we'll we're we've were weren't what what's when when's where where's which while who
    who's whom why why's will with won't would wouldn't you you'd you'll you're you've your yours yourself
    yourselves s t just yet ever still maybe
"""
STOPWORDS = frozenset(_STOPWORDS_TEXT.split())

# Longest first; at most two are stripped ("listeners" -> "listener" -> "listen").
_SUFFIX_TEXT = (
    "ational fulness iveness ization ations ation ional ments ment nesses ness ingly edly ings ing ions ion "
    "ates ated ating ate ful ies ied ed es ly er s"
)
_SUFFIXES = tuple(sorted(_SUFFIX_TEXT.split(), key=len, reverse=True))


@lru_cache(maxsize=50_000)
def stem(word: str) -> str:
    """A light suffix-stripping stemmer: listen/listens/listening/listened all become 'listen'."""
    word = word.lower().replace("’", "'")
    if word.endswith("'s"):
        word = word[:-2]
    for _ in range(2):
        stripped = _strip_suffix(word)
        if stripped == word:
            break
        word = stripped
    # Undouble and drop a final e so "stopping"/"stop" and "taking"/"take" meet.
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "lsz":
        word = word[:-1]
    if len(word) > 3 and word.endswith("e"):
        word = word[:-1]
    return word


def _strip_suffix(word: str) -> str:
    if len(word) <= 3:
        return word
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            base = word[: -len(suffix)]
            if suffix in ("ies", "ied"):
                return base + "y"
            if suffix == "s" and base.endswith(("s", "u", "i")):
                return word  # "stress", "focus", "this": not plurals
            return base
    return word


def words(text: str) -> list[str]:
    return _WORD.findall(text)


def content_terms(text: str) -> list[tuple[str, str]]:
    """(surface word lower-cased, stem) for every word that is not a stopword, in order."""
    result = []
    for word in words(text):
        lower = word.lower().replace("’", "'")
        if lower in STOPWORDS or len(lower) < 2:
            continue
        result.append((lower, stem(lower)))
    return result


@dataclass(frozen=True)
class QueryTerms:
    """The stems of a query, each with the words the person typed for it (for matched_terms)."""

    stems: tuple[str, ...]
    surface: dict[str, str]

    @classmethod
    def parse(cls, query: str) -> QueryTerms:
        stems: list[str] = []
        surface: dict[str, str] = {}
        for lower, root in content_terms(query):
            if root not in surface:
                surface[root] = lower
                stems.append(root)
        return cls(tuple(stems), surface)


@dataclass(frozen=True)
class LexicalMatch:
    bm25: float  # raw BM25 over heading + text
    lexical: float  # BM25 as a share of the best score this query could reach, in [0, 1]
    heading: float  # share of the query's weight found in the heading path, in [0, 1]
    matched_stems: tuple[str, ...]


class LexicalIndex:
    """BM25 over sections, heading words counted twice; built once per refresh and kept in memory."""

    def __init__(self, sections: Sequence[Section]) -> None:
        self.sections = list(sections)
        self.by_id = {section.id: position for position, section in enumerate(self.sections)}
        self._postings: dict[str, list[tuple[int, int]]] = {}
        self._heading_stems: list[frozenset[str]] = []
        self._lengths: list[int] = []
        for position, section in enumerate(self.sections):
            heading_stems = [root for _, root in content_terms(" ".join(section.heading_path))]
            text_stems = [root for _, root in content_terms(section.text)]
            counts = Counter(text_stems)
            counts.update(
                heading_stems * 2
            )  # a word in the heading says more about the topic than one in passing
            for root, count in counts.items():
                self._postings.setdefault(root, []).append((position, count))
            self._heading_stems.append(frozenset(heading_stems))
            self._lengths.append(sum(counts.values()))
        total = len(self.sections)
        self._average_length = (sum(self._lengths) / total) if total else 0.0
        self._idf = {
            root: math.log(1 + (total - len(posting) + 0.5) / (len(posting) + 0.5))
            for root, posting in self._postings.items()
        }

    def __len__(self) -> int:
        return len(self.sections)

    def idf(self, root: str) -> float:
        # A word the corpus never uses still counts for the heading share, at the weight of the rarest word.
        return self._idf.get(root, math.log(1 + (len(self.sections) + 0.5) / 0.5))

    def match(self, query: QueryTerms) -> dict[int, LexicalMatch]:
        """Every section that shares a word with the query, with its lexical and heading scores."""
        if not query.stems or not self.sections:
            return {}
        scores: dict[int, float] = {}
        matched: dict[int, list[str]] = {}
        for root in query.stems:
            posting = self._postings.get(root)
            if not posting:
                continue
            idf = self._idf[root]
            for position, count in posting:
                norm = 1 - BM25_B + BM25_B * self._lengths[position] / (self._average_length or 1)
                scores[position] = scores.get(position, 0.0) + idf * count * (BM25_K1 + 1) / (
                    count + BM25_K1 * norm
                )
                matched.setdefault(position, []).append(root)
        best_possible = sum(self._idf.get(root, 0.0) for root in query.stems) * (BM25_K1 + 1)
        query_weight = sum(self.idf(root) for root in query.stems)
        results = {}
        for position, score in scores.items():
            heading_weight = sum(
                self.idf(root) for root in query.stems if root in self._heading_stems[position]
            )
            results[position] = LexicalMatch(
                bm25=score,
                lexical=min(1.0, score / best_possible) if best_possible else 0.0,
                heading=heading_weight / query_weight if query_weight else 0.0,
                matched_stems=tuple(matched[position]),
            )
        return results


def fused_score(dense: float, match: LexicalMatch | None) -> float:
    """Dense cosine similarity plus bounded bonuses for shared words and heading words."""
    if match is None:
        return dense
    return dense + LEXICAL_WEIGHT * match.lexical + HEADING_WEIGHT * match.heading


def highlight_spans(text: str, terms: Iterable[str]) -> list[tuple[int, int]]:
    """Character spans of the words in text that match any of terms (same stem), for highlighting."""
    roots = {stem(term) for term in terms if term}
    if not roots:
        return []
    return [
        (found.start(), found.end())
        for found in _WORD.finditer(text)
        if found.group().lower() not in STOPWORDS and stem(found.group()) in roots
    ]


def highlight(text: str, terms: Iterable[str], start: str = "\033[1m", end: str = "\033[0m") -> str:
    """text with every matching word wrapped in start/end (ANSI bold by default)."""
    pieces = []
    cursor = 0
    for begin, finish in highlight_spans(text, terms):
        pieces.append(text[cursor:begin])
        pieces.append(f"{start}{text[begin:finish]}{end}")
        cursor = finish
    pieces.append(text[cursor:])
    return "".join(pieces)
