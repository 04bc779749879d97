"""`make backup` / `make restore`: the database as a pg_dump custom-format archive, and back.

    python -m config.backup backup [--dir var/backups]
    python -m config.backup restore FILE --database NAME [--confirm]

A backup is `<dir>/<database>-<UTC time>.dump` with a manifest beside it (`.json`): the exact
row count of every table and a checksum of the orders and fills tables, read in the very
snapshot pg_dump dumps (pg_export_snapshot), so they describe the archive exactly. The archive
is written under a temporary name and renamed once pg_restore can list it: a file with the
final name is always whole.

A restore goes into the database it is told (created if missing). Without --confirm it only
says what it would do and changes nothing; with it, an existing database of that name is
dropped first (its connections closed). Afterwards the restored database's counts and
checksums are compared with the manifest, and any difference is an error.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

BASE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_DIR = BASE_DIR / "var" / "backups"
# the tables whose every row is checksummed (the money trail); all tables are counted
CHECKSUMMED = ("trading_order", "trading_fill")
NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class BackupError(Exception):
    """Refused or failed; the message says why and what to do."""


# -- the database ---------------------------------------------------------------------------
def _url(database_url: str, database: str | None = None) -> str:
    parts = urlsplit(database_url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise BackupError(f"DATABASE_URL must be a postgres:// URL, not {parts.scheme!r}")
    path = f"/{database}" if database is not None else parts.path
    return urlunsplit(("postgresql", parts.netloc, path, parts.query, ""))


def _database_name(database_url: str) -> str:
    name = urlsplit(database_url).path.lstrip("/")
    if not name:
        raise BackupError("DATABASE_URL names no database")
    return name


def summary(cursor) -> dict:
    """Row counts of every table of the public schema and checksums of CHECKSUMMED."""
    cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
    tables = [row[0] for row in cursor.fetchall()]
    counts = {}
    for table in tables:
        cursor.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))
        counts[table] = cursor.fetchone()[0]
    checksums = {}
    for table in CHECKSUMMED:
        if table in counts:
            query = sql.SQL(
                "SELECT coalesce(md5(string_agg(t::text, E'\\n' ORDER BY t.id)), '') FROM {} t"
            ).format(sql.Identifier(table))
            cursor.execute(query)
            checksums[table] = cursor.fetchone()[0]
    return {"tables": counts, "checksums": checksums}


def _server_major(conn) -> int:
    return conn.info.server_version // 10000


# -- the tools ------------------------------------------------------------------------------
def _tool(name: str, server_major: int) -> str:
    """pg_dump / pg_restore of the server's major version (else the newest newer one).

    Looked for in PEREGRINE_PG_BIN, then the embedded server's (pgserver), then PATH.
    """
    folders = [os.environ.get("PEREGRINE_PG_BIN", "")]
    spec = importlib.util.find_spec("pgserver")  # located, not imported (it warns on import)
    if spec is not None and spec.origin:
        folders.append(str(Path(spec.origin).parent / "pginstall" / "bin"))
    candidates = [str(Path(f) / name) for f in folders if f and (Path(f) / name).exists()]
    if shutil.which(name):
        candidates.append(shutil.which(name))
    found = []
    for path in dict.fromkeys(candidates):
        out = subprocess.run([path, "--version"], capture_output=True, text=True).stdout
        match = re.search(r"(\d+)(?:\.\d+)?", out)
        if match and int(match.group(1)) >= server_major:
            found.append((int(match.group(1)) != server_major, int(match.group(1)), path))
    if not found:
        raise BackupError(
            f"no {name} of PostgreSQL {server_major} or newer (looked in {candidates or 'PATH'}); "
            "install the client tools or set PEREGRINE_PG_BIN to their folder"
        )
    return min(found)[2]


def _run(argv: list[str], what: str) -> None:
    result = subprocess.run(argv, capture_output=True, text=True)
    if result.returncode != 0:
        raise BackupError(f"{what} failed ({result.returncode}): {result.stderr.strip()[-2000:]}")


# -- backup ---------------------------------------------------------------------------------
def backup(*, database_url: str, directory: Path = DEFAULT_DIR) -> Path:
    """Dump the database to `directory`; returns the archive's path (manifest beside it)."""
    name = _database_name(database_url)
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    final = directory / f"{name}-{stamp}.dump"
    partial = directory / f".{final.name}.partial"
    url = _url(database_url)
    # the manifest and the dump read one snapshot, held open by this transaction
    with psycopg.connect(url) as conn, conn.cursor() as cursor:
        conn.isolation_level, conn.read_only = psycopg.IsolationLevel.REPEATABLE_READ, True
        server_version = conn.info.server_version
        cursor.execute("SELECT pg_export_snapshot()")
        snapshot = cursor.fetchone()[0]
        manifest = summary(cursor)
        dump = _tool("pg_dump", _server_major(conn))
        try:
            _run(
                [dump, "--format=custom", f"--snapshot={snapshot}", "--no-owner",
                 "--no-privileges", f"--file={partial}", f"--dbname={url}"],
                "pg_dump",
            )  # fmt: skip
            _run([_tool("pg_restore", _server_major(conn)), "--list", str(partial)], "check")
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        conn.rollback()
    manifest.update(
        database=name,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        server_version=server_version,
        bytes=partial.stat().st_size,
    )
    final.with_suffix(".json").write_text(json.dumps(manifest, indent=1, sort_keys=True))
    partial.replace(final)
    return final


# -- restore --------------------------------------------------------------------------------
def _manifest(archive: Path) -> dict:
    path = archive.with_suffix(".json")
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise BackupError(f"{path.name} (the backup's manifest) is missing beside it") from None
    except ValueError as exc:
        raise BackupError(f"{path.name} is not a readable manifest: {exc}") from None


def restore_plan(*, archive: Path, database: str, database_url: str) -> str:
    """What a restore would do, in words (changes nothing); refuses bad input."""
    if not NAME.match(database):
        raise BackupError(
            f"database name {database!r}: use lower-case letters, digits and _ (at most 63)"
        )
    if not archive.is_file():
        raise BackupError(f"no backup at {archive}")
    manifest = _manifest(archive)
    rows = sum(manifest["tables"].values())
    with psycopg.connect(_url(database_url, "postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database])
        exists = exists.fetchone() is not None
    source = (
        f"restore {archive.name} ({manifest['database']} at {manifest['created']}, "
        f"{len(manifest['tables'])} tables, {rows} rows) into it"
    )
    if database == _database_name(database_url):
        return (
            f"close every connection to {database} (the database in use: stop make run "
            f"first), drop it and {source}"
        )
    if exists:
        return f"drop the existing database {database} and {source}"
    return f"create the database {database} and {source}"


def restore(*, archive: Path, database: str, database_url: str, confirm: bool) -> dict:
    """Restore `archive` into `database` and verify it against the manifest.

    Without `confirm` nothing is changed (BackupError says what would be). Returns the
    restored database's summary.
    """
    plan = restore_plan(archive=archive, database=database, database_url=database_url)
    if not confirm:
        raise BackupError(f"this would {plan}; run again with --confirm (make: CONFIRM=yes)")
    manifest = _manifest(archive)
    with psycopg.connect(_url(database_url, "postgres"), autocommit=True) as conn:
        name = sql.Identifier(database)
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(name))
        major = _server_major(conn)
    target = _url(database_url, database)
    _run(
        [_tool("pg_restore", major), "--no-owner", "--no-privileges", "--exit-on-error",
         "--single-transaction", f"--dbname={target}", str(archive)],
        "pg_restore",
    )  # fmt: skip
    with psycopg.connect(target) as conn, conn.cursor() as cursor:
        restored = summary(cursor)
    differences = [
        f"{table}: {manifest['tables'].get(table)} rows in the backup, {count} restored"
        for table, count in restored["tables"].items()
        if manifest["tables"].get(table) != count
    ] + [
        f"{table}: checksum differs" for table, value in manifest["checksums"].items()
        if restored["checksums"].get(table) != value
    ]  # fmt: skip
    if differences:
        raise BackupError(
            "the restored database differs from the backup: " + "; ".join(differences)
        )
    return restored


# -- command line ---------------------------------------------------------------------------
def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m config.backup", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("backup", help="dump DATABASE_URL's database")
    make.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    back = commands.add_parser("restore", help="restore a backup into a named database")
    back.add_argument("archive", type=Path)
    back.add_argument("--database", required=True, help="the database to restore into")
    back.add_argument("--confirm", action="store_true", help="really drop and restore it")
    args = parser.parse_args(argv)
    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url:
        print("backup: DATABASE_URL is not set", file=sys.stderr)
        return 2
    started = time.monotonic()
    try:
        if args.command == "backup":
            path = backup(database_url=database_url, directory=args.dir)
            manifest = _manifest(path)
            print(
                f"backup: {path} ({manifest['bytes']} bytes, {len(manifest['tables'])} tables, "
                f"{sum(manifest['tables'].values())} rows, orders "
                f"{manifest['tables'].get('trading_order', 0)}, fills "
                f"{manifest['tables'].get('trading_fill', 0)}) in "
                f"{time.monotonic() - started:.1f} s"
            )
        else:
            restored = restore(
                archive=args.archive, database=args.database, database_url=database_url,
                confirm=args.confirm,
            )  # fmt: skip
            print(
                f"restore: {args.archive.name} into {args.database}: "
                f"{sum(restored['tables'].values())} rows in {len(restored['tables'])} tables, "
                f"counts and the orders/fills checksums match the backup "
                f"({time.monotonic() - started:.1f} s)"
            )
    except BackupError as exc:
        print(f"{args.command}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
