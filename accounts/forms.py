"""Forms of the accounts pages. They validate input only; services do the work."""

from __future__ import annotations

from django import forms
from django.utils import timezone

from accounts.models import ApiToken


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Code",
        max_length=32,
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "autofocus": True,
                "inputmode": "text",
                "placeholder": "123456",
            }
        ),
        help_text="The 6-digit code from your authenticator app, or a backup code.",
    )

    def clean_code(self) -> str:
        code = self.cleaned_data["code"].strip()
        if not any(ch.isalnum() for ch in code):
            raise forms.ValidationError("Enter a code.")
        return code


class ConfirmIdentityForm(forms.Form):
    password = forms.CharField(
        label="Password",
        required=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    code = forms.CharField(
        label="Or a two-factor code",
        required=False,
        max_length=32,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code"}),
    )

    def clean(self):
        data = super().clean()
        if not data.get("password") and not (data.get("code") or "").strip():
            raise forms.ValidationError("Enter your password or a two-factor code.")
        return data


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=100, label="Name")
    scope = forms.ChoiceField(
        choices=ApiToken.Scope.choices, initial=ApiToken.Scope.READ, label="Scope"
    )
    expires_at = forms.DateTimeField(
        required=False,
        label="Expires (optional, UTC)",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Give the token a name.")
        return name

    def clean_expires_at(self):
        value = self.cleaned_data.get("expires_at")
        if value is not None and value <= timezone.now():
            raise forms.ValidationError("The expiry must be in the future.")
        return value


class AccountDeleteForm(forms.Form):
    """The user types their email address: deleting an account cannot be undone."""

    email = forms.CharField(
        label="Type your email address to confirm",
        max_length=254,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if email != self.user.email.lower():
            raise forms.ValidationError("That is not your account's email address.")
        return email
