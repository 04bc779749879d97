"""Strategy parameters as form fields, generated from the strategy's JSON schema.

Each property of the schema becomes one field with its type (whole number, number, decimal
text, choice), its bounds, its default and its description as help. The posted values are read
back by `params_from_post` into the JSON the services validate; a value that is not of the
field's type is refused there, naming the field, and every other check (bounds, cross-field
rules) stays the service's, so the page and the API give the same errors.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


def field_name(strategy: str, name: str) -> str:
    """The form field of one parameter: unique across strategies (several share "fast")."""
    return f"params-{strategy}-{name}"


@dataclass(frozen=True)
class ParamField:
    """One parameter as a form field."""

    strategy: str
    name: str
    label: str
    kind: str  # "integer", "number", "decimal", "choice", "boolean" or "text"
    default: object
    help: str
    minimum: object = None
    maximum: object = None
    exclusive_minimum: object = None
    exclusive_maximum: object = None
    choices: tuple = field(default=())

    @property
    def html_name(self) -> str:
        return field_name(self.strategy, self.name)

    @property
    def html_id(self) -> str:
        return f"id_{self.html_name}"

    @property
    def input_type(self) -> str:
        return "number" if self.kind in ("integer", "number") else "text"

    @property
    def step(self) -> str:
        return "1" if self.kind == "integer" else "any"

    @property
    def html_min(self):
        return self.minimum if self.minimum is not None else None

    @property
    def html_max(self):
        return self.maximum if self.maximum is not None else None

    @property
    def bounds(self) -> str:
        """The allowed range in words, e.g. "1 to 10000" or "above 0, at most 1"."""
        low = (
            f"at least {self.minimum}" if self.minimum is not None else
            f"above {self.exclusive_minimum}" if self.exclusive_minimum is not None else ""
        )  # fmt: skip
        high = (
            f"at most {self.maximum}" if self.maximum is not None else
            f"below {self.exclusive_maximum}" if self.exclusive_maximum is not None else ""
        )  # fmt: skip
        if self.minimum is not None and self.maximum is not None:
            return f"{self.minimum} to {self.maximum}"
        return ", ".join(p for p in (low, high) if p)

    @property
    def help_text(self) -> str:
        parts = [self.help.rstrip(".")] if self.help else []
        if self.bounds:
            parts.append(self.bounds)
        if self.kind == "decimal":
            parts.append("a decimal number")
        parts.append(f"default {self.default_text}")
        return "; ".join(parts) + "."

    @property
    def default_text(self) -> str:
        # a boolean's is its choice's value: the form's select shows the default selected
        if isinstance(self.default, bool):
            return "true" if self.default else "false"
        return "" if self.default is None else str(self.default)


def _kind(spec: Mapping) -> str:
    types = spec.get("type")
    types = set(types) if isinstance(types, list) else {types}
    if "enum" in spec:
        return "choice"
    if types == {"integer"}:
        return "integer"
    if types == {"number"}:
        return "number"
    if "string" in types and "pattern" in spec:
        return "decimal"  # tradecore's Decimal fields: a number or its string
    if types == {"boolean"}:
        return "boolean"
    return "text"


def schema_fields(strategy: str, schema: Mapping) -> list[ParamField]:
    """The form fields of a strategy's parameters, in the schema's order."""
    fields = []
    for name, spec in (schema.get("properties") or {}).items():
        fields.append(
            ParamField(
                strategy=strategy,
                name=name,
                label=name.replace("_", " ").capitalize(),
                kind=_kind(spec),
                default=spec.get("default"),
                help=str(spec.get("description", "")),
                minimum=spec.get("minimum"),
                maximum=spec.get("maximum"),
                exclusive_minimum=spec.get("exclusiveMinimum"),
                exclusive_maximum=spec.get("exclusiveMaximum"),
                choices=tuple(spec.get("enum", ()))
                or (("true", "false") if _kind(spec) == "boolean" else ()),
            )
        )
    return fields


_NUMBER_WORDS = {
    "integer": "a whole number",
    "number": "a number",
    "decimal": "a decimal number",
    "boolean": "true or false",
    "choice": "one of the listed choices",
}


def _convert(param: ParamField, text: str):
    if param.kind == "integer":
        try:
            number = float(text)
        except ValueError:
            return None
        return int(number) if number.is_integer() else None
    if param.kind == "number":
        try:
            number = float(text)
        except ValueError:
            return None
        return number if number == number and abs(number) != float("inf") else None
    if param.kind == "boolean":
        return {"true": True, "false": False}.get(text.lower())
    if param.kind == "choice" and text not in [str(c) for c in param.choices]:
        return None
    return text  # decimals stay text (exact); choices and text as given


def params_from_post(
    strategy: str, fields: list[ParamField], data: Mapping
) -> tuple[dict, dict[str, str]]:
    """The posted values of `strategy`'s fields as parameters (empty fields left out: the
    default applies), and an error for each field whose value is not of its type, keyed
    `params.<name>` as the services key theirs."""
    params, errors = {}, {}
    for param in fields:
        text = str(data.get(param.html_name, "")).strip()
        if not text:
            continue
        value = _convert(param, text)
        if value is None:
            errors[f"params.{param.name}"] = f"Enter {_NUMBER_WORDS[param.kind]} (got {text!r})."
            continue
        params[param.name] = value
    return params, errors
