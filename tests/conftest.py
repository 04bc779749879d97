"""Shared fixtures: the three personas of every access test (alice, bob, anonymous).

Clients: `alice_client` / `bob_client` are signed in without 2FA (and count as recently
authenticated); `alice_otp_client` is alice with an authenticator app, past the OTP step;
`alice_stale_client` is signed in but not recently authenticated. `totp_code(device, steps=0)`
gives the code of a TOTP device at a step offset. `api_token_for(user, scope)` returns a raw
API token; use it as `HTTP_AUTHORIZATION=f"Bearer {raw}"`.
"""

import time
import uuid

import pytest
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

PASSWORD = "correct horse battery staple 42"


@pytest.fixture(autouse=True)
def _fast_and_isolated(settings):
    """Cheap hashing in tests, and a cache namespace per test (allauth rate limits live there)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.PEREGRINE_BACKUP_CODE_ITERATIONS = 1000
    caches = {name: dict(conf) for name, conf in settings.CACHES.items()}
    caches["default"]["KEY_PREFIX"] = f"test-{uuid.uuid4().hex}"
    settings.CACHES = caches


@pytest.fixture
def password() -> str:
    return PASSWORD


def _user(django_user_model, email):
    from allauth.account.models import EmailAddress

    user = django_user_model.objects.create_user(email=email, password=PASSWORD)
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    return user


@pytest.fixture
def alice(db, django_user_model):
    return _user(django_user_model, "alice@example.com")


@pytest.fixture
def bob(db, django_user_model):
    return _user(django_user_model, "bob@example.com")


@pytest.fixture
def anonymous_client(client):
    return client


@pytest.fixture
def alice_client(alice, client):
    client.force_login(alice)
    return client


@pytest.fixture
def bob_client(bob):
    from django.test import Client

    other = Client()
    other.force_login(bob)
    return other


@pytest.fixture
def totp_code():
    def make(device: TOTPDevice, steps: int = 0) -> str:
        code = totp(
            device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=steps
        )
        return f"{code:0{device.digits}d}"

    return make


@pytest.fixture
def alice_totp(alice) -> TOTPDevice:
    return TOTPDevice.objects.create(user=alice, name="Authenticator app", confirmed=True)


@pytest.fixture
def alice_otp_client(alice, alice_totp, client):
    client.force_login(alice)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = alice_totp.persistent_id
    session.save()
    return client


@pytest.fixture
def alice_stale_client(alice, client):
    from accounts.security import AUTH_AT_SESSION_KEY

    client.force_login(alice)
    session = client.session
    session[AUTH_AT_SESSION_KEY] = time.time() - 3600
    session.save()
    return client


@pytest.fixture
def api_token_for(db):
    from accounts.services.tokens import api_token_create

    def make(user, scope: str = "read") -> str:
        return api_token_create(user=user, name=f"{scope} token", scope=scope)[1]

    return make
