"""The badge image of a credential: an accessible SVG, baked with the credential.

A competence's micro-credential is a round badge in teal; a pathway's certificate is a hexagon in
purple and gold that says how many micro-credentials it stacks: the two differ in shape, not only
in colour. A revoked or suspended credential keeps its image, faded, with the word across it.

Every piece of text comes from an institution or a learner and is escaped; characters XML does
not allow are dropped, so no title can break the document or inject markup.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from microcred_issuer.rendering.baking import bake_svg
from microcred_issuer.rendering.elements import CredentialView, view_of
from microcred_issuer.rendering.labels import labels_for

SIZE: Final = 512
FONT: Final = "'DejaVu Sans', Verdana, 'Segoe UI', Arial, sans-serif"

#: Characters XML 1.0 does not allow (C0 controls but tab/LF/CR, surrogates, U+FFFE/U+FFFF).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def escape(text: str) -> str:
    """``text`` made safe as XML character data *and* as a quoted attribute value."""
    cleaned = _NOT_XML.sub("", text)
    return (
        cleaned.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&apos;")
    )


def _width(text: str) -> int:
    """Display width in "narrow" characters (CJK and other wide characters count twice)."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pieces(word: str, width: int) -> list[str]:
    """``word`` cut into pieces no wider than ``width`` (a word longer than a line)."""
    pieces = [""]
    for char in word:
        if pieces[-1] and _width(pieces[-1] + char) > width:
            pieces.append("")
        pieces[-1] += char
    return pieces


def wrap(text: str, width: int, max_lines: int) -> list[str]:
    """Word-wrap ``text`` to ``max_lines`` lines of about ``width``; an ellipsis if it is cut."""
    lines: list[str] = []
    line = ""
    for word in (p for w in text.split() for p in _pieces(w, width)):
        candidate = f"{line} {word}".strip()
        if _width(candidate) <= width:
            line = candidate
        else:
            lines.append(line)
            line = word
    if line:
        lines.append(line)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        last = lines[-1]
        while last and _width(last) + 1 > width:
            last = last[:-1]
        lines[-1] = last.rstrip() + "…"
    return lines or [""]


def _text_block(lines: list[str], *, y: float, size: int, weight: str, fill: str) -> str:
    spans = "".join(
        f'<tspan x="{SIZE // 2}" dy="{0 if i == 0 else round(size * 1.2, 1)}">{escape(s)}</tspan>'
        for i, s in enumerate(lines)
    )
    return (
        f'<text x="{SIZE // 2}" y="{y}" font-size="{size}" font-weight="{weight}" '
        f'fill="{fill}" text-anchor="middle">{spans}</text>'
    )


def _hexagon(radius: float) -> str:
    c = SIZE / 2
    h = radius * 0.8660254
    points = [
        (c, c - radius),
        (c + h, c - radius / 2),
        (c + h, c + radius / 2),
        (c, c + radius),
        (c - h, c + radius / 2),
        (c - h, c - radius / 2),
    ]
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in points)


def _shapes(pathway: bool) -> tuple[str, str, str]:
    """The badge's outline shapes, its main colour and its accent."""
    if pathway:
        primary, accent = "#4c1d95", "#d97706"
        shapes = (
            f'<polygon points="{_hexagon(250)}" fill="{accent}"/>'
            f'<polygon points="{_hexagon(236)}" fill="{primary}"/>'
            f'<polygon points="{_hexagon(212)}" fill="#fffbeb"/>'
        )
    else:
        primary, accent = "#0f766e", "#14b8a6"
        shapes = (
            f'<circle cx="256" cy="256" r="250" fill="{accent}"/>'
            f'<circle cx="256" cy="256" r="236" fill="{primary}"/>'
            '<circle cx="256" cy="256" r="212" fill="#f0fdfa"/>'
        )
    return shapes, primary, accent


def _status_overlay(word: str) -> str:
    return (
        '<g transform="rotate(-28 256 256)">'
        '<rect x="-20" y="218" width="552" height="76" fill="#b91c1c" opacity="0.92"/>'
        f'<text x="256" y="273" font-size="52" font-weight="bold" fill="#ffffff" '
        f'text-anchor="middle" letter-spacing="6">{escape(word.upper())}</text></g>'
    )


def describe(view: CredentialView, language: str = "en") -> tuple[str, str]:
    """The badge's accessible name and description."""
    _, words = labels_for(language)
    kind = words["kind_pathway"] if view.is_pathway else words["kind_competence"]
    name = f"{view.title} — {kind}, {view.provider.name}"
    facts = [f"{words['issued_on']}: {view.issued_on}"]
    if view.eqf_level:
        facts.append(f"{words['eqf_level']} {view.eqf_level}")
    if view.ects:
        facts.append(f"{view.ects} {words['ects']}")
    if view.is_pathway and view.stacked:
        facts.append(f"{words['stacked']}: {len(view.stacked)}")
    if view.status in {"revoked", "suspended"}:
        since = f" ({words['since']} {view.status_since})" if view.status_since else ""
        name = f"{words[view.status]}{since}: {name}"
        facts.append(words[f"{view.status}_note"])
    return name, ". ".join(facts) + "."


def render_badge(view: CredentialView, language: str = "en") -> str:
    """The badge of ``view`` as an SVG document, not yet baked."""
    _, words = labels_for(language)
    shapes, primary, accent = _shapes(view.is_pathway)
    name, description = describe(view, language)
    ident = "b" + hashlib.sha256(view.credential_id.encode()).hexdigest()[:10]
    kind = words["kind_pathway"] if view.is_pathway else words["kind_competence"]
    institution = wrap(view.provider.name, 30, 2)
    title = wrap(view.title, 19, 3)
    facts = [f"{view.ects} {words['ects']}" if view.ects else ""]
    if view.eqf_level:
        facts.insert(0, f"{words['eqf_level']} {view.eqf_level}")
    ribbon = "  ·  ".join(f for f in facts if f)
    title_size = 30 if len(title) < 3 else 26  # noqa: PLR2004 - three lines get smaller
    middle = 226 + (len(institution) - 1) * 10
    title_y = round(middle - (len(title) - 1) * title_size * 0.6 + title_size * 0.35, 1)
    stacked = ""
    if view.is_pathway and view.stacked:
        stacked = _text_block(
            [f"{words['stacked']}: {len(view.stacked)}"],
            y=300,
            size=15,
            weight="normal",
            fill=primary,
        )
    faded = view.status in {"revoked", "suspended"}
    body = (
        f'<g opacity="{0.4 if faded else 1}">'
        f"{shapes}"
        + _text_block([kind.upper()], y=104, size=17, weight="bold", fill=accent)
        + _text_block(institution, y=140, size=19, weight="normal", fill="#1f2937")
        + _text_block(title, y=title_y, size=title_size, weight="bold", fill=primary)
        + stacked
        + f'<rect x="106" y="318" width="300" height="52" rx="10" fill="{primary}"/>'
        + _text_block([ribbon], y=352, size=23, weight="bold", fill="#ffffff")
        + _text_block(
            [f"{words['issued_on']}: {view.issued_on}"],
            y=408,
            size=16,
            weight="normal",
            fill="#374151",
        )
        + "</g>"
    )
    overlay = _status_overlay(words[view.status]) if faded else ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {SIZE} {SIZE}" '
        f'width="{SIZE}" height="{SIZE}" role="img" aria-labelledby="{ident}-t {ident}-d" '
        f'font-family="{escape(FONT)}" data-achievement-type="{escape(view.achievement_kind)}">'
        f'<title id="{ident}-t">{escape(name)}</title>'
        f'<desc id="{ident}-d">{escape(description)}</desc>'
        f"{body}{overlay}</svg>\n"
    )


def baked_badge(
    credential: Mapping[str, Any],
    *,
    jwt: str | None = None,
    status: str = "active",
    status_since: datetime | None = None,
    language: str = "en",
) -> str:
    """The badge of ``credential``, baked with it (JSON-LD), or with ``jwt`` when given."""
    view = view_of(credential, status=status, status_since=status_since)
    return bake_svg(render_badge(view, language), jwt if jwt is not None else credential)
