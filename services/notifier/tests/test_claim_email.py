"""Claim emails over real SMTP: one per credential, a working link, refusals reported."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from microcred_notifier.api import claim_page
from microcred_notifier.handlers import Notifier
from microcred_notifier.settings import NotifierSettings
from microcred_shared.contracts import Envelope, topics
from microcred_shared.contracts.events import (
    CredentialIssuedV1,
    CredentialRevokedV1,
    InstitutionRef,
    LearnerProfile,
)
from microcred_shared.demo import claim_link
from microcred_shared.kafka import RefusedEventError
from microcred_shared.mail import PermanentDeliveryError, SmtpMailer
from microcred_shared.testing.fakes import RecordingPublisher
from microcred_shared.testing.servers import Servers

pytestmark = pytest.mark.integration

TENANT = "inst-a"


def issued(email: str) -> Envelope[CredentialIssuedV1]:
    credential_id = f"urn:uuid:{uuid.uuid4()}"
    return Envelope.wrap(
        CredentialIssuedV1(
            credential_id=credential_id,
            award_id="award-1",
            learner_id="l-1",
            learner=LearnerProfile(name="Ada <Lovelace>", email=email),
            institution=InstitutionRef(id=TENANT, name="Instituto A", country="PT"),
            achievement_title="Developing digital content",
            issued_at=datetime.now(UTC),
            credential={"id": credential_id},
            credential_jwt="header.payload.signature",
            verification_method="did:web:x#key-1",
        ),
        source="/tests",
        subject=credential_id,
        tenant=TENANT,
    )


class RefusingMailer:
    async def send(self, _message: EmailMessage) -> None:
        raise PermanentDeliveryError("550 mailbox unavailable")


def notifier(database: AsyncDatabase[Any], servers: Servers, mailer: Any = None) -> Notifier:
    settings = NotifierSettings(smtp_host=servers.smtp_host, smtp_port=servers.smtp_port)
    return Notifier(
        database=database,
        publisher=RecordingPublisher(),
        mailer=mailer or SmtpMailer(settings),
        mail_from=settings.mail_from,
        public_url="https://claim.example.org",
        claim_valid_days=30,
    )


def delivered_to(servers: Servers, email: str) -> list[EmailMessage]:
    return [m for m in servers.mail.messages() if email in str(m["To"])]


async def test_one_email_per_credential_with_a_working_link(
    database: AsyncDatabase[Any], servers: Servers
) -> None:
    service = notifier(database, servers)
    await service.ensure_indexes()
    email = f"ada.{uuid.uuid4().hex[:8]}@example.org"
    event = issued(email)

    for _ in range(3):
        await service.on_credential_issued(event)

    [message] = delivered_to(servers, email)
    assert message["Subject"] == "Your micro-credential: Developing digital content"
    html = message.get_body(preferencelist=("html",))
    assert html is not None
    assert "Ada &lt;Lovelace&gt;" in html.get_content()  # names are escaped in HTML
    link = claim_link(message)
    assert link.startswith("https://claim.example.org/claim/")
    token = link.rsplit("/", 1)[1]
    claim = await service.claim_for(token)
    assert claim is not None
    assert claim["_id"] == event.data.credential_id
    stored = await service.claims.find_one({"_id": event.data.credential_id})
    assert token not in str(stored)  # only its hash is kept
    assert await service.claim_for(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    publisher = service.publisher
    assert isinstance(publisher, RecordingPublisher)
    [sent] = publisher.events(topics.NOTIFICATION_SENT)
    assert sent["data"]["credential_id"] == event.data.credential_id


async def test_expired_claim_links_open_nothing(
    database: AsyncDatabase[Any], servers: Servers
) -> None:
    service = notifier(database, servers)
    email = f"old.{uuid.uuid4().hex[:8]}@example.org"
    event = issued(email)
    await service.on_credential_issued(event)
    token = claim_link(delivered_to(servers, email)[0]).rsplit("/", 1)[1]
    await service.claims.update_one(
        {"_id": event.data.credential_id},
        {"$set": {"expires_at": datetime.now(UTC) - timedelta(seconds=1)}},
    )
    assert await service.claim_for(token) is None


async def test_permanent_refusal_is_published_as_failed(
    database: AsyncDatabase[Any], servers: Servers
) -> None:
    service = notifier(database, servers, RefusingMailer())
    event = issued("nobody@example.org")
    await service.on_credential_issued(event)
    await service.on_credential_issued(event)

    publisher = service.publisher
    assert isinstance(publisher, RecordingPublisher)
    [failed] = publisher.events(topics.NOTIFICATION_FAILED)
    assert failed["data"]["permanent"] is True
    assert "550" in failed["data"]["reason"]
    assert publisher.events(topics.NOTIFICATION_SENT) == []


def revoked(
    event: Envelope[CredentialIssuedV1], tenant: str = TENANT
) -> Envelope[CredentialRevokedV1]:
    return Envelope.wrap(
        CredentialRevokedV1(
            credential_id=event.data.credential_id,
            award_id=event.data.award_id,
            learner_id=event.data.learner_id,
            reason="an approval was reversed",
            revoked_at=datetime.now(UTC),
        ),
        source="/tests",
        subject=event.data.credential_id,
        tenant=tenant,
    )


async def test_a_credential_revoked_before_its_email_gets_none(
    database: AsyncDatabase[Any], servers: Servers
) -> None:
    service = notifier(database, servers)
    email = f"late.{uuid.uuid4().hex[:8]}@example.org"
    event = issued(email)

    await service.on_credential_revoked(revoked(event))  # read before the issuance
    await service.on_credential_revoked(revoked(event))
    await service.on_credential_issued(event)

    assert delivered_to(servers, email) == []
    publisher = service.publisher
    assert isinstance(publisher, RecordingPublisher)
    assert publisher.events(topics.NOTIFICATION_SENT) == []
    stored = await service.claims.find_one({"_id": event.data.credential_id})
    assert stored["status"] == "revoked"


async def test_a_link_sent_before_the_revocation_shows_it(
    database: AsyncDatabase[Any], servers: Servers
) -> None:
    service = notifier(database, servers)
    email = f"sent.{uuid.uuid4().hex[:8]}@example.org"
    event = issued(email)
    await service.on_credential_issued(event)
    token = claim_link(delivered_to(servers, email)[0]).rsplit("/", 1)[1]

    with pytest.raises(RefusedEventError, match="is not inst-z's"):
        await service.on_credential_revoked(revoked(event, tenant="inst-z"))
    claim = await service.claim_for(token)
    assert claim is not None
    assert "revoked_at" not in claim

    await service.on_credential_revoked(revoked(event))
    claim = await service.claim_for(token)
    assert claim is not None
    assert claim["revoked_at"] is not None
    page = await claim_page(token, service)
    assert "Revoked on" in bytes(page.body).decode()
