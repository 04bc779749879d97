"""Peregrine settings. One file: development, test and production differ only by environment.

PEREGRINE_ENV (development | test | production) picks safe defaults for the rest; every variable
is read strictly (see config/env.py) and a missing or malformed one stops start-up, naming it.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from config import env
from config.social import social_providers

BASE_DIR = Path(__file__).resolve().parent.parent
PEREGRINE_ENV = env.choice("PEREGRINE_ENV", ("development", "test", "production"), "development")
PRODUCTION = PEREGRINE_ENV == "production"

DEBUG = env.boolean("DJANGO_DEBUG", PEREGRINE_ENV == "development")
if PRODUCTION:
    SECRET_KEY = env.string("DJANGO_SECRET_KEY")
    if len(SECRET_KEY) < 50:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured("DJANGO_SECRET_KEY: must be at least 50 characters")
else:
    SECRET_KEY = env.string(
        "DJANGO_SECRET_KEY", "dev-only-secret-key-do-not-use-in-production-" * 2
    )
ALLOWED_HOSTS = env.string_list(
    "DJANGO_ALLOWED_HOSTS", [] if PRODUCTION else ["localhost", "127.0.0.1", "[::1]", "testserver"]
)
if PRODUCTION and not ALLOWED_HOSTS:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS: required in production")
CSRF_TRUSTED_ORIGINS = env.string_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])
SITE_URL = env.string("PEREGRINE_SITE_URL", "http://127.0.0.1:8000")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "django_celery_beat",
    "django_htmx",
    # accounts and security (issue 3): allauth login, django-otp second factor
    "allauth",
    "allauth.account",
    "allauth.socialaccount",  # social login: providers below, when configured (config/social.py)
    "django_otp",
    "django_otp.plugins.otp_totp",
    # project apps
    "accounts",
    "exchanges",
    "exchanges.sandbox",
    "marketdata",
    "strategies",
    "trading",
    "portfolio",
    "compliance",
    # per-user notification channels through apprise (issue 6)
    "notifications",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",  # Content-Security-Policy on every response (below)
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "config.inputs.InputGuardMiddleware",  # bad query strings get a 400 before any view
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # accounts and security (issue 3): OTP verification state, allauth, the OTP step gate
    # (a user with 2FA is held at the OTP step until it passes) and session tracking
    "django_otp.middleware.OTPMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "accounts.middleware.SecondFactorRequiredMiddleware",
    "accounts.middleware.SessionTrackingMiddleware",
    # a write by a signed-in user drops their cached API reads (config/readcache.py)
    "config.readcache.DataVersionMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": env.database("DATABASE_URL")}
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# The web server (config/asgi.py turns DATABASE_POOL on for its process) borrows connections from
# one psycopg pool per process, at most DATABASE_POOL_MAX_SIZE, returned at the end of every
# request: a burst of requests waits in the pool's queue (up to DATABASE_POOL_TIMEOUT seconds,
# then 503, config/dbpool.py) instead of opening a connection per request thread until
# PostgreSQL refuses more. Workers keep persistent connections per thread (the bot runtime holds
# one per database thread, trading/runtime/db.py), so they are not pooled.
DATABASE_POOL = env.boolean("DATABASE_POOL", False)
if DATABASE_POOL:
    _pool = {
        "min_size": env.integer("DATABASE_POOL_MIN_SIZE", 2, minimum=0),
        "max_size": env.integer("DATABASE_POOL_MAX_SIZE", 10, minimum=1),
        "timeout": env.integer("DATABASE_POOL_TIMEOUT", 10, minimum=1),
        "max_idle": 300,  # seconds an idle connection above min_size is kept
    }
    if _pool["min_size"] > _pool["max_size"]:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured("DATABASE_POOL_MIN_SIZE: must not exceed DATABASE_POOL_MAX_SIZE")
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # Django's pool requires it: close = give back
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = _pool
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.integer("DATABASE_CONN_MAX_AGE", 60, minimum=0)
# Threads that run HTTP requests in the web server (config/asgi_http.py): at most this many run
# at once, the rest queue in arrival order; by default as many as the pool has connections, so a
# running request never waits for one
PEREGRINE_WEB_THREADS = env.integer(
    "PEREGRINE_WEB_THREADS", _pool["max_size"] if DATABASE_POOL else 10, minimum=1
)
DATABASES["default"]["TEST"] = {
    "NAME": env.string("DATABASE_TEST_NAME", f"test_{DATABASES['default']['NAME']}")
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

REDIS_URL = env.redis_url("REDIS_URL")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": f"peregrine-{PEREGRINE_ENV}",
    }
}
# redis-py gives every connection a 5 s socket timeout by default, and the channel layer's receive
# is a blocking pop of 5 s (RedisChannelLayer.brpop_timeout): on a page with no events the read
# timed out first and killed the consumer. The layer's reads wait longer than its pops.
# API reads kept per user until their data changes, at most this long (config/readcache.py);
# off in tests, where rows are written behind the API's back (the cache's own tests turn it on)
PEREGRINE_API_CACHE_SECONDS = env.integer(
    "PEREGRINE_API_CACHE_SECONDS", 0 if PEREGRINE_ENV == "test" else 2, minimum=0
)
CHANNEL_LAYER_SOCKET_TIMEOUT = 30
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [
                {
                    "address": REDIS_URL,
                    "socket_timeout": CHANNEL_LAYER_SOCKET_TIMEOUT,
                    "socket_keepalive": True,
                }
            ],
            "prefix": f"asgi-{PEREGRINE_ENV}",
        },
    }
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
# English only: no translation machinery. With it on, every gettext (each truncatechars, each
# localized number and date on a page) looked the active language up through asgiref's Local,
# a fifth of a dashboard's rendering time; formats are the same (LANGUAGE_CODE's).
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# collected files (production only: development and tests serve from the finders)
STATIC_ROOT = env.string(
    "DJANGO_STATIC_ROOT", str(BASE_DIR / "var" / "staticfiles") if PRODUCTION else None
)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = not PRODUCTION

# --- security -------------------------------------------------------------------------------
SESSION_COOKIE_AGE = env.integer("PEREGRINE_SESSION_IDLE_SECONDS", 60 * 60 * 8, minimum=60)
# Idle expiry: a signed-in session's expiry moves forward with its use, at most once a minute
# (accounts.middleware.SessionTrackingMiddleware writes its last-seen time, which saves the
# session), not with an UPDATE of the session row on every request
SESSION_SAVE_EVERY_REQUEST = False
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = False  # HTMX reads the token from the cookie-free meta tag; kept default
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env.boolean("DJANGO_SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env.integer("DJANGO_HSTS_SECONDS", 60 * 60 * 24 * 365, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

# --- email ----------------------------------------------------------------------------------
EMAIL_BACKEND = env.string(
    "DJANGO_EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if PRODUCTION
    else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_HOST = env.string("EMAIL_HOST", "localhost")
EMAIL_PORT = env.integer("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env.string("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env.string("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env.boolean("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env.string("DEFAULT_FROM_EMAIL", "Peregrine <no-reply@peregrine.local>")

# --- Content-Security-Policy (django-csp) ---------------------------------------------------
# Every page, in every environment (so tests see what production serves): scripts only from our
# own static files (no inline script, no eval), styles from our files and inline, no plugins,
# no framing, forms and connections (fetch, htmx, websockets) only to this origin.
from csp.constants import NONE, SELF, UNSAFE_INLINE  # noqa: E402

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        # styles may be inline (pages' <style> blocks and data-driven style attributes, the
        # chart library's own <style>): CSS cannot run code; scripts cannot be inline
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# --- Django REST framework ------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.api.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "config.schema.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "config.inputs.Pagination",
    "DEFAULT_PARSER_CLASSES": [
        "config.inputs.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "PAGE_SIZE": 100,
    "EXCEPTION_HANDLER": "config.api.exception_handler",
    # every API request counts against its caller's rate (per user, or per address when
    # anonymous); over it the answer is 429 with Retry-After (documented on every operation).
    # DRF's rates and rule, one Redis round trip per check (config/throttling.py)
    "DEFAULT_THROTTLE_CLASSES": [
        "config.throttling.UserRateThrottle",
        "config.throttling.AnonRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "user": env.string("PEREGRINE_API_RATE_USER", "1000/min"),
        "anon": env.string("PEREGRINE_API_RATE_ANON", "60/min"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Peregrine API",
    "DESCRIPTION": "Bots, orders, fills, market data and portfolio for API-token clients.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SWAGGER_UI_DIST": "SIDECAR",  # served from our own static files: no CDN
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # the schema is the API (config/schema.py): JSON bodies only (what clients send), request
    # and response shapes apart, and every operation's error responses documented
    "PARSER_WHITELIST": ["config.inputs.BoundedJSONParser"],
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "config.schema.postprocess",
    ],
}

# --- Celery ---------------------------------------------------------------------------------
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env.integer("CELERY_TASK_TIME_LIMIT", 300, minimum=1)
CELERY_TASK_SOFT_TIME_LIMIT = env.integer("CELERY_TASK_SOFT_TIME_LIMIT", 270, minimum=1)
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_QUEUES_NAMES = ("default", "marketdata", "bots")
CELERY_TASK_ROUTES = {
    "marketdata.tasks.*": {"queue": "marketdata"},
    "trading.tasks.bot_*": {"queue": "bots"},
}
# visibility timeout must exceed the longest task so late-acked tasks are not redelivered early
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"
# Every periodic task, in one place (django-celery-beat syncs these into its tables).
CELERY_BEAT_SCHEDULE = {
    # trading (issue 6): resume bots whose runner died, check risk limits (on "default", so a
    # busy "bots" queue cannot delay them)
    "trading-bot-supervise": {
        "task": "trading.tasks.bot_supervise_task",
        "schedule": timedelta(seconds=10),
        "options": {"expires": 10, "queue": "default"},
    },
    "trading-risk-sweep": {
        "task": "trading.tasks.risk_sweep_task",
        "schedule": timedelta(seconds=5),
        "options": {"expires": 5, "queue": "default"},
    },
    "peregrine-heartbeat": {
        "task": "config.tasks.heartbeat",
        "schedule": timedelta(seconds=10),
        "options": {"expires": 10},
    },
    # market data: start a collector for every PEREGRINE_COLLECTORS exchange that has none
    "marketdata-collectors-ensure": {
        "task": "marketdata.tasks.collectors_ensure_task",
        "schedule": timedelta(seconds=30),
        "options": {"expires": 30, "queue": "marketdata"},
    },
}
HEARTBEAT_MAX_AGE_SECONDS = env.integer("PEREGRINE_HEARTBEAT_MAX_AGE", 60, minimum=5)

# --- logging --------------------------------------------------------------------------------
LOG_LEVEL = env.choice("LOG_LEVEL", ("DEBUG", "INFO", "WARNING", "ERROR"), "INFO")
LOG_FORMAT = env.choice("LOG_FORMAT", ("text", "json"), "json" if PRODUCTION else "text")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "config.logging.RedactSecretsFilter"}},
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)-7s %(name)s: %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["redact"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Django's own default handlers would bypass the redaction filter: route through ours
        "django": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        "django.server": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        "django.db.backends": {"level": "INFO"},
        "celery": {"level": "INFO"},
    },
}

# --- Peregrine ------------------------------------------------------------------------------
PEREGRINE_DATA_DIR = env.string("PEREGRINE_DATA_DIR", str(BASE_DIR.parent / "shared" / "data"))
PEREGRINE_SANDBOX_VENUES = env.string_list("PEREGRINE_SANDBOX_VENUES", ["sandbox", "sandbox-b"])
PEREGRINE_SANDBOX_URL = env.string("PEREGRINE_SANDBOX_URL", "http://127.0.0.1:8100")
PEREGRINE_OPERATOR_EMAIL = env.string("PEREGRINE_OPERATOR_EMAIL", "operator@peregrine.local")
# Telegram control (notifications.telegram, `manage.py telegram_bot`): off without a bot token
PEREGRINE_TELEGRAM_BOT_TOKEN = env.string("PEREGRINE_TELEGRAM_BOT_TOKEN", "")
PEREGRINE_TELEGRAM_BOT_NAME = env.string("PEREGRINE_TELEGRAM_BOT_NAME", "")
PEREGRINE_TELEGRAM_API_URL = env.string("PEREGRINE_TELEGRAM_API_URL", "https://api.telegram.org")

# --- accounts and security (issue 3) --------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"
ACCOUNT_LOGOUT_REDIRECT_URL = "account_login"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = env.choice(
    "PEREGRINE_EMAIL_VERIFICATION", ("mandatory", "optional"), "mandatory"
)
# Social login (config/social.py): off unless a provider's client id is set. The test settings
# turn GitHub on with a test client, so the login flow is tested against a local OAuth server.
SOCIALACCOUNT_PROVIDERS = social_providers(env.string)
if PEREGRINE_ENV == "test" and "github" not in SOCIALACCOUNT_PROVIDERS:
    SOCIALACCOUNT_PROVIDERS["github"] = {
        "APP": {"client_id": "peregrine-test-client", "secret": "peregrine-test-secret"},
        "SCOPE": ["read:user", "user:email"],
    }
INSTALLED_APPS += [f"allauth.socialaccount.providers.{p}" for p in SOCIALACCOUNT_PROVIDERS]
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False  # a provider's word never signs into an account
SOCIALACCOUNT_EMAIL_AUTHENTICATION_AUTO_CONNECT = False
SOCIALACCOUNT_LOGIN_ON_GET = False  # the login starts with a POST (CSRF-protected)
SOCIALACCOUNT_QUERY_EMAIL = True
ACCOUNT_CHANGE_EMAIL = True  # one address per user; a change is verified before it applies
ACCOUNT_EMAIL_NOTIFICATIONS = True  # notice on password change/reset and email change
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = False
ACCOUNT_SESSION_REMEMBER = False  # browser-session cookie; server-side idle expiry still applies
ACCOUNT_LOGOUT_ON_GET = False
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https" if PRODUCTION else "http"
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Peregrine] "
ACCOUNT_ADAPTER = "accounts.adapter.AccountAdapter"
# Login failures: accounts.login_throttle (per account and address, per account, per address
# for accounts not known there), "failures/seconds"; allauth's own login_failed limit is unused.
PEREGRINE_LOGIN_LIMIT_PAIR = env.string("PEREGRINE_LOGIN_LIMIT_PAIR", "5/900")
PEREGRINE_LOGIN_LIMIT_ACCOUNT = env.string("PEREGRINE_LOGIN_LIMIT_ACCOUNT", "20/3600")
PEREGRINE_LOGIN_LIMIT_IP = env.string("PEREGRINE_LOGIN_LIMIT_IP", "30/900")
ACCOUNT_RATE_LIMITS = {
    "login_failed": False,
    "signup": "20/m/ip",
    "reset_password": "20/m/ip,5/m/key",
}
# django-otp: TOTP codes one 30 s step either side; no automatic drift, so +-2 stays rejected.
# Throttling is ours (accounts.services.second_factor_verify): a locked row per account counts
# every failure, also under concurrent requests. django-otp's own device throttle is switched off.
OTP_TOTP_ISSUER = env.string("PEREGRINE_OTP_ISSUER", "Peregrine")
OTP_TOTP_SYNC = False
OTP_TOTP_THROTTLE_FACTOR = 0
OTP_ADMIN_HIDE_SENSITIVE_DATA = True  # operators never see a user's TOTP key or QR code
PEREGRINE_REQUIRE_2FA = env.boolean("PEREGRINE_REQUIRE_2FA", False)
PEREGRINE_SIGNUP_OPEN = env.boolean("PEREGRINE_SIGNUP_OPEN", True)
PEREGRINE_BACKUP_CODE_ITERATIONS = 200_000  # PBKDF2 rounds for hashed backup codes
PEREGRINE_OTP_FAILURES_BEFORE_LOCK = env.integer("PEREGRINE_OTP_FAILURES_BEFORE_LOCK", 5, minimum=1)
PEREGRINE_RECENT_AUTH_SECONDS = env.integer("PEREGRINE_RECENT_AUTH_SECONDS", 600, minimum=30)
# Master keys for exchange credentials (envelope encryption, exchanges/crypto.py): a list, the
# last one is the newest and wraps new secrets; older ones still unwrap until
# `manage.py rotate_master_key` has re-wrapped everything. Given as base64 of 32 random bytes,
# separated by commas or newlines, in PEREGRINE_MASTER_KEYS or a file named by
# PEREGRINE_MASTER_KEYS_FILE. Outside production a fixed, public development key is derived so
# dev and test data stay readable; production refuses to start without a real key.
# the keyed hash that finds one exchange API key added by two users (default: the SECRET_KEY)
PEREGRINE_KEY_FINGERPRINT_SECRET = env.string("PEREGRINE_KEY_FINGERPRINT_SECRET", "")
from exchanges.crypto import development_master_key, parse_master_keys  # noqa: E402

PEREGRINE_MASTER_KEYS = parse_master_keys(env.string("PEREGRINE_MASTER_KEYS", ""))
if not PEREGRINE_MASTER_KEYS:
    if PRODUCTION:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(
            "PEREGRINE_MASTER_KEYS: required in production (or PEREGRINE_MASTER_KEYS_FILE); "
            'generate one with: python -c "import os,base64;'
            'print(base64.b64encode(os.urandom(32)).decode())"'
        )
    PEREGRINE_MASTER_KEYS = [development_master_key()]
from config.logging import register_secret  # noqa: E402

for _master_key in PEREGRINE_MASTER_KEYS:
    register_secret(_master_key)

# --- market data and the sandbox exchange (issue 5) -----------------------------------------
# Collectors run as leased, time-sliced Celery tasks on the "marketdata" queue. Each entry is
# "exchange:SYMBOL|SYMBOL", e.g. "sandbox:BTC/USDT|ETH/USDT,sandbox-b:BTC/USDT". Tests default
# to none; development collects the sandbox venues so the market moves with no internet.
PEREGRINE_COLLECTORS = env.string_list(
    "PEREGRINE_COLLECTORS",
    []
    if PEREGRINE_ENV == "test"
    else ["sandbox:BTC/USDT|ETH/USDT|ETH/BTC", "sandbox-b:BTC/USDT|ETH/USDT|ETH/BTC"],
)
PEREGRINE_COLLECTOR_SLICE_SECONDS = env.integer(
    "PEREGRINE_COLLECTOR_SLICE_SECONDS", 240, minimum=10
)
PEREGRINE_COLLECTOR_POLL_SECONDS = float(env.string("PEREGRINE_COLLECTOR_POLL_SECONDS", "1.0"))
# bars of 1m history a collector fills in (gaps only) when it starts a slice, and a signal bot
# fetches when it starts on a market with less: it warms up at once. 0 turns both off (tests feed
# their own markets)
PEREGRINE_COLLECTOR_HISTORY_BARS = env.integer(
    "PEREGRINE_COLLECTOR_HISTORY_BARS", 0 if PEREGRINE_ENV == "test" else 300, minimum=0
)
# where a backtest fetches the bars its period lacks (with ccxt, before it runs): "all" (any
# exchange ccxt knows and the sandbox venues), "sandbox" (the sandbox venues only: tests have no
# internet) or "none"
PEREGRINE_BACKTEST_FETCH_HISTORY = env.choice(
    "PEREGRINE_BACKTEST_FETCH_HISTORY",
    ("all", "sandbox", "none"),
    "sandbox" if PEREGRINE_ENV == "test" else "all",
)

# --- notifications (issue 6) ----------------------------------------------------------------
# Per-user channels through apprise; deliveries run on the default Celery queue. A user gets at
# most PEREGRINE_NOTIFY_MAX_PER_MINUTE messages per event a minute (the rest are logged as held
# back); the same event and dedupe key within PEREGRINE_NOTIFY_DEDUPE_SECONDS is sent once.
# Transient errors retry after RETRY_BASE, 2x, 4x... seconds, MAX_RETRIES times. Webhook and
# SMTP hosts on private or local networks are refused unless ALLOW_PRIVATE_HOSTS (dev and test).
PEREGRINE_NOTIFY_MAX_PER_MINUTE = env.integer("PEREGRINE_NOTIFY_MAX_PER_MINUTE", 20, minimum=1)
PEREGRINE_NOTIFY_DEDUPE_SECONDS = env.integer("PEREGRINE_NOTIFY_DEDUPE_SECONDS", 3600, minimum=1)
PEREGRINE_NOTIFY_RETRY_BASE_SECONDS = env.integer(
    "PEREGRINE_NOTIFY_RETRY_BASE_SECONDS", 30, minimum=1
)
PEREGRINE_NOTIFY_MAX_RETRIES = env.integer("PEREGRINE_NOTIFY_MAX_RETRIES", 6, minimum=0)
PEREGRINE_NOTIFY_TIMEOUT_SECONDS = env.integer("PEREGRINE_NOTIFY_TIMEOUT_SECONDS", 20, minimum=1)
PEREGRINE_NOTIFY_ALLOW_PRIVATE_HOSTS = env.boolean(
    "PEREGRINE_NOTIFY_ALLOW_PRIVATE_HOSTS", not PRODUCTION
)
PEREGRINE_NOTIFY_LOG_RETENTION_DAYS = env.integer(
    "PEREGRINE_NOTIFY_LOG_RETENTION_DAYS", 30, minimum=1
)
PEREGRINE_NOTIFY_QUEUE = "default"
from celery.schedules import crontab  # noqa: E402

CELERY_BEAT_SCHEDULE["notifications-delivery-log-prune"] = {
    "task": "notifications.tasks.delivery_log_prune_task",
    "schedule": timedelta(hours=6),
    "options": {"expires": 3600},
}
# cross-venue spreads in the collected markets, for channels subscribed to arbitrage
# opportunities (each market and venue pair told at most once per REPEAT window)
PEREGRINE_NOTIFY_ARBITRAGE_REPEAT_SECONDS = env.integer(
    "PEREGRINE_NOTIFY_ARBITRAGE_REPEAT_SECONDS", 900, minimum=10
)
CELERY_BEAT_SCHEDULE["notifications-arbitrage-scan"] = {
    "task": "notifications.tasks.arbitrage_scan_task",
    "schedule": timedelta(seconds=15),
    "options": {"expires": 15},
}
# yesterday's summary (UTC) to everyone subscribed, a few minutes after midnight
CELERY_BEAT_SCHEDULE["notifications-daily-summary"] = {
    "task": "notifications.tasks.daily_summary_task",
    "schedule": crontab(hour=0, minute=5),
    "options": {"expires": 3 * 3600},
}

# --- portfolio (issue 6) --------------------------------------------------------------------
# Every minute each trading bot gets a performance row (the equity curve) and the exchange
# accounts bots use get their balances refreshed; minute rows older than the retention are
# thinned to one an hour.
PEREGRINE_PERFORMANCE_MINUTE_RETENTION_DAYS = env.integer(
    "PEREGRINE_PERFORMANCE_MINUTE_RETENTION_DAYS", 30, minimum=1
)
CELERY_BEAT_SCHEDULE["portfolio-bot-performance-snapshot"] = {
    "task": "portfolio.tasks.bot_performance_snapshot_task",
    "schedule": timedelta(seconds=60),
    "options": {"expires": 55},
}
CELERY_BEAT_SCHEDULE["portfolio-exchange-balances-refresh"] = {
    "task": "portfolio.tasks.exchange_balances_refresh_task",
    "schedule": timedelta(seconds=60),
    "options": {"expires": 55},
}
CELERY_BEAT_SCHEDULE["portfolio-bot-performance-prune"] = {
    "task": "portfolio.tasks.bot_performance_prune_task",
    "schedule": timedelta(hours=6),
    "options": {"expires": 3600},
}

# --- audit trail (issue 12) ---------------------------------------------------------------
# The audit chain's head is signed as an anchor every hour (compliance.models.AuditAnchor);
# `manage.py audit_verify` checks the chain against every anchor.
CELERY_BEAT_SCHEDULE["compliance-audit-anchor"] = {
    "task": "compliance.tasks.audit_anchor_task",
    "schedule": timedelta(hours=1),
    "options": {"expires": 3000, "queue": "default"},
}
# AUDIT_ANCHOR_KEY (or _FILE) signs the anchors (HMAC-SHA256), a key of its own apart from
# DJANGO_SECRET_KEY, 32+ characters; each anchor records its key's id (compliance.audit_chain.
# key_id). AUDIT_ANCHOR_PREVIOUS_KEYS (comma or newline separated) are keys rotated out: they
# still verify the anchors they signed. Outside production a fixed, public development key is
# used (derived from a constant, not from SECRET_KEY); production refuses to start without one.
AUDIT_ANCHOR_KEY = env.string("AUDIT_ANCHOR_KEY", "")
AUDIT_ANCHOR_PREVIOUS_KEYS = [
    k.strip()
    for k in env.string("AUDIT_ANCHOR_PREVIOUS_KEYS", "").replace("\n", ",").split(",")
    if k.strip()
]
if not AUDIT_ANCHOR_KEY and not PRODUCTION:
    from compliance.audit_chain import development_anchor_key  # noqa: E402

    AUDIT_ANCHOR_KEY = development_anchor_key()
if any(len(k) < 32 for k in [AUDIT_ANCHOR_KEY, *AUDIT_ANCHOR_PREVIOUS_KEYS]):
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        "AUDIT_ANCHOR_KEY: required in production (or AUDIT_ANCHOR_KEY_FILE), every key (and each"
        " of AUDIT_ANCHOR_PREVIOUS_KEYS) at least 32 characters; generate one with: "
        'python -c "import secrets;print(secrets.token_urlsafe(32))"'
    )
for _anchor_key in [AUDIT_ANCHOR_KEY, *AUDIT_ANCHOR_PREVIOUS_KEYS]:
    register_secret(_anchor_key)

# --- tax exports in a worker (issue 12) -----------------------------------------------------
# A CSV export whose records (fills and tax transactions it reads) number more than
# TAX_EXPORT_ASYNC_THRESHOLD is written by a worker (queue "default") under TAX_EXPORT_ROOT/
# <user id>/, with its progress on the tax page; smaller ones stream in the request. A written
# file is deleted TAX_EXPORT_RETENTION_HOURS after it was finished (beat, hourly) or with the
# account. Web and workers must see the same TAX_EXPORT_ROOT (one machine, or a shared volume).
TAX_EXPORT_ASYNC_THRESHOLD = env.integer("TAX_EXPORT_ASYNC_THRESHOLD", 20_000, minimum=0)
TAX_EXPORT_RETENTION_HOURS = env.integer("TAX_EXPORT_RETENTION_HOURS", 24, minimum=1)
TAX_EXPORT_ROOT = Path(env.string("TAX_EXPORT_ROOT", str(BASE_DIR / "var" / "tax-exports")))
# the export's kinds are an enum of their own in the schema (another "kind" enum exists)
SPECTACULAR_SETTINGS.setdefault("ENUM_NAME_OVERRIDES", {})["TaxExportKindEnum"] = (
    "compliance.tax_models.TaxExport.Kind"
)
# choice sets used by more than one API component: one name each (drf-spectacular warns, and
# `check --deploy` refuses the warning, when it has to invent one)
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"].update(
    {
        "ExchangeAccountStatusEnum": "exchanges.models.ExchangeAccount.Status",
        "NotificationChannelKindEnum": "notifications.models.NotificationChannel.Kind",
    }
)
CELERY_BEAT_SCHEDULE["compliance-tax-export-prune"] = {
    "task": "compliance.tasks.tax_export_prune_task",
    "schedule": timedelta(hours=1),
    "options": {"expires": 3000, "queue": "default"},
}

# --- fee intelligence (issue 10) ------------------------------------------------------------
# Realized fee rate and slippage per exchange and market from every user's live fills over a
# rolling window, kept and shown only where at least FEE_INTELLIGENCE_MIN_USERS distinct users
# contributed (never fewer than 5: below that an aggregate could point at a person).
FEE_INTELLIGENCE_MIN_USERS = env.integer("FEE_INTELLIGENCE_MIN_USERS", 5, minimum=5)
FEE_INTELLIGENCE_WINDOW_DAYS = env.integer("FEE_INTELLIGENCE_WINDOW_DAYS", 30, minimum=1)
CELERY_BEAT_SCHEDULE["trading-realized-costs-refresh"] = {
    "task": "trading.tasks.realized_costs_refresh_task",
    "schedule": timedelta(minutes=15),
    "options": {"expires": 600, "queue": "default"},
}

# --- arbitrage tracker (issue 10) -----------------------------------------------------------
# A worker prices every cross-venue spread and triangle of the collected markets every
# PEREGRINE_ARBITRAGE_SCAN_SECONDS for these sizes (USDT; the first is the page's default) and
# the sizes users asked for in the last ten minutes; the last hour is kept (marketdata.models).
PEREGRINE_ARBITRAGE_SIZES = env.string_list("PEREGRINE_ARBITRAGE_SIZES", ["1000", "100", "10000"])
if not PEREGRINE_ARBITRAGE_SIZES or not all(
    s.replace(".", "", 1).isdigit() and float(s) > 0 for s in PEREGRINE_ARBITRAGE_SIZES
):
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("PEREGRINE_ARBITRAGE_SIZES: expected positive numbers (1000,100)")
PEREGRINE_ARBITRAGE_SCAN_SECONDS = env.integer("PEREGRINE_ARBITRAGE_SCAN_SECONDS", 5, minimum=1)
CELERY_BEAT_SCHEDULE["marketdata-arbitrage-scan"] = {
    "task": "marketdata.tasks.arbitrage_spread_scan_task",
    "schedule": timedelta(seconds=PEREGRINE_ARBITRAGE_SCAN_SECONDS),
    # on "default": the marketdata queue's processes are held by collector slices
    "options": {"expires": PEREGRINE_ARBITRAGE_SCAN_SECONDS, "queue": "default"},
}
