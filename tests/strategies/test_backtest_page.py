"""A long run's results page: the trade list in pages (Postgres cuts the page out of the stored
trades), the chart's fill markers thinned to one per side and chart bar past what a chart can
show, every figure still from the full results; owner-scoped."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
from django.urls import reverse

from strategies.models import BacktestRun
from strategies.views import CHART_MARKERS, TRADES_PER_PAGE

MINUTE = 60_000
T0 = 1_735_689_600_000  # 2025-01-01 UTC
TRADES = 2 * TRADES_PER_PAGE + 50
BARS = 2000  # chart bars
FILLS_PER_BAR = 4  # two buys and two sells on every chart bar


def _trade(i: int) -> dict:
    pnl = f"{(i % 7) - 3}.5"
    return {"entry_ts": T0 + i * 10 * MINUTE, "exit_ts": T0 + (i * 10 + 5) * MINUTE,
            "entry_price": f"{100 + i}", "exit_price": f"{101 + i}", "qty": "1", "fees": "0",
            "pnl": pnl, "return": 0.01}  # fmt: skip


@pytest.fixture
def long_run(alice):
    bars = [[T0 + k * MINUTE, 100.0, 101.0, 99.0, 100.5] for k in range(BARS)]
    markers = [
        {"time": T0 + k * MINUTE, "side": side, "price": f"{100 + j}"}
        for k in range(BARS)
        for j, side in enumerate(("buy", "sell", "buy", "sell"))
    ]
    results = {
        "metrics": {"total_return": 0.1, "trade_count": TRADES, "final_equity": 11_000.0},
        "bars": BARS,
        "equity": {"columns": ["ts", "equity", "buy_and_hold"],
                   "points": [[T0 + k * MINUTE, 10_000.0 + k, 10_000.0] for k in range(BARS)]},
        "chart": {"columns": ["ts", "open", "high", "low", "close"], "bars": bars},
        "markers": markers,
        "trades": [_trade(i) for i in range(TRADES)],
        "fills": [{"ts": m["time"], "side": m["side"], "price": m["price"], "qty": "1",
                   "fee": "0", "liquidity": "taker"} for m in markers],
    }  # fmt: skip
    return BacktestRun.objects.create(
        user=alice, strategy="sma_cross", params={"fast": 10, "slow": 30}, exchange="binance",
        symbol="BTC/USDT", timeframe="1m", start=datetime.fromtimestamp(T0 / 1000, tz=UTC),
        end=datetime.fromtimestamp((T0 + BARS * MINUTE) / 1000, tz=UTC), cash=10_000,
        fee_rate="0.001", status="done", results=results,
    )  # fmt: skip


def _page(client, run, **query) -> str:
    response = client.get(reverse("strategies:backtest-detail", args=[run.pk]), query)
    assert response.status_code == 200
    return response.content.decode()


def _rows(html: str) -> list[str]:
    body = html.split('id="backtest-trades"', 1)[1].split("</tbody>", 1)[0]
    return re.findall(r"<tr><td><small>([^<]+)</small>", body)


def test_the_trade_list_comes_in_pages_and_a_page_past_the_end_shows_the_last(
    alice_client, long_run
):
    first = _page(alice_client, long_run)
    assert _rows(first)[0] == "2025-01-01 00:00" and len(_rows(first)) == TRADES_PER_PAGE
    assert f"Trades 1–{TRADES_PER_PAGE} of {TRADES}" in first
    assert "?trades_page=2" in first and "Previous" not in first
    second = _page(alice_client, long_run, trades_page=2)
    entry = datetime.fromtimestamp(_trade(TRADES_PER_PAGE)["entry_ts"] / 1000, tz=UTC)
    assert _rows(second)[0] == f"{entry:%Y-%m-%d %H:%M}"
    last = _page(alice_client, long_run, trades_page=3)
    assert len(_rows(last)) == TRADES - 2 * TRADES_PER_PAGE
    assert "?trades_page=2" in last and "Next" not in last
    assert _rows(_page(alice_client, long_run, trades_page=99)) == _rows(last)
    assert _rows(_page(alice_client, long_run, trades_page="x")) == _rows(first)
    assert "Total return" in first  # the metrics come from the whole results


def test_the_chart_gets_at_most_one_marker_per_side_and_bar_on_a_long_run(alice_client, long_run):
    assert len(long_run.results["markers"]) > CHART_MARKERS
    html = _page(alice_client, long_run)
    script = re.search(rf'<script id="backtest-data-{long_run.pk}"[^>]*>(.*?)</script>', html, re.S)
    data = json.loads(script.group(1))
    assert len(data["bars"]) == BARS and len(data["equity"]) == BARS
    kept = {(m["time"], m["side"]) for m in data["markers"]}
    assert len(kept) == len(data["markers"]) == 2 * BARS  # the first buy and sell of each bar
    assert data["markers"][:2] == long_run.results["markers"][:2]


def test_another_users_run_page_is_not_found(bob_client, client, long_run):
    url = reverse("strategies:backtest-detail", args=[long_run.pk])
    assert bob_client.get(url, {"trades_page": 2}).status_code == 404
    assert client.get(url).status_code in (302, 404)
