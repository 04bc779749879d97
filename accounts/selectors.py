"""Reads of the accounts app, scoped to their owner: an outsider gets 404."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from accounts.models import ApiToken, UserSession


def user_session_list(*, user) -> QuerySet[UserSession]:
    """The user's signed-in sessions, most recently seen first."""
    return UserSession.objects.filter(user_id=user.pk).order_by("-last_seen_at")


def user_session_get_for_user(*, user, id) -> UserSession:  # noqa: A002
    try:
        return user_session_list(user=user).get(pk=int(id))
    except (UserSession.DoesNotExist, ValueError, TypeError):
        raise Http404("No such session.") from None


def api_token_list(*, user) -> QuerySet[ApiToken]:
    """The user's API tokens, newest first (revoked ones included, marked)."""
    return ApiToken.objects.filter(user_id=user.pk).order_by("-created_at")


def api_token_get_for_user(*, user, id) -> ApiToken:  # noqa: A002
    try:
        return api_token_list(user=user).get(pk=int(id))
    except (ApiToken.DoesNotExist, ValueError, TypeError):
        raise Http404("No such token.") from None


def account_data_summary(*, user) -> dict[str, int]:
    """What the data page says before a download or a deletion: the user's bots, live ones
    not stopped among them."""
    from trading.models import Bot

    bots = Bot.objects.filter(user_id=user.pk)
    live = bots.filter(mode=Bot.Mode.LIVE).exclude(status=Bot.Status.STOPPED)
    return {"bot_count": bots.count(), "live_running": live.count()}
