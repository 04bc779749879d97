"""Shared fixtures: the three personas of every access test (alice, bob, anonymous).

Clients: `alice_client` / `bob_client` are signed in without 2FA (and count as recently
authenticated); `alice_otp_client` is alice with an authenticator app, past the OTP step;
`alice_stale_client` is signed in but not recently authenticated. `totp_code(device, steps=0)`
gives the code of a TOTP device at a step offset. `api_token_for(user, scope)` returns a raw
API token; use it as `HTTP_AUTHORIZATION=f"Bearer {raw}"`.

`sandbox_server`, `sandbox_url` and `sandbox_account` (exchanges.sandbox.testing) give each test
module a fresh sandbox exchange, stopped when the module is done.
"""

import time
import uuid

import pytest
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

pytest_plugins = ["exchanges.sandbox.testing"]

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


# --- real processes against the test database ---------------------------------------------------
import os  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from urllib.parse import quote  # noqa: E402

BASE_DIR = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate, *, timeout: float = 30.0, interval: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture
def eager_celery():
    """Run queued tasks in the test process (retries run at once, countdown ignored).

    Eager errors are not propagated (a retry is an exception too): tests check the outcome.
    """
    from config.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield app
    app.conf.task_always_eager = before


def current_minute_ms() -> int:
    """The current minute (ms), read away from its edges: a bar closing while a test runs (by
    our clock or the exchange's, a few ms apart) would change how many bars are closed."""
    while not 2_000 <= int(time.time() * 1000) % 60_000 <= 45_000:
        time.sleep(0.25)
    now = int(time.time() * 1000)
    return now - now % 60_000


@pytest.fixture
def process_env(transactional_db, settings):
    """Environment for child processes (web, worker, beat) that use this test's database."""
    db = settings.DATABASES["default"]
    host = quote(db["HOST"], safe="") if db["HOST"].startswith("/") else db["HOST"]
    port = f":{db['PORT']}" if db.get("PORT") else ""
    env = dict(os.environ)
    env.update(
        DATABASE_URL=f"postgres://{quote(db['USER'] or '')}@{host}{port}/{db['NAME']}",
        REDIS_URL=settings.REDIS_URL,
        PEREGRINE_ENV="test",
        DJANGO_SETTINGS_MODULE="config.settings",
        PYTHONUNBUFFERED="1",
    )
    env.pop("DATABASE_TEST_NAME", None)
    return env


class ChildProcesses:
    """Start real platform processes for a test and always stop them afterwards."""

    def __init__(self, env: dict[str, str]):
        self.env = env
        self.children: list[subprocess.Popen] = []

    def start(self, *argv: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        child = subprocess.Popen(
            [sys.executable, *argv],
            env={**self.env, **(env or {})},
            cwd=BASE_DIR,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.children.append(child)
        return child

    def stop_all(self) -> None:
        import signal

        for child in self.children:
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGTERM)
        for child in self.children:
            try:
                child.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()


@pytest.fixture
def child_processes(process_env):
    processes = ChildProcesses(process_env)
    yield processes
    processes.stop_all()
