from django.contrib import admin
from django.shortcuts import redirect
from django.templatetags.static import static
from django.urls import include, path
from drf_spectacular.views import SpectacularSwaggerSplitView

from accounts.admin_site import PeregrineAdminSite
from config import views

# The admin requires a verified OTP device and logs in through allauth + the OTP step (issue 3).
admin.site.__class__ = PeregrineAdminSite

APPS = (
    "accounts",
    "exchanges",
    "marketdata",
    "strategies",
    "trading",
    "portfolio",
    "compliance",
    "notifications",
)

admin.site.site_header = "Peregrine administration"
admin.site.site_title = "Peregrine admin"
admin.site.index_title = "Operations"

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    # browsers and tools ask for /favicon.ico whatever the page links: send them the static icon
    path("favicon.ico", lambda request: redirect(static("favicon.svg"), permanent=True)),
    path("admin/", admin.site.urls),
    path("api/v1/", include([path("", include(f"{app}.api.urls")) for app in APPS])),
    path("api/schema/", views.SchemaView.as_view(), name="schema"),
    # the split view serves Swagger UI's start-up script as a file: no inline script (CSP)
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    *[path(f"{app}/", include(f"{app}.urls")) for app in APPS],
    # allauth after the apps: accounts/urls.py wraps some of its views (recent re-auth) first
    path("accounts/", include("allauth.urls")),
]

# an exhausted database connection pool answers 503 + Retry-After, not 500 (config/dbpool.py)
handler500 = "config.dbpool.server_error"
# an API path that matches no route (or a path parameter of the wrong type) answers in JSON
handler404 = "config.views.not_found"
