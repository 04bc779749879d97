"""Database work of the runtime on a few threads shared by every bot of the process.

A worker runs many bots, each on its own thread, waiting on market events most of the time.
Django gives each thread its own connection; a hundred bots would hold a hundred connections.
Instead every runtime query goes through `db_call`, which runs it on one of
PEREGRINE_BOT_DB_THREADS threads (0: on the caller's thread, as tests do).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from django.db import close_old_connections

from trading import conf

_lock = threading.Lock()
_executor: ThreadPoolExecutor | None = None


def _pool(size: int) -> ThreadPoolExecutor:
    global _executor
    with _lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix="bot-db")
        return _executor


def _run(fn, args, kwargs):
    try:
        return fn(*args, **kwargs)
    except Exception:
        close_old_connections()  # a broken connection is replaced on the next call
        raise


def db_call(fn, *args, **kwargs):
    """Run `fn(*args, **kwargs)` with database access and return its result (or raise)."""
    size = conf.get("PEREGRINE_BOT_DB_THREADS")
    if not size:
        return fn(*args, **kwargs)
    return _pool(size).submit(_run, fn, args, kwargs).result()
