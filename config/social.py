"""Social login (allauth providers): off unless the operator sets a provider's client id.

    PEREGRINE_GITHUB_CLIENT_ID / PEREGRINE_GITHUB_SECRET   GitHub OAuth app (PEREGRINE_GITHUB_URL
                                                            for GitHub Enterprise)
    PEREGRINE_GOOGLE_CLIENT_ID / PEREGRINE_GOOGLE_SECRET   Google OAuth client

A social login is a login like any other: a user with two-factor authentication is held at the
OTP step (accounts.middleware.SecondFactorRequiredMiddleware) until the code passes. An address
that already has an account is never signed in by a provider saying it owns it: the owner
connects the provider from their signed-in account instead.
"""

from __future__ import annotations

from collections.abc import Callable

PROVIDERS = ("github", "google")


def social_providers(string: Callable[[str, str], str]) -> dict[str, dict]:
    """allauth's SOCIALACCOUNT_PROVIDERS from the environment (`string(name, default)`)."""
    providers: dict[str, dict] = {}
    github = string("PEREGRINE_GITHUB_CLIENT_ID", "")
    if github:
        providers["github"] = {
            "APP": {"client_id": github, "secret": string("PEREGRINE_GITHUB_SECRET", "")},
            "SCOPE": ["read:user", "user:email"],
        }
        if url := string("PEREGRINE_GITHUB_URL", ""):
            providers["github"]["GITHUB_URL"] = url
    google = string("PEREGRINE_GOOGLE_CLIENT_ID", "")
    if google:
        providers["google"] = {
            "APP": {"client_id": google, "secret": string("PEREGRINE_GOOGLE_SECRET", "")},
            "SCOPE": ["profile", "email"],
            "AUTH_PARAMS": {"access_type": "online"},
        }
    return providers
