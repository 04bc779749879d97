"""Signal webhooks: a bot's secret URL that takes TradingView-style alerts.

The rules, in the order a request meets them:
- The URL's token is the credential (TradingView cannot sign a request); only its SHA-256 is
  stored. An unknown token is 404, like a page that does not exist.
- At most PEREGRINE_WEBHOOK_RATE_PER_MINUTE alerts a minute per webhook (429 + Retry-After).
- The body is one JSON object of at most MAX_BODY_BYTES: `action` (buy, sell or close),
  `symbol` (the bot's market; `BTCUSDT`, `BTC/USDT`, `BTC-USDT` and `BINANCE:BTCUSDT` all name
  BTC/USDT), an optional `size` (base units, a positive number), `time` (ISO 8601, e.g.
  TradingView's {{timenow}}, or epoch seconds/milliseconds) and an optional `id`. Anything
  else is refused with 400 and the field's name.
- Replays are refused: the alert's time must be within PEREGRINE_WEBHOOK_MAX_SKEW_SECONDS of
  the server's clock, and the same alert (same action, symbol, size, time and id) is accepted
  once (409 the second time).
- The bot must run the webhook strategy and be running (409 otherwise, nothing stored).
- An accepted alert is stored, audited (`bot.webhook_signal`, with the caller's address) and
  the bot's runner is told at once; the runner hands it to the strategy within
  PEREGRINE_WEBHOOK_MAX_AGE_SECONDS or marks it expired. An alert is acted on at most once:
  it is marked taken before the bot acts on it.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

import redis
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from trading.models import Bot, SignalWebhook, WebhookSignal
from trading.services.channels import control_publish, redis_client

STRATEGY = "webhook_signal"
ACTIONS = ("buy", "sell", "close")
FIELDS = {"action", "symbol", "size", "time", "id"}
MAX_BODY_BYTES = 4096
MAX_QTY = Decimal("1e15")


@dataclass
class WebhookRefused(Exception):
    """An alert refused: the HTTP status, the reason in words, and when to retry (429)."""

    status: int
    message: str
    retry_after: int | None = None

    def __str__(self) -> str:
        return self.message


def _setting(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# -- the owner's side ----------------------------------------------------------------------
def webhook_create(*, user, bot: Bot, ip: str | None = None) -> str:
    """Make (or replace) the bot's webhook; returns the new token, which is not stored."""
    from compliance.services import audit_record

    if bot.strategy != STRATEGY:
        raise ValidationError(
            {"strategy": "Only a bot running the webhook signal strategy takes alerts."}
        )
    token = secrets.token_urlsafe(32)
    with transaction.atomic():
        replaced = SignalWebhook.objects.filter(bot=bot).delete()[0] > 0
        webhook = SignalWebhook.objects.create(
            bot=bot, token_hash=token_hash(token), hint=token[:6]
        )
        audit_record(
            actor=user,
            action="bot.webhook_replace" if replaced else "bot.webhook_create",
            target=bot,
            ip=ip,
            after={"hint": webhook.hint},
        )
    return token


def webhook_delete(*, user, bot: Bot, ip: str | None = None) -> bool:
    from compliance.services import audit_record

    with transaction.atomic():
        deleted = SignalWebhook.objects.filter(bot=bot).delete()[0] > 0
        if deleted:
            audit_record(actor=user, action="bot.webhook_delete", target=bot, ip=ip)
    return deleted


# -- the alert's side ----------------------------------------------------------------------
def _symbol_key(symbol: str) -> str:
    return re.sub(r"[^A-Z0-9]", "", symbol.split(":")[-1].upper())


def _alert_time(value) -> datetime:
    if isinstance(value, bool) or value is None:
        raise WebhookRefused(400, "time: required (ISO 8601, or epoch seconds or milliseconds)")
    if isinstance(value, (int, float)):
        if not math.isfinite(value) or value <= 0:
            raise WebhookRefused(400, "time: must be a positive epoch time")
        seconds = value / 1000 if value > 1e11 else value
        try:
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise WebhookRefused(400, "time: out of range") from None
    if not isinstance(value, str) or len(value) > 40:
        raise WebhookRefused(400, "time: must be an ISO 8601 string or an epoch number")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise WebhookRefused(400, f"time: {value!r} is not an ISO 8601 time") from None
    if parsed.tzinfo is None:
        raise WebhookRefused(400, "time: needs a time zone (TradingView's {{timenow}} has one)")
    return parsed


def _size(value) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise WebhookRefused(400, "size: must be a number in base units")
    try:
        qty = Decimal(str(value).strip())
    except InvalidOperation:
        raise WebhookRefused(400, f"size: {value!r} is not a number") from None
    if not qty.is_finite() or qty <= 0 or qty > MAX_QTY:
        raise WebhookRefused(400, "size: must be a positive number of base units")
    return qty.normalize()


def parse_alert(body: bytes) -> dict:
    """The alert's fields, checked; WebhookRefused(400) naming the field otherwise."""
    if len(body) > MAX_BODY_BYTES:
        raise WebhookRefused(413, f"the alert is larger than {MAX_BODY_BYTES} bytes")
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise WebhookRefused(400, "the alert must be a JSON object") from None
    if not isinstance(data, dict):
        raise WebhookRefused(400, "the alert must be a JSON object")
    unknown = sorted(set(data) - FIELDS)
    if unknown:
        raise WebhookRefused(
            400, f"{unknown[0]}: unknown field (fields: {', '.join(sorted(FIELDS))})"
        )
    action = data.get("action")
    if not isinstance(action, str) or action.strip().lower() not in ACTIONS:
        raise WebhookRefused(400, f"action: must be one of {', '.join(ACTIONS)}")
    symbol = data.get("symbol")
    if not isinstance(symbol, str) or not symbol.strip() or len(symbol) > 40:
        raise WebhookRefused(400, "symbol: required, the bot's market (e.g. BTCUSDT)")
    alert_id = data.get("id", "")
    if (
        not isinstance(alert_id, (str, int))
        or isinstance(alert_id, bool)
        or len(str(alert_id)) > 64
    ):
        raise WebhookRefused(400, "id: must be a short string")
    return {
        "action": action.strip().lower(),
        "symbol": symbol.strip(),
        "qty": _size(data.get("size")),
        "time": _alert_time(data.get("time")),
        "id": str(alert_id),
    }


def _rate_check(webhook: SignalWebhook) -> None:
    limit = _setting("PEREGRINE_WEBHOOK_RATE_PER_MINUTE", 30)
    now = time.time()
    # keyed by the token's hash, not the row's id: a replaced URL starts afresh, and ids are
    # reused by a new database while Redis keeps its counts
    key = f"trading:webhook-rate:{webhook.token_hash[:32]}:{int(now // 60)}"
    try:
        client = redis_client()
        try:
            pipe = client.pipeline()
            pipe.incr(key)
            pipe.expire(key, 120)
            count = pipe.execute()[0]
        finally:
            client.close()
    except redis.RedisError:
        raise WebhookRefused(503, "alerts cannot be taken right now; retry", 5) from None
    if count > limit:
        raise WebhookRefused(
            429, f"more than {limit} alerts a minute for this bot", int(60 - now % 60) + 1
        )


def _digest(alert: dict, symbol: str) -> str:
    fields = [
        alert["action"],
        symbol,
        str(alert["qty"] or ""),
        alert["time"].isoformat(),
        alert["id"],
    ]
    return hashlib.sha256("\x1f".join(fields).encode()).hexdigest()


def webhook_receive(*, token: str, body: bytes, ip: str | None = None) -> WebhookSignal:
    """Take one alert for the webhook the token names (WebhookRefused says why not)."""
    from compliance.services import audit_record

    webhook = (
        SignalWebhook.objects.select_related("bot").filter(token_hash=token_hash(token)).first()
        if 20 <= len(token) <= 100
        else None
    )
    if webhook is None:
        raise WebhookRefused(404, "no such webhook")
    _rate_check(webhook)
    alert = parse_alert(body)
    bot = webhook.bot
    if _symbol_key(alert["symbol"]) != _symbol_key(bot.symbol):
        raise WebhookRefused(400, f"symbol: this bot trades {bot.symbol}, not {alert['symbol']}")
    skew = _setting("PEREGRINE_WEBHOOK_MAX_SKEW_SECONDS", 300)
    now = timezone.now()
    if abs((now - alert["time"]).total_seconds()) > skew:
        raise WebhookRefused(
            409, f"time: more than {skew} s from the server's clock (a replayed or delayed alert)"
        )
    if bot.strategy != STRATEGY:
        raise WebhookRefused(409, "this bot does not trade on alerts")
    if bot.status != Bot.Status.RUNNING:
        raise WebhookRefused(409, f"the bot is not running ({bot.get_status_display().lower()})")
    try:
        with transaction.atomic():
            signal = WebhookSignal.objects.create(
                webhook=webhook,
                bot=bot,
                sent_at=alert["time"],
                action=alert["action"],
                qty=alert["qty"],
                digest=_digest(alert, bot.symbol),
            )
            SignalWebhook.objects.filter(pk=webhook.pk).update(last_signal_at=now)
            audit_record(
                action="bot.webhook_signal",
                target=bot,
                ip=ip,
                after={
                    "action": signal.action,
                    "size": str(signal.qty) if signal.qty is not None else None,
                    "time": alert["time"].isoformat(),
                    "id": alert["id"],
                },
            )
    except IntegrityError:
        raise WebhookRefused(409, "this alert was already received (a replay)") from None
    transaction.on_commit(lambda: control_publish(bot.pk))
    return signal


# -- the runtime's side --------------------------------------------------------------------
def webhook_signals_take(*, bot_id: int) -> list[WebhookSignal]:
    """The bot's pending alerts, oldest first, marked taken (alerts older than the maximum age
    are marked expired instead: a bot does not trade on a stale alert)."""
    max_age = timedelta(seconds=_setting("PEREGRINE_WEBHOOK_MAX_AGE_SECONDS", 60))
    now = timezone.now()
    with transaction.atomic():
        pending = list(
            WebhookSignal.objects.select_for_update(skip_locked=True)
            .filter(bot_id=bot_id, status=WebhookSignal.Status.PENDING)
            .order_by("received_at", "id")
        )
        fresh = [s for s in pending if now - s.received_at <= max_age]
        stale = [s.pk for s in pending if now - s.received_at > max_age]
        if stale:
            WebhookSignal.objects.filter(pk__in=stale).update(
                status=WebhookSignal.Status.EXPIRED,
                taken_at=now,
                outcome=f"expired: not taken within {max_age.seconds} s",
            )
        WebhookSignal.objects.filter(pk__in=[s.pk for s in fresh]).update(
            status=WebhookSignal.Status.DONE, taken_at=now
        )
    return fresh


def webhook_signal_outcome(*, signal_id: int, outcome: str) -> None:
    WebhookSignal.objects.filter(pk=signal_id).update(outcome=outcome[:200])
