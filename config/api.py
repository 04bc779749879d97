"""One error shape for the whole API: {"error": {"code", "message", "fields"}}; and the two
steps every API write shares: validating a body with its input serializer, and turning a
service's Django ValidationError into the API's 400."""

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers
from rest_framework.views import exception_handler as drf_exception_handler


def validated(serializer_class, data) -> dict:
    """The body checked by `serializer_class` (a 400 naming the fields otherwise)."""
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def invalid(exc: DjangoValidationError) -> serializers.ValidationError:
    """A service's refusal as the API's 400, field by field where it names fields."""
    detail = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
    return serializers.ValidationError(detail)


def exception_handler(exc, context):
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    code = getattr(exc, "default_code", "error")
    fields = {}
    if isinstance(data, dict):
        detail = data.get("detail")
        fields = {k: v for k, v in data.items() if k != "detail"}
        message = str(detail) if detail is not None else "Invalid input."
    elif isinstance(data, list):
        message = " ".join(str(item) for item in data)
    else:
        message = str(data)
    response.data = {"error": {"code": str(code), "message": message, "fields": fields}}
    return response
