"""Audit hash chain: events written per second by 1 and by N parallel writers (one advisory
lock serializes them), and events verified per second by `audit_verify`.

The events written stay (the table is append-only): run against a scratch database.
Run: python bench/audit_chain.py [--events N] [--writers W]   (needs DATABASE_URL, migrated)
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.db import connections  # noqa: E402

from compliance.selectors import audit_chain_verify  # noqa: E402
from compliance.services import audit_record  # noqa: E402


def write(count: int, writers: int) -> float:
    per_writer = count // writers
    barrier = threading.Barrier(writers + 1)

    def run(n: int) -> None:
        barrier.wait()
        for i in range(per_writer):
            audit_record(action="bench.event", after={"writer": n, "i": i, "price": "30000.5"})
        connections.close_all()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    return per_writer * writers / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--writers", type=int, default=8)
    args = parser.parse_args()
    print(f"1 writer:  {write(args.events, 1):8.0f} events/s")
    print(f"{args.writers} writers: {write(args.events, args.writers):8.0f} events/s (one chain)")
    started = time.perf_counter()
    report = audit_chain_verify()
    seconds = time.perf_counter() - started
    print(f"verify:    {report.events / seconds:8.0f} events/s ({report.events} events, "
          f"{seconds:.2f} s, {'OK' if report.ok else report.breaks})")  # fmt: skip


if __name__ == "__main__":
    main()
