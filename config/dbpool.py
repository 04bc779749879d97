"""A request that waited DATABASE_POOL_TIMEOUT seconds for a pooled connection answers 503.

The web server's requests queue for the pool's connections (config/settings.py); when one still
finds none after the time-out, psycopg_pool raises PoolTimeout (Django wraps it in an
OperationalError). That is overload, not a bug: the client is told to come back (503 with
Retry-After; the API's one error shape under /api/), every other error stays a 500.
"""

from __future__ import annotations

import sys

from django.http import HttpResponse, JsonResponse
from django.views.defaults import server_error as django_server_error

RETRY_AFTER_SECONDS = 1
MESSAGE = "The server is busy: try again in a moment."


def _pool_timed_out(exc: BaseException | None) -> bool:
    try:
        from psycopg_pool import PoolTimeout
    except ImportError:  # no pool installed: nothing to recognise
        return False
    while exc is not None:
        if isinstance(exc, PoolTimeout):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def server_error(request, *args, **kwargs):
    """handler500: 503 + Retry-After for an exhausted connection pool, else Django's 500."""
    if not _pool_timed_out(sys.exc_info()[1]):
        return django_server_error(request, *args, **kwargs)
    if request.path.startswith("/api/"):
        body = {"error": {"code": "unavailable", "message": MESSAGE, "fields": {}}}
        response = JsonResponse(body, status=503)
    else:
        response = HttpResponse(MESSAGE, status=503, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
