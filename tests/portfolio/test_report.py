"""The portfolio page's figures, computed by hand from the fills, marks and snapshots written here.

Bots compared (return, PnL, max drawdown, Sharpe, trades, win rate, fees), value and allocation
over time per bot and in total, fees by exchange and asset, paper holdings and exchange balances
apart; the sort parameter, access, and a query count that does not grow with the bots.
"""

from __future__ import annotations

import math
import statistics
from datetime import timedelta
from decimal import ROUND_HALF_EVEN
from decimal import Decimal as D

import lxml.html
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from portfolio.models import BotPerformance, ExchangeBalance
from portfolio.report import (
    bots_snapshot_stats,
    fee_lines,
    fee_totals,
    portfolio_value_series,
    sort_key_parse,
)
from portfolio.selectors import dashboard_get

URL = "/portfolio/"


def _snapshot(bot, at, value, *, cash=None, crypto="0", asset="USDT"):
    total = D(value)
    return BotPerformance.objects.create(
        bot=bot, at=at.replace(second=0, microsecond=0), valuation_asset=asset,
        total_value=total, cash=D(cash) if cash is not None else total - D(crypto),
        crypto=D(crypto),
    )  # fmt: skip


@pytest.fixture
def now():
    return timezone.now().replace(second=0, microsecond=0)


def _doc(response):
    assert response.status_code == 200, response.content[:500]
    return lxml.html.fromstring(response.content.decode())


def _css(selector: str) -> str:
    """XPath for the simple selectors used here: "#id", ".class" or a tag name."""
    if selector.startswith("#"):
        return f'//*[@id="{selector[1:]}"]'
    if selector.startswith("."):
        return f'//*[contains(concat(" ", normalize-space(@class), " "), " {selector[1:]} ")]'
    return f"//{selector}"


def _text(doc, selector: str) -> str:
    return " ".join(
        " ".join(" ".join(node.itertext()).split()) for node in doc.xpath(_css(selector))
    )


def _comparison(doc) -> dict[str, dict[str, str]]:
    """The comparison table as {bot name: {column: cell text}}."""
    rows = {}
    for row in doc.xpath('//*[@id="portfolio-comparison"]//tbody/tr[@data-bot]'):
        name = row.xpath(".//td//a")[0].text_content().strip()
        rows[name] = {
            cell.get("data-col"): " ".join(cell.text_content().split())
            for cell in row.xpath(".//td[@data-col]")
        }
    return rows


@pytest.fixture
def trader(alice, make_bot, add_fill, venue, publish_mark, now):
    """alice's 'alpha' (three fills, four snapshots) and 'beta' (no fills, a flat curve).

    alpha: 10000 USDT; buys 0.1 BTC at 30000 (fee 3), sells 0.05 at 32000 (fee 1.6) and 0.02
    at 29000 (fee 0.58); BTC marked at 31000 (mid of 30999/31001).
      cash   = 10000 - 3000 - 3 + 1600 - 1.6 + 580 - 0.58 = 9174.82
      crypto = 0.03 x 31000                              =  930
      value  = 10104.82 (10000 + PnL)
      realized = 0.05 x 2000 - 0.02 x 1000 = 80; unrealized = 0.03 x 1000 = 30
      PnL    = 80 + 30 - 5.18 = 104.82; 3 trades, 2 closing, 1 winning (50%); fees 5.18
    snapshots 10000, 10300, 9785, 10104.82 a minute apart:
      return   = 10104.82 / 10000 - 1 = 1.0482%
      drawdown = (10300 - 9785) / 10300 = 5%
    """
    alpha = make_bot(alice, venues=[venue], name="alpha")
    beta = make_bot(alice, venues=[venue], name="beta", funds={venue: {"USDT": "5000"}})
    add_fill(alpha, "buy", "0.1", "30000", fee="3")
    add_fill(alpha, "sell", "0.05", "32000", fee="1.6")
    add_fill(alpha, "sell", "0.02", "29000", fee="0.58")
    publish_mark(venue, "BTC/USDT", bid="30999", ask="31001")
    start = now - timedelta(minutes=10)
    for minute, value in enumerate(("10000", "10300", "9785", "10104.82")):
        _snapshot(alpha, start + timedelta(minutes=minute), value)
    for minute in (0, 3):
        _snapshot(beta, start + timedelta(minutes=minute), "5000")
    return alpha, beta


def test_bots_compared_with_hand_computed_figures(alice_client, trader):
    alpha, beta = trader
    doc = _doc(alice_client.get(URL))
    rows = _comparison(doc)
    assert list(rows) == ["alpha", "beta"]  # sorted by name by default

    returns = [10300 / 10000 - 1, 9785 / 10300 - 1, 10104.82 / 9785 - 1]
    sharpe = statistics.mean(returns) / statistics.stdev(returns) * math.sqrt(525_600)
    assert rows["alpha"] == {
        "return": "1.05%",
        "pnl": "104.82",
        "drawdown": "5.00%",
        "sharpe": f"{sharpe:,.2f} over 3 min",  # three minutes of snapshots: said
        "trades": "3",
        "win_rate": "50.0% (1/2)",
        "fees": "5.18",
    }
    # beta: nothing traded, a flat curve: no Sharpe (no variation), no win rate (nothing closed)
    assert rows["beta"] == {
        "return": "0.00%", "pnl": "0.00", "drawdown": "0.00%", "sharpe": "–",
        "trades": "0", "win_rate": "–", "fees": "0.00",
    }  # fmt: skip

    line = {line.bot.pk: line for line in alice_client.get(URL).context["comparison"]["lines"]}
    assert line[alpha.pk].value == D("10104.82")
    assert line[alpha.pk].return_pct == D(100) * (D("10104.82") / D("10000") - 1)
    assert line[alpha.pk].pnl == D("104.82") and line[alpha.pk].fees == D("5.18")
    assert line[alpha.pk].max_drawdown_pct == D(5)
    assert line[alpha.pk].sharpe == pytest.approx(sharpe, rel=1e-9)
    # the totals card adds up the lines
    assert "15,104.82" in _text(doc, "#portfolio-totals")  # 10104.82 + 5000
    assert "104.82" in _text(doc, "#portfolio-totals")


def test_sharpe_is_annualized_at_the_curves_own_spacing(alice, alice_client, make_bot, venue, now):
    bot = make_bot(alice, venues=[venue])
    values = ["1000", "1010", "1005", "1020", "1019"]
    for hour, value in enumerate(values):  # hourly snapshots
        _snapshot(bot, now - timedelta(hours=10 - hour), value)
    returns = [float(D(b) / D(a) - 1) for a, b in zip(values, values[1:], strict=False)]
    expected = statistics.mean(returns) / statistics.stdev(returns) * math.sqrt(365 * 24)
    stats = bots_snapshot_stats([bot.pk])[bot.pk]
    assert stats.snapshots == 5 and stats.first_value == D("1000")
    assert stats.sharpe == pytest.approx(expected, rel=1e-9)
    assert stats.span_seconds == 4 * 3600
    line = alice_client.get(URL).context["comparison"]["lines"][0]
    assert line.short_curve == "4 h"
    _snapshot(bot, now - timedelta(days=8), "990")  # a week and more of snapshots: no mark
    assert alice_client.get(URL).context["comparison"]["lines"][0].short_curve is None
    assert b"portfolio-short-curve" not in alice_client.get(URL).content
    assert stats.max_drawdown == pytest.approx((D("1010") - D("1005")) / D("1010"), rel=D("1e-15"))


def test_sorting_by_each_column_and_reversing(alice_client, trader):
    for sort, order in (
        ("-return", ["alpha", "beta"]),
        ("return", ["beta", "alpha"]),
        ("pnl", ["beta", "alpha"]),
        ("-drawdown", ["alpha", "beta"]),
        ("-trades", ["alpha", "beta"]),
        ("-value", ["alpha", "beta"]),
        ("-name", ["beta", "alpha"]),
        # beta has no Sharpe nor win rate: it goes last whichever the direction
        ("sharpe", ["alpha", "beta"]),
        ("-sharpe", ["alpha", "beta"]),
        ("win_rate", ["alpha", "beta"]),
    ):
        doc = _doc(alice_client.get(URL, {"sort": sort}))
        assert list(_comparison(doc)) == order, sort
        head = doc.xpath('//*[@id="portfolio-comparison"]//th[@aria-sort]')
        assert len(head) == 1
        assert head[0].get("aria-sort") == ("descending" if sort[0] == "-" else "ascending")
        assert not doc.xpath(_css(".portfolio-sort-error"))
    # the sorted column's link reverses it; the others sort ascending
    doc = _doc(alice_client.get(URL, {"sort": "pnl"}))
    links = {a.get("data-sort-key"): a.get("href") for a in doc.xpath("//th//a")}
    assert links["pnl"] == "?sort=-pnl" and links["fees"] == "?sort=fees"


@pytest.mark.parametrize("bad", ["bogus", "-", "--return", "return;drop", "ü" * 300, " "])
def test_a_bad_sort_key_is_said_on_the_page_and_the_default_order_kept(alice_client, trader, bad):
    response = alice_client.get(URL, {"sort": bad})
    doc = _doc(response)  # never a 500
    assert list(_comparison(doc)) == ["alpha", "beta"]
    if bad.strip():
        error = _text(doc, ".portfolio-sort-error")
        assert "Cannot sort by" in error and "use one of name, value, return" in error
        assert "Sorted by bot name." in error
        assert len(error) < 300  # a long key is cut in the message
    # the partial the table's links fetch says the same
    partial = alice_client.get(
        URL, {"sort": bad}, headers={"HX-Request": "true", "HX-Target": "portfolio-comparison"}
    )
    assert partial.status_code == 200
    assert b"<html" not in partial.content and b"portfolio-comparison" in partial.content


def test_sort_key_parse():
    assert sort_key_parse(None) == ("name", False)
    assert sort_key_parse("-sharpe") == ("sharpe", True)
    assert sort_key_parse(" win_rate ") == ("win_rate", False)
    with pytest.raises(ValueError, match="Cannot sort by 'Return'"):
        sort_key_parse("Return")


def test_value_over_time_per_bot_and_total_with_cash_and_crypto(
    alice, bob, alice_client, make_bot, venue, now
):
    first = make_bot(alice, venues=[venue], name="first")
    second = make_bot(alice, venues=[venue], name="second")
    other = make_bot(bob, venues=[venue], name="bobs")
    t = [now - timedelta(minutes=m) for m in (40, 30, 20, 10)]
    _snapshot(first, t[0], "1000", crypto="0")
    _snapshot(first, t[1], "1100", crypto="600")
    _snapshot(first, t[2], "1050", crypto="550")
    _snapshot(first, t[3], "1200", crypto="700")
    _snapshot(second, t[1], "500", crypto="100")  # joins later, skips a snapshot
    _snapshot(second, t[3], "450", crypto="50")
    _snapshot(other, t[1], "99999", crypto="0")

    data = alice_client.get(reverse("portfolio:value-chart"), {"range": "1d"}).json()
    times = [int(at.timestamp()) for at in t]

    def points(values):
        return [{"time": at, "value": value} for at, value in zip(times, values, strict=True)]

    # second counts with its last snapshot until its next one
    assert data["total"] == points([1000.0, 1600.0, 1550.0, 1650.0])
    assert data["crypto"] == points([0.0, 700.0, 650.0, 750.0])
    assert data["cash"] == points([1000.0, 900.0, 900.0, 900.0])
    for a, b, c in zip(data["cash"], data["crypto"], data["total"], strict=True):
        assert a["value"] + b["value"] == c["value"]  # the stacked chart's top edge is the total
    assert data["bots"] == [
        {"id": first.pk, "name": "first", "points": points([1000.0, 1100.0, 1050.0, 1200.0])},
        {"id": second.pk, "name": "second",
         "points": [{"time": times[1], "value": 500.0}, {"time": times[3], "value": 450.0}]},
    ]  # fmt: skip
    assert data["asset"] == "USDT"


def test_value_over_time_carries_a_bot_in_from_before_the_range(alice, make_bot, venue, now):
    old, new = make_bot(alice, venues=[venue]), make_bot(alice, venues=[venue])
    _snapshot(old, now - timedelta(days=3), "900", crypto="300")  # before the 1-day range
    _snapshot(new, now - timedelta(hours=2), "500")
    series = portfolio_value_series(user=alice, range_key="1d", asset="USDT", now=now)
    assert [value for _, value in series.total] == [D(1400)]
    assert [value for _, value in series.crypto] == [D(300)]
    assert [name for _, name, _ in series.bots] == [new.name]  # no point of old in the range
    everything = portfolio_value_series(user=alice, range_key="all", asset="USDT", now=now)
    assert [value for _, value in everything.total] == [D(900), D(1400)]


def test_value_over_time_is_bounded_in_points(alice, make_bot, venue, now):
    bot = make_bot(alice, venues=[venue])
    BotPerformance.objects.bulk_create(
        BotPerformance(
            bot=bot, at=now - timedelta(minutes=m), valuation_asset="USDT",
            total_value=D(1000 + m), cash=D(1000 + m), crypto=D(0),
        )
        for m in range(1, 1441)
    )  # fmt: skip
    series = portfolio_value_series(user=alice, range_key="1d", asset="USDT", now=now, points=100)
    assert 90 <= len(series.total) <= 101
    assert series.total[-1] == (now - timedelta(minutes=1), D(1001))  # the latest is kept


def test_value_chart_refuses_a_bad_range_and_anonymous(alice_client, client, alice):
    response = alice_client.get(reverse("portfolio:value-chart"), {"range": "10y"})
    assert response.status_code == 400
    assert "Unknown range '10y'" in response.json()["error"]
    client.logout()
    assert client.get(reverse("portfolio:value-chart")).status_code == 302
    assert client.get(URL).status_code == 302


def test_fees_by_exchange_and_asset(alice, bob, alice_client, make_bot, add_fill, venue, venue_b):
    bot = make_bot(alice, venues=[venue, venue_b])
    add_fill(bot, "buy", "0.1", "30000", fee="3")  # 3 USDT on 3000
    add_fill(bot, "sell", "0.05", "32000", fee="1.6")  # 1.6 USDT on 1600
    add_fill(bot, "buy", "0.02", "30000", exchange=venue_b, fee="0.00002", fee_asset="BTC")
    add_fill(bot, "sell", "0.01", "31000", exchange=venue_b, fee="0.01", fee_asset="BNB")
    add_fill(bot, "buy", "1", "2000", exchange=venue_b, fee="0", symbol="ETH/USDT")  # no fee
    other = make_bot(bob, venues=[venue])
    add_fill(other, "buy", "1", "30000", fee="30")

    lines = {(line.exchange, line.fee_asset): line for line in fee_lines(user=alice)}
    assert set(lines) == {(venue, "USDT"), (venue_b, "BTC"), (venue_b, "BNB")}
    usdt = lines[(venue, "USDT")]
    assert (usdt.fills, usdt.fees, usdt.cost, usdt.notional) == (2, D("4.6"), D("4.6"), D(4600))
    assert usdt.rate_bp == D(10)
    btc = lines[(venue_b, "BTC")]  # in the base asset: at the fill's own price
    assert (btc.fees, btc.cost, btc.notional, btc.rate_bp) == (
        D("0.00002"), D("0.6"), D(600), D(10),
    )  # fmt: skip
    bnb = lines[(venue_b, "BNB")]  # a third asset: listed, not valued
    assert bnb.fees == D("0.01") and bnb.cost is None and bnb.rate_bp is None
    assert fee_totals(list(lines.values())) == {
        (venue, "USDT"): D("4.6"),
        (venue_b, "USDT"): D("0.6"),
    }

    doc = _doc(alice_client.get(URL))
    table = _text(doc, "#portfolio-fees")
    assert "not valued" in table and "0.01 BNB" in table and "10.0 bp" in table
    assert f"Total cost on {venue} 4.60 USDT" in table
    assert f"Total cost on {venue_b} 0.60 USDT" in table
    assert "30.00" not in table  # bob's fee


def test_paper_holdings_and_exchange_balances_are_separate_and_labelled(
    alice, bob, alice_client, bob_client, make_bot, add_fill, venue, publish_mark
):
    from exchanges.services.credentials import exchange_account_create

    bot = make_bot(alice, venues=[venue], name="paper-alpha")
    add_fill(bot, "buy", "0.1", "30000")
    publish_mark(venue, "BTC/USDT", bid="39999", ask="40001")
    account = exchange_account_create(
        user=alice, exchange="sandbox", label="alice-main", mode="paper",
        api_key="key-0000000001", secret="secret-000000001",
    )  # fmt: skip
    ExchangeBalance.objects.create(
        account=account, asset="ETH", free=D("2.5"), used=D("0.5"), total=D("3"),
        fetched_at=timezone.now(),
    )  # fmt: skip

    doc = _doc(alice_client.get(URL))
    paper = _text(doc, ".portfolio-paper")
    balances = _text(doc, ".portfolio-exchange")
    assert "Paper bots (simulated holdings)" in paper and "No exchange holds them" in paper
    assert "paper-alpha" in paper and "BTC" in paper and "4,000.00" in paper  # 0.1 at 40000
    assert "7,000.00" in paper  # USDT left
    assert "ETH" not in paper and "alice-main" not in paper
    assert "Exchange balances (your accounts)" in balances and "Not added" in balances
    assert "alice-main" in balances and "ETH" in balances and "2.5" in balances
    assert "paper-alpha" not in balances
    # the bots' total is the paper bot's value only, not the exchange's ETH on top
    assert "11,000.00" in _text(doc, "#portfolio-totals")

    theirs = _doc(bob_client.get(URL))
    assert "alice-main" not in _text(theirs, "body") and "paper-alpha" not in _text(theirs, "body")


def test_refreshing_another_users_account_is_refused(alice, bob_client, client):
    from exchanges.services.credentials import exchange_account_create

    account = exchange_account_create(
        user=alice, exchange="sandbox", label="alice-main", mode="paper",
        api_key="key-0000000001", secret="secret-000000001",
    )  # fmt: skip
    url = reverse("portfolio:exchange-balances-refresh", args=[account.pk])
    assert bob_client.post(url).status_code == 404
    client.logout()
    assert client.post(url).status_code == 302  # to the sign-in page
    assert bob_client.get(url).status_code == 405
    assert not ExchangeBalance.objects.filter(account=account).exists()


def test_bob_sees_none_of_alices_bots_figures_or_curves(bob_client, trader):
    doc = _doc(bob_client.get(URL))
    assert _comparison(doc) == {}
    body = _text(doc, "body")
    assert "alpha" not in body and "10,104.82" not in body and "5.18" not in body
    data = bob_client.get(reverse("portfolio:value-chart"), {"range": "all"}).json()
    assert data["total"] == [] and data["bots"] == []


def _queries(client, url, params=None) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url, params or {}).status_code == 200
    return len(queries)


def test_queries_do_not_grow_with_the_number_of_bots(
    alice, alice_client, make_bot, add_fill, venue, now
):
    def add_bot():
        bot = make_bot(alice, venues=[venue])
        add_fill(bot, "buy", "0.1", "30000", fee="3")
        add_fill(bot, "sell", "0.05", "31000", fee="0.00001", fee_asset="BTC")
        for minute in range(3):
            _snapshot(bot, now - timedelta(minutes=5 - minute), str(10000 + minute))

    add_bot()
    _queries(alice_client, URL)  # the first request of a session reads a few things once
    page, chart = (
        _queries(alice_client, URL, {"sort": "-sharpe"}),
        _queries(alice_client, reverse("portfolio:value-chart"), {"range": "1d"}),
    )
    for _ in range(7):
        add_bot()
    assert _queries(alice_client, URL, {"sort": "-sharpe"}) == page
    assert _queries(alice_client, reverse("portfolio:value-chart"), {"range": "1d"}) == chart
    assert page <= 20 and chart <= 10


def test_dashboard_exposure_and_equity_agree_on_real_fills_and_snapshots(
    alice, alice_client, make_bot, add_fill, venue, venue_b, publish_mark, now
):
    """Both from the same fills and marks: the snapshot the runtime records each minute, and the
    dashboard's exposure by asset; the assets' values add up to the equity shown."""
    from portfolio.services import bot_performance_record

    maker = make_bot(alice, venues=[venue], name="maker")
    arb = make_bot(
        alice, venues=[venue, venue_b], symbols=("BTC/USDT", "ETH/USDT"), name="arb",
        funds={venue: {"USDT": "6000"}, venue_b: {"USDT": "4000", "ETH": "1"}},
    )  # fmt: skip
    add_fill(maker, "buy", "0.2", "30000", fee="6")
    add_fill(maker, "sell", "0.05", "30500", fee="1.525")
    add_fill(arb, "buy", "0.1", "29900", fee="2.99")
    add_fill(arb, "sell", "0.1", "30100", exchange=venue_b, fee="0.0001", fee_asset="BTC")
    add_fill(arb, "buy", "0.5", "2000", exchange=venue_b, symbol="ETH/USDT", fee="1")
    publish_mark(venue, "BTC/USDT", bid="30999", ask="31001")
    publish_mark(venue_b, "BTC/USDT", bid="30999", ask="31001")
    publish_mark(venue_b, "ETH/USDT", bid="2099", ask="2101")
    assert bot_performance_record(bots=[maker, arb], at=now) == 2

    board = dashboard_get(user=alice)
    equity = board.totals["USDT"]["value"]
    exposure = {line.asset: line for line in board.exposure["USDT"]}
    # by hand: maker 10000 - 6000 - 6 + 1525 - 1.525 = 5517.475 USDT and 0.15 BTC (4650);
    # arb 6000 - 2990 - 2.99 + 4000 + 3010 - 1000 - 1 = 9016.01 USDT, 0.1 - 0.1 - 0.0001 BTC,
    # 1.5 ETH (3150)
    usdt = D("5517.475") + D("9016.01")
    btc = D("0.15") - D("0.0001")
    assert exposure["USDT"].amount == usdt
    assert exposure["BTC"].amount == btc and exposure["BTC"].value == btc * 31000
    assert exposure["ETH"].amount == D("1.5") and exposure["ETH"].value == D("3150")
    assert equity == usdt + btc * 31000 + D("3150")
    assert sum(line.value for line in exposure.values()) == equity
    assert sum(line.share for line in exposure.values()) == pytest.approx(D(1))
    html = alice_client.get("/").content.decode()
    # rounded as the page rounds (half to even), not by the thread's decimal context, which
    # ccxt's decimal_to_precision sets to ROUND_HALF_UP whenever an earlier test called it
    # (22,330.385 is exactly on the half)
    assert f"{equity.quantize(D('0.01'), rounding=ROUND_HALF_EVEN):,.2f}" in html
