"""The schema: shops, verified deliveries, entity states and counters (SQLAlchemy 2, ORM only).

Writers: `webhooks.receiver` writes deliveries, `plugin.ingest` writes entity states and is the
only caller of `plugin.counters`, which is the only writer of counter rows.
"""
from __future__ import annotations

from datetime import date, datetime, timezone

from sqlalchemy import (JSON, BigInteger, Boolean, Date, DateTime, ForeignKey, Index, Integer,
                        LargeBinary, MetaData, String, Text, TypeDecorator, UniqueConstraint)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from .sealed import SealedText

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator):
    """An instant, stored in UTC and always read back aware. (SQLite keeps no offset: without this
    it hands back naive values, and an aware value in another zone would be stored as its local
    wall time.)"""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:  # noqa: ANN001
        return value.astimezone(timezone.utc) if value is not None and value.tzinfo else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:  # noqa: ANN001
        return value.replace(tzinfo=timezone.utc) if value is not None and value.tzinfo is None else value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Shop(Base):
    """A merchant's shop. `domain` is its key: a *.myshopify.com domain or a WooCommerce site URL
    without trailing slash. `customer_hash_key` keys the HMAC of guest e-mail addresses.
    `uninstalled_at` is set when the merchant removes the app (counters stay until shop/redact)."""

    __tablename__ = "shops"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(20))
    domain: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[str | None] = mapped_column(String(255))
    currency: Mapped[str] = mapped_column(String(3))
    timezone: Mapped[str] = mapped_column(String(64))
    webhook_secret: Mapped[str | None] = mapped_column(SealedText())  # sealed at rest (plugin.credentials)
    customer_hash_key: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    uninstalled_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    scopes: Mapped[str | None] = mapped_column(String(1000))  # access scopes granted, comma-separated
    # W of section 3: a customer is active while their last order is at most this many days old
    retention_days: Mapped[int] = mapped_column(Integer, default=365, server_default="365")
    # WooCommerce: order statuses the merchant excluded (never counted), comma-separated slugs
    excluded_statuses: Mapped[str] = mapped_column(String(1000), default="", server_default="")
    # WooCommerce: the site's URL as its store reports it, its path's letter case kept (the key,
    # `domain`, folds it); a connect from a site whose URL differs from it only in case is refused
    site_url: Mapped[str | None] = mapped_column(String(255))
    # WooCommerce: the site's wp-admin, …/wp-admin/, from the plugin's return URL at connect: not
    # always site_url + /wp-admin/ (WordPress in its own directory); None before migration 0022
    admin_url: Mapped[str | None] = mapped_column(String(255))


class ShopCredential(Base):
    """A secret Kompas holds for a shop (an access token, API keys), sealed by plugin.credentials.

    `kind` names what it is ("shopify_offline", "woocommerce_rest"); `sealed` is the Fernet token of
    its JSON; `expires_at` copies the expiry of an expiring token so refreshes can be found.
    """

    __tablename__ = "shop_credentials"

    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), primary_key=True)
    sealed: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class SyncRun(Base):
    """One pass that pulls a shop's orders from its platform: a history backfill or a
    reconciliation. Kept up to date page by page, so progress can be shown and an interrupted
    pass resumes from `cursor` (see plugin.backfill).

    `kind`: "backfill" | "reconcile"; `source`: the puller ("shopify_bulk", "woocommerce_rest", ...);
    `status`: running → done | failed; `done`/`total`: orders read / expected (total may be unknown);
    `changed`: entity states that changed a counter (for a reconciliation: its corrections).
    """

    __tablename__ = "sync_runs"
    __table_args__ = (Index("ix_sync_runs_shop_kind", "shop_id", "kind", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(16))
    done: Mapped[int] = mapped_column(BigInteger, default=0)
    total: Mapped[int | None] = mapped_column(BigInteger)
    changed: Mapped[int] = mapped_column(BigInteger, default=0)
    cursor: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)  # e.g. why history stops at 60 days
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    resumed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    done_at_resume: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class Delivery(Base):
    """One verified webhook delivery, stored before it is acknowledged (dj-stripe's trigger row).

    `status`: received (waiting to be applied) → processed | ignored | failed. `dedupe_key` is
    Shopify's X-Shopify-Webhook-Id; WooCommerce's delivery id is not unique, so it has none.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("shop_id", "dedupe_key", name="uq_deliveries_shop_dedupe"),
        Index("ix_deliveries_status_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    # No index of its own: uq_deliveries_shop_dedupe leads with shop_id (one index less per insert).
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    platform: Mapped[str] = mapped_column(String(20))
    topic: Mapped[str] = mapped_column(String(100))
    delivery_id: Mapped[str | None] = mapped_column(String(255))
    dedupe_key: Mapped[str | None] = mapped_column(String(255))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())
    triggered_at: Mapped[str | None] = mapped_column(String(64))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(20))
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    applied_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class EntityState(Base):
    """The latest known state of one entity (order, refund, return, cart, checkout) of a shop.

    `data` is the normalized state (plugin.kpi.entities, as JSON). The other columns copy the
    fields that aggregates are looked up by.
    """

    __tablename__ = "entity_states"
    # Every lookup must match more leading columns of its own index than of any other: with
    # fresh or stale statistics PostgreSQL's planner otherwise picks an index that filters a
    # whole shop's orders per query. Only orders carry customer_key and the tokens, so their
    # lookups need no kind column; refunds and returns share parent_key, hence kind in third place.
    __table_args__ = (
        Index("ix_entity_states_parent", "shop_id", "parent_key", "kind"),
        Index("ix_entity_states_customer", "shop_id", "customer_key"),
        Index("ix_entity_states_cart", "shop_id", "cart_token"),
        Index("ix_entity_states_checkout", "shop_id", "checkout_token"),
    )

    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)
    parent_key: Mapped[str | None] = mapped_column(String(255))
    customer_key: Mapped[str | None] = mapped_column(String(255))
    cart_token: Mapped[str | None] = mapped_column(String(255))
    checkout_token: Mapped[str | None] = mapped_column(String(255))
    counts: Mapped[bool] = mapped_column(Boolean, default=False)
    booked_at: Mapped[int | None] = mapped_column(BigInteger)
    data: Mapped[dict] = mapped_column(JSON)


class DailyCounter(Base):
    """Running counter `name` of a shop on a shop-local day. Money in micros (amount × 10^6)."""

    __tablename__ = "daily_counters"

    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


class SourceCounter(Base):
    """Breakdown counters per day: by traffic source ("src:<source>|<counter>") and by product
    ("prod:<product>|<counter>"), see plugin.kpi.contributions.

    Kept apart from DailyCounter so that a shop with many sources or products does not make every
    report read more rows: only the breakdown tables read them.
    """

    __tablename__ = "source_counters"

    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


class DayHistogram(Base):
    """Per shop-local day, a count per gap in days, as little-endian int32s (index = gap).

    "customer_visit": customers ordering on `day` whose previous order day was gap days earlier;
    "customer_first_second": customers whose first order is on `day` and second gap days later;
    "cart_purchase_later" / "checkout_purchase_later": orders on `day` whose cart (checkout) was
    created gap ≥ 1 days earlier; "cart_purchase_backdated" / "checkout_purchase_backdated": orders
    booked on `day` (a back-dated processed_at) whose cart (checkout) was created gap ≥ 1 days later.
    They answer the range customer figures in time that grows with days, not orders (see
    plugin.counters.pairs_in_range).
    """

    __tablename__ = "day_histograms"

    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class KpiTarget(Base):
    """The merchant's target for one KPI (panel tiles show the progress towards it)."""

    __tablename__ = "kpi_targets"

    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), primary_key=True)
    kpi: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(String(40))  # as the report writes the KPI: "1234.50", "3.00", "12"


class MarketingSpend(Base):
    """The merchant's marketing spend of one calendar month, in micros of the shop's currency."""

    __tablename__ = "marketing_spend"

    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)  # YYYY-MM
    amount: Mapped[int] = mapped_column(BigInteger)


class WooCommerceSite(Base):
    """A connected WooCommerce store's webhooks and self-healing state (plugin.woocommerce).

    `webhooks`: {topic: webhook id} of the webhooks Kompas created. `synced_until`: the end of the
    last finished "orders modified since" pass, where the next one starts. The `*_total` counts
    and `last_repair_*` tell the merchant what the resync repaired (deliveries WooCommerce lost,
    webhooks it disabled).
    """

    __tablename__ = "woocommerce_sites"

    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), primary_key=True)
    key_id: Mapped[int | None] = mapped_column(BigInteger)
    webhooks: Mapped[dict] = mapped_column(JSON)
    connected_at: Mapped[datetime] = mapped_column(UtcDateTime())
    synced_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    checked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    missed_orders_total: Mapped[int] = mapped_column(Integer, default=0)
    repaired_webhooks_total: Mapped[int] = mapped_column(Integer, default=0)
    last_repair_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_repair_orders: Mapped[int] = mapped_column(Integer, default=0)
    last_repair_webhooks: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


class OrderStatus(Base):
    """A status the shop's orders have had (WooCommerce), recorded as states are written: the
    statuses the merchant can exclude (plugin.settings.set_excluded_statuses), read without
    scanning every order."""

    __tablename__ = "order_statuses"

    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), primary_key=True)
    status: Mapped[str] = mapped_column(String(64), primary_key=True)


class RedactedCustomer(Base):
    """A customer key redacted by customers/redact, as a keyed hash (plugin.pseudonyms): an order
    of that key arriving later is counted under its pseudonym, never under the person again."""

    __tablename__ = "redacted_customers"

    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)


class DataRequest(Base):
    """A Shopify customers/data_request, kept until the merchant has what Kompas holds of the
    customer (plugin.shopify.data_requests): Shopify leaves it to the app to give the data to the
    merchant, who answers the customer. It names the customer by Shopify id only; `order_ids` and
    `delivery_ids` are the orders and stored deliveries that concern them, found when it came."""

    __tablename__ = "data_requests"
    __table_args__ = (UniqueConstraint("shop_id", "request_id", name="uq_data_requests_shop_request"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    request_id: Mapped[str] = mapped_column(String(64))          # Shopify's data_request.id
    customer_id: Mapped[str | None] = mapped_column(String(64))  # Shopify's customer.id
    order_ids: Mapped[list] = mapped_column(JSON)
    delivery_ids: Mapped[list] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())


class AnonymizedOrder(Base):
    """A WooCommerce order the store anonymized (plugin.woocommerce.privacy): its stored bodies
    are scrubbed as they are applied, and the earlier ones by a background pass, after which
    `scrubbed_at` is set."""

    __tablename__ = "anonymized_orders"

    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    noticed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    scrubbed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class HourCounter(Base):
    """Breakdown counters per shop-local hour of a day ("hour:HH|<counter>", see
    plugin.kpi.contributions.hour_counter), for alerts that compare hours with the same hours of
    earlier weeks. A table of their own, so that they never lengthen the breakdown reads."""

    __tablename__ = "hour_counters"

    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


from .alerts import models as _alert_models  # noqa: E402,F401  (the alert tables, on this metadata)
