"""Tokens from a worker thread, handed to the UI in batches, tagged so a cancelled turn never leaks into the next."""

from __future__ import annotations

import threading

# How often the UI takes what the model produced: one refresh per ~50 ms, not one per token.
FLUSH_SECONDS = 0.05


class TokenBuffer:
    """Collects tokens from the generating thread; the UI takes them all at once on its own clock."""

    def __init__(self, generation: int) -> None:
        self.generation = generation
        self.cancel = threading.Event()
        self._lock = threading.Lock()
        self._parts: list[str] = []
        self.tokens_received = 0
        self.restarts = 0  # drafts thrown away by the engine's checks; the UI clears what it showed
        # Set by the worker when it is done, with its result or the error to show.
        self.finished = threading.Event()
        self.result = None
        self.error = None

    def add(self, token: str) -> None:
        """Called from the worker thread for every token (the engine's on_token)."""
        if self.cancel.is_set() or not token:
            return
        with self._lock:
            self._parts.append(token)
            self.tokens_received += 1

    def discard(self, _reason: str = "") -> None:
        """Called from the worker when the streamed draft failed the checks: what was shown must go."""
        with self._lock:
            self._parts.clear()
            self.restarts += 1

    def take(self) -> tuple[str, int]:
        """Called on the UI thread: everything since the last take, joined, and how many restarts so far."""
        with self._lock:
            text = "".join(self._parts)
            self._parts.clear()
            return text, self.restarts


class GenerationCounter:
    """Hands out generation ids; only the newest one may write to the screen."""

    def __init__(self) -> None:
        self.current = 0

    def next(self) -> int:
        self.current += 1
        return self.current

    def invalidate(self) -> None:
        """Make every running generation stale (after a cancel)."""
        self.current += 1

    def is_current(self, generation: int) -> bool:
        return generation == self.current
