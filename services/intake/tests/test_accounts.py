"""Accounts on the real stack.

Verification by e-mail, tokens others can verify, sessions with CSRF, password reset, rate
limits, roles.
"""

from __future__ import annotations

import re
import uuid
from email.message import EmailMessage

import httpx
import pytest
from argon2 import PasswordHasher, extract_parameters
from joserfc.jwk import KeySet

from microcred_intake.accounts import hasher
from microcred_intake.testing import Harness
from microcred_shared.auth import InvalidTokenError, verify_token
from microcred_shared.demo import minimal_pdf, plain_text, wait_for

pytestmark = pytest.mark.integration

RESET_LINK = re.compile(r"/auth/password-reset/([A-Za-z0-9_-]{43})")


def new_email() -> str:
    return f"someone.{uuid.uuid4().hex[:8]}@example.org"


async def register(intake: Harness, email: str, password: str = "a-long-password-1") -> None:
    response = await intake.http.post(
        "/auth/register",
        json={
            "email": email,
            "password": password,
            "name": "Mary Somerville",
            "institution_id": intake.institution_id,
        },
    )
    assert response.status_code == 202, response.text


async def token_for(intake: Harness, email: str, password: str) -> httpx.Response:
    return await intake.http.post("/auth/token", json={"email": email, "password": password})


async def test_login_waits_for_the_verified_address(intake: Harness) -> None:
    email = new_email()
    await register(intake, email)

    refused = await token_for(intake, email, "a-long-password-1")
    assert refused.status_code == 403
    assert refused.json()["title"] == "E-mail not verified"

    [message] = [m for m in intake.servers.mail.messages() if email in str(m["To"])]
    link = re.search(r"https://intake.example.org(/auth/verify/\S+)", plain_text(message))
    assert link is not None
    page = await intake.http.get(link.group(1))
    assert page.status_code == 200
    assert "is confirmed" in page.text
    again = await intake.http.get(link.group(1))
    assert again.status_code == 400  # a link works once

    assert (await token_for(intake, email, "a-long-password-1")).status_code == 200
    wrong = await token_for(intake, email, "not-the-password")
    assert wrong.status_code == 401
    assert (await token_for(intake, new_email(), "whatever-password")).status_code == 401


async def test_registration_refuses_weak_input_and_reveals_no_accounts(intake: Harness) -> None:
    short = await intake.http.post(
        "/auth/register",
        json={
            "email": new_email(),
            "password": "short",
            "name": "X",
            "institution_id": intake.institution_id,
        },
    )
    assert short.status_code == 422
    nowhere = await intake.http.post(
        "/auth/register",
        json={
            "email": new_email(),
            "password": "a-long-password-1",
            "name": "X",
            "institution_id": "no-such-institution",
        },
    )
    assert nowhere.status_code == 404
    newline = await intake.http.post(
        "/auth/register",
        json={
            "email": new_email(),
            "password": "a-long-password-1",
            "name": "Eve\r\nBcc: everyone@example.org",
            "institution_id": intake.institution_id,
        },
    )
    assert newline.status_code == 422  # it would break the e-mail headers
    # Registering an existing address answers exactly like a new one.
    existing = await intake.http.post(
        "/auth/register",
        json={
            "email": intake.learner.email,
            "password": "another-password-1",
            "name": "Impostor",
            "institution_id": intake.institution_id,
        },
    )
    assert existing.status_code == 202
    assert existing.json() == {"status": "pending_verification"}


async def test_tokens_verify_with_the_published_key_set_alone(intake: Harness) -> None:
    jwks = (await intake.http.get("/.well-known/jwks.json")).json()
    keys = KeySet.import_key_set(jwks)

    principal = verify_token(intake.learner.token, keys)

    assert principal.user_id == intake.learner.user_id
    assert principal.has_role(intake.institution_id, "learner")
    assert not principal.has_role(intake.institution_id, "evaluator")
    assert not principal.has_role("another-institution", "learner")
    head, payload, signature = intake.learner.token.split(".")
    # One character of the signature changed (a middle one: every bit of it counts).
    changed = "B" if signature[10] == "A" else "A"
    with pytest.raises(InvalidTokenError):
        verify_token(f"{head}.{payload}.{signature[:10]}{changed}{signature[11:]}", keys)
    refused = await intake.http.get(
        "/auth/me", headers={"Authorization": f"Bearer {head}.{payload}.x"}
    )
    assert refused.status_code == 401


async def test_browser_sessions_need_the_csrf_token_and_end_at_logout(intake: Harness) -> None:
    login = await intake.http.post(
        "/auth/login", json={"email": intake.learner.email, "password": "a-long-password-1"}
    )
    assert login.status_code == 200
    cookie = login.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Secure" in cookie  # the public URL is https
    csrf = login.json()["csrf_token"]

    me = await intake.http.get("/auth/me")
    assert me.json()["email"] == intake.learner.email
    forged = await intake.http.post(f"/institutions/{intake.institution_id}/evidence/x/withdraw")
    assert forged.status_code == 403
    assert forged.json()["title"] == "CSRF check failed"

    out = await intake.http.post("/auth/logout", headers={"X-CSRF-Token": csrf})
    assert out.status_code == 204
    intake.http.cookies.clear()
    assert (await intake.http.get("/auth/me")).status_code == 401


async def test_password_reset_by_e_mail_ends_old_sessions(intake: Harness) -> None:
    email = intake.learner.email
    login = await intake.http.post(
        "/auth/login", json={"email": email, "password": "a-long-password-1"}
    )
    session_cookie = dict(intake.http.cookies)
    assert login.status_code == 200
    intake.http.cookies.clear()

    asked = await intake.http.post("/auth/password-reset", json={"email": email})
    assert asked.status_code == 202
    unknown = await intake.http.post("/auth/password-reset", json={"email": new_email()})
    assert unknown.json() == asked.json()

    async def reset_mail() -> EmailMessage | None:
        found = [
            m
            for m in intake.servers.mail.messages()
            if email in str(m["To"]) and "Reset" in str(m["Subject"])
        ]
        return found[0] if found else None

    message = await wait_for("the reset e-mail", reset_mail, timeout=30)
    found = RESET_LINK.search(plain_text(message))
    assert found is not None
    done = await intake.http.post(
        "/auth/password-reset/confirm",
        json={"token": found.group(1), "password": "a-brand-new-password"},
    )
    assert done.status_code == 204

    assert (await token_for(intake, email, "a-long-password-1")).status_code == 401
    assert (await token_for(intake, email, "a-brand-new-password")).status_code == 200
    intake.http.cookies.update(session_cookie)
    old_session = await intake.http.get("/auth/me")
    assert old_session.status_code == 401


async def test_login_attempts_are_limited(intake: Harness) -> None:
    email = new_email()
    statuses = [
        (await token_for(intake, email, "wrong-password")).status_code
        for _ in range(intake.settings.login_attempts_per_15_minutes + 1)
    ]
    assert set(statuses[:-1]) == {401}
    assert statuses[-1] == 429


async def test_administrators_cannot_submit_evidence(intake: Harness) -> None:
    admin = await intake.client.login("admin@microcred.localhost", "microcred-admin-dev")
    response = await intake.http.post(
        f"/institutions/{intake.institution_id}/evidence",
        data={
            "competence_id": "digcomp-3-1",
            "title": "Admin's own course",
            "hours": "10",
            "start_date": "2026-01-01",
            "end_date": "2026-01-02",
            "provider": "Hub",
        },
        files=[("files", ("a.pdf", minimal_pdf("admin"), "application/pdf"))],
        headers=admin.auth,
    )
    assert response.status_code == 403


async def test_institution_ids_cannot_hold_did_separators(intake: Harness) -> None:
    admin = await intake.client.login("admin@microcred.localhost", "microcred-admin-dev")
    institution = (await intake.http.get(f"/institutions/{intake.institution_id}")).json()
    institution["id"] = "uni:lisbon"
    response = await intake.http.post("/institutions", json=institution, headers=admin.auth)
    assert response.status_code == 422


async def test_roles_are_granted_by_institution_administrators(intake: Harness) -> None:
    admin = await intake.client.login("admin@microcred.localhost", "microcred-admin-dev")
    other = await intake.new_learner()
    grant = {"email": other.email, "role": "evaluator"}
    path = f"/institutions/{intake.institution_id}/members"

    refused = await intake.http.post(path, json=grant, headers=intake.learner.auth)
    assert refused.status_code == 403
    granted = await intake.http.post(path, json=grant, headers=admin.auth)
    assert granted.status_code == 200
    assert {"institution": intake.institution_id, "role": "evaluator"} in granted.json()[
        "memberships"
    ]
    evaluator = await intake.client.login(other.email, "a-long-password-1")
    me = (await intake.http.get("/auth/me", headers=evaluator.auth)).json()
    assert {"institution": intake.institution_id, "role": "evaluator"} in me["memberships"]


async def test_reset_requests_are_limited(intake: Harness) -> None:
    statuses = [
        (
            await intake.http.post("/auth/password-reset", json={"email": intake.learner.email})
        ).status_code
        for _ in range(intake.settings.resets_per_hour + 1)
    ]
    assert set(statuses[:-1]) == {202}
    assert statuses[-1] == 429


async def test_a_password_hashed_at_the_old_cost_still_signs_in_and_is_rehashed(
    intake: Harness,
) -> None:
    # Hashes made before intake moved to OWASP's cost: the library's default (64 MiB, 4 lanes).
    learner = await intake.new_learner()
    old = PasswordHasher().hash("a-long-password-1")
    client, database = await intake.database()
    try:
        await database["users"].update_one(
            {"_id": learner.user_id}, {"$set": {"password_hash": old}}
        )
        assert (await token_for(intake, learner.email, "a-long-password-1")).status_code == 200
        user = await database["users"].find_one({"_id": learner.user_id})
    finally:
        await client.close()
    assert user is not None
    stored = extract_parameters(user["password_hash"])
    assert (stored.memory_cost, stored.time_cost, stored.parallelism) == (19 * 1024, 2, 1)
    assert hasher.verify(user["password_hash"], "a-long-password-1")
    # A wrong password does not match the new hash either.
    assert (await token_for(intake, learner.email, "not-the-password")).status_code == 401
