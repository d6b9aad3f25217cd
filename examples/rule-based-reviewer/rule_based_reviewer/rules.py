"""The reviewer's rules, free of I/O: trusted providers are approved, the rest sent back."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from microcred_shared.contracts import Envelope
from microcred_shared.contracts.envelope import deterministic_event_id
from microcred_shared.contracts.events import ReviewDecisionV1, ReviewRequestedV1

#: Namespace of the decision ids (uuid5): one institution's decision on one piece of evidence
#: always has the same id, so the answer to a redelivered request repeats it.
DECISION_ID_NAMESPACE = uuid.UUID("3c9a7f52-5d1e-5b8e-9f0a-2b6d4c8e1a73")


def decision_id(institution_id: str, evidence_id: str) -> str:
    """The id of ``institution_id``'s decision on ``evidence_id``, the same on every delivery."""
    return str(uuid.uuid5(DECISION_ID_NAMESPACE, f"{institution_id}/{evidence_id}"))


def normalised(provider: str) -> str:
    """A provider's name compared without regard to case or spacing."""
    return " ".join(provider.casefold().split())


@dataclass(frozen=True)
class Rules:
    """One institution's rules."""

    institution_id: str
    trusted_providers: tuple[str, ...]
    reviewer_id: str
    source: str = "/rule-based-reviewer"

    @classmethod
    def of(cls, institution_id: str, trusted: Iterable[str], reviewer_id: str) -> Rules:
        return cls(institution_id, tuple(trusted), reviewer_id, f"/{institution_id}/{reviewer_id}")

    def own(self, request: Envelope[ReviewRequestedV1]) -> bool:
        """Whether the request is about this institution's evidence (tenant and payload)."""
        return (
            request.tenant == self.institution_id
            and request.data.institution.id == self.institution_id
        )

    def trusts(self, provider: str) -> bool:
        return normalised(provider) in {normalised(p) for p in self.trusted_providers}

    def decide(
        self, request: Envelope[ReviewRequestedV1], now: datetime
    ) -> Envelope[ReviewDecisionV1] | None:
        """The decision on the request, or None for another institution's request."""
        if not self.own(request):
            return None
        evidence = request.data
        identifier = decision_id(self.institution_id, evidence.evidence_id)
        if self.trusts(evidence.provider):
            verdict = ReviewDecisionV1(
                decision_id=identifier,
                evidence_id=evidence.evidence_id,
                learner_id=evidence.learner_id,
                institution_id=self.institution_id,
                decision="approved",
                approved_hours=evidence.hours,
                reason=f"{evidence.provider} is a provider {self.institution_id} trusts.",
                reviewer_id=self.reviewer_id,
                decided_at=now,
            )
        else:
            trusted = ", ".join(self.trusted_providers) or "none yet"
            verdict = ReviewDecisionV1(
                decision_id=identifier,
                evidence_id=evidence.evidence_id,
                learner_id=evidence.learner_id,
                institution_id=self.institution_id,
                decision="changes_requested",
                approved_hours=Decimal(0),
                reason=(
                    f"Evidence from {evidence.provider!r} cannot be approved automatically: it "
                    f"is not among the providers {self.institution_id} trusts ({trusted}). "
                    "Please add evidence from one of them, or ask the institution to review "
                    "this evidence in person."
                ),
                reviewer_id=self.reviewer_id,
                decided_at=now,
            )
        return Envelope.wrap(
            verdict,
            source=self.source,
            subject=evidence.evidence_id,
            tenant=self.institution_id,
            event_id=deterministic_event_id("review-decision", self.institution_id, identifier),
            time=now,
        )
