"""Bot and strategy configs as JSON files: export what recreates them, import after validating
every field (the same services that create them by hand, so the same rules and messages), with
errors that name the field. Nothing is written on any error.

    {"format": "peregrine.strategy_config", "version": 1, "name", "strategy", "params",
     "description"}
    {"format": "peregrine.bot", "version": 1, "name", "strategy", "params", "symbols",
     "venues": [{"exchange"}], "budget", "mode", "risk_limits", "on_breach", "timer_ms",
     "paper_balances"}

Exchange accounts are the user's own and never leave in a file: a bot is imported as a paper
draft on the file's exchanges (a live bot's file too, which the answer says), to be checked,
linked to an account and started from its page.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from django.core.exceptions import ValidationError
from django.db import transaction

from strategies.models import StrategyConfig
from strategies.services import strategy_config_save

VERSION = 1
STRATEGY_FORMAT = "peregrine.strategy_config"
BOT_FORMAT = "peregrine.bot"
MAX_FILE_BYTES = 256 * 1024

_STRATEGY_FIELDS = {"format": str, "version": int, "name": str, "strategy": str,
                    "params": dict, "description": str}  # fmt: skip
_BOT_FIELDS = {"format": str, "version": int, "name": str, "strategy": str, "params": dict,
               "symbols": list, "venues": list, "budget": (str, int, float), "mode": str,
               "risk_limits": dict, "on_breach": str, "timer_ms": int,
               "paper_balances": dict}  # fmt: skip
_REQUIRED = {STRATEGY_FORMAT: ("name", "strategy"),
             BOT_FORMAT: ("name", "strategy", "symbols", "venues", "budget")}  # fmt: skip
_TYPE_WORDS = {str: "text", int: "a whole number", dict: "an object", list: "a list"}


def strategy_config_export(config: StrategyConfig) -> dict:
    return {
        "format": STRATEGY_FORMAT, "version": VERSION, "name": config.name,
        "strategy": config.strategy, "params": config.params,
        "description": config.description,
    }  # fmt: skip


def bot_config_export(bot) -> dict:
    """The bot's configuration (not its state, orders or accounts) as a file's JSON."""
    return {
        "format": BOT_FORMAT, "version": VERSION, "name": bot.name, "strategy": bot.strategy,
        "params": bot.params, "symbols": list(bot.symbols),
        "venues": [{"exchange": v.exchange} for v in bot.venues.order_by("position")],
        "budget": f"{bot.budget.normalize():f}", "mode": bot.mode,
        "risk_limits": bot.risk_limits, "on_breach": bot.on_breach, "timer_ms": bot.timer_ms,
        "paper_balances": bot.paper_balances or {},
    }  # fmt: skip


def file_parse(raw) -> dict:
    """The JSON object of an uploaded file (bytes or text) or of an API body (a mapping);
    ValidationError on "file" when it is not one."""
    if isinstance(raw, Mapping):
        return dict(raw)
    if isinstance(raw, bytes):
        if len(raw) > MAX_FILE_BYTES:
            raise ValidationError({"file": f"The file is over {MAX_FILE_BYTES // 1024} KiB."})
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ValidationError({"file": "The file is not UTF-8 text."}) from None
    try:
        data = json.loads(raw)
    except (TypeError, json.JSONDecodeError) as exc:
        where = f" (line {exc.lineno}, column {exc.colno})" if hasattr(exc, "lineno") else ""
        raise ValidationError({"file": f"The file is not JSON{where}."}) from None
    if not isinstance(data, dict):
        raise ValidationError({"file": "The file must hold one JSON object."})
    return data


def _check_shape(data: dict, fields: dict, kind: str) -> None:
    errors = {}
    for key, value in data.items():
        if key not in fields:
            errors[key] = f"Unknown field in a {kind} file; known: {', '.join(fields)}."
            continue
        expected = fields[key]
        types = expected if isinstance(expected, tuple) else (expected,)
        if isinstance(value, bool) or not isinstance(value, types):
            words = " or ".join(_TYPE_WORDS.get(t, "a number") for t in types)
            errors[key] = f"Must be {words}."
    for key in _REQUIRED[data.get("format")]:
        if key not in data and key not in errors:
            errors[key] = "This field is required."
    if data.get("version", VERSION) != VERSION and "version" not in errors:
        errors["version"] = f"Version {data['version']} is not one this site reads ({VERSION})."
    if errors:
        raise ValidationError(errors)


def _format_of(data: dict, expected: str | None) -> str:
    found = data.get("format")
    known = (STRATEGY_FORMAT, BOT_FORMAT)
    if found not in known:
        raise ValidationError(
            {"format": f"Not a Peregrine config file: format must be one of {', '.join(known)}."}
        )
    if expected and found != expected:
        raise ValidationError({"format": f"This is a {found} file; expected {expected}."})
    return found


@transaction.atomic
def strategy_config_import(*, user, data: dict, name: str = "") -> StrategyConfig:
    """A saved strategy config from a file's JSON; errors name the field (parameters as
    `params.<name>`)."""
    _format_of(data, STRATEGY_FORMAT)
    _check_shape(data, _STRATEGY_FIELDS, "strategy config")
    try:
        return strategy_config_save(
            user=user, name=name or data["name"], strategy=data["strategy"],
            params=data.get("params") or {}, description=data.get("description", ""),
        )  # fmt: skip
    except ValidationError as exc:
        raise ValidationError(_params_prefixed(exc.message_dict)) from None


def _params_prefixed(errors: dict) -> dict:
    """strategy_config_save names a parameter by itself ("fast"): as `params.fast` here."""
    own = ("name", "strategy", "description", "config", "params")
    return {(key if key in own else f"params.{key}"): value for key, value in errors.items()}


@transaction.atomic
def bot_config_import(*, user, data: dict, name: str = ""):
    """A draft paper bot from a file's JSON through trading's bot_create (every rule of a bot
    made by hand); returns (bot, notes in words). Errors name the field."""
    from trading.services.bots import bot_create

    _format_of(data, BOT_FORMAT)
    _check_shape(data, _BOT_FIELDS, "bot")
    notes = []
    if data.get("mode", "paper") != "paper":
        notes.append(
            f"The file's bot trades {data['mode']}; it is imported as a paper draft: link an "
            "exchange account and switch it to live from its page."
        )
    venues = data["venues"]
    errors = {}
    for i, venue in enumerate(venues):
        if not isinstance(venue, Mapping) or not isinstance(venue.get("exchange"), str):
            errors[f"venues.{i}"] = 'Each venue is {"exchange": "<exchange id>"}.'
    if errors:
        raise ValidationError(errors)
    options = {k: data[k] for k in ("risk_limits", "on_breach", "timer_ms") if k in data}
    if data.get("paper_balances"):
        options["paper_balances"] = data["paper_balances"]
    bot = bot_create(
        user=user, name=name or data["name"], strategy=data["strategy"],
        params=data.get("params") or {}, symbols=data["symbols"],
        venues=[{"exchange": v["exchange"]} for v in venues], budget=str(data["budget"]),
        mode="paper", **options,
    )  # fmt: skip
    return bot, notes


def config_import(*, user, data: dict, name: str = "") -> tuple[str, object, list[str]]:
    """Either kind of file, by its "format": ("strategy_config" | "bot", object, notes)."""
    if _format_of(data, None) == STRATEGY_FORMAT:
        return "strategy_config", strategy_config_import(user=user, data=data, name=name), []
    bot, notes = bot_config_import(user=user, data=data, name=name)
    return "bot", bot, notes
