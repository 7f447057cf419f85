"""The receivers' group commit (webhooks.store): rows that queue while the committing thread waits
for the write lock ride along in its commit, and a failure to take the lock fails the waiting
requests (a 5xx each; the platforms retry) without hanging any or stopping the next ones."""
import threading
import time
from contextlib import contextmanager

import pytest
from sqlalchemy import func, select

from plugin.models import Delivery
from tests.helpers import SHOP
from webhooks.store import STORED


def _delivery(n: int) -> dict:
    return dict(platform="shopify", domain=SHOP, topic="orders/create", delivery_id=f"d{n}", dedupe_key=f"d{n}",
                triggered_at=None, body=b"{}", status="received", error=None)


def _wait_for(condition, seconds: float = 10) -> None:  # noqa: ANN001
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "threads did not get there"
        time.sleep(0.001)


def test_rows_queued_while_the_write_lock_is_busy_share_one_commit(app, db, shopify_shop, monkeypatch):
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
    threads = [threading.Thread(target=lambda n=n: results.__setitem__(n, store.store(**_delivery(n))))
               for n in range(6)]
    threads[0].start()
    assert asked.wait(10)                       # the first request leads and waits for the lock
    for thread in threads[1:]:
        thread.start()
    _wait_for(lambda: len(store._pending) == 6)  # the five others queued behind it
    free.set()
    for thread in threads:
        thread.join(10)
    assert batches == [6]                        # one commit for all six, not [1, 5]
    assert sorted(r.outcome for r in results.values()) == [STORED] * 6
    assert len({r.delivery_id for r in results.values()}) == 6
    with db.reading() as session:
        assert session.scalar(select(func.count()).select_from(Delivery)) == 6


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
