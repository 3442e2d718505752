"""Child processes that a test stops with Ctrl+C (SIGINT)."""

from __future__ import annotations

import signal


def _default_sigint() -> None:
    # A shell runs background jobs with SIGINT ignored and children inherit that; Python then never raises
    # KeyboardInterrupt, so a Ctrl+C test would pass or fail by how the suite was launched.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


INTERRUPTIBLE = {"preexec_fn": _default_sigint}
