"""The WooCommerce connect flow and the panel's bounce page against forged input, from a security
review: Kompas never calls an address on its own network (server-side request forgery) nor
repeats what such a service answered, and an unsigned token cannot widen who may frame a page."""
from __future__ import annotations

import json
import re
import time
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from sqlalchemy import select

from plugin.models import Shop
from tests.woo_store import KEY, SECRET, FakeStore, rest

INTERNAL_SITES = [
    "https://127.0.0.1",
    "https://127.0.0.1:8443",
    "https://169.254.169.254",
    "https://10.0.0.5",
    "https://192.168.1.1",
    "https://localhost",
    "https://[::1]",
]


# --- 1. SSRF through the connect flow ---------------------------------------------------------

@pytest.mark.parametrize("site", INTERNAL_SITES)
def test_connect_start_refuses_an_internal_address(woo_app, site):
    """Anyone may call GET /woocommerce/connect: it must not issue a connect state (and so let the
    callback make Kompas call) a loopback, link-local or private address."""
    answer = woo_app.test_client().get("/woocommerce/connect",
                                       query_string={"site": site, "return_url": site + "/wp-admin/"})
    assert answer.status_code == 400, (answer.status_code, answer.location)


@pytest.mark.parametrize("site", ["https://169.254.169.254", "https://127.0.0.1:8443", "https://10.0.0.5"])
def test_callback_never_calls_an_internal_address_nor_reflects_its_answer(woo_app, site):
    """An unauthenticated attacker posts wc-auth's callback with a state for an internal address
    (from /woocommerce/connect, or resolved there by DNS at callback time): Kompas must not send
    requests there, and must not hand back what the internal service answered."""
    import responses

    calls = []

    def internal(request):  # noqa: ANN001, ANN202
        calls.append((request.method, request.url, request.headers.get("Authorization")))
        return 403, {"Content-Type": "application/json"}, json.dumps(
            {"code": "internal_only", "message": "INTERNAL-SECRET-TOKEN-abc123"})

    vault = woo_app.extensions["kompas.vault"]
    state = vault.seal({"site": site, "exp": int(time.time()) + 3600})
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        for method in ("GET", "POST", "PUT", "DELETE"):
            mock.add_callback(method, re.compile(re.escape(site) + r"/.*"), callback=internal)
        answer = woo_app.test_client().post("/woocommerce/callback", json={
            "key_id": 1, "user_id": state, "consumer_key": KEY, "consumer_secret": SECRET,
            "key_permissions": "read_write"})
    assert calls == [], f"Kompas called the internal address: {calls}"
    assert b"INTERNAL-SECRET-TOKEN" not in answer.data


@pytest.mark.parametrize("site", ["https://169.254.169.254", "https://127.0.0.1:8443"])
def test_callback_does_not_hand_back_what_an_internal_service_answered(woo_app, site):
    """The refused callback's error message carries the JSON `code`/`message` of whatever answered
    at the address (and, past that, its `home` and settings `value`): a read channel into internal
    services, reachable without authentication through /woocommerce/connect + /callback."""
    import responses

    start = woo_app.test_client().get("/woocommerce/connect", query_string={"site": site, "return_url": site + "/"},
                                      headers={"Referer": site + "/"})
    if start.status_code != 302:
        return  # refused at the start: nothing can be reached
    state = parse_qs(urlsplit(start.location).query)["user_id"][0]
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add(responses.GET, re.compile(re.escape(site) + r"/.*"), status=403,
                 json={"code": "internal_only", "message": "INTERNAL-SECRET-TOKEN-abc123"})
        answer = woo_app.test_client().post("/woocommerce/callback", json={
            "key_id": 1, "user_id": state, "consumer_key": KEY, "consumer_secret": SECRET,
            "key_permissions": "read_write"})
    assert b"INTERNAL-SECRET-TOKEN" not in answer.data, answer.get_json()


# --- 3. Shop key folds the path's case: a co-hosted site takes over another ------------------

class PathStore(FakeStore):
    """A store installed under a path (https://host/<path>), whose REST index reports that home."""

    def answer(self, request):  # noqa: ANN001, ANN201
        parts = urlsplit(request.url)
        prefix = urlsplit(self.site).path
        if parts.path.startswith(prefix + "/wp-json/"):
            request.url = request.url.replace(parts.path, parts.path[len(prefix):], 1)
        if request.method == "GET" and urlsplit(request.url).path.rstrip("/") == "/wp-json":
            self.calls.append(("GET", ""))
            index = rest("index.json")
            index.update(home=self.site, name="Store at " + prefix)
            return self.json(index)
        return super().answer(request)


def _connect(client, site: str, key_id: int) -> dict:
    start = client.get("/woocommerce/connect", query_string={"site": site, "return_url": site + "/wp-admin/"},
                       headers={"Referer": site + "/"})
    assert start.status_code == 302, start.get_json()
    user_id = parse_qs(urlsplit(start.location).query)["user_id"][0]
    answer = client.post("/woocommerce/callback", json={"key_id": key_id, "user_id": user_id, "consumer_key": KEY,
                                                         "consumer_secret": SECRET, "key_permissions": "read_write"})
    return {"status": answer.status_code, "json": answer.get_json()}


def test_a_store_under_a_path_with_capitals_connects_and_its_deliveries_count(woo_app):
    """https://winkel.example/Winkel: the key folds letter case, the path as the store reports it
    must still match the URL it connected from (before, same_site compared the folded home with
    it and every such store was refused with 400)."""
    import responses

    from tests.helpers import body, payload, woo_headers

    site = "https://winkel.example/Winkel"
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        store = PathStore(mock, site=site)
        client = woo_app.test_client()
        assert _connect(client, site, 12) == {"status": 200, "json": {"status": "connected",
                                                                       "shop": "https://winkel.example/winkel"}}
    db = woo_app.extensions["kompas.db"]
    with db.reading() as session:
        shop = session.scalar(select(Shop).where(Shop.domain == "https://winkel.example/winkel"))
        assert shop.site_url == site
    secret = store.hook("order.created")["secret"]
    raw = body(payload("woocommerce", "order.updated__airbytehq-airbyte"))
    answer = client.post("/webhooks/woocommerce", data=raw, headers=woo_headers("order.created", raw, site=site,
                                                                                  secret=secret))
    assert answer.status_code == 200, answer.get_data(as_text=True)


def test_a_site_whose_path_differs_only_in_case_cannot_take_over_a_connected_shop(woo_app):
    """Two WordPress sites under /Winkel and /winkel of one host share the folded key. The second
    one's connect is refused with 409, and the first one's secret, keys and site stay."""
    import responses

    from plugin.credentials import WOOCOMMERCE_REST, load_credential

    first, second = "https://winkel.example/Winkel", "https://winkel.example/winkel"
    client = woo_app.test_client()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        PathStore(mock, site=first)
        assert _connect(client, first, 12)["status"] == 200
    db = woo_app.extensions["kompas.db"]

    def kept() -> tuple:
        with db.reading() as session:
            shop = session.scalar(select(Shop).where(Shop.domain == "https://winkel.example/winkel"))
            keys = load_credential(session, woo_app.extensions["kompas.vault"], shop.id, WOOCOMMERCE_REST)
            return shop.webhook_secret, shop.site_url, keys["site"], keys["key_id"]

    before = kept()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        other = PathStore(mock, site=second)
        answer = _connect(client, second, 99)
    assert answer["status"] == 409, answer
    assert "differ only in letter case" in answer["json"]["error"]
    assert kept() == before == (before[0], first, first, 12)
    assert other.webhooks == {}   # nothing was set up at the other site


# --- 4. The bounce page's framing policy comes from an unverified token ------------------------

@pytest.mark.parametrize("dest", ["https://evil.example *", "https://a.example; frame-ancestors *"])
def test_bounce_page_framing_policy_cannot_be_widened_by_an_unsigned_token(woo_app, dest):
    """GET /panel/?id_token=<any unsigned JWT with aud "kompas"> answers the WordPress bounce page
    with `frame-ancestors <origin of the token's dest>`: dest's netloc may hold spaces and ';',
    so a crafted link makes Kompas serve a page any site may frame (CSP source-list injection).
    The origin should be a single well-formed scheme://host[:port], or the policy 'none'."""
    now = int(time.time())
    token = jwt.encode({"iss": dest, "dest": dest, "aud": "kompas", "sub": "1", "nbf": now, "exp": now + 60},
                       "not-any-shops-secret-0123456789abcdef", algorithm="HS256")
    page = woo_app.test_client().get("/panel/", query_string={"id_token": token})
    policy = page.headers.get("Content-Security-Policy", "")
    assert policy.startswith("frame-ancestors ")
    sources = policy[len("frame-ancestors "):].rstrip(";").split()
    assert ";" not in policy.rstrip(";") and "*" not in sources, policy
    assert len(sources) == 1 and re.fullmatch(r"'none'|https?://[a-z0-9.-]+(:\d+)?", sources[0]), policy


def test_connect_from_anywhere_but_the_store_first_names_the_store_it_leads_to(woo_app):
    """The Connect button sends the merchant from their own wp-admin, and goes on at once. From
    anywhere else (a link in a phishing mail, no Referer at all) Kompas's address does not bounce
    the browser to whatever https host the link names: a page names it and asks."""
    client = woo_app.test_client()
    site = "https://phishing.example"
    query = {"site": site, "return_url": site + "/login"}
    for headers in ({}, {"Referer": "https://mail.example/inbox"}, {"Referer": "https://phishing.example.evil.test/"}):
        page = client.get("/woocommerce/connect", query_string={**query, "lang": "nl"}, headers=headers)
        body = page.get_data(as_text=True)
        assert page.status_code == 200 and "Location" not in page.headers, headers
        assert "Je koppelt Kompas aan de winkel op phishing.example" in body
        assert 'href="https://phishing.example/wc-auth/v1/authorize?' in body
        assert page.headers["Referrer-Policy"] == "no-referrer"
    english = client.get("/woocommerce/connect", query_string={**query, "lang": "en"})
    assert "Continue to phishing.example" in english.get_data(as_text=True)
    own = client.get("/woocommerce/connect", query_string=query, headers={"Referer": site + "/wp-admin/"})
    assert own.status_code == 302 and own.location.startswith(site + "/wc-auth/v1/authorize?")
