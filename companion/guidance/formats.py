"""A person's documents in the formats they have (PDF, Word, web pages, e-books, text) -> Markdown-like text.

Every reader returns text whose headings are '#' lines (level by level) and whose paragraphs are separated by
blank lines, so knowledge.split_document turns any of them into sections the same way. A document title found in
the file (PDF metadata, <title>, Word properties) comes back as front matter. Anything unreadable is one
InputError line: what is wrong with the file, that nothing was stored, and what to do instead.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from xml.etree import ElementTree

from companion.errors import InputError

TEXT_SUFFIXES = (".md", ".markdown", ".txt", ".text")
HTML_SUFFIXES = (".html", ".htm", ".xhtml")
READABLE_SUFFIXES = (*TEXT_SUFFIXES, *HTML_SUFFIXES, ".pdf", ".docx", ".epub")
# Files in these formats are larger than their text (fonts, images); the text itself keeps the usual cap.
MAX_CONTAINER_BYTES = 60_000_000
MAX_TEXT_CHARS = 5_000_000

_NOTHING_STORED = "Nothing stored was changed."


def read_document(path: Path) -> str:
    """The text of a document in any readable format, headings as '#' lines; an InputError when it cannot be used."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in TEXT_SUFFIXES:
        from companion.guidance.knowledge import read_document_text

        return read_document_text(path)
    if suffix not in READABLE_SUFFIXES:
        raise InputError(
            f"{path.name} is not a format companion reads ({suffix or 'no extension'}).",
            kept=_NOTHING_STORED,
            fix="add a .pdf, .docx, .html, .epub, .md or .txt file",
        )
    raw = _read_bytes(path)
    reader = {".pdf": _pdf_text, ".docx": _docx_text, ".epub": _epub_text}.get(suffix, _html_file_text)
    text = reader(path, raw)
    if not text.strip() or not _body(text).strip():
        raise InputError(
            f"{path.name} has no text in it.",
            kept=_NOTHING_STORED,
            fix="add a file with written text (a scanned page needs OCR first)",
        )
    if len(text) > MAX_TEXT_CHARS:
        raise InputError(
            f"{path.name} holds {len(text) // 1_000_000} million characters of text, more than guidance should be.",
            kept=_NOTHING_STORED,
            fix="split it into smaller files and add those",
        )
    return text


def _body(text: str) -> str:
    """text without front matter and heading lines (to tell a file with only headings from one with text)."""
    lines = text.splitlines()
    if lines and lines[0] == "---" and "---" in lines[1:]:
        lines = lines[lines.index("---", 1) + 1 :]
    return "\n".join(line for line in lines if not line.startswith("#"))


def _read_bytes(path: Path) -> bytes:
    if not path.is_file():
        raise InputError(f"{path} is not a file.", kept=_NOTHING_STORED, fix="check the path and try again")
    try:
        size = path.stat().st_size
        if size > MAX_CONTAINER_BYTES:
            raise InputError(
                f"{path.name} is {size // 1_000_000} MB, larger than companion reads.",
                kept=_NOTHING_STORED,
                fix="save the chapters you need as a smaller file and add that",
            )
        return path.read_bytes()
    except OSError as exc:
        raise InputError(
            f"{path} could not be read ({exc.strerror or exc}).",
            kept=_NOTHING_STORED,
            fix="check its permissions",
        ) from None


def _corrupt(path: Path, kind: str) -> InputError:
    return InputError(
        f"{path.name} is not a readable {kind} file (it may be damaged or misnamed).",
        kept=_NOTHING_STORED,
        fix=f"open it in a {kind} viewer and save a fresh copy (or its text as .md or .txt), then add that",
    )


def _with_title(title: str | None, body: str) -> str:
    title = " ".join((title or "").split()).replace("---", "")
    return f"---\ntitle: {title}\n---\n{body}" if title else body


def _tidy(lines: list[str]) -> str:
    """Join lines, at most one blank line in a row, no trailing spaces."""
    text = "\n".join(line.rstrip() for line in lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


# ---- HTML and EPUB ------------------------------------------------------------------------------------------

# Page furniture and code: never guidance.
_DROPPED_TEXT = (
    "script style nav header footer aside noscript template svg form button select iframe object canvas head"
)
_BLOCK_TEXT = (
    "p div section article main blockquote pre tr table ul ol dl dd dt figure figcaption address hr body html"
)
_VOID_TEXT = "br hr img input meta link area base col embed source track wbr"
_DROPPED_TAGS = frozenset(_DROPPED_TEXT.split())
_BLOCK_TAGS = frozenset(_BLOCK_TEXT.split())
_VOID_TAGS = frozenset(_VOID_TEXT.split())


class _HtmlToText(HTMLParser):
    """Visible text of a page: h1..h6 become '#' lines, block elements paragraphs, list items '- ' lines."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.current: list[str] = []
        self.dropped_depth = 0  # inside <script>, <nav>, ... (nested)
        self.heading_level = 0
        self.title_parts: list[str] = []
        self.in_title = False

    def _flush(self, blank: bool = True) -> None:
        text = " ".join("".join(self.current).split())
        self.current.clear()
        if text:
            if self.heading_level:
                text = f"{'#' * self.heading_level} {text.lstrip('#').strip()}"
            self.lines.append(text)
        if blank and self.lines and self.lines[-1] != "":
            self.lines.append("")

    def handle_starttag(self, tag, attrs):
        if tag == "title":
            self.in_title = True
        if tag in _DROPPED_TAGS and tag not in _VOID_TAGS:
            self.dropped_depth += 1
            return
        if self.dropped_depth:
            return
        if re.fullmatch(r"h[1-6]", tag):
            self._flush()
            self.heading_level = int(tag[1])
        elif tag == "li":
            self._flush(blank=False)
            self.current.append("- ")
        elif tag == "br":
            self._flush(blank=False)
        elif tag in _BLOCK_TAGS:
            self._flush()
        elif tag in ("td", "th"):
            self.current.append(" ")

    def handle_endtag(self, tag):
        if tag == "title":
            self.in_title = False
        if tag in _DROPPED_TAGS and tag not in _VOID_TAGS:
            self.dropped_depth = max(0, self.dropped_depth - 1)
            return
        if self.dropped_depth:
            return
        if re.fullmatch(r"h[1-6]", tag):
            self._flush()
            self.heading_level = 0
        elif tag == "li":
            self._flush(blank=False)
        elif tag in _BLOCK_TAGS:
            self._flush()

    def handle_data(self, data):
        if self.in_title:
            self.title_parts.append(data)
        elif not self.dropped_depth:
            self.current.append(data)

    def text(self) -> str:
        self._flush()
        return _tidy(self.lines)


def html_to_text(markup: str) -> tuple[str, str]:
    """(title, text with '#' headings) of an HTML or XHTML page."""
    parser = _HtmlToText()
    parser.feed(markup)
    parser.close()
    return " ".join("".join(parser.title_parts).split()), parser.text()


def _decode_markup(raw: bytes) -> str:
    declared = re.search(rb"""<meta[^>]+charset=["']?([A-Za-z0-9_-]+)""", raw[:4096], re.IGNORECASE)
    for encoding in (declared.group(1).decode("ascii") if declared else None, "utf-8", "cp1252"):
        if not encoding:
            continue
        try:
            return raw.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            continue
    return raw.decode("utf-8", errors="replace")


def _html_file_text(path: Path, raw: bytes) -> str:
    if b"\x00" in raw[:4096]:
        raise _corrupt(path, "web page")
    title, text = html_to_text(_decode_markup(raw))
    return _with_title(title, text)


_OPF = "{http://www.idpf.org/2007/opf}"
_CONTAINER = "{urn:oasis:names:tc:opendocument:xmlns:container}"
_DC_TITLE = "{http://purl.org/dc/elements/1.1/}title"


def _epub_text(path: Path, raw: bytes) -> str:
    """The book's chapters in reading order (its spine), each read as a web page."""
    try:
        with zipfile.ZipFile(path) as book:
            names = set(book.namelist())
            if "META-INF/encryption.xml" in names and _drm_protected(book.read("META-INF/encryption.xml")):
                raise InputError(
                    f"{path.name} is a copy-protected e-book; its text cannot be read.",
                    kept=_NOTHING_STORED,
                    fix="add a DRM-free copy, or the chapters as text",
                )
            container = ElementTree.fromstring(book.read("META-INF/container.xml"))
            rootfile = container.find(f".//{_CONTAINER}rootfile")
            if rootfile is None:
                raise _corrupt(path, "e-book")
            opf_path = rootfile.get("full-path", "")
            package = ElementTree.fromstring(book.read(opf_path))
            base = posixpath.dirname(opf_path)
            manifest = {item.get("id"): item.get("href", "") for item in package.iter(f"{_OPF}item")}
            title_element = package.find(f".//{_DC_TITLE}")
            parts = []
            for itemref in package.iter(f"{_OPF}itemref"):
                href = manifest.get(itemref.get("idref"))
                member = posixpath.normpath(posixpath.join(base, href)) if href else None
                if member in names:
                    parts.append(html_to_text(_decode_markup(book.read(member)))[1])
    except InputError:
        raise
    except (zipfile.BadZipFile, KeyError, ElementTree.ParseError, OSError, ValueError):
        raise _corrupt(path, "e-book") from None
    title = title_element.text if title_element is not None else None
    return _with_title(title, "\n".join(parts))


def _drm_protected(encryption_xml: bytes) -> bool:
    """True unless the only encrypted things are fonts (publishers obfuscate fonts; the text stays readable)."""
    algorithms = re.findall(rb'Algorithm="([^"]+)"', encryption_xml)
    font_only = (b"http://www.idpf.org/2008/embedding", b"http://ns.adobe.com/pdf/enc#RC")
    return any(algorithm not in font_only for algorithm in algorithms)


# ---- Word ---------------------------------------------------------------------------------------------------


def _docx_text(path: Path, raw: bytes) -> str:
    """Paragraphs and tables in document order; 'Title' and 'Heading N' styles become '#' headings."""
    try:
        import docx
        from docx.table import Table
        from docx.text.paragraph import Paragraph

        document = docx.Document(str(path))
        lines: list[str] = []
        for block in document.element.body.iterchildren():
            tag = block.tag.rsplit("}", 1)[-1]
            if tag == "p":
                lines.extend(_docx_paragraph(Paragraph(block, document)))
            elif tag == "tbl":
                for row in Table(block, document).rows:
                    cells = [" ".join(cell.text.split()) for cell in row.cells]
                    lines.append(" | ".join(dict.fromkeys(c for c in cells if c)))
                lines.append("")
        title = document.core_properties.title
    except ImportError:
        raise InputError(
            "Reading Word files needs python-docx, which is not installed.",
            kept=_NOTHING_STORED,
            fix="reinstall companion (pip install companion), or save the file as .txt",
        ) from None
    except Exception:  # noqa: BLE001 - python-docx raises many types (zip, XML, key) for a damaged file
        raise _corrupt(path, "Word") from None
    return _with_title(title, _tidy(lines))


def _docx_paragraph(paragraph) -> list[str]:
    text = " ".join(paragraph.text.split())
    if not text:
        return [""]
    style = (paragraph.style.name if paragraph.style is not None else "") or ""
    level = 1 if style == "Title" else int(m.group(1)) if (m := re.fullmatch(r"Heading (\d)", style)) else 0
    if level:
        return ["", f"{'#' * min(level, 6)} {text}", ""]
    if style.startswith("List"):
        return [f"- {text}"]
    return [text, ""]


# ---- PDF ----------------------------------------------------------------------------------------------------

# A line set this much larger than the body text is a heading (when it is short enough to be one).
HEADING_SIZE_RATIO = 1.15
MAX_HEADING_CHARS = 90


def _pdf_text(path: Path, raw: bytes) -> str:
    """Lines with their font size; larger short lines become headings (by size rank), gaps become paragraphs."""
    try:
        from pypdf import PdfReader
        from pypdf.errors import PdfReadError
    except ImportError:
        raise InputError(
            "Reading PDFs needs pypdf, which is not installed.",
            kept=_NOTHING_STORED,
            fix="reinstall companion (pip install companion), or save the file as .txt",
        ) from None
    import io
    import logging

    logging.getLogger("pypdf").setLevel(
        logging.ERROR
    )  # pypdf warns on every odd object; the person needs one line
    try:
        reader = PdfReader(io.BytesIO(raw))
        if reader.is_encrypted:
            # Many PDFs are "encrypted" with an empty password only to stop editing; those read fine.
            try:
                opened = reader.decrypt("")
            except Exception:  # noqa: BLE001 - unsupported cipher, missing cryptography backend, ...
                opened = 0
            if not opened:
                raise InputError(
                    f"{path.name} is a password-protected PDF.",
                    kept=_NOTHING_STORED,
                    fix="open it with its password, save or print an unprotected copy, and add that",
                )
        lines: list[tuple[str, float, float]] = []  # (text, font size, gap above in font sizes)
        for page in reader.pages:
            lines.extend(_pdf_page_lines(page))
        title = (reader.metadata.title if reader.metadata else None) or None
    except InputError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, OSError, RecursionError):
        raise _corrupt(path, "PDF") from None
    if not any(text.strip() for text, _, _ in lines):
        raise InputError(
            f"{path.name} has no text layer (a scanned PDF is a picture of the pages).",
            kept=_NOTHING_STORED,
            fix="run it through OCR (e.g. ocrmypdf) and add the result",
        )
    return _with_title(title, _pdf_lines_to_markdown(lines))


def _pdf_page_lines(page) -> list[tuple[str, float, float]]:
    pieces: list[tuple[str, float, float]] = []  # (text, size, baseline y)

    def visit(text, cm, tm, _font, size):
        if not text:
            return
        scale = abs(tm[3] * cm[3]) or abs(tm[0] * cm[0]) or 1.0
        pieces.append((text, float(size) * scale, float(tm[5] * cm[3] + cm[5])))

    page.extract_text(visitor_text=visit)
    lines: list[tuple[str, float, float]] = []
    current, sizes, y_now, y_before = "", Counter(), None, None

    def finish():
        nonlocal current, sizes, y_before
        text = " ".join(current.split())
        if text:
            size = max(sizes, key=sizes.get) if sizes else 0.0
            gap = (y_before - y_now) / size if (y_before is not None and y_now is not None and size) else 0.0
            lines.append((text, size, gap))
            y_before = y_now
        current, sizes = "", Counter()

    for text, size, y in pieces:
        if y_now is not None and abs(y - y_now) > 0.5 and current.strip():
            finish()
        y_now = y
        for n, part in enumerate(text.split("\n")):
            if n:
                finish()
            current += part
            if part.strip():
                sizes[round(size, 1)] += len(part.strip())
    finish()
    return lines


def _pdf_lines_to_markdown(lines: list[tuple[str, float, float]]) -> str:
    body_sizes = Counter()
    for text, size, _ in lines:
        body_sizes[size] += len(text)
    body = max(body_sizes, key=body_sizes.get)
    heading_sizes = sorted(
        {
            size
            for text, size, _ in lines
            if size >= body * HEADING_SIZE_RATIO and len(text) <= MAX_HEADING_CHARS
        },
        reverse=True,
    )
    level_of = {size: min(n + 1, 6) for n, size in enumerate(heading_sizes[:6])}
    typical_gaps = sorted(gap for _, size, gap in lines if size == body and gap > 0)
    line_gap = typical_gaps[len(typical_gaps) // 2] if typical_gaps else 1.2
    out: list[str] = []
    for text, size, gap in lines:
        level = level_of.get(size) if len(text) <= MAX_HEADING_CHARS else None
        if level:
            out.extend(["", f"{'#' * level} {text.lstrip('#').strip()}", ""])
            continue
        if gap > line_gap * 1.4 or gap < 0:  # a wider gap, or a new page/column
            out.append("")
        if out and out[-1] and out[-1].endswith("-") and not out[-1].endswith(" -"):
            out[-1] = out[-1][:-1] + text  # a word hyphenated across lines
        elif out and out[-1] and not out[-1].startswith("#"):
            out[-1] = f"{out[-1]} {text}"
        else:
            out.append(text)
    return _tidy(out)
