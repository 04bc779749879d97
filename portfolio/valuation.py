"""Value bots from their books: holdings from starting funds and fills, FIFO PnL, marks.

Reads only. A bot's holdings per (exchange, asset) are its starting funds (paper: the funds it
was given per venue; live: its budget in the quote asset) plus every booked fill: a buy adds
the base and spends price * qty of the quote, a sell the reverse, a fee is taken from its asset.
Everything is valued in one asset per bot (a stablecoin quote when the bot trades one), at the
latest marks from Redis, else at the bot's last fill price; what has neither is listed unpriced.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db.models import F, Q, Sum

from portfolio.ledger import FifoLedger, LedgerFill, split_symbol
from portfolio.marks import latest_marks
from portfolio.models import BotLedger

ZERO = Decimal(0)
STABLECOINS = ("USDT", "USDC", "USD", "BUSD", "FDUSD", "TUSD", "DAI", "EUR")


@dataclass(frozen=True)
class Holding:
    exchange: str
    asset: str
    total: Decimal
    in_orders: Decimal
    price: Decimal | None
    value: Decimal | None


@dataclass(frozen=True)
class PositionLine:
    symbol: str
    qty: Decimal
    average_price: Decimal | None
    mark: Decimal | None
    unrealized: Decimal
    realized: Decimal
    fills: int


@dataclass
class BotValuation:
    """A bot's value and results now; amounts in `valuation_asset` unless named otherwise."""

    bot_id: int
    valuation_asset: str
    holdings: list[Holding] = field(default_factory=list)
    positions: list[PositionLine] = field(default_factory=list)
    cash: Decimal = ZERO
    crypto: Decimal = ZERO
    realized_pnl: Decimal = ZERO
    unrealized_pnl: Decimal = ZERO
    fees_by_asset: dict[str, Decimal] = field(default_factory=dict)
    fees: Decimal = ZERO
    trades: int = 0
    closing_trades: int = 0
    winning_trades: int = 0
    unpriced: list[str] = field(default_factory=list)

    @property
    def total_value(self) -> Decimal:
        return self.cash + self.crypto

    @property
    def net_pnl(self) -> Decimal:
        return self.realized_pnl + self.unrealized_pnl - self.fees


@dataclass
class LedgerProgress:
    """A ledger brought up to the latest fill, and where it stands."""

    ledger: FifoLedger
    fills_applied: int
    last_executed_at: datetime | None
    last_fill_id: int


def valuation_asset(symbols) -> str:
    """The asset a bot is valued in: the first stablecoin quote, else the first quote."""
    quotes = [split_symbol(symbol)[1] for symbol in symbols or [] if "/" in symbol]
    for quote in quotes:
        if quote in STABLECOINS:
            return quote
    return quotes[0] if quotes else "USDT"


def _ledger_fill(row) -> LedgerFill:
    symbol, side, qty, price, fee, fee_asset, executed_at = row
    return LedgerFill(symbol, side, qty, price, fee or ZERO, fee_asset or "", executed_at)


_FILL_FIELDS = ("symbol", "side", "qty", "price", "fee", "fee_asset", "executed_at")


def bot_ledger_progress(bot) -> LedgerProgress:
    """The bot's FIFO ledger from its checkpoint plus the fills booked since.

    Fills are applied by (executed_at, id). If a fill was booked with an execution time before
    the checkpoint (reconciliation after a restart), the whole ledger is replayed.
    """
    from trading.models import Fill

    fills = Fill.objects.filter(bot_id=bot.pk)
    checkpoint = BotLedger.objects.filter(bot_id=bot.pk).first()
    progress = LedgerProgress(FifoLedger(), 0, None, 0)
    newer = fills
    if checkpoint is not None and checkpoint.last_executed_at is not None:
        progress = LedgerProgress(
            FifoLedger.restore(checkpoint.state),
            checkpoint.fills_applied,
            checkpoint.last_executed_at,
            checkpoint.last_fill_id,
        )
        last = checkpoint.last_executed_at
        newer = fills.filter(
            Q(executed_at__gt=last) | Q(executed_at=last, id__gt=checkpoint.last_fill_id)
        )
    rows = list(newer.order_by("executed_at", "id").values_list("id", *_FILL_FIELDS))
    if progress.fills_applied and progress.fills_applied + len(rows) != fills.count():
        progress = LedgerProgress(FifoLedger(), 0, None, 0)
        rows = list(fills.order_by("executed_at", "id").values_list("id", *_FILL_FIELDS))
    for row in rows:
        progress.ledger.apply(_ledger_fill(row[1:]))
        progress.last_fill_id, progress.last_executed_at = row[0], row[7]
    progress.fills_applied += len(rows)
    return progress


def _starting_funds(bot) -> dict[tuple[str, str], Decimal]:
    funds: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    if bot.is_live:
        exchange = next((venue.exchange for venue in bot.venues.all()), "")
        funds[(exchange, valuation_asset(bot.symbols))] += bot.budget
        return funds
    for exchange, assets in (bot.paper_balances or {}).items():
        for asset, amount in (assets or {}).items():
            funds[(exchange, asset)] += Decimal(str(amount))
    return funds


def bots_holdings(bots) -> dict[int, dict[tuple[str, str], Decimal]]:
    """Per bot: (exchange, asset) -> amount held, from starting funds and every booked fill."""
    from trading.models import Fill

    held = {bot.pk: _starting_funds(bot) for bot in bots}
    rows = (
        Fill.objects.filter(bot_id__in=list(held))
        .values("bot_id", "exchange", "symbol", "side", "fee_asset")
        .annotate(total_qty=Sum("qty"), notional=Sum(F("price") * F("qty")), total_fee=Sum("fee"))
    )
    for row in rows:
        book = held[row["bot_id"]]
        base, quote = split_symbol(row["symbol"])
        sign = 1 if row["side"] == "buy" else -1
        book[(row["exchange"], base)] += sign * row["total_qty"]
        book[(row["exchange"], quote)] -= sign * row["notional"]
        if row["total_fee"]:
            book[(row["exchange"], row["fee_asset"] or quote)] -= row["total_fee"]
    return held


def bots_locked(bots) -> dict[int, dict[tuple[str, str], Decimal]]:
    """Per bot: (exchange, asset) -> amount reserved by its open orders."""
    from trading.models import Order

    locked: dict[int, dict[tuple[str, str], Decimal]] = {
        bot.pk: defaultdict(lambda: ZERO) for bot in bots
    }
    orders = Order.objects.filter(bot_id__in=list(locked), status__in=Order.ACTIVE).values_list(
        "bot_id", "exchange", "symbol", "side", "qty", "filled_qty", "price"
    )
    for bot_id, exchange, symbol, side, qty, filled, price in orders:
        base, quote = split_symbol(symbol)
        remaining = max(qty - filled, ZERO)
        if side == "sell":
            locked[bot_id][(exchange, base)] += remaining
        elif price is not None:
            locked[bot_id][(exchange, quote)] += remaining * price
    return locked


class _Prices:
    """Price of an asset in another on a bot's venues: direct, inverse, or through one asset."""

    def __init__(self, marks: dict, exchanges: list[str], last_prices: dict[str, Decimal]):
        self.marks, self.exchanges, self.last_prices = marks, exchanges, last_prices
        self.assets = {part for symbol in last_prices for part in split_symbol(symbol)}
        self.assets |= {part for _, symbol in marks for part in split_symbol(symbol)}

    def mark(self, symbol: str) -> Decimal | None:
        for exchange in self.exchanges:
            if (exchange, symbol) in self.marks:
                return self.marks[(exchange, symbol)]
        return None

    def _direct(self, asset: str, in_asset: str) -> Decimal | None:
        if asset == in_asset:
            return Decimal(1)
        direct = self.mark(f"{asset}/{in_asset}") or self.last_prices.get(f"{asset}/{in_asset}")
        if direct is not None:
            return direct
        inverse = self.mark(f"{in_asset}/{asset}") or self.last_prices.get(f"{in_asset}/{asset}")
        return None if not inverse else 1 / inverse

    def of(self, asset: str, in_asset: str) -> Decimal | None:
        direct = self._direct(asset, in_asset)
        if direct is not None:
            return direct
        for middle in sorted(self.assets - {asset, in_asset}):
            first = self._direct(asset, middle)
            second = None if first is None else self._direct(middle, in_asset)
            if second is not None:
                return first * second
        return None


def _pairs_needed(bot, held: dict, exchanges: list[str]) -> set[tuple[str, str]]:
    target = valuation_asset(bot.symbols)
    assets = {asset for _, asset in held} | {
        part for symbol in bot.symbols for part in split_symbol(symbol)
    }
    pairs = {(e, symbol) for e in exchanges for symbol in bot.symbols}
    for asset in assets - {target}:
        pairs |= {(e, f"{asset}/{target}") for e in exchanges}
        pairs |= {(e, f"{target}/{asset}") for e in exchanges}
    return pairs


def bot_value(
    bot, *, progress: LedgerProgress, held: dict, locked: dict, marks: dict
) -> BotValuation:
    """Value one bot from its ledger, holdings, reserved funds and the marks given."""
    exchanges = [venue.exchange for venue in bot.venues.all()] or sorted({e for e, _ in held})
    ledger = progress.ledger
    last_prices = {s: b.last_price for s, b in ledger.books.items() if b.last_price is not None}
    prices = _Prices(marks, exchanges, last_prices)
    target = valuation_asset(bot.symbols)
    result = BotValuation(bot_id=bot.pk, valuation_asset=target)
    for (exchange, asset), total in sorted(held.items()):
        if total == 0 and not locked.get((exchange, asset)):
            continue
        price = prices.of(asset, target)
        value = None if price is None else total * price
        result.holdings.append(
            Holding(exchange, asset, total, locked.get((exchange, asset), ZERO), price, value)
        )
        if value is None:
            result.unpriced.append(asset)
        elif asset == target or asset in STABLECOINS:
            result.cash += value
        else:
            result.crypto += value
    _results(result, ledger, prices, target)
    return result


def _results(result: BotValuation, ledger: FifoLedger, prices: _Prices, target: str) -> None:
    for symbol, book in sorted(ledger.books.items()):
        quote = split_symbol(symbol)[1]
        mark = prices.mark(symbol) or book.last_price
        unrealized = book.unrealized(mark) if mark is not None else ZERO
        in_target = prices.of(quote, target) or ZERO
        result.realized_pnl += book.realized * in_target
        result.unrealized_pnl += unrealized * in_target
        result.positions.append(
            PositionLine(
                symbol,
                book.position,
                book.average_price,
                mark,
                unrealized,
                book.realized,
                book.fills,
            )
        )
    for quote, amount in ledger.fees_in_quote.items():
        result.fees += amount * (prices.of(quote, target) or ZERO)
    result.fees_by_asset = dict(sorted(ledger.fees.items()))
    result.trades = ledger.fills
    result.closing_trades = ledger.closing_fills
    result.winning_trades = ledger.winning_fills


def bots_valuation(bots, *, progresses: dict | None = None) -> dict[int, BotValuation]:
    """Value many bots with one aggregate query for holdings and one Redis call for marks."""
    bots = list(bots)
    progresses = progresses or {}
    held, locked = bots_holdings(bots), bots_locked(bots)
    pairs: set[tuple[str, str]] = set()
    venues = {}
    for bot in bots:
        venues[bot.pk] = [venue.exchange for venue in bot.venues.all()] or sorted(
            {e for e, _ in held[bot.pk]}
        )
        pairs |= _pairs_needed(bot, held[bot.pk], venues[bot.pk])
    marks = latest_marks(pairs)
    return {
        bot.pk: bot_value(
            bot,
            progress=progresses.get(bot.pk) or bot_ledger_progress(bot),
            held=held[bot.pk],
            locked=locked[bot.pk],
            marks=marks,
        )
        for bot in bots
    }
