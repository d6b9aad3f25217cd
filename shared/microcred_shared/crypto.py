"""Secrets at rest: AES-256-GCM under a key given by configuration (a KMS can stand in later)."""

from __future__ import annotations

import os
from typing import Protocol

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12


class KeyCipher(Protocol):
    """Port: seals secrets at rest, bound to a context (the record they belong to)."""

    def seal(self, plaintext: bytes, context: bytes) -> bytes: ...
    def open(self, sealed: bytes, context: bytes) -> bytes: ...


class MasterKeyCipher:
    """AES-256-GCM with a random nonce per secret; ``context`` is authenticated, not stored."""

    def __init__(self, master_key: bytes) -> None:
        self._aead = AESGCM(master_key)

    def seal(self, plaintext: bytes, context: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext, context)

    def open(self, sealed: bytes, context: bytes) -> bytes:
        return self._aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], context)
