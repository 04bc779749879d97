"""Tax exports of a 100,000-fill year: seconds to build the report and to stream each CSV.

Data: real Binance BTC/USDT and ETH/USDT 1m closes from $PEREGRINE_DATA_DIR, replayed into 2025
(a seeded walk of buys and sells at those prices, 0.1% fees in USDT) as 100,000 live fills of a
scratch user, written with bulk_create and deleted afterwards. Measured: the lot engine over the
year (report build: read fills, value, FIFO lots), and each download streamed to the end
(capital gains, Form 8949, Koinly, CoinTracking) with the bytes it produced and the process's
peak memory. Wall and CPU seconds are both printed: on a shared machine the wall time includes
waiting for the CPU and the database.

Run: python bench/tax_export.py [--fills N] [--method fifo|lifo|hifo|lofo]
(needs DATABASE_URL, migrated)
"""

from __future__ import annotations

import argparse
import csv
import gzip
import os
import random
import resource
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402

from compliance.tax.reports import tax_report_build  # noqa: E402
from compliance.tax_models import TaxYear  # noqa: E402
from compliance.tax_views import history_export_response, year_export_response  # noqa: E402
from exchanges.models import ExchangeAccount  # noqa: E402
from trading.models import Bot, Fill, Order  # noqa: E402

FILES = {"BTC": "binance_BTC-USDT_1m.csv.gz", "ETH": "binance_ETH-USDT_1m.csv.gz"}
YEAR = 2025


def prices(name: str) -> list[Decimal]:
    with gzip.open(Path(settings.PEREGRINE_DATA_DIR) / name, "rt") as f:
        return [Decimal(row["close"]) for row in csv.DictReader(f)]


def make_fills(user, n: int) -> None:
    account = ExchangeAccount.objects.create(
        user=user, exchange="sandbox", label="bench", mode="live", api_key_ciphertext="-",
        secret_ciphertext="-",
    )  # fmt: skip
    bot = Bot.objects.create(user=user, name="bench", strategy="pure_market_making",
                             symbols=["BTC/USDT"], budget=Decimal(1), mode="live")  # fmt: skip
    order = Order.objects.create(
        bot=bot, user=user, mode="live", exchange="sandbox", symbol="BTC/USDT",
        client_order_id=f"bench-{uuid.uuid4().hex[:12]}", side="buy", type="market",
        qty=Decimal(1), status="filled",
    )  # fmt: skip
    series = {asset: prices(name) for asset, name in FILES.items()}
    rng = random.Random(2025)
    held = dict.fromkeys(series, Decimal(0))
    start = datetime(YEAR, 1, 1, tzinfo=UTC)
    step = timedelta(seconds=(365 * 86400 - 1) / n)
    batch = []
    for i in range(n):
        asset = "BTC" if i % 2 == 0 else "ETH"
        price = series[asset][(i // 2) % len(series[asset])]
        if held[asset] > 0 and rng.random() < 0.45:
            side, qty = "sell", (held[asset] * Decimal(rng.randint(5, 100)) / 100).quantize(
                Decimal("0.00001"))  # fmt: skip
        else:
            side, qty = "buy", (Decimal(rng.randint(20, 500)) / price).quantize(Decimal("0.00001"))
        if qty <= 0:
            side, qty = "buy", Decimal("0.001")
        held[asset] += qty if side == "buy" else -qty
        batch.append(Fill(
            bot=bot, order=order, user=user, mode="live", exchange="sandbox",
            exchange_account=account, account_key=str(account.pk), symbol=f"{asset}/USDT",
            trade_id=f"b{i}", side=side, price=price, qty=qty,
            fee=(price * qty * Decimal("0.001")).quantize(Decimal("0.00000001")),
            fee_asset="USDT", executed_at=start + step * i, source="poll",
        ))  # fmt: skip
        if len(batch) == 10_000:
            Fill.objects.bulk_create(batch)
            batch = []
    Fill.objects.bulk_create(batch)


def drain(response) -> int:
    return sum(len(chunk) for chunk in response.streaming_content)


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fills", type=int, default=100_000)
    parser.add_argument("--method", default="fifo")
    args = parser.parse_args()
    missing = [n for n in FILES.values() if not (Path(settings.PEREGRINE_DATA_DIR) / n).is_file()]
    if missing:
        print(f"skipped: {', '.join(missing)} not in {settings.PEREGRINE_DATA_DIR}")
        return
    user = get_user_model().objects.create_user(
        email=f"bench-tax-{uuid.uuid4().hex[:8]}@example.com", password=uuid.uuid4().hex
    )
    try:
        t = time.perf_counter()
        make_fills(user, args.fills)
        print(f"setup: {args.fills:,} live fills of {YEAR} written in "
              f"{time.perf_counter() - t:.1f} s")  # fmt: skip
        TaxYear.objects.create(user=user, year=YEAR, method=args.method)
        t, cpu = time.perf_counter(), time.process_time()
        report = tax_report_build(user=user, year=YEAR)
        print(f"report build ({args.method}, universal): {time.perf_counter() - t:.2f} s wall, "
              f"{time.process_time() - cpu:.2f} s CPU, "
              f"{len(report.ledger.disposals):,} disposals, {len(report.lines):,} lines, "
              f"{len(report.ledger.lots):,} lots")  # fmt: skip
        for name, make in [
            ("capital gains CSV", lambda: year_export_response(user, YEAR, "gains")),
            ("Form 8949 CSV", lambda: year_export_response(user, YEAR, "form8949")),
            ("Koinly CSV", lambda: history_export_response(user, "koinly")),
            ("CoinTracking CSV", lambda: history_export_response(user, "cointracking")),
        ]:
            t, cpu = time.perf_counter(), time.process_time()
            size = drain(make())
            wall, used = time.perf_counter() - t, time.process_time() - cpu
            print(f"{name:<18} {wall:6.2f} s wall {used:6.2f} s CPU  {size / 1e6:6.1f} MB  "
                  f"(peak RSS so far {peak_mib():.0f} MiB)")  # fmt: skip
    finally:
        Fill.objects.filter(user=user).delete()
        Order.objects.filter(user=user).delete()
        Bot.objects.filter(user=user).delete()
        user.delete()


if __name__ == "__main__":
    main()
