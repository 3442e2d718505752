"""Errors a person can act on: what happened, what was kept, and the command that fixes it."""

from __future__ import annotations


class CompanionError(Exception):
    """A failure to show a person as one clear line, never as a traceback."""

    def __init__(self, message: str, *, fix: str | None = None, kept: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix
        self.kept = kept

    def __str__(self) -> str:
        parts = [self.message]
        if self.kept:
            parts.append(self.kept)
        if self.fix:
            parts.append(f"Fix: {self.fix}")
        return " ".join(parts)


class ModelError(CompanionError):
    """A model file is missing, unreadable or not a GGUF llama.cpp can load."""


class IndexError_(CompanionError):
    """The search index could not be opened, built or queried."""


class JournalError(CompanionError):
    """The journal could not be opened, read or written."""


class InputError(CompanionError):
    """What the person gave us cannot be used as it is (empty, binary, too long...)."""
