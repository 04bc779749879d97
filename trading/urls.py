from django.urls import path

from trading import views

app_name = "trading"

urlpatterns = [
    path("bots/", views.bot_list, name="bot-list"),
    path("bots/<int:id>/", views.bot_detail, name="bot-detail"),
    path("bots/<int:id>/equity/", views.bot_equity, name="bot-equity"),
    path("bots/<int:id>/<str:action>/", views.bot_action, name="bot-action"),
]
