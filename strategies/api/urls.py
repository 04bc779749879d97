from django.urls import path

from strategies.api import views

urlpatterns = [
    path("strategies/", views.strategy_catalog_api, name="strategies-api-catalog"),
    path(
        "strategies/<str:strategy_id>/",
        views.strategy_detail_api,
        name="strategies-api-strategy-detail",
    ),
    path("strategy-configs/", views.strategy_config_list_api, name="strategies-api-config-list"),
    path(
        "strategy-configs/import/",
        views.strategy_config_import_api,
        name="strategies-api-config-import",
    ),
    path(
        "strategy-configs/<str:id>/export/",
        views.strategy_config_export_api,
        name="strategies-api-config-export",
    ),
    path(
        "bot-comparisons/<str:id>/",
        views.bot_paper_comparison_api,
        name="strategies-api-bot-paper-comparison",
    ),
    path("bot-configs/import/", views.bot_config_import_api, name="strategies-api-bot-import"),
    path(
        "bot-configs/<str:id>/export/",
        views.bot_config_export_api,
        name="strategies-api-bot-export",
    ),
    path(
        "strategy-configs/<str:id>/",
        views.strategy_config_detail_api,
        name="strategies-api-config-detail",
    ),
    path("backtests/", views.backtest_run_list_api, name="strategies-api-backtest-list"),
    path("backtests/compare/", views.backtest_compare_api, name="strategies-api-backtest-compare"),
    path(
        "backtests/<str:id>/", views.backtest_run_detail_api, name="strategies-api-backtest-detail"
    ),
    path(
        "backtests/<str:id>/cancel/",
        views.backtest_run_cancel_api,
        name="strategies-api-backtest-cancel",
    ),
    path(
        "backtests/<str:id>/paper-bot/",
        views.backtest_run_paper_bot_api,
        name="strategies-api-backtest-paper-bot",
    ),
    path(
        "backtests/<str:id>/trades.csv",
        views.backtest_run_trades_csv_api,
        name="strategies-api-backtest-trades-csv",
    ),
    path(
        "backtests/<str:id>/equity.csv",
        views.backtest_run_equity_csv_api,
        name="strategies-api-backtest-equity-csv",
    ),
    path("optimizations/", views.optimization_list_api, name="strategies-api-optimization-list"),
    path(
        "optimizations/<str:id>/",
        views.optimization_detail_api,
        name="strategies-api-optimization-detail",
    ),
    path(
        "optimizations/<str:id>/cancel/",
        views.optimization_cancel_api,
        name="strategies-api-optimization-cancel",
    ),
]
