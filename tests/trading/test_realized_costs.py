"""Fee intelligence: anonymous realized fee and slippage per market, only from k >= 5 users.

Fills are written straight to the books (as the runtime books them); the aggregates come from
the refresh service on real Postgres, and the expected figures are worked out here by hand.
"""

from __future__ import annotations

import itertools
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse
from django.utils import timezone

from trading.models import Bot, Fill, Order, RealizedCost
from trading.realized_costs import realized_costs, realized_costs_list, taker_fee_with_realized
from trading.services.realized_costs import realized_costs_refresh
from trading.tasks import realized_costs_refresh_task

D = Decimal
_ids = itertools.count(1)


@pytest.fixture
def exchange():
    return f"feex-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def users(db, django_user_model):
    return [
        django_user_model.objects.create_user(email=f"trader{i}-{uuid.uuid4().hex[:6]}@example.com")
        for i in range(7)
    ]


def fill(user, exchange, side, qty, price, *, fee, fee_asset="USDT", reference="100",
         liquidity="taker", mode="live", symbol="BTC/USDT", age=timedelta(hours=1)):  # fmt: skip
    """One live fill of its own bot and order (the order decided at `reference`)."""
    n = next(_ids)
    bot = Bot.objects.create(
        user=user, name=f"b{n}", strategy="spatial_arbitrage", symbols=[symbol], mode=mode,
        budget=D("1000"),
    )  # fmt: skip
    order = Order.objects.create(
        bot=bot, user=user, mode=mode, exchange=exchange, symbol=symbol,
        client_order_id=f"pg{bot.pk}-c{n}", side=side, type="limit", price=D(price),
        qty=D(qty), filled_qty=D(qty), status="filled",
        reference_price=None if reference is None else D(reference),
    )  # fmt: skip
    return Fill.objects.create(
        bot=bot, order=order, user=user, mode=mode, exchange=exchange,
        account_key=f"acct-{n}", symbol=symbol, trade_id=f"t{n}", side=side, price=D(price),
        qty=D(qty), fee=D(fee), fee_asset=fee_asset, liquidity=liquidity,
        executed_at=timezone.now() - age, source="poll",
    )  # fmt: skip


def four_users(users, exchange):
    """Four traders' taker fills on one market (the numbers the tests work out by hand)."""
    u = users
    return [
        fill(u[0], exchange, "buy", "1", "101", fee="0.101"),  # paid 1% above the mid
        fill(u[1], exchange, "sell", "1", "99", fee="0.099"),  # sold 1% below the mid
        fill(u[2], exchange, "buy", "2", "100", fee="0.002", fee_asset="BTC"),  # base fee
        fill(u[3], exchange, "sell", "1", "102", fee="0.102"),  # sold 2% above: improvement
        fill(u[3], exchange, "buy", "1", "100", fee="0.1"),  # the same user again
    ]


def test_four_users_give_no_aggregate(users, exchange):
    four_users(users, exchange)
    assert realized_costs_refresh()["markets"] == 0
    assert not RealizedCost.objects.filter(exchange=exchange).exists()
    assert realized_costs(exchange, "BTC/USDT") is None
    assert realized_costs_list(exchange=exchange) == []


def test_five_users_give_the_hand_computed_fee_rate_and_slippage(users, exchange):
    fills = four_users(users, exchange)
    fills.append(fill(users[4], exchange, "buy", "0.5", "100", fee="0.05", reference=None))
    fills.append(fill(users[4], exchange, "buy", "1", "100", fee="0.0001", fee_asset="BNB"))
    # left out: paper fills, fills older than the window, other markets
    fill(users[5], exchange, "buy", "1", "150", fee="5", mode="paper")
    fill(users[5], exchange, "buy", "1", "150", fee="5", age=timedelta(days=31))
    fill(users[6], exchange, "buy", "1", "150", fee="5", symbol="ETH/USDT")

    realized_costs_refresh()
    costs = realized_costs(exchange, "BTC/USDT")
    assert costs is not None
    assert (costs.users, costs.fills, costs.liquidity) == (5, 7, "taker")
    # notional: 101 + 99 + 200 + 102 + 100 + 50 + 100 (the BNB-fee fill counts here)
    assert costs.notional == D("752")
    # fees in quote: 0.101 + 0.099 + 0.002 BTC x 100 + 0.102 + 0.1 + 0.05 = 0.652 over the
    # notional of the fills whose fee can be valued (752 - 100 of the BNB-fee fill)
    assert costs.fee_rate == (D("0.652") / D("652")).quantize(D("1e-12"))
    assert costs.fee_rate == D("0.001")
    # slippage vs the mid of 100, notional-weighted, positive = worse than the mid:
    # buy 101: +1%, sell 99: +1%, buy 100: 0, sell 102: -2%, buy 100: 0, BNB buy 100: 0
    # (the fill without a reference price is left out)
    weighted = D(101) * D("0.01") + D(99) * D("0.01") - D(102) * D("0.02")
    expected_bp = weighted / D(101 + 99 + 200 + 102 + 100 + 100) * 10000
    assert costs.slippage_bp == expected_bp.quantize(D("1e-6"))
    assert costs.slippage_bp < 0  # the seller above the mid outweighs the two who paid
    row = RealizedCost.objects.get(exchange=exchange, symbol="BTC/USDT", liquidity="taker")
    assert (row.fee_fills, row.slippage_fills) == (6, 6)
    # the ETH market had one user, the paper and old fills none counted
    assert realized_costs(exchange, "ETH/USDT") is None
    assert RealizedCost.objects.filter(exchange=exchange).count() == 1


def test_a_buy_above_the_mid_and_a_sell_below_it_both_cost(users, exchange):
    for user in users[:3]:
        fill(user, exchange, "buy", "1", "100.5", fee="0.1005")  # +50 bp
    for user in users[3:5]:
        fill(user, exchange, "sell", "1", "99.5", fee="0.0995")  # +50 bp
    realized_costs_refresh()
    costs = realized_costs(exchange, "BTC/USDT")
    assert costs.slippage_bp == D("50")
    assert costs.fee_bp == D("10")


def test_maker_and_taker_fills_are_separate_aggregates(users, exchange):
    for user in users[:5]:
        fill(user, exchange, "buy", "1", "100", fee="0.2")
        fill(user, exchange, "sell", "1", "100", fee="0.05", liquidity="maker")
    realized_costs_refresh()
    assert realized_costs(exchange, "BTC/USDT").fee_rate == D("0.002")
    assert realized_costs(exchange, "BTC/USDT", "maker").fee_rate == D("0.0005")


def test_the_taker_fee_to_plan_with_is_the_worse_of_published_and_realized(users, exchange):
    def plan(published):
        return taker_fee_with_realized(exchange=exchange, symbol="BTC/USDT", published=D(published))

    for user in users[:4]:
        fill(user, exchange, "buy", "1", "100", fee="0.2")
    realized_costs_refresh()
    assert plan("0.001") == D("0.001")  # 4 users: no realized rate
    fill(users[4], exchange, "buy", "1", "100", fee="0.2")
    realized_costs_refresh()
    assert plan("0.001") == D("0.002")
    assert plan("0.0025") == D("0.0025")  # a better realized rate is not used
    assert taker_fee_with_realized(exchange=exchange, symbol="ETH/USDT", published=D("0.001")) == D(
        "0.001"
    )


def test_a_market_one_user_dominates_is_not_shown(users, exchange):
    for user in users[:4]:
        fill(user, exchange, "buy", "1", "100", fee="0.1")
    fill(users[4], exchange, "buy", "4.1", "100", fee="0.82")  # 410 of 810: over half
    realized_costs_refresh()
    assert realized_costs(exchange, "BTC/USDT") is None
    fill(users[5], exchange, "buy", "1", "100", fee="0.1")  # 410 of 910: under half
    realized_costs_refresh()
    assert realized_costs(exchange, "BTC/USDT").users == 6


def test_a_figure_fewer_than_k_users_measure_is_left_empty(users, exchange):
    for user in users[:4]:
        fill(user, exchange, "buy", "1", "101", fee="0.0001", fee_asset="BNB")
    fill(users[4], exchange, "buy", "1", "101", fee="0.101", reference=None)
    realized_costs_refresh()
    costs = realized_costs(exchange, "BTC/USDT")
    assert (costs.users, costs.fills) == (5, 5)
    # only users[4]'s fee can be valued, only the four others' orders have a reference price
    assert costs.fee_rate is None and costs.slippage_bp is None


def test_stored_rows_name_no_user_bot_order_or_trade(users, exchange):
    fills = four_users(users, exchange) + [fill(users[4], exchange, "buy", "1", "100", fee="0.1")]
    realized_costs_refresh_task()  # the beat task runs the same refresh
    fields = RealizedCost._meta.get_fields()
    assert not any(f.is_relation for f in fields)
    names = {f.name for f in fields}
    assert not names & {"user", "bot", "order", "fill", "trade_id", "client_order_id", "account"}
    (row,) = RealizedCost.objects.filter(exchange=exchange).values()
    stored = " ".join(str(v) for v in row.values())
    for f in fills:
        for secret in (f.user.email, f.order.client_order_id, f.trade_id, f.account_key):
            assert secret not in stored


def test_a_market_that_falls_below_k_disappears(users, exchange, settings):
    for user in users[:5]:
        fill(user, exchange, "buy", "1", "100", fee="0.1")
    realized_costs_refresh()
    assert realized_costs(exchange, "BTC/USDT") is not None
    settings.FEE_INTELLIGENCE_MIN_USERS = 6
    assert realized_costs(exchange, "BTC/USDT") is None  # stored under k=5, not shown at 6
    realized_costs_refresh()
    assert not RealizedCost.objects.filter(exchange=exchange).exists()


def test_k_below_five_is_refused_and_changes_nothing(users, exchange, settings):
    for user in users[:5]:
        fill(user, exchange, "buy", "1", "100", fee="0.1")
    realized_costs_refresh()
    settings.FEE_INTELLIGENCE_MIN_USERS = 4
    with pytest.raises(ImproperlyConfigured, match="at least 5"):
        realized_costs_refresh()
    with pytest.raises(ImproperlyConfigured, match="at least 5"):
        realized_costs(exchange, "BTC/USDT")
    assert RealizedCost.objects.filter(exchange=exchange, users=5).count() == 1


def test_the_environment_refuses_k_below_five(monkeypatch):
    from config import env

    monkeypatch.setenv("FEE_INTELLIGENCE_MIN_USERS", "3")
    with pytest.raises(ImproperlyConfigured, match="FEE_INTELLIGENCE_MIN_USERS"):
        env.integer("FEE_INTELLIGENCE_MIN_USERS", 5, minimum=5)


def test_the_refresh_is_scheduled(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["trading-realized-costs-refresh"]
    assert entry["task"] == realized_costs_refresh_task.name


# -- the admin --------------------------------------------------------------------------------
@pytest.fixture
def operator_client(django_user_model, client, totp_code):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    operator = django_user_model.objects.create_superuser(email="op@example.com", password="x" * 12)
    device = TOTPDevice.objects.create(user=operator, name="app", confirmed=True)
    client.force_login(operator)
    client.post(reverse("accounts:otp-verify"), {"code": totp_code(device)})
    return client


def test_operators_see_the_aggregates_read_only(operator_client, users, exchange):
    for user in users[:5]:
        fill(user, exchange, "buy", "1", "100.5", fee="0.1005")
    realized_costs_refresh()
    page = operator_client.get(reverse("admin:trading_realizedcost_changelist"))
    assert page.status_code == 200
    html = page.content.decode()
    assert exchange in html and "BTC/USDT" in html
    assert "10.00" in html and "50.00" in html  # fee bp, slippage bp
    row = RealizedCost.objects.get(exchange=exchange)
    assert operator_client.get(reverse("admin:trading_realizedcost_add")).status_code == 403
    change = operator_client.post(
        reverse("admin:trading_realizedcost_change", args=[row.pk]), {"users": "99"}
    )
    assert change.status_code == 403
    assert RealizedCost.objects.get(pk=row.pk).users == 5


def test_non_staff_and_anonymous_do_not_reach_the_aggregates(alice_client, alice, totp_code):
    from django.test import Client
    from django_otp.plugins.otp_totp.models import TOTPDevice

    url = reverse("admin:trading_realizedcost_changelist")
    # alice, even past her own OTP step, is no operator
    device = TOTPDevice.objects.create(user=alice, name="app", confirmed=True)
    alice_client.post(reverse("accounts:otp-verify"), {"code": totp_code(device)})
    response = alice_client.get(url)
    assert response.status_code == 302 and "login" in response["Location"]
    response = Client().get(url)
    assert response.status_code == 302 and "login" in response["Location"]
