"""Fixtures of the functional tests: four March orders of the Shopify shop (the panel's tests);
and, for the WooCommerce connector tests, an app with a public URL, a recorded store
(tests/woo_store.py) and the `kompas` CLI as the store's Kompas sees it."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import responses

from plugin.cli import main
from plugin.demo import order_payload
from tests.conftest import _empty
from tests.woo_store import PUBLIC, FakeStore


@pytest.fixture
def orders(send, shopify_shop):
    """Mar 1: 50.00 (customer 1) and 30.00 (customer 2); Mar 2: 20.00 (customer 1); Mar 9: 99.00
    (customer 3); each at 12:00 Amsterdam."""
    zone = ZoneInfo("Europe/Amsterdam")
    for n, (day, price, customer) in enumerate([(1, "50.00", 1), (1, "30.00", 2), (2, "20.00", 1), (9, "99.00", 3)]):
        created = datetime(2026, 3, day, 12, tzinfo=zone)
        send("shopify", "orders/create", order_payload(n + 1, created=created, updated=created, zone=zone,
                                                        lines=[("x", Decimal(price), 1)], customer_id=customer))


@pytest.fixture
def woo_app(make_app):
    app = make_app(PUBLIC_URL=PUBLIC, WOOCOMMERCE_RETRY_SLEEP=lambda seconds: None)
    _empty(app.extensions["kompas.db"])
    return app


@pytest.fixture
def store():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield FakeStore(mock)


@pytest.fixture
def cli(runner, monkeypatch):
    monkeypatch.setenv("KOMPAS_PUBLIC_URL", PUBLIC)
    return lambda *args: runner.invoke(main, list(args))
