"""The Shopify app end to end on recorded Admin API answers (`responses`): install by token
exchange → shop created → bulk backfill → live webhooks → `kompas report` equals the figures
worked out by hand. Plus the code grant, token refresh, and the backoff on Shopify's refusals."""
import json
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import NamedTuple
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from sqlalchemy import select

from plugin import backfill, jobs
from plugin.credentials import load_credential
from plugin.models import Shop
from plugin.panel.auth import mint_session_token
from plugin.shopify.oauth import sign_query
from tests.helpers import SHOPIFY_SECRET, waiting_for_exclusive

RECORDED = Path(__file__).parents[1] / "payloads" / "shopify" / "admin"
SHOP = "atelier-klei.myshopify.com"
API_KEY = "kompas-test-client-id"
TOKEN_URL = f"https://{SHOP}/admin/oauth/access_token"
GRAPHQL_URL = f"https://{SHOP}/admin/api/2026-04/graphql.json"
BULK_URL = "https://storage.googleapis.com/shopify-tiers-assets-prod-us-east1/bulk-operation-outputs/720918-bulk.jsonl"


def recorded(name: str):
    return json.loads((RECORDED / name).read_text())


class FakeShopify:
    """Answers the GraphQL endpoint by what each request asks, from the recorded answers, and
    remembers the requests (for the assertions)."""

    def __init__(self, mock: responses.RequestsMock, polls_running: int = 1) -> None:
        self.requests: list[dict] = []
        self.polls_running = polls_running
        self.throttle_next = 0
        self.unauthorized_next = 0
        self.reconcile_queries: list[str] = []
        self.runs = 0
        self.expired: set[str] = set()
        self.fetched: list[list[str]] = []
        mock.add_callback(responses.POST, GRAPHQL_URL, callback=self.graphql)
        mock.add(responses.GET, BULK_URL, body=(RECORDED / "bulk-orders.jsonl").read_bytes(), status=200)

    def graphql(self, request):  # noqa: ANN001, ANN201
        body = json.loads(request.body)
        self.requests.append({"query": body["query"], "variables": body.get("variables"),
                              "token": request.headers.get("X-Shopify-Access-Token")})
        if self.unauthorized_next:
            self.unauthorized_next -= 1
            return 401, {}, json.dumps({"errors": "[API] Invalid API key or access token"})
        if self.throttle_next:
            self.throttle_next -= 1
            return 200, {}, json.dumps(recorded("throttled.json"))
        query = body["query"]
        if "shop {" in query:
            answer = recorded("shop.json")
        elif "bulkOperationRunQuery" in query:
            assert "groupObjects: true" in query
            answer = recorded("bulk-run.json")
            self.runs += 1
            if self.runs > 1:  # a second operation has an id of its own
                answer["data"]["bulkOperationRunQuery"]["bulkOperation"]["id"] = "gid://shopify/BulkOperation/720919"
        elif "bulkOperation(id:" in query and body["variables"]["id"] in self.expired:
            answer = recorded("bulk-completed.json")
            answer["data"]["bulkOperation"].update(status="EXPIRED", url=None)
        elif "bulkOperation(id:" in query:
            if self.polls_running:
                self.polls_running -= 1
                answer = recorded("bulk-running.json")
            else:
                answer = recorded("bulk-completed.json")
        elif "updated_at:>=" in json.dumps(body.get("variables")):
            self.reconcile_queries.append(body["variables"]["query"])
            answer = recorded("reconcile-updated.json")
        elif "... on Order" in query and "after:" in query:
            assert body["variables"] == {"id": "gid://shopify/Order/5006", "after": "eyJsYXN0X2lkIjo1MDA2MX0="}
            answer = recorded("reconcile-order-lines-page2.json")
        elif "... on Order" in query:
            self.fetched.append(body["variables"]["id"])
            nodes = recorded("reconcile-orders.json")["data"]["nodes"]
            answer = {"data": {"node": next(n for n in nodes if n["id"] == body["variables"]["id"])}}
        elif "... on Refund" in query:
            assert body["variables"]["ids"] == ["gid://shopify/Refund/7001"]
            answer = recorded("refunds-nodes.json")
        else:
            raise AssertionError(f"unexpected query {query[:80]}")
        return 200, {}, json.dumps(answer)

    def asked(self, fragment: str) -> int:
        return sum(fragment in r["query"] for r in self.requests)


@pytest.fixture
def shopify_app(make_app, app):
    shopify_app = make_app(SHOPIFY_API_KEY=API_KEY, PUBLIC_URL="https://kompas.example")
    slept = []
    shopify_app.extensions["kompas.sleep"] = slept.append  # waits are recorded, never slept
    shopify_app.slept = slept
    return shopify_app


@pytest.fixture
def mock():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def _open_panel(client, shop=SHOP):  # noqa: ANN001, ANN202
    token = mint_session_token(shop, api_key=API_KEY, secret=SHOPIFY_SECRET)
    return client.get(f"/panel/?shop={shop}&id_token={token}&lang=nl"), token


class Installed(NamedTuple):
    shop: Shop
    shopify: FakeShopify
    client: object   # the test client the panel was opened with
    token: str       # the session token it was opened with


def _installed(shopify_app, mock, db) -> Installed:  # noqa: ANN001
    """The shop installed by a first panel open (token exchange), its backfill queued, not run."""
    mock.add(responses.POST, TOKEN_URL, json=recorded("token-exchange.json"))
    fake = FakeShopify(mock, polls_running=0)
    client = shopify_app.test_client()
    _, token = _open_panel(client)
    with db.reading() as session:
        return Installed(session.scalar(select(Shop).where(Shop.domain == SHOP)), fake, client, token)


def _report(runner, start="2026-05-04", end="2026-05-06"):  # noqa: ANN001, ANN202
    from plugin.cli import main

    result = runner.invoke(main, ["report", "--shop", SHOP, "--from", start, "--to", end, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)["kpis"]


def test_install_by_token_exchange_then_backfill_then_webhooks_gives_the_expected_report(
        shopify_app, mock, runner, send, db):
    exchange = mock.add(responses.POST, TOKEN_URL, json=recorded("token-exchange.json"))
    shopify = FakeShopify(mock)
    page, session_token = _open_panel(shopify_app.test_client())
    assert page.status_code == 200
    assert page.headers["Content-Security-Policy"].startswith(f"frame-ancestors https://{SHOP} https://admin.shopify.com")
    sent = json.loads(exchange.calls[0].request.body)
    assert sent["grant_type"] == "urn:ietf:params:oauth:grant-type:token-exchange"
    assert sent["subject_token"] == session_token and sent["expiring"] == "1"
    assert sent["requested_token_type"] == "urn:shopify:params:oauth:token-type:offline-access-token"

    with db.reading() as session:
        shop = session.scalar(select(Shop).where(Shop.domain == SHOP))
        assert (shop.name, shop.currency, shop.timezone) == ("Atelier Klei", "EUR", "Europe/Amsterdam")
        token = load_credential(session, shopify_app.extensions["kompas.vault"], shop.id, "shopify_offline")
        assert token["access_token"] == recorded("token-exchange.json")["access_token"]
        assert backfill.current(session, shop.id).status == backfill.QUEUED
    # a second open does not exchange again (a new expiring token would revoke the stored one)
    assert _open_panel(shopify_app.test_client())[0].status_code == 200
    assert len(exchange.calls) == 1

    # the worker's job runs the queued backfill
    assert jobs.run_queued(shopify_app) == 1
    with db.reading() as session:
        progress = backfill.current(session, shop.id)
    assert (progress.status, progress.done, progress.total, progress.percent) == ("done", 4, 4, 100.0)
    assert shopify.asked("bulkOperation(id:") == 2 and shopify_app.slept == [5.0]  # polled once more after RUNNING
    assert {r["token"] for r in shopify.requests} == {recorded("token-exchange.json")["access_token"]}

    kpis = _report(runner)
    assert {k: kpis[k] for k in ("orders", "items_sold", "items_returned", "gross_sales", "discounts", "returns",
                                 "net_sales", "shipping", "taxes", "refunded_taxes", "refunds", "total_sales",
                                 "average_order_value", "customers", "returning_customers", "return_rate")} == {
        "orders": 3, "items_sold": 5, "items_returned": 1, "gross_sales": "125.00", "discounts": "5.00",
        "returns": "40.00", "net_sales": "80.00", "shipping": "4.95", "taxes": "26.20", "refunded_taxes": "8.40",
        "refunds": "48.40", "total_sales": "102.75", "average_order_value": "40.00", "customers": 2,
        "returning_customers": 1, "return_rate": "20.00"}

    # live webhooks after the backfill: an order the backfill brought, and a new one
    from plugin.demo import order_payload
    from decimal import Decimal
    from zoneinfo import ZoneInfo

    ams = ZoneInfo("Europe/Amsterdam")
    same = order_payload(5004, created=datetime(2026, 5, 6, 23, 30, tzinfo=ams), updated=datetime(2026, 5, 6, 23, 31, tzinfo=ams),
                         zone=ams, lines=[("Schaal", Decimal("30.00"), 1)], customer_id=901)
    new = order_payload(5005, created=datetime(2026, 5, 6, 12, tzinfo=ams), updated=datetime(2026, 5, 6, 12, tzinfo=ams),
                        zone=ams, lines=[("Mok", Decimal("12.50"), 4)], customer_id=903)
    assert send("shopify", "orders/updated", same, shop=SHOP).status_code == 200
    assert send("shopify", "orders/create", new, shop=SHOP).status_code == 200
    after = _report(runner)
    assert (after["orders"], after["gross_sales"], after["customers"]) == (4, "175.00", 3)
    from plugin.cli import main
    assert runner.invoke(main, ["verify", "--shop", SHOP]).exit_code == 0


def test_webhooks_during_the_backfill_are_never_counted_twice(shopify_app, mock, runner, send, db):
    mock.add(responses.POST, TOKEN_URL, json=recorded("token-exchange.json"))
    FakeShopify(mock)
    _open_panel(shopify_app.test_client())
    from plugin.shopify.graphql_orders import rest_order

    # orders/updated for 5002 arrives before the backfill reads it, with the same state
    rows = [json.loads(line) for line in (RECORDED / "bulk-orders.jsonl").read_text().splitlines()]
    node = next(r for r in rows if r.get("id") == "gid://shopify/Order/5002")
    items = [r for r in rows if r.get("__parentId") == node["id"]]
    refund = recorded("refunds-nodes.json")["data"]["nodes"]
    assert send("shopify", "orders/updated", rest_order(node, items, refund), shop=SHOP).status_code == 200
    jobs.run_queued(shopify_app)
    kpis = _report(runner)
    assert (kpis["orders"], kpis["refunds"], kpis["net_sales"]) == (3, "48.40", "80.00")


def _backfill_killed_on_its_second_page(shopify_app, mock, monkeypatch):  # noqa: ANN001, ANN202
    """Install, then a worker that dies while preparing the backfill's second page (2 orders each)."""
    from plugin.shopify import backfill as shopify_history

    mock.add(responses.POST, TOKEN_URL, json=recorded("token-exchange.json"))
    shopify = FakeShopify(mock, polls_running=0)
    _open_panel(shopify_app.test_client())
    monkeypatch.setattr(shopify_history, "PAGE_ORDERS", 2)
    original, pages = shopify_history.BulkOrders._page, []

    def crash_on_second(self, *args):  # noqa: ANN001, ANN202
        pages.append(args)
        if len(pages) == 2:
            raise ConnectionError("worker killed")
        return original(self, *args)

    monkeypatch.setattr(shopify_history.BulkOrders, "_page", crash_on_second)
    assert jobs.run_queued(shopify_app) == 1
    monkeypatch.setattr(shopify_history.BulkOrders, "_page", original)
    return shopify


def test_an_interrupted_bulk_backfill_resumes_without_a_new_operation(shopify_app, mock, runner, db, monkeypatch):
    shopify = _backfill_killed_on_its_second_page(shopify_app, mock, monkeypatch)
    with db.reading() as session:
        shop_id = session.scalar(select(Shop.id).where(Shop.domain == SHOP))
        failed = backfill.current(session, shop_id)
    assert (failed.status, failed.done) == ("failed", 2)
    from plugin.cli import main
    result = runner.invoke(main, ["backfill", "--shop", SHOP])
    assert result.exit_code == 0, result.output
    assert "done: 4 of 4 orders (100.0 %)" in result.output
    assert shopify.asked("bulkOperationRunQuery") == 1  # resumed the same operation
    assert _report(runner)["orders"] == 3


def test_a_resumed_backfill_whose_bulk_result_expired_starts_a_new_operation(shopify_app, mock, runner, db,
                                                                            monkeypatch):
    shopify = _backfill_killed_on_its_second_page(shopify_app, mock, monkeypatch)
    shopify.expired.add("gid://shopify/BulkOperation/720918")  # more than 7 days later
    from plugin.cli import main
    result = runner.invoke(main, ["backfill", "--shop", SHOP])
    assert result.exit_code == 0, result.output
    assert shopify.asked("bulkOperationRunQuery") == 2
    assert "done: 4 of 4 orders" in result.output  # counted again from the first order, not 2 + 4
    assert _report(runner)["orders"] == 3


def test_a_refused_token_exchange_is_a_clear_page_and_creates_nothing(shopify_app, mock, db):
    mock.add(responses.POST, TOKEN_URL, json=recorded("token-invalid-subject.json"), status=400)
    page, _ = _open_panel(shopify_app.test_client())
    assert page.status_code == 502
    assert b"invalid_subject_token" in page.data and b"koppelen" in page.data
    assert page.headers["Content-Security-Policy"].startswith(f"frame-ancestors https://{SHOP} ")
    with db.reading() as session:
        assert session.scalar(select(Shop).where(Shop.domain == SHOP)) is None


def test_a_token_refused_during_the_install_is_a_clear_page_and_creates_nothing(shopify_app, mock, db):
    """The fresh token's first Admin API call answered 401 twice: the install says so (502), as any
    refusal, instead of failing inside the retry."""
    mock.add(responses.POST, TOKEN_URL, json=recorded("token-exchange.json"))
    FakeShopify(mock, polls_running=0).unauthorized_next = 2
    page, _ = _open_panel(shopify_app.test_client())
    assert page.status_code == 502
    with db.reading() as session:
        assert session.scalar(select(Shop).where(Shop.domain == SHOP)) is None


def test_without_read_all_orders_the_sixty_day_limit_is_explained(shopify_app, mock, db):
    limited = dict(recorded("token-exchange.json"), scope="read_orders,read_returns,read_customers")
    mock.add(responses.POST, TOKEN_URL, json=limited)
    FakeShopify(mock, polls_running=0)
    client = shopify_app.test_client()
    _, token = _open_panel(client)
    jobs.run_queued(shopify_app)
    view = client.get("/panel/view.json?range=custom&from=2026-05-04&to=2026-05-06&lang=en",
                      headers={"Authorization": "Bearer " + token}).json
    assert view["backfill"]["status"] == "done" and "60 days" in view["backfill"]["note"]


def test_the_panel_holds_its_figures_while_the_backfill_runs(shopify_app, mock, db):
    shop, _, client, token = _installed(shopify_app, mock, db)
    with db.transaction() as session:
        from plugin.models import SyncRun
        run = session.scalar(select(SyncRun).where(SyncRun.shop_id == shop.id))
        run.status, run.done, run.total = "running", 1500, 6000
        run.resumed_at = datetime.now(timezone.utc) - timedelta(seconds=60)
        run.updated_at = datetime.now(timezone.utc)
    view = client.get("/panel/view.json?lang=nl", headers={"Authorization": "Bearer " + token}).json
    assert view["backfill"]["hold"] is True and view["backfill"]["percent"] == 25.0
    assert "1.500 van 6.000 bestellingen (25,0%)" in view["backfill"]["text"]
    assert "Nog ongeveer 3 minuten" in view["backfill"]["text"]


def test_the_daily_reconciliation_repairs_missed_webhooks_and_says_so(shopify_app, mock, runner, db):
    _, shopify, client, token = _installed(shopify_app, mock, db)
    jobs.run_queued(shopify_app)  # the backfill
    assert jobs.queue_reconciliations(shopify_app) == 0  # it just began: not due yet
    tomorrow = datetime.now(timezone.utc) + timedelta(hours=25)
    assert jobs.queue_reconciliations(shopify_app, now=tomorrow) == 1
    assert jobs.queue_reconciliations(shopify_app, now=tomorrow) == 0  # queued once
    assert jobs.run_queued(shopify_app, now=tomorrow) == 1

    # Shopify says 5001 (unchanged), 5004 (cancelled since) and 5006 (never delivered) changed:
    # only the two Kompas does not have in that state are fetched in full
    assert shopify.reconcile_queries and shopify.reconcile_queries[0].startswith("updated_at:>='")
    assert shopify.fetched == ["gid://shopify/Order/5004", "gid://shopify/Order/5006"]
    with db.reading() as session:
        shop_id = session.scalar(select(Shop.id).where(Shop.domain == SHOP))
        last = backfill.last_finished(session, shop_id, backfill.RECONCILE)
    assert (last.done, last.changed) == (3, 2)
    kpis = _report(runner, end="2026-05-07")
    # 5006's second page of line items (a Schaal of 30.00) was asked for, not cut off
    assert (kpis["orders"], kpis["orders_cancelled"], kpis["gross_sales"]) == (4, 1, "180.00")
    view = client.get("/panel/view.json?lang=en", headers={"Authorization": "Bearer " + token}).json
    assert view["reconciliation"]["corrections"] == 2 and "2 missed changes repaired" in view["reconciliation"]["text"]

    # by hand, right away: nothing left to repair
    from plugin.cli import main
    result = runner.invoke(main, ["reconcile", "--shop", SHOP])
    assert result.exit_code == 0, result.output
    assert "0 corrections" in result.output


def test_a_failed_import_is_said_but_does_not_hide_the_figures(shopify_app, mock, db):
    shop, _, client, token = _installed(shopify_app, mock, db)
    run_id = backfill.queue(db, shop.id, "shopify_bulk")
    backfill.fail(db, run_id, "ShopifyApiError: 503")
    view = client.get("/panel/view.json?lang=en", headers={"Authorization": "Bearer " + token}).json
    assert view["backfill"]["status"] == "failed" and view["backfill"]["hold"] is False
    assert "interrupted" in view["backfill"]["text"]


def test_kompas_backfill_of_a_shop_without_a_token_says_what_to_do_and_starts_nothing(runner, db, shopify_shop):
    from plugin.cli import main

    result = runner.invoke(main, ["backfill", "--shop", "demo.myshopify.com"])
    assert result.exit_code == 1 and "open Kompas in Shopify admin" in result.output
    with db.reading() as session:
        assert backfill.current(session, shopify_shop.id) is None
    assert runner.invoke(main, ["backfill", "--shop", "nope.myshopify.com"]).exit_code == 1


# --- tokens and the Admin API ----------------------------------------------------------------------

def test_a_token_is_refreshed_before_it_expires(shopify_app, mock, db):
    from plugin.shopify.tokens import TokenKeeper

    shop = _installed(shopify_app, mock, db).shop
    refresh = mock.add(responses.POST, TOKEN_URL, json=recorded("refresh.json"))
    soon = datetime.now(timezone.utc) + timedelta(minutes=58)  # 2 minutes before the 60 expire
    keeper = TokenKeeper(shopify_app, shop.id, SHOP, clock=lambda: soon)
    assert keeper.access_token() == recorded("refresh.json")["access_token"]
    sent = json.loads(refresh.calls[-1].request.body)
    assert sent["grant_type"] == "refresh_token"
    assert sent["refresh_token"] == recorded("token-exchange.json")["refresh_token"]
    with db.reading() as session:
        stored = load_credential(session, shopify_app.extensions["kompas.vault"], shop.id, "shopify_offline")
    assert stored["refresh_token"] == recorded("refresh.json")["refresh_token"]  # the rotated one is kept
    fresh = TokenKeeper(shopify_app, shop.id, SHOP)
    assert fresh.access_token() == recorded("refresh.json")["access_token"]  # valid: no second refresh
    assert len([c for c in mock.calls if c.request.url == TOKEN_URL]) == 2  # exchange + one refresh


def test_a_refused_refresh_drops_the_grant_and_the_next_panel_open_exchanges_anew(shopify_app, mock, db):
    from plugin.shopify.tokens import ShopifyAuthError, TokenKeeper

    shop = _installed(shopify_app, mock, db).shop
    mock.replace(responses.POST, TOKEN_URL, json={"error": "invalid_grant"}, status=400)
    soon = datetime.now(timezone.utc) + timedelta(minutes=58)
    with pytest.raises(ShopifyAuthError):
        TokenKeeper(shopify_app, shop.id, SHOP, clock=lambda: soon).access_token()
    with db.reading() as session:
        assert load_credential(session, shopify_app.extensions["kompas.vault"], shop.id, "shopify_offline") is None
    mock.replace(responses.POST, TOKEN_URL, json=recorded("token-exchange.json"))
    assert _open_panel(shopify_app.test_client())[0].status_code == 200
    with db.reading() as session:
        assert load_credential(session, shopify_app.extensions["kompas.vault"], shop.id, "shopify_offline")


def _blocked_on(db, shop_id: int, deadline: float = 20.0) -> bool:  # noqa: ANN001
    """Whether another thread is observed waiting for the shop's token lock within `deadline`
    seconds (tests.helpers.waiting_for_exclusive). What the lock's holder waits for before it
    lets go, so that the race is real."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if waiting_for_exclusive(db, "shopify_token", shop_id):
            return True
        time.sleep(0.01)
    return False


def test_two_processes_finding_the_token_expiring_refresh_it_once(shopify_app, mock, db):
    """Web workers, the job worker and cron share the token: the second one to find it expiring
    waits for the first one's refresh and takes its token, instead of spending the same refresh
    token again."""
    import threading

    from plugin.shopify.tokens import TokenKeeper

    shop = _installed(shopify_app, mock, db).shop
    refreshing, go = threading.Event(), threading.Event()

    def slow_refresh(request):  # noqa: ANN001, ANN202
        refreshing.set()
        go.wait(30)
        return 200, {}, json.dumps(recorded("refresh.json"))

    mock.add_callback(responses.POST, TOKEN_URL, callback=slow_refresh)
    soon = datetime.now(timezone.utc) + timedelta(minutes=58)
    got: dict[str, str] = {}

    def worker(name: str) -> None:
        got[name] = TokenKeeper(shopify_app, shop.id, SHOP, clock=lambda: soon).access_token()

    first = threading.Thread(target=worker, args=("first",))
    first.start()
    assert refreshing.wait(30)
    second = threading.Thread(target=worker, args=("second",))
    second.start()
    blocked = _blocked_on(db, shop.id)
    go.set()
    first.join(30)
    second.join(30)
    assert blocked, "the second refresher did not wait for the first"
    assert got == {"first": recorded("refresh.json")["access_token"], "second": recorded("refresh.json")["access_token"]}
    assert len([c for c in mock.calls if c.request.url == TOKEN_URL]) == 2  # the exchange, one refresh


def test_after_a_401_a_token_another_process_refreshed_is_taken_as_it_is(shopify_app, mock, db):
    from dataclasses import replace

    from plugin.shopify.tokens import TokenKeeper

    shop = _installed(shopify_app, mock, db).shop
    keeper = TokenKeeper(shopify_app, shop.id, SHOP)
    refused = keeper.access_token()
    keeper.save(replace(keeper.load(), access_token="shpat_refreshed_elsewhere"))
    refresh = mock.add(responses.POST, TOKEN_URL, json=recorded("refresh.json"))
    assert keeper.refreshed_after_401(refused) == "shpat_refreshed_elsewhere"
    assert refresh.call_count == 0
    assert keeper.refreshed_after_401("shpat_refreshed_elsewhere") == recorded("refresh.json")["access_token"]
    assert refresh.call_count == 1


def test_a_refused_refresh_keeps_a_grant_a_new_install_saved_meanwhile(shopify_app, mock, db):
    from dataclasses import replace

    from plugin.shopify.tokens import ShopifyAuthError, TokenKeeper

    shop = _installed(shopify_app, mock, db).shop
    keeper = TokenKeeper(shopify_app, shop.id, SHOP, clock=lambda: datetime.now(timezone.utc) + timedelta(minutes=58))
    reinstalled = replace(keeper.load(), access_token="shpat_new_grant", refresh_token="shprt_new_grant")

    def refused_while_reinstalled(request):  # noqa: ANN001, ANN202
        keeper.save(reinstalled)   # the merchant reopened the app while the refresh was under way
        return 400, {}, json.dumps({"error": "invalid_grant"})

    mock.add_callback(responses.POST, TOKEN_URL, callback=refused_while_reinstalled)
    with pytest.raises(ShopifyAuthError):
        keeper.access_token()
    assert keeper.load() == reinstalled


def test_a_401_refreshes_the_token_once_and_retries(shopify_app, mock, db):
    from plugin.shopify.backfill import api_for

    shop, shopify, _, _ = _installed(shopify_app, mock, db)
    mock.add(responses.POST, TOKEN_URL, json=recorded("refresh.json"))
    shopify.unauthorized_next = 1
    data = api_for(shopify_app, shop).graphql("{ shop { name currencyCode ianaTimezone myshopifyDomain } }")
    assert data["shop"]["name"] == "Atelier Klei"
    assert shopify.requests[-1]["token"] == recorded("refresh.json")["access_token"]


def test_throttled_429_and_5xx_answers_are_retried_with_backoff(shopify_app, mock, db):
    from plugin.shopify.admin_api import AdminApi, ShopifyApiError
    from plugin.shopify.tokens import TokenKeeper

    shop, shopify, _, _ = _installed(shopify_app, mock, db)
    waits = []
    api = AdminApi(TokenKeeper(shopify_app, shop.id, SHOP), "2026-04", sleep=waits.append)
    shopify.throttle_next = 1
    assert api.graphql("{ shop { name currencyCode ianaTimezone myshopifyDomain } }")["shop"]["currencyCode"] == "EUR"
    assert waits == [pytest.approx((752 - 666) / 50.0 + 0.1)]  # what the bucket needs to refill

    waits.clear()
    mock.replace(responses.POST, GRAPHQL_URL, status=429, headers={"Retry-After": "2.0"}, json={})
    with pytest.raises(ShopifyApiError, match="kept refusing"):
        api.graphql("{ shop { name } }")
    assert waits[:2] == [2.0, 2.0] and len(waits) == 6
    waits.clear()
    mock.replace(responses.POST, GRAPHQL_URL, status=503, body="")
    with pytest.raises(ShopifyApiError):
        api.graphql("{ shop { name } }")
    assert waits == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0]


# --- the authorization code grant ------------------------------------------------------------------

def _signed(params: dict) -> str:
    from urllib.parse import urlencode
    return urlencode({**params, "hmac": sign_query(params, SHOPIFY_SECRET)})


def test_code_grant_install(shopify_app, mock, db):
    client = shopify_app.test_client()
    now = str(int(time.time()))
    start = client.get("/auth/install?" + _signed({"shop": SHOP, "timestamp": now, "host": "YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvYXRlbGllci1rbGVp"}))
    assert start.status_code == 302
    target = urlsplit(start.headers["Location"])
    query = parse_qs(target.query)
    assert (target.netloc, target.path) == (SHOP, "/admin/oauth/authorize")
    assert query["client_id"] == [API_KEY] and "read_all_orders" in query["scope"][0]
    assert query["redirect_uri"] == ["https://kompas.example/auth/callback"]
    state = query["state"][0]

    code = mock.add(responses.POST, TOKEN_URL, json=recorded("token-exchange.json"))
    FakeShopify(mock, polls_running=0)
    params = {"code": "0907a61c0c8d55e99db179b68161bc00", "host": "YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvYXRlbGllci1rbGVp",
              "shop": SHOP, "state": state, "timestamp": now}
    done = client.get("/auth/callback?" + _signed(params))
    assert done.status_code == 302, done.json
    assert done.headers["Location"] == f"https://admin.shopify.com/store/atelier-klei/apps/{API_KEY}"
    assert json.loads(code.calls[0].request.body) == {"client_id": API_KEY, "client_secret": SHOPIFY_SECRET,
                                                      "code": params["code"], "expiring": "1"}
    with db.reading() as session:
        assert session.scalar(select(Shop).where(Shop.domain == SHOP)).currency == "EUR"


@pytest.mark.parametrize("tamper", ["hmac", "shop", "old", "state"])
def test_code_grant_refuses_what_shopify_did_not_sign(shopify_app, mock, db, tamper):
    client = shopify_app.test_client()
    now = str(int(time.time()))
    start = client.get("/auth/install?" + _signed({"shop": SHOP, "timestamp": now}))
    state = parse_qs(urlsplit(start.headers["Location"]).query)["state"][0]
    params = {"code": "abc", "shop": SHOP, "state": state, "timestamp": now}
    if tamper == "shop":
        params["shop"] = "evil.example.com"
    if tamper == "old":
        params["timestamp"] = str(int(time.time()) - 3 * 24 * 3600)
    if tamper == "state":
        params["state"] = "forged"
    query = _signed(params)
    if tamper == "hmac":
        query = query.replace("code=abc", "code=abd")
    answer = client.get("/auth/callback?" + query)
    assert answer.status_code == 400 and answer.json["error"]
    with db.reading() as session:
        assert session.scalar(select(Shop).where(Shop.domain == SHOP)) is None
