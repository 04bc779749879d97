"""Compare with paper: the backtest over a bot's period next to the bot's own fills, on
constructed cases whose answer is known: fills equal to the backtest's (no difference), then a
worse price, higher fees and a missed round trip, each cause measured; owner-scoped page and
API."""

from __future__ import annotations

import secrets
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from strategies.paper_compare import bot_paper_comparison
from tradecore.backtest.runner import run_candles
from tradecore.domain import Instrument
from tradecore.strategies import REGISTRY, validate_config
from trading.models import Fill, Order
from trading.services.bots import bot_create


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


@pytest.fixture
def bot(alice, stored):
    return bot_create(user=alice, name="SMA paper", strategy="sma_cross",
                      params={"fast": 10, "slow": 30}, symbols=["BTC/USDT"],
                      venues=[{"exchange": "binance"}], budget="10000")  # fmt: skip


@pytest.fixture
def backtest_fills(stored):
    """The fills the comparison's own backtest makes (same strategy, budget and default fee)."""
    inst = Instrument("BTC/USDT", "BTC", "USDT", Decimal("0.00000001"), Decimal("0.00000001"),
                      Decimal(0), Decimal("0.001"), Decimal("0.001"))  # fmt: skip
    strategy = REGISTRY["sma_cross"](validate_config("sma_cross", {"fast": 10, "slow": 30}),
                                     symbol="BTC/USDT")  # fmt: skip
    return run_candles(strategy, stored, inst, cash=Decimal(10_000), interval_ms=60_000).fills


def _record(bot, fills) -> None:
    for f in fills:
        order = Order.objects.create(
            bot=bot, user=bot.user, mode="paper", exchange="binance", symbol="BTC/USDT",
            client_order_id=secrets.token_hex(8), side=f.side.value, type="market", qty=f.qty,
        )  # fmt: skip
        Fill.objects.create(
            bot=bot, order=order, user=bot.user, mode="paper", exchange="binance",
            account_key="paper", symbol="BTC/USDT", trade_id=secrets.token_hex(8),
            side=f.side.value, price=f.price, qty=f.qty, fee=f.fee, fee_asset="USDT",
            executed_at=_dt(int(f.ts)), source="paper",
        )  # fmt: skip


def _period(stored):
    return _dt(int(stored.ts[0])), _dt(int(stored.ts[-1]) + 60_000)


def test_a_bot_that_filled_as_the_backtest_shows_no_difference(bot, stored, backtest_fills):
    _record(bot, backtest_fills)
    start, end = _period(stored)
    result = bot_paper_comparison(bot=bot, start=start, end=end)
    assert result["matched"] == len(backtest_fills) > 20
    assert (result["missed"], result["extra"]) == (0, 0)
    assert result["difference"] == pytest.approx(0, abs=1e-6)
    assert all(v == pytest.approx(0, abs=1e-6) for v in result["causes"].values())
    assert result["bot"]["fees"] == pytest.approx(result["backtest"]["fees"], rel=1e-12)


def test_worse_prices_higher_fees_and_a_missed_round_trip_are_each_measured(
    bot, stored, backtest_fills
):
    fills = list(backtest_fills)
    first = fills[0]
    assert first.side.value == "buy"
    worse = replace(first, price=first.price + Decimal(10))  # paid 10 USDT more per BTC
    dearer = [replace(f, fee=f.fee * 2) for f in [worse, *fills[1:-2]]]  # fees doubled
    _record(bot, dearer)  # and the last round trip never happened
    start, end = _period(stored)
    result = bot_paper_comparison(bot=bot, start=start, end=end)
    assert (result["matched"], result["missed"], result["extra"]) == (len(fills) - 2, 2, 0)
    causes = result["causes"]
    assert causes["slippage"] == pytest.approx(-10 * float(first.qty), rel=1e-9)
    backtest_fees = float(sum(f.fee for f in fills))
    bot_fees = float(sum(f.fee for f in dearer))
    assert causes["fees"] == pytest.approx(backtest_fees - bot_fees, rel=1e-9)
    missed = fills[-2:]
    assert {f["side"] for f in result["missed_fills"]} == {f.side.value for f in missed}
    assert sum(causes.values()) == pytest.approx(result["difference"], abs=1e-9)
    assert result["pairs"][0]["slippage_bp"] == pytest.approx(
        (float(worse.price) / float(first.price) - 1) * 1e4, rel=1e-9
    )
    assert result["words"].startswith(f"The bot made {result['bot']['pnl']:+,.2f} USDT")


def test_the_page_and_api_compare_and_are_owner_scoped(
    bot, stored, backtest_fills, alice_client, bob_client
):
    from django.test import Client

    client = Client()  # anonymous
    _record(bot, backtest_fills[:-2])
    start, end = (d.strftime("%Y-%m-%dT%H:%M:%SZ") for d in _period(stored))
    url = reverse("strategies:bot-paper-comparison", args=[bot.pk])
    page = alice_client.get(url, {"start": start, "end": end})
    html = page.content.decode()
    assert page.status_code == 200 and 'id="paper-causes"' in html and "Missed fills (2)" in html
    api = alice_client.get(f"/api/v1/bot-comparisons/{bot.pk}/", {"start": start, "end": end})
    assert api.status_code == 200 and api.json()["missed"] == 2
    assert bob_client.get(url).status_code == 404
    assert bob_client.get(f"/api/v1/bot-comparisons/{bot.pk}/").status_code == 404
    assert client.get(url).status_code == 302
    assert client.get(f"/api/v1/bot-comparisons/{bot.pk}/").status_code in (401, 403)
    bad = alice_client.get(f"/api/v1/bot-comparisons/{bot.pk}/", {"start": "soon"})
    assert bad.status_code == 400 and "start" in bad.json()["error"]["fields"]


def test_a_bot_without_fills_or_candles_is_told_why(alice, bot, alice_client):
    url = reverse("strategies:bot-paper-comparison", args=[bot.pk])
    page = alice_client.get(url)
    assert page.status_code == 400 and "no fills yet" in page.content.decode()
    mm = bot_create(
        user=alice, name="MM", strategy="pure_market_making", params={}, symbols=["BTC/USDT"],
        venues=[{"exchange": "binance"}], budget="100",
    )  # fmt: skip
    body = alice_client.get(f"/api/v1/bot-comparisons/{mm.pk}/").json()
    assert "quotes on order books" in body["error"]["fields"]["bot"][0]


def test_the_default_period_starts_at_the_first_fill_with_indicators_warmed_on_earlier_bars(
    bot, stored, backtest_fills
):
    _record(bot, backtest_fills)
    result = bot_paper_comparison(bot=bot)  # from the bot's first fill until now
    assert result["start_ms"] == int(backtest_fills[0].ts) and result["warmup_bars"] == 31
    assert (result["matched"], result["missed"], result["extra"]) == (len(backtest_fills), 0, 0)
    assert result["difference"] == pytest.approx(0, abs=1e-6)


def test_the_bot_page_links_its_config_export_and_the_comparison_where_they_apply(
    alice, bot, stored, backtest_fills, alice_client
):
    import json

    page = alice_client.get(reverse("trading:bot-detail", args=[bot.pk])).content.decode()
    export = reverse("strategies:bot-config-export", args=[bot.pk])
    compare = reverse("strategies:bot-paper-comparison", args=[bot.pk])
    assert f'href="{export}" download id="bot-export-config">Export config</a>' in page
    # a signal bot before its first fill: the comparison is announced, not linked
    assert 'id="bot-compare-backtest-later"' in page and f'href="{compare}"' not in page
    _record(bot, backtest_fills[:-2])
    page = alice_client.get(reverse("trading:bot-detail", args=[bot.pk])).content.decode()
    assert f'href="{compare}" id="bot-compare-backtest">Compare with backtest</a>' in page
    # both lead to working pages: the bot's file, and the comparison over its period
    exported = alice_client.get(export)
    assert exported.status_code == 200 and "attachment" in exported["Content-Disposition"]
    assert json.loads(exported.content)["strategy"] == "sma_cross"
    compared = alice_client.get(compare)
    assert compared.status_code == 200 and 'id="paper-causes"' in compared.content.decode()
    # a market maker has a config to export but nothing a candle backtest can replay
    mm = bot_create(
        user=alice, name="MM", strategy="pure_market_making", params={}, symbols=["BTC/USDT"],
        venues=[{"exchange": "binance"}], budget="100",
    )  # fmt: skip
    page = alice_client.get(reverse("trading:bot-detail", args=[mm.pk])).content.decode()
    assert 'id="bot-export-config"' in page and "Compare with backtest" not in page
    assert (
        alice_client.get(reverse("strategies:bot-config-export", args=[mm.pk])).status_code == 200
    )
