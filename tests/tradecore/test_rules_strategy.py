"""The rules strategy: a rule set stored as JSON, validated with errors naming the field, and
compiled to the streaming and the vectorized path, which give the same signals and trades (on
the shared BTC-USDT minute data and on integer prices with exact indicator ties)."""

from __future__ import annotations

import copy
import json
from decimal import Decimal

import jsonschema
import numpy as np
import pytest

from tests.tradecore.conftest import REPO_ROOT
from tradecore import indicators as ind
from tradecore.backtest import load_candles, run_candles, run_vectorized
from tradecore.backtest.data import CandleArrays
from tradecore.domain import Candle, Side
from tradecore.strategies import REGISTRY, ConfigError, json_schemas, validate_config
from tradecore.strategies.rules import (
    EXAMPLE_RULES,
    RULES_SCHEMA,
    RulesConfig,
    RulesStrategy,
    describe,
    dump_rules,
    parse_rules,
)
from tradecore.strategies.signals import SmaCrossConfig, SmaCrossStrategy
from tradecore.testing import data_dir
from tradecore.testing import instrument as make_instrument

DATA = "binance_BTC-USDT_1m.csv.gz"
INSTRUMENT = make_instrument(lot="0.00001", min_notional="1", taker="0.001")


def sma(period):
    return {"indicator": "sma", "period": period}


def ema(period):
    return {"indicator": "ema", "period": period}


def group(op, *conditions):
    return {"op": op, "conditions": list(conditions)}


def cond(kind, left, right):
    return {"type": kind, "left": left, "right": right}


CLOSE = {"indicator": "close"}
SMA_CROSS = {
    "entry": group("and", cond("crosses_above", sma(10), sma(30))),
    "exit": group("and", cond("crosses_below", sma(10), sma(30))),
}
RULE_SETS = {
    "sma_cross": SMA_CROSS,
    "ema_rsi": {
        "entry": group(
            "and",
            cond("crosses_above", ema(12), ema(26)),
            cond("less_than", {"indicator": "rsi", "period": 14}, {"value": 70}),
        ),
        "exit": group("or", cond("crosses_below", CLOSE, sma(50))),
    },
    "macd_nested": {
        "entry": group(
            "or",
            cond(
                "crosses_above",
                {"indicator": "macd", "fast": 12, "slow": 26, "signal": 9},
                {"indicator": "macd", "fast": 12, "slow": 26, "signal": 9, "output": "signal"},
            ),
            group(
                "and",
                {"type": "rising", "series": sma(5), "bars": 3},
                cond(
                    "greater_than",
                    CLOSE,
                    {
                        "indicator": "high",
                    },
                ),
                {
                    "type": "within_band",
                    "series": CLOSE,
                    "band": {"indicator": "bollinger", "period": 20, "k": 2},
                },
            ),
        ),
        "exit": group(
            "or",
            cond(
                "crosses_below",
                {"indicator": "macd", "fast": 12, "slow": 26, "signal": 9},
                {"indicator": "macd", "fast": 12, "slow": 26, "signal": 9, "output": "signal"},
            ),
            {"type": "falling", "series": CLOSE, "bars": 4},
        ),
    },  # fmt: skip
    "bollinger_reversion": {
        "entry": group(
            "and",
            cond(
                "less_than",
                CLOSE,
                {"indicator": "bollinger", "period": 20, "k": 2, "output": "lower"},
            ),
        ),
        "exit": group(
            "and", cond("greater_than", CLOSE, {"indicator": "bollinger", "period": 20, "k": 2})
        ),
    },  # fmt: skip
    "rsi_atr_band": {
        "entry": group(
            "and",
            cond("crosses_above", {"indicator": "rsi", "period": 7}, {"value": 30}),
            group(
                "or",
                {
                    "type": "within_band",
                    "series": {"indicator": "low"},
                    "band": {"indicator": "bollinger", "period": 30, "k": 1.5},
                },
                cond("greater_than", {"indicator": "atr", "period": 14}, {"value": 5}),
            ),
        ),
        "exit": group(
            "or",
            cond("crosses_below", {"indicator": "rsi", "period": 7}, {"value": 70}),
            group(
                "and",
                {"type": "rising", "series": {"indicator": "open"}, "bars": 2},
                cond("less_than", ema(8), sma(21)),
            ),
        ),
    },  # fmt: skip
    "falling_then_rising": {
        "entry": group(
            "and",
            {"type": "falling", "series": sma(20), "bars": 5},
            cond("crosses_above", CLOSE, ema(3)),
        ),
        "exit": group(
            "or",
            {"type": "rising", "series": sma(3), "bars": 6},
            cond("crosses_below", CLOSE, sma(20)),
        ),
    },  # fmt: skip
}


@pytest.fixture(scope="module")
def real_candles():
    path = data_dir(REPO_ROOT) / DATA
    if not path.exists():
        pytest.skip(f"market data {DATA} not found under {path.parent}")
    return load_candles(path)


def integer_walk(n: int, seed: int) -> CandleArrays:
    rng = np.random.default_rng(seed)
    close = (20_000 + np.cumsum(rng.integers(-3, 4, n))).astype(float)
    open_ = np.concatenate([[close[0]], close[:-1]])
    high = np.maximum(open_, close) + rng.integers(0, 3, n)
    low = np.minimum(open_, close) - rng.integers(0, 3, n)
    return CandleArrays(np.arange(n, dtype=np.int64) * 60_000, open_, high, low, close,
                        np.ones(n))  # fmt: skip


def streaming_signals(strategy: RulesStrategy, candles: CandleArrays):
    entries, exits = [], []
    columns = (candles.ts, candles.open, candles.high, candles.low, candles.close, candles.volume)
    for row in zip(*(c.tolist() for c in columns), strict=True):
        entry, exit_ = strategy.step(Candle(*row))
        entries.append(entry)
        exits.append(exit_)
    return np.array(entries, dtype=bool), np.array(exits, dtype=bool)


def event_trades(strategy, candles):
    result = run_candles(strategy, candles, INSTRUMENT, cash=Decimal(10_000))
    bars = np.searchsorted(candles.ts, [f.ts for f in result.fills]).tolist()
    trades = [
        (bar, "buy" if f.side is Side.BUY else "sell", f.price, f.qty)
        for bar, f in zip(bars, result.fills, strict=True)
    ]
    return trades, result.final_equity


def vector_trades(strategy, candles):
    result = run_vectorized(strategy, candles, INSTRUMENT, cash=10_000)
    return [(t.bar, t.side, t.price, t.qty) for t in result.trades], result.final_equity


# -- JSON and validation ----------------------------------------------------------------------
def test_json_round_trip():
    for rules in RULE_SETS.values():
        config = validate_config("rules", {"rules": rules, "allocation": 0.5})
        stored = json.dumps(config.to_dict())
        again = validate_config("rules", json.loads(stored))
        assert again == config
        assert again.rule_set == parse_rules(rules)
        assert parse_rules(dump_rules(again.rule_set)) == again.rule_set
        # a JSON string and a dict give the same config
        assert RulesConfig(rules=json.dumps(rules), allocation=0.5) == config
    # defaults are filled in: MACD's periods and output, Bollinger's period and k
    parsed = parse_rules(RULE_SETS["macd_nested"])
    macd = parsed["entry"]["conditions"][0]["left"]
    assert macd == {"indicator": "macd", "fast": 12, "slow": 26, "signal": 9, "output": "line"}
    band = parsed["entry"]["conditions"][1]["conditions"][2]["band"]
    assert band == {"indicator": "bollinger", "period": 20, "k": 2.0}


def _too_deep():
    inner: dict = cond("greater_than", CLOSE, {"value": 1})
    for _ in range(6):
        inner = group("and", inner)
    return {"entry": inner, "exit": group("or", cond("less_than", CLOSE, {"value": 1}))}


def _bad(path, value):
    rules = copy.deepcopy(RULE_SETS["ema_rsi"])
    target = rules
    keys = path.split(".")
    for key in keys[:-1]:
        target = target[int(key)] if key.isdigit() else target[key]
    last = keys[-1]
    if value is KeyError:
        del target[last]
    else:
        target[int(last) if last.isdigit() else last] = value
    return rules


BAD = [
    (_bad("entry.conditions.0.left.indicator", "vwap"), "entry.conditions[0].left.indicator",
     "unknown indicator 'vwap'"),
    (_bad("entry.conditions.1.left.period", 0), "entry.conditions[1].left.period",
     "must be >= 1, got 0"),
    (_bad("entry.conditions.1.left.period", 2.5), "entry.conditions[1].left.period",
     "expected integer"),
    (_bad("entry.conditions.1.left.period", "14"), "entry.conditions[1].left.period",
     "expected integer, got string"),
    (_bad("exit.conditions", []), "exit.conditions", "at least one condition"),
    (_bad("entry.conditions.0.type", "crosses"), "entry.conditions[0].type",
     "unknown condition 'crosses'"),
    (_bad("entry.op", "xor"), "entry.op", "must be one of ['and', 'or']"),
    (_too_deep(), "entry.conditions[0].conditions[0].conditions[0].conditions[0].conditions[0]",
     "too deep"),
    (_bad("entry.conditions.1.right", {"value": "70"}), "entry.conditions[1].right.value",
     "expected number, got string"),
    (_bad("entry.conditions", {"type": "less_than"}), "entry.conditions",
     "expected an array, got object"),
    (_bad("entry.conditions.0.left", {"value": 3}), "entry.conditions[0].left.value",
     "only on the right"),
    (_bad("entry.conditions.0.left", {"indicator": "macd", "fast": 30}),
     "entry.conditions[0].left.fast", "shorter than slow"),
    (_bad("entry.conditions.0.left.length", 3), "entry.conditions[0].left.length",
     "unknown field"),
    (_bad("exit", KeyError), "exit", "is required"),
    (_bad("entry.conditions.1", [1, 2]), "entry.conditions[1]", "expected an object, got array"),
    (_bad("entry.conditions.0.right",
          {"indicator": "bollinger", "output": "top"}), "entry.conditions[0].right.output",
     "must be one of"),
]  # fmt: skip


@pytest.mark.parametrize("rules, field, message", BAD)
def test_validation_errors_name_the_field(rules, field, message):
    with pytest.raises(ConfigError) as raised:
        validate_config("rules", {"rules": rules})
    assert raised.value.field == field
    assert message in raised.value.message
    assert str(raised.value).startswith(f"{field}: ")


def test_bad_json_and_bad_sizing_are_config_errors():
    with pytest.raises(ConfigError) as raised:
        validate_config("rules", {"rules": "{entry"})
    assert raised.value.field == "rules" and "not valid JSON" in raised.value.message
    with pytest.raises(ConfigError) as raised:
        validate_config("rules", {"rules": EXAMPLE_RULES, "sizing": "kelly"})
    assert raised.value.field == "sizing"


def test_the_published_schema_accepts_the_valid_and_rejects_the_invalid():
    schema = json_schemas()["rules"]
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["properties"]["rules"]["contentSchema"] is RULES_SCHEMA
    validator = jsonschema.Draft202012Validator(RULES_SCHEMA)
    for rules in RULE_SETS.values():
        validator.validate(rules)
    for rules, _, message in BAD:
        if message in ("too deep", "shorter than slow"):  # beyond what the schema says
            continue
        assert not validator.is_valid(rules), rules


def test_describe():
    assert describe(RULE_SETS["ema_rsi"]) == (
        "Enter when EMA(12) crosses above EMA(26) and RSI(14) < 70; "
        "exit when close crosses below SMA(50)."
    )
    assert describe(json.dumps(RULE_SETS["macd_nested"])) == (
        "Enter when MACD(12, 26, 9) crosses above MACD signal(12, 26, 9) or "
        "(SMA(5) has risen for 3 bars and close > high and "
        "close is within Bollinger bands(20, 2)); "
        "exit when MACD(12, 26, 9) crosses below MACD signal(12, 26, 9) or "
        "close has fallen for 4 bars."
    )
    assert describe(RULE_SETS["bollinger_reversion"]) == (
        "Enter when close < lower Bollinger band(20, 2); "
        "exit when close > middle Bollinger band(20, 2)."
    )
    with pytest.raises(ConfigError):
        describe({"entry": group("and")})


def test_registered():
    assert REGISTRY["rules"] is RulesStrategy
    assert RulesStrategy().warmup_bars == 27  # EMA(26) and one more bar for the cross


# -- streaming == vectorized --------------------------------------------------------------------
def _assert_paths_agree(rules, candles, *, min_trades):
    config = RulesConfig(rules=rules)
    entries, exits = RulesStrategy(config).signals(
        candles.open, candles.high, candles.low, candles.close, candles.volume
    )
    s_entries, s_exits = streaming_signals(RulesStrategy(config), candles)
    assert np.array_equal(np.flatnonzero(entries), np.flatnonzero(s_entries))
    assert np.array_equal(np.flatnonzero(exits), np.flatnonzero(s_exits))
    events, event_final = event_trades(RulesStrategy(config), candles)
    vectors, vector_final = vector_trades(RulesStrategy(config), candles)
    assert len(events) >= min_trades
    assert events == vectors
    assert abs(event_final - vector_final) / vector_final < 1e-12
    return events


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(RULE_SETS))
def test_streaming_equals_vectorized_on_real_data(name, real_candles):
    _assert_paths_agree(RULE_SETS[name], real_candles, min_trades=20)


@pytest.mark.parametrize("name", sorted(RULE_SETS))
def test_streaming_equals_vectorized_through_exact_ties(name):
    candles = integer_walk(6_000, 7)
    _assert_paths_agree(RULE_SETS[name], candles, min_trades=6)


def test_crosses_through_exact_ties_count_once():
    candles = integer_walk(6_000, 7)
    fast, slow = ind.sma(candles.close, 10), ind.sma(candles.close, 30)
    assert np.count_nonzero(fast == slow) > 10  # exact ties on integer prices
    entries, exits = RulesStrategy(RulesConfig(rules=SMA_CROSS)).signals(
        candles.open, candles.high, candles.low, candles.close, candles.volume
    )
    assert np.array_equal(entries, ind.crossed_above(fast, slow))
    assert np.array_equal(exits, ind.crossed_below(fast, slow))


@pytest.mark.parametrize("source", ["real", "ties"])
def test_sma_cross_rules_trade_exactly_as_sma_cross(source, request):
    candles = (
        request.getfixturevalue("real_candles") if source == "real" else integer_walk(6_000, 9)
    )
    rules, rules_final = event_trades(RulesStrategy(RulesConfig(rules=SMA_CROSS)), candles)
    sma, sma_final = event_trades(SmaCrossStrategy(SmaCrossConfig(fast=10, slow=30)), candles)
    assert len(sma) > 20
    assert rules == sma
    assert rules_final == sma_final


# -- sizing and checkpoints ----------------------------------------------------------------------
def test_fixed_and_atr_sizing_on_the_streaming_path():
    candles = integer_walk(6_000, 7)
    fixed = RulesConfig(rules=SMA_CROSS, sizing="fixed", quote_amount=500.0)
    result = run_candles(RulesStrategy(fixed), candles, INSTRUMENT, cash=Decimal(10_000))
    buys = [f for f in result.fills if f.side is Side.BUY]
    assert len(buys) > 5
    for fill in buys:  # 500 quote including the fee, rounded down to the lot
        spent = fill.price * fill.qty + fill.fee
        assert Decimal(499) < spent <= Decimal(500)

    atr = RulesConfig(rules=SMA_CROSS, sizing="atr", risk_fraction=0.0001, atr_multiple=2.0)
    strategy = RulesStrategy(atr)
    result = run_candles(strategy, candles, INSTRUMENT, cash=Decimal(10_000))
    buys = [f for f in result.fills if f.side is Side.BUY]
    assert len(buys) > 5
    true_atr = ind.atr(candles.high, candles.low, candles.close, 14)
    bars = np.searchsorted(candles.ts, [f.ts for f in buys])
    cash = Decimal(10_000)
    for fill, bar in zip(result.fills, np.searchsorted(candles.ts, [f.ts for f in result.fills]),
                         strict=True):  # fmt: skip
        if fill.side is Side.BUY:
            # risk 0.01% of the cash on a 2 x ATR move (ATR of the signal bar; the fee and
            # the next open instead of the signal bar's close make the small difference)
            risked = float(fill.qty) * 2.0 * true_atr[bar - 1]
            assert risked == pytest.approx(0.0001 * float(cash), rel=3e-3)
            assert fill.price * fill.qty < cash / 2  # sized by the ATR, not by the cash
            cash -= fill.price * fill.qty + fill.fee
        else:
            cash += fill.price * fill.qty - fill.fee
    assert len(bars) == len(buys)


def test_the_vectorized_path_refuses_sizing_it_cannot_reproduce():
    candles = integer_walk(2_000, 7)
    columns = (candles.open, candles.high, candles.low, candles.close, candles.volume)
    reference = RulesStrategy(RulesConfig(rules=SMA_CROSS)).signals(*columns)
    for sizing in ("fixed", "atr"):
        strategy = RulesStrategy(RulesConfig(rules=SMA_CROSS, sizing=sizing))
        with pytest.raises(ConfigError) as raised:
            run_vectorized(strategy, candles, INSTRUMENT, cash=10_000)
        assert raised.value.field == "sizing"
        preview = strategy.rule_signals(*columns)  # the same bars, for a chart
        assert np.array_equal(preview[0], reference[0]) and reference[0].any()
        assert np.array_equal(preview[1], reference[1]) and reference[1].any()


def test_snapshot_and_restore_resume_the_same_signals():
    candles = integer_walk(3_000, 5)
    config = RulesConfig(rules=RULE_SETS["macd_nested"])
    whole = streaming_signals(RulesStrategy(config), candles)
    first = RulesStrategy(config)
    head = CandleArrays(
        *(
            c[:1_500]
            for c in (
                candles.ts,
                candles.open,
                candles.high,
                candles.low,
                candles.close,
                candles.volume,
            )
        )
    )
    tail = CandleArrays(
        *(
            c[1_500:]
            for c in (
                candles.ts,
                candles.open,
                candles.high,
                candles.low,
                candles.close,
                candles.volume,
            )
        )
    )
    streaming_signals(first, head)
    state = json.loads(json.dumps(first.snapshot()))
    resumed = RulesStrategy(config)
    resumed.restore(state)
    rest = streaming_signals(resumed, tail)
    assert np.array_equal(rest[0], whole[0][1_500:])
    assert np.array_equal(rest[1], whole[1][1_500:])
    assert whole[0][1_500:].any() and whole[1][1_500:].any()
