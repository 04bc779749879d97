from django.urls import path

from accounts.api import views

urlpatterns = [
    path("me/", views.me, name="accounts-api-me"),
    path("me/data/", views.data_archive, name="accounts-api-data"),
    path("me/delete/", views.account_delete, name="accounts-api-delete"),
]
