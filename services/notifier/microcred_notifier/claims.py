"""Claiming: a link opens the claim, the learner consents, passes the institution's check, takes it.

Every way a link can fail — made up, expired, replaced by a resend, already used, its e-mail
failed — looks the same from outside, and changes nothing but the client's failure count.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from microcred_notifier.handlers import CLAIMED, SENT, Notifier, token_hash
from microcred_notifier.policy import PrivacyTerms, SecondCheck, default_terms
from microcred_notifier.throttle import Throttle
from microcred_shared.logging import get_logger
from microcred_shared.mail import PermanentDeliveryError
from microcred_shared.metrics import EMAILS_SENT
from microcred_shared.mongo import Document

log = get_logger(__name__)

TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{43}$")
CODE_PATTERN = re.compile(r"^[0-9]{6}$")
#: One-time codes one claim may be sent per hour.
CODES_PER_HOUR = 5
TOKEN_SCOPE = "claim-token"  # noqa: S105 - a counter's name
CODE_SCOPE = "claim-code"


def translatable(message: str) -> str:
    """Marks a message the pages show translated (``_(error)``); the text stays English here."""
    return message


class CodeRefusedError(Exception):
    """The one-time code is wrong, expired or spent; the message says which, for the learner."""


class CodeNotSentError(Exception):
    """The code e-mail could not be sent (too many asked, or the relay failed)."""


@dataclass(frozen=True)
class OpenClaim:
    """A claim its link opened: what the pages show, and what the institution asks."""

    claim: Document
    token_hash: str
    terms: PrivacyTerms
    second_check: SecondCheck

    @property
    def credential_id(self) -> str:
        return str(self.claim["_id"])

    @property
    def revoked(self) -> bool:
        return self.claim.get("revoked_at") is not None

    @property
    def consented(self) -> bool:
        consent = self.claim.get("consent")
        return isinstance(consent, dict) and consent.get("terms_version") == self.terms.version


def _code_hash(credential_id: str, code: str) -> str:
    return hashlib.sha256(f"{credential_id}|{code}".encode()).hexdigest()


@dataclass
class ClaimDesk:
    notifier: Notifier
    throttle: Throttle

    @property
    def claims(self) -> Any:
        return self.notifier.claims

    async def open(self, token: str, client: str) -> OpenClaim | None:
        """The claim ``token`` opens now, or None; a miss counts against ``client``."""
        await self.throttle.check(TOKEN_SCOPE, client)
        wanted = token_hash(token) if TOKEN_PATTERN.fullmatch(token) else None
        claim: Document | None = None
        if wanted is not None:
            claim = await self.claims.find_one(
                {"token_hash": wanted, "status": SENT}, {"outbox": 0}
            )
        if (
            claim is None
            or wanted is None
            or not hmac.compare_digest(str(claim.get("token_hash", "")), wanted)
            or claim["expires_at"] < datetime.now(UTC)
        ):
            await self.throttle.failed(TOKEN_SCOPE, client)
            return None
        policies = self.notifier.policies
        settings = await policies.get(claim["institution_id"])
        terms = settings.privacy_terms or default_terms(claim["institution_name"])
        return OpenClaim(claim, wanted, terms, settings.second_check)

    async def consent(self, opened: OpenClaim, terms_version: str, client: str) -> bool:
        """Record consent to the terms shown; False if they changed since (show them again)."""
        if terms_version != opened.terms.version:
            return False
        given = {"terms_version": opened.terms.version, "at": datetime.now(UTC), "client": client}
        result = await self.claims.update_one(
            {"_id": opened.credential_id, "token_hash": opened.token_hash, "status": SENT},
            {"$set": {"consent": given}, "$push": {"consents": given}},
        )
        return bool(result.matched_count)

    async def send_code(self, opened: OpenClaim) -> None:
        """E-mail a new one-time code (the previous one stops working)."""
        now = datetime.now(UTC)
        hour_ago = now - timedelta(hours=1)
        sent_times = [
            t for t in opened.claim.get("code_sends", []) if t.replace(tzinfo=UTC) > hour_ago
        ]
        if len(sent_times) >= CODES_PER_HOUR:
            raise CodeNotSentError(translatable("too many codes were asked for in the last hour"))
        code = f"{secrets.randbelow(10**6):06d}"
        minutes = self.notifier.settings.code_valid_minutes
        result = await self.claims.update_one(
            {"_id": opened.credential_id, "token_hash": opened.token_hash, "status": SENT},
            {
                "$set": {
                    "code": {
                        "hash": _code_hash(opened.credential_id, code),
                        "expires_at": now + timedelta(minutes=minutes),
                        "attempts": 0,
                    },
                    "code_sends": [*sent_times, now],
                }
            },
        )
        if not result.matched_count:
            raise CodeNotSentError(translatable("the claim changed; open the link again"))
        try:
            await self.notifier.mailer.send(self.notifier.compose_code(opened.claim, code, minutes))
            EMAILS_SENT.labels("claim_code").inc()
        except PermanentDeliveryError as exc:
            log.warning("claim.code_refused", credential_id=opened.credential_id, reason=str(exc))
            raise CodeNotSentError(
                translatable("the code could not be e-mailed to you; contact the institution")
            ) from exc
        except Exception as exc:
            log.warning("claim.code_not_sent", credential_id=opened.credential_id, exc_info=True)
            raise CodeNotSentError(
                translatable("the mail server did not take the code; try again")
            ) from exc

    async def check_code(self, opened: OpenClaim, code: str, client: str) -> None:
        """Accept the right code once; count a wrong one (against the claim and the client)."""
        await self.throttle.check(CODE_SCOPE, client)
        kept = opened.claim.get("code")
        if not isinstance(kept, dict):
            raise CodeRefusedError(translatable("ask for a code first"))
        if kept["attempts"] >= self.notifier.settings.code_attempts:
            raise CodeRefusedError(translatable("this code was tried too often; ask for a new one"))
        if kept["expires_at"] < datetime.now(UTC):
            raise CodeRefusedError(translatable("this code has expired; ask for a new one"))
        given = code.strip().replace(" ", "")
        if CODE_PATTERN.fullmatch(given) and hmac.compare_digest(
            kept["hash"], _code_hash(opened.credential_id, given)
        ):
            await self.claims.update_one(
                {"_id": opened.credential_id, "status": SENT},
                {"$set": {"code.passed_at": datetime.now(UTC)}},
            )
            return
        await self.claims.update_one(
            {"_id": opened.credential_id, "code.hash": kept["hash"]},
            {"$inc": {"code.attempts": 1}},
        )
        await self.throttle.failed(CODE_SCOPE, client)
        raise CodeRefusedError(translatable("that code is not right"))

    async def take(self, opened: OpenClaim, how: str) -> bool:
        """Mark the claim used: its link stops working; the credential is the learner's now."""
        result = await self.claims.update_one(
            {"_id": opened.credential_id, "token_hash": opened.token_hash, "status": SENT},
            {
                "$set": {"status": CLAIMED, "claimed_at": datetime.now(UTC), "claimed_by": how},
                "$unset": {"token_hash": "", "code": ""},
            },
        )
        if result.modified_count:
            log.info("claim.taken", credential_id=opened.credential_id, second_check=how)
        return bool(result.modified_count)
