"""The notifier's delivery: one claim e-mail per credential, retried until sent or given up.

A claim is created once per credential (its id is the key). Sending goes through a lease: a send
first marks the claim ``sending`` until a deadline and mints the link's token (only its hash is
kept), then talks to the relay, then records the outcome with its event (the outbox). A redelivered
credential-issued finds the claim sent and sends nothing; a notifier killed mid-send leaves the
lease, which expires and is taken again by the periodic round, so the e-mail still goes out once.

Once the relay has accepted the message, recording that is retried through a database outage for
as long as the lease holds: a record given up there would expire the lease and send the e-mail
again. The one gap no SMTP client can close (RFC 1047): a crash after the relay accepted the
message and before the claim records it sends it again on restart. The Message-ID stays the
same, so a relay or a mail client can drop the copy; the later link is the one that works.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ConnectionFailure, DuplicateKeyError

from microcred_notifier.policy import ClaimSettings, Policies, retry_delay
from microcred_notifier.settings import NotifierSettings
from microcred_notifier.texts import gettext, long_date, render
from microcred_shared.contracts import Envelope
from microcred_shared.contracts.envelope import deterministic_event_id
from microcred_shared.contracts.events import (
    CredentialIssuedV1,
    CredentialRevokedV1,
    NotificationFailedV1,
    NotificationSentV1,
)
from microcred_shared.i18n import spoken
from microcred_shared.kafka import RawEventPublisher, RefusedEventError
from microcred_shared.logging import get_logger
from microcred_shared.mail import Mailer, PermanentDeliveryError
from microcred_shared.metrics import EMAILS_FAILED, EMAILS_SENT
from microcred_shared.mongo import Document
from microcred_shared.outbox import append_to_outbox, ensure_outbox_index, flush

log = get_logger(__name__)

SOURCE = "/microcred/notifier"

# Claim states: the e-mail is awaited (``unsent``), its link works (``sent``), the learner took
# the credential (``claimed``), the e-mail failed for good (``failed``), or the credential was
# revoked before any e-mail went out (``withheld``).
UNSENT, SENT, CLAIMED, FAILED, WITHHELD = "unsent", "sent", "claimed", "failed", "withheld"
# Delivery states of the current e-mail: waiting for its turn, being sent, done, given up.
DUE, SENDING, DELIVERED, GAVE_UP = "due", "sending", "delivered", "gave_up"
#: Claims whose link may be (re)sent.
RESENDABLE = (SENT, FAILED)
#: Pause between tries to record an accepted e-mail while the database cannot be reached.
RECORD_RETRY_SECONDS = 0.5


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def reference(credential_id: str) -> str:
    """The credential's short name in the notifier's URLs: the tail of ``urn:uuid:<uuid>``."""
    return credential_id.rsplit(":", 1)[-1]


class ResendRefusedError(Exception):
    """The claim cannot be sent again (claimed, withheld, or asked too recently)."""


@dataclass
class Notifier:
    database: AsyncDatabase[Document]
    publisher: RawEventPublisher
    mailer: Mailer
    settings: NotifierSettings

    def __post_init__(self) -> None:
        self.policies = Policies(self.database, self.settings.claim_valid_days)

    @property
    def claims(self) -> AsyncCollection[Document]:
        return self.database["claims"]

    async def ensure_indexes(self) -> None:
        await self.claims.create_index("token_hash", sparse=True)
        await self.claims.create_index("reference", unique=True, sparse=True)
        await self.claims.create_index([("learner_id", 1), ("issued_at", -1)])
        await self.claims.create_index([("delivery.state", 1), ("delivery.next_at", 1)])
        await self.claims.create_index([("institution_id", 1), ("delivery.state", 1)])
        await ensure_outbox_index(self.claims)

    # --- Kafka ---------------------------------------------------------------------------------

    async def on_credential_issued(self, envelope: Envelope[CredentialIssuedV1]) -> None:
        """Keep the claim and e-mail its link once; a redelivery sends nothing more."""
        issued = envelope.data
        now = datetime.now(UTC)
        claim = {
            "_id": issued.credential_id,
            "reference": reference(issued.credential_id),
            "institution_id": envelope.tenant,
            "learner_id": issued.learner_id,
            "learner": issued.learner.model_dump(),
            "institution": issued.institution.model_dump(mode="json"),
            "institution_name": issued.institution.name,
            "title": issued.achievement_title,
            "credential": issued.credential,
            "credential_jwt": issued.credential_jwt,
            "verification_method": issued.verification_method,
            "issued_at": issued.issued_at,
            "created_at": now,
            "status": UNSENT,
            "generation": 1,
            "delivery": _due(now, now + self.deadline),
        }
        try:
            await self.claims.insert_one(claim)
        except DuplicateKeyError:
            known = await self.claims.find_one({"_id": issued.credential_id}, {"institution_id": 1})
            if known is None:
                # Another credential whose id ends the same (its URL name) came first.
                raise RefusedEventError(
                    f"credential {issued.credential_id}: its reference is another credential's"
                ) from None
            if known["institution_id"] != envelope.tenant:
                raise RefusedEventError(
                    f"credential {issued.credential_id} is not {envelope.tenant}'s"
                ) from None
            await self._complete_withheld(issued, claim)
        await self.deliver(issued.credential_id)

    async def _complete_withheld(self, issued: CredentialIssuedV1, claim: Document) -> None:
        """A revocation read before its credential left a bare mark: keep the credential too."""
        fields = {k: v for k, v in claim.items() if k not in {"_id", "status", "delivery"}}
        await self.claims.update_one(
            {"_id": issued.credential_id, "credential": {"$exists": False}}, {"$set": fields}
        )

    async def on_credential_revoked(self, envelope: Envelope[CredentialRevokedV1]) -> None:
        """A revoked credential's e-mail is not sent; a link already sent says so."""
        revoked = envelope.data
        mark = {"revoked_at": revoked.revoked_at}
        unsent = await self.claims.update_one(
            {
                "_id": revoked.credential_id,
                "institution_id": envelope.tenant,
                "status": UNSENT,
                "delivery.state": DUE,
            },
            {"$set": {**mark, "status": WITHHELD, "delivery.state": GAVE_UP}},
        )
        if unsent.matched_count:
            log.info("claim.withheld", credential_id=revoked.credential_id)
            return
        known = await self.claims.update_one(
            {"_id": revoked.credential_id, "institution_id": envelope.tenant}, {"$set": mark}
        )
        if known.matched_count:
            return
        try:
            await self.claims.insert_one(
                {
                    "_id": revoked.credential_id,
                    "institution_id": envelope.tenant,
                    "learner_id": revoked.learner_id,
                    "status": WITHHELD,
                    "delivery": {"state": GAVE_UP},
                    **mark,
                }
            )
        except DuplicateKeyError as exists:
            claim = await self.claims.find_one(
                {"_id": revoked.credential_id}, {"institution_id": 1}
            )
            if claim is not None and claim["institution_id"] != envelope.tenant:
                raise RefusedEventError(
                    f"credential {revoked.credential_id} is not {envelope.tenant}'s"
                ) from exists
            await self.on_credential_revoked(envelope)

    # --- delivery ------------------------------------------------------------------------------

    @property
    def deadline(self) -> timedelta:
        return timedelta(hours=self.settings.delivery_deadline_hours)

    async def deliver(self, credential_id: str) -> None:
        """Send the claim's e-mail if it is due (or its last send was interrupted)."""
        now = datetime.now(UTC)
        lease_until = now + timedelta(seconds=self.settings.sending_lease_seconds)
        token = secrets.token_urlsafe(32)
        taken = await self.claims.update_one(
            {
                "_id": credential_id,
                "credential": {"$exists": True},
                # Revoked while a retry was pending: the e-mail would announce a dead credential.
                "revoked_at": None,
                "$or": [
                    {"delivery.state": DUE, "delivery.next_at": {"$lte": now}},
                    {"delivery.state": SENDING, "delivery.lease_until": {"$lte": now}},
                ],
            },
            {
                "$set": {
                    "delivery.state": SENDING,
                    "delivery.lease_until": lease_until,
                    "token_hash": token_hash(token),
                },
                "$inc": {"delivery.attempts": 1},
            },
        )
        if taken.modified_count:
            claim = await self.claims.find_one({"_id": credential_id}, {"outbox": 0})
            if claim is not None:
                await self._send(claim, token, lease_until)
        await flush(self.claims, credential_id, self.publisher)

    async def _send(self, claim: Document, token: str, lease_until: datetime) -> None:
        credential_id = claim["_id"]
        generation = int(claim.get("generation", 1))
        notification_id = deterministic_event_id("claim-email", f"{credential_id}#{generation}")
        settings = await self.policies.get(claim["institution_id"])
        valid_days = settings.claim_valid_days or self.policies.default_valid_days
        expires_at = datetime.now(UTC) + timedelta(days=valid_days)
        message = self.compose(claim, settings, token, notification_id, expires_at)
        held = {
            "_id": credential_id,
            "delivery.state": SENDING,
            "delivery.lease_until": lease_until,
        }
        try:
            await self.mailer.send(message)
        except PermanentDeliveryError as refused:
            await self._give_up(claim, held, notification_id, str(refused), permanent=True)
            return
        except Exception as exc:  # noqa: BLE001 - any other failure is worth retrying
            await self._retry_later(claim, held, notification_id, _describe(exc))
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
            tenant=claim["institution_id"],
            event_id=deterministic_event_id("notification-sent", notification_id),
            time=sent_at,
        )
        update = append_to_outbox(event)
        update["$set"].update(
            {
                "status": SENT,
                "expires_at": expires_at,
                "sent_at": sent_at,
                "message_id": str(message["Message-ID"]),
                "delivery.state": DELIVERED,
                "delivery.error": None,
            }
        )
        EMAILS_SENT.labels("claim").inc()
        await self._record_accepted(held, update, lease_until)
        log.info(
            "claim.emailed", credential_id=credential_id, attempt=claim["delivery"]["attempts"]
        )

    async def _record_accepted(
        self, held: Document, update: Document, lease_until: datetime
    ) -> None:
        """Record an e-mail the relay accepted, retrying while the database is away.

        Giving up here would let the lease expire with the claim still ``sending``, and the next
        round would send the e-mail a second time. Only when the lease is about to run out is
        the failure raised: another round may take the claim from then on in any case.
        """
        while True:
            try:
                await self.claims.update_one(held, update)
            except ConnectionFailure as unreachable:
                if datetime.now(UTC) + timedelta(seconds=RECORD_RETRY_SECONDS) >= lease_until:
                    raise
                log.warning(
                    "claim.record_retried", credential_id=held["_id"], reason=str(unreachable)
                )
                await asyncio.sleep(RECORD_RETRY_SECONDS)
            else:
                return

    async def _retry_later(
        self, claim: Document, held: Document, notification_id: str, reason: str
    ) -> None:
        attempts = int(claim["delivery"].get("attempts", 1))
        wait = retry_delay(
            attempts, self.settings.retry_first_seconds, self.settings.retry_longest_seconds
        )
        next_at = datetime.now(UTC) + timedelta(seconds=wait)
        deadline = claim["delivery"].get("deadline")
        if isinstance(deadline, datetime) and next_at > deadline.replace(tzinfo=UTC):
            await self._give_up(
                claim,
                held,
                notification_id,
                f"still failing after {attempts} attempts, past the deadline: {reason}",
                permanent=False,
            )
            return
        await self.claims.update_one(
            held,
            {
                "$set": {
                    "delivery.state": DUE,
                    "delivery.next_at": next_at,
                    "delivery.error": reason,
                },
                "$unset": {"token_hash": ""},
            },
        )
        log.warning(
            "claim.email_deferred", credential_id=claim["_id"], retry_in=wait, reason=reason
        )

    async def _give_up(
        self, claim: Document, held: Document, notification_id: str, reason: str, *, permanent: bool
    ) -> None:
        failed = Envelope.wrap(
            NotificationFailedV1(
                notification_id=notification_id,
                credential_id=claim["_id"],
                learner_id=claim["learner_id"],
                reason=reason[:4000],
                permanent=permanent,
                failed_at=datetime.now(UTC),
            ),
            source=SOURCE,
            subject=claim["_id"],
            tenant=claim["institution_id"],
            event_id=deterministic_event_id("notification-failed", notification_id),
        )
        update = append_to_outbox(failed)
        update["$set"].update(
            {
                "status": FAILED,
                "delivery.state": GAVE_UP,
                "delivery.error": reason,
                "failure": reason,
            }
        )
        update["$unset"] = {"token_hash": ""}
        await self.claims.update_one(held, update)
        EMAILS_FAILED.labels("claim", str(permanent).lower()).inc()
        log.warning("claim.email_failed", credential_id=claim["_id"], reason=reason)

    async def deliver_due(self, limit: int = 100) -> int:
        """One round: every claim whose retry is due or whose send was interrupted."""
        now = datetime.now(UTC)
        due = self.claims.find(
            {
                "revoked_at": None,
                "$or": [
                    {"delivery.state": DUE, "delivery.next_at": {"$lte": now}},
                    {"delivery.state": SENDING, "delivery.lease_until": {"$lte": now}},
                ],
            },
            {"_id": 1},
            limit=limit,
        )
        count = 0
        async for claim in due:
            await self.deliver(claim["_id"])
            count += 1
        return count

    async def resend(self, credential_id: str, *, requested_by: str) -> None:
        """A new link replaces the old one at once; the e-mail follows (exactly one per ask)."""
        now = datetime.now(UTC)
        recent = now - timedelta(seconds=self.settings.resend_interval_seconds)
        asked = await self.claims.update_one(
            {
                "_id": credential_id,
                "status": {"$in": list(RESENDABLE)},
                "revoked_at": None,
                "delivery.state": {"$in": [DELIVERED, GAVE_UP]},
                "$or": [
                    {"resent_at": {"$exists": False}},
                    {"resent_at": {"$lte": recent}},
                ],
            },
            {
                "$set": {
                    "delivery": _due(now, now + self.deadline),
                    "resent_at": now,
                    "resent_by": requested_by,
                },
                "$unset": {"token_hash": "", "code": ""},
                "$inc": {"generation": 1},
            },
        )
        if not asked.modified_count:
            claim = await self.claims.find_one(
                {"_id": credential_id}, {"status": 1, "revoked_at": 1}
            )
            status = claim["status"] if claim else None
            if status in RESENDABLE and claim is not None and claim.get("revoked_at") is None:
                raise ResendRefusedError(
                    "a new link was sent moments ago, or is being sent; wait a little"
                )
            if claim is not None and claim.get("revoked_at") is not None:
                status = "revoked"
            raise ResendRefusedError(f"this credential's link cannot be sent again ({status})")
        log.info("claim.resend", credential_id=credential_id, by=requested_by)
        await self.deliver(credential_id)

    async def deliveries(self, institution_id: str, *, failing_only: bool) -> list[Document]:
        """The institution's claim e-mails, newest first: all, or those failed or being retried."""
        query: Document = {"institution_id": institution_id, "credential": {"$exists": True}}
        if failing_only:
            query["$or"] = [
                {"status": FAILED},
                {"delivery.state": DUE, "delivery.attempts": {"$gt": 0}},
            ]
        found = (
            self.claims.find(
                query,
                {"credential": 0, "credential_jwt": 0, "outbox": 0, "token_hash": 0, "code": 0},
            )
            .sort("created_at", -1)
            .limit(500)
        )
        return [claim async for claim in found]

    # --- e-mails -------------------------------------------------------------------------------

    def claim_url(self, token: str) -> str:
        return f"{self.settings.public_url.rstrip('/')}/claim/{token}"

    def compose(
        self,
        claim: Document,
        settings: ClaimSettings,
        token: str,
        notification_id: str,
        expires_at: datetime,
    ) -> EmailMessage:
        learner = claim["learner"]
        language = learner.get("locale", "en")
        context = {
            "learner_name": learner["name"],
            "institution_name": claim["institution_name"],
            "title": claim["title"],
            "claim_url": self.claim_url(token),
            "expires_on": long_date(expires_at, language),
            "has_logo": settings.logo is not None,
        }
        message = EmailMessage()
        message["Subject"] = gettext(
            language, "Your micro-credential: %(title)s", title=claim["title"]
        )
        message["From"] = self.settings.mail_from
        message["To"] = formataddr((learner["name"], learner["email"]))
        # Stable per credential and request, so a copy sent again after a crash is recognisable.
        message["Message-ID"] = f"<{notification_id}@microcred>"
        message.set_content(render("email/claim.txt.j2", language, **context))
        message.add_alternative(render("email/claim.html.j2", language, **context), subtype="html")
        message["Content-Language"] = spoken(language)
        if settings.logo is not None:
            html = next(
                part for part in message.iter_parts() if part.get_content_subtype() == "html"
            )
            maintype, subtype = settings.logo.media_type.split("/")
            html.add_related(settings.logo.data(), maintype, subtype, cid="<logo@microcred>")
        return message

    def compose_code(self, claim: Document, code: str, valid_minutes: int) -> EmailMessage:
        learner = claim["learner"]
        language = learner.get("locale", "en")
        context = {
            "learner_name": learner["name"],
            "institution_name": claim["institution_name"],
            "title": claim["title"],
            "code": code,
            "minutes": valid_minutes,
        }
        message = EmailMessage()
        subject = gettext(language, "Your code to claim %(title)s", title=claim["title"])
        message["Subject"] = subject
        message["From"] = self.settings.mail_from
        message["To"] = formataddr((learner["name"], learner["email"]))
        message["Message-ID"] = make_msgid(domain="microcred")
        message.set_content(render("email/code.txt.j2", language, **context))
        message["Content-Language"] = spoken(language)
        return message


def _due(now: datetime, deadline: datetime) -> dict[str, Any]:
    return {"state": DUE, "next_at": now, "attempts": 0, "deadline": deadline}


def _describe(exc: Exception) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
