"""Database.exclusive (the shop's token lock): many waiters at once never starve its holder."""
import threading
import time

from sqlalchemy import text

from tests.helpers import waiting_for_exclusive

KEY = 4242
WAITERS = 32   # more than the shared PostgreSQL pool holds (10 + 20 overflow)


def test_threads_waiting_for_the_lock_leave_its_holder_a_connection_to_write_with(db):
    """A token refresh saves the new token while it holds the lock. If every web thread that finds
    the token expiring waited for the lock on a connection of the shared pool, the holder would find
    none left for its save, and all of them would hang until the pool timed out."""
    holding, release = threading.Event(), threading.Event()
    entered: list = []

    def holder() -> None:
        with db.exclusive("shopify_token", KEY):
            holding.set()
            release.wait(60)
            with db.transaction() as session:   # the refresh's save
                session.execute(text("SELECT 1"))
            entered.append("holder")

    def waiter(n: int) -> None:
        with db.exclusive("shopify_token", KEY):
            entered.append(n)

    first = threading.Thread(target=holder)
    first.start()
    assert holding.wait(30)
    waiters = [threading.Thread(target=waiter, args=(n,)) for n in range(WAITERS)]
    for thread in waiters:
        thread.start()
    end, seen = time.monotonic() + 30, 0
    while time.monotonic() < end and (seen := waiting_for_exclusive(db, "shopify_token", KEY)) < WAITERS:
        time.sleep(0.02)
    release.set()
    for thread in [first, *waiters]:
        thread.join(60)
    assert seen == WAITERS, f"only {seen} of {WAITERS} waiters were seen waiting for the lock"
    assert entered[0] == "holder"
    assert sorted(entered[1:]) == list(range(WAITERS))   # each one in turn, none lost
