"""Tax pages' forms: the browser's strings in, the tax services' arguments out."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from django import forms

from compliance.tax.normalize import FLOW_KINDS
from compliance.tax_models import TaxTransaction, TaxYear
from exchanges.models import ExchangeAccount


class TaxYearForm(forms.ModelForm):
    class Meta:
        model = TaxYear
        fields = ["method", "scope", "reporting", "include_paper"]
        labels = {
            "method": "Lot method",
            "scope": "Lots pooled",
            "reporting": "Form 8949 box",
            "include_paper": "Count paper fills",
        }


class TaxTransactionForm(forms.ModelForm):
    kind = forms.ChoiceField(choices=[(k, TaxTransaction.Kind(k).label) for k in FLOW_KINDS])
    occurred_at = forms.DateTimeField(
        label="When (UTC)", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )

    class Meta:
        model = TaxTransaction
        fields = [
            "kind",
            "occurred_at",
            "asset",
            "amount",
            "wallet",
            "to_wallet",
            "fee",
            "value_usd",
            "note",
        ]
        labels = {
            "value_usd": "USD value (income) or cost basis (deposit)",
            "to_wallet": "To wallet (transfers)",
            "fee": "Fee (in the same asset)",
        }

    def clean_occurred_at(self):
        value = self.cleaned_data["occurred_at"]
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def clean_asset(self):
        value = self.cleaned_data["asset"].strip().upper()
        if not value.isalnum():
            raise forms.ValidationError("Give an asset symbol, e.g. BTC.")
        return value

    def clean(self):
        data = super().clean()
        if data.get("kind") == "transfer" and (
            not data.get("to_wallet") or data.get("to_wallet") == data.get("wallet")
        ):
            self.add_error("to_wallet", "A transfer needs another wallet to go to.")
        if data.get("amount") is not None and data["amount"] <= 0:
            self.add_error("amount", "Give an amount above 0.")
        if data.get("fee") and data.get("kind") != "transfer":
            self.add_error("fee", "Only a transfer has a fee here; enter other fees as a Fee.")
        if data.get("fee"):
            data["fee_asset"] = data.get("asset", "")
        return data


class TaxImportForm(forms.Form):
    format = forms.ChoiceField(
        choices=[
            (
                "peregrine",
                "Peregrine CSV (date, kind, asset, amount, wallet, to_wallet, fee, "
                "value_usd, note)",
            ),
            ("koinly", "Koinly universal CSV"),
            ("cointracking", "CoinTracking CSV"),
        ]
    )
    file = forms.FileField()
    wallet = forms.CharField(
        required=False, max_length=100, help_text="Koinly files: the wallet they belong to."
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > 50 * 1024 * 1024:
            raise forms.ValidationError("The file is larger than 50 MB.")
        try:
            return upload.read().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise forms.ValidationError("The file is not UTF-8 text.") from exc


class ExchangeImportForm(forms.Form):
    account = forms.ModelChoiceField(queryset=ExchangeAccount.objects.none())
    since = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(
        widget=forms.DateInput(attrs={"type": "date"}), help_text="Inclusive (UTC days)."
    )
    symbols = forms.CharField(required=False, help_text="e.g. BTC/USDT, ETH/BTC; blank: all.")

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["account"].queryset = ExchangeAccount.objects.filter(
            user=user, mode=ExchangeAccount.Mode.LIVE
        )

    def clean(self):
        data = super().clean()
        if data.get("since") and data.get("until"):
            if data["since"] > data["until"]:
                self.add_error("until", "The period must end after it starts.")
            data["since_at"] = datetime.combine(data["since"], time(), UTC)
            data["until_at"] = datetime.combine(data["until"], time(), UTC) + timedelta(days=1)
        data["symbol_list"] = [
            s.strip().upper() for s in data.get("symbols", "").split(",") if s.strip()
        ]
        return data
