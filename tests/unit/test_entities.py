import dataclasses
from decimal import Decimal
from itertools import permutations

from plugin.kpi.entities import (FINAL_VERSION, CartState, OrderState, RefundState, ReturnState, reconcile,
                                 state_from_json, state_to_json)


def test_newer_order_replaces_older_and_older_or_equal_changes_nothing():
    old, new = OrderState("1", version=10), OrderState("1", version=20, counted=True)
    assert reconcile(None, old) == old
    assert reconcile(old, new) == new
    assert reconcile(new, old) is None
    assert reconcile(new, OrderState("1", version=20)) is None  # same updated_at: same state


def test_shopify_deletion_is_final():
    tomb = OrderState("1", version=FINAL_VERSION, deleted=True)
    assert reconcile(OrderState("1", version=10), tomb) == tomb
    assert reconcile(tomb, OrderState("1", version=10**15)) is None


def test_refund_details_replace_a_summary_and_never_the_reverse():
    summary = RefundState("60", "45", version=100, booked_at=100, returns=Decimal(10), refunds=Decimal(10), detail=0)
    detail = RefundState("60", "45", version=50, booked_at=50, returns=Decimal(8), refunds=Decimal(10), detail=1)
    assert reconcile(summary, detail) == detail
    assert reconcile(detail, summary) is None


def test_summary_refund_keeps_the_earliest_booking_instant_whatever_the_order():
    early = RefundState("60", "45", version=100, booked_at=100, returns=Decimal(10), refunds=Decimal(10), detail=0)
    late = RefundState("60", "45", version=300, booked_at=300, returns=Decimal(10), refunds=Decimal(10), detail=0)
    forward = reconcile(reconcile(None, early), late)
    backward = reconcile(late, early)
    assert forward.booked_at == backward.booked_at == 100
    assert forward.version == backward.version == 300


def test_return_status_changes_are_a_union():
    requested = ReturnState("r", "o", requested_at=5)
    approved = ReturnState("r", "o", approved_at=9)
    a = reconcile(reconcile(None, requested), approved)
    b = reconcile(reconcile(None, approved), requested)
    assert a == b == ReturnState("r", "o", requested_at=5, approved_at=9)
    assert reconcile(a, requested) is None


def test_states_round_trip_through_json():
    for state in (OrderState("1", 2, counted=True, booked_at=3, gross_sales=Decimal("1.10"), customer_key="c:1"),
                  RefundState("r", "1", 2, 3, returns=Decimal("0.333"), detail=0),
                  ReturnState("r", None, requested_at=1), CartState("checkout", "t", 1, 1)):
        assert state_from_json(state.kind, state_to_json(state)) == state


def test_an_order_read_without_its_cart_links_keeps_them_whatever_arrives_first():
    """A reconciliation's GraphQL read of an order (newer, no cart or checkout token) and the
    webhook's states (older, or of the same instant, with them): in every arrival order the newest
    state is kept with the tokens, so the order's purchase of its cart stays counted."""
    from itertools import permutations

    webhook = OrderState("1", version=10, gross_sales=Decimal("30"), cart_token="c", checkout_token="k")
    late_webhook = dataclasses.replace(webhook, version=20, shipping=Decimal("5"))
    graphql = OrderState("1", version=20, gross_sales=Decimal("30"), shipping=Decimal("5"), links_known=False)
    expected = dataclasses.replace(graphql, cart_token="c", checkout_token="k", links_known=True)
    for arrivals in permutations([webhook, graphql, late_webhook]):
        kept = None
        for state in arrivals:
            kept = reconcile(kept, state) or kept
        assert kept == expected, arrivals
    assert reconcile(graphql, OrderState("1", version=5, links_known=False)) is None
    assert reconcile(webhook, graphql).cart_token == "c"


def test_a_timeless_deletion_is_placed_right_after_the_known_state():
    from plugin.kpi.entities import OrderState, placed_after

    known = OrderState(order_id="9", version=1_000, counted=True)
    trash = OrderState(order_id="9", version=5_000_000, deleted=True, timeless=True)   # arrival time
    assert placed_after(known, trash) == OrderState(order_id="9", version=1_001, deleted=True, placed_after_version=1_000)
    assert placed_after(None, trash) == OrderState(order_id="9", version=5_000_000, deleted=True)
    gone = OrderState(order_id="9", version=1_001, deleted=True)
    assert placed_after(gone, trash) is gone                      # a repeat: the same state, a duplicate
    dated = OrderState(order_id="9", version=7, deleted=True)     # a trash with its own time stays as it is
    assert placed_after(known, dated) is dated and placed_after(known, known) is known

    read = OrderState(order_id="9", version=1_000, counted=True, read_from_store=True)   # a resync's REST read
    assert placed_after(read, trash) is read                                             # changes nothing
    # a state that arrived after the trash (a restore, the trash replayed later): the trash changes nothing
    restored = OrderState(order_id="9", version=2_000, counted=True, arrived_at=6_000_000)
    assert placed_after(restored, trash) is restored
    earlier = dataclasses.replace(restored, arrived_at=4_000_000)   # arrived before the trash: the trash follows it
    assert placed_after(earlier, trash) == OrderState(order_id="9", version=2_001, deleted=True,
                                                      placed_after_version=2_000)



def test_a_read_of_the_store_overrules_a_placed_trash_that_did_not_stand():
    from plugin.kpi.entities import OrderState, reconcile

    placed = OrderState(order_id="9", version=2_001, deleted=True, placed_after_version=2_000)
    live_read = OrderState(order_id="9", version=2_000, counted=True, read_from_store=True)
    assert reconcile(placed, live_read) == live_read                          # the store has it: back
    # a delivery of that state, or a read from before, is stale: the trash stays (it keeps what
    # they tell of the customer, for a restore that cannot tell one)
    delivered = dataclasses.replace(live_read, read_from_store=False)
    assert reconcile(placed, delivered) == dataclasses.replace(placed, customer_version=2_000)
    older_read = dataclasses.replace(live_read, version=1_999)
    assert reconcile(placed, older_read).deleted
    dated = OrderState(order_id="9", version=2_001, deleted=True)             # a trash with its own time
    assert reconcile(dated, live_read).deleted


def test_a_read_of_the_same_state_marks_it_read_so_a_later_timeless_trash_waits_for_the_trash_listing():
    from plugin.kpi.entities import OrderState, placed_after, reconcile

    delivered = OrderState(order_id="9", version=2_000, counted=True, arrived_at=1)
    read = OrderState(order_id="9", version=2_000, counted=True, read_from_store=True, arrived_at=5)
    seen = reconcile(delivered, read)
    assert seen == dataclasses.replace(delivered, read_from_store=True)   # the delivered state, now also read
    assert reconcile(seen, read) is None                                   # a second read changes nothing
    trash = OrderState(order_id="9", version=9_000_000, deleted=True, timeless=True)
    assert reconcile(seen, placed_after(seen, trash)) is None              # waits for the trash listing


def test_an_anonymized_order_keeps_its_customer_whatever_arrives_first():
    """WooCommerce anonymized the order (customer_id 0, "deleted@site.invalid"): in every arrival
    order the newest state is kept with the customer an earlier state knows (section 3: the
    order is its customer's), and an anonymized state alone has no customer."""
    from itertools import permutations

    placed = OrderState("1", version=10, counted=True, gross_sales=Decimal("30"), customer_key="e:abc")
    paid = dataclasses.replace(placed, version=15, status="processing")
    anonymized = dataclasses.replace(placed, version=20, customer_key=None, customer_known=False)
    expected = dataclasses.replace(anonymized, customer_key="e:abc", customer_known=True, customer_version=15)
    for arrivals in permutations([placed, paid, anonymized]):
        kept = None
        for state in arrivals:
            kept = reconcile(kept, state) or kept
        assert kept == expected, arrivals
    assert reconcile(None, anonymized) == anonymized
    # a deletion tells no customer, but keeps the one it replaced for a restore that cannot tell one
    trashed = OrderState("1", version=22, deleted=True)
    assert reconcile(trashed, anonymized) is None
    assert reconcile(reconcile(expected, trashed), dataclasses.replace(anonymized, version=25)).customer_key == "e:abc"


def _kept(arrivals):
    kept = None
    for state in arrivals:
        kept = reconcile(kept, state) or kept
    return kept


def test_an_anonymized_order_whose_customer_changed_keeps_the_newest_customer_in_any_arrival_order():
    """A guest order (key e:…) that the merchant later assigned to a registered customer (c:77),
    then anonymized: the anonymized state takes the customer of the newest state that tells one.
    (Found in a review: it took that of whichever state it met first, so placed, anonymized,
    linked kept the guest key.)"""
    placed = OrderState("1", version=10, counted=True, booked_at=10, gross_sales=Decimal("30"), customer_key="e:guest")
    linked = dataclasses.replace(placed, version=15, customer_key="c:77")
    anonymized = dataclasses.replace(placed, version=20, customer_key=None, customer_known=False)
    results = {tuple(s.version for s in arrivals): _kept(arrivals).customer_key
               for arrivals in permutations([placed, linked, anonymized])}
    assert set(results.values()) == {"c:77"}, results


def test_trash_and_restore_of_an_anonymized_order_keeps_its_customer_in_any_arrival_order():
    """placed (customer X) → anonymized → trashed (the plugin's timed trash) → restored (the
    restore's body is anonymized too): the trash keeps the customer it replaced, and the restore
    takes it. (Found in a review: a deletion gave no customer, so in this very order the order
    left its customer's figures, and restore-before-trash kept it: arrival order decided.)"""
    placed = OrderState("1", version=10, counted=True, booked_at=10, gross_sales=Decimal("30"), customer_key="e:x",
                        status="completed")
    anonymized = dataclasses.replace(placed, version=20, customer_key=None, customer_known=False)
    trashed = OrderState("1", version=30, deleted=True)
    restored = dataclasses.replace(anonymized, version=40)
    results = {tuple(s.version for s in arrivals): _kept(arrivals).customer_key
               for arrivals in permutations([placed, anonymized, trashed, restored])}
    assert results[(10, 20, 30, 40)] == "e:x", results
    assert set(results.values()) == {"e:x"}, results


def test_of_one_instant_a_restore_stands_over_a_trash_and_a_trash_over_any_other_state():
    """WooCommerce's times are whole seconds: an order placed and trashed in one second, or a trash
    restored in its second, gives two states of one version. In any arrival order the trash wins
    over the placed state, and the restore over the trash (found with the WooCommerce property)."""
    placed = OrderState("1", version=10, counted=True, gross_sales=Decimal("30"))
    trash = OrderState("1", version=10, deleted=True)
    restored = dataclasses.replace(placed, restored=True)
    for arrivals in permutations([placed, trash]):
        assert _kept(arrivals).deleted, arrivals
    for arrivals in permutations([placed, trash, restored]):
        kept = _kept(arrivals)
        assert not kept.deleted and kept.restored, arrivals
    assert reconcile(restored, placed) is None      # the same instant's ordinary copy changes nothing
