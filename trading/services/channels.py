"""The Redis names the trading app shares with marketdata's collectors, and the bots' control
channel.

Services and the runtime both use these: services to read marks and to tell a runner its status
changed, the runtime to follow the markets. They live below both so that services never import
the runtime.
"""

from __future__ import annotations

import logging

import redis
from django.conf import settings

logger = logging.getLogger(__name__)

CONTROL_CHANNEL = "trading:bot-control"
MARKET_PATTERN = "market:*"


# The collectors' Redis names (marketdata's fan-out): a channel per market with every event,
# and the latest book and ticker under keys next to it.
def market_channel(exchange: str, symbol: str) -> str:
    return f"market:{exchange}:{symbol}"


def book_key(exchange: str, symbol: str) -> str:
    return f"{market_channel(exchange, symbol)}:book"


def ticker_key(exchange: str, symbol: str) -> str:
    return f"{market_channel(exchange, symbol)}:ticker"


def redis_client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


_publisher: redis.Redis | None = None


def control_publish(bot_id: int) -> None:
    """Tell the bot's runner, wherever it runs, to re-read its status now."""
    global _publisher
    try:
        if _publisher is None:
            _publisher = redis_client()
        _publisher.publish(CONTROL_CHANNEL, str(bot_id))
    except redis.RedisError:  # the runner also re-reads its status with every lease renewal
        logger.warning("control message for bot %s not sent", bot_id, exc_info=True)
