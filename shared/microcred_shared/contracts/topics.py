"""Topic names. One topic per event type and version; each has a dead-letter twin."""

from typing import Final

EVIDENCE_SUBMITTED: Final = "microcred.evidence.submitted.v1"
EVIDENCE_WITHDRAWN: Final = "microcred.evidence.withdrawn.v1"
EVIDENCE_REVIEWED: Final = "microcred.evidence.reviewed.v1"
COMPETENCE_AWARDED: Final = "microcred.competence.awarded.v1"
PATHWAY_AWARDED: Final = "microcred.pathway.awarded.v1"
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
    PATHWAY_AWARDED,
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


# The review contract: one pair of topics per institution, so that the broker's ACLs can give an
# institution's own review service its requests and its decisions and nothing else.
REVIEW_TOPIC_PREFIX: Final = "microcred.review."
REVIEW_REQUESTS_SUFFIX: Final = ".requests.v1"
REVIEW_DECISIONS_SUFFIX: Final = ".decisions.v1"
#: The topic names as payload types declare them; ``{institution}`` stands for the institution id.
REVIEW_REQUESTS: Final = REVIEW_TOPIC_PREFIX + "{institution}" + REVIEW_REQUESTS_SUFFIX
REVIEW_DECISIONS: Final = REVIEW_TOPIC_PREFIX + "{institution}" + REVIEW_DECISIONS_SUFFIX
#: Regular expressions of every institution's request and decision topics (for subscribers).
REVIEW_REQUESTS_PATTERN: Final = r"^microcred\.review\.[A-Za-z0-9][A-Za-z0-9._-]*\.requests\.v1$"
REVIEW_DECISIONS_PATTERN: Final = r"^microcred\.review\.[A-Za-z0-9][A-Za-z0-9._-]*\.decisions\.v1$"


def review_requests(institution_id: str) -> str:
    """The topic where the platform asks ``institution_id``'s reviewer to decide on evidence."""
    return f"{REVIEW_TOPIC_PREFIX}{institution_id}{REVIEW_REQUESTS_SUFFIX}"


def review_decisions(institution_id: str) -> str:
    """The topic where ``institution_id``'s reviewer answers with its decisions."""
    return f"{REVIEW_TOPIC_PREFIX}{institution_id}{REVIEW_DECISIONS_SUFFIX}"


def institution_review_topics(institution_id: str) -> tuple[str, ...]:
    """Every topic of ``institution_id``'s review contract, dead letters included."""
    requests, decisions = review_requests(institution_id), review_decisions(institution_id)
    return (requests, decisions, dead_letter(requests), dead_letter(decisions))


def institution_of_review_topic(topic: str) -> str | None:
    """The institution whose request or decision topic ``topic`` is, or None."""
    if not topic.startswith(REVIEW_TOPIC_PREFIX):
        return None
    for suffix in (REVIEW_REQUESTS_SUFFIX, REVIEW_DECISIONS_SUFFIX):
        if topic.endswith(suffix):
            return topic[len(REVIEW_TOPIC_PREFIX) : -len(suffix)] or None
    return None
