"""What every subcommand shares: settings from the flags, safe printing, reading text from argv or stdin."""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from companion.config import MAX_STATEMENT_CHARS, Settings, looks_like_model_path, looks_like_server_url
from companion.errors import InputError
from companion.text import FORMAT_CHARS, printable

# The most bytes read from stdin: the longest statement at UTF-8's widest (4 bytes a character).
MAX_STDIN_BYTES = 4 * MAX_STATEMENT_CHARS
_JSON_UNSAFE = re.compile(f"[\\x7f-\\x9f]|{FORMAT_CHARS.pattern}")


# config.toml warnings already printed by this process (a command may load the settings more than once).
_WARNED: set[str] = set()


def positive_int(text: str) -> int:
    """An argparse type for counts (--limit, -k): a whole number of at least 1, refused with a clear message."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number; give 1 or more") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is too small; give 1 or more")
    return value


def settings_from_args(args: argparse.Namespace, *, print_warnings: bool = True) -> Settings:
    settings = Settings.load(Path(args.home).expanduser() if getattr(args, "home", None) else None)
    for warning in settings.config_warnings if print_warnings else ():
        if warning not in _WARNED:
            _WARNED.add(warning)
            print(printable(f"companion: {warning}"), file=sys.stderr)
    model = getattr(args, "model", None)
    if model:
        if looks_like_server_url(
            model
        ):  # a URL is a model server; server_model from the config still applies
            settings = settings.with_changes(chat_model=None, chat_model_name=None, chat_server=model.strip())
        elif looks_like_model_path(model):
            settings = settings.with_changes(
                chat_model=Path(model).expanduser(), chat_model_name=None, chat_server=None
            )
        else:
            settings = settings.with_changes(chat_model=None, chat_model_name=model, chat_server=None)
    return settings


# An overlong line's rest is read and dropped in pieces of this size, never held whole.
SKIP_PIECE_BYTES = 1 << 16


def bounded_lines(stream, max_line_bytes: int) -> Iterator[bytes]:
    """Each line, read max_line_bytes + 1 bytes at most: an overlong line's rest is read in small pieces and
    dropped, so one runaway line (or a stream with no newline at all) never has to fit in memory."""
    while raw := stream.readline(max_line_bytes + 1):
        if len(raw) > max_line_bytes and not raw.endswith(b"\n"):
            while (rest := stream.readline(SKIP_PIECE_BYTES)) and not rest.endswith(b"\n"):
                pass
        yield raw


def read_text_argument(value: str, *, limit: int = MAX_STDIN_BYTES) -> str:
    """TEXT or '-' for stdin; invalid UTF-8 on stdin is replaced, never a traceback. At most limit + 1 bytes are
    read, so a runaway pipe is refused at once instead of filling memory."""
    if value == "-":
        raw = sys.stdin.buffer.read(limit + 1)
        if len(raw) > limit:
            raise InputError(
                f"Standard input is longer than the limit of {limit:,} bytes for one statement; it was not read "
                "further.",
                kept="Nothing was stored.",
                fix="pipe in only the few sentences that matter (or pass them in quotes)",
            )
        return raw.decode("utf-8", errors="replace")
    return value


def _json_escape(match: re.Match) -> str:
    units = match.group().encode("utf-16-be", "surrogatepass")
    return "".join(f"\\u{int.from_bytes(units[i : i + 2], 'big'):04x}" for i in range(0, len(units), 2))


def print_json(payload) -> None:
    # Characters a terminal could act on (C1 controls, bidi and format marks) go out as JSON escapes: same value.
    text = _JSON_UNSAFE.sub(_json_escape, json.dumps(payload, ensure_ascii=False))
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def require_text(text: str, *, what: str) -> str:
    if not text or not text.strip():
        raise InputError(
            f"The {what} is empty: nothing to work with.",
            fix=f"type the {what} in quotes, or pass - to read stdin",
        )
    return text


def run_app(args: argparse.Namespace, startup_messages: Sequence[str] = ()) -> int:
    """Open the Textual app. textual is imported here, only when the app is wanted. The app shows the startup
    messages and the config warnings itself, as notifications."""
    settings = settings_from_args(args, print_warnings=False)
    from companion.tui.app import CompanionApp

    CompanionApp(settings, startup_messages=startup_messages).run()
    return 0
