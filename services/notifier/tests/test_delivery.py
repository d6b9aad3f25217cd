"""Claim e-mails over real SMTP: exactly one per credential, retried, given up, resent."""

from __future__ import annotations

import asyncio
import base64
import re
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import aiosmtplib
import pytest

from microcred_notifier.handlers import token_hash
from microcred_shared.contracts import Envelope, topics
from microcred_shared.demo import claim_link
from microcred_shared.kafka import RefusedEventError
from microcred_shared.mail import Mailer, PermanentDeliveryError
from microcred_shared.testing.servers import Servers
from microcred_shared.testing.tokens import access_token, bearer

from .conftest import Harness, issued_event, new_learner, revoked_event, start

pytestmark = pytest.mark.integration

#: The smallest valid PNG (1 by 1, transparent).
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


# The harness's notifier also consumes the real credential-issued topic, where other tests'
# credentials are: the stand-in relays below act on the test's own learner only, and events are
# told apart by credential.


class FlakyMailer:
    """The relay refuses ``address`` for now (a 421) ``failures`` times, then lets it through."""

    def __init__(self, real: Mailer, address: str, failures: int) -> None:
        self.real, self.address, self.failures, self.calls = real, address, failures, 0

    async def send(self, message: EmailMessage) -> None:
        if self.address in str(message["To"]):
            self.calls += 1
            if self.calls <= self.failures:
                raise aiosmtplib.SMTPResponseException(421, "try again later")
        await self.real.send(message)


class RefusingMailer:
    """The relay refuses ``address`` for good (a 550)."""

    def __init__(self, real: Mailer, address: str) -> None:
        self.real, self.address = real, address

    async def send(self, message: EmailMessage) -> None:
        if self.address in str(message["To"]):
            raise PermanentDeliveryError("550 mailbox unavailable")
        await self.real.send(message)


def events_of(harness: Harness, topic: str, credential_id: str) -> list[dict[str, Any]]:
    return [
        e for e in harness.publisher.events(topic) if e["data"]["credential_id"] == credential_id
    ]


async def claim_of(harness: Harness, credential_id: str) -> dict[str, Any]:
    claim = await harness.notifier.claims.find_one({"_id": credential_id})
    assert claim is not None
    return claim


async def test_one_e_mail_per_credential_however_often_it_is_delivered(harness: Harness) -> None:
    learner = new_learner()
    event = issued_event(learner)
    for _ in range(3):
        await harness.notifier.on_credential_issued(event)
    await harness.notifier.deliver_due()

    [message] = harness.mail_to(learner.email)
    assert message["Subject"] == "Your micro-credential: Developing digital content"
    html = message.get_body(preferencelist=("html",))
    assert html is not None
    assert learner.name.replace("<", "&lt;").replace(">", "&gt;") in html.get_content()
    token = claim_link(message).rsplit("/", 1)[1]
    assert len(token) == 43  # 256 random bits
    claim = await claim_of(harness, event.data.credential_id)
    assert token not in str(claim)
    assert claim["token_hash"] == token_hash(token)
    assert abs(claim["expires_at"] - claim["sent_at"] - timedelta(days=30)) < timedelta(minutes=1)
    [sent] = events_of(harness, topics.NOTIFICATION_SENT, event.data.credential_id)
    assert sent["data"]["message_id"] == message["Message-ID"]


async def test_the_learner_s_language_and_the_institution_s_logo_and_lifetime(
    harness: Harness,
) -> None:
    admin = bearer(("inst-logo", "institution_admin"))
    settings = {
        "claim_valid_days": 7,
        "logo": {"media_type": "image/png", "data_base64": base64.b64encode(PNG).decode()},
    }
    answer = await harness.http.put(
        "/institutions/inst-logo/claim-settings", json=settings, headers=admin
    )
    assert answer.status_code == 200, answer.text
    learner = new_learner(locale="pt-PT")
    event = await harness.issue(learner, "inst-logo")
    [message] = harness.mail_to(learner.email)
    assert message["Content-Language"] == "pt"
    html = message.get_body(preferencelist=("html",))
    assert html is not None
    [logo] = [part for part in message.walk() if part.get_content_type() == "image/png"]
    assert logo.get_content() == PNG
    assert logo["Content-ID"] == "<logo@microcred>"
    assert 'src="cid:logo@microcred"' in html.get_content()
    claim = await claim_of(harness, event.data.credential_id)
    assert abs(claim["expires_at"] - claim["sent_at"] - timedelta(days=7)) < timedelta(minutes=1)
    served = await harness.http.get("/institutions/inst-logo/logo")
    assert (served.content, served.headers["content-type"]) == (PNG, "image/png")


async def test_a_relay_refusing_for_now_is_retried_until_it_takes_it(
    servers: Servers,
    topics_ready: None,
) -> None:
    async for harness in start(servers):
        learner = new_learner()
        flaky = FlakyMailer(harness.notifier.mailer, learner.email, failures=2)
        harness.notifier.mailer = flaky
        event = await harness.issue(learner)
        claim = await claim_of(harness, event.data.credential_id)
        assert (claim["delivery"]["state"], claim["status"]) == ("due", "unsent")
        assert "421" in claim["delivery"]["error"]
        assert "token_hash" not in claim  # no link works until one is sent

        async def delivered(harness: Harness = harness, email: str = learner.email) -> None:
            while not harness.mail_to(email):
                await harness.notifier.deliver_due()
                await asyncio.sleep(0.05)

        await asyncio.wait_for(delivered(), timeout=30)
        await harness.notifier.deliver_due()
        assert len(harness.mail_to(learner.email)) == 1
        assert flaky.calls == 3
        claim = await claim_of(harness, event.data.credential_id)
        assert (claim["status"], claim["delivery"]["attempts"]) == ("sent", 3)
        assert len(events_of(harness, topics.NOTIFICATION_SENT, event.data.credential_id)) == 1


async def test_past_the_deadline_a_failing_e_mail_is_given_up_and_reported(
    servers: Servers,
    topics_ready: None,
) -> None:
    async for harness in start(servers, delivery_deadline_hours=0.0001):
        learner = new_learner()
        harness.notifier.mailer = FlakyMailer(harness.notifier.mailer, learner.email, 1000)
        event = await harness.issue(learner, "inst-deadline")

        async def given_up(
            harness: Harness = harness, credential_id: str = event.data.credential_id
        ) -> None:
            while (await claim_of(harness, credential_id))["status"] != "failed":
                await harness.notifier.deliver_due()
                await asyncio.sleep(0.05)

        await asyncio.wait_for(given_up(), timeout=30)
        [failed] = events_of(harness, topics.NOTIFICATION_FAILED, event.data.credential_id)
        assert failed["data"]["permanent"] is False
        assert "past the deadline" in failed["data"]["reason"]


async def test_a_permanent_refusal_is_published_and_shown_to_the_institution(
    harness: Harness,
) -> None:
    learner = new_learner()
    harness.notifier.mailer = RefusingMailer(harness.notifier.mailer, learner.email)
    event = await harness.issue(learner, "inst-refused")
    await harness.notifier.on_credential_issued(event)
    [failed] = events_of(harness, topics.NOTIFICATION_FAILED, event.data.credential_id)
    assert failed["data"]["permanent"] is True
    assert "550" in failed["data"]["reason"]
    assert events_of(harness, topics.NOTIFICATION_SENT, event.data.credential_id) == []

    admin = bearer(("inst-refused", "institution_admin"))
    listed = await harness.http.get(
        "/institutions/inst-refused/deliveries", params={"failing": "true"}, headers=admin
    )
    assert listed.status_code == 200
    [row] = listed.json()["deliveries"]
    assert (row["status"], row["learner_email"]) == ("failed", learner.email)
    assert "550" in row["error"]
    for caller in (
        bearer(("inst-refused", "evaluator")),
        bearer(("inst-other", "institution_admin")),
    ):
        refused = await harness.http.get("/institutions/inst-refused/deliveries", headers=caller)
        assert refused.status_code == 403


async def test_an_interrupted_send_is_taken_again_once_its_lease_ends(harness: Harness) -> None:
    learner = new_learner()
    event = issued_event(learner)
    real = harness.notifier.mailer
    harness.notifier.mailer = RefusingMailer(real, learner.email)  # none while the crash is staged
    await harness.notifier.claims.insert_one(
        {
            "_id": event.data.credential_id,
            "reference": event.data.credential_id.rsplit(":", 1)[1],
            "institution_id": "inst-a",
            "learner_id": learner.learner_id,
            "learner": event.data.learner.model_dump(),
            "institution_name": "Instituto A",
            "title": "Developing digital content",
            "credential": event.data.credential,
            "credential_jwt": event.data.credential_jwt,
            "issued_at": event.data.issued_at,
            "created_at": datetime.now(UTC),
            "status": "unsent",
            "generation": 1,
            # As a notifier killed mid-send leaves it: sending, its lease not yet over.
            "delivery": {
                "state": "sending",
                "attempts": 1,
                "lease_until": datetime.now(UTC) + timedelta(hours=1),
                "deadline": datetime.now(UTC) + timedelta(days=3),
            },
        }
    )
    await harness.notifier.deliver_due()  # another instance may still be sending: not taken
    held = await claim_of(harness, event.data.credential_id)
    assert (held["delivery"]["state"], held["delivery"]["attempts"]) == ("sending", 1)
    await harness.notifier.claims.update_one(
        {"_id": event.data.credential_id},
        {"$set": {"delivery.lease_until": datetime.now(UTC) - timedelta(seconds=1)}},
    )
    harness.notifier.mailer = real
    await harness.notifier.deliver_due()
    assert (await claim_of(harness, event.data.credential_id))["status"] == "sent"
    await harness.notifier.on_credential_issued(event)  # the redelivery after the restart
    assert len(harness.mail_to(learner.email)) == 1


async def test_revoked_before_its_e_mail_gets_none(harness: Harness) -> None:
    learner = new_learner()
    event = issued_event(learner)
    await harness.notifier.on_credential_revoked(revoked_event(event))
    await harness.notifier.on_credential_revoked(revoked_event(event))
    await harness.notifier.on_credential_issued(event)
    await harness.notifier.deliver_due()
    assert harness.mail_to(learner.email) == []
    claim = await claim_of(harness, event.data.credential_id)
    assert claim["status"] == "withheld"
    assert claim["credential"] == event.data.credential  # kept, though never sent
    with pytest.raises(RefusedEventError, match="is not inst-z's"):
        await harness.notifier.on_credential_revoked(revoked_event(event, tenant="inst-z"))


async def test_resend_replaces_the_link_once_per_ask(
    servers: Servers,
    topics_ready: None,
) -> None:
    async for harness in start(servers, resend_interval_seconds=3600):
        learner = new_learner()
        event = await harness.issue(learner)
        old_link = await harness.link_for(learner)
        reference = event.data.credential_id.rsplit(":", 1)[1]

        stranger = bearer(user_id="someone-else")
        assert (
            await harness.http.post(f"/claims/{reference}/resend", headers=stranger)
        ).status_code == 404
        own = bearer(user_id=learner.learner_id)
        answer = await harness.http.post(f"/claims/{reference}/resend", headers=own)
        assert answer.status_code == 202, answer.text
        assert answer.json() == {"credential_ref": reference, "status": "sent"}
        assert len(harness.mail_to(learner.email)) == 2
        assert (await harness.http.get(old_link)).status_code == 404
        new_link = await harness.link_for(learner)
        assert new_link != old_link
        assert (await harness.http.get(new_link)).status_code == 200

        too_soon = await harness.http.post(f"/claims/{reference}/resend", headers=own)
        assert too_soon.status_code == 409
        assert len(harness.mail_to(learner.email)) == 2
        ids = {m["Message-ID"] for m in harness.mail_to(learner.email)}
        assert len(ids) == 2  # each ask is its own message

        await harness.claim(learner)
        admin = bearer(("inst-a", "institution_admin"))
        claimed = await harness.http.post(f"/claims/{reference}/resend", headers=admin)
        assert claimed.status_code == 409
        assert "claimed" in claimed.json()["detail"]


async def test_claim_settings_are_validated_and_terms_versions_are_fixed(
    harness: Harness,
) -> None:
    admin = bearer(("inst-s", "institution_admin"))
    url = "/institutions/inst-s/claim-settings"
    terms = {"version": "v1", "text": "We keep your name and e-mail to issue the credential."}
    assert (
        await harness.http.put(url, json={"privacy_terms": terms}, headers=admin)
    ).status_code == 200
    same = await harness.http.put(
        url, json={"privacy_terms": terms, "second_check": "account"}, headers=admin
    )
    assert same.status_code == 200
    assert same.json()["second_check"] == "account"
    changed = {**terms, "text": terms["text"] + " And more."}
    conflict = await harness.http.put(url, json={"privacy_terms": changed}, headers=admin)
    assert conflict.status_code == 409
    assert (await harness.http.get(url, headers=admin)).json()["privacy_terms"] == terms

    jpeg_claiming_png = {"media_type": "image/jpeg", "data_base64": base64.b64encode(PNG).decode()}
    for bad in (
        {"second_check": "sms"},
        {"claim_valid_days": 0},
        {"logo": jpeg_claiming_png},
        {"logo": {"media_type": "image/svg+xml", "data_base64": "PHN2Zz4="}},
        {"privacy_terms": {"version": "v 2!", "text": "x" * 40}},
        {"unknown": 1},
    ):
        answer = await harness.http.put(url, json=bad, headers=admin)
        assert answer.status_code == 422, bad
    assert (await harness.http.get(url, headers=admin)).json()["second_check"] == "account"
    evaluator = bearer(("inst-s", "evaluator"))
    assert (await harness.http.put(url, json={}, headers=evaluator)).status_code == 403
    assert (await harness.http.get(url)).status_code == 401


async def test_the_admins_page_lists_failed_e_mails_and_sends_them_again(
    harness: Harness,
) -> None:
    institution = "inst-admin-page"
    real = harness.notifier.mailer
    learner = new_learner()
    harness.notifier.mailer = RefusingMailer(real, learner.email)
    event = await harness.issue(learner, institution)
    harness.notifier.mailer = real

    await harness.sign_in(access_token((institution, "evaluator")))
    refused = await harness.http.get("/admin/deliveries", params={"institution": institution})
    assert refused.status_code == 403

    await harness.sign_in(access_token((institution, "institution_admin"), name="Admin"))
    wallet = await harness.http.get("/wallet")
    assert f"/admin/deliveries?institution={institution}" in wallet.text
    page = await harness.http.get("/admin/deliveries", params={"institution": institution})
    assert page.status_code == 200
    assert learner.email in page.text
    assert "550 mailbox unavailable" in page.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    reference = event.data.credential_id.rsplit(":", 1)[1]
    forged = await harness.http.post(f"/admin/deliveries/{reference}/resend")
    assert forged.status_code == 403
    assert harness.mail_to(learner.email) == []
    resent = await harness.http.post(
        f"/admin/deliveries/{reference}/resend", data={"csrf_token": csrf[1]}
    )
    assert resent.status_code == 303
    assert resent.headers["location"].endswith("notice=resent")
    assert len(harness.mail_to(learner.email)) == 1
    claim = await claim_of(harness, event.data.credential_id)
    assert claim["status"] == "sent"
    assert claim["resent_by"] != learner.learner_id  # the admin asked
    after = await harness.http.get("/admin/deliveries", params={"institution": institution})
    assert "Every claim e-mail was delivered." in after.text


async def test_revoked_while_a_retry_waits_the_e_mail_never_goes(
    servers: Servers,
    topics_ready: None,
) -> None:
    async for harness in start(servers, retry_first_seconds=0.01):
        learner = new_learner()
        flaky = FlakyMailer(harness.notifier.mailer, learner.email, failures=1)
        harness.notifier.mailer = flaky
        event = await harness.issue(learner)
        assert (await claim_of(harness, event.data.credential_id))["delivery"]["state"] == "due"
        await harness.notifier.on_credential_revoked(revoked_event(event))
        await asyncio.sleep(0.05)  # past the retry's due time, so only the revocation holds it
        await harness.notifier.deliver_due()
        assert harness.mail_to(learner.email) == []
        assert flaky.calls == 1
        reference = event.data.credential_id.rsplit(":", 1)[1]
        own = bearer(user_id=learner.learner_id)
        refused = await harness.http.post(f"/claims/{reference}/resend", headers=own)
        assert refused.status_code == 409


async def test_a_credential_another_institution_issued_under_the_same_id_is_refused(
    harness: Harness,
) -> None:
    learner = new_learner()
    event = await harness.issue(learner, "inst-a")
    theirs = event.data.institution.model_copy(update={"id": "inst-z"})
    foreign = Envelope.wrap(
        event.data.model_copy(update={"institution": theirs}),
        source="/tests",
        subject=event.subject,
        tenant="inst-z",
    )
    with pytest.raises(RefusedEventError, match="is not inst-z's"):
        await harness.notifier.on_credential_issued(foreign)
    same_tail = event.data.model_copy(
        update={"credential_id": "urn:other:" + event.data.credential_id[9:]}
    )
    clash = Envelope.wrap(same_tail, source="/tests", subject=event.subject, tenant="inst-a")
    with pytest.raises(RefusedEventError, match="reference is another credential's"):
        await harness.notifier.on_credential_issued(clash)
    assert len(harness.mail_to(learner.email)) == 1
