"""The longer schemathesis run: every operation of the OpenAPI schema with many examples each,
against uvicorn serving config.asgi on a database of its own (`<DATABASE_URL name>_schemathesis`,
created afresh), with a seeded user's trade-scope token. Prints operations, test cases,
failures by check and errors; exits 1 when schemathesis found anything.

    .venv/bin/python bench/api_schemathesis.py [--examples 200] [--seed 1]

The CI-sized run of the same checks is tests/platform/test_api_schemathesis.py.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _database() -> str:
    import psycopg

    url = os.environ["DATABASE_URL"]
    parts = urlparse(url)
    name = f"{parts.path.lstrip('/') or 'peregrine'}_schemathesis"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return urlunparse(parts._replace(path=f"/{name}"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=200, help="test cases per operation")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    os.environ["DATABASE_URL"] = _database()
    os.environ.setdefault("PEREGRINE_ENV", "test")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["PEREGRINE_API_RATE_USER"] = "1000000/min"
    import django

    django.setup()
    from allauth.account.models import EmailAddress
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from accounts.services.tokens import api_token_create
    from tests.platform.test_api_schemathesis import run_schemathesis, start_server, stop_server

    call_command("migrate", interactive=False, verbosity=0)
    user = get_user_model().objects.create_user(email="fuzz@example.com", password="x" * 20)
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    token = api_token_create(user=user, name="schemathesis", scope="trade")[1]
    from django.db import connections

    connections.close_all()

    with tempfile.TemporaryDirectory() as workdir:
        server, base = start_server(dict(os.environ), Path(workdir) / "server.log")
        try:
            code, output, report = run_schemathesis(
                base, token, Path(workdir), examples=args.examples, seed=args.seed
            )
        finally:
            stop_server(server)
    operations, cases = report["operations"], report["test_cases"]
    by_check = Counter()
    for failure in report["failures"]:
        by_check[f"{failure['code']} {failure['title']}"] += failure.get("count", 1)
    print(f"schemathesis {report['schemathesis_version']}, {args.examples} examples/operation")
    print(f"operations tested: {operations['tested']}/{operations['total']}")
    print(f"test cases: {cases['generated']} in {report['running_time']:.0f} s")
    print(f"failures: {sum(by_check.values())}, errors: {len(report['errors'])}")
    for check, count in sorted(by_check.items()):
        print(f"  {count:5d}  {check}")
    if code != 0:
        print(output[-8000:])
    return 0 if code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
