"""Bot create and edit pages: posted fields in, bot service arguments out, errors back in place.

Nothing here decides what is valid: the bot services (and through them the strategy's JSON
schema) do, exactly as for the API. This module only reads the browser's strings into the shapes
the services take, lays out a strategy's parameters from its schema, and puts each error the
services raise next to the input it is about.
"""

from __future__ import annotations

import math
import re
import uuid
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError

from tradecore.risk import RiskLimits
from trading.models import Bot

ACCOUNT, EXCHANGE = "account:", "exchange:"

# Risk limits a bot takes (tradecore's RiskLimits, budget aside), as the page explains them.
RISK_LIMITS = {
    "max_exposure_fraction": "Most of the budget held in position plus open orders (0.5 = 50%).",
    "max_order_qty": "Largest order, in base units.",
    "max_order_notional": "Largest order, in quote value.",
    "max_position_qty": "Largest position, in base units.",
    "price_band_fraction": "Refuse orders priced further than this from the mid (fraction).",
    "max_open_orders": "Most orders open at once.",
    "max_orders_per_minute": "Most new orders per minute.",
    "stop_loss_fraction": "Close the position at this loss (fraction of entry).",
    "take_profit_fraction": "Close the position at this gain (fraction of entry).",
    "trailing_stop_fraction": "Close the position this far below its high (fraction).",
    "max_drawdown_fraction": "Act on breach at this drawdown from peak equity (fraction).",
    "daily_loss_limit": "Act on breach after losing this much quote in a day.",
}


@dataclass
class Input:
    """One input of the page: what it shows, what was entered, and what is wrong with it."""

    name: str
    label: str
    kind: str = "text"  # text, decimal, number, integer, boolean, choice
    value: object = ""
    help: str = ""
    placeholder: str = ""
    choices: tuple = ()
    minimum: object = None
    maximum: object = None
    error: str = ""

    @property
    def html_id(self) -> str:
        return "id_" + re.sub(r"[^a-zA-Z0-9_]", "_", self.name)


@dataclass
class VenueSlot:
    """One exchange the bot trades on: an account of the user, or an exchange for paper."""

    index: int
    label: str
    help: str = ""
    value: str = ""
    error: str = ""
    param: str = ""  # the strategy field naming this venue (two-venue strategies)

    @property
    def name(self) -> str:
        return f"venue_{self.index}"


@dataclass
class BotFormState:
    """What the bot form shows: values, errors by service key, and errors with no input."""

    values: dict = field(default_factory=dict)
    errors: dict = field(default_factory=dict)
    placed: set = field(default_factory=set)

    def error(self, *keys: str) -> str:
        """The errors of these service keys, shown by the caller's input from now on."""
        self.placed.update(keys)
        messages = [self.errors[key] for key in keys if self.errors.get(key)]
        return " ".join(dict.fromkeys(messages))

    @property
    def general_errors(self) -> list[str]:
        return [message for key, message in self.errors.items() if key not in self.placed]


# The name of each input the bot services report errors for, as the list on top says it.
FIELD_LABELS = {
    "name": ("Name", "id_name"),
    "strategy": ("Strategy", "id_strategy"),
    "symbols": ("Markets", "id_symbols"),
    "budget": ("Budget", "id_budget"),
    "start_inventory": ("Start inventory", "id_start_inventory"),
    "paper_balances": ("Start inventory", "id_start_inventory"),
    "mode": ("Mode", "bot-mode"),
    "confirm_live": ("Live confirmation", "id_confirm_live"),
    "on_breach": ("On a breach", "id_on_breach"),
    "timer_ms": ("Strategy timer", "id_timer_ms"),
    "venues": ("Exchange", "id_venue_0"),
    "params": ("Strategy parameters", "bot-params"),
    "risk_limits": ("Risk limits", "bot-risk"),
}


def _humanize(name: str) -> str:
    return name.replace("_", " ").capitalize()


def error_summary(errors: dict[str, str]) -> list[tuple[str, str, str]]:
    """(label, message, id of the input) for every error, for the list on top of the form;
    an error that belongs to no input has an empty label and id."""
    summary = []
    for key, message in errors.items():
        head, _, rest = key.partition(".")
        if head == "params" and rest and rest != "params":
            label, anchor = _humanize(rest), "id_params_" + re.sub(r"[^a-zA-Z0-9_]", "_", rest)
        elif head == "risk_limits" and rest:
            label, anchor = _humanize(rest), f"id_risk_{rest}"
        elif head == "venues" and rest.isdigit():
            label, anchor = f"Exchange {int(rest) + 1}", f"id_venue_{rest}"
        else:
            label, anchor = FIELD_LABELS.get(head, ("", ""))
        summary.append((label, message, anchor))
    return summary


def errors_from(exc: ValidationError) -> dict[str, str]:
    """A service's ValidationError as {service key: one message}."""
    if not hasattr(exc, "error_dict"):
        return {"__all__": " ".join(exc.messages)}
    return {key: " ".join(messages) for key, messages in exc.message_dict.items()}


# -- strategy parameters --------------------------------------------------------------------
def _kind(spec: dict) -> str:
    kinds = spec.get("type")
    kinds = set(kinds) if isinstance(kinds, list) else {kinds}
    if "enum" in spec:
        return "choice"
    if kinds == {"number", "string"}:
        return "decimal"  # exact: sent as the string typed
    for kind in ("boolean", "integer", "number"):
        if kind in kinds:
            return kind
    return "text"


def param_inputs(schema: dict, *, values: dict, state: BotFormState, skip=()) -> list[Input]:
    """One input per property of a strategy's JSON schema, with its default and description."""
    inputs = []
    for name, spec in (schema.get("properties") or {}).items():
        if name in skip:
            continue
        kind = _kind(spec)
        default = spec.get("default")
        value = values.get(name, default)
        inputs.append(
            Input(
                name=f"params.{name}",
                label=name.replace("_", " ").capitalize(),
                kind=kind,
                value=bool(value) if kind == "boolean" else ("" if value is None else value),
                help=spec.get("description", ""),
                # shown only when the input is emptied, which means "the default"
                placeholder="" if default is None else f"default {default}",
                choices=tuple(spec.get("enum", ())),
                minimum=spec.get("minimum", spec.get("exclusiveMinimum")),
                maximum=spec.get("maximum"),
                error=state.error(f"params.{name}"),
            )
        )
    return inputs


def posted_param_values(schema: dict, post) -> dict:
    """The parameters as typed, to show them again (an unticked box is False, not the default)."""
    values = {}
    for name, spec in (schema.get("properties") or {}).items():
        key = f"params.{name}"
        values[name] = post.get(key) == "on" if _kind(spec) == "boolean" else post.get(key, "")
    return values


def posted_values(entry, post) -> tuple[dict, dict]:
    """The parameters and risk limits as posted, to show again beside their errors."""
    params = posted_param_values(entry.schema if entry is not None else {}, post)
    return params, {name: post.get(f"risk.{name}", "") for name in RISK_LIMITS}


def _coerce(kind: str, raw: str):
    """The JSON value of a typed string; a string the schema will refuse stays as typed."""
    if kind == "integer" and re.fullmatch(r"-?\d+", raw):
        return int(raw)
    if kind == "number":
        try:
            number = float(raw)
        except ValueError:
            return raw
        return number if math.isfinite(number) else raw
    return raw


def params_from_post(schema: dict, post, *, skip=()) -> dict:
    """The strategy parameters posted; an empty input leaves the schema's default."""
    params = {}
    for name, spec in (schema.get("properties") or {}).items():
        if name in skip:
            continue
        kind = _kind(spec)
        if kind == "boolean":
            params[name] = post.get(f"params.{name}") == "on"
            continue
        raw = (post.get(f"params.{name}") or "").strip()
        if raw != "":
            params[name] = _coerce(kind, raw)
    return params


# -- venues ---------------------------------------------------------------------------------
def venue_slots(entry, *, values: dict, state: BotFormState) -> list[VenueSlot]:
    """One venue select, or one per venue field of a two-venue strategy."""
    fields = entry.venue_fields if entry is not None else ()
    properties = entry.schema.get("properties", {}) if entry is not None else {}
    if not fields:
        slot = VenueSlot(0, "Exchange", value=values.get("venue_0", ""))
        slot.error = state.error("venues.0", "venues")
        return [slot]
    slots = []
    for index, name in enumerate(fields):
        slot = VenueSlot(
            index,
            f"Exchange {index + 1}: {properties.get(name, {}).get('description', name).lower()}",
            value=values.get(f"venue_{index}", ""),
            param=name,
        )
        slot.error = state.error(f"venues.{index}", f"params.{name}")
        slots.append(slot)
    slots[0].error = " ".join(filter(None, (slots[0].error, state.error("venues"))))
    return slots


def _venue(value: str, accounts: dict) -> dict | None:
    if value.startswith(ACCOUNT):
        try:
            account_id = uuid.UUID(value.removeprefix(ACCOUNT))
        except ValueError:
            account_id = uuid.UUID(int=0)  # the service answers "No such exchange account."
        account = accounts.get(account_id)
        return {"exchange_account_id": account_id, "exchange": account.exchange if account else ""}
    if value.startswith(EXCHANGE):
        return {"exchange": value.removeprefix(EXCHANGE)}
    return None


def venue_options(accounts, exchanges) -> dict:
    """The choices of a venue select: the user's accounts first, then the exchanges a paper bot
    can trade on without one (see trading.selectors.paper_exchange_choices)."""
    return {
        "accounts": [
            (
                f"{ACCOUNT}{a.pk}",
                f"{a.label} — {a.exchange}, {a.mode}{'' if a.is_active else ', disabled'}",
            )
            for a in accounts
        ],  # fmt: skip
        "exchanges": [(f"{EXCHANGE}{eid}", label) for eid, label in exchanges],
    }


# -- whole form -----------------------------------------------------------------------------
def _symbols(raw: str) -> list[str]:
    return [s for s in re.split(r"[\s,]+", raw or "") if s]


def _timer(raw: str):
    raw = (raw or "").strip()
    return int(raw) if raw.isdigit() else raw


def risk_inputs(*, values: dict, state: BotFormState) -> list[Input]:
    """One input per risk limit, empty when the limit is off."""
    defaults = RiskLimits()
    inputs = []
    for name, help_text in RISK_LIMITS.items():
        default = getattr(defaults, name, None)
        inputs.append(
            Input(
                name=f"risk.{name}",
                label=name.replace("_", " ").capitalize(),
                kind="integer"
                if name in ("max_open_orders", "max_orders_per_minute")
                else "decimal",
                value=values.get(name, ""),
                help=help_text,
                placeholder=f"default {default}" if default is not None else "off",
                error=state.error(f"risk_limits.{name}"),
            )
        )
    return inputs


def risk_limits_from_post(post) -> dict:
    """The risk limits posted; an empty input turns the limit off."""
    limits = {}
    for name in RISK_LIMITS:
        raw = (post.get(f"risk.{name}") or "").strip()
        if raw:
            limits[name] = raw
    return limits


def bot_create_arguments(post, *, entry, strategy: str, accounts: dict) -> dict:
    """bot_create's keyword arguments from the posted form (the user and consent aside)."""
    schema = entry.schema if entry is not None else {}
    skip = entry.venue_fields if entry is not None else ()
    params = params_from_post(schema, post, skip=skip)
    slots = len(skip) or 1
    venues = [_venue(post.get(f"venue_{i}") or "", accounts) for i in range(slots)]
    for name, venue in zip(skip, venues, strict=False):  # one select when no venue fields
        if venue is not None and venue.get("exchange"):
            params[name] = venue["exchange"]
    return {
        "name": post.get("name", ""),
        "strategy": strategy,
        "params": params,
        "symbols": _symbols(post.get("symbols", "")),
        "venues": [v for v in venues if v is not None],
        "budget": (post.get("budget") or "").strip(),
        "start_inventory": (post.get("start_inventory") or "").strip() or None,
        "mode": post.get("mode") or Bot.Mode.PAPER,
        "risk_limits": risk_limits_from_post(post),
        "on_breach": post.get("on_breach") or Bot.OnBreach.PAUSE,
        "timer_ms": _timer(post.get("timer_ms")) or 1000,
    }


def _changed_budget(raw: str, current: Decimal):
    try:
        return None if Decimal(raw) == current else raw
    except (InvalidOperation, ValueError):
        return raw  # the service names what is wrong with it


def bot_update_arguments(post, *, bot: Bot, entry) -> dict:
    """bot_update's keyword arguments: name, limits and breach action, plus what was changed.

    The strategy, budget, timer and mode are passed only when they differ from the bot's, so
    renaming a running bot or tightening its limits works, while changing how it trades asks
    the service (which wants the bot stopped first).
    """
    arguments = {
        "name": post.get("name", ""),
        "risk_limits": risk_limits_from_post(post),
        "on_breach": post.get("on_breach") or bot.on_breach,
    }
    if entry is not None and "params_present" in post:
        params = params_from_post(entry.schema, post, skip=entry.venue_fields)
        for name in entry.venue_fields:
            params[name] = bot.params.get(name)
        properties = entry.schema.get("properties") or {}
        complete = {name: spec.get("default") for name, spec in properties.items()}
        if {**complete, **params} != bot.params:
            arguments["params"] = params
    budget = (post.get("budget") or "").strip()
    if budget:
        arguments["budget"] = _changed_budget(budget, bot.budget)
    timer = _timer(post.get("timer_ms"))
    if timer != "" and timer != bot.timer_ms:
        arguments["timer_ms"] = timer
    mode = post.get("mode")
    if mode and mode != bot.mode:
        arguments["mode"] = mode
    return {k: v for k, v in arguments.items() if v is not None}
