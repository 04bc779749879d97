"""One input layer for every request: query parameters and JSON bodies are bounded before any view
sees them, so bad input gets a 400 that names the problem, never a 500 from the database.

- Query parameters (every request): a NUL character is refused (PostgreSQL cannot store or compare
  it); on the API, an integer-looking value beyond 64 bits is refused (it cannot be an id, a limit
  or an offset, and the database would fail on it).
- JSON bodies (the API's parser): at most `MAX_JSON_DEPTH` levels of nesting (deeper documents
  overflow the parser's recursion) and no NUL in any string or key.
- Pagination: `limit` a whole number from 1 to `MAX_PAGE_SIZE`, `offset` a whole number from 0;
  anything else is refused (400), not silently replaced by the default.
- Text fields take text: DRF's CharField turns a JSON number into a string (`{"reason": 0}`
  became "0"); here a CharField refuses anything but a string, as the schema says.

Timestamps have their own bounds where they are parsed (`epoch_ms_field`).
"""

from __future__ import annotations

import json

from django.http import JsonResponse
from rest_framework import serializers
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.parsers import JSONParser

MAX_JSON_DEPTH = 32
MAX_PAGE_SIZE = 1000
INT64_MAX = 2**63 - 1
# epoch milliseconds of 9999-12-31T23:59:59.999Z: the last instant a datetime can hold
MAX_EPOCH_MS = 253_402_300_799_999


def _bad_request(request, message: str, field: str):
    body = {"error": {"code": "invalid", "message": message, "fields": {field: [message]}}}
    if request.path.startswith("/api/"):
        return JsonResponse(body, status=400)
    from django.http import HttpResponseBadRequest

    return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")


def query_problem(request) -> tuple[str, str] | None:
    """The first (parameter, message) a query string cannot be used with, or None."""
    api = request.path.startswith("/api/")
    for name, values in request.GET.lists():
        if "\x00" in name:
            return "query", "Query parameter names cannot contain NUL characters."
        for value in values:
            if "\x00" in value:
                return name, f"{name}: NUL characters are not allowed."
            digits = value[1:] if value[:1] in "+-" else value
            if api and digits.isascii() and digits.isdigit() and int(digits) > INT64_MAX:
                return name, f"{name}: {value[:30]} is out of range."
    return None


class InputGuardMiddleware:
    """Refuses a request whose query string no view could use (see the module docstring)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        problem = query_problem(request)
        if problem is not None:
            field, message = problem
            return _bad_request(request, message, field)
        return self.get_response(request)


def _check_structure(document) -> None:
    """Depth and NUL checks without recursion (an attacker picks the depth)."""
    stack = [(document, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise ParseError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels.")
        if isinstance(node, dict):
            for key, value in node.items():
                if "\x00" in key:
                    raise ParseError("JSON keys cannot contain NUL characters.")
                stack.append((value, depth + 1))
        elif isinstance(node, list):
            stack.extend((value, depth + 1) for value in node)
        elif isinstance(node, str) and "\x00" in node:
            raise ParseError("JSON strings cannot contain NUL characters.")


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser with the depth and NUL bounds of this module."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            document = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels.") from None
        except json.JSONDecodeError as exc:  # defensive: DRF wraps most of these already
            raise ParseError(f"JSON parse error - {exc}") from None
        _check_structure(document)
        return document


class Pagination(LimitOffsetPagination):
    """Limit/offset pages of at most MAX_PAGE_SIZE items; a bad limit or offset is a 400."""

    max_limit = MAX_PAGE_SIZE

    def _whole(self, request, name: str, minimum: int, maximum: int | None):
        raw = request.query_params.get(name)
        if raw is None:
            return None
        text = raw.strip()
        if not (text.isascii() and text.isdigit()) or int(text) < minimum:
            raise ValidationError({name: [f"Give a whole number from {minimum}."]})
        value = int(text)
        if maximum is not None and value > maximum:
            raise ValidationError({name: [f"At most {maximum}."]})
        return value

    def get_limit(self, request):
        limit = self._whole(request, self.limit_query_param, 1, self.max_limit)
        return self.default_limit if limit is None else limit

    def get_offset(self, request):
        offset = self._whole(request, self.offset_query_param, 0, INT64_MAX)
        return 0 if offset is None else offset


def _strict_char_to_internal_value(self, data):
    if not isinstance(data, str):
        self.fail("invalid")
    return _lenient_char_to_internal_value(self, data)


# one place for every serializer's text fields (see the module docstring)
_lenient_char_to_internal_value = serializers.CharField.to_internal_value
if not getattr(serializers.CharField.to_internal_value, "strict", False):
    _strict_char_to_internal_value.strict = True
    serializers.CharField.to_internal_value = _strict_char_to_internal_value


def epoch_ms_field(**kwargs) -> serializers.IntegerField:
    """An epoch-milliseconds query or body field a datetime can hold (year 1970 to 9999)."""
    return serializers.IntegerField(min_value=0, max_value=MAX_EPOCH_MS, **kwargs)
