"""A user's data as one zip archive, streamed: built member by member while it is sent, never
whole in memory. Reads only the user's own rows; secrets never enter it.

Members: account.json (the user, verification status, API tokens' and sessions' metadata),
exchange_accounts.json (label, exchange, mode, status, last 4 of the key — no key, secret or
passphrase, not even as ciphertext), bots.json, orders.csv, fills.csv, audit_events.csv (what the
security log shows) and README.txt.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal

from django.utils import timezone

# Column names that never leave the database, whatever model they are on.
_NEVER = ("ciphertext", "secret", "token_hash", "session_key", "password", "passphrase", "key_")
_CHUNK = 64 * 1024

README = """Your Peregrine data, as of {now} (UTC).

account.json            your account, verification status, API tokens (names, scopes, dates;
                        never the token) and signed-in sessions
exchange_accounts.json  your exchange accounts (never the API key, secret or passphrase)
bots.json               your bots, their settings, venues and last state
orders.csv, fills.csv   every order and fill of your bots (decimal point, UTC times)
audit_events.csv        your security log: every recorded action on your account
"""


def _exportable(field) -> bool:
    name = field.attname.lower()
    return not any(part in name for part in _NEVER) or name.endswith("_last4")


def _columns(model) -> list[str]:
    return [f.attname for f in model._meta.concrete_fields if _exportable(f)]


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date | Decimal):
        return str(value)
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def _json_default(value):
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return str(value)  # Decimal (exact), date, UUID


class _Sink(io.RawIOBase):
    """An unseekable file that keeps what zipfile writes until the generator hands it on."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.parts.append(bytes(data))
        self.size += len(data)
        return len(data)

    def take(self) -> bytes:
        out, self.parts, self.size = b"".join(self.parts), [], 0
        return out


def _rows(queryset, columns: list[str]) -> Iterator[list]:
    for row in queryset.values_list(*columns).iterator(chunk_size=2000):
        yield [_text(v) for v in row]


def _records(queryset, columns: list[str]) -> list[dict]:
    return [dict(zip(columns, row, strict=True)) for row in queryset.values_list(*columns)]


def _account(user) -> dict:
    from accounts.models import ApiToken, User, UserSession
    from accounts.services.verification import verification_get

    verification = verification_get(user=user)
    return {
        "user": _records(
            User.objects.filter(pk=user.pk),
            ["id", "email", "first_name", "last_name", "date_joined", "last_login", "is_active"],
        )[0],  # fmt: skip
        "verification": {"status": verification.status, "updated_at": verification.updated_at},
        "api_tokens": _records(ApiToken.objects.filter(user_id=user.pk), _columns(ApiToken)),
        "sessions": _records(UserSession.objects.filter(user_id=user.pk), _columns(UserSession)),
    }


def _bots(user) -> list[dict]:
    from trading.models import Bot, BotVenue

    bots = _records(Bot.objects.filter(user_id=user.pk).order_by("id"), _columns(Bot))
    venues = _records(BotVenue.objects.filter(bot__user_id=user.pk), _columns(BotVenue))
    for bot in bots:
        bot["venues"] = [v for v in venues if v["bot_id"] == bot["id"]]
    return bots


def _json_members(user) -> Iterable[tuple[str, object]]:
    from exchanges.models import ExchangeAccount

    accounts = ExchangeAccount.objects.filter(user_id=user.pk)
    yield "account.json", _account(user)
    yield "exchange_accounts.json", _records(accounts, _columns(ExchangeAccount))
    yield "bots.json", _bots(user)


def _csv_members(user) -> Iterable[tuple[str, list[str], Iterator[list]]]:
    from compliance.models import AuditEvent
    from compliance.selectors import audit_event_list
    from trading.models import Fill, Order

    for name, model in (("orders.csv", Order), ("fills.csv", Fill)):
        columns = _columns(model)
        rows = model.objects.filter(user_id=user.pk).order_by("id")
        yield name, columns, _rows(rows, columns)
    columns = _columns(AuditEvent)
    yield "audit_events.csv", columns, _rows(audit_event_list(user=user).order_by("id"), columns)


def user_data_archive(*, user) -> Iterator[bytes]:
    """The zip archive of the user's data, in chunks of about 64 KiB."""
    sink = _Sink()
    with zipfile.ZipFile(sink, mode="w", compression=zipfile.ZIP_DEFLATED) as archive:
        now = timezone.now().strftime("%Y-%m-%d %H:%M:%S")
        archive.writestr("README.txt", README.format(now=now))
        for name, data in _json_members(user):
            text = json.dumps(data, indent=2, sort_keys=True, default=_json_default)
            archive.writestr(name, text)
            yield sink.take()
        for name, columns, rows in _csv_members(user):
            with (
                archive.open(name, "w") as member,
                io.TextIOWrapper(member, encoding="utf-8", newline="") as text,
            ):
                writer = csv.writer(text)
                writer.writerow(columns)
                for row in rows:
                    writer.writerow(row)
                    if sink.size >= _CHUNK:
                        text.flush()
                        yield sink.take()
            yield sink.take()
    yield sink.take()


def user_data_archive_response(*, user):
    """A streamed download of the user's archive (not cached anywhere on the way)."""
    from django.http import StreamingHttpResponse

    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response = StreamingHttpResponse(user_data_archive(user=user), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="peregrine-data-{stamp}.zip"'
    response["Cache-Control"] = "no-store"
    return response
