"""The PDF certificate of a credential: every EU constitutive element, and a QR code to verify it.

A printable companion to the signed credential, for people rather than verifiers: it lists the
learner, provider and awarding body with their countries, title, date of issuance, learning
outcomes, workload in ECTS, assessment method, quality assurance, EQF/NQF level, ISCED-F field,
form of participation, access requirements, the evidence that counted (with its hours) and, for a
pathway, the micro-credentials it stacks. Its QR code and link lead to the credential's public
verification page; a revoked or suspended credential says so on every page.

Fonts are the bundled DejaVu Sans (``fonts/LICENSE``), so titles in Greek, Cyrillic and other
scripts DejaVu covers print as written; the output is deterministic for a given credential.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from importlib import resources
from io import BytesIO
from typing import Any, Final

import segno
from fpdf import FPDF
from fpdf.enums import Align, TableBordersLayout, TableCellFillMode, WrapMode, XPos, YPos

from microcred_issuer.rendering.elements import CredentialView, verification_url, view_of
from microcred_issuer.rendering.labels import labels_for

FONT: Final = "DejaVu"
_FONTS = resources.files("microcred_issuer.rendering") / "fonts"

_TEAL: Final = (15, 118, 110)
_PURPLE: Final = (76, 29, 149)
_GOLD: Final = (217, 119, 6)
_RED: Final = (185, 28, 28)
_GREY: Final = (75, 85, 99)
_INK: Final = (17, 24, 39)


def qr_png(payload: str) -> bytes:
    """A QR code of ``payload`` as a PNG (error correction M, a quiet zone of 4 modules)."""
    buffer = BytesIO()
    segno.make(payload, error="m", micro=False).save(buffer, kind="png", scale=10, border=4)
    return buffer.getvalue()


class _Certificate(FPDF):
    def __init__(
        self, view: CredentialView, words: dict[str, str], colour: tuple[int, ...]
    ) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.view = view
        self.words = words
        self.colour = colour
        with resources.as_file(_FONTS / "DejaVuSans.ttf") as regular:
            self.add_font(FONT, "", str(regular))
        with resources.as_file(_FONTS / "DejaVuSans-Bold.ttf") as bold:
            self.add_font(FONT, "B", str(bold))
        self.set_margins(18, 18, 18)
        self.set_auto_page_break(auto=True, margin=22)

    @property
    def flagged(self) -> bool:
        return self.view.status in {"revoked", "suspended"}

    def header(self) -> None:
        self.set_fill_color(*self.colour)
        self.rect(0, 0, self.w, 6, style="F")
        self.set_xy(self.l_margin, 14)

    def footer(self) -> None:
        if self.flagged:
            # Across every page, over its contents but translucent: a printout cut from its
            # first page (and its banner) still says it.
            with self.local_context(text_color=_RED, fill_opacity=0.22):
                self.set_font(FONT, "B", 64)
                with self.rotation(35, self.w / 2, self.h / 2):
                    self.set_xy(0, self.h / 2 - 15)
                    self.cell(self.w, 30, self.words[self.view.status].upper(), align=Align.C)
        self.set_y(-14)
        self.set_font(FONT, "", 7.5)
        self.set_text_color(*_GREY)
        self.cell(
            0,
            5,
            f"{self.words['credential_id']}: {self.view.credential_id}   ·   "
            f"{self.words['page']} {self.page_no()}/{{nb}}",
            align=Align.C,
        )


def _heading(pdf: _Certificate, text: str) -> None:
    if pdf.will_page_break(16):
        pdf.add_page()
    pdf.ln(4)
    pdf.set_font(FONT, "B", 12)
    pdf.set_text_color(*pdf.colour)
    pdf.cell(0, 7, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_draw_color(*pdf.colour)
    pdf.line(pdf.l_margin, pdf.get_y(), pdf.w - pdf.r_margin, pdf.get_y())
    pdf.ln(2)
    pdf.set_text_color(*_INK)


def _organisation(name: str, country: str) -> str:
    return f"{name} ({country})" if country else name


def _elements(view: CredentialView, words: dict[str, str]) -> list[tuple[str, str]]:
    """The constitutive elements as label/value rows (an absent one is shown as a dash)."""
    none = words["none"]
    rows = [
        (words["learner"], view.learner),
        (words["provider"], _organisation(view.provider.name, view.provider.country)),
    ]
    if view.awarding_body is not None:
        body = view.awarding_body
        rows.append((words["awarding_body"], _organisation(body.name, body.country)))
    rows += [
        (words["title"], view.title),
        (words["issued_on"], view.issued_on),
        (words["workload"], view.workload),
        (words["ects"], view.ects),
        (words["eqf_level"], view.eqf_level),
        (words["nqf_level"], view.nqf_level),
        (words["isced_f"], view.isced_f),
        (words["assessment_method"], view.assessment_method),
        (words["form_of_participation"], view.form_of_participation),
        (words["access_requirements"], view.access_requirements),
        (words["quality_assurance"], view.quality_assurance),
    ]
    if view.activity_period:
        rows.append((words["activity_period"], view.activity_period))
    if view.completion:
        rows.append((words["completion"], view.completion))
    return [(label, value or none) for label, value in rows]


def _table(pdf: _Certificate, rows: list[tuple[str, ...]], widths: tuple[int, ...]) -> None:
    pdf.set_font(FONT, "", 9.5)
    pdf.set_draw_color(209, 213, 219)
    with pdf.table(
        col_widths=widths,
        first_row_as_headings=False,
        borders_layout=TableBordersLayout.HORIZONTAL_LINES,
        text_align="LEFT",
        cell_fill_mode=TableCellFillMode.NONE,
        line_height=4.4,
        padding=(1, 1.5),
    ) as table:
        for values in rows:
            row = table.row()
            for index, value in enumerate(values):
                if index == 0:
                    pdf.set_font(FONT, "B", 9.5)
                    row.cell(value)
                    pdf.set_font(FONT, "", 9.5)
                else:
                    row.cell(value)


def _status_banner(pdf: _Certificate) -> None:
    view, words = pdf.view, pdf.words
    since = f" ({words['since']} {view.status_since})" if view.status_since else ""
    pdf.set_fill_color(*_RED)
    pdf.set_text_color(255, 255, 255)
    pdf.set_font(FONT, "B", 13)
    pdf.multi_cell(
        0,
        8,
        f"{words[view.status].upper()}{since} — {words[view.status + '_note']}",
        fill=True,
        align=Align.C,
        padding=2,
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    pdf.set_fill_color(255, 255, 255)
    pdf.ln(3)


def _title_block(pdf: _Certificate) -> None:
    view, words = pdf.view, pdf.words
    pdf.set_text_color(*pdf.colour)
    pdf.set_font(FONT, "B", 10)
    kind = words["certificate_pathway" if view.is_pathway else "certificate_competence"]
    pdf.cell(0, 6, kind.upper(), align=Align.C, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_text_color(*_INK)
    pdf.set_font(FONT, "", 11)
    pdf.multi_cell(
        0,
        6,
        _organisation(view.provider.name, view.provider.country),
        align=Align.C,
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    pdf.ln(5)
    pdf.set_font(FONT, "", 10)
    pdf.set_text_color(*_GREY)
    pdf.cell(0, 6, words["awarded_to"], align=Align.C, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_text_color(*_INK)
    pdf.set_font(FONT, "B", 20)
    pdf.multi_cell(
        0, 10, view.learner or words["none"], align=Align.C, new_x=XPos.LMARGIN, new_y=YPos.NEXT
    )
    pdf.set_font(FONT, "", 10)
    pdf.set_text_color(*_GREY)
    pdf.cell(0, 6, words["has_achieved"], align=Align.C, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_text_color(*pdf.colour)
    pdf.set_font(FONT, "B", 17)
    pdf.multi_cell(0, 9, view.title, align=Align.C, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if view.description and view.description != view.title:
        pdf.set_text_color(*_GREY)
        pdf.set_font(FONT, "", 9.5)
        pdf.multi_cell(0, 5, view.description, align=Align.C, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_text_color(*_INK)
    pdf.ln(2)


def _list(pdf: _Certificate, items: tuple[str, ...]) -> None:
    pdf.set_font(FONT, "", 9.5)
    for item in items:
        pdf.multi_cell(0, 5, f"•  {item}", align=Align.L, new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _verification(pdf: _Certificate, url: str) -> None:
    view, words = pdf.view, pdf.words
    if pdf.will_page_break(48):
        pdf.add_page()
    _heading(pdf, words["verification"])
    top = pdf.get_y()
    size = 36
    pdf.image(
        BytesIO(qr_png(url)),
        x=pdf.w - pdf.r_margin - size,
        y=top,
        w=size,
        h=size,
        link=url,
        alt_text=f"QR code: {url}",
    )
    text_width = pdf.w - pdf.l_margin - pdf.r_margin - size - 6
    pdf.set_font(FONT, "", 9)
    pdf.multi_cell(
        text_width, 5, words["verify_at"], align=Align.L, new_x=XPos.LMARGIN, new_y=YPos.NEXT
    )
    pdf.set_text_color(*pdf.colour)
    pdf.multi_cell(
        text_width,
        5,
        url,
        align=Align.L,
        link=url,
        wrapmode=WrapMode.CHAR,
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    pdf.set_text_color(*_INK)
    pdf.ln(1)
    pdf.set_font(FONT, "B", 8.5)
    pdf.multi_cell(
        text_width,
        4.5,
        f"{words['credential_id']}:",
        align=Align.L,
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    pdf.set_font(FONT, "", 8.5)
    pdf.multi_cell(
        text_width,
        4.5,
        view.credential_id,
        align=Align.L,
        wrapmode=WrapMode.CHAR,
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    pdf.set_font(FONT, "B", 8.5)
    pdf.multi_cell(
        text_width,
        4.5,
        f"{words['issuer_id']}:",
        align=Align.L,
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    pdf.set_font(FONT, "", 8.5)
    pdf.multi_cell(
        text_width,
        4.5,
        view.issuer_did,
        align=Align.L,
        wrapmode=WrapMode.CHAR,
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    pdf.ln(1)
    pdf.set_text_color(*_GREY)
    pdf.set_font(FONT, "", 7.5)
    pdf.multi_cell(
        text_width, 4, words["signed_note"], align=Align.L, new_x=XPos.LMARGIN, new_y=YPos.NEXT
    )
    pdf.set_y(max(pdf.get_y(), top + size + 2))


def render_certificate(view: CredentialView, public_url: str, language: str = "en") -> bytes:
    """The PDF certificate of ``view``, with its labels in ``language`` (en, pt or de)."""
    language, words = labels_for(language)
    colour = _PURPLE if view.is_pathway else _TEAL
    pdf = _Certificate(view, words, colour)
    kind = words["certificate_pathway" if view.is_pathway else "certificate_competence"]
    pdf.set_title(f"{kind}: {view.title}")
    pdf.set_subject(view.title)
    pdf.set_author(view.provider.name)
    pdf.set_creator("microcred issuer")
    pdf.set_producer("microcred issuer")
    pdf.set_lang(language)
    pdf.set_keywords(f"Open Badges 3.0; {view.achievement_kind}; {view.credential_id}")
    issued = _issued_at(view.issued_on)
    pdf.set_creation_date(issued)
    pdf.add_page()
    if pdf.flagged:
        _status_banner(pdf)
    _title_block(pdf)
    if view.is_pathway:
        pdf.set_draw_color(*_GOLD)
        pdf.line(pdf.l_margin + 40, pdf.get_y(), pdf.w - pdf.r_margin - 40, pdf.get_y())

    _heading(pdf, words["details"])
    _table(pdf, list(_elements(view, words)), (48, 126))

    _heading(pdf, words["learning_outcomes"])
    _list(pdf, view.learning_outcomes or (words["none"],))

    if view.stacked:
        _heading(pdf, words["stacked"])
        _table(
            pdf,
            [(s.name, s.description, s.credential_id) for s in view.stacked],
            (48, 78, 48),
        )
    if view.evidence or not view.stacked:
        _heading(pdf, words["evidence"])
        _table(
            pdf,
            [(e.name, e.provider or words["none"], e.description) for e in view.evidence]
            or [(words["none"], "", "")],
            (62, 48, 64),
        )

    _verification(pdf, verification_url(public_url, view.credential_id))
    return bytes(pdf.output())


def _issued_at(issued_on: str) -> datetime:
    try:
        return datetime.fromisoformat(issued_on).replace(tzinfo=UTC)
    except ValueError:
        return datetime(2000, 1, 1, tzinfo=UTC)


def certificate_pdf(
    credential: Mapping[str, Any],
    public_url: str,
    *,
    status: str = "active",
    status_since: datetime | None = None,
    language: str = "en",
) -> bytes:
    """The PDF certificate of ``credential`` (an ``OpenBadgeCredential`` as issued)."""
    view = view_of(credential, status=status, status_since=status_since)
    return render_certificate(view, public_url, language)
