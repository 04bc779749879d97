"""Sandbox users, keys and funding: what the `sandbox_user` and `sandbox_fund` commands and the
"Create a funded sandbox account" button call."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction

from exchanges.sandbox.models import SandboxApiKey, SandboxDeposit, SandboxUser


@dataclass(frozen=True)
class IssuedKey:
    user: SandboxUser
    api_key: str
    secret: str


@transaction.atomic
def sandbox_user_create(
    *,
    name: str,
    can_trade: bool = True,
    enable_withdrawals: bool = False,
    ip_restrict: bool = False,
) -> IssuedKey:
    """Create (or reuse) a sandbox user and issue it a new API key and secret."""
    user, _ = SandboxUser.objects.get_or_create(name=name)
    key = SandboxApiKey.objects.create(
        user=user,
        api_key=secrets.token_hex(32),
        secret=secrets.token_hex(32),
        can_trade=can_trade,
        enable_withdrawals=enable_withdrawals,
        ip_restrict=ip_restrict,
    )
    return IssuedKey(user, key.api_key, key.secret)


def sandbox_fund(*, name: str, asset: str, amount: Decimal, venue: str = "") -> SandboxDeposit:
    """Credit a sandbox user's balance on one venue (or every venue when venue is empty)."""
    from exchanges import registry

    if amount <= 0:
        raise ValidationError({"amount": "must be positive"})
    if venue and not registry.is_sandbox(venue):
        raise ValidationError({"venue": f"{venue!r} is not a sandbox venue"})
    try:
        user = SandboxUser.objects.get(name=name)
    except SandboxUser.DoesNotExist:
        raise ValidationError({"name": f"no sandbox user {name!r}"}) from None
    return SandboxDeposit.objects.create(user=user, venue=venue, asset=asset.upper(), amount=amount)


# What a new user starts with on a sandbox venue: enough to run the demo-sized bots.
START_FUNDS = {"USDT": Decimal("10000"), "BTC": Decimal("0.2"), "ETH": Decimal("3")}
PING_TIMEOUT_MS = 3000


def sandbox_fund_start(*, name: str, venue: str) -> dict[str, Decimal]:
    """Credit a sandbox user the starting balances (START_FUNDS) on one venue."""
    for asset, amount in START_FUNDS.items():
        sandbox_fund(name=name, asset=asset, amount=amount, venue=venue)
    return dict(START_FUNDS)


def sandbox_venue_check(*, venue: str) -> None:
    """Raise ValidationError saying why `venue` cannot be used: not configured or not answering."""
    from django.conf import settings

    from exchanges import registry
    from exchanges.gateway.clients import sync_client

    if not registry.sandbox_venues() or not settings.PEREGRINE_SANDBOX_URL:
        raise ValidationError(
            {"venue": "The sandbox exchange is not configured on this installation."}
        )
    if not registry.is_sandbox(venue):
        raise ValidationError({"venue": f"{venue!r} is not a sandbox venue."})
    client = sync_client(venue, timeout_ms=PING_TIMEOUT_MS)
    try:
        client.public_get_ping()
    except Exception:
        raise ValidationError(
            {
                "venue": f"The sandbox exchange is not running (nothing answers at "
                f"{settings.PEREGRINE_SANDBOX_URL}/{venue}/). Start it with `make run`, "
                "or `python manage.py sandbox_exchange`, and try again."
            }
        ) from None


@dataclass(frozen=True)
class SandboxAccount:
    account: object  # exchanges.models.ExchangeAccount
    funds: dict[str, Decimal]
    credited: bool  # the running sandbox already shows the funds to the new key


# The running sandbox reads new keys and deposits about once a second (exchanges.sandbox.store).
CREDIT_WAIT_SECONDS = 10


def sandbox_credit_await(
    *, venue: str, api_key: str, secret: str, funds: dict[str, Decimal], timeout: float
) -> bool:
    """Ask the sandbox with the new key until it shows `funds`; False if not within `timeout`.

    With the plain key, not the account's gateway: until the sandbox has read the new key it
    answers "invalid API key", which the gateway would take as a revoked key and disable the
    account for."""
    import time

    from exchanges.gateway.clients import sync_client

    client = sync_client(venue, api_key=api_key, secret=secret, timeout_ms=PING_TIMEOUT_MS)
    deadline = time.monotonic() + timeout
    while True:
        try:
            totals = client.fetch_balance().get("total", {})
        except Exception:  # not read yet (invalid key), or a moment's hiccup: ask again
            totals = {}
        if all(Decimal(str(totals.get(a) or 0)) >= amount for a, amount in funds.items()):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
        # a client that has seen "invalid key" may back off on its own: use a fresh one
        client = sync_client(venue, api_key=api_key, secret=secret, timeout_ms=PING_TIMEOUT_MS)


def sandbox_account_open(*, user, venue: str = "", ip: str | None = None) -> SandboxAccount:
    """One step for a new user: a funded sandbox user on `venue` (default: the first venue the
    user has no account on) and a paper exchange account holding its key, sealed as usual.

    One sandbox account per user and venue: a second request for the same venue raises
    ValidationError naming the account that exists, and changes nothing. Returns once the
    sandbox shows the funds to the new key (or after CREDIT_WAIT_SECONDS, `credited` False).
    """
    from django.contrib.auth import get_user_model

    from exchanges import registry
    from exchanges.models import ExchangeAccount
    from exchanges.services.credentials import exchange_account_create

    venues = registry.sandbox_venues()
    venue = (venue or "").strip() or next(
        (
            v
            for v in venues
            if not ExchangeAccount.objects.filter(user_id=user.pk, exchange=v).exists()
        ),
        venues[0] if venues else "",
    )
    sandbox_venue_check(venue=venue)
    with transaction.atomic():
        # two clicks at once: the second waits here and then finds the first one's account
        get_user_model().objects.select_for_update().filter(pk=user.pk).first()
        existing = ExchangeAccount.objects.filter(user_id=user.pk, exchange=venue).first()
        if existing is not None:
            raise ValidationError(
                {
                    "venue": f"You already have a sandbox account on {venue}: "
                    f"'{existing.label}'. Nothing was created."
                }
            )
        name = f"user{user.pk}-{venue}-{secrets.token_hex(3)}"
        # the sandbox is a loopback test exchange: its key is reported IP-restricted, as a
        # real key given to Peregrine should be, so the new account starts without a warning
        issued = sandbox_user_create(name=name, ip_restrict=True)
        funds = sandbox_fund_start(name=name, venue=venue)
        label = f"Sandbox ({venue})"
        taken = set(ExchangeAccount.objects.filter(user_id=user.pk).values_list("label", flat=True))
        number = 2
        while label in taken:
            label, number = f"Sandbox ({venue}) {number}", number + 1
        account = exchange_account_create(
            user=user,
            exchange=venue,
            label=label,
            mode=ExchangeAccount.Mode.PAPER,
            api_key=issued.api_key,
            secret=issued.secret,
            ip=ip,
        )
    credited = sandbox_credit_await(
        venue=venue,
        api_key=issued.api_key,
        secret=issued.secret,
        funds=funds,
        timeout=CREDIT_WAIT_SECONDS,
    )
    return SandboxAccount(account, funds, credited)
