"""What a credential says, in plain terms: the EU constitutive elements read from an issued one.

Readers (the issuer's renderings and verification page, the notifier's credential and share
pages) read only the signed document, never the award it came from, so that what they show is
what the signature covers. Every field is read defensively: a credential stored by an older
version, or one without an optional element (an awarding body, an NQF level), is shown with that
element left out rather than failing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

#: ``achievementType`` of a competence's credential and of a pathway's (a larger credential).
COMPETENCE_ACHIEVEMENT_TYPE = "MicroCredential"
PATHWAY_ACHIEVEMENT_TYPE = "Certificate"
#: ``genre`` of a pathway credential's evidence entries that cite the credentials it stacks.
STACKED_CREDENTIAL_GENRE = "Stacked micro-credential"

#: ``**Label:** text`` paragraphs of the criteria narrative (``credential._narrative``).
_NARRATIVE_LABEL = re.compile(r"(?:^|\n\n)\*\*([^*\n]{1,80}):\*\*[ ]?")

#: A last sentence announcing the Markdown list that follows ("Stacked here:").
_LEADS_TO_LIST = re.compile(r"(?<=[.!?])\s+[^.!?]*:$")


@dataclass(frozen=True)
class Organisation:
    name: str
    country: str


@dataclass(frozen=True)
class EvidenceItem:
    name: str
    description: str
    provider: str = ""
    credential_id: str = ""


@dataclass(frozen=True)
class CredentialView:
    """The elements of one credential as the renderings show them (plain text, unescaped)."""

    credential_id: str
    title: str
    description: str
    is_pathway: bool
    learner: str
    provider: Organisation
    awarding_body: Organisation | None
    issuer_did: str
    issued_on: str
    ects: str
    workload: str
    learning_outcomes: tuple[str, ...]
    assessment_method: str
    quality_assurance: str
    form_of_participation: str
    access_requirements: str
    completion: str
    eqf_level: str
    nqf_level: str
    isced_f: str
    activity_period: str
    evidence: tuple[EvidenceItem, ...] = ()
    stacked: tuple[EvidenceItem, ...] = ()
    status: str = "active"
    status_since: str = ""

    @property
    def achievement_kind(self) -> str:
        return PATHWAY_ACHIEVEMENT_TYPE if self.is_pathway else COMPETENCE_ACHIEVEMENT_TYPE


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    return [] if value is None else [value]


def _date(value: Any) -> str:
    """The date part of an XML Schema dateTime (ISO 8601, unambiguous in every language)."""
    text = _text(value)
    try:
        return datetime.fromisoformat(text).date().isoformat()
    except ValueError:
        return text[:10]


def _number(value: Any) -> str:
    """``3.0`` as ``3``, ``1.5`` as ``1.5``; anything else as given."""
    if isinstance(value, bool):
        return ""
    if isinstance(value, int | float):
        return f"{value:g}"
    return _text(value)


def narrative_sections(narrative: str) -> dict[str, str]:
    """The labelled paragraphs of a criteria narrative, by label (``Assessment method`` …)."""
    matches = list(_NARRATIVE_LABEL.finditer(narrative))
    sections: dict[str, str] = {}
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(narrative)
        sections[match.group(1).strip()] = narrative[match.end() : end].strip()
    return sections


def _organisation(profile: Mapping[str, Any]) -> Organisation:
    address = _dict(profile.get("address"))
    return Organisation(_text(profile.get("name")), _text(address.get("addressCountryCode")))


def _learner_name(subject: Mapping[str, Any]) -> str:
    for identifier in _list(subject.get("identifier")):
        entry = _dict(identifier)
        if entry.get("identityType") == "name" and not entry.get("hashed"):
            return _text(entry.get("identityHash"))
    return _text(subject.get("name"))


def _alignment_code(achievement: Mapping[str, Any], target_type: str) -> str:
    for alignment in _list(achievement.get("alignment")):
        entry = _dict(alignment)
        if entry.get("targetType") == target_type:
            return _text(entry.get("targetCode"))
    return ""


def _stacked_lines(completion: str) -> str:
    """The sentence of a pathway's completion paragraph, without its Markdown list."""
    sentence = completion.split("\n\n", 1)[0].strip()
    return _LEADS_TO_LIST.sub("", sentence).strip()


def view_of(
    credential: Mapping[str, Any],
    *,
    status: str = "active",
    status_since: datetime | None = None,
) -> CredentialView:
    """Read the elements of ``credential`` (an ``OpenBadgeCredential`` as issued)."""
    issuer = _dict(credential.get("issuer"))
    subject = _dict(credential.get("credentialSubject"))
    achievement = _dict(subject.get("achievement"))
    sections = narrative_sections(_text(_dict(achievement.get("criteria")).get("narrative")))
    parent = _dict(issuer.get("parentOrg"))
    start, end = _date(subject.get("activityStartDate")), _date(subject.get("activityEndDate"))
    evidence: list[EvidenceItem] = []
    stacked: list[EvidenceItem] = []
    for item in _list(credential.get("evidence")):
        entry = _dict(item)
        if not entry:
            continue
        if entry.get("genre") == STACKED_CREDENTIAL_GENRE:
            stacked.append(
                EvidenceItem(
                    name=_text(entry.get("name")),
                    description=_text(entry.get("description")),
                    credential_id=_text(entry.get("id")),
                )
            )
        else:
            evidence.append(
                EvidenceItem(
                    name=_text(entry.get("name")),
                    description=_text(entry.get("description")),
                    provider=_text(entry.get("audience")),
                )
            )
    outcomes = tuple(
        _text(_dict(r).get("name"))
        for r in _list(achievement.get("resultDescription"))
        if _text(_dict(r).get("name"))
    )
    ects = _number(subject.get("creditsEarned")) or _number(achievement.get("creditsAvailable"))
    return CredentialView(
        credential_id=_text(credential.get("id")),
        title=_text(achievement.get("name")) or _text(credential.get("name")),
        description=_text(achievement.get("description")),
        is_pathway=achievement.get("achievementType") == PATHWAY_ACHIEVEMENT_TYPE,
        learner=_learner_name(subject),
        provider=_organisation(issuer),
        awarding_body=_organisation(parent) if parent else None,
        issuer_did=_text(issuer.get("id")),
        issued_on=_date(credential.get("validFrom") or credential.get("issuanceDate")),
        ects=ects,
        workload=sections.get("Workload", f"{ects} ECTS" if ects else ""),
        learning_outcomes=outcomes,
        assessment_method=sections.get("Assessment method", ""),
        quality_assurance=sections.get("Quality assurance", ""),
        form_of_participation=sections.get("Form of participation", ""),
        access_requirements=sections.get("Access requirements", ""),
        completion=_stacked_lines(sections.get("Completion", "")),
        eqf_level=_alignment_code(achievement, "ext:EQFLevel"),
        nqf_level=_alignment_code(achievement, "ext:NQFLevel"),
        isced_f=_text(achievement.get("fieldOfStudy")),
        activity_period=f"{start} \N{EN DASH} {end}" if start and end else "",
        evidence=tuple(evidence),
        stacked=tuple(stacked),
        status=status,
        status_since=status_since.date().isoformat() if status_since else "",
    )
