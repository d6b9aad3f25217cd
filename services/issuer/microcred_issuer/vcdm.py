"""The W3C Verifiable Credentials Data Model 2.0 rules a credential or presentation must meet.

Checked on what the VC-API is given, before the issuer signs a credential and before a verifier
looks at proofs: a document that breaks one is refused with the rule it breaks. These are the
data model's structural rules (sections 4.2 to 4.13); that every term is defined by a context is
checked by the Data Integrity code (``dataintegrity.undefined_terms``) when signing or verifying.
Pure functions.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any, Final

from microcred_issuer.contexts import VC_V1, VC_V2

#: A URL (an absolute IRI: a scheme, then anything but spaces), as ``id`` and ``issuer`` need.
_URL: Final = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")
#: ``xsd:dateTimeStamp``: an ``xsd:dateTime`` whose timezone is required.
_DATE_TIME_STAMP: Final = re.compile(
    r"^-?\d{4,}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"
    r"T([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d+)?"
    r"(Z|[+-]((0\d|1[0-3]):[0-5]\d|14:00))$"
)
#: Members of the data model whose values are objects that must each have a ``type``.
TYPED_MEMBERS: Final = (
    "credentialStatus",
    "credentialSchema",
    "evidence",
    "termsOfUse",
    "refreshService",
    "proof",
)
_LANGUAGE_VALUE_KEYS: Final = frozenset({"@value", "@language", "@direction"})
_DIRECTIONS: Final = frozenset({"ltr", "rtl"})
_LANGUAGE_TAG: Final = re.compile(r"^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$")


class NonConformingError(ValueError):
    """The document breaks a rule of the data model; the message says which."""


def is_url(value: Any) -> bool:
    return isinstance(value, str) and _URL.match(value) is not None


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _context_errors(document: Mapping[str, Any]) -> Iterator[str]:
    if "@context" not in document:
        yield "@context is required"
        return
    contexts = _as_list(document["@context"])
    if not contexts or not isinstance(contexts[0], str) or contexts[0] not in {VC_V2, VC_V1}:
        yield f"the first @context must be {VC_V2} (or {VC_V1}, VC Data Model 1.1)"
    for context in contexts[1:]:
        if not (is_url(context) or isinstance(context, dict)):
            yield f"each @context must be a URL or an object, not {context!r}"


def _type_errors(document: Mapping[str, Any], required: str) -> Iterator[str]:
    if "type" not in document:
        yield "type is required"
        return
    types = _as_list(document["type"])
    if not all(isinstance(t, str) and t for t in types):
        yield "type must be a string or an array of strings"
    elif required not in types:
        yield f"type must include {required}"


def _id_errors(node: Mapping[str, Any], where: str) -> Iterator[str]:
    if "id" in node and not is_url(node["id"]):
        yield f"{where}.id must be a single URL, not {node['id']!r}"


def _language_value_errors(value: Any, where: str) -> Iterator[str]:
    """``name``/``description``: a string, a language value object, or an array of them."""
    for item in _as_list(value):
        if isinstance(item, str):
            continue
        if not isinstance(item, dict):
            yield f"{where} must be a string or a language value object"
            continue
        extra = set(item) - _LANGUAGE_VALUE_KEYS
        if extra:
            yield f"{where} has members a language value object may not have: {sorted(extra)}"
        if not isinstance(item.get("@value"), str):
            yield f"{where}'s @value must be a string"
        if "@language" in item and not (
            isinstance(item["@language"], str) and _LANGUAGE_TAG.match(item["@language"])
        ):
            yield f"{where}'s @language must be a language tag"
        if "@direction" in item and item["@direction"] not in _DIRECTIONS:
            yield f"{where}'s @direction must be 'ltr' or 'rtl'"


def _named_errors(node: Any, where: str) -> Iterator[str]:
    if isinstance(node, dict):
        for member in ("name", "description"):
            if member in node:
                yield from _language_value_errors(node[member], f"{where}.{member}")


def _typed_member_errors(document: Mapping[str, Any]) -> Iterator[str]:
    for member in TYPED_MEMBERS:
        if member not in document:
            continue
        for item in _as_list(document[member]):
            where = member
            if not isinstance(item, dict):
                yield f"each {where} must be an object"
                continue
            kinds = item.get("type")
            if kinds is None:
                yield f"{where}.type is required"
            elif not all(isinstance(t, str) and t for t in _as_list(kinds)):
                yield f"{where}.type must be a string or an array of strings"
            if member == "credentialSchema" and "id" not in item:
                yield "credentialSchema.id is required"
            if member != "proof":
                yield from _id_errors(item, where)


def _validity_errors(document: Mapping[str, Any]) -> Iterator[str]:
    moments = {}
    for member in ("validFrom", "validUntil"):
        if member not in document:
            continue
        value = document[member]
        if not isinstance(value, str) or not _DATE_TIME_STAMP.match(value):
            yield f"{member} must be an xsd:dateTimeStamp (a date-time with a timezone): {value!r}"
        else:
            moments[member] = value
    if len(moments) == 2:  # noqa: PLR2004 - both
        try:
            start, end = (_moment(moments[m]) for m in ("validFrom", "validUntil"))
        except ValueError:
            return
        if end < start:
            yield "validUntil is before validFrom"


def _moment(value: str) -> datetime:
    # Python reads at most microseconds: further fraction digits only sharpen the comparison.
    trimmed = re.sub(r"(\.\d{6})\d+", r"\1", value)
    return datetime.fromisoformat(trimmed)


def _issuer_errors(credential: Mapping[str, Any]) -> Iterator[str]:
    if "issuer" not in credential:
        yield "issuer is required"
        return
    issuer = credential["issuer"]
    if isinstance(issuer, dict):
        if not is_url(issuer.get("id")):
            yield "issuer.id must be a URL"
        yield from _named_errors(issuer, "issuer")
    elif not is_url(issuer):
        yield "issuer must be a URL or an object with a URL id"


def _subject_errors(credential: Mapping[str, Any]) -> Iterator[str]:
    if "credentialSubject" not in credential:
        yield "credentialSubject is required"
        return
    subjects = _as_list(credential["credentialSubject"])
    if not subjects:
        yield "credentialSubject must not be empty"
    for subject in subjects:
        if not isinstance(subject, dict) or not subject:
            yield "each credentialSubject must be an object with at least one claim"
        else:
            yield from _id_errors(subject, "credentialSubject")


#: Digests W3C publishes for resources whose bytes the issuer cannot fetch (it never fetches):
#: VC Data Model 2.0, appendix B.1, for the base context. A relatedResource naming one of them
#: must carry the published digest; others cannot be checked offline and are taken as given.
PUBLISHED_DIGESTS: Mapping[str, Mapping[str, str]] = {
    "https://www.w3.org/ns/credentials/v2": {
        "digestSRI": "sha384-NSOcNpmdIVUxIJGvGUoe22FjTWrXiaXlsZ8q6912LdnR3KraQO2n75Ica4wK4Qeg",
        # SHA2-256 24a18c90e9856d526111f29376e302d970b2bd10182e33959995b0207d7043b9, base64url.
        "digestMultibase": "uJKGMkOmFbVJhEfKTduMC2XCyvRAYLjOVmZWwIH1wQ7k",
    },
}


def _related_resource_errors(credential: Mapping[str, Any]) -> Iterator[str]:
    """``relatedResource``: objects, each with a unique URL ``id`` and a digest."""
    if "relatedResource" not in credential:
        return
    seen: set[str] = set()
    for resource in _as_list(credential["relatedResource"]):
        if not isinstance(resource, dict):
            yield "each relatedResource must be an object"
            continue
        if not is_url(resource.get("id")):
            yield "relatedResource.id is required and must be a URL"
        elif resource["id"] in seen:
            yield f"relatedResource.id {resource['id']} is given twice"
        else:
            seen.add(resource["id"])
        if "digestSRI" not in resource and "digestMultibase" not in resource:
            yield "each relatedResource needs a digestSRI or a digestMultibase"
        published = PUBLISHED_DIGESTS.get(str(resource.get("id")), {})
        yield from (
            f"relatedResource {resource['id']}: {kind} is not its published digest"
            for kind, digest in published.items()
            if kind in resource and resource[kind] != digest
        )


def is_v1(document: Mapping[str, Any]) -> bool:
    """Whether the document is of the VC Data Model 1.1 (its first context is 1.1's)."""
    contexts = _as_list(document.get("@context"))
    return bool(contexts) and contexts[0] == VC_V1


#: ``xsd:dateTime``: the timezone is optional (VC Data Model 1.1's dates).
_DATE_TIME: Final = re.compile(
    r"^-?\d{4,}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"
    r"T([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d+)?"
    r"(Z|[+-]((0\d|1[0-3]):[0-5]\d|14:00))?$"
)


def _v1_date_errors(credential: Mapping[str, Any]) -> Iterator[str]:
    """VC Data Model 1.1: ``issuanceDate`` required, it and ``expirationDate`` date-times."""
    if "issuanceDate" not in credential:
        yield "issuanceDate is required (VC Data Model 1.1)"
    for member in ("issuanceDate", "expirationDate"):
        if member in credential:
            value = credential[member]
            if not isinstance(value, str) or not _DATE_TIME.match(value):
                yield f"{member} must be an xsd:dateTime: {value!r}"


def credential_errors(credential: Any) -> list[str]:
    """Every data model rule ``credential`` breaks (empty when it conforms)."""
    if not isinstance(credential, dict):
        return ["a credential must be a JSON object"]
    errors = [*_context_errors(credential), *_type_errors(credential, "VerifiableCredential")]
    errors += _id_errors(credential, "credential")
    errors += _issuer_errors(credential)
    errors += _subject_errors(credential)
    errors += _named_errors(credential, "credential")
    if is_v1(credential):
        errors += _v1_date_errors(credential)
    else:
        errors += _validity_errors(credential)
    errors += _typed_member_errors(credential)
    errors += _related_resource_errors(credential)
    return errors


def _holder_errors(presentation: Mapping[str, Any]) -> Iterator[str]:
    if "holder" not in presentation:
        return
    holder = presentation["holder"]
    if isinstance(holder, dict):
        if not is_url(holder.get("id")):
            yield "holder.id must be a URL"
    elif not is_url(holder):
        yield "holder must be a URL or an object with a URL id"


def presentation_errors(presentation: Any) -> list[str]:
    """Every data model rule ``presentation`` breaks (its credentials are checked apart)."""
    if not isinstance(presentation, dict):
        return ["a presentation must be a JSON object"]
    errors = [
        *_context_errors(presentation),
        *_type_errors(presentation, "VerifiablePresentation"),
    ]
    errors += _id_errors(presentation, "presentation")
    errors += _holder_errors(presentation)
    for credential in _as_list(presentation.get("verifiableCredential", [])):
        if not isinstance(credential, dict):
            errors.append("each verifiableCredential must be an object (not a string or URL)")
    if "proof" in presentation:
        for proof in _as_list(presentation["proof"]):
            if not isinstance(proof, dict) or "type" not in proof:
                errors.append("each proof must be an object with a type")
    return errors


def check_credential(credential: Any) -> None:
    errors = credential_errors(credential)
    if errors:
        raise NonConformingError("; ".join(errors))
