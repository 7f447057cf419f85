"""Connecting a store in one click, with WooCommerce's own key-granting flow (wc-auth).

1. The plugin's Connect button sends the merchant's browser to GET /woocommerce/connect with the
   site URL and a return URL inside its wp-admin. Kompas answers with a redirect to the store's
   /wc-auth/v1/authorize, whose `user_id` is a sealed, hour-long state naming the site.
2. The merchant approves; WooCommerce POSTs the new key to our callback (server to server) and
   only then sends the browser back to the return URL. The callback must answer exactly 200, or
   WooCommerce deletes the key and tells the merchant access was denied: so a connect that cannot
   finish answers an error and leaves nothing behind.
3. With the key, Kompas reads the store's home URL and time zone (the REST index) and currency
   (WooCommerce settings), creates or reuses the shop, seals the key, and hands the plugin its
   secrets through the plugin's own REST route (only to the store itself); then it creates the
   four order webhooks with a fresh secret per shop (WooCommerce pings each; the receiver answers
   200) and queues the history backfill.

The callback's REST calls reach the store while WooCommerce waits for our answer: the store must
serve two requests at once (any PHP-FPM pool does; a one-process development server does not).
Facts: shared/platforms/woocommerce.md §4.
"""
from __future__ import annotations

import logging
import re
import secrets
import time
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable
from urllib.parse import urlencode, urlsplit

from sqlalchemy import select

from .. import backfill
from ..credentials import WOOCOMMERCE_REST, CredentialError, drop_credentials, save_credential
from ..kpi.booking import shop_zone
from ..models import Shop, WooCommerceSite
from ..outbound import private_address
from ..shops import ShopError, add_shop, shop_key
from .auth import PANEL_CREDENTIAL, new_panel_secret
from .client import WooClient, WooError

log = logging.getLogger(__name__)

APP_NAME = "Kompas"
SCOPE = "read_write"
STATE_SECONDS = 3600
WEBHOOK_TOPICS = ("order.created", "order.updated", "order.deleted", "order.restored")
SOURCE_NAME = "woocommerce_rest"
PLUGIN_ROUTE = "wc-kompas/v1/connection"
_KEY = re.compile(r"^ck_[A-Za-z0-9]{16,64}$")
_SECRET = re.compile(r"^cs_[A-Za-z0-9]{16,64}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")


class ConnectError(Exception):
    """The connect cannot go on; `status` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Keys:
    key_id: int
    consumer_key: str
    consumer_secret: str


@dataclass(frozen=True)
class ConnectState:
    """What a connect's sealed state carries from its start to wc-auth's callback."""

    site: str              # the URL the plugin connected from (its home_url)
    admin: str | None      # its wp-admin, …/wp-admin/ (admin_of), None when the return URL named none


@dataclass(frozen=True)
class Urls:
    """Kompas's own URLs a store is given (under KOMPAS_PUBLIC_URL)."""

    base: str

    @property
    def callback(self) -> str:
        return f"{self.base}/woocommerce/callback"

    @property
    def events(self) -> str:
        return f"{self.base}/webhooks/woocommerce"

    @property
    def panel(self) -> str:
        return f"{self.base}/panel/"

    @property
    def disconnect(self) -> str:
        return f"{self.base}/woocommerce/disconnect"


def urls(app) -> Urls:  # noqa: ANN001
    return Urls(app.config["PUBLIC_URL"].rstrip("/"))


def _site(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConnectError("site is missing")
    try:
        parts = urlsplit(value.strip())
        parts.port   # noqa: B018  raises ValueError for a port out of range
    except ValueError as exc:
        raise ConnectError(f"site is not a URL: {exc}") from exc
    if parts.scheme != "https" or not parts.netloc or parts.query or parts.fragment:
        raise ConnectError("site must be the store's https:// URL (WooCommerce accepts its API keys over HTTPS only)")
    try:
        (parts.hostname or "").encode("idna")
    except UnicodeError as exc:
        raise ConnectError(f"site's host name is not valid: {exc}") from exc
    if not parts.hostname:
        raise ConnectError("site has no host name")
    problem = private_address(parts.hostname)
    if problem:
        raise ConnectError(f"site must be a public store: {problem}")
    return value.strip().rstrip("/")


def exact_site(url: str) -> str:
    """A site URL as written, its scheme and host in lower case (they are case-insensitive, a path
    is not) and without trailing slash: https://Host.example/Shop/ → https://host.example/Shop."""
    parts = urlsplit(url.strip())
    host = parts.hostname or ""
    netloc = (f"[{host}]" if ":" in host else host) + (f":{parts.port}" if parts.port else "")
    return f"{parts.scheme.lower()}://{netloc}{parts.path.rstrip('/')}"


def same_site(a: str, b: str) -> bool:
    """Whether two store URLs name the same site (scheme and host case-insensitive, no trailing /)."""
    try:
        pa, pb = urlsplit(a.strip()), urlsplit(b.strip())
        return ((pa.scheme.lower(), (pa.hostname or "").lower(), pa.port, pa.path.rstrip("/"))
                == (pb.scheme.lower(), (pb.hostname or "").lower(), pb.port, pb.path.rstrip("/")))
    except ValueError:   # a port out of range, a broken IPv6 host: not the same site
        return False


def _same_origin(url: str, site: str) -> bool:
    """Whether `url` is an http(s) URL on the host (and port) of `site`; False for what is no URL."""
    try:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and parts.netloc.lower() == urlsplit(site).netloc.lower()
    except ValueError:
        return False


def start_url(app, site: Any, return_url: Any, now: float | None = None) -> str:  # noqa: ANN001
    """The store's wc-auth URL the merchant's browser is sent to."""
    site = _site(site)
    if not urls(app).base.startswith("https://"):
        raise ConnectError("Kompas is not set up for WooCommerce: KOMPAS_PUBLIC_URL must be its https:// URL "
                           "(wc-auth sends keys to https callbacks only)", 503)
    if not isinstance(return_url, str) or not _same_origin(return_url, site):
        raise ConnectError("return_url must be a page of the same site")
    now = time.time() if now is None else now
    state = app.extensions["kompas.vault"].seal({"site": site, "admin": admin_of(return_url),
                                                 "exp": int(now) + STATE_SECONDS})
    query = urlencode({"app_name": APP_NAME, "scope": SCOPE, "user_id": state, "return_url": return_url,
                       "callback_url": urls(app).callback})
    return f"{site}/wc-auth/v1/authorize?{query}"


def admin_of(return_url: str) -> str | None:
    """The store's wp-admin address (…/wp-admin/) from the plugin's return URL, a page inside it
    (admin_url('admin.php?page=kompas')); None when the URL has no /wp-admin/ or is too long.

    It is not always the home URL + /wp-admin/: a WordPress in its own directory (Settings → General,
    "WordPress Address" https://winkel.nl/wp, "Site Address" https://winkel.nl) has its admin under
    the WordPress address, and the REST API, hence the shop's key, under the site address."""
    try:
        parts = urlsplit(return_url.strip())
        cut = parts.path.find("/wp-admin/")
        if parts.scheme not in ("http", "https") or not parts.netloc or cut < 0:
            return None
        admin = exact_site(f"{parts.scheme}://{parts.netloc}{parts.path[:cut]}") + "/wp-admin/"
    except ValueError:   # a port out of range, a broken IPv6 host
        return None
    return admin if len(admin) <= 255 else None


def read_state(app, user_id: Any, now: float | None = None) -> ConnectState:  # noqa: ANN001
    """The site a callback's `user_id` (our sealed state) was issued for, and its wp-admin."""
    if not isinstance(user_id, str) or not user_id:
        raise ConnectError("user_id is missing")
    try:
        state = app.extensions["kompas.vault"].open(user_id)
    except CredentialError as exc:
        raise ConnectError("user_id is not a connect state Kompas issued") from exc
    now = time.time() if now is None else now
    if not isinstance(state, dict) or not isinstance(state.get("exp"), int) or state["exp"] < now:
        raise ConnectError("the connect state has expired; start again from the plugin")
    admin = state.get("admin")   # states sealed before it was kept have none
    return ConnectState(_site(state.get("site")), admin if isinstance(admin, str) else None)


def parse_callback(data: Any) -> tuple[str, Keys]:
    """(user_id, keys) from wc-auth's callback body; ConnectError for anything else."""
    if not isinstance(data, dict):
        raise ConnectError("send the JSON object WooCommerce's wc-auth sends")
    missing = [f for f in ("key_id", "user_id", "consumer_key", "consumer_secret", "key_permissions") if f not in data]
    if missing:
        raise ConnectError("missing " + ", ".join(missing))
    if data["key_permissions"] != SCOPE:
        raise ConnectError(f"key_permissions must be {SCOPE} (Kompas reads orders and manages its webhooks)")
    raw_id = data["key_id"]
    if isinstance(raw_id, bool) or not (isinstance(raw_id, int) or (isinstance(raw_id, str) and raw_id.isdigit())):
        raise ConnectError("key_id is not a whole number")
    key_id = int(raw_id)
    if not 0 < key_id < 2 ** 63:
        raise ConnectError("key_id is out of range")
    if not isinstance(data["consumer_key"], str) or not _KEY.match(data["consumer_key"]):
        raise ConnectError("consumer_key is not a WooCommerce consumer key (ck_…)")
    if not isinstance(data["consumer_secret"], str) or not _SECRET.match(data["consumer_secret"]):
        raise ConnectError("consumer_secret is not a WooCommerce consumer secret (cs_…)")
    return str(data["user_id"]), Keys(key_id, data["consumer_key"], data["consumer_secret"])


@dataclass(frozen=True)
class StoreFacts:
    home: str       # the shop's key: home_url(), as X-WC-Webhook-Source sends it, folded to lower case
    site: str       # home_url() with its path's letter case (exact_site)
    timezone: str
    currency: str
    name: str | None


def zone_name(timezone_string: Any, gmt_offset: Any) -> str:
    """The store's IANA zone: WordPress's `timezone_string`, or for a bare UTC offset the Etc/GMT
    zone of that offset (whole hours only: there is no IANA zone for e.g. UTC+5:30 without a city)."""
    if isinstance(timezone_string, str) and timezone_string.strip():
        name = timezone_string.strip()
        try:
            shop_zone(name)
        except ValueError as exc:
            raise ConnectError(f"the store's time zone {name!r} is not an IANA zone", 502) from exc
        return name
    try:
        offset = float(gmt_offset or 0)
    except (TypeError, ValueError) as exc:
        raise ConnectError(f"the store's gmt_offset {gmt_offset!r} is not a number", 502) from exc
    if offset == 0:
        return "UTC"
    if not offset.is_integer():
        raise ConnectError("the store's time zone is a UTC offset of part of an hour: choose a city as "
                           "time zone in WordPress → Settings → General, then connect again", 502)
    return f"Etc/GMT{-int(offset):+d}"  # POSIX sign: Etc/GMT-2 is UTC+2


def read_store(client: WooClient) -> StoreFacts:
    """Home URL and time zone from the REST index (public), currency from WooCommerce's settings."""
    index = client.get("", _fields="name,home,timezone_string,gmt_offset")
    if not isinstance(index, dict) or not index.get("home"):
        raise ConnectError("the store's REST index (/wp-json/) did not say its home URL", 502)
    setting = client.get("wc/v3/settings/general/woocommerce_currency")
    currency = setting.get("value") if isinstance(setting, dict) else None
    if not isinstance(currency, str) or not _CURRENCY.match(currency):
        raise ConnectError(f"the store's currency {currency!r} is not an ISO 4217 code", 502)
    try:
        home = shop_key("woocommerce", index["home"])
        site = exact_site(index["home"])
    except (ShopError, ValueError) as exc:
        raise ConnectError(str(exc), 502) from exc
    return StoreFacts(home=home, site=site, timezone=zone_name(index.get("timezone_string"), index.get("gmt_offset")),
                      currency=currency, name=index.get("name") if isinstance(index.get("name"), str) else None)


CONNECTION_LOCK = "woocommerce_connection"   # Database.exclusive: a store's connection changes one at a time


def new_webhook_secret() -> str:
    # URL-safe base64: none of & < > " ', which WooCommerce would entity-decode before signing
    return secrets.token_urlsafe(32)


def our_webhooks(client: WooClient, events_url: str) -> list[dict]:
    """The store's webhooks that deliver to Kompas."""
    found = []
    for page in client.pages("wc/v3/webhooks", status="all"):
        found.extend(w for w in page.items if isinstance(w, dict) and w.get("delivery_url") == events_url)
    return found


def create_webhook(client: WooClient, topic: str, events_url: str, secret: str) -> int:
    created = client.post("wc/v3/webhooks", {"name": f"Kompas {topic}", "topic": topic, "delivery_url": events_url,
                                             "secret": secret, "status": "active"})
    if not isinstance(created, dict) or not isinstance(created.get("id"), int):
        raise WooError(f"creating the {topic} webhook gave no id")
    return created["id"]


def connect(app, site: str, keys: Keys, client_factory: Callable[..., WooClient] | None = None,  # noqa: ANN001
            now: datetime | None = None, admin_url: str | None = None) -> str:
    """Finish a connect for `site` with granted `keys`; returns the shop's key. Undoes its own
    changes when a step fails (ConnectError with the status to answer). `admin_url`, the store's
    wp-admin (ConnectState.admin), is kept for the links into the panel (None keeps the one known)."""
    db, vault, our = app.extensions["kompas.db"], app.extensions["kompas.vault"], urls(app)
    now = now or datetime.now(timezone.utc)
    if client_factory is None:  # WooCommerce waits 60 s for our answer: short timeouts, one retry
        client = WooClient(site, keys.consumer_key, keys.consumer_secret, timeout=8.0, attempts=2,
                           sleep=app.config.get("WOOCOMMERCE_RETRY_SLEEP") or time.sleep)
    else:
        client = client_factory(site, keys.consumer_key, keys.consumer_secret)
    try:
        facts = read_store(client)
    except WooError as exc:
        raise ConnectError(f"the store's REST API did not answer with the granted key: {exc}", 502) from exc
    if not same_site(facts.site, site):
        # The shop is found by the address the store reports: it must be the site that started
        # this connect (and signed it), or one store could take over or disconnect another's shop.
        raise ConnectError(f"the store at {site} reports its address as {facts.home}: connect from that address", 400)
    with db.reading() as session:
        known = session.scalar(select(Shop.id).where(Shop.domain == facts.home))
    # One at a time with a disconnect or a resync's webhook repair of this store: a repair between
    # the old webhooks' deletion and the new ones' would add some with the old secret, and a
    # disconnect (the plugin can sign one once it has its secrets) between the plugin's secrets and
    # the webhooks would leave webhooks with a forgotten secret. A new shop's lock is taken as soon
    # as it has an id, before the store hears of it.
    with ExitStack() as held:
        if known is not None:
            held.enter_context(db.exclusive(CONNECTION_LOCK, known))
        webhook_secret, panel_secret = new_webhook_secret(), new_panel_secret()
        with db.transaction() as session:
            shop = session.scalar(select(Shop).where(Shop.domain == facts.home))
            created = shop is None
            if shop is not None and shop.platform != "woocommerce":
                raise ConnectError(f"{facts.home} is registered as a {shop.platform} shop", 409)
            if shop is None:
                shop = add_shop(session, platform="woocommerce", domain=facts.home, timezone_name=facts.timezone,
                                currency=facts.currency, webhook_secret=webhook_secret, name=facts.name)
            else:  # reconnect: the shop's history and counters stay; its zone and currency too
                if shop.site_url is not None and shop.site_url != facts.site:
                    # the key folds letter case; the path does not: another site (a WordPress under
                    # /shop beside one under /Shop) must not take over this shop's figures and secrets
                    raise ConnectError(f"{facts.home} is the shop of {shop.site_url}, a different site than "
                                       f"{facts.site}: sites whose addresses differ only in letter case "
                                       "cannot both be connected", 409)
                if (shop.timezone, shop.currency) != (facts.timezone, facts.currency):
                    log.warning("woocommerce.reconnect_settings_differ",
                                extra={"shop": shop.domain, "zone": facts.timezone, "currency": facts.currency})
                shop.webhook_secret, shop.uninstalled_at = webhook_secret, None
            shop.site_url = facts.site
            if admin_url is not None:
                shop.admin_url = admin_url
            shop_id = shop.id
            save_credential(session, vault, shop_id, WOOCOMMERCE_REST,
                            {"consumer_key": keys.consumer_key, "consumer_secret": keys.consumer_secret,
                             "key_id": keys.key_id, "site": site})
            save_credential(session, vault, shop_id, PANEL_CREDENTIAL, {"secret": panel_secret})
            row = session.get(WooCommerceSite, shop_id)
            if row is None:
                row = WooCommerceSite(shop_id=shop_id, webhooks={}, missed_orders_total=0, repaired_webhooks_total=0,
                                      last_repair_orders=0, last_repair_webhooks=0)
                session.add(row)
            row.key_id, row.connected_at, row.last_error = keys.key_id, now, None
        if known is None:
            held.enter_context(db.exclusive(CONNECTION_LOCK, shop_id))
            with db.reading() as session:   # `kompas woocommerce disconnect` may have come first
                shop = session.get(Shop, shop_id)
                if shop is None or shop.webhook_secret != webhook_secret:
                    raise ConnectError(f"{facts.home} was disconnected while it connected", 409)
        made: list[int] = []
        try:
            client.post(PLUGIN_ROUTE, {"shop": facts.home, "panel_url": our.panel, "events_url": our.events,
                                       "disconnect_url": our.disconnect, "panel_secret": panel_secret,
                                       "webhook_secret": webhook_secret, "key_id": keys.key_id})
            for old in our_webhooks(client, our.events):  # a reconnect: the old ones carry the old secret
                client.delete(f"wc/v3/webhooks/{old['id']}", force="true")
            webhooks = {}
            for topic in WEBHOOK_TOPICS:
                webhooks[topic] = create_webhook(client, topic, our.events, webhook_secret)
                made.append(webhooks[topic])
        except WooError as exc:
            _undo(app, client, shop_id, created, made)
            if exc.status == 404 and not made:
                raise ConnectError("the Kompas plugin did not answer at /wp-json/wc-kompas/v1/connection: is it active?",
                                   502) from exc
            raise ConnectError(f"connecting failed at the store: {exc}", 502) from exc
        with db.transaction() as session:
            session.get(WooCommerceSite, shop_id).webhooks = webhooks
    backfill.queue(db, shop_id, SOURCE_NAME)  # the worker's jobs (plugin.jobs) run it; the panel shows it queued
    log.info("woocommerce.connected", extra={"shop": facts.home, "webhooks": webhooks})
    return facts.home


def _undo(app, client: WooClient, shop_id: int, created: bool, webhook_ids: list[int]) -> None:  # noqa: ANN001
    """Take back a failed connect's steps: its webhooks, the secrets it handed the plugin (or the
    plugin would go on as connected, with secrets Kompas no longer knows, and show no Connect
    button), and Kompas's side. The store's side as far as it answers. The plugin is told in any
    case: its POST comes first, and one that failed may still have been stored (an error from
    another plugin, a proxy, a read timeout)."""
    try:
        client.delete(PLUGIN_ROUTE)
    except WooError:
        log.warning("woocommerce.undo_plugin_failed")
    for webhook_id in webhook_ids:
        try:
            client.delete(f"wc/v3/webhooks/{webhook_id}", force="true")
        except WooError:
            log.warning("woocommerce.undo_webhook_failed", extra={"webhook": webhook_id})
    with app.extensions["kompas.db"].transaction() as session:
        shop = session.get(Shop, shop_id)
        if created:
            session.delete(shop)
        else:  # a failed reconnect leaves the shop disconnected (its figures stay)
            drop_credentials(session, shop_id, WOOCOMMERCE_REST)
            drop_credentials(session, shop_id, PANEL_CREDENTIAL)
            site = session.get(WooCommerceSite, shop_id)
            if site is not None:
                session.delete(site)
            shop.webhook_secret, shop.uninstalled_at = None, datetime.now(timezone.utc)
