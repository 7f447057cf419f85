"""Fixtures of the WooCommerce connector tests: an app with a public URL, a recorded store
(tests/woo_store.py) and the `kompas` CLI as the store's Kompas sees it."""
from __future__ import annotations

import pytest
import responses

from plugin.cli import main
from tests.conftest import _empty
from tests.woo_store import PUBLIC, FakeStore


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
