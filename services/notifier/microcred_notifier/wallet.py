"""The learner's side after claiming: wallet sessions, and share links that show what they chose.

A wallet session comes from claiming (it knows only the learner) or from signing in at intake
(it also carries the person's roles, so an institution's admins see its deliveries). Share links
are public by design: anyone with one sees the fields its learner picked, and whether the
credential still stands; never the credential's id, which is its full-disclosure link.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from microcred_shared.auth import Principal
from microcred_shared.mongo import Document

#: What a share link may show, in the order shown; the title, the institution, the issue date
#: and the verification status are always shown.
SHAREABLE: tuple[str, ...] = (
    "learner_name",
    "learner_email",
    "description",
    "learning_outcomes",
    "workload",
    "levels",
    "assessment",
    "participation",
    "activity_period",
    "stacked",
    "evidence",
)
#: Shown unless the learner unticks them: what an employer needs, nothing that reaches the person
#: (an address) or tells more than the credential's purpose (the evidence, the dates).
DEFAULT_SHARED = frozenset(SHAREABLE) - {"learner_email", "activity_period", "evidence"}
SHARES_PER_CREDENTIAL = 50
LINKEDIN_ADD = "https://www.linkedin.com/profile/add"


def chosen_fields(ticked: list[str]) -> list[str]:
    """The shareable fields among ``ticked``, in display order; anything else is ignored."""
    wanted = set(ticked)
    return [name for name in SHAREABLE if name in wanted]


def linkedin_url(
    *, title: str, organisation: str, issued_at: datetime, share_url: str, share_id: str
) -> str:
    """LinkedIn's add-to-profile link for a certification, prefilled."""
    query = {
        "startTask": "CERTIFICATION_NAME",
        "name": title,
        "organizationName": organisation,
        "issueYear": str(issued_at.year),
        "issueMonth": str(issued_at.month),
        "certUrl": share_url,
        "certId": share_id,
    }
    return f"{LINKEDIN_ADD}?{urlencode(query)}"


@dataclass(frozen=True)
class WalletSession:
    """Who the browser is; ``scope`` names the only credentials it may see (None: all theirs).

    A session from signing in at intake sees the person's whole wallet. One from claiming sees
    only what was claimed in that browser: a forwarded claim link, with no second check, must
    not open the learner's other credentials.
    """

    principal: Principal
    csrf: str
    kind: str
    scope: tuple[str, ...] | None = None

    @property
    def user_id(self) -> str:
        return self.principal.user_id

    def owned(self) -> Document:
        """The filter of the claims this session may see."""
        query: Document = {"learner_id": self.user_id}
        if self.scope is not None:
            query["_id"] = {"$in": list(self.scope)}
        return query


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass
class Sessions:
    database: AsyncDatabase[Document]
    hours: float

    @property
    def sessions(self) -> AsyncCollection[Document]:
        return self.database["sessions"]

    async def ensure_indexes(self) -> None:
        await self.sessions.create_index("expires_at", expireAfterSeconds=0)

    async def open(self, principal: Principal, kind: str, scope: list[str] | None = None) -> str:
        """A new session for ``principal``; the cookie's value (only its hash is kept)."""
        session_id = secrets.token_urlsafe(32)
        await self.sessions.insert_one(
            {
                "_id": _hash(session_id),
                "principal": principal.model_dump(mode="json"),
                "csrf": secrets.token_urlsafe(24),
                "kind": kind,
                "scope": scope,
                "expires_at": datetime.now(UTC) + timedelta(hours=self.hours),
            }
        )
        return session_id

    async def get(self, session_id: str | None) -> WalletSession | None:
        if not session_id or len(session_id) > 100:  # noqa: PLR2004
            return None
        found = await self.sessions.find_one({"_id": _hash(session_id)})
        if found is None or found["expires_at"] < datetime.now(UTC):
            return None
        scope = found.get("scope")
        return WalletSession(
            Principal.model_validate(found["principal"]),
            found["csrf"],
            found["kind"],
            tuple(scope) if isinstance(scope, list) else None,
        )

    async def widen(self, session_id: str, credential_id: str) -> None:
        """Let a claiming session see one more credential (claimed in the same browser)."""
        await self.sessions.update_one(
            {"_id": _hash(session_id), "scope": {"$ne": None}},
            {"$addToSet": {"scope": credential_id}},
        )

    async def close(self, session_id: str | None) -> None:
        if session_id:
            await self.sessions.delete_one({"_id": _hash(session_id)})


class ShareLimitError(Exception):
    """Too many share links on one credential."""


@dataclass
class Shares:
    database: AsyncDatabase[Document]

    @property
    def shares(self) -> AsyncCollection[Document]:
        return self.database["shares"]

    async def ensure_indexes(self) -> None:
        await self.shares.create_index([("credential_id", 1), ("created_at", -1)])

    async def create(self, claim: Document, fields: list[str], label: str) -> Document:
        count = await self.shares.count_documents(
            {"credential_id": claim["_id"], "revoked_at": None}
        )
        if count >= SHARES_PER_CREDENTIAL:
            raise ShareLimitError(f"at most {SHARES_PER_CREDENTIAL} links per credential")
        share = {
            "_id": secrets.token_urlsafe(16),
            "credential_id": claim["_id"],
            "learner_id": claim["learner_id"],
            "institution_id": claim["institution_id"],
            "fields": chosen_fields(fields),
            "label": label.strip()[:80],
            "created_at": datetime.now(UTC),
            "revoked_at": None,
        }
        await self.shares.insert_one(share)
        return share

    async def of(self, credential_id: str) -> list[Document]:
        found = self.shares.find({"credential_id": credential_id}).sort("created_at", -1)
        return [share async for share in found]

    async def get(self, share_id: str) -> Document | None:
        if not share_id or len(share_id) > 64:  # noqa: PLR2004
            return None
        return await self.shares.find_one({"_id": share_id})

    async def revoke(self, credential_id: str, share_id: str) -> bool:
        result = await self.shares.update_one(
            {"_id": share_id, "credential_id": credential_id, "revoked_at": None},
            {"$set": {"revoked_at": datetime.now(UTC)}},
        )
        return bool(result.modified_count)

    async def for_linkedin(self, claim: Document, label: str) -> Document:
        """The credential's LinkedIn link: the one made before, else a new one (default fields)."""
        kept = await self.shares.find_one(
            {"credential_id": claim["_id"], "purpose": "linkedin", "revoked_at": None}
        )
        if kept is not None:
            return kept
        share = await self.create(claim, sorted(DEFAULT_SHARED), label)
        await self.shares.update_one({"_id": share["_id"]}, {"$set": {"purpose": "linkedin"}})
        return share
