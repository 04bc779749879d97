"""Peregrine trading core: plain Python + numpy, no Django, no I/O, no wall clock.

The same objects run backtests, paper trading and live trading; only the clock, the market
feed and the exchange differ.

Public API (import from these modules):

- tradecore.domain: Instrument, Side, OrderType, TimeInForce, OrderStatus, Rounding,
  OrderRequest, Order, Fill, Candle, Trade, Balance, Position, Denial, to_decimal
- tradecore.clock: Clock (protocol), SimulatedClock, WallClock
- tradecore.orderbook: OrderBook
- tradecore.exchange: SimulatedExchange, DEFAULT_ACCOUNT, OrderNotFound, NoLatency,
  FixedLatency, UniformLatency, NoSlippage, FixedBpsSlippage, BookWalkSlippage
- tradecore.intents: OrderIntent, CancelIntent, CancelAllIntent, Quote, QuoteIntent
- tradecore.order_manager: OrderManager, TrackedOrder, VenueTimeout
- tradecore.risk: RiskLimits, RiskManager, RiskView, GuardTrip
- tradecore.engine: TradingEngine, EngineContext
- tradecore.indicators: sma, ema, rsi, macd, bollinger, atr (+ Streaming* classes)
- tradecore.strategies: REGISTRY, validate_config, get_strategy_class, json_schemas,
  ConfigError, Strategy, StrategyConfig, SignalStrategy
- tradecore.backtest: run_candles, run_events, MarketEvent, run_vectorized, sweep,
  load_candles, CandleArrays, DataError, compute_metrics, round_trips
  (command line: python -m tradecore.backtest --strategy ema_cross --data FILE --param fast=12)
"""

__all__ = ["__version__"]
__version__ = "0.1.0"
