from django.urls import path

from trading import views, webhook_views

app_name = "trading"

urlpatterns = [
    path("bots/", views.bot_list, name="bot-list"),
    path("bots/new/", views.bot_create, name="bot-create"),
    path("bots/new/strategy-fields/", views.bot_strategy_fields, name="bot-strategy-fields"),
    path("bots/<int:id>/", views.bot_detail, name="bot-detail"),
    path("bots/<int:id>/chart/", views.bot_chart, name="bot-chart"),
    path("bots/<int:id>/trades/", views.bot_trades, name="bot-trades"),
    path("bots/<int:id>/edit/", views.bot_update, name="bot-update"),
    path("bots/<int:id>/webhook/", webhook_views.bot_webhook, name="bot-webhook"),
    path("bots/<int:id>/<str:action>/", views.bot_action, name="bot-action"),
    path("hooks/<str:token>/", webhook_views.webhook_receive, name="webhook-receive"),
]
