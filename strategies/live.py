"""A backtest's page, live: the worker's progress pushed to the run's group `backtest.<id>`.

The worker sends {"type": "event.forward", "event": EVENT} (trading.events' non-blocking
sender); the page's consumer (strategies.consumers) turns EVENT into an HTML fragment the htmx
ws extension swaps in by id:

    {"kind": "progress", "run_id", "phase": "fetching" | "replaying", "bars_done",
     "bars_total", "percent", "eta_seconds" (None until known), "message"}
    {"kind": "status", "run_id", "status"}          (the run ended: done, failed, cancelled)

Progress reaches the group at most every PROGRESS_SECONDS (and once per 1% of the bars, the
engine's report interval), whatever the run's speed; the final status always.
"""

from __future__ import annotations

import time

from django.template.loader import render_to_string
from django.urls import reverse

PROGRESS_SECONDS = 0.5


def backtest_group(run_id: int) -> str:
    return f"backtest.{run_id}"


def _send(run_id: int, event: dict) -> None:
    from trading.events import group_events_send

    group_events_send(groups=[backtest_group(run_id)], event=event)


def eta_words(seconds) -> str:
    """Time left in words: "about 12 s left", "about 3 min left"."""
    if seconds is None:
        return ""
    seconds = max(0, round(seconds))
    if seconds < 90:
        return f"about {seconds} s left"
    return f"about {round(seconds / 60)} min left"


class ProgressPublisher:
    """Publishes one run's progress at a bounded rate; the clock is injectable for tests."""

    def __init__(self, run_id: int, *, clock=time.monotonic, every: float = PROGRESS_SECONDS):
        self.run_id, self.clock, self.every = run_id, clock, every
        self.started = clock()
        self.last_sent: float | None = None
        self.sent = 0

    def fetching(self, message: str) -> None:
        """Say what the worker does before it replays bars (always sent)."""
        self._publish("fetching", 0, 0, None, message)

    def replaying(self, done: int, total: int, *, force: bool = False) -> bool:
        """Report `done` of `total` bars; True if sent (rate-bounded unless `force`)."""
        now = self.clock()
        if not force and self.last_sent is not None and now - self.last_sent < self.every:
            return False
        elapsed = now - self.started
        eta = (total - done) * elapsed / done if done and elapsed > 0 else None
        self._publish("replaying", done, total, eta, "")
        return True

    def restart_clock(self) -> None:
        """Count the ETA from now (the bars start after any history was fetched)."""
        self.started = self.clock()

    def _publish(self, phase, done, total, eta, message) -> None:
        self.last_sent = self.clock()
        self.sent += 1
        percent = int(100 * done / total) if total else 0
        _send(self.run_id, {
            "kind": "progress", "run_id": self.run_id, "phase": phase, "bars_done": done,
            "bars_total": total, "percent": percent,
            "eta_seconds": None if eta is None else round(eta, 1), "message": message,
        })  # fmt: skip


def backtest_status_publish(*, run_id: int, status: str) -> None:
    _send(run_id, {"kind": "status", "run_id": run_id, "status": status})


def progress_fragment(event: dict) -> str:
    """The page's progress box (and the status badge) for a progress event."""
    unfinished = event.get("bars_done", 0) < event.get("bars_total", 0)
    eta = eta_words(event.get("eta_seconds")) if unfinished else ""
    return render_to_string(
        "strategies/_backtest_progress.html",
        {"progress": {**event, "eta": eta}, "live": True},
    )


def final_fragment(run_id: int) -> str:
    """Replaces the run's section with one that loads the results partial at once (an HTTP GET,
    so its forms carry the user's CSRF token): the page switches without a reload."""
    url = reverse("strategies:backtest-detail", args=[run_id])
    return (
        f'<section id="backtest-run" data-status="ending" hx-get="{url}" hx-trigger="load" '
        'hx-swap="outerHTML"><p><small>Loading the results…</small></p></section>'
    )


# -- optimizations: the same mechanism, per search -------------------------------------------
# The worker sends to `optimization.<id>`:
#     {"kind": "progress", "run_id", "phase": "loading" | "evaluating", "done", "total",
#      "percent", "eta_seconds" (None until known)}
#     {"kind": "status", "run_id", "status"}          (the search ended: done, failed, cancelled)
# A progress event with total 0 says the worker took the search and loads its candles.


def optimization_group(run_id: int) -> str:
    return f"optimization.{run_id}"


def optimization_progress_publish(*, run_id: int, done: int, total: int, eta_seconds=None):
    """Tell the search's page (and lists) how many evaluations of `total` are done."""
    from trading.events import group_events_send

    percent = int(100 * done / total) if total else 0
    group_events_send(groups=[optimization_group(run_id)], event={
        "kind": "progress", "run_id": run_id, "phase": "evaluating" if total else "loading",
        "done": done, "total": total, "percent": percent,
        "eta_seconds": None if eta_seconds is None else round(eta_seconds, 1),
    })  # fmt: skip


def optimization_status_publish(*, run_id: int, status: str) -> None:
    from trading.events import group_events_send

    group_events_send(groups=[optimization_group(run_id)],
                      event={"kind": "status", "run_id": run_id, "status": status})  # fmt: skip


def optimization_progress_fragment(event: dict) -> str:
    """The search page's progress box (and the status badge) for a progress event."""
    unfinished = event.get("done", 0) < event.get("total", 0)
    eta = eta_words(event.get("eta_seconds")) if unfinished else ""
    return render_to_string(
        "strategies/_optimization_progress.html", {**event, "eta": eta, "live": True}
    )


def optimization_final_fragment(run_id: int) -> str:
    """The search's section replaced by one that loads its results partial at once."""
    url = reverse("strategies:optimization-detail", args=[run_id])
    return (
        f'<section id="optimization-run" data-status="ending" hx-get="{url}" '
        'hx-trigger="load" hx-swap="outerHTML"><p><small>Loading the results…</small></p>'
        "</section>"
    )


# -- the lists of runs: a row's progress in place, the table reloaded when a run ends ---------


def run_state_fragment(*, prefix: str, event: dict) -> str:
    """A list row's status cell (`<prefix>-<id>-state`) for a progress event: running, N%."""
    if event.get("kind") == "progress" and "bars_total" in event:  # a backtest's
        done, total = event.get("bars_done", 0), event.get("bars_total", 0)
    else:
        done, total = event.get("done", 0), event.get("total", 0)
    percent = int(100 * done / total) if total else 0
    return render_to_string(
        "strategies/_run_state.html",
        {"prefix": prefix, "run_id": event["run_id"], "status": "running", "label": "Running",
         "percent": percent},
    )  # fmt: skip


def run_list_refresh_fragment(*, url_name: str, table_id: str) -> str:
    """Replaces the list's placeholder with one that reloads the table once (an HTTP GET of the
    list page, the table selected out of it): a run ended, so its metrics are there to show."""
    url = reverse(url_name)
    return (
        f'<div id="{table_id}-refresh" hidden hx-get="{url}" hx-trigger="load" '
        f'hx-select="#{table_id}" hx-target="#{table_id}" hx-swap="outerHTML"></div>'
    )
