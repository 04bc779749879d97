"""From trades and transfers to lot events (pure: prices come from an injected lookup).

The valuation rule, printed on every report: amounts are valued in USD. USD and the USD
stablecoins below count as cash at 1 USD (they are not lots). A trade against cash is valued at
the cash amount; any other trade at its quote asset's USD price from stored candles (the close of
the last bar at or before the trade), else at its base asset's; a trade whose value cannot be
found is flagged and carried with an unknown value, never guessed.

Fees, orientation-free (what is given, what is received): a fee reduces the proceeds of what is
given, or, when cash is given, adds to the basis of what is received; a fee taken from the
received coins lowers the amount received; a fee paid in a third asset is itself a disposal of
that asset at its USD value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from compliance.tax.engine import ZERO, Acquire, Dispose, Event, Move

REPORTING_CURRENCY = "USD"
STABLECOINS = frozenset({"USDT", "USDC", "BUSD", "DAI", "TUSD", "USDP", "FDUSD", "PYUSD"})
CASH = frozenset({"USD"}) | STABLECOINS
VALUATION_RULE = (
    "Values in USD. USD and the stablecoins " + ", ".join(sorted(STABLECOINS)) + " count as "
    "cash at 1 USD (not lots). A trade against cash is valued at the cash amount, any other at "
    "its quote asset's USD close from stored candles at or before the trade (else its base "
    "asset's); a value that cannot be found is flagged, not guessed. Acquisition fees add to "
    "basis, disposal fees reduce proceeds, a fee in a third asset is a disposal of that asset. "
    "Long-term: held more than 365 days."
)

PriceLookup = Callable[[str, datetime], Decimal | None]


def is_cash(asset: str) -> bool:
    return asset.upper() in CASH


@dataclass(frozen=True)
class Trade:
    """Coins given for coins received; `quote` names the side whose price values the trade."""

    ref: str
    at: datetime
    wallet: str
    given_asset: str
    given_amount: Decimal
    received_asset: str
    received_amount: Decimal
    fee: Decimal = ZERO
    fee_asset: str = ""
    value_usd: Decimal | None = None
    quote: str = ""


@dataclass(frozen=True)
class Flow:
    """A deposit, withdrawal, income, fee or transfer between own wallets."""

    ref: str
    at: datetime
    kind: str
    asset: str
    amount: Decimal
    wallet: str
    to_wallet: str = ""
    fee: Decimal = ZERO
    value_usd: Decimal | None = None


@dataclass(frozen=True)
class Income:
    ref: str
    at: datetime
    asset: str
    amount: Decimal
    value: Decimal | None
    wallet: str


@dataclass(frozen=True)
class Flag:
    ref: str
    at: datetime
    message: str


FLOW_KINDS = ("deposit", "withdrawal", "transfer", "income", "fee")


def trade_from_fill(
    *, ref: str, at: datetime, wallet: str, symbol: str, side: str, price: Decimal,
    qty: Decimal, fee: Decimal = ZERO, fee_asset: str = "", value_usd: Decimal | None = None,
) -> Trade:  # fmt: skip
    """A fill (base/quote, side, price, quantity) as what it gave and what it received."""
    base, quote = symbol.upper().replace("-", "/").split("/")[:2]
    quote = quote.split(":")[0]
    notional = price * qty
    if side.lower() == "buy":
        given, given_amount, received, received_amount = quote, notional, base, qty
    elif side.lower() == "sell":
        given, given_amount, received, received_amount = base, qty, quote, notional
    else:
        raise ValueError(f"{ref}: side must be buy or sell, not {side!r}")
    return Trade(
        ref, at, wallet, given, given_amount, received, received_amount, fee or ZERO,
        (fee_asset or "").upper(), value_usd, quote,
    )  # fmt: skip


def _value_of(asset: str, amount: Decimal, at: datetime, price: PriceLookup) -> Decimal | None:
    if is_cash(asset):
        return amount
    unit = price(asset, at)
    return None if unit is None else unit * amount


def trade_value(trade: Trade, price: PriceLookup) -> Decimal | None:
    """The USD value of what the trade received (gross), by the rule in VALUATION_RULE."""
    if trade.value_usd is not None:
        return trade.value_usd
    if is_cash(trade.given_asset):
        return trade.given_amount
    if is_cash(trade.received_asset):
        return trade.received_amount
    sides = [(trade.given_asset, trade.given_amount), (trade.received_asset, trade.received_amount)]
    sides.sort(key=lambda side: side[0] != trade.quote)  # the quote first
    for asset, amount in sides:
        value = _value_of(asset, amount, trade.at, price)
        if value is not None:
            return value
    return None


def _fee_value(trade: Trade, value: Decimal | None, price: PriceLookup) -> Decimal | None:
    if not trade.fee:
        return ZERO
    if is_cash(trade.fee_asset):
        return trade.fee
    if value is not None and trade.fee_asset == trade.given_asset and trade.given_amount:
        return trade.fee * value / trade.given_amount
    if value is not None and trade.fee_asset == trade.received_asset and trade.received_amount:
        return trade.fee * value / trade.received_amount
    return _value_of(trade.fee_asset, trade.fee, trade.at, price)


def _minus(a: Decimal | None, b: Decimal | None) -> Decimal | None:
    return None if a is None or b is None else a - b


def _plus(a: Decimal | None, b: Decimal | None) -> Decimal | None:
    return None if a is None or b is None else a + b


def trade_events(trade: Trade, price: PriceLookup, flags: list[Flag]) -> list[Event]:
    """The disposals and the acquisition one trade makes (fees by the module's rule)."""
    value = trade_value(trade, price)
    fee_value = _fee_value(trade, value, price)
    if value is None:
        flags.append(Flag(trade.ref, trade.at, f"no USD value found for {trade.received_asset}"))
    if fee_value is None:
        flags.append(Flag(trade.ref, trade.at, f"no USD value found for the {trade.fee_asset} fee"))
    a, b, c = trade.given_asset, trade.received_asset, trade.fee_asset if trade.fee else ""
    events: list[Event] = []
    if c and c not in (a, b) and not is_cash(c):
        events.append(Dispose(trade.at, c, trade.fee, fee_value, trade.wallet, trade.ref, "fee"))
    if not is_cash(a):
        proceeds = value if c == a else _minus(value, fee_value)
        amount = trade.given_amount + (trade.fee if c == a else ZERO)
        events.append(Dispose(trade.at, a, amount, proceeds, trade.wallet, trade.ref, "trade"))
    if not is_cash(b):
        if is_cash(a):
            basis = value if c == b else _plus(value, fee_value)
        else:
            basis = _minus(value, fee_value) if c == b else value
        amount = trade.received_amount - (trade.fee if c == b else ZERO)
        events.append(Acquire(trade.at, b, amount, basis, trade.wallet, trade.ref, "trade"))
    return events


def flow_events(
    flow: Flow, price: PriceLookup, flags: list[Flag], incomes: list[Income]
) -> list[Event]:
    """The events of a deposit, withdrawal, income, fee or own transfer."""
    if is_cash(flow.asset):
        return []
    if flow.kind == "deposit":
        if flow.value_usd is None:
            flags.append(Flag(flow.ref, flow.at, f"deposit of {flow.asset} without a cost basis"))
        return [Acquire(flow.at, flow.asset, flow.amount, flow.value_usd, flow.wallet, flow.ref,
                        "deposit")]  # fmt: skip
    if flow.kind == "withdrawal":
        return [Dispose(flow.at, flow.asset, flow.amount, ZERO, flow.wallet, flow.ref,
                        "withdrawal", taxable=False)]  # fmt: skip
    if flow.kind in ("income", "fee"):
        value = flow.value_usd
        if value is None:
            value = _value_of(flow.asset, flow.amount, flow.at, price)
        if value is None:
            flags.append(Flag(flow.ref, flow.at, f"no USD value found for {flow.asset}"))
        if flow.kind == "income":
            incomes.append(Income(flow.ref, flow.at, flow.asset, flow.amount, value, flow.wallet))
            return [Acquire(flow.at, flow.asset, flow.amount, value, flow.wallet, flow.ref,
                            "income")]  # fmt: skip
        return [Dispose(flow.at, flow.asset, flow.amount, value, flow.wallet, flow.ref, "fee")]
    if flow.kind == "transfer":
        events: list[Event] = []
        if flow.fee:
            fee_value = _value_of(flow.asset, flow.fee, flow.at, price)
            if fee_value is None:
                flags.append(Flag(flow.ref, flow.at, f"no USD value found for {flow.asset}"))
            events.append(Dispose(flow.at, flow.asset, flow.fee, fee_value, flow.wallet,
                                  flow.ref, "fee"))  # fmt: skip
        events.append(Move(flow.at, flow.asset, flow.amount, flow.wallet, flow.to_wallet, flow.ref))
        return events
    raise ValueError(f"{flow.ref}: unknown kind {flow.kind!r}")


@dataclass
class Normalized:
    events: list[Event]
    incomes: list[Income]
    flags: list[Flag]


def normalize(records: Iterable[Trade | Flow], price: PriceLookup) -> Normalized:
    """Lot events for records in chronological order, with the income and the flags found."""
    events: list[Event] = []
    flags: list[Flag] = []
    incomes: list[Income] = []
    for record in records:
        if isinstance(record, Trade):
            events.extend(trade_events(record, price, flags))
        else:
            events.extend(flow_events(record, price, flags, incomes))
    return Normalized(events, incomes, flags)


def no_prices(asset: str, at: datetime) -> Decimal | None:
    """A price lookup that knows nothing (every non-cash value is then flagged)."""
    return None
