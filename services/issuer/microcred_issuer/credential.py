"""The Open Badges 3.0 credential of an award, and its VC-JWT form; pure functions.

Every element the EU's common definition asks of a micro-credential has a place: the learner
(``credentialSubject``), provider and awarding body with their countries (``issuer`` and
``awarder``-style ``otherIdentifier``), title, issuance date (``validFrom``), learning outcomes
and assessment (``achievement``), workload (``creditsAvailable``/``creditsEarned`` in ECTS), the
EQF/NQF level and ISCED-F field (``alignment``, ``fieldOfStudy``), quality assurance, form of
participation and access requirements, and the evidence that counted.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from joserfc import jws
from joserfc.errors import JoseError, SecurityWarning
from joserfc.jwk import OKPKey

from microcred_issuer.keys import SigningKey
from microcred_shared.contracts.events import CompetenceAwardedV1

# RFC 9864 deprecates "EdDSA" in favour of "Ed25519", but the verifiers in use today (VC-JOSE-COSE
# implementations, did-jwt-vc, jose) expect "EdDSA"; it stays until they follow.
warnings.filterwarnings("ignore", message="EdDSA is deprecated", category=SecurityWarning)

VC_V2_CONTEXT = "https://www.w3.org/ns/credentials/v2"
OB_V3_CONTEXT = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
MULTIKEY_CONTEXT = "https://w3id.org/security/multikey/v1"
DID_V1_CONTEXT = "https://www.w3.org/ns/did/v1"
VC_JWT_TYPE = "vc+jwt"


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


def public_jwk(did: str, key: SigningKey) -> dict[str, Any]:
    jwk = OKPKey.import_key(key.private_key.public_key()).as_dict(private=False)
    jwk.update({"kid": verification_method_id(did, key), "alg": "EdDSA", "use": "sig"})
    return jwk


def _hashed_email(email: str, salt: str) -> str:
    return "sha256$" + hashlib.sha256((email.strip().lower() + salt).encode()).hexdigest()


def build_credential(
    award: CompetenceAwardedV1, credential_id: str, issuer_did: str, issued_at: datetime
) -> dict[str, Any]:
    """Return the unsigned ``OpenBadgeCredential`` of ``award``."""
    institution = award.institution
    competence = award.competence
    ects = str(award.ects)
    alignment: list[dict[str, Any]] = []
    if competence.eqf_level is not None:
        alignment.append(
            {
                "type": ["Alignment"],
                "targetName": f"EQF level {competence.eqf_level}",
                "targetFramework": "European Qualifications Framework",
                "targetCode": str(competence.eqf_level),
                "targetType": "ext:EQFLevel",
                "targetUrl": "https://europa.eu/europass/en/description-eight-eqf-levels",
            }
        )
    if competence.nqf_level:
        alignment.append(
            {
                "type": ["Alignment"],
                "targetName": f"NQF level {competence.nqf_level}",
                "targetFramework": f"National Qualifications Framework ({institution.country})",
                "targetCode": competence.nqf_level,
                "targetType": "ext:NQFLevel",
                "targetUrl": "https://europa.eu/europass/en/compare-qualifications",
            }
        )
    if competence.alignment_url:
        alignment.append(
            {
                "type": ["Alignment"],
                "targetName": competence.title,
                "targetUrl": competence.alignment_url,
                "targetType": "ext:Competence",
            }
        )
    narrative = "\n\n".join(
        f"**{label}:** {text}"
        for label, text in (
            ("Assessment method", competence.assessment_method),
            ("Form of participation", competence.form_of_participation),
            ("Access requirements", competence.access_requirements),
            ("Quality assurance", institution.quality_assurance),
            ("Workload", f"{ects} ECTS ({award.hours} hours of learning)"),
        )
        if text
    )
    achievement: dict[str, Any] = {
        "id": f"{issuer_did.replace('did:web:', 'urn:microcred:')}:competences:{competence.id}",
        "type": ["Achievement"],
        "achievementType": "MicroCredential",
        "name": competence.title,
        "description": competence.description or competence.title,
        "criteria": {"narrative": narrative or competence.title},
        "creditsAvailable": float(competence.ects_required),
        "humanCode": competence.id,
        "resultDescription": [
            {
                "id": f"urn:microcred:outcome:{competence.id}:{index}",
                "type": ["ResultDescription"],
                "name": outcome,
                "resultType": "ext:LearningOutcome",
            }
            for index, outcome in enumerate(competence.learning_outcomes, start=1)
        ],
    }
    if competence.isced_f_code:
        achievement["fieldOfStudy"] = f"ISCED-F {competence.isced_f_code}"
    if alignment:
        achievement["alignment"] = alignment
    if not achievement["resultDescription"]:
        del achievement["resultDescription"]

    issuer: dict[str, Any] = {
        "id": issuer_did,
        "type": ["Profile"],
        "name": institution.name,
        "address": {"type": ["Address"], "addressCountryCode": institution.country},
    }
    if institution.url:
        issuer["url"] = institution.url
    if institution.awarding_body_name:
        issuer["parentOrg"] = {
            "id": f"urn:microcred:awarding-body:{institution.id}",
            "type": ["Profile"],
            "name": institution.awarding_body_name,
            "address": {
                "type": ["Address"],
                "addressCountryCode": institution.awarding_body_country or institution.country,
            },
        }

    salt = hashlib.sha256(f"{credential_id}/salt".encode()).hexdigest()[:16]
    return {
        "@context": [VC_V2_CONTEXT, OB_V3_CONTEXT],
        "id": credential_id,
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "name": competence.title,
        "issuer": issuer,
        "validFrom": issued_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "credentialSubject": {
            "type": ["AchievementSubject"],
            "identifier": [
                {
                    "type": "IdentityObject",
                    "identityType": "emailAddress",
                    "hashed": True,
                    "salt": salt,
                    "identityHash": _hashed_email(award.learner.email, salt),
                },
                {
                    "type": "IdentityObject",
                    "identityType": "name",
                    "hashed": False,
                    "identityHash": award.learner.name,
                },
            ],
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


def sign_jwt(credential: dict[str, Any], key: SigningKey, kid: str) -> str:
    """Secure ``credential`` as a VC-JWT (VC-JOSE-COSE: the credential is the JWS payload)."""
    header = {"alg": "EdDSA", "kid": kid, "typ": VC_JWT_TYPE, "cty": "vc"}
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
    if obj.headers().get("typ") != VC_JWT_TYPE:
        raise VerificationError("not a vc+jwt")
    credential: dict[str, Any] = json.loads(obj.payload)
    return credential


def raw_public_key(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
