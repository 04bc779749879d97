"""Exchange accounts and their credentials: the only code that seals or opens them.

Secrets are sealed with exchanges/crypto.py under a fresh data key, bound to the row
(table, id, user id, key version). `exchange_account_credentials` is the single place that opens
them, for the exchange gateway; every decrypted value is registered for log redaction at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.notifications import security_notice_send
from compliance.services import audit_record
from config.logging import register_secret
from exchanges import crypto, registry
from exchanges.models import ExchangeAccount

_SECRET_FIELDS = ("api_key_ciphertext", "secret_ciphertext", "passphrase_ciphertext")


@dataclass(frozen=True)
class Credentials:
    """Plain credentials for the gateway; repr never shows them."""

    api_key: str
    secret: str
    passphrase: str = ""

    def __repr__(self) -> str:
        return "Credentials(api_key='…', secret='…', passphrase='…')"

    __str__ = __repr__


def keyring() -> crypto.Keyring:
    """The configured master keys (settings.PEREGRINE_MASTER_KEYS, newest last)."""
    return crypto.Keyring(list(settings.PEREGRINE_MASTER_KEYS))


def _aad(account: ExchangeAccount) -> bytes:
    return crypto.associated_data(
        table=ExchangeAccount._meta.db_table,
        row_id=account.pk,
        owner_id=account.user_id,
        key_version=account.key_version,
    )


def _needs_passphrase(exchange: str) -> bool:
    if registry.is_sandbox(exchange):
        return False
    import ccxt

    try:
        return bool(getattr(ccxt, exchange)().requiredCredentials.get("password"))
    except Exception:  # an exchange class that cannot be built offline: do not demand it
        return False


def _validate_keys(*, exchange: str, api_key: str, secret: str, passphrase: str) -> None:
    errors: dict[str, str] = {}
    if not api_key:
        errors["api_key"] = "Enter the API key."
    if not secret:
        errors["secret"] = "Enter the API secret."
    if not passphrase and _needs_passphrase(exchange):
        errors["passphrase"] = f"{exchange} needs the API passphrase too."
    if errors:
        raise ValidationError(errors)


def _validate_fields(*, user, exchange: str, label: str, mode: str, exclude_id=None) -> None:
    errors: dict[str, str] = {}
    if not registry.is_supported(exchange):
        errors["exchange"] = f"Unknown exchange id {exchange!r}."
    if not label:
        errors["label"] = "Give the account a label."
    elif (
        ExchangeAccount.objects.filter(user_id=user.pk, label=label).exclude(pk=exclude_id).exists()
    ):
        errors["label"] = "You already have an exchange account with this label."
    if mode not in ExchangeAccount.Mode.values:
        errors["mode"] = "Choose paper or live."
    if errors:
        raise ValidationError(errors)


KEY_TAKEN = (
    "This API key is already connected to another Peregrine user. Create a key of your own on "
    "the exchange."
)


def api_key_fingerprint(exchange: str, api_key: str) -> str:
    """HMAC-SHA256 of exchange and API key under PEREGRINE_KEY_FINGERPRINT_SECRET (default the
    SECRET_KEY): equal keys give equal fingerprints; the key cannot be recovered from it."""
    from django.utils.crypto import salted_hmac

    secret = settings.PEREGRINE_KEY_FINGERPRINT_SECRET or settings.SECRET_KEY
    value = f"{exchange}\x00{api_key}"
    return salted_hmac("exchanges.api_key", value, secret=secret, algorithm="sha256").hexdigest()


def _refuse_key_of_another_user(*, user, exchange: str, api_key: str) -> str:
    """The key's fingerprint; ValidationError when another user's account holds the same key.

    Concurrent adds of one key are serialized by a transaction lock on its fingerprint. The
    message does not say whose key it is."""
    from django.db import connection

    fingerprint = api_key_fingerprint(exchange, api_key)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [fingerprint])
    taken = (
        ExchangeAccount.objects.filter(exchange=exchange, api_key_fingerprint=fingerprint)
        .exclude(user_id=user.pk)
        .exists()
    )
    if taken:
        raise ValidationError({"api_key": KEY_TAKEN})
    return fingerprint


def _seal_keys(account: ExchangeAccount, *, api_key: str, secret: str, passphrase: str) -> None:
    ring, aad = keyring(), _aad(account)
    account.api_key_ciphertext = crypto.seal(api_key, aad=aad, keyring=ring)
    account.secret_ciphertext = crypto.seal(secret, aad=aad, keyring=ring)
    account.passphrase_ciphertext = (
        crypto.seal(passphrase, aad=aad, keyring=ring) if passphrase else ""
    )
    account.api_key_last4 = api_key[-4:]
    account.api_key_fingerprint = api_key_fingerprint(account.exchange, api_key)


def _public(account: ExchangeAccount) -> dict:
    return {
        "exchange": account.exchange,
        "label": account.label,
        "mode": account.mode,
        "status": account.status,
        "api_key_last4": account.api_key_last4,
        "key_version": account.key_version,
    }


@transaction.atomic
def exchange_account_create(
    *,
    user,
    exchange: str,
    label: str,
    mode: str,
    api_key: str,
    secret: str,
    passphrase: str = "",
    ip: str | None = None,
) -> ExchangeAccount:
    """Validate and store a new exchange account with its credentials sealed."""
    exchange, label = (exchange or "").strip(), (label or "").strip()
    api_key, secret, passphrase = (
        (api_key or "").strip(),
        (secret or "").strip(),
        (passphrase or "").strip(),
    )
    _validate_fields(user=user, exchange=exchange, label=label, mode=mode)
    _validate_keys(exchange=exchange, api_key=api_key, secret=secret, passphrase=passphrase)
    _refuse_key_of_another_user(user=user, exchange=exchange, api_key=api_key)
    account = ExchangeAccount(user=user, exchange=exchange, label=label, mode=mode)
    _seal_keys(account, api_key=api_key, secret=secret, passphrase=passphrase)
    account.save()
    audit_record(
        actor=user, action="exchange_account.create", target=account, ip=ip, after=_public(account)
    )
    security_notice_send(
        user=user,
        subject="Exchange key added",
        body=f"An API key ending {account.api_key_last4} for {exchange} was added to your "
        f"account as '{label}' ({mode} mode).",
    )
    return account


@transaction.atomic
def exchange_account_update(
    *, account: ExchangeAccount, label: str, mode: str, ip: str | None = None
) -> ExchangeAccount:
    """Change label and mode; switching to live is noticed by email (callers require re-auth)."""
    account = ExchangeAccount.objects.select_for_update().get(pk=account.pk)
    label = (label or "").strip()
    _validate_fields(
        user=account.user, exchange=account.exchange, label=label, mode=mode, exclude_id=account.pk
    )
    before = _public(account)
    going_live = mode == ExchangeAccount.Mode.LIVE and not account.is_live
    account.label, account.mode = label, mode
    account.save(update_fields=["label", "mode", "updated_at"])
    audit_record(
        actor=account.user,
        action="exchange_account.update",
        target=account,
        ip=ip,
        before=before,
        after=_public(account),
    )
    if going_live:
        security_notice_send(
            user=account.user,
            subject="Live trading enabled",
            body=f"Live trading was enabled for the exchange account '{label}' "
            f"({account.exchange}). Bots on it now place real orders.",
        )
    return account


@transaction.atomic
def exchange_account_replace_keys(
    *,
    account: ExchangeAccount,
    api_key: str,
    secret: str,
    passphrase: str = "",
    ip: str | None = None,
) -> ExchangeAccount:
    """Replace the credentials under a new key version; a disabled account becomes active."""
    account = ExchangeAccount.objects.select_for_update().get(pk=account.pk)
    api_key, secret, passphrase = (
        (api_key or "").strip(),
        (secret or "").strip(),
        (passphrase or "").strip(),
    )
    _validate_keys(exchange=account.exchange, api_key=api_key, secret=secret, passphrase=passphrase)
    _refuse_key_of_another_user(user=account.user, exchange=account.exchange, api_key=api_key)
    before = _public(account)
    account.key_version += 1
    _seal_keys(account, api_key=api_key, secret=secret, passphrase=passphrase)
    account.status, account.disabled_reason = ExchangeAccount.Status.ACTIVE, ""
    account.save()
    audit_record(
        actor=account.user,
        action="exchange_account.replace_keys",
        target=account,
        ip=ip,
        before=before,
        after=_public(account),
    )
    security_notice_send(
        user=account.user,
        subject="Exchange key replaced",
        body=f"The API key of '{account.label}' ({account.exchange}) was replaced; the new key "
        f"ends {account.api_key_last4}.",
    )
    return account


@transaction.atomic
def exchange_account_delete(*, account: ExchangeAccount, ip: str | None = None) -> None:
    """Delete the account and its sealed credentials."""
    audit_record(
        actor=account.user,
        action="exchange_account.delete",
        target=account,
        ip=ip,
        before=_public(account),
    )
    security_notice_send(
        user=account.user,
        subject="Exchange key deleted",
        body=f"The exchange account '{account.label}' ({account.exchange}) and its API key "
        f"ending {account.api_key_last4} were deleted.",
    )
    account.delete()


@transaction.atomic
def exchange_account_disable(
    *, account: ExchangeAccount, reason: str, actor=None, ip: str | None = None
) -> ExchangeAccount:
    """Stop using an account (e.g. the exchange rejected its key); record it, tell the owner."""
    account = ExchangeAccount.objects.select_for_update().get(pk=account.pk)
    before = _public(account)
    account.status = ExchangeAccount.Status.DISABLED
    account.disabled_reason = (reason or "Disabled.")[:500]
    account.save(update_fields=["status", "disabled_reason", "updated_at"])
    audit_record(
        actor=actor,
        action="exchange_account.disable",
        target=account,
        ip=ip,
        before=before,
        after={**_public(account), "reason": account.disabled_reason},
    )
    security_notice_send(
        user=account.user,
        subject="Exchange account disabled",
        body=f"Peregrine stopped using the exchange account '{account.label}' "
        f"({account.exchange}): {account.disabled_reason}\nReplace its key to use it again.",
    )
    return account


def exchange_account_credentials(*, account: ExchangeAccount) -> Credentials:
    """Open the sealed credentials for the exchange gateway; values are log-redacted at once.

    Raises exchanges.crypto.DecryptionError if a ciphertext does not belong to this row.
    """
    ring, aad = keyring(), _aad(account)
    api_key = crypto.open_sealed(account.api_key_ciphertext, aad=aad, keyring=ring)
    register_secret(api_key)
    secret = crypto.open_sealed(account.secret_ciphertext, aad=aad, keyring=ring)
    register_secret(secret)
    passphrase = ""
    if account.passphrase_ciphertext:
        passphrase = crypto.open_sealed(account.passphrase_ciphertext, aad=aad, keyring=ring)
        register_secret(passphrase)
    return Credentials(api_key=api_key, secret=secret, passphrase=passphrase)


def exchange_account_rewrap_all() -> dict[str, int]:
    """Re-wrap every sealed credential under the newest master key; counts per outcome."""
    ring = keyring()
    counts = {"accounts": 0, "rewrapped": 0}
    for account_id in ExchangeAccount.objects.values_list("pk", flat=True).iterator():
        with transaction.atomic():
            account = ExchangeAccount.objects.select_for_update().get(pk=account_id)
            aad, changed = _aad(account), []
            for field in _SECRET_FIELDS:
                sealed = getattr(account, field)
                if sealed and crypto.sealed_key_id(sealed) != ring.newest.key_id:
                    setattr(account, field, crypto.rewrap(sealed, aad=aad, keyring=ring))
                    changed.append(field)
            if changed:
                account.save(update_fields=changed)
                counts["rewrapped"] += len(changed)
            counts["accounts"] += 1
    return counts


def exchange_account_fingerprints_backfill(*, model=ExchangeAccount) -> dict[str, int]:
    """Give accounts stored before key fingerprints existed theirs, so the one-user-per-key rule
    covers them too (run once by the migration that adds this; `model` is its historical model).

    A key that cannot be opened (its master key is gone) is counted and left without one. Keys
    held by two users already are counted: the rule refuses only new adds."""
    ring, table = keyring(), model._meta.db_table
    counts = {"filled": 0, "unreadable": 0, "shared": 0}
    for account in model.objects.filter(api_key_fingerprint="").iterator():
        aad = crypto.associated_data(
            table=table,
            row_id=account.pk,
            owner_id=account.user_id,
            key_version=account.key_version,
        )
        try:
            api_key = crypto.open_sealed(account.api_key_ciphertext, aad=aad, keyring=ring)
        except crypto.DecryptionError:
            counts["unreadable"] += 1
            continue
        fingerprint = api_key_fingerprint(account.exchange, api_key)
        model.objects.filter(pk=account.pk).update(api_key_fingerprint=fingerprint)
        counts["filled"] += 1
        others = model.objects.filter(exchange=account.exchange, api_key_fingerprint=fingerprint)
        if others.exclude(user_id=account.user_id).exists():
            counts["shared"] += 1
    return counts


def sealed_key_ids_in_use() -> set[str]:
    """Ids of every master key that still wraps a stored credential."""
    ids: set[str] = set()
    for row in ExchangeAccount.objects.values_list(*_SECRET_FIELDS).iterator():
        ids.update(crypto.sealed_key_id(value) for value in row if value)
    return ids
