"""Institutions' signing keys: Ed25519, private halves encrypted at rest under the master key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import base58
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)
from pymongo.errors import DuplicateKeyError

from microcred_shared.crypto import KeyCipher
from microcred_shared.mongo import Document

#: Multicodec prefix of an Ed25519 public key, as Multikey's publicKeyMultibase carries it.
ED25519_MULTICODEC = b"\xed\x01"


def multibase_public_key(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return "z" + base58.b58encode(ED25519_MULTICODEC + raw).decode()


def public_key_from_multibase(value: str) -> Ed25519PublicKey:
    if not value.startswith("z"):
        raise ValueError("not base58btc multibase")
    decoded = base58.b58decode(value[1:])
    if not decoded.startswith(ED25519_MULTICODEC) or len(decoded) != 34:  # noqa: PLR2004
        raise ValueError("not an Ed25519 Multikey")
    return Ed25519PublicKey.from_public_bytes(decoded[2:])


@dataclass(frozen=True)
class SigningKey:
    institution_id: str
    key_id: str
    private_key: Ed25519PrivateKey

    @property
    def public_multibase(self) -> str:
        return multibase_public_key(self.private_key.public_key())


class KeyStore:
    """One active key per institution, created on first use; concurrent creators agree."""

    def __init__(self, collection: Any, cipher: KeyCipher) -> None:
        self._keys = collection
        self._cipher = cipher

    async def active_key(self, institution_id: str) -> SigningKey:
        document = await self._keys.find_one({"_id": institution_id})
        if document is None:
            document = await self._create(institution_id)
        return self._signing_key(document)

    async def public_keys(self, institution_id: str) -> list[SigningKey]:
        document = await self._keys.find_one({"_id": institution_id})
        return [] if document is None else [self._signing_key(document)]

    async def _create(self, institution_id: str) -> Document:
        private_key = Ed25519PrivateKey.generate()
        raw = private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        document = {
            "_id": institution_id,
            "key_id": "key-1",
            "public_multibase": multibase_public_key(private_key.public_key()),
            "sealed_private_key": self._cipher.seal(raw, institution_id.encode()),
            "created_at": datetime.now(UTC),
        }
        try:
            await self._keys.insert_one(document)
        except DuplicateKeyError:
            # Another consumer created it first: use theirs, so every signature agrees.
            existing: Document = await self._keys.find_one({"_id": institution_id})
            return existing
        return document

    def _signing_key(self, document: Document) -> SigningKey:
        raw = self._cipher.open(bytes(document["sealed_private_key"]), document["_id"].encode())
        return SigningKey(
            document["_id"], document["key_id"], Ed25519PrivateKey.from_private_bytes(raw)
        )
