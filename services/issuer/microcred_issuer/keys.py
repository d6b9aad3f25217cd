"""Institutions' signing keys: Ed25519, several per institution, private halves kept in custody.

Keys and rotation
    Each key is its own document in the ``keys`` collection: ``_id`` ``<institution>#key-<n>``,
    ``institution_id``, ``key_id`` (``key-<n>``, the fragment of its verification method in the
    institution's DID document), ``serial`` (``n``), ``public_multibase``, ``sealed_private_key``,
    ``custody`` (the name of the custody that sealed it), ``created_at``, ``retired_at`` and
    ``status``: ``active`` (signs new credentials), ``retired`` (signs nothing more, but stays in
    the DID document and the JWKS so that what it signed still verifies) or ``revoked`` (listed
    nowhere: what it signed no longer verifies).

    An institution's first key is made when it is registered at the issuer (onboarding,
    ``first_key``); ``active_key`` makes none. Exactly one key of an institution is active.
    Every new key is guarded by a unique ``_id``: the first key is ``#key-1`` (concurrent
    registrations insert the same ``_id``, one wins and the others read its key), and a
    rotation after ``key-<n>`` (the last key, whatever its status) inserts ``key-<n+1>``
    (concurrent rotations after the same key insert the same ``_id``: one new key, which each
    of them returns) before retiring the older active key with an update
    whose filter says ``active``. A crash in between leaves two active keys for a moment; the
    next read retires the older. Rotations that do not overlap (one reads the keys after the
    other made its key) are two rotations, and make two keys.

    Documents of the first shape (one key per institution, ``_id`` = the institution's id,
    ``key_id`` ``key-1``) are migrated at startup (``KeyStore.prepare``) and, should one be met
    later (an old process still running), on read: the same key becomes ``<id>#key-1``, so its
    verification method, and every credential it signed, keep their id.

Custody (``KeyCustody``)
    Where private keys live is a port. A custody has a ``name`` (recorded on each key it
    sealed, so that a deployment moving to another custody can tell which keys still need the
    old one) and two operations:

    - ``seal(private_key, key_ref) -> bytes``: what to store for a new key (opaque to the store);
    - ``open(sealed, key_ref) -> Ed25519PrivateKey``: the key back, for signing.

    ``key_ref`` is the key document's ``_id``; a custody must bind the sealed bytes to it (as
    additional authenticated data, or a KMS encryption context) so that a sealed key copied to
    another document does not open. The default, ``CipherCustody``, seals the raw private key
    with AES-256-GCM under the master key given by configuration
    (``microcred_shared.crypto.MasterKeyCipher``). A KMS fits the same interface by envelope
    encryption (``seal`` = KMS Encrypt with ``key_ref`` as encryption context, ``open`` =
    Decrypt); an HSM that never releases private keys would need a signing interface instead,
    which the proof code (it signs with ``cryptography``'s and ``joserfc``'s key objects) does
    not offer yet. ``KeyStore`` also accepts a bare ``KeyCipher`` and wraps it in
    ``CipherCustody``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal, Protocol, runtime_checkable

import base58
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)
from pymongo import ASCENDING, DESCENDING
from pymongo.errors import DuplicateKeyError

from microcred_shared.crypto import KeyCipher
from microcred_shared.logging import get_logger
from microcred_shared.mongo import Document

log = get_logger(__name__)

#: Multicodec prefix of an Ed25519 public key, as Multikey's publicKeyMultibase carries it.
ED25519_MULTICODEC = b"\xed\x01"

KeyStatus = Literal["active", "retired", "revoked"]
ACTIVE: Final = "active"
RETIRED: Final = "retired"
REVOKED: Final = "revoked"

#: Rounds of reading the active key and rotating from it, when others rotate meanwhile.
ROTATION_ROUNDS = 5


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


@dataclass(frozen=True)
class KeyInfo:
    """What anyone may know of a key: its id, status and times (never its private half)."""

    institution_id: str
    key_id: str
    public_multibase: str
    status: KeyStatus
    created_at: datetime
    retired_at: datetime | None


@runtime_checkable
class KeyCustody(Protocol):
    """Port: keeps institutions' private keys (see the module's docstring)."""

    name: str

    def seal(self, private_key: Ed25519PrivateKey, key_ref: str) -> bytes: ...
    def open(self, sealed: bytes, key_ref: str) -> Ed25519PrivateKey: ...


class CipherCustody:
    """The default custody: the raw key sealed by a ``KeyCipher`` (the master key's AES-GCM)."""

    name = "master-key"

    def __init__(self, cipher: KeyCipher) -> None:
        self._cipher = cipher

    def seal(self, private_key: Ed25519PrivateKey, key_ref: str) -> bytes:
        raw = private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        return self._cipher.seal(raw, key_ref.encode())

    def open(self, sealed: bytes, key_ref: str) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.from_private_bytes(self._cipher.open(sealed, key_ref.encode()))


class NoKeyError(LookupError):
    """The institution has no active key: it was never registered (onboarded) here."""


def key_document_id(institution_id: str, serial: int) -> str:
    return f"{institution_id}#key-{serial}"


class KeyStore:
    """Institutions' keys: the newest active one signs; every unrevoked one verifies."""

    def __init__(self, collection: Any, custody: KeyCustody | KeyCipher) -> None:
        self._keys = collection
        self._custody: KeyCustody = (
            custody if isinstance(custody, KeyCustody) else CipherCustody(custody)
        )

    # --- startup -------------------------------------------------------------------------------

    async def prepare(self) -> None:
        """Index the keys by institution and migrate every key of the first shape."""
        await self._keys.create_index([("institution_id", ASCENDING), ("serial", DESCENDING)])
        async for legacy in self._keys.find({"institution_id": {"$exists": False}}):
            await self._migrate(legacy)

    # --- signing -------------------------------------------------------------------------------

    async def active_key(self, institution_id: str) -> SigningKey:
        """The institution's newest active key; ``NoKeyError`` if it has none.

        It makes none: keys are made by ``first_key`` (an institution's registration; the
        issuer checks that an award's institution is registered before asking) and ``rotate``.
        """
        document = await self._active_document(institution_id)
        if document is None:
            raise NoKeyError(f"institution {institution_id} has no active signing key")
        return self._signing_key(document)

    async def first_key(self, institution_id: str) -> SigningKey:
        """The institution's active key, made if it has none (concurrent callers agree).

        For registering an institution (onboarding), and for signing a registered institution's
        award should all its keys have been revoked: one key however many call.
        """
        document = await self._active_document(institution_id)
        if document is None:
            document = await self._next_key(institution_id, first_use=True)
        return self._signing_key(document)

    async def rotate(self, institution_id: str) -> SigningKey:
        """A new active key; the one it replaces is retired (kept for verifying).

        Concurrent rotations from the same active key make one new key, which each returns.
        An institution without keys gets its first.
        """
        await self._active_document(institution_id)  # migrates a key of the first shape
        return self._signing_key(await self._next_key(institution_id, first_use=False))

    async def _next_key(self, institution_id: str, *, first_use: bool) -> Document:
        """Make ``key-<n+1>`` after the institution's last key (any status) and retire the rest.

        The new key's ``_id`` is the guard: whoever inserts it first made it; the others, who
        read the same last key, return it (or a newer active key, made meanwhile). For a first
        key (no active key was found), an active key made meanwhile by another is the answer.
        """
        for _ in range(ROTATION_ROUNDS):
            last = await self._last(institution_id)
            if first_use and last is not None and last["status"] == ACTIVE:
                return last
            serial = 1 if last is None else int(last["serial"]) + 1
            document = self._new_document(institution_id, serial)
            try:
                await self._keys.insert_one(document)
            except DuplicateKeyError:
                newest = await self._active_document(institution_id)
                if newest is not None and int(newest["serial"]) >= serial:
                    return newest
                continue  # that key is no longer active (revoked meanwhile): after it, then
            log.info("key.created", institution_id=institution_id, key_id=document["key_id"])
            await self._retire_older(institution_id, serial)
            return document
        raise RuntimeError(f"the keys of {institution_id} kept changing; try again")

    async def _last(self, institution_id: str) -> Document | None:
        """The institution's key of the highest serial, whatever its status."""
        last: Document | None = await self._keys.find_one(
            {"institution_id": institution_id}, sort=[("serial", DESCENDING)]
        )
        return last

    # --- verifying and publishing --------------------------------------------------------------

    async def public_keys(self, institution_id: str) -> list[SigningKey]:
        """Every unrevoked key of the institution: the active one first, then newest first."""
        return [self._signing_key(d) for d in await self._listed(institution_id)]

    async def key_infos(self, institution_id: str) -> list[KeyInfo]:
        """The public facts of every unrevoked key, in ``public_keys``' order."""
        return [
            KeyInfo(
                institution_id=institution_id,
                key_id=d["key_id"],
                public_multibase=d["public_multibase"],
                status=d["status"],
                created_at=d["created_at"],
                retired_at=d.get("retired_at"),
            )
            for d in await self._listed(institution_id)
        ]

    # --- the documents -------------------------------------------------------------------------

    async def _listed(self, institution_id: str) -> list[Document]:
        documents = await self._find(institution_id, {"$in": [ACTIVE, RETIRED]})
        if not documents and await self._migrate_one(institution_id):
            documents = await self._find(institution_id, {"$in": [ACTIVE, RETIRED]})
        active = [d for d in documents if d["status"] == ACTIVE][:1]
        return active + [d for d in documents if d not in active]

    async def _find(self, institution_id: str, status: Any) -> list[Document]:
        cursor = self._keys.find({"institution_id": institution_id, "status": status})
        documents: list[Document] = await cursor.sort("serial", DESCENDING).to_list(None)
        return documents

    async def _active_document(self, institution_id: str) -> Document | None:
        active = await self._find(institution_id, ACTIVE)
        if not active and await self._migrate_one(institution_id):
            active = await self._find(institution_id, ACTIVE)
        if not active:
            return None
        if len(active) > 1:
            # A rotation that stopped between its two writes: finish it.
            await self._retire_older(institution_id, int(active[0]["serial"]))
        return active[0]

    def _new_document(self, institution_id: str, serial: int) -> Document:
        private_key = Ed25519PrivateKey.generate()
        document_id = key_document_id(institution_id, serial)
        return {
            "_id": document_id,
            "institution_id": institution_id,
            "key_id": f"key-{serial}",
            "serial": serial,
            "status": ACTIVE,
            "public_multibase": multibase_public_key(private_key.public_key()),
            "sealed_private_key": self._custody.seal(private_key, document_id),
            "custody": self._custody.name,
            "created_at": datetime.now(UTC),
            "retired_at": None,
        }

    async def _retire_older(self, institution_id: str, serial: int) -> None:
        await self._keys.update_many(
            {"institution_id": institution_id, "status": ACTIVE, "serial": {"$lt": serial}},
            {"$set": {"status": RETIRED, "retired_at": datetime.now(UTC)}},
        )

    async def _migrate_one(self, institution_id: str) -> bool:
        """Migrate the institution's key of the first shape, if it has one."""
        legacy: Document | None = await self._keys.find_one(
            {"_id": institution_id, "institution_id": {"$exists": False}}
        )
        if legacy is None:
            return False
        await self._migrate(legacy)
        return True

    async def _migrate(self, legacy: Document) -> None:
        """``{_id: <institution>, key_id: key-1}`` becomes ``<institution>#key-1``, same key.

        Sealed again, bound to its new ``_id``. Idempotent: concurrent migrations insert the
        same ``_id`` (with the same key), and the old document goes once the new one stands.
        """
        institution_id = str(legacy["_id"])
        # The first shape's key was sealed by the master-key cipher, bound to the institution.
        private_key = self._custody.open(bytes(legacy["sealed_private_key"]), institution_id)
        serial = int(str(legacy.get("key_id", "key-1")).removeprefix("key-"))
        document_id = key_document_id(institution_id, serial)
        document = {
            "_id": document_id,
            "institution_id": institution_id,
            "key_id": f"key-{serial}",
            "serial": serial,
            "status": ACTIVE,
            "public_multibase": multibase_public_key(private_key.public_key()),
            "sealed_private_key": self._custody.seal(private_key, document_id),
            "custody": self._custody.name,
            "created_at": legacy.get("created_at") or datetime.now(UTC),
            "retired_at": None,
        }
        try:
            await self._keys.insert_one(document)
        except DuplicateKeyError:
            existing: Document | None = await self._keys.find_one({"_id": document_id})
            if existing is None or existing["public_multibase"] != document["public_multibase"]:
                raise RuntimeError(
                    f"{document_id} exists with another key than {institution_id}'s first one"
                ) from None
        await self._keys.delete_one({"_id": institution_id, "institution_id": {"$exists": False}})
        log.info("key.migrated", institution_id=institution_id, key_id=document["key_id"])

    def _signing_key(self, document: Document) -> SigningKey:
        private_key = self._custody.open(bytes(document["sealed_private_key"]), document["_id"])
        return SigningKey(document["institution_id"], document["key_id"], private_key)
