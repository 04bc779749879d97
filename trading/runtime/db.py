"""Database work of the runtime on a few threads shared by every bot of the process.

A worker runs many bots, each on its own thread, waiting on market events most of the time.
Django gives each thread its own connection; a hundred bots would hold a hundred connections.
Instead every runtime query goes through `db_call`, which runs it on one of
PEREGRINE_BOT_DB_THREADS threads (0: on the caller's thread, as tests do).
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor

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
    return db_submit(fn, *args, **kwargs).result()


def db_submit(fn, *args, **kwargs) -> Future:
    """Start `fn(*args, **kwargs)` on a database thread; the caller collects the Future later.

    A bot that waited for every write would stall on the database threads' queue (and on the
    interpreter lock they share with a hundred busy bots) while market events pile up; it hands
    such writes over and carries on. With no database threads, runs now (a completed Future).
    """
    size = conf.get("PEREGRINE_BOT_DB_THREADS")
    if size:
        return _pool(size).submit(_run, fn, args, kwargs)
    future: Future = Future()
    try:
        future.set_result(fn(*args, **kwargs))
    except Exception as exc:
        future.set_exception(exc)
    return future


def close_all(timeout: float = 10.0) -> None:
    """Close every database thread's connection and the threads (tests; a worker's exit)."""
    global _executor
    from django.db import connections

    with _lock:
        executor, _executor = _executor, None
    if executor is None:
        return
    size = executor._max_workers
    barrier = threading.Barrier(size, timeout=timeout)

    def close() -> None:
        connections.close_all()
        try:
            barrier.wait()  # every thread takes exactly one of these
        except threading.BrokenBarrierError:
            pass

    for _ in range(size):
        executor.submit(close)
    executor.shutdown(wait=True)
