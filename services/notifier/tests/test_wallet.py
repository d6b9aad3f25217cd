"""The learner's credential page, downloads, LinkedIn, and share links seen by anyone."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urlsplit

import pytest

from .conftest import PDF, PUBLIC_URL, SVG, Harness, new_learner, revoked_event

pytestmark = pytest.mark.integration


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None
    return found[1]


async def test_the_credential_page_and_its_downloads(harness: Harness) -> None:
    learner = new_learner()
    event = await harness.issue(learner)
    path = await harness.claim(learner)

    page = await harness.http.get(path)
    assert page.status_code == 200
    assert "Verified just now." in page.text
    assert "Portfolio reviewed by an evaluator." in page.text  # assessment, in plain words
    assert "EQF level 5" in page.text
    assert learner.email in page.text  # the owner sees everything
    credential_id = event.data.credential_id
    assert (
        f"http://issuer.invalid/credentials/{credential_id.replace(':', '%3A')}/verify" in page.text
    )

    as_json = await harness.http.get(f"{path}/credential.json")
    assert as_json.headers["content-type"] == "application/vc+ld+json"
    assert "attachment" in as_json.headers["content-disposition"]
    assert json.loads(as_json.content) == event.data.credential
    as_jwt = await harness.http.get(f"{path}/credential.jwt")
    assert as_jwt.text == event.data.credential_jwt
    badge = await harness.http.get(f"{path}/badge.svg")
    assert (badge.status_code, badge.content) == (200, SVG)
    assert badge.headers["content-type"] == "image/svg+xml"
    pdf = await harness.http.get(f"{path}/certificate.pdf")
    assert (pdf.status_code, pdf.content) == (200, PDF)

    harness.issuer.available = False
    gone = await harness.http.get(f"{path}/certificate.pdf")
    assert gone.status_code == 503
    assert "Not available right now" in gone.text


async def test_someone_else_s_session_sees_nothing_of_it(harness: Harness) -> None:
    learner = new_learner()
    await harness.issue(learner)
    path = await harness.claim(learner)
    stranger = new_learner()
    await harness.issue(stranger)
    async with harness.browser() as other:
        await harness.claim(stranger, other)
        for suffix in ("", "/credential.json", "/credential.jwt", "/badge.svg"):
            answer = await other.get(f"{path}{suffix}")
            assert answer.status_code == 404
            assert learner.name not in answer.text
    async with harness.browser() as anonymous:
        answer = await anonymous.get(path)
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/wallet/sign-in?next=")


async def test_share_links_show_what_the_learner_chose_and_can_be_withdrawn(
    harness: Harness,
) -> None:
    learner = new_learner()
    await harness.issue(learner)
    path = await harness.claim(learner)
    page = await harness.http.get(path)
    csrf = csrf_of(page.text)

    forged = await harness.http.post(f"{path}/shares", data={"field": ["learner_name"]})
    assert forged.status_code == 403
    made = await harness.http.post(
        f"{path}/shares",
        data={
            "csrf_token": csrf,
            "field": ["learner_name", "learning_outcomes", "nonsense"],
            "label": "For Acme",
        },
    )
    assert made.status_code == 303
    share_id = parse_qs(urlsplit(made.headers["location"]).query)["created"][0]
    assert len(share_id) >= 22  # 128 random bits

    async with harness.browser() as visitor:
        shared = await visitor.get(f"/share/{share_id}")
        assert shared.status_code == 200
        text = shared.text
        assert learner.name.replace("<", "&lt;").replace(">", "&gt;") in text
        assert "Edits text, images and video" in text  # learning outcomes: chosen
        assert learner.email not in text  # not chosen
        assert "Workshop on video editing" not in text  # the evidence: not chosen
        assert "Portfolio reviewed" not in text  # assessment: not chosen
        assert "urn:uuid" not in text  # the credential's id is its private link
        assert "Verified just now." in text
        assert f'<meta property="og:url" content="{PUBLIC_URL}/share/{share_id}">' in text
        assert '<meta property="og:title" content="Developing digital content' in text

        withdrawn = await harness.http.post(
            f"{path}/shares/{share_id}/revoke", data={"csrf_token": csrf}
        )
        assert withdrawn.status_code == 303
        gone = await visitor.get(f"/share/{share_id}")
        assert gone.status_code == 404
        assert learner.email not in gone.text
        assert "Developing" not in gone.text


async def test_a_share_of_a_revoked_credential_says_revoked_and_shows_nothing_else(
    harness: Harness,
) -> None:
    learner = new_learner()
    event = await harness.issue(learner)
    path = await harness.claim(learner)
    csrf = csrf_of((await harness.http.get(path)).text)
    made = await harness.http.post(
        f"{path}/shares", data={"csrf_token": csrf, "field": ["learner_name", "evidence"]}
    )
    share = parse_qs(urlsplit(made.headers["location"]).query)["created"][0]

    # The issuer knows first (a suspension, or a revocation not yet read here) …
    harness.issuer.status[event.data.credential_id] = "revoked"
    harness.issuer.verified.clear()
    async with harness.browser() as visitor:
        page = (await visitor.get(f"/share/{share}")).text
        assert "Revoked." in page, page[page.index("<main") :]
        assert "Workshop on video editing" not in page
        assert "Verified just now" not in page
        assert 'content="Revoked credential' in page
    # … and once the revocation is read here, even with the issuer away.
    await harness.notifier.on_credential_revoked(revoked_event(event))
    harness.issuer.available = False
    async with harness.browser() as visitor:
        page = (await visitor.get(f"/share/{share}")).text
        assert "Revoked on" in page
        assert "Workshop on video editing" not in page


async def test_add_to_linkedin_prefills_a_privacy_friendly_link(harness: Harness) -> None:
    learner = new_learner()
    event = await harness.issue(learner)
    path = await harness.claim(learner)
    csrf = csrf_of((await harness.http.get(path)).text)

    answer = await harness.http.post(f"{path}/linkedin", data={"csrf_token": csrf})
    assert answer.status_code == 303
    target = urlsplit(answer.headers["location"])
    assert (target.netloc, target.path) == ("www.linkedin.com", "/profile/add")
    query = {k: v[0] for k, v in parse_qs(target.query).items()}
    issued = event.data.issued_at
    share_id = query["certId"]
    assert query == {
        "startTask": "CERTIFICATION_NAME",
        "name": "Developing digital content",
        "organizationName": "Instituto A",
        "issueYear": str(issued.year),
        "issueMonth": str(issued.month),
        "certUrl": f"{PUBLIC_URL}/share/{share_id}",
        "certId": share_id,
    }
    again = await harness.http.post(f"{path}/linkedin", data={"csrf_token": csrf})
    assert parse_qs(urlsplit(again.headers["location"]).query)["certId"] == [share_id]
    shared = (await harness.http.get(f"/share/{share_id}")).text
    assert learner.email not in shared
    assert "Workshop on video editing" not in shared


async def test_the_wallet_lists_credentials_and_resends_an_unclaimed_link(
    harness: Harness,
) -> None:
    learner = new_learner()
    await harness.issue(learner)
    await harness.claim(learner)
    second = await harness.issue(learner)
    first_link = await harness.link_for(learner)
    await harness.sign_in(harness.token_for(learner))  # the whole wallet, not one claim's
    wallet = await harness.http.get("/wallet")
    assert wallet.status_code == 200
    assert wallet.text.count("Developing digital content") == 2
    assert "Send the claim e-mail again" in wallet.text

    reference = second.data.credential_id.rsplit(":", 1)[1]
    unclaimed = await harness.http.get(f"/wallet/credentials/{reference}")
    assert (unclaimed.status_code, unclaimed.headers["location"]) == (
        303,
        "/wallet?notice=unclaimed",
    )
    resent = await harness.http.post(
        f"/wallet/claims/{reference}/resend", data={"csrf_token": csrf_of(wallet.text)}
    )
    assert (resent.status_code, resent.headers["location"]) == (303, "/wallet?notice=resent")
    assert len(harness.mail_to(learner.email)) == 3
    assert (await harness.http.get(first_link)).status_code == 404  # replaced
    assert (await harness.http.get(await harness.link_for(learner))).status_code == 200


async def test_a_session_from_a_claim_link_sees_only_what_was_claimed_with_it(
    harness: Harness,
) -> None:
    learner = new_learner()
    first = await harness.issue(learner)
    path = await harness.claim(learner)  # a forwarded link would get this far
    second = await harness.issue(learner)
    other_ref = second.data.credential_id.rsplit(":", 1)[1]
    wallet = await harness.http.get("/wallet")
    assert "You see the credentials you claimed in this browser." in wallet.text
    assert wallet.text.count("Developing digital content") == 1
    assert other_ref not in wallet.text
    assert (await harness.http.get(f"/wallet/credentials/{other_ref}")).status_code == 404

    # Claiming the second in the same browser adds it; signing in at intake shows everything.
    assert await harness.claim(learner) == f"/wallet/credentials/{other_ref}"
    assert (await harness.http.get(path)).status_code == 200
    async with harness.browser() as elsewhere:
        await harness.sign_in(harness.token_for(learner), elsewhere)
        everything = await elsewhere.get("/wallet")
        assert "claimed in this browser" not in everything.text
        assert everything.text.count("Developing digital content") == 2
    assert first.data.credential_id != second.data.credential_id


async def test_signing_out_closes_the_session(harness: Harness) -> None:
    learner = new_learner()
    await harness.issue(learner)
    path = await harness.claim(learner)
    cookie = harness.http.cookies["microcred_wallet"]
    csrf = csrf_of((await harness.http.get(path)).text)
    signed_out = await harness.http.post("/wallet/sign-out", data={"csrf_token": csrf})
    assert signed_out.status_code == 200
    assert "You are signed out" in signed_out.text
    async with harness.browser() as same_cookie:
        same_cookie.cookies.set("microcred_wallet", cookie)
        again = await same_cookie.get(path)
        assert again.status_code == 303  # to sign in: the session is gone, not just the cookie
