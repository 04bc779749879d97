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

from django.db.models import Count, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce

from portfolio.ledger import LEDGER_VERSION, FifoLedger, LedgerFill, split_symbol
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
    """A ledger brought up to the latest fill, and where it stands.

    `fill_holdings` is what the fills applied did to the bot's funds per (exchange, asset): a
    buy adds the base and spends price * qty of the quote, a sell the reverse, a fee is taken
    from its asset. Checkpointed with the ledger, so a request adds only the newer fills.
    """

    ledger: FifoLedger
    fills_applied: int
    last_executed_at: datetime | None
    last_fill_id: int
    fill_holdings: dict[tuple[str, str], Decimal] = field(
        default_factory=lambda: defaultdict(lambda: ZERO)
    )

    def apply(self, row) -> None:
        """Book one fill row (id, exchange, symbol, side, qty, price, fee, fee_asset, at)."""
        fill_id, exchange, symbol, side, qty, price, fee, fee_asset, executed_at = row
        self.ledger.apply(
            LedgerFill(symbol, side, qty, price, fee or ZERO, fee_asset or "", executed_at)
        )
        base, quote = split_symbol(symbol)
        sign = 1 if side == "buy" else -1
        self.fill_holdings[(exchange, base)] += sign * qty
        self.fill_holdings[(exchange, quote)] -= sign * price * qty
        if fee:
            self.fill_holdings[(exchange, fee_asset or quote)] -= fee
        self.last_fill_id, self.last_executed_at = fill_id, executed_at
        self.fills_applied += 1

    def state(self) -> dict:
        """The checkpoint's JSON: the ledger's snapshot and the fills' holdings."""
        holdings = [[e, a, str(v)] for (e, a), v in sorted(self.fill_holdings.items()) if v]
        return {**self.ledger.snapshot(), HOLDINGS_KEY: holdings}

    @classmethod
    def restore(cls, checkpoint) -> LedgerProgress:
        progress = cls(
            FifoLedger.restore(checkpoint.state),
            checkpoint.fills_applied,
            checkpoint.last_executed_at,
            checkpoint.last_fill_id,
        )
        for exchange, asset, amount in checkpoint.state[HOLDINGS_KEY]:
            progress.fill_holdings[(exchange, asset)] = Decimal(amount)
        return progress


HOLDINGS_KEY = "fill_holdings"


def valuation_asset(symbols) -> str:
    """The asset a bot is valued in: the first stablecoin quote, else the first quote."""
    quotes = [split_symbol(symbol)[1] for symbol in symbols or [] if "/" in symbol]
    for quote in quotes:
        if quote in STABLECOINS:
            return quote
    return quotes[0] if quotes else "USDT"


_FILL_FIELDS = (
    "id",
    "exchange",
    "symbol",
    "side",
    "qty",
    "price",
    "fee",
    "fee_asset",
    "executed_at",
)


def bot_ledger_progress(bot) -> LedgerProgress:
    """The bot's FIFO ledger from its checkpoint plus the fills booked since."""
    return bots_ledger_progress([bot])[bot.pk]


def bots_ledger_progress(bots) -> dict[int, LedgerProgress]:
    """Per bot, its FIFO ledger from its checkpoint plus the fills booked since: two queries
    however many bots (the checkpoints with their bots' fill counts, the newer fills of all).

    Fills are applied by (executed_at, id). If a fill was booked with an execution time before
    a bot's checkpoint (reconciliation after a restart), that bot's whole ledger is replayed.
    """
    from trading.models import Fill

    ids = [bot.pk for bot in bots]
    if not ids:
        return {}
    fill_count = (
        Fill.objects.filter(bot_id=OuterRef("bot_id"))
        .order_by()
        .values("bot_id")
        .annotate(n=Count("id"))
        .values("n")
    )
    checkpoints = {
        row.bot_id: row
        for row in BotLedger.objects.filter(bot_id__in=ids).annotate(
            fill_count=Coalesce(Subquery(fill_count), 0)
        )
    }
    progresses, newer, fresh = {}, Q(), []
    for bot_id in ids:
        checkpoint = checkpoints.get(bot_id)
        # a checkpoint from before holdings were kept in it, or made under other ledger rules,
        # counts as none (the bot's fills are replayed once)
        if (
            checkpoint is None
            or checkpoint.last_executed_at is None
            or (HOLDINGS_KEY not in (checkpoint.state or {}))
            or (checkpoint.state or {}).get("version") != LEDGER_VERSION
        ):
            progresses[bot_id] = LedgerProgress(FifoLedger(), 0, None, 0)
            fresh.append(bot_id)
            continue
        progresses[bot_id] = LedgerProgress.restore(checkpoint)
        last = checkpoint.last_executed_at
        newer |= Q(bot_id=bot_id) & (
            Q(executed_at__gt=last) | Q(executed_at=last, id__gt=checkpoint.last_fill_id)
        )
    if fresh:
        newer |= Q(bot_id__in=fresh)
    rows: dict[int, list] = defaultdict(list)
    fills = Fill.objects.filter(newer).order_by("bot_id", "executed_at", "id")
    for row in fills.values_list("bot_id", *_FILL_FIELDS):
        rows[row[0]].append(row[1:])
    for bot_id, progress in progresses.items():
        mine = rows.get(bot_id, [])
        if progress.fills_applied and (
            progress.fills_applied + len(mine) != checkpoints[bot_id].fill_count
        ):
            progress = progresses[bot_id] = LedgerProgress(FifoLedger(), 0, None, 0)
            replay = Fill.objects.filter(bot_id=bot_id).order_by("executed_at", "id")
            mine = list(replay.values_list(*_FILL_FIELDS))
        for row in mine:
            progress.apply(row)
    return progresses


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


def bots_holdings(bots, *, progresses: dict | None = None) -> dict:
    """Per bot: (exchange, asset) -> amount held, from starting funds and every booked fill
    (the fills' part from each bot's ledger progress, given or brought up to date here)."""
    progresses = progresses or {}
    missing = [bot for bot in bots if bot.pk not in progresses]
    progresses = {**progresses, **bots_ledger_progress(missing)}
    held = {}
    for bot in bots:
        book = held[bot.pk] = _starting_funds(bot)
        for key, amount in progresses[bot.pk].fill_holdings.items():
            book[key] += amount
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
    missing = [bot for bot in bots if bot.pk not in (progresses or {})]
    progresses = {**(progresses or {}), **bots_ledger_progress(missing)}
    held, locked = bots_holdings(bots, progresses=progresses), bots_locked(bots)
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
            progress=progresses[bot.pk],
            held=held[bot.pk],
            locked=locked[bot.pk],
            marks=marks,
        )
        for bot in bots
    }
