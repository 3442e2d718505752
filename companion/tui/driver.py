"""A terminal driver that draws on its own copy of the terminal.

llama-cpp-python points file descriptors 1 and 2 at /dev/null while it loads a model (verbose=False), and any
C code may write to them. Textual draws on sys.__stderr__ (fd 2), so frames written during a load would vanish
and leave a blank or torn screen. This driver writes to a private duplicate of the terminal instead: whatever
happens to fds 1 and 2, the screen keeps every frame.
"""

from __future__ import annotations

import contextlib
import os
import sys

from textual.drivers.linux_driver import LinuxDriver


class PrivateTerminalDriver(LinuxDriver):
    """LinuxDriver whose output goes to a dup() of the terminal taken before any model is loaded."""

    def __init__(self, app, **kwargs) -> None:
        super().__init__(app, **kwargs)
        original = sys.__stderr__
        self._private_terminal = None
        try:
            terminal_fd = os.dup(original.fileno())
        except (AttributeError, OSError, ValueError):
            return  # no real stderr (e.g. a daemon): keep Textual's default
        encoding = getattr(original, "encoding", None) or "utf-8"
        self._private_terminal = os.fdopen(terminal_fd, "w", encoding=encoding, errors="replace")
        self._file = self._private_terminal

    def _get_terminal_size(self) -> tuple[int, int]:
        # Ask our own copy first: fds 0-2 may point at /dev/null mid-load when the terminal is resized.
        if self._private_terminal is not None:
            try:
                size = os.get_terminal_size(self._private_terminal.fileno())
                if size.columns and size.lines:
                    return size.columns, size.lines
            except OSError:
                pass
        return super()._get_terminal_size()

    def close(self) -> None:
        super().close()
        if self._private_terminal is not None:
            with contextlib.suppress(OSError):
                self._private_terminal.close()
            self._private_terminal = None


def terminal_driver_class():
    """The driver to use for a real terminal on this platform (None: Textual's default)."""
    if sys.platform.startswith("win"):
        return None
    return PrivateTerminalDriver
