"""Cancellation by a runner: a pause or a stop cancels every order, then gives the lease up.

A stop also runs the strategy's on_stop and waits (up to WIND_DOWN_SECONDS, polling) for a live
exchange to confirm the cancels. A bot that should not trade (stopped, paused, in error) has
whatever it still has open cancelled. A kill is not here: it revokes the lease and enqueues a
cancel task (trading.tasks.bot_orders_cancel_task -> runner.live_cancel_all).
"""

from __future__ import annotations

import logging
import time

from tradecore.order_manager import VenueTimeout
from trading.models import Bot, Order
from trading.runtime.books import Known
from trading.runtime.session import PAPER_ACCOUNT
from trading.runtime.venues import (
    PaperExchange,
)

logger = logging.getLogger(__name__)
S = Bot.Status


WIND_DOWN_SECONDS = 10.0


class Cancellation:
    """Pause, stop and leftovers: cancel what the bot has open, then let the lease go.

    A part of BotRunner (trading.runtime.runner), which holds the state these methods use.
    """

    def _on_status_change(self) -> str:
        if self.status == S.PAUSED:
            return self._wind_down(S.PAUSED)
        if self.status == S.STOPPING:
            return self._wind_down(S.STOPPED)
        return self._wind_down(self.status)

    def _cancel_everything(self) -> None:
        self.engine.om.cancel_all()
        if self.books.paper:
            return
        deadline = time.monotonic() + WIND_DOWN_SECONDS
        while time.monotonic() < deadline:
            self.books.flush()
            self._poll()
            if not self.books.active():
                return
            self.engine.om.cancel_all()
            time.sleep(0.2)

    def _wind_down(self, target: str) -> str:
        """Pause or stop: cancel every order, checkpoint, give the lease up."""
        if target == S.STOPPED and self.engine is not None:
            self.engine.stop()
        if self.engine is not None:
            self._cancel_everything()
            self._checkpoint()
        self.books.flush()
        if target == S.STOPPED:
            left = len(self.books.active())
            note = f" ({left} orders could not be confirmed cancelled yet)" if left else ""
            self._transition(S.STOPPED, f"Stopped; every order cancelled{note}.", (S.STOPPING,))
        self._release()
        return target

    def _leftovers(self) -> str:
        """A bot that should not trade: cancel anything it still has open, then let go."""
        if self.books.active():
            for name, venue in self.venues.items():
                for known in self.books.active(name):
                    if known.status in (Order.Status.OPEN, Order.Status.PARTIALLY_FILLED):
                        self._cancel_known(venue, known)
            self.books.flush()
        self._release()
        return "idle"

    def _cancel_known(self, venue, known: Known) -> None:
        try:
            if isinstance(venue, PaperExchange):
                venue.cancel_order(PAPER_ACCOUNT, client_order_id=known.client_order_id)
            else:
                venue.cancel_order(None, client_order_id=known.client_order_id)
        except (VenueTimeout, KeyError) as exc:
            logger.info("cancel of %s not confirmed: %s", known.client_order_id, exc)
