"""Claiming from the e-mailed link: consent, the institution's second check, then the credential.

On the real database and SMTP sink, through the notifier's own pages.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from joserfc.jwk import OKPKey

from microcred_notifier.claims import TOKEN_SCOPE
from microcred_shared.testing.servers import Servers
from microcred_shared.testing.tokens import access_token

from .conftest import INTAKE_URL, Harness, new_learner, revoked_event, start

pytestmark = pytest.mark.integration

INVALID = "This link does not work"


async def stored(harness: Harness, credential_id: str) -> dict[str, Any]:
    claim = await harness.notifier.claims.find_one({"_id": credential_id})
    assert claim is not None
    return claim


def without_times(claim: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in claim.items() if k != "outbox"}


async def set_check(harness: Harness, institution_id: str, check: str) -> None:
    headers = {"Authorization": "Bearer " + access_token((institution_id, "institution_admin"))}
    answer = await harness.http.put(
        f"/institutions/{institution_id}/claim-settings",
        json={"second_check": check},
        headers=headers,
    )
    assert answer.status_code == 200, answer.text


async def test_consent_then_the_credential_and_the_link_is_spent(harness: Harness) -> None:
    learner = new_learner()
    event = await harness.issue(learner)
    link = await harness.link_for(learner)

    page = await harness.http.get(link)
    assert page.status_code == 200
    assert "Privacy terms" in page.text
    assert "version microcred-1" in page.text
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["cache-control"] == "no-store"

    refused = await harness.http.post(link, data={"terms_version": "microcred-1"})
    assert refused.status_code == 422
    assert "tick the box" in refused.text
    assert (await stored(harness, event.data.credential_id)).get("consent") is None

    answer = await harness.http.post(link, data={"agree": "yes", "terms_version": "microcred-1"})
    assert answer.status_code == 303
    claim = await stored(harness, event.data.credential_id)
    assert answer.headers["location"] == f"/wallet/credentials/{claim['reference']}?claimed=1"
    assert claim["status"] == "claimed"
    assert claim["consent"]["terms_version"] == "microcred-1"
    assert "token_hash" not in claim
    assert "microcred_wallet" in answer.headers["set-cookie"]
    assert "httponly" in answer.headers["set-cookie"].lower()

    page = await harness.http.get(answer.headers["location"])
    assert page.status_code == 200
    assert "Developing digital content" in page.text
    assert "The credential is yours" in page.text

    again = await harness.http.get(link)  # a used link
    assert again.status_code == 404
    assert INVALID in again.text


async def test_every_dead_link_looks_the_same_and_changes_nothing(harness: Harness) -> None:
    learner = new_learner()
    event = await harness.issue(learner)
    link = await harness.link_for(learner)
    before = without_times(await stored(harness, event.data.credential_id))
    token = link.rsplit("/", 1)[1]
    made_up = token[:-1] + ("A" if token[-1] != "A" else "B")
    for bad in (made_up, "short", "x" * 43, "%00" * 5):
        page = await harness.http.get(f"/claim/{bad}")
        assert page.status_code == 404
        assert INVALID in page.text
        posted = await harness.http.post(
            f"/claim/{bad}", data={"agree": "yes", "terms_version": "microcred-1"}
        )
        assert posted.status_code == 404
    assert without_times(await stored(harness, event.data.credential_id)) == before

    await harness.notifier.claims.update_one(
        {"_id": event.data.credential_id},
        {"$set": {"expires_at": before["expires_at"].replace(year=2020)}},
    )
    expired = await harness.http.get(link)
    assert expired.status_code == 404
    assert expired.text.split("<main")[1] == page.text.split("<main")[1]


async def test_guessing_tokens_is_throttled_even_for_a_right_one(
    servers: Servers, topics_ready: None
) -> None:
    async for harness in start(servers, token_failures_per_window=3):
        learner = new_learner()
        await harness.issue(learner)
        link = await harness.link_for(learner)
        for attempt in range(3):
            page = await harness.http.get(f"/claim/{'Z' * 42}{attempt}")
            assert page.status_code == 404
        throttled = await harness.http.get(link)
        assert throttled.status_code == 429
        assert int(throttled.headers["retry-after"]) > 0
        assert "Too many attempts" in throttled.text
        # Another client is not held back by this one's guesses.
        counters = harness.notifier.database["throttle"]
        assert await counters.count_documents({"_id": {"$regex": f"^{TOKEN_SCOPE}\\|"}}) == 1


async def test_a_revoked_credential_link_says_so_and_offers_no_consent(harness: Harness) -> None:
    learner = new_learner()
    event = await harness.issue(learner)
    link = await harness.link_for(learner)
    await harness.notifier.on_credential_revoked(revoked_event(event))
    page = await harness.http.get(link)
    assert page.status_code == 200
    assert "Revoked on" in page.text
    assert "terms_version" not in page.text
    posted = await harness.http.post(link, data={"agree": "yes", "terms_version": "microcred-1"})
    assert "Revoked on" in posted.text
    assert (await stored(harness, event.data.credential_id))["status"] == "sent"


async def test_terms_changed_while_reading_are_shown_again(harness: Harness) -> None:
    learner = new_learner()
    event = await harness.issue(learner)
    link = await harness.link_for(learner)
    headers = {"Authorization": "Bearer " + access_token(("inst-a", "institution_admin"))}
    terms = {"version": "2026-11", "text": "Instituto A keeps your name and e-mail. " * 3}
    answer = await harness.http.put(
        "/institutions/inst-a/claim-settings", json={"privacy_terms": terms}, headers=headers
    )
    assert answer.status_code == 200
    stale = await harness.http.post(link, data={"agree": "yes", "terms_version": "microcred-1"})
    assert stale.status_code == 409
    assert "version 2026-11" in stale.text
    assert (await stored(harness, event.data.credential_id))["status"] == "sent"
    await harness.http.put(
        "/institutions/inst-a/claim-settings", json={"second_check": "none"}, headers=headers
    )


async def test_a_one_time_code_e_mailed_to_the_learner(harness: Harness) -> None:
    institution = "inst-code"
    await set_check(harness, institution, "email_code")
    learner = new_learner(locale="pt")
    event = await harness.issue(learner, institution)
    link = await harness.link_for(learner)
    page = await harness.http.post(link, data={"agree": "yes", "terms_version": "microcred-1"})
    assert page.status_code == 200
    assert 'name="code"' in page.text
    assert page.text.count('<html lang="pt"') == 1  # the learner's language
    [code_mail] = [
        m
        for m in harness.mail_to(learner.email)
        if "código" in str(m["Subject"]).lower() or "code" in str(m["Subject"]).lower()
    ]
    code = re.search(r"\b(\d{6})\b", code_mail.get_content())
    assert code is not None

    wrong = f"{(int(code[1]) + 1) % 10**6:06d}"
    refused = await harness.http.post(f"{link}/code", data={"code": wrong})
    assert refused.status_code == 422
    claim = await stored(harness, event.data.credential_id)
    assert claim["status"] == "sent"
    assert claim["code"]["attempts"] == 1

    taken = await harness.http.post(f"{link}/code", data={"code": code[1]})
    assert taken.status_code == 303
    claim = await stored(harness, event.data.credential_id)
    assert (claim["status"], claim["claimed_by"]) == ("claimed", "email_code")


async def test_a_code_tried_too_often_is_spent(harness: Harness) -> None:
    institution = "inst-code2"
    await set_check(harness, institution, "email_code")
    learner = new_learner()
    event = await harness.issue(learner, institution)
    link = await harness.link_for(learner)
    await harness.http.post(link, data={"agree": "yes", "terms_version": "microcred-1"})
    # The code's e-mail is plain text, the claim e-mail multipart: the Maildir's order of two
    # messages of the same second is not the order they were sent in.
    [code_mail] = [m for m in harness.mail_to(learner.email) if not m.is_multipart()]
    code = re.search(r"\b(\d{6})\b", code_mail.get_content())
    assert code is not None
    wrong = f"{(int(code[1]) + 1) % 10**6:06d}"
    for _ in range(harness.notifier.settings.code_attempts):
        await harness.http.post(f"{link}/code", data={"code": wrong})
    late = await harness.http.post(f"{link}/code", data={"code": code[1]})
    assert late.status_code == 422
    assert "tried too often" in late.text
    assert (await stored(harness, event.data.credential_id))["status"] == "sent"


async def test_the_learner_s_account_login(harness: Harness) -> None:
    institution = "inst-account"
    await set_check(harness, institution, "account")
    learner = new_learner()
    event = await harness.issue(learner, institution)
    link = await harness.link_for(learner)
    answer = await harness.http.post(link, data={"agree": "yes", "terms_version": "microcred-1"})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/wallet/sign-in?next=%2Fclaim%2Fcontinue"
    handoff = await harness.http.get(answer.headers["location"])
    target = urlsplit(handoff.headers["location"])
    assert f"{target.scheme}://{target.netloc}" == INTAKE_URL
    assert target.path == "/auth/handoff"
    query = parse_qs(target.query)
    assert query["to"] == ["notifier"]
    assert query["next"] == ["/claim/continue"]
    state = query["state"][0]

    # Someone else's account: refused, nothing changes.
    other = new_learner()
    with_other = harness.browser()
    async with with_other:
        for cookie in harness.http.cookies.jar:
            with_other.cookies.set(cookie.name, cookie.value or "", cookie.domain, cookie.path)
        signed = await with_other.post(
            "/wallet/session",
            data={"token": harness.token_for(other), "state": state, "next": "/claim/continue"},
        )
        assert signed.status_code == 303
        refused = await with_other.get("/claim/continue")
        assert refused.status_code == 403
        assert "issued to another account" in refused.text
    assert (await stored(harness, event.data.credential_id))["status"] == "sent"

    bad_state = await harness.http.post(
        "/wallet/session",
        data={"token": harness.token_for(learner), "state": "x" * 32, "next": "/claim/continue"},
    )
    assert bad_state.status_code == 400

    signed = await harness.http.post(
        "/wallet/session",
        data={"token": harness.token_for(learner), "state": state, "next": "/claim/continue"},
    )
    assert (signed.status_code, signed.headers["location"]) == (303, "/claim/continue")
    done = await harness.http.get("/claim/continue")
    assert done.status_code == 303
    claim = await stored(harness, event.data.credential_id)
    assert (claim["status"], claim["claimed_by"]) == ("claimed", "account")


async def test_sign_in_refuses_forged_or_foreign_redirects(harness: Harness) -> None:
    learner = new_learner()
    start_page = await harness.http.get("/wallet/sign-in", params={"next": "//evil.example/x"})
    state = parse_qs(urlsplit(start_page.headers["location"]).query)["state"][0]
    assert parse_qs(urlsplit(start_page.headers["location"]).query)["next"] == ["/wallet"]
    forged = access_token(user_id=learner.learner_id, key=OKPKey.generate_key("Ed25519"))
    refused = await harness.http.post(
        "/wallet/session", data={"token": forged, "state": state, "next": "/wallet"}
    )
    assert refused.status_code == 400
    signed = await harness.http.post(
        "/wallet/session",
        data={"token": harness.token_for(learner), "state": state, "next": "https://evil.example"},
    )
    assert (signed.status_code, signed.headers["location"]) == (303, "/wallet")
