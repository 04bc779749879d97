from django.urls import path

from notifications.api import views

urlpatterns = [
    path(
        "notification-channels/",
        views.notification_channel_list_api,
        name="notifications-api-channel-list",
    ),
    path(
        "notification-channels/<str:id>/",
        views.notification_channel_detail_api,
        name="notifications-api-channel-detail",
    ),
    path(
        "notification-channels/<str:id>/test/",
        views.notification_channel_test_api,
        name="notifications-api-channel-test",
    ),
    path(
        "notification-deliveries/",
        views.delivery_log_list_api,
        name="notifications-api-delivery-list",
    ),
]
