"""Strict environment reading: a missing or malformed variable stops start-up and names itself.

Every variable may also be given as <NAME>_FILE, a path whose content is the value (for secrets
mounted as files).
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote

import environ
from django.core.exceptions import ImproperlyConfigured

_REQUIRED = object()
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _raw(name: str, default):
    file_path = os.environ.get(f"{name}_FILE")
    if file_path:
        try:
            return Path(file_path).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE: cannot read {file_path!r}: {exc}") from exc
    value = os.environ.get(name)
    if value is None or value == "":
        if default is _REQUIRED:
            raise ImproperlyConfigured(f"{name}: required environment variable is not set")
        return default
    return value


def string(name: str, default=_REQUIRED) -> str:
    return _raw(name, default)


def boolean(name: str, default=_REQUIRED) -> bool:
    value = _raw(name, default)
    if isinstance(value, bool):
        return value
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}: expected true/false, got {value!r}")


def integer(name: str, default=_REQUIRED, *, minimum: int | None = None) -> int:
    value = _raw(name, default)
    try:
        number = int(value)
    except (TypeError, ValueError) as exc:
        raise ImproperlyConfigured(f"{name}: expected an integer, got {value!r}") from exc
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}: must be at least {minimum}, got {number}")
    return number


def string_list(name: str, default=_REQUIRED) -> list[str]:
    value = _raw(name, default)
    if isinstance(value, list):
        return value
    return [item.strip() for item in value.split(",") if item.strip()]


def choice(name: str, choices: tuple[str, ...], default=_REQUIRED) -> str:
    value = _raw(name, default)
    if value not in choices:
        raise ImproperlyConfigured(f"{name}: expected one of {', '.join(choices)}, got {value!r}")
    return value


def database(name: str = "DATABASE_URL") -> dict:
    value = _raw(name, _REQUIRED)
    try:
        config = environ.Env.db_url_config(value)
    except Exception as exc:  # django-environ raises several types for bad URLs
        raise ImproperlyConfigured(f"{name}: not a valid database URL ({exc})") from exc
    # a Unix socket directory is given percent-encoded in the host part: postgres://u@%2Ftmp/db
    config["HOST"] = unquote(config.get("HOST") or "")
    if "postgres" not in config.get("ENGINE", ""):
        raise ImproperlyConfigured(f"{name}: Peregrine needs PostgreSQL, got {value.split(':')[0]}")
    return config


def redis_url(name: str = "REDIS_URL") -> str:
    value = _raw(name, _REQUIRED)
    if not value.startswith(("redis://", "rediss://")):
        raise ImproperlyConfigured(f"{name}: expected redis:// or rediss:// URL, got {value!r}")
    return value
