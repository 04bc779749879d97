from django.urls import path

from compliance import views

app_name = "compliance"

urlpatterns = [
    path("security-log/", views.security_log, name="security-log"),
]
