"""Sections <-> Chroma: a private PersistentClient (telemetry off), our GGUF embedder, incremental refresh.

Search fuses the dense cosine similarity from Chroma with a small in-memory BM25 (exact words, heading words),
so a query like "gentle start-up" finds the section of that name even when the meaning is ambiguous.
A missing, damaged or junk-filled index folder is cleared and rebuilt from the knowledge files with a notice.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from companion.config import ensure_private_dir
from companion.errors import IndexError_, InputError
from companion.guidance.knowledge import Section
from companion.guidance.search import LexicalIndex, LexicalMatch, QueryTerms, fused_score
from companion.logs import get_logger

COLLECTION_NAME = "guidance"
# Bumped when what we store per section changes, so an old index is rebuilt rather than misread.
INDEX_FORMAT = 1
# What the query embedding sees; MiniLM reads ~256 word pieces, so more than this only costs time.
MAX_QUERY_CHARS = 2000
# Dense candidates fetched from Chroma before fusion; small corpora are scored in full.
MIN_DENSE_CANDIDATES = 50
# Sections embedded and written per Chroma upsert: small enough that progress moves every second or two and an
# interrupt loses little, large enough that Chroma's per-call cost stays under 2% of the embedding time.
UPSERT_BATCH = 32
# Written before the first embedding of a refresh and removed once it finished, so an interrupted refresh
# (Ctrl+C, kill, power loss) is completed and named by the next one.
PENDING_MARKER = "companion-refresh-pending"

log = get_logger("index")


class Embedder(Protocol):
    """What the index needs from companion.guidance.embed.Embedder."""

    name: str

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class SearchHit:
    section: Section
    score: float
    matched_terms: tuple[str, ...]
    dense: float = 0.0  # cosine similarity alone, for explaining a ranking
    lexical: float = 0.0  # share of the query's word weight this section matched


class SearchResults(list):
    """A list of SearchHit, plus a notice when the query had to be shortened or the index was rebuilt."""

    def __init__(self, hits: Iterable[SearchHit] = (), notice: str | None = None) -> None:
        super().__init__(hits)
        self.notice = notice


@dataclass(frozen=True)
class RefreshReport:
    added: int
    updated: int
    removed: int
    unchanged: int
    total: int
    rebuilt: bool = False
    notice: str | None = None
    resumed: bool = False  # this refresh completed one that was interrupted before it finished

    @property
    def embedded(self) -> int:
        """Sections whose embedding was computed in this refresh (0 when nothing changed)."""
        return self.added + self.updated

    def summary(self) -> str:
        return (
            f"{self.total} sections: {self.added} added, {self.updated} updated, "
            f"{self.removed} removed, {self.unchanged} unchanged"
        )


_embedding_function_class: Any = None


def chroma_embedding_function(embedder: Embedder | None):
    """Our GGUF embedder as a Chroma EmbeddingFunction, so the collection never falls back to Chroma's default
    (which would download a model)."""
    global _embedding_function_class
    if _embedding_function_class is None:
        from chromadb.api.types import Documents, EmbeddingFunction, Embeddings

        class CompanionEmbeddingFunction(EmbeddingFunction[Documents]):
            def __init__(self, embedder: Embedder | None = None, config: dict | None = None) -> None:
                self._embedder = embedder
                self._config = config or {"model": getattr(embedder, "name", "unknown")}

            def __call__(self, input: Documents) -> Embeddings:
                if self._embedder is None:
                    raise IndexError_(
                        "The guidance index was opened without its embedder.",
                        fix="open it through companion (GuidanceIndex), not directly with chromadb",
                    )
                return list(self._embedder.embed(list(input)))

            @staticmethod
            def name() -> str:
                return "companion-gguf"

            def get_config(self) -> dict:
                return dict(self._config)

            @staticmethod
            def build_from_config(config: dict) -> CompanionEmbeddingFunction:
                # Chroma asks for this to check the function is serialisable; the model itself is never reloaded.
                return CompanionEmbeddingFunction(None, config)

            def default_space(self) -> str:
                return "cosine"

            def supported_spaces(self) -> list:
                return ["cosine"]

        _embedding_function_class = CompanionEmbeddingFunction
    return _embedding_function_class(embedder)


def _section_metadata(section: Section) -> dict:
    return {
        "source": section.source,
        "heading": section.heading,
        "heading_path": json.dumps(list(section.heading_path), ensure_ascii=False),
        "position": section.position,
        "content_hash": section.content_hash,
        "tags": json.dumps(list(section.tags), ensure_ascii=False),
    }


def _section_from_stored(section_id: str, text: str, metadata: dict) -> Section:
    return Section(
        id=section_id,
        source=str(metadata.get("source", "")),
        heading=str(metadata.get("heading", "")),
        heading_path=tuple(json.loads(metadata.get("heading_path") or "[]")),
        position=int(metadata.get("position", 0)),
        text=text or "",
        content_hash=str(metadata.get("content_hash", "")),
        tags=tuple(json.loads(metadata.get("tags") or "[]")),
    )


# Without --in, the best section of the person's own documents takes the last of the k places when no section of
# theirs made the list and it scores within this much of the best hit: on the dev queries this put an article
# section in the top 5 for 12/12 (was 4/12) and kept the expected bundled section for 11/12 (boost +0.1: 10/12, 11/12).
FAIR_MARGIN = 0.3
FAIR_MIN_K = 3
USER_SOURCE_PREFIX = "documents/"  # knowledge.KnowledgeBase names the person's own documents so


def split_within(query: str) -> tuple[str, str | None]:
    """A search box's "in:NAME rest of the query" -> ("rest of the query", "NAME"); (query, None) without it."""
    head, _, rest = query.strip().partition(" ")
    if head.startswith("in:") and len(head) > 3 and rest.strip():
        return rest.strip(), head[3:]
    return query, None


def sources_within(within: str, sources: set[str]) -> set[str]:
    """The sources a --in filter names: "mine", "bundled" or one document; an InputError when it names none."""
    wanted = within.strip()
    if wanted == "mine":
        chosen = {s for s in sources if s.startswith(USER_SOURCE_PREFIX)}
        if not chosen:
            raise InputError(
                "You have not added any documents yet, so there is nothing of yours to search.",
                fix="add one with `companion knowledge add FILE`, or search without --in",
            )
        return chosen
    if wanted == "bundled":
        return {s for s in sources if not s.startswith(USER_SOURCE_PREFIX)}
    chosen = {s for s in sources if wanted in (s, s.removeprefix(USER_SOURCE_PREFIX))}
    if not chosen:
        raise InputError(
            f"No document called {wanted} is in the index.",
            fix="use a name from `companion knowledge list`, or `mine` or `bundled`",
        )
    return chosen


def _with_a_place_for_the_persons_own(top: list[SearchHit], ranked: list[SearchHit]) -> list[SearchHit]:
    if not top or any(hit.section.source.startswith(USER_SOURCE_PREFIX) for hit in top):
        return top
    theirs = next((hit for hit in ranked if hit.section.source.startswith(USER_SOURCE_PREFIX)), None)
    if theirs is None or theirs.score < top[0].score - FAIR_MARGIN:
        return top
    return [*top[:-1], theirs]


class GuidanceIndex:
    """The guidance sections in a Chroma collection under index_dir, searchable by meaning and by words."""

    def __init__(self, index_dir: Path, embedder: Embedder) -> None:
        self.index_dir = Path(index_dir)
        self.embedder = embedder
        self._lock = threading.RLock()
        self._client: Any = None
        self._collection: Any = None
        self._count = 0
        self._lexical: LexicalIndex | None = None
        self._pending_notice: str | None = None
        self._needs_full_refresh = False
        self.last_report: RefreshReport | None = (
            None  # what the latest refresh did, for a UI to show its notice
        )
        self._open()

    # ---- opening, clearing ---------------------------------------------------------------------------
    @property
    def embedder_name(self) -> str:
        return str(getattr(self.embedder, "name", type(self.embedder).__name__))

    def _open(self) -> None:
        existed = self.index_dir.is_dir() and any(self.index_dir.iterdir())
        if not existed:
            # Chroma caches one system per folder in this process; a folder deleted since must not be served from it.
            os.environ["ANONYMIZED_TELEMETRY"] = "False"
            self._drop_cached_system()
        try:
            self._connect()
        except Exception as exc:  # noqa: BLE001 - chroma raises many types for a damaged folder
            log.warning("index at %s unreadable (%s); clearing it", self.index_dir, type(exc).__name__)
            self._clear_folder()
            try:
                self._connect()
            except Exception as second:  # noqa: BLE001
                raise IndexError_(
                    f"The search index at {self.index_dir} could not be created ({type(second).__name__}: {second}).",
                    kept="Your knowledge files and added documents are untouched.",
                    fix=f"check that {self.index_dir.parent} is writable, then run `companion index --rebuild`",
                ) from None
            self._note(
                f"The search index could not be read ({type(exc).__name__}); it was cleared and is being rebuilt "
                "from the knowledge files."
            )
            return
        if not existed:
            self._note("Building the search index from the knowledge files (it was missing).")

    def _note(self, notice: str) -> None:
        self._pending_notice = notice
        self._needs_full_refresh = True

    def _connect(self) -> None:
        os.environ["ANONYMIZED_TELEMETRY"] = "False"  # before chromadb is imported: it reads this at import
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        if self.index_dir.exists() and not self.index_dir.is_dir():
            raise NotADirectoryError(str(self.index_dir))
        if not self.index_dir.parent.exists():
            ensure_private_dir(
                self.index_dir.parent
            )  # the data folder itself: only its owner may look inside
        ensure_private_dir(self.index_dir)
        self._client = chromadb.PersistentClient(
            path=str(self.index_dir), settings=ChromaSettings(anonymized_telemetry=False, allow_reset=True)
        )
        self._collection = self._get_collection()
        stored = self._collection.metadata or {}
        if stored.get("embedder") != self.embedder_name or stored.get("format") != INDEX_FORMAT:
            log.info("index built with another embedder or format; recreating the collection")
            self._client.delete_collection(COLLECTION_NAME)
            self._collection = self._get_collection()
            if stored:
                self._note("The search index was built with another embedder; it is being rebuilt.")
        self._count = self._collection.count()

    def _get_collection(self):
        return self._client.get_or_create_collection(
            name=COLLECTION_NAME,
            embedding_function=chroma_embedding_function(self.embedder),
            configuration={"hnsw": {"space": "cosine"}},
            metadata={"embedder": self.embedder_name, "format": INDEX_FORMAT},
        )

    def _release_client(self) -> None:
        client, self._client, self._collection = self._client, None, None
        if client is not None:
            with contextlib.suppress(
                Exception
            ):  # a broken client may fail to close; it is dropped either way
                client.close()
        self._drop_cached_system()

    def _drop_cached_system(self) -> None:
        from chromadb.api.shared_system_client import SharedSystemClient

        # Chroma caches one system per folder; a cleared folder must not be served by the old one.
        system = SharedSystemClient._identifier_to_system.pop(str(self.index_dir), None)
        SharedSystemClient._identifier_to_refcount.pop(str(self.index_dir), None)
        if system is not None:
            with contextlib.suppress(Exception):
                system.stop()

    def _clear_folder(self) -> None:
        self._release_client()
        if self.index_dir.is_dir():
            shutil.rmtree(self.index_dir, ignore_errors=True)
        elif self.index_dir.exists():
            self.index_dir.unlink()
        self._lexical = None
        self._count = 0

    def close(self) -> None:
        with self._lock:
            self._release_client()
            self._make_private()  # files Chroma wrote while closing

    # ---- refresh ---------------------------------------------------------------------------------------
    def refresh(
        self, sections: Iterable[Section], progress: Callable[[int, int], None] | None = None
    ) -> RefreshReport:
        """Bring the index in line with sections: embed only new or changed ones, drop the ones that went away.

        progress(done, total) is called with (0, total) before the first batch and after each embedded batch,
        total being the sections this refresh embeds; it is not called when nothing needs embedding.
        """
        wanted: dict[str, Section] = {}
        for section in sections:
            wanted.setdefault(section.id, section)
        with self._lock:
            if not self.index_dir.is_dir():
                self._reopen(
                    "The search index folder was removed; it is being rebuilt from the knowledge files."
                )
            try:
                report = self._refresh(wanted, progress)
            except IndexError_:
                raise
            except Exception as exc:  # noqa: BLE001 - a damaged index is rebuilt, never a traceback
                log.warning("refresh failed on a damaged index (%s); rebuilding", type(exc).__name__)
                self._reopen(
                    f"The search index was damaged ({type(exc).__name__}); it was rebuilt from the knowledge files.",
                    clear=True,
                )
                report = self._refresh(wanted, progress)
            return report

    def rebuild(
        self, sections: Iterable[Section], progress: Callable[[int, int], None] | None = None
    ) -> RefreshReport:
        """Throw the index away and embed every section again."""
        with self._lock:
            self._reopen("The search index was rebuilt from the knowledge files.", clear=True)
            return self.refresh(sections, progress)

    def remove_source(self, source: str) -> int:
        """Drop every stored section of one document (e.g. after an interrupted add was rolled back)."""
        with self._lock:
            found = self._collection.get(where={"source": source}, include=[])
            ids = list(found["ids"])
            if ids:
                self._collection.delete(ids=ids)
            self._count = self._collection.count()
            self._lexical = None
            self._make_private()
            return len(ids)

    @property
    def interrupted(self) -> bool:
        """True when a refresh started embedding and never finished (the next refresh completes it)."""
        return (self.index_dir / PENDING_MARKER).exists()

    def _reopen(self, notice: str, *, clear: bool = False) -> None:
        if clear:
            self._clear_folder()
        else:
            self._release_client()
        self._connect()
        self._note(notice)

    def _refresh(
        self, wanted: dict[str, Section], progress: Callable[[int, int], None] | None = None
    ) -> RefreshReport:
        started = time.perf_counter()
        marker = self.index_dir / PENDING_MARKER
        resumed = marker.exists()
        stored = self._collection.get(include=["metadatas"])
        stored_hashes = {
            section_id: (metadata or {}).get("content_hash")
            for section_id, metadata in zip(stored["ids"], stored["metadatas"] or [], strict=False)
        }
        removed = [section_id for section_id in stored_hashes if section_id not in wanted]
        new = [s for s in wanted.values() if s.id not in stored_hashes]
        changed = [
            s for s in wanted.values() if s.id in stored_hashes and stored_hashes[s.id] != s.content_hash
        ]
        to_embed = new + changed
        if removed or to_embed:
            marker.touch(mode=0o600)
        if removed:
            self._collection.delete(ids=removed)
        if to_embed and progress is not None:
            progress(0, len(to_embed))
        # Each batch is embedded, then written in one upsert: an interrupt between batches leaves whole sections
        # with their current hash, so the next refresh embeds exactly the ones still missing.
        for start in range(0, len(to_embed), UPSERT_BATCH):
            batch = to_embed[start : start + UPSERT_BATCH]
            vectors = self._embed_documents([s.embedding_text() for s in batch])
            self._collection.upsert(
                ids=[s.id for s in batch],
                embeddings=vectors,
                documents=[s.text for s in batch],
                metadatas=[_section_metadata(s) for s in batch],
            )
            if progress is not None:
                progress(start + len(batch), len(to_embed))
        marker.unlink(missing_ok=True)
        self._count = len(wanted)
        self._lexical = LexicalIndex(sorted(wanted.values(), key=lambda s: (s.source, s.position)))
        notice, self._pending_notice = self._pending_notice, None
        if resumed:
            notice = " ".join(
                filter(
                    None,
                    (notice, "An interrupted indexing run was completed (the sections it had not reached)."),
                )
            )
        rebuilt = self._needs_full_refresh
        self._needs_full_refresh = False
        report = RefreshReport(
            added=len(new),
            updated=len(changed),
            removed=len(removed),
            unchanged=len(wanted) - len(new) - len(changed),
            total=len(wanted),
            rebuilt=rebuilt,
            notice=notice,
            resumed=resumed,
        )
        log.info("refresh: %s in %.3fs", report.summary(), time.perf_counter() - started)
        self.last_report = report
        self._make_private()
        return report

    def _make_private(self) -> None:
        """Chroma creates its files with the default umask; the person's index is for their eyes only."""
        if not self.index_dir.is_dir():
            return
        for path in (self.index_dir, *self.index_dir.rglob("*")):
            with contextlib.suppress(OSError):  # a file Chroma is replacing right now may vanish under us
                mode = path.lstat().st_mode
                if path.is_symlink() or not mode & 0o077:
                    continue
                os.chmod(path, 0o700 if path.is_dir() else 0o600)

    def _embed_documents(self, texts: list[str]) -> np.ndarray:
        try:
            vectors = np.asarray(self.embedder.embed(texts), dtype=np.float32)
        except Exception as exc:  # noqa: BLE001 - the embedder reports its own errors; keep them one line
            if isinstance(exc, IndexError_ | InputError) or hasattr(exc, "fix"):
                raise
            raise IndexError_(
                f"The embedder failed while indexing ({type(exc).__name__}).",
                kept="The index keeps what it had before this refresh.",
                fix="run `companion models prepare-embedder`, then `companion index --rebuild`",
            ) from None
        if vectors.ndim != 2 or vectors.shape[0] != len(texts):
            raise IndexError_(
                f"The embedder returned {vectors.shape} for {len(texts)} texts.",
                fix="run `companion models prepare-embedder`, then `companion index --rebuild`",
            )
        return vectors

    # ---- search ----------------------------------------------------------------------------------------
    @property
    def section_count(self) -> int:
        return self._count

    def sections(self) -> list[Section]:
        """Every indexed section, from memory after a refresh, otherwise read once from Chroma."""
        return list(self._lexical_index().sections)

    def _lexical_index(self) -> LexicalIndex:
        if self._lexical is None:
            with self._lock:
                if self._lexical is None:
                    stored = self._collection.get(include=["documents", "metadatas"])
                    sections = [
                        _section_from_stored(section_id, text, metadata or {})
                        for section_id, text, metadata in zip(
                            stored["ids"], stored["documents"], stored["metadatas"], strict=False
                        )
                    ]
                    self._lexical = LexicalIndex(sorted(sections, key=lambda s: (s.source, s.position)))
        return self._lexical

    def search(self, query: str, k: int = 5, within: str | None = None) -> SearchResults:
        """Best sections first: dense cosine similarity plus bonuses for shared words and heading words.

        within limits the search to one document (its source, with or without "documents/"), "mine" (every
        document the person added) or "bundled" (the guidance that ships with companion).
        """
        if query is None or not query.strip():
            raise InputError(
                "The search query is empty: nothing to look for.",
                fix='type what you are looking for in quotes, e.g. companion search "repair after a fight"',
            )
        k = max(1, int(k))
        notice = None
        if len(query) > MAX_QUERY_CHARS:
            notice = f"The query was {len(query):,} characters; only the first {MAX_QUERY_CHARS:,} were used for search."
            query = query[:MAX_QUERY_CHARS]
        with self._lock:
            if not self.index_dir.is_dir() and self._lexical is not None:
                # The folder vanished under us; we still know the sections, so rebuild quietly and carry on.
                report = self.refresh(self._lexical.sections)
                notice = " ".join(filter(None, (notice, report.notice)))
            if self._count == 0:
                raise IndexError_(
                    "The search index is empty.",
                    kept="Your knowledge files and added documents are untouched.",
                    fix="run `companion index` to build it",
                )
            lexical = self._lexical_index()
            allowed = sources_within(within, {s.source for s in lexical.sections}) if within else None
            pool = self._count if allowed is None else sum(s.source in allowed for s in lexical.sections)
            vector = self._embed_documents([query])
            candidates = min(pool, max(4 * k, MIN_DENSE_CANDIDATES))
            where = {"source": {"$in": sorted(allowed)}} if allowed is not None else None
            try:
                found = self._collection.query(
                    query_embeddings=vector, n_results=candidates, include=["distances"], where=where
                )
            except Exception as exc:  # noqa: BLE001
                raise IndexError_(
                    f"The search index could not be read ({type(exc).__name__}).",
                    kept="Your knowledge files and added documents are untouched.",
                    fix="run `companion index --rebuild`",
                ) from None
        terms = QueryTerms.parse(query)
        matches = lexical.match(terms)
        if allowed is not None:
            matches = {p: m for p, m in matches.items() if lexical.sections[p].source in allowed}
        dense_by_position: dict[int, float] = {}
        for section_id, distance in zip(found["ids"][0], found["distances"][0], strict=False):
            position = lexical.by_id.get(section_id)
            if position is not None:
                dense_by_position[position] = 1.0 - float(distance)
        # Sections found only by words get the weakest dense score seen, not zero: they were not compared.
        dense_floor = min(dense_by_position.values(), default=0.0)
        hits = []
        for position in set(dense_by_position) | set(matches):
            dense = dense_by_position.get(position, dense_floor)
            match: LexicalMatch | None = matches.get(position)
            hits.append(
                SearchHit(
                    section=lexical.sections[position],
                    score=fused_score(dense, match),
                    matched_terms=tuple(terms.surface[root] for root in match.matched_stems) if match else (),
                    dense=dense,
                    lexical=match.lexical if match else 0.0,
                )
            )
        hits.sort(key=lambda hit: (-hit.score, hit.section.source, hit.section.position))
        top = hits[:k]
        if within is None and k >= FAIR_MIN_K:
            top = _with_a_place_for_the_persons_own(top, hits)
        return SearchResults(top, notice)
