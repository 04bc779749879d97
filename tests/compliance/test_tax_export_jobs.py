"""Large tax exports run in a worker: past TAX_EXPORT_ASYNC_THRESHOLD records the page and the
API start a TaxExport, a real Celery worker writes the file (byte for byte the streamed
download), its progress reaches the export's socket, the owner alone sees, follows and downloads
it, and the file goes when it expires or with the account. Small exports still stream at once.

Real Postgres, Redis (broker and channel layer) and a real worker process on the "default"
queue (the queue `make run`'s and docker-compose's general worker consumes).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from asgiref.sync import async_to_sync
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from compliance.tax.exports import (
    tax_export_path,
    tax_export_prune,
    tax_export_run,
    tax_export_start,
)
from compliance.tax_models import TaxExport
from compliance.tax_views import history_export_response, year_export_response
from config.routing import websocket_urlpatterns
from tests.compliance import tax_factories as f
from tests.conftest import PASSWORD, wait_until
from tests.trading import workers

YEAR = 2025
KINDS = [("gains", YEAR), ("form8949", YEAR), ("koinly", None), ("cointracking", None)]


@pytest.fixture
def export_root(tmp_path, settings):
    settings.TAX_EXPORT_ROOT = tmp_path / "exports"
    settings.TAX_EXPORT_ASYNC_THRESHOLD = 20
    return settings.TAX_EXPORT_ROOT


def _history(user, n: int = 40) -> int:
    """n fills over 2024 and 2025 (buys, then partial sells) and a USDT fee in each."""
    acct, bot = f.account(user), f.bot(user)
    for i in range(n):
        at = datetime(2024, 3, 1, tzinfo=UTC) + timedelta(days=15 * i, minutes=i)
        side = "buy" if i % 3 != 2 else "sell"
        f.fill(bot, at, side, "0.0150" if side == "buy" else "0.0200", str(30000 + 517 * i),
               fee="0.37", acct=acct)  # fmt: skip
    return n


def _streamed(user, kind: str, year: int | None) -> bytes:
    response = (
        year_export_response(user, year, kind) if year else history_export_response(user, kind)
    )
    return b"".join(response.streaming_content)


def _page_url(kind: str, year: int | None) -> str:
    if year:
        return reverse("compliance:tax-year-export", kwargs={"year": year, "kind": kind})
    return reverse("compliance:tax-history-export", kwargs={"kind": kind})


def _socket(user, export_id: int) -> WebsocketCommunicator:
    ws = WebsocketCommunicator(URLRouter(websocket_urlpatterns), f"/ws/tax/exports/{export_id}/")
    ws.scope["user"] = user
    ws.scope["session"] = {}
    return ws


@pytest.fixture
def worker_queue():
    """The "default" queue emptied before the test queues anything: messages of earlier tests
    name exports this database lacks."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.delete("default")
    client.close()


def _start_worker(child_processes, root: Path):
    return workers.start_worker(
        child_processes, {"LOG_LEVEL": "WARNING", "TAX_EXPORT_ROOT": str(root)}, "exports",
        queues="default", threads=2,
    )  # fmt: skip


def _done(export_id: int) -> TaxExport:
    def finished():
        export = TaxExport.objects.get(pk=export_id)
        return export if export.finished else None

    return wait_until(finished, timeout=300, interval=0.2, what="the worker's export")


# -- small exports stream; large ones go to a worker ------------------------------------------
def test_a_small_year_streams_at_once_and_starts_no_export(alice, alice_client, settings):
    _history(alice, 5)
    response = alice_client.get(_page_url("gains", YEAR))
    assert response.status_code == 200 and response.streaming
    assert b"".join(response.streaming_content) == _streamed(alice, "gains", YEAR)
    assert not TaxExport.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_worker_writes_each_large_export_byte_for_byte_as_the_stream(
    alice, export_root, worker_queue, child_processes
):
    records = _history(alice)
    client = Client()
    client.force_login(alice)
    exports = {}
    for kind, year in KINDS:
        response = client.get(_page_url(kind, year))
        assert response.status_code == 302, (kind, response.status_code)
        export = TaxExport.objects.get(user=alice, kind=kind)
        assert response.url == reverse("compliance:tax-export-detail", kwargs={"id": export.pk})
        assert export.status == "queued" and export.records_total == records
        exports[kind] = export
    # the same export asked again while queued is the same job, not a second one
    assert client.get(_page_url("gains", YEAR)).url.endswith(f"/{exports['gains'].pk}/")
    _start_worker(child_processes, export_root)
    for kind, year in KINDS:
        export = _done(exports[kind].pk)
        assert export.status == "done", export.error
        path = tax_export_path(export)
        assert path.parent == export_root / str(alice.pk)
        expected = _streamed(alice, kind, year)
        assert path.read_bytes() == expected, kind
        assert export.size == len(expected) and export.records_done == records
        assert export.rows_done == expected.count(b"\r\n") - 1  # data rows, without the header
        page = client.get(reverse("compliance:tax-export-download", kwargs={"id": export.pk}))
        assert page.status_code == 200 and page["Content-Type"] == "text/csv"
        assert f'filename="{export.filename}"' in page["Content-Disposition"]
        assert b"".join(page.streaming_content) == expected
        detail = client.get(reverse("compliance:tax-export-detail", kwargs={"id": export.pk}))
        assert 'id="tax-export-download"' in detail.content.decode()
    assert not list(export_root.glob("*/.*.part"))  # no partial file left behind


@pytest.mark.django_db(transaction=True)
def test_the_export_socket_shows_the_workers_progress_then_the_download(
    alice, export_root, worker_queue, child_processes
):
    _history(alice)
    export = tax_export_start(user=alice, kind="gains", year=YEAR)
    seen = []

    async def scenario():
        ws = _socket(alice, export.pk)
        assert (await ws.connect())[0]
        seen.append(await ws.receive_json_from(timeout=5))
        _start_worker(child_processes, export_root)
        while seen[-1]["status"] not in ("done", "failed"):
            seen.append(await ws.receive_json_from(timeout=300))  # a hang guard
        await ws.disconnect()

    async_to_sync(scenario)()
    assert seen[0]["status"] == "queued" and "Waiting for a worker" in seen[0]["html"]
    htmls = [m["html"] for m in seen]
    assert any('data-phase="reading"' in h for h in htmls), htmls
    assert any('data-phase="writing"' in h and "<progress" in h for h in htmls), htmls
    export.refresh_from_db()
    assert seen[-1]["status"] == "done"
    assert reverse("compliance:tax-export-download", kwargs={"id": export.pk}) in htmls[-1]
    assert f'data-rows-done="{export.rows_done}"' in htmls[-1] and export.rows_done > 0


# -- owner only -------------------------------------------------------------------------------
def test_bob_and_anonymous_get_nothing_of_alices_export(
    alice, bob, bob_client, export_root, eager_celery, api_token_for
):
    _history(alice)
    export = tax_export_start(user=alice, kind="koinly", year=None)
    tax_export_run(export_id=export.pk)
    export.refresh_from_db()
    assert export.status == "done"
    before = tax_export_path(export).read_bytes()
    pages = [reverse("compliance:tax-export-detail", kwargs={"id": export.pk}),
             reverse("compliance:tax-export-download", kwargs={"id": export.pk})]  # fmt: skip
    for url in pages:
        assert bob_client.get(url).status_code == 404
        anonymous = Client().get(url)
        assert anonymous.status_code == 302 and "/accounts/login/" in anonymous.url
    token = api_token_for(bob, "trade")
    for url in (f"/api/v1/tax/exports/{export.pk}/", f"/api/v1/tax/exports/{export.pk}/download/"):
        assert Client().get(url, HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 404
        assert Client().get(url).status_code in (401, 403)
    listed = Client().get("/api/v1/tax/exports/", HTTP_AUTHORIZATION=f"Bearer {token}").json()
    assert listed["count"] == 0

    async def sockets():
        for user in (bob, AnonymousUser()):
            assert not (await _socket(user, export.pk).connect())[0]
        assert not (await _socket(alice, export.pk + 1000).connect())[0]  # no such export

    async_to_sync(sockets)()
    assert tax_export_path(export).read_bytes() == before
    assert TaxExport.objects.get(pk=export.pk).status == "done"


# -- the API ----------------------------------------------------------------------------------
def test_the_api_starts_checks_and_downloads_an_export(
    alice, export_root, eager_celery, api_token_for, django_capture_on_commit_callbacks
):
    _history(alice)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {api_token_for(alice, 'read')}"}
    api = Client()
    # a large year's CSV endpoint answers 202 with the job (run eagerly here, at commit)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.get(f"/api/v1/tax/years/{YEAR}/form8949.csv", **auth)
    assert response.status_code == 202
    job = response.json()
    assert response["Location"].endswith(f"/api/v1/tax/exports/{job['id']}/")
    status = api.get(f"/api/v1/tax/exports/{job['id']}/", **auth).json()
    assert status["status"] == "done" and status["download"].endswith("/download/")
    file = api.get(f"/api/v1/tax/exports/{job['id']}/download/", **auth)
    assert file.status_code == 200
    assert b"".join(file.streaming_content) == _streamed(alice, "form8949", YEAR)
    # POST starts one explicitly; a queued one (its task not run here) is not ready
    started = api.post("/api/v1/tax/exports/", {"kind": "cointracking", "year": 2024},
                       content_type="application/json", **auth)  # fmt: skip
    assert started.status_code == 202 and started.json()["year"] is None
    assert started.json()["status"] == "queued" and started.json()["download"] is None
    not_ready = api.get(f"/api/v1/tax/exports/{started.json()['id']}/download/", **auth)
    assert not_ready.status_code == 409 and not_ready.json()["error"]["code"] == "not_ready"
    listed = api.get("/api/v1/tax/exports/", **auth).json()
    assert [e["id"] for e in listed["results"]] == [started.json()["id"], job["id"]]


@pytest.mark.parametrize(
    "body",
    [{"kind": "disposals"}, {"kind": "gains", "year": 1999}, {"year": 2024}, {"kind": ["gains"]}],
)
def test_bad_input_starts_no_export(alice, api_token_for, export_root, body):
    response = Client().post(
        "/api/v1/tax/exports/", body, content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {api_token_for(alice)}",
    )  # fmt: skip
    assert response.status_code == 400 and response.json()["error"]["fields"]
    assert not TaxExport.objects.exists()


# -- retention --------------------------------------------------------------------------------
def test_an_expired_export_and_its_file_are_pruned_a_fresh_one_kept(
    alice, export_root, django_capture_on_commit_callbacks
):
    _history(alice, 5)
    old, fresh = (tax_export_start(user=alice, kind="gains", year=y) for y in (2024, 2025))
    for export in (old, fresh):
        tax_export_run(export_id=export.pk)
        export.refresh_from_db()
        assert export.expires_at == export.finished_at + timedelta(hours=24)
    now = timezone.now()
    TaxExport.objects.filter(pk=old.pk).update(expires_at=now - timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert tax_export_prune(now=now) == 1
    assert not tax_export_path(old).exists() and not TaxExport.objects.filter(pk=old.pk).exists()
    assert tax_export_path(fresh).exists() and TaxExport.objects.filter(pk=fresh.pk).exists()
    assert tax_export_path(old).parent.is_dir()  # alice's folder stays: she still exists


def test_beat_prunes_exports_every_hour(settings):
    from compliance.tasks import tax_export_prune_task

    entry = settings.CELERY_BEAT_SCHEDULE["compliance-tax-export-prune"]
    assert entry["task"] == tax_export_prune_task.name and entry["schedule"] == timedelta(hours=1)


@pytest.mark.django_db(transaction=True)
def test_deleting_the_account_deletes_its_export_files(alice, bob, export_root, api_token_for):
    _history(alice, 5)
    _history(bob, 5)
    mine = tax_export_start(user=alice, kind="koinly", year=None)
    bobs = tax_export_start(user=bob, kind="koinly", year=None)
    for export in (mine, bobs):
        tax_export_run(export_id=export.pk)
        export.refresh_from_db()
    assert tax_export_path(mine).exists()
    token = api_token_for(alice, "trade")
    response = Client().post(
        "/api/v1/me/delete/", {"email": alice.email, "password": PASSWORD},
        content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}",
    )  # fmt: skip
    assert response.status_code == 204
    assert not (export_root / str(alice.pk)).exists()
    assert not TaxExport.objects.filter(pk=mine.pk).exists()
    assert tax_export_path(bobs).exists()
