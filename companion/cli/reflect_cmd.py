"""`companion reflect TEXT`: a listener's reflection of what your partner said, streamed to the terminal."""

from __future__ import annotations

import argparse
import sys

from companion.cli.common import print_json, read_text_argument, settings_from_args
from companion.text import printable


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "reflect",
        help="reflect what your partner said, the way a skilled listener would",
        description="Type what your partner said; the companion answers with a tentative reflection of the "
        "feeling, what happened and the need underneath, and shows the guidance it leaned on.",
    )
    parser.add_argument(
        "text", metavar="TEXT", help="what your partner said, in quotes; - reads it from stdin"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of streaming text")
    parser.add_argument(
        "--no-model", action="store_true", help="use the built-in reflector, not a chat model"
    )
    parser.add_argument(
        "--model",
        default=argparse.SUPPRESS,
        metavar="PATH",  # keeps a top-level --model
        help="a chat model: a GGUF path or a catalogue name",
    )
    parser.set_defaults(func=run_reflect)


def run_reflect(args: argparse.Namespace) -> int:
    from companion.listen.reflect import clean_statement
    from companion.services import Services

    statement = clean_statement(read_text_argument(args.text))
    settings = settings_from_args(args)
    with Services(settings, use_model=not args.no_model) as services:
        engine = services.reflection
        if args.json:
            result = engine.reflect(statement)
            print_json(result.to_json())
            _print_problems(services)  # stdout stays one JSON object
            return 0
        return _stream_to_terminal(engine, statement, services)


def _stream_to_terminal(engine, statement: str, services) -> int:
    out = sys.stdout
    streamed: list[str] = []

    def on_token(piece: str) -> None:
        streamed.append(piece)
        out.write(printable(piece))
        out.flush()

    def on_discard(reason: str) -> None:
        streamed.clear()
        out.write("\n")
        print(printable(f"(that draft did not pass the checks: {reason})"), file=sys.stderr)

    result = engine.reflect(statement, on_token=on_token, on_discard=on_discard)
    shown = "".join(streamed).strip()
    crisis = result.safety is not None and result.safety["level"] == "crisis"
    if shown and result.engine != "builtin" and not crisis:
        # The model's draft is on the screen already: the checks only tidy it (quotes, a label, spacing), so it is
        # finished, never printed a second time; only words the stream did not carry are added.
        rest = result.reflection[len(shown) :] if result.reflection.startswith(shown) else ""
        out.write(printable(rest) + "\n")
    else:
        if shown:
            out.write("\n")
        out.write(printable(result.reflection) + "\n")
    if crisis:
        _write_resources(out, result.safety["resources"])
        return 0
    if result.alternatives:
        out.write("\nOther ways to say it:\n")
        for alternative in result.alternatives:
            out.write(printable(f"  • {alternative}") + "\n")
    if result.feelings or result.needs:
        out.write("\n")
    if result.feelings:
        out.write(printable(f"Feelings: {', '.join(result.feelings)}") + "\n")
    if result.needs:
        out.write(printable(f"Needs: {', '.join(result.needs)}") + "\n")
    if result.citations:
        out.write("\nGuidance used:\n")
        for citation in result.citations:
            # Headings and file names come from documents a person added: shown as text, never obeyed.
            out.write(printable(f"  • {citation['section']} ({citation['source']})") + "\n")
    if result.safety is not None:  # a check-in: the note and resources under the reflection
        out.write(f"\n{result.safety['message']}\n")
        _write_resources(out, result.safety["resources"])
    out.write(printable(f"\nEngine: {engine_description(result.model)}") + "\n")
    _print_problems(services)
    if result.notice:
        print(printable(result.notice), file=sys.stderr)
    return 0


def _print_problems(services) -> None:
    """What could not be used (the embedder, the listener), once each, on stderr."""
    for problem in services.problems.values():
        print(printable(problem), file=sys.stderr)


def engine_description(model: dict | None) -> str:
    """'the listener: SmolLM2-135M-Instruct + …, 108 MB, Apache-2.0 …' or 'built-in reflector'."""
    if not model:
        return "built-in reflector"
    if (
        model.get("engine") == "server"
    ):  # a model server: where it is matters more than a size it does not tell
        return f"model server: {model['name']} at {model['server']}"
    kind = "the listener" if model.get("engine") == "listener" else "llama"
    details = [f"{model['size_mb']:.0f} MB"] if isinstance(model.get("size_mb"), int | float) else []
    details += [str(model["licence"])] if model.get("licence") else []
    return f"{kind}: {model['name']}" + (f" ({', '.join(details)})" if details else "")


def _write_resources(out, resources) -> None:
    for resource in resources:
        out.write(f"  • {resource}\n")
