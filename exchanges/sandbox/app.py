"""Assemble a sandbox server from options: venues, offsets, replay files, speed, seed."""

from __future__ import annotations

from pathlib import Path

from exchanges.sandbox.market import read_candle_csv
from exchanges.sandbox.server import DEFAULT_WEIGHT_LIMIT, SandboxServer
from exchanges.sandbox.venue import DEFAULT_SYMBOLS, Venue
from tradecore.clock import Clock, WallClock


def parse_offsets(items: list[str]) -> dict[str, float]:
    """Parse ["sandbox-b=15", ...] into {venue: basis points}."""
    offsets = {}
    for item in items:
        name, _, value = item.partition("=")
        if not value:
            raise ValueError(f"offset {item!r}: expected VENUE=BPS")
        offsets[name.strip()] = float(value)
    return offsets


def parse_replay(items: list[str]) -> dict[str, list[tuple]]:
    """Parse ["BTC/USDT=path.csv.gz", ...] into {symbol: candles}."""
    replay = {}
    for item in items:
        symbol, _, path = item.partition("=")
        if not path or not Path(path).is_file():
            raise ValueError(f"replay {item!r}: expected SYMBOL=existing candle file")
        replay[symbol.strip()] = read_candle_csv(path)
    return replay


def build_server(
    venues: list[str],
    *,
    offsets: dict[str, float] | None = None,
    replay: dict[str, list[tuple]] | None = None,
    speed: float = 1.0,
    seed: int = 7,
    history_bars: int = 1440,
    tick_seconds: float = 0.25,
    weight_limit: int = DEFAULT_WEIGHT_LIMIT,
    weight_window_ms: int = 60_000,
    clock: Clock | None = None,
) -> SandboxServer:
    """Build the venues (same market walk, each with its own offset) and their server."""
    clock = clock or WallClock()  # or a ScaledClock to run the market faster than real time
    offsets = offsets or {}
    built = {}
    for index, name in enumerate(venues):
        default_offset = 0.0 if index == 0 else 10.0 * index  # venue b trades 10 bp richer
        built[name] = Venue(
            name,
            clock=clock,
            symbols=DEFAULT_SYMBOLS,
            offset_bps=offsets.get(name, default_offset),
            seed=seed,
            history_bars=history_bars,
            replay=replay,
            replay_speed=speed,
        )
    return SandboxServer(
        built,
        clock=clock,
        weight_limit=weight_limit,
        weight_window_ms=weight_window_ms,
        tick_seconds=tick_seconds,
    )
