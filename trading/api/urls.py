from django.urls import path

from trading.api import views, webhooks

urlpatterns = [
    path("bots/", views.bot_list_api, name="trading-api-bot-list"),
    path("bots/<str:id>/", views.bot_detail_api, name="trading-api-bot-detail"),
    path("bots/<str:id>/start/", views.bot_start_api, name="trading-api-bot-start"),
    path("bots/<str:id>/pause/", views.bot_pause_api, name="trading-api-bot-pause"),
    path("bots/<str:id>/resume/", views.bot_resume_api, name="trading-api-bot-resume"),
    path("bots/<str:id>/stop/", views.bot_stop_api, name="trading-api-bot-stop"),
    path("bots/<str:id>/kill/", views.bot_kill_api, name="trading-api-bot-kill"),
    path("bots/<str:id>/signals/", views.bot_signal_list_api, name="trading-api-bot-signals"),
    path("bots/<str:id>/events/", views.bot_event_list_api, name="trading-api-bot-events"),
    path("bots/<str:id>/webhook/", webhooks.bot_webhook_api, name="trading-api-bot-webhook"),
    path("orders/", views.order_list_api, name="trading-api-order-list"),
    path("orders/<str:id>/", views.order_detail_api, name="trading-api-order-detail"),
    path("fills/", views.fill_list_api, name="trading-api-fill-list"),
    path("kill-switch/", views.kill_switch_api, name="trading-api-kill-switch"),
]
