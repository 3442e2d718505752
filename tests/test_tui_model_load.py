"""Loading a model inside the running app, in a real pseudo-terminal, leaves the screen whole.

llama-cpp-python points fds 1 and 2 at /dev/null while it loads a model, and Textual draws on fd 2: frames written
meanwhile would be lost. This runs the real app on a pty, loads the tiny GGUF while it paints, and reads the
terminal back through a VT emulator (pyte) to check what a person would see.
"""

from __future__ import annotations

import fcntl
import os
import select
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pyte

ROOT = Path(__file__).resolve().parent.parent
COLUMNS, LINES = 100, 30

CHILD = """
import sys
from pathlib import Path
from companion.config import Settings
from companion.tui.app import CompanionApp

settings = Settings.load().with_changes(
    chat_model=Path(sys.argv[1]), embed_model=Path(sys.argv[2]), knowledge_dirs=()
)
CompanionApp(settings).run()
"""


def read_for(fd: int, rounds: int) -> bytes:
    """What the app writes over `rounds` short waits (the cursor blinks, so it is never quite silent)."""
    chunks = []
    for _ in range(rounds):
        ready, _, _ = select.select([fd], [], [], 0.1)
        if not ready:
            continue
        try:
            data = os.read(fd, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks)


def test_the_screen_stays_whole_while_the_model_loads_inside_the_app(
    companion_home, tiny_chat_model, tiny_embed_model
):
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", LINES, COLUMNS, 0, 0))
    env = dict(os.environ, PYTHONPATH=str(ROOT), COMPANION_HOME=str(companion_home), TERM="xterm-256color")
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tiny_chat_model), str(tiny_embed_model)],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        cwd=ROOT,
        start_new_session=True,
    )
    os.close(slave)
    screen = pyte.Screen(COLUMNS, LINES)
    stream = pyte.ByteStream(screen)
    seen = b""
    try:
        # Read until the status line names the loaded model, then a little longer for the frames after it.
        for _ in range(3000):
            data = read_for(master, 1)
            seen += data
            stream.feed(data)
            if b"tiny-chat" in seen or child.poll() is not None:
                break
        stream.feed(read_for(master, 20))
        lines = screen.display
    finally:
        child.kill()
        child.wait()
        os.close(master)
    shown = "\n".join(lines)
    assert child.returncode is not None
    assert b"tiny-chat" in seen, shown
    # The whole frame is there after the load: status line, navigation, the input, the footer.
    assert "engine: tiny-chat" in lines[0], shown
    assert "offline · stored on this device" in lines[0], shown
    assert "F2 Reflect" in lines[1], shown
    assert any("What did your partner say?" in line for line in lines), shown
    assert "Reflect" in lines[-1], shown
    # Nothing llama.cpp might print (load messages, metadata) reached the terminal.
    assert "llama_model_loader" not in shown and "llama_" not in seen.decode("utf-8", "replace")
