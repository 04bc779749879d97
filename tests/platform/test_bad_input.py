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


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/orders/?limit=0",
        "/api/v1/orders/?limit=abc",
        "/api/v1/fills/?limit=-5",
        "/api/v1/fills/?offset=null",
        "/api/v1/fills/?limit=1001",
        "/api/v1/notification-deliveries/?offset=1.5",
        "/api/v1/orders/?active=maybe",
    ],
)
def test_a_page_limit_offset_or_filter_that_is_not_usable_is_refused_not_replaced(
    alice_client, url
):
    response = alice_client.get(url)
    assert response.status_code == 400, (url, response.content[:300])
    assert response.json()["error"]["fields"]


def test_text_fields_take_only_text(alice, api_token_for, client):
    """`{"reason": 0}` was stringified to "0" and the kill switch engaged; now it is refused."""
    from trading.models import KillSwitch

    token = api_token_for(alice, "trade")
    response = client.post(
        "/api/v1/kill-switch/",
        {"reason": 0},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["reason"] == ["Not a valid string."]
    assert not KillSwitch.objects.filter(user=alice).exists()
    response = client.post(
        "/api/v1/kill-switch/",
        {"reason": "leaving for the day"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 201
    assert KillSwitch.objects.get(user=alice).reason == "leaving for the day"


def test_an_api_path_that_matches_no_route_answers_in_the_api_error_shape(alice_client):
    response = alice_client.post("/api/v1/exchange-accounts/0/orders/null/cancel/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "not_found"


def test_the_schema_documents_pages_candles_and_error_responses(client, db):
    import yaml

    schema = yaml.safe_load(client.get("/api/schema/").content)
    paths = schema["paths"]
    components = schema["components"]["schemas"]

    def response_schema(path, method="get", code="200"):
        ref = paths[path][method]["responses"][code]["content"]["application/json"]["schema"]
        return components[ref["$ref"].rsplit("/", 1)[1]]

    for path in ("/api/v1/orders/", "/api/v1/fills/", "/api/v1/notification-deliveries/",
                 "/api/v1/bots/{id}/events/", "/api/v1/bots/{id}/signals/"):  # fmt: skip
        page = response_schema(path)
        assert set(page["properties"]) == {"count", "next", "previous", "results"}, path
        assert page["properties"]["results"]["type"] == "array"
    assert set(response_schema("/api/v1/marketdata/candles/")["properties"]) == {
        "exchange", "symbol", "timeframe", "results"
    }  # fmt: skip
    for path, operations in paths.items():
        for method, operation in operations.items():
            codes = set(operation["responses"])
            assert {"400", "401", "403", "429"} <= codes, (method, path, codes)
            if "{" in path:
                assert "404" in codes, (method, path)
            assert response_schema(path, method, "400") == components["Error"]
    assert "201" in paths["/api/v1/bots/"]["post"]["responses"]
    body = paths["/api/v1/bots/"]["post"]["requestBody"]["content"]
    assert list(body) == ["application/json"]
