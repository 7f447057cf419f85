"""Running the Alembic migrations in migrations/ against the app's database."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Executable
from sqlalchemy.engine import make_url

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(url: str) -> Config:
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    # ConfigParser interpolation: a literal % in a password must be doubled
    cfg.set_main_option("sqlalchemy.url", parsed.render_as_string(hide_password=False).replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def recount(bind: Connection, keep: Callable[[str], bool], deletes: Sequence[Executable]) -> None:
    """For data migrations that change what counters mean: run `deletes` (the counters concerned),
    then add back every shop's counters whose name `keep` accepts, recomputed from its stored
    entity states with the product's own functions (the definition `kompas verify` checks
    against). Run with the delivery worker stopped, as every `kompas db upgrade`."""
    from sqlalchemy import text
    from sqlalchemy.orm import Session

    from . import counters
    from .ingest import all_states
    from .kpi.booking import shop_zone
    from .kpi.contributions import full_contribution

    for statement in deletes:
        bind.execute(statement)
    session = Session(bind=bind)
    try:
        for shop_id, timezone in bind.execute(text("SELECT id, timezone FROM shops ORDER BY id")).all():
            cells = full_contribution(all_states(session, shop_id), shop_zone(timezone))
            counters.add(session, shop_id, {key: value for key, value in cells.items() if keep(key.name)})
        session.flush()
    finally:
        session.close()
