"""The trading panel of an exchange account: place and cancel orders by hand (owner only).

Orders go through trading.services.manual (the order manager, risk checks, durable intent,
books and audit trail bots use). The open orders and balances refresh by polling every few
seconds: the manual orders have no runner, so the poll is what brings a resting order's fills
into the books, through the same reconciliation a live bot's poll runs.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from accounts.security import client_ip
from exchanges.selectors import exchange_account_get_for_user
from trading.services import manual

REFRESH_SECONDS = 3


class ManualOrderForm(forms.Form):
    """The order as typed; numbers are read and checked by the service (clear field errors)."""

    symbol = forms.ChoiceField(label="Market")
    side = forms.ChoiceField(choices=[("buy", "Buy"), ("sell", "Sell")])
    type = forms.ChoiceField(label="Type", choices=[("limit", "Limit"), ("market", "Market")])
    qty = forms.CharField(label="Quantity", max_length=40)
    price = forms.CharField(
        label="Limit price", max_length=40, required=False, help_text="Limit orders only."
    )

    def __init__(self, *args, symbols=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["symbol"].choices = [(s, s) for s in symbols]


def _verified(request) -> bool:
    """The session is past two-factor sign-in (trading real money by hand needs it)."""
    is_verified = getattr(request.user, "is_verified", None)
    return bool(is_verified()) if callable(is_verified) else False


def _panel(request, account, *, sync: bool = True):
    return manual.manual_panel_get(
        user=request.user, account=account, sync=sync, second_factor_verified=_verified(request)
    )


def _apply_errors(form, exc: ValidationError) -> None:
    for name, errors in exc.message_dict.items():
        form.add_error(name if name in form.fields else None, errors)


def _context(panel, form) -> dict:
    return {"account": panel.account, "panel": panel, "form": form, "refresh": REFRESH_SECONDS}


@never_cache
@login_required
@require_GET
def account_trade(request, id):  # noqa: A002
    """The panel: order form, balances, open orders with cancel, recent fills by hand."""
    account = exchange_account_get_for_user(user=request.user, id=id)
    panel = _panel(request, account)
    form = ManualOrderForm(symbols=panel.symbols, initial={"symbol": "BTC/USDT"})
    return render(request, "exchanges/account_trade.html", _context(panel, form))


@never_cache
@login_required
@require_GET
def account_trade_state(request, id):  # noqa: A002
    """The live part of the panel (balances, open orders, fills), synced with the exchange."""
    account = exchange_account_get_for_user(user=request.user, id=id)
    panel = _panel(request, account)
    return render(request, "exchanges/_trade_state.html", _context(panel, None))


@never_cache
@login_required
@require_POST
def account_trade_place(request, id):  # noqa: A002
    """Place an order by hand; the form comes back with its errors, or cleared."""
    account = exchange_account_get_for_user(user=request.user, id=id)
    symbols = _panel(request, account, sync=False).symbols
    form = ManualOrderForm(request.POST, symbols=symbols or [request.POST.get("symbol", "")])
    placed = None
    if form.is_valid():
        try:
            placed = manual.manual_order_place(
                user=request.user,
                account=account,
                ip=client_ip(request),
                second_factor_verified=_verified(request),
                **form.cleaned_data,
            )
        except ValidationError as exc:
            _apply_errors(form, exc)
    if not request.htmx:
        if placed is not None:
            messages.success(request, _placed_text(placed))
            return redirect("exchanges:account-trade", id=account.pk)
        panel = _panel(request, account, sync=False)
        return render(request, "exchanges/account_trade.html", _context(panel, form), status=400)
    panel = _panel(request, account, sync=False)
    if placed is not None:
        initial = {k: form.cleaned_data[k] for k in ("symbol", "side", "type")}
        form = ManualOrderForm(symbols=panel.symbols, initial=initial)
    context = {**_context(panel, form), "placed": placed, "placed_text": _placed_text(placed)}
    return render(request, "exchanges/_trade_form_response.html", context)


def _placed_text(order) -> str:
    if order is None:
        return ""
    what = f"{order.side} {order.qty.normalize()} {order.symbol}"
    if order.price is not None:
        what += f" at {order.price.normalize()}"
    return f"Order {order.client_order_id} ({what}): {order.get_status_display().lower()}."


@never_cache
@login_required
@require_POST
def account_trade_cancel(request, id, order_id):
    """Cancel an open order placed by hand."""
    account = exchange_account_get_for_user(user=request.user, id=id)
    order = manual.manual_order_get(user=request.user, account=account, id=order_id)
    error = ""
    try:
        manual.manual_order_cancel(
            user=request.user, account=account, order=order, ip=client_ip(request)
        )
    except ValidationError as exc:
        error = " ".join(exc.messages)
    if not request.htmx:
        if error:
            messages.error(request, error)
        else:
            messages.success(request, f"Order {order.client_order_id} cancelled.")
        return redirect("exchanges:account-trade", id=account.pk)
    panel = _panel(request, account, sync=False)
    context = {**_context(panel, None), "cancel_error": error}
    return render(request, "exchanges/_trade_state.html", context)
