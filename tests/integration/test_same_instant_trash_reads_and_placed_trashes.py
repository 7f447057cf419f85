"""Two same-second cases of WooCommerce trashes (whole-second times), found in a second look at
f366490: a resync's read of the trash listing of the second of the delivered state (now ranked with
the deletions), and a restore of the very second of the state a timeless trash was placed after
(now overrules the placed trash when it arrived after it)."""
from __future__ import annotations

import dataclasses
from decimal import Decimal

from plugin.kpi.entities import OrderState, placed_after, reconcile

SECOND = 1_770_000_000_000_000   # whole seconds, as WooCommerce's times are


def _apply(arrivals):
    kept = None
    for state in arrivals:
        state = placed_after(kept, state)
        kept = reconcile(kept, state) or kept
    return kept


def test_a_resync_read_of_the_trash_listing_wins_over_the_same_seconds_delivery_in_either_order():
    """Order changed and trashed in one second; the order.deleted delivery lost; the resync's
    trash listing (status=trash, read_from_store) reads it at that second: the read ranks with the
    deletions. (Before: it ranked like the delivered state, and delivered-then-read kept counting
    a trashed order.)"""
    delivered = OrderState("7", version=SECOND, counted=True, booked_at=SECOND, gross_sales=Decimal("30"),
                           customer_key="e:x", status="processing", refund_ids=(), arrived_at=SECOND)
    trash_read = dataclasses.replace(delivered, counted=False, status="trash", read_from_store=True,
                                     arrived_at=SECOND + 600_000_000)
    assert not _apply([trash_read, delivered]).counts
    assert not _apply([delivered, trash_read]).counts


def test_a_restore_in_the_second_of_the_state_a_timeless_trash_was_placed_after_brings_the_order_back():
    """A store without the Kompas plugin: order.created (second S), a timeless trash (placed at
    S + 1 µs), order.restored modified in second S too, delivered in that queued order. The restore
    arrived after the trash and is of the second the trash was placed after: it overrules the
    placed trash. (Before: older than the placed trash by one microsecond, it was dropped as stale,
    and the order was gone until a resync read it.)"""
    created = OrderState("8", version=SECOND, counted=True, booked_at=SECOND, gross_sales=Decimal("30"),
                         customer_key="e:x", status="processing", refund_ids=(), arrived_at=SECOND + 1_000_000)
    trash = OrderState("8", version=SECOND + 2_000_000, deleted=True, timeless=True,      # received 2 s later,
                       arrived_at=SECOND + 2_000_000)                                    # as the adapter builds it
    restored = dataclasses.replace(created, restored=True, arrived_at=SECOND + 3_000_000)
    kept = _apply([created, trash, restored])
    assert kept.counts, kept
