"""Bad input gets a 4xx in the API's one error shape and changes nothing — never a 5xx.

The cases are the ones fuzzing found (each answered 500): a NUL in a text filter, a timestamp
out of the calendar's range, an integer past 64 bits, JSON nested thousands deep, a mistyped
balance. They are fixed by class in one input layer (config/inputs.py), not one by one.
"""

import pytest

from trading.models import Bot

pytestmark = pytest.mark.django_db

DEEP_ARRAY = "[" * 5000 + "]" * 5000
DEEP_OBJECT = '{"a":' * 3000 + "1" + "}" * 3000


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/bots/?status=a%00b",
        "/api/v1/bots/?name=%00",
        "/api/v1/orders/?symbol=BTC%00",
        "/api/v1/marketdata/candles/?exchange=sandbox&symbol=BTC/USDT&timeframe=1m"
        "&end=1599423566994021",
        "/api/v1/marketdata/candles/?exchange=sandbox&symbol=BTC/USDT&timeframe=1m"
        "&start=99999999999999999999",
        "/api/v1/orders/?limit=99999999999999999999",
        "/api/v1/fills/?limit=99999999999999999999",
        "/api/v1/fills/?offset=99999999999999999999",
        "/api/v1/orders/?bot=99999999999999999999",
    ],
)
def test_malformed_query_parameters_get_400(alice_client, url):
    response = alice_client.get(url)
    assert response.status_code == 400, (url, response.status_code, response.content[:300])
    assert response.json()["error"]["message"]


@pytest.mark.parametrize("url", ["/api/v1/bots/", "/api/v1/strategy-configs/"])
@pytest.mark.parametrize("body", [DEEP_ARRAY, DEEP_OBJECT, '{"name": "x\\u0000y"}'])
def test_bodies_nested_too_deep_or_with_nul_get_400_and_write_nothing(alice_client, url, body):
    before = Bot.objects.count()
    response = alice_client.post(url, body, content_type="application/json")
    assert response.status_code == 400, (url, response.status_code, response.content[:300])
    assert "error" in response.json()
    assert Bot.objects.count() == before


def test_a_mistyped_paper_balance_is_named(alice_client):
    body = {
        "name": "mm", "strategy": "pure_market_making", "symbols": ["BTC/USDT"],
        "venues": [{"exchange": "sandbox"}], "budget": "1000", "paper_balances": {"sandbox": "x"},
    }  # fmt: skip
    response = alice_client.post("/api/v1/bots/", body, content_type="application/json")
    assert response.status_code == 400, response.content[:300]
    assert "paper_balances" in str(response.json()["error"])
    assert not Bot.objects.exists()
