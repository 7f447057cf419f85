"""The Alembic migrations build exactly the schema the models describe."""
import os

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from plugin.migrate import upgrade
from plugin.models import Base
from tests.helpers import create_postgres_database


def _empty_database_url(tmp_path):
    url = os.environ.get("KOMPAS_TEST_DATABASE_URL", "")
    if url.startswith("postgresql"):
        return create_postgres_database(url, "kompas_mig")
    return f"sqlite:///{tmp_path / 'empty.sqlite3'}", None


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
