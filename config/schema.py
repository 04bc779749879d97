"""The OpenAPI schema describes the API exactly; this module holds what every operation shares.

- `paginated(Serializer)`: the page object a paginated list returns (`count`, `next`, `previous`,
  `results`), documented as such instead of as a plain array; `AutoSchema` names its operation
  `..._list`.
- `postprocess` (a drf-spectacular postprocessing hook) adds to every operation the error
  responses the shared layers give it, all in the one error shape of config/api.py:
  400 (any operation: the input layer refuses an unusable query string on every route, and
  bodies and parameters are validated), 401 and 403 (any operation that needs a caller: no or a
  bad token; a read token trading, a missing CSRF token on a session), 404 (an operation with a
  path parameter: someone else's object is not found, like a missing one), 405 is left to HTTP,
  and 429 with `Retry-After` (the API's request rate limits, config/settings.py). Integer
  parameters get the 64-bit bounds the input layer holds them to.
- Exact decimal strings: drf-spectacular's pattern for a decimal string accepts the empty
  string, which no decimal field accepts; the pattern is tightened to need a digit.
"""

from __future__ import annotations

import re
from functools import cache

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from rest_framework import serializers

ERROR_COMPONENT = "Error"
ERROR_SCHEMA = {
    "type": "object",
    "description": "Every refusal of the API has this shape.",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string", "description": "machine-readable, e.g. `invalid`"},
                "message": {"type": "string", "description": "what went wrong, in words"},
                "fields": {
                    "type": "object",
                    "description": "per input field (or parameter), its messages",
                    "additionalProperties": {},
                },
            },
            "required": ["code", "message", "fields"],
        }
    },
    "required": ["error"],
}
ERROR_DESCRIPTIONS = {
    "400": "Bad input: a parameter or the body cannot be used (see `fields`); nothing changed.",
    "401": "No credentials, or an invalid, expired or revoked API token.",
    "403": "Not allowed: a read-scope token trading, a session without its CSRF token, or an "
    "action this account may not take.",
    "404": "No such object for this caller (someone else's objects are not found either).",
    "429": "Too many requests: retry after the number of seconds in `Retry-After`.",
}


def page_parameters() -> list:
    """The `limit` and `offset` query parameters of config.inputs.Pagination."""
    from drf_spectacular.utils import OpenApiParameter

    from config.inputs import INT64_MAX, MAX_PAGE_SIZE

    return [
        OpenApiParameter(
            "limit",
            {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
            description=f"items a page (default 100, at most {MAX_PAGE_SIZE})",
        ),
        OpenApiParameter(
            "offset",
            {"type": "integer", "minimum": 0, "maximum": INT64_MAX},
            description="items to skip",
        ),
    ]


@cache
def paginated(serializer_class: type[serializers.Serializer]) -> type[serializers.Serializer]:
    """The page object of `config.inputs.Pagination` around items of `serializer_class`."""
    base = serializer_class.__name__.removesuffix("Serializer")
    return type(
        f"Paginated{base}ListSerializer",
        (serializers.Serializer,),
        {
            "__module__": __name__,
            "__doc__": f"A page of {base} items (limit/offset pagination).",
            "count": serializers.IntegerField(help_text="items in the whole list"),
            "next": serializers.URLField(allow_null=True, help_text="the next page, or null"),
            "previous": serializers.URLField(
                allow_null=True, help_text="the previous page, or null"
            ),
            "results": serializer_class(many=True),
            "is_page": True,
        },
    )


class AutoSchema(SpectacularAutoSchema):
    """drf-spectacular's, naming an operation that returns a `paginated` page `..._list` (as
    for any list), not `..._retrieve` (which collides with the detail route's)."""

    def get_operation_id(self):
        operation_id = super().get_operation_id()
        if self.method == "GET" and operation_id.endswith("_retrieve"):
            responses = self.get_response_serializers()
            if getattr(responses, "is_page", False):
                return operation_id.removesuffix("_retrieve") + "_list"
        return operation_id


_DECIMAL_PATTERN = re.compile(r"^\^-\?\\d\{0,(\d+)\}\(\?:\\\.\\d\{0,(\d+)\}\)\?\$$")


def _tighten_decimal(node) -> None:
    """Walk a schema tree; give decimal strings a pattern that needs at least one digit."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            pattern = item.get("pattern")
            if item.get("format") == "decimal" and isinstance(pattern, str):
                match = _DECIMAL_PATTERN.match(pattern)
                if match:
                    whole, frac = match.groups()
                    item["pattern"] = (
                        rf"^-?(?:\d{{1,{whole}}}(?:\.\d{{0,{frac}}})?|\.\d{{1,{frac}}})$"
                        if int(frac)
                        else rf"^-?\d{{1,{whole}}}$"
                    )
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _error_response(code: str) -> dict:
    response = {
        "description": ERROR_DESCRIPTIONS[code],
        "content": {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}}
        },
    }
    if code == "429":
        response["headers"] = {
            "Retry-After": {
                "schema": {"type": "integer"},
                "description": "seconds to wait before the next request",
            }
        }
    return response


def _bound_integer(schema) -> None:
    """A query or path integer is within 64 bits (config.inputs refuses any other)."""
    from config.inputs import INT64_MAX

    if isinstance(schema, dict) and schema.get("type") == "integer":
        schema.setdefault("maximum", INT64_MAX)
        schema.setdefault("minimum", -INT64_MAX)


def postprocess(result, generator, request, public):
    """drf-spectacular postprocessing hook (SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"])."""
    result.setdefault("components", {}).setdefault("schemas", {})[ERROR_COMPONENT] = ERROR_SCHEMA
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in {"get", "put", "patch", "post", "delete", "head", "options"}:
                continue
            responses = operation.setdefault("responses", {})
            codes = ["400"]
            if operation.get("security") and {} not in operation["security"]:
                codes += ["401", "403"]
            has_path_parameter = "{" in path
            if has_path_parameter or operation.pop("x-not-found", False):
                codes.append("404")
            codes.append("429")
            for code in codes:
                responses.setdefault(code, _error_response(code))
            for parameter in operation.get("parameters", []):
                _bound_integer(parameter.get("schema"))
    _tighten_decimal(result.get("components", {}))
    _tighten_decimal(result.get("paths", {}))
    return result
