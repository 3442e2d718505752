"""The journal under damage and bad arguments, through real `companion` processes and real SQLite files.

Damaged pages are kept aside and recovered from, damage found mid-query is handled the same way, bad ids and
passphrases get one line (exit 2), `journal encrypt` leaves no plain text anywhere, passphrases are compared in
NFC (old journals keyed with another form still open and are re-keyed), and counts below 1 are refused.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

from companion.store.crypto import FieldCipher, KdfParams, derive_key, open_sealed_file, unlock
from companion.store.journal import Journal

ROOT = Path(__file__).resolve().parent.parent
# A cheap scrypt cost for journals written here; the CLI's own `encrypt` uses the shipped cost.
TEST_KDF_N = 2**12
MARKER = "Periwinkle accordion: I feel like a stranger at our own table"
NFC_PASSPHRASE = unicodedata.normalize("NFC", "café au lait")
NFD_PASSPHRASE = unicodedata.normalize("NFD", "café au lait")


@pytest.fixture
def home(tmp_path) -> Path:
    folder = tmp_path / "home"
    folder.mkdir(mode=0o700)
    return folder


def companion(
    home: Path,
    *args: str,
    passphrase: str | None = None,
    stdin: str | None = None,
    new_passphrase: str | None = None,
) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if not key.startswith("COMPANION_")}
    env.update(COMPANION_LISTENER="off", HF_HUB_OFFLINE="1")
    if passphrase is not None:
        env["COMPANION_PASSPHRASE"] = passphrase  # str with surrogates becomes the raw bytes again
    if new_passphrase is not None:
        env["COMPANION_NEW_PASSPHRASE"] = new_passphrase
    return subprocess.run(
        [sys.executable, "-m", "companion", "--home", str(home), *args],
        cwd=ROOT,
        env=env,
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=300,
    )


def assert_refused_in_one_line(result: subprocess.CompletedProcess, *words: str) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def seed(home: Path, count: int, *, passphrase: str | None = None, words: int = 1) -> dict[int, list[str]]:
    """`count` reflect sessions of two turns each, written through the real Journal; returns their texts."""
    texts: dict[int, list[str]] = {}
    with Journal(home / "journal.sqlite3") as journal:
        if passphrase is not None:
            journal.enable_encryption(passphrase, KdfParams.fresh(n=TEST_KDF_N))
        for number in range(count):
            session_id = journal.start_session("reflect")
            said = f"statement {number}: " + " ".join(f"word{number}-{index}" for index in range(words))
            reply = f"It sounds like statement {number} matters to you."
            journal.add_turn(session_id, "partner", said)
            journal.add_turn(session_id, "companion", reply, engine="builtin")
            journal.end_session(session_id)
            texts[session_id] = [said, reply]
    return texts


def kept_copies(home: Path) -> list[Path]:
    return sorted(
        path for path in home.glob("journal.sqlite3.unreadable-*") if not path.name.endswith(("-wal", "-shm"))
    )


def listed(home: Path, passphrase: str | None = None) -> dict[int, int]:
    result = companion(home, "journal", "list", "--json", passphrase=passphrase)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    return {info["id"]: info["turn_count"] for info in json.loads(result.stdout)["sessions"]}


def break_turn_index(path: Path) -> None:
    """Point every entry of the turns index at a row that does not exist: `quick_check` passes (it does not
    compare indexes with tables), but the first read of a session's turns fails as malformed."""

    def varint(buf: bytearray, at: int) -> tuple[int, int]:
        value = 0
        for offset in range(9):
            byte = buf[at + offset]
            if offset == 8:
                return (value << 8) | byte, at + 9
            value = (value << 7) | (byte & 0x7F)
            if not byte & 0x80:
                return value, at + offset + 1
        raise AssertionError("unreachable")

    conn = sqlite3.connect(path)
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    root = conn.execute(
        "SELECT rootpage FROM sqlite_master WHERE name = 'sqlite_autoindex_turns_1'"
    ).fetchone()[0]
    conn.close()
    data = bytearray(path.read_bytes())
    base = (root - 1) * page_size
    assert data[base] == 0x0A, "the turns index is expected to fit one leaf page"
    body_sizes = {0: 0, 1: 1, 2: 2, 3: 3, 4: 4, 5: 6, 6: 8, 8: 0, 9: 0}
    for cell in range(int.from_bytes(data[base + 3 : base + 5], "big")):
        pointer = base + int.from_bytes(data[base + 8 + 2 * cell : base + 10 + 2 * cell], "big")
        _payload, header_start = varint(data, pointer)
        header_size, at = varint(data, header_start)
        types = []
        while at < header_start + header_size:
            serial, at = varint(data, at)
            types.append((serial, at - 1))
        rowid_type, rowid_type_at = types[-1]
        rowid_at = header_start + header_size + sum(body_sizes[serial] for serial, _ in types[:-1])
        if rowid_type == 9:  # the constant 1 becomes the constant 0: no such row
            data[rowid_type_at] = 8
        else:
            assert rowid_type == 1
            data[rowid_at] = 0x7F  # rowid 127: this journal has far fewer turns
    path.write_bytes(bytes(data))
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA quick_check").fetchall() == [("ok",)]
    check.close()


# ---- item 3: damaged pages -------------------------------------------------------------------------------


def wreck_after_header(home: Path) -> bytes:
    path = home / "journal.sqlite3"
    data = path.read_bytes()
    damaged = data[:4096] + b"A" * (len(data) - 4096)
    path.write_bytes(damaged)
    return damaged


@pytest.mark.parametrize(
    "command, stdin",
    [
        (("journal", "list"), None),
        (("journal", "show", "1"), None),
        (("journal", "export"), None),
        (("rehearse", "time-together", "--no-model"), "/end\n"),
    ],
    ids=["list", "show", "export", "rehearse"],
)
def test_pages_damaged_after_a_valid_header_are_kept_aside_and_named_in_one_line(home, command, stdin):
    seed(home, 30, words=30)
    damaged = wreck_after_header(home)
    result = companion(home, *command, stdin=stdin)
    assert "Traceback" not in result.stderr, result.stderr
    notices = [line for line in result.stderr.splitlines() if "is damaged" in line]
    assert len(notices) == 1, result.stderr
    (kept,) = kept_copies(home)
    assert f"kept as {kept.name} in {home}" in notices[0]
    assert "no session could be read from it" in notices[0]
    assert kept.read_bytes() == damaged  # the damaged copy itself is never written to
    if command[:2] == ("journal", "show"):
        assert result.returncode == 2 and "There is no journal session 1" in result.stderr
    else:
        assert result.returncode == 0, result.stderr
    # The fresh journal opens quietly from then on.
    again = companion(home, "journal", "list")
    assert again.returncode == 0 and again.stderr == ""


def test_a_damaged_page_of_turns_costs_only_the_rows_on_it(home):
    texts = seed(home, 40, words=40)
    path = home / "journal.sqlite3"
    conn = sqlite3.connect(path)
    leaves = [
        row[0] for row in conn.execute("SELECT pageno FROM dbstat WHERE name = 'turns' AND pagetype = 'leaf'")
    ]
    conn.close()
    assert len(leaves) > 3
    victim = leaves[len(leaves) // 2]
    data = bytearray(path.read_bytes())
    data[(victim - 1) * 4096 : victim * 4096] = b"A" * 4096
    path.write_bytes(bytes(data))

    result = companion(home, "journal", "export", "--format", "json")
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    (notice,) = result.stderr.splitlines()
    assert "40 sessions could be read from it" in notice
    sessions = json.loads(result.stdout)["sessions"]
    assert sorted(session["id"] for session in sessions) == sorted(texts)
    turns_kept = sum(len(session["turns"]) for session in sessions)
    assert 0 < turns_kept < 80
    for session in sessions:  # what was recovered is exactly what was written
        for turn in session["turns"]:
            assert turn["text"] == texts[session["id"]][turn["position"]]


def test_damage_that_shows_only_mid_query_is_recovered_and_said_in_one_line(home):
    texts = seed(home, 5)
    break_turn_index(home / "journal.sqlite3")
    result = companion(home, "journal", "list")
    line = assert_refused_in_one_line(
        result, "turned out to be damaged", "5 sessions could be read", "run the command again"
    )
    (kept,) = kept_copies(home)
    assert kept.name in line
    assert listed(home) == {session_id: 2 for session_id in texts}
    shown = companion(home, "journal", "show", "3")
    assert shown.returncode == 0 and texts[3][0] in shown.stdout


def test_a_damaged_encrypted_journal_recovers_sealed_and_leaves_no_plain_text(home):
    with Journal(home / "journal.sqlite3") as journal:
        journal.enable_encryption("lantern", KdfParams.fresh(n=TEST_KDF_N))
        session_id = journal.start_session("reflect")
        journal.add_turn(session_id, "partner", MARKER)
    break_turn_index(home / "journal.sqlite3")
    result = companion(home, "journal", "list", passphrase="lantern")
    assert_refused_in_one_line(result, "turned out to be damaged", "1 session could be read")
    again = companion(home, "journal", "show", str(session_id), passphrase="lantern")
    assert again.returncode == 0 and MARKER in again.stdout
    assert "encrypted with the journal's passphrase" in again.stderr  # the kept copy was sealed on that open
    assert not [path for path in home.rglob("*") if path.is_file() and MARKER.encode() in path.read_bytes()]


# ---- item 6: bad paths, ids and passphrases --------------------------------------------------------------


def test_a_folder_named_like_the_journal_is_refused_and_left_alone(home):
    from companion.config import write_home_marker

    write_home_marker(
        home
    )  # companion's own folder, where something else made a folder of the journal's name
    folder = home / "journal.sqlite3"
    folder.mkdir(mode=0o700)
    (folder / "mine.txt").write_text("not companion's")
    os.chmod(folder / "mine.txt", 0o600)  # already private: tightening modes is another test's business
    assert_refused_in_one_line(companion(home, "journal", "list"), "is a folder, not a journal file")
    assert folder.is_dir() and (folder / "mine.txt").read_text() == "not companion's"
    assert not kept_copies(home)


@pytest.mark.parametrize(
    "command",
    [
        ("journal", "show", "99999999999999999999999"),
        ("journal", "delete", "99999999999999999999999"),
        ("journal", "export", "--session", "99999999999999999999999"),
    ],
    ids=["show", "delete", "export"],
)
def test_a_session_id_past_sqlites_range_is_no_session(home, command):
    seed(home, 1)
    assert_refused_in_one_line(
        companion(home, *command), "There is no journal session 99999999999999999999999"
    )
    assert listed(home) == {1: 2}


def test_a_passphrase_that_is_not_utf8_is_refused_in_one_line(home):
    not_text = os.fsdecode(b"a\xff")
    seed(home, 1)
    assert_refused_in_one_line(companion(home, "journal", "encrypt", passphrase=not_text), "not valid text")
    assert listed(home) == {1: 2}  # still plain, unchanged
    assert companion(home, "journal", "encrypt", passphrase="good words").returncode == 0
    assert_refused_in_one_line(companion(home, "journal", "list", passphrase=not_text), "not valid text")


# ---- item 11: no plain copy left by `journal encrypt` -------------------------------------------------------


def test_encrypt_seals_the_copies_kept_aside_so_no_plain_text_is_left(home):
    junk = (f"{MARKER}\n" * 30).encode()
    (home / "journal.sqlite3").write_bytes(junk)
    os.chmod(home / "journal.sqlite3", 0o600)
    moved = companion(home, "journal", "list")
    assert moved.returncode == 0 and "is not a journal database" in moved.stderr
    with Journal(home / "journal.sqlite3") as journal:
        journal.add_turn(journal.start_session("reflect"), "partner", MARKER)

    result = companion(home, "journal", "encrypt", passphrase="first words")
    assert result.returncode == 0, result.stderr
    (sealed,) = home.glob("journal.sqlite3.unreadable-*.sealed")
    assert f"Also encrypted 1 earlier journal copy kept aside: {sealed.name}" in result.stdout
    found = [path for path in home.rglob("*") if path.is_file() and MARKER.encode() in path.read_bytes()]
    assert found == []
    assert open_sealed_file(sealed, "first words")[1] == junk

    # A new passphrase re-seals the copy too: the old one no longer opens it.
    changed = companion(
        home, "journal", "change-passphrase", passphrase="first words", new_passphrase="second words"
    )
    assert changed.returncode == 0, changed.stderr
    assert open_sealed_file(sealed, "second words")[1] == junk
    with pytest.raises(Exception, match="does not open"):
        open_sealed_file(sealed, "first words")


# ---- item 12: passphrases in NFC ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "chosen, typed",
    [(NFC_PASSPHRASE, NFD_PASSPHRASE), (NFD_PASSPHRASE, NFC_PASSPHRASE)],
    ids=["nfc-nfd", "nfd-nfc"],
)
def test_either_unicode_form_of_the_passphrase_opens_the_journal(home, chosen, typed):
    assert chosen != typed
    seed(home, 1)
    assert companion(home, "journal", "encrypt", passphrase=chosen).returncode == 0
    assert listed(home, passphrase=typed) == {1: 2}


def test_a_journal_keyed_with_the_raw_nfd_form_opens_and_is_rekeyed_to_nfc(home):
    """What companion wrote before normalising: the key derived from the passphrase's bytes as typed (NFD)."""
    texts = seed(home, 2)
    params = KdfParams.fresh(n=TEST_KDF_N)
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    legacy_key = Scrypt(salt=params.salt, length=32, n=params.n, r=params.r, p=params.p).derive(
        NFD_PASSPHRASE.encode("utf-8")
    )
    assert legacy_key != derive_key(NFD_PASSPHRASE, params)  # today's key is the NFC one
    legacy = FieldCipher(legacy_key)
    conn = sqlite3.connect(home / "journal.sqlite3")
    with conn:
        for row_id, session_id, position, text, citations in conn.execute(
            "SELECT id, session_id, position, text, citations FROM turns"
        ).fetchall():
            context = f"turn:{session_id}:{position}"
            conn.execute(
                "UPDATE turns SET text = ?, citations = ? WHERE id = ?",
                (
                    legacy.seal(text, f"{context}:text".encode()),
                    legacy.seal(citations, f"{context}:citations".encode()),
                    row_id,
                ),
            )
        meta = {
            "encryption": "aes-256-gcm/scrypt",
            "kdf_salt": params.salt,
            "kdf_n": params.n,
            "kdf_r": params.r,
            "kdf_p": params.p,
            "verifier": legacy.make_verifier(),
        }
        conn.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", meta.items())
    conn.close()
    # The form it was keyed with opens it, and the journal is re-keyed under the NFC form.
    shown = companion(home, "journal", "show", "2", passphrase=NFD_PASSPHRASE)
    assert shown.returncode == 0, shown.stderr
    assert texts[2][0] in shown.stdout
    conn = sqlite3.connect(home / "journal.sqlite3")
    stored = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    conn.close()
    rekeyed = KdfParams(salt=stored["kdf_salt"], n=stored["kdf_n"], r=stored["kdf_r"], p=stored["kdf_p"])
    assert rekeyed.salt != params.salt
    unlock(NFC_PASSPHRASE, rekeyed, stored["verifier"])  # the key is the NFC one now
    assert listed(home, passphrase=NFC_PASSPHRASE) == {1: 2, 2: 2}


# ---- item 13: counts below 1 ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ("journal", "list", "--limit", "0"),
        ("journal", "list", "--limit", "-1"),
        ("search", "-k", "0", "listen"),
        ("search", "-k", "-3", "listen"),
    ],
    ids=["limit-0", "limit-minus-1", "k-0", "k-minus-3"],
)
def test_counts_below_one_are_refused_by_the_parser(home, command):
    result = companion(home, *command)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "give 1 or more" in result.stderr.splitlines()[-1]
    assert result.stdout == ""


def test_a_journal_damaged_while_open_stays_encrypted_under_the_key_it_holds(home):
    """The key record (salt, cost, verifier) can be on a damaged page: the open journal's own copy is used."""
    texts = seed(home, 3, passphrase="lantern")
    path = home / "journal.sqlite3"
    with Journal(path, "lantern") as journal:
        conn = sqlite3.connect(path)
        meta_page = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'meta'").fetchone()[0]
        conn.close()
        data = bytearray(path.read_bytes())
        data[(meta_page - 1) * 4096 : meta_page * 4096] = b"A" * 4096
        path.write_bytes(bytes(data))
        notice = journal._salvage("turned out to be damaged")  # what a failing read or write calls
        assert "3 sessions could be read" in notice
        assert journal.encrypted and journal.get_session(2).turns[0].text == texts[2][0]
    assert listed(home, passphrase="lantern") == {1: 2, 2: 2, 3: 2}
    assert_refused_in_one_line(companion(home, "journal", "list", passphrase="wrong"), "does not open")
