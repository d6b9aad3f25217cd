r"""Data Integrity proofs with the ``eddsa-rdfc-2022`` cryptosuite (W3C vc-di-eddsa), offline.

Signing and verifying follow the cryptosuite's algorithms:

- the unsecured document and the proof configuration (the proof without ``proofValue``, given
  the document's ``@context``) are each canonicalised with RDFC-1.0 (PyLD's ``URDNA2015``, the
  same algorithm) using only the bundled contexts (``microcred_issuer.contexts``);
- the data signed is SHA-256(canonical proof configuration) ‖ SHA-256(canonical document);
- ``proofValue`` is the Ed25519 signature, multibase base58btc (``z…``).

Two traps of PyLD are closed here:

- **Escaping.** PyLD's N-Quads serialiser escapes only ``\\ \\t \\n \\r "``. RDFC-1.0 also
  writes ``\\b``, ``\\f``, every other control character and DEL as ``\\uXXXX``. The serialiser
  is used both for the output and inside the canonicalisation's hashes (which name the blank
  nodes), so ``pyld.nquads.escape`` itself is replaced with the RDFC-1.0 form on import.
- **Undefined terms.** JSON-LD processing silently drops a property no context defines (and
  RDF conversion drops a relative ``@id``/``@type``), so a proof would not cover it; standard
  verifiers refuse such documents ("safe mode"). ``undefined_terms`` finds them by expanding the
  document and compacting it back with its own contexts: whatever did not survive was never
  signed. ``sign`` refuses them before signing and ``verify_proof`` before verifying.

Everything here is pure apart from the process-wide escaping fix.
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import base58
import pyld.canon  # type: ignore[import-untyped]
import pyld.nquads  # type: ignore[import-untyped]
from cachetools import LRUCache
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pyld import jsonld
from pyld.context_resolver import ContextResolver  # type: ignore[import-untyped]

from microcred_issuer.contexts import ContextRefusedError, offline_document_loader

PROOF_TYPE: Final = "DataIntegrityProof"
CRYPTOSUITE: Final = "eddsa-rdfc-2022"
ASSERTION_METHOD: Final = "assertionMethod"
ED25519_SIGNATURE_LENGTH: Final = 64

# --- RDFC-1.0 escaping ------------------------------------------------------------------------

_RDFC_ESCAPES: Final = {
    "\\": "\\\\",
    '"': '\\"',
    "\t": "\\t",
    "\b": "\\b",
    "\n": "\\n",
    "\r": "\\r",
    "\f": "\\f",
}
_TO_ESCAPE: Final = re.compile('[\\\\"\x00-\x1f\x7f]')


def rdfc_escape(value: str) -> str:
    r"""A literal's lexical form as RDFC-1.0's canonical N-Quads write it.

    ``\\`` and ``"`` and the control characters with a short form (``\\t \\b \\n \\r \\f``)
    are backslash-escaped; every other character in U+0000 to U+001F and U+007F (DEL) becomes
    ``\\uXXXX`` (upper-case hex); everything else, non-ASCII included, stays as it is.
    """
    return _TO_ESCAPE.sub(lambda m: _RDFC_ESCAPES.get(m.group(), f"\\u{ord(m.group()):04X}"), value)


_UNESCAPE: Final = re.compile(r'\\(?:u([0-9A-Fa-f]{4})|U([0-9A-Fa-f]{8})|([\\"tbnrf]))')
_UNESCAPES: Final = {v[1]: k for k, v in _RDFC_ESCAPES.items()}


def rdfc_unescape(value: str) -> str:
    r"""The inverse of ``rdfc_escape`` (and of N-Quads' ``\\uXXXX``/``\\UXXXXXXXX`` escapes)."""

    def one(match: re.Match[str]) -> str:
        short, long_, char = match.groups()
        if char is not None:
            return _UNESCAPES[char]
        return chr(int(short or long_, 16))

    return _UNESCAPE.sub(one, value)


def _install_rdfc_escaping() -> None:
    """Make PyLD's N-Quads serialiser (and parser) escape as RDFC-1.0 requires.

    ``serialize_nquad`` looks ``escape`` up in ``pyld.nquads`` at every call, and PyLD's
    canonicalisation (``pyld.canon``) hashes quads through it, so replacing the module's
    function corrects both the blank-node hashes and the output.
    """
    if "escape" not in pyld.nquads.serialize_nquad.__code__.co_names:  # pragma: no cover
        raise ImportError("PyLD's N-Quads module changed: the RDFC-1.0 escaping fix needs review")
    pyld.nquads.escape = rdfc_escape
    pyld.nquads.unescape = rdfc_unescape


_install_rdfc_escaping()

#: RDFC-1.0 lets an implementation bound its work against "poison graphs": blank nodes that
#: look alike make Hash N-Degree Quads try factorially many orders. A credential needs a handful
#: of those steps, if any; past this many, canonicalisation stops and the document is refused.
MAX_CANONICALIZATION_STEPS: Final = 5000
_steps: ContextVar[list[int] | None] = ContextVar("rdfc_steps", default=None)


def _step() -> None:
    steps = _steps.get()
    if steps is None:
        return
    steps[0] += 1
    if steps[0] > MAX_CANONICALIZATION_STEPS:
        raise CanonicalizationLimitError


def _install_work_limit() -> None:
    """Count PyLD's Hash N-Degree Quads calls and the orders they try (``pyld.canon``)."""
    canon = pyld.canon
    permutations = getattr(canon, "permutations", None)
    uses = canon.URDNA2015.hash_n_degree_quads.__code__.co_names
    if not callable(permutations) or "permutations" not in uses:  # pragma: no cover
        raise ImportError("PyLD's canonicalisation changed: the work limit needs review")
    hash_n_degree_quads = canon.URDNA2015.hash_n_degree_quads

    def counted_permutations(items: Any) -> Iterator[Any]:
        for order in permutations(items):
            _step()
            yield order

    def counted_hash(self: Any, id_: Any, issuer: Any) -> Any:
        _step()
        return hash_n_degree_quads(self, id_, issuer)

    canon.permutations = counted_permutations
    canon.URDNA2015.hash_n_degree_quads = counted_hash


_install_work_limit()

# --- errors -------------------------------------------------------------------------------------


class DataIntegrityError(ValueError):
    """A document cannot be signed or its proof does not verify; the message says why."""


class CanonicalizationLimitError(DataIntegrityError):
    """Canonicalisation needed more work than any credential does (a poison graph)."""

    def __init__(self) -> None:
        super().__init__(
            "the document's blank nodes are too alike to canonicalise within "
            f"{MAX_CANONICALIZATION_STEPS} steps (RDFC-1.0's guard against poison graphs)"
        )


class UndefinedTermsError(DataIntegrityError):
    """The document has terms no context defines: a proof would not cover them."""

    def __init__(self, where: str, terms: list[str]) -> None:
        self.terms = terms
        super().__init__(
            f"{where} has terms no JSON-LD context defines, which a Data Integrity proof would "
            f"not cover (standard verifiers refuse them): {', '.join(terms)}"
        )


class UnknownContextError(DataIntegrityError):
    """The document names a context that is not bundled (the loader refused it)."""


# --- JSON-LD, offline -----------------------------------------------------------------------

#: Processed contexts, shared by every operation (they only ever come from the bundle).
_RESOLVED_CONTEXTS: LRUCache[str, Any] = LRUCache(maxsize=64)


def _options(**extra: Any) -> dict[str, Any]:
    return {
        "documentLoader": offline_document_loader,
        "contextResolver": ContextResolver(_RESOLVED_CONTEXTS, offline_document_loader),
        **extra,
    }


def _refused_context(error: BaseException) -> ContextRefusedError | None:
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, ContextRefusedError):
            return cause
        cause = cause.__cause__ or cause.__context__
    return None


def _jsonld_error(what: str, error: Exception) -> DataIntegrityError:
    refused = _refused_context(error)
    if refused is not None:
        return UnknownContextError(str(refused))
    message = error.args[0] if error.args else error
    return DataIntegrityError(f"{what} is not valid JSON-LD: {str(message).splitlines()[0]}")


#: What PyLD raises on input it cannot process: its own errors, and plain ones from its
#: helpers (a relative context IRI, say). Every one means the document cannot be verified.
_PROCESSING_ERRORS = (
    jsonld.JsonLdError,
    ValueError,
    TypeError,
    KeyError,
    AttributeError,
    RecursionError,
)


def canonicalize(document: Mapping[str, Any]) -> str:
    """RDFC-1.0 canonical N-Quads of a JSON-LD document (bundled contexts only)."""
    budget = _steps.set([0])
    try:
        nquads: str = jsonld.normalize(
            dict(document),
            _options(algorithm="URDNA2015", format="application/n-quads"),
        )
    except CanonicalizationLimitError:
        raise
    except _PROCESSING_ERRORS as exc:
        raise _jsonld_error("the document", exc) from exc
    finally:
        _steps.reset(budget)
    return nquads


_ABSOLUTE_IRI: Final = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
#: PyLD resolves a relative IRI of a document without a base against this made-up base (where
#: jsonld.js keeps it relative and drops it), so an IRI under it was a relative reference.
_PYLD_DEFAULT_BASE: Final[str] = jsonld.DEFAULT_BASE_IRI


def _is_iri_or_blank(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    if value.startswith("_:"):
        return True
    return _ABSOLUTE_IRI.match(value) is not None and not value.startswith(_PYLD_DEFAULT_BASE)


def _key_paths(node: Any, prefix: str = "") -> Iterator[str]:
    """Every property path of a JSON document (array positions folded), ``@context`` aside.

    A node that is nothing but its id (``{"id": "did:example:x"}``) is a leaf: compaction
    writes it as the bare IRI (an ``@id``-typed term's value), which is the same node.
    """
    if isinstance(node, Mapping) and set(node) <= {"id", "@id"}:
        return
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key == "@context" or value is None:
                continue
            path = f"{prefix}/{key}"
            yield path
            yield from _key_paths(value, path)
    elif isinstance(node, list):
        for item in node:
            yield from _key_paths(item, prefix)


def _relative_references(node: Any, prefix: str = "") -> Iterator[str]:
    """``@id`` and ``@type`` values of an expanded document that are not absolute IRIs."""
    if isinstance(node, list):
        for item in node:
            yield from _relative_references(item, prefix)
        return
    if not isinstance(node, Mapping):
        return
    where = prefix or "/"
    if "@value" in node:
        yield from _relative_datatype(node, where)
        return
    if "@id" in node and not _is_iri_or_blank(node["@id"]):
        yield f"{where} (relative id {_relative(node['@id'])!r})"
    for kind in node.get("@type", []):
        if not _is_iri_or_blank(kind):
            yield f"{where} (undefined type {_relative(kind)!r})"
    for key, value in node.items():
        if key not in {"@id", "@type"}:
            yield from _relative_references(value, f"{prefix}/{key}")


def _relative_datatype(value: Mapping[str, Any], where: str) -> Iterator[str]:
    datatype = value.get("@type")
    if datatype not in {None, "@json"} and not _is_iri_or_blank(datatype):
        yield f"{where} (undefined datatype {_relative(datatype)!r})"


def _relative(iri: Any) -> Any:
    return iri.removeprefix(_PYLD_DEFAULT_BASE) if isinstance(iri, str) else iri


def undefined_terms(document: Mapping[str, Any]) -> list[str]:
    """Where ``document`` uses terms its contexts do not define (empty when it uses none).

    The document is expanded and compacted back with its own ``@context``: a property that
    did not survive the round trip is one JSON-LD processing drops, so no proof covers it.
    Types and ids that stay relative IRIs are reported too (RDF conversion drops them).

    The credentials a presentation embeds (``verifiableCredential``, a graph container that
    compaction does not bring back to their own contexts' terms) are checked one by one, each
    with its own ``@context``.
    """
    embedded = document.get("verifiableCredential")
    if embedded is not None:
        outer = {k: v for k, v in document.items() if k != "verifiableCredential"}
        found = undefined_terms(outer)
        for credential in embedded if isinstance(embedded, list) else [embedded]:
            if isinstance(credential, Mapping):
                inner = {"@context": document.get("@context", {}), **credential}
                found += [f"/verifiableCredential{t}" for t in undefined_terms(inner)]
        return found
    try:
        expanded = jsonld.expand(dict(document), _options())
        compacted = jsonld.compact(expanded, {"@context": document.get("@context", {})}, _options())
    except _PROCESSING_ERRORS as exc:
        raise _jsonld_error("the document", exc) from exc
    dropped = sorted(set(_key_paths(document)) - set(_key_paths(compacted)))
    return [*dropped, *_relative_references(expanded)]


def _assert_defined(where: str, document: Mapping[str, Any]) -> None:
    terms = undefined_terms(document)
    if terms:
        raise UndefinedTermsError(where, terms)


# --- the cryptosuite ----------------------------------------------------------------------


@dataclass(frozen=True)
class ProofOptions:
    verification_method: str
    created: datetime
    proof_purpose: str = ASSERTION_METHOD

    def as_proof(self) -> dict[str, Any]:
        """The proof's members before signing, in the order the spec's examples write them."""
        return {
            "type": PROOF_TYPE,
            "created": xsd_datetime(self.created),
            "verificationMethod": self.verification_method,
            "cryptosuite": CRYPTOSUITE,
            "proofPurpose": self.proof_purpose,
        }


def xsd_datetime(moment: datetime) -> str:
    """An ``xsd:dateTime`` in UTC, to the second: ``2010-01-01T19:23:24Z``."""
    if moment.tzinfo is None:
        raise ValueError("a proof's creation time must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def unsecured(document: Mapping[str, Any]) -> dict[str, Any]:
    """The document without its proofs."""
    return {k: v for k, v in document.items() if k != "proof"}


def hash_data(document: Mapping[str, Any], proof_config: Mapping[str, Any]) -> bytes:
    """SHA-256(canonical proof configuration) ‖ SHA-256(canonical unsecured document).

    ``proof_config`` is the proof without ``proofValue``; it gets the document's ``@context``
    (vc-di-eddsa, "Proof Configuration (eddsa-rdfc-2022)").
    """
    if proof_config.get("type") != PROOF_TYPE or proof_config.get("cryptosuite") != CRYPTOSUITE:
        raise DataIntegrityError(f"not a {PROOF_TYPE} with the {CRYPTOSUITE} cryptosuite")
    config = {**copy.deepcopy(dict(proof_config)), "@context": document.get("@context")}
    config.pop("proofValue", None)
    canonical_config = canonicalize(config)
    canonical_document = canonicalize(document)
    return (
        hashlib.sha256(canonical_config.encode()).digest()
        + hashlib.sha256(canonical_document.encode()).digest()
    )


def create_proof(
    document: Mapping[str, Any], private_key: Ed25519PrivateKey, options: ProofOptions
) -> dict[str, Any]:
    """An ``eddsa-rdfc-2022`` proof of ``document`` (its proofs, if any, left out).

    Refuses, before signing, a document or proof with terms no bundled context defines.
    """
    plain = unsecured(document)
    proof = options.as_proof()
    # The proof's own members are the cryptosuite's fixed, defined terms (``ProofOptions``):
    # only the document can bring undefined ones.
    _assert_defined("the credential", plain)
    signature = private_key.sign(hash_data(plain, proof))
    return {**proof, "proofValue": "z" + base58.b58encode(signature).decode()}


def sign(
    document: Mapping[str, Any], private_key: Ed25519PrivateKey, options: ProofOptions
) -> dict[str, Any]:
    """``document`` with an ``eddsa-rdfc-2022`` proof added to its ``proof`` array.

    ``proof`` is always an array (1EdTech's strict JSON Schema for OBv3 requires one); a
    single proof object already there becomes the array's first member.
    """
    proof = create_proof(document, private_key, options)
    existing = document.get("proof")
    proofs = [] if existing is None else existing if isinstance(existing, list) else [existing]
    return {**document, "proof": [*proofs, proof]}


def proofs_of(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The document's Data Integrity proofs of this cryptosuite (``proof`` object or array)."""
    proof = document.get("proof")
    proofs = proof if isinstance(proof, list) else [] if proof is None else [proof]
    return [
        p
        for p in proofs
        if isinstance(p, dict)
        and p.get("type") == PROOF_TYPE
        and p.get("cryptosuite") == CRYPTOSUITE
    ]


def decode_proof_value(value: Any) -> bytes:
    if not isinstance(value, str) or not value.startswith("z"):
        raise DataIntegrityError("proofValue is not multibase base58btc ('z…')")
    try:
        signature = base58.b58decode(value[1:])
    except ValueError as exc:
        raise DataIntegrityError(f"proofValue is not base58btc: {exc}") from exc
    if len(signature) != ED25519_SIGNATURE_LENGTH:
        raise DataIntegrityError("proofValue is not an Ed25519 signature (64 bytes)")
    return signature


def previous_proofs(document: Mapping[str, Any], proof: Mapping[str, Any]) -> list[Any]:
    """The proofs ``proof.previousProof`` names (a proof chain), from the document's proofs.

    Raises ``DataIntegrityError`` when one of them is not in the document.
    """
    wanted = proof.get("previousProof")
    if wanted is None:
        return []
    ids = wanted if isinstance(wanted, list) else [wanted]
    present = document.get("proof")
    present = present if isinstance(present, list) else [present]
    found = [p for p in present if isinstance(p, Mapping) and p.get("id") in ids]
    if len(found) != len(ids):
        raise DataIntegrityError(f"previousProof names a proof the document lacks: {wanted}")
    return found


def verify_proof(
    document: Mapping[str, Any], proof: Mapping[str, Any], public_key: Ed25519PublicKey
) -> None:
    """Check one ``eddsa-rdfc-2022`` proof of ``document`` with ``public_key``; raise if bad.

    The document is taken without all its proofs (the spec's unsecured document), apart from
    those the proof's ``previousProof`` names (a proof chain signs them too). A proof that
    carries its own ``@context`` must name the document's leading contexts, in order.
    """
    previous = previous_proofs(document, proof)
    plain = unsecured(document)
    options = {k: v for k, v in proof.items() if k != "proofValue"}
    if "@context" in options:
        ours = options.pop("@context")
        ours = ours if isinstance(ours, list) else [ours]
        theirs = plain.get("@context")
        theirs = theirs if isinstance(theirs, list) else [theirs]
        if theirs[: len(ours)] != ours:
            raise DataIntegrityError("the proof's @context does not match the document's")
    signature = decode_proof_value(proof.get("proofValue"))
    _assert_defined("the credential", plain)
    _assert_defined("the proof", {**options, "@context": plain.get("@context")})
    signed = {**plain, "proof": previous} if previous else plain
    try:
        public_key.verify(signature, hash_data(signed, options))
    except InvalidSignature as exc:
        raise DataIntegrityError("the proof's signature does not verify") from exc
