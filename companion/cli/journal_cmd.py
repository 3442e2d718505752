"""`companion journal ...` (list, show, export, delete, encrypt, change-passphrase) and `companion forget`."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path

from companion.cli.common import positive_int, print_json, settings_from_args
from companion.config import Settings
from companion.errors import CompanionError, JournalError
from companion.store.journal import EXPORT_FORMATS, PASSPHRASE_ENV, Journal, PassphraseNeeded, summary_text
from companion.text import CONTROL_CHARS, printable
from companion.timefmt import when

NEW_PASSPHRASE_ENV = "COMPANION_NEW_PASSPHRASE"


def register(subparsers: argparse._SubParsersAction) -> None:
    journal = subparsers.add_parser(
        "journal",
        help="your private journal of reflections and rehearsals (stored only on this device)",
        description="Read, export, delete and encrypt what companion saved. It never leaves this device.",
    )
    actions = journal.add_subparsers(dest="journal_command", metavar="ACTION")
    journal.set_defaults(func=lambda args: (journal.print_help(), 0)[1])

    listing = actions.add_parser("list", help="sessions, newest first (optionally only those matching QUERY)")
    listing.add_argument("query", nargs="?", help="words to look for in turns, summaries and scenario names")
    listing.add_argument("--limit", type=positive_int, default=None, help="show at most this many sessions")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(func=cmd_list)

    show = actions.add_parser("show", help="every turn of one session")
    show.add_argument("session_id", type=int, metavar="ID")
    show.add_argument("--json", action="store_true", help="machine-readable output")
    show.set_defaults(func=cmd_show)

    export = actions.add_parser(
        "export", help="write sessions as Markdown or JSON (to PATH, or to the terminal)"
    )
    export.add_argument(
        "path", nargs="?", help="file to write (created readable only by you); default: stdout"
    )
    export.add_argument("--format", choices=EXPORT_FORMATS, default="md")
    export.add_argument(
        "--session",
        type=int,
        action="append",
        dest="sessions",
        metavar="ID",
        help="export only this session (repeat for more); default: all",
    )
    export.set_defaults(func=cmd_export)

    delete = actions.add_parser("delete", help="delete one session and every turn in it, for good")
    delete.add_argument("session_id", type=int, metavar="ID")
    delete.set_defaults(func=cmd_delete)

    encrypt = actions.add_parser(
        "encrypt",
        help="lock the journal with a passphrase (AES-256-GCM)",
        description=f"Encrypt every saved turn and summary. The passphrase is asked for, or read from {PASSPHRASE_ENV}. "
        "There is no way to recover a forgotten passphrase.",
    )
    encrypt.set_defaults(func=cmd_encrypt)

    change = actions.add_parser(
        "change-passphrase",
        help="choose a new passphrase (re-encrypts everything at once)",
        description=f"The current passphrase comes from {PASSPHRASE_ENV} or a prompt; "
        f"the new one from {NEW_PASSPHRASE_ENV} or a prompt.",
    )
    change.set_defaults(func=cmd_change_passphrase)

    forget = subparsers.add_parser(
        "forget",
        help="erase every trace of companion's data from this device",
        description="Removes the journal, the search index, logs, settings and documents you added. "
        "Downloaded models stay unless you add --models.",
    )
    forget.add_argument(
        "--models", action="store_true", help="also remove models downloaded into the data folder"
    )
    forget.add_argument("--yes", action="store_true", help="do not ask for confirmation (for scripts)")
    forget.set_defaults(func=cmd_forget)


# ---- helpers ----------------------------------------------------------------------------------------------


def terminal_safe(text: str) -> str:
    """Show stored text as text: control characters become visible escapes, never terminal commands."""
    return CONTROL_CHARS.sub(lambda match: f"\\x{ord(match.group()):02x}", text)


def _ask_passphrase(prompt: str) -> str:
    if not sys.stdin.isatty():
        raise PassphraseNeeded(
            "The journal passphrase is needed and there is no terminal to ask it in.",
            kept="Nothing was read or changed.",
            fix=f"set {PASSPHRASE_ENV} (and {NEW_PASSPHRASE_ENV} when changing it)",
        )
    return getpass.getpass(prompt)


def _choose_passphrase(env_name: str, what: str) -> str:
    chosen = os.environ.get(env_name)
    if chosen:
        return chosen
    first = _ask_passphrase(f"{what}: ")
    if not first:
        raise JournalError(
            "The passphrase is empty.", kept="Nothing was changed.", fix="choose a non-empty passphrase"
        )
    if _ask_passphrase("Type it again: ") != first:
        raise JournalError(
            "The two passphrases differ.", kept="Nothing was changed.", fix="run the command again"
        )
    return first


def open_journal(settings: Settings, passphrase: str | None = None) -> Journal:
    """Open the journal; an encrypted one asks for its passphrase when there is a terminal."""
    try:
        journal = Journal(settings.journal_path, passphrase=passphrase)
    except PassphraseNeeded:
        journal = Journal(settings.journal_path, passphrase=_ask_passphrase("Journal passphrase: "))
    for notice in journal.notices:
        print(f"companion: {notice}", file=sys.stderr)
    return journal


# ---- commands ---------------------------------------------------------------------------------------------


def cmd_list(args: argparse.Namespace) -> int:
    with open_journal(settings_from_args(args)) as journal:
        sessions = journal.list_sessions(args.query, limit=args.limit)
    if args.json:
        print_json({"sessions": [vars(info) for info in sessions]})
        return 0
    if not sessions:
        print("No sessions match." if args.query else "The journal is empty.")
        return 0
    for info in sessions:
        scenario = f" · {info.scenario}" if info.scenario else ""
        print(
            f"{info.id:>4}  {when(info.started):<22}  {info.kind}{scenario}  "
            f"({info.turn_count} turns)  {terminal_safe(info.preview)}"
        )
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    with open_journal(settings_from_args(args)) as journal:
        session = journal.get_session(args.session_id)
    if args.json:
        print_json(session.to_dict())
        return 0
    scenario = f" · {session.scenario}" if session.scenario else ""
    print(f"Session {session.id} · {session.kind}{scenario} · {when(session.started)}")
    for turn in session.turns:
        engine = f" ({turn.engine})" if turn.engine else ""
        print(f"\n{turn.speaker}{engine}: {terminal_safe(turn.text)}")
        if turn.coach and isinstance(turn.coach, dict) and turn.coach.get("tip"):
            print(f"  coach: {terminal_safe(str(turn.coach['tip']))}")
    summary = summary_text(session.summary)
    if summary:
        print(f"\n{terminal_safe(summary)}")  # a rehearsal's summary as the app showed it
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    with open_journal(settings_from_args(args)) as journal:
        text = journal.export(args.sessions, format=args.format)
    if not args.path:
        sys.stdout.write(printable(text))  # the terminal gets text, never what stored text could make it do
        return 0
    target = Path(args.path).expanduser()
    try:
        # Exclusive create at 0600: an export never replaces a file and is never readable by others.
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise CompanionError(
            f"{target} already exists.", kept="Nothing was written.", fix="choose a new file name"
        ) from None
    except OSError as exc:
        raise CompanionError(
            f"Could not create {target}: {exc.strerror}.",
            kept="Nothing was written.",
            fix="choose a folder you can write to",
        ) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        target.unlink(missing_ok=True)
        raise CompanionError(
            f"Could not write {target}: {exc.strerror}.",
            kept="The journal is unchanged.",
            fix="free some disk space and export again",
        ) from None
    print(f"Exported to {target} (readable only by you).", file=sys.stderr)
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    with open_journal(settings_from_args(args)) as journal:
        if not journal.delete_session(args.session_id):
            raise JournalError(
                f"There is no journal session {args.session_id}.",
                kept="Nothing was deleted.",
                fix="run `companion journal list` to see the sessions that exist",
            )
    print(f"Deleted session {args.session_id}.")
    return 0


def cmd_encrypt(args: argparse.Namespace) -> int:
    with open_journal(settings_from_args(args)) as journal:
        if journal.encrypted:
            raise JournalError(
                "The journal is already encrypted.",
                kept="Nothing was changed.",
                fix="run `companion journal change-passphrase` to choose a new passphrase",
            )
        passphrase = _choose_passphrase(PASSPHRASE_ENV, "New journal passphrase")
        sealed = journal.enable_encryption(passphrase)
    print("The journal is encrypted. Keep the passphrase safe: it cannot be recovered.")
    if sealed:
        # Copies moved aside earlier held plain text: say which were sealed in their place.
        print(
            f"Also encrypted {len(sealed)} earlier journal cop{'ies' if len(sealed) != 1 else 'y'} kept aside: "
            + ", ".join(path.name for path in sealed)
        )
    return 0


def cmd_change_passphrase(args: argparse.Namespace) -> int:
    with open_journal(settings_from_args(args)) as journal:
        if not journal.encrypted:
            raise JournalError(
                "The journal is not encrypted, so it has no passphrase to change.",
                kept="Nothing was changed.",
                fix="run `companion journal encrypt` to set one",
            )
        journal.change_passphrase(_choose_passphrase(NEW_PASSPHRASE_ENV, "New journal passphrase"))
    print("The passphrase was changed and every entry re-encrypted.")
    return 0


def cmd_forget(args: argparse.Namespace) -> int:
    from companion.store.privacy import forget, plan_forget

    settings = settings_from_args(args)
    plan = plan_forget(settings, include_models=args.models)
    if not plan.remove:
        print(f"Nothing to forget in {settings.home}.")
        return 0
    if not args.yes:
        if not sys.stdin.isatty():
            raise CompanionError(
                "`companion forget` needs a confirmation and there is no terminal to ask in.",
                kept="Nothing was removed.",
                fix="run `companion forget --yes`",
            )
        print("This permanently removes:")
        for path in plan.remove:
            print(f"  {path}")
        if input("Type 'forget' to confirm: ").strip().lower() != "forget":
            print("Nothing was removed.")
            return 1
    done = forget(settings, include_models=args.models)
    print(f"Removed {len(done.remove)} item(s) from {settings.home}.")
    for path in done.left:
        print(printable(f"  left in place (not companion's): {path}"))
    if done.models_kept:
        print(f"  kept downloaded models in {settings.models_dir} (add --models to remove them)")
    return 0
