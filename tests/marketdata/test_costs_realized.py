"""Fee intelligence in the cost estimates: the arbitrage tracker (and anything asking
marketdata.costs) plans with the realized taker rate where at least k = 5 users' live fills
publish one and it is worse than the venue's fee; below k users the venue's fee stands.

The aggregates come from real live fills through the refresh service on Postgres.
"""

from __future__ import annotations

import secrets
import uuid
from decimal import Decimal as D

import pytest
import redis
from django.conf import settings as django_settings

from marketdata import costs
from marketdata.services.arbitrage import arbitrage_scan
from tests.trading.conftest import market  # noqa: F401
from tests.trading.test_realized_costs import fill
from trading.services.realized_costs import realized_costs_refresh

pytestmark = pytest.mark.django_db


@pytest.fixture
def users(db, django_user_model):
    return [
        django_user_model.objects.create_user(email=f"fee{i}-{uuid.uuid4().hex[:6]}@example.com")
        for i in range(6)
    ]


@pytest.fixture
def venues():
    """Two venues of this test's own, each with its stored fee schedule (0.1% taker)."""
    run = secrets.token_hex(3)
    names = (f"rc{run}a", f"rc{run}b")
    for name in names:
        costs.venue_costs_store(
            exchange=name,
            markets={s: {"taker": "0.001", "tick": "0.01", "lot": "0.0001"}
                     for s in ("BTC/USDT", "ETH/USDT")},
            withdraw={}, seconds=300,
        )  # fmt: skip
    costs.costs_forget()
    yield names
    redis.Redis.from_url(django_settings.REDIS_URL).delete(*[costs.cache_key(n) for n in names])
    costs.costs_forget()


def _realized(users, exchange, fee, *, symbol="BTC/USDT"):
    """Each user pays `fee` USDT on a 100 USDT taker fill."""
    for user in users:
        fill(user, exchange, "buy", "1", "100", fee=fee, symbol=symbol)
    realized_costs_refresh()
    costs.costs_forget()  # as each scan starts


def test_the_realized_taker_rate_is_used_from_five_users_on(users, venues):
    _, b = venues
    _realized(users[:4], b, "0.3")  # 0.3% realized, but only 4 users
    assert costs.taker_cost(exchange=b, symbol="BTC/USDT") == D("0.001")
    assert costs.market_rules(exchange=b, symbol="BTC/USDT").fee_source == "venue"

    _realized(users[4:5], b, "0.3")  # the fifth
    assert costs.taker_cost(exchange=b, symbol="BTC/USDT") == D("0.003")
    assert costs.market_rules(exchange=b, symbol="BTC/USDT").fee_source == "realized"
    assert costs.published_taker_cost(exchange=b, symbol="BTC/USDT") == D("0.001")
    # another market of the venue, and the same market elsewhere, keep the venue's fee
    assert costs.taker_cost(exchange=b, symbol="ETH/USDT") == D("0.001")
    assert costs.taker_cost(exchange=venues[0], symbol="BTC/USDT") == D("0.001")


def test_a_realized_rate_better_than_the_venues_is_not_planned_with(users, venues):
    a, _ = venues
    _realized(users[:5], a, "0.05")  # 0.05% realized, the venue says 0.1%
    assert costs.taker_cost(exchange=a, symbol="BTC/USDT") == D("0.001")
    assert costs.market_rules(exchange=a, symbol="BTC/USDT").fee_source == "venue"


def test_the_arbitrage_tracker_nets_the_realized_fee(users, venues, market):  # noqa: F811
    a, b = venues
    market.book(a, "BTC/USDT", "99.9", "100")
    market.book(b, "BTC/USDT", "101.9", "102")
    try:
        (before,) = arbitrage_scan(markets={a: ["BTC/USDT"], b: ["BTC/USDT"]}, sizes=[D(100)])
        _realized(users[:5], b, "0.3")
        (after,) = arbitrage_scan(markets={a: ["BTC/USDT"], b: ["BTC/USDT"]}, sizes=[D(100)])
    finally:
        market.clear(a, "BTC/USDT")
        market.clear(b, "BTC/USDT")

    def net_bp(buy_fee, sell_fee):  # sell 1 at 101.9 after its fee, pay 100 plus its fee
        net = D("101.9") * (1 - D(sell_fee)) / (D("100") * (1 + D(buy_fee))) - 1
        return (net * 10_000).quantize(D("0.000001"))

    assert (before.buy_exchange, before.sell_exchange) == (a, b)
    assert before.fee_bp == D(20) and before.net_bp == net_bp("0.001", "0.001")
    assert after.fee_bp == D(40) and after.net_bp == net_bp("0.001", "0.003")  # 10 + 30 bp


def test_the_aggregates_are_read_once_per_scan(users, venues, django_assert_num_queries):
    a, b = venues
    _realized(users[:5], b, "0.3")
    with django_assert_num_queries(2):  # the published aggregates; the one market's rate
        for _ in range(20):
            for venue in venues:
                for symbol in ("BTC/USDT", "ETH/USDT"):
                    costs.taker_cost(exchange=venue, symbol=symbol)
