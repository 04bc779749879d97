"""Login throttle: brute force kept out without handing attackers a lockout button.

Three limits on failed password logins, each in its own window (settings
PEREGRINE_LOGIN_LIMIT_PAIR / _ACCOUNT / _IP, "failures/seconds"):

- one account from one address (default 5 in 15 min): guessing one password from one place;
- one account from anywhere (default 20 an hour): guessing it from many addresses;
- one address across accounts (default 30 in 15 min): trying many accounts from one place
  (password spraying). Over this limit the address is refused only for accounts that have not
  signed in from it in the last 30 days: people who work behind the same address (an office,
  a VPN) keep signing in, each still under their own limits above.

The limits do not compound: an attempt refused by one limit is not a failure and counts towards
none of them (and extends nothing); only a wrong password counts, once in each. A correct
password clears its own account-and-address count. Counters live in the cache (Redis), keyed by
a hash of the address and of the lower-cased login, never the login itself.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

KNOWN_SECONDS = 30 * 24 * 3600
_PREFIX = "login-throttle"


@dataclass(frozen=True)
class Limit:
    failures: int
    seconds: int

    @classmethod
    def parse(cls, text: str) -> Limit:
        failures, _, seconds = text.partition("/")
        limit = cls(int(failures), int(seconds))
        if limit.failures < 1 or limit.seconds < 1:
            raise ValueError(f"a login limit needs failures/seconds above zero, not {text!r}")
        return limit


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def _keys(ip: str | None, login: str) -> dict[str, str]:
    ip_id, login_id = _digest(ip or "-"), _digest((login or "").strip().lower())
    return {
        "pair": f"{_PREFIX}:pair:{ip_id}:{login_id}",
        "account": f"{_PREFIX}:account:{login_id}",
        "ip": f"{_PREFIX}:ip:{ip_id}",
        "known": f"{_PREFIX}:known:{ip_id}:{login_id}",
    }


def _limits() -> dict[str, Limit]:
    return {
        "pair": Limit.parse(settings.PEREGRINE_LOGIN_LIMIT_PAIR),
        "account": Limit.parse(settings.PEREGRINE_LOGIN_LIMIT_ACCOUNT),
        "ip": Limit.parse(settings.PEREGRINE_LOGIN_LIMIT_IP),
    }


def login_refused(*, ip: str | None, login: str) -> str | None:
    """Which limit refuses this attempt ("pair", "account" or "ip"), or None to let it try."""
    keys, limits = _keys(ip, login), _limits()
    counts = cache.get_many([keys["pair"], keys["account"], keys["ip"], keys["known"]])
    for name in ("pair", "account"):
        if counts.get(keys[name], 0) >= limits[name].failures:
            return name
    if counts.get(keys["ip"], 0) >= limits["ip"].failures and not counts.get(keys["known"]):
        return "ip"
    return None


def _incr(key: str, seconds: int) -> None:
    # the window starts at the first failure: add() sets it only when absent
    if not cache.add(key, 1, timeout=seconds):
        try:
            cache.incr(key)
        except ValueError:  # expired between add() and incr()
            cache.add(key, 1, timeout=seconds)


def login_failure_record(*, ip: str | None, login: str) -> None:
    """A wrong password: one more in each of the three counts."""
    keys, limits = _keys(ip, login), _limits()
    for name in ("pair", "account", "ip"):
        _incr(keys[name], limits[name].seconds)


def login_success_record(*, ip: str | None, login: str) -> None:
    """A correct password: this address is known for this account; its pair count is cleared."""
    keys = _keys(ip, login)
    cache.delete(keys["pair"])
    cache.set(keys["known"], 1, timeout=KNOWN_SECONDS)
