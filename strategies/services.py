"""Strategy parameters: validated against the strategy's JSON schema, then by tradecore itself."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache

import jsonschema
from django.core.exceptions import ValidationError
from django.db import transaction

from strategies.models import StrategyConfig
from tradecore.strategies import REGISTRY, ConfigError, validate_config


@cache
def _validator(strategy_id: str) -> jsonschema.protocols.Validator:
    schema = REGISTRY[strategy_id].config_class.json_schema()
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _field_of(error: jsonschema.ValidationError) -> str:
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        return extra[0] if extra else "params"
    return str(error.absolute_path[0]) if error.absolute_path else "params"


def strategy_params_validate(*, strategy: str, params: Mapping) -> dict:
    """Check `params` against the strategy's schema and rules; return them complete.

    Raises ValidationError with one message per offending field; the result has every field
    (defaults filled in) in JSON form, Decimals as strings.
    """
    if strategy not in REGISTRY:
        known = ", ".join(sorted(REGISTRY))
        raise ValidationError({"strategy": f"Unknown strategy {strategy!r}; known: {known}."})
    if not isinstance(params, Mapping):
        raise ValidationError({"params": "Parameters must be a JSON object."})
    errors: dict[str, list[str]] = {}
    for error in sorted(_validator(strategy).iter_errors(dict(params)), key=str):
        message = error.message
        if error.validator == "pattern":
            message = f"{error.instance!r} is not a decimal number"
        errors.setdefault(_field_of(error), []).append(message)
    # tradecore checks the values (decimal bounds, cross-field rules) of the fields the schema
    # did not already refuse, so one answer names every bad field it can
    known = {k: v for k, v in params.items() if k not in errors}
    try:
        config = validate_config(strategy, known)
    except ConfigError as exc:
        errors.setdefault(exc.field or "params", []).append(exc.message)
        config = None
    if errors:
        raise ValidationError(errors)
    return config.to_dict()


@transaction.atomic
def strategy_config_save(
    *,
    user,
    name: str,
    strategy: str,
    params: Mapping,
    description: str = "",
    config: StrategyConfig | None = None,
) -> StrategyConfig:
    """Create (or update `config`) after validating its parameters; nothing saved on error."""
    name = (name or "").strip()
    errors = {}
    if not name:
        errors["name"] = "Give the config a name."
    elif (
        StrategyConfig.objects.filter(user_id=user.pk, name=name)
        .exclude(pk=getattr(config, "pk", None))
        .exists()
    ):
        errors["name"] = "You already have a strategy config with this name."
    try:
        clean = strategy_params_validate(strategy=strategy, params=params)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    if config is None:
        config = StrategyConfig(user=user)
    elif config.user_id != user.pk:
        raise ValidationError({"config": "Not your strategy config."})
    config.name, config.strategy, config.params = name, strategy, clean
    config.description = (description or "").strip()[:500]
    config.save()
    return config


def strategy_config_delete(*, config: StrategyConfig) -> None:
    """Delete a saved config; bots created from it keep their own copy of the parameters."""
    config.delete()
