from django.urls import path

from exchanges.api import trade, views

urlpatterns = [
    path("exchange-accounts/", views.exchange_account_list_api, name="exchanges-api-account-list"),
    path(
        "exchange-accounts/<str:id>/",
        views.exchange_account_detail_api,
        name="exchanges-api-account-detail",
    ),
    path(
        "exchange-accounts/<str:id>/keys/",
        views.exchange_account_keys_api,
        name="exchanges-api-account-keys",
    ),
    path(
        "exchange-accounts/<str:id>/test/",
        views.exchange_account_test_api,
        name="exchanges-api-account-test",
    ),
    path(
        "exchange-accounts/<str:id>/disable/",
        views.exchange_account_disable_api,
        name="exchanges-api-account-disable",
    ),
    path(
        "exchange-accounts/<str:id>/orders/",
        trade.exchange_account_orders_api,
        name="exchanges-api-account-orders",
    ),
    path(
        "exchange-accounts/<str:id>/orders/<int:order_id>/cancel/",
        trade.exchange_account_order_cancel_api,
        name="exchanges-api-account-order-cancel",
    ),
]
