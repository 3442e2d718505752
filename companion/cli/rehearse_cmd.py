"""`companion rehearse [SCENARIO]`: practise a hard conversation in the plain terminal, coached on every reply."""

from __future__ import annotations

import argparse
import functools
import sys

from companion.cli.common import MAX_STDIN_BYTES, bounded_lines, settings_from_args
from companion.errors import CompanionError, InputError
from companion.text import printable

END_COMMANDS = ("/end", "/quit", "/exit")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "rehearse",
        help="rehearse a hard conversation with a simulated partner, coached on every reply",
        description="The companion plays your partner in a scenario; you practise listening. After each reply "
        "a coach says what you did and one thing to try; at the end you get a summary. Type /end (or press "
        "Ctrl-D) to finish. Reads replies line by line from stdin, so it also works with piped input.",
    )
    parser.add_argument("scenario", nargs="?", metavar="SCENARIO", help="a scenario id (see --list)")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    parser.add_argument(
        "--no-model", action="store_true", help="scripted partner replies only, no chat model"
    )
    parser.add_argument(
        "--model",
        default=argparse.SUPPRESS,
        metavar="PATH",  # keeps a top-level --model
        help="a chat model for the partner: a GGUF path or a catalogue name",
    )
    parser.set_defaults(func=run_rehearse)


def _say(text: str = "") -> None:
    sys.stdout.write(printable(text) + "\n")
    sys.stdout.flush()


def _warn(text: str) -> None:
    sys.stderr.write(printable(text) + "\n")
    sys.stderr.flush()


def _load(settings):
    from companion.rehearse.scenarios import default_scenario_dirs, load_scenarios

    scenarios, errors = load_scenarios(default_scenario_dirs(settings))
    for error in errors:
        _warn(f"companion: skipped a scenario file: {error}")
    return scenarios


def _list(scenarios) -> int:
    if not scenarios:
        raise CompanionError(
            "No scenarios were found.", fix="check knowledge/scenarios/ or run scripts/setup"
        )
    width = max(len(s.id) for s in scenarios)
    for scenario in scenarios:
        _say(f"{scenario.id:<{width}}  {scenario.title} — {scenario.description}")
    return 0


@functools.cache
def _piped_lines():
    """Piped replies, a bounded line at a time: a runaway pipe is never held whole (the reply limit refuses it)."""
    return bounded_lines(sys.stdin.buffer, MAX_STDIN_BYTES)


def _read_line(interactive: bool) -> str | None:
    """One reply, or None at the end of input. Invalid UTF-8 on a pipe is replaced, never a traceback."""
    if interactive:
        try:
            return input("You: ")
        except EOFError:
            return None
    raw = next(_piped_lines(), b"")
    if not raw:
        return None
    return raw.decode("utf-8", errors="replace").rstrip("\r\n")


def _coaching_lines(coaching) -> list[str]:
    label = getattr(coaching, "label", "other")
    subtype = getattr(coaching, "subtype", None)
    flags = [flag.replace("_", "-") for flag in (getattr(coaching, "flags", None) or ())]
    line = f"  coach: {label}" + (f" ({subtype})" if subtype else "")
    if flags:
        line += " · " + ", ".join(flags)
    lines = [line]
    tip = getattr(coaching, "tip", None)
    if tip:
        where = getattr(coaching, "tip_section", None)
        lines.append(f"  try: {tip}" + (f"  [guidance: {where}]" if where else ""))
    return lines


def run_rehearse(args: argparse.Namespace) -> int:
    from companion.rehearse.scenarios import find_scenario
    from companion.services import Services

    settings = settings_from_args(args)
    scenarios = _load(settings)
    if args.list:
        return _list(scenarios)
    interactive = sys.stdin.isatty()
    key = args.scenario
    if not key:
        if not interactive:
            raise InputError(
                "Which scenario? None was given.", fix="companion rehearse --list, then companion rehearse ID"
            )
        _list(scenarios)
        try:
            key = input("Which scenario? ").strip()
        except EOFError:
            return 0
    scenario = find_scenario(scenarios, key)

    with Services(settings, use_model=not args.no_model) as services:
        for notice in services.journal.notices:
            _warn(f"companion: {notice}")
        # The same rehearsal the TUI starts: shared coach, journal, region and both safety layers.
        return _converse(services.rehearsal(scenario), interactive)


def _converse(rehearsal, interactive: bool) -> int:
    scenario = rehearsal.scenario
    name = scenario.partner_name
    engine = "a chat model, kept in character" if rehearsal.chat_model is not None else "scripted replies"
    _say(f"Rehearsing: {scenario.title}")
    _say(f"{scenario.description} {name} speaks first ({engine}). Type your reply; /end finishes.")
    _say()
    _say(f"{name}: {rehearsal.opening()}")
    try:
        while True:
            line = _read_line(interactive)
            if line is None or line.strip().lower() in END_COMMANDS:
                break
            try:
                turn = rehearsal.reply(line)
            except InputError as exc:
                _warn(f"companion: {exc}")
                continue
            if turn.safety is not None:
                _say()
                _say(turn.safety.message)
                for resource in turn.safety.resources:
                    _say(f"  • {resource}")
                _say()
                _say(f"(The rehearsal is paused. Type a reply to go on with {name}, or /end to finish.)")
                continue
            if not interactive:
                _say(f"You: {turn.listener_text}")
            for coaching_line in _coaching_lines(turn.coaching):
                _say(coaching_line)
            notice = turn.notice or getattr(turn.coaching, "notice", None)
            if notice:
                _say(f"  note: {notice}")
            _say()
            _say(f"{name}: {turn.partner_reply}")
    except KeyboardInterrupt:
        _say()
    summary = rehearsal.finish()
    _say()
    _say(summary.as_text())
    if rehearsal.journal is not None and rehearsal.session_id is not None:
        _say(
            f"\nSaved to your journal as session {rehearsal.session_id}: companion journal show {rehearsal.session_id}"
        )
    return 0
