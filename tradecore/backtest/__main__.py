"""Command line: python -m tradecore.backtest --strategy ema_cross --data FILE --param fast=12

Prints the metrics; optionally writes the trades and the equity curve as CSV. Bad input
(unknown strategy or parameter, a value outside its schema, unreadable or unsorted data) exits
with status 2 and a message naming the problem.
"""

from __future__ import annotations

import argparse
import csv
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path

from tradecore.backtest.checks import check_inputs
from tradecore.backtest.data import DataError, load_candles
from tradecore.backtest.runner import run_candles
from tradecore.backtest.vectorized import run_vectorized
from tradecore.domain import Instrument
from tradecore.strategies import REGISTRY, ConfigError, get_strategy_class, validate_config
from tradecore.strategies.base import SignalStrategy


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tradecore.backtest", description=__doc__)
    parser.add_argument("--strategy", required=True, help=f"one of: {', '.join(sorted(REGISTRY))}")
    parser.add_argument("--data", required=True, help="candle CSV(.gz): timestamp_ms,o,h,l,c,v")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--symbol", default="BTC-USDT", help="BASE-QUOTE")
    parser.add_argument("--cash", default="10000", help="starting quote balance")
    parser.add_argument("--fee", default="0.001", help="maker and taker fee fraction")
    parser.add_argument("--tick", default="0.01", help="price tick size")
    parser.add_argument("--lot", default="0.00000001", help="quantity lot size")
    parser.add_argument("--min-notional", default="0", help="minimum order notional")
    parser.add_argument("--vectorized", action="store_true", help="use the fast signal path")
    parser.add_argument("--trades-csv", type=Path, help="write the fills here")
    parser.add_argument("--equity-csv", type=Path, help="write the equity curve here")
    return parser


def parse_params(pairs: list[str]) -> dict[str, str]:
    params = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise ConfigError("param", f"expected NAME=VALUE, got {pair!r}")
        params[name.strip()] = value.strip()
    return params


def _decimal(name: str, value: str) -> Decimal:
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ConfigError(name, f"expected a decimal number, got {value!r}") from None
    if not number.is_finite() or number < 0:
        raise ConfigError(name, f"must be a non-negative number, got {value!r}")
    return number


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        strategy_cls = get_strategy_class(args.strategy)
        config = validate_config(args.strategy, parse_params(args.param))
        base, sep, quote = args.symbol.partition("-")
        if not sep or not base or not quote:
            raise ConfigError("symbol", f"expected BASE-QUOTE, got {args.symbol!r}")
        fee = _decimal("fee", args.fee)
        instrument = Instrument(
            args.symbol, base, quote, _decimal("tick", args.tick), _decimal("lot", args.lot),
            _decimal("min-notional", args.min_notional), fee, fee,
        )  # fmt: skip
        cash = _decimal("cash", args.cash)
        candles = load_candles(args.data)
        strategy = strategy_cls(config, symbol=args.symbol)
        warnings = check_inputs(strategy, candles, instrument, cash=cash)
    except (ConfigError, DataError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.vectorized:
        if not isinstance(strategy, SignalStrategy):
            print(f"error: strategy: {args.strategy} has no vectorized path", file=sys.stderr)
            return 2
        result = run_vectorized(strategy, candles, instrument, cash=cash)
        print(f"final_equity: {result.final_equity:.8f}")
        print(f"fill_count: {len(result.trades)}")
        return 0
    result = run_candles(strategy, candles, instrument, cash=cash)
    for name, value in result.metrics.items():
        print(f"{name}: {value:.8g}" if isinstance(value, float) else f"{name}: {value}")
    if args.trades_csv:
        _write_fills(args.trades_csv, result)
    if args.equity_csv:
        _write_equity(args.equity_csv, result)
    return 0


def _write_fills(path: Path, result) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["ts_ms", "side", "price", "qty", "fee", "liquidity", "order_id"])
        for f in result.fills:
            writer.writerow([f.ts, f.side.value, f.price, f.qty, f.fee, f.liquidity, f.order_id])
        writer.writerow([])
        writer.writerow(["entry_ts", "exit_ts", "entry_price", "exit_price", "qty", "fees", "pnl"])
        for t in result.trades:
            writer.writerow(
                [t.entry_ts, t.exit_ts, t.entry_price, t.exit_price, t.qty, t.fees, t.pnl]
            )


def _write_equity(path: Path, result) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["ts_ms", "equity"])
        writer.writerows(zip(result.ts.tolist(), result.equity.tolist(), strict=True))


if __name__ == "__main__":
    sys.exit(main())
