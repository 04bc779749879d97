"""An operator, past the OTP step, reads the anonymous realized costs in the admin."""

from __future__ import annotations

import uuid

import pytest

from tests.trading.test_realized_costs import fill
from trading.services.realized_costs import realized_costs_refresh

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_operator_sees_fee_and_slippage_per_market(
    page, sign_in, shot, django_user_model, totp_code
):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    exchange = f"feex-{uuid.uuid4().hex[:6]}"
    for i in range(6):
        user = django_user_model.objects.create_user(email=f"t{i}-{exchange}@example.com")
        fill(user, exchange, "buy", "1", "100.5", fee="0.1005")  # 10 bp fee, 50 bp slippage
        if i < 3:  # a second market with three users only: never shown
            fill(user, exchange, "buy", "1", "100", fee="0.1", symbol="ETH/USDT")
    realized_costs_refresh()

    operator = django_user_model.objects.create_superuser(
        email=f"op-{exchange}@example.com", password="x" * 12
    )
    device = TOTPDevice.objects.create(user=operator, name="app", confirmed=True)
    sign_in(page, operator)
    page.goto("/admin/trading/realizedcost/")
    if "/2fa/verify/" in page.url:
        page.fill("input[name=code]", totp_code(device))
        page.get_by_role("button", name="Verify").click()
        page.wait_for_url(lambda url: "/2fa/verify/" not in url)
        page.goto("/admin/trading/realizedcost/")
    table = page.locator("#result_list")
    table.wait_for()
    text = table.inner_text()
    shot(page, "realized-costs")
    assert exchange in text and "BTC/USDT" in text and "ETH/USDT" not in text
    row = page.locator("#result_list tbody tr").first.inner_text()
    assert "taker" in row and "603.00" in row and "10.00" in row and "50.00" in row
    assert "30 days" in row
    assert page.locator(".object-tools a.addlink").count() == 0  # read-only: nothing to add
