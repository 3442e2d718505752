"""`companion knowledge add|list`, `companion index [--rebuild]`, `companion search QUERY`: private guidance search."""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import textwrap
from pathlib import Path

from companion.cli.common import positive_int, print_json, read_text_argument, settings_from_args
from companion.errors import IndexError_, InputError, ModelError
from companion.store.privacy import writing_if_free
from companion.text import printable

EXCERPT_CHARS = 360


def register(subparsers) -> None:
    knowledge = subparsers.add_parser(
        "knowledge",
        help="add your own guidance documents or list what the companion knows",
        description="The guidance the companion searches: the bundled guidance plus documents you add. "
        "Added documents are copied into your data folder, so the index can always be rebuilt.",
    )
    actions = knowledge.add_subparsers(dest="knowledge_command", metavar="ACTION")
    add = actions.add_parser(
        "add",
        help="add a document or a folder of them (.pdf .docx .html .epub .md .txt)",
        description="Add a PDF, Word file (.docx), web page (.html), e-book (.epub), Markdown "
        "or text file, or every such file in a folder; each is copied into your data folder "
        "and indexed. Adding a changed file again updates only its changed sections.",
    )
    add.add_argument("path", metavar="PATH", help="the document or folder to add")
    add.add_argument(
        "--watch",
        action="store_true",
        help="remember the folder: at each start its new, changed and removed files are followed",
    )
    add.set_defaults(func=run_knowledge_add)
    remove = actions.add_parser(
        "remove",
        help="remove a document you added",
        description="Remove a document you "
        "added (its copy and its sections); NAME as `companion knowledge list` shows it.",
    )
    remove.add_argument("name", metavar="NAME", help="e.g. documents/handout.pdf (or just handout.pdf)")
    remove.set_defaults(func=run_knowledge_remove)
    listing = actions.add_parser(
        "list",
        help="list the guidance documents",
        description="List every guidance document with its number of sections.",
    )
    listing.add_argument("--json", action="store_true", help="print one JSON object")
    listing.set_defaults(func=run_knowledge_list)
    knowledge.set_defaults(func=lambda args: knowledge.print_help() or 0)

    index = subparsers.add_parser(
        "index",
        help="bring the search index up to date with the guidance",
        description="Embed new or changed guidance sections and drop removed ones; unchanged sections are "
        "not embedded again. --rebuild starts from scratch.",
    )
    index.add_argument(
        "--rebuild", action="store_true", help="throw the index away and embed everything again"
    )
    index.set_defaults(func=run_index)

    search = subparsers.add_parser(
        "search",
        help="search the guidance privately, on this device",
        description="Best-matching guidance sections first: by meaning, with exact words and headings counting "
        "too. Matching words are shown in bold.",
    )
    search.add_argument("query", metavar="QUERY", help="what to look for, in quotes; - reads it from stdin")
    search.add_argument(
        "-k", type=positive_int, default=5, metavar="N", help="how many sections to show (default 5)"
    )
    search.add_argument(
        "--json",
        action="store_true",
        help='print {"results": [{"section", "source", "text", "score"}]} instead',
    )
    search.add_argument(
        "--in",
        dest="within",
        metavar="WHERE",
        help="only one document (its name in `knowledge list`), `mine` (what you added) or `bundled`",
    )
    search.set_defaults(func=run_search)


# ---- shared ------------------------------------------------------------------------------------------


def _embedder(settings):
    from companion.engines.tuned import search_embed_model

    path = search_embed_model(
        settings
    )  # the one the app searches with, so the index is never rebuilt between them
    if path is None or not path.is_file():
        where = f" ({path} is missing)" if path is not None else ""
        raise ModelError(
            f"The embedding model is not prepared{where}, so the guidance cannot be indexed or searched.",
            kept="Your documents are kept.",
            fix="companion models prepare-embedder",
        )
    from companion.guidance.embed import Embedder

    return Embedder(path, n_threads=settings.n_threads)


def _open_index(settings):
    from companion.guidance.index import GuidanceIndex
    from companion.logs import configure_logging

    with contextlib.suppress(OSError):  # a read-only data folder keeps no event log; searching still works
        configure_logging(settings)
    _require_writable_index(settings)
    return GuidanceIndex(settings.index_dir, _embedder(settings))


def _require_writable_index(settings) -> None:
    """Chroma writes to its folder even to open it for a search (it has no read-only mode): say so at once."""
    home, index_dir = settings.home, settings.index_dir
    if os.access(home, os.W_OK) and (not index_dir.exists() or os.access(index_dir, os.W_OK)):
        return
    raise IndexError_(
        f"Searching needs a writable data folder: the search index in {index_dir} cannot be opened while "
        f"{home} is read-only.",
        kept="Nothing was changed; `companion journal list`, `show` and `export` still work read-only.",
        fix=f"make it writable (chmod -R u+w {home}), then search again",
    )


def _say(message: str) -> None:
    print(printable(f"companion: {message}"), file=sys.stderr)


class IndexProgress:
    """GuidanceIndex.refresh's progress(done, total) on stderr: one updating line on a terminal, then a summary."""

    def __init__(self, stream=None) -> None:
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()
        self.total = 0
        self.done = 0
        self.started = 0.0

    def __call__(self, done: int, total: int) -> None:
        import time

        if done == 0 or not self.started:
            self.started = time.perf_counter()
        self.done, self.total = done, total
        if self.live:
            elapsed = time.perf_counter() - self.started
            rate = done / elapsed if elapsed > 0 and done else 0.0
            left = f", about {(total - done) / rate:.0f} s left" if rate else ""
            line = f"Indexing: {done}/{total} sections ({100 * done // max(total, 1)}%){left}"
            self.stream.write(f"\r\033[K{line}")
            self.stream.flush()

    def finish(self, *, interrupted: bool = False) -> None:
        """The final line (nothing when nothing was embedded)."""
        import time

        if not self.total:
            return
        if self.live:
            self.stream.write("\r\033[K")
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        if interrupted:
            self.stream.write(f"companion: indexing stopped at {self.done}/{self.total} sections.\n")
        else:
            self.stream.write(
                f"companion: indexed {self.total} sections in {elapsed:.1f} s ({self.total / elapsed:.1f}/s).\n"
            )
        self.stream.flush()


# ---- commands ----------------------------------------------------------------------------------------


def run_knowledge_add(args: argparse.Namespace) -> int:
    from companion.guidance.knowledge import KnowledgeBase

    settings = settings_from_args(args)
    knowledge = KnowledgeBase(settings)
    path = Path(args.path).expanduser()
    if path.is_dir() or args.watch:
        return _add_folder(settings, knowledge, path, watch=args.watch)
    folder = settings.user_documents_dir
    before = {path.name for path in folder.iterdir()} if folder.is_dir() else set()
    document = knowledge.add_document(path)
    was_new = document.path.name not in before
    print(
        printable(
            f"Added {document.path.name}: {len(document.sections)} sections (kept in {document.path.parent})."
        )
    )
    if settings.resolved_embed_model is None:
        _say("it will be searchable once the embedder is prepared. Fix: companion models prepare-embedder")
        return 0
    index = _open_index(settings)
    try:
        _refresh_shown(index, knowledge)
    except KeyboardInterrupt:
        return _roll_back_add(index, document, was_new)
    finally:
        index.close()
    return 0


def _add_folder(settings, knowledge, folder: Path, *, watch: bool) -> int:
    from companion.guidance.library import add_folder

    report = add_folder(knowledge, folder, watch=watch)
    print(printable(f"Folder {folder}: {report.summary()}."))
    for skipped in report.skipped:
        _say(f"skipped {skipped}")
    if watch:
        print("Watching it: new, changed and removed files are followed each time companion starts.")
    return _refresh_after_change(settings, knowledge)


def _refresh_after_change(settings, knowledge) -> int:
    if settings.resolved_embed_model is None:
        _say(
            "documents will be searchable once the embedder is prepared. Fix: companion models prepare-embedder"
        )
        return 0
    index = _open_index(settings)
    try:
        _refresh_shown(index, knowledge)
    except KeyboardInterrupt:
        _say(
            "stopped: the documents are kept and partly indexed; `companion index` finishes it (a search does too)."
        )
        return 130
    finally:
        index.close()
    return 0


def _refresh_shown(index, knowledge) -> None:
    """Bring the index up to date with a progress line, then say what changed; Ctrl+C ends the line and goes up."""
    progress = IndexProgress()
    try:
        report = index.refresh(knowledge.sections(), progress)
    except KeyboardInterrupt:
        progress.finish(interrupted=True)
        raise
    progress.finish()
    if report.notice:
        _say(report.notice)
    print(f"Index: {report.summary()}.")


def _sync_watched(knowledge) -> None:
    """Follow the watched folders (new, changed, removed files) before the index is brought up to date."""
    from companion.guidance.library import sync_watched

    report = sync_watched(knowledge)
    if report.changed:
        _say(f"watched folders: {report.summary()}.")
    for skipped in report.skipped:
        _say(f"skipped {skipped}")


def run_knowledge_remove(args: argparse.Namespace) -> int:
    from companion.guidance.knowledge import KnowledgeBase
    from companion.guidance.library import remove_document

    settings = settings_from_args(args)
    knowledge = KnowledgeBase(settings)
    removed = remove_document(knowledge, args.name)
    print(printable(f"Removed {removed.name} (its copy in {removed.parent} and its sections)."))
    return _refresh_after_change(settings, knowledge)


def _roll_back_add(index, document, was_new: bool) -> int:
    """Ctrl+C while a document is indexed: a new document leaves no copy and no sections; others finish later."""
    if was_new:
        index.remove_source(document.source)
        document.path.unlink(missing_ok=True)
        _say(f"stopped: {document.path.name} was not added (no copy and no sections were kept).")
    else:
        _say(
            "stopped: indexing was interrupted; run `companion index` to finish it (a search finishes it too)."
        )
    return 130


def run_knowledge_list(args: argparse.Namespace) -> int:
    from companion.guidance.knowledge import KnowledgeBase

    knowledge = KnowledgeBase(settings_from_args(args))
    documents = knowledge.documents()
    if args.json:
        print_json(
            {
                "documents": [
                    {
                        "source": doc.source,
                        "title": doc.title,
                        "sections": len(doc.sections),
                        "bundled": doc.bundled,
                        "path": str(doc.path),
                    }
                    for doc in documents
                ],
                "problems": knowledge.problems,
            }
        )
        return 0
    width = max((len(doc.source) for doc in documents), default=10)
    for doc in documents:
        origin = "bundled" if doc.bundled else "added"
        print(printable(f"{doc.source:<{width}}  {len(doc.sections):>3} sections  {origin:<7}  {doc.title}"))
    total = sum(len(doc.sections) for doc in documents)
    print(f"{len(documents)} documents, {total} sections.")
    for problem in knowledge.problems:
        _say(f"skipped: {problem}")
    return 0


def run_index(args: argparse.Namespace) -> int:
    from companion.guidance.knowledge import KnowledgeBase

    settings = settings_from_args(args)
    knowledge = KnowledgeBase(settings)
    _sync_watched(knowledge)
    sections = knowledge.sections()
    index = _open_index(settings)
    progress = IndexProgress()
    try:
        report = index.rebuild(sections, progress) if args.rebuild else index.refresh(sections, progress)
    except KeyboardInterrupt:
        progress.finish(interrupted=True)
        _say("stopped: the sections indexed so far are kept; run `companion index` again to finish.")
        return 130
    finally:
        index.close()
    progress.finish()
    if report.notice:
        _say(report.notice)
    for problem in knowledge.problems:
        _say(f"skipped: {problem}")
    print(f"Index: {report.summary()}.")
    return 0


def run_search(args: argparse.Namespace) -> int:
    from companion.guidance.knowledge import KnowledgeBase

    query = read_text_argument(args.query)
    if not query.strip():
        raise InputError(
            "The search query is empty: nothing to look for.",
            fix='type what you are looking for in quotes, e.g. companion search "repair after a fight"',
        )
    settings = settings_from_args(args)
    index = _open_index(settings)
    try:
        # A no-op when nothing changed (no embedding); it also heals a missing or damaged index. Skipped while
        # another command writes the data folder: this search then reads the index as it is.
        with writing_if_free(settings.home) as free:
            if free:
                knowledge = KnowledgeBase(settings)
                _sync_watched(knowledge)
            report = index.refresh(knowledge.sections()) if free else None
        results = index.search(query, k=args.k, within=args.within)
    finally:
        index.close()
    notices = [notice for notice in (report and report.notice, results.notice) if notice]
    if args.json:
        payload = {
            "results": [
                {
                    "section": hit.section.title,
                    "source": hit.section.source,
                    "text": hit.section.text,
                    "score": round(hit.score, 4),
                    "heading": hit.section.heading,
                    "id": hit.section.id,
                    "matched_terms": list(hit.matched_terms),
                }
                for hit in results
            ]
        }
        if notices:
            payload["notices"] = notices
        print_json(payload)
        return 0
    for notice in notices:
        _say(notice)
    _print_hits(results, bold=sys.stdout.isatty())
    return 0


def _print_hits(results, *, bold: bool) -> None:
    from companion.guidance.search import highlight, highlight_spans

    width = min(100, shutil.get_terminal_size((100, 24)).columns) - 4
    if not results:
        print("No guidance matched.")
        return
    for rank, hit in enumerate(results, start=1):
        title = printable(hit.section.title)
        print(f"{rank}. {_bolden(title, bold)}  ({printable(hit.section.source)}, score {hit.score:.2f})")
        text = " ".join(printable(hit.section.text).split())
        spans = highlight_spans(text, hit.matched_terms)
        excerpt = _excerpt(text, spans[0][0] if spans else 0)
        for line in textwrap.wrap(excerpt, width=width):
            print("   " + (highlight(line, hit.matched_terms) if bold else line))
        if hit.matched_terms:
            print(f"   matched: {', '.join(hit.matched_terms)}")
        print()


def _bolden(text: str, bold: bool) -> str:
    return f"\033[1m{text}\033[0m" if bold else text


def _excerpt(text: str, focus: int) -> str:
    """About EXCERPT_CHARS of text, starting at a sentence before the first match."""
    if len(text) <= EXCERPT_CHARS:
        return text
    start = 0
    if focus > EXCERPT_CHARS // 2:
        boundary = max(text.rfind(". ", 0, focus), text.rfind("? ", 0, focus), text.rfind("! ", 0, focus))
        start = boundary + 2 if boundary > 0 else focus
    end = min(len(text), start + EXCERPT_CHARS)
    if end < len(text):
        space = text.rfind(" ", start, end)
        end = space if space > start else end
    return ("… " if start else "") + text[start:end] + ("…" if end < len(text) else "")
