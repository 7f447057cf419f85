"""What each entity contributes to the daily counters: contribution(state) -> {CounterKey: int}.

A counter is a pure function of the latest state of each entity (section 1). Applying a new state
therefore means: counters += contribution(new aggregate) − contribution(old aggregate). Money is
contributed in integer micros (see money.py), counts as plain integers.

Contributions are computed per *aggregate*, because some figures depend on more than one entity:
- an order aggregate is the order with its refunds and the creation days of the cart and checkout
  it names (a refund counts only while its order counts; a purchase needs its cart's day);
- a customer aggregate is the list of booking days of one customer's counted orders
  (customers, new customers and the returning-customer figures).
"""
from __future__ import annotations

from collections import Counter
from decimal import Decimal
from functools import lru_cache
from datetime import date, timedelta
from typing import Iterable, Mapping, NamedTuple
from zoneinfo import ZoneInfo

from .booking import from_epoch_micros, local_day
from .entities import CartState, OrderState, RefundState, ReturnState, standing_refunds
from .money import to_micros


class CounterKey(NamedTuple):
    """One counter cell: `name` on shop-local `day`; `ref` is the second day of a pair counter."""

    name: str
    day: date
    ref: date | None = None


# Money counters (stored in micros) and count counters, by their report names.
MONEY_COUNTERS = ("gross_sales", "discounts", "returns", "shipping", "refunded_shipping", "taxes",
                  "refunded_taxes", "refunds", "clv12_net_sales")
COUNT_COUNTERS = ("orders", "items_sold", "items_returned", "orders_cancelled", "carts", "checkouts",
                  "cart_purchases", "checkout_purchases", "customers", "new_customers",
                  "returning_customers", "returns_requested", "returns_approved")
DAILY_COUNTERS = MONEY_COUNTERS + COUNT_COUNTERS

# Pair counters for range customer figures (see customer_contribution).
CUSTOMER_VISIT = "customer_visit"          # (order day, previous order day of that customer)
CUSTOMER_FIRST_SECOND = "customer_first_second"  # (first order day, second order day)
# Pair counters for range purchase figures (section 8): (order day, the other day its cart or
# checkout was created). A purchase on the cart's own day is the daily cart_purchases
# (checkout_purchases); one on another day counts in every range holding both days: a later day
# (ordered after midnight), or an earlier one (an order whose processed_at was back-dated).
CART_PURCHASE_LATER = "cart_purchase_later"
CHECKOUT_PURCHASE_LATER = "checkout_purchase_later"
LATER_PURCHASES = {CART_PURCHASE_LATER: "cart_purchases", CHECKOUT_PURCHASE_LATER: "checkout_purchases"}
CART_PURCHASE_BACKDATED = "cart_purchase_backdated"
CHECKOUT_PURCHASE_BACKDATED = "checkout_purchase_backdated"
BACKDATED_PURCHASES = {CART_PURCHASE_BACKDATED: "cart_purchases", CHECKOUT_PURCHASE_BACKDATED: "checkout_purchases"}
# Stand-ins for "no previous order" and "no second order yet": before and after every real day.
NO_DAY_BEFORE = date(1, 1, 1)
NO_DAY_AFTER = date(9999, 12, 31)

Contribution = Counter  # Counter[CounterKey] -> int

# Sales by traffic source (section 4) are daily counters named "src:<source>|<counter>".
SOURCE_PREFIX = "src:"
SOURCE_COUNTERS = ("orders", "gross_sales", "discounts", "returns")
_SOURCE_MAX = 40 - len(SOURCE_PREFIX) - len("|gross_sales")


# Returns by product are kept the same way: "prod:<product>|returns" and "prod:<product>|items_returned".
PRODUCT_PREFIX = "prod:"
_PRODUCT_MAX = 40 - len(PRODUCT_PREFIX) - len("|items_returned")


# Per shop-local hour of the day, for alerts that compare "so far today" or "the last N hours" with the
# same weekday and hours of earlier weeks: "hour:HH|<counter>" on the day, HH = 00..23 (a 25-hour day
# adds its repeated hour to the same HH).
HOUR_PREFIX = "hour:"
HOUR_COUNTERS = ("orders", "gross_sales", "discounts", "items_sold", "returns", "refunds", "items_returned",
                 "carts", "cart_purchases", "checkouts", "checkout_purchases")


def hour_counter(hour: int, counter: str) -> str:
    """The daily counter name of `counter` booked in shop-local hour `hour` (0..23) of the day."""
    return f"{HOUR_PREFIX}{hour:02d}|{counter}"


# Orders and their sales (gross − discounts, micros) per traffic source and hour, so that an alert
# over some hours names the source that fell most against the same hours of earlier weeks (whole
# days would compare this morning with a newsletter's evening): "hour:HH|src:<source>|orders".
HOUR_SOURCE_COUNTERS = ("orders", "sales")
_HOUR_SOURCE_MAX = 40 - len(HOUR_PREFIX + "00|" + SOURCE_PREFIX + "|orders")


def hour_source_counter(hour: int, source: str | None, counter: str) -> str:
    """The daily counter name of `counter` (orders | sales) of orders from `source` booked in hour
    `hour`; read back by the alert evaluator as the cell counter "src:<source>|<counter>"."""
    return hour_counter(hour, f"{SOURCE_PREFIX}{(source or 'direct')[:_HOUR_SOURCE_MAX]}|{counter}")


def product_counter(product: str, counter: str) -> str:
    """The daily counter name of `counter` for one product (its title, cut to fit)."""
    return f"{PRODUCT_PREFIX}{product[:_PRODUCT_MAX]}|{counter}"


def source_counter(source: str | None, counter: str) -> str:
    """The daily counter name of `counter` for orders from `source` ("direct" when unknown)."""
    return f"{SOURCE_PREFIX}{(source or 'direct')[:_SOURCE_MAX]}|{counter}"


_HOUR_MICROS = 3_600_000_000


def _day(instant_micros: int, zone: ZoneInfo) -> date:
    """The shop-local date of an instant (epoch µs). Memoized per UTC hour: a customer's order days
    are read again every time the customer is touched, and keying by the hour rather than by the
    instant bounds the memo by the hours a shop's history spans, not by its orders (keyed by
    instant, it grew by about 1.5 MiB per 10,000 deliveries up to its 65,536 entries)."""
    day = _day_of_hour(instant_micros // _HOUR_MICROS, zone)
    return day if day is not None else local_day(from_epoch_micros(instant_micros), zone)


@lru_cache(maxsize=1 << 13)   # about a year of hours; a few hundred bytes each
def _day_of_hour(hour: int, zone: ZoneInfo) -> date | None:
    """The local date of every instant of UTC hour `hour` (hours since the epoch), or None when it
    may change within that hour: local midnight falls inside it (offsets such as +05:45), or the
    offset changes inside it (then local time is not one straight run and is not trusted)."""
    first = from_epoch_micros(hour * _HOUR_MICROS).astimezone(zone)
    last = from_epoch_micros((hour + 1) * _HOUR_MICROS - 1).astimezone(zone)
    return first.date() if first.date() == last.date() and first.utcoffset() == last.utcoffset() else None


def _day_hour(instant_micros: int, zone: ZoneInfo) -> tuple[date, int]:
    local = from_epoch_micros(instant_micros).astimezone(zone)
    return local.date(), local.hour


def order_contribution(order: OrderState | None, refunds: Iterable[RefundState],
                       cart_created_at: int | None, checkout_created_at: int | None,
                       zone: ZoneInfo) -> Contribution:
    """Counters contributed by one order aggregate (sections 1, 2 and 4).

    - At the order's day: orders 1, gross_sales, discounts, shipping, taxes, items_sold.
    - At the cancellation's day: orders_cancelled 1; an order cancelled without captured payment
      also books returns = gross_sales − discounts, refunded_shipping = shipping and
      refunded_taxes = taxes, so its total sales net to zero while refunds stay 0.
    - At each refund's own day: returns, refunded_shipping, refunded_taxes, refunds, items_returned;
      of an order whose unpaid cancellation gave it all back, only refunds and items_returned.
    - Per traffic source (section 4): orders, gross_sales, discounts and returns again under
      source_counter(order.source, …), so that net sales can be split by source.
    - A purchase: cart_purchases (checkout_purchases) 1 at the order's day when the cart (checkout)
      it names was created on that same shop-local day (the one-day figure of `days`); when it
      was created on an earlier day c, the pair cart_purchase_later (checkout_purchase_later)
      (order day, c) instead, and on a later day c (the order's processed_at back-dated), the pair
      cart_purchase_backdated (checkout_purchase_backdated) (order day, c): a range holding both
      days counts it (counters.pairs_in_range).
    - Per shop-local hour (hour_counter): orders, items_sold, gross_sales, discounts and purchases
      at the order's hour; returns, refunds and items_returned at each refund's (or the unpaid
      cancellation's) hour. They add up to the day's counters.
    A missing, deleted or uncounted order contributes nothing, its refunds included; a refund that
    an order state modified after the refund's booking instant no longer lists (deleted in the
    shop's admin, OrderState.still_lists) contributes nothing either.
    """
    out: Contribution = Counter()
    if order is None or not order.counts:
        return out
    refunds = standing_refunds(order, refunds)
    day = _day(order.booked_at, zone)  # type: ignore[arg-type]
    out[CounterKey("orders", day)] += 1
    out[CounterKey("items_sold", day)] += order.items_sold
    out[CounterKey("gross_sales", day)] += to_micros(order.gross_sales)
    out[CounterKey("discounts", day)] += to_micros(order.discounts)
    out[CounterKey("shipping", day)] += to_micros(order.shipping)
    out[CounterKey("taxes", day)] += to_micros(order.taxes)
    out[CounterKey(source_counter(order.source, "orders"), day)] += 1
    out[CounterKey(source_counter(order.source, "gross_sales"), day)] += to_micros(order.gross_sales)
    out[CounterKey(source_counter(order.source, "discounts"), day)] += to_micros(order.discounts)
    hour = _day_hour(order.booked_at, zone)[1]  # type: ignore[arg-type]
    out[CounterKey(hour_counter(hour, "orders"), day)] += 1
    out[CounterKey(hour_counter(hour, "items_sold"), day)] += order.items_sold
    out[CounterKey(hour_counter(hour, "gross_sales"), day)] += to_micros(order.gross_sales)
    out[CounterKey(hour_counter(hour, "discounts"), day)] += to_micros(order.discounts)
    out[CounterKey(hour_source_counter(hour, order.source, "orders"), day)] += 1
    out[CounterKey(hour_source_counter(hour, order.source, "sales"), day)] += to_micros(order.gross_sales
                                                                                       - order.discounts)
    if order.cancelled_at is not None:
        cday = _day(order.cancelled_at, zone)
        out[CounterKey("orders_cancelled", cday)] += 1
        if order.cancel_reverses_sale:
            out[CounterKey("returns", cday)] += to_micros(order.gross_sales - order.discounts)
            out[CounterKey(source_counter(order.source, "returns"), cday)] += to_micros(order.gross_sales - order.discounts)
            out[CounterKey(hour_counter(_day_hour(order.cancelled_at, zone)[1], "returns"), cday)] += \
                to_micros(order.gross_sales - order.discounts)
            out[CounterKey("refunded_shipping", cday)] += to_micros(order.shipping)
            out[CounterKey("refunded_taxes", cday)] += to_micros(order.taxes)
    for created_at, same_day, later, backdated in (
            (cart_created_at, "cart_purchases", CART_PURCHASE_LATER, CART_PURCHASE_BACKDATED),
            (checkout_created_at, "checkout_purchases", CHECKOUT_PURCHASE_LATER, CHECKOUT_PURCHASE_BACKDATED)):
        if created_at is None:
            continue
        created = _day(created_at, zone)
        if created == day:
            out[CounterKey(same_day, day)] += 1
            out[CounterKey(hour_counter(hour, same_day), day)] += 1
        elif created < day:
            out[CounterKey(later, day, created)] += 1
        else:
            out[CounterKey(backdated, day, created)] += 1
    for refund in refunds:
        rday, rhour = _day_hour(refund.booked_at, zone)
        out[CounterKey(hour_counter(rhour, "refunds"), rday)] += to_micros(refund.refunds)
        out[CounterKey(hour_counter(rhour, "items_returned"), rday)] += refund.items_returned
        out[CounterKey("refunds", rday)] += to_micros(refund.refunds)
        out[CounterKey("items_returned", rday)] += refund.items_returned
        for product, value, items in refund.products:
            out[CounterKey(product_counter(product, "items_returned"), rday)] += items
        if order.cancel_reverses_sale:
            # the unpaid cancellation gives the whole order back (above): a refund Shopify makes
            # with it (its lines restocked, no money) would give the same goods back a second time
            continue
        out[CounterKey(hour_counter(rhour, "returns"), rday)] += to_micros(refund.returns)
        out[CounterKey("returns", rday)] += to_micros(refund.returns)
        out[CounterKey(source_counter(order.source, "returns"), rday)] += to_micros(refund.returns)
        for product, value, _ in refund.products:
            out[CounterKey(product_counter(product, "returns"), rday)] += to_micros(Decimal(value))
        out[CounterKey("refunded_shipping", rday)] += to_micros(refund.refunded_shipping)
        out[CounterKey("refunded_taxes", rday)] += to_micros(refund.refunded_taxes)
    return out


def customer_contribution(order_days: Iterable[date]) -> Contribution:
    """Counters contributed by one customer, from the days of their counted orders (section 3).

    Daily (one-day figures, as `days` in the report shows them):
    - customers 1 on each distinct day with an order;
    - new_customers 1 on the day of the first order;
    - returning_customers 1 on each distinct day on which the customer has at least two counted
      orders booked on or before that day.
    Pairs, for any range R = [a, b] (the range figures do not add up over days):
    - customer_visit (d, previous distinct order day or NO_DAY_BEFORE) per distinct day d:
      customers(R) = Σ customer_visit over d in [a, b] with previous day < a;
    - customer_first_second (first order day, second order day or NO_DAY_AFTER):
      customers of R with only one order up to b = Σ over first in [a, b] with second > b.
    """
    days = sorted(order_days)
    out: Contribution = Counter()
    if not days:
        return out
    first = days[0]
    second = days[1] if len(days) > 1 else NO_DAY_AFTER
    out[CounterKey("new_customers", first)] += 1
    out[CounterKey(CUSTOMER_FIRST_SECOND, first, second)] += 1
    previous = NO_DAY_BEFORE
    seen = 0
    for index, day in enumerate(days):
        seen = index + 1
        if index + 1 < len(days) and days[index + 1] == day:
            continue  # count each distinct day once, after all of its orders
        out[CounterKey("customers", day)] += 1
        out[CounterKey(CUSTOMER_VISIT, day, previous)] += 1
        if seen >= 2:
            out[CounterKey("returning_customers", day)] += 1
        previous = day
    return out


CLV_WINDOW_DAYS = 365


def customer_value_contribution(orders: Iterable[OrderState], refunds_of: Mapping[str, Iterable[RefundState]],
                                zone: ZoneInfo) -> Contribution:
    """clv12_net_sales on the day of a customer's first order: their net sales in the 365 days
    from that day on (section 3, "customer lifetime value (12 months)").

    Net sales as everywhere: gross sales − discounts of their counted orders booked in the window,
    less the returns booked in the window (refunds, and unpaid cancellations). Summed over a range
    and divided by the range's new customers, it is the range's CLV.
    """
    counted = [o for o in orders if o.counts]
    out: Contribution = Counter()
    if not counted:
        return out
    first = min(_day(o.booked_at, zone) for o in counted)  # type: ignore[arg-type]
    limit = first + timedelta(days=CLV_WINDOW_DAYS)
    total = 0
    for order in counted:
        sale = to_micros(order.gross_sales - order.discounts)
        if _day(order.booked_at, zone) < limit:  # type: ignore[arg-type]
            total += sale
        if order.cancelled_at is not None and order.cancel_reverses_sale:
            if _day(order.cancelled_at, zone) < limit:
                total -= sale
            continue   # its refunds give back nothing more (order_contribution)
        for refund in standing_refunds(order, refunds_of.get(order.order_id, ())):
            if _day(refund.booked_at, zone) < limit:
                total -= to_micros(refund.returns)
    out[CounterKey("clv12_net_sales", first)] += total
    return out


def cart_contribution(cart: CartState | None, zone: ZoneInfo) -> Contribution:
    """carts (or checkouts) 1 on the shop-local day of the cart's `created_at`."""
    out: Contribution = Counter()
    if cart is not None:
        name = "carts" if cart.cart_kind == "cart" else "checkouts"
        day, hour = _day_hour(cart.created_at, zone)
        out[CounterKey(name, day)] += 1
        out[CounterKey(hour_counter(hour, name), day)] += 1
    return out


def return_contribution(ret: ReturnState | None, zone: ZoneInfo) -> Contribution:
    """returns_requested and returns_approved 1 on the day of that status change."""
    out: Contribution = Counter()
    if ret is None:
        return out
    if ret.requested_at is not None:
        out[CounterKey("returns_requested", _day(ret.requested_at, zone))] += 1
    if ret.approved_at is not None:
        out[CounterKey("returns_approved", _day(ret.approved_at, zone))] += 1
    return out


def returns_contribution(order: OrderState | None, returns: Iterable[ReturnState], zone: ZoneInfo) -> Contribution:
    """The returns of one order: they count unless their order is known and does not count (a
    deleted or test order contributes nothing, section 8); an order not known (yet) does not hide
    them, so that a return of an order from before the install still counts."""
    out: Contribution = Counter()
    if order is not None and not order.counts:
        return out
    for ret in returns:
        out.update(return_contribution(ret, zone))
    return out


def delta(old: Contribution, new: Contribution) -> Contribution:
    """new − old, keeping only non-zero cells (a retraction is a negative cell)."""
    out: Contribution = Counter()
    for key in set(old) | set(new):
        value = new.get(key, 0) - old.get(key, 0)
        if value:
            out[key] = value
    return out


def full_contribution(states: Iterable[object], zone: ZoneInfo) -> Contribution:
    """Every counter of a shop recomputed from its stored entity states (kompas verify/rebuild).

    This is the definition the running counters must equal at all times.
    """
    orders: dict[str, OrderState] = {}
    refunds: dict[str, list[RefundState]] = {}
    returns: dict[str | None, list[ReturnState]] = {}
    carts: dict[tuple[str, str], CartState] = {}
    total: Contribution = Counter()
    for state in states:
        if isinstance(state, OrderState):
            orders[state.order_id] = state
        elif isinstance(state, RefundState):
            refunds.setdefault(state.order_id, []).append(state)
        elif isinstance(state, CartState):
            carts[(state.cart_kind, state.token)] = state
            total.update(cart_contribution(state, zone))
        elif isinstance(state, ReturnState):
            returns.setdefault(state.order_id, []).append(state)
    for order_id, of_order in returns.items():
        total.update(returns_contribution(orders.get(order_id) if order_id else None, of_order, zone))
    customer_days: dict[str, list[date]] = {}
    customer_orders: dict[str, list[OrderState]] = {}
    for order in orders.values():
        cart = carts.get(("cart", order.cart_token)) if order.cart_token else None
        checkout = carts.get(("checkout", order.checkout_token)) if order.checkout_token else None
        total.update(order_contribution(order, refunds.get(order.order_id, ()),
                                        cart.created_at if cart else None,
                                        checkout.created_at if checkout else None, zone))
        if order.counts and order.customer_key:
            customer_days.setdefault(order.customer_key, []).append(
                _day(order.booked_at, zone))  # type: ignore[arg-type]
            customer_orders.setdefault(order.customer_key, []).append(order)
    for key, days in customer_days.items():
        total.update(customer_contribution(days))
        total.update(customer_value_contribution(customer_orders[key], refunds, zone))
    return Counter({k: v for k, v in total.items() if v})
