"""Encryption at rest: AES-256-GCM fields, scrypt key derived once per open, no plaintext in the file."""

from __future__ import annotations

import hashlib
import sqlite3

import pytest

from companion.cli import main
from companion.config import Settings
from companion.errors import JournalError
from companion.store import crypto
from companion.store.crypto import FieldCipher, KdfParams, WrongPassphrase, derive_key
from companion.store.journal import Journal, PassphraseNeeded

# A cheap scrypt cost so tests stay light on a shared machine; the shipped default is exercised separately.
TEST_KDF_N = 2**12

SECRETS = {
    "turn": "Ostrich velvet: I feel like a guest in my own home",
    "reply": "It sounds like you feel you don't belong here, Ostrich velvet",
    "summary": "Tangerine lantern summary of the talk",
    "coach": "Tip about the periwinkle harmonica",
}


@pytest.fixture
def settings(companion_home) -> Settings:
    return Settings.load(companion_home)


def raw_journal_bytes(settings: Settings) -> bytes:
    """Every byte SQLite keeps for the journal: the main file, the WAL and the shared-memory index."""
    return b"".join(
        path.read_bytes()
        for path in sorted(settings.home.iterdir())
        if path.name.startswith("journal.sqlite3")
    )


def write_secrets(journal: Journal) -> int:
    session_id = journal.start_session("rehearse", scenario="belonging")
    journal.add_turn(session_id, "partner", SECRETS["turn"])
    journal.add_turn(
        session_id, "listener", SECRETS["reply"], coach={"label": "reflection", "tip": SECRETS["coach"]}
    )
    journal.end_session(session_id, SECRETS["summary"])
    return session_id


def plaintext_found(raw: bytes) -> list[str]:
    found = []
    for name, secret in SECRETS.items():
        for fragment in (secret, secret.split(":")[0], secret[-20:]):
            if fragment.encode() in raw or fragment.encode("utf-16-le") in raw:
                found.append(name)
                break
    return found


def test_sealed_fields_open_only_with_the_same_key_and_row():
    params = KdfParams.fresh(n=TEST_KDF_N)
    cipher = FieldCipher.from_passphrase("correct horse", params)
    sealed = cipher.seal("we need to talk", b"turn:1:0:text")
    assert b"we need to talk" not in sealed
    assert cipher.open(sealed, b"turn:1:0:text") == "we need to talk"
    assert cipher.seal("we need to talk", b"turn:1:0:text") != sealed  # a fresh nonce every time
    with pytest.raises(JournalError, match="integrity"):
        cipher.open(sealed, b"turn:2:0:text")  # moved to another row
    tampered = bytearray(sealed)
    tampered[-1] ^= 1
    with pytest.raises(JournalError, match="integrity"):
        cipher.open(bytes(tampered), b"turn:1:0:text")
    other = FieldCipher.from_passphrase("wrong horse", params)
    with pytest.raises(JournalError):
        other.open(sealed, b"turn:1:0:text")


def test_key_derivation_depends_on_passphrase_and_salt():
    params = KdfParams.fresh(n=TEST_KDF_N)
    assert derive_key("same words", params) == derive_key("same words", params)
    assert derive_key("same words", params) != derive_key("other words", params)
    assert derive_key("same words", params) != derive_key("same words", KdfParams.fresh(n=TEST_KDF_N))
    assert len(derive_key("same words", params)) == 32
    with pytest.raises(JournalError, match="empty"):
        derive_key("", params)


def test_the_shipped_scrypt_cost_is_the_tuned_one():
    params = KdfParams.fresh()
    assert (params.n, params.r, params.p) == (2**16, 8, 1)
    assert len(params.salt) == 16
    assert len(derive_key("a passphrase", params)) == 32


def test_the_plaintext_is_in_the_file_before_encryption(settings):
    # Proves the search below can find plaintext when it is there.
    with Journal(settings.journal_path) as journal:
        write_secrets(journal)
        assert set(plaintext_found(raw_journal_bytes(settings))) == set(SECRETS)


def test_encrypting_an_existing_journal_leaves_no_plaintext_in_the_file_or_wal(settings):
    journal = Journal(settings.journal_path)
    session_id = write_secrets(journal)
    journal.enable_encryption("a long sentence I will remember", KdfParams.fresh(n=TEST_KDF_N))
    assert plaintext_found(raw_journal_bytes(settings)) == []
    # New turns saved while encrypted never reach the disk in the clear either (WAL not yet checkpointed).
    journal.add_turn(session_id, "listener", "Fresh marzipan words after encryption")
    raw = raw_journal_bytes(settings)
    assert settings.journal_path.with_name("journal.sqlite3-wal").stat().st_size > 0
    assert b"marzipan" not in raw
    assert plaintext_found(raw) == []
    journal.close()
    assert plaintext_found(raw_journal_bytes(settings)) == []

    with Journal(settings.journal_path, "a long sentence I will remember") as reopened:
        session = reopened.get_session(session_id)
        assert [turn.text for turn in session.turns] == [
            SECRETS["turn"],
            SECRETS["reply"],
            "Fresh marzipan words after encryption",
        ]
        assert session.summary == SECRETS["summary"]
        assert session.turns[1].coach["tip"] == SECRETS["coach"]
        assert [info.id for info in reopened.list_sessions("ostrich")] == [session_id]


def test_no_passphrase_and_wrong_passphrase_change_nothing(settings, monkeypatch):
    with Journal(settings.journal_path) as journal:
        write_secrets(journal)
        journal.enable_encryption("right one", KdfParams.fresh(n=TEST_KDF_N))
    digest = hashlib.sha256(settings.journal_path.read_bytes()).hexdigest()

    with pytest.raises(PassphraseNeeded, match="needs its passphrase"):
        Journal(settings.journal_path)
    with pytest.raises(WrongPassphrase, match="does not open this journal") as caught:
        Journal(settings.journal_path, "wrong one")
    assert "Nothing was read or changed" in str(caught.value)
    assert hashlib.sha256(settings.journal_path.read_bytes()).hexdigest() == digest

    # The lock was released by the failed opens, and the environment variable works for scripts.
    monkeypatch.setenv("COMPANION_PASSPHRASE", "right one")
    with Journal(settings.journal_path) as journal:
        assert journal.encrypted
        assert journal.list_sessions()[0].preview == SECRETS["turn"]


def test_changing_the_passphrase_reencrypts_everything_with_a_new_salt(settings):
    with Journal(settings.journal_path) as journal:
        session_id = write_secrets(journal)
        journal.enable_encryption("first", KdfParams.fresh(n=TEST_KDF_N))
        before = journal.get_session(session_id)
    salt_before = _meta(settings, "kdf_salt")
    with Journal(settings.journal_path, "first") as journal:
        journal.change_passphrase("second", KdfParams.fresh(n=TEST_KDF_N))
    assert _meta(settings, "kdf_salt") != salt_before
    with pytest.raises(WrongPassphrase):
        Journal(settings.journal_path, "first")
    with Journal(settings.journal_path, "second") as journal:
        assert journal.get_session(session_id) == before
    assert plaintext_found(raw_journal_bytes(settings)) == []


def test_a_failed_reencryption_rolls_back_and_the_old_passphrase_still_opens(settings):
    with Journal(settings.journal_path) as journal:
        session_id = write_secrets(journal)
        journal.enable_encryption("first", KdfParams.fresh(n=TEST_KDF_N))
        before = journal.get_session(session_id)
    # Damage the summary, which is resealed after every turn: the change must fail and undo the turns too.
    original = _meta_free_query(settings, "SELECT summary FROM sessions WHERE id = ?", (session_id,))
    _meta_free_query(
        settings,
        "UPDATE sessions SET summary = CAST(X'434a31' || randomblob(40) AS BLOB) WHERE id = ?",
        (session_id,),
    )
    with Journal(settings.journal_path, "first") as journal, pytest.raises(JournalError, match="integrity"):
        journal.change_passphrase("second", KdfParams.fresh(n=TEST_KDF_N))
    _meta_free_query(settings, "UPDATE sessions SET summary = ? WHERE id = ?", (original, session_id))
    with Journal(settings.journal_path, "first") as journal:
        assert journal.get_session(session_id) == before
    with pytest.raises(WrongPassphrase):
        Journal(settings.journal_path, "second")


def test_the_key_is_derived_once_per_open_not_per_turn(settings, monkeypatch):
    with Journal(settings.journal_path) as journal:
        journal.enable_encryption("once", KdfParams.fresh(n=TEST_KDF_N))
    calls = []
    real_derive = crypto.derive_key

    def counting_derive(passphrase, params):
        calls.append(1)
        return real_derive(passphrase, params)

    monkeypatch.setattr(crypto, "derive_key", counting_derive)
    with Journal(settings.journal_path, "once") as journal:
        session_id = journal.start_session("reflect")
        for number in range(25):
            journal.add_turn(session_id, "partner", f"turn {number}")
        journal.list_sessions("turn 7")
        journal.export(format="md")
    assert len(calls) == 1


def test_cli_encrypt_and_change_passphrase(settings, monkeypatch, capsys):
    with Journal(settings.journal_path) as journal:
        session_id = write_secrets(journal)
    monkeypatch.setenv("COMPANION_PASSPHRASE", "cli secret")
    assert main(["journal", "encrypt"]) == 0
    assert "encrypted" in capsys.readouterr().out
    assert main(["journal", "encrypt"]) == 2
    assert "already encrypted" in capsys.readouterr().err
    assert plaintext_found(raw_journal_bytes(settings)) == []

    monkeypatch.setenv("COMPANION_NEW_PASSPHRASE", "cli secret two")
    assert main(["journal", "change-passphrase"]) == 0
    monkeypatch.setenv("COMPANION_PASSPHRASE", "cli secret")
    assert main(["journal", "show", str(session_id)]) == 2
    assert "does not open this journal" in capsys.readouterr().err
    monkeypatch.setenv("COMPANION_PASSPHRASE", "cli secret two")
    assert main(["journal", "show", str(session_id)]) == 0
    assert SECRETS["turn"] in capsys.readouterr().out
    monkeypatch.delenv("COMPANION_PASSPHRASE")
    # No terminal to ask in (pytest's stdin): one clear line, not a hang or a traceback.
    assert main(["journal", "list"]) == 2
    assert "COMPANION_PASSPHRASE" in capsys.readouterr().err


def _meta(settings: Settings, key: str):
    conn = sqlite3.connect(settings.journal_path)
    try:
        return conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()[0]
    finally:
        conn.close()


def _meta_free_query(settings: Settings, sql: str, params: tuple):
    conn = sqlite3.connect(settings.journal_path)
    try:
        row = conn.execute(sql, params).fetchone()
        conn.commit()
        return None if row is None else row[0]
    finally:
        conn.close()
