"""The renderings over HTTP: badge (JSON-LD and VC-JWT baked) and certificate, public, 404 else.

The route tests run the issuer's routers over the real database; the last one runs the issuer's
whole app on the real broker: an award goes in through Kafka and its renderings come out.
"""

from __future__ import annotations

import uuid
from io import BytesIO

import httpx
import pytest
from pypdf import PdfReader

from microcred_issuer.bootstrap import build_app
from microcred_issuer.handlers import Issuer
from microcred_issuer.rendering.baking import unbake
from microcred_issuer.rendering.elements import verification_url
from microcred_issuer.settings import IssuerSettings
from microcred_shared.contracts import topics
from microcred_shared.testing.apps import running, service_env
from microcred_shared.testing.kafka import Record, publish_events, read_topic
from microcred_shared.testing.servers import Servers
from services.issuer.tests.rendered import pdf_text, qr_codes
from services.issuer.tests.samples import (
    PUBLIC_URL,
    competence_award,
    credential_id_of,
    onboard,
    pathway_award,
    revocation,
)

pytestmark = pytest.mark.integration


def uuid_of(credential_id: str) -> str:
    return credential_id.removeprefix("urn:uuid:")


async def test_the_badge_is_served_baked_with_the_stored_credential(
    issuer: Issuer, http: httpx.AsyncClient
) -> None:
    await issuer.on_competence_awarded(competence_award("award-1"))
    credential_id = credential_id_of("award-1")
    stored = await issuer.credential(credential_id)
    assert stored is not None

    answer = await http.get(f"/credentials/{credential_id}/badge.svg")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "image/svg+xml"
    assert answer.headers["content-disposition"] == (
        f'inline; filename="badge-{uuid_of(credential_id)}.svg"'
    )
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert "default-src 'none'" in answer.headers["content-security-policy"]
    assert answer.headers["cache-control"] == "no-cache"
    assert unbake(answer.content) == stored["credential"]
    assert b"REVOKED" not in answer.content

    jwt_badge = await http.get(f"/credentials/{credential_id}/badge-jwt.svg")
    assert jwt_badge.status_code == 200
    assert jwt_badge.headers["content-disposition"] == (
        f'inline; filename="badge-jwt-{uuid_of(credential_id)}.svg"'
    )
    token = unbake(jwt_badge.content)
    assert token == stored["credential_jwt"]
    # What comes out of the image verifies: the start of ``POST /verify`` with an image.
    assert isinstance(token, str)
    verdict = (await http.post("/verify", json={"credential_jwt": token})).json()
    assert verdict["verified"] is True


async def test_the_certificate_is_served_as_a_pdf_download_in_the_asked_language(
    issuer: Issuer, http: httpx.AsyncClient
) -> None:
    await issuer.on_pathway_awarded(pathway_award("award-p"))
    credential_id = credential_id_of("award-p")

    answer = await http.get(f"/credentials/{credential_id}/certificate.pdf")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.headers["content-disposition"] == (
        f'attachment; filename="certificate-{uuid_of(credential_id)}.pdf"'
    )
    assert answer.headers["content-language"] == "en"
    text = pdf_text(answer.content)
    assert "Learner Ada Lovelace" in text
    assert "Stacked micro-credentials" in text
    assert qr_codes(answer.content) == [verification_url(PUBLIC_URL, credential_id)]

    german = await http.get(
        f"/credentials/{credential_id}/certificate.pdf", headers={"Accept-Language": "de-DE,en"}
    )
    assert german.headers["content-language"] == "de"
    assert "Lernende Person Ada Lovelace" in pdf_text(german.content)
    portuguese = await http.get(
        f"/credentials/{credential_id}/certificate.pdf",
        params={"lang": "pt"},
        headers={"Accept-Language": "de"},
    )
    assert portuguese.headers["content-language"] == "pt"
    unknown = await http.get(f"/credentials/{credential_id}/certificate.pdf?lang=fr")
    assert unknown.headers["content-language"] == "en"
    bad = await http.get(f"/credentials/{credential_id}/certificate.pdf?lang=<x>")
    assert bad.status_code == 422


async def test_a_revoked_credential_still_renders_marked_revoked(
    issuer: Issuer, http: httpx.AsyncClient
) -> None:
    await issuer.on_competence_awarded(competence_award("award-2"))
    await issuer.on_award_revoked(revocation("award-2"))
    credential_id = credential_id_of("award-2")

    badge = await http.get(f"/credentials/{credential_id}/badge.svg")
    assert badge.status_code == 200
    assert b">REVOKED</text>" in badge.content
    pdf = await http.get(f"/credentials/{credential_id}/certificate.pdf")
    assert pdf.status_code == 200
    text = pdf_text(pdf.content)
    assert "REVOKED (since " in text
    assert "no longer valid" in text
    # Public renderings never tell why (the administrator's words stay stored).
    for public in (badge.content, pdf.content):
        assert b"misconduct" not in public
    assert "misconduct" not in text


async def test_unknown_and_withheld_credentials_are_not_found(
    issuer: Issuer, http: httpx.AsyncClient
) -> None:
    await issuer.on_award_revoked(revocation("award-3"))  # a tombstone: nothing was issued
    for credential_id in (credential_id_of("never-awarded"), credential_id_of("award-3")):
        for rendering in ("badge.svg", "badge-jwt.svg", "certificate.pdf"):
            answer = await http.get(f"/credentials/{credential_id}/{rendering}")
            assert answer.status_code == 404, rendering
            assert answer.headers["content-type"].startswith("application/problem+json")


# --- on the real broker ----------------------------------------------------------------------


async def test_on_kafka_an_issued_credential_is_rendered_by_the_issuers_app(
    servers: Servers,
    topics_ready: None,
) -> None:
    award_id = f"render-{uuid.uuid4().hex[:8]}"
    settings = IssuerSettings(**service_env(servers, "issuer"))  # type: ignore[arg-type]
    app = build_app(settings)
    async with running(app) as http:
        await onboard(app.state.issuer)
        await publish_events(servers.kafka, [competence_award(award_id, learner_id=award_id)])

        def ours(record: Record) -> bool:
            try:
                document = record.json()
            except ValueError:
                return False
            return (
                isinstance(document, dict) and document.get("data", {}).get("award_id") == award_id
            )

        [issued] = await read_topic(servers.kafka, topics.CREDENTIAL_ISSUED, keep=ours, until=bool)
        data = issued.json()["data"]
        credential_id = data["credential_id"]

        badge = await http.get(f"/credentials/{credential_id}/badge.svg")
        assert badge.status_code == 200
        assert unbake(badge.content) == data["credential"]
        jwt_badge = await http.get(f"/credentials/{credential_id}/badge-jwt.svg")
        assert unbake(jwt_badge.content) == data["credential_jwt"]
        pdf = await http.get(f"/credentials/{credential_id}/certificate.pdf")
        assert pdf.status_code == 200
        assert len(PdfReader(BytesIO(pdf.content)).pages) >= 1
        assert qr_codes(pdf.content) == [verification_url(settings.public_url, credential_id)]
        missing = await http.get(f"/credentials/{credential_id_of('nope')}/badge.svg")
        assert missing.status_code == 404
