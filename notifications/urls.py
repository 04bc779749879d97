from django.urls import path

from notifications import telegram_views, views

app_name = "notifications"

urlpatterns = [
    path("", views.channel_list, name="channel-list"),
    path("channels/new/", views.channel_create, name="channel-create"),
    path("channels/<uuid:id>/edit/", views.channel_update, name="channel-update"),
    path("channels/<uuid:id>/toggle/", views.channel_toggle, name="channel-toggle"),
    path("channels/<uuid:id>/test/", views.channel_test, name="channel-test"),
    path("channels/<uuid:id>/delete/", views.channel_delete, name="channel-delete"),
    path("telegram/link/", telegram_views.telegram_link_create, name="telegram-link"),
    path("telegram/<int:id>/unlink/", telegram_views.telegram_unlink, name="telegram-unlink"),
]
