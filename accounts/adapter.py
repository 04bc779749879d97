"""allauth adapter: operator switch for open sign-up."""

from allauth.account.adapter import DefaultAccountAdapter
from django.conf import settings


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request) -> bool:
        return settings.PEREGRINE_SIGNUP_OPEN
