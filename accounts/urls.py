from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("security/", views.security, name="security"),
    path("2fa/verify/", views.otp_verify, name="otp-verify"),
    path("2fa/setup/", views.two_factor_setup, name="two-factor-setup"),
    path("2fa/disable/", views.two_factor_disable, name="two-factor-disable"),
    path("2fa/backup-codes/", views.backup_codes_regenerate, name="backup-codes-regenerate"),
    path("confirm-identity/", views.confirm_identity, name="confirm-identity"),
    path("sessions/", views.session_list, name="sessions"),
    path("sessions/<int:id>/end/", views.session_end, name="session-end"),
    path("sessions/end-others/", views.sessions_end_others, name="sessions-end-others"),
    path("tokens/", views.token_list, name="tokens"),
    path("tokens/new/", views.token_create, name="token-create"),
    path("tokens/<int:id>/revoke/", views.token_revoke, name="token-revoke"),
    path("data/", views.data_overview, name="data"),
    path("data/download/", views.data_download, name="data-download"),
    path("delete/", views.account_delete, name="account-delete"),
    # allauth's own pages, wrapped so they need a recent re-auth (same paths as allauth's)
    path("password/change/", views.password_change, name="password-change"),
    path("email/", views.email_change, name="email-change"),
]
