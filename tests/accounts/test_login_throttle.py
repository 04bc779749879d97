"""The login throttle keeps brute force out without a lockout button (accounts/login_throttle.py):
per account and address, per account, and per address for accounts not known there; refused
attempts count towards nothing; a colleague behind the same address still signs in."""

import pytest
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db

OFFICE, HOME, ELSEWHERE = "203.0.113.7", "198.51.100.20", "192.0.2.99"
REFUSED = "Too many failed login attempts"


def _login(ip: str, login: str, password: str):
    client = Client(REMOTE_ADDR=ip)
    response = client.post(reverse("account_login"), {"login": login, "password": password})
    return client, response


def _signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_guessing_one_account_from_one_address_is_bounded_but_not_from_everywhere(
    alice, password, settings
):
    settings.PEREGRINE_LOGIN_LIMIT_PAIR = "5/900"
    for _ in range(5):
        client, response = _login(ELSEWHERE, alice.email, "wrong-pass")
        assert not _signed_in(client) and REFUSED not in response.content.decode()
    # the guesser's address is refused for alice now, even with the right password ...
    client, response = _login(ELSEWHERE, alice.email, password)
    assert not _signed_in(client) and REFUSED in response.content.decode()
    # ... alice at home is not
    client, _ = _login(HOME, alice.email, password)
    assert _signed_in(client)


def test_guessing_one_account_from_many_addresses_is_bounded(alice, password, settings):
    settings.PEREGRINE_LOGIN_LIMIT_PAIR = "5/900"
    settings.PEREGRINE_LOGIN_LIMIT_ACCOUNT = "12/3600"
    for n in range(12):
        _login(f"10.0.{n}.1", alice.email, "wrong-pass")
    client, response = _login("10.9.9.9", alice.email, password)
    assert not _signed_in(client) and REFUSED in response.content.decode()


def test_a_spraying_address_does_not_lock_out_the_colleague_who_signs_in_from_it(
    alice, bob, password, settings
):
    settings.PEREGRINE_LOGIN_LIMIT_IP = "10/900"
    client, _ = _login(OFFICE, bob.email, password)  # bob works from the office
    assert _signed_in(client)
    for n in range(10):  # someone in the same office sprays other accounts
        _login(OFFICE, f"victim{n}@example.com", "wrong-pass")
    # a further account never seen there is refused: spraying is bounded ...
    client, response = _login(OFFICE, "victim99@example.com", "wrong-pass")
    assert REFUSED in response.content.decode()
    client, response = _login(OFFICE, alice.email, password)
    assert not _signed_in(client) and REFUSED in response.content.decode()
    # ... bob, known at this address, still signs in; alice does from home
    client, _ = _login(OFFICE, bob.email, password)
    assert _signed_in(client)
    client, _ = _login(HOME, alice.email, password)
    assert _signed_in(client)


def test_refused_attempts_do_not_count_towards_any_limit(alice, password, settings):
    """Limits do not compound: hammering while refused neither extends the pair's block nor
    uses up the account's or the address's counts."""
    from django.core.cache import cache

    from accounts.login_throttle import _keys

    settings.PEREGRINE_LOGIN_LIMIT_PAIR = "3/900"
    settings.PEREGRINE_LOGIN_LIMIT_ACCOUNT = "6/3600"
    for _ in range(3):
        _login(ELSEWHERE, alice.email, "wrong-pass")
    for _ in range(20):  # all refused
        _, response = _login(ELSEWHERE, alice.email, "wrong-pass")
        assert REFUSED in response.content.decode()
    keys = _keys(ELSEWHERE, alice.email)
    assert cache.get(keys["pair"]) == 3
    assert cache.get(keys["account"]) == 3
    assert cache.get(keys["ip"]) == 3
    client, _ = _login(HOME, alice.email, password)  # the account was not locked by them
    assert _signed_in(client)


def test_a_correct_password_clears_its_own_count_only(alice, password, settings):
    from django.core.cache import cache

    from accounts.login_throttle import _keys

    settings.PEREGRINE_LOGIN_LIMIT_PAIR = "5/900"
    for _ in range(4):
        _login(HOME, alice.email, "wrong-pass")
    client, _ = _login(HOME, alice.email, password)
    assert _signed_in(client)
    keys = _keys(HOME, alice.email)
    assert cache.get(keys["pair"]) is None
    assert cache.get(keys["account"]) == 4  # many addresses guessing still add up
    assert "alice" not in "".join(keys.values())  # keys hold hashes, not the login


def test_a_limit_must_be_failures_per_seconds():
    from accounts.login_throttle import Limit

    assert Limit.parse("5/900") == Limit(5, 900)
    for bad in ("0/900", "5/0", "five/900", "5"):
        with pytest.raises(ValueError):
            Limit.parse(bad)
