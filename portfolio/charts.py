"""An equity curve as SVG polyline points, drawn on the server (no chart library)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal


@dataclass(frozen=True)
class LineChart:
    points: str
    width: int
    height: int
    low: Decimal
    high: Decimal
    first_at: datetime
    last_at: datetime
    first: Decimal
    last: Decimal

    @property
    def change(self) -> Decimal:
        return self.last - self.first


def line_chart(rows, *, width: int = 600, height: int = 160, pad: int = 4) -> LineChart | None:
    """Scale (time, value) rows into the box; None when there are fewer than two points."""
    rows = list(rows)
    if len(rows) < 2:
        return None
    values = [value for _, value in rows]
    low, high = min(values), max(values)
    span_value = (high - low) or Decimal(1)
    start, end = rows[0][0], rows[-1][0]
    span_time = (end - start).total_seconds() or 1.0
    coordinates = []
    for at, value in rows:
        x = pad + (width - 2 * pad) * (at - start).total_seconds() / span_time
        y = pad + (height - 2 * pad) * float((high - value) / span_value)
        coordinates.append(f"{x:.1f},{y:.1f}")
    return LineChart(
        " ".join(coordinates), width, height, low, high, start, end, values[0], values[-1]
    )
