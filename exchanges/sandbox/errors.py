"""Binance error codes and messages, as the sandbox returns them, so ccxt raises its own classes."""

from __future__ import annotations


class BinanceError(Exception):
    """An error answered as Binance does: an HTTP status and a {"code", "msg"} body."""

    def __init__(self, status: int, code: int, msg: str, headers: dict | None = None) -> None:
        super().__init__(msg)
        self.status = status
        self.code = code
        self.msg = msg
        self.headers = headers or {}


def invalid_symbol() -> BinanceError:
    return BinanceError(400, -1121, "Invalid symbol.")  # ccxt: BadSymbol


def bad_param(msg: str) -> BinanceError:
    return BinanceError(400, -1102, msg)  # ccxt: BadRequest


def filter_failure(name: str) -> BinanceError:
    # ccxt: LOT_SIZE / PRICE_FILTER in the body -> InvalidOrder; NOTIONAL -> BadRequest (-1013)
    return BinanceError(400, -1013, f"Filter failure: {name}")


def insufficient_balance() -> BinanceError:
    return BinanceError(400, -2010, "Account has insufficient balance for requested action.")


def order_rejected(msg: str) -> BinanceError:
    return BinanceError(400, -2010, msg)  # ccxt: InvalidOrder (or a more exact class by msg)


def unknown_order() -> BinanceError:
    return BinanceError(400, -2011, "Unknown order sent.")  # ccxt: OrderNotFound


def order_does_not_exist() -> BinanceError:
    return BinanceError(400, -2013, "Order does not exist.")  # ccxt: OrderNotFound


def api_key_format_invalid() -> BinanceError:
    return BinanceError(401, -2014, "API-key format invalid.")  # ccxt: AuthenticationError


def api_key_invalid() -> BinanceError:
    return BinanceError(401, -2015, "Invalid API-key, IP, or permissions for action.")


def signature_invalid() -> BinanceError:
    return BinanceError(400, -1022, "Signature for this request is not valid.")


def timestamp_outside_window() -> BinanceError:
    # ccxt: InvalidNonce
    return BinanceError(400, -1021, "Timestamp for this request is outside of the recvWindow.")


def trading_not_permitted() -> BinanceError:
    return BinanceError(
        400, -2010, "This account may not place or cancel orders."
    )  # PermissionDenied


def too_much_weight(limit: int, retry_after: int) -> BinanceError:
    msg = (
        f"Too much request weight used; current limit is {limit} request weight per 1 MINUTE. "
        "Please use WebSocket Streams for live updates to avoid polling the API."
    )
    return BinanceError(429, -1003, msg, {"Retry-After": str(retry_after)})


def ip_banned(until_ms: int, retry_after: int) -> BinanceError:
    msg = (
        f"Way too much request weight used; IP banned until {until_ms}. "
        "Please use WebSocket Streams for live updates to avoid bans."
    )
    return BinanceError(418, -1003, msg, {"Retry-After": str(retry_after)})


def maintenance() -> BinanceError:
    return BinanceError(503, 1, "System is under maintenance.")  # ccxt: OnMaintenance
