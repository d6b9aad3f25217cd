"""The institutions the issuer signs for: registered at onboarding, each with its competences.

An institution is registered by the platform administrator when it is onboarded (``PUT
/institutions/{id}`` here, right after intake created it): the issuer records its name, country
and catalogue competence ids in its own ``institutions`` collection, and makes its first signing
key then (``KeyStore.first_key``), so that its DID document and key set stand before any award.
Registering again is idempotent; it updates the name and country and adds the competences given
(a catalogue import adds competences). Competences are never dropped: an award of one already
under way must still be signed.

Awards are checked against the record: an award of an institution not registered, or of a
competence not in its list, is refused (the event goes to the dead-letter topic with the
reason), and nothing is stored.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from pymongo.errors import DuplicateKeyError

from microcred_shared.mongo import Document


class Registry:
    """The ``institutions`` collection: ``_id`` the institution's id, ``competences`` its ids."""

    def __init__(self, collection: Any) -> None:
        self._institutions = collection

    async def register(
        self,
        institution_id: str,
        *,
        name: str,
        country: str,
        competences: Iterable[str],
    ) -> None:
        """Record (or update) the institution; its competences are added to those it had."""
        now = datetime.now(UTC)
        update = {
            "$set": {"name": name, "country": country, "updated_at": now},
            "$addToSet": {"competences": {"$each": sorted(set(competences))}},
            "$setOnInsert": {"registered_at": now},
        }
        try:
            await self._institutions.update_one({"_id": institution_id}, update, upsert=True)
        except DuplicateKeyError:
            # A concurrent registration inserted it first: this one is now a plain update.
            await self._institutions.update_one({"_id": institution_id}, update)

    async def get(self, institution_id: str) -> Document | None:
        document: Document | None = await self._institutions.find_one({"_id": institution_id})
        return document

    async def refusal(self, institution_id: str, competence_id: str | None = None) -> str | None:
        """Why an award of the institution (and competence) cannot be signed, or None."""
        document = await self.get(institution_id)
        if document is None:
            return f"unknown institution {institution_id}: not onboarded at the issuer"
        if competence_id is not None and competence_id not in document.get("competences", []):
            return f"unknown competence {competence_id} of {institution_id}"
        return None
