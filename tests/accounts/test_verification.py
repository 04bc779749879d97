"""KYC/AML: an operator-set status per user; live trading needs "verified" once the operator
turns the requirement on; every change is in the audit log."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from accounts.models import SitePolicy, Verification, VerificationDocument
from accounts.services.verification import (
    site_policy_set,
    verification_document_save,
    verification_set,
)
from compliance.models import AuditEvent
from compliance.selectors import audit_chain_verify
from trading.models import Bot
from trading.services.bots import LiveConsent, bot_start

LIVE_OK = LiveConsent(second_factor_verified=True, recently_authenticated=True, confirmed=True)


@pytest.fixture
def operator(db, django_user_model):
    return django_user_model.objects.create_superuser(email="ops@example.com", password="x" * 20)


@pytest.fixture
def operator_client(operator, client):
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.create(user=operator, name="ops", confirmed=True)
    client.force_login(operator)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


def _live_bot(alice, make_bot, live_account):
    account = live_account(alice)
    return make_bot(alice, mode="live", venues=[{"exchange_account_id": account.pk}], live=LIVE_OK)


def test_live_start_needs_verified_only_when_the_operator_requires_it(
    alice, alice_totp, make_bot, live_account, operator
):
    bot = _live_bot(alice, make_bot, live_account)  # no requirement yet: created as before
    site_policy_set(live_trading_requires_verification=True, actor=operator)
    for status in ("unverified", "pending", "rejected"):
        verification_set(user=alice, status=status, actor=operator)
        with pytest.raises(ValidationError) as refused:
            bot_start(bot=bot, live=LIVE_OK)
        assert "verified identity" in refused.value.message_dict["mode"][0]
        bot.refresh_from_db()
        assert bot.status == Bot.Status.DRAFT
    with pytest.raises(ValidationError, match="verified identity"):
        _live_bot(alice, make_bot, live_account)  # creating a live bot too
    verification_set(user=alice, status="verified", notes="passport seen", actor=operator)
    assert bot_start(bot=bot, live=LIVE_OK).status == Bot.Status.STARTING


def test_paper_bots_start_whatever_the_status(alice, make_bot, operator):
    site_policy_set(live_trading_requires_verification=True, actor=operator)
    verification_set(user=alice, status="rejected", actor=operator)
    assert bot_start(bot=make_bot(alice)).status == Bot.Status.STARTING


def test_every_change_is_audited_with_before_and_after(alice, operator):
    verification_set(
        user=alice, status="pending", notes="asked for ID", actor=operator, ip="10.1.1.1"
    )
    verification_set(user=alice, status="pending", notes="asked for ID", actor=operator)  # no-op
    verification_set(user=alice, status="verified", notes="ok", actor=operator)
    document = VerificationDocument(
        verification=Verification.objects.get(user=alice), kind="passport",
        issuing_country="de", number_last4="1234",
    )  # fmt: skip
    verification_document_save(document=document, actor=operator)
    site_policy_set(live_trading_requires_verification=True, actor=operator)
    events = list(AuditEvent.objects.filter(actor=operator).order_by("seq"))
    assert [e.action for e in events] == [
        "verification.update",
        "verification.update",
        "verification.document_add",
        "site_policy.update",
    ]
    assert events[0].before == {"status": "unverified", "notes": ""}
    assert events[1].before["status"] == "pending" and events[1].after["status"] == "verified"
    assert events[0].target_id == str(alice.pk) and events[0].ip == "10.1.1.1"
    assert events[2].after["issuing_country"] == "DE"
    assert audit_chain_verify().ok


def test_bad_input_is_refused_and_changes_nothing(alice, operator):
    with pytest.raises(ValidationError):
        verification_set(user=alice, status="approved", actor=operator)
    verification = Verification.objects.create(user=alice)
    with pytest.raises(ValidationError):
        verification_document_save(
            document=VerificationDocument(verification=verification, kind="selfie"),
            actor=operator,
        )
    assert not VerificationDocument.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="verification").exists()


def test_operator_sets_status_documents_and_policy_in_the_admin(alice, operator_client):
    url = reverse("admin:accounts_verification_add")
    response = operator_client.post(
        url,
        {
            "user": alice.pk, "status": "verified", "notes": "video call done",
            "documents-TOTAL_FORMS": "1", "documents-INITIAL_FORMS": "0",
            "documents-0-kind": "id_card", "documents-0-issuing_country": "fr",
            "documents-0-number_last4": "9876", "documents-0-expires_on": "2030-01-31",
        },
    )  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:2000]
    verification = Verification.objects.get(user=alice)
    assert verification.status == "verified" and verification.reviewed_by.email == "ops@example.com"
    assert verification.documents.get().number_last4 == "9876"
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"verification.update", "verification.document_add"} <= actions
    response = operator_client.post(
        reverse("admin:accounts_sitepolicy_add"), {"live_trading_requires_verification": "on"}
    )
    assert response.status_code == 302
    assert SitePolicy.objects.get(pk=1).live_trading_requires_verification
    assert AuditEvent.objects.filter(action="site_policy.update").count() == 1


def test_users_cannot_reach_the_verification_admin(alice_client, alice):
    Verification.objects.create(user=alice, status="pending")
    response = alice_client.get(reverse("admin:accounts_verification_changelist"))
    assert response.status_code == 302 and "login" in response.url
