"""Bot valuation from hand-built fills: holdings, FIFO PnL, fees, marks from Redis."""

from __future__ import annotations

from decimal import Decimal as D

from portfolio.valuation import bots_valuation, valuation_asset


def _value(bot):
    return bots_valuation([bot])[bot.pk]


def test_fifo_pnl_holdings_and_value_at_the_redis_mark(
    alice, make_bot, add_fill, venue, publish_mark
):
    bot = make_bot(alice, venues=[venue], funds={venue: {"USDT": "10000"}})
    add_fill(bot, "buy", "1", "100", fee="0.001", fee_asset="BTC")
    add_fill(bot, "buy", "2", "110", fee="0.1")
    add_fill(bot, "sell", "2.5", "120", fee="0.1")
    add_fill(bot, "buy", "1", "90", fee="0.1")
    add_fill(bot, "sell", "1", "95", fee="0.1")
    publish_mark(venue, "BTC/USDT", bid="99.5", ask="100.5")  # mark = mid = 100

    value = _value(bot)
    assert value.valuation_asset == "USDT"
    # the 0.001 BTC fee is taken from the first buy's coins, so that lot holds 0.999:
    # sell 2.5 @ 120 closes 0.999 @ 100 (+19.98) and 1.501 @ 110 (+15.01); sell 1 @ 95 closes
    # the 0.499 left @ 110 (-7.485) and 0.501 @ 90 (+2.505): 34.99 - 4.98, FIFO
    assert value.realized_pnl == D("30.01")
    assert value.unrealized_pnl == D("4.99")  # 0.499 left of the 90 lot, at 100
    assert value.fees == D("0.5")  # 4 x 0.1 USDT + 0.001 BTC at 100
    assert value.fees_by_asset == {"BTC": D("0.001"), "USDT": D("0.4")}
    assert (value.trades, value.closing_trades, value.winning_trades) == (5, 2, 1)
    holdings = {(h.exchange, h.asset): h for h in value.holdings}
    # 10000 - 100 - 220 + 300 - 90 + 95 - 0.4 fees; 0.5 BTC less the 0.001 BTC fee
    assert holdings[(venue, "USDT")].total == D("9984.6")
    assert holdings[(venue, "BTC")].total == D("0.499")
    assert holdings[(venue, "BTC")].value == D("49.9")
    assert (value.cash, value.crypto, value.total_value) == (D("9984.6"), D("49.9"), D("10034.5"))
    # the books agree: start + realized + unrealized - fees
    assert value.total_value == D("10000") + value.net_pnl
    [position] = value.positions
    # the position is what the exchange holds: the same 0.499 BTC as the holdings
    assert (position.qty, position.average_price, position.mark) == (D("0.499"), D("90"), D("100"))


def test_without_a_mark_the_last_fill_price_values_the_position(alice, make_bot, add_fill, venue):
    bot = make_bot(alice, venues=[venue])
    add_fill(bot, "buy", "2", "100")
    add_fill(bot, "buy", "1", "106")
    value = _value(bot)
    assert value.unrealized_pnl == D("12")  # 2 x (106 - 100)
    assert value.crypto == D("318") and value.cash == D("9694")
    assert value.unpriced == []


def test_cross_exchange_round_trip_realizes_across_venues(
    alice, make_bot, add_fill, venue, venue_b, publish_mark
):
    bot = make_bot(
        alice,
        venues=[venue, venue_b],
        funds={venue: {"USDT": "5000"}, venue_b: {"USDT": "1000", "BTC": "1"}},
    )
    add_fill(bot, "buy", "1", "100", exchange=venue, fee="0.1")
    add_fill(bot, "sell", "1", "101.5", exchange=venue_b, fee="0.1015")
    publish_mark(venue, "BTC/USDT", last="102")
    value = _value(bot)
    assert value.realized_pnl == D("1.5") and value.unrealized_pnl == 0
    assert value.fees == D("0.2015")
    holdings = {(h.exchange, h.asset): h.total for h in value.holdings}
    assert holdings == {
        (venue, "USDT"): D("4899.9"),
        (venue, "BTC"): D("1"),
        (venue_b, "USDT"): D("1101.3985"),
    }
    # venue_b has no mark of its own: the bot's first venue with one prices its BTC
    assert value.crypto == D("102")


def test_open_orders_show_what_they_reserve(alice, make_bot, add_fill, venue):
    from trading.models import Order

    bot = make_bot(alice, venues=[venue], funds={venue: {"USDT": "1000", "BTC": "1"}})
    for side, price in (("buy", "99"), ("sell", "101")):
        Order.objects.create(
            bot=bot,
            user=alice,
            mode="paper",
            exchange=venue,
            symbol="BTC/USDT",
            client_order_id=f"pg{bot.pk}-{side}",
            side=side,
            type="limit",
            price=D(price),
            qty=D("0.5"),
            filled_qty=D("0.2"),
            status="partially_filled",
        )
    holdings = {h.asset: h for h in _value(bot).holdings}
    assert holdings["USDT"].in_orders == D("29.7")  # 0.3 left x 99
    assert holdings["BTC"].in_orders == D("0.3")


def test_valuation_asset_prefers_a_stablecoin_quote():
    assert valuation_asset(["ETH/BTC", "BTC/USDT", "ETH/USDT"]) == "USDT"
    assert valuation_asset(["ETH/BTC"]) == "BTC"
    assert valuation_asset([]) == "USDT"


def test_other_quotes_are_converted_through_marks(alice, make_bot, add_fill, venue, publish_mark):
    bot = make_bot(
        alice,
        venues=[venue],
        symbols=("ETH/BTC", "BTC/USDT"),
        funds={venue: {"USDT": "0", "BTC": "1"}},
    )
    add_fill(bot, "buy", "2", "0.05", symbol="ETH/BTC")
    add_fill(bot, "sell", "1", "0.06", symbol="ETH/BTC")
    publish_mark(venue, "BTC/USDT", last="50000")
    publish_mark(venue, "ETH/BTC", last="0.055")
    value = _value(bot)
    assert value.realized_pnl == D("0.01") * 50000  # 1 ETH bought at 0.05 sold at 0.06 BTC
    assert value.unrealized_pnl == D("0.005") * 50000
    # BTC: 1 - 0.1 + 0.06 = 0.96 -> 48000 USDT; ETH 1 at 0.055 BTC = 2750 USDT
    assert value.crypto == D("48000") + D("2750")
