"""Build a gateway for a Peregrine exchange account (credentials via the accounts service)."""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.conf import settings

from exchanges.gateway.ccxt_gateway import CcxtGateway


def gateway_for_account(account, *, sandbox_url: str | None = None) -> CcxtGateway:
    """A gateway with the account's decrypted keys; a refused key disables the account."""
    from exchanges.services.credentials import (
        exchange_account_credentials,
        exchange_account_disable,
    )

    credentials = exchange_account_credentials(account=account)

    async def disable(reason: str) -> None:
        await sync_to_async(exchange_account_disable)(
            account=account, reason=f"The exchange refused the API key: {reason}"
        )

    return CcxtGateway(
        account.exchange,
        api_key=credentials.api_key,
        secret=credentials.secret,
        password=credentials.passphrase,
        sandbox_url=sandbox_url,
        redis_url=settings.REDIS_URL,
        on_disable_key=disable,
    )
