"""Tax lots' inputs kept by Peregrine: each user's per-year tax settings and the transactions
that are not bot fills (entered on a page, imported from CSV or from an exchange's history).

Bot fills stay in trading.Fill (the source of truth); lots and reports are computed from these
rows and the fills on demand (compliance.tax), never stored, so they cannot go stale.
"""

from django.conf import settings
from django.db import models

AMOUNT = {"max_digits": 36, "decimal_places": 18}


class TaxYear(models.Model):
    """A user's choice for one tax year: lot method, pool scope, Form 8949 box, paper fills."""

    class Method(models.TextChoices):
        FIFO = "fifo", "FIFO (first in, first out)"
        LIFO = "lifo", "LIFO (last in, first out)"
        HIFO = "hifo", "HIFO (highest cost first)"
        LOFO = "lofo", "LOFO (lowest cost first)"

    class Scope(models.TextChoices):
        UNIVERSAL = "universal", "Universal (one pool per asset)"
        WALLET = "wallet", "Per wallet (one pool per asset and account)"

    class Reporting(models.TextChoices):
        NONE = "none", "No Form 1099-B/1099-DA received"
        BASIS_REPORTED = "basis_reported", "1099 received, basis reported to the IRS"
        BASIS_NOT_REPORTED = "basis_not_reported", "1099 received, basis not reported"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tax_years"
    )
    year = models.PositiveSmallIntegerField()
    method = models.CharField(max_length=8, choices=Method.choices, default=Method.FIFO)
    scope = models.CharField(max_length=10, choices=Scope.choices, default=Scope.UNIVERSAL)
    reporting = models.CharField(max_length=20, choices=Reporting.choices, default=Reporting.NONE)
    include_paper = models.BooleanField(
        default=False, help_text="Count paper (simulated) fills as if they were real trades."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "year"], name="tax_year_user_year_unique"),
            models.CheckConstraint(
                condition=models.Q(year__gte=2009, year__lte=2100), name="tax_year_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.year}: {self.method}, {self.scope}"


class TaxTransaction(models.Model):
    """A trade or movement that is not a bot fill: entered, imported from CSV or an exchange."""

    class Kind(models.TextChoices):
        TRADE = "trade", "Trade"
        DEPOSIT = "deposit", "Deposit"
        WITHDRAWAL = "withdrawal", "Withdrawal"
        TRANSFER = "transfer", "Transfer between own wallets"
        INCOME = "income", "Income"
        FEE = "fee", "Fee"

    class Source(models.TextChoices):
        MANUAL = "manual", "Entered"
        CSV = "csv", "CSV import"
        EXCHANGE = "exchange", "Exchange history"
        KOINLY = "koinly", "Koinly CSV"
        COINTRACKING = "cointracking", "CoinTracking CSV"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tax_transactions"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    occurred_at = models.DateTimeField()
    # trades: what was given and what was received; other kinds: `asset` and `amount`
    asset = models.CharField(max_length=16, help_text="Received asset of a trade.")
    amount = models.DecimalField(**AMOUNT)
    given_asset = models.CharField(max_length=16, blank=True)
    given_amount = models.DecimalField(**AMOUNT, null=True, blank=True)
    quote = models.CharField(max_length=16, blank=True, help_text="The trade's quote asset.")
    fee = models.DecimalField(**AMOUNT, default=0)
    fee_asset = models.CharField(max_length=16, blank=True)
    value_usd = models.DecimalField(
        **AMOUNT, null=True, blank=True,
        help_text="USD value: a trade's, an income's, a deposit's cost basis.",
    )  # fmt: skip
    wallet = models.CharField(max_length=100)
    to_wallet = models.CharField(max_length=100, blank=True)
    exchange_account = models.ForeignKey(
        "exchanges.ExchangeAccount",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    source = models.CharField(max_length=12, choices=Source.choices, default=Source.MANUAL)
    external_id = models.CharField(max_length=200, blank=True)
    note = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["occurred_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "source", "external_id"],
                condition=~models.Q(external_id=""),
                name="tax_transaction_external_unique",
            ),
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="tax_amount_positive"),
            models.CheckConstraint(condition=models.Q(fee__gte=0), name="tax_fee_not_negative"),
        ]
        indexes = [models.Index(fields=["user", "occurred_at"], name="tax_tx_user_time_idx")]

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d} {self.kind} {self.amount} {self.asset}"


class TaxExport(models.Model):
    """One CSV export written by a worker (compliance.tax.exports), for a year or history too
    large to stream in the request: its progress while it runs, then its file until it expires.

    The file lives under settings.TAX_EXPORT_ROOT/<user id>/ (never in the database) and is
    deleted with the row: when it expires (TAX_EXPORT_RETENTION_HOURS after it was written) or
    with the account.
    """

    class Kind(models.TextChoices):
        GAINS = "gains", "Capital gains"
        FORM_8949 = "form8949", "IRS Form 8949"
        KOINLY = "koinly", "Koinly (all history)"
        COINTRACKING = "cointracking", "CoinTracking (all history)"

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    YEAR_KINDS = ("gains", "form8949")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tax_exports"
    )
    kind = models.CharField(max_length=12, choices=Kind.choices)
    # the tax year (capital gains, Form 8949); null for the whole-history formats
    year = models.PositiveSmallIntegerField(null=True, blank=True)
    # the history exports' cut: records before as_of + 1 day, as the streamed download's
    as_of = models.DateTimeField()
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    # "reading": records_done of records_total read into lots; "writing": rows_done CSV rows
    phase = models.CharField(max_length=8, blank=True)
    records_total = models.PositiveIntegerField(default=0)
    records_done = models.PositiveIntegerField(default=0)
    rows_total = models.PositiveIntegerField(null=True, blank=True)
    rows_done = models.PositiveIntegerField(default=0)
    file_name = models.CharField(max_length=200, blank=True)
    size = models.BigIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at"], name="tax_export_user_time")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind__in=["koinly", "cointracking"], year__isnull=True)
                | models.Q(kind__in=["gains", "form8949"], year__isnull=False),
                name="tax_export_year_for_year_kinds",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.year or ''} ({self.status})".replace("  ", " ")

    @property
    def filename(self) -> str:
        """The name the download is saved as (the streamed download's name)."""
        suffix = f"-{self.year}" if self.year else ""
        return f"peregrine-{self.kind}{suffix}.csv"

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)
