"""One learner's journey through a running platform, over its public HTTP interfaces.

``microcred demo`` runs it and writes what came out; the end-to-end tests drive the same client.
"""

from __future__ import annotations

import asyncio
import functools
import html
import json
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import httpx

from microcred_shared.stack.smtp_sink import read_messages

T = TypeVar("T")

CLAIM_LINK = re.compile(r"https?://\S+/claim/[A-Za-z0-9_-]{43}")


class DemoError(RuntimeError):
    pass


def minimal_pdf(text: str) -> bytes:
    """A small, valid one-page PDF saying ``text`` (ASCII)."""
    stream = f"BT /F1 14 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        (
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> >>"
        ),
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return bytes(out)


#: Review settings of the demo institution: its own evaluators decide, one approval suffices.
BUILTIN_REVIEW: Mapping[str, Any] = {"mode": "builtin", "second_approval_above_hours": None}


def demo_institution(
    institution_id: str, review: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The demo institution's profile and catalogue; ``review`` adds review settings."""
    institution: dict[str, Any] = {
        "id": institution_id,
        "name": "Demo University of Applied Sciences",
        "country": "PT",
        "awarding_body_name": "Demo Consortium for Digital Skills",
        "awarding_body_country": "BE",
        "quality_assurance": "Internal quality assurance following the ESG 2015, part 1.",
        "url": "https://demo.example.org",
        "competences": [
            {
                "id": "digcomp-3-1",
                "title": "Developing digital content",
                "description": "Create and edit digital content in different formats.",
                "learning_outcomes": [
                    "Create digital content in several formats",
                    "Edit and improve content made by others",
                ],
                "eqf_level": 4,
                "nqf_level": "4",
                "isced_f_code": "0613",
                "assessment_method": "Portfolio of evidence reviewed by an evaluator",
                "form_of_participation": "Online or blended",
                "access_requirements": "None",
                "alignment_url": "https://joint-research-centre.ec.europa.eu/digcomp",
            }
        ],
    }
    if review is not None:
        institution["review"] = dict(review)
    return institution


async def wait_for(
    what: str, probe: Callable[[], Awaitable[T | None]], timeout: float, interval: float = 0.2
) -> T:
    """Poll ``probe`` until it returns a value; raise ``DemoError`` naming ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise DemoError(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(interval)


#: The first platform administrator of a development deployment (intake's defaults).
DEVELOPMENT_ADMIN = ("admin@microcred.localhost", "microcred-admin-dev")
VERIFY_LINK = re.compile(r"/auth/verify/([A-Za-z0-9_-]{43})")

MailReader = Callable[[], list[EmailMessage]]


@dataclass(frozen=True)
class Account:
    user_id: str
    email: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class PlatformClient:
    """The platform's HTTP interfaces, as the learner, the evaluator and a verifier use them."""

    def __init__(
        self,
        urls: Mapping[str, str],
        http: httpx.AsyncClient,
        mail: MailReader,
        admin: tuple[str, str] = DEVELOPMENT_ADMIN,
    ) -> None:
        self.urls = urls
        self.http = http
        self.mail = mail
        self._admin = admin

    async def _json(self, response: httpx.Response) -> Any:
        if response.is_error:
            raise DemoError(
                f"{response.request.method} {response.request.url} -> "
                f"{response.status_code}: {response.text[:500]}"
            )
        return response.json()

    async def login(self, email: str, password: str) -> Account:
        token = await self._json(
            await self.http.post(
                f"{self.urls['intake']}/auth/token", json={"email": email, "password": password}
            )
        )
        bearer = {"Authorization": f"Bearer {token['access_token']}"}
        me = await self._json(await self.http.get(f"{self.urls['intake']}/auth/me", headers=bearer))
        return Account(me["user_id"], email, token["access_token"])

    async def grant(self, institution_id: str, email: str, role: str) -> Any:
        admin = await self.login(*self._admin)
        return await self._json(
            await self.http.post(
                f"{self.urls['intake']}/institutions/{institution_id}/members",
                json={"email": email, "role": role},
                headers=admin.auth,
            )
        )

    async def evaluator(self, institution_id: str, email: str, password: str) -> Account:
        """A new account with the evaluator role at the institution."""
        await self.register(institution_id, "Evaluator", email, password)
        await self.grant(institution_id, email, "evaluator")
        return await self.login(email, password)  # a fresh token carries the new role

    async def onboard(self, institution: Mapping[str, Any]) -> Any:
        """Onboard at intake, then register at the issuer (its first key, its competences).

        A ``review`` section (review settings) goes to review, a ``claims`` section (claim
        settings) to the notifier.
        """
        admin = await self.login(*self._admin)
        profile = {k: v for k, v in institution.items() if k not in {"review", "claims"}}
        onboarded = await self._json(
            await self.http.post(
                f"{self.urls['intake']}/institutions", json=profile, headers=admin.auth
            )
        )
        # A platform of intake alone (intake's own tests) has no issuer to sign for it.
        if "issuer" in self.urls:
            await self.register_at_issuer(onboarded)
        if "review" in institution:
            await self.configure_review(profile["id"], institution["review"])
        if "claims" in institution:
            await self.configure_claims(profile["id"], institution["claims"])
        return onboarded

    async def configure_claims(self, institution_id: str, settings: Mapping[str, Any]) -> Any:
        """Set how the institution's learners claim (at the notifier, as the platform admin)."""
        admin = await self.login(*self._admin)
        return await self._json(
            await self.http.put(
                f"{self.urls['notifier']}/institutions/{institution_id}/claim-settings",
                json=settings,
                headers=admin.auth,
            )
        )

    async def register_at_issuer(self, institution: Mapping[str, Any]) -> Any:
        """Register the institution (as intake has it) at the issuer, as the platform admin.

        The issuer signs only for registered institutions, and only their competences: called
        at onboarding (it makes the first key) and again when the catalogue grows.
        """
        admin = await self.login(*self._admin)
        return await self._json(
            await self.http.put(
                f"{self.urls['issuer']}/institutions/{institution['id']}",
                json={
                    "name": institution["name"],
                    "country": institution["country"],
                    "competences": [c["id"] for c in institution.get("competences", [])],
                },
                headers=admin.auth,
            )
        )

    async def configure_review(self, institution_id: str, settings: Mapping[str, Any]) -> Any:
        """Set the institution's review mode and second-approval threshold (as the admin)."""
        admin = await self.login(*self._admin)
        return await self._json(
            await self.http.put(
                f"{self.urls['review']}/institutions/{institution_id}/review-settings",
                json=settings,
                headers=admin.auth,
            )
        )

    async def register(
        self, institution_id: str, name: str, email: str, password: str, timeout: float = 60
    ) -> Account:
        """Register, confirm the address from the e-mailed link, and log in."""
        await self._json(
            await self.http.post(
                f"{self.urls['intake']}/auth/register",
                json={
                    "email": email,
                    "password": password,
                    "name": name,
                    "institution_id": institution_id,
                },
            )
        )

        async def verification_token() -> str | None:
            for message in self.mail():
                if email in str(message.get("To", "")):
                    found = VERIFY_LINK.search(plain_text(message))
                    if found:
                        return found.group(1)
            return None

        token = await wait_for("the verification e-mail", verification_token, timeout)
        await self._json(
            await self.http.post(f"{self.urls['intake']}/auth/verify", json={"token": token})
        )
        return await self.login(email, password)

    async def upload(
        self,
        institution_id: str,
        learner: Account,
        competence_id: str,
        title: str,
        hours: str,
        file: tuple[str, bytes, str],
        start: date | None = None,
    ) -> Any:
        start = start or datetime.now(UTC).date() - timedelta(days=30)
        return await self._json(
            await self.http.post(
                f"{self.urls['intake']}/institutions/{institution_id}/evidence",
                headers=learner.auth,
                data={
                    "competence_id": competence_id,
                    "title": title,
                    "hours": hours,
                    "start_date": start.isoformat(),
                    "end_date": (start + timedelta(days=5)).isoformat(),
                    "provider": "Open Learning Hub",
                    "kind": "course",
                    "description": "A short course with a final project.",
                },
                files=[("files", file)],
            )
        )

    async def queued(
        self, institution_id: str, evidence_id: str, evaluator: Account
    ) -> dict[str, Any] | None:
        queue = await self._json(
            await self.http.get(
                f"{self.urls['review']}/institutions/{institution_id}/queue",
                headers=evaluator.auth,
            )
        )
        return next((item for item in queue if item["evidence_id"] == evidence_id), None)

    async def approve(self, institution_id: str, evidence_id: str, evaluator: Account) -> Any:
        item = f"{self.urls['review']}/institutions/{institution_id}/queue/{evidence_id}"
        await self._json(await self.http.post(f"{item}/claim", headers=evaluator.auth))
        return await self._json(
            await self.http.post(
                f"{item}/decision", json={"decision": "approve"}, headers=evaluator.auth
            )
        )

    async def define_pathway(
        self, institution_id: str, pathway_id: str, pathway: Mapping[str, Any]
    ) -> Any:
        """Define a pathway at accounting (as the platform administrator)."""
        admin = await self.login(*self._admin)
        return await self._json(
            await self.http.put(
                f"{self.urls['accounting']}/institutions/{institution_id}/pathways/{pathway_id}",
                json=pathway,
                headers=admin.auth,
            )
        )

    async def share_awards(self, partner_id: str, awarding_id: str) -> Any:
        """Let ``partner_id``'s awards count toward ``awarding_id``'s pathways (as the admin)."""
        admin = await self.login(*self._admin)
        return await self._json(
            await self.http.put(
                f"{self.urls['accounting']}/institutions/{partner_id}/award-sharing/{awarding_id}",
                headers=admin.auth,
            )
        )

    async def reverse(
        self, institution_id: str, evidence_id: str, admin: Account, reason: str
    ) -> Any:
        """Reverse an approval (an institution administrator finds misconduct)."""
        return await self._json(
            await self.http.post(
                f"{self.urls['review']}/institutions/{institution_id}/queue/{evidence_id}/reversal",
                json={"reason": reason},
                headers=admin.auth,
            )
        )

    async def progress(self, institution_id: str, learner: Account) -> Any:
        return await self._json(
            await self.http.get(
                f"{self.urls['accounting']}/institutions/{institution_id}/learners/"
                f"{learner.user_id}/progress",
                headers=learner.auth,
            )
        )

    async def fetch(self, url: str) -> httpx.Response:
        """GET ``url``; an error answer is a ``DemoError`` naming it."""
        response = await self.http.get(url)
        if response.is_error:
            raise DemoError(f"GET {url} -> {response.status_code}: {response.text[:500]}")
        return response

    async def verify_badge(self, svg: bytes) -> Any:
        """Verify a baked badge image as anyone can: ``POST /verify``."""
        return await self._json(
            await self.http.post(
                f"{self.urls['issuer']}/verify",
                content=svg,
                headers={"Content-Type": "image/svg+xml"},
            )
        )

    async def verify(self, credential_jwt: str) -> Any:
        return await self._json(
            await self.http.post(
                f"{self.urls['issuer']}/verify",
                json={"credential_jwt": credential_jwt},
            )
        )


async def write_issuer_documents(
    platform: PlatformClient, institution_id: str, out: Path
) -> tuple[str, ...]:
    """Write what the issuer publishes for verifiers: its DID document and its status lists.

    ``did.json``, and each status list credential (``status-list-<purpose>.json``) the issuer
    serves; one it does not serve (an issuer without status lists) is left out. Returns the
    purposes written.
    """
    issuer = platform.urls["issuer"]
    did = await platform.fetch(f"{issuer}/institutions/{institution_id}/did.json")
    (out / "did.json").write_text(json.dumps(did.json(), indent=2) + "\n")
    written = []
    for purpose in ("revocation", "suspension"):
        url = f"{issuer}/institutions/{institution_id}/status/{purpose}"
        answer = await platform.http.get(url)
        if answer.status_code == 404:  # noqa: PLR2004 - an issuer without status lists
            continue
        if answer.is_error:
            raise DemoError(f"GET {url} -> {answer.status_code}: {answer.text[:500]}")
        status_list = answer.json()
        (out / f"status-list-{purpose}.json").write_text(json.dumps(status_list, indent=2) + "\n")
        written.append(purpose)
    return tuple(written)


@dataclass(frozen=True)
class Claimed:
    """What a learner has after following the claim link: their files and a share link."""

    page_url: str
    credential: dict[str, Any]
    credential_jwt: str
    badge: bytes
    certificate: bytes
    share_url: str


#: What the demo's share link shows: no e-mail address, no evidence list.
DEMO_SHARED_FIELDS = ("learner_name", "description", "learning_outcomes", "workload", "levels")
_TERMS_VERSION = re.compile(r'name="terms_version" value="([^"]+)"')
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _found(pattern: re.Pattern[str], page: str, what: str) -> str:
    match = pattern.search(page)
    if match is None:
        raise DemoError(f"the page has no {what}")
    return html.unescape(match.group(1))


async def claim_credential(link: str, out: Path | None = None, timeout: float = 30) -> Claimed:
    """Follow a claim link as a browser does: consent, then download everything and share.

    Works for institutions with no second check (the default). With ``out``, writes
    ``credential.json``, ``credential.jwt``, ``badge.svg``, ``certificate.pdf`` and
    ``share-link.txt``.
    """
    parts = urlsplit(link)
    base = f"{parts.scheme}://{parts.netloc}"
    async with httpx.AsyncClient(base_url=base, timeout=timeout) as browser:

        async def get(path: str) -> httpx.Response:
            answer = await browser.get(path)
            if answer.status_code != 200:  # noqa: PLR2004
                shown = "the claim link" if path.startswith("/claim/") else path  # a secret
                raise DemoError(f"GET {shown} answered {answer.status_code}")
            return answer

        consent = await get(parts.path)
        version = _found(_TERMS_VERSION, consent.text, "privacy terms to agree to")
        answer = await browser.post(parts.path, data={"agree": "yes", "terms_version": version})
        if answer.status_code != 303:  # noqa: PLR2004
            raise DemoError(
                f"claiming answered {answer.status_code}: the institution may ask for a "
                "second check (a code or a sign-in), which this walk-through does not do"
            )
        page_path = answer.headers["location"].split("?", 1)[0]
        page = await get(page_path)
        credential = (await get(f"{page_path}/credential.json")).json()
        token = (await get(f"{page_path}/credential.jwt")).text
        badge = (await get(f"{page_path}/badge.svg")).content
        certificate = (await get(f"{page_path}/certificate.pdf")).content
        shared = await browser.post(
            f"{page_path}/shares",
            data={
                "csrf_token": _found(_CSRF, page.text, "form token"),
                "field": list(DEMO_SHARED_FIELDS),
                "label": "demo",
            },
        )
        created = parse_qs(urlsplit(shared.headers.get("location", "")).query).get("created")
        if shared.status_code != 303 or not created:  # noqa: PLR2004
            raise DemoError(f"creating a share link answered {shared.status_code}")
        claimed = Claimed(
            page_url=f"{base}{page_path}",
            credential=credential,
            credential_jwt=token,
            badge=badge,
            certificate=certificate,
            share_url=f"{base}/share/{created[0]}",
        )
    if out is not None:
        (out / "credential.json").write_text(json.dumps(credential, indent=2) + "\n")
        (out / "credential.jwt").write_text(token + "\n")
        (out / "badge.svg").write_bytes(badge)
        (out / "certificate.pdf").write_bytes(certificate)
        (out / "share-link.txt").write_text(claimed.share_url + "\n")
    return claimed


def messages_to(maildir: Path, address: str) -> list[EmailMessage]:
    return [m for m in read_messages(maildir) if address in str(m.get("To", ""))]


def plain_text(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    return str(body.get_content()) if body is not None else ""


def claim_link(message: EmailMessage) -> str:
    match = CLAIM_LINK.search(plain_text(message))
    if match is None:
        raise DemoError("the email carries no claim link")
    return match.group(0)


async def run_demo(
    urls: Mapping[str, str],
    maildir: Path,
    out: Path,
    timeout: float,
    echo: Callable[[str], None] = print,
) -> None:
    out.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - a command-line run; nothing else waits
    suffix = uuid.uuid4().hex[:8]
    institution_id = f"demo-{suffix}"
    email = f"ada.{suffix}@learners.example.org"
    async with httpx.AsyncClient(timeout=30) as http:
        platform = PlatformClient(urls, http, lambda: read_messages(maildir))
        await platform.onboard(demo_institution(institution_id, BUILTIN_REVIEW))
        echo(f"1. onboarded institution {institution_id} with competence digcomp-3-1")
        learner = await platform.register(
            institution_id, "Ada Lovelace", email, f"demo-{suffix}-password", timeout
        )
        learner_id = learner.user_id
        echo(f"2. registered learner {learner_id} <{email}>, confirmed the address, logged in")
        evaluator = await platform.evaluator(
            institution_id, f"evaluator.{suffix}@staff.example.org", f"demo-{suffix}-evaluator"
        )
        evidence_ids = []
        for n in range(1, 4):
            record = await platform.upload(
                institution_id,
                learner,
                "digcomp-3-1",
                f"Digital content workshop, part {n}",
                "30",
                (f"certificate-{n}.pdf", minimal_pdf(f"Certificate {n}"), "application/pdf"),
            )
            evidence_ids.append(record["id"])
        echo(f"3. uploaded 3 pieces of evidence of 30 h each: {', '.join(evidence_ids)}")
        for evidence_id in evidence_ids:
            await wait_for(
                f"evidence {evidence_id} in the review queue",
                functools.partial(platform.queued, institution_id, evidence_id, evaluator),
                timeout,
            )
            await platform.approve(institution_id, evidence_id, evaluator)
        echo("4. an evaluator approved all three (90 h = 3 ECTS)")

        async def awarded() -> Any:
            rows = (await platform.progress(institution_id, learner))["competences"]
            return rows if any(r["status"] == "awarded" for r in rows) else None

        rows = await wait_for("the award", awarded, timeout)
        echo(f"5. accounting awarded the competence: {rows[0]['hours']} h approved")

        async def mail() -> EmailMessage | None:
            found = [m for m in messages_to(maildir, email) if CLAIM_LINK.search(plain_text(m))]
            return found[0] if found else None

        message = await wait_for("the claim email", mail, timeout)
        (out / "claim-email.eml").write_bytes(message.as_bytes())
        link = claim_link(message)
        echo(f"6. the learner received '{message['Subject']}' with a claim link")
        claimed = await claim_credential(link, out, timeout=30)
        echo(
            f"7. followed the link, agreed to the privacy terms and claimed credential "
            f"{claimed.credential['id']}; downloaded it and made a share link: {claimed.share_url}"
        )
        status_lists = await write_issuer_documents(platform, institution_id, out)
        result = await platform.verify(claimed.credential_jwt)
        if not result["verified"]:
            raise DemoError(f"the credential does not verify: {result.get('error')}")
        echo(f"8. verified: signed by {result['checks']['issuer']}")
        badge = await platform.verify_badge(claimed.badge)
        if not badge["verified"]:
            raise DemoError(f"the baked badge does not verify: {badge.get('error')}")
        lists = ", ".join(status_lists) or "none (the issuer publishes no status list)"
        echo(
            "9. wrote the credential (JSON-LD with its proof, VC-JWT), the baked badge (verified "
            "by POST /verify) and the PDF certificate as the learner downloaded them, the share "
            "link, and the issuer's DID document; "
            f"status lists: {lists}"
        )
    written = sorted(p.name for p in out.iterdir())  # noqa: ASYNC240 - as above
    echo(f"wrote {', '.join(written)} to {out}")
