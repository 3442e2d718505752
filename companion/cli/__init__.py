"""`companion`: the TUI with no arguments, headless subcommands otherwise. Never imports textual for those."""

from __future__ import annotations

import argparse
import importlib
import sys

from companion import __version__
from companion.errors import CompanionError

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
    parser.add_argument("--model", help="a chat model: a GGUF path or a catalogue name")
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


def main(argv: list[str] | None = None) -> int:
    from companion.store import (
        privacy,  # Before any library that could phone home is imported: offline, no telemetry (only `models pull` downloads).
    )
    privacy.prepare_process(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    for warning in privacy.startup_warnings(args.home):
        print(f"companion: {warning}", file=sys.stderr)
    try:
        if args.command is None:
            from companion.cli.common import run_app

            return run_app(args)
        return int(args.func(args) or 0)
    except CompanionError as exc:
        print(f"companion: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("companion: stopped.", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
