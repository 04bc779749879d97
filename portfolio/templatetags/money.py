"""Display filters for exact amounts: money to cents, quantities without float noise."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from django import template
from django.contrib.humanize.templatetags.humanize import intcomma

register = template.Library()


def _decimal(value) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation:
        return None


@register.filter
def money(value, places: int = 2) -> str:
    """1234.5678 -> '1,234.57'; None -> '–'."""
    number = _decimal(value)
    if number is None:
        return "–"
    quantum = Decimal(1).scaleb(-int(places))
    return intcomma(f"{number.quantize(quantum, rounding=ROUND_HALF_EVEN):f}")


@register.filter
def amount(value, places: int = 8) -> str:
    """A quantity to at most `places` decimals, trailing zeros dropped: 0.50000000 -> '0.5'."""
    number = _decimal(value)
    if number is None:
        return "–"
    text = f"{number.quantize(Decimal(1).scaleb(-int(places)), rounding=ROUND_HALF_EVEN):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


@register.filter
def price(value, digits: int = 6) -> str:
    """A price (or an amount in a quote like ETH) with `digits` significant digits and at least
    two decimals, trailing zeros beyond those dropped: 30001 -> '30,001.00',
    0.00153210 -> '0.0015321', 0.5 -> '0.50'; None -> '–'."""
    number = _decimal(value)
    if number is None:
        return "–"
    if not number:
        return "0.00"
    places = max(2, int(digits) - number.adjusted() - 1)
    text = f"{number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN):f}"
    whole, _, fraction = text.partition(".")
    fraction = fraction.rstrip("0").ljust(2, "0")
    return f"{intcomma(whole)}.{fraction}"


@register.filter
def sign_class(value) -> str:
    """'pos' above zero, 'neg' below, '' at zero: for colouring PnL."""
    number = _decimal(value)
    if not number:
        return ""
    return "pos" if number > 0 else "neg"
