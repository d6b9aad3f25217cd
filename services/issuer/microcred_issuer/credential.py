"""The Open Badges 3.0 credential of an award, and its VC-JWT form; pure functions.

Every element the EU's common definition asks of a micro-credential has a place: the learner
(``credentialSubject``), provider and awarding body with their countries (``issuer`` and
``awarder``-style ``otherIdentifier``), title, issuance date (``validFrom``), learning outcomes
and assessment (``achievement``), workload (``creditsAvailable``/``creditsEarned`` in ECTS), the
EQF/NQF level and ISCED-F field (``alignment``, ``fieldOfStudy``), quality assurance, form of
participation and access requirements, and the evidence that counted.

A pathway's credential (the larger one that stacks micro-credentials) has the same elements, with
the pathway as its achievement and the stacked credentials, partners' included, as its evidence.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
import warnings
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from joserfc import jws
from joserfc.errors import JoseError, SecurityWarning
from joserfc.jwk import OKPKey

from microcred_issuer.keys import SigningKey, multibase_public_key, public_key_from_multibase
from microcred_shared.contracts.events import (
    CompetenceAwardedV1,
    InstitutionRef,
    LearnerProfile,
    PathwayAwardedV1,
)
from microcred_shared.credential_view import (
    COMPETENCE_ACHIEVEMENT_TYPE,
    PATHWAY_ACHIEVEMENT_TYPE,
    STACKED_CREDENTIAL_GENRE,
)

# RFC 9864 deprecates "EdDSA" in favour of "Ed25519", but the verifiers in use today (VC-JOSE-COSE
# implementations, did-jwt-vc, jose) expect "EdDSA"; it stays until they follow.
warnings.filterwarnings("ignore", message="EdDSA is deprecated", category=SecurityWarning)

VC_V2_CONTEXT = "https://www.w3.org/ns/credentials/v2"
OB_V3_CONTEXT = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
MULTIKEY_CONTEXT = "https://w3id.org/security/multikey/v1"
DID_V1_CONTEXT = "https://www.w3.org/ns/did/v1"
#: OBv3 (section 8.2, "JSON Web Token Proof Format"): the JOSE header holds only ``alg``,
#: ``kid``, ``jwk`` and ``typ``, with ``typ`` "JWT".
VC_JWT_TYPE = "JWT"
#: VC-JOSE-COSE's media type; tokens issued before the OBv3 header still carry it.
LEGACY_VC_JWT_TYPE = "vc+jwt"

#: HKDF ``info`` of the key that credential ids are derived with (nothing else uses that key).
CREDENTIAL_ID_KEY_INFO = b"microcred credential ids"
CREDENTIAL_ID_KEY_BYTES = 32


def credential_id_key(master_key: bytes) -> bytes:
    """The issuer's key for credential ids: HKDF-SHA256 of its master key, 32 bytes."""
    return HKDF(
        algorithm=hashes.SHA256(),
        length=CREDENTIAL_ID_KEY_BYTES,
        salt=None,
        info=CREDENTIAL_ID_KEY_INFO,
    ).derive(master_key)


def credential_id_for(key: bytes, award_id: str) -> str:
    """The id of an award's credential: ``urn:uuid:`` and an RFC 9562 version 8 UUID.

    The UUID is the first 16 bytes of HMAC-SHA256(``key``, award id), with the version and
    variant bits set: the same award always gets the same id (issuing stays idempotent over
    redeliveries and restarts), and no one without the issuer's key can name it. It must be
    so, because a credential's id is its private full-disclosure link: the issuer serves the
    whole credential (the learner's name, evidence), its badges and its certificate by it, to
    whoever holds it (the learner's own page and the certificate's QR code use it). The learner
    shares publicly through the notifier's share links, which never reveal it.

    ``key`` is ``credential_id_key`` of the issuer's master key. Credentials issued before ids
    were keyed keep the id they were stored with (an unkeyed UUID); ids are read from the
    stored credential, never recomputed for an award already issued.
    """
    if len(key) != CREDENTIAL_ID_KEY_BYTES:
        raise ValueError(f"a credential id key has {CREDENTIAL_ID_KEY_BYTES} bytes")
    digest = bytearray(hmac.digest(key, award_id.encode(), "sha256")[:16])
    digest[6] = (digest[6] & 0x0F) | 0x80  # version 8 (custom)
    digest[8] = (digest[8] & 0x3F) | 0x80  # variant 0b10 (RFC 9562)
    return f"urn:uuid:{uuid.UUID(bytes=bytes(digest))}"


def institution_did(public_url: str, institution_id: str) -> str:
    """``did:web`` of an institution, resolved at ``<public_url>/institutions/<id>/did.json``."""
    parts = urlsplit(public_url)
    host = quote(parts.netloc, safe="")
    path = [p for p in parts.path.split("/") if p]
    return ":".join(["did:web", host, *path, "institutions", institution_id])


def verification_method_id(did: str, key: SigningKey) -> str:
    return f"{did}#{key.key_id}"


def did_document(did: str, keys: list[SigningKey]) -> dict[str, Any]:
    methods = [
        {
            "id": verification_method_id(did, key),
            "type": "Multikey",
            "controller": did,
            "publicKeyMultibase": key.public_multibase,
        }
        for key in keys
    ]
    method_ids = [m["id"] for m in methods]
    return {
        "@context": [DID_V1_CONTEXT, MULTIKEY_CONTEXT],
        "id": did,
        "verificationMethod": methods,
        "assertionMethod": method_ids,
        "authentication": method_ids,
    }


DID_KEY_PREFIX = "did:key:"


def did_key(public_key: Ed25519PublicKey) -> str:
    """The ``did:key`` of an Ed25519 key: ``did:key:z6Mk…`` (its Multikey, multibase base58btc)."""
    return DID_KEY_PREFIX + multibase_public_key(public_key)


def did_key_method(public_key: Ed25519PublicKey) -> str:
    """The one verification method of a key's ``did:key``: ``did:key:z6Mk…#z6Mk…``."""
    multibase = multibase_public_key(public_key)
    return f"{DID_KEY_PREFIX}{multibase}#{multibase}"


def public_key_of_did_key(method: str) -> Ed25519PublicKey:
    """The Ed25519 key a ``did:key`` (or its verification method) names, resolved locally.

    Only Ed25519 keys (``z6Mk…``) are taken; a fragment, if any, must repeat the key (the
    method's id is ``did:key:<key>#<key>``). Raises ``ValueError`` saying why otherwise.
    """
    did, _, fragment = method.partition("#")
    multibase = did.removeprefix(DID_KEY_PREFIX)
    if not did.startswith(DID_KEY_PREFIX) or not multibase:
        raise ValueError(f"{method!r} is not a did:key")
    if fragment and fragment != multibase:
        raise ValueError(f"{method!r} is no verification method of its did:key")
    try:
        return public_key_from_multibase(multibase)
    except ValueError as exc:
        raise ValueError(f"{did} is not an Ed25519 did:key: {exc}") from exc


def did_key_document(public_key: Ed25519PublicKey) -> dict[str, Any]:
    """The DID document a ``did:key`` resolves to (one Multikey verification method)."""
    did = did_key(public_key)
    method = did_key_method(public_key)
    return {
        "@context": [DID_V1_CONTEXT, MULTIKEY_CONTEXT],
        "id": did,
        "verificationMethod": [
            {
                "id": method,
                "type": "Multikey",
                "controller": did,
                "publicKeyMultibase": multibase_public_key(public_key),
            }
        ],
        "assertionMethod": [method],
        "authentication": [method],
    }


def public_jwk(did: str, key: SigningKey) -> dict[str, Any]:
    jwk = OKPKey.import_key(key.private_key.public_key()).as_dict(private=False)
    jwk.update({"kid": verification_method_id(did, key), "alg": "EdDSA", "use": "sig"})
    return jwk


def _hashed_email(email: str, salt: str) -> str:
    return "sha256$" + hashlib.sha256((email.strip().lower() + salt).encode()).hexdigest()


def _alignment(
    *,
    title: str,
    eqf_level: int | None,
    nqf_level: str | None,
    country: str,
    alignment_url: str | None = None,
) -> list[dict[str, Any]]:
    """The EQF and NQF levels (and a framework reference) as OBv3 alignments."""
    alignment: list[dict[str, Any]] = []
    if eqf_level is not None:
        alignment.append(
            {
                "type": ["Alignment"],
                "targetName": f"EQF level {eqf_level}",
                "targetFramework": "European Qualifications Framework",
                "targetCode": str(eqf_level),
                "targetType": "ext:EQFLevel",
                "targetUrl": "https://europa.eu/europass/en/description-eight-eqf-levels",
            }
        )
    if nqf_level:
        alignment.append(
            {
                "type": ["Alignment"],
                "targetName": f"NQF level {nqf_level}",
                "targetFramework": f"National Qualifications Framework ({country})",
                "targetCode": nqf_level,
                "targetType": "ext:NQFLevel",
                "targetUrl": "https://europa.eu/europass/en/compare-qualifications",
            }
        )
    if alignment_url:
        alignment.append(
            {
                "type": ["Alignment"],
                "targetName": title,
                "targetUrl": alignment_url,
                "targetType": "ext:Competence",
            }
        )
    return alignment


def _narrative(parts: Iterable[tuple[str, str]]) -> str:
    """The labelled paragraphs of a criteria narrative (Markdown), leaving out empty ones."""
    return "\n\n".join(f"**{label}:** {text}" for label, text in parts if text)


def _learning_outcomes(kind: str, achievement_id: str, outcomes: Sequence[str]) -> dict[str, Any]:
    """Learning outcomes as ``resultDescription`` entries (nothing when there are none)."""
    if not outcomes:
        return {}
    return {
        "resultDescription": [
            {
                "id": f"urn:microcred:{kind}:{achievement_id}:{index}",
                "type": ["ResultDescription"],
                "name": outcome,
                "resultType": "ext:LearningOutcome",
            }
            for index, outcome in enumerate(outcomes, start=1)
        ]
    }


def _achievement_uri(issuer_did: str, collection: str, achievement_id: str) -> str:
    return f"{issuer_did.replace('did:web:', 'urn:microcred:')}:{collection}:{achievement_id}"


def _profile(institution: InstitutionRef, did: str) -> dict[str, Any]:
    """An institution as an OBv3 ``Profile``: provider, country, and awarding body if another."""
    profile: dict[str, Any] = {
        "id": did,
        "type": ["Profile"],
        "name": institution.name,
        "address": {"type": ["Address"], "addressCountryCode": institution.country},
    }
    if institution.url:
        profile["url"] = institution.url
    if institution.awarding_body_name:
        profile["parentOrg"] = {
            "id": f"urn:microcred:awarding-body:{institution.id}",
            "type": ["Profile"],
            "name": institution.awarding_body_name,
            "address": {
                "type": ["Address"],
                "addressCountryCode": institution.awarding_body_country or institution.country,
            },
        }
    return profile


def _identifiers(learner: LearnerProfile, credential_id: str) -> list[dict[str, Any]]:
    """The learner: the e-mail only salted and hashed, the name as it appears on the credential."""
    salt = hashlib.sha256(f"{credential_id}/salt".encode()).hexdigest()[:16]
    return [
        {
            "type": "IdentityObject",
            "identityType": "emailAddress",
            "hashed": True,
            "salt": salt,
            "identityHash": _hashed_email(learner.email, salt),
        },
        {
            "type": "IdentityObject",
            "identityType": "name",
            "hashed": False,
            "identityHash": learner.name,
        },
    ]


def _timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def build_credential(
    award: CompetenceAwardedV1, credential_id: str, issuer_did: str, issued_at: datetime
) -> dict[str, Any]:
    """Return the unsigned ``OpenBadgeCredential`` of ``award``."""
    institution = award.institution
    competence = award.competence
    ects = str(award.ects)
    alignment = _alignment(
        title=competence.title,
        eqf_level=competence.eqf_level,
        nqf_level=competence.nqf_level,
        country=institution.country,
        alignment_url=competence.alignment_url,
    )
    narrative = _narrative(
        (
            ("Assessment method", competence.assessment_method),
            ("Form of participation", competence.form_of_participation),
            ("Access requirements", competence.access_requirements),
            ("Quality assurance", institution.quality_assurance),
            ("Workload", f"{ects} ECTS ({award.hours} hours of learning)"),
        )
    )
    achievement: dict[str, Any] = {
        "id": _achievement_uri(issuer_did, "competences", competence.id),
        "type": ["Achievement"],
        "achievementType": COMPETENCE_ACHIEVEMENT_TYPE,
        "name": competence.title,
        "description": competence.description or competence.title,
        "criteria": {"narrative": narrative or competence.title},
        "creditsAvailable": float(competence.ects_required),
        "humanCode": competence.id,
        **_learning_outcomes("outcome", competence.id, competence.learning_outcomes),
    }
    if competence.isced_f_code:
        achievement["fieldOfStudy"] = f"ISCED-F {competence.isced_f_code}"
    if alignment:
        achievement["alignment"] = alignment

    return {
        "@context": [VC_V2_CONTEXT, OB_V3_CONTEXT],
        "id": credential_id,
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "name": competence.title,
        "issuer": _profile(institution, issuer_did),
        "validFrom": _timestamp(issued_at),
        "credentialSubject": {
            "type": ["AchievementSubject"],
            "identifier": _identifiers(award.learner, credential_id),
            "achievement": achievement,
            "creditsEarned": float(award.ects),
            "activityStartDate": f"{award.learning_started.isoformat()}T00:00:00Z",
            "activityEndDate": f"{award.learning_ended.isoformat()}T00:00:00Z",
        },
        "evidence": [
            {
                "id": f"urn:microcred:evidence:{e.evidence_id}",
                "type": ["Evidence"],
                "name": e.title,
                "description": f"{e.hours} hours, {e.start_date} to {e.end_date}",
                "genre": "Learning activity",
                "audience": e.provider,
            }
            for e in award.evidence
        ],
    }


def build_pathway_credential(
    award: PathwayAwardedV1,
    credential_id: str,
    issuer_did: str,
    issued_at: datetime,
    *,
    did_of: Callable[[str], str],
    credential_id_of: Callable[[str], str],
) -> dict[str, Any]:
    """Return the unsigned ``OpenBadgeCredential`` of a completed pathway.

    The pathway is the achievement (achievementType ``Certificate``, ``humanCode`` its id, its
    id under ``...:pathways:``); ``did_of`` names the ``did:web`` of an institution, the
    partners whose credentials it stacks included, and ``credential_id_of`` the id of a stacked
    award's credential (as stored, or as it will be issued).
    """
    institution = award.institution
    pathway = award.pathway
    ects = str(award.ects)
    if pathway.rule == "all_of":
        completion = f"all {len(pathway.components)} micro-credentials of the pathway"
    else:
        completion = (
            f"at least {pathway.required} of the {len(pathway.components)} micro-credentials "
            "of the pathway"
        )
    stacked_list = "\n".join(
        f"- {s.competence.title} ({s.institution.name}, {s.ects} ECTS)" for s in award.stacked
    )
    narrative = _narrative(
        (
            ("Completion", f"Awarded for {completion}. Stacked here:\n\n{stacked_list}"),
            ("Assessment method", pathway.assessment_method),
            ("Form of participation", pathway.form_of_participation),
            ("Access requirements", pathway.access_requirements),
            ("Quality assurance", institution.quality_assurance),
            ("Workload", f"{ects} ECTS ({award.hours} hours of learning)"),
        )
    )
    achievement: dict[str, Any] = {
        "id": _achievement_uri(issuer_did, "pathways", pathway.id),
        "type": ["Achievement"],
        "achievementType": PATHWAY_ACHIEVEMENT_TYPE,
        "name": pathway.title,
        "description": pathway.description or pathway.title,
        "criteria": {"narrative": narrative},
        # A pathway may be completed by "n of" its components, so its definition fixes no total:
        # the credential states the workload this learner's stack amounts to.
        "creditsAvailable": float(award.ects),
        "humanCode": pathway.id,
        **_learning_outcomes("pathway-outcome", pathway.id, pathway.learning_outcomes),
    }
    if pathway.isced_f_code:
        achievement["fieldOfStudy"] = f"ISCED-F {pathway.isced_f_code}"
    alignment = _alignment(
        title=pathway.title,
        eqf_level=pathway.eqf_level,
        nqf_level=pathway.nqf_level,
        country=institution.country,
    )
    if alignment:
        achievement["alignment"] = alignment

    return {
        "@context": [VC_V2_CONTEXT, OB_V3_CONTEXT],
        "id": credential_id,
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "name": pathway.title,
        "issuer": _profile(institution, issuer_did),
        "validFrom": _timestamp(issued_at),
        "credentialSubject": {
            "type": ["AchievementSubject"],
            "identifier": _identifiers(award.learner, credential_id),
            "achievement": achievement,
            "creditsEarned": float(award.ects),
        },
        # The stacked credentials are what this learner earned the pathway with, so they are
        # the credential's evidence: OBv3 puts learner-specific proof of achievement there,
        # while the Achievement stays the same for every learner. (``achievement.related`` is
        # for other editions of the *same* achievement, so it would say the wrong thing.) Each
        # entry's ``id`` is the stacked credential's id (a private link too: whoever is handed
        # the whole pathway credential can open those; a share link must leave them out); its
        # signer, a partner institution's DID included, is named in ``narrative``. Only terms
        # the OBv3 context defines for Evidence are used: JSON-LD processing drops any other
        # (an ``issuer`` object there would vanish from a Data Integrity proof's signed
        # statements).
        "evidence": [
            {
                "id": credential_id_of(s.award_id),
                "type": ["Evidence"],
                "name": s.competence.title,
                "description": (
                    f"Micro-credential of {s.ects} ECTS ({s.hours} hours) awarded by "
                    f"{s.institution.name} on {s.awarded_at.date().isoformat()}"
                ),
                "narrative": (
                    f"Credential `{credential_id_of(s.award_id)}`, issued by "
                    f"{s.institution.name} ({s.institution.country}), "
                    f"`{did_of(s.institution.id)}`."
                ),
                "genre": STACKED_CREDENTIAL_GENRE,
            }
            for s in award.stacked
        ],
    }


def sign_jwt(credential: dict[str, Any], key: SigningKey, kid: str) -> str:
    """Secure ``credential`` as a VC-JWT: the credential is the JWS payload.

    The header is what OBv3 allows and no more: ``alg``, ``kid`` and ``typ`` "JWT" (no ``cty``;
    the key is named by ``kid``, resolvable through the issuer's DID document, so no ``jwk``).
    """
    header = {"alg": "EdDSA", "kid": kid, "typ": VC_JWT_TYPE}
    payload = json.dumps(credential, separators=(",", ":"), ensure_ascii=False)
    return jws.serialize_compact(
        header, payload, OKPKey.import_key(key.private_key), algorithms=["EdDSA"]
    )


class VerificationError(ValueError):
    pass


def verify_jwt(token: str, public_key: Ed25519PublicKey) -> dict[str, Any]:
    """Return the credential a VC-JWT carries if ``public_key`` signed it; else raise."""
    try:
        obj = jws.deserialize_compact(token, OKPKey.import_key(public_key), algorithms=["EdDSA"])
    except (JoseError, ValueError) as exc:
        raise VerificationError(f"signature does not verify: {exc}") from exc
    if obj.headers().get("typ") not in (VC_JWT_TYPE, LEGACY_VC_JWT_TYPE):
        raise VerificationError("not a VC-JWT (typ is neither JWT nor vc+jwt)")
    credential: dict[str, Any] = json.loads(obj.payload)
    return credential


def raw_public_key(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
