"""Baking a credential into a badge image, and reading it back: Open Badges 3.0 §5.3 "Baking".

SVG: the root ``<svg>`` declares ``xmlns:openbadges="https://purl.imsglobal.org/ob/v3p0"`` and
its first child is one ``<openbadges:credential>``: a VC-JWT (compact JWS) goes in its ``verify``
attribute, a credential with an embedded proof (JSON-LD) goes in its body as CDATA.

PNG: one ``iTXt`` chunk with the keyword ``openbadgecredential``, uncompressed, with empty language
tag and translated keyword, whose text is the JSON credential or the compact JWS.

Reading accepts either form and returns the credential (a ``dict``) or the compact JWT (a ``str``);
nothing is verified here. Input is untrusted: it is size-limited, SVG is parsed with ``defusedxml``
refusing any DTD (no entities, so no XXE and no "billion laughs"), PNG chunks are length- and
CRC-checked, and every refusal is a :class:`BakingError` saying why.
"""

from __future__ import annotations

import json
import re
import struct
import zlib
from collections.abc import Iterator, Mapping
from typing import Any, Final
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

OB_NAMESPACE: Final = "https://purl.imsglobal.org/ob/v3p0"
SVG_NAMESPACE: Final = "http://www.w3.org/2000/svg"
PNG_KEYWORD: Final = b"openbadgecredential"
PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"

#: The largest image read back (a baked credential is a few kilobytes; a badge, tens).
MAX_IMAGE_BYTES: Final = 4 * 1024 * 1024
#: The largest baked payload (credential JSON or JWT) accepted.
MAX_PAYLOAD_BYTES: Final = 1024 * 1024

_COMPACT_JWS = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+$")
_SVG_ROOT = re.compile(r"<svg\b[^>]*>", re.DOTALL)

Baked = dict[str, Any] | str


class BakingError(ValueError):
    """An image that carries no credential, or that is malformed or refused; says why."""


# --- the payload -------------------------------------------------------------------------------


def credential_json(credential: Mapping[str, Any]) -> str:
    r"""The credential as JSON, safe inside CDATA and any XML 1.0 document.

    ASCII only (every other character as a ``\u`` escape, so no character XML forbids can
    appear), and ``>`` escaped so that the text never contains ``]]>``: the JSON value is
    unchanged.
    """
    return json.dumps(credential, ensure_ascii=True, separators=(",", ":")).replace(">", "\\u003e")


def _payload(text: str) -> Baked:
    """A baked text: a compact JWS, or a JSON object (the credential)."""
    text = text.strip()
    if not text:
        raise BakingError("the baked credential is empty")
    if len(text.encode()) > MAX_PAYLOAD_BYTES:
        raise BakingError(f"the baked credential is larger than {MAX_PAYLOAD_BYTES} bytes")
    if text.startswith("{"):
        try:
            credential = json.loads(text)
        except ValueError as exc:
            raise BakingError(f"the baked credential is not valid JSON: {exc}") from exc
        except RecursionError as exc:
            raise BakingError("the baked credential is nested too deeply") from exc
        if not isinstance(credential, dict):
            raise BakingError("the baked credential is not a JSON object")
        return credential
    return _jwt(text)


def _jwt(text: str) -> str:
    token = text.strip()
    if not _COMPACT_JWS.fullmatch(token):
        raise BakingError("the baked VC-JWT is not a compact JWS (header.payload.signature)")
    return token


# --- SVG ---------------------------------------------------------------------------------------


def bake_svg(svg: str, credential: Mapping[str, Any] | str) -> str:
    """Bake ``credential`` (a JSON-LD credential, or a compact VC-JWT) into an SVG document.

    ``svg`` is a badge image without a credential (such as ``badge.render_badge``'s): the
    ``openbadges`` namespace goes on its root and the credential becomes its first child.
    """
    if isinstance(credential, str):
        element = f'<openbadges:credential verify="{_jwt(credential)}"/>'
    else:
        element = f"<openbadges:credential><![CDATA[{credential_json(credential)}]]>"
        element += "</openbadges:credential>"
    match = _SVG_ROOT.search(svg)
    if match is None:
        raise BakingError("not an SVG document: no <svg> element")
    root = match.group()
    if "xmlns:openbadges" in root or "<openbadges:credential" in svg:
        # The rules allow one credential per image: refuse rather than guess which one counts.
        raise BakingError("the SVG already carries a baked credential")
    namespace = f' xmlns:openbadges="{OB_NAMESPACE}"'
    if root.endswith("/>"):
        baked_root = f"{root[:-2].rstrip()}{namespace}>{element}</svg>"
    else:
        baked_root = f"{root[:-1]}{namespace}>{element}"
    baked = svg[: match.start()] + baked_root + svg[match.end() :]
    # What was baked must read back: a root whose attributes fooled the pattern would not.
    unbake_svg(baked.encode())
    return baked


def _parse_svg(data: bytes) -> Element:
    if len(data) > MAX_IMAGE_BYTES:
        raise BakingError(f"the image is larger than {MAX_IMAGE_BYTES} bytes")
    try:
        root: Element = fromstring(
            data, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except DefusedXmlException as exc:
        raise BakingError(f"refused: the SVG declares a DTD or entities ({exc!r})") from exc
    except ParseError as exc:
        raise BakingError(f"not well-formed XML: {exc}") from exc
    if root.tag != f"{{{SVG_NAMESPACE}}}svg":
        raise BakingError("not an SVG document: the root element is not <svg>")
    return root


def unbake_svg(data: bytes) -> Baked:
    """The credential baked into an SVG: a ``dict`` (JSON-LD) or a ``str`` (compact VC-JWT)."""
    root = _parse_svg(data)
    found = root.findall(f".//{{{OB_NAMESPACE}}}credential")
    if not found:
        raise BakingError("the SVG carries no baked credential (no <openbadges:credential>)")
    if len(found) > 1:
        raise BakingError("the SVG carries more than one baked credential")
    [element] = found
    verify = element.get("verify")
    if verify is not None:
        return _jwt(verify)
    return _payload(element.text or "")


# --- PNG ---------------------------------------------------------------------------------------


def _chunks(data: bytes) -> Iterator[tuple[bytes, bytes, int, int]]:
    """Each chunk's type and data, with its start and end offsets; checks lengths and CRCs."""
    if not data.startswith(PNG_SIGNATURE):
        raise BakingError("not a PNG image: bad signature")
    offset = len(PNG_SIGNATURE)
    while offset < len(data):
        if offset + 8 > len(data):
            raise BakingError("truncated PNG: incomplete chunk header")
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        end = offset + 12 + length
        if length > 2**31 - 1 or end > len(data):
            raise BakingError(f"truncated PNG: chunk {kind!r} runs past the end")
        body = data[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", data[end - 4 : end])
        if zlib.crc32(kind + body) != crc:
            raise BakingError(f"corrupt PNG: bad CRC in chunk {kind!r}")
        yield kind, body, offset, end
        offset = end
        if kind == b"IEND":
            return
    raise BakingError("truncated PNG: no IEND chunk")


def _itxt_keyword(body: bytes) -> bytes:
    return body.split(b"\0", 1)[0]


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def bake_png(png: bytes, credential: Mapping[str, Any] | str) -> bytes:
    """Bake ``credential`` into a PNG image as its one ``iTXt:openbadgecredential`` chunk.

    A credential baked before is replaced (the rules let a baker overwrite or refuse).
    """
    if len(png) > MAX_IMAGE_BYTES:
        raise BakingError(f"the image is larger than {MAX_IMAGE_BYTES} bytes")
    text = _jwt(credential) if isinstance(credential, str) else credential_json(credential)
    # keyword NUL, compression flag 0, method 0, empty language tag NUL, empty keyword NUL, text.
    itxt = _chunk(b"iTXt", PNG_KEYWORD + b"\0\0\0\0\0" + text.encode())
    kept = [PNG_SIGNATURE]
    for kind, body, start, end in _chunks(png):
        if kind == b"iTXt" and _itxt_keyword(body) == PNG_KEYWORD:
            continue
        if kind == b"IEND":
            kept.append(itxt)
        kept.append(png[start:end])
    return b"".join(kept)


def unbake_png(data: bytes) -> Baked:
    """The credential baked into a PNG: a ``dict`` (JSON-LD) or a ``str`` (compact VC-JWT)."""
    if len(data) > MAX_IMAGE_BYTES:
        raise BakingError(f"the image is larger than {MAX_IMAGE_BYTES} bytes")
    for kind, body, _, _ in _chunks(data):
        if kind != b"iTXt" or _itxt_keyword(body) != PNG_KEYWORD:
            continue
        rest = body[len(PNG_KEYWORD) + 1 :]
        if len(rest) < 2:  # noqa: PLR2004 - the two bytes of compression flag and method
            raise BakingError("malformed iTXt chunk: no compression flag")
        compressed, fields = rest[0], rest[2:]
        parts = fields.split(b"\0", 2)
        if len(parts) != 3:  # noqa: PLR2004 - language tag, translated keyword, text
            raise BakingError("malformed iTXt chunk: missing separators")
        text = parts[2]
        if compressed:
            inflate = zlib.decompressobj()
            try:
                text = inflate.decompress(text, MAX_PAYLOAD_BYTES + 1)
            except zlib.error as exc:
                raise BakingError(f"malformed iTXt chunk: bad compressed text ({exc})") from exc
            if len(text) > MAX_PAYLOAD_BYTES:
                raise BakingError(f"the baked credential is larger than {MAX_PAYLOAD_BYTES} bytes")
        try:
            return _payload(text.decode())
        except UnicodeDecodeError as exc:
            raise BakingError("malformed iTXt chunk: the text is not UTF-8") from exc
    raise BakingError("the PNG carries no baked credential (no iTXt openbadgecredential chunk)")


def unbake(image: bytes) -> Baked:
    """The credential baked into a PNG or SVG image, told apart by their first bytes."""
    if image.startswith(PNG_SIGNATURE):
        return unbake_png(image)
    head = image[:1024].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<"):
        return unbake_svg(image)
    raise BakingError("not a PNG or SVG image")
