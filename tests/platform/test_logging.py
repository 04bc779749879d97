"""A canary secret logged through every path appears in no log line, text or JSON."""

import io
import json
import logging
import logging.config

import pytest
from django.conf import settings

from config.logging import REDACTED, register_secret

CANARY = "CANARY-s3cr3t-9f8e7d6c5b4a"
UNREGISTERED = "unregistered-T0ken-value-1234"


@pytest.fixture(params=["text", "json"])
def captured(request):
    config = json.loads(json.dumps(settings.LOGGING, default=str))
    config["handlers"]["console"]["formatter"] = request.param
    logging.config.dictConfig(config)
    stream = io.StringIO()
    handler = logging.getLogger().handlers[0]
    handler.setStream(stream)
    yield stream
    logging.config.dictConfig(settings.LOGGING)


def _log_everything(secret: str) -> None:
    log = logging.getLogger("peregrine.test")
    log.warning("plain %s", secret)
    log.warning(f"api_key={secret} and secret: {secret}")
    log.warning("dict arg %s", {"api_key": secret, "nested": {"password": secret}})
    log.warning("json body %s", json.dumps({"secret": secret, "signature": secret}))
    log.warning("header Authorization: Bearer %s", secret)
    log.warning("query ?signature=%s&timestamp=1", secret)
    log.warning("with extra", extra={"credentials": {"token": secret}, "note": f"x {secret}"})
    try:
        raise ValueError(f"failed with passphrase={secret}")
    except ValueError:
        log.exception("exception path")
    log.warning("stack path", stack_info=True, extra={"api_secret": secret})
    logging.getLogger("django.request").error("request failed: %s", {"HTTP_AUTHORIZATION": secret})
    logging.getLogger("celery.app.trace").error("task args %r", ((secret,), {"token": secret}))


def test_registered_canary_appears_in_no_log_line(captured):
    register_secret(CANARY)
    _log_everything(CANARY)
    output = captured.getvalue()
    assert output.count("\n") >= 11, output
    assert CANARY not in output
    assert REDACTED in output


def test_values_next_to_sensitive_names_are_redacted_even_unregistered(captured):
    log = logging.getLogger("peregrine.test")
    log.warning("api_key=%s", UNREGISTERED)
    log.warning('payload {"secret": "%s"}', UNREGISTERED)
    log.warning("Authorization: Bearer %s", UNREGISTERED)
    log.warning("auth", extra={"password": UNREGISTERED})
    output = captured.getvalue()
    assert UNREGISTERED not in output
    assert output.count(REDACTED) >= 3  # the `extra` field shows only in JSON lines


def test_ordinary_values_are_left_alone(captured):
    logging.getLogger("peregrine.test").warning("order %s filled at %s", "abc-123", "42000.50")
    assert "order abc-123 filled at 42000.50" in captured.getvalue()
