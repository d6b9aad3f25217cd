"""Starter competence catalogues (DigComp 2.2, GreenComp): they load, validate, hang together."""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

import pytest

from microcred_intake.catalogues import (
    STARTER_CATALOGUES,
    UnknownCatalogueError,
    available,
    starter_catalogue,
)
from microcred_shared.contracts.events import CompetenceSnapshot

pytestmark = pytest.mark.unit

SIZES = {"digcomp-2.2": 21, "greencomp": 12}
AREA_COUNTS = {"digcomp-2.2": 5, "greencomp": 4}


def _document(name: str) -> dict[str, Any]:
    resource = files("microcred_intake.catalogues").joinpath(STARTER_CATALOGUES[name])
    document: dict[str, Any] = json.loads(resource.read_text(encoding="utf-8"))
    return document


def test_available_names_both_frameworks() -> None:
    assert available() == ["digcomp-2.2", "greencomp"]
    assert set(STARTER_CATALOGUES) == set(SIZES)


@pytest.mark.parametrize("name", sorted(SIZES))
def test_catalogue_loads_with_the_official_number_of_competences(name: str) -> None:
    competences = starter_catalogue(name)
    assert len(competences) == SIZES[name]
    assert all(isinstance(c, CompetenceSnapshot) for c in competences)
    assert len({c.id for c in competences}) == len(competences)
    for competence in competences:
        assert competence.id.startswith(f"{name}-")
        assert competence.description.strip()
        assert len(competence.learning_outcomes) >= 2
        assert all(outcome.strip() for outcome in competence.learning_outcomes)
        assert competence.eqf_level is None
        assert competence.isced_f_code
        assert competence.alignment_url
        assert competence.alignment_url.startswith("https://joint-research-centre.ec.europa.eu/")


@pytest.mark.parametrize("name", sorted(SIZES))
def test_every_competence_is_in_exactly_one_area(name: str) -> None:
    document = _document(name)
    ids = [c["id"] for c in document["competences"]]
    assert len(document["areas"]) == AREA_COUNTS[name]
    listed = [cid for area in document["areas"] for cid in area["competences"]]
    assert sorted(listed) == sorted(ids)
    for area in document["areas"]:
        assert area["title"]
        for cid in area["competences"]:
            # The competence code (e.g. "2.6") starts with its area's code.
            assert cid.removeprefix(f"{name}-").split(".")[0] == area["code"]


@pytest.mark.parametrize(
    ("name", "code", "title"),
    [
        (
            "digcomp-2.2",
            "1.1",
            "Browsing, searching and filtering data, information and digital content",
        ),
        ("digcomp-2.2", "2.6", "Managing digital identity"),
        ("digcomp-2.2", "3.4", "Programming"),
        ("digcomp-2.2", "4.4", "Protecting the environment"),
        ("digcomp-2.2", "5.4", "Identifying digital competence gaps"),
        ("greencomp", "1.1", "Valuing sustainability"),
        ("greencomp", "4.3", "Individual initiative"),
    ],
)
def test_codes_carry_the_official_titles(name: str, code: str, title: str) -> None:
    by_id = {c.id: c for c in starter_catalogue(name)}
    assert by_id[f"{name}-{code}"].title == title


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(UnknownCatalogueError) as caught:
        starter_catalogue("esco")
    assert isinstance(caught.value, KeyError)
    message = str(caught.value)
    assert "esco" in message
    assert "digcomp-2.2" in message
    assert "greencomp" in message
