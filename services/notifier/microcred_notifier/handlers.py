"""The notifier's use cases: one claim email per credential, and the claim page behind it."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import formataddr
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from microcred_shared.contracts import Envelope
from microcred_shared.contracts.envelope import deterministic_event_id
from microcred_shared.contracts.events import (
    CredentialIssuedV1,
    CredentialRevokedV1,
    NotificationFailedV1,
    NotificationSentV1,
)
from microcred_shared.kafka import RawEventPublisher, RefusedEventError
from microcred_shared.logging import get_logger
from microcred_shared.mail import Mailer, PermanentDeliveryError
from microcred_shared.mongo import Document
from microcred_shared.outbox import append_to_outbox, ensure_outbox_index, flush

log = get_logger(__name__)

SOURCE = "/microcred/notifier"
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{43}$")

templates = Environment(
    loader=PackageLoader("microcred_notifier", "templates"),
    autoescape=select_autoescape(["html", "html.j2"]),
)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class Notifier:
    database: AsyncDatabase[Document]
    publisher: RawEventPublisher
    mailer: Mailer
    mail_from: str
    public_url: str
    claim_valid_days: int

    @property
    def claims(self) -> Any:
        return self.database["claims"]

    async def ensure_indexes(self) -> None:
        await self.claims.create_index("token_hash", sparse=True)
        await ensure_outbox_index(self.claims)

    async def on_credential_issued(self, envelope: Envelope[CredentialIssuedV1]) -> None:
        """Email the claim link once; a redelivery of a handled credential sends nothing."""
        issued = envelope.data
        claim = await self.claims.find_one({"_id": issued.credential_id})
        if claim is None:
            claim = {
                "_id": issued.credential_id,
                "institution_id": envelope.tenant,
                "learner_id": issued.learner_id,
                "learner": issued.learner.model_dump(),
                "institution_name": issued.institution.name,
                "title": issued.achievement_title,
                "credential": issued.credential,
                "credential_jwt": issued.credential_jwt,
                "verification_method": issued.verification_method,
                "issued_at": issued.issued_at,
                "expires_at": datetime.now(UTC) + timedelta(days=self.claim_valid_days),
                "status": "pending",
            }
            try:
                await self.claims.insert_one(claim)
            except DuplicateKeyError:
                claim = await self.claims.find_one({"_id": issued.credential_id})
        if claim["status"] == "pending":
            await self._send(claim, envelope)
        await flush(self.claims, issued.credential_id, self.publisher)

    async def on_credential_revoked(self, envelope: Envelope[CredentialRevokedV1]) -> None:
        """A revoked credential's claim e-mail is not sent; a link already sent says so.

        The issuer never revokes a credential it did not issue, but the two topics are read
        apart: a revocation read first leaves a mark that the issued credential finds.
        """
        revoked = envelope.data
        mark = {"revoked_at": revoked.revoked_at}
        unsent = await self.claims.update_one(
            {"_id": revoked.credential_id, "institution_id": envelope.tenant, "status": "pending"},
            {"$set": {**mark, "status": "revoked"}},
        )
        if unsent.matched_count:
            log.info("claim.withheld", credential_id=revoked.credential_id)
            return
        sent = await self.claims.update_one(
            {"_id": revoked.credential_id, "institution_id": envelope.tenant}, {"$set": mark}
        )
        if sent.matched_count:
            return
        try:
            await self.claims.insert_one(
                {
                    "_id": revoked.credential_id,
                    "institution_id": envelope.tenant,
                    "learner_id": revoked.learner_id,
                    "status": "revoked",
                    **mark,
                }
            )
        except DuplicateKeyError as exists:
            # Issued meanwhile, or another institution's credential of that id.
            claim = await self.claims.find_one(
                {"_id": revoked.credential_id}, {"institution_id": 1}
            )
            if claim is not None and claim["institution_id"] != envelope.tenant:
                raise RefusedEventError(
                    f"credential {revoked.credential_id} is not {envelope.tenant}'s"
                ) from exists
            await self.on_credential_revoked(envelope)

    async def _send(self, claim: Document, envelope: Envelope[CredentialIssuedV1]) -> None:
        credential_id = claim["_id"]
        notification_id = deterministic_event_id("claim-email", credential_id)
        # The token exists only in the email; the claim keeps its hash. A retry after a crash
        # mints a new one, so the link in the last email sent is the one that works.
        token = secrets.token_urlsafe(32)
        await self.claims.update_one(
            {"_id": credential_id, "status": "pending"},
            {"$set": {"token_hash": token_hash(token)}},
        )
        message = self.compose(claim, token, notification_id)
        try:
            await self.mailer.send(message)
        except PermanentDeliveryError as refused:
            failed = Envelope.wrap(
                NotificationFailedV1(
                    notification_id=notification_id,
                    credential_id=credential_id,
                    learner_id=claim["learner_id"],
                    reason=str(refused),
                    permanent=True,
                    failed_at=datetime.now(UTC),
                ),
                source=SOURCE,
                subject=credential_id,
                tenant=envelope.tenant,
                event_id=deterministic_event_id("notification-failed", notification_id),
            )
            update = append_to_outbox(failed)
            update["$set"].update({"status": "failed", "failure": str(refused)})
            await self.claims.update_one({"_id": credential_id, "status": "pending"}, update)
            log.warning("claim.email_refused", credential_id=credential_id, reason=str(refused))
            return
        sent_at = datetime.now(UTC)
        event = Envelope.wrap(
            NotificationSentV1(
                notification_id=notification_id,
                credential_id=credential_id,
                learner_id=claim["learner_id"],
                message_id=str(message["Message-ID"]),
                sent_at=sent_at,
            ),
            source=SOURCE,
            subject=credential_id,
            tenant=envelope.tenant,
            event_id=deterministic_event_id("notification-sent", notification_id),
            time=sent_at,
        )
        update = append_to_outbox(event)
        update["$set"].update(
            {"status": "sent", "sent_at": sent_at, "message_id": str(message["Message-ID"])}
        )
        await self.claims.update_one({"_id": credential_id, "status": "pending"}, update)
        log.info("claim.emailed", credential_id=credential_id)

    def claim_url(self, token: str) -> str:
        return f"{self.public_url.rstrip('/')}/claim/{token}"

    def compose(self, claim: Document, token: str, notification_id: str) -> EmailMessage:
        learner = claim["learner"]
        context = {
            "learner_name": learner["name"],
            "locale": learner.get("locale", "en"),
            "institution_name": claim["institution_name"],
            "title": claim["title"],
            "claim_url": self.claim_url(token),
            "expires_on": claim["expires_at"].date().isoformat(),
        }
        message = EmailMessage()
        message["Subject"] = f"Your micro-credential: {claim['title']}"
        message["From"] = self.mail_from
        message["To"] = formataddr((learner["name"], learner["email"]))
        # Stable per credential, so a copy sent again after a crash is recognisably the same.
        message["Message-ID"] = f"<{notification_id}@microcred>"
        message.set_content(templates.get_template("claim.txt.j2").render(context))
        message.add_alternative(
            templates.get_template("claim.html.j2").render(context), subtype="html"
        )
        return message

    async def claim_for(self, token: str) -> Document | None:
        """The claim a token opens, if the token is well-formed, known and not expired."""
        if not TOKEN_PATTERN.fullmatch(token):
            return None
        claim: Document | None = await self.claims.find_one(
            {"token_hash": token_hash(token), "status": "sent"}, {"outbox": 0}
        )
        if claim is None or claim["expires_at"] < datetime.now(UTC):
            return None
        return claim
