"""The SMA(10)/SMA(30) long-only crossover of issue 4, written for engines nobody here wrote.

Spec: enter with all cash at the next bar's open when SMA(10) crosses above SMA(30), exit at
the next bar's open when it crosses below; 0.1% fee per side; 10,000 start; fractional size.
A cross here is the peers' strict rule, fast[t-1] < slow[t-1] and fast[t] > slow[t]. On data
without exact ties (the reference file) it marks the same bars as Peregrine's rule, where a cross
through a tie counts once at the bar where the sign changes; on data with ties (integer prices,
e.g. FTX BTC-PERP 1m) the strict rule misses those crosses, and the engines differ there by
design (tests/tradecore/test_fidelity.py). Each function returns
(entry bars, exit bars, final equity) where bars index the rows of the data frame.

Used by tests/tradecore/test_agreement.py and bench/tradecore_bench.py. Needs the bench extra
(requirements/bench.in); every import of a reference engine happens inside its function.
"""

from __future__ import annotations

import numpy as np

FAST, SLOW, FEE, CASH = 10, 30, 0.001, 10_000.0
ALL_IN = 1 - 1e-12  # peers refuse an order exactly equal to cash after float rounding


def backtesting_py(df, fee: float = FEE):
    """backtesting.py with FractionalBacktest at 1e-15 BTC units (fractional size)."""
    import pandas as pd
    from backtesting import Strategy
    from backtesting.lib import FractionalBacktest, crossover

    data = _ohlcv_frame(df)

    class SmaCross(Strategy):
        def init(self):
            def sma(values, n):
                return pd.Series(values).rolling(n).mean()

            self.fast = self.I(sma, self.data.Close, FAST)
            self.slow = self.I(sma, self.data.Close, SLOW)

        def next(self):
            if not self.position and crossover(self.fast, self.slow):
                self.buy(size=ALL_IN)
            elif self.position and crossover(self.slow, self.fast):
                self.position.close()

    bt = FractionalBacktest(
        data, SmaCross, cash=CASH, commission=fee, fractional_unit=1e-15, finalize_trades=False
    )
    stats = bt.run()
    trades = stats["_trades"]
    return (
        trades["EntryBar"].astype(int).tolist(),
        trades["ExitBar"].dropna().astype(int).tolist(),
        float(stats["Equity Final [$]"]),
    )


def vectorbt(df, fee: float = FEE):
    """vectorbt: signals from its MA indicator, executed at the next bar's open."""
    import pandas as pd
    import vectorbt as vbt

    close = pd.Series(df["close"].to_numpy())
    open_ = pd.Series(df["open"].to_numpy())
    fast = vbt.MA.run(close, FAST)
    slow = vbt.MA.run(close, SLOW)
    entries = fast.ma_crossed_above(slow).shift(1, fill_value=False).astype(bool)
    exits = fast.ma_crossed_below(slow).shift(1, fill_value=False).astype(bool)
    pf = vbt.Portfolio.from_signals(
        close, entries, exits, price=open_, fees=fee, init_cash=CASH, size=np.inf,
        direction="longonly",
    )  # fmt: skip
    records = pf.trades.records
    closed = records[records["status"] == 1]
    return (
        records["entry_idx"].astype(int).tolist(),
        closed["exit_idx"].astype(int).tolist(),
        float(pf.final_value()),
    )


def backtrader(df, fee: float = FEE):
    """backtrader with cheat-on-open: sized on the open it fills at, like the others."""
    import backtrader as bt

    class SmaCross(bt.Strategy):
        def __init__(self):
            fast = bt.indicators.SMA(self.data.close, period=FAST)
            slow = bt.indicators.SMA(self.data.close, period=SLOW)
            self.fast, self.slow = fast, slow
            self.entries, self.exits = [], []

        def next_open(self):
            # indicators still hold the previous bar: [0] is t-1, [-1] is t-2
            f1, s1, f2, s2 = self.fast[0], self.slow[0], self.fast[-1], self.slow[-1]
            if not self.position and f2 < s2 and f1 > s1:
                size = self.broker.getcash() * ALL_IN / (self.data.open[0] * (1 + fee))
                self.buy(size=size)
            elif self.position and f2 > s2 and f1 < s1:
                self.close()

        def notify_order(self, order):
            if order.status == order.Completed:
                bar = len(self.data) - 1
                (self.entries if order.isbuy() else self.exits).append(bar)

    cerebro = bt.Cerebro(cheat_on_open=True, stdstats=False)
    cerebro.broker.set_coo(True)
    cerebro.broker.setcash(CASH)
    cerebro.broker.setcommission(commission=fee)
    cerebro.adddata(bt.feeds.PandasData(dataname=_ohlcv_frame(df)))
    cerebro.addstrategy(SmaCross)
    (strategy,) = cerebro.run()
    return strategy.entries, strategy.exits, float(cerebro.broker.getvalue())


def plain_loop(df, fee: float = FEE):
    """The same rule as a bare Python loop over lists: the speed floor."""
    opens, closes = df["open"].tolist(), df["close"].tolist()
    cash, qty = CASH, 0.0
    fsum = ssum = 0.0
    entries, exits = [], []
    pf = ps = float("nan")
    pending = 0
    for i, (o, c) in enumerate(zip(opens, closes, strict=True)):
        if pending == 1:
            qty = cash / (o * (1 + fee))
            cash, pending = 0.0, 0
            entries.append(i)
        elif pending == -1:
            cash, qty, pending = qty * o * (1 - fee), 0.0, 0
            exits.append(i)
        fsum += c - (closes[i - FAST] if i >= FAST else 0.0)
        ssum += c - (closes[i - SLOW] if i >= SLOW else 0.0)
        if i >= SLOW - 1:
            f, s = fsum / FAST, ssum / SLOW
            if qty == 0 and pf < ps and f > s:
                pending = 1
            elif qty > 0 and pf > ps and f < s:
                pending = -1
            pf, ps = f, s
    return entries, exits, cash + qty * closes[-1]


def _ohlcv_frame(df):
    import pandas as pd

    frame = df.rename(
        columns={"open": "Open", "high": "High", "low": "Low", "close": "Close", "volume": "Volume"}
    )[["Open", "High", "Low", "Close", "Volume"]].copy()
    frame.index = pd.to_datetime(df["timestamp_ms"], unit="ms")
    return frame
