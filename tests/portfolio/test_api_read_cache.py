"""API reads are cached per user until the user's data changes (config/readcache.py)."""

from __future__ import annotations

import pytest
from django.test import Client

from trading.events import bot_event, bot_events_send, events_flush


@pytest.fixture(autouse=True)
def _cache_on(settings):
    settings.PEREGRINE_API_CACHE_SECONDS = 300  # long: only a data change may drop an answer


@pytest.fixture
def api(api_token_for):
    def make(user, scope="read"):
        return Client(HTTP_AUTHORIZATION=f"Bearer {api_token_for(user, scope)}")

    return make


def _trade_ids(response) -> list[str]:
    assert response.status_code == 200
    return [fill["trade_id"] for fill in response.json()["results"]]


def test_a_read_is_served_from_the_cache_until_an_event_about_the_users_bot(
    alice, api, make_bot, add_fill, venue, django_assert_max_num_queries
):
    client, bot = api(alice), make_bot(alice, venues=[venue])
    first = add_fill(bot, "buy", "0.1", "100")
    assert _trade_ids(client.get("/api/v1/fills/")) == [first.trade_id]

    second = add_fill(bot, "sell", "0.1", "101")  # written behind the API's back, no event
    with django_assert_max_num_queries(2):  # the token's lookup and its last use: no fill query
        assert _trade_ids(client.get("/api/v1/fills/")) == [first.trade_id]

    bot_events_send(
        bot_id=bot.pk, user_id=alice.pk, events=[bot_event(bot_id=bot.pk, kind="fill", data={})]
    )
    events_flush()
    assert _trade_ids(client.get("/api/v1/fills/")) == [second.trade_id, first.trade_id]


def test_any_write_request_of_the_user_drops_their_cached_reads(alice, bob, api, make_bot, venue):
    client, bot = api(alice, "trade"), make_bot(alice, venues=[venue], name="first")
    assert [b["name"] for b in client.get("/api/v1/bots/").json()] == ["first"]
    type(bot).objects.filter(pk=bot.pk).update(name="renamed")  # behind the API's back
    assert [b["name"] for b in client.get("/api/v1/bots/").json()] == ["first"]
    api(bob, "trade").post("/api/v1/kill-switch/", {}, content_type="application/json")
    assert [b["name"] for b in client.get("/api/v1/bots/").json()] == ["first"]  # bob's write
    client.post(f"/api/v1/bots/{bot.pk}/pause/")  # alice's write, whatever it answers
    assert [b["name"] for b in client.get("/api/v1/bots/").json()] == ["renamed"]


def test_the_cache_never_answers_one_user_with_anothers_data(
    alice, bob, api, make_bot, add_fill, venue
):
    alice_bot = make_bot(alice, venues=[venue])
    fill = add_fill(alice_bot, "buy", "0.1", "100")
    assert _trade_ids(api(alice).get("/api/v1/fills/")) == [fill.trade_id]
    assert _trade_ids(api(bob).get("/api/v1/fills/")) == []
    assert api(bob).get(f"/api/v1/bots/{alice_bot.pk}/").status_code == 404
    assert Client().get("/api/v1/fills/").status_code in (401, 403)


def test_query_strings_are_cached_apart(alice, api, make_bot, add_fill, venue):
    client, bot = api(alice), make_bot(alice, venues=[venue])
    fills = [add_fill(bot, "buy", "0.1", "100"), add_fill(bot, "sell", "0.1", "101")]
    assert _trade_ids(client.get("/api/v1/fills/?limit=1")) == [fills[1].trade_id]
    assert _trade_ids(client.get("/api/v1/fills/?limit=2")) == [f.trade_id for f in fills[::-1]]


def test_off_when_the_lifetime_is_zero(alice, api, make_bot, add_fill, venue, settings):
    settings.PEREGRINE_API_CACHE_SECONDS = 0
    client, bot = api(alice), make_bot(alice, venues=[venue])
    first = add_fill(bot, "buy", "0.1", "100")
    assert _trade_ids(client.get("/api/v1/fills/")) == [first.trade_id]
    second = add_fill(bot, "sell", "0.1", "101")
    assert _trade_ids(client.get("/api/v1/fills/")) == [second.trade_id, first.trade_id]


def test_page_data_is_kept_per_user_until_their_data_moves(alice, bob):
    from config.readcache import user_cached, user_data_changed

    calls = []

    def compute(who):
        calls.append(who)
        return f"{who}-{len(calls)}"

    assert user_cached(alice.pk, "page", lambda: compute("alice")) == "alice-1"
    assert user_cached(alice.pk, "page", lambda: compute("alice")) == "alice-1"
    assert user_cached(bob.pk, "page", lambda: compute("bob")) == "bob-2"
    user_data_changed(bob.pk)
    assert user_cached(alice.pk, "page", lambda: compute("alice")) == "alice-1"
    user_data_changed(alice.pk)
    assert user_cached(alice.pk, "page", lambda: compute("alice")) == "alice-3"
    assert calls == ["alice", "bob", "alice"]


def test_the_signed_in_pages_render_from_kept_data_and_refresh_on_an_event(
    alice, alice_client, make_bot, venue
):
    bot = make_bot(alice, venues=[venue], name="first")
    assert "first" in alice_client.get("/trading/bots/").content.decode()
    assert "first" in alice_client.get("/").content.decode()
    type(bot).objects.filter(pk=bot.pk).update(name="renamed")  # behind the pages' back
    assert "renamed" not in alice_client.get("/trading/bots/").content.decode()
    bot_events_send(
        bot_id=bot.pk, user_id=alice.pk, events=[bot_event(bot_id=bot.pk, kind="status", data={})]
    )
    assert "renamed" in alice_client.get("/trading/bots/").content.decode()
    assert "renamed" in alice_client.get("/").content.decode()
