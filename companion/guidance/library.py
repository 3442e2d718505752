"""The person's own documents kept in step with where they came from: remove one, add a folder, watch a folder.

documents/.origins.json remembers, for each copy companion made, the file it was copied from, and the folders
the person asked companion to watch. At start the watched folders are compared with the copies: new files are
added, changed ones replaced (the index then embeds only their changed sections), vanished ones removed.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from companion.errors import InputError
from companion.guidance.formats import READABLE_SUFFIXES

ORIGINS_FILE = ".origins.json"


class Origins:
    """copy name -> original path, plus the watched folders; written atomically, readable only by its owner."""

    def __init__(self, documents_dir: Path) -> None:
        self.path = Path(documents_dir) / ORIGINS_FILE
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        files = data.get("files") if isinstance(data, dict) else None
        watched = data.get("watched") if isinstance(data, dict) else None
        self.files: dict[str, str] = {str(k): str(v) for k, v in (files or {}).items()}
        self.watched: list[str] = [str(folder) for folder in (watched or [])]

    def copy_of(self, original: Path) -> str | None:
        wanted = str(Path(original).resolve())
        return next((name for name, origin in self.files.items() if origin == wanted), None)

    def save(self) -> None:
        # Only needed once a folder is watched; a plain add leaves the documents folder holding just the copies.
        if not self.path.parent.is_dir() or not (self.watched or self.path.exists()):
            return
        tmp = self.path.with_name(f"{ORIGINS_FILE}.partial")
        tmp.write_text(json.dumps({"files": self.files, "watched": self.watched}, indent=1), encoding="utf-8")
        tmp.chmod(0o600)
        tmp.replace(self.path)


@dataclass
class FolderReport:
    """What adding or syncing a folder did, file by file."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "name: why", one per file

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)

    def summary(self) -> str:
        parts = [
            f"{len(self.added)} added",
            f"{len(self.updated)} changed",
            f"{len(self.removed)} removed",
            f"{len(self.unchanged)} unchanged",
        ]
        if self.skipped:
            parts.append(f"{len(self.skipped)} skipped")
        return ", ".join(parts)


def readable_files(folder: Path) -> tuple[list[Path], list[str]]:
    """Every file under folder companion can read, and "name: why" for the others (hidden files are ignored)."""
    found, skipped = [], []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            if name.startswith("."):
                continue
            path = Path(root) / name
            if path.suffix.lower() in READABLE_SUFFIXES and path.is_file():
                found.append(path)
            else:
                skipped.append(f"{path.relative_to(folder)}: not a format companion reads")
    return found, skipped


def add_folder(knowledge, folder: Path, *, watch: bool = False) -> FolderReport:
    """Add every readable file under folder (recursively); a file that cannot be used is skipped with its reason."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise InputError(
            f"{folder} is not a folder.",
            kept="Nothing stored was changed.",
            fix="give the path of a folder of documents",
        )
    report = FolderReport()
    files, report.skipped = readable_files(folder)
    if watch:  # remembered first, so every copy below records where it came from
        from companion.config import ensure_private_dir

        ensure_private_dir(knowledge.settings.home)
        ensure_private_dir(knowledge.settings.user_documents_dir)
        origins = Origins(knowledge.settings.user_documents_dir)
        resolved = str(folder.resolve())
        if resolved not in origins.watched:
            origins.watched.append(resolved)
        origins.save()
    for path in files:
        _add_one(knowledge, path, folder, report)
    return report


def _add_one(knowledge, path: Path, folder: Path, report: FolderReport) -> None:
    name = str(path.relative_to(folder))
    documents = knowledge.settings.user_documents_dir
    previous = Origins(documents).copy_of(path)
    before = (documents / previous).read_bytes() if previous and (documents / previous).is_file() else None
    try:
        if before is not None and before == path.read_bytes():
            report.unchanged.append(name)  # the copy is current: nothing to read, copy or embed
            return
        knowledge.add_document(path)
    except OSError as exc:
        report.skipped.append(f"{name}: could not be read ({exc.strerror or exc})")
        return
    except InputError as exc:
        report.skipped.append(f"{name}: {exc.message}")
        return
    (report.added if before is None else report.updated).append(name)


def sync_watched(knowledge) -> FolderReport:
    """Bring the copies of every watched folder's files in line with the folder (added, changed, removed)."""
    documents = knowledge.settings.user_documents_dir
    origins = Origins(documents)
    report = FolderReport()
    for watched in origins.watched:
        folder = Path(watched)
        if not folder.is_dir():
            report.skipped.append(f"{watched}: the watched folder is missing (its documents are kept)")
            continue
        files, _ = readable_files(folder)
        for path in files:
            _add_one(knowledge, path, folder, report)
        present = {str(path.resolve()) for path in files}
        for name, origin in list(Origins(documents).files.items()):
            if _inside(origin, watched) and origin not in present:
                remove_document(knowledge, name)
                report.removed.append(name)
    return report


def _inside(path: str, folder: str) -> bool:
    return path.startswith(folder.rstrip(os.sep) + os.sep)


def remove_document(knowledge, name: str) -> Path:
    """Delete the copy of an added document (named as `knowledge list` shows it); the bundled guidance stays."""
    documents = knowledge.settings.user_documents_dir
    plain = name.removeprefix("documents/")
    target = documents / plain
    if "/" in plain or plain.startswith(".") or not target.is_file():
        bundled = any(doc.source == name for doc in knowledge.documents() if doc.bundled)
        raise InputError(
            f"{name} is part of the bundled guidance; only documents you added can be removed."
            if bundled
            else f"No added document is called {name}.",
            kept="Nothing stored was changed.",
            fix="run `companion knowledge list` to see the names of the documents you added",
        )
    target.unlink()
    origins = Origins(documents)
    if origins.files.pop(plain, None) is not None:
        origins.save()
    return target
