"""What a verifier is handed, read into a credential (JSON-LD) or a compact VC-JWT.

The same reading serves ``POST /verify`` (by media type) and ``microcred verify FILE`` (by
content): a JSON-LD credential, a VC-JWT, or a badge image (SVG or PNG) with one baked in. Input
that is no credential at all is refused here with an :class:`UnusableInputError` saying why, so
that a verifier never answers "not verified" for something that was never a credential.
Nothing is verified here.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any, Final

from microcred_issuer.rendering.baking import MAX_IMAGE_BYTES, PNG_SIGNATURE, BakingError, unbake

#: The largest input read: a badge image (4 MiB), and so any credential or token as well.
MAX_INPUT_BYTES: Final = MAX_IMAGE_BYTES

#: A compact JWS: header, payload and signature (empty for ``alg: none``, refused later by the
#: signature check, which says so).
_COMPACT_JWS: Final = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")

JSON_TYPES: Final = frozenset(
    {"application/json", "application/ld+json", "application/vc+ld+json", "application/vc"}
)
JWT_TYPES: Final = frozenset({"text/plain", "application/jwt", "application/vc+jwt"})
IMAGE_TYPES: Final = frozenset({"image/svg+xml", "image/png"})

#: A credential as presented: JSON-LD (a ``dict``) or a compact VC-JWT (a ``str``).
Presented = dict[str, Any] | str


class UnusableInputError(ValueError):
    """Input that is not a credential (or is too large, or of a kind not read); says why."""

    def __init__(
        self, reason: str, status: int = HTTPStatus.UNPROCESSABLE_ENTITY, title: str = ""
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.title = title or "Not a credential"


def too_large(size: int) -> UnusableInputError:
    return UnusableInputError(
        f"the input is {size} bytes or more; at most {MAX_INPUT_BYTES} are read",
        HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
        "Too large",
    )


def media_type_of(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _b64url_json(segment: str, what: str) -> Any:
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        return json.loads(raw)
    except (binascii.Error, ValueError, RecursionError) as exc:
        raise UnusableInputError(f"not a VC-JWT: its {what} is not base64url JSON") from exc


def credential_jwt(text: str) -> str:
    """``text`` if it is a compact JWS whose header and payload are JSON objects."""
    token = text.strip()
    if not _COMPACT_JWS.fullmatch(token):
        raise UnusableInputError(
            "not a VC-JWT: a compact JWS is three base64url parts (header.payload.signature)"
        )
    header_segment, payload_segment, _ = token.split(".")
    if not isinstance(_b64url_json(header_segment, "header"), dict):
        raise UnusableInputError("not a VC-JWT: its header is not a JSON object")
    if not isinstance(_b64url_json(payload_segment, "payload"), dict):
        raise UnusableInputError("not a VC-JWT: its payload is not a JSON object")
    return token


def _is_credential(document: Mapping[str, Any]) -> bool:
    kinds = document.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    return "@context" in document and "VerifiableCredential" in kinds


def credential_object(value: Any) -> Presented:
    """A JSON value as presented: a credential, or an object wrapping one (or its VC-JWT).

    The wrappers are the VC-API's ``{"verifiableCredential": …}`` and the platform's own
    ``{"credential": …}`` or ``{"credential_jwt": "…"}``.
    """
    if not isinstance(value, dict):
        raise UnusableInputError("not a credential: the JSON is not an object")
    if _is_credential(value):
        return value
    for wrapper in ("credential_jwt", "credential", "verifiableCredential"):
        inner = value.get(wrapper)
        if isinstance(inner, str):
            return credential_jwt(inner)
        if isinstance(inner, dict) and _is_credential(inner):
            return inner
    raise UnusableInputError(
        "not a credential: a JSON object with an @context and the type VerifiableCredential "
        '(or {"credential_jwt": "…"}) was expected'
    )


def credential_json(data: bytes) -> Presented:
    try:
        value = json.loads(data)
    except UnicodeDecodeError as exc:
        raise UnusableInputError("not a credential: the JSON is not UTF-8 text") from exc
    except RecursionError as exc:
        raise UnusableInputError("not a credential: the JSON is nested too deeply") from exc
    except ValueError as exc:
        raise UnusableInputError(f"malformed JSON: {exc}", HTTPStatus.BAD_REQUEST) from exc
    return credential_object(value)


def credential_text(data: bytes) -> str:
    try:
        return credential_jwt(data.decode("ascii"))
    except UnicodeDecodeError as exc:
        raise UnusableInputError("not a VC-JWT: a compact JWS is ASCII text") from exc


def baked_credential(image: bytes) -> Presented:
    """The credential baked into a badge image (PNG or SVG), refused if there is none."""
    try:
        baked = unbake(image)
    except BakingError as exc:
        raise UnusableInputError(f"no credential could be read from the image: {exc}") from exc
    if isinstance(baked, str):
        return credential_jwt(baked)
    return credential_object(baked)


def _check_size(data: bytes) -> None:
    if len(data) > MAX_INPUT_BYTES:
        raise too_large(len(data))


def read_as(data: bytes, media_type: str) -> Presented:
    """Read ``data`` given as ``media_type`` (a JSON, JWT or image type)."""
    _check_size(data)
    if media_type in JSON_TYPES or media_type.endswith("+json"):
        return credential_json(data)
    if media_type in JWT_TYPES or media_type.endswith("+jwt"):
        return credential_text(data)
    if media_type in IMAGE_TYPES:
        return baked_credential(data)
    raise UnusableInputError(
        f"media type {media_type or '(none)'} is not read: send a credential as "
        "application/json or application/ld+json, a VC-JWT as text/plain or application/jwt, "
        "or a badge as image/svg+xml or image/png",
        HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
        "Unsupported media type",
    )


def sniff(data: bytes) -> Presented:
    """Read ``data`` of unknown kind (a file, an upload, pasted text) by its first bytes."""
    _check_size(data)
    if not data.strip():
        raise UnusableInputError("the input is empty")
    if data.startswith(PNG_SIGNATURE):
        return baked_credential(data)
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<"):
        return baked_credential(data)
    if head.startswith((b"{", b"[")):
        return credential_json(head)
    return credential_text(head)
