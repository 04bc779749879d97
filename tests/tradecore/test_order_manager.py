import dataclasses
from decimal import Decimal as D

import pytest

from tradecore.clock import SimulatedClock
from tradecore.domain import (
    Candle,
    Denial,
    Fill,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)
from tradecore.exchange import SimulatedExchange
from tradecore.intents import CancelAllIntent, CancelIntent, OrderIntent, Quote, QuoteIntent
from tradecore.order_manager import OrderAdopted, OrderLost, OrderManager, VenueTimeout
from tradecore.testing import instrument

S = OrderStatus


@pytest.fixture
def setup():
    clock = SimulatedClock(1_000)
    venue = SimulatedExchange("sim", [instrument()], clock=clock)
    venue.deposit("bot", "USDT", "100000")
    venue.deposit("bot", "BTC", "10")
    venue.on_candle("BTC-USDT", Candle(0, 100.0, 100.0, 100.0, 100.0, 10.0))
    om = OrderManager(venue, "bot", clock=clock, refresh_tolerance=D("0.001"))
    return clock, venue, om


def buy(price, qty="1"):
    return OrderIntent("BTC-USDT", Side.BUY, OrderType.LIMIT, D(qty), D(price))


def test_order_walks_new_open_partially_filled_filled(setup):
    clock, venue, om = setup
    venue.max_participation = 0.5
    order = om.submit(buy("99", "2"))
    tracked = om.orders[order.client_order_id]
    assert tracked.status is S.OPEN
    for fill in venue.on_candle("BTC-USDT", Candle(1000, 100.0, 100.0, 98.0, 99.0, 2.0)):
        om.on_fill(fill)
    assert tracked.status is S.PARTIALLY_FILLED and tracked.filled_qty == D("1")
    for fill in venue.on_candle("BTC-USDT", Candle(2000, 100.0, 100.0, 98.0, 99.0, 2.0)):
        om.on_fill(fill)
    assert tracked.status is S.FILLED
    assert tracked.history == [S.NEW, S.OPEN, S.PARTIALLY_FILLED, S.FILLED]


def test_cancel_moves_to_cancelled_and_terminal_states_never_change(setup):
    clock, venue, om = setup
    order = om.submit(buy("90"))
    om.execute([CancelIntent(order.client_order_id)])
    tracked = om.orders[order.client_order_id]
    assert tracked.status is S.CANCELLED
    stale = venue.get_order("bot", client_order_id=order.client_order_id)
    assert om.update(stale.__class__(**{**_fields(stale), "status": S.OPEN})) is False
    assert tracked.status is S.CANCELLED
    assert any(isinstance(e, Denial) and e.rule == "state_machine" for e in om.events)


def test_cancel_the_venue_cannot_place_is_unconfirmed_not_an_error(setup):
    """A venue that does not know the order (forgotten, never reached it) answers KeyError:
    the cancel is unconfirmed, the order stays as the manager knows it, nothing raises."""
    clock, venue, om = setup
    order = om.submit(buy("90"))
    tracked = om.orders[order.client_order_id]
    venue._by_client.clear()  # the venue forgot the order
    assert om.cancel(order.client_order_id) is None
    assert om.cancel_all() == []
    assert tracked.status is S.OPEN


def _fields(order):
    return {name: getattr(order, name) for name in order.__dataclass_fields__}


def test_rejected_order_is_tracked_as_rejected(setup):
    clock, venue, om = setup
    order = om.submit(buy("90", "100000"))
    assert order.status is S.REJECTED
    assert om.orders[order.client_order_id].history == [S.NEW, S.REJECTED]


def test_ioc_remainder_is_expired(setup):
    clock, venue, om = setup
    venue.on_book("BTC-USDT", {"bids": [("99", "1")], "asks": [("100", "0.5")], "ts_ms": 1000})
    intent = OrderIntent(
        "BTC-USDT", Side.BUY, OrderType.LIMIT, D("1"), D("100"), tif=TimeInForce.IOC
    )
    order = om.submit(intent)
    assert om.orders[order.client_order_id].status is S.EXPIRED
    assert order.filled_qty == D("0.5")


class FlakyVenue:
    """Wraps a venue: the next place_order times out after the venue accepted it."""

    def __init__(self, venue):
        self.venue, self.name, self.fail_next = venue, venue.name, True

    def place_order(self, account_id, request):
        order = self.venue.place_order(account_id, request)
        if self.fail_next:
            self.fail_next = False
            raise VenueTimeout("no answer")
        return order

    def __getattr__(self, name):
        return getattr(self.venue, name)


def test_timeout_makes_order_unknown_and_lookup_resolves_it_without_resending(setup):
    clock, venue, om = setup
    flaky = FlakyVenue(venue)
    om = OrderManager(flaky, "bot", clock=clock)
    order = om.submit(buy("95"))
    assert order.status is S.UNKNOWN
    assert len(venue.open_orders("bot")) == 1  # sent exactly once
    om.resolve_unknown()
    assert om.orders[order.client_order_id].status is S.OPEN
    assert len(venue.open_orders("bot")) == 1


def test_sync_quotes_keeps_orders_within_tolerance_and_replaces_the_rest(setup):
    clock, venue, om = setup
    quotes = (Quote(Side.BUY, D("99.00"), D("1")), Quote(Side.SELL, D("101.00"), D("1")))
    om.execute([QuoteIntent("BTC-USDT", quotes)])
    first = {t.intent.side: t.client_order_id for t in om.active("BTC-USDT")}
    # bid moves 0.05% (inside the 0.1% tolerance), ask moves 1%: only the ask is replaced
    moved = (Quote(Side.BUY, D("99.05"), D("1")), Quote(Side.SELL, D("102.01"), D("1")))
    om.execute([QuoteIntent("BTC-USDT", moved)])
    now = {t.intent.side: t.client_order_id for t in om.active("BTC-USDT")}
    assert now[Side.BUY] == first[Side.BUY]
    assert now[Side.SELL] != first[Side.SELL]
    assert om.orders[first[Side.SELL]].status is S.CANCELLED
    assert len(venue.open_orders("bot")) == 2


def test_sync_quotes_cancels_levels_no_longer_wanted_and_old_orders(setup):
    clock, venue, om = setup
    om.max_order_age_ms = 10_000
    om.execute([QuoteIntent("BTC-USDT", (Quote(Side.BUY, D("99"), D("1"), 0),
                                         Quote(Side.BUY, D("98"), D("1"), 1)))])  # fmt: skip
    om.execute([QuoteIntent("BTC-USDT", (Quote(Side.BUY, D("99"), D("1"), 0),))])
    assert [t.level for t in om.active()] == [0]
    kept = om.active()[0].client_order_id
    clock.advance(10_000)
    om.execute([QuoteIntent("BTC-USDT", (Quote(Side.BUY, D("99"), D("1"), 0),))])
    assert om.active()[0].client_order_id != kept


def test_cancel_all_intent(setup):
    clock, venue, om = setup
    om.submit(buy("90"))
    om.submit(buy("91"))
    om.execute([CancelAllIntent("BTC-USDT")])
    assert om.active() == [] and venue.open_orders("bot") == []


def test_delayed_cancel_and_late_events_reach_the_order_manager():
    from tradecore.engine import TradingEngine
    from tradecore.exchange import FixedLatency
    from tradecore.strategies.base import Strategy

    clock = SimulatedClock(0)
    venue = SimulatedExchange("sim", [instrument()], clock=clock, latency_model=FixedLatency(100))
    venue.deposit("default", "USDT", "10000")
    venue.on_candle("BTC-USDT", Candle(0, 100.0, 100.0, 100.0, 100.0, 1.0))
    engine = TradingEngine(Strategy(), venue, clock=clock)
    order = engine.om.submit(buy("95"))
    clock.set(50)
    engine.om.cancel(order.client_order_id)
    assert not engine.om.orders[order.client_order_id].status.is_terminal  # cancel travelling
    venue.on_candle("BTC-USDT", Candle(200, 100.0, 100.0, 100.0, 100.0, 1.0))
    assert engine.om.orders[order.client_order_id].status is S.CANCELLED


def test_reconcile_refreshes_orders_changed_while_away(setup):
    clock, venue, om = setup
    order = om.submit(buy("95"))
    venue.cancel_order("bot", client_order_id=order.client_order_id)  # behind our back
    changed = om.reconcile()
    assert [t.client_order_id for t in changed] == [order.client_order_id]
    assert om.orders[order.client_order_id].status is S.CANCELLED


def test_a_post_only_quote_placed_before_any_book_is_rejected_on_arrival_and_the_om_knows():
    """A venue with no book yet cannot say whether a post-only quote rests: it stays NEW until
    the first market event, which may reject it; the order manager must end up where the venue
    is (an OPEN it was told earlier could not become REJECTED, and the quote would be lost)."""
    from tradecore.engine import TradingEngine
    from tradecore.strategies.base import Strategy

    clock = SimulatedClock(0)
    venue = SimulatedExchange("sim", [instrument()], clock=clock)
    venue.deposit("default", "BTC", "1")
    engine = TradingEngine(Strategy(), venue, clock=clock)
    ask = OrderIntent("BTC-USDT", Side.SELL, OrderType.LIMIT, D("0.1"), D("100"), post_only=True)
    order = engine.om.submit(ask)
    assert order.status is S.NEW
    clock.set(100)
    venue.on_book("BTC-USDT", {"bids": [("101", "1")], "asks": [("102", "1")], "ts_ms": 100})
    assert venue.get_order("default", client_order_id=order.client_order_id).status is S.REJECTED
    tracked = engine.om.orders[order.client_order_id]
    assert tracked.status is S.REJECTED
    assert tracked.history == [S.NEW, S.REJECTED]


# -- what a runtime hands the manager: adopt, apply a snapshot, mark lost, forget finished ----
def test_an_adopted_order_is_tracked_with_an_event_and_a_new_one_is_unknown(setup):
    clock, venue, om = setup
    placed = venue.place_order("bot", _request("ext-1", "95"))
    tracked = om.adopt(
        client_order_id="ext-1", venue="sim", intent=buy("95"), status=S.NEW, level=0
    )
    assert tracked.status is S.UNKNOWN and tracked.history == [S.UNKNOWN]
    adopted = [e for e in om.events if isinstance(e, OrderAdopted)]
    assert [(e.client_order_id, e.status) for e in adopted] == [("ext-1", S.UNKNOWN)]
    om.resolve_unknown()  # looked up like any order whose send timed out
    assert om.tracked("ext-1").status is S.OPEN and placed.status is S.OPEN
    with pytest.raises(ValueError, match="already tracked"):
        om.adopt(client_order_id="ext-1", venue="sim", intent=buy("95"), status=S.OPEN)
    with pytest.raises(ValueError, match="unknown venue"):
        om.adopt(client_order_id="ext-2", venue="elsewhere", intent=buy("95"), status=S.OPEN)
    assert om.tracked("ext-2") is None


def test_a_snapshot_is_the_truth_about_the_filled_quantity_but_keeps_the_state_machine(setup):
    clock, venue, om = setup
    order = om.submit(buy("95", "2"))
    tracked = om.tracked(order.client_order_id)
    tracked_fill = D("1.5")
    om.on_fill(_fill(order, tracked_fill))  # counted, say twice, by the runtime
    assert om.update(dataclasses.replace(order, filled_qty=D("1"))) is False  # stale for update
    assert om.apply_snapshot(
        dataclasses.replace(order, status=S.PARTIALLY_FILLED, filled_qty=D("1"))
    )
    assert tracked.filled_qty == D("1") and tracked.status is S.PARTIALLY_FILLED
    assert om.events[-1].filled_qty == D("1")
    # an illegal move is refused and reported, as for any update
    assert om.apply_snapshot(dataclasses.replace(order, status=S.OPEN, filled_qty=D("0"))) is False
    assert tracked.status is S.PARTIALLY_FILLED and isinstance(om.events[-1], Denial)
    assert om.apply_snapshot(dataclasses.replace(order, client_order_id="nobody")) is False


def test_mark_lost_rejects_a_working_order_with_an_event_and_never_a_finished_one(setup):
    clock, venue, om = setup
    order = om.submit(buy("95"))
    assert om.mark_lost(order.client_order_id, "never received")
    tracked = om.tracked(order.client_order_id)
    assert tracked.status is S.REJECTED and tracked.history[-1] is S.REJECTED
    lost = om.events[-1]
    assert isinstance(lost, OrderLost) and lost.previous is S.OPEN
    assert lost.reason == "never received"
    assert om.mark_lost(order.client_order_id) is False  # terminal: refused, reported
    assert isinstance(om.events[-1], Denial)
    assert om.mark_lost("nobody") is False


def test_forget_finished_drops_only_finished_orders_and_the_event_log(setup):
    clock, venue, om = setup
    working = om.submit(buy("95"))
    done = om.submit(buy("94"))
    om.cancel(done.client_order_id)
    assert om.forget_finished() == [done.client_order_id]
    assert om.tracked(done.client_order_id) is None and om.events == []
    assert om.tracked(working.client_order_id).status is S.OPEN
    assert [t.client_order_id for t in om.active()] == [working.client_order_id]


def test_the_simulated_exchange_forgets_finished_orders_but_keeps_those_asked_to(setup):
    clock, venue, om = setup
    kept, dropped, working = om.submit(buy("95")), om.submit(buy("94")), om.submit(buy("93"))
    om.cancel(kept.client_order_id)
    om.cancel(dropped.client_order_id)
    assert venue.forget_finished(keep=frozenset({kept.client_order_id})) == 1
    assert venue.get_order("bot", client_order_id=kept.client_order_id).status is S.CANCELLED
    with pytest.raises(KeyError):
        venue.get_order("bot", client_order_id=dropped.client_order_id)
    assert venue.get_order("bot", client_order_id=working.client_order_id).status is S.OPEN


def _request(cid, price, qty="1"):
    return OrderRequest(
        client_order_id=cid,
        symbol="BTC-USDT",
        side=Side.BUY,
        type=OrderType.LIMIT,
        qty=D(qty),
        price=D(price),
        stop_price=None,
        tif=TimeInForce.GTC,
    )


def _fill(order, qty):
    return Fill(
        trade_id="t1",
        order_id=order.order_id,
        client_order_id=order.client_order_id,
        symbol=order.symbol,
        side=order.side,
        price=order.price,
        qty=qty,
        fee=D(0),
        fee_asset="USDT",
        liquidity="maker",
        ts=1_000,
        account_id="bot",
        order_status=S.PARTIALLY_FILLED,
    )
