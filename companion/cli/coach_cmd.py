"""`companion coach`: label listener replies (reflection, question, input, other), flag horsemen, give a tip."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator

from companion.cli.common import (
    bounded_lines,
    print_json,
    read_text_argument,
    require_text,
    settings_from_args,
)
from companion.errors import InputError

# Lines embedded together: big enough for llama.cpp batching, small enough to stream results as they come.
CHUNK_LINES = 512
# A JSON line longer than this is refused on its own line rather than parsed.
MAX_LINE_BYTES = 1_000_000


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "coach",
        help="coach a listener's reply: reflection, question, advice... plus horsemen and a tip",
        description="The listening coach used in rehearsals, on its own.",
    )
    commands = parser.add_subparsers(dest="coach_command", metavar="SUBCOMMAND")

    label = commands.add_parser(
        "label",
        help='batch: read JSON lines {"text", "context"} on stdin, write one JSON result per line',
        description='Reads JSON lines like {"text": "It sounds like you felt alone.", "context": "You left '
        'me at the party."} ("context", what the partner said just before, is optional) and writes one line '
        'per input: {"label", "subtype", "flags", "tip", "tip_section"}. A line that cannot be read gets '
        '{"error": ..., "line": N} instead; the rest still run.',
    )
    label.add_argument("--input", metavar="FILE", help="read this file instead of stdin")
    label.set_defaults(func=run_label)

    assess = commands.add_parser("assess", help="coach one reply")
    assess.add_argument("text", metavar="TEXT", help="the listener's reply, in quotes; - reads stdin")
    assess.add_argument("--context", help="what the partner said just before it")
    assess.add_argument("--json", action="store_true", help="print one JSON object")
    assess.set_defaults(func=run_assess)

    parser.set_defaults(func=lambda args: (parser.print_help(), 0)[1])


def build_coach(args: argparse.Namespace):
    """The coach the app's rehearsals use (the coach-tuned encoder once merged); without any embedder, the cue-only
    model (and a note on stderr)."""
    from companion.services import Services

    coach = Services(settings_from_args(args), use_model=False).coach
    if coach.embedder is None:
        print(
            "companion: the embedder is not prepared; coaching from surface cues only. "
            "Fix: companion models prepare-embedder",
            file=sys.stderr,
        )
    return coach


def run_assess(args: argparse.Namespace) -> int:
    text = require_text(read_text_argument(args.text), what="reply")
    result = build_coach(args).assess(text, args.context)
    if args.json:
        print_json(result.to_json())
        return 0
    subtype = f" ({result.subtype})" if result.subtype else ""
    print(f"{result.label}{subtype}")
    if result.flags:
        print("flags: " + ", ".join(result.flags))
    print(f"tip: {result.tip}")
    print(f"from: {result.tip_section}")
    if result.notice:
        print(f"note: {result.notice}")
    return 0


def parse_line(raw: bytes) -> tuple[str, str | None] | str:
    """(text, context) from one JSON line, or the reason it can't be used."""
    if len(raw) > MAX_LINE_BYTES:
        return f"line is longer than {MAX_LINE_BYTES:,} bytes, the limit; it was skipped unread"
    try:
        record = json.loads(raw.decode("utf-8", errors="replace"))
    except json.JSONDecodeError as exc:
        return f"not JSON ({exc.msg} at column {exc.colno})"
    if not isinstance(record, dict):
        return 'expected a JSON object like {"text": "...", "context": "..."}'
    text = record.get("text")
    if not isinstance(text, str):
        return 'missing "text" (a string)'
    context = record.get("context")
    if context is not None and not isinstance(context, str):
        return '"context" must be a string or null'
    return text, context


def _chunks(stream) -> Iterator[list[tuple[int, bytes]]]:
    chunk: list[tuple[int, bytes]] = []
    for number, raw in enumerate(bounded_lines(stream, MAX_LINE_BYTES), 1):
        if not raw.strip():
            continue  # blank lines are separators, not inputs
        chunk.append((number, raw.rstrip(b"\r\n")))
        if len(chunk) >= CHUNK_LINES:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _open_input(path: str | None):
    if not path:
        return sys.stdin.buffer
    try:
        return open(path, "rb")  # noqa: SIM115 - closed by run_label
    except OSError as exc:
        raise InputError(
            f"Cannot read {path}: {exc.strerror}.",
            kept="Nothing was labelled.",
            fix="check the path, or pipe the JSON lines on stdin",
        ) from exc


def run_label(args: argparse.Namespace) -> int:
    stream = _open_input(args.input)
    coach = build_coach(args)
    out = sys.stdout
    try:
        for chunk in _chunks(stream):
            parsed = [(number, parse_line(raw)) for number, raw in chunk]
            good = [(number, item) for number, item in parsed if not isinstance(item, str)]
            results = iter(coach.assess_batch([item for _, item in good]))
            for number, item in parsed:
                if isinstance(item, str):
                    payload = {"error": item, "line": number}
                else:
                    result = next(results)
                    payload = {
                        "label": result.label,
                        "subtype": result.subtype,
                        "flags": result.flags,
                        "tip": result.tip,
                        "tip_section": result.tip_section,
                    }
                    if result.notice:
                        payload["notice"] = result.notice
                out.write(json.dumps(payload, ensure_ascii=False) + "\n")
            out.flush()
    finally:
        if args.input:
            stream.close()
    return 0
