"""Encryption at rest for the journal: AES-256-GCM with a key derived from a passphrase by scrypt.

The key is derived once when the journal opens; every field is sealed with a fresh random nonce and bound to
the row it belongs to (associated data), so a sealed text cannot be swapped into another row unnoticed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

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
    def fresh(cls, n: int = DEFAULT_SCRYPT_N, r: int = DEFAULT_SCRYPT_R, p: int = DEFAULT_SCRYPT_P) -> KdfParams:
        return cls(salt=os.urandom(SALT_BYTES), n=n, r=r, p=p)


def derive_key(passphrase: str, params: KdfParams) -> bytes:
    """The slow step (a few tenths of a second by design): call it once per open, never per turn."""
    if not passphrase:
        raise JournalError(
            "The passphrase is empty.",
            fix="choose a passphrase of at least one character (a sentence you remember is best)",
        )
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    kdf = Scrypt(salt=params.salt, length=KEY_BYTES, n=params.n, r=params.r, p=params.p)
    return kdf.derive(passphrase.encode("utf-8"))


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
    cipher = FieldCipher.from_passphrase(passphrase, params)
    if not cipher.matches_verifier(verifier):
        raise WrongPassphrase(
            "That passphrase does not open this journal.",
            kept="Nothing was read or changed.",
            fix="try again, or set COMPANION_PASSPHRASE to the passphrase you chose with `companion journal encrypt`",
        )
    return cipher
