"""The admin requires a verified OTP device; its only front door is the normal login."""

from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpResponseRedirect
from django.urls import reverse
from django_otp.admin import OTPAdminSite


class PeregrineAdminSite(OTPAdminSite):
    """OTPAdminSite whose login goes through allauth (rate limited) and the OTP step."""

    def login(self, request, extra_context=None):
        next_url = request.GET.get("next") or reverse("admin:index", current_app=self.name)
        if request.user.is_authenticated:
            if not request.user.is_verified():
                messages.info(request, "The admin needs two-factor authentication: set it up here.")
                return HttpResponseRedirect(reverse("accounts:security"))
            return HttpResponseRedirect(reverse("home"))
        return HttpResponseRedirect(f"{reverse('account_login')}?{urlencode({'next': next_url})}")
