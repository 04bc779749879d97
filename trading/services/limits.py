"""A bot's risk limits: validated from a form or the API, built into tradecore's RiskLimits.

Used by the bots' services (create, update), the runtime (a runner re-reads them each slice)
and the trading panel; it depends on nothing of theirs.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError

from tradecore.risk import RiskLimits
from trading.models import Bot


def positive_decimal(value, name: str, errors: dict) -> Decimal | None:
    """`value` as a finite Decimal >= 0, None when empty; a bad one is added to `errors`."""
    if value is None or value == "":
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        errors[name] = f"{value!r} is not a number."
        return None
    if not number.is_finite() or number < 0:
        errors[name] = "Must be a positive number."
        return None
    return number


FRACTIONS = (
    "max_exposure_fraction",
    "price_band_fraction",
    "stop_loss_fraction",
    "take_profit_fraction",
    "trailing_stop_fraction",
    "max_drawdown_fraction",
)
INTEGERS = ("max_open_orders", "max_orders_per_minute")


def risk_limits_validate(limits: dict | None) -> dict:
    """Check a bot's risk limits (tradecore RiskLimits fields except budget); return them clean."""
    limits = dict(limits or {})
    known = set(RiskLimits.__dataclass_fields__) - {"budget"}
    errors: dict[str, str] = {}
    clean: dict[str, object] = {}
    for name, value in limits.items():
        key = f"risk_limits.{name}"
        if name not in known:
            errors[key] = f"Unknown risk limit; known: {', '.join(sorted(known))}."
        elif value is None or value == "":
            continue
        elif name in INTEGERS:
            if isinstance(value, bool) or not str(value).isdigit() or int(value) < 1:
                errors[key] = "Must be a whole number of at least 1."
            else:
                clean[name] = int(value)
        else:
            number = positive_decimal(value, key, errors)
            if number is not None:
                if name in FRACTIONS and not (0 < number <= 1):
                    errors[key] = "Must be a fraction between 0 and 1 (0.05 = 5%)."
                else:
                    clean[name] = str(number)
    if errors:
        raise ValidationError(errors)
    return clean


def risk_limits_build(bot: Bot) -> RiskLimits:
    """The tradecore RiskLimits of a bot (budget included)."""
    values = {}
    for name, value in (bot.risk_limits or {}).items():
        values[name] = int(value) if name in INTEGERS else Decimal(str(value))
    return RiskLimits(budget=bot.budget, **values)
