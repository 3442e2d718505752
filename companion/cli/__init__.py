"""`companion`: the TUI with no arguments, headless subcommands otherwise. Never imports textual for those."""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from companion import __version__
from companion.errors import CompanionError
from companion.text import printable

# Each module registers its own subcommands; the order here is the order in `companion --help`.
COMMAND_MODULES = (
    "companion.cli.reflect_cmd",
    "companion.cli.rehearse_cmd",
    "companion.cli.coach_cmd",
    "companion.cli.knowledge_cmd",
    "companion.cli.models_cmd",
    "companion.cli.journal_cmd",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="companion",
        description="A private, local companion that helps you listen to the person you love. "
        "Run with no command to open the app. Everything stays on this device.",
    )
    parser.add_argument("--version", action="version", version=f"companion {__version__}")
    parser.add_argument("--home", help="data folder (default: $COMPANION_HOME or your user data folder)")
    parser.add_argument(
        "--adopt-home",
        action="store_true",
        help="use --home even though it already holds files companion did not create "
        "(companion then touches only its own files there)",
    )
    parser.add_argument(
        "--model",
        help="a chat model: a GGUF path, a catalogue name, or a model server's "
        "address (http://127.0.0.1:11434/v1)",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue  # a command group not built yet
        module.register(subparsers)
    return parser


# Commands that only read the data folder (a shared lock); every other command writes (an exclusive one).
# A reader that finds the index stale refreshes it only when no one else holds the folder.
READING_COMMANDS = {
    ("journal", None),
    ("journal", "list"),
    ("journal", "show"),
    ("journal", "export"),
    ("knowledge", None),
    ("knowledge", "list"),
    ("search", None),
    ("reflect", None),
    ("models", None),
    ("models", "list"),
    ("coach", None),
    ("coach", "label"),
    ("coach", "assess"),
}


def data_access(args: argparse.Namespace) -> str:
    """How a command uses the data folder: 'app', 'forget', 'read' (shared lock) or 'write' (exclusive)."""
    if args.command is None:
        return "app"
    if args.command == "forget":
        return "forget"
    if args.command == "rehearse" and getattr(args, "list", False):
        return "read"
    action = getattr(args, f"{args.command}_command", None)
    return "read" if (args.command, action) in READING_COMMANDS else "write"


def _home(args: argparse.Namespace) -> Path:
    from companion.config import default_home

    return Path(args.home).expanduser() if args.home else default_home()


def _tell_waiting(note: str) -> None:
    if sys.stderr.isatty():  # a person sees why nothing happens yet; a script's stderr keeps only the outcome
        print(f"companion: {note}…", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    from companion.store import (
        privacy,  # Before any library that could phone home is imported: offline, no telemetry (only `models pull` downloads).
    )

    privacy.prepare_process(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        # Held for the whole command: writers alone, readers together, and never in a folder that is not ours.
        with privacy.use_data_folder(
            _home(args), data_access(args), adopt=args.adopt_home, on_wait=_tell_waiting
        ) as warnings:
            if (
                args.command is None
            ):  # the app shows them as notifications: printed, they would hide behind it
                from companion.cli.common import run_app

                return run_app(args, startup_messages=warnings)
            for warning in warnings:
                print(printable(f"companion: {warning}"), file=sys.stderr)
            return int(args.func(args) or 0)
    except CompanionError as exc:
        print(printable(f"companion: {exc}"), file=sys.stderr)  # a file name in the message may carry escapes
        return 2
    except KeyboardInterrupt:
        print("companion: stopped.", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
