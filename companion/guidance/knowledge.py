"""Documents -> sections: Markdown headings, plain-text articles with bare headings and "Label: text" tips.

Every section carries its source, heading path, position, a content hash and a stable id, so the index can
refresh incrementally and other modules can cite a section by its heading.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from companion.config import Settings, ensure_private_dir
from companion.errors import InputError
from companion.guidance.formats import READABLE_SUFFIXES, read_document
from companion.text import printable

DOCUMENT_SUFFIXES = (".md", ".markdown", ".txt", ".text")
# Folders under a knowledge dir that hold other things (rehearsal scenarios), not guidance.
SKIPPED_SUBDIRS = ("scenarios",)
# Long sections are cut near this size so each embedding covers one idea (MiniLM reads ~256 word pieces).
MAX_SECTION_CHARS = 1400
MAX_DOCUMENT_BYTES = 5_000_000

_NOTHING_CHANGED = "Nothing stored was changed."


@dataclass(frozen=True)
class Section:
    """One citable piece of guidance: the text under one heading (or one tip) of one document."""

    id: str
    source: str
    heading: str
    heading_path: tuple[str, ...]
    position: int
    text: str
    content_hash: str
    tags: tuple[str, ...] = ()

    @property
    def title(self) -> str:
        """The heading path as one line, for display and citations ("Active listening > Reflecting the feeling")."""
        return " > ".join(self.heading_path)

    def embedding_text(self) -> str:
        """What gets embedded: headings carry topic words the body may not repeat."""
        return f"{self.title}\n{self.text}"


@dataclass(frozen=True)
class Document:
    """One guidance file: where it is, whether it shipped with the companion, and its sections."""

    path: Path
    source: str
    title: str
    bundled: bool
    sections: tuple[Section, ...]


# ---- splitting --------------------------------------------------------------------------------------

_ATX_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_NUMBERED_HEADING = re.compile(r"^\s*(\d{1,2})[.)]\s+(\S.*)$")
_TIP_LINE = re.compile(r"^\W*?([A-Z][A-Za-z'’&,\- ]{1,60}?)\s*:\s+(\S.*)$")
# Small words that stay lower case inside a title ("Be Consistent in Your Emotional Availability").
_TITLE_SMALL_WORDS_TEXT = (
    "a an and as at but by for from in into of on or over the to vs via with your our their its my"
)
_TITLE_SMALL_WORDS = frozenset(_TITLE_SMALL_WORDS_TEXT.split())


def split_document(text: str, source: str, *, title: str | None = None) -> list[Section]:
    """Split a document into sections. Markdown if it has '#' headings, otherwise the plain-text rules."""
    meta, body = _split_front_matter(text)
    doc_title = title or meta.get("title") or _title_from_source(source)
    tags = _parse_tags(meta.get("tags", ""))
    has_markdown_headings = any(_ATX_HEADING.match(line) for line in _outside_fences(body.splitlines()))
    raw = _split_markdown(body) if has_markdown_headings else _split_plain_text(body, doc_title)
    return _finish_sections(raw, source, doc_title, tags)


def _split_front_matter(text: str) -> tuple[dict[str, str], str]:
    text = text.lstrip("\ufeff")
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        return {}, text
    for end in range(1, min(len(lines), 60)):
        if lines[end].strip() in ("---", "..."):
            meta: dict[str, str] = {}
            for line in lines[1:end]:
                key, sep, value = line.partition(":")
                if sep and key.strip():
                    meta[key.strip().lower()] = value.strip().strip("'\"")
            return meta, "\n".join(lines[end + 1 :])
    return {}, text


def _parse_tags(value: str) -> tuple[str, ...]:
    value = value.strip().strip("[]")
    return tuple(tag.strip().strip("'\"") for tag in value.split(",") if tag.strip().strip("'\""))


def _title_from_source(source: str) -> str:
    stem = Path(source).stem.replace("_", " ").replace("-", " ").strip()
    return stem[:1].upper() + stem[1:] if stem else "Untitled"


def _outside_fences(lines: Iterable[str]) -> Iterable[str]:
    in_fence = False
    for line in lines:
        if _FENCE.match(line):
            in_fence = not in_fence
            continue
        if not in_fence:
            yield line


def _split_markdown(body: str) -> list[tuple[tuple[str, ...], str]]:
    """(heading path, text) pairs; the path follows heading levels, text before the first heading has no path."""
    pieces: list[tuple[tuple[str, ...], str]] = []
    stack: list[tuple[int, str]] = []
    current: list[str] = []
    in_fence = False

    def flush() -> None:
        pieces.append((tuple(h for _, h in stack), "\n".join(current)))
        current.clear()

    for line in body.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        match = None if in_fence else _ATX_HEADING.match(line)
        if match:
            flush()
            level = len(match.group(1))
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, _clean_heading(match.group(2))))
        else:
            current.append(line)
    flush()
    return pieces


def _clean_heading(text: str) -> str:
    return re.sub(r"[*_`]", "", text).strip()


def _is_title_case_heading(line: str) -> bool:
    """A short bare line in title case without final punctuation: "Practice Active Listening"."""
    if len(line) > 80 or line[-1] in ".!?:;,…\"'”)" or not line[0].isupper():
        return False
    words = re.findall(r"[A-Za-z][A-Za-z'’\-]*", line)
    if not 1 <= len(words) <= 10 or len(words) < len(line.split()) - 1:
        return False
    return all(word[0].isupper() or word.lower() in _TITLE_SMALL_WORDS for word in words)


def _tip(line: str) -> tuple[str, str] | None:
    """'Label: text' with a short label and a real sentence after it; each tip becomes its own section."""
    match = _TIP_LINE.match(line)
    if not match:
        return None
    label, rest = match.group(1).strip(), match.group(2).strip()
    if len(label.split()) > 7 or len(rest) < 12:
        return None
    return label, rest


def _split_plain_text(body: str, doc_title: str) -> list[tuple[tuple[str, ...], str]]:
    """Numbered lines are top headings, title-case short lines sub-headings, "Label: text" lines tips."""
    pieces: list[tuple[tuple[str, ...], str]] = []
    top: str | None = None
    sub: str | None = None
    current: list[str] = []
    previous_line = ""

    def path() -> tuple[str, ...]:
        return tuple(h for h in (doc_title, top, sub) if h)

    def flush() -> None:
        pieces.append((path(), "\n".join(current)))
        current.clear()

    for raw_line in body.splitlines():
        line = raw_line.strip()
        # A heading starts after a blank line or a finished sentence, never in the middle of a wrapped paragraph.
        starts_block = not previous_line or previous_line[-1] in '.!?:;…"”)'
        previous_line = line
        if not line:
            current.append("")
            continue
        numbered = _NUMBERED_HEADING.match(line)
        if starts_block and numbered and len(line) <= 90 and line[-1] not in ".!?;,":
            flush()
            top, sub = _clean_heading(numbered.group(2)), None
            continue
        if starts_block and _is_title_case_heading(line):
            flush()
            sub = line
            continue
        tip = _tip(line) if starts_block else None
        if tip:
            flush()
            label, rest = tip
            pieces.append((path() + (label,), rest))
            continue  # text after a tip belongs to the surrounding heading again, not to the tip
        current.append(line)
    flush()
    return pieces


def _chunks(text: str, limit: int = MAX_SECTION_CHARS) -> list[str]:
    """Cut a long text at paragraph, then sentence boundaries, so no piece is much longer than limit."""
    if len(text) <= limit:
        return [text]
    units: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text):
        if len(paragraph) <= limit:
            units.append(paragraph)
            continue
        sentences = re.split(r"(?<=[.!?])\s+", paragraph)
        for sentence in sentences:
            # A single run-on "sentence" longer than the limit is cut hard; rare, but it must not break embedding.
            units.extend(sentence[i : i + limit] for i in range(0, len(sentence), limit))
    pieces: list[str] = []
    current = ""
    for unit in units:
        if current and len(current) + len(unit) + 2 > limit:
            pieces.append(current)
            current = unit
        else:
            current = f"{current}\n\n{unit}" if current else unit
    if current:
        pieces.append(current)
    return pieces


def _normalise_text(text: str) -> str:
    text = re.sub(r"[ \t]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _finish_sections(
    raw: list[tuple[tuple[str, ...], str]], source: str, doc_title: str, tags: tuple[str, ...]
) -> list[Section]:
    sections: list[Section] = []
    seen_paths: dict[tuple[str, ...], int] = {}
    for heading_path, text in raw:
        text = _normalise_text(text)
        if not text:
            continue
        heading_path = heading_path or (doc_title,)
        for chunk in _chunks(text):
            occurrence = seen_paths.get(heading_path, 0)
            seen_paths[heading_path] = occurrence + 1
            # Stable across runs and machines: where the section is, not what it says (the hash covers that).
            key = "\x1f".join((source, *heading_path, str(occurrence)))
            section_id = hashlib.sha1(key.encode("utf-8")).hexdigest()[:16]
            content_hash = hashlib.sha256("\x1f".join((*heading_path, chunk)).encode("utf-8")).hexdigest()
            sections.append(
                Section(
                    id=section_id,
                    source=source,
                    heading=heading_path[-1],
                    heading_path=heading_path,
                    position=len(sections),
                    text=chunk,
                    content_hash=content_hash,
                    tags=tags,
                )
            )
    return sections


# ---- loading files ----------------------------------------------------------------------------------


def read_document_text(path: Path) -> str:
    """The text of a guidance file, or an InputError saying why it cannot be used (nothing is changed)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path} does not exist.", kept=_NOTHING_CHANGED, fix="check the path and try again")
    if not path.is_file():
        raise InputError(
            f"{path} is not a file.", kept=_NOTHING_CHANGED, fix="give the path of a .md or .txt file"
        )
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(
            f"{path} could not be read ({exc.strerror or exc}).",
            kept=_NOTHING_CHANGED,
            fix="check its permissions",
        ) from None
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise InputError(
            f"{path} is {len(raw) // 1_000_000} MB, more than guidance text should be.",
            kept=_NOTHING_CHANGED,
            fix="split it into smaller .md or .txt files and add those",
        )
    if b"\x00" in raw:
        raise InputError(
            f"{path} looks like a binary file, not text.",
            kept=_NOTHING_CHANGED,
            fix="save it as plain text (.txt or .md) and run `companion knowledge add` again",
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(
            f"{path} is not UTF-8 text.",
            kept=_NOTHING_CHANGED,
            fix="re-save it as UTF-8 (e.g. `iconv -t UTF-8`) and run `companion knowledge add` again",
        ) from None
    # Stored guidance is shown and cited later: escapes, controls and bidi marks go here, once, on the way in.
    text = printable(text.replace("\r\n", "\n").replace("\r", "\n"))
    if not text.strip():
        raise InputError(
            f"{path} is empty.", kept=_NOTHING_CHANGED, fix="add some guidance text to it, then add it again"
        )
    return text


def load_document(path: Path, *, source: str | None = None, bundled: bool = False) -> Document:
    """Read and split one file; binary, non-UTF-8, empty or heading-only files are refused with an InputError."""
    path = Path(path)
    text = read_document(path)  # any readable format, as text with '#' headings
    source = printable(source or path.name)
    meta, _ = _split_front_matter(text)
    title = meta.get("title") or _title_from_source(source)
    sections = split_document(text, source, title=title)
    if not sections:
        raise InputError(
            f"{path} has headings but no text under them.",
            kept=_NOTHING_CHANGED,
            fix="add text under its headings",
        )
    return Document(path=path, source=source, title=title, bundled=bundled, sections=tuple(sections))


class KnowledgeBase:
    """The bundled guidance (settings.knowledge_dirs, without scenarios/) plus the documents the person added."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.problems: list[str] = []

    def _bundled_files(self) -> list[tuple[Path, str]]:
        files: list[tuple[Path, str]] = []
        for folder in self.settings.knowledge_dirs:
            folder = Path(folder)
            if not folder.is_dir():
                continue
            for path in sorted(folder.rglob("*")):
                relative = path.relative_to(folder)
                if relative.parts[0] in SKIPPED_SUBDIRS or path.suffix.lower() not in DOCUMENT_SUFFIXES:
                    continue
                if path.is_file() and not path.name.startswith("."):
                    files.append((path, relative.as_posix()))
        return files

    def _user_files(self) -> list[tuple[Path, str]]:
        folder = self.settings.user_documents_dir
        if not folder.is_dir():
            return []
        return [
            (path, f"documents/{path.name}")
            for path in sorted(folder.iterdir())
            if path.is_file() and path.suffix.lower() in READABLE_SUFFIXES and not path.name.startswith(".")
        ]

    def documents(self) -> list[Document]:
        """Every usable document; a broken file is skipped and described in .problems, never fatal."""
        self.problems = []
        docs: list[Document] = []
        for bundled, files in ((True, self._bundled_files()), (False, self._user_files())):
            for path, source in files:
                try:
                    docs.append(load_document(path, source=source, bundled=bundled))
                except InputError as exc:
                    self.problems.append(exc.message)
        return docs

    def sections(self) -> list[Section]:
        return [section for document in self.documents() for section in document.sections]

    def add_document(self, path: Path) -> Document:
        """Check the file, then copy it into the data dir so the index can always be rebuilt from it."""
        path = Path(path).expanduser()
        if path.suffix.lower() not in READABLE_SUFFIXES:
            raise InputError(
                f"{path.name} is not a format companion reads.",
                kept=_NOTHING_CHANGED,
                fix="add a .pdf, .docx, .html, .epub, .md or .txt file (or save it as plain text)",
            )
        # Validate before copying: a refused file must leave the documents folder exactly as it was.
        load_document(path, source=f"documents/{path.name}")
        folder = self.settings.user_documents_dir
        ensure_private_dir(self.settings.home)
        ensure_private_dir(folder)
        from companion.guidance.library import Origins

        origins = Origins(folder)
        earlier = origins.copy_of(path)
        # A file added again (same origin, or same name from an unknown origin) replaces its copy, so the index
        # re-embeds only the sections that changed; a different file of the same name gets a free name.
        target = folder / (earlier or path.name)
        other = origins.files.get(target.name)
        if not earlier and target.exists() and other and other != str(path.resolve()):
            target = _free_name(folder, path.name)
        if target.resolve() != path.resolve():
            tmp = target.with_name(f".{target.name}.partial")
            shutil.copyfile(path, tmp)
            tmp.chmod(0o600)
            tmp.replace(target)
            origins.files[target.name] = str(path.resolve())
            origins.save()
        return load_document(target, source=f"documents/{target.name}", bundled=False)


def _free_name(folder: Path, name: str) -> Path:
    stem, suffix = Path(name).stem, Path(name).suffix
    for number in range(2, 1000):
        candidate = folder / f"{stem}-{number}{suffix}"
        if not candidate.exists():
            return candidate
    raise InputError(
        f"Too many documents named {name}.", kept=_NOTHING_CHANGED, fix="rename the file before adding it"
    )
