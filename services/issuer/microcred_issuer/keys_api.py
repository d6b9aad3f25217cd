"""Institutions' signing keys over HTTP: list them (public), rotate them (administrators)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from microcred_issuer.credential import did_document, verification_method_id
from microcred_issuer.handlers import Issuer
from microcred_issuer.keys import KeyStatus
from microcred_shared.contracts.envelope import Identifier
from microcred_shared.http import TokenCaller, from_app_state, require_role

IssuerDep = Annotated[Issuer, Depends(from_app_state("issuer"))]

router = APIRouter(tags=["identity"])


class PublicKey(BaseModel):
    """One of the institution's keys, as anyone may see it (its DID document shows it too)."""

    id: str = Field(description="The verification method's id: the DID and the key's fragment.")
    key_id: str = Field(description="The fragment (``key-<n>``).")
    status: KeyStatus = Field(description="``active`` signs new credentials; ``retired`` not.")
    public_key_multibase: str
    created_at: datetime
    retired_at: datetime | None = None


class KeyList(BaseModel):
    institution_id: str
    did: str
    keys: list[PublicKey] = Field(description="The active key first, then newest first.")


class Rotated(BaseModel):
    institution_id: str
    key_id: str = Field(description="The new active key's verification method id.")
    verification_methods: list[dict[str, Any]] = Field(
        description="The DID document's verification methods after the rotation (old included)."
    )


@router.get("/institutions/{institution_id}/keys")
async def list_keys(institution_id: Identifier, issuer: IssuerDep) -> KeyList:
    """The institution's public keys, active and retired, with when each was made and retired.

    Retired keys sign nothing more but stay listed (and in the DID document and JWKS), so that
    credentials they signed keep verifying. An institution without keys has an empty list.
    """
    did = issuer.did(institution_id)
    infos = await issuer.keys.key_infos(institution_id)
    return KeyList(
        institution_id=institution_id,
        did=did,
        keys=[
            PublicKey(
                id=f"{did}#{info.key_id}",
                key_id=info.key_id,
                status=info.status,
                public_key_multibase=info.public_multibase,
                created_at=info.created_at,
                retired_at=info.retired_at,
            )
            for info in infos
        ],
    )


@router.post("/institutions/{institution_id}/keys/rotate")
async def rotate_key(institution_id: Identifier, issuer: IssuerDep, caller: TokenCaller) -> Rotated:
    """Make a new active signing key (institution admins and platform admins).

    The previous key is retired: it signs nothing more, and stays in the DID document so that
    what it signed still verifies. Concurrent rotations make one new key.
    """
    require_role(caller, institution_id, "institution_admin")
    key = await issuer.keys.rotate(institution_id)
    did = issuer.did(institution_id)
    document = did_document(did, await issuer.keys.public_keys(institution_id))
    return Rotated(
        institution_id=institution_id,
        key_id=verification_method_id(did, key),
        verification_methods=document["verificationMethod"],
    )
