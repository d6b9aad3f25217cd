"""W3C Bitstring Status Lists: per institution, one list for revocation and one for suspension.

Each list is published as a ``BitstringStatusListCredential`` (VC 2.0) signed by its institution
with the same ``eddsa-rdfc-2022`` Data Integrity proof as its credentials, at a stable URL:
``<public_url>/institutions/<id>/status/<purpose>`` for an institution's first list, and
``.../status/<purpose>/<n>`` for the ones opened after it (see below). Its ``encodedList`` is the
multibase base64url (``u``, no padding) of the GZIP-compressed bitstring; bit 0 is the left-most
bit of the first byte. Every list has 131,072 bits (16 KiB), the spec's minimum for herd privacy.

A list takes credentials until half its indices are allocated (65,536); the institution's next
list (number 1, 2, ...) then takes the new ones. Random draws stay cheap (at most one clash in
two), and every list keeps a crowd of at least 65,536 to hide in.

Storage (issuer's own collections):

- ``status_lists``, one document per list (``_id`` ``<institution>/<purpose>/<n>``): the indices
  whose bit is set (``set_bits``), a ``version`` that counts the changes, how many indices were
  allocated (``allocated``), the last signed list credential (``signed``, with the version it
  shows and its ETag) and, in list 0's, the number of the list open for allocation
  (``open_list``). A bit is set or cleared with one guarded ``update_one`` (the filter says
  whether the bit is already so), so a redelivery changes nothing and bumps no version.
- ``status_entries``, one document per allocated index (``_id`` ``<list>#<index>``, unique by
  construction) with the award it belongs to (unique per institution and purpose): allocation
  inserts a random index and retries on a clash; a second allocation for the same award finds
  the first, whichever list is open by then.

Signing is lazy, on read: a change only bumps ``version``; the first read that sees a newer
version than the signed one signs the list again and keeps it (``signed``). A list read right
after a change therefore shows it, a burst of revocations (an institution withdrawing a cohort)
costs one signature instead of one per bit, and lists nobody reads are never signed. Readers of
the same version race harmlessly: the stored copy is only replaced if it is older.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gzip
import hashlib
import json
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal, get_args

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from microcred_issuer.credential import VC_V2_CONTEXT, verification_method_id
from microcred_issuer.dataintegrity import ProofOptions, xsd_datetime
from microcred_issuer.dataintegrity import sign as sign_data_integrity
from microcred_issuer.keys import KeyStore
from microcred_shared.mongo import Document

Purpose = Literal["revocation", "suspension"]
PURPOSES: Final[tuple[Purpose, ...]] = get_args(Purpose)

#: Bits per list: 16 KiB, the minimum the spec sets for herd privacy.
LIST_BITS: Final = 131_072
#: Allocated indices after which a list takes no more credentials and the next one opens.
ROLLOVER_AT: Final = LIST_BITS // 2
#: Random draws before allocation gives up on a list: below half full, 64 draws all clash with
#: a chance under 0.5**64.
ALLOCATION_ATTEMPTS: Final = 64
ENTRY_TYPE: Final = "BitstringStatusListEntry"
LIST_CREDENTIAL_TYPE: Final = "BitstringStatusListCredential"
LIST_TYPE: Final = "BitstringStatusList"


class StatusListFullError(RuntimeError):
    """No free index was found in an institution's list (a retry may find one)."""


# --- the bitstring ------------------------------------------------------------------------------


def bitstring(indices: Iterable[int], length: int = LIST_BITS) -> bytes:
    """The bitstring with the bits at ``indices`` set (bit 0: the first byte's highest bit)."""
    bits = bytearray(length // 8)
    for index in indices:
        if not 0 <= index < length:
            raise ValueError(f"status list index {index} is outside 0..{length - 1}")
        bits[index // 8] |= 0x80 >> (index % 8)
    return bytes(bits)


def encode_list(bits: bytes) -> str:
    """``encodedList``: multibase base64url (``u``, unpadded) of the GZIP-compressed bits."""
    # mtime=0: the same bits always encode the same way (stable ETags, reproducible lists).
    compressed = gzip.compress(bits, mtime=0)
    return "u" + base64.urlsafe_b64encode(compressed).decode().rstrip("=")


def decode_list(encoded: str) -> bytes:
    """The bits of an ``encodedList``; ``ValueError`` if it is not multibase base64url GZIP."""
    if not encoded.startswith("u"):
        raise ValueError("encodedList is not multibase base64url ('u…')")
    body = encoded[1:]
    try:
        return gzip.decompress(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (ValueError, OSError, EOFError) as exc:
        raise ValueError(f"encodedList does not decode: {exc}") from exc


def bit_is_set(bits: bytes, index: int) -> bool:
    if not 0 <= index < len(bits) * 8:
        raise ValueError(f"status list index {index} is outside the list")
    return bool(bits[index // 8] & (0x80 >> (index % 8)))


# --- the lists ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignedList:
    credential: dict[str, Any]
    etag: str
    version: int


@dataclass(frozen=True)
class StatusEntry:
    """Where one credential's status is, for one purpose: the list's number and the index."""

    list_number: int
    index: int


@dataclass
class StatusLists:
    database: AsyncDatabase[Document]
    keys: KeyStore
    public_url: str
    did_of: Callable[[str], str]
    rollover_at: int = ROLLOVER_AT
    #: Lists known to exist (none is ever removed): no upsert per credential to make sure.
    _known_lists: set[str] = field(default_factory=set, init=False, repr=False)

    @property
    def lists(self) -> Any:
        return self.database["status_lists"]

    @property
    def entries(self) -> Any:
        return self.database["status_entries"]

    async def ensure_indexes(self) -> None:
        await self.entries.create_index(
            [("institution_id", 1), ("purpose", 1), ("award_id", 1)], unique=True
        )

    def url(self, institution_id: str, purpose: Purpose, list_number: int = 0) -> str:
        base = f"{self.public_url.rstrip('/')}/institutions/{institution_id}/status/{purpose}"
        return base if list_number == 0 else f"{base}/{list_number}"

    def list_of(self, url: str) -> tuple[str, Purpose, int] | None:
        """The institution, purpose and number of one of this issuer's list URLs; else None."""
        prefix = f"{self.public_url.rstrip('/')}/institutions/"
        if not url.startswith(prefix):
            return None
        institution_id, _, rest = url[len(prefix) :].partition("/status/")
        purpose, _, number = rest.partition("/")
        if not institution_id or "/" in institution_id or purpose not in PURPOSES:
            return None
        if not number:
            return institution_id, purpose, 0
        if not number.isdigit() or number.startswith("0"):
            return None
        return institution_id, purpose, int(number)

    @staticmethod
    def _list_id(institution_id: str, purpose: Purpose, list_number: int) -> str:
        return f"{institution_id}/{purpose}/{list_number}"

    # --- allocating ---------------------------------------------------------------------------

    async def allocate(self, institution_id: str, award_id: str) -> dict[Purpose, StatusEntry]:
        """The award's entry in each of the institution's lists: a random index, drawn once.

        Random rather than sequential: neighbouring indices would tell which credentials were
        issued together. Calling again for the same award (a redelivery, or a race with one)
        returns the same entries. The lists of the two purposes are allocated side by side.
        """
        allocated = await asyncio.gather(
            *(self._allocate(institution_id, p, award_id) for p in PURPOSES)
        )
        return dict(zip(PURPOSES, allocated, strict=True))

    async def _allocate(self, institution_id: str, purpose: Purpose, award_id: str) -> StatusEntry:
        # Three round trips in the usual case: the open list (made if need be), the entry, the
        # count. A redelivered award is found by the entry's unique award index, not looked up
        # first: the common case is a new award.
        number = await self._open_list(institution_id, purpose)
        list_id = self._list_id(institution_id, purpose, number)
        await self._ensure_list(institution_id, purpose, number)
        for _ in range(ALLOCATION_ATTEMPTS):
            index = secrets.randbelow(LIST_BITS)
            try:
                await self.entries.insert_one(
                    {
                        "_id": f"{list_id}#{index}",
                        "institution_id": institution_id,
                        "purpose": purpose,
                        "list_number": number,
                        "index": index,
                        "award_id": award_id,
                    }
                )
            except DuplicateKeyError:
                # The award has its entry already (a redelivery, or a race with one), or the
                # index is taken.
                existing = await self._allocated(institution_id, purpose, award_id)
                if existing is not None:
                    return existing
                continue
            await self._count(institution_id, purpose, number)
            return StatusEntry(number, index)
        # Denser than it should be (the count lags after a crash): open the next list, and let
        # the retry of the event allocate there.
        await self._open_next(institution_id, purpose, number)
        raise StatusListFullError(f"no free index found in status list {list_id}")

    async def _open_list(self, institution_id: str, purpose: Purpose) -> int:
        """The number of the list new entries go to, kept by list 0 (made here if need be)."""
        list_id = self._list_id(institution_id, purpose, 0)
        for _ in range(ALLOCATION_ATTEMPTS):
            try:
                head: Document | None = await self.lists.find_one_and_update(
                    {"_id": list_id},
                    {"$setOnInsert": self._new_list(institution_id, purpose, 0)},
                    projection={"open_list": 1},
                    upsert=True,
                    return_document=ReturnDocument.AFTER,
                )
            except DuplicateKeyError:  # a concurrent upsert made it first: read it again
                continue
            if head is not None:
                self._known_lists.add(list_id)
                return int(head.get("open_list", 0))
        raise StatusListFullError(f"status list {list_id} could not be made or read")

    async def _allocated(
        self, institution_id: str, purpose: Purpose, award_id: str
    ) -> StatusEntry | None:
        entry: Document | None = await self.entries.find_one(
            {"institution_id": institution_id, "purpose": purpose, "award_id": award_id},
            {"list_number": 1, "index": 1},
        )
        return None if entry is None else StatusEntry(entry["list_number"], entry["index"])

    async def _count(self, institution_id: str, purpose: Purpose, number: int) -> None:
        """Count one more index allocated in list ``number``; open the next list when it is due.

        A crash between the entry and its count leaves the count one short: the list takes one
        more credential than planned, which only matters to nobody.
        """
        counted: Document = await self.lists.find_one_and_update(
            {"_id": self._list_id(institution_id, purpose, number)},
            {"$inc": {"allocated": 1}},
            projection={"allocated": 1},
            return_document=ReturnDocument.AFTER,
        )
        if int(counted.get("allocated", 0)) >= self.rollover_at:
            await self._open_next(institution_id, purpose, number)

    async def _open_next(self, institution_id: str, purpose: Purpose, number: int) -> None:
        # Guarded: of the allocations that find list ``number`` due, one moves the head.
        await self.lists.update_one(
            {"_id": self._list_id(institution_id, purpose, 0), "open_list": number},
            {"$set": {"open_list": number + 1}},
        )

    @staticmethod
    def _new_list(institution_id: str, purpose: Purpose, number: int) -> Document:
        return {
            "institution_id": institution_id,
            "purpose": purpose,
            "list_number": number,
            "set_bits": [],
            "version": 0,
            "allocated": 0,
            **({"open_list": 0} if number == 0 else {}),
        }

    async def _ensure_list(self, institution_id: str, purpose: Purpose, number: int) -> None:
        """Make the list if it does not exist; a list once made is never removed, so remember."""
        list_id = self._list_id(institution_id, purpose, number)
        if list_id in self._known_lists:
            return
        # A concurrent upsert may create it first: either way it exists.
        with contextlib.suppress(DuplicateKeyError):
            await self.lists.update_one(
                {"_id": list_id},
                {"$setOnInsert": self._new_list(institution_id, purpose, number)},
                upsert=True,
            )
        self._known_lists.add(list_id)

    def entries_for(
        self, institution_id: str, entries: Mapping[Purpose, StatusEntry]
    ) -> list[dict[str, Any]]:
        """The credential's ``credentialStatus``: one ``BitstringStatusListEntry`` per list."""
        status = []
        for purpose in PURPOSES:
            entry = entries[purpose]
            url = self.url(institution_id, purpose, entry.list_number)
            status.append(
                {
                    "id": f"{url}#{entry.index}",
                    "type": ENTRY_TYPE,
                    "statusPurpose": purpose,
                    "statusListIndex": str(entry.index),
                    "statusListCredential": url,
                }
            )
        return status

    # --- bits ---------------------------------------------------------------------------------

    async def set_bit(self, institution_id: str, purpose: Purpose, entry: StatusEntry) -> bool:
        """Set the bit; True if it changed (False: it was set already)."""
        bitstring([entry.index])  # refuse an index outside the list
        await self._ensure_list(institution_id, purpose, entry.list_number)
        result = await self.lists.update_one(
            {
                "_id": self._list_id(institution_id, purpose, entry.list_number),
                "set_bits": {"$ne": entry.index},
            },
            {"$push": {"set_bits": entry.index}, "$inc": {"version": 1}},
        )
        return bool(result.modified_count)

    async def clear_bit(self, institution_id: str, purpose: Purpose, entry: StatusEntry) -> bool:
        """Clear the bit; True if it changed (False: it was clear already)."""
        result = await self.lists.update_one(
            {
                "_id": self._list_id(institution_id, purpose, entry.list_number),
                "set_bits": entry.index,
            },
            {"$pull": {"set_bits": entry.index}, "$inc": {"version": 1}},
        )
        return bool(result.modified_count)

    async def is_set(self, institution_id: str, purpose: Purpose, entry: StatusEntry) -> bool:
        found = await self.lists.find_one(
            {
                "_id": self._list_id(institution_id, purpose, entry.list_number),
                "set_bits": entry.index,
            },
            {"_id": 1},
        )
        return found is not None

    # --- the published list -------------------------------------------------------------------

    async def signed(
        self, institution_id: str, purpose: Purpose, list_number: int = 0
    ) -> SignedList | None:
        """The list's current credential, signed again first if a bit changed since.

        None for an institution without keys (no issuer) and for a list not opened yet. An
        institution's first list is published (all zeros) before any credential uses it.
        """
        if not await self.keys.public_keys(institution_id):
            return None
        list_id = self._list_id(institution_id, purpose, list_number)
        stored: Document | None = await self.lists.find_one({"_id": list_id})
        if stored is None:
            if list_number != 0:
                return None
            # Stored (empty) so that its signature is kept too: reads never sign twice.
            await self._ensure_list(institution_id, purpose, 0)
            stored = await self.lists.find_one({"_id": list_id})
            assert stored is not None  # noqa: S101 - just upserted
        version = int(stored.get("version", 0))
        kept = stored.get("signed")
        if kept is not None and kept.get("version") == version:
            return SignedList(kept["credential"], kept["etag"], version)
        url = self.url(institution_id, purpose, list_number)
        credential = await self._sign(institution_id, purpose, url, stored.get("set_bits", []))
        digest = hashlib.sha256(json.dumps(credential, sort_keys=True).encode()).hexdigest()
        etag = f'"{version}-{digest[:16]}"'
        # Kept only if no newer version was signed meanwhile (the filter guards it).
        await self.lists.update_one(
            {
                "_id": list_id,
                "version": version,
                "$or": [{"signed": None}, {"signed.version": {"$lt": version}}],
            },
            {"$set": {"signed": {"version": version, "credential": credential, "etag": etag}}},
        )
        return SignedList(credential, etag, version)

    async def _sign(
        self, institution_id: str, purpose: Purpose, url: str, set_bits: Iterable[int]
    ) -> dict[str, Any]:
        did = self.did_of(institution_id)
        key = await self.keys.active_key(institution_id)
        now = datetime.now(UTC).replace(microsecond=0)
        unsigned = {
            "@context": [VC_V2_CONTEXT],
            "id": url,
            "type": ["VerifiableCredential", LIST_CREDENTIAL_TYPE],
            "issuer": did,
            "validFrom": xsd_datetime(now),
            "credentialSubject": {
                "id": f"{url}#list",
                "type": LIST_TYPE,
                "statusPurpose": purpose,
                "encodedList": encode_list(bitstring(set_bits)),
            },
        }
        return sign_data_integrity(
            unsigned, key.private_key, ProofOptions(verification_method_id(did, key), now)
        )
