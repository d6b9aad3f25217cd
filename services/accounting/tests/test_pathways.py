"""Pathways: larger credentials stacked from competence awards, partners' included."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from microcred_accounting.handlers import Accounting
from microcred_accounting.pathways import PathwayDefinition
from microcred_accounting.reports import ReadSide
from microcred_shared.contracts import topics
from microcred_shared.contracts.events import PathwayComponent
from services.accounting.tests.ledger_samples import TENANT, post, published, reviewed

PARTNER = "inst-b"


def definition(
    components: list[tuple[str, str]],
    rule: str = "all_of",
    required: int | None = None,
    partners: tuple[str, ...] = (),
) -> PathwayDefinition:
    return PathwayDefinition.model_validate(
        {
            "title": "Digital citizen",
            "learning_outcomes": ["Works safely with data"],
            "eqf_level": 5,
            "rule": rule,
            "required": required,
            "components": [
                PathwayComponent(institution_id=i, competence_id=c) for i, c in components
            ],
            "partners": partners,
        }
    )


async def earn(accounting: Accounting, competence: str, tenant: str = TENANT) -> None:
    """Three approvals of 30 hours: the competence's default threshold."""
    for n in range(3):
        await post(
            accounting, reviewed(f"{tenant}-{competence}-{n}", tenant=tenant, competence=competence)
        )


@pytest.mark.integration
async def test_a_partner_competence_counts_and_the_awarding_institution_signs(
    accounting: Accounting,
) -> None:
    pathway = definition([(TENANT, "c-1"), (PARTNER, "c-9")], partners=(PARTNER,))
    await accounting.stacking.define(TENANT, "p-1", pathway)

    await earn(accounting, "c-1")
    assert published(accounting, topics.PATHWAY_AWARDED) == []
    await earn(accounting, "c-9", tenant=PARTNER)
    # Named as a partner, the partner has not agreed yet: its award counts for nothing, and
    # the awarding institution does not even see it.
    assert published(accounting, topics.PATHWAY_AWARDED) == []
    [hidden] = (await ReadSide(accounting).progress(TENANT, "l-1"))["pathways"]
    assert [c["awarded"] for c in hidden["components"]] == [True, False]
    assert hidden["components"][1]["title"] is None

    await accounting.stacking.share(PARTNER, TENANT)
    await accounting.stacking.share(PARTNER, TENANT)  # agreed twice: nothing more
    await post(accounting, reviewed(f"{PARTNER}-c-9-2", tenant=PARTNER, competence="c-9"))

    [awarded] = published(accounting, topics.PATHWAY_AWARDED)
    assert awarded["tenant"] == TENANT
    data = awarded["data"]
    # The awarding institution as intake described it on its own award, not as anyone claims.
    assert data["institution"] == {
        "id": TENANT,
        "name": TENANT.upper(),
        "country": "PT",
        "awarding_body_name": None,
        "awarding_body_country": None,
        "quality_assurance": "",
        "url": None,
    }
    assert data["pathway"]["title"] == "Digital citizen"
    assert data["pathway"]["required"] == 2
    assert {(s["institution"]["id"], s["competence"]["id"]) for s in data["stacked"]} == {
        (TENANT, "c-1"),
        (PARTNER, "c-9"),
    }
    competence_awards = {
        a["data"]["competence"]["id"]: a["data"]["award_id"]
        for a in published(accounting, topics.COMPETENCE_AWARDED)
    }
    assert {s["award_id"] for s in data["stacked"]} == set(competence_awards.values())
    assert (data["hours"], data["ects"]) == ("180", "6.00")

    progress = await ReadSide(accounting).progress(TENANT, "l-1")
    [shown] = progress["pathways"]
    assert (shown["status"], shown["completed"], shown["required"]) == ("awarded", 2, 2)
    assert [c["title"] for c in shown["components"]] == ["Competence c-1", "Competence c-9"]


@pytest.mark.integration
async def test_n_of_pathway_is_revoked_when_a_stacked_award_is(accounting: Accounting) -> None:
    pathway = definition([(TENANT, "c-1"), (TENANT, "c-2"), (TENANT, "c-3")], "n_of", 2)
    await accounting.stacking.define(TENANT, "p-1", pathway)
    await earn(accounting, "c-1")
    await earn(accounting, "c-2")
    assert len(published(accounting, topics.PATHWAY_AWARDED)) == 1

    await accounting.on_evidence_reviewed(
        reviewed(f"{TENANT}-c-2-0", decision="reversed", competence="c-2")
    )

    revoked = {
        e["data"]["award_kind"]: e["data"] for e in published(accounting, topics.AWARD_REVOKED)
    }
    assert set(revoked) == {"competence", "pathway"}
    assert revoked["pathway"]["achievement_id"] == "p-1"
    assert (
        "lost 'Competence c-2': 1 of the 2 required credentials remain"
        in (revoked["pathway"]["reason"])
    )
    await earn(accounting, "c-3")  # another component completes it again: a new award
    assert len(published(accounting, topics.PATHWAY_AWARDED)) == 2


@pytest.mark.integration
async def test_a_substitute_keeps_the_pathway_but_its_credential_is_issued_anew(
    accounting: Accounting,
) -> None:
    """A credential never cites a revoked one.

    Losing a stacked award revokes the pathway's, and a new one stacks the awards left when
    they still complete it.
    """
    pathway = definition([(TENANT, "c-1"), (TENANT, "c-2"), (TENANT, "c-3")], "n_of", 2)
    await accounting.stacking.define(TENANT, "p-1", pathway)
    for competence in ("c-1", "c-2", "c-3"):
        await earn(accounting, competence)
    [first] = published(accounting, topics.PATHWAY_AWARDED)
    assert len(first["data"]["stacked"]) == 2  # complete with two: the third came later

    await accounting.on_evidence_reviewed(
        reviewed(f"{TENANT}-c-1-0", decision="reversed", competence="c-1")
    )

    _, second = published(accounting, topics.PATHWAY_AWARDED)
    assert {s["competence"]["id"] for s in second["data"]["stacked"]} == {"c-2", "c-3"}
    pathway_revocations = [
        e
        for e in published(accounting, topics.AWARD_REVOKED)
        if e["data"]["award_kind"] == "pathway"
    ]
    assert [e["data"]["award_id"] for e in pathway_revocations] == [first["data"]["award_id"]]


@pytest.mark.integration
async def test_defining_a_pathway_awards_learners_who_already_complete_it(
    accounting: Accounting,
) -> None:
    await earn(accounting, "c-1")
    await earn(accounting, "c-2")
    both = definition([(TENANT, "c-1"), (TENANT, "c-2")])
    await accounting.stacking.define(TENANT, "p-1", both)
    [awarded] = published(accounting, topics.PATHWAY_AWARDED)
    assert awarded["data"]["learner_id"] == "l-1"

    # Redefined to need a competence the learner lacks, and without one they hold: the
    # credential already awarded is not taken back, whatever is decided next.
    await accounting.stacking.define(TENANT, "p-1", definition([(TENANT, "c-1"), (TENANT, "c-3")]))
    await post(accounting, reviewed("extra-1", competence="c-1"))
    await post(accounting, reviewed("extra-2", competence="c-2"))
    assert published(accounting, topics.AWARD_REVOKED) == []
    assert len(published(accounting, topics.PATHWAY_AWARDED)) == 1
    [shown] = (await ReadSide(accounting).progress(TENANT, "l-1"))["pathways"]
    assert (shown["status"], shown["completed"]) == ("awarded", 1)


@pytest.mark.unit
def test_a_definition_must_be_coherent() -> None:
    with pytest.raises(ValidationError, match="appears twice"):
        definition([(TENANT, "c-1"), (TENANT, "c-1")])
    with pytest.raises(ValidationError, match="says how many"):
        definition([(TENANT, "c-1")], "n_of")
    with pytest.raises(ValidationError, match="exceeds"):
        definition([(TENANT, "c-1")], "n_of", 2)
    with pytest.raises(ValidationError, match="requires every component"):
        definition([(TENANT, "c-1"), (TENANT, "c-2")], "all_of", 1)

    foreign = definition([(TENANT, "c-1"), ("inst-z", "c-1")], partners=(PARTNER,))
    assert foreign.check_for(TENANT) == [
        "component inst-z/c-1: inst-z is not this institution or one of its named partners"
    ]
    only_partners = definition([(PARTNER, "c-1")], partners=(PARTNER,))
    assert only_partners.check_for(TENANT) == [
        "a pathway stacks at least one of the awarding institution's own competences"
    ]
    assert (
        definition([(TENANT, "c-1"), (PARTNER, "c-2")], partners=(PARTNER,)).check_for(TENANT) == []
    )
