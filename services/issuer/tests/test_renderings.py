"""The renderings: the baked badge (SVG, and PNG baking) and the PDF certificate; pure functions."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import zlib
from datetime import UTC, datetime
from io import BytesIO
from typing import Any

import pytest
from defusedxml.ElementTree import fromstring
from PIL import Image
from pypdf import PdfReader

from microcred_issuer.credential import (
    build_credential,
    build_pathway_credential,
    institution_did,
)
from microcred_issuer.rendering import certificate as certificate_module
from microcred_issuer.rendering.badge import baked_badge, escape, render_badge, wrap
from microcred_issuer.rendering.baking import (
    MAX_IMAGE_BYTES,
    OB_NAMESPACE,
    PNG_SIGNATURE,
    BakingError,
    bake_png,
    bake_svg,
    unbake,
    unbake_png,
    unbake_svg,
)
from microcred_issuer.rendering.certificate import certificate_pdf
from microcred_issuer.rendering.elements import verification_url, view_of
from microcred_shared.contracts.events import CompetenceSnapshot, InstitutionRef
from services.issuer.tests.rendered import pdf_text, qr_codes
from services.issuer.tests.samples import (
    AWARDING,
    PUBLIC_URL,
    competence_award,
    credential_id_of,
    pathway_award,
)

pytestmark = pytest.mark.unit

ISSUED_AT = datetime(2026, 3, 3, tzinfo=UTC)
SVG = "{http://www.w3.org/2000/svg}"
# A compact JWS, shaped as the issuer's are (the signature is not checked by baking).
JWT = "eyJhbGciOiJFZERTQSJ9.eyJpZCI6InVybjp1dWlkOjEifQ.c2lnbmF0dXJl"
HOSTILE = "Data & <b>\"Analysis\"</b> '101' ]]> — Ανάλυση δεδομένων, Анализ данных"


def did(institution_id: str) -> str:
    return institution_did(PUBLIC_URL, institution_id)


def competence_credential(**changes: Any) -> dict[str, Any]:
    """A competence's credential carrying every element, an awarding body included."""
    award = competence_award("award-r").data
    competence = CompetenceSnapshot(
        id="c-data",
        title=changes.pop("title", "Data analysis with Python"),
        description="Cleaning, analysing and visualising data sets.",
        learning_outcomes=("Clean a data set", "Visualise a distribution"),
        eqf_level=6,
        nqf_level="6",
        isced_f_code="0613",
        assessment_method="Project assessed by two examiners",
        form_of_participation="Online, self-paced",
        access_requirements="EQF level 4 qualification",
    )
    institution = InstitutionRef(
        id=AWARDING,
        name=changes.pop("institution", "Instituto Politécnico A"),
        country="PT",
        awarding_body_name="Consórcio Universitário B",
        awarding_body_country="ES",
        quality_assurance="ESG 2015, accredited by A3ES",
    )
    award = award.model_copy(update={"competence": competence, "institution": institution})
    return build_credential(award, credential_id_of("award-r"), did(AWARDING), ISSUED_AT)


def pathway_credential() -> dict[str, Any]:
    award = pathway_award("award-p").data
    return build_pathway_credential(
        award,
        credential_id_of("award-p"),
        did(AWARDING),
        ISSUED_AT,
        did_of=did,
        credential_id_of=credential_id_of,
    )


def minimal_png() -> bytes:
    buffer = BytesIO()
    Image.new("RGB", (4, 4), (15, 118, 110)).save(buffer, format="PNG")
    return buffer.getvalue()


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


# --- baking: SVG -------------------------------------------------------------------------------


def test_the_badge_is_baked_with_the_json_ld_credential_and_reads_back() -> None:
    credential = competence_credential()
    svg = baked_badge(credential)

    root = fromstring(svg.encode())
    assert root.tag == f"{SVG}svg"
    assert 'xmlns:openbadges="https://purl.imsglobal.org/ob/v3p0"' in svg
    # The credential is the root's first child, in CDATA, with no ``verify`` attribute.
    first = root[0]
    assert first.tag == f"{{{OB_NAMESPACE}}}credential"
    assert first.get("verify") is None
    assert "<openbadges:credential><![CDATA[{" in svg
    assert json.loads(first.text or "") == credential
    assert unbake_svg(svg.encode()) == credential
    assert unbake(svg.encode()) == credential


def test_a_stored_proof_is_baked_with_the_credential() -> None:
    credential = competence_credential()
    credential["proof"] = [{"type": "DataIntegrityProof", "proofValue": "z3FXQ>]]>x"}]
    assert unbake(baked_badge(credential).encode()) == credential


def test_the_jwt_badge_carries_the_vc_jwt_in_its_verify_attribute() -> None:
    svg = baked_badge(competence_credential(), jwt=JWT)

    root = fromstring(svg.encode())
    assert root[0].tag == f"{{{OB_NAMESPACE}}}credential"
    assert root[0].get("verify") == JWT
    assert unbake(svg.encode()) == JWT


def test_an_svg_already_baked_is_not_baked_twice() -> None:
    svg = baked_badge(competence_credential())
    with pytest.raises(BakingError, match="already carries"):
        bake_svg(svg, JWT)


def test_a_self_closing_svg_is_baked() -> None:
    baked = bake_svg('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1 1"/>', JWT)
    assert unbake(baked.encode()) == JWT


def test_something_that_is_not_a_jwt_is_not_baked() -> None:
    with pytest.raises(BakingError, match="compact JWS"):
        bake_svg('<svg xmlns="http://www.w3.org/2000/svg"/>', 'x" onload="alert(1)')


# --- escaping ----------------------------------------------------------------------------------


def test_institution_text_is_escaped_and_reads_back_as_written() -> None:
    credential = competence_credential(title=HOSTILE, institution="Escola <A> & \"B\" 'C'")
    # The contracts refuse control characters; a credential stored otherwise still renders.
    credential["credentialSubject"]["achievement"]["name"] = HOSTILE + "\x07"
    svg = baked_badge(credential)

    root = fromstring(svg.encode())  # well-formed: nothing broke out of its element
    title = root.find(f"{SVG}title")
    assert title is not None
    assert title.text is not None
    # Shown as written, less the one character XML cannot carry (BEL).
    assert HOSTILE in title.text
    assert "<b>" not in svg
    assert "\x07" not in svg
    spans = "".join(t.text or "" for t in root.iter(f"{SVG}tspan"))
    assert "Escola <A> & \"B\" 'C'" in spans
    assert "Ανάλυση" in spans or "Ανάλυση" in title.text
    # The baked credential is the signed one, character for character (BEL and ]]> included).
    assert unbake(svg.encode()) == credential


def test_escape_covers_text_and_attributes() -> None:
    assert escape("<a href=\"x\">'&'</a>\x00") == (
        "&lt;a href=&quot;x&quot;&gt;&apos;&amp;&apos;&lt;/a&gt;"
    )


def test_long_titles_wrap_and_are_cut_with_an_ellipsis() -> None:
    assert wrap("Developing digital content", 19, 3) == ["Developing digital", "content"]
    lines = wrap("word " * 40, 19, 3)
    assert len(lines) == 3
    assert lines[-1].endswith("…")
    assert wrap("x" * 50, 19, 3) == ["x" * 19, "x" * 19, "x" * 12]
    assert wrap("数据分析与可视化数据分析与可视化", 10, 2) == ["数据分析与", "可视化数…"]


# --- hostile and malformed images --------------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE svg [
  <!ENTITY a "aaaaaaaaaa">
  <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
  <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
]>
<svg xmlns="http://www.w3.org/2000/svg" xmlns:openbadges="https://purl.imsglobal.org/ob/v3p0">
<openbadges:credential>&c;</openbadges:credential></svg>"""

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE svg [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<svg xmlns="http://www.w3.org/2000/svg" xmlns:openbadges="https://purl.imsglobal.org/ob/v3p0">
<openbadges:credential>&secret;</openbadges:credential></svg>"""

DTD_ONLY = b"""<?xml version="1.0"?>
<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">
<svg xmlns="http://www.w3.org/2000/svg"/>"""


def _svg(inner: str) -> bytes:
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" '
        f'xmlns:openbadges="https://purl.imsglobal.org/ob/v3p0">{inner}</svg>'
    ).encode()


@pytest.mark.parametrize(
    ("image", "reason"),
    [
        (BILLION_LAUGHS, "refused: the SVG declares a DTD"),
        (XXE, "refused: the SVG declares a DTD"),
        (DTD_ONLY, "refused: the SVG declares a DTD"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'><unclosed></svg>", "not well-formed"),
        (b"<html><body/></html>", "root element is not <svg>"),
        (_svg(""), "no baked credential"),
        (_svg("<openbadges:credential/>"), "empty"),
        (_svg("<openbadges:credential>{not json</openbadges:credential>"), "not valid JSON"),
        (_svg("<openbadges:credential>[1, 2]</openbadges:credential>"), "compact JWS"),
        (_svg('<openbadges:credential verify="not a token"/>'), "compact JWS"),
        (
            _svg(f'<openbadges:credential verify="{JWT}"/><openbadges:credential verify="{JWT}"/>'),
            "more than one",
        ),
        (
            _svg("<openbadges:credential>" + '{"a":' * 100_000 + "</openbadges:credential>"),
            "nested too deeply",
        ),
        (b"GIF89a", "not a PNG or SVG"),
        (b"<svg" + b" " * MAX_IMAGE_BYTES + b"/>", "larger than"),
    ],
)
def test_hostile_or_malformed_svg_is_refused_with_a_reason(image: bytes, reason: str) -> None:
    with pytest.raises(BakingError, match=reason):
        unbake(image)


# --- baking: PNG -------------------------------------------------------------------------------


def test_a_png_is_baked_with_one_itxt_chunk_and_reads_back() -> None:
    credential = competence_credential(title=HOSTILE)
    png = bake_png(minimal_png(), credential)

    assert png.startswith(PNG_SIGNATURE)
    assert png.count(b"iTXt") == 1
    assert b"iTXtopenbadgecredential\x00\x00\x00\x00\x00{" in png
    assert png.endswith(chunk(b"IEND", b""))
    assert unbake_png(png) == credential
    assert Image.open(BytesIO(png)).size == (4, 4)  # still an image any viewer opens

    rebaked = bake_png(png, JWT)  # baking again replaces the credential: never two chunks
    assert rebaked.count(b"openbadgecredential") == 1
    assert unbake(rebaked) == JWT


def test_a_compressed_itxt_is_read_within_limits() -> None:
    png = minimal_png()
    text = zlib.compress(JWT.encode())
    itxt = chunk(b"iTXt", b"openbadgecredential\x00\x01\x00\x00\x00" + text)
    assert unbake(png[:-12] + itxt + png[-12:]) == JWT

    bomb = zlib.compress(b"{" + b" " * (2 * 1024 * 1024))
    itxt = chunk(b"iTXt", b"openbadgecredential\x00\x01\x00\x00\x00" + bomb)
    with pytest.raises(BakingError, match="larger than"):
        unbake(png[:-12] + itxt + png[-12:])


def test_malformed_pngs_are_refused_with_a_reason() -> None:
    png = bake_png(minimal_png(), JWT)
    with pytest.raises(BakingError, match="no baked credential"):
        unbake(minimal_png())
    corrupt = bytearray(png)
    corrupt[png.index(b"openbadgecredential") + 25] ^= 0xFF
    with pytest.raises(BakingError, match="bad CRC"):
        unbake(bytes(corrupt))
    with pytest.raises(BakingError, match="truncated"):
        unbake(png[:-20])
    huge_length = PNG_SIGNATURE + struct.pack(">I", 2**31 + 5) + b"IHDR"
    with pytest.raises(BakingError, match="truncated"):
        unbake(huge_length)
    with pytest.raises(BakingError, match="not a PNG"):
        bake_png(b"GIF89a", JWT)


# --- the badge's look --------------------------------------------------------------------------


def test_a_competence_and_a_pathway_badge_look_different_and_are_accessible() -> None:
    competence = fromstring(render_badge(view_of(competence_credential())).encode())
    pathway = fromstring(render_badge(view_of(pathway_credential())).encode())

    for badge in (competence, pathway):
        assert badge.get("role") == "img"
        labelled_by = (badge.get("aria-labelledby") or "").split()
        ids = {e.get("id") for e in badge.iter() if e.get("id")}
        assert labelled_by
        assert set(labelled_by) <= ids
        assert badge.find(f"{SVG}title") is not None
        assert badge.find(f"{SVG}desc") is not None
    assert competence.get("data-achievement-type") == "MicroCredential"
    assert pathway.get("data-achievement-type") == "Certificate"
    # Told apart by shape, not only by colour.
    assert competence.find(f".//{SVG}circle") is not None
    assert competence.find(f".//{SVG}polygon") is None
    assert pathway.find(f".//{SVG}polygon") is not None
    assert pathway.find(f".//{SVG}circle") is None

    competence_text = " ".join(t.text or "" for t in competence.iter(f"{SVG}tspan"))
    for shown in ("MICRO-CREDENTIAL", "Instituto Politécnico A", "EQF level 6", "3 ECTS"):
        assert shown in competence_text
    assert "2026-03-03" in competence_text
    pathway_text = " ".join(t.text or "" for t in pathway.iter(f"{SVG}tspan"))
    for shown in ("PATHWAY CERTIFICATE", "Digital Skills", "EQF level 5", "6 ECTS"):
        assert shown in pathway_text
    assert "Stacked micro-credentials: 2" in pathway_text


def test_a_revoked_badge_says_so() -> None:
    svg = baked_badge(
        competence_credential(), status="revoked", status_since=datetime(2026, 4, 1, tzinfo=UTC)
    )
    root = fromstring(svg.encode())
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "REVOKED" in texts
    title = root.find(f"{SVG}title")
    assert title is not None
    assert (title.text or "").startswith("Revoked (since 2026-04-01)")
    assert unbake(svg.encode()) == competence_credential()


# --- the PDF certificate -----------------------------------------------------------------------


def test_the_certificate_of_a_competence_lists_every_element() -> None:
    credential = competence_credential()
    pdf = certificate_pdf(credential, PUBLIC_URL)

    assert pdf.startswith(b"%PDF-")
    text = pdf_text(pdf)
    url = verification_url(PUBLIC_URL, credential["id"])
    for label, value in [
        ("Learner", "Ada Lovelace"),
        ("Provider", "Instituto Politécnico A (PT)"),
        ("Awarding body", "Consórcio Universitário B (ES)"),
        ("Title", "Data analysis with Python"),
        ("Date of issuance", "2026-03-03"),
        ("Workload", "3 ECTS (90 hours of learning)"),
        ("ECTS", "3"),
        ("EQF level", "6"),
        ("NQF level", "6"),
        ("ISCED-F field", "ISCED-F 0613"),
        ("Assessment method", "Project assessed by two examiners"),
        ("Form of participation", "Online, self-paced"),
        ("Access requirements", "EQF level 4 qualification"),
        ("Quality assurance", "ESG 2015, accredited by A3ES"),
        ("Period of learning", "2026-01-01 \N{EN DASH} 2026-03-01"),
    ]:
        assert f"{label} {value}" in text, label
    for element in (
        "Learning outcomes",
        "Clean a data set",
        "Visualise a distribution",
        "Evidence that counted",
        "Course Hub 90 hours, 2026-01-01 to 2026-03-01",
        "Verification of authenticity",
        credential["id"],
        did(AWARDING),
    ):
        assert element in text, element
    assert "Revoked".upper() not in text
    assert qr_codes(pdf) == [url]
    assert url == (
        "https://issuer.example.org/credentials/"
        "urn%3Auuid%3A" + credential["id"].removeprefix("urn:uuid:") + "/verify"
    )


def test_the_certificate_of_a_pathway_lists_its_stacked_micro_credentials() -> None:
    credential = pathway_credential()
    pdf = certificate_pdf(credential, PUBLIC_URL)

    text = pdf_text(pdf)
    for element in (
        "Certificate of a stacked pathway".upper(),
        "Learner Ada Lovelace",
        "Provider Instituto A (PT)",
        "Title Digital Skills Certificate",
        "Date of issuance 2026-03-03",
        "Workload 6 ECTS (180 hours of learning)",
        "EQF level 5",
        "NQF level 5",
        "ISCED-F field ISCED-F 0612",
        "Assessment method Portfolio of the stacked credentials",
        "Form of participation Blended",
        "Access requirements None",
        "Quality assurance ESG 2015 internal QA",
        "Completion Awarded for all 2 micro-credentials of the pathway.",
        "Create digital content",
        "Analyse data",
        "Stacked micro-credentials",
        "Developing digital content",
        "awarded by Instituto A on 2026-03-02",
        "Analysing data",
        "awarded by Hochschule B on 2026-03-02",
        "Micro-credential of 3 ECTS (90 hours)",
    ):
        assert element in text, element
    # Credential ids wrap inside their column: compare without the spaces wrapping put there.
    squeezed = text.replace(" ", "")
    for stacked_id in (credential_id_of("award-own"), credential_id_of("award-partner")):
        assert stacked_id in squeezed
    assert qr_codes(pdf) == [verification_url(PUBLIC_URL, credential["id"])]


def test_a_revoked_certificate_says_so_in_the_learners_language() -> None:
    since = datetime(2026, 4, 1, tzinfo=UTC)
    english = pdf_text(certificate_pdf(competence_credential(), PUBLIC_URL, status="revoked"))
    assert "REVOKED — This credential was revoked and is no longer valid." in english

    portuguese = pdf_text(
        certificate_pdf(
            pathway_credential(), PUBLIC_URL, status="revoked", status_since=since, language="pt"
        )
    )
    assert "REVOGADA (desde 2026-04-01) — Esta credencial foi revogada" in portuguese
    assert "Formando Ada Lovelace" in portuguese
    assert "Microcredenciais agregadas" in portuguese
    # The watermark is on every page, not only under the banner.
    pages = PdfReader(BytesIO(certificate_pdf(pathway_credential(), PUBLIC_URL, status="revoked")))
    assert all("REVOKED" in (page.extract_text() or "") for page in pages.pages)

    german = pdf_text(certificate_pdf(competence_credential(), PUBLIC_URL, language="de-AT"))
    assert "Prüfungsform Project assessed by two examiners" in german


def test_non_latin_titles_print_as_written() -> None:
    title = "Анализ данных — Ανάλυση δεδομένων"
    text = pdf_text(certificate_pdf(competence_credential(title=title), PUBLIC_URL))
    assert f"Title {title}" in text


def test_the_certificate_is_deterministic_and_the_qr_gets_the_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    credential = competence_credential()
    assert certificate_pdf(credential, PUBLIC_URL) == certificate_pdf(credential, PUBLIC_URL)

    payloads: list[str] = []
    encode = certificate_module.qr_png

    def spy(payload: str) -> bytes:
        payloads.append(payload)
        return encode(payload)

    monkeypatch.setattr(certificate_module, "qr_png", spy)
    certificate_pdf(credential, PUBLIC_URL + "/")
    assert payloads == [verification_url(PUBLIC_URL, credential["id"])]


def test_the_issuer_starts_without_the_pdf_library() -> None:
    # fpdf2 (with fontTools and numpy) is ~45 MiB the signing path never needs; a PDF loads it.
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, microcred_issuer.bootstrap; print('fpdf' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert loaded.stdout.strip() == "False", loaded.stderr
