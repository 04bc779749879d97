"""Runtime knobs of the trading app, from the environment (strictly, like config.settings).

A Django setting of the same name wins, so tests can change one with the `settings` fixture.
"""

from __future__ import annotations

from django.conf import settings

from config import env


def _seconds(name: str, default: str, minimum: float) -> float:
    raw = env.string(name, default)
    try:
        value = float(raw)
    except ValueError:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(f"{name}: expected a number of seconds, got {raw!r}") from None
    if value < minimum:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(f"{name}: must be at least {minimum}")
    return value


_ENV = {
    # how long a runner's lease lasts without renewal (it renews every third of it)
    "PEREGRINE_BOT_LEASE_SECONDS": _seconds("PEREGRINE_BOT_LEASE_SECONDS", "15", 1),
    # how long one slice of a bot's loop runs before it checkpoints and re-enqueues itself
    "PEREGRINE_BOT_SLICE_SECONDS": _seconds("PEREGRINE_BOT_SLICE_SECONDS", "60", 1),
    # how often a live bot polls its exchange for order states, trades and balances
    "PEREGRINE_BOT_POLL_SECONDS": _seconds("PEREGRINE_BOT_POLL_SECONDS", "1", 0.05),
    # how often a bot writes its strategy checkpoint while running
    "PEREGRINE_BOT_CHECKPOINT_SECONDS": _seconds("PEREGRINE_BOT_CHECKPOINT_SECONDS", "10", 0.1),
    # database threads per worker process shared by all its bots (0: each bot's own thread)
    "PEREGRINE_BOT_DB_THREADS": env.integer("PEREGRINE_BOT_DB_THREADS", 8, minimum=0),
    # automatic restarts allowed per bot and hour before it goes to error
    "PEREGRINE_BOT_MAX_RESTARTS_PER_HOUR": env.integer(
        "PEREGRINE_BOT_MAX_RESTARTS_PER_HOUR", 3, minimum=1
    ),
}


def get(name: str):
    """The value of one knob: the Django setting if set, else the environment's."""
    return getattr(settings, name, _ENV[name])
