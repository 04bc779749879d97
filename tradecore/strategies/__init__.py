"""Strategies, their configs and the registry the platform looks them up in."""

from __future__ import annotations

from collections.abc import Mapping

from tradecore.strategies.arbitrage import (
    CrossExchangeMarketMakingStrategy,
    SpatialArbitrageStrategy,
    TriangularArbitrageStrategy,
)
from tradecore.strategies.base import (
    ConfigError,
    SignalStrategy,
    Strategy,
    StrategyConfig,
    StrategyContext,
)
from tradecore.strategies.grid_dca import DcaStrategy, GridStrategy
from tradecore.strategies.market_making import (
    AvellanedaStoikovStrategy,
    PureMarketMakingStrategy,
)
from tradecore.strategies.rules import RulesStrategy
from tradecore.strategies.signals import (
    BollingerStrategy,
    EmaCrossStrategy,
    MacdStrategy,
    RsiMeanReversionStrategy,
    SmaCrossStrategy,
)
from tradecore.strategies.webhook import WebhookSignalStrategy

REGISTRY: dict[str, type[Strategy]] = {}


def register(cls: type[Strategy]) -> type[Strategy]:
    REGISTRY[cls.strategy_id] = cls
    return cls


for _cls in (
    PureMarketMakingStrategy,
    AvellanedaStoikovStrategy,
    CrossExchangeMarketMakingStrategy,
    SpatialArbitrageStrategy,
    TriangularArbitrageStrategy,
    EmaCrossStrategy,
    SmaCrossStrategy,
    RsiMeanReversionStrategy,
    MacdStrategy,
    BollingerStrategy,
    GridStrategy,
    DcaStrategy,
    WebhookSignalStrategy,
    RulesStrategy,
):
    register(_cls)


def get_strategy_class(strategy_id: str) -> type[Strategy]:
    try:
        return REGISTRY[strategy_id]
    except KeyError:
        known = ", ".join(sorted(REGISTRY))
        raise ConfigError("strategy", f"unknown strategy {strategy_id!r}; known: {known}") from None


def validate_config(strategy_id: str, params: Mapping) -> StrategyConfig:
    """Build the strategy's config from `params`, raising ConfigError naming the bad field."""
    config_class = get_strategy_class(strategy_id).config_class
    known = set(config_class.__dataclass_fields__)
    for name in params:
        if name not in known:
            raise ConfigError(
                name, f"unknown parameter for {strategy_id}; known: {', '.join(sorted(known))}"
            )
    return config_class(**dict(params))


def json_schemas() -> dict[str, dict]:
    return {sid: cls.config_class.json_schema() for sid, cls in REGISTRY.items()}


__all__ = [
    "REGISTRY",
    "ConfigError",
    "SignalStrategy",
    "Strategy",
    "StrategyConfig",
    "StrategyContext",
    "get_strategy_class",
    "json_schemas",
    "validate_config",
]
