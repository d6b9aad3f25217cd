"""Topic names. One topic per event type and version; each has a dead-letter twin."""

from typing import Final

EVIDENCE_SUBMITTED: Final = "microcred.evidence.submitted.v1"
EVIDENCE_WITHDRAWN: Final = "microcred.evidence.withdrawn.v1"
EVIDENCE_REVIEWED: Final = "microcred.evidence.reviewed.v1"
COMPETENCE_AWARDED: Final = "microcred.competence.awarded.v1"
AWARD_REVOKED: Final = "microcred.award.revoked.v1"
CREDENTIAL_ISSUED: Final = "microcred.credential.issued.v1"
CREDENTIAL_REVOKED: Final = "microcred.credential.revoked.v1"
NOTIFICATION_SENT: Final = "microcred.notification.sent.v1"
NOTIFICATION_FAILED: Final = "microcred.notification.failed.v1"

ALL: Final = (
    EVIDENCE_SUBMITTED,
    EVIDENCE_WITHDRAWN,
    EVIDENCE_REVIEWED,
    COMPETENCE_AWARDED,
    AWARD_REVOKED,
    CREDENTIAL_ISSUED,
    CREDENTIAL_REVOKED,
    NOTIFICATION_SENT,
    NOTIFICATION_FAILED,
)

DEAD_LETTER_SUFFIX: Final = ".dlq"


def dead_letter(topic: str) -> str:
    """Return the dead-letter topic of ``topic``: where its invalid messages go, with a reason."""
    return topic + DEAD_LETTER_SUFFIX


def all_with_dead_letters() -> tuple[str, ...]:
    return ALL + tuple(dead_letter(t) for t in ALL)
