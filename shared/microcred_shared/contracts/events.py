"""Payloads of the v1 events on microcred's topics.

Each payload names the topic it travels on and its CloudEvents type; the version is part of the
class name and the type. A change that is not backward compatible makes a ``...V2`` class, a new
type and topic, and an upcaster from v1 (``microcred_shared.contracts.registry``).

Hours and ECTS are decimals, serialised as strings, so that no consumer rounds them.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from microcred_shared.contracts import topics
from microcred_shared.contracts.envelope import EventPayload, Identifier, InstitutionId

Email = Annotated[
    str,
    StringConstraints(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"),
]
CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
#: One line of text: no control characters (they break e-mail headers and file names).
ShortText = Annotated[
    str, StringConstraints(min_length=1, max_length=300, pattern=r"^[^\x00-\x1f\x7f]+$")
]
LongText = Annotated[str, StringConstraints(max_length=10_000)]
Hours = Annotated[Decimal, Field(ge=0, max_digits=9, decimal_places=2)]
PositiveHours = Annotated[Decimal, Field(gt=0, max_digits=9, decimal_places=2)]
Sha256Hex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
Locale = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Z]{2})?$")]


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LearnerProfile(_Part):
    """What the credential and the email need to know of the learner."""

    name: ShortText = Field(description="Full name, as it appears on the credential.")
    email: Email = Field(description="Where the claim link is sent.")
    locale: Locale = Field(default="en", description="Language of emails and pages.")


class InstitutionRef(_Part):
    """The provider, and the awarding body where it differs, with their countries."""

    id: InstitutionId
    name: ShortText
    country: CountryCode = Field(description="ISO 3166-1 alpha-2 country of the provider.")
    awarding_body_name: ShortText | None = Field(
        default=None, description="Awarding body, when it is not the provider."
    )
    awarding_body_country: CountryCode | None = None
    quality_assurance: LongText = Field(
        default="", description="The form of quality assurance the institution applies."
    )
    url: Annotated[str, StringConstraints(max_length=2048)] | None = None


class AchievementDescription(_Part):
    """What a credential says of what was achieved: a competence's, or a pathway's."""

    title: ShortText
    description: LongText = ""
    learning_outcomes: tuple[ShortText, ...] = ()
    eqf_level: int | None = Field(default=None, ge=1, le=8)
    nqf_level: Annotated[str, StringConstraints(max_length=32)] | None = None
    isced_f_code: Annotated[str, StringConstraints(pattern=r"^\d{2,4}$")] | None = Field(
        default=None, description="ISCED-F 2013 field code (2, 3 or 4 digits)."
    )
    assessment_method: LongText = ""
    form_of_participation: Annotated[str, StringConstraints(max_length=300)] = ""
    access_requirements: LongText = ""


class CompetenceSnapshot(AchievementDescription):
    """A competence of the institution's catalogue, as it stood when the evidence was filed.

    The snapshot travels with the evidence so that accounting and the issuer never read the
    catalogue, which intake owns.
    """

    id: Identifier
    hours_per_ects: PositiveHours = Field(default=Decimal(30))
    ects_required: PositiveHours = Field(default=Decimal(3))
    alignment_url: Annotated[str, StringConstraints(max_length=2048)] | None = Field(
        default=None, description="ESCO skill URI or a DigComp/GreenComp reference."
    )


class StoredFile(_Part):
    key: Annotated[str, StringConstraints(min_length=1, max_length=1024)] = Field(
        description="Object key in intake's bucket."
    )
    filename: ShortText
    content_type: Annotated[str, StringConstraints(max_length=255)]
    size: int = Field(ge=0)
    sha256: Sha256Hex


class EvidenceRecord(EventPayload):
    """A piece of evidence as a learner filed it: what every reviewer decides on."""

    evidence_id: Identifier
    learner_id: Identifier
    learner: LearnerProfile
    institution: InstitutionRef
    competence: CompetenceSnapshot
    title: ShortText
    hours: PositiveHours
    start_date: date
    end_date: date
    provider: ShortText
    kind: Literal["course", "workshop", "work_experience", "volunteering", "self_study", "other"]
    description: LongText = ""
    files: tuple[StoredFile, ...] = Field(min_length=1)
    submitted_at: datetime

    @model_validator(mode="after")
    def _period_is_ordered(self) -> Self:
        if self.end_date < self.start_date:
            raise ValueError("end_date is before start_date")
        return self


class EvidenceSubmittedV1(EvidenceRecord):
    """A learner filed a piece of evidence for a competence (published by intake)."""

    event_type: ClassVar[str] = "eu.microcred.evidence.submitted.v1"
    topic: ClassVar[str] = topics.EVIDENCE_SUBMITTED


class ReviewRequestedV1(EvidenceRecord):
    """The platform asks the institution's reviewer to decide on a piece of evidence.

    Published by review on the institution's own request topic. A reviewer answers with one
    ``ReviewDecisionV1`` on the institution's decision topic; the same request may be delivered
    more than once, and the answer to a redelivered request must carry the same ``decision_id``.
    The files are described, not attached: the institution's evaluators fetch them from intake.
    """

    event_type: ClassVar[str] = "eu.microcred.review.requested.v1"
    topic: ClassVar[str] = topics.REVIEW_REQUESTS

    requested_at: datetime


class ReviewDecisionV1(EventPayload):
    """An institution's reviewer decides on evidence the platform asked it to review.

    Published by the reviewer (the built-in workspace or the institution's own service) on the
    institution's decision topic. The platform checks every decision against the evidence it
    asked about; a decision it cannot accept (unknown or foreign evidence, already decided,
    more hours than claimed) goes to the decision topic's dead-letter topic with the reason.
    """

    event_type: ClassVar[str] = "eu.microcred.review.decision.v1"
    topic: ClassVar[str] = topics.REVIEW_DECISIONS

    decision_id: Identifier = Field(
        description="The reviewer's id of this decision; a repeated answer repeats it."
    )
    evidence_id: Identifier
    learner_id: Identifier
    institution_id: InstitutionId
    decision: Literal["approved", "rejected", "changes_requested", "reversed"] = Field(
        description=(
            "approved grants approved_hours; rejected and changes_requested grant none (the "
            "reason goes to the learner); reversed overturns an earlier approval."
        )
    )
    approved_hours: Hours = Field(
        description="Zero unless approved; never above the hours claimed."
    )
    reason: LongText = ""
    reviewer_id: Identifier = Field(description="Who decided: an evaluator or a rule set.")
    second_reviewer_id: Identifier | None = Field(
        default=None, description="The second evaluator, where the institution asks for two."
    )
    decided_at: datetime

    @model_validator(mode="after")
    def _hours_fit_the_decision(self) -> Self:
        if self.decision == "approved":
            if self.approved_hours <= 0:
                raise ValueError("an approval must grant more than 0 hours")
        elif self.approved_hours != 0:
            raise ValueError(f"approved_hours must be 0 for a {self.decision} decision")
        if self.decision in {"rejected", "changes_requested"} and not self.reason.strip():
            raise ValueError(f"a {self.decision} decision needs a reason for the learner")
        return self


class EvidenceWithdrawnV1(EventPayload):
    """A learner withdrew a piece of evidence before any decision on it (published by intake)."""

    event_type: ClassVar[str] = "eu.microcred.evidence.withdrawn.v1"
    topic: ClassVar[str] = topics.EVIDENCE_WITHDRAWN

    evidence_id: Identifier
    learner_id: Identifier
    withdrawn_at: datetime


class EvidenceReviewedV1(EventPayload):
    """An evaluator (or an institution's own review service) decided on a piece of evidence."""

    event_type: ClassVar[str] = "eu.microcred.evidence.reviewed.v1"
    topic: ClassVar[str] = topics.EVIDENCE_REVIEWED

    decision_id: Identifier
    evidence_id: Identifier
    learner_id: Identifier
    learner: LearnerProfile
    institution: InstitutionRef
    competence: CompetenceSnapshot
    evidence_title: ShortText
    evidence_provider: ShortText
    start_date: date
    end_date: date
    decision: Literal["approved", "rejected", "changes_requested", "reversed"] = Field(
        description=(
            "approved adds approved_hours to the ledger; reversed withdraws an earlier "
            "approval (misconduct found); rejected and changes_requested add nothing."
        )
    )
    claimed_hours: PositiveHours
    approved_hours: Hours = Field(description="Zero unless the decision is approved.")
    reason: LongText = ""
    evaluator_id: Identifier
    second_evaluator_id: Identifier | None = Field(
        default=None, description="The second evaluator, where the institution asks for two."
    )
    decided_at: datetime

    @model_validator(mode="after")
    def _hours_fit_the_decision(self) -> EvidenceReviewedV1:
        if self.decision == "approved":
            if self.approved_hours <= 0 or self.approved_hours > self.claimed_hours:
                raise ValueError("approved_hours must be > 0 and at most claimed_hours")
        elif self.approved_hours != 0:
            raise ValueError(f"approved_hours must be 0 for a {self.decision} decision")
        return self


class AwardedEvidence(_Part):
    evidence_id: Identifier
    title: ShortText
    provider: ShortText
    hours: Hours
    start_date: date
    end_date: date


class CompetenceAwardedV1(EventPayload):
    """A learner's approved hours for a competence reached its threshold (accounting)."""

    event_type: ClassVar[str] = "eu.microcred.competence.awarded.v1"
    topic: ClassVar[str] = topics.COMPETENCE_AWARDED

    award_id: Identifier
    learner_id: Identifier
    learner: LearnerProfile
    institution: InstitutionRef
    competence: CompetenceSnapshot
    hours: Hours
    ects: Hours
    evidence: tuple[AwardedEvidence, ...] = Field(min_length=1)
    learning_started: date
    learning_ended: date
    awarded_at: datetime


class PathwayComponent(_Part):
    """One competence a pathway stacks: the awarding institution's own, or a named partner's."""

    institution_id: InstitutionId
    competence_id: Identifier


class PathwaySnapshot(AchievementDescription):
    """A pathway as its institution defined it when the larger credential was awarded."""

    id: Identifier
    rule: Literal["all_of", "n_of"] = Field(
        description="all_of: every component; n_of: at least ``required`` of them."
    )
    required: int = Field(ge=1, description="How many components complete the pathway.")
    components: tuple[PathwayComponent, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _required_fits_the_components(self) -> Self:
        if self.required > len(self.components):
            raise ValueError("required exceeds the number of components")
        if self.rule == "all_of" and self.required != len(self.components):
            raise ValueError("an all_of pathway requires every component")
        return self


class StackedAward(_Part):
    """A competence award a pathway award counts (it may come from a partner institution)."""

    award_id: Identifier
    institution: InstitutionRef
    competence: CompetenceSnapshot
    hours: Hours
    ects: Hours
    awarded_at: datetime


class PathwayAwardedV1(EventPayload):
    """A learner completed a pathway: the larger credential, signed by the awarding institution."""

    event_type: ClassVar[str] = "eu.microcred.pathway.awarded.v1"
    topic: ClassVar[str] = topics.PATHWAY_AWARDED

    award_id: Identifier
    learner_id: Identifier
    learner: LearnerProfile
    institution: InstitutionRef = Field(description="The awarding institution (the signer).")
    pathway: PathwaySnapshot
    stacked: tuple[StackedAward, ...] = Field(min_length=1)
    hours: Hours
    ects: Hours
    awarded_at: datetime


class AwardRevokedV1(EventPayload):
    """An award was withdrawn; the issuer revokes the award's credential.

    A reversal took a competence's balance below its threshold, or a pathway lost a competence
    award it stacked.
    """

    event_type: ClassVar[str] = "eu.microcred.award.revoked.v1"
    topic: ClassVar[str] = topics.AWARD_REVOKED

    award_id: Identifier
    learner_id: Identifier
    award_kind: Literal["competence", "pathway"]
    achievement_id: Identifier = Field(description="The competence's or the pathway's id.")
    title: ShortText = Field(description="The competence's or the pathway's title.")
    reason: LongText
    revoked_at: datetime


class CredentialIssuedV1(EventPayload):
    """The issuer signed a credential for an award."""

    event_type: ClassVar[str] = "eu.microcred.credential.issued.v1"
    topic: ClassVar[str] = topics.CREDENTIAL_ISSUED

    credential_id: Annotated[str, StringConstraints(min_length=1, max_length=512)] = Field(
        description="The credential's id (a URL under the issuer)."
    )
    award_id: Identifier
    learner_id: Identifier
    learner: LearnerProfile
    institution: InstitutionRef
    achievement_title: ShortText
    issued_at: datetime
    credential: dict[str, Any] = Field(
        description=(
            "The credential (JSON-LD, an OpenBadgeCredential) secured with its Data Integrity "
            "proof: `proof` is an array holding a DataIntegrityProof (cryptosuite "
            "eddsa-rdfc-2022, verificationMethod the institution's Multikey). Events published "
            "before proofs were added carry the credential without `proof`."
        )
    )
    credential_jwt: Annotated[str, StringConstraints(min_length=1, max_length=200_000)] = Field(
        description="The credential secured as a VC-JWT (EdDSA)."
    )
    verification_method: Annotated[str, StringConstraints(max_length=512)]


class CredentialRevokedV1(EventPayload):
    """The issuer revoked a credential (its status-list bit is set)."""

    event_type: ClassVar[str] = "eu.microcred.credential.revoked.v1"
    topic: ClassVar[str] = topics.CREDENTIAL_REVOKED

    credential_id: Annotated[str, StringConstraints(min_length=1, max_length=512)]
    award_id: Identifier
    learner_id: Identifier
    reason: LongText
    revoked_at: datetime


class NotificationSentV1(EventPayload):
    """The learner was emailed a claim link for a credential."""

    event_type: ClassVar[str] = "eu.microcred.notification.sent.v1"
    topic: ClassVar[str] = topics.NOTIFICATION_SENT

    notification_id: Identifier
    credential_id: Annotated[str, StringConstraints(min_length=1, max_length=512)]
    learner_id: Identifier
    channel: Literal["email"] = "email"
    message_id: Annotated[str, StringConstraints(min_length=1, max_length=998)]
    sent_at: datetime


class NotificationFailedV1(EventPayload):
    """Emailing a claim link failed for good (or past its retry deadline)."""

    event_type: ClassVar[str] = "eu.microcred.notification.failed.v1"
    topic: ClassVar[str] = topics.NOTIFICATION_FAILED

    notification_id: Identifier
    credential_id: Annotated[str, StringConstraints(min_length=1, max_length=512)]
    learner_id: Identifier
    channel: Literal["email"] = "email"
    reason: LongText
    permanent: bool
    failed_at: datetime
