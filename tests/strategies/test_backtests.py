"""Backtest runs: validated on creation, executed by the task through tradecore's runner on
candles from Postgres, cancelled by their owner, the same results on every rerun, owner-scoped
over the API and the pages, trades and equity as CSV.

The candles are the first 3,000 minutes of the real Binance BTC/USDT 1m file (shared data under
$PEREGRINE_SHARED_DATA or ../shared/data), skipped cleanly when the file is absent.
"""

from __future__ import annotations

import csv
import io
import json
import os
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from marketdata.services.candles import candle_copy_upsert
from strategies import services
from strategies.models import BacktestRun
from strategies.services import backtest_run_cancel, backtest_run_create, backtest_run_execute
from tradecore import testing
from tradecore.backtest import load_candles, run_candles
from tradecore.domain import Instrument
from tradecore.strategies import REGISTRY, validate_config

REPO_ROOT = Path(__file__).resolve().parents[2]
FILE = "binance_BTC-USDT_1m.csv.gz"
BARS = 3000


def _data_path() -> Path:
    shared = os.environ.get("PEREGRINE_SHARED_DATA")
    folder = Path(shared) if shared else testing.data_dir(REPO_ROOT)
    return folder / FILE


@pytest.fixture(scope="module")
def real_candles():
    path = _data_path()
    if not path.exists():
        pytest.skip(f"market data {FILE} not found under {path.parent}")
    return load_candles(path).slice(0, BARS)


def _ms(candles, i) -> datetime:
    return datetime.fromtimestamp(int(candles.ts[i]) / 1000, tz=UTC)


@pytest.fixture
def stored(db, real_candles):
    """The fixture bars in Postgres as binance BTC/USDT 1m; returns the arrays."""
    rows = [
        (int(t), repr(o), repr(h), repr(lo), repr(c), repr(v))
        for t, o, h, lo, c, v in zip(
            real_candles.ts.tolist(), real_candles.open.tolist(), real_candles.high.tolist(),
            real_candles.low.tolist(), real_candles.close.tolist(), real_candles.volume.tolist(),
            strict=True,
        )
    ]  # fmt: skip
    candle_copy_upsert(exchange="binance", symbol="BTC/USDT", timeframe="1m", bars=rows)
    return real_candles


def _inputs(candles, **changes) -> dict:
    inputs = {
        "strategy": "sma_cross",
        "params": {"fast": 10, "slow": 30},
        "exchange": "binance",
        "symbol": "BTC/USDT",
        "timeframe": "1m",
        "start": _ms(candles, 0),
        "end": datetime.fromtimestamp((int(candles.ts[-1]) + 60_000) / 1000, tz=UTC),
        "cash": "10000",
        "slippage_bp": 0,
    }
    inputs.update(changes)
    return inputs


@pytest.fixture
def queued(alice, stored, django_capture_on_commit_callbacks, monkeypatch):
    """A function creating a queued run (the task is not sent: the test runs it itself)."""
    monkeypatch.setattr(services, "_enqueue", lambda run_id: None)

    def create(user=alice, **changes) -> BacktestRun:
        with django_capture_on_commit_callbacks(execute=True):
            return backtest_run_create(user=user, **_inputs(stored, **changes))

    return create


def _dump(results) -> str:
    return json.dumps(results, sort_keys=True, separators=(",", ":"))


# -- the engine's progress hook ----------------------------------------------------------------
def test_a_progress_callback_reports_every_n_bars_and_changes_nothing(real_candles):
    inst = Instrument("BTC/USDT", "BTC", "USDT", Decimal("0.01"), Decimal("0.00000001"),
                      Decimal(0), Decimal("0.001"), Decimal("0.001"))  # fmt: skip

    def run(**kwargs):
        strategy = REGISTRY["sma_cross"](validate_config("sma_cross", {}), symbol="BTC/USDT")
        return run_candles(strategy, real_candles, inst, cash=10_000, **kwargs)

    reports = []
    plain, reported = run(), run(progress=lambda d, t: reports.append((d, t)), progress_every=700)
    assert reports == [(700, 3000), (1400, 3000), (2100, 3000), (2800, 3000), (3000, 3000)]
    assert np.array_equal(plain.equity, reported.equity)
    assert plain.fills == reported.fills and plain.metrics == reported.metrics


# -- lifecycle ---------------------------------------------------------------------------------
def test_a_run_goes_queued_running_done_with_results_and_provenance(queued, stored):
    run = queued()
    assert run.status == "queued" and run.fee_rate == Decimal("0.001")  # the default fee
    seen = []
    real = services.backtest_run_progress

    def spy(*, run_id, done):
        seen.append((BacktestRun.objects.get(pk=run_id).status, done))
        real(run_id=run_id, done=done)

    services.backtest_run_progress = spy
    try:
        assert backtest_run_execute(run_id=run.pk) == "done"
    finally:
        services.backtest_run_progress = real
    assert seen == [("running", 1000), ("running", 2000), ("running", 3000)]
    run.refresh_from_db()
    assert (run.bars_done, run.bars_total, run.progress_percent) == (3000, 3000, 100)
    assert run.started_at <= run.finished_at and not run.error
    results = run.results
    metrics = results["metrics"]
    assert metrics["trade_count"] == len(results["trades"]) > 0
    assert metrics["fill_count"] == len(results["fills"]) == len(results["markers"])
    assert len(results["equity"]["points"]) <= 2000 and len(results["chart"]["bars"]) <= 2000
    assert results["equity"]["points"][-1][1] == pytest.approx(metrics["final_equity"])
    # the same engine call on the same bars gives the same figures (the product adds nothing)
    strategy = REGISTRY["sma_cross"](validate_config("sma_cross", run.params), symbol="BTC/USDT")
    inst = Instrument("BTC/USDT", "BTC", "USDT", Decimal("0.00000001"), Decimal("0.00000001"),
                      Decimal(0), Decimal("0.001"), Decimal("0.001"))  # fmt: skip
    direct = run_candles(strategy, stored, inst, cash=10_000)
    assert metrics["final_equity"] == direct.metrics["final_equity"]
    assert run.code_version.startswith("tradecore ")
    assert len(run.data_fingerprint) == 64


def test_a_rerun_of_the_same_inputs_gives_byte_identical_results(queued):
    first, second = queued(), queued()
    backtest_run_execute(run_id=first.pk)
    backtest_run_execute(run_id=second.pk)
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.pk != second.pk and first.status == second.status == "done"
    assert _dump(first.results) == _dump(second.results)
    assert first.data_fingerprint == second.data_fingerprint


def test_a_period_without_candles_fails_saying_so(queued):
    run = queued(start="2030-01-01", end="2030-01-02")
    assert backtest_run_execute(run_id=run.pk) == "failed"
    run.refresh_from_db()
    assert run.error == (
        "no candles for BTC/USDT 1m on binance between 2030-01-01 00:00 and 2030-01-02 00:00 UTC"
    )
    assert run.results is None


def test_an_engine_error_fails_the_run_in_words_not_the_worker(queued, monkeypatch):
    run = queued()

    def broken(*args, **kwargs):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(services, "run_candles", broken)
    assert backtest_run_execute(run_id=run.pk) == "failed"
    run.refresh_from_db()
    assert "internal error" in run.error and "division by zero" in run.error


def test_a_queued_run_cancelled_never_runs(queued):
    run = backtest_run_cancel(run=queued())
    assert run.status == "cancelled" and run.finished_at
    assert backtest_run_execute(run_id=run.pk) == "cancelled"
    run.refresh_from_db()
    assert run.results is None and run.bars_done == 0


def test_a_running_run_cancelled_stops_at_its_next_progress_report(queued, monkeypatch):
    run = queued()
    real = services.backtest_run_progress

    def cancel_on_first_report(*, run_id, done):
        backtest_run_cancel(run=BacktestRun.objects.get(pk=run_id))
        real(run_id=run_id, done=done)

    monkeypatch.setattr(services, "backtest_run_progress", cancel_on_first_report)
    assert backtest_run_execute(run_id=run.pk) == "cancelled"
    run.refresh_from_db()
    assert run.bars_done == 1000 and run.results is None and run.finished_at


def test_a_finished_run_cannot_be_cancelled_or_rerun(queued):
    run = queued()
    backtest_run_execute(run_id=run.pk)
    with pytest.raises(ValidationError) as info:
        backtest_run_cancel(run=run)
    assert "status" in info.value.message_dict
    before = BacktestRun.objects.get(pk=run.pk).results
    assert backtest_run_execute(run_id=run.pk) == "done"  # a redelivered task changes nothing
    assert _dump(BacktestRun.objects.get(pk=run.pk).results) == _dump(before)


def test_statuses_move_only_along_the_allowed_transitions():
    run = BacktestRun(status="done")
    assert not run.can_move_to("running") and not run.can_move_to("cancelled")
    assert BacktestRun(status="queued").can_move_to("running")
    assert not BacktestRun(status="queued").can_move_to("done")


# -- validation --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"strategy": "nope"}, "strategy"),
        ({"strategy": "pure_market_making", "params": {}}, "strategy"),
        ({"params": {"fast": 40, "slow": 30}}, "params.fast"),
        ({"params": {"bogus": 1}}, "params.bogus"),
        ({"symbol": "BTCUSDT"}, "symbol"),
        ({"exchange": ""}, "exchange"),
        ({"timeframe": "7m"}, "timeframe"),
        ({"start": "yesterday"}, "start"),
        ({"end": "2021-04-01"}, "end"),
        ({"cash": "0"}, "cash"),
        ({"cash": "lots"}, "cash"),
        ({"fee_rate": "1"}, "fee_rate"),
        ({"fee_rate": "-0.001"}, "fee_rate"),
        ({"slippage_bp": "-1"}, "slippage_bp"),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_nothing_is_written(
    alice, stored, changes, field
):
    with pytest.raises(ValidationError) as info:
        backtest_run_create(user=alice, **_inputs(stored, **changes))
    assert field in info.value.message_dict
    assert not BacktestRun.objects.exists()


def test_creating_a_run_queues_its_task_on_the_backtests_queue(
    alice, stored, django_capture_on_commit_callbacks, monkeypatch
):
    sent = []

    def apply_async(args, queue):
        sent.append((args, queue))

    from strategies.tasks import backtest_run_execute as task

    monkeypatch.setattr(task, "apply_async", apply_async)
    with django_capture_on_commit_callbacks(execute=True):
        run = backtest_run_create(user=alice, **_inputs(stored))
    assert sent == [((run.pk,), "backtests")]
    from config.celery import app

    assert app.amqp.router.route({}, task.name)["queue"].name == "backtests"


# -- API -----------------------------------------------------------------------------------
def _api_body(candles, **changes) -> dict:
    body = _inputs(candles, **changes)
    body["start"], body["end"] = body["start"].isoformat(), body["end"].isoformat()
    return body


@pytest.fixture
def sent(monkeypatch):
    """Task messages the services would send (the test runs the task itself)."""
    messages = []
    monkeypatch.setattr(services, "_enqueue", messages.append)
    return messages


def test_api_creates_queues_lists_and_gets_a_run(alice_client, stored, sent):
    response = alice_client.post(
        "/api/v1/backtests/", _api_body(stored), content_type="application/json"
    )
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["status"] == "queued" and created["params"]["fast"] == 10
    assert created["fee_rate"] == "0.0010000000"
    run_id = created["id"]
    backtest_run_execute(run_id=run_id)
    listed = alice_client.get("/api/v1/backtests/").json()
    assert [r["id"] for r in listed] == [run_id] and "results" not in listed[0]
    detail = alice_client.get(f"/api/v1/backtests/{run_id}/").json()
    assert detail["status"] == "done" and detail["progress_percent"] == 100
    assert detail["results"]["metrics"]["trade_count"] == len(detail["results"]["trades"])


def test_api_refuses_bad_input_naming_the_field(alice_client, stored, sent):
    body = _api_body(stored, params={"fast": 50, "slow": 30}, fee_rate="2")
    response = alice_client.post("/api/v1/backtests/", body, content_type="application/json")
    assert response.status_code == 400
    assert {"params.fast", "fee_rate"} <= set(response.json()["error"]["fields"])
    assert not BacktestRun.objects.exists() and sent == []


def test_api_personas_bob_gets_404_and_alices_run_is_unchanged(
    alice, queued, alice_client, bob_client, api_token_for
):
    run = queued(user=alice)
    base = f"/api/v1/backtests/{run.pk}/"
    for url in (base, f"{base}trades.csv", f"{base}equity.csv"):
        assert bob_client.get(url).status_code == 404
    assert bob_client.post(f"{base}cancel/").status_code == 404
    assert bob_client.get("/api/v1/backtests/").json() == []
    assert Client().get(base).status_code in (401, 403)
    reader = Client(HTTP_AUTHORIZATION=f"Bearer {api_token_for(alice, 'read')}")
    assert reader.get(base).status_code == 200
    assert reader.post(f"{base}cancel/").status_code == 403
    run.refresh_from_db()
    assert run.status == "queued" and not run.cancel_requested
    assert alice_client.post(f"{base}cancel/").json()["status"] == "cancelled"
    again = alice_client.post(f"{base}cancel/")
    assert again.status_code == 400 and "status" in again.json()["error"]["fields"]


def test_api_downloads_trades_and_equity_as_csv_once_done(alice_client, queued):
    run = queued()
    base = f"/api/v1/backtests/{run.pk}/"
    assert alice_client.get(f"{base}trades.csv").status_code == 409
    backtest_run_execute(run_id=run.pk)
    run.refresh_from_db()
    trades = alice_client.get(f"{base}trades.csv")
    assert trades["Content-Type"].startswith("text/csv")
    assert f"backtest-{run.pk}-trades.csv" in trades["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(trades.content.decode())))
    assert len(rows) == len(run.results["trades"]) > 0
    first = run.results["trades"][0]
    assert rows[0]["pnl"] == first["pnl"] and rows[0]["entry_price"] == first["entry_price"]
    body = alice_client.get(f"{base}equity.csv").content.decode()
    equity = list(csv.DictReader(io.StringIO(body)))
    assert len(equity) == len(run.results["equity"]["points"])
    assert float(equity[-1]["equity"]) == run.results["metrics"]["final_equity"]


# -- pages ---------------------------------------------------------------------------------
def _form(candles, **changes) -> dict:
    form = {
        "strategy": "sma_cross", "params-sma_cross-fast": "10", "params-sma_cross-slow": "30",
        "market": "binance|BTC/USDT", "timeframe": "1m",
        "start": _ms(candles, 0).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "end": _ms(candles, len(candles) - 1).strftime("%Y-%m-%dT%H:%M:59Z"),
        "cash": "10000", "fee_rate": "", "slippage_bp": "0",
    }  # fmt: skip
    form.update(changes)
    return form


def test_pages_need_sign_in(client):
    url = reverse("strategies:backtest-list")
    assert client.get(url).status_code == 302
    assert client.get(reverse("strategies:backtest-detail", args=[1])).status_code == 302


def test_the_list_page_offers_stored_markets_and_starts_a_backtest(
    alice_client, stored, sent, django_capture_on_commit_callbacks
):
    url = reverse("strategies:backtest-list")
    page = alice_client.get(url).content.decode()
    assert 'value="binance|BTC/USDT"' in page and "Run backtest" in page
    assert "Backtests" in page and reverse("strategies:backtest-list") in page  # the nav entry
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(url, _form(stored))
    run = BacktestRun.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "strategies:backtest-detail", args=[run.pk]
    )
    assert sent == [run.pk] and run.params["fast"] == 10
    active = alice_client.get(url).content.decode()  # the list's socket: progress is pushed
    assert 'ws-connect="/ws/backtests/"' in active and "every 2s" not in active
    backtest_run_execute(run_id=run.pk)
    listed = alice_client.get(url).content.decode()
    assert f"#{run.pk}" in listed and "Done" in listed and "%" in listed
    assert "ws-connect" not in listed


def test_the_form_shows_the_services_field_errors_and_starts_nothing(alice_client, stored, sent):
    url = reverse("strategies:backtest-list")
    response = alice_client.post(url, _form(stored, **{"params-sma_cross-fast": "40"}, cash="-5"))
    assert response.status_code == 400
    page = response.content.decode()
    assert 'id="id_params-sma_cross-fast-error"' in page  # fast >= slow, on the fast field
    assert 'id="id_cash-error"' in page
    oops = alice_client.post(url, _form(stored, **{"params-sma_cross-slow": "oops"}))
    assert oops.status_code == 400
    assert 'id="id_params-sma_cross-slow-error"' in oops.content.decode()
    assert not BacktestRun.objects.exists() and sent == []


def test_the_detail_page_is_live_while_running_and_shows_results_when_done(alice_client, queued):
    run = queued()
    url = reverse("strategies:backtest-detail", args=[run.pk])
    page = alice_client.get(url).content.decode()
    assert f'ws-connect="/ws/backtests/{run.pk}/"' in page and "backtest-progress" in page
    backtest_run_execute(run_id=run.pk)
    partial = alice_client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert "ws-connect" not in partial and "<html" not in partial  # the socket is gone
    page = alice_client.get(url).content.decode()
    for text in ("Total return", "CAGR", "Sharpe ratio", "Sortino ratio", "Max drawdown",
                 "Max drawdown duration", "Win rate", "Profit factor", "Exposure", "Fees paid",
                 "Trades CSV", "Equity CSV", 'data-backtest-chart="candles"',
                 "lightweight-charts-5.2.1", "js/backtest.js",
                 f'id="backtest-data-{run.pk}"'):  # fmt: skip
        assert text in page, text
    run.refresh_from_db()
    assert page.count("<tr><td><small>") == len(run.results["trades"])


def test_the_detail_page_says_why_a_run_failed(alice_client, queued):
    run = queued(start="2030-01-01", end="2030-01-02")
    backtest_run_execute(run_id=run.pk)
    page = alice_client.get(reverse("strategies:backtest-detail", args=[run.pk])).content.decode()
    assert "The backtest failed: no candles for BTC/USDT 1m on binance" in page


def test_pages_bob_gets_404_and_cannot_cancel_alices_run(alice, queued, alice_client, bob_client):
    run = queued(user=alice)
    assert bob_client.get(reverse("strategies:backtest-detail", args=[run.pk])).status_code == 404
    cancel = reverse("strategies:backtest-cancel", args=[run.pk])
    assert bob_client.post(cancel).status_code == 404
    assert f"#{run.pk}" not in bob_client.get(reverse("strategies:backtest-list")).content.decode()
    run.refresh_from_db()
    assert run.status == "queued"
    assert alice_client.post(cancel).status_code == 302
    run.refresh_from_db()
    assert run.status == "cancelled"


# -- a real worker -------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_on_the_backtests_queue_runs_a_created_run_to_done(
    alice, stored, child_processes
):
    import redis
    from django.conf import settings

    from tests.conftest import wait_until
    from tests.trading import workers

    client = redis.Redis.from_url(settings.REDIS_URL)
    client.delete("backtests")  # messages of earlier tests name runs this database lacks
    client.close()
    workers.start_worker(child_processes, {"LOG_LEVEL": "WARNING"}, "backtests-test",
                         queues="backtests", threads=2)  # fmt: skip
    run = backtest_run_create(user=alice, **_inputs(stored))  # committed: the task is sent

    def finished():
        run.refresh_from_db()
        return run.is_final

    wait_until(finished, timeout=60, interval=0.1, what="the worker to finish the backtest")
    assert run.status == "done", run.error
    assert run.bars_done == run.bars_total == BARS and run.results["metrics"]["trade_count"] > 0


def test_missing_bars_and_zero_volume_are_reported_as_warnings(alice, stored, queued):
    from marketdata.models import Candle

    # a hole of 10 bars inside the data and one bar without volume
    Candle.objects.filter(ts__gte=_ms(stored, 100), ts__lt=_ms(stored, 110)).delete()
    Candle.objects.filter(ts=_ms(stored, 200)).update(volume=0)
    run = queued(start=_ms(stored, 0) - (_ms(stored, 5) - _ms(stored, 0)))  # 5 bars before
    backtest_run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == "done" and run.bars_total == BARS - 10
    assert run.warnings == [
        f"15 of the period's {BARS + 5} bars are not stored: 10 in 1 gap(s) inside the data, "
        "5 before its first or after its last bar; the strategy sees the market jump across gaps",
        f"Still missing: {_ms(stored, 0) - (_ms(stored, 5) - _ms(stored, 0)):%Y-%m-%d %H:%M} → "
        f"{_ms(stored, 0) - (_ms(stored, 1) - _ms(stored, 0)):%H:%M} UTC (5 bars); "
        f"{_ms(stored, 100):%Y-%m-%d %H:%M} → {_ms(stored, 109):%H:%M} UTC (10 bars)",
        f"1 of {BARS - 10} bars have zero volume: a market order there fills at the bar's open "
        "although nothing traded",
    ]
    page = Client()
    page.force_login(alice)
    html = page.get(reverse("strategies:backtest-detail", args=[run.pk])).content.decode()
    assert "15 of the period" in html


def test_a_run_past_the_workers_time_limit_fails_saying_so(queued, monkeypatch):
    from celery.exceptions import SoftTimeLimitExceeded

    run = queued()

    def too_long(*args, **kwargs):
        raise SoftTimeLimitExceeded()

    monkeypatch.setattr(services, "run_candles", too_long)
    assert backtest_run_execute(run_id=run.pk) == "failed"
    run.refresh_from_db()
    assert run.error.startswith("The backtest ran longer than a worker allows")


def test_operators_see_runs_in_the_admin_read_only(queued, django_user_model, client, totp_code):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    run = queued()
    backtest_run_execute(run_id=run.pk)
    operator = django_user_model.objects.create_superuser(email="op@example.com", password="x" * 12)
    device = TOTPDevice.objects.create(user=operator, name="app", confirmed=True)
    client.force_login(operator)
    client.post(reverse("accounts:otp-verify"), {"code": totp_code(device)})
    listing = client.get(reverse("admin:strategies_backtestrun_changelist"))
    assert listing.status_code == 200 and "sma_cross" in listing.content.decode()
    one = client.get(reverse("admin:strategies_backtestrun_change", args=[run.pk]))
    assert one.status_code == 200 and run.data_fingerprint in one.content.decode()


def test_a_run_whose_worker_died_starts_over_when_its_task_comes_back(queued):
    run = queued()
    # the first attempt took the run and died after 1,000 bars (its worker was killed)
    BacktestRun.objects.filter(pk=run.pk).update(status="running", bars_done=1000)
    assert backtest_run_execute(run_id=run.pk) == "done"  # the requeued message
    fresh = queued()
    backtest_run_execute(run_id=fresh.pk)
    run.refresh_from_db()
    fresh.refresh_from_db()
    assert run.bars_done == BARS and _dump(run.results) == _dump(fresh.results)
    # lost while being cancelled: the returning task cancels it
    lost = queued()
    BacktestRun.objects.filter(pk=lost.pk).update(status="running", cancel_requested=True)
    assert backtest_run_execute(run_id=lost.pk) == "cancelled"


def test_a_run_killed_at_the_time_limit_is_not_started_again(queued):
    from datetime import timedelta

    from django.utils.timezone import now

    run = queued()
    long_ago = now() - timedelta(seconds=services.SOFT_LIMIT_SECONDS + 1)
    BacktestRun.objects.filter(pk=run.pk).update(status="running", started_at=long_ago)
    assert backtest_run_execute(run_id=run.pk) == "failed"
    run.refresh_from_db()
    assert run.error == services.TOO_LONG and run.results is None


# -- monthly returns -------------------------------------------------------------------------
def _utc_ms(*args) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1000)


def test_monthly_returns_by_hand_from_a_constructed_equity_curve():
    ts = [
        _utc_ms(2023, 12, 20), _utc_ms(2023, 12, 31, 23, 59),  # Dec: 1000 -> 1100
        _utc_ms(2024, 1, 1), _utc_ms(2024, 1, 31, 23, 59),  # Jan: 1100 -> 1210
        _utc_ms(2024, 3, 1), _utc_ms(2024, 3, 31),  # no Feb bars; Mar: 1210 -> 1089
    ]  # fmt: skip
    equity = [1050.0, 1100.0, 900.0, 1210.0, 1500.0, 1089.0]
    got = services.monthly_returns(np.asarray(ts, dtype=np.int64), equity, cash=1000.0)
    dec, y2024 = got["years"]
    assert dec["year"] == 2023 and dec["months"][:11] == [None] * 11
    assert dec["months"][11] == pytest.approx(10.0) and dec["total"] == pytest.approx(10.0)
    assert y2024["year"] == 2024
    assert y2024["months"][0] == pytest.approx(10.0)  # 1210 / 1100
    assert y2024["months"][1] is None  # no bars in February
    assert y2024["months"][2] == pytest.approx(-10.0)  # 1089 / 1210
    assert y2024["months"][3:] == [None] * 9
    assert y2024["total"] == pytest.approx(-1.0)  # 1089 / 1100
    assert services.monthly_returns(np.asarray([], dtype=np.int64), [], cash=1.0) == {"years": []}


def test_a_finished_run_stores_monthly_returns_from_its_full_equity_and_the_page_shows_them(
    alice_client, queued
):
    run = queued()
    backtest_run_execute(run_id=run.pk)
    run.refresh_from_db()
    years = run.results["monthly_returns"]["years"]
    assert years
    growth = 1.0
    for year in years:
        growth *= 1 + year["total"] / 100
    assert growth - 1 == pytest.approx(run.results["metrics"]["total_return"], abs=1e-6)
    url = reverse("strategies:backtest-detail", args=[run.pk])
    page = alice_client.get(url).content.decode()
    assert "Monthly returns" in page and 'id="backtest-monthly"' in page
    # a run stored before monthly returns existed still renders, without the table
    del run.results["monthly_returns"]
    run.save(update_fields=["results"])
    response = alice_client.get(url)
    assert response.status_code == 200
    assert "backtest-monthly" not in response.content.decode()
    assert "Total return" in response.content.decode()


def test_the_results_page_has_a_drawdown_chart_under_the_equity(alice_client, queued):
    run = queued()
    backtest_run_execute(run_id=run.pk)
    page = alice_client.get(reverse("strategies:backtest-detail", args=[run.pk])).content.decode()
    equity = page.index('data-backtest-chart="equity"')
    drawdown = page.index('data-backtest-chart="drawdown"')
    assert equity < drawdown and f'data-source="backtest-data-{run.pk}"' in page[drawdown:]


# -- start as paper bot ----------------------------------------------------------------------
def test_a_finished_run_starts_a_draft_paper_bot_with_its_strategy_params_and_cash(
    alice_client, queued
):
    from trading.models import Bot

    run = queued()
    backtest_run_execute(run_id=run.pk)
    run.refresh_from_db()
    response = alice_client.post(reverse("strategies:backtest-paper-bot", args=[run.pk]))
    bot = Bot.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("trading:bot-detail", args=[bot.pk])
    assert bot.user_id == run.user_id and bot.mode == "paper" and bot.status == "draft"
    assert bot.strategy == run.strategy and bot.params == run.params
    assert bot.symbols == ["BTC/USDT"] and bot.budget == run.cash
    assert [v.exchange for v in bot.venues.all()] == ["binance"]
    assert alice_client.get(response["Location"]).status_code == 200  # the bot's page
    # the same again: bot_create's refusal (name taken) in words, nothing more written
    response = alice_client.post(
        reverse("strategies:backtest-paper-bot", args=[run.pk]), follow=True
    )
    assert "No paper bot created" in response.content.decode()
    assert "already have a bot with this name" in response.content.decode()
    assert Bot.objects.count() == 1


def test_paper_bot_bob_gets_404_and_an_unfinished_run_refuses_in_words(
    alice_client, bob_client, queued
):
    from trading.models import Bot

    run = queued()
    url = reverse("strategies:backtest-paper-bot", args=[run.pk])
    api = f"/api/v1/backtests/{run.pk}/paper-bot/"
    response = alice_client.post(url, follow=True)
    assert "only a finished run can start a paper bot" in response.content.decode()
    response = alice_client.post(api)
    assert response.status_code == 400
    assert "finished run" in response.json()["error"]["fields"]["run"][0]
    backtest_run_execute(run_id=run.pk)
    assert bob_client.post(url).status_code == 404
    assert bob_client.post(api).status_code == 404
    assert Bot.objects.count() == 0
    response = alice_client.post(api, {"name": "from the API"}, content_type="application/json")
    assert response.status_code == 201
    bot = Bot.objects.get()
    assert response.json()["id"] == bot.pk and bot.name == "from the API"
    assert bot.strategy == "sma_cross" and bot.params == run.params
