"""Platform-level views: home and the health check."""

import threading

from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from drf_spectacular.views import SpectacularAPIView

from config import health


@require_GET
@never_cache
def healthz(request):
    """Report database, Redis, worker heartbeat and beat; 503 names the failing parts."""
    checks = health.run_checks()
    failing = [check.name for check in checks if not check.ok]
    body = {
        "status": "ok" if not failing else "unhealthy",
        "failing": failing,
        "checks": {check.name: check.as_dict() for check in checks},
    }
    return JsonResponse(body, status=200 if not failing else 503)


def not_found(request, exception=None):
    """handler404: on the API, the API's error shape (JSON); elsewhere Django's page."""
    if request.path.startswith("/api/"):
        body = {"error": {"code": "not_found", "message": "Not found.", "fields": {}}}
        return JsonResponse(body, status=404)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def home(request):
    """The dashboard for a signed-in user; for anyone else, what Peregrine is and how to start."""
    if request.user.is_authenticated:
        from portfolio.views import dashboard

        return dashboard(request)
    return render(request, "home.html")


class SchemaView(SpectacularAPIView):
    """The OpenAPI schema, generated one request at a time: drf-spectacular loads its extensions
    lazily on first use and not thread-safely (two first requests at once in one process made the
    second fail with AttributeError on a half-loaded extension), and uvicorn serves requests on
    a thread pool."""

    _lock = threading.Lock()

    def _get_schema_response(self, request):
        with self._lock:
            return super()._get_schema_response(request)
