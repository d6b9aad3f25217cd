"""Pathways: an institution's larger credential, stacked from competence awards.

Pure: the definition as an institution writes it, and whether a learner's awards complete it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Literal, Self

from pydantic import Field, model_validator

from microcred_shared.contracts.envelope import InstitutionId
from microcred_shared.contracts.events import (
    AchievementDescription,
    PathwayComponent,
    PathwaySnapshot,
)


def component_key(institution_id: str, competence_id: str) -> str:
    """One competence across institutions (ids are unique only within an institution)."""
    return f"{institution_id}/{competence_id}"


class PathwayDefinition(AchievementDescription):
    """What an institution admin sends to define (or redefine) a pathway."""

    rule: Literal["all_of", "n_of"]
    required: int | None = Field(
        default=None, ge=1, description="n_of only: how many components complete the pathway."
    )
    components: tuple[PathwayComponent, ...] = Field(min_length=1, max_length=100)
    partners: tuple[InstitutionId, ...] = Field(
        default=(),
        max_length=50,
        description=(
            "Partner institutions whose competence awards count toward the pathway, once each "
            "shares its awards with this institution."
        ),
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        keys = [component_key(c.institution_id, c.competence_id) for c in self.components]
        if len(set(keys)) != len(keys):
            raise ValueError("a competence appears twice among the components")
        if self.rule == "n_of":
            if self.required is None:
                raise ValueError("an n_of pathway says how many components it requires")
            if self.required > len(self.components):
                raise ValueError("required exceeds the number of components")
        elif self.required not in (None, len(self.components)):
            raise ValueError("an all_of pathway requires every component; leave required out")
        return self

    def check_for(self, institution_id: str) -> list[str]:
        """Problems of this definition for ``institution_id`` (empty when it may stand)."""
        problems = []
        if not any(c.institution_id == institution_id for c in self.components):
            problems.append(
                "a pathway stacks at least one of the awarding institution's own competences"
            )
        if institution_id in self.partners:
            problems.append("an institution is not its own partner")
        allowed = {institution_id, *self.partners}
        problems.extend(
            f"component {c.institution_id}/{c.competence_id}: {c.institution_id} is not "
            "this institution or one of its named partners"
            for c in self.components
            if c.institution_id not in allowed
        )
        return problems

    @property
    def required_count(self) -> int:
        return self.required if self.rule == "n_of" and self.required else len(self.components)

    def snapshot(self, pathway_id: str) -> PathwaySnapshot:
        described = AchievementDescription.model_fields
        return PathwaySnapshot(
            id=pathway_id,
            **{name: getattr(self, name) for name in described},
            rule=self.rule,
            required=self.required_count,
            components=self.components,
        )


def completed_components(
    components: Iterable[PathwayComponent], awarded: Collection[str]
) -> list[PathwayComponent]:
    """The components a learner holds an active award for (``awarded``: component keys)."""
    return [c for c in components if component_key(c.institution_id, c.competence_id) in awarded]


def pathway_complete(snapshot: PathwaySnapshot, awarded: Collection[str]) -> bool:
    return len(completed_components(snapshot.components, awarded)) >= snapshot.required
