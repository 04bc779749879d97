"""An account's end of life: an operator disables it, or its owner deletes it.

Disabling stops the user's bots (a user-scoped kill switch: every bot killed, every order
cancelled, no bot may start until the account is enabled again), revokes their API tokens and
signs out every session. Deleting does the same, then removes the user and everything that
cascades from them (exchange accounts, bots, orders, fills...). The audit events stay, as the
audit rule requires: actor id and email, action, time, address and before/after of every event
the user ever caused remain in the append-only chain; the user's row does not.
"""

from __future__ import annotations

import logging

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import ProtectedError

from accounts.models import ApiToken, UserSession
from accounts.services.sessions import _session_store_delete
from accounts.services.tokens import api_token_revoke
from compliance.services import audit_record

logger = logging.getLogger(__name__)

DISABLED_REASON = "Account disabled by an operator."


def _sessions_end_all(user) -> int:
    sessions = list(UserSession.objects.filter(user_id=user.pk))
    for session in sessions:
        _session_store_delete(session.session_key)
        session.delete()
    return len(sessions)


def _tokens_revoke_all(user, ip: str | None) -> int:
    tokens = list(ApiToken.objects.filter(user_id=user.pk, revoked_at__isnull=True))
    for token in tokens:
        api_token_revoke(token=token, ip=ip)
    return len(tokens)


def user_disable(*, user, actor=None, ip: str | None = None) -> dict[str, int]:
    """Disable a user: bots killed and their orders cancelled, tokens revoked, sessions ended."""
    from trading.services.risk import kill_switch_engage

    with transaction.atomic():
        type(user).objects.filter(pk=user.pk).update(is_active=False)
        user.is_active = False
        tokens = _tokens_revoke_all(user, ip)
        sessions = _sessions_end_all(user)
    switch = kill_switch_engage(reason=DISABLED_REASON, user=user, actor=actor)
    result = {
        "bots_stopped": switch.bots_stopped,
        "orders_cancelled": switch.orders_cancelled,
        "tokens_revoked": tokens,
        "sessions_ended": sessions,
    }
    audit_record(actor=actor, action="user.disable", target=user, ip=ip, after=result)
    return result


def user_enable(*, user, actor=None, ip: str | None = None) -> None:
    """Enable a disabled user again; their bots stay stopped until they start them."""
    from trading.models import KillSwitch
    from trading.services.risk import kill_switch_release

    with transaction.atomic():
        type(user).objects.filter(pk=user.pk).update(is_active=True)
        user.is_active = True
        switches = KillSwitch.objects.filter(
            user_id=user.pk, released_at__isnull=True, reason=DISABLED_REASON
        )
        for switch in switches:
            kill_switch_release(switch=switch, actor=actor)
        audit_record(actor=actor, action="user.enable", target=user, ip=ip)


def account_delete(*, user, ip: str | None = None) -> None:
    """Delete the user's account at their request: bots stopped and orders cancelled first.

    Nothing is deleted while any order of theirs is still open (a live bot's cancels run on a
    worker after the kill; an exchange may be unreachable): the error says so and the account
    is left as it was, bots stopped, to be deleted on a later try.
    """
    from compliance.tax.exports import tax_exports_delete_for_user
    from trading.models import Bot, Fill, Order
    from trading.services.bots import bot_kill

    bots = Bot.objects.filter(user_id=user.pk).order_by("-mode", "id")  # live bots first
    for bot in bots:
        try:
            bot_kill(bot=bot, reason="the account is being deleted", actor=user)
        except Exception as exc:
            logger.exception("account deletion: bot %s could not be stopped", bot.pk)
            raise ValidationError(
                f"Your bot '{bot.name}' could not be stopped ({exc}); nothing was deleted."
            ) from exc
    if Order.objects.filter(user_id=user.pk, status__in=Order.ACTIVE).exists():
        # a live bot's orders are cancelled on the exchange by a task after the kill commits
        raise ValidationError(
            "Your bots are stopped, but some of their orders are still open on an exchange "
            "while they are being cancelled; nothing was deleted. Try again in a minute."
        )
    summary = {"email": user.email, "bots": bots.count()}
    try:
        with transaction.atomic():
            _tokens_revoke_all(user, ip)
            _sessions_end_all(user)
            audit_record(actor=user, action="account.delete", target=user, ip=ip, after=summary)
            # fills and orders keep their bot (PROTECT), so they go first, then everything
            # that cascades from the user
            Fill.objects.filter(user_id=user.pk).delete()
            Order.objects.filter(user_id=user.pk).delete()
            tax_exports_delete_for_user(user=user)  # their files, once this commits
            user.delete()
    except ProtectedError as exc:
        raise ValidationError(
            "Records that must be kept still refer to this account; contact the operator."
        ) from exc
