"""A short-lived cache of the API's read answers, per user, dropped when the user's data changes.

An API read (GET) answered 200 is kept for PEREGRINE_API_CACHE_SECONDS (default 2; 0 turns it
off, as in tests unless a test turns it on) under the user, the full path with its query and
the user's *data version*. The version is a counter in Redis that moves on:

- every live event about the user's bots (fills, orders, status, risk, equity snapshots), before
  the event goes to the pages (trading/events.py), so a page or client that reacts to an event
  always reads past it;
- every write request the user makes (POST, PUT, PATCH, DELETE: `DataVersionMiddleware`), once
  it has answered, so a client reads its own writes at once.

The heavy data of the signed-in pages (dashboard, bot list) is kept the same way through
`user_cached`; the page around it is rendered per request.

Whatever no event announces (a mark moving, balances fetched by a worker) is at most the cache's
lifetime old. Nothing is shared between users: the user's id is part of every key. Answers are
stored as the view's data (before rendering), so content negotiation still happens per request.
"""

from __future__ import annotations

import hashlib
import logging
from functools import wraps

from django.conf import settings
from django.core.cache import cache
from rest_framework.response import Response

logger = logging.getLogger(__name__)

_UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def _version_key(user_id: int) -> str:
    return f"data-version:{user_id}"


def user_data_changed(user_id: int | None) -> None:
    """Move the user's data version: every cached read of theirs is dropped."""
    if user_id is None:
        return
    key = _version_key(user_id)
    try:
        try:
            cache.incr(key)
        except ValueError:  # not there yet (or evicted): any new value differs from the cached
            cache.add(key, 1, timeout=None)
            cache.incr(key)
    except Exception as exc:  # Redis down: reads then miss too (see cached_read), never stale
        logger.warning("data version of user %s not moved: %s", user_id, exc)


def cached_read(view):
    """For an @api_view function: serve a GET from the cache when the user's data has not moved."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        seconds = settings.PEREGRINE_API_CACHE_SECONDS
        user = getattr(request, "user", None)
        if not seconds or request.method != "GET" or not getattr(user, "is_authenticated", False):
            return view(request, *args, **kwargs)
        path = hashlib.sha256(request.get_full_path().encode()).hexdigest()[:32]
        answer_key = f"api-read:{user.pk}:{path}"
        try:
            found = cache.get_many([_version_key(user.pk), answer_key])
        except Exception as exc:  # no cache: answer from the database
            logger.warning("read cache unavailable: %s", exc)
            return view(request, *args, **kwargs)
        version = found.get(_version_key(user.pk), 0)
        stored = found.get(answer_key)
        if stored is not None and stored[0] == version:
            return Response(stored[1])
        response = view(request, *args, **kwargs)
        if response.status_code == 200 and isinstance(response, Response):
            try:
                cache.set(answer_key, (version, response.data), timeout=seconds)
            except Exception as exc:
                logger.warning("read cache not written: %s", exc)
        return response

    return wrapper


def user_cached(user_id: int, name: str, compute):
    """`compute()` kept for the user under `name` until their data version moves (or the cache's
    lifetime ends): for the heavy parts of the signed-in pages (the page itself, with its CSRF
    token and messages, is still rendered per request)."""
    seconds = settings.PEREGRINE_API_CACHE_SECONDS
    if not seconds:
        return compute()
    key = f"page-data:{user_id}:{name}"
    try:
        found = cache.get_many([_version_key(user_id), key])
    except Exception as exc:
        logger.warning("read cache unavailable: %s", exc)
        return compute()
    version = found.get(_version_key(user_id), 0)
    stored = found.get(key)
    if stored is not None and stored[0] == version:
        return stored[1]
    value = compute()
    try:
        cache.set(key, (version, value), timeout=seconds)
    except Exception as exc:
        logger.warning("read cache not written: %s", exc)
    return value


class DataVersionMiddleware:
    """After a write request by a signed-in user (session or API token), move their version."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.method in _UNSAFE:
            user = getattr(request, "user", None)
            if getattr(user, "is_authenticated", False):
                user_data_changed(user.pk)
        return response
