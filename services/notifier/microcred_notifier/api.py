"""The notifier's JSON API: an institution's claim settings and deliveries, and resending."""

from __future__ import annotations

from datetime import datetime
from http import HTTPStatus
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from microcred_notifier.handlers import Notifier, ResendRefusedError
from microcred_notifier.pages import _REFERENCE
from microcred_notifier.policy import ClaimSettings, TermsConflictError
from microcred_shared.http import ProblemError, TokenCaller, require_role


def _notifier(request: Request) -> Notifier:
    notifier: Notifier = request.app.state.notifier
    return notifier


NotifierDep = Annotated[Notifier, Depends(_notifier)]
router = APIRouter()


@router.put("/institutions/{institution_id}/claim-settings", tags=["claim settings"])
async def put_claim_settings(
    institution_id: str, settings: ClaimSettings, caller: TokenCaller, notifier: NotifierDep
) -> ClaimSettings:
    """Set how the institution's learners claim: link lifetime, second check, terms, logo.

    Privacy terms are versioned: a version, once published, always names the same text (409
    otherwise), because each learner's consent cites the version they agreed to.
    """
    require_role(caller, institution_id, "institution_admin")
    try:
        await notifier.policies.put(institution_id, settings)
    except TermsConflictError as exc:
        raise ProblemError(HTTPStatus.CONFLICT, "Terms version taken", str(exc)) from exc
    return await notifier.policies.get(institution_id)


@router.get("/institutions/{institution_id}/claim-settings", tags=["claim settings"])
async def get_claim_settings(
    institution_id: str, caller: TokenCaller, notifier: NotifierDep
) -> ClaimSettings:
    require_role(caller, institution_id, "institution_admin")
    return await notifier.policies.get(institution_id)


class Delivery(BaseModel):
    credential_ref: str
    title: str
    learner_id: str
    learner_email: str
    status: Literal["unsent", "sent", "claimed", "failed", "withheld"]
    delivery: Literal["due", "sending", "delivered", "gave_up"]
    attempts: int
    error: str | None = None
    next_attempt_at: datetime | None = None
    sent_at: datetime | None = None
    claimed_at: datetime | None = None


class Deliveries(BaseModel):
    deliveries: list[Delivery] = Field(description="Newest first, at most 500.")


@router.get("/institutions/{institution_id}/deliveries", tags=["deliveries"])
async def deliveries(
    institution_id: str,
    caller: TokenCaller,
    notifier: NotifierDep,
    failing: Annotated[bool, Query(description="Only e-mails failed or being retried.")] = False,
) -> Deliveries:
    """The institution's claim e-mails and how each went: failures are visible here."""
    require_role(caller, institution_id, "institution_admin")
    rows = await notifier.deliveries(institution_id, failing_only=failing)
    return Deliveries(
        deliveries=[
            Delivery(
                credential_ref=row["reference"],
                title=row["title"],
                learner_id=row["learner_id"],
                learner_email=row["learner"]["email"],
                status=row["status"],
                delivery=row["delivery"]["state"],
                attempts=row["delivery"].get("attempts", 0),
                error=row["delivery"].get("error"),
                next_attempt_at=row["delivery"].get("next_at")
                if row["delivery"]["state"] == "due"
                else None,
                sent_at=row.get("sent_at"),
                claimed_at=row.get("claimed_at"),
            )
            for row in rows
        ]
    )


class Resent(BaseModel):
    credential_ref: str
    status: str


@router.post("/claims/{credential_ref}/resend", tags=["deliveries"], status_code=202)
async def resend(credential_ref: str, caller: TokenCaller, notifier: NotifierDep) -> Resent:
    """Send the claim e-mail again with a new link; the previous link stops working at once.

    The learner may ask for their own credential, an admin for their institution's. Not for a
    credential already claimed or revoked before its e-mail, nor twice within a short interval.
    """
    claim = None
    if _REFERENCE.fullmatch(credential_ref):
        claim = await notifier.claims.find_one(
            {"reference": credential_ref}, {"learner_id": 1, "institution_id": 1}
        )
    if claim is None or not (
        caller.user_id == claim["learner_id"]
        or caller.has_role(claim["institution_id"], "institution_admin")
    ):
        raise ProblemError(HTTPStatus.NOT_FOUND, "Unknown claim", credential_ref)
    try:
        await notifier.resend(claim["_id"], requested_by=caller.user_id)
    except ResendRefusedError as exc:
        raise ProblemError(HTTPStatus.CONFLICT, "Cannot resend", str(exc)) from exc
    found = await notifier.claims.find_one({"_id": claim["_id"]}, {"status": 1})
    return Resent(credential_ref=credential_ref, status=found["status"] if found else "unknown")
