"""The notifier's app on the real database and SMTP sink; the issuer and intake stand-ins.

The issuer is another of the platform's services, reached over HTTP: here a stand-in answers
``POST /verify`` with the status a test sets, and serves renderings. Intake's tokens are signed
by the test's own key (``LocalKeySet``).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from microcred_notifier.bootstrap import build_app
from microcred_notifier.handlers import Notifier, token_hash
from microcred_notifier.issuer_client import IssuerClient
from microcred_notifier.pages import Pages
from microcred_notifier.settings import NotifierSettings
from microcred_shared.contracts import Envelope
from microcred_shared.contracts.events import (
    CredentialIssuedV1,
    CredentialRevokedV1,
    InstitutionRef,
    LearnerProfile,
)
from microcred_shared.demo import claim_link
from microcred_shared.testing.apps import service_env
from microcred_shared.testing.fakes import RecordingPublisher
from microcred_shared.testing.servers import Servers
from microcred_shared.testing.tokens import LocalKeySet, access_token

PUBLIC_URL = "https://wallet.example.org"
INTAKE_URL = "https://intake.example.org"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><text>badge</text></svg>'
PDF = b"%PDF-1.7\n% a certificate\n"


def credential_document(credential_id: str, learner_name: str, title: str) -> dict[str, Any]:
    """An issued OpenBadgeCredential as the issuer signs it (the fields the pages read)."""
    return {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "id": credential_id,
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "issuer": {
            "id": "did:web:issuer.example.org:institutions:inst-a",
            "name": "Instituto A",
            "address": {"addressCountryCode": "PT"},
        },
        "validFrom": "2026-11-20T10:00:00Z",
        "credentialSubject": {
            "identifier": [
                {"identityType": "emailAddress", "hashed": True, "identityHash": "sha256$x"},
                {"identityType": "name", "hashed": False, "identityHash": learner_name},
            ],
            "creditsEarned": 3,
            "achievement": {
                "name": title,
                "description": "Creates and edits digital content in different formats.",
                "achievementType": "MicroCredential",
                "criteria": {
                    "narrative": "**Assessment method:** Portfolio reviewed by an evaluator.\n\n"
                    "**Quality assurance:** ISO 21001 audited."
                },
                "resultDescription": [{"name": "Edits text, images and video"}],
                "alignment": [{"targetType": "ext:EQFLevel", "targetCode": "5"}],
                "fieldOfStudy": "0613",
            },
        },
        "evidence": [{"name": "Workshop on video editing", "description": "30 h"}],
        "proof": [{"type": "DataIntegrityProof", "cryptosuite": "eddsa-rdfc-2022"}],
    }


@dataclass
class Learner:
    learner_id: str
    name: str
    email: str
    locale: str = "en"


def new_learner(locale: str = "en") -> Learner:
    tag = uuid.uuid4().hex[:8]
    return Learner(f"l-{tag}", f"Ada <{tag}>", f"ada.{tag}@example.org", locale)


def issued_event(
    learner: Learner, institution_id: str = "inst-a", title: str = "Developing digital content"
) -> Envelope[CredentialIssuedV1]:
    credential_id = f"urn:uuid:{uuid.uuid4()}"
    return Envelope.wrap(
        CredentialIssuedV1(
            credential_id=credential_id,
            award_id=f"award-{uuid.uuid4().hex[:8]}",
            learner_id=learner.learner_id,
            learner=LearnerProfile(name=learner.name, email=learner.email, locale=learner.locale),
            institution=InstitutionRef(id=institution_id, name="Instituto A", country="PT"),
            achievement_title=title,
            issued_at=datetime.now(UTC),
            credential=credential_document(credential_id, learner.name, title),
            credential_jwt="eyJhbGciOiJFZERTQSJ9.eyJ2YyI6MX0.c2ln",
            verification_method="did:web:issuer.example.org:institutions:inst-a#key-1",
        ),
        source="/tests",
        subject=credential_id,
        tenant=institution_id,
    )


def revoked_event(
    event: Envelope[CredentialIssuedV1], tenant: str | None = None
) -> Envelope[CredentialRevokedV1]:
    return Envelope.wrap(
        CredentialRevokedV1(
            credential_id=event.data.credential_id,
            award_id=event.data.award_id,
            learner_id=event.data.learner_id,
            reason="an approval was reversed",
            revoked_at=datetime.now(UTC),
        ),
        source="/tests",
        subject=event.data.credential_id,
        tenant=tenant or event.tenant,
    )


@dataclass
class IssuerStandIn:
    """Answers as the issuer would; ``status`` by credential id (default active)."""

    status: dict[str, str] = field(default_factory=dict)
    available: bool = True
    verified: list[str] = field(default_factory=list)

    def handle(self, request: httpx.Request) -> httpx.Response:
        if not self.available:
            return httpx.Response(503)
        if request.method == "POST" and request.url.path == "/verify":
            credential = json.loads(request.content)
            self.verified.append(credential["id"])
            status = self.status.get(credential["id"], "active")
            answer: dict[str, Any] = {
                "verified": status == "active",
                "checks": {
                    "signature": True,
                    "issuer": credential["issuer"]["id"],
                    "status": status,
                },
                "credential": credential,
            }
            if status != "active":
                answer.update(failed="status", error=status)
            return httpx.Response(200, json=answer)
        if request.url.path.endswith("/badge.svg"):
            return httpx.Response(200, content=SVG, headers={"content-type": "image/svg+xml"})
        if request.url.path.endswith("/certificate.pdf"):
            return httpx.Response(200, content=PDF, headers={"content-type": "application/pdf"})
        return httpx.Response(404)


@dataclass
class Harness:
    """The notifier's app, a browser-like client to it, and what it sent."""

    notifier: Notifier
    http: httpx.AsyncClient
    publisher: RecordingPublisher
    issuer: IssuerStandIn
    servers: Servers
    app: Any

    def browser(self) -> httpx.AsyncClient:
        """Another browser: its own cookies."""
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url=PUBLIC_URL)

    def mail_to(self, email: str) -> list[EmailMessage]:
        return [m for m in self.servers.mail.messages() if email in str(m["To"])]

    async def issue(
        self, learner: Learner, institution_id: str = "inst-a"
    ) -> Envelope[CredentialIssuedV1]:
        event = issued_event(learner, institution_id)
        await self.notifier.on_credential_issued(event)
        return event

    async def link_for(self, learner: Learner) -> str:
        """The path of the claim link e-mailed to ``learner`` that works now (else the last).

        The sink orders messages of the same second by name, not by arrival, so the link is
        told by what the claim keeps: its token's hash.
        """
        links = [claim_link(m) for m in self.mail_to(learner.email) if "/claim/" in str(m)]
        assert links, f"no claim e-mail to {learner.email}"
        for link in reversed(links):
            token = link.rsplit("/", 1)[1]
            if await self.notifier.claims.count_documents({"token_hash": token_hash(token)}):
                return f"/claim/{token}"
        return "/claim/" + links[-1].rsplit("/", 1)[1]

    async def claim(self, learner: Learner, browser: httpx.AsyncClient | None = None) -> str:
        """Claim the learner's latest credential (no second check); the wallet page's path."""
        client = browser or self.http
        link = await self.link_for(learner)
        page = await client.get(link)
        assert page.status_code == 200, page.text
        version = re.search(r'name="terms_version" value="([^"]+)"', page.text)
        assert version is not None
        answer = await client.post(link, data={"agree": "yes", "terms_version": version[1]})
        assert answer.status_code == 303, answer.text
        return answer.headers["location"].split("?")[0]

    async def sign_in(self, token: str, browser: httpx.AsyncClient | None = None) -> None:
        """Sign a browser in to the wallet as intake's handoff does, with ``token``."""
        client = browser or self.http
        started = await client.get("/wallet/sign-in", params={"next": "/wallet"})
        state = parse_qs(urlsplit(started.headers["location"]).query)["state"][0]
        signed = await client.post(
            "/wallet/session", data={"token": token, "state": state, "next": "/wallet"}
        )
        assert signed.status_code == 303, signed.text

    def token_for(self, learner: Learner) -> str:
        return access_token(user_id=learner.learner_id, name=learner.name, email=learner.email)


def settings_for(servers: Servers, **overrides: Any) -> NotifierSettings:
    values: dict[str, Any] = {
        **service_env(servers, "notifier"),
        "smtp_host": servers.smtp_host,
        "smtp_port": servers.smtp_port,
        "public_url": PUBLIC_URL,
        "intake_url": INTAKE_URL,
        "issuer_url": "http://issuer.invalid",
        "retry_first_seconds": 0.05,
        "resend_interval_seconds": 0,
        **overrides,
    }
    return NotifierSettings(**values)


async def start(servers: Servers, **overrides: Any) -> AsyncIterator[Harness]:
    app = build_app(settings_for(servers, **overrides))
    keys = LocalKeySet()
    stand_in = IssuerStandIn()
    pages: Pages = app.state.pages
    pages.keys = keys
    app.state.keys = keys
    pages.issuer = IssuerClient(
        "http://issuer.invalid", transport=httpx.MockTransport(stand_in.handle), verdict_seconds=0
    )
    notifier: Notifier = app.state.notifier
    publisher = RecordingPublisher()
    notifier.publisher = publisher
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=PUBLIC_URL) as http,
    ):
        yield Harness(notifier, http, publisher, stand_in, servers, app)


@pytest.fixture
async def harness(servers: Servers, topics_ready: None) -> AsyncIterator[Harness]:
    async for running in start(servers):
        yield running
