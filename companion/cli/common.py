"""What every subcommand shares: settings from the flags, safe printing, reading text from argv or stdin."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from companion.config import Settings, looks_like_model_path
from companion.errors import InputError


def settings_from_args(args: argparse.Namespace) -> Settings:
    settings = Settings.load(Path(args.home).expanduser() if getattr(args, "home", None) else None)
    model = getattr(args, "model", None)
    if model:
        if looks_like_model_path(model):
            settings = settings.with_changes(chat_model=Path(model).expanduser(), chat_model_name=None)
        else:
            settings = settings.with_changes(chat_model=None, chat_model_name=model)
    return settings


def read_text_argument(value: str) -> str:
    """TEXT or '-' for stdin; invalid UTF-8 on stdin is replaced, never a traceback."""
    if value == "-":
        raw = sys.stdin.buffer.read()
        return raw.decode("utf-8", errors="replace")
    return value


def print_json(payload) -> None:
    sys.stdout.write(json.dumps(payload, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def require_text(text: str, *, what: str) -> str:
    if not text or not text.strip():
        raise InputError(f"The {what} is empty: nothing to work with.", fix=f"type the {what} in quotes, or pass - to read stdin")
    return text


def run_app(args: argparse.Namespace) -> int:
    """Open the Textual app. textual is imported here, only when the app is wanted."""
    settings = settings_from_args(args)
    from companion.tui.app import CompanionApp

    CompanionApp(settings).run()
    return 0
