"""The tax-lot engine: pure Python and Decimal, no Django, no I/O, no wall clock.

Events come in chronological order (the caller sorts; ties keep their given order). Acquisitions
open lots; disposals consume lots in the order of the year's method (FIFO, LIFO, HIFO, LOFO) from
one pool per asset (universal scope) or one pool per asset and wallet (per-wallet scope, as US
rules require from 2025). A move between the user's own wallets carries its lots (acquisition
date and basis kept) and is never a disposal. Every disposal keeps the lot fractions it consumed,
so each report line can be explained down to the acquisitions behind it.

Invariant: the basis of a lot is never created or lost. A partly consumed lot gives the consumed
piece `remaining cost x taken / remaining amount` and the last piece the whole remainder, so the
pieces of a lot add up to its cost exactly; proceeds are split over a disposal's pieces the same
way. Unknown values (a price that could not be found) are carried as flags, never guessed.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Context, Decimal, localcontext

METHODS = ("fifo", "lifo", "hifo", "lofo")
SCOPES = ("universal", "wallet")
# Long-term means held more than 365 days (a holding of exactly 365 days is short-term).
LONG_TERM_AFTER = timedelta(days=365)
ZERO = Decimal(0)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CONTEXT = Context(prec=50)


@dataclass(frozen=True)
class Acquire:
    """Coins come in: a buy, income, a deposit. `cost` None means the basis is unknown."""

    at: datetime
    asset: str
    amount: Decimal
    cost: Decimal | None
    wallet: str
    ref: str
    kind: str = "buy"


@dataclass(frozen=True)
class Dispose:
    """Coins go out. Taxable unless it is a withdrawal out of the books (`taxable=False`)."""

    at: datetime
    asset: str
    amount: Decimal
    proceeds: Decimal | None
    wallet: str
    ref: str
    kind: str = "sell"
    taxable: bool = True


@dataclass(frozen=True)
class Move:
    """A transfer between two of the user's own wallets: lots move, nothing is disposed of."""

    at: datetime
    asset: str
    amount: Decimal
    from_wallet: str
    to_wallet: str
    ref: str


Event = Acquire | Dispose | Move


@dataclass(frozen=True)
class Lot:
    """One acquisition as it was made (the original amount and cost)."""

    id: int
    ref: str
    asset: str
    wallet: str
    acquired_at: datetime
    amount: Decimal
    cost: Decimal
    cost_known: bool
    kind: str

    @property
    def unit_cost(self) -> Decimal:
        return self.cost / self.amount if self.amount else ZERO


@dataclass(frozen=True)
class Piece:
    """The fraction of one lot a disposal consumed. `lot` None: no acquisition covered it."""

    lot: Lot | None
    amount: Decimal
    cost: Decimal
    proceeds: Decimal
    disposed_at: datetime

    @property
    def acquired_at(self) -> datetime | None:
        return self.lot.acquired_at if self.lot else None

    @property
    def gain(self) -> Decimal:
        return self.proceeds - self.cost

    @property
    def long_term(self) -> bool:
        return self.lot is not None and self.disposed_at - self.lot.acquired_at > LONG_TERM_AFTER

    @property
    def term(self) -> str:
        return "long" if self.long_term else "short"

    @property
    def cost_known(self) -> bool:
        return self.lot is not None and self.lot.cost_known


@dataclass(frozen=True)
class Disposal:
    """One disposal and the lot fractions it consumed, in consumption order."""

    ref: str
    kind: str
    asset: str
    wallet: str
    disposed_at: datetime
    amount: Decimal
    proceeds: Decimal
    proceeds_known: bool
    taxable: bool
    method: str
    pieces: tuple[Piece, ...]

    @property
    def cost(self) -> Decimal:
        return sum((p.cost for p in self.pieces), ZERO)

    @property
    def gain(self) -> Decimal:
        return self.proceeds - self.cost

    @property
    def uncovered(self) -> Decimal:
        """The amount no lot covered (missing history): flagged in every report."""
        return sum((p.amount for p in self.pieces if p.lot is None), ZERO)

    @property
    def flagged(self) -> bool:
        return not self.proceeds_known or any(not p.cost_known for p in self.pieces)


@dataclass(frozen=True)
class OpenLot:
    """What is left of a lot, where it is now."""

    lot: Lot
    wallet: str
    amount: Decimal
    cost: Decimal


@dataclass(frozen=True)
class Transfer:
    """A move as booked: the lot fractions that changed wallet, and any shortfall."""

    ref: str
    asset: str
    at: datetime
    amount: Decimal
    from_wallet: str
    to_wallet: str
    pieces: tuple[OpenLot, ...]
    shortfall: Decimal


@dataclass
class Ledger:
    """The engine's result: every disposal, every lot, what is still open, every transfer."""

    disposals: list[Disposal] = field(default_factory=list)
    lots: list[Lot] = field(default_factory=list)
    transfers: list[Transfer] = field(default_factory=list)
    open_lots: list[OpenLot] = field(default_factory=list)

    def disposals_in(self, year: int) -> list[Disposal]:
        return [d for d in self.disposals if d.disposed_at.year == year and d.taxable]


def _micros(at: datetime) -> int:
    return (at - _EPOCH) // timedelta(microseconds=1)


def _sort_key(method: str, lot: Lot) -> tuple:
    t = _micros(lot.acquired_at)
    if method == "fifo":
        return (t, lot.id)
    if method == "lifo":
        return (-t, -lot.id)
    if method == "hifo":  # highest unit cost first; ties oldest first
        return (-lot.unit_cost, t, lot.id)
    return (lot.unit_cost, t, lot.id)  # lofo


class _Pool:
    """The open lot fractions of one asset (in one wallet, or everywhere), as a heap."""

    def __init__(self) -> None:
        self.method = "fifo"
        self.heap: list[list] = []  # [key, lot id, lot, remaining amount, remaining cost]

    def push(self, lot: Lot, amount: Decimal, cost: Decimal) -> None:
        heapq.heappush(self.heap, [_sort_key(self.method, lot), lot.id, lot, amount, cost])

    def use(self, method: str) -> None:
        if method != self.method:
            self.method = method
            for entry in self.heap:
                entry[0] = _sort_key(method, entry[2])
            heapq.heapify(self.heap)

    def take(self, amount: Decimal) -> tuple[list[tuple[Lot, Decimal, Decimal]], Decimal]:
        """Consume `amount`: the (lot, amount, cost) fractions taken and the shortfall."""
        taken = []
        left = amount
        while left > 0 and self.heap:
            entry = self.heap[0]
            lot, have, cost = entry[2], entry[3], entry[4]
            if have <= left:
                heapq.heappop(self.heap)
                taken.append((lot, have, cost))
                left -= have
            else:
                piece_cost = cost * left / have
                entry[3] = have - left
                entry[4] = cost - piece_cost
                taken.append((lot, left, piece_cost))
                left = ZERO
        return taken, left


def _method_for(methods: Mapping[int, str] | str, year: int) -> str:
    method = methods if isinstance(methods, str) else methods.get(year, "fifo")
    if method not in METHODS:
        raise ValueError(f"unknown lot method {method!r}; use one of {', '.join(METHODS)}")
    return method


def _split(total: Decimal, amounts: list[Decimal]) -> list[Decimal]:
    """Split `total` pro rata over `amounts`, the last share taking the remainder (exact sum)."""
    whole = sum(amounts, ZERO)
    shares, given = [], ZERO
    for i, amount in enumerate(amounts):
        share = (
            total - given if i == len(amounts) - 1 else (total * amount / whole if whole else ZERO)
        )
        shares.append(share)
        given += share
    return shares


def compute(
    events: Iterable[Event],
    *,
    methods: Mapping[int, str] | str = "fifo",
    scope: str = "universal",
    on_lot: Callable[[Lot], None] | None = None,
) -> Ledger:
    """Run events (chronological) through the pools; the disposals, lots and what stays open."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}; use one of {', '.join(SCOPES)}")
    ledger = Ledger()
    pools: dict[tuple[str, str], _Pool] = {}

    def pool(asset: str, wallet: str) -> _Pool:
        key = (asset, wallet if scope == "wallet" else "")
        if key not in pools:
            pools[key] = _Pool()
        return pools[key]

    with localcontext(_CONTEXT):
        for event in events:
            if isinstance(event, Acquire):
                lot = Lot(
                    len(ledger.lots) + 1, event.ref, event.asset, event.wallet, event.at,
                    event.amount, event.cost if event.cost is not None else ZERO,
                    event.cost is not None, event.kind,
                )  # fmt: skip
                ledger.lots.append(lot)
                if on_lot:
                    on_lot(lot)
                p = pool(event.asset, event.wallet)
                p.push(lot, lot.amount, lot.cost)
            elif isinstance(event, Dispose):
                ledger.disposals.append(_dispose(event, pool, methods))
            else:
                ledger.transfers.append(_move(event, pool, methods, scope))
        for (_asset, wallet), p in sorted(pools.items(), key=lambda item: item[0]):
            for _, _, lot, amount, cost in sorted(p.heap, key=lambda e: (e[2].acquired_at, e[1])):
                ledger.open_lots.append(OpenLot(lot, wallet or lot.wallet, amount, cost))
    return ledger


def _dispose(event: Dispose, pool, methods) -> Disposal:
    method = _method_for(methods, event.at.year)
    p = pool(event.asset, event.wallet)
    p.use(method)
    taken, shortfall = p.take(event.amount)
    amounts = [amount for _, amount, _ in taken] + ([shortfall] if shortfall > 0 else [])
    proceeds = event.proceeds if event.proceeds is not None else ZERO
    shares = _split(proceeds, amounts)
    pieces = [
        Piece(lot, amount, cost, share, event.at)
        for (lot, amount, cost), share in zip(taken, shares, strict=False)
    ]
    if shortfall > 0:
        pieces.append(Piece(None, shortfall, ZERO, shares[-1], event.at))
    return Disposal(
        event.ref, event.kind, event.asset, event.wallet, event.at, event.amount, proceeds,
        event.proceeds is not None, event.taxable, method, tuple(pieces),
    )  # fmt: skip


def _move(event: Move, pool, methods, scope: str) -> Transfer:
    if scope == "universal" or event.from_wallet == event.to_wallet:
        return Transfer(
            event.ref, event.asset, event.at, event.amount, event.from_wallet, event.to_wallet,
            (), ZERO,
        )  # fmt: skip
    method = _method_for(methods, event.at.year)
    source = pool(event.asset, event.from_wallet)
    source.use(method)
    taken, shortfall = source.take(event.amount)
    target = pool(event.asset, event.to_wallet)
    moved = []
    for lot, amount, cost in taken:
        target.push(lot, amount, cost)
        moved.append(OpenLot(lot, event.to_wallet, amount, cost))
    return Transfer(
        event.ref, event.asset, event.at, event.amount, event.from_wallet, event.to_wallet,
        tuple(moved), shortfall,
    )  # fmt: skip
