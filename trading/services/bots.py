"""Bots: create, update, start, pause, resume, stop and kill, with a state machine.

    draft ──start──> starting ──(runner reconciled)──> running
    running/starting ──pause──> paused ──resume──> starting
    any active ──stop──> stopping ──(runner cancelled everything)──> stopped
    any ──kill──> stopped at once (lease revoked, every order cancelled by the caller)
    runner failure, or too many automatic restarts ──> error;   stopped/error ──start──> ...

Every change locks the bot row, records the reason, writes a BotEvent, and after commit tells
the runner (Redis control message), the owner's pages (Channels) and, for start/stop/error,
the owner's notification channels. Concurrent calls serialize on the row lock, and the lease
lets at most one runner act, so start/stop races leave exactly one runner or none.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from celery import current_app
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from trading import conf
from trading.events import bot_event_publish, bot_owner_notify
from trading.models import Bot, BotEvent, BotVenue, KillSwitch, Order
from trading.services.channels import control_publish
from trading.services.leases import (
    LeaseLost,
    lease_check,
    lease_hand_over,
    lease_is_live,
    lease_release,
    lease_revoke,
)
from trading.services.limits import positive_decimal as _decimal
from trading.services.limits import risk_limits_build as risk_limits_build
from trading.services.limits import risk_limits_validate
from trading.services.manual import manual_orders_cancel_all
from trading.services.reconcile import paper_orders_cancel_all

S = Bot.Status
STARTABLE = frozenset({S.DRAFT, S.STOPPED, S.ERROR})
PAUSABLE = frozenset({S.STARTING, S.RUNNING})
STOPPABLE = frozenset({S.DRAFT, S.STARTING, S.RUNNING, S.PAUSED, S.ERROR, S.STOPPING})
EDITABLE = frozenset({S.DRAFT, S.STOPPED, S.ERROR})
SUPERVISED = (S.STARTING, S.RUNNING, S.STOPPING)
_SYMBOL = re.compile(r"^[A-Z0-9]{1,16}/[A-Z0-9]{1,16}$")
_NOTIFY = {S.RUNNING: "bot_started", S.STOPPED: "bot_stopped", S.ERROR: "bot_error"}
# tasks are sent by name: services sit below the tasks and the runtime and never import them
SLICE_TASK = "trading.tasks.bot_run_slice_task"
CANCEL_TASK = "trading.tasks.bot_orders_cancel_task"


@dataclass(frozen=True)
class LiveConsent:
    """What the caller proved before making a bot trade real money."""

    second_factor_verified: bool = False
    recently_authenticated: bool = False
    confirmed: bool = False


def live_consent_from_request(request, *, confirmed: bool) -> LiveConsent:
    """Read the 2FA state and recent re-authentication of a browser session."""
    from accounts.security import has_recent_auth

    user = request.user
    is_verified = getattr(user, "is_verified", None)
    session = getattr(request, "session", None)
    return LiveConsent(
        second_factor_verified=bool(is_verified()) if callable(is_verified) else False,
        recently_authenticated=session is not None and has_recent_auth(request),
        confirmed=bool(confirmed),
    )


# -- validation ------------------------------------------------------------------------------
def _symbols_validate(symbols, errors: dict) -> list[str]:
    if isinstance(symbols, str):
        symbols = [symbols]
    clean = [str(s).strip().upper() for s in symbols or [] if str(s).strip()]
    if not clean:
        errors["symbols"] = "Name at least one market, e.g. BTC/USDT."
    bad = [s for s in clean if not _SYMBOL.match(s)]
    if bad:
        errors["symbols"] = f"Use BASE/QUOTE market names, e.g. BTC/USDT (not {bad[0]!r})."
    return list(dict.fromkeys(clean))


def _venues_validate(user, venues, mode: str, errors: dict) -> list[tuple[str, object]]:
    """[(exchange id, ExchangeAccount | None)] after checking each venue belongs to `user`."""
    from exchanges import registry
    from exchanges.models import ExchangeAccount

    clean: list[tuple[str, object]] = []
    for index, venue in enumerate(venues or []):
        venue = {"exchange": venue} if isinstance(venue, str) else dict(venue)
        account = venue.get("exchange_account")
        account_id = venue.get("exchange_account_id") or (account.pk if account else None)
        exchange = (venue.get("exchange") or "").strip()
        if account_id:
            account = ExchangeAccount.objects.filter(user_id=user.pk, pk=account_id).first()
            if account is None:
                errors[f"venues.{index}"] = "No such exchange account."
                continue
            exchange = exchange or account.exchange
            if account.exchange != exchange:
                errors[f"venues.{index}"] = f"That account is on {account.exchange}."
                continue
        if not registry.is_supported(exchange):
            errors[f"venues.{index}"] = f"Unknown exchange {exchange!r}."
            continue
        if mode == Bot.Mode.LIVE and account is None:
            errors[f"venues.{index}"] = "A live bot trades through an exchange account."
            continue
        clean.append((exchange, account))
    if not clean and not any(k.startswith("venues") for k in errors):
        errors["venues"] = "Choose the exchange the bot trades on."
    if len({e for e, _ in clean}) != len(clean):
        errors["venues"] = "Each exchange once."
    return clean


def _strategy_venues_check(strategy: str, params: dict, exchanges: list[str], errors: dict):
    from strategies.selectors import VENUE_FIELDS

    for name in VENUE_FIELDS.get(strategy, ()):
        if params.get(name) not in exchanges:
            errors[f"params.{name}"] = (
                f"Must be one of the bot's exchanges ({', '.join(exchanges)})."
            )


def _paper_balances_validate(balances, exchanges: list[str], symbols, budget, errors) -> dict:
    if not balances:
        quotes = {s.split("/")[1] for s in symbols if "/" in s}  # bad names: reported above
        quote = sorted(quotes)[0] if quotes else "USDT"
        return {exchange: {quote: str(budget)} for exchange in exchanges}
    clean = {}
    if not isinstance(balances, Mapping):
        errors["paper_balances"] = "Expected {exchange: {asset: amount}}."
        return clean
    for exchange, assets in balances.items():
        if exchange not in exchanges:
            errors["paper_balances"] = f"{exchange!r} is not one of the bot's exchanges."
            continue
        if not isinstance(assets, Mapping):
            errors["paper_balances"] = f"{exchange!r}: expected {{asset: amount}}, got {assets!r}."
            continue
        clean[exchange] = {}
        for asset, amount in assets.items():
            number = _decimal(amount, "paper_balances", errors)
            if number is not None and number > 0:
                clean[exchange][str(asset).upper()] = str(number)
    return clean


def _start_inventory_add(raw, mode: str, symbols, balances: dict, errors) -> None:
    """Add a paper bot's start inventory (base of its first market) to its starting funds."""
    amount = _decimal(raw, "start_inventory", errors)
    if not amount:
        return
    if mode == Bot.Mode.LIVE:
        errors["start_inventory"] = (
            "Only paper bots take a start inventory: a live bot trades what the account holds."
        )
        return
    base = symbols[0].split("/")[0] if symbols and "/" in symbols[0] else ""
    if not base:
        return  # the market's own error says what is wrong
    for assets in balances.values():
        assets[base] = str(Decimal(assets.get(base, "0")) + amount)


def _live_check(user, accounts: list, consent: LiveConsent | None) -> None:
    from accounts.services.two_factor import two_factor_enabled
    from accounts.services.verification import live_trading_verification_error

    consent = consent or LiveConsent()
    errors: dict[str, str] = {}
    if not two_factor_enabled(user) or not consent.second_factor_verified:
        errors["mode"] = (
            "Live trading needs two-factor authentication: set up an authenticator app and "
            "sign in with it."
        )
    elif not consent.recently_authenticated:
        errors["mode"] = "Confirm your identity (password or code) before trading live."
    if not consent.confirmed:
        errors["confirm_live"] = "Confirm that this bot will place real orders with real money."
    for account in accounts:
        if account is None or not account.is_live:
            errors["venues"] = "Live bots trade only on exchange accounts in live mode."
        elif not account.is_active:
            errors["venues"] = f"The exchange account '{account.label}' is disabled."
    if unverified := live_trading_verification_error(user):  # operator's KYC policy
        errors["mode"] = unverified
    if errors:
        raise ValidationError(errors)


def _kill_switch_check(user) -> None:
    switch = (
        KillSwitch.objects.filter(released_at__isnull=True)
        .filter(Q(user__isnull=True) | Q(user_id=user.pk))
        .first()
    )
    if switch is not None:
        scope = "for everyone" if switch.user_id is None else "on your account"
        raise ValidationError(
            {"status": f"A kill switch is engaged {scope} ({switch.reason}); no bot may start."}
        )


# -- create and update -----------------------------------------------------------------------
@transaction.atomic
def bot_create(
    *,
    user,
    name: str,
    strategy: str,
    params: dict | None = None,
    symbols,
    venues,
    budget,
    mode: str = Bot.Mode.PAPER,
    risk_limits: dict | None = None,
    on_breach: str = Bot.OnBreach.PAUSE,
    timer_ms: int = 1000,
    paper_balances: dict | None = None,
    start_inventory=None,
    saved_config=None,
    live: LiveConsent | None = None,
) -> Bot:
    """Validate everything, then create a draft bot; nothing is saved on any error.

    `start_inventory` (paper only): base currency of its first market the bot starts with on
    each exchange besides its budget in cash, so a market maker can quote asks from the start.
    """
    from strategies.services import strategy_params_validate

    errors: dict[str, object] = {}
    name = (name or "").strip()
    if not name:
        errors["name"] = "Give the bot a name."
    elif Bot.objects.filter(user_id=user.pk, name=name).exists():
        errors["name"] = "You already have a bot with this name."
    if saved_config is not None:
        if saved_config.user_id != user.pk:
            errors["saved_config"] = "No such strategy config."
        strategy = strategy or saved_config.strategy
        params = saved_config.params if params is None else params
    clean_params = {}
    try:
        clean_params = strategy_params_validate(strategy=strategy, params=params or {})
    except ValidationError as exc:
        errors.update(
            {k if k == "strategy" else f"params.{k}": v for k, v in exc.message_dict.items()}
        )
    if mode not in Bot.Mode.values:
        errors["mode"] = "Choose paper or live."
    symbols = _symbols_validate(symbols, errors)
    clean_venues = _venues_validate(user, venues, mode, errors)
    exchanges = [e for e, _ in clean_venues]
    if clean_params:
        _strategy_venues_check(strategy, clean_params, exchanges, errors)
    amount = _decimal(budget, "budget", errors)
    if amount is None or amount <= 0:
        errors.setdefault("budget", "Give the bot a budget (quote amount) above zero.")
    try:
        limits = risk_limits_validate(risk_limits)
    except ValidationError as exc:
        errors.update(exc.message_dict)
        limits = {}
    if on_breach not in Bot.OnBreach.values:
        errors["on_breach"] = "Choose pause or kill."
    if not isinstance(timer_ms, int) or timer_ms < 50:
        errors["timer_ms"] = "The timer runs at most every 50 ms."
    balances = _paper_balances_validate(paper_balances, exchanges, symbols, amount or 0, errors)
    _start_inventory_add(start_inventory, mode, symbols, balances, errors)
    if errors:
        raise ValidationError(errors)
    if mode == Bot.Mode.LIVE:
        _live_check(user, [a for _, a in clean_venues], live)
    bot = Bot.objects.create(
        user=user,
        name=name,
        strategy=strategy,
        params=clean_params,
        saved_config=saved_config,
        symbols=symbols,
        mode=mode,
        budget=amount,
        paper_balances=balances,
        risk_limits=limits,
        on_breach=on_breach,
        timer_ms=timer_ms,
        status=S.DRAFT,
        status_reason="Created.",
        status_changed_at=timezone.now(),
    )
    BotVenue.objects.bulk_create(
        BotVenue(bot=bot, exchange=exchange, exchange_account=account, position=index)
        for index, (exchange, account) in enumerate(clean_venues)
    )
    BotEvent.objects.create(bot=bot, kind="created", message=f"Created in {mode} mode.")
    return bot


@transaction.atomic
def bot_update(
    *,
    bot: Bot,
    name: str | None = None,
    params: dict | None = None,
    budget=None,
    risk_limits: dict | None = None,
    on_breach: str | None = None,
    timer_ms: int | None = None,
    mode: str | None = None,
    live: LiveConsent | None = None,
) -> Bot:
    """Change a bot that is not running (draft, stopped or error); risk limits any time."""
    bot = Bot.objects.select_for_update().get(pk=bot.pk)
    errors: dict[str, object] = {}
    trading_fields = (params, budget, timer_ms, mode)
    if any(v is not None for v in trading_fields) and bot.status not in EDITABLE:
        raise ValidationError({"status": f"Stop the bot before changing it (it is {bot.status})."})
    if name is not None:
        name = _name_check(bot, name, errors)
    if params is not None:
        params = _params_check(bot, params, errors)
    if budget is not None:
        budget = _decimal(budget, "budget", errors)
        if budget is not None and budget <= 0:
            errors["budget"] = "The budget must be above zero."
    if risk_limits is not None:
        risk_limits = _limits_check(risk_limits, errors)
    if on_breach is not None and on_breach not in Bot.OnBreach.values:
        errors["on_breach"] = "Choose pause or kill."
    if timer_ms is not None and (not isinstance(timer_ms, int) or timer_ms < 50):
        errors["timer_ms"] = "The timer runs at most every 50 ms."
    if mode is not None and mode not in Bot.Mode.values:
        errors["mode"] = "Choose paper or live."
    if errors:
        raise ValidationError(errors)
    if mode == Bot.Mode.LIVE and not bot.is_live:
        accounts = [v.exchange_account for v in bot.venues.select_related("exchange_account")]
        _live_check(bot.user, accounts, live)
    for field_name, value in (
        ("name", name),
        ("params", params),
        ("budget", budget),
        ("risk_limits", risk_limits),
        ("on_breach", on_breach),
        ("timer_ms", timer_ms),
        ("mode", mode),
    ):
        if value is not None:
            setattr(bot, field_name, value)
    if params is not None or mode is not None:
        bot.strategy_state = None  # a new configuration starts from a fresh state
    bot.save()
    BotEvent.objects.create(bot=bot, kind="updated", message="Settings changed.")
    return bot


def _name_check(bot: Bot, name: str, errors: dict) -> str:
    name = name.strip()
    if not name:
        errors["name"] = "Give the bot a name."
    elif Bot.objects.filter(user_id=bot.user_id, name=name).exclude(pk=bot.pk).exists():
        errors["name"] = "You already have a bot with this name."
    return name


def _limits_check(limits: dict, errors: dict) -> dict:
    try:
        return risk_limits_validate(limits)
    except ValidationError as exc:
        errors.update(exc.message_dict)
        return limits


def _params_check(bot: Bot, params: dict, errors: dict) -> dict:
    from strategies.services import strategy_params_validate

    try:
        params = strategy_params_validate(strategy=bot.strategy, params=params)
        exchanges = list(bot.venues.values_list("exchange", flat=True))
        _strategy_venues_check(bot.strategy, params, exchanges, errors)
    except ValidationError as exc:
        errors.update({f"params.{k}": v for k, v in exc.message_dict.items()})
    return params


# -- state machine ---------------------------------------------------------------------------
def _lock(bot: Bot | int) -> Bot:
    pk = bot.pk if isinstance(bot, Bot) else bot
    return Bot.objects.select_for_update().select_related("user").get(pk=pk)


def _transition(bot: Bot, status: str, reason: str, *, actor=None) -> None:
    previous = bot.status
    bot.status, bot.status_reason = status, reason[:500]
    bot.status_changed_at = timezone.now()
    bot.save(update_fields=["status", "status_reason", "status_changed_at", "updated_at"])
    data = {"status": status, "reason": bot.status_reason, "previous": previous}
    if actor is not None:
        data["actor"] = getattr(actor, "email", str(actor))
    BotEvent.objects.create(bot=bot, kind="status", message=bot.status_reason, data=data)
    bot_event_publish(bot=bot, kind="status", data=data)
    control_publish_on_commit(bot.pk)
    event = _NOTIFY.get(status)
    if event is not None:
        bot_owner_notify(
            bot=bot,
            event=event,
            title=f"{bot.name}: {status}",
            body=f"Bot {bot.name} is {status}: {bot.status_reason}",
            dedupe_key=f"{event}:{bot.pk}:{bot.status_changed_at.timestamp():.0f}",
        )


def control_publish_on_commit(bot_id: int) -> None:
    transaction.on_commit(lambda: control_publish(bot_id))


def _dispatch(bot: Bot) -> None:
    """Enqueue a slice of the bot's loop after commit (the lease keeps it to one runner)."""
    bot.dispatched_at = timezone.now()
    bot.save(update_fields=["dispatched_at"])
    bot_id = bot.pk
    transaction.on_commit(lambda: task_send(SLICE_TASK, bot_id))


def task_send(name: str, *args) -> None:
    """Enqueue a trading task by name on the "bots" queue (where trading.tasks.bot_* go)."""
    if name not in current_app.tasks:  # a web process loads the apps' task modules lazily
        current_app.loader.import_default_modules()
    current_app.tasks[name].apply_async(args, queue="bots")


def _has_active_orders(bot: Bot) -> bool:
    return Order.objects.filter(bot_id=bot.pk, status__in=Order.ACTIVE).exists()


@transaction.atomic
def bot_start(*, bot: Bot, actor=None, live: LiveConsent | None = None) -> Bot:
    """Start a draft, stopped or failed bot: it reconciles with the exchange, then trades."""
    bot = _lock(bot)
    if bot.strategy == "manual":  # trading.services.manual: orders placed by hand, never run
        raise ValidationError(
            {
                "status": "This record holds orders placed by hand on its exchange account's "
                "trading panel; it does not run."
            }
        )
    if bot.status not in STARTABLE:
        raise ValidationError({"status": f"A {bot.status} bot cannot be started."})
    _kill_switch_check(bot.user)
    venues = list(bot.venues.select_related("exchange_account"))
    if not venues:
        raise ValidationError({"venues": "The bot has no exchange to trade on."})
    if bot.is_live:
        _live_check(bot.user, [v.exchange_account for v in venues], live)
    _transition(bot, S.STARTING, "Started by the owner.", actor=actor)
    _dispatch(bot)
    return bot


@transaction.atomic
def bot_pause(*, bot: Bot, reason: str = "Paused by the owner.", actor=None) -> Bot:
    """Pause a running bot: it cancels its open orders and keeps its state."""
    bot = _lock(bot)
    if bot.status not in PAUSABLE:
        raise ValidationError({"status": f"A {bot.status} bot cannot be paused."})
    _transition(bot, S.PAUSED, reason, actor=actor)
    _dispatch(bot)
    return bot


@transaction.atomic
def bot_resume(*, bot: Bot, actor=None, live: LiveConsent | None = None) -> Bot:
    """Resume a paused bot from its checkpoint."""
    bot = _lock(bot)
    if bot.status != S.PAUSED:
        raise ValidationError({"status": f"A {bot.status} bot cannot be resumed."})
    _kill_switch_check(bot.user)
    if bot.is_live:
        _live_check(bot.user, [v.exchange_account for v in bot.venues.all()], live)
    _transition(bot, S.STARTING, "Resumed by the owner.", actor=actor)
    _dispatch(bot)
    return bot


@transaction.atomic
def bot_stop(*, bot: Bot, reason: str = "Stopped by the owner.", actor=None) -> Bot:
    """Stop a bot: its runner cancels every open order, then it is stopped."""
    bot = _lock(bot)
    if bot.status == S.STOPPED:
        return bot
    if bot.status not in STOPPABLE:
        raise ValidationError({"status": f"A {bot.status} bot cannot be stopped."})
    if not lease_is_live(bot_id=bot.pk) and not _has_active_orders(bot):
        _transition(bot, S.STOPPED, reason, actor=actor)
        return bot
    if bot.status != S.STOPPING:
        _transition(bot, S.STOPPING, reason, actor=actor)
    _dispatch(bot)
    return bot


def bot_kill(*, bot: Bot, reason: str, actor=None) -> int:
    """Kill a bot now: fence out its runner, mark it stopped, cancel every order it has.

    Works whatever state the bot is in (a stopped bot with orders left on the exchange is
    cleaned up). Returns the number of orders cancelled: paper and manual orders are cancelled
    before it returns; a live bot's are counted from the books and cancelled on the exchange by
    a task on the bots queue (also those the books lack), so a kill never makes exchange calls
    on the caller's thread, which may be a runner's database thread.
    """
    message = f"Killed: {reason}"
    with transaction.atomic():
        locked = _lock(bot)
        lease_revoke(bot_id=locked.pk)
        if locked.status != S.STOPPED or locked.status_reason != message:
            _transition(locked, S.STOPPED, message, actor=actor)
        if locked.is_live and locked.strategy != "manual":
            active = Order.objects.filter(bot_id=locked.pk, status__in=Order.ACTIVE).count()
            bot_id = locked.pk
            transaction.on_commit(lambda: task_send(CANCEL_TASK, bot_id, message))
            return active
    if locked.strategy == "manual":  # orders placed by hand: on the account's own session
        return manual_orders_cancel_all(bot=locked, reason=message)
    return paper_orders_cancel_all(bot=locked, reason=message)


# -- transitions made by the runner (fenced by its lease) ----------------------------------
def bot_runtime_transition(
    *, bot_id: int, token: int, status: str, reason: str, allowed_from: tuple[str, ...]
) -> Bot | None:
    """Move the bot to `status` if it is in `allowed_from` and the lease is still ours.

    Returns the bot (with its current status) or raises LeaseLost.
    """
    with transaction.atomic():
        lease_check(bot_id=bot_id, token=token)
        bot = _lock(bot_id)
        if bot.status in allowed_from and bot.status != status:
            _transition(bot, status, reason)
        return bot


def bot_dispatch_next(*, bot_id: int, token: int, grace_seconds: float | None = None) -> None:
    """End of a slice: enqueue the next one (fenced: only the lease holder may).

    With `grace_seconds` the lease is also kept that long for the next slice to take over.
    """
    with transaction.atomic():
        lease_check(bot_id=bot_id, token=token)
        if grace_seconds is not None:
            lease_hand_over(bot_id=bot_id, token=token, grace_seconds=grace_seconds)
        Bot.objects.filter(pk=bot_id).update(dispatched_at=timezone.now())
        transaction.on_commit(lambda: _send_slice(bot_id, token))


def _send_slice(bot_id: int, token: int | None) -> None:
    task_send(SLICE_TASK, bot_id, token)


def bot_lease_release(*, bot_id: int, token: int) -> bool:
    """The runner lets the bot go; a start or stop that came meanwhile gets a slice of its own.

    bot_start and bot_stop enqueue a slice, but while this runner still held the lease that
    slice found it taken and ended. Holding the bot's row lock while releasing orders this
    against them: a status that still wants a runner (starting, running, stopping) is seen
    here, or their slice is enqueued after the lease is free.
    """
    with transaction.atomic():
        bot = _lock(bot_id)  # the bot's row before the lease's, as bot_kill does
        released = lease_release(bot_id=bot_id, token=token)
        if released and bot.status in SUPERVISED:
            _dispatch(bot)
        return released


def bot_fail(*, bot_id: int, token: int | None, message: str) -> None:
    """The runner hit an error it cannot trade through: error state, owner told."""
    with transaction.atomic():
        if token is not None:
            try:
                lease_check(bot_id=bot_id, token=token)
            except LeaseLost:
                return  # someone else runs (or killed) the bot now: their state stands
        bot = _lock(bot_id)
        if bot.status in (S.STOPPED, S.ERROR):
            return
        _transition(bot, S.ERROR, message)
        bot_event_publish(bot=bot, kind="error", data={"message": message[:500]})


# -- supervisor --------------------------------------------------------------------------------
def bot_supervise() -> dict[str, list[int]]:
    """Resume bots that should run but whose runner is gone; too many restarts: error.

    A bot is orphaned when it is starting, running or stopping, nobody holds an unexpired lease
    and it was not dispatched within the last lease period (a queued slice gets that long).
    """
    ttl = conf.get("PEREGRINE_BOT_LEASE_SECONDS")
    now = timezone.now()
    orphaned = (
        Bot.objects.filter(status__in=SUPERVISED)
        .filter(
            Q(lease__isnull=True)
            | Q(lease__expires_at__isnull=True)
            | Q(lease__expires_at__lte=now)
        )
        .filter(Q(dispatched_at__isnull=True) | Q(dispatched_at__lte=now - timedelta(seconds=ttl)))
        .values_list("pk", flat=True)
    )
    result: dict[str, list[int]] = {"restarted": [], "failed": []}
    for bot_id in list(orphaned):
        outcome = _supervise_one(bot_id)
        if outcome:
            result[outcome].append(bot_id)
    return result


@transaction.atomic
def _supervise_one(bot_id: int) -> str | None:
    bot = _lock(bot_id)
    if bot.status not in SUPERVISED or lease_is_live(bot_id=bot_id):
        return None
    hour_ago = timezone.now() - timedelta(hours=1)
    restarts = BotEvent.objects.filter(bot=bot, kind="restart", at__gte=hour_ago).count()
    limit = conf.get("PEREGRINE_BOT_MAX_RESTARTS_PER_HOUR")
    if restarts >= limit:
        _transition(
            bot,
            S.ERROR,
            f"Its runner stopped {restarts + 1} times within an hour; automatic restarts "
            f"stop after {limit}. Check the bot's events, then start it again.",
        )
        return "failed"
    BotEvent.objects.create(
        bot=bot,
        kind="restart",
        message=f"Runner lost (lease expired); automatic restart {restarts + 1} of {limit}.",
    )
    _dispatch(bot)
    return "restarted"
