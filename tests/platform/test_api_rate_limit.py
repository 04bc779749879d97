"""The API's request rate limits (config/throttling.py): DRF's rule over a Redis sorted set."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.test import Client

from config import throttling


@pytest.fixture
def rates(monkeypatch):
    """Small limits for the test (DRF binds its rates when the class is defined)."""
    limits = {"user": "3/min", "anon": "2/min"}
    monkeypatch.setattr(throttling.UserRateThrottle, "THROTTLE_RATES", limits)
    monkeypatch.setattr(throttling.AnonRateThrottle, "THROTTLE_RATES", limits)
    return limits


def test_a_user_over_the_rate_gets_429_with_retry_after_and_others_are_not_affected(
    alice, bob, api_token_for, rates
):
    alice_api = Client(HTTP_AUTHORIZATION=f"Bearer {api_token_for(alice)}")
    bob_api = Client(HTTP_AUTHORIZATION=f"Bearer {api_token_for(bob)}")
    assert [alice_api.get("/api/v1/me/").status_code for _ in range(3)] == [200, 200, 200]
    refused = alice_api.get("/api/v1/me/")
    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 60
    assert refused.json()["error"]["code"]
    assert bob_api.get("/api/v1/me/").status_code == 200  # a limit per user


def test_refused_requests_do_not_count_and_the_window_slides(alice, rates):
    throttle = throttling.UserRateThrottle()
    clock = [1_000_000.0]
    throttle.timer = lambda: clock[0]

    class Request:
        user = alice

    def allowed() -> bool:
        return throttle.allow_request(Request(), None)

    for _ in range(3):  # at 0, 10 and 20 s
        assert allowed()
        clock[0] += 10
    assert not allowed()
    assert throttle.wait() == pytest.approx(30)  # until the oldest of the three is 60 s old
    for _ in range(5):
        assert not allowed()  # refusals extend nothing
    clock[0] += 30.001  # 60.001 s after the first
    assert allowed()  # the first left the window
    assert not allowed()  # the other two and this one are in it


def test_concurrent_requests_are_all_counted(alice, rates, monkeypatch):
    monkeypatch.setitem(rates, "user", "10/min")

    class Request:
        user = alice

    def attempt(_):
        return throttling.UserRateThrottle().allow_request(Request(), None)

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(attempt, range(40)))
    assert results.count(True) == 10  # DRF's read-then-write let concurrent requests through


def test_anonymous_callers_are_limited_per_address(db, rates):
    from django.contrib.auth.models import AnonymousUser
    from django.test import RequestFactory

    def allowed(address: str) -> bool:
        request = RequestFactory().get("/api/schema/", REMOTE_ADDR=address)
        request.user = AnonymousUser()
        return throttling.AnonRateThrottle().allow_request(request, None)

    assert [allowed("203.0.113.7") for _ in range(3)] == [True, True, False]
    assert allowed("203.0.113.8")
