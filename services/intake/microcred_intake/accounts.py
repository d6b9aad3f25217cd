"""Accounts: registration, e-mail verification, login, sessions, password reset, roles, tokens."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import secrets
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from http import HTTPStatus
from typing import Annotated, Any, Literal, Self

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from joserfc import jwt
from joserfc.jwk import KeySet, OKPKey
from pydantic import BaseModel, ConfigDict, StringConstraints, model_validator
from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from microcred_shared.auth import TOKEN_AUDIENCE, TOKEN_ISSUER, Membership, Principal, Role
from microcred_shared.contracts.envelope import InstitutionId
from microcred_shared.contracts.events import Email, Locale, ShortText
from microcred_shared.crypto import KeyCipher
from microcred_shared.http import ProblemError
from microcred_shared.logging import get_logger
from microcred_shared.mail import Mailer
from microcred_shared.metrics import EMAILS_SENT
from microcred_shared.mongo import Document

log = get_logger(__name__)

# Argon2id with OWASP's recommended cost (19 MiB, two passes, one lane) rather than the library's
# default (RFC 9106's second choice: 64 MiB, three passes, four lanes). A hash holds its memory
# while it runs: at 64 MiB, eight sign-ups at once took intake past 500 MiB. One hash runs at a
# time per process (about 20 ms of CPU each here, so some 50 sign-ins a second per instance; more
# instances for more), which keeps intake under its 150 MB budget. A hash made with other
# parameters still verifies, and is made again with these at the next sign-in.
hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
HASHING_SLOTS = 1
# Its own thread, so waiting sign-ins queue here and not in the pool S3 transfers use.
_hashing = ThreadPoolExecutor(max_workers=HASHING_SLOTS, thread_name_prefix="argon2")

Password = Annotated[str, StringConstraints(min_length=10, max_length=128)]
TokenPurpose = Literal["verify", "reset"]


class Registration(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    email: Email
    password: Password
    name: ShortText
    institution_id: InstitutionId
    locale: Locale = "en"

    @model_validator(mode="after")
    def _password_is_not_the_email(self) -> Self:
        if self.password.strip().lower() == self.email.lower():
            raise ValueError("the password must not be the e-mail address")
        return self


class Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email
    password: Annotated[str, StringConstraints(min_length=1, max_length=128)]


class ResetRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email


class NewPassword(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: Annotated[str, StringConstraints(min_length=20, max_length=100)]
    password: Password


class MembershipGrant(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email
    role: Role


def normalise_email(email: str) -> str:
    return email.strip().lower()


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


@dataclass
class SigningKeys:
    """Intake's token-signing key: Ed25519, created once, sealed at rest."""

    collection: Any
    cipher: KeyCipher

    async def active(self) -> tuple[str, OKPKey]:
        document = await self.collection.find_one({"_id": "access-tokens"})
        if document is None:
            private = Ed25519PrivateKey.generate()
            raw = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
            candidate = {
                "_id": "access-tokens",
                "kid": f"intake-{uuid.uuid4().hex[:12]}",
                "sealed": self.cipher.seal(raw, b"access-tokens"),
                "created_at": datetime.now(UTC),
            }
            try:
                await self.collection.insert_one(candidate)
                document = candidate
            except DuplicateKeyError:
                document = await self.collection.find_one({"_id": "access-tokens"})
        raw = self.cipher.open(bytes(document["sealed"]), b"access-tokens")
        key = OKPKey.import_key(Ed25519PrivateKey.from_private_bytes(raw))
        return document["kid"], key

    async def public_set(self) -> dict[str, Any]:
        kid, key = await self.active()
        public = key.as_dict(private=False)
        public.update({"kid": kid, "alg": "EdDSA", "use": "sig"})
        return {"keys": [public]}

    async def key_set(self) -> KeySet:
        return KeySet.import_key_set(await self.public_set())  # type: ignore[arg-type]


@dataclass
class Accounts:
    database: AsyncDatabase[Document]
    keys: SigningKeys
    mailer: Mailer
    mail_from: str
    public_url: str
    access_token_minutes: int
    session_hours: int
    verification_hours: int
    reset_minutes: int
    login_attempts_per_15_minutes: int
    resets_per_hour: int
    _background: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def users(self) -> Any:
        return self.database["users"]

    @property
    def sessions(self) -> Any:
        return self.database["sessions"]

    @property
    def email_tokens(self) -> Any:
        return self.database["email_tokens"]

    @property
    def rate_limits(self) -> Any:
        return self.database["rate_limits"]

    async def ensure_indexes(self) -> None:
        await self.users.create_index("email", unique=True)
        await self.users.create_index("memberships.institution")
        await self.sessions.create_index("expires_at", expireAfterSeconds=0)
        await self.email_tokens.create_index("expires_at", expireAfterSeconds=0)
        await self.rate_limits.create_index("expires_at", expireAfterSeconds=0)
        await self.users.create_index([("created_at", ASCENDING)])

    # --- users --------------------------------------------------------------------------------

    async def ensure_first_admin(self, email: str, password: str) -> None:
        """The platform's first administrator, so that someone can onboard institutions."""
        try:
            await self.users.insert_one(
                {
                    "_id": str(uuid.uuid4()),
                    "email": normalise_email(email),
                    "name": "Platform administrator",
                    "password_hash": await hash_password(password),
                    "email_verified": True,
                    "platform_admin": True,
                    "memberships": [],
                    "locale": "en",
                    "created_at": datetime.now(UTC),
                }
            )
        except DuplicateKeyError:
            return
        log.info("accounts.first_admin_created")

    async def register(self, registration: Registration) -> Document:
        """Create an unverified learner account and e-mail the verification link.

        Registering an address that exists reveals nothing: the same answer is given, and the
        owner of the address is told by e-mail instead.
        """
        email = normalise_email(registration.email)
        user: Document = {
            "_id": str(uuid.uuid4()),
            "email": email,
            "name": registration.name,
            "password_hash": await hash_password(registration.password),
            "email_verified": False,
            "platform_admin": False,
            "memberships": [{"institution": registration.institution_id, "role": "learner"}],
            "locale": registration.locale,
            "created_at": datetime.now(UTC),
        }
        try:
            await self.users.insert_one(user)
        except DuplicateKeyError:
            existing = await self.users.find_one({"email": email})
            await self._send(
                existing or user,
                "Someone tried to register with your address",
                "An account with this address exists already. If it was you, log in or reset "
                f"your password at {self.public_url}/auth/password-reset.",
            )
            return {"status": "pending_verification"}
        token = await self._issue_email_token(user["_id"], "verify", self.verification_hours * 60)
        await self._send(
            user,
            "Confirm your e-mail address",
            f"Welcome to microcred, {user['name']}.\n\nConfirm your address to activate your "
            f"account:\n\n  {self.public_url}/auth/verify/{token}\n",
        )
        return {"status": "pending_verification"}

    async def verify_email(self, token: str) -> Document:
        user_id = await self._consume_email_token(token, "verify")
        await self.users.update_one({"_id": user_id}, {"$set": {"email_verified": True}})
        user: Document = await self.users.find_one({"_id": user_id})
        return user

    async def authenticate(self, credentials: Credentials, client: str) -> Document:
        email = normalise_email(credentials.email)
        # Every attempt is counted before the password is checked (so concurrent guesses cannot
        # slip past the limit), and a success takes its count back: guessing is throttled,
        # using is not.
        limit_key = f"{email}|{client}"
        await self._limit("login", limit_key, self.login_attempts_per_15_minutes, 900)
        user = await self.users.find_one({"email": email})
        # The same work whether or not the account exists: no timing oracle.
        stored_hash = user["password_hash"] if user is not None else _dummy_hash()
        if not await verify_password(stored_hash, credentials.password):
            user = None
        if user is None:
            raise ProblemError(
                HTTPStatus.UNAUTHORIZED, "Login failed", "wrong e-mail address or password"
            )
        if not user["email_verified"]:
            raise ProblemError(
                HTTPStatus.FORBIDDEN,
                "E-mail not verified",
                "follow the link in the e-mail we sent you first",
            )
        await self._count("login", limit_key, 900, -1)
        if hasher.check_needs_rehash(user["password_hash"]):
            await self.users.update_one(
                {"_id": user["_id"]},
                {"$set": {"password_hash": await hash_password(credentials.password)}},
            )
        authenticated: Document = user
        return authenticated

    async def request_reset(self, request: ResetRequest, client: str) -> None:
        email = normalise_email(request.email)
        await self._limit("reset", f"{email}|{client}", self.resets_per_hour, 3600)
        user = await self.users.find_one({"email": email})
        if user is None:
            return  # the same answer either way: accounts are not enumerable
        # Sent after the answer, so that its timing tells nothing about the account either.
        task = asyncio.create_task(self._send_reset(user))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _send_reset(self, user: Document) -> None:
        try:
            token = await self._issue_email_token(user["_id"], "reset", self.reset_minutes)
            await self._send(
                user,
                "Reset your password",
                f"Choose a new password here (valid for {self.reset_minutes} minutes):\n\n"
                f"  {self.public_url}/auth/password-reset/{token}\n\n"
                "If you did not ask for this, ignore this message.",
            )
        except Exception:
            log.warning("accounts.reset_mail_failed", exc_info=True)

    async def reset_password(self, request: NewPassword) -> None:
        user_id = await self._consume_email_token(request.token, "reset")
        await self.users.update_one(
            {"_id": user_id},
            {
                "$set": {
                    "password_hash": await hash_password(request.password),
                    "email_verified": True,
                }
            },
        )
        # Every session of the account ends: whoever knew the old password is out.
        await self.sessions.delete_many({"user_id": user_id})

    async def grant(self, institution_id: str, grant: MembershipGrant) -> Document:
        membership = {"institution": institution_id, "role": grant.role}
        email = normalise_email(grant.email)
        result = await self.users.update_one(
            {"email": email}, {"$addToSet": {"memberships": membership}}
        )
        if result.matched_count == 0:
            raise ProblemError(HTTPStatus.NOT_FOUND, "Unknown account", grant.email)
        user: Document = await self.users.find_one({"email": email})
        return user

    async def user(self, user_id: str) -> Document | None:
        document: Document | None = await self.users.find_one({"_id": user_id})
        return document

    async def user_by_email(self, email: str) -> Document | None:
        document: Document | None = await self.users.find_one(
            {"email": normalise_email(email)}, {"name": 1, "email": 1, "memberships": 1}
        )
        return document

    async def names(self, user_ids: Iterable[str]) -> dict[str, str]:
        """The names of these accounts, by id (unknown ids are left out)."""
        wanted = sorted(set(user_ids))
        if not wanted:
            return {}
        cursor = self.users.find({"_id": {"$in": wanted}}, {"name": 1})
        return {document["_id"]: document["name"] async for document in cursor}

    # --- tokens and sessions -----------------------------------------------------------------

    async def access_token(self, user: Document) -> tuple[str, int]:
        lifetime = self.access_token_minutes * 60
        return await self.token_for(principal_of(user), lifetime), lifetime

    async def token_for(self, principal: Principal, lifetime_seconds: int) -> str:
        """An access token speaking for ``principal``, valid for ``lifetime_seconds``.

        The pages use short-lived ones to call other services (review) for the signed-in user.
        """
        kid, key = await self.keys.active()
        now = int(datetime.now(UTC).timestamp())
        claims = {
            "iss": TOKEN_ISSUER,
            "aud": TOKEN_AUDIENCE,
            "sub": principal.user_id,
            "iat": now,
            "exp": now + lifetime_seconds,
            "jti": uuid.uuid4().hex,
            "email": principal.email,
            "name": principal.name,
            "roles": [m.model_dump() for m in principal.memberships],
            "padm": principal.platform_admin,
        }
        header = {"alg": "EdDSA", "kid": kid, "typ": "at+jwt"}
        return jwt.encode(header, claims, key, algorithms=["EdDSA"])

    async def open_session(self, user: Document) -> tuple[str, str]:
        """A browser session: the cookie's value and the session's CSRF token."""
        session_id, csrf = new_token(), new_token()
        await self.sessions.insert_one(
            {
                "_id": digest(session_id),
                "user_id": user["_id"],
                "csrf": csrf,
                "expires_at": datetime.now(UTC) + timedelta(hours=self.session_hours),
            }
        )
        return session_id, csrf

    async def session(self, session_id: str) -> tuple[Principal, str] | None:
        record = await self.sessions.find_one({"_id": digest(session_id)})
        if record is None or record["expires_at"] <= datetime.now(UTC):
            return None
        user = await self.user(record["user_id"])
        if user is None:
            return None
        return principal_of(user), record["csrf"]

    async def close_session(self, session_id: str) -> None:
        await self.sessions.delete_one({"_id": digest(session_id)})

    # --- e-mail tokens, rate limits, mail ----------------------------------------------------

    async def _issue_email_token(self, user_id: str, purpose: TokenPurpose, minutes: int) -> str:
        token = new_token()
        await self.email_tokens.insert_one(
            {
                "_id": digest(token),
                "user_id": user_id,
                "purpose": purpose,
                "expires_at": datetime.now(UTC) + timedelta(minutes=minutes),
            }
        )
        return token

    async def _consume_email_token(self, token: str, purpose: TokenPurpose) -> str:
        key = {"_id": digest(token), "purpose": purpose}
        record = await self.email_tokens.find_one(key)
        # Deleting it is what uses it: of two clicks at once, only one deletes it.
        used = record is not None and (await self.email_tokens.delete_one(key)).deleted_count == 1
        if record is None or not used or record["expires_at"] <= datetime.now(UTC):
            raise ProblemError(
                HTTPStatus.BAD_REQUEST, "Invalid or expired link", "ask for a new one"
            )
        user_id: str = record["user_id"]
        return user_id

    def _counter(self, action: str, key: str, window_seconds: int) -> tuple[str, int]:
        now = int(datetime.now(UTC).timestamp())
        retry_after = window_seconds - now % window_seconds
        return f"{action}:{digest(key)}:{now // window_seconds}", retry_after

    async def _refuse_if_over(self, action: str, key: str, limit: int, window_seconds: int) -> None:
        counter_id, retry_after = self._counter(action, key, window_seconds)
        counter = await self.rate_limits.find_one({"_id": counter_id})
        if counter is not None and counter["count"] >= limit:
            raise ProblemError(
                HTTPStatus.TOO_MANY_REQUESTS,
                "Too many attempts",
                f"try again in {retry_after} seconds",
                retry_after=retry_after,
            )

    async def _count(self, action: str, key: str, window_seconds: int, step: int = 1) -> int:
        counter_id, _ = self._counter(action, key, window_seconds)
        await self.rate_limits.update_one(
            {"_id": counter_id},
            {
                "$inc": {"count": step},
                "$setOnInsert": {
                    "expires_at": datetime.now(UTC) + timedelta(seconds=window_seconds)
                },
            },
            upsert=True,
        )
        counter = await self.rate_limits.find_one({"_id": counter_id})
        return int(counter["count"]) if counter is not None else 0

    async def _limit(self, action: str, key: str, limit: int, window_seconds: int) -> None:
        """Count an attempt, refusing it once ``limit`` were made in the window."""
        await self._refuse_if_over(action, key, limit, window_seconds)
        if await self._count(action, key, window_seconds) > limit:
            await self._refuse_if_over(action, key, limit, window_seconds)

    async def _send(self, user: Document, subject: str, text: str) -> None:
        message = EmailMessage()
        message["Subject"] = f"microcred: {subject}"
        message["From"] = self.mail_from
        message["To"] = user["email"]
        message.set_content(text)
        await self.mailer.send(message)
        # Address confirmations and password resets.
        EMAILS_SENT.labels("account").inc()


def principal_of(user: Document) -> Principal:
    return Principal(
        user_id=user["_id"],
        email=user["email"],
        name=user["name"],
        memberships=tuple(Membership.model_validate(m) for m in user.get("memberships", [])),
        platform_admin=bool(user.get("platform_admin")),
    )


@functools.cache
def _dummy_hash() -> str:
    return hasher.hash(secrets.token_urlsafe(16))


async def hash_password(password: str) -> str:
    """Argon2id in a hashing thread: its CPU time must not stall the event loop."""
    return await asyncio.get_running_loop().run_in_executor(_hashing, hasher.hash, password)


async def verify_password(stored_hash: str, password: str) -> bool:
    def check() -> bool:
        try:
            return hasher.verify(stored_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    return await asyncio.get_running_loop().run_in_executor(_hashing, check)
