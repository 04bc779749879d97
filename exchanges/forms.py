"""Exchange account forms: input checks only; the credentials service validates and stores."""

from __future__ import annotations

from django import forms

from exchanges.models import ExchangeAccount
from exchanges.registry import is_supported


def _secret_input(autocomplete: str = "off") -> forms.PasswordInput:
    return forms.PasswordInput(attrs={"autocomplete": autocomplete}, render_value=False)


class ExchangeAccountCreateForm(forms.Form):
    exchange = forms.CharField(
        max_length=64,
        label="Exchange",
        widget=forms.TextInput(attrs={"list": "exchange-ids", "autocomplete": "off"}),
        help_text="A ccxt exchange id (binance, kraken, okx…) or a Peregrine sandbox venue.",
    )
    label = forms.CharField(max_length=100, label="Label")
    mode = forms.ChoiceField(choices=ExchangeAccount.Mode.choices, initial="paper", label="Mode")
    api_key = forms.CharField(max_length=512, label="API key", widget=_secret_input())
    secret = forms.CharField(max_length=4096, label="API secret", widget=_secret_input())
    passphrase = forms.CharField(
        max_length=512,
        label="Passphrase (if the exchange has one)",
        required=False,
        widget=_secret_input(),
    )

    def clean_exchange(self) -> str:
        exchange = self.cleaned_data["exchange"].strip().lower()
        if not is_supported(exchange):
            raise forms.ValidationError(f"Unknown exchange id {exchange!r}.")
        return exchange


class ExchangeAccountUpdateForm(forms.Form):
    label = forms.CharField(max_length=100, label="Label")
    mode = forms.ChoiceField(choices=ExchangeAccount.Mode.choices, label="Mode")


class ExchangeAccountKeysForm(forms.Form):
    api_key = forms.CharField(max_length=512, label="New API key", widget=_secret_input())
    secret = forms.CharField(max_length=4096, label="New API secret", widget=_secret_input())
    passphrase = forms.CharField(
        max_length=512, label="New passphrase (if any)", required=False, widget=_secret_input()
    )
