"""The "test connection" action of an exchange account: can we read the balance with its key,
and does the key carry permissions Peregrine never needs?"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from asgiref.sync import async_to_sync

from exchanges.gateway.errors import Action, GatewayError

WITHDRAWALS_WARNING = (
    "Withdrawals are enabled on this API key. Peregrine never withdraws: create a key without "
    "withdrawal permission."
)
IP_WARNING = (
    "This API key is not restricted to IP addresses. Restrict it to the addresses of the "
    "machines that run Peregrine."
)
UNREPORTED_WARNING = (
    "This exchange does not report key permissions: check on the exchange that withdrawals "
    "are disabled and the key is restricted to your IP addresses."
)


@dataclass(frozen=True)
class ConnectionReport:
    ok: bool
    balances: dict[str, Decimal] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    error: str = ""
    action: str = ""


def restriction_warnings(restrictions: dict | None) -> list[str]:
    """Warnings from Binance-style apiRestrictions (None: the exchange does not report them)."""
    if restrictions is None:
        return [UNREPORTED_WARNING]
    warnings = []
    if restrictions.get("enableWithdrawals"):
        warnings.append(WITHDRAWALS_WARNING)
    if not restrictions.get("ipRestrict"):
        warnings.append(IP_WARNING)
    return warnings


def exchange_account_test_connection(
    *, account, sandbox_url: str | None = None
) -> ConnectionReport:
    """Fetch the balance with the account's key and warn about risky key permissions.

    A key the exchange refuses disables the account (and its owner is told) on the way.
    """
    from exchanges.gateway.accounts import gateway_for_account

    async def run() -> ConnectionReport:
        gateway = gateway_for_account(account, sandbox_url=sandbox_url)
        try:
            balances = await gateway.fetch_balance()
            restrictions = await gateway.api_restrictions()
        except GatewayError as exc:
            return ConnectionReport(False, error=_explain(exc), action=exc.action.value)
        finally:
            await gateway.close()
        totals = {a: line.total for a, line in sorted(balances.items()) if line.total}
        return ConnectionReport(True, totals, restriction_warnings(restrictions))

    return async_to_sync(run)()


def key_warnings(account) -> list[str]:
    """At key ingest: what the key may do that Peregrine never needs (withdrawals, no IP
    restriction), or why it could not be checked, in words."""
    report = exchange_account_test_connection(account=account)
    if not report.ok:
        return [f"The key could not be checked: {report.error}"]
    return list(report.warnings)


def _explain(exc: GatewayError) -> str:
    if exc.action is Action.DISABLE_KEY:
        return "The exchange refused the API key; the account has been disabled."
    if exc.action in (Action.PAUSE, Action.RETRY, Action.BACKOFF):
        return "The exchange is not reachable right now; try again in a minute."
    return "The exchange rejected the request."
