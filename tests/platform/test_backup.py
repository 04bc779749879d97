"""`make backup` / `make restore`: a real database with orders and fills, dumped with pg_dump,
restored into a fresh database, and compared table by table (counts, checksums)."""

import json
import secrets
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest
from django.db import connection
from psycopg import sql

from tests.conftest import BASE_DIR

pytestmark = pytest.mark.django_db(transaction=True)

KEY_TABLES = ("accounts_user", "trading_bot", "trading_order", "trading_fill")


@pytest.fixture
def traded(alice, bob):
    """Two users' bots with 40 orders and their fills: rows a backup must carry over exactly."""
    from trading.models import Bot, BotVenue, Fill, Order

    start = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    for user in (alice, bob):
        bot = Bot.objects.create(
            user=user, name=f"bot-{uuid.uuid4().hex[:6]}", strategy="pure_market_making",
            symbols=["BTC/USDT"], budget=Decimal("10000"),
            paper_balances={"sandbox": {"USDT": "10000"}}, status="running",
        )  # fmt: skip
        BotVenue.objects.create(bot=bot, exchange="sandbox", position=0)
        for n in range(20):
            qty, price = Decimal("0.01") * (n + 1), Decimal("30000.5") + n
            side = "buy" if n % 2 == 0 else "sell"
            order = Order.objects.create(
                bot=bot, user=user, mode="paper", exchange="sandbox", symbol="BTC/USDT",
                client_order_id=f"bk{bot.pk}-{n}", side=side, type="limit", qty=qty,
                price=price, filled_qty=qty, status="filled",
            )  # fmt: skip
            Fill.objects.create(
                bot=bot, order=order, user=user, mode="paper", exchange="sandbox",
                account_key=f"paper-{bot.pk}", symbol="BTC/USDT", trade_id=f"T{bot.pk}-{n}",
                side=side, price=price, qty=qty, fee=(price * qty / 1000).quantize(Decimal("1e-8")),
                fee_asset="USDT", executed_at=start + timedelta(minutes=n), source="paper",
            )  # fmt: skip


def _database_url(name: str | None = None) -> str:
    db = connection.settings_dict
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}{port}/{name or db['NAME']}"


def _measure(url: str) -> dict:
    """Row counts of the key tables and an md5 of every orders and fills row (in id order),
    computed here, independently of config.backup."""
    result = {}
    with psycopg.connect(url.replace("postgres://", "postgresql://", 1)) as conn:
        for table in KEY_TABLES:
            ident = sql.Identifier(table)
            count = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(ident)).fetchone()[0]
            digest = conn.execute(
                sql.SQL("SELECT md5(string_agg(t::text, '|' ORDER BY t.id)) FROM {} t").format(
                    ident
                )
            ).fetchone()[0]
            result[table] = (count, digest)
    return result


def _cli(*args: str, database_url: str) -> subprocess.CompletedProcess:
    env = {"DATABASE_URL": database_url, "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-m", "config.backup", *args],
        cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.fixture
def fresh_name():
    """The name of a database the test restores into; dropped afterwards."""
    name = f"{connection.settings_dict['NAME']}_restore_{secrets.token_hex(3)}"
    yield name
    with psycopg.connect(
        _database_url("postgres").replace("postgres://", "postgresql://", 1), autocommit=True
    ) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def _exists(name: str) -> bool:
    with psycopg.connect(_database_url("postgres").replace("postgres://", "postgresql://", 1)) as c:
        return (
            c.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None
        )


def test_backup_then_restore_into_a_fresh_database_carries_every_row(traded, tmp_path, fresh_name):
    source = _measure(_database_url())
    assert source["trading_order"][0] == 40 and source["trading_fill"][0] == 40

    made = _cli("backup", "--dir", str(tmp_path), database_url=_database_url())
    assert made.returncode == 0, made.stderr
    archives = list(tmp_path.glob("*.dump"))
    assert len(archives) == 1 and not list(tmp_path.glob(".*partial"))
    archive = archives[0]
    # <database>-<UTC time>.dump, a pg_dump custom-format archive ("PGDMP" magic)
    assert archive.name.startswith(connection.settings_dict["NAME"] + "-20")
    assert archive.read_bytes()[:5] == b"PGDMP"
    manifest = json.loads(archive.with_suffix(".json").read_text())
    assert manifest["tables"]["trading_fill"] == 40
    assert str(archive) in made.stdout and "orders 40, fills 40" in made.stdout

    # without the confirmation flag: it says what it would do and changes nothing
    dry = _cli("restore", str(archive), "--database", fresh_name, database_url=_database_url())
    assert dry.returncode == 1
    assert f"this would create the database {fresh_name}" in dry.stderr
    assert "--confirm" in dry.stderr
    assert not _exists(fresh_name)

    done = _cli(
        "restore", str(archive), "--database", fresh_name, "--confirm",
        database_url=_database_url(),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "checksums match the backup" in done.stdout
    assert _measure(_database_url(fresh_name)) == source

    # restoring again over it needs the flag too, and replaces it whole
    again = _cli("restore", str(archive), "--database", fresh_name, database_url=_database_url())
    assert again.returncode == 1
    assert f"drop the existing database {fresh_name}" in again.stderr


def test_restore_refuses_bad_input_and_a_backup_that_does_not_match_its_manifest(
    traded, tmp_path, fresh_name
):
    from trading.models import Fill

    made = _cli("backup", "--dir", str(tmp_path), database_url=_database_url())
    assert made.returncode == 0, made.stderr
    archive = next(tmp_path.glob("*.dump"))
    url = _database_url()

    bad = _cli("restore", str(archive), "--database", "Robert'); DROP", database_url=url)
    assert bad.returncode == 1 and "use lower-case letters, digits and _" in bad.stderr
    missing = _cli("restore", str(tmp_path / "nope.dump"), "--database", fresh_name,
                   "--confirm", database_url=url)  # fmt: skip
    assert missing.returncode == 1 and "no backup at" in missing.stderr
    assert not _exists(fresh_name)

    # the manifest says one fill more than the archive holds: the restore says so and fails
    path = archive.with_suffix(".json")
    manifest = json.loads(path.read_text())
    manifest["tables"]["trading_fill"] += 1
    path.write_text(json.dumps(manifest))
    wrong = _cli("restore", str(archive), "--database", fresh_name, "--confirm", database_url=url)
    assert wrong.returncode == 1
    assert "trading_fill: 41 rows in the backup, 40 restored" in wrong.stderr
    assert Fill.objects.count() == 40  # the source database is untouched


def test_make_backup_and_restore_call_the_backup_module():
    dry = subprocess.run(
        ["make", "-n", "backup", "restore", "BACKUP=var/backups/x.dump", "DATABASE=restored",
         "CONFIRM=yes"],
        cwd=BASE_DIR, capture_output=True, text=True,
    )  # fmt: skip
    assert dry.returncode == 0, dry.stderr
    assert "-m config.backup backup" in dry.stdout
    assert "-m config.backup restore var/backups/x.dump --database restored --confirm" in dry.stdout
