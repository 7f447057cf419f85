"""Fixtures: an app on a real database (SQLite file, or PostgreSQL when KOMPAS_TEST_DATABASE_URL
names one), emptied before every test; signed delivery helpers; the CLI runner."""
from __future__ import annotations

import os

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from plugin import create_app
from plugin.migrate import upgrade
from plugin.models import Base
from plugin.shops import add_shop

from .helpers import create_postgres_database, SECRET_KEY, SHOP, SHOPIFY_OLD_SECRET, SHOPIFY_SECRET, WOO_SECRET, WOO_SITE, body, shopify_headers, woo_headers


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):  # noqa: ANN001, ANN201
    url = os.environ.get("KOMPAS_TEST_DATABASE_URL", "")
    if url.startswith("postgresql"):
        test_url, drop = create_postgres_database(url, "kompas_test")
        upgrade(test_url)
        yield test_url
        drop()
    else:
        path = tmp_path_factory.mktemp("db") / "kompas-test.sqlite3"
        test_url = f"sqlite:///{path}"
        upgrade(test_url)
        yield test_url


def _empty(db) -> None:  # noqa: ANN001
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with db.transaction() as session:
        if db.dialect == "postgresql":
            session.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                session.execute(text(f"DELETE FROM {table}"))


@pytest.fixture
def make_app(database_url, tmp_path):  # noqa: ANN001, ANN201
    apps = []

    def factory(**overrides):  # noqa: ANN202
        config = {"DATABASE_URL": database_url, "SHOPIFY_API_SECRETS": [SHOPIFY_SECRET, SHOPIFY_OLD_SECRET],
                  "APPLY_INLINE": True, "TESTING": True,
                  "SECRET_KEYS": [SECRET_KEY]}
        config.update(overrides)
        app = create_app(config)
        apps.append(app)
        return app

    yield factory
    for app in apps:
        app.extensions["kompas.close"]()


@pytest.fixture
def app(make_app):  # noqa: ANN001, ANN201
    app = make_app()
    _empty(app.extensions["kompas.db"])
    return app


@pytest.fixture
def db(app):  # noqa: ANN001, ANN201
    return app.extensions["kompas.db"]


@pytest.fixture
def client(app):  # noqa: ANN001, ANN201
    return app.test_client()


@pytest.fixture
def shopify_shop(db):  # noqa: ANN001, ANN201
    with db.transaction() as session:
        shop = add_shop(session, platform="shopify", domain=SHOP, timezone_name="Europe/Amsterdam",
                        currency="EUR")
    return shop


@pytest.fixture
def woo_shop(db):  # noqa: ANN001, ANN201
    with db.transaction() as session:
        shop = add_shop(session, platform="woocommerce", domain=WOO_SITE, timezone_name="Europe/Amsterdam",
                        currency="EUR", webhook_secret=WOO_SECRET)
    return shop


@pytest.fixture
def send(client):  # noqa: ANN001, ANN201
    """send(platform, topic, payload, **header options) -> response, really signed."""

    def _send(platform: str, topic: str, data, **options):  # noqa: ANN001, ANN202
        raw = data if isinstance(data, bytes) else body(data)
        headers = (shopify_headers(topic, raw, **options) if platform == "shopify"
                   else woo_headers(topic, raw, **options))
        return client.post(f"/webhooks/{platform}", data=raw, headers=headers)

    return _send


@pytest.fixture
def runner(monkeypatch, database_url):  # noqa: ANN001, ANN201
    """The `kompas` CLI against the test database."""
    monkeypatch.setenv("KOMPAS_DATABASE_URL", database_url)
    monkeypatch.setenv("KOMPAS_SHOPIFY_API_SECRET", SHOPIFY_SECRET)
    monkeypatch.setenv("KOMPAS_SECRET_KEY", SECRET_KEY)
    return CliRunner()


@pytest.fixture
def queued(make_app):  # noqa: ANN001, ANN201
    """A second app on the same database that only stores deliveries (the worker applies them,
    as in production without KOMPAS_APPLY_INLINE)."""
    return make_app(APPLY_INLINE=False)
