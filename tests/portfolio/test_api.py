"""Portfolio API: alice reads her books, bob gets 404 on hers, anonymous gets nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from portfolio.models import BotPerformance


@pytest.fixture
def alice_bot(alice, make_bot, add_fill, venue, publish_mark):
    bot = make_bot(alice, venues=[venue], name="alice-mm")
    add_fill(bot, "buy", "1", "100", fee="0.1")
    add_fill(bot, "buy", "2", "110", fee="0.1")
    add_fill(bot, "sell", "2.5", "120", fee="0.1")
    publish_mark(venue, "BTC/USDT", last="130")
    BotPerformance.objects.create(
        bot=bot,
        at=datetime(2026, 1, 5, 12, 0, tzinfo=UTC),
        valuation_asset="USDT",
        total_value=D("10000.123456789"),
        cash=D("10000"),
        crypto=D("0.123456789"),
        trades=3,
        winning_trades=1,
    )
    return bot


def _get(client, url, token=None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return client.get(url, **headers)


def test_alice_reads_her_bot_with_exact_fifo_numbers(client, alice, alice_bot, api_token_for):
    token = api_token_for(alice, "read")
    data = _get(client, f"/api/v1/portfolio/bots/{alice_bot.pk}/", token).json()
    assert data["name"] == "alice-mm" and data["valuation_asset"] == "USDT"
    assert data["realized_pnl"] == "35"  # FIFO: 1@100 +20, 1.5@110 +15
    assert data["unrealized_pnl"] == "10"  # 0.5 left at 110, mark 130
    assert data["fees"] == "0.3" and data["fees_by_asset"] == {"USDT": "0.3"}
    assert data["net_pnl"] == "44.7"
    assert (data["trades"], data["closing_trades"], data["winning_trades"]) == (3, 1, 1)
    assert data["positions"][0]["qty"] == "0.5" and data["positions"][0]["mark"] == "130"

    summary = _get(client, "/api/v1/portfolio/", token).json()
    assert [bot["name"] for bot in summary["bots"]] == ["alice-mm"]
    assert summary["totals"]["USDT"]["net"] == "44.7"

    curve = _get(client, f"/api/v1/portfolio/bots/{alice_bot.pk}/equity/", token).json()
    assert curve["count"] == 1
    assert curve["results"][0]["total_value"] == "10000.123456789"
    since = _get(
        client,
        f"/api/v1/portfolio/bots/{alice_bot.pk}/equity/?since=2026-01-05T12:01:00Z",
        token,
    ).json()
    assert since["count"] == 0


def test_bob_gets_404_on_alices_bot_and_an_empty_portfolio(client, bob, alice_bot, api_token_for):
    token = api_token_for(bob, "read")
    for url in (
        f"/api/v1/portfolio/bots/{alice_bot.pk}/",
        f"/api/v1/portfolio/bots/{alice_bot.pk}/equity/",
        "/api/v1/portfolio/bots/nonsense/",
    ):
        response = _get(client, url, token)
        assert response.status_code == 404, url
        assert "alice-mm" not in response.content.decode()
        assert set(response.json()["error"]) == {"code", "message", "fields"}
    summary = _get(client, "/api/v1/portfolio/", token).json()
    assert summary["bots"] == [] and summary["totals"] == {}
    assert _get(client, "/api/v1/portfolio/balances/", token).json() == []


def test_anonymous_gets_nothing(client, alice_bot):
    for url in (
        "/api/v1/portfolio/",
        "/api/v1/portfolio/balances/",
        f"/api/v1/portfolio/bots/{alice_bot.pk}/",
        f"/api/v1/portfolio/bots/{alice_bot.pk}/equity/",
    ):
        assert client.get(url).status_code in (401, 403), url


def test_a_bad_since_is_a_field_error(client, alice, alice_bot, api_token_for):
    response = _get(
        client,
        f"/api/v1/portfolio/bots/{alice_bot.pk}/equity/?since=yesterday",
        api_token_for(alice),
    )
    assert response.status_code == 400 and "since" in response.json()["error"]["fields"]
