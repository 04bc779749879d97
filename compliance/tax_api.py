"""Tax reports, exports and transactions over the API (owner-scoped; writes need trade scope).

CSV exports stream (StreamingHttpResponse); an object of another user is 404.
"""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import api_view, permission_classes
from rest_framework.exceptions import APIException, PermissionDenied, ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from accounts.api.permissions import HasTradeScope
from compliance.tax.exports import (
    HISTORY_EXPORTS,
    YEAR_EXPORTS,
    export_needs_worker,
    tax_export_start,
)
from compliance.tax.formats import CsvImportError, money, number
from compliance.tax.normalize import FLOW_KINDS
from compliance.tax.reports import tax_report_build, tax_year_settings
from compliance.tax.selectors import (
    tax_exchange_account_get_for_user,
    tax_export_get_for_user,
    tax_export_list,
    tax_transaction_get_for_user,
    tax_transaction_list,
)
from compliance.tax.services import (
    IMPORT_FORMATS,
    exchange_trades_import,
    tax_transaction_add,
    tax_transaction_delete,
    tax_transactions_import,
    tax_year_save,
    wallet_key_resolver,
)
from compliance.tax_models import TaxExport, TaxYear
from compliance.tax_views import (
    _year,
    history_export_response,
    tax_export_file_response,
    year_export_response,
)
from config.inputs import Pagination
from config.schema import paginated

CSV_RESPONSE = {
    (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="CSV, streamed"),
    404: OpenApiResponse(description="No such tax year or export"),
}


SMALLEST = Decimal("0.000000000000000001")


def _trade_scope(request) -> None:
    if not HasTradeScope().has_permission(request, None):
        raise PermissionDenied(HasTradeScope.message)


class TotalsSerializer(serializers.Serializer):
    proceeds = serializers.CharField()
    cost = serializers.CharField()
    gain = serializers.CharField()
    lines = serializers.IntegerField()


class GainLineSerializer(serializers.Serializer):
    asset = serializers.CharField()
    amount = serializers.CharField()
    acquired_at = serializers.DateTimeField(allow_null=True)
    disposed_at = serializers.DateTimeField()
    proceeds = serializers.CharField()
    cost = serializers.CharField()
    gain = serializers.CharField()
    term = serializers.ChoiceField(choices=["short", "long"])
    wallet = serializers.CharField()
    disposal = serializers.CharField(help_text="The fill (fill:<id>) or entry (tx:<id>).")
    lot = serializers.CharField(allow_null=True, help_text="The acquisition consumed.")
    flagged = serializers.BooleanField()


class TaxReportSerializer(serializers.Serializer):
    year = serializers.IntegerField()
    method = serializers.CharField()
    scope = serializers.CharField()
    reporting = serializers.CharField()
    include_paper = serializers.BooleanField()
    valuation_rule = serializers.CharField()
    totals = serializers.DictField(child=TotalsSerializer())
    by_asset = serializers.ListField(child=serializers.DictField())
    lines = GainLineSerializer(many=True)
    income = serializers.ListField(child=serializers.DictField())
    holdings = serializers.ListField(child=serializers.DictField())
    flags = serializers.ListField(child=serializers.DictField())


class TaxYearSettingsSerializer(serializers.Serializer):
    method = serializers.ChoiceField(choices=TaxYear.Method.choices)
    scope = serializers.ChoiceField(choices=TaxYear.Scope.choices)
    reporting = serializers.ChoiceField(choices=TaxYear.Reporting.choices)
    include_paper = serializers.BooleanField()


def _totals(t) -> dict:
    return {"proceeds": money(t.proceeds), "cost": money(t.cost), "gain": money(t.gain),
            "lines": t.lines}  # fmt: skip


def report_data(report) -> dict:
    s = report.settings
    return {
        "year": report.year, "method": s.method, "scope": s.scope, "reporting": s.reporting,
        "include_paper": s.include_paper, "valuation_rule": report.valuation_rule,
        "totals": {term: _totals(t) for term, t in report.by_term.items()},
        "by_asset": [{"asset": a, "term": term, **_totals(t)}
                     for (a, term), t in report.by_asset.items()],
        "lines": [{
            "asset": ln.disposal.asset, "amount": number(ln.piece.amount),
            "acquired_at": ln.piece.acquired_at, "disposed_at": ln.disposal.disposed_at,
            "proceeds": str(ln.piece.proceeds), "cost": str(ln.piece.cost),
            "gain": str(ln.piece.gain), "term": ln.piece.term,
            "wallet": ln.wallet, "disposal": ln.disposal.ref,
            "lot": ln.piece.lot.ref if ln.piece.lot else None, "flagged": ln.flagged,
        } for ln in report.lines],
        "income": [{"asset": i.asset, "amount": number(i.amount), "at": i.at.isoformat(),
                    "value": None if i.value is None else str(i.value),
                    "wallet": i.wallet, "ref": i.ref}
                   for i in report.incomes],
        "holdings": [{"asset": h.asset, "wallet": h.wallet,
                      "amount": number(h.amount), "cost": str(h.cost),
                      "price": None if h.price is None else str(h.price),
                      "unrealized": None if h.unrealized is None else str(h.unrealized)}
                     for h in report.holdings],
        "flags": [{"ref": f.ref, "at": f.at.isoformat(), "message": f.message}
                  for f in report.flags],
    }  # fmt: skip


YEAR = OpenApiParameter("year", int, OpenApiParameter.PATH, description="Tax year, 2009-2100")


@extend_schema(parameters=[YEAR], responses={200: TaxReportSerializer, 404: None})
@api_view(["GET"])
@permission_classes([IsAuthenticated])
def tax_report_api(request, year: int):
    """The caller's capital gains (per lot fraction), totals, income and holdings for a year."""
    report = tax_report_build(user=request.user, year=_year(year))
    return Response(report_data(report))


@extend_schema(parameters=[YEAR], request=TaxYearSettingsSerializer,
               responses={200: TaxYearSettingsSerializer, 404: None})  # fmt: skip
@api_view(["GET", "PUT"])
@permission_classes([IsAuthenticated])
def tax_year_settings_api(request, year: int):
    """The caller's lot method, scope, Form 8949 reporting and paper choice for the year."""
    _year(year)
    if request.method == "PUT":
        _trade_scope(request)
        serializer = TaxYearSettingsSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        settings = tax_year_save(user=request.user, year=year, **serializer.validated_data)
    else:
        settings = tax_year_settings(user=request.user, year=year)
    return Response(TaxYearSettingsSerializer(settings).data)


class TaxExportSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=TaxExport.Kind.choices)
    year = serializers.IntegerField(allow_null=True, help_text="null for the history formats")
    status = serializers.ChoiceField(choices=TaxExport.Status.choices)
    phase = serializers.ChoiceField(
        choices=["", "reading", "writing"],
        help_text="reading: records_done of records_total read into lots; writing: rows_done "
        "CSV rows written (of rows_total when known)",
    )
    records_done = serializers.IntegerField()
    records_total = serializers.IntegerField()
    rows_done = serializers.IntegerField()
    rows_total = serializers.IntegerField(allow_null=True)
    size = serializers.IntegerField(help_text="bytes of the file, once done")
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField(
        allow_null=True, help_text="when the file is deleted (TAX_EXPORT_RETENTION_HOURS)"
    )
    download = serializers.CharField(allow_null=True, help_text="the file's URL, once done")


class TaxExportInputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=TaxExport.Kind.choices)
    year = serializers.IntegerField(
        min_value=2009, max_value=2100, required=False,
        help_text="the tax year of a capital gains or Form 8949 export (default: last year); "
        "not used by the history formats",
    )  # fmt: skip


def _export_data(request, export: TaxExport) -> dict:
    fields = [name for name in TaxExportSerializer().fields if name not in ("id", "download")]
    data = {"id": export.pk, **{name: getattr(export, name) for name in fields}}
    done = export.status == TaxExport.Status.DONE
    url = reverse("tax-api-export-download", args=[export.pk])
    data["download"] = request.build_absolute_uri(url) if done else None
    return TaxExportSerializer(data).data


def _accepted(request, export: TaxExport) -> Response:
    url = request.build_absolute_uri(reverse("tax-api-export", args=[export.pk]))
    return Response(_export_data(request, export), status=status.HTTP_202_ACCEPTED,
                    headers={"Location": url})  # fmt: skip


WORKER_RESPONSE = OpenApiResponse(
    TaxExportSerializer,
    description="The export reads more than TAX_EXPORT_ASYNC_THRESHOLD records: a worker "
    "writes it; follow `Location` (GET /api/v1/tax/exports/{id}/) to its download.",
)


@extend_schema(
    parameters=[YEAR, OpenApiParameter("kind", str, OpenApiParameter.PATH,
                                       enum=["gains", "form8949"])],
    responses={**CSV_RESPONSE, 202: WORKER_RESPONSE},
)  # fmt: skip
@api_view(["GET"])
@permission_classes([IsAuthenticated])
def tax_year_export_api(request, year: int, kind: str):
    """The year's capital gains or IRS Form 8949 lines as CSV (streamed), or 202 and an export
    job when the year is large."""
    if kind not in YEAR_EXPORTS:
        raise Http404("no such export")
    if export_needs_worker(user=request.user, kind=kind, year=_year(year)):
        return _accepted(request, tax_export_start(user=request.user, kind=kind, year=year))
    return year_export_response(request.user, year, kind)


@extend_schema(
    parameters=[OpenApiParameter("kind", str, OpenApiParameter.PATH,
                                 enum=["koinly", "cointracking"])],
    responses={**CSV_RESPONSE, 202: WORKER_RESPONSE},
)  # fmt: skip
@api_view(["GET"])
@permission_classes([IsAuthenticated])
def tax_history_export_api(request, kind: str):
    """The whole trade history in Koinly universal or CoinTracking CSV (streamed), or 202 and
    an export job when the history is large."""
    if kind not in HISTORY_EXPORTS:
        raise Http404("no such export")
    if export_needs_worker(user=request.user, kind=kind, year=None):
        return _accepted(request, tax_export_start(user=request.user, kind=kind, year=None))
    return history_export_response(request.user, kind)


@extend_schema(methods=["GET"], responses=paginated(TaxExportSerializer))
@extend_schema(methods=["POST"], request=TaxExportInputSerializer,
               responses={202: TaxExportSerializer})  # fmt: skip
@api_view(["GET", "POST"])
@permission_classes([IsAuthenticated])
def tax_export_list_api(request):
    """The caller's exports written by a worker, newest first; POST starts one whatever the
    size (the same kind and year already queued or running is returned instead)."""
    if request.method == "POST":
        serializer = TaxExportInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        year = data.get("year", timezone.now().year - 1)
        return _accepted(request, tax_export_start(user=request.user, kind=data["kind"],
                                                   year=year))  # fmt: skip
    paginator = Pagination()
    page = paginator.paginate_queryset(tax_export_list(user=request.user), request)
    return paginator.get_paginated_response([_export_data(request, e) for e in page])


EXPORT_ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description="The export's id")


@extend_schema(parameters=[EXPORT_ID], responses={200: TaxExportSerializer, 404: None})
@api_view(["GET"])
@permission_classes([IsAuthenticated])
def tax_export_detail_api(request, id: int):  # noqa: A002
    """One of the caller's exports: its status and progress (404 for anyone else's)."""
    return Response(_export_data(request, tax_export_get_for_user(user=request.user, id=id)))


class _NotReady(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "not_ready"
    default_detail = "The export is not written yet; its status says how far it is."


@extend_schema(
    parameters=[EXPORT_ID],
    responses={
        (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="The CSV file"),
        404: OpenApiResponse(description="No such export, or its file has expired"),
        409: OpenApiResponse(description="Not written yet (or failed): see its status"),
    },
)
@api_view(["GET"])
@permission_classes([IsAuthenticated])
def tax_export_download_api(request, id: int):  # noqa: A002
    """The file a worker wrote, byte for byte what the streamed download gives."""
    export = tax_export_get_for_user(user=request.user, id=id)
    if export.status != TaxExport.Status.DONE:
        raise _NotReady()
    return tax_export_file_response(export)


class TaxTransactionSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    kind = serializers.ChoiceField(choices=[*FLOW_KINDS, "trade"], read_only=True)
    occurred_at = serializers.DateTimeField(read_only=True)
    asset = serializers.CharField(read_only=True)
    amount = serializers.CharField(read_only=True)
    given_asset = serializers.CharField(read_only=True)
    given_amount = serializers.CharField(read_only=True, allow_null=True)
    fee = serializers.CharField(read_only=True)
    fee_asset = serializers.CharField(read_only=True)
    value_usd = serializers.CharField(read_only=True, allow_null=True)
    wallet = serializers.CharField(read_only=True)
    to_wallet = serializers.CharField(read_only=True)
    source = serializers.CharField(read_only=True)
    note = serializers.CharField(read_only=True)


class TaxTransactionInputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=FLOW_KINDS)
    occurred_at = serializers.DateTimeField()
    asset = serializers.RegexField(r"^[A-Za-z0-9]{1,16}$")
    amount = serializers.DecimalField(max_digits=36, decimal_places=18, min_value=SMALLEST)
    wallet = serializers.CharField(max_length=100)
    to_wallet = serializers.CharField(max_length=100, required=False, default="",
                                      allow_blank=True)  # fmt: skip
    fee = serializers.DecimalField(max_digits=36, decimal_places=18, min_value=0, required=False,
                                   default=0)  # fmt: skip
    value_usd = serializers.DecimalField(max_digits=36, decimal_places=18, min_value=0,
                                         required=False, allow_null=True, default=None)  # fmt: skip
    note = serializers.CharField(max_length=500, required=False, default="", allow_blank=True)

    def validate(self, data):
        if data["kind"] == "transfer" and (not data["to_wallet"]
                                           or data["to_wallet"] == data["wallet"]):  # fmt: skip
            raise ValidationError({"to_wallet": ["A transfer needs another wallet to go to."]})
        if data["fee"] and data["kind"] != "transfer":
            raise ValidationError({"fee": ["Only a transfer has a fee; enter other fees as fee."]})
        return data


@extend_schema(methods=["GET"], responses=paginated(TaxTransactionSerializer))
@extend_schema(methods=["POST"], request=TaxTransactionInputSerializer,
               responses={201: TaxTransactionSerializer})  # fmt: skip
@api_view(["GET", "POST"])
@permission_classes([IsAuthenticated])
def tax_transaction_list_api(request):
    """The caller's entered and imported transactions; POST records one (trade scope)."""
    if request.method == "GET":
        from config.inputs import Pagination

        paginator = Pagination()
        page = paginator.paginate_queryset(tax_transaction_list(user=request.user), request)
        return paginator.get_paginated_response(TaxTransactionSerializer(page, many=True).data)
    _trade_scope(request)
    serializer = TaxTransactionInputSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    data = dict(serializer.validated_data)
    resolve = wallet_key_resolver(user=request.user)
    data["asset"] = data["asset"].upper()
    data["wallet"] = resolve(data["wallet"])
    data["to_wallet"] = resolve(data["to_wallet"]) if data["to_wallet"] else ""
    data["fee_asset"] = data["asset"] if data["fee"] else ""
    try:
        tx = tax_transaction_add(user=request.user, **data)
    except DjangoValidationError as exc:
        detail = exc.message_dict if hasattr(exc, "message_dict") else exc.messages
        raise ValidationError(detail) from None
    return Response(TaxTransactionSerializer(tx).data, status=status.HTTP_201_CREATED)


@extend_schema(methods=["GET"], responses={200: TaxTransactionSerializer, 404: None})
@extend_schema(methods=["DELETE"], responses={204: None, 404: None})
@api_view(["GET", "DELETE"])
@permission_classes([IsAuthenticated])
def tax_transaction_detail_api(request, id: int):  # noqa: A002
    """One of the caller's transactions; DELETE removes it (trade scope). Others' are 404."""
    tx = tax_transaction_get_for_user(user=request.user, id=id)
    if request.method == "DELETE":
        _trade_scope(request)
        tax_transaction_delete(user=request.user, tx=tx)
        return Response(status=status.HTTP_204_NO_CONTENT)
    return Response(TaxTransactionSerializer(tx).data)


class ImportInputSerializer(serializers.Serializer):
    format = serializers.ChoiceField(choices=list(IMPORT_FORMATS))
    content = serializers.CharField(max_length=50 * 1024 * 1024, trim_whitespace=False)
    wallet = serializers.CharField(max_length=100, required=False, default="", allow_blank=True)


class ImportResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    skipped = serializers.IntegerField()


@extend_schema(request=ImportInputSerializer, responses={201: ImportResultSerializer})
@api_view(["POST"])
@permission_classes([IsAuthenticated])
def tax_transactions_import_api(request):
    """Import a CSV (Peregrine, Koinly, CoinTracking): all lines or, if any is bad, none."""
    _trade_scope(request)
    serializer = ImportInputSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    try:
        created, skipped = tax_transactions_import(
            user=request.user, fmt=data["format"], text=data["content"], wallet=data["wallet"]
        )
    except CsvImportError as exc:
        raise ValidationError({"content": exc.errors}) from None
    except DjangoValidationError as exc:
        raise ValidationError({"wallet": exc.messages}) from None
    return Response({"created": created, "skipped": skipped}, status=status.HTTP_201_CREATED)


class ExchangeImportInputSerializer(serializers.Serializer):
    account = serializers.UUIDField()
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()
    symbols = serializers.ListField(child=serializers.CharField(max_length=32), required=False,
                                    default=list, max_length=50)  # fmt: skip


@extend_schema(request=ExchangeImportInputSerializer,
               responses={201: ImportResultSerializer, 404: None, 502: None})  # fmt: skip
@api_view(["POST"])
@permission_classes([IsAuthenticated])
def tax_exchange_import_api(request):
    """Import an exchange account's trade history over a period (ccxt; idempotent)."""
    _trade_scope(request)
    serializer = ExchangeImportInputSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    account = tax_exchange_account_get_for_user(user=request.user, id=data["account"])
    try:
        created, skipped = exchange_trades_import(
            user=request.user, account=account, since=data["since"], until=data["until"],
            symbols=data["symbols"] or None,
        )  # fmt: skip
    except DjangoValidationError as exc:
        raise ValidationError({"non_field_errors": exc.messages}) from None
    return Response({"created": created, "skipped": skipped}, status=status.HTTP_201_CREATED)
