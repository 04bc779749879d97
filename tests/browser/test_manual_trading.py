"""The trading panel in a real browser: orders placed by hand reach the sandbox and the books.

The live server trades on this run's sandbox exchange through the account's real ccxt gateway;
the test checks each order on both sides: the sandbox's own order state (its API, as another
ccxt client sees it) and the Order and Fill rows. What changes outside the page (a fill on the
exchange, which the worker's watcher books; a cancel through the API) reaches the panel over
its websocket: the page is never reloaded and never asks for its state section.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from exchanges.gateway.clients import sync_client
from tests.browser.conftest import serve
from tests.trading.conftest import (  # noqa: F401  (fixtures)
    VENUE_A,
    VENUE_B,
    live_account,
)
from tests.trading.test_manual import _sell_through
from trading.models import Fill, Order

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def live_server_url(child_processes, sandbox_url):  # noqa: F811
    """The web server, told where this run's sandbox venues are."""
    child_processes.env.update(
        PEREGRINE_SANDBOX_URL=sandbox_url,
        PEREGRINE_SANDBOX_VENUES=",".join(["sandbox", "sandbox-b", VENUE_A, VENUE_B]),
    )
    return serve(child_processes)


def _exchange(account):
    sandbox = account.sandbox
    return sync_client(
        VENUE_A, api_key=sandbox.api_key, secret=sandbox.secret, sandbox_url=sandbox.base_url
    )


def _requests(page) -> list[tuple[str, str]]:
    """Every request the page makes from now on, as (method, path)."""
    from urllib.parse import urlparse

    seen: list[tuple[str, str]] = []
    page.on("request", lambda request: seen.append((request.method, urlparse(request.url).path)))
    return seen


def _no_polling(seen, account) -> None:
    """The page never fetched its state section, nor reloaded itself."""
    state = reverse("exchanges:account-trade-state", args=[account.pk])
    panel = reverse("exchanges:account-trade", args=[account.pk])
    assert [r for r in seen if r[1] == state] == []
    assert [r for r in seen if r == ("GET", panel)] == []


def _placed(page, before: str | None = None) -> str:
    """The client order id the form's answer reports, once it reports another than `before`
    (the live socket may show the order before the form's own answer arrives)."""
    selector = "#trade-form [data-placed]"
    if before:
        selector += f':not([data-placed="{before}"])'
    placed = page.locator(selector)
    placed.wait_for()
    return placed.get_attribute("data-placed")


def _order_form(page, *, side, type_, qty, price=""):
    form = page.locator("#trade-form")
    form.locator("select[name=symbol]").select_option("BTC/USDT")
    form.locator("select[name=side]").select_option(side)
    form.locator("select[name=type]").select_option(type_)
    form.locator("input[name=qty]").fill(qty)
    price_field = form.locator("input[name=price]")
    if type_ == "limit":
        price_field.fill(price)
    else:  # a market order has no price: the field is not shown
        assert not price_field.is_visible()
    form.get_by_role("button", name="Place order").click()


def test_an_order_placed_in_the_panel_appears_on_the_sandbox_and_in_the_books(
    signed_in,
    alice,
    live_account,  # noqa: F811
    sandbox,
    shot,
):
    page = signed_in
    account = live_account(alice, label="Sandbox live")
    exchange = _exchange(account)
    page.goto(reverse("exchanges:account-list"))
    page.get_by_role("link", name="Trade").first.click()
    page.wait_for_url(f"**{reverse('exchanges:account-trade', args=[account.pk])}")
    page.locator("#trade-balances tr[data-asset=USDT]").wait_for()
    seen = _requests(page)
    assert "100000" in page.locator("#trade-balances tr[data-asset=USDT]").inner_text()
    shot(page, "panel")

    # a limit buy below the market rests on the sandbox and shows as open
    bid = Decimal(str(exchange.fetch_order_book("BTC/USDT")["bids"][0][0]))
    price = (bid * Decimal("0.97")).quantize(Decimal("0.01"))
    _order_form(page, side="buy", type_="limit", qty="0.01", price=str(price))
    cid = _placed(page)
    page.locator(f'#trade-open-orders tr[data-client-order-id="{cid}"]').wait_for()
    on_sandbox = exchange.fetch_open_orders("BTC/USDT")
    assert [(o["clientOrderId"], o["price"], o["amount"]) for o in on_sandbox] == [
        (cid, float(price), 0.01)
    ]
    order = Order.objects.get(client_order_id=cid)
    assert order.status == Order.Status.OPEN and order.exchange_account_id == account.pk
    assert order.price == price and order.exchange_order_id == str(on_sandbox[0]["id"])

    # a market buy fills at once: its fill is on the sandbox, in the books and on the page
    _order_form(page, side="buy", type_="market", qty="0.02")
    _placed(page, before=cid)
    page.locator("#trade-fills tbody tr[data-trade-id]").first.wait_for()
    market = Order.objects.exclude(client_order_id=cid).get(exchange_account=account)
    assert market.status == Order.Status.FILLED and market.filled_qty == Decimal("0.02")
    fills = Fill.objects.filter(order=market)
    trades = [
        t for t in exchange.fetch_my_trades("BTC/USDT") if t["order"] == market.exchange_order_id
    ]
    assert {str(t["id"]) for t in trades} == {f.trade_id for f in fills}
    assert sum(f.qty for f in fills) == Decimal("0.02")
    for fill in fills:
        page.locator(f'#trade-fills tr[data-trade-id="{fill.trade_id}"]').wait_for()
    # 2 BTC + 0.02 bought, less the fee the exchange took in BTC from the coins received
    fees_btc = sum((f.fee for f in fills if f.fee_asset == "BTC"), Decimal(0))
    assert fees_btc > 0
    held = f"{Decimal('2.02') - fees_btc:f}".rstrip("0").rstrip(".")
    # the last push of the section shows it (an earlier one may have read the balance first)
    page.locator("#trade-balances tr[data-asset=BTC]", has_text=held).wait_for()

    # a bad quantity is refused in words and sends nothing
    _order_form(page, side="buy", type_="market", qty="500")
    page.locator("#trade-form", has_text="Insufficient balance").wait_for()
    shot(page, "refused")
    assert Order.objects.filter(exchange_account=account).count() == 2

    # cancel from the panel: gone from the sandbox and from the open orders
    page.locator(f'#trade-open-orders tr[data-client-order-id="{cid}"]').get_by_role(
        "button", name="Cancel"
    ).click()
    page.locator("#trade-open-orders", has_text="No open order placed by hand.").wait_for()
    assert exchange.fetch_open_orders("BTC/USDT") == []
    assert Order.objects.get(client_order_id=cid).status == Order.Status.CANCELLED
    shot(page, "after-cancel")
    _no_polling(seen, account)
    assert page.errors == []


def test_a_fill_on_the_exchange_and_a_cancel_through_the_api_show_live_without_polling(
    signed_in,
    alice,
    live_account,  # noqa: F811
    sandbox,
    bot_worker,
    shot,
):
    page = signed_in
    account = live_account(alice)
    with page.expect_websocket(lambda ws: "/trade/" in ws.url):
        page.goto(reverse("exchanges:account-trade", args=[account.pk]))
    seen = _requests(page)
    page.evaluate("window.loadedOnce = true")  # gone if the page were reloaded
    sandbox[0].paused = True  # the market stands still: our bid stays the best one
    try:
        sandbox[0].call(lambda: None)  # a tick under way when it paused is over
        book = sandbox[0].venues[VENUE_A].symbols["BTC/USDT"].book
        price = ((book.best_bid()[0] + book.best_ask()[0]) / 2).quantize(Decimal("0.01"))
        _order_form(page, side="buy", type_="limit", qty="0.01", price=str(price))
        order = Order.objects.get(client_order_id=_placed(page))
        row = f'#trade-open-orders tr[data-client-order-id="{order.client_order_id}"]'
        page.locator(row).wait_for()
        assert order.status == Order.Status.OPEN
        _sell_through(sandbox, price)  # the market trades through it
    finally:
        sandbox[0].paused = False
    # the worker's watcher books the fill; its books' events bring the section to the page
    page.locator("#trade-fills tbody tr[data-trade-id]").first.wait_for()
    page.locator(row).wait_for(state="detached")
    fill = Fill.objects.get(order=order)
    assert page.locator(f'#trade-fills tr[data-trade-id="{fill.trade_id}"]').is_visible()
    assert Order.objects.get(pk=order.pk).status == Order.Status.FILLED
    shot(page, "filled-live")

    # a resting order cancelled through the API leaves the panel
    book = sandbox[0].venues[VENUE_A].symbols["BTC/USDT"].book
    low = (book.best_bid()[0] * Decimal("0.97")).quantize(Decimal("0.01"))
    _order_form(page, side="buy", type_="limit", qty="0.01", price=str(low))
    resting = Order.objects.get(client_order_id=_placed(page, before=order.client_order_id))
    row = f'#trade-open-orders tr[data-client-order-id="{resting.client_order_id}"]'
    page.locator(row).wait_for()
    api = Client()
    api.force_login(alice)
    url = reverse("exchanges-api-account-order-cancel", args=[account.pk, resting.pk])
    with ThreadPoolExecutor(1) as thread:  # off Playwright's event loop, as a request would be
        assert thread.submit(lambda: api.post(url).status_code).result(60) == 200
    page.locator(row).wait_for(state="detached")
    assert _exchange(account).fetch_open_orders("BTC/USDT") == []

    assert page.evaluate("window.loadedOnce") is True
    _no_polling(seen, account)
    assert page.errors == []


def test_bob_and_anonymous_get_nothing_of_alices_panel(page, alice, bob, live_account, sign_in):  # noqa: F811
    account = live_account(alice)
    url = reverse("exchanges:account-trade", args=[account.pk])
    page.goto(url)
    assert "/accounts/login/" in page.url
    sign_in(page, bob)
    assert page.goto(url).status == 404
