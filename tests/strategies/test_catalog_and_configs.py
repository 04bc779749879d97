"""Strategy catalog from tradecore's registry, and saved configs validated before they are saved."""

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from strategies.models import StrategyConfig
from strategies.selectors import strategy_catalog
from strategies.services import strategy_config_save, strategy_params_validate
from tradecore.strategies import REGISTRY


def test_the_catalog_lists_every_registered_strategy_with_its_schema():
    catalog = {entry.id: entry for entry in strategy_catalog()}
    assert set(catalog) == set(REGISTRY)
    ema = catalog["ema_cross"]
    assert ema.family == "signal"
    assert ema.schema["properties"]["fast"]["type"] == "integer"
    assert ema.schema["additionalProperties"] is False
    assert catalog["cross_exchange_market_making"].venue_fields == ("maker_venue", "taker_venue")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"fast": "x"}, "fast"),
        ({"fast": 30, "slow": 20}, "fast"),  # tradecore's own rule: fast below slow
        ({"allocation": 2}, "allocation"),
        ({"bogus": 1}, "bogus"),
    ],
)
def test_bad_parameters_are_refused_naming_the_field(params, field):
    with pytest.raises(ValidationError) as info:
        strategy_params_validate(strategy="ema_cross", params=params)
    assert field in info.value.message_dict


def test_good_parameters_come_back_complete_with_decimals_as_strings():
    clean = strategy_params_validate(
        strategy="pure_market_making", params={"bid_spread": "0.002", "order_amount": 0.5}
    )
    assert clean["bid_spread"] == "0.002" and clean["order_amount"] == "0.5"
    assert clean["order_levels"] == 1  # defaults filled in


def test_saving_validates_first_and_saves_nothing_on_error(alice):
    with pytest.raises(ValidationError) as info:
        strategy_config_save(user=alice, name="", strategy="macd", params={"fast": 40})
    assert {"name", "fast"} <= set(info.value.message_dict)
    assert not StrategyConfig.objects.exists()
    config = strategy_config_save(user=alice, name="fast macd", strategy="macd",
                                  params={"fast": 5, "slow": 10, "signal": 3})  # fmt: skip
    assert config.params["fast"] == 5 and config.params["allocation"] == 1.0


def _config(user):
    return strategy_config_save(user=user, name="grid", strategy="grid", params={})


def test_api_personas_on_saved_configs(alice, alice_client, bob_client, api_token_for):
    config = _config(alice)
    url = f"/api/v1/strategy-configs/{config.pk}/"
    assert alice_client.get(url).json()["strategy"] == "grid"
    assert bob_client.get(url).status_code == 404
    assert bob_client.put(url, {"name": "x", "strategy": "grid"}, content_type="application/json"
                          ).status_code == 404  # fmt: skip
    assert bob_client.delete(url).status_code == 404
    assert bob_client.get("/api/v1/strategy-configs/").json() == []
    assert Client().get(url).status_code in (401, 403)
    reader = Client(HTTP_AUTHORIZATION=f"Bearer {api_token_for(alice, 'read')}")
    assert reader.get(url).status_code == 200
    assert reader.delete(url).status_code == 403
    config.refresh_from_db()
    assert config.name == "grid"


def test_api_saves_with_field_errors(alice_client):
    bad = {"name": "x", "strategy": "grid", "params": {"lower_price": 120, "upper_price": 110}}
    response = alice_client.post("/api/v1/strategy-configs/", bad, content_type="application/json")
    assert response.status_code == 400
    assert "lower_price" in response.json()["error"]["fields"]
    good = {"name": "x", "strategy": "grid", "params": {"lower_price": 90, "upper_price": 110}}
    response = alice_client.post("/api/v1/strategy-configs/", good, content_type="application/json")
    assert response.status_code == 201
    catalog = alice_client.get("/api/v1/strategies/").json()
    assert {"grid", "ema_cross"} <= {entry["id"] for entry in catalog}
    assert alice_client.get("/api/v1/strategies/nope/").status_code == 404
