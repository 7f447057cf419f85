"""The receivers' group commit (webhooks.store): rows that queue while the committing thread waits
for the write lock ride along in its commit, and a failure to take the lock fails the waiting
requests (a 5xx each; the platforms retry) without hanging any or stopping the next ones."""
import threading
import time
from contextlib import contextmanager

import pytest
from sqlalchemy import func, select

from plugin.models import Delivery
from tests.helpers import SHOP, WOO_SITE
from webhooks.store import DUPLICATE, STORED, UNKNOWN_SHOP


def _delivery(n: int) -> dict:
    return dict(platform="shopify", domain=SHOP, topic="orders/create", delivery_id=f"d{n}", dedupe_key=f"d{n}",
                triggered_at=None, body=b"{}", status="received", error=None)


def _wait_for(condition, seconds: float = 10) -> None:  # noqa: ANN001
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "threads did not get there"
        time.sleep(0.001)


def _store_together(app, db, monkeypatch, deliveries: list[dict]) -> tuple[list, list[int]]:  # noqa: ANN001
    """Store `deliveries` from one thread each while the write lock is busy elsewhere, so that they
    queue behind the first; returns their results (in order) and the sizes of the commits."""
    store = app.extensions["kompas.deliveries"]
    free, asked = threading.Event(), threading.Event()
    real_lock = db.write_lock

    @contextmanager
    def busy_elsewhere():  # another process is committing: the lock comes when `free` is set
        asked.set()
        assert free.wait(10)
        with real_lock():
            yield

    monkeypatch.setattr(db, "write_lock", busy_elsewhere)
    batches: list[int] = []
    commit = store._commit
    monkeypatch.setattr(store, "_commit", lambda batch: (batches.append(len(batch)), commit(batch))[1])
    results: dict[int, object] = {}
    threads = [threading.Thread(target=lambda n=n, d=d: results.__setitem__(n, store.store(**d)))
               for n, d in enumerate(deliveries)]
    threads[0].start()
    assert asked.wait(10)                       # the first request leads and waits for the lock
    for thread in threads[1:]:
        thread.start()
    _wait_for(lambda: len(store._pending) == len(deliveries))  # the others queued behind it
    free.set()
    for thread in threads:
        thread.join(10)
    monkeypatch.undo()
    return [results[n] for n in range(len(deliveries))], batches


def test_rows_queued_while_the_write_lock_is_busy_share_one_commit(app, db, shopify_shop, monkeypatch):
    results, batches = _store_together(app, db, monkeypatch, [_delivery(n) for n in range(6)])
    assert batches == [6]                        # one commit for all six, not [1, 5]
    assert [r.outcome for r in results] == [STORED] * 6
    with db.reading() as session:
        stored = dict(session.execute(select(Delivery.dedupe_key, Delivery.id)).all())
    assert stored == {f"d{n}": results[n].delivery_id for n in range(6)}


def test_one_commit_tells_stored_duplicate_and_unknown_shop_apart(app, db, shopify_shop, monkeypatch):
    store = app.extensions["kompas.deliveries"]
    earlier = store.store(**_delivery(1))
    stranger = dict(_delivery(7), domain="nobody.myshopify.com")
    results, batches = _store_together(app, db, monkeypatch, [_delivery(0), _delivery(1), stranger, _delivery(2)])
    assert batches == [4]
    assert [r.outcome for r in results] == [STORED, DUPLICATE, UNKNOWN_SHOP, STORED]
    assert results[1].delivery_id is None and earlier.outcome == STORED
    with db.reading() as session:
        stored = dict(session.execute(select(Delivery.dedupe_key, Delivery.id)).all())
    assert stored == {"d0": results[0].delivery_id, "d1": earlier.delivery_id, "d2": results[3].delivery_id}


def test_rows_without_a_dedupe_key_or_sharing_one_are_each_stored_in_turn(app, db, woo_shop, shopify_shop,
                                                                          monkeypatch):
    woo = [dict(_delivery(n), platform="woocommerce", domain=WOO_SITE, dedupe_key=None) for n in range(3)]
    results, batches = _store_together(app, db, monkeypatch, woo + [_delivery(5), _delivery(5)])
    assert batches == [5]
    assert [r.outcome for r in results[:3]] == [STORED] * 3
    assert sorted(r.outcome for r in results[3:]) == [DUPLICATE, STORED]   # whichever queued first
    assert len({r.delivery_id for r in results if r.outcome == STORED}) == 4
    with db.reading() as session:
        assert session.scalar(select(func.count()).select_from(Delivery)) == 4


def test_a_write_lock_that_fails_fails_the_request_and_the_next_one_is_stored(app, db, shopify_shop,
                                                                           monkeypatch):
    store = app.extensions["kompas.deliveries"]

    @contextmanager
    def broken():
        raise OSError("the lock file is gone")
        yield

    monkeypatch.setattr(db, "write_lock", broken)
    with pytest.raises(OSError):
        store.store(**_delivery(1))
    monkeypatch.undo()
    assert store.store(**_delivery(2)).outcome == STORED
    with db.reading() as session:
        assert session.scalars(select(Delivery.delivery_id)).all() == ["d2"]


def test_on_postgresql_a_commit_waits_for_half_of_the_requests_being_checked(app, db, shopify_shop, monkeypatch):
    """PostgreSQL: the committing thread waits (up to GATHER_SECONDS) until half (GATHER_SHARE) of
    the requests this process is serving have queued their rows, and not for the rest, which form
    the next batch. SQLite: it does not wait; its write lock gathers rows already."""
    import webhooks.store

    store = app.extensions["kompas.deliveries"]
    monkeypatch.setattr(webhooks.store, "GATHER_SECONDS", 30.0)
    batches: list[list[str]] = []
    commit = store._commit
    monkeypatch.setattr(store, "_commit", lambda batch: (batches.append(sorted(t.params["dedupe_key"] for t in batch)),
                                                         commit(batch))[1])
    checked = {1: threading.Event(), 2: threading.Event()}
    done = {n: threading.Event() for n in range(3)}
    results: dict[int, object] = {}

    def request(n: int) -> None:
        with store.receiving():
            if n in checked:
                checked[n].wait(30)            # still verifying its signature, say
            results[n] = store.store(**_delivery(n))
        done[n].set()

    threads = [threading.Thread(target=request, args=(n,)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    _wait_for(lambda: store._in_flight == 2)
    threads.append(threading.Thread(target=request, args=(0,)))
    threads[-1].start()
    if db.dialect == "sqlite":
        assert done[0].wait(10)                # committed alone, without waiting for the others
        checked[1].set()
        assert done[1].wait(10)
        checked[2].set()
        assert done[2].wait(10)
        assert batches == [["d0"], ["d1"], ["d2"]]
    else:
        _wait_for(lambda: len(store._pending) == 1)
        assert not done[0].wait(0.2)           # 1 of 3 queued: waiting for another
        checked[1].set()
        assert done[0].wait(10) and done[1].wait(10)   # 2 of 3: committed, without the third
        assert 2 not in results
        checked[2].set()
        assert done[2].wait(10)
        assert batches == [["d0", "d1"], ["d2"]]
    for thread in threads:
        thread.join(10)
    assert sorted(r.outcome for r in results.values()) == [STORED, STORED, STORED]


def test_on_sqlite_the_receivers_leave_checkpoints_to_the_applier(app, db, shopify_shop):
    """SQLite: the receivers' connection checkpoints the WAL only past RECEIVER_WAL_AUTOCHECKPOINT
    pages (a bound should no applier run); every other connection, the applier's included, keeps
    SQLite's default and so does the checkpointing; and the connection goes back to the pool so."""
    from sqlalchemy import text

    from webhooks.store import RECEIVER_WAL_AUTOCHECKPOINT, SQLITE_WAL_AUTOCHECKPOINT

    if db.dialect != "sqlite":
        pytest.skip("SQLite only: PostgreSQL has no WAL checkpoints in the committing connection")
    store = app.extensions["kompas.deliveries"]
    assert store.store(**_delivery(1)).outcome == STORED
    receiver = store._connection.cursor()
    receiver.execute("PRAGMA wal_autocheckpoint")
    assert receiver.fetchone()[0] == RECEIVER_WAL_AUTOCHECKPOINT > SQLITE_WAL_AUTOCHECKPOINT
    with db.transaction() as session:   # how the applier writes
        assert session.execute(text("PRAGMA wal_autocheckpoint")).scalar() == SQLITE_WAL_AUTOCHECKPOINT
    kept = store._connection.driver_connection
    store.close()
    assert kept.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == SQLITE_WAL_AUTOCHECKPOINT
