"""Log redaction: secrets never reach a log line, whatever path they take into a record.

Two mechanisms, both applied by RedactSecretsFilter (installed on every handler):
- values registered with `register_secret()` (the Django secret key, master keys, every exchange
  secret the moment it is decrypted) are replaced wherever they appear;
- values that sit next to a sensitive name (api_key=..., "secret": "...", Authorization: ...,
  signature=..., password, token, passphrase) are replaced by pattern, and so is the token in
  a bot's alert URL (/hooks/<token>).
It covers the message and its arguments, `extra` fields, exception text and stack info.
"""

from __future__ import annotations

import logging
import re
import threading
import traceback
from typing import Any

REDACTED = "[REDACTED]"
_MIN_SECRET_LENGTH = 6

_SENSITIVE_NAME = (
    r"(?:api[_-]?key|apikey|x-mbx-apikey|api[_-]?secret|secret(?:[_-]?key)?|private[_-]?key|"
    r"passphrase|password|passwd|pwd|token|access[_-]?token|refresh[_-]?token|authorization|"
    r"signature|master[_-]?keys?|otp[_-]?secret|sessionid|csrftoken)"
)
# name = value | name: value | "name": "value" | 'name': 'value' | Authorization: Bearer xyz
_PAIR = re.compile(
    rf"""(?ix)
    (?P<key>["']?{_SENSITIVE_NAME}["']?)
    (?P<sep>\s*[:=]\s*)
    (?P<value>
        "(?:[^"\\]|\\.)*"            # double-quoted
      | '(?:[^'\\]|\\.)*'            # single-quoted
      | (?:bearer|token|basic)\s+[^\s,;&'"}}\]]+   # auth scheme + credential
      | [^\s,;&'"}}\]]+              # bare
    )
    """
)
# secrets that are a path segment: a bot's alert URL (trading.services.webhooks)
_SECRET_PATH = re.compile(r"(?P<path>/hooks/)[A-Za-z0-9_-]{6,}")
_SENSITIVE_KEY = re.compile(rf"(?i)^{_SENSITIVE_NAME}$|{_SENSITIVE_NAME}")

_secrets: set[str] = set()
_secrets_lock = threading.Lock()
_secrets_pattern: re.Pattern | None = None

_STANDARD_ATTRS = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}


def register_secret(value: str | bytes | None) -> None:
    """Remember a secret value so it is redacted wherever it shows up in a log record."""
    global _secrets_pattern
    if value is None:
        return
    if isinstance(value, bytes):
        try:
            value = value.decode()
        except UnicodeDecodeError:
            return
    if len(value) < _MIN_SECRET_LENGTH:
        return
    with _secrets_lock:
        if value in _secrets:
            return
        _secrets.add(value)
        ordered = sorted(_secrets, key=len, reverse=True)
        _secrets_pattern = re.compile("|".join(re.escape(s) for s in ordered))


def redact_text(text: str) -> str:
    """Return text with registered secrets and sensitive name/value pairs replaced."""
    pattern = _secrets_pattern
    if pattern is not None:
        text = pattern.sub(REDACTED, text)
    text = _SECRET_PATH.sub(rf"\g<path>{REDACTED}", text)
    return _PAIR.sub(_replace_pair, text)


def _replace_pair(match: re.Match) -> str:
    value = match.group("value")
    if value.startswith(("'", '"')):
        quote = value[0]
        return f"{match.group('key')}{match.group('sep')}{quote}{REDACTED}{quote}"
    return f"{match.group('key')}{match.group('sep')}{REDACTED}"


def redact_value(value: Any, key: str | None = None) -> Any:
    """Redact a structured value: sensitive keys lose their value, strings are scrubbed."""
    if key is not None and _SENSITIVE_KEY.search(key) and value not in (None, ""):
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, bytes):
        return redact_text(value.decode("utf-8", "replace"))
    if isinstance(value, dict):
        return {k: redact_value(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return (
            type(value)(redact_value(v) for v in value)
            if not isinstance(value, set)
            else [redact_value(v) for v in value]
        )
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    return redact_text(repr(value))


class RedactSecretsFilter(logging.Filter):
    """Scrub secrets from every part of a record before any formatter sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not lose the line
            message = f"{record.msg!r} {record.args!r}"
        record.msg = redact_text(message)
        record.args = None
        if record.exc_info:
            text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
            record.exc_text = redact_text(text)
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        for name, value in list(vars(record).items()):
            if name not in _STANDARD_ATTRS:
                setattr(record, name, redact_value(value, name))
        return True
