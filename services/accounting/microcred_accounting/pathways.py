"""Pathways: an institution's larger credential, stacked from competence awards.

Pure: the definition as an institution writes it, and whether a learner's awards complete it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from microcred_shared.contracts.envelope import InstitutionId
from microcred_shared.contracts.events import (
    LongText,
    PathwayComponent,
    PathwaySnapshot,
    ShortText,
)


def component_key(institution_id: str, competence_id: str) -> str:
    """One competence across institutions (ids are unique only within an institution)."""
    return f"{institution_id}/{competence_id}"


class PathwayDefinition(BaseModel):
    """What an institution admin sends to define (or redefine) a pathway."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    title: ShortText
    description: LongText = ""
    learning_outcomes: tuple[ShortText, ...] = ()
    eqf_level: int | None = Field(default=None, ge=1, le=8)
    nqf_level: Annotated[str, StringConstraints(max_length=32)] | None = None
    isced_f_code: Annotated[str, StringConstraints(pattern=r"^\d{2,4}$")] | None = None
    assessment_method: LongText = ""
    form_of_participation: Annotated[str, StringConstraints(max_length=300)] = ""
    access_requirements: LongText = ""
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
        return PathwaySnapshot(
            id=pathway_id,
            title=self.title,
            description=self.description,
            learning_outcomes=self.learning_outcomes,
            eqf_level=self.eqf_level,
            nqf_level=self.nqf_level,
            isced_f_code=self.isced_f_code,
            assessment_method=self.assessment_method,
            form_of_participation=self.form_of_participation,
            access_requirements=self.access_requirements,
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
