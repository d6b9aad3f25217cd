"""Registering the institutions the issuer signs for, over HTTP (see ``institutions``)."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from microcred_issuer.handlers import Issuer
from microcred_shared.contracts.envelope import Identifier
from microcred_shared.contracts.events import CountryCode
from microcred_shared.http import ProblemError, TokenCaller, from_app_state

IssuerDep = Annotated[Issuer, Depends(from_app_state("issuer"))]

router = APIRouter(tags=["institutions"])


class Registration(BaseModel):
    """What the issuer keeps of an institution it signs for."""

    name: str = Field(min_length=1, max_length=200)
    country: CountryCode = Field(description="ISO 3166-1 alpha-2.")
    competences: list[Identifier] = Field(
        default_factory=list,
        max_length=10_000,
        description="The catalogue's competence ids (added to those registered before).",
    )


class Registered(BaseModel):
    """A registered institution as the issuer keeps it, with its active key."""

    id: str
    name: str
    country: str
    competences: list[str]
    did: str
    key_id: str = Field(description="The active signing key's verification method id.")


@router.put("/institutions/{institution_id}")
async def register_institution(
    institution_id: Identifier, body: Registration, issuer: IssuerDep, caller: TokenCaller
) -> Registered:
    """Register an institution the issuer signs for (idempotent).

    Called at onboarding, by a platform administrator: makes the institution's first signing key
    (its DID document and key set stand from then on). Called again, by the platform or the
    institution's own administrators (a catalogue import), it adds the competences given.
    Awards of unregistered institutions, or of competences not registered, are refused.
    """
    known = await issuer.institutions.get(institution_id)
    if not caller.platform_admin and not (
        known is not None and "institution_admin" in caller.roles_in(institution_id)
    ):
        raise ProblemError(
            HTTPStatus.FORBIDDEN,
            "Forbidden",
            "platform administrators register institutions; their own administrators may add "
            "competences",
        )
    if (
        not caller.platform_admin
        and known is not None
        and (body.name, body.country) != (known["name"], known["country"])
    ):
        # The name and country are what every credential says of its issuer: the platform
        # vouched for them at onboarding, and only it changes them.
        raise ProblemError(
            HTTPStatus.FORBIDDEN,
            "Forbidden",
            "platform administrators change an institution's name or country; its own "
            "administrators may add competences",
        )
    await issuer.register(
        institution_id, name=body.name, country=body.country, competences=body.competences
    )
    return await _registered(issuer, institution_id)


@router.get("/institutions/{institution_id}")
async def show_institution(institution_id: Identifier, issuer: IssuerDep) -> Registered:
    """A registered institution, its competences and its active key (404 if not registered)."""
    return await _registered(issuer, institution_id)


async def _registered(issuer: Issuer, institution_id: str) -> Registered:
    document = await issuer.institutions.get(institution_id)
    keys = await issuer.keys.public_keys(institution_id)
    if document is None or not keys:
        raise ProblemError(
            HTTPStatus.NOT_FOUND, "Unknown institution", f"{institution_id} is not registered"
        )
    did = issuer.did(institution_id)
    return Registered(
        id=institution_id,
        name=document["name"],
        country=document["country"],
        competences=sorted(document.get("competences", [])),
        did=did,
        key_id=f"{did}#{keys[0].key_id}",
    )
