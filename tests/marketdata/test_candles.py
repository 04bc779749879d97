"""Candles in Postgres: upserts, derived timeframes, imports (all or nothing), gaps."""

import gzip
import json

import pyarrow as pa
import pyarrow.feather as feather
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from marketdata.models import Candle
from marketdata.services.candles import (
    candle_copy_upsert,
    candle_derive,
    candle_gaps,
    candle_upsert,
    dt_to_ms,
)
from marketdata.services.history import candle_import_file
from marketdata.services.importer import CandleFileError, names_from_filename
from marketdata.testing import data_file

pytestmark = pytest.mark.django_db
T0 = 1_620_000_000_000 - 1_620_000_000_000 % 86_400_000  # a UTC midnight


def _bars(n, start=T0):
    return [
        (start + i * 60_000, f"{100 + i}.5", f"{101 + i}", f"{99 + i}", f"{100 + i}.25", "2.125", 3)
        for i in range(n)
    ]


def test_upsert_is_unique_per_bar_and_updates_in_place():
    candle_upsert(exchange="sandbox", symbol="BTC/USDT", timeframe="1m", bars=_bars(3))
    changed = [(T0, "1", "5", "0.5", "4", "9.000000000000000001", 7)]
    candle_upsert(exchange="sandbox", symbol="BTC/USDT", timeframe="1m", bars=changed)
    assert Candle.objects.count() == 3
    bar = Candle.objects.get(ts__exact=Candle.objects.order_by("ts").first().ts)
    assert str(bar.volume) == "9.000000000000000001"  # NUMERIC keeps every digit
    assert bar.trade_count == 7


def test_copy_upsert_then_derive_matches_python_resampling():
    candle_copy_upsert(exchange="sandbox", symbol="ETH/USDT", timeframe="1m", bars=_bars(180))
    candle_copy_upsert(exchange="sandbox", symbol="ETH/USDT", timeframe="1m", bars=_bars(180))
    assert Candle.objects.filter(timeframe="1m").count() == 180
    assert candle_derive(exchange="sandbox", symbol="ETH/USDT", timeframe="1h") == 3
    hours = list(Candle.objects.filter(timeframe="1h").order_by("ts"))
    assert [dt_to_ms(h.ts) for h in hours] == [T0, T0 + 3_600_000, T0 + 7_200_000]
    first = hours[0]
    assert str(first.open) == "100.500000000000000000"
    assert str(first.close) == "159.250000000000000000"
    assert first.high == 160 and first.low == 99
    assert first.volume == 60 * 2.125 and first.trade_count == 180


def test_gaps_are_found_inside_and_at_the_ends_of_a_range():
    bars = _bars(10)
    del bars[3:5]
    candle_upsert(exchange="sandbox", symbol="BTC/USDT", timeframe="1m", bars=bars)
    gaps = candle_gaps(
        exchange="sandbox",
        symbol="BTC/USDT",
        timeframe="1m",
        start_ms=T0 - 120_000,
        end_ms=T0 + 12 * 60_000,
    )
    assert [(g.start_ms - T0, g.end_ms - T0, g.missing) for g in gaps] == [
        (-120_000, -60_000, 2),
        (180_000, 240_000, 2),
        (600_000, 660_000, 2),
    ]


def test_import_real_binance_file_reports_its_gaps():
    path = data_file("binance_XRP-ETH_1m_20191011.csv.gz")
    report = candle_import_file(path=path)
    assert (report.exchange, report.symbol, report.timeframe) == ("binance", "XRP/ETH", "1m")
    assert report.rows == 2469 == Candle.objects.filter(timeframe="1m").count()
    assert len(report.gaps) == 676 and sum(g.missing for g in report.gaps) == 1091
    assert report.derived["1d"] == 3
    first = Candle.objects.filter(timeframe="1m").order_by("ts").first()
    assert str(first.open).rstrip("0") == "0.00141342"


def _write_csv(path, lines):
    path.write_text("timestamp_ms,open,high,low,close,volume\n" + "\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(
    ("bad_line", "reason"),
    [
        ("1620000240000,1,2,0.5,1.5", "expected 6 fields"),
        ("1620000240000,1,2,0.5,abc,1", "close 'abc' is not a number"),
        ("1620000240000,1,0.9,0.5,1.5,1", "high/low do not contain"),
        ("1620000240000,1,2,0.5,1.5,-1", "volume is negative"),
        ("1620000180000,1,2,0.5,1.5,1", "duplicate timestamp"),
        ("1620000250000,1,2,0.5,1.5,1", "not aligned"),
        ("1620000240000,0,2,0.5,1.5,1", "prices must be positive"),
    ],
)
def test_malformed_csv_is_rejected_with_line_and_reason_and_nothing_imported(
    tmp_path, bad_line, reason
):
    good = [f"{1_620_000_000_000 + i * 60_000},1,2,0.5,1.5,1" for i in range(4)]
    path = _write_csv(tmp_path / "sandbox_BTC-USDT_1m.csv", [*good, bad_line, good[0]])
    with pytest.raises(CandleFileError) as info:
        candle_import_file(path=path)
    assert info.value.line == 6 and reason in info.value.reason
    assert Candle.objects.count() == 0


def test_import_command_rejects_a_bad_file_without_importing(tmp_path):
    path = _write_csv(
        tmp_path / "sandbox_BTC-USDT_1m.csv",
        ["1620000000000,1,2,0.5,1.5,1", "1620000060000,1,2,0.5,1.5"],
    )
    with pytest.raises(CommandError, match="line 3: expected 6 fields"):
        call_command("import_ohlcv", str(path))
    assert Candle.objects.count() == 0


def test_json_and_gzip_json_import(tmp_path):
    rows = [[1_620_000_000_000 + i * 60_000, 1.5, 2, 1, 1.75, 10.25] for i in range(5)]
    plain = tmp_path / "kraken_BTC-USD_1m.json"
    plain.write_text(json.dumps(rows))
    assert candle_import_file(path=plain).rows == 5
    objects = [
        {
            "timestamp": r[0],
            "open": r[1],
            "high": r[2],
            "low": r[3],
            "close": r[4],
            "volume": r[5],
            "trade_count": 4,
        }
        for r in rows
    ]
    zipped = tmp_path / "kraken_ETH-USD_5m.json.gz"
    objects = [dict(o, timestamp=1_620_000_000_000 + i * 300_000) for i, o in enumerate(objects)]
    zipped.write_bytes(gzip.compress(json.dumps(objects).encode()))
    report = candle_import_file(path=zipped)
    assert (report.symbol, report.timeframe, report.rows) == ("ETH/USD", "5m", 5)
    assert Candle.objects.filter(symbol="ETH/USD", trade_count=4).count() == 5


def test_feather_import_in_freqtrade_layout(tmp_path):
    import datetime as dt

    dates = [dt.datetime(2021, 5, 1, 0, i, tzinfo=dt.UTC) for i in range(4)]
    table = pa.table(
        {
            "date": dates,
            "open": [1.0] * 4,
            "high": [2.0] * 4,
            "low": [0.5] * 4,
            "close": [1.5] * 4,
            "volume": [3.0] * 4,
        }
    )
    path = tmp_path / "binance_ETH-BTC_1m.feather"
    feather.write_feather(table, path)
    assert candle_import_file(path=path).rows == 4
    bad = tmp_path / "binance_ETH-BTC_5m.feather"
    feather.write_feather(table, bad)  # 1m stamps in a 5m file
    with pytest.raises(CandleFileError, match="line 2: timestamp .* not aligned"):
        candle_import_file(path=bad)


def test_names_come_from_the_shared_data_layout():
    assert names_from_filename("binance_BTC-USDT_1m.csv.gz") == ("binance", "BTC/USDT", "1m")
    assert names_from_filename("bybit_BTC-USDT_1m_20221213.csv.gz") == ("bybit", "BTC/USDT", "1m")
