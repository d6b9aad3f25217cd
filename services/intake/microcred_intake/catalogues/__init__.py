"""Starter competence catalogues an institution can import: DigComp 2.2 and GreenComp.

The catalogues are JSON files shipped as package data. Each holds the framework's areas and its
competences as ``CompetenceSnapshot`` objects; descriptions and learning outcomes are microcred's
own wording, aligned to the framework by code.
"""

from __future__ import annotations

import json
from importlib.resources import files

from microcred_shared.contracts.events import CompetenceSnapshot

#: Catalogue name -> file name inside this package.
STARTER_CATALOGUES: dict[str, str] = {
    "digcomp-2.2": "digcomp-2.2.json",
    "greencomp": "greencomp.json",
}


class UnknownCatalogueError(KeyError):
    """No starter catalogue has the name asked for."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(
            f"no starter catalogue named {name!r}; known catalogues: {', '.join(available())}"
        )

    def __str__(self) -> str:
        # KeyError.__str__ would repr() the message, quotes and all.
        return str(self.args[0])


def available() -> list[str]:
    """Names of the starter catalogues, sorted."""
    return sorted(STARTER_CATALOGUES)


def starter_catalogue(name: str) -> list[CompetenceSnapshot]:
    """The competences of the starter catalogue ``name``, validated."""
    try:
        filename = STARTER_CATALOGUES[name]
    except KeyError:
        raise UnknownCatalogueError(name) from None
    text = files(__name__).joinpath(filename).read_text(encoding="utf-8")
    document = json.loads(text)
    return [CompetenceSnapshot.model_validate(item) for item in document["competences"]]
