from django.urls import path

from compliance import views
from compliance.tax_urls import urlpatterns as tax_urlpatterns

app_name = "compliance"

urlpatterns = [
    path("security-log/", views.security_log, name="security-log"),
]
urlpatterns += tax_urlpatterns
