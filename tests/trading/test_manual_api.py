"""Orders by hand over the API: trade scope to place and cancel, owner only, one error shape."""

from decimal import Decimal

from django.test import Client

from exchanges.gateway.clients import sync_client
from tests.trading.conftest import VENUE_A
from trading.models import Fill, Order

ORDER = {"symbol": "BTC/USDT", "side": "buy", "type": "market", "qty": "0.01"}


def _api(token):
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


def _urls(account, order_id=0):
    base = f"/api/v1/exchange-accounts/{account.pk}/orders/"
    return base, f"{base}{order_id}/cancel/"


def _exchange(account):
    sandbox = account.sandbox
    return sync_client(
        VENUE_A, api_key=sandbox.api_key, secret=sandbox.secret, sandbox_url=sandbox.base_url
    )


def test_a_trade_token_places_lists_and_cancels_orders_by_hand(
    alice, api_token_for, live_account, sandbox
):
    account = live_account(alice)
    api = _api(api_token_for(alice, "trade"))
    orders_url, _ = _urls(account)
    filled = api.post(orders_url, ORDER, content_type="application/json")
    assert filled.status_code == 201, filled.content
    assert filled.json()["status"] == "filled" and Decimal(filled.json()["filled_qty"]) == Decimal(
        "0.01"
    )
    bid = sandbox[0].venues[VENUE_A].symbols["BTC/USDT"].book.best_bid()[0]
    price = str((bid * Decimal("0.97")).quantize(Decimal("0.01")))
    resting = api.post(
        orders_url, {**ORDER, "type": "limit", "price": price}, content_type="application/json"
    )
    assert resting.status_code == 201 and resting.json()["status"] == "open"
    listing = api.get(orders_url).json()
    assert [o["id"] for o in listing["open_orders"]] == [resting.json()["id"]]
    assert {f["trade_id"] for f in listing["fills"]} == set(
        Fill.objects.filter(order_id=filled.json()["id"]).values_list("trade_id", flat=True)
    )
    _, cancel_url = _urls(account, resting.json()["id"])
    cancelled = api.post(cancel_url)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert _exchange(account).fetch_open_orders("BTC/USDT") == []


def test_a_bad_order_gets_field_errors_in_the_one_error_shape_and_changes_nothing(
    alice, api_token_for, live_account
):
    account = live_account(alice)
    api = _api(api_token_for(alice, "trade"))
    response = api.post(_urls(account)[0], {**ORDER, "qty": "500"}, content_type="application/json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert "Insufficient balance" in " ".join(error["fields"]["qty"])
    assert not Order.objects.exists()


def test_a_read_token_lists_but_cannot_place(alice, api_token_for, live_account):
    account = live_account(alice)
    api = _api(api_token_for(alice, "read"))
    assert api.get(_urls(account)[0]).status_code == 200
    response = api.post(_urls(account)[0], ORDER, content_type="application/json")
    assert response.status_code == 403
    assert not Order.objects.exists()


def test_bob_and_anonymous_get_nothing_and_alices_order_stays(
    alice, bob, api_token_for, live_account, sandbox
):
    account = live_account(alice)
    alice_api = _api(api_token_for(alice, "trade"))
    bid = sandbox[0].venues[VENUE_A].symbols["BTC/USDT"].book.best_bid()[0]
    price = str((bid * Decimal("0.97")).quantize(Decimal("0.01")))
    order = alice_api.post(
        _urls(account)[0],
        {**ORDER, "type": "limit", "price": price},
        content_type="application/json",
    ).json()
    orders_url, cancel_url = _urls(account, order["id"])
    bob_api = _api(api_token_for(bob, "trade"))
    assert bob_api.get(orders_url).status_code == 404
    assert bob_api.post(orders_url, ORDER, content_type="application/json").status_code == 404
    assert bob_api.post(cancel_url).status_code == 404
    anonymous = Client()
    assert anonymous.get(orders_url).status_code in (401, 403)
    assert anonymous.post(cancel_url).status_code in (401, 403)
    assert Order.objects.get(pk=order["id"]).status == Order.Status.OPEN
    assert Order.objects.count() == 1
