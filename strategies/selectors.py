"""Reads of the strategies app: the catalog (from tradecore's registry) and saved configs."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet
from django.http import Http404

from strategies.models import StrategyConfig
from tradecore.strategies import REGISTRY

FAMILIES = {
    "pure_market_making": "market_making",
    "avellaneda_stoikov": "market_making",
    "cross_exchange_market_making": "arbitrage",
    "spatial_arbitrage": "arbitrage",
    "triangular_arbitrage": "arbitrage",
    "ema_cross": "signal",
    "sma_cross": "signal",
    "rsi_mean_reversion": "signal",
    "macd": "signal",
    "bollinger": "signal",
    "grid": "grid",
    "dca": "grid",
}
# Config fields naming the venues a multi-venue strategy trades on (they must be bot venues).
VENUE_FIELDS = {
    "cross_exchange_market_making": ("maker_venue", "taker_venue"),
    "spatial_arbitrage": ("venue_a", "venue_b"),
}
# Config fields naming the symbols a strategy trades besides the bot's own.
SYMBOL_FIELDS = {"triangular_arbitrage": ("first_symbol", "second_symbol", "third_symbol")}


@dataclass(frozen=True)
class CatalogEntry:
    """One strategy of the catalog with its parameters' JSON schema."""

    id: str
    name: str
    family: str
    description: str
    schema: dict
    venue_fields: tuple[str, ...]
    symbol_fields: tuple[str, ...]


def _entry(strategy_id: str) -> CatalogEntry:
    cls = REGISTRY[strategy_id]
    doc = (cls.__doc__ or "").strip()
    return CatalogEntry(
        id=strategy_id,
        name=strategy_id.replace("_", " ").capitalize(),
        family=FAMILIES.get(strategy_id, "other"),
        description=" ".join(doc.split()),
        schema=cls.config_class.json_schema(),
        venue_fields=VENUE_FIELDS.get(strategy_id, ()),
        symbol_fields=SYMBOL_FIELDS.get(strategy_id, ()),
    )


def strategy_catalog() -> list[CatalogEntry]:
    """Every strategy a bot can run, by family then id."""
    return sorted((_entry(sid) for sid in REGISTRY), key=lambda e: (e.family, e.id))


def strategy_get(*, strategy_id: str) -> CatalogEntry:
    """One catalog entry; Http404 for an unknown id."""
    if strategy_id not in REGISTRY:
        raise Http404("No such strategy.")
    return _entry(strategy_id)


def strategy_config_list(*, user) -> QuerySet[StrategyConfig]:
    """The user's saved strategy configs, by name."""
    return StrategyConfig.objects.filter(user_id=user.pk).order_by("name", "created_at")


def strategy_config_get_for_user(*, user, id) -> StrategyConfig:  # noqa: A002
    """One of the user's saved configs; Http404 for anyone else's or an unknown id."""
    try:
        return strategy_config_list(user=user).get(pk=int(id))
    except (StrategyConfig.DoesNotExist, TypeError, ValueError):
        raise Http404("No such strategy config.") from None
