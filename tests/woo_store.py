"""A WooCommerce store for the connector tests: `responses` answers Kompas's REST calls with the
recorded bodies of tests/payloads/woocommerce/rest/, and keeps the store's webhooks and the
plugin's connection as a real store would."""
from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import responses

from tests.helpers import body, woo_headers

REST = Path(__file__).parent / "payloads" / "woocommerce" / "rest"
SITE = "https://winkel.example"
PUBLIC = "https://kompas.test"          # KOMPAS_PUBLIC_URL in these tests
EVENTS = PUBLIC + "/webhooks/woocommerce"
RETURN = SITE + "/wp-admin/admin.php?page=kompas"
KEY, SECRET = "ck_" + "4f" * 20, "cs_" + "9e" * 20


def rest(name: str):
    return copy.deepcopy(json.loads((REST / name).read_text()))


class FakeStore:
    def __init__(self, mock: responses.RequestsMock, site: str = SITE) -> None:
        self.site = site
        self.mock = mock
        self.webhooks: dict[int, dict] = {}
        self.next_webhook = 142
        self.plugin: dict | None = None
        self.plugin_active = True  # False: the Kompas plugin is not active, its route is unknown
        self.orders_modified = rest("orders-modified.json")
        self.orders_trashed: list[dict] = []
        self.calls: list[tuple[str, str]] = []
        self.auth: set[str] = set()
        self.failures: dict[str, int] = {}  # URL part → how many of the next matching calls fail with a 500
        api = re.compile(re.escape(site) + r"/wp-json/.*")
        for method in ("GET", "POST", "PUT", "DELETE"):
            mock.add_callback(method, api, callback=self.answer)

    def answer(self, request):  # noqa: ANN001, ANN201
        url = urlsplit(request.url)
        path = url.path[len("/wp-json/"):].rstrip("/")
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        self.calls.append((request.method, path))
        for part, left in self.failures.items():
            if left and part in request.url:
                self.failures[part] -= 1
                return 500, {}, json.dumps({"code": "internal_server_error", "message": "store is down"})
        self.auth.add(request.headers.get("Authorization", ""))
        body = json.loads(request.body) if request.body else None
        route = (request.method, path)
        if route == ("GET", ""):
            return self.json(rest("index.json"))
        if route == ("GET", "wc/v3/settings/general/woocommerce_currency"):
            return self.json(rest("setting-woocommerce_currency.json"))
        if path.startswith("wc-kompas/") and not self.plugin_active:
            return 404, {}, json.dumps({"code": "rest_no_route", "message": "No route was found matching the URL "
                                        "and request method.", "data": {"status": 404}})
        if route == ("POST", "wc-kompas/v1/connection"):
            self.plugin = body
            return self.json({"connected": True})
        if route == ("DELETE", "wc-kompas/v1/connection"):
            self.plugin = None
            return self.json({"connected": False})
        if route == ("GET", "wc/v3/webhooks"):
            hooks = sorted(self.webhooks.values(), key=lambda w: w["id"])
            return self.json(hooks, total=len(hooks), pages=1 if hooks else 0)
        if route == ("POST", "wc/v3/webhooks"):
            hook = rest("webhook.json")
            resource, _, event = body["topic"].partition(".")
            hook.update(id=self.next_webhook, name=body["name"], topic=body["topic"], resource=resource, event=event,
                        delivery_url=body["delivery_url"], status="active")
            hook["secret"] = body["secret"]  # write-only in real answers; kept here to sign deliveries
            self.webhooks[hook["id"]] = hook
            self.next_webhook += 1
            return self.json(self.public(hook), status=201)
        match = re.fullmatch(r"wc/v3/webhooks/(\d+)", path)
        if match and int(match.group(1)) in self.webhooks:
            hook = self.webhooks[int(match.group(1))]
            if request.method == "PUT":
                hook.update(body)
            if request.method == "DELETE":
                del self.webhooks[hook["id"]]
            return self.json(self.public(hook))
        if route == ("GET", "wc/v3/orders"):
            if "modified_after" in query and query.get("status") == "trash":
                return self.json(self.orders_trashed, total=len(self.orders_trashed), pages=1)
            if "modified_after" in query:
                return self.json(self.orders_modified, total=len(self.orders_modified), pages=1)
            page = int(query.get("page", 1))
            return self.json(rest(f"orders-page-{page}.json"), total=3, pages=2)
        match = re.fullmatch(r"wc/v3/orders/(\d+)/refunds", path)
        if match and (REST / f"order-{match.group(1)}-refunds.json").exists():
            return self.json(rest(f"order-{match.group(1)}-refunds.json"))
        return (404, {}, json.dumps({"code": "rest_no_route", "data": {"status": 404},
                                     "message": "No route was found matching the URL and request method."}))

    @staticmethod
    def public(hook: dict) -> dict:
        return {k: v for k, v in hook.items() if k != "secret"}

    @staticmethod
    def json(data, status: int = 200, total: int | None = None, pages: int | None = None):  # noqa: ANN001, ANN205
        headers = {"Content-Type": "application/json; charset=UTF-8"}
        if total is not None:
            headers.update({"X-WP-Total": str(total), "X-WP-TotalPages": str(pages)})
        return status, headers, json.dumps(data)

    def hook(self, topic: str) -> dict:
        return next(w for w in self.webhooks.values() if w["topic"] == topic)


def connect(client) -> None:  # noqa: ANN001
    """The plugin's Connect button, the merchant's approval and wc-auth's callback, as they happen."""
    start = client.get("/woocommerce/connect", query_string={"site": SITE, "return_url": RETURN},
                       headers={"Referer": SITE + "/"})   # wp-admin sends its origin (strict-origin-when-cross-origin)
    assert start.status_code == 302
    target = urlsplit(start.location)
    assert f"{target.scheme}://{target.netloc}{target.path}" == SITE + "/wc-auth/v1/authorize"
    query = {k: v[0] for k, v in parse_qs(target.query).items()}
    assert query["app_name"] == "Kompas" and query["scope"] == "read_write" and query["return_url"] == RETURN
    assert query["callback_url"] == PUBLIC + "/woocommerce/callback"
    answer = client.post("/woocommerce/callback", json={
        "key_id": 12, "user_id": query["user_id"], "consumer_key": KEY, "consumer_secret": SECRET,
        "key_permissions": "read_write"})
    assert answer.status_code == 200, answer.get_json()  # exactly 200, or WooCommerce deletes the key
    assert answer.get_json() == {"status": "connected", "shop": SITE}


def deliver(client, topic: str, data, secret: str):  # noqa: ANN001, ANN201
    """A delivery signed with the shop's secret, as WooCommerce (or the plugin, for cart.*) sends it."""
    raw = body(data)
    return client.post("/webhooks/woocommerce", data=raw, headers=woo_headers(topic, raw, secret=secret))
