"""One error shape for the whole API: {"error": {"code", "message", "fields"}}."""

from rest_framework.views import exception_handler as drf_exception_handler


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
