"""The bot page's chart JSON (trading:bot-chart) and trade history: candles of the bot's market,
its fills as markers at their times, a signal strategy's indicators equal to tradecore's over the
same closes, equity and drawdown; alice sees her bot's, bob gets 404, anonymous logs in."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest
from django.urls import reverse

from marketdata.services.candles import candle_copy_upsert
from portfolio.models import BotPerformance
from tests.trading.conftest import VENUE_A
from tradecore import indicators as ind
from trading.models import Bot, Fill, Order, Signal

START_MS = int(datetime(2026, 1, 5, 12, 0, tzinfo=UTC).timestamp() * 1000)
BARS = 60
CLOSES = [100 + (i % 7) * 1.5 - (i % 11) * 0.75 + i * 0.1 for i in range(BARS)]


def _at(minute: int, second: int = 0) -> datetime:
    return datetime.fromtimestamp(START_MS / 1000 + minute * 60 + second, tz=UTC)


@pytest.fixture
def candles(db):
    bars = [
        (START_MS + i * 60_000, f"{c - 0.5:.2f}", f"{c + 1:.2f}", f"{c - 1:.2f}", f"{c:.2f}",
         "1.5", 3)
        for i, c in enumerate(CLOSES)
    ]  # fmt: skip
    candle_copy_upsert(exchange=VENUE_A, symbol="BTC/USDT", timeframe="1m", bars=bars)
    return [round(c, 2) for c in CLOSES]


def _fill(bot, *, side, price, qty, at, trade_id, fee="0"):
    order = Order.objects.create(
        bot=bot, user=bot.user, mode="paper", exchange=VENUE_A, symbol="BTC/USDT",
        client_order_id=f"pg{bot.pk}-{trade_id}", side=side, type="market", qty=D(qty),
        filled_qty=D(qty), status="filled",
    )  # fmt: skip
    return Fill.objects.create(
        bot=bot, order=order, user=bot.user, mode="paper", exchange=VENUE_A,
        account_key=f"paper-{bot.pk}", symbol="BTC/USDT", trade_id=trade_id, side=side,
        price=D(price), qty=D(qty), fee=D(fee), fee_asset="USDT", executed_at=at, source="paper",
    )  # fmt: skip


@pytest.fixture
def ema_bot(alice, make_bot, candles):
    bot = make_bot(alice, name="alice-ema", strategy="ema_cross", params={"fast": 3, "slow": 8})
    _fill(bot, side="buy", price="101.5", qty="0.5", at=_at(20, 17), trade_id="B1", fee="0.05")
    _fill(bot, side="sell", price="104", qty="0.5", at=_at(41, 3), trade_id="S1", fee="0.05")
    Signal.objects.create(bot=bot, at=_at(20), symbol="BTC/USDT", kind="entry")
    Signal.objects.create(bot=bot, at=_at(41), symbol="BTC/USDT", kind="exit")
    for minute, value in ((0, "10000"), (1, "10100"), (2, "9595"), (3, "10200")):
        BotPerformance.objects.create(
            bot=bot, at=_at(minute), valuation_asset="USDT", total_value=D(value),
            cash=D(value), crypto=D(0),
        )  # fmt: skip
    return bot


def _chart(client, bot):
    return client.get(reverse("trading:bot-chart", args=[bot.pk]))


def test_chart_has_the_markets_candles_and_the_fills_at_their_times_with_side(
    alice_client, ema_bot, candles
):
    payload = _chart(alice_client, ema_bot).json()
    assert payload["exchange"] == VENUE_A and payload["symbol"] == "BTC/USDT"
    assert payload["timeframe"] == "1m" and payload["timeframe_seconds"] == 60
    times = [START_MS // 1000 + 60 * i for i in range(BARS)]
    assert [c["time"] for c in payload["candles"]] == times
    assert [float(c["close"]) for c in payload["candles"]] == candles
    fills = [(f["time"], f["bar_time"], f["side"], f["price"]) for f in payload["fills"]]
    assert fills == [
        (int(_at(20, 17).timestamp()), int(_at(20).timestamp()), "buy", "101.5"),
        (int(_at(41, 3).timestamp()), int(_at(41).timestamp()), "sell", "104"),
    ]
    assert [(s["bar_time"], s["kind"]) for s in payload["signals"]] == [
        (int(_at(20).timestamp()), "entry"),
        (int(_at(41).timestamp()), "exit"),
    ]


def test_ema_cross_lines_equal_tradecores_over_the_same_closes(alice_client, ema_bot, candles):
    indicators = _chart(alice_client, ema_bot).json()["indicators"]
    assert set(indicators) == {"fast", "slow"}
    for name, period in (("fast", 3), ("slow", 8)):
        expected = ind.ema(candles, period)
        points = indicators[name]["points"]
        assert indicators[name]["pane"] == 0
        assert len(points) == BARS - (period - 1)  # the warm-up bars have no value
        by_time = {p["time"]: p["value"] for p in points}
        for i, value in enumerate(expected):
            if value == value:
                assert by_time[START_MS // 1000 + 60 * i] == pytest.approx(value, rel=1e-12)


@pytest.mark.parametrize(
    ("strategy", "params", "names", "pane"),
    [
        ("bollinger", {"period": 10, "k": 2.0}, {"upper", "middle", "lower"}, 0),
        ("rsi_mean_reversion", {"period": 9}, {"rsi"}, 1),
        ("macd", {"fast": 4, "slow": 9, "signal": 3}, {"macd", "signal", "histogram"}, 1),
        ("sma_cross", {"fast": 4, "slow": 12}, {"fast", "slow"}, 0),
    ],
)
def test_each_signal_strategy_charts_its_own_indicators(
    alice, alice_client, make_bot, candles, strategy, params, names, pane
):
    bot = make_bot(alice, strategy=strategy, params=params)
    indicators = _chart(alice_client, bot).json()["indicators"]
    assert set(indicators) == names
    assert {line["pane"] for line in indicators.values()} == {pane}
    if strategy == "bollinger":
        upper = ind.bollinger(candles, 10, 2.0)[0]
        assert indicators["upper"]["points"][-1]["value"] == pytest.approx(upper[-1], rel=1e-12)
    if strategy == "rsi_mean_reversion":
        assert indicators["rsi"]["levels"] == [30.0, 70.0]
        value = ind.rsi(candles, 9)[-1]
        assert indicators["rsi"]["points"][-1]["value"] == pytest.approx(value, rel=1e-12)
    if strategy == "macd":
        line = ind.macd(candles, 4, 9, 3)[0]
        assert indicators["macd"]["points"][-1]["value"] == pytest.approx(line[-1], rel=1e-12)


def test_a_market_maker_has_fills_but_no_indicators_or_signals(
    alice, alice_client, make_bot, candles
):
    bot = make_bot(alice)
    _fill(bot, side="sell", price="102", qty="0.01", at=_at(30), trade_id="M1")
    Signal.objects.create(bot=bot, at=_at(30), symbol="BTC/USDT", kind="quote")
    payload = _chart(alice_client, bot).json()
    assert payload["indicators"] == {} and payload["signals"] == []
    assert [f["side"] for f in payload["fills"]] == ["sell"]


def test_equity_and_drawdown_from_the_minute_snapshots(alice_client, ema_bot):
    payload = _chart(alice_client, ema_bot).json()
    assert [p["value"] for p in payload["equity"]] == [10000, 10100, 9595, 10200]
    assert [round(p["value"], 6) for p in payload["drawdown"]] == [0, 0, -5.0, 0]
    assert payload["equity"][0]["time"] == int(_at(0).timestamp())


def test_a_bot_without_market_data_gets_an_empty_chart(alice, alice_client, make_bot):
    payload = _chart(alice_client, make_bot(alice, symbols=["ETH/USDT"])).json()
    assert payload["candles"] == [] and payload["fills"] == [] and payload["equity"] == []


def test_bob_gets_404_for_alices_chart_and_trades_and_her_bot_is_unchanged(bob_client, ema_bot):
    before = Bot.objects.filter(pk=ema_bot.pk).values().get()
    assert _chart(bob_client, ema_bot).status_code == 404
    assert bob_client.get(reverse("trading:bot-trades", args=[ema_bot.pk])).status_code == 404
    assert Bot.objects.filter(pk=ema_bot.pk).values().get() == before


def test_anonymous_is_sent_to_log_in(anonymous_client, ema_bot):
    for name in ("trading:bot-chart", "trading:bot-trades"):
        response = anonymous_client.get(reverse(name, args=[ema_bot.pk]))
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_chart_queries_do_not_grow_with_fills(alice_client, ema_bot, django_assert_max_num_queries):
    for i in range(40):
        _fill(ema_bot, side="buy", price="100", qty="0.01", at=_at(45, i), trade_id=f"X{i}")
    # 11 for the session, user, second factor and session save; 9 for the chart: bot and
    # venues (twice: portfolio scopes again), instrument, candle probe, bars, fills, signals,
    # snapshots
    with django_assert_max_num_queries(20):
        response = _chart(alice_client, ema_bot)
    assert len(response.json()["fills"]) == 42


def test_trade_history_shows_realized_pnl_and_fees_per_trade(alice, alice_client, ema_bot):
    trades = alice_client.get(reverse("trading:bot-trades", args=[ema_bot.pk])).content.decode()
    # sold 0.5 bought at 101.5 for 104: realized 1.25, fee 0.05, net 1.20; the buy opened it
    assert "1.25" in trades and "1.20" in trades and "opens" in trades
    page = alice_client.get(reverse("trading:bot-detail", args=[ema_bot.pk])).content.decode()
    assert 'id="bot-trades"' in page and "Trade history" in page
    assert reverse("trading:bot-chart", args=[ema_bot.pk]) in page
    assert 'data-bot-chart="equity"' in page  # drawn with axes by lightweight-charts


def test_trade_lines_realize_fifo_per_closing_fill(alice, make_bot, candles):
    from trading.selectors import bot_trade_list

    bot = make_bot(alice)
    _fill(bot, side="buy", price="100", qty="1", at=_at(1), trade_id="a", fee="0.1")
    _fill(bot, side="buy", price="110", qty="1", at=_at(2), trade_id="b", fee="0.1")
    _fill(bot, side="sell", price="120", qty="1.5", at=_at(3), trade_id="c", fee="0.2")
    lines = bot_trade_list(user=alice, bot=bot)
    assert [line.fill.trade_id for line in lines] == ["c", "b", "a"]
    assert [line.realized for line in lines] == [D(20) + D(5), D(0), D(0)]  # FIFO: 1@100, .5@110
    assert [line.closes for line in lines] == [True, False, False]
    assert lines[0].net == D("24.8")
