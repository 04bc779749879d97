"""Bot and strategy configs as JSON files: exported, imported back to the same configuration
(round trip), every bad field named on import with nothing written; pages and API
owner-scoped and in the OpenAPI schema."""

from __future__ import annotations

import io
import json

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from strategies.config_files import (
    bot_config_export,
    bot_config_import,
    file_parse,
    strategy_config_export,
    strategy_config_import,
)
from strategies.models import StrategyConfig
from strategies.services import strategy_config_save
from trading.models import Bot
from trading.services.bots import bot_create


@pytest.fixture
def bot(alice):
    return bot_create(
        user=alice, name="Trend BTC", strategy="ema_cross", params={"fast": 8, "slow": 21},
        symbols=["BTC/USDT"], venues=[{"exchange": "binance"}], budget="2500.50",
        risk_limits={"max_open_orders": 4, "stop_loss_fraction": "0.05"}, on_breach="kill",
        timer_ms=2000,
    )  # fmt: skip


@pytest.fixture
def config(alice):
    return strategy_config_save(
        user=alice, name="Fast RSI", strategy="rsi_mean_reversion",
        params={"period": 7, "oversold": 20}, description="scalp",
    )  # fmt: skip


def _same(a: dict, b: dict, *, but=("name",)) -> None:
    assert {k: v for k, v in a.items() if k not in but} == {
        k: v for k, v in b.items() if k not in but
    }


def test_a_strategy_config_round_trips_through_its_file(alice, config):
    exported = strategy_config_export(config)
    assert exported["format"] == "peregrine.strategy_config" and exported["version"] == 1
    text = json.dumps(exported)
    imported = strategy_config_import(user=alice, data=file_parse(text.encode()), name="Copy")
    assert imported.pk != config.pk and imported.name == "Copy"
    _same(strategy_config_export(imported), exported)
    assert imported.params == config.params and imported.description == "scalp"


def test_a_bot_round_trips_through_its_file(alice, bot):
    exported = bot_config_export(bot)
    assert exported["venues"] == [{"exchange": "binance"}] and exported["budget"] == "2500.5"
    assert "exchange_account" not in json.dumps(exported)
    copy, notes = bot_config_import(user=alice, data=file_parse(json.dumps(exported)),
                                    name="Trend BTC 2")  # fmt: skip
    assert notes == [] and copy.status == "draft" and copy.mode == "paper"
    _same(bot_config_export(copy), exported)
    assert copy.risk_limits == bot.risk_limits and copy.on_breach == "kill"


def test_a_live_bots_file_comes_back_as_a_paper_draft_and_says_so(alice, bot):
    data = {**bot_config_export(bot), "mode": "live", "name": "From live"}
    copy, notes = bot_config_import(user=alice, data=data)
    assert copy.mode == "paper" and "imported as a paper draft" in notes[0]


def _errors(fn, **kwargs) -> dict:
    with pytest.raises(ValidationError) as caught:
        fn(**kwargs)
    return caught.value.message_dict


def test_a_bad_file_is_refused_naming_each_field_and_nothing_is_written(alice, bot, config):
    good = bot_config_export(bot)
    before = (Bot.objects.count(), StrategyConfig.objects.count())
    assert "not JSON (line 1, column 2)" in _errors(file_parse, raw=b"{oops")["file"][0]
    assert "one JSON object" in _errors(file_parse, raw="[1]")["file"][0]
    wrong = _errors(bot_config_import, user=alice, data={"format": "something"})
    assert "Not a Peregrine config file" in wrong["format"][0]
    kind = _errors(strategy_config_import, user=alice, data=good)
    assert kind == {"format": ["This is a peregrine.bot file; expected peregrine.strategy_config."]}
    shape = _errors(bot_config_import, user=alice, data={
        **good, "budget": True, "symbols": "BTC/USDT", "colour": "red", "version": 2,
    })  # fmt: skip
    assert set(shape) == {"budget", "symbols", "colour", "version"}
    assert shape["symbols"] == ["Must be a list."] and "Unknown field" in shape["colour"][0]
    missing = {k: v for k, v in good.items() if k != "venues"}
    assert _errors(bot_config_import, user=alice, data=missing) == {
        "venues": ["This field is required."]
    }
    values = _errors(bot_config_import, user=alice, data={
        **good, "params": {"fast": 50, "slow": 21}, "risk_limits": {"max_open_orders": "x"},
        "venues": [{"exchange": "nowhere"}],
    })  # fmt: skip
    assert set(values) >= {"params.fast", "risk_limits.max_open_orders", "venues.0", "name"}
    params = _errors(strategy_config_import, user=alice, data={
        **strategy_config_export(config), "params": {"period": 1, "overbought": 200},
    })  # fmt: skip
    assert set(params) == {"params.period", "params.overbought", "name"}
    assert (Bot.objects.count(), StrategyConfig.objects.count()) == before


def test_the_config_files_page_exports_and_imports_both_kinds(alice_client, bot, config):
    url = reverse("strategies:config-files")
    page = alice_client.get(url).content.decode()
    bot_url = reverse("strategies:bot-config-export", args=[bot.pk])
    config_url = reverse("strategies:strategy-config-export", args=[config.pk])
    assert bot_url in page and config_url in page
    download = alice_client.get(bot_url)
    assert download["Content-Disposition"] == 'attachment; filename="bot-trend-btc.json"'
    upload = io.BytesIO(download.content)
    upload.name = "bot.json"
    response = alice_client.post(url, {"file": upload, "name": "Imported bot"})
    imported = Bot.objects.get(name="Imported bot")
    assert response.status_code == 302 and response["Location"] == reverse(
        "trading:bot-detail", args=[imported.pk]
    )
    conf = io.BytesIO(alice_client.get(config_url).content)
    conf.name = "c.json"
    assert alice_client.post(url, {"file": conf, "name": "Copy"}).status_code == 302
    assert StrategyConfig.objects.filter(name="Copy").exists()
    bad = io.BytesIO(json.dumps({**bot_config_export(bot), "budget": "-1"}).encode())
    bad.name = "bad.json"
    refused = alice_client.post(url, {"file": bad})
    html = refused.content.decode()
    assert (
        refused.status_code == 400 and "<code>budget</code>" in html and "<code>name</code>" in html
    )
    assert alice_client.post(url, {}).status_code == 400


def test_the_api_exports_and_imports_both_kinds(alice_client, bot, config, api_token_for, alice):
    exported = alice_client.get(f"/api/v1/bot-configs/{bot.pk}/export/").json()
    assert exported == bot_config_export(bot)
    created = alice_client.post("/api/v1/bot-configs/import/?name=API+bot", exported,
                                content_type="application/json")  # fmt: skip
    assert created.status_code == 201 and created.json()["mode"] == "paper"
    conf = alice_client.get(f"/api/v1/strategy-configs/{config.pk}/export/").json()
    saved = alice_client.post("/api/v1/strategy-configs/import/?name=API+config", conf,
                              content_type="application/json")  # fmt: skip
    assert saved.status_code == 201 and saved.json()["params"] == config.params
    bad = alice_client.post("/api/v1/strategy-configs/import/", {**conf, "params": {"nope": 1}},
                            content_type="application/json")  # fmt: skip
    assert bad.status_code == 400 and "params.nope" in bad.json()["error"]["fields"]
    from django.test import Client

    reader = Client(HTTP_AUTHORIZATION=f"Bearer {api_token_for(alice, 'read')}")
    assert reader.get(f"/api/v1/bot-configs/{bot.pk}/export/").status_code == 200
    refused = reader.post("/api/v1/bot-configs/import/", exported, content_type="application/json")
    assert refused.status_code == 403


def test_config_files_are_owner_scoped(bot, config, bob_client, client):
    for url in (reverse("strategies:bot-config-export", args=[bot.pk]),
                reverse("strategies:strategy-config-export", args=[config.pk]),
                f"/api/v1/bot-configs/{bot.pk}/export/",
                f"/api/v1/strategy-configs/{config.pk}/export/"):  # fmt: skip
        assert bob_client.get(url).status_code == 404, url
        anonymous = client.get(url).status_code
        assert anonymous == 302 if not url.startswith("/api/") else anonymous in (401, 403)
    page = bob_client.get(reverse("strategies:config-files")).content.decode()
    assert "Trend BTC" not in page and "Fast RSI" not in page
    assert client.post("/api/v1/bot-configs/import/", {}, content_type="application/json") \
        .status_code in (401, 403)  # fmt: skip


def test_config_files_are_in_the_openapi_schema(alice_client, db):
    paths = alice_client.get("/api/schema/", {"format": "json"}).json()["paths"]
    for path in ("/api/v1/bot-configs/import/", "/api/v1/strategy-configs/import/"):
        assert "post" in paths[path]
    for path in ("/api/v1/bot-configs/{id}/export/", "/api/v1/strategy-configs/{id}/export/"):
        assert "get" in paths[path]
