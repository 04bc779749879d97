"""Your data, in a real browser: alice downloads her archive and deletes her account."""

import io
import json
import zipfile

import pytest
from django.contrib.auth import get_user_model

from compliance.models import AuditEvent

pytestmark = pytest.mark.django_db(transaction=True)


def test_alice_downloads_her_data_then_deletes_her_account(signed_in, shot, alice, bob):
    page = signed_in
    page.goto("/accounts/security/")
    page.get_by_role("link", name="Your data: download it, or delete your account").click()
    page.wait_for_url("**/accounts/data/")
    assert page.get_by_role("heading", name="Your data").is_visible()
    shot(page, "data")
    with page.expect_download() as download_info:
        page.locator("#data-download").click()
    download = download_info.value
    assert download.suggested_filename.startswith("peregrine-data-")
    with zipfile.ZipFile(io.BytesIO(open(download.path(), "rb").read())) as archive:
        account = json.loads(archive.read("account.json"))
        assert account["user"]["email"] == "alice@example.com"
        assert (
            "bob@example.com" not in b"".join(archive.read(n) for n in archive.namelist()).decode()
        )
    page.locator("#account-delete").click()
    page.wait_for_url("**/accounts/delete/")
    page.fill("input[name=email]", "bob@example.com")  # a slip: refused, nothing happens
    page.get_by_role("button", name="Delete my account for good").click()
    assert page.get_by_text("That is not your account's email address.").is_visible()
    shot(page, "delete-refused")
    assert get_user_model().objects.filter(pk=alice.pk).exists()
    page.fill("input[name=email]", "alice@example.com")
    page.get_by_role("button", name="Delete my account for good").click()
    page.wait_for_url(lambda url: "/accounts/delete/" not in url)
    assert page.get_by_text("Your account was deleted.").is_visible()
    shot(page, "deleted")
    assert not get_user_model().objects.filter(pk=alice.pk).exists()
    assert get_user_model().objects.filter(pk=bob.pk).exists()
    assert AuditEvent.objects.filter(actor_id=alice.pk, action="account.delete").exists()
    page.goto("/accounts/security/")
    assert "/accounts/login/" in page.url
    assert page.errors == []
