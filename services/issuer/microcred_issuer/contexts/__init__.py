"""The JSON-LD context documents the issuer knows, bundled, pinned, and served offline.

Every document is package data next to this module (``SOURCE.md`` says which npm package and
version each comes from). Each file's SHA-256 is pinned here and checked when the files are read:
a changed file stops the issuer rather than letting it sign with a context no one else has. The
document loader serves these URLs and refuses every other one, so canonicalising never touches
the network and never meets a context an attacker chose.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from types import MappingProxyType
from typing import Any

VC_V2 = "https://www.w3.org/ns/credentials/v2"
VC_V1 = "https://www.w3.org/2018/credentials/v1"
DATA_INTEGRITY_V2 = "https://w3id.org/security/data-integrity/v2"
MULTIKEY_V1 = "https://w3id.org/security/multikey/v1"
DID_V1 = "https://www.w3.org/ns/did/v1"
CREDENTIALS_EXAMPLES_V2 = "https://www.w3.org/ns/credentials/examples/v2"
OB_V3P0_3_0_1 = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.1.json"
OB_V3P0_3_0_2 = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.2.json"
OB_V3P0_3_0_3 = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"


@dataclass(frozen=True)
class BundledContext:
    url: str
    file: str
    sha256: str


#: URL → file in this package and its pinned SHA-256.
BUNDLED: tuple[BundledContext, ...] = (
    BundledContext(
        VC_V2,
        "credentials-v2.jsonld",
        "8a9f494a89ecc51db093e90e84713e07e84d6d9204364a9b3c7868b21751236f",
    ),
    BundledContext(
        VC_V1,
        "credentials-v1.jsonld",
        "00d7dd6d3ad8b920e3e550dd3a3d9090bffcac84cdbf943da6924b3e0a5c8bb8",
    ),
    BundledContext(
        DATA_INTEGRITY_V2,
        "data-integrity-v2.jsonld",
        "0f77743daf5b4e8fc067fc5ba5b21044283053aa717fc6b0219843bed3b00363",
    ),
    BundledContext(
        MULTIKEY_V1,
        "multikey-v1.jsonld",
        "c5f3806f8286920573221938917988a18a4cc5a09e968d29649613c7a1c2b1f6",
    ),
    BundledContext(
        DID_V1,
        "did-v1.jsonld",
        "62c1054bf404d6dd3a4b26b64f830fd72095f6a26edc4469908c94351352ce5f",
    ),
    BundledContext(
        CREDENTIALS_EXAMPLES_V2,
        "credentials-examples-v2.jsonld",
        "57393fbc69d6efb9b9b5dc9cb6b9880b0944360abfe2eaf459c9e58cf2279d7c",
    ),
    BundledContext(
        OB_V3P0_3_0_1,
        "ob-v3p0-context-3.0.1.json",
        "af095468326d3449160509b26ca71576e6321d13c85b0369cfe3b654c9a48fba",
    ),
    BundledContext(
        OB_V3P0_3_0_2,
        "ob-v3p0-context-3.0.2.json",
        "00666ad080ba407687ed1846b7f5e7495f5019042b202a727de47c48a1755c53",
    ),
    BundledContext(
        OB_V3P0_3_0_3,
        "ob-v3p0-context-3.0.3.json",
        "ef2fa9c7846dce233cc166b43639027278be4ee44f00bb1d45c75de2dd0cd761",
    ),
)


class ContextIntegrityError(RuntimeError):
    """A bundled context file is not the one whose hash is pinned."""


class ContextRefusedError(ValueError):
    """A document asked for a context this issuer does not bundle."""

    def __init__(self, url: str) -> None:
        self.url = url
        super().__init__(
            f"JSON-LD context {url!r} is not one of the bundled contexts "
            f"({', '.join(c.url for c in BUNDLED)}); the issuer never fetches contexts"
        )


def load_contexts(
    directory: Traversable, bundled: tuple[BundledContext, ...] = BUNDLED
) -> Mapping[str, Any]:
    """Read the bundled documents from ``directory``, each checked against its pinned hash."""
    documents: dict[str, Any] = {}
    for context in bundled:
        data = directory.joinpath(context.file).read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if digest != context.sha256:
            raise ContextIntegrityError(
                f"bundled JSON-LD context {context.file} ({context.url}) has SHA-256 {digest}, "
                f"not the pinned {context.sha256}: refusing to use it"
            )
        documents[context.url] = json.loads(data)
    return MappingProxyType(documents)


@cache
def bundled_contexts() -> Mapping[str, Any]:
    """The bundled documents by URL (read and checked once per process)."""
    return load_contexts(files(__name__))


#: What PyLD's document loaders return.
RemoteDocument = dict[str, Any]
DocumentLoader = Callable[[str, Any], RemoteDocument]


def offline_document_loader(url: str, options: Any = None) -> RemoteDocument:  # noqa: ARG001
    """PyLD document loader: the bundled contexts only; any other URL raises."""
    document = bundled_contexts().get(url)
    if document is None:
        raise ContextRefusedError(url)
    # "static": PyLD's context resolver keeps a processed context across operations only when
    # its document says it never changes, which the bundled ones never do.
    return {
        "contextUrl": None,
        "documentUrl": url,
        "document": copy.deepcopy(document),
        "tag": "static",
    }
