"""Text hygiene shared by every layer: what a terminal could act on never reaches analysis or the screen."""

from __future__ import annotations

import re

# Terminal escape sequences: CSI (ESC [ … or the 8-bit CSI), OSC (ESC ] … BEL/ST), and two-byte ESC codes.
ANSI_ESCAPE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]|\x9b[0-?]*[ -/]*[@-~]")
# C0 and C1 control characters except tab and newline (bells, backspaces, carriage returns, escapes).
CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def strip_terminal_codes(text: str, replacement: str = " ") -> str:
    """Escape sequences and control characters replaced, so only what a person would read is left."""
    return CONTROL_CHARS.sub(replacement, ANSI_ESCAPE.sub(replacement, text))


def printable(text: object) -> str:
    """Text safe to print to a terminal: control characters dropped (every escape sequence starts with one)."""
    return CONTROL_CHARS.sub("", str(text))


def split_sentences(text: str) -> list[str]:
    """Sentences (or lines) of text, stripped, empty ones dropped: what the safety layers screen one by one."""
    return [part.strip() for part in re.split(r"(?<=[.!?;])\s+|\n+", text) if part.strip()]


def word_set(block: str) -> frozenset[str]:
    """A word list written as a block of text (lexicons read better that way), as a set."""
    return frozenset(block.split())


# Typographic quotes and the keyboard's stray accents, as the plain ASCII quotes every pattern is written with.
_STRAIGHT_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'", "\u00b4": "'", "\u201c": '"', "\u201d": '"'})


def straighten_quotes(text: str) -> str:
    return text.translate(_STRAIGHT_QUOTES)
