"""Backtest metrics from an equity curve and a list of round-trip trades."""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from tradecore.domain import Fill, Side

YEAR_MS = 365.25 * 86_400_000


@dataclass(frozen=True, slots=True)
class RoundTrip:
    """A long trade from flat back to flat, with its PnL net of both sides' fees."""

    entry_ts: int
    exit_ts: int
    entry_price: Decimal
    exit_price: Decimal
    qty: Decimal
    fees: Decimal
    pnl: Decimal

    @property
    def return_fraction(self) -> float:
        cost = self.entry_price * self.qty
        return float(self.pnl / cost) if cost else 0.0


def round_trips(fills: list[Fill]) -> list[RoundTrip]:
    """Group one symbol's fills into long round trips (flat -> long -> flat)."""
    trips: list[RoundTrip] = []
    legs: list[Fill] = []
    qty = Decimal(0)
    buy = Side.BUY
    for fill in fills:
        legs.append(fill)
        qty = qty + fill.qty if fill.side is buy else qty - fill.qty
        if qty == 0:
            if len(legs) == 2 and legs[0].side is buy:  # the usual case: one buy, one sell
                entry, exit_ = legs
                fees = entry.fee + exit_.fee
                pnl = (exit_.price - entry.price) * entry.qty - fees
                trips.append(RoundTrip(entry.ts, exit_.ts, entry.price, exit_.price, entry.qty,
                                       fees, pnl))  # fmt: skip
            elif any(leg.side is not buy for leg in legs):
                trips.append(_trip(legs))
            legs = []
    return trips


def _trip(legs: list[Fill]) -> RoundTrip:
    bought = sold = fees = bought_qty = sold_qty = Decimal(0)
    for leg in legs:
        fees += leg.fee
        if leg.side is Side.BUY:
            bought += leg.price * leg.qty
            bought_qty += leg.qty
        else:
            sold += leg.price * leg.qty
            sold_qty += leg.qty
    return RoundTrip(legs[0].ts, legs[-1].ts, bought / bought_qty, sold / sold_qty, bought_qty,
                     fees, sold - bought - fees)  # fmt: skip


def compute_metrics(
    equity: np.ndarray,
    ts: np.ndarray,
    trips: list[RoundTrip],
    fills: list[Fill],
    exposure_mask: np.ndarray | None = None,
    interval_ms: int = 60_000,
) -> dict[str, float]:
    """Total return, CAGR, Sharpe, Sortino, drawdown, win rate, profit factor and more."""
    equity = np.asarray(equity, dtype=float)
    start, end = float(equity[0]), float(equity[-1])
    returns = np.diff(equity) / equity[:-1] if len(equity) > 1 else np.zeros(0)
    periods_per_year = YEAR_MS / interval_ms
    span_years = max((int(ts[-1]) - int(ts[0]) + interval_ms) / YEAR_MS, 1e-12)
    peak = np.maximum.accumulate(equity)
    drawdown = equity / peak - 1.0
    wins = [t for t in trips if t.pnl > 0]
    gross_win = float(sum((t.pnl for t in wins), Decimal(0)))
    gross_loss = -float(sum((t.pnl for t in trips if t.pnl < 0), Decimal(0)))
    turnover = float(sum((f.price * f.qty for f in fills), Decimal(0)))
    return {
        "start_equity": start,
        "final_equity": end,
        "total_return": end / start - 1.0,
        "cagr": _cagr(start, end, span_years),
        "sharpe": _ratio(returns, returns, periods_per_year),
        "sortino": _ratio(returns, np.minimum(returns, 0.0), periods_per_year, downside=True),
        "max_drawdown": float(-drawdown.min()) if len(drawdown) else 0.0,
        "max_drawdown_duration_ms": _longest_underwater(peak, equity, ts),
        "win_rate": len(wins) / len(trips) if trips else 0.0,
        "profit_factor": gross_win / gross_loss
        if gross_loss > 0
        else math.inf
        if gross_win
        else 0.0,
        "exposure": float(np.mean(exposure_mask)) if exposure_mask is not None else 0.0,
        "trade_count": len(trips),
        "fill_count": len(fills),
        "fees_paid": float(sum((f.fee for f in fills), Decimal(0))),
        "turnover": turnover / start if start else 0.0,
    }


def _cagr(start: float, end: float, years: float) -> float:
    if end <= 0 or start <= 0:
        return -1.0
    try:
        return math.exp(math.log(end / start) / years) - 1.0
    except OverflowError:
        return math.inf


def _ratio(returns: np.ndarray, risk: np.ndarray, per_year: float, downside=False) -> float:
    if len(returns) < 2:
        return 0.0
    spread = math.sqrt(float(np.mean(risk**2))) if downside else float(np.std(returns, ddof=1))
    if spread == 0:
        return 0.0
    return float(np.mean(returns)) / spread * math.sqrt(per_year)


def _longest_underwater(peak: np.ndarray, equity: np.ndarray, ts: np.ndarray) -> int:
    """Longest time from a peak until equity regains it (or the end), in ms."""
    under = equity < peak
    if not under.any():
        return 0
    longest, start = 0, None
    for i in np.flatnonzero(np.diff(np.concatenate([[0], under.astype(np.int8), [0]]))):
        if start is None:
            start = i
        else:
            begin = int(ts[start - 1]) if start > 0 else int(ts[0])
            finish = int(ts[i]) if i < len(ts) else int(ts[-1])
            longest = max(longest, finish - begin)
            start = None
    return longest
