"""Services: builds the embedder, the guidance index, the chat model and the engines lazily, once.

The CLI and the TUI both go through one Services object, so they use the same objects in the same way.
Every accessor is thread-safe (the TUI calls them from worker threads) and builds its service on first use;
heavy imports (llama_cpp, chromadb) happen inside those builds, never when this module is imported.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from companion.config import Settings
from companion.errors import CompanionError
from companion.logs import configure_logging, get_logger

log = get_logger("services")

T = TypeVar("T")
_NOT_BUILT = object()

# The notice of a reflection given while the app still prepares the guidance on its first start.
GUIDANCE_NOT_READY = (
    "The guidance is still being prepared for search, so this reflection does not draw on it "
    "yet (the status line shows how far it is)."
)


class Services:
    """One place that owns the long-lived services for a run of the companion."""

    def __init__(self, settings: Settings, *, use_model: bool = True, wait_for_guidance: bool = True) -> None:
        """wait_for_guidance=False (the app, which prepares the index in the background): a reflection asked for
        before the index is ready answers at once, without the guidance, and says so."""
        self.settings = settings
        self.use_model = use_model
        self.wait_for_guidance = wait_for_guidance
        try:
            self.log_file = configure_logging(settings)
        except OSError:  # a read-only data folder: no event log, but reading still works
            self.log_file = settings.log_dir / "companion.log"
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

    def already_built(self, name: str):
        """The service called name if it was built already, else None (never builds: safe on the UI thread)."""
        value = self._built.get(name, _NOT_BUILT)
        return None if value is _NOT_BUILT else value

    def is_built(self, name: str) -> bool:
        """Whether name was built already (a service built as None, such as the index without an embedder, counts)."""
        return name in self._built

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
            from companion.guidance.embed import Embedder

            return Embedder(path, n_threads=self.settings.n_threads)

        return self._once("embedder", build)

    def tuned_encoder(self, task: str):
        """The MiniLM copy tuned for task ("safety", "coach"), or None when setup has not merged it yet."""

        def build():
            from companion.engines.tuned import find_tuned_encoder

            path = find_tuned_encoder(task, self.settings.model_search_dirs)
            if path is None:
                return None
            from companion.guidance.embed import Embedder

            return Embedder(path, n_threads=self.settings.n_threads)

        return self._once(f"encoder_{task}", build)

    @property
    def search_embedder(self):
        """The embedder guidance search runs: the copy of MiniLM tuned for retrieval when setup merged it and no
        embedder is configured, else the shared one."""
        from companion.engines.tuned import search_embed_model

        # The knowledge commands choose by the same function, so the app and the CLI share one index.
        if search_embed_model(self.settings) == self.settings.resolved_embed_model:
            return self.embedder
        return self.tuned_encoder("retrieval")

    @property
    def knowledge(self):
        def build():
            from companion.guidance.knowledge import KnowledgeBase

            return KnowledgeBase(self.settings)

        return self._once("knowledge", build)

    @property
    def index(self):
        """The guidance index, refreshed from the knowledge base on first use; None without an embedder."""
        return self.prepare_index()

    def prepare_index(self, progress: Callable[[int, int], None] | None = None):
        """The index, as `index`; on the call that builds it, progress(done, total) hears how many of the
        sections that need embedding are done (the app's first start shows it on the status line)."""

        def build():
            embedder = self.search_embedder
            if embedder is None:
                return None
            from companion.guidance.index import GuidanceIndex
            from companion.store.privacy import writing_if_free

            try:
                index = GuidanceIndex(self.settings.index_dir, embedder)
            except CompanionError as exc:
                if os.access(self.settings.home, os.W_OK):
                    raise
                # A read-only data folder whose index cannot be opened: answer without guidance, and say why.
                self.problems["index"] = str(exc)
                return None
            try:
                with writing_if_free(self.settings.home) as free:
                    if free:  # else another command is writing the folder: search the index as it is
                        from companion.guidance.library import sync_watched

                        sync_watched(self.knowledge)  # the watched folders' new, changed and removed files
                        index.refresh(self.knowledge.sections(), progress=progress)
            except CompanionError as exc:
                # Searching a stale index is better than none; the problem is shown, the old index kept.
                self.problems["index"] = str(exc)
                log.warning("index refresh failed: %s", type(exc).__name__)
            return index

        return self._once("index", build)

    # ---- the chat model -------------------------------------------------------------------------
    @property
    def chat_model(self):
        """The chat model that answers: a configured or downloaded GGUF, else the listener; None (the built-in
        reflector answers) with --no-model or when neither can be used (problems["listener"] says why)."""

        def build():
            if not self.use_model:
                return None
            from companion.engines.models import choose_chat_model

            decision = choose_chat_model(self.settings)
            if decision.problem:
                self.problems["listener"] = decision.problem
            if decision.warning:
                self.problems["server"] = decision.warning
            if decision.choice is None:
                return None
            return decision.choice.open(self.settings, log_file=self.log_file.parent / "llama.log")

        return self._once("chat_model", build)

    # ---- engines --------------------------------------------------------------------------------
    @property
    def reflection(self):
        """The ReflectionEngine the CLI and the TUI call."""

        def build():
            from companion.listen.reflect import ReflectionEngine

            # Factories, not objects: the engine builds them only when a statement needs them (not for a crisis).
            retriever = (lambda: self.index) if self.wait_for_guidance else _GuidanceOnceReady(self)
            return ReflectionEngine(
                retriever=retriever,
                chat_model=lambda: self.chat_model,
                region=self.settings.region,
                semantic_safety=lambda: self.semantic_safety,
                review=lambda: self.draft_review,
            )

        return self._once("reflection", build)

    @property
    def draft_review(self):
        """The review every model draft passes: text checks, plus topic drift and the coach with the embedder."""

        def build():
            from companion.listen.review import DraftReview

            embedder = self.embedder
            if embedder is None:
                return DraftReview()
            try:
                coach = self.coach
            except CompanionError:
                # Another embedder than the MiniLM the coach and the drift threshold were fitted to: text checks only.
                return DraftReview()
            return DraftReview(embedder, coach)

        return self._once("draft_review", build)

    @property
    def semantic_safety(self):
        """The safety screen's semantic layer on its tuned encoder (else the shared embedder); None without either."""

        def build():
            from companion.safety.semantic import TUNED_HEAD_FILE, SemanticScreen

            tuned = self.tuned_encoder("safety")
            if tuned is not None and TUNED_HEAD_FILE.is_file():
                return SemanticScreen(tuned, head=TUNED_HEAD_FILE)
            # Not merged yet (an older setup): the head fitted to the plain MiniLM's vectors.
            embedder = self.embedder
            return None if embedder is None else SemanticScreen(embedder)

        return self._once("semantic_safety", build)

    @property
    def coach(self):
        """The listener-skill coach (its tips cite the bundled guidance from a table, so no index is opened)."""

        def build():
            from companion.rehearse.coach import TUNED_WEIGHTS_FILE, Coach, load_model, weights_ship

            tuned = self.tuned_encoder("coach")
            if tuned is not None and weights_ship(TUNED_WEIGHTS_FILE):
                return Coach(tuned, model=load_model(TUNED_WEIGHTS_FILE))
            # Not merged yet (an older setup): the heads fitted to the plain MiniLM's vectors.
            return Coach(self.embedder)

        return self._once("coach", build)

    @property
    def journal(self):
        """The journal (an encrypted one reads COMPANION_PASSPHRASE, or raises PassphraseNeeded to ask)."""

        def build():
            from companion.store.journal import Journal

            return Journal(self.settings.journal_path)

        return self._once("journal", build)

    def unlock_journal(self, passphrase: str):
        """Open the encrypted journal with the passphrase the person typed; WrongPassphrase changes nothing."""
        from companion.store.journal import Journal

        with self._lock:
            journal = self._built.get("journal", _NOT_BUILT)
            if journal is _NOT_BUILT:
                journal = Journal(self.settings.journal_path, passphrase=passphrase)
                self._built["journal"] = journal
            return journal

    def rehearsal(self, scenario):
        """A new rehearsal of scenario with the shared coach, chat model and journal."""
        from companion.rehearse.rehearsal import Rehearsal

        chat = self.chat_model
        # The listener (135M parameters) is tuned to reflect, not to act: its partner stays scripted.
        partner_voice = None if getattr(chat, "engine", None) == "listener" else chat
        return Rehearsal(
            scenario,
            self.coach,
            chat_model=partner_voice,
            journal=self.journal,
            region=self.settings.region,
            semantic_safety=self.semantic_safety,
        )

    def close(self) -> None:
        """Release the models, the journal and the index (the chat model frees its weights); safe to call twice."""
        with self._lock:
            # The index before the embedder it embeds with; the services built on them are dropped too.
            from companion.engines.tuned import TASKS

            for name in (
                "chat_model",
                "journal",
                "index",
                "embedder",
                *(f"encoder_{task}" for task in TASKS),
            ):
                service = self._built.pop(name, None)
                if service is not None and hasattr(service, "close"):
                    service.close()
            for name in ("reflection", "coach", "semantic_safety", "draft_review"):
                self._built.pop(name, None)

    def __enter__(self) -> Services:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _GuidanceOnceReady:
    """The reflection's retriever in the app: the index once it is built; until then no guidance, said in the
    reflection's notice, so a person can reflect on the first start without waiting for the index."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def search(self, text: str, k: int = 5):
        if not self.services.is_built("index"):
            from companion.guidance.index import SearchResults

            return SearchResults([], notice=GUIDANCE_NOT_READY)
        index = self.services.index
        return index.search(text, k=k) if index is not None else []
