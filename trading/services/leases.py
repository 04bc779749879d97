"""The bot lease: one runner per bot, with a fencing token every runtime write checks.

All times are the database's (`now()`), so runners on machines with skewed clocks agree. The
token only grows: acquiring or revoking increments it, and a write carrying an older token is
refused (LeaseLost), so a runner that stalled past its lease can no longer change the books.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection, transaction


class LeaseLost(Exception):
    """This runner's token is no longer the bot's: stop at once, write nothing more."""


@dataclass(frozen=True)
class Renewal:
    """A renewed lease and the bot's status read in the same statement."""

    status: str
    status_reason: str


_ACQUIRE = """
UPDATE trading_botlease
   SET token = token + 1, holder = %s, acquired_at = now(), renewed_at = now(),
       expires_at = now() + make_interval(secs => %s)
 WHERE bot_id = %s
   AND (expires_at IS NULL OR expires_at <= now() OR token = %s)
RETURNING token, (SELECT status FROM trading_bot WHERE id = bot_id)
"""
_RENEW = """
UPDATE trading_botlease AS l
   SET renewed_at = now(), expires_at = now() + make_interval(secs => %s)
  FROM trading_bot AS b
 WHERE l.bot_id = %s AND l.token = %s AND b.id = l.bot_id
RETURNING b.status, b.status_reason
"""


def lease_acquire(
    *, bot_id: int, holder: str, ttl_seconds: float, handover_token: int | None = None
) -> int | None:
    """Take the lease if nobody holds it (or it expired, or `handover_token` still holds it).

    Returns the new fencing token, or None when another runner holds the lease.
    """
    taken = lease_take(
        bot_id=bot_id, holder=holder, ttl_seconds=ttl_seconds, handover_token=handover_token
    )
    return None if taken is None else taken[0]


def lease_take(
    *, bot_id: int, holder: str, ttl_seconds: float, handover_token: int | None = None
) -> tuple[int, str] | None:
    """`lease_acquire`, also reading the bot's status in the same statement: (token, status)."""
    with transaction.atomic(), connection.cursor() as cursor:
        # a slice message can outlive its bot (deleted since): insert only for a bot that
        # exists, so the lease's foreign key cannot fail at commit; then nothing is taken
        cursor.execute(
            "INSERT INTO trading_botlease (bot_id, token, holder) "
            "SELECT id, 0, '' FROM trading_bot WHERE id = %s "
            "ON CONFLICT (bot_id) DO NOTHING",
            [bot_id],
        )
        cursor.execute(_ACQUIRE, [holder[:200], ttl_seconds, bot_id, handover_token or -1])
        row = cursor.fetchone()
    return None if row is None else (int(row[0]), row[1])


def lease_renew(*, bot_id: int, token: int, ttl_seconds: float) -> Renewal:
    """Extend the lease and read the bot's status; LeaseLost if the token is no longer ours."""
    with connection.cursor() as cursor:
        cursor.execute(_RENEW, [ttl_seconds, bot_id, token])
        row = cursor.fetchone()
    if row is None:
        raise LeaseLost(f"bot {bot_id}: lease token {token} was taken over")
    return Renewal(row[0], row[1])


def lease_hand_over(*, bot_id: int, token: int, grace_seconds: float) -> bool:
    """End a slice: keep the lease `grace_seconds` for the next slice, which takes it over."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE trading_botlease SET expires_at = now() + make_interval(secs => %s) "
            "WHERE bot_id = %s AND token = %s",
            [grace_seconds, bot_id, token],
        )
        return cursor.rowcount == 1


def lease_release(*, bot_id: int, token: int) -> bool:
    """Give the lease up (the bot stopped or paused); the token stays, so it keeps growing."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE trading_botlease SET holder = '', expires_at = NULL "
            "WHERE bot_id = %s AND token = %s",
            [bot_id, token],
        )
        return cursor.rowcount == 1


def lease_revoke(*, bot_id: int) -> int:
    """Fence out whoever holds the lease (kill switch); return the new token."""
    with connection.cursor() as cursor:
        # a slice message can outlive its bot (deleted since): insert only for a bot that
        # exists, so the lease's foreign key cannot fail at commit; then nothing is taken
        cursor.execute(
            "INSERT INTO trading_botlease (bot_id, token, holder) "
            "SELECT id, 0, '' FROM trading_bot WHERE id = %s "
            "ON CONFLICT (bot_id) DO NOTHING",
            [bot_id],
        )
        cursor.execute(
            "UPDATE trading_botlease SET token = token + 1, holder = '', expires_at = NULL "
            "WHERE bot_id = %s RETURNING token",
            [bot_id],
        )
        return int(cursor.fetchone()[0])


def lease_check(*, bot_id: int, token: int) -> None:
    """Inside a write transaction: lock the lease row and refuse the write if the token moved.

    The share lock makes a concurrent take-over wait for this transaction, so a write either
    commits before the token changes or is refused after it.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("lease_check must run inside transaction.atomic()")
    with connection.cursor() as cursor:
        cursor.execute("SELECT token FROM trading_botlease WHERE bot_id = %s FOR SHARE", [bot_id])
        row = cursor.fetchone()
    if row is None or int(row[0]) != token:
        raise LeaseLost(f"bot {bot_id}: lease token {token} was taken over")


def lease_is_live(*, bot_id: int) -> bool:
    """True while some runner holds an unexpired lease on the bot."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM trading_botlease WHERE bot_id = %s AND expires_at > now()", [bot_id]
        )
        return cursor.fetchone() is not None
