"""Encryption at rest for the journal: AES-256-GCM with a key derived from a passphrase by scrypt.

The key is derived once when the journal opens; every field is sealed with a fresh random nonce and bound to
the row it belongs to (associated data), so a sealed text cannot be swapped into another row unnoticed.
"""

from __future__ import annotations

import os
import struct
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from companion.errors import JournalError

# scrypt cost tuned on the 2-core build machine: n=2**16, r=8 takes about 0.28 s (see `scripts/bench.py kdf`).
DEFAULT_SCRYPT_N = 2**16
DEFAULT_SCRYPT_R = 8
DEFAULT_SCRYPT_P = 1
KEY_BYTES = 32
SALT_BYTES = 16
NONCE_BYTES = 12
# What the verifier seals: opening it proves the passphrase without touching any journal text.
VERIFIER_PLAINTEXT = b"companion journal key check v1"
VERIFIER_CONTEXT = b"verifier"
# Marks a sealed value so it can never be mistaken for plain text (and a format change can be recognised).
SEALED_PREFIX = b"CJ1"
# Marks a whole file sealed by `seal_file` (a journal copy that was moved aside); its header carries the KDF params.
SEALED_FILE_MAGIC = b"CJFILE1\n"
SEALED_FILE_SUFFIX = ".sealed"
_FILE_HEADER = struct.Struct(">QII")  # scrypt n, r, p


class WrongPassphrase(JournalError):
    """The passphrase does not open this journal; nothing was changed."""


@dataclass(frozen=True)
class KdfParams:
    """The scrypt cost and salt stored with the journal, so the same passphrase always gives the same key."""

    salt: bytes
    n: int = DEFAULT_SCRYPT_N
    r: int = DEFAULT_SCRYPT_R
    p: int = DEFAULT_SCRYPT_P

    @classmethod
    def fresh(
        cls, n: int = DEFAULT_SCRYPT_N, r: int = DEFAULT_SCRYPT_R, p: int = DEFAULT_SCRYPT_P
    ) -> KdfParams:
        return cls(salt=os.urandom(SALT_BYTES), n=n, r=r, p=p)


def passphrase_bytes(passphrase: str) -> bytes:
    """The passphrase as UTF-8 bytes; bytes that are not text (a non-UTF-8 environment variable) are refused."""
    try:
        return passphrase.encode("utf-8")
    except UnicodeEncodeError:
        raise JournalError(
            "The passphrase is not valid text: it holds bytes that are not UTF-8 (check COMPANION_PASSPHRASE).",
            kept="Nothing was read or changed.",
            fix="set COMPANION_PASSPHRASE to the passphrase as UTF-8 text, or type it when asked",
        ) from None


def normalise_passphrase(passphrase: str) -> str:
    """NFC, so "café" typed composed or decomposed (macOS, some keyboards) gives the same key."""
    passphrase_bytes(passphrase)  # refuse undecodable bytes before normalising them
    return unicodedata.normalize("NFC", passphrase)


def legacy_passphrase_forms(passphrase: str) -> list[str]:
    """Forms a journal encrypted before passphrases were normalised may have used: as typed, then NFD."""
    normalised = normalise_passphrase(passphrase)
    forms = [passphrase, unicodedata.normalize("NFD", passphrase)]
    return [form for index, form in enumerate(forms) if form != normalised and form not in forms[:index]]


def _scrypt(secret: bytes, params: KdfParams) -> bytes:
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    kdf = Scrypt(salt=params.salt, length=KEY_BYTES, n=params.n, r=params.r, p=params.p)
    return kdf.derive(secret)


def derive_key(passphrase: str, params: KdfParams) -> bytes:
    """The slow step (a few tenths of a second by design): call it once per open, never per turn."""
    if not passphrase:
        raise JournalError(
            "The passphrase is empty.",
            fix="choose a passphrase of at least one character (a sentence you remember is best)",
        )
    return _scrypt(passphrase_bytes(normalise_passphrase(passphrase)), params)


class FieldCipher:
    """Seals and opens journal fields with one derived key."""

    def __init__(self, key: bytes) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        if len(key) != KEY_BYTES:
            raise ValueError("AES-256-GCM needs a 32-byte key")
        self._aead = AESGCM(key)

    @classmethod
    def from_passphrase(cls, passphrase: str, params: KdfParams) -> FieldCipher:
        return cls(derive_key(passphrase, params))

    def seal(self, plaintext: str, context: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return SEALED_PREFIX + nonce + self._aead.encrypt(nonce, plaintext.encode("utf-8"), context)

    def open(self, sealed: bytes, context: bytes) -> str:
        from cryptography.exceptions import InvalidTag

        if not isinstance(sealed, bytes | bytearray | memoryview) or bytes(sealed[:3]) != SEALED_PREFIX:
            raise JournalError(
                "A journal entry is not in the encrypted format this journal expects.",
                kept="The journal file was not changed.",
                fix="export what still opens with `companion journal export`, then report the problem",
            )
        sealed = bytes(sealed)
        nonce = sealed[3 : 3 + NONCE_BYTES]
        try:
            return self._aead.decrypt(nonce, sealed[3 + NONCE_BYTES :], context).decode("utf-8")
        except InvalidTag:
            raise JournalError(
                "A journal entry failed its integrity check: it was changed outside companion or damaged.",
                kept="The journal file was not changed.",
                fix="export what still opens with `companion journal export`",
            ) from None

    def seal_bytes(self, data: bytes, context: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, data, context)

    def open_bytes(self, sealed: bytes, context: bytes) -> bytes:
        """Raises cryptography's InvalidTag when the key or the context is not the one that sealed it."""
        return self._aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], context)

    def make_verifier(self) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, VERIFIER_PLAINTEXT, VERIFIER_CONTEXT)

    def matches_verifier(self, verifier: bytes) -> bool:
        from cryptography.exceptions import InvalidTag

        verifier = bytes(verifier)
        try:
            opened = self._aead.decrypt(verifier[:NONCE_BYTES], verifier[NONCE_BYTES:], VERIFIER_CONTEXT)
        except InvalidTag:
            return False
        return opened == VERIFIER_PLAINTEXT


def unlock(passphrase: str, params: KdfParams, verifier: bytes) -> FieldCipher:
    """Derive the key and prove it against the stored verifier; a wrong passphrase raises WrongPassphrase."""
    return unlock_with_migration(passphrase, params, verifier)[0]


def unlock_with_migration(passphrase: str, params: KdfParams, verifier: bytes) -> tuple[FieldCipher, bool]:
    """Like `unlock`; the flag is True when only a legacy (not NFC) form opened it, so the journal should re-key.

    The NFC form is tried first (one key derivation on the usual path); the slower fallbacks run only when it fails.
    """
    cipher = FieldCipher.from_passphrase(passphrase, params)
    if cipher.matches_verifier(verifier):
        return cipher, False
    for form in legacy_passphrase_forms(passphrase):
        legacy = FieldCipher(_scrypt(passphrase_bytes(form), params))
        if legacy.matches_verifier(verifier):
            return legacy, True
    raise WrongPassphrase(
        "That passphrase does not open this journal.",
        kept="Nothing was read or changed.",
        fix="try again, or set COMPANION_PASSPHRASE to the passphrase you chose with `companion journal encrypt`",
    )


# ---- whole files (journal copies moved aside) ------------------------------------------------------------


def _file_context(header: bytes) -> bytes:
    return b"file:" + header


def seal_file(
    source: Path,
    target: Path,
    cipher: FieldCipher,
    params: KdfParams,
    *,
    data: bytes | None = None,
    name: str | None = None,
) -> None:
    """Write `source`'s bytes (or `data`) to `target` (new, 0600) sealed with `cipher`; the header keeps the KDF
    params and the original name, so the passphrase that sealed it opens it again (`open_sealed_file`)."""
    raw_name = (name if name is not None else source.name).encode("utf-8", errors="surrogateescape")
    header = (
        SEALED_FILE_MAGIC
        + _FILE_HEADER.pack(params.n, params.r, params.p)
        + bytes([len(params.salt)])
        + params.salt
        + struct.pack(">H", len(raw_name))
        + raw_name
    )
    sealed = cipher.seal_bytes(source.read_bytes() if data is None else data, _file_context(header))
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(header + sealed)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        target.unlink(missing_ok=True)
        raise


def read_sealed_header(path: Path) -> tuple[KdfParams, str, bytes, bytes]:
    """(KDF params, original name, header, sealed body) of a file written by `seal_file`."""
    data = path.read_bytes()
    try:
        if not data.startswith(SEALED_FILE_MAGIC):
            raise ValueError("no magic")
        offset = len(SEALED_FILE_MAGIC)
        n, r, p = _FILE_HEADER.unpack_from(data, offset)
        offset += _FILE_HEADER.size
        salt_length = data[offset]
        salt = data[offset + 1 : offset + 1 + salt_length]
        offset += 1 + salt_length
        (name_length,) = struct.unpack_from(">H", data, offset)
        name = data[offset + 2 : offset + 2 + name_length].decode("utf-8", errors="surrogateescape")
        offset += 2 + name_length
    except (ValueError, IndexError, struct.error):
        raise JournalError(
            f"{path.name} is not a file companion sealed, or it is damaged.",
            kept="It was not changed.",
            fix="choose a journal copy ending in .sealed",
        ) from None
    return KdfParams(salt=salt, n=n, r=r, p=p), name, data[:offset], data[offset:]


def open_sealed_file_with(path: Path, cipher: FieldCipher, params: KdfParams) -> tuple[str, bytes] | None:
    """The original name and bytes when `cipher` (with these KDF params) sealed the file, else None."""
    from cryptography.exceptions import InvalidTag

    sealed_params, name, header, body = read_sealed_header(path)
    if sealed_params != params:
        return None
    try:
        return name, cipher.open_bytes(body, _file_context(header))
    except InvalidTag:
        return None


def open_sealed_file(path: Path, passphrase: str) -> tuple[str, bytes]:
    """The original name and bytes of a sealed file; a wrong passphrase raises WrongPassphrase."""
    params = read_sealed_header(path)[0]
    opened = open_sealed_file_with(path, FieldCipher.from_passphrase(passphrase, params), params)
    if opened is None:
        raise WrongPassphrase(
            f"That passphrase does not open {path.name} (or the file was changed).",
            kept="Nothing was read or changed.",
            fix="use the passphrase the journal had when this copy was sealed",
        )
    return opened
