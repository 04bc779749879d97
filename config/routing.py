"""Websocket routes of every app, gathered in one place."""

from django.urls import path

from config.consumers import UserEventsConsumer

websocket_urlpatterns = [
    path("ws/events/", UserEventsConsumer.as_asgi()),
]
