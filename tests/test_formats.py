"""A person's own files in every format companion reads, written here with the real libraries (fpdf2,
python-docx, zipfile) and read back through formats.py, knowledge.py and the `companion` command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from companion.errors import InputError
from companion.guidance.formats import html_to_text, read_document
from companion.guidance.knowledge import load_document

ROOT = Path(__file__).resolve().parent.parent

BEDTIME = (
    "Before sleep, each of us names one moment from the day that we would like the other to know about. "
    "It takes two minutes and keeps the small news from piling up."
)
MONEY = (
    "When the bills arrive we sit down together with tea, read them aloud, and decide who pays which one, "
    "so neither of us carries the worry alone."
)


# ---- writers: real files made with the real libraries --------------------------------------------------------


def write_pdf(
    path: Path, blocks: list[tuple[str, str]], *, password: str | None = None, title: str = ""
) -> Path:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_title(title)
    if password:
        from fpdf.enums import EncryptionMethod

        pdf.set_encryption(
            owner_password="owner-secret", user_password=password, encryption_method=EncryptionMethod.AES_128
        )
    pdf.add_page()
    for heading, body in blocks:
        pdf.set_font("Helvetica", "B", 18)
        pdf.multi_cell(0, 10, heading, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 11)
        pdf.multi_cell(0, 6, body, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(4)
    pdf.output(str(path))
    return path


def write_scanned_pdf(path: Path) -> Path:
    """A page with only a drawn picture on it, as a scanner makes: no text layer."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_fill_color(40, 40, 40)
    for row in range(20):
        pdf.rect(20, 20 + row * 10, 150 - row * 3, 4, style="F")
    pdf.output(str(path))
    return path


def write_docx(path: Path) -> Path:
    import docx

    document = docx.Document()
    document.core_properties.title = "Our household notes"
    document.add_heading("Our household notes", level=0)
    document.add_heading("Bedtime check-in", level=1)
    document.add_paragraph(BEDTIME)
    document.add_heading("Paying the bills", level=1)
    document.add_paragraph(MONEY)
    document.add_paragraph("Keep the receipts in the blue folder", style="List Bullet")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Who", "Which bill"
    table.cell(1, 0).text, table.cell(1, 1).text = "Sam", "the electricity bill every month"
    document.save(str(path))
    return path


PAGE = f"""<!doctype html><html><head><meta charset="utf-8"><title>Small habits for couples</title>
<style>body {{ color: red }}</style><script>var tracking = "do not index me";</script></head>
<body><nav><a href="/">Home</a> <a href="/shop">Shop the store</a></nav>
<header>Site banner text</header>
<article><h1>Small habits for couples</h1><p>An introduction in our own words about little rituals.</p>
<h2>Bedtime check-in</h2><p>{BEDTIME}</p>
<h2>Paying the bills</h2><p>{MONEY}</p><ul><li>Read them aloud</li><li>Split them fairly</li></ul></article>
<footer>Copyright footer words</footer></body></html>"""


def write_epub(path: Path) -> Path:
    chapter = (
        "<?xml version='1.0' encoding='utf-8'?><html xmlns='http://www.w3.org/1999/xhtml'><head>"
        "<title>{t}</title></head><body><h1>{t}</h1><p>{b}</p></body></html>"
    )
    with zipfile.ZipFile(path, "w") as book:
        book.writestr("mimetype", "application/epub+zip", compress_type=zipfile.ZIP_STORED)
        book.writestr(
            "META-INF/container.xml",
            "<?xml version='1.0'?><container version='1.0' "
            "xmlns='urn:oasis:names:tc:opendocument:xmlns:container'><rootfiles>"
            "<rootfile full-path='OEBPS/content.opf' media-type='application/oebps-package+xml'/>"
            "</rootfiles></container>",
        )
        book.writestr(
            "OEBPS/content.opf",
            "<?xml version='1.0'?><package xmlns='http://www.idpf.org/2007/opf' version='3.0'>"
            "<metadata xmlns:dc='http://purl.org/dc/elements/1.1/'><dc:title>A small book of habits"
            "</dc:title></metadata><manifest>"
            "<item id='c2' href='text/money.xhtml' media-type='application/xhtml+xml'/>"
            "<item id='c1' href='text/bedtime.xhtml' media-type='application/xhtml+xml'/>"
            "</manifest><spine><itemref idref='c1'/><itemref idref='c2'/></spine></package>",
        )
        book.writestr("OEBPS/text/bedtime.xhtml", chapter.format(t="Bedtime check-in", b=BEDTIME))
        book.writestr("OEBPS/text/money.xhtml", chapter.format(t="Paying the bills", b=MONEY))
    return path


def headings(path: Path) -> dict[str, str]:
    return {section.heading: section.text for section in load_document(path).sections}


# ---- each format becomes sections under its own headings ------------------------------------------------------


def test_a_pdf_handout_becomes_sections_by_font_size(tmp_path):
    pdf = write_pdf(
        tmp_path / "handout.pdf",
        [("Bedtime check-in", BEDTIME), ("Paying the bills", MONEY)],
        title="Handout from our counsellor",
    )
    sections = load_document(pdf).sections
    by_heading = {s.heading: s for s in sections}
    assert set(by_heading) == {"Bedtime check-in", "Paying the bills"}
    assert " ".join(by_heading["Bedtime check-in"].text.split()) == BEDTIME
    assert " ".join(by_heading["Paying the bills"].text.split()) == MONEY
    assert load_document(pdf).title == "Handout from our counsellor"


def test_a_word_file_keeps_heading_styles_lists_and_tables(tmp_path):
    found = headings(write_docx(tmp_path / "notes.docx"))
    assert found["Bedtime check-in"] == BEDTIME
    assert MONEY in found["Paying the bills"]
    assert "- Keep the receipts in the blue folder" in found["Paying the bills"]
    assert "Sam | the electricity bill every month" in found["Paying the bills"]


def test_a_web_page_keeps_its_article_and_drops_scripts_styles_and_navigation(tmp_path):
    page = tmp_path / "habits.html"
    page.write_text(PAGE, encoding="utf-8")
    document = load_document(page)
    everything = "\n".join(s.title + "\n" + s.text for s in document.sections)
    assert document.title == "Small habits for couples"
    assert {"Bedtime check-in", "Paying the bills"} <= {s.heading for s in document.sections}
    for furniture in ("tracking", "color: red", "Shop the store", "Site banner", "Copyright footer"):
        assert furniture not in everything
    assert "- Read them aloud" in everything


def test_an_epub_is_read_in_spine_order_not_manifest_order(tmp_path):
    document = load_document(write_epub(tmp_path / "habits.epub"))
    assert document.title == "A small book of habits"
    assert [s.heading for s in document.sections] == ["Bedtime check-in", "Paying the bills"]
    assert document.sections[0].text == BEDTIME


def test_html_headings_nest_by_level():
    _, text = html_to_text("<h1>Top</h1><p>one</p><h3>Deep</h3><p>two</p><br>")
    assert text.splitlines() == ["# Top", "", "one", "", "### Deep", "", "two"]


# ---- bad files: one clear line, nothing stored ------------------------------------------------------------------


def _bad_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    corrupt_pdf = tmp_path / "broken.pdf"
    corrupt_pdf.write_bytes(b"%PDF-1.4\n" + os.urandom(3000))
    corrupt_docx = tmp_path / "broken.docx"
    corrupt_docx.write_bytes(b"PK\x03\x04 this is not really a zip archive")
    corrupt_epub = tmp_path / "broken.epub"
    with zipfile.ZipFile(corrupt_epub, "w") as book:
        book.writestr("mimetype", "application/epub+zip")
    return {
        "scanned": (write_scanned_pdf(tmp_path / "scan.pdf"), "no text layer"),
        "encrypted": (
            write_pdf(tmp_path / "locked.pdf", [("Secret", BEDTIME)], password="pw"),
            "password-protected",
        ),
        "corrupt pdf": (corrupt_pdf, "not a readable PDF"),
        "corrupt docx": (corrupt_docx, "not a readable Word"),
        "corrupt epub": (corrupt_epub, "not a readable e-book"),
    }


@pytest.mark.parametrize("case", ["scanned", "encrypted", "corrupt pdf", "corrupt docx", "corrupt epub"])
def test_an_unreadable_file_is_refused_with_one_line(tmp_path, case):
    path, expected = _bad_files(tmp_path)[case]
    with pytest.raises(InputError) as refused:
        read_document(path)
    assert expected in refused.value.message and "\n" not in str(refused.value)


def test_a_pdf_with_an_empty_password_reads_like_any_other(tmp_path):
    pdf = write_pdf(tmp_path / "open.pdf", [("Bedtime check-in", BEDTIME)], password="")
    assert "Bedtime check-in" in headings(pdf)


# ---- through the command a person types --------------------------------------------------------------------------


def companion(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "COMPANION_HOME": str(home), "COMPANION_LISTENER": "off", "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "companion", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_each_bad_file_is_refused_by_the_command_and_nothing_is_stored(tmp_path, companion_home):
    for path, expected in _bad_files(tmp_path).values():
        result = companion("knowledge", "add", str(path), home=companion_home)
        assert result.returncode == 2, result.stderr
        assert expected in result.stderr and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert not (companion_home / "documents").exists() or not list((companion_home / "documents").iterdir())


def test_a_pdf_a_word_file_and_a_web_page_become_searchable_with_one_command_each(
    tmp_path, companion_home, tiny_embed_model
):
    home = companion_home
    files = [
        write_pdf(tmp_path / "handout.pdf", [("Bedtime check-in", BEDTIME)]),
        write_docx(tmp_path / "notes.docx"),
    ]
    page = tmp_path / "habits.html"
    page.write_text(PAGE, encoding="utf-8")
    files.append(page)
    for path in files:
        result = _companion_with_model(["knowledge", "add", str(path)], home, tiny_embed_model)
        assert result.returncode == 0, result.stderr
        assert f"Added {path.name}" in result.stdout
    listing = json.loads(
        _companion_with_model(["knowledge", "list", "--json"], home, tiny_embed_model).stdout
    )
    added = {doc["source"]: doc["sections"] for doc in listing["documents"] if not doc["bundled"]}
    assert set(added) == {f"documents/{path.name}" for path in files} and all(added.values())
    found = json.loads(
        _companion_with_model(
            ["search", "the electricity bill every month", "-k", "3", "--json"], home, tiny_embed_model
        ).stdout
    )
    assert found["results"][0]["source"] == "documents/notes.docx"


def _companion_with_model(args, home: Path, model: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "COMPANION_HOME": str(home),
        "COMPANION_LISTENER": "off",
        "HF_HUB_OFFLINE": "1",
        "COMPANION_EMBED_MODEL": str(model),
    }
    return subprocess.run(
        [sys.executable, "-m", "companion", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


# ---- keeping the documents in step: remove, re-add a changed file, watch a folder, search --in ---------------


def _json(result: subprocess.CompletedProcess) -> dict:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_a_changed_file_added_again_updates_only_its_changed_sections(
    tmp_path, companion_home, tiny_embed_model
):
    notes = tmp_path / "notes.md"
    notes.write_text(f"# Bedtime check-in\n\n{BEDTIME}\n\n# Paying the bills\n\n{MONEY}\n", encoding="utf-8")
    first = _companion_with_model(["knowledge", "add", str(notes)], companion_home, tiny_embed_model)
    assert first.returncode == 0, first.stderr
    notes.write_text(
        f"# Bedtime check-in\n\n{BEDTIME}\n\n# Paying the bills\n\n{MONEY} Twice a month.\n", encoding="utf-8"
    )
    again = _companion_with_model(["knowledge", "add", str(notes)], companion_home, tiny_embed_model)
    assert again.returncode == 0, again.stderr
    assert "0 added, 1 updated, 0 removed" in again.stdout
    assert sorted(p.name for p in (companion_home / "documents").iterdir() if not p.name.startswith(".")) == [
        "notes.md"
    ]


def test_remove_takes_a_document_out_of_search_and_refuses_bundled_or_unknown_names(
    tmp_path, companion_home, tiny_embed_model
):
    docx_file = write_docx(tmp_path / "notes.docx")
    assert (
        _companion_with_model(
            ["knowledge", "add", str(docx_file)], companion_home, tiny_embed_model
        ).returncode
        == 0
    )
    removed = _companion_with_model(["knowledge", "remove", "notes.docx"], companion_home, tiny_embed_model)
    assert removed.returncode == 0, removed.stderr
    assert "sections: 0 added, 0 updated, " in removed.stdout and " 0 removed" not in removed.stdout
    assert not (companion_home / "documents" / "notes.docx").exists()
    found = _json(
        _companion_with_model(["search", "electricity bill", "--json"], companion_home, tiny_embed_model)
    )
    assert all(not r["source"].startswith("documents/") for r in found["results"])
    bundled = _json(_companion_with_model(["knowledge", "list", "--json"], companion_home, tiny_embed_model))
    name = bundled["documents"][0]["source"]
    for wrong, expected in ((name, "bundled guidance"), ("nothing-like-this.pdf", "No added document")):
        refused = _companion_with_model(["knowledge", "remove", wrong], companion_home, tiny_embed_model)
        assert refused.returncode == 2 and expected in refused.stderr and "Traceback" not in refused.stderr


def test_search_in_limits_results_to_one_document_mine_or_bundled(tmp_path, companion_home, tiny_embed_model):
    page = tmp_path / "habits.html"
    page.write_text(PAGE, encoding="utf-8")
    write_docx(tmp_path / "notes.docx")
    _companion_with_model(["knowledge", "add", str(page)], companion_home, tiny_embed_model)
    _companion_with_model(
        ["knowledge", "add", str(tmp_path / "notes.docx")], companion_home, tiny_embed_model
    )

    def sources(where: str) -> set[str]:
        found = _json(
            _companion_with_model(
                ["search", "listening to each other", "-k", "8", "--in", where, "--json"],
                companion_home,
                tiny_embed_model,
            )
        )
        assert found["results"]
        return {r["source"] for r in found["results"]}

    assert sources("habits.html") == {"documents/habits.html"}
    assert sources("documents/notes.docx") == {"documents/notes.docx"}
    assert sources("mine") <= {"documents/habits.html", "documents/notes.docx"}
    assert not any(s.startswith("documents/") for s in sources("bundled"))
    unknown = _companion_with_model(
        ["search", "listening", "--in", "missing.pdf"], companion_home, tiny_embed_model
    )
    assert unknown.returncode == 2 and "No document called missing.pdf" in unknown.stderr


def test_a_watched_folder_is_followed_between_two_starts(tmp_path, companion_home, tiny_embed_model):
    folder = tmp_path / "therapy"
    (folder / "week1").mkdir(parents=True)
    (folder / "week1" / "bedtime.md").write_text(f"# Bedtime check-in\n\n{BEDTIME}\n", encoding="utf-8")
    (folder / "money.txt").write_text(f"Paying the bills\n\n{MONEY}\n", encoding="utf-8")
    (folder / "photo.jpg").write_bytes(b"\xff\xd8\xff not text")
    write_scanned_pdf(folder / "scan.pdf")
    first = _companion_with_model(
        ["knowledge", "add", "--watch", str(folder)], companion_home, tiny_embed_model
    )
    assert first.returncode == 0, first.stderr
    assert "2 added, 0 changed, 0 removed, 0 unchanged, 2 skipped" in first.stdout
    assert "photo.jpg: not a format companion reads" in first.stderr and "scan.pdf:" in first.stderr

    # Between two starts: one file changes, one is removed, one is new.
    (folder / "week1" / "bedtime.md").write_text(
        f"# Bedtime check-in\n\n{BEDTIME} Even on busy nights.\n", encoding="utf-8"
    )
    (folder / "money.txt").unlink()
    write_docx(folder / "notes.docx")
    second = _companion_with_model(["index"], companion_home, tiny_embed_model)
    assert second.returncode == 0, second.stderr
    assert "watched folders: 1 added, 1 changed, 1 removed" in second.stderr
    listing = _json(_companion_with_model(["knowledge", "list", "--json"], companion_home, tiny_embed_model))
    assert {d["source"] for d in listing["documents"] if not d["bundled"]} == {
        "documents/bedtime.md",
        "documents/notes.docx",
    }
    third = _companion_with_model(["index"], companion_home, tiny_embed_model)
    assert "watched folders" not in third.stderr and "0 added, 0 updated, 0 removed" in third.stdout
