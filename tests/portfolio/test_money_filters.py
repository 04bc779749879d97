"""Display filters: prices keep their significant digits, whatever the market's magnitude."""

import pytest

from portfolio.templatetags.money import money, price


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("30001", "30,001.00"),
        ("0.00153210", "0.0015321"),  # XRP/ETH: two decimals would show 0.00
        ("0.5", "0.50"),
        ("-12.3456789", "-12.3457"),
        ("1234567.891", "1,234,567.89"),
        ("0", "0.00"),
        (None, "–"),
        ("not a number", "–"),
    ],
)
def test_price(value, shown):
    assert price(value) == shown


def test_money_stays_at_cents():
    assert money("0.0015321") == "0.00" and money("1234.565") == "1,234.56"
