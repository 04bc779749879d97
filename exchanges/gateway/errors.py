"""What to do about each ccxt exception: every class in the pinned ccxt maps to an action.

The lookup walks the exception's class hierarchy to the nearest mapped class, but the table
names every class explicitly (a test fails when a ccxt upgrade adds one we have not decided on).
For order creation, an error that leaves the outcome open (timeout, network failure, a 5xx,
an unreadable response) makes the order UNKNOWN: it is resolved by looking it up with its
client order id, never by sending it again.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from enum import StrEnum

import ccxt


class Action(StrEnum):
    TERMINAL = "terminal"  # the request is wrong or refused: do not retry it
    NOT_FOUND = "not_found"  # the order is not (or no longer) on the exchange
    BACKOFF = "backoff"  # rate limited: wait (Retry-After if given), then resume
    PAUSE = "pause"  # exchange unavailable or in maintenance: pause until it is back
    DISABLE_KEY = "disable_key"  # the key is refused: disable the account, tell the user
    RESYNC_TIME = "resync_time"  # our clock is off for the exchange: re-sync, then retry
    RETRY = "retry"  # transient failure of a read: retry with backoff
    UNKNOWN = "unknown"  # order creation with an unknown outcome: resolve by lookup


ACTIONS: dict[type[BaseException], Action] = {
    ccxt.BaseError: Action.RETRY,
    ccxt.ExchangeError: Action.TERMINAL,
    ccxt.AuthenticationError: Action.DISABLE_KEY,
    ccxt.PermissionDenied: Action.DISABLE_KEY,
    ccxt.AccountNotEnabled: Action.DISABLE_KEY,
    ccxt.AccountSuspended: Action.DISABLE_KEY,
    ccxt.ArgumentsRequired: Action.TERMINAL,
    ccxt.BadRequest: Action.TERMINAL,
    ccxt.BadSymbol: Action.TERMINAL,
    ccxt.OperationRejected: Action.TERMINAL,
    ccxt.NoChange: Action.TERMINAL,
    ccxt.MarginModeAlreadySet: Action.TERMINAL,
    ccxt.MarketClosed: Action.PAUSE,
    ccxt.ManualInteractionNeeded: Action.DISABLE_KEY,
    ccxt.RestrictedLocation: Action.DISABLE_KEY,
    ccxt.InsufficientFunds: Action.TERMINAL,
    ccxt.InvalidAddress: Action.TERMINAL,
    ccxt.AddressPending: Action.TERMINAL,
    ccxt.InvalidOrder: Action.TERMINAL,
    ccxt.OrderNotFound: Action.NOT_FOUND,
    ccxt.OrderNotCached: Action.NOT_FOUND,
    ccxt.OrderImmediatelyFillable: Action.TERMINAL,
    ccxt.OrderNotFillable: Action.TERMINAL,
    ccxt.DuplicateOrderId: Action.TERMINAL,
    ccxt.ContractUnavailable: Action.TERMINAL,
    ccxt.NotSupported: Action.TERMINAL,
    ccxt.InvalidProxySettings: Action.PAUSE,
    ccxt.ExchangeClosedByUser: Action.PAUSE,
    ccxt.OperationFailed: Action.RETRY,
    ccxt.NetworkError: Action.RETRY,
    ccxt.DDoSProtection: Action.BACKOFF,
    ccxt.RateLimitExceeded: Action.BACKOFF,
    ccxt.ExchangeNotAvailable: Action.PAUSE,
    ccxt.OnMaintenance: Action.PAUSE,
    ccxt.InvalidNonce: Action.RESYNC_TIME,
    ccxt.ChecksumError: Action.RETRY,
    ccxt.RequestTimeout: Action.RETRY,
    ccxt.BadResponse: Action.RETRY,
    ccxt.NullResponse: Action.RETRY,
    ccxt.CancelPending: Action.RETRY,
    ccxt.UnsubscribeError: Action.RETRY,
}

# Errors after which a create-order request may or may not have been executed by the exchange.
OUTCOME_UNKNOWN_ON_CREATE: tuple[type[BaseException], ...] = (
    ccxt.RequestTimeout,
    ccxt.ExchangeNotAvailable,  # 5xx: the exchange may have accepted the order first
    ccxt.BadResponse,
    ccxt.NetworkError,
    asyncio.TimeoutError,
    OSError,
)
# ... except these, which the exchange sends before it looks at the order.
NOT_EXECUTED_ON_CREATE: tuple[type[BaseException], ...] = (
    ccxt.DDoSProtection,
    ccxt.RateLimitExceeded,
    ccxt.OnMaintenance,
    ccxt.InvalidNonce,
)


@dataclass(frozen=True)
class Decision:
    action: Action
    retry_after: float | None = None
    reason: str = ""


class GatewayError(Exception):
    """An exchange call failed; `action` says what the caller should do about it."""

    def __init__(self, decision: Decision, operation: str) -> None:
        super().__init__(f"{operation}: {decision.action.value}: {decision.reason}")
        self.decision = decision
        self.action = decision.action
        self.operation = operation


def action_for(exc_type: type[BaseException]) -> Action:
    """The action of the nearest mapped class in the exception's hierarchy."""
    for cls in exc_type.__mro__:
        action = ACTIONS.get(cls)
        if action is not None:
            return action
    return Action.RETRY  # not a ccxt error (aiohttp, OS, asyncio): treat as a network failure


def classify(
    exc: BaseException, *, creating: bool = False, headers: dict | None = None
) -> Decision:
    """Decide what to do about `exc`; `creating` marks an order-creation request."""
    reason = str(exc)[:500]
    if (
        creating
        and isinstance(exc, OUTCOME_UNKNOWN_ON_CREATE)
        and not isinstance(exc, NOT_EXECUTED_ON_CREATE)
    ):
        return Decision(Action.UNKNOWN, None, reason)
    action = action_for(type(exc))
    retry_after = _retry_after(headers) if action is Action.BACKOFF else None
    return Decision(action, retry_after, reason)


def _retry_after(headers: dict | None) -> float | None:
    if not headers:
        return None
    for name, value in headers.items():
        if name.lower() == "retry-after":
            try:
                return max(float(value), 0.0)
            except (TypeError, ValueError):
                return None
    return None
