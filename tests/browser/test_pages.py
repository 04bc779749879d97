"""Every page in the signed-in navigation opens in a real browser without a script error, and is
kept as a screenshot; pages still to come are skipped with the reason, never silently."""

from __future__ import annotations

import pytest
from django.urls import NoReverseMatch, reverse

pytestmark = pytest.mark.django_db(transaction=True)


def test_every_navigation_page_opens_without_a_script_error(signed_in, shot):
    page = signed_in
    page.goto("/")
    shot(page, "home")
    links = page.locator("nav a[href^='/']")
    targets = sorted({links.nth(i).get_attribute("href") for i in range(links.count())} - {"/"})
    assert "/trading/bots/" in targets
    for href in targets:
        response = page.goto(href)
        assert response.status == 200, href
        if not href.startswith("/api/"):  # the API docs are Swagger UI, not our layout
            assert page.locator("h1").first.is_visible(), href
        shot(page, href.strip("/").replace("/", "-") or "root")
    assert page.errors == []


def test_market_page_draws_its_chart(signed_in, shot):
    try:
        list_url = reverse("marketdata:market-list")
    except NoReverseMatch:
        pytest.skip("no Markets page yet (marketdata:market-list is not routed)")
    page = signed_in
    assert page.goto(list_url).status == 200
    shot(page, "market-list")
    detail = page.locator("a[href*='/marketdata/']").first
    if detail.count() == 0:
        pytest.skip("the Markets page lists no market to open")
    detail.click()
    page.locator("canvas").first.wait_for()  # lightweight-charts draws on canvases
    shot(page, "market-detail")
    assert page.errors == []
