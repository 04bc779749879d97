"""The trading panel of an exchange account: place and cancel orders by hand (owner only).

Orders go through trading.services.manual (the order manager, risk checks, durable intent,
books and audit trail bots use), by way of exchanges.manual_requests, which the API shares.
The state section (balances, open orders, recent fills) is live: when the books of the
account's orders by hand change (an order placed, cancelled or filled: by this page, the API,
or on the exchange, which a worker watches while orders work), the books' order and fill events
reach exchanges.consumers.AccountTradeLiveConsumer, which pushes the section rendered here
(`account_trade_state_render`); static/js/trade.js swaps it in. No polling.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from exchanges.manual_requests import (
    manual_order_cancel_for_request,
    manual_order_place_for_request,
    manual_panel_for_request,
)
from exchanges.selectors import exchange_account_get_for_user
from trading.services import manual


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


def _panel(request, account, *, sync: bool = True):
    return manual_panel_for_request(request, account, sync=sync)


def trade_socket_path(account) -> str:
    """The panel's live socket (config/routing.py)."""
    return f"/ws/exchanges/accounts/{account.pk}/trade/"


def account_trade_state_render(*, user, account_id) -> str:
    """The state section as the page shows it, for the live socket (a read: no exchange sync)."""
    account = exchange_account_get_for_user(user=user, id=account_id)
    panel = manual.manual_panel_get(user=user, account=account, sync=False)
    return render_to_string("exchanges/_trade_state.html", {"account": account, "panel": panel})


def _apply_errors(form, exc: ValidationError) -> None:
    for name, errors in exc.message_dict.items():
        form.add_error(name if name in form.fields else None, errors)


def _context(panel, form) -> dict:
    return {
        "account": panel.account,
        "panel": panel,
        "form": form,
        "socket_path": trade_socket_path(panel.account),
    }


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
            placed = manual_order_place_for_request(request, account, form.cleaned_data)
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
    error, order = "", None
    try:
        order = manual_order_cancel_for_request(request, account, order_id)
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
