"""Text hygiene shared by every layer: what a terminal could act on never reaches analysis or the screen."""

from __future__ import annotations

import re
import unicodedata

# Terminal escape sequences, 7-bit and 8-bit: CSI (ESC [ or 0x9b, up to a final byte); the string controls OSC, DCS,
# SOS, PM and APC with their text (up to BEL, ST or the line's end); ESC with intermediates (ESC ( B); two-byte ESC x.
ANSI_ESCAPE = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c\n]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[ -/]+[0-~]"
    r"|\x1b[0-~]"
)
# C0 and C1 control characters except tab and newline (bells, backspaces, carriage returns, escapes).
CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Unicode format characters (category Cf: bidi embeddings, overrides and isolates, zero-width marks, the BOM, the
# invisible tag letters that can smuggle ASCII past a reader) and lone surrogates, which no terminal can encode.
FORMAT_CHARS = re.compile(
    "[\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f\ud800-\udfff]"
)
# Zero-width (non-)joiners stay between two visible characters: they build emoji sequences and shape Indic and
# Persian words, and they cannot reorder or hide text there.
_JOINERS = "\u200c\u200d"


def _visible(ch: str) -> bool:
    return bool(ch) and not ch.isspace() and unicodedata.category(ch)[0] not in "CZ"


def drop_format_chars(text: str) -> str:
    """Unicode format characters removed (bidi overrides first of all); a joiner between visible characters stays."""
    if text.isascii():
        return text

    def keep_joiner(match: re.Match) -> str:
        start, end = match.span()
        if match.group() in _JOINERS and start > 0 and end < len(text):
            return match.group() if _visible(text[start - 1]) and _visible(text[end]) else ""
        return ""

    return FORMAT_CHARS.sub(keep_joiner, text)


def strip_terminal_codes(text: str, replacement: str = " ") -> str:
    """Escape sequences and control characters replaced, format characters dropped: what a person would read."""
    return drop_format_chars(CONTROL_CHARS.sub(replacement, ANSI_ESCAPE.sub(replacement, text)))


def printable(text: object) -> str:
    """The one sanitiser for text printed to a terminal: escape sequences with their payload, C0/C1 controls other
    than newline and tab, and Unicode format/bidi controls removed; text without them comes back unchanged."""
    return drop_format_chars(CONTROL_CHARS.sub("", ANSI_ESCAPE.sub("", str(text))))


def split_sentences(text: str) -> list[str]:
    """Sentences (or lines) of text, stripped, empty ones dropped: what the safety layers screen one by one."""
    return [part.strip() for part in re.split(r"(?<=[.!?;])\s+|\n+", text) if part.strip()]


def word_set(block: str) -> frozenset[str]:
    """A word list written as a block of text (lexicons read better that way), as a set."""
    return frozenset(block.split())


# Typographic quotes and the keyboard's stray accents, as the plain ASCII quotes every pattern is written with.
_STRAIGHT_QUOTES = str.maketrans(
    {"\u2019": "'", "\u2018": "'", "`": "'", "\u00b4": "'", "\u201c": '"', "\u201d": '"'}
)


def straighten_quotes(text: str) -> str:
    return text.translate(_STRAIGHT_QUOTES)
