"""Exchange account pages: list, add, edit label/mode, replace keys, delete."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from accounts.security import client_ip, has_recent_auth, recent_auth_redirect, require_recent_auth
from exchanges.forms import (
    ExchangeAccountCreateForm,
    ExchangeAccountKeysForm,
    ExchangeAccountUpdateForm,
)
from exchanges.registry import exchange_choices
from exchanges.selectors import (
    exchange_account_get_for_user,
    exchange_account_list,
    sandbox_venue_next,
)
from exchanges.services import credentials


def _apply_errors(form, exc: ValidationError) -> None:
    for field, errors in exc.message_dict.items():
        form.add_error(field if field in form.fields else None, errors)


@login_required
def account_list(request):
    """The user's exchange accounts."""
    accounts = exchange_account_list(user=request.user)
    template = "exchanges/_account_table.html" if request.htmx else "exchanges/account_list.html"
    context = {"accounts": accounts, "sandbox_venue": sandbox_venue_next(user=request.user)}
    return render(request, template, context)


@never_cache
@login_required
@require_http_methods(["POST"])
def account_sandbox_create(request):
    """One step: a funded sandbox exchange user and the paper account holding its key."""
    from exchanges.sandbox.services import sandbox_account_open

    try:
        opened = sandbox_account_open(
            user=request.user, venue=request.POST.get("venue", ""), ip=client_ip(request)
        )
    except ValidationError as exc:
        for errors in exc.message_dict.values():
            for error in errors:
                messages.error(request, error)
    else:
        funds = ", ".join(f"{amount:,f} {asset}" for asset, amount in opened.funds.items())
        seen = opened.credited and _balances_store(opened.account)
        messages.success(
            request,
            f"Sandbox account '{opened.account.label}' created and funded with {funds}. "
            + (
                "The sandbox exchange reports these balances; they show on your dashboard."
                if seen
                else "The sandbox exchange credits them within seconds: “Test connection” "
                "shows its balances."
            ),
        )
    return redirect("exchanges:account-list")


def _balances_store(account) -> bool:
    """Fetch and keep the account's balances (the dashboard shows them); False on failure."""
    from portfolio.services import exchange_balances_refresh

    try:
        exchange_balances_refresh(account=account)
    except Exception:  # the sandbox went away just now: the message says to test later
        return False
    return True


def _key_warnings(request, account) -> None:
    """What the new key may do that Peregrine never needs, said at once (the same check as
    "test connection")."""
    from exchanges.services.connection import key_warnings

    for warning in key_warnings(account):
        messages.warning(request, f"{account.label}: {warning}")


@never_cache
@require_recent_auth
@require_http_methods(["GET", "POST"])
def account_create(request):
    """Add an exchange account with its key (recent re-auth needed)."""
    form = ExchangeAccountCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            account = credentials.exchange_account_create(
                user=request.user, ip=client_ip(request), **form.cleaned_data
            )
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, f"Exchange account '{account.label}' added.")
            _key_warnings(request, account)
            return redirect("exchanges:account-list")
    context = {"form": form, "exchange_ids": [eid for eid, _ in exchange_choices()]}
    return render(
        request, "exchanges/account_create.html", context, status=400 if form.errors else 200
    )


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def account_update(request, id):  # noqa: A002
    """Edit label and mode; switching to live needs a recent re-auth."""
    account = exchange_account_get_for_user(user=request.user, id=id)
    form = ExchangeAccountUpdateForm(
        request.POST or None, initial={"label": account.label, "mode": account.mode}
    )
    if request.method == "POST" and form.is_valid():
        going_live = form.cleaned_data["mode"] == "live" and not account.is_live
        if going_live and not has_recent_auth(request):
            messages.info(request, "Confirm it is you to enable live trading.")
            return recent_auth_redirect(request, next_url=request.path)
        try:
            credentials.exchange_account_update(
                account=account, ip=client_ip(request), **form.cleaned_data
            )
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, "Exchange account saved.")
            return redirect("exchanges:account-list")
    return render(
        request,
        "exchanges/account_update.html",
        {"form": form, "account": account},
        status=400 if form.errors else 200,
    )


@never_cache
@require_recent_auth
@require_http_methods(["GET", "POST"])
def account_replace_keys(request, id):  # noqa: A002
    """Replace the API key, secret and passphrase (recent re-auth needed)."""
    account = exchange_account_get_for_user(user=request.user, id=id)
    form = ExchangeAccountKeysForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            credentials.exchange_account_replace_keys(
                account=account, ip=client_ip(request), **form.cleaned_data
            )
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, f"Keys of '{account.label}' replaced.")
            _key_warnings(request, account)
            return redirect("exchanges:account-list")
    return render(
        request,
        "exchanges/account_keys.html",
        {"form": form, "account": account},
        status=400 if form.errors else 200,
    )


@never_cache
@require_recent_auth
@require_http_methods(["GET", "POST"])
def account_delete(request, id):  # noqa: A002
    """Delete an exchange account and its keys (recent re-auth needed)."""
    account = exchange_account_get_for_user(user=request.user, id=id)
    if request.method == "POST":
        credentials.exchange_account_delete(account=account, ip=client_ip(request))
        messages.success(request, f"Exchange account '{account.label}' deleted.")
        if request.htmx:
            return render(
                request,
                "exchanges/_account_table.html",
                {"accounts": exchange_account_list(user=request.user)},
            )
        return redirect("exchanges:account-list")
    return render(request, "exchanges/account_delete.html", {"account": account})


@never_cache
@login_required
@require_http_methods(["POST"])
def account_test_connection(request, id):  # noqa: A002
    """Read the balance with the account's key and warn about risky key permissions."""
    from exchanges.services.connection import exchange_account_test_connection

    account = exchange_account_get_for_user(user=request.user, id=id)
    report = exchange_account_test_connection(account=account)
    context = {"account": account, "report": report}
    if request.htmx:
        return render(request, "exchanges/_connection_report.html", context)
    if report.ok:
        messages.success(request, f"{account.label}: connected.")
    else:
        messages.error(request, f"{account.label}: {report.error}")
    for warning in report.warnings:
        messages.warning(request, warning)
    return redirect("exchanges:account-list")
