"""Events the issuer's tests feed it: competence and pathway awards, and revocations."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Literal

from microcred_issuer.credential import credential_id_for, credential_id_key
from microcred_issuer.handlers import Issuer
from microcred_shared.contracts import Envelope
from microcred_shared.contracts.envelope import deterministic_event_id
from microcred_shared.contracts.events import (
    AwardedEvidence,
    AwardRevokedV1,
    CompetenceAwardedV1,
    CompetenceSnapshot,
    InstitutionRef,
    LearnerProfile,
    PathwayAwardedV1,
    PathwayComponent,
    PathwaySnapshot,
    StackedAward,
)

MASTER = b"k" * 32
#: The issuer's key for credential ids, derived from ``MASTER`` as the issuer derives it.
CREDENTIAL_ID_KEY = credential_id_key(MASTER)
PUBLIC_URL = "https://issuer.example.org"
AWARDING = "inst-a"
PARTNER = "inst-b"
LEARNER = LearnerProfile(name="Ada Lovelace", email="ada@example.org")
AWARDED_AT = datetime(2026, 3, 2, tzinfo=UTC)


def credential_id_of(award_id: str) -> str:
    """The id an issuer with the samples' master key gives the award's credential."""
    return credential_id_for(CREDENTIAL_ID_KEY, award_id)


def legacy_credential_id(award_id: str) -> str:
    """The id credentials were issued with before ids were keyed: anyone could compute it."""
    return "urn:uuid:" + deterministic_event_id("credential", award_id)


class LegacyIssuer(Issuer):
    """The issuer as it was before credential ids were keyed (to store credentials as it did)."""

    def credential_id_for(self, award_id: str) -> str:
        return legacy_credential_id(award_id)


def institution(institution_id: str) -> InstitutionRef:
    names = {AWARDING: "Instituto A", PARTNER: "Hochschule B"}
    countries = {AWARDING: "PT", PARTNER: "DE"}
    return InstitutionRef(
        id=institution_id,
        name=names.get(institution_id, institution_id),
        country=countries.get(institution_id, "BE"),
        quality_assurance="ESG 2015 internal QA",
    )


#: The competences the samples award: each institution the tests onboard has them.
COMPETENCES = ("c-1", "c-2", "c-3", "c-content", "c-data")


async def onboard(
    issuer: Issuer, *institution_ids: str, competences: tuple[str, ...] = COMPETENCES
) -> None:
    """Register institutions at the issuer, as onboarding does (default: AWARDING and PARTNER).

    The issuer signs only for institutions registered with it, and only their competences.
    """
    for institution_id in institution_ids or (AWARDING, PARTNER):
        ref = institution(institution_id)
        await issuer.register(
            institution_id, name=ref.name, country=ref.country, competences=competences
        )


def competence(competence_id: str, title: str) -> CompetenceSnapshot:
    return CompetenceSnapshot(id=competence_id, title=title, learning_outcomes=(title,))


def competence_award(
    award_id: str,
    *,
    tenant: str = AWARDING,
    learner_id: str = "l-1",
    competence_id: str = "c-1",
) -> Envelope[CompetenceAwardedV1]:
    return Envelope.wrap(
        CompetenceAwardedV1(
            award_id=award_id,
            learner_id=learner_id,
            learner=LEARNER,
            institution=institution(tenant),
            competence=competence(competence_id, f"Competence {competence_id}"),
            hours=Decimal(90),
            ects=Decimal(3),
            evidence=(
                AwardedEvidence(
                    evidence_id=f"e-{award_id}",
                    title="Course",
                    provider="Hub",
                    hours=Decimal(90),
                    start_date=date(2026, 1, 1),
                    end_date=date(2026, 3, 1),
                ),
            ),
            learning_started=date(2026, 1, 1),
            learning_ended=date(2026, 3, 1),
            awarded_at=AWARDED_AT,
        ),
        source="/tests",
        subject=award_id,
        tenant=tenant,
    )


def stacked(award_id: str, institution_id: str, competence_id: str, title: str) -> StackedAward:
    return StackedAward(
        award_id=award_id,
        institution=institution(institution_id),
        competence=competence(competence_id, title),
        hours=Decimal(90),
        ects=Decimal(3),
        awarded_at=AWARDED_AT,
    )


def pathway_award(
    award_id: str,
    *,
    own_award_id: str = "award-own",
    partner_award_id: str = "award-partner",
    learner_id: str = "l-1",
) -> Envelope[PathwayAwardedV1]:
    """A pathway of the awarding institution that stacks its own award and a partner's."""
    return Envelope.wrap(
        PathwayAwardedV1(
            award_id=award_id,
            learner_id=learner_id,
            learner=LEARNER,
            institution=institution(AWARDING),
            pathway=PathwaySnapshot(
                id="p-digital",
                title="Digital Skills Certificate",
                description="Content creation and data literacy, stacked.",
                learning_outcomes=("Create digital content", "Analyse data"),
                eqf_level=5,
                nqf_level="5",
                isced_f_code="0612",
                assessment_method="Portfolio of the stacked credentials",
                form_of_participation="Blended",
                access_requirements="None",
                rule="all_of",
                required=2,
                components=(
                    PathwayComponent(institution_id=AWARDING, competence_id="c-content"),
                    PathwayComponent(institution_id=PARTNER, competence_id="c-data"),
                ),
            ),
            stacked=(
                stacked(own_award_id, AWARDING, "c-content", "Developing digital content"),
                stacked(partner_award_id, PARTNER, "c-data", "Analysing data"),
            ),
            hours=Decimal(180),
            ects=Decimal(6),
            awarded_at=AWARDED_AT,
        ),
        source="/tests",
        subject=award_id,
        tenant=AWARDING,
    )


def revocation(
    award_id: str,
    *,
    tenant: str = AWARDING,
    learner_id: str = "l-1",
    kind: Literal["competence", "pathway"] = "competence",
    reason: str = "An approval was reversed: misconduct found.",
) -> Envelope[AwardRevokedV1]:
    return Envelope.wrap(
        AwardRevokedV1(
            award_id=award_id,
            learner_id=learner_id,
            award_kind=kind,
            achievement_id="c-1" if kind == "competence" else "p-digital",
            title="Competence c-1" if kind == "competence" else "Digital Skills Certificate",
            reason=reason,
            revoked_at=datetime.now(UTC),
        ),
        source="/tests",
        subject=award_id,
        tenant=tenant,
    )
