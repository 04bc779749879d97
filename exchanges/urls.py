from django.urls import path

from exchanges import trade_views, views

app_name = "exchanges"

urlpatterns = [
    path("accounts/", views.account_list, name="account-list"),
    path("accounts/new/", views.account_create, name="account-create"),
    path("accounts/sandbox/", views.account_sandbox_create, name="account-sandbox-create"),
    path("accounts/<uuid:id>/edit/", views.account_update, name="account-update"),
    path("accounts/<uuid:id>/keys/", views.account_replace_keys, name="account-keys"),
    path("accounts/<uuid:id>/delete/", views.account_delete, name="account-delete"),
    path("accounts/<uuid:id>/test/", views.account_test_connection, name="account-test"),
    path("accounts/<uuid:id>/trade/", trade_views.account_trade, name="account-trade"),
    path(
        "accounts/<uuid:id>/trade/state/",
        trade_views.account_trade_state,
        name="account-trade-state",
    ),
    path(
        "accounts/<uuid:id>/trade/orders/",
        trade_views.account_trade_place,
        name="account-trade-place",
    ),
    path(
        "accounts/<uuid:id>/trade/orders/<int:order_id>/cancel/",
        trade_views.account_trade_cancel,
        name="account-trade-cancel",
    ),
]
