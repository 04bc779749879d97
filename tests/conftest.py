"""Shared fixtures: the three personas of every access test (alice, bob, anonymous)."""

import pytest

PASSWORD = "correct horse battery staple 42"


@pytest.fixture
def password() -> str:
    return PASSWORD


@pytest.fixture
def alice(db, django_user_model):
    return django_user_model.objects.create_user(email="alice@example.com", password=PASSWORD)


@pytest.fixture
def bob(db, django_user_model):
    return django_user_model.objects.create_user(email="bob@example.com", password=PASSWORD)


@pytest.fixture
def anonymous_client(client):
    return client
