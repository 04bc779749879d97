"""Social login through allauth's GitHub provider, against a local server that speaks GitHub's
OAuth and user API: sign-up by a verified address, the second factor still asked for, and an
address that already has an account never taken over. Off unless configured."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest
from allauth.socialaccount.providers.github.views import GitHubOAuth2Adapter
from django.contrib.auth import get_user_model
from django.test import Client

from config.social import social_providers


class FakeGitHub:
    """GitHub's /login/oauth/access_token and /api/v3/user(/emails) for one user profile."""

    def __init__(self, *, email: str, verified: bool = True, login: str = "octo") -> None:
        self.profile = {"id": 4242, "login": login, "name": "Octo Cat", "email": email}
        self.emails = [{"email": email, "primary": True, "verified": verified}]
        self.codes_seen: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode())
                if self.path != "/login/oauth/access_token":
                    return self._json(404, {"message": "Not Found"})
                code = form.get("code", [""])[0]
                fake.codes_seen.append(code)
                if code != "good-code" or form.get("client_id") != ["peregrine-test-client"]:
                    return self._json(200, {"error": "bad_verification_code"})
                return self._json(200, {"access_token": "gho_test", "token_type": "bearer"})

            def do_GET(self):
                if self.headers.get("Authorization") != "token gho_test":
                    return self._json(401, {"message": "Bad credentials"})
                if self.path == "/api/v3/user":
                    return self._json(200, fake.profile)
                if self.path == "/api/v3/user/emails":
                    return self._json(200, fake.emails)
                return self._json(404, {"message": "Not Found"})

            def _json(self, status, payload):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def github(monkeypatch):
    """The provider pointed at the local server, as PEREGRINE_GITHUB_URL (GitHub Enterprise's
    GITHUB_URL) does: allauth reads that setting once, when its adapter is imported."""
    servers = []

    def make(**profile) -> FakeGitHub:
        fake = FakeGitHub(**profile)
        servers.append(fake)
        monkeypatch.setattr(GitHubOAuth2Adapter, "web_url", fake.url)
        monkeypatch.setattr(GitHubOAuth2Adapter, "api_url", f"{fake.url}/api/v3")
        monkeypatch.setattr(
            GitHubOAuth2Adapter, "authorize_url", f"{fake.url}/login/oauth/authorize"
        )
        monkeypatch.setattr(
            GitHubOAuth2Adapter, "access_token_url", f"{fake.url}/login/oauth/access_token"
        )
        monkeypatch.setattr(GitHubOAuth2Adapter, "profile_url", f"{fake.url}/api/v3/user")
        monkeypatch.setattr(GitHubOAuth2Adapter, "emails_url", f"{fake.url}/api/v3/user/emails")
        return fake

    yield make
    for fake in servers:
        fake.server.shutdown()


def _github_login(client: Client, fake: FakeGitHub, code: str = "good-code"):
    start = client.post("/accounts/github/login/")
    assert start.status_code == 302, start.content[:300]
    target = urlparse(start["Location"])
    assert f"{target.scheme}://{target.netloc}" == fake.url
    assert target.path == "/login/oauth/authorize"
    query = parse_qs(target.query)
    assert query["client_id"] == ["peregrine-test-client"]
    return client.get(
        "/accounts/github/login/callback/", {"code": code, "state": query["state"][0]}
    )


def test_off_unless_a_client_id_is_set():
    assert social_providers(lambda name, default: default) == {}
    configured = {"PEREGRINE_GITHUB_CLIENT_ID": "id", "PEREGRINE_GITHUB_SECRET": "s"}
    providers = social_providers(lambda name, default: configured.get(name, default))
    assert set(providers) == {"github"} and providers["github"]["APP"]["client_id"] == "id"


def test_a_verified_github_address_signs_up_and_signs_in(db, github):
    fake = github(email="octo@example.com")
    client = Client()
    assert b'href="/accounts/github/login/' in client.get("/accounts/login/").content
    done = _github_login(client, fake)
    assert done.status_code == 302 and done["Location"] == "/", done.content[:500]
    user = get_user_model().objects.get(email="octo@example.com")
    assert client.get("/trading/bots/").status_code == 200  # signed in
    assert user.socialaccount_set.get().uid == "4242"
    # a second visit signs the same user in again
    again = Client()
    assert _github_login(again, fake)["Location"] == "/"
    assert get_user_model().objects.filter(email="octo@example.com").count() == 1


def test_the_second_factor_still_applies(db, github, totp_code):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    fake = github(email="octo@example.com")
    _github_login(Client(), fake)
    user = get_user_model().objects.get(email="octo@example.com")
    TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    client = Client()
    _github_login(client, fake)
    page = client.get("/trading/bots/")
    assert page.status_code == 302 and "/accounts/2fa/" in page["Location"], page["Location"]


def test_an_address_with_an_account_is_not_taken_over(alice, github):
    fake = github(email=alice.email)
    client = Client()
    response = _github_login(client, fake)
    assert client.get("/trading/bots/").status_code == 302  # not signed in as alice
    assert not alice.socialaccount_set.exists()
    assert response.status_code in (200, 302)


def test_a_bad_code_signs_nobody_in(db, github):
    fake = github(email="octo@example.com")
    client = Client()
    response = _github_login(client, fake, code="forged")
    assert fake.codes_seen == ["forged"]
    assert response.status_code == 401 and b"Login Failure" in response.content
    assert not get_user_model().objects.filter(email="octo@example.com").exists()
    assert client.get("/trading/bots/").status_code == 302
