from django.urls import path

from compliance import tax_api

urlpatterns = [
    path("tax/years/<int:year>/", tax_api.tax_report_api, name="tax-api-report"),
    path(
        "tax/years/<int:year>/settings/",
        tax_api.tax_year_settings_api,
        name="tax-api-year-settings",
    ),  # fmt: skip
    path(
        "tax/years/<int:year>/<str:kind>.csv",
        tax_api.tax_year_export_api,
        name="tax-api-year-export",
    ),  # fmt: skip
    path(
        "tax/history/<str:kind>.csv", tax_api.tax_history_export_api, name="tax-api-history-export"
    ),  # fmt: skip
    path("tax/exports/", tax_api.tax_export_list_api, name="tax-api-exports"),
    path("tax/exports/<int:id>/", tax_api.tax_export_detail_api, name="tax-api-export"),
    path(
        "tax/exports/<int:id>/download/",
        tax_api.tax_export_download_api,
        name="tax-api-export-download",
    ),  # fmt: skip
    path("tax/transactions/", tax_api.tax_transaction_list_api, name="tax-api-transactions"),
    path(
        "tax/transactions/import/",
        tax_api.tax_transactions_import_api,
        name="tax-api-transactions-import",
    ),  # fmt: skip
    path(
        "tax/transactions/<int:id>/", tax_api.tax_transaction_detail_api, name="tax-api-transaction"
    ),  # fmt: skip
    path("tax/exchange-import/", tax_api.tax_exchange_import_api, name="tax-api-exchange-import"),
]
