"""The "test connection" action on the exchange accounts page, against the sandbox exchange."""

import pytest

from exchanges.sandbox.testing import open_account
from exchanges.services.credentials import exchange_account_create


@pytest.fixture
def alice_account(alice, sandbox_server, sandbox_url, settings):
    settings.PEREGRINE_SANDBOX_URL = sandbox_url
    key = open_account(sandbox_server, sandbox_url, {"USDT": "1234"}, enable_withdrawals=True)
    return exchange_account_create(
        user=alice,
        exchange="sandbox",
        label="try",
        mode="paper",
        api_key=key.api_key,
        secret=key.secret,
    )


@pytest.mark.django_db
def test_owner_sees_balance_and_key_warnings_in_the_fragment(alice_client, alice_account):
    response = alice_client.post(
        f"/exchanges/accounts/{alice_account.pk}/test/", HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "Connected." in html and "USDT 1234" in html
    assert "Withdrawals are enabled" in html


@pytest.mark.django_db
def test_without_htmx_the_result_comes_back_as_messages(alice_client, alice_account):
    response = alice_client.post(f"/exchanges/accounts/{alice_account.pk}/test/", follow=True)
    assert response.status_code == 200
    assert "try: connected." in response.content.decode()


@pytest.mark.django_db
def test_bob_gets_404_and_anonymous_is_sent_to_login(bob_client, client, alice_account):
    url = f"/exchanges/accounts/{alice_account.pk}/test/"
    assert bob_client.post(url).status_code == 404
    response = client.post(url)
    assert response.status_code == 302 and "login" in response["Location"]
    alice_account.refresh_from_db()
    assert alice_account.status == "active"


@pytest.mark.django_db
def test_get_is_not_allowed(alice_client, alice_account):
    assert alice_client.get(f"/exchanges/accounts/{alice_account.pk}/test/").status_code == 405


@pytest.mark.django_db
def test_adding_a_key_that_can_withdraw_warns_at_once(
    alice_client, sandbox_server, sandbox_url, settings
):
    settings.PEREGRINE_SANDBOX_URL = sandbox_url
    key = open_account(sandbox_server, sandbox_url, {"USDT": "10"}, enable_withdrawals=True)
    form = {"exchange": "sandbox", "label": "risky", "mode": "paper"}
    response = alice_client.post(
        "/exchanges/accounts/new/",
        {**form, "api_key": key.api_key, "secret": key.secret},
        follow=True,
    )
    html = response.content.decode()
    assert response.redirect_chain[-1][0] == "/exchanges/accounts/"
    assert "risky: Withdrawals are enabled on this API key" in html
    assert "not restricted to IP addresses" in html
