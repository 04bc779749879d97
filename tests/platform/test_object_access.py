"""One generated access test for every object route: the URL conf and the API schema are walked,
every route with an object in its path is requested with every method by bob (a signed-in
session, and on the API also his trade-scope token) and by anonymous, with alice's ids. The only
answers allowed: 404 or 403 (bob), 401 or a redirect to the login page (anonymous), 405 (the
method does not exist there); never 200, another redirect, a 400 (it would tell that the object
exists) or a 5xx. Alice's objects are unchanged afterwards.

A new route cannot skip it: `test_every_route_with_a_parameter_is_known` fails on a route whose
path parameters are neither filled with one of alice's objects (OBJECT_ROUTES) nor declared
not to name an object (NOT_OBJECT_ROUTES, with what to send and why). Run with `-s` to see the
test's size (routes × identities × methods).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

METHODS = ("get", "post", "put", "patch", "delete")
PARAMETERS = ("<", "(?P<")

# route -> {path parameter: the kind of alice's object it names}
OBJECT_ROUTES: dict[str, dict[str, str]] = {
    "api/v1/exchange-accounts/<str:id>/": {"id": "exchange_account"},
    "api/v1/exchange-accounts/<str:id>/disable/": {"id": "exchange_account"},
    "api/v1/exchange-accounts/<str:id>/keys/": {"id": "exchange_account"},
    "api/v1/exchange-accounts/<str:id>/test/": {"id": "exchange_account"},
    "api/v1/exchange-accounts/<str:id>/orders/": {"id": "exchange_account"},
    "api/v1/exchange-accounts/<str:id>/orders/<int:order_id>/cancel/": {
        "id": "exchange_account",
        "order_id": "order",
    },
    "api/v1/strategy-configs/<str:id>/": {"id": "strategy_config"},
    "api/v1/backtests/<str:id>/": {"id": "backtest"},
    "api/v1/backtests/<str:id>/cancel/": {"id": "backtest"},
    "api/v1/backtests/<str:id>/paper-bot/": {"id": "backtest"},
    "api/v1/backtests/<str:id>/trades.csv": {"id": "backtest"},
    "api/v1/backtests/<str:id>/equity.csv": {"id": "backtest"},
    "api/v1/bots/<str:id>/": {"id": "bot"},
    "api/v1/bots/<str:id>/start/": {"id": "bot"},
    "api/v1/bots/<str:id>/pause/": {"id": "bot"},
    "api/v1/bots/<str:id>/resume/": {"id": "bot"},
    "api/v1/bots/<str:id>/stop/": {"id": "bot"},
    "api/v1/bots/<str:id>/kill/": {"id": "bot"},
    "api/v1/bots/<str:id>/signals/": {"id": "bot"},
    "api/v1/bots/<str:id>/events/": {"id": "bot"},
    "api/v1/bots/<str:id>/webhook/": {"id": "bot"},
    "api/v1/orders/<str:id>/": {"id": "order"},
    "api/v1/portfolio/bots/<str:id>/": {"id": "bot"},
    "api/v1/portfolio/bots/<str:id>/equity/": {"id": "bot"},
    "api/v1/tax/transactions/<int:id>/": {"id": "tax_transaction"},
    "api/v1/tax/exports/<int:id>/": {"id": "tax_export"},
    "api/v1/tax/exports/<int:id>/download/": {"id": "tax_export"},
    "api/v1/notification-channels/<str:id>/": {"id": "notification_channel"},
    "api/v1/notification-channels/<str:id>/test/": {"id": "notification_channel"},
    "accounts/sessions/<int:id>/end/": {"id": "session"},
    "accounts/tokens/<int:id>/revoke/": {"id": "api_token"},
    "exchanges/accounts/<uuid:id>/edit/": {"id": "exchange_account"},
    "exchanges/accounts/<uuid:id>/keys/": {"id": "exchange_account"},
    "exchanges/accounts/<uuid:id>/delete/": {"id": "exchange_account"},
    "exchanges/accounts/<uuid:id>/test/": {"id": "exchange_account"},
    "exchanges/accounts/<uuid:id>/trade/": {"id": "exchange_account"},
    "exchanges/accounts/<uuid:id>/trade/state/": {"id": "exchange_account"},
    "exchanges/accounts/<uuid:id>/trade/orders/": {"id": "exchange_account"},
    "exchanges/accounts/<uuid:id>/trade/orders/<int:order_id>/cancel/": {
        "id": "exchange_account",
        "order_id": "order",
    },
    "api/v1/bot-comparisons/<str:id>/": {"id": "bot"},
    "api/v1/bot-configs/<str:id>/export/": {"id": "bot"},
    "api/v1/strategy-configs/<str:id>/export/": {"id": "strategy_config"},
    "strategies/bots/<int:id>/compare-paper/": {"id": "bot"},
    "strategies/bots/<int:id>/export.json": {"id": "bot"},
    "strategies/configs/<int:id>/export.json": {"id": "strategy_config"},
    "api/v1/optimizations/<str:id>/": {"id": "optimization"},
    "api/v1/optimizations/<str:id>/cancel/": {"id": "optimization"},
    "strategies/optimizations/<int:id>/": {"id": "optimization"},
    "strategies/optimizations/<int:id>/cancel/": {"id": "optimization"},
    "strategies/backtests/<int:id>/": {"id": "backtest"},
    "strategies/backtests/<int:id>/cancel/": {"id": "backtest"},
    "strategies/backtests/<int:id>/paper-bot/": {"id": "backtest"},
    "trading/bots/<int:id>/": {"id": "bot"},
    "trading/bots/<int:id>/chart/": {"id": "bot"},
    "trading/bots/<int:id>/trades/": {"id": "bot"},
    "trading/bots/<int:id>/edit/": {"id": "bot"},
    "trading/bots/<int:id>/webhook/": {"id": "bot"},
    "trading/bots/<int:id>/<str:action>/": {"id": "bot", "action": "=stop"},
    "portfolio/accounts/<uuid:id>/refresh/": {"id": "exchange_account"},
    "compliance/tax/transactions/<int:id>/delete/": {"id": "tax_transaction"},
    "compliance/tax/exports/<int:id>/": {"id": "tax_export"},
    "compliance/tax/exports/<int:id>/download/": {"id": "tax_export"},
    "notifications/channels/<uuid:id>/edit/": {"id": "notification_channel"},
    "notifications/channels/<uuid:id>/toggle/": {"id": "notification_channel"},
    "notifications/channels/<uuid:id>/test/": {"id": "notification_channel"},
    "notifications/channels/<uuid:id>/delete/": {"id": "notification_channel"},
    "notifications/telegram/<int:id>/unlink/": {"id": "telegram_link"},
}

# routes whose parameters name no one's object: what the caller sees there is public or the
# caller's own, so only anonymous is asked (with these values), and must be refused
NOT_OBJECT_ROUTES: dict[str, tuple[dict[str, str], str]] = {
    "api/v1/strategies/<str:strategy_id>/": ({"strategy_id": "sma_cross"}, "public catalog"),
    "api/v1/tax/years/<int:year>/": ({"year": "2024"}, "the caller's own year"),
    "api/v1/tax/years/<int:year>/settings/": ({"year": "2024"}, "the caller's own year"),
    "api/v1/tax/years/<int:year>/<str:kind>.csv": (
        {"year": "2024", "kind": "disposals"},
        "the caller's own year",
    ),
    "api/v1/tax/history/<str:kind>.csv": ({"kind": "disposals"}, "the caller's own history"),
    "marketdata/markets/<str:exchange>/<str:symbol>/": (
        {"exchange": "sandbox", "symbol": "BTC-USDT"},
        "public market data",
    ),
    "marketdata/markets/<str:exchange>/<str:symbol>/candles/": (
        {"exchange": "sandbox", "symbol": "BTC-USDT"},
        "public market data",
    ),
    "compliance/tax/<int:year>/": ({"year": "2024"}, "the caller's own year"),
    "compliance/tax/<int:year>/settings/": ({"year": "2024"}, "the caller's own year"),
    "compliance/tax/<int:year>/<str:kind>.csv": (
        {"year": "2024", "kind": "disposals"},
        "the caller's own year",
    ),
    "compliance/tax/history/<str:kind>.csv": ({"kind": "disposals"}, "the caller's own history"),
}
# allauth's own key-in-the-link pages and the bots' alert URLs (a secret, not an object: tested
# in tests/trading/test_webhooks.py) and the operator admin (staff only, its own permission
# model, tested with the admin)
SKIPPED_PREFIXES = (
    "admin/",
    "accounts/^confirm-email/",
    "accounts/^password/reset/key/",
    "trading/hooks/",
)


def _walk(patterns, prefix=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry


def routes_with_parameters() -> list[str]:
    found = []
    for route, _ in _walk(get_resolver().url_patterns):
        if any(marker in route for marker in PARAMETERS) and not route.startswith(SKIPPED_PREFIXES):
            found.append(route)
    return sorted(set(found))


def _identities(route: str) -> list[str]:
    if route in NOT_OBJECT_ROUTES:
        return ["anonymous"]
    return ["anonymous", "bob", "bob-token"] if route.startswith("api/") else ["anonymous", "bob"]


def _known(route: str) -> bool:
    return route in OBJECT_ROUTES or route in NOT_OBJECT_ROUTES


def _url(route: str, values: dict[str, str]) -> str:
    import re

    def fill(match):
        return values[match.group(1)]

    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", fill, route)


def test_every_route_with_a_parameter_is_known(db):
    routes = routes_with_parameters()
    unknown = [route for route in routes if not _known(route)]
    assert not unknown, (
        "Routes with path parameters this access test does not know how to fill: add each to "
        f"OBJECT_ROUTES (with the kind of alice's object) or NOT_OBJECT_ROUTES: {unknown}"
    )
    requests = sum(len(_identities(route)) * len(METHODS) for route in routes)
    objects = [route for route in routes if route in OBJECT_ROUTES]
    print(
        f"\nobject access test: {len(objects)} object routes "
        f"({sum(r.startswith('api/') for r in objects)} API, "
        f"{sum(not r.startswith('api/') for r in objects)} pages) x identities "
        f"(anonymous, bob; bob's token on the API) x {len(METHODS)} methods "
        f"+ {len(routes) - len(objects)} caller-scoped routes x anonymous x {len(METHODS)} "
        f"= {requests} requests"
    )


def test_every_schema_operation_with_a_path_parameter_is_a_walked_route(client, db):
    import re

    import yaml

    schema = yaml.safe_load(client.get("/api/schema/").content)
    walked = {re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route) for route in routes_with_parameters()}
    for path, operations in schema["paths"].items():
        if "{" in path:
            assert path.lstrip("/") in walked, path
            assert set(operations) - {"parameters"} <= set(METHODS), (path, list(operations))


class AliceObjects(dict):
    """kind -> the value of its path parameter for one of alice's objects, made when first
    asked for (a kind's model is only imported by the routes that name it)."""

    def __init__(self, alice):
        super().__init__()
        self.alice = alice

    def __missing__(self, kind: str) -> str:
        value = str(getattr(self, f"_{kind}")().pk)
        self[kind] = value
        return value

    def _exchange_account(self):
        from exchanges.models import ExchangeAccount
        from exchanges.services.credentials import exchange_account_create

        account = exchange_account_create(
            user=self.alice, exchange="sandbox", label="alice-main", mode="paper",
            api_key="alice-key-0001", secret="alice-secret-0001",
        )  # fmt: skip
        return ExchangeAccount.objects.get(pk=account.pk)

    def _bot(self):
        from trading.models import Bot, BotVenue

        bot = Bot.objects.create(
            user=self.alice, name="alice-bot", strategy="pure_market_making",
            symbols=["BTC/USDT"], budget=Decimal("1000"),
            paper_balances={"sandbox": {"USDT": "1000"}}, status="running",
        )  # fmt: skip
        BotVenue.objects.create(bot=bot, exchange="sandbox", position=0)
        return bot

    def _order(self):
        from trading.models import Bot, Order

        return Order.objects.create(
            bot=Bot.objects.get(pk=self["bot"]), user=self.alice, mode="paper",
            exchange="sandbox", exchange_account_id=self["exchange_account"], symbol="BTC/USDT",
            client_order_id=f"alice-{uuid.uuid4().hex[:8]}", side="buy", type="limit",
            price=Decimal("100"), qty=Decimal("1"), status="open",
        )  # fmt: skip

    def _strategy_config(self):
        from strategies.models import StrategyConfig

        return StrategyConfig.objects.create(
            user=self.alice, name="alice-config", strategy="sma_cross", params={}
        )

    def _backtest(self):
        from strategies.models import BacktestRun

        return BacktestRun.objects.create(
            user=self.alice, strategy="sma_cross", params={}, exchange="sandbox",
            symbol="BTC/USDT", timeframe="1h", start=datetime(2024, 1, 1, tzinfo=UTC),
            end=datetime(2024, 2, 1, tzinfo=UTC), cash=Decimal("1000"),
            fee_rate=Decimal("0.001"), slippage_bp=Decimal("0"), status="done",
        )  # fmt: skip

    def _optimization(self):
        from strategies.models import Optimization

        return Optimization.objects.create(
            user=self.alice, strategy="sma_cross", params={}, space={"fast": [5, 10]},
            method="grid", objective="sharpe", exchange="sandbox", symbol="BTC/USDT",
            timeframe="1h", start=datetime(2024, 1, 1, tzinfo=UTC),
            end=datetime(2024, 2, 1, tzinfo=UTC), cash=Decimal("1000"),
            fee_rate=Decimal("0.001"), status="done",
        )  # fmt: skip

    def _tax_transaction(self):
        from compliance.tax_models import TaxTransaction

        return TaxTransaction.objects.create(
            user=self.alice, kind="income", occurred_at=datetime(2024, 3, 1, tzinfo=UTC),
            asset="ETH", amount=Decimal("0.5"), wallet="",
        )  # fmt: skip

    def _tax_export(self):
        from compliance.tax_models import TaxExport

        return TaxExport.objects.create(
            user=self.alice, kind="koinly", as_of=datetime(2025, 1, 1, tzinfo=UTC), status="done",
            file_name="alice-export.csv",
        )  # fmt: skip

    def _notification_channel(self):
        from notifications.services import notification_channel_create

        return notification_channel_create(
            user=self.alice, kind="webhook", label="alice-hook",
            target="https://hooks.example.com/alice", events=["bot_error"],
        )  # fmt: skip

    def _telegram_link(self):
        from notifications.models import TelegramLink

        return TelegramLink.objects.create(user=self.alice, chat_id=424242, scope="trade")

    def _session(self):
        from accounts.models import UserSession

        return UserSession.objects.create(
            session_key=uuid.uuid4().hex, user=self.alice, last_seen_at=datetime.now(UTC)
        )

    def _api_token(self):
        from accounts.services.tokens import api_token_create

        return api_token_create(user=self.alice, name="alice-token", scope="trade")[0]


@pytest.fixture
def alice_objects(alice):
    return AliceObjects(alice)


def _snapshot(user):

    from accounts.models import ApiToken, UserSession
    from compliance.tax_models import TaxExport, TaxTransaction
    from exchanges.models import ExchangeAccount
    from notifications.models import NotificationChannel, TelegramLink
    from strategies.models import BacktestRun, StrategyConfig
    from trading.models import Bot, Order

    models = [ApiToken, UserSession, TaxTransaction, TaxExport, ExchangeAccount,
              NotificationChannel, TelegramLink, BacktestRun, StrategyConfig, Bot,
              Order]  # fmt: skip
    return {
        m.__name__: sorted(map(repr, m.objects.filter(user=user).values_list())) for m in models
    }


def _refused(identity: str, route: str, response) -> bool:
    status = response.status_code
    if status == 405:
        return True
    if identity == "anonymous":
        if route.startswith("api/"):
            return status in (401, 403, 404)
        return status == 404 or (
            status == 302 and response["Location"].startswith("/accounts/login/")
        )
    return status in (403, 404)


@pytest.mark.parametrize("route", routes_with_parameters())
def test_outsiders_are_refused_alices_objects(route, alice, alice_objects, bob, api_token_for):
    from django.test import Client

    if not _known(route):
        pytest.fail(f"{route}: not in OBJECT_ROUTES or NOT_OBJECT_ROUTES (see the first test)")
    if route in OBJECT_ROUTES:
        values = {
            name: kind[1:] if kind.startswith("=") else alice_objects[kind]
            for name, kind in OBJECT_ROUTES[route].items()
        }
    else:
        values = NOT_OBJECT_ROUTES[route][0]
    url = _url(route, values)
    bob_session = Client()
    bob_session.force_login(bob)
    clients = {
        "anonymous": (Client(), {}),
        "bob": (bob_session, {}),
        "bob-token": (Client(), {"HTTP_AUTHORIZATION": f"Bearer {api_token_for(bob, 'trade')}"}),
    }
    before = _snapshot(alice)
    wrong = []
    for identity in _identities(route):
        client, headers = clients[identity]
        for method in METHODS:
            kwargs = {"content_type": "application/json"} if method != "get" else {}
            response = getattr(client, method)(url, **kwargs, **headers)
            if not _refused(identity, route, response):
                where = response.get("Location", "")
                wrong.append(f"{identity} {method.upper()} {url} -> {response.status_code} {where}")
    assert not wrong, "\n".join(wrong)
    assert _snapshot(alice) == before, f"{route}: outsiders changed alice's objects"
