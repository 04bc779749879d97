"""ASGI entry point: HTTP through Django, websockets through Channels with session auth."""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# the web server pools its database connections (config/settings.py); workers do not
os.environ.setdefault("DATABASE_POOL", "true")
django.setup(set_prefix=False)

from django.conf import settings  # noqa: E402

from config.asgi_http import SyncStackASGIHandler  # noqa: E402

# Django's synchronous stack in one thread hop per request (config/asgi_http.py)
django_asgi_app = SyncStackASGIHandler(threads=settings.PEREGRINE_WEB_THREADS)

from channels.auth import AuthMiddlewareStack  # noqa: E402  (needs Django set up first)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from config.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)
