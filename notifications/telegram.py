"""Telegram control: Peregrine's Telegram bot answers a linked user's commands in their chat.

The operator sets PEREGRINE_TELEGRAM_BOT_TOKEN (off when empty) and `manage.py telegram_bot`
long-polls the Bot API (PEREGRINE_TELEGRAM_API_URL, https://api.telegram.org by default) with
plain HTTP: no public URL is needed. Every update goes through `handle_update`, which answers
in words:

- linking: a user makes a one-time code on the Notifications page (valid 10 minutes, read or
  trade scope) and sends `/link CODE` to the bot; `/unlink` ends it. An unlinked chat is told
  how to link and sees nothing else.
- reading (any scope): /status, /bots, /profit, /balance, /daily [days].
- trading (trade scope only): /start, /stop, /pause, /resume, /kill with a bot id. Each is
  confirmed: the bot answers with a code, and only `/confirm CODE` from the same chat within
  60 s does it (once). Live bots are started and resumed from the web app only (it asks for a
  recent second factor), as with API tokens; stop, pause and kill work on any bot.
Every link, unlink and trade command is audited.
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import requests
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.utils import timezone

from notifications.models import TelegramLink

logger = logging.getLogger(__name__)

LINK_TTL_SECONDS = 600
CONFIRM_TTL_SECONDS = 60
TRADE_COMMANDS = ("start", "stop", "pause", "resume", "kill")
READ_COMMANDS = ("status", "bots", "profit", "balance", "daily")
HELP = (
    "Peregrine commands:\n"
    "/status: your bots, their state and PnL\n"
    "/bots: your bots with their ids\n"
    "/profit: PnL over all bots\n"
    "/balance: holdings of your bots and exchange accounts\n"
    "/daily [days]: value change per day (7 days by default)\n"
    "/start, /stop, /pause, /resume, /kill <bot id>: control a bot (trade scope; confirmed)\n"
    "/unlink: stop controlling Peregrine from this chat"
)
UNLINKED = (
    "This chat is not linked to a Peregrine account. On Peregrine's Notifications page choose "
    '"Link a Telegram chat", then send /link CODE here.'
)


# -- the Bot API ---------------------------------------------------------------------------
class TelegramError(Exception):
    pass


class BotApi:
    """The few Bot API methods Peregrine uses, over plain HTTPS."""

    def __init__(self, *, token: str, base_url: str, timeout: float = 10.0) -> None:
        self.root = f"{base_url.rstrip('/')}/bot{token}"
        self.timeout = timeout
        self.session = requests.Session()

    def call(self, method: str, payload: dict, *, timeout: float | None = None):
        try:
            response = self.session.post(
                f"{self.root}/{method}", json=payload, timeout=timeout or self.timeout
            )
            body = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise TelegramError(f"{method}: {type(exc).__name__}") from None
        if not body.get("ok"):
            raise TelegramError(f"{method}: {body.get('description', 'refused')}")
        return body.get("result")

    def get_updates(self, *, offset: int | None, wait: int) -> list[dict]:
        payload = {"timeout": wait, "allowed_updates": ["message"]}
        if offset is not None:
            payload["offset"] = offset
        return self.call("getUpdates", payload, timeout=wait + self.timeout) or []

    def send_message(self, chat_id: int, text: str) -> None:
        self.call("sendMessage", {"chat_id": chat_id, "text": text[:4096]})

    def close(self) -> None:
        self.session.close()


def api_from_settings() -> BotApi | None:
    token = settings.PEREGRINE_TELEGRAM_BOT_TOKEN
    if not token:
        return None
    return BotApi(token=token, base_url=settings.PEREGRINE_TELEGRAM_API_URL)


def run(api: BotApi, *, stop=None, wait: int = 25) -> None:
    """Answer updates until `stop` (a threading.Event) is set; Bot API errors back off."""
    from django.db import close_old_connections

    offset, delay = None, 1.0
    while stop is None or not stop.is_set():
        try:
            offset = poll_once(api, offset=offset, wait=wait)
            delay = 1.0
        except TelegramError as exc:
            logger.warning("telegram: %s; retrying in %.0f s", exc, delay)
            (stop.wait if stop is not None else time.sleep)(delay)
            delay = min(delay * 2, 60.0)
        finally:
            close_old_connections()


# -- linking (the web side) ----------------------------------------------------------------
def link_code_create(*, user, scope: str) -> str:
    """A one-time code the user sends as `/link CODE` to the bot (valid 10 minutes)."""
    if scope not in TelegramLink.Scope.values:
        raise ValidationError({"scope": "Choose read or trade."})
    code = secrets.token_hex(4).upper()
    cache.set(f"telegram:link:{code}", {"user_id": user.pk, "scope": scope}, LINK_TTL_SECONDS)
    return code


def link_delete(*, user, link_id: int, ip: str | None = None) -> None:
    from compliance.services import audit_record

    link = TelegramLink.objects.filter(user=user, pk=link_id).first()
    if link is None:
        raise Http404("No such Telegram link.")
    with transaction.atomic():
        link.delete()
        audit_record(actor=user, action="telegram.unlink", ip=ip, after={"chat_id": link.chat_id})


# -- commands (the chat side) --------------------------------------------------------------
@dataclass(frozen=True)
class Incoming:
    chat_id: int
    username: str
    command: str
    args: list[str]


def parse(update: dict) -> Incoming | None:
    """The command in a Bot API update (None for anything else)."""
    message = update.get("message") or {}
    text = message.get("text")
    chat = message.get("chat") or {}
    if not isinstance(text, str) or not isinstance(chat.get("id"), int) or not text.startswith("/"):
        return None
    words = text.strip().split()
    command = words[0][1:].split("@", 1)[0].lower()  # /status@PeregrineBot in groups
    sender = message.get("from") or {}
    return Incoming(chat["id"], str(sender.get("username") or "")[:64], command, words[1:])


def handle_update(update: dict) -> str | None:
    """The answer to one update, in words (None: nothing to answer)."""
    incoming = parse(update)
    if incoming is None:
        return None
    if incoming.command == "link":
        return _link(incoming)
    link = TelegramLink.objects.select_related("user").filter(chat_id=incoming.chat_id).first()
    if link is None or not link.user.is_active:
        return UNLINKED
    TelegramLink.objects.filter(pk=link.pk).update(last_command_at=timezone.now())
    command, args = incoming.command, incoming.args
    if (command == "start" and not args) or command == "help":
        return HELP
    if command == "unlink":
        return _unlink(link)
    if command in READ_COMMANDS:
        return READERS[command](link.user, args)
    if command in TRADE_COMMANDS:
        return _ask_confirmation(link, command, args)
    if command == "confirm":
        return _confirm(link, args)
    return f"Unknown command /{command}.\n\n{HELP}"


def _link(incoming: Incoming) -> str:
    from django.contrib.auth import get_user_model

    from compliance.services import audit_record

    if len(incoming.args) != 1:
        return "Send /link CODE with the code from Peregrine's Notifications page."
    key = f"telegram:link:{incoming.args[0].upper()[:16]}"
    pending = cache.get(key)
    if pending is None:
        return "This code is unknown or expired: make a new one on the Notifications page."
    cache.delete(key)  # one use
    user = get_user_model().objects.filter(pk=pending["user_id"], is_active=True).first()
    if user is None:
        return "This code is unknown or expired: make a new one on the Notifications page."
    with transaction.atomic():
        TelegramLink.objects.filter(chat_id=incoming.chat_id).delete()
        TelegramLink.objects.create(
            user=user, chat_id=incoming.chat_id, username=incoming.username, scope=pending["scope"]
        )
        audit_record(
            actor=user,
            action="telegram.link",
            after={"chat_id": incoming.chat_id, "scope": pending["scope"]},
        )
    scope = "read and trade" if pending["scope"] == "trade" else "read only"
    return f"Linked to {user.email} ({scope}).\n\n{HELP}"


def _unlink(link: TelegramLink) -> str:
    from compliance.services import audit_record

    with transaction.atomic():
        link.delete()
        audit_record(actor=link.user, action="telegram.unlink", after={"chat_id": link.chat_id})
    return "This chat is no longer linked to Peregrine."


def _money(value: Decimal | None, asset: str = "") -> str:
    if value is None:
        return "n/a"
    text = f"{value:+,.2f}" if value else "0.00"
    return f"{text} {asset}".strip()


def _status(user, args) -> str:
    from portfolio.selectors import dashboard_get

    dashboard = dashboard_get(user=user)
    if not dashboard.bots:
        return "You have no bots yet."
    lines = []
    for line in dashboard.bots:
        bot = line.bot
        asset = line.latest.valuation_asset if line.latest else ""
        pnl = _money(line.net_pnl, asset) if line.latest else "no snapshot yet"
        today = f", today {_money(line.day_change, asset)}" if line.day_change is not None else ""
        mode = "live" if bot.is_live else "paper"
        lines.append(f"#{bot.pk} {bot.name} ({mode}): {bot.get_status_display()}, PnL {pnl}{today}")
    return "\n".join(lines)


def _bots(user, args) -> str:
    from trading.selectors import bot_list

    bots = list(bot_list(user=user))
    if not bots:
        return "You have no bots yet."
    return "\n".join(
        f"#{b.pk} {b.name}: {b.strategy} on {', '.join(b.symbols)}, "
        f"{'live' if b.is_live else 'paper'}, {b.get_status_display().lower()}"
        for b in bots
    )


def _profit(user, args) -> str:
    from portfolio.selectors import portfolio_summary

    summary = portfolio_summary(user=user)
    if not summary.totals:
        return "No results yet: you have no bots."
    lines = []
    for asset, t in summary.totals.items():
        lines.append(
            f"In {asset}: value {t['value']:,.2f}, realized {_money(t['realized'])}, "
            f"unrealized {_money(t['unrealized'])}, fees {t['fees']:,.2f}, "
            f"net {_money(t['net'])}"
        )
    return "\n".join(lines)


def _balance(user, args) -> str:
    from portfolio.selectors import dashboard_get

    dashboard = dashboard_get(user=user)
    lines = []
    for asset, exposure in dashboard.exposure.items():
        lines.append(f"Bots' holdings (valued in {asset}):")
        for e in exposure:
            value = f" = {e.value:,.2f} {asset}" if e.value is not None else " (no price)"
            lines.append(f"  {e.asset} {e.amount.normalize():f}{value}")
    if dashboard.account_balances:
        lines.append("Exchange accounts (last fetched):")
        for asset, amount in dashboard.account_balances.items():
            lines.append(f"  {asset} {amount.normalize():f}")
    return "\n".join(lines) or "Nothing held yet."


def _daily(user, args) -> str:
    from portfolio.selectors import daily_lines

    try:
        days = int(args[0]) if args else 7
    except ValueError:
        return "Send /daily or /daily N with N a number of days (1 to 30)."
    if not 1 <= days <= 30:
        return "Send /daily or /daily N with N a number of days (1 to 30)."
    today = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    out = []
    for back in range(days):
        start = today - timedelta(days=back)
        by_asset: dict[str, Decimal] = {}
        trades = 0
        for line in daily_lines(user=user, start=start, end=start + timedelta(days=1)):
            by_asset[line.valuation_asset] = by_asset.get(line.valuation_asset, 0) + line.change
            trades += line.trades
        change = ", ".join(f"{_money(v, a)}" for a, v in sorted(by_asset.items())) or "no data"
        out.append(f"{start:%Y-%m-%d}: {change}, {trades} trades")
    return "\n".join(out)


READERS = {
    "status": _status,
    "bots": _bots,
    "profit": _profit,
    "balance": _balance,
    "daily": _daily,
}


def _ask_confirmation(link: TelegramLink, command: str, args: list[str]) -> str:
    from trading.selectors import bot_get_for_user

    if link.scope != TelegramLink.Scope.TRADE:
        return "This chat is linked read only. Link it again with trade scope to control bots."
    if len(args) != 1:
        return f"Send /{command} <bot id> (see /bots)."
    try:
        bot = bot_get_for_user(user=link.user, id=args[0])
    except Http404:
        return f"You have no bot #{args[0][:12]} (see /bots)."
    code = f"{secrets.randbelow(10**6):06d}"
    pending = {"code": code, "command": command, "bot_id": bot.pk}
    cache.set(f"telegram:confirm:{link.chat_id}", pending, CONFIRM_TTL_SECONDS)
    return (
        f"{command.capitalize()} bot #{bot.pk} {bot.name}? Send /confirm {code} within "
        f"{CONFIRM_TTL_SECONDS} s to do it."
    )


def _confirm(link: TelegramLink, args: list[str]) -> str:
    from compliance.services import audit_record
    from trading.selectors import bot_get_for_user
    from trading.services import bots as bot_services

    key = f"telegram:confirm:{link.chat_id}"
    pending = cache.get(key)
    if link.scope != TelegramLink.Scope.TRADE:
        return "This chat is linked read only."
    if pending is None or len(args) != 1 or not secrets.compare_digest(args[0], pending["code"]):
        return "Nothing to confirm with that code (codes last 60 s and work once)."
    cache.delete(key)
    command = pending["command"]
    try:
        bot = bot_get_for_user(user=link.user, id=pending["bot_id"])
    except Http404:
        return "That bot no longer exists."
    user = link.user
    reason = "from Telegram"
    try:
        if command == "start":
            bot_services.bot_start(bot=bot, actor=user)
        elif command == "resume":
            bot_services.bot_resume(bot=bot, actor=user)
        elif command == "pause":
            bot_services.bot_pause(bot=bot, actor=user, reason=f"Paused by the owner {reason}.")
        elif command == "stop":
            bot_services.bot_stop(bot=bot, actor=user, reason=f"Stopped by the owner {reason}.")
        else:
            bot_services.bot_kill(bot=bot, actor=user, reason=f"killed by the owner {reason}")
    except ValidationError as exc:
        return f"Not done: {' '.join(exc.messages)}"
    audit_record(
        actor=user, action=f"telegram.{command}", target=bot, after={"chat_id": link.chat_id}
    )
    bot.refresh_from_db()
    return f"Done: bot #{bot.pk} {bot.name} is {bot.get_status_display().lower()}."


# -- the loop ------------------------------------------------------------------------------
def poll_once(api: BotApi, *, offset: int | None, wait: int = 25) -> int | None:
    """Answer every update the Bot API has; returns the next offset."""
    for update in api.get_updates(offset=offset, wait=wait):
        offset = int(update["update_id"]) + 1
        try:
            answer = handle_update(update)
        except Exception:  # one bad update must not stop the bot for everyone
            logger.exception("telegram update %s failed", update.get("update_id"))
            answer = "Sorry, that failed on Peregrine's side; try again in a minute."
        chat = ((update.get("message") or {}).get("chat") or {}).get("id")
        if answer and isinstance(chat, int):
            try:
                api.send_message(chat, answer)
            except TelegramError as exc:
                logger.warning("telegram answer to %s not sent: %s", chat, exc)
    return offset
