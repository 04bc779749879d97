from django.urls import path

from compliance import tax_views

urlpatterns = [
    path("tax/", tax_views.tax_index, name="tax"),
    path("tax/<int:year>/", tax_views.tax_year, name="tax-year"),
    path("tax/<int:year>/settings/", tax_views.tax_year_settings_save, name="tax-year-settings"),
    path("tax/<int:year>/<str:kind>.csv", tax_views.tax_year_export, name="tax-year-export"),
    path("tax/history/<str:kind>.csv", tax_views.tax_history_export, name="tax-history-export"),
    path("tax/exports/<int:id>/", tax_views.tax_export_detail, name="tax-export-detail"),
    path(
        "tax/exports/<int:id>/download/",
        tax_views.tax_export_download,
        name="tax-export-download",
    ),  # fmt: skip
    path("tax/transactions/", tax_views.tax_transactions, name="tax-transactions"),
    path(
        "tax/transactions/import/",
        tax_views.tax_transactions_import_view,
        name="tax-transactions-import",
    ),  # fmt: skip
    path(
        "tax/transactions/exchange-import/",
        tax_views.tax_exchange_import_view,
        name="tax-exchange-import",
    ),  # fmt: skip
    path(
        "tax/transactions/<int:id>/delete/",
        tax_views.tax_transaction_delete_view,
        name="tax-transaction-delete",
    ),  # fmt: skip
]
