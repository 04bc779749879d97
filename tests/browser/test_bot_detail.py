"""A bot's page in a real browser: the market chart with the bot's fills, indicator lines and
signals, the equity and drawdown chart, the trade history; live, a paper bot on a real worker
fills and the fill's marker appears on the chart without a reload.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal as D

import numpy as np
import pytest

from marketdata.services.candles import candle_copy_upsert
from portfolio.models import BotPerformance
from tests.browser.conftest import wait_for, wait_painted
from tests.trading.conftest import VENUE_A
from trading.models import Fill, Order, Signal
from trading.services.bots import bot_start, bot_stop

pytestmark = pytest.mark.django_db(transaction=True)

BARS = 240


def _minute_ms(offset: int = 0) -> int:
    now = int(time.time() * 1000)
    return now - now % 60_000 + offset * 60_000


def _candles(start_price: float = 30_000.0) -> list[float]:
    """BARS 1m bars of a seeded random walk on the sandbox venue, the last one this minute."""
    rng = np.random.default_rng(11)
    closes = start_price * np.exp(np.cumsum(rng.normal(0, 0.0015, BARS)))
    opens = np.r_[start_price, closes[:-1]]
    first = _minute_ms(-(BARS - 1))
    bars = [
        (first + i * 60_000, f"{o:.2f}", f"{max(o, c) * 1.0004:.2f}", f"{min(o, c) * 0.9996:.2f}",
         f"{c:.2f}", "1.2", 5)
        for i, (o, c) in enumerate(zip(opens, closes, strict=True))
    ]  # fmt: skip
    candle_copy_upsert(exchange=VENUE_A, symbol="BTC/USDT", timeframe="1m", bars=bars)
    return [float(b[4]) for b in bars]


def _at(minutes_ago: int, second: int = 0) -> datetime:
    return datetime.fromtimestamp((_minute_ms(-minutes_ago) + second * 1000) / 1000, tz=UTC)


def _fill(bot, *, side, price, qty, at, trade_id):
    order = Order.objects.create(
        bot=bot, user=bot.user, mode="paper", exchange=VENUE_A, symbol="BTC/USDT",
        client_order_id=f"pg{bot.pk}-{trade_id}", side=side, type="market", qty=D(qty),
        filled_qty=D(qty), status="filled",
    )  # fmt: skip
    Fill.objects.create(
        bot=bot, order=order, user=bot.user, mode="paper", exchange=VENUE_A,
        account_key=f"paper-{bot.pk}", symbol="BTC/USDT", trade_id=trade_id, side=side,
        price=D(price), qty=D(qty), fee=D(price) * D(qty) * D("0.001"), fee_asset="USDT",
        executed_at=at, source="paper",
    )  # fmt: skip


def _chart_ready(page):
    root = page.locator("[data-bot-chart-url]")
    wait_for(
        page,
        "() => document.querySelector('[data-bot-chart-url]').dataset.candlesLoaded !== undefined",
    )
    return root


def test_a_signal_bots_page_charts_candles_fills_indicators_and_equity(
    signed_in, alice, make_bot, shot
):
    page = signed_in
    closes = _candles()
    bot = make_bot(alice, name="alice-ema", strategy="ema_cross", params={"fast": 9, "slow": 21})
    trades = (
        (180, "buy", "0.05"), (130, "sell", "0.05"), (90, "buy", "0.04"), (40, "sell", "0.04"),
    )  # fmt: skip
    fill_minutes = []  # each fill's bar, as it was written (the clock may pass a minute since)
    for n, (ago, side, qty) in enumerate(trades):
        price = f"{closes[BARS - 1 - ago]:.2f}"
        at = _at(ago, 20)
        _fill(bot, side=side, price=price, qty=qty, at=at, trade_id=f"T{n}")
        fill_minutes.append(int(at.timestamp()) // 60 * 60)
        kind = "entry" if side == "buy" else "exit"
        Signal.objects.create(bot=bot, at=_at(ago + 1), symbol="BTC/USDT", kind=kind)
    value = 10_000.0
    for ago in range(200, 0, -1):  # a minute snapshot each minute, with a dip to draw
        value *= 1 + 0.0004 * np.sin(ago / 15)
        BotPerformance.objects.create(
            bot=bot, at=_at(ago), valuation_asset="USDT", total_value=D(f"{value:.2f}"),
            cash=D(f"{value:.2f}"), crypto=D(0),
        )  # fmt: skip

    page.goto(f"/trading/bots/{bot.pk}/")
    root = _chart_ready(page)
    assert root.get_attribute("data-candles-loaded") == str(BARS)
    assert root.get_attribute("data-fill-markers") == "4"
    assert root.get_attribute("data-signal-markers") == "4"
    assert root.get_attribute("data-equity-points") == "200"
    markers = page.evaluate("window.PeregrineBotDetail.pages[0].markers")
    fills = [m for m in markers if m["shape"] != "circle"]
    assert [m["shape"] for m in fills] == ["arrowUp", "arrowDown", "arrowUp", "arrowDown"]
    assert [m["time"] for m in fills] == fill_minutes
    wait_painted(page, "[data-bot-chart=market]", 1000)
    wait_painted(page, "[data-bot-chart=equity]", 1000)
    assert "fast, slow" in page.locator("[data-bot-chart-legend]").inner_text()
    history = page.locator("#bot-trades").inner_text()
    assert "opens" in history and "No trades yet." not in history
    page.locator("[data-bot-chart=market]").scroll_into_view_if_needed()
    shot(page, "bot-detail-signal")
    assert page.errors == []


def test_a_running_paper_bots_fill_adds_its_marker_without_a_reload(
    signed_in, alice, make_bot, feeder, bot_worker, shot
):
    page = signed_in
    _candles()
    bot = make_bot(alice, name="alice-maker-chart")
    with page.expect_websocket(lambda ws: f"/ws/bots/{bot.pk}/" in ws.url):
        page.goto(f"/trading/bots/{bot.pk}/")
    root = _chart_ready(page)
    assert root.get_attribute("data-fill-markers") == "0"
    page.evaluate("window.loadedOnce = true")  # gone if the page were reloaded
    shot(page, "bot-detail-before-fill")

    with feeder():
        bot_start(bot=bot)
        wait_for(
            page,
            "() => Number(document.querySelector('[data-bot-chart-url]').dataset.fillMarkers) > 0",
        )
        bot_stop(bot=bot)
    # every fill the socket brought is in the trade history too (it reloads after each one; the
    # fills table shows the latest 30)
    wait_for(
        page,
        "() => document.querySelectorAll('#bot-trades tbody tr td.num').length > 0 &&"
        " Math.min(document.querySelectorAll('#bot-trades tbody tr').length, 30) =="
        " document.querySelectorAll('#fills tbody tr[data-fill-id]').length",
    )
    markers = page.evaluate("window.PeregrineBotDetail.pages[0].markers")
    assert len(markers) >= page.locator("#fills tbody tr[data-fill-id]").count() > 0

    shown = page.evaluate("Object.keys(window.PeregrineBotDetail.pages[0].fills).map(Number)")
    assert set(shown) <= set(Fill.objects.filter(bot=bot).values_list("pk", flat=True))
    last_bar = page.evaluate(
        "window.PeregrineBotDetail.pages[0].candleChart.forming.current()"
    )  # the bot's fill moved the forming bar to its minute
    first_fill = Fill.objects.filter(bot=bot).order_by("executed_at").first()
    assert last_bar["time"] >= int(first_fill.executed_at.timestamp()) // 60 * 60
    assert page.evaluate("window.loadedOnce") is True
    page.locator("[data-bot-chart=market]").scroll_into_view_if_needed()
    shot(page, "bot-detail-after-fill")
    assert page.errors == []


@pytest.mark.parametrize(
    ("strategy", "params", "lines"),
    [
        ("rsi_mean_reversion", {"period": 14}, "rsi"),
        ("macd", {"fast": 12, "slow": 26, "signal": 9}, "macd, signal, histogram"),
    ],
)
def test_rsi_and_macd_bots_draw_their_indicator_in_a_pane_under_the_price(
    signed_in, alice, make_bot, shot, strategy, params, lines
):
    page = signed_in
    _candles()
    bot = make_bot(alice, name=f"alice-{strategy}", strategy=strategy, params=params)
    page.goto(f"/trading/bots/{bot.pk}/")
    _chart_ready(page)
    panes = page.evaluate("window.PeregrineBotDetail.pages[0].candleChart.chart.panes().length")
    assert panes == 2
    wait_painted(page, "[data-bot-chart=market]", 1000)
    assert lines in page.locator("[data-bot-chart-legend]").inner_text()
    page.locator("[data-bot-chart=market]").scroll_into_view_if_needed()
    shot(page, f"bot-detail-{strategy}")
    assert page.errors == []


def test_a_new_minute_snapshot_draws_the_equity_chart_without_a_reload(
    signed_in, alice, make_bot, shot
):
    from portfolio.services import bot_performance_record
    from trading.events import events_flush

    page = signed_in
    bot = make_bot(alice, name="alice-equity")
    bot_performance_record(bots=[bot], at=_at(2))
    with page.expect_websocket(lambda ws: f"/ws/bots/{bot.pk}/" in ws.url):
        page.goto(f"/trading/bots/{bot.pk}/")
    root = _chart_ready(page)
    assert root.get_attribute("data-equity-points") == "1"
    equity = page.locator("[data-bot-chart=equity]")
    assert "is-empty" in equity.get_attribute("class")  # one point is no curve: the note says so

    bot_performance_record(bots=[bot], at=_at(1))  # the snapshot sends the bot's equity event
    events_flush()
    wait_for(
        page, "() => document.querySelector('[data-bot-chart-url]').dataset.equityPoints === '2'"
    )
    assert "is-empty" not in equity.get_attribute("class")
    wait_painted(page, "[data-bot-chart=equity]", 500)
    assert "→" in page.locator("#equity-curve").inner_text()
    equity.scroll_into_view_if_needed()
    shot(page, "bot-detail-equity-live")
    assert page.errors == []
