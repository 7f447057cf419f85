"""A WooCommerce trash delivered without the Kompas plugin: its body is only {"id"}, built when
Action Scheduler runs the delivery (woocommerce.md §1, §2), possibly after the merchant clicked
"Undo". Such a deletion is placed right after the order state Kompas knows
(plugin.kpi.entities.placed_after), so that "order.deleted is undone by order.restored" (section 8)
in the order the store queued them. Really signed real payloads, through the receiver and applier."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from plugin.cli import main
from tests.helpers import WOO_SITE, payload

UTC = timezone.utc


def _gmt(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _woo_order(order_id: int, *, status: str, created: datetime, modified: datetime) -> dict:
    """The real v3 order of tests/payloads (airbyte order 45: one line of 90.00), as order `order_id`."""
    o = payload("woocommerce", "order.updated__airbytehq-airbyte")
    o.update(id=order_id, number=str(order_id), status=status, refunds=[],
             date_created=_gmt(created), date_created_gmt=_gmt(created),
             date_modified=_gmt(modified), date_modified_gmt=_gmt(modified),
             date_paid=_gmt(created), date_paid_gmt=_gmt(created))
    return o


def _orders_and_sales(runner, created: datetime) -> tuple[int, str]:
    assert runner.invoke(main, ["drain"]).exit_code == 0
    day = created.astimezone(ZoneInfo("Europe/Amsterdam")).date().isoformat()
    result = runner.invoke(main, ["report", "--shop", WOO_SITE, "--from", day, "--to", day, "--json"])
    assert result.exit_code == 0, result.output
    kpis = json.loads(result.output)["kpis"]
    return kpis["orders"], kpis["gross_sales"]


def _read_by_a_resync(db, order: dict) -> None:  # noqa: ANN001
    """What a resync pass applies for an order of a REST page: its states, read from the store
    (backfill.context_for), through the one apply function."""
    from plugin import ingest
    from plugin.shops import find_shop
    from plugin.woocommerce.backfill import context_for
    from webhooks.platforms import woocommerce as adapter

    with db.transaction() as session:
        shop = find_shop(session, WOO_SITE)
        db.lock_shops(session, [shop.id])
        ingest.apply(session, ingest.ShopContext.of(shop), adapter.on_order(order, context_for(shop)()))


NOW = datetime.now(UTC).replace(microsecond=0)
CREATED = NOW - timedelta(hours=2)


def test_a_trash_undone_before_its_delivery_was_built_leaves_the_order_counted(send, woo_shop, runner):
    """The merchant trashes an order and clicks Undo ten seconds later; Action Scheduler then
    delivers the trash ({"id"} only) and the restore. (Versioned by its arrival, the trash looked
    newer than the restore and the order was lost: orders 0.)"""
    assert send("woocommerce", "order.created", _woo_order(4501, status="processing", created=CREATED,
                                                           modified=CREATED)).status_code == 200
    restored = _woo_order(4501, status="processing", created=CREATED, modified=NOW - timedelta(seconds=20))
    assert send("woocommerce", "order.deleted", {"id": 4501}).status_code == 200
    assert send("woocommerce", "order.restored", restored).status_code == 200
    assert _orders_and_sales(runner, CREATED) == (1, "90.00")


def test_a_trash_without_undo_removes_the_order_and_a_late_older_payload_does_not_bring_it_back(send, woo_shop,
                                                                                                  runner):
    order = _woo_order(4502, status="processing", created=CREATED, modified=CREATED)
    assert send("woocommerce", "order.created", order).status_code == 200
    assert send("woocommerce", "order.deleted", {"id": 4502}).status_code == 200
    assert send("woocommerce", "order.deleted", {"id": 4502}).status_code == 200   # a repeat changes nothing
    assert send("woocommerce", "order.updated", order).status_code == 200          # the same older state, late
    assert _orders_and_sales(runner, CREATED) == (0, "0.00")


def test_trash_restore_and_trash_again_ends_deleted(send, woo_shop, runner):
    assert send("woocommerce", "order.created", _woo_order(4503, status="processing", created=CREATED,
                                                           modified=CREATED)).status_code == 200
    assert send("woocommerce", "order.deleted", {"id": 4503}).status_code == 200
    assert send("woocommerce", "order.restored", _woo_order(4503, status="processing", created=CREATED,
                                                            modified=NOW - timedelta(minutes=30))).status_code == 200
    assert _orders_and_sales(runner, CREATED) == (1, "90.00")
    assert send("woocommerce", "order.deleted", {"id": 4503}).status_code == 200
    assert _orders_and_sales(runner, CREATED) == (0, "0.00")


def test_a_trash_that_arrives_before_its_order_keeps_it_out(send, woo_shop, runner):
    """Kompas knows the order not yet: the trash keeps its arrival time, later than the order's own."""
    assert send("woocommerce", "order.deleted", {"id": 4504}).status_code == 200
    assert send("woocommerce", "order.created", _woo_order(4504, status="processing", created=CREATED,
                                                           modified=CREATED)).status_code == 200
    assert _orders_and_sales(runner, CREATED) == (0, "0.00")


def test_a_trash_undone_before_a_resync_read_the_order_does_not_delete_it(send, db, woo_shop, runner):
    """From a second look: the merchant trashes order 4601 and clicks Undo (modified R); WP-cron runs
    the queued deliveries late, and a resync pass reads the order, live at R, before they go out
    (the REST states, through the one apply function). Then the trash ({"id"} only) and the restore
    arrive. Placed right after the read state (R + 1 µs), the trash made the restore (R) stale and
    no later resync could bring the order back; after a read, a timeless trash changes nothing (the
    next resync lists trashed orders with their own times)."""
    created, undone = NOW - timedelta(hours=2), NOW - timedelta(minutes=30)
    assert send("woocommerce", "order.created", _woo_order(4601, status="processing", created=created,
                                                           modified=created)).status_code == 200
    restored = _woo_order(4601, status="processing", created=created, modified=undone)
    _read_by_a_resync(db, restored)
    assert _orders_and_sales(runner, created) == (1, "90.00")
    assert send("woocommerce", "order.deleted", {"id": 4601}).status_code == 200
    assert send("woocommerce", "order.restored", restored).status_code == 200
    assert _orders_and_sales(runner, created) == (1, "90.00")


def test_replaying_every_delivery_after_a_trash_and_its_undo_changes_nothing(send, woo_shop, runner):
    """`kompas replay --all` applies every stored delivery again, in order, on top of the states:
    the trash must not be placed after the restore it was undone by (the restore arrived after
    it), or replaying would delete the order. Deliveries keep their arrival time, so it is not."""
    assert send("woocommerce", "order.created", _woo_order(4505, status="processing", created=CREATED,
                                                           modified=CREATED)).status_code == 200
    assert send("woocommerce", "order.deleted", {"id": 4505}).status_code == 200
    assert send("woocommerce", "order.restored", _woo_order(4505, status="processing", created=CREATED,
                                                            modified=NOW - timedelta(seconds=20))).status_code == 200
    assert _orders_and_sales(runner, CREATED) == (1, "90.00")
    result = runner.invoke(main, ["replay", "--shop", WOO_SITE, "--all"])
    assert result.exit_code == 0, result.output
    assert _orders_and_sales(runner, CREATED) == (1, "90.00")
    assert runner.invoke(main, ["verify", "--shop", WOO_SITE]).exit_code == 0


def test_a_restore_delivered_before_the_trash_it_undid_is_repaired_by_the_next_resync(send, db, woo_shop, runner):
    """The one arrival order a timeless trash gets wrong: the restore comes first, the trash (built
    late, {"id"} only) after it, and is placed after the restore. The next resync reads the order,
    there at the restore's version: that read overrules the placed trash."""
    restored = _woo_order(4506, status="processing", created=CREATED, modified=NOW - timedelta(seconds=20))
    assert send("woocommerce", "order.created", _woo_order(4506, status="processing", created=CREATED,
                                                           modified=CREATED)).status_code == 200
    assert send("woocommerce", "order.restored", restored).status_code == 200
    assert send("woocommerce", "order.deleted", {"id": 4506}).status_code == 200
    assert _orders_and_sales(runner, CREATED) == (0, "0.00")   # the known limit of a trash without its time
    _read_by_a_resync(db, restored)
    assert _orders_and_sales(runner, CREATED) == (1, "90.00")
    assert runner.invoke(main, ["verify", "--shop", WOO_SITE]).exit_code == 0
