from django.urls import path

from strategies import views

app_name = "strategies"

urlpatterns = [
    path("backtests/", views.backtest_list, name="backtest-list"),
    path("backtests/compare/", views.backtest_compare, name="backtest-compare"),
    path("backtests/<int:id>/", views.backtest_detail, name="backtest-detail"),
    path("backtests/<int:id>/cancel/", views.backtest_cancel, name="backtest-cancel"),
    path("backtests/<int:id>/paper-bot/", views.backtest_paper_bot, name="backtest-paper-bot"),
    path("configs/", views.config_files, name="config-files"),
    path(
        "configs/<int:id>/export.json",
        views.strategy_config_export_file,
        name="strategy-config-export",
    ),
    path(
        "bots/<int:id>/compare-paper/",
        views.bot_paper_comparison_page,
        name="bot-paper-comparison",
    ),
    path("bots/<int:id>/export.json", views.bot_config_export_file, name="bot-config-export"),
    path("optimizations/", views.optimization_list, name="optimization-list"),
    path("optimizations/<int:id>/", views.optimization_detail, name="optimization-detail"),
    path("optimizations/<int:id>/cancel/", views.optimization_cancel, name="optimization-cancel"),
]
