"""Orders by hand for the signed-in requester: what the trading panel and the API share.

Both hand the typed fields to trading.services.manual with the requester's IP (the audit
trail) and whether the session is past two-factor sign-in (real money needs it); each maps the
service's ValidationError to its own error shape (form field errors, the API's error body).
"""

from __future__ import annotations

from accounts.security import client_ip
from trading.models import Order
from trading.services import manual


def second_factor_verified(request) -> bool:
    """The session is past two-factor sign-in (trading real money by hand needs it)."""
    is_verified = getattr(request.user, "is_verified", None)
    return bool(is_verified()) if callable(is_verified) else False


def manual_panel_for_request(request, account, *, sync: bool = True) -> manual.Panel:
    """The panel of `account` as the requester sees it (synced with the exchange first)."""
    return manual.manual_panel_get(
        user=request.user,
        account=account,
        sync=sync,
        second_factor_verified=second_factor_verified(request),
    )


def manual_order_place_for_request(request, account, fields: dict) -> Order:
    """Place the order `fields` describe (symbol, side, type, qty, price); ValidationError."""
    return manual.manual_order_place(
        user=request.user,
        account=account,
        ip=client_ip(request),
        second_factor_verified=second_factor_verified(request),
        **fields,
    )


def manual_order_cancel_for_request(request, account, order_id) -> Order:
    """Cancel the requester's order by hand `order_id` (Http404 for anyone else's)."""
    order = manual.manual_order_get(user=request.user, account=account, id=order_id)
    return manual.manual_order_cancel(
        user=request.user, account=account, order=order, ip=client_ip(request)
    )
