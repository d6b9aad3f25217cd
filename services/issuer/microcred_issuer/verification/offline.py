"""Verifying a credential offline, given its issuer's DID document(s): no network, no database.

What ``microcred verify FILE --did-document DID.json`` runs. The checks and the answer are those
of ``Issuer.verify`` (``verified``, ``format``, ``checks``, ``failed``, ``error``), made with the
same proof and JWS code; only the keys come from the DID documents given instead of the issuer's
store. A key counts only if its document lists it under ``assertionMethod``, and the document's
``id`` is the DID that signed: a credential signed by a key of a DID no document was given for
fails the ``issuer`` check.

Whether the credential was revoked or suspended cannot be known offline from the credential
alone: unless the status list credentials its ``credentialStatus`` entries name are given too
(``BitstringStatusListCredential`` files, as ``/institutions/{id}/status/{purpose}`` serves them,
each verified with the same DID documents), ``checks.status`` stays ``None`` and ``notes`` says
"status not checked offline". A list given is as fresh as the file: the note says when it was
signed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from joserfc.jwk import OKPKey

from microcred_issuer.credential import VerificationError, verify_jwt
from microcred_issuer.dataintegrity import (
    ASSERTION_METHOD,
    DataIntegrityError,
    proofs_of,
    verify_proof,
)
from microcred_issuer.handlers import _dates_error
from microcred_issuer.keys import public_key_from_multibase
from microcred_issuer.statuslist import ENTRY_TYPE, bit_is_set, decode_list
from microcred_issuer.verification.inputs import Presented

STATUS_NOT_CHECKED: Final = "status not checked offline"


class DidDocumentError(ValueError):
    """A DID document that cannot be used; says why."""


@dataclass(frozen=True)
class DidDocuments:
    """The assertion keys of the DID documents given, by verification method id."""

    keys: dict[str, Ed25519PublicKey] = field(default_factory=dict)
    dids: frozenset[str] = frozenset()

    @classmethod
    def of(cls, documents: Iterable[Mapping[str, Any]]) -> DidDocuments:
        keys: dict[str, Ed25519PublicKey] = {}
        dids: set[str] = set()
        for document in documents:
            did = document.get("id")
            if not isinstance(did, str) or not did.startswith("did:"):
                raise DidDocumentError("a DID document's id must be a DID (did:…)")
            dids.add(did)
            methods = {
                _absolute(did, m.get("id")): m
                for m in _list(document.get("verificationMethod"))
                if isinstance(m, Mapping)
            }
            for entry in _list(document.get(ASSERTION_METHOD)):
                method = entry if isinstance(entry, Mapping) else methods.get(_absolute(did, entry))
                if method is None:
                    continue
                method_id = _absolute(did, method.get("id"))
                keys[method_id] = _public_key(method_id, method)
        return cls(keys, frozenset(dids))

    def key(self, method: str) -> tuple[str, Ed25519PublicKey | None, str]:
        """The DID a verification method belongs to, and its key; else why there is none."""
        did = method.partition("#")[0]
        if did not in self.dids:
            return did, None, f"unknown issuer: no DID document was given for {did or '(none)'}"
        key = self.keys.get(method)
        if key is None:
            return did, None, f"unknown key: {did}'s document has no assertion key {method}"
        return did, key, ""


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [] if value is None else [value]


def _absolute(did: str, method_id: Any) -> str:
    text = str(method_id or "")
    return f"{did}{text}" if text.startswith("#") else text


def _public_key(method_id: str, method: Mapping[str, Any]) -> Ed25519PublicKey:
    try:
        if isinstance(method.get("publicKeyMultibase"), str):
            return public_key_from_multibase(method["publicKeyMultibase"])
        jwk = method.get("publicKeyJwk")
        if isinstance(jwk, Mapping) and jwk.get("kty") == "OKP" and jwk.get("crv") == "Ed25519":
            key = OKPKey.import_key(dict(jwk)).get_op_key("verify")
            if isinstance(key, Ed25519PublicKey):
                return key
    except ValueError as exc:
        raise DidDocumentError(f"verification method {method_id}: {exc}") from exc
    raise DidDocumentError(
        f"verification method {method_id} is not an Ed25519 key (Multikey or OKP JWK)"
    )


def verify_offline(
    presented: Presented,
    documents: DidDocuments,
    status_lists: Iterable[Mapping[str, Any]] = (),
    now: datetime | None = None,
) -> dict[str, Any]:
    """Verify ``presented`` with the keys of ``documents``: signature, issuer and dates.

    And its status, if ``status_lists`` (status list credentials) hold the lists it names.
    """
    checks: dict[str, Any] = {"signature": False, "issuer": None, "status": None, "dates": None}
    if isinstance(presented, str):
        proof_format = "vc-jwt"
        credential, failed, error = _jwt(presented, documents, checks)
    else:
        proof_format = "data-integrity"
        credential, failed, error = _data_integrity(presented, documents, checks)
    notes: list[str] = []
    answer: dict[str, Any] = {
        "verified": False,
        "format": proof_format,
        "checks": checks,
        "notes": notes,
    }
    if credential is None:
        return {**answer, "failed": failed, "error": error}
    dates_error = _dates_error(credential, now or datetime.now(UTC))
    checks["dates"] = dates_error is None
    try:
        status = _status(credential, documents, list(status_lists), notes)
    except StatusListError as exc:
        return {**answer, "failed": "status", "error": str(exc), "credential": credential}
    checks["status"] = status
    if status is None:
        notes.insert(0, STATUS_NOT_CHECKED)
    elif status != "active":
        return {**answer, "failed": "status", "error": status, "credential": credential}
    if dates_error is not None:
        return {**answer, "failed": "dates", "error": dates_error, "credential": credential}
    return {**answer, "verified": True, "credential": credential}


class StatusListError(ValueError):
    """A status list given that cannot be trusted or read, or an entry that names it wrongly."""


def _status(
    credential: Mapping[str, Any],
    documents: DidDocuments,
    status_lists: list[Mapping[str, Any]],
    notes: list[str],
) -> str | None:
    """``active``, ``revoked`` or ``suspended`` as the lists given say; None if not all given."""
    entries = _list(credential.get("credentialStatus"))
    if not entries:
        notes.append("the credential names no status list")
        return None
    lists = {str(c.get("id")): c for c in status_lists}
    found: dict[str, bool] = {}
    for entry in entries:
        if not isinstance(entry, Mapping) or entry.get("type") != ENTRY_TYPE:
            raise StatusListError("unsupported credentialStatus (not a BitstringStatusListEntry)")
        url = str(entry.get("statusListCredential", ""))
        purpose = str(entry.get("statusPurpose", ""))
        status_list = lists.get(url)
        if status_list is None:
            notes.append(f"no {purpose} status list given ({url})")
            return None
        bits = _verified_bits(status_list, credential, purpose, documents)
        try:
            found[purpose] = bit_is_set(bits, int(str(entry.get("statusListIndex"))))
        except ValueError as exc:
            raise StatusListError(f"bad statusListIndex: {exc}") from exc
        issued = status_list.get("validFrom", "at an unknown time")
        notes.append(f"{purpose} status read from the list given (signed {issued})")
    if found.get("revocation"):
        return "revoked"
    if found.get("suspension"):
        return "suspended"
    return "active"


def _verified_bits(
    status_list: Mapping[str, Any],
    credential: Mapping[str, Any],
    purpose: str,
    documents: DidDocuments,
) -> bytes:
    """The bits of a status list credential, once it is found to be the issuer's, unaltered."""
    checks: dict[str, Any] = {}
    verified, _, error = _data_integrity(status_list, documents, checks)
    if verified is None:
        raise StatusListError(f"the {purpose} status list does not verify: {error}")
    if _issuer_id(status_list) != _issuer_id(credential):
        raise StatusListError(f"the {purpose} status list is not the credential issuer's")
    subject = status_list.get("credentialSubject")
    subject = subject if isinstance(subject, Mapping) else {}
    if subject.get("statusPurpose") != purpose:
        raise StatusListError(f"the status list given for {purpose} is a list of another purpose")
    try:
        return decode_list(str(subject.get("encodedList", "")))
    except ValueError as exc:
        raise StatusListError(f"the {purpose} status list: {exc}") from exc


def _issuer_id(credential: Mapping[str, Any]) -> Any:
    issuer = credential.get("issuer", {})
    return issuer.get("id") if isinstance(issuer, Mapping) else issuer


def _jwt(
    token: str, documents: DidDocuments, checks: dict[str, Any]
) -> tuple[dict[str, Any] | None, str, str]:
    from joserfc.jws import extract_compact  # noqa: PLC0415

    try:
        kid = str(extract_compact(token.encode()).headers().get("kid", ""))
    except Exception as exc:  # noqa: BLE001 - any malformed token is simply invalid
        return None, "signature", f"malformed token: {exc}"
    did, key, error = documents.key(kid)
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


def _data_integrity(
    credential: Mapping[str, Any], documents: DidDocuments, checks: dict[str, Any]
) -> tuple[dict[str, Any] | None, str, str]:
    proofs = proofs_of(credential)
    if not proofs:
        return None, "signature", "no DataIntegrityProof with the eddsa-rdfc-2022 cryptosuite"
    signers: set[str] = set()
    for proof in proofs:
        did, key, error = documents.key(str(proof.get("verificationMethod", "")))
        if key is None:
            return None, "issuer", error
        if proof.get("proofPurpose") != ASSERTION_METHOD:
            return None, "signature", "the proof's purpose is not assertionMethod"
        try:
            verify_proof(credential, proof, key)
        except DataIntegrityError as exc:
            return None, "signature", str(exc)
        signers.add(did)
    issuer_id = _issuer_id(credential)
    checks.update(signature=True, issuer=issuer_id)
    if signers != {issuer_id}:
        return None, "issuer", "issuer differs from signer"
    return dict(credential), "", ""
