"""Services: builds the embedder, the guidance index, the chat model and the engines lazily, once.

The CLI and the TUI both go through one Services object, so they use the same objects in the same way.
Every accessor is thread-safe (the TUI calls them from worker threads) and builds its service on first use;
heavy imports (llama_cpp, chromadb) happen inside those builds, never when this module is imported.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from companion.config import Settings
from companion.errors import CompanionError
from companion.logs import configure_logging, get_logger

log = get_logger("services")

T = TypeVar("T")
_NOT_BUILT = object()


class Services:
    """One place that owns the long-lived services for a run of the companion."""

    def __init__(self, settings: Settings, *, use_model: bool = True) -> None:
        self.settings = settings
        self.use_model = use_model
        self.log_file = configure_logging(settings)
        self._lock = threading.Lock()
        # One lock per service, so loading the chat model does not hold up the index (and vice versa).
        self._build_locks: dict[str, threading.Lock] = {}
        self._built: dict[str, Any] = {}
        # Why a service could not be built (shown once by the CLI or the TUI), keyed by service name.
        self.problems: dict[str, str] = {}

    def _once(self, name: str, build: Callable[[], T]) -> T:
        """Build a service the first time it is asked for; later calls return the same object."""
        value = self._built.get(name, _NOT_BUILT)
        if value is not _NOT_BUILT:
            return value
        with self._lock:
            build_lock = self._build_locks.setdefault(name, threading.Lock())
        with build_lock:
            value = self._built.get(name, _NOT_BUILT)
            if value is _NOT_BUILT:
                value = build()
                self._built[name] = value
            return value

    # ---- retrieval ------------------------------------------------------------------------------
    @property
    def embedder(self):
        """The GGUF sentence embedder, or None when it has not been prepared yet."""

        def build():
            path = self.settings.resolved_embed_model
            if path is None:
                self.problems["embedder"] = (
                    "The embedder is not prepared, so guidance is not searched. "
                    "Fix: companion models prepare-embedder"
                )
                return None
            from companion.embed import Embedder

            return Embedder(path, n_threads=self.settings.n_threads)

        return self._once("embedder", build)

    @property
    def knowledge(self):
        def build():
            from companion.knowledge import KnowledgeBase

            return KnowledgeBase(self.settings)

        return self._once("knowledge", build)

    @property
    def index(self):
        """The guidance index, refreshed from the knowledge base on first use; None without an embedder."""

        def build():
            embedder = self.embedder
            if embedder is None:
                return None
            from companion.index import GuidanceIndex

            index = GuidanceIndex(self.settings.index_dir, embedder)
            try:
                index.refresh(self.knowledge.sections())
            except CompanionError as exc:
                # Searching a stale index is better than none; the problem is shown, the old index kept.
                self.problems["index"] = str(exc)
                log.warning("index refresh failed: %s", type(exc).__name__)
            return index

        return self._once("index", build)

    # ---- the chat model -------------------------------------------------------------------------
    @property
    def chat_model(self):
        """The local chat model, or None when none is installed (or --no-model): the built-in reflector answers."""

        def build():
            if not self.use_model:
                return None
            from companion.models import resolve_chat_model

            path = resolve_chat_model(self.settings)
            if path is None:
                return None
            from companion.llm import ChatModel

            return ChatModel(
                path,
                n_threads=self.settings.n_threads,
                n_gpu_layers=self.settings.n_gpu_layers or None,
                log_file=self.log_file.parent / "llama.log",
            )

        return self._once("chat_model", build)

    # ---- engines --------------------------------------------------------------------------------
    @property
    def reflection(self):
        """The ReflectionEngine the CLI and the TUI call."""

        def build():
            from companion.reflect import ReflectionEngine

            # Factories, not objects: the engine builds them only when a statement needs them (not for a crisis).
            return ReflectionEngine(retriever=lambda: self.index, chat_model=lambda: self.chat_model,
                                    region=self.settings.region)

        return self._once("reflection", build)

    # Hooks for the other engines: each is one more `_once` accessor in the same style, e.g.
    #   @property
    #   def coach(self): return self._once("coach", lambda: Coach(self.embedder, retriever=self.index))
    #   @property
    #   def journal(self): return self._once("journal", lambda: Journal(self.settings.journal_path, ...))
    #   def rehearsal(self, scenario): return Rehearsal(scenario, self.coach, self.chat_model, self.journal)

    def close(self) -> None:
        """Release the models (the chat model's owner thread stops); safe to call twice."""
        with self._lock:
            model = self._built.get("chat_model")
            if model is not None and model is not _NOT_BUILT:
                model.close()
            self._built.pop("chat_model", None)
            self._built.pop("reflection", None)

    def __enter__(self) -> Services:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
