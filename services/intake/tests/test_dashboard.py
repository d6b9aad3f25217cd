"""The learner's dashboard as computed: accounting's ledger merged with intake's own records."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from microcred_intake.dashboard import LearnerRecords, dashboard
from microcred_intake.domain import InstitutionCreate
from microcred_shared.demo import demo_institution

pytestmark = pytest.mark.unit

ISSUED = datetime(2026, 10, 2, 9, 30, tzinfo=UTC)
REVOKED = datetime(2026, 11, 3, 14, 0, tzinfo=UTC)
REASON = (
    "Approval of 'Podcast course' (30 hours) was reversed: the certificate was forged; "
    "the balance fell to 60 of 90 hours."
)


def institution() -> InstitutionCreate:
    profile = demo_institution("inst-a")
    profile["competences"].append(
        {**profile["competences"][0], "id": "digcomp-1-1", "title": "Browsing data"}
    )
    return InstitutionCreate.model_validate(profile)


def evidence(status: str, hours: str, competence: str = "digcomp-3-1", **extra: Any) -> Any:
    review = {"approved_hours": hours} if status == "approved" else {}
    return {"competence_id": competence, "status": status, "hours": hours, "review": review} | (
        extra
    )


def badge(
    credential_id: str,
    achievement: str,
    award_id: str,
    title: str,
    kind: str | None = "competence",
) -> dict[str, Any]:
    """A badge as intake keeps it; without a kind (None) as kept before intake stored it."""
    kept = {
        "_id": credential_id,
        "competence_id": achievement,
        "award_id": award_id,
        "title": title,
        "issued_at": ISSUED,
    }
    return kept | ({"kind": kind} if kind is not None else {})


def ledger_row(**changes: Any) -> dict[str, Any]:
    return {
        "competence_id": "digcomp-3-1",
        "title": "Developing digital content",
        "hours": "90.00",
        "ects": "3.00",
        "hours_per_ects": "30",
        "ects_required": "3",
        "hours_required": "90",
        "status": "awarded",
        "award_id": "award-1",
        "awarded_at": "2026-10-01T10:00:00Z",
        "revoked_at": None,
        "revocation_reason": None,
    } | changes


def test_the_ledger_gives_hours_and_status_intake_the_pending_hours_and_badges() -> None:
    records = LearnerRecords(
        evidence=[evidence("approved", "30"), evidence("submitted", "12")],
        badges=[badge("urn:uuid:b-1", "digcomp-3-1", "award-1", "Developing digital content")],
    )

    board = dashboard(institution(), records, {"competences": [ledger_row()], "pathways": []})

    assert board.ledger == "accounting"
    [row] = board.competences
    assert row.approved_hours == Decimal(90)  # the ledger's, not intake's 30
    assert row.approved_ects == Decimal(3)
    assert row.pending_hours == Decimal(12)
    assert row.percent == 100
    assert row.status == "awarded"
    assert row.awarded_at == datetime(2026, 10, 1, 10, tzinfo=UTC)
    assert [b.credential_id for b in row.badges] == ["urn:uuid:b-1"]
    assert not row.badges[0].revoked


def test_a_revoked_award_shows_its_reason_and_its_badge_is_never_valid() -> None:
    records = LearnerRecords(
        evidence=[evidence("approved", "30"), evidence("reversed", "30")],
        badges=[badge("urn:uuid:b-1", "digcomp-3-1", "award-1", "Developing digital content")],
        # The award's revocation arrived; the credential's has not yet.
        revocations=[
            {
                "_id": "award:award-1",
                "award_id": "award-1",
                "award_kind": "competence",
                "achievement_id": "digcomp-3-1",
                "title": "Developing digital content",
                "reason": REASON,
                "revoked_at": REVOKED,
            }
        ],
    )
    ledger = {
        "competences": [
            ledger_row(
                hours="60.00",
                ects="2.00",
                status="revoked",
                revoked_at="2026-11-03T14:00:00Z",
                revocation_reason=REASON,
            )
        ],
        "pathways": [],
    }

    for board in (
        dashboard(institution(), records, ledger),
        dashboard(institution(), records, None),
    ):
        [row] = board.competences
        assert row.status == "revoked", board.ledger
        assert row.revocation_reason == REASON
        assert row.revoked_at == REVOKED
        [shown] = row.badges
        assert shown.revoked
        assert shown.revocation_reason == REASON
    assert board.ledger == "intake"
    assert board.competences[0].approved_hours == Decimal(30)  # intake's records alone


def test_the_credentials_own_revocation_counts_too() -> None:
    records = LearnerRecords(
        evidence=[],
        badges=[badge("urn:uuid:b-1", "digcomp-3-1", "award-1", "Developing digital content")],
        revocations=[
            {
                "_id": "credential:urn:uuid:b-1",
                "credential_id": "urn:uuid:b-1",
                "award_id": "award-1",
                "reason": "Issued in error.",
                "revoked_at": REVOKED,
            }
        ],
    )

    [row] = dashboard(institution(), records, None).competences

    assert row.badges[0].revoked
    assert row.badges[0].revocation_reason == "Issued in error."


def test_without_accounting_intake_counts_its_approved_evidence_and_known_awards() -> None:
    records = LearnerRecords(
        evidence=[
            evidence("approved", "30", award_id="award-1"),
            evidence("approved", "30", award_id="award-1"),
            evidence("approved", "30", award_id="award-1"),
            evidence("submitted", "10", competence="digcomp-1-1"),
            evidence("rejected", "10", competence="digcomp-1-1"),
        ],
        badges=[],
    )

    board = dashboard(institution(), records, None)

    content, browsing = board.competences
    assert (content.approved_hours, content.approved_ects) == (Decimal(90), Decimal(3))
    assert content.percent == 100
    assert content.status == "awarded"
    assert content.award_id == "award-1"
    assert (browsing.approved_hours, browsing.pending_hours) == (Decimal(0), Decimal(10))
    assert browsing.status == "in_progress"
    assert board.pathways == []


def pathway_row(**changes: Any) -> dict[str, Any]:
    return {
        "pathway_id": "digital-citizen",
        "title": "Digital citizen",
        "rule": "n_of",
        "required": 2,
        "completed": 1,
        "components": [
            {
                "institution_id": "inst-a",
                "competence_id": "digcomp-3-1",
                "title": None,
                "awarded": True,
            },
            {"institution_id": "inst-b", "competence_id": "c-9", "title": None, "awarded": False},
        ],
        "status": "in_progress",
        "award_id": None,
        "awarded_at": None,
        "revoked_at": None,
        "revocation_reason": None,
    } | changes


def test_pathways_come_with_their_rule_components_and_badges() -> None:
    records = LearnerRecords(
        evidence=[],
        badges=[
            badge("urn:uuid:b-1", "digcomp-3-1", "award-1", "Developing digital content"),
            badge("urn:uuid:p-1", "digital-citizen", "award-p", "Digital citizen", "pathway"),
        ],
    )
    ledger = {
        "competences": [ledger_row()],
        "pathways": [pathway_row(status="awarded", completed=2, award_id="award-p")],
    }

    board = dashboard(institution(), records, ledger)

    [competence] = board.competences
    assert [b.credential_id for b in competence.badges] == ["urn:uuid:b-1"]
    [pathway] = board.pathways
    assert (pathway.rule, pathway.required, pathway.completed) == ("n_of", 2, 2)
    own, partner = pathway.components
    assert own.title == "Developing digital content"  # from intake's catalogue
    assert partner.title is None  # another institution's: accounting has not seen it
    assert pathway.status == "awarded"
    assert [b.credential_id for b in pathway.badges] == ["urn:uuid:p-1"]


def test_a_revoked_pathway_is_shown_revoked_without_accounting() -> None:
    records = LearnerRecords(
        evidence=[],
        badges=[badge("urn:uuid:p-1", "digital-citizen", "award-p", "Digital citizen", "pathway")],
        revocations=[
            {
                "_id": "award:award-p",
                "award_id": "award-p",
                "award_kind": "pathway",
                "achievement_id": "digital-citizen",
                "title": "Digital citizen",
                "reason": "A competence it stacks was revoked.",
                "revoked_at": REVOKED,
            }
        ],
    )

    [pathway] = dashboard(institution(), records, None).pathways

    assert pathway.pathway_id == "digital-citizen"
    assert pathway.rule is None  # unknown without accounting
    assert pathway.status == "revoked"
    assert pathway.revocation_reason == "A competence it stacks was revoked."
    assert pathway.badges[0].revoked


def test_badges_are_sorted_by_the_kind_the_issuer_gave_never_by_their_code() -> None:
    # The institution's pathway has the id of one of its competences: the code cannot tell.
    records = LearnerRecords(
        evidence=[],
        badges=[
            badge("urn:uuid:b-1", "digcomp-3-1", "award-1", "Developing digital content"),
            badge("urn:uuid:p-1", "digcomp-3-1", "award-p", "Content creator", "pathway"),
        ],
    )
    same_id = pathway_row(
        pathway_id="digcomp-3-1", title="Content creator", status="awarded", award_id="award-p"
    )

    for ledger in (
        {"competences": [ledger_row()], "pathways": [same_id]},
        {"competences": [], "pathways": [same_id]},  # accounting knows no award of it yet
        None,
    ):
        board = dashboard(institution(), records, ledger)
        [competence] = board.competences
        assert competence.competence_id == "digcomp-3-1"
        assert [b.credential_id for b in competence.badges] == ["urn:uuid:b-1"], ledger
        assert competence.status == "awarded"
        assert competence.award_id == "award-1"  # never the pathway's award
        [pathway] = board.pathways
        assert pathway.pathway_id == "digcomp-3-1"
        assert [b.credential_id for b in pathway.badges] == ["urn:uuid:p-1"], ledger
        assert pathway.status == "awarded"
        assert pathway.award_id == "award-p"


def test_a_badge_kept_before_its_kind_was_stored_is_a_competences() -> None:
    records = LearnerRecords(
        evidence=[],
        badges=[badge("urn:uuid:b-1", "digital-citizen", "award-1", "Citizen", kind=None)],
    )
    ledger = {"competences": [], "pathways": [pathway_row()]}

    board = dashboard(institution(), records, ledger)

    [competence] = board.competences
    assert [b.credential_id for b in competence.badges] == ["urn:uuid:b-1"]
    [pathway] = board.pathways
    assert pathway.badges == ()
