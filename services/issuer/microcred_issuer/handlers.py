"""The issuer's use cases: sign one credential per award, revoke it, and verify credentials."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal
from uuid import uuid4

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from microcred_issuer.contexts import DATA_INTEGRITY_V2, VC_V2
from microcred_issuer.credential import (
    DID_KEY_PREFIX,
    VerificationError,
    build_credential,
    build_pathway_credential,
    credential_id_for,
    did_key,
    did_key_method,
    institution_did,
    public_key_of_did_key,
    sign_jwt,
    verification_method_id,
    verify_jwt,
)
from microcred_issuer.dataintegrity import (
    ASSERTION_METHOD,
    DataIntegrityError,
    ProofOptions,
    UndefinedTermsError,
    create_proof,
    proofs_of,
    undefined_terms,
    verify_proof,
)
from microcred_issuer.dataintegrity import sign as sign_data_integrity
from microcred_issuer.institutions import Registry
from microcred_issuer.keys import KeyStore, SigningKey
from microcred_issuer.statuslist import ENTRY_TYPE, Purpose, StatusEntry, StatusLists
from microcred_shared.contracts import Envelope
from microcred_shared.contracts.envelope import deterministic_event_id
from microcred_shared.contracts.events import (
    AwardRevokedV1,
    CompetenceAwardedV1,
    CredentialIssuedV1,
    CredentialRevokedV1,
    InstitutionRef,
    LearnerProfile,
    PathwayAwardedV1,
)
from microcred_shared.crypto import KeyCipher
from microcred_shared.kafka import RawEventPublisher, RefusedEventError
from microcred_shared.logging import get_logger
from microcred_shared.mongo import Document
from microcred_shared.outbox import append_to_outbox, ensure_outbox_index, flush, outbox_fields

__all__ = ["Issuer", "credential_id_for"]

log = get_logger(__name__)

SOURCE = "/microcred/issuer"

#: A credential's status, as its status list bits say (revocation wins over suspension).
#: Credentials issued before status lists existed carry no ``credentialStatus``: their stored
#: document says whether they were revoked.
Status = Literal["active", "revoked", "suspended"]
ACTIVE: Final = "active"
REVOKED: Final = "revoked"
SUSPENDED: Final = "suspended"

#: Rounds of revoking before the record is left to be retried (two settle every interleaving).
REVOCATION_ROUNDS = 3

#: Builds the unsigned credential from its id and its issuance time.
CredentialBuilder = Callable[[str, datetime], dict[str, Any]]


@dataclass(frozen=True)
class Issuance:
    """What signing one award's credential needs, whatever kind of award it is."""

    award_id: str
    kind: Literal["competence", "pathway"]
    learner_id: str
    learner: LearnerProfile
    institution: InstitutionRef
    title: str
    build: CredentialBuilder
    #: Further fields of the stored document (what the award was made of).
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Issuer:
    """The issuer's use cases over its database, its publisher and its secrets.

    ``credential_id_key`` (``credential.credential_id_key`` of the master key) derives the id of
    each award's credential: the same for every redelivery, and unguessable, since whoever
    holds a credential's id can fetch all of it (see ``credential.credential_id_for``).
    """

    database: AsyncDatabase[Document]
    publisher: RawEventPublisher
    cipher: KeyCipher
    public_url: str
    credential_id_key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        self.keys = KeyStore(self.database["keys"], self.cipher)
        self.institutions = Registry(self.database["institutions"])
        self.status_lists = StatusLists(self.database, self.keys, self.public_url, self.did)

    @property
    def credentials(self) -> Any:
        """One document per award (``_id`` = award id): its credential, or its tombstone."""
        return self.database["credentials"]

    async def ensure_indexes(self) -> None:
        await self.credentials.create_index("credential_id", unique=True)
        await ensure_outbox_index(self.credentials)
        await self.status_lists.ensure_indexes()

    def did(self, institution_id: str) -> str:
        return institution_did(self.public_url, institution_id)

    def credential_id_for(self, award_id: str) -> str:
        """The id the award's credential gets when issued here (keyed, unguessable).

        A credential issued before ids were keyed has another id: ``credential_ids`` reads the
        ids of awards already issued as they were stored.
        """
        return credential_id_for(self.credential_id_key, award_id)

    async def credential_ids(self, award_ids: Iterable[str]) -> dict[str, str]:
        """The id of each award's credential, as stored (or the one it will be issued with).

        A tombstone holds the id its credential would have had; a credential issued before ids
        were keyed keeps its own.
        """
        ids: dict[str, str] = {}
        for award_id in award_ids:
            # One read by ``_id`` each (a pathway stacks a few): an indexed lookup everywhere.
            stored = await self.credentials.find_one({"_id": award_id}, {"credential_id": 1})
            ids[award_id] = (
                str(stored["credential_id"]) if stored else self.credential_id_for(award_id)
            )
        return ids

    # --- registering (onboarding) --------------------------------------------------------------

    async def register(
        self, institution_id: str, *, name: str, country: str, competences: Iterable[str]
    ) -> SigningKey:
        """Register an institution to sign for, with its first key (idempotent); its active key.

        The key comes first: a registered institution always has one (a crash in between
        leaves a key and no record, and registering again finishes).
        """
        key = await self.keys.first_key(institution_id)
        await self.institutions.register(
            institution_id, name=name, country=country, competences=competences
        )
        log.info("institution.registered", institution_id=institution_id, key_id=key.key_id)
        return key

    async def _refuse_unknown(self, institution_id: str, competence_id: str | None = None) -> None:
        """Refuse (to the dead-letter topic) an award the issuer does not sign for."""
        reason = await self.institutions.refusal(institution_id, competence_id)
        if reason is not None:
            raise RefusedEventError(reason)

    # --- issuing -------------------------------------------------------------------------------

    async def on_competence_awarded(self, envelope: Envelope[CompetenceAwardedV1]) -> None:
        """Sign the award's credential once; a redelivery only re-publishes what is unsent.

        Refused (``RefusedEventError``: to the dead-letter topic, nothing stored) when the
        institution is not registered here or the competence is not one of its registered ones.
        """
        award = envelope.data
        await self._refuse_unknown(envelope.tenant, award.competence.id)
        did = self.did(envelope.tenant)
        await self._issue_once(
            envelope,
            Issuance(
                award_id=award.award_id,
                kind="competence",
                learner_id=award.learner_id,
                learner=award.learner,
                institution=award.institution,
                title=award.competence.title,
                build=lambda credential_id, issued_at: build_credential(
                    award, credential_id, did, issued_at
                ),
            ),
        )

    async def on_pathway_awarded(self, envelope: Envelope[PathwayAwardedV1]) -> None:
        """Sign a completed pathway's credential once, as the awarding institution (the tenant).

        Refused when the awarding institution, or that of an award it stacks, is not registered.
        """
        award = envelope.data
        await self._refuse_unknown(envelope.tenant)
        for stacked in award.stacked:
            await self._refuse_unknown(stacked.institution.id)
        did = self.did(envelope.tenant)
        # The stacked credentials are named by their stored ids: ones issued before ids were
        # keyed keep theirs.
        stacked_ids = await self.credential_ids(s.award_id for s in award.stacked)
        await self._issue_once(
            envelope,
            Issuance(
                award_id=award.award_id,
                kind="pathway",
                learner_id=award.learner_id,
                learner=award.learner,
                institution=award.institution,
                title=award.pathway.title,
                build=lambda credential_id, issued_at: build_pathway_credential(
                    award,
                    credential_id,
                    did,
                    issued_at,
                    did_of=self.did,
                    credential_id_of=stacked_ids.__getitem__,
                ),
                extra={
                    "pathway_id": award.pathway.id,
                    "stacked_award_ids": [s.award_id for s in award.stacked],
                },
            ),
        )

    async def _issue_once(self, envelope: Envelope[Any], issuance: Issuance) -> None:
        """Store the signed credential with its credential-issued event, unless revoked first.

        The award's document is the one place where issuing and revoking meet: whichever of the
        two writes it first wins, atomically, so a revocation read before its award (the topics
        are consumed apart) leaves a tombstone that this refuses to sign over.
        """
        award_id = issuance.award_id
        stored = await self._stored(award_id)
        if stored is None:
            try:
                await self.credentials.insert_one(await self._signed(envelope, issuance))
                log.info("credential.issued", award_id=award_id, kind=issuance.kind)
            except DuplicateKeyError:
                # A redelivery racing this one, or a revocation that just left its tombstone.
                stored = await self._stored(award_id)
        if stored is not None and stored.get("tombstone"):
            if stored["institution_id"] == envelope.tenant:
                log.info(
                    "credential.withheld",
                    award_id=award_id,
                    kind=issuance.kind,
                    reason="the award was revoked before its credential was issued",
                )
                return
            # The revocation that left it named another institution: it could not be checked
            # when it came (there was nothing to check it against), and must change nothing.
            replaced = await self.credentials.replace_one(
                {"_id": award_id, "tombstone": True, "institution_id": stored["institution_id"]},
                await self._signed(envelope, issuance),
            )
            if replaced.modified_count:
                log.warning(
                    "revocation.foreign_tombstone_ignored",
                    award_id=award_id,
                    revoked_by=stored["institution_id"],
                    institution_id=envelope.tenant,
                )
        await flush(self.credentials, award_id, self.publisher)

    async def _stored(self, award_id: str) -> Document | None:
        document: Document | None = await self.credentials.find_one(
            {"_id": award_id}, {"tombstone": 1, "institution_id": 1}
        )
        return document

    async def _signed(self, envelope: Envelope[Any], issuance: Issuance) -> Document:
        """The award's credential document: signed, with its credential-issued event."""
        # The institution is registered (checked on the way in), so it has a key; should every
        # key have been revoked since, a new one is made rather than the award stalled.
        key = await self.keys.first_key(envelope.tenant)
        kid = verification_method_id(self.did(envelope.tenant), key)
        credential_id = self.credential_id_for(issuance.award_id)
        issued_at = datetime.now(UTC).replace(microsecond=0)
        unsigned = issuance.build(credential_id, issued_at)
        # The entries are the award's (a redelivery gets the same ones) and go inside what is
        # signed: the proof vouches for where the credential's status is published.
        status_entries = await self.status_lists.allocate(envelope.tenant, issuance.award_id)
        unsigned["credentialStatus"] = self.status_lists.entries_for(
            envelope.tenant, status_entries
        )
        try:
            # The stored and published credential carries its Data Integrity proof (an array,
            # as 1EdTech's schema wants); the VC-JWT secures the same credential unproved.
            credential = sign_data_integrity(
                unsigned, key.private_key, ProofOptions(kid, issued_at)
            )
        except DataIntegrityError as exc:
            # Terms no context defines, say: signing it would vouch for what no proof covers.
            raise RefusedEventError(f"credential of award {issuance.award_id}: {exc}") from exc
        token = sign_jwt(unsigned, key, kid)
        event = Envelope.wrap(
            CredentialIssuedV1(
                credential_id=credential_id,
                award_id=issuance.award_id,
                learner_id=issuance.learner_id,
                learner=issuance.learner,
                institution=issuance.institution,
                achievement_title=issuance.title,
                issued_at=issued_at,
                credential=credential,
                credential_jwt=token,
                verification_method=kid,
            ),
            source=SOURCE,
            subject=credential_id,
            tenant=envelope.tenant,
            event_id=deterministic_event_id("credential-issued", issuance.award_id),
            time=issued_at,
        )
        return {
            "_id": issuance.award_id,
            "credential_id": credential_id,
            "kind": issuance.kind,
            "institution_id": envelope.tenant,
            "learner_id": issuance.learner_id,
            "status": ACTIVE,
            "status_entries": {
                purpose: {"list": entry.list_number, "index": entry.index}
                for purpose, entry in status_entries.items()
            },
            "credential": credential,
            "credential_jwt": token,
            "verification_method": kid,
            "issued_at": issued_at,
            **issuance.extra,
            **outbox_fields([event]),
        }

    # --- the VC-API: signing a credential given by an institution admin ----------------------

    async def institution_of(self, issuer_id: str, candidates: Iterable[str]) -> tuple[str, bool]:
        """The institution whose identifier ``issuer_id`` is, and whether it is the ``did:key``.

        ``issuer_id`` is an institution's ``did:web`` or the ``did:key`` of its active key; a
        ``did:key`` is looked for among ``candidates`` (the caller's institutions) first, then
        among every institution's keys. Raises ``UnknownIssuerError`` saying why otherwise.
        """
        if issuer_id.startswith("did:web:"):
            institution_id = issuer_id.rsplit(":", 1)[-1]
            if issuer_id != self.did(institution_id):
                raise UnknownIssuerError(
                    f"{issuer_id} is not a did:web of this issuer (its institutions' DIDs are "
                    f"{self.did('<institution>')})"
                )
            return institution_id, False
        if not issuer_id.startswith(DID_KEY_PREFIX):
            raise UnknownIssuerError(
                f"issuer {issuer_id!r} must be an institution's did:web or the did:key of its "
                "active key"
            )
        try:
            public_key_of_did_key(issuer_id)
        except ValueError as exc:
            raise UnknownIssuerError(str(exc)) from exc
        multibase = issuer_id.removeprefix(DID_KEY_PREFIX)
        found = await self.database["keys"].find_one(
            {"public_multibase": multibase}, {"_id": 1, "institution_id": 1}
        )
        names = [
            *candidates,
            *([] if found is None else [str(found.get("institution_id", found["_id"]))]),
        ]
        for institution_id in names:
            active = await self.keys.public_keys(institution_id)
            if any(did_key(k.private_key.public_key()) == issuer_id for k in active):
                return institution_id, True
        raise UnknownIssuerError(f"{issuer_id} is no institution's key here")

    async def sign_for_api(
        self, credential: Mapping[str, Any], institution_id: str, *, by_did_key: bool
    ) -> dict[str, Any]:
        """``credential`` signed (eddsa-rdfc-2022) with the institution's active key.

        The proof's verification method is the key's ``did:key`` method when the credential's
        issuer is that ``did:key``, else the institution's ``did:web`` key; its issuer must be
        the key's (``UnknownIssuerError`` otherwise). Credentials issued by the ``did:web``
        without a ``credentialStatus`` get the institution's revocation and suspension entries
        (published by the same ``did:web``, as verifiers check). ``proof`` is a single object,
        or an array when the credential came with proofs. Raises ``DataIntegrityError`` for
        terms no context defines.
        """
        reason = await self.institutions.refusal(institution_id)
        if reason is not None:
            raise UnknownIssuerError(reason)
        key = await self.keys.active_key(institution_id)
        public_key = key.private_key.public_key()
        if by_did_key:
            if _issuer_id(credential) != did_key(public_key):
                raise UnknownIssuerError(
                    f"{_issuer_id(credential)} is not the did:key of the institution's active "
                    f"key ({did_key(public_key)})"
                )
            method = did_key_method(public_key)
        else:
            method = verification_method_id(self.did(institution_id), key)
        unsigned = {k: v for k, v in credential.items() if k != "proof"}
        contexts = unsigned.get("@context")
        contexts = contexts if isinstance(contexts, list) else [contexts]
        if VC_V2 not in contexts and DATA_INTEGRITY_V2 not in contexts:
            # A VC 1.1 credential: its context does not define the proof's terms, so the Data
            # Integrity context is added (vc-di-eddsa, "Add Proof"), as other issuers do.
            unsigned["@context"] = [*contexts, DATA_INTEGRITY_V2]
        if not by_did_key and "credentialStatus" not in unsigned:
            # Refuse undefined terms before drawing indices that would then stay unused.
            terms = undefined_terms(unsigned)
            if terms:
                raise UndefinedTermsError("the credential", terms)
            entries = await self.status_lists.allocate(institution_id, f"vc-api:{uuid4()}")
            unsigned["credentialStatus"] = self.status_lists.entries_for(institution_id, entries)
        issued_at = datetime.now(UTC).replace(microsecond=0)
        proof = create_proof(unsigned, key.private_key, ProofOptions(method, issued_at))
        existing = credential.get("proof")
        if existing is None:
            return {**unsigned, "proof": proof}
        return {**unsigned, "proof": [*_as_list(existing), proof]}

    # --- revoking ------------------------------------------------------------------------------

    async def on_award_revoked(self, envelope: Envelope[AwardRevokedV1]) -> None:
        """Revoke the award's credential once, with its credential-revoked event.

        The credential is found by its award (the document's ``_id``), and the event names it by
        its stored id, so a credential issued before ids were keyed is revoked all the same. A
        revocation of an award not issued yet leaves a tombstone, so that the award, when it
        comes, yields no credential. One for another institution's award is refused.
        """
        revocation = envelope.data
        award_id = revocation.award_id
        revoked_at = datetime.now(UTC).replace(microsecond=0)
        # Each round ends in a state change or a finding, except when the award's credential was
        # stored meanwhile (after the read, or before the tombstone could be): that happens
        # once per award, so the next round settles it.
        for _ in range(REVOCATION_ROUNDS):
            stored: Document | None = await self.credentials.find_one(
                {"_id": award_id},
                {"institution_id": 1, "learner_id": 1, "status": 1, "credential_id": 1},
            )
            if stored is None:
                if await self._left_tombstone(
                    envelope, self.credential_id_for(award_id), revoked_at
                ):
                    return
                continue
            if stored["institution_id"] != envelope.tenant:
                raise RefusedEventError(
                    f"award {award_id} is not an award of institution {envelope.tenant}"
                )
            if stored["learner_id"] != revocation.learner_id:
                raise RefusedEventError(
                    f"award {award_id} is not an award of learner {revocation.learner_id}"
                )
            if stored.get("status") == REVOKED:
                # Revoked already (a redelivery), or a tombstone: only what is unsent goes out.
                break
            credential_id = str(stored["credential_id"])
            # The filter guards the transition: only an issued, unrevoked credential of this
            # institution and learner, with the id the event names, changes, so a redelivery
            # appends no second event.
            result = await self.credentials.update_one(
                {
                    "_id": award_id,
                    "credential_id": credential_id,
                    "institution_id": envelope.tenant,
                    "learner_id": revocation.learner_id,
                    "tombstone": {"$ne": True},
                    "status": {"$ne": REVOKED},
                },
                _revoking(envelope, credential_id, revoked_at),
            )
            if result.modified_count:
                log.info("credential.revoked", award_id=award_id)
                break
        else:
            # Raised, the record is retried after a pause: nothing is skipped.
            raise RuntimeError(f"the credential of award {award_id} kept changing; retrying")
        # The public truth: the revocation bit. Set after the document says revoked (so a crash
        # in between is redelivered to here) and before the event goes out, so whoever hears of
        # the revocation finds it in the list. Setting a set bit changes nothing.
        await self._flip_status(award_id, "revocation", on=True)
        await flush(self.credentials, award_id, self.publisher)

    async def _flip_status(self, award_id: str, purpose: Purpose, *, on: bool) -> bool:
        """Set or clear the award's credential's bit in a list; True if it changed."""
        stored: Document | None = await self.credentials.find_one(
            {"_id": award_id}, {"institution_id": 1, "status_entries": 1}
        )
        entries = (stored or {}).get("status_entries")
        if stored is None or not entries:
            return False  # a tombstone, or a credential issued before status lists
        lists = self.status_lists
        flip = lists.set_bit if on else lists.clear_bit
        entry = StatusEntry(int(entries[purpose]["list"]), int(entries[purpose]["index"]))
        changed = await flip(stored["institution_id"], purpose, entry)
        if changed:
            log.info("credential.status_bit_changed", award_id=award_id, purpose=purpose, set=on)
        return changed

    # --- suspending ----------------------------------------------------------------------------

    async def suspend(self, institution_id: str, credential_id: str, *, suspended: bool) -> bool:
        """Set (or lift) a suspension of one of the institution's credentials.

        Idempotent. False if the institution issued no such credential (another institution's
        included, so that it learns nothing of it); ``ValueError`` for a credential issued
        before status lists (it has no suspension bit).
        """
        document: Document | None = await self.credentials.find_one(
            {
                "credential_id": credential_id,
                "institution_id": institution_id,
                "tombstone": {"$ne": True},
            },
            {"status_entries": 1},
        )
        if document is None:
            return False
        if not document.get("status_entries"):
            raise ValueError("this credential was issued without a status list entry")
        await self._flip_status(str(document["_id"]), "suspension", on=suspended)
        return True

    async def _left_tombstone(
        self, envelope: Envelope[AwardRevokedV1], credential_id: str, revoked_at: datetime
    ) -> bool:
        """Record a revocation that came before its award; False if the award came meanwhile."""
        revocation = envelope.data
        try:
            await self.credentials.insert_one(
                {
                    "_id": revocation.award_id,
                    # The id the award's credential would get; keeping it holds its place.
                    "credential_id": credential_id,
                    "kind": revocation.award_kind,
                    "institution_id": envelope.tenant,
                    "learner_id": revocation.learner_id,
                    "tombstone": True,
                    "status": REVOKED,
                    "revocation_reason": revocation.reason,
                    "revoked_at": revoked_at,
                }
            )
        except DuplicateKeyError:
            return False
        log.info(
            "credential.revoked_before_issue",
            award_id=revocation.award_id,
            kind=revocation.award_kind,
        )
        return True

    # --- reading and verifying -----------------------------------------------------------------

    async def credential(self, credential_id: str) -> Document | None:
        """An issued credential (revoked or not); a tombstone is no credential."""
        document: Document | None = await self.credentials.find_one(
            {"credential_id": credential_id, "tombstone": {"$ne": True}},
            {"outbox": 0, "outbox_pending": 0},
        )
        return document

    async def status(self, credential_id: str) -> CredentialStatus | None:
        """Whether an issued credential stands, was revoked (and why, and when) or is suspended.

        Read from its status list bits. The reason is for the institution and the learner:
        ``CredentialStatus.public`` leaves it out.
        """
        document = await self.credential(credential_id)
        if document is None:
            return None
        return await self._status_of(document["credential"], document)

    async def _status_of(
        self, credential: Mapping[str, Any], stored: Document | None
    ) -> CredentialStatus:
        """The status the credential's own (signed) ``credentialStatus`` entries point to.

        Each ``BitstringStatusListEntry`` must name one of its issuer's lists here; the bit is
        read from the stored list (what its published credential shows). A credential without
        entries (issued before status lists) has the status its stored document records.
        Raises ``StatusCheckError`` when the status cannot be told.
        """
        entries = credential.get("credentialStatus")
        if entries is None:
            return credential_status(stored) if stored is not None else CredentialStatus(ACTIVE)
        entries = entries if isinstance(entries, list) else [entries]
        issuer_id = _issuer_id(credential)
        found: dict[str, bool] = {}
        for entry in entries:
            if not isinstance(entry, Mapping) or entry.get("type") != ENTRY_TYPE:
                raise StatusCheckError(
                    "unsupported credentialStatus (not a BitstringStatusListEntry)"
                )
            named = self.status_lists.list_of(str(entry.get("statusListCredential", "")))
            if named is None or named[1] != entry.get("statusPurpose"):
                raise StatusCheckError("credentialStatus names an unknown status list")
            institution_id, purpose, list_number = named
            if issuer_id not in await self.dids_of(institution_id):
                raise StatusCheckError("the status list is not the issuer's")
            try:
                at = StatusEntry(list_number, int(str(entry.get("statusListIndex"))))
                found[purpose] = await self.status_lists.is_set(institution_id, purpose, at)
            except ValueError as exc:
                raise StatusCheckError(f"bad statusListIndex: {exc}") from exc
        if found.get("revocation"):
            revoked = credential_status(stored) if stored is not None else None
            if revoked is not None and revoked.status == REVOKED:
                return revoked
            return CredentialStatus(REVOKED)
        if found.get("suspension"):
            return CredentialStatus(SUSPENDED)
        return CredentialStatus(ACTIVE)

    async def dids_of(self, institution_id: str) -> set[str]:
        """The institution's identifiers: its ``did:web`` and the ``did:key`` of each key."""
        keys = await self.keys.public_keys(institution_id)
        return {self.did(institution_id)} | {did_key(k.private_key.public_key()) for k in keys}

    async def verify(
        self, presented: str | Mapping[str, Any], *, foreign_status: bool = False
    ) -> dict[str, Any]:
        """Verify a credential: a VC-JWT (a string) or JSON-LD with a Data Integrity proof.

        ``checks`` reports each check: ``signature`` (the proof or JWS verifies), ``issuer``
        (the DID of the credential's issuer, once its own key is found to have signed it),
        ``status`` (``active``, ``revoked`` or ``suspended``, read from the bits of the status
        lists its ``credentialStatus`` names) and ``dates`` (``validFrom`` has come and
        ``validUntil`` has not passed). A credential that fails one is not verified; ``failed``
        names the check and ``error`` says why. A revoked credential's answer says when it was
        revoked (``revocation``), not why: anyone may ask. A suspended one fails ``status``
        (``error`` "suspended") while suspended, and verifies again once the suspension is lifted.

        Signers are this issuer's institutions: their ``did:web`` keys, and the ``did:key`` of
        their keys not revoked; other signers are refused ("unknown issuer"). With
        ``foreign_status`` (the VC-API), any ``did:key`` may sign, and ``credentialStatus``
        entries this issuer cannot check (another kind of status, or another issuer's list) are
        reported in ``warnings`` rather than failing ``status``.
        """
        checks: dict[str, Any] = {"signature": False, "issuer": None, "status": None, "dates": None}
        if isinstance(presented, str):
            proof_format = "vc-jwt"
            credential, failed, error = await self._signed_by_its_issuer(
                presented, checks, any_did_key=foreign_status
            )
        else:
            proof_format = "data-integrity"
            credential, failed, error = await self._proved_by_its_issuer(
                presented, checks, any_did_key=foreign_status
            )
        answer: dict[str, Any] = {"verified": False, "format": proof_format, "checks": checks}
        if credential is None:
            return {**answer, "failed": failed, "error": error}
        dates_error = _dates_error(credential, datetime.now(UTC))
        checks["dates"] = dates_error is None
        stored = await self.credential(str(credential.get("id", "")))
        try:
            status = await self._status_of(credential, stored)
        except StatusCheckError as exc:
            if not foreign_status:
                return {**answer, "failed": "status", "error": str(exc), "credential": credential}
            answer["warnings"] = [f"credentialStatus not checked: {exc}"]
            status = CredentialStatus(ACTIVE)
        checks["status"] = status.status
        if status.status == REVOKED:
            return {
                **answer,
                "failed": "status",
                "error": "revoked",
                "revocation": status.public(),
                "credential": credential,
            }
        if status.status == SUSPENDED:
            return {**answer, "failed": "status", "error": "suspended", "credential": credential}
        if dates_error is not None:
            return {**answer, "failed": "dates", "error": dates_error, "credential": credential}
        return {**answer, "verified": True, "credential": credential}

    async def resolve_method(
        self, method: str, *, any_did_key: bool = False
    ) -> tuple[str, Ed25519PublicKey | None, str]:
        """The DID a verification method belongs to, and its public key; else None and why.

        A ``did:web`` resolves only when it is one of this issuer's institutions (nothing is
        fetched). A ``did:key`` resolves locally (an Ed25519 Multikey), but only as one of a
        registered institution's keys that is not revoked, unless ``any_did_key`` (the W3C
        VC-API, whose verifiers accept any signer): anyone can make a did:key, and a credential
        of one must never pass here for an institution's. Any other method is refused.
        """
        did, _, fragment = method.partition("#")
        if did.startswith(DID_KEY_PREFIX):
            return await self._resolve_did_key(did, method, any_did_key=any_did_key)
        if not did.startswith("did:web:"):
            scheme = ":".join(did.split(":")[:2]) if did.startswith("did:") else did
            return (
                did,
                None,
                (
                    f"unknown issuer: unsupported DID method {scheme!r} (this verifier resolves "
                    "did:key and this issuer's own did:web)"
                ),
            )
        institution_id = did.rsplit(":", 1)[-1]
        if not fragment or did != self.did(institution_id):
            return did, None, "unknown issuer"
        keys = {k.key_id: k for k in await self.keys.public_keys(institution_id)}
        key = keys.get(fragment)
        if key is None:
            return did, None, "unknown key"
        return did, key.private_key.public_key(), ""

    async def _resolve_did_key(
        self, did: str, method: str, *, any_did_key: bool
    ) -> tuple[str, Ed25519PublicKey | None, str]:
        try:
            public_key = public_key_of_did_key(method)
        except ValueError as exc:
            return did, None, str(exc)
        if not any_did_key and not await self._institutions_key(did):
            return did, None, "unknown issuer: not a key of an institution of this issuer"
        return did, public_key, ""

    async def _institutions_key(self, did_key: str) -> bool:
        """Whether ``did_key`` is one of a registered institution's keys, not revoked."""
        found = await self.database["keys"].find_one(
            {
                "public_multibase": did_key.removeprefix(DID_KEY_PREFIX),
                "status": {"$ne": "revoked"},
            },
            {"institution_id": 1},
        )
        return (
            found is not None and await self.institutions.get(found["institution_id"]) is not None
        )

    async def _signed_by_its_issuer(
        self, token: str, checks: dict[str, Any], *, any_did_key: bool = False
    ) -> tuple[dict[str, Any] | None, str, str]:
        """The credential, if its issuer's key signed it; else None, the failed check and why.

        The key is the one its ``kid`` names, resolved here, and its controller must be the
        credential's issuer. ``checks`` is filled in as far as the token gets.
        """
        from joserfc.jws import extract_compact  # noqa: PLC0415

        try:
            kid = str(extract_compact(token.encode()).headers().get("kid", ""))
        except Exception as exc:  # noqa: BLE001 - any malformed token is simply invalid
            return None, "signature", f"malformed token: {exc}"
        did, key, error = await self.resolve_method(kid, any_did_key=any_did_key)
        if key is None:
            return None, "issuer", error
        try:
            credential = verify_jwt(token, key)
        except VerificationError as exc:
            return None, "signature", str(exc)
        issuer_id = _issuer_id(credential)
        checks.update(signature=True, issuer=issuer_id)
        if issuer_id != did:
            return None, "issuer", "issuer differs from signer"
        return credential, "", ""

    async def _proved_by_its_issuer(
        self, credential: Mapping[str, Any], checks: dict[str, Any], *, any_did_key: bool = False
    ) -> tuple[dict[str, Any] | None, str, str]:
        """The credential, if each of its ``eddsa-rdfc-2022`` proofs is its issuer's.

        Every such proof must verify with the key its ``verificationMethod`` names, one of the
        credential issuer's own keys, for ``assertionMethod``.
        """
        proofs = proofs_of(credential)
        if not proofs:
            return None, "signature", "no DataIntegrityProof with the eddsa-rdfc-2022 cryptosuite"
        issuer_id = _issuer_id(credential)
        signers: set[str] = set()
        for proof in proofs:
            did, key, error = await self.resolve_method(
                str(proof.get("verificationMethod", "")), any_did_key=any_did_key
            )
            if key is None:
                return None, "issuer", error
            if proof.get("proofPurpose") != ASSERTION_METHOD:
                return None, "signature", "the proof's purpose is not assertionMethod"
            try:
                verify_proof(credential, proof, key)
            except DataIntegrityError as exc:
                return None, "signature", str(exc)
            signers.add(did)
        checks.update(signature=True, issuer=issuer_id)
        # Every proof verified; the issuer's must be among them (a proof set may add others').
        if issuer_id not in signers:
            return None, "issuer", "issuer differs from signer"
        return dict(credential), "", ""


def _revoking(
    envelope: Envelope[AwardRevokedV1], credential_id: str, revoked_at: datetime
) -> dict[str, Any]:
    """The update that revokes a stored credential, with its credential-revoked event."""
    revocation = envelope.data
    event = Envelope.wrap(
        CredentialRevokedV1(
            credential_id=credential_id,
            award_id=revocation.award_id,
            learner_id=revocation.learner_id,
            reason=revocation.reason,
            revoked_at=revoked_at,
        ),
        source=SOURCE,
        subject=credential_id,
        tenant=envelope.tenant,
        event_id=deterministic_event_id("credential-revoked", revocation.award_id),
        time=revoked_at,
    )
    outbox = append_to_outbox(event)
    return {
        "$set": {
            **outbox["$set"],
            "status": REVOKED,
            "revocation_reason": revocation.reason,
            "revoked_at": revoked_at,
        },
        "$push": outbox["$push"],
    }


class UnknownIssuerError(ValueError):
    """A credential's issuer is none of this issuer's institutions (or not the signing key)."""


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _issuer_id(credential: Mapping[str, Any]) -> str | None:
    """The issuer's id: a string, or None when the credential names none (or no single one)."""
    issuer = credential.get("issuer", {})
    issuer_id = issuer.get("id") if isinstance(issuer, dict) else issuer
    return issuer_id if isinstance(issuer_id, str) else None


def _dates_error(credential: Mapping[str, Any], now: datetime) -> str | None:
    """Why the credential is not valid at ``now`` (``validFrom``/``validUntil``), or None."""
    for field_name in ("validFrom", "validUntil", "expirationDate"):
        value = credential.get(field_name)
        if value is None:
            continue
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError:
            return f"{field_name} is not a date-time: {value!r}"
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        if field_name == "validFrom" and moment > now:
            return f"not valid yet: validFrom is {value}"
        if field_name in {"validUntil", "expirationDate"} and moment <= now:
            return f"expired: validUntil was {value}"
    return None


class StatusCheckError(ValueError):
    """The credential's status cannot be told from what its ``credentialStatus`` names."""


@dataclass(frozen=True)
class CredentialStatus:
    status: Status
    reason: str | None = None
    revoked_at: datetime | None = None

    def public(self) -> dict[str, Any]:
        """What anyone may see of it: the status and when it was revoked.

        Never the reason: an administrator's free text ("the certificate is forged") that may
        quote the learner's evidence, while anyone a credential was ever shown to may ask.
        """
        return {
            "status": self.status,
            "revoked_at": None
            if self.revoked_at is None
            else self.revoked_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }


def credential_status(document: Document) -> CredentialStatus:
    if document.get("status") == REVOKED:
        return CredentialStatus(REVOKED, document["revocation_reason"], document["revoked_at"])
    return CredentialStatus(ACTIVE)
