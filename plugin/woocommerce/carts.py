"""The panel's hint that cart events stopped while orders still arrive (WooCommerce stores).

A WooCommerce store's carts come from the Kompas WordPress plugin (cart.created / updated /
emptied), its orders from WooCommerce's own webhooks and the resync. A merchant who deactivates
the plugin tells Kompas nothing: orders keep arriving, carts stop, and cart abandonment goes
wrong without a word. The hint says so.

The rule (`silence`): the store has sent Kompas at least one cart, and after the newest cart's
shop-local hour at least MIN_ORDERS counted orders were placed, so many that the store's own
rhythm would have brought at least EXPECTED_CARTS new carts with them: orders × carts per order
≥ EXPECTED_CARTS, carts per order taken over the REFERENCE_DAYS days up to the newest cart's day
(to the end of its hour). With the usual two to four carts per order the first condition
decides; a store with many orders that never had a storefront cart (subscription renewals, orders
entered in wp-admin) needs that many more. While the plugin works, no new cart where ten are
expected happens about once in e^10 ≈ 22,000 such stretches (as Poisson counts). A store that
never sent a cart (an older plugin, a shop added with `kompas shop add`) never sees the hint, and
orders placed before its first cart (its history, imported after the connect) never count: only
orders placed after the newest cart do. Shopify shops get no hint: their carts come from
Shopify's own webhooks, in the same subscription as their orders, so there is no separate piece
for the merchant to switch off, and many Shopify orders never have an Online Store cart (POS,
draft orders, other sales channels).

Read from counters only, so that a store with millions of deliveries costs no more (the
deliveries table has no index by topic: each index there costs every webhook's insert), in three
statements on the primary keys: whether the store has any cart state at all (one seek); the
newest day whose `carts` counter is positive (daily counters read backwards from the newest day,
about 14 a day: a store whose carts stopped long ago reads more, see benchmarks/cart_hint.py);
and the daily `carts` and `orders` from 27 days before that day on, with the hourly ones of that
day. New carts are counted on their creation day and hour, so "since" is the end of the newest
cart's hour: no cart was created after it (a later cart.updated of an older cart moves no
counter and is not seen).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import bindparam, select, union_all
from sqlalchemy.orm import Session

from .. import i18n
from ..kpi.booking import shop_zone
from ..kpi.contributions import hour_counter
from ..models import DailyCounter, EntityState, HourCounter, Shop

MIN_ORDERS = 10        # orders after the newest cart before the hint shows
EXPECTED_CARTS = 10    # new carts those orders would normally have brought
REFERENCE_DAYS = 28    # the days, up to the newest cart's, that say how many carts an order brings

_DAILY = DailyCounter.__table__
_HOURS = HourCounter.__table__
_STATES = EntityState.__table__
_HOUR_NAMES = {hour_counter(h, name): (h, name) for h in range(24) for name in ("carts", "orders")}

# Whether the store ever sent a cart: a seek in the states' primary key (shop_id, kind, key),
# ordered by the key so that PostgreSQL never plans it as a sequential scan hoping for an early
# row (which would read every state when there is none). On its own, before the scan for the
# newest cart's day: as a subquery of that scan SQLite checks it row by row, after reading them.
_ANY_CART = (select(_STATES.c.key).where(_STATES.c.shop_id == bindparam("shop_id"), _STATES.c.kind == "cart")
             .order_by(_STATES.c.key).limit(1))
_NEWEST_CART_DAY = (select(_DAILY.c.day)
                    .where(_DAILY.c.shop_id == bindparam("shop_id"), _DAILY.c.name == "carts", _DAILY.c.value > 0)
                    .order_by(_DAILY.c.day.desc()).limit(1))
# carts and orders by day from the reference's first day on, and by hour on the newest cart's day
_AROUND = union_all(
    select(_DAILY.c.day, _DAILY.c.name, _DAILY.c.value)
    .where(_DAILY.c.shop_id == bindparam("shop_id"), _DAILY.c.day >= bindparam("first"),
           _DAILY.c.name.in_(("carts", "orders"))),
    select(_HOURS.c.day, _HOURS.c.name, _HOURS.c.value)
    .where(_HOURS.c.shop_id == bindparam("shop_id"), _HOURS.c.day == bindparam("newest"),
           _HOURS.c.name.in_(list(_HOUR_NAMES))))


@dataclass(frozen=True)
class CartSilence:
    """No new cart since `since` (UTC; the end of the newest cart's shop-local hour), while
    `orders` counted orders were placed after it."""

    since: datetime
    orders: int


def _end_of_hour(day: date, hour: int, zone: Any) -> datetime:  # noqa: ANN401
    """The instant local hour `hour` of `day` ends (of a repeated hour, the later one)."""
    start = datetime.combine(day, time(hour), tzinfo=zone).replace(fold=1)
    return start.astimezone(timezone.utc) + timedelta(hours=1)


def silence(session: Session, shop: Shop) -> CartSilence | None:
    """The cart silence the panel tells of, or None (the rule is in the module's docstring)."""
    if shop.platform != "woocommerce":
        return None
    if session.scalar(_ANY_CART, {"shop_id": shop.id}) is None:
        return None   # never a cart: nothing stopped
    newest = session.scalar(_NEWEST_CART_DAY, {"shop_id": shop.id})
    if newest is None:
        return None
    carts_before = orders_before = orders_after = 0
    hours: dict[str, dict[int, int]] = {"carts": {}, "orders": {}}
    for day, name, value in session.execute(_AROUND, {"shop_id": shop.id, "newest": newest,
                                                      "first": newest - timedelta(days=REFERENCE_DAYS - 1)}):
        if name in _HOUR_NAMES:
            hour, counter = _HOUR_NAMES[name]
            hours[counter][hour] = value
        elif day > newest:
            orders_after += value if name == "orders" else 0
        elif name == "carts":
            carts_before += value
        else:
            orders_before += value
    # the newest cart's hour; a day counted before the hourly counters existed ends at midnight
    last_hour = max((h for h, v in hours["carts"].items() if v > 0), default=23)
    later_that_day = sum(v for h, v in hours["orders"].items() if h > last_hour)
    orders_after += later_that_day
    orders_before -= later_that_day   # the reference ends with the newest cart's hour
    if orders_after < MIN_ORDERS or (orders_before and orders_after * carts_before < EXPECTED_CARTS * orders_before):
        return None
    return CartSilence(since=_end_of_hour(newest, last_hour, shop_zone(shop.timezone)), orders=orders_after)


def panel_hint(session: Session, shop: Shop, language: str) -> dict[str, Any] | None:
    """The hint as /panel/view.json gives it (`cart_hint`), or None when there is nothing to tell."""
    found = silence(session, shop)
    if found is None:
        return None
    when = i18n.moment(found.since, shop.timezone, language, seconds=False)
    return {"since": found.since.isoformat(), "orders": found.orders,
            "text": i18n.t("carts.silent", language, when=when, orders=i18n.number(found.orders, language))}
