"""Tax reports for one tax year: capital gains lot by lot, income, year-end holdings.

Lots are computed from the whole history up to the end of the year (the method of each
disposal's own tax year, the scope of the report's year), so a report can always be explained
down to the fills and entries behind each line.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from compliance.tax.engine import ZERO, Disposal, Ledger, Piece, compute
from compliance.tax.normalize import VALUATION_RULE, Flag, Income, normalize
from compliance.tax.pricing import CandlePrices
from compliance.tax.sources import tax_records, wallet_labels
from compliance.tax_models import TaxYear

SCOPE_NOTE = {
    "universal": "Universal: one pool of lots per asset across all wallets.",
    "wallet": "Per wallet: one pool of lots per asset and wallet; transfers between your own "
    "wallets carry their lots. (rp2 and most open engines do universal only.)",
}


def year_bounds(year: int) -> tuple[datetime, datetime]:
    return datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class GainLine:
    """One report line: the fraction of one lot that one disposal consumed."""

    disposal: Disposal
    piece: Piece
    wallet: str

    @property
    def flagged(self) -> bool:
        return not self.disposal.proceeds_known or not self.piece.cost_known


@dataclass(frozen=True)
class Holding:
    asset: str
    wallet: str
    amount: Decimal
    cost: Decimal
    price: Decimal | None

    @property
    def value(self) -> Decimal | None:
        return None if self.price is None else self.amount * self.price

    @property
    def unrealized(self) -> Decimal | None:
        return None if self.value is None else self.value - self.cost


@dataclass
class Totals:
    proceeds: Decimal = ZERO
    cost: Decimal = ZERO
    gain: Decimal = ZERO
    lines: int = 0

    def add(self, piece: Piece) -> None:
        self.proceeds += piece.proceeds
        self.cost += piece.cost
        self.gain += piece.gain
        self.lines += 1


@dataclass
class TaxReport:
    year: int
    settings: TaxYear
    ledger: Ledger
    lines: list[GainLine]
    incomes: list[Income]
    holdings: list[Holding]
    flags: list[Flag]
    labels: dict[str, str]
    by_asset: dict[tuple[str, str], Totals] = field(default_factory=dict)
    by_term: dict[str, Totals] = field(default_factory=dict)
    valuation_rule: str = VALUATION_RULE

    @property
    def method_label(self) -> str:
        return TaxYear.Method(self.settings.method).label

    @property
    def scope_label(self) -> str:
        return SCOPE_NOTE[self.settings.scope]

    @property
    def income_total(self) -> Decimal:
        return sum((i.value for i in self.incomes if i.value is not None), ZERO)

    @property
    def unrealized_total(self) -> Decimal:
        return sum((h.unrealized for h in self.holdings if h.unrealized is not None), ZERO)

    def wallet_name(self, key: str) -> str:
        return self.labels.get(key, key)


def tax_year_settings(*, user, year: int) -> TaxYear:
    """The user's settings for the year (unsaved defaults when none were chosen)."""
    return TaxYear.objects.filter(user=user, year=year).first() or TaxYear(user=user, year=year)


def tax_ledger(*, user, year: int, settings: TaxYear | None = None, prices=None, progress=None):
    """The engine's ledger over the history to the end of `year`, with income and flags
    (`progress()`, when given, is called once per record read)."""
    settings = settings or tax_year_settings(user=user, year=year)
    methods = dict(TaxYear.objects.filter(user=user).values_list("year", "method"))
    methods[year] = settings.method
    _, end = year_bounds(year)
    prices = prices or CandlePrices()
    records = tax_records(user=user, end=end, include_paper=settings.include_paper)
    if progress is not None:
        records = _counted(records, progress)
    normalized = normalize(records, prices)
    ledger = compute(normalized.events, methods=methods, scope=settings.scope)
    return ledger, normalized, prices


def _counted(records, progress):
    for record in records:
        progress()
        yield record


def tax_report_build(*, user, year: int, progress=None) -> TaxReport:
    """The capital gains, income and holdings of the user's tax year (`progress()`, when
    given, is called once per record read)."""
    settings = tax_year_settings(user=user, year=year)
    ledger, normalized, prices = tax_ledger(
        user=user, year=year, settings=settings, progress=progress
    )
    start, end = year_bounds(year)
    labels = wallet_labels(user=user)
    lines = [
        GainLine(d, p, labels.get(d.wallet, d.wallet))
        for d in ledger.disposals_in(year)
        for p in d.pieces
    ]
    report = TaxReport(
        year=year,
        settings=settings,
        ledger=ledger,
        lines=lines,
        incomes=[
            replace(i, wallet=labels.get(i.wallet, i.wallet))
            for i in normalized.incomes
            if start <= i.at < end
        ],
        holdings=[
            replace(h, wallet=labels.get(h.wallet, h.wallet))
            for h in _holdings(ledger, prices, end, settings.scope)
        ],
        flags=[f for f in normalized.flags if start <= f.at < end],
        labels=labels,
    )
    by_asset: dict[tuple[str, str], Totals] = defaultdict(Totals)
    by_term: dict[str, Totals] = defaultdict(Totals)
    for line in lines:
        by_asset[line.disposal.asset, line.piece.term].add(line.piece)
        by_term[line.piece.term].add(line.piece)
    report.by_asset = dict(sorted(by_asset.items()))
    report.by_term = {term: by_term[term] for term in ("short", "long")}
    return report


def _holdings(ledger: Ledger, prices, end: datetime, scope: str) -> list[Holding]:
    grouped: dict[tuple[str, str], list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
    for open_lot in ledger.open_lots:
        key = (open_lot.lot.asset, open_lot.wallet if scope == "wallet" else "")
        grouped[key][0] += open_lot.amount
        grouped[key][1] += open_lot.cost
    at = end - timedelta(microseconds=1)
    return [
        Holding(asset, wallet, amount, cost, prices(asset, at))
        for (asset, wallet), (amount, cost) in sorted(grouped.items())
        if amount > 0
    ]
