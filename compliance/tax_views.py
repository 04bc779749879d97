"""Tax pages: the year's report (gains lot by lot, income, holdings), the transactions page,
and the CSV downloads, which stream row by row (no whole file is built in memory) or, past
settings.TAX_EXPORT_ASYNC_THRESHOLD records, are written by a worker (compliance.tax.exports)
whose progress the export's page shows live before it offers the file."""

from __future__ import annotations

from django.conf import settings as django_settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from compliance.tax.exports import (
    HISTORY_EXPORTS,
    YEAR_EXPORTS,
    export_event,
    export_lines,
    export_needs_worker,
    tax_export_path,
    tax_export_start,
    tax_year_check,
)
from compliance.tax.formats import CsvImportError
from compliance.tax.reports import tax_report_build, tax_year_settings
from compliance.tax.selectors import (
    tax_exchange_account_get_for_user,
    tax_export_get_for_user,
    tax_export_list,
    tax_transaction_get_for_user,
    tax_transaction_list,
    tax_years,
)
from compliance.tax.services import (
    exchange_trades_import,
    tax_transaction_add,
    tax_transaction_delete,
    tax_transactions_import,
    tax_year_save,
    wallet_key_resolver,
)
from compliance.tax.sources import wallet_labels
from compliance.tax_forms import (
    ExchangeImportForm,
    TaxImportForm,
    TaxTransactionForm,
    TaxYearForm,
)
from exchanges.models import ExchangeAccount

PAGE_LINES = 500
_year = tax_year_check


@login_required
def tax_index(request):
    return redirect("compliance:tax-year", year=timezone.now().year - 1)


@login_required
def tax_year(request, year: int):
    """The year's capital gains, income and holdings, with the method and scope in the header."""
    report = tax_report_build(user=request.user, year=_year(year))
    context = {
        "report": report,
        "lines": report.lines[:PAGE_LINES],
        "more_lines": max(0, len(report.lines) - PAGE_LINES),
        "years": tax_years(user=request.user),
        "form": TaxYearForm(instance=report.settings),
        "exports": tax_export_list(user=request.user)[:10],
        "export_threshold": django_settings.TAX_EXPORT_ASYNC_THRESHOLD,
    }
    return render(request, "compliance/tax_year.html", context)


@login_required
@require_POST
def tax_year_settings_save(request, year: int):
    form = TaxYearForm(
        request.POST, instance=tax_year_settings(user=request.user, year=_year(year))
    )
    if form.is_valid():
        tax_year_save(user=request.user, year=year, **form.cleaned_data)
        messages.success(request, f"Tax year {year} settings saved.")
    else:
        messages.error(request, "Settings not saved: " + "; ".join(
            f"{name}: {' '.join(errs)}" for name, errs in form.errors.items()))  # fmt: skip
    return redirect("compliance:tax-year", year=year)


def _csv_response(lines, filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse((line.encode() for line in lines), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def year_export_response(user, year: int, kind: str) -> StreamingHttpResponse:
    """The year's capital gains or Form 8949 CSV, streamed (compliance.tax.exports)."""
    if kind not in YEAR_EXPORTS:
        raise Http404("no such export")
    lines = export_lines(user=user, kind=kind, year=_year(year), as_of=timezone.now())
    return _csv_response(lines, f"peregrine-{kind}-{year}.csv")


def history_export_response(user, kind: str) -> StreamingHttpResponse:
    """The whole history in Koinly's or CoinTracking's format, streamed from the database."""
    if kind not in HISTORY_EXPORTS:
        raise Http404("no such export")
    lines = export_lines(user=user, kind=kind, year=None, as_of=timezone.now())
    return _csv_response(lines, f"peregrine-{kind}.csv")


def _export_or_stream(request, kind: str, year: int | None, stream):
    """Stream a small export at once; start a worker on a large one and show its page."""
    if export_needs_worker(user=request.user, kind=kind, year=year):
        export = tax_export_start(user=request.user, kind=kind, year=year)
        return redirect("compliance:tax-export-detail", id=export.pk)
    return stream()


@login_required
def tax_year_export(request, year: int, kind: str):
    if kind not in YEAR_EXPORTS:
        raise Http404("no such export")
    _year(year)
    return _export_or_stream(
        request, kind, year, lambda: year_export_response(request.user, year, kind)
    )


@login_required
def tax_history_export(request, kind: str):
    if kind not in HISTORY_EXPORTS:
        raise Http404("no such export")
    return _export_or_stream(
        request, kind, None, lambda: history_export_response(request.user, kind)
    )


def tax_export_socket_path(export) -> str:
    """The export page's live socket (config/routing.py, compliance.consumers)."""
    return f"/ws/tax/exports/{export.pk}/"


@login_required
def tax_export_detail(request, id: int):  # noqa: A002
    """One export a worker writes: its progress, live, then the download (owner only)."""
    export = tax_export_get_for_user(user=request.user, id=id)
    context = {
        "export": export,
        "event": export_event(export),
        "socket_path": tax_export_socket_path(export),
        "retention_hours": django_settings.TAX_EXPORT_RETENTION_HOURS,
    }
    if request.htmx:
        return render(request, "compliance/_tax_export_status.html", context)
    return render(request, "compliance/tax_export.html", context)


@login_required
def tax_export_download(request, id: int):  # noqa: A002
    """The file a worker wrote, streamed from disk (404 until it is done, or once expired)."""
    return tax_export_file_response(tax_export_get_for_user(user=request.user, id=id))


def tax_export_file_response(export) -> FileResponse:
    if export.status != export.Status.DONE:
        raise Http404("this export is not ready")
    try:
        handle = tax_export_path(export).open("rb")
    except FileNotFoundError as exc:
        raise Http404("this export's file is gone") from exc
    return FileResponse(
        handle, as_attachment=True, filename=export.filename, content_type="text/csv"
    )


def _transactions_context(request, **forms):
    page = Paginator(tax_transaction_list(user=request.user), 100).get_page(request.GET.get("page"))
    accounts = ExchangeAccount.objects.filter(user=request.user).order_by("label")
    labels = wallet_labels(user=request.user)
    for tx in page.object_list:
        tx.wallet_label = labels.get(tx.wallet, tx.wallet)
        tx.to_wallet_label = labels.get(tx.to_wallet, tx.to_wallet)
    context = {
        "page": page,
        "accounts": accounts,
        "form": forms.get("form") or TaxTransactionForm(),
        "import_form": forms.get("import_form") or TaxImportForm(),
        "exchange_form": forms.get("exchange_form") or ExchangeImportForm(user=request.user),
        "import_errors": forms.get("import_errors", []),
    }
    return context


@login_required
def tax_transactions(request):
    """The user's entered and imported transactions, with the forms to add and import more."""
    if request.method == "POST":
        form = TaxTransactionForm(request.POST)
        if form.is_valid():
            data = dict(form.cleaned_data)
            resolve = wallet_key_resolver(user=request.user)
            data["wallet"] = resolve(data["wallet"])
            data["to_wallet"] = resolve(data["to_wallet"]) if data.get("to_wallet") else ""
            data.setdefault("fee_asset", "")
            tax_transaction_add(user=request.user, **data)
            messages.success(request, "Transaction added.")
            return redirect("compliance:tax-transactions")
        return render(request, "compliance/tax_transactions.html",
                      _transactions_context(request, form=form), status=400)  # fmt: skip
    return render(request, "compliance/tax_transactions.html", _transactions_context(request))


@login_required
@require_POST
def tax_transactions_import_view(request):
    form = TaxImportForm(request.POST, request.FILES)
    errors: list[str] = []
    if form.is_valid():
        try:
            created, skipped = tax_transactions_import(
                user=request.user, fmt=form.cleaned_data["format"],
                text=form.cleaned_data["file"], wallet=form.cleaned_data["wallet"],
            )  # fmt: skip
        except CsvImportError as exc:
            errors = exc.errors
        except ValidationError as exc:
            errors = exc.messages
        else:
            messages.success(request, f"Imported {created} transaction(s); {skipped} already "
                                      "there were skipped.")  # fmt: skip
            return redirect("compliance:tax-transactions")
    context = _transactions_context(request, import_form=form, import_errors=errors)
    return render(request, "compliance/tax_transactions.html", context, status=400)


@login_required
@require_POST
def tax_exchange_import_view(request):
    form = ExchangeImportForm(request.POST, user=request.user)
    errors: list[str] = []
    if form.is_valid():
        data = form.cleaned_data
        account = tax_exchange_account_get_for_user(user=request.user, id=data["account"].pk)
        try:
            created, skipped = exchange_trades_import(
                user=request.user, account=account, since=data["since_at"],
                until=data["until_at"], symbols=data["symbol_list"] or None,
            )  # fmt: skip
        except ValidationError as exc:
            errors = exc.messages
        except Exception as exc:  # the exchange could not be reached or refused: say so
            errors = [f"{account.exchange} did not answer: {exc.__class__.__name__}: {exc}"]
        else:
            messages.success(request, f"Imported {created} trade(s) from {account.label}; "
                                      f"{skipped} already known were skipped.")  # fmt: skip
            return redirect("compliance:tax-transactions")
    context = _transactions_context(request, exchange_form=form, import_errors=errors)
    return render(request, "compliance/tax_transactions.html", context, status=400)


@login_required
@require_POST
def tax_transaction_delete_view(request, id: int):  # noqa: A002
    tx = tax_transaction_get_for_user(user=request.user, id=id)
    tax_transaction_delete(user=request.user, tx=tx)
    messages.success(request, "Transaction deleted.")
    return redirect("compliance:tax-transactions")
