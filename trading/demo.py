"""The demo: a demo user with sandbox exchange accounts and three paper bots, trading.

Idempotent: every run makes sure the user, the accounts and the bots exist, creates only what
is missing, and (unless told not to) starts any demo bot that is not trading. The demo user's
password is made up, and returned, only when the user is created.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

DEMO_EMAIL = "demo@peregrine.local"
FUNDS = {"USDT": Decimal("100000"), "BTC": Decimal("2"), "ETH": Decimal("30")}


@dataclass
class DemoResult:
    email: str
    password: str | None = None  # only when the user was created now
    created: list[str] = field(default_factory=list)
    started: list[str] = field(default_factory=list)


def _venues() -> tuple[str, str]:
    venues = list(settings.PEREGRINE_SANDBOX_VENUES)
    if len(venues) < 2:
        raise ValueError("the demo needs two sandbox venues (PEREGRINE_SANDBOX_VENUES)")
    return venues[0], venues[1]


def _bot_specs(first: str, second: str) -> list[dict]:
    """The three demo bots on the first and second sandbox venues."""
    return [
        {
            "name": "Demo market maker BTC/USDT",
            "strategy": "pure_market_making",
            "params": {
                "bid_spread": "0.0001",
                "ask_spread": "0.0001",
                "order_amount": "0.005",
                "order_levels": 2,
                "order_level_spread": "0.0002",
                "order_refresh_time_ms": 3000,
                "filled_order_delay_ms": 1000,
            },
            "symbols": ["BTC/USDT"],
            "venues": [first],
            "budget": "20000",
            "risk_limits": {"max_exposure_fraction": "0.8"},
            "paper_balances": {first: {"USDT": "10000", "BTC": "0.1"}},
        },
        {
            "name": "Demo cross-exchange maker BTC/USDT",
            "strategy": "cross_exchange_market_making",
            # quotes rest on the second venue (which prices a little above the first) and
            # fills are hedged on the first: the sandbox's venue offset is the edge
            "params": {
                "maker_venue": second,
                "taker_venue": first,
                "order_amount": "0.002",
                "min_profitability": "0.0001",
            },
            "symbols": ["BTC/USDT"],
            "venues": [second, first],
            "budget": "600000",
            "risk_limits": {"max_exposure_fraction": "0.8"},
            # it sells on the second venue and buys back on the first, one way only: 10 BTC to
            # sell is 5,000 maker fills, over an hour of the demo (1 BTC ran out in 10 minutes)
            "paper_balances": {
                second: {"USDT": "5000", "BTC": "10"},
                first: {"USDT": "400000"},
            },
        },
        {
            "name": "Demo EMA crossover ETH/USDT",
            "strategy": "ema_cross",
            "params": {"fast": 3, "slow": 8, "allocation": 0.5},
            "symbols": ["ETH/USDT"],
            "venues": [first],
            "budget": "5000",
            "risk_limits": {"max_exposure_fraction": "0.8"},
            "paper_balances": {first: {"USDT": "5000"}},
        },
    ]


def _user(result: DemoResult):
    from allauth.account.models import EmailAddress

    User = get_user_model()
    user = User.objects.filter(email=DEMO_EMAIL).first()
    if user is None:
        result.password = secrets.token_urlsafe(12)
        user = User.objects.create_user(email=DEMO_EMAIL, password=result.password)
        result.created.append(f"user {DEMO_EMAIL}")
    EmailAddress.objects.update_or_create(
        user=user, email=DEMO_EMAIL, defaults={"verified": True, "primary": True}
    )
    return user


def _accounts(user, venues, result: DemoResult) -> dict:
    """One sandbox exchange account per venue, on one funded sandbox user."""
    from exchanges.models import ExchangeAccount
    from exchanges.sandbox.services import sandbox_fund, sandbox_user_create
    from exchanges.services.credentials import exchange_account_create

    accounts = {a.exchange: a for a in ExchangeAccount.objects.filter(user=user)}
    for venue in venues:
        if venue in accounts:
            continue
        key = sandbox_user_create(name=f"demo-{venue}")
        for asset, amount in FUNDS.items():
            sandbox_fund(name=f"demo-{venue}", asset=asset, amount=amount, venue=venue)
        accounts[venue] = exchange_account_create(
            user=user,
            exchange=venue,
            label=f"Demo {venue}",
            mode="paper",
            api_key=key.api_key,
            secret=key.secret,
        )
        result.created.append(f"exchange account on {venue}")
    return accounts


def demo_seed(*, start: bool = True) -> DemoResult:
    """Make sure the demo user, its sandbox accounts and its three paper bots exist (and run)."""
    from trading.models import Bot
    from trading.services.bots import bot_create, bot_resume, bot_start

    first, second = _venues()
    result = DemoResult(email=DEMO_EMAIL)
    with transaction.atomic():
        user = _user(result)
        accounts = _accounts(user, (first, second), result)
        for spec in _bot_specs(first, second):
            bot = Bot.objects.filter(user=user, name=spec["name"]).first()
            if bot is None:
                venues = [
                    {"exchange": v, "exchange_account_id": accounts[v].pk} for v in spec["venues"]
                ]
                bot = bot_create(user=user, **{**spec, "venues": venues})
                result.created.append(f"bot {bot.name}")
            if not start:
                continue
            if bot.status in ("draft", "stopped", "error"):
                bot_start(bot=bot, actor=user)
                result.started.append(bot.name)
            elif bot.status == "paused":
                bot_resume(bot=bot, actor=user)
                result.started.append(bot.name)
    return result
