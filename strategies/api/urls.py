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
        "strategy-configs/<str:id>/",
        views.strategy_config_detail_api,
        name="strategies-api-config-detail",
    ),
]
