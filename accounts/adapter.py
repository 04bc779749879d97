"""allauth adapter: operator switch for open sign-up; the login throttle (accounts.login_throttle)
in place of allauth's own per-address limit, which refused every account behind one address."""

from allauth.account.adapter import DefaultAccountAdapter
from django.conf import settings


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request) -> bool:
        return settings.PEREGRINE_SIGNUP_OPEN

    @staticmethod
    def _login(credentials) -> str:
        return str(credentials.get("email") or credentials.get("username") or "")[:254]

    def pre_authenticate(self, request, **credentials) -> None:
        from accounts.login_throttle import login_refused
        from accounts.security import client_ip

        if login_refused(ip=client_ip(request), login=self._login(credentials)):
            raise self.validation_error("too_many_login_attempts")

    def authenticate(self, request, **credentials):
        from accounts.login_throttle import login_success_record
        from accounts.security import client_ip

        user = super().authenticate(request, **credentials)
        if user is not None:
            login_success_record(ip=client_ip(request), login=self._login(credentials))
        return user

    def authentication_failed(self, request, **credentials) -> None:
        from accounts.login_throttle import login_failure_record
        from accounts.security import client_ip

        login_failure_record(ip=client_ip(request), login=self._login(credentials))
