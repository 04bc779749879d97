"""What a new user meets first: the icon, commands the app tells them to run."""

import os
import shutil
import subprocess
import sys

import environ
import psycopg
import pytest
import redis
from django.contrib.staticfiles import finders

from config import embedded


@pytest.fixture
def var_dir(monkeypatch):
    """A private ./var (pgserver's own user must reach it, so not /tmp/pytest-*)."""
    path = embedded.BASE_DIR / "var" / f"test-first-run-{os.getpid()}"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    monkeypatch.setattr(embedded, "VAR_DIR", path)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def database_from(url: str) -> dict:
    from urllib.parse import unquote

    config = environ.Env.db_url_config(url)
    return {**config, "HOST": unquote(config["HOST"])}


def test_favicon_is_served_not_404(client, db):
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"].endswith("favicon.svg")
    assert finders.find("favicon.svg")


def test_pages_link_the_icon_and_the_reconnect_catch_up(client, db):
    html = client.get("/accounts/login/").content.decode()
    assert 'rel="icon"' in html
    assert "js/live-resync.js" in html
    assert finders.find("js/live-resync.js")


def _manage(*args: str, var_dir) -> subprocess.CompletedProcess:
    """`manage.py ARGS` as a user types it: no DATABASE_URL / REDIS_URL in the environment."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(PEREGRINE_VAR_DIR=str(var_dir), PEREGRINE_ENV="development")
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=embedded.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_manage_py_attaches_to_the_running_embedded_servers(var_dir):
    with embedded.services({}) as env:
        migrated = _manage("migrate", "--verbosity", "0", var_dir=var_dir)
        assert migrated.returncode == 0, migrated.stderr
        created = _manage("sandbox_user", "first-run-trader", var_dir=var_dir)
        assert created.returncode == 0, created.stderr
        assert "DATABASE_URL" not in created.stderr
        assert "api key:" in created.stdout

        db = database_from(env["DATABASE_URL"])
        with psycopg.connect(host=db["HOST"], dbname=db["NAME"], user=db["USER"]) as conn:
            names = [row[0] for row in conn.execute("SELECT name FROM sandbox_sandboxuser")]
        assert "first-run-trader" in names
        # the command only attached: the servers it found running are still up
        assert redis.Redis.from_url(env["REDIS_URL"]).ping()


def _signup_page(client, password) -> str:
    from django.urls import reverse

    response = client.post(
        reverse("account_signup"),
        {"email": "newcomer@example.com", "password1": password, "password2": password},
        follow=True,
    )
    assert response.status_code == 200
    assert "Verify Your Email Address" in response.content.decode()
    return response.content.decode()


def test_verification_page_says_the_console_email_is_in_the_terminal(
    client, db, settings, password, capsys
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
    html = _signup_page(client, password)
    assert "Where is the email?" in html
    assert "printed in the terminal running Peregrine" in html and "make run" in html
    # and it really is there: the console backend wrote the message with its link
    assert "newcomer@example.com" in capsys.readouterr().out


def test_verification_page_names_the_folder_of_the_file_backend(
    client, db, settings, password, tmp_path
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = str(tmp_path)
    html = _signup_page(client, password)
    assert f"written as a file under {tmp_path}" in html
    assert any("newcomer@example.com" in p.read_text() for p in tmp_path.iterdir())


def test_verification_page_says_nothing_extra_when_email_is_really_sent(
    client, db, settings, password
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"  # as a real sender
    html = _signup_page(client, password)
    assert "Where is the email?" not in html
