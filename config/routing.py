"""Websocket routes of every app, gathered in one place."""

from django.urls import path

from compliance.consumers import TaxExportLiveConsumer
from config.consumers import UserEventsConsumer
from exchanges.consumers import AccountTradeLiveConsumer
from marketdata.consumers import ArbitrageLiveConsumer, MarketLiveConsumer
from strategies.consumers import (
    BacktestListLiveConsumer,
    BacktestLiveConsumer,
    OptimizationListLiveConsumer,
    OptimizationLiveConsumer,
)
from trading.consumers import BotListLiveConsumer, BotLiveConsumer

websocket_urlpatterns = [
    path("ws/events/", UserEventsConsumer.as_asgi()),
    # live bot pages (issue 6): the bot list, and one bot's page (owner only)
    path("ws/bots/", BotListLiveConsumer.as_asgi()),
    path("ws/bots/<int:bot_id>/", BotLiveConsumer.as_asgi()),
    path("ws/markets/<str:exchange>/<str:symbol>/", MarketLiveConsumer.as_asgi()),
    path("ws/arbitrage/<str:size>/", ArbitrageLiveConsumer.as_asgi()),
    # an exchange account's trading panel (owner only)
    path("ws/exchanges/accounts/<uuid:id>/trade/", AccountTradeLiveConsumer.as_asgi()),
    # a backtest's page while it runs (owner only)
    path("ws/backtests/<int:run_id>/", BacktestLiveConsumer.as_asgi()),
    # an optimization's page while it runs (owner only), and the owner's lists of both
    path("ws/optimizations/<int:run_id>/", OptimizationLiveConsumer.as_asgi()),
    path("ws/backtests/", BacktestListLiveConsumer.as_asgi()),
    path("ws/optimizations/", OptimizationListLiveConsumer.as_asgi()),
    # a tax export a worker writes (owner only): its progress, then the download
    path("ws/tax/exports/<int:export_id>/", TaxExportLiveConsumer.as_asgi()),
]
